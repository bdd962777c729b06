//! Let it crash: the kit's panic rule, and the one way out of it.
//!
//! The rule ([`crate::run`] installs it): a panic anywhere in a node prints the panic and ends
//! the process at once, with exit status [`PANIC_EXIT`] (101, Rust's own). A half-working node
//! is worse than a dead one: a dead node is seen by its peers and restarted by whoever runs it,
//! and a skeleton's `todo!()` fails its test at once instead of after a timeout.
//!
//! The exception is a node that supervises its own tasks (exercise 07): there a child's panic
//! is the supervisor's to handle, as a crashed process is an OTP supervisor's. A supervisor
//! spawns each child inside [`supervised`]:
//!
//! ```no_run
//! # async fn demo() {
//! let child = tokio::spawn(node_kit::crash::supervised("mailer", async {
//!     panic!("a poison message");
//! }));
//! // The panic is printed and ends this task only; its handle reports it.
//! assert!(child.await.unwrap_err().is_panic());
//! # }
//! ```
//!
//! The hook tells the two apart by a task-local that [`supervised`] sets while it polls the
//! child, so the exception covers exactly the child's own code: a task the child spawns, a
//! thread it starts or a blocking closure it hands to `spawn_blocking` is not supervised, and
//! its panic still ends the node. So does a panic in the supervisor itself: a supervisor that
//! breaks has nobody above it in the node.
//!
//! When a supervisor gives up (more restarts than its intensity allows within its period), it
//! escalates to the node: [`escalate`] logs why in one line and ends the process with
//! [`ESCALATION_EXIT`], which whoever runs the node (the harness, docker, systemd, a person)
//! sees, as OTP's node goes down when its top supervisor does.
//!
//! Every kit lock is a [`crate::sync::Mutex`], which hands out its guard also after a panic in
//! another holder: a supervised child that panics while holding one leaves whatever it was
//! changing half done, so a child keeps shared state consistent statement by statement, or
//! keeps its state to itself (as OTP's processes do) and lets the restart start it afresh.

use std::future::Future;
use std::sync::{Arc, OnceLock};

/// The exit status of a node that panicked outside a supervised task (Rust's own panic status).
pub const PANIC_EXIT: i32 = 101;

/// The exit status of a node whose supervisor gave up ([`escalate`]): `EX_SOFTWARE` of
/// `sysexits.h`, distinct from a panic's and from a bad configuration's (2).
pub const ESCALATION_EXIT: i32 = 70;

tokio::task_local! {
    /// The name of the supervised child being polled on this thread, if any.
    static SUPERVISED_CHILD: Arc<str>;
}

/// The node's id, for the hook's and [`escalate`]'s lines.
static NODE_ID: OnceLock<String> = OnceLock::new();

/// Runs `task` as the supervised child `child`: a panic inside it is printed, with a line that
/// names the child, and ends only the task (its `JoinHandle` returns a `JoinError` whose
/// `is_panic()` is true), not the process. Spawn the returned future:
/// `tokio::spawn(supervised("carts", run_carts()))`.
///
/// Only `task`'s own code is covered, not the tasks or threads it starts (see the module
/// comment). Use it for tasks a supervisor watches and restarts; anything else that panics
/// should end the node.
pub fn supervised<F: Future>(
    child: impl Into<Arc<str>>,
    task: F,
) -> impl Future<Output = F::Output> {
    SUPERVISED_CHILD.scope(child.into(), task)
}

/// The supervised child whose code is running here, if any (what the panic hook asks).
pub fn supervised_child() -> Option<Arc<str>> {
    SUPERVISED_CHILD.try_with(Arc::clone).ok()
}

/// Escalation to the node: logs `why` as one line on stderr (`node <id>: escalation: <why>;
/// exiting`) and ends the process with [`ESCALATION_EXIT`]. For a supervisor that gave up.
pub fn escalate(why: &str) -> ! {
    let id = NODE_ID.get().map_or("?", String::as_str);
    tracing::error!(%why, "escalation: the supervisor gave up; the node exits");
    eprintln!("node {id}: escalation: {why}; exiting with status {ESCALATION_EXIT}");
    std::process::exit(ESCALATION_EXIT);
}

/// Installs the panic rule for node `id`: print, then exit with [`PANIC_EXIT`], unless the
/// panic is in a [`supervised`] child.
pub(crate) fn install_hook(id: String) {
    let _ = NODE_ID.set(id.clone());
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        match supervised_child() {
            Some(child) => eprintln!(
                "node {id}: supervised child {child} panicked; its supervisor decides what comes next"
            ),
            None => {
                eprintln!("node {id}: panicked; exiting (let it crash)");
                std::process::exit(PANIC_EXIT);
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_supervised_while_its_own_code_runs_and_nothing_else_is() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert_eq!(supervised_child(), None, "the test itself is no child");
            let inside = tokio::spawn(supervised("carts", async {
                tokio::task::yield_now().await;
                let mine = supervised_child();
                let spawned = tokio::spawn(async { supervised_child() }).await.unwrap();
                (mine, spawned)
            }))
            .await
            .unwrap();
            assert_eq!(inside.0.as_deref(), Some("carts"));
            assert_eq!(inside.1, None, "a task the child spawns is not supervised");
            assert_eq!(supervised_child(), None, "the scope ends with the child");
        });
    }
}

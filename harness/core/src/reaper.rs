//! No orphans: every node process group the harness starts is registered here, and killed
//! when the harness process is interrupted (SIGINT, SIGTERM, SIGHUP).
//!
//! The three ways a run ends, and who cleans up:
//! - normally or by a panic that unwinds: `Cluster`'s `Drop` kills its nodes;
//! - by Ctrl-C or a polite kill: the signal thread below kills every registered group, then
//!   exits with the conventional status 128 + signal;
//! - by SIGKILL (nothing runs in this process): each node notices end of file on the stdin
//!   pipe the harness held and exits by itself (the node kit's contract). A node paused with
//!   SIGSTOP at that moment cannot notice; that window is the one gap left.

use std::collections::BTreeSet;
use std::sync::Once;

use node_kit::sync::Mutex;

static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static INSTALL: Once = Once::new();

/// Registers a node's process group (its pid, since each node leads its own group).
pub(crate) fn register(pgid: i32) {
    install_signal_thread();
    lock().insert(pgid);
}

/// Forgets a group once its leader has been reaped.
pub(crate) fn unregister(pgid: i32) {
    lock().remove(&pgid);
}

/// Sends `signal` to the whole group: a node and anything it spawned.
pub(crate) fn signal_group(pgid: i32, signal: i32) -> std::io::Result<()> {
    // SAFETY: killpg has no memory-safety preconditions.
    if unsafe { libc::killpg(pgid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    LIVE_GROUPS.lock()
}

fn install_signal_thread() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("harness: cannot watch for Ctrl-C ({e}); nodes may outlive an interrupt");
                return;
            }
        };
        std::thread::Builder::new()
            .name("lab-reaper".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let groups = lock().clone();
                    for pgid in groups {
                        let _ = signal_group(pgid, libc::SIGKILL);
                    }
                    eprintln!("harness: interrupted; killed every node it started");
                    std::process::exit(128 + signal);
                }
            })
            .expect("the reaper thread starts");
    });
}

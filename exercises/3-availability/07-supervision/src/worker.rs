//! Given. The shop's logic-node services, the children the node supervises: each is a small
//! actor (an OTP `gen_server`, roughly) with a mailbox, found by its name in a [`Registry`], as
//! a registered process is found by its name in Erlang.
//!
//! A worker answers calls (and counts them: its state, lost when it restarts), and crashes on
//! demand: at once, when told to (`Msg::Crash`), or in a loop, a set time after each start,
//! until the loop is cleared (the poison message that every restart reads again). Its panic
//! happens in its own task, so a supervisor sees it as that child's exit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The logic node's services, in start order: each depends on the ones before it (carts on
/// sessions, orders on carts, the mailer on orders), which is what rest_for_one is for.
pub const SERVICES: [&str; 4] = ["sessions", "carts", "orders", "mailer"];

/// A worker's answer to a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub child: String,
    /// Which instance answered: 1 until the child's first restart.
    pub generation: u64,
    /// Calls this instance has answered, this one included: a restart starts again at 1.
    pub calls: u64,
}

/// What a worker's mailbox carries.
#[derive(Debug)]
pub enum Msg {
    Call(oneshot::Sender<Reply>),
    /// Panic, with this message.
    Crash(String),
    /// The crash loop changed: from now on, crash this long after each start (or never).
    CrashLoop(Option<Duration>),
}

/// One registered name.
#[derive(Debug, Default)]
struct Slot {
    /// The mailbox of the instance that registered last; its sends fail once it has ended.
    inbox: Option<mpsc::Sender<Msg>>,
    generation: u64,
    /// Every instance crashes this long after it starts, while set.
    crash_every: Option<Duration>,
}

/// Where each service's current mailbox is found, by name. Shared by the workers (each
/// registers itself when it starts) and the node's routes.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<BTreeMap<String, Slot>>>);

/// Why a message could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undelivered {
    /// No service has that name.
    Unknown,
    /// The service is between two instances (or stopped for good).
    Down,
}

impl Registry {
    /// A registry with the names `services`, none of them started yet.
    pub fn new(services: &[&str]) -> Registry {
        let slots = services
            .iter()
            .map(|s| (s.to_string(), Slot::default()))
            .collect();
        Registry(Arc::new(Mutex::new(slots)))
    }

    /// Sends `msg` to the current instance of `name`.
    pub fn send(&self, name: &str, msg: Msg) -> Result<(), Undelivered> {
        let inbox = {
            let slots = self.0.lock();
            let slot = slots.get(name).ok_or(Undelivered::Unknown)?;
            slot.inbox.clone().ok_or(Undelivered::Down)?
        };
        inbox.try_send(msg).map_err(|_| Undelivered::Down)
    }

    /// Asks `name` for a [`Reply`], waiting at most `timeout`.
    pub async fn call(&self, name: &str, timeout: Duration) -> Result<Reply, Undelivered> {
        let (reply, answer) = oneshot::channel();
        self.send(name, Msg::Call(reply))?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(reply)) => Ok(reply),
            // The instance ended with the call in its mailbox, or took too long.
            _ => Err(Undelivered::Down),
        }
    }

    /// Sets or clears `name`'s crash loop, for its running instance and every later one.
    pub fn crash_loop(&self, name: &str, every: Option<Duration>) -> Result<(), Undelivered> {
        {
            let mut slots = self.0.lock();
            let slot = slots.get_mut(name).ok_or(Undelivered::Unknown)?;
            slot.crash_every = every;
        }
        // A stopped instance does not need telling: the next one reads the slot.
        let _ = self.send(name, Msg::CrashLoop(every));
        Ok(())
    }

    /// Registers a new instance of `name`: its mailbox and generation. Returns the crash loop
    /// in force.
    fn register(&self, name: &str, generation: u64, inbox: mpsc::Sender<Msg>) -> Option<Duration> {
        let mut slots = self.0.lock();
        let slot = slots.entry(name.to_string()).or_default();
        slot.inbox = Some(inbox);
        slot.generation = generation;
        slot.crash_every
    }
}

/// Runs one instance of the service `name` until it crashes (or is stopped by its
/// supervisor, at an `.await`).
pub async fn run(registry: Registry, name: String, generation: u64) {
    let (inbox, mut mailbox) = mpsc::channel(256);
    let started = Instant::now();
    let mut crash_every = registry.register(&name, generation, inbox);
    let mut calls = 0;
    loop {
        let crash_at = crash_every.map(|every| started + every);
        tokio::select! {
            msg = mailbox.recv() => match msg {
                Some(Msg::Call(reply)) => {
                    calls += 1;
                    let _ = reply.send(Reply { child: name.clone(), generation, calls });
                }
                Some(Msg::Crash(why)) => panic!("{name} (generation {generation}): {why}"),
                Some(Msg::CrashLoop(every)) => crash_every = every,
                // Every sender gone: a newer instance registered and this one is orphaned.
                None => return,
            },
            () = sleep_until(crash_at) => panic!(
                "{name} (generation {generation}): a poison message, read again {} ms after \
                 this start",
                crash_every.unwrap_or_default().as_millis()
            ),
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

//! The supervisor: the file you write.
//!
//! A [`Supervisor`] starts its children in order, watches them, and when one ends (a panic,
//! or a return: every child here is what OTP calls *permanent*) it restarts the children its
//! [`Strategy`] names, unless that would be one restart too many within its [`Intensity`]:
//! then it stops every child and gives up, returning an [`Escalation`] to whoever runs it.
//!
//! - [`to_restart`]: yours. Which children a crash restarts, per strategy.
//! - [`RestartLog::allow`]: yours. The intensity window: is one more restart now allowed?
//! - [`Supervisor::restart`]: yours. One step of the loop: give up, or stop the set and start
//!   it again.
//! - The rest is given: the child specs, starting and stopping one child, waiting for the
//!   next exit, the loop, and the [`View`] the node's `GET /children` reads.
//!
//! Time comes from a [`Clock`], never from the wall directly: the tests replay crashes on a
//! virtual clock, so "four crashes within one second" is exact on any machine.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

/// Which children a crash restarts (OTP's restart strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the child that crashed: its siblings are independent of it.
    #[value(name = "one_for_one")]
    OneForOne,
    /// Every child: they only make sense together, so none survives another's crash.
    #[value(name = "one_for_all")]
    OneForAll,
    /// The child that crashed and every child started after it: each child depends on the
    /// ones started before it, so those after a crash lost something they relied on.
    #[value(name = "rest_for_one")]
    RestForOne,
}

/// How many restarts a supervisor makes before it gives up: at most `restarts` within any
/// `period` (OTP's intensity and period; OTP's default is 1 in 5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    pub restarts: u32,
    pub period: Duration,
}

/// The restarts made within the last period, oldest first: what the intensity is checked on.
#[derive(Debug)]
pub struct RestartLog {
    intensity: Intensity,
    /// When each remembered restart was made, by the supervisor's clock.
    times: VecDeque<Duration>,
}

impl RestartLog {
    pub fn new(intensity: Intensity) -> RestartLog {
        RestartLog {
            intensity,
            times: VecDeque::new(),
        }
    }

    /// Counts a restart at `now` and says whether it may go ahead: true while the restarts
    /// within the period (`now` itself included, and any made at `now - period` or later) are
    /// at most the intensity; false when this one is one too many, and the supervisor must
    /// give up. Restarts older than the period are forgotten.
    pub fn allow(&mut self, now: Duration) -> bool {
        // Forget the restarts made before now - period (one made exactly at now - period still
        // counts, as in OTP), remember this one, and compare how many are left with
        // self.intensity.restarts. now never goes backwards.
        todo!("Count a restart at now; true while restarts within the period <= intensity.")
    }

    /// The restarts within the period, this one included: for the escalation's message.
    pub fn in_period(&self) -> usize {
        self.times.len()
    }
}

/// Which children to restart when child `crashed` (an index in start order) of `children`
/// has ended, under `strategy`: a range of indexes, in start order.
pub fn to_restart(strategy: Strategy, crashed: usize, children: usize) -> Range<usize> {
    // In start order: one_for_one, only `crashed`; one_for_all, every child; rest_for_one,
    // `crashed` and every child started after it.
    todo!("Return the range of children that a crash of child `crashed` restarts.")
}

/// The time a supervisor measures its restarts by.
pub trait Clock: Send + Sync + 'static {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;
}

/// The real clock: time since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    origin: Instant,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// What a child's start function returns: the child, run until it ends.
pub type ChildFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How to start one child (OTP's child specification): its name, and the function that
/// starts a fresh instance of it, given its generation (1 at the first start, one more at
/// each restart). A restart calls it again: the child begins from nothing, its old state gone.
#[derive(Clone)]
pub struct ChildSpec {
    pub name: String,
    start: Arc<dyn Fn(u64) -> ChildFuture + Send + Sync>,
}

impl ChildSpec {
    pub fn new<F, Fut>(name: impl Into<String>, start: F) -> ChildSpec
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        ChildSpec {
            name: name.into(),
            start: Arc::new(move |generation| Box::pin(start(generation))),
        }
    }

    /// A fresh instance of the child, not yet spawned.
    pub fn instance(&self, generation: u64) -> ChildFuture {
        (self.start)(generation)
    }
}

/// Why a supervisor gave up: what its parent (here, the node) is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub supervisor: String,
    /// The child whose exit was one too many, and how it ended.
    pub child: String,
    pub why: String,
    /// The restarts within the period, the refused one included.
    pub restarts: usize,
    pub intensity: Intensity,
}

impl std::fmt::Display for Escalation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "supervisor {} gave up: {} restarts within {} ms, more than its intensity of {}; \
             the last: {} {}",
            self.supervisor,
            self.restarts,
            self.intensity.period.as_millis(),
            self.intensity.restarts,
            self.child,
            self.why
        )
    }
}

/// One child as the outside sees it: `GET /children` shows these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildView {
    pub name: String,
    /// How many times it was started: 1 until its first restart.
    pub generation: u64,
    pub running: bool,
}

/// What a supervisor shows of itself while it runs, shared with whoever watches it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisorView {
    pub name: String,
    pub strategy: Strategy,
    pub intensity: u32,
    pub period_ms: u64,
    /// Exits handled: each one a restart (of one child or more).
    pub restarts: u64,
    /// Set once it gave up.
    pub escalated: Option<String>,
    pub children: Vec<ChildView>,
}

/// A handle on a supervisor's [`SupervisorView`], readable from any task.
#[derive(Clone)]
pub struct View(Arc<Mutex<SupervisorView>>);

impl View {
    pub fn get(&self) -> SupervisorView {
        self.0.lock().clone()
    }

    /// Each child's generation, in start order.
    pub fn generations(&self) -> Vec<u64> {
        self.0
            .lock()
            .children
            .iter()
            .map(|c| c.generation)
            .collect()
    }

    pub fn restarts(&self) -> u64 {
        self.0.lock().restarts
    }

    fn update(&self, change: impl FnOnce(&mut SupervisorView)) {
        change(&mut self.0.lock());
    }
}

/// A child as its supervisor holds it.
struct Child {
    spec: ChildSpec,
    generation: u64,
    /// The running instance, `None` while it is stopped.
    task: Option<JoinHandle<()>>,
}

/// Starts its children, restarts them by its strategy within its intensity, and gives up
/// beyond it.
pub struct Supervisor<C: Clock = WallClock> {
    name: String,
    strategy: Strategy,
    children: Vec<Child>,
    restarts: RestartLog,
    clock: C,
    view: View,
}

impl Supervisor {
    /// A supervisor on the wall clock, with no children yet.
    pub fn new(name: impl Into<String>, strategy: Strategy, intensity: Intensity) -> Supervisor {
        Supervisor::with_clock(name, strategy, intensity, WallClock::default())
    }
}

impl<C: Clock> Supervisor<C> {
    pub fn with_clock(
        name: impl Into<String>,
        strategy: Strategy,
        intensity: Intensity,
        clock: C,
    ) -> Supervisor<C> {
        let name = name.into();
        let view = View(Arc::new(Mutex::new(SupervisorView {
            name: name.clone(),
            strategy,
            intensity: intensity.restarts,
            period_ms: u64::try_from(intensity.period.as_millis()).unwrap_or(u64::MAX),
            restarts: 0,
            escalated: None,
            children: Vec::new(),
        })));
        Supervisor {
            name,
            strategy,
            children: Vec::new(),
            restarts: RestartLog::new(intensity),
            clock,
            view,
        }
    }

    /// Adds a child; children start in the order they are added.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.view.update(|v| {
            v.children.push(ChildView {
                name: spec.name.clone(),
                generation: 0,
                running: false,
            })
        });
        self.children.push(Child {
            spec,
            generation: 0,
            task: None,
        });
        self
    }

    /// What the supervisor shows of itself; it stays readable after [`Supervisor::run`]
    /// takes the supervisor.
    pub fn view(&self) -> View {
        self.view.clone()
    }

    /// Starts every child in order, then restarts them as they end, until it gives up: the
    /// [`Escalation`] is the only way it returns, after it stopped every child.
    pub async fn run(mut self) -> Escalation {
        for i in 0..self.children.len() {
            self.start(i);
        }
        loop {
            let (crashed, why) = self.next_exit().await;
            let child = &self.children[crashed];
            tracing::warn!(
                supervisor = %self.name,
                child = %child.spec.name,
                generation = child.generation,
                %why,
                "child ended"
            );
            if let Err(escalation) = self.restart(crashed, &why).await {
                for i in (0..self.children.len()).rev() {
                    self.stop(i).await;
                }
                tracing::error!(%escalation, "escalating");
                self.view
                    .update(|v| v.escalated = Some(escalation.to_string()));
                return escalation;
            }
            self.view.update(|v| v.restarts += 1);
        }
    }

    /// Child `crashed` has ended (`why` says how): give up if one more restart now is more
    /// than the intensity allows, or else stop the children the strategy restarts along with
    /// it, in reverse start order, and start them again in start order.
    pub async fn restart(&mut self, crashed: usize, why: &str) -> Result<(), Escalation> {
        // Ask the restart log first, at self.clock.now(); refused, return the escalation
        // (self.escalation builds it). Allowed: stop the children of the strategy's set last
        // to first (self.stop waits until each has ended), then start them first to last.
        todo!("Give up if the restart log refuses a restart now, or restart the set.")
    }

    /// Starts a fresh instance of child `i`, one generation on, as a supervised task: its
    /// panic ends only itself (the kit's panic rule makes this exception for it).
    pub fn start(&mut self, i: usize) {
        let child = &mut self.children[i];
        child.generation += 1;
        let generation = child.generation;
        let instance = child.spec.instance(generation);
        let name = child.spec.name.clone();
        child.task = Some(tokio::spawn(node_kit::crash::supervised(name, instance)));
        tracing::info!(supervisor = %self.name, child = %child.spec.name, generation, "started");
        self.view.update(|v| {
            v.children[i].generation = generation;
            v.children[i].running = true;
        });
    }

    /// Stops child `i` and returns once it has ended (at its next `.await`); nothing if it
    /// has already ended (the child that crashed).
    pub async fn stop(&mut self, i: usize) {
        if let Some(task) = self.children[i].task.take() {
            task.abort();
            let _ = task.await;
        }
        self.view.update(|v| v.children[i].running = false);
    }

    /// The escalation for child `crashed`'s exit, refused by the restart log.
    pub fn escalation(&self, crashed: usize, why: &str) -> Escalation {
        Escalation {
            supervisor: self.name.clone(),
            child: self.children[crashed].spec.name.clone(),
            why: why.to_string(),
            restarts: self.restarts.in_period(),
            intensity: self.restarts.intensity,
        }
    }

    /// Waits until a running child ends; returns its index and how it ended. The child is
    /// marked stopped.
    async fn next_exit(&mut self) -> (usize, String) {
        let (indexes, tasks): (Vec<usize>, Vec<&mut JoinHandle<()>>) = self
            .children
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| c.task.as_mut().map(|t| (i, t)))
            .unzip();
        if tasks.is_empty() {
            // No child left to watch: a supervisor with no children waits forever.
            return std::future::pending().await;
        }
        let (ended, which, _) = futures_util::future::select_all(tasks).await;
        let i = indexes[which];
        self.children[i].task = None;
        self.view.update(|v| v.children[i].running = false);
        (i, describe(ended))
    }
}

/// How a child's task ended, in words: `panicked: <message>`, `returned`, or `cancelled`.
fn describe(ended: Result<(), tokio::task::JoinError>) -> String {
    match ended {
        Ok(()) => "returned".into(),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            format!("panicked: {message}")
        }
        Err(_) => "cancelled".into(),
    }
}

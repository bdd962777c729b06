//! The fuse: a circuit breaker after Erlang's `fuse` library. Part of it is yours.
//!
//! ```text
//!            melt (one more than it tolerates, within the window)
//!   ok ───────────────────────────────────────────────────► blown
//!    ▲                                                         │ ask, once the reset
//!    │ heal (a call went through: the probe worked)            │ interval is up: one
//!    └──────────────────────────────────────────────────────── ┘ probe is let through
//! ```
//!
//! Every caller of a dependency [`ask`](Fuse::ask)s the fuse before it calls: `Ok`, call;
//! `Blown`, fail at once, without calling. A call that timed out or failed
//! [`melt`](Fuse::melt)s the fuse a little; a call that got an answer [`heal`](Fuse::heal)s
//! it. A fuse tolerates [`Policy::tolerate`] melts within [`Policy::window`]; the next one
//! blows it. A blown fuse answers `Blown` to everyone, except one caller per
//! [`Policy::reset`] interval: that one is let through as a probe. If the probe gets an
//! answer, it heals the fuse and everyone calls again; if it fails, the fuse stays blown and
//! the next probe goes one reset interval after this one.
//!
//! Where it comes from: Erlang's `fuse` (Jesper Louis Andersen): `fuse:install(Name,
//! {{standard, MaxR, MaxT}, {reset, Reset}})`, then `fuse:ask(Name, sync)` answers `ok` or
//! `blown`, `fuse:melt(Name)` reports a failure, `fuse:reset(Name)` closes it by hand.
//! Erlang's fuse heals fully when its reset time is up, so a dependency still hung gets
//! MaxR + 1 calls again before the fuse blows anew; this one lets a single probe through
//! instead, the half-open state of Michael Nygard's circuit breaker (*Release It!*, 2007).
//!
//! Time comes from a [`Clock`], so the tests run the fuse on a clock that moves only when
//! told, exactly.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::VecDeque;
use std::time::Duration;

use node_kit::sync::Mutex;
use retries_solution::{Clock, WallClock};
use serde::{Deserialize, Serialize};

/// When a fuse blows and when it lets a probe through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Melts tolerated within the window; one more blows the fuse (Erlang's MaxR).
    pub tolerate: u32,
    /// How long a melt counts (Erlang's MaxT): older melts are forgotten.
    pub window: Duration,
    /// How long a blown fuse refuses everyone before it lets one probe through, and how long
    /// between probes while the dependency stays broken. Above the call timeout, so a probe
    /// has failed before the next one goes.
    pub reset: Duration,
}

/// The fuse's answer to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    /// Call the dependency (and melt or heal the fuse with the outcome).
    Ok,
    /// Do not call: fail at once.
    Blown,
}

/// What a fuse has done, for a test, a dashboard or `GET /internal/guards`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuseStats {
    /// Whether it is blown now.
    pub blown: bool,
    /// Melts that count now (within the window; zero while blown).
    pub melts_in_window: u32,
    /// Every melt ever reported.
    pub melts: u64,
    /// Times it blew.
    pub blows: u64,
    /// Callers let through while it was blown.
    pub probes: u64,
    /// Callers answered `Blown`.
    pub refused: u64,
    /// Times a probe's answer closed it again.
    pub heals: u64,
}

/// A circuit breaker for one dependency, shared by every caller of it.
#[derive(Debug)]
pub struct Fuse<C = WallClock> {
    policy: Policy,
    clock: C,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When each melt that still counts happened (from the clock), oldest first. Only the
    /// last `tolerate + 1` can matter, so no more are kept.
    melts: VecDeque<Duration>,
    /// `None` while the fuse is ok. While blown: the earliest time the next probe may go.
    next_probe: Option<Duration>,
    stats: FuseStats,
}

impl Fuse {
    /// A fuse on the wall clock.
    pub fn new(policy: Policy) -> Fuse {
        Fuse::with_clock(policy, WallClock::default())
    }
}

impl<C: Clock> Fuse<C> {
    /// A fuse on `clock`, ok to begin with.
    pub fn with_clock(policy: Policy, clock: C) -> Fuse<C> {
        Fuse {
            policy,
            clock,
            state: Mutex::default(),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Before a call: `Ok` to call, `Blown` to fail at once. An ok fuse says `Ok`. A blown one
    /// says `Blown`, except to the first caller once its next probe is due: that caller gets
    /// `Ok` (it is the probe), and the probe after it is due one reset interval later.
    pub fn ask(&self) -> Ask {
        // `state.next_probe` is None while ok. While blown it is when the next probe may go:
        // the first caller at or after it gets Ok and moves it one `policy.reset` on. Every
        // other caller gets Blown. Count `stats.probes` and `stats.refused`.
        todo!("Answer Ok while the fuse is ok; while blown, let one probe through per reset.")
    }

    /// After a call that timed out or failed: one melt. Melts older than the window no
    /// longer count; one more than the fuse tolerates within the window blows it, and its
    /// first probe is due one reset interval later. A blown fuse stays blown (a probe that
    /// failed, or a call from before it blew, changes nothing).
    pub fn melt(&self) {
        // Count every melt in `stats.melts`. While blown, nothing else. Else remember it in
        // `state.melts`, forget those at least `policy.window` old, and if more than
        // `tolerate` are left, blow: clear them, set `next_probe` one reset from now, count
        // `stats.blows`.
        todo!("Count the melt; blow the fuse on one more than `policy.tolerate` in the window.")
    }

    /// After a call that got an answer (a receipt, or a business error such as a declined
    /// card: an answer too): a blown fuse is closed again (that call was its probe) and
    /// starts from no melts; an ok one is left as it is.
    pub fn heal(&self) {
        let mut state = self.state.lock();
        if state.next_probe.take().is_some() {
            state.melts.clear();
            state.stats.heals += 1;
        }
    }

    /// Whether it is blown now (without asking: no probe is let through).
    pub fn is_blown(&self) -> bool {
        self.state.lock().next_probe.is_some()
    }

    pub fn stats(&self) -> FuseStats {
        let now = self.clock.now();
        let state = self.state.lock();
        let counting = state
            .melts
            .iter()
            .filter(|&&melted| now - melted < self.policy.window)
            .count();
        FuseStats {
            blown: state.next_probe.is_some(),
            melts_in_window: counting as u32,
            ..state.stats
        }
    }
}

/// A clock that moves only when told: the fuse's tests and its benchmark run on it.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(std::sync::Arc<Mutex<Duration>>);

impl ManualClock {
    /// Moves the clock on by `by`.
    pub fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.0.lock()
    }

    /// Moves the clock on and returns at once.
    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + Send {
        self.advance(duration);
        std::future::ready(())
    }
}

//! The phi accrual detector: Akka's answer to "how sure are we that the peer is dead?".
//!
//! A fixed timeout says yes or no. The phi accrual detector (Hayashibara et al., 2004; used
//! by Akka and Cassandra) says how surprising the current silence is, given the heartbeats
//! seen so far. It keeps the last few inter-arrival times, fits a normal distribution to
//! them, and reports
//!
//! ```text
//! phi = -log10(P(a heartbeat comes even later than the time already waited))
//! ```
//!
//! so phi = 1 means a 10% chance that the peer is fine and merely late, phi = 3 a 0.1%
//! chance, phi = 8 (Akka's default threshold) one in a hundred million. On a quiet network
//! the intervals barely vary and phi climbs fast after a missed heartbeat; on a congested
//! one they vary a lot and phi climbs slowly, so the same threshold adapts by itself to the
//! network it finds.
//!
//! Pure like the tick detector: every method takes the time it is about, so a test can
//! replay a recorded (or seeded) trace of heartbeats without waiting for a single one.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How a phi detector judges; Akka's settings of the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct PhiConfig {
    /// Phi at or above which the peer is suspected. 8 is Akka's default; lower means faster
    /// detection and more false suspicions.
    pub threshold: f64,
    /// How many inter-arrival times the detector remembers. Fewer adapt faster to a change
    /// in the network, more give steadier estimates. (Akka keeps 1000.)
    pub max_samples: usize,
    /// A floor under the standard deviation. Heartbeats on a quiet loopback arrive with
    /// almost no variation, and without a floor one heartbeat a few milliseconds late would
    /// already look impossible.
    pub min_std_dev: Duration,
    /// A pause the peer is allowed without any suspicion, added to the mean (a known GC
    /// pause, say). Zero here; Akka's cluster uses 3 s.
    pub acceptable_pause: Duration,
    /// The heartbeat interval expected before any has been measured: the window starts with
    /// two made-up intervals around it, as Akka does, so phi is sensible from the second
    /// heartbeat on.
    pub first_estimate: Duration,
}

impl PhiConfig {
    /// Settings for heartbeats sent every `interval`: threshold 8, the last 100 intervals,
    /// and a standard deviation of at least a fifth of the interval.
    pub fn for_interval(interval: Duration) -> PhiConfig {
        PhiConfig {
            threshold: 8.0,
            max_samples: 100,
            min_std_dev: interval / 5,
            acceptable_pause: Duration::ZERO,
            first_estimate: interval,
        }
    }
}

/// The last few inter-arrival times of one peer's heartbeats, in milliseconds.
#[derive(Debug, Clone)]
pub struct Intervals {
    samples: VecDeque<f64>,
    /// The window's size: pushing one more drops the oldest.
    max: usize,
}

impl Intervals {
    /// An empty window of at most `max` samples (at least 1).
    pub fn new(max: usize) -> Intervals {
        Intervals {
            samples: VecDeque::with_capacity(max.max(1)),
            max: max.max(1),
        }
    }

    /// Adds one interval, forgetting the oldest if the window is full.
    pub fn push(&mut self, interval_ms: f64) {
        if self.samples.len() == self.max {
            self.samples.pop_front();
        }
        self.samples.push_back(interval_ms);
    }

    /// The mean interval, in milliseconds (0 for an empty window).
    pub fn mean(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }

    /// The (population) standard deviation, in milliseconds.
    pub fn std_dev(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let mean = self.mean();
        let variance = self
            .samples
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / self.samples.len() as f64;
        variance.sqrt()
    }
}

/// One peer's phi accrual detector.
#[derive(Debug, Clone)]
pub struct PhiDetector {
    config: PhiConfig,
    /// The recent inter-arrival times: what "normal" looks like for this peer right now.
    intervals: Intervals,
    /// When the latest heartbeat arrived; `None` until the first one does (phi is 0 then:
    /// there is nothing to be surprised about yet).
    last_heartbeat: Option<Instant>,
}

impl PhiDetector {
    pub fn new(config: PhiConfig) -> PhiDetector {
        let mut intervals = Intervals::new(config.max_samples);
        let estimate = millis(config.first_estimate);
        intervals.push(estimate * 0.75);
        intervals.push(estimate * 1.25);
        PhiDetector {
            config,
            intervals,
            last_heartbeat: None,
        }
    }

    /// The settings it judges by (the node starts a fresh detector with the same ones).
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// A heartbeat arrived at `at` (never earlier than the previous one).
    pub fn heartbeat(&mut self, at: Instant) {
        // If there was a previous one, push the time since it (in milliseconds, see `millis`)
        // into the window of intervals; then remember `at` as the latest heartbeat.
        todo!("Record the heartbeat that arrived at `at`.")
    }

    /// How suspicious the silence is at `now`: 0 right after a heartbeat (and before the
    /// first one), growing without bound the longer the peer stays silent.
    pub fn phi(&self, now: Instant) -> f64 {
        // 0 before the first heartbeat; otherwise pass `phi_of` the time since the latest
        // heartbeat, the window's mean plus the acceptable pause, and its standard deviation
        // (never below min_std_dev), all in milliseconds.
        todo!("Return phi for the silence at `now`, computed by `phi_of`.")
    }

    /// Is phi at or above the threshold at `now`?
    pub fn is_suspected(&self, now: Instant) -> bool {
        self.phi(now) >= self.config.threshold
    }
}

/// Phi for a silence of `elapsed_ms` when intervals have mean `mean_ms` and standard deviation
/// `std_dev_ms`: `-log10` of the chance that a normally distributed interval is longer than
/// `elapsed_ms`.
///
/// The normal distribution's tail has no closed form; this is the logistic approximation
/// Akka uses (Bowling et al., 2009: within 0.00014 of the true probability), written the way
/// Akka writes it. Far in the tail the probability underflows to 0 and phi is infinite.
pub fn phi_of(elapsed_ms: f64, mean_ms: f64, std_dev_ms: f64) -> f64 {
    let y = (elapsed_ms - mean_ms) / std_dev_ms;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if elapsed_ms > mean_ms {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// A duration in (fractional) milliseconds, the unit the window keeps.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

//! An alarm is state, not a stream of log lines: it is set once when a signal crosses its
//! high watermark, stays set, and is cleared once when the signal falls below its low
//! watermark. Between the two nothing happens, however the signal wobbles: the gap is the
//! hysteresis that keeps a noisy signal from flapping the alarm.
//!
//! After Erlang/OTP's SASL `alarm_handler` (`set_alarm/1`, `clear_alarm/1`: the alarms set
//! now are a list anyone can read) and `os_mon`'s `memsup`, which sets
//! `system_memory_high_watermark` once and clears it once. The book's chapter 16: what an
//! operator needs is to see the state of the system, and to be told before it fails, once.
//!
//! ```text
//!   signal ▲        set                         clear
//!     high ┼──────────●~~~~~~~~~~~~~~~~~~~~~~~~~~│──────   above high: set (if clear)
//!          │        ╱  ╲  ╱╲   ╱╲  ╱╲            │         between: nothing
//!      low ┼──────╱─────╲╱──╲─╱──╲╱──╲───────────●──────   below low: clear (if set)
//!          └──────────────────────────────────────────► time
//! ```
//!
//! Yours to write: [`Watermarks::decide`]. The alarm's state, its counters and its lines on
//! `/metrics` and in the log are given.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::time::Instant;

use node_kit::Metrics;
use serde::{Deserialize, Serialize};

/// Where an alarm sets and where it clears. `low <= high`; `low == high` is a single
/// threshold, without hysteresis (the naive alarm, which flaps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watermarks {
    pub high: f64,
    pub low: f64,
}

/// A change of an alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    Set,
    Clear,
}

impl Watermarks {
    /// What an alarm that is `active` (set) or not does on seeing `value`: a transition, or
    /// `None` to stay as it is.
    pub fn decide(&self, active: bool, value: f64) -> Option<Transition> {
        // Strictly above `self.high` sets; strictly below `self.low` clears; a value exactly
        // on a watermark changes nothing. A set alarm is never set again, nor a clear one
        // cleared: a transition is a change of state.
        todo!("Set a clear alarm above high, clear a set one below low, else do nothing.")
    }
}

/// One alarm: its name, its watermarks and its state.
#[derive(Debug, Clone)]
pub struct Alarm {
    /// Its name on `/metrics` (`alarm_<name>_active`) and in the log.
    pub name: &'static str,
    pub watermarks: Watermarks,
    active: bool,
    /// When it was last set or cleared.
    since: Option<Instant>,
    sets: u64,
    clears: u64,
    /// The last value it saw.
    value: f64,
}

/// An alarm's figures, as `GET /internal/limit` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmFigures {
    pub name: String,
    pub active: bool,
    /// How many times it was set, and cleared, since the node started.
    pub sets: u64,
    pub clears: u64,
    pub high: f64,
    pub low: f64,
    pub value: f64,
}

impl Alarm {
    /// A clear alarm.
    pub fn new(name: &'static str, watermarks: Watermarks) -> Alarm {
        Alarm {
            name,
            watermarks,
            active: false,
            since: None,
            sets: 0,
            clears: 0,
            value: 0.0,
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Sees the signal's next value: sets or clears the alarm as [`Watermarks::decide`]
    /// says, logs the transition (one line per change, never one per sample) and shows the
    /// state on `metrics`.
    pub fn observe(&mut self, value: f64, metrics: Option<&Metrics>) -> Option<Transition> {
        self.value = value;
        let transition = self.watermarks.decide(self.active, value);
        match transition {
            Some(Transition::Set) => {
                self.active = true;
                self.sets += 1;
                tracing::warn!(
                    alarm = self.name,
                    value,
                    high = self.watermarks.high,
                    "alarm set"
                );
            }
            Some(Transition::Clear) => {
                self.active = false;
                self.clears += 1;
                let lasted = self.since.map(|t| t.elapsed().as_secs_f64());
                tracing::info!(
                    alarm = self.name,
                    value,
                    low = self.watermarks.low,
                    lasted_s = lasted,
                    "alarm cleared"
                );
            }
            None => {}
        }
        if let Some(transition) = transition {
            self.since = Some(Instant::now());
            if let Some(metrics) = metrics {
                let counter = match transition {
                    Transition::Set => "set",
                    Transition::Clear => "cleared",
                };
                metrics.add(&format!("alarm_{}_{counter}_total", self.name), 1.0);
            }
        }
        if let Some(metrics) = metrics {
            self.publish(metrics);
        }
        transition
    }

    /// `alarm_<name>_active` (1 or 0), and the counters `alarm_<name>_set_total` and
    /// `alarm_<name>_cleared_total` (shown from the start: a counter appears on first use).
    pub fn publish(&self, metrics: &Metrics) {
        let name = self.name;
        let active = f64::from(u8::from(self.active));
        metrics.set(&format!("alarm_{name}_active"), active);
        metrics.add(&format!("alarm_{name}_set_total"), 0.0);
        metrics.add(&format!("alarm_{name}_cleared_total"), 0.0);
    }

    pub fn figures(&self) -> AlarmFigures {
        AlarmFigures {
            name: self.name.to_string(),
            active: self.active,
            sets: self.sets,
            clears: self.clears,
            high: self.watermarks.high,
            low: self.watermarks.low,
            value: self.value,
        }
    }
}

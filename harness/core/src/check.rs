//! Checkers: what a run must prove, as values that compose.
//!
//! Each checker reads a [`History`] (and the [`FinalReads`] a scenario takes once the faults
//! are healed) and returns a [`CheckResult`]: its name, pass or fail, the figure it measured,
//! the threshold it held that figure to, and a sentence a person can act on. A scenario keeps
//! its checks in a `Vec<Box<dyn Checker>>` and runs them all with [`run_all`].
//!
//! The map:
//! - [`NoLostAcks`]: every acknowledged add is in the final read of its cart. Adds that failed
//!   or ended unknown are never counted as lost (an unknown add may or may not appear).
//! - [`Duplicates`]: items stored more than once (an add applied twice, say by a retry).
//! - [`StaleReads`]: reads that missed an add acknowledged before the read was sent.
//! - [`Availability`]: the share of operations that succeeded, per time window.
//! - [`LatencyPercentiles`]: a latency percentile per time window.
//! - [`smallest_at_least`], [`largest_at_most`]: values a demo measured itself (a verdict
//!   time, a failover window) held to a floor or a ceiling.
//! - [`per_window`], [`peak_rate`]: arrivals counted per window of time, fixed or sliding (a
//!   retry storm is a peak in the arrival rate at the service retried against).
//! - [`OneSidePerKey`]: during a partition, no key acknowledged by nodes of two sides (split
//!   brain: each side took writes to the same cart, and one side's are lost or merged).
//!
//! Windows are keyed by when an operation was *sent*: an outage then shows in the windows
//! whose requests it hurt, even if their replies (or timeouts) came later.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::history::{Action, Completion, History, OpView, Operation, Phase};

/// What a scenario read from every cart at the end of a run, after healing: cart key to items.
pub type FinalReads = BTreeMap<String, Vec<String>>;

/// A property of a run, checked over its history.
pub trait Checker: Send + Sync {
    /// What the check is called in a verdict: the property and its settings, unique within
    /// a scenario (`latency p99 per 1 s except 4.0-5.0 s`).
    fn name(&self) -> String;

    fn check(&self, history: &History, finals: &FinalReads) -> CheckResult;
}

/// Which side of its threshold a figure must stay on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtMost,
    AtLeast,
}

impl Bound {
    /// The sign a table prints between figure and threshold.
    pub fn symbol(self) -> &'static str {
        match self {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        }
    }

    fn holds(self, figure: f64, threshold: f64) -> bool {
        match self {
            Bound::AtMost => figure <= threshold,
            Bound::AtLeast => figure >= threshold,
        }
    }
}

/// One checker's verdict, as `verdict.json` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    /// What was measured, in `unit`.
    pub figure: f64,
    /// What it was held to, in `unit`, on the side `bound` says.
    pub threshold: f64,
    pub bound: Bound,
    pub unit: String,
    /// One or two sentences: what was counted, and the first offender if there is one.
    pub detail: String,
    /// Up to [`MAX_OFFENDERS`] operations that make a failed check fail, so a person can go
    /// straight to them (and, once [`crate::report::explain`] ran, to their node's log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offenders: Vec<Offender>,
}

/// How many offending operations a check names.
pub const MAX_OFFENDERS: usize = 5;

/// An operation a check holds against the run: which, where, when and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offender {
    /// The operation's id in `history.jsonl`.
    pub op: u64,
    /// `add w17 to c3`, `read c3`, `GET /health`.
    pub what: String,
    pub node: String,
    /// Seconds since the run's start.
    pub invoked_s: f64,
    pub completed_s: Option<f64>,
    /// `ok`, `fail: http_503`, `unknown: timeout`, `never ended`.
    pub outcome: String,
    /// What is wrong with it: `missing from the final read of c3`.
    pub why: String,
    /// The node's log lines around the operation's time (filled by the report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
}

impl Offender {
    /// `op`, held against the run for `why`.
    pub fn of(op: &Operation, why: impl Into<String>) -> Offender {
        let mut what = match &op.action {
            Action::Add { key, item } => format!("add {item} to {key}"),
            Action::Read { key } => format!("read {key}"),
            Action::Request { name } => name.clone(),
        };
        // Named by the node that served it (its log tells what happened), and where it went.
        if op.served_by.is_some() {
            what += &format!(" (sent to {})", op.node);
        }
        let outcome = match &op.end {
            None => "never ended".to_string(),
            Some(end) => match &end.outcome {
                Completion::Ok(_) => "ok".to_string(),
                Completion::Fail(why) => format!("fail: {why}"),
                Completion::Unknown(why) => format!("unknown: {why}"),
            },
        };
        Offender {
            op: op.id,
            what,
            node: op.server().to_string(),
            invoked_s: op.invoked.as_secs_f64(),
            completed_s: op.end.as_ref().map(|e| e.at.as_secs_f64()),
            outcome,
            why: why.into(),
            log: Vec::new(),
        }
    }

    /// One line: `op 412 add w412 to c3 on n1, sent 2.481 s, ok at 2.483 s: missing from ...`.
    pub fn line(&self) -> String {
        let done = match self.completed_s {
            Some(t) => format!("{} at {t:.3} s", self.outcome),
            None => self.outcome.clone(),
        };
        format!(
            "op {} {} on {}, sent {:.3} s, {done}: {}",
            self.op, self.what, self.node, self.invoked_s, self.why
        )
    }
}

impl CheckResult {
    /// A result for `figure` held to `threshold` on the side `bound` says: passed when it holds.
    /// For checks a scenario's checkers cannot express, such as a code demo's measurements.
    pub fn new(name: impl Into<String>, figure: f64, bound: Bound, threshold: f64) -> Self {
        CheckResult {
            name: name.into(),
            passed: bound.holds(figure, threshold),
            figure,
            threshold,
            bound,
            unit: String::new(),
            detail: String::new(),
            offenders: Vec::new(),
        }
    }

    /// Names the offending operations, at most [`MAX_OFFENDERS`] of them.
    pub fn offenders(mut self, offenders: impl IntoIterator<Item = Offender>) -> Self {
        self.offenders = offenders.into_iter().take(MAX_OFFENDERS).collect();
        self
    }

    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = unit.into();
        self
    }

    pub fn detail(mut self, detail: String) -> Self {
        self.detail = detail;
        self
    }
}

/// Measured values held to a floor: the figure is the smallest of them. For figures a
/// history cannot give (a detector's verdict time, a failover window). Nothing measured fails.
pub fn smallest_at_least(
    name: impl Into<String>,
    values: &[f64],
    floor: f64,
    unit: &str,
) -> CheckResult {
    measured(name.into(), values, Bound::AtLeast, floor, unit)
}

/// Measured values held to a ceiling: the figure is the largest of them. Nothing measured
/// fails.
pub fn largest_at_most(
    name: impl Into<String>,
    values: &[f64],
    ceiling: f64,
    unit: &str,
) -> CheckResult {
    measured(name.into(), values, Bound::AtMost, ceiling, unit)
}

fn measured(name: String, values: &[f64], bound: Bound, threshold: f64, unit: &str) -> CheckResult {
    let worst = match bound {
        Bound::AtLeast => values.iter().copied().reduce(f64::min),
        Bound::AtMost => values.iter().copied().reduce(f64::max),
    };
    let Some(figure) = worst else {
        return no_operations(name, threshold, bound, unit);
    };
    let all: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    CheckResult::new(name, figure, bound, threshold)
        .unit(unit)
        .detail(format!("measured: {} {unit}", all.join(", ")))
}

/// Runs every checker over the same run.
pub fn run_all(
    checks: &[Box<dyn Checker>],
    history: &History,
    finals: &FinalReads,
) -> Vec<CheckResult> {
    checks.iter().map(|c| c.check(history, finals)).collect()
}

/// Every acknowledged add appears in the final read of its cart.
#[derive(Debug, Clone, Default)]
pub struct NoLostAcks;

impl Checker for NoLostAcks {
    fn name(&self) -> String {
        "no lost acknowledged adds".into()
    }

    fn check(&self, history: &History, finals: &FinalReads) -> CheckResult {
        history.with_views(|ops| {
        let mut acked = 0;
        let mut lost: Vec<(&str, &str, &str)> = Vec::new();
        let mut offenders = Vec::new();
        // Not a failure of this check, but worth a line: a `fail` promised the add did not
        // happen, so finding it stored means some node answered "no" after applying it.
        let mut failed_but_stored = 0;
        // Each cart's items as a set, once: a cart of the scenario files' 20 grows to tens of
        // thousands of items in a long run, and a scan of it per add was quadratic.
        let stored_sets: HashMap<&str, HashSet<&str>> = finals
            .iter()
            .map(|(key, items)| (key.as_str(), items.iter().map(String::as_str).collect()))
            .collect();
        for op in ops {
            let Action::Add { key, item } = op.action() else {
                continue;
            };
            let stored = stored_sets
                .get(key.as_str())
                .is_some_and(|items| items.contains(item.as_str()));
            match op.phase() {
                Some(Phase::Ok) => {
                    acked += 1;
                    if !stored {
                        lost.push((key, item, op.server()));
                        if offenders.len() < MAX_OFFENDERS {
                            let why = if finals.contains_key(key) {
                                format!("acknowledged, missing from the final read of {key}")
                            } else {
                                format!("acknowledged, and {key} could not be read at the end")
                            };
                            offenders.push(Offender::of(&op.to_operation(), why));
                        }
                    }
                }
                Some(Phase::Fail) if stored => {
                    failed_but_stored += 1;
                }
                _ => {}
            }
        }
        let mut detail = format!("{} of {acked} acknowledged adds lost", lost.len());
        if let Some((key, item, node)) = lost.first() {
            let read = if finals.contains_key(*key) {
                "its final read"
            } else {
                "the final reads (the cart was never read)"
            };
            detail += &format!(
                "; first: item {item} of cart {key}, acknowledged by {node}, is missing from {read}"
            );
        }
        if failed_but_stored > 0 {
            detail += &format!("; {failed_but_stored} adds answered as failed were stored anyway");
        }
        CheckResult::new(
            "no lost acknowledged adds",
            lost.len() as f64,
            Bound::AtMost,
            0.0,
        )
        .unit("adds")
        .detail(detail)
        .offenders(offenders)
        })
    }
}

/// Items stored more than once in the final reads: the figure is the number of extra copies.
#[derive(Debug, Clone, Default)]
pub struct Duplicates {
    /// How many extra copies the run may have (0 for an idempotent store).
    pub max: u64,
}

impl Checker for Duplicates {
    fn name(&self) -> String {
        "duplicates".into()
    }

    fn check(&self, history: &History, finals: &FinalReads) -> CheckResult {
        let mut extra = 0u64;
        let mut first: Option<(&str, &str, usize)> = None;
        let mut doubled: Vec<(&str, &str, usize)> = Vec::new();
        for (key, items) in finals {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for item in items {
                *counts.entry(item).or_default() += 1;
            }
            let mut seen = HashSet::new();
            for item in items {
                let n = counts[item.as_str()];
                if n > 1 && first.is_none() {
                    first = Some((key, item, n));
                }
                if n > 1 && seen.insert(item.as_str()) {
                    doubled.push((key, item, n));
                }
            }
            extra += counts.values().map(|&n| n as u64 - 1).sum::<u64>();
        }
        // The adds behind the first doubled items (an item is its add's request id).
        let offenders: Vec<Offender> = if doubled.is_empty() {
            Vec::new()
        } else {
            history.with_views(|ops| {
                let offenders = doubled.iter().take(MAX_OFFENDERS).filter_map(|(key, item, n)| {
                    ops.iter()
                        .find(|op| matches!(op.action(), Action::Add { key: k, item: i } if k == key && i == item))
                        .map(|op| Offender::of(&op.to_operation(), format!("stored {n} times in {key}")))
                });
                offenders.collect()
            })
        };
        let mut detail = format!("{extra} extra copies in {} carts", finals.len());
        if let Some((key, item, n)) = first {
            detail += &format!("; first: item {item} is {n} times in cart {key}");
        }
        CheckResult::new(self.name(), extra as f64, Bound::AtMost, self.max as f64)
            .unit("copies")
            .detail(detail)
            .offenders(offenders)
    }
}

/// Reads that missed an add acknowledged before the read was sent. An add acknowledged after
/// the read began is concurrent with it, and the read may or may not see it.
#[derive(Debug, Clone, Default)]
pub struct StaleReads {
    /// How many stale reads the run may have (0 for a linearizable store; an eventually
    /// consistent one sets a budget).
    pub max: u64,
}

impl Checker for StaleReads {
    fn name(&self) -> String {
        "stale reads".into()
    }

    fn check(&self, history: &History, _: &FinalReads) -> CheckResult {
        history.with_views(|ops| {
            // Acknowledged adds per cart, sorted by acknowledgement time.
            let mut acks: HashMap<&str, Vec<(Duration, &str)>> = HashMap::new();
            for op in ops {
                if let (Action::Add { key, item }, Some(at)) = (op.action(), op.acked_at()) {
                    acks.entry(key).or_default().push((at, item));
                }
            }
            for list in acks.values_mut() {
                list.sort();
            }
            let mut reads = 0;
            let mut stale = 0;
            let mut first = None;
            let mut offenders = Vec::new();
            for op in ops {
                let (Action::Read { key }, Some(items)) = (op.action(), op.items_read()) else {
                    continue;
                };
                reads += 1;
                let before = acks.get(key.as_str()).map_or(&[][..], |list| {
                    let n = list.partition_point(|(at, _)| *at < op.invoked());
                    &list[..n]
                });
                // A short read is scanned; only a long one is worth a set (one allocation per
                // read of millions was most of this check's time).
                let seen: Option<HashSet<&str>> = (items.len() > 16 && !before.is_empty())
                    .then(|| items.iter().map(String::as_str).collect());
                let read_it = |item: &str| match &seen {
                    Some(seen) => seen.contains(item),
                    None => items.iter().any(|i| i == item),
                };
                if let Some((acked, missing)) = before.iter().find(|(_, item)| !read_it(item)) {
                    stale += 1;
                    first.get_or_insert((op, *missing));
                    if offenders.len() < MAX_OFFENDERS {
                        let why = format!(
                            "missed {missing}, acknowledged at {:.3} s, before this read",
                            acked.as_secs_f64()
                        );
                        offenders.push(Offender::of(&op.to_operation(), why));
                    }
                }
            }
            let mut detail = format!("{stale} of {reads} reads missed an acknowledged add");
            if let Some((op, missing)) = first {
                detail += &format!(
                    "; first: read of cart {} from {} at {:.3} s missed item {missing}",
                    op.action().key().unwrap_or_default(),
                    op.invoke.node,
                    op.invoked().as_secs_f64()
                );
            }
            CheckResult::new(self.name(), stale as f64, Bound::AtMost, self.max as f64)
                .unit("reads")
                .detail(detail)
                .offenders(offenders)
        })
    }
}

/// The share of operations that succeeded, in every window of the run: the figure is the
/// worst window's. Operations sent inside an excluded range (a fault the scenario expects to
/// hurt) are left out.
#[derive(Debug, Clone)]
pub struct Availability {
    pub window: Duration,
    /// The least share (0 to 1) of successes any window may have.
    pub min: f64,
    pub exclude: Vec<Range<Duration>>,
}

impl Checker for Availability {
    fn name(&self) -> String {
        format!(
            "availability per {}{}",
            seconds(self.window),
            excluded_suffix(&self.exclude)
        )
    }

    fn check(&self, history: &History, _: &FinalReads) -> CheckResult {
        history.with_views(|ops| {
            let windows = by_window(ops, self.window, &self.exclude);
            let worst = windows
                .iter()
                .map(|(&w, ops)| {
                    let ok = ops.iter().filter(|op| op.is_ok()).count();
                    (ok as f64 / ops.len() as f64, w, ok, ops.len())
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let name = self.name();
            let Some((share, w, ok, n)) = worst else {
                return no_operations(name, self.min, Bound::AtLeast, "");
            };
            let offenders = windows[&w].iter().filter(|op| !op.is_ok()).map(|op| {
                Offender::of(
                    &op.to_operation(),
                    format!("did not succeed in window {}", window_label(w, self.window)),
                )
            });
            let offenders: Vec<Offender> = offenders.take(MAX_OFFENDERS).collect();
            let detail = format!(
                "worst window {}: {ok} of {n} operations succeeded ({} windows{})",
                window_label(w, self.window),
                windows.len(),
                excluded_note(&self.exclude)
            );
            let passed = share >= self.min;
            CheckResult::new(name, share, Bound::AtLeast, self.min)
                .unit("")
                .detail(detail)
                .offenders(if passed { Vec::new() } else { offenders })
        })
    }
}

/// A latency percentile in every window of the run: the figure is the worst window's, in
/// milliseconds. Every operation that ended counts with the time its client waited, unknown
/// ones too (a timeout is a wait the user had), so an outage cannot hide from this check.
#[derive(Debug, Clone)]
pub struct LatencyPercentiles {
    pub window: Duration,
    /// The percentile, 0 to 100 (99.0 for p99).
    pub p: f64,
    /// The most it may be in any window.
    pub max: Duration,
    pub exclude: Vec<Range<Duration>>,
}

impl Checker for LatencyPercentiles {
    fn name(&self) -> String {
        format!(
            "latency p{} per {}{}",
            self.p,
            seconds(self.window),
            excluded_suffix(&self.exclude)
        )
    }

    fn check(&self, history: &History, _: &FinalReads) -> CheckResult {
        history.with_views(|ops| {
            let windows = by_window(ops, self.window, &self.exclude);
            let worst = windows
                .iter()
                .filter_map(|(&w, ops)| {
                    let mut waits: Vec<Duration> =
                        ops.iter().filter_map(|op| op.latency()).collect();
                    (!waits.is_empty()).then(|| {
                        waits.sort();
                        (percentile(&waits, self.p), w, waits.len())
                    })
                })
                .max_by_key(|&(latency, ..)| latency);
            let name = self.name();
            let max_ms = millis(self.max);
            let Some((latency, w, n)) = worst else {
                return no_operations(name, max_ms, Bound::AtMost, "ms");
            };
            let mut slowest: Vec<&&OpView> = windows[&w]
                .iter()
                .filter(|op| op.latency().is_some())
                .collect();
            slowest.sort_by_key(|op| std::cmp::Reverse(op.latency()));
            let offenders: Vec<Offender> = slowest
                .into_iter()
                .take(MAX_OFFENDERS)
                .map(|op| {
                    let waited = op.latency().map(millis).unwrap_or_default();
                    Offender::of(
                        &op.to_operation(),
                        format!("waited {waited:.1} ms, among the slowest of its window"),
                    )
                })
                .collect();
            let detail = format!(
                "worst window {}: p{} of {n} operations is {:.1} ms ({} windows{})",
                window_label(w, self.window),
                self.p,
                millis(latency),
                windows.len(),
                excluded_note(&self.exclude)
            );
            let passed = millis(latency) <= max_ms;
            CheckResult::new(name, millis(latency), Bound::AtMost, max_ms)
                .unit("ms")
                .detail(detail)
                .offenders(if passed { Vec::new() } else { offenders })
        })
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Operations by the window they were sent in, leaving out the excluded ones. Windows nobody
/// sent in are absent: there is nothing to judge there.
fn by_window<'a, 'h>(
    ops: &'a [OpView<'h>],
    window: Duration,
    exclude: &[Range<Duration>],
) -> BTreeMap<u64, Vec<&'a OpView<'h>>> {
    let width = window.as_micros().max(1);
    let mut windows: BTreeMap<u64, Vec<&OpView>> = BTreeMap::new();
    for op in ops {
        let invoked = op.invoked();
        if exclude.iter().any(|r| r.contains(&invoked)) {
            continue;
        }
        let w = (invoked.as_micros() / width) as u64;
        windows.entry(w).or_default().push(op);
    }
    windows
}

/// A check with nothing to judge fails: a run that sent nothing proves nothing.
fn no_operations(name: String, threshold: f64, bound: Bound, unit: &str) -> CheckResult {
    let mut result = CheckResult::new(name, f64::NAN, bound, threshold)
        .unit(unit)
        .detail("no operations to judge: did the workload run?".into());
    result.passed = false;
    result
}

fn window_label(w: u64, window: Duration) -> String {
    let start = window.as_secs_f64() * w as f64;
    format!("{start:.1}-{:.1} s", start + window.as_secs_f64())
}

fn ranges(exclude: &[Range<Duration>]) -> String {
    let ranges: Vec<String> = exclude
        .iter()
        .map(|r| format!("{:.1}-{:.1} s", r.start.as_secs_f64(), r.end.as_secs_f64()))
        .collect();
    ranges.join(", ")
}

fn excluded_note(exclude: &[Range<Duration>]) -> String {
    if exclude.is_empty() {
        return String::new();
    }
    format!("; operations sent in {} excluded", ranges(exclude))
}

/// Two checks that differ only in what they leave out must not share a name.
fn excluded_suffix(exclude: &[Range<Duration>]) -> String {
    if exclude.is_empty() {
        return String::new();
    }
    format!(" except {}", ranges(exclude))
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How many of `times` (since any origin, sorted or not) fall in each window of `width` from
/// `origin`, for `windows` windows; times before `origin` or past the last window are left
/// out. The arrival rate per window, as a plot shows it.
pub fn per_window(
    times: &[Duration],
    origin: Duration,
    width: Duration,
    windows: usize,
) -> Vec<usize> {
    let mut counts = vec![0; windows];
    if width.is_zero() {
        return counts;
    }
    for t in times {
        let Some(since) = t.checked_sub(origin) else {
            continue;
        };
        let k = (since.as_nanos() / width.as_nanos()) as usize;
        if let Some(count) = counts.get_mut(k) {
            *count += 1;
        }
    }
    counts
}

/// The most of `times` inside any window of `width`, wherever it starts (a sliding window:
/// a burst that a fixed window's boundary splits in two still counts whole). The peak
/// arrival rate, per `width`.
pub fn peak_rate(times: &[Duration], width: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut peak = 0;
    let mut start = 0;
    for (end, t) in sorted.iter().enumerate() {
        while sorted[start] + width <= *t {
            start += 1;
        }
        peak = peak.max(end - start + 1);
    }
    peak
}

/// How long writes were unavailable from `from` (a fault's start): until the first add
/// acknowledged after it, or `None` if none was. A failover's window, as a client sees it.
pub fn write_gap(history: &History, from: Duration) -> Option<Duration> {
    history
        .operations()
        .iter()
        .filter(|op| matches!(op.action, Action::Add { .. }))
        .filter_map(Operation::acked_at)
        .filter(|at| *at > from)
        .min()
        .map(|at| at - from)
}

/// No key written on both sides of a partition: among the adds sent while it lasted and
/// acknowledged, each key's were served by nodes of one side only. The figure is the number of
/// keys acknowledged by two sides or more; each is named with an add from every side. A node
/// is on the side of the group that lists it; the node that served an add counts (the one a
/// redirect took it to, [`Operation::server`]), not the node it was sent to. A partition in
/// which no add was acknowledged proves nothing, and fails.
#[derive(Debug, Clone)]
pub struct OneSidePerKey {
    /// The partition's sides, by node id (`[["n1", "n2"], ["n3", "n4", "n5"]]`).
    pub groups: Vec<Vec<String>>,
    /// When the sides must have stopped sharing keys, since the run's start: the adds *sent*
    /// in it count (usually from the cut, plus the time the sides take to decide, to the heal).
    pub window: Range<Duration>,
}

impl OneSidePerKey {
    /// The side `node` is on, by its index in `groups`.
    fn side(&self, node: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.iter().any(|n| n == node))
    }

    fn side_name(&self, side: usize) -> String {
        format!("side {{{}}}", self.groups[side].join(", "))
    }
}

impl Checker for OneSidePerKey {
    fn name(&self) -> String {
        format!(
            "no key written on both sides of {} from {:.1} to {:.1} s",
            self.groups
                .iter()
                .map(|g| g.join(","))
                .collect::<Vec<_>>()
                .join(" | "),
            self.window.start.as_secs_f64(),
            self.window.end.as_secs_f64()
        )
    }

    fn check(&self, history: &History, _: &FinalReads) -> CheckResult {
        let ops = history.operations();
        // Per key, the first acknowledged add of each side, in the order they were sent.
        let mut sides: BTreeMap<&str, BTreeMap<usize, &Operation>> = BTreeMap::new();
        let mut acked = 0;
        let mut outside: BTreeSet<&str> = BTreeSet::new();
        for op in &ops {
            let Action::Add { key, .. } = &op.action else {
                continue;
            };
            if !op.is_ok() || !self.window.contains(&op.invoked) {
                continue;
            }
            acked += 1;
            match self.side(op.server()) {
                Some(side) => {
                    sides.entry(key).or_default().entry(side).or_insert(op);
                }
                None => {
                    outside.insert(op.server());
                }
            }
        }
        let name = self.name();
        if acked == 0 {
            let mut result = no_operations(name, 0.0, Bound::AtMost, "keys");
            result.detail = format!(
                "no add sent from {:.1} to {:.1} s was acknowledged: a partition nobody wrote \
                 through proves nothing",
                self.window.start.as_secs_f64(),
                self.window.end.as_secs_f64()
            );
            return result;
        }
        let both: Vec<(&str, &BTreeMap<usize, &Operation>)> = sides
            .iter()
            .filter(|(_, by)| by.len() > 1)
            .map(|(key, by)| (*key, by))
            .collect();
        let mut detail = format!(
            "{} of {} keys written on more than one side ({acked} adds acknowledged)",
            both.len(),
            sides.len()
        );
        for (key, by) in both.iter().take(MAX_OFFENDERS) {
            let who: Vec<String> = by
                .iter()
                .map(|(side, op)| format!("{} ({})", op.server(), self.side_name(*side)))
                .collect();
            detail += &format!("; {key} acknowledged by {}", who.join(" and "));
        }
        if !outside.is_empty() {
            let nodes: Vec<&str> = outside.into_iter().collect();
            detail += &format!("; served by nodes of no side: {}", nodes.join(", "));
        }
        let offenders = both.iter().flat_map(|(key, by)| {
            by.iter().map(move |(side, op)| {
                let others: Vec<String> = by
                    .keys()
                    .filter(|s| *s != side)
                    .map(|s| self.side_name(*s))
                    .collect();
                Offender::of(
                    op,
                    format!(
                        "{key} acknowledged on {} while {} took it too",
                        self.side_name(*side),
                        others.join(" and ")
                    ),
                )
            })
        });
        CheckResult::new(name, both.len() as f64, Bound::AtMost, 0.0)
            .unit("keys")
            .detail(detail)
            .offenders(offenders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Phase};

    /// A synthetic history, written as the operations a person would describe.
    #[derive(Default)]
    struct Script {
        events: Vec<Event>,
        next: u64,
    }

    impl Script {
        /// An operation sent at `from` ms that ended at `to` ms with `phase`.
        fn op(&mut self, action: Action, from: u64, to: u64, phase: Phase) -> &mut Event {
            let id = self.next;
            self.next += 1;
            let event = |t_ms: u64, phase| Event {
                id,
                t_us: t_ms * 1000,
                phase,
                node: "n1".into(),
                action: action.clone(),
                items: None,
                served_by: None,
                error: (phase == Phase::Fail || phase == Phase::Unknown).then(|| "x".into()),
            };
            self.events.push(event(from, Phase::Invoke));
            self.events.push(event(to, phase));
            self.events.last_mut().unwrap()
        }

        fn add(&mut self, key: &str, item: &str, from: u64, to: u64, phase: Phase) {
            let action = Action::Add {
                key: key.into(),
                item: item.into(),
            };
            self.op(action, from, to, phase);
        }

        fn read(&mut self, key: &str, from: u64, to: u64, items: &[&str]) {
            let action = Action::Read { key: key.into() };
            let end = self.op(action, from, to, Phase::Ok);
            end.items = Some(items.iter().map(|s| s.to_string()).collect());
        }

        fn history(&mut self) -> History {
            let mut events = std::mem::take(&mut self.events);
            events.sort_by_key(|e| e.t_us);
            History::from_events(events)
        }
    }

    fn finals(carts: &[(&str, &[&str])]) -> FinalReads {
        carts
            .iter()
            .map(|(k, items)| (k.to_string(), items.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn arrival_rates_per_window_and_at_their_peak() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        let times = ms(&[1005, 1010, 1150, 1190, 1210, 1220, 1230, 2000]);
        let width = Duration::from_millis(100);
        assert_eq!(
            per_window(&times, Duration::from_secs(1), width, 3),
            [2, 2, 3],
            "the last time is past the third window, and none is before the origin"
        );
        assert_eq!(
            per_window(&times, Duration::from_millis(1100), width, 2),
            [2, 3]
        );
        // 1150 to 1230 is one burst of five, split by the 1200 boundary into 2 and 3.
        assert_eq!(peak_rate(&times, width), 5);
        let mut shuffled = times.clone();
        shuffled.reverse();
        assert_eq!(peak_rate(&shuffled, width), 5, "unsorted times");
        assert_eq!(peak_rate(&[], width), 0);
        assert_eq!(
            peak_rate(&ms(&[0, 100, 200]), width),
            1,
            "a window holds [t, t + width)"
        );
    }

    #[test]
    fn an_acknowledged_add_missing_from_the_final_read_is_lost() {
        let mut s = Script::default();
        s.add("c1", "r1", 0, 5, Phase::Ok);
        s.add("c1", "r2", 10, 15, Phase::Ok);
        let result = NoLostAcks.check(&s.history(), &finals(&[("c1", &["r1"])]));
        assert!(!result.passed);
        assert_eq!(result.figure, 1.0);
        assert!(
            result.detail.contains("item r2 of cart c1"),
            "{}",
            result.detail
        );
    }

    #[test]
    fn unknown_or_failed_adds_are_never_lost_and_unknown_ones_may_appear() {
        let mut s = Script::default();
        s.add("c1", "r1", 0, 5, Phase::Ok);
        s.add("c1", "r2", 10, 1010, Phase::Unknown); // timed out, never applied
        s.add("c1", "r3", 20, 1020, Phase::Unknown); // timed out, applied after all
        s.add("c1", "r4", 30, 31, Phase::Fail);
        let result = NoLostAcks.check(&s.history(), &finals(&[("c1", &["r1", "r3"])]));
        assert!(result.passed, "{result:?}");
        assert_eq!(result.figure, 0.0);
    }

    #[test]
    fn a_cart_never_read_loses_its_acknowledged_adds() {
        let mut s = Script::default();
        s.add("c9", "r1", 0, 5, Phase::Ok);
        let result = NoLostAcks.check(&s.history(), &FinalReads::new());
        assert!(!result.passed);
        assert!(result.detail.contains("never read"), "{}", result.detail);
    }

    #[test]
    fn a_failed_add_that_was_stored_anyway_is_reported_but_not_lost() {
        let mut s = Script::default();
        s.add("c1", "r1", 0, 5, Phase::Fail);
        let result = NoLostAcks.check(&s.history(), &finals(&[("c1", &["r1"])]));
        assert!(result.passed);
        assert!(
            result
                .detail
                .contains("1 adds answered as failed were stored anyway")
        );
    }

    #[test]
    fn duplicates_count_extra_copies_against_a_budget() {
        let history = Script::default().history();
        let carts = finals(&[("c1", &["r1", "r2", "r1", "r1"]), ("c2", &["r3", "r3"])]);
        let strict = Duplicates { max: 0 }.check(&history, &carts);
        assert!(!strict.passed);
        assert_eq!(strict.figure, 3.0);
        assert!(
            strict.detail.contains("item r1 is 3 times in cart c1"),
            "{}",
            strict.detail
        );
        assert!(Duplicates { max: 3 }.check(&history, &carts).passed);

        let clean = finals(&[("c1", &["r1", "r2"]), ("c2", &["r1"])]);
        let result = Duplicates { max: 0 }.check(&history, &clean);
        assert!(result.passed, "the same item in two carts is no duplicate");
    }

    #[test]
    fn a_read_that_misses_an_add_acknowledged_before_it_was_sent_is_stale() {
        let mut s = Script::default();
        s.add("c1", "r1", 0, 10, Phase::Ok);
        s.read("c1", 20, 25, &[]);
        let result = StaleReads { max: 0 }.check(&s.history(), &FinalReads::new());
        assert!(!result.passed);
        assert_eq!(result.figure, 1.0);
        assert!(
            result.detail.contains("missed item r1"),
            "{}",
            result.detail
        );
    }

    #[test]
    fn reads_concurrent_with_an_add_or_missing_unacknowledged_adds_are_not_stale() {
        let mut s = Script::default();
        // Acknowledged after the read was sent: concurrent, the read may miss it.
        s.add("c1", "r1", 0, 30, Phase::Ok);
        s.read("c1", 20, 25, &[]);
        // Unknown and failed adds promise nothing.
        s.add("c1", "r2", 40, 1040, Phase::Unknown);
        s.add("c1", "r3", 50, 51, Phase::Fail);
        s.read("c1", 1100, 1101, &["r1"]);
        // An add to another cart is not this cart's business.
        s.add("c2", "r4", 0, 1, Phase::Ok);
        let result = StaleReads { max: 0 }.check(&s.history(), &FinalReads::new());
        assert!(result.passed, "{result:?}");
        assert_eq!(result.detail, "0 of 2 reads missed an acknowledged add");
    }

    #[test]
    fn stale_reads_can_have_a_budget() {
        let mut s = Script::default();
        s.add("c1", "r1", 0, 10, Phase::Ok);
        s.read("c1", 20, 25, &[]);
        s.read("c1", 30, 35, &["r1"]);
        let result = StaleReads { max: 1 }.check(&s.history(), &FinalReads::new());
        assert!(result.passed);
        assert_eq!(result.figure, 1.0);
    }

    /// Ten operations per second for four seconds; in the third second every one times out.
    fn outage_in_third_second() -> History {
        let mut s = Script::default();
        for t in (0..4000).step_by(100) {
            let phase = if (2000..3000).contains(&t) {
                Phase::Unknown
            } else {
                Phase::Ok
            };
            let wait = if phase == Phase::Ok { 5 } else { 1000 };
            s.add("c1", &format!("r{t}"), t, t + wait, phase);
        }
        s.history()
    }

    #[test]
    fn availability_finds_the_worst_window() {
        let check = Availability {
            window: Duration::from_secs(1),
            min: 0.9,
            exclude: vec![],
        };
        let result = check.check(&outage_in_third_second(), &FinalReads::new());
        assert!(!result.passed);
        assert_eq!(result.figure, 0.0);
        assert!(
            result.detail.starts_with("worst window 2.0-3.0 s: 0 of 10"),
            "{}",
            result.detail
        );
    }

    #[test]
    fn availability_leaves_out_an_excluded_fault_window() {
        let check = Availability {
            window: Duration::from_secs(1),
            min: 0.9,
            exclude: vec![Duration::from_secs(2)..Duration::from_secs(3)],
        };
        let result = check.check(&outage_in_third_second(), &FinalReads::new());
        assert!(result.passed, "{result:?}");
        assert_eq!(result.figure, 1.0);
    }

    #[test]
    fn latency_percentiles_count_timeouts_as_the_wait_they_were() {
        let check = |max_ms| LatencyPercentiles {
            window: Duration::from_secs(1),
            p: 99.0,
            max: Duration::from_millis(max_ms),
            exclude: vec![],
        };
        let history = outage_in_third_second();
        let result = check(100).check(&history, &FinalReads::new());
        assert!(!result.passed);
        assert_eq!(result.figure, 1000.0);
        assert!(
            result.detail.starts_with("worst window 2.0-3.0 s"),
            "{}",
            result.detail
        );

        let mut calm = check(100);
        calm.exclude = vec![Duration::from_secs(2)..Duration::from_secs(3)];
        let result = calm.check(&history, &FinalReads::new());
        assert!(result.passed, "{result:?}");
        assert_eq!(result.figure, 5.0);
    }

    #[test]
    fn a_run_with_no_operations_proves_nothing() {
        let check = Availability {
            window: Duration::from_secs(1),
            min: 0.5,
            exclude: vec![],
        };
        let result = check.check(&History::new(), &FinalReads::new());
        assert!(!result.passed);
        assert!(result.detail.starts_with("no operations"));
    }

    #[test]
    fn checkers_compose_in_a_list() {
        let mut s = Script::default();
        s.add("c1", "r1", 0, 5, Phase::Ok);
        s.read("c1", 10, 12, &["r1"]);
        let checks: Vec<Box<dyn Checker>> = vec![
            Box::new(NoLostAcks),
            Box::new(Duplicates { max: 0 }),
            Box::new(StaleReads { max: 0 }),
            Box::new(Availability {
                window: Duration::from_secs(1),
                min: 1.0,
                exclude: vec![],
            }),
            Box::new(LatencyPercentiles {
                window: Duration::from_secs(1),
                p: 50.0,
                max: Duration::from_millis(10),
                exclude: vec![],
            }),
        ];
        let results = run_all(&checks, &s.history(), &finals(&[("c1", &["r1"])]));
        assert_eq!(results.len(), 5);
        let names: Vec<String> = checks.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            results.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
        );
        assert!(results.iter().all(|r| r.passed), "{results:#?}");
    }

    #[test]
    fn measured_values_are_held_to_a_floor_or_a_ceiling_by_their_worst() {
        let times = [1640.0, 1990.0];
        assert!(smallest_at_least("verdict", &times, 1100.0, "ms").passed);
        assert!(largest_at_most("verdict", &times, 2300.0, "ms").passed);
        let early = smallest_at_least("verdict", &[900.0, 1990.0], 1100.0, "ms");
        assert!(!early.passed && early.figure == 900.0, "{early:?}");
        let late = largest_at_most("verdict", &[1640.0, 2400.0], 2300.0, "ms");
        assert!(!late.passed && late.figure == 2400.0, "{late:?}");
        assert!(late.detail.contains("1640, 2400 ms"), "{}", late.detail);
        assert!(
            !largest_at_most("verdict", &[], 2300.0, "ms").passed,
            "nothing measured"
        );
    }

    /// Adds served by `node`, sent to it, acknowledged 5 ms later.
    fn served(s: &mut Script, key: &str, item: &str, node: &str, at: u64) {
        s.add(key, item, at, at + 5, Phase::Ok);
        let id = s.next - 1;
        for e in s.events.iter_mut().filter(|e| e.id == id) {
            e.node = node.into();
        }
    }

    fn sides(window: Range<u64>) -> OneSidePerKey {
        OneSidePerKey {
            groups: vec![
                vec!["n1".into(), "n2".into()],
                vec!["n3".into(), "n4".into(), "n5".into()],
            ],
            window: Duration::from_millis(window.start)..Duration::from_millis(window.end),
        }
    }

    #[test]
    fn the_write_gap_runs_from_the_fault_to_the_next_acknowledged_add() {
        let mut s = Script::default();
        s.add("c1", "a", 900, 990, Phase::Ok);
        s.read("c1", 1010, 1020, &["a"]);
        s.add("c1", "b", 1000, 1030, Phase::Fail);
        s.add("c1", "c", 1040, 1250, Phase::Ok);
        s.add("c1", "d", 1100, 1200, Phase::Ok);
        let history = s.history();
        let ms = Duration::from_millis;
        assert_eq!(
            write_gap(&history, ms(1000)),
            Some(ms(200)),
            "reads do not count"
        );
        assert_eq!(write_gap(&history, ms(1300)), None);
    }

    #[test]
    fn a_key_acknowledged_on_both_sides_of_a_partition_fails_naming_it_and_its_adds() {
        let mut s = Script::default();
        served(&mut s, "cart-1", "a", "n1", 1000);
        served(&mut s, "cart-1", "b", "n3", 1100);
        served(&mut s, "cart-2", "c", "n3", 1200);
        served(&mut s, "cart-2", "d", "n4", 1300);
        // Before the window (the sides had not decided yet), both took cart-3: not counted.
        served(&mut s, "cart-3", "e", "n1", 100);
        served(&mut s, "cart-3", "f", "n3", 200);
        // Refused on the minority: promises nothing.
        s.add("cart-2", "g", 1400, 1401, Phase::Fail);
        let result = sides(500..2000).check(&s.history(), &FinalReads::new());
        assert!(!result.passed, "{result:?}");
        assert_eq!(result.figure, 1.0);
        assert!(
            result
                .detail
                .starts_with("1 of 2 keys written on more than one side")
                && result.detail.contains(
                    "cart-1 acknowledged by n1 (side {n1, n2}) and n3 (side {n3, n4, n5})"
                ),
            "{}",
            result.detail
        );
        let named: Vec<(&str, &str)> = result
            .offenders
            .iter()
            .map(|o| (o.what.as_str(), o.node.as_str()))
            .collect();
        assert_eq!(
            named,
            [("add a to cart-1", "n1"), ("add b to cart-1", "n3")]
        );
        assert!(
            result.offenders[0]
                .why
                .contains("while side {n3, n4, n5} took it too"),
            "{:?}",
            result.offenders[0]
        );
    }

    #[test]
    fn keys_each_written_on_one_side_pass_and_the_serving_node_decides_the_side() {
        let mut s = Script::default();
        served(&mut s, "cart-1", "a", "n3", 1000);
        served(&mut s, "cart-1", "b", "n5", 1100);
        served(&mut s, "cart-2", "c", "n1", 1200);
        // Sent to n1 on the minority, redirected to and served by n3: the majority's write.
        s.add("cart-1", "d", 1300, 1305, Phase::Ok);
        let id = s.next - 1;
        for e in s.events.iter_mut().filter(|e| e.id == id) {
            if e.phase == Phase::Ok {
                e.served_by = Some("n3".into());
            }
        }
        let check = sides(500..2000);
        let result = check.check(&s.history(), &FinalReads::new());
        assert!(result.passed, "{result:?}");
        assert_eq!(result.figure, 0.0);
        assert_eq!(
            result.detail,
            "0 of 2 keys written on more than one side (4 adds acknowledged)"
        );
        assert_eq!(
            check.name(),
            "no key written on both sides of n1,n2 | n3,n4,n5 from 0.5 to 2.0 s"
        );

        let nothing = sides(3000..4000).check(&s.history(), &FinalReads::new());
        assert!(
            !nothing.passed,
            "no acknowledged add in the window: {nothing:?}"
        );
        assert!(
            nothing.detail.contains("proves nothing"),
            "{}",
            nothing.detail
        );
    }
}

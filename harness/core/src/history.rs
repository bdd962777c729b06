//! Histories: what every client operation did and when, the way Jepsen records it.
//!
//! The map:
//! - [`History`]: a thread-safe, append-only log of [`Event`]s, shared by every task of a run
//!   (it is a cheap handle; clones append to the same log).
//! - [`History::invoke`] opens an operation and returns an [`Invocation`]; finishing it with
//!   [`Invocation::ok`], [`Invocation::read`], [`Invocation::fail`] or
//!   [`Invocation::unknown`] appends the completion. An invocation dropped unfinished (its
//!   caller's timeout fired, or the run ended) is recorded as unknown: the client never learned
//!   what happened, and that is exactly what "unknown" means.
//! - [`History::operations`] pairs each invoke with its completion into an [`Operation`], the
//!   form the checkers in [`crate::check`] read.
//! - [`History::write_jsonl`] / [`History::read_jsonl`]: one JSON event per line, the
//!   `history.jsonl` of every run directory.
//!
//! The three outcomes are the heart of it. `ok`: the node acknowledged (for an add, a promise
//! that the item is stored). `fail`: the operation definitely did not happen (the connection
//! was refused, the node said no). `unknown`: no answer, so it may or may not have happened (a
//! timeout, a connection reset after the request went out). A checker that counted unknown
//! writes as lost would blame the system for the network's silence.
//!
//! Times are microseconds since the run's start, read from a monotonic clock, and the log is
//! appended under one lock, so events in a history are in time order.
//!
//! One line of `history.jsonl`:
//! `{"id":7,"t_us":120400,"type":"ok","node":"n2","f":"add","key":"cart-3","item":"r-7"}`
//!
//! A completion may also say which node served the operation when that is not the node it
//! was sent to (a backup redirected the client to its primary): `"served_by":"n1"`
//! ([`Invocation::served_by`], [`Operation::served_by`]). Files written before the field
//! existed read as they always did.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use node_kit::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What an operation asks for. Serialized flat into its event as `"f": "add"` and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Action {
    /// Add `item` to the cart `key` (the item is the add's request id, so each is unique and a
    /// duplicate in a cart can only be one add applied twice).
    Add { key: String, item: String },
    /// Read the cart `key`; its `ok` event carries the items read.
    Read { key: String },
    /// Any other request, by a name a person recognises (`GET /health`).
    Request { name: String },
}

impl Action {
    /// The cart this action touches, if it touches one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Action::Add { key, .. } | Action::Read { key } => Some(key),
            Action::Request { .. } => None,
        }
    }
}

/// Where an event sits in its operation's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Invoke,
    Ok,
    Fail,
    Unknown,
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The operation this event belongs to: its invoke and its completion share the id.
    pub id: u64,
    /// Microseconds since the run's start.
    pub t_us: u64,
    #[serde(rename = "type")]
    pub phase: Phase,
    /// The node (or target address) the request went to, so a checker's finding can name it.
    pub node: String,
    #[serde(flatten)]
    pub action: Action,
    /// A read's result, on its `ok` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    /// On a completion: the node that served the operation, when a redirect took it from
    /// `node` to another one. Absent in older files and when `node` served it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// Why a `fail` or `unknown` ended that way (`timeout`, `connect`, `http_503`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The log of one run. Clone it freely: every clone appends to the same log.
#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

struct Inner {
    /// Time zero of the run: share it with the load generator and the fault schedule so that
    /// every figure of a report is on one time axis.
    start: Instant,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    events: Vec<Event>,
    next_id: u64,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("events", &self.lock().events.len())
            .finish()
    }
}

impl History {
    /// An empty history whose time zero is now.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// An empty history whose time zero is `start` (the run's, shared with the load).
    pub fn starting_at(start: Instant) -> Self {
        Self::with_log(start, Log::default())
    }

    /// A history made of given events (from a file, or synthetic ones in a test).
    pub fn from_events(events: Vec<Event>) -> Self {
        let next_id = events.iter().map(|e| e.id + 1).max().unwrap_or(0);
        Self::with_log(Instant::now(), Log { events, next_id })
    }

    fn with_log(start: Instant, log: Log) -> Self {
        History {
            inner: Arc::new(Inner {
                start,
                log: Mutex::new(log),
            }),
        }
    }

    /// Time zero of the run.
    pub fn start(&self) -> Instant {
        self.inner.start
    }

    /// Records that `action` is being sent to `node` now; finish the returned invocation
    /// with its outcome.
    pub fn invoke(&self, node: impl Into<String>, action: Action) -> Invocation {
        let node = node.into();
        let id = {
            let mut log = self.lock();
            let id = log.next_id;
            log.next_id += 1;
            let t_us = self.now_us();
            log.events.push(Event {
                id,
                t_us,
                phase: Phase::Invoke,
                node: node.clone(),
                action: action.clone(),
                items: None,
                served_by: None,
                error: None,
            });
            id
        };
        Invocation {
            history: self.clone(),
            id,
            node,
            action,
            served_by: None,
            done: false,
        }
    }

    /// A copy of every event so far, in time order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each operation with its invoke and completion paired, in invoke order. An operation
    /// with no completion yet has `end: None`.
    pub fn operations(&self) -> Vec<Operation> {
        self.with_views(|views| views.iter().map(|view| view.to_operation()).collect())
    }

    /// Calls `f` with every operation as the events it is made of, borrowed from the log, in
    /// invoke order: what the checkers read, so that judging millions of operations copies
    /// none of them. The log is locked meanwhile (as long as [`History::operations`] holds
    /// it to copy the same), so `f` must not record into this history.
    pub(crate) fn with_views<R>(&self, f: impl FnOnce(&[OpView<'_>]) -> R) -> R {
        let log = self.lock();
        f(&pair(&log.events))
    }

    /// Writes one JSON event per line.
    pub fn write_jsonl(&self, mut out: impl Write) -> io::Result<()> {
        for event in self.lock().events.iter() {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Reads a history written by [`History::write_jsonl`]; blank lines are skipped.
    pub fn read_jsonl(input: impl BufRead) -> Result<History, HistoryError> {
        let mut events = Vec::new();
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|source| HistoryError::Io {
                line: n + 1,
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let event = serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
                line: n + 1,
                source,
            })?;
            events.push(event);
        }
        Ok(History::from_events(events))
    }

    fn complete(
        &self,
        id: u64,
        (node, served_by): (String, Option<String>),
        action: Action,
        outcome: Completion,
    ) {
        let mut log = self.lock();
        let t_us = self.now_us();
        let (phase, items, error) = match outcome {
            Completion::Ok(items) => (Phase::Ok, items, None),
            Completion::Fail(e) => (Phase::Fail, None, Some(e)),
            Completion::Unknown(e) => (Phase::Unknown, None, Some(e)),
        };
        log.events.push(Event {
            id,
            t_us,
            phase,
            node,
            action,
            items,
            served_by,
            error,
        });
    }

    /// Read under the lock, so that the log is in time order.
    fn now_us(&self) -> u64 {
        self.inner.start.elapsed().as_micros() as u64
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-written (each push is one
        // step), so a poisoned lock is still a good log.
        self.inner.log.lock()
    }
}

fn error_of(event: &Event) -> String {
    event.error.clone().unwrap_or_default()
}

/// An operation in flight. Finish it with its outcome; dropped unfinished, it records
/// `unknown` with the error `timeout` (the caller stopped waiting).
#[must_use = "finish the invocation with its outcome, or it is recorded as unknown"]
pub struct Invocation {
    history: History,
    id: u64,
    node: String,
    action: Action,
    /// The node that served it, if a redirect took it elsewhere.
    served_by: Option<String>,
    done: bool,
}

impl Invocation {
    /// The operation's id in the history.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Says which node served the operation, when it is not the one it was sent to (a
    /// redirect took it there); recorded with its completion. Naming the node it was sent
    /// to records nothing more.
    pub fn served_by(mut self, node: impl Into<String>) -> Invocation {
        let node = node.into();
        self.served_by = (node != self.node).then_some(node);
        self
    }

    /// The node acknowledged.
    pub fn ok(self) {
        self.finish(Completion::Ok(None));
    }

    /// A read that returned `items`.
    pub fn read(self, items: Vec<String>) {
        self.finish(Completion::Ok(Some(items)));
    }

    /// The operation definitely did not take effect.
    pub fn fail(self, error: impl Into<String>) {
        self.finish(Completion::Fail(error.into()));
    }

    /// The operation may or may not have taken effect.
    pub fn unknown(self, error: impl Into<String>) {
        self.finish(Completion::Unknown(error.into()));
    }

    fn finish(mut self, outcome: Completion) {
        self.done = true;
        let node = (std::mem::take(&mut self.node), self.served_by.take());
        let action = self.action.clone();
        self.history.complete(self.id, node, action, outcome);
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        if !self.done {
            let node = (std::mem::take(&mut self.node), self.served_by.take());
            let action = self.action.clone();
            let outcome = Completion::Unknown("timeout".into());
            self.history.complete(self.id, node, action, outcome);
        }
    }
}

/// Each invoke with its completion (the last one, if a file has several), in invoke order. A
/// completion with no invoke is left out.
fn pair(events: &[Event]) -> Vec<OpView<'_>> {
    let mut views: Vec<OpView<'_>> = Vec::with_capacity(events.len() / 2 + 1);
    // Operation ids are dense from 0 in a live history (index them by a plain vector), but
    // a file may skip some or start high: those go through a map.
    const NONE: usize = usize::MAX;
    let dense_below = 2 * events.len() + 16;
    let mut dense: Vec<usize> = Vec::with_capacity(events.len() / 2 + 1);
    let mut sparse = std::collections::HashMap::new();
    for event in events {
        let id = usize::try_from(event.id)
            .ok()
            .filter(|&id| id < dense_below);
        if event.phase == Phase::Invoke {
            let at = views.len();
            match id {
                Some(id) => {
                    if dense.len() <= id {
                        dense.resize(id + 1, NONE);
                    }
                    dense[id] = at;
                }
                None => {
                    sparse.insert(event.id, at);
                }
            }
            views.push(OpView {
                invoke: event,
                end: None,
            });
        } else {
            let at = match id {
                Some(id) => dense.get(id).copied().filter(|&at| at != NONE),
                None => sparse.get(&event.id).copied(),
            };
            if let Some(at) = at {
                views[at].end = Some(event);
            }
        }
    }
    views
}

/// An operation as its invoke and completion events, borrowed from a history's log (see
/// [`History::with_views`]); [`OpView::to_operation`] makes the owned [`Operation`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpView<'a> {
    pub(crate) invoke: &'a Event,
    pub(crate) end: Option<&'a Event>,
}

impl<'a> OpView<'a> {
    pub(crate) fn action(&self) -> &'a Action {
        &self.invoke.action
    }

    pub(crate) fn invoked(&self) -> Duration {
        Duration::from_micros(self.invoke.t_us)
    }

    /// When it ended, however it did.
    pub(crate) fn ended(&self) -> Option<Duration> {
        self.end.map(|e| Duration::from_micros(e.t_us))
    }

    pub(crate) fn phase(&self) -> Option<Phase> {
        self.end.map(|e| e.phase)
    }

    pub(crate) fn is_ok(&self) -> bool {
        self.phase() == Some(Phase::Ok)
    }

    pub(crate) fn acked_at(&self) -> Option<Duration> {
        self.end
            .filter(|e| e.phase == Phase::Ok)
            .map(|e| Duration::from_micros(e.t_us))
    }

    pub(crate) fn items_read(&self) -> Option<&'a [String]> {
        self.end
            .filter(|e| e.phase == Phase::Ok)
            .and_then(|e| e.items.as_deref())
    }

    /// The node that served it: the one it was sent to, unless a redirect took it elsewhere.
    pub(crate) fn server(&self) -> &'a str {
        self.end
            .and_then(|e| e.served_by.as_deref())
            .unwrap_or(&self.invoke.node)
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        self.ended().map(|at| at.saturating_sub(self.invoked()))
    }

    pub(crate) fn to_operation(self) -> Operation {
        let event = self.invoke;
        Operation {
            id: event.id,
            node: event.node.clone(),
            action: event.action.clone(),
            invoked: self.invoked(),
            served_by: self.end.and_then(|end| end.served_by.clone()),
            end: self.end.map(|end| End {
                at: Duration::from_micros(end.t_us),
                outcome: match end.phase {
                    Phase::Ok => Completion::Ok(end.items.clone()),
                    Phase::Fail => Completion::Fail(error_of(end)),
                    _ => Completion::Unknown(error_of(end)),
                },
            }),
        }
    }
}

/// An invoke paired with its completion: what checkers read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: u64,
    /// The node it was sent to.
    pub node: String,
    pub action: Action,
    /// When it was sent, since the run's start.
    pub invoked: Duration,
    /// When and how it ended; `None` if it never did (treat it as unknown).
    pub end: Option<End>,
    /// The node that served it, when a redirect took it from `node` to another one
    /// ([`Operation::server`] gives whichever served it).
    pub served_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub at: Duration,
    pub outcome: Completion,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Acknowledged; a read carries its items.
    Ok(Option<Vec<String>>),
    /// Definitely not applied, and why.
    Fail(String),
    /// Maybe applied, maybe not, and why we do not know.
    Unknown(String),
}

impl Operation {
    /// The node that served it: the one a redirect took it to, or the one it was sent to.
    pub fn server(&self) -> &str {
        self.served_by.as_deref().unwrap_or(&self.node)
    }

    /// True if the node acknowledged it.
    pub fn is_ok(&self) -> bool {
        matches!(
            self.end,
            Some(End {
                outcome: Completion::Ok(_),
                ..
            })
        )
    }

    /// When it was acknowledged, if it was.
    pub fn acked_at(&self) -> Option<Duration> {
        self.end.as_ref().filter(|_| self.is_ok()).map(|e| e.at)
    }

    /// What a successful read returned.
    pub fn items_read(&self) -> Option<&[String]> {
        match &self.end {
            Some(End {
                outcome: Completion::Ok(Some(items)),
                ..
            }) => Some(items),
            _ => None,
        }
    }

    /// How long the client waited, if the operation ended.
    pub fn latency(&self) -> Option<Duration> {
        self.end.as_ref().map(|e| e.at.saturating_sub(self.invoked))
    }
}

/// A history file that could not be read.
#[derive(Debug)]
pub enum HistoryError {
    Io {
        line: usize,
        source: io::Error,
    },
    Parse {
        line: usize,
        source: serde_json::Error,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::Io { line, source } => {
                write!(f, "cannot read history line {line}: {source}")
            }
            HistoryError::Parse { line, source } => {
                write!(f, "history line {line} is not a valid event: {source}")
            }
        }
    }
}

impl std::error::Error for HistoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HistoryError::Io { source, .. } => Some(source),
            HistoryError::Parse { source, .. } => Some(source),
        }
    }
}

/// What lets the load generator (its own crate, `harness-load`) finish an invocation with
/// an outcome ([`crate::load::Outcome::record`]).
impl crate::load::Finish for Invocation {
    fn ok(self) {
        Invocation::ok(self);
    }
    fn fail(self, kind: &str) {
        Invocation::fail(self, kind);
    }
    fn unknown(self, kind: &str) {
        Invocation::unknown(self, kind);
    }
}

/// What lets a [`crate::load::LoadReport`] be made of a history
/// ([`crate::load::LoadReport::from_history`]).
impl crate::load::OperationLog for History {
    fn each_operation(
        &self,
        f: &mut dyn FnMut(Duration, Option<(Duration, crate::load::Outcome)>),
    ) {
        use crate::load::Outcome;
        for op in self.operations() {
            let end = op.end.map(|end| {
                let outcome = match end.outcome {
                    Completion::Ok(_) => Outcome::Ok,
                    Completion::Fail(kind) => Outcome::fail(kind),
                    Completion::Unknown(kind) => Outcome::unknown(kind),
                };
                (end.at, outcome)
            });
            f(op.invoked, end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(key: &str, item: &str) -> Action {
        Action::Add {
            key: key.into(),
            item: item.into(),
        }
    }

    #[test]
    fn invocations_pair_with_their_completions_in_time_order() {
        let history = History::new();
        let a = history.invoke("n1", add("c1", "r1"));
        let b = history.invoke("n2", Action::Read { key: "c1".into() });
        b.read(vec!["r1".into()]);
        a.ok();
        let c = history.invoke("n1", add("c1", "r2"));
        c.fail("http_503");
        drop(history.invoke("n3", add("c1", "r3")));

        let events = history.events();
        assert_eq!(events.len(), 8);
        assert!(events.windows(2).all(|w| w[0].t_us <= w[1].t_us));

        let ops = history.operations();
        assert_eq!(ops.len(), 4);
        assert!(ops[0].is_ok());
        assert_eq!(ops[1].items_read(), Some(&["r1".to_string()][..]));
        assert_eq!(
            ops[2].end.as_ref().map(|e| &e.outcome),
            Some(&Completion::Fail("http_503".into()))
        );
        assert_eq!(
            ops[3].end.as_ref().map(|e| &e.outcome),
            Some(&Completion::Unknown("timeout".into())),
            "a dropped invocation is unknown, never fail"
        );
        assert_eq!(ops[3].node, "n3");
    }

    #[test]
    fn jsonl_round_trips_and_reads_like_the_docs_say() {
        let history = History::new();
        history.invoke("n1", add("c1", "r1")).ok();
        history
            .invoke("n1", Action::Read { key: "c1".into() })
            .read(vec!["r1".into()]);
        history
            .invoke(
                "n2",
                Action::Request {
                    name: "GET /".into(),
                },
            )
            .unknown("timeout");
        let mut buf = Vec::new();
        history.write_jsonl(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with(r#"{"id":0,"t_us":"#)
                && first
                    .ends_with(r#""type":"invoke","node":"n1","f":"add","key":"c1","item":"r1"}"#),
            "{first}"
        );
        assert!(
            text.contains(r#""f":"read","key":"c1","items":["r1"]"#),
            "{text}"
        );

        let back = History::read_jsonl(&buf[..]).unwrap();
        assert_eq!(back.events(), history.events());
        assert_eq!(back.operations(), history.operations());
    }

    #[test]
    fn the_serving_node_is_recorded_and_older_files_without_it_still_read() {
        let history = History::new();
        history.invoke("n3", add("c1", "r1")).served_by("n1").ok();
        history.invoke("n1", add("c1", "r2")).served_by("n1").ok();
        drop(history.invoke("n2", add("c1", "r3")).served_by("n1"));
        let ops = history.operations();
        assert_eq!(ops[0].served_by.as_deref(), Some("n1"));
        assert_eq!((ops[0].node.as_str(), ops[0].server()), ("n3", "n1"));
        assert_eq!(ops[1].served_by, None, "n1 served what was sent to n1");
        assert_eq!(ops[1].server(), "n1");
        assert_eq!(
            ops[2].served_by.as_deref(),
            Some("n1"),
            "a dropped invocation keeps it"
        );

        let mut buf = Vec::new();
        history.write_jsonl(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines[0].contains("served_by"), "an invoke: {}", lines[0]);
        assert!(
            lines[1].ends_with(r#""item":"r1","served_by":"n1"}"#),
            "{}",
            lines[1]
        );
        assert!(!lines[3].contains("served_by"), "{}", lines[3]);
        assert_eq!(History::read_jsonl(&buf[..]).unwrap().operations(), ops);

        // A file from before the field: every operation served by the node it was sent to.
        let old = "{\"id\":0,\"t_us\":1,\"type\":\"invoke\",\"node\":\"n2\",\"f\":\"add\",\"key\":\"c\",\"item\":\"r\"}\n\
                   {\"id\":0,\"t_us\":9,\"type\":\"ok\",\"node\":\"n2\",\"f\":\"add\",\"key\":\"c\",\"item\":\"r\"}\n";
        let ops = History::read_jsonl(old.as_bytes()).unwrap().operations();
        assert!(ops[0].is_ok());
        assert_eq!((ops[0].served_by.as_deref(), ops[0].server()), (None, "n2"));
    }

    #[test]
    fn a_bad_line_is_named() {
        let input = "{\"id\":0,\"t_us\":1,\"type\":\"invoke\",\"node\":\"n1\",\"f\":\"read\",\"key\":\"c\"}\n\nnot json\n";
        let err = History::read_jsonl(input.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("history line 3 "), "{err}");
    }

    #[test]
    fn a_history_gives_the_figures_of_a_run_no_load_drove() {
        use crate::load::{LoadReport, Mode};
        let history = History::new();
        let ask = || Action::Request {
            name: "GET /cluster".into(),
        };
        history.invoke("n1", ask()).ok();
        history.invoke("n2", ask()).fail("connect");
        history.invoke("n3", ask()).unknown("timeout");
        drop(history.invoke("n1", ask())); // never ended: unknown
        let report = LoadReport::from_history(&history, 3);
        assert_eq!(report.sent, 4);
        assert_eq!(report.ok, 1);
        assert_eq!(report.failed.get("connect"), Some(&1));
        assert_eq!(report.unknown.values().sum::<u64>(), 2);
        assert_eq!(report.windows.len(), 1);
        assert_eq!(report.windows[0].sent, 4);
        assert_eq!(report.mode, Mode::Closed { workers: 3 });
    }
}

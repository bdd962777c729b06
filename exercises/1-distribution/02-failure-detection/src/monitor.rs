//! The node's side of failure detection: links to every peer, ticks, and the cluster view.
//! Given, not part of the exercise; it calls the detectors you write.
//!
//! For each peer the node keeps one [`Link`] it dialed itself, and on it:
//! - every T/4 it sends a tick and asks the peer's [`TickDetector`] for a verdict;
//! - the peer answers every tick ([`answer_ticks`]); each answer is a sign of life for the
//!   tick detector and a heartbeat for the [`PhiDetector`];
//! - when the link closes (the peer died and its operating system closed the socket, or the
//!   connection was reset) the peer is down at once, without waiting for any tick; the node
//!   then redials with a short backoff until the peer answers again.
//!
//! Erlang keeps one connection per pair of nodes and both ends tick over it. Here each node
//! dials each peer, so a node's view of a peer rests on the connection it opened itself: the
//! harness's one-way faults on `a->b` then change exactly `a`'s view of `b`. The peer's
//! answer to a tick plays the role of its tick (Akka's heartbeat request and response).
//!
//! A peer's state is the tick detector's verdict (or down, while there is no link); phi is
//! reported next to it, so the two can be compared live. A production node would pick one
//! and act on it (exercise 08 promotes a backup on this verdict). Erlang also closes the
//! connection of a node it declares down, failing everything in flight on it; this monitor
//! keeps the link open, so a peer that was only hung comes back up by itself when it answers
//! again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use node_kit::sync::Mutex;
use node_kit::{Json, Link, NodeContext};
use serde::{Deserialize, Serialize};
use tokio::time::MissedTickBehavior;

use crate::phi::{PhiConfig, PhiDetector};
use crate::tick::{TickDetector, Verdict};

/// The first wait before redialing a peer; it doubles up to one tick interval.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The frame on a detection link: sent every T/4, answered as is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Tick {
    /// Numbers the ticks of one link, so a log line can say which answer came back.
    pub tick: u64,
}

/// What `GET /cluster` answers: this node's view of every peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    pub node: String,
    pub tick_time_ms: u64,
    pub peers: BTreeMap<String, PeerView>,
}

/// One peer as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// The verdict: the tick detector's, or down while there is no link.
    pub state: Verdict,
    /// Why, in words: "answering ticks", "silent for 4 ticks", "link closed", ...
    pub why: String,
    /// How long the peer has been in this state.
    pub for_ms: u64,
    /// Tick intervals in a row without a word from the peer.
    pub silent_ticks: u32,
    /// Time since anything last arrived from the peer; `None` if nothing ever did.
    pub last_heard_ms_ago: Option<u64>,
    /// The phi detector's suspicion level; `None` when it is off the scale (infinite).
    pub phi: Option<f64>,
    /// Phi at or above its threshold.
    pub suspected: bool,
}

/// Watches every peer of a node; clone it freely (the clones share one view).
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    /// T: a silent peer is down after about T (between 0.75 T and 1.25 T).
    tick_time: Duration,
    /// Every peer's detectors and state, shared by the peer tasks (which update them) and
    /// the view (which reads them). Held only for a few statements, never across an await.
    peers: Mutex<BTreeMap<String, Peer>>,
}

/// One peer's detectors and the state they led to.
struct Peer {
    /// The peer's id, for the log lines of its state changes.
    id: String,
    tick: TickDetector,
    phi: PhiDetector,
    state: Verdict,
    why: String,
    /// When `state` last changed: the "since when" of the view.
    since: Instant,
    last_heard: Option<Instant>,
}

impl Monitor {
    /// Starts watching every peer in `ctx`'s peer list with tick time `tick_time` (T). Must
    /// be called on a tokio runtime: it spawns one task per peer, which runs for the life of
    /// the process.
    pub fn start(ctx: &NodeContext, tick_time: Duration) -> Monitor {
        let now = Instant::now();
        let interval = tick_time / 4;
        let peers = ctx
            .peers
            .peers()
            .ids()
            .map(|id| {
                let peer = Peer {
                    id: id.to_string(),
                    tick: TickDetector::new(),
                    phi: PhiDetector::new(PhiConfig::for_interval(interval)),
                    state: Verdict::Down,
                    why: "not connected yet".into(),
                    since: now,
                    last_heard: None,
                };
                (id.to_string(), peer)
            })
            .collect();
        let monitor = Monitor {
            inner: Arc::new(Inner {
                node: ctx.config.id.clone(),
                tick_time,
                peers: Mutex::new(peers),
            }),
        };
        for peer in ctx.peers.iter() {
            tokio::spawn(monitor.clone().watch(peer));
        }
        monitor
    }

    /// T, the tick time.
    pub fn tick_time(&self) -> Duration {
        self.inner.tick_time
    }

    /// The current verdict on `peer`; `None` if it is not a peer.
    pub fn state(&self, peer: &str) -> Option<Verdict> {
        self.inner.peers.lock().get(peer).map(|p| p.state)
    }

    /// The peers that are up right now, in id order.
    pub fn up_peers(&self) -> Vec<String> {
        self.inner
            .peers
            .lock()
            .iter()
            .filter(|(_, p)| p.state == Verdict::Up)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// This node's view of every peer, as `GET /cluster` shows it.
    pub fn view(&self) -> ClusterView {
        let now = Instant::now();
        let peers = self
            .inner
            .peers
            .lock()
            .iter()
            .map(|(id, peer)| (id.clone(), peer.view(now)))
            .collect();
        ClusterView {
            node: self.inner.node.clone(),
            tick_time_ms: self.inner.tick_time.as_millis() as u64,
            peers,
        }
    }

    /// `GET /cluster`: the view as JSON.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/cluster", get(serve_view))
            .with_state(self.clone())
    }

    /// One peer's task: dial, tick until the link closes, back off, dial again.
    async fn watch(self, peer: node_kit::Peer) {
        let id = peer.id();
        let max_backoff = self.inner.tick_time / 4;
        let mut backoff = FIRST_BACKOFF;
        loop {
            // A paused peer accepts the connection but never answers the upgrade: bound it.
            let dialed = tokio::time::timeout(self.inner.tick_time, peer.dial());
            match dialed.await {
                Ok(Ok(link)) => {
                    backoff = FIRST_BACKOFF;
                    self.with_peer(id, |peer, now| peer.connected(now));
                    self.keep_ticking(id, link).await;
                    self.with_peer(id, |peer, now| peer.down("link closed", now));
                }
                Ok(Err(e)) => {
                    let why = format!("cannot connect: {e}");
                    self.with_peer(id, |peer, now| peer.down(&why, now));
                }
                Err(_) => self.with_peer(id, |peer, now| peer.down("connect timed out", now)),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(max_backoff);
        }
    }

    /// Ticks every T/4 and listens for answers, until the link closes.
    async fn keep_ticking(&self, id: &str, link: Link) {
        let (ticks, mut answers) = link.split();
        let mut ticker = tokio::time::interval(self.inner.tick_time / 4);
        // After this node was frozen itself, one late tick, not a burst of them: a burst
        // would count silent intervals this node slept through and call live peers down.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seq = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if ticks.send_json(&Tick { tick: seq }).is_err() {
                        return;
                    }
                    seq += 1;
                    self.with_peer(id, |peer, now| peer.tick(now));
                }
                answer = answers.recv() => match answer {
                    Some(_) => self.with_peer(id, |peer, now| peer.heard(now)),
                    None => return,
                },
            }
        }
    }

    fn with_peer(&self, id: &str, f: impl FnOnce(&mut Peer, Instant)) {
        if let Some(peer) = self.inner.peers.lock().get_mut(id) {
            f(peer, Instant::now());
        }
    }
}

impl Peer {
    /// A new link: fresh detectors (the connection itself counts as hearing from the peer).
    fn connected(&mut self, now: Instant) {
        self.tick = TickDetector::new();
        self.phi = PhiDetector::new(self.phi.config().clone());
        self.last_heard = Some(now);
    }

    fn heard(&mut self, now: Instant) {
        self.tick.heard();
        self.phi.heartbeat(now);
        self.last_heard = Some(now);
    }

    /// One tick interval has ended: the tick detector's verdict becomes the peer's state.
    fn tick(&mut self, now: Instant) {
        match self.tick.tick() {
            Verdict::Up => self.set(Verdict::Up, "answering ticks", now),
            Verdict::Down => {
                let why = format!("silent for {} ticks", self.tick.silent_ticks());
                self.set(Verdict::Down, &why, now);
            }
        }
    }

    /// No link: down, whatever the detectors say.
    fn down(&mut self, why: &str, now: Instant) {
        self.set(Verdict::Down, why, now);
    }

    fn set(&mut self, state: Verdict, why: &str, now: Instant) {
        if state != self.state {
            self.since = now;
            match state {
                Verdict::Up => tracing::info!(peer = %self.id, "peer is up: {why}"),
                Verdict::Down => tracing::warn!(peer = %self.id, "peer is down: {why}"),
            }
        }
        self.state = state;
        if self.why != why {
            self.why = why.to_string();
        }
    }

    fn view(&self, now: Instant) -> PeerView {
        let phi = self.phi.phi(now);
        PeerView {
            state: self.state,
            why: self.why.clone(),
            for_ms: now.saturating_duration_since(self.since).as_millis() as u64,
            silent_ticks: self.tick.silent_ticks(),
            last_heard_ms_ago: self
                .last_heard
                .map(|t| now.saturating_duration_since(t).as_millis() as u64),
            phi: phi.is_finite().then(|| (phi * 100.0).round() / 100.0),
            suspected: phi >= self.phi.config().threshold,
        }
    }
}

async fn serve_view(State(monitor): State<Monitor>) -> Json<ClusterView> {
    Json(monitor.view())
}

/// The peer's side of a detection link: answers every tick at once, until the link closes.
/// A node that is paused or overloaded answers late or not at all, which is the point.
pub async fn answer_ticks(link: Link) {
    let (answers, mut ticks) = link.split();
    while let Some(frame) = ticks.recv().await {
        if answers.send(frame).is_err() {
            return;
        }
    }
}

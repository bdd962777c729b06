//! A cluster of real node processes on loopback, wired through fault proxies.
//!
//! ```text
//!            client->n1        client->n2        client->n3      (tests and load dial these)
//!                |                 |                 |
//!               n1 ---- n1->n2 ---> n2 ---- n2->n3 --> n3         one proxy per ordered pair:
//!                 <---- n2->n1 ----    <--- n3->n2 ---            n1 reaches n2 only via n1->n2
//! ```
//!
//! Every node is given its peers as proxy addresses, so a restarted node on a new port is
//! still reachable at the same address, and every fault is a property of one proxy
//! ([`Proxy`]). Process faults (kill, pause, resume, restart, stop) act on the node's process
//! group. Node output goes to `<run dir>/<id>.log`; the run directory is removed after a
//! clean run and kept (and printed) after a failing one.
//!
//! Each node leads its own process group, holds a stdin pipe from the harness (end of file
//! means the harness is gone) and is registered with the [`crate::reaper`]. A node the
//! harness paused cannot read its stdin, so on Linux every node also gets SIGCONT when the
//! harness dies (a parent-death signal; see `spawn_node`): killed with SIGKILL, the harness
//! leaves no stopped node behind either. macOS has no parent-death signal: there a node
//! paused when the harness was SIGKILLed stays stopped until it gets SIGCONT or SIGKILL
//! (`pkill -CONT -f lab-runs` wakes it, and it then exits on its own). Dropping the
//! cluster kills every node; if the thread is panicking it first prints every node's state,
//! panic lines and log tail, so a failing test shows what the nodes were doing.
//!
//! Only one cluster runs at a time in a process: on 2 cores, two clusters' timing windows
//! would blur each other's results.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::deployment::NodeState;
use crate::proxy::Proxy;
use crate::reaper;

/// The path of this package's node binary, for a package's integration tests: the node binary
/// is named after its package, so one line serves every exercise and its solution.
#[macro_export]
macro_rules! node_bin {
    () => {
        env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME")))
    };
}

/// Lines of log shown in diagnostics.
const TAIL_LINES: usize = 20;

/// Serialises clusters within one process (see the module comment): a cluster holds the
/// turn from start to drop. A flag and a condition variable rather than a `MutexGuard`, so a
/// `Cluster` can move between threads.
struct Turn;

static TURN_TAKEN: Mutex<bool> = Mutex::new(false);
static TURN_FREED: std::sync::Condvar = std::sync::Condvar::new();

impl Turn {
    fn take() -> Turn {
        let mut taken = TURN_TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        while *taken {
            taken = TURN_FREED.wait(taken).unwrap_or_else(|e| e.into_inner());
        }
        *taken = true;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *TURN_TAKEN.lock().unwrap_or_else(|e| e.into_inner()) = false;
        TURN_FREED.notify_one();
    }
}

/// Something a cluster operation could not do, with what a person needs to see why.
#[derive(Debug)]
pub enum ClusterError {
    /// The request itself was wrong: an unknown id, a node named twice, zero nodes.
    BadRequest(String),
    /// A node exited (or was never ready) when it should be serving.
    Node {
        id: String,
        what: String,
        /// Panic lines found in its log: a `todo!()` shows up here.
        panic: Option<String>,
        log: PathBuf,
        tail: String,
    },
    Io(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::BadRequest(why) => write!(f, "{why}"),
            ClusterError::Io(why) => write!(f, "{why}"),
            ClusterError::Node {
                id,
                what,
                panic,
                log,
                tail,
            } => {
                writeln!(f, "node {id} {what}")?;
                if let Some(panic) = panic {
                    writeln!(f, "  panic: {panic}")?;
                }
                writeln!(f, "  last lines of {}:", log.display())?;
                for line in tail.lines() {
                    writeln!(f, "  | {line}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ClusterError {}

/// How to start a cluster; see [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    bin: PathBuf,
    nodes: usize,
    args: Vec<String>,
    env: Vec<(String, String)>,
    ready_timeout: Duration,
    seed: u64,
    log_filter: String,
    /// Nodes started only by [`Cluster::join`]: they have ids, proxies and a place in every
    /// peer list from the start, but no process until they join.
    held_back: Vec<String>,
}

impl ClusterBuilder {
    /// Number of nodes; ids are `n1`..`nN`.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }
    /// An argument for every node, after the kit's own flags and `--` (node-specific flags).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// An environment variable for every node.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// How long a node may take to print its ready line (default 15 s: a cold debug binary on
    /// a loaded 2-core machine).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }
    /// Seed for the proxies' random choices (loss, drop_response, jitter).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The nodes' tracing filter (default `info`).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = filter.into();
        self
    }

    /// `k` more nodes, held back: `nodes(3).standby(1)` has ids `n1`..`n4`, starts `n1`..`n3`
    /// and leaves `n4` to [`Cluster::join`]. Every node's peer list names every node, the
    /// standby ones too (through their proxies, which refuse connections until the node
    /// joins), so a node that joins needs no one to be told its address: what it joins is
    /// the nodes' own idea of membership (exercise 15's ring).
    pub fn standby(mut self, k: usize) -> Self {
        let first = self.nodes + 1;
        self.nodes += k;
        self.held_back
            .extend((first..first + k).map(|i| format!("n{i}")));
        self
    }

    /// Holds node `id` back at the start, for [`Cluster::join`] to start later (a scenario
    /// holds back every node its schedule joins).
    pub fn hold_back(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        if !self.held_back.contains(&id) {
            self.held_back.push(id);
        }
        self
    }

    /// Starts every node and waits until each has printed its ready line.
    pub fn start(self) -> Result<Cluster, ClusterError> {
        Cluster::start(self)
    }
}

/// What the harness knows about one node.
struct Node {
    id: String,
    log: PathBuf,
    process: Option<Running>,
    /// Why the node is not running, for diagnostics ("killed", "stopped").
    down_because: Option<String>,
}

struct Running {
    child: Child,
    /// Held so the node sees end of file when the harness goes away; never written.
    _stdin: ChildStdin,
    addr: SocketAddr,
    paused: bool,
}

impl Running {
    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }
}

/// A running cluster; see the module comment.
pub struct Cluster {
    spec: ClusterBuilder,
    ids: Vec<String>,
    nodes: node_kit::sync::Mutex<BTreeMap<String, Node>>,
    /// `(from, to)` -> the proxy `from` uses to reach `to`.
    links: BTreeMap<(String, String), Proxy>,
    /// `id` -> the proxy clients use to reach `id`.
    clients: BTreeMap<String, Proxy>,
    run_dir: PathBuf,
    cookie: String,
    /// The nodes that are not members now: held back at the start and not joined yet, or
    /// gone with [`Cluster::leave`].
    outside: node_kit::sync::Mutex<std::collections::BTreeSet<String>>,
    _turn: Turn,
}

impl Cluster {
    /// Starts describing a cluster of `bin` (3 nodes unless told otherwise).
    pub fn builder(bin: impl Into<PathBuf>) -> ClusterBuilder {
        ClusterBuilder {
            bin: bin.into(),
            nodes: 3,
            args: Vec::new(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(15),
            seed: 1,
            log_filter: "info".into(),
            held_back: Vec::new(),
        }
    }

    fn start(spec: ClusterBuilder) -> Result<Cluster, ClusterError> {
        if spec.nodes == 0 {
            return Err(ClusterError::BadRequest(
                "a cluster needs at least one node (nodes(0) was asked)".into(),
            ));
        }
        if !spec.bin.is_file() {
            return Err(ClusterError::BadRequest(format!(
                "node binary {} does not exist; build it first (cargo build)",
                spec.bin.display()
            )));
        }
        let all: Vec<String> = (1..=spec.nodes).map(|i| format!("n{i}")).collect();
        if let Some(unknown) = spec.held_back.iter().find(|id| !all.contains(id)) {
            return Err(ClusterError::BadRequest(format!(
                "cannot hold back {unknown}: nodes are {}",
                all.join(", ")
            )));
        }
        if spec.held_back.len() == spec.nodes {
            return Err(ClusterError::BadRequest(
                "every node is held back: a cluster needs one node to start with".into(),
            ));
        }
        let turn = Turn::take();
        let run_dir = new_run_dir()?;
        let ids = all;
        let io = |e: std::io::Error| ClusterError::Io(format!("cannot start a proxy: {e}"));

        let mut seed = spec.seed;
        let mut next_seed = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed
        };
        let mut links = BTreeMap::new();
        let mut clients = BTreeMap::new();
        for to in &ids {
            clients.insert(
                to.clone(),
                Proxy::start(&format!("client->{to}"), next_seed()).map_err(io)?,
            );
            for from in ids.iter().filter(|from| *from != to) {
                let proxy = Proxy::start(&format!("{from}->{to}"), next_seed()).map_err(io)?;
                links.insert((from.clone(), to.clone()), proxy);
            }
        }
        let nodes = ids
            .iter()
            .map(|id| {
                let node = Node {
                    id: id.clone(),
                    log: run_dir.join(format!("{id}.log")),
                    process: None,
                    down_because: Some(if spec.held_back.contains(id) {
                        "held back: not joined yet".into()
                    } else {
                        "not started".into()
                    }),
                };
                (id.clone(), node)
            })
            .collect();
        let cluster = Cluster {
            cookie: format!("lab-{:016x}", entropy()),
            outside: node_kit::sync::Mutex::new(spec.held_back.iter().cloned().collect()),
            spec,
            ids,
            nodes: node_kit::sync::Mutex::new(nodes),
            links,
            clients,
            run_dir,
            _turn: turn,
        };
        let mut pending = Vec::new();
        for id in cluster.members() {
            pending.push((id.clone(), cluster.spawn(&id)?));
        }
        for (id, offset) in pending {
            cluster.await_ready(&id, offset)?;
        }
        Ok(cluster)
    }

    /// The node ids, `n1`..`nN`.
    pub fn ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// The nodes that are members now: every id but those held back and not joined yet and
    /// those that left. A workload that should reach only live members sends to these.
    pub fn members(&self) -> Vec<String> {
        let outside = self.outside.lock();
        self.ids
            .iter()
            .filter(|id| !outside.contains(*id))
            .cloned()
            .collect()
    }

    /// Starts a node that is not a member (held back with [`ClusterBuilder::standby`] or
    /// [`ClusterBuilder::hold_back`], or gone with [`Cluster::leave`]) and waits for its ready
    /// line; from then on it is a member. Its peers reach it through the proxies they were
    /// given at the start. Joining the cluster's own idea of membership (a ring, a group) is
    /// the node's business: the harness only starts it.
    pub fn join(&self, id: &str) -> Result<(), ClusterError> {
        self.check_ids(&[id])?;
        if !self.outside.lock().contains(id) {
            return Err(ClusterError::BadRequest(format!(
                "{id} is a member already: join starts a node held back or one that left \
                 (restart starts a member that is down)"
            )));
        }
        let offset = self.spawn(id)?;
        self.await_ready(id, offset)?;
        self.outside.lock().remove(id);
        Ok(())
    }

    /// Node `id` leaves: a graceful stop (SIGTERM, then SIGKILL after 5 s), after which it is
    /// no member; [`Cluster::join`] brings it back. What the other nodes do about it (hand its
    /// data over, drop it from a ring) is theirs: the harness only stops it.
    pub fn leave(&self, id: &str) -> Result<(), ClusterError> {
        self.check_ids(&[id])?;
        if self.outside.lock().contains(id) {
            return Err(ClusterError::BadRequest(format!(
                "{id} is not a member: it was held back or has left already"
            )));
        }
        if self.is_running(id) {
            self.stop(id)?;
        }
        self.outside.lock().insert(id.to_string());
        let mut nodes = self.lock_nodes();
        if let Some(node) = nodes.get_mut(id) {
            node.down_because = Some("left the cluster".into());
        }
        Ok(())
    }

    /// Where clients reach node `id`: its client proxy, stable across restarts.
    ///
    /// # Panics
    /// If `id` is not a node of this cluster (a bug in the test, not a cluster fault);
    /// `try_client_link(id)?.addr()` returns the error instead.
    pub fn addr(&self, id: &str) -> SocketAddr {
        self.client_link(id).addr()
    }

    /// The node's own address, bypassing every proxy; `None` while it is down.
    pub fn direct_addr(&self, id: &str) -> Option<SocketAddr> {
        let nodes = self.lock_nodes();
        nodes
            .get(id)
            .and_then(|n| n.process.as_ref())
            .map(|r| r.addr)
    }

    /// The proxy `from` uses to reach `to`. Faults set on it are one-way: they affect the
    /// connections `from` opens to `to` (both byte directions), never those `to` opens to
    /// `from`.
    ///
    /// # Panics
    /// If either id is unknown or they are equal; [`Cluster::try_link`] returns the error.
    pub fn link(&self, from: &str, to: &str) -> &Proxy {
        self.try_link(from, to).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Cluster::link`], with an unknown id or a node linked to itself as an error.
    pub fn try_link(&self, from: &str, to: &str) -> Result<&Proxy, ClusterError> {
        self.check_ids(&[from, to])?;
        self.links
            .get(&(from.to_string(), to.to_string()))
            .ok_or_else(|| ClusterError::BadRequest(format!("no link from {from} to itself")))
    }

    /// The proxy clients use to reach `id`.
    ///
    /// # Panics
    /// If `id` is unknown; [`Cluster::try_client_link`] returns the error.
    pub fn client_link(&self, id: &str) -> &Proxy {
        self.try_client_link(id).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Cluster::client_link`], with an unknown id as an error.
    pub fn try_client_link(&self, id: &str) -> Result<&Proxy, ClusterError> {
        self.check_ids(&[id])?;
        Ok(&self.clients[id])
    }

    /// Every node-to-node link.
    pub fn links(&self) -> impl Iterator<Item = &Proxy> {
        self.links.values()
    }

    /// Cuts `a` and `b` apart in both directions.
    pub fn cut(&self, a: &str, b: &str) -> Result<(), ClusterError> {
        self.check_ids(&[a, b])?;
        if a == b {
            return Err(ClusterError::BadRequest(format!(
                "cannot cut {a} from itself"
            )));
        }
        self.link(a, b).cut();
        self.link(b, a).cut();
        Ok(())
    }

    /// Splits the cluster into groups that cannot reach each other (both directions); nodes
    /// inside a group still can. Every node must be in exactly one group. Clients still reach
    /// every node: this is a partition between nodes, the split-brain case.
    pub fn partition(&self, groups: &[&[&str]]) -> Result<(), ClusterError> {
        let mut group_of = BTreeMap::new();
        for (g, group) in groups.iter().enumerate() {
            for id in *group {
                self.check_ids(&[id])?;
                if group_of.insert(id.to_string(), g).is_some() {
                    return Err(ClusterError::BadRequest(format!(
                        "partition names {id} twice; each node belongs to one group"
                    )));
                }
            }
        }
        if let Some(missing) = self.ids.iter().find(|id| !group_of.contains_key(*id)) {
            return Err(ClusterError::BadRequest(format!(
                "partition leaves {missing} out; put every node in a group"
            )));
        }
        for ((from, to), proxy) in &self.links {
            if group_of[from] != group_of[to] {
                proxy.cut();
            }
        }
        Ok(())
    }

    /// Cuts `id` off from every other node, both ways.
    pub fn isolate(&self, id: &str) -> Result<(), ClusterError> {
        self.check_ids(&[id])?;
        for ((from, to), proxy) in &self.links {
            if from == id || to == id {
                proxy.cut();
            }
        }
        Ok(())
    }

    /// Ends every cut and blackhole between nodes.
    pub fn heal(&self) {
        for proxy in self.links.values() {
            proxy.heal();
        }
    }

    /// Clears every fault on every proxy, client proxies included.
    pub fn clear_faults(&self) {
        for proxy in self.links.values().chain(self.clients.values()) {
            proxy.clear();
        }
    }

    /// The cluster cookie every node was given (for dialing internal routes and links).
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// Where logs and data directories live.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Node `id`'s data directory (kept across restarts).
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.run_dir.join(id).join("data")
    }

    /// Node `id`'s log file (stdout and stderr).
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.run_dir.join(format!("{id}.log"))
    }

    /// SIGKILL: the node dies at once, its sockets close, nothing is flushed.
    pub fn kill(&self, id: &str) -> Result<(), ClusterError> {
        self.check_ids(&[id])?;
        let mut nodes = self.lock_nodes();
        let node = nodes.get_mut(id).expect("checked id");
        self.reap(node, libc::SIGKILL, "killed");
        Ok(())
    }

    /// SIGSTOP: the hung node. Its sockets stay open and connections succeed, but nothing
    /// is answered until [`Cluster::resume`].
    ///
    /// Returns once every thread of the node has stopped (on Linux, read from `/proc`). The
    /// kernel stops a multi-threaded process lazily: it wakes one thread to carry the stop,
    /// and until that thread gets a CPU, another one woken by a request can still answer it.
    /// On a busy machine that window lasts tens of milliseconds, long enough for a test's
    /// "the paused node must not answer" to see an answer.
    pub fn pause(&self, id: &str) -> Result<(), ClusterError> {
        self.signal_running(id, libc::SIGSTOP, true)?;
        if let Some(pid) = self.pid(id) {
            wait_stopped(pid, Duration::from_secs(5))
                .map_err(|why| ClusterError::Io(format!("{id} did not stop: {why}")))?;
        }
        Ok(())
    }

    /// SIGCONT after [`Cluster::pause`].
    pub fn resume(&self, id: &str) -> Result<(), ClusterError> {
        self.signal_running(id, libc::SIGCONT, false)
    }

    /// SIGTERM, then up to 5 s for a graceful exit before SIGKILL. Returns how it exited.
    pub fn stop(&self, id: &str) -> Result<ExitStatus, ClusterError> {
        self.check_ids(&[id])?;
        let mut nodes = self.lock_nodes();
        let node = nodes.get_mut(id).expect("checked id");
        let Some(running) = node.process.as_mut() else {
            return Err(ClusterError::BadRequest(format!("{id} is not running")));
        };
        let pgid = running.pgid();
        if running.paused {
            let _ = reaper::signal_group(pgid, libc::SIGCONT);
        }
        let _ = reaper::signal_group(pgid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match running.child.try_wait() {
                Ok(Some(status)) => break status,
                _ if Instant::now() >= deadline => {
                    let _ = reaper::signal_group(pgid, libc::SIGKILL);
                    break running
                        .child
                        .wait()
                        .map_err(|e| ClusterError::Io(e.to_string()))?;
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        // Anything the node spawned in its group goes too.
        let _ = reaper::signal_group(pgid, libc::SIGKILL);
        reaper::unregister(pgid);
        node.process = None;
        node.down_because = Some(format!("stopped ({status})"));
        self.set_upstream(id, None);
        Ok(status)
    }

    /// Starts `id` again with the same id, flags and data directory (killing it first if it
    /// is running) and waits for its ready line. Peers and clients reach it at the same proxy
    /// addresses; its own port is new.
    pub fn restart(&self, id: &str) -> Result<(), ClusterError> {
        self.check_ids(&[id])?;
        {
            let mut nodes = self.lock_nodes();
            let node = nodes.get_mut(id).expect("checked id");
            self.reap(node, libc::SIGKILL, "restarting");
        }
        let offset = self.spawn(id)?;
        self.await_ready(id, offset)
    }

    /// The operating system's process id of `id`, while it runs.
    pub fn pid(&self, id: &str) -> Option<u32> {
        let nodes = self.lock_nodes();
        nodes
            .get(id)
            .and_then(|n| n.process.as_ref())
            .map(|r| r.child.id())
    }

    /// Up, paused or down (killed, stopped, or exited by itself).
    pub fn state(&self, id: &str) -> NodeState {
        let mut nodes = self.lock_nodes();
        let Some(running) = nodes.get_mut(id).and_then(|n| n.process.as_mut()) else {
            return NodeState::Down;
        };
        match running.child.try_wait() {
            Ok(None) if running.paused => NodeState::Paused,
            Ok(None) => NodeState::Up,
            _ => NodeState::Down,
        }
    }

    /// Is `id` running (paused counts as running)?
    pub fn is_running(&self, id: &str) -> bool {
        let mut nodes = self.lock_nodes();
        match nodes.get_mut(id).and_then(|n| n.process.as_mut()) {
            Some(running) => matches!(running.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// A node that ended itself with a panic (the kit's panic rule exits with
    /// [`node_kit::crash::PANIC_EXIT`]), as `<id> panicked: <its panic line>`. A node the
    /// harness killed, or one that escalated, is not one.
    pub fn panicked(&self) -> Option<String> {
        let mut nodes = self.lock_nodes();
        for node in nodes.values_mut() {
            if let Some(running) = node.process.as_mut()
                && let Ok(Some(status)) = running.child.try_wait()
                && status.code() == Some(node_kit::crash::PANIC_EXIT)
            {
                let panic =
                    find_panic(&node.log).unwrap_or_else(|| "no panic line in its log".into());
                return Some(format!("{} panicked: {panic}", node.id));
            }
        }
        None
    }

    /// Fails if a node that should be running has exited, with its diagnostics.
    pub fn check_alive(&self) -> Result<(), ClusterError> {
        let mut nodes = self.lock_nodes();
        for node in nodes.values_mut() {
            if let Some(running) = node.process.as_mut()
                && let Ok(Some(status)) = running.child.try_wait()
            {
                return Err(node_error(
                    node,
                    &format!("exited unexpectedly ({})", describe(status)),
                ));
            }
        }
        Ok(())
    }

    /// Every node's state, panic lines and last log lines: what a failing test prints.
    pub fn diagnose(&self) -> String {
        let mut nodes = self.lock_nodes();
        let mut out = format!("cluster run directory: {}\n", self.run_dir.display());
        for node in nodes.values_mut() {
            let state = match node.process.as_mut() {
                Some(r) => match r.child.try_wait() {
                    Ok(Some(status)) => format!("EXITED {}", describe(status)),
                    _ if r.paused => format!("paused at {}", r.addr),
                    _ => format!("running at {}", r.addr),
                },
                None => node.down_because.clone().unwrap_or_else(|| "down".into()),
            };
            out.push_str(&format!("--- {} ({state})\n", node.id));
            if let Some(panic) = find_panic(&node.log) {
                out.push_str(&format!("  panic: {panic}\n"));
            }
            for line in tail(&node.log, TAIL_LINES).lines() {
                out.push_str(&format!("  | {line}\n"));
            }
        }
        out
    }

    fn check_ids(&self, ids: &[&str]) -> Result<(), ClusterError> {
        for id in ids {
            if !self.ids.iter().any(|known| known == id) {
                return Err(ClusterError::BadRequest(format!(
                    "no node {id:?} in this cluster; nodes are {}",
                    self.ids.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn lock_nodes(&self) -> MutexGuard<'_, BTreeMap<String, Node>> {
        self.nodes.lock()
    }

    fn signal_running(&self, id: &str, signal: i32, paused: bool) -> Result<(), ClusterError> {
        self.check_ids(&[id])?;
        let mut nodes = self.lock_nodes();
        let node = nodes.get_mut(id).expect("checked id");
        let Some(running) = node.process.as_mut() else {
            return Err(ClusterError::BadRequest(format!(
                "{id} is not running ({})",
                node.down_because.as_deref().unwrap_or("down")
            )));
        };
        reaper::signal_group(running.pgid(), signal)
            .map_err(|e| ClusterError::Io(format!("cannot signal {id}: {e}")))?;
        running.paused = paused;
        Ok(())
    }

    /// Kills a node's group (if running), reaps it and marks its proxies down.
    fn reap(&self, node: &mut Node, signal: i32, why: &str) {
        if let Some(mut running) = node.process.take() {
            let pgid = running.pgid();
            let _ = reaper::signal_group(pgid, signal);
            let _ = running.child.wait();
            reaper::unregister(pgid);
            node.down_because = Some(why.to_string());
            self.set_upstream(&node.id, None);
        }
    }

    /// Points every proxy that leads to `id` at its new address (or at nothing).
    fn set_upstream(&self, id: &str, addr: Option<SocketAddr>) {
        self.clients[id].set_upstream(addr);
        for ((_, to), proxy) in &self.links {
            if to == id {
                proxy.set_upstream(addr);
            }
        }
    }

    /// Starts node `id`'s process; returns the log offset its ready line will come after.
    fn spawn(&self, id: &str) -> Result<u64, ClusterError> {
        let peers: Vec<String> = self
            .ids
            .iter()
            .filter(|peer| *peer != id)
            .map(|peer| format!("{peer}={}", self.link(id, peer).addr()))
            .collect();
        let data_dir = self.data_dir(id);
        let log_path = self.log_path(id);
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| ClusterError::Io(format!("cannot create {}: {e}", data_dir.display())))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| ClusterError::Io(format!("cannot open {}: {e}", log_path.display())))?;
        let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| ClusterError::Io(e.to_string()))?;
        let mut command = Command::new(&self.spec.bin);
        command
            .arg("--id")
            .arg(id)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--peers")
            .arg(peers.join(","))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--log")
            .arg(&self.spec.log_filter);
        if !self.spec.args.is_empty() {
            command.arg("--").args(&self.spec.args);
        }
        command
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .env_remove("NODE_LOG")
            // By variable, not flag: a command line is visible to every user in `ps`.
            .env("NODE_COOKIE", &self.cookie)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let mut child = spawn_node(command).map_err(|e| {
            ClusterError::Io(format!("cannot start {}: {e}", self.spec.bin.display()))
        })?;
        reaper::register(child.id() as i32);
        let stdin = child.stdin.take().expect("stdin was piped");
        let mut nodes = self.lock_nodes();
        let node = nodes.get_mut(id).expect("checked id");
        node.process = Some(Running {
            child,
            _stdin: stdin,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            paused: false,
        });
        node.down_because = None;
        Ok(offset)
    }

    /// Waits for `id`'s ready line after `offset`, failing at once if the node exits. Its
    /// links are routed to it from its listening line on: its own start-up may already tell
    /// its peers about it (a node joining a ring), and they must reach it, as they would on
    /// a real network, where a listening node is reachable (stress run: n4 of exercise 15
    /// announced itself, and a peer's forward to it failed before its ready line).
    fn await_ready(&self, id: &str, offset: u64) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.spec.ready_timeout;
        let log_path = self.log_path(id);
        let mut routed = false;
        loop {
            if !routed && let Some(addr) = find_listening(&log_path, offset, id) {
                self.set_upstream(id, Some(addr));
                routed = true;
            }
            if let Some(addr) = find_ready(&log_path, offset, id) {
                let mut nodes = self.lock_nodes();
                if let Some(running) = nodes.get_mut(id).and_then(|n| n.process.as_mut()) {
                    running.addr = addr;
                }
                drop(nodes);
                self.set_upstream(id, Some(addr));
                return Ok(());
            }
            {
                let mut nodes = self.lock_nodes();
                let node = nodes.get_mut(id).expect("checked id");
                let exited = match node.process.as_mut() {
                    Some(r) => r.child.try_wait().ok().flatten(),
                    None => None,
                };
                if let Some(status) = exited {
                    let err = node_error(
                        node,
                        &format!("exited before it was ready ({})", describe(status)),
                    );
                    self.reap(node, libc::SIGKILL, "exited");
                    return Err(err);
                }
                if Instant::now() >= deadline {
                    let err = node_error(
                        node,
                        &format!("printed no ready line within {:?}", self.spec.ready_timeout),
                    );
                    self.reap(node, libc::SIGKILL, "not ready in time");
                    return Err(err);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!(
                "\n=== cluster state at the failure ===\n{}",
                self.diagnose()
            );
        }
        let mut nodes = self.lock_nodes();
        for node in nodes.values_mut() {
            self.reap(node, libc::SIGKILL, "cluster dropped");
        }
        drop(nodes);
        if panicking {
            eprintln!("logs kept in {}", self.run_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

fn node_error(node: &Node, what: &str) -> ClusterError {
    ClusterError::Node {
        id: node.id.clone(),
        what: what.to_string(),
        panic: find_panic(&node.log),
        log: node.log.clone(),
        tail: tail(&node.log, TAIL_LINES),
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// `<tmp>/lab-runs/<time>-<pid>-<n>`; `LAB_RUNS_DIR` overrides the parent.
fn new_run_dir() -> Result<PathBuf, ClusterError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let parent = std::env::var_os("LAB_RUNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lab-runs"));
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let dir = parent.join(format!(
        "{millis}-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| {
        ClusterError::Io(format!(
            "cannot create run directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// Starts a node from the harness's spawner thread, with SIGCONT as its parent-death signal.
///
/// Linux sends the parent-death signal when the *thread* that forked the child ends, not the
/// process, so every node is forked by one thread that lives as long as the harness (a test
/// thread or a runtime's blocking thread may end while its cluster lives on). SIGCONT does
/// nothing to a running node and wakes a paused one, which then finds its stdin closed and
/// exits by itself, as every other node does when the harness is gone. If the harness died
/// before the signal was set, the node's stdin is closed from its start: it exits all the same.
fn spawn_node(mut command: Command) -> std::io::Result<Child> {
    use std::sync::OnceLock;
    use std::sync::mpsc;
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches only the forked child itself.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGCONT as libc::c_ulong,
                0,
                0,
                0,
            );
            Ok(())
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lab-node-spawner".into())
            .spawn(move || {
                for (mut command, reply) in queue {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("the node spawner thread starts");
        jobs
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the node spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the node spawner thread is gone"))?
}

/// Some entropy for the cookie; it needs to be unguessable-ish, not reproducible.
fn entropy() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(SystemTime::now())
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

fn find_ready(log: &Path, offset: u64, id: &str) -> Option<SocketAddr> {
    find_line(log, offset, id, node_kit::config::parse_ready_line)
}

fn find_listening(log: &Path, offset: u64, id: &str) -> Option<SocketAddr> {
    find_line(log, offset, id, node_kit::config::parse_listening_line)
}

fn find_line(
    log: &Path,
    offset: u64,
    id: &str,
    parse: fn(&str) -> Option<(String, SocketAddr)>,
) -> Option<SocketAddr> {
    read_from(log, offset)
        .lines()
        .filter_map(parse)
        .find(|(line_id, _)| line_id == id)
        .map(|(_, addr)| addr)
}

/// Waits until every thread of process `pid` is stopped (state `T` or `t` in
/// `/proc/<pid>/task/*/stat`). Without `/proc` (macOS) it returns at once: there the caller
/// gets the kernel's best effort.
fn wait_stopped(pid: u32, limit: Duration) -> Result<(), String> {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    if !tasks.is_dir() {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    loop {
        let running: Vec<String> = std::fs::read_dir(&tasks)
            .map_err(|e| format!("cannot read {}: {e}", tasks.display()))?
            .flatten()
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                // `pid (comm) S ...`: the state follows the last parenthesis.
                let state = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .next()?
                    .to_string();
                (!matches!(state.as_str(), "T" | "t" | "Z" | "X")).then_some(state)
            })
            .collect();
        if running.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} thread(s) still not stopped after {limit:?} (states {running:?})",
                running.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The last `n` lines of a log.
pub fn tail(log: &Path, n: usize) -> String {
    let len = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let text = read_from(log, len.saturating_sub(64 * 1024));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first panic in a log: the `panicked at` line and the message line after it.
pub fn find_panic(log: &Path) -> Option<String> {
    let text = read_from(log, 0);
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.contains("panicked at") {
            let message = lines.next().unwrap_or("").trim();
            return Some(format!("{} {message}", line.trim()));
        }
    }
    None
}

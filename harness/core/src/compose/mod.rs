//! The docker-compose cluster: the harness's fault vocabulary on real containers.
//!
//! [`ComposeCluster`] drives the cluster that the top-level `docker-compose.yml` describes
//! (nodes `n1`..`n3` of the image `scripts/build-image.sh` builds) through the docker CLI, with
//! the same verbs as [`crate::Cluster`], so a scenario runs against either target and only the
//! way a fault is applied differs.
//!
//! Which fault becomes which docker command, and which faults containers cannot make (and
//! why, said before a run starts), is the fault vocabulary's: [`crate::fault::containers`].
//! Here are the verbs themselves, and [`ComposeCluster::perform`] for one planned step; the
//! docker CLI runner (every command with a time budget) is in `docker`, what `docker inspect`
//! says about a container in `inspect`.
//!
//! Two differences a scenario author should know:
//! - An isolated container loses its published port too (Docker removes the forwarding with
//!   the network), so clients cannot reach it either. Locally, clients still reach an isolated
//!   node; a scenario whose point is a minority that keeps taking writes needs `--target local`.
//! - Heal must give the container its alias back: a container reconnected without
//!   `--alias <service>` is reachable by container name only, and its peers, which know it by
//!   service name, keep seeing it down.
//!
//! Containers are always found by their compose labels (`com.docker.compose.project` and
//! `com.docker.compose.service`), never by container name: docker-compose 1.29 names them
//! `lab_n1_1` and `docker compose` v2 `lab-n1-1`. Either tool works (`LAB_COMPOSE` picks one).
//!
//! ```no_run
//! # fn main() -> Result<(), harness::ClusterError> {
//! use harness::compose::ComposeCluster;
//! use harness::fault::{Fault, Hit, containers};
//! let cluster = ComposeCluster::builder("docker-compose.yml").project("lab").start()?;
//! cluster.kill("n2")?;
//! cluster.restart("n2")?;
//! cluster.isolate("n3")?;
//! cluster.heal()?;
//! // What a scenario runner does before it starts the clock: plan, or refuse with the reason.
//! let steps = containers::plan(&Fault::Kill, &Hit::Nodes(vec!["n1".into()]), &cluster.ids());
//! assert!(steps.is_ok());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node_kit::sync::Mutex;

use crate::ClusterError;
use crate::cluster::{find_panic, tail};

mod docker;
mod inspect;

use crate::deployment::NodeState;
use crate::fault::containers::Step;
use docker::{COMPOSE_TIMEOUT, compose_command, docker, run};
use inspect::{Container, describe, published_addr};

/// Lines of log shown in diagnostics, as for local clusters.
const TAIL_LINES: usize = 20;
const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";
const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";

/// How to reach a compose cluster; see [`ComposeCluster::builder`].
#[derive(Debug, Clone)]
pub struct ComposeBuilder {
    file: PathBuf,
    /// Compose's project name: the prefix of every container, network and volume, and the
    /// label this module finds them by.
    project: String,
    /// For compose's variable substitution (`LAB_NODE`, `LAB_N1_PORT`, ...).
    env: Vec<(String, String)>,
    /// The node's own flags (a scenario's `[cluster] args`), for every node: they reach the
    /// containers as `LAB_NODE_ARGS`, which docker-compose.yml makes the node's command.
    node_args: Vec<String>,
    healthy_timeout: Duration,
}

impl ComposeBuilder {
    /// The compose project (default `lab`): lowercase letters, digits, `-` and `_`.
    pub fn project(mut self, name: impl Into<String>) -> Self {
        self.project = name.into();
        self
    }
    /// Which node binary of the image runs (`LAB_NODE`; the compose file's default is
    /// `test-node`).
    pub fn node(self, bin: impl Into<String>) -> Self {
        self.env("LAB_NODE", bin)
    }
    /// The node's own flags for every node, as a local cluster passes them after `--`
    /// (`["--w", "2"]`). They become `LAB_NODE_ARGS` when the cluster starts (see
    /// [`node_command`]); without any, the nodes run with none, whatever `LAB_NODE_ARGS` the
    /// calling shell has. An attached cluster keeps the flags it was started with.
    pub fn node_args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.node_args.extend(args.into_iter().map(Into::into));
        self
    }
    /// A variable for the compose file (`LAB_IMAGE`, `LAB_N1_PORT`, ...).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// How long every node may take to report healthy (default 60 s).
    pub fn healthy_timeout(mut self, timeout: Duration) -> Self {
        self.healthy_timeout = timeout;
        self
    }

    /// Brings the cluster up from nothing (`down -v`, then `up -d`) and waits until every
    /// node is healthy. Dropping the cluster takes everything down again: containers,
    /// network and volumes.
    pub fn start(self) -> Result<ComposeCluster, ClusterError> {
        ComposeCluster::start(self)
    }

    /// Uses a cluster that is already up (an instructor's). Dropping it heals isolated nodes
    /// and resumes paused ones, and leaves the cluster running.
    pub fn attach(self) -> Result<ComposeCluster, ClusterError> {
        ComposeCluster::attach(self)
    }
}

/// A compose cluster under the harness's control; see the module comment.
pub struct ComposeCluster {
    spec: ComposeBuilder,
    /// `docker-compose` or `docker compose`.
    compose: Vec<String>,
    /// Service names, which are the node ids, in natural order (`n2` before `n10`).
    ids: Vec<String>,
    /// The Docker network the nodes share: what isolate disconnects from.
    network: String,
    /// Where clients reach each node: its port published on the host.
    addrs: BTreeMap<String, SocketAddr>,
    cookie: String,
    /// Nodes the harness took down on purpose, and how: `check_alive` ignores them.
    down: Mutex<BTreeMap<String, String>>,
    /// Started by us: dropping takes the cluster down. Attached: dropping only heals.
    owned: bool,
    run_dir: PathBuf,
}

impl ComposeCluster {
    /// Starts describing the cluster of `compose_file` (usually the repository's top-level
    /// `docker-compose.yml`).
    pub fn builder(compose_file: impl Into<PathBuf>) -> ComposeBuilder {
        ComposeBuilder {
            file: compose_file.into(),
            project: "lab".into(),
            env: Vec::new(),
            node_args: Vec::new(),
            healthy_timeout: Duration::from_secs(60),
        }
    }

    fn start(mut spec: ComposeBuilder) -> Result<ComposeCluster, ClusterError> {
        let command = node_command(&spec.node_args).map_err(ClusterError::BadRequest)?;
        spec = spec.env("LAB_NODE_ARGS", command);
        let compose = prepare(&spec)?;
        // The cluster value exists before anything is created, so every failure below still
        // takes down whatever `up` made: its drop does.
        let mut cluster = ComposeCluster::empty(spec, compose, true)?;
        // From nothing, always: compose 1.29 cannot recreate containers on a current engine.
        cluster.compose(&["down", "-v", "--remove-orphans", "-t", "2"])?;
        cluster.check_images()?;
        cluster.compose(&["up", "-d"])?;
        cluster.discover()?;
        cluster.check_commands()?;
        cluster.wait_healthy(&cluster.ids.clone(), cluster.spec.healthy_timeout)?;
        Ok(cluster)
    }

    fn attach(spec: ComposeBuilder) -> Result<ComposeCluster, ClusterError> {
        if !spec.node_args.is_empty() {
            return Err(ClusterError::BadRequest(format!(
                "node flags ({}) apply when the harness starts the cluster; an attached one runs \
                 the command it was started with (start it again with LAB_NODE_ARGS set)",
                spec.node_args.join(" ")
            )));
        }
        let compose = prepare(&spec)?;
        let mut cluster = ComposeCluster::empty(spec, compose, false)?;
        cluster.discover()?;
        Ok(cluster)
    }

    fn empty(
        spec: ComposeBuilder,
        compose: Vec<String>,
        owned: bool,
    ) -> Result<ComposeCluster, ClusterError> {
        let run_dir = new_run_dir(&spec.project)?;
        Ok(ComposeCluster {
            spec,
            compose,
            ids: Vec::new(),
            network: String::new(),
            addrs: BTreeMap::new(),
            cookie: String::new(),
            down: Mutex::new(BTreeMap::new()),
            owned,
            run_dir,
        })
    }

    /// Finds the project's services, their network, published ports and cookie.
    fn discover(&mut self) -> Result<(), ClusterError> {
        let project = &self.spec.project;
        let listed = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label={PROJECT_LABEL}={project}"),
            "--filter",
            &format!("label={ONEOFF_LABEL}=False"),
            "--format",
            &format!("{{{{.Label \"{SERVICE_LABEL}\"}}}}"),
        ])?;
        let mut ids: Vec<String> = listed.lines().map(|l| l.trim().to_string()).collect();
        ids.retain(|id| !id.is_empty());
        ids.sort_by_key(|id| natural_key(id));
        ids.dedup();
        if ids.is_empty() {
            return Err(ClusterError::BadRequest(format!(
                "compose project {project:?} has no containers; bring it up first: \
                 docker-compose -p {project} up -d"
            )));
        }
        self.ids = ids;
        let mut networks = std::collections::BTreeSet::new();
        for id in self.ids.clone() {
            let c = self.inspect(&id)?;
            self.addrs.insert(id.clone(), published_addr(&c, &id)?);
            networks.extend(c.network_settings.networks.unwrap_or_default().into_keys());
            if let Some(cookie) = c
                .config
                .env
                .iter()
                .flatten()
                .find_map(|kv| kv.strip_prefix("NODE_COOKIE=").map(str::to_string))
            {
                self.cookie = cookie;
            }
        }
        // An attached cluster may have a node isolated right now; the others name the network.
        self.network = match networks.len() {
            1 => networks.into_iter().next().expect("one network"),
            0 => {
                return Err(ClusterError::BadRequest(format!(
                    "no node of project {project:?} is on a network; reconnect one first: \
                     docker network connect --alias <service> <network> <container>"
                )));
            }
            _ => {
                return Err(ClusterError::BadRequest(format!(
                    "the nodes of project {project:?} are on several networks ({}); isolate \
                     needs them on exactly one",
                    networks.into_iter().collect::<Vec<_>>().join(", ")
                )));
            }
        };
        Ok(())
    }

    /// Fails unless every container got the node flags this cluster was built with: a compose
    /// file without `command: ${LAB_NODE_ARGS:-}` would run the nodes with their defaults and
    /// the scenario would test another configuration without a word.
    fn check_commands(&self) -> Result<(), ClusterError> {
        for id in &self.ids {
            let c = self.inspect(id)?;
            check_command(id, c.config.cmd.as_deref(), &self.spec.node_args)
                .map_err(ClusterError::BadRequest)?;
        }
        Ok(())
    }

    /// The node ids: the compose services (`n1`, `n2`, `n3`).
    pub fn ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// Where clients reach node `id`: its port published on 127.0.0.1, stable across kill,
    /// restart and isolation (while isolated, nothing answers there).
    ///
    /// # Panics
    /// If `id` is not a node of this cluster (a bug in the test, not a cluster fault).
    pub fn addr(&self, id: &str) -> SocketAddr {
        *self
            .addrs
            .get(id)
            .unwrap_or_else(|| panic!("no node {id:?}: nodes are {:?}", self.ids))
    }

    /// The cluster cookie the nodes were given (`NODE_COOKIE`), for internal routes.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// The compose project name.
    pub fn project(&self) -> &str {
        &self.spec.project
    }

    /// The Docker network the nodes share.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// Where [`ComposeCluster::save_logs`] writes `<id>.log`.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Node `id`'s log file, once saved.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.run_dir.join(format!("{id}.log"))
    }

    /// The id of the container that runs service `id`, looked up by label.
    pub fn container(&self, id: &str) -> Result<String, ClusterError> {
        self.check_ids(&[id])?;
        let found = docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label={PROJECT_LABEL}={}", self.spec.project),
            "--filter",
            &format!("label={SERVICE_LABEL}={id}"),
            "--filter",
            &format!("label={ONEOFF_LABEL}=False"),
        ])?;
        let ids: Vec<&str> = found.split_whitespace().collect();
        match ids.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(ClusterError::BadRequest(format!(
                "no container runs {id} in project {}; was it removed (docker-compose down)?",
                self.spec.project
            ))),
            _ => Err(ClusterError::BadRequest(format!(
                "{} containers run {id} in project {}; the harness needs one per node (no \
                 --scale)",
                ids.len(),
                self.spec.project
            ))),
        }
    }

    /// SIGKILL: the container dies at once. Like a local kill, killing a node that is already
    /// down does nothing.
    pub fn kill(&self, id: &str) -> Result<(), ClusterError> {
        let c = self.inspect(id)?;
        if c.state.running {
            docker(&["kill", &c.id])?;
        }
        self.mark_down(id, "killed");
        Ok(())
    }

    /// `docker pause`: every process of the container frozen. Connections still open (the
    /// kernel answers them) but nothing is served until [`ComposeCluster::resume`].
    pub fn pause(&self, id: &str) -> Result<(), ClusterError> {
        let c = self.running(id)?;
        if !c.state.paused {
            docker(&["pause", &c.id])?;
        }
        Ok(())
    }

    /// `docker unpause` after [`ComposeCluster::pause`].
    pub fn resume(&self, id: &str) -> Result<(), ClusterError> {
        let c = self.running(id)?;
        if c.state.paused {
            docker(&["unpause", &c.id])?;
        }
        Ok(())
    }

    /// SIGTERM, then up to 5 s for a graceful exit before SIGKILL. Returns the exit code.
    pub fn stop(&self, id: &str) -> Result<i64, ClusterError> {
        let c = self.running(id)?;
        if c.state.paused {
            docker(&["unpause", &c.id])?;
        }
        docker(&["stop", "-t", "5", &c.id])?;
        let code = self.inspect(id)?.state.exit_code;
        self.mark_down(id, &format!("stopped (exit code {code})"));
        Ok(code)
    }

    /// Starts `id` again, killing it first if it runs: the same container, so the same id,
    /// environment and data volume. Waits until it is healthy. A node isolated before stays
    /// isolated, as a local restart keeps its links' faults.
    pub fn restart(&self, id: &str) -> Result<(), ClusterError> {
        let c = self.inspect(id)?;
        if c.state.paused {
            docker(&["unpause", &c.id])?;
        }
        if c.state.running {
            docker(&["kill", &c.id])?;
        }
        docker(&["start", &c.id])?;
        self.lock_down().remove(id);
        self.wait_healthy(&[id.to_string()], self.spec.healthy_timeout)
    }

    /// Cuts `id` off from every other node by disconnecting it from the network. Its
    /// published port goes with it: clients cannot reach it either (see the module comment).
    pub fn isolate(&self, id: &str) -> Result<(), ClusterError> {
        let c = self.inspect(id)?;
        if self.is_connected(&c) {
            docker(&["network", "disconnect", &self.network, &c.id])?;
        }
        Ok(())
    }

    /// Only one node against the rest (see [`refusal`]): isolates that node.
    pub fn partition(&self, groups: &[&[&str]]) -> Result<(), ClusterError> {
        let groups: Vec<Vec<String>> = groups
            .iter()
            .map(|g| g.iter().map(|id| id.to_string()).collect())
            .collect();
        let lonely = crate::fault::containers::lonely_node(&groups, &self.ids)
            .map_err(|why| ClusterError::BadRequest(format!("partition: {why}")))?;
        self.isolate(lonely)
    }

    /// Reconnects every node that is off the network, with its service name as alias again:
    /// without the alias its peers could not resolve it (see the module comment).
    pub fn heal(&self) -> Result<(), ClusterError> {
        for id in &self.ids {
            let c = self.inspect(id)?;
            if !self.is_connected(&c) {
                docker(&["network", "connect", "--alias", id, &self.network, &c.id])?;
            }
        }
        Ok(())
    }

    /// Performs one docker step (see [`crate::fault::containers::plan`], which turns a fault
    /// into steps or says why containers cannot do it).
    pub fn perform(&self, step: &Step) -> Result<(), ClusterError> {
        match step {
            Step::Kill(id) => self.kill(id),
            Step::Pause(id) => self.pause(id),
            Step::Resume(id) => self.resume(id),
            Step::Restart(id) => self.restart(id),
            Step::Stop(id) => self.stop(id).map(|_| ()),
            Step::Isolate(id) => self.isolate(id),
            Step::Heal => self.heal(),
        }
    }

    /// Up, paused or down, as for a local cluster.
    pub fn state(&self, id: &str) -> NodeState {
        match self.inspect(id) {
            Ok(c) if c.state.running && c.state.paused => NodeState::Paused,
            Ok(c) if c.state.running => NodeState::Up,
            _ => NodeState::Down,
        }
    }

    /// Is `id`'s container running (paused counts as running)?
    pub fn is_running(&self, id: &str) -> bool {
        self.inspect(id).is_ok_and(|c| c.state.running)
    }

    /// Fails if a node that should be running has exited, with its diagnostics.
    pub fn check_alive(&self) -> Result<(), ClusterError> {
        let down = self.lock_down().clone();
        for id in self.ids.iter().filter(|id| !down.contains_key(*id)) {
            let c = self.inspect(id)?;
            if !c.state.running {
                return Err(self.node_error(
                    id,
                    &format!(
                        "exited unexpectedly ({}, exit code {})",
                        c.state.status, c.state.exit_code
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every node's state, panic line and last log lines: what a failing test prints.
    pub fn diagnose(&self) -> String {
        let mut out = format!(
            "compose project {} (logs in {})\n",
            self.spec.project,
            self.run_dir.display()
        );
        for id in &self.ids {
            let state = match self.inspect(id) {
                Ok(c) => describe(&c, self.is_connected(&c)),
                Err(e) => format!("unknown: {e}"),
            };
            out.push_str(&format!("--- {id} ({state})\n"));
            let log = self.save_log(id);
            if let Some(panic) = find_panic(&log) {
                out.push_str(&format!("  panic: {panic}\n"));
            }
            for line in tail(&log, TAIL_LINES).lines() {
                out.push_str(&format!("  | {line}\n"));
            }
        }
        out
    }

    /// Writes every node's container log (stdout and stderr) to `<run dir>/<id>.log`, for a
    /// report; returns the paths.
    pub fn save_logs(&self) -> Vec<PathBuf> {
        self.ids.iter().map(|id| self.save_log(id)).collect()
    }

    fn save_log(&self, id: &str) -> PathBuf {
        let path = self.log_path(id);
        let written = (|| {
            let cid = self.container(id).ok()?;
            let out = File::create(&path).ok()?;
            let err = out.try_clone().ok()?;
            Command::new("docker")
                .args(["logs", &cid])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .status()
                .ok()
        })();
        if written.is_none() {
            let _ = std::fs::write(&path, format!("(no log: no container for {id})\n"));
        }
        path
    }

    /// Waits until every node of `ids` reports healthy, failing at once if one exits.
    fn wait_healthy(&self, ids: &[String], timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        let mut waiting: Vec<String> = ids.to_vec();
        loop {
            let mut still = Vec::new();
            for id in waiting {
                let c = self.inspect(&id)?;
                match (c.state.status.as_str(), c.health()) {
                    ("running", "healthy" | "none") => {}
                    ("running" | "created" | "restarting", _) => still.push(id),
                    (status, _) => {
                        return Err(self.node_error(
                            &id,
                            &format!(
                                "exited before it was healthy ({status}, exit code {})",
                                c.state.exit_code
                            ),
                        ));
                    }
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let id = &still[0];
                let health = self.inspect(id).map(|c| c.health().to_string());
                return Err(self.node_error(
                    id,
                    &format!(
                        "was not healthy within {timeout:?} (health: {}); its healthcheck runs \
                         `<node> healthcheck 127.0.0.1:4000` inside the container",
                        health.unwrap_or_else(|e| e.to_string())
                    ),
                ));
            }
            waiting = still;
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn node_error(&self, id: &str, what: &str) -> ClusterError {
        let log = self.save_log(id);
        ClusterError::Node {
            id: id.to_string(),
            what: what.to_string(),
            panic: find_panic(&log),
            tail: tail(&log, TAIL_LINES),
            log,
        }
    }

    fn inspect(&self, id: &str) -> Result<Container, ClusterError> {
        let cid = self.container(id)?;
        let json = docker(&["inspect", &cid])?;
        let mut all: Vec<Container> = serde_json::from_str(&json).map_err(|e| {
            ClusterError::Io(format!(
                "docker inspect of {id} gave JSON this harness cannot read: {e}"
            ))
        })?;
        all.pop()
            .ok_or_else(|| ClusterError::Io(format!("docker inspect of {id} gave nothing")))
    }

    fn running(&self, id: &str) -> Result<Container, ClusterError> {
        let c = self.inspect(id)?;
        if c.state.running {
            Ok(c)
        } else {
            let why = self.lock_down().get(id).cloned();
            Err(ClusterError::BadRequest(format!(
                "{id} is not running ({})",
                why.unwrap_or(c.state.status)
            )))
        }
    }

    fn is_connected(&self, c: &Container) -> bool {
        c.network_settings
            .networks
            .as_ref()
            .is_some_and(|n| n.contains_key(&self.network))
    }

    fn check_ids(&self, ids: &[&str]) -> Result<(), ClusterError> {
        for id in ids {
            if !self.ids.iter().any(|known| known == id) {
                return Err(ClusterError::BadRequest(format!(
                    "no node {id:?} in compose project {}; nodes are {}",
                    self.spec.project,
                    self.ids.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn mark_down(&self, id: &str, why: &str) {
        self.lock_down().insert(id.to_string(), why.to_string());
    }

    fn lock_down(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.down.lock()
    }

    /// Fails if an image the compose file names is not on this machine: `up` would try to
    /// pull it, and on a workshop network that ends in a registry error nobody can act on.
    fn check_images(&self) -> Result<(), ClusterError> {
        let config = self.compose(&["config"])?;
        let mut images: Vec<&str> = config
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image:"))
            .map(|i| i.trim().trim_matches(['"', '\'']))
            .collect();
        images.dedup();
        for image in images {
            if docker(&["image", "inspect", "--format", "{{.Id}}", image]).is_err() {
                return Err(ClusterError::BadRequest(format!(
                    "image {image} is not on this machine; build it with scripts/build-image.sh \
                     (nothing is pulled)"
                )));
            }
        }
        Ok(())
    }

    /// Runs a compose subcommand on this project.
    fn compose(&self, args: &[&str]) -> Result<String, ClusterError> {
        let mut all = vec![
            "-f".to_string(),
            self.spec.file.display().to_string(),
            "-p".to_string(),
            self.spec.project.clone(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run(&self.compose, &all, &self.spec.env, COMPOSE_TIMEOUT)
    }

    /// `down -v --remove-orphans`, then anything still labelled with the project (a container
    /// left by an interrupted run, say): nothing of the run may outlive it.
    fn tear_down(&self) -> Result<(), ClusterError> {
        let down = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"]);
        let label = format!("label={PROJECT_LABEL}={}", self.spec.project);
        for (list, remove) in [
            (vec!["ps", "-aq", "--filter", &label], vec!["rm", "-f"]),
            (
                vec!["network", "ls", "-q", "--filter", &label],
                vec!["network", "rm"],
            ),
            (
                vec!["volume", "ls", "-q", "--filter", &label],
                vec!["volume", "rm", "-f"],
            ),
        ] {
            let left = docker(&list)?;
            let left: Vec<&str> = left.split_whitespace().collect();
            if !left.is_empty() {
                docker(&[remove, left].concat())?;
            }
        }
        down.map(drop)
    }
}

impl Drop for ComposeCluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking && !self.ids.is_empty() {
            eprintln!(
                "\n=== compose cluster state at the failure ===\n{}",
                self.diagnose()
            );
        }
        if self.owned {
            if let Err(e) = self.tear_down() {
                eprintln!(
                    "harness: could not take compose project {} down: {e}; run: \
                     docker-compose -p {} down -v --remove-orphans",
                    self.spec.project, self.spec.project
                );
            }
        } else if !self.ids.is_empty() {
            // Leave an instructor's cluster as we found it, apart from nodes killed on purpose.
            let _ = self.heal();
            for id in &self.ids {
                let _ = self.resume(id);
            }
        }
        if panicking {
            eprintln!("logs kept in {}", self.run_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// Checks what can be checked before touching Docker, and finds the compose command.
fn prepare(spec: &ComposeBuilder) -> Result<Vec<String>, ClusterError> {
    check_project(&spec.project)?;
    if !spec.file.is_file() {
        return Err(ClusterError::BadRequest(format!(
            "compose file {} does not exist; the repository's is docker-compose.yml at its top",
            spec.file.display()
        )));
    }
    docker(&["version", "--format", "{{.Server.Version}}"]).map_err(|e| {
        ClusterError::Io(format!(
            "the Docker engine does not answer ({e}); start it, or join the docker group"
        ))
    })?;
    compose_command()
}

/// What `LAB_NODE_ARGS` holds for a node given `args`: the command line after the node
/// binary, as a local cluster builds it (`-- --w 2`, nothing when there are no flags).
/// Compose splits the value the way a POSIX shell splits words, so a flag with spaces or
/// shell characters is single-quoted; one with a single quote or a control character is
/// refused, since docker-compose 1.29 and v2 do not agree on escaping those.
pub fn node_command(args: &[String]) -> Result<String, String> {
    if args.is_empty() {
        return Ok(String::new());
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_=.,:/@+%".contains(c);
    let mut words = vec!["--".to_string()];
    for arg in args {
        if arg.contains('\'') || arg.chars().any(char::is_control) {
            return Err(format!(
                "node flag {arg:?} cannot reach the containers: compose splits LAB_NODE_ARGS \
                 into words and has no agreed escape for quotes or control characters; \
                 drop them or run with --target local"
            ));
        }
        if !arg.is_empty() && arg.chars().all(plain) {
            words.push(arg.clone());
        } else {
            words.push(format!("'{arg}'"));
        }
    }
    Ok(words.join(" "))
}

/// Whether a container's command (`docker inspect`'s `Config.Cmd`) is the node flags `args`,
/// as [`node_command`] gives them: `--` and the flags, or nothing.
fn check_command(id: &str, cmd: Option<&[String]>, args: &[String]) -> Result<(), String> {
    let cmd = cmd.unwrap_or_default();
    let ok = match cmd.split_first() {
        None => args.is_empty(),
        Some((dashes, flags)) => dashes == "--" && flags == args,
    };
    if ok {
        return Ok(());
    }
    let wanted = node_command(args).unwrap_or_default();
    Err(format!(
        "{id} runs with the command {cmd:?}, not the node flags it was given ({wanted:?}); the \
         compose file must pass LAB_NODE_ARGS on: `command: ${{LAB_NODE_ARGS:-}}` in x-node, as \
         the repository's docker-compose.yml does"
    ))
}

/// Compose's own rule for project names, checked here so the labels we filter on match.
fn check_project(name: &str) -> Result<(), ClusterError> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::BadRequest(format!(
            "{name:?} is not a compose project name (lowercase letters, digits, '-' and '_', \
             starting with a letter or digit)"
        )))
    }
}

/// `<LAB_RUNS_DIR or tmp/lab-runs>/compose-<project>-<time>-<pid>`, like a local cluster's.
fn new_run_dir(project: &str) -> Result<PathBuf, ClusterError> {
    let parent = std::env::var_os("LAB_RUNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lab-runs"));
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let dir = parent.join(format!("compose-{project}-{millis}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        ClusterError::Io(format!(
            "cannot create run directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// `n2` before `n10`: the text before the trailing digits, then their value.
fn natural_key(id: &str) -> (String, u64) {
    let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (head, number) = id.split_at(id.len() - digits);
    (head.to_string(), number.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_naturally() {
        let mut ids = vec!["n10", "n2", "n1", "front"];
        ids.sort_by_key(|id| natural_key(id));
        assert_eq!(ids, ["front", "n1", "n2", "n10"]);
    }

    #[test]
    fn node_flags_become_the_command_compose_gives_every_node() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // As a local cluster passes them: after `--`, nothing at all without flags.
        assert_eq!(node_command(&[]), Ok(String::new()));
        assert_eq!(
            node_command(&args(&["--w", "2", "--tick-time-ms", "2000"])),
            Ok("-- --w 2 --tick-time-ms 2000".into())
        );
        // Compose splits words like a shell: spaces, shell characters and empty flags quoted.
        assert_eq!(
            node_command(&args(&["--name", "two words", "$HOME", ""])),
            Ok("-- --name 'two words' '$HOME' ''".into())
        );
        for bad in ["it's", "a\nb"] {
            let err = node_command(&args(&["--x", bad])).unwrap_err();
            assert!(err.contains("--target local"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_container_that_did_not_get_its_flags_is_caught() {
        let words = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let flags = words(&["--w", "2"]);
        let given = words(&["--", "--w", "2"]);
        assert_eq!(check_command("n1", Some(&given), &flags), Ok(()));
        assert_eq!(check_command("n1", None, &[]), Ok(()));
        assert_eq!(check_command("n1", Some(&[]), &[]), Ok(()));
        // A compose file without `command:` (the nodes run their defaults), another W, flags
        // nobody asked for: each named, with what to fix.
        for (cmd, args) in [
            (None, &flags),
            (Some(words(&["--", "--w", "1"])), &flags),
            (Some(given.clone()), &Vec::new()),
            (Some(words(&["--w", "2"])), &flags),
        ] {
            let err = check_command("n2", cmd.as_deref(), args).unwrap_err();
            assert!(
                err.starts_with("n2 runs with") && err.contains("LAB_NODE_ARGS"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_compose_file_runs_the_node_flags_it_is_given() {
        // The other half of the plumbing: docker-compose.yml must turn LAB_NODE_ARGS into
        // every node's command, or a scenario's flags would silently not reach the nodes.
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker-compose.yml");
        let text = std::fs::read_to_string(&file).expect("the repository's docker-compose.yml");
        let node = text
            .split("\nx-env:")
            .next()
            .and_then(|t| t.split("\nx-node: &node\n").nth(1))
            .expect("docker-compose.yml defines x-node: &node before x-env:");
        assert!(
            node.lines()
                .any(|l| l.trim() == "command: ${LAB_NODE_ARGS:-}"),
            "x-node in {} has no `command: ${{LAB_NODE_ARGS:-}}`:\n{node}",
            file.display()
        );
        let services = text.matches("<<: *node").count();
        assert_eq!(services, 3, "every node service merges x-node");
    }

    #[test]
    fn project_names_follow_compose() {
        assert!(check_project("lab").is_ok());
        assert!(check_project("lab-e2e_42").is_ok());
        for bad in ["", "Lab", "-lab", "lab e2e", "lab.e2e"] {
            assert!(check_project(bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! How a node is configured: flags, or the environment variables of the same name.
//!
//! | flag          | variable        | default          | meaning                                   |
//! |---------------|-----------------|------------------|-------------------------------------------|
//! | `--id`        | `NODE_ID`       | `n1`             | this node's name in the cluster           |
//! | `--listen`    | `NODE_LISTEN`   | `127.0.0.1:0`    | address to bind; port 0 lets the OS pick  |
//! | `--peers`     | `NODE_PEERS`    | none             | `id=host:port` pairs, comma separated     |
//! | `--data-dir`  | `NODE_DATA_DIR` | none             | where a node keeps what must survive      |
//! | `--cookie`    | `NODE_COOKIE`   | a dev cookie     | shared secret for node-to-node routes     |
//! | `--log`       | `NODE_LOG`      | `info`           | tracing filter, e.g. `debug,hyper=warn`   |
//! | `--read-timeout-ms` | `NODE_READ_TIMEOUT_MS` | `10000` | longest wait for a client's request head (or idle between requests) and for its body |
//!
//! Give the cookie by its variable: a command line is visible to every user in `ps`, and
//! `--help` never prints the variable's value. The development cookie is refused off
//! loopback: a node listening on another address must be given its own.
//!
//! A node's own flags come after `--`: `node --id n1 -- --tick-time-ms 1000`. The node
//! declares them as a struct deriving `clap::Args` and gets them from [`crate::run_with`];
//! one parser reads both sets, `--help` lists both, and a mistake in either is one line on
//! stderr and exit code 2 ([`Invocation::parse`]).
//!
//! `<binary> healthcheck <host:port>` exits 0 when the node there answers `GET /health`
//! with 200, 1 otherwise: a scratch container has neither shell nor curl.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// The cookie used when none is given. Fine on loopback; a cluster on a real network must set
/// its own, exactly as Erlang distribution wants a private `~/.erlang.cookie`.
pub const DEV_COOKIE: &str = "lab-dev-cookie";

#[derive(Debug, Parser)]
#[command(about = "A node of the scalability and reliability lab", version)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: NodeConfig,
    /// The node's own flags, after `--`.
    #[arg(last = true, value_name = "NODE FLAGS")]
    pub node_args: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 when the node at ADDR answers GET /health with 200, 1 otherwise.
    Healthcheck {
        /// host:port of the node to check.
        addr: String,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct NodeConfig {
    /// This node's id; unique in the cluster.
    #[arg(long, env = "NODE_ID", default_value = "n1", value_parser = parse_id)]
    pub id: String,
    /// Address to listen on. Port 0 lets the OS choose; the ready line says which it got.
    #[arg(long, env = "NODE_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Peers as `id=host:port`, comma separated.
    #[arg(long, env = "NODE_PEERS", default_value = "", value_parser = parse_peers)]
    pub peers: Peers,
    /// Directory for state that must survive a restart.
    #[arg(long, env = "NODE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Shared secret that node-to-node routes require; give it by the variable (a flag shows
    /// in `ps`).
    #[arg(
        long,
        env = "NODE_COOKIE",
        default_value = DEV_COOKIE,
        hide_default_value = true,
        hide_env_values = true
    )]
    pub cookie: String,
    /// What the log on stderr shows: a level (`info`), or `target=level` pairs after it
    /// (`warn,node_kit=debug`).
    #[arg(long, env = "NODE_LOG", default_value = "info")]
    pub log: String,
    /// How long a client may take to send a request's head (or sit idle between requests)
    /// and, separately, its body, in milliseconds.
    #[arg(long, env = "NODE_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub read_timeout_ms: u64,
}

impl NodeConfig {
    /// Checks what a single flag's parser cannot see: a peer that has this node's own id.
    pub fn validate(&self) -> Result<(), String> {
        if self.peers.0.contains_key(&self.id) {
            return Err(format!(
                "--peers names this node's own id {:?}; list the other nodes only",
                self.id
            ));
        }
        if self.cookie.is_empty() {
            return Err("--cookie must not be empty".into());
        }
        if self.cookie == DEV_COOKIE && !is_loopback(&self.listen) {
            return Err(format!(
                "listening on {} with the development cookie: give this cluster its own \
                 in NODE_COOKIE",
                self.listen
            ));
        }
        Ok(())
    }

    /// [`Self::read_timeout_ms`] as a duration.
    pub fn read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.read_timeout_ms)
    }

    /// Parses `args` (with the program name first) for a node without flags of its own; the
    /// error is the one line a node would print.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        match Invocation::<NoFlags>::try_parse_from(args) {
            Ok(Invocation::Serve { config, .. }) => Ok(config),
            Ok(Invocation::Healthcheck { .. }) => Err("that is the healthcheck command".into()),
            Err(e) => Err(one_line(&e)),
        }
    }
}

/// The flags of a node that has none of its own: anything after `--` is refused.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct NoFlags {}

/// What a node's command line asks for, with the node's own flags `F` parsed.
#[derive(Debug)]
pub enum Invocation<F> {
    /// Run the node.
    Serve { config: NodeConfig, flags: F },
    /// `healthcheck <addr>`: probe another node and exit.
    Healthcheck { addr: String },
}

impl<F: Args> Invocation<F> {
    /// Parses the process's arguments. `--help` and `--version` print and exit 0; a bad
    /// argument prints one line (`error: ... (see --help)`) and returns exit code 2.
    pub fn parse() -> Result<Self, ExitCode> {
        match Self::try_parse_from(std::env::args_os()) {
            Ok(invocation) => Ok(invocation),
            Err(e) if !e.use_stderr() => e.exit(),
            Err(e) => {
                eprintln!("error: {} (see --help)", one_line(&e));
                Err(ExitCode::from(2))
            }
        }
    }

    /// Parses `args` (program name first): the kit's flags, then `F` from what follows `--`,
    /// then the checks that span flags ([`NodeConfig::validate`]).
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Cli::command()
            .after_help(node_flags_help::<F>())
            .try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        if let Some(Command::Healthcheck { addr }) = cli.command {
            return Ok(Invocation::Healthcheck { addr });
        }
        let mut node = node_flags::<F>();
        let flags = node
            .try_get_matches_from_mut(&cli.node_args)
            .and_then(|m| F::from_arg_matches(&m))
            .map_err(|e| {
                let known = node_flag_names(&node);
                let known = if known.is_empty() {
                    "this node takes no flags after --".to_string()
                } else {
                    format!("this node's flags after -- are {known}")
                };
                clap::Error::raw(e.kind(), format!("{}; {known}", one_line(&e)))
            })?;
        cli.config
            .validate()
            .map_err(|why| clap::Error::raw(ErrorKind::ValueValidation, why))?;
        Ok(Invocation::Serve {
            config: cli.config,
            flags,
        })
    }
}

/// The command that parses a node's own flags (no program name: they follow `--`).
fn node_flags<F: Args>() -> clap::Command {
    F::augment_args(
        clap::Command::new("node flags")
            .no_binary_name(true)
            .next_help_heading("Node flags, after --"),
    )
}

/// `--a, --b`: the long names of a node's own flags, for an error line.
fn node_flag_names(node: &clap::Command) -> String {
    let names: Vec<String> = node
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|long| *long != "help")
        .map(|long| format!("--{long}"))
        .collect();
    names.join(", ")
}

/// The section `--help` ends with: the node's own flags, or nothing when it has none.
fn node_flags_help<F: Args>() -> String {
    let mut node = node_flags::<F>()
        .disable_help_flag(true)
        .help_template("{all-args}");
    if node.get_arguments().next().is_none() {
        return String::new();
    }
    node.render_help().to_string()
}

/// The first line of a clap error without its `error: ` prefix: the operator sees exactly
/// what to fix, not a usage block.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("bad arguments");
    line.trim_start_matches("error: ").to_string()
}

/// The other nodes of the cluster, by id, in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers(BTreeMap<String, String>);

impl Peers {
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
    /// `(id, host:port)` of every peer, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(id, addr)| (id.as_str(), addr.as_str()))
    }
    /// The `host:port` of a peer.
    pub fn addr(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|(id, a)| format!("{id}={a}")).collect();
        f.write_str(&pairs.join(","))
    }
}

/// A node id: letters, digits, `-` and `_`, at most 64 characters.
pub fn parse_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a node id (use 1 to 64 letters, digits, '-' or '_')"
        ))
    }
}

/// True when `listen` (`host:port`) is a loopback address, which only this machine reaches.
fn is_loopback(listen: &str) -> bool {
    match listen.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => listen
            .rsplit_once(':')
            .is_some_and(|(h, _)| h == "localhost"),
    }
}

/// True for a host a peer address may name: an IPv4 address, an IPv6 one in brackets
/// (`[::1]`), or a DNS name (letters, digits, `-`, `_` in dot-separated labels; `_` because
/// container service names use it).
fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Parses `a=127.0.0.1:4001,b=node-b:4000`. Host names are kept as written (a container's
/// peers are service names that resolve later) but must be well formed; the port must be a
/// number.
pub fn parse_peers(s: &str) -> Result<Peers, String> {
    let mut peers = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = pair
            .split_once('=')
            .ok_or_else(|| format!("peer {pair:?} is not id=host:port"))?;
        let id = parse_id(id.trim())?;
        let addr = addr.trim();
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("peer {id}: address {addr:?} has no :port"))?;
        if port.parse::<u16>().is_err() {
            return Err(format!("peer {id}: address {addr:?} is not host:port"));
        }
        if !is_host(host) {
            return Err(format!(
                "peer {id}: {host:?} is not a host name or IP address (an IPv6 address goes \
                 in brackets: [::1]:4000)"
            ));
        }
        if peers.insert(id.clone(), addr.to_string()).is_some() {
            return Err(format!("peer id {id:?} appears twice in the peer list"));
        }
    }
    Ok(Peers(peers))
}

/// The ready line a node prints on stdout once it serves, e.g.
/// `READY id=n1 addr=127.0.0.1:40123`. The harness and scripts wait for it.
pub fn ready_line(id: &str, addr: SocketAddr) -> String {
    format!("READY id={id} addr={addr}")
}

/// Reads a ready line back: `Some((id, addr))` if `line` is one.
pub fn parse_ready_line(line: &str) -> Option<(String, SocketAddr)> {
    parse_addr_line("READY ", line)
}

/// Waits for a node's ready line on its `stdout` (a child's piped stdout, say) for at most
/// `within`, and returns the address the node serves on. A thread reads the lines, and goes
/// on reading (and dropping) what the node prints afterwards until it closes its stdout, so
/// the node never blocks on a full pipe or fails on a closed one. The error names what the
/// node printed instead: it closed its stdout first (it exited), or it stayed silent.
///
/// ```
/// let stdout = std::io::Cursor::new("LISTENING id=n1 addr=127.0.0.1:4000\nREADY id=n1 addr=127.0.0.1:4000\n");
/// let within = std::time::Duration::from_secs(5);
/// let addr = node_kit::config::await_ready_line(stdout, within).unwrap();
/// assert_eq!(addr.port(), 4000);
/// ```
pub fn await_ready_line(
    stdout: impl std::io::Read + Send + 'static,
    within: std::time::Duration,
) -> Result<SocketAddr, String> {
    use std::io::BufRead;
    use std::sync::mpsc::RecvTimeoutError;
    let (lines, from_node) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("ready-line".into())
        .spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // After the ready line nobody listens: the rest is read and dropped.
                let _ = lines.send(line);
            }
        })
        .map_err(|e| format!("cannot start a thread to read the node's stdout: {e}"))?;
    let deadline = std::time::Instant::now() + within;
    let mut printed = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match from_node.recv_timeout(left) {
            Ok(line) => match parse_ready_line(&line) {
                Some((_, addr)) => return Ok(addr),
                None => printed.push(line),
            },
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "the node closed its stdout before its ready line; it printed {printed:?}"
                ));
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no ready line from the node within {within:?}; it printed {printed:?}"
                ));
            }
        }
    }
}

/// The line a node prints on stdout as soon as it listens, before its own start-up (which
/// may already talk to its peers: a node joining a ring announces itself), e.g.
/// `LISTENING id=n1 addr=127.0.0.1:40123`. From then on connections to it wait in the
/// listen queue until it serves, so the harness routes its links to it at once: a peer that
/// hears of the node before its ready line can already reach it, as on a real network.
pub fn listening_line(id: &str, addr: SocketAddr) -> String {
    format!("LISTENING id={id} addr={addr}")
}

/// Reads a listening line back: `Some((id, addr))` if `line` is one.
pub fn parse_listening_line(line: &str) -> Option<(String, SocketAddr)> {
    parse_addr_line("LISTENING ", line)
}

fn parse_addr_line(prefix: &str, line: &str) -> Option<(String, SocketAddr)> {
    let rest = line.trim().strip_prefix(prefix)?;
    let mut id = None;
    let mut addr = None;
    for field in rest.split_whitespace() {
        match field.split_once('=')? {
            ("id", v) => id = Some(v.to_string()),
            ("addr", v) => addr = v.parse().ok(),
            _ => {}
        }
    }
    Some((id?, addr?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_exits_or_stays_silent_before_its_ready_line_is_an_error_naming_what_it_printed()
    {
        use std::io::Write;
        use std::time::{Duration, Instant};
        let within = Duration::from_millis(300);

        let ready = "LISTENING id=n1 addr=127.0.0.1:4000\nREADY id=n1 addr=127.0.0.1:4001\n";
        let addr = await_ready_line(std::io::Cursor::new(ready), within);
        assert_eq!(
            addr,
            Ok("127.0.0.1:4001".parse().unwrap()),
            "the ready line, not the first line"
        );

        let exited = await_ready_line(std::io::Cursor::new("boom: bad flag\n"), within);
        let why = exited.expect_err("stdout closed with no ready line");
        assert!(
            why.contains("closed its stdout") && why.contains("boom: bad flag"),
            "an exit before the ready line names what the node printed: {why}"
        );

        // A node that prints and then hangs: its pipe stays open and nothing more comes.
        let (reader, mut writer) = std::io::pipe().unwrap();
        writeln!(writer, "starting").unwrap();
        let began = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(await_ready_line(reader, within)));
        let why = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("await_ready_line gives up on a silent node instead of waiting forever")
            .expect_err("no ready line ever comes");
        let waited = began.elapsed();
        assert!(
            why.contains("no ready line") && why.contains("starting"),
            "a silent node is named with what it printed: {why}"
        );
        assert!(
            waited >= within && waited < within + Duration::from_secs(5),
            "gave up after {waited:?}, want about {within:?}"
        );
        drop(writer);
    }

    #[test]
    fn peers_parse_and_print_back() {
        let p = parse_peers("n2=127.0.0.1:4002, n3=node-c:4000").unwrap();
        assert_eq!(p.addr("n2"), Some("127.0.0.1:4002"));
        assert_eq!(p.addr("n3"), Some("node-c:4000"));
        assert_eq!(p.to_string(), "n2=127.0.0.1:4002,n3=node-c:4000");
        let p = parse_peers("a=[::1]:4000,b=node_b.lab:1,c=10.0.0.7:4000").unwrap();
        assert_eq!(p.addr("a"), Some("[::1]:4000"));
        assert!(parse_peers("").unwrap().is_empty());
    }

    #[test]
    fn bad_peer_lists_say_what_is_wrong() {
        for (input, says) in [
            ("n2", "not id=host:port"),
            ("n2=localhost", "no :port"),
            ("n2=localhost:http", "not host:port"),
            ("n2=a:1,n2=b:2", "appears twice"),
            ("n 2=a:1", "not a node id"),
            ("n2=a b:1", "not a host name"),
            ("n2=:1", "not a host name"),
            ("n2=::1:4000", "in brackets"),
            ("n2=a..b:1", "not a host name"),
        ] {
            let err = parse_peers(input).unwrap_err();
            assert!(
                err.contains(says),
                "{input:?} gave {err:?}, expected {says:?}"
            );
        }
    }

    #[test]
    fn the_development_cookie_is_refused_off_loopback() {
        let ok = NodeConfig::try_parse_from(["node", "--listen", "127.0.0.1:4000"]);
        assert!(ok.is_ok(), "{ok:?}");
        let err = NodeConfig::try_parse_from(["node", "--listen", "0.0.0.0:4000"]).unwrap_err();
        assert!(
            err.contains("development cookie") && err.contains("NODE_COOKIE"),
            "{err}"
        );
        let own = ["node", "--listen", "0.0.0.0:4000", "--cookie", "s3cret"];
        assert!(NodeConfig::try_parse_from(own).is_ok());
    }

    #[test]
    fn own_id_among_peers_is_rejected() {
        let err =
            NodeConfig::try_parse_from(["node", "--id", "n1", "--peers", "n1=a:1"]).unwrap_err();
        assert!(err.contains("own id"), "{err}");
    }

    /// A node's own flags, as a node declares them.
    #[derive(Debug, clap::Args)]
    struct Flags {
        /// How long a tick is.
        #[arg(long, default_value_t = 2000)]
        tick_ms: u64,
        #[arg(long)]
        loud: bool,
    }

    fn parse(args: &[&str]) -> Result<Invocation<Flags>, String> {
        Invocation::<Flags>::try_parse_from(std::iter::once("node").chain(args.iter().copied()))
            .map_err(|e| one_line(&e))
    }

    #[test]
    fn node_flags_follow_the_kits_after_a_double_dash() {
        let Ok(Invocation::Serve { config, flags }) =
            parse(&["--id", "n2", "--", "--tick-ms", "500", "--loud"])
        else {
            panic!("expected a node to serve");
        };
        assert_eq!(config.id, "n2");
        assert_eq!((flags.tick_ms, flags.loud), (500, true));
        let Ok(Invocation::Serve { flags, .. }) = parse(&[]) else {
            panic!("expected a node to serve");
        };
        assert_eq!((flags.tick_ms, flags.loud), (2000, false));
    }

    #[test]
    fn a_bad_node_flag_is_one_line_that_names_the_flags() {
        let err = parse(&["--", "--tick-ms", "soon"]).unwrap_err();
        assert!(
            err.contains("soon") && err.contains("--tick-ms, --loud"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err:?}");
        let err = parse(&["--", "--nope"]).unwrap_err();
        assert!(
            err.contains("--nope") && err.contains("--tick-ms, --loud"),
            "{err}"
        );
        let err = NodeConfig::try_parse_from(["node", "--", "--nope"]).unwrap_err();
        assert!(err.contains("takes no flags after --"), "{err}");
    }

    #[test]
    fn help_lists_the_node_flags() {
        let help = Invocation::<Flags>::try_parse_from(["node", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("--peers"), "{help}");
        assert!(
            help.contains("Node flags, after --") && help.contains("--tick-ms"),
            "{help}"
        );
        assert!(help.contains("How long a tick is"), "{help}");
    }

    #[test]
    fn healthcheck_is_a_command() {
        let Ok(Invocation::Healthcheck { addr }) = parse(&["healthcheck", "127.0.0.1:1"]) else {
            panic!("expected the healthcheck command");
        };
        assert_eq!(addr, "127.0.0.1:1");
    }

    #[test]
    fn ready_line_round_trips() {
        let addr: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        let line = ready_line("n7", addr);
        assert_eq!(parse_ready_line(&line), Some(("n7".into(), addr)));
        assert_eq!(parse_ready_line("2024 INFO READY id=x"), None);
        let early = listening_line("n7", addr);
        assert_eq!(parse_listening_line(&early), Some(("n7".into(), addr)));
        assert_eq!(parse_ready_line(&early), None, "listening is not ready");
        assert_eq!(parse_listening_line(&line), None);
    }
}

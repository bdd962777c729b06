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
//!
//! Extra arguments after `--` are left for the node's own use ([`NodeConfig::extra`]).
//! `<binary> healthcheck <host:port>` exits 0 when the node there answers `GET /health`
//! with 200, 1 otherwise: a scratch container has neither shell nor curl.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Shared secret that node-to-node routes require.
    #[arg(long, env = "NODE_COOKIE", default_value = DEV_COOKIE, hide_default_value = true)]
    pub cookie: String,
    /// Tracing filter for the log on stderr.
    #[arg(long, env = "NODE_LOG", default_value = "info")]
    pub log: String,
    /// Node-specific arguments, after `--`.
    #[arg(last = true)]
    pub extra: Vec<String>,
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
        Ok(())
    }

    /// Parses `args` (with the program name first); for tests and embedders.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        cli.config.validate()?;
        Ok(cli.config)
    }
}

/// The other nodes of the cluster, by id, in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers(pub BTreeMap<String, String>);

impl Peers {
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
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

/// Parses `a=127.0.0.1:4001,b=node-b:4000`. Host names are kept as written (a container's
/// peers are service names that resolve later); the port must be a number.
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
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("peer {id}: address {addr:?} is not host:port"));
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
    let rest = line.trim().strip_prefix("READY ")?;
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
    fn peers_parse_and_print_back() {
        let p = parse_peers("n2=127.0.0.1:4002, n3=node-c:4000").unwrap();
        assert_eq!(p.addr("n2"), Some("127.0.0.1:4002"));
        assert_eq!(p.addr("n3"), Some("node-c:4000"));
        assert_eq!(p.to_string(), "n2=127.0.0.1:4002,n3=node-c:4000");
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
        ] {
            let err = parse_peers(input).unwrap_err();
            assert!(
                err.contains(says),
                "{input:?} gave {err:?}, expected {says:?}"
            );
        }
    }

    #[test]
    fn own_id_among_peers_is_rejected() {
        let err =
            NodeConfig::try_parse_from(["node", "--id", "n1", "--peers", "n1=a:1"]).unwrap_err();
        assert!(err.contains("own id"), "{err}");
    }

    #[test]
    fn ready_line_round_trips() {
        let addr: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        let line = ready_line("n7", addr);
        assert_eq!(parse_ready_line(&line), Some(("n7".into(), addr)));
        assert_eq!(parse_ready_line("2024 INFO READY id=x"), None);
    }
}

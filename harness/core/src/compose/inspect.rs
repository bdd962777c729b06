//! What `docker inspect` says about a container: running, paused, healthy, connected, and
//! the port it publishes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::ClusterError;

/// The node's port as published on the host: the configured binding, which survives a stop
/// and an isolation, or the one Docker chose if the compose file left the host port open.
pub(super) fn published_addr(c: &Container, id: &str) -> Result<SocketAddr, ClusterError> {
    let configured = c.host_config.port_bindings.as_ref();
    let actual = c.network_settings.ports.as_ref();
    let pick = |ports: Option<&Ports>| {
        ports?
            .iter()
            .filter(|(port, _)| port.ends_with("/tcp"))
            .flat_map(|(_, bindings)| bindings.iter().flatten())
            .find(|b| !matches!(b.host_port.as_str(), "" | "0"))
            .map(|b| {
                let ip = if b.host_ip.is_empty() || b.host_ip == "0.0.0.0" {
                    "127.0.0.1"
                } else {
                    &b.host_ip
                };
                format!("{ip}:{}", b.host_port)
            })
    };
    let addr = pick(configured).or_else(|| pick(actual)).ok_or_else(|| {
        ClusterError::BadRequest(format!(
            "{id} publishes no port; the compose file must publish the node's port on \
             127.0.0.1 (ports: [\"127.0.0.1:4001:4000\"])"
        ))
    })?;
    addr.parse()
        .map_err(|e| ClusterError::Io(format!("{id}: published address {addr:?}: {e}")))
}

pub(super) fn describe(c: &Container, connected: bool) -> String {
    let mut state = c.state.status.clone();
    if !c.state.running {
        state.push_str(&format!(", exit code {}", c.state.exit_code));
    } else {
        state.push_str(&format!(", {}", c.health()));
    }
    if !connected {
        state.push_str(", isolated");
    }
    state
}

type Ports = BTreeMap<String, Option<Vec<Binding>>>;

/// The parts of `docker inspect` this module reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Container {
    pub(super) id: String,
    pub(super) state: State,
    pub(super) config: Config,
    pub(super) host_config: HostConfig,
    pub(super) network_settings: NetworkSettings,
}

impl Container {
    /// `healthy`, `starting`, `unhealthy`, or `none` for an image without a healthcheck.
    pub(super) fn health(&self) -> &str {
        self.state
            .health
            .as_ref()
            .map_or("none", |h| h.status.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct State {
    pub(super) status: String,
    pub(super) running: bool,
    pub(super) paused: bool,
    pub(super) exit_code: i64,
    pub(super) health: Option<Health>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Health {
    pub(super) status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Config {
    pub(super) env: Option<Vec<String>>,
    /// The command after the entrypoint: the node's flags (`LAB_NODE_ARGS`).
    pub(super) cmd: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HostConfig {
    pub(super) port_bindings: Option<Ports>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NetworkSettings {
    pub(super) networks: Option<BTreeMap<String, serde_json::Value>>,
    pub(super) ports: Option<Ports>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Binding {
    pub(super) host_ip: String,
    pub(super) host_port: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `docker inspect` on Engine 20.10 of an isolated node.
    const INSPECT: &str = r#"[{
        "Id": "8631199621f8aa",
        "State": {"Status": "running", "Running": true, "Paused": false, "ExitCode": 0,
                  "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []}},
        "Config": {"Env": ["NODE_ID=n1", "NODE_COOKIE=sesame"], "Cmd": ["--", "--w", "2"],
                   "Labels": {}},
        "HostConfig": {"PortBindings": {"4000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "4001"}]}},
        "NetworkSettings": {"Networks": {}, "Ports": {}}
    }]"#;

    #[test]
    fn inspect_output_gives_state_health_and_the_published_port() {
        let mut all: Vec<Container> = serde_json::from_str(INSPECT).unwrap();
        let c = all.pop().unwrap();
        assert!(c.state.running && !c.state.paused);
        assert_eq!(c.health(), "healthy");
        assert_eq!(
            c.config.cmd.as_deref(),
            Some(&["--", "--w", "2"].map(String::from)[..])
        );
        assert_eq!(
            published_addr(&c, "n1").unwrap(),
            "127.0.0.1:4001".parse().unwrap()
        );
        let unpublished = INSPECT.replace(r#""HostPort": "4001""#, r#""HostPort": """#);
        let c: Container = serde_json::from_str::<Vec<Container>>(&unpublished)
            .unwrap()
            .pop()
            .unwrap();
        let err = published_addr(&c, "n1").unwrap_err().to_string();
        assert!(err.contains("publishes no port"), "{err}");
    }
}

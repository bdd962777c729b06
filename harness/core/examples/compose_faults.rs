//! The harness's whole container vocabulary against real containers: isolate and heal (with
//! the alias), kill and restart, pause and resume, attach to a running cluster and leave it as
//! found, stop, a refused proxy-only fault, and a teardown that leaves nothing behind. Exits
//! non-zero on the first failure. Needs a Docker engine and the image:
//!
//! ```sh
//! scripts/build-image.sh && cargo run -p harness --example compose_faults
//! ```
//! scripts/compose-e2e.sh runs it in CI when a Docker engine answers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::compose::ComposeCluster;
use harness::deployment::Deployment;
use harness::fault::{Fault, Hit};

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker-compose.yml");
    let project = format!("lab-harness-test-{}", std::process::id());
    let mut builder = ComposeCluster::builder(&file).project(&project);
    for (i, port) in free_ports(3).into_iter().enumerate() {
        builder = builder.env(format!("LAB_N{}_PORT", i + 1), port.to_string());
    }
    let cluster = builder.start().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cluster.ids(), ["n1", "n2", "n3"]);
    assert_eq!(peer_state(&cluster, "n1", "n3"), "up");

    cluster.isolate("n3").unwrap();
    eventually("n1 sees isolated n3 down", || {
        peer_state(&cluster, "n1", "n3").starts_with("down")
    });
    assert!(
        get(cluster.addr("n3"), "/health").is_err(),
        "an isolated container loses its published port"
    );
    cluster.heal().unwrap();
    eventually("n1 sees healed n3 up, by its service name", || {
        peer_state(&cluster, "n1", "n3") == "up"
    });

    cluster.kill("n2").unwrap();
    assert!(!cluster.is_running("n2"));
    assert!(get(cluster.addr("n2"), "/health").is_err());
    cluster
        .check_alive()
        .expect("a node killed on purpose is not a failure");
    cluster.restart("n2").unwrap();
    assert_eq!(get(cluster.addr("n2"), "/health").unwrap().0, 200);

    cluster.pause("n1").unwrap();
    assert!(
        get(cluster.addr("n1"), "/health").is_err(),
        "paused answers"
    );
    cluster.resume("n1").unwrap();
    assert_eq!(get(cluster.addr("n1"), "/health").unwrap().0, 200);

    // Attached to a cluster someone else brought up: dropping it leaves the cluster as
    // it was found.
    let attached = ComposeCluster::builder(&file)
        .project(&project)
        .attach()
        .unwrap();
    attached.isolate("n1").unwrap();
    attached.pause("n2").unwrap();
    drop(attached);
    eventually("an attached cluster's drop heals n1 and resumes n2", || {
        peer_state(&cluster, "n1", "n2") == "up" && peer_state(&cluster, "n1", "n3") == "up"
    });
    assert!(
        cluster.is_running("n1"),
        "attach must not take the cluster down"
    );

    assert_eq!(
        cluster.stop("n3").unwrap(),
        0,
        "SIGTERM ends a node cleanly"
    );

    let latency = Fault::Latency {
        latency: Duration::from_millis(100),
        jitter: Duration::ZERO,
    };
    let link = Hit::Link {
        from: "n1".into(),
        to: "n2".into(),
    };
    let err = Deployment::apply(&cluster, &latency, &link).unwrap_err();
    assert!(err.contains("--target local"), "{err}");
    assert!(
        cluster.refusal(&latency, &link).is_some(),
        "refused before a run, too"
    );

    drop(cluster);
    let label = format!("label=com.docker.compose.project={project}");
    for kind in [
        &["ps", "-aq"][..],
        &["network", "ls", "-q"],
        &["volume", "ls", "-q"],
    ] {
        let out = std::process::Command::new("docker")
            .args([kind, &["--filter", &label]].concat())
            .output()
            .expect("docker runs");
        let left = String::from_utf8_lossy(&out.stdout);
        assert!(left.trim().is_empty(), "{kind:?} left behind: {left}");
    }
}

/// Ports nothing listens on, below the range the kernel gives outgoing connections, so
/// none is taken between this check and `up`.
fn free_ports(n: usize) -> Vec<u16> {
    let first = 20_000 + (std::process::id() % 10_000) as u16;
    (first..32_000)
        .filter(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .take(n)
        .collect()
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "not within 15 s: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How node `from` sees `to` in the test node's `GET /peers`.
fn peer_state(cluster: &ComposeCluster, from: &str, to: &str) -> String {
    let (_, body) = get(cluster.addr(from), "/peers").unwrap();
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    view[to].as_str().unwrap_or("missing").to_string()
}

/// A plain HTTP/1.0 GET with a 1 s budget: status and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let timeout = Duration::from_secs(1);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

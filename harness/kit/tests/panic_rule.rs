//! The kit's panic rule, on a real node process: a panic in a supervised child leaves the node
//! serving; any other panic still prints and ends the process with status 101.
//!
//! The node is this test binary itself, started again with `LAB_PANIC_RULE_NODE` set (the
//! kit has no node binary of its own). Without a test harness (`harness = false` in the kit's
//! Cargo.toml), `main` is either the test or the node.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use node_kit::Routes;

const ROLE: &str = "LAB_PANIC_RULE_NODE";

fn main() {
    if std::env::var_os(ROLE).is_some() {
        std::process::exit(node());
    }
    a_supervised_panic_leaves_the_node_serving_and_any_other_ends_it();
    println!("test a_supervised_panic_leaves_the_node_serving_and_any_other_ends_it ... ok");
}

/// The node: one route that panics inside a supervised child, one that panics in a plain task.
fn node() -> i32 {
    let code = node_kit::run(|_ctx| async {
        let routes = Router::new()
            .route(
                "/supervised-panic",
                post(|| async {
                    let child = tokio::spawn(node_kit::crash::supervised("mailer", async {
                        panic!("a poison message in the supervised mailer");
                    }));
                    let panicked = child.await.is_err_and(|e| e.is_panic());
                    format!("panicked: {panicked}")
                }),
            )
            .route(
                "/unsupervised-panic",
                post(|| async {
                    let _ = tokio::spawn(async { panic!("a panic nobody supervises") }).await;
                    "still here"
                }),
            );
        Ok(Routes::new().public(routes))
    });
    if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    }
}

/// Kills the node if the test fails half way.
struct Node {
    child: Child,
    stderr: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

fn a_supervised_panic_leaves_the_node_serving_and_any_other_ends_it() {
    let stderr = std::env::temp_dir().join(format!("lab-panic-rule-{}.log", std::process::id()));
    let child = Command::new(std::env::current_exe().expect("the test binary's path"))
        .env(ROLE, "1")
        .args(["--id", "n1", "--log", "info"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("a log file"))
        .spawn()
        .expect("the node starts");
    let mut node = Node { child, stderr };
    let addr = ready(&mut node);
    let log = |node: &Node| std::fs::read_to_string(&node.stderr).unwrap_or_default();

    assert_eq!(
        request(addr, "/health", "GET").0,
        200,
        "a healthy node first"
    );
    let (status, body) = request(addr, "/supervised-panic", "POST");
    assert_eq!(
        (status, body.as_str()),
        (200, "panicked: true"),
        "a supervised child's panic ends the child, and the node answers; log:\n{}",
        log(&node)
    );
    assert_eq!(
        request(addr, "/health", "GET").0,
        200,
        "the node serves after its supervised child panicked; log:\n{}",
        log(&node)
    );
    assert!(
        node.child.try_wait().expect("try_wait").is_none(),
        "the node must still run"
    );
    let printed = log(&node);
    assert!(
        printed.contains("a poison message in the supervised mailer")
            && printed.contains("supervised child mailer panicked"),
        "the supervised panic is printed, with the child's name:\n{printed}"
    );

    let _ = request(addr, "/unsupervised-panic", "POST");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = node.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "an unsupervised panic must end the node; log:\n{}",
            log(&node)
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let printed = log(&node);
    assert_eq!(
        status.code(),
        Some(node_kit::crash::PANIC_EXIT),
        "exit status of an unsupervised panic; log:\n{printed}"
    );
    assert!(
        printed.contains("a panic nobody supervises")
            && printed.contains("node n1: panicked; exiting (let it crash)"),
        "the unsupervised panic is printed before the node exits:\n{printed}"
    );
}

/// Reads the node's ready line and returns its address.
fn ready(node: &mut Node) -> SocketAddr {
    let stdout = node.child.stdout.take().expect("stdout piped");
    node_kit::config::await_ready_line(stdout, Duration::from_secs(20))
        .unwrap_or_else(|why| panic!("the node prints its ready line: {why}"))
}

/// One request over a fresh connection: (status, body); status 0 if the node never answered.
fn request(addr: SocketAddr, path: &str, method: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("{method} {path} HTTP/1.0\r\nhost: lab\r\ncontent-length: 0\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let status = reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

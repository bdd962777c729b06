//! A hostile client against one node of each exercise: the smoke test CI runs.
//!
//! ```text
//! cargo run -p harness --example hostile                     # every *-solution binary built
//! cargo run -p harness --example hostile -- target/debug/x   # these binaries
//! cargo run -p harness --example hostile -- --self-test       # it catches a careless node
//! ```
//!
//! For each binary it starts one node through the harness (three, if one alone refuses to
//! start, and probes the first) and sends it, 20 rounds over, the
//! classes of input issue 16 found trouble with: made-up methods of 8 KB, paths axum cannot
//! decode, `.` and `..` as cart ids, malformed and oversized JSON (declared and chunked),
//! nesting bombs, long names, a link upgrade without its headers, internal routes without the
//! cookie, and 200 idle connections. It fails (exit 1, one line per problem) on any 5xx, on
//! an error answer whose body is not the JSON error shape, on a node that exits, and on a
//! resident memory growth over [`RSS_BOUND`] (Linux, where `/proc` says).
//!
//! `--self-test` probes the harness's test node started with `--careless` (plain-text 5xx
//! and 4xx answers, 1 MB kept per request) and fails unless every one of those is reported:
//! a smoke test that cannot fail would prove nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use harness::Cluster;

/// How much a node's resident memory may grow over the whole run. The bodies alone it is sent
/// add up to about 150 MB; a node that kept any class of them would pass this at once.
const RSS_BOUND: u64 = 40 * 1024 * 1024;

const ROUNDS: usize = 20;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--self-test") {
        return self_test();
    }
    let bins: Vec<PathBuf> = match std::env::args_os().skip(1).map(PathBuf::from).collect() {
        bins if Vec::is_empty(&bins) => built_solutions(),
        bins => bins,
    };
    if bins.is_empty() {
        eprintln!("hostile: no *-solution binary next to this example; build them first");
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    for bin in &bins {
        let name = bin.file_name().unwrap_or_default().to_string_lossy();
        match probe(bin, &[]) {
            Ok(summary) => println!("hostile: {name}: ok ({summary})"),
            Err(problems) => {
                failed = true;
                for problem in problems {
                    eprintln!("hostile: {name}: {problem}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The problems a careless node has, each of which the probe must report.
const CARELESS: [(&str, &str); 3] = [
    ("a 5xx", "answered HTTP/1.1 500"),
    ("an error that is not JSON", "not the JSON error shape"),
    ("memory kept per request", "resident memory grew"),
];

/// Probes the test node with `--careless`: passes when the probe reports each of its faults.
fn self_test() -> ExitCode {
    let Some(node) = target_dir()
        .map(|dir| dir.join("test-node"))
        .filter(|p| p.is_file())
    else {
        eprintln!(
            "hostile --self-test: no test-node binary here; `cargo build -p harness --bin test-node` first"
        );
        return ExitCode::FAILURE;
    };
    let problems = match probe(&node, &["--careless"]) {
        Ok(summary) => vec![format!("nothing found ({summary})")],
        Err(problems) => problems,
    };
    let mut missed = false;
    for (fault, says) in CARELESS {
        if problems.iter().any(|p| p.contains(says)) {
            println!("hostile --self-test: a careless node's {fault} is caught");
        } else {
            missed = true;
            eprintln!("hostile --self-test: a careless node's {fault} went unreported");
        }
    }
    if missed {
        eprintln!(
            "hostile --self-test: the probe said: {}",
            problems.join("; ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The target directory this example was built into (`target/debug`).
fn target_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
}

/// The solutions' node binaries in the target directory this example was built into.
fn built_solutions() -> Vec<PathBuf> {
    let Some(dir) = target_dir() else {
        return Vec::new();
    };
    let mut bins: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with("-solution"))
        .collect();
    bins.sort();
    bins
}

/// One node (started with `args`), every class of input, `ROUNDS` times; the problems
/// found, if any.
fn probe(bin: &std::path::Path, args: &[&str]) -> Result<String, Vec<String>> {
    let start = |nodes: usize| {
        Cluster::builder(bin)
            .nodes(nodes)
            .args(args.iter().copied())
            .start()
    };
    // One node, or three for a node that refuses to run alone (exercise 08's primary with
    // W = 2 needs a backup): n1 is probed either way.
    let cluster = start(1)
        .or_else(|_| start(3))
        .map_err(|e| vec![format!("does not start, alone or with two peers: {e}")])?;
    let addr = cluster
        .direct_addr("n1")
        .expect("a started node has an address");
    let pid = cluster.pid("n1").expect("a started node has a pid");
    let cases = cases(cluster.cookie());
    let mut problems = Vec::new();
    let before = rss(pid);
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    for _ in 0..ROUNDS {
        for (what, raw) in &cases {
            if let Some(problem) = judge(what, &exchange(addr, raw)) {
                problems.push(problem);
            }
        }
    }
    drop(idle);
    let health = exchange(addr, &get("/health"));
    if !health.starts_with("HTTP/1.1 200") {
        problems.push(format!("GET /health after the run: {}", head(&health)));
    }
    if let Err(e) = cluster.check_alive() {
        problems.push(format!("the node died: {e}"));
    }
    let grown = match (before, rss(pid)) {
        (Some(before), Some(after)) => {
            let grown = after.saturating_sub(before);
            if grown > RSS_BOUND {
                problems.push(format!(
                    "resident memory grew {} MB, over the {} MB bound",
                    grown >> 20,
                    RSS_BOUND >> 20
                ));
            }
            format!("memory grew {} MB", grown >> 20)
        }
        _ => "memory not measured here".into(),
    };
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(format!("{} requests, {grown}", ROUNDS * cases.len()))
    } else {
        Err(problems)
    }
}

/// Each hostile request, named, as the bytes on the wire (every one asks the node to close).
fn cases(cookie: &str) -> Vec<(String, Vec<u8>)> {
    let mut cases = vec![
        ("an 8 KB made-up method".to_string(), {
            let method = "M".repeat(8 * 1024);
            format!("{method} /health HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n")
                .into_bytes()
        }),
        ("a path that does not decode".into(), get("/carts/%FF")),
        ("'..' as a cart id".into(), get("/carts/..")),
        (
            "'.' as a cart id".into(),
            post("/carts/./items", br#"{"request_id":"r","item":"i"}"#),
        ),
        (
            "malformed JSON".into(),
            post("/carts/7/items", b"{not json"),
        ),
        (
            "unknown fields".into(),
            post("/carts/7/items", br#"{"request_id":"r","item":"i","x":1}"#),
        ),
        (
            "a JSON nesting bomb".into(),
            post("/carts/7/items", "[".repeat(100_000).as_bytes()),
        ),
        (
            "a 300-character path".into(),
            get(&format!("/{}", "a".repeat(300))),
        ),
        (
            "a link upgrade without its headers".into(),
            format!(
                "GET /internal/link HTTP/1.1\r\nhost: lab\r\nx-lab-cookie: {cookie}\r\n\
                 connection: close\r\n\r\n"
            )
            .into_bytes(),
        ),
        (
            "an internal route without the cookie".into(),
            get("/internal/link"),
        ),
        (
            "a declared 300 KB body".into(),
            b"POST /carts/7/items HTTP/1.1\r\nhost: lab\r\ncontent-type: application/json\r\n\
              content-length: 307200\r\nconnection: close\r\n\r\n"
                .to_vec(),
        ),
    ];
    // Chunked past the limit, then nothing more (the node has read all there is).
    let mut chunked = b"POST /carts/7/items HTTP/1.1\r\nhost: lab\r\ncontent-type: \
        application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        .to_vec();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..4 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"400\r\n");
    chunked.extend_from_slice(&[b' '; 1024]);
    cases.push(("a chunked body over 256 KB".into(), chunked));
    cases
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n").into_bytes()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nhost: lab\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends `raw` on a fresh connection; the reply, read until the node closes (5 s at most).
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    // The node may answer and close before reading all of an oversized body.
    let _ = stream.write_all(raw);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// What is wrong with the reply to `what`, if anything.
fn judge(what: &str, reply: &str) -> Option<String> {
    let status: u16 = reply
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())?;
    // No reply at all is a closed connection: allowed for a request hyper itself refuses.
    if status >= 500 {
        return Some(format!("{what}: answered {}", head(reply)));
    }
    if status >= 400 {
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let shaped = serde_json::from_str::<serde_json::Value>(body)
            .is_ok_and(|v| v["error"].is_string() && v["message"].is_string());
        if !shaped {
            return Some(format!(
                "{what}: a {status} whose body is not the JSON error shape: {body:.120}"
            ));
        }
    }
    None
}

fn head(reply: &str) -> &str {
    reply.lines().next().unwrap_or("no answer")
}

/// The process's resident memory in bytes, where `/proc` tells it.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

//! The node contract (harness/kit), checked on the test node: configuration errors, the
//! cookie, bad input, metrics, the healthcheck mode, graceful shutdown, and let it crash: a
//! node's panic is what a waiting test reports.

mod support;

use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::Cluster;
use node_kit::cart::{AddItem, CartError};
use support::*;

/// Runs the node binary with `args` and returns (exit code, stderr).
fn run_node(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(TEST_NODE)
        .args(args)
        .output()
        .expect("the test node runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_non_zero_with_one_clear_line() {
    for (args, says) in [
        (vec!["--peers", "n2"], "not id=host:port"),
        (vec!["--peers", "n2=a:1,n2=b:2"], "appears twice"),
        (vec!["--id", "n1", "--peers", "n1=a:1"], "own id"),
        (
            vec!["--listen", "203.0.113.1:1", "--cookie", "c"],
            "cannot listen on 203.0.113.1:1",
        ),
        (vec!["--id", "bad id"], "not a node id"),
        (vec!["--peers", "n2=a b:1"], "not a host name"),
        (vec!["--listen", "0.0.0.0:0"], "development cookie"),
        (vec!["--log", "=[="], "not a log filter"),
        (
            vec!["--", "--nope"],
            "--panic-on-start, --ack-before-write, --careless",
        ),
        (vec!["--", "--ack-before-write=yes"], "--ack-before-write"),
    ] {
        let (code, stderr) = run_node(&args);
        assert_eq!(code, Some(2), "{args:?} must exit 2, stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?} must explain itself in one line: {stderr}"
        );
        assert!(
            lines[0].contains(says),
            "{args:?}: expected {says:?} in {stderr:?}"
        );
        assert!(
            !stderr.contains("panicked"),
            "bad configuration is not a panic: {stderr}"
        );
    }
}

#[test]
fn internal_routes_need_the_cookie() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.addr("n1");
    let mut conn = Conn::open(addr, Duration::from_secs(5)).unwrap();
    let (status, body) = conn.get("/internal/ping").unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"error\":\"bad_cookie\""), "{body}");

    let with_cookie = format!(
        "GET /internal/ping HTTP/1.1\r\nhost: lab\r\nx-lab-cookie: {}\r\n\r\n",
        c.cookie()
    );
    use std::io::Write;
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.write_all(with_cookie.as_bytes()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let n = std::io::Read::read(&mut raw, &mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("pong from n1"), "{reply}");
}

#[test]
fn bad_input_gets_a_4xx_with_a_json_body_and_the_node_keeps_serving() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.addr("n1");
    let post = |body: &str, declared: usize| post_json(addr, "/note", body, declared);
    let ok = post(r#"{"text":"hi"}"#, 13);
    assert!(
        ok.starts_with("HTTP/1.1 200") && ok.contains(r#"{"text":"hi"}"#),
        "{ok}"
    );

    for (body, declared, status, code) in [
        ("{not json", 9, "400", "malformed_json"),
        (r#"{"text":"hi","extra":1}"#, 23, "422", "invalid_body"),
        ("", 300 * 1024, "413", "body_too_large"),
    ] {
        let reply = post(body, declared);
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "expected {status} for {code}: {}",
            &reply[..reply.len().min(300)]
        );
        assert!(reply.contains(&format!("\"error\":\"{code}\"")), "{reply}");
    }
    // Refused before any route saw it, the oversize body still counts as an answer.
    let (_, metrics) = get(addr, "/metrics").unwrap();
    for status in ["200", "400", "422", "413"] {
        let line =
            format!(r#"node_requests_total{{method="POST",route="/note",status="{status}"}} 1"#);
        assert!(metrics.contains(&line), "no {line:?} in:\n{metrics}");
    }
    let (status, body) = get(addr, "/no/such/route").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("\"error\":\"not_found\""), "{body}");
    c.check_alive().expect("bad input never crashes a node");
}

#[test]
fn metrics_count_requests_in_the_prometheus_text_format() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.addr("n1");
    for _ in 0..3 {
        assert_eq!(get(addr, "/health").unwrap().0, 200);
    }
    let (status, text) = get(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"node_requests_total{method="GET",route="/health",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains("# TYPE node_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("node_in_flight_requests"), "{text}");
}

#[test]
fn healthcheck_mode_exits_0_for_a_healthy_node_and_1_otherwise() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.addr("n1").to_string();
    assert_eq!(run_node(&["healthcheck", &addr]).0, Some(0));
    c.kill("n1").unwrap();
    let (code, stderr) = run_node(&["healthcheck", &addr]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unhealthy"), "{stderr}");
}

#[test]
fn sigterm_shuts_a_node_down_gracefully() {
    let c = Cluster::builder(TEST_NODE).nodes(2).start().unwrap();
    assert_eq!(get(c.addr("n1"), "/health").unwrap().0, 200);
    let started = Instant::now();
    let status = c.stop("n1").unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!c.is_running("n1"));
    let log = std::fs::read_to_string(c.log_path("n1")).unwrap();
    assert!(
        log.contains("SIGTERM"),
        "the node logs why it stopped:\n{log}"
    );
    assert!(c.is_running("n2"), "the other node is untouched");
}

#[test]
fn the_cart_api_validates_input_and_the_test_store_survives_a_kill() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let carts = c.carts("n1");
    let add = |item: String| AddItem {
        request_id: format!("r-{item}"),
        item,
    };
    harness::block_on(async {
        for i in 0..20 {
            let added = carts.add("42", &add(format!("sku-{i}"))).await;
            c.expect_answer(added, "an add to cart 42").await;
        }
        let refused = carts.add("bad id", &add("sku".into())).await;
        assert!(
            matches!(&refused, Err(CartError::Refused { status: 400, message, .. }) if message.contains("cart id")),
            "{refused:?}"
        );

        c.kill("n1").unwrap();
        c.restart("n1").unwrap();
        let read = carts.get("42").await;
        let cart = c.expect_answer(read, "the read of cart 42").await.cart;
        let expected: Vec<String> = (0..20).map(|i| format!("sku-{i}")).collect();
        assert_eq!(
            cart.items, expected,
            "every acknowledged add survives SIGKILL"
        );
    });
}

/// Runs `test` and returns the message it panicked with.
fn panic_message(test: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(AssertUnwindSafe(test))
        .expect_err("the test body should have failed");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_wait_or_a_request_on_a_node_that_panicked_fails_with_its_panic_at_once() {
    let c = Cluster::builder(TEST_NODE).nodes(2).start().unwrap();
    let n1 = c.http("n1");
    harness::block_on(async {
        let healthy = n1.get_json::<serde_json::Value>("/health").await;
        assert_eq!(healthy.expect("a healthy node answers")["id"], "n1");
    });

    let started = Instant::now();
    let waited = panic_message(|| {
        harness::block_on(async {
            let _ = n1.post("/crash").send().await;
            c.eventually("n1 to answer", Duration::from_secs(20), async || {
                n1.get_json::<serde_json::Value>("/health").await
            })
            .await;
        })
    });
    assert!(
        waited.contains("node n1 exited unexpectedly")
            && waited.contains("crash requested by POST /crash"),
        "the wait must fail with n1's panic line, got: {waited}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the wait must fail as soon as n1 is dead, not at its limit ({:?})",
        started.elapsed()
    );

    // A single request that got no answer says the same, rather than "connection refused".
    let asked = panic_message(|| {
        harness::block_on(async {
            let read = c.carts("n1").get("42").await;
            c.expect_answer(read, "the read of cart 42").await;
        })
    });
    assert!(
        asked.contains("crash requested by POST /crash"),
        "the request must fail with n1's panic line, got: {asked}"
    );
}

// Hostile clients (issue 16): every answer bounded, every error the JSON shape.

/// How long a lone node may take to print its ready line: far above a start on a loaded
/// 2-core machine (well under a second), short enough that a node that hangs fails the test.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A test node started by hand, for what a cluster does not set: a low descriptor limit.
/// Killed on drop (and it exits by itself when its stdin closes).
struct Lone {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Lone {
    /// Starts the test node with `env` set and, if given, its descriptor limits (soft, hard).
    fn start(env: &[(&str, &str)], nofile: Option<(u64, u64)>) -> Lone {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(TEST_NODE);
        command
            .envs(env.iter().copied())
            .env_remove("NODE_COOKIE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some((soft, hard)) = nofile {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().expect("the test node starts");
        // The node prints LISTENING as soon as it binds, then READY once it serves.
        let stdout = child.stdout.take().expect("stdout piped");
        let addr = match node_kit::config::await_ready_line(stdout, READY_WITHIN) {
            Ok(addr) => addr,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{why}");
            }
        };
        Lone { child, addr }
    }
}

impl Drop for Lone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `raw` on a fresh connection and reads until the node closes it or 5 s pass.
fn raw_exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A node may answer and close before it has read everything (a body over the limit).
    let _ = stream.write_all(raw);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// How long the node takes to close a connection that sent `first` and then nothing.
fn closed_after(addr: std::net::SocketAddr, first: &[u8]) -> Duration {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    stream.write_all(first).unwrap();
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
    started.elapsed()
}

#[test]
fn silent_slow_and_idle_clients_are_cut_off_at_the_read_timeout() {
    let c = Cluster::builder(TEST_NODE)
        .nodes(1)
        .env("NODE_READ_TIMEOUT_MS", "1000")
        .start()
        .unwrap();
    let addr = c.direct_addr("n1").unwrap();
    // Bounds: at least the timeout, at most the timeout plus a very slow machine's delay.
    let within = |what: &str, took: Duration| {
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(5)).contains(&took),
            "{what}: closed after {took:?}, expected about 1 s (NODE_READ_TIMEOUT_MS=1000)"
        );
    };
    within("a silent connection", closed_after(addr, b""));
    within(
        "half a request head",
        closed_after(addr, b"GET /health HTTP/1.1\r\nho"),
    );
    // Idle after an answered request: kept alive only as long as the timeout.
    within(
        "an idle kept-alive connection",
        closed_after(addr, b"GET /health HTTP/1.1\r\nhost: lab\r\n\r\n"),
    );

    // A body that never comes in full: 408 with the JSON error shape, and the request never
    // counted as in flight while it waited.
    use std::io::{Read, Write};
    let slow: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(
                b"POST /echo HTTP/1.1\r\nhost: lab\r\ncontent-length: 100\r\n\r\nonly part",
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (_, metrics) = get(addr, "/metrics").unwrap();
    let in_flight = metrics
        .lines()
        .find_map(|l| l.strip_prefix("node_in_flight_requests "))
        .expect("the in-flight gauge");
    assert_eq!(
        in_flight.trim(),
        "1",
        "20 bodies still arriving are not requests in flight (1 is this scrape)"
    );
    let started = Instant::now();
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        assert!(reply.contains("\"error\":\"body_timeout\""), "{reply}");
    }
    let (_, metrics) = get(addr, "/metrics").unwrap();
    let timed_out = r#"node_requests_total{method="POST",route="/echo",status="408"} 20"#;
    assert!(
        metrics.contains(timed_out),
        "no {timed_out:?} in:\n{metrics}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    c.check_alive().unwrap();
}

#[test]
fn connections_over_the_limit_get_a_json_503_and_health_returns_when_they_time_out() {
    // 64 descriptors: the node serves at most 32 connections.
    let node = Lone::start(&[("NODE_READ_TIMEOUT_MS", "1500")], Some((64, 64)));
    let held: Vec<std::net::TcpStream> = (0..32)
        .map(|_| std::net::TcpStream::connect(node.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = raw_exchange(node.addr, b"GET /health HTTP/1.1\r\nhost: lab\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("\"error\":\"too_many_connections\""),
        "{refused}"
    );
    // The idle ones are closed at the read timeout, and the node answers again.
    let started = Instant::now();
    let answered = loop {
        let reply = raw_exchange(
            node.addr,
            b"GET /health HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n",
        );
        if reply.starts_with("HTTP/1.1 200") || started.elapsed() > Duration::from_secs(10) {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the held connections were still open until their timeout: {:?}",
        started.elapsed()
    );
    drop(held);
}

#[test]
fn made_up_methods_do_not_grow_the_metrics() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.direct_addr("n1").unwrap();
    let size = || get(addr, "/metrics").unwrap().1.len();
    let before = size();
    for i in 0..100 {
        let method = format!("X{i}{}", "M".repeat(8 * 1024));
        let reply = raw_exchange(
            addr,
            format!("{method} /health HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(
            reply.starts_with("HTTP/1.1 405"),
            "{}",
            &reply[..reply.len().min(200)]
        );
    }
    let after = size();
    assert!(
        after < before + 4096,
        "100 made-up methods of 8 KB grew /metrics from {before} to {after} bytes"
    );
}

#[test]
fn axums_own_rejections_and_odd_paths_get_a_json_4xx() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.direct_addr("n1").unwrap();
    let long_name = format!("/data/{}", "a".repeat(300));
    let cookie = c.cookie().to_string();
    let chunk = "x".repeat(64 * 1024);
    let mut chunked = String::from(
        "POST /echo HTTP/1.1\r\nhost: lab\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    // 256 KiB, then one more chunk: over the limit, and nothing sent after it (so the node
    // has read all there is when it answers, and closes without a reset).
    for _ in 0..4 {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str("400\r\n");
    chunked.push_str(&"y".repeat(1024));
    let get_closing =
        |path: &str| format!("GET {path} HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (get_closing("/slow/abc"), "400", "bad_request"),
        (get_closing("/carts/%FF"), "400", "bad_request"),
        (get_closing("/carts/.."), "400", "bad_request"),
        (
            "POST /carts/./items HTTP/1.1\r\nhost: lab\r\ncontent-type: application/json\r\ncontent-length: 29\r\nconnection: close\r\n\r\n{\"request_id\":\"r\",\"item\":\"i\"}".to_string(),
            "400",
            "bad_request",
        ),
        (
            format!("PUT {long_name} HTTP/1.1\r\nhost: lab\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx"),
            "400",
            "bad_request",
        ),
        (
            format!("GET /internal/link HTTP/1.1\r\nhost: lab\r\nx-lab-cookie: {cookie}\r\nconnection: close\r\n\r\n"),
            "4",
            "",
        ),
        (chunked, "413", "body_too_large"),
    ];
    for (raw, status, code) in cases {
        let reply = raw_exchange(addr, raw.as_bytes());
        let first = raw.lines().next().unwrap_or_default();
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "{first}: expected {status}, got {}",
            &reply[..reply.len().min(300)]
        );
        let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{first}: the body is not JSON ({e}): {reply}"));
        assert!(json["message"].is_string(), "{first}: {json}");
        if !code.is_empty() {
            assert_eq!(json["error"], code, "{first}: {json}");
        }
    }
    c.check_alive().expect("hostile input never crashes a node");
}

#[test]
fn help_never_prints_the_cookie_and_the_harness_passes_it_by_variable() {
    let out = Command::new(TEST_NODE)
        .arg("--help")
        .env("NODE_COOKIE", "very-secret-cookie")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("NODE_COOKIE"), "{help}");
    assert!(!help.contains("very-secret-cookie"), "{help}");

    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let pid = c.pid("n1").unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        !cmdline.contains(c.cookie()),
        "the cookie is on the command line: {cmdline}"
    );
}

#[test]
fn healthcheck_gives_up_after_two_seconds_in_all_against_a_trickling_server() {
    use std::io::Write;
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = server.accept() {
            // A byte every 500 ms: each read succeeds, the whole never arrives in time.
            for byte in b"HTTP/1.1 200 OK\r\n" {
                std::thread::sleep(Duration::from_millis(500));
                if conn.write_all(&[*byte]).is_err() {
                    break;
                }
            }
        }
    });
    let started = Instant::now();
    let (code, stderr) = run_node(&["healthcheck", &addr.to_string()]);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no answer within 2s"), "{stderr}");
    assert!(
        (Duration::from_millis(1900)..Duration::from_secs(4)).contains(&took),
        "the 2 s budget is for the whole check: it took {took:?}"
    );
}

#[test]
fn a_link_frame_over_the_limit_ends_the_link_not_the_node() {
    let c = Cluster::builder(TEST_NODE).nodes(1).start().unwrap();
    let addr = c.addr("n1").to_string();
    harness::block_on(async {
        let link = node_kit::Link::dial(&addr, c.cookie()).await.unwrap();
        let (sender, mut receiver) = link.split();
        let big = "x".repeat(node_kit::link::FRAME_LIMIT - 1024);
        sender.send(big.clone()).unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await;
        assert_eq!(echoed.ok().flatten().map(|f| f.len()), Some(big.len()));

        // One frame over the limit: the node drops the link (WebSocket's default would have
        // buffered up to 64 MiB of it).
        let link = node_kit::Link::dial(&addr, c.cookie()).await.unwrap();
        let (sender, mut receiver) = link.split();
        sender
            .send("x".repeat(node_kit::link::FRAME_LIMIT + 1))
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await;
        assert_eq!(answer, Ok(None), "the link must close, not echo");
    });
    c.check_alive()
        .expect("an oversized frame never crashes a node");
}

#[test]
fn a_node_raises_its_soft_descriptor_limit_to_the_hard_one() {
    let node = Lone::start(&[], Some((64, 512)));
    let Ok(limits) = std::fs::read_to_string(format!("/proc/{}/limits", node.child.id())) else {
        eprintln!("no /proc here to read a process's limits from; nothing to check");
        return;
    };
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the open files line")
        .split_whitespace()
        .collect();
    assert_eq!(
        open_files[3..5],
        ["512", "512"],
        "started with a soft limit of 64 under a hard 512: {open_files:?}"
    );
}

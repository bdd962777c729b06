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
            vec!["--listen", "203.0.113.1:1"],
            "cannot listen on 203.0.113.1:1",
        ),
        (vec!["--id", "bad id"], "not a node id"),
        (vec!["--log", "=[="], "not a tracing filter"),
        (vec!["--", "--nope"], "--panic-on-start, --ack-before-write"),
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

//! The harness proves its own faults: each test starts a 3-node cluster of the test node,
//! shows the healthy path, injects one fault and shows that it really happened.

mod support;

use std::time::{Duration, Instant};

use harness::{Cluster, ClusterError};
use node_kit::Link;
use support::*;

fn cluster() -> Cluster {
    Cluster::builder(TEST_NODE)
        .nodes(3)
        .seed(7)
        .start()
        .expect("3 test nodes start")
}

#[test]
fn a_partition_separates_groups_and_heal_joins_them() {
    let c = cluster();
    let view = peer_view(c.addr("n1"));
    assert!(
        is_up(&view, "n2") && is_up(&view, "n3"),
        "healthy: n1 sees everyone: {view}"
    );

    c.partition(&[&["n1", "n2"], &["n3"]]).unwrap();
    let n1 = peer_view(c.addr("n1"));
    let n3 = peer_view(c.addr("n3"));
    assert!(is_up(&n1, "n2"), "n1 and n2 are on the same side: {n1}");
    assert!(
        !is_up(&n1, "n3"),
        "n1 must not reach n3 across the partition: {n1}"
    );
    assert!(!is_up(&n3, "n1") && !is_up(&n3, "n2"), "n3 is alone: {n3}");

    c.heal();
    let view = peer_view(c.addr("n3"));
    assert!(
        is_up(&view, "n1") && is_up(&view, "n2"),
        "healed: n3 sees everyone: {view}"
    );
}

#[test]
fn a_one_way_cut_blocks_only_the_connections_one_side_opens() {
    let c = cluster();
    assert!(is_up(&peer_view(c.addr("n1")), "n2"));
    assert!(is_up(&peer_view(c.addr("n2")), "n1"));

    c.link("n1", "n2").cut();
    let n1 = peer_view(c.addr("n1"));
    let n2 = peer_view(c.addr("n2"));
    assert!(
        !is_up(&n1, "n2"),
        "n1's own connections to n2 are cut: {n1}"
    );
    assert!(
        is_up(&n2, "n1"),
        "connections n2 opens to n1 are untouched: {n2}"
    );
    assert!(is_up(&n1, "n3"), "other links are untouched: {n1}");
}

#[test]
fn latency_shows_in_round_trips_on_an_already_open_connection() {
    let c = cluster();
    let mut conn = Conn::open(c.addr("n1"), Duration::from_secs(5)).unwrap();
    let before = median_rtt(&mut conn, 5);

    let latency = Duration::from_millis(100);
    c.client_link("n1").latency(latency, Duration::ZERO);
    let during = median_rtt(&mut conn, 5);
    assert!(
        during >= before + 2 * latency - Duration::from_millis(5),
        "100 ms each way must add about 200 ms to a round trip on the open connection: \
         {before:?} before, {during:?} during"
    );
    assert!(
        during < Duration::from_secs(2),
        "latency, not an outage: {during:?}"
    );

    c.client_link("n1").latency(Duration::ZERO, Duration::ZERO);
    let after = median_rtt(&mut conn, 5);
    assert!(
        after < during / 2,
        "removing latency brings round trips back: {after:?}"
    );
}

#[test]
fn jitter_never_reorders_frames_on_a_link() {
    let c = cluster();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = c.addr("n2").to_string();
        let link = Link::dial(&addr, c.cookie()).await.expect("link to n2");
        let (sender, mut receiver) = link.split();
        sender.send("hello").unwrap();
        assert_eq!(
            receiver.recv().await.as_deref(),
            Some("hello"),
            "healthy echo"
        );

        c.client_link("n2")
            .latency(Duration::from_millis(20), Duration::from_millis(30));
        let started = Instant::now();
        sender.send("one").unwrap();
        assert_eq!(receiver.recv().await.as_deref(), Some("one"));
        let rtt = started.elapsed();
        assert!(
            rtt >= Duration::from_millis(40),
            "20 ms each way at least: {rtt:?}"
        );

        for i in 0..300 {
            sender.send(i.to_string()).unwrap();
        }
        for i in 0..300 {
            let frame = receiver.recv().await.expect("echo");
            assert_eq!(frame, i.to_string(), "frames came back out of order");
        }
    });
}

#[test]
fn a_blackholed_link_times_out_while_the_connection_stays_open() {
    let c = cluster();
    let mut conn = Conn::open(c.addr("n1"), Duration::from_millis(500)).unwrap();
    assert_eq!(conn.get("/health").unwrap().0, 200);

    c.client_link("n1").blackhole();
    let err = conn
        .get("/health")
        .expect_err("a blackholed request must not be answered");
    assert!(is_timeout(&err), "expected a timeout, got {err:?}");
    // Still open: no end of file, no reset, and writes are accepted.
    conn.stream().set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let peeked = conn.stream().peek(&mut byte);
    assert!(
        matches!(&peeked, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the connection must stay open (no EOF, no reset): {peeked:?}"
    );
    conn.stream().set_nonblocking(false).unwrap();

    c.client_link("n1").heal();
    let mut fresh = Conn::open(c.addr("n1"), Duration::from_secs(5)).unwrap();
    assert_eq!(
        fresh.get("/health").unwrap().0,
        200,
        "after heal, new connections work"
    );
}

#[test]
fn loss_blackholes_about_its_share_of_new_connections() {
    let c = cluster();
    assert_eq!(get(c.addr("n1"), "/health").unwrap().0, 200);

    c.client_link("n1").loss(0.3);
    let tries = 60;
    let lost = lost_connections(c.client_link("n1"), c.addr("n1"), tries);
    let share = lost as f64 / tries as f64;
    assert!(
        (0.1..=0.5).contains(&share),
        "loss(0.3) with seed 7 lost {lost} of {tries} connections"
    );
    assert_eq!(c.client_link("n1").stats().lost, lost as u64);
}

#[test]
fn drop_response_applies_the_request_but_loses_the_reply() {
    let c = cluster();
    assert_eq!(
        request(c.addr("n1"), "PUT", "/data/warmup", "x").unwrap().0,
        200
    );

    c.client_link("n1").drop_response(0.5);
    let tries = 60;
    let mut dropped = 0;
    for i in 0..tries {
        match request(c.addr("n1"), "PUT", &format!("/data/k{i}"), "v") {
            Ok((200, _)) => {}
            Err(e) if is_closed(&e) => dropped += 1,
            other => panic!("expected the reply or a reset, got {other:?}"),
        }
    }
    let share = dropped as f64 / tries as f64;
    assert!(
        (0.25..=0.75).contains(&share),
        "drop_response(0.5) dropped {dropped} of {tries}"
    );

    c.client_link("n1").clear();
    for i in 0..tries {
        let (status, body) = get(c.addr("n1"), &format!("/data/k{i}")).unwrap();
        assert_eq!(
            (status, body.as_str()),
            (200, "v"),
            "request k{i} was applied"
        );
    }
}

#[test]
fn a_killed_node_is_refused_directly_reset_through_its_proxy_and_noticed() {
    let c = cluster();
    let direct = c.direct_addr("n2").unwrap();
    assert_eq!(get(direct, "/health").unwrap().0, 200);
    let mut open = Conn::open(c.addr("n2"), Duration::from_secs(5)).unwrap();
    assert_eq!(open.get("/health").unwrap().0, 200);

    c.kill("n2").unwrap();
    let err = get(direct, "/health").expect_err("a dead node answers nothing");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err:?}");

    let started = Instant::now();
    let err = get(c.addr("n2"), "/health").expect_err("nothing behind the proxy");
    assert!(is_closed(&err), "closed or reset, not a hang: {err:?}");
    let err = open
        .get("/health")
        .expect_err("the open connection died with the node");
    assert!(is_closed(&err), "closed or reset, not a hang: {err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "promptly: {:?}",
        started.elapsed()
    );

    let view = peer_view(c.addr("n1"));
    assert!(
        !is_up(&view, "n2") && is_up(&view, "n3"),
        "n1 notices n2 is gone: {view}"
    );
}

#[test]
fn a_paused_node_keeps_its_socket_but_answers_nothing_until_resumed() {
    let c = cluster();
    let direct = c.direct_addr("n2").unwrap();
    assert_eq!(get(direct, "/health").unwrap().0, 200);

    c.pause("n2").unwrap();
    // When pause returns, every thread of the node has stopped: none can still answer a
    // request that arrives next, however busy the machine (the kernel stops them lazily).
    if let Some(pid) = c.pid("n2").filter(|_| cfg!(target_os = "linux")) {
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next());
            assert!(
                matches!(state, Some(Some('T' | 't')) | None),
                "thread {:?} of the paused n2 is still running: {stat}",
                task.file_name()
            );
        }
    }
    let mut conn =
        Conn::open(direct, Duration::from_millis(500)).expect("the socket still accepts");
    let err = conn
        .get("/health")
        .expect_err("a paused node answers nothing");
    assert!(is_timeout(&err), "a hang, not a refusal: {err:?}");
    assert!(
        !is_up(&peer_view(c.addr("n1")), "n2"),
        "peers see it as unresponsive"
    );

    c.resume("n2").unwrap();
    conn.set_timeout(Duration::from_secs(5));
    let (status, _) = Conn::open(direct, Duration::from_secs(5))
        .unwrap()
        .get("/health")
        .unwrap();
    assert_eq!(status, 200, "resumed, it answers again");
}

#[test]
fn a_restarted_node_keeps_its_data_and_its_proxy_address() {
    let c = cluster();
    let addr = c.addr("n2");
    assert_eq!(request(addr, "PUT", "/data/note", "kept").unwrap().0, 200);
    let before = c.pid("n2").unwrap();

    c.restart("n2").unwrap();
    assert_ne!(c.pid("n2").unwrap(), before, "a restart is a new process");
    assert_eq!(c.addr("n2"), addr, "clients keep the same address");
    assert_eq!(get(addr, "/data/note").unwrap(), (200, "kept".to_string()));
    assert!(
        is_up(&peer_view(c.addr("n1")), "n2"),
        "peers reach it at the same address"
    );
}

#[test]
fn a_node_that_panics_fails_the_wait_at_once_with_its_panic_line() {
    let started = Instant::now();
    let err = Cluster::builder(TEST_NODE)
        .nodes(2)
        .arg("--panic-on-start")
        .start()
        .err()
        .expect("a panicking node cannot make a ready cluster");
    let text = err.to_string();
    assert!(
        text.contains("panicked at") && text.contains("asked to panic on start"),
        "the error must show the panic line:\n{text}"
    );
    assert!(text.contains("node n1"), "and name the node:\n{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at once: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_starting_node_is_reachable_once_it_listens_and_answers_once_it_serves() {
    // Every node takes 3 s to start once it listens, as a ring's new member that first tells
    // its peers about itself: they may call it before its ready line.
    let c = Cluster::builder(TEST_NODE)
        .nodes(2)
        .hold_back("n2")
        .args(["--start-ms", "3000"])
        .start()
        .unwrap();
    assert_eq!(get(c.addr("n1"), "/health").unwrap().0, 200, "n1 is up");
    let log = c.log_path("n2");
    std::thread::scope(|s| {
        let joined = s.spawn(|| c.join("n2"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.client_link("n2").upstream().is_none() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                !text.contains("READY") && Instant::now() < deadline,
                "n2's link must lead to it from its listening line on, before its ready line:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("LISTENING id=n2") && !text.contains("READY"),
            "n2 listens and is still starting:\n{text}"
        );
        // Through its link, at once: the request waits in n2's listen queue until it serves.
        let mut conn = Conn::open(c.addr("n2"), Duration::from_secs(10)).unwrap();
        let answer = conn.get("/health");
        assert!(
            matches!(answer, Ok((200, _))),
            "a node that listens is reachable through its link, and answers once it serves: \
             {answer:?}"
        );
        joined.join().unwrap().expect("n2 joins");
    });
}

#[test]
fn a_node_that_crashes_mid_run_is_reported_with_its_panic_line() {
    let c = cluster();
    c.check_alive().expect("healthy cluster");
    let _ = request(c.addr("n3"), "POST", "/crash", "");
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.is_running("n3") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = c.check_alive().expect_err("n3 crashed");
    let text = err.to_string();
    assert!(
        text.contains("node n3 exited unexpectedly (exit code 101)"),
        "{text}"
    );
    assert!(
        text.contains("panic:") && text.contains("crash requested by POST /crash"),
        "{text}"
    );
    let report = c.diagnose();
    assert!(report.contains("--- n1 (running at"), "{report}");
    assert!(report.contains("--- n3 (EXITED exit code 101)"), "{report}");
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let err = Cluster::builder(TEST_NODE).nodes(0).start().err().unwrap();
    assert!(matches!(err, ClusterError::BadRequest(_)) && err.to_string().contains("at least one"));

    let c = Cluster::builder(TEST_NODE).nodes(2).start().unwrap();
    let err = c.kill("n9").unwrap_err();
    assert!(err.to_string().contains("no node \"n9\""), "{err}");
    let err = c.partition(&[&["n1", "n2"], &["n2"]]).unwrap_err();
    assert!(err.to_string().contains("names n2 twice"), "{err}");
    let err = c.partition(&[&["n1"]]).unwrap_err();
    assert!(err.to_string().contains("leaves n2 out"), "{err}");
    let err = c.cut("n1", "n1").unwrap_err();
    assert!(err.to_string().contains("itself"), "{err}");
    let err = c.try_link("n1", "n7").unwrap_err();
    assert!(err.to_string().contains("no node \"n7\""), "{err}");
    let err = c.try_link("n2", "n2").unwrap_err();
    assert!(err.to_string().contains("itself"), "{err}");
    let err = c.try_client_link("x").unwrap_err();
    assert!(err.to_string().contains("nodes are n1, n2"), "{err}");
    c.check_alive().expect("bad requests change nothing");
}

//! Faults as values: each fault a scenario file can name, applied the way a scenario applies
//! it ([`Deployment::apply`] with a [`Fault`] and its [`Hit`]), does what it says on a real
//! cluster. Each test shows the healthy path, the fault, then the heal.

mod support;

use std::time::{Duration, Instant};

use harness::Cluster;
use harness::deployment::Deployment;
use harness::fault::{CLIENT, Fault, Hit};
use support::*;

fn cluster() -> Cluster {
    Cluster::builder(TEST_NODE)
        .nodes(3)
        .seed(7)
        .start()
        .expect("3 test nodes start")
}

fn apply(c: &Cluster, fault: Fault, hit: Hit) {
    Deployment::apply(c, &fault, &hit).unwrap_or_else(|e| panic!("{fault:?} on {hit:?}: {e}"));
}

fn link(from: &str, to: &str) -> Hit {
    Hit::Link {
        from: from.into(),
        to: to.into(),
    }
}

fn nodes(ids: &[&str]) -> Hit {
    Hit::Nodes(ids.iter().map(|s| s.to_string()).collect())
}

#[test]
fn a_scheduled_one_way_cut_stalls_one_direction_until_heal() {
    let c = cluster();
    assert!(
        is_up(&peer_view(c.addr("n1")), "n2"),
        "healthy: n1 reaches n2"
    );

    apply(&c, Fault::Cut, link("n1", "n2"));
    let n1 = peer_view(c.addr("n1"));
    let n2 = peer_view(c.addr("n2"));
    assert!(!is_up(&n1, "n2"), "what n1 opens to n2 stalls: {n1}");
    assert!(is_up(&n2, "n1"), "what n2 opens to n1 does not: {n2}");
    assert!(is_up(&n1, "n3"), "other links are untouched: {n1}");

    apply(&c, Fault::Heal, Hit::Cluster);
    assert!(is_up(&peer_view(c.addr("n1")), "n2"), "healed");
}

#[test]
fn a_scheduled_partition_into_explicit_groups_splits_them_until_heal() {
    let c = cluster();
    let groups = Hit::Groups(vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
    apply(&c, Fault::Partition, groups);
    let n1 = peer_view(c.addr("n1"));
    let n2 = peer_view(c.addr("n2"));
    assert!(!is_up(&n1, "n2") && !is_up(&n1, "n3"), "n1 is alone: {n1}");
    assert!(
        is_up(&n2, "n3") && !is_up(&n2, "n1"),
        "n2 and n3 together: {n2}"
    );
    assert_eq!(
        get(c.addr("n1"), "/health").unwrap().0,
        200,
        "clients still reach n1"
    );

    apply(&c, Fault::Heal, Hit::Cluster);
    let n1 = peer_view(c.addr("n1"));
    assert!(is_up(&n1, "n2") && is_up(&n1, "n3"), "healed: {n1}");
}

#[test]
fn scheduled_loss_into_a_node_loses_connections_from_clients_and_clear_ends_it() {
    let c = cluster();
    assert_eq!(get(c.addr("n1"), "/health").unwrap().0, 200);

    apply(&c, Fault::Loss { p: 0.5 }, nodes(&["n1"]));
    let tries = 40;
    let lost = lost_connections(c.client_link("n1"), c.addr("n1"), tries);
    assert!(
        (8..=32).contains(&lost),
        "loss 50% into n1 (seed 7) lost {lost} of {tries}"
    );

    apply(&c, Fault::Clear, Hit::Cluster);
    for _ in 0..10 {
        let mut conn = Conn::open(c.addr("n1"), Duration::from_millis(500)).unwrap();
        assert_eq!(
            conn.get("/health").unwrap().0,
            200,
            "cleared: nothing is lost"
        );
    }
}

#[test]
fn scheduled_drop_response_applies_the_request_and_loses_the_reply() {
    let c = cluster();
    assert_eq!(request(c.addr("n1"), "PUT", "/data/w", "x").unwrap().0, 200);

    apply(&c, Fault::DropResponse { p: 1.0 }, link(CLIENT, "n1"));
    let err = request(c.addr("n1"), "PUT", "/data/k", "v").unwrap_err();
    assert!(is_closed(&err), "the reply never arrives: {err:?}");

    apply(&c, Fault::Clear, Hit::Cluster);
    let (status, body) = get(c.addr("n1"), "/data/k").unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "v"),
        "the request was applied"
    );
}

#[test]
fn a_scheduled_bandwidth_limit_slows_a_large_body_and_clear_lifts_it() {
    let c = cluster();
    let body = "x".repeat(30_000);
    let time = |c: &Cluster| {
        let started = Instant::now();
        let (status, echoed) = request(c.addr("n1"), "POST", "/echo", &body).unwrap();
        assert_eq!((status, echoed.len()), (200, body.len()));
        started.elapsed()
    };
    let healthy = time(&c);

    apply(
        &c,
        Fault::Bandwidth {
            bytes_per_sec: 20_000,
        },
        nodes(&["n1"]),
    );
    let limited = time(&c);
    assert!(
        limited >= Duration::from_millis(1000) && limited > healthy * 5,
        "30 KB each way at 20 KB/s takes over a second: {limited:?} (healthy {healthy:?})"
    );

    apply(&c, Fault::Clear, Hit::Cluster);
    let cleared = time(&c);
    assert!(
        cleared < limited / 3,
        "lifted: {cleared:?} against {limited:?}"
    );
}

#[test]
fn a_scheduled_reset_breaks_open_connections_once_and_new_ones_work() {
    let c = cluster();
    let mut conn = Conn::open(c.addr("n1"), Duration::from_secs(2)).unwrap();
    assert_eq!(
        conn.get("/health").unwrap().0,
        200,
        "healthy, on an open connection"
    );

    apply(&c, Fault::Reset, nodes(&["n1"]));
    let err = conn.get("/health").unwrap_err();
    assert!(is_closed(&err), "the open connection was reset: {err:?}");
    assert_eq!(
        get(c.addr("n1"), "/health").unwrap().0,
        200,
        "a one-shot: new ones work"
    );
}

#[test]
fn heal_ends_a_blackhole_on_client_links_too() {
    let c = cluster();
    apply(&c, Fault::Blackhole, nodes(&["n2"]));
    let mut conn = Conn::open(c.addr("n2"), Duration::from_millis(300)).unwrap();
    let err = conn.get("/health").unwrap_err();
    assert!(is_timeout(&err), "blackholed: {err:?}");

    apply(&c, Fault::Heal, Hit::Cluster);
    assert_eq!(
        get(c.addr("n2"), "/health").unwrap().0,
        200,
        "healed for clients"
    );
    assert!(is_up(&peer_view(c.addr("n1")), "n2"), "and for peers");
}

#[test]
fn a_standby_node_joins_through_the_proxies_and_a_member_leaves_until_it_joins_again() {
    let c = Cluster::builder(TEST_NODE)
        .nodes(2)
        .standby(1)
        .seed(7)
        .start()
        .expect("2 test nodes start, n3 held back");
    assert_eq!(
        c.ids(),
        ["n1", "n2", "n3"],
        "a standby node has its id from the start"
    );
    assert_eq!(c.members(), ["n1", "n2"]);
    assert!(!c.is_running("n3"), "held back: no process");
    assert!(
        get(c.addr("n3"), "/health").is_err(),
        "nobody serves n3 yet"
    );
    assert!(
        !is_up(&peer_view(c.addr("n1")), "n3"),
        "n1 cannot reach n3 yet"
    );
    assert!(
        c.restart("n9").is_err() && c.join("n9").is_err(),
        "unknown ids are refused"
    );
    let twice = c.join("n1").expect_err("n1 is a member already");
    assert!(twice.to_string().contains("member already"), "{twice}");

    apply(&c, Fault::Join, nodes(&["n3"]));
    assert_eq!(c.members(), ["n1", "n2", "n3"]);
    assert_eq!(
        get(c.addr("n3"), "/health").unwrap().0,
        200,
        "n3 serves clients"
    );
    assert!(
        is_up(&peer_view(c.addr("n1")), "n3"),
        "n1 reaches n3 through the proxy it was given at the start"
    );
    assert!(is_up(&peer_view(c.addr("n3")), "n2"), "and n3 its peers");

    apply(&c, Fault::Leave, nodes(&["n2"]));
    assert_eq!(c.members(), ["n1", "n3"]);
    assert!(!c.is_running("n2"), "a node that left has stopped");
    assert!(!is_up(&peer_view(c.addr("n1")), "n2"), "its peers lose it");
    let again = c.leave("n2").expect_err("n2 has left already");
    assert!(again.to_string().contains("not a member"), "{again}");
    assert!(
        c.diagnose().contains("left the cluster"),
        "{}",
        c.diagnose()
    );

    apply(&c, Fault::Join, nodes(&["n2"]));
    assert_eq!(c.members(), ["n1", "n2", "n3"], "it joins again");
    assert!(is_up(&peer_view(c.addr("n1")), "n2"));
}

#[test]
fn a_cluster_cannot_hold_back_every_node_or_one_it_does_not_have() {
    let none = Cluster::builder(TEST_NODE).nodes(1).hold_back("n1").start();
    let why = none
        .err()
        .expect("every node held back is refused")
        .to_string();
    assert!(why.contains("every node is held back"), "{why}");
    let unknown = Cluster::builder(TEST_NODE).nodes(2).hold_back("n7").start();
    let why = unknown.err().expect("an unknown id is refused").to_string();
    assert!(why.contains("cannot hold back n7"), "{why}");
}

//! The resolver on its own, no cluster and no clock: views handed in at chosen instants.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use split_brain_solution::{Decision, Resolver, Route, Standing, keep_majority, route};

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const FIVE: &[&str] = &["n1", "n2", "n3", "n4", "n5"];
const FOUR: &[&str] = &["n1", "n2", "n3", "n4"];

#[test]
fn keep_majority_keeps_the_larger_side_and_the_lowest_id_on_a_tie() {
    let cases: &[(&[&str], &[&str], Decision, &str)] = &[
        (FIVE, FIVE, Decision::Up, "the whole cluster"),
        (FIVE, &["n3", "n4", "n5"], Decision::Up, "3 of 5"),
        (
            FIVE,
            &["n1", "n2"],
            Decision::Down,
            "2 of 5, even with the lowest id",
        ),
        (FIVE, &["n5"], Decision::Down, "1 of 5"),
        (
            FOUR,
            &["n1", "n2"],
            Decision::Up,
            "2 of 4 holding n1, the lowest id",
        ),
        (FOUR, &["n3", "n4"], Decision::Down, "2 of 4 without n1"),
        (FOUR, &["n1", "n4"], Decision::Up, "2 of 4 holding n1"),
        (&["n1", "n2"], &["n2"], Decision::Down, "1 of 2 without n1"),
        (&["n1", "n2"], &["n1"], Decision::Up, "1 of 2 holding n1"),
        (&["n1"], &["n1"], Decision::Up, "a cluster of one"),
        (
            FIVE,
            &["n4", "n5", "x1", "x2"],
            Decision::Down,
            "2 of 5: ids that are not members do not count",
        ),
    ];
    for (members, reachable, expected, why) in cases {
        let got = keep_majority(&ids(members), &ids(reachable));
        assert_eq!(
            got, *expected,
            "keep_majority({members:?}, sees {reachable:?}): {why}, expected {expected:?}"
        );
    }
}

/// A resolver for n1..n5 with stable-after 1 s, started at `t0`.
fn resolver(t0: Instant) -> Resolver {
    Resolver::new(ids(FIVE), Duration::from_secs(1), t0)
}

#[test]
fn a_view_is_acted_on_only_once_it_has_been_stable_for_stable_after() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut r = resolver(t0);
    let whole = r.observe(at(10), ids(FIVE));
    assert_eq!(whole.decision, Decision::Up, "a healthy cluster is up");
    assert_eq!(whole.view, ids(FIVE));

    // n1 loses sight of n3, n4 and n5 at 100 ms.
    let minority = ids(&["n1", "n2"]);
    for ms in [100, 500, 1090] {
        let standing = r.observe(at(ms), minority.clone());
        assert_eq!(
            standing,
            whole,
            "at {ms} ms the view has been stable for {} ms, less than stable-after (1 s): \
             nothing changes yet",
            ms - 100
        );
    }
    let decided = r.observe(at(1100), minority.clone());
    assert_eq!(
        decided,
        Standing {
            decision: Decision::Down,
            view: minority.clone()
        },
        "after 1 s of the same 2-of-5 view, n1 decides: down, on that view"
    );
    assert_eq!(r.observe(at(5000), minority), decided, "and stays so");

    // Healed: everyone is back, and after 1 s of that view the node is up again.
    assert_eq!(r.observe(at(6000), ids(FIVE)).decision, Decision::Down);
    let back = r.observe(at(7000), ids(FIVE));
    assert_eq!(back.decision, Decision::Up, "1 s after healing, up again");
    assert_eq!(back.view, ids(FIVE));
}

#[test]
fn a_flapping_view_never_moves_the_standing() {
    let t0 = Instant::now();
    let mut r = resolver(t0);
    let whole = r.observe(t0, ids(FIVE));
    // A link that blinks every 300 ms for 10 s: each view lasts less than stable-after.
    for step in 1..=33u64 {
        let seen = if step % 2 == 1 {
            ids(&["n1", "n2"])
        } else {
            ids(&["n1", "n2", "n3"])
        };
        let standing = r.observe(t0 + Duration::from_millis(300 * step), seen);
        assert_eq!(
            standing,
            whole,
            "at {} ms: no view was stable for 1 s, so the node keeps its standing",
            300 * step
        );
    }
}

#[test]
fn a_node_serves_when_it_leads_redirects_to_its_leader_and_refuses_when_down() {
    let standing = |decision, view: &[&str]| Standing {
        decision,
        view: ids(view),
    };
    let majority = standing(Decision::Up, &["n3", "n4", "n5"]);
    assert_eq!(route(&majority, "n3"), Route::Serve, "n3 leads n3, n4, n5");
    assert_eq!(route(&majority, "n5"), Route::Redirect("n3".into()));
    let minority = standing(Decision::Down, &["n1", "n2"]);
    assert_eq!(
        route(&minority, "n1"),
        Route::Refuse,
        "n1 leads a side that stopped"
    );
    assert_eq!(route(&minority, "n2"), Route::Refuse);
    let whole = standing(Decision::Up, FIVE);
    assert_eq!(route(&whole, "n1"), Route::Serve);
    assert_eq!(route(&whole, "n2"), Route::Redirect("n1".into()));
}

//! What sharing costs: a write of a shared class waits for its copies. With share
//! something, one node takes both kinds of write in the same run: logins (copied to both
//! peers) and cart adds (not copied), so their latencies compare like with like.

mod common;

use std::time::{Duration, Instant};

use common::{Shop, start};
use harness::block_on;

/// Writes of each kind timed on plain loopback.
const ROUNDS: usize = 100;

/// The latency put on n1's links to its peers for the second half: each copy crosses it
/// twice (the copy out, the answer back). Long, so that a busy machine's scheduling delays
/// (tens of milliseconds at worst) stay small beside it.
const LINK: Duration = Duration::from_millis(200);

/// Writes of each kind timed behind that latency.
const SLOW_ROUNDS: usize = 5;

#[test]
fn a_shared_write_waits_for_its_copies_and_an_unshared_one_does_not() {
    let cluster = start("something", "union");
    block_on(async {
        let shop = Shop::new(&cluster);
        let login = shop.login("n1", "s-warm", "warm").await;
        assert_eq!(
            login.copied_to,
            ["n2", "n3"],
            "share something: a login must be copied to n2 and n3"
        );
        let added = shop.add("n1", "warm", "tea").await;
        assert!(
            added.copied_to.is_empty(),
            "share something: a cart add was copied to {:?}",
            added.copied_to
        );

        // On loopback, interleaved so both kinds see the same machine.
        let (mut copied, mut local) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let t0 = Instant::now();
            shop.login("n1", &format!("s{i}"), "ada").await;
            copied.push(t0.elapsed());
            let t0 = Instant::now();
            shop.add("n1", &format!("c{}", i % 10), &format!("w{i}"))
                .await;
            local.push(t0.elapsed());
        }
        let (copied_p50, local_p50) = (p50(&mut copied), p50(&mut local));
        println!(
            "on loopback, p50 of {ROUNDS} writes each: a login copied to 2 peers {copied_p50:?}, \
             a cart add kept local {local_p50:?}: copying costs {:?} a write",
            copied_p50.saturating_sub(local_p50)
        );

        // Peers a continent away: every chunk n1 sends them, and every answer, waits LINK.
        for peer in ["n2", "n3"] {
            cluster.link("n1", peer).latency(LINK, Duration::ZERO);
        }
        let (mut copied, mut local) = (Vec::new(), Vec::new());
        for i in 0..SLOW_ROUNDS {
            let session = format!("s-far-{i}");
            let t0 = Instant::now();
            let login = shop.login("n1", &session, "ada").await;
            let took = t0.elapsed();
            copied.push(took);
            assert_eq!(login.copied_to, ["n2", "n3"], "login {session}");
            assert!(
                took >= 2 * LINK,
                "login {session} was acknowledged after {took:?}, before its copies could have \
                 crossed a {LINK:?} link and come back: the acknowledgement must wait for them"
            );
            for peer in ["n2", "n3"] {
                assert!(
                    shop.holds_session(peer, &session).await,
                    "login {session} was acknowledged before {peer} held its copy"
                );
            }
            let t0 = Instant::now();
            shop.add("n1", "far", &format!("far-{i}")).await;
            local.push(t0.elapsed());
        }
        let (copied_p50, local_p50) = (p50(&mut copied), p50(&mut local));
        println!(
            "behind {LINK:?} links, p50 of {SLOW_ROUNDS} writes each: a login {copied_p50:?}, \
             a cart add {local_p50:?}"
        );
        // Both copies cross their links at the same time: a write waits for the slowest copy
        // (2 x LINK), not for the sum of them (4 x LINK, which no machine can beat).
        assert!(
            copied_p50 < 3 * LINK,
            "behind {LINK:?} links a login's p50 was {copied_p50:?}: the two copies must go out \
             at once (about {:?}), not one after the other ({:?} or more)",
            2 * LINK,
            4 * LINK
        );
        assert!(
            local_p50 < LINK,
            "a cart add (not shared) took {local_p50:?} at p50: an unshared write must not wait \
             for the peers"
        );
    });
}

/// The median of `times`.
fn p50(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

//! The fuse and the bulkhead on their own: no node, no network. The fuse runs on a clock
//! that moves only when the test moves it, so every time here is exact on any machine.

use std::sync::Arc;
use std::time::Duration;

use circuit_breakers::{Ask, Bulkhead, Clock, Fuse, ManualClock, Policy};

const POLICY: Policy = Policy {
    tolerate: 3,
    window: Duration::from_millis(1000),
    reset: Duration::from_millis(500),
};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn new_fuse() -> (Fuse<ManualClock>, ManualClock) {
    let clock = ManualClock::default();
    (Fuse::with_clock(POLICY, clock.clone()), clock)
}

#[test]
fn a_fuse_tolerates_its_melts_within_the_window_then_blows() {
    let (fuse, clock) = new_fuse();
    assert_eq!(fuse.ask(), Ask::Ok, "a new fuse is ok");
    assert_eq!(fuse.ask(), Ask::Ok, "asking does not melt it");

    // Three melts 100 ms apart are tolerated; the fourth within the window blows it.
    for i in 1..=3 {
        fuse.melt();
        assert_eq!(
            fuse.ask(),
            Ask::Ok,
            "{i} melt(s): the fuse tolerates {}",
            POLICY.tolerate
        );
        clock.advance(ms(100));
    }
    fuse.melt();
    assert_eq!(
        fuse.ask(),
        Ask::Blown,
        "a fourth melt within {:?} blows a fuse that tolerates 3",
        POLICY.window
    );
    let stats = fuse.stats();
    assert!(
        stats.blown && stats.blows == 1 && stats.melts == 4,
        "{stats:?}"
    );

    // Melts spread wider than the window never add up: three a window, forever.
    let (fuse, clock) = new_fuse();
    for round in 0..10 {
        for _ in 0..3 {
            fuse.melt();
            clock.advance(ms(50));
        }
        assert_eq!(
            fuse.ask(),
            Ask::Ok,
            "round {round}: three melts per window are tolerated however long it goes on"
        );
        assert_eq!(fuse.stats().melts_in_window, 3, "round {round}");
        clock.advance(POLICY.window);
        assert_eq!(
            fuse.stats().melts_in_window,
            0,
            "a window later, none counts"
        );
    }

    // A melt exactly one window old no longer counts; one a millisecond younger does.
    let (fuse, clock) = new_fuse();
    fuse.melt();
    clock.advance(ms(1));
    for _ in 0..2 {
        fuse.melt();
    }
    clock.advance(ms(999));
    fuse.melt();
    assert_eq!(
        fuse.ask(),
        Ask::Ok,
        "the first melt is 1000 ms old: out of the window, so only 3 count"
    );
    fuse.melt();
    assert_eq!(
        fuse.ask(),
        Ask::Blown,
        "the 2nd and 3rd melts are 999 ms old: with two new ones, 4 in the window"
    );
}

#[test]
fn a_blown_fuse_lets_one_probe_through_per_reset_interval() {
    let (fuse, clock) = new_fuse();
    for _ in 0..4 {
        fuse.melt();
    }
    assert_eq!(fuse.ask(), Ask::Blown, "four melts at once blow it");

    // The calls that were in flight when it blew time out too: a blown fuse stays as it is,
    // and its first probe is still due one reset interval after it blew.
    clock.advance(ms(100));
    for _ in 0..10 {
        fuse.melt();
    }

    // Until the reset interval is up, everyone is refused.
    for _ in 0..399 {
        clock.advance(ms(1));
        assert_eq!(
            fuse.ask(),
            Ask::Blown,
            "at {:?} after blowing, the reset interval ({:?}) is not up",
            clock.now(),
            POLICY.reset
        );
    }
    clock.advance(ms(1));
    assert_eq!(
        fuse.ask(),
        Ask::Ok,
        "one reset interval after blowing, one caller is let through as the probe"
    );
    assert_eq!(
        fuse.ask(),
        Ask::Blown,
        "a probe is out: the next caller is refused"
    );
    let stats = fuse.stats();
    assert_eq!(
        (stats.blows, stats.melts, stats.probes, stats.refused),
        (1, 14, 1, 401),
        "(blows, melts, probes, refusals): the melts while blown changed nothing: {stats:?}"
    );

    // The probe fails; the dependency stays broken for 10 more reset intervals while a caller
    // asks every millisecond: exactly one probe per interval, each one interval after the last.
    fuse.melt();
    let mut probes = Vec::new();
    for t in 1..=5000 {
        clock.advance(ms(1));
        if fuse.ask() == Ask::Ok {
            probes.push(t);
            fuse.melt();
        }
    }
    assert_eq!(
        probes,
        [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000],
        "ms after the first probe at which the next ones went: one per reset interval"
    );
    let stats = fuse.stats();
    assert_eq!(
        (stats.blows, stats.probes),
        (1, 11),
        "a failed probe keeps the fuse blown, it does not blow it again: {stats:?}"
    );
}

#[test]
fn a_probe_that_gets_an_answer_closes_the_fuse() {
    let (fuse, clock) = new_fuse();
    fuse.heal();
    assert_eq!(fuse.ask(), Ask::Ok, "healing an ok fuse leaves it ok");
    for _ in 0..4 {
        fuse.melt();
    }
    assert_eq!(fuse.ask(), Ask::Blown);
    clock.advance(POLICY.reset);
    assert_eq!(fuse.ask(), Ask::Ok, "the probe");
    fuse.heal();
    for _ in 0..100 {
        assert_eq!(
            fuse.ask(),
            Ask::Ok,
            "the probe got an answer: closed for all"
        );
    }

    // Closed again, it starts from no melts: it tolerates three more before it blows.
    for _ in 0..3 {
        fuse.melt();
    }
    assert_eq!(
        fuse.ask(),
        Ask::Ok,
        "the melts from before it blew no longer count"
    );
    fuse.melt();
    assert_eq!(fuse.ask(), Ask::Blown, "and the fourth blows it again");
    let stats = fuse.stats();
    assert_eq!((stats.blows, stats.heals), (2, 1), "{stats:?}");
}

#[test]
fn a_full_bulkhead_refuses_at_once_and_a_returned_worker_is_reused() {
    let bulkhead = Bulkhead::new(3);
    let first = bulkhead.try_acquire();
    assert!(first.is_some(), "a free bulkhead hands out a worker");
    drop(first);
    assert_eq!(bulkhead.stats().busy, 0, "a dropped worker goes back");

    let workers: Vec<_> = (0..3).map(|_| bulkhead.try_acquire()).collect();
    assert!(
        workers.iter().all(Option::is_some),
        "a bulkhead of 3 hands out 3 workers"
    );
    assert!(
        bulkhead.try_acquire().is_none(),
        "all 3 are busy: the 4th caller is refused at once"
    );
    assert!(bulkhead.try_acquire().is_none(), "and the 5th");
    drop(workers);
    assert!(
        bulkhead.try_acquire().is_some(),
        "the workers are back: callers get one again"
    );
    let stats = bulkhead.stats();
    assert_eq!(
        (stats.busy, stats.peak, stats.granted, stats.refused),
        (0, 3, 5, 2),
        "busy now, most at once, handed out, refused: {stats:?}"
    );

    // Eight threads grab and drop workers as fast as they can: never more than 3 at once.
    let bulkhead = Arc::new(Bulkhead::new(3));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let bulkhead = bulkhead.clone();
            std::thread::spawn(move || {
                let mut got = 0;
                for _ in 0..20_000 {
                    if let Some(worker) = bulkhead.try_acquire() {
                        got += 1;
                        std::hint::black_box(&worker);
                    }
                }
                got
            })
        })
        .collect();
    let got: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let stats = bulkhead.stats();
    assert!(
        stats.peak <= 3,
        "{} workers were out at once from a bulkhead of 3",
        stats.peak
    );
    assert_eq!(stats.busy, 0, "every worker came back");
    assert_eq!(stats.granted, got);
    assert_eq!(stats.granted + stats.refused, 8 * 20_000);
}

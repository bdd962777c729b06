//! The two decisions, one at a time, without a node: how AIMD moves the limit after a
//! window, and when the alarm's watermarks set and clear it. Then the alarm against a noisy
//! signal, with and without hysteresis, and the limiter as a whole in one process.

use std::time::Duration;

use adaptive_limits::{Aimd, Alarm, Limiter, Transition, Watermarks, Window};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const AIMD: Aimd = Aimd {
    min: 1.0,
    max: 50.0,
    target: Duration::from_millis(100),
    increase: 1.0,
    backoff: 0.8,
};

fn window(latency_ms: Option<u64>, peak_in_flight: usize) -> Window {
    Window {
        served: latency_ms.map_or(0, |_| 10),
        latency: latency_ms.map(Duration::from_millis),
        peak_in_flight,
    }
}

#[test]
fn aimd_adds_while_in_time_and_in_use_and_cuts_by_a_factor_over_target() {
    // (limit, mean latency in ms, peak in flight) -> the next limit.
    let cases = [
        // In time and in use: one more.
        ((10.0, Some(50), 10), 11.0),
        ((10.0, Some(100), 5), 11.0), // exactly the target is in time; 2 x 5 >= 10 is in use
        ((10.5, Some(20), 8), 11.5),
        // In time but not in use (2 x 4 < 10): a limit nobody reaches must not grow.
        ((10.0, Some(50), 4), 10.0),
        ((10.0, Some(50), 0), 10.0),
        // Over target: cut by the backoff, in use or not.
        ((10.0, Some(101), 10), 8.0),
        ((20.0, Some(400), 20), 16.0),
        ((10.0, Some(150), 0), 8.0),
        // Nothing served: no news.
        ((10.0, None, 10), 10.0),
        ((10.0, None, 0), 10.0),
        // Bounded by min and max.
        ((50.0, Some(50), 50), 50.0),
        ((49.5, Some(50), 50), 50.0),
        ((1.0, Some(900), 1), 1.0),
        ((1.1, Some(900), 1), 1.0),
    ];
    for ((limit, latency, peak), want) in cases {
        let got = AIMD.next_limit(limit, &window(latency, peak));
        assert!(
            (got - want).abs() < 1e-9,
            "a limit of {limit} after a window of latency {latency:?} ms with at most {peak} \
             in flight (target 100 ms, +1, x0.8, bounds 1..50): want {want}, got {got}"
        );
    }
    // A limit out of its bounds (a flag, a fixed control made adaptive) comes back into them.
    let low = Aimd { min: 4.0, ..AIMD };
    assert_eq!(low.next_limit(2.0, &window(None, 0)), 4.0);
    assert_eq!(AIMD.next_limit(80.0, &window(None, 0)), 50.0);
}

#[test]
fn aimd_settles_near_the_optimum_of_a_simulated_service_and_follows_it_when_it_halves() {
    // A service of 4 workers: with L in service, each request takes L s / 4 (at least s).
    // The best limit for a 100 ms target is 100 ms x 4 / s: 20 at 20 ms, 10 at 40 ms.
    let latency = |limit: f64, s: f64| Duration::from_secs_f64((limit.floor() / 4.0).max(1.0) * s);
    let mut limit = 4.0;
    let mut seen = Vec::new();
    for step in 0..200 {
        let s = if step < 100 { 0.020 } else { 0.040 };
        let w = Window {
            served: 10,
            latency: Some(latency(limit, s)),
            peak_in_flight: limit.floor() as usize,
        };
        limit = AIMD.next_limit(limit, &w);
        seen.push(limit);
    }
    let mean = |r: std::ops::Range<usize>| seen[r.clone()].iter().sum::<f64>() / r.len() as f64;
    let (before, after) = (mean(50..100), mean(150..200));
    assert!(
        (15.0..=23.0).contains(&before),
        "at 20 ms the limit should settle near 20, it averaged {before:.1}: {seen:?}"
    );
    assert!(
        (7.5..=11.5).contains(&after),
        "at 40 ms the limit should settle near 10, it averaged {after:.1}: {seen:?}"
    );
}

#[test]
fn watermarks_set_above_high_clear_below_low_and_do_nothing_between() {
    let marks = Watermarks {
        high: 0.2,
        low: 0.05,
    };
    use Transition::*;
    // (active, value) -> the transition.
    let cases = [
        ((false, 0.0), None),
        ((false, 0.1), None),
        ((false, 0.2), None), // exactly high: not above it
        ((false, 0.21), Some(Set)),
        ((false, 0.9), Some(Set)),
        ((true, 0.9), None), // set already: a transition is a change
        ((true, 0.1), None),
        ((true, 0.05), None), // exactly low: not below it
        ((true, 0.04), Some(Clear)),
        ((true, 0.0), Some(Clear)),
        ((false, 0.01), None), // clear already
    ];
    for ((active, value), want) in cases {
        assert_eq!(
            marks.decide(active, value),
            want,
            "an alarm {} seeing {value} (high 0.2, low 0.05)",
            if active { "set" } else { "clear" }
        );
    }
}

#[test]
fn a_noisy_signal_between_the_watermarks_sets_the_alarm_once_and_clears_it_once() {
    let seed = std::env::var("LAB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let mut rng = StdRng::seed_from_u64(seed);
    // Calm (0 to 4% refused), then overload whose share wobbles across the high watermark
    // and down to just over the low one (6% to 40%), then calm again: 100 samples each.
    let mut signal = Vec::new();
    for (from, to) in [(0.0, 0.04), (0.06, 0.40), (0.0, 0.04)] {
        for _ in 0..100 {
            signal.push(rng.random_range(from..to));
        }
    }
    let transitions = |marks: Watermarks| {
        let mut alarm = Alarm::new("overload", marks);
        signal
            .iter()
            .enumerate()
            .filter_map(|(i, &v)| alarm.observe(v, None).map(|t| (i, t)))
            .collect::<Vec<_>>()
    };
    let hysteresis = transitions(Watermarks {
        high: 0.2,
        low: 0.05,
    });
    assert_eq!(
        hysteresis.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
        [Transition::Set, Transition::Clear],
        "with watermarks at 20% and 5%, a signal that wobbles between them sets the alarm once \
         and clears it once (seed {seed}; LAB_SEED=<n> replays another): {hysteresis:?}"
    );
    let (set_at, clear_at) = (hysteresis[0].0, hysteresis[1].0);
    assert!(
        (100..110).contains(&set_at) && (200..210).contains(&clear_at),
        "it sets within 10 samples of the overload and clears within 10 of the calm: \
         {hysteresis:?} (seed {seed})"
    );

    // The control: one threshold (high = low = 20%) flaps with every wobble across it.
    let single = transitions(Watermarks {
        high: 0.2,
        low: 0.2,
    });
    let sets = single.iter().filter(|(_, t)| *t == Transition::Set).count();
    assert!(
        sets >= 10,
        "a single threshold should flap on this noise (seed {seed}): it set {sets} times"
    );
    println!(
        "seed {seed}: hysteresis set at {set_at} and cleared at {clear_at}; a single threshold \
         set {sets} times"
    );
}

#[test]
fn the_limiter_admits_up_to_its_limit_refuses_the_rest_and_its_alarm_follows_the_refusals() {
    let metrics = node_kit::Metrics::default();
    let alarm = Alarm::new(
        "overload",
        Watermarks {
            high: 0.2,
            low: 0.05,
        },
    );
    alarm.publish(&metrics);
    let limiter = Limiter::new(4.0, Some(AIMD), alarm, Some(metrics.clone()));
    let tickets: Vec<_> = (0..4).map(|_| limiter.try_enter()).collect();
    assert!(
        tickets.iter().all(Option::is_some),
        "4 of a limit of 4 are admitted"
    );
    assert!(limiter.try_enter().is_none(), "a fifth is refused");
    let f = limiter.figures(AIMD.target);
    assert_eq!((f.in_flight, f.admitted, f.refused), (4, 4, 1));
    // 1 of 5 refused is not over 20%: the alarm stays clear; the window was in use and
    // nothing ended in it, so the limit stays.
    assert_eq!(limiter.end_window(), None);
    assert_eq!(limiter.figures(AIMD.target).limit, 4.0);
    // Two more refused: 3 of 7 over the last windows.
    assert!(limiter.try_enter().is_none() && limiter.try_enter().is_none());
    assert_eq!(limiter.end_window(), Some(Transition::Set));
    let text = metrics.render();
    assert!(text.contains("alarm_overload_active 1"), "{text}");
    assert!(text.contains("alarm_overload_set_total 1"), "{text}");
    // Served fast and in use: the limit grows by one.
    drop(tickets);
    assert_eq!(limiter.end_window(), None, "3 of 7 refused still: set");
    assert_eq!(limiter.figures(AIMD.target).limit, 5.0);
    // Windows of admitted arrivals only dilute the refusals below 5%: cleared, once.
    let mut cleared = Vec::new();
    for _ in 0..6 {
        for _ in 0..20 {
            drop(limiter.try_enter());
        }
        cleared.extend(limiter.end_window());
    }
    assert_eq!(cleared, [Transition::Clear]);
    let text = metrics.render();
    assert!(text.contains("alarm_overload_active 0"), "{text}");
    assert!(text.contains("alarm_overload_cleared_total 1"), "{text}");
    assert!(text.contains("limit_current 5"), "{text}");
    // Windows with no arrivals are no news: the alarm does not move on them.
    assert_eq!(limiter.end_window(), None);
    let f = limiter.figures(AIMD.target);
    assert_eq!(
        (f.alarm.sets, f.alarm.clears, f.alarm.active),
        (1, 1, false)
    );
}

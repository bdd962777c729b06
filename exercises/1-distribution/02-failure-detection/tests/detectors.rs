//! The two detectors on their own, fed made-up traces: no node, no network, no clock.
//!
//! Both detectors take the time as an argument (the tick detector does not even need it),
//! so these tests replay minutes of heartbeats in milliseconds and give the same answer on
//! every machine.

use std::time::{Duration, Instant};

use failure_detection::{PhiConfig, PhiDetector, SILENT_TICKS_FOR_DOWN, TickDetector, Verdict};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// T for the tick detector's trace, in milliseconds. The detector only counts ticks, so the
/// unit does not matter; a second reads well.
const T: u64 = 1000;
/// How far a frame may arrive from its schedule in the tick traces, in milliseconds.
const JITTER: u64 = 20;

#[test]
fn a_silent_peer_is_down_between_three_quarters_and_five_quarters_of_t() {
    let interval = T / 4;
    let mut rng = StdRng::seed_from_u64(7);

    // Healthy first: a peer whose frames arrive every T/4, give or take the jitter, for a
    // whole minute, is never declared down.
    let frames = frames_until(60 * T, 0, &mut rng);
    if let Some(at) = first_down(&frames, 60 * T) {
        panic!(
            "a peer answering every {interval} ms (±{JITTER} ms) was declared down at {at} ms; only four silent tick intervals in a row make a peer down"
        );
    }

    // Then the peer goes silent, at every position relative to our ticks and its own
    // frames. net_ticktime's promise: down between 0.75 T and 1.25 T after it went quiet
    // (minus the jitter: its last frame may have come a little early).
    let (low, high) = (3 * T / 4 - 2 * JITTER, 5 * T / 4);
    let (mut earliest, mut latest) = (u64::MAX, 0);
    for phase in (0..interval).step_by(10) {
        for offset in (0..interval).step_by(9) {
            let silent_at = 10 * T + offset;
            let frames = frames_until(silent_at, phase, &mut rng);
            let down_at = first_down(&frames, silent_at + 3 * T).unwrap_or_else(|| {
                panic!("a peer silent from {silent_at} ms on was still up 3 T later (T = {T} ms)")
            });
            let after = down_at.checked_sub(silent_at).unwrap_or_else(|| {
                panic!("the peer was declared down at {down_at} ms, before it went silent at {silent_at} ms")
            });
            assert!(
                (low..=high).contains(&after),
                "a peer silent from {silent_at} ms (frames at phase {phase} ms) was declared down {after} ms later; with ticks every T/4 = {interval} ms it must be between {low} and {high} ms (0.75 T to 1.25 T)"
            );
            earliest = earliest.min(after);
            latest = latest.max(after);
        }
    }
    println!(
        "T = {T} ms: a silent peer was declared down between {earliest} and {latest} ms after it went quiet, depending on where its last frame fell"
    );
    assert!(
        earliest < 4 * T / 5 && latest > 6 * T / 5,
        "detection spanned only {earliest}..{latest} ms; counting whole tick intervals should spread it over most of 0.75 T..1.25 T"
    );

    // And once it speaks again, the next tick says up.
    let mut detector = TickDetector::new();
    while detector.tick() == Verdict::Up {}
    detector.heard();
    assert_eq!(
        detector.tick(),
        Verdict::Up,
        "a peer heard from during the last tick interval must be up again"
    );
    assert_eq!(
        detector.silent_ticks(),
        0,
        "hearing from a peer restarts the count of silent ticks"
    );
}

#[test]
fn the_silent_count_climbs_one_per_silent_tick_and_restarts_when_heard() {
    // A fresh link counts as heard: the first tick finds the peer up, nothing silent yet.
    let mut detector = TickDetector::new();
    assert_eq!(detector.tick(), Verdict::Up, "a peer just connected is up");
    assert_eq!(
        detector.silent_ticks(),
        0,
        "the connection itself was heard"
    );

    // The cluster view shows this count: an instructor watches it climb to four.
    for silent in 1..=SILENT_TICKS_FOR_DOWN + 2 {
        let verdict = detector.tick();
        assert_eq!(
            detector.silent_ticks(),
            silent,
            "after {silent} silent tick interval(s) in a row the detector counts {}",
            detector.silent_ticks()
        );
        let expected = if silent >= SILENT_TICKS_FOR_DOWN {
            Verdict::Down
        } else {
            Verdict::Up
        };
        assert_eq!(
            verdict, expected,
            "after {silent} silent tick interval(s) the peer must be {expected:?} (down from {SILENT_TICKS_FOR_DOWN} on)"
        );
    }

    // Heard once: the count starts again from zero, not from where it was.
    detector.heard();
    assert_eq!(detector.tick(), Verdict::Up);
    assert_eq!(detector.tick(), Verdict::Up);
    assert_eq!(
        detector.silent_ticks(),
        1,
        "one silent interval after the peer was heard again counts 1"
    );
}

/// Phi of a normally distributed interval, computed apart from the detector (which uses
/// Akka's logistic approximation of the tail): a silence of mean + k sigma is longer than an
/// interval with probability erfc(k / sqrt 2) / 2, so phi = -log10(erfc(k / sqrt 2) / 2).
/// From Python's `math.erfc`: `-math.log10(math.erfc(k / math.sqrt(2)) / 2)`.
const NORMAL_TAIL_PHI: [(f64, f64); 4] = [
    (-1.0, 0.07503),                  // 84% of intervals are longer: no surprise
    (0.0, std::f64::consts::LOG10_2), // at the mean, a coin toss: 0.30103
    (1.0, 0.79955),
    (2.0, 1.64302), // 2.3% of intervals are longer
];
/// How far Akka's approximation may be from the exact tail up to 2 sigma (it is within
/// 0.0002 there).
const APPROXIMATION: f64 = 0.005;

/// A detector whose window holds exactly the intervals 80, 120, 80, 120 ms: mean 100 ms,
/// standard deviation 20 ms (the made-up first intervals pushed out, the floor below 20 ms).
/// Returns it with the time of its last heartbeat.
fn detector_with_mean_100_and_sigma_20(acceptable_pause: Duration) -> (PhiDetector, Instant) {
    let config = PhiConfig {
        max_samples: 4,
        min_std_dev: Duration::from_millis(1),
        acceptable_pause,
        ..PhiConfig::for_interval(HEARTBEAT)
    };
    let mut phi = PhiDetector::new(config);
    let t0 = Instant::now();
    let mut last = t0;
    for at in [0, 80, 200, 280, 400] {
        last = t0 + Duration::from_millis(at);
        phi.heartbeat(last);
    }
    (phi, last)
}

#[test]
fn phi_is_the_normal_distributions_tail_at_the_mean_and_two_sigma_later() {
    let (phi, last) = detector_with_mean_100_and_sigma_20(Duration::ZERO);
    for (k, expected) in NORMAL_TAIL_PHI {
        let silence = 100.0 + 20.0 * k;
        let found = phi.phi(last + Duration::from_secs_f64(silence / 1000.0));
        assert!(
            (found - expected).abs() < APPROXIMATION,
            "intervals of 80, 120, 80, 120 ms have mean 100 ms and sigma 20 ms, so after {silence} ms of silence (mean {k:+} sigma) phi should be {expected:.3}, got {found:.3}: are the mean and the standard deviation of the window what phi_of gets?"
        );
    }
}

#[test]
fn an_acceptable_pause_shifts_phi_later_by_exactly_the_pause() {
    let pause = Duration::from_millis(50);
    let (plain, plain_last) = detector_with_mean_100_and_sigma_20(Duration::ZERO);
    let (paused, paused_last) = detector_with_mean_100_and_sigma_20(pause);
    // The pause is added to the mean: the peer may be that much later without surprise.
    let at_mean = paused.phi(paused_last + Duration::from_millis(150));
    assert!(
        (at_mean - 2f64.log10()).abs() < APPROXIMATION,
        "with a mean interval of 100 ms and an acceptable pause of 50 ms, phi after 150 ms of silence should be log10(2) = 0.301 (a coin toss), got {at_mean:.3}: add the pause to the mean"
    );
    for ms in [100, 140, 180, 250] {
        let silence = Duration::from_millis(ms);
        let shifted = paused.phi(paused_last + silence + pause);
        let unshifted = plain.phi(plain_last + silence);
        assert!(
            (shifted - unshifted).abs() < 1e-9,
            "phi after {} ms with a 50 ms acceptable pause is {shifted:.4}, but without the pause it is {unshifted:.4} after {ms} ms: the pause must shift the whole curve later by exactly the pause",
            ms + 50
        );
    }
}

/// The trace of the phi test: one heartbeat every 100 ms for three minutes.
const HEARTBEAT: Duration = Duration::from_millis(100);
const TRACE_LENGTH: Duration = Duration::from_secs(180);
/// The calm network of the first minute delays each heartbeat by 0..10 ms; then congestion
/// builds up over 20 s to delays of 40 ms on average (exponentially distributed, so now and
/// then one is much later), lasts until 2 minutes, and calm returns.
const CONGESTION: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(120));
const CONGESTION_RAMP: Duration = Duration::from_secs(20);
const CONGESTED_MEAN_DELAY_MS: f64 = 40.0;
/// The one real failure: the peer hangs for 2 s and sends nothing.
const PAUSE: (Duration, Duration) = (Duration::from_secs(150), Duration::from_secs(152));
/// The naive detector: suspect a peer silent for longer than twice the heartbeat interval.
const FIXED_TIMEOUT: Duration = Duration::from_millis(200);
/// Both detectors are asked for their verdict this often.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

#[test]
fn phi_raises_far_fewer_false_suspicions_than_a_fixed_timeout() {
    // Healthy first: with heartbeats exactly 100 ms apart, phi is 0 before the first one,
    // about 0 just after one, log10(2) at the mean interval (a later heartbeat is then a
    // coin toss), and past the threshold well before three intervals of silence.
    let config = PhiConfig::for_interval(HEARTBEAT);
    let mut phi = PhiDetector::new(config.clone());
    let t0 = Instant::now();
    assert_eq!(
        phi.phi(t0),
        0.0,
        "phi before any heartbeat must be 0: nothing to be surprised about yet"
    );
    let mut last = t0;
    for k in 0..20 {
        last = t0 + HEARTBEAT * k;
        phi.heartbeat(last);
    }
    let phi_after = |ms: u64| phi.phi(last + Duration::from_millis(ms));
    assert!(
        phi_after(0) < 0.1,
        "phi right after a heartbeat is {}, expected about 0",
        phi_after(0)
    );
    let at_mean = phi_after(100);
    assert!(
        (at_mean - 2f64.log10()).abs() < 0.02,
        "phi one mean interval (100 ms) after a heartbeat is {at_mean}, expected log10(2) = 0.301: is the mean of the intervals right?"
    );
    assert!(
        phi_after(150) > at_mean && phi_after(200) > phi_after(150),
        "phi must grow with the silence: {} at 150 ms, {} at 200 ms",
        phi_after(150),
        phi_after(200)
    );
    assert!(
        phi.is_suspected(last + Duration::from_millis(300)),
        "after 300 ms of silence from a peer that beat every 100 ms like clockwork phi is {}, below the threshold {}",
        phi_after(300),
        config.threshold
    );

    // Then the same trace through both detectors, three seeds.
    for seed in [7, 42, 2024] {
        let trace = heartbeat_trace(seed);
        let phi = replay(&trace, PhiDetector::new(config.clone()));
        let fixed = replay(
            &trace,
            FixedTimeout {
                timeout: FIXED_TIMEOUT,
                last: None,
            },
        );
        println!(
            "seed {seed}: a fixed {} ms timeout raised {} false suspicions and saw the pause after {}; phi >= {} raised {} and saw it after {}",
            FIXED_TIMEOUT.as_millis(),
            fixed.false_suspicions.len(),
            ms(fixed.pause_seen_after),
            config.threshold,
            phi.false_suspicions.len(),
            ms(phi.pause_seen_after)
        );
        let seen = phi.pause_seen_after.unwrap_or_else(|| {
            panic!("seed {seed}: phi never suspected the peer during its 2 s pause; a detector must notice a real failure")
        });
        assert!(
            seen < Duration::from_millis(500),
            "seed {seed}: phi suspected the 2 s pause only {seen:?} after it began; on a calm network it should take a few heartbeat intervals"
        );
        let quiet = phi
            .false_suspicions
            .iter()
            .filter(|at| **at < CONGESTION.0)
            .count();
        assert_eq!(
            quiet,
            0,
            "seed {seed}: phi suspected a healthy peer on the calm network, at {:?} into the trace",
            phi.false_suspicions.first()
        );
        // The negative control: the fixed timeout, on the same trace.
        assert!(
            fixed.pause_seen_after.is_some() && fixed.false_suspicions.len() >= 10,
            "seed {seed}: the trace should make a {FIXED_TIMEOUT:?} timeout raise at least 10 false suspicions (it raised {}): the trace is too gentle to compare anything",
            fixed.false_suspicions.len()
        );
        assert!(
            phi.false_suspicions.len() * 3 <= fixed.false_suspicions.len(),
            "seed {seed}: phi raised {} false suspicions (at {:?} into the trace), the fixed timeout {}; phi should raise at most a third as many, because it learns how much the intervals vary",
            phi.false_suspicions.len(),
            phi.false_suspicions,
            fixed.false_suspicions.len()
        );
    }
}

/// A detector as the replay sees it.
trait Detector {
    fn heartbeat(&mut self, at: Instant);
    fn is_suspected(&self, now: Instant) -> bool;
}

impl Detector for PhiDetector {
    fn heartbeat(&mut self, at: Instant) {
        PhiDetector::heartbeat(self, at);
    }
    fn is_suspected(&self, now: Instant) -> bool {
        PhiDetector::is_suspected(self, now)
    }
}

/// The naive detector: silent for longer than a fixed timeout means suspected.
struct FixedTimeout {
    timeout: Duration,
    last: Option<Instant>,
}

impl Detector for FixedTimeout {
    fn heartbeat(&mut self, at: Instant) {
        self.last = Some(at);
    }
    fn is_suspected(&self, now: Instant) -> bool {
        self.last.is_some_and(|last| now - last > self.timeout)
    }
}

/// What a detector made of a trace.
struct Judged {
    /// When each suspicion of a healthy peer began, from the trace's start.
    false_suspicions: Vec<Duration>,
    /// How long after the real pause began the detector first suspected the peer.
    pause_seen_after: Option<Duration>,
}

/// Feeds `trace` (arrival times from its start) to `detector`, asking for a verdict every
/// [`SAMPLE_EVERY`]; every time the verdict turns to suspected, that is one suspicion.
fn replay(trace: &[Duration], mut detector: impl Detector) -> Judged {
    let start = Instant::now();
    let resumed = trace
        .iter()
        .find(|at| **at >= PAUSE.1)
        .copied()
        .unwrap_or(TRACE_LENGTH);
    let mut judged = Judged {
        false_suspicions: Vec::new(),
        pause_seen_after: None,
    };
    let mut next = trace.iter().peekable();
    let mut suspected = false;
    let mut now = Duration::ZERO;
    while now < TRACE_LENGTH {
        while let Some(at) = next.next_if(|at| **at <= now) {
            detector.heartbeat(start + *at);
        }
        let verdict = detector.is_suspected(start + now);
        if verdict && !suspected {
            if (PAUSE.0..resumed).contains(&now) {
                judged.pause_seen_after.get_or_insert(now - PAUSE.0);
            } else {
                judged.false_suspicions.push(now);
            }
        }
        suspected = verdict;
        now += SAMPLE_EVERY;
    }
    judged
}

/// Arrival times of a peer's heartbeats, seeded: sent every [`HEARTBEAT`], each delayed by
/// the network of its moment, delivered in order (TCP never reorders), none sent during the
/// pause.
fn heartbeat_trace(seed: u64) -> Vec<Duration> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut arrivals = Vec::new();
    let mut previous = Duration::ZERO;
    let mut sent = HEARTBEAT;
    while sent < TRACE_LENGTH {
        if !(PAUSE.0..PAUSE.1).contains(&sent) {
            let delay_ms = if (CONGESTION.0..CONGESTION.1).contains(&sent) {
                let built_up = (sent - CONGESTION.0).as_secs_f64() / CONGESTION_RAMP.as_secs_f64();
                let mean = CONGESTED_MEAN_DELAY_MS * built_up.min(1.0);
                -mean * (1.0 - rng.random::<f64>()).ln()
            } else {
                rng.random_range(0.0..10.0)
            };
            let arrival = (sent + Duration::from_secs_f64(delay_ms / 1000.0)).max(previous);
            arrivals.push(arrival);
            previous = arrival;
        }
        sent += HEARTBEAT;
    }
    arrivals
}

fn ms(after: Option<Duration>) -> String {
    after.map_or("never".into(), |d| format!("{} ms", d.as_millis()))
}

/// Frame arrival times (ms) of a peer that sends every T/4 from `phase` on, each off its
/// schedule by up to ±[`JITTER`], and falls silent at `silent_at`.
fn frames_until(silent_at: u64, phase: u64, rng: &mut StdRng) -> Vec<u64> {
    (0..)
        .map(|k| {
            let scheduled = k * (T / 4) + phase;
            (scheduled + rng.random_range(0..=2 * JITTER)).saturating_sub(JITTER)
        })
        .take_while(|at| *at < silent_at)
        .collect()
}

/// Runs a tick detector over `frames` with a tick every T/4 up to `until` (ms); returns when
/// it first said down. The first tick comes one interval in: the link has just been made.
fn first_down(frames: &[u64], until: u64) -> Option<u64> {
    let mut detector = TickDetector::new();
    let mut frames = frames.iter().peekable();
    let mut now = T / 4;
    while now <= until {
        while frames.next_if(|at| **at <= now).is_some() {
            detector.heard();
        }
        if detector.tick() == Verdict::Down {
            return Some(now);
        }
        now += T / 4;
    }
    None
}

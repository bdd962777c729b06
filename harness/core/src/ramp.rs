//! Ramps: the offered load raised in steps, and what the target did at each one.
//!
//! Capacity is read off a ramp: offer a rate, hold it, offer more, and see where the target
//! stops keeping up (exercise 12's knee; 14 and 15 read throughput off steps the same way).
//! A [`Ramp`] is that schedule; [`Ramp::run`] drives an [`Operation`] through it with the
//! harness's generator ([`crate::load`], open or closed loop) and returns one [`Step`] per
//! step beside the run's whole [`LoadReport`].
//!
//! How a step is read. Its requests are the ones *scheduled* in it: their latencies (from the
//! intended send in open loop, from the actual send in closed loop, as [`crate::load`]
//! measures) say what a user offered that rate went through, even when the reply came during
//! a later step. Its throughput is the `Ok` replies that *arrived* while it lasted, per
//! second: what the target got done while that rate was offered. A target past its capacity
//! shows both ways: throughput flat at what it can do, latency growing with its queue.
//!
//! Where production differs: real capacity tests hold each step for minutes (caches warm,
//! queues settle, a garbage collector runs); the lab's targets have a fixed service time, so
//! half a second per step tells the same story.

use std::sync::Arc;
use std::time::{Duration, Instant};

use node_kit::sync::Mutex;

use crate::load::{Load, LoadError, LoadReport, Mode, Operation, Outcome, Schedule, Shot};
use crate::load::{new_histogram, record_us};

/// The most steps a ramp may have.
pub const MAX_STEPS: usize = 1000;

/// Rates from `from` to `to` (requests per second) in `steps` even steps, each held for
/// `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    pub from: f64,
    pub to: f64,
    pub steps: usize,
    pub hold: Duration,
}

impl Ramp {
    /// The rate of each step: `from`, then evenly up (or down) to `to`.
    pub fn rates(&self) -> Vec<f64> {
        match self.steps {
            0 => Vec::new(),
            1 => vec![self.from],
            n => (0..n)
                .map(|k| self.from + (self.to - self.from) * k as f64 / (n - 1) as f64)
                .collect(),
        }
    }

    /// The ramp as the generator's schedule.
    pub fn schedule(&self) -> Schedule {
        Schedule::Steps(self.rates().into_iter().map(|r| (self.hold, r)).collect())
    }

    /// How long the ramp offers load (its last replies may come later).
    pub fn duration(&self) -> Duration {
        self.hold * self.steps as u32
    }

    /// Drives `op` through the ramp in `mode`, each request given up after `timeout`
    /// (`Unknown("timeout")`, its wait counted as a latency), and reads each step.
    pub async fn run<O: Operation>(
        &self,
        mode: Mode,
        timeout: Duration,
        op: O,
    ) -> Result<RampReport, LoadError> {
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(LoadError::Rate(format!(
                "a ramp of {} steps: give 1 to {MAX_STEPS}",
                self.steps
            )));
        }
        if self.hold.is_zero() {
            return Err(LoadError::Duration);
        }
        let start = Instant::now();
        let samples = Arc::new(Mutex::new(Vec::new()));
        let recorded = Recorded {
            op,
            start,
            open: mode == Mode::Open,
            samples: samples.clone(),
        };
        let load = Load::new(self.schedule(), self.duration())
            .mode(mode)
            .timeout(timeout)
            .starting_at(start)
            .run(recorded)
            .await?;
        let samples = std::mem::take(&mut *samples.lock());
        Ok(RampReport {
            steps: self.read(&samples),
            load,
        })
    }

    fn read(&self, samples: &[Sample]) -> Vec<Step> {
        let hold = self.hold.as_secs_f64();
        self.rates()
            .into_iter()
            .enumerate()
            .map(|(k, offered)| {
                let (from, to) = (self.hold * k as u32, self.hold * (k as u32 + 1));
                let mut latency = new_histogram();
                let (mut ok, mut errors, mut arrived) = (0, 0, 0u64);
                for s in samples {
                    if (from..to).contains(&s.intended) {
                        record_us(&mut latency, s.latency_us);
                        if s.ok {
                            ok += 1;
                        } else {
                            errors += 1;
                        }
                    }
                    if s.ok && (from..to).contains(&s.done) {
                        arrived += 1;
                    }
                }
                let us = |v: u64| Duration::from_micros(v);
                let (mean, p50, p99, max) = if latency.is_empty() {
                    Default::default()
                } else {
                    (
                        Duration::from_secs_f64(latency.mean() / 1e6),
                        us(latency.value_at_quantile(0.5)),
                        us(latency.value_at_quantile(0.99)),
                        us(latency.max()),
                    )
                };
                Step {
                    offered,
                    start: from,
                    sent: ok + errors,
                    ok,
                    errors,
                    throughput: arrived as f64 / hold,
                    mean,
                    p50,
                    p99,
                    max,
                }
            })
            .collect()
    }
}

/// One step of a ramp, read as the module comment says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The rate the schedule offered, requests per second.
    pub offered: f64,
    /// When the step began, since the run's start.
    pub start: Duration,
    /// Requests scheduled in the step that went out, and how they ended.
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    /// `Ok` replies that arrived during the step, per second.
    pub throughput: f64,
    /// The latencies of the step's requests, whatever their outcome (zero if none went out).
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// What a ramp measured: each step, and the run as the generator saw it (for a report).
#[derive(Debug, Clone)]
pub struct RampReport {
    pub steps: Vec<Step>,
    pub load: LoadReport,
}

/// One request, as the steps read it (times since the run's start).
#[derive(Debug, Clone, Copy)]
struct Sample {
    intended: Duration,
    done: Duration,
    latency_us: u64,
    ok: bool,
}

/// The caller's operation, with each request's times written down.
struct Recorded<O> {
    op: O,
    start: Instant,
    /// Open loop times from the intended send, closed loop from the actual one.
    open: bool,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl<O: Operation> Operation for Recorded<O> {
    async fn call(&self, shot: Shot) -> Outcome {
        let from = if self.open {
            self.start + shot.intended
        } else {
            Instant::now()
        };
        let mut pending = Pending {
            recorded: self,
            intended: shot.intended,
            from,
            ok: None,
        };
        let outcome = self.op.call(shot).await;
        pending.ok = Some(outcome == Outcome::Ok);
        outcome
    }
}

/// Writes a request's sample when it ends, also when the generator's timeout drops it.
struct Pending<'a, O> {
    recorded: &'a Recorded<O>,
    intended: Duration,
    from: Instant,
    /// `None` while it waits (dropped so: a timeout).
    ok: Option<bool>,
}

impl<O> Drop for Pending<'_, O> {
    fn drop(&mut self) {
        let now = Instant::now();
        let sample = Sample {
            intended: self.intended,
            done: now.saturating_duration_since(self.recorded.start),
            latency_us: u64::try_from(now.saturating_duration_since(self.from).as_micros())
                .unwrap_or(u64::MAX),
            ok: self.ok.unwrap_or(false),
        };
        self.recorded.samples.lock().push(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    #[test]
    fn a_ramp_steps_evenly_from_its_first_rate_to_its_last() {
        let ramp = Ramp {
            from: 100.0,
            to: 300.0,
            steps: 5,
            hold: Duration::from_millis(500),
        };
        assert_eq!(ramp.rates(), vec![100.0, 150.0, 200.0, 250.0, 300.0]);
        assert_eq!(ramp.duration(), Duration::from_millis(2500));
        let one = Ramp { steps: 1, ..ramp };
        assert_eq!(one.rates(), vec![100.0]);
    }

    /// A target of known capacity in-process: 2 at a time, 10 ms each, 200 a second.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_its_capacity_a_target_keeps_its_throughput_and_its_latency_grows() {
        let pool = Arc::new(Semaphore::new(2));
        let serve = move |_: Shot| {
            let pool = pool.clone();
            async move {
                let _worker = pool.acquire().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Outcome::Ok
            }
        };
        let ramp = Ramp {
            from: 100.0,
            to: 300.0,
            steps: 2,
            hold: Duration::from_millis(500),
        };
        let report = ramp
            .run(Mode::Open, Duration::from_secs(2), serve)
            .await
            .unwrap();
        let [calm, over] = report.steps[..] else {
            panic!("two steps: {:?}", report.steps)
        };
        println!("{calm:?}\n{over:?}");
        // What a stalled machine could not send by the end is dropped, counted (the last
        // step's last few: beside stress-ng one).
        let dropped = report.load.dropped;
        assert!(
            dropped <= 5,
            "{dropped} dropped: {:?}",
            report.load.summary()
        );
        assert_eq!((calm.sent, over.sent + dropped), (50, 150));
        assert_eq!(report.load.sent + dropped, 200);
        assert!(
            (80.0..=115.0).contains(&calm.throughput),
            "at half capacity it keeps up: {calm:?}"
        );
        assert!(
            over.throughput < 230.0,
            "at 1.5x it serves at most about 200/s: {over:?}"
        );
        assert!(
            over.p99 > calm.p99 * 3 && over.max > Duration::from_millis(100),
            "its queue grows: {calm:?} then {over:?}"
        );
    }

    #[tokio::test]
    async fn a_request_the_timeout_ends_is_a_slow_error() {
        let ramp = Ramp {
            from: 20.0,
            to: 20.0,
            steps: 1,
            hold: Duration::from_millis(100),
        };
        let report = ramp
            .run(
                Mode::Closed { workers: 1 },
                Duration::from_millis(30),
                |_: Shot| std::future::pending::<Outcome>(),
            )
            .await
            .unwrap();
        let step = report.steps[0];
        assert_eq!((step.ok, step.errors, step.throughput), (0, 2, 0.0));
        assert!(step.max >= Duration::from_millis(30), "{step:?}");
        let none = Ramp { steps: 0, ..ramp };
        let refused = none.run(Mode::Open, Duration::from_secs(1), |_: Shot| async {
            Outcome::Ok
        });
        assert!(refused.await.unwrap_err().to_string().contains("1 to 1000"));
    }
}

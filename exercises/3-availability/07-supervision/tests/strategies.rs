//! The supervisor on its own, in this test process: four children `a`, `b`, `c`, `d` (started
//! in that order) that panic when a test tells them to, on a virtual clock that only moves
//! when a test moves it, so "four crashes within a second" means exactly that on any machine.
//!
//! Each child's start and end are logged in order: `start b#2` when the supervisor starts
//! generation 2 of `b`, `crash b#1` when generation 1 panics, `end c#1` when generation 1 of
//! `c` is gone (stopped by the supervisor, or unwound by its own panic). A test reads which
//! children a crash restarted from their generations, and in which order from the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::block_on;
use node_kit::sync::Mutex;
use supervision::{
    ChildSpec, Clock, Escalation, Intensity, Strategy, Supervisor, View, to_restart,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const CHILDREN: [&str; 4] = ["a", "b", "c", "d"];

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Time that passes only when the test says so.
#[derive(Clone, Default)]
struct VirtualClock(Arc<Mutex<Duration>>);

impl VirtualClock {
    fn set(&self, to: Duration) {
        *self.0.lock() = to;
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        *self.0.lock()
    }
}

/// Logs the end of a child's instance when it is dropped: stopped, or unwound by its panic.
struct EndGuard {
    log: Arc<Mutex<Vec<String>>>,
    instance: String,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.log.lock().push(format!("end {}", self.instance));
    }
}

/// A running supervisor over `a`..`d`, and the test's hold on it.
struct Tree {
    view: View,
    clock: VirtualClock,
    log: Arc<Mutex<Vec<String>>>,
    /// Notified: the child's running instance panics.
    triggers: Vec<Arc<Notify>>,
    run: Option<JoinHandle<Escalation>>,
}

impl Tree {
    /// Starts the supervisor and waits until its four children run, in order.
    async fn start(strategy: Strategy, intensity: Intensity) -> Tree {
        let clock = VirtualClock::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let triggers: Vec<Arc<Notify>> = CHILDREN.iter().map(|_| Arc::default()).collect();
        let mut supervisor = Supervisor::with_clock("test", strategy, intensity, clock.clone());
        for (name, trigger) in CHILDREN.iter().zip(&triggers) {
            let (log, trigger) = (log.clone(), trigger.clone());
            supervisor = supervisor.child(ChildSpec::new(*name, move |generation| {
                let instance = format!("{name}#{generation}");
                log.lock().push(format!("start {instance}"));
                let guard = EndGuard {
                    log: log.clone(),
                    instance: instance.clone(),
                };
                let (log, trigger) = (log.clone(), trigger.clone());
                async move {
                    let _guard = guard;
                    trigger.notified().await;
                    log.lock().push(format!("crash {instance}"));
                    panic!("{instance} crashed");
                }
            }));
        }
        let view = supervisor.view();
        let mut tree = Tree {
            view,
            clock,
            log,
            triggers,
            run: Some(tokio::spawn(supervisor.run())),
        };
        tree.until("every child to start", |t| {
            t.view.generations() == [1, 1, 1, 1]
        })
        .await;
        assert_eq!(
            tree.events(),
            ["start a#1", "start b#1", "start c#1", "start d#1"],
            "the children start once each, in order"
        );
        tree.log.lock().clear();
        tree
    }

    fn events(&self) -> Vec<String> {
        self.log.lock().clone()
    }

    /// Waits until `done` holds. Fails at once, with its panic, if the supervisor panicked
    /// (a todo!() in it), and if it gave up when it should not have.
    async fn until(&mut self, what: &str, done: impl Fn(&Tree) -> bool) {
        let started = Instant::now();
        while !done(self) {
            let run = self.run.as_mut().expect("the supervisor runs");
            if run.is_finished() {
                match run.await {
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => panic!("the supervisor's task ended: {e}"),
                    Ok(escalation) => panic!(
                        "while waiting for {what}, the supervisor gave up: {escalation}; the \
                         children's log: {:?}",
                        self.events()
                    ),
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "waited 5 s for {what}; generations {:?}, restarts {}, log {:?}",
                self.view.generations(),
                self.view.restarts(),
                self.events()
            );
            tokio::time::sleep(ms(1)).await;
        }
    }

    /// Crashes `child` at virtual time `at` and waits until the supervisor has handled it.
    async fn crash(&mut self, child: &str, at: Duration) {
        let restarts = self.view.restarts();
        self.clock.set(at);
        self.trigger(child);
        let what = format!("the supervisor to restart after {child} crashed at {at:?}");
        self.until(&what, |t| t.view.restarts() == restarts + 1)
            .await;
    }

    fn trigger(&self, child: &str) {
        let i = CHILDREN.iter().position(|c| *c == child).expect("a child");
        self.triggers[i].notify_one();
    }

    /// Crashes `child` at virtual time `at`, expecting the supervisor to give up.
    async fn crash_and_give_up(&mut self, child: &str, at: Duration) -> Escalation {
        self.clock.set(at);
        self.trigger(child);
        let run = self.run.take().expect("the supervisor runs");
        let ended = tokio::time::timeout(Duration::from_secs(5), run).await;
        match ended {
            Ok(Ok(escalation)) => escalation,
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(e)) => panic!("the supervisor's task ended: {e}"),
            Err(_) => panic!(
                "{child} crashed at {at:?}, one restart more than the intensity allows, but \
                 the supervisor did not give up within 5 s: generations {:?}, restarts {}",
                self.view.generations(),
                self.view.restarts()
            ),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(run) = &self.run {
            run.abort();
        }
    }
}

/// What one crash must do: the children it restarts, and the log it leaves. The crashed
/// child ends by itself; the others of the set are stopped last to first; then the whole set
/// starts again, first to last.
fn expected_log(strategy: Strategy, crashed: usize) -> Vec<String> {
    let set: Vec<usize> = match strategy {
        Strategy::OneForOne => vec![crashed],
        Strategy::OneForAll => (0..4).collect(),
        Strategy::RestForOne => (crashed..4).collect(),
    };
    let name = CHILDREN[crashed];
    let mut log = vec![format!("crash {name}#1"), format!("end {name}#1")];
    log.extend(
        set.iter()
            .rev()
            .filter(|i| **i != crashed)
            .map(|i| format!("end {}#1", CHILDREN[*i])),
    );
    log.extend(set.iter().map(|i| format!("start {}#2", CHILDREN[*i])));
    log
}

#[test]
fn a_crash_restarts_exactly_the_set_the_strategy_says() {
    let roomy = Intensity {
        restarts: 10,
        period: ms(1000),
    };
    // (strategy, the child that crashes, every child's generation afterwards)
    let cases = [
        (Strategy::OneForOne, "b", [1, 2, 1, 1]),
        (Strategy::OneForOne, "d", [1, 1, 1, 2]),
        (Strategy::OneForAll, "b", [2, 2, 2, 2]),
        (Strategy::OneForAll, "d", [2, 2, 2, 2]),
        (Strategy::RestForOne, "a", [2, 2, 2, 2]),
        (Strategy::RestForOne, "b", [1, 2, 2, 2]),
        (Strategy::RestForOne, "c", [1, 1, 2, 2]),
        (Strategy::RestForOne, "d", [1, 1, 1, 2]),
    ];
    block_on(async {
        for (strategy, child, generations) in cases {
            let mut tree = Tree::start(strategy, roomy).await;
            tree.crash(child, ms(0)).await;
            assert_eq!(
                tree.view.generations(),
                generations,
                "{strategy:?}, {child} crashed: the generations of a, b, c, d"
            );
            let crashed = CHILDREN.iter().position(|c| *c == child).unwrap();
            assert_eq!(
                tree.events(),
                expected_log(strategy, crashed),
                "{strategy:?}, {child} crashed: the set is stopped last to first, then \
                 started first to last"
            );
            let view = tree.view.get();
            assert!(
                view.children.iter().all(|c| c.running) && view.escalated.is_none(),
                "{strategy:?}: every child runs again after one crash: {view:?}"
            );
        }
    });
    // The function itself, at the edges.
    assert_eq!(to_restart(Strategy::OneForOne, 0, 1), 0..1);
    assert_eq!(to_restart(Strategy::OneForAll, 2, 3), 0..3);
    assert_eq!(to_restart(Strategy::RestForOne, 0, 4), 0..4);
}

#[test]
fn more_crashes_than_the_intensity_inside_the_period_escalate() {
    let three_a_second = Intensity {
        restarts: 3,
        period: ms(1000),
    };
    block_on(async {
        let mut tree = Tree::start(Strategy::OneForOne, three_a_second).await;
        for (k, at) in [0, 100, 200].into_iter().enumerate() {
            tree.crash("b", ms(at)).await;
            assert_eq!(
                tree.view.generations(),
                [1, 2 + k as u64, 1, 1],
                "crash {} of b, at {at} ms, is within the intensity: b restarts",
                k + 1
            );
        }
        tree.log.lock().clear();
        let escalation = tree.crash_and_give_up("b", ms(300)).await;
        assert_eq!(
            (escalation.supervisor.as_str(), escalation.child.as_str()),
            ("test", "b"),
            "{escalation}"
        );
        assert_eq!(
            escalation.restarts, 4,
            "the escalation counts the restarts within the period, the refused one included: \
             {escalation}"
        );
        assert!(escalation.why.contains("b#4 crashed"), "{escalation}");
        assert_eq!(
            tree.events(),
            ["crash b#4", "end b#4", "end d#1", "end c#1", "end a#1"],
            "giving up, the supervisor stops every child, last to first, and starts none"
        );
        assert!(tree.view.get().escalated.is_some());

        // The period's far end is inside it: with 2 a second, crashes at 0, 500 and exactly
        // 1000 ms are three within one period.
        let two_a_second = Intensity {
            restarts: 2,
            period: ms(1000),
        };
        let mut tree = Tree::start(Strategy::OneForOne, two_a_second).await;
        tree.crash("c", ms(0)).await;
        tree.crash("c", ms(500)).await;
        let escalation = tree.crash_and_give_up("c", ms(1000)).await;
        assert_eq!(escalation.restarts, 3, "{escalation}");

        // Intensity 0: the first crash is one too many (OTP: never restart).
        let never = Intensity {
            restarts: 0,
            period: ms(1000),
        };
        let mut tree = Tree::start(Strategy::OneForAll, never).await;
        let escalation = tree.crash_and_give_up("a", ms(0)).await;
        assert_eq!(
            (escalation.child.as_str(), escalation.restarts),
            ("a", 1),
            "{escalation}"
        );
        assert_eq!(tree.view.generations(), [1, 1, 1, 1], "nothing restarted");
    });
}

#[test]
fn the_same_crashes_spread_out_do_not_escalate() {
    let three_a_second = Intensity {
        restarts: 3,
        period: ms(1000),
    };
    block_on(async {
        // Twenty crashes, 400 ms apart: never more than three within a second.
        let mut tree = Tree::start(Strategy::OneForOne, three_a_second).await;
        for k in 0..20u64 {
            tree.crash("b", ms(400 * k)).await;
        }
        assert_eq!(
            tree.view.generations(),
            [1, 21, 1, 1],
            "b restarted each time"
        );
        assert_eq!(tree.view.restarts(), 20);
        assert!(tree.view.get().escalated.is_none());

        // Crashes of different children count together: the intensity is the supervisor's.
        let mut tree = Tree::start(Strategy::OneForOne, three_a_second).await;
        for (k, child) in ["a", "b", "c"].into_iter().enumerate() {
            tree.crash(child, ms(100 * k as u64)).await;
        }
        let escalation = tree.crash_and_give_up("d", ms(300)).await;
        assert_eq!(
            (escalation.child.as_str(), escalation.restarts),
            ("d", 4),
            "{escalation}"
        );

        // A restart more than one period old is forgotten: with 2 a second, crashes at 0,
        // 500 and 1001 ms are two within any one period.
        let two_a_second = Intensity {
            restarts: 2,
            period: ms(1000),
        };
        let mut tree = Tree::start(Strategy::RestForOne, two_a_second).await;
        for at in [0, 500, 1001] {
            tree.crash("d", ms(at)).await;
        }
        assert_eq!(tree.view.generations(), [1, 1, 1, 4]);
        // ... and at 1500 ms, three (500, 1001, 1500) are within one: one too many.
        let escalation = tree.crash_and_give_up("d", ms(1500)).await;
        assert_eq!(escalation.restarts, 3, "{escalation}");
    });
}

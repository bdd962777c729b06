//! [`Feed`]: the open loop for an operation that brings its own senders
//! ([`Operation::senders`]), such as [`super::HttpTarget`] with one per connection.
//!
//! The generic open loop spawns a task per request, and each request then finds a
//! connection (a lock on a stack of idle ones, a permit). Here a fixed set of long-lived
//! senders, each owning its connection, claim the shots instead: shot k may be claimed once
//! it is due, by moving one shared counter from k to k+1. The schedule itself is the queue
//! (every shot's time is known in advance), so nothing is allocated, locked or spawned per
//! request.
//!
//! Who wakes a sender with nothing to do. A sender that finishes a request claims the next
//! shot at once if it is due: under load the busy senders feed themselves, and keep the
//! schedule even when the dispatcher thread is not scheduled for a few milliseconds (on a
//! busy 2-core machine it often is not). A sender that finds nothing due waits on a
//! [`Notify`]; the dispatcher thread, waking at most once per [`DISPATCH_QUANTUM`] as in the
//! generic loop, wakes one of them when a shot has come due unclaimed, and a sender that
//! claims a shot and sees the next one due too wakes another (a backlog spreads over the
//! connections instead of queueing behind one). The one woken is the most recently idle:
//! its connection is warm, and a light load keeps reusing a few.
//!
//! Why not let each sender sleep until its claimed shot's time: tokio's timer ticks in whole
//! milliseconds, so every request would go out up to a millisecond late (and that lag is in
//! its latency), and a sender asleep on one shot cannot take an earlier one that another
//! sender, stuck on a slow reply, left behind. Why not a channel from the dispatcher: it
//! would wake a sender per request from outside the runtime, and the busy senders could not
//! feed themselves while the dispatcher thread waits for a core.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{DISPATCH_QUANTUM, LATE_TOLERANCE, Outcome, Shot, Tally, Timeline, precise_sleeps};

/// The shots of one open-loop run, for its senders to claim as they come due.
pub struct Feed {
    timeline: Timeline,
    start: Instant,
    /// The schedule's end: nothing intended at or after it is sent.
    end: Instant,
    timeout: Duration,
    /// The first shot no sender has claimed; at the end, how many were sent.
    next: Padded<AtomicU64>,
    /// Senders with nothing due wait here.
    idle: Notify,
    /// The dispatcher has released its last shot (or given up at the end): a waiting sender
    /// stops instead of waiting for a wake-up that will not come.
    finished: AtomicBool,
    tally: Arc<Tally>,
}

/// On its own cache line: every claim writes it, and the counters around it are read often.
#[repr(align(128))]
struct Padded<T>(T);

/// A shot a sender has claimed: send it now, then hand its outcome to [`Feed::done`].
#[derive(Debug)]
pub struct Claim {
    pub shot: Shot,
    /// When it was claimed, which is when it goes out: the uncorrected latency's start.
    sent_at: Instant,
}

/// What a sender finds when it looks for a shot.
enum Look {
    Claimed(Claim),
    /// The next shot is not due yet.
    Later,
    /// No shot is left to send: the schedule has ended, or the run is past its end (what is
    /// left is dropped, as in the generic loop).
    Over,
}

impl Feed {
    pub(super) fn new(
        timeline: Timeline,
        start: Instant,
        end: Instant,
        timeout: Duration,
        tally: Arc<Tally>,
    ) -> Self {
        Feed {
            timeline,
            start,
            end,
            timeout,
            next: Padded(AtomicU64::new(0)),
            idle: Notify::new(),
            finished: AtomicBool::new(false),
            tally,
        }
    }

    /// How long a request may take: one that takes longer ends `Unknown("timeout")`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The next shot, once it is due; `None` when the run has no more for this sender.
    pub async fn next(&self) -> Option<Claim> {
        loop {
            match self.look() {
                Look::Claimed(claim) => return Some(claim),
                Look::Over => return None,
                Look::Later => {}
            }
            // Registered before the second look, so that a wake-up between the two is kept.
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            match self.look() {
                Look::Claimed(claim) => return Some(claim),
                Look::Over => return None,
                Look::Later if self.finished.load(Ordering::SeqCst) => return None,
                Look::Later => notified.await,
            }
        }
    }

    /// The claimed shot ended with `outcome`.
    pub fn done(&self, claim: Claim, outcome: Outcome) {
        self.tally
            .completed(claim.shot, claim.sent_at, Instant::now(), outcome);
    }

    /// How many shots went out (call at the end).
    pub(super) fn sent(&self) -> u64 {
        self.next.0.load(Ordering::Relaxed)
    }

    /// When shot `index` is due, if it is due before the end.
    fn due(&self, index: u64) -> Option<Instant> {
        let at = self.start + self.timeline.time_of(index)?;
        (at < self.end).then_some(at)
    }

    fn look(&self) -> Look {
        let mut index = self.next.0.load(Ordering::Relaxed);
        loop {
            let Some(due) = self.due(index) else {
                return Look::Over;
            };
            let now = Instant::now();
            if due > now {
                return Look::Later;
            }
            if now >= self.end + LATE_TOLERANCE {
                return Look::Over;
            }
            match self.next.0.compare_exchange_weak(
                index,
                index + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let shot = Shot {
                        index,
                        intended: due - self.start,
                        worker: None,
                    };
                    self.tally.sending(shot, now);
                    if self.due(index + 1).is_some_and(|next| next <= now) {
                        self.idle.notify_last();
                    }
                    return Look::Claimed(Claim { shot, sent_at: now });
                }
                Err(actual) => index = actual,
            }
        }
    }

    /// The dispatcher thread: wakes at most once per quantum, and then a waiting sender if a
    /// shot has come due that nobody claimed.
    pub(super) fn dispatch(&self) {
        precise_sleeps();
        // Every shot before this one is known to be due.
        let mut released = 0;
        let mut last_wake: Option<Instant> = None;
        while let Some(due) = self.due(released) {
            let wake = last_wake.map_or(due, |last| due.max(last + DISPATCH_QUANTUM));
            let now = Instant::now();
            if wake > now {
                std::thread::sleep(wake - now);
            }
            let now = Instant::now();
            last_wake = Some(now);
            if now >= self.end + LATE_TOLERANCE {
                break;
            }
            let claimed = self.next.0.load(Ordering::Relaxed);
            released = released.max(claimed);
            while self.due(released).is_some_and(|due| due <= now) {
                released += 1;
            }
            if released > claimed {
                self.idle.notify_last();
            }
        }
        self.finish();
    }

    /// No more wake-ups: every waiting sender stops.
    pub(super) fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    /// The generic sender: [`super::Operation::call`] for each shot, under the timeout.
    pub(super) async fn call_each<O: super::Operation + ?Sized>(&self, op: &O) {
        while let Some(claim) = self.next().await {
            let outcome = tokio::time::timeout(self.timeout, op.call(claim.shot))
                .await
                .unwrap_or(Outcome::Unknown(Cow::Borrowed("timeout")));
            self.done(claim, outcome);
        }
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("next", &self.next.0)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

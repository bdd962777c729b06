//! The front-end's side of the payment service: the file you write.
//!
//! A [`Sender`] sends one operation to the payment service's nodes with the operation's
//! delivery guarantee:
//! - [`Sender::send_at_most_once`]: one attempt, at the first node of the preference list.
//!   Whatever comes back is the outcome; a transport error is reported as "I don't know",
//!   never retried;
//! - [`Sender::send_at_least_once`]: attempts until an answer comes (a receipt or a business
//!   error) or the deadline passes, walking the preference list in order, with capped
//!   exponential backoff between attempts (and full jitter, when the [`Backoff`] says so),
//!   and, with a [`RetryBudget`], only while the budget has a token for the retry;
//! - [`Sender::send`]: what the shop calls: the guarantee the interface declares.

use std::sync::Arc;
use std::time::Duration;

use node_kit::sync::Mutex;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::budget::RetryBudget;
use crate::interface::{GiveUp, Guarantee, Operation, Payment, PaymentError, Receipt};
use crate::transport::{Clock, HttpTransport, Transport, WallClock};

/// How long to wait before each retry.
///
/// Retry `k` (k = 1 for the first retry) waits up to `min(cap, base * 2^(k-1))`: exactly that
/// without jitter, a uniform draw between zero and that with full jitter (the AWS
/// architecture blog's "Exponential Backoff and Jitter", 2015).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry (its ceiling, with jitter).
    pub base: Duration,
    /// No wait is longer than this, however many attempts failed.
    pub cap: Duration,
    /// Full jitter: each wait drawn uniformly from zero to its ceiling. Without it, clients
    /// that failed together retry together, in waves.
    pub jitter: bool,
}

impl Default for Backoff {
    /// 50 ms doubling up to 2 s, with full jitter.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            jitter: true,
        }
    }
}

/// Sends payment operations to the nodes of a preference list.
pub struct Sender<T = HttpTransport, C = WallClock> {
    transport: T,
    clock: C,
    /// The nodes to try, in order: the first is where at most once sends, at least once
    /// goes on round the list.
    preflist: Vec<String>,
    backoff: Backoff,
    /// Shared by every sender of a front-end; `None`: retries are limited by the deadline
    /// only.
    budget: Option<Arc<RetryBudget>>,
    /// Draws the jitter; seeded, so a run replays.
    rng: Mutex<StdRng>,
}

impl Sender {
    /// A sender over HTTP to `nodes` (`(id, host:port)`, in preference order), on the wall
    /// clock, with the default backoff, no budget and seed 0.
    pub fn http<I, S, A>(nodes: I) -> Sender
    where
        I: IntoIterator<Item = (S, A)>,
        S: Into<String>,
        A: Into<String>,
    {
        let nodes: Vec<(String, String)> = nodes
            .into_iter()
            .map(|(id, addr)| (id.into(), addr.into()))
            .collect();
        let preflist = nodes.iter().map(|(id, _)| id.clone()).collect();
        Sender::new(HttpTransport::new(nodes), WallClock::default(), preflist)
    }
}

impl<T: Transport, C: Clock> Sender<T, C> {
    /// A sender through `transport`, on `clock`, to the nodes of `preflist` in order.
    ///
    /// # Panics
    /// On an empty preference list: there would be nowhere to send.
    pub fn new(transport: T, clock: C, preflist: Vec<String>) -> Sender<T, C> {
        assert!(!preflist.is_empty(), "a sender needs at least one node");
        Sender {
            transport,
            clock,
            preflist,
            backoff: Backoff::default(),
            budget: None,
            rng: Mutex::new(StdRng::seed_from_u64(0)),
        }
    }

    pub fn backoff(self, backoff: Backoff) -> Self {
        Sender { backoff, ..self }
    }

    /// Draws on `budget` before every retry.
    pub fn budget(self, budget: Arc<RetryBudget>) -> Self {
        Sender {
            budget: Some(budget),
            ..self
        }
    }

    /// Seeds the jitter.
    pub fn seed(self, seed: u64) -> Self {
        Sender {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            ..self
        }
    }

    /// Sends `payment` with the guarantee the interface declares for `op`; `deadline` bounds
    /// the retries of an at-least-once operation.
    pub async fn send(
        &self,
        op: Operation,
        payment: &Payment,
        deadline: Duration,
    ) -> Result<Receipt, PaymentError> {
        match op.contract().guarantee {
            Guarantee::AtMostOnce => self.send_at_most_once(op, payment).await,
            Guarantee::AtLeastOnce => self.send_at_least_once(op, payment, deadline).await,
        }
    }

    /// One attempt at the first node of the preference list, within the operation's timeout.
    /// Its outcome is the answer: a transport error comes back as it is, "I don't know".
    pub async fn send_at_most_once(
        &self,
        op: Operation,
        payment: &Payment,
    ) -> Result<Receipt, PaymentError> {
        // lab:todo Make one attempt at the first node of the preflist; return what it gives.
        // Its timeout is the operation's contract timeout. Never retry: not even a transport
        // error, since the first attempt may have been carried out.
        let timeout = op.contract().timeout;
        self.transport
            .attempt(&self.preflist[0], op, payment, timeout)
            .await
        // lab:end
    }

    /// Attempts until an answer (a receipt or a business error), walking the preference list
    /// round and round, each attempt within the operation's timeout and the time left; gives
    /// up when the next retry would start at or after `deadline` (measured from the call), or
    /// when the budget refuses a retry.
    pub async fn send_at_least_once(
        &self,
        op: Operation,
        payment: &Payment,
        deadline: Duration,
    ) -> Result<Receipt, PaymentError> {
        // lab:todo Retry transport errors with capped, jittered exponential backoff.
        // Attempt k (from 0) goes to preflist[k % len], with timeout min(contract, time left).
        // A receipt or a business error is the answer. Before retry k (from 1) wait
        // min(cap, base * 2^(k-1)), or a uniform draw in [0, that] with jitter; give up
        // (GaveUp::Deadline) if the retry would start at or after the deadline, or
        // (GaveUp::Budget) if the budget refuses it. Deposit in the budget once per call.
        let started = self.clock.now();
        let timeout = op.contract().timeout;
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        let mut attempts: u32 = 0;
        loop {
            let node = &self.preflist[attempts as usize % self.preflist.len()];
            let left = deadline.saturating_sub(self.clock.now() - started);
            attempts += 1;
            let last = match self
                .transport
                .attempt(node, op, payment, timeout.min(left))
                .await
            {
                Err(PaymentError::Transport(last)) => last,
                answer => return answer,
            };
            let ceiling = self
                .backoff
                .base
                .saturating_mul(2u32.saturating_pow(attempts - 1))
                .min(self.backoff.cap);
            let wait = if self.backoff.jitter {
                let nanos = self.rng.lock().random_range(0..=ceiling.as_nanos() as u64);
                Duration::from_nanos(nanos)
            } else {
                ceiling
            };
            let give_up = |why| PaymentError::GaveUp {
                attempts,
                why,
                last: last.clone(),
            };
            if self.clock.now() - started + wait >= deadline {
                return Err(give_up(GiveUp::Deadline));
            }
            if let Some(budget) = &self.budget
                && !budget.try_withdraw()
            {
                return Err(give_up(GiveUp::Budget));
            }
            self.clock.sleep(wait).await;
        }
        // lab:end
    }
}

//! The retry budget: retries may add at most a fixed share to the load. Part of it is yours.
//!
//! A token bucket shared by every sender of one front-end (Finagle's `RetryBudget`, gRPC's
//! retry throttling). Every request earns `percent` hundredths of a retry token, up to a
//! burst of `burst` tokens; every retry spends a whole one. While the service is healthy few
//! retries happen and the bucket stays full. When the service fails for everyone, each
//! request still earns its fraction, so retries add at most `percent`% to the load (plus the
//! burst), where unbudgeted senders would multiply it by their number of attempts.
//!
//! Tokens are counted in hundredths, as integers, so the bound is exact:
//! retries <= burst + requests * percent / 100.

use node_kit::sync::Mutex;

/// Hundredths of a token per whole token.
const TOKEN: u64 = 100;

/// A budget of retries, shared (behind an `Arc`) by every sender that draws on it.
#[derive(Debug)]
pub struct RetryBudget {
    /// Hundredths of a token each request earns: the share of retries allowed, in percent.
    percent: u64,
    /// The most the bucket holds, in hundredths: the retries allowed in a burst, after a
    /// long healthy spell (so that spell does not bank a storm's worth of retries).
    capacity: u64,
    /// What the bucket holds and what it saw, under one lock.
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Hundredths of a token in the bucket.
    balance: u64,
    /// Requests deposited, retries granted and retries refused: what a test or a dashboard
    /// shows.
    requests: u64,
    retries: u64,
    refused: u64,
}

/// What a budget has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStats {
    pub requests: u64,
    pub retries: u64,
    pub refused: u64,
}

impl RetryBudget {
    /// Retries may add `percent`% to the requests, plus a burst of `burst` retries. The
    /// bucket starts full.
    pub fn new(percent: u32, burst: u32) -> RetryBudget {
        let capacity = u64::from(burst) * TOKEN;
        RetryBudget {
            percent: u64::from(percent),
            capacity,
            state: Mutex::new(State {
                balance: capacity,
                requests: 0,
                retries: 0,
                refused: 0,
            }),
        }
    }

    /// A new request (its first attempt): it earns its share of a retry.
    pub fn deposit(&self) {
        let mut state = self.state.lock();
        state.requests += 1;
        state.balance = (state.balance + self.percent).min(self.capacity);
    }

    /// Before a retry: takes one whole token and says yes, or says no if there is none.
    pub fn try_withdraw(&self) -> bool {
        // lab:todo Spend one whole token (TOKEN hundredths) if the balance holds one.
        // Count the retry in `retries` when granted, in `refused` when not.
        let mut state = self.state.lock();
        if state.balance >= TOKEN {
            state.balance -= TOKEN;
            state.retries += 1;
            true
        } else {
            state.refused += 1;
            false
        }
        // lab:end
    }

    pub fn stats(&self) -> BudgetStats {
        let state = self.state.lock();
        BudgetStats {
            requests: state.requests,
            retries: state.retries,
            refused: state.refused,
        }
    }
}

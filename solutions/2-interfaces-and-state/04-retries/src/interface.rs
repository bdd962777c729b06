//! The payment service's interface, written down before any code calls it: per operation,
//! its delivery guarantee, its timeout, and the business errors it may answer with. Given.
//!
//! ```text
//! operation   guarantee       timeout  business errors          why
//! authorize   at least once   1 s      card_declined            one hold per order: a repeat holds the same money
//! charge      at most once    1 s      card_declined            every charge moves money: a repeat takes it twice
//! refund      at most once    2 s      refund_exceeds_charges   every refund moves money: a repeat pays it twice
//! ```
//!
//! Every call ends in one of two kinds of error, and telling them apart is the whole point:
//! - a **business error** ([`PaymentError::Business`]) is an *answer*: the service did its
//!   job and said no ("card declined"). Asking again gets the same no, so it is never retried;
//! - a **transport error** ([`PaymentError::Transport`]) is *"I don't know"*: a timeout, a
//!   reset, a reply lost on the way back, a 5xx. The payment may or may not have happened.
//!   The delivery guarantee says what to do about it: at most once gives up (and someone
//!   reconciles later), at least once tries again.
//!
//! Exercise 05 gives `charge` an exactly-once *effect* (a dedup table keyed by request id), so
//! it can move to at least once without charging anyone twice.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An operation of the payment service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Place a hold on the card for an order. The processor keeps one hold per order, so
    /// asking twice holds the same money once: safe to repeat.
    Authorize,
    /// Take the money. Each charge is a new movement of money.
    Charge,
    /// Give money back for an order, up to what was charged for it.
    Refund,
}

/// What a sender promises about how many times the service sees a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// Sent once, never again: it may be lost, it is never duplicated.
    AtMostOnce,
    /// Sent until an answer comes (or the deadline passes): it may be duplicated, it is never
    /// lost while the deadline lasts.
    AtLeastOnce,
}

/// One operation's line of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    pub guarantee: Guarantee,
    /// How long one attempt waits for its answer. Chosen from the service's latency (far
    /// above its slowest normal answer), not from how long a customer would wait.
    pub timeout: Duration,
    /// The `error` codes the service answers with when it says no. Any other 4xx is a bad
    /// request: an answer too, and a bug in the caller.
    pub business_errors: &'static [&'static str],
}

impl Operation {
    pub const ALL: [Operation; 3] = [Operation::Authorize, Operation::Charge, Operation::Refund];

    /// The interface: what each operation promises. The sender reads it; so does a reader.
    pub const fn contract(self) -> Contract {
        match self {
            Operation::Authorize => Contract {
                guarantee: Guarantee::AtLeastOnce,
                timeout: Duration::from_secs(1),
                business_errors: &[CARD_DECLINED],
            },
            Operation::Charge => Contract {
                guarantee: Guarantee::AtMostOnce,
                timeout: Duration::from_secs(1),
                business_errors: &[CARD_DECLINED],
            },
            Operation::Refund => Contract {
                guarantee: Guarantee::AtMostOnce,
                timeout: Duration::from_secs(2),
                business_errors: &[REFUND_EXCEEDS_CHARGES],
            },
        }
    }

    /// Its name in URLs and JSON: `authorize`, `charge`, `refund`.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Authorize => "authorize",
            Operation::Charge => "charge",
            Operation::Refund => "refund",
        }
    }

    /// The operation named `name`, if there is one.
    pub fn named(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Where the service serves it: `POST /payments/<name>`.
    pub fn path(self) -> String {
        format!("/payments/{}", self.name())
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The business error of a card the issuer refuses (here: every card number ending in
/// `0002`, like the processors' test cards).
pub const CARD_DECLINED: &str = "card_declined";

/// The business error of a refund larger than what is left to refund on its order.
pub const REFUND_EXCEEDS_CHARGES: &str = "refund_exceeds_charges";

/// A request to the payment service. The request id is unique per request, so the service
/// (and a test) can tell a repeat of a request from a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub request_id: String,
    pub order: String,
    pub amount_cents: u64,
    /// The card number, 12 to 19 digits. (A real shop sends a processor's token, never this.)
    pub card: String,
}

/// The service's answer to a request it carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub request_id: String,
    pub operation: Operation,
    pub order: String,
    pub amount_cents: u64,
    /// The node that carried it out.
    pub node: String,
}

/// Why a call returned no receipt: an answer, or "I don't know".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentError {
    /// The service answered no (a 4xx): a business error such as `card_declined`, or a bad
    /// request. An answer: never retried.
    Business {
        status: u16,
        /// The JSON error's `error` code: one of the contract's `business_errors`, or a
        /// bad-request code.
        code: String,
        message: String,
    },
    /// No answer to trust: the request may or may not have been carried out.
    Transport(TransportError),
    /// At least once ran out of time or of retry budget: the last attempt's transport error.
    GaveUp {
        attempts: u32,
        why: GiveUp,
        last: TransportError,
    },
}

/// What went wrong on the way, for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The node the attempt went to.
    pub node: String,
    pub kind: TransportKind,
    /// The client's own words (the causes of a connection error, the body of a 5xx).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No answer within the contract's timeout (a lost request, a hung node, a slow one).
    Timeout,
    /// The connection failed or was reset: before the request went out, or after it was
    /// carried out and before its reply arrived. The client cannot tell which.
    Connection,
    /// The service answered 5xx: it failed on its side, maybe after doing the work.
    ServerError(u16),
}

/// Why at least once stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The next retry would start after the caller's deadline.
    Deadline,
    /// The retry budget had no token left: the service is failing for everyone, and retrying
    /// would only multiply its load.
    Budget,
}

impl PaymentError {
    /// Whether the request may have been carried out although no receipt came: true for
    /// every "I don't know", false for an answer.
    pub fn is_unknown(&self) -> bool {
        !matches!(self, PaymentError::Business { .. })
    }
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentError::Business {
                status,
                code,
                message,
            } => write!(f, "the service said no: {status} {code}: {message}"),
            PaymentError::Transport(t) => write!(f, "no answer: {t}"),
            PaymentError::GaveUp {
                attempts,
                why,
                last,
            } => {
                let why = match why {
                    GiveUp::Deadline => "the deadline",
                    GiveUp::Budget => "the retry budget",
                };
                write!(
                    f,
                    "gave up after {attempts} attempt(s), stopped by {why}; last: {last}"
                )
            }
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TransportKind::Timeout => "timed out".to_string(),
            TransportKind::Connection => "connection failed".to_string(),
            TransportKind::ServerError(status) => format!("answered {status}"),
        };
        write!(f, "{} {kind}: {}", self.node, self.detail)
    }
}

impl std::error::Error for PaymentError {}

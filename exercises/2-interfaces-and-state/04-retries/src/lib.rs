//! Exercise 04, retries: every interface function picks its delivery guarantee, at most once
//! or at least once, and a retry strategy is what at least once means in practice.
//!
//! The shop's front-end charges a customer through the payment service. A request can get
//! no answer (a lost packet, a hung node, a reply lost after the work was done), and the
//! front-end must decide, per operation, what "no answer" means and what to do next.
//!
//! The map:
//! - [`interface`]: given. The payment service's operations, each with its guarantee, its
//!   timeout and its business errors ([`Operation::contract`]), and the two kinds of error
//!   ([`PaymentError`]): an answer, or "I don't know".
//! - [`sender`]: yours to write: [`Sender::send_at_most_once`] and
//!   [`Sender::send_at_least_once`] (capped exponential backoff with full jitter, over the
//!   preference list, within a deadline).
//! - [`budget`]: [`RetryBudget`], a token bucket that lets retries add at most a fixed
//!   share to the load; yours to write: [`RetryBudget::try_withdraw`].
//! - [`transport`]: given. One attempt over HTTP ([`HttpTransport`]) and the clock
//!   ([`WallClock`]), behind traits so the backoff tests run on a virtual clock.
//! - [`service`]: given. The payment service node: `POST /payments/{operation}`, and the log
//!   of every request that reached it (`GET /internal/arrivals`), which the tests count.
//! - `main.rs`: the node binary.

pub mod budget;
pub mod interface;
pub mod sender;
pub mod service;
pub mod transport;

pub use budget::{BudgetStats, RetryBudget};
pub use interface::{
    CARD_DECLINED, Contract, GiveUp, Guarantee, Operation, Payment, PaymentError,
    REFUND_EXCEEDS_CHARGES, Receipt, TransportError, TransportKind,
};
pub use sender::{Backoff, Sender};
pub use service::Arrival;
pub use transport::{Clock, HttpTransport, Transport, WallClock};

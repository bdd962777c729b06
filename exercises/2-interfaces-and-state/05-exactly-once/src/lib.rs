//! Exercise 05, exactly-once effects: exactly-once *delivery* is impossible (a reply can be
//! lost after the work is done), but an exactly-once *effect* is not. The ledger remembers
//! every request id it answered, and answers a repeat with the original reply instead of
//! charging again.
//!
//! The shop's front-end charges a card at least once (exercise 04's sender), so a charge whose
//! reply was lost arrives again. The ledger must tell the repeat from a new charge, and must
//! not remember every request id for ever.
//!
//! The map:
//! - [`dedup`]: yours to write: [`DedupTable::begin`] (new, repeat, in progress, or already
//!   acknowledged), [`DedupTable::finish`] (record the reply every repeat will get) and
//!   [`DedupTable::collect`] (forget what the client acknowledged).
//! - [`ledger`]: given. The ledger node: `POST /payments/charge` through the client's table,
//!   the books on file, `GET /internal/ledger` (charges per request id, each client's table),
//!   and the control flag `--no-dedup`.
//! - [`client`]: given. The front-end's [`Client`]: numbered charges sent at least once with
//!   exercise 04's `Sender`, a window of charges in flight, and the acknowledged watermark on
//!   every attempt (the `x-acked-through` header).
//! - `main.rs`: the node binary.
//!
//! The interface types (`Payment`, `Receipt`, `PaymentError`) and the sender come from
//! exercise 04's reference solution, `retries-solution`.

pub mod client;
pub mod dedup;
pub mod ledger;

pub use client::{ACKED_THROUGH, Charged, Client, DEFAULT_WINDOW, parse_request_id, request_id};
pub use dedup::{Begin, DedupTable, Entry, Reply};
pub use ledger::{Flags, LedgerView, TableView};
pub use retries_solution::{Backoff, CARD_DECLINED, Payment, PaymentError, Receipt};

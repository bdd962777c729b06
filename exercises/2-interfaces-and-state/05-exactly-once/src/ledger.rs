//! The ledger node, given: the payment service whose charge has an exactly-once effect, and a
//! witness of what it charged.
//!
//! ```text
//! POST /payments/charge  {"request_id": "<client>-<seq>", "order", "amount_cents", "card"}
//!                        header x-acked-through: <seq> (optional): the client's watermark
//!   200 {receipt}        charged now, or a repeat answered with the original receipt
//!   402 card_declined    the issuer said no (a repeat gets the same no)
//!   503 in_progress      a copy of this request is being charged right now: ask again
//!   409 acknowledged     at or below the client's watermark: a stray copy, never charged
//!   400 / 404 / 413 / 422  bad input: another operation, an id that is not <client>-<seq>, ...
//! GET /internal/ledger   every charge applied, per request id, and each client's table
//!                        (cluster cookie required)
//! ```
//!
//! A charge goes through the client's [`DedupTable`]: collect behind the request's watermark,
//! then `begin`; only a new request goes on to the card processor (a simulated call of
//! `--processor-ms`, during which the table is not locked, so other requests and copies of
//! this one keep arriving), and its reply is `finish`ed into the table. `--no-dedup` skips the
//! table (every arrival is charged: the control); a request without the header collects
//! nothing.
//!
//! The charges themselves (the books) are written to `ledger.log` in the node's data
//! directory before the answer goes out, and read back when the node starts: they stand for
//! the card network's records, which no crash of ours erases. The dedup table lives in memory
//! only, so a restarted node has forgotten every request id it answered. That gap is the
//! point of the crash test, and the motivation for the Availability section.
//!
//! Teaching simplifications, where a real service would differ: the table is per node
//! (a retry sent to another node is charged there again); the processor never fails (a real
//! one times out, and the entry must then be released so a retry may try again); a repeat
//! with the same id and a different amount is answered as the original (Stripe refuses it);
//! and the books are a log file, not a database that stores the charge and its request id in
//! one transaction (which is how the table would survive a crash).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use node_kit::cart::validate;
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext, Routes};
use retries_solution::{CARD_DECLINED, Operation, Payment, Receipt};
use serde::{Deserialize, Serialize};

use crate::client::{ACKED_THROUGH, parse_request_id};
use crate::dedup::{Begin, DedupTable, Reply};

/// The ledger node's own flags (after `--`).
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// The control: charge every arrival, repeats included (no dedup table).
    #[arg(long)]
    pub no_dedup: bool,
    /// How long the card processor takes to answer a charge, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub processor_ms: u64,
}

/// What `GET /internal/ledger` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerView {
    /// How many times each request id was charged: 2 or more is a double charge.
    pub charges: BTreeMap<String, u32>,
    /// Repeats answered from the table (and so not charged again).
    pub repeats: u64,
    /// Copies refused while their first arrival was being charged (503 in_progress).
    pub in_progress: u64,
    /// Each client's dedup table, by client id.
    pub tables: BTreeMap<String, TableView>,
}

impl LedgerView {
    /// The request ids charged more than once, with their counts.
    pub fn doubles(&self) -> BTreeMap<&str, u32> {
        self.charges
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| (id.as_str(), *n))
            .collect()
    }

    /// Every charge applied, repeats of a request id included.
    pub fn total(&self) -> u64 {
        self.charges.values().map(|n| u64::from(*n)).sum()
    }
}

/// One client's table, as the ledger shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableView {
    /// Entries now.
    pub entries: usize,
    /// The most entries it ever held (read after every request).
    pub peak: usize,
    /// The client's watermark, as the table knows it.
    pub acked: u64,
}

/// The node's routes: the charge in public, the books under `/internal`.
pub fn routes(ctx: &NodeContext, flags: Flags) -> Result<Routes, String> {
    let mut state = Books::default();
    if let Some(dir) = &ctx.config.data_dir {
        let path = dir.join("ledger.log");
        state.charges = read_log(&path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        state.file = Some(file);
    }
    let ledger = Ledger {
        node: ctx.config.id.clone(),
        dedup: !flags.no_dedup,
        processor: Duration::from_millis(flags.processor_ms),
        state: Arc::new(Mutex::new(state)),
    };
    tracing::info!(
        dedup = ledger.dedup,
        processor_ms = flags.processor_ms,
        charges_on_file = ledger.state.lock().charges.len(),
        "ledger ready"
    );
    Ok(Routes::new()
        .public(
            Router::new()
                .route("/payments/{operation}", post(charge))
                .with_state(ledger.clone()),
        )
        .internal(Router::new().route("/ledger", get(view)).with_state(ledger)))
}

/// The node's ledger, shared by its handlers.
#[derive(Clone)]
struct Ledger {
    /// Named in every receipt.
    node: String,
    /// Off: the control, every arrival charged.
    dedup: bool,
    /// The card processor's simulated answer time.
    processor: Duration,
    state: Arc<Mutex<Books>>,
}

#[derive(Default)]
struct Books {
    /// How many times each request id was charged.
    charges: BTreeMap<String, u32>,
    /// `ledger.log` in the data directory, open for appending (`None`: memory only).
    file: Option<std::fs::File>,
    /// Each client's dedup table, by client id.
    tables: HashMap<String, Table>,
    /// What `GET /internal/ledger` counts: repeats answered from a table, and copies refused
    /// while their first arrival was charged.
    repeats: u64,
    in_progress: u64,
}

#[derive(Default)]
struct Table {
    table: DedupTable,
    /// The most entries the table held after a request: the bound the tests check.
    peak: usize,
}

async fn charge(
    State(ledger): State<Ledger>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    Json(payment): Json<Payment>,
) -> Result<Response, ApiError> {
    if Operation::named(&operation) != Some(Operation::Charge) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_operation",
            format!("no operation {operation:?}: the ledger has charge"),
        ));
    }
    validate("request_id", &payment.request_id)?;
    validate("order", &payment.order)?;
    let (client, seq) = parse_request_id(&payment.request_id).ok_or_else(|| {
        ApiError::bad_request(format!(
            "request_id {:?} must be <client>-<seq>, seq a number from 1 up (e.g. shop-1-17)",
            payment.request_id
        ))
    })?;
    let watermark = watermark(&headers)?;
    if payment.amount_cents == 0 {
        return Err(ApiError::bad_request("amount_cents must be at least 1"));
    }
    if !(12..=19).contains(&payment.card.len()) || !payment.card.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::bad_request("card must be 12 to 19 digits"));
    }

    if ledger.dedup {
        let begun = {
            let mut books = ledger.state.lock();
            let client = books.tables.entry(client.to_string()).or_default();
            if let Some(watermark) = watermark {
                client.table.collect(watermark);
            }
            let begun = client.table.begin(seq);
            client.peak = client.peak.max(client.table.len());
            match &begun {
                Begin::Repeat(_) => books.repeats += 1,
                Begin::InProgress => books.in_progress += 1,
                Begin::New | Begin::Acknowledged => {}
            }
            begun
        };
        match begun {
            Begin::New => {}
            Begin::Repeat(reply) => return Ok(answer(reply)),
            Begin::InProgress => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "in_progress",
                    format!(
                        "{} is being charged right now: ask again for its answer",
                        payment.request_id
                    ),
                ));
            }
            Begin::Acknowledged => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "acknowledged",
                    format!(
                        "{} is at or below {client}'s watermark: its answer was delivered, \
                         and it is never charged again",
                        payment.request_id
                    ),
                ));
            }
        }
    }

    // Once begun, a charge runs to its end in a task of its own, even if its caller hangs up
    // (a dropped handler would leave its entry in progress for ever).
    let client = client.to_string();
    let carried_out = tokio::spawn(async move {
        let reply = ledger.process(&payment).await?;
        if ledger.dedup {
            let mut books = ledger.state.lock();
            if let Some(client) = books.tables.get_mut(&client) {
                client.table.finish(seq, reply.clone());
            }
        }
        Ok::<Reply, ApiError>(reply)
    });
    let reply = carried_out
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    Ok(answer(reply))
}

impl Ledger {
    /// The card processor's part: asks the issuer (the simulated wait), and books the charge.
    async fn process(&self, payment: &Payment) -> Result<Reply, ApiError> {
        tokio::time::sleep(self.processor).await;
        if payment.card.ends_with("0002") {
            return Ok(Reply::Declined {
                message: "the card's issuer declined it".into(),
            });
        }
        let mut books = self.state.lock();
        if let Some(file) = &mut books.file {
            // Written before the answer goes out: a charge that was answered is on file.
            let line = format!("{}\n", payment.request_id);
            file.write_all(line.as_bytes()).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ledger_unwritable",
                    format!("cannot write the ledger's log: {e}"),
                )
            })?;
        }
        *books.charges.entry(payment.request_id.clone()).or_default() += 1;
        Ok(Reply::Charged(Receipt {
            request_id: payment.request_id.clone(),
            operation: Operation::Charge,
            order: payment.order.clone(),
            amount_cents: payment.amount_cents,
            node: self.node.clone(),
        }))
    }
}

/// The client's watermark from the request's header, if it has one.
fn watermark(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(ACKED_THROUGH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{ACKED_THROUGH} must be a sequence number (0 or more), not {value:?}"
            ))
        })
}

/// A reply as HTTP: 200 and the receipt, or 402 and the business error.
fn answer(reply: Reply) -> Response {
    match reply {
        Reply::Charged(receipt) => Json(receipt).into_response(),
        Reply::Declined { message } => {
            ApiError::new(StatusCode::PAYMENT_REQUIRED, CARD_DECLINED, message).into_response()
        }
    }
}

async fn view(State(ledger): State<Ledger>) -> Json<LedgerView> {
    let books = ledger.state.lock();
    Json(LedgerView {
        charges: books.charges.clone(),
        repeats: books.repeats,
        in_progress: books.in_progress,
        tables: books
            .tables
            .iter()
            .map(|(id, t)| {
                let view = TableView {
                    entries: t.table.len(),
                    peak: t.peak,
                    acked: t.table.acked(),
                };
                (id.clone(), view)
            })
            .collect(),
    })
}

/// The charges on file, counted per request id.
fn read_log(path: &std::path::Path) -> Result<BTreeMap<String, u32>, String> {
    let mut charges = BTreeMap::new();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(charges),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !line.is_empty() {
            *charges.entry(line).or_default() += 1;
        }
    }
    Ok(charges)
}

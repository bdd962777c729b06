//! The front-end's side: a client that charges at least once and tells the ledger what it may
//! forget. Given.
//!
//! A [`Client`] numbers its charges 1, 2, 3, ... (request id `<client>-<seq>`), sends each with
//! exercise 04's [`Sender::send_at_least_once`], and keeps its **acknowledged watermark**: the
//! highest number through which it is done with every charge (an answer came, or it gave up
//! and will never send that id again). Every attempt carries the watermark in the header
//! [`ACKED_THROUGH`], so the ledger learns it without a message of its own, the way a TCP
//! segment carries its cumulative ack.
//!
//! The client never has more than its window of charges past the watermark (a new charge
//! waits for the oldest to finish), like Kafka's idempotent producer, whose broker keeps the
//! last five batches of each producer because no more than five may be in flight. That is
//! what bounds the ledger's table: it holds at most the window's worth of entries per client.
//!
//! [`Client::without_acks`] sends no watermark and has no window: the control, whose table
//! is never collected.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use node_kit::error::causes;
use node_kit::sync::Mutex;
use retries_solution::{
    Backoff, Operation, Payment, PaymentError, Receipt, Sender, Transport, TransportError,
    TransportKind, WallClock,
};
use tokio::sync::Notify;

/// The header that carries a client's acknowledged watermark on every charge:
/// `x-acked-through: 41` on request `shop-1-57` says shop-1 has the answer to charges 1 to 41
/// and will never send one of them again.
pub const ACKED_THROUGH: &str = "x-acked-through";

/// How many charges a client may have past its watermark (the ledger's table holds at most
/// this many of its entries).
pub const DEFAULT_WINDOW: u64 = 64;

/// The request id of charge `seq` of `client`: `<client>-<seq>`.
pub fn request_id(client: &str, seq: u64) -> String {
    format!("{client}-{seq}")
}

/// A request id read back: `shop-1-57` is charge 57 of client `shop-1`.
pub fn parse_request_id(id: &str) -> Option<(&str, u64)> {
    let (client, digits) = id.rsplit_once('-')?;
    let seq: u64 = digits.parse().ok()?;
    // One spelling per number (no `+7`, no `007`), so one charge has one id.
    (!client.is_empty() && seq > 0 && digits == seq.to_string()).then_some((client, seq))
}

/// What a client is done with.
#[derive(Debug)]
struct Acks {
    /// Whether attempts carry the watermark (not in the control).
    send: bool,
    /// The number the next charge gets minus one.
    issued: u64,
    /// The watermark: done with every charge through this one.
    through: u64,
    /// Done, above the watermark (waiting for an older one to finish).
    done: BTreeSet<u64>,
}

impl Default for Acks {
    fn default() -> Self {
        Acks {
            send: true,
            issued: 0,
            through: 0,
            done: BTreeSet::new(),
        }
    }
}

impl Acks {
    /// Charge `seq` is done: move the watermark over every done charge in a row.
    fn done(&mut self, seq: u64) {
        self.done.insert(seq);
        while self.done.remove(&(self.through + 1)) {
            self.through += 1;
        }
    }
}

/// The payment service over HTTP with the client's watermark on every attempt: exercise 04's
/// `HttpTransport` plus one header (and the same classification of what comes back).
#[derive(Debug, Clone)]
pub struct AckingTransport {
    http: reqwest::Client,
    /// Node id to `host:port`.
    nodes: HashMap<String, String>,
    /// Read at every attempt: a retry carries the newest watermark, not its first attempt's.
    acks: Arc<Mutex<Acks>>,
}

impl Transport for AckingTransport {
    async fn attempt(
        &self,
        node: &str,
        op: Operation,
        payment: &Payment,
        timeout: Duration,
    ) -> Result<Receipt, PaymentError> {
        let failure = |kind, detail: String| {
            PaymentError::Transport(TransportError {
                node: node.to_string(),
                kind,
                detail,
            })
        };
        let kind_of = |e: &reqwest::Error| {
            if e.is_timeout() {
                TransportKind::Timeout
            } else {
                TransportKind::Connection
            }
        };
        let Some(addr) = self.nodes.get(node) else {
            return Err(PaymentError::Business {
                status: 400,
                code: "unknown_node".into(),
                message: format!("{node} is not one of the client's nodes"),
            });
        };
        let mut request = self
            .http
            .post(format!("http://{addr}{}", op.path()))
            .json(payment)
            .timeout(timeout);
        let watermark = {
            let acks = self.acks.lock();
            acks.send.then_some(acks.through)
        };
        if let Some(through) = watermark {
            request = request.header(ACKED_THROUGH, through.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| failure(kind_of(&e), causes(&e)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| failure(kind_of(&e), format!("the answer broke off: {}", causes(&e))))?;
        if status.is_success() {
            serde_json::from_str(&body).map_err(|e| {
                failure(
                    TransportKind::Connection,
                    format!("a 2xx that is not a receipt ({e}): {body}"),
                )
            })
        } else if status.is_client_error() {
            let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            Err(PaymentError::Business {
                status: status.as_u16(),
                code: error["error"].as_str().unwrap_or("unknown").to_string(),
                message: error["message"].as_str().unwrap_or(&body).to_string(),
            })
        } else {
            Err(failure(TransportKind::ServerError(status.as_u16()), body))
        }
    }
}

/// One charge as a client sent it, and how it ended.
#[derive(Debug, Clone)]
pub struct Charged {
    pub request_id: String,
    pub outcome: Result<Receipt, PaymentError>,
}

/// A front-end's client of the ledger: numbered charges, sent at least once, acknowledged.
pub struct Client {
    id: String,
    sender: Sender<AckingTransport, WallClock>,
    acks: Arc<Mutex<Acks>>,
    /// Wakes charges waiting for the window when the watermark moves.
    moved: Notify,
    /// `None`: no window and no watermark sent (the control).
    window: Option<u64>,
    /// How long at least once keeps trying, per charge.
    deadline: Duration,
}

impl Client {
    /// Client `id` of the ledger nodes `nodes` (`(node id, host:port)`, in preference order),
    /// with the [`DEFAULT_WINDOW`], a 10 s deadline per charge and 04's default backoff.
    pub fn new<I, S, A>(id: &str, nodes: I) -> Client
    where
        I: IntoIterator<Item = (S, A)>,
        S: Into<String>,
        A: Into<String>,
    {
        let nodes: Vec<(String, String)> = nodes
            .into_iter()
            .map(|(node, addr)| (node.into(), addr.into()))
            .collect();
        let preflist = nodes.iter().map(|(node, _)| node.clone()).collect();
        let acks = Arc::new(Mutex::new(Acks::default()));
        let http = reqwest::Client::builder()
            .no_proxy()
            // Connections are kept alive (unlike 04's sender: a lost reply strikes each reply,
            // not each connection), and dropped below the node's idle timeout.
            .pool_idle_timeout(node_kit::peer::POOL_IDLE)
            .build()
            .expect("a plain HTTP client builds");
        let transport = AckingTransport {
            http,
            nodes: nodes.into_iter().collect(),
            acks: acks.clone(),
        };
        Client {
            id: id.to_string(),
            sender: Sender::new(transport, WallClock::default(), preflist),
            acks,
            moved: Notify::new(),
            window: Some(DEFAULT_WINDOW),
            deadline: Duration::from_secs(10),
        }
    }

    /// At most `window` charges past the watermark.
    pub fn window(self, window: u64) -> Client {
        assert!(window > 0, "a window of 0 would never let a charge start");
        Client {
            window: Some(window),
            ..self
        }
    }

    /// The control: sends no watermark (so the ledger never collects this client's entries)
    /// and has no window.
    pub fn without_acks(self) -> Client {
        self.acks.lock().send = false;
        Client {
            window: None,
            ..self
        }
    }

    /// How long at least once keeps trying each charge.
    pub fn deadline(self, deadline: Duration) -> Client {
        Client { deadline, ..self }
    }

    pub fn backoff(mut self, backoff: Backoff) -> Client {
        self.sender = self.sender.backoff(backoff);
        self
    }

    /// Seeds the sender's jitter.
    pub fn seed(mut self, seed: u64) -> Client {
        self.sender = self.sender.seed(seed);
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The watermark: done with every charge through this number.
    pub fn acked_through(&self) -> u64 {
        self.acks.lock().through
    }

    /// Charges `amount_cents` to `card` for `order`, at least once, under the next number
    /// (waiting first, while the window is full).
    pub async fn charge(&self, order: &str, amount_cents: u64, card: &str) -> Charged {
        let seq = self.next_seq().await;
        let payment = Payment {
            request_id: request_id(&self.id, seq),
            order: order.to_string(),
            amount_cents,
            card: card.to_string(),
        };
        let outcome = self
            .sender
            .send_at_least_once(Operation::Charge, &payment, self.deadline)
            .await;
        // Done with it either way: an answer came, or the sender gave up and will never send
        // this id again (someone reconciles it later).
        self.acks.lock().done(seq);
        self.moved.notify_waiters();
        Charged {
            request_id: payment.request_id,
            outcome,
        }
    }

    /// The next number, once the window has room for it.
    async fn next_seq(&self) -> u64 {
        loop {
            // Registered before the check, so a move between the two is not missed.
            let moved = self.moved.notified();
            {
                let mut acks = self.acks.lock();
                let fits = self
                    .window
                    .is_none_or(|window| acks.issued < acks.through + window);
                if fits {
                    acks.issued += 1;
                    return acks.issued;
                }
            }
            moved.await;
        }
    }
}

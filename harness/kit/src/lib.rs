//! The node kit: everything a lab node needs besides the one idea its exercise teaches.
//!
//! An exercise's node binary is a few lines:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use node_kit::{NodeContext, Routes};
//!
//! fn main() -> std::process::ExitCode {
//!     node_kit::run(|ctx: NodeContext| async move {
//!         let hello = format!("hello from {}", ctx.config.id);
//!         Ok(Routes::new().public(Router::new().route("/hello", get(move || async { hello }))))
//!     })
//! }
//! ```
//!
//! The map:
//! - [`config`]: flags and environment variables, a node's own flags after `--`, the peer
//!   list, the ready line's format.
//! - [`run`] (this file): the node contract. It binds, prints the ready line, serves the
//!   node's routes next to `GET /health` and `GET /metrics`, guards `/internal/*` with the
//!   cluster cookie, reads request bodies in full (bounded in size and time) before a route
//!   sees them, and ends the process on SIGTERM/SIGINT
//!   (gracefully), on end of file on stdin (the harness that started it is gone) and on any
//!   panic (let it crash) outside a supervised task.
//! - [`crash`]: the panic rule and its one exception: a supervisor's children
//!   ([`crash::supervised`]), whose panics are the supervisor's to handle, and
//!   [`crash::escalate`], how a supervisor that gives up ends the node.
//! - [`server`]: the accept loop: read timeouts, a connection limit, the descriptor limit.
//! - [`error`]: the JSON error shape, a JSON extractor that uses it, and the middleware that
//!   gives axum's own plain-text rejections the same shape.
//! - [`metrics`]: the Prometheus text endpoint (a `prometheus-client` registry) and the
//!   middleware that feeds it.
//! - [`link`]: framed node-to-node connections over an HTTP/1.1 upgrade.
//! - [`peer`]: the HTTP client for peers (timeout and cookie, no retries) and [`Peer`], the
//!   handle that reaches one peer's routes, cart store and links.
//! - [`cart`]: the shop's cart API, defined once for every data node, and [`CartClient`],
//!   the one client of it.
//! - [`capacity`]: a node of known capacity for section 4: c workers, a fixed service time
//!   s, so it serves c / s a second on any machine; its queue depth on `/metrics`; the
//!   shop's checkout edge in front of it ([`capacity::checkout`]).
//! - [`sync`]: a mutex without poisoning (a panic ends the node, or a supervised child).
//!
//! The exact formats, once:
//! - ready line on stdout: `READY id=<id> addr=<ip:port>` ([`config::ready_line`]), after
//!   `LISTENING id=<id> addr=<ip:port>` as soon as it listens ([`config::listening_line`]);
//! - internal routes need the header `x-lab-cookie: <cookie>` ([`COOKIE_HEADER`]);
//! - errors are `{"error": "<code>", "message": "<sentence>"}` ([`error::ApiError`]);
//! - `<binary> healthcheck <host:port>` exits 0 if that node is healthy, 1 otherwise;
//! - exit status 2: bad configuration (one line on stderr); 101 ([`crash::PANIC_EXIT`]): a
//!   panic outside a supervised task; 70 ([`crash::ESCALATION_EXIT`]): a supervisor gave up.
//!
//! The bounds every node keeps, so no client can make it hold more (each a JSON error):
//! - a request body of at most [`BODY_LIMIT`] (413 `body_too_large`, chunked or not);
//! - a request's head and its body each within `NODE_READ_TIMEOUT_MS` (10 s): a late body is
//!   408 `body_timeout`, a late head or an idle kept-alive connection is closed;
//! - at most 4096 open connections, or half the descriptor limit (503
//!   `too_many_connections`); the soft descriptor limit is raised to the hard one at start;
//! - link frames of at most [`link::FRAME_LIMIT`]; carts of at most [`cart::MAX_ITEMS`]
//!   items (409 `cart_full`); metric labels from bounded sets only.

pub mod capacity;
pub mod cart;
pub mod config;
pub mod crash;
pub mod error;
pub mod link;
pub mod metrics;
pub mod peer;
pub mod server;
pub mod sync;

use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use cart::CartClient;
pub use config::{NoFlags, NodeConfig, Peers};
pub use error::{ApiError, Json};
pub use link::{Link, LinkClosed, LinkReceiver, LinkSender};
pub use metrics::Metrics;
pub use peer::{Peer, PeerClient};

/// The header that carries the cluster cookie on node-to-node requests.
pub const COOKIE_HEADER: &str = "x-lab-cookie";

/// The largest request body a node accepts; larger ones get 413 with the JSON error shape,
/// whether their length is declared or they come chunked.
pub const BODY_LIMIT: usize = 256 * 1024;

/// How long a graceful shutdown may take before the process exits anyway (open links and
/// long polls would otherwise hold it forever).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What a node's builder gets: its configuration and the shared services of the kit.
#[derive(Clone)]
pub struct NodeContext {
    pub config: NodeConfig,
    /// The address the node actually bound (port 0 resolved).
    pub addr: SocketAddr,
    /// HTTP client for peers, with the cookie set.
    pub peers: PeerClient,
    /// The registry behind `GET /metrics`; add the node's own figures here.
    pub metrics: Metrics,
}

type LinkHandler = Arc<dyn Fn(Link) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The routes a node adds to the kit's.
#[derive(Default)]
pub struct Routes {
    public: Router,
    internal: Router,
    link: Option<LinkHandler>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes for clients, served as given.
    pub fn public(mut self, router: Router) -> Self {
        self.public = self.public.merge(router);
        self
    }

    /// Node-to-node routes, served under `/internal` and only with the cluster cookie:
    /// `.route("/replicate", ..)` is reached as `/internal/replicate`.
    pub fn internal(mut self, router: Router) -> Self {
        self.internal = self.internal.merge(router);
        self
    }

    /// Accepts framed links ([`Link::dial`] on the other side); `handler` runs once per link.
    pub fn on_link<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Link) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.link = Some(Arc::new(move |link| Box::pin(handler(link))));
        self
    }
}

/// Parses the command line and runs the node; returns the process's exit code.
///
/// `build` gets the node's context once the address is bound and returns its routes (or a
/// one-line reason it cannot start, e.g. an unreadable data directory).
pub fn run<B, Fut>(build: B) -> ExitCode
where
    B: FnOnce(NodeContext) -> Fut,
    Fut: Future<Output = Result<Routes, String>>,
{
    run_with(|ctx, NoFlags {}| build(ctx))
}

/// [`run`] for a node with flags of its own: `F` derives `clap::Args`, its flags follow the
/// kit's after `--`, and `build` gets them parsed. Both sets are read by one parser before
/// anything starts, and `--help` lists both.
///
/// ```no_run
/// #[derive(clap::Args)]
/// struct Flags {
///     /// How often to tick, in milliseconds.
///     #[arg(long, default_value_t = 2000)]
///     tick_time_ms: u64,
/// }
///
/// fn main() -> std::process::ExitCode {
///     node_kit::run_with(|_ctx, flags: Flags| async move {
///         println!("ticking every {} ms", flags.tick_time_ms);
///         Ok(node_kit::Routes::new())
///     })
/// }
/// ```
pub fn run_with<F, B, Fut>(build: B) -> ExitCode
where
    F: clap::Args,
    B: FnOnce(NodeContext, F) -> Fut,
    Fut: Future<Output = Result<Routes, String>>,
{
    let (config, flags) = match config::Invocation::<F>::parse() {
        Ok(config::Invocation::Serve { config, flags }) => (config, flags),
        Ok(config::Invocation::Healthcheck { addr }) => return healthcheck(&addr),
        Err(code) => return code,
    };
    let build = move |ctx| build(ctx, flags);
    if let Err(reason) = init_tracing(&config.log) {
        return fail(&reason);
    }
    crash::install_hook(config.id.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(serve(config, build));
    // Background tasks (links, timers) must not keep the process alive after the server ends.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => fail(&reason),
    }
}

async fn serve<B, Fut>(config: NodeConfig, build: B) -> Result<(), String>
where
    B: FnOnce(NodeContext) -> Fut,
    Fut: Future<Output = Result<Routes, String>>,
{
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{}", config::listening_line(&config.id, addr));
    let _ = std::io::stdout().flush();
    if let Some(dir) = &config.data_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    }
    let fd_limit = server::raise_fd_limit().unwrap_or_else(|e| {
        tracing::warn!("cannot raise the file-descriptor limit: {e}");
        256
    });
    let limits = server::Limits::for_fd_limit(config.read_timeout(), fd_limit);
    let metrics = Metrics::default();
    let ctx = NodeContext {
        peers: PeerClient::new(config.peers.clone(), config.cookie.clone()),
        metrics: metrics.clone(),
        addr,
        config: config.clone(),
    };
    let routes = build(ctx).await?;
    let app = assemble(
        routes,
        config.id.clone(),
        config.cookie.clone(),
        metrics,
        limits.read_timeout,
    );

    watch_stdin();
    println!("{}", config::ready_line(&config.id, addr));
    let _ = std::io::stdout().flush();
    tracing::info!(id = %config.id, %addr, peers = %config.peers, ?limits, "node ready");

    server::serve(listener, app, limits, shutdown_signal()).await;
    tracing::info!("node stopped");
    Ok(())
}

/// The node's routes plus the kit's: health, metrics, the link upgrade, the cookie guard,
/// JSON 404/405 answers, request metrics, the body read, and JSON for every error.
fn assemble(
    routes: Routes,
    id: String,
    cookie: String,
    metrics: Metrics,
    body_timeout: Duration,
) -> Router {
    let mut internal = routes.internal;
    if let Some(handler) = routes.link {
        let upgrade = move |ws: WebSocketUpgrade| {
            let handler = handler.clone();
            async move {
                ws.max_message_size(link::FRAME_LIMIT)
                    .max_frame_size(link::FRAME_LIMIT)
                    .on_upgrade(move |socket| handler(Link::accepted(socket)))
            }
        };
        internal = internal.route(
            link::LINK_PATH.trim_start_matches("/internal"),
            get(upgrade),
        );
    }
    let internal = internal.layer(middleware::from_fn_with_state(
        Arc::new(cookie),
        require_cookie,
    ));
    let kit = Router::new()
        .route("/health", get(health).with_state(Arc::new(id)))
        .route("/metrics", get(metrics::serve).with_state(metrics.clone()));
    routes
        .public
        .merge(kit)
        .nest("/internal", internal)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The last layer added is the first to see a request: the body is in before the
        // request counts as in flight, so a client trickling its body cannot inflate it.
        .layer(middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn_with_state(
            (body_timeout, metrics),
            read_body,
        ))
        .layer(middleware::from_fn(error::json_errors))
}

async fn health(State(id): State<Arc<String>>) -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "id": *id }))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}

/// Reads the whole request body, at most [`BODY_LIMIT`] bytes within `timeout`, before the
/// routes see the request: 413 for a longer body (refused on its declared length before
/// reading any of it, or cut off as it arrives chunked), 408 for one that takes too long.
/// A refused request is counted in the metrics like any other (it never reaches `track`).
async fn read_body(
    State((timeout, metrics)): State<(Duration, Metrics)>,
    req: Request,
    next: Next,
) -> Response {
    use axum::http::StatusCode;
    use http_body_util::BodyExt;
    let started = std::time::Instant::now();
    let refused = metrics::Refused::of(&req);
    let too_large = |size: String| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is {size}; this node accepts at most {BODY_LIMIT} bytes"),
        )
        .into_response()
    };
    let count = |response: Response| {
        refused.count(&metrics, response.status().as_u16(), started.elapsed());
        response
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > BODY_LIMIT as u64) {
        return count(too_large(format!("{len} bytes")));
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, BODY_LIMIT);
    let body = match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return count(too_large(format!("more than {BODY_LIMIT} bytes")));
        }
        Ok(Err(e)) => {
            let broke = ApiError::bad_request(format!("the body broke off: {e}"));
            return count(broke.into_response());
        }
        Err(_) => {
            return count(
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!("the body did not arrive within {timeout:?}"),
                )
                .into_response(),
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn require_cookie(
    State(cookie): State<Arc<String>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(COOKIE_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if constant_time_eq(presented, cookie.as_bytes()) {
        next.run(req).await
    } else {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "bad_cookie",
            format!("internal routes need the cluster cookie in the {COOKIE_HEADER} header"),
        )
        .into_response()
    }
}

/// Compares without an early exit, so response time does not leak how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves on SIGTERM or SIGINT, then arms a watchdog so the process ends within
/// [`SHUTDOWN_GRACE`] even if a connection never finishes.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    std::thread::spawn(|| {
        std::thread::sleep(SHUTDOWN_GRACE);
        eprintln!("shutdown took longer than {SHUTDOWN_GRACE:?}; exiting");
        std::process::exit(0);
    });
}

/// When stdin is a pipe (the harness holds its other end), its end of file means whoever
/// started this node is gone, even if it was killed with SIGKILL: exit rather than linger as
/// an orphan. A terminal, a file or /dev/null (containers) is left alone.
fn watch_stdin() {
    // SAFETY: fstat on fd 0 with a zeroed out-parameter has no other preconditions.
    let is_pipe = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO
    };
    if !is_pipe {
        return;
    }
    std::thread::spawn(|| {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        eprintln!("stdin closed: the process that started this node is gone; exiting");
        std::process::exit(0);
    });
}

fn init_tracing(filter: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets: tracing_subscriber::filter::Targets = filter.parse().map_err(|e| {
        format!("--log {filter:?} is not a log filter (a level, or target=level,...): {e}")
    })?;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false),
        )
        .with(targets)
        .init();
    Ok(())
}

/// One line, no backtrace: bad configuration is the operator's to fix, not a bug.
fn fail(reason: &str) -> ExitCode {
    eprintln!("error: {reason}");
    ExitCode::from(2)
}

/// How long `healthcheck` may take in all: resolving, connecting, asking and reading.
const HEALTHCHECK_BUDGET: Duration = Duration::from_secs(2);

/// `GET /health` over a plain socket within [`HEALTHCHECK_BUDGET`]; no runtime, no HTTP
/// client needed.
fn healthcheck(addr: &str) -> ExitCode {
    match probe_health(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unhealthy: {addr}: {e}");
            ExitCode::from(1)
        }
    }
}

fn probe_health(addr: &str) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use std::net::{TcpStream, ToSocketAddrs};
    let deadline = std::time::Instant::now() + HEALTHCHECK_BUDGET;
    let timed_out = || {
        Error::new(
            ErrorKind::TimedOut,
            format!("no answer within {HEALTHCHECK_BUDGET:?}"),
        )
    };
    // What is left of the budget: each step waits at most that, so the whole stays in it.
    let left = || {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| Error::other("address resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&target, left()?)?;
    stream.set_write_timeout(Some(left()?))?;
    write!(stream, "GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        stream.set_read_timeout(Some(left()?))?;
        match stream.read(&mut head[got..]) {
            Ok(0) => return Err(Error::other("the connection closed before an answer")),
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timed_out());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "answered {:?}",
            String::from_utf8_lossy(&head)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}

//! The dashboard's HTTP side: the page and its control API, on 127.0.0.1 only, behind one
//! guard. A web page the instructor has open elsewhere must not be able to kill nodes, so
//! every request (page and API) needs the run's token (`?token=` or `X-Lab-Token`), a `Host`
//! naming this server, and no `Origin` but this server's own: anything else is a 403 whose
//! JSON says which. A bad control request is a JSON 4xx naming what is wrong.
//!
//! | route            | what                                                    |
//! |------------------|---------------------------------------------------------|
//! | `GET /`          | the page                                                |
//! | `GET /api/state` | the snapshot the page polls every second                |
//! | `POST /api/fault`| a `[[faults]]` entry as JSON: `{"fault": "kill", "target": "n2"}` |
//! | `POST /api/rate` | `{"rate": 200}`                                         |
//! | `POST /api/record` | the actions so far as a scenario file (and to `--record`) |
//! | `POST /api/stop` | stop: the report is written, the nodes stopped          |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use harness::fault::Entry;
use serde::Deserialize;
use serde_json::json;

use super::state::{Dashboard, Refusal};

const PAGE: &str = include_str!("assets/page.html");
const STYLE: &str = include_str!("assets/page.css");
const SCRIPT: &str = include_str!("assets/page.js");

/// A dashboard being served.
pub struct Served {
    /// The page's address with the token: what to open.
    pub url: String,
    pub addr: SocketAddr,
    pub token: String,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Stops serving (after the page saw the last snapshot).
    pub async fn shut_down(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

#[derive(Clone)]
struct App {
    dashboard: Arc<Dashboard>,
    token: String,
    /// The `Host` values that name this server: `127.0.0.1:<port>`, `localhost:<port>`.
    hosts: [String; 2],
    page: Arc<String>,
}

/// Serves `dashboard` on 127.0.0.1 (`port` 0: any free one) and starts its traffic.
pub async fn serve(dashboard: Arc<Dashboard>, port: u16) -> Result<Served, String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    let token = new_token()?;
    let page = PAGE
        .replace("/*REPORT_STYLE*/", harness::report::STYLE)
        .replace("/*PAGE_STYLE*/", STYLE)
        .replace("/*PAGE_SCRIPT*/", SCRIPT);
    let app = App {
        dashboard: dashboard.clone(),
        token: token.clone(),
        hosts: [
            format!("127.0.0.1:{}", addr.port()),
            format!("localhost:{}", addr.port()),
        ],
        page: Arc::new(page),
    };
    let router = Router::new()
        .route("/", get(page_route))
        .route("/api/state", get(state_route))
        .route("/api/fault", post(fault_route))
        .route("/api/rate", post(rate_route))
        .route("/api/record", post(record_route))
        .route("/api/stop", post(stop_route))
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "no such route", None) })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app);
    dashboard.start_background();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Served {
        url: format!("http://127.0.0.1:{}/?token={token}", addr.port()),
        addr,
        token,
        shutdown,
        task,
    })
}

/// 128 bits from the kernel, in hex.
fn new_token() -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("no random token (/dev/urandom: {e})"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn refuse(status: StatusCode, error: &str, field: Option<&str>) -> Response {
    (status, axum::Json(json!({"error": error, "field": field}))).into_response()
}

/// The one gate every request passes: Host, Origin, token.
async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
    match admitted(&app, request.headers(), request.uri().query()) {
        Ok(()) => next.run(request).await,
        Err(why) => refuse(StatusCode::FORBIDDEN, &why, None),
    }
}

fn admitted(app: &App, headers: &HeaderMap, query: Option<&str>) -> Result<(), String> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::HOST) {
        Some(host) if app.hosts.iter().any(|h| h == host) => {}
        Some(host) => {
            return Err(format!(
                "foreign Host {host:?}: this server is {}",
                app.hosts[0]
            ));
        }
        None => return Err("no Host header".into()),
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let ours = app.hosts.iter().any(|h| origin == format!("http://{h}"));
        if !ours {
            return Err(format!(
                "foreign Origin {origin:?}: only this server's own page may send"
            ));
        }
    }
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_string)
    });
    let given = from_query
        .or_else(|| text(header::HeaderName::from_static("x-lab-token")).map(str::to_string));
    match given {
        Some(t) if same(&t, &app.token) => Ok(()),
        Some(_) => Err("wrong token: use the address the dashboard printed".into()),
        None => Err("no token: use the address the dashboard printed (?token=...)".into()),
    }
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn page_route(State(app): State<App>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        app.page.as_str().to_owned(),
    )
        .into_response()
}

async fn state_route(State(app): State<App>) -> Response {
    let dashboard = app.dashboard.clone();
    match tokio::task::spawn_blocking(move || dashboard.snapshot()).await {
        Ok(snapshot) => axum::Json(snapshot).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

/// A `[[faults]]` entry, as the page sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    fault: String,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    groups: Option<Vec<Vec<String>>>,
    latency: Option<String>,
    jitter: Option<String>,
    p: Option<f64>,
    bytes_per_sec: Option<u64>,
}

/// The body as JSON of type `T`, or a 400 naming what is wrong with it.
// The error is the answer itself, returned once per bad request: not worth a box.
#[allow(clippy::result_large_err)]
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            &format!("bad request body: {e}"),
            None,
        )
    })
}

fn refusal(r: Refusal) -> Response {
    refuse(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        &r.error,
        r.field,
    )
}

async fn fault_route(State(app): State<App>, bytes: axum::body::Bytes) -> Response {
    let request: FaultRequest = match body(&bytes) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let entry = Entry {
        fault: request.fault,
        target: request.target,
        from: request.from,
        to: request.to,
        groups: request.groups,
        latency: request.latency,
        jitter: request.jitter,
        p: request.p,
        bytes_per_sec: request.bytes_per_sec,
    };
    let dashboard = app.dashboard.clone();
    match tokio::task::spawn_blocking(move || dashboard.apply(entry)).await {
        Ok(Ok(label)) => axum::Json(json!({"done": label})).into_response(),
        Ok(Err(r)) => refusal(r),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateRequest {
    rate: f64,
}

async fn rate_route(State(app): State<App>, bytes: axum::body::Bytes) -> Response {
    let request: RateRequest = match body(&bytes) {
        Ok(r) => r,
        Err(response) => return response,
    };
    match app.dashboard.set_rate(request.rate) {
        Ok(()) => axum::Json(json!({"rate": request.rate})).into_response(),
        Err(r) => refusal(r),
    }
}

async fn record_route(State(app): State<App>) -> Response {
    let text = app.dashboard.recording();
    let written = app.dashboard.write_recording().map(|r| match r {
        Ok(path) => path.display().to_string(),
        Err(e) => e,
    });
    axum::Json(json!({"scenario": text, "written": written})).into_response()
}

async fn stop_route(State(app): State<App>) -> Response {
    app.dashboard.stop();
    axum::Json(json!({"stopping": true})).into_response()
}

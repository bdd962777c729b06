//! The harness's own test node: the node contract and just enough behaviour to prove that every
//! fault the harness injects really happens.
//!
//! - `POST /echo`: the body back.
//! - `POST /note`: a JSON `{"text": ...}` back, for the kit's bad-input answers.
//! - `GET /slow/{ms}`: answers after `ms` milliseconds.
//! - `POST /crash`: panics, to show how a crash mid-run is reported.
//! - `GET /peers`: asks every peer `GET /internal/ping` (300 ms budget) and reports
//!   `{"n2": "up", "n3": "down: ..."}`: the node's own view of who it can reach.
//! - `GET /internal/ping`: `pong from <id>` (cookie required).
//! - `PUT /data/{name}` and `GET /data/{name}`: a file in the data directory, to show that a
//!   restarted node keeps it.
//! - links: every frame is echoed back.
//!
//! - the cart API of `node_kit::cart`, stored durably in the data directory ([`carts`]).
//!
//! Node-specific flags (after `--`, see [`Flags`]): `--panic-on-start`, a stand-in for a
//! skeleton's `todo!()`; `--start-ms`, a slow start-up after the node listens; `--ack-before-write`, a cart store that acknowledges adds before they
//! are on disk (the broken store a checker must catch); `--careless`, a cart route that
//! answers hostile input with plain-text 5xx and keeps memory per request ([`careless`]: the
//! hostile smoke test's self-test).

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use node_kit::{ApiError, NodeContext, Routes};

mod careless;
mod carts;

/// The test node's own flags, after `--`.
#[derive(clap::Args)]
struct Flags {
    /// Panic while starting, as a skeleton's todo!() does.
    #[arg(long)]
    panic_on_start: bool,
    /// Acknowledge cart adds before they are on disk: the broken store a checker must catch.
    #[arg(long)]
    ack_before_write: bool,
    /// Answer hostile input badly on purpose (plain-text 5xx, memory kept per request).
    #[arg(long)]
    careless: bool,
    /// Take this long to start once listening, as a node that first tells its peers about
    /// itself (a ring's new member) does.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    start_ms: u64,
}

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx: NodeContext, flags: Flags| async move {
        if flags.panic_on_start {
            todo!("the test node was asked to panic on start");
        }
        tokio::time::sleep(Duration::from_millis(flags.start_ms)).await;
        let ack_before_write = flags.ack_before_write;
        let data_dir = ctx.config.data_dir.clone();
        let id = ctx.config.id.clone();
        let mut public = Router::new()
            .route("/echo", post(|body: Bytes| async move { body }))
            .route("/note", post(note))
            .route("/slow/{ms}", get(slow))
            .route("/crash", post(crash))
            .route("/peers", get(peers).with_state(ctx.clone()))
            .route(
                "/data/{name}",
                get(read_data).put(write_data).with_state(data_dir.clone()),
            );
        if flags.careless {
            public = public.merge(careless::routes());
        } else if let Some(dir) = &data_dir {
            public = public.merge(node_kit::cart::routes(carts::Carts::open(
                dir,
                ack_before_write,
            )?));
        }
        let internal = Router::new().route(
            "/ping",
            get(move || async move { format!("pong from {id}") }),
        );
        Ok(Routes::new()
            .public(public)
            .internal(internal)
            .on_link(|link| async move {
                let (sender, mut receiver) = link.split();
                while let Some(frame) = receiver.recv().await {
                    if sender.send(frame).is_err() {
                        break;
                    }
                }
            }))
    })
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Note {
    text: String,
}

async fn note(node_kit::Json(note): node_kit::Json<Note>) -> node_kit::Json<Note> {
    node_kit::Json(note)
}

async fn crash() -> &'static str {
    panic!("crash requested by POST /crash")
}

async fn slow(Path(ms): Path<u64>) -> String {
    tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    format!("slept {ms} ms")
}

async fn peers(State(ctx): State<NodeContext>) -> axum::Json<serde_json::Value> {
    let mut view = serde_json::Map::new();
    for peer in ctx.peers.iter() {
        let request = peer
            .request(axum::http::Method::GET, "/internal/ping")
            .timeout(Duration::from_millis(300));
        let state = match request.send().await {
            Ok(r) if r.status().is_success() => "up".to_string(),
            Ok(r) => format!("down: HTTP {}", r.status()),
            Err(e) => format!(
                "down: {}",
                if e.is_timeout() {
                    "timeout".to_string()
                } else {
                    e.to_string()
                }
            ),
        };
        view.insert(peer.id().to_string(), state.into());
    }
    axum::Json(view.into())
}

fn data_file(dir: &Option<PathBuf>, name: &str) -> Result<PathBuf, ApiError> {
    let dir = dir
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("this node has no --data-dir"))?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::bad_request(format!(
            "{name:?} is not a file name (1 to 64 letters, digits, '-', '_')"
        )));
    }
    Ok(dir.join(name))
}

async fn write_data(
    State(dir): State<Option<PathBuf>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let path = data_file(&dir, &name)?;
    std::fs::write(&path, &body).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok("stored")
}

async fn read_data(
    State(dir): State<Option<PathBuf>>,
    Path(name): Path<String>,
) -> Result<Bytes, ApiError> {
    let path = data_file(&dir, &name)?;
    std::fs::read(&path)
        .map(Bytes::from)
        .map_err(|_| ApiError::not_found(format!("no data named {name}")))
}

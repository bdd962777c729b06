//! Given. The logic node of exercise 07: four services ([`worker::SERVICES`]) under one
//! supervisor, and the routes that show it and break it.
//!
//! - `GET /children`: the supervisor's view ([`crate::SupervisorView`]): strategy, intensity, how
//!   many restarts, each child's generation.
//! - `POST /call/{child}`: a call to one service; its [`Reply`] says which generation answered
//!   and how many calls that instance has served. 503 `child_down` while it restarts.
//! - `POST /internal/crash/{child}`: the child panics, in its own task (cookie required).
//! - `PUT /internal/crash-loop/{child}` with `{"every_ms": 100}`: every instance of the child
//!   panics that long after it starts, until `DELETE /internal/crash-loop/{child}`.
//!
//! The node's flags (after `--`): `--strategy`, `--intensity`, `--period-ms`, and
//! `--unsupervised`: the naive control, the same services spawned as plain tasks with no
//! supervisor, where a child's panic is nobody's to handle and ends the node.
//!
//! When the supervisor gives up, the node escalates ([`node_kit::crash::escalate`]): one log
//! line saying why, and exit status 70.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use node_kit::{ApiError, Json, NodeContext, Routes};
use serde::Deserialize;

use crate::supervisor::{ChildSpec, Intensity, Strategy, Supervisor, View};
use crate::worker::{self, Msg, Registry, Reply, Undelivered};

/// The node's own flags, after `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Which children a crash restarts.
    #[arg(long, value_enum, default_value_t = Strategy::OneForOne)]
    pub strategy: Strategy,
    /// At most this many restarts within the period; one more and the supervisor gives up.
    #[arg(long, default_value_t = 3)]
    pub intensity: u32,
    /// The period of the intensity, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub period_ms: u64,
    /// The naive control: no supervisor; a child's panic ends the node.
    #[arg(long)]
    pub unsupervised: bool,
}

/// How long a call waits for its service's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest crash loop interval a client may ask for.
const MAX_CRASH_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Node {
    registry: Registry,
    /// `None` for the unsupervised control.
    view: Option<View>,
}

/// Starts the services (under a supervisor unless `--unsupervised`) and returns the routes.
pub fn start(ctx: &NodeContext, flags: &Flags) -> Result<Routes, String> {
    if flags.period_ms == 0 {
        return Err("--period-ms must be at least 1".into());
    }
    let registry = Registry::new(&worker::SERVICES);
    let specs = worker::SERVICES.iter().map(|name| {
        let registry = registry.clone();
        let name = name.to_string();
        ChildSpec::new(name.clone(), move |generation| {
            worker::run(registry.clone(), name.clone(), generation)
        })
    });
    let view = if flags.unsupervised {
        for spec in specs {
            // A plain task: its panic escapes to the kit's rule and ends the node.
            tokio::spawn(spec.instance(1));
        }
        tracing::warn!("no supervisor: a child's crash ends the node");
        None
    } else {
        let intensity = Intensity {
            restarts: flags.intensity,
            period: Duration::from_millis(flags.period_ms),
        };
        let supervisor = specs.fold(
            Supervisor::new(ctx.config.id.clone(), flags.strategy, intensity),
            Supervisor::child,
        );
        let view = supervisor.view();
        // The supervisor itself is no supervised child: if it breaks, the node goes down.
        tokio::spawn(async move {
            let escalation = supervisor.run().await;
            node_kit::crash::escalate(&escalation.to_string());
        });
        Some(view)
    };
    let node = Node { registry, view };
    let public = Router::new()
        .route("/children", get(children))
        .route("/call/{child}", post(call))
        .with_state(node.clone());
    let internal = Router::new()
        .route("/crash/{child}", post(crash))
        .route(
            "/crash-loop/{child}",
            put(crash_loop).delete(stop_crash_loop),
        )
        .with_state(node);
    Ok(Routes::new().public(public).internal(internal))
}

async fn children(State(node): State<Node>) -> Json<serde_json::Value> {
    match &node.view {
        Some(view) => Json(serde_json::to_value(view.get()).unwrap_or_default()),
        None => Json(serde_json::json!({ "strategy": "none", "children": worker::SERVICES })),
    }
}

/// The JSON error for a message that did not reach `child`.
fn undelivered(child: &str, why: Undelivered) -> ApiError {
    match why {
        Undelivered::Unknown => ApiError::not_found(format!(
            "no child {child:?}; the children are {}",
            worker::SERVICES.join(", ")
        )),
        Undelivered::Down => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "child_down",
            format!("{child} is down (restarting?); try again"),
        ),
    }
}

async fn call(
    State(node): State<Node>,
    Path(child): Path<String>,
) -> Result<Json<Reply>, ApiError> {
    node.registry
        .call(&child, CALL_TIMEOUT)
        .await
        .map(Json)
        .map_err(|why| undelivered(&child, why))
}

async fn crash(
    State(node): State<Node>,
    Path(child): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    node.registry
        .send(&child, Msg::Crash("crash requested".into()))
        .map_err(|why| undelivered(&child, why))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "crashing": child })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashLoop {
    every_ms: u64,
}

async fn crash_loop(
    State(node): State<Node>,
    Path(child): Path<String>,
    Json(body): Json<CrashLoop>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let every = Duration::from_millis(body.every_ms);
    if every.is_zero() || every > MAX_CRASH_EVERY {
        return Err(ApiError::bad_request(format!(
            "every_ms must be 1 to {}",
            MAX_CRASH_EVERY.as_millis()
        )));
    }
    node.registry
        .crash_loop(&child, Some(every))
        .map_err(|why| undelivered(&child, why))?;
    Ok(Json(
        serde_json::json!({ "child": child, "every_ms": body.every_ms }),
    ))
}

async fn stop_crash_loop(
    State(node): State<Node>,
    Path(child): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    node.registry
        .crash_loop(&child, None)
        .map_err(|why| undelivered(&child, why))?;
    Ok(Json(
        serde_json::json!({ "child": child, "every_ms": null }),
    ))
}

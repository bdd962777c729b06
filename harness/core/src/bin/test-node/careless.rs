//! `--careless`: the mistakes a node must not make with hostile input, made on purpose, so the
//! hostile smoke test (`harness/core/examples/hostile.rs --self-test`) can show it catches
//! each one. Never the behaviour of a real node of the lab.
//!
//! - `POST /carts/{cart}/items` parses the body itself: malformed JSON is a plain-text 500
//!   (an `unwrap` that became a crash page), a body of the wrong shape a 400 HTML page (over
//!   the 4 KB of plain text the kit's error middleware rewrites as JSON);
//! - every request to these routes keeps 1 MB for ever (a cache without a bound).

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use node_kit::cart::AddItem;
use node_kit::sync::Mutex;

/// What the careless node keeps: it only grows.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub fn routes() -> Router {
    Router::new()
        .route("/carts/{cart}/items", post(add_item))
        .layer(middleware::from_fn(keep_a_megabyte))
}

async fn add_item(body: Bytes) -> Response {
    match serde_json::from_slice::<AddItem>(&body) {
        Ok(_) => "added".into_response(),
        Err(e) if e.is_syntax() || e.is_eof() => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        Err(e) => {
            let style = "body { font-family: sans-serif; }\n".repeat(200);
            let page = format!("<html><style>{style}</style><h1>Bad request</h1>{e}</html>");
            (StatusCode::BAD_REQUEST, page).into_response()
        }
    }
}

async fn keep_a_megabyte(req: Request, next: Next) -> Response {
    // Filled, not zeroed: zeroed pages are not resident until written.
    KEPT.lock().push(vec![0xA5; 1 << 20]);
    next.run(req).await
}

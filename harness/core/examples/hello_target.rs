//! An axum hello-world server: the one target `scripts/compare-load.sh` points every load
//! generator at (`cargo lab load`, oha, wrk), so that they are compared on the same server in
//! the same run. Build it in release, so that the server is never the bottleneck it measures:
//!
//! ```sh
//! cargo run --release -p harness --example hello_target -- 127.0.0.1:8099
//! ```
//!
//! It answers `GET /` with `hello` and prints `listening on ADDR` once it accepts connections.
//! Argument: the address to listen on (default 127.0.0.1:0, a free port). Threads: tokio's
//! default, one per core, like any axum service.

use axum::Router;
use axum::routing::get;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let app = Router::new().route("/", get(|| async { "hello" }));
        axum::serve(listener, app).await
    })
}

//! What the cluster tests and the demo share (`examples/black_friday.rs` includes this
//! file): the bounds the nodes run with, and what a node says about itself. One checkout as
//! the load generator counts it is the harness's ([`harness::checkout`]).

use std::time::Duration;

/// The service behind each edge: c workers of s each, so c / s = 100 checkouts a second.
pub const WORKERS: usize = 4;
pub const SERVICE_TIME: Duration = Duration::from_millis(40);
pub const CAPACITY: f64 = WORKERS as f64 / 0.040;

/// The regulator's bounds: 6 waiting drain in 60 ms; none waits over 100 ms.
pub const MAX_QUEUE: usize = 6;
pub const MAX_WAIT: Duration = Duration::from_millis(100);

/// The shop's promise: a checkout answered within 150 ms. An admitted one takes the queue's
/// 60 ms plus its service, 100 ms, by design: the rest is margin for a busy machine.
pub const SLO: Duration = Duration::from_millis(150);

/// The edge node's own flags for these bounds.
pub fn node_args() -> Vec<String> {
    [
        "--workers".to_string(),
        WORKERS.to_string(),
        "--service-time-ms".into(),
        SERVICE_TIME.as_millis().to_string(),
        "--max-queue".into(),
        MAX_QUEUE.to_string(),
        "--max-wait-ms".into(),
        MAX_WAIT.as_millis().to_string(),
    ]
    .into()
}

/// The checkout's client side is the harness's, as every section-4 edge speaks the kit's wire.
#[allow(unused_imports)] // each user reads its own part
pub use harness::checkout::{EXPIRED, REJECTED, checkout, client, metric};

/// The resident memory of the process `pid`, in bytes (Linux: `/proc/<pid>/status`).
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

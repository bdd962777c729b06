//! The dashboard's workload: cart traffic, open loop, at a rate the page may change at any
//! moment. The operations are the scenario workload's own ([`Traffic`]: a unique item added
//! to a seeded cart, or a cart read, on a seeded node, every one in the history), so a
//! recording replayed with the same seed sends the same operations; only the pacing is the
//! dashboard's, since `harness::load` runs one schedule fixed in advance.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use harness::load::{Operation, Shot};
use harness::scenario::workload::{Node, Traffic};

use super::state::Dashboard;

/// The workload's shape, also written into a recording.
pub const CARTS: usize = 20;
pub const READ_SHARE: f64 = 0.2;
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// How often the pacer wakes to send what is due.
const TICK: Duration = Duration::from_millis(10);
/// Beyond this many requests in flight the pacer sends nothing more (a hung cluster at a high
/// rate must not eat the laptop's memory): what falls due meanwhile is not sent at all.
const MAX_IN_FLIGHT: usize = 5_000;

/// Sends the traffic until the dashboard stops.
pub async fn drive(dashboard: Arc<Dashboard>) {
    let http = match reqwest::Client::builder()
        .pool_idle_timeout(node_kit::peer::POOL_IDLE)
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            eprintln!("lab: dashboard: no HTTP client ({e}); no traffic");
            return;
        }
    };
    let everyone: Vec<(String, SocketAddr)> = dashboard
        .ids()
        .iter()
        .map(|id| (id.clone(), dashboard.cluster().addr(id)))
        .collect();
    let traffic = Arc::new(Traffic {
        nodes: everyone
            .iter()
            .map(|(id, addr)| Node::new(&http, id, *addr, &everyone))
            .collect(),
        http,
        history: dashboard.history().clone(),
        get: None,
        carts: CARTS,
        read_share: READ_SHARE,
        seed: dashboard.seed(),
    });
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = 0.0_f64;
    let mut last = tokio::time::Instant::now();
    let mut index = 0_u64;
    let start = dashboard.history().start();
    while !dashboard.is_stopping() {
        ticker.tick().await;
        let now = tokio::time::Instant::now();
        due += dashboard.rate() * now.duration_since(last).as_secs_f64();
        last = now;
        while due >= 1.0 {
            due -= 1.0;
            if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (traffic, in_flight) = (traffic.clone(), in_flight.clone());
            let shot = Shot {
                index,
                intended: start.elapsed(),
                worker: None,
            };
            index += 1;
            tokio::spawn(async move {
                traffic.call(shot).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}

//! The dashboard's workload: cart traffic, open loop, at a rate the page may change at any
//! moment. The operations are the scenario workload's (a unique item added to a seeded cart,
//! or a cart read, on a seeded node, every one in the history with the same outcomes), so a
//! recording replays the same kind of traffic; only the pacing is the dashboard's own, since
//! `harness::load` runs one schedule fixed in advance.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use harness::history::Action;
use harness::load::Outcome;
use node_kit::cart::{AddItem, CartClient};

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
    let ids = dashboard.ids().to_vec();
    let everyone: Vec<(String, SocketAddr)> = ids
        .iter()
        .map(|id| (id.clone(), dashboard.cluster().addr(id)))
        .collect();
    let nodes: Arc<Vec<(String, CartClient)>> = Arc::new(
        everyone
            .iter()
            .map(|(id, addr)| {
                let carts = CartClient::with_http(http.clone(), addr)
                    .follow_redirects(everyone.iter().cloned());
                (id.clone(), carts)
            })
            .collect(),
    );
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = 0.0_f64;
    let mut last = tokio::time::Instant::now();
    let mut index = 0_u64;
    let seed = dashboard.seed();
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
            let (dashboard, nodes, in_flight) =
                (dashboard.clone(), nodes.clone(), in_flight.clone());
            let shot = index;
            index += 1;
            tokio::spawn(async move {
                one(&dashboard, &nodes, seed, shot).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}

/// One operation: seeded by its index, as the scenario workload's are.
async fn one(dashboard: &Dashboard, nodes: &[(String, CartClient)], seed: u64, index: u64) {
    let mut draw = Draw(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index);
    let (id, carts) = &nodes[draw.below(nodes.len() as u64) as usize];
    let cart = format!("c{}", draw.below(CARTS as u64));
    let history = dashboard.history();
    if draw.unit() < READ_SHARE {
        let invocation = history.invoke(id.clone(), Action::Read { key: cart.clone() });
        match carts.get(&cart).await {
            Ok(answer) => invocation.read(answer.cart.items),
            Err(e) => invocation.fail(e.kind()),
        }
    } else {
        let item = format!("d{index}");
        let add = AddItem {
            request_id: item.clone(),
            item: item.clone(),
        };
        let invocation = history.invoke(
            id.clone(),
            Action::Add {
                key: cart.clone(),
                item,
            },
        );
        let outcome = match carts.add(&cart, &add).await {
            Ok(_) => Outcome::Ok,
            Err(e) if e.may_have_applied() => Outcome::unknown(e.kind()),
            Err(e) => Outcome::fail(e.kind()),
        };
        outcome.record(invocation);
    }
}

/// splitmix64: a seeded draw with no state beyond one word.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

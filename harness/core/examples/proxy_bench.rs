//! What a healthy fault proxy costs: round-trip latency of a 64-byte ping-pong, direct to an
//! echo server and through a [`harness::Proxy`] with no faults, in the same run.
//!
//! ```text
//! cargo run --release -p harness --example proxy_bench [iterations]
//! ```
//!
//! The two paths alternate in blocks, so a noisy neighbour on a 2-core laptop hurts both alike.
//! Throughput (HTTP keep-alive, many connections) is measured with wrk, not here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use harness::Proxy;

const MESSAGE: usize = 64;
const BLOCK: usize = 1_000;

fn main() {
    let iterations: usize = match std::env::args().nth(1) {
        None => 20_000,
        Some(n) => n.parse().expect("usage: proxy_bench [iterations]"),
    };
    let upstream = echo_server();
    let proxy = Proxy::start("bench->echo", 0).expect("start the proxy");
    proxy.set_upstream(Some(upstream));

    let mut direct = connect(upstream);
    let mut proxied = connect(proxy.addr());
    for conn in [&mut direct, &mut proxied] {
        for _ in 0..BLOCK {
            ping(conn); // warm up: caches, the proxy runtime's threads, the allocator
        }
    }

    let (mut direct_rtts, mut proxied_rtts) = (Vec::new(), Vec::new());
    while direct_rtts.len() < iterations {
        let block = BLOCK.min(iterations - direct_rtts.len());
        direct_rtts.extend((0..block).map(|_| ping(&mut direct)));
        proxied_rtts.extend((0..block).map(|_| ping(&mut proxied)));
    }

    let direct = summary(&mut direct_rtts);
    let proxied = summary(&mut proxied_rtts);
    println!("{iterations} round trips of {MESSAGE} bytes each way");
    println!("{:<10}{:>10}{:>10}", "", "p50 µs", "p99 µs");
    println!("{:<10}{:>10.1}{:>10.1}", "direct", direct.0, direct.1);
    println!("{:<10}{:>10.1}{:>10.1}", "proxied", proxied.0, proxied.1);
    println!(
        "added by the proxy: {:.1} µs at p50, {:.1} µs at p99",
        proxied.0 - direct.0,
        proxied.1 - direct.1
    );
}

fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                conn.set_nodelay(true).unwrap();
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).unwrap();
    conn
}

fn ping(conn: &mut TcpStream) -> Duration {
    let message = [42u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    let start = Instant::now();
    conn.write_all(&message).unwrap();
    conn.read_exact(&mut back).unwrap();
    start.elapsed()
}

/// (p50, p99) in microseconds.
fn summary(rtts: &mut [Duration]) -> (f64, f64) {
    rtts.sort_unstable();
    let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

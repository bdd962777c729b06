//! The proxy's per-chunk path: a 64-byte request and its echo through a healthy link (the
//! fast path), through a link with a fault in force that does nothing (the fault path:
//! reader, queue, writer), through a bare tokio `copy_bidirectional` proxy (the peer issue 13
//! holds it to), and direct, for scale; and 64 KiB each way, for the bulk case.
//!
//! `cargo bench -p harness --bench proxy` (add `-- --quick` for a short run).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::Proxy;

fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0; 64 * 1024];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A bare proxy on a runtime of its own with as many worker threads as the harness proxy has
/// threads (two).
fn bare_proxy(upstream: SocketAddr) -> SocketAddr {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        })
    });
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    conn
}

/// Sends `msg` and reads all of it back.
fn echo(conn: &mut TcpStream, msg: &[u8], back: &mut [u8]) {
    let mut writer = conn.try_clone().unwrap();
    if msg.len() <= 4096 {
        writer.write_all(msg).unwrap();
        conn.read_exact(back).unwrap();
    } else {
        // A bulk write must not wait for the echo it fills: write and read at once.
        std::thread::scope(|s| {
            s.spawn(move || writer.write_all(msg).unwrap());
            conn.read_exact(back).unwrap();
        });
    }
}

fn proxy_chunks(c: &mut Criterion) {
    let upstream = echo_server();
    let healthy = Proxy::start("bench->echo", 0).unwrap();
    healthy.set_upstream(Some(upstream));
    let faulty = Proxy::start("bench->echo (fault path)", 0).unwrap();
    faulty.set_upstream(Some(upstream));
    // A limit no loopback reaches: every chunk takes the fault path, and none is slowed.
    faulty.bandwidth(Some(u64::MAX));

    let bare = bare_proxy(upstream);

    let mut group = c.benchmark_group("proxy");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (size, label) in [(64usize, "64 B"), (64 * 1024, "64 KiB")] {
        let msg = vec![7u8; size];
        let mut back = vec![0u8; size];
        group.throughput(Throughput::Bytes(2 * size as u64));
        for (path, addr) in [
            ("direct", upstream),
            ("bare copy proxy", bare),
            ("fast path", healthy.addr()),
            ("fault path", faulty.addr()),
        ] {
            let mut conn = connect(addr);
            group.bench_function(format!("echo {label} {path}"), |b| {
                b.iter(|| echo(&mut conn, &msg, &mut back))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, proxy_chunks);
criterion_main!(benches);

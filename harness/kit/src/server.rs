//! Serving connections, with bounds on what one client can hold.
//!
//! `axum::serve` has no timeouts and no connection limit: a client that opens sockets and
//! sends nothing (or one header byte a minute) keeps them forever, and about a thousand of
//! them use up a common file-descriptor limit and take `/health` down with everything else.
//! So the kit runs its own accept loop over hyper's HTTP/1.1 connection, with:
//!
//! - a read timeout ([`Limits::read_timeout`]) for a request's head, which is also how long
//!   a kept-alive connection may sit idle between requests (hyper's header-read timer runs
//!   whenever a connection waits for a head); the body has the same budget, enforced where it
//!   is read (`read_body` in lib.rs);
//! - at most [`Limits::max_connections`] open connections; one more is answered 503 with the
//!   JSON error shape and closed, so the node keeps descriptors for its peers and files;
//! - at most [`MAX_HEAD`] bytes of request head buffered per connection;
//! - the soft file-descriptor limit raised to the hard one at start ([`raise_fd_limit`]).
//!
//! A link (a WebSocket upgrade, behind the cookie) leaves the accept loop's accounting once
//! upgraded: it is long-lived by design and only cluster members can open one.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// The most bytes of request line and headers a connection may buffer; a longer head is
/// refused (431) by hyper. Cookies and ids are short: 16 KiB is ample, and bounds what the
/// most connections can hold in heads to 64 MiB.
pub const MAX_HEAD: usize = 16 * 1024;

/// Connections beyond the limit still get an answer, but only this many at once; past that
/// they are closed without one (a flood must not buy descriptors by being refused).
const MAX_REFUSING: usize = 64;

/// How long writing the refusal to a connection over the limit may take.
const REFUSAL_BUDGET: Duration = Duration::from_secs(1);

/// What the accept loop allows each client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may wait for a request's head (idle between requests included)
    /// and how long a request's body may take to arrive.
    pub read_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Limits {
    /// The default connection limit: 4096 (what `lab load` keeps in flight at most by
    /// default, so the lab's own load never meets it), or half the descriptors the process
    /// may open if that is less (the other half is for peers, files and links).
    pub fn for_fd_limit(read_timeout: Duration, fd_limit: u64) -> Limits {
        let half = usize::try_from(fd_limit / 2).unwrap_or(usize::MAX);
        Limits {
            read_timeout,
            max_connections: half.clamp(16, 4096),
        }
    }
}

/// Raises the soft limit on open file descriptors to the hard limit (macOS: to 10 240, the
/// most its kernel takes) and returns the limit now in force.
pub fn raise_fd_limit() -> io::Result<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(unused_mut)]
    let mut wanted = limit.rlim_max;
    #[cfg(target_os = "macos")]
    {
        wanted = wanted.min(10_240);
    }
    if wanted > limit.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit; a soft limit at or below the hard one is valid.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = wanted;
    }
    Ok(limit.rlim_cur)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish (the
/// caller's watchdog bounds how long).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let (stop, stopped) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (or a connection aborted before it was taken): wait
                    // a moment rather than spin; connections closing make room.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REFUSAL_BUDGET, refuse(stream, limits)).await;
                    drop(permit);
                });
            }
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.read_timeout)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(());
    // Every connection holds a permit until it ends: taking them all waits for the last.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

/// The answer for a connection over the limit: 503 with the JSON error shape, then close.
async fn refuse(mut stream: TcpStream, limits: Limits) {
    let body = serde_json::json!({
        "error": "too_many_connections",
        "message": format!(
            "this node serves at most {} connections at once; retry later",
            limits.max_connections
        ),
    })
    .to_string();
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_leaves_half_the_descriptors_free() {
        let t = Duration::from_secs(1);
        assert_eq!(Limits::for_fd_limit(t, 1_048_576).max_connections, 4096);
        assert_eq!(Limits::for_fd_limit(t, 1024).max_connections, 512);
        assert_eq!(Limits::for_fd_limit(t, 256).max_connections, 128);
    }

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        let now = raise_fd_limit().expect("getrlimit works");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_fd_limit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, now);
        if cfg!(target_os = "linux") {
            assert_eq!(limit.rlim_cur, limit.rlim_max);
        }
    }
}

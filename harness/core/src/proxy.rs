//! The fault proxy: one link of the lab's network, with a hand on the tap.
//!
//! A *link* is one direction of reachability: "n1 reaches n2" or "clients reach n2". The
//! cluster starts one [`Proxy`] per link and gives the nodes the proxy addresses as their peers,
//! so every byte between two nodes crosses exactly one proxy, and a restarted node on a new port
//! is still reachable at the same address ([`Proxy::set_upstream`]). A link carries any number
//! of TCP connections; each accepted connection gets one task that owns both sockets:
//!
//! ```text
//!  client ──► reader ──► queue ──► writer ──► upstream      (bytes the link's caller sends)
//!  client ◄── writer ◄── queue ◄── reader ◄── upstream      (the replies)
//! ```
//!
//! A healthy connection (no fault in force that touches open connections) takes a fast path
//! first: one task moves bytes straight from socket to socket through a buffer per direction,
//! with no queue, no allocation per chunk and no clock, as a bare `copy_bidirectional` proxy
//! would. It watches the link's faults as it goes: the moment one is set, the connection hands
//! what it holds (bytes read and not yet written, which sides have closed) to the fault path
//! below and stays there for the rest of its life.
//!
//! On the fault path, a reader stamps each chunk with the delay in force when it arrived; a
//! writer waits for that time, applies the link's current faults and writes. The queue is FIFO, so a chunk with less
//! jitter waits behind its predecessor: jitter never reorders bytes. A full queue stops the
//! reader, and TCP's own flow control pushes back on the sender.
//!
//! | fault | open connections | new connections |
//! | --- | --- | --- |
//! | [`cut`](Proxy::cut) | bytes and closes held both ways, delivered in order on heal | accepted, held before connecting upstream |
//! | [`blackhole`](Proxy::blackhole) | bytes swallowed both ways; closes held until heal | same |
//! | [`latency`](Proxy::latency) | each chunk delayed by latency + uniform[0, jitter], never reordered | same |
//! | [`bandwidth`](Proxy::bandwidth) | each direction paced to the rate | same |
//! | [`loss`](Proxy::loss) | untouched | with probability p, blackholed for life |
//! | [`drop_response`](Proxy::drop_response) | each reply, with probability p: the client reset when its first byte would be delivered | same |
//! | [`reset`](Proxy::reset) | reset (RST) both sides now | untouched |
//! | upstream `None` | untouched | reset at once |
//!
//! Closes pass through promptly: a FIN is delivered after the bytes sent before it, an RST
//! (or any socket error) resets the other side at once, or as soon as a cut or blackhole lifts.
//! TCP cannot lose a single byte without breaking the stream, so loss is per connection; a lost
//! reply is per request and reply (the first bytes back after the client sent), so it reaches
//! a client that keeps its connections alive as much as one that opens a new one each time.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// Largest read, in bytes. One allocation of this size per chunk is the proxy's only copy.
const CHUNK: usize = 16 * 1024;
/// Chunks a direction may hold (512 KiB at most) before its reader stops and TCP pushes back.
const QUEUE_CHUNKS: usize = 32;
/// A rate-limited writer sends a second's worth of bytes in this many slices, so pacing is smooth.
const PACING_SLICES_PER_SEC: u64 = 20;

/// How many threads carry the proxies' connections.
const SHARDS: usize = 2;

/// The runtimes every proxy runs on: [`SHARDS`] single-threaded ones, each driven by a thread
/// of its own, and each connection lives on one of them for its whole life (they take turns).
/// They belong to the harness, never to the caller: a test's own runtime may be
/// single-threaded, busy or shutting down, and a link must keep flowing.
///
/// Why not one multi-threaded runtime of two workers. A connection of small requests and
/// replies wakes its task for every chunk; on a work-stealing runtime a wake-up may also wake
/// an idle worker to look for work (a futex call and a context switch, to find nothing) and
/// move the task's data between cores. A thread that owns its connections sleeps in epoll and
/// wakes for its own sockets only. Measured on 2 cores, `wrk -t2 -c32` through a healthy link
/// (`scripts/compare-proxy.sh`, issue 13, alternating rounds): a multi-threaded runtime
/// carried 0.87-1.04x a bare `copy_bidirectional` proxy's throughput (5 rounds, mean 0.97x),
/// the bare one making 2 500 futex calls a second; two single-threaded ones 0.91-1.13x (13
/// rounds, mean 1.04x) with none. Both make the four socket calls per request that are the
/// least a proxy can (a read and a write each way); one thread alone carried 0.94-0.99x.
struct Shards {
    handles: Vec<tokio::runtime::Handle>,
    /// The shard the next connection goes to.
    turn: AtomicUsize,
}

impl Shards {
    /// The runtime the next connection lives on.
    fn pick(&self) -> &tokio::runtime::Handle {
        &self.handles[self.turn.fetch_add(1, Ordering::Relaxed) % self.handles.len()]
    }

    /// The runtime every link's accept loop runs on.
    fn first(&self) -> &tokio::runtime::Handle {
        &self.handles[0]
    }
}

fn shards() -> &'static Shards {
    static SHARDS_: OnceLock<Shards> = OnceLock::new();
    SHARDS_.get_or_init(|| {
        let handles = (0..SHARDS)
            .map(|k| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the harness could not start its proxy runtime (out of threads?)");
                let handle = runtime.handle().clone();
                std::thread::Builder::new()
                    .name(format!("lab-proxy-{k}"))
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))
                    .expect("the harness could not start its proxy threads (out of threads?)");
                handle
            })
            .collect();
        Shards {
            handles,
            turn: AtomicUsize::new(0),
        }
    })
}

/// A fault-injecting TCP proxy for one link. Dropping it stops the listener and closes every
/// connection it carries.
pub struct Proxy {
    /// What the connection tasks share with this handle: faults, upstream, counters.
    link: Arc<Link>,
    /// The address the link's caller connects to; it never changes, whatever the upstream does.
    addr: SocketAddr,
    /// The accept loop. It owns every connection task (a `JoinSet`), so aborting it closes all.
    accept: AbortHandle,
}

/// Counters of what the proxy did to connections, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted from the link's caller.
    pub accepted: u64,
    /// Connections blackholed for life by [`Proxy::loss`].
    pub lost: u64,
    /// Connections reset instead of delivering their reply, by [`Proxy::drop_response`].
    pub dropped_responses: u64,
    /// Connections reset because the upstream was `None` or refused the connection.
    pub refused: u64,
}

/// The faults in force on a link. Connection tasks watch it, so a change reaches open
/// connections at once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct LinkFaults {
    cut: bool,
    blackhole: bool,
    latency: Duration,
    jitter: Duration,
    /// Bytes per second, per direction, per connection.
    bandwidth: Option<u64>,
    /// Read when a connection is accepted, so it only ever touches new connections.
    loss: f64,
    /// Read at the start of each reply, so it touches open connections too.
    drop_response: f64,
    /// Bumped by [`Proxy::reset`]: a connection accepted under an older epoch resets itself.
    resets: u64,
}

impl LinkFaults {
    /// Whether anything can get through at all (a close, or an RST, waits for this).
    fn passable(&self) -> bool {
        !self.cut && !self.blackhole
    }

    /// Whether an open connection may take the fast path: nothing in force touches its bytes.
    /// `loss` only decides new connections' fates and `resets` is watched by the connection's
    /// task whichever path it takes, so neither keeps a connection off it.
    fn healthy(&self) -> bool {
        self.passable()
            && self.latency.is_zero()
            && self.jitter.is_zero()
            && self.bandwidth.is_none()
            && self.drop_response == 0.0
    }
}

/// The state shared by a [`Proxy`] handle and its tasks.
struct Link {
    name: String,
    /// Where new connections go; `None` while the node is down.
    upstream: Mutex<Option<SocketAddr>>,
    faults: watch::Sender<LinkFaults>,
    /// The link's one source of chance: same seed, same connections, same choices.
    rng: Mutex<StdRng>,
    accepted: AtomicU64,
    lost: AtomicU64,
    dropped_responses: AtomicU64,
    refused: AtomicU64,
    open: AtomicUsize,
    /// Connections on the fast path now (tests read it to see which path carried them).
    fast: AtomicUsize,
}

/// What was decided for a connection when it was accepted.
struct Fate {
    /// Blackholed for life by `loss`.
    lost: bool,
    /// Seeds the connection's `drop_response` choices, one per reply.
    reply_seed: u64,
    /// The reset epoch it was born in.
    resets: u64,
    /// Seeds of the two directions' jitter, drawn from the link's rng so a run replays.
    jitter_seeds: [u64; 2],
    /// Counts the connection in `open_connections` for as long as its task lives.
    _open: OpenGuard,
}

/// How a connection ended, when it did not end with a close in both directions.
enum End {
    /// [`Proxy::reset`] was called: RST both sides.
    Reset,
    /// One side reset or failed: RST the other (once the link lets anything through).
    PeerReset,
    /// `drop_response` struck: RST the client, close the upstream.
    DropResponse,
}

/// One chunk of a direction's byte stream. Empty `bytes` is the sender's FIN.
struct Chunk {
    /// When it may be delivered: arrival plus the delay in force then. `None`: no delay.
    due: Option<Instant>,
    bytes: Vec<u8>,
}

impl Proxy {
    /// Binds 127.0.0.1 on a free port and starts serving on the harness's own runtime, with no
    /// upstream yet (connections are reset until [`set_upstream`](Proxy::set_upstream)).
    /// `name` appears in logs and errors (`"n1->n2"`, `"client->n2"`); `seed` drives loss,
    /// drop_response and jitter. Works from plain code and from inside any tokio runtime.
    pub fn start(name: &str, seed: u64) -> io::Result<Proxy> {
        let context = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("proxy {name}: cannot listen on 127.0.0.1: {e}"),
            )
        };
        let listener = listen().map_err(context)?;
        let addr = listener.local_addr().map_err(context)?;
        let rt = shards().first();
        let listener = {
            let _inside = rt.enter(); // registers the socket with our runtime, not the caller's
            TcpListener::from_std(listener).map_err(context)?
        };
        let link = Arc::new(Link {
            name: name.to_string(),
            upstream: Mutex::new(None),
            faults: watch::Sender::new(LinkFaults::default()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            accepted: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            dropped_responses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            fast: AtomicUsize::new(0),
        });
        let accept = rt.spawn(accept_loop(link.clone(), listener)).abort_handle();
        Ok(Proxy { link, addr, accept })
    }

    /// Where the link's caller connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.link.name
    }

    /// Where new connections go now (`None`: the node is down, so they are reset at once).
    pub fn upstream(&self) -> Option<SocketAddr> {
        *self.link.upstream.lock().unwrap()
    }

    /// Where new connections go. `None` means the node is down: new connections are reset at
    /// once. Connections already open keep their upstream.
    pub fn set_upstream(&self, upstream: Option<SocketAddr>) {
        *self.link.upstream.lock().unwrap() = upstream;
    }

    /// Partition: bytes are held (not lost) both ways on open connections, and new connections
    /// are accepted but not connected upstream, until [`heal`](Proxy::heal). Like TCP
    /// retransmitting through a short partition.
    pub fn cut(&self) {
        self.modify(|f| f.cut = true);
    }

    /// Undoes [`cut`](Proxy::cut) and [`blackhole`](Proxy::blackhole): held bytes flow again,
    /// in order.
    pub fn heal(&self) {
        self.modify(|f| {
            f.cut = false;
            f.blackhole = false;
        });
    }

    /// Bytes in both directions are swallowed while it lasts; connections stay open. A close
    /// (FIN or RST) is held until heal, so no peer learns through the hole that the other left.
    pub fn blackhole(&self) {
        self.modify(|f| f.blackhole = true);
    }

    /// Delays each chunk, each direction, by `latency` plus uniform[0, `jitter`], without ever
    /// reordering bytes. Applies to chunks read from now on. `ZERO, ZERO` turns it off.
    pub fn latency(&self, latency: Duration, jitter: Duration) {
        self.modify(|f| {
            f.latency = latency;
            f.jitter = jitter;
        });
    }

    /// Limits each direction of each connection to `bytes_per_sec` (at least 1); `None` lifts it.
    pub fn bandwidth(&self, bytes_per_sec: Option<u64>) {
        self.modify(|f| f.bandwidth = bytes_per_sec.map(|rate| rate.max(1)));
    }

    /// Each new connection is blackholed for its whole life with probability `p` (seeded).
    /// Its closes still pass, so a lost connection does not leak on the node (a real network
    /// would time it out instead). `p` is clamped to [0, 1]; NaN counts as 0.
    pub fn loss(&self, p: f64) {
        self.modify(|f| f.loss = probability(p));
    }

    /// Each reply, with probability `p` (seeded per connection), on open and new connections:
    /// the request passes, and when the first reply bytes would reach the client, the client
    /// is reset (RST) instead and the upstream connection closed. The request was applied, the reply lost. `p` is clamped to
    /// [0, 1]; NaN counts as 0.
    pub fn drop_response(&self, p: f64) {
        self.modify(|f| f.drop_response = probability(p));
    }

    /// One shot: every connection open now is reset (RST to both sides), whatever else holds.
    pub fn reset(&self) {
        self.modify(|f| f.resets += 1);
    }

    /// Every fault off: heal, no latency, no bandwidth limit, no loss, no dropped responses.
    pub fn clear(&self) {
        self.modify(|f| {
            *f = LinkFaults {
                resets: f.resets,
                ..LinkFaults::default()
            }
        });
    }

    /// Connections accepted and not yet closed, including those held by a cut.
    pub fn open_connections(&self) -> usize {
        self.link.open.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> ProxyStats {
        let link = &self.link;
        ProxyStats {
            // Loaded first, and Acquire: every fate counted for these is visible below.
            accepted: link.accepted.load(Ordering::Acquire),
            lost: link.lost.load(Ordering::Relaxed),
            dropped_responses: link.dropped_responses.load(Ordering::Relaxed),
            refused: link.refused.load(Ordering::Relaxed),
        }
    }

    fn modify(&self, change: impl FnOnce(&mut LinkFaults)) {
        self.link.faults.send_modify(change);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.link.name)
            .field("addr", &self.addr)
            .field("upstream", &*self.link.upstream.lock().unwrap())
            .field("faults", &*self.link.faults.borrow())
            .finish()
    }
}

fn probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

/// A loopback listener with a backlog deep enough for a load generator's burst of connects.
fn listen() -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Link {
    /// Registers a new connection and draws its fate, in accept order (that is what a seed
    /// replays).
    fn admit(self: &Arc<Self>) -> Fate {
        self.open.fetch_add(1, Ordering::Relaxed);
        let faults = *self.faults.borrow();
        let mut rng = self.rng.lock().unwrap();
        let fate = Fate {
            lost: rng.random_bool(faults.loss),
            reply_seed: rng.random(),
            resets: faults.resets,
            jitter_seeds: [rng.random(), rng.random()],
            _open: OpenGuard(self.clone()),
        };
        if fate.lost {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        // Counted accepted only once its fate is counted too: a reader that sees the
        // connection accepted (Acquire, in `stats`) sees whether it was lost. Counted first,
        // a test starved between the two took a lost connection for a live one (stress run).
        self.accepted.fetch_add(1, Ordering::Release);
        fate
    }
}

struct OpenGuard(Arc<Link>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(link: Arc<Link>, listener: TcpListener) {
    // Dropped with this task when the Proxy is dropped, which aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let fate = link.admit();
                    let link = link.clone();
                    // Handed over as a plain socket: it registers with the runtime it lives on.
                    match client.into_std() {
                        Ok(client) => connections.spawn_on(
                            async move {
                                match TcpStream::from_std(client) {
                                    Ok(client) => carry(link, client, fate).await,
                                    Err(e) => eprintln!("proxy {}: cannot carry a connection: {e}", link.name),
                                }
                            },
                            shards().pick(),
                        ),
                        Err(e) => {
                            eprintln!("proxy {}: cannot hand over a connection: {e}", link.name);
                            continue;
                        }
                    };
                }
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    eprintln!("proxy {}: accept failed: {e}; retrying in 50 ms", link.name);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    eprintln!("proxy {}: a connection task panicked: {e}", link.name);
                }
            }
        }
    }
}

/// Carries one connection from accept to close.
async fn carry(link: Arc<Link>, client: TcpStream, fate: Fate) {
    let mut faults = link.faults.subscribe();
    let reset = until(link.faults.subscribe(), move |f| f.resets != fate.resets);
    tokio::pin!(reset);

    // A cut holds new connections before they reach the node, as a partition would.
    tokio::select! {
        biased;
        _ = &mut reset => return send_rst(client),
        _ = until(&mut faults, |f| !f.cut) => {}
    }
    let Some(upstream_addr) = *link.upstream.lock().unwrap() else {
        link.refused.fetch_add(1, Ordering::Relaxed);
        return send_rst(client);
    };
    let upstream = tokio::select! {
        biased;
        _ = &mut reset => return send_rst(client),
        connected = TcpStream::connect(upstream_addr) => match connected {
            Ok(upstream) => upstream,
            Err(_) => {
                link.refused.fetch_add(1, Ordering::Relaxed);
                return send_rst(client);
            }
        },
    };
    // Small requests and replies are the lab's traffic: never wait to fill a segment.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let end = tokio::select! {
        biased;
        _ = &mut reset => End::Reset,
        carried = pump(&link, &client, &upstream, &fate) => match carried {
            Ok(()) => return, // closed both ways: dropping the sockets finishes the close
            Err(end) => end,
        },
    };
    match end {
        End::Reset => {}
        End::PeerReset => {
            if !fate.lost {
                tokio::select! {
                    biased;
                    _ = &mut reset => {}
                    _ = until(&mut faults, LinkFaults::passable) => {}
                }
            }
        }
        End::DropResponse => {
            link.dropped_responses.fetch_add(1, Ordering::Relaxed);
            return send_rst(client); // the upstream gets a plain close
        }
    }
    send_rst(client);
    send_rst(upstream);
}

/// Runs both directions until both have closed (`Ok`) or the connection must end (`Err`):
/// on the fast path while the link is healthy, on the fault path from the first fault on.
async fn pump(
    link: &Link,
    client: &TcpStream,
    upstream: &TcpStream,
    fate: &Fate,
) -> Result<(), End> {
    let mut held = Held::default();
    if !fate.lost {
        let on_fast = FastGuard::enter(link);
        let carried = fast(link.faults.subscribe(), client, upstream, &mut held).await;
        drop(on_fast);
        if carried? {
            return Ok(());
        }
    }
    faulty(link, client, upstream, fate, held).await
}

/// Counts a connection in [`Link::fast`] while it is on the fast path, however it leaves
/// (a reset drops the whole connection future).
struct FastGuard<'a>(&'a Link);

impl<'a> FastGuard<'a> {
    fn enter(link: &'a Link) -> Self {
        link.fast.fetch_add(1, Ordering::Relaxed);
        FastGuard(link)
    }
}

impl Drop for FastGuard<'_> {
    fn drop(&mut self) {
        self.0.fast.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the fast path hands to the fault path: the bytes it read and had not yet written, and
/// which directions had already closed.
#[derive(Default)]
struct Held {
    up: Direction,
    down: Direction,
    /// The client sent something since the last reply began (see [`Replies`]).
    asked: bool,
}

/// One direction of the fast path: a buffer reused for every chunk.
#[derive(Default)]
struct Direction {
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet written.
    start: usize,
    end: usize,
    /// The FIN went through: this direction is done.
    closed: bool,
}

impl Direction {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Moves bytes from `src` to `dst` until both would block (`Pending`) or `src`'s FIN has
    /// been passed on (`Ready(Ok)`). Only readiness is awaited, and each read or write is
    /// done whole before returning, so stopping between two polls loses nothing.
    fn poll_copy(
        &mut self,
        cx: &mut Context<'_>,
        src: &TcpStream,
        dst: &TcpStream,
        mut on_move: impl FnMut(),
    ) -> Poll<Result<(), End>> {
        if self.buf.is_empty() {
            self.buf = vec![0; CHUNK];
        }
        while !self.closed {
            if self.start == self.end {
                ready!(src.poll_read_ready(cx)).map_err(|_| End::PeerReset)?;
                match read_draining(src, &mut self.buf) {
                    Ok(0) => {
                        SockRef::from(dst)
                            .shutdown(Shutdown::Write)
                            .map_err(|_| End::PeerReset)?;
                        self.closed = true;
                    }
                    Ok(n) => (self.start, self.end) = (0, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(Err(End::PeerReset)),
                }
            } else {
                ready!(dst.poll_write_ready(cx)).map_err(|_| End::PeerReset)?;
                match dst.try_write(self.pending()) {
                    Ok(0) => return Poll::Ready(Err(End::PeerReset)),
                    Ok(n) => {
                        self.start += n;
                        on_move();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(Err(End::PeerReset)),
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The fast path: copies both ways while the link stays healthy. `Ok(true)`: both directions
/// closed. `Ok(false)`: a fault was set, and `held` is what the fault path carries on from.
async fn fast(
    mut faults: watch::Receiver<LinkFaults>,
    client: &TcpStream,
    upstream: &TcpStream,
    held: &mut Held,
) -> Result<bool, End> {
    loop {
        if !faults.borrow_and_update().healthy() {
            return Ok(false);
        }
        // One `changed` future per change, not per wake-up: registering it is the only cost
        // a healthy link pays for being breakable.
        let changed = faults.changed();
        tokio::pin!(changed);
        let Held { up, down, asked } = &mut *held;
        let step = std::future::poll_fn(|cx| {
            // Faults first: bytes that arrive with a fault in the same wake-up meet the fault.
            if let Poll::Ready(changed) = changed.as_mut().poll(cx) {
                return Poll::Ready(Ok(changed.is_ok()));
            }
            // The client's bytes begin a request; the first bytes back begin its reply.
            let up = up.poll_copy(cx, client, upstream, || *asked = true)?;
            let down = down.poll_copy(cx, upstream, client, || *asked = false)?;
            if up.is_ready() && down.is_ready() {
                return Poll::Ready(Err(None));
            }
            Poll::Pending
        })
        .await;
        match step {
            Err(Some(end)) => return Err(end),
            Err(None) => return Ok(true),
            Ok(true) => {} // the faults changed: look again
            // The link is gone, so the proxy was dropped and this task is being aborted.
            Ok(false) => std::future::pending::<()>().await,
        }
    }
}

/// The fault path: a reader and a writer per direction, with a queue between them, carrying on
/// from what the fast path held.
async fn faulty(
    link: &Link,
    client: &TcpStream,
    upstream: &TcpStream,
    fate: &Fate,
    held: Held,
) -> Result<(), End> {
    let (to_upstream, from_client) = mpsc::channel(QUEUE_CHUNKS);
    let (to_client, from_upstream) = mpsc::channel(QUEUE_CHUNKS);
    for (queue, direction) in [(&to_upstream, &held.up), (&to_client, &held.down)] {
        if !direction.pending().is_empty() {
            // Read before the fault was set, so due at once; the queue is empty, so it fits.
            let bytes = direction.pending().to_vec();
            let _ = queue.try_send(Chunk { due: None, bytes });
        }
    }
    let [seed_up, seed_down] = fate.jitter_seeds;
    // Set when the client sends; the next bytes back begin a reply, which `drop_response`
    // may lose. One choice per request and reply, on new and kept-alive connections alike.
    let asked = AtomicBool::new(held.asked);
    let replies = Replies {
        asked: &asked,
        rng: StdRng::seed_from_u64(fate.reply_seed),
    };
    // A direction whose FIN the fast path passed on is done: nothing reads or writes it.
    let (up_open, down_open) = (!held.up.closed, !held.down.closed);
    tokio::try_join!(
        unless_closed(
            up_open,
            read(
                client,
                to_upstream,
                link.faults.subscribe(),
                seed_up,
                Some(&asked)
            )
        ),
        unless_closed(
            up_open,
            write(
                upstream,
                from_client,
                link.faults.subscribe(),
                fate.lost,
                None
            )
        ),
        unless_closed(
            down_open,
            read(
                upstream,
                to_client,
                link.faults.subscribe(),
                seed_down,
                None
            )
        ),
        unless_closed(
            down_open,
            write(
                client,
                from_upstream,
                link.faults.subscribe(),
                fate.lost,
                Some(replies)
            )
        ),
    )?;
    Ok(())
}

/// Runs `half` of a direction only if the direction is still open.
async fn unless_closed(open: bool, half: impl Future<Output = Result<(), End>>) -> Result<(), End> {
    if open { half.await } else { Ok(()) }
}

/// Reads chunks from `src` into the queue, stamped with their due time, up to and including
/// the FIN.
async fn read(
    src: &TcpStream,
    queue: mpsc::Sender<Chunk>,
    faults: watch::Receiver<LinkFaults>,
    jitter_seed: u64,
    asked: Option<&AtomicBool>,
) -> Result<(), End> {
    // Seeded lazily: most links never see jitter.
    let mut jitter: Option<StdRng> = None;
    loop {
        // Wait for room first, so a full queue leaves the bytes in the kernel: back pressure.
        let Ok(room) = queue.reserve().await else {
            return Ok(()); // the writer is gone, so the connection is ending anyway
        };
        let mut bytes = Vec::with_capacity(CHUNK);
        read_chunk(src, &mut bytes)
            .await
            .map_err(|_| End::PeerReset)?;
        let f = *faults.borrow();
        let due = if f.latency.is_zero() && f.jitter.is_zero() {
            None // the fast path: no clock, no timer
        } else {
            let rng = jitter.get_or_insert_with(|| StdRng::seed_from_u64(jitter_seed));
            let spread = u64::try_from(f.jitter.as_nanos()).unwrap_or(u64::MAX);
            let extra = Duration::from_nanos(rng.random_range(0..=spread));
            Some(Instant::now() + f.latency + extra)
        };
        let fin = bytes.is_empty();
        if let (Some(asked), false) = (asked, fin) {
            asked.store(true, Ordering::Relaxed);
        }
        room.send(Chunk { due, bytes });
        if fin {
            return Ok(());
        }
    }
}

/// The client side of a connection's replies, for `drop_response`.
struct Replies<'a> {
    /// The client sent something since the last reply began.
    asked: &'a AtomicBool,
    rng: StdRng,
}

/// Delivers the queue's chunks to `dst` under the link's current faults. `replies` is given
/// for the direction that carries replies to the client.
async fn write(
    dst: &TcpStream,
    mut queue: mpsc::Receiver<Chunk>,
    mut faults: watch::Receiver<LinkFaults>,
    lost: bool,
    mut replies: Option<Replies<'_>>,
) -> Result<(), End> {
    // When the bandwidth limit lets the next byte go.
    let mut paced_until: Option<Instant> = None;
    while let Some(chunk) = queue.recv().await {
        if let Some(due) = chunk.due {
            tokio::time::sleep_until(due).await;
        }
        if chunk.bytes.is_empty() {
            // A FIN waits out a cut or blackhole, like one retransmitted until it gets through;
            // a lost connection's FIN passes, or the node would keep it forever.
            if !lost {
                until(&mut faults, LinkFaults::passable).await;
            }
            SockRef::from(dst)
                .shutdown(Shutdown::Write)
                .map_err(|_| End::PeerReset)?;
            return Ok(());
        }
        if lost {
            continue;
        }
        // The first bytes of a reply: lose this one with the link's current probability.
        let drop_response = replies.as_mut().is_some_and(|r| {
            let p = faults.borrow().drop_response;
            r.asked.swap(false, Ordering::Relaxed) && p > 0.0 && r.rng.random_bool(p)
        });
        let mut rest = &chunk.bytes[..];
        while !rest.is_empty() {
            let f = until(&mut faults, |f| !f.cut).await;
            if f.blackhole {
                break; // swallowed
            }
            if drop_response {
                return Err(End::DropResponse);
            }
            let len = match f.bandwidth {
                None => {
                    paced_until = None;
                    rest.len()
                }
                Some(rate) => {
                    let now = Instant::now();
                    let start = paced_until.map_or(now, |at| at.max(now));
                    if start > now {
                        tokio::time::sleep_until(start).await;
                        continue; // faults may have changed while we slept
                    }
                    let slice = (rate / PACING_SLICES_PER_SEC).clamp(1, CHUNK as u64) as usize;
                    let len = rest.len().min(slice);
                    paced_until = Some(start + Duration::from_secs_f64(len as f64 / rate as f64));
                    len
                }
            };
            write_all(dst, &rest[..len])
                .await
                .map_err(|_| End::PeerReset)?;
            rest = &rest[len..];
        }
    }
    Ok(()) // the reader stopped without a FIN: the connection is ending anyway
}

/// `src.try_read(buf)`, minus the read that would only say "nothing more": a read that
/// returns less than `buf` holds took everything the socket had, so the socket is marked not
/// readable at once (as tokio's own `AsyncRead` does) instead of by a second read that fails
/// with `WouldBlock`. On a link of small requests and replies that is one system call in
/// three per direction. Sound because tokio forgets readiness only if no new event came since
/// the read began (its readiness carries a tick): bytes that arrive after it wake us again.
fn read_draining(src: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let mut drained = 0;
    let read = src.try_io(tokio::io::Interest::READABLE, || {
        let n = (&*SockRef::from(src)).read(buf)?;
        if n > 0 && n < buf.len() {
            drained = n;
            return Err(io::ErrorKind::WouldBlock.into()); // tokio clears readiness on this
        }
        Ok(n)
    });
    match read {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && drained > 0 => Ok(drained),
        other => other,
    }
}

/// Reads what is there (up to the buffer's capacity); an empty buffer afterwards means FIN.
async fn read_chunk(src: &TcpStream, bytes: &mut Vec<u8>) -> io::Result<()> {
    loop {
        match src.try_read_buf(bytes) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => src.readable().await?,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(dst: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match dst.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until the link's faults satisfy `ok`, and returns them.
async fn until(
    mut faults: impl std::borrow::BorrowMut<watch::Receiver<LinkFaults>>,
    ok: impl Fn(&LinkFaults) -> bool,
) -> LinkFaults {
    let faults = faults.borrow_mut();
    loop {
        let f = *faults.borrow_and_update();
        if ok(&f) {
            return f;
        }
        if faults.changed().await.is_err() {
            // The link is gone, so the proxy was dropped and this task is being aborted.
            std::future::pending::<()>().await;
        }
    }
}

/// Closes `stream` with an RST rather than a FIN: the peer sees "connection reset".
fn send_rst(stream: TcpStream) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

#[cfg(test)]
mod tests {
    //! Each test shows the healthy path first, then the fault. Upstreams are small std servers
    //! (a thread per connection); clients are blocking std sockets with read timeouts. Timing
    //! bounds are wide on purpose: the lab runs on noisy 2-core laptops.

    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant as StdInstant;

    /// What a read on the client side saw.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Bytes(Vec<u8>),
        Eof,
        Reset,
        Nothing,
    }

    /// An upstream on a free port that runs `serve` on each connection in its own thread.
    fn server(serve: impl Fn(StdStream) + Send + Sync + 'static) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = Arc::new(serve);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let serve = serve.clone();
                std::thread::spawn(move || serve(conn));
            }
        });
        addr
    }

    fn echo(mut conn: StdStream) {
        let mut buf = [0; 64 * 1024];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            if conn.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    }

    fn echo_server() -> SocketAddr {
        server(echo)
    }

    fn proxy_to(upstream: SocketAddr, seed: u64) -> Proxy {
        let proxy = Proxy::start("client->test", seed).unwrap();
        proxy.set_upstream(Some(upstream));
        proxy
    }

    fn connect(proxy: &Proxy) -> StdStream {
        let conn = StdStream::connect(proxy.addr()).unwrap();
        conn.set_nodelay(true).unwrap();
        conn
    }

    /// Reads once, waiting at most `wait`.
    fn seen(conn: &mut StdStream, wait: Duration) -> Seen {
        conn.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0; 64 * 1024];
        match conn.read(&mut buf) {
            Ok(0) => Seen::Eof,
            Ok(n) => Seen::Bytes(buf[..n].to_vec()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Seen::Nothing
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Seen::Reset,
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }

    /// Sends `msg` and waits (up to 5 s) for all of it to come back; returns the round trip.
    fn round_trip(conn: &mut StdStream, msg: &[u8]) -> Duration {
        let start = StdInstant::now();
        conn.write_all(msg).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut back = vec![0; msg.len()];
        conn.read_exact(&mut back)
            .unwrap_or_else(|e| panic!("no echo of {msg:?} within 5 s: {e}"));
        assert_eq!(back, msg);
        start.elapsed()
    }

    /// Waits up to 5 s for `done`, which polls the proxy's asynchronous side.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = StdInstant::now() + Duration::from_secs(5);
        while !done() {
            assert!(StdInstant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn proxy_is_send_and_sync_and_clamps_probabilities() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Proxy>();
        assert_eq!(probability(f64::NAN), 0.0);
        assert_eq!(probability(-1.0), 0.0);
        assert_eq!(probability(7.0), 1.0);
        assert_eq!(probability(0.25), 0.25);
    }

    #[test]
    fn echoes_then_refuses_when_down_and_passes_closes() {
        let proxy = proxy_to(echo_server(), 1);
        let mut open = connect(&proxy);
        round_trip(&mut open, b"hello");

        proxy.set_upstream(None);
        let mut refused = connect(&proxy);
        let outcome = seen(&mut refused, Duration::from_secs(1));
        assert!(
            matches!(outcome, Seen::Reset | Seen::Eof),
            "node down, new connection saw {outcome:?}"
        );
        round_trip(&mut open, b"still here"); // connections already open keep their upstream

        let gone = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        proxy.set_upstream(Some(gone));
        let mut refused = connect(&proxy);
        let outcome = seen(&mut refused, Duration::from_secs(1));
        assert!(
            matches!(outcome, Seen::Reset | Seen::Eof),
            "connect refused, client saw {outcome:?}"
        );
        assert_eq!(proxy.stats().refused, 2);

        // An upstream that answers once and closes: its FIN reaches the client after the reply.
        proxy.set_upstream(Some(server(|mut conn| {
            let mut buf = [0; 16];
            let n = conn.read(&mut buf).unwrap();
            conn.write_all(&buf[..n]).unwrap();
        })));
        let mut closing = connect(&proxy);
        round_trip(&mut closing, b"bye");
        assert_eq!(seen(&mut closing, Duration::from_secs(1)), Seen::Eof);
    }

    #[test]
    fn latency_slows_open_connections_and_lifts() {
        let proxy = proxy_to(echo_server(), 2);
        let mut conn = connect(&proxy);
        let healthy = (0..5)
            .map(|_| round_trip(&mut conn, b"ping"))
            .min()
            .unwrap();

        // Wide enough that a machine stalling for a tenth of a second (a CPU hog beside the
        // tests) is not taken for latency that stayed: 120 ms was seen there with 100 ms.
        let latency = Duration::from_millis(300);
        proxy.latency(latency, Duration::ZERO);
        let slow = round_trip(&mut conn, b"ping");
        assert!(
            slow >= 2 * latency,
            "round trip {slow:?} with {latency:?} each way"
        );
        assert!(
            slow < 2 * latency + Duration::from_secs(1),
            "round trip {slow:?} with {latency:?} each way"
        );

        proxy.latency(Duration::ZERO, Duration::ZERO);
        let fast = round_trip(&mut conn, b"ping");
        assert!(
            fast < latency,
            "round trip {fast:?} after latency was lifted (healthy: {healthy:?})"
        );
    }

    #[test]
    fn jitter_varies_delay_but_never_reorders() {
        let proxy = proxy_to(echo_server(), 3);
        let mut conn = connect(&proxy);
        round_trip(&mut conn, b"ping");

        let (latency, jitter) = (Duration::from_millis(5), Duration::from_millis(20));
        proxy.latency(latency, jitter);
        let rtts: Vec<_> = (0..10).map(|_| round_trip(&mut conn, b"ping")).collect();
        let (min, max) = (rtts.iter().min().unwrap(), rtts.iter().max().unwrap());
        assert!(
            *min >= 2 * latency,
            "round trips {rtts:?} with {latency:?} each way"
        );
        assert!(
            *max - *min >= Duration::from_millis(3),
            "jitter {jitter:?} but round trips {rtts:?}"
        );

        // 2000 numbered messages in small bursts, so they cross as many chunks.
        let mut writer = conn.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            for burst in (0..2000u32).collect::<Vec<_>>().chunks(10) {
                for n in burst {
                    writer.write_all(&n.to_be_bytes()).unwrap();
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        let mut back = vec![0; 2000 * 4];
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.read_exact(&mut back).unwrap();
        sender.join().unwrap();
        let order: Vec<u32> = back
            .chunks(4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
            .collect();
        let first_wrong = order.iter().enumerate().find(|(i, n)| *i as u32 != **n);
        assert_eq!(first_wrong, None, "messages came back out of order");
    }

    #[test]
    fn cut_holds_bytes_and_new_connections_until_heal() {
        let proxy = proxy_to(echo_server(), 4);
        let mut open = connect(&proxy);
        round_trip(&mut open, b"before");

        proxy.cut();
        open.write_all(b"held-open").unwrap();
        assert_eq!(seen(&mut open, Duration::from_millis(300)), Seen::Nothing);
        let mut new = connect(&proxy);
        new.write_all(b"held-new").unwrap();
        assert_eq!(seen(&mut new, Duration::from_millis(300)), Seen::Nothing);
        eventually("the held connection to be accepted", || {
            proxy.open_connections() == 2
        });

        proxy.heal();
        for (conn, held) in [(&mut open, &b"held-open"[..]), (&mut new, &b"held-new"[..])] {
            let mut back = vec![0; held.len()];
            conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            conn.read_exact(&mut back)
                .expect("held bytes delivered after heal");
            assert_eq!(back, held);
        }
    }

    #[test]
    fn blackhole_swallows_bytes_but_keeps_the_connection() {
        let proxy = proxy_to(echo_server(), 5);
        let mut conn = connect(&proxy);
        round_trip(&mut conn, b"before");

        proxy.blackhole();
        conn.write_all(b"lost").unwrap();
        assert_eq!(seen(&mut conn, Duration::from_millis(300)), Seen::Nothing);
        conn.write_all(b"lost too").unwrap(); // still open: no RST came back
        assert_eq!(seen(&mut conn, Duration::from_millis(100)), Seen::Nothing);

        proxy.heal();
        conn.write_all(b"after").unwrap();
        assert_eq!(
            seen(&mut conn, Duration::from_secs(2)),
            Seen::Bytes(b"after".to_vec())
        );
    }

    #[test]
    fn loss_blackholes_a_seeded_share_of_new_connections() {
        let proxy = proxy_to(echo_server(), 6);
        round_trip(&mut connect(&proxy), b"ping");

        proxy.loss(0.3);
        let mut conns: Vec<_> = (0..200)
            .map(|_| {
                let mut conn = connect(&proxy);
                conn.write_all(b"ping").unwrap();
                conn.set_nonblocking(true).unwrap();
                conn
            })
            .collect();
        eventually("200 connections accepted", || proxy.stats().accepted == 201);
        let lost = proxy.stats().lost as usize;
        assert!(
            (30..=90).contains(&lost),
            "loss(0.3) blackholed {lost} of 200 connections"
        );

        // Every connection that was not lost answers; then the lost ones stay silent.
        let mut answered = vec![false; conns.len()];
        let mut poll = |answered: &mut Vec<bool>| {
            for (conn, answered) in conns.iter_mut().zip(answered.iter_mut()) {
                let mut buf = [0; 4];
                if let Ok(4) = conn.read(&mut buf) {
                    *answered = true;
                }
            }
            answered.iter().filter(|a| **a).count()
        };
        let deadline = StdInstant::now() + Duration::from_secs(5);
        while poll(&mut answered) < 200 - lost && StdInstant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            poll(&mut answered),
            200 - lost,
            "answers from 200 connections, {lost} lost"
        );

        proxy.loss(0.0);
        for _ in 0..20 {
            round_trip(&mut connect(&proxy), b"ping");
        }
        assert_eq!(proxy.stats().lost as usize, lost);
    }

    #[test]
    fn drop_response_applies_the_request_and_resets_the_client() {
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let upstream = server(move |mut conn| {
            let mut buf = [0; 64];
            if let Ok(n @ 1..) = conn.read(&mut buf) {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = conn.write_all(&buf[..n]);
            }
        });
        let proxy = proxy_to(upstream, 7);
        round_trip(&mut connect(&proxy), b"request");

        proxy.drop_response(0.5);
        let mut resets = 0;
        for i in 0..200 {
            let mut conn = connect(&proxy);
            conn.write_all(b"request").unwrap();
            match seen(&mut conn, Duration::from_secs(2)) {
                Seen::Reset => resets += 1,
                Seen::Bytes(reply) => assert_eq!(reply, b"request"),
                other => panic!("request {i}: expected the reply or a reset, saw {other:?}"),
            }
        }
        assert!(
            (60..=140).contains(&resets),
            "drop_response(0.5) reset {resets} of 200"
        );
        assert_eq!(proxy.stats().dropped_responses, resets);
        assert_eq!(
            requests.load(Ordering::SeqCst),
            201,
            "every request reaches the upstream"
        );
    }

    #[test]
    fn reset_resets_open_connections_only() {
        let proxy = proxy_to(echo_server(), 8);
        let mut open = connect(&proxy);
        round_trip(&mut open, b"before");

        proxy.reset();
        let outcome = seen(&mut open, Duration::from_secs(1));
        assert!(
            matches!(outcome, Seen::Reset | Seen::Eof),
            "after reset() the client saw {outcome:?}"
        );
        round_trip(&mut connect(&proxy), b"after");
    }

    #[test]
    fn bandwidth_paces_each_direction() {
        let proxy = proxy_to(echo_server(), 9);
        let mut conn = connect(&proxy);
        round_trip(&mut conn, b"before");

        let send_200kb = |conn: &mut StdStream| {
            let mut writer = conn.try_clone().unwrap();
            let start = StdInstant::now();
            let sender = std::thread::spawn(move || writer.write_all(&[7; 200_000]).unwrap());
            let mut back = vec![0; 200_000];
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            conn.read_exact(&mut back).unwrap();
            sender.join().unwrap();
            start.elapsed()
        };
        let unlimited = send_200kb(&mut conn);
        proxy.bandwidth(Some(100_000));
        let limited = send_200kb(&mut conn);
        assert!(
            limited >= Duration::from_millis(1500),
            "200 KB at 100 KB/s took {limited:?}"
        );
        assert!(
            limited > 3 * unlimited,
            "limited {limited:?}, unlimited {unlimited:?}"
        );
    }

    /// Every fault that touches open connections, set on a kept-alive connection that the
    /// healthy link was carrying on its fast path: the very next bytes meet the fault.
    #[test]
    fn a_fault_takes_an_open_connection_off_the_fast_path_at_once() {
        type Fault = fn(&Proxy, &mut StdStream);
        let faults: [(&str, Fault); 6] = [
            ("cut", |proxy, conn| {
                proxy.cut();
                conn.write_all(b"held").unwrap();
                assert_eq!(seen(conn, Duration::from_millis(300)), Seen::Nothing);
                proxy.heal();
                assert_eq!(
                    seen(conn, Duration::from_secs(2)),
                    Seen::Bytes(b"held".to_vec())
                );
            }),
            ("blackhole", |proxy, conn| {
                proxy.blackhole();
                conn.write_all(b"lost").unwrap();
                assert_eq!(seen(conn, Duration::from_millis(300)), Seen::Nothing);
                proxy.heal();
                round_trip(conn, b"after");
            }),
            ("latency", |proxy, conn| {
                let latency = Duration::from_millis(100);
                proxy.latency(latency, Duration::ZERO);
                let slow = round_trip(conn, b"ping");
                assert!(slow >= 2 * latency, "round trip {slow:?} with {latency:?}");
            }),
            ("bandwidth", |proxy, conn| {
                proxy.bandwidth(Some(50_000));
                let start = StdInstant::now();
                let mut writer = conn.try_clone().unwrap();
                let sender = std::thread::spawn(move || writer.write_all(&[7; 100_000]).unwrap());
                let mut back = vec![0; 100_000];
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                conn.read_exact(&mut back).unwrap();
                sender.join().unwrap();
                let took = start.elapsed();
                assert!(
                    took >= Duration::from_millis(1500),
                    "100 KB at 50 KB/s took {took:?}"
                );
            }),
            ("drop_response", |proxy, conn| {
                proxy.drop_response(1.0);
                conn.write_all(b"request").unwrap();
                assert_eq!(seen(conn, Duration::from_secs(2)), Seen::Reset);
                assert_eq!(proxy.stats().dropped_responses, 1);
            }),
            ("reset", |proxy, conn| {
                proxy.reset();
                let outcome = seen(conn, Duration::from_secs(1));
                assert!(
                    matches!(outcome, Seen::Reset | Seen::Eof),
                    "saw {outcome:?}"
                );
            }),
        ];
        for (seed, (name, fault)) in (20..).zip(faults) {
            let proxy = proxy_to(echo_server(), seed);
            let mut conn = connect(&proxy);
            for _ in 0..3 {
                round_trip(&mut conn, b"kept alive");
            }
            assert_eq!(
                proxy.link.fast.load(Ordering::Relaxed),
                1,
                "{name}: a healthy link carries its connection on the fast path"
            );
            fault(&proxy, &mut conn);
            assert_eq!(
                proxy.link.fast.load(Ordering::Relaxed),
                0,
                "{name}: the connection left the fast path"
            );
        }
    }

    /// A fault that comes and goes many times while bytes stream both ways: every byte
    /// arrives once, in order, whichever path carried it.
    #[test]
    fn bytes_in_flight_when_a_fault_is_set_arrive_once_and_in_order() {
        let proxy = proxy_to(echo_server(), 30);
        let mut conn = connect(&proxy);
        let mut writer = conn.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            for burst in (0..20_000u32).collect::<Vec<_>>().chunks(500) {
                let bytes: Vec<u8> = burst.iter().flat_map(|n| n.to_be_bytes()).collect();
                writer.write_all(&bytes).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        proxy.latency(Duration::from_millis(1), Duration::ZERO);
        let mut back = vec![0; 20_000 * 4];
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.read_exact(&mut back).unwrap();
        sender.join().unwrap();
        let first_wrong = back
            .chunks(4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
            .enumerate()
            .find(|(i, n)| *i as u32 != *n);
        assert_eq!(first_wrong, None, "bytes lost, doubled or reordered");
    }

    #[test]
    fn clear_turns_every_fault_off() {
        let proxy = proxy_to(echo_server(), 10);
        proxy.cut();
        proxy.blackhole();
        proxy.latency(Duration::from_secs(5), Duration::from_secs(1));
        proxy.bandwidth(Some(1));
        proxy.loss(1.0);
        proxy.drop_response(1.0);
        proxy.clear();
        let rtt = round_trip(&mut connect(&proxy), b"clear");
        assert!(
            rtt < Duration::from_secs(1),
            "round trip {rtt:?} after clear()"
        );
        assert_eq!(proxy.stats().lost + proxy.stats().dropped_responses, 0);
    }

    #[test]
    fn dropping_the_proxy_closes_its_connections() {
        let proxy = proxy_to(echo_server(), 11);
        let mut conn = connect(&proxy);
        round_trip(&mut conn, b"before");
        drop(proxy);
        let outcome = seen(&mut conn, Duration::from_secs(1));
        assert!(
            matches!(outcome, Seen::Reset | Seen::Eof),
            "after drop the client saw {outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_short_read_drains_the_socket_without_a_second_read_and_new_bytes_still_wake_it() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (src, _) = listener.accept().await.unwrap();
        let mut buf = [0; 64];
        // A read that asks the kernel again after this one is a read the fast path pays for.
        let asks_again = |src: &TcpStream| {
            let mut asked = false;
            let _ = src.try_io(tokio::io::Interest::READABLE, || {
                asked = true;
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
            asked
        };
        for round in ["first", "second"] {
            sender.write_all(round.as_bytes()).await.unwrap();
            // Bytes that arrive after a drain wake the reader again: nothing is stranded.
            tokio::time::timeout(Duration::from_secs(5), src.readable())
                .await
                .unwrap_or_else(|_| panic!("the {round} bytes never woke the socket"))
                .unwrap();
            let n = read_draining(&src, &mut buf).unwrap();
            assert_eq!(&buf[..n], round.as_bytes());
            assert!(
                !asks_again(&src),
                "after a short read of {n} bytes the socket must be known drained"
            );
        }
        // The control: tokio's plain try_read leaves it readable, so the next read is a
        // system call that only says WouldBlock.
        sender.write_all(b"third").await.unwrap();
        src.readable().await.unwrap();
        assert_eq!(src.try_read(&mut buf).unwrap(), 5);
        assert!(
            asks_again(&src),
            "the control: try_read keeps the socket readable"
        );
    }

    #[tokio::test]
    async fn starts_from_inside_a_callers_runtime() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let proxy = proxy_to(echo_server(), 12);
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        conn.write_all(b"async").await.unwrap();
        let mut back = [0; 5];
        conn.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"async");
        drop(proxy); // dropping inside a runtime is fine too
    }
}

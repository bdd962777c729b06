//! [`HttpTarget`]: one fixed HTTP/1.1 request, sent again for every shot over kept-alive
//! connections: what `lab load` drives.
//!
//! The request is fixed, so it is written out once, as the bytes that go on the wire; a shot
//! writes those bytes on a kept-alive connection and reads the reply (its head parsed by
//! `httparse`, the parser under hyper; its body skipped by its length or its chunks). That is
//! the whole client: what wrk does, in Rust. In open loop each of the target's
//! [`MAX_CONNECTIONS`] senders owns one connection ([`HttpTarget::send_from`]); a plain
//! [`Operation::call`] (the closed loop, other callers) takes one from a stack of idle ones.
//!
//! Why not reqwest ([`super::HttpCall`] keeps it, for callers that want its conveniences):
//! per request it clones its URL, runs its redirect and pool layers, and hands the exchange
//! between its pool's connection task and the caller; on two cores `lab load` reached 0.6x
//! oha's throughput with it, the generator measuring itself. Why not hyper's client either: it
//! builds a `Request` and a `Response` (two header maps) per exchange and hands each request
//! to its connection through a channel; a profile of the generator on it showed as much time
//! in those moves as in parsing. A load generator sends one request a million times and needs
//! none of that generality.
//!
//! An idle connection is read by nobody, so it cannot notice that the server closed it: one
//! idle for longer than [`MAX_IDLE`] is closed instead of reused (a request sent just as the
//! server hangs up fails as if the server had failed).
//!
//! Simplified: no TLS, no `Expect: 100-continue` (informational replies are skipped), no
//! pipelining (one request at a time per connection, as every closed-loop tool measures).

use std::io;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::header::{CONTENT_LENGTH, HOST, HeaderMap, TRANSFER_ENCODING};
use hyper::{Method, Uri};
use node_kit::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Feed, Operation, Outcome, Shot};

/// The longest a connection may sit idle and still be reused: far below the idle timeout of
/// any server the lab meets (a lab node closes after 10 s), and long enough that a steady
/// load at one request a second still reuses its one connection.
pub const MAX_IDLE: Duration = Duration::from_secs(2);

/// The most headers a reply may have; more is a bad reply.
const MAX_HEADERS: usize = 64;

/// One fixed HTTP/1.1 request to one `http://` address, as an [`Operation`].
#[derive(Debug)]
pub struct HttpTarget {
    /// Where to connect (the URL's host and port; a name is resolved at each connect, which
    /// is rare: connections are kept).
    host: String,
    port: u16,
    /// The request, as written on the wire: request line, headers, body.
    wire: Bytes,
    /// A reply to `HEAD` has no body, whatever its `content-length` says.
    head: bool,
    /// Connections free for the next shot, the most recently used on top (so that a light
    /// load keeps reusing a few warm ones and the rest age out).
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection allowed ([`MAX_CONNECTIONS`]): a shot beyond them waits for
    /// one, and that wait is in its latency (from its intended send time). Without a bound, a
    /// hiccup of the machine opened hundreds of connections, each slower than the last.
    connections: tokio::sync::Semaphore,
}

/// The most connections a target gets: oha's and wrk's usual 32, twice.
pub const MAX_CONNECTIONS: usize = 64;

impl HttpTarget {
    /// `url` must be `http://host[:port]/...`; `headers` are sent as given, plus `host` and
    /// `content-length` unless they are among them.
    pub fn new(
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<Self, String> {
        let body: Bytes = body.into();
        let uri: Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("bad URL {url:?}: only http:// is supported"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("bad URL {url:?}: it names no host"))?;
        // An IPv6 host comes in brackets (`[::1]`), which a resolver does not take.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());

        let mut wire = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
        if !headers.contains_key(HOST) {
            wire.extend_from_slice(format!("host: {authority}\r\n").as_bytes());
        }
        for (name, value) in &headers {
            wire.extend_from_slice(name.as_str().as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        let framed =
            headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING);
        // A GET, HEAD or DELETE without a body needs no length; anything else says it.
        let needs_length =
            !body.is_empty() || !matches!(method, Method::GET | Method::HEAD | Method::DELETE);
        if !framed && needs_length {
            wire.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&body);
        Ok(HttpTarget {
            host,
            port,
            wire: wire.into(),
            head: method == Method::HEAD,
            idle: Mutex::new(Vec::new()),
            connections: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
        })
    }

    /// A recently used idle connection, or a new one.
    async fn connection(&self) -> Result<Connection, Outcome> {
        let idle = self.idle.lock().pop();
        match idle {
            Some(idle) if idle.idle_since.elapsed() <= MAX_IDLE => return Ok(idle),
            // Too old to trust: closed, and so is every one below it.
            Some(_) => self.idle.lock().clear(),
            None => {}
        }
        Connection::open(&self.host, self.port).await
    }
}

impl Operation for HttpTarget {
    async fn call(&self, _: Shot) -> Outcome {
        let Ok(_permit) = self.connections.acquire().await else {
            return Outcome::fail("closed");
        };
        let mut connection = match self.connection().await {
            Ok(connection) => connection,
            Err(outcome) => return outcome,
        };
        let reply = connection.exchange(&self.wire, self.head).await;
        if matches!(
            reply,
            Ok(Reply {
                keep_alive: true,
                ..
            })
        ) {
            connection.idle_since = Instant::now();
            self.idle.lock().push(connection);
        }
        outcome(reply)
    }

    /// One per connection allowed: in the open loop each sender owns its connection.
    fn senders(&self) -> usize {
        MAX_CONNECTIONS
    }

    /// Sends each shot on this sender's own connection, opening it again when it was closed,
    /// broken, timed out or idle too long.
    async fn send_from(&self, feed: &Feed) {
        let mut kept: Option<Connection> = None;
        while let Some(claim) = feed.next().await {
            let outcome = match tokio::time::timeout(feed.timeout(), self.send_on(&mut kept)).await
            {
                Ok(outcome) => outcome,
                Err(_) => {
                    // Cut off mid-exchange: what the connection holds next is unknown.
                    kept = None;
                    Outcome::unknown("timeout")
                }
            };
            feed.done(claim, outcome);
        }
    }
}

impl super::Load {
    /// [`super::Load::run`] on an [`HttpTarget`], as `lab load` drives it. Not generic, so its
    /// code (the senders, the exchange, the tally) is compiled in this crate, with this
    /// crate's optimisation, whatever profile the caller builds in.
    pub async fn run_http(self, target: HttpTarget) -> Result<super::LoadReport, super::LoadError> {
        self.run(target).await
    }
}

impl HttpTarget {
    /// One exchange on the kept connection (or a new one), which stays kept if it can carry
    /// the next request.
    async fn send_on(&self, kept: &mut Option<Connection>) -> Outcome {
        let connection = match kept.take().filter(|c| c.idle_since.elapsed() <= MAX_IDLE) {
            Some(connection) => connection,
            None => match Connection::open(&self.host, self.port).await {
                Ok(connection) => connection,
                Err(outcome) => return outcome,
            },
        };
        let connection = kept.insert(connection);
        let reply = connection.exchange(&self.wire, self.head).await;
        if matches!(
            reply,
            Ok(Reply {
                keep_alive: true,
                ..
            })
        ) {
            connection.idle_since = Instant::now();
        } else {
            *kept = None;
        }
        outcome(reply)
    }
}

/// What an exchange amounts to: a 2xx is `Ok`, another status `Fail`, a broken exchange
/// `Unknown` (it broke after the request may have gone out: maybe applied).
fn outcome(reply: Result<Reply, Broken>) -> Outcome {
    match reply {
        Ok(Reply {
            status: 200..=299, ..
        }) => Outcome::Ok,
        Ok(Reply { status, .. }) => Outcome::fail(format!("http_{status}")),
        Err(Broken::Reset) => Outcome::unknown("reset"),
        Err(Broken::BadReply) => Outcome::unknown("bad_reply"),
    }
}

/// One kept-alive HTTP/1.1 connection and what it has read and not yet used.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    idle_since: Instant,
}

/// A complete reply: its status, and whether the connection can carry another request.
#[derive(Debug)]
struct Reply {
    status: u16,
    keep_alive: bool,
}

/// An exchange that ended without a complete reply.
#[derive(Debug)]
enum Broken {
    /// The connection failed or closed before the reply ended.
    Reset,
    /// What came back is not HTTP/1.x.
    BadReply,
}

impl From<io::Error> for Broken {
    fn from(_: io::Error) -> Self {
        Broken::Reset
    }
}

/// How a reply's body ends (RFC 9112, section 6.3).
enum Framing {
    Length(usize),
    Chunked,
    /// Neither: the body runs until the server closes.
    UntilClose,
}

/// A reply's head, parsed.
struct Head {
    status: u16,
    /// The head's length: the body starts there.
    len: usize,
    framing: Framing,
    keep_alive: bool,
}

enum Parsed {
    Reply(Head),
    /// An informational reply (1xx) of this many bytes: skip it, the real one follows.
    Informational(usize),
    /// Not all of the head is in yet.
    Partial,
}

/// Parses the reply head at the start of `buf`. A plain function, not part of the exchange's
/// future: the parser's header array (2 KiB) then lives on the stack for the parse only,
/// instead of in every request's future, which is moved on each poll of a new request (the
/// largest user-space cost of `lab load` in a profile).
fn parse_head(buf: &[u8], head: bool) -> Result<Parsed, Broken> {
    if buf.is_empty() {
        return Ok(Parsed::Partial);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(_) => return Err(Broken::BadReply),
    };
    let status = response.code.unwrap_or(0);
    if (100..200).contains(&status) {
        return Ok(Parsed::Informational(len));
    }
    let mut framing = Framing::UntilClose;
    // HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it.
    let mut keep_alive = response.version == Some(1);
    for header in response.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            framing = Framing::Length(length.ok_or(Broken::BadReply)?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with(b"chunked") {
                framing = Framing::Chunked;
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value == b"close" {
                keep_alive = false;
            } else if value == b"keep-alive" {
                keep_alive = true;
            }
        }
    }
    if head || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok(Parsed::Reply(Head {
        status,
        len,
        framing,
        keep_alive,
    }))
}

impl Connection {
    /// Connects. A refusal is `Fail("connect")`: nothing was sent.
    async fn open(host: &str, port: u16) -> Result<Connection, Outcome> {
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|_| Outcome::fail("connect"))?;
        // Requests are small and each waits for its reply: Nagle would hold every one back.
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(8192),
            idle_since: Instant::now(),
        })
    }

    /// Reads more into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(8192);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Writes the request and reads the reply to its end.
    async fn exchange(&mut self, wire: &[u8], head: bool) -> Result<Reply, Broken> {
        self.buf.clear();
        self.stream.write_all(wire).await?;
        let Head {
            status,
            len: start,
            framing,
            mut keep_alive,
        } = loop {
            // What is buffered is parsed before more is read: an informational reply and the
            // real one may come in one read, and nothing more comes after them.
            match parse_head(&self.buf, head)? {
                Parsed::Reply(head) => break head,
                Parsed::Informational(len) => {
                    // 100 Continue: the real reply follows.
                    self.buf.drain(..len);
                }
                Parsed::Partial => {
                    if self.fill().await? == 0 {
                        return Err(Broken::Reset);
                    }
                }
            }
        };
        match framing {
            Framing::Length(length) => {
                // Count what arrives instead of keeping it: the body is not looked at.
                let mut have = self.buf.len() - start;
                while have < length {
                    self.buf.clear();
                    match self.fill().await? {
                        0 => return Err(Broken::Reset),
                        n => have += n,
                    }
                }
                // More than the reply: not a server to send another request to.
                keep_alive &= have == length;
            }
            Framing::Chunked => self.chunks(start).await?,
            Framing::UntilClose => {
                while self.fill().await? > 0 {
                    self.buf.clear();
                }
                keep_alive = false;
            }
        }
        Ok(Reply { status, keep_alive })
    }

    /// Reads a chunked body, from `at` in the buffer, to its end (the last chunk and the
    /// trailers).
    async fn chunks(&mut self, mut at: usize) -> Result<(), Broken> {
        loop {
            match httparse::parse_chunk_size(&self.buf[at..]) {
                Ok(httparse::Status::Complete((len, 0))) => {
                    at += len;
                    // Trailers, if any, then an empty line.
                    loop {
                        let rest = &self.buf[at..];
                        if rest.starts_with(b"\r\n") || rest.windows(4).any(|w| w == b"\r\n\r\n") {
                            return Ok(());
                        }
                        if self.fill().await? == 0 {
                            return Err(Broken::Reset);
                        }
                    }
                }
                Ok(httparse::Status::Complete((len, size))) => {
                    let size = usize::try_from(size).map_err(|_| Broken::BadReply)?;
                    // The chunk's data and its CRLF, then the next chunk's size line.
                    let mut skip = len + size + 2;
                    while skip > self.buf.len() - at {
                        skip -= self.buf.len() - at;
                        self.buf.clear();
                        at = 0;
                        if self.fill().await? == 0 {
                            return Err(Broken::Reset);
                        }
                    }
                    at += skip;
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill().await? == 0 {
                        return Err(Broken::Reset);
                    }
                }
                Err(_) => return Err(Broken::BadReply),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Reply reading against a scripted server: each test's server reads one request at a
    //! time and answers with fixed bytes, in the pieces given (a reply split across reads is
    //! the case a parser gets wrong). Every exchange runs under [`BOUND`]: a reading bug shows
    //! as a failed test that names the case, never as a hung test run.

    use super::*;
    use tokio::net::TcpListener;

    /// Far above any exchange on loopback, even at load 20.
    const BOUND: Duration = Duration::from_secs(10);

    /// What the scripted server does after its last reply.
    #[derive(Clone, Copy, PartialEq)]
    enum Then {
        /// Closes the connection.
        Close,
        /// Keeps it open until the test ends (a server that never finishes its reply).
        Hold,
    }

    /// A server for one connection: for each reply, reads one request (to its blank line),
    /// then writes the reply's pieces one by one, each flushed on its own.
    async fn server(
        replies: Vec<Vec<&'static [u8]>>,
        then: Then,
    ) -> (u16, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let mut request = Vec::new();
            for pieces in replies {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut buf = [0; 1024];
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                request.clear();
                for piece in pieces {
                    stream.write_all(piece).await.unwrap();
                    stream.flush().await.unwrap();
                    // Lets the client read each piece apart (a read may still join two; the
                    // tests hold either way).
                    tokio::task::yield_now().await;
                }
            }
            if then == Then::Hold {
                let _ = done_rx.await;
            }
        });
        (port, done_tx)
    }

    fn target(port: u16) -> HttpTarget {
        let url = format!("http://127.0.0.1:{port}/");
        HttpTarget::new(Method::GET, &url, HeaderMap::new(), Bytes::new()).unwrap()
    }

    /// One exchange on `connection`, bounded.
    async fn exchange(
        connection: &mut Connection,
        target: &HttpTarget,
        case: &str,
    ) -> Result<Reply, Broken> {
        tokio::time::timeout(BOUND, connection.exchange(&target.wire, target.head))
            .await
            .unwrap_or_else(|_| {
                panic!("{case}: no end to the reply within {BOUND:?}: the reader hangs")
            })
    }

    async fn connect(port: u16) -> Connection {
        match Connection::open("127.0.0.1", port).await {
            Ok(connection) => connection,
            Err(outcome) => panic!("cannot connect to the scripted server: {outcome:?}"),
        }
    }

    const OK_2: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    #[tokio::test]
    async fn a_body_by_length_split_across_reads_and_the_next_reply_on_the_same_connection() {
        let (port, _hold) = server(
            vec![
                vec![
                    b"HTTP/1.1 200 OK\r\ncont",
                    b"ent-length: 5\r\n\r\nhe",
                    b"llo",
                ],
                vec![OK_2],
            ],
            Then::Close,
        )
        .await;
        let target = target(port);
        let mut connection = connect(port).await;
        for case in ["first reply", "second reply"] {
            let reply = exchange(&mut connection, &target, case).await;
            assert!(
                matches!(
                    reply,
                    Ok(Reply {
                        status: 200,
                        keep_alive: true
                    })
                ),
                "{case}: want 200 kept alive, got {reply:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_chunked_body_with_extensions_and_trailers_then_the_next_reply() {
        let (port, _hold) = server(
            vec![
                vec![
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                    b"5;name=value\r\nhel",
                    b"lo\r\n1",
                    b"0\r\n0123456789abcdef\r\n",
                    b"0\r\nx-trailer: yes\r\n",
                    b"\r\n",
                ],
                // All in one read, no trailers.
                vec![b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
                vec![OK_2],
            ],
            Then::Close,
        )
        .await;
        let target = target(port);
        let mut connection = connect(port).await;
        for (case, want) in [
            ("chunks in pieces", 200),
            ("chunks at once", 201),
            ("after the chunks", 200),
        ] {
            let reply = exchange(&mut connection, &target, case).await;
            assert!(
                matches!(reply, Ok(Reply { status, keep_alive: true }) if status == want),
                "{case}: want {want} kept alive, got {reply:?}"
            );
        }
    }

    /// The reader used to hang here (and so did a test run without a bound): when the
    /// informational reply and the real one came in one read, it dropped the first and then
    /// waited for more bytes before it parsed the rest of what it had, bytes that never came.
    #[tokio::test]
    async fn a_100_continue_is_skipped_whether_it_comes_alone_or_with_the_reply() {
        let (port, _hold) = server(
            vec![
                vec![b"HTTP/1.1 100 Continue\r\n\r\n", OK_2],
                vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"],
                vec![OK_2],
            ],
            Then::Hold,
        )
        .await;
        let target = target(port);
        let mut connection = connect(port).await;
        for (case, want) in [("apart", 200), ("together", 204), ("the next one", 200)] {
            let reply = exchange(&mut connection, &target, case).await;
            assert!(
                matches!(reply, Ok(Reply { status, keep_alive: true }) if status == want),
                "{case}: want {want} kept alive, got {reply:?}"
            );
        }
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_end_the_connection() {
        for (case, reply, then) in [
            (
                "connection: close",
                &b"HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 2\r\n\r\nok"[..],
                Then::Hold,
            ),
            (
                "HTTP/1.0 by length",
                b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
                Then::Hold,
            ),
            // No length: the body runs to the close.
            (
                "HTTP/1.0 to the close",
                b"HTTP/1.0 200 OK\r\n\r\nthe body",
                Then::Close,
            ),
            (
                "more than the length",
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok and more",
                Then::Hold,
            ),
        ] {
            let (port, _hold) = server(vec![vec![reply]], then).await;
            let target = target(port);
            let mut connection = connect(port).await;
            let reply = exchange(&mut connection, &target, case).await;
            assert!(
                matches!(
                    reply,
                    Ok(Reply {
                        status: 200,
                        keep_alive: false
                    })
                ),
                "{case}: want 200 and the connection not kept, got {reply:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_reply_cut_short_is_an_error_not_a_hang() {
        for (case, reply) in [
            ("nothing at all", &b""[..]),
            ("in the status line", b"HTTP/1.1 20"),
            (
                "in the headers",
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n",
            ),
            (
                "in a body by length",
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
            ),
            (
                "in a chunk",
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
            ),
            (
                "before the last chunk",
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n",
            ),
            (
                "in the trailers",
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx-a: b\r\n",
            ),
        ] {
            let (port, _hold) = server(vec![vec![reply]], Then::Close).await;
            let target = target(port);
            let mut connection = connect(port).await;
            let reply = exchange(&mut connection, &target, case).await;
            assert!(
                matches!(reply, Err(Broken::Reset)),
                "{case}: want a reset, got {reply:?}"
            );
        }
        let (port, _hold) = server(vec![vec![b"SSH-2.0-OpenSSH_9.6\r\n\r\n"]], Then::Hold).await;
        let reply = exchange(&mut connect(port).await, &target(port), "not HTTP").await;
        assert!(
            matches!(reply, Err(Broken::BadReply)),
            "not HTTP: want a bad reply, got {reply:?}"
        );
    }
}

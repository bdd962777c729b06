//! [`HttpTarget`]: one fixed HTTP/1.1 request, sent again for every shot over kept-alive
//! connections, on hyper's client directly. What `lab load` drives.
//!
//! Why not reqwest ([`super::HttpCall`] keeps it, for callers that want its conveniences):
//! per request it clones its URL, runs its redirect and pool layers, and hands the exchange
//! between its pool's connection task and the caller. Against a hello-world target on two
//! cores that made `lab load` reach 0.6x oha's throughput; the generator measured itself.
//! Here a request is a clone of a prepared one (method, path, headers, a shared body) and one
//! exchange on a connection taken from a stack of idle ones.
//!
//! Why the exchange drives its own connection. hyper's usual pattern spawns each connection
//! as a task of its own, so every exchange wakes two tasks, the caller and the connection,
//! often on two threads. Here the future of the exchange polls the connection itself, and a
//! connection waiting on the idle stack is polled by nobody. So it cannot notice that the
//! server closed it: one idle for longer than [`MAX_IDLE`] is closed instead of reused (a
//! request sent just as the server hangs up fails as if the server had failed).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use node_kit::sync::Mutex;
use tokio::net::TcpStream;

use super::{Operation, Outcome, Shot};

/// The longest a connection may sit idle and still be reused: far below the idle timeout of
/// any server the lab meets (a lab node closes after 10 s), and long enough that a steady
/// load at one request a second still reuses its one connection.
pub const MAX_IDLE: Duration = Duration::from_secs(2);

/// One fixed HTTP/1.1 request to one `http://` address, as an [`Operation`].
#[derive(Debug)]
pub struct HttpTarget {
    /// Where to connect (the URL's host and port; a name is resolved at each connect, which
    /// is rare: connections are kept).
    host: String,
    port: u16,
    /// The request every shot sends: origin-form URI (`/path?query`), `Host` added.
    method: Method,
    path: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// Connections free for the next shot, the most recently used on top (so that a light
    /// load keeps reusing a few warm ones and the rest age out).
    idle: Mutex<Vec<Connection>>,
}

impl HttpTarget {
    /// `url` must be `http://host[:port]/...`; `headers` are sent as given, plus `Host`.
    pub fn new(
        method: Method,
        url: &str,
        mut headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<Self, String> {
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
        if !headers.contains_key(HOST) {
            let value = HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("bad URL {url:?}: {e}"))?;
            headers.insert(HOST, value);
        }
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("bad URL {url:?}: {e}"))?;
        Ok(HttpTarget {
            host,
            port,
            method,
            path,
            headers,
            body: body.into(),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.path.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// A recently used idle connection, or a new one.
    async fn connection(&self) -> Result<Connection, Outcome> {
        loop {
            let Some(idle) = self.idle.lock().pop() else {
                break;
            };
            if idle.idle_since.elapsed() <= MAX_IDLE {
                return Ok(idle);
            }
            // Too old to trust: dropped, closed; and so is every one below it.
            self.idle.lock().clear();
            break;
        }
        Connection::open(&self.host, self.port).await
    }
}

impl Operation for HttpTarget {
    async fn call(&self, _: Shot) -> Outcome {
        let mut connection = match self.connection().await {
            Ok(connection) => connection,
            Err(outcome) => return outcome,
        };
        let (outcome, reusable) = connection.exchange(self.request()).await;
        if reusable {
            connection.idle_since = Instant::now();
            self.idle.lock().push(connection);
        }
        outcome
    }
}

type Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One kept-alive HTTP/1.1 connection: hyper's two halves, held together.
struct Connection {
    /// Where requests go in.
    sender: SendRequest<Full<Bytes>>,
    /// What reads and writes the socket when polled (by the exchange in progress).
    driver: Pin<Box<Driver>>,
    idle_since: Instant,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("idle_since", &self.idle_since)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects. A refusal is `Fail("connect")`: nothing was sent.
    async fn open(host: &str, port: u16) -> Result<Connection, Outcome> {
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|_| Outcome::fail("connect"))?;
        // Requests are small and each waits for its reply: Nagle would hold every one back.
        let _ = stream.set_nodelay(true);
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Outcome::fail("connect"))?;
        Ok(Connection {
            sender,
            driver: Box::pin(driver),
            idle_since: Instant::now(),
        })
    }

    /// Sends `request` and reads the reply to its end, polling the connection meanwhile.
    /// Returns how it ended and whether the connection can carry another request.
    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> (Outcome, bool) {
        let Connection { sender, driver, .. } = self;
        let reply = pin!(async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok::<StatusCode, hyper::Error>(status)
        });
        let mut reply = reply;
        let mut open = true;
        let ended = poll_fn(|cx| {
            if let Poll::Ready(ended) = reply.as_mut().poll(cx) {
                // One more turn of the connection: a server that said `Connection: close`
                // has it end now, and it must not go back to the idle stack.
                open = open && driver.as_mut().poll(cx).is_pending();
                return Poll::Ready(ended.ok());
            }
            if open && driver.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The connection ended (closed, reset): the reply ends with it, now or never.
            open = false;
            match reply.as_mut().poll(cx) {
                Poll::Ready(ended) => Poll::Ready(ended.ok()),
                Poll::Pending => Poll::Ready(None),
            }
        })
        .await;
        match ended {
            Some(status) if status.is_success() => (Outcome::Ok, open),
            Some(status) => (Outcome::fail(format!("http_{}", status.as_u16())), open),
            // It broke after the request may have gone out: maybe applied.
            None => (Outcome::unknown("reset"), false),
        }
    }
}

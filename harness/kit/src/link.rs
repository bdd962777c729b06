//! Framed node-to-node connections over an HTTP/1.1 upgrade on the node's one address.
//!
//! A [`Link`] carries text frames (JSON, by convention) in both directions over one long-lived
//! connection, the way Erlang distribution multiplexes every message between two nodes over
//! one TCP connection. Underneath it is a WebSocket: the dialer sends
//! `GET /internal/link` with `Upgrade: websocket` and the cluster cookie; the node's
//! [`crate::Routes::on_link`] handler receives the accepted side. Because it is an upgrade of
//! the node's ordinary HTTP port, the harness's fault proxy sees and breaks it like any other
//! connection.
//!
//! What a link does not do is the point of exercise 01: no request/reply matching, no
//! timeouts, no reconnects. [`LinkReceiver::recv`] returning `None` is the only signal that the
//! other side is gone (closed, reset or killed).

use std::io;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

use crate::COOKIE_HEADER;

/// The path of the upgrade route, under the cookie-guarded internal routes.
pub const LINK_PATH: &str = "/internal/link";

/// The largest frame a link carries, either way: a request body's limit
/// ([`crate::BODY_LIMIT`]). A larger one ends the link (WebSocket's default, 64 MiB, would
/// let one peer make the other buffer that much per frame).
pub const FRAME_LIMIT: usize = crate::BODY_LIMIT;

/// Both halves of a framed connection.
#[derive(Debug)]
pub struct Link {
    pub sender: LinkSender,
    pub receiver: LinkReceiver,
}

/// Sends frames; clone it freely (every clone writes to the same connection, in order).
#[derive(Debug, Clone)]
pub struct LinkSender(mpsc::UnboundedSender<String>);

/// Receives frames in the order the peer sent them.
#[derive(Debug)]
pub struct LinkReceiver(mpsc::UnboundedReceiver<String>);

/// The connection is gone; the frame was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClosed;

impl std::fmt::Display for LinkClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("link closed")
    }
}

impl std::error::Error for LinkClosed {}

impl LinkSender {
    /// Queues a frame for sending. Fails once the connection is closed. Queued frames are
    /// unbounded: a teaching simplification (a production link would apply back pressure).
    pub fn send(&self, frame: impl Into<String>) -> Result<(), LinkClosed> {
        self.0.send(frame.into()).map_err(|_| LinkClosed)
    }

    /// Serialises `value` as JSON and sends it as one frame.
    pub fn send_json<T: Serialize>(&self, value: &T) -> Result<(), LinkClosed> {
        let text = serde_json::to_string(value).expect("a frame type serialises to JSON");
        self.send(text)
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl LinkReceiver {
    /// The next frame, or `None` when the connection has closed for any reason.
    pub async fn recv(&mut self) -> Option<String> {
        self.0.recv().await
    }

    /// The next frame parsed as JSON: `None` when closed, `Some(Err)` for a frame that does
    /// not parse as `T` (the caller decides whether that ends the link).
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Option<serde_json::Result<T>> {
        self.recv().await.map(|text| serde_json::from_str(&text))
    }
}

impl Link {
    /// Opens a link to the node at `addr` (`host:port`), presenting the cluster cookie.
    pub async fn dial(addr: &str, cookie: &str) -> io::Result<Link> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = tungstenite::http::Request::builder()
            .uri(format!("ws://{addr}{LINK_PATH}"))
            .header("host", addr)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header(
                "sec-websocket-key",
                tungstenite::handshake::client::generate_key(),
            )
            .header(COOKIE_HEADER, cookie)
            .body(())
            .map_err(io::Error::other)?;
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(FRAME_LIMIT))
            .max_frame_size(Some(FRAME_LIMIT));
        let (socket, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Io(e) => e,
                    tungstenite::Error::Http(response) => io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("link to {addr} refused with HTTP {}", response.status()),
                    ),
                    other => io::Error::other(other),
                })?;
        Ok(pump(
            socket,
            |m| match m {
                tungstenite::Message::Text(t) => Incoming::Frame(t.as_str().to_string()),
                tungstenite::Message::Close(_) => Incoming::Closed,
                _ => Incoming::Control,
            },
            |text| tungstenite::Message::Text(text.into()),
        ))
    }

    /// Wraps the server side of an accepted upgrade.
    pub(crate) fn accepted(socket: axum::extract::ws::WebSocket) -> Link {
        use axum::extract::ws::Message;
        pump(
            socket,
            |m| match m {
                Message::Text(t) => Incoming::Frame(t.as_str().to_string()),
                Message::Close(_) => Incoming::Closed,
                _ => Incoming::Control,
            },
            |text| Message::Text(text.into()),
        )
    }

    pub fn split(self) -> (LinkSender, LinkReceiver) {
        (self.sender, self.receiver)
    }
}

enum Incoming {
    Frame(String),
    Closed,
    /// Pings, pongs and binary frames: the WebSocket layer answers pings itself.
    Control,
}

/// Moves frames between the socket and two channels on a task of its own, until either side
/// closes. Dropping every [`LinkSender`] closes the connection politely.
fn pump<S, M, E>(socket: S, classify: fn(M) -> Incoming, text: fn(String) -> M) -> Link
where
    S: Stream<Item = Result<M, E>> + Sink<M> + Send + Unpin + 'static,
    M: Send + 'static,
    E: Send + 'static,
    <S as Sink<M>>::Error: Send,
{
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let (in_tx, in_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (mut sink, mut stream) = socket.split();
        loop {
            tokio::select! {
                outgoing = out_rx.recv() => match outgoing {
                    Some(frame) => {
                        if sink.send(text(frame)).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let _ = sink.close().await;
                        break;
                    }
                },
                incoming = stream.next() => match incoming.map(|r| r.map(classify)) {
                    Some(Ok(Incoming::Frame(frame))) => {
                        let _ = in_tx.send(frame);
                    }
                    Some(Ok(Incoming::Control)) => {}
                    Some(Ok(Incoming::Closed)) | Some(Err(_)) | None => break,
                },
            }
        }
        // Dropping `in_tx` ends the receiver; dropping `out_rx` makes every send fail.
    });
    Link {
        sender: LinkSender(out_tx),
        receiver: LinkReceiver(in_rx),
    }
}

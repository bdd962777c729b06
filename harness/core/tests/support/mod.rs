//! A minimal blocking HTTP/1.1 client over one `TcpStream`, for the harness's self-tests.
//!
//! The self-tests need what a full client hides: the exact connection a request uses (faults
//! must apply to connections opened before them), and the raw error (reset versus timeout
//! versus end of file).

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const TEST_NODE: &str = env!("CARGO_BIN_EXE_test-node");

/// One keep-alive connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn set_timeout(&self, timeout: Duration) {
        self.stream().set_read_timeout(Some(timeout)).unwrap();
    }

    /// Sends a request and reads the response: `(status, body)`.
    pub fn request(&mut self, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: lab\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut length = 0;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed in headers",
                ));
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    pub fn get(&mut self, path: &str) -> io::Result<(u16, String)> {
        self.request("GET", path, "")
    }

    /// Round-trip time of `GET /health` on this connection.
    pub fn rtt(&mut self) -> io::Result<Duration> {
        let started = Instant::now();
        let (status, _) = self.get("/health")?;
        assert_eq!(status, 200);
        Ok(started.elapsed())
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> io::Result<(u16, String)> {
    Conn::open(addr, Duration::from_secs(5))?.request(method, path, body)
}

pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    request(addr, "GET", path, "")
}

/// `GET /peers` on a node: its view of which peers answer.
pub fn peer_view(addr: SocketAddr) -> serde_json::Value {
    let (status, body) = get(addr, "/peers").expect("GET /peers answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

pub fn is_up(view: &serde_json::Value, peer: &str) -> bool {
    view[peer] == "up"
}

/// The median of `n` round trips on one connection.
pub fn median_rtt(conn: &mut Conn, n: usize) -> Duration {
    let mut rtts: Vec<Duration> = (0..n).map(|_| conn.rtt().expect("round trip")).collect();
    rtts.sort();
    rtts[n / 2]
}

/// True when `err` means the connection was reset or closed, as opposed to timing out.
pub fn is_closed(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionRefused
    )
}

pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Posts JSON on a fresh connection and returns the raw reply (status line, headers, body).
/// A `declared` length larger than the body sends only the head: the node must refuse on the
/// header alone (no unread bytes, no reset race).
pub fn post_json(addr: SocketAddr, path: &str, body: &str, declared: usize) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: lab\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    if declared == body.len() {
        stream.write_all(body.as_bytes()).unwrap();
    }
    let mut buf = vec![0u8; 8192];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Opens `tries` connections one after another through the proxy `link` (listening at
/// `addr`), asks each for `/health`, and returns how many the proxy lost. The proxy says at
/// accept whether it lost a connection; a lost one must then never answer (checked for
/// 300 ms), and any other must answer 200 however slowly (5 s), so a busy machine never turns a
/// slow reply into a loss. Sequential, so a seeded proxy loses the same connections each run.
pub fn lost_connections(link: &harness::Proxy, addr: SocketAddr, tries: usize) -> usize {
    let mut lost = 0;
    for i in 0..tries {
        let before = link.stats();
        let mut conn = Conn::open(addr, Duration::from_secs(5)).expect("the proxy accepts");
        let deadline = Instant::now() + Duration::from_secs(5);
        while link.stats().accepted == before.accepted {
            assert!(
                Instant::now() < deadline,
                "the proxy never admitted connection {i}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        if link.stats().lost > before.lost {
            conn.set_timeout(Duration::from_millis(300));
            let err = conn
                .get("/health")
                .expect_err("a lost connection answers nothing");
            assert!(
                is_timeout(&err),
                "a lost connection hangs, it does not fail: {err:?}"
            );
            lost += 1;
        } else {
            let (status, _) = conn.get("/health").expect("a connection not lost answers");
            assert_eq!(status, 200);
        }
    }
    lost
}

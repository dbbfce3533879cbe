//! Raw HTTP/1.x client helpers over plain `TcpStream`s, every read and write bounded by a
//! timeout (default [`TIMEOUT`]) so that a broken proxy fails a test instead of hanging it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::mock::Echo;
use super::wire::{BufConn, find_header, parse_head};

/// Default bound on connecting, each read and each write.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed response.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// "HTTP/1.1"
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Header fields in order, names in their original case.
    pub headers: Vec<(String, String)>,
    /// The decoded body (de-chunked).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
    pub trailers: Vec<(String, String)>,
    /// Interim (1xx) responses received before this one (101 is final), as (status, headers).
    pub interim: Vec<(u16, Vec<(String, String)>)>,
    /// The final head as received.
    pub raw_head: String,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("chunked", &self.chunked)
            .field("trailers", &self.trailers)
            .field("interim", &self.interim)
            .finish()
    }
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }
    /// The `x-server` header set by a [`super::MockServer`].
    pub fn server(&self) -> Option<&str> {
        self.header("x-server")
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The mock's description of the request it received (panics when the body is not one).
    pub fn echo(&self) -> Echo {
        Echo::parse(&self.body)
            .unwrap_or_else(|| panic!("not a mock description: {:?}", self.body_text()))
    }
    pub fn try_echo(&self) -> Option<Echo> {
        Echo::parse(&self.body)
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads one response from `io`. `head_request`: the request was HEAD (no body follows).
pub fn read_response_from<S: Read>(
    io: &mut BufConn<S>,
    head_request: bool,
) -> io::Result<Response> {
    let mut interim = Vec::new();
    loop {
        let head = io.read_head()?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before any response byte",
            )
        })?;
        let (line, headers) = parse_head(&head);
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let reason = parts.next().unwrap_or("").to_string();
        if !version.starts_with("HTTP/") {
            return Err(bad(format!("bad status line {line:?}")));
        }
        if (100..200).contains(&status) && status != 101 {
            interim.push((status, headers));
            continue;
        }
        let mut r = Response {
            version,
            status,
            reason,
            headers,
            interim,
            raw_head: String::from_utf8_lossy(&head).into_owned(),
            ..Default::default()
        };
        let no_body = head_request || status == 204 || status == 304 || status == 101;
        if no_body {
            return Ok(r);
        }
        let chunked = r
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().trim_end().ends_with("chunked"));
        if chunked {
            let (b, t) = io.read_chunked()?;
            r.body = b;
            r.trailers = t;
            r.chunked = true;
        } else if let Some(cl) = r.header("content-length") {
            let n: usize = cl
                .trim()
                .parse()
                .map_err(|_| bad(format!("bad content-length {cl:?}")))?;
            r.body = io.read_n(n)?;
        } else {
            r.body = io.read_to_eof()?;
        }
        return Ok(r);
    }
}

/// Parses the first response in `buf` (interim 1xx responses go to `interim`); a body
/// without length runs to the end of `buf`.
pub fn parse_response(buf: &[u8]) -> io::Result<Response> {
    read_response_from(&mut BufConn::new(buf), false)
}

/// Parses every response in `buf` (e.g. what `send_raw` got back for pipelined requests).
pub fn parse_responses(buf: &[u8]) -> io::Result<Vec<Response>> {
    let mut io = BufConn::new(buf);
    let mut out = Vec::new();
    loop {
        while io.buf.is_empty() && io.fill()? > 0 {}
        if io.buf.is_empty() {
            return Ok(out);
        }
        out.push(read_response_from(&mut io, false)?);
    }
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
}

/// One client connection that can carry several requests (keep-alive).
pub struct Conn {
    io: BufConn<TcpStream>,
    addr: SocketAddr,
    timeout: Duration,
}

impl Conn {
    /// Connects (panics with the reason on failure).
    pub fn open(addr: impl ToSocketAddrs) -> Conn {
        let addr = resolve(addr).expect("address");
        Conn::try_open(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }
    pub fn try_open(addr: impl ToSocketAddrs) -> io::Result<Conn> {
        let addr = resolve(addr)?;
        let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Conn {
            io: BufConn::new(s),
            addr,
            timeout: TIMEOUT,
        })
    }
    /// Changes the read/write timeout.
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
        let _ = self.io.s.set_read_timeout(Some(t));
        let _ = self.io.s.set_write_timeout(Some(t));
    }
    pub fn peer(&self) -> SocketAddr {
        self.addr
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.io.s.local_addr().expect("local addr")
    }
    /// The socket, for raw work (shutdown, etc.). Bytes already buffered stay in `Conn`.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.io.s
    }
    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.s.write_all(bytes)?;
        self.io.s.flush()
    }
    /// Reads one response to a non-HEAD request.
    pub fn read_response(&mut self) -> io::Result<Response> {
        read_response_from(&mut self.io, false)
    }
    /// Reads one response to a HEAD request (no body).
    pub fn read_head_response(&mut self) -> io::Result<Response> {
        read_response_from(&mut self.io, true)
    }
    /// Sends raw request bytes and reads one response (HEAD detected from the bytes).
    pub fn roundtrip(&mut self, raw: &[u8]) -> io::Result<Response> {
        self.send(raw)?;
        read_response_from(&mut self.io, raw.starts_with(b"HEAD "))
    }
    /// Sends `METHOD path HTTP/1.1` with `headers` (a `Host: <addr>` is added unless given;
    /// `Content-Length` is added for a non-empty body unless a length or
    /// `Transfer-Encoding` is given) and reads the response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let raw = build_request(method, path, &self.addr.to_string(), headers, body);
        self.roundtrip(&raw)
    }
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, &[], b"")
    }
    /// Bytes that arrive within `wait` (for tunnels); stops early at EOF.
    pub fn read_for(&mut self, wait: Duration) -> Vec<u8> {
        let deadline = Instant::now() + wait;
        let mut out = std::mem::take(&mut self.io.buf);
        while !self.io.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = self.io.s.set_read_timeout(Some(left));
            match self.io.fill() {
                Ok(_) => out.append(&mut self.io.buf),
                Err(_) => break,
            }
        }
        let _ = self.io.s.set_read_timeout(Some(self.timeout));
        out
    }
    /// Reads until exactly `n` bytes arrived (for tunnels), within the timeout.
    pub fn read_exact_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.io.read_n(n)
    }
    /// True when the peer closed the connection (EOF or reset) within the timeout,
    /// discarding anything still arriving; false when it stays open that long.
    pub fn wait_closed(&mut self) -> bool {
        loop {
            if self.io.eof {
                return true;
            }
            self.io.buf.clear();
            match self.io.fill() {
                Ok(_) => {}
                Err(e) => return e.kind() != io::ErrorKind::TimedOut,
            }
        }
    }
    /// Bytes received but not consumed by a response yet.
    pub fn pending(&self) -> &[u8] {
        &self.io.buf
    }
}

/// Builds raw request bytes (same rules as [`Conn::request`], `host` the default Host).
pub fn build_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    let mut s = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        s.push_str(&format!("Host: {host}\r\n"));
    }
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut raw = s.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// GET `path` on a fresh connection with `Connection: close`; panics on any failure.
pub fn http_get(addr: impl ToSocketAddrs, path: &str) -> Response {
    let addr = resolve(addr).expect("address");
    try_http_get(addr, path).unwrap_or_else(|e| panic!("GET {path} via {addr}: {e}"))
}

/// `http_get` that reports failures (refused, reset, timeout, bad response) as errors.
pub fn try_http_get(addr: impl ToSocketAddrs, path: &str) -> io::Result<Response> {
    http_request(addr, "GET", path, &[], b"")
}

/// Any request on a fresh connection with `Connection: close` added unless a Connection
/// header is given.
pub fn http_request(
    addr: impl ToSocketAddrs,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut c = Conn::try_open(addr)?;
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    if !h.iter().any(|(n, _)| n.eq_ignore_ascii_case("connection")) {
        h.push(("Connection", "close"));
    }
    c.request(method, path, &h, body)
}

/// Writes `bytes` on a fresh connection and returns everything read until EOF or
/// [`TIMEOUT`] (whichever first); the write side stays open.
pub fn send_raw(addr: impl ToSocketAddrs, bytes: &[u8]) -> Vec<u8> {
    send_raw_timeout(addr, bytes, TIMEOUT)
}

/// `send_raw` with another bound on the whole exchange.
pub fn send_raw_timeout(addr: impl ToSocketAddrs, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let addr = resolve(addr).expect("address");
    let mut c = Conn::try_open(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    // A write error (peer closed early) still lets us read what it answered.
    let _ = c.send(bytes);
    c.read_for(timeout)
}

/// `[(name, value)]`, or no header at all when `value` is empty: for tables of requests
/// where some rows send the header and others do not.
pub fn header_if<'a>(name: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    if value.is_empty() {
        vec![]
    } else {
        vec![(name, value)]
    }
}

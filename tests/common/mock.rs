//! In-process mock backends: `MockServer` (HTTP/1.1, describes what it received) and
//! `TcpMock` (raw TCP echo), and `ScriptedServer` (a protocol the test writes). Plain std
//! threads, one per connection.
//!
//! Every answer of a `MockServer` carries `x-server: NAME` and `x-conn-id: N` (N counts
//! the server's accepted connections from 1) and, unless told otherwise, a text body
//! describing the request exactly as it arrived (see [`Echo`]):
//!
//! ```text
//! server: NAME
//! conn: 3
//! peer: 127.0.0.1:51234
//! request: GET /x HTTP/1.1
//! header: host: 127.0.0.1:20001
//! header: X-Foo: bar
//! body-length: 5
//! body:
//! hello
//! ```
//!
//! Behaviours, from the builder's `mock(SPEC)` (every request) and/or the request header
//! `x-mock: SPEC` (that request; several headers add up), SPEC being tokens separated by
//! commas or blanks:
//! `delay=MS` sleep before answering · `status=N` answer status N · `close` answer then
//! close · `chunked` chunked response body · `body=N` an N-byte body (`0123456789`
//! repeated) instead of the description · `nolen` no Content-Length, the close ends the
//! body · `hdr=Name:Value` add a response header · `hang` never answer (read and discard
//! until the peer closes) · `reset` close at once with a TCP RST · `drop` close at once
//! with a FIN · `100` send an interim `100 Continue` first · `ws` accept
//! `Upgrade: websocket` with 101, then echo every byte back.
//!
//! A request with `Expect: 100-continue` and a body gets `100 Continue` before its body
//! is read, as a real server would.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::ports::{free_port, local};
use super::wire::{BufConn, find_header, header_has_token, parse_head};

/// One request as the mock received it.
#[derive(Clone)]
pub struct Received {
    pub method: String,
    pub uri: String,
    pub version: String,
    /// Header fields in arrival order, names in their original case.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked bodies de-chunked).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
    /// 1-based number of the connection it came on (per server).
    pub conn_id: usize,
    /// The client end of that connection (for a proxied request: the proxy's side).
    pub peer: SocketAddr,
    /// The head exactly as received (request line, header lines, blank line).
    pub raw_head: String,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("conn_id", &self.conn_id)
            .field("peer", &self.peer)
            .field("raw_head", &self.raw_head)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("chunked", &self.chunked)
            .field("trailers", &self.trailers)
            .finish()
    }
}

impl Received {
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
    /// Header names in order, as received.
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// What a request asks of the mock (merged from the builder's default and `x-mock`).
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    pub delay: Option<Duration>,
    pub status: Option<u16>,
    pub close: bool,
    pub chunked: bool,
    pub body: Option<usize>,
    pub nolen: bool,
    pub headers: Vec<(String, String)>,
    pub hang: bool,
    pub reset: bool,
    pub drop: bool,
    pub continue100: bool,
    pub ws: bool,
}

impl Behaviour {
    /// Adds the tokens of `spec` (see the module doc); unknown tokens panic the
    /// connection thread so that typos surface as failed requests.
    pub fn apply(&mut self, spec: &str) {
        for tok in spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
            match k.to_ascii_lowercase().as_str() {
                "delay" => self.delay = Some(Duration::from_millis(v.parse().expect("delay=MS"))),
                "status" => self.status = Some(v.parse().expect("status=N")),
                "close" => self.close = true,
                "chunked" => self.chunked = true,
                "body" => self.body = Some(v.parse().expect("body=N")),
                "nolen" => self.nolen = true,
                "hdr" => {
                    let (n, v) = v.split_once(':').expect("hdr=Name:Value");
                    self.headers.push((n.to_string(), v.to_string()));
                }
                "hang" => self.hang = true,
                "reset" => self.reset = true,
                "drop" => self.drop = true,
                "100" => self.continue100 = true,
                "ws" => self.ws = true,
                _ => panic!("unknown x-mock token {tok:?}"),
            }
        }
    }
}

struct Shared {
    name: String,
    defaults: Behaviour,
    connections: AtomicUsize,
    requests: AtomicUsize,
    received: Mutex<Vec<Received>>,
    stop: AtomicBool,
    streams: Mutex<HashMap<usize, TcpStream>>,
}

/// Configures a [`MockServer`] before starting it.
pub struct MockBuilder {
    name: String,
    defaults: Behaviour,
    port: Option<u16>,
}

impl MockBuilder {
    /// Behaviour tokens applied to every request (see the module doc), e.g. "status=503".
    pub fn mock(mut self, spec: &str) -> Self {
        self.defaults.apply(spec);
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.defaults.delay = Some(d);
        self
    }
    pub fn status(mut self, s: u16) -> Self {
        self.defaults.status = Some(s);
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.defaults
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }
    /// Listen on this port instead of a fresh one (e.g. to bring a server "back").
    pub fn port(mut self, p: u16) -> Self {
        self.port = Some(p);
        self
    }
    pub fn start(self) -> MockServer {
        let listener = match self.port {
            Some(p) => TcpListener::bind(local(p)).expect("mock bind on given port"),
            None => bind_fresh(),
        };
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            defaults: self.defaults,
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
        });
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name(format!("mock-{}", self.name))
            .spawn(move || accept_loop(listener, sh, serve_http))
            .expect("spawn");
        MockServer {
            name: self.name,
            addr,
            shared,
            accept: Some(accept),
        }
    }
}

fn bind_fresh() -> TcpListener {
    let mut last = None;
    for _ in 0..20 {
        match TcpListener::bind(local(free_port())) {
            Ok(l) => return l,
            Err(e) => last = Some(e),
        }
    }
    panic!("cannot bind a mock listener: {last:?}");
}

/// A mock HTTP/1.1 backend; stops (closing every connection) when dropped.
pub struct MockServer {
    name: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl MockServer {
    /// Starts a plain mock named `name` on 127.0.0.1:free port.
    pub fn start(name: &str) -> MockServer {
        MockServer::builder(name).start()
    }
    pub fn builder(name: &str) -> MockBuilder {
        MockBuilder {
            name: name.to_string(),
            defaults: Behaviour::default(),
            port: None,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// "127.0.0.1:PORT", for a `server` line.
    pub fn addr_str(&self) -> String {
        self.addr.to_string()
    }
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
    /// Complete requests received so far (counted before any behaviour such as `hang`).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
    /// The last request received, if any.
    pub fn last(&self) -> Option<Received> {
        self.shared.received.lock().unwrap().last().cloned()
    }
    /// Forgets the received requests and zeroes the request counter (connections stay
    /// counted, so conn ids stay unique).
    pub fn clear(&self) {
        self.shared.received.lock().unwrap().clear();
        self.shared.requests.store(0, Ordering::SeqCst);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        stop(&self.shared.stop, &self.shared.streams, self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn stop(flag: &AtomicBool, streams: &Mutex<HashMap<usize, TcpStream>>, addr: SocketAddr) {
    flag.store(true, Ordering::SeqCst);
    // Wake the blocking accept.
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    for (_, s) in streams.lock().unwrap_or_else(|e| e.into_inner()).drain() {
        let _ = s.shutdown(Shutdown::Both);
    }
}

trait HasStop {
    fn stopped(&self) -> bool;
    fn streams(&self) -> &Mutex<HashMap<usize, TcpStream>>;
    fn accepted(&self) -> usize;
}

impl HasStop for Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    fn streams(&self) -> &Mutex<HashMap<usize, TcpStream>> {
        &self.streams
    }
    fn accepted(&self) -> usize {
        self.connections.fetch_add(1, Ordering::SeqCst) + 1
    }
}

fn accept_loop<S: HasStop + Send + Sync + 'static>(
    listener: TcpListener,
    sh: Arc<S>,
    serve: fn(TcpStream, usize, SocketAddr, Arc<S>),
) {
    for conn in listener.incoming() {
        if sh.stopped() {
            break;
        }
        let Ok(stream) = conn else { continue };
        let id = sh.accepted();
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let _ = stream.set_nodelay(true);
        // A clone kept so that stopping the server can shut the connection down; removed
        // when the connection ends so that closing really closes (FIN, or RST for `reset`).
        if let Ok(c) = stream.try_clone() {
            sh.streams().lock().unwrap().insert(id, c);
        }
        let sh2 = sh.clone();
        let _ = thread::Builder::new()
            .name(format!("mock-conn-{id}"))
            .spawn(move || {
                serve(stream, id, peer, sh2.clone());
                sh2.streams().lock().unwrap().remove(&id);
            });
    }
}

fn serve_http(stream: TcpStream, conn_id: usize, peer: SocketAddr, sh: Arc<Shared>) {
    let _ = serve_http_inner(stream, conn_id, peer, &sh);
}

fn serve_http_inner(
    stream: TcpStream,
    conn_id: usize,
    peer: SocketAddr,
    sh: &Shared,
) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut io = BufConn::new(stream);
    loop {
        if sh.stopped() {
            return Ok(());
        }
        let Some(head) = io.read_head()? else {
            return Ok(());
        };
        let (line, headers) = parse_head(&head);
        let mut parts = line.splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_string();
        let uri = parts.next().unwrap_or("").to_string();
        let version = parts.next().unwrap_or("").to_string();

        let te_chunked = find_header(&headers, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().trim_end().ends_with("chunked"));
        let clen = find_header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok());
        let has_body = te_chunked || clen.is_some_and(|n| n > 0);
        if has_body && version == "HTTP/1.1" && header_has_token(&headers, "expect", "100-continue")
        {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let (body, trailers) = if te_chunked {
            io.read_chunked()?
        } else {
            (io.read_n(clen.unwrap_or(0))?, Vec::new())
        };

        let mut b = sh.defaults.clone();
        for (n, v) in &headers {
            if n.eq_ignore_ascii_case("x-mock") {
                b.apply(v);
            }
        }
        let rec = Received {
            method: method.clone(),
            uri,
            version: version.clone(),
            headers: headers.clone(),
            body,
            chunked: te_chunked,
            trailers,
            conn_id,
            peer,
            raw_head: String::from_utf8_lossy(&head).into_owned(),
        };
        let description = describe(&sh.name, &rec);
        sh.received.lock().unwrap().push(rec);
        sh.requests.fetch_add(1, Ordering::SeqCst);

        if b.reset {
            let _ = socket2::SockRef::from(&out).set_linger(Some(Duration::ZERO));
            return Ok(());
        }
        if b.drop {
            return Ok(());
        }
        if b.hang {
            while io.fill()? > 0 {
                io.buf.clear();
            }
            return Ok(());
        }
        if let Some(d) = b.delay {
            thread::sleep(d);
        }
        if b.continue100 {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let upgrade_ws = b.ws && header_has_token(&headers, "upgrade", "websocket");
        if upgrade_ws {
            let key = find_header(&headers, "sec-websocket-key").unwrap_or("");
            let mut resp = String::from("HTTP/1.1 101 Switching Protocols\r\n");
            resp.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
            resp.push_str(&format!("Sec-WebSocket-Accept: {}\r\n", ws_accept(key)));
            resp.push_str(&format!(
                "x-server: {}\r\nx-conn-id: {conn_id}\r\n\r\n",
                sh.name
            ));
            out.write_all(resp.as_bytes())?;
            // Echo: first what already arrived behind the head, then the rest.
            let early = std::mem::take(&mut io.buf);
            out.write_all(&early)?;
            while io.fill()? > 0 {
                let chunk = std::mem::take(&mut io.buf);
                out.write_all(&chunk)?;
            }
            let _ = out.shutdown(Shutdown::Write);
            return Ok(());
        }

        let keep_alive = !b.close
            && !b.nolen
            && if version == "HTTP/1.0" {
                header_has_token(&headers, "connection", "keep-alive")
            } else {
                !header_has_token(&headers, "connection", "close")
            };
        let status = b.status.unwrap_or(200);
        let body: Vec<u8> = match b.body {
            Some(n) => (0..n).map(|i| b'0' + (i % 10) as u8).collect(),
            None => description.into_bytes(),
        };
        let no_body_status = status == 204 || status == 304 || (100..200).contains(&status);
        let mut resp = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        resp.push_str(&format!(
            "x-server: {}\r\nx-conn-id: {conn_id}\r\n",
            sh.name
        ));
        for (n, v) in &b.headers {
            resp.push_str(&format!("{n}: {v}\r\n"));
        }
        if !no_body_status {
            resp.push_str("Content-Type: text/plain\r\n");
            if b.chunked {
                resp.push_str("Transfer-Encoding: chunked\r\n");
            } else if !b.nolen {
                resp.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
        }
        if !keep_alive {
            resp.push_str("Connection: close\r\n");
        } else if version == "HTTP/1.0" {
            resp.push_str("Connection: keep-alive\r\n");
        }
        resp.push_str("\r\n");
        let mut bytes = resp.into_bytes();
        if !no_body_status && method != "HEAD" {
            if b.chunked {
                // Two chunks when there is enough body, to exercise chunk boundaries.
                let (a, c) = body.split_at(body.len() / 2);
                for part in [a, c] {
                    if !part.is_empty() {
                        bytes.extend(format!("{:x}\r\n", part.len()).as_bytes());
                        bytes.extend(part);
                        bytes.extend(b"\r\n");
                    }
                }
                bytes.extend(b"0\r\n\r\n");
            } else {
                bytes.extend(&body);
            }
        }
        out.write_all(&bytes)?;
        out.flush()?;
        if !keep_alive {
            let _ = out.shutdown(Shutdown::Write);
            // Let the peer read everything before the socket goes (avoids an RST that
            // would discard unread data): drain until it closes too.
            let _ = io.s.set_read_timeout(Some(Duration::from_secs(5)));
            while matches!(io.fill(), Ok(n) if n > 0) {
                io.buf.clear();
            }
            return Ok(());
        }
    }
}

fn describe(name: &str, r: &Received) -> String {
    let mut s = format!(
        "server: {name}\nconn: {}\npeer: {}\nrequest: {} {} {}\n",
        r.conn_id, r.peer, r.method, r.uri, r.version
    );
    for (n, v) in &r.headers {
        s.push_str(&format!("header: {n}: {v}\n"));
    }
    s.push_str(&format!("body-length: {}\nbody:\n", r.body.len()));
    s.push_str(&String::from_utf8_lossy(&r.body));
    s
}

/// A mock's description of a request, parsed back from a response body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Echo {
    pub server: String,
    pub conn: usize,
    pub peer: String,
    /// "METHOD URI VERSION" as the mock received it.
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    pub body: Vec<u8>,
}

impl Echo {
    /// Parses a mock description; None when `body` is not one.
    pub fn parse(body: &[u8]) -> Option<Echo> {
        let marker = b"\nbody:\n";
        let pos = body.windows(marker.len()).position(|w| w == marker)?;
        let head = std::str::from_utf8(&body[..pos]).ok()?;
        let rest = &body[pos + marker.len()..];
        let mut e = Echo {
            server: String::new(),
            conn: 0,
            peer: String::new(),
            request_line: String::new(),
            headers: Vec::new(),
            body_len: 0,
            body: rest.to_vec(),
        };
        let mut saw_server = false;
        for line in head.lines() {
            let (k, v) = line.split_once(": ")?;
            match k {
                "server" => {
                    e.server = v.to_string();
                    saw_server = true;
                }
                "conn" => e.conn = v.parse().ok()?,
                "peer" => e.peer = v.to_string(),
                "request" => e.request_line = v.to_string(),
                "header" => {
                    let (n, v) = v.split_once(':').unwrap_or((v, ""));
                    e.headers.push((n.to_string(), v.trim().to_string()));
                }
                "body-length" => e.body_len = v.parse().ok()?,
                _ => return None,
            }
        }
        saw_server.then_some(e)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2).
pub fn ws_accept(key: &str) -> String {
    let mut s = key.trim().as_bytes().to_vec();
    s.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&sha1(&s))
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------

struct TcpShared {
    greeting: Vec<u8>,
    connections: AtomicUsize,
    bytes: AtomicUsize,
    stop: AtomicBool,
    streams: Mutex<HashMap<usize, TcpStream>>,
}

impl HasStop for TcpShared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    fn streams(&self) -> &Mutex<HashMap<usize, TcpStream>> {
        &self.streams
    }
    fn accepted(&self) -> usize {
        self.connections.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A raw TCP echo server (optionally speaking first); stops when dropped.
pub struct TcpMock {
    addr: SocketAddr,
    shared: Arc<TcpShared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl TcpMock {
    /// Echoes every byte back; half-closes when the peer does.
    pub fn echo() -> TcpMock {
        TcpMock::with_greeting(b"")
    }
    /// Sends `greeting` on accept, then echoes.
    pub fn with_greeting(greeting: &[u8]) -> TcpMock {
        let listener = bind_fresh();
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(TcpShared {
            greeting: greeting.to_vec(),
            connections: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
        });
        let sh = shared.clone();
        let accept = thread::spawn(move || accept_loop(listener, sh, serve_echo));
        TcpMock {
            addr,
            shared,
            accept: Some(accept),
        }
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn addr_str(&self) -> String {
        self.addr.to_string()
    }
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
    /// Bytes received (and echoed) over all connections.
    pub fn bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::SeqCst)
    }
}

impl Drop for TcpMock {
    fn drop(&mut self) {
        stop(&self.shared.stop, &self.shared.streams, self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve_echo(mut stream: TcpStream, _id: usize, _peer: SocketAddr, sh: Arc<TcpShared>) {
    use std::io::Read;
    if !sh.greeting.is_empty() && stream.write_all(&sh.greeting).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                sh.bytes.fetch_add(n, Ordering::SeqCst);
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// A loopback server whose protocol the test writes: `serve` runs on a thread of its own
/// for each connection, and keeps what it wants the test to see (request heads, say) in
/// the shared list, which [`ScriptedServer::take`] empties. The listener lives as long as
/// the test process.
pub struct ScriptedServer {
    /// `127.0.0.1:PORT`
    pub addr: String,
    kept: Arc<Mutex<Vec<String>>>,
}

impl ScriptedServer {
    pub fn start(serve: fn(TcpStream, Arc<Mutex<Vec<String>>>)) -> ScriptedServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let k = kept.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let k = k.clone();
                std::thread::spawn(move || serve(c, k));
            }
        });
        ScriptedServer { addr, kept }
    }
    /// Reads one HTTP/1 request head from `c` a byte at a time (nothing past it is
    /// consumed: a body stays to be read); None at EOF or on an error first.
    pub fn read_head(c: &mut TcpStream) -> Option<String> {
        use std::io::Read;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match c.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return None,
            }
        }
        Some(String::from_utf8_lossy(&head).into_owned())
    }
    /// What `serve` kept since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.kept.lock().expect("lock"))
    }
}

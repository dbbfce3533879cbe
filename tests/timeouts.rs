//! Integration tests of issue 3's timeouts ("Listening and connections"): `timeout client`,
//! `server`, `connect`, `http-request`, `http-keep-alive`, `queue`, `tunnel`, `client-fin`,
//! `server-fin`, connection retries (`retries`, the turn-around pause) and `option
//! redispatch`, mostly side by side with HAProxy 2.6.
//!
//! Facts observed with HAProxy 2.6.12 (Debian 12) and pinned here:
//! - server too slow (`timeout server`) → 504 from the message layer: lower-case header
//!   names, no `connection` header, and the client connection stays open (a second request
//!   on it is served). An `errorfile 504` is served with the same head and body.
//! - a client that stalls in the middle of a request body while the server waits for it
//!   does not get `timeout client`: HAProxy cancels the client's timeout while the server's
//!   runs, so it is a 504 after `timeout server`, with `connection: close`, then closed.
//!   (Without any `timeout server` HAProxy then waits without end; rproxy answers 408
//!   after `timeout client` instead, which is not compared here.)
//! - a client that stops reading a large response is dropped after `timeout client`.
//! - slow request head (`timeout http-request`, else `timeout client`) → 408, sent as
//!   written (it carries `connection: close`) and the connection closes; this holds for an
//!   empty connection, a partial request line, partial headers, and headers dripping in
//!   (arriving bytes do not restart the timer). This 408 comes from HAProxy's HTTP/1 layer,
//!   which ignores `errorfile 408` (only an empty one would silence it).
//! - an `errorfile` without Content-Length is sent by HAProxy with `connection: close` (the
//!   close ends the body); the pages here carry a length (that case belongs to the errors
//!   tests).
//!   `errorfile 408 /dev/null` (an empty file) silences it: closed without a byte.
//! - `timeout http-keep-alive`: an idle kept-alive connection is closed without a byte.
//! - `timeout queue` on a saturated `maxconn` server → 503, connection kept.
//! - connection refused → retried `retries` times on the same server, each retry after a
//!   pause of MIN(1 s, `timeout connect`), then 503 (connection kept). A `timeout connect`
//!   (a SYN nobody answers: a listener with a full backlog here) is retried without pause.
//! - `option redispatch` with round robin and several servers: every retry goes at once to
//!   another server; without it, the retries stay on the refusing server (→ 503).
//! - `timeout tunnel` ends an idle WebSocket tunnel, and an idle TCP-mode connection.
//! - the client half-closes and the server stays silent → closed after `timeout
//!   server-fin`; the server half-closes and the client stays silent → closed after
//!   `timeout client-fin`.
//!
//! Connection attempts are counted by watching SYNs on the loopback with a packet socket
//! (needs CAP_NET_RAW; the count is skipped with a note otherwise). `timeout connect` has
//! no other test here than the full-backlog one; its plumbing is unit-tested in src/.

mod common;
use common::*;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Writes `text` as an error file in `dir` and returns its absolute path.
fn errorfile(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Header names in order, lower-cased.
fn names(r: &Response) -> Vec<String> {
    r.headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect()
}

/// Reads what arrives on `c` until EOF or `within` passes: (bytes, closed).
fn read_until_closed(c: &mut Conn, within: Duration) -> (Vec<u8>, bool) {
    let bytes = c.read_for(within);
    // Then ask the socket itself: EOF (again) or a reset means closed.
    let s = c.stream();
    let _ = s.set_read_timeout(Some(MS(20)));
    let closed = match s.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    let _ = s.set_read_timeout(Some(TIMEOUT));
    (bytes, closed)
}

// ---------------------------------------------------------------------------------------
// Counting connection attempts on the loopback

/// Counts the TCP connection attempts (SYNs, told apart by source port and sequence
/// number, so that the two copies a loopback tap sees and retransmissions count once) made
/// to 127.0.0.1:`port`, with an AF_PACKET socket. None without the privilege for it.
struct SynCounter {
    seen: Arc<Mutex<HashSet<(u16, u32)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SynCounter {
    fn start(port: u16) -> Option<SynCounter> {
        use socket2::{Domain, Protocol, Socket, Type};
        const ETH_P_ALL: u16 = 0x0003;
        let proto = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        let sock = match Socket::new(Domain::PACKET, Type::DGRAM, Some(proto)) {
            Ok(s) => s,
            Err(e) => {
                println!("note: connection attempts not counted (packet socket: {e})");
                return None;
            }
        };
        sock.set_read_timeout(Some(MS(50))).ok()?;
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut sock = sock;
            while !stop2.load(Ordering::SeqCst) {
                let Ok(n) = sock.read(&mut buf) else { continue };
                if let Some(k) = syn_to(&buf[..n], port) {
                    seen2.lock().unwrap().insert(k);
                }
            }
        });
        Some(SynCounter {
            seen,
            stop,
            thread: Some(thread),
        })
    }
    fn count(&self) -> usize {
        // Let the last packets in flight be read.
        std::thread::sleep(MS(100));
        self.seen.lock().unwrap().len()
    }
    fn reset(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for SynCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// (source port, sequence number) of an IPv4 TCP SYN (without ACK) to 127.0.0.1:`port`.
fn syn_to(ip: &[u8], port: u16) -> Option<(u16, u32)> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 6 || ip[16..20] != [127, 0, 0, 1] {
        return None;
    }
    let tcp = ip.get(usize::from(ip[0] & 0x0f) * 4..)?;
    if tcp.len() < 14 {
        return None;
    }
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let flags = tcp[13];
    if dport != port || flags & 0x02 == 0 || flags & 0x10 != 0 {
        return None;
    }
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    Some((sport, u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]])))
}

/// A loopback listener whose accept queue is full: further SYNs to it are dropped by the
/// kernel, so a connection attempt gets no answer at all (as from a host that is down).
struct Blackhole {
    _listener: socket2::Socket,
    _queued: Vec<TcpStream>,
    addr: SocketAddr,
}

fn blackhole() -> Blackhole {
    use socket2::{Domain, Socket, Type};
    let addr = local(free_port());
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&addr.into()).unwrap();
    // Backlog 0: one established connection fills the queue (never accepted).
    l.listen(0).unwrap();
    let mut queued = vec![TcpStream::connect_timeout(&addr, MS(1000)).unwrap()];
    // Make sure the queue is full: a probe must get no answer.
    for _ in 0..3 {
        match TcpStream::connect_timeout(&addr, MS(300)) {
            Ok(s) => queued.push(s),
            Err(_) => {
                return Blackhole {
                    _listener: l,
                    _queued: queued,
                    addr,
                };
            }
        }
    }
    panic!("could not fill the accept queue of {addr}");
}

// ---------------------------------------------------------------------------------------
// timeout server

const SERVER_TEMPLATE: &str = "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 300ms
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
frontend fe_ef
    bind 127.0.0.1:{{P1}}
    default_backend be_ef
backend be
    server s1 {{SRV}}
backend be_ef
    errorfile 504 {{EF504}}
    server s1 {{SRV}}
";

#[test]
fn server_timeout_is_504_and_the_connection_goes_on() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::builder("slow").mock("hang").start();
    let dir = tempfile::tempdir().unwrap();
    let ef = errorfile(
        &dir,
        "504.http",
        "HTTP/1.1 504 Gateway Time-out\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nContent-Length: 24\r\nX-Err: mine\r\n\r\nthe server was too slow\n",
    );
    let cfg = fill(SERVER_TEMPLATE, &[("SRV", &m.addr_str()), ("EF504", &ef)]);
    let (h, r) = side_by_side(&cfg, |side| {
        // Default page, then the errorfile, each twice on one kept-alive connection.
        let mut out = Vec::new();
        for port in [0, 1] {
            let mut c = side.conn(port);
            let a = c.get("/slow").unwrap();
            let b = c
                .get("/again")
                .unwrap_or_else(|e| panic!("{} port {port}: {e}", side.name()));
            out.push((a, b));
        }
        out
    });
    for ((ha, hb), (ra, rb)) in h.iter().zip(&r) {
        assert_eq!((ha.status, hb.status), (504, 504));
        assert_eq!((ra.status, rb.status), (504, 504), "{ra:?}");
        assert_eq!(
            ra.header("connection"),
            None,
            "no connection header: {ra:?}"
        );
        assert_eq!(names(ha), names(ra), "header names and order");
        assert_eq!(ha.header("cache-control"), ra.header("cache-control"));
        assert_eq!(ha.header("content-type"), ra.header("content-type"));
    }
    // The errorfile: the same response to the byte.
    assert_same(&h[1].0, &r[1].0, &["content-length", "x-err"]);
    assert_eq!(h[1].0.raw_head, r[1].0.raw_head);
    assert_eq!(h[1].0.reason, "Gateway Time-out");
}

#[test]
fn client_stalling_mid_body_gets_504_after_timeout_server() {
    if !require_haproxy() {
        return;
    }
    // The server reads the whole body before answering: it waits as the client stalls.
    let m = MockServer::start("waits");
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 300ms
    timeout server 900ms
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &m.addr_str())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
            .unwrap();
        let res = c.read_response().unwrap();
        (
            res.status,
            res.header("connection").map(str::to_owned),
            c.wait_closed(),
        )
    });
    assert_eq!(h, (504, Some("close".into()), true));
    assert_eq!(r, h);
}

// ---------------------------------------------------------------------------------------
// timeout client while the response is sent

#[test]
fn client_not_reading_the_response_is_dropped_after_timeout_client() {
    if !require_haproxy() {
        return;
    }
    // A body far larger than what the socket buffers hold, sent as fast as possible.
    const BODY: usize = 64 * 1024 * 1024;
    let l = TcpListener::bind(local(free_port())).unwrap();
    let srv = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
                        _ => return,
                    }
                }
                let chunk = vec![b'x'; 64 * 1024];
                let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-length: {BODY}\r\n\r\n");
                for _ in 0..BODY / chunk.len() {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 400ms
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &srv)],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        c.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // Not reading: the proxy's writes block, then `timeout client` ends it.
        std::thread::sleep(MS(1500));
        let mut got = Vec::new();
        let (bytes, closed) = read_until_closed(&mut c, MS(5000));
        got.extend(bytes);
        (got.len() < BODY, closed)
    });
    assert_eq!(h, (true, true));
    assert_eq!(r, h);
}

// ---------------------------------------------------------------------------------------
// timeout http-request / timeout client while the request head arrives

#[test]
fn slow_request_heads_get_408_and_close() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("s");
    let dir = tempfile::tempdir().unwrap();
    let ef = errorfile(
        &dir,
        "408.http",
        "HTTP/1.1 408 Request Time-out\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\ntoo slow\n",
    );
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{P0}}
    timeout http-request 400ms
    default_backend be
frontend fe_client_only
    bind 127.0.0.1:{{P1}}
    timeout client 400ms
    default_backend be
frontend fe_ef
    bind 127.0.0.1:{{P2}}
    timeout http-request 400ms
    errorfile 408 {{EF}}
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &m.addr_str()), ("EF", &ef)],
    );
    let cases: [(usize, &[&[u8]]); 6] = [
        (0, &[b""]),
        (0, &[b"GET /x HT"]),
        (0, &[b"GET /x HTTP/1.1\r\nHost: x\r\n"]),
        // Headers dripping in every 150 ms: arriving bytes do not restart the timer.
        (
            0,
            &[
                b"GET /x HTTP/1.1\r\n",
                b"Host: x\r\n",
                b"A: 1\r\n",
                b"B: 2\r\n",
                b"C: 3\r\n",
                b"D: 4\r\n",
                b"E: 5\r\n",
                b"F: 6\r\n",
                b"\r\n",
            ],
        ),
        (1, &[b"GET /x HTTP/1.1\r\nHost: x\r\n"]),
        (2, &[b"GET /x HT"]),
    ];
    let (h, r) = side_by_side(&cfg, |side| {
        let mut out = Vec::new();
        for (port, parts) in cases {
            let mut c = side.conn(port);
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(MS(150));
                }
                // The proxy may have answered and closed already.
                if c.send(p).is_err() {
                    break;
                }
            }
            let res = c.read_response().unwrap();
            out.push((res.clone(), c.wait_closed()));
        }
        out
    });
    assert_eq!(m.requests(), 0, "nothing was forwarded");
    for (i, ((hr, hc), (rr, rc))) in h.iter().zip(&r).enumerate() {
        assert_eq!((hr.status, *hc), (408, true), "case {i}");
        assert_eq!((rr.status, *rc), (408, true), "case {i}: {rr:?}");
        assert_eq!(rr.header("connection"), Some("close"), "case {i}");
    }
    // HAProxy's HTTP/1 layer sends its built-in 408 as written, whatever `errorfile` says
    // (rproxy's built-in page has its own wording).
    for (i, ((hr, _), (rr, _))) in h.iter().zip(&r).enumerate() {
        assert_ne!(hr.body_text(), "too slow\n", "haproxy case {i}");
        assert_ne!(rr.body_text(), "too slow\n", "rproxy case {i}");
        assert_eq!(names(hr), names(rr), "case {i}");
        assert_eq!(hr.header("connection"), rr.header("connection"));
    }
}

#[test]
fn empty_errorfile_408_closes_silently() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("s");
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{P0}}
    timeout http-request 300ms
    errorfile 408 /dev/null
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &m.addr_str())],
    );
    // HAProxy's documented way to hide pre-connections: nothing is sent, the connection
    // closes.
    let (h, r) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        c.send(b"GET /x HT").unwrap();
        read_until_closed(&mut c, MS(3000))
    });
    assert_eq!(h, (Vec::new(), true));
    assert_eq!(r, h);
}

// ---------------------------------------------------------------------------------------
// timeout http-keep-alive

#[test]
fn idle_keep_alive_connection_is_closed_silently() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("ka");
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout http-request 5s
frontend fe
    bind 127.0.0.1:{{P0}}
    timeout http-keep-alive 300ms
    default_backend be
frontend fe_request_only
    bind 127.0.0.1:{{P1}}
    timeout http-request 300ms
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &m.addr_str())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut out = Vec::new();
        for port in [0, 1] {
            let mut c = side.conn(port);
            let a = c.get("/1").unwrap().status;
            // Sent at once: served on the same connection.
            let b = c.get("/2").unwrap().status;
            let (bytes, closed) = read_until_closed(&mut c, MS(3000));
            out.push((a, b, String::from_utf8_lossy(&bytes).into_owned(), closed));
        }
        out
    });
    let expect = (200, 200, String::new(), true);
    assert_eq!(h, vec![expect.clone(), expect]);
    assert_eq!(r, h);
}

#[test]
fn keep_alive_idle_stays_open_within_the_timeout() {
    let m = MockServer::start("ka");
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{P}}
    timeout http-keep-alive 3s
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &m.addr_str()), ("P", &free_port().to_string())],
    );
    let p = Proxy::start(&cfg);
    let mut c = Conn::open(p.addrs()[0]);
    assert_eq!(c.get("/1").unwrap().status, 200);
    // Not closed within 500 ms of idleness (the timeout is 3 s).
    let (bytes, closed) = read_until_closed(&mut c, MS(500));
    assert!(bytes.is_empty() && !closed);
    assert_eq!(c.get("/2").unwrap().status, 200);
}

// ---------------------------------------------------------------------------------------
// timeout queue

#[test]
fn queue_timeout_is_503_and_the_connection_goes_on() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::builder("busy").mock("delay=1500").start();
    let dir = tempfile::tempdir().unwrap();
    let ef = errorfile(
        &dir,
        "503.http",
        "HTTP/1.1 503 Service Unavailable\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nno room\n",
    );
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout queue 300ms
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    errorfile 503 {{EF}}
    server s1 {{SRV}} maxconn 1
",
        &[("SRV", &m.addr_str()), ("EF", &ef)],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let addr = side.addr(0);
        let before = m.requests();
        let first = std::thread::spawn(move || http_get(addr, "/first").status);
        // The first request holds the server's only slot.
        assert!(eventually(MS(3000), || m.requests() > before));
        let mut c = side.conn(0);
        let queued = c.get("/queued").unwrap();
        let first = first.join().unwrap();
        // The connection goes on: the next request waits its turn and is served.
        let next = c.get("/next").unwrap().status;
        (first, queued, next)
    });
    assert_eq!((h.0, h.1.status, h.2), (200, 503, 200));
    assert_eq!((r.0, r.1.status, r.2), (200, 503, 200), "{:?}", r.1);
    assert_same(&h.1, &r.1, &["content-length", "connection"]);
    assert_eq!(h.1.raw_head, r.1.raw_head);
}

// ---------------------------------------------------------------------------------------
// Connection failures: refused, timeout connect, retries, redispatch

#[test]
fn refused_connections_are_retried_then_503() {
    if !require_haproxy() {
        return;
    }
    let refused = refused_port();
    let counter = SynCounter::start(refused);
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 200ms
    timeout client 5s
    timeout server 5s
    retries 2
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    server s1 127.0.0.1:{{REFUSED}}
",
        &[("REFUSED", &refused.to_string())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        if let Some(c) = &counter {
            c.reset();
        }
        let mut c = side.conn(0);
        let t0 = Instant::now();
        let a = c.get("/a").unwrap();
        let took = t0.elapsed();
        let b = c.get("/b").unwrap().status;
        let attempts = counter.as_ref().map(|c| c.count());
        (a, b, took, attempts)
    });
    for (name, (a, b, took, attempts)) in [("haproxy", &h), ("rproxy", &r)] {
        assert_eq!((a.status, *b), (503, 503), "{name}: {a:?}");
        assert_eq!(a.header("connection"), None, "{name} keeps the connection");
        // Two turn-around pauses of MIN(1 s, timeout connect) = 200 ms between attempts.
        assert!(
            *took >= MS(400),
            "{name}: retried without pausing ({took:?})"
        );
        if let Some(n) = attempts {
            // Two requests, three attempts each.
            assert_eq!(*n, 6, "{name}: connection attempts");
        }
    }
    assert_eq!(names(&h.0), names(&r.0));
}

#[test]
fn connect_timeout_is_retried_without_pause_then_503() {
    if !require_haproxy() {
        return;
    }
    let hole = blackhole();
    let counter = SynCounter::start(hole.addr.port());
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 250ms
    timeout client 5s
    timeout server 5s
    retries 1
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    server s1 {{HOLE}}
",
        &[("HOLE", &hole.addr.to_string())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        if let Some(c) = &counter {
            c.reset();
        }
        let t0 = Instant::now();
        let res = side.get("/");
        let took = t0.elapsed();
        (res, took, counter.as_ref().map(|c| c.count()))
    });
    for (name, (res, took, attempts)) in [("haproxy", &h), ("rproxy", &r)] {
        assert_eq!(res.status, 503, "{name}: {res:?}");
        // Two attempts of 250 ms each.
        assert!(*took >= MS(500), "{name}: {took:?}");
        if let Some(n) = attempts {
            assert_eq!(*n, 2, "{name}: connection attempts");
        }
    }
}

#[test]
fn redispatch_moves_retries_to_another_server() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("good");
    let refused = refused_port();
    let counter = SynCounter::start(refused);
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 200ms
    timeout client 5s
    timeout server 5s
    retries 2
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be_stay
frontend fe_rd
    bind 127.0.0.1:{{P1}}
    default_backend be_redispatch
backend be_stay
    server bad 127.0.0.1:{{REFUSED}}
    server good {{SRV}}
backend be_redispatch
    option redispatch
    server bad 127.0.0.1:{{REFUSED}}
    server good {{SRV}}
",
        &[("REFUSED", &refused.to_string()), ("SRV", &m.addr_str())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut out = Vec::new();
        for port in [0, 1] {
            if let Some(c) = &counter {
                c.reset();
            }
            // Round robin: one of two requests is sent to the refusing server first.
            let mut got: Vec<(u16, Option<String>)> = (0..2)
                .map(|_| {
                    let res = side.request_to(port, "GET", "/", &[], b"").unwrap();
                    (res.status, res.server().map(str::to_owned))
                })
                .collect();
            got.sort();
            out.push((got, counter.as_ref().map(|c| c.count())));
        }
        out
    });
    let good = Some("good".to_string());
    // Without redispatch the retries stay on the refusing server: 1 + 2 attempts, 503.
    assert_eq!(h[0].0, vec![(200, good.clone()), (503, None)]);
    // With it, the first retry goes to the other server at once.
    assert_eq!(h[1].0, vec![(200, good.clone()), (200, good.clone())]);
    assert_eq!(r[0].0, h[0].0, "rproxy without redispatch");
    assert_eq!(r[1].0, h[1].0, "rproxy with redispatch");
    // HAProxy's round robin comes back to the refusing server for the second request: with
    // redispatch, one attempt there for each request. rproxy's round robin treats the
    // server avoided by a redispatch as momentarily down, which shifts its rotation, so the
    // second request may go to the good server first (at most one attempt per request).
    if let (Some(h0), Some(h1)) = (h[0].1, h[1].1) {
        assert_eq!(
            (h0, h1),
            (3, 2),
            "haproxy's attempts on the refusing server"
        );
        assert_eq!(r[0].1, Some(3), "rproxy's attempts without redispatch");
        assert!(
            matches!(r[1].1, Some(1 | 2)),
            "rproxy's attempts with redispatch: {:?}",
            r[1].1
        );
    }
}

// ---------------------------------------------------------------------------------------
// timeout tunnel

#[test]
fn idle_websocket_tunnel_ends_after_timeout_tunnel() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::builder("ws").mock("ws").start();
    let cfg = fill(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout tunnel 400ms
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("SRV", &m.addr_str())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        let res = c
            .request(
                "GET",
                "/chat",
                &[
                    ("Connection", "Upgrade"),
                    ("Upgrade", "websocket"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Sec-WebSocket-Version", "13"),
                ],
                b"",
            )
            .unwrap();
        // Traffic within the timeout keeps the tunnel up.
        let mut echoed = Vec::new();
        for i in 0..3 {
            std::thread::sleep(MS(200));
            let msg = format!("ping{i}");
            c.send(msg.as_bytes()).unwrap();
            echoed.push(String::from_utf8(c.read_exact_n(msg.len()).unwrap()).unwrap());
        }
        let (rest, closed) = read_until_closed(&mut c, MS(3000));
        (res.status, echoed, rest, closed)
    });
    let pings: Vec<String> = (0..3).map(|i| format!("ping{i}")).collect();
    assert_eq!(h, (101, pings, Vec::new(), true));
    assert_eq!(r, h);
}

#[test]
fn idle_tcp_connection_ends_after_timeout_tunnel() {
    if !require_haproxy() {
        return;
    }
    let echo = TcpMock::echo();
    let cfg = fill(
        "
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen tcp_tunnel
    bind 127.0.0.1:{{P0}}
    timeout tunnel 400ms
    server s1 {{SRV}}
",
        &[("SRV", &echo.addr_str())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        c.send(b"hello").unwrap();
        let back = c.read_exact_n(5).unwrap();
        let (_, closed) = read_until_closed(&mut c, MS(3000));
        (back, closed)
    });
    assert_eq!(h, (b"hello".to_vec(), true));
    assert_eq!(r, h);
}

// ---------------------------------------------------------------------------------------
// timeout client-fin / server-fin

/// A TCP server that either half-closes at once (`fin_first`) or waits for the client's
/// close; in both cases it then reads until the proxy closes and records when.
struct FinServer {
    addr: SocketAddr,
    closed_after: Arc<Mutex<Vec<Duration>>>,
    /// Connections on which a first byte arrived.
    got_data: Arc<AtomicUsize>,
}

fn fin_server(fin_first: bool) -> FinServer {
    let l = TcpListener::bind(local(free_port())).unwrap();
    let addr = l.local_addr().unwrap();
    let closed_after = Arc::new(Mutex::new(Vec::new()));
    let got_data = Arc::new(AtomicUsize::new(0));
    let rec = closed_after.clone();
    let got = got_data.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let rec = rec.clone();
            let got = got.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                if fin_first {
                    let _ = s.shutdown(Shutdown::Write);
                }
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 1024];
                let mut first = true;
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    if first {
                        first = false;
                        got.fetch_add(1, Ordering::SeqCst);
                    }
                }
                rec.lock().unwrap().push(t0.elapsed());
                // Stay silent and open a while: only the proxy may end this.
                std::thread::sleep(Duration::from_secs(5));
            });
        }
    });
    FinServer {
        addr,
        closed_after,
        got_data,
    }
}

const FIN_TEMPLATE: &str = "
defaults
    mode tcp
    timeout connect 2s
    timeout client 4s
    timeout server 4s
listen plain
    bind 127.0.0.1:{{P0}}
    server s1 {{SRV}}
listen with_fin
    bind 127.0.0.1:{{P1}}
    timeout {{WHICH}}-fin 300ms
    server s1 {{SRV}}
listen other_fin
    bind 127.0.0.1:{{P2}}
    timeout {{OTHER}}-fin 300ms
    server s1 {{SRV}}
";

/// A [`fin_server`] and [`FIN_TEMPLATE`] for it, `timeout WHICH-fin` on `{{P1}}` and the
/// other side's on `{{P2}}`.
fn fin_setup(fin_first: bool, which: &str) -> (FinServer, String) {
    let srv = fin_server(fin_first);
    let other = if which == "server" {
        "client"
    } else {
        "server"
    };
    let cfg = fill(
        FIN_TEMPLATE,
        &[
            ("SRV", &srv.addr.to_string()),
            ("WHICH", which),
            ("OTHER", other),
        ],
    );
    (srv, cfg)
}

#[test]
fn client_half_close_then_server_silent_ends_after_server_fin() {
    if !require_haproxy() {
        return;
    }
    let (srv, cfg) = fin_setup(false, "server");
    let (h, r) = side_by_side(&cfg, |side| {
        // Each client half-closes once its proxy has the server connection (a byte went
        // through: before that, HAProxy may drop a client that closes at once); is its
        // connection closed by the proxy within 1.5 s?
        let conns: Vec<Conn> = [0, 1, 2]
            .iter()
            .map(|&i| {
                let before = srv.got_data.load(Ordering::SeqCst);
                let mut c = side.conn(i);
                c.send(b"x").unwrap();
                assert!(eventually(MS(3000), || srv.got_data.load(Ordering::SeqCst) > before));
                c.stream().shutdown(Shutdown::Write).unwrap();
                c
            })
            .collect();
        std::thread::sleep(MS(1500));
        conns
            .into_iter()
            .map(|mut c| read_until_closed(&mut c, MS(10)).1)
            .collect::<Vec<bool>>()
    });
    // Only server-fin ends it early; client-fin does not apply to this side.
    assert_eq!(h, vec![false, true, false]);
    assert_eq!(r, h);
}

#[test]
fn server_half_close_then_client_silent_ends_after_client_fin() {
    if !require_haproxy() {
        return;
    }
    let (srv, cfg) = fin_setup(true, "client");
    let (h, r) = side_by_side(&cfg, |side| {
        srv.closed_after.lock().unwrap().clear();
        let mut out = Vec::new();
        for i in [0, 1, 2] {
            // The client receives the server's FIN and stays silent with its side open.
            let mut c = side.conn(i);
            let (bytes, eof) = read_until_closed(&mut c, MS(2000));
            assert!(bytes.is_empty() && eof, "the FIN is forwarded");
            let before = srv.closed_after.lock().unwrap().len();
            // Did the proxy give up on the client (closing the server side) within 1.5 s?
            let gave_up = eventually(MS(1500), || srv.closed_after.lock().unwrap().len() > before);
            out.push(gave_up);
            drop(c);
            // Let the plain one end before the next case.
            assert!(eventually(MS(5000), || srv
                .closed_after
                .lock()
                .unwrap()
                .len()
                > before));
        }
        out
    });
    assert_eq!(h, vec![false, true, false]);
    assert_eq!(r, h);
}

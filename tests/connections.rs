//! HTTP/1.1 connections on both sides: HAProxy's connection modes, server connection pooling
//! and `http-reuse`, HTTP/1.0 clients, pipelining, `Expect: 100-continue`, chunked bodies
//! (trailers too), WebSocket tunnels with `timeout tunnel`, `option abortonclose` — the
//! real binary against in-test backends, side by side with haproxy 2.6 (same requests, same
//! observations: status, the heads each side sees, which server connection carried what).
//!
//! HAProxy 2.6.12 facts these tests pin (observed when writing them):
//! - Hop-by-hop `close`/`keep-alive` tokens are removed from `Connection` where the header
//!   stands (other tokens stay there; the header goes when nothing is left); when HAProxy
//!   wants to say something it appends its own `connection: close|keep-alive` line last.
//! - The client side follows the frontend only: `option httpclose` in the frontend closes
//!   the client connection after each response (`connection: close`), in a backend it
//!   closes only the server side; `http-server-close` (frontend or backend) closes the
//!   server side (`connection: close` sent to the server) and keeps the client alive. An
//!   HTTP/1.1 client's `Connection: close` closes the client side only: the server
//!   connection stays in the pool. A response without length closes the client side.
//! - HTTP/1.0 requests go out as HTTP/1.0, with `connection: keep-alive` added in
//!   keep-alive mode; the client gets `HTTP/1.1` with `connection: close`, or
//!   `connection: keep-alive` when it asked for it (then it stays open).
//! - Server connections are shared between client connections (`http-reuse safe`, the
//!   default): the first request of a client connection always opens a new one, later
//!   requests take an idle one, preferring connections that already served several
//!   requests; `never` keeps one server connection per client connection, closed with
//!   it; `always` lets even first requests reuse; `aggressive` lets them reuse only
//!   connections that served several requests already.
//! - A server connection that sent bytes beyond its response is not reused.
//! - Pipelined requests are answered in order (150 in one write too), none after a
//!   `Connection: close`.
//! - Interim responses (`103 Early Hints` with its fields, an unasked `100`) are relayed.
//! - `Expect: 100-continue` is forwarded; the server's `100 Continue` reaches the client
//!   before it sends the body.
//! - A chunked request body stays chunked; trailer names reach the server lower-cased; a
//!   chunked response stays chunked, its trailers forwarded.
//! - `Upgrade: websocket` with a 101 becomes a tunnel; `timeout tunnel` closes it after
//!   that much inactivity in either direction, activity keeps it open.
//! - `option abortonclose`: a client that closes (FIN or RST) after sending a complete
//!   request that waits in the queue does not abort it in 2.6.12: the server still gets it,
//!   with or without the option.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// HAProxy keeps idle server connections per thread: one thread makes reuse deterministic.
const GLOBAL: &str = "global\n  nbthread 1\n";
const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// Server connection ids (`x-conn-id`) renamed 1, 2, ... in order of first appearance, so
/// that runs compare.
#[derive(Default)]
struct Ids(Vec<String>);

impl Ids {
    fn of(&mut self, r: &Response) -> usize {
        let id = r.header("x-conn-id").unwrap_or("?").to_string();
        match self.0.iter().position(|x| *x == id) {
            Some(i) => i + 1,
            None => {
                self.0.push(id);
                self.0.len()
            }
        }
    }
}

/// A request as the server got it: request line, fields, body.
type ServerView = (String, Vec<(String, String)>, Vec<u8>);

/// One exchange as both ends saw it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    version: String,
    /// The response head's fields as the client got them (conn id and length left out).
    client: Vec<(String, String)>,
    interim: Vec<u16>,
    /// Request line, fields and body as the server got them.
    server: Option<ServerView>,
    /// Which server connection carried it (see [`Ids`]).
    conn: usize,
    /// The proxy closed the client connection after the response.
    closed: bool,
}

fn seen(r: &Response, ids: &mut Ids, closed: bool) -> Seen {
    Seen {
        status: r.status,
        version: r.version.clone(),
        client: r
            .headers
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("x-conn-id") && !n.eq_ignore_ascii_case("content-length")
            })
            .cloned()
            .collect(),
        interim: r.interim.iter().map(|(s, _)| *s).collect(),
        server: r.try_echo().map(|e| (e.request_line, e.headers, e.body)),
        conn: ids.of(r),
        closed,
    }
}

/// A client that reconnects when the proxy closed its connection.
struct Client {
    addr: SocketAddr,
    conn: Option<Conn>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }
    /// Sends raw request bytes, reads the response; when it says `close`, checks that the
    /// proxy really closes.
    fn send(&mut self, raw: &[u8], ids: &mut Ids) -> Seen {
        let c = self.conn.get_or_insert_with(|| Conn::open(self.addr));
        let r = c
            .roundtrip(raw)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(raw)));
        let says_close = r
            .header_all("connection")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let closed = says_close && c.wait_closed();
        if says_close {
            self.conn = None;
        }
        seen(&r, ids, closed)
    }
}

/// `METHOD path HTTP/1.1` with `Host: sbs.test` and the given fields (and body).
fn req(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    build_request(method, path, SBS_HOST, headers, body)
}

fn has_token(fields: &[(String, String)], name: &str, token: &str) -> bool {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

// ---------------------------------------------------------------------------------------
// Connection modes

/// (frontend option, backend option) pairs; each gets its own frontend, backend and mock.
const MODES: &[(&str, &str)] = &[
    ("", ""),
    ("option http-keep-alive", ""),
    ("option http-server-close", ""),
    ("option httpclose", ""),
    ("", "option http-server-close"),
    ("", "option httpclose"),
    ("option http-server-close", "option http-keep-alive"),
    ("option httpclose", "option http-keep-alive"),
    ("option http-keep-alive", "option http-server-close"),
];

fn modes_template(mocks: &[MockServer]) -> String {
    let mut t = format!("{GLOBAL}{DEFAULTS}");
    for (i, ((fe, be), m)) in MODES.iter().zip(mocks).enumerate() {
        t.push_str(&format!(
            "frontend fe{i}\n  bind 127.0.0.1:{{{{P{i}}}}}\n  {fe}\n  default_backend be{i}\n\
             backend be{i}\n  {be}\n  server s{i} {}\n",
            m.addr_str()
        ));
    }
    t
}

#[test]
fn connection_modes_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let mocks: Vec<MockServer> = (0..MODES.len())
        .map(|i| MockServer::start(&format!("m{i}")))
        .collect();
    let (h, r) = side_by_side(&modes_template(&mocks), |s| {
        let mut all = Vec::new();
        for i in 0..MODES.len() {
            let mut ids = Ids::default();
            let mut c = Client::new(s.addr(i));
            let mut v = vec![
                c.send(&req("GET", "/1", &[], b""), &mut ids),
                c.send(
                    &req("GET", "/2", &[("Connection", "keep-alive")], b""),
                    &mut ids,
                ),
                c.send(&req("POST", "/3", &[("X-A", "1")], b"body"), &mut ids),
                c.send(&req("GET", "/4", &[("Connection", "close")], b""), &mut ids),
                c.send(&req("GET", "/5", &[], b""), &mut ids),
            ];
            // HTTP/1.0, with and without keep-alive.
            let mut c = Client::new(s.addr(i));
            v.push(c.send(b"GET /ten HTTP/1.0\r\nHost: sbs.test\r\n\r\n", &mut ids));
            let mut c = Client::new(s.addr(i));
            for p in ["/ka1", "/ka2"] {
                let raw =
                    format!("GET {p} HTTP/1.0\r\nHost: sbs.test\r\nConnection: keep-alive\r\n\r\n");
                v.push(c.send(raw.as_bytes(), &mut ids));
            }
            all.push(v);
        }
        all
    });
    for (i, (hv, rv)) in h.iter().zip(&r).enumerate() {
        for (j, (a, b)) in hv.iter().zip(rv).enumerate() {
            assert_eq!(a, b, "mode {:?}, exchange {j}: haproxy vs rproxy", MODES[i]);
        }
    }

    // A few of the pinned facts, on haproxy's observations.
    let srv_close = |s: &Seen| has_token(&s.server.as_ref().unwrap().1, "connection", "close");
    let conns = |v: &[Seen]| v.iter().map(|s| s.conn).collect::<Vec<_>>();
    let closes = |v: &[Seen]| v.iter().map(|s| s.closed).collect::<Vec<_>>();
    // Keep-alive: one server connection for a client connection's requests, kept after
    // the client's own close; each new client connection's first request opens one, its
    // second request goes back to the much used first one.
    assert_eq!(conns(&h[0]), [1, 1, 1, 1, 2, 3, 4, 1]);
    assert_eq!(
        closes(&h[0]),
        [false, false, false, true, false, true, false, false]
    );
    assert!(h[0].iter().all(|s| !srv_close(s)));
    // Frontend server-close: a server connection per request, the client kept.
    assert_eq!(conns(&h[2]), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(closes(&h[2]), closes(&h[0]));
    assert!(h[2][..5].iter().all(srv_close));
    // Frontend httpclose: both sides closed every time.
    assert!(h[3].iter().all(|s| s.closed));
    // Backend httpclose: like server-close for the client.
    assert_eq!(closes(&h[5]), closes(&h[0]));
    assert_eq!(conns(&h[5]), conns(&h[2]));
}

#[test]
fn connection_header_tokens_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let mocks: Vec<MockServer> = (0..MODES.len())
        .map(|i| MockServer::start(&format!("m{i}")))
        .collect();
    let (h, r) = side_by_side(&modes_template(&mocks), |s| {
        let mut all = Vec::new();
        for i in 0..MODES.len() {
            let mut ids = Ids::default();
            let mut out = Vec::new();
            let mut c = Client::new(s.addr(i));
            out.push(c.send(
                &req(
                    "GET",
                    "/",
                    &[
                        ("Connection", "foo, keep-alive"),
                        ("x-mock", "hdr=Connection:bar"),
                        ("X-After", "1"),
                    ],
                    b"",
                ),
                &mut ids,
            ));
            let mut c = Client::new(s.addr(i));
            out.push(c.send(
                &req(
                    "GET",
                    "/",
                    &[("Connection", "close"), ("X-After", "1")],
                    b"",
                ),
                &mut ids,
            ));
            let mut c = Client::new(s.addr(i));
            out.push(c.send(
                b"GET /ten HTTP/1.0\r\nConnection: foo, keep-alive\r\nX-A: 1\r\n\r\n",
                &mut ids,
            ));
            all.push(out);
        }
        all
    });
    for (i, (hv, rv)) in h.iter().zip(&r).enumerate() {
        for (j, (a, b)) in hv.iter().zip(rv).enumerate() {
            assert_eq!(a, b, "mode {:?}, exchange {j}: haproxy vs rproxy", MODES[i]);
        }
    }
    // Tokens stay where they were; HAProxy's own token comes last, on its own line.
    let server_fields = |s: &Seen| s.server.clone().unwrap().1;
    assert_eq!(
        server_fields(&h[2][0]),
        [
            ("host".to_string(), SBS_HOST.to_string()),
            ("connection".into(), "foo".into()),
            ("x-mock".into(), "hdr=Connection:bar".into()),
            ("x-after".into(), "1".into()),
            ("connection".into(), "close".into()),
        ]
    );
    let conn_fields: Vec<&str> = h[3][0]
        .client
        .iter()
        .filter(|(n, _)| n == "connection")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(conn_fields, ["bar", "close"]);
}

// ---------------------------------------------------------------------------------------
// Server connection pooling, http-reuse

#[test]
fn http_reuse_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let modes = ["safe", "never", "always", "aggressive"];
    let mocks: Vec<MockServer> = modes
        .iter()
        .map(|m| MockServer::start(&format!("reuse-{m}")))
        .collect();
    let mut t = format!("{GLOBAL}{DEFAULTS}");
    for (i, (mode, m)) in modes.iter().zip(&mocks).enumerate() {
        t.push_str(&format!(
            "frontend fe{i}\n  bind 127.0.0.1:{{{{P{i}}}}}\n  default_backend be{i}\n\
             backend be{i}\n  http-reuse {mode}\n  server s {}\n",
            m.addr_str()
        ));
    }
    let (h, r) = side_by_side(&t, |s| {
        let mut all = Vec::new();
        for i in 0..modes.len() {
            let mut ids = Ids::default();
            let mut id = |c: &mut Conn, p: &str| {
                let r = c
                    .roundtrip(&req("GET", p, &[], b""))
                    .unwrap_or_else(|e| panic!("{p}: {e}"));
                (p.to_string(), ids.of(&r))
            };
            let mut v = Vec::new();
            let mut a = s.conn(i);
            v.push(id(&mut a, "/a1"));
            let mut b = s.conn(i);
            v.push(id(&mut b, "/b1"));
            v.push(id(&mut b, "/b2"));
            v.push(id(&mut a, "/a2"));
            v.push(id(&mut b, "/b3"));
            drop(a);
            let mut c = s.conn(i);
            v.push(id(&mut c, "/c1"));
            v.push(id(&mut c, "/c2"));
            v.push(id(&mut b, "/b4"));
            drop(b);
            drop(c);
            let mut d = s.conn(i);
            v.push(id(&mut d, "/d1"));
            all.push(v);
        }
        all
    });
    for (i, (hv, rv)) in h.iter().zip(&r).enumerate() {
        assert_eq!(hv, rv, "http-reuse {}: haproxy vs rproxy", modes[i]);
    }
    let ids = |v: &[(String, usize)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
    // safe: every client connection's first request (a1 b1 c1 d1) on a new connection.
    assert_eq!(ids(&h[0]), [1, 2, 1, 1, 1, 3, 1, 1, 4]);
    // never: one server connection per client connection.
    assert_eq!(ids(&h[1]), [1, 2, 2, 1, 2, 3, 3, 2, 4]);
    // always: one connection does it all.
    assert_eq!(ids(&h[2]), [1; 9]);
    // aggressive: first requests only on connections that served several requests.
    assert_eq!(ids(&h[3]), [1, 2, 1, 1, 1, 1, 1, 1, 1]);
}

#[test]
fn first_request_never_rides_another_clients_connection() {
    // Concurrent clients, several requests each: with `http-reuse safe` (the default) the
    // first request of a client connection never goes on a server connection that carried
    // anything before, while later requests reuse.
    let m = MockServer::start("m");
    let port = free_port();
    let _p = Proxy::start(&format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\nbackend be\n  server s {}\n",
        m.addr_str()
    ));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..3 {
                    let mut c = Conn::open(local(port));
                    for j in 0..3 {
                        assert_eq!(c.get(&format!("/t{t}/c{k}/r{j}")).unwrap().status, 200);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // In the server's arrival order: each first request (`/r0`) is on a connection id not
    // seen before it.
    let rec = m.received();
    assert_eq!(rec.len(), 6 * 3 * 3);
    let mut used = std::collections::HashSet::new();
    for r in &rec {
        if r.uri.ends_with("/r0") {
            assert!(
                !used.contains(&r.conn_id),
                "{} reused server connection {}",
                r.uri,
                r.conn_id
            );
        }
        used.insert(r.conn_id);
    }
    // Later requests did reuse.
    assert!(used.len() < rec.len(), "{} connections", used.len());
}

/// A backend that answers every request with `response`, then closes the connection
/// `close_after` later when set (an idle keep-alive connection the server drops).
struct RawBackend {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RawBackend {
    fn start(response: &'static [u8], close_after: Option<Duration>) -> RawBackend {
        let l = TcpListener::bind(local(free_port())).unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c2, r2) = (conns.clone(), requests.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                c2.fetch_add(1, Ordering::SeqCst);
                let r3 = r2.clone();
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            r3.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&head).into_owned());
                            if s.write_all(response).is_err() {
                                return;
                            }
                            if let Some(d) = close_after {
                                std::thread::sleep(d);
                                return;
                            }
                        }
                        match s.read(&mut tmp) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                });
            }
        });
        RawBackend {
            addr,
            conns,
            requests,
        }
    }
}

#[test]
fn pooled_connection_closed_by_the_server_is_not_used() {
    // The server answers keep-alive, then drops the idle connection: the next request must
    // not fail on it (both engines open a new one).
    let b = RawBackend::start(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        Some(Duration::from_millis(50)),
    );
    let t = format!(
        "{GLOBAL}{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend be\nbackend be\n  http-reuse always\n  server s {}\n",
        b.addr
    );
    let run = |s: &Side| {
        let before = b.conns.load(Ordering::SeqCst);
        let mut c = s.conn(0);
        let mut st = Vec::new();
        for _ in 0..3 {
            st.push(c.get("/").map(|r| r.status).unwrap_or(0));
            // Let the server's close arrive.
            std::thread::sleep(Duration::from_millis(150));
        }
        (st, b.conns.load(Ordering::SeqCst) - before)
    };
    if require_haproxy() {
        let (h, r) = side_by_side(&t, run);
        assert_eq!(h, (vec![200, 200, 200], 3), "haproxy");
        assert_eq!(r, h, "rproxy");
    } else {
        let p = Proxy::start(&render_ports(&t, &[free_port()]));
        let mut c = Conn::open(p.addrs()[0]);
        for _ in 0..3 {
            assert_eq!(c.get("/").unwrap().status, 200);
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    assert!(!b.requests.lock().unwrap().is_empty());
}

#[test]
fn server_bytes_beyond_the_response_side_by_side() {
    // A server that sends more than its Content-Length: the connection cannot be trusted
    // for another request (HAProxy kills it on detach); the client is served normally.
    if !require_haproxy() {
        return;
    }
    let b = RawBackend::start(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokJUNK", None);
    let t = format!(
        "{GLOBAL}{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend be\n\
         backend be\n  http-reuse always\n  server s {}\n",
        b.addr
    );
    let (h, r) = side_by_side(&t, |s| {
        let before = b.conns.load(Ordering::SeqCst);
        let mut c = s.conn(0);
        let mut out = Vec::new();
        for p in ["/1", "/2", "/3"] {
            let r = c.roundtrip(&req("GET", p, &[], b"")).unwrap();
            out.push((r.status, r.body_text()));
        }
        (out, b.conns.load(Ordering::SeqCst) - before)
    });
    assert_eq!(r, h, "haproxy vs rproxy");
    assert_eq!(h.0, vec![(200, "ok".to_string()); 3]);
    assert_eq!(h.1, 3, "a server connection per request");
}

#[test]
fn interim_responses_side_by_side() {
    // 103 Early Hints (with its fields) and a 100 the client did not ask for are relayed
    // before the final answer, on a connection that goes on.
    if !require_haproxy() {
        return;
    }
    let b = RawBackend::start(
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
          HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        None,
    );
    let t = format!(
        "{GLOBAL}{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend be\n\
         backend be\n  server s {}\n",
        b.addr
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut c = s.conn(0);
        (0..2)
            .map(|_| {
                let r = c.roundtrip(&req("GET", "/", &[], b"")).unwrap();
                (r.interim.clone(), r.status, r.body_text())
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(r, h, "haproxy vs rproxy");
    assert_eq!(h[0].1, 200);
    assert_eq!(h[0].0[0].0, 103);
}

// ---------------------------------------------------------------------------------------
// HTTP/1.0, pipelining, 100-continue, chunked

fn one_backend_template(m: &MockServer, be_opts: &str) -> String {
    format!(
        "{GLOBAL}{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend be\n\
         backend be\n  {be_opts}\n  server s {}\n",
        m.addr_str()
    )
}

#[test]
fn http10_clients_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("m");
    let (h, r) = side_by_side(&one_backend_template(&m, ""), |s| {
        let mut ids = Ids::default();
        let mut v = Vec::new();
        let mut c = Client::new(s.addr(0));
        // No Host, no keep-alive: closed after the response.
        v.push(c.send(b"GET /a HTTP/1.0\r\n\r\n", &mut ids));
        v.push(c.send(
            b"POST /b HTTP/1.0\r\nHost: sbs.test\r\nContent-Length: 5\r\n\r\nhello",
            &mut ids,
        ));
        // Keep-alive asked: kept, for several requests, including one with a body.
        let mut c = Client::new(s.addr(0));
        v.push(c.send(
            b"GET /k1 HTTP/1.0\r\nHost: sbs.test\r\nConnection: keep-alive\r\n\r\n",
            &mut ids,
        ));
        v.push(c.send(
            b"POST /k2 HTTP/1.0\r\nHost: sbs.test\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabc",
            &mut ids,
        ));
        v.push(c.send(
            b"GET /k3 HTTP/1.0\r\nHost: sbs.test\r\nConnection: keep-alive\r\nx-mock: chunked\r\n\r\n",
            &mut ids,
        ));
        v.push(c.send(b"GET /k4 HTTP/1.0\r\nHost: sbs.test\r\n\r\n", &mut ids));
        // A server answering without length to a 1.0 client: the close ends the body.
        let mut c = Client::new(s.addr(0));
        v.push(c.send(
            b"GET /n HTTP/1.0\r\nHost: sbs.test\r\nConnection: keep-alive\r\nx-mock: nolen\r\n\r\n",
            &mut ids,
        ));
        v
    });
    for (j, (a, b)) in h.iter().zip(&r).enumerate() {
        assert_eq!(a, b, "exchange {j}: haproxy vs rproxy");
    }
    assert_eq!(h[0].version, "HTTP/1.1");
    assert_eq!(
        h[0].server.as_ref().unwrap().0,
        "GET /a HTTP/1.0",
        "forwarded as 1.0"
    );
    assert!(h[0].closed && h[1].closed);
    assert!(!h[2].closed && !h[3].closed && !h[4].closed && h[5].closed);
}

#[test]
fn pipelined_requests_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("m");
    let (h, r) = side_by_side(&one_backend_template(&m, ""), |s| {
        let mut all = Vec::new();
        for close in [false, true] {
            let mut raw = Vec::new();
            raw.extend(req("GET", "/p1", &[("x-mock", "delay=150")], b""));
            raw.extend(req("POST", "/p2", &[], b"pipelined body"));
            raw.extend(req("GET", "/p3", &[("x-mock", "chunked,body=20")], b""));
            raw.extend(req("HEAD", "/p4", &[], b""));
            raw.extend(req("GET", "/p5", &[("x-mock", "status=404")], b""));
            if close {
                raw.extend(req("GET", "/p6", &[("Connection", "close")], b""));
                // After a close nothing more is answered.
                raw.extend(req("GET", "/p7", &[], b""));
            }
            let mut c = Conn::open(s.addr(0));
            c.send(&raw).unwrap();
            let mut ids = Ids::default();
            let mut v = Vec::new();
            for p in 1..=(if close { 6 } else { 5 }) {
                let r = if p == 4 {
                    c.read_head_response()
                } else {
                    c.read_response()
                }
                .unwrap_or_else(|e| panic!("{}: /p{p}: {e}", s.name()));
                v.push(seen(&r, &mut ids, false));
            }
            if close {
                assert!(
                    c.wait_closed(),
                    "{}: open after Connection: close",
                    s.name()
                );
            } else {
                c.set_timeout(Duration::from_millis(300));
                assert!(c.read_for(Duration::from_millis(300)).is_empty());
            }
            all.push(v);
        }
        all
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    let lines: Vec<String> = h[1]
        .iter()
        .filter_map(|s| s.server.as_ref().map(|x| x.0.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            "GET /p1 HTTP/1.1",
            "POST /p2 HTTP/1.1",
            "GET /p5 HTTP/1.1",
            "GET /p6 HTTP/1.1"
        ]
    );
    assert!(
        h[1][2].server.is_none() && h[1][3].server.is_none(),
        "chunked, HEAD"
    );
    assert_eq!(h[1][3].status, 200);
    assert_eq!(h[1][4].status, 404);
}

#[test]
fn many_pipelined_requests_side_by_side() {
    // A burst of 150 pipelined requests in one write (bigger than any one read), the last
    // asking to close: every one answered, in order, then the close.
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("m");
    let (h, r) = side_by_side(&one_backend_template(&m, ""), |s| {
        let mut raw = Vec::new();
        for i in 0..150 {
            let close = if i == 149 { "close" } else { "keep-alive" };
            raw.extend(req(
                "GET",
                &format!("/burst/{i}"),
                &[("Connection", close)],
                b"",
            ));
        }
        let out = send_raw(s.addr(0), &raw);
        parse_responses(&out)
            .unwrap()
            .iter()
            .map(|r| (r.status, r.echo().request_line))
            .collect::<Vec<_>>()
    });
    assert_eq!(r, h, "haproxy vs rproxy");
    assert_eq!(h.len(), 150);
    for (i, (st, line)) in h.iter().enumerate() {
        assert_eq!(
            (*st, line.as_str()),
            (200, format!("GET /burst/{i} HTTP/1.1").as_str())
        );
    }
}

#[test]
fn expect_100_continue_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("m");
    let (h, r) = side_by_side(&one_backend_template(&m, ""), |s| {
        let mut ids = Ids::default();
        let mut out = Vec::new();
        // The client waits for 100 before sending its body.
        let mut c = Conn::open(s.addr(0));
        c.send(&req(
            "PUT",
            "/e",
            &[("Expect", "100-continue"), ("Content-Length", "5")],
            b"",
        ))
        .unwrap();
        let interim = c.read_for(Duration::from_millis(1000));
        let got_100 = interim.starts_with(b"HTTP/1.1 100 Continue\r\n");
        let rest = interim[interim
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| i + 4)..]
            .to_vec();
        c.send(b"hello").unwrap();
        let r = c.read_response().unwrap();
        out.push((got_100, rest.is_empty(), seen(&r, &mut ids, false)));
        // The client sends everything at once: one interim, one answer.
        let r = c
            .roundtrip(&req(
                "POST",
                "/f",
                &[("Expect", "100-continue")],
                b"all at once",
            ))
            .unwrap();
        out.push((true, true, seen(&r, &mut ids, false)));
        // A chunked body behind Expect.
        c.send(&req(
            "POST",
            "/g",
            &[("Expect", "100-continue"), ("Transfer-Encoding", "chunked")],
            b"",
        ))
        .unwrap();
        let interim = c.read_for(Duration::from_millis(1000));
        let got_100 = interim.starts_with(b"HTTP/1.1 100 Continue\r\n");
        c.send(b"3\r\nabc\r\n0\r\n\r\n").unwrap();
        let r = c.read_response().unwrap();
        out.push((got_100, true, seen(&r, &mut ids, false)));
        // The server sends 100 unasked (x-mock: 100): relayed as interim.
        let r = c
            .roundtrip(&req("GET", "/h", &[("x-mock", "100")], b""))
            .unwrap();
        out.push((false, true, seen(&r, &mut ids, false)));
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert!(h[0].0 && h[0].1, "haproxy relays 100 before the body");
    assert_eq!(h[0].2.server.as_ref().unwrap().2, b"hello");
    assert!(h[2].0);
    assert_eq!(h[3].2.interim, [100]);
}

#[test]
fn chunked_bodies_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let m = MockServer::start("m");
    let trailer_srv = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Resp-Trailer\r\n\r\n\
          4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Resp-Trailer: v1\r\nX-Other: v2\r\n\r\n",
        None,
    );
    let t = format!(
        "{GLOBAL}{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  \
         use_backend tr if {{ path_beg /trailer }}\n  default_backend be\n\
         backend be\n  server s {}\nbackend tr\n  server t {}\n",
        m.addr_str(),
        trailer_srv.addr
    );
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (h, r) = side_by_side(&t, |s| {
        let mut ids = Ids::default();
        let mut out = Vec::new();
        let mut c = Conn::open(s.addr(0));
        // Chunked request with an extension and trailers.
        let r = c
            .roundtrip(
                b"POST /c HTTP/1.1\r\nHost: sbs.test\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\nOther-Trailer: u\r\n\r\n",
            )
            .unwrap();
        let rec = m.last().unwrap();
        out.push((seen(&r, &mut ids, false), rec.chunked, rec.trailers.clone()));
        // A large chunked request body in many chunks, sent in pieces.
        let mut raw = req("PUT", "/big", &[("Transfer-Encoding", "chunked")], b"");
        for part in big.chunks(7_000) {
            raw.extend(format!("{:x}\r\n", part.len()).as_bytes());
            raw.extend(part);
            raw.extend(b"\r\n");
        }
        raw.extend(b"0\r\n\r\n");
        for piece in raw.chunks(30_000) {
            c.send(piece).unwrap();
        }
        let r = c.read_response().unwrap();
        let rec = m.last().unwrap();
        assert_eq!(rec.body, big, "{}: big chunked body", s.name());
        out.push((seen(&r, &mut ids, false), rec.chunked, rec.trailers.clone()));
        // Chunked response.
        let r = c
            .roundtrip(&req(
                "GET",
                "/cr",
                &[("x-mock", "chunked,body=100000")],
                b"",
            ))
            .unwrap();
        assert!(r.chunked);
        out.push((seen(&r, &mut ids, false), false, r.trailers.clone()));
        // Chunked response with trailers (and an extension).
        let r = c.roundtrip(&req("GET", "/trailer", &[], b"")).unwrap();
        out.push((
            seen(&r, &mut Ids::default(), false),
            r.chunked,
            r.trailers.clone(),
        ));
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    // Pinned: the request stays chunked, trailer names lower-cased.
    assert!(h[0].1);
    assert_eq!(
        h[0].2,
        [
            ("x-trailer".to_string(), "t".to_string()),
            ("other-trailer".into(), "u".into())
        ]
    );
    assert_eq!(h[3].0.status, 200);
    assert!(h[3].1);
    assert_eq!(h[3].2.len(), 2);
}

// ---------------------------------------------------------------------------------------
// WebSocket

const WS_HEADERS: &[(&str, &str)] = &[
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
];

#[test]
fn websocket_tunnel_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let ws = MockServer::builder("ws").mock("ws").start();
    let plain = MockServer::start("plain");
    let t = format!(
        "{GLOBAL}defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  use_backend plain if {{ path_beg /plain }}\n  default_backend ws\n\
         backend ws\n  timeout tunnel 1500ms\n  server w {}\n\
         backend plain\n  server p {}\n",
        ws.addr_str(),
        plain.addr_str()
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        let mut c = Conn::open(s.addr(0));
        let raw = req("GET", "/chat", WS_HEADERS, b"");
        let res = c.roundtrip(&raw).unwrap();
        let server_head = ws.last().unwrap();
        out.push(format!(
            "{} {:?} | {:?}",
            res.status,
            res.headers
                .iter()
                .filter(|(n, _)| n != "x-conn-id")
                .collect::<Vec<_>>(),
            server_head.headers
        ));
        // Both ways, several times, with pauses shorter than the tunnel timeout.
        for msg in [&b"\x81\x05hello"[..], b"binary\x00\xff", b"third"] {
            c.send(msg).unwrap();
            let back = c.read_exact_n(msg.len()).unwrap();
            out.push(format!("echo ok={}", back == msg));
            std::thread::sleep(Duration::from_millis(200));
        }
        // Then silence: `timeout tunnel` (not the 10 s client/server timeouts) closes it.
        let t0 = Instant::now();
        c.set_timeout(Duration::from_secs(8));
        let closed = c.wait_closed();
        let took = t0.elapsed();
        out.push(format!(
            "closed={closed} in-bounds={}",
            took >= Duration::from_secs(1) && took < Duration::from_secs(8)
        ));
        // The client half-closes: the server sees it and closes too.
        let mut c = Conn::open(s.addr(0));
        assert_eq!(c.roundtrip(&raw).unwrap().status, 101);
        c.send(b"bye").unwrap();
        assert_eq!(c.read_exact_n(3).unwrap(), b"bye");
        c.stream().shutdown(Shutdown::Write).unwrap();
        out.push(format!("half-close ends it={}", c.wait_closed()));
        // An upgrade the server refuses: a plain answer, the connection goes on.
        let mut c = Conn::open(s.addr(0));
        let res = c.roundtrip(&req("GET", "/plain", WS_HEADERS, b"")).unwrap();
        let srv = plain.last().unwrap();
        out.push(format!(
            "refused: {} conn={:?} srv-conn={:?} srv-upgrade={:?}",
            res.status,
            res.header_all("connection"),
            srv.header_all("connection"),
            srv.header("upgrade")
        ));
        out.push(format!(
            "then {}",
            c.roundtrip(&req("GET", "/plain/2", &[], b""))
                .unwrap()
                .status
        ));
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert!(h[0].starts_with("101 "), "{}", h[0]);
    assert_eq!(h[4], "closed=true in-bounds=true");
    assert_eq!(h[5], "half-close ends it=true");
}

// ---------------------------------------------------------------------------------------
// abortonclose

#[test]
fn abortonclose_side_by_side() {
    if !require_haproxy() {
        return;
    }
    for opt in ["", "option abortonclose"] {
        let m = MockServer::start("m");
        let t = one_backend_template(&m, &format!("{opt}\n  timeout queue 5s")).replace(
            &format!("server s {}", m.addr_str()),
            &format!("server s {} maxconn 1", m.addr_str()),
        );
        let (h, r) = side_by_side(&t, |s| {
            m.clear();
            let addr = s.addr(0);
            let busy = std::thread::spawn(move || {
                http_request(addr, "GET", "/busy", &[("x-mock", "delay=800")], b"")
                    .map(|r| r.status)
                    .ok()
            });
            assert!(eventually(Duration::from_secs(3), || m.requests() == 1));
            // Queued behind /busy, then the client goes: a FIN, and an RST.
            let mut fin = Conn::open(addr);
            fin.send(&req("GET", "/queued-fin", &[], b"")).unwrap();
            let mut rst = Conn::open(addr);
            rst.send(&req("GET", "/queued-rst", &[], b"")).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            fin.stream().shutdown(Shutdown::Write).unwrap();
            socket2::SockRef::from(&*rst.stream())
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(rst);
            let answered = fin.read_response().map(|r| r.status).ok();
            let busy = busy.join().unwrap();
            // Whatever reaches the server does so within its turn.
            eventually(Duration::from_secs(3), || m.requests() >= 3);
            let mut uris: Vec<String> = m.received().iter().map(|r| r.uri.clone()).collect();
            uris.sort();
            (busy, answered, uris)
        });
        assert_eq!(r, h, "[{opt}] haproxy vs rproxy");
        assert_eq!(
            h,
            (
                Some(200),
                Some(200),
                vec![
                    "/busy".to_string(),
                    "/queued-fin".into(),
                    "/queued-rst".into()
                ]
            ),
            "[{opt}] haproxy 2.6.12"
        );
    }
}

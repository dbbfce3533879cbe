//! Routing: `use_backend NAME if|unless COND` (first match wins), dynamic `use_backend
//! %[...]`, `default_backend`, `listen` with its own servers, 1.x `dispatch`, requests that
//! reach no backend, `monitor-uri` / `monitor fail`, and `option http-buffer-request`.
//!
//! Every test runs the same configuration under haproxy 2.6 and rproxy (side by side) and
//! compares what the client gets and which mock server answered. Facts observed with
//! HAProxy 2.6.12:
//! - `use_backend` rules are tried in order, the first whose condition holds wins;
//!   `unless` negates the condition; without a match `default_backend`, else a `listen`'s
//!   own servers.
//! - dynamic `use_backend be_%[req.hdr(x-be),lower]`: when the resulting name is no
//!   backend, the remaining `use_backend` rules are *not* tried: `default_backend` is used
//!   (or 503 without one).
//! - a request that reaches no backend (no match, no default) and a backend without any
//!   server both get the 503 page (`cache-control: no-cache`, `content-type: text/html`);
//!   the connection stays open for the next request (the request body is read past),
//!   unless the client sent `Connection: close`, which adds `connection: close` as the
//!   last header. rproxy's pages (`errors/`) have their own wording, so bodies and
//!   `content-length` are left out of those comparisons.
//! - `dispatch ADDR` in a backend or listen forwards to that address.
//! - `monitor-uri /healthz` answers `200 OK` with `cache-control: no-cache`,
//!   `content-type: text/html` (HAProxy's body says "Service ready.") and keeps the
//!   connection; the URI must equal the request target exactly (`/healthz?x` is not it) or
//!   be the path of an absolute-form target (`http://h/healthz`). `monitor fail if COND`
//!   makes it the 503 page instead, also kept alive. Monitor requests never reach a server.
//! - `option http-buffer-request`: no byte reaches the server before the whole body has
//!   arrived, and `req.body` can then be used by `http-request` rules and `use_backend`.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEFAULTS: &str = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  retries 0\n";

/// A locally generated page as received, its body left out and its `content-length`
/// masked: rproxy's pages (`errors/`) carry their own wording, everything else must be
/// HAProxy's (status line, header names, order and values, connection handling).
fn shape(r: &Response) -> String {
    let mut out = format!("{} {} {}\r\n", r.version, r.status, r.reason);
    for (n, v) in &r.headers {
        let v = if n.eq_ignore_ascii_case("content-length") {
            "*"
        } else {
            v
        };
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out
}

/// `{{NAME}}` → mock address for each mock (its name upper-cased).
fn with_mocks(template: &str, mocks: &[&MockServer]) -> String {
    let vars: Vec<(String, String)> = mocks
        .iter()
        .map(|m| (m.name().to_ascii_uppercase(), m.addr_str()))
        .collect();
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fill(&format!("{DEFAULTS}{template}"), &refs)
}

/// Sends each (path, headers) on its own connection to port `{{P<port>}}`; the server
/// names that answered (or `status:N` for a local answer).
fn routes(side: &Side, port: usize, reqs: &[(&str, &[(&str, &str)])]) -> Vec<String> {
    reqs.iter()
        .map(|(path, hdrs)| {
            let r = side
                .request_to(port, "GET", path, hdrs, b"")
                .unwrap_or_else(|e| panic!("{}: GET {path}: {e}", side.name()));
            match r.server() {
                Some(s) => s.to_string(),
                None => format!("status:{}", r.status),
            }
        })
        .collect()
}

#[test]
fn use_backend_first_match_wins_then_default() {
    if !require_haproxy() {
        return;
    }
    let ms: Vec<MockServer> = ["v2", "api", "adm", "u", "def"]
        .iter()
        .map(|n| MockServer::start(n))
        .collect();
    let refs: Vec<&MockServer> = ms.iter().collect();
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         acl api path_beg /api\n  acl v2 path_beg /api/v2\n  acl admin hdr(x-admin) -m found\n\
         use_backend be_v2 if v2\n  use_backend be_api if api\n  use_backend be_adm if admin\n\
         use_backend be_u unless { hdr(x-keep) -m found } || admin\n  default_backend be_def\n\
         backend be_v2\n  server s {{V2}}\nbackend be_api\n  server s {{API}}\n\
         backend be_adm\n  server s {{ADM}}\nbackend be_u\n  server s {{U}}\n\
         backend be_def\n  server s {{DEF}}\n",
        &refs,
    );
    let reqs: &[(&str, &[(&str, &str)])] = &[
        ("/api/v2/x", &[]),
        ("/api/x", &[]),
        ("/api/x", &[("x-admin", "1")]),
        ("/api/v2", &[("x-admin", "1")]),
        ("/other", &[("x-admin", "1")]),
        ("/other", &[]),
        ("/other", &[("x-keep", "1")]),
    ];
    let (h, r) = side_by_side(&cfg, |side| routes(side, 0, reqs));
    assert_eq!(h, ["v2", "api", "api", "v2", "adm", "u", "def"]);
    assert_eq!(h, r);
}

#[test]
fn dynamic_use_backend_unknown_name_goes_to_default() {
    if !require_haproxy() {
        return;
    }
    let (a, b, c) = (
        MockServer::start("a"),
        MockServer::start("b"),
        MockServer::start("c"),
    );
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n\
         use_backend be_%[req.hdr(x-be),lower] if { req.hdr(x-be) -m found }\n\
         use_backend be_b if { path_beg /b }\n  default_backend be_a\n\
         frontend fe2\n  bind 127.0.0.1:{{P1}}\n  use_backend %[path,field(2,/)]\n\
         backend be_a\n  server s {{A}}\nbackend be_b\n  server s {{B}}\n\
         backend be_c\n  server s {{C}}\nbackend be_empty\n",
        &[&a, &b, &c],
    );
    let reqs: &[(&str, &[(&str, &str)])] = &[
        ("/b", &[("x-be", "B")]),
        ("/b", &[("x-be", "c")]),
        ("/x", &[("x-be", "C")]),
        // Unknown name: the next use_backend (/b → be_b) is not tried.
        ("/b", &[("x-be", "nope")]),
        ("/b", &[]),
        ("/x", &[]),
        // A backend without servers: 503.
        ("/b", &[("x-be", "empty")]),
    ];
    let reqs2: &[(&str, &[(&str, &str)])] = &[("/be_c/x", &[]), ("/be_b", &[]), ("/nope/x", &[])];
    let (h, r) = side_by_side(&cfg, |side| (routes(side, 0, reqs), routes(side, 1, reqs2)));
    assert_eq!(h.0, ["b", "c", "c", "a", "b", "a", "status:503"]);
    assert_eq!(h.1, ["c", "b", "status:503"]);
    assert_eq!(h, r);
}

#[test]
fn listen_own_servers_and_dispatch() {
    if !require_haproxy() {
        return;
    }
    let ms: Vec<MockServer> = ["own", "other", "disp", "bedisp"]
        .iter()
        .map(|n| MockServer::start(n))
        .collect();
    let refs: Vec<&MockServer> = ms.iter().collect();
    let cfg = with_mocks(
        "listen l1\n  bind 127.0.0.1:{{P0}}\n  use_backend be_other if { path_beg /other }\n  server s {{OWN}}\n\
         listen l2\n  bind 127.0.0.1:{{P1}}\n  dispatch {{DISP}}\n\
         frontend f3\n  bind 127.0.0.1:{{P2}}\n  default_backend be_d\n\
         backend be_other\n  server s {{OTHER}}\nbackend be_d\n  dispatch {{BEDISP}}\n",
        &refs,
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let mut out = routes(side, 0, &[("/x", &[]), ("/other/y", &[])]);
        out.extend(routes(side, 1, &[("/y", &[])]));
        out.extend(routes(side, 2, &[("/z", &[])]));
        // What the dispatched server saw.
        let seen = side
            .request_to(1, "POST", "/d?q=1", &[("X-A", "b")], b"body")
            .unwrap();
        (out, seen)
    });
    assert_eq!(h.0, ["own", "other", "disp", "bedisp"]);
    assert_eq!(h.0, r.0);
    assert_same(
        &h.1,
        &r.1,
        &["content-type", "content-length", "connection"],
    );
}

#[test]
fn no_backend_is_haproxys_503() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n  use_backend be_a if { path_beg /a }\n\
         frontend fe_empty\n  bind 127.0.0.1:{{P1}}\n  use_backend be_a if { path_beg /a }\n  default_backend be_none\n\
         backend be_a\n  server s {{A}}\nbackend be_none\n",
        &[&a],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let nomatch = side.get("/x");
        let empty = side.request_to(1, "GET", "/", &[], b"").unwrap();
        // A keep-alive client: the connection goes on after the 503, with no
        // `connection` header; a request body is read past.
        let mut c = side.conn(0);
        let ka = c.get("/x").unwrap();
        let next = c.get("/a").unwrap();
        let post = c.request("POST", "/x", &[], b"some body").unwrap();
        let after_post = c.get("/a").unwrap();
        let mut c = side.conn(1);
        let ka_empty = c.get("/").unwrap();
        let next_empty = c.get("/a").unwrap();
        (
            (
                shape(&nomatch),
                shape(&empty),
                shape(&ka),
                shape(&post),
                shape(&ka_empty),
            ),
            [&next, &after_post, &next_empty].map(|r| r.server().map(str::to_string)),
            nomatch.body_text(),
        )
    });
    assert_eq!(
        h.0.0,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: *\r\ncache-control: no-cache\r\n\
         content-type: text/html\r\nconnection: close\r\n"
    );
    assert!(h.2.contains("No server is available to handle this request."));
    assert!(r.2.contains("<h1>503 Service Unavailable</h1>"), "{}", r.2);
    assert_eq!(h.0, r.0);
    assert_eq!(
        h.1,
        [Some("a".to_string()), Some("a".into()), Some("a".into())]
    );
    assert_eq!(h.1, r.1);
}

#[test]
fn monitor_uri_and_monitor_fail() {
    if !require_haproxy() {
        return;
    }
    let a = MockServer::start("a");
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n  monitor-uri /healthz\n\
         acl down req.hdr(x-down) -m found\n  monitor fail if down\n  default_backend be_a\n\
         backend be_a\n  server s {{A}}\n",
        &[&a],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        a.clear();
        let ok = side.get("/healthz");
        let fail = side
            .request("GET", "/healthz", &[("x-down", "1")], b"")
            .unwrap();
        // Not the monitor URI: a query string, another path.
        let q = side.get("/healthz?x=1");
        let other = side.get("/healthz/more");
        // Absolute form: its path is compared.
        let abs = side.get("http://sbs.test/healthz");
        // Keep-alive: the monitor answers keep the connection; a later request goes on.
        let mut c = side.conn(0);
        let k1 = c.get("/healthz").unwrap();
        let k2 = c
            .request("GET", "/healthz", &[("x-down", "1")], b"")
            .unwrap();
        let k3 = c.get("/after").unwrap();
        (
            [&ok, &fail, &abs, &k1, &k2].map(shape),
            [&q, &other, &k3].map(|r| r.server().map(str::to_string)),
            a.requests(),
            ok.body_text(),
        )
    });
    assert_eq!(
        h.0[0],
        "HTTP/1.1 200 OK\r\ncontent-length: *\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n"
    );
    assert!(h.0[1].starts_with("HTTP/1.1 503 "), "{}", h.0[1]);
    assert_eq!(h.0[2], h.0[0]);
    assert_eq!(
        h.3,
        "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
    );
    assert!(r.3.starts_with("<html><body><h1>200 OK</h1>"), "{}", r.3);
    assert_eq!(h.2, 3, "only the non-monitor requests reach the server");
    assert_eq!((&h.0, &h.1, h.2), (&r.0, &r.1, r.2));
}

/// A one-shot raw server: records every byte it receives; answers a fixed 200 once a
/// complete request with a 10-byte body has arrived.
struct RawServer {
    port: u16,
    got: Arc<Mutex<Vec<u8>>>,
}

impl RawServer {
    fn start() -> RawServer {
        let l = TcpListener::bind(local(0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let g = g.clone();
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let mut all = g.lock().unwrap();
                        all.extend_from_slice(&buf[..n]);
                        if all.ends_with(b"0123456789") {
                            let _ = s.write_all(
                                b"HTTP/1.1 200 OK\r\nx-server: raw\r\ncontent-length: 2\r\n\r\nok",
                            );
                        }
                    }
                });
            }
        });
        RawServer { port, got }
    }
    fn received(&self) -> Vec<u8> {
        self.got.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.got.lock().unwrap().clear();
    }
}

#[test]
fn http_buffer_request_waits_for_the_body() {
    if !require_haproxy() {
        return;
    }
    let srv = RawServer::start();
    let cfg = fill(
        &format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  option http-buffer-request\n  default_backend be\n\
             frontend plain\n  bind 127.0.0.1:{{{{P1}}}}\n  default_backend be\n\
             backend be\n  server s {{{{S}}}}\n"
        ),
        &[("S", &local(srv.port).to_string())],
    );
    let head = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234";
    let (h, r) = side_by_side(&cfg, |side| {
        // Buffered: nothing reaches the server while the body is incomplete.
        srv.clear();
        let mut c = side.conn(0);
        c.send(head).unwrap();
        let early = !eventually(Duration::from_millis(400), || !srv.received().is_empty());
        c.send(b"56789").unwrap();
        let resp = c.read_response().unwrap();
        let got = String::from_utf8_lossy(&srv.received()).into_owned();
        // Without the option the head goes ahead of the body.
        srv.clear();
        let mut c = side.conn(1);
        c.send(head).unwrap();
        let head_first = eventually(Duration::from_secs(5), || {
            srv.received().windows(4).any(|w| w == b"\r\n\r\n")
        });
        c.send(b"56789").unwrap();
        let resp2 = c.read_response().unwrap();
        // Expect: 100-continue: the proxy says 100 itself while it waits for the body.
        srv.clear();
        let mut c = side.conn(0);
        c.send(
            b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
        )
        .unwrap();
        let interim = c.read_exact_n(25).unwrap();
        c.send(b"0123456789").unwrap();
        let resp3 = c.read_response().unwrap();
        let expect_fwd = String::from_utf8_lossy(&srv.received())
            .to_ascii_lowercase()
            .contains("expect:");
        (
            (
                early,
                resp.status,
                got.ends_with("0123456789"),
                head_first,
                resp2.status,
            ),
            (interim, resp3.status, expect_fwd),
        )
    });
    assert_eq!(h.0, (true, 200, true, true, 200));
    assert_eq!(h.1.0, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(h, r);
}

#[test]
fn http_buffer_request_rules_on_the_body() {
    if !require_haproxy() {
        return;
    }
    let (a, b) = (MockServer::start("a"), MockServer::start("b"));
    let cfg = with_mocks(
        "frontend fe\n  bind 127.0.0.1:{{P0}}\n  option http-buffer-request\n\
         http-request set-header x-body-len %[req.body,length]\n\
         http-request deny deny_status 403 if { req.body -m sub forbidden }\n\
         use_backend be_b if { req.body -m sub magic }\n  default_backend be_a\n\
         backend be_a\n  server s {{A}}\nbackend be_b\n  server s {{B}}\n",
        &[&a, &b],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        let magic = side
            .request("POST", "/x", &[], b"some magic words")
            .unwrap();
        let plain = side.request("POST", "/x", &[], b"plain words").unwrap();
        let none = side.get("/x");
        let denied = side
            .request("POST", "/x", &[], b"this is forbidden")
            .unwrap();
        // The body arrives in two parts, after the head: still seen whole by the rules.
        let mut c = side.conn(0);
        c.send(b"POST /late HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello")
            .unwrap();
        // A pause so that the rest arrives separately (nothing is waited for).
        std::thread::sleep(Duration::from_millis(100));
        c.send(b" magic").unwrap();
        let late = c.read_response().unwrap();
        // A chunked body is seen decoded.
        let mut c = side.conn(0);
        c.send(b"POST /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nmag\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        c.send(b"3\r\nic!\r\n0\r\n\r\n").unwrap();
        let chunked = c.read_response().unwrap();
        (magic, plain, none, denied, late, chunked)
    });
    assert_eq!(h.0.server(), Some("b"));
    assert_eq!(h.1.server(), Some("a"));
    assert_eq!(h.2.server(), Some("a"));
    assert_eq!(h.3.status, 403);
    assert_eq!(h.4.server(), Some("b"));
    assert_eq!(h.5.server(), Some("b"));
    assert_eq!(h.5.echo().header("x-body-len"), Some("6"));
    assert_eq!(h.0.echo().header("x-body-len"), Some("16"));
    assert_eq!(h.2.echo().header("x-body-len"), Some("0"));
    for (x, y) in [
        (&h.0, &r.0),
        (&h.1, &r.1),
        (&h.2, &r.2),
        (&h.4, &r.4),
        (&h.5, &r.5),
    ] {
        assert_same(x, y, &["content-length", "connection"]);
    }
    assert_eq!(shape(&h.3), shape(&r.3));
}

//! `tcp-request content` details side by side with HAProxy 2.6.12: negated payload
//! conditions wait for data within `inspect-delay` (HAProxy's three-valued evaluation),
//! `req.len` and `req.payload` in an HTTP frontend's rules, and `use-service` on
//! `tcp-request content` (an error there, as in HAProxy).
//!
//! HAProxy 2.6.12 facts these tests pin (observed when writing them):
//! - `!{ req.ssl_hello_type 1 }` on a partial record is "missing data", not true: the rule
//!   waits; on plain text it is true at once; when the delay expires it is evaluated on
//!   what arrived, as final.
//! - The rules run as soon as the connection is accepted, on no data: there
//!   `!{ req.len lt 6 }` is false at once (0 matches `lt 6`, a match is final even on a
//!   length that may grow; its negation is false), so `accept if !{ req.len lt 6 }`
//!   followed by `reject` rejects every connection at once.
//! - In `mode http` the rules see the parsed request: `req.len` is its size in HAProxy's
//!   internal form (`GET / HTTP/1.0` + `Host: a` → 38; a body received with the head
//!   counts too),
//!   `req.payload` fails, and nothing waits.

mod common;
use common::payload::{client_hello, exchange};
use common::*;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEFAULTS: &str =
    "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

#[test]
fn negated_payload_conditions_wait_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let srv = TcpMock::with_greeting(b"G:");
    let t = format!(
        "{DEFAULTS}\
         frontend f1\n  bind 127.0.0.1:{{{{P0}}}}\n  tcp-request inspect-delay 1s\n\
         \x20 tcp-request content reject if !{{ req.ssl_hello_type 1 }}\n  default_backend b\n\
         frontend f2\n  bind 127.0.0.1:{{{{P1}}}}\n  tcp-request inspect-delay 1s\n\
         \x20 tcp-request content accept if !{{ req.len lt 6 }}\n  tcp-request content reject\n\
         \x20 default_backend b\n\
         frontend f3\n  bind 127.0.0.1:{{{{P2}}}}\n  tcp-request inspect-delay 1s\n\
         \x20 tcp-request content reject unless {{ req.payload(0,2) -m bin 4f4b }}\n\
         \x20 default_backend b\n\
         backend b\n  server s {}\n",
        srv.addr_str()
    );
    let hello = client_hello("a.example");
    let cases: Vec<(usize, Vec<&[u8]>)> = vec![
        // A ClientHello in two reads: waits for the whole record, then accepted.
        (0, vec![&hello[..7], &hello[7..]]),
        // Plain text: not TLS, rejected at once.
        (0, vec![b"GET / HTTP/1.0\r\n\r\n"]),
        // Part of a record, then nothing: rejected when the delay expires.
        (0, vec![&hello[..7]]),
        (1, vec![b"abc", b"defgh"]),
        // (Not `abcdefgh` in one write: whether the first evaluation sees it or an empty
        // buffer is a race in both engines, and decides between waiting and rejecting.)
        (2, vec![b"O", b"Kxx"]),
        (2, vec![b"N", b"Oxx"]),
    ];
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for (fe, parts) in &cases {
            let want = 2 + parts.iter().map(|p| p.len()).sum::<usize>();
            let t0 = Instant::now();
            let got = exchange(s.addr(*fe), parts, want);
            // Whether the answer waited for the inspect delay (1 s) or not.
            let waited = t0.elapsed() >= Duration::from_millis(900);
            out.push(format!(
                "P{fe}: {} bytes, starts {:?}, waited={waited}",
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(2)])
            ));
        }
        out
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(
        h[0],
        format!("P0: {} bytes, starts \"G:\", waited=false", hello.len() + 2)
    );
    assert_eq!(h[1], "P0: 0 bytes, starts \"\", waited=false");
    assert_eq!(h[2], "P0: 0 bytes, starts \"\", waited=true");
    assert_eq!(h[3], "P1: 0 bytes, starts \"\", waited=false");
    assert_eq!(h[4], "P2: 6 bytes, starts \"G:\", waited=false");
    assert_eq!(h[5], "P2: 0 bytes, starts \"\", waited=false");
}

#[test]
fn req_len_and_payload_in_an_http_frontend_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let fe = |i: usize, cond: &str| {
        format!(
            "frontend f{i}\n  bind 127.0.0.1:{{{{P{i}}}}}\n  tcp-request inspect-delay 1s\n\
             \x20 tcp-request content reject if {{ {cond} }}\n\
             \x20 http-request return status 200 content-type text/plain string ok\n"
        )
    };
    let t = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n{}{}{}{}{}{}",
        fe(0, "req.len ge 39"),
        fe(1, "req.len ge 38"),
        fe(2, "req.len ge 56"),
        fe(3, "req.len ge 55"),
        fe(4, "req.payload(0,3) -m str GET"),
        fe(5, "req.len eq 0"),
    );
    let get = "GET / HTTP/1.0\r\nHost: a\r\n\r\n";
    let post = "POST /p HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello";
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for (port, raw) in [(0, get), (1, get), (2, post), (3, post), (4, get), (5, get)] {
            let t0 = Instant::now();
            let got = send_raw_timeout(s.addr(port), raw.as_bytes(), Duration::from_secs(3));
            let text = String::from_utf8_lossy(&got).into_owned();
            let waited = t0.elapsed() >= Duration::from_millis(900);
            out.push(format!(
                "P{port}: {:?} waited={waited}",
                text.lines().next().unwrap_or("")
            ));
        }
        out
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(
        h,
        [
            "P0: \"HTTP/1.1 200 OK\" waited=false",
            "P1: \"\" waited=false",
            "P2: \"HTTP/1.1 200 OK\" waited=false",
            "P3: \"\" waited=false",
            "P4: \"HTTP/1.1 200 OK\" waited=false",
            "P5: \"HTTP/1.1 200 OK\" waited=false",
        ]
    );
}

fn check(engine: Engine, cfg: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.cfg"), cfg).unwrap();
    Command::new(engine.program())
        .args(["-c", "-f", "c.cfg"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("check runs")
}

/// `tcp-request content use-service`: HAProxy 2.6's only service (the Prometheus
/// exporter) is for `http-request` rules, and there is no other: an error either way, in
/// TCP and HTTP proxies alike.
#[test]
fn use_service_on_tcp_request_content_is_an_error_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    for (mode, svc, want) in [
        (
            "tcp",
            "prometheus-exporter",
            "only available on 'http-request' rules",
        ),
        (
            "http",
            "prometheus-exporter",
            "only available on 'http-request' rules",
        ),
        ("tcp", "foo", "unknown service name 'foo'"),
        ("tcp", "lua.hello", "unknown service name 'lua.hello'"),
    ] {
        let cfg = format!(
            "defaults\n  mode {mode}\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
             frontend f\n  bind 127.0.0.1:1\n  tcp-request content use-service {svc} if {{ src 127.0.0.1 }}\n\
             \x20 default_backend b\nbackend b\n  server s 127.0.0.1:2\n"
        );
        let ho = check(Engine::Haproxy, &cfg);
        let ro = check(Engine::Rproxy, &cfg);
        let rt = String::from_utf8_lossy(&ro.stderr).into_owned();
        assert_eq!(ho.status.code(), Some(1), "{mode} {svc}: haproxy");
        assert_eq!(ro.status.code(), Some(1), "{mode} {svc}: rproxy: {rt}");
        assert!(
            rt.contains(want) && rt.contains("c.cfg:8") && rt.contains('^') && rt.contains("help:"),
            "{mode} {svc}: {rt}"
        );
    }
}

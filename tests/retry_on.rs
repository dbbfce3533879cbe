//! `retry-on` side by side with HAProxy 2.6: a first server that fails in one way (closes
//! without answering, hangs, answers junk, answers 503, or is not listening) and a good
//! second one, under `balance first` so that the failing server is always chosen first.
//! Each test compares, per engine, the status the client gets, which server answered, and
//! how many requests each server saw (the attempts).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use common::*;

/// What one engine's run gave: status, answering server, attempts on bad, on good.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: u16,
    server: Option<String>,
    bad: usize,
    good: usize,
}

/// A server answering every request with bytes that are no HTTP response, then closing.
struct JunkServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl JunkServer {
    fn start() -> JunkServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let n = requests.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let n = n.clone();
                thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    n.fetch_add(1, Ordering::SeqCst);
                    let _ = s.write_all(b"this is not http\r\n\r\n");
                    let _ = s.shutdown(Shutdown::Both);
                });
            }
        });
        JunkServer { port, requests }
    }
}

/// Runs `retry_lines` (the backend's retry settings) with `bad` first and a good mock
/// second under both engines; returns (haproxy's, rproxy's) outcome of one GET.
fn run(
    body: &[u8],
    retry_lines: &str,
    server_timeout: &str,
    bad_addr: &str,
    bad_count: &dyn Fn() -> usize,
    bad_clear: &dyn Fn(),
) -> Option<(Outcome, Outcome)> {
    if !require_haproxy() {
        return None;
    }
    let good = MockServer::start("good");
    let template = format!(
        "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 5s\n  timeout server {server_timeout}\n\
         listen l\n  bind 127.0.0.1:{{{{P0}}}}\n  balance first\n  retries 3\n{retry_lines}\
         \x20 server bad {bad_addr}\n  server good {}\n",
        good.addr_str()
    );
    let (h, r) = side_by_side(&template, |side| {
        bad_clear();
        good.clear();
        let before = good.requests();
        let res = side
            .request(
                if body.is_empty() { "GET" } else { "POST" },
                "/x",
                &[],
                body,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
        let o = Outcome {
            status: res.status,
            server: res.server().map(str::to_string),
            bad: bad_count(),
            good: good.requests() - before,
        };
        println!("{}: {o:?}", side.name());
        o
    });
    Some((h, r))
}

/// A `MockServer` failing with `spec` as the first server.
fn with_mock(retry_lines: &str, server_timeout: &str, spec: &str) -> Option<(Outcome, Outcome)> {
    with_mock_body(b"", retry_lines, server_timeout, spec)
}

/// [`with_mock`] with a POST of `body` (a GET when empty).
fn with_mock_body(
    body: &[u8],
    retry_lines: &str,
    server_timeout: &str,
    spec: &str,
) -> Option<(Outcome, Outcome)> {
    let bad = Arc::new(MockServer::builder("bad").mock(spec).start());
    let base = Arc::new(AtomicUsize::new(0));
    let (b1, b2, base2) = (bad.clone(), bad.clone(), base.clone());
    run(
        body,
        retry_lines,
        server_timeout,
        &bad.addr_str(),
        &move || b1.requests() - base.load(Ordering::SeqCst),
        &move || base2.store(b2.requests(), Ordering::SeqCst),
    )
}

fn same(h: &Outcome, r: &Outcome) {
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
}

#[test]
fn empty_response_is_retried_then_redispatched_as_under_haproxy() {
    let Some((h, r)) = with_mock(
        "  option redispatch\n  retry-on empty-response\n",
        "2s",
        "drop",
    ) else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 200);
    assert_eq!(r.server.as_deref(), Some("good"));
}

#[test]
fn response_timeout_is_retried_then_redispatched_as_under_haproxy() {
    let Some((h, r)) = with_mock(
        "  option redispatch\n  retry-on response-timeout\n",
        "300ms",
        "hang",
    ) else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 200);
}

#[test]
fn junk_response_is_retried_then_redispatched_as_under_haproxy() {
    let junk = Arc::new(JunkServer::start());
    let base = Arc::new(AtomicUsize::new(0));
    let (j1, j2, base2) = (junk.clone(), junk.clone(), base.clone());
    let Some((h, r)) = run(
        b"",
        "  option redispatch\n  retry-on junk-response\n",
        "2s",
        &format!("127.0.0.1:{}", junk.port),
        &move || j1.requests.load(Ordering::SeqCst) - base.load(Ordering::SeqCst),
        &move || base2.store(j2.requests.load(Ordering::SeqCst), Ordering::SeqCst),
    ) else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 200);
}

#[test]
fn status_503_is_dropped_and_redispatched_as_under_haproxy() {
    let Some((h, r)) = with_mock("  option redispatch\n  retry-on 503\n", "2s", "status=503")
    else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 200);
    assert_eq!(r.server.as_deref(), Some("good"));
}

#[test]
fn status_503_without_redispatch_gives_the_last_503_as_under_haproxy() {
    let Some((h, r)) = with_mock("  retry-on 503\n", "2s", "status=503") else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 503);
}

#[test]
fn retry_on_none_never_retries_as_under_haproxy() {
    // An empty response: not retried.
    let Some((h, r)) = with_mock("  option redispatch\n  retry-on none\n", "2s", "drop") else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 502);
    // A refused connection: not retried either (nothing listens on the bad port).
    let closed = format!("127.0.0.1:{}", free_port());
    let Some((h, r)) = run(
        b"",
        "  option redispatch\n  retry-on none\n",
        "2s",
        &closed,
        &|| 0,
        &|| {},
    ) else {
        return;
    };
    same(&h, &r);
}

#[test]
fn default_retries_connection_failures_only_as_under_haproxy() {
    let Some((h, r)) = with_mock("  option redispatch\n", "2s", "drop") else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 502);
    let closed = format!("127.0.0.1:{}", free_port());
    let Some((h, r)) = run(b"", "  option redispatch\n", "2s", &closed, &|| 0, &|| {}) else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 200);
}

#[test]
fn empty_response_without_redispatch_stays_on_the_server_as_under_haproxy() {
    let Some((h, r)) = with_mock("  retry-on empty-response\n", "2s", "drop") else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 502);
}

#[test]
fn small_post_is_replayed_as_under_haproxy() {
    // A body that fits in a buffer is kept and sent again, to the other server.
    let Some((h, r)) = with_mock_body(
        b"hello",
        "  option redispatch\n  retry-on empty-response 503\n",
        "2s",
        "drop",
    ) else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 200);
    assert_eq!(r.server.as_deref(), Some("good"));
}

#[test]
fn post_without_redispatch_is_replayed_on_the_same_server_as_under_haproxy() {
    let Some((h, r)) = with_mock_body(&[b'x'; 4000], "  retry-on 503\n", "2s", "status=503") else {
        return;
    };
    same(&h, &r);
    assert_eq!(r.status, 503);
}

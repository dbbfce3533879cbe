//! `option httpchk` / `http-check`: the probe called directly against in-test servers
//! (request bytes, verdicts for every expect form and status class, timeouts, garbage),
//! and the request bytes compared byte for byte with what HAProxy 2.6 sends for the same
//! configuration.
//!
//! Facts observed with HAProxy 2.6.12 and pinned here (see also `src/runtime/checks/http`):
//! - a passing check is `L7OK` with the status as code and no info; a failing status rule
//!   (or the implicit 2xx/3xx one) is `L7STS` with code and the reason phrase as info (none
//!   when the phrase is empty); a 1xx answer is judged as the final status.
//! - a failing body rule is `L7RSP` "HTTP content check did not match", a negated one that
//!   matches `L7RSP` "HTTP check matched unwanted content", without a code. A body rule
//!   passes as soon as the pattern arrives; otherwise it waits for the end of the body.
//! - `disable-on-404` beats every expect rule: `L7OKC`, code 404, no info, for a running
//!   server; a stopped server's 404 is `L7STS`.
//! - an invalid status line, malformed header, or a close before the head is complete is
//!   `L7RSP` without info; a reset is `SOCKERR` "Connection reset by peer"; silence (or a
//!   head that never ends) is `L7TOUT`.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rproxy::runtime::checks::{CheckCtx, CheckStatus, Outcome, ServerView, http};

/// What the in-test server does once it has read the request.
#[derive(Clone)]
enum Act {
    /// Writes the bytes and closes.
    Reply(&'static [u8]),
    /// Writes the bytes and keeps the connection open until the check leaves.
    Hold(&'static [u8]),
    /// Writes the bytes and closes (for owned, computed answers).
    ReplyOwned(Vec<u8>),
    /// Closes without a word.
    Close,
    /// Closes with a reset.
    Reset,
    /// Says nothing, keeps the connection open until the check leaves.
    Silent,
}

/// A listener answering `conns` connections with `act`; each request's bytes come out
/// of the returned channel.
fn serve(act: Act, conns: usize) -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for _ in 0..conns {
            let Ok((mut s, _)) = l.accept() else { return };
            let act = act.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                let req = read_request(&mut s);
                let _ = tx.send(req);
                match act {
                    Act::Reply(b) => {
                        let _ = s.write_all(b);
                    }
                    Act::ReplyOwned(b) => {
                        let _ = s.write_all(&b);
                    }
                    Act::Hold(b) => {
                        let _ = s.write_all(b);
                        wait_gone(&mut s);
                    }
                    Act::Close => {}
                    Act::Reset => {
                        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                    }
                    Act::Silent => wait_gone(&mut s),
                }
            });
        }
    });
    (addr, rx)
}

/// Reads one request: up to the end of the head and the `content-length` body, or
/// until the client pauses.
fn read_request(s: &mut TcpStream) -> Vec<u8> {
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let clen = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + clen {
                return buf;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn wait_gone(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut b = [0u8; 256];
    while matches!(s.read(&mut b), Ok(n) if n > 0) {}
}

/// The backend `be` of `cfg`.
fn backend(cfg: &str) -> rproxy::model::Proxy {
    let env: HashMap<String, String> = HashMap::new();
    let loaded = rproxy::config::load_str("t.cfg", cfg, &env);
    assert!(loaded.is_valid(), "config refused: {:?}", loaded.diags.list);
    loaded
        .model
        .proxies
        .into_iter()
        .find(|p| p.name == "be")
        .expect("a proxy named be")
}

fn cfg_with(lines: &str, server_port: u16) -> String {
    format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         backend be\n{lines}\n  server s1 127.0.0.1:{server_port} check inter 200\n"
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the probe of `lines` once against a server doing `act`, within `budget`.
fn check_with(
    lines: &str,
    act: Act,
    budget: Duration,
    server: Option<ServerView>,
) -> (Outcome, Vec<u8>) {
    let (addr, rx) = serve(act, 1);
    let p = backend(&cfg_with(lines, addr.port()));
    let probe = http::probe(&p);
    let mut ctx = CheckCtx::new(addr, budget, None);
    ctx.server = server;
    let out = rt().block_on(probe.check(&ctx));
    let req = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    (out, req)
}

fn check(lines: &str, act: Act) -> Outcome {
    check_with(lines, act, Duration::from_secs(3), None).0
}

const HTTPCHK: &str = "  option httpchk";

#[test]
fn request_bytes_of_each_form() {
    let cases: &[(&str, &[u8])] = &[
        ("  option httpchk", b"OPTIONS / HTTP/1.0\r\n\r\n"),
        ("  option httpchk /ping", b"OPTIONS /ping HTTP/1.0\r\n\r\n"),
        (
            "  option httpchk HEAD /ping",
            b"HEAD /ping HTTP/1.0\r\n\r\n",
        ),
        (
            r"  option httpchk GET /p HTTP/1.1\r\nHost:\ www",
            b"GET /p HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n",
        ),
        (
            "  option httpchk\n  http-check send meth POST uri /h body hello",
            b"POST /h HTTP/1.0\r\ncontent-length: 5\r\n\r\nhello",
        ),
        (
            "  option httpchk GET /a HTTP/1.1\n  http-check send hdr X-Y y",
            b"GET /a HTTP/1.1\r\nx-y: y\r\nconnection: close\r\n\r\n",
        ),
    ];
    for (lines, want) in cases {
        let (out, req) = check_with(
            lines,
            Act::Reply(b"HTTP/1.0 200 OK\r\n\r\n"),
            Duration::from_secs(3),
            None,
        );
        assert_eq!(
            String::from_utf8_lossy(&req),
            String::from_utf8_lossy(want),
            "{lines}"
        );
        assert_eq!(out.status, CheckStatus::L7Ok, "{lines}");
    }
}

/// Verdicts: (config lines, answer, status, code, info).
#[test]
fn verdict_table() {
    type Case = (
        &'static str,
        &'static [u8],
        CheckStatus,
        Option<u32>,
        Option<&'static str>,
    );
    use CheckStatus::*;
    let st = "  option httpchk\n  http-check expect status 200,300-302";
    let nst = "  option httpchk\n  http-check expect ! status 500";
    let rst = "  option httpchk\n  http-check expect rstatus ^2";
    let nrst = "  option httpchk\n  http-check expect ! rstatus ^5";
    let s = "  option httpchk\n  http-check expect string foo";
    let ns = "  option httpchk\n  http-check expect ! string foo";
    let rs = "  option httpchk\n  http-check expect rstring f.o";
    let nrs = "  option httpchk\n  http-check expect ! rstring f.o";
    let two = "  option httpchk\n  http-check expect status 200\n  http-check expect string foo";
    let d404 = "  option httpchk\n  http-check disable-on-404\n  http-check expect status 200";
    let nf = "did not match";
    let unwanted = "matched unwanted content";
    let nobody = "could not find a response body";
    let cases: &[Case] = &[
        // The implicit rule: 2xx and 3xx pass.
        (HTTPCHK, b"HTTP/1.0 200 OK\r\n\r\n", L7Ok, Some(200), None),
        (
            HTTPCHK,
            b"HTTP/1.1 204 No Content\r\n\r\n",
            L7Ok,
            Some(204),
            None,
        ),
        (HTTPCHK, b"HTTP/1.0 301\r\n\r\n", L7Ok, Some(301), None),
        (HTTPCHK, b"HTTP/1.1 399 X\r\n\r\n", L7Ok, Some(399), None),
        (
            HTTPCHK,
            b"HTTP/1.0 404 Not Found\r\n\r\n",
            L7Sts,
            Some(404),
            Some("Not Found"),
        ),
        (
            HTTPCHK,
            b"HTTP/1.0 500 Multi word  reason\r\n\r\n",
            L7Sts,
            Some(500),
            Some("Multi word  reason"),
        ),
        (HTTPCHK, b"HTTP/1.0 503 \r\n\r\n", L7Sts, Some(503), None),
        (
            HTTPCHK,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            L7Sts,
            Some(100),
            Some("Continue"),
        ),
        (
            HTTPCHK,
            b"HTTP/1.0 2000 OK\r\n\r\n",
            L7Sts,
            Some(2000),
            Some("OK"),
        ),
        (HTTPCHK, b"\r\nHTTP/1.0 200 OK\n\n", L7Ok, Some(200), None),
        // Garbage and protocol errors.
        (HTTPCHK, b"garbage\r\n\r\n", L7Rsp, None, None),
        (HTTPCHK, b"HTTP/2 200 OK\r\n\r\n", L7Rsp, None, None),
        (HTTPCHK, b"http/1.1 200 OK\r\n\r\n", L7Rsp, None, None),
        (HTTPCHK, b"HTTP/1.0 abc OK\r\n\r\n", L7Rsp, None, None),
        (
            HTTPCHK,
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            L7Rsp,
            None,
            None,
        ),
        (
            HTTPCHK,
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            L7Rsp,
            None,
            None,
        ),
        (HTTPCHK, b"HTTP/1.0 200 OK\r\n", L7Rsp, None, None),
        (HTTPCHK, b"", L7Rsp, None, None),
        // status / rstatus, plain and negated.
        (st, b"HTTP/1.0 200 OK\r\n\r\n", L7Ok, Some(200), None),
        (st, b"HTTP/1.0 301 Moved\r\n\r\n", L7Ok, Some(301), None),
        (
            st,
            b"HTTP/1.0 303 See\r\n\r\n",
            L7Sts,
            Some(303),
            Some("See"),
        ),
        (
            st,
            b"HTTP/1.0 500 Bad thing\r\n\r\n",
            L7Sts,
            Some(500),
            Some("Bad thing"),
        ),
        (
            nst,
            b"HTTP/1.0 500 Bad thing\r\n\r\n",
            L7Sts,
            Some(500),
            Some("Bad thing"),
        ),
        (nst, b"HTTP/1.0 404 NF\r\n\r\n", L7Ok, Some(404), None),
        (rst, b"HTTP/1.0 204 X\r\n\r\n", L7Ok, Some(204), None),
        (
            rst,
            b"HTTP/1.0 500 Bad thing\r\n\r\n",
            L7Sts,
            Some(500),
            Some("Bad thing"),
        ),
        (
            nrst,
            b"HTTP/1.0 500 Bad thing\r\n\r\n",
            L7Sts,
            Some(500),
            Some("Bad thing"),
        ),
        (nrst, b"HTTP/1.0 404 NF\r\n\r\n", L7Ok, Some(404), None),
        // string / rstring: the status does not matter then.
        (
            s,
            b"HTTP/1.0 200 OK\r\n\r\nhello foo",
            L7Ok,
            Some(200),
            None,
        ),
        (
            s,
            b"HTTP/1.0 500 Err\r\n\r\nhello foo",
            L7Ok,
            Some(500),
            None,
        ),
        (
            s,
            b"HTTP/1.0 200 OK\r\n\r\nhello bar",
            L7Rsp,
            None,
            Some(nf),
        ),
        (s, b"HTTP/1.0 200 OK\r\n\r\n", L7Rsp, None, Some(nobody)),
        (
            ns,
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            L7Rsp,
            None,
            Some(nobody),
        ),
        (
            s,
            b"HTTP/1.0 200 OK\r\nContent-Length: 20\r\n\r\nhello foo",
            L7Ok,
            Some(200),
            None,
        ),
        (
            s,
            b"HTTP/1.0 200 OK\r\nContent-Length: 20\r\n\r\nhello bar",
            L7Rsp,
            None,
            Some(nf),
        ),
        (
            s,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            L7Rsp,
            None,
            None,
        ),
        (
            s,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nfo\r\n1\r\no\r\n0\r\n\r\n",
            L7Ok,
            Some(200),
            None,
        ),
        (
            s,
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbarfoo",
            L7Ok,
            Some(200),
            None,
        ),
        (
            ns,
            b"HTTP/1.0 200 OK\r\n\r\nfoo",
            L7Rsp,
            None,
            Some(unwanted),
        ),
        (ns, b"HTTP/1.0 200 OK\r\n\r\nbar", L7Ok, Some(200), None),
        (rs, b"HTTP/1.0 200 OK\r\n\r\nfxo", L7Ok, Some(200), None),
        (rs, b"HTTP/1.0 200 OK\r\n\r\nbar", L7Rsp, None, Some(nf)),
        (
            nrs,
            b"HTTP/1.0 200 OK\r\n\r\nfxo",
            L7Rsp,
            None,
            Some(unwanted),
        ),
        (nrs, b"HTTP/1.0 200 OK\r\n\r\nbar", L7Ok, Some(200), None),
        // Several rules, in order.
        (two, b"HTTP/1.0 200 OK\r\n\r\nbar", L7Rsp, None, Some(nf)),
        (
            two,
            b"HTTP/1.0 500 Err\r\n\r\nfoo",
            L7Sts,
            Some(500),
            Some("Err"),
        ),
        (two, b"HTTP/1.0 200 OK\r\n\r\nfoo", L7Ok, Some(200), None),
        // disable-on-404 beats the expect rules.
        (
            d404,
            b"HTTP/1.0 404 Not here\r\n\r\n",
            L7OkC,
            Some(404),
            None,
        ),
        (d404, b"HTTP/1.0 200 OK\r\n\r\n", L7Ok, Some(200), None),
        (
            d404,
            b"HTTP/1.0 500 Bad\r\n\r\n",
            L7Sts,
            Some(500),
            Some("Bad"),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (lines, answer, status, code, info)) in cases.iter().enumerate() {
        let out = check(lines, Act::Reply(answer));
        let info_ok = match (info, out.info.as_deref()) {
            (None, None) => true,
            (Some(w), Some(got)) => got.contains(w),
            _ => false,
        };
        if out.status != *status || out.code != *code || !info_ok {
            failures.push(format!(
                "case {i}: {lines:?} answered {:?}: got {:?} {:?} {:?}, want {status:?} {code:?} {info:?}",
                String::from_utf8_lossy(answer),
                out.status,
                out.code,
                out.info
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unapplied_matches_are_no_rules() {
    // `hdr` matches are accepted with a warning but not applied: only the other rules
    // (here none, so the implicit 2xx/3xx one) decide.
    let lines = "  option httpchk\n  http-check expect hdr name x-foo";
    let out = check(lines, Act::Reply(b"HTTP/1.0 200 OK\r\n\r\n"));
    assert_eq!((out.status, out.code), (CheckStatus::L7Ok, Some(200)));
}

#[test]
fn head_request_answer_has_no_body() {
    // An answer to HEAD carries a content-length but no body.
    // HAProxy then finds no body for a body rule, at once.
    let out = check(
        "  option httpchk HEAD /\n  http-check expect ! string x",
        Act::Hold(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
    );
    assert_eq!(out.status, CheckStatus::L7Rsp);
    assert_eq!(
        out.info.as_deref(),
        Some("HTTP content check could not find a response body")
    );
}

#[test]
fn head_is_enough_without_body_rules() {
    // The connection stays open and the body never ends: a status is judged at once.
    let out = check(HTTPCHK, Act::Hold(b"HTTP/1.0 200 OK\r\n\r\npartial"));
    assert_eq!((out.status, out.code), (CheckStatus::L7Ok, Some(200)));
    let out = check(
        "  option httpchk\n  http-check expect string foo",
        Act::Hold(b"HTTP/1.0 200 OK\r\n\r\nhello foo"),
    );
    assert_eq!(out.status, CheckStatus::L7Ok, "the pattern arrived");
    let out = check(
        "  option httpchk\n  http-check expect string foo",
        Act::Hold(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nhello bar"),
    );
    assert_eq!(out.status, CheckStatus::L7Rsp, "the body is complete");
}

#[test]
fn timeouts_and_resets() {
    let short = Duration::from_millis(300);
    let (o, _) = check_with(HTTPCHK, Act::Silent, short, None);
    assert_eq!(o.status, CheckStatus::L7Tout);
    let (o, _) = check_with(HTTPCHK, Act::Hold(b"HTTP/1.0 200 OK\r\n"), short, None);
    assert_eq!(o.status, CheckStatus::L7Tout, "head never ends");
    let (o, _) = check_with(HTTPCHK, Act::Hold(b"ICY"), short, None);
    assert_eq!(o.status, CheckStatus::L7Tout, "first line never ends");
    let (o, _) = check_with(HTTPCHK, Act::Hold(b"garbage\r\n"), short, None);
    assert_eq!(
        o.status,
        CheckStatus::L7Rsp,
        "a bad line is judged once complete"
    );
    let (o, _) = check_with(
        "  option httpchk\n  http-check expect string foo",
        Act::Hold(b"HTTP/1.0 200 OK\r\n\r\nhello bar"),
        short,
        None,
    );
    assert_eq!(o.status, CheckStatus::L7Tout, "body never ends");
    let (o, _) = check_with(
        "  option httpchk\n  http-check expect ! string foo",
        Act::Hold(b"HTTP/1.0 200 OK\r\n\r\nbar"),
        short,
        None,
    );
    assert_eq!(o.status, CheckStatus::L7Tout, "negated: body never ends");
    let o = check(HTTPCHK, Act::Close);
    assert_eq!((o.status, o.info), (CheckStatus::L7Rsp, None));
    let o = check(HTTPCHK, Act::Reset);
    assert_eq!(o.status, CheckStatus::SockErr);
    assert_eq!(o.info.as_deref(), Some("Connection reset by peer"));
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let p = backend(&cfg_with(HTTPCHK, refused.port()));
    let ctx = CheckCtx::new(refused, Duration::from_secs(1), None);
    let o = rt().block_on(http::probe(&p).check(&ctx));
    assert_eq!(o.status, CheckStatus::L4Con);
}

#[test]
fn oversized_answers() {
    // A head that does not fit the buffer is invalid.
    let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'p', 17000));
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        check(HTTPCHK, Act::ReplyOwned(big)).status,
        CheckStatus::L7Rsp
    );
    // A body is matched within what the buffer holds after the head: HAProxy matched a
    // pattern ending at byte 16243 of the body after this head, not one ending later.
    let body = |pad: usize| {
        let mut b = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", pad + 3).into_bytes();
        b.extend(std::iter::repeat_n(b'a', pad));
        b.extend_from_slice(b"foo");
        b
    };
    let s = "  option httpchk\n  http-check expect string foo";
    assert_eq!(
        check(s, Act::ReplyOwned(body(16240))).status,
        CheckStatus::L7Ok
    );
    let o = check(s, Act::ReplyOwned(body(16241)));
    assert_eq!(o.status, CheckStatus::L7Rsp);
    assert_eq!(o.info.as_deref(), Some("HTTP content check did not match"));
}

fn view(port: u16, running: bool, state: &str) -> ServerView {
    ServerView {
        state: state.into(),
        running,
        address: "127.0.0.1".into(),
        port,
        name: "be/s1".into(),
        node: "testnode".into(),
        weight: 1,
        total_weight: 1,
        scur: 0,
        total_scur: 0,
        qcur: 0,
    }
}

#[test]
fn disable_on_404_only_for_running_servers() {
    let lines = "  option httpchk\n  http-check disable-on-404";
    let (o, _) = check_with(
        lines,
        Act::Reply(b"HTTP/1.0 404 Not here\r\n\r\n"),
        Duration::from_secs(3),
        Some(view(1, false, "DOWN")),
    );
    assert_eq!(
        (o.status, o.code, o.info.as_deref()),
        (CheckStatus::L7Sts, Some(404), Some("Not here"))
    );
}

#[test]
fn send_state_header() {
    let lines = "  option httpchk\n  http-check send-state";
    let (_, req) = check_with(
        lines,
        Act::Reply(b"HTTP/1.0 200 OK\r\n\r\n"),
        Duration::from_secs(3),
        Some(view(8080, true, "UP 1/3")),
    );
    assert_eq!(
        String::from_utf8_lossy(&req),
        "OPTIONS / HTTP/1.0\r\nx-haproxy-server-state: UP 1/3; address=127.0.0.1; port=8080; \
         name=be/s1; node=testnode; weight=1/1; scur=0/0; qcur=0\r\n\r\n"
    );
    // Without the server's state the header is left out.
    let (_, req) = check_with(
        lines,
        Act::Reply(b"HTTP/1.0 200 OK\r\n\r\n"),
        Duration::from_secs(3),
        None,
    );
    assert_eq!(req, b"OPTIONS / HTTP/1.0\r\n\r\n");
}

/// The first check request HAProxy sends for `lines` (a backend `be` with one server
/// checked every 200 ms), and the one rproxy's probe sends.
fn both_requests(lines: &str) -> (Vec<u8>, Vec<u8>) {
    let (addr, rx) = serve(Act::Reply(b"HTTP/1.0 200 OK\r\n\r\n"), 100);
    let front = common::free_port();
    let cfg = format!(
        "global\n  node testnode\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         listen be\n  bind 127.0.0.1:{front}\n{lines}\n  server s1 127.0.0.1:{} check inter 200\n",
        addr.port()
    );
    let mut h = common::Proxy::start_haproxy(&cfg);
    let theirs = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("haproxy checks the server");
    h.stop();
    let p = backend(&cfg);
    let (ours_addr, ours_rx) = serve(Act::Reply(b"HTTP/1.0 200 OK\r\n\r\n"), 1);
    let mut ctx = CheckCtx::new(ours_addr, Duration::from_secs(3), None);
    // As HAProxy describes the server at its first check (one failure from down).
    ctx.server = Some(view(addr.port(), true, "UP 1/3"));
    rt().block_on(http::probe(&p).check(&ctx));
    let ours = ours_rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    (theirs, ours)
}

fn compare_with_haproxy(cases: &[&str]) {
    if !common::require(
        common::have_program("haproxy"),
        "haproxy is needed to compare check requests",
    ) {
        return;
    }
    let mut diffs = Vec::new();
    for lines in cases {
        let (theirs, ours) = both_requests(lines);
        if theirs != ours {
            diffs.push(format!(
                "{lines}\n  haproxy: {:?}\n  rproxy:  {:?}",
                String::from_utf8_lossy(&theirs),
                String::from_utf8_lossy(&ours)
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn side_by_side_option_httpchk_forms() {
    compare_with_haproxy(&[
        "  option httpchk",
        "  option httpchk /ping?x=1",
        "  option httpchk HEAD /ping",
        r"  option httpchk GET /p HTTP/1.1\r\nHost:\ www",
        "  option httpchk POST /p HTTP/1.1",
        r"  option httpchk POST / HTTP/1.0\r\nX-A:\ b\r\n\r\nbodytext",
    ]);
}

#[test]
fn side_by_side_http_check_send() {
    compare_with_haproxy(&[
        "  option httpchk\n  http-check send meth GET uri /health ver HTTP/1.1 hdr Host www.example.com hdr X-Foo bar",
        "  option httpchk\n  http-check send meth POST uri /h ver HTTP/1.1 hdr Connection keep-alive hdr content-length 99 body hello",
        "  option httpchk\n  http-check send ver HTTP/1.0 hdr X-A a hdr Connection keep-alive,\\ Upgrade hdr X-B b",
        "  option httpchk GET /a HTTP/1.1\n  http-check send hdr X-Y y hdr connection Close body zz\n  http-check send-state",
        "  option httpchk\n  http-check send meth PUT ver HTTP/2.0 hdr transfer-encoding chunked",
        "  option httpchk GET / HTTP/1.1\\r\\nHost:\\ www\\r\\nX-A:\\ b\n  http-check send hdr X-Y y",
        "  option httpchk GET / HTTP/1.1\\r\\nHost:\\ www\n  http-check send meth POST ver HTTP/1.0 body zz",
    ]);
}

/// `show stat` on HAProxy's stats socket: per `backend/server`, (check_status,
/// check_code, last_chk), once every server has a finished check.
fn haproxy_check_results(sock: &std::path::Path) -> Option<HashMap<String, [String; 3]>> {
    use std::os::unix::net::UnixStream;
    let mut s = UnixStream::connect(sock).ok()?;
    s.write_all(b"show stat\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n);
    let (st, code, info) = (col("check_status")?, col("check_code")?, col("last_chk")?);
    let mut out = HashMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() <= st.max(code).max(info) || f[1] == "BACKEND" || f[1] == "FRONTEND" {
            continue;
        }
        // `* ` marks a check in progress, whose code HAProxy may show as 0 meanwhile: a
        // later snapshot tells the settled verdict.
        if f[st].starts_with("* ") {
            return None;
        }
        let status = f[st].to_string();
        if status.is_empty() || status == "INI" {
            return None;
        }
        out.insert(
            format!("{}/{}", f[0], f[1]),
            [status, f[code].to_string(), f[info].to_string()],
        );
    }
    Some(out)
}

/// The verdicts HAProxy reaches on its first check of each answer, compared with the
/// probe's (status, code and info as the stats page shows them).
#[test]
fn side_by_side_verdicts() {
    if !common::require(
        common::have_program("haproxy"),
        "haproxy is needed to compare check verdicts",
    ) {
        return;
    }
    let rules: &[&str] = &[
        "  option httpchk",
        "  option httpchk\n  http-check expect ! rstatus ^5\n  http-check expect string foo",
        "  option httpchk\n  http-check expect status 200-299\n  http-check expect ! rstring err.r",
        "  option httpchk\n  http-check disable-on-404\n  http-check expect status 200",
        "  option httpchk HEAD /\n  http-check expect ! string x",
        "  option httpchk GET / HTTP/1.1\n  http-check expect ! rstatus ^[45]",
    ];
    let answers: &[Act] = &[
        Act::Reply(b"HTTP/1.0 200 OK\r\n\r\nfoo"),
        Act::Reply(b"HTTP/1.1 302 Found\r\nContent-Length: 3\r\n\r\nbar"),
        Act::Reply(b"HTTP/1.0 404 Not Found\r\n\r\n"),
        Act::Reply(b"HTTP/1.0 503 Service Unavailable\r\n\r\nerror"),
        Act::Reply(b"HTTP/1.0 200 OK\r\n\r\nan error"),
        Act::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Act::Reply(b"garbage\r\n\r\n"),
        Act::Reply(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
        Act::Reply(b"HTTP/1.0 099 \r\n\r\n"),
        Act::Reply(b"\r\nHTTP/1.1 204\nX: a\n b\n\n"),
        Act::Reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nfo\r\n1\r\no\r\n0\r\n\r\n",
        ),
        Act::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nfoo"),
        Act::Reply(b"HTTP/1.1 200 OK\r\n"),
        Act::Hold(b"HTTP/1.1 200 OK\r\n\r\nfo"),
        Act::Close,
        Act::Reset,
        Act::Silent,
    ];
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stats.sock");
    let front = common::free_port();
    let mut cfg = format!(
        "global\n  stats socket {} level admin\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend fe\n  bind 127.0.0.1:{front}\n  default_backend b0\n",
        sock.display()
    );
    for (bi, lines) in rules.iter().enumerate() {
        cfg.push_str(&format!("backend b{bi}\n{lines}\n"));
        for (ai, act) in answers.iter().enumerate() {
            let (addr, _rx) = serve(act.clone(), 100);
            cfg.push_str(&format!(
                "  server s{ai} 127.0.0.1:{} check inter 400\n",
                addr.port()
            ));
        }
    }
    let mut h = common::Proxy::start_haproxy(&cfg);
    let mut theirs = None;
    common::eventually(Duration::from_secs(5), || {
        theirs = haproxy_check_results(&sock);
        theirs.is_some()
    });
    h.stop();
    let theirs = theirs.expect("haproxy finished a check of every server");

    // The same answers, to rproxy's probe with the same 400 ms budget.
    let mut diffs = Vec::new();
    for (bi, lines) in rules.iter().enumerate() {
        for (ai, act) in answers.iter().enumerate() {
            let (out, _) = check_with(lines, act.clone(), Duration::from_millis(400), None);
            let ours = [
                out.status.code().to_string(),
                out.code.map(|c| c.to_string()).unwrap_or_default(),
                out.info.clone().unwrap_or_default(),
            ];
            let key = format!("b{bi}/s{ai}");
            let t = theirs.get(&key).cloned().unwrap_or_default();
            // HAProxy shows code 0 where there is none.
            let t_code = if t[1] == "0" {
                String::new()
            } else {
                t[1].clone()
            };
            if [&t[0], &t_code, &t[2]] != [&ours[0], &ours[1], &ours[2]] {
                diffs.push(format!("{key} ({lines:?}): haproxy {t:?}, rproxy {ours:?}"));
            }
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

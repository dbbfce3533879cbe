//! Health checks over TLS (`check-ssl`, a server's `ssl`, `tcp-check connect ssl`) through
//! the real binary, side by side with HAProxy 2.6.12: both proxies check the same origins
//! at once and the first verdict each logs for every server (reason, code, info) must be
//! the same.
//!
//! Origins: `openssl s_server -www` (answers HTTP over TLS) with certificates the test
//! makes (a CA, a leaf it signed for `check.example`, a second CA with its own leaf), a
//! plain HTTP server, a listener that never speaks, and a closed port; one origin asks
//! for a client certificate (`crt`).

mod common;
mod tls_util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::ports::{free_port, refused_port};
use common::proxy::{Engine, Proxy, eventually};
use common::sbs::require_haproxy;
use common::{have_program, require};
use tls_util::{SServer, Serve, make_pki};

/// A plain HTTP server that, as a real one does, answers bytes that are no request (a
/// TLS ClientHello) with a 400 and closes; runs until the test process ends.
fn plain_http() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut b = [0u8; 4096];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

fn prerequisites() -> bool {
    require(have_program("openssl"), "openssl not installed") && require_haproxy()
}

const HEAD: &str = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  \
                    timeout server 5s\n  option log-health-checks\nfrontend f\n  bind \
                    127.0.0.1:{{FE}}\n  default_backend b1\n";

/// Every server's first logged verdict: `backend/server` → the line from "succeeded" or
/// "failed" on, check duration removed.
fn verdicts(stderr: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in stderr.lines() {
        let Some(rest) = l.split_once("Health check for server ").map(|x| x.1) else {
            continue;
        };
        let Some((who, what)) = rest.split_once(' ') else {
            continue;
        };
        let what = match what.find(", check duration: ") {
            Some(i) => &what[..i],
            None => what,
        };
        m.entry(who.to_string()).or_insert_with(|| what.to_string());
    }
    m
}

/// Runs `body` (backends after [`HEAD`]) under both proxies until each has judged every
/// server in `servers`; returns (haproxy's, rproxy's) verdicts.
fn both(
    global: &str,
    body: &str,
    servers: &[&str],
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let cfg = |e: Engine| {
        let c = format!("{global}{HEAD}{body}").replace("{{FE}}", &free_port().to_string());
        Proxy::start_engine(e, &c)
    };
    let h = cfg(Engine::Haproxy);
    let r = cfg(Engine::Rproxy);
    let done = |p: &Proxy| {
        let v = verdicts(&p.stderr_text());
        servers.iter().all(|s| v.contains_key(*s))
    };
    let ok = eventually(Duration::from_secs(6), || done(&h) && done(&r));
    assert!(
        ok,
        "not every server was judged\n--- haproxy:\n{}\n--- rproxy:\n{}",
        h.stderr_text(),
        r.stderr_text()
    );
    (verdicts(&h.stderr_text()), verdicts(&r.stderr_text()))
}

const CHK: &str = "check inter 200 fall 2 rise 1";

/// `check-ssl verify none`: the handshake alone passes (`Layer6 check passed`), an
/// `option httpchk` over it is `L7OK`; a plain HTTP server behind `check-ssl` fails the
/// handshake (`L6RSP`, "SSL handshake failure"), a closed port stays `L4CON`.
#[test]
fn check_ssl_verify_none_and_a_plain_server_match_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::Leaf);
    let plain = plain_http();
    let closed = refused_port();
    let (t, p) = (tls.port, plain);
    let body = format!(
        "backend b1\n  server tls 127.0.0.1:{t} {CHK} check-ssl verify none\n  \
         server plain 127.0.0.1:{p} {CHK} check-ssl verify none\n  \
         server closed 127.0.0.1:{closed} {CHK} check-ssl verify none\n\
         backend b2\n  option httpchk GET /\n  \
         server tls 127.0.0.1:{t} {CHK} check-ssl verify none\n  \
         server plain 127.0.0.1:{p} {CHK} check-ssl verify none\n"
    );
    let (h, r) = both(
        "",
        &body,
        &["b1/tls", "b1/plain", "b1/closed", "b2/tls", "b2/plain"],
    );
    assert_eq!(r["b1/tls"], "succeeded, reason: Layer6 check passed");
    assert_eq!(
        r["b1/plain"],
        "failed, reason: Layer6 invalid response, info: \"SSL handshake failure\""
    );
    assert_eq!(
        r["b2/tls"],
        "succeeded, reason: Layer7 check passed, code: 200"
    );
    assert_eq!(h, r);
}

/// `verify required` (stated, or HAProxy's default) against `ca-file`: the right CA
/// passes, another CA fails the handshake; a `check-sni` the certificate does not carry
/// is HAProxy's "different from the expected one", a `verifyhost` it does not carry
/// "different from the configured one"; global `ssl-server-verify none` turns
/// the default off.
#[test]
fn verification_against_ca_file_matches_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::Leaf);
    let t = tls.port;
    let (ca, other) = (pki.p("ca.pem"), pki.p("other.pem"));
    let body = format!(
        "backend b1\n  \
         server right 127.0.0.1:{t} {CHK} check-ssl verify required ca-file {ca}\n  \
         server dflt 127.0.0.1:{t} {CHK} check-ssl ca-file {ca}\n  \
         server wrong 127.0.0.1:{t} {CHK} check-ssl verify required ca-file {other}\n  \
         server name 127.0.0.1:{t} {CHK} check-ssl ca-file {ca} check-sni check.example\n  \
         server badname 127.0.0.1:{t} {CHK} check-ssl ca-file {ca} check-sni bad.example\n  \
         server host 127.0.0.1:{t} {CHK} check-ssl ca-file {ca} verifyhost bad.example\n"
    );
    let all = [
        "b1/right",
        "b1/dflt",
        "b1/wrong",
        "b1/name",
        "b1/badname",
        "b1/host",
    ];
    let (h, r) = both("", &body, &all);
    assert_eq!(r["b1/right"], "succeeded, reason: Layer6 check passed");
    assert_eq!(r["b1/dflt"], "succeeded, reason: Layer6 check passed");
    assert_eq!(
        r["b1/wrong"],
        "failed, reason: Layer6 invalid response, info: \"SSL handshake failure\""
    );
    assert_eq!(
        r["b1/badname"],
        "failed, reason: Layer6 invalid response, info: \"Server presented an SSL \
         certificate different from the expected one\""
    );
    assert_eq!(
        r["b1/host"],
        "failed, reason: Layer6 invalid response, info: \"Server presented an SSL \
         certificate different from the configured one\""
    );
    assert_eq!(h, r);

    // Verification off for every server by default.
    let body = format!(
        "backend b1\n  server any 127.0.0.1:{t} {CHK} check-ssl ca-file {other}\n  \
         server on 127.0.0.1:{t} {CHK} check-ssl verify required ca-file {other}\n"
    );
    let (h, r) = both(
        "global\n  ssl-server-verify none\n",
        &body,
        &["b1/any", "b1/on"],
    );
    assert_eq!(r["b1/any"], "succeeded, reason: Layer6 check passed");
    assert_eq!(h, r);
}

/// `check-sni` is sent: the origin serves the certificate signed by `ca` only to a client
/// asking for `check.example`, another one (signed by `other`) otherwise.
#[test]
fn check_sni_is_sent_as_by_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::BySni);
    let t = tls.port;
    let (ca, other) = (pki.p("ca.pem"), pki.p("other.pem"));
    let body = format!(
        "backend b1\n  option httpchk GET /\n  \
         server sni 127.0.0.1:{t} {CHK} check-ssl ca-file {ca} check-sni check.example\n  \
         server nosni 127.0.0.1:{t} {CHK} check-ssl ca-file {ca}\n  \
         server othersni 127.0.0.1:{t} {CHK} check-ssl ca-file {other} check-sni no.example\n  \
         server othernone 127.0.0.1:{t} {CHK} check-ssl ca-file {other}\n"
    );
    let all = ["b1/sni", "b1/nosni", "b1/othersni", "b1/othernone"];
    let (h, r) = both("", &body, &all);
    assert_eq!(
        r["b1/sni"],
        "succeeded, reason: Layer7 check passed, code: 200"
    );
    assert_eq!(
        r["b1/nosni"],
        "failed, reason: Layer6 invalid response, info: \"SSL handshake failure\""
    );
    assert_eq!(
        r["b1/othernone"],
        "succeeded, reason: Layer7 check passed, code: 200"
    );
    assert_eq!(h, r);
}

/// `tcp-check connect ssl` uses the server's TLS options; a plain `tcp-check connect`
/// stays in clear even with `check-ssl`, `connect default` follows `check-ssl`, and the
/// implicit first connect does too.
#[test]
fn tcp_check_connect_ssl_matches_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::Leaf);
    let plain = plain_http();
    let (t, p) = (tls.port, plain);
    let other = pki.p("other.pem");
    let get = "tcp-check send \"GET / HTTP/1.0\\r\\n\\r\\n\"\n  tcp-check expect string HTTP/1.0\n";
    let body = format!(
        "backend b1\n  option tcp-check\n  tcp-check connect ssl\n  \
         server only 127.0.0.1:{t} {CHK} verify none\n  \
         server wrongca 127.0.0.1:{t} {CHK} ca-file {other}\n\
         backend b2\n  option tcp-check\n  tcp-check connect ssl\n  {get}  \
         server tls 127.0.0.1:{t} {CHK} verify none\n  \
         server plain 127.0.0.1:{p} {CHK} verify none\n\
         backend b3\n  option tcp-check\n  {get}  \
         server implicit 127.0.0.1:{t} {CHK} check-ssl verify none\n\
         backend b4\n  option tcp-check\n  tcp-check connect\n  {get}  \
         server clear 127.0.0.1:{t} {CHK} check-ssl verify none\n\
         backend b5\n  option tcp-check\n  tcp-check connect default\n  \
         server dflt 127.0.0.1:{t} {CHK} check-ssl verify none\n"
    );
    let all = [
        "b1/only",
        "b1/wrongca",
        "b2/tls",
        "b2/plain",
        "b3/implicit",
        "b4/clear",
        "b5/dflt",
    ];
    let (h, r) = both("", &body, &all);
    assert_eq!(
        r["b1/only"],
        "succeeded, reason: Layer6 check passed, info: \"(tcp-check)\""
    );
    assert_eq!(
        r["b2/plain"],
        "failed, reason: Layer6 invalid response, info: \"SSL handshake failure at step 1 \
         of tcp-check (connect)\""
    );
    assert_eq!(h, r);
}

/// A server that never answers the ClientHello: `Layer6 timeout` within the connect
/// budget; a server's `ssl` makes its checks TLS unless `port` sends them elsewhere or
/// `no-check-ssl` says not to; `check-ssl` from `default-server` applies.
#[test]
fn handshake_timeout_and_ssl_servers_match_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::Leaf);
    let plain = plain_http();
    // Accepted by the kernel, never read: the handshake gets no answer.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let s = silent.local_addr().expect("addr").port();
    let (t, p) = (tls.port, plain);
    let body = format!(
        "backend b1\n  \
         server silent 127.0.0.1:{s} check inter 500 fall 2 rise 1 check-ssl verify none\n  \
         server ssl 127.0.0.1:{t} {CHK} ssl verify none\n  \
         server sslport 127.0.0.1:{t} {CHK} ssl verify none port {p}\n\
         backend b2\n  default-server check-ssl verify none\n  \
         server off 127.0.0.1:{t} {CHK} ssl no-check-ssl\n  \
         server dflt 127.0.0.1:{t} {CHK}\n"
    );
    let all = ["b1/silent", "b1/ssl", "b1/sslport", "b2/off", "b2/dflt"];
    let (h, r) = both("", &body, &all);
    assert_eq!(r["b1/silent"], "failed, reason: Layer6 timeout");
    assert_eq!(r["b1/ssl"], "succeeded, reason: Layer6 check passed");
    assert_eq!(r["b1/sslport"], "succeeded, reason: Layer4 check passed");
    assert_eq!(r["b2/off"], "succeeded, reason: Layer4 check passed");
    assert_eq!(r["b2/dflt"], "succeeded, reason: Layer6 check passed");
    assert_eq!(h, r);
    drop(silent);
}

/// `crt`: the check presents a client certificate. The origin insists on one; over TLS
/// 1.3 it says so only after the client's handshake is done, so a bare handshake passes
/// either way and an `option httpchk` without `crt` fails on the origin's alert.
#[test]
fn client_certificate_matches_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::ClientCert);
    let t = tls.port;
    let crt = pki.p("leafkey.pem");
    let body = format!(
        "backend b1\n  server crt 127.0.0.1:{t} {CHK} check-ssl verify none crt {crt}\n  \
         server nocrt 127.0.0.1:{t} {CHK} check-ssl verify none\n\
         backend b2\n  option httpchk GET /\n  \
         server crt 127.0.0.1:{t} {CHK} check-ssl verify none crt {crt}\n  \
         server nocrt 127.0.0.1:{t} {CHK} check-ssl verify none\n"
    );
    let (h, r) = both("", &body, &["b1/crt", "b1/nocrt", "b2/crt", "b2/nocrt"]);
    assert_eq!(
        r["b2/crt"],
        "succeeded, reason: Layer7 check passed, code: 200"
    );
    assert_eq!(
        r["b2/nocrt"],
        "failed, reason: Socket error, info: \"SSL fatal error\""
    );
    assert_eq!(h, r);
}

/// With `fall 1 rise 1` a passing check cannot move the counter, yet HAProxy logs the
/// first verdict (and any verdict whose status differs from the last one).
#[test]
fn a_check_that_moves_nothing_is_logged_on_a_new_status() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let tls = SServer::start(&pki, Serve::Leaf);
    let t = tls.port;
    let body = format!(
        "backend b1\n  server tls 127.0.0.1:{t} check inter 200 fall 1 rise 1 check-ssl verify none\n  \
         server tcp 127.0.0.1:{t} check inter 200 fall 1 rise 1\n"
    );
    let (h, r) = both("", &body, &["b1/tls", "b1/tcp"]);
    assert_eq!(r["b1/tls"], "succeeded, reason: Layer6 check passed");
    assert_eq!(r["b1/tcp"], "succeeded, reason: Layer4 check passed");
    assert_eq!(h, r);
}

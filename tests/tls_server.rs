//! TLS to servers (`server ... ssl verify none|required ca-file F sni EXPR`) in HTTP mode
//! through the real binary, side by side with HAProxy 2.6.12: the same requests through
//! both proxies to `openssl s_server -www` origins must get the same status.
//!
//! The SNI sent is observed on the origin through the certificate it picks: one origin
//! presents `leaf` (signed by `ca`, for `check.example`) only to clients that ask for
//! `check.example`, else `dflt` (signed by `other`); verifying against `ca.pem` then
//! succeeds only when that SNI was sent.

mod common;
mod tls_util;

use common::ports::free_port;
use common::sbs::{fill, require_haproxy, side_by_side};
use common::{have_program, require};
use tls_util::{Pki, SServer, Serve, make_pki};

fn prerequisites() -> bool {
    require(have_program("openssl"), "openssl not installed") && require_haproxy()
}

/// One `listen` per case, each on its own port `{{Pn}}`; `{{LEAF}}`/`{{BYSNI}}` are the
/// origins, `{{CA}}`/`{{OTHER}}` the CA files.
const CASES: &str = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  \
    timeout server 5s\n  retries 0\n\
listen none\n  bind 127.0.0.1:{{P0}}\n  server s 127.0.0.1:{{LEAF}} ssl verify none\n\
listen good_ca\n  bind 127.0.0.1:{{P1}}\n  server s 127.0.0.1:{{LEAF}} ssl verify required ca-file {{CA}}\n\
listen wrong_ca\n  bind 127.0.0.1:{{P2}}\n  server s 127.0.0.1:{{LEAF}} ssl verify required ca-file {{OTHER}}\n\
listen sni_const\n  bind 127.0.0.1:{{P3}}\n  server s 127.0.0.1:{{BYSNI}} ssl verify required ca-file {{CA}} sni str(check.example)\n\
listen no_sni\n  bind 127.0.0.1:{{P4}}\n  server s 127.0.0.1:{{BYSNI}} ssl verify required ca-file {{CA}}\n\
listen sni_host\n  bind 127.0.0.1:{{P5}}\n  server s 127.0.0.1:{{BYSNI}} ssl verify required ca-file {{CA}} sni req.hdr(host)\n\
listen sni_mismatch\n  bind 127.0.0.1:{{P6}}\n  server s 127.0.0.1:{{LEAF}} ssl verify required ca-file {{CA}} sni str(wrong.example)\n\
listen alpn\n  bind 127.0.0.1:{{P7}}\n  server s 127.0.0.1:{{LEAF}} ssl verify none alpn http/1.1\n";

/// Every case's status under haproxy and rproxy: the same, and the expected ones.
#[test]
fn server_ssl_verify_and_sni_match_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let leaf = SServer::start(&pki, Serve::Leaf);
    let bysni = SServer::start(&pki, Serve::BySni);
    let cfg = fill(
        CASES,
        &[
            ("LEAF", &leaf.port.to_string()),
            ("BYSNI", &bysni.port.to_string()),
            ("CA", &pki.p("ca.pem")),
            ("OTHER", &pki.p("other.pem")),
        ],
    );
    // (port index, Host header, expected status)
    let cases: &[(usize, &str, u16)] = &[
        (0, "a.example", 200),
        (1, "a.example", 200),
        (2, "a.example", 503),
        (3, "a.example", 200),
        (4, "a.example", 503),
        (5, "check.example", 200),
        (5, "default.example", 503),
        (6, "a.example", 503),
        (7, "a.example", 200),
    ];
    let (h, r) = side_by_side(&cfg, |side| {
        cases
            .iter()
            .map(|(i, host, _)| {
                side.request_to(*i, "GET", "/", &[("Host", host)], b"")
                    .map(|resp| resp.status)
                    .unwrap_or(0)
            })
            .collect::<Vec<u16>>()
    });
    let want: Vec<u16> = cases.iter().map(|c| c.2).collect();
    assert_eq!(h, want, "haproxy's statuses (cases: {cases:?})");
    assert_eq!(r, want, "rproxy's statuses (cases: {cases:?})");
}

/// The origin's page comes through whole over a server TLS connection, and several
/// requests in a row each get it (s_server closes after each answer).
#[test]
fn server_ssl_body_comes_through() {
    if !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let pki = make_pki();
    let leaf = SServer::start(&pki, Serve::Leaf);
    let fe = free_port();
    let _p = common::proxy::Proxy::start(&format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
         listen l\n  bind 127.0.0.1:{fe}\n  server s 127.0.0.1:{} ssl verify none\n",
        leaf.port
    ));
    for _ in 0..3 {
        let r = common::client::Conn::open(common::ports::local(fe))
            .request("GET", "/", &[("Host", "a"), ("Connection", "close")], b"")
            .expect("response");
        assert_eq!(r.status, 200);
        // s_server -www's page names the cipher in use.
        let body = r.body_text();
        assert!(body.contains("Cipher"), "body: {body}");
    }
}

/// A TLS origin that keeps connections alive: haproxy terminating TLS and answering
/// with the source port of the connection (which connection carried the request), the
/// SNI received and the ALPN protocol agreed.
fn keepalive_origin(pki: &Pki) -> (common::proxy::Proxy, u16) {
    let port = free_port();
    let p = common::proxy::Proxy::start_haproxy(&format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  \
         timeout server 5s\nfrontend o\n  bind 127.0.0.1:{port} ssl crt {} alpn h2,http/1.1\n  \
         http-request return status 200 content-type text/plain string ok \
         hdr x-src-port %[src_port] hdr x-sni %[ssl_fc_sni] hdr x-alpn %[ssl_fc_alpn]\n",
        pki.p("leafkey.pem")
    ));
    (p, port)
}

/// Server TLS connections are kept and reused (a client's keep-alive requests ride one
/// of them), and reused only for requests sending the same SNI (`sni req.hdr(host)`):
/// the SNI the origin sees is as under haproxy; keep-alive requests with one SNI share
/// a connection, and no connection carries two SNIs. (Where haproxy 2.6 opens a new
/// connection for the last request, rproxy takes the idle one of the same SNI: both
/// are allowed by `http-reuse always`.)
#[test]
fn server_tls_connections_are_reused_per_sni_as_by_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let (_origin, oport) = keepalive_origin(&pki);
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  \
         timeout server 5s\n  http-reuse always\nlisten l\n  bind 127.0.0.1:{{{{P0}}}}\n  \
         server s 127.0.0.1:{oport} ssl verify none sni req.hdr(host)\n"
    );
    let hosts = [
        "a.example",
        "a.example",
        "b.example",
        "a.example",
        "b.example",
    ];
    let (h, r) = side_by_side(&cfg, |side| {
        let mut c = side.conn(0);
        let mut seen: Vec<(String, usize)> = Vec::new();
        let mut ports: Vec<String> = Vec::new();
        for host in hosts {
            let resp = c
                .request("GET", "/", &[("Host", host)], b"")
                .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
            assert_eq!(resp.status, 200, "{}", side.name());
            let port = resp.header("x-src-port").unwrap_or_default().to_string();
            // Which server connection, numbered in order of first use.
            let n = ports.iter().position(|p| *p == port).unwrap_or_else(|| {
                ports.push(port.clone());
                ports.len() - 1
            });
            seen.push((resp.header("x-sni").unwrap_or_default().to_string(), n));
        }
        seen
    });
    assert_eq!(
        h.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        hosts.to_vec(),
        "haproxy: {h:?}"
    );
    let snis = |v: &Vec<(String, usize)>| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        snis(&r),
        snis(&h),
        "SNI seen by the origin: rproxy vs haproxy"
    );
    // The first two (same SNI, back to back) rode one connection under both.
    assert_eq!(
        (r[0].1, r[1].1),
        (h[0].1, h[1].1),
        "rproxy: {r:?} haproxy: {h:?}"
    );
    assert_eq!(r[0].1, r[1].1, "rproxy: {r:?}");
    for (sni, n) in &r {
        assert!(
            r.iter().all(|(s2, n2)| n2 != n || s2 == sni),
            "a connection carried two SNIs: {r:?}"
        );
    }
}

/// `mode tcp` with `ssl` on the server line (verify off by the global
/// `ssl-server-verify none`): the client speaks plain bytes, the origin TLS; the page
/// comes back as through haproxy.
#[test]
fn tcp_mode_server_ssl_as_through_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let leaf = SServer::start(&pki, Serve::Leaf);
    let cfg = format!(
        "global\n  ssl-server-verify none\ndefaults\n  mode tcp\n  timeout connect 2s\n  \
         timeout client 5s\n  timeout server 5s\nlisten l\n  bind 127.0.0.1:{{{{P0}}}}\n  \
         server s 127.0.0.1:{} ssl\n",
        leaf.port
    );
    let (h, r) = side_by_side(&cfg, |side| {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(side.addr(0)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        (
            text.lines().next().unwrap_or_default().to_string(),
            text.contains("Cipher"),
        )
    });
    assert!(h.0.starts_with("HTTP/1.0 200") && h.1, "haproxy: {h:?}");
    assert_eq!(r, h, "rproxy vs haproxy");
}

/// `ssl` with the default `verify required` and no `ca-file`: HAProxy refuses the
/// configuration; rproxy says so at start and fails every handshake (503), never
/// trusting the server unverified.
#[test]
fn verify_required_without_ca_file_is_said_and_fails_closed() {
    if !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let pki = make_pki();
    let leaf = SServer::start(&pki, Serve::Leaf);
    let fe = free_port();
    let p = common::proxy::Proxy::start(&format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  \
         timeout server 5s\n  retries 0\nlisten l\n  bind 127.0.0.1:{fe}\n  \
         server s 127.0.0.1:{} ssl\n",
        leaf.port
    ));
    let r = common::client::Conn::open(common::ports::local(fe))
        .request("GET", "/", &[("Host", "a"), ("Connection", "close")], b"")
        .expect("response");
    assert_eq!(r.status, 503);
    let err = p.stderr_text();
    assert!(
        err.contains("server 's'") && err.contains("no ca-file"),
        "stderr: {err}"
    );
}

/// `alpn http/1.1` on the server line is offered and agreed (the origin offers h2 too);
/// without `alpn` none is offered — as by haproxy.
#[test]
fn alpn_offered_to_servers_as_by_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let (_origin, oport) = keepalive_origin(&pki);
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  \
         timeout server 5s\nlisten with\n  bind 127.0.0.1:{{{{P0}}}}\n  \
         server s 127.0.0.1:{oport} ssl verify none alpn http/1.1\nlisten without\n  \
         bind 127.0.0.1:{{{{P1}}}}\n  server s 127.0.0.1:{oport} ssl verify none\n"
    );
    let (h, r) = side_by_side(&cfg, |side| {
        (0..2)
            .map(|i| {
                let resp = side
                    .request_to(i, "GET", "/", &[], b"")
                    .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
                (
                    resp.status,
                    resp.header("x-alpn").unwrap_or_default().to_string(),
                )
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(
        h,
        vec![(200, "http/1.1".to_string()), (200, String::new())],
        "haproxy"
    );
    assert_eq!(r, h, "rproxy vs haproxy");
}

/// An in-test TLS server (rustls, one thread per connection) that reads until the
/// client's close, then answers with how many bytes it got.
fn tls_count_server(pki: &Pki) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    let certs = CertificateDer::pem_file_iter(pki.path("leaf.pem"))
        .expect("leaf.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(pki.path("leaf.key")).expect("leaf.key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let config = std::sync::Arc::new(config);
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut n = 0usize;
                let mut b = vec![0u8; 65536];
                loop {
                    match s.read(&mut b) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(_) => return,
                    }
                }
                let _ = s.write_all(format!("got {n} bytes\n").as_bytes());
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    port
}

/// `mode tcp` to a TLS server: 4 MiB from the client arrive whole, and the client's
/// half-close reaches the server as a TLS close, whose answer still comes back — as
/// through haproxy.
#[test]
fn tcp_mode_tls_upload_and_half_close_as_through_haproxy() {
    if !prerequisites() {
        return;
    }
    let pki = make_pki();
    let srv = tls_count_server(&pki);
    let cfg = format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  \
         timeout server 5s\nlisten l\n  bind 127.0.0.1:{{{{P0}}}}\n  \
         server s 127.0.0.1:{srv} ssl verify none\n"
    );
    let data = vec![b'z'; 4 << 20];
    let (h, r) = side_by_side(&cfg, |side| {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(side.addr(0)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        c.write_all(&data).expect("write");
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    assert_eq!(h, format!("got {} bytes\n", 4 << 20), "haproxy");
    assert_eq!(r, h, "rproxy vs haproxy");
}

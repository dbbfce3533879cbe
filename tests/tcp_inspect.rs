//! `tcp-request inspect-delay` and `tcp-request content accept|reject` in `mode tcp`, with
//! `req.len`, `req.payload`, `req.ssl_hello_type` and `req.ssl_sni`; SNI routing of TLS
//! passthrough. Side by side with haproxy 2.6 where it can run the same config.
//!
//! HAProxy 2.6.12 facts these tests pin (observed when writing them):
//! - A rule whose condition fails on `req.len` (always "may change") or on a fetch that
//!   lacks bytes waits for more data, until `inspect-delay` expires; then the rules are
//!   evaluated once more on what arrived (`reject` at the end applies then).
//! - A connection with no matching rule is accepted; the buffered bytes reach the server
//!   first, unchanged.
//! - `use_backend ... if { req.ssl_sni -i NAME }` routes by the ClientHello's server name
//!   once a rule (`accept if { req.ssl_hello_type 1 }`) waited for it.

mod common;
use common::payload::{client_hello, exchange};
use common::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULTS: &str =
    "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

#[test]
fn payload_rules_wait_accept_and_reject_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let srv = TcpMock::with_greeting(b"G:");
    let t = format!(
        "{DEFAULTS}\
         frontend f1\n  bind 127.0.0.1:{{{{P0}}}}\n  tcp-request inspect-delay 1s\n\
         \x20 tcp-request content accept if {{ req.len ge 8 }}\n  tcp-request content reject\n  default_backend b\n\
         frontend f2\n  bind 127.0.0.1:{{{{P1}}}}\n  tcp-request inspect-delay 1s\n\
         \x20 tcp-request content reject if {{ req.payload(0,4) -m bin 42414421 }}\n\
         \x20 tcp-request content accept if {{ req.payload(4,2) -m bin 4f4b }}\n\
         \x20 tcp-request content reject\n  default_backend b\n\
         frontend f3\n  bind 127.0.0.1:{{{{P2}}}}\n  tcp-request inspect-delay 1s\n\
         \x20 tcp-request content reject if {{ req.payload(0,3) -m str bad }}\n  default_backend b\n\
         backend b\n  server s {}\n",
        srv.addr_str()
    );
    let cases: Vec<(usize, Vec<&[u8]>)> = vec![
        // Waits for the 8th byte, then forwards all of them.
        (0, vec![b"abc", b"defgh"]),
        // Never 8 bytes: rejected when the delay expires.
        (0, vec![b"abc"]),
        (1, vec![b"BA", b"D!xx"]),
        (1, vec![b"xxxx", b"OK"]),
        (1, vec![b"xxxx", b"NO"]),
        (1, vec![b"xxx"]),
        // No rule matches: accepted at once.
        (2, vec![b"good"]),
        (2, vec![b"bad!"]),
    ];
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for (fe, parts) in &cases {
            let want = 2 + parts.iter().map(|p| p.len()).sum::<usize>();
            let t0 = Instant::now();
            let got = exchange(s.addr(*fe), parts, want);
            // Whether the answer waited for the inspect delay (1 s) or not.
            let waited = t0.elapsed() >= Duration::from_millis(900);
            out.push(format!("{} waited={waited}", String::from_utf8_lossy(&got)));
        }
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h[0], "G:abcdefgh waited=false");
    assert_eq!(h[1], " waited=true");
    assert_eq!(h[2], " waited=false");
    assert_eq!(h[3], "G:xxxxOK waited=false");
    assert_eq!(h[6], "G:good waited=false");
    assert_eq!(h[7], " waited=false");
}

fn sni_config(a: &str, b: &str, d: &str, port: &str) -> String {
    format!(
        "{DEFAULTS}frontend ft\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 2s\n\
         \x20 tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20 use_backend ba if {{ req.ssl_sni -i a.example.com }}\n\
         \x20 use_backend bb if {{ req_ssl_sni -i b.example.com }}\n\
         \x20 default_backend bd\n\
         backend ba\n  server s {a}\n\
         backend bb\n  server s {b}\n\
         backend bd\n  server s {d}\n"
    )
}

#[test]
fn sni_routing_with_a_built_client_hello_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (a, b, d) = (
        TcpMock::with_greeting(b"A"),
        TcpMock::with_greeting(b"B"),
        TcpMock::with_greeting(b"D"),
    );
    let t = sni_config(&a.addr_str(), &b.addr_str(), &d.addr_str(), "{{P0}}");
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for name in ["a.example.com", "B.EXAMPLE.COM", "c.example.com"] {
            let hello = client_hello(name);
            // In one write, and split in two (the rule waits for the rest).
            for split in [hello.len(), 20] {
                let got = exchange(
                    s.addr(0),
                    &[&hello[..split], &hello[split..]],
                    1 + hello.len(),
                );
                assert_eq!(&got[1..], &hello[..], "{} {name}", s.name());
                out.push(format!("{name}:{}", got[0] as char));
            }
        }
        // Not TLS: no rule matches, accepted at once, to the default backend.
        let got = exchange(s.addr(0), &[b"hello"], 6);
        out.push(String::from_utf8_lossy(&got).into_owned());
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(
        h,
        [
            "a.example.com:A",
            "a.example.com:A",
            "B.EXAMPLE.COM:B",
            "B.EXAMPLE.COM:B",
            "c.example.com:D",
            "c.example.com:D",
            "Dhello"
        ]
    );
}

/// An `openssl s_server` with a certificate for `cn`; killed on drop.
struct TlsOrigin {
    child: Child,
    port: u16,
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_origin(dir: &Path, cn: &str) -> Option<TlsOrigin> {
    let pem = dir.join(format!("{cn}.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(&pem)
        .arg("-out")
        .arg(dir.join(format!("{cn}.crt")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join(format!("{cn}.crt")))
        .arg("-key")
        .arg(&pem)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let o = TlsOrigin { child, port };
    wait_listening(&[port]).then_some(o)
}

/// The subject of the certificate `openssl s_client` got through `port` asking for `sni`.
fn subject_via(port: u16, sni: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", sni])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .map(|s| s.replace(' ', ""))
        .unwrap_or_default()
}

#[test]
fn sni_routing_of_real_tls_passthrough() {
    if !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (Some(a), Some(b)) = (
        tls_origin(dir.path(), "a.example.com"),
        tls_origin(dir.path(), "b.example.com"),
    ) else {
        panic!("openssl s_server did not start");
    };
    let port = free_port();
    let stats = free_port();
    // The seed's passthrough: `option ssl-hello-chk` checks both TLS origins.
    let (oa, ob) = (
        format!("127.0.0.1:{} check inter 200", a.port),
        format!("127.0.0.1:{} check inter 200", b.port),
    );
    let cfg = sni_config(&oa, &ob, &ob, &port.to_string())
        .replace("  server s ", "  option ssl-hello-chk\n  server s ")
        + &format!(
            "listen st\n  mode http\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /st\n"
        );
    let _p = Proxy::start(&cfg);
    assert_eq!(subject_via(port, "a.example.com"), "CN=a.example.com");
    assert_eq!(subject_via(port, "b.example.com"), "CN=b.example.com");
    // An unknown name goes to the default backend (b's origin here).
    assert_eq!(subject_via(port, "zzz.example.com"), "CN=b.example.com");
    // The SSL hello checks pass against the real origins (L6OK in the stats CSV).
    let mut last = String::new();
    let ok = eventually(Duration::from_secs(5), || {
        last = http_get(("127.0.0.1", stats), "/st;csv").body_text();
        let l6 = last
            .lines()
            .filter(|l| l.contains(",s,") && l.contains(",L6OK,"))
            .count();
        l6 == 3
    });
    assert!(ok, "servers not checked L6OK:\n{last}");
}

#[test]
fn content_rules_in_an_http_frontend_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let t = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
             frontend fe\n  bind 127.0.0.1:{{P0}}\n  tcp-request inspect-delay 1s\n\
             \x20 tcp-request content reject if { path /deny }\n\
             \x20 tcp-request content reject if { req.hdr(x-bad) -m found }\n\
             \x20 http-request return status 200 content-type text/plain lf-string \"ok %[path]\"\n\
             frontend fe2\n  bind 127.0.0.1:{{P1}}\n  tcp-request content reject if { src 127.0.0.1 }\n\
             \x20 http-request return status 200 content-type text/plain string ok\n";
    let (h, r) = side_by_side(t, |s| {
        let mut out = Vec::new();
        for (port, raw) in [
            (
                0,
                "GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
            (
                0,
                "GET /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
            (
                0,
                "GET /h HTTP/1.1\r\nHost: x\r\nX-Bad: 1\r\nConnection: close\r\n\r\n",
            ),
            (1, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ] {
            let got = send_raw_timeout(s.addr(port), raw.as_bytes(), Duration::from_secs(3));
            let text = String::from_utf8_lossy(&got).into_owned();
            out.push(
                text.lines().next().unwrap_or("").to_string()
                    + "|"
                    + text.split("\r\n\r\n").nth(1).unwrap_or(""),
            );
        }
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h[0], "HTTP/1.1 200 OK|ok /fine");
    assert_eq!(h[1], "|");
}

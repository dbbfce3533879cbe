//! `tcp-request content set-log-level <level>|silent`, side by side with haproxy 2.6: in a
//! `mode tcp` frontend over the first bytes (the rule goes on to the next one; a later
//! reject keeps the level), and in a `mode http` frontend per request. The lines are
//! compared with their syslog priority (local0: 128 + severity).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use common::TcpMock;
use common::lognorm::{self, Sub, with_log_and_server};
use common::sbs::{fill, require_haproxy, side_by_side};
use common::syslog::Syslog;

/// `<PRI> message` of an RFC 3164 line, with ports, dates, timers and byte counts
/// normalised.
fn pri_msg(line: &str) -> String {
    let pri = lognorm::pri(line).unwrap_or("?");
    let subs: &[Sub] = &[
        lognorm::PORT,
        lognorm::DATE_NO_ZONE,
        (r" -?\d+/-?\d+/-?\d+/-?\d+/-?\d+ (\d{3}) \d+ ", " T $1 B "),
        (r" -?\d+/-?\d+/-?\d+ \d+ ", " T B "),
        // A request refused before any server: only its total time, racy by a millisecond.
        (r" -1/-1/-1/-1/\d+ ", " -1/-1/-1/-1/T "),
        // The connection counts race with the release of the previous (silent)
        // connection, on haproxy as on rproxy; the levels are what is compared.
        (r" (\S\S|\S{4}) \d+/\d+/\d+/\d+/\d+ ", " $1 CONNS "),
    ];
    format!("{pri} {}", lognorm::apply(lognorm::message(line), subs))
}

/// Sends `bytes`, half-closes and reads until the proxy closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(3))).ok();
    let _ = c.write_all(bytes);
    let _ = c.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

#[test]
fn tcp_mode_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let echo = TcpMock::echo();
    let t = fill(
        "
defaults
    mode tcp
    log {{LOG}} local0
    option tcplog
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}}
    tcp-request inspect-delay 1s
    tcp-request content set-log-level err if { req.payload(0,4) -m str ERR! }
    tcp-request content set-log-level silent if { req.payload(0,4) -m str SIL! }
    tcp-request content set-log-level notice if { req.payload(0,4) -m str REJ! }
    tcp-request content reject if { req.payload(0,4) -m str REJ! }
    tcp-request content set-log-level debug if { req.payload(0,4) -m str ERR! }
    tcp-request content accept if { req.len gt 0 }
    tcp-request content set-log-level alert
    default_backend be
backend be
    server s1 {{SRV}}
",
        &[("LOG", &log.addr()), ("SRV", &echo.addr_str())],
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        let mut v = Vec::new();
        for payload in ["plain", "ERR!1", "SIL!2", "REJ!3"] {
            let got = exchange(side.addr(0), payload.as_bytes());
            if payload.starts_with("REJ") {
                assert!(got.is_empty(), "{}: {got:?}", side.name());
            } else {
                assert_eq!(got, payload.as_bytes(), "{}", side.name());
            }
            if !payload.starts_with("SIL") {
                v.push(format!("{payload}: {}", pri_msg(&log.next())));
            }
        }
        // Nothing came for SIL!: the line after ERR!'s was REJ!'s.
        assert!(log.next_within(Duration::from_millis(200)).is_none());
        v
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    let pris: Vec<&str> = r
        .iter()
        .map(|l| &l[..l.find(' ').unwrap_or(0) + 4])
        .collect();
    // plain: accepted before the last rule is reached (info); ERR!: the later `debug`
    // rule, still before the accept, overrides `err`; REJ!: the level set before the
    // reject.
    assert_eq!(pris, ["plain: 134", "ERR!1: 135", "REJ!3: 133"], "{r:?}");
}

#[test]
fn http_mode_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(
        "
defaults
    mode http
    log {{LOG}} local0
    option httplog
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}}
    tcp-request content set-log-level err if { path /err }
    tcp-request content set-log-level silent if { path /silent }
    tcp-request content set-log-level warning if { path /deny }
    tcp-request content reject if { path /deny }
    http-request set-log-level notice if { path /err } { hdr(x-override) yes }
    default_backend be
backend be
    server s1 {{SRV}}
",
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        let mut v = Vec::new();
        for (path, hd) in [
            ("/plain", None),
            ("/err", None),
            ("/silent", None),
            ("/err", Some(("x-override", "yes"))),
        ] {
            let hd: Vec<(&str, &str)> = hd.into_iter().collect();
            let resp = side.request("GET", path, &hd, b"").expect("request");
            assert_eq!(resp.status, 200, "{}", side.name());
            if path != "/silent" {
                v.push(pri_msg(&log.next()));
            }
        }
        assert!(log.next_within(Duration::from_millis(200)).is_none());
        // A rejected request: the connection closes, the line keeps the level.
        let got = exchange(
            side.addr(0),
            b"GET /deny HTTP/1.1\r\nHost: sbs.test\r\nConnection: close\r\n\r\n",
        );
        v.push(format!("deny: {} bytes", got.len()));
        v.push(pri_msg(&log.next()));
        v
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    let pris: Vec<&str> = r.iter().map(|l| &l[..3]).collect();
    assert_eq!(pris, ["134", "131", "133", "den", "132"], "{r:?}");
}

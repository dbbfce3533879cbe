//! More traffic-log options, each side by side with haproxy 2.6 on the same configuration
//! and traffic (lines compared after normalising times, ports, pids and byte counts):
//! `option httpslog`, `unique-id-format` with `unique-id-header` and `%ID`,
//! `http-request`/`http-response set-log-level`, the server connection's addresses
//! (`%bi %bp %si %sp`) and queue positions (`%sq %bq`), `option logasap` and
//! `error-log-format`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::lognorm::{self, with_log_and_server};
use common::sbs::{fill, require_haproxy, side_by_side};
use common::syslog::Syslog;
use common::{header_if, send_raw_timeout};

/// The message of an RFC 3164 line (after `TAG[PID]: `) and its `<PRI>`.
fn split(line: &str) -> (u32, String) {
    let pri = lognorm::pri(line).and_then(|p| p.parse().ok()).unwrap_or(0);
    (pri, lognorm::message(line).to_string())
}

/// Replaces what differs between two runs: ports, dates, timers (-1 kept), byte counts,
/// hexadecimal ports and times in unique ids.
fn normalise(msg: &str) -> String {
    lognorm::apply(
        msg,
        &[
            lognorm::PORT,
            lognorm::DATE,
            (
                r" (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+) (\d{3}) \d+ ",
                " T/T/T/T/T $6 B ",
            ),
            (r" \d+/\d+/(\d+)/(\d+)/(\+?\d+) ", " A/F/$1/$2/$3 "),
        ],
    )
}

fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    send_raw_timeout(addr, bytes, Duration::from_secs(3))
}

/// The start most configurations here share: `mode http`, the syslog target, short
/// timeouts and frontend `fe` on `{{P0}}` (a macro, so that `concat!` keeps each
/// configuration one literal).
macro_rules! fe_head {
    () => {
        "
defaults
    mode http
    log {{LOG}} local0
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}}
"
    };
}

#[test]
fn httpslog_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(concat!(
        fe_head!(),
        "    log-format \"overridden %ci\"
    option httpslog
    capture request header Host len 20
    default_backend be
backend be
    server s1 {{SRV}}
"
    ));
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        let mut v = Vec::new();
        for path in ["/a", "/b?x=1"] {
            assert_eq!(side.get(path).status, 200);
            v.push(normalise(&split(&log.next()).1));
        }
        v
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert!(
        r[0].ends_with("\"GET /a HTTP/1.1\" 0/-/-/-/0 -/-/-"),
        "{r:?}"
    );
}

#[test]
fn unique_id_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, srv, t) = with_log_and_server(concat!(
        fe_head!(),
        "    unique-id-format %{+X}o\\ %ci_%fi_%HM
    unique-id-header X-Unique-ID
    log-format \"id=%ID %ST\"
    default_backend be
frontend fe2
    bind 127.0.0.1:{{P1}}
    unique-id-format %{+X}o\\ %ci-%fi
    log-format \"id=%ID %ST\"
    default_backend be
frontend fe3
    bind 127.0.0.1:{{P2}}
    log-format \"id=%ID %ST\"
    default_backend be
backend be
    server s1 {{SRV}}
"
    ));
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        let res = side.get("/u");
        assert_eq!(res.status, 200);
        let seen = srv
            .last()
            .and_then(|r| r.header("x-unique-id").map(str::to_string))
            .unwrap_or_default();
        let l1 = split(&log.next()).1;
        // Without a header, the id is still made for the log.
        side.request_to(1, "GET", "/v", &[], b"").expect("fe2");
        let l2 = split(&log.next()).1;
        // Without unique-id-format, `%ID` logs `-`.
        side.request_to(2, "GET", "/w", &[], b"").expect("fe3");
        let l3 = split(&log.next()).1;
        // A request that never parsed: the id is made at log time from what is known.
        raw(side.addr(1), b"BAD\r\n\r\n");
        let l4 = split(&log.next()).1;
        vec![seen, l1, l2, l3, l4]
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(r[0], "7F000001_7F000001_GET");
    assert_eq!(r[1], "id=7F000001_7F000001_GET 200");
    assert_eq!(r[2], "id=7F000001-7F000001 200");
    assert_eq!(r[3], "id=- 200");
}

#[test]
fn set_log_level_side_by_side() {
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
    http-request set-log-level err if { path /err }
    http-request set-log-level silent if { path /silent }
    http-response set-log-level notice if { status 404 }
    default_backend be
backend be
    http-request set-log-level debug if { path /debug }
    server s1 {{SRV}}
",
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        let mut v = Vec::new();
        for (path, mock) in [
            ("/plain", ""),
            ("/err", ""),
            ("/silent", ""),
            ("/debug", ""),
            ("/missing", "status=404"),
        ] {
            side.request("GET", path, &header_if("x-mock", mock), b"")
                .expect("request");
            if path != "/silent" {
                let (pri, msg) = split(&log.next());
                v.push(format!("{pri} {}", normalise(&msg)));
            }
        }
        // Nothing came for /silent: the next line was /debug's.
        assert!(log.next_within(Duration::from_millis(200)).is_none());
        v
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    let pris: Vec<&str> = r.iter().map(|l| &l[..3]).collect();
    assert_eq!(pris, ["134", "131", "135", "133"]);
}

#[test]
fn server_addresses_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, srv, t) = with_log_and_server(concat!(
        fe_head!(),
        "    log-format \"%bi:%bp %si:%sp %sq/%bq %{+X}bi\"
    default_backend be
backend be
    server s1 {{SRV}}
"
    ));
    let srv_port = srv.addr_str().rsplit(':').next().unwrap_or("").to_string();
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        side.get("/");
        let msg = split(&log.next()).1;
        // The local port of the server connection is the one the server saw.
        let peer = srv.last().map(|r| r.peer.port()).unwrap_or(0);
        let bp: u16 = msg
            .split(' ')
            .next()
            .and_then(|f| f.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        assert_eq!(bp, peer, "{}: {msg}", side.name());
        assert!(msg.contains(&format!(" 127.0.0.1:{srv_port} ")), "{msg}");
        normalise(&msg)
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(r, "127.0.0.1:PORT 127.0.0.1:PORT 0/0 7F000001");
}

#[test]
fn logasap_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(concat!(
        fe_head!(),
        "    option logasap
    log-format \"%ST %B %Ta %Tt %U\"
    default_backend be
backend be
    server s1 {{SRV}}
"
    ));
    let re = regex::Regex::new(r"\d+").expect("regex");
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        // A body that takes a while: the line comes before its end.
        let mut c = TcpStream::connect(side.addr(0)).expect("connect");
        c.write_all(
            b"GET / HTTP/1.1\r\nhost: x\r\nx-mock: body=100000\r\nconnection: close\r\n\r\n",
        )
        .expect("send");
        let msg = split(&log.next()).1;
        let mut rest = Vec::new();
        c.set_read_timeout(Some(Duration::from_secs(3))).ok();
        let _ = c.read_to_end(&mut rest);
        // One line per transaction.
        assert!(log.next_within(Duration::from_millis(200)).is_none());
        re.replace_all(&msg, "N").into_owned()
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(r, "N +N +N +N N");
}

#[test]
fn error_log_format_side_by_side() {
    if !require_haproxy()
        || !common::require(common::have_program("openssl"), "openssl not installed")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = common::make_ec_pem(dir.path()).expect("openssl req failed");
    let log = Syslog::new();
    let t = fill(
        "
defaults
    mode http
    log {{LOG}} local0
    option httplog
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}} ssl crt {{PEM}}
    error-log-format \"E %ci [%tr] %ft %ST\"
    default_backend be
backend be
",
        &[("LOG", &log.addr()), ("PEM", &pem.display().to_string())],
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        raw(side.addr(0), b"GET / HTTP/1.0\r\n\r\n");
        let (pri, msg) = split(&log.next());
        format!("{pri} {}", normalise(&msg))
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
}

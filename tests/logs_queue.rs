//! Queue positions in traffic logs (`%sq` server queue, `%bq` backend queue), side by side
//! with haproxy 2.6: `maxconn 1` servers behind a slow mock, requests sent one by one once
//! the previous one is seen waiting (the stats CSV's `qcur`), so that both engines queue
//! them in the same order. HAProxy logs one more than the requests its queue served
//! between the arrival and the leaving (served or `timeout queue`), 0 when not queued.

mod common;

use std::time::Duration;

use common::lognorm;
use common::queue::queue_up;
use common::sbs::{fill, require_haproxy, side_by_side};
use common::syslog::Syslog;
use common::{MockServer, http_get};

/// Replaces what differs between runs or engines: ports, dates, timers, byte counts and
/// the server's concurrent connections (racy in haproxy: it depends on whether the next
/// request already connected when the line is written).
fn normalise(msg: &str) -> String {
    lognorm::apply(
        msg,
        &[
            lognorm::PORT,
            lognorm::DATE_NO_ZONE,
            (
                r" -?\d+/-?\d+/-?\d+/-?\d+/-?\d+ (\d{3}) \d+ ",
                " T/T/T/T/T $1 B ",
            ),
            (r" -?\d+/-?\d+/-?\d+ \d+ ", " T/T/T B "),
            (r" (\d+)/(\d+)/(\d+)/\d+/(\d+) ", " $1/$2/$3/S/$4 "),
        ],
    )
}

/// The next `n` log lines, normalised and sorted by request (they come in serving order).
fn lines(log: &Syslog, n: usize) -> Vec<String> {
    let mut v: Vec<String> = log.messages(n).iter().map(|m| normalise(m)).collect();
    v.sort_by_key(|l| l.find("\"GET ").map(|i| l[i..].to_string()));
    v
}

const STATS: &str = "
listen stats
    bind 127.0.0.1:{{P1}}
    mode http
    no log
    stats enable
    stats uri /stats
";

#[test]
fn httplog_backend_queue_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let srv = MockServer::builder("s1")
        .delay(Duration::from_millis(250))
        .start();
    let t = fill(
        &format!(
            "
defaults
    mode http
    log {{{{LOG}}}} local0
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{P0}}}}
    default_backend be
backend be
    server s1 {{{{SRV}}}} maxconn 1
{STATS}"
        ),
        &[("LOG", &log.addr()), ("SRV", &srv.addr_str())],
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(50));
        let st = queue_up(
            side.addr(0),
            side.addr(1),
            &srv,
            "be",
            &["/a", "/b", "/c", "/d"],
            &[],
        );
        assert_eq!(st, [200; 4], "{}", side.name());
        lines(&log, 4)
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    let tail: Vec<&str> = r.iter().map(|l| &l[l.len() - 26..]).collect();
    assert!(r[0].contains(" 0/0 \"GET /a HTTP/1.1\""), "{r:?}");
    assert!(r[1].contains(" 0/1 \"GET /b HTTP/1.1\""), "{tail:?}");
    assert!(r[2].contains(" 0/2 \"GET /c HTTP/1.1\""), "{tail:?}");
    assert!(r[3].contains(" 0/3 \"GET /d HTTP/1.1\""), "{tail:?}");
}

#[test]
fn server_queue_and_log_format_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let s1 = MockServer::builder("s1")
        .delay(Duration::from_millis(250))
        .start();
    let s2 = MockServer::start("s2");
    // `balance uri` keeps one URI on its server: the requests wait in that server's queue.
    let t = fill(
        &format!(
            "
defaults
    mode http
    log {{{{LOG}}}} local0
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{P0}}}}
    log-format \"%{{+Q}}r sq=%sq bq=%bq s=%s\"
    default_backend be
backend be
    balance uri
    hash-type consistent
    server s1 {{{{S1}}}} maxconn 1
    server s2 {{{{S2}}}} maxconn 1
{STATS}"
        ),
        &[
            ("LOG", &log.addr()),
            ("S1", &s1.addr_str()),
            ("S2", &s2.addr_str()),
        ],
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(50));
        // Which URI the hash sends to the slow server: probe until one lands there.
        let uri = (0..40)
            .map(|i| format!("/u{i}"))
            .find(|u| {
                let before = s1.requests();
                http_get(side.addr(0), u).status == 200 && s1.requests() > before
            })
            .expect("a URI hashed to s1");
        log.drain(Duration::from_millis(50));
        let paths = [uri.as_str(); 4];
        let st = queue_up(side.addr(0), side.addr(1), &s1, "be", &paths, &[]);
        assert_eq!(st, [200; 4], "{}", side.name());
        let mut v = log.messages(4);
        v.iter_mut().for_each(|l| *l = l.replace(&uri, "/U"));
        v
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(
        r,
        [
            "\"GET /U HTTP/1.1\" sq=0 bq=0 s=s1",
            "\"GET /U HTTP/1.1\" sq=1 bq=0 s=s1",
            "\"GET /U HTTP/1.1\" sq=2 bq=0 s=s1",
            "\"GET /U HTTP/1.1\" sq=3 bq=0 s=s1",
        ]
    );
}

#[test]
fn tcplog_and_queue_timeout_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let srv = MockServer::builder("s1")
        .delay(Duration::from_millis(800))
        .start();
    let tcp_srv = MockServer::builder("s2")
        .delay(Duration::from_millis(200))
        .start();
    // /a is served for 800 ms; /b waits for it and is served next; /c arrives while /b
    // waits and gives up (`timeout queue`) before /b is done, one request served since
    // it came: both engines log it at position 2, with a 503 and `sQ`.
    let t = fill(
        &format!(
            "
defaults
    log {{{{LOG}}}} local0
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{P0}}}}
    mode http
    option httplog
    default_backend be
frontend fet
    bind 127.0.0.1:{{{{P2}}}}
    mode tcp
    option tcplog
    default_backend bet
backend be
    mode http
    timeout queue 1100ms
    server s1 {{{{SRV}}}} maxconn 1
backend bet
    mode tcp
    server s2 {{{{TSRV}}}} maxconn 1
{STATS}"
        ),
        &[
            ("LOG", &log.addr()),
            ("SRV", &srv.addr_str()),
            ("TSRV", &tcp_srv.addr_str()),
        ],
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(50));
        let st = queue_up(
            side.addr(0),
            side.addr(1),
            &srv,
            "be",
            &["/a", "/b", "/c"],
            &[],
        );
        assert_eq!(st, [200, 200, 503], "{}", side.name());
        let mut v = lines(&log, 3);
        // TCP: the same requests, carried as bytes (logged at the connection's end).
        let st = queue_up(
            side.addr(2),
            side.addr(1),
            &tcp_srv,
            "bet",
            &["/a", "/b"],
            &[],
        );
        assert_eq!(st, [200, 200], "{}", side.name());
        let mut t = lines(&log, 2);
        // Both have the same text once normalised: tell them apart by order of arrival.
        t.sort_by_key(|l| l.ends_with(" 0/1"));
        v.extend(t);
        v
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert!(r[0].contains(" 0/0 \"GET /a "), "{r:?}");
    assert!(r[2].contains(" 503 B - - sQ-- "), "{r:?}");
    assert!(r[2].contains(" 0/2 \"GET /c "), "{r:?}");
    assert!(r[3].ends_with(" 0/0"), "{r:?}");
    assert!(r[4].ends_with(" 0/1"), "{r:?}");
}

//! Balancing counters of queued requests, side by side with haproxy 2.6: `lbtot` counts a
//! server the balancing chose, at the moment it chose it, so a request the balancing put
//! in a server's queue counts even when it later times out there, while a request that
//! waited in the backend's queue (no server chosen yet) or in the queue of the server its
//! cookie named does not count when a server takes it. `stot` counts each one served.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::queue::queue_up;
use common::sbs::{fill, require_haproxy, side_by_side};
use common::{MockServer, http_get, try_http_get};

/// Stats CSV rows of backend `be` as `svname qcur stot lbtot` (header names looked up).
fn counters(stats: SocketAddr, be: &str) -> Vec<String> {
    let Ok(r) = try_http_get(stats, "/stats;csv") else {
        return Vec::new();
    };
    let text = r.body_text();
    let mut lines = text.lines();
    let names: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |n: &str| names.iter().position(|c| *c == n);
    let (Some(sv), Some(st), Some(lb)) = (col("svname"), col("stot"), col("lbtot")) else {
        return Vec::new();
    };
    lines
        .filter(|l| l.starts_with(&format!("{be},")))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let g = |i: usize| f.get(i).copied().unwrap_or("?");
            format!("{} stot={} lbtot={}", g(sv), g(st), g(lb))
        })
        .collect()
}

const STATS: &str = "
listen stats
    bind 127.0.0.1:{{P1}}
    mode http
    no log
    stats enable
    stats uri /stats
";

fn template(backend: &str, vars: &[(&str, &str)]) -> String {
    fill(
        &format!(
            "
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{P0}}}}
    default_backend be
backend be
{backend}
{STATS}"
        ),
        vars,
    )
}

#[test]
fn backend_queue_does_not_count_lbtot() {
    if !require_haproxy() {
        return;
    }
    let s1 = MockServer::builder("s1")
        .delay(Duration::from_millis(200))
        .start();
    let t = template("    server s1 {{S1}} maxconn 1", &[("S1", &s1.addr_str())]);
    let (h, r) = side_by_side(&t, |side| {
        let st = queue_up(side.addr(0), side.addr(1), &s1, "be", &["/a"; 4], &[]);
        assert_eq!(st, [200; 4], "{}", side.name());
        counters(side.addr(1), "be")
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
}

#[test]
fn cookie_named_queue_does_not_count_lbtot() {
    if !require_haproxy() {
        return;
    }
    let s1 = MockServer::builder("s1")
        .delay(Duration::from_millis(200))
        .start();
    let s2 = MockServer::start("s2");
    let t = template(
        "    cookie SRV insert indirect nocache
    server s1 {{S1}} maxconn 1 cookie s1
    server s2 {{S2}} maxconn 1 cookie s2",
        &[("S1", &s1.addr_str()), ("S2", &s2.addr_str())],
    );
    let (h, r) = side_by_side(&t, |side| {
        let st = queue_up(
            side.addr(0),
            side.addr(1),
            &s1,
            "be",
            &["/a"; 4],
            &[("Cookie", "SRV=s1")],
        );
        assert_eq!(st, [200; 4], "{}", side.name());
        counters(side.addr(1), "be")
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
}

#[test]
fn server_queue_counts_lbtot_when_chosen() {
    if !require_haproxy() {
        return;
    }
    let s1 = MockServer::builder("s1")
        .delay(Duration::from_millis(300))
        .start();
    let s2 = MockServer::start("s2");
    // `balance uri` keeps one URI on its server: the requests wait in its queue, and with
    // `timeout queue` shorter than the slow answers, the last ones give up there.
    let t = template(
        "    balance uri
    hash-type consistent
    timeout queue 450ms
    server s1 {{S1}} maxconn 1
    server s2 {{S2}} maxconn 1",
        &[("S1", &s1.addr_str()), ("S2", &s2.addr_str())],
    );
    let (h, r) = side_by_side(&t, |side| {
        let uri = (0..40)
            .map(|i| format!("/u{i}"))
            .find(|u| {
                let before = s1.requests();
                http_get(side.addr(0), u).status == 200 && s1.requests() > before
            })
            .expect("a URI hashed to s1");
        let mut st = queue_up(
            side.addr(0),
            side.addr(1),
            &s1,
            "be",
            &[uri.as_str(); 4],
            &[],
        );
        st.sort();
        (st, counters(side.addr(1), "be"))
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
}

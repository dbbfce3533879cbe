//! Connection retries and redispatch side by side with HAProxy 2.6.12: a backend of three
//! servers one of which (`s2`) refuses connections (a closed port on 127.0.0.1), under
//! `roundrobin`, `static-rr`, `leastconn`, `first` and `uri` hashes, with `retries` and
//! `option redispatch [interval]` in their variants, with and without health checks, in
//! HTTP and TCP mode, and with `retry-on`. Requests are sent one after the other; each test
//! compares, per backend, which live server answered each request (the mocks name
//! themselves) and the stats CSV columns `stot`, `lbtot`, `wretr`, `wredis`, `econ` and
//! `connect` of every server and of the backend.
//!
//! HAProxy facts pinned here (observed with 2.6.12 on loopback):
//! * With `option redispatch` (any interval, 0 included) and a backend not balanced by a
//!   hash over several active servers, every retry is redispatched at once: the balancing
//!   runs again "avoiding" the failed server, which loses its turn (round robin moves past
//!   it rather than forgetting it), and no pause is made.
//! * Otherwise a retry stays on the same server after a pause of min(1 s, `timeout
//!   connect`), except at the `redispatch` interval (-1: the last retry), where it is
//!   redispatched at once.
//! * A redispatch is counted (`wredis` of the failed server and of the backend) only when
//!   the balancing chose another server; when it chose the same one again (a map-based
//!   hash does), it counts as a retry (`wretr`), as does every retry on the same server.
//!   `lbtot` counts a server chosen by the balancing, not one chosen again; a server's
//!   `stot` counts every connection attempt; `econ` only the attempt given up.
//! * A `retry-on` retry (here an empty response) counts once in `wretr` of the server and
//!   the backend, then like a connection retry: once more in `wretr` when it stays on the
//!   server, else as a redispatch (or retry) once the next server is known.

mod balance_util;
mod common;

use std::collections::HashMap;
use std::time::Duration;

use balance_util::*;
use common::*;

/// The columns compared for every server and backend row.
const FIELDS: &[&str] = &["stot", "lbtot", "wretr", "wredis", "econ", "connect"];

/// A CSV row by column name.
type Row = HashMap<String, String>;

/// Whether an engine's stats say the test may start.
type Ready = dyn Fn(&[Row]) -> bool;

fn parse_csv(text: &str) -> Vec<Row> {
    let mut lines = text.lines();
    let names: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            names
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// What one engine did for one backend: where each request went, then
/// `svname field=value ...` for each row of the backend.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    answers: Vec<String>,
    counters: Vec<String>,
}

fn counters_of(rows: &[Row], backend: &str) -> Vec<String> {
    rows.iter()
        .filter(|r| r.get("pxname").is_some_and(|p| p == backend))
        .map(|r| {
            let mut s = r.get("svname").cloned().unwrap_or_default();
            for f in FIELDS {
                s.push_str(&format!(" {f}={}", r.get(*f).map_or("?", String::as_str)));
            }
            s
        })
        .collect()
}

/// The three servers: `s1`, a refused `s2`, `s3`, each line ending with `params`.
fn servers(m: &[MockServer], dead: u16, params: &str) -> String {
    format!(
        "  server s1 {} {params}\n  server s2 127.0.0.1:{dead} {params}\n  server s3 {} {params}\n",
        m[0].addr_str(),
        m[1].addr_str()
    )
}

/// Mocks named `s1` and `s3` (the live servers).
fn live() -> Vec<MockServer> {
    vec![MockServer::start("s1"), MockServer::start("s3")]
}

/// Runs each backend body behind its own frontend under both engines; sends `paths` to
/// each one in turn (after `ready` returned true for the engine's stats, if given), then
/// compares answers and counters per backend.
fn compare(bodies: &[String], paths: &[String], ready: Option<&Ready>) {
    compare_with(bodies, paths, &[], ready)
}

/// [`compare`] sending `headers` with each request.
fn compare_with(
    bodies: &[String],
    paths: &[String],
    headers: &[(&str, &str)],
    ready: Option<&Ready>,
) {
    let mut tpl = many_backends(bodies);
    // A TCP backend needs a TCP frontend.
    for (i, b) in bodies.iter().enumerate() {
        if b.contains("mode tcp") {
            tpl = tpl.replace(
                &format!("frontend f{i}\n"),
                &format!("frontend f{i}\n  mode tcp\n"),
            );
        }
    }
    // Short pauses between attempts on the same server: min(1 s, timeout connect).
    tpl = tpl.replace("timeout connect 2s", "timeout connect 100ms");
    let st = bodies.len();
    tpl.push_str(&format!(
        "listen stats\n  mode http\n  bind 127.0.0.1:{{{{P{st}}}}}\n  stats enable\n  stats uri /st\n"
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let csv = || parse_csv(&http_get(side.addr(st), "/st;csv").body_text());
        if let Some(ready) = ready {
            assert!(
                eventually(Duration::from_secs(5), || ready(&csv())),
                "{}: not ready",
                side.name()
            );
        }
        let answers: Vec<Vec<String>> = (0..bodies.len())
            .map(|i| walk_closing(side, i, paths, headers))
            .collect();
        let rows = csv();
        answers
            .into_iter()
            .enumerate()
            .map(|(i, answers)| Seen {
                answers,
                counters: counters_of(&rows, &format!("b{i}")),
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        let label: Vec<&str> = b
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("server"))
            .collect();
        same(&label.join(", "), &h[i], &r[i]);
    }
}

/// [`walk`] closing each client connection before waiting for the proxy to end the
/// stream (in TCP mode, haproxy waits for the client's side to close too).
fn walk_closing(side: &Side, i: usize, paths: &[String], headers: &[(&str, &str)]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            let mut h = vec![("Host", SBS_HOST), ("Connection", "close")];
            h.extend_from_slice(headers);
            let mut c = side.conn(i);
            let r = c
                .request("GET", p, &h, b"")
                .unwrap_or_else(|e| panic!("{}: GET {p}: {e}", side.name()));
            assert!(c.wait_closed(), "{}: GET {p}: not closed", side.name());
            let me = c.local_addr();
            drop(c);
            settle(stats_sock(side).as_deref(), me);
            who(&r)
        })
        .collect()
}

/// The retry settings every algorithm is run with.
fn retry_variants() -> Vec<&'static str> {
    vec![
        "  retries 2\n  option redispatch\n",
        "  retries 3\n  option redispatch 1\n",
        "  retries 3\n  option redispatch -1\n",
        "  retries 3\n  option redispatch 2\n",
        "  retries 2\n  option redispatch 0\n",
        "  retries 2\n",
    ]
}

fn bodies_for(algos: &[&str], servers: &str) -> Vec<String> {
    let mut v = Vec::new();
    for a in algos {
        for r in retry_variants() {
            v.push(format!("  balance {a}\n{r}{servers}"));
        }
    }
    v
}

#[test]
fn roundrobin_after_redispatch_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    let mut bodies = bodies_for(&["roundrobin"], &servers(&m, dead, ""));
    // Weights: the failed server's lost turn shows in the interleaving.
    bodies.push(format!(
        "  retries 2\n  option redispatch\n  server s1 {} weight 3\n  server s2 127.0.0.1:{dead} weight 2\n  server s3 {} weight 1\n",
        m[0].addr_str(),
        m[1].addr_str()
    ));
    // TCP mode takes the same path.
    bodies.push(format!(
        "  mode tcp\n  retries 2\n  option redispatch\n{}",
        servers(&m, dead, "")
    ));
    compare(&bodies, &paths(8), None);
}

#[test]
fn static_rr_after_redispatch_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    let mut bodies = bodies_for(&["static-rr"], &servers(&m, dead, ""));
    bodies.push(format!(
        "  balance static-rr\n  retries 2\n  option redispatch\n  server s1 {} weight 3\n  server s2 127.0.0.1:{dead} weight 2\n  server s3 {} weight 1\n",
        m[0].addr_str(),
        m[1].addr_str()
    ));
    compare(&bodies, &paths(8), None);
}

#[test]
fn leastconn_and_first_after_redispatch_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    let mut bodies = bodies_for(&["leastconn"], &servers(&m, dead, ""));
    // `first` reaches the refused server only when it comes first (lowest id).
    let first = format!(
        "  server s1 {} id 2\n  server s2 127.0.0.1:{dead} id 1\n  server s3 {} id 3\n",
        m[0].addr_str(),
        m[1].addr_str()
    );
    bodies.extend(bodies_for(&["first"], &first));
    compare(&bodies, &paths(5), None);
}

#[test]
fn hash_retries_and_redispatch_counters_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    // A map-based hash sends a redispatched retry back to the same server: counted as a
    // retry. Consistent hashing moves it to the next server on the ring.
    let mut bodies = bodies_for(&["uri"], &servers(&m, dead, ""));
    bodies.truncate(3);
    bodies.push(format!(
        "  balance uri\n  hash-type consistent\n  retries 2\n  option redispatch\n{}",
        servers(&m, dead, "")
    ));
    // Without the key, a hash falls back to round robin, which avoids the failed server.
    for h in ["", "  hash-type consistent\n"] {
        bodies.push(format!(
            "  balance hdr(x-key)\n{h}  retries 2\n  option redispatch 1\n{}",
            servers(&m, dead, "")
        ));
    }
    // Three keys, one of which lands on the refused server (same hash in both engines).
    let keys: Vec<String> = ["/a", "/b", "/c", "/d", "/e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    compare(&bodies, &keys, None);
}

#[test]
fn redispatch_with_health_checks_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    let chk = "check inter 100ms fall 1 rise 1";
    let mut bodies = Vec::new();
    for a in ["roundrobin", "static-rr", "leastconn"] {
        for r in ["  retries 2\n  option redispatch\n", "  retries 2\n"] {
            bodies.push(format!("  balance {a}\n{r}{}", servers(&m, dead, chk)));
        }
    }
    let n = bodies.len();
    // Once the refused server is seen down, nothing goes to it any more.
    let down = move |rows: &[Row]| {
        (0..n).all(|i| {
            rows.iter().any(|r| {
                r.get("pxname").is_some_and(|p| *p == format!("b{i}"))
                    && r.get("svname").is_some_and(|s| s == "s2")
                    && r.get("status").is_some_and(|s| s == "DOWN")
            })
        })
    };
    compare(&bodies, &paths(6), Some(&down));
}

/// A server that reads each request head and closes without answering (an empty
/// response, which `retry-on empty-response` retries); returns its port.
fn closing_server() -> u16 {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
            });
        }
    });
    port
}

#[test]
fn retry_on_counters_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let bad = closing_server();
    // The failing server first, so that `first` and hashes reach it too.
    let servers = format!(
        "  server s2 127.0.0.1:{bad}\n  server s1 {}\n  server s3 {}\n",
        m[0].addr_str(),
        m[1].addr_str()
    );
    let mut bodies = Vec::new();
    for a in ["roundrobin", "leastconn", "first"] {
        for r in ["  option redispatch\n", "  option redispatch 0\n", ""] {
            bodies.push(format!(
                "  balance {a}\n  retries 2\n  retry-on empty-response conn-failure\n{r}{servers}"
            ));
        }
    }
    bodies.push(format!(
        "  balance uri\n  retries 3\n  retry-on empty-response conn-failure\n  option redispatch\n{servers}"
    ));
    let keys: Vec<String> = ["/a", "/b", "/c", "/d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    compare(&bodies, &keys, None);
}

#[test]
fn single_active_server_retries_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    // The refused server is the only active one: a redispatch finds it again (the backups
    // wait for it to be down), counted as a retry, and pauses as a retry does.
    let servers = format!(
        "  server s2 127.0.0.1:{dead}\n  server s1 {} backup\n  server s3 {} backup\n",
        m[0].addr_str(),
        m[1].addr_str()
    );
    let mut bodies = Vec::new();
    for a in ["roundrobin", "leastconn"] {
        for r in [
            "  retries 3\n  option redispatch\n",
            "  retries 2\n  option redispatch 1\n",
        ] {
            bodies.push(format!("  balance {a}\n{r}{servers}"));
        }
    }
    compare(&bodies, &paths(1), None);
    // Every retry paused min(1 s, timeout connect): at least 3 x 100 ms (a lower bound
    // only; the machine may be slower, never faster).
    let tpl = one_backend(&bodies[0]).replace("timeout connect 2s", "timeout connect 100ms");
    let (h, r) = side_by_side(&tpl, |side| {
        let t0 = std::time::Instant::now();
        let status = side.get("/").status;
        (status, t0.elapsed())
    });
    for (who, (status, took)) in [("haproxy", h), ("rproxy", r)] {
        assert_eq!(status, 503, "{who}");
        assert!(took >= Duration::from_millis(300), "{who}: {took:?}");
    }
}

#[test]
fn cookie_and_use_server_retries_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = live();
    let dead = refused_port();
    let cookies = format!(
        "  server s1 {} cookie s1\n  server s2 127.0.0.1:{dead} cookie s2\n  server s3 {} cookie s3\n",
        m[0].addr_str(),
        m[1].addr_str()
    );
    // A server named by a cookie or `use-server` is not chosen by the balancing (no
    // `lbtot`), and its retries stay on it until the redispatch interval.
    let mut bodies = Vec::new();
    for r in [
        "  retries 2\n  option redispatch\n",
        "  retries 3\n  option redispatch 1\n",
        "  retries 1\n  option redispatch 0\n",
    ] {
        bodies.push(format!("  cookie SRV insert\n{r}{cookies}"));
        bodies.push(format!(
            "{r}  use-server s2 if {{ path /r0 }}\n  use-server s1 if {{ path /r1 }}\n{}",
            servers(&m, dead, "")
        ));
    }
    compare_with(&bodies, &paths(3), &[("Cookie", "SRV=s2")], None);
}

//! Helpers shared by `balance.rs` and `balance_limits.rs`: configurations over mock servers
//! named `s1`, `s2`, ..., walks of requests recording where each went, and requests held open
//! on a server (a PUT whose body is withheld) to load servers at will.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

/// The start of every configuration. The stats socket (relative: in the proxy's own
/// directory) lets the tests wait for haproxy to end a request, see [`settle`]; rproxy
/// only warns about it.
pub const DEFAULTS: &str = "global\n  stats socket unix@stats.sock\n\
    defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";

/// Mock servers named `s1`, `s2`, ... so that `x-server` is the server's name.
pub fn mocks(n: usize) -> Vec<MockServer> {
    (1..=n)
        .map(|i| MockServer::start(&format!("s{i}")))
        .collect()
}

/// `server sI ADDR PARAMS` lines, one per mock, with per-server parameters.
pub fn server_lines(mocks: &[MockServer], params: &[&str]) -> String {
    mocks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "  server {} {} {}\n",
                m.name(),
                m.addr_str(),
                params.get(i).copied().unwrap_or("")
            )
        })
        .collect()
}

/// A template with one frontend on `{{P0}}` and backend `be` with `body`.
pub fn one_backend(body: &str) -> String {
    format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend be\nbackend be\n{body}"
    )
}

/// A template with one frontend per backend body (`{{Pi}}` -> backend `bi`).
pub fn many_backends(bodies: &[String]) -> String {
    let mut t = DEFAULTS.to_string();
    for (i, b) in bodies.iter().enumerate() {
        t.push_str(&format!(
            "frontend f{i}\n  bind 127.0.0.1:{{{{P{i}}}}}\n  default_backend b{i}\nbackend b{i}\n{b}"
        ));
    }
    t
}

/// What a response says about where it went: the server's name, or `#STATUS`.
pub fn who(r: &Response) -> String {
    match r.server() {
        Some(s) if r.status == 200 => s.to_string(),
        _ => format!("#{}", r.status),
    }
}

/// haproxy's stats socket (see [`DEFAULTS`]); None for rproxy.
pub fn stats_sock(side: &Side) -> Option<PathBuf> {
    (side.engine == Engine::Haproxy).then(|| side.proxy.dir().join("stats.sock"))
}

fn cli(sock: &Path, cmd: &str) -> Option<String> {
    let mut u = UnixStream::connect(sock).ok()?;
    u.set_read_timeout(Some(TIMEOUT)).ok()?;
    u.write_all(format!("{cmd}\n").as_bytes()).ok()?;
    let mut out = String::new();
    u.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Waits until the proxy has ended the request of client `client` (whose connection it
/// closed), so that its server slot is free for what follows. rproxy frees the slot before
/// closing; haproxy may close first and end the stream a moment later, so with haproxy the
/// stream is looked for with `show sess` until it is gone.
pub fn settle(sock: Option<&Path>, client: SocketAddr) {
    let Some(sock) = sock else { return };
    let needle = format!("src={client} ");
    let gone = eventually(Duration::from_secs(5), || {
        cli(sock, "show sess").is_some_and(|out| !out.contains(&needle))
    });
    assert!(gone, "haproxy did not end the stream of {client}");
}

/// GETs on fresh connections to `{{Pi}}`, each with `headers`; where each one went.
///
/// Each request is ended on the proxy's side before the next is sent ([`settle`]), so the
/// next finds the servers' counts settled (what `leastconn` and `first` see would
/// otherwise race with that end).
pub fn walk(side: &Side, i: usize, paths: &[String], headers: &[(&str, &str)]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            let mut h: Vec<(&str, &str)> = headers.to_vec();
            if !h.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
                h.insert(0, ("Host", SBS_HOST));
            }
            h.push(("Connection", "close"));
            let mut c = side.conn(i);
            let r = c
                .request("GET", p, &h, b"")
                .unwrap_or_else(|e| panic!("{}: GET {p}: {e}", side.name()));
            assert!(c.wait_closed(), "{}: GET {p}: not closed", side.name());
            settle(stats_sock(side).as_deref(), c.local_addr());
            who(&r)
        })
        .collect()
}

/// `/r0`, `/r1`, ...
pub fn paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/r{i}")).collect()
}

/// Asserts the two engines' observations are equal, printing both (shown with
/// `--nocapture`).
pub fn same<T: PartialEq + std::fmt::Debug>(what: &str, haproxy: &T, rproxy: &T) {
    eprintln!("{what}: haproxy {haproxy:?}");
    assert_eq!(
        haproxy, rproxy,
        "{what}: rproxy differs from haproxy\nhaproxy: {haproxy:?}\nrproxy:  {rproxy:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Requests held open on a server.

/// How long a request must stay unanswered (or unforwarded) to count as queued. Long
/// enough for a loaded machine to have forwarded it if it were going to.
pub const QUIET: Duration = Duration::from_millis(500);

/// A request whose head went through to a server while its body (one byte) is withheld,
/// so that it occupies the server until released.
pub struct Held {
    pub conn: Conn,
    pub server: String,
    /// haproxy's stats socket, to [`settle`] on release.
    pub sock: Option<PathBuf>,
}

/// Sends a PUT head to `{{Pi}}` announcing a one-byte body, without the body (a PUT, as
/// HAProxy waits for a POST's body under `balance url_param`).
pub fn send_held_head(side: &Side, i: usize, path: &str) -> Conn {
    send_head(side, i, "PUT", path)
}

/// Sends a `method` head to `{{Pi}}` announcing a one-byte body, without the body.
pub fn send_head(side: &Side, i: usize, method: &str, path: &str) -> Conn {
    let mut c = side.conn(i);
    c.send(&build_request(
        method,
        path,
        SBS_HOST,
        &[("Content-Length", "1"), ("Connection", "close")],
        b"",
    ))
    .unwrap();
    c
}

pub fn conn_counts(mocks: &[MockServer]) -> Vec<usize> {
    mocks.iter().map(|m| m.connections()).collect()
}

/// The index of the first mock that accepted more connections than `before` says, waiting
/// up to `wait`.
pub fn new_connection(mocks: &[MockServer], before: &[usize], wait: Duration) -> Option<usize> {
    let mut found = None;
    eventually(wait, || {
        found = mocks
            .iter()
            .zip(before)
            .position(|(m, &b)| m.connections() > b);
        found.is_some()
    });
    found
}

/// A held request on a fresh connection to `{{P0}}`: returns once a server has it.
pub fn hold(side: &Side, mocks: &[MockServer], path: &str) -> Held {
    hold_on(side, 0, mocks, path)
}

/// The same on `{{Pi}}`.
pub fn hold_on(side: &Side, i: usize, mocks: &[MockServer], path: &str) -> Held {
    match try_hold(side, i, mocks, path, Duration::from_secs(5)) {
        (conn, Some(server)) => Held {
            conn,
            server,
            sock: stats_sock(side),
        },
        (_, None) => panic!(
            "{}: no server got the held request {path} on {{{{P{i}}}}}",
            side.name()
        ),
    }
}

/// A held request that may have to wait: the connection, and the server that got it
/// within `wait` (None: it is still waiting, e.g. queued).
pub fn try_hold(
    side: &Side,
    i: usize,
    mocks: &[MockServer],
    path: &str,
    wait: Duration,
) -> (Conn, Option<String>) {
    let before = conn_counts(mocks);
    let conn = send_held_head(side, i, path);
    let got = new_connection(mocks, &before, wait).map(|i| mocks[i].name().to_string());
    (conn, got)
}

/// Sends the withheld byte and reads the answer, which must come from the server that
/// held it; the server's name.
pub fn release(mut h: Held) -> String {
    h.conn.send(b"x").unwrap();
    let r = h.conn.read_response().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.server(), Some(h.server.as_str()));
    // Ended on both sides (see `walk`).
    assert!(h.conn.wait_closed());
    settle(h.sock.as_deref(), h.conn.local_addr());
    h.server
}

/// Sends a GET on a fresh connection to `{{Pi}}` without waiting for the answer.
pub fn send_get(side: &Side, i: usize, path: &str) -> Conn {
    let mut c = side.conn(i);
    c.send(&build_request(
        "GET",
        path,
        SBS_HOST,
        &[("Connection", "close")],
        b"",
    ))
    .unwrap();
    c
}

/// The answer on `c` if one comes within `wait`; None when nothing came (still waiting).
pub fn answer_within(c: &mut Conn, wait: Duration) -> Option<Response> {
    c.set_timeout(wait);
    let r = match c.read_response() {
        Ok(r) => Some(r),
        Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {
            None
        }
        Err(e) => panic!("reading an answer: {e}"),
    };
    c.set_timeout(TIMEOUT);
    r
}

/// Where the answer on `c` came from ([`who`]), waiting the usual bound; `#closed` when
/// the connection closed without one.
pub fn answer(c: &mut Conn) -> String {
    match c.read_response() {
        Ok(r) => who(&r),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => "#closed".to_string(),
        Err(e) => panic!("reading an answer: {e}"),
    }
}

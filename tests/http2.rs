//! HTTP/2 to clients on `bind ... ssl crt X alpn h2,http/1.1` through the real binary, to
//! HTTP/1.1 mock servers: the ALPN outcome, what the server receives for an HTTP/2
//! request (side by side with HAProxy 2.6), bodies both ways, parallel streams on one
//! connection under `maxconn 1`, error statuses as HTTP/2 answers, and the idle timeout.
//!
//! Clients: `curl --http2` (`--connect-to`, so that both engines see the same Host) and
//! `openssl s_client`; certificates from tests/tls_util.

mod common;
mod tls_util;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mock::MockServer;
use common::ports::free_port;
use common::proxy::{Proxy, eventually};
use common::sbs::{fill, require_haproxy, side_by_side};
use common::{have_program, require};
use tls_util::{Pki, make_pki};

/// The name the test certificate is for; curl connects it to the proxy's port.
const NAME: &str = "check.example";

fn tools() -> bool {
    require(have_program("openssl"), "openssl not installed")
        && require(have_program("curl"), "curl not installed")
}

/// What curl saw.
struct Seen {
    /// `%{http_code} %{http_version}` of each transfer, one a line.
    w: String,
    /// Response header lines (`< ...` of `-v`), lower-cased names, without the status
    /// line.
    headers: Vec<String>,
    /// The HTTP/2 status line curl printed (`HTTP/2 403`), or the HTTP/1 one.
    status_line: String,
    body: Vec<u8>,
}

/// `curl -sv` for `https://check.example/PATH...` connected to `port`.
fn curl(pki: &Pki, port: u16, paths: &[&str], extra: &[&str]) -> Seen {
    let mut c = Command::new("curl");
    c.args(["-sv", "--cacert", &pki.p("ca.pem"), "--connect-to"])
        .arg(format!("{NAME}:443:127.0.0.1:{port}"))
        .args(["-w", "%{http_code} %{http_version}\\n", "--max-time", "8"])
        .args(extra);
    // The first body to a file, the others dropped; only the `-w` lines on stdout.
    let dir = tempfile::tempdir().expect("tempdir");
    let body_file = dir.path().join("body");
    for (i, p) in paths.iter().enumerate() {
        let to = if i == 0 {
            body_file.display().to_string()
        } else {
            "/dev/null".into()
        };
        c.arg("-o").arg(to).arg(format!("https://{NAME}{p}"));
    }
    let out = c.stdin(Stdio::null()).output().expect("curl runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let mut headers = Vec::new();
    let mut status_line = String::new();
    for l in err.lines() {
        let Some(h) = l.strip_prefix("< ") else {
            continue;
        };
        let h = h.trim();
        if h.starts_with("HTTP/") {
            status_line = h.to_string();
        } else if let Some((n, v)) = h.split_once(':') {
            headers.push(format!("{}: {}", n.to_ascii_lowercase(), v.trim()));
        }
    }
    Seen {
        w: String::from_utf8_lossy(&out.stdout).into_owned(),
        headers,
        status_line,
        body: std::fs::read(&body_file).unwrap_or_default(),
    }
}

/// What `openssl s_client -alpn LIST` agreed on (its ALPN line), "refused" on failure.
fn alpn(port: u16, list: Option<&str>) -> String {
    let mut c = Command::new("openssl");
    c.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", NAME]);
    if let Some(l) = list {
        c.args(["-alpn", l]);
    }
    let out = c
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("s_client runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("ALPN"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "refused".into())
}

/// A frontend on `{{P0}}` with `alpn h2,http/1.1`: `/deny` denied, `/none` to a backend
/// without servers, the rest to the mock.
const TPL: &str = "\
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:{{P0}} ssl crt {{CRT}} alpn h2,http/1.1
  http-request deny if { path /deny }
  http-request set-header x-tls %[ssl_fc]/%[ssl_fc_sni]/%[ssl_fc_alpn]/%[ssl_fc_protocol]/%[src]
  use_backend none if { path /none }
  default_backend be
backend be
  server s1 {{SRV}}
backend none
";

fn config(pki: &Pki, srv: &MockServer) -> String {
    fill(
        TPL,
        &[("CRT", &pki.p("leafkey.pem")), ("SRV", &srv.addr_str())],
    )
}

/// The same frontend for rproxy alone, on a fresh port.
fn start(pki: &Pki, srv: &MockServer, extra_fe: &str) -> (Proxy, u16) {
    let port = free_port();
    let cfg = config(pki, srv)
        .replace("{{P0}}", &port.to_string())
        .replace(
            "  default_backend be\n",
            &format!("{extra_fe}  default_backend be\n"),
        );
    (Proxy::start(&cfg), port)
}

#[test]
fn alpn_outcomes_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let srv = MockServer::start("s1");
    let (h, r) = side_by_side(&config(&pki, &srv), |side| {
        [
            Some("h2,http/1.1"),
            Some("http/1.1"),
            Some("h2"),
            Some("spdy/3"),
            None,
        ]
        .iter()
        .map(|l| format!("{l:?}: {}", alpn(side.port(0), *l)))
        .collect::<Vec<_>>()
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert!(r[0].ends_with("ALPN protocol: h2"), "{r:?}");
    assert!(r[1].ends_with("ALPN protocol: http/1.1"), "{r:?}");
    assert!(r[4].ends_with("No ALPN negotiated"), "{r:?}");
}

/// The server's view of an HTTP/2 request is HAProxy's byte for byte: origin-form target,
/// `host` first, cookies joined, lower-case names, content-length or chunked bodies. The
/// client sees the same status and headers.
#[test]
fn requests_reach_the_server_as_through_haproxy() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let srv = MockServer::builder("s1")
        .header("Connection", "keep-alive")
        .header("Keep-Alive", "timeout=5")
        .header("X-Extra", "yes")
        .start();
    let (h, r) = side_by_side(&config(&pki, &srv), |side| {
        let p = side.port(0);
        srv.clear();
        let mut out = Vec::new();
        let get = curl(
            &pki,
            p,
            &["/p/a?q=1&r=%20"],
            &[
                "--http2",
                "-H",
                "Cookie: a=1",
                "-H",
                "Cookie: b=2",
                "-H",
                "X-Mixed: Case",
            ],
        );
        let post = curl(&pki, p, &["/post"], &["--http2", "-d", "hello=world"]);
        let chunked = curl(
            &pki,
            p,
            &["/put"],
            &["--http2", "-T", "-", "-H", "Content-Type: text/plain"],
        );
        for s in [&get, &post, &chunked] {
            out.push(s.w.clone());
            out.push(s.status_line.clone());
            // The mock's per-connection ids and the body length (it describes the peer
            // port) differ from run to run.
            out.extend(
                s.headers
                    .iter()
                    .filter(|h| !h.starts_with("x-conn-id") && !h.starts_with("content-length"))
                    .cloned(),
            );
        }
        for rcv in srv.received() {
            // HAProxy writes `transfer-encoding` last, after the headers its rules add;
            // rproxy's rules add theirs after it (`chunked` below says it came).
            out.push(rcv.raw_head.replace("transfer-encoding: chunked\r\n", ""));
            out.push(String::from_utf8_lossy(&rcv.body).into_owned());
            out.push(format!("chunked {}", rcv.chunked));
        }
        out
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(r[0], "200 2\n", "{r:?}");
    assert_eq!(r[1], "HTTP/2 200", "{r:?}");
    let heads: Vec<&String> = r.iter().filter(|l| l.contains(" HTTP/1.1\r\n")).collect();
    assert_eq!(heads.len(), 3, "{r:?}");
    assert!(
        heads[0].starts_with("GET /p/a?q=1&r=%20 HTTP/1.1\r\nhost: check.example\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains("cookie: a=1; b=2\r\n"), "{}", heads[0]);
    // The streams' rules see the connection's TLS facts and address.
    assert!(
        heads[0].contains("x-tls: 1/check.example/h2/TLSv1.3/127.0.0.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        !r.iter()
            .any(|l| l.starts_with("keep-alive") || l.starts_with("connection"))
    );
}

#[test]
fn http11_and_h2_on_one_bind_with_bodies_both_ways() {
    if !tools() {
        return;
    }
    let pki = make_pki();
    let srv = MockServer::start("s1");
    let (_p, port) = start(&pki, &srv, "");
    // HTTP/1.1 still works on the same bind.
    let s = curl(&pki, port, &["/one"], &["--http1.1"]);
    assert_eq!(s.w, "200 1.1\n");
    let s = curl(&pki, port, &["/two"], &["--http2"]);
    assert_eq!(s.w, "200 2\n");
    let last = srv.last().expect("a request");
    assert_eq!(last.version, "HTTP/1.1");
    assert_eq!(last.header("host"), Some(NAME));
    // A large upload (flow control over several windows) and a large download.
    let dir = tempfile::tempdir().expect("tempdir");
    let up: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let f = dir.path().join("up.bin");
    std::fs::File::create(&f)
        .and_then(|mut h| h.write_all(&up))
        .expect("write");
    let s = curl(
        &pki,
        port,
        &["/upload"],
        &["--http2", "--data-binary", &format!("@{}", f.display())],
    );
    assert_eq!(s.w, "200 2\n");
    let last = srv.last().expect("a request");
    assert_eq!(last.method, "POST");
    assert_eq!(last.header("content-length"), Some("300000"));
    assert!(last.body == up, "upload arrived altered");
    let s = curl(
        &pki,
        port,
        &["/download"],
        &["--http2", "-H", "x-mock: body=2000000"],
    );
    assert_eq!(s.w, "200 2\n");
    assert_eq!(s.body.len(), 2_000_000);
    assert!(s.body.starts_with(b"0123456789"));
    // A chunked answer reaches the HTTP/2 client without transfer-encoding.
    let s = curl(
        &pki,
        port,
        &["/chunked"],
        &["--http2", "-H", "x-mock: chunked,body=5000"],
    );
    assert_eq!(s.w, "200 2\n");
    assert_eq!(s.body.len(), 5000);
    assert!(
        !s.headers.iter().any(|h| h.starts_with("transfer-encoding")),
        "{:?}",
        s.headers
    );
}

/// Several streams run at once on one connection, under `maxconn 1`: the connection
/// holds the slot, its streams take none.
#[test]
fn parallel_streams_share_one_connection_under_maxconn_1() {
    if !tools() {
        return;
    }
    let pki = make_pki();
    let srv = MockServer::builder("s1").mock("delay=400").start();
    let (_p, port) = start(&pki, &srv, "  maxconn 1\n");
    let paths: Vec<String> = (0..6).map(|i| format!("/par/{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let s = curl(
        &pki,
        port,
        &paths,
        &["--http2", "--parallel", "--parallel-max", "10"],
    );
    let took = t0.elapsed();
    assert_eq!(s.w, "200 2\n".repeat(6), "took {took:?}");
    assert_eq!(srv.requests(), 6);
    // Served one after the other, the six would have reused one server connection.
    assert!(srv.connections() > 1, "streams did not overlap");
}

/// Errors the HTTP/1 path answers (deny, no server) reach the HTTP/2 client as its
/// statuses, with HAProxy's headers.
#[test]
fn error_statuses_as_h2_answers_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let srv = MockServer::start("s1");
    let (h, r) = side_by_side(&config(&pki, &srv), |side| {
        let mut out = Vec::new();
        for path in ["/deny", "/none"] {
            let s = curl(&pki, side.port(0), &[path], &["--http2"]);
            out.push(format!("{path}: {}", s.status_line));
            // The pages' texts are rproxy's own (content-length differs with them).
            out.extend(
                s.headers
                    .into_iter()
                    .filter(|h| !h.starts_with("content-length")),
            );
        }
        out
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(r[0], "/deny: HTTP/2 403");
    assert!(r.contains(&"/none: HTTP/2 503".to_string()), "{r:?}");
    assert_eq!(srv.requests(), 0);
}

/// An HTTP/2 connection that never sends a request is closed by its idle timeout, by
/// both engines.
#[test]
fn idle_h2_connection_closes_after_timeout_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let srv = MockServer::start("s1");
    let cfg = config(&pki, &srv).replace("timeout client 5s", "timeout client 1s");
    let (h, r) = side_by_side(&cfg, |side| {
        // s_client keeps the connection while its stdin is open; the proxy must end it.
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", side.port(0)),
            ])
            .args(["-servername", NAME, "-alpn", "h2", "-quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_client");
        let ended = eventually(Duration::from_secs(4), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !ended {
            let _ = child.kill();
        }
        let _ = child.wait();
        ended
    });
    assert!(h, "haproxy kept the idle connection");
    assert!(r, "rproxy kept the idle HTTP/2 connection");
}

/// A soft stop lets a running stream finish (GOAWAY, then close), and the proxy exits.
#[test]
fn soft_stop_finishes_running_streams() {
    if !tools() {
        return;
    }
    let pki = std::sync::Arc::new(make_pki());
    let srv = MockServer::builder("s1").mock("delay=800").start();
    let (mut p, port) = start(&pki, &srv, "");
    let pki2 = pki.clone();
    let client = std::thread::spawn(move || curl(&pki2, port, &["/slow"], &["--http2"]).w);
    assert!(eventually(Duration::from_secs(5), || srv.requests() == 1));
    p.send_signal(nix::sys::signal::Signal::SIGUSR1);
    let w = client.join().expect("client thread");
    assert_eq!(w, "200 2\n");
    assert!(
        p.wait_exit(Duration::from_secs(5)).is_some(),
        "still running"
    );
}

/// A download longer than two idle periods is not idle: the stream runs until its body
/// is through (20 MB read at 6 MiB/s outlasts two 500 ms periods and the socket buffers'
/// few MB).
#[test]
fn long_download_outlives_the_idle_timeout() {
    if !tools() {
        return;
    }
    const SIZE: usize = 20_000_000;
    // An origin writing its body in 100 kB blocks as the proxy takes them.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let oaddr = origin.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = origin.accept() {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n")
                && std::io::Read::read(&mut c, &mut b).unwrap_or(0) == 1
            {
                head.push(b[0]);
            }
            let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n");
            let block = vec![b'x'; 100_000];
            for _ in 0..SIZE / block.len() {
                if c.write_all(&block).is_err() {
                    return;
                }
            }
        }
    });
    let pki = make_pki();
    let srv = MockServer::start("s1");
    let port = free_port();
    let cfg = config(&pki, &srv)
        .replace("{{P0}}", &port.to_string())
        .replace(&srv.addr_str(), &oaddr.to_string())
        .replace("timeout client 5s", "timeout client 500ms");
    let _p = Proxy::start(&cfg);
    let s = curl(
        &pki,
        port,
        &["/slow-read"],
        &["--http2", "--limit-rate", "6m"],
    );
    assert_eq!(s.w, "200 2\n");
    assert_eq!(s.body.len(), SIZE);
}

/// HTTP/2 with prior knowledge on a plain HTTP/1 bind: HAProxy 2.6 takes it (unless
/// `option disable-h2-upgrade`), so does rproxy; HTTP/1.1 still works there.
#[test]
fn prior_knowledge_on_a_plain_bind_side_by_side() {
    if !require(have_program("curl"), "curl not installed") || !require_haproxy() {
        return;
    }
    let srv = MockServer::start("s1");
    let cfg = fill(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
         frontend fe\n  bind 127.0.0.1:{{P0}}\n  default_backend be\n\
         backend be\n  server s1 {{SRV}}\n",
        &[("SRV", &srv.addr_str())],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        srv.clear();
        let mut out = Vec::new();
        for v in ["--http2-prior-knowledge", "--http1.1"] {
            let o = Command::new("curl")
                .args([
                    "-s",
                    v,
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code} %{http_version}",
                ])
                .args(["-H", "Host: pk.example", "--max-time", "5"])
                .arg(format!("http://127.0.0.1:{}/pk?x=1", side.port(0)))
                .output()
                .expect("curl runs");
            out.push(String::from_utf8_lossy(&o.stdout).into_owned());
        }
        out.extend(srv.received().into_iter().map(|r| r.raw_head));
        out
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(r[0], "200 2");
    assert_eq!(r[1], "200 1.1");
}

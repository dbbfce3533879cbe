//! Interim (1xx) answers from an HTTP/1.1 server relayed to clients, side by side with
//! HAProxy 2.6: to HTTP/2 clients (prior knowledge on a plain bind, and TLS with ALPN
//! `h2`) as HEADERS frames before the final answer, and to HTTP/1.1 clients as before.
//! Cases: `103 Early Hints` with its `Link`; several (102, 103, 103) before the final
//! answer; `Expect: 100-continue` forwarded to the server and its `100` relayed, the
//! client sending its body only then; an interim answer's hop-by-hop headers; streams
//! running at once on one connection, each with its own; `option http-buffer-request`,
//! where the proxy says `100`.
//!
//! Clients: `curl -v` (`--http2-prior-knowledge`, `--http2` over TLS, `--http1.1`),
//! whose printed answers (its `< ` lines, interim ones included) and bodies are compared
//! between the engines; h2's client for streams at once on one connection.

mod common;
mod tls_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::mock::ScriptedServer;
use common::sbs::{Side, fill, require_haproxy, side_by_side};
use common::{have_program, require};

const TPL: &str = "\
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:{{P0}}
  bind 127.0.0.1:{{P1}} ssl crt {{CRT}} alpn h2,http/1.1
  use_backend buffered if { path_beg /buf }
  default_backend be
backend be
  server s1 {{SRV}}
backend buffered
  option http-buffer-request
  server s1 {{SRV}}
";

/// A server ([`serve`]) whose answers depend on the path: `/hints` a 103 with a `Link`
/// then the final answer; `/multi` 102, 103, 103 then the final answer; `/hop` a 103
/// carrying hop-by-hop headers; anything else reads the body its `content-length`
/// announces and answers `got N`, after a `100 Continue` when the request has `Expect:
/// 100-continue` (a client that waits for it sends its body only then). Keeps each
/// request head.
struct Backend(ScriptedServer);

impl Backend {
    fn start() -> Backend {
        Backend(ScriptedServer::start(serve))
    }

    /// The request heads received since the last call, the proxy's port masked.
    fn take(&self, side: &Side) -> Vec<String> {
        let heads = self.0.take();
        let ports = [side.port(0).to_string(), side.port(1).to_string()];
        heads
            .iter()
            .map(|h| ports.iter().fold(h.clone(), |h, p| h.replace(p, "PORT")))
            .collect()
    }
}

fn serve(mut c: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let Some(text) = ScriptedServer::read_head(&mut c) else {
            return;
        };
        heads.lock().expect("lock").push(text.clone());
        let header = |n: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(n).then(|| v.trim().to_string())
            })
        };
        let path = text.split(' ').nth(1).unwrap_or("/").to_string();
        let canned: &[u8] = match path.as_str() {
            "/hints" => {
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal"
            }
            "/multi" => {
                b"HTTP/1.1 102 Processing\r\n\r\n\
                  HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\nX-Two: 2\r\n\r\n\
                  HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nmulti"
            }
            "/hop" => {
                b"HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\
                  Connection: keep-alive, x-named\r\nKeep-Alive: timeout=5\r\n\
                  X-Named: 1\r\nX-Other: 1\r\n\r\n\
                  HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nhop"
            }
            _ => b"",
        };
        if !canned.is_empty() {
            if c.write_all(canned).is_err() {
                return;
            }
            continue;
        }
        let mut body = Vec::new();
        if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                let _ = c.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            body = vec![0u8; n];
            if c.read_exact(&mut body).is_err() {
                return;
            }
        }
        let reply = format!("got {}", body.len());
        let _ = write!(
            c,
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
    }
}

/// How curl reaches the proxy.
#[derive(Clone, Copy)]
enum Via {
    /// HTTP/2 with prior knowledge on the plain bind.
    H2c,
    /// HTTP/2 over TLS, agreed with ALPN.
    H2Tls,
    /// HTTP/1.1 on the plain bind.
    H1,
}

/// The name the test certificate is for.
const NAME: &str = "check.example";

/// `curl -sv` for `paths` (one connection), with `extra` arguments: the answers' lines
/// curl printed (`< ` lines, status lines of interim answers included, trailing blanks
/// trimmed, the empty line before a body left out) and the bodies.
fn curl(side: &Side, ca: &str, via: Via, paths: &[&str], extra: &[&str]) -> Vec<String> {
    let mut c = Command::new("curl");
    c.args(["-sv", "--max-time", "8"]).args(extra);
    for p in paths {
        match via {
            Via::H2c => c
                .arg("--http2-prior-knowledge")
                .arg(format!("http://127.0.0.1:{}{p}", side.port(0))),
            Via::H1 => c
                .arg("--http1.1")
                .arg(format!("http://127.0.0.1:{}{p}", side.port(0))),
            Via::H2Tls => c
                .args(["--http2", "--cacert", ca, "--connect-to"])
                .arg(format!("{NAME}:443:127.0.0.1:{}", side.port(1)))
                .arg(format!("https://{NAME}{p}")),
        };
    }
    let out = c.stdin(Stdio::null()).output().expect("curl runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let mut seen: Vec<String> = err
        .lines()
        .filter_map(|l| l.strip_prefix("< "))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    seen.push(format!("body: {}", String::from_utf8_lossy(&out.stdout)));
    seen
}

/// [`curl`] once per client kind in `vias`, each to `path` alone.
fn curl_each(side: &Side, ca: &str, vias: &[Via], path: &str, extra: &[&str]) -> Vec<Vec<String>> {
    vias.iter()
        .map(|&via| curl(side, ca, via, &[path], extra))
        .collect()
}

/// curl's arguments to send `body` with `Expect: 100-continue`, waiting far longer than
/// its `--max-time` for the 100.
fn expect_args(body: &str) -> [&str; 6] {
    [
        "--expect100-timeout",
        "60",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        body,
    ]
}

fn setup() -> Option<(Backend, tls_util::Pki, String)> {
    if !require(have_program("curl"), "curl not installed")
        || !require(have_program("openssl"), "openssl not installed")
        || !require_haproxy()
    {
        return None;
    }
    let be = Backend::start();
    let pki = tls_util::make_pki();
    let cfg = fill(TPL, &[("SRV", &be.0.addr), ("CRT", &pki.p("leafkey.pem"))]);
    Some((be, pki, cfg))
}

/// The 103 and its `Link` reach HTTP/2 clients (plain and TLS) before the final answer,
/// and HTTP/1.1 clients as before.
#[test]
fn early_hints_relayed_side_by_side() {
    let Some((be, pki, cfg)) = setup() else {
        return;
    };
    let ca = pki.p("ca.pem");
    let (h, r) = side_by_side(&cfg, |side| {
        let out = curl_each(side, &ca, &[Via::H2c, Via::H2Tls, Via::H1], "/hints", &[]);
        (out, be.take(side))
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let want = [
        "HTTP/2 103",
        "link: </s.css>; rel=preload",
        "HTTP/2 200",
        "content-length: 5",
        "body: final",
    ];
    assert_eq!(r.0[0], want);
    assert_eq!(r.0[1], want);
    assert_eq!(r.0[2][0], "HTTP/1.1 103 Early Hints");
    assert_eq!(r.0[2][1], "link: </s.css>; rel=preload");
    assert_eq!(r.1.len(), 3);
}

/// 102, 103 and 103 (each with its own fields), in order, then the final answer.
#[test]
fn several_interim_answers_side_by_side() {
    let Some((be, pki, cfg)) = setup() else {
        return;
    };
    let ca = pki.p("ca.pem");
    let (h, r) = side_by_side(&cfg, |side| {
        let out = curl_each(side, &ca, &[Via::H2c, Via::H2Tls, Via::H1], "/multi", &[]);
        (out, be.take(side).len())
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let want = [
        "HTTP/2 102",
        "HTTP/2 103",
        "link: </a.css>; rel=preload",
        "HTTP/2 103",
        "link: </b.js>; rel=preload",
        "x-two: 2",
        "HTTP/2 200",
        "content-length: 5",
        "body: multi",
    ];
    assert_eq!(r.0[0], want);
    assert_eq!(r.0[1], want);
    let statuses: Vec<&String> = r.0[2].iter().filter(|l| l.starts_with("HTTP/")).collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 102 Processing",
            "HTTP/1.1 103 Early Hints",
            "HTTP/1.1 103 Early Hints",
            "HTTP/1.1 200 OK"
        ]
    );
    assert_eq!(r.1, 3);
}

/// What one stream got from h2's client: each interim answer (status and fields), the
/// final status, the body.
async fn h2_stream(mut res: h2::client::ResponseFuture) -> Vec<String> {
    let mut out = Vec::new();
    let head = |st: http::StatusCode, h: &http::HeaderMap| {
        let mut v = vec![st.as_u16().to_string()];
        v.extend(
            h.iter()
                .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?"))),
        );
        v
    };
    loop {
        match std::future::poll_fn(|cx| res.poll_informational(cx)).await {
            Some(Ok(i)) => out.extend(head(i.status(), i.headers())),
            Some(Err(e)) => {
                out.push(format!("error: {e}"));
                return out;
            }
            None => break,
        }
    }
    let res = match res.await {
        Ok(r) => r,
        Err(e) => {
            out.push(format!("error: {e}"));
            return out;
        }
    };
    out.extend(head(res.status(), res.headers()));
    let mut body = res.into_body();
    let mut got = Vec::new();
    while let Some(d) = body.data().await {
        let Ok(d) = d else {
            out.push("body error".into());
            return out;
        };
        let _ = body.flow_control().release_capacity(d.len());
        got.extend_from_slice(&d);
    }
    out.push(format!("body: {}", String::from_utf8_lossy(&got)));
    out
}

/// `paths` as streams opened at once on one HTTP/2 connection (h2's client); what each
/// got, in the order of `paths`.
async fn h2_streams(port: u16, paths: &[&str]) -> Vec<Vec<String>> {
    let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return vec![vec!["connect failed".into()]];
    };
    let Ok((client, conn)) = h2::client::handshake(tcp).await else {
        return vec![vec!["handshake failed".into()]];
    };
    tokio::spawn(conn);
    let mut tasks = Vec::new();
    let mut client = client;
    for p in paths {
        let Ok(ready) = client.ready().await else {
            return vec![vec!["not ready".into()]];
        };
        client = ready;
        let req = http::Request::get(format!("http://127.0.0.1:{port}{p}"))
            .body(())
            .expect("request");
        match client.send_request(req, true) {
            Ok((res, _)) => tasks.push(tokio::spawn(h2_stream(res))),
            Err(e) => return vec![vec![format!("send: {e}")]],
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|_| vec!["task failed".into()]));
    }
    out
}

/// Streams running at once on one connection each get their own interim answers, and
/// only theirs.
#[test]
fn concurrent_streams_get_their_own_interim_answers_side_by_side() {
    let Some((be, _pki, cfg)) = setup() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let paths = ["/multi", "/hints", "/plain", "/hints", "/multi"];
    let (h, r) = side_by_side(&cfg, |side| {
        let out = rt.block_on(h2_streams(side.port(0), &paths));
        (out, be.take(side).len())
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let multi = [
        "102",
        "103",
        "link: </a.css>; rel=preload",
        "103",
        "link: </b.js>; rel=preload",
        "x-two: 2",
        "200",
        "content-length: 5",
        "body: multi",
    ];
    let hints = [
        "103",
        "link: </s.css>; rel=preload",
        "200",
        "content-length: 5",
        "body: final",
    ];
    assert_eq!(r.0[0], multi);
    assert_eq!(r.0[1], hints);
    assert_eq!(r.0[2], ["200", "content-length: 5", "body: got 0"]);
    assert_eq!(r.0[3], hints);
    assert_eq!(r.0[4], multi);
    assert_eq!(r.1, 5);
}

/// `Expect: 100-continue` reaches the server, whose `100` reaches the client, which sends
/// its body then: curl is told to wait far longer than its `--max-time` for the 100, so
/// the body only arrives if the 100 was relayed.
#[test]
fn continue_relayed_and_body_delivered_side_by_side() {
    let Some((be, pki, cfg)) = setup() else {
        return;
    };
    let ca = pki.p("ca.pem");
    let body = "x".repeat(3000);
    let args = expect_args(&body);
    let (h, r) = side_by_side(&cfg, |side| {
        let out = curl_each(
            side,
            &ca,
            &[Via::H2c, Via::H2Tls, Via::H1],
            "/expect",
            &args,
        );
        (out, be.take(side))
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let want = [
        "HTTP/2 100",
        "HTTP/2 200",
        "content-length: 8",
        "body: got 3000",
    ];
    assert_eq!(r.0[0], want);
    assert_eq!(r.0[1], want);
    assert_eq!(
        r.0[2],
        [
            "HTTP/1.1 100 Continue",
            "HTTP/1.1 200 OK",
            "content-length: 8",
            "body: got 3000"
        ]
    );
    // The server was asked, each time.
    assert_eq!(r.1.len(), 3);
    for head in &r.1 {
        assert!(
            head.to_ascii_lowercase()
                .contains("\r\nexpect: 100-continue\r\n"),
            "{head}"
        );
    }
}

/// Under `option http-buffer-request` the proxy itself says `100` to get the body it
/// waits for (the server sees no `Expect`); the HTTP/2 client gets that one.
#[test]
fn buffered_request_gets_the_proxy_s_continue_side_by_side() {
    let Some((be, pki, cfg)) = setup() else {
        return;
    };
    let ca = pki.p("ca.pem");
    let body = "y".repeat(500);
    let args = expect_args(&body);
    let (h, r) = side_by_side(&cfg, |side| {
        let out = curl_each(side, &ca, &[Via::H2c, Via::H1], "/buf", &args);
        (out, be.take(side))
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(
        r.0[0],
        [
            "HTTP/2 100",
            "HTTP/2 200",
            "content-length: 7",
            "body: got 500"
        ]
    );
    // The server gets the whole body, without the `Expect` the proxy answered.
    assert_eq!(r.1.len(), 2);
    assert!(
        r.1.iter()
            .all(|h| !h.to_ascii_lowercase().contains("expect:")),
        "{r:?}"
    );
}

/// An interim answer's `connection`, `keep-alive` go (to an HTTP/2 client all of them,
/// to an HTTP/1.1 client the close/keep-alive tokens); a header a `connection` line
/// names stays, as with HAProxy.
#[test]
fn interim_hop_by_hop_headers_side_by_side() {
    let Some((be, pki, cfg)) = setup() else {
        return;
    };
    let ca = pki.p("ca.pem");
    let (h, r) = side_by_side(&cfg, |side| {
        let out = curl_each(side, &ca, &[Via::H2c, Via::H1], "/hop", &[]);
        be.take(side);
        out
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(
        r[0],
        [
            "HTTP/2 103",
            "link: </x.css>; rel=preload",
            "x-named: 1",
            "x-other: 1",
            "HTTP/2 200",
            "content-length: 3",
            "body: hop"
        ]
    );
    assert!(r[1].contains(&"connection: x-named".to_string()), "{r:?}");
}

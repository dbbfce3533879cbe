//! HTTP/2 to clients, beyond plain requests, side by side with HAProxy 2.6 on a plain
//! bind (HTTP/2 with prior knowledge): the SETTINGS frame under `tune.h2.*` and
//! `h2-workaround-bogus-websocket-clients`, the errors for bad `tune.h2.*` values,
//! WebSocket over HTTP/2 (RFC 8441 extended CONNECT, relayed to an HTTP/1.1 server as a
//! WebSocket handshake), and interim (1xx) answers.
//!
//! Clients: a hand-written HTTP/2 preface reading the server's SETTINGS, hyper's HTTP/2
//! client for the extended CONNECT, `curl --http2-prior-knowledge -v` for the 1xx.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::mock::ScriptedServer;
use common::proxy::Engine;
use common::sbs::{fill, require_haproxy, side_by_side};
use common::{have_program, require};

const TPL: &str = "\
global
{{GLOBAL}}
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:{{P0}}
  http-request deny if { path /deny }
  default_backend be
backend be
  server s1 {{SRV}}
";

fn config(global: &str, srv: &str) -> String {
    fill(TPL, &[("GLOBAL", global), ("SRV", srv)])
}

/// The settings a server announced in its first SETTINGS frame, with the RFC 9113
/// defaults for those it left out (which HAProxy does for values at their default).
/// SETTINGS_MAX_HEADER_LIST_SIZE is left out: HAProxy does not announce it, hyper
/// always does (rproxy's `tune.bufsize`).
fn settings(port: u16) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    s.write_all(&hello).expect("preface");
    let mut v: Vec<(u16, u32)> = Vec::new();
    loop {
        let mut head = [0u8; 9];
        if s.read_exact(&mut head).is_err() {
            return vec!["no SETTINGS".into()];
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        if s.read_exact(&mut payload).is_err() {
            return vec!["truncated frame".into()];
        }
        // SETTINGS without ACK.
        if head[3] == 4 && head[4] & 1 == 0 {
            for p in payload.chunks_exact(6) {
                let id = u16::from_be_bytes([p[0], p[1]]);
                let val = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
                v.push((id, val));
            }
            break;
        }
    }
    let get = |id: u16| v.iter().rev().find(|(i, _)| *i == id).map(|(_, x)| *x);
    vec![
        format!("header_table_size {}", get(1).unwrap_or(4096)),
        format!("enable_push {}", get(2).unwrap_or(1)),
        format!(
            "max_concurrent_streams {}",
            get(3).map_or("unlimited".into(), |n| n.to_string())
        ),
        format!("initial_window_size {}", get(4).unwrap_or(65535)),
        format!("max_frame_size {}", get(5).unwrap_or(16384)),
        format!("enable_connect_protocol {}", get(8).unwrap_or(0)),
    ]
}

/// The announced settings under several `tune.h2.*` combinations are HAProxy's.
#[test]
fn settings_frame_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let cases = [
        "",
        "  tune.h2.header-table-size 8192\n  tune.h2.initial-window-size 1000000\n  \
         tune.h2.max-concurrent-streams 7\n  tune.h2.max-frame-size 16384",
        "  tune.h2.max-concurrent-streams 0\n  tune.h2.header-table-size 65536",
        "  tune.bufsize 65536",
        "  tune.bufsize 65536\n  tune.h2.max-frame-size 20000",
        // Never more than a buffer.
        "  tune.h2.max-frame-size 100000",
        "  h2-workaround-bogus-websocket-clients",
    ];
    for g in cases {
        let (h, r) = side_by_side(&config(g, "127.0.0.1:9"), |side| settings(side.port(0)));
        assert_eq!(h, r, "haproxy (left) and rproxy (right) differ for {g:?}");
    }
}

fn check(engine: Engine, global: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(global, "127.0.0.1:9").replace("{{P0}}", "8");
    std::fs::write(dir.path().join("c.cfg"), cfg).expect("write");
    Command::new(engine.program())
        .args(["-c", "-f", "c.cfg"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("check runs")
}

/// Out-of-range `tune.h2.*` values are errors for both; the range ends are accepted.
#[test]
fn tune_h2_ranges_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let cases = [
        ("tune.h2.header-table-size 4095", false),
        ("tune.h2.header-table-size 4096", true),
        ("tune.h2.header-table-size 65536", true),
        ("tune.h2.header-table-size 65537", false),
        ("tune.h2.header-table-size 4k", false),
        ("tune.h2.initial-window-size 0", true),
        ("tune.h2.initial-window-size 2147483647", true),
        ("tune.h2.initial-window-size 2147483648", false),
        ("tune.h2.initial-window-size -5", false),
        ("tune.h2.max-concurrent-streams 0", true),
        ("tune.h2.max-concurrent-streams -1", false),
        ("tune.h2.max-frame-size 16383", false),
        ("tune.h2.max-frame-size 16777215", true),
        ("tune.h2.max-frame-size 16777216", false),
        ("tune.h2.max-frame-size", false),
        ("tune.h2.max-frame-size 16384 extra", false),
        ("h2-workaround-bogus-websocket-clients", true),
        ("h2-workaround-bogus-websocket-clients x", false),
    ];
    for (line, ok) in cases {
        let g = format!("  {line}");
        let h = check(Engine::Haproxy, &g);
        let r = check(Engine::Rproxy, &g);
        assert_eq!(h.status.success(), ok, "haproxy on {line:?}: {h:?}");
        assert_eq!(
            r.status.success(),
            ok,
            "rproxy on {line:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        if !ok {
            let e = String::from_utf8_lossy(&r.stderr);
            let kw = line.split(' ').next().unwrap_or(line);
            assert!(e.contains(kw), "rproxy's error names {kw}: {e}");
        }
    }
}

/// The tests' server (run by a [`ScriptedServer`]): answers a WebSocket handshake with 101
/// and then echoes bytes, `/hints` with a 103 before its 200, `/expect` with 100 (when
/// asked) before reading the body; anything else with a 200. Keeps each request head it
/// got.
fn serve_backend(mut c: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let Some(text) = ScriptedServer::read_head(&mut c) else {
            return;
        };
        heads.lock().expect("lock").push(text.clone());
        let lower = text.to_ascii_lowercase();
        // Names compared in lower case, values as sent (the key is case-sensitive).
        let header = |n: &str| {
            lower.lines().zip(text.lines()).find_map(|(l, orig)| {
                l.strip_prefix(&format!("{n}: "))
                    .map(|_| orig[n.len() + 2..].to_string())
            })
        };
        let path = text.split(' ').nth(1).unwrap_or("/").to_string();
        if header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
            if path == "/refuse" {
                let _ = c.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope");
                continue;
            }
            let key = match path.as_str() {
                "/badaccept" => "not the key".to_string(),
                _ => header("sec-websocket-key").unwrap_or_default(),
            };
            let _ = write!(
                c,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nX-Ws: yes\r\n\r\n",
                accept_key(key.trim())
            );
            let mut buf = [0u8; 4096];
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if c.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        if path == "/hints" {
            let _ = c.write_all(
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal",
            );
            continue;
        }
        let mut body = Vec::new();
        if let Some(n) = header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
            if header("expect").is_some_and(|v| v.trim() == "100-continue") {
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

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 4.2.2): base64 of the SHA-1 of the key and
/// the protocol's GUID.
fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(ctx.finish().as_ref())
}

fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for ch in b.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= ch.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn accept_key_known_answer() {
    // RFC 6455 1.3's example.
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

/// The response head an HTTP/2 client saw: status, then sorted `name: value` lines.
fn head_of<B>(res: &http::Response<B>) -> Vec<String> {
    let mut v: Vec<String> = res
        .headers()
        .iter()
        .map(|(n, v)| match n.as_str() {
            // Derived from the proxy's random key.
            "sec-websocket-accept" => format!("{n}: (key's)"),
            _ => format!("{n}: {}", String::from_utf8_lossy(v.as_bytes())),
        })
        .collect();
    v.sort();
    v.insert(0, res.status().as_str().to_string());
    v
}

/// One HTTP/2 connection (prior knowledge) to `port`: a GET (so that the server's
/// SETTINGS are in), then extended CONNECTs for `websocket` to `/chat` (bytes echoed
/// both ways, then the client's end of stream) and to `/refuse` (the server says 403).
async fn websocket_client(port: u16) -> Vec<String> {
    use hyper::body::Incoming;
    let mut out = Vec::new();
    let tcp = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(t) => t,
        Err(e) => return vec![format!("connect: {e}")],
    };
    let (mut tx, conn) =
        match hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake::<_, String>(hyper_util::rt::TokioIo::new(tcp))
            .await
        {
            Ok(x) => x,
            Err(e) => return vec![format!("handshake: {e}")],
        };
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://ws.example:{port}/warm"))
        .body(String::new())
        .expect("request");
    match tx.send_request(req).await {
        Ok(r) => out.push(format!("warm {}", r.status())),
        Err(e) => out.push(format!("warm: {e}")),
    }
    for path in ["/chat?room=1", "/refuse", "/badaccept"] {
        let mut req = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://ws.example:{port}{path}"))
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat")
            .header("origin", "http://ws.example")
            .body(String::new())
            .expect("request");
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let mut res: http::Response<Incoming> = match tx.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                out.push(format!("{path}: {e}"));
                continue;
            }
        };
        out.push(path.to_string());
        // The texts of the proxies' own error pages differ (and so their lengths).
        let own_page = res.status() == http::StatusCode::BAD_GATEWAY;
        out.extend(
            head_of(&res)
                .into_iter()
                .filter(|h| !(own_page && h.starts_with("content-length"))),
        );
        if res.status() != http::StatusCode::OK {
            continue;
        }
        let up = match hyper::upgrade::on(&mut res).await {
            Ok(u) => u,
            Err(e) => {
                out.push(format!("upgrade: {e}"));
                continue;
            }
        };
        let mut io = hyper_util::rt::TokioIo::new(up);
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for msg in [&b"hello"[..], &b"world, twice as long"[..]] {
            let _ = io.write_all(msg).await;
            let mut got = vec![0u8; msg.len()];
            let r = tokio::time::timeout(Duration::from_secs(3), io.read_exact(&mut got)).await;
            out.push(match r {
                Ok(Ok(_)) => format!("echo {}", String::from_utf8_lossy(&got)),
                other => format!("echo failed: {other:?}"),
            });
        }
        // The client's end of stream ends the tunnel: the server's close comes back.
        let _ = io.shutdown().await;
        let mut rest = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(3), io.read_to_end(&mut rest)).await;
        out.push(format!("end {:?}", r.map(|x| x.map(|_| rest.len()).ok())));
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The server's view of a request head, its random `sec-websocket-key` masked.
fn masked(head: &str) -> String {
    head.lines()
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("sec-websocket-key:") {
                "sec-websocket-key: (random)".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// WebSocket over HTTP/2 (RFC 8441): the server gets HAProxy's HTTP/1.1 handshake for
/// it (with a made-up `sec-websocket-key`), the client the same 200 and the bytes
/// echoed; a refused handshake reaches the client as the server's answer, a 101 with a
/// wrong `sec-websocket-accept` as a 502.
#[test]
fn websocket_over_h2_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let be = ScriptedServer::start(serve_backend);
    let cfg = config("", &be.addr);
    let (h, r) = side_by_side(&cfg, |side| {
        be.take();
        let mut out = runtime().block_on(websocket_client(side.port(0)));
        let port = side.port(0).to_string();
        out.extend(be.take().iter().map(|h| masked(h).replace(&port, "PORT")));
        out
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert!(r.contains(&"echo hello".to_string()), "{r:?}");
    assert!(
        r.iter()
            .any(|l| l.starts_with("GET /chat?room=1 HTTP/1.1\n")),
        "{r:?}"
    );
}

/// `curl --http2-prior-knowledge -sv` to `path` on `port`: the status lines it printed
/// (interim ones included) and the body.
fn curl_h2(port: u16, path: &str, extra: &[&str]) -> (Vec<String>, String) {
    let out = Command::new("curl")
        .args(["-sv", "--http2-prior-knowledge", "--max-time", "8"])
        .args(["--expect100-timeout", "1"])
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let statuses = err
        .lines()
        .filter_map(|l| l.strip_prefix("< HTTP/"))
        .map(|l| format!("HTTP/{}", l.trim()))
        .collect();
    (statuses, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Interim answers: a 103 from the server and `Expect: 100-continue` from the client;
/// both engines relay the 1xx before the final answer (tests/http2_info.rs has more).
#[test]
fn interim_answers_side_by_side() {
    if !require(have_program("curl"), "curl not installed") || !require_haproxy() {
        return;
    }
    let be = ScriptedServer::start(serve_backend);
    let cfg = config("", &be.addr);
    let body = "x".repeat(2000);
    let (h, r) = side_by_side(&cfg, |side| {
        be.take();
        let hints = curl_h2(side.port(0), "/hints", &[]);
        let expect = curl_h2(
            side.port(0),
            "/expect",
            &["-H", "Expect: 100-continue", "--data-binary", &body],
        );
        let port = side.port(0).to_string();
        let seen: Vec<String> = be.take().iter().map(|h| h.replace(&port, "PORT")).collect();
        (hints, expect, seen)
    });
    eprintln!("haproxy: {h:?}\nrproxy:  {r:?}");
    // The final answers.
    assert_eq!(h.0.0.last(), r.0.0.last());
    assert_eq!(h.0.1, r.0.1);
    assert_eq!(r.0.1, "final");
    assert_eq!(h.1.0.last(), r.1.0.last());
    assert_eq!(h.1.1, r.1.1);
    assert_eq!(r.1.1, "got 2000");
    // What the server got.
    assert_eq!(h.2, r.2);
    // The interim answers, relayed by both.
    assert_eq!(h.0.0, r.0.0);
    assert_eq!(r.0.0, ["HTTP/2 103", "HTTP/2 200"]);
    assert_eq!(h.1.0, r.1.0);
    assert_eq!(r.1.0, ["HTTP/2 100", "HTTP/2 200"]);
}

/// One WebSocket stream (prior knowledge, no warm-up: hyper's client sends the
/// extended CONNECT whatever the server announced) echoing `a`, then `b` after `pause`.
async fn websocket_pause(port: u16, pause: Duration) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut out = Vec::new();
    let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return vec!["connect failed".into()];
    };
    let Ok((mut tx, conn)) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake::<_, String>(hyper_util::rt::TokioIo::new(tcp))
            .await
    else {
        return vec!["handshake failed".into()];
    };
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://ws.example:{port}/idle"))
        .header("sec-websocket-version", "13")
        .body(String::new())
        .expect("request");
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut res = match tx.send_request(req).await {
        Ok(r) => r,
        Err(e) => return vec![format!("connect: {e}")],
    };
    out.push(res.status().to_string());
    let Ok(up) = hyper::upgrade::on(&mut res).await else {
        out.push("no tunnel".into());
        return out;
    };
    let mut io = hyper_util::rt::TokioIo::new(up);
    for (i, msg) in [b"a", b"b"].iter().enumerate() {
        if i > 0 {
            // Idle longer than two `timeout client` periods, within `timeout tunnel`.
            tokio::time::sleep(pause).await;
        }
        let _ = io.write_all(*msg).await;
        let mut got = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(3), io.read_exact(&mut got)).await;
        out.push(match r {
            Ok(Ok(_)) => format!("echo {}", got[0] as char),
            _ => "no echo".into(),
        });
    }
    out
}

/// A WebSocket stream idle longer than `timeout client` lives on under `timeout tunnel`
/// (the connection is not idle while it runs), with both engines.
#[test]
fn idle_websocket_stream_lives_under_timeout_tunnel_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let be = ScriptedServer::start(serve_backend);
    let cfg = config("", &be.addr).replace(
        "timeout client 5s",
        "timeout client 400ms\n  timeout tunnel 5s",
    );
    let (h, r) = side_by_side(&cfg, |side| {
        runtime().block_on(websocket_pause(side.port(0), Duration::from_millis(1000)))
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(r, ["200 OK", "echo a", "echo b"]);
}

/// Under `h2-workaround-bogus-websocket-clients` (no RFC 8441 announced), an extended
/// CONNECT sent anyway: HAProxy still relays it, rproxy resets the stream (hyper's
/// server accepts `:protocol` only when it announced it; a client following RFC 8441
/// never sends one then). A known difference.
#[test]
fn websocket_without_announcement_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let be = ScriptedServer::start(serve_backend);
    let cfg = config("  h2-workaround-bogus-websocket-clients", &be.addr);
    let (h, r) = side_by_side(&cfg, |side| {
        let out = runtime().block_on(websocket_pause(side.port(0), Duration::ZERO));
        (out, be.take().len())
    });
    assert_eq!(h.0, ["200 OK", "echo a", "echo b"], "haproxy: {h:?}");
    assert_eq!(h.1, 1);
    assert_eq!(r.0.len(), 1, "rproxy: {r:?}");
    assert!(r.0[0].starts_with("connect: "), "rproxy: {r:?}");
    assert_eq!(r.1, 0, "the server saw nothing");
}

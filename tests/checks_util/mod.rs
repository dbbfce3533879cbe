//! Helpers for the check-kind tests: a scripted TCP server that plays one side of a
//! protocol and records what it received, building a kind's probe from configuration
//! text, running it, and writing its verdict the way HAProxy's health log line does.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rproxy::runtime::checks::{CheckCtx, Outcome, Probe, build_probe};

/// One move of the scripted server, per connection, in order.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Read until a LF arrives (counting from the last read step).
    Line,
    /// Read until this many more bytes arrived.
    Bytes(usize),
    /// Close (FIN).
    Close,
    /// Close with a reset.
    Rst,
}

pub fn send(b: &[u8]) -> Step {
    Step::Send(b.to_vec())
}

/// A scripted TCP server: every connection plays `steps`, then reads until the peer
/// closes (so what it sends after the script is recorded too) and closes.
pub struct ScriptServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ScriptServer {
    pub fn start(steps: Vec<Step>) -> ScriptServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { break };
                let steps = steps.clone();
                let rec = rec.clone();
                let idx = {
                    let mut r = rec.lock().unwrap();
                    r.push(Vec::new());
                    r.len() - 1
                };
                thread::spawn(move || play(c, &steps, &rec, idx));
            }
        });
        ScriptServer { addr, received }
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// What each connection received so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
    /// Waits (bounded) until the first connection's bytes stop changing and the
    /// connection is over or `want` bytes arrived.
    pub fn first_received(&self, want: usize) -> Vec<u8> {
        let t0 = Instant::now();
        loop {
            let r = self.received();
            if let Some(first) = r.first()
                && (first.len() >= want || t0.elapsed() > Duration::from_secs(3))
            {
                return first.clone();
            }
            // A connect-only check may reset its connection before it is accepted.
            if t0.elapsed() > Duration::from_secs(3)
                || (want == 0 && t0.elapsed() > Duration::from_millis(300))
            {
                return Vec::new();
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn play(mut c: TcpStream, steps: &[Step], rec: &Mutex<Vec<Vec<u8>>>, idx: usize) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut consumed = 0usize;
    let mut got: Vec<u8> = Vec::new();
    let read_more = |c: &mut TcpStream, got: &mut Vec<u8>| -> bool {
        let mut b = [0u8; 4096];
        match c.read(&mut b) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                got.extend_from_slice(&b[..n]);
                rec.lock().unwrap()[idx].extend_from_slice(&b[..n]);
                true
            }
        }
    };
    for s in steps {
        match s {
            Step::Send(b) => {
                if c.write_all(b).is_err() {
                    return;
                }
            }
            Step::Line => loop {
                if let Some(p) = got[consumed..].iter().position(|&x| x == b'\n') {
                    consumed += p + 1;
                    break;
                }
                if !read_more(&mut c, &mut got) {
                    return;
                }
            },
            Step::Bytes(n) => {
                while got.len() - consumed < *n {
                    if !read_more(&mut c, &mut got) {
                        return;
                    }
                }
                consumed += n;
            }
            Step::Close => {
                let _ = c.shutdown(Shutdown::Both);
                return;
            }
            Step::Rst => {
                let s2 = socket2::SockRef::from(&c);
                let _ = s2.set_linger(Some(Duration::ZERO));
                return;
            }
        }
    }
    while read_more(&mut c, &mut got) {}
}

/// A backend `b` with `lines` (the check options) and one server, as configuration text.
pub fn backend_cfg(lines: &str) -> String {
    format!(
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
         backend b\n{lines}\n  server s 127.0.0.1:1 check\n"
    )
}

/// The probe the backend of `backend_cfg(lines)` would run.
pub fn probe_for(lines: &str) -> Arc<dyn Probe> {
    let text = backend_cfg(lines);
    let loaded = rproxy::config::load_str("t.cfg", &text, &rproxy::config::lexer::ProcessEnv);
    assert!(
        loaded.is_valid(),
        "config invalid:\n{text}\n{:?}",
        loaded.diags
    );
    let p = loaded
        .model
        .proxies
        .iter()
        .find(|p| p.name == "b")
        .expect("backend b");
    build_probe(p, 16384)
}

/// Runs `probe` once against `addr`, with `tout` for the dialogue.
pub fn run_probe(probe: &Arc<dyn Probe>, addr: SocketAddr, tout: Duration) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ctx = CheckCtx::new(addr, Duration::from_secs(1), Some(tout));
        probe.check(&ctx).await
    })
}

/// The probe of `lines` against a new scripted server playing `steps`, with a 300 ms
/// dialogue budget; returns the verdict and what the server received.
pub fn check(lines: &str, steps: Vec<Step>) -> (Outcome, Vec<u8>) {
    let srv = ScriptServer::start(steps);
    let o = run_probe(&probe_for(lines), srv.addr(), Duration::from_millis(300));
    // The probe has closed its side: the server's record is complete soon after.
    let t0 = Instant::now();
    let mut last = srv.received();
    loop {
        thread::sleep(Duration::from_millis(20));
        let now = srv.received();
        if now == last || t0.elapsed() > Duration::from_secs(2) {
            break;
        }
        last = now;
    }
    (o, last.into_iter().next().unwrap_or_default())
}

/// The verdict as HAProxy's health log line writes it after `failed, ` / `succeeded, `:
/// `reason: R[, code: N][, info: "I"]`.
pub fn render(o: &Outcome) -> String {
    let mut s = format!("reason: {}", o.status.reason());
    if let Some(c) = o.code {
        s.push_str(&format!(", code: {c}"));
    }
    if let Some(i) = &o.info {
        s.push_str(&format!(", info: \"{i}\""));
    }
    s
}

/// The same part of a HAProxy health log line (`None` if it is not one).
pub fn haproxy_verdict(line: &str) -> Option<(String, String)> {
    let i = line.find("Health check for server ")?;
    let rest = &line[i + "Health check for server ".len()..];
    let (srv, rest) = rest.split_once(' ')?;
    let r = rest.find("reason: ")?;
    let e = rest.find(", check duration")?;
    Some((srv.to_string(), rest[r..e].to_string()))
}

/// haproxy checking one server per backend `b0`, `b1`, ... (each `(check lines, server
/// address)`, `check inter 200`) with `option log-health-checks` and `timeout check
/// TCHECK`, logging to stderr. Waits up to 5 s until it logged a verdict for every
/// server; returns haproxy, still running, and the first verdict of each, in order.
pub fn haproxy_verdicts(
    backends: &[(&str, SocketAddr)],
    timeout_check: &str,
) -> (super::common::Proxy, Vec<String>) {
    let port = super::common::free_port();
    let mut cfg = format!(
        "global\n  log stderr format raw local0\ndefaults\n  mode tcp\n  log global\n  option log-health-checks\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n  timeout check {timeout_check}\nfrontend f\n  bind 127.0.0.1:{port}\n  default_backend b0\n"
    );
    for (i, (lines, addr)) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "backend b{i}\n{lines}\n  server s {addr} check inter 200\n"
        ));
    }
    let h = super::common::Proxy::start_haproxy(&cfg);
    let verdicts = || -> Vec<Option<String>> {
        let err = h.stderr_text();
        (0..backends.len())
            .map(|i| {
                let me = format!("b{i}/s");
                err.lines()
                    .filter_map(haproxy_verdict)
                    .find(|(s, _)| *s == me)
                    .map(|(_, v)| v)
            })
            .collect()
    };
    assert!(
        super::common::eventually(Duration::from_secs(5), || verdicts()
            .iter()
            .all(Option::is_some)),
        "haproxy did not check every server:\n{}",
        h.stderr_text()
    );
    let v = verdicts()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    (h, v)
}

//! Agent checks (`agent-check`) through the real binary, side by side with HAProxy 2.6.12:
//! an in-test TCP agent answers scripted lines to both proxies at once, and after each
//! answer the servers' stats rows (state, weights, the check and agent columns) and the
//! state-change lines on standard error must match. Also the stats socket's agent
//! commands (`enable/disable agent`, `set server ... agent ...`), answer for answer, and
//! `on-marked-down shutdown-sessions` / `on-marked-up shutdown-backup-sessions`, and
//! `check-alpn` (against an `openssl s_server` that accepts only `h2`).

mod common;
mod tls_util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::mock::MockServer;
use common::ports::{free_port, local};
use common::proxy::{Engine, Proxy, eventually};
use common::sbs::require_haproxy;

/// A scripted agent: answers every connection with the current line, after reading what
/// the proxy sends (up to its first line feed), and records what it was sent.
struct Agent {
    port: u16,
    reply: Arc<Mutex<String>>,
    got: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(first: &str) -> Agent {
        let l = TcpListener::bind("127.0.0.1:0").expect("agent bind");
        let port = l.local_addr().expect("addr").port();
        let reply = Arc::new(Mutex::new(first.to_string()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (r, g) = (reply.clone(), got.clone());
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buf = Vec::new();
                let mut b = [0u8; 256];
                while !buf.contains(&b'\n') {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
                g.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let line = format!("{}\n", r.lock().unwrap());
                let _ = c.write_all(line.as_bytes());
            }
        });
        Agent { port, reply, got }
    }
    fn say(&self, line: &str) {
        *self.reply.lock().unwrap() = line.to_string();
    }
    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

/// One command, newline added.
fn ask(sock: &Path, cmd: &str) -> String {
    common::stats_cli::ask(sock, &format!("{cmd}\n"))
}

/// `show stat` as rows of named columns, keyed by `backend/server`.
fn stat(sock: &Path) -> HashMap<String, HashMap<String, String>> {
    let text = ask(sock, "show stat");
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .map(String::from)
        .collect();
    let mut rows = HashMap::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let row: HashMap<String, String> = head
            .iter()
            .cloned()
            .zip(l.split(',').map(String::from))
            .collect();
        let key = format!("{}/{}", row["pxname"], row["svname"]);
        rows.insert(key, row);
    }
    rows
}

/// The columns compared between the two proxies (durations only for presence).
const COLS: &[&str] = &[
    "status",
    "weight",
    "uweight",
    "chkdown",
    "check_status",
    "check_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "last_chk",
    "last_agt",
    "agent_status",
    "agent_code",
    "agent_desc",
    "agent_rise",
    "agent_fall",
    "agent_health",
];

fn cols(row: &HashMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = COLS
        .iter()
        .map(|c| format!("{c}={}", row.get(*c).map(String::as_str).unwrap_or("?")))
        .collect();
    for d in ["check_duration", "agent_duration"] {
        let set = row.get(d).is_some_and(|x| !x.is_empty());
        v.push(format!("{d}:{}", if set { "set" } else { "empty" }));
    }
    v
}

/// A proxy with its own directory (for the stats socket).
struct Side {
    proxy: Proxy,
    _dir: tempfile::TempDir,
    sock: PathBuf,
    port: u16,
    /// The stats page's port, for templates with `{ST}`.
    st: u16,
}

fn start(engine: Engine, template: &str) -> Side {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let st = free_port();
    let cfg = template
        .replace("{SOCK}", &sock.display().to_string())
        .replace("{PORT}", &port.to_string())
        .replace("{ST}", &st.to_string());
    let proxy = Proxy::start_engine(engine, &cfg);
    assert!(
        eventually(Duration::from_secs(3), || sock.exists()),
        "{} made no stats socket",
        engine.name()
    );
    Side {
        proxy,
        _dir: dir,
        sock,
        port,
        st,
    }
}

/// Server state-change lines, with pids, durations and the counts of servers left
/// normalised (two agents answering at once change servers in either order).
fn changes(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("erver b/") || l.contains("check for server b/"))
        .map(|l| {
            let text = l.split_once(") : ").map(|x| x.1).unwrap_or(l);
            let text = match text.find(" active and ") {
                Some(i) => {
                    let start = text[..i].rfind(' ').map_or(0, |j| j + 1);
                    let rest = &text[i + 12..];
                    let end = rest.find(' ').unwrap_or(0);
                    format!("{}N active and N{}", &text[..start], &rest[end..])
                }
                None => text.to_string(),
            };
            match text.find("check duration: ") {
                Some(i) => {
                    let rest = &text[i + 16..];
                    let end = rest.find("ms").unwrap_or(0);
                    format!("{}check duration: Nms{}", &text[..i], &rest[end + 2..])
                }
                None => text,
            }
        })
        .collect()
}

const TEMPLATE: &str = "
global
  stats socket {SOCK} level admin
defaults
  mode tcp
  timeout connect 1s
  timeout client 5s
  timeout server 5s
backend b
  balance roundrobin
  server s1 127.0.0.1:{M1} weight 40 check inter 1000 agent-check agent-port {A1} agent-inter 100 agent-send \"ping\\n\"
  server s2 127.0.0.1:{M2} weight 40 agent-check agent-addr 127.0.0.1 agent-port {A2} agent-inter 100 agent-send \"hello s2\\n\"
frontend f
  bind 127.0.0.1:{PORT}
  default_backend b
";

fn template(m1: u16, m2: u16, a1: u16, a2: u16) -> String {
    TEMPLATE
        .replace("{M1}", &m1.to_string())
        .replace("{M2}", &m2.to_string())
        .replace("{A1}", &a1.to_string())
        .replace("{A2}", &a2.to_string())
}

/// Two mock servers, two agents answering `up`, and haproxy then rproxy started on
/// [`TEMPLATE`] changed by `edit`: `(m1, m2, a1, a2, haproxy, rproxy)`.
fn start_pair(
    edit: impl Fn(String) -> String,
) -> (MockServer, MockServer, Agent, Agent, Side, Side) {
    let m1 = MockServer::start("m1");
    let m2 = MockServer::start("m2");
    let a1 = Agent::start("up");
    let a2 = Agent::start("up");
    let cfg = edit(template(m1.port(), m2.port(), a1.port, a2.port));
    let h = start(Engine::Haproxy, &cfg);
    let r = start(Engine::Rproxy, &cfg);
    (m1, m2, a1, a2, h, r)
}

/// Waits until both proxies show `want` (column, value) pairs on `server` with no agent
/// check in progress, then requires the compared columns to be the same.
fn settle_same(sides: &[&Side], server: &str, want: &[(&str, &str)], step: &str) {
    let mut rows = Vec::new();
    for s in sides {
        let mut last = None;
        let ok = eventually(Duration::from_secs(3), || {
            let all = stat(&s.sock);
            let Some(r) = all.get(server) else {
                return false;
            };
            last = Some(r.clone());
            !r["agent_status"].starts_with("* ")
                && !r["check_status"].starts_with("* ")
                && want
                    .iter()
                    .all(|(k, v)| r.get(*k).map(String::as_str) == Some(*v))
        });
        let got = last.as_ref().map(cols);
        assert!(
            ok,
            "{step}: {} never showed {want:?} on {server}; last: {got:?}",
            s.proxy.engine().name()
        );
        rows.push(got.unwrap_or_default());
    }
    // Both showed it; their columns must agree at one moment. HAProxy clears `last_agt`
    // as a check starts, so a snapshot may catch it empty between two settled ones (a
    // loaded run saw it): compare again until they agree or the time is up.
    let settled = |s: &Side| {
        stat(&s.sock).get(server).and_then(|r| {
            (!r["agent_status"].starts_with("* ") && !r["check_status"].starts_with("* "))
                .then(|| cols(r))
        })
    };
    eventually(Duration::from_secs(3), || {
        if let (Some(a), Some(b)) = (settled(sides[0]), settled(sides[1])) {
            rows = vec![a, b];
        }
        rows[0] == rows[1]
    });
    assert_eq!(
        rows[0], rows[1],
        "{step}: {server} differs (haproxy, rproxy)"
    );
}

#[test]
fn agent_answers_move_state_and_weight_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (_m1, _m2, a1, a2, h, r) = start_pair(|cfg| cfg);
    let sides = [&h, &r];
    settle_same(
        &sides,
        "b/s1",
        &[
            ("status", "UP"),
            ("agent_status", "L7OK"),
            ("check_status", "L4OK"),
        ],
        "start",
    );
    settle_same(
        &sides,
        "b/s2",
        &[("status", "no check"), ("agent_status", "L7OK")],
        "start",
    );
    // (agent line, expected status, weight, agent_status, last_agt)
    let script: &[(&str, &str, &str, &str, &str)] = &[
        ("down", "DOWN (agent)", "40", "L7STS", "via agent : down"),
        ("up 75%", "UP", "30", "L7OK", "via agent : up"),
        ("drain", "DRAIN (agent)", "30", "CHECKED", ""),
        ("ready", "UP", "30", "CHECKED", ""),
        ("maint", "MAINT", "30", "CHECKED", ""),
        ("READY, 100%", "UP", "40", "CHECKED", ""),
        (
            "fail #bad disk",
            "DOWN (agent)",
            "40",
            "L7STS",
            "via agent : fail (bad disk)",
        ),
        (
            "stopped maxconn:10",
            "DOWN (agent)",
            "40",
            "L7STS",
            "via agent : stopped",
        ),
        ("up\t300%", "UP", "120", "L7OK", "via agent : up"),
        (
            "foo",
            "UP",
            "120",
            "CHECKED",
            "agent reports an error : foo",
        ),
        (
            "50%x",
            "UP",
            "120",
            "CHECKED",
            "agent warns : Trailing garbage in weight string",
        ),
        ("up foo", "UP", "120", "L7OK", "via agent : up (foo)"),
        ("#just a comment", "UP", "120", "CHECKED", ""),
        ("up 100% maxconn:0", "UP", "40", "L7OK", "via agent : up"),
    ];
    for (line, status, weight, ast, lagt) in script {
        a1.say(line);
        a2.say(line);
        let want = [
            ("status", *status),
            ("weight", *weight),
            ("agent_status", *ast),
            ("last_agt", *lagt),
        ];
        settle_same(&sides, "b/s1", &want, line);
        // The agent-only server: "no check" while up.
        let status2 = if *status == "UP" { "no check" } else { status };
        let want2 = [
            ("status", status2),
            ("weight", *weight),
            ("agent_status", *ast),
            ("last_agt", *lagt),
        ];
        settle_same(&sides, "b/s2", &want2, line);
    }
    // Both sent agent-send, escapes applied.
    assert!(a1.got().iter().any(|g| g == "ping\n"), "{:?}", a1.got());
    assert!(a2.got().iter().any(|g| g == "hello s2\n"));
    // The same state changes, in the same words, per server.
    let (hc, rc) = (
        changes(&h.proxy.stderr_text()),
        changes(&r.proxy.stderr_text()),
    );
    for s in ["b/s1 ", "b/s2 "] {
        let pick =
            |v: &[String]| -> Vec<String> { v.iter().filter(|l| l.contains(s)).cloned().collect() };
        assert_eq!(pick(&hc), pick(&rc), "state changes of {s}");
    }
    assert!(hc.iter().any(|l| l.contains("via agent : fail (bad disk)")));
}

/// The health check and the agent must both agree for a server to be UP.
#[test]
fn health_check_and_agent_both_count() {
    if !require_haproxy() {
        return;
    }
    // Quick health checks here: the test waits for the server to go and come back.
    let (m1, _m2, a1, _a2, h, r) =
        start_pair(|cfg| cfg.replace("check inter 1000", "check inter 200"));
    let m1_port = m1.port();
    let sides = [&h, &r];
    settle_same(
        &sides,
        "b/s1",
        &[
            ("status", "UP"),
            ("agent_status", "L7OK"),
            ("check_status", "L4OK"),
        ],
        "start",
    );
    // The server goes away: DOWN by its health check, whatever the agent says.
    drop(m1);
    settle_same(
        &sides,
        "b/s1",
        &[("status", "DOWN"), ("check_status", "L4CON")],
        "server gone",
    );
    // The agent says down too: it now names the agent.
    a1.say("down");
    settle_same(
        &sides,
        "b/s1",
        &[("status", "DOWN (agent)"), ("agent_status", "L7STS")],
        "agent down",
    );
    // Agent up, server still gone: DOWN.
    a1.say("up");
    settle_same(
        &sides,
        "b/s1",
        &[("status", "DOWN"), ("agent_status", "L7OK")],
        "agent up, check down",
    );
    // The server comes back on the same port: UP.
    let _m1 = MockServer::builder("m1").port(m1_port).start();
    settle_same(
        &sides,
        "b/s1",
        &[("status", "UP"), ("check_status", "L4OK")],
        "server back",
    );
}

#[test]
fn stats_socket_agent_commands_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (_m1, _m2, _a1, a2, h, r) =
        start_pair(|cfg| cfg.replace("frontend f", "  server s3 127.0.0.1:1 weight 1\nfrontend f"));
    let sides = [&h, &r];
    settle_same(&sides, "b/s2", &[("agent_status", "L7OK")], "start");
    // Answers, byte for byte.
    let cmds = [
        "set server b/s2 agent bogus",
        "set server b/s2 agent",
        "set server b/s2 agent-addr bogus",
        "set server b/s2 agent-addr",
        "set server b/s2 agent-port x",
        "set server b/s2 agent-port",
        "set server b/s2 agent-addr 127.0.0.1 port x",
        "enable agent b/s3",
        "disable agent b/s3",
        "set server b/s3 agent up",
        "set server b/s3 agent-send x",
        "set server b/s3 agent-addr 127.0.0.1",
        "set server b/s3 agent-port 1",
        "enable agent b/zz",
        "enable agent",
        "disable agent",
    ];
    for c in cmds {
        assert_eq!(ask(&h.sock, c), ask(&r.sock, c), "answer to '{c}'");
    }
    assert_eq!(
        agent_state(&h.sock),
        agent_state(&r.sock),
        "show servers state"
    );
    // Forced down from the socket, said as HAProxy says it; the agent now leaves the
    // health alone so that the forced state stays.
    a2.say("#idle");
    settle_same(&sides, "b/s2", &[("agent_status", "CHECKED")], "idle");
    for s in sides {
        assert_eq!(ask(&s.sock, "set server b/s2 agent down"), "\n");
    }
    settle_same(
        &sides,
        "b/s2",
        &[("status", "DOWN (agent)"), ("agent_health", "0")],
        "set agent down",
    );
    // While disabled the agent columns are empty and 'set server ... agent' refused.
    for s in sides {
        assert_eq!(ask(&s.sock, "disable agent b/s2"), "\n");
        assert_eq!(
            ask(&s.sock, "set server b/s2 agent up"),
            "agent checks are not enabled on this server.\n\n"
        );
    }
    settle_same(
        &sides,
        "b/s2",
        &[("agent_status", ""), ("status", "DOWN")],
        "disabled",
    );
    assert_eq!(
        agent_state(&h.sock),
        agent_state(&r.sock),
        "disabled agent's state"
    );
    for s in sides {
        assert_eq!(ask(&s.sock, "enable agent b/s2"), "\n");
    }
    // The agent says up again: UP.
    a2.say("up");
    settle_same(
        &sides,
        "b/s2",
        &[("status", "no check"), ("agent_status", "L7OK")],
        "enabled",
    );
    let pick = |p: &Proxy| -> Vec<String> {
        changes(&p.stderr_text())
            .into_iter()
            .filter(|l| l.contains("b/s2 "))
            .collect()
    };
    assert_eq!(pick(&h.proxy), pick(&r.proxy));
    assert!(
        pick(&r.proxy)
            .iter()
            .any(|l| l.contains("is DOWN, changed from CLI.")),
        "{:?}",
        pick(&r.proxy)
    );
    // A new agent-send reaches the agent (the socket takes one word, no escapes): from
    // rproxy first, then from both.
    for s in [&r, &h] {
        assert_eq!(ask(&s.sock, "set server b/s2 agent-send again"), "\n");
        assert!(
            eventually(Duration::from_secs(3), || a2
                .got()
                .iter()
                .any(|g| g == "again")),
            "{}: {:?}",
            s.proxy.engine().name(),
            a2.got().last()
        );
    }
}

/// The agent fields of `show servers state` (srv_agent_state, srv_agent_addr,
/// srv_agent_port) per server.
fn agent_state(sock: &Path) -> Vec<String> {
    ask(sock, "show servers state")
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(' '))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let at = |i: usize| f.get(i).copied().unwrap_or("?");
            format!("{} {} {} {}", at(3), at(14), at(23), at(24))
        })
        .collect()
}

/// A held TCP connection through the proxy to a server that never answers.
fn hold(port: u16) -> TcpStream {
    let c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_millis(50))).ok();
    c
}

/// Whether the proxy closed the connection.
fn closed(c: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    match c.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// A TCP server that accepts and keeps every connection open.
fn sink_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

#[test]
fn on_marked_down_and_up_end_sessions_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (s1, bk) = (sink_server(), sink_server());
    let a1 = Agent::start("up");
    let cfg = format!(
        "
global
  stats socket {{SOCK}} level admin
defaults
  mode tcp
  timeout connect 1s
  timeout client 10s
  timeout server 10s
backend b
  server s1 127.0.0.1:{s1} agent-check agent-port {a} agent-inter 100 agent-send \"x\\n\" on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
  server bk 127.0.0.1:{bk} backup
frontend f
  bind 127.0.0.1:{{PORT}}
  default_backend b
",
        a = a1.port
    );
    let h = start(Engine::Haproxy, &cfg);
    let r = start(Engine::Rproxy, &cfg);
    let sides = [&h, &r];
    settle_same(&sides, "b/s1", &[("agent_status", "L7OK")], "start");
    let mut held: Vec<TcpStream> = sides.iter().map(|s| hold(s.port)).collect();
    assert!(
        eventually(Duration::from_secs(3), || sides
            .iter()
            .all(|s| stat(&s.sock)["b/s1"]["scur"] == "1")),
        "sessions did not reach s1"
    );
    assert!(held.iter_mut().all(|c| !closed(c)));
    // DOWN: the session on s1 ends, on both.
    a1.say("down");
    for (c, s) in held.iter_mut().zip(sides) {
        assert!(
            eventually(Duration::from_secs(3), || closed(c)),
            "{}: session on s1 survived its DOWN",
            s.proxy.engine().name()
        );
    }
    // A session now goes to the backup; s1 UP again ends it.
    let mut on_backup: Vec<TcpStream> = sides.iter().map(|s| hold(s.port)).collect();
    assert!(
        eventually(Duration::from_secs(3), || sides
            .iter()
            .all(|s| stat(&s.sock)["b/bk"]["scur"] == "1")),
        "sessions did not reach the backup"
    );
    a1.say("up");
    for (c, s) in on_backup.iter_mut().zip(sides) {
        assert!(
            eventually(Duration::from_secs(3), || closed(c)),
            "{}: backup session survived s1 coming UP",
            s.proxy.engine().name()
        );
    }
}

#[test]
fn config_accepts_agent_and_alpn_keywords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("a.cfg");
    std::fs::write(
        &cfg,
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
         backend b\n  default-server agent-inter 3s no-agent-check\n  server s1 127.0.0.1:8080 check \
         check-ssl verify none check-alpn h2,http/1.1 agent-check agent-port 9999 agent-addr 127.0.0.2 \
         agent-send \"x\\n\" on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions\n",
    )
    .expect("write");
    let out = common::rproxy(&["-c", "-f", &cfg.display().to_string()], dir.path());
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("agent"), "{err}");
    assert!(!err.contains("alpn"), "{err}");
    std::fs::write(
        &cfg,
        "backend b\n  server s1 127.0.0.1:8080 on-marked-down nope\n",
    )
    .expect("write");
    let out = common::rproxy(&["-c", "-f", &cfg.display().to_string()], dir.path());
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("on-marked-down"));
    // As HAProxy: an agent check needs its port.
    std::fs::write(&cfg, "backend b\n  server s1 127.0.0.1:8080 agent-check\n").expect("write");
    let out = common::rproxy(&["-c", "-f", &cfg.display().to_string()], dir.path());
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("agent port"));
}

#[test]
fn stats_page_agent_actions_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (_m1, _m2, _a1, a2, h, r) = start_pair(|cfg| {
        cfg + "listen stats\n  mode http\n  bind 127.0.0.1:{ST}\n  stats enable\n  stats uri /st\n  \
           stats admin if TRUE\n"
    });
    let sides = [&h, &r];
    settle_same(&sides, "b/s2", &[("agent_status", "L7OK")], "start");
    // The agent now leaves the health alone, so what the page forces stays.
    a2.say("#idle");
    settle_same(&sides, "b/s2", &[("agent_status", "CHECKED")], "idle");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let post = |s: &Side, body: &str| {
        common::client::http_request(local(s.st), "POST", "/st", &form, body.as_bytes())
            .expect("stats page")
    };
    let steps: &[(&str, &[(&str, &str)])] = &[
        (
            "adown",
            &[("status", "DOWN (agent)"), ("agent_health", "0")],
        ),
        ("arunn", &[("status", "no check"), ("agent_health", "1")]),
        ("dagent", &[("agent_status", "")]),
        ("eagent", &[("agent_status", "CHECKED")]),
    ];
    for (action, want) in steps {
        let body = format!("s=s2&action={action}&b=b");
        let (a, b) = (post(&h, &body), post(&r, &body));
        assert_eq!(a.status, b.status, "{action}");
        assert_eq!(a.header("location"), b.header("location"), "{action}");
        assert_eq!(a.header("location"), Some("/st;st=DONE"), "{action}");
        settle_same(&sides, "b/s2", want, action);
    }
}

/// `check-alpn`: the TLS check offers these protocols instead of `alpn`. A server that
/// accepts only `h2` fails a check offering `http/1.1` and passes one offering `h2`.
#[test]
fn check_alpn_is_offered_like_haproxy() {
    if !(common::require(common::have_program("openssl"), "openssl not installed")
        && require_haproxy())
    {
        return;
    }
    let pki = tls_util::make_pki();
    let port = free_port();
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-www",
            "-quiet",
        ])
        .args(["-cert", &pki.p("leaf.pem"), "-key", &pki.p("leaf.key")])
        .args(["-alpn", "h2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    assert!(
        common::proxy::wait_listening(&[port]),
        "s_server did not listen"
    );
    let cfg = format!(
        "
global
  stats socket {{SOCK}} level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
backend b
  server good 127.0.0.1:{port} check inter 200 rise 1 fall 1 check-ssl verify none alpn http/1.1 check-alpn h2
  server bad 127.0.0.1:{port} check inter 200 rise 1 fall 1 check-ssl verify none alpn h2 check-alpn http/1.1
frontend f
  bind 127.0.0.1:{{PORT}}
  default_backend b
"
    );
    let h = start(Engine::Haproxy, &cfg);
    let r = start(Engine::Rproxy, &cfg);
    let sides = [&h, &r];
    settle_same(
        &sides,
        "b/good",
        &[("check_status", "L6OK")],
        "check-alpn h2",
    );
    settle_same(
        &sides,
        "b/bad",
        &[("check_status", "L6RSP")],
        "check-alpn http/1.1",
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `option log-health-checks`: each agent result that moves the agent's health or
/// changes its status is said (`Agent check for server ...`), in HAProxy's words.
#[test]
fn agent_results_are_logged_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (_m1, _m2, a1, _a2, h, r) =
        start_pair(|cfg| cfg.replace("defaults\n", "defaults\n  option log-health-checks\n"));
    let sides = [&h, &r];
    // Health check and agent each run first at a random point of their interval: wait for
    // both results.
    settle_same(
        &sides,
        "b/s1",
        &[("agent_status", "L7OK"), ("check_status", "L4OK")],
        "start",
    );
    for (line, ast, lagt) in [
        ("down #going", "L7STS", "via agent : down (going)"),
        ("75%", "CHECKED", ""),
        ("foo", "CHECKED", "agent reports an error : foo"),
        ("up", "L7OK", "via agent : up"),
    ] {
        a1.say(line);
        let want = [("agent_status", ast), ("last_agt", lagt)];
        settle_same(&sides, "b/s1", &want, line);
    }
    let pick = |p: &Proxy| -> Vec<String> {
        changes(&p.stderr_text())
            .into_iter()
            .filter(|l| l.contains("Agent check for server b/s1 ") || l.contains("Server b/s1 "))
            .collect()
    };
    let (hl, rl) = (pick(&h.proxy), pick(&r.proxy));
    assert_eq!(hl, rl);
    assert!(
        rl.iter()
            .any(|l| l.contains("Agent check for server b/s1 failed, reason: Layer7 wrong status")),
        "{rl:?}"
    );
}

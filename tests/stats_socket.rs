//! The runtime API on the stats socket, side by side with HAProxy 2.6.12: the same
//! configuration under both, the same commands over a UNIX socket (a plain `UnixStream`
//! client, and `socat` as admins use it), answers compared byte for byte where HAProxy's
//! are deterministic (errors, `show backend`, `get weight`, `show servers state` with the
//! seconds column blanked, prompt mode), by gist elsewhere (`help`, `show info` field
//! names). Then what the commands do to traffic: `set server ... state drain`, weights,
//! `shutdown sessions server`, levels, and the socket's `mode`.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::client::try_http_get;
use common::mock::MockServer;
use common::ports::{free_port, local, refused_port};
use common::proxy::{Engine, Proxy, eventually};
use common::sbs::require_haproxy;
use common::stats_cli::{ask, ask_tcp, start_with_sockets};
use common::{have_program, require};

struct Setup {
    proxy: Proxy,
    dir: tempfile::TempDir,
    port: u16,
    user_port: u16,
}

impl Setup {
    fn admin(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }
    fn operator(&self) -> PathBuf {
        self.dir.path().join("op.sock")
    }
}

fn start(engine: Engine, m1: &MockServer, m2: &MockServer, dead: u16) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let user_port = free_port();
    let cfg = format!(
        "global\n\
         \x20   stats socket {d}/admin.sock mode 600 level admin\n\
         \x20   stats socket ipv4@127.0.0.1:{user_port} level user\n\
         \x20   stats socket {d}/op.sock level operator\n\
         \x20   stats timeout 5s\n\
         defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 1s\n\
         \x20   timeout client 5s\n\
         \x20   timeout server 5s\n\
         frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   default_backend be\n\
         backend be\n\
         \x20   balance roundrobin\n\
         \x20   server s1 {a1} weight 10\n\
         \x20   server s2 {a2} check inter 200ms\n\
         \x20   server s3 127.0.0.1:{dead} backup disabled\n\
         backend other\n\
         \x20   id 20\n\
         \x20   server x 127.0.0.1:{dead} id 7\n",
        d = dir.path().display(),
        a1 = m1.addr_str(),
        a2 = m2.addr_str(),
    );
    let socks = [dir.path().join("admin.sock"), dir.path().join("op.sock")];
    let proxy = start_with_sockets(engine, &cfg, &socks);
    Setup {
        proxy,
        dir,
        port,
        user_port,
    }
}

/// `show servers state` with the seconds-since-change column blanked.
fn servers_state(sock: &Path) -> String {
    common::stats_cli::servers_state(sock, 10)
}

/// Commands whose answers must be the same bytes as HAProxy's.
const SAME_BYTES: &[&str] = &[
    "show backend\n",
    "get weight be/s1\n",
    "get weight\n",
    "get weight be\n",
    "get weight be/zz\n",
    "get weight zz/s1\n",
    "set weight be/s1\n",
    "set weight be/s1 300\n",
    "set weight be/s1 abc\n",
    "set weight be 1\n",
    "set server be/s1\n",
    "set server be/s1 weight\n",
    "set server be/s1 state foo\n",
    "set maxconn server be/s1\n",
    "set maxconn server be/s1 abc\n",
    "enable health be/s1\n",
    "disable health be/s1\n",
    "disable server\n",
    "disable server be/zz\n",
    "shutdown sessions server be/zz\n",
    "show servers state zz\n",
    "show backend; get weight be/s1\n",
    "prompt\nshow backend\nget weight be/s1\nquit\n",
    "prompt\nprompt\nshow backend\n",
    "set weight be/s1 50%\nget weight be/s1\n",
    "quit\n",
    "set timeout cli 30\n",
    "set timeout cli\n",
    "set timeout cli abc\n",
    "set timeout foo 3\n",
];

#[test]
fn answers_match_haproxy_byte_for_byte() {
    if !require_haproxy() {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let dead = refused_port();
    let h = start(Engine::Haproxy, &m1, &m2, dead);
    let r = start(Engine::Rproxy, &m1, &m2, dead);
    // Both see s2 checked UP before the states are compared.
    let ready = |s: &Setup| servers_state(&s.admin()).contains(" s2 127.0.0.1 2 0 1 1 T 6 3 4 6 ");
    assert!(
        eventually(Duration::from_secs(5), || ready(&h) && ready(&r)),
        "haproxy:\n{}\nrproxy:\n{}",
        servers_state(&h.admin()),
        servers_state(&r.admin())
    );
    assert_eq!(servers_state(&r.admin()), servers_state(&h.admin()));
    for cmd in SAME_BYTES {
        assert_eq!(
            ask(&r.admin(), cmd),
            ask(&h.admin(), cmd),
            "command {cmd:?}"
        );
    }
    // An escaped `;` is part of the word: an unknown command for both (the suggestions
    // differ: HAProxy has more commands).
    let first = |s: String| s.lines().next().map(str::to_string);
    assert_eq!(
        first(ask(&r.admin(), "show backend\\; get weight be/s1\n")),
        first(ask(&h.admin(), "show backend\\; get weight be/s1\n"))
    );
    // State changes show the same way.
    for cmd in [
        "set server be/s1 state drain\n",
        "disable health be/s2\n",
        "set weight be/s2 0\n",
        "set maxconn server be/s1 10\n",
    ] {
        assert_eq!(
            ask(&r.admin(), cmd),
            ask(&h.admin(), cmd),
            "command {cmd:?}"
        );
    }
    assert_eq!(servers_state(&r.admin()), servers_state(&h.admin()));
    for cmd in ["set server be/s1 state maint\n", "enable health be/s2\n"] {
        ask(&r.admin(), cmd);
        ask(&h.admin(), cmd);
    }
    assert_eq!(servers_state(&r.admin()), servers_state(&h.admin()));
    // Levels: the user socket (TCP) and the operator one refuse with HAProxy's words.
    for cmd in [
        "set weight be/s1 2\n",
        "show sess\n",
        "disable server be/s1\n",
        "shutdown sessions server be/s1\n",
        "get weight be/s2\n",
    ] {
        assert_eq!(
            ask_tcp(local(r.user_port), cmd),
            ask_tcp(local(h.user_port), cmd),
            "user level: {cmd:?}"
        );
    }
    for cmd in ["set weight be/s1 2\n", "set maxconn server be/s1 3\n"] {
        assert_eq!(
            ask(&r.operator(), cmd),
            ask(&h.operator(), cmd),
            "operator level: {cmd:?}"
        );
        assert_eq!(ask(&r.operator(), cmd), "Permission denied\n\n");
    }
    assert!(ask(&r.operator(), "show sess\n").contains("fe=GLOBAL"));
}

#[test]
fn help_and_show_info_have_haproxys_shape() {
    if !require_haproxy() {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let dead = refused_port();
    let h = start(Engine::Haproxy, &m1, &m2, dead);
    let r = start(Engine::Rproxy, &m1, &m2, dead);
    // help: HAProxy's header, and each command listed is one of HAProxy's, in its layout.
    let (rh, hh) = (ask(&r.admin(), "help\n"), ask(&h.admin(), "help\n"));
    assert_eq!(rh.lines().next(), hh.lines().next());
    assert!(rh.ends_with("\n\n") && hh.ends_with("\n\n"));
    let syntax = |l: &str| l.get(..42).map(str::to_string);
    let theirs: Vec<_> = hh.lines().filter_map(syntax).collect();
    for l in rh.lines().skip(1).filter(|l| !l.is_empty()) {
        assert!(
            theirs.contains(&syntax(l).unwrap_or_default()),
            "not in haproxy's help: {l}"
        );
    }
    assert!(rh.lines().count() > 15);
    // Unknown commands: HAProxy's header and its last three lines.
    let (ru, hu) = (ask(&r.admin(), "foo\n"), ask(&h.admin(), "foo\n"));
    assert_eq!(ru.lines().next(), hu.lines().next());
    let tail = |s: &str| {
        s.lines()
            .rev()
            .take(4)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&ru), tail(&hu));
    // The empty command.
    let (re, he) = (ask(&r.admin(), "\n"), ask(&h.admin(), "\n"));
    assert_eq!(re.lines().next(), he.lines().next());
    // show info: the same field names in the same order, the same typed positions/tags.
    let names = |s: &str| {
        s.lines()
            .filter_map(|l| l.split_once(": ").map(|(k, _)| k.to_string()))
            .collect::<Vec<_>>()
    };
    let (ri, hi) = (
        ask(&r.admin(), "show info\n"),
        ask(&h.admin(), "show info\n"),
    );
    assert_eq!(names(&ri), names(&hi));
    assert!(ri.ends_with("\n\n"));
    let typed = |s: &str| {
        s.lines()
            .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        typed(&ask(&r.admin(), "show info typed\n")),
        typed(&ask(&h.admin(), "show info typed\n"))
    );
    assert!(ri.contains(&format!("Pid: {}\n", r.proxy.pid())));
}

#[test]
fn drain_weight_and_maint_steer_traffic() {
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let r = start(Engine::Rproxy, &m1, &m2, refused_port());
    let send = |n: usize| {
        for _ in 0..n {
            let resp = try_http_get(local(r.port), "/").expect("GET");
            assert_eq!(resp.status, 200);
        }
    };
    assert_eq!(ask(&r.admin(), "set server be/s1 state drain\n"), "\n");
    let (a, b) = (m1.requests(), m2.requests());
    send(6);
    assert_eq!((m1.requests() - a, m2.requests() - b), (0, 6));
    assert!(servers_state(&r.admin()).contains("\n3 be 1 s1 127.0.0.1 2 8 10 10 "));
    // Back to ready; s2's weight 0 sends everything to s1.
    ask(
        &r.admin(),
        "set server be/s1 state ready; set weight be/s2 0\n",
    );
    assert_eq!(ask(&r.admin(), "get weight be/s2\n"), "0 (initial 1)\n\n");
    let (a, b) = (m1.requests(), m2.requests());
    send(4);
    assert_eq!((m1.requests() - a, m2.requests() - b), (4, 0));
    // Maintenance via the old command; then the relative weight form.
    ask(
        &r.admin(),
        "disable server be/s1; set server be/s2 weight 100%\n",
    );
    let (a, b) = (m1.requests(), m2.requests());
    send(3);
    assert_eq!((m1.requests() - a, m2.requests() - b), (0, 3));
    assert!(servers_state(&r.admin()).contains("\n3 be 1 s1 127.0.0.1 0 1 10 10 "));
    ask(&r.admin(), "enable server be/s1\n");
    assert!(servers_state(&r.admin()).contains("\n3 be 1 s1 127.0.0.1 2 0 10 10 "));
}

#[test]
fn shutdown_sessions_ends_a_servers_transfers() {
    let slow = MockServer::builder("slow")
        .delay(Duration::from_secs(8))
        .start();
    let m2 = MockServer::start("s2");
    let r = start(Engine::Rproxy, &slow, &m2, refused_port());
    // Only s1 (slow) takes traffic.
    ask(&r.admin(), "set server be/s2 state maint\n");
    let port = r.port;
    let t0 = Instant::now();
    let client = std::thread::spawn(move || try_http_get(local(port), "/"));
    assert!(eventually(Duration::from_secs(3), || slow.connections() > 0));
    assert!(ask(&r.operator(), "show sess\n").contains("fe=fe"));
    assert_eq!(ask(&r.admin(), "shutdown sessions server be/s1\n"), "\n");
    let res = client.join().expect("client thread");
    assert!(res.is_err(), "the transfer should have been cut: {res:?}");
    assert!(t0.elapsed() < Duration::from_secs(6));
}

#[test]
fn socket_mode_timeout_and_socat() {
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let r = start(Engine::Rproxy, &m1, &m2, refused_port());
    let mode = std::fs::metadata(r.admin())
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    if !require(have_program("socat"), "socat not installed") {
        return;
    }
    let out = Command::new("socat")
        .arg("-")
        .arg(format!("UNIX-CONNECT:{}", r.admin().display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .map(|mut i| i.write_all(b"show backend\n"))
                .transpose()?;
            c.wait_with_output()
        })
        .expect("socat");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "# name\nbe\nother\n\n"
    );
}

/// `show stat` (CSV, typed, JSON) and `show info json`: the same rows, fields, tags and
/// types as HAProxy's (values aside), and the same framing bytes.
#[test]
fn show_stat_and_info_formats_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let dead = refused_port();
    let h = start(Engine::Haproxy, &m1, &m2, dead);
    let r = start(Engine::Rproxy, &m1, &m2, dead);
    // s2 checked on both first (its check fields appear then).
    let ready = |s: &Setup| servers_state(&s.admin()).contains(" s2 127.0.0.1 2 0 1 1 T 6 3 4 6 ");
    assert!(eventually(Duration::from_secs(5), || ready(&h) && ready(&r)));
    let csv = |s: &Setup| ask(&s.admin(), "show stat\n");
    let (rc, hc) = (csv(&r), csv(&h));
    assert_eq!(rc.lines().next(), hc.lines().next(), "CSV header");
    let keys = |s: &str| {
        s.lines()
            .skip(1)
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&rc), keys(&hc));
    assert!(rc.ends_with(",\n\n") && hc.ends_with(",\n\n"));
    // typed: OBJ.IID.SID.POS.NAME.PROC:TAGS:TYPE per line.
    // (`last_chk` is left out: HAProxy shows it empty after a check without a message,
    // the stats module leaves it out; that is the stats module's to align.)
    let typed = |s: &Setup| {
        ask(&s.admin(), "show stat typed\n")
            .lines()
            .filter(|l| !l.contains(".last_chk."))
            .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
            .collect::<Vec<_>>()
    };
    let (rt, ht) = (typed(&r), typed(&h));
    let missing: Vec<_> = ht.iter().filter(|l| !rt.contains(l)).collect();
    let extra: Vec<_> = rt.iter().filter(|l| !ht.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(rt, ht);
    // JSON: the same objects, fields, tags and types; both end with "]\n\n".
    let json_shape = |s: &str| {
        s.split("{\"objType\"")
            .flat_map(|o| o.split("{\"field\""))
            .filter(|o| !o.contains("\"name\":\"last_chk\""))
            .map(|o| o.split("\"value\":{").next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let (rj, hj) = (
        ask(&r.admin(), "show stat json\n"),
        ask(&h.admin(), "show stat json\n"),
    );
    assert!(rj.ends_with("]\n\n") && hj.ends_with("]\n\n"));
    assert_eq!(json_shape(&rj), json_shape(&hj));
    let (ri, hi) = (
        ask(&r.admin(), "show info json\n"),
        ask(&h.admin(), "show info json\n"),
    );
    assert!(ri.ends_with("]\n\n") && hi.ends_with("]\n\n"));
    assert_eq!(json_shape(&ri), json_shape(&hi));
    // A user-level session sees no server addresses, as with HAProxy.
    // (the `lastchg` seconds blanked: the two started a moment apart)
    let third = |s: String| {
        s.lines().nth(2).map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            if c.len() > 23 {
                c[23] = "T";
            }
            c.join(",")
        })
    };
    assert_eq!(
        third(ask_tcp(local(r.user_port), "show stat\n")),
        third(ask_tcp(local(h.user_port), "show stat\n"))
    );
}

#[test]
fn stats_timeout_closes_idle_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("s.sock");
    let port = free_port();
    let cfg = format!(
        "global\n    stats socket {} level admin\n    stats timeout 1s\n\
         defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n",
        sock.display()
    );
    let _p = Proxy::start(&cfg);
    assert!(eventually(Duration::from_secs(5), || sock.exists()));
    // An idle prompt-mode session ends after `stats timeout`...
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(8))).ok();
    s.write_all(b"prompt\n").expect("write");
    let t0 = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(out, b"\n> ");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // ...unless `set timeout cli` gave it longer.
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(2500))).ok();
    s.write_all(b"prompt\nset timeout cli 10\n").expect("write");
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(2000) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    assert_eq!(got, b"\n> \n> ");
    s.write_all(b"show backend\n").expect("still open");
}

/// hatop's own socket client and parsers (imported from /usr/bin/hatop, without its
/// curses screen) read `show info` and `show stat` from the socket.
#[test]
fn hatop_reads_info_and_stats() {
    if !require(have_program("hatop"), "hatop not installed") {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let r = start(Engine::Rproxy, &m1, &m2, refused_port());
    let script = r#"
import sys, importlib.machinery, importlib.util
loader = importlib.machinery.SourceFileLoader("hatop", "/usr/bin/hatop")
spec = importlib.util.spec_from_loader("hatop", loader)
hatop = importlib.util.module_from_spec(spec)
loader.exec_module(hatop)
s = hatop.Socket(sys.argv[1])
s.connect()
d = hatop.SocketData(s)
d.update_info()
d.update_stat()
print(d.info["software_name"], d.info["pid"], d.pxcount, d.svcount)
for iid in sorted(d.stat):
    for sid in d.stat[iid]:
        st = d.stat[iid][sid]
        print(iid, sid, st["pxname"], st["svname"], st["status"])
s.close()
"#;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(r.admin())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("HAProxy {} 3 7", r.proxy.pid()).as_str())
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.contains(&"3 1 be s1 -"), "{rows:?}");
    assert!(rows.contains(&"3 3 be s3 MAINT"), "{rows:?}");
}

/// Runs `prometheus-haproxy-exporter` scraping `uri` and returns its first `/metrics`
/// page (within 5 s; panics when none comes).
fn exporter_metrics(uri: &str) -> String {
    let listen = free_port();
    let mut exporter = Command::new("prometheus-haproxy-exporter")
        .arg(format!("--haproxy.scrape-uri={uri}"))
        .arg(format!("--web.listen-address=127.0.0.1:{listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exporter");
    let mut body = String::new();
    let ok = eventually(Duration::from_secs(5), || {
        match try_http_get(local(listen), "/metrics") {
            Ok(resp) => {
                body = resp.body_text();
                true
            }
            Err(_) => false,
        }
    });
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert!(ok, "the exporter did not answer");
    body
}

/// Debian's prometheus-haproxy-exporter reads `show stat` from the socket.
#[test]
fn prometheus_haproxy_exporter_scrapes_the_socket() {
    if !require(
        have_program("prometheus-haproxy-exporter"),
        "prometheus-haproxy-exporter not installed",
    ) {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let r = start(Engine::Rproxy, &m1, &m2, refused_port());
    for _ in 0..3 {
        assert_eq!(try_http_get(local(r.port), "/").expect("GET").status, 200);
    }
    let body = exporter_metrics(&format!("unix:{}", r.admin().display()));
    assert!(body.contains("\nhaproxy_up 1\n"), "{body}");
    assert!(
        body.contains("haproxy_backend_sessions_total{backend=\"be\"} 3\n"),
        "{body}"
    );
    assert!(body.contains("haproxy_server_up{backend=\"be\",server=\"s3\"} 0\n"));
}

/// The same exporter scraping the stats page's `;csv` export over HTTP.
#[test]
fn prometheus_haproxy_exporter_scrapes_the_csv_page() {
    if !require(
        have_program("prometheus-haproxy-exporter"),
        "prometheus-haproxy-exporter not installed",
    ) {
        return;
    }
    let m1 = MockServer::start("s1");
    let (port, stats_port) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
         backend be\n    server s1 {}\n\
         listen stats\n    bind 127.0.0.1:{stats_port}\n    stats enable\n    stats uri /stats\n",
        m1.addr_str()
    );
    let _p = Proxy::start(&cfg);
    for _ in 0..2 {
        assert_eq!(try_http_get(local(port), "/").expect("GET").status, 200);
    }
    let body = exporter_metrics(&format!("http://127.0.0.1:{stats_port}/stats;csv"));
    assert!(body.contains("\nhaproxy_up 1\n"), "{body}");
    assert!(
        body.contains("haproxy_server_bytes_out_total{backend=\"be\",server=\"s1\"}"),
        "{body}"
    );
    assert!(
        body.contains("haproxy_backend_sessions_total{backend=\"be\"} 2\n"),
        "{body}"
    );
}

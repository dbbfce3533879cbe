//! Health checks through the real binary, side by side with HAProxy 2.6.12 where the
//! outside shows it: the lines each transition prints on standard error and sends to a UDP
//! syslog receiver (with and without `option log-health-checks`), backup failover, the time
//! a server takes to go DOWN and come back UP, passive health (`observe`, every `on-error`
//! mode), `slowstart`, `disabled` servers, `check port`/`check-send-proxy`, and a failover
//! under load with `retries` and `option redispatch`.
//!
//! Both proxies run at once against the same mock servers, so that killing a mock is seen
//! by both; lines are compared per server (the random spread of first checks may
//! interleave servers differently), with pids, timestamps and check durations normalised.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::client::try_http_get;
use common::mock::MockServer;
use common::ports::{free_port, local};
use common::proxy::wait_listening;
use common::proxy::{Engine, Proxy, eventually};
use common::sbs::require_haproxy;

/// A UDP syslog receiver collecting datagrams.
struct Syslog {
    port: u16,
    got: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Syslog {
    fn start() -> Syslog {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let port = sock.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        thread::spawn(move || {
            let mut b = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut b) {
                    g.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&b[..n]).into_owned());
                }
            }
        });
        Syslog { port, got, stop }
    }
    fn lines(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `[LEVEL]  (pid) : text` → `[LEVEL] text`, durations → `Nms`; only event lines.
fn events(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("Health check for")
                || l.contains("erver ") && (l.contains(" is DOWN") || l.contains(" is UP"))
                || l.contains("has no server available")
        })
        .map(|l| {
            let level = l.split(']').next().unwrap_or("").to_string() + "]";
            let text = l.split_once(") : ").map(|x| x.1).unwrap_or(l);
            format!("{level} {}", norm_duration(text))
        })
        .collect()
}

fn norm_duration(s: &str) -> String {
    match s.find("check duration: ") {
        Some(i) => {
            let rest = &s[i + 16..];
            let end = rest.find("ms").unwrap_or(0);
            format!("{}check duration: Nms{}", &s[..i], &rest[end + 2..])
        }
        None => s.to_string(),
    }
}

/// `<PRI>Mmm dd HH:MM:SS TAG[PID]: text\n` → `<PRI> text`.
fn syslog_norm(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let pri = l.split('>').next().unwrap_or("").to_string() + ">";
            let text = l.split_once("]: ").map(|x| x.1).unwrap_or(l).trim_end();
            format!("{pri} {}", norm_duration(text))
        })
        .collect()
}

/// Lines grouped by the server they name (`app/NAME`), order kept within each group;
/// lines naming no server go under "".
fn by_server(lines: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines {
        let key = l
            .split_whitespace()
            .find(|w| w.starts_with("app/"))
            .map(|w| w.trim_end_matches([',', '.']).to_string())
            .unwrap_or_default();
        m.entry(key).or_default().push(l.clone());
    }
    m
}

fn start_both(cfg: &str) -> (Proxy, Proxy) {
    let h = Proxy::start_engine(
        Engine::Haproxy,
        &cfg.replace("{{FE}}", &free_port().to_string()),
    );
    let r = Proxy::start_engine(
        Engine::Rproxy,
        &cfg.replace("{{FE}}", &free_port().to_string()),
    );
    (h, r)
}

fn count(p: &Proxy, needle: &str) -> usize {
    p.stderr_text().matches(needle).count()
}

/// Waits until both proxies printed `needle` at least `n` times.
fn both_say(h: &Proxy, r: &Proxy, needle: &str, n: usize) {
    let ok = eventually(Duration::from_secs(4), || {
        count(h, needle) >= n && count(r, needle) >= n
    });
    assert!(
        ok,
        "waiting for {needle:?} x{n}\n--- haproxy:\n{}\n--- rproxy:\n{}",
        h.stderr_text(),
        r.stderr_text()
    );
}

fn restart(port: u16, name: &str) -> MockServer {
    MockServer::builder(name).port(port).start()
}

/// Every transition with `option log-health-checks`: the per-check lines and the state
/// changes on stderr and over UDP syslog, UP → going down → DOWN → going up → UP, backup
/// DOWN/UP with "Running on backup", and "no server available".
#[test]
fn transitions_with_log_health_checks_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (a1, a2, bk) = (
        MockServer::start("a1"),
        MockServer::start("a2"),
        MockServer::start("bk"),
    );
    let (p1, p2, pb) = (a1.port(), a2.port(), bk.port());
    let (sh, sr) = (Syslog::start(), Syslog::start());
    let cfg = |log: u16| {
        format!(
            "global\n    log 127.0.0.1:{log} local0\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    log global\n    option log-health-checks\nfrontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    server app1 127.0.0.1:{p1} check inter 100 fall 3 rise 2\n    server app2 127.0.0.1:{p2} check inter 100 fall 3 rise 2\n    server bk 127.0.0.1:{pb} check inter 100 fall 3 rise 2 backup\n"
        )
    };
    let h = Proxy::start_engine(
        Engine::Haproxy,
        &cfg(sh.port).replace("{{FE}}", &free_port().to_string()),
    );
    let r = Proxy::start_engine(
        Engine::Rproxy,
        &cfg(sr.port).replace("{{FE}}", &free_port().to_string()),
    );
    both_say(&h, &r, "status: 3/3 UP.", 3);
    drop(a1);
    both_say(&h, &r, "Server app/app1 is DOWN", 1);
    drop(a2);
    both_say(&h, &r, "Server app/app2 is DOWN", 1);
    drop(bk);
    both_say(&h, &r, "has no server available", 1);
    let _bk = restart(pb, "bk");
    both_say(&h, &r, "Backup Server app/bk is UP", 1);
    let _a1 = restart(p1, "a1");
    both_say(&h, &r, "Server app/app1 is UP", 1);
    // Let the last syslog datagrams arrive.
    thread::sleep(Duration::from_millis(100));

    let (eh, er) = (events(&h.stderr_text()), events(&r.stderr_text()));
    assert_eq!(by_server(&er), by_server(&eh), "stderr events differ");
    let app1 = &by_server(&er)["app/app1"];
    assert_eq!(
        app1,
        &vec![
            "[WARNING] Health check for server app/app1 succeeded, reason: Layer4 check passed, check duration: Nms, status: 3/3 UP.",
            "[WARNING] Health check for server app/app1 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms, status: 2/3 UP.",
            "[WARNING] Health check for server app/app1 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms, status: 1/3 UP.",
            "[WARNING] Health check for server app/app1 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms, status: 0/2 DOWN.",
            "[WARNING] Server app/app1 is DOWN. 1 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "[WARNING] Health check for server app/app1 succeeded, reason: Layer4 check passed, check duration: Nms, status: 1/2 DOWN.",
            "[WARNING] Health check for server app/app1 succeeded, reason: Layer4 check passed, check duration: Nms, status: 3/3 UP.",
            "[WARNING] Server app/app1 is UP. 1 active and 1 backup servers online. 0 sessions requeued, 0 total in queue.",
        ]
    );
    assert!(er.contains(&"[ALERT] backend 'app' has no server available!".to_string()));

    let (lh, lr) = (syslog_norm(&sh.lines()), syslog_norm(&sr.lines()));
    assert_eq!(by_server(&lr), by_server(&lh), "syslog lines differ");
    assert!(lr.contains(&"<128> backend app has no server available!".to_string()));
    assert!(lr.iter().any(|l| l.starts_with(
        "<129> Server app/app2 is DOWN. 0 active and 1 backup servers left. Running on backup."
    )));
    // The raw framing: `<PRI>Mmm dd HH:MM:SS haproxy[PID]: `.
    let raw = sr.lines();
    let first = raw.first().expect("a syslog line");
    let pid = format!(" haproxy[{}]: ", r.pid());
    assert!(
        first.starts_with("<133>") && first[5..].find(&pid) == Some(15),
        "{first:?}"
    );
    assert!(first.ends_with('\n'));
}

/// Without `option log-health-checks`: only state changes, each with its reason.
#[test]
fn transitions_without_log_health_checks_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (a1, bk) = (MockServer::start("a1"), MockServer::start("bk"));
    let (p1, pb) = (a1.port(), bk.port());
    let log = Syslog::start();
    let cfg = format!(
        "global\n    log 127.0.0.1:{} local0 notice\ndefaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    server app1 127.0.0.1:{p1} check inter 100 fall 2 rise 2\n    server bk 127.0.0.1:{pb} check inter 100 fall 2 rise 1 backup\n",
        log.port
    );
    let (h, r) = start_both(&cfg);
    // Give both a few checks while everything is up (nothing is said).
    thread::sleep(Duration::from_millis(300));
    drop(a1);
    both_say(&h, &r, "Server app/app1 is DOWN", 1);
    drop(bk);
    both_say(&h, &r, "has no server available", 1);
    let _a1 = restart(p1, "a1");
    both_say(&h, &r, "Server app/app1 is UP", 1);
    let (eh, er) = (events(&h.stderr_text()), events(&r.stderr_text()));
    assert_eq!(by_server(&er), by_server(&eh));
    assert_eq!(
        by_server(&er)["app/app1"],
        vec![
            "[WARNING] Server app/app1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "[WARNING] Server app/app1 is UP, reason: Layer4 check passed, check duration: Nms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        ]
    );
    assert_eq!(
        by_server(&er)["app/bk"],
        vec![
            "[WARNING] Backup Server app/bk is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        ]
    );
    // Both send to the same receiver: each line twice, once per proxy (`notice` admits
    // the UP line, sent at that level).
    assert!(eventually(Duration::from_secs(1), || log.lines().len() >= 8));
    let mut got = syslog_norm(&log.lines());
    got.sort();
    assert_eq!(
        got,
        [
            "<128> backend app has no server available!",
            "<128> backend app has no server available!",
            "<129> Backup Server app/bk is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "<129> Backup Server app/bk is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "<129> Server app/app1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "<129> Server app/app1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "<133> Server app/app1 is UP, reason: Layer4 check passed, check duration: Nms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            "<133> Server app/app1 is UP, reason: Layer4 check passed, check duration: Nms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        ]
    );
}

/// Traffic fails over to the backup while the active server is DOWN and comes back after.
#[test]
fn failover_to_backup_and_back() {
    let (a1, bk) = (MockServer::start("a1"), MockServer::start("bk"));
    let p1 = a1.port();
    let fe = free_port();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{fe}\n    default_backend app\nbackend app\n    server app1 127.0.0.1:{p1} check inter 100 fall 2 rise 2\n    server bk {} check inter 100 backup\n",
        bk.addr_str()
    );
    let r = Proxy::start(&cfg);
    let who = || {
        try_http_get(local(fe), "/")
            .ok()
            .and_then(|x| x.server().map(str::to_string))
    };
    assert_eq!(who().as_deref(), Some("a1"));
    drop(a1);
    assert!(eventually(Duration::from_secs(3), || r
        .stderr_text()
        .contains("Server app/app1 is DOWN")));
    assert_eq!(who().as_deref(), Some("bk"));
    let _a1 = restart(p1, "a1");
    assert!(eventually(Duration::from_secs(3), || r
        .stderr_text()
        .contains("Server app/app1 is UP")));
    assert_eq!(who().as_deref(), Some("a1"));
}

/// `inter 200 fall 3 rise 2`: how long after the server dies (and comes back) each proxy
/// reports DOWN (and UP).
#[test]
fn time_to_down_and_up_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let a1 = MockServer::start("a1");
    let keep = MockServer::start("keep");
    let p1 = a1.port();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    server app1 127.0.0.1:{p1} check inter 200 fall 3 rise 2\n    server keep {} check inter 200\n",
        keep.addr_str()
    );
    let (h, r) = start_both(&cfg);
    // Past the first (spread) checks.
    thread::sleep(Duration::from_millis(450));
    let measure = |needle: &str| -> (Duration, Duration) {
        let t0 = Instant::now();
        let (mut th, mut tr) = (None, None);
        eventually(Duration::from_secs(4), || {
            if th.is_none() && h.stderr_text().contains(needle) {
                th = Some(t0.elapsed());
            }
            if tr.is_none() && r.stderr_text().contains(needle) {
                tr = Some(t0.elapsed());
            }
            th.is_some() && tr.is_some()
        });
        (
            th.unwrap_or_else(|| panic!("haproxy never said {needle}")),
            tr.unwrap_or_else(|| panic!("rproxy never said {needle}")),
        )
    };
    drop(a1);
    let (dh, dr) = measure("Server app/app1 is DOWN");
    let _a1 = restart(p1, "a1");
    let (uh, ur) = measure("Server app/app1 is UP");
    println!(
        "time to DOWN: haproxy {} ms, rproxy {} ms; time to UP: haproxy {} ms, rproxy {} ms",
        dh.as_millis(),
        dr.as_millis(),
        uh.as_millis(),
        ur.as_millis()
    );
    // Three failed checks 200 ms apart after the next check (within 200 ms): 400-600 ms;
    // two passes: 200-400 ms. Tolerant windows for a loaded machine.
    for (what, d) in [("down", dh), ("down", dr)] {
        assert!(
            d >= Duration::from_millis(300) && d <= Duration::from_millis(1500),
            "{what} {d:?}"
        );
    }
    for (what, d) in [("up", uh), ("up", ur)] {
        assert!(
            d >= Duration::from_millis(150) && d <= Duration::from_millis(1300),
            "{what} {d:?}"
        );
    }
}

/// Passive health: the server's traffic port is dead while its check port answers, so
/// only live traffic sees errors. `mode` is the `on-error` action.
fn passive(mode: &str) -> (Vec<String>, Vec<String>) {
    let live = MockServer::start("live");
    let dead = free_port();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    option log-health-checks\nfrontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    retries 0\n    server app1 127.0.0.1:{dead} check port {} inter 1s fastinter 300 fall 3 rise 2 observe layer4 error-limit 2 on-error {mode}\n",
        live.port()
    );
    let (h, r) = start_both(&cfg);
    both_say(&h, &r, "status: 3/3 UP.", 1);
    for p in [&h, &r] {
        let fe = p.addrs()[0];
        for _ in 0..5 {
            let res = try_http_get(fe, "/").expect("a response");
            assert_eq!(res.status, 503);
        }
    }
    match mode {
        "mark-down" | "sudden-death" => both_say(&h, &r, "Server app/app1 is UP", 1),
        "fail-check" => both_say(&h, &r, "status: 3/3 UP.", 2),
        _ => thread::sleep(Duration::from_millis(400)),
    }
    (events(&h.stderr_text()), events(&r.stderr_text()))
}

fn hana(x: &str) -> String {
    format!(
        "[WARNING] Health check for server app/app1 failed, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: L4 unsuccessful connection\", status: {x}."
    )
}

#[test]
fn passive_mark_down_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (h, r) = passive("mark-down");
    assert_eq!(r, h);
    assert_eq!(r[1], hana("0/2 DOWN"));
    assert_eq!(
        r[2],
        "[WARNING] Server app/app1 is DOWN. 0 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
    );
}

#[test]
fn passive_fail_check_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (h, r) = passive("fail-check");
    assert_eq!(r, h);
    assert_eq!(r[1..3], [hana("2/3 UP"), hana("1/3 UP")]);
}

#[test]
fn passive_sudden_death_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (h, r) = passive("sudden-death");
    assert_eq!(r, h);
    assert_eq!(r[1..3], [hana("1/3 UP"), hana("0/2 DOWN")]);
}

#[test]
fn passive_fastinter_only_hurries_checks() {
    if !require_haproxy() {
        return;
    }
    let (h, r) = passive("fastinter");
    assert_eq!(r, h);
    assert_eq!(r.len(), 1, "{r:?}");
}

/// `observe layer7`: 5xx answers count (501 would not), and the verdict names them.
#[test]
fn passive_layer7_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let bad = MockServer::builder("bad").status(500).start();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    server app1 {} check inter 1s observe layer7 error-limit 2 on-error mark-down\n",
        bad.addr_str()
    );
    let (h, r) = start_both(&cfg);
    for p in [&h, &r] {
        let fe = p.addrs()[0];
        for _ in 0..2 {
            assert_eq!(try_http_get(fe, "/").expect("response").status, 500);
        }
    }
    both_say(&h, &r, "Server app/app1 is DOWN", 1);
    let (eh, er) = (events(&h.stderr_text()), events(&r.stderr_text()));
    assert_eq!(er, eh);
    assert_eq!(
        er[0],
        "[WARNING] Server app/app1 is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: Wrong http response\". 0 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
    );
}

/// `slowstart`: a server back UP starts with a small share of the traffic, under both.
#[test]
fn slowstart_returning_server_gets_little_traffic() {
    let a1 = MockServer::start("a1");
    let ss = MockServer::start("ss");
    let pss = ss.port();
    let engines: Vec<Engine> = if common::have_program("haproxy") {
        vec![Engine::Rproxy, Engine::Haproxy]
    } else {
        vec![Engine::Rproxy]
    };
    let mut ss = Some(ss);
    for e in engines {
        let fe = free_port();
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{fe}\n    default_backend app\nbackend app\n    balance roundrobin\n    server a1 {} check inter 100\n    server ss 127.0.0.1:{pss} check inter 100 fall 1 rise 1 slowstart 5s\n",
            a1.addr_str()
        );
        let p = Proxy::start_engine(e, &cfg);
        thread::sleep(Duration::from_millis(250));
        drop(ss.take());
        assert!(eventually(Duration::from_secs(3), || p
            .stderr_text()
            .contains("Server app/ss is DOWN")));
        ss = Some(restart(pss, "ss"));
        assert!(eventually(Duration::from_secs(3), || p
            .stderr_text()
            .contains("Server app/ss is UP")));
        let mut n = 0;
        for _ in 0..40 {
            if try_http_get(local(fe), "/")
                .ok()
                .and_then(|r| r.server().map(str::to_string))
                == Some("ss".into())
            {
                n += 1;
            }
        }
        println!("{}: returning server got {n} of 40 requests", e.name());
        assert!(
            n <= 8,
            "{}: {n} of 40 went to the returning server",
            e.name()
        );
    }
}

/// `disabled` servers stay in maintenance: never checked, never used, nothing said.
#[test]
fn disabled_server_is_not_checked() {
    let a1 = MockServer::start("a1");
    let dis = MockServer::start("dis");
    let engines: Vec<Engine> = if common::have_program("haproxy") {
        vec![Engine::Rproxy, Engine::Haproxy]
    } else {
        vec![Engine::Rproxy]
    };
    for e in engines {
        let fe = free_port();
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{fe}\n    default_backend app\nbackend app\n    option log-health-checks\n    server a1 {} check inter 50\n    server dis {} check inter 50 disabled\n",
            a1.addr_str(),
            dis.addr_str()
        );
        let p = Proxy::start_engine(e, &cfg);
        // The other server is checked (HAProxy's plain TCP check resets the connection
        // before the server accepts it, so the log says it, not the mock).
        assert!(
            eventually(Duration::from_secs(2), || p
                .stderr_text()
                .contains("server app/a1 succeeded")),
            "{}: {}",
            e.name(),
            p.stderr_text()
        );
        thread::sleep(Duration::from_millis(100));
        assert_eq!(
            dis.connections(),
            0,
            "{} checked a disabled server",
            e.name()
        );
        for _ in 0..4 {
            let r = try_http_get(local(fe), "/").expect("response");
            assert_eq!(r.server(), Some("a1"));
        }
        let ev = events(&p.stderr_text());
        assert!(ev.iter().all(|l| !l.contains("app/dis")), "{ev:?}");
    }
}

/// `check port` and `check-send-proxy`: checks go to the other port, PROXY line first.
#[test]
fn check_port_and_send_proxy() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let cport = l.local_addr().expect("addr").port();
    let first = Arc::new(Mutex::new(String::new()));
    let seen = Arc::new(AtomicUsize::new(0));
    let (f, s) = (first.clone(), seen.clone());
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            c.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut b = [0u8; 200];
            let n = c.read(&mut b).unwrap_or(0);
            *f.lock().unwrap() = String::from_utf8_lossy(&b[..n]).into_owned();
            s.fetch_add(1, Ordering::SeqCst);
            let _ = c.write_all(b"");
        }
    });
    let dead = free_port();
    let fe = free_port();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{fe}\n    default_backend app\nbackend app\n    server s 127.0.0.1:{dead} check port {cport} check-send-proxy inter 100\n"
    );
    let r = Proxy::start(&cfg);
    assert!(eventually(Duration::from_secs(2), || seen
        .load(Ordering::SeqCst)
        >= 2));
    let line = first.lock().unwrap().clone();
    assert!(
        line.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 ")
            && line.ends_with(&format!(" {cport}\r\n")),
        "{line:?}"
    );
    // The server port is dead, yet checks pass: no event.
    assert!(events(&r.stderr_text()).is_empty(), "{}", r.stderr_text());
}

/// What a failover run gave: requests answered 200, the failures as text, the answers
/// per server, the engine's stderr.
struct Failover {
    ok: usize,
    failed: Vec<String>,
    served: BTreeMap<String, usize>,
    stderr: String,
}

/// 2,000 GETs over 10 s (the figures) from four client threads while s1 of two
/// checked servers is killed at 3 s and restarted at 6.5 s, with `retries 3`, `option
/// redispatch` and `extra` backend lines. The threads start `stagger` ms apart so that the load is
/// a steady 200 requests/s rather than bursts of four: in lockstep, the kill lands on a
/// burst and loses the requests already handed to s1 (haproxy loses them too). `stagger`
/// is that delay (0: lockstep).
fn failover_run(engine: Engine, extra: &str, label: &str, stagger: u64) -> Failover {
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let p1 = s1.port();
    let fe = free_port();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    retries 3\n    option redispatch\nfrontend fe\n    bind 127.0.0.1:{fe}\n    default_backend app\nbackend app\n{extra}    server s1 127.0.0.1:{p1} check inter 200\n    server s2 {} check inter 200\n",
        s2.addr_str()
    );
    // -d: refused requests and failed server exchanges are told on stderr.
    let args: &[&str] = match engine {
        Engine::Rproxy => &["-d"],
        _ => &[],
    };
    let r = Proxy::spawn(engine, &cfg, args);
    assert!(wait_listening(&[fe]), "{} not listening", engine.name());
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let served = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let threads = 4;
    let per = 500;
    let t0 = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let (ok, failed, served) = (ok.clone(), failed.clone(), served.clone());
            thread::spawn(move || {
                for i in 0..per {
                    // Paced so that the kill and the restart fall mid-run.
                    let due = Duration::from_millis(stagger * k as u64 + 20 * i as u64);
                    if let Some(w) = due.checked_sub(t0.elapsed()) {
                        thread::sleep(w);
                    }
                    let at = t0.elapsed().as_millis();
                    match try_http_get(local(fe), "/") {
                        Ok(res) if res.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            let s = res.server().unwrap_or("?").to_string();
                            *served.lock().unwrap().entry(s).or_default() += 1;
                        }
                        Ok(res) => failed
                            .lock()
                            .unwrap()
                            .push(format!("at {at} ms: status {}", res.status)),
                        Err(e) => failed.lock().unwrap().push(format!("at {at} ms: {e}")),
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(3000).saturating_sub(t0.elapsed()));
    drop(s1);
    thread::sleep(Duration::from_millis(6500).saturating_sub(t0.elapsed()));
    let _s1 = restart(p1, "s1");
    for h in handles {
        h.join().expect("client thread");
    }
    let f = Failover {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.lock().unwrap().clone(),
        served: served.lock().unwrap().clone(),
        stderr: r.stderr_text(),
    };
    println!(
        "failover run: {} {label}: {} requests in {:?}: {} ok, {} failed {:?}, served {:?}, {} retry-on retries",
        engine.name(),
        threads * per,
        t0.elapsed(),
        f.ok,
        f.failed.len(),
        f.failed,
        f.served,
        match engine {
            Engine::Rproxy => f
                .stderr
                .matches("retrying the request (retry-on)")
                .count()
                .to_string(),
            _ => "n/a".into(),
        }
    );
    assert_eq!(f.ok + f.failed.len(), threads * per);
    f
}

/// The configuration (`retries 3`, `option redispatch`, no `retry-on`): a request
/// already handed to s1 when it is killed dies with it, under haproxy as well (its
/// default `retry-on conn-failure` does not replay it), so a few may fail.
#[test]
fn failover_under_load_loses_at_most_a_few_requests() {
    let f = failover_run(Engine::Rproxy, "", "retries 3 + redispatch", 5);
    assert!(f.stderr.contains("Server app/s1 is DOWN"), "{}", f.stderr);
    assert!(f.stderr.contains("Server app/s1 is UP"), "{}", f.stderr);
    assert!(
        f.failed.len() <= 3,
        "failed requests: {:?}\n{}",
        f.failed,
        f.stderr
    );
}

/// With `retry-on conn-failure empty-response response-timeout`, the requests caught by
/// the kill are replayed on s2: none is lost, even with the four threads in lockstep (no
/// stagger), which puts a burst of requests on s1 as it dies.
#[test]
fn failover_under_load_with_retry_on_loses_no_request() {
    let f = failover_run(
        Engine::Rproxy,
        "    retry-on conn-failure empty-response response-timeout\n",
        "retry-on, lockstep",
        0,
    );
    assert!(f.stderr.contains("Server app/s1 is DOWN"), "{}", f.stderr);
    assert!(f.stderr.contains("Server app/s1 is UP"), "{}", f.stderr);
    assert!(
        f.failed.is_empty(),
        "failed requests: {:?}\n{}",
        f.failed,
        f.stderr
    );
}

/// The configuration under haproxy, for comparison: its failures are printed,
/// not asserted (the kill's timing decides whether a request is in flight on s1).
#[test]
fn failover_under_load_under_haproxy_for_comparison() {
    if !require_haproxy() {
        return;
    }
    failover_run(Engine::Haproxy, "", "retries 3 + redispatch", 5);
}

/// A plain TCP check leaves the server nothing to accept (the handshake is reset before
/// its last ACK), under both.
#[test]
fn plain_check_leaves_no_connection_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let a1 = MockServer::start("a1");
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    option log-health-checks\n    server app1 {} check inter 50\n",
        a1.addr_str()
    );
    let (h, r) = start_both(&cfg);
    both_say(&h, &r, "status: 3/3 UP.", 1);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(a1.connections(), 0, "a check connection reached the server");
}

/// A listener whose accept queue is full: new SYNs are dropped, connects time out.
fn blackhole() -> (socket2::Socket, std::net::TcpStream) {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .expect("bind");
    s.listen(0).expect("listen");
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    // Fills the one-place queue; it is never accepted.
    let filler = std::net::TcpStream::connect(addr).expect("filler");
    (s, filler)
}

/// `Layer4 timeout`: without `timeout check` the connect may last the whole interval;
/// with it, min(`timeout connect`, interval). Same words and about the same durations as
/// haproxy.
#[test]
fn connect_timeout_budget_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (bh, _filler) = blackhole();
    let port = bh.local_addr().unwrap().as_socket().unwrap().port();
    for (extra, lo, hi) in [("", 250, 600), ("    timeout check 2s\n", 80, 250)] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 100\n    timeout client 5s\n    timeout server 5s\n{extra}frontend fe\n    bind 127.0.0.1:{{{{FE}}}}\n    default_backend app\nbackend app\n    server app1 127.0.0.1:{port} check inter 300 fall 1\n"
        );
        let (h, r) = start_both(&cfg);
        both_say(&h, &r, "Server app/app1 is DOWN", 1);
        let mut durations = Vec::new();
        for p in [&h, &r] {
            let line = events(&p.stderr_text())[0].clone();
            let raw = p.stderr_text();
            let ms: u64 = raw
                .split("check duration: ")
                .nth(1)
                .and_then(|t| t.split("ms").next())
                .and_then(|n| n.parse().ok())
                .expect("a duration");
            assert_eq!(
                line,
                "[WARNING] Server app/app1 is DOWN, reason: Layer4 timeout, check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
            );
            assert!(
                (lo..=hi).contains(&ms),
                "{}: {ms} ms {extra:?}",
                p.engine().name()
            );
            durations.push(ms);
        }
        println!(
            "L4 timeout {extra:?}: haproxy {} ms, rproxy {} ms",
            durations[0], durations[1]
        );
    }
}

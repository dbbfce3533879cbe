//! `mode tcp` with real programs on both ends: SMTP (swaks → aiosmtpd) and MySQL
//! (`mariadb` client → two MariaDB servers behind the seed's `listen slave` shape with
//! `balance leastconn` and `option tcpka`); and, with an in-test server, half-close and
//! `timeout tunnel`, side by side with HAProxy 2.6.12 where it is cheap.

mod common;
mod real_servers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::proxy::{Engine, Proxy};
use common::sbs::require_haproxy;
use common::tunnel::{echo_server, half_close_server, send_then_fin, tunnel_idle_runs};
use common::{free_port, have_program, require};
use real_servers::{Daemon, PY, have_aiosmtpd, start_mariadb};

/// A `mode tcp` proxy on `fe` in front of `servers` (`server` lines' text after the name).
fn tcp_cfg(fe: u16, extra: &str, servers: &[String]) -> String {
    let mut c = format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  \
         timeout server 10s\nlisten l\n  bind 127.0.0.1:{fe}\n{extra}"
    );
    for (i, s) in servers.iter().enumerate() {
        c.push_str(&format!("  server s{i} {s}\n"));
    }
    c
}

/// aiosmtpd (its Debugging handler prints each message) with its output in `log`.
fn start_smtpd_logged(log: &Path) -> Option<Daemon> {
    if !require(
        have_aiosmtpd(),
        "python3-aiosmtpd (/usr/bin/python3) not installed",
    ) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let out = std::fs::File::create(log).expect("log file");
    let child = Command::new(PY)
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn aiosmtpd");
    let d = Daemon { child, port, dir };
    assert!(
        common::eventually(Duration::from_secs(10), || common::accepts(d.addr())),
        "aiosmtpd did not listen"
    );
    Some(d)
}

/// swaks sending one message with `marker` in its body to `port`; (success, the
/// server's lines as swaks shows them, `<-` and `<~` prefixed).
fn swaks(port: u16, marker: &str) -> (bool, Vec<String>) {
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args(["--to", "rcpt@example.net", "--from", "sender@example.org"])
        .args(["--header", "Subject: through a tcp proxy"])
        .args(["--body", marker])
        .args(["--timeout", "5"])
        .stdin(Stdio::null())
        .output()
        .expect("run swaks");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = text
        .lines()
        .filter(|l| l.starts_with("<-") || l.starts_with("<~"))
        .map(|l| l.to_string())
        .collect();
    (out.status.success(), lines)
}

/// A full message goes through rproxy to aiosmtpd: swaks succeeds, sees the server's
/// banner, the server prints the body; the server's side of the dialogue is the same
/// through haproxy.
#[test]
fn smtp_through_tcp_mode_with_swaks_as_through_haproxy() {
    if !require(have_program("swaks"), "swaks not installed") || !require_haproxy() {
        return;
    }
    let logdir = tempfile::tempdir().expect("tempdir");
    let log = logdir.path().join("smtpd.out");
    let Some(smtpd) = start_smtpd_logged(&log) else {
        return;
    };
    let run = |engine: Engine, marker: &str| {
        let fe = free_port();
        let _p = Proxy::start_engine(
            engine,
            &tcp_cfg(fe, "", &[format!("127.0.0.1:{}", smtpd.port)]),
        );
        swaks(fe, marker)
    };
    let (h_ok, h_lines) = run(Engine::Haproxy, "marker-via-haproxy");
    let (r_ok, r_lines) = run(Engine::Rproxy, "marker-via-rproxy");
    assert!(h_ok, "swaks through haproxy failed: {h_lines:?}");
    assert!(r_ok, "swaks through rproxy failed: {r_lines:?}");
    let banner = r_lines.first().cloned().unwrap_or_default();
    assert!(
        banner.starts_with("<-  220 ") && banner.contains("SMTP"),
        "banner: {banner}"
    );
    assert_eq!(r_lines, h_lines, "the server's lines differ");
    assert!(
        common::eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|s| s.contains("marker-via-rproxy"))
        }),
        "aiosmtpd did not print the message: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// `mariadb` over TCP to `port` as `haproxy_check` (no password): its output lines.
fn mariadb_tcp(port: u16, sql: &str) -> std::process::Child {
    Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h127.0.0.1",
            "-uhaproxy_check",
            "-N",
            "-B",
        ])
        .arg(format!("-P{port}"))
        .args(["-e", sql])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mariadb")
}

/// How many sessions `haproxy_check` has open on the server in `db`.
fn sessions(db: &Daemon) -> usize {
    let out = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", db.dir.path().join("s").display()))
        .args(["-uroot", "-N", "-B", "-e"])
        .arg("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER='haproxy_check'")
        .output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// The seed's `listen slave` (balance leastconn, option tcpka) in front of two MariaDB
/// servers: a query succeeds, and four held connections, opened one after the other,
/// are spread two and two (each reports its server's `@@port`) — under haproxy too.
#[test]
fn mysql_leastconn_spreads_held_connections() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(start_mariadb);
        let b = s.spawn(start_mariadb);
        (a.join().ok().flatten(), b.join().ok().flatten())
    });
    let (Some(a), Some(b)) = (a, b) else { return };
    // Without haproxy (locally) rproxy's run still happens.
    let engines: &[Engine] = if require_haproxy() {
        &[Engine::Haproxy, Engine::Rproxy]
    } else {
        &[Engine::Rproxy]
    };
    for &engine in engines {
        let fe = free_port();
        let _p = Proxy::start_engine(
            engine,
            &tcp_cfg(
                fe,
                "  balance leastconn\n  option tcpka\n",
                &[
                    format!("127.0.0.1:{} weight 1", a.port),
                    format!("127.0.0.1:{} weight 1", b.port),
                ],
            ),
        );
        let who = engine.name();
        let one = mariadb_tcp(fe, "SELECT 40+2")
            .wait_with_output()
            .expect("mariadb");
        assert!(
            one.status.success(),
            "{who}: query failed: {}",
            String::from_utf8_lossy(&one.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&one.stdout).trim(), "42", "{who}");

        let mut held = Vec::new();
        for i in 0..4 {
            held.push(mariadb_tcp(fe, "SELECT @@port; SELECT SLEEP(2)"));
            // The next connection is opened only once this one is in place on a server.
            assert!(
                common::eventually(Duration::from_secs(5), || sessions(&a) + sessions(&b)
                    == i + 1),
                "{who}: connection {i} did not arrive"
            );
        }
        assert_eq!(
            (sessions(&a), sessions(&b)),
            (2, 2),
            "{who}: held connections"
        );
        let mut ports = Vec::new();
        for c in held {
            let o = c.wait_with_output().expect("mariadb");
            assert!(
                o.status.success(),
                "{who}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            ports.push(text.lines().next().unwrap_or_default().trim().to_string());
        }
        ports.sort();
        let (pa, pb) = (a.port.to_string(), b.port.to_string());
        let mut want = vec![pa.clone(), pa, pb.clone(), pb];
        want.sort();
        assert_eq!(ports, want, "{who}: @@port of each held connection");
        // The sessions end before the next engine's run counts them.
        assert!(
            common::eventually(Duration::from_secs(5), || sessions(&a) + sessions(&b) == 0),
            "{who}: sessions left open"
        );
    }
}

/// Half-close: the client's FIN reaches the server, whose answer still reaches the
/// client — as through haproxy.
#[test]
fn half_close_is_respected_as_by_haproxy() {
    if !require_haproxy() {
        return;
    }
    let srv = half_close_server();
    let data = vec![b'x'; 100_000];
    let mut answers = Vec::new();
    for engine in [Engine::Haproxy, Engine::Rproxy] {
        let fe = free_port();
        let _p = Proxy::start_engine(engine, &tcp_cfg(fe, "", &[format!("127.0.0.1:{srv}")]));
        answers.push(send_then_fin(fe, &data));
    }
    assert_eq!(answers[0], "got 100000 bytes\n", "haproxy");
    assert_eq!(answers[1], answers[0], "rproxy");
}

/// `timeout tunnel` replaces the client and server timeouts of a TCP connection: a
/// connection idle longer than `timeout client` survives under a long tunnel timeout,
/// and one idle longer than a short tunnel timeout is closed although `timeout client`
/// is long — as under haproxy.
#[test]
fn timeout_tunnel_governs_idle_tcp_connections_as_in_haproxy() {
    if !require_haproxy() {
        return;
    }
    let srv = echo_server(1024);
    let cfg = |fe: u16, client: &str, tunnel: &str| {
        format!(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client {client}\n  \
             timeout server {client}\n  timeout tunnel {tunnel}\nlisten l\n  bind \
             127.0.0.1:{fe}\n  server s 127.0.0.1:{srv}\n"
        )
    };
    let got = tunnel_idle_runs(cfg);
    assert_eq!((got[0].1, got[0].2), (true, false), "haproxy: {got:?}");
    assert_eq!(
        (got[1].1, got[1].2),
        (got[0].1, got[0].2),
        "rproxy: {got:?}"
    );
}

//! Check kinds against real servers: Debian's aiosmtpd for `option smtpchk`, a throwaway
//! MariaDB for `option mysql-check` and `openssl s_server` for `option ssl-hello-chk`,
//! each verdict compared with the one haproxy 2.6 logs against the same server; and end
//! to end through rproxy's check scheduler (servers kept up, a killed MariaDB taken down).

mod checks_util;
mod common;
mod real_servers;

use std::net::SocketAddr;

use std::process::{Command, Stdio};
use std::time::Duration;

use checks_util::{ScriptServer, Step, probe_for, render, run_probe, send};
use real_servers::{Daemon, start_mariadb, start_smtpd};

/// haproxy checking `addr` with each backend's `lines`; the first verdict it logs for
/// each, in order (as `reason: ...[, code: ...][, info: "..."]`).
fn haproxy_verdicts(addr: SocketAddr, kinds: &[&str]) -> Vec<String> {
    let backends: Vec<(&str, SocketAddr)> = kinds.iter().map(|k| (*k, addr)).collect();
    checks_util::haproxy_verdicts(&backends, "2s").1
}

fn mine(lines: &str, addr: SocketAddr) -> String {
    render(&run_probe(&probe_for(lines), addr, Duration::from_secs(2)))
}

#[test]
fn smtpchk_passes_against_aiosmtpd_as_under_haproxy() {
    let Some(smtpd) = start_smtpd() else { return };
    let kinds = ["  option smtpchk", "  option smtpchk EHLO rproxy.test"];
    let ours: Vec<String> = kinds.iter().map(|k| mine(k, smtpd.addr())).collect();
    for o in &ours {
        assert_eq!(o, r#"reason: Layer7 check passed, code: 221, info: "Bye""#);
    }
    if common::require_haproxy() {
        assert_eq!(haproxy_verdicts(smtpd.addr(), &kinds), ours);
    }
}

#[test]
fn smtpchk_against_a_554_server_is_l7sts() {
    let srv = ScriptServer::start(vec![
        send(b"554 5.3.2 Service currently unavailable\r\n"),
        Step::Close,
    ]);
    let o = mine("  option smtpchk", srv.addr());
    assert_eq!(
        o,
        r#"reason: Layer7 wrong status, code: 554, info: "5.3.2 Service currently unavailable""#
    );
    if common::require_haproxy() {
        assert_eq!(haproxy_verdicts(srv.addr(), &["  option smtpchk"]), vec![o]);
    }
}

#[test]
fn mysql_check_against_mariadb_as_under_haproxy() {
    let Some(db) = start_mariadb() else { return };
    let kinds = [
        "  option mysql-check",
        "  option mysql-check user haproxy_check",
        "  option mysql-check user haproxy_check post-41",
        "  option mysql-check user haproxy_check pre-41",
        "  option mysql-check user nobody",
    ];
    let ours: Vec<String> = kinds.iter().map(|k| mine(k, db.addr())).collect();
    for o in &ours[..4] {
        assert!(
            o.starts_with(r#"reason: Layer7 check passed, code: 0, info: "5.5.5-"#),
            "{o}"
        );
    }
    assert_eq!(
        ours[4],
        r##"reason: Layer7 wrong status, code: 1045, info: "#28000Access denied for user 'nobody'@'127.0.0.1' (using password: NO)""##
    );
    if common::require_haproxy() {
        assert_eq!(haproxy_verdicts(db.addr(), &kinds), ours);
    }
}

// ---- end to end through rproxy's check scheduler ------------------------------------------

/// A config with one frontend and backend `b` checking `addr` every 200 ms with `kind`.
fn e2e_cfg(kind: &str, addr: SocketAddr, server_extra: &str) -> String {
    let port = common::free_port();
    format!(
        "global\n  log stderr format raw local0\ndefaults\n  mode tcp\n  log global\n  option log-health-checks\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n  timeout check 2s\nfrontend f\n  bind 127.0.0.1:{port}\n  default_backend b\nbackend b\n{kind}\n  server s {addr} check inter 200{server_extra}\n"
    )
}

/// The raw-format lines (no `[WARNING] (pid) :` copies) that mention `what`.
fn lines_with(p: &common::Proxy, what: &str) -> Vec<String> {
    p.stderr_text()
        .lines()
        .filter(|l| !l.starts_with('[') && l.contains(what))
        .map(|l| {
            // The duration differs from run to run.
            match (l.find("check duration: "), l.find(", status:")) {
                (Some(a), Some(b)) if a < b => format!("{}{}", &l[..a], &l[b + 2..]),
                _ => l.to_string(),
            }
        })
        .collect()
}

#[test]
fn rproxy_smtpchk_keeps_aiosmtpd_up_as_haproxy_does() {
    let Some(smtpd) = start_smtpd() else { return };
    let cfg = e2e_cfg("  option smtpchk", smtpd.addr(), "");
    let want = "Health check for server b/s succeeded, reason: Layer7 check passed, code: 221, info: \"Bye\", status: 3/3 UP.";
    let mut engines = vec![common::Proxy::start(&cfg)];
    if common::require_haproxy() {
        engines.push(common::Proxy::start_haproxy(&cfg));
    }
    for p in &engines {
        assert!(
            common::eventually(Duration::from_secs(5), || !lines_with(p, "Health check")
                .is_empty()),
            "{}: no check result:\n{}",
            p.engine().name(),
            p.stderr_text()
        );
    }
    // Several more intervals: the server stays up.
    std::thread::sleep(Duration::from_millis(1000));
    for p in &engines {
        assert_eq!(
            lines_with(p, "Health check"),
            vec![want.to_string()],
            "{}",
            p.engine().name()
        );
        assert!(
            lines_with(p, "is DOWN").is_empty(),
            "{}: {}",
            p.engine().name(),
            p.stderr_text()
        );
    }
}

/// An SMTP server that refuses service (554 banner) is taken DOWN by its first check,
/// with the same lines under both.
#[test]
fn rproxy_smtpchk_takes_a_554_server_down_as_haproxy_does() {
    let srv = ScriptServer::start(vec![
        send(b"554 5.3.2 Service currently unavailable\r\n"),
        Step::Close,
    ]);
    let cfg = e2e_cfg("  option smtpchk", srv.addr(), "");
    let want = vec![
        "Health check for server b/s failed, reason: Layer7 wrong status, code: 554, info: \"5.3.2 Service currently unavailable\", status: 0/2 DOWN.".to_string(),
    ];
    let mut engines = vec![common::Proxy::start(&cfg)];
    if common::require_haproxy() {
        engines.push(common::Proxy::start_haproxy(&cfg));
    }
    for p in &engines {
        assert!(
            common::eventually(Duration::from_secs(5), || !lines_with(p, "is DOWN")
                .is_empty()),
            "{}: never DOWN:\n{}",
            p.engine().name(),
            p.stderr_text()
        );
        assert_eq!(lines_with(p, "Health check"), want, "{}", p.engine().name());
    }
    let down: Vec<Vec<String>> = engines.iter().map(|p| lines_with(p, "is DOWN")).collect();
    if down.len() == 2 {
        assert_eq!(down[0], down[1]);
    }
}

#[test]
fn rproxy_mysql_check_takes_a_dead_mariadb_down_within_fall_intervals() {
    let Some(mut db) = start_mariadb() else {
        return;
    };
    let cfg = e2e_cfg(
        "  option mysql-check user haproxy_check",
        db.addr(),
        " fall 3",
    );
    let mut engines = vec![common::Proxy::start(&cfg)];
    if common::require_haproxy() {
        engines.push(common::Proxy::start_haproxy(&cfg));
    }
    for p in &engines {
        assert!(
            common::eventually(Duration::from_secs(5), || lines_with(p, "Health check")
                .iter()
                .any(|l| l.contains("Layer7 check passed, code: 0, info: \"5.5.5-"))),
            "{}: no passed check:\n{}",
            p.engine().name(),
            p.stderr_text()
        );
    }
    db.kill();
    let t0 = std::time::Instant::now();
    // When each engine first said the server is down (polled together).
    let mut took: Vec<Option<Duration>> = vec![None; engines.len()];
    common::eventually(Duration::from_secs(5), || {
        for (i, p) in engines.iter().enumerate() {
            if took[i].is_none() && !lines_with(p, "Server b/s is DOWN").is_empty() {
                took[i] = Some(t0.elapsed());
            }
        }
        took.iter().all(Option::is_some)
    });
    for (p, t) in engines.iter().zip(&took) {
        assert!(
            t.is_some(),
            "{}: server not marked down:\n{}",
            p.engine().name(),
            p.stderr_text()
        );
    }
    let took: Vec<Duration> = took.into_iter().flatten().collect();
    eprintln!("DOWN after {took:?} (rproxy, haproxy)");
    // fall × inter = 600 ms, plus a check in flight and scheduling slack.
    assert!(
        took[0] < Duration::from_millis(600 + 1400),
        "rproxy took {:?}",
        took[0]
    );
    let down = "Server b/s is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.";
    let fails = [
        "Health check for server b/s failed, reason: Layer4 connection problem, info: \"Connection refused\", status: 2/3 UP.",
        "Health check for server b/s failed, reason: Layer4 connection problem, info: \"Connection refused\", status: 1/3 UP.",
        "Health check for server b/s failed, reason: Layer4 connection problem, info: \"Connection refused\", status: 0/2 DOWN.",
    ];
    for p in &engines {
        let name = p.engine().name();
        assert_eq!(lines_with(p, "is DOWN"), vec![down.to_string()], "{name}");
        let failed = lines_with(p, "failed");
        assert_eq!(failed.len(), 3, "{name}: {failed:?}");
        // A check in flight when the server died may fail otherwise than "refused".
        assert!(failed[0].ends_with("status: 2/3 UP."), "{name}: {failed:?}");
        assert_eq!(&failed[1..], &fails[1..], "{name}");
    }
}

/// `openssl s_server` with a throwaway certificate on a free port.
fn start_s_server() -> Option<Daemon> {
    if !common::require(common::have_program("openssl"), "openssl not installed") {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = common::make_pem(dir.path(), "s.pem").expect("certificate");
    let port = common::free_port();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
        ])
        .arg(&pem)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_server");
    let d = Daemon { child, port, dir };
    assert!(
        common::eventually(Duration::from_secs(10), || common::accepts(d.addr())),
        "s_server did not listen"
    );
    Some(d)
}

#[test]
fn ssl_hello_chk_against_openssl_and_a_plain_server_as_under_haproxy() {
    // A TLS server refuses the SSLv3 hello with an alert: that still proves TLS.
    let Some(tls) = start_s_server() else { return };
    let o = mine("  option ssl-hello-chk", tls.addr());
    assert_eq!(o, "reason: Layer6 check passed");
    // An SMTP banner is no TLS record.
    let plain = ScriptServer::start(vec![send(b"220 mx ESMTP\r\n")]);
    let p = mine("  option ssl-hello-chk", plain.addr());
    assert_eq!(p, "reason: Layer6 invalid response");
    if common::require_haproxy() {
        assert_eq!(
            haproxy_verdicts(tls.addr(), &["  option ssl-hello-chk"]),
            vec![o]
        );
        assert_eq!(
            haproxy_verdicts(plain.addr(), &["  option ssl-hello-chk"]),
            vec![p]
        );
    }
}

//! TLS configuration through the real binary, side by side with HAProxy 2.6.12:
//! `crt-base`/`ca-base` on relative paths of binds, servers and crt-list lines; the
//! per-line `[settings]` of a crt-list; what `-c` finds wrong with certificates, keys and
//! CA files; and a reload (`-sf`) that picks up a replaced certificate.
//!
//! Certificates: a CA and EC leaves the test makes with `openssl`; the client is
//! `openssl s_client`.

mod common;
mod tls_util;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::proxy::{Engine, Proxy, eventually};
use common::sbs::{fill, require_haproxy, side_by_side};
use common::{have_program, require};
use tls_util::{Pki, make_ca, make_leaf, s_client_session};

/// Makes a leaf `NAME.pem` (chain and key) for `NAME.example`, plus `NAME.crt` and
/// `NAME.key`, signed by `ca`.
fn leaf(d: &Path, name: &str) {
    let ext =
        format!("subjectAltName=DNS:{name}.example\nextendedKeyUsage=serverAuth,clientAuth\n");
    make_leaf(
        d,
        name,
        &format!("{name}.crt"),
        "ca",
        &format!("{name}.example"),
        &ext,
    );
    let read = |n: &str| std::fs::read(d.join(n)).expect("read");
    std::fs::write(
        d.join(format!("{name}.pem")),
        [read(&format!("{name}.crt")), read(&format!("{name}.key"))].concat(),
    )
    .expect("pem");
}

/// `ca.pem`; leaves `a`, `b`, `c` (see [`leaf`]); `certs/` and `cas/` (base directories
/// holding copies); `mismatch.pem` (a's certificate with b's key); `empty/`.
fn make_pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca", "test-ca");
    for n in ["a", "b", "c"] {
        leaf(d, n);
    }
    for sub in ["certs", "cas", "empty"] {
        std::fs::create_dir(d.join(sub)).expect("mkdir");
    }
    for n in ["a.pem", "b.pem", "c.pem"] {
        std::fs::copy(d.join(n), d.join("certs").join(n)).expect("copy");
    }
    std::fs::copy(d.join("ca.pem"), d.join("cas/ca.pem")).expect("copy");
    let read = |n: &str| std::fs::read(d.join(n)).expect("read");
    std::fs::write(
        d.join("mismatch.pem"),
        [read("a.crt"), read("b.key")].concat(),
    )
    .expect("mismatch");
    Pki { dir }
}

fn tools() -> bool {
    require(have_program("openssl"), "openssl not installed")
}

/// What `openssl s_client` saw: the certificate's subject, the protocol and cipher, the
/// ALPN outcome, whether a client certificate was asked for; "refused" when the handshake
/// failed.
fn s_client(port: u16, sni: &str, extra: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", sni])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("s_client runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let asked = text.contains("Acceptable client certificate CA names");
    match s_client_session(&text) {
        Some((s, proto, cipher, alpn)) => {
            format!("{s} | {proto} {cipher} | {alpn} | client cert asked: {asked}")
        }
        None => "refused".to_string(),
    }
}

/// `ENGINE -c -f cfg` in `cwd`.
fn check(engine: Engine, cfg: &str, cwd: &Path) -> Output {
    std::fs::write(cwd.join("c.cfg"), cfg).expect("write cfg");
    Command::new(engine.program())
        .args(["-c", "-f", "c.cfg"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("check runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n";

/// Relative paths under `crt-base`/`ca-base`: a bind's `crt` and `ca-file`, the
/// certificates named in a crt-list (the crt-list file itself is taken as written), and
/// a server's `crt` and `ca-file` (mutual TLS from the proxy to its own second bind).
#[test]
fn crt_base_and_ca_base_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    std::fs::write(pki.dir.path().join("certs/list.txt"), "c.pem c.example\n").unwrap();
    let tpl = fill(
        &format!(
            "global\n  crt-base {{{{CERTS}}}}\n  ca-base {{{{CAS}}}}\n{DEFAULTS}\
             frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend be\n\
             backend be\n  server s 127.0.0.1:{{{{P1}}}} ssl crt b.pem ca-file ca.pem verify required\n\
             frontend tls\n  bind 127.0.0.1:{{{{P1}}}} ssl crt a.pem crt-list {{{{LIST}}}} ca-file ca.pem verify required\n\
             \x20 http-request return status 200 content-type text/plain string ok\n"
        ),
        &[
            ("CERTS", &pki.p("certs")),
            ("CAS", &pki.p("cas")),
            ("LIST", &pki.p("certs/list.txt")),
        ],
    );
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        // Through the server line: its client certificate and CA come from the bases.
        let resp = side.get("/");
        seen.push(format!(
            "via server: {} {:?}",
            resp.status,
            resp.body_text()
        ));
        for sni in ["a.example", "c.example"] {
            let o = s_client(
                side.port(1),
                sni,
                &["-cert", &pki.p("b.crt"), "-key", &pki.p("b.key")],
            );
            seen.push(format!("{sni}: {o}"));
        }
        seen
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert!(r[0].starts_with("via server: 200"), "{r:?}");
    assert!(r[1].contains("CN = a.example"), "{r:?}");
    assert!(r[2].contains("CN = c.example"), "{r:?}");

    // Both refuse what the bases do not cover, with exit status 1: a base set after the
    // line that needs it, and a relative crt-list file.
    let dir = tempfile::tempdir().unwrap();
    for (what, cfg) in [
        (
            "base after use",
            format!(
                "{DEFAULTS}frontend f\n  bind 127.0.0.1:1 ssl crt a.pem\n\
                 global\n  crt-base {}\n",
                pki.p("certs")
            ),
        ),
        (
            "relative crt-list",
            format!(
                "global\n  crt-base {}\n{DEFAULTS}frontend f\n  bind 127.0.0.1:1 ssl crt-list list.txt\n",
                pki.p("certs")
            ),
        ),
        (
            "crl-file missing under ca-base",
            format!(
                "global\n  ca-base {}\n{DEFAULTS}frontend f\n  bind 127.0.0.1:1 ssl crt {} ca-file ca.pem crl-file crl.pem verify optional\n",
                pki.p("cas"),
                pki.p("a.pem")
            ),
        ),
        (
            "ca-file under crt-base",
            format!(
                "global\n  crt-base {}\n{DEFAULTS}frontend f\n  bind 127.0.0.1:1 ssl crt a.pem ca-file ca.pem verify optional\n",
                pki.p("certs")
            ),
        ),
    ] {
        let ho = check(Engine::Haproxy, &cfg, dir.path());
        let ro = check(Engine::Rproxy, &cfg, dir.path());
        assert_eq!(ho.status.code(), Some(1), "{what}: haproxy: {}", text(&ho));
        assert_eq!(ro.status.code(), Some(1), "{what}: rproxy: {}", text(&ro));
    }
}

/// A crt-list line's `[settings]` apply to the connections whose SNI picks its
/// certificate: ALPN, version range, TLSv1.2 ciphers and TLSv1.3 suites, client
/// certificate verification with the line's own CA file.
#[test]
fn crt_list_line_settings_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    std::fs::write(
        pki.dir.path().join("list.txt"),
        format!(
            "# default first\n{a}\n\
             {b} [alpn http/1.1 ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-AES128-GCM-SHA256] b.example\n\
             {c} [ciphersuites TLS_CHACHA20_POLY1305_SHA256 verify optional ca-file {ca}] c.example\n",
            a = pki.p("a.pem"),
            b = pki.p("b.pem"),
            c = pki.p("c.pem"),
            ca = pki.p("ca.pem"),
        ),
    )
    .unwrap();
    let tpl = fill(
        &format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} ssl crt-list {{{{LIST}}}} alpn http/1.0\n\
             \x20 http-request return status 200\n"
        ),
        &[("LIST", &pki.p("list.txt"))],
    );
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        for (sni, extra) in [
            ("a.example", &["-alpn", "http/1.1,http/1.0"][..]),
            ("b.example", &["-alpn", "http/1.1,http/1.0"][..]),
            ("b.example", &["-tls1_3"][..]),
            ("c.example", &[][..]),
            ("c.example", &["-tls1_2"][..]),
            ("c.example", &["-alpn", "http/1.0"][..]),
        ] {
            seen.push(format!(
                "{sni} {extra:?}: {}",
                s_client(side.port(0), sni, extra)
            ));
        }
        seen
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    // What they agree on is what the lines say.
    assert!(
        r[0].contains("TLSv1.3") && r[0].contains("protocol: http/1.0"),
        "{r:?}"
    );
    assert!(r[0].contains("asked: false"), "{r:?}");
    assert!(
        r[1].contains("TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256")
            && r[1].contains("protocol: http/1.1"),
        "{r:?}"
    );
    assert!(r[2].contains("refused"), "{r:?}");
    assert!(
        r[3].contains("TLS_CHACHA20_POLY1305_SHA256") && r[3].contains("asked: true"),
        "{r:?}"
    );
    assert!(r[5].contains("protocol: http/1.0"), "{r:?}");
}

/// What a crt-list line may hold: an unknown setting (and the bind-only `no-tlsv11`) is
/// an error naming the crt-list file and line, under both; a setting HAProxy takes that
/// rustls cannot apply per certificate (`curves`) is a warning with rproxy.
#[test]
fn crt_list_settings_errors_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let dir = tempfile::tempdir().unwrap();
    for (line2, ok, want) in [
        (
            "[no-tlsv11]",
            false,
            "line 2: unknown SSL setting 'no-tlsv11'",
        ),
        (
            "[bogus-thing 1]",
            false,
            "line 2: unknown SSL setting 'bogus-thing'",
        ),
        ("[ssl-min-ver TLSv9]", false, "line 2: unknown TLS version"),
        ("[verify sometimes]", false, "line 2: unknown verify mode"),
        (
            "[alpn http/1.1 curves P-256]",
            true,
            "line 2: 'curves' is accepted but not applied",
        ),
    ] {
        let list = dir.path().join("list.txt");
        std::fs::write(
            &list,
            format!("{}\n{} {line2} b.example\n", pki.p("a.pem"), pki.p("b.pem")),
        )
        .unwrap();
        let cfg = format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:1 ssl crt-list {}\n  http-request return status 200\n",
            list.display()
        );
        let ho = check(Engine::Haproxy, &cfg, dir.path());
        let ro = check(Engine::Rproxy, &cfg, dir.path());
        assert_eq!(ho.status.success(), ok, "{line2}: haproxy: {}", text(&ho));
        assert_eq!(ro.status.success(), ok, "{line2}: rproxy: {}", text(&ro));
        // HAProxy names the crt-list line for unknown keywords (not for bad values).
        if want.contains("unknown SSL setting") {
            assert!(
                text(&ho).contains("list.txt:2]"),
                "{line2}: haproxy: {}",
                text(&ho)
            );
        }
        let rt = text(&ro);
        assert!(rt.contains(want), "{line2}: rproxy: {rt}");
        assert!(
            rt.contains("c.cfg:7") && rt.contains('^') && rt.contains("help:"),
            "{rt}"
        );
    }
}

/// `-c` loads certificates, keys and CA files as the start does: each broken one is a
/// failed check (exit 1) under both, and rproxy points at the bind line with a hint.
#[test]
fn check_mode_loads_certificates_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("valid", format!("crt {}", pki.p("a.pem")), ""),
        (
            "missing file",
            format!("crt {}", pki.p("nope.pem")),
            "unable to load certificate",
        ),
        (
            "key of another certificate",
            format!("crt {}", pki.p("mismatch.pem")),
            "inconsistent certificate/key",
        ),
        (
            "empty directory",
            format!("crt {}", pki.p("empty")),
            "no SSL certificate loaded",
        ),
        (
            "no key",
            format!("crt {}", pki.p("a.crt")),
            "unable to load SSL private key",
        ),
        (
            "ca-file without a certificate",
            format!(
                "crt {} ca-file {} verify optional",
                pki.p("a.pem"),
                pki.p("a.key")
            ),
            "holds no certificate",
        ),
        (
            "ca-file without a certificate, verify none",
            format!("crt {} ca-file {}", pki.p("a.pem"), pki.p("a.key")),
            "holds no certificate",
        ),
        (
            "ca-file as a directory",
            format!(
                "crt {} ca-file {} verify required",
                pki.p("a.pem"),
                pki.p("cas")
            ),
            "",
        ),
        (
            "crt-list naming a missing certificate",
            format!("crt-list {}", pki.p("badlist.txt")),
            "badlist.txt' line 1",
        ),
    ];
    std::fs::write(
        pki.dir.path().join("badlist.txt"),
        format!("{}\n", pki.p("gone.pem")),
    )
    .unwrap();
    for (what, opts, want) in cases {
        let cfg = format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:1 ssl {opts}\n  http-request return status 200\n"
        );
        let ho = check(Engine::Haproxy, &cfg, dir.path());
        let ro = check(Engine::Rproxy, &cfg, dir.path());
        assert_eq!(
            ho.status.code(),
            ro.status.code(),
            "{what}: haproxy: {}\nrproxy: {}",
            text(&ho),
            text(&ro)
        );
        let rt = text(&ro);
        if want.is_empty() {
            assert_eq!(ro.status.code(), Some(0), "{what}: {rt}");
            continue;
        }
        assert_eq!(ro.status.code(), Some(1), "{what}: {rt}");
        assert!(rt.contains(want), "{what}: {rt}");
        assert!(
            rt.contains("c.cfg:7") && rt.contains('^') && rt.contains("help:"),
            "{what}: {rt}"
        );
    }
    // Server lines: the client certificate and the CA file.
    for (what, opts, want) in [
        (
            "server, valid",
            format!("verify none crt {}", pki.p("b.pem")),
            "",
        ),
        (
            "server, ca-file as a directory",
            format!("verify required ca-file {}", pki.p("cas")),
            "",
        ),
        (
            "server, key of another certificate",
            format!("verify none crt {}", pki.p("mismatch.pem")),
            "server 's'",
        ),
        (
            "server, ca-file without a certificate",
            format!("verify required ca-file {}", pki.p("a.key")),
            "holds no certificate",
        ),
    ] {
        let cfg = format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:1\n  default_backend b\n\
             backend b\n  server s 127.0.0.1:2 ssl {opts}\n"
        );
        let ho = check(Engine::Haproxy, &cfg, dir.path());
        let ro = check(Engine::Rproxy, &cfg, dir.path());
        assert_eq!(
            ho.status.code(),
            ro.status.code(),
            "{what}: haproxy: {}\nrproxy: {}",
            text(&ho),
            text(&ro)
        );
        let rt = text(&ro);
        if want.is_empty() {
            assert_eq!(ro.status.code(), Some(0), "{what}: {rt}");
            continue;
        }
        assert!(
            rt.contains(want) && rt.contains("c.cfg:10") && rt.contains("help:"),
            "{what}: {rt}"
        );
    }
}

/// A replaced certificate file is served after a reload, with no refused connection on
/// the way: the new process starts on the same configuration with `-sf OLDPID` (binding
/// beside the old one with SO_REUSEPORT), the old one stops accepting and finishes. The
/// same with haproxy (`-sf`, no master-worker, no `-x` socket transfer). Throughout, a
/// client sends requests to the plain bind and probes the TLS bind; none may fail.
#[test]
fn reload_with_sf_serves_the_new_certificate_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    for engine in [Engine::Haproxy, Engine::Rproxy] {
        let cert = pki.dir.path().join(format!("live-{}.pem", engine.name()));
        std::fs::copy(pki.dir.path().join("a.pem"), &cert).unwrap();
        let (p0, p1) = (common::ports::free_port(), common::ports::free_port());
        let cfg = format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{p0} ssl crt {}\n  bind 127.0.0.1:{p1}\n\
             \x20 http-request return status 200 content-type text/plain string ok\n",
            cert.display()
        );
        let mut old = Proxy::start_engine(engine, &cfg);
        assert!(s_client(p0, "x", &[]).contains("CN = a.example"));
        // A client that keeps the plain listener busy and counts failures.
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let load = {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = common::client::Conn::try_open(("127.0.0.1", p1)).and_then(|mut c| {
                        c.request("GET", "/", &[("Host", "x"), ("Connection", "close")], b"")
                    });
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !r.as_ref().is_ok_and(|r| r.status == 200) {
                        eprintln!("failed: {:?}", r.map(|r| r.status));
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        // The certificate file is replaced in place (a rename, as deploy tools do).
        let tmp = pki.dir.path().join("next.pem");
        std::fs::copy(pki.dir.path().join("b.pem"), &tmp).unwrap();
        std::fs::rename(&tmp, &cert).unwrap();
        // Still the old certificate until the reload: nothing watches the file.
        assert!(
            s_client(p0, "x", &[]).contains("CN = a.example"),
            "{}",
            engine.name()
        );
        let pid = old.pid().to_string();
        let mut new = Proxy::spawn(engine, &cfg, &["-sf", &pid]);
        let mut tls_probes = Vec::new();
        let switched = eventually(Duration::from_secs(8), || {
            let o = s_client(p0, "x", &[]);
            let done = o.contains("CN = b.example");
            tls_probes.push(o);
            done
        });
        assert!(
            switched,
            "{}: {tls_probes:?}\n{}",
            engine.name(),
            new.stderr_text()
        );
        assert!(
            old.wait_exit(Duration::from_secs(5)).is_some(),
            "{}: the old process did not stop",
            engine.name()
        );
        // Some more traffic on the new process alone.
        let before = sent.load(Ordering::Relaxed);
        assert!(eventually(Duration::from_secs(3), || sent
            .load(Ordering::Relaxed)
            > before + 20));
        stop.store(true, Ordering::Relaxed);
        load.join().unwrap();
        let refused_tls = tls_probes.iter().filter(|o| *o == "refused").count();
        assert_eq!(
            (failed.load(Ordering::Relaxed), refused_tls),
            (0, 0),
            "{}: failed plain requests of {} sent, refused TLS probes {tls_probes:?}",
            engine.name(),
            sent.load(Ordering::Relaxed)
        );
        assert!(new.running(), "{}: {}", engine.name(), new.stderr_text());
        new.stop();
    }
}

/// SIGUSR2 (master-worker's reload) does not stop a proxy running without a master:
/// haproxy ignores it, rproxy says how to reload instead and goes on serving.
#[test]
fn sigusr2_without_master_worker_keeps_serving_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  http-request return status 200\n"
    );
    let (h, r) = side_by_side(&t, |side| {
        side.proxy.send_signal(common::Signal::SIGUSR2);
        // rproxy says when it handled the signal; haproxy says nothing (a short wait).
        let said = eventually(Duration::from_millis(500), || {
            side.proxy.stderr_text().contains("SIGUSR2")
        });
        let statuses: Vec<u16> = (0..3).map(|_| side.get("/").status).collect();
        (statuses, side.proxy.stderr_text(), said)
    });
    assert_eq!(h.0, r.0, "haproxy {:?} vs rproxy {:?}", h.0, r.0);
    assert_eq!(r.0, [200, 200, 200]);
    assert!(r.2 && r.1.contains("SIGUSR2 (reload) ignored"), "{}", r.1);
    assert!(!h.2, "{}", h.1);
}

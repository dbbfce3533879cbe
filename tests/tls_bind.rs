//! TLS termination on `bind ... ssl` lines through the real binary, side by side with
//! HAProxy 2.6.12: `redirect scheme https if !{ ssl_fc }` and X-Forwarded-Proto over the
//! plain and the TLS bind of one frontend, the `ssl_fc*` fetches as the server sees them,
//! the certificate SNI picks (exact, wildcard from a directory, `.key` beside the PEM, the
//! default), ALPN, `strict-sni`, and protocol version limits.
//!
//! Certificates: a CA and three EC leaves the test makes with `openssl`; clients: `curl
//! --http1.1` and `openssl s_client`.

mod common;
mod tls_util;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::mock::MockServer;
use common::proxy::{Engine, Proxy, eventually, wait_listening};
use common::sbs::{fill, require_haproxy, side_by_side};
use common::{have_program, require};
use tls_util::{Pki, make_ca, make_leaf, s_client_session};

/// `ca.pem`; leaves signed by it, each for `NAME` and `*.NAME`: `dflt.pem` (chain and key
/// in one file, `default.example`), `a.pem` + `a.pem.key` (`a.example`), `dir/b.pem`
/// (`b.example`, loaded through its directory).
fn make_pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca", "test-ca");
    std::fs::create_dir(d.join("dir")).expect("mkdir");
    for (f, cn) in [
        ("dflt", "default.example"),
        ("a", "a.example"),
        ("b", "b.example"),
    ] {
        let ext = format!("subjectAltName=DNS:{cn},DNS:*.{cn}\n");
        make_leaf(d, f, &format!("{f}.crt"), "ca", cn, &ext);
    }
    let read = |n: &str| std::fs::read(d.join(n)).expect("read");
    std::fs::write(
        d.join("dflt.pem"),
        [read("dflt.crt"), read("dflt.key")].concat(),
    )
    .unwrap();
    std::fs::write(d.join("a.pem"), read("a.crt")).unwrap();
    std::fs::write(d.join("a.pem.key"), read("a.key")).unwrap();
    std::fs::write(d.join("dir/b.pem"), [read("b.crt"), read("b.key")].concat()).unwrap();
    Pki { dir }
}

fn tools() -> bool {
    require(have_program("openssl"), "openssl not installed")
        && require(have_program("curl"), "curl not installed")
}

/// What `openssl s_client` saw: the server certificate's subject, the protocol, the
/// cipher and the ALPN outcome; "refused" when the handshake failed.
fn s_client(port: u16, sni: Option<&str>, extra: &[&str]) -> String {
    let mut c = Command::new("openssl");
    c.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    if let Some(n) = sni {
        c.args(["-servername", n]);
    } else {
        c.arg("-noservername");
    }
    let out = c
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("s_client runs");
    match s_client_session(&String::from_utf8_lossy(&out.stdout)) {
        Some((s, proto, cipher, alpn)) => format!("{s} | {proto} {cipher} | {alpn}"),
        None => "refused".to_string(),
    }
}

/// `curl --http1.1` to `https://NAME:PORT/path` (NAME resolved to 127.0.0.1, verified
/// against the test CA): (status, Location).
fn curl(pki: &Pki, name: &str, port: u16, path: &str, extra: &[&str]) -> (u16, Option<String>) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-D",
            "-",
            "--http1.1",
            "--max-time",
            "5",
        ])
        .args(["--cacert", &pki.p("ca.pem")])
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(extra)
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let loc = text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    });
    (status, loc)
}

/// One frontend, a plain and a TLS bind: plain requests to /secure are redirected to
/// https; TLS ones reach the server with X-Forwarded-Proto and the `ssl_fc*` facts.
#[test]
fn redirect_and_forwarded_proto_over_both_binds_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let mock = MockServer::start("s1");
    let tpl = fill(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
         frontend fe\n  bind 127.0.0.1:{{P0}}\n\
           bind 127.0.0.1:{{P1}} ssl crt {{DFLT}} crt {{A}} crt {{DIR}} alpn http/1.1\n\
           bind 127.0.0.1:{{P2}} ssl crt {{DFLT}} ciphersuites TLS_CHACHA20_POLY1305_SHA256\n\
           http-request redirect scheme https if !{ ssl_fc } { path_beg /secure }\n\
           http-request add-header X-Forwarded-Proto https if { ssl_fc }\n\
           http-request set-header X-Forwarded-Port %[dst_port]\n\
           http-request set-header X-SSL %[ssl_fc]\n\
           http-request set-header X-SNI %[ssl_fc_sni] if { ssl_fc_has_sni }\n\
           http-request set-header X-Proto %[ssl_fc_protocol] if { ssl_fc }\n\
           http-request set-header X-Cipher %[ssl_fc_cipher] if { ssl_fc }\n\
           http-request set-header X-Alpn %[ssl_fc_alpn] if { ssl_fc }\n\
           default_backend be\n\
         backend be\n  server s1 {{S1}}\n",
        &[
            ("DFLT", &pki.p("dflt.pem")),
            ("A", &pki.p("a.pem")),
            ("DIR", &pki.p("dir")),
            ("S1", &mock.addr_str()),
        ],
    );
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        // Plain: redirected to https (same host and path), or forwarded without the header.
        let plain = side.get("/secure/x?y=1");
        seen.push(format!(
            "plain /secure: {} {:?}",
            plain.status,
            plain.header("location")
        ));
        mock.clear();
        let plain = side.get("/open");
        let got = mock.last().expect("plain request forwarded");
        seen.push(format!(
            "plain /open: {} xfp={:?} ssl={:?} sni={:?}",
            plain.status,
            got.header("x-forwarded-proto"),
            got.header("x-ssl"),
            got.header("x-sni")
        ));
        // TLS, each SNI name, both protocol versions.
        for (name, port, extra) in [
            ("a.example", 1, &[][..]),
            ("x.b.example", 1, &["--tls-max", "1.2"][..]),
            ("default.example", 2, &[][..]),
        ] {
            mock.clear();
            let (st, loc) = curl(&pki, name, side.port(port), "/secure/y", extra);
            let got = mock.last();
            // The port the client connected to (each engine has its own ports).
            let xfport = got
                .as_ref()
                .and_then(|g| g.header("x-forwarded-port").map(String::from))
                == Some(side.port(port).to_string());
            seen.push(format!(
                "tls {name}: {st} {loc:?} xfport={xfport} xfp={:?} ssl={:?} sni={:?} proto={:?} cipher={:?} alpn={:?}",
                got.as_ref()
                    .and_then(|g| g.header("x-forwarded-proto").map(String::from)),
                got.as_ref()
                    .and_then(|g| g.header("x-ssl").map(String::from)),
                got.as_ref()
                    .and_then(|g| g.header("x-sni").map(String::from)),
                got.as_ref()
                    .and_then(|g| g.header("x-proto").map(String::from)),
                got.as_ref()
                    .and_then(|g| g.header("x-cipher").map(String::from)),
                got.as_ref()
                    .and_then(|g| g.header("x-alpn").map(String::from)),
            ));
        }
        seen
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    // And what they agree on is what the configuration means.
    assert!(r[0].starts_with("plain /secure: 302"), "{r:?}");
    assert!(r[0].contains("https://"), "{r:?}");
    assert!(r[1].contains("xfp=None"), "{r:?}");
    assert!(
        r[2].contains("xfp=Some(\"https\")")
            && r[2].contains("TLSv1.3")
            && r[2].contains("xfport=true"),
        "{r:?}"
    );
    assert!(r[3].contains("TLSv1.2"), "{r:?}");
    assert!(r[4].contains("TLS_CHACHA20_POLY1305_SHA256"), "{r:?}");
    assert!(r[2].contains("alpn=Some(\"http/1.1\")"), "{r:?}");
    // No ALPN on that bind: the fetch fails, the header is set empty (as haproxy does).
    assert!(r[4].contains("alpn=Some(\"\")"), "{r:?}");
}

/// Which certificate each SNI name gets, and the ALPN outcome.
#[test]
fn sni_certificate_choice_and_alpn_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let tpl = fill(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
         frontend fe\n\
           bind 127.0.0.1:{{P0}} ssl crt {{DFLT}} crt {{A}} crt {{DIR}} alpn http/1.1\n\
           bind 127.0.0.1:{{P1}} ssl crt {{DIR}} crt {{A}}\n\
           bind 127.0.0.1:{{P2}} ssl crt-list {{LIST}}\n\
           http-request return status 200\n",
        &[
            ("DFLT", &pki.p("dflt.pem")),
            ("A", &pki.p("a.pem")),
            ("DIR", &pki.p("dir")),
            ("LIST", &pki.p("list.txt")),
        ],
    );
    // The first line is the default, out of the name lookup; `a` answers only for its
    // filters, minus one name; `b` for its own names.
    std::fs::write(
        pki.dir.path().join("list.txt"),
        format!(
            "# test list\n{} !*\n\n{} [alpn http/1.1] other.example *.w.example !secure.w.example\n{}\n",
            pki.p("dflt.pem"),
            pki.p("a.pem"),
            pki.p("dir/b.pem")
        ),
    )
    .unwrap();
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        for (port, sni, alpn) in [
            (0, Some("a.example"), "http/1.1"),
            (0, Some("www.a.example"), "h2,http/1.1"),
            (0, Some("b.example"), "h2"),
            (0, Some("deep.x.b.example"), "http/1.1"),
            (0, Some("unknown.example"), "http/1.1"),
            (0, None, "http/1.1"),
            (1, Some("unknown.example"), "http/1.1"),
            (1, Some("A.EXAMPLE"), "http/1.1"),
        ] {
            let o = s_client(side.port(port), sni, &["-alpn", alpn]);
            seen.push(format!("P{port} {sni:?} alpn {alpn}: {o}"));
        }
        for sni in [
            "other.example",
            "x.w.example",
            "secure.w.example",
            "a.example",
            "b.example",
            "default.example",
        ] {
            let o = s_client(side.port(2), Some(sni), &[]);
            seen.push(format!("P2 {sni}: {o}"));
        }
        seen
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert!(r[0].contains("CN = a.example") && r[0].contains("ALPN protocol: http/1.1"));
    assert!(r[2].contains("No ALPN negotiated"), "{r:?}");
    assert!(r[4].contains("CN = default.example"), "{r:?}");
    assert!(r[6].contains("CN = b.example"), "{r:?}");
    let list: Vec<&str> = r[8..]
        .iter()
        .map(|l| {
            let cn = l.split("CN = ").nth(1).unwrap_or("");
            cn.split(' ').next().unwrap_or("")
        })
        .collect();
    assert_eq!(
        list,
        [
            "a.example",
            "a.example",
            "default.example",
            "default.example",
            "b.example",
            "default.example"
        ],
        "{r:?}"
    );
}

/// `strict-sni` refuses names without a certificate (and no SNI at all); version limits
/// refuse the protocols outside them. A refused handshake is not fatal: the proxy serves
/// the next one, and under `-d` rproxy logs it.
#[test]
fn strict_sni_and_version_limits_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let tpl = fill(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
         frontend fe\n\
           bind 127.0.0.1:{{P0}} ssl crt {{DFLT}} crt {{A}} strict-sni\n\
           bind 127.0.0.1:{{P1}} ssl crt {{DFLT}} ssl-max-ver TLSv1.2\n\
           bind 127.0.0.1:{{P2}} ssl crt {{DFLT}} no-tlsv12\n\
           bind 127.0.0.1:{{P3}} ssl crt {{DFLT}} ssl-min-ver TLSv1.3\n\
           http-request return status 200\n",
        &[("DFLT", &pki.p("dflt.pem")), ("A", &pki.p("a.pem"))],
    );
    let cases: &[(usize, Option<&str>, &[&str])] = &[
        (0, Some("a.example"), &[]),
        (0, Some("default.example"), &[]),
        (0, Some("nope.example"), &[]),
        (0, None, &[]),
        (1, Some("x"), &["-tls1_3"]),
        (1, Some("x"), &["-tls1_2"]),
        (2, Some("x"), &["-tls1_2"]),
        (2, Some("x"), &["-tls1_3"]),
        (3, Some("x"), &["-tls1_2"]),
        (0, Some("a.example"), &[]),
    ];
    let (h, r) = side_by_side(&tpl, |side| {
        cases
            .iter()
            .map(|(port, sni, extra)| {
                let o = s_client(side.port(*port), *sni, extra);
                // The cipher a refused-or-not handshake picked is not what is compared here.
                let short = o.split(" | ").take(2).collect::<Vec<_>>().join(" | ");
                let short = short.split(' ').take(5).collect::<Vec<_>>().join(" ");
                format!("P{port} {sni:?} {extra:?}: {short}")
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let refused: Vec<bool> = r.iter().map(|l| l.ends_with("refused")).collect();
    assert_eq!(
        refused,
        [
            false, false, true, true, true, false, true, false, true, false
        ],
        "{r:?}"
    );

    // Under -d, refused handshakes are logged (and the proxy keeps serving).
    let ports = [common::ports::free_port()];
    let cfg = fill(
        "defaults\n  mode http\n  timeout client 5s\n\
         frontend fe\n  bind 127.0.0.1:{{P}} ssl crt {{A}} strict-sni\n  http-request return status 200\n",
        &[("P", &ports[0].to_string()), ("A", &pki.p("a.pem"))],
    );
    let p = Proxy::spawn(Engine::Rproxy, &cfg, &["-d"]);
    assert!(wait_listening(&ports));
    assert_eq!(s_client(ports[0], Some("nope.example"), &[]), "refused");
    assert!(
        eventually(Duration::from_secs(3), || p
            .stderr_text()
            .contains("SSL handshake failure")),
        "{}",
        p.stderr_text()
    );
    assert!(s_client(ports[0], Some("a.example"), &[]).contains("CN = a.example"));
}

/// Settings this proxy cannot honour are said at start: `alpn h2` (offered as http/1.1
/// only, with a warning), cipher names rustls does not offer (warned, by name), a list
/// that leaves nothing (an error), a certificate without its key (an error).
#[test]
fn unsupported_settings_are_said_at_start() {
    if !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let pki = make_pki();
    let port = common::ports::free_port();
    let base = "defaults\n  mode http\n  timeout client 5s\nfrontend fe\n  bind 127.0.0.1:";
    // h2 is offered and agreed (HTTP/2 to clients: tests/http2.rs), without a warning.
    let cfg = format!(
        "{base}{port} ssl crt {} alpn h2,http/1.1 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\n  http-request return status 200\n",
        pki.p("dflt.pem")
    );
    let p = Proxy::start(&cfg);
    let o = s_client(port, Some("x"), &["-alpn", "h2,http/1.1"]);
    assert!(o.contains("ALPN protocol: h2"), "{o}");
    let o = s_client(port, Some("x"), &["-tls1_2"]);
    assert!(o.contains("ECDHE-ECDSA-AES128-GCM-SHA256"), "{o}");
    let err = p.stderr_text();
    assert!(!err.contains("'h2'"), "{err}");
    assert!(err.contains("DHE-RSA-AES256-GCM-SHA384"), "{err}");
    drop(p);

    for (opts, want) in [
        ("ciphers NOPE-CIPHER", "names no cipher"),
        ("ciphersuites TLS_FOO", "names no cipher"),
        ("ssl-max-ver TLSv1.1", "TLSv1.2 and TLSv1.3 only"),
        ("verify required", "no CA file"),
    ] {
        let cfg = format!(
            "{base}{port} ssl crt {} {opts}\n  http-request return status 200\n",
            pki.p("dflt.pem")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.cfg"), cfg).unwrap();
        let out = common::rproxy(&["-f", "c.cfg", "-db"], dir.path());
        assert!(!out.status.success(), "{opts}");
        assert!(
            common::stderr(&out).contains(want),
            "{opts}: {}",
            common::stderr(&out)
        );
    }
    // A certificate alone, no key in it nor beside it.
    let lone: PathBuf = pki.dir.path().join("lone.pem");
    std::fs::copy(pki.dir.path().join("dflt.crt"), &lone).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.cfg"),
        format!(
            "{base}{port} ssl crt {}\n  http-request return status 200\n",
            lone.display()
        ),
    )
    .unwrap();
    let out = common::rproxy(&["-f", "c.cfg", "-db"], dir.path());
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("unable to load SSL private key"),
        "{}",
        common::stderr(&out)
    );
}

/// Over TLS: keep-alive (two requests, one connection), a 3 MB response read slowly (the
/// proxy's writes wait for the reader), a chunked one, and a 2 MB upload.
#[test]
fn bodies_and_keep_alive_over_tls() {
    if !tools() {
        return;
    }
    let pki = make_pki();
    let mock = MockServer::start("s1");
    let port = common::ports::free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
         frontend fe\n  bind 127.0.0.1:{port} ssl crt {} alpn http/1.1\n  default_backend be\n\
         backend be\n  server s1 {}\n",
        pki.p("dflt.pem"),
        mock.addr_str()
    );
    let _p = Proxy::start(&cfg);
    let url = format!("https://default.example:{port}/");
    let base = |c: &mut Command| {
        c.args(["-s", "--http1.1", "--max-time", "8"])
            .args(["--cacert", &pki.p("ca.pem")])
            .args(["--resolve", &format!("default.example:{port}:127.0.0.1")]);
    };
    let mut c = Command::new("curl");
    base(&mut c);
    let out = c
        .args(["-H", "x-mock: body=3000000"])
        .args([&url, &url])
        .args(["-o", "/dev/null", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{size_download} %{num_connects}\n"])
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 3000000 1\n200 3000000 0\n"
    );
    let mut c = Command::new("curl");
    base(&mut c);
    let out = c
        .args([
            "-H",
            "x-mock: body=1000000,chunked",
            "--limit-rate",
            "4M",
            &url,
        ])
        .args(["-o", "/dev/null", "-w", "%{http_code} %{size_download}"])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 1000000");
    let up = pki.dir.path().join("up.bin");
    std::fs::write(&up, vec![b'u'; 2_000_000]).unwrap();
    mock.clear();
    let mut c = Command::new("curl");
    base(&mut c);
    let out = c
        .args(["--data-binary", &format!("@{}", up.display()), &url])
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(mock.last().map(|r| r.body.len()), Some(2_000_000));
}

/// `mode tcp` behind a TLS bind, with the `ssl-default-bind-options` and
/// `ssl-default-bind-ciphers` globals deciding the version and the cipher.
#[test]
fn tcp_mode_and_global_defaults_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let mock = MockServer::start("s1");
    let tpl = fill(
        "global\n  ssl-default-bind-options ssl-max-ver TLSv1.2\n\
           ssl-default-bind-ciphers ECDHE-ECDSA-CHACHA20-POLY1305\n\
         defaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
         frontend fe\n  bind 127.0.0.1:{{P0}} ssl crt {{DFLT}}\n  default_backend be\n\
         backend be\n  server s1 {{S1}}\n",
        &[("DFLT", &pki.p("dflt.pem")), ("S1", &mock.addr_str())],
    );
    let (h, r) = side_by_side(&tpl, |side| {
        let (st, _) = curl(&pki, "default.example", side.port(0), "/t", &[]);
        let o = s_client(side.port(0), Some("x"), &[]);
        let o13 = s_client(side.port(0), Some("x"), &["-tls1_3"]);
        vec![format!("curl {st}"), o, o13]
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    assert_eq!(r[0], "curl 200");
    assert!(
        r[1].contains("TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305"),
        "{r:?}"
    );
    assert_eq!(r[2], "refused");
}

/// A client that connects and never starts its handshake is closed at `timeout client`;
/// one that sends garbage instead of a ClientHello is closed at once; the proxy serves
/// the next client either way.
#[test]
fn stalled_and_garbage_handshakes_are_closed() {
    if !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let pki = make_pki();
    let port = common::ports::free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout client 1s\n\
         frontend fe\n  bind 127.0.0.1:{port} ssl crt {}\n  http-request return status 200\n",
        pki.p("dflt.pem")
    );
    let _p = Proxy::start(&cfg);
    let t0 = std::time::Instant::now();
    let mut idle = common::Conn::open(common::local(port));
    let mut junk = common::Conn::open(common::local(port));
    junk.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(junk.wait_closed(), "garbage handshake left open");
    assert!(idle.wait_closed(), "stalled handshake left open");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(s_client(port, Some("x"), &[]).contains("CN = default.example"));
}

/// Client certificates: `verify optional` serves clients with and without one,
/// `verify required` refuses those without; a certificate from another CA is refused on
/// both. `ssl_c_used` and `ssl_c_verify` as the server sees them.
#[test]
fn client_certificates_side_by_side() {
    if !tools() || !require_haproxy() {
        return;
    }
    let pki = make_pki();
    let stranger = common::make_pem(pki.dir.path(), "stranger.pem").expect("self-signed");
    let mock = MockServer::start("s1");
    let tpl = fill(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
         frontend fe\n\
           bind 127.0.0.1:{{P0}} ssl crt {{DFLT}} verify optional ca-file {{CA}}\n\
           bind 127.0.0.1:{{P1}} ssl crt {{DFLT}} verify required ca-file {{CA}}\n\
           http-request set-header X-Cert %[ssl_c_used]/%[ssl_c_verify]\n\
           default_backend be\n\
         backend be\n  server s1 {{S1}}\n",
        &[
            ("DFLT", &pki.p("dflt.pem")),
            ("CA", &pki.p("ca.pem")),
            ("S1", &mock.addr_str()),
        ],
    );
    let own = ["--cert", &pki.p("a.crt"), "--key", &pki.p("a.key")];
    let stranger = stranger.display().to_string();
    let other = ["--cert", stranger.as_str()];
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        for (port, cert) in [
            (0, &[][..]),
            (0, &own[..]),
            (0, &other[..]),
            (1, &[][..]),
            (1, &own[..]),
        ] {
            mock.clear();
            let (st, _) = curl(&pki, "default.example", side.port(port), "/c", cert);
            let h = mock
                .last()
                .and_then(|g| g.header("x-cert").map(String::from));
            seen.push(format!("P{port} {} cert: {st} {h:?}", cert.len()));
        }
        seen
    });
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let statuses: Vec<&str> = r
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        [
            "200 Some(\"0/0\")",
            "200 Some(\"1/0\")",
            "0 None",
            "0 None",
            "200 Some(\"1/0\")"
        ],
        "{r:?}"
    );
}

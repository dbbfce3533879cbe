//! CA files and CRL files of a running proxy, replaced through the runtime API (`show|
//! new|set|commit|abort|del ssl ca-file` and `... ssl crl-file`), side by side with
//! HAProxy 2.6.12: the answers of a session compared byte for byte; then what commits do
//! to client certificates (a CRL revoking one refuses it on new handshakes while a
//! connection established before keeps working, a new CA admits its certificates), the
//! same outcome on both engines; and `-c` refusing CRL files that cannot be loaded.

mod common;
mod tls_util;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::ports::free_port;
use common::proxy::{Engine, Proxy};
use common::sbs::require_haproxy;
use common::stats_cli::ask_eof;
use common::{have_program, require};
use tls_util::{AnyCert, make_ca, openssl};

fn prerequisites() -> bool {
    require(have_program("openssl"), "openssl not installed")
}

fn ssl(d: &Path, args: &[&str]) {
    assert!(openssl(d, args), "openssl {args:?}");
}

/// A leaf `NAME.pem` (certificate then key) signed by `ca`, with serial `serial`.
fn leaf(d: &Path, name: &str, ca: &str, serial: &str) {
    ssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        d.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth,serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("ext");
    ssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            serial,
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            &format!("{name}.crt"),
        ],
    );
    tls_util::cat(
        d,
        &format!("{name}.pem"),
        &[&format!("{name}.crt"), &format!("{name}.key")],
    );
}

/// A CRL `OUT` of `ca` revoking the certificates `revoked` (`openssl ca` needs its
/// database: one per CA, in `db-CA/`).
fn crl(d: &Path, ca: &str, revoked: &[&str], out: &str) {
    let db = d.join(format!("db-{ca}"));
    let _ = std::fs::remove_dir_all(&db);
    std::fs::create_dir_all(&db).expect("db");
    std::fs::write(db.join("index.txt"), "").expect("index");
    std::fs::write(db.join("crlnumber"), "1000\n").expect("crlnumber");
    let cnf = d.join(format!("{ca}.cnf"));
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca = c\n[c]\ndatabase = {0}/index.txt\ncrlnumber = {0}/crlnumber\n\
             default_md = sha256\ndefault_crl_days = 2\n",
            db.display()
        ),
    )
    .expect("cnf");
    let cnf = cnf.display().to_string();
    let (cert, key) = (format!("{ca}.pem"), format!("{ca}.key"));
    for r in revoked {
        ssl(
            d,
            &[
                "ca", "-config", &cnf, "-revoke", r, "-keyfile", &key, "-cert", &cert,
            ],
        );
    }
    ssl(
        d,
        &[
            "ca", "-config", &cnf, "-gencrl", "-keyfile", &key, "-cert", &cert, "-out", out,
        ],
    );
}

/// `ca1` signs `srv` (the proxy's certificate), `c1` and `c1b` (serials 0x1001, 0x10AB);
/// `ca2` signs `c2`. CRLs: `crl1-none.pem` (ca1, nothing revoked), `crl1-c1.pem` (ca1,
/// `c1` revoked), `crl2-none.pem` (ca2). `ca.pem` and `crl.pem` are what the binds load
/// (copies of `ca1.pem` and `crl1-none.pem`).
fn make_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca1", "Test CA one");
    make_ca(d, "ca2", "Test CA two");
    leaf(d, "srv", "ca1", "100");
    leaf(d, "c1", "ca1", "0x1001");
    leaf(d, "c1b", "ca1", "0x10AB");
    leaf(d, "c2", "ca2", "0x2001");
    crl(d, "ca1", &[], "crl1-none.pem");
    crl(d, "ca1", &["c1.crt"], "crl1-c1.pem");
    crl(d, "ca2", &[], "crl2-none.pem");
    tls_util::cat(d, "ca.pem", &["ca1.pem"]);
    tls_util::cat(d, "crl.pem", &["crl1-none.pem"]);
    tls_util::cat(d, "crl-both.pem", &["crl1-c1.pem", "crl2-none.pem"]);
    tls_util::cat(d, "ca-both.pem", &["ca2.pem", "ca1.pem"]);
    tls_util::cat(d, "srv2.pem", &["srv.pem"]);
    // A crt-list whose lines verify with the same files, one of them without the CRLs.
    std::fs::write(
        d.join("list.txt"),
        format!(
            "{0}/srv.pem [verify required ca-file {0}/ca.pem crl-file {0}/crl.pem] localhost\n\
             {0}/srv2.pem [verify optional ca-file {0}/ca.pem] other\n",
            d.display()
        ),
    )
    .expect("crt-list");
    dir
}

fn text(d: &Path, name: &str) -> String {
    std::fs::read_to_string(d.join(name)).expect(name)
}

/// One engine: a bind requiring client certificates and one taking them optionally,
/// both verifying against `ca.pem` and `crl.pem`, and one whose crt-list lines do; a
/// server line with a client certificate verifying its origin against `ca.pem` too.
struct Setup {
    _proxy: Proxy,
    socks: tempfile::TempDir,
    ports: [u16; 5],
}

impl Setup {
    fn start(engine: Engine, files: &Path) -> Setup {
        let socks = tempfile::tempdir().expect("tempdir");
        let ports = [
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        ];
        let (s, f) = (socks.path().display(), files.display());
        let cfg = format!(
            "global\n\
             \x20   stats socket {s}/admin.sock level admin\n\
             \x20   stats socket {s}/op.sock level operator\n\
             \x20   stats socket {s}/user.sock level user\n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 1s\n\
             \x20   timeout client 5s\n\
             \x20   timeout server 5s\n\
             frontend fe\n\
             \x20   bind 127.0.0.1:{p0} ssl crt {f}/srv.pem ca-file {f}/ca.pem verify required crl-file {f}/crl.pem\n\
             \x20   bind 127.0.0.1:{p1} ssl crt {f}/srv.pem ca-file {f}/ca.pem verify optional crl-file {f}/crl.pem\n\
             \x20   bind 127.0.0.1:{p4} ssl crt-list {f}/list.txt\n\
             \x20   http-request return status 200 content-type text/plain string ok\n\
             frontend plain\n\
             \x20   bind 127.0.0.1:{p2}\n\
             \x20   default_backend be\n\
             backend be\n\
             \x20   retries 0\n\
             \x20   server s1 127.0.0.1:{p3} ssl verify required ca-file {f}/ca.pem crl-file {f}/crl1-none.pem crt {f}/c1b.pem\n\
             frontend origin\n\
             \x20   bind 127.0.0.1:{p3} ssl crt {f}/srv.pem\n\
             \x20   http-request return status 200 content-type text/plain string origin\n",
            p0 = ports[0],
            p1 = ports[1],
            p2 = ports[2],
            p3 = ports[3],
            p4 = ports[4],
        );
        let proxy = Proxy::start_engine(engine, &cfg);
        Setup {
            _proxy: proxy,
            socks,
            ports,
        }
    }

    fn admin(&self, cmds: &str) -> String {
        self.ask("admin", cmds)
    }

    fn ask(&self, level: &str, cmds: &str) -> String {
        ask_eof(&self.socks.path().join(format!("{level}.sock")), cmds)
    }
}

/// `set ssl KIND FILE <<` with `payload`, ended by the empty line.
fn set(kind: &str, file: &str, payload: &str) -> String {
    format!("set ssl {kind} {file} <<\n{}\n\n", payload.trim_end())
}

/// The commands of an administrator's session, and the answers both engines give.
#[test]
fn answers_match_haproxy_byte_for_byte() {
    if !prerequisites() || !require_haproxy() {
        return;
    }
    let files = make_files();
    let d = files.path();
    let f = |n: &str| d.join(n).display().to_string();
    let (ca, crl, crl1) = (f("ca.pem"), f("crl.pem"), f("crl1-none.pem"));
    let t = |n: &str| text(d, n);
    let script: Vec<String> = vec![
        // Lists and descriptions of what the configuration loaded.
        "show ssl ca-file\n".into(),
        "show ssl crl-file\n".into(),
        format!("show ssl ca-file {ca}\n"),
        format!("show ssl ca-file {ca}:1\n"),
        format!("show ssl ca-file {ca}:2\n"),
        format!("show ssl ca-file {ca}:0\n"),
        format!("show ssl crl-file {crl}\n"),
        format!("show ssl crl-file {crl}:2\n"),
        format!("show ssl crl-file {crl}:x\n"),
        format!("show ssl crl-file {crl1}\n"),
        "show ssl ca-file nope.pem\n".into(),
        "show ssl crl-file nope.pem\n".into(),
        format!("show ssl ca-file *{ca}\n"),
        // Errors without a transaction.
        "set ssl ca-file\n".into(),
        format!("set ssl ca-file {ca}\n"),
        set("ca-file", "nope.pem", &t("ca2.pem")),
        set("ca-file", &ca, "garbage"),
        set("crl-file", "nope.pem", &t("crl1-c1.pem")),
        set("crl-file", &crl, "garbage"),
        // Valid PEM around bytes that are no CRL.
        set(
            "crl-file",
            &crl,
            "-----BEGIN X509 CRL-----\nbm90IGEgY3JsIGF0IGFsbA==\n-----END X509 CRL-----",
        ),
        "set ssl crl-file\n".into(),
        format!("commit ssl ca-file {ca}\n"),
        format!("commit ssl crl-file {crl}\n"),
        "commit ssl ca-file\n".into(),
        "commit ssl crl-file\n".into(),
        format!("abort ssl ca-file {ca}\n"),
        "abort ssl ca-file\n".into(),
        "abort ssl crl-file\n".into(),
        // A CA transaction: created, updated, listed, described, refused elsewhere,
        // committed (two binds, two crt-list lines and the server with a client
        // certificate: five dots).
        set("ca-file", &ca, &t("ca2.pem")),
        set("ca-file", &ca, &t("ca-both.pem")),
        "show ssl ca-file\n".into(),
        format!("show ssl ca-file *{ca}\n"),
        format!("show ssl ca-file *{ca}:2\n"),
        set("ca-file", &crl, &t("ca2.pem")),
        format!("commit ssl ca-file {crl}\n"),
        format!("abort ssl ca-file {crl}\n"),
        format!("del ssl ca-file {ca}\n"),
        format!("commit ssl ca-file {ca}\n"),
        format!("show ssl ca-file {ca}\n"),
        "show ssl ca-file\n".into(),
        // A CRL transaction; the server's own CRL file shows its one user.
        set("crl-file", &crl, &t("crl-both.pem")),
        "show ssl crl-file\n".into(),
        format!("show ssl crl-file *{crl}\n"),
        format!("show ssl crl-file *{crl}:1\n"),
        format!("commit ssl crl-file {crl}\n"),
        format!("show ssl crl-file {crl}\n"),
        set("crl-file", &crl1, &t("crl1-c1.pem")),
        format!("abort ssl crl-file {crl}\n"),
        format!("abort ssl crl-file {crl1}\n"),
        format!("abort ssl crl-file {crl1}\n"),
        // OpenSSL's store order (all but the last certificate sorted by subject).
        set(
            "ca-file",
            &ca,
            &[
                t("c2.crt"),
                t("ca2.pem"),
                t("c1b.crt"),
                t("ca1.pem"),
                t("c1.crt"),
            ]
            .concat(),
        ),
        format!("show ssl ca-file *{ca}\n"),
        format!("show ssl ca-file *{ca}:4\n"),
        format!("abort ssl ca-file {ca}\n"),
        // The system's CAs, which HAProxy's HTTP client loads (a long answer, cut by
        // HAProxy's buffer).
        "show ssl ca-file @system-ca\n".into(),
        // Files made at run time.
        "new ssl ca-file\n".into(),
        "new ssl crl-file\n".into(),
        format!("new ssl ca-file {ca}\n"),
        format!("new ssl crl-file {crl}\n"),
        "new ssl ca-file zz-ca.pem\n".into(),
        "new ssl crl-file zz-crl.pem\n".into(),
        "show ssl ca-file\n".into(),
        "show ssl crl-file\n".into(),
        "show ssl ca-file zz-ca.pem\n".into(),
        "show ssl crl-file zz-crl.pem\n".into(),
        set("ca-file", "zz-ca.pem", &t("ca2.pem")),
        set("crl-file", "zz-crl.pem", &t("crl2-none.pem")),
        "del ssl ca-file zz-ca.pem\n".into(),
        "del ssl crl-file zz-crl.pem\n".into(),
        "commit ssl ca-file zz-ca.pem\n".into(),
        "commit ssl crl-file zz-crl.pem\n".into(),
        "show ssl ca-file zz-ca.pem\n".into(),
        "show ssl crl-file zz-crl.pem\n".into(),
        format!("del ssl ca-file {ca}\n"),
        format!("del ssl crl-file {crl}\n"),
        "del ssl ca-file zz-ca.pem\n".into(),
        "del ssl crl-file zz-crl.pem\n".into(),
        "del ssl ca-file zz-ca.pem\n".into(),
        "del ssl crl-file zz-crl.pem\n".into(),
        "del ssl ca-file\n".into(),
        "del ssl crl-file\n".into(),
        "show ssl ca-file\n".into(),
        "show ssl crl-file\n".into(),
        // Levels (the answers below operator are HAProxy's odd ones).
        format!("@op show ssl ca-file {ca}\n"),
        "@op new ssl ca-file zz.pem\n".into(),
        format!("@op commit ssl crl-file {crl}\n"),
        "@user show ssl ca-file\n".into(),
        format!("@user show ssl crl-file {crl}\n"),
        "@user del ssl crl-file zz.pem\n".into(),
    ];
    let run = |engine: Engine| -> Vec<String> {
        let s = Setup::start(engine, d);
        script
            .iter()
            .map(|cmd| match cmd.strip_prefix('@') {
                Some(rest) => {
                    let (level, cmd) = rest.split_once(' ').unwrap_or((rest, ""));
                    s.ask(level, cmd)
                }
                None => s.admin(cmd),
            })
            .collect()
    };
    let want = run(Engine::Haproxy);
    let got = run(Engine::Rproxy);
    for (i, (cmd, (w, g))) in script.iter().zip(want.iter().zip(&got)).enumerate() {
        let first = cmd.lines().next().unwrap_or_default();
        assert_eq!(g, w, "step {i}: {first}");
    }
    // Some answers worth seeing whole (and the comparison above not vacuous).
    assert!(
        got[6].contains("Certificate Revocation List #1:\nVersion 2\n"),
        "{}",
        got[6]
    );
    assert!(got[6].contains("No Revoked Certificates."), "{}", got[6]);
    let revoked = &got[43];
    assert!(
        revoked.contains("    Serial Number: 1001\n        Revocation Date: "),
        "{revoked}"
    );
    assert!(
        got[37].starts_with(&format!("Committing {ca}.....\nSuccess!")),
        "{}",
        got[37]
    );
}

/// A TLS client presenting the certificate and key of `pem` (none: `None`).
fn client(
    port: u16,
    pem: Option<&Path>,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)));
    let cfg = match pem {
        Some(p) => {
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(p)
                .expect("pem")
                .collect::<Result<Vec<_>, _>>()
                .expect("certs");
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(p).expect("key");
            b.with_client_auth_cert(certs, key).expect("client cert")
        }
        None => b.with_no_client_auth(),
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).expect("client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    rustls::StreamOwned::new(conn, tcp)
}

/// One request on a kept-alive connection: whether it was answered `200 ... ok`.
fn request(s: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>) -> bool {
    if s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

/// Whether a new connection presenting `pem` is served.
fn served(port: u16, pem: Option<&Path>) -> bool {
    request(&mut client(port, pem))
}

/// Commits revoking a client certificate and changing the CA: new handshakes follow
/// them, on both binds using the files, the same way on both engines; a connection
/// established before keeps working; an abort changes nothing.
#[test]
fn commits_apply_to_new_handshakes_as_haproxy() {
    if !prerequisites() || !require_haproxy() {
        return;
    }
    let files = make_files();
    let d = files.path();
    let f = |n: &str| d.join(n).display().to_string();
    let (ca, crl) = (f("ca.pem"), f("crl.pem"));
    let run = |engine: Engine| -> Vec<String> {
        let s = Setup::start(engine, d);
        let mut seen = Vec::new();
        let probe = |what: &str, seen: &mut Vec<String>| {
            for (bind, port) in [
                ("required", s.ports[0]),
                ("optional", s.ports[1]),
                // The crt-list line picked by the client's SNI, `localhost`.
                ("list", s.ports[4]),
            ] {
                for c in ["c1", "c1b", "c2", "none"] {
                    let pem = d.join(format!("{c}.pem"));
                    let pem = (c != "none").then_some(pem.as_path());
                    seen.push(format!("{what}: {bind} {c}: {}", served(port, pem)));
                }
            }
        };
        probe("start", &mut seen);
        // Established before the revocation, with the certificate revoked next.
        let mut kept = client(s.ports[0], Some(&d.join("c1.pem")));
        seen.push(format!("kept before: {}", request(&mut kept)));
        seen.push(s.admin(&set("crl-file", &crl, &text(d, "crl1-c1.pem"))));
        seen.push(s.admin(&format!("commit ssl crl-file {crl}\n")));
        probe("c1 revoked", &mut seen);
        seen.push(format!("kept after: {}", request(&mut kept)));
        // The other CA, with a CRL of its own (a CRL file without one for an issuer
        // refuses its certificates).
        seen.push(s.admin(&set("crl-file", &crl, &text(d, "crl-both.pem"))));
        seen.push(s.admin(&format!("commit ssl crl-file {crl}\n")));
        seen.push(s.admin(&set("ca-file", &ca, &text(d, "ca2.pem"))));
        seen.push(s.admin(&format!("commit ssl ca-file {ca}\n")));
        probe("ca2", &mut seen);
        // An aborted transaction changes nothing.
        seen.push(s.admin(&set("ca-file", &ca, &text(d, "ca1.pem"))));
        seen.push(s.admin(&format!("abort ssl ca-file {ca}\n")));
        probe("aborted", &mut seen);
        // The server line with a client certificate verifies its origin against the
        // committed CA file (now ca2's, which did not sign the origin's certificate).
        let via = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
            ])
            .arg(format!("http://127.0.0.1:{}/", s.ports[2]))
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        seen.push(format!("via server: {via}"));
        seen
    };
    let h = run(Engine::Haproxy);
    let r = run(Engine::Rproxy);
    assert_eq!(h, r, "haproxy (left) and rproxy (right) differ");
    let has = |l: &str| r.iter().any(|x| x == l);
    for l in [
        "start: required c1: true",
        "start: required c2: false",
        "start: required none: false",
        "start: optional none: true",
        "kept before: true",
        "c1 revoked: required c1: false",
        "c1 revoked: optional c1: false",
        "c1 revoked: required c1b: true",
        "c1 revoked: list c1: false",
        "c1 revoked: list c1b: true",
        "kept after: true",
        "ca2: required c2: true",
        "ca2: required c1b: false",
        "aborted: required c2: true",
        "via server: 503",
    ] {
        assert!(has(l), "{l} not seen in {r:#?}");
    }
}

/// `-c` refuses a CRL file that holds no CRL, or that is missing, on a bind line and on
/// a server line, as HAProxy does; rproxy names the word at fault.
#[test]
fn check_mode_refuses_bad_crl_files() {
    if !prerequisites() || !require_haproxy() {
        return;
    }
    let files = make_files();
    let d = files.path();
    std::fs::write(d.join("garbage.pem"), "garbage\n").expect("garbage");
    let f = |n: &str| d.join(n).display().to_string();
    let (srv, ca) = (f("srv.pem"), f("ca.pem"));
    let head =
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n";
    for (what, line, good) in [
        (
            "bind, valid",
            format!(
                "frontend f\n  bind 127.0.0.1:1 ssl crt {srv} ca-file {ca} verify required crl-file {}\n",
                f("crl.pem")
            ),
            true,
        ),
        (
            "bind, garbage",
            format!(
                "frontend f\n  bind 127.0.0.1:1 ssl crt {srv} ca-file {ca} verify required crl-file {}\n",
                f("garbage.pem")
            ),
            false,
        ),
        (
            "bind, missing",
            format!(
                "frontend f\n  bind 127.0.0.1:1 ssl crt {srv} ca-file {ca} verify optional crl-file {}\n",
                f("nope.pem")
            ),
            false,
        ),
        (
            "server, garbage",
            format!(
                "backend b\n  server s 127.0.0.1:1 ssl verify required ca-file {ca} crl-file {}\n",
                f("garbage.pem")
            ),
            false,
        ),
    ] {
        let cfg = format!("{head}{line}");
        std::fs::write(d.join("c.cfg"), &cfg).expect("cfg");
        let out = |e: Engine| {
            Command::new(e.program())
                .args(["-c", "-f", "c.cfg"])
                .current_dir(d)
                .stdin(Stdio::null())
                .output()
                .expect("check runs")
        };
        let (h, r) = (out(Engine::Haproxy), out(Engine::Rproxy));
        let rtext =
            String::from_utf8_lossy(&r.stderr).into_owned() + &String::from_utf8_lossy(&r.stdout);
        assert_eq!(h.status.success(), good, "{what}: haproxy");
        assert_eq!(r.status.success(), good, "{what}: rproxy: {rtext}");
        if !good {
            // file:line:col of the crl-file argument.
            let col = line
                .lines()
                .nth(1)
                .and_then(|l| l.find("crl-file ").map(|c| c + 10))
                .unwrap_or(0);
            assert!(
                rtext.contains(&format!("c.cfg:7:{col}")) && rtext.contains("crl-file"),
                "{what}: {rtext}"
            );
        }
    }
}

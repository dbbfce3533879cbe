//! Replacing the certificates of a running proxy through the runtime API (`show ssl
//! cert`, `set ssl cert <file> <<` with a PEM payload, `commit ssl cert`, `abort ssl
//! cert`), side by side with HAProxy 2.6.12: the answers compared byte for byte (lists,
//! descriptions of chains, separate keys and IP names, transactions, errors, levels,
//! prompt mode), then what a commit does to traffic: `openssl s_client` sees the old
//! certificate, then the new one; a TLS connection established before the commit keeps
//! working; an abort changes nothing; SNI still picks the other certificates.

mod common;
mod tls_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use common::ports::free_port;
use common::proxy::{Engine, Proxy};
use common::sbs::require_haproxy;
use common::stats_cli::ask_eof;
use common::{have_program, require};
use tls_util::{cat, served_subject as served, tls_connect};

fn openssl(dir: &Path, args: &[&str]) {
    assert!(tls_util::openssl(dir, args), "openssl {args:?}");
}

/// A self-signed EC certificate `NAME.crt`/`NAME.key` for `subj` and `san`.
fn self_signed(d: &Path, name: &str, subj: &str, san: &str) {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            subj,
            "-addext",
            &format!("subjectAltName={san}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// The files of one test: `a.pem` (EC leaf for `a.example`, its RSA CA, its key: a
/// chain), `b.pem` (`b.example`), `c.pem` (`c.example`, the replacement), `sep.pem` with
/// its key in `sep.pem.key` (names `sep.example` and 127.0.0.1).
fn make_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3",
            "-subj",
            "/C=FR/O=Test CA/CN=Test Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=a.example/O=Test a",
            "-keyout",
            "a.key",
            "-out",
            "a.csr",
        ],
    );
    std::fs::write(
        d.join("a.ext"),
        "subjectAltName=DNS:a.example,DNS:www.a.example\n",
    )
    .expect("ext");
    openssl(
        d,
        &[
            "x509", "-req", "-in", "a.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "2",
            "-extfile", "a.ext", "-out", "a.crt",
        ],
    );
    cat(d, "a.pem", &["a.crt", "ca.crt", "a.key"]);
    self_signed(d, "b", "/CN=b.example", "DNS:b.example");
    cat(d, "b.pem", &["b.crt", "b.key"]);
    self_signed(d, "c", "/CN=c.example/O=Test c", "DNS:c.example");
    cat(d, "c.pem", &["c.crt", "c.key"]);
    self_signed(d, "sep", "/CN=sep.example", "DNS:sep.example,IP:127.0.0.1");
    cat(d, "sep.pem", &["sep.crt"]);
    cat(d, "sep.pem.key", &["sep.key"]);
    // A crt-list: the default certificate, then b.pem under a name of the line's own.
    std::fs::write(
        d.join("list.txt"),
        format!(
            "{0}/sep.pem\n{0}/b.pem [alpn http/1.1] named.example\n",
            d.display()
        ),
    )
    .expect("crt-list");
    dir
}

fn text(d: &Path, name: &str) -> String {
    std::fs::read_to_string(d.join(name)).expect(name)
}

/// One engine with three TLS binds (the third with a crt-list) and admin, operator and
/// user stats sockets.
struct Setup {
    proxy: Proxy,
    socks: tempfile::TempDir,
    ports: [u16; 3],
}

impl Setup {
    fn start(engine: Engine, files: &Path) -> Setup {
        let socks = tempfile::tempdir().expect("tempdir");
        let ports = [free_port(), free_port(), free_port()];
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
             \x20   bind 127.0.0.1:{p0} ssl crt {f}/a.pem crt {f}/b.pem\n\
             \x20   bind 127.0.0.1:{p1} ssl crt {f}/sep.pem crt {f}/a.pem\n\
             \x20   bind 127.0.0.1:{p2} ssl crt-list {f}/list.txt\n\
             \x20   http-request return status 200 content-type text/plain string ok\n",
            p0 = ports[0],
            p1 = ports[1],
            p2 = ports[2],
        );
        let proxy = Proxy::start_engine(engine, &cfg);
        Setup {
            proxy,
            socks,
            ports,
        }
    }

    fn sock(&self, level: &str) -> PathBuf {
        self.socks.path().join(format!("{level}.sock"))
    }

    /// Sends `cmds` on the `level` socket and reads the whole answer until the close; the
    /// input ends there, as socat ends it (a payload cut short is then dropped at once).
    fn ask(&self, level: &str, cmds: &str) -> String {
        ask_eof(&self.sock(level), cmds)
    }

    fn admin(&self, cmds: &str) -> String {
        self.ask("admin", cmds)
    }
}

/// `set ssl cert FILE <<` with `payload`, ended by the empty line.
fn set(file: &str, payload: &str) -> String {
    format!("set ssl cert {file} <<\n{}\n\n", payload.trim_end())
}

fn prerequisites() -> bool {
    require(have_program("openssl"), "openssl not installed")
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
    let (a, b, sep) = (f("a.pem"), f("b.pem"), f("sep.pem"));
    let script: Vec<(&str, String)> = vec![
        ("admin", "show ssl cert\n".into()),
        ("admin", format!("show ssl cert {a}\n")),
        ("admin", format!("show ssl cert {b}\n")),
        ("admin", format!("show ssl cert {sep}\n")),
        ("admin", format!("show ssl cert {}\n", f("nope.pem"))),
        ("admin", format!("show ssl cert *{a}\n")),
        ("admin", format!("commit ssl cert {a}\n")),
        ("admin", format!("abort ssl cert {a}\n")),
        ("admin", "commit ssl cert\n".into()),
        ("admin", "abort ssl cert\n".into()),
        ("admin", "set ssl cert\n".into()),
        ("admin", format!("set ssl cert {a}\n")),
        ("admin", set(&f("nope.pem"), &text(d, "c.pem"))),
        ("admin", set(&a, "garbage")),
        ("admin", set(&a, &text(d, "c.key"))),
        // A transaction: created, listed, described, updated, checked at commit.
        (
            "admin",
            set(&a, &format!("{}{}", text(d, "c.crt"), text(d, "b.key"))),
        ),
        ("admin", "show ssl cert\n".into()),
        ("admin", format!("show ssl cert *{a}\n")),
        ("admin", format!("commit ssl cert {a}\n")),
        ("admin", format!("commit ssl cert {b}\n")),
        ("admin", format!("abort ssl cert {b}\n")),
        ("admin", set(&a, &text(d, "c.crt"))),
        ("admin", format!("commit ssl cert {a}\n")),
        ("admin", set(&a, &text(d, "c.pem"))),
        // Two binds load a.pem: two instances, two dots.
        ("admin", format!("commit ssl cert {a}\n")),
        ("admin", "show ssl cert\n".into()),
        ("admin", format!("show ssl cert {a}\n")),
        // A key kept beside its certificate is replaced on its own.
        ("admin", set(&f("sep.pem.key"), &text(d, "sep.key"))),
        ("admin", format!("show ssl cert *{sep}\n")),
        ("admin", format!("commit ssl cert {sep}\n")),
        // Abort.
        ("admin", set(&b, &text(d, "b.pem"))),
        ("admin", format!("abort ssl cert {b}\n")),
        ("admin", "show ssl cert\n".into()),
        // Files made at run time.
        ("admin", "new ssl cert\n".into()),
        ("admin", format!("new ssl cert {a}\n")),
        ("admin", format!("new ssl cert {}\n", f("n.pem"))),
        ("admin", format!("show ssl cert {}\n", f("n.pem"))),
        ("admin", "show ssl cert\n".into()),
        ("admin", format!("del ssl cert {a}\n")),
        ("admin", format!("del ssl cert {}\n", f("zz.pem"))),
        ("admin", set(&f("n.pem"), &text(d, "c.pem"))),
        ("admin", format!("del ssl cert {}\n", f("n.pem"))),
        ("admin", format!("commit ssl cert {}\n", f("n.pem"))),
        ("admin", format!("show ssl cert {}\n", f("n.pem"))),
        ("admin", format!("del ssl cert {}\n", f("n.pem"))),
        ("admin", "del ssl cert\n".into()),
        ("op", format!("new ssl cert {}\n", f("n.pem"))),
        ("op", format!("del ssl cert {}\n", f("n.pem"))),
        // Levels.
        ("op", "show ssl cert\n".into()),
        ("op", set(&b, &text(d, "b.pem"))),
        ("op", format!("commit ssl cert {b}\n")),
        ("op", format!("abort ssl cert {b}\n")),
        ("user", "show ssl cert\n".into()),
        ("user", format!("show ssl cert {b}\n")),
        // Prompt mode: a `+ ` prompt per payload line.
        (
            "admin",
            format!(
                "prompt\n{}abort ssl cert {b}\nquit\n",
                set(&b, &text(d, "b.pem"))
            ),
        ),
        // A payload cut short is dropped.
        (
            "admin",
            format!("set ssl cert {b} <<\n{}", text(d, "b.pem")),
        ),
        ("admin", "show ssl cert\n".into()),
    ];
    let run = |engine: Engine| -> Vec<String> {
        let s = Setup::start(engine, d);
        script.iter().map(|(lvl, cmd)| s.ask(lvl, cmd)).collect()
    };
    let want = run(Engine::Haproxy);
    let got = run(Engine::Rproxy);
    for (i, ((_, cmd), (w, g))) in script.iter().zip(want.iter().zip(&got)).enumerate() {
        let first = cmd.lines().next().unwrap_or_default();
        assert_eq!(g, w, "step {i}: {first}");
    }
    if std::env::var("DUMP").is_ok() {
        for (i, w) in want.iter().enumerate() {
            eprintln!("== {i}\n{w}");
        }
    }
    // Some answers worth seeing whole (and the comparison above not vacuous).
    assert!(want[2].contains("Algorithm: EC256\n"), "{}", want[2]);
    assert!(
        want[1].contains("Chain Subject: /C=FR/O=Test CA/CN=Test Root\n"),
        "{}",
        want[1]
    );
    assert!(want[24].ends_with(".pem..\nSuccess!\n\n"), "{}", want[24]);
}

/// HAProxy 2.6.12 puts a payload for another file into the ongoing transaction; this
/// proxy refuses it.
#[test]
fn a_second_file_waits_for_the_ongoing_transaction() {
    if !prerequisites() {
        return;
    }
    let files = make_files();
    let d = files.path();
    let s = Setup::start(Engine::Rproxy, d);
    let (a, b) = (d.join("a.pem"), d.join("b.pem"));
    let (a, b) = (a.display(), b.display());
    assert_eq!(
        s.admin(&set(&a.to_string(), &text(d, "c.pem"))),
        format!("Transaction created for certificate {a}!\n\n")
    );
    assert_eq!(
        s.admin(&set(&b.to_string(), &text(d, "c.pem"))),
        format!(
            "The ongoing transaction is about '{a}' but you are trying to set '{b}'\n\
             Can't update {b}!\n\n"
        )
    );
    let desc = s.admin(&format!("show ssl cert *{a}\n"));
    assert!(desc.contains("Subject: /CN=c.example/O=Test c\n"), "{desc}");
}

// ---- Traffic ----

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One keep-alive request on `t`: the status line.
fn get(t: &mut Tls) -> String {
    t.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // `http-request return ... string ok`: the response ends with its 2-byte body.
    while !got.ends_with(b"\r\n\r\nok") {
        match t.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn commit_serves_the_new_certificate_to_new_handshakes_only() {
    if !prerequisites() {
        return;
    }
    let files = make_files();
    let d = files.path();
    let s = Setup::start(Engine::Rproxy, d);
    let a = d.join("a.pem").display().to_string();
    let [p0, p1, _] = s.ports;
    assert_eq!(served(p0, "a.example"), "subject=/CN=a.example/O=Test a");
    assert_eq!(served(p1, "a.example"), "subject=/CN=a.example/O=Test a");
    // A connection established before the commit.
    let mut old = tls_connect(p0, "a.example");
    assert_eq!(get(&mut old), "HTTP/1.1 200 OK");
    let old_leaf = old.conn.peer_certificates().map(|c| c[0].to_vec());

    let ok = s.admin(&set(&a, &text(d, "c.pem")));
    assert!(ok.starts_with("Transaction created"), "{ok}");
    // Not served before the commit.
    assert_eq!(served(p0, "a.example"), "subject=/CN=a.example/O=Test a");
    let ok = s.admin(&format!("commit ssl cert {a}\n"));
    assert_eq!(ok, format!("Committing {a}..\nSuccess!\n\n"));

    // Both binds that loaded a.pem serve the new certificate, under its own names: it is
    // the first (default) certificate of the first bind, and SNI picks it by c.example.
    assert_eq!(served(p0, "c.example"), "subject=/CN=c.example/O=Test c");
    assert_eq!(served(p0, "a.example"), "subject=/CN=c.example/O=Test c");
    assert_eq!(served(p1, "c.example"), "subject=/CN=c.example/O=Test c");
    // The other certificates are still picked by their names.
    assert_eq!(served(p0, "b.example"), "subject=/CN=b.example");
    assert_eq!(served(p1, "sep.example"), "subject=/CN=sep.example");
    // a.example is no name of the second bind's anymore: its default answers.
    assert_eq!(served(p1, "a.example"), "subject=/CN=sep.example");

    // The connection of before keeps working, with the certificate it got.
    assert_eq!(get(&mut old), "HTTP/1.1 200 OK");
    assert_eq!(
        old.conn.peer_certificates().map(|c| c[0].to_vec()),
        old_leaf
    );
    let mut new = tls_connect(p0, "c.example");
    assert_eq!(get(&mut new), "HTTP/1.1 200 OK");
    assert_ne!(
        new.conn.peer_certificates().map(|c| c[0].to_vec()),
        old_leaf
    );
    assert!(s.proxy.stderr_text().is_empty() || !s.proxy.stderr_text().contains("panic"));
}

#[test]
fn abort_and_failed_commits_leave_the_certificate_served() {
    if !prerequisites() {
        return;
    }
    let files = make_files();
    let d = files.path();
    let s = Setup::start(Engine::Rproxy, d);
    let b = d.join("b.pem").display().to_string();
    let p0 = s.ports[0];
    assert_eq!(served(p0, "b.example"), "subject=/CN=b.example");
    assert_eq!(served(s.ports[2], "named.example"), "subject=/CN=b.example");
    assert_eq!(served(s.ports[2], "b.example"), "subject=/CN=sep.example");
    // Aborted.
    s.admin(&set(&b, &text(d, "c.pem")));
    let ok = s.admin(&format!("abort ssl cert {b}\n"));
    assert_eq!(
        ok,
        format!("Transaction aborted for certificate '{b}'!\n\n")
    );
    assert_eq!(served(p0, "b.example"), "subject=/CN=b.example");
    assert_eq!(served(p0, "c.example"), "subject=/CN=a.example/O=Test a");
    // A key that is not the certificate's: refused at commit, nothing changes.
    s.admin(&set(
        &b,
        &format!("{}{}", text(d, "c.crt"), text(d, "a.key")),
    ));
    let no = s.admin(&format!("commit ssl cert {b}\n"));
    assert!(
        no.starts_with("inconsistencies between private key"),
        "{no}"
    );
    assert_eq!(served(p0, "b.example"), "subject=/CN=b.example");
    // The transaction is still there to fix: the right key, and it commits.
    s.admin(&set(&b, &text(d, "c.pem")));
    let ok = s.admin(&format!("commit ssl cert {b}\n"));
    assert_eq!(ok, format!("Committing {b}..\nSuccess!\n\n"));
    assert_eq!(served(p0, "c.example"), "subject=/CN=c.example/O=Test c");
    assert_eq!(served(p0, "a.example"), "subject=/CN=a.example/O=Test a");
    assert_eq!(served(p0, "b.example"), "subject=/CN=a.example/O=Test a");
    // Through the crt-list, the certificate keeps the name its line gives it, not its own.
    let p2 = s.ports[2];
    assert_eq!(
        served(p2, "named.example"),
        "subject=/CN=c.example/O=Test c"
    );
    assert_eq!(served(p2, "c.example"), "subject=/CN=sep.example");
}

//! The crt-list and OCSP commands of the runtime API, side by side with HAProxy 2.6.12:
//! `show ssl crt-list [-n] [<list>]`, `add ssl crt-list` (argument and payload forms, with
//! settings and SNI filters), `del ssl crt-list <list> <cert[:line]>`, on crt-list files
//! and `crt` directories, with HAProxy's refusals (unknown list or certificate, empty
//! certificate, several lines, default certificate, directory rules, bad settings); then
//! OCSP stapling from `FILE.ocsp` (the issuer in the chain or in `FILE.issuer`), `show ssl
//! ocsp-response [<id>]` and `set ssl ocsp-response` (argument and payload forms).
//!
//! Each script's answers are compared byte for byte between the engines, and so is what
//! `openssl s_client` is served at chosen steps (which certificate SNI picks, which OCSP
//! response is stapled): the effects of `add`/`del`/`set` are real on new handshakes.

mod common;
mod tls_util;

use std::path::Path;
use std::process::Command;

use common::proxy::{Engine, Proxy};
use common::sbs::require_haproxy;
use common::stats_cli::ask_eof;
use common::{have_program, require};
use tls_util::{cat, hello, make_ca, make_leaf, stapled};

/// One step of a script: a command sent on a socket of a level, or a handshake looked at.
enum Step {
    /// (level, command text).
    Cmd(&'static str, String),
    /// What a client offering `h2,http/1.1` agrees on with the bind of this rank for this
    /// SNI: the leaf (its file's name), the ALPN protocol, the version (`-` when the
    /// handshake fails).
    Served(usize, &'static str),
    /// The OCSP response stapled on the bind of this rank for this SNI.
    Stapled(usize, &'static str),
    /// `show ssl ocsp-response <id>` for the id of this rank in the last list answered.
    ShowId(usize),
}

fn cmd(s: impl Into<String>) -> Step {
    Step::Cmd("admin", s.into())
}

/// Runs `script` on one engine started on `cfg` (with `{S}` its sockets' dir and `{P0}`..
/// its ports); the configuration's own path reads `CFG` in the answers.
fn run(engine: Engine, cfg: &str, script: &[Step], leaves: &Leaves) -> Vec<String> {
    let socks = tempfile::tempdir().expect("tempdir");
    let ports: Vec<u16> = (0..3).map(|_| common::ports::free_port()).collect();
    let mut text = cfg.replace("{S}", &socks.path().display().to_string());
    for (i, p) in ports.iter().enumerate() {
        text = text.replace(&format!("{{P{i}}}"), &p.to_string());
    }
    let proxy = Proxy::start_engine(engine, &text);
    let cfg_path = proxy.dir().join("proxy.cfg").display().to_string();
    let mut ids: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for step in script {
        let t0 = std::time::Instant::now();
        let answer = match step {
            Step::Cmd(level, c) => {
                let mut a = ask_eof(&socks.path().join(format!("{level}.sock")), c)
                    .replace(&cfg_path, "CFG");
                for (i, p) in ports.iter().enumerate() {
                    a = a.replace(&format!(":{p}'"), &format!(":{{P{i}}}'"));
                }
                a
            }
            Step::Served(i, sni) => match hello(ports[*i], sni, &["h2", "http/1.1"]) {
                Some(h) => format!(
                    "{} {} {}",
                    leaves
                        .iter()
                        .find(|(_, d)| *d == h.leaf)
                        .map_or("?", |(n, _)| n.as_str()),
                    h.alpn.as_deref().unwrap_or("-"),
                    h.version
                ),
                None => "-".to_owned(),
            },
            Step::Stapled(i, sni) => stapled(ports[*i], sni),
            Step::ShowId(i) => {
                let id = ids.get(*i).cloned().unwrap_or_default();
                ask_eof(
                    &socks.path().join("admin.sock"),
                    &format!("show ssl ocsp-response {id}\n"),
                )
            }
        };
        if answer.contains("Certificate ID key : ") {
            ids = answer
                .lines()
                .filter_map(|l| l.strip_prefix("Certificate ID key : "))
                .map(str::to_owned)
                .collect();
        }
        if std::env::var("TIMING").is_ok() {
            eprintln!("{} step {}: {:?}", engine.name(), out.len(), t0.elapsed());
        }
        out.push(answer);
    }
    out
}

/// Both engines' answers, step by step, equal; returns HAProxy's.
fn compare(cfg: &str, script: &[Step], leaves: &Leaves) -> Vec<String> {
    let want = run(Engine::Haproxy, cfg, script, leaves);
    let got = run(Engine::Rproxy, cfg, script, leaves);
    if std::env::var("DUMP").is_ok() {
        for (i, w) in want.iter().enumerate() {
            eprintln!("== {i}\n{w}");
        }
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let what = match &script[i] {
            Step::Cmd(l, c) => format!("{l}: {}", c.lines().next().unwrap_or_default()),
            Step::Served(b, s) => format!("served on bind {b} for {s}"),
            Step::Stapled(b, s) => format!("stapled on bind {b} for {s}"),
            Step::ShowId(n) => format!("show ssl ocsp-response <id {n}>"),
        };
        assert_eq!(g, w, "step {i}: {what}");
    }
    want
}

/// The test's leaves by name (`a`), DER.
type Leaves = Vec<(String, Vec<u8>)>;

fn leaves(d: &Path, names: &[&str]) -> Leaves {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    names
        .iter()
        .map(|n| {
            let c = CertificateDer::from_pem_file(d.join(format!("{n}.crt"))).expect("crt");
            (n.to_string(), c.to_vec())
        })
        .collect()
}

/// A leaf for `NAME.example` signed by `ca`: `NAME.crt`, `NAME.key`, and `NAME.pem` (the
/// certificate, `extra` files, the key).
fn leaf(d: &Path, name: &str, extra: &[&str]) {
    let ext = format!("subjectAltName=DNS:{name}.example\n");
    make_leaf(
        d,
        name,
        &format!("{name}.crt"),
        "ca",
        &format!("{name}.example"),
        &ext,
    );
    let crt = format!("{name}.crt");
    let key = format!("{name}.key");
    let mut parts = vec![crt.as_str()];
    parts.extend_from_slice(extra);
    parts.push(key.as_str());
    cat(d, &format!("{name}.pem"), &parts);
}

fn prerequisites() -> bool {
    require(have_program("openssl"), "openssl not installed") && require_haproxy()
}

const CFG: &str = "global\n\
    \x20   stats socket {S}/admin.sock level admin\n\
    \x20   stats socket {S}/op.sock level operator\n\
    defaults\n\
    \x20   mode http\n\
    \x20   timeout connect 1s\n\
    \x20   timeout client 5s\n\
    \x20   timeout server 5s\n\
    frontend fe\n";

#[test]
fn crt_list_commands_match_haproxy() {
    if !prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca", "Test CA");
    for n in ["a", "b", "c"] {
        leaf(d, n, &[]);
    }
    std::fs::create_dir(d.join("dir")).expect("dir");
    std::fs::copy(d.join("a.pem"), d.join("dir/da.pem")).expect("copy");
    std::fs::copy(d.join("b.pem"), d.join("dir/db.pem")).expect("copy");
    let f = |n: &str| d.join(n).display().to_string();
    let (a, b, c, n, list, list3, dd) = (
        f("a.pem"),
        f("b.pem"),
        f("c.pem"),
        f("n.pem"),
        f("list.txt"),
        f("list3.txt"),
        f("dir"),
    );
    std::fs::write(
        &list,
        format!(
            "# the default first\n\n{a}\n\n{b} [alpn http/1.1 ssl-max-ver TLSv1.2 verify optional \
             ca-file {ca}] named.example !x.example\n",
            ca = f("ca.pem")
        ),
    )
    .expect("list");
    std::fs::write(&list3, format!("{c}\n")).expect("list3");
    let cfg = format!(
        "{CFG}\
         \x20   bind 127.0.0.1:{{P0}} ssl crt-list {list}\n\
         \x20   bind 127.0.0.1:{{P1}} ssl crt {dd}/ crt-list {list}\n\
         \x20   bind 127.0.0.1:{{P2}} ssl strict-sni crt-list {list3}\n\
         \x20   http-request return status 200 content-type text/plain string ok\n"
    );
    let pay = |line: &str| cmd(format!("add ssl crt-list {list} <<\n{line}\n\n"));
    let script = vec![
        cmd("show ssl crt-list\n"),
        cmd("show ssl crt-list -n\n"),
        cmd(format!("show ssl crt-list {list}\n")),
        cmd(format!("show ssl crt-list -n {list}\n")),
        cmd(format!("show ssl crt-list -n {dd}///\n")),
        cmd(format!("show ssl crt-list {}\n", f("nope"))),
        Step::Cmd("op", "show ssl crt-list\n".into()),
        Step::Served(0, "named.example"),
        Step::Served(0, "b.example"),
        Step::Served(0, "c.example"),
        // Adding: what must be known first.
        cmd("add ssl crt-list\n"),
        cmd(format!("add ssl crt-list {list}\n")),
        cmd(format!("add ssl crt-list {} {c}\n", f("nope"))),
        cmd(format!("add ssl crt-list {list} {}\n", f("zz.pem"))),
        cmd(format!("new ssl cert {n}\n")),
        cmd(format!("add ssl crt-list {list} {n}\n")),
        cmd(format!(
            "set ssl cert {n} <<\n{}\n\n",
            std::fs::read_to_string(&c).expect("c").trim_end()
        )),
        cmd(format!("add ssl crt-list {list} {n}\n")),
        cmd(format!("commit ssl cert {n}\n")),
        // Two binds use the list: two dots.
        cmd(format!("add ssl crt-list {list} {n}\n")),
        Step::Served(0, "c.example"),
        Step::Served(1, "c.example"),
        cmd(format!("show ssl cert {n}\n")),
        pay(&format!(
            "{n} [ssl-min-ver TLSv1.3 alpn h2 ciphers ECDHE-RSA-AES128-GCM-SHA256] \
             n2.example !no.example"
        )),
        Step::Served(0, "n2.example"),
        // The payload form's refusals.
        pay(&format!("{c} [nope 1] n3.example")),
        cmd(format!("add ssl crt-list {list} <<\n\n")),
        pay(&format!("{c} a.x\n{a}")),
        pay(&format!("{c} [alpn] x")),
        pay(&format!("{c} [ssl-min-ver TLSv9] x")),
        pay(&format!("{c} [verify maybe] x")),
        pay(&format!("{c} [ca-file {}] x", f("c.crt"))),
        pay("[alpn h2] x"),
        pay("   "),
        // Accepted as HAProxy takes them.
        pay(&format!("{c} [] x.example")),
        pay(&format!("{c} [alpn h2")),
        pay(&format!(
            "{c} [verify optional ca-file {} alpn h2,http/1.1 ciphers HIGH] cc.example",
            f("ca.pem")
        )),
        cmd(format!("add ssl crt-list {list} {c} <<\n{a}\n\n")),
        cmd(format!("show ssl crt-list -n {list}\n")),
        Step::Served(0, "cc.example"),
        Step::Served(0, "x.example"),
        // Deleting.
        cmd("del ssl crt-list\n"),
        cmd(format!("del ssl crt-list {list}\n")),
        cmd(format!("del ssl crt-list {} {a}\n", f("nope"))),
        cmd(format!("del ssl crt-list {list} {}\n", f("zz.pem"))),
        cmd(format!("del ssl crt-list {list3} {a}\n")),
        cmd(format!("del ssl crt-list {list} {a}:3\n")),
        cmd(format!("del ssl crt-list {list} {n}\n")),
        cmd(format!("del ssl crt-list {list} {n}:99\n")),
        cmd(format!("del ssl crt-list {list} {n}:x\n")),
        cmd(format!("del ssl crt-list {list} {n}:7\n")),
        Step::Served(0, "n2.example"),
        cmd(format!("del ssl cert {n}\n")),
        cmd(format!("del ssl crt-list {list} {n}:6\n")),
        Step::Served(0, "c.example"),
        cmd(format!("del ssl crt-list {list} {b}\n")),
        Step::Served(0, "named.example"),
        cmd(format!("show ssl crt-list -n {list}\n")),
        cmd("show ssl cert\n"),
        cmd(format!("del ssl cert {n}\n")),
        Step::Cmd("op", format!("del ssl crt-list {list} {c}:8\n")),
        Step::Cmd("op", format!("add ssl crt-list {list} {c}\n")),
        // Directories.
        cmd(format!("add ssl crt-list {dd} {c}\n")),
        cmd(format!("add ssl crt-list {dd} c.pem\n")),
        cmd(format!("add ssl crt-list {dd} {}\n", f("dir/da.pem"))),
        cmd(format!("del ssl crt-list {dd} {}\n", f("dir/da.pem"))),
        cmd(format!("del ssl crt-list {dd} {}\n", f("dir/db.pem"))),
        Step::Served(1, "b.example"),
        cmd(format!("add ssl crt-list {dd} {}\n", f("dir/db.pem"))),
        Step::Served(1, "b.example"),
        cmd(format!("show ssl crt-list -n {dd}\n")),
        // Under strict-sni the only certificate goes, and comes back.
        cmd(format!("del ssl crt-list {list3} {c}\n")),
        Step::Served(2, "c.example"),
        cmd(format!("add ssl crt-list {list3} {c}\n")),
        Step::Served(2, "c.example"),
        cmd(format!("show ssl crt-list -n {list3}\n")),
        // A name already served keeps its certificate; the first wildcard wins, and the
        // next one takes over when its line goes.
        pay(&format!("{c} a.example named.example")),
        Step::Served(0, "a.example"),
        Step::Served(0, "named.example"),
        pay(&format!("{c} *.wild.example")),
        pay(&format!("{b} *.wild.example")),
        Step::Served(0, "x.wild.example"),
        cmd(format!("del ssl crt-list {list} {c}:13\n")),
        Step::Served(0, "x.wild.example"),
        // Settings no configuration can be made of: refused per bind.
        pay(&format!("{c} [ciphers NOPE] z.example")),
        pay(&format!("{c} [ciphersuites NOPE] z.example")),
        cmd(format!("show ssl crt-list -n {list}\n")),
    ];
    let want = compare(&cfg, &script, &leaves(d, &["a", "b", "c"]));
    // Not vacuous: HAProxy's own answers say what was checked.
    assert!(want[19].ends_with("'..\nSuccess!\n\n"), "{}", want[19]);
    assert_eq!(want[7], "b http/1.1 TLSv1.2");
    assert_eq!(want[20], "c - TLSv1.3");
    assert_eq!(want[24], "c h2 TLSv1.3");
    assert!(
        want[46].contains("used as default certificate by the following frontends:\n\t- CFG:"),
        "{}",
        want[46]
    );
    assert_eq!(want[72], "-");
    assert_eq!(want[74], "c - TLSv1.3");
    assert_eq!(want[77], "a - TLSv1.3");
    assert_eq!(want[81], "c - TLSv1.3");
    assert!(want[82].starts_with("Entry "), "{}", want[82]);
    assert_eq!(want[83], "b - TLSv1.3");
    assert!(
        want[84].contains("unable to set SSL cipher list to 'NOPE'"),
        "{}",
        want[84]
    );
    assert!(want[85].ends_with("Failed!\n\n"), "{}", want[85]);
}

/// `openssl x509 -serial`: the certificate's serial in hex.
fn serial(d: &Path, crt: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in", crt])
        .current_dir(d)
        .output()
        .expect("openssl x509");
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim().trim_start_matches("serial=").to_owned()
}

/// `openssl ocsp` as the CA's responder, answering for `crt` with `index`, into `out`.
fn respond(d: &Path, index: &str, crt: &str, out: &str, extra: &[&str]) {
    let ok = Command::new("openssl")
        .args([
            "ocsp", "-index", index, "-rsigner", "ca.pem", "-rkey", "ca.key",
        ])
        .args(["-CA", "ca.pem", "-issuer", "ca.pem", "-cert", crt])
        .args(["-respout", out])
        .args(extra)
        .current_dir(d)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "openssl ocsp for {crt}");
}

fn b64(d: &Path, f: &str) -> String {
    let out = Command::new("base64")
        .args(["-w", "0", f])
        .current_dir(d)
        .output()
        .expect("base64");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ocsp_stapling_and_commands_match_haproxy() {
    if !prerequisites() || !require(have_program("base64"), "base64 not installed") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca", "Test CA");
    // a: its issuer in its chain; b: in b.pem.issuer; c: loaded by no bind.
    leaf(d, "a", &["ca.pem"]);
    leaf(d, "b", &[]);
    leaf(d, "c", &[]);
    cat(d, "b.pem.issuer", &["ca.pem"]);
    let mut index = String::new();
    let mut revoked = String::new();
    for n in ["a", "b", "c"] {
        let s = serial(d, &format!("{n}.crt"));
        index.push_str(&format!(
            "V\t301231000000Z\t\t{s}\tunknown\t/CN={n}.example\n"
        ));
        revoked.push_str(&format!(
            "R\t301231000000Z\t261201000000Z,keyCompromise\t{s}\tunknown\t/CN={n}.example\n"
        ));
    }
    std::fs::write(d.join("index.txt"), index).expect("index");
    std::fs::write(d.join("revoked.txt"), revoked).expect("index");
    let plain = ["-ndays", "1", "-no_nonce", "-resp_no_certs"];
    respond(d, "index.txt", "a.crt", "a.pem.ocsp", &plain);
    respond(d, "index.txt", "b.crt", "b.pem.ocsp", &plain);
    respond(d, "index.txt", "c.crt", "c.der", &plain);
    respond(d, "index.txt", "a.crt", "a2.der", &plain);
    respond(
        d,
        "index.txt",
        "a.crt",
        "nonce.der",
        &["-ndays", "1", "-resp_no_certs"],
    );
    respond(d, "revoked.txt", "a.crt", "rev.der", &plain);
    // Valid for a minute: within HAProxy's 5-minute margin, so not stapled.
    respond(
        d,
        "index.txt",
        "a.crt",
        "short.der",
        &["-nmin", "1", "-no_nonce", "-resp_no_certs"],
    );
    std::fs::write(d.join("fail.der"), [0x30, 0x03, 0x0a, 0x01, 0x06]).expect("fail");
    let f = |n: &str| d.join(n).display().to_string();
    let cfg = format!(
        "{CFG}\
         \x20   bind 127.0.0.1:{{P0}} ssl crt {} crt {}\n\
         \x20   http-request return status 200 content-type text/plain string ok\n",
        f("a.pem"),
        f("b.pem")
    );
    let set = |file: &str| cmd(format!("set ssl ocsp-response {}\n", b64(d, file)));
    let script = vec![
        cmd("show ssl ocsp-response\n"),
        Step::Cmd("op", "show ssl ocsp-response\n".into()),
        Step::ShowId(0),
        Step::ShowId(1),
        cmd("show ssl ocsp-response 00\n"),
        cmd("show ssl ocsp-response zz\n"),
        cmd(format!("show ssl cert {}\n", f("a.pem"))),
        cmd(format!("show ssl cert {}\n", f("b.pem"))),
        Step::Stapled(0, "a.example"),
        Step::Stapled(0, "b.example"),
        // Refusals.
        cmd("set ssl ocsp-response\n"),
        cmd("set ssl ocsp-response AAAA\n"),
        cmd("set ssl ocsp-response !!\n"),
        set("c.der"),
        set("fail.der"),
        set("a.crt"),
        // Updates (operator level is enough), in both forms.
        Step::Cmd(
            "op",
            format!("set ssl ocsp-response {}\n", b64(d, "a2.der")),
        ),
        cmd("show ssl ocsp-response\n"),
        Step::ShowId(0),
        cmd(format!(
            "set ssl ocsp-response <<\n{}\n\n",
            b64(d, "nonce.der")
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        )),
        Step::ShowId(0),
        Step::Stapled(0, "a.example"),
        set("rev.der"),
        Step::ShowId(0),
        Step::Stapled(0, "a.example"),
        set("short.der"),
        Step::Stapled(0, "a.example"),
        Step::Stapled(0, "b.example"),
    ];
    let want = compare(&cfg, &script, &Vec::new());
    assert!(
        want[0].starts_with("# Certificate IDs\nCertificate ID key : 30"),
        "{}",
        want[0]
    );
    assert_eq!(
        want[8],
        "OCSP Response Status: successful (0x0)\nCert Status: good"
    );
    assert!(want[23].contains("Cert Status: revoked\n"), "{}", want[23]);
    assert!(want[24].contains("Cert Status: revoked"), "{}", want[24]);
    assert_eq!(want[26], "OCSP response: no response sent");
}

/// A `FILE.ocsp` whose certificate's issuer is nowhere to be found stops the start, in
/// both engines.
#[test]
fn ocsp_without_issuer_is_a_configuration_error() {
    if !prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_ca(d, "ca", "Test CA");
    leaf(d, "b", &[]);
    let s = serial(d, "b.crt");
    std::fs::write(
        d.join("index.txt"),
        format!("V\t301231000000Z\t\t{s}\tunknown\t/CN=b.example\n"),
    )
    .expect("index");
    respond(d, "index.txt", "b.crt", "b.pem.ocsp", &["-ndays", "1"]);
    let cfg = format!(
        "frontend fe\n    mode http\n    bind 127.0.0.1:{} ssl crt {}\n",
        common::ports::free_port(),
        d.join("b.pem").display()
    );
    std::fs::write(d.join("t.cfg"), cfg).expect("cfg");
    let h = Command::new("haproxy")
        .args(["-c", "-f", "t.cfg"])
        .current_dir(d)
        .output()
        .expect("haproxy");
    let r = common::rproxy(&["-c", "-f", "t.cfg"], d);
    assert!(!h.status.success());
    assert!(!r.status.success(), "{}", common::stderr(&r));
    assert!(
        common::stderr(&r).contains("impossible to compute the OCSP certificate ID"),
        "{}",
        common::stderr(&r)
    );
}

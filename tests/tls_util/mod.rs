//! Test-made certificates and `openssl s_server` origins shared by the TLS test files
//! (checks over TLS, TLS to servers).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::common::ports::free_port;
use super::common::proxy::wait_listening;

/// The certificates of one test, in a tempdir.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

pub fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A self-signed CA in `DIR/NAME.pem` with its key in `NAME.key` (EC P-256: quick to make).
pub fn make_ca(d: &Path, name: &str, cn: &str) {
    assert!(openssl(
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
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ));
}

/// A leaf certificate `DIR/OUT` for subject `/CN=CN`, with its key in `NAME.key`, signed by
/// the CA `CA` (from [`make_ca`]); `ext` holds its X.509v3 extensions, one per line.
pub fn make_leaf(d: &Path, name: &str, out: &str, ca: &str, cn: &str, ext: &str) {
    assert!(openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    ));
    std::fs::write(d.join(format!("{name}.ext")), ext).expect("ext file");
    assert!(openssl(
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
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            out,
        ],
    ));
}

/// `ca.pem` and `other.pem` (two CAs); `leaf.pem`/`leaf.key` for `check.example` and
/// 127.0.0.1 signed by `ca`; `dflt.pem`/`dflt.key` for `default.example` signed by
/// `other`. EC P-256 keys: quick to make.
pub fn make_pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for ca in ["ca", "other"] {
        make_ca(d, ca, ca);
    }
    for (leaf, ca, names) in [
        ("leaf", "ca", "DNS:check.example,IP:127.0.0.1"),
        ("dflt", "other", "DNS:default.example"),
    ] {
        let ext = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={names}\n"
        );
        make_leaf(d, leaf, &format!("{leaf}.pem"), ca, leaf, &ext);
    }
    // HAProxy's `crt`: the certificate and its key in one file.
    let mut both = std::fs::read(d.join("leaf.pem")).expect("leaf");
    both.extend(std::fs::read(d.join("leaf.key")).expect("key"));
    std::fs::write(d.join("leafkey.pem"), both).expect("leafkey");
    Pki { dir }
}

/// What an [`SServer`] serves.
#[derive(Clone, Copy, PartialEq)]
pub enum Serve {
    /// `leaf` (signed by `ca`).
    Leaf,
    /// `dflt` (signed by `other`) unless the client asks for `check.example`.
    BySni,
    /// `leaf`, to clients with a certificate signed by `ca` only.
    ClientCert,
}

/// An `openssl s_server -www` origin, killed on drop.
pub struct SServer {
    pub child: Child,
    pub port: u16,
}

impl SServer {
    pub fn start(pki: &Pki, serve: Serve) -> SServer {
        let port = free_port();
        let mut cmd = Command::new("openssl");
        cmd.arg("s_server")
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-www")
            .arg("-quiet");
        if serve == Serve::ClientCert {
            cmd.args(["-Verify", "1", "-CAfile", &pki.p("ca.pem")]);
        }
        if serve == Serve::BySni {
            cmd.args(["-cert", &pki.p("dflt.pem"), "-key", &pki.p("dflt.key")])
                .args(["-cert2", &pki.p("leaf.pem"), "-key2", &pki.p("leaf.key")])
                .args(["-servername", "check.example"]);
        } else {
            cmd.args(["-cert", &pki.p("leaf.pem"), "-key", &pki.p("leaf.key")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let s = SServer { child, port };
        assert!(wait_listening(&[port]), "s_server did not listen");
        s
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

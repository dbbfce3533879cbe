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

/// What `openssl s_client` printed (its stdout) about the session: the server
/// certificate's subject, the protocol, the cipher and the line about ALPN (trimmed,
/// empty when none); None when the handshake failed (no subject, or no protocol).
pub fn s_client_session(text: &str) -> Option<(String, String, String, String)> {
    let subject = text
        .lines()
        .find_map(|l| l.strip_prefix("subject="))
        .map(|s| s.trim().to_string());
    let (proto, cipher) = text
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("New, ")?;
            let (p, c) = rest.split_once(", Cipher is ")?;
            Some((p.to_string(), c.trim().to_string()))
        })
        .unwrap_or_default();
    let alpn = text
        .lines()
        .find(|l| l.contains("ALPN"))
        .unwrap_or("")
        .trim()
        .to_string();
    match subject {
        Some(s) if proto != "(NONE)" && !proto.is_empty() => Some((s, proto, cipher, alpn)),
        _ => None,
    }
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

/// Concatenates files of `d` into `d/out` (a PEM chain and its key, say).
pub fn cat(d: &Path, out: &str, parts: &[&str]) {
    let mut all = Vec::new();
    for p in parts {
        all.extend(std::fs::read(d.join(p)).expect(p));
    }
    std::fs::write(d.join(out), all).expect(out);
}

/// What `openssl s_client` is served on `port` for `sni`: `subject=/CN=...` of the leaf
/// (empty when the handshake fails).
pub fn served_subject(port: u16, sni: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername {sni} </dev/null 2>/dev/null \
             | openssl x509 -noout -subject -nameopt compat 2>/dev/null"
        ))
        .output()
        .expect("s_client");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What `openssl s_client -status` says of the OCSP response stapled on `port` for `sni`:
/// `no response sent`, or the response's status lines (`OCSP Response Status: ...`,
/// `Cert Status: ...`).
pub fn stapled(port: u16, sni: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", sni, "-status"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| {
            l.contains("OCSP response: no response sent")
                || l.contains("OCSP Response Status:")
                || l.contains("Cert Status:")
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Accepts any server certificate: the tests look at which one is served.
#[derive(Debug)]
pub struct AnyCert(pub std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client connection to `127.0.0.1:port` asking for `sni`, any certificate
/// accepted (the handshake happens on first use).
pub fn tls_connect(
    port: u16,
    sni: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    tls_connect_alpn(port, sni, &[])
}

/// [`tls_connect`] offering the ALPN protocols `alpn`.
pub fn tls_connect_alpn(
    port: u16,
    sni: &str,
    alpn: &[&str],
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).expect("client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    rustls::StreamOwned::new(conn, tcp)
}

/// What a handshake on `port` for `sni` offering `alpn` agrees on.
pub struct Hello {
    /// The leaf certificate (DER).
    pub leaf: Vec<u8>,
    pub alpn: Option<String>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
}

/// The handshake on `port` for `sni` offering `alpn`, `None` when it fails: in-process,
/// much quicker than `openssl s_client`.
pub fn hello(port: u16, sni: &str, alpn: &[&str]) -> Option<Hello> {
    let mut t = tls_connect_alpn(port, sni, alpn);
    while t.conn.is_handshaking() {
        t.conn.complete_io(&mut t.sock).ok()?;
    }
    Some(Hello {
        leaf: t.conn.peer_certificates()?.first()?.to_vec(),
        alpn: t
            .conn
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
        version: match t.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
            v => format!("{v:?}"),
        },
    })
}

//! TLS termination on `bind ... ssl` lines: the rustls server configuration of each
//! listener (certificates loaded with HAProxy's PEM conventions, SNI certificate choice,
//! `strict-sni`, `alpn`, protocol versions, `ciphers`/`ciphersuites` and the
//! `ssl-default-bind-*` globals), the handshake of an accepted connection, and what the
//! `ssl_fc*` fetches report about it.
//!
//! As HAProxy 2.6: a `crt` is a PEM file holding the chain and, unless a `FILE.key` sits
//! beside it, the private key; a directory loads each file in name order except the
//! reserved extensions; the first certificate loaded is the default one; SNI picks a
//! certificate by its SAN DNS names and subject CN (wildcards `*.example.com` too).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ProtocolVersion, SupportedCipherSuite};

use crate::config::diag::Diags;
use crate::model::proxy::{Bind, BindSsl, TlsVersion, Verify};
use crate::model::{Config, SslDefaults};
use crate::runtime::listeners::Accepted;
use crate::runtime::stream::Stream;

/// Handshakes that failed on any TLS listener since start (logged one by one under `-d`).
pub static HANDSHAKE_FAILURES: AtomicU64 = AtomicU64::new(0);

/// The TLS settings of each `bind ... ssl`, by (proxy index, bind index).
pub type BindTlsMap = HashMap<(usize, usize), Arc<BindTls>>;

/// One listener's TLS settings.
#[derive(Debug)]
pub struct BindTls {
    cfg: Arc<ServerConfig>,
    /// The same without ALPN, for clients offering none of the bind's protocols: HAProxy
    /// then goes on without ALPN where rustls alone would refuse the handshake.
    no_alpn: Option<Arc<ServerConfig>>,
}

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("unable to load SSL certificate from PEM file '{path}': {err}")]
    Pem {
        path: PathBuf,
        err: rustls::pki_types::pem::Error,
    },
    #[error("unable to load SSL certificate from PEM file '{0}': no certificate found")]
    NoCert(PathBuf),
    #[error("unable to load SSL private key for '{0}': no key in it nor in '{0}.key'")]
    NoKey(PathBuf),
    #[error("inconsistent certificate/key in '{path}': {err}")]
    Key { path: PathBuf, err: rustls::Error },
    #[error("unable to scan directory '{path}': {err}")]
    Dir { path: PathBuf, err: std::io::Error },
}

/// OpenSSL's names of the suites rustls (ring) offers, which HAProxy's `ciphers`,
/// `ciphersuites` and `ssl_fc_cipher` use.
const SUITE_NAMES: &[(CipherSuite, &str)] = &[
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// OpenSSL's name of a suite (what `ssl_fc_cipher` returns).
pub fn suite_name(s: CipherSuite) -> Option<&'static str> {
    SUITE_NAMES.iter().find(|(c, _)| *c == s).map(|(_, n)| *n)
}

/// HAProxy's name of a protocol version (`ssl_fc_protocol`).
pub fn version_name(v: ProtocolVersion) -> Option<&'static str> {
    match v {
        ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
        ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
        _ => None,
    }
}

/// What the `ssl_fc*` fetches need of an established TLS connection:
/// (SNI, protocol, cipher).
pub fn conn_facts(
    c: &rustls::ServerConnection,
) -> (Option<String>, Option<String>, Option<String>) {
    (
        c.server_name().map(str::to_owned),
        c.protocol_version()
            .and_then(version_name)
            .map(str::to_owned),
        c.negotiated_cipher_suite()
            .and_then(|s| suite_name(s.suite()))
            .map(str::to_owned),
    )
}

/// Builds the settings of every `bind ... ssl` of the enabled frontends; problems are
/// errors (the proxy does not start) or, for what is accepted but not applied, warnings.
pub fn build_all(cfg: &Config, d: &mut Diags) -> BindTlsMap {
    let mut out = HashMap::new();
    for (pi, p) in cfg.proxies.iter().enumerate() {
        if !p.caps.frontend {
            continue;
        }
        for (bi, b) in p.binds.iter().enumerate() {
            if let Some(ssl) = &b.ssl
                && let Some(c) = build(b, ssl, &cfg.global.ssl_default_bind, d)
            {
                let no_alpn = (!c.alpn_protocols.is_empty()).then(|| {
                    let mut n = (*c).clone();
                    n.alpn_protocols.clear();
                    Arc::new(n)
                });
                out.insert((pi, bi), Arc::new(BindTls { cfg: c, no_alpn }));
            }
        }
    }
    out
}

/// The versions range: the bind's own settings over the `ssl-default-bind-options` ones.
fn versions(ssl: &BindSsl, defaults: &SslDefaults) -> (TlsVersion, TlsVersion) {
    let (mut min, mut max) = (None, None);
    let mut it = defaults.options.iter();
    while let Some(o) = it.next() {
        let v = |w: Option<&String>| w.and_then(|w| TlsVersion::parse(w));
        match o.as_str() {
            "no-sslv3" | "no-tlsv10" => min = min.max(Some(TlsVersion::Tls11)),
            "no-tlsv11" => min = min.max(Some(TlsVersion::Tls12)),
            "no-tlsv12" => min = min.max(Some(TlsVersion::Tls13)),
            "no-tlsv13" => max = Some(TlsVersion::Tls12),
            "force-tlsv12" => (min, max) = (Some(TlsVersion::Tls12), Some(TlsVersion::Tls12)),
            "force-tlsv13" => (min, max) = (Some(TlsVersion::Tls13), Some(TlsVersion::Tls13)),
            "ssl-min-ver" => min = v(it.next()),
            "ssl-max-ver" => max = v(it.next()),
            _ => {}
        }
    }
    (
        // HAProxy 2.6's default minimum on binds is TLSv1.2.
        ssl.min_ver.or(min).unwrap_or(TlsVersion::Tls12),
        ssl.max_ver.or(max).unwrap_or(TlsVersion::Tls13),
    )
}

/// Maps an OpenSSL cipher list onto the rustls suites of one protocol family.
/// Returns the suites and the names that could not be mapped.
fn map_ciphers(list: &str, tls13: bool) -> (Vec<SupportedCipherSuite>, Vec<String>) {
    let all = rustls::crypto::ring::ALL_CIPHER_SUITES;
    let family =
        |s: &SupportedCipherSuite| (s.version().version == ProtocolVersion::TLSv1_3) == tls13;
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    let mut unmapped = Vec::new();
    for w in list.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        let (neg, name) = match w.strip_prefix(['!', '-']) {
            Some(n) => (true, n),
            None => (false, w.strip_prefix('+').unwrap_or(w)),
        };
        let found = all
            .iter()
            .find(|s| family(s) && suite_name(s.suite()) == Some(name));
        match (found, neg) {
            (Some(s), false) => {
                if !out.iter().any(|o| o.suite() == s.suite()) {
                    out.push(*s);
                }
            }
            (Some(s), true) => out.retain(|o| o.suite() != s.suite()),
            // Excluding what rustls never offers (`!aNULL`, `!MD5`) changes nothing.
            (None, true) => {}
            (None, false) => unmapped.push(name.to_owned()),
        }
    }
    (out, unmapped)
}

fn build(
    b: &Bind,
    ssl: &BindSsl,
    defaults: &SslDefaults,
    d: &mut Diags,
) -> Option<Arc<ServerConfig>> {
    let mut provider = rustls::crypto::ring::default_provider();
    let (min, max) = versions(ssl, defaults);
    let mut vers: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        vers.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 && min <= TlsVersion::Tls13 {
        vers.push(&rustls::version::TLS13);
    }
    if vers.is_empty() {
        d.error(
            b.span,
            "SSL/TLS versions on this bind line leave nothing that this proxy implements \
             (TLSv1.2 and TLSv1.3 only)",
        );
        return None;
    }
    if min < TlsVersion::Tls12 {
        d.warn(
            b.span,
            "SSLv3, TLSv1.0 and TLSv1.1 are not offered by this proxy: TLSv1.2 is the minimum",
        );
    }
    // Cipher lists: the bind's own, else the global default, mapped per family.
    let mut suites = Vec::new();
    for (list, tls13, what) in [
        (
            ssl.ciphers.as_ref().or(defaults.ciphers.as_ref()),
            false,
            "ciphers",
        ),
        (
            ssl.ciphersuites.as_ref().or(defaults.ciphersuites.as_ref()),
            true,
            "ciphersuites",
        ),
    ] {
        let all = rustls::crypto::ring::ALL_CIPHER_SUITES;
        let Some(list) = list else {
            suites.extend(
                all.iter()
                    .filter(|s| (s.version().version == ProtocolVersion::TLSv1_3) == tls13),
            );
            continue;
        };
        let (got, unmapped) = map_ciphers(list, tls13);
        if !unmapped.is_empty() {
            let known: Vec<&str> = all
                .iter()
                .filter(|s| (s.version().version == ProtocolVersion::TLSv1_3) == tls13)
                .filter_map(|s| suite_name(s.suite()))
                .collect();
            d.warn(
                b.span,
                format!(
                    "{what}: not offered by this proxy and left out: {} (it offers {})",
                    unmapped.join(":"),
                    known.join(":")
                ),
            );
        }
        let needed = vers
            .iter()
            .any(|v| (v.version == ProtocolVersion::TLSv1_3) == tls13);
        if got.is_empty() && needed {
            d.error(
                b.span,
                format!("{what} '{list}' names no cipher this proxy can offer"),
            );
            return None;
        }
        suites.extend(got);
    }
    provider.cipher_suites = suites;
    let provider = Arc::new(provider);
    // Certificates, in order: the first is the default.
    let mut resolver = SniResolver {
        strict: ssl.strict_sni,
        ..Default::default()
    };
    for p in &ssl.crts {
        match load_crt(p, &provider) {
            Ok(list) => {
                for (names, ck) in list {
                    resolver.add(names, Arc::new(ck));
                }
            }
            Err(e) => {
                d.error(b.span, e.to_string());
                return None;
            }
        }
    }
    // crt-list files after the crt files (the model keeps no order between the two).
    for p in &ssl.crt_lists {
        match load_crt_list(p, &provider) {
            Ok((list, ignored)) => {
                for (names, negs, ck) in list {
                    resolver.add_filtered(names, negs, Arc::new(ck));
                }
                if !ignored.is_empty() {
                    d.warn(
                        b.span,
                        format!(
                            "crt-list '{}': per-certificate SSL settings are not applied yet \
                             (the bind line's are used): {}",
                            p.display(),
                            ignored.join(", ")
                        ),
                    );
                }
            }
            Err(e) => {
                d.error(b.span, e);
                return None;
            }
        }
    }
    if resolver.certs.is_empty() {
        d.error(b.span, "no SSL certificate loaded for this bind line");
        return None;
    }
    let client_auth = match client_verifier(ssl, &provider) {
        Ok(v) => v,
        Err(e) => {
            d.error(b.span, e);
            return None;
        }
    };
    let mut cfg = match ServerConfig::builder_with_provider(provider).with_protocol_versions(&vers)
    {
        Ok(c) => {
            let c = match client_auth {
                Some(v) => c.with_client_cert_verifier(v),
                None => c.with_no_client_auth(),
            };
            c.with_cert_resolver(Arc::new(resolver))
        }
        Err(e) => {
            d.error(b.span, format!("cannot set up TLS for this bind line: {e}"));
            return None;
        }
    };
    // Offered as listed, as HAProxy does: `h2` is served by runtime/h2.rs in HTTP mode, and
    // in TCP mode the agreed protocol is the server's business.
    cfg.alpn_protocols = ssl
        .alpn
        .iter()
        .filter(|a| !a.is_empty())
        .map(|a| a.as_bytes().to_vec())
        .collect();
    // HAProxy prefers its own cipher order unless `prefer-client-ciphers`.
    cfg.ignore_client_order = !defaults
        .options
        .iter()
        .any(|o| o == "prefer-client-ciphers");
    Some(Arc::new(cfg))
}

/// Loads a `crt` argument: one PEM file, or every file of a directory.
fn load_crt(
    p: &Path,
    provider: &CryptoProvider,
) -> Result<Vec<(Vec<String>, CertifiedKey)>, CertError> {
    if p.is_dir() {
        let rd = std::fs::read_dir(p).map_err(|err| CertError::Dir {
            path: p.to_owned(),
            err,
        })?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                f.is_file()
                    && !f.extension().is_some_and(|x| {
                        ["key", "issuer", "ocsp", "sctl"]
                            .iter()
                            .any(|r| x == std::ffi::OsStr::new(r))
                    })
            })
            .collect();
        files.sort();
        files.iter().map(|f| load_pem(f, provider)).collect()
    } else {
        Ok(vec![load_pem(p, provider)?])
    }
}

/// `verify optional|required` with `ca-file`: client certificates are requested and
/// checked against the file's CAs (`None`: not requested, HAProxy's default).
fn client_verifier(
    ssl: &BindSsl,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, String> {
    let optional = match ssl.verify {
        None | Some(Verify::None) => return Ok(None),
        Some(Verify::Optional) => true,
        Some(Verify::Required) => false,
    };
    let Some(ca) = &ssl.ca_file else {
        return Err("'verify' is enabled but no CA file is given ('ca-file')".into());
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("unable to load ca-file '{}': {e}", ca.display()))?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("ca-file '{}': {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("ca-file '{}' holds no certificate", ca.display()));
    }
    let b = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    let b = if optional {
        b.allow_unauthenticated()
    } else {
        b
    };
    b.build()
        .map(|v| Some(v as Arc<dyn rustls::server::danger::ClientCertVerifier>))
        .map_err(|e| format!("ca-file '{}': {e}", ca.display()))
}

/// A certificate of a crt-list: its SNI names, the names excluded, the key.
type ListEntry = (Vec<String>, Vec<String>, CertifiedKey);

/// Loads a crt-list file: `<crtfile> [[<settings>]] [[!]<snifilter> ...]` per line.
/// Returns the certificates and, for a warning, the lines whose `[...]` settings are
/// not applied.
fn load_crt_list(
    p: &Path,
    provider: &CryptoProvider,
) -> Result<(Vec<ListEntry>, Vec<String>), String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("unable to read crt-list '{}': {e}", p.display()))?;
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(file) = words.next() else { continue };
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest
                .iter()
                .position(|w| w.ends_with(']'))
                .ok_or_else(|| format!("crt-list '{}' line {}: missing ']'", p.display(), n + 1))?;
            let opts = rest[..=end].join(" ");
            let opts = opts.trim_start_matches('[').trim_end_matches(']').trim();
            if !opts.is_empty() {
                ignored.push(format!("line {} [{opts}]", n + 1));
            }
            rest.drain(..=end);
        }
        let (negs, pos): (Vec<&str>, Vec<&str>) = rest.iter().partition(|w| w.starts_with('!'));
        for (names, ck) in load_crt(Path::new(file), provider)
            .map_err(|e| format!("crt-list '{}' line {}: {e}", p.display(), n + 1))?
        {
            let names = if pos.is_empty() {
                names
            } else {
                pos.iter().map(|s| s.to_string()).collect()
            };
            let negs = negs.iter().map(|s| s[1..].to_ascii_lowercase()).collect();
            out.push((names, negs, ck));
        }
    }
    Ok((out, ignored))
}

/// One PEM file: chain and key, or chain with the key in `FILE.key`.
fn load_pem(p: &Path, provider: &CryptoProvider) -> Result<(Vec<String>, CertifiedKey), CertError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(p)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|err| CertError::Pem {
            path: p.to_owned(),
            err,
        })?;
    let Some(leaf) = certs.first() else {
        return Err(CertError::NoCert(p.to_owned()));
    };
    let names = cert_names(leaf);
    let key = match PrivateKeyDer::from_pem_file(p) {
        Ok(k) => k,
        Err(_) => {
            let mut kp = p.as_os_str().to_owned();
            kp.push(".key");
            PrivateKeyDer::from_pem_file(Path::new(&kp))
                .map_err(|_| CertError::NoKey(p.to_owned()))?
        }
    };
    let ck = CertifiedKey::from_der(certs, key, provider).map_err(|err| CertError::Key {
        path: p.to_owned(),
        err,
    })?;
    Ok((names, ck))
}

/// Picks the certificate by SNI: exact names first, then wildcards, else the default
/// (the first loaded) unless `strict-sni`.
#[derive(Debug, Default)]
struct SniResolver {
    certs: Vec<Arc<CertifiedKey>>,
    exact: HashMap<String, usize>,
    /// Keyed by what follows `*.`, in load order.
    wild: HashMap<String, Vec<usize>>,
    /// Names a crt-list line excludes from its certificate (`!name`).
    negs: Vec<Vec<String>>,
    strict: bool,
}

impl SniResolver {
    fn add(&mut self, names: Vec<String>, ck: Arc<CertifiedKey>) {
        self.add_filtered(names, Vec::new(), ck)
    }
    fn add_filtered(&mut self, names: Vec<String>, negs: Vec<String>, ck: Arc<CertifiedKey>) {
        let i = self.certs.len();
        self.certs.push(ck);
        // `!*` leaves the certificate out of the name lookup (a fallback only).
        let all_out = negs.iter().any(|n| n == "*");
        for n in names {
            let n = n.to_ascii_lowercase();
            if all_out || negs.contains(&n) {
                continue;
            }
            // The first certificate with a name keeps it.
            match n.strip_prefix("*.") {
                Some(rest) => self.wild.entry(rest.to_owned()).or_default().push(i),
                None => {
                    self.exact.entry(n).or_insert(i);
                }
            }
        }
        self.negs.push(negs);
    }
    fn pick(&self, sni: Option<&str>) -> Option<usize> {
        if let Some(name) = sni {
            let name = name.to_ascii_lowercase();
            if let Some(i) = self.exact.get(&name) {
                return Some(*i);
            }
            if let Some((_, rest)) = name.split_once('.')
                && let Some(i) = self.wild.get(rest).and_then(|c| {
                    c.iter()
                        .find(|i| !self.negs.get(**i).is_some_and(|n| n.contains(&name)))
                })
            {
                return Some(*i);
            }
        }
        if self.strict { None } else { Some(0) }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let i = self.pick(hello.server_name());
        if i.is_none() {
            tracing::debug!(
                sni = hello.server_name().unwrap_or("-"),
                "strict-sni: no certificate for this name, handshake refused"
            );
        }
        i.and_then(|i| self.certs.get(i).cloned())
    }
}

/// Counts and logs (under `-d`) a failed handshake; never fatal to the proxy.
pub fn handshake_failed(proxy: &str, src: Option<std::net::SocketAddr>, err: &std::io::Error) {
    HANDSHAKE_FAILURES.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        proxy,
        client = %src.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
        "SSL handshake failure: {err}"
    );
}

/// Runs the TLS handshake of an accepted connection (within `timeout client`, as
/// HAProxy's handshake is). `None`: it failed, already counted and logged.
pub async fn handshake(
    fe: &crate::runtime::proxy::ProxyRt,
    acc: Accepted,
    tls: Arc<BindTls>,
) -> Option<Accepted> {
    let Accepted {
        stream,
        src,
        dst,
        conn_rules_done,
    } = acc;
    let tcp = match stream {
        Stream::Fresh(Some(s)) => match tokio::net::TcpStream::from_std(s) {
            Ok(t) => t,
            Err(e) => {
                handshake_failed(&fe.name, src, &e);
                return None;
            }
        },
        Stream::Tcp(t) => t,
        // UNIX sockets and streams already wrapped are not terminated here.
        other => {
            return Some(Accepted {
                stream: other,
                src,
                dst,
                conn_rules_done,
            });
        }
    };
    let hs = async move {
        let Some(no_alpn) = &tls.no_alpn else {
            return tokio_rustls::TlsAcceptor::from(tls.cfg.clone())
                .accept(tcp)
                .await;
        };
        // The ClientHello first: whether the client offers one of the bind's protocols.
        let start =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
        let offers = start
            .client_hello()
            .alpn()
            .map(|mut it| it.any(|p| tls.cfg.alpn_protocols.iter().any(|a| a.as_slice() == p)));
        let cfg = match offers {
            Some(false) => no_alpn.clone(),
            _ => tls.cfg.clone(),
        };
        start.into_stream(cfg).await
    };
    let r = match fe.timeouts.client {
        Some(t) => match tokio::time::timeout(t, hs).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timeout during handshake",
            )),
        },
        None => hs.await,
    };
    match r {
        Ok(t) => Some(Accepted {
            stream: Stream::Tls(Box::new(t)),
            src,
            dst,
            conn_rules_done,
        }),
        Err(e) => {
            handshake_failed(&fe.name, src, &e);
            None
        }
    }
}

/// Whether the client of a TLS connection agreed on HTTP/2 (ALPN `h2`).
pub fn agreed_h2(s: &Stream) -> bool {
    matches!(s, Stream::Tls(t) if t.get_ref().1.alpn_protocol() == Some(b"h2"))
}

/// Fills the `ssl_fc*` facts of a connection from its stream (nothing for plain ones).
pub fn note_conn(conn: &mut crate::runtime::sample::ConnInfo, s: &Stream) {
    if let Stream::Mem(m) = s {
        // An HTTP/2 stream: the facts of its connection, noted when it was accepted.
        conn.ssl = m.tls.ssl;
        conn.sni.clone_from(&m.tls.sni);
        conn.ssl_version.clone_from(&m.tls.ssl_version);
        conn.ssl_cipher.clone_from(&m.tls.ssl_cipher);
        conn.client_cert = m.tls.client_cert;
        conn.alpn.clone_from(&m.tls.alpn);
    }
    if let Stream::Tls(t) = s {
        conn.ssl = true;
        let c = t.get_ref().1;
        (conn.sni, conn.ssl_version, conn.ssl_cipher) = conn_facts(c);
        conn.client_cert = c.peer_certificates().is_some_and(|p| !p.is_empty());
        conn.alpn = c
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned());
    }
}

// ---- The names a certificate is valid for (minimal DER reading, no dependency) ----

/// One DER element: (tag, contents, rest of the input).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let mut l = 0usize;
        for &b in &d[..n] {
            l = (l << 8) | b as usize;
        }
        d = &d[n..];
        l
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// The SAN DNS names and subject CNs of a certificate.
fn cert_names(cert: &[u8]) -> Vec<String> {
    cert_names_inner(cert).unwrap_or_default()
}

fn cert_names_inner(cert: &[u8]) -> Option<Vec<String>> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let (_, c, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(c)?;
    // [0] version (optional), serial, signature, issuer, validity, subject.
    let mut fields = Vec::new();
    while let Some((tag, v, rest)) = tlv(tbs) {
        fields.push((tag, v));
        tbs = rest;
    }
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (_, mut subject) = *fields.get(skip + 4)?;
    let mut names = Vec::new();
    while let Some((_, set, rest)) = tlv(subject) {
        subject = rest;
        let mut set = set;
        while let Some((_, atv, r2)) = tlv(set) {
            set = r2;
            if let Some((0x06, oid, val)) = tlv(atv)
                && oid == CN
                && let Some((_, s, _)) = tlv(val)
            {
                names.push(String::from_utf8_lossy(s).into_owned());
            }
        }
    }
    if let Some((_, exts)) = fields.iter().find(|(t, _)| *t == 0xa3)
        && let Some((_, mut exts, _)) = tlv(exts)
    {
        while let Some((_, ext, rest)) = tlv(exts) {
            exts = rest;
            let Some((0x06, oid, mut r)) = tlv(ext) else {
                continue;
            };
            if oid != SAN {
                continue;
            }
            // Optional `critical` BOOLEAN, then the OCTET STRING.
            while let Some((tag, v, r2)) = tlv(r) {
                r = r2;
                if tag == 0x04
                    && let Some((_, mut gns, _)) = tlv(v)
                {
                    while let Some((gt, g, r3)) = tlv(gns) {
                        gns = r3;
                        if gt == 0x82 {
                            names.push(String::from_utf8_lossy(g).into_owned());
                        }
                    }
                }
            }
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_map_openssl_names_and_report_the_rest() {
        let (s, bad) = map_ciphers(
            "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:!aNULL:ECDHE-RSA-CHACHA20-POLY1305",
            false,
        );
        assert_eq!(s.len(), 2);
        assert_eq!(bad, vec!["DHE-RSA-AES256-GCM-SHA384".to_string()]);
        let (s, bad) = map_ciphers("TLS_AES_256_GCM_SHA384:TLS_NOPE", true);
        assert_eq!(s.len(), 1);
        assert_eq!(bad, vec!["TLS_NOPE".to_string()]);
        // A TLSv1.3 name in the TLSv1.2 list is not one of its ciphers.
        let (s, _) = map_ciphers("TLS_AES_256_GCM_SHA384", false);
        assert!(s.is_empty());
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_default() {
        let mut r = SniResolver::default();
        r.exact.insert("a.test".into(), 0);
        r.exact.insert("b.test".into(), 1);
        r.wild.insert("w.test".into(), vec![1]);
        assert_eq!(r.pick(Some("A.Test")), Some(0));
        assert_eq!(r.pick(Some("x.w.test")), Some(1));
        assert_eq!(r.pick(Some("w.test")), Some(0));
        assert_eq!(r.pick(None), Some(0));
        r.strict = true;
        assert_eq!(r.pick(Some("nope.test")), None);
        assert_eq!(r.pick(None), None);
    }

    #[test]
    fn versions_come_from_the_bind_over_the_globals() {
        let d = |o: &[&str]| SslDefaults {
            options: o.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let none = BindSsl::default();
        assert_eq!(
            versions(&none, &d(&[])),
            (TlsVersion::Tls12, TlsVersion::Tls13)
        );
        assert_eq!(
            versions(&none, &d(&["ssl-max-ver", "TLSv1.2"])),
            (TlsVersion::Tls12, TlsVersion::Tls12)
        );
        assert_eq!(
            versions(&none, &d(&["no-tlsv12"])),
            (TlsVersion::Tls13, TlsVersion::Tls13)
        );
        let own = BindSsl {
            max_ver: Some(TlsVersion::Tls13),
            ..Default::default()
        };
        assert_eq!(
            versions(&own, &d(&["force-tlsv12"])),
            (TlsVersion::Tls12, TlsVersion::Tls13)
        );
    }

    #[test]
    fn der_reader_survives_garbage() {
        assert!(cert_names(&[]).is_empty());
        assert!(cert_names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_empty());
        assert!(cert_names(&[0x30, 0x03, 0x30, 0x01]).is_empty());
    }
}

//! TLS termination on `bind ... ssl` lines: the rustls server configuration of each
//! listener (certificates loaded with HAProxy's PEM conventions, SNI certificate choice,
//! `strict-sni`, `alpn`, protocol versions, `ciphers`/`ciphersuites` and the
//! `ssl-default-bind-*` globals), the handshake of an accepted connection, and what the
//! `ssl_fc*` fetches report about it.
//!
//! As HAProxy 2.6: a `crt` is a PEM file holding the chain and, unless a `FILE.key` sits
//! beside it, the private key; a directory loads each file in name order except the
//! reserved extensions; the first certificate loaded is the default one; SNI picks a
//! certificate by its SAN DNS names and subject CN (wildcards `*.example.com` too). A
//! `FILE.ocsp` beside a PEM is the OCSP response stapled with it (see `tls_bind/ocsp.rs`).
//!
//! The certificates a bind serves change at run time through the stats socket (see
//! `cli/ssl.rs`): `commit ssl cert` replaces one, `add`/`del ssl crt-list` add or remove a
//! crt-list line (crt-lists and `crt` directories are kept here, one object per file
//! shared by the binds loading it), `set ssl ocsp-response` replaces a response, and
//! `commit ssl ca-file|crl-file` rebuilds the configurations verifying client
//! certificates against the file (`crl-file`: PEM CRLs, kept in `tls_store.rs`). The SNI
//! index each handshake consults (with each certificate's own configuration) sits behind
//! a lock only written by those commands, so new handshakes see the change while
//! established connections keep what they got.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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

pub mod ocsp;

/// Handshakes that failed on any TLS listener since start (logged one by one under `-d`).
pub static HANDSHAKE_FAILURES: AtomicU64 = AtomicU64::new(0);

/// The TLS settings of each `bind ... ssl`, by (proxy index, bind index).
pub type BindTlsMap = HashMap<(usize, usize), Arc<BindTls>>;

/// One listener's TLS settings.
#[derive(Debug)]
pub struct BindTls {
    /// The bind line's settings (rebuilt when a CA or CRL file it uses is committed).
    main: RwLock<Arc<Variant>>,
    /// Picks the certificate by SNI (shared by every configuration of the bind); also
    /// holds each certificate's own configuration (crt-list lines with settings).
    resolver: Arc<SniResolver>,
    /// The listener's id in its frontend (`id`, or its rank), which the log line of a
    /// failed handshake names as HAProxy does (`fe/1: SSL handshake failure`).
    id: u32,
    /// What a crt-list line added at run time is configured from: the bind line's
    /// settings, the globals, where the bind line is.
    ssl: BindSsl,
    defaults: SslDefaults,
    span: crate::config::source::Span,
    /// The crt-lists (and `crt` directories) this bind loaded, shared with the other
    /// binds that loaded the same file.
    lists: Vec<Arc<Mutex<CrtList>>>,
    /// The frontend's name and the bind's address, as HAProxy names a bind in errors.
    fe: String,
    addr: String,
}

/// A crt-list file or a `crt` directory, as the runtime API edits it (HAProxy's
/// "crtlist"): its lines in order. One object per file, shared by every bind using it.
#[derive(Debug)]
pub struct CrtList {
    /// The path as configured, without trailing slashes.
    pub path: String,
    /// A `crt` directory (lines without settings nor filters, line number 0).
    pub dir: bool,
    pub entries: Vec<CrtEntry>,
    /// The number of the last line (the file's line count; one more per line added).
    pub linecount: usize,
    /// `crt-base`, for relative certificate paths of lines added at run time.
    pub crt_base: Option<PathBuf>,
}

/// One line of a crt-list.
#[derive(Debug, Clone)]
pub struct CrtEntry {
    /// Links the certificates the binds serve for this line to it.
    pub id: u64,
    /// The certificate file (its path after `crt-base`).
    pub cert: String,
    pub line: usize,
    /// The `[...]` settings (`Some` even when empty: HAProxy prints `[]`).
    pub settings: Option<LineSettings>,
    /// The SNI filters as written (`name`, `!name`).
    pub filters: Vec<String>,
}

/// The names of the configuration files (by file id), for the `file:line` of a bind line
/// that `del ssl crt-list` prints; set once at start.
static SOURCE_NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Notes the configuration files' names (as given on the command line).
pub fn set_source_names(names: Vec<String>) {
    let _ = SOURCE_NAMES.set(names);
}

/// `file:line` of a configuration place, as HAProxy names a bind line.
pub fn place(span: crate::config::source::Span) -> String {
    let name = SOURCE_NAMES
        .get()
        .and_then(|n| n.get(span.file as usize))
        .map_or("?", String::as_str);
    format!("{name}:{}", span.line)
}

static NEXT_ENTRY: AtomicU64 = AtomicU64::new(1);

pub fn next_entry_id() -> u64 {
    NEXT_ENTRY.fetch_add(1, Ordering::Relaxed)
}

impl CrtEntry {
    /// The line as `show ssl crt-list` prints it (`-n`: with its number).
    pub fn dump(&self, numbered: bool) -> String {
        let mut s = self.cert.clone();
        if numbered {
            s.push_str(&format!(":{}", self.line));
        }
        if let Some(c) = &self.settings {
            s.push_str(&c.dump());
        }
        for f in &self.filters {
            s.push(' ');
            s.push_str(f);
        }
        s
    }
}

/// One rustls configuration of a listener.
#[derive(Debug)]
struct Variant {
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
    #[error(
        "'{0}' is present and activates OCSP but it is impossible to compute the OCSP \
         certificate ID (maybe the issuer could not be found)"
    )]
    OcspId(PathBuf),
    #[error("'{path}': {err}")]
    Ocsp { path: PathBuf, err: ocsp::OcspError },
}

impl CertError {
    /// What to do about it, for the diagnostic's hint.
    pub fn hint(&self) -> &'static str {
        match self {
            CertError::Pem { .. } | CertError::NoCert(_) => {
                "a 'crt' file must hold a PEM certificate chain (and its key, or a FILE.key beside it)"
            }
            CertError::NoKey(_) => {
                "append the private key to the PEM file, or put it in a file named FILE.key beside it"
            }
            CertError::Key { .. } => {
                "the private key does not belong to the certificate: pair each certificate with its own key"
            }
            CertError::Dir { .. } => "the directory must exist and be readable by rproxy",
            CertError::OcspId(_) => {
                "put the issuer's certificate in the PEM chain or in a FILE.issuer file beside it"
            }
            CertError::Ocsp { .. } => {
                "FILE.ocsp must hold a current, successful DER OCSP response for this certificate"
            }
        }
    }
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
    let mut lists = HashMap::new();
    let bases = Bases {
        crt: cfg.global.crt_base.as_deref(),
        ca: cfg.global.ca_base.as_deref(),
    };
    for (pi, p) in cfg.proxies.iter().enumerate() {
        if !p.caps.frontend {
            continue;
        }
        for (bi, b) in p.binds.iter().enumerate() {
            if let Some(ssl) = &b.ssl
                && let Some(mut t) =
                    build(b, ssl, &cfg.global.ssl_default_bind, bases, &mut lists, d)
            {
                t.id = b.id.unwrap_or(bi as u32 + 1);
                t.fe.clone_from(&p.name);
                t.addr = b.addr.to_string();
                out.insert((pi, bi), Arc::new(t));
            }
        }
    }
    out
}

/// Loads every bind line's certificates, keys, crt-lists and CA files as the start would,
/// for `-c`: what cannot be loaded is an error on the bind line.
pub fn check(cfg: &Config, d: &mut Diags) {
    build_all(cfg, d);
    // And each server line's client certificate and CA file.
    for p in cfg.proxies.iter().filter(|p| p.caps.backend) {
        for s in &p.servers {
            let (_, errs) = crate::runtime::tls_client::ServerTls::from_server(
                s.params.ssl.as_ref(),
                cfg.global.ssl_server_verify,
            );
            for e in errs {
                say_server_tls(d, &p.name, s, e);
            }
        }
    }
}

/// Says what is wrong with a server line's TLS: a certificate, key or CA file that cannot
/// be loaded is an error (HAProxy does not start either), a bad `sni` expression a warning.
pub fn say_server_tls(
    d: &mut Diags,
    proxy: &str,
    s: &crate::model::server::Server,
    e: crate::runtime::tls_client::ServerTlsError,
) {
    use crate::runtime::tls_client::{ServerTlsError, TlsSetupError};
    match e {
        ServerTlsError::Setup(e) => {
            let hint = match &e {
                TlsSetupError::Rustls(_) => {
                    "'crt' on a server line is one PEM file with the client certificate and \
                     its own private key"
                }
                TlsSetupError::NoCert(_) | TlsSetupError::Pem { .. } => {
                    "'crt' holds the client certificate and key, 'ca-file' the PEM \
                     certificates of the CAs that sign the server's certificate"
                }
                _ => "fix the server line's TLS settings",
            };
            d.error_hint(
                s.span,
                format!("in '{proxy}': server '{}': {e}", s.name),
                hint,
            );
        }
        e @ ServerTlsError::Sni(_) => {
            d.warn(s.span, format!("in '{proxy}': server '{}': {e}", s.name))
        }
    }
}

/// The global `crt-base` and `ca-base`, for the relative paths of crt-list files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bases<'a> {
    pub crt: Option<&'a Path>,
    pub ca: Option<&'a Path>,
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

/// Whether OpenSSL's cipher-string word `word` (an alias such as `HIGH`, `aRSA`, `AESGCM`)
/// selects the TLS 1.2 suite OpenSSL calls `name`; `None` for a word that is no alias.
/// Every suite rustls offers is ECDHE with an AEAD cipher, so most aliases select all of
/// them or none (checked against `openssl ciphers` 3.0 in the tests).
fn alias_selects(word: &str, name: &str) -> Option<bool> {
    const ALL: &[&str] = &[
        "ALL", "DEFAULT", "HIGH", "ECDH", "ECDHE", "EECDH", "kECDHE", "kEECDH", "TLSv1.2",
    ];
    // OpenSSL aliases that select none of rustls's suites (weak, other key exchanges or
    // ciphers, PSK, other protocol versions...).
    const NONE: &[&str] = &[
        "MEDIUM",
        "LOW",
        "EXPORT",
        "NULL",
        "eNULL",
        "aNULL",
        "COMPLEMENTOFDEFAULT",
        "COMPLEMENTOFALL",
        "RSA",
        "kRSA",
        "DH",
        "DHE",
        "EDH",
        "kDHE",
        "kEDH",
        "ADH",
        "AECDH",
        "aECDH",
        "kECDH",
        "aDSS",
        "DSS",
        "PSK",
        "kPSK",
        "aPSK",
        "kECDHEPSK",
        "kDHEPSK",
        "kRSAPSK",
        "ECDHEPSK",
        "DHEPSK",
        "RSAPSK",
        "SRP",
        "kSRP",
        "aSRP",
        "3DES",
        "DES",
        "RC4",
        "RC2",
        "IDEA",
        "SEED",
        "MD5",
        "SHA1",
        "SHA",
        "SHA256",
        "SHA384",
        "AEAD",
        "CAMELLIA",
        "CAMELLIA128",
        "CAMELLIA256",
        "ARIA",
        "ARIA128",
        "ARIA256",
        "ARIAGCM",
        "CCM",
        "CCM8",
        "AESCCM",
        "AESCCM8",
        "SSLv3",
        "TLSv1",
        "TLSv1.0",
        "GOST94",
        "GOST89MAC",
        "kGOST",
        "aGOST",
        "aGOST01",
        "SUITEB128",
        "SUITEB128ONLY",
        "SUITEB192",
        "CBC",
    ];
    Some(match word {
        w if ALL.contains(&w) => true,
        "AES" | "AESGCM" | "FIPS" => name.contains("-AES"),
        "AES128" => name.contains("-AES128"),
        "AES256" => name.contains("-AES256"),
        "CHACHA20" => name.contains("-CHACHA20"),
        "aRSA" => name.starts_with("ECDHE-RSA-"),
        "aECDSA" | "ECDSA" => name.starts_with("ECDHE-ECDSA-"),
        w if NONE.contains(&w) => false,
        _ => return None,
    })
}

/// Maps an OpenSSL cipher list onto the rustls suites of one protocol family.
/// Returns the suites and the names that could not be mapped. In TLS 1.2 lists
/// (`ciphers`), OpenSSL's aliases and `+` combinations are understood (`HIGH:!aNULL`,
/// `ECDHE+AESGCM`, `kEECDH+aRSA`); `@STRENGTH`/`@SECLEVEL=n` change nothing here. As
/// with OpenSSL, a word nothing knows is left out (the caller warns of it).
fn map_ciphers(list: &str, tls13: bool) -> (Vec<SupportedCipherSuite>, Vec<String>) {
    let all = rustls::crypto::ring::ALL_CIPHER_SUITES;
    let family =
        |s: &SupportedCipherSuite| (s.version().version == ProtocolVersion::TLSv1_3) == tls13;
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    let mut banned: Vec<CipherSuite> = Vec::new();
    let mut unmapped = Vec::new();
    for w in list.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        if w.starts_with('@') {
            continue;
        }
        let (op, name) = match w.as_bytes()[0] {
            b'!' | b'-' | b'+' => (w.as_bytes()[0], &w[1..]),
            _ => (b' ', w),
        };
        let exact = all
            .iter()
            .filter(|s| family(s) && suite_name(s.suite()) == Some(name))
            .copied()
            .collect::<Vec<_>>();
        let chosen: Vec<SupportedCipherSuite> = if !exact.is_empty() || tls13 {
            exact
        } else {
            let mut sel = Vec::new();
            let mut known = true;
            for s in all.iter().filter(|s| family(s)) {
                let n = suite_name(s.suite()).unwrap_or_default();
                let mut every = true;
                for word in name.split('+') {
                    match alias_selects(word, n) {
                        Some(b) => every &= b,
                        None => known = false,
                    }
                }
                if every {
                    sel.push(*s);
                }
            }
            if !known {
                // Excluding what no one offers (`!FOO`) changes nothing either way.
                if op != b'!' && op != b'-' {
                    unmapped.push(name.to_owned());
                }
                continue;
            }
            sel
        };
        if chosen.is_empty() && op == b' ' && alias_selects(name, "").is_none() {
            // A suite name OpenSSL knows and rustls does not offer.
            unmapped.push(name.to_owned());
            continue;
        }
        match op {
            b'!' => {
                banned.extend(chosen.iter().map(|s| s.suite()));
                out.retain(|o| !banned.contains(&o.suite()));
            }
            b'-' => out.retain(|o| !chosen.iter().any(|c| c.suite() == o.suite())),
            b'+' => {
                // Moved to the end, in their order (only those already in the list).
                let (moved, rest): (Vec<_>, Vec<_>) = out
                    .iter()
                    .partition(|o| chosen.iter().any(|c| c.suite() == o.suite()));
                out = rest.into_iter().chain(moved).collect();
            }
            _ => {
                for s in chosen {
                    if !banned.contains(&s.suite()) && !out.iter().any(|o| o.suite() == s.suite()) {
                        out.push(s);
                    }
                }
            }
        }
    }
    (out, unmapped)
}

/// The protocol versions and the crypto provider (its cipher suites) of one set of
/// settings: a bind line's, or a crt-list line's over its bind line's.
fn tls_params(
    span: crate::config::source::Span,
    ssl: &BindSsl,
    defaults: &SslDefaults,
    d: &mut Diags,
) -> Option<(
    CryptoProvider,
    Vec<&'static rustls::SupportedProtocolVersion>,
)> {
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
            span,
            "SSL/TLS versions on this bind line leave nothing that this proxy implements \
             (TLSv1.2 and TLSv1.3 only)",
        );
        return None;
    }
    if min < TlsVersion::Tls12 {
        d.warn(
            span,
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
                span,
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
                span,
                format!("{what} '{list}' names no cipher this proxy can offer"),
            );
            return None;
        }
        suites.extend(got);
    }
    provider.cipher_suites = suites;
    Some((provider, vers))
}

/// The rustls configuration of one set of settings over the bind's certificates, and
/// the same without ALPN (see [`Variant`]).
fn server_config(
    span: crate::config::source::Span,
    ssl: &BindSsl,
    defaults: &SslDefaults,
    resolver: &Arc<SniResolver>,
    d: &mut Diags,
) -> Option<Variant> {
    let (provider, vers) = tls_params(span, ssl, defaults, d)?;
    let provider = Arc::new(provider);
    let client_auth = match client_verifier(ssl, &provider) {
        Ok(v) => v,
        Err(e) => {
            d.error_hint(
                span,
                e,
                "a ca-file holds the PEM certificates of the CAs that sign client certificates",
            );
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
            c.with_cert_resolver(resolver.clone())
        }
        Err(e) => {
            d.error(span, format!("cannot set up TLS for this bind line: {e}"));
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
    // `ssl-default-bind-options no-tls-tickets`: no TLS 1.3 tickets, hence no resumption
    // (rustls issues no TLS 1.2 tickets; its TLS 1.2 session-id cache stays).
    if defaults.options.iter().any(|o| o == "no-tls-tickets") {
        cfg.send_tls13_tickets = 0;
    }
    // HAProxy prefers its own cipher order unless `prefer-client-ciphers`.
    cfg.ignore_client_order = !defaults
        .options
        .iter()
        .any(|o| o == "prefer-client-ciphers");
    let no_alpn = (!cfg.alpn_protocols.is_empty()).then(|| {
        let mut n = cfg.clone();
        n.alpn_protocols.clear();
        Arc::new(n)
    });
    Some(Variant {
        cfg: Arc::new(cfg),
        no_alpn,
    })
}

/// The crt-lists (and `crt` directories) loaded so far, by path: binds naming the same
/// file share one.
type Lists = HashMap<String, Arc<Mutex<CrtList>>>;

/// The registered crt-list of `path`, made from `lines` by the first bind that loads it
/// (the others reuse its line ids: they read the same file in the same order).
fn register(
    lists: &mut Lists,
    bases: Bases,
    path: &str,
    dir: bool,
    linecount: usize,
    lines: &[(String, usize, Option<LineSettings>, Vec<String>)],
) -> (Arc<Mutex<CrtList>>, Vec<u64>) {
    let path = strip_slashes(path).to_owned();
    if let Some(l) = lists.get(&path) {
        let ids: Vec<u64> = l
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .iter()
            .map(|e| e.id)
            .collect();
        if ids.len() == lines.len() {
            return (l.clone(), ids);
        }
    }
    let entries: Vec<CrtEntry> = lines
        .iter()
        .map(|(cert, line, settings, filters)| CrtEntry {
            id: next_entry_id(),
            cert: cert.clone(),
            line: *line,
            settings: settings.clone(),
            filters: filters.clone(),
        })
        .collect();
    let ids = entries.iter().map(|e| e.id).collect();
    let l = Arc::new(Mutex::new(CrtList {
        path: path.clone(),
        dir,
        entries,
        linecount,
        crt_base: bases.crt.map(Path::to_owned),
    }));
    lists.insert(path, l.clone());
    (l, ids)
}

/// A path without its trailing slashes (HAProxy's key for a crt-list or directory).
pub fn strip_slashes(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() && !p.is_empty() {
        "/"
    } else {
        t
    }
}

fn build(
    b: &Bind,
    ssl: &BindSsl,
    defaults: &SslDefaults,
    bases: Bases,
    lists: &mut Lists,
    d: &mut Diags,
) -> Option<BindTls> {
    // Keys are loaded with the default provider: cipher limits do not apply to them.
    let key_provider = rustls::crypto::ring::default_provider();
    // Certificates, in order: the first is the default.
    let mut served: Vec<Served> = Vec::new();
    let mut my_lists = Vec::new();
    for p in &ssl.crts {
        match load_crt(p, &key_provider) {
            Ok(list) => {
                // A directory is a crt-list of its own to the runtime API.
                let ids = if p.is_dir() {
                    let lines: Vec<_> = list
                        .iter()
                        .map(|c| (c.path.clone(), 0, None, Vec::new()))
                        .collect();
                    let (l, ids) =
                        register(lists, bases, &p.display().to_string(), true, 0, &lines);
                    my_lists.push(l);
                    ids.into_iter().map(Some).collect()
                } else {
                    vec![None; list.len()]
                };
                for (ck, entry) in list.into_iter().zip(ids) {
                    served.push(Served::plain(ck, entry));
                }
            }
            Err(e) => {
                d.error_hint(b.span, e.to_string(), e.hint());
                return None;
            }
        }
    }
    // crt-list files after the crt files (the model keeps no order between the two).
    let mut pending: Vec<(usize, LineSettings)> = Vec::new();
    for p in &ssl.crt_lists {
        match load_crt_list(p, &key_provider, bases) {
            Ok((list, linecount)) => {
                let lines: Vec<_> = list
                    .iter()
                    .map(|l| {
                        (
                            l.ckch.path.clone(),
                            l.line,
                            l.settings.clone(),
                            l.filters.clone(),
                        )
                    })
                    .collect();
                let (reg, ids) = register(
                    lists,
                    bases,
                    &p.display().to_string(),
                    false,
                    linecount,
                    &lines,
                );
                my_lists.push(reg);
                for (l, id) in list.into_iter().zip(ids) {
                    if let Some(s) = &l.settings {
                        pending.push((served.len(), s.clone()));
                    }
                    served.push(Served {
                        ckch: Arc::new(l.ckch),
                        names: l.names,
                        negs: l.negs,
                        variant: None,
                        entry: Some(id),
                        settings: l.settings.clone(),
                    });
                }
            }
            Err((msg, hint)) => {
                d.error_hint(b.span, msg, hint);
                return None;
            }
        }
    }
    if served.is_empty() {
        d.error_hint(
            b.span,
            "no SSL certificate loaded for this bind line",
            "'crt' names an empty directory or the crt-list names no certificate: \
             give at least one PEM file holding a certificate and its key",
        );
        return None;
    }
    let resolver = Arc::new(SniResolver::new(ssl.strict_sni));
    let main = server_config(b.span, ssl, defaults, &resolver, d)?;
    // Each crt-list line with settings: its own configuration over the bind line's,
    // chosen by the certificate the client's SNI picks (see `handshake`).
    let mut warned = std::collections::HashSet::new();
    for (i, s) in pending {
        if warned.insert((s.file.clone(), s.line)) {
            for (what, _) in &s.not_applied {
                d.warn_hint(
                    b.span,
                    format!(
                        "crt-list '{}' line {}: '{what}' is accepted but not applied by this \
                         proxy (the bind line's setting is used)",
                        s.file.display(),
                        s.line
                    ),
                    "rustls offers no such per-certificate setting; remove it to silence this",
                );
            }
        }
        let mut own = ssl.clone();
        s.apply(&mut own);
        let v = server_config(b.span, &own, defaults, &resolver, d)?;
        served[i].variant = Some(Arc::new(v));
    }
    resolver.set(served);
    Some(BindTls {
        main: RwLock::new(Arc::new(main)),
        resolver,
        id: 0,
        ssl: ssl.clone(),
        defaults: defaults.clone(),
        span: b.span,
        lists: my_lists,
        fe: String::new(),
        addr: String::new(),
    })
}

/// Loads a `crt` argument: one PEM file, or every file of a directory.
fn load_crt(p: &Path, provider: &CryptoProvider) -> Result<Vec<Ckch>, CertError> {
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
    // As HAProxy, a `ca-file` is loaded (and must be valid) even under `verify none`.
    let roots = match &ssl.ca_file {
        Some(ca) => Some(load_roots(ca)?),
        None => None,
    };
    let optional = match ssl.verify {
        None | Some(Verify::None) => return Ok(None),
        Some(Verify::Optional) => true,
        Some(Verify::Required) => false,
    };
    let (Some(_), Some(ca)) = (roots, &ssl.ca_file) else {
        return Err("'verify' is enabled but no CA file is given ('ca-file')".into());
    };
    crate::runtime::tls_store::client_verifier(ca, ssl.crl_file.as_deref(), optional, provider)
        .map(Some)
}

/// The CA certificates of a `ca-file` (as stored: a commit may have replaced them).
fn load_roots(ca: &Path) -> Result<rustls::RootCertStore, String> {
    crate::runtime::tls_store::roots(ca)
}

/// A certificate of a crt-list as loaded: its line, the line's settings and filters.
struct LoadedLine {
    ckch: Ckch,
    line: usize,
    settings: Option<LineSettings>,
    /// The filters as written.
    filters: Vec<String>,
    /// The SNI names the line gives (`None`: the certificate's own) and those it excludes.
    names: Option<Vec<String>>,
    negs: Vec<String>,
}

/// The `[...]` settings of one crt-list line (HAProxy 2.6's `sslbindconf`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineSettings {
    file: PathBuf,
    line: usize,
    alpn: Option<Vec<String>>,
    ciphers: Option<String>,
    ciphersuites: Option<String>,
    min_ver: Option<TlsVersion>,
    max_ver: Option<TlsVersion>,
    verify: Option<Verify>,
    ca_file: Option<PathBuf>,
    crl_file: Option<PathBuf>,
    /// Accepted as HAProxy does but not applied: (keyword, argument).
    not_applied: Vec<(String, Option<String>)>,
}

impl LineSettings {
    /// The settings as `show ssl crt-list` prints them: ` [kw arg ...]` in HAProxy's
    /// order (after `alpn`, a NUL byte, as HAProxy 2.6 writes one there).
    fn dump(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        let na = |k: &str| self.not_applied.iter().find(|(w, _)| w == k);
        let with_arg = |k: &str| na(k).map(|(w, a)| format!("{w} {}", a.as_deref().unwrap_or("")));
        if let Some(n) = with_arg("npn") {
            words.push(format!("{n}\0"));
        }
        if let Some(a) = &self.alpn {
            words.push(format!("alpn {}\0", a.join(",")));
        }
        match self.verify {
            Some(Verify::None) => words.push("verify none".into()),
            Some(Verify::Optional) => words.push("verify optional".into()),
            Some(Verify::Required) => words.push("verify required".into()),
            None => {}
        }
        for k in ["no-ca-names", "allow-0rtt"] {
            if na(k).is_some() {
                words.push(k.into());
            }
        }
        if let Some(c) = &self.ca_file {
            words.push(format!("ca-file {}", c.display()));
        }
        if let Some(c) = &self.crl_file {
            words.push(format!("crl-file {}", c.display()));
        }
        if let Some(c) = &self.ciphers {
            words.push(format!("ciphers {c}"));
        }
        if let Some(c) = &self.ciphersuites {
            words.push(format!("ciphersuites {c}"));
        }
        words.extend(with_arg("curves"));
        words.extend(with_arg("ecdhe"));
        if let Some(v) = self.min_ver {
            words.push(format!("ssl-min-ver {}", version_text(v)));
        }
        if let Some(v) = self.max_ver {
            words.push(format!("ssl-max-ver {}", version_text(v)));
        }
        format!(" [{}]", words.join(" "))
    }

    /// The line's settings over a copy of its bind line's.
    fn apply(&self, ssl: &mut BindSsl) {
        if let Some(a) = &self.alpn {
            ssl.alpn.clone_from(a);
        }
        if let Some(c) = &self.ciphers {
            ssl.ciphers = Some(c.clone());
        }
        if let Some(c) = &self.ciphersuites {
            ssl.ciphersuites = Some(c.clone());
        }
        // HAProxy: a line's ssl-min-ver/ssl-max-ver replace the bind's whole range.
        if self.min_ver.is_some() || self.max_ver.is_some() {
            ssl.min_ver = self.min_ver;
            ssl.max_ver = self.max_ver;
        }
        if let Some(v) = self.verify {
            ssl.verify = Some(v);
        }
        if let Some(c) = &self.ca_file {
            ssl.ca_file = Some(c.clone());
        }
        if let Some(c) = &self.crl_file {
            ssl.crl_file = Some(c.clone());
        }
    }
}

/// HAProxy's name of a protocol version in settings.
fn version_text(v: TlsVersion) -> &'static str {
    match v {
        TlsVersion::Ssl3 => "SSLv3",
        TlsVersion::Tls10 => "TLSv1.0",
        TlsVersion::Tls11 => "TLSv1.1",
        TlsVersion::Tls12 => "TLSv1.2",
        TlsVersion::Tls13 => "TLSv1.3",
    }
}

/// The keywords a crt-list line takes in HAProxy 2.6, with their number of arguments.
pub const LINE_KEYWORDS: &[(&str, usize)] = &[
    ("allow-0rtt", 0),
    ("alpn", 1),
    ("ca-file", 1),
    ("ca-verify-file", 1),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("crl-file", 1),
    ("curves", 1),
    ("ecdhe", 1),
    ("no-ca-names", 0),
    ("npn", 1),
    ("ssl-max-ver", 1),
    ("ssl-min-ver", 1),
    ("verify", 1),
];

/// Parses the words between `[` and `]` of a crt-list line. Errors: (message, hint).
pub fn parse_line_settings(
    words: &[&str],
    file: &Path,
    line: usize,
    bases: Bases,
) -> Result<LineSettings, (String, String)> {
    let at = format!("crt-list '{}' line {line}", file.display());
    let mut s = LineSettings {
        file: file.to_owned(),
        line,
        ..Default::default()
    };
    let mut i = 0;
    while let Some(&kw) = words.get(i) {
        let Some(&(_, nargs)) = LINE_KEYWORDS.iter().find(|(k, _)| *k == kw) else {
            let hint =
                if kw.starts_with("no-tls") || kw.starts_with("no-ssl") || kw.starts_with("force-")
                {
                    "HAProxy 2.6 takes this on bind lines only: on a crt-list line, use \
                 'ssl-min-ver'/'ssl-max-ver'"
                        .to_string()
                } else {
                    let names: Vec<&str> = LINE_KEYWORDS.iter().map(|(k, _)| *k).collect();
                    format!("a crt-list line takes: {}", names.join(", "))
                };
            return Err((format!("{at}: unknown SSL setting '{kw}'"), hint));
        };
        let arg = if nargs == 1 {
            let Some(a) = words.get(i + 1) else {
                return Err((
                    format!("{at}: '{kw}' expects an argument"),
                    format!("write '{kw} <value>' inside the brackets"),
                ));
            };
            Some(*a)
        } else {
            None
        };
        let ver = |a: &str| {
            TlsVersion::parse(a).ok_or_else(|| {
                (
                    format!("{at}: unknown TLS version '{a}'"),
                    "versions: SSLv3 TLSv1.0 TLSv1.1 TLSv1.2 TLSv1.3".to_string(),
                )
            })
        };
        let a = arg.unwrap_or_default();
        match kw {
            "alpn" => s.alpn = Some(a.split(',').map(String::from).collect()),
            "ciphers" => s.ciphers = Some(a.to_owned()),
            "ciphersuites" => s.ciphersuites = Some(a.to_owned()),
            "ssl-min-ver" => s.min_ver = Some(ver(a)?),
            "ssl-max-ver" => s.max_ver = Some(ver(a)?),
            "verify" => {
                s.verify = Some(match a {
                    "none" => Verify::None,
                    "optional" => Verify::Optional,
                    "required" => Verify::Required,
                    _ => {
                        return Err((
                            format!("{at}: unknown verify mode '{a}'"),
                            "verify takes none, optional or required".into(),
                        ));
                    }
                })
            }
            "ca-file" | "crl-file" => {
                let p = crate::config::build::based(bases.ca, a);
                if let Err(e) = std::fs::metadata(&p) {
                    return Err((
                        format!("{at}: unable to load {kw} '{}': {e}", p.display()),
                        format!("the {kw} must exist and be readable by rproxy"),
                    ));
                }
                if kw == "ca-file" {
                    s.ca_file = Some(p);
                } else {
                    s.crl_file = Some(p);
                }
            }
            _ => s.not_applied.push((kw.to_owned(), arg.map(str::to_owned))),
        }
        i += 1 + nargs;
    }
    Ok(s)
}

/// One crt-list line split as HAProxy splits it: the certificate, the words between `[`
/// and `]` (`Some(empty)` for `[]`), the filters. An opening `[` without its `]` gives
/// empty settings and the rest as filters, as HAProxy 2.6 takes it.
pub fn split_list_line(line: &str) -> Option<SplitLine> {
    let mut words = line.split_whitespace();
    let file = words.next()?.to_owned();
    let mut rest: Vec<String> = words.map(str::to_owned).collect();
    let mut settings = None;
    if rest.first().is_some_and(|w| w.starts_with('[')) {
        match rest.iter().position(|w| w.ends_with(']')) {
            Some(end) => {
                let opts = rest[..=end].join(" ");
                let inner = opts.strip_prefix('[').unwrap_or(&opts);
                let inner = inner.strip_suffix(']').unwrap_or(inner);
                settings = Some(inner.split_whitespace().map(str::to_owned).collect());
                rest.drain(..=end);
            }
            None => {
                settings = Some(Vec::new());
                rest[0].remove(0);
                if rest[0].is_empty() {
                    rest.remove(0);
                }
            }
        }
    }
    Some((file, settings, rest))
}

/// A crt-list line: certificate, settings words, filters.
pub type SplitLine = (String, Option<Vec<String>>, Vec<String>);

/// Loads a crt-list file: `<crtfile> [[<settings>]] [[!]<snifilter> ...]` per line, and
/// its line count. Certificate paths are taken under `crt-base` when relative, as
/// HAProxy does. Errors: (message, hint).
fn load_crt_list(
    p: &Path,
    provider: &CryptoProvider,
    bases: Bases,
) -> Result<(Vec<LoadedLine>, usize), (String, String)> {
    let text = std::fs::read_to_string(p).map_err(|e| {
        (
            format!("unable to read crt-list '{}': {e}", p.display()),
            "the crt-list must exist and be readable by rproxy".to_string(),
        )
    })?;
    let mut out = Vec::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        count = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((file, words, rest)) = split_list_line(line) else {
            continue;
        };
        if words.is_some() && !line.contains(']') {
            return Err((
                format!("crt-list '{}' line {}: missing ']'", p.display(), n + 1),
                "settings are written '[name value ...]' after the certificate".to_string(),
            ));
        }
        let settings = match words {
            Some(w) => {
                let w: Vec<&str> = w.iter().map(String::as_str).collect();
                Some(parse_line_settings(&w, p, n + 1, bases)?)
            }
            None => None,
        };
        let (negs, pos): (Vec<&String>, Vec<&String>) =
            rest.iter().partition(|w| w.starts_with('!'));
        let crt = crate::config::build::based(bases.crt, &file);
        for ck in load_crt(&crt, provider).map_err(|e| {
            (
                format!("crt-list '{}' line {}: {e}", p.display(), n + 1),
                e.hint().to_string(),
            )
        })? {
            out.push(LoadedLine {
                ckch: ck,
                line: n + 1,
                settings: settings.clone(),
                filters: rest.clone(),
                names: (!pos.is_empty()).then(|| pos.iter().map(|s| s.to_string()).collect()),
                negs: negs.iter().map(|s| s[1..].to_ascii_lowercase()).collect(),
            });
        }
    }
    Ok((out, count))
}

/// One PEM file: chain and key, or chain with the key in `FILE.key`; its issuer from
/// `FILE.issuer` when the chain does not hold it, and the OCSP response of `FILE.ocsp`
/// (DER) to staple, checked as HAProxy checks it.
fn load_pem(p: &Path, provider: &CryptoProvider) -> Result<Ckch, CertError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(p)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|err| CertError::Pem {
            path: p.to_owned(),
            err,
        })?;
    if certs.is_empty() {
        return Err(CertError::NoCert(p.to_owned()));
    }
    let beside = |ext: &str| {
        let mut kp = p.as_os_str().to_owned();
        kp.push(ext);
        PathBuf::from(kp)
    };
    let key = match PrivateKeyDer::from_pem_file(p) {
        Ok(k) => k,
        Err(_) => PrivateKeyDer::from_pem_file(beside(".key"))
            .map_err(|_| CertError::NoKey(p.to_owned()))?,
    };
    let issuer_file = CertificateDer::pem_file_iter(beside(".issuer"))
        .ok()
        .and_then(|mut it| it.next())
        .and_then(Result::ok);
    let ck = CertifiedKey::from_der(certs, key, provider).map_err(|err| CertError::Key {
        path: p.to_owned(),
        err,
    })?;
    let mut ckch = Ckch {
        path: p.display().to_string(),
        ck: Arc::new(ck),
        issuer: issuer_file,
        plain: None,
        ocsp_expire: None,
    };
    let ocsp_path = beside(".ocsp");
    if let Ok(der) = std::fs::read(&ocsp_path) {
        let Some(id) = ckch.cert_id() else {
            return Err(CertError::OcspId(ocsp_path));
        };
        let now = ocsp::now();
        let checked = ocsp::check(&der, Some(&id), now).map_err(|err| CertError::Ocsp {
            path: ocsp_path,
            err,
        })?;
        ckch = ckch.with_ocsp(der, checked.expire);
    }
    Ok(ckch)
}

/// One certificate file as loaded (HAProxy's "ckch"): its chain and key, which
/// `show ssl cert` describes and `commit ssl cert` replaces, and the OCSP response
/// stapled with it (`ck.ocsp`).
#[derive(Debug)]
pub struct Ckch {
    /// The path as the configuration gives it (under `crt-base`, or `DIR/FILE`).
    pub path: String,
    pub ck: Arc<CertifiedKey>,
    /// The issuer's certificate from `FILE.issuer`, when the chain does not hold it.
    pub issuer: Option<CertificateDer<'static>>,
    /// The same without its OCSP response, served once the response is stale.
    plain: Option<Arc<CertifiedKey>>,
    /// When the OCSP response stops being stapled (HAProxy's `expire`).
    ocsp_expire: Option<i64>,
}

impl Ckch {
    /// A certificate file made of a chain and a key (`commit ssl cert`): fails when the key
    /// cannot sign or is not the certificate's.
    pub fn new(
        path: &str,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Ckch, rustls::Error> {
        let provider = rustls::crypto::ring::default_provider();
        let ck = CertifiedKey::from_der(chain, key, &provider)?;
        Ok(Ckch {
            path: path.to_owned(),
            ck: Arc::new(ck),
            issuer: None,
            plain: None,
            ocsp_expire: None,
        })
    }

    /// What a handshake is served: the certificate with its OCSP response, unless the
    /// response is stale (HAProxy then sends none).
    fn served_key(&self) -> Arc<CertifiedKey> {
        match (&self.plain, self.ocsp_expire) {
            (Some(p), Some(e)) if e < ocsp::now() => p.clone(),
            _ => self.ck.clone(),
        }
    }

    /// The OCSP CertID of the leaf (`None`: its issuer is neither in the chain nor in
    /// `FILE.issuer`).
    pub fn cert_id(&self) -> Option<Vec<u8>> {
        let leaf = self.ck.cert.first()?;
        let issuer = self
            .ck
            .cert
            .iter()
            .skip(1)
            .chain(self.issuer.iter())
            .find(|c| ocsp::issued_by(leaf, c))?;
        ocsp::cert_id(leaf, issuer)
    }

    /// The same certificate stapling `resp` (until `expire`) from now on.
    pub fn with_ocsp(&self, resp: Vec<u8>, expire: i64) -> Ckch {
        let mut plain = (*self.ck).clone();
        plain.ocsp = None;
        let mut ck = plain.clone();
        ck.ocsp = Some(resp);
        Ckch {
            path: self.path.clone(),
            ck: Arc::new(ck),
            issuer: self.issuer.clone(),
            plain: Some(Arc::new(plain)),
            ocsp_expire: Some(expire),
        }
    }
}

/// One certificate a bind serves, with what its crt-list line says of it.
#[derive(Debug, Clone)]
struct Served {
    ckch: Arc<Ckch>,
    /// The SNI names its crt-list line gives it (`None`: its SAN DNS names and CN).
    names: Option<Vec<String>>,
    /// The names its line excludes (`!name`).
    negs: Vec<String>,
    /// Its line's own configuration (a crt-list line with settings).
    variant: Option<Arc<Variant>>,
    /// The crt-list line it comes from.
    entry: Option<u64>,
    /// Its crt-list line's settings, which `variant` was built from.
    settings: Option<LineSettings>,
}

impl Served {
    fn plain(ck: Ckch, entry: Option<u64>) -> Served {
        Served {
            ckch: Arc::new(ck),
            names: None,
            negs: Vec::new(),
            variant: None,
            entry,
            settings: None,
        }
    }
}

/// Why `add ssl crt-list` could not configure a line on a bind.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AddError(pub String);

impl BindTls {
    /// The certificate files this bind serves now, in load order.
    pub fn cert_files(&self) -> Vec<Arc<Ckch>> {
        self.resolver
            .current()
            .served
            .iter()
            .map(|s| s.ckch.clone())
            .collect()
    }

    /// The crt-lists (and directories) this bind loaded.
    pub fn crt_lists(&self) -> &[Arc<Mutex<CrtList>>] {
        &self.lists
    }

    /// The CA (and CRL) files the configuration loaded for this bind and its crt-lists:
    /// the only ones a line added at run time may name, as in HAProxy 2.6.
    pub fn known_ca_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.ssl.ca_file.iter().cloned().collect();
        out.extend(self.ssl.crl_file.iter().cloned());
        for l in &self.lists {
            let l = l.lock().unwrap_or_else(|p| p.into_inner());
            for s in l.entries.iter().filter_map(|e| e.settings.as_ref()) {
                out.extend(s.ca_file.iter().cloned());
                out.extend(s.crl_file.iter().cloned());
                out.extend(
                    s.not_applied
                        .iter()
                        .filter(|(k, _)| k == "ca-verify-file")
                        .filter_map(|(_, a)| a.as_ref().map(PathBuf::from)),
                );
            }
        }
        out
    }

    /// Whether the bind loaded the crt-list `list`.
    pub fn uses_list(&self, list: &Arc<Mutex<CrtList>>) -> bool {
        self.lists.iter().any(|l| Arc::ptr_eq(l, list))
    }

    /// The crt-list line whose certificate is this bind's default one, unless
    /// `strict-sni` (then there is no default to keep).
    pub fn default_entry(&self) -> Option<u64> {
        if self.resolver.strict {
            return None;
        }
        self.resolver.current().served.first().and_then(|s| s.entry)
    }

    /// Where the bind line is.
    pub fn span(&self) -> crate::config::source::Span {
        self.span
    }

    /// Serves `ckch` for the new crt-list line `e` too (after the others: it is never the
    /// default), with the line's settings over the bind line's.
    pub fn add_entry(&self, e: &CrtEntry, ckch: Arc<Ckch>) -> Result<(), AddError> {
        let variant = match &e.settings {
            Some(s) => {
                // A cipher list naming nothing offered: HAProxy's words when OpenSSL
                // refuses it.
                for (list, tls13, what) in [
                    (&s.ciphers, false, "SSL cipher list"),
                    (&s.ciphersuites, true, "TLS 1.3 cipher suites"),
                ] {
                    if let Some(l) = list
                        && map_ciphers(l, tls13).0.is_empty()
                    {
                        return Err(AddError(format!(
                            "Proxy '{}': unable to set {what} to '{l}' for bind '{}' at [{}].",
                            self.fe,
                            self.addr,
                            place(self.span)
                        )));
                    }
                }
                let mut own = self.ssl.clone();
                s.apply(&mut own);
                let mut d = Diags::default();
                match server_config(self.span, &own, &self.defaults, &self.resolver, &mut d) {
                    Some(v) => Some(Arc::new(v)),
                    None => {
                        let msg = d
                            .list
                            .iter()
                            .map(|x| x.message.clone())
                            .collect::<Vec<_>>()
                            .join("\n");
                        return Err(AddError(msg));
                    }
                }
            }
            None => None,
        };
        let (pos, neg): (Vec<&String>, Vec<&String>) =
            e.filters.iter().partition(|f| !f.starts_with('!'));
        let s = Served {
            ckch,
            names: (!pos.is_empty()).then(|| pos.iter().map(|s| s.to_string()).collect()),
            negs: neg.iter().map(|s| s[1..].to_ascii_lowercase()).collect(),
            variant,
            entry: Some(e.id),
            settings: e.settings.clone(),
        };
        let _w = self.resolver.edit.lock().unwrap_or_else(|p| p.into_inner());
        let mut served = self.resolver.current().served.clone();
        served.push(s);
        self.resolver.set(served);
        Ok(())
    }

    /// Rebuilds this bind's configurations that verify client certificates against
    /// `path` (a CA or CRL file just committed); returns how many of its certificates
    /// (HAProxy's instances) use the file. Handshakes under way keep what they had.
    pub fn reload_verify(&self, kind: crate::runtime::tls_store::Kind, path: &str) -> usize {
        let uses = |ssl: &BindSsl| uses_file(ssl, kind, path);
        let r = &self.resolver;
        let _w = r.edit.lock().unwrap_or_else(|p| p.into_inner());
        let mut served = r.current().served.clone();
        let mut d = Diags::default();
        let mut n = 0;
        for s in served.iter_mut() {
            let mut own = self.ssl.clone();
            if let Some(st) = &s.settings {
                st.apply(&mut own);
            }
            if !uses(&own) {
                continue;
            }
            n += 1;
            if s.variant.is_some()
                && let Some(v) = server_config(self.span, &own, &self.defaults, r, &mut d)
            {
                s.variant = Some(Arc::new(v));
            }
        }
        if uses(&self.ssl)
            && let Some(v) = server_config(self.span, &self.ssl, &self.defaults, r, &mut d)
        {
            *self.main.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(v);
        }
        if n > 0 {
            r.set(served);
        }
        for x in &d.list {
            // The previous configuration stays where the new content is unusable.
            tracing::warn!(file = path, "{}", x.message);
        }
        n
    }

    /// How many of this bind's certificates verify client certificates against `path`.
    pub fn count_verify(&self, kind: crate::runtime::tls_store::Kind, path: &str) -> usize {
        self.resolver
            .current()
            .served
            .iter()
            .filter(|s| {
                let mut own = self.ssl.clone();
                if let Some(st) = &s.settings {
                    st.apply(&mut own);
                }
                uses_file(&own, kind, path)
            })
            .count()
    }

    /// Stops serving the certificates of crt-list line `entry`.
    pub fn remove_entry(&self, entry: u64) {
        let _w = self.resolver.edit.lock().unwrap_or_else(|p| p.into_inner());
        let mut served = self.resolver.current().served.clone();
        served.retain(|s| s.entry != Some(entry));
        self.resolver.set(served);
    }

    /// Serves `new` instead of every certificate this bind loaded from its path, with the
    /// SNI names of the new certificate (unless a crt-list line gives names); returns how
    /// many were replaced. Handshakes under way keep what they picked.
    pub fn replace_cert(&self, new: &Arc<Ckch>) -> usize {
        let r = &self.resolver;
        let _w = r.edit.lock().unwrap_or_else(|p| p.into_inner());
        let mut served = r.current().served.clone();
        let mut n = 0;
        for c in served.iter_mut().filter(|c| c.ckch.path == new.path) {
            c.ckch = new.clone();
            n += 1;
        }
        if n > 0 {
            r.set(served);
        }
        n
    }
}

/// Whether settings verify client certificates against the CA or CRL file `path`.
fn uses_file(ssl: &BindSsl, kind: crate::runtime::tls_store::Kind, path: &str) -> bool {
    use crate::runtime::tls_store::Kind;
    if matches!(ssl.verify, None | Some(Verify::None)) {
        return false;
    }
    let f = match kind {
        Kind::Ca => &ssl.ca_file,
        Kind::Crl => &ssl.crl_file,
    };
    f.as_ref().is_some_and(|p| p.display().to_string() == path)
}

/// Picks the certificate by SNI: exact names first, then wildcards, else the default
/// (the first loaded) unless `strict-sni`.
#[derive(Debug, Default)]
struct SniResolver {
    strict: bool,
    /// What handshakes consult; replaced whole by the runtime API (a read lock per
    /// handshake, uncontended but for the instant of a change).
    index: RwLock<Arc<SniIndex>>,
    /// Serializes the changes (read, modify, replace).
    edit: Mutex<()>,
}

/// The certificates of a bind and the names that pick them.
#[derive(Debug, Default)]
struct SniIndex {
    served: Vec<Served>,
    exact: HashMap<String, usize>,
    /// Keyed by what follows `*.`, in load order.
    wild: HashMap<String, Vec<usize>>,
    /// Names a crt-list line excludes from its certificate (`!name`).
    negs: Vec<Vec<String>>,
    /// Whether some certificate has a configuration of its own.
    any_variant: bool,
}

impl SniResolver {
    fn new(strict: bool) -> SniResolver {
        SniResolver {
            strict,
            ..Default::default()
        }
    }
    fn set(&self, served: Vec<Served>) {
        let idx = SniIndex::build(served);
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(idx);
    }
    fn current(&self) -> Arc<SniIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// The configuration of the certificate SNI picks, if it has its own.
    fn variant(&self, sni: Option<&str>) -> Option<Arc<Variant>> {
        let idx = self.current();
        let i = idx.pick(sni, self.strict)?;
        idx.served.get(i)?.variant.clone()
    }
}

impl SniIndex {
    fn build(served: Vec<Served>) -> SniIndex {
        let mut idx = SniIndex::default();
        for (i, s) in served.iter().enumerate() {
            let names = match &s.names {
                Some(n) => n.clone(),
                None => leaf_names(&s.ckch),
            };
            idx.add_filtered(i, names, s.negs.clone());
        }
        idx.any_variant = served.iter().any(|s| s.variant.is_some());
        idx.served = served;
        idx
    }
    fn add_filtered(&mut self, i: usize, names: Vec<String>, negs: Vec<String>) {
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
    fn pick(&self, sni: Option<&str>, strict: bool) -> Option<usize> {
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
        if strict { None } else { Some(0) }
    }
}

/// The names a loaded certificate is valid for (SAN DNS names, subject CN).
fn leaf_names(c: &Ckch) -> Vec<String> {
    c.ck.cert.first().map(|l| cert_names(l)).unwrap_or_default()
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        let i = idx.pick(hello.server_name(), self.strict);
        if i.is_none() {
            tracing::debug!(
                sni = hello.server_name().unwrap_or("-"),
                "strict-sni: no certificate for this name, handshake refused"
            );
        }
        i.and_then(|i| idx.served.get(i))
            .map(|c| c.ckch.served_key())
    }
}

/// Counts a failed handshake, logs it to the frontend's `log` targets as HAProxy does
/// (`CI:CP [DATE] FE/ID: SSL handshake failure`, info) and tells it under `-d`; never
/// fatal to the proxy.
pub fn handshake_failed(
    fe: &crate::runtime::proxy::ProxyRt,
    id: u32,
    src: Option<std::net::SocketAddr>,
    err: &std::io::Error,
) {
    HANDSHAKE_FAILURES.fetch_add(1, Ordering::Relaxed);
    fe.log
        .conn_error(&fe.name, id, src, "SSL handshake failure");
    let proxy = &*fe.name;
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
    let id = tls.id;
    let tcp = match stream {
        Stream::Fresh(Some(s)) => match tokio::net::TcpStream::from_std(s) {
            Ok(t) => t,
            Err(e) => {
                handshake_failed(fe, id, src, &e);
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
    let main = tls.main.read().unwrap_or_else(|p| p.into_inner()).clone();
    let hs = async move {
        if !tls.resolver.current().any_variant && main.no_alpn.is_none() {
            return tokio_rustls::TlsAcceptor::from(main.cfg.clone())
                .accept(tcp)
                .await;
        }
        // The ClientHello first: which certificate its SNI picks (a crt-list line may
        // have settings of its own), and whether it offers one of the bind's protocols.
        let start =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
        let hello = start.client_hello();
        let own = tls.resolver.variant(hello.server_name());
        let v = own.as_deref().unwrap_or(&main);
        let offers = hello
            .alpn()
            .map(|mut it| it.any(|p| v.cfg.alpn_protocols.iter().any(|a| a.as_slice() == p)));
        let cfg = match (offers, &v.no_alpn) {
            (Some(false), Some(n)) => n.clone(),
            _ => v.cfg.clone(),
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
            handshake_failed(fe, id, src, &e);
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
pub(crate) fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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

/// A DER element made of `tag` and `content`.
pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// One field of a certificate's TBSCertificate: (tag, contents, the whole element).
pub(crate) type TbsField<'a> = (u8, &'a [u8], &'a [u8]);

/// The fields of a certificate's TBSCertificate after its optional `[0]` version: serial,
/// signature, issuer, validity, subject, public key, then the optional ones (`[3]`
/// extensions).
pub(crate) fn tbs_fields(cert: &[u8]) -> Option<Vec<TbsField<'_>>> {
    let (0x30, c, _) = tlv(cert)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(c)? else {
        return None;
    };
    let mut fields = Vec::new();
    while let Some((tag, v, rest)) = tlv(tbs) {
        fields.push((tag, v, &tbs[..tbs.len() - rest.len()]));
        tbs = rest;
    }
    if fields.first().is_some_and(|f| f.0 == 0xa0) {
        fields.remove(0);
    }
    Some(fields)
}

/// The SAN DNS names and subject CNs of a certificate.
fn cert_names(cert: &[u8]) -> Vec<String> {
    cert_names_inner(cert).unwrap_or_default()
}

fn cert_names_inner(cert: &[u8]) -> Option<Vec<String>> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let fields = tbs_fields(cert)?;
    let (_, mut subject, _) = *fields.get(4)?;
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
    if let Some((_, exts, _)) = fields.iter().find(|(t, _, _)| *t == 0xa3)
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

    /// OpenSSL's aliases select what `openssl ciphers -s -tls1_2 LIST` (OpenSSL 3.0) selects
    /// among the suites rustls offers; unknown words are reported, as OpenSSL skips them.
    #[test]
    fn cipher_aliases_select_as_openssl() {
        let names = |list: &str| {
            let (s, bad) = map_ciphers(list, false);
            let mut n: Vec<&str> = s.iter().filter_map(|s| suite_name(s.suite())).collect();
            n.sort_unstable();
            (n.join(" "), bad)
        };
        let rsa =
            "ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305";
        let all6 = "ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 \
                    ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-AES128-GCM-SHA256 \
                    ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305"
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let table: &[(&str, &str)] = &[
            ("HIGH:!aNULL:!MD5", &all6),
            ("DEFAULT", &all6),
            ("kEECDH+aRSA", rsa),
            (
                "ECDHE+AESGCM:!ECDSA",
                "ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384",
            ),
            (
                "HIGH:!CHACHA20:!AES128",
                "ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-RSA-AES256-GCM-SHA384",
            ),
            (
                "EECDH+CHACHA20:@STRENGTH",
                "ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-CHACHA20-POLY1305",
            ),
            ("MEDIUM:LOW:RC4:SHA256", ""),
            ("aRSA:-AES", "ECDHE-RSA-CHACHA20-POLY1305"),
            (
                "!aRSA:HIGH",
                "ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305",
            ),
        ];
        for (list, want) in table {
            let (got, bad) = names(list);
            assert_eq!(&got, want, "{list}");
            assert!(bad.is_empty(), "{list}: {bad:?}");
        }
        // Moved to the end with `+`.
        let (s, _) = map_ciphers("HIGH:+aRSA", false);
        let first = s
            .first()
            .and_then(|s| suite_name(s.suite()))
            .unwrap_or_default();
        assert!(first.starts_with("ECDHE-ECDSA-"), "{first}");
        // A word OpenSSL does not know is reported; `!` of one is harmless.
        let (_, bad) = names("HIGH:NOPE+aRSA:!NOPE2");
        assert_eq!(bad, vec!["NOPE+aRSA".to_string()]);
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_default() {
        let mut r = SniIndex::default();
        r.exact.insert("a.test".into(), 0);
        r.exact.insert("b.test".into(), 1);
        r.wild.insert("w.test".into(), vec![1]);
        assert_eq!(r.pick(Some("A.Test"), false), Some(0));
        assert_eq!(r.pick(Some("x.w.test"), false), Some(1));
        assert_eq!(r.pick(Some("w.test"), false), Some(0));
        assert_eq!(r.pick(None, false), Some(0));
        assert_eq!(r.pick(Some("nope.test"), true), None);
        assert_eq!(r.pick(None, true), None);
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
    fn crt_list_line_settings_table() {
        let f = Path::new("/l.txt");
        let b = Bases::default();
        let ok = |w: &str| parse_line_settings(&w.split(' ').collect::<Vec<_>>(), f, 3, b);
        let s = ok("alpn h2,http/1.1 ssl-min-ver TLSv1.3 verify optional curves P-256 no-ca-names")
            .expect("parses");
        assert_eq!(s.alpn, Some(vec!["h2".into(), "http/1.1".into()]));
        assert_eq!(s.min_ver, Some(TlsVersion::Tls13));
        assert_eq!(s.verify, Some(Verify::Optional));
        assert_eq!(
            s.not_applied,
            vec![
                ("curves".to_string(), Some("P-256".to_string())),
                ("no-ca-names".to_string(), None)
            ]
        );
        // The line's range replaces the bind's whole range.
        let mut ssl = BindSsl {
            max_ver: Some(TlsVersion::Tls12),
            ..Default::default()
        };
        s.apply(&mut ssl);
        assert_eq!((ssl.min_ver, ssl.max_ver), (Some(TlsVersion::Tls13), None));
        for (bad, want) in [
            ("no-tlsv11", "line 3: unknown SSL setting 'no-tlsv11'"),
            ("alpn", "'alpn' expects an argument"),
            ("ssl-max-ver 1.2", "unknown TLS version"),
            ("verify maybe", "unknown verify mode"),
            ("ca-file /nonexistent/ca.pem", "unable to load ca-file"),
        ] {
            let e = ok(bad).expect_err(bad);
            assert!(e.0.contains(want), "{bad}: {e:?}");
        }
    }

    #[test]
    fn crt_list_lines_split_and_print_as_haproxy() {
        let split = |l: &str| split_list_line(l).expect("a line");
        let (c, w, f) = split("/c.pem [alpn h2 verify none] a.example !b.example");
        assert_eq!(c, "/c.pem");
        assert_eq!(
            w,
            Some(vec![
                "alpn".into(),
                "h2".into(),
                "verify".into(),
                "none".into()
            ])
        );
        assert_eq!(f, vec!["a.example".to_string(), "!b.example".to_string()]);
        assert_eq!(split("/c.pem []").1, Some(Vec::new()));
        assert_eq!(split("/c.pem x").1, None);
        // An unclosed `[`: empty settings, the rest as filters (HAProxy 2.6's reading).
        let (_, w, f) = split("/c.pem [alpn h2");
        assert_eq!(w, Some(Vec::new()));
        assert_eq!(f, vec!["alpn".to_string(), "h2".to_string()]);
        assert!(split_list_line("   ").is_none());
        let f = Path::new("/l.txt");
        let words = [
            "ssl-min-ver",
            "TLSv1.3",
            "curves",
            "P-256",
            "alpn",
            "h2,http/1.1",
        ];
        let s = parse_line_settings(&words, f, 1, Bases::default()).expect("parses");
        assert_eq!(
            s.dump(),
            " [alpn h2,http/1.1\0 curves P-256 ssl-min-ver TLSv1.3]"
        );
        assert_eq!(LineSettings::default().dump(), " []");
    }

    #[test]
    fn der_reader_survives_garbage() {
        assert!(cert_names(&[]).is_empty());
        assert!(cert_names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_empty());
        assert!(cert_names(&[0x30, 0x03, 0x30, 0x01]).is_empty());
    }
}

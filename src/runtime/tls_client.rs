//! Client-side TLS to servers, shared by the traffic path (`server ... ssl`) and the
//! health checks (`check-ssl`): the rustls client configuration built from a server
//! line's `ssl` options, with HAProxy 2.6's verification rules.
//!
//! The certificate chain is verified against `ca-file` unless `verify none`; the host
//! name is checked only when there is one to check: the SNI sent, else `verifyhost`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::model::proxy::{TlsVersion, Verify};
use crate::model::server::ServerSsl;

/// Why the TLS settings could not be built as written.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read '{path}': {err}")]
    Pem {
        path: PathBuf,
        err: rustls::pki_types::pem::Error,
    },
    #[error("'{0}' holds no certificate")]
    NoCert(PathBuf),
    #[error("'{0}' is not a host name")]
    BadName(String),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    #[error("{0}")]
    Crl(String),
}

/// The client TLS settings of a server line (for its traffic or its checks).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `verify`, after the default (`required`) is applied.
    pub verify: bool,
    pub ca_file: Option<PathBuf>,
    /// `crl-file`: CRLs the server's certificate is checked against.
    pub crl_file: Option<PathBuf>,
    /// `crt`: a client certificate and its key, in one PEM file.
    pub crt: Option<PathBuf>,
    /// A constant SNI to send (`check-sni` for checks).
    pub sni: Option<String>,
    /// `alpn`: the protocols offered.
    pub alpn: Vec<String>,
    /// `verifyhost`.
    pub verifyhost: Option<String>,
    pub min_ver: Option<TlsVersion>,
    pub max_ver: Option<TlsVersion>,
}

impl TlsSettings {
    /// The settings of a server's `ssl` options (`None`: none written, `check-sni`
    /// included); `default_verify` is the global `ssl-server-verify`.
    pub fn from_server(ssl: Option<&ServerSsl>, default_verify: Option<Verify>) -> TlsSettings {
        let d = ServerSsl::default();
        let s = ssl.unwrap_or(&d);
        TlsSettings {
            // HAProxy's default for servers is `verify required`.
            verify: s.verify.or(default_verify) != Some(Verify::None),
            ca_file: s.ca_file.clone(),
            crl_file: s.crl_file.clone(),
            crt: s.crt.clone(),
            sni: s.check_sni.clone(),
            alpn: Vec::new(),
            verifyhost: s.verifyhost.clone(),
            min_ver: s.min_ver,
            max_ver: s.max_ver,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A host name usable as SNI or as the name a certificate must carry.
pub fn server_name(n: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(n.to_string()).map_err(|_| TlsSetupError::BadName(n.into()))
}

/// The rustls client configuration of `s`. The name a certificate must carry is the
/// name handed to the connector when it is a host name (the SNI sent), else
/// `verifyhost`; with neither only the chain is checked.
pub fn client_config(s: &TlsSettings) -> Result<ClientConfig, TlsSetupError> {
    let provider = provider();
    if let Some(n) = &s.sni {
        server_name(n)?;
    }
    let verifyhost = s.verifyhost.as_deref().map(server_name).transpose()?;
    let mode = if !s.verify {
        Mode::AcceptAny
    } else {
        match &s.ca_file {
            Some(ca) => {
                let v = stored_verifier(ca, s.crl_file.as_deref(), &provider)?;
                Mode::WebPki(Box::new(Stored {
                    ca: ca.clone(),
                    crl: s.crl_file.clone(),
                    provider: provider.clone(),
                    cur: std::sync::RwLock::new((crate::runtime::tls_store::generation(), v)),
                }))
            }
            // Nothing to verify against: every handshake fails (HAProxy refuses such a
            // configuration; the caller warns).
            None => Mode::RejectAll,
        }
    };
    let verifier = Arc::new(Verifier {
        mode,
        verifyhost,
        algs: provider.signature_verification_algorithms,
    });
    let versions = versions(s.min_ver, s.max_ver);
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &s.crt {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| pem(path, err))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| pem(path, err))?;
            if certs.is_empty() {
                return Err(TlsSetupError::NoCert(path.clone()));
            }
            let key = PrivateKeyDer::from_pem_file(path).map_err(|err| pem(path, err))?;
            builder.with_client_auth_cert(certs, key)?
        }
        None => builder.with_no_client_auth(),
    };
    // rustls sends no SNI for an IP address: the connector is handed one when no SNI is
    // configured.
    config.enable_sni = true;
    config.alpn_protocols = s.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(config)
}

/// The verifier of a server's certificate from the stored CA and CRL files (the
/// configured ones, or what the runtime API committed since).
fn stored_verifier(
    ca: &Path,
    crl: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsSetupError> {
    use crate::runtime::tls_store::{self as store, Kind};
    let key = ca.display().to_string();
    let content = match store::get(Kind::Ca, &key) {
        Some(Some(c)) => c,
        _ => store::insert_loaded(
            Kind::Ca,
            &key,
            store::Content {
                certs: ca_file_certs(ca)?,
                crls: Vec::new(),
            },
        ),
    };
    let mut roots = RootCertStore::empty();
    for c in &content.certs {
        // A certificate webpki cannot take as an anchor is skipped, as a CA file with one
        // odd entry still verifies with the others.
        let _ = roots.add(c.clone());
    }
    // A ca-file with no usable certificate is refused, as HAProxy refuses it.
    if roots.is_empty() {
        return Err(TlsSetupError::NoCert(ca.to_path_buf()));
    }
    store::server_verifier(roots, crl, provider).map_err(TlsSetupError::Crl)
}

/// The certificates of a `ca-file`: one PEM file, or (as HAProxy 2.6 takes it) a
/// directory whose files are read in name order.
pub fn ca_file_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let files = if path.is_dir() {
        let rd =
            std::fs::read_dir(path).map_err(|e| pem(path, rustls::pki_types::pem::Error::Io(e)))?;
        let mut f: Vec<std::path::PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        f.sort();
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        for c in CertificateDer::pem_file_iter(&f).map_err(|err| pem(&f, err))? {
            out.push(c.map_err(|err| pem(&f, err))?);
        }
    }
    Ok(out)
}

fn pem(path: &Path, err: rustls::pki_types::pem::Error) -> TlsSetupError {
    TlsSetupError::Pem {
        path: path.to_path_buf(),
        err,
    }
}

/// rustls knows TLS 1.2 and 1.3 only; a range outside them falls back to both.
fn versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let lo = min.unwrap_or(TlsVersion::Tls12);
    let hi = max.unwrap_or(TlsVersion::Tls13);
    let mut v = Vec::new();
    if lo <= TlsVersion::Tls12 && hi >= TlsVersion::Tls12 {
        v.push(&rustls::version::TLS12);
    }
    if hi >= TlsVersion::Tls13 {
        v.push(&rustls::version::TLS13);
    }
    if v.is_empty() {
        v = rustls::ALL_VERSIONS.to_vec();
    }
    v
}

#[derive(Debug)]
enum Mode {
    /// `verify none`.
    AcceptAny,
    /// `verify required` with nothing to verify against.
    RejectAll,
    WebPki(Box<Stored>),
}

/// A verifier built from the stored CA and CRL files, rebuilt at the first handshake
/// after a commit changed them.
#[derive(Debug)]
struct Stored {
    ca: PathBuf,
    crl: Option<PathBuf>,
    provider: Arc<CryptoProvider>,
    /// (the store's generation it was built at, the verifier).
    cur: std::sync::RwLock<(u64, Arc<WebPkiServerVerifier>)>,
}

impl Stored {
    fn current(&self) -> Arc<WebPkiServerVerifier> {
        let g = crate::runtime::tls_store::generation();
        {
            let c = self.cur.read().unwrap_or_else(|p| p.into_inner());
            if c.0 == g {
                return c.1.clone();
            }
        }
        let mut c = self.cur.write().unwrap_or_else(|p| p.into_inner());
        c.0 = g;
        match stored_verifier(&self.ca, self.crl.as_deref(), &self.provider) {
            Ok(v) => c.1 = v,
            // The previous one stays where the new content is unusable.
            Err(e) => tracing::warn!(ca = %self.ca.display(), "server verifier kept: {e}"),
        }
        c.1.clone()
    }
}

/// Checks the chain (unless `verify none`) and the name only when one is expected.
#[derive(Debug)]
struct Verifier {
    mode: Mode,
    /// `verifyhost`, checked when no SNI is sent.
    verifyhost: Option<ServerName<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let v = match &self.mode {
            Mode::AcceptAny => return Ok(ServerCertVerified::assertion()),
            Mode::RejectAll => {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                ));
            }
            Mode::WebPki(s) => s.current(),
        };
        // The SNI sent, else `verifyhost`.
        if let ServerName::DnsName(_) = server_name {
            return v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        }
        if let Some(name) = &self.verifyhost {
            return v.verify_server_cert(end_entity, intermediates, name, ocsp, now);
        }
        // No name to check: webpki checks the name after the chain, so a name error
        // means the chain itself was good.
        let any = ServerName::try_from("check.invalid")
            .map_err(|_| rustls::Error::General("bad placeholder name".into()))?;
        match v.verify_server_cert(end_entity, intermediates, &any, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// TLS to one server for its traffic (`server ... ssl`): the client configuration and
/// how the SNI of each connection is found.
pub struct ServerTls {
    /// `None`: the settings could not be built (said at start); every handshake fails.
    config: Option<Arc<ClientConfig>>,
    /// `sni EXPR`, evaluated per connection (per request in HTTP mode).
    sni: Option<crate::runtime::sample::CompiledSample>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("built", &self.config.is_some())
            .field("sni", &self.sni.is_some())
            .finish()
    }
}

/// Why a server line's traffic TLS cannot be applied as written (said at start).
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    #[error("{0}; its TLS handshakes fail")]
    Setup(#[from] TlsSetupError),
    #[error("sni expression: {0}; no SNI is sent")]
    Sni(String),
}

impl ServerTls {
    /// The traffic TLS of a server whose `ssl` is enabled (`None` otherwise), with the
    /// problems to say at start.
    pub fn from_server(
        ssl: Option<&ServerSsl>,
        default_verify: Option<Verify>,
    ) -> (Option<ServerTls>, Vec<ServerTlsError>) {
        let Some(ssl) = ssl.filter(|s| s.enabled) else {
            return (None, Vec::new());
        };
        let mut errs = Vec::new();
        let mut settings = TlsSettings::from_server(Some(ssl), default_verify);
        if settings.verify && ssl.crt.is_some() {
            crate::runtime::tls_store::note_server_user(
                ssl.ca_file.as_deref(),
                ssl.crl_file.as_deref(),
            );
        }
        // `check-sni` is for checks only; the traffic's SNI comes from `sni`.
        settings.sni = None;
        settings.alpn = ssl.alpn.clone();
        let config = match client_config(&settings) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                errs.push(e.into());
                None
            }
        };
        let sni = ssl.sni.as_ref().and_then(|e| {
            crate::runtime::sample::CompiledSample::compile(e)
                .map_err(|err| errs.push(ServerTlsError::Sni(err.to_string())))
                .ok()
        });
        (Some(ServerTls { config, sni }), errs)
    }

    /// The SNI for a connection: the `sni` expression's value in `ctx` when it is a host
    /// name (as HAProxy, an empty or failed sample sends none).
    pub fn sni(&self, ctx: &crate::runtime::sample::EvalCtx) -> Option<String> {
        let v = self.sni.as_ref()?.eval_string(ctx)?;
        // A Host header may carry a port: the name is what precedes it.
        let v = match v.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => v.as_str(),
        };
        (!v.is_empty() && ServerName::try_from(v).is_ok()).then(|| v.to_string())
    }

    /// The handshake over `tcp` to `addr`, sending `sni` when there is one.
    pub async fn handshake(
        &self,
        tcp: tokio::net::TcpStream,
        addr: std::net::SocketAddr,
        sni: Option<&str>,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let Some(config) = &self.config else {
            return Err(std::io::Error::other("server TLS settings unusable"));
        };
        let name = match sni.and_then(|n| ServerName::try_from(n.to_string()).ok()) {
            Some(n) => n,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges() {
        assert_eq!(versions(None, None).len(), 2);
        assert_eq!(versions(Some(TlsVersion::Tls13), None).len(), 1);
        assert_eq!(versions(None, Some(TlsVersion::Tls12)).len(), 1);
        // Below what rustls has: both rather than none.
        assert_eq!(versions(None, Some(TlsVersion::Tls11)).len(), 2);
    }

    #[test]
    fn a_bad_sni_is_refused() {
        let s = TlsSettings {
            sni: Some("not a name".into()),
            ..TlsSettings::default()
        };
        assert!(matches!(client_config(&s), Err(TlsSetupError::BadName(_))));
    }

    #[test]
    fn alpn_is_offered() {
        let s = TlsSettings {
            alpn: vec!["http/1.1".into()],
            ..TlsSettings::default()
        };
        let c = client_config(&s).expect("config");
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}

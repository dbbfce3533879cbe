//! TLS on health checks (`check-ssl`, `tcp-check connect ssl`): the client settings a
//! server's checks use ([`CheckTls`], built from the server's `ssl` options), the
//! handshake, and the stream a check then talks over ([`CheckStream`], plain or TLS).
//!
//! As HAProxy 2.6 does for checks: the certificate chain is verified against `ca-file`
//! unless `verify none`; the host name is checked only when there is one to check (the
//! SNI sent, else `verifyhost`); SNI is sent only with `check-sni`. A failed handshake
//! is `L6RSP` "SSL handshake failure" (or, for a name mismatch, HAProxy's words for it);
//! a handshake still going at the connect deadline is `L6TOUT`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{CheckStatus, Outcome};
use crate::model::proxy::{TlsVersion, Verify};
use crate::model::server::ServerSsl;

/// HAProxy's info for a certificate that does not match the SNI sent.
const SNI_MISMATCH: &str = "Server presented an SSL certificate different from the expected one";
/// HAProxy's info for a certificate that does not match `verifyhost`.
const NAME_MISMATCH: &str = "Server presented an SSL certificate different from the configured one";
/// HAProxy's info for any other failed handshake.
const HANDSHAKE_FAILURE: &str = "SSL handshake failure";

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
}

/// What a server's TLS checks need: the client configuration and the name sent as SNI.
#[derive(Debug)]
pub struct CheckTls {
    /// `None`: the settings could not be built; every handshake fails.
    config: Option<Arc<ClientConfig>>,
    sni: Option<ServerName<'static>>,
}

/// The settings a [`CheckTls`] is built from, out of the server line.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `verify`, after the default (`required`) is applied.
    pub verify: bool,
    pub ca_file: Option<PathBuf>,
    /// `crt`: a client certificate and its key, in one PEM file.
    pub crt: Option<PathBuf>,
    /// `check-sni`.
    pub sni: Option<String>,
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
            crt: s.crt.clone(),
            sni: s.check_sni.clone(),
            verifyhost: s.verifyhost.clone(),
            min_ver: s.min_ver,
            max_ver: s.max_ver,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl CheckTls {
    /// Builds the client side from `s`.
    pub fn new(s: &TlsSettings) -> Result<CheckTls, TlsSetupError> {
        let provider = provider();
        let name = |n: &str| {
            ServerName::try_from(n.to_string()).map_err(|_| TlsSetupError::BadName(n.into()))
        };
        let sni = s.sni.as_deref().map(name).transpose()?;
        // The name the certificate must carry: the SNI sent, else `verifyhost`.
        let expected = match (&sni, s.verifyhost.as_deref()) {
            (Some(n), _) => Some(n.clone()),
            (None, Some(h)) => Some(name(h)?),
            (None, None) => None,
        };
        let mode = if !s.verify {
            Mode::AcceptAny
        } else {
            let mut roots = RootCertStore::empty();
            if let Some(ca) = &s.ca_file {
                for c in CertificateDer::pem_file_iter(ca).map_err(|err| pem(ca, err))? {
                    let c = c.map_err(|err| pem(ca, err))?;
                    // A certificate webpki cannot take as an anchor is skipped, as a
                    // CA file with one odd entry still verifies with the others.
                    let _ = roots.add(c);
                }
            }
            if roots.is_empty() {
                // Nothing to verify against: every handshake fails (HAProxy refuses
                // such a configuration; the scheduler warns).
                Mode::RejectAll
            } else {
                let v =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()?;
                Mode::WebPki(v)
            }
        };
        let verifier = Arc::new(Verifier {
            mode,
            expected,
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
        config.enable_sni = sni.is_some();
        Ok(CheckTls {
            config: Some(Arc::new(config)),
            sni,
        })
    }

    /// Settings whose every handshake fails: for a server whose TLS settings could not
    /// be built (the reason was said at start).
    pub fn failing() -> CheckTls {
        CheckTls {
            config: None,
            sni: None,
        }
    }

    /// The TLS handshake over `tcp` (to `addr`), within the caller's deadline.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
    ) -> Result<CheckStream, Outcome> {
        let name = self
            .sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
        let Some(config) = &self.config else {
            return Err(Outcome::new(CheckStatus::L6Rsp).with_info(HANDSHAKE_FAILURE));
        };
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        match connector.connect(name, tcp).await {
            Ok(s) => Ok(CheckStream::Tls(Box::new(s))),
            Err(e) => {
                Err(Outcome::new(CheckStatus::L6Rsp)
                    .with_info(handshake_info(&e, self.sni.is_some())))
            }
        }
    }
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

/// HAProxy's info for a failed handshake (`sni`: whether the name checked was the SNI).
fn handshake_info(e: &io::Error, sni: bool) -> &'static str {
    let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) if sni => SNI_MISMATCH,
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => NAME_MISMATCH,
        _ => HANDSHAKE_FAILURE,
    }
}

#[derive(Debug)]
enum Mode {
    /// `verify none`.
    AcceptAny,
    /// `verify required` with nothing to verify against.
    RejectAll,
    WebPki(Arc<WebPkiServerVerifier>),
}

/// Checks the chain (unless `verify none`) and the name only when one is expected.
#[derive(Debug)]
struct Verifier {
    mode: Mode,
    expected: Option<ServerName<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
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
            Mode::WebPki(v) => v,
        };
        if let Some(name) = &self.expected {
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

/// A check's byte stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum CheckStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl CheckStream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            CheckStream::Plain(s) => s,
            CheckStream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for CheckStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            CheckStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            CheckStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for CheckStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            CheckStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            CheckStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            CheckStream::Plain(s) => Pin::new(s).poll_flush(cx),
            CheckStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            CheckStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            CheckStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
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
    fn handshake_errors_in_haproxy_words() {
        let io = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let name = || rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(handshake_info(&io(name()), true), SNI_MISMATCH);
        assert_eq!(handshake_info(&io(name()), false), NAME_MISMATCH);
        let issuer = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(handshake_info(&io(issuer), true), HANDSHAKE_FAILURE);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(handshake_info(&eof, false), HANDSHAKE_FAILURE);
    }

    #[test]
    fn a_bad_check_sni_is_refused() {
        let s = TlsSettings {
            sni: Some("not a name".into()),
            ..TlsSettings::default()
        };
        assert!(matches!(CheckTls::new(&s), Err(TlsSetupError::BadName(_))));
    }

    #[test]
    fn verify_none_builds_without_a_ca() {
        let s = TlsSettings {
            verify: false,
            ..TlsSettings::default()
        };
        assert!(CheckTls::new(&s).is_ok());
        let _ = CheckTls::failing();
    }
}

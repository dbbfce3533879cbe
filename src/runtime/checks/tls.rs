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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::CertificateError;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{CheckStatus, Outcome};
pub use crate::runtime::tls_client::{TlsSettings, TlsSetupError};
use crate::runtime::tls_client::{client_config, server_name};

/// HAProxy's info for a certificate that does not match the SNI sent.
const SNI_MISMATCH: &str = "Server presented an SSL certificate different from the expected one";
/// HAProxy's info for a certificate that does not match `verifyhost`.
const NAME_MISMATCH: &str = "Server presented an SSL certificate different from the configured one";
/// HAProxy's info for any other failed handshake.
const HANDSHAKE_FAILURE: &str = "SSL handshake failure";

/// What a server's TLS checks need: the client configuration and the name sent as SNI.
#[derive(Debug)]
pub struct CheckTls {
    /// `None`: the settings could not be built; every handshake fails.
    config: Option<Arc<ClientConfig>>,
    sni: Option<ServerName<'static>>,
}

impl CheckTls {
    /// Builds the client side from `s`.
    pub fn new(s: &TlsSettings) -> Result<CheckTls, TlsSetupError> {
        let sni = s.sni.as_deref().map(server_name).transpose()?;
        let config = client_config(s)?;
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

//! The default check: a plain TCP connect (`L4OK`), with the PROXY header first when
//! `check-send-proxy` asks for one.
//!
//! Like HAProxy's, a check with nothing to send leaves no connection for the server's
//! application to accept: the handshake's last ACK is held back (`TCP_QUICKACK` off) and
//! the socket is reset as soon as the server's SYN-ACK arrived, so the server sees
//! SYN, SYN-ACK, RST and its logs stay free of empty connections.
//!
//! Over TLS (`check-ssl`) the check is the handshake: `L6OK` once it completed.

use std::sync::Arc;
use std::time::Duration;

use super::probe::{CheckCtx, Probe, ProbeFuture, io_info};
use super::{CheckStatus, Outcome};
use crate::model::Proxy;

/// Builds this kind's probe for the backend `p`.
pub fn probe(p: &Proxy) -> Arc<dyn Probe> {
    let _ = p;
    Arc::new(Connect)
}

/// Connects, and passes once connected (the connection is closed at once).
#[derive(Debug)]
pub struct Connect;

impl Probe for Connect {
    fn check<'a>(&'a self, ctx: &'a CheckCtx) -> ProbeFuture<'a> {
        Box::pin(async move {
            if ctx.tls_default {
                return match ctx.connect(None).await {
                    Ok(_conn) => Outcome::new(CheckStatus::L6Ok),
                    Err(o) => o,
                };
            }
            if ctx.send_proxy.is_none() {
                return half_open(ctx).await;
            }
            match ctx.connect(None).await {
                Ok(_conn) => Outcome::new(CheckStatus::L4Ok),
                Err(o) => o,
            }
        })
    }
}

/// Connects with the final ACK delayed and resets at once: `L4OK` when the server
/// answered the SYN.
async fn half_open(ctx: &CheckCtx) -> Outcome {
    let sock = match socket(ctx) {
        Ok(s) => s,
        Err(e) => return Outcome::new(CheckStatus::SockErr).with_info(io_info(&e)),
    };
    let deadline = ctx.started + ctx.connect_timeout;
    match tokio::time::timeout_at(deadline, sock.connect(ctx.addr)).await {
        Err(_) => Outcome::new(CheckStatus::L4Tout),
        Ok(Err(e)) => Outcome::new(CheckStatus::L4Con).with_info(io_info(&e)),
        Ok(Ok(stream)) => {
            // A zero linger turns the close into a reset.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            Outcome::new(CheckStatus::L4Ok)
        }
    }
}

fn socket(ctx: &CheckCtx) -> std::io::Result<tokio::net::TcpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(ctx.addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    s.set_nonblocking(true)?;
    // Best effort: without it the check still works, with a full handshake.
    let _ = s.set_tcp_quickack(false);
    Ok(tokio::net::TcpSocket::from_std_stream(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn server_never_accepts_the_check() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let ctx = CheckCtx::new(l.local_addr().unwrap(), Duration::from_secs(1), None);
        assert_eq!(Connect.check(&ctx).await.status, CheckStatus::L4Ok);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(l.accept().is_err(), "the check left a connection to accept");
    }

    #[tokio::test]
    async fn connect_passes_refused_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ctx = CheckCtx::new(l.local_addr().unwrap(), Duration::from_secs(1), None);
        assert_eq!(Connect.check(&ctx).await.status, CheckStatus::L4Ok);
        let addr = l.local_addr().unwrap();
        drop(l);
        let ctx = CheckCtx::new(addr, Duration::from_secs(1), None);
        assert_eq!(Connect.check(&ctx).await.status, CheckStatus::L4Con);
    }
}

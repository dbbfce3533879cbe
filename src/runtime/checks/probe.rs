//! What every check kind shares: the [`Probe`] trait a kind implements, the [`CheckCtx`]
//! describing one check's target and time budget, and [`CheckConn`], a connection whose
//! reads and writes end at the check's deadline.
//!
//! Time budget as HAProxy 2.6 applies it: without `timeout check`, the whole check
//! (connect and dialogue) must finish within the current interval; with it, the connect
//! gets min(`timeout connect`, interval) and the dialogue `timeout check` more. A TLS
//! handshake (`check-ssl`) is part of the connect and shares its budget.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::tls::{CheckStream, CheckTls};
use super::{CheckStatus, Outcome};
use crate::model::server::ProxyProtocol;

/// A boxed future, so kinds can live behind `dyn Probe`.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One kind of active check (`option httpchk`, `smtpchk`, `tcp-check` ...). `check`
/// connects (through [`CheckCtx::connect`]), talks, and returns the verdict; the
/// scheduler fills in the duration.
pub trait Probe: Send + Sync + fmt::Debug {
    fn check<'a>(&'a self, ctx: &'a CheckCtx) -> ProbeFuture<'a>;
}

/// The target and time budget of one check.
#[derive(Debug, Clone)]
pub struct CheckCtx {
    /// Where the check connects (`addr`/`port` applied).
    pub addr: SocketAddr,
    /// `check-send-proxy`: a PROXY header first.
    pub send_proxy: Option<ProxyProtocol>,
    /// Budget of the connect.
    pub connect_timeout: Duration,
    /// `timeout check`: budget of the dialogue after the connect; `None`: the dialogue
    /// shares the connect's budget (counted from the start).
    pub read_timeout: Option<Duration>,
    /// When the check started.
    pub started: Instant,
    /// What the scheduler knows of the server, for kinds that report or use it
    /// (`http-check send-state`, `disable-on-404`); `None` when not supplied.
    pub server: Option<ServerView>,
    /// The server's TLS settings for checks, used by connections over TLS.
    pub tls: Option<Arc<CheckTls>>,
    /// Whether the check's own connection is TLS (`check-ssl`, or a server's `ssl`
    /// when no `port`/`addr` sends the checks elsewhere).
    pub tls_default: bool,
}

/// The server as HAProxy's `X-Haproxy-Server-State` header describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerView {
    /// `UP`, `UP 1/3` (going down), `DOWN`, `DOWN 1/2` (going up), `NOLB`, `MAINT`;
    /// see [`ServerView::state_word`].
    pub state: String,
    /// Whether the server is running (up or draining): `disable-on-404` applies only then.
    pub running: bool,
    /// The `server` line's address and port.
    pub address: String,
    pub port: u16,
    /// `backend/server`.
    pub name: String,
    /// The global `node`, else the host name.
    pub node: String,
    /// The server's weight and the backend's total usable weight.
    pub weight: u32,
    pub total_weight: u32,
    /// The server's current connections and the backend's total.
    pub scur: u64,
    pub total_scur: u64,
    /// Requests waiting in the server's queue.
    pub qcur: u64,
}

impl ServerView {
    /// The state word from the rise/fall position: counts only while in transition.
    pub fn state_word(step: &super::Step, draining: bool, maint: bool) -> String {
        use super::Health;
        if maint {
            return "MAINT".into();
        }
        match step.health {
            Health::Up if draining => "NOLB".into(),
            Health::Up if step.x < step.y => format!("UP {}/{}", step.x, step.y),
            Health::Up => "UP".into(),
            Health::Down if step.x > 0 => format!("DOWN {}/{}", step.x, step.y),
            Health::Down => "DOWN".into(),
        }
    }

    /// The header's value, fields in HAProxy's order.
    pub fn header_value(&self) -> String {
        format!(
            "{}; address={}; port={}; name={}; node={}; weight={}/{}; scur={}/{}; qcur={}",
            self.state,
            self.address,
            self.port,
            self.name,
            self.node,
            self.weight,
            self.total_weight,
            self.scur,
            self.total_scur,
            self.qcur
        )
    }
}

/// Why a read or write on a check connection stopped.
#[derive(Debug, thiserror::Error)]
pub enum IoFail {
    #[error("timeout")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl CheckCtx {
    pub fn new(
        addr: SocketAddr,
        connect_timeout: Duration,
        read_timeout: Option<Duration>,
    ) -> Self {
        CheckCtx {
            addr,
            send_proxy: None,
            connect_timeout,
            read_timeout,
            started: Instant::now(),
            server: None,
            tls: None,
            tls_default: false,
        }
    }

    /// Connects to the check address (or to `port` on its host, for `tcp-check connect
    /// port N`), over TLS when the check's connection is. A failure is already the
    /// check's verdict: `L4TOUT` or `L4CON`, and for TLS `L6TOUT` or `L6RSP`.
    pub async fn connect(&self, port: Option<u16>) -> Result<CheckConn, Outcome> {
        self.connect_as(port, self.tls_default).await
    }

    /// [`CheckCtx::connect`], over TLS (with the server's settings) when `tls`.
    pub async fn connect_as(&self, port: Option<u16>, tls: bool) -> Result<CheckConn, Outcome> {
        let mut addr = self.addr;
        if let Some(p) = port {
            addr.set_port(p);
        }
        let connect_deadline = self.started + self.connect_timeout;
        let stream = match tokio::time::timeout_at(connect_deadline, TcpStream::connect(addr)).await
        {
            Err(_) => return Err(Outcome::new(CheckStatus::L4Tout)),
            Ok(Err(e)) => {
                return Err(Outcome::new(CheckStatus::L4Con).with_info(io_info(&e)));
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let mut conn = CheckConn {
            stream: CheckStream::Plain(stream),
            deadline: connect_deadline,
        };
        // The PROXY header goes first, in clear, before any TLS.
        if let Some(v) = self.send_proxy {
            let local = conn.stream.tcp().local_addr().ok();
            let hdr = proxy_header(v, local, Some(addr));
            if let Err(e) = conn.send(&hdr).await {
                return Err(Outcome::new(CheckStatus::L4Con).with_info(e.to_string()));
            }
        }
        if tls {
            let CheckStream::Plain(tcp) = conn.stream else {
                return Err(Outcome::new(CheckStatus::SockErr));
            };
            let hs = async {
                match &self.tls {
                    Some(t) => t.handshake(tcp, addr).await,
                    None => Err(Outcome::new(CheckStatus::L6Rsp)),
                }
            };
            conn.stream = match tokio::time::timeout_at(connect_deadline, hs).await {
                Err(_) => return Err(Outcome::new(CheckStatus::L6Tout)),
                Ok(r) => r?,
            };
        }
        conn.deadline = match self.read_timeout {
            Some(t) => Instant::now() + t,
            None => connect_deadline,
        };
        Ok(conn)
    }
}

/// The text HAProxy puts in `info` for a socket error (the OS's words).
pub fn io_info(e: &std::io::Error) -> String {
    // A TLS error after the handshake (an alert, a bad record): HAProxy's words.
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        return "SSL fatal error".into();
    }
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        _ => {
            let s = e.to_string();
            // "Connection refused (os error 111)" → "Connection refused"
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// A check's connection; every operation ends at the check's deadline.
#[derive(Debug)]
pub struct CheckConn {
    pub stream: CheckStream,
    pub deadline: Instant,
}

impl CheckConn {
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), IoFail> {
        match tokio::time::timeout_at(self.deadline, self.stream.write_all(bytes)).await {
            Err(_) => Err(IoFail::Timeout),
            Ok(r) => Ok(r?),
        }
    }

    /// Reads what is available into `buf` (appending, at most `max` bytes in all);
    /// `Ok(0)` is the peer's end of stream.
    pub async fn recv(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<usize, IoFail> {
        let room = max.saturating_sub(buf.len()).max(1);
        let mut chunk = vec![0u8; room.min(16384)];
        match tokio::time::timeout_at(self.deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(IoFail::Timeout),
            Ok(Err(e)) => Err(IoFail::Io(e)),
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
        }
    }

    /// Reads until `done(buf)` holds, the peer closes (returns the bytes so far), or the
    /// deadline passes.
    pub async fn recv_until(
        &mut self,
        buf: &mut Vec<u8>,
        max: usize,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), IoFail> {
        while !done(buf) && buf.len() < max {
            if self.recv(buf, max).await? == 0 {
                break;
            }
        }
        Ok(())
    }
}

/// A PROXY protocol header (v1 text or v2 binary) for a check connection: source is the
/// check's own local address, destination the server.
pub fn proxy_header(v: ProxyProtocol, src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Vec<u8> {
    crate::runtime::proxy_protocol::header(v, src, dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_v1_and_v2() {
        let s: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let d: SocketAddr = "127.0.0.2:80".parse().unwrap();
        assert_eq!(
            proxy_header(ProxyProtocol::V1, Some(s), Some(d)),
            b"PROXY TCP4 127.0.0.1 127.0.0.2 1000 80\r\n"
        );
        let v2 = proxy_header(ProxyProtocol::V2, Some(s), Some(d));
        assert_eq!(v2.len(), 16 + 12);
        assert_eq!(&v2[12..16], &[0x21, 0x11, 0, 12]);
    }

    #[tokio::test]
    async fn refused_is_l4con() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let ctx = CheckCtx::new(addr, Duration::from_secs(1), None);
        let e = ctx.connect(None).await.unwrap_err();
        assert_eq!(e.status, CheckStatus::L4Con);
        assert_eq!(e.info.as_deref(), Some("Connection refused"));
    }
}

//! Bidirectional forwarding with inactivity timeouts: TCP mode and upgraded HTTP connections
//! (WebSocket), with HAProxy's half-close handling (`timeout client-fin`/`server-fin`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stream::Stream;

/// Timeouts of a tunnel: inactivity on each side, and after a side has closed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelTimeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
}

/// How a tunnel ended, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both sides closed.
    Closed,
    ClientTimeout,
    ServerTimeout,
    ClientError,
    ServerError,
}

/// Bytes moved each way.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelStats {
    pub to_server: u64,
    pub to_client: u64,
}

/// Forwards both ways until both sides are closed or a timeout expires. `cli_pending` and
/// `srv_pending` are bytes already read from each side and not yet forwarded.
pub async fn run(
    cli: &mut Stream,
    cli_pending: &[u8],
    srv: &mut Stream,
    srv_pending: &[u8],
    t: TunnelTimeouts,
) -> (TunnelEnd, TunnelStats) {
    let mut st = TunnelStats::default();
    if !cli_pending.is_empty() {
        if srv.write_all(cli_pending).await.is_err() {
            return (TunnelEnd::ServerError, st);
        }
        st.to_server += cli_pending.len() as u64;
    }
    if !srv_pending.is_empty() {
        if cli.write_all(srv_pending).await.is_err() {
            return (TunnelEnd::ClientError, st);
        }
        st.to_client += srv_pending.len() as u64;
    }
    if cli.is_plain() && srv.is_plain() {
        return run_plain(cli, srv, t, st).await;
    }
    let (mut cr, mut cw) = tokio::io::split(cli);
    let (mut sr, mut sw) = tokio::io::split(srv);
    let mut cbuf = vec![0u8; 16384];
    let mut sbuf = vec![0u8; 16384];
    let mut cli_open = true;
    let mut srv_open = true;
    // The inactivity timeout is the smaller of the two sides' while both are open (HAProxy
    // arms both timers). Once a side has closed, the wait is on the other one, after its
    // write side was shut: `timeout server-fin` when the client closed first, `timeout
    // client-fin` when the server did (HAProxy's res->rto / req->rto switch).
    loop {
        if !cli_open && !srv_open {
            return (TunnelEnd::Closed, st);
        }
        let idle = idle_timeout(&t, cli_open, srv_open);
        let step = async {
            tokio::select! {
                r = cr.read(&mut cbuf), if cli_open => Side::Client(r),
                r = sr.read(&mut sbuf), if srv_open => Side::Server(r),
            }
        };
        let ev = match idle {
            Some(d) => match tokio::time::timeout(d, step).await {
                Ok(ev) => ev,
                Err(_) => return (timeout_end(&t, cli_open, srv_open), st),
            },
            None => step.await,
        };
        match ev {
            Side::Client(Ok(0)) => {
                cli_open = false;
                let _ = sw.shutdown().await;
            }
            Side::Client(Ok(n)) => {
                if sw.write_all(&cbuf[..n]).await.is_err() {
                    return (TunnelEnd::ServerError, st);
                }
                st.to_server += n as u64;
            }
            Side::Client(Err(_)) => return (TunnelEnd::ClientError, st),
            Side::Server(Ok(0)) => {
                srv_open = false;
                let _ = cw.shutdown().await;
            }
            Side::Server(Ok(n)) => {
                if cw.write_all(&sbuf[..n]).await.is_err() {
                    return (TunnelEnd::ClientError, st);
                }
                st.to_client += n as u64;
            }
            Side::Server(Err(_)) => return (TunnelEnd::ServerError, st),
        }
    }
}

/// [`run`] between two plain sockets: it waits for readiness without a buffer and takes
/// one only to move what has arrived, so an idle tunnel holds no buffer (HAProxy also
/// releases its buffers when they are empty); a busy one reuses the same buffer.
async fn run_plain(
    cli: &mut Stream,
    srv: &mut Stream,
    t: TunnelTimeouts,
    mut st: TunnelStats,
) -> (TunnelEnd, TunnelStats) {
    let mut cli_open = true;
    let mut srv_open = true;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if !cli_open && !srv_open {
            return (TunnelEnd::Closed, st);
        }
        let idle = idle_timeout(&t, cli_open, srv_open);
        let step = async {
            tokio::select! {
                r = cli.readable(), if cli_open => (true, r),
                r = srv.readable(), if srv_open => (false, r),
            }
        };
        let (from_cli, ready) = match idle {
            Some(d) => match tokio::time::timeout(d, step).await {
                Ok(ev) => ev,
                Err(_) => return (timeout_end(&t, cli_open, srv_open), st),
            },
            None => step.await,
        };
        let (src, dst) = if from_cli {
            (&mut *cli, &mut *srv)
        } else {
            (&mut *srv, &mut *cli)
        };
        if ready.is_err() {
            return (err_end(from_cli), st);
        }
        if buf.is_empty() {
            buf = pool_take();
        }
        match src.try_read(&mut buf) {
            Ok(0) => {
                if from_cli {
                    cli_open = false;
                } else {
                    srv_open = false;
                }
                let _ = dst.shutdown().await;
            }
            Ok(n) => {
                if dst.write_all(&buf[..n]).await.is_err() {
                    return (err_end(!from_cli), st);
                }
                if from_cli {
                    st.to_server += n as u64;
                } else {
                    st.to_client += n as u64;
                }
                // A short read drained the socket: let the buffer go while waiting.
                if n < buf.len() {
                    pool_give(std::mem::take(&mut buf));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                pool_give(std::mem::take(&mut buf));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (err_end(from_cli), st),
        }
    }
}

const TUNNEL_BUF: usize = 16384;
/// Buffers kept per thread for tunnels: a tunnel holds one only while moving bytes, so a
/// few serve every tunnel of the thread, and none is zeroed again.
const POOL_MAX: usize = 64;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn pool_take() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; TUNNEL_BUF])
}

fn pool_give(b: Vec<u8>) {
    if b.len() == TUNNEL_BUF {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(b);
            }
        });
    }
}

/// Which side's timeout ended the tunnel: the side still awaited, or with both open the
/// shorter one.
fn timeout_end(t: &TunnelTimeouts, cli_open: bool, srv_open: bool) -> TunnelEnd {
    if cli_open && !srv_open {
        TunnelEnd::ClientTimeout
    } else if srv_open && !cli_open {
        TunnelEnd::ServerTimeout
    } else if t.client <= t.server {
        TunnelEnd::ClientTimeout
    } else {
        TunnelEnd::ServerTimeout
    }
}

/// The end of a tunnel whose client side (or server side) failed.
fn err_end(client: bool) -> TunnelEnd {
    if client {
        TunnelEnd::ClientError
    } else {
        TunnelEnd::ServerError
    }
}

enum Side {
    Client(std::io::Result<usize>),
    Server(std::io::Result<usize>),
}

/// The inactivity timeout while the client and server sides are open or not (see [`run`]).
fn idle_timeout(t: &TunnelTimeouts, cli_open: bool, srv_open: bool) -> Option<Duration> {
    match (cli_open, srv_open) {
        (true, true) => min_opt(t.client, t.server),
        (false, true) => t.server_fin.or(t.server).or(t.client),
        (true, false) => t.client_fin.or(t.client).or(t.server),
        (false, false) => None,
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fin_timeouts_apply_to_the_side_still_awaited() {
        let ms = Duration::from_millis;
        let t = TunnelTimeouts {
            client: Some(ms(4000)),
            server: Some(ms(3000)),
            client_fin: Some(ms(100)),
            server_fin: Some(ms(200)),
        };
        assert_eq!(idle_timeout(&t, true, true), Some(ms(3000)));
        // The client closed: rproxy waits for the server, within server-fin.
        assert_eq!(idle_timeout(&t, false, true), Some(ms(200)));
        // The server closed: rproxy waits for the client, within client-fin.
        assert_eq!(idle_timeout(&t, true, false), Some(ms(100)));
        let plain = TunnelTimeouts {
            client_fin: None,
            server_fin: None,
            ..t
        };
        assert_eq!(idle_timeout(&plain, false, true), Some(ms(3000)));
        assert_eq!(idle_timeout(&plain, true, false), Some(ms(4000)));
    }
}

//! Listening sockets: binding every address form of `bind` before privileges are dropped,
//! then accepting under the global, frontend and bind `maxconn` limits.
//!
//! Binding is separate from serving so that a later reload can hand bound sockets to a new
//! runtime (the model is the seam; sockets are passed, not rebound).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener as StdUnixListener;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::model::types::{BindAddr, BindKind, Family};
use crate::model::{Bind, Config};

/// A socket bound and listening, not yet served.
#[derive(Debug)]
pub enum BoundSocket {
    Tcp(std::net::TcpListener),
    Unix(StdUnixListener),
}

#[derive(Debug)]
pub struct BoundListener {
    /// Index of the proxy in the model.
    pub proxy: usize,
    /// Index of the `bind` in the proxy.
    pub bind: usize,
    /// The address as written (`127.0.0.1:8080`, `unix@/run/x`).
    pub label: String,
    pub socket: BoundSocket,
    /// `accept-proxy`: connections start with a PROXY protocol header.
    pub accept_proxy: bool,
}

/// A `bind` that failed, displayed as the tail of HAProxy's alert ("frontend NAME: cannot
/// bind socket (REASON) for [ADDR]"); the caller puts `Binding [FILE:LINE] ` before it.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {proxy}: cannot bind socket ({reason}) for [{addr}]")]
pub struct BindError {
    pub kind: &'static str,
    pub proxy: String,
    pub reason: String,
    pub addr: String,
    /// Where the `bind` line is.
    pub span: crate::config::source::Span,
}

/// Binds every listener of every enabled frontend.
pub fn bind_all(cfg: &Config, default_maxconn: u32) -> Result<Vec<BoundListener>, BindError> {
    let mut out = Vec::new();
    for (pi, p) in cfg.proxies.iter().enumerate() {
        if !p.caps.frontend || p.disabled {
            continue;
        }
        let kind = if p.caps.backend { "proxy" } else { "frontend" };
        for (bi, b) in p.binds.iter().enumerate() {
            let backlog = b
                .backlog
                .or(p.backlog)
                .or(b.maxconn)
                .or(p.maxconn)
                // As HAProxy: the frontend's maxconn defaults to the global one, and the
                // kernel caps the result at net.core.somaxconn.
                .unwrap_or(default_maxconn)
                .clamp(1, 65535);
            let err = |addr: String, reason: String| BindError {
                kind,
                proxy: p.name.clone(),
                reason,
                addr,
                span: b.span,
            };
            for (label, socket) in bind_one(b, backlog).map_err(|(a, r)| err(a, r))? {
                out.push(BoundListener {
                    proxy: pi,
                    bind: bi,
                    label,
                    socket,
                    accept_proxy: b.accept_proxy,
                });
            }
        }
    }
    Ok(out)
}

type BindResult = Result<Vec<(String, BoundSocket)>, (String, String)>;

fn bind_one(b: &Bind, backlog: u32) -> BindResult {
    let label = b.addr.to_string();
    match &b.addr.kind {
        BindKind::Inet { ip, host, ports } => {
            let ips = inet_ips(&b.addr, *ip, host.as_deref()).map_err(|e| (label.clone(), e))?;
            let mut v = Vec::new();
            for ip in ips {
                for port in ports.first..=ports.last {
                    let sa = SocketAddr::new(ip, port);
                    let l = bind_tcp(sa, b, backlog).map_err(|e| (sa.to_string(), e))?;
                    v.push((sa.to_string(), BoundSocket::Tcp(l)));
                }
            }
            Ok(v)
        }
        BindKind::Unix(path) => {
            // A stale socket from an earlier run would make bind fail; HAProxy replaces it.
            if let Ok(md) = std::fs::symlink_metadata(path) {
                use std::os::unix::fs::FileTypeExt;
                if md.file_type().is_socket() {
                    let _ = std::fs::remove_file(path);
                }
            }
            let addr = SockAddr::unix(path).map_err(|e| (label.clone(), e.to_string()))?;
            let l = bind_unix(&addr, backlog).map_err(|e| (label.clone(), e))?;
            if let Some(mode) = b.unix_mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| (label.clone(), format!("cannot set mode: {e}")))?;
            }
            if b.unix_uid.is_some() || b.unix_gid.is_some() {
                nix::unistd::chown(
                    path,
                    b.unix_uid.map(nix::unistd::Uid::from_raw),
                    b.unix_gid.map(nix::unistd::Gid::from_raw),
                )
                .map_err(|e| (label.clone(), format!("cannot set owner: {e}")))?;
            }
            Ok(vec![(label, BoundSocket::Unix(l))])
        }
        BindKind::Abstract(name) => {
            let addr = abns_addr(name).map_err(|e| (label.clone(), e.to_string()))?;
            let l = bind_unix(&addr, backlog).map_err(|e| (label.clone(), e))?;
            Ok(vec![(label, BoundSocket::Unix(l))])
        }
        BindKind::Fd(n) => {
            let fd = super::inherit::take_listening_fd(*n).map_err(|e| (label.clone(), e))?;
            let sock = Socket::from(fd);
            let is_unix = sock
                .local_addr()
                .map(|a| a.domain() == Domain::UNIX)
                .unwrap_or(false);
            let socket = if is_unix {
                BoundSocket::Unix(std::os::unix::net::UnixListener::from(
                    std::os::fd::OwnedFd::from(sock),
                ))
            } else {
                BoundSocket::Tcp(sock.into())
            };
            Ok(vec![(label, socket)])
        }
        BindKind::SockPair(_) => Err((
            label,
            "sockpair@ listeners are not supported by this version".into(),
        )),
    }
}

/// Length of `sun_path` in `struct sockaddr_un` on Linux.
const SUN_PATH_LEN: usize = 108;

/// The address of abstract socket `abns@name` as HAProxy 2.6 makes it: the name padded with
/// NUL bytes to the whole `sun_path`, so peers must use the same padded address (HAProxy's
/// own `server ... abns@name` does, and so does [`super::backend`]).
pub fn abns_addr(name: &str) -> std::io::Result<SockAddr> {
    let mut path = vec![0u8; SUN_PATH_LEN];
    let n = name.as_bytes();
    if n.len() > SUN_PATH_LEN - 1 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "abstract socket name too long",
        ));
    }
    path[1..=n.len()].copy_from_slice(n);
    SockAddr::unix(std::ffi::OsStr::from_bytes(&path))
}

fn bind_unix(addr: &SockAddr, backlog: u32) -> Result<StdUnixListener, String> {
    let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| e.to_string())?;
    s.bind(addr).map_err(|e| e.to_string())?;
    // The same backlog as TCP listeners (std's bind would use SOMAXCONN).
    s.listen(backlog as i32).map_err(|e| e.to_string())?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(StdUnixListener::from(std::os::fd::OwnedFd::from(s)))
}

fn inet_ips(
    addr: &BindAddr,
    ip: Option<IpAddr>,
    host: Option<&str>,
) -> Result<Vec<IpAddr>, String> {
    if let Some(ip) = ip {
        return Ok(vec![ip]);
    }
    if let Some(h) = host {
        let found: Vec<IpAddr> = (h, 0)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve '{h}': {e}"))?
            .map(|s| s.ip())
            .filter(|ip| match addr.family {
                Family::V4 => ip.is_ipv4(),
                Family::V6 => ip.is_ipv6(),
                Family::Any => true,
            })
            .collect();
        return found
            .first()
            .map(|ip| vec![*ip])
            .ok_or_else(|| format!("cannot resolve '{h}'"));
    }
    Ok(vec![match addr.family {
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }])
}

fn bind_tcp(sa: SocketAddr, b: &Bind, backlog: u32) -> Result<std::net::TcpListener, String> {
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| e.to_string())?;
    s.set_reuse_address(true).map_err(|e| e.to_string())?;
    // SO_REUSEPORT lets a new process bind beside this one during a reload, as HAProxy does.
    let _ = s.set_reuse_port(true);
    if sa.is_ipv6() {
        if b.v6only {
            s.set_only_v6(true).map_err(|e| e.to_string())?;
        } else if b.v4v6 {
            s.set_only_v6(false).map_err(|e| e.to_string())?;
        }
    }
    if b.transparent {
        s.set_ip_transparent_v4(true)
            .map_err(|e| format!("transparent: {e}"))?;
    }
    if let Some(iface) = &b.interface {
        s.bind_device(Some(iface.as_bytes()))
            .map_err(|e| format!("interface {iface}: {e}"))?;
    }
    s.bind(&SockAddr::from(sa)).map_err(|e| os_reason(&e))?;
    s.listen(backlog as i32).map_err(|e| os_reason(&e))?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(s.into())
}

/// The system's text for an error, as strerror() gives it (without Rust's "(os error N)").
fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Makes a bound socket ready for tokio (non-blocking).
pub fn into_tokio(socket: BoundSocket) -> std::io::Result<Listener> {
    match socket {
        BoundSocket::Tcp(l) => {
            l.set_nonblocking(true)?;
            let dst = fixed_local_addr(&l);
            Ok(Listener::Tcp(super::readiness::watch_listener(l)?, dst))
        }
        BoundSocket::Unix(l) => {
            l.set_nonblocking(true)?;
            Ok(Listener::Unix(tokio::net::UnixListener::from_std(l)?))
        }
    }
}

/// The address every connection accepted on `l` is made to, when the listener's own address
/// says it: bound to one IP (not a wildcard) and not transparent. Saves a `getsockname` per
/// connection, which HAProxy does not make either.
fn fixed_local_addr(l: &std::net::TcpListener) -> Option<SocketAddr> {
    let a = l.local_addr().ok()?;
    if a.ip().is_unspecified() {
        return None;
    }
    let sock = socket2::SockRef::from(l);
    let transparent = if a.is_ipv4() {
        sock.ip_transparent_v4()
    } else {
        sock.ip_transparent_v6()
    }
    .unwrap_or(true);
    (!transparent).then_some(a)
}

#[derive(Debug)]
pub enum Listener {
    /// With the destination address of its connections when fixed ([`fixed_local_addr`]).
    /// A plain socket watched for readiness, so that accepted connections are not
    /// registered with the event loop until they need to be (see [`Stream::Fresh`]).
    ///
    /// [`Stream::Fresh`]: super::stream::Stream::Fresh
    Tcp(
        tokio::io::unix::AsyncFd<std::net::TcpListener>,
        Option<SocketAddr>,
    ),
    Unix(tokio::net::UnixListener),
}

/// An accepted connection and its addresses (none for UNIX sockets).
pub struct Accepted {
    pub stream: super::stream::Stream,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// `tcp-request connection` rules already ran (on the real addresses, before a PROXY
    /// header replaced them).
    pub conn_rules_done: bool,
}

/// Non-blocking and close-on-exec from accept4 itself, no extra calls.
fn accept_flags() -> i32 {
    (nix::sys::socket::SockFlag::SOCK_NONBLOCK | nix::sys::socket::SockFlag::SOCK_CLOEXEC).bits()
}

impl Listener {
    /// `disable frontend`: a TCP socket stops listening (the kernel refuses new
    /// connections, as with HAProxy); a UNIX one is just not accepted from.
    pub fn pause(&self) {
        if let Listener::Tcp(l, _) = self {
            let _ = socket2::SockRef::from(l.get_ref()).shutdown(std::net::Shutdown::Read);
        }
    }

    /// `enable frontend`: listening again (the backlog the kernel allows at most). The
    /// socket is registered anew: the event loop keeps reporting the shutdown otherwise.
    pub fn resume(&mut self) {
        if let Listener::Tcp(l, _) = self {
            let max = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
                .ok()
                .and_then(|v| v.trim().parse::<i32>().ok())
                .unwrap_or(4096);
            let _ = socket2::SockRef::from(l.get_ref()).listen(max);
            if let Ok(fd) = l.get_ref().try_clone()
                && let Ok(fresh) = crate::runtime::readiness::watch_listener(fd)
            {
                *l = fresh;
            }
        }
    }

    /// A connection the kernel has queued on a TCP listener, taken now without waiting
    /// for (possibly stale) readiness; None when the queue is empty or for UNIX sockets.
    /// A soft stop drains the queue with it before closing the socket, as closing resets
    /// the connections still queued.
    pub fn accept_now(&self) -> Option<std::io::Result<Accepted>> {
        let Listener::Tcp(l, fixed) = self else {
            return None;
        };
        match socket2::SockRef::from(l.get_ref()).accept4(accept_flags()) {
            Ok((s, src)) => Some(Ok(tcp_accepted(s, src, *fixed))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(e)),
        }
    }

    pub async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l, fixed) => {
                let (s, src) = loop {
                    let mut ready = l.readable().await?;
                    match ready
                        .try_io(|l| socket2::SockRef::from(l.get_ref()).accept4(accept_flags()))
                    {
                        Ok(r) => break r?,
                        Err(_would_block) => continue,
                    }
                };
                Ok(tcp_accepted(s, src, *fixed))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok(Accepted {
                    stream: super::stream::Stream::Unix(s),
                    src: None,
                    dst: None,
                    conn_rules_done: false,
                })
            }
        }
    }
}

fn tcp_accepted(s: socket2::Socket, src: socket2::SockAddr, fixed: Option<SocketAddr>) -> Accepted {
    let _ = s.set_tcp_nodelay(true);
    let src = src.as_socket();
    let s: std::net::TcpStream = s.into();
    let dst = match fixed {
        Some(a) => Some(a),
        None => s.local_addr().ok(),
    };
    Accepted {
        stream: super::stream::Stream::Fresh(Some(s)),
        // IPv4 peers of a dual-stack `:::port` socket stay IPv4-mapped
        // (`::ffff:127.0.0.1`): HAProxy 2.6 reports them so in fetches,
        // headers and logs, and its IP matching copes with them.
        src,
        dst,
        conn_rules_done: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_addresses_are_padded_like_haproxy() {
        let a = abns_addr("x").unwrap();
        // sun_family, then the whole sun_path: NUL, the name, NUL padding.
        assert_eq!(a.len() as usize, 2 + SUN_PATH_LEN);
        let path = a.as_abstract_namespace().unwrap();
        assert_eq!(path.len(), SUN_PATH_LEN - 1);
        assert_eq!(path[0], b'x');
        assert!(path[1..].iter().all(|b| *b == 0));
        assert!(abns_addr(&"n".repeat(107)).is_ok());
        assert!(abns_addr(&"n".repeat(108)).is_err());
    }
}

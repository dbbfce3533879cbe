//! The PROXY protocol (v1 text, v2 binary): the header a server receives first on a
//! connection from `send-proxy`/`send-proxy-v2`, and the one an `accept-proxy` listener
//! requires before anything else, whose addresses then stand for the client's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::model::ProxyProtocol;
use crate::runtime::stream::Stream;

/// The v2 signature, the first 12 bytes of every v2 header.
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 line is at most 107 bytes, CRLF included (the protocol's own bound).
const V1_MAX: usize = 107;
/// The largest v2 header accepted: a larger one is refused rather than buffered (HAProxy
/// also bounds it, by its buffer size).
const V2_MAX: usize = 16 + 16384;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("malformed PROXY protocol header")]
    Malformed,
    #[error("connection closed before the PROXY protocol header ended")]
    Closed,
    #[error("timeout waiting for the PROXY protocol header")]
    Timeout,
    #[error("{0}")]
    Io(String),
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Its length in bytes (what to consume from the connection).
    pub len: usize,
    /// The client's source and destination; `None` for `UNKNOWN`/`LOCAL`/unsupported
    /// families, where the connection's own addresses stay.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

/// What the bytes read so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// A header has begun, and the first `usize` bytes surely belong to it.
    Partial(usize),
    Done(Header),
}

/// Parses the start of a connection. Never reads past the header's end.
pub fn parse(buf: &[u8]) -> Result<Parse, ProxyError> {
    if buf.is_empty() {
        return Ok(Parse::Partial(0));
    }
    if buf[0] == b'P' {
        return parse_v1(buf);
    }
    if buf[0] == b'\r' {
        return parse_v2(buf);
    }
    Err(ProxyError::NotProxy)
}

fn parse_v1(buf: &[u8]) -> Result<Parse, ProxyError> {
    let pre = b"PROXY ";
    let n = buf.len().min(pre.len());
    if buf[..n] != pre[..n] {
        return Err(ProxyError::NotProxy);
    }
    let end = buf.iter().take(V1_MAX).position(|&b| b == b'\n');
    let Some(end) = end else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::Malformed);
        }
        return Ok(Parse::Partial(buf.len()));
    };
    let len = end + 1;
    let line = buf[..end]
        .strip_suffix(b"\r")
        .ok_or(ProxyError::Malformed)?;
    let text = std::str::from_utf8(&line[pre.len().min(line.len())..])
        .map_err(|_| ProxyError::Malformed)?;
    if text.starts_with("UNKNOWN") {
        return Ok(Parse::Done(Header { len, addrs: None }));
    }
    let f: Vec<&str> = text.split(' ').collect();
    let [proto, s, d, sp, dp] = f.as_slice() else {
        return Err(ProxyError::Malformed);
    };
    // As HAProxy: decimal digits, the value kept modulo 2^16 (`99999` is port 34463).
    let port = |p: &str| -> Result<u16, ProxyError> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProxyError::Malformed);
        }
        Ok(p.bytes().fold(0u32, |v, b| {
            v.wrapping_mul(10).wrapping_add(u32::from(b - b'0'))
        }) as u16)
    };
    let (sp, dp) = (port(sp)?, port(dp)?);
    let addrs = match *proto {
        "TCP4" => {
            let s: Ipv4Addr = s.parse().map_err(|_| ProxyError::Malformed)?;
            let d: Ipv4Addr = d.parse().map_err(|_| ProxyError::Malformed)?;
            (
                SocketAddr::V4(SocketAddrV4::new(s, sp)),
                SocketAddr::V4(SocketAddrV4::new(d, dp)),
            )
        }
        "TCP6" => {
            let s: Ipv6Addr = s.parse().map_err(|_| ProxyError::Malformed)?;
            let d: Ipv6Addr = d.parse().map_err(|_| ProxyError::Malformed)?;
            (
                SocketAddr::V6(SocketAddrV6::new(s, sp, 0, 0)),
                SocketAddr::V6(SocketAddrV6::new(d, dp, 0, 0)),
            )
        }
        _ => return Err(ProxyError::Malformed),
    };
    Ok(Parse::Done(Header {
        len,
        addrs: Some(addrs),
    }))
}

fn parse_v2(buf: &[u8]) -> Result<Parse, ProxyError> {
    let n = buf.len().min(V2_SIG.len());
    if buf[..n] != V2_SIG[..n] {
        return Err(ProxyError::NotProxy);
    }
    if buf.len() < 16 {
        return Ok(Parse::Partial(buf.len()));
    }
    let (ver_cmd, fam) = (buf[12], buf[13]);
    let body = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let len = 16 + body;
    if ver_cmd >> 4 != 2 || len > V2_MAX {
        return Err(ProxyError::Malformed);
    }
    if buf.len() < len {
        return Ok(Parse::Partial(buf.len()));
    }
    let b = &buf[16..len];
    let addrs = match ver_cmd & 0x0f {
        // LOCAL: the sender's own connection (a health check); addresses stay.
        0 => None,
        1 => match fam {
            0x11 => {
                if b.len() < 12 {
                    return Err(ProxyError::Malformed);
                }
                let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
                let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
                Some((
                    SocketAddr::new(IpAddr::V4(ip(0)), port(8)),
                    SocketAddr::new(IpAddr::V4(ip(4)), port(10)),
                ))
            }
            0x21 => {
                if b.len() < 36 {
                    return Err(ProxyError::Malformed);
                }
                let ip = |o: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&b[o..o + 16]);
                    Ipv6Addr::from(a)
                };
                let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
                Some((
                    SocketAddr::new(IpAddr::V6(ip(0)), port(32)),
                    SocketAddr::new(IpAddr::V6(ip(16)), port(34)),
                ))
            }
            // UNSPEC, UNIX, UDP: kept as the connection's own addresses (as HAProxy).
            _ => None,
        },
        _ => return Err(ProxyError::Malformed),
    };
    Ok(Parse::Done(Header { len, addrs }))
}

/// The header sent to a server (or a checked server): `src`/`dst` are the client's
/// connection (or the check's own). Mixed families are sent as IPv6, IPv4 mapped, and
/// anything else (UNIX sockets) as v1 `UNKNOWN` / v2 `LOCAL`.
pub fn header(v: ProxyProtocol, src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Vec<u8> {
    let pair = match (src, dst) {
        (Some(SocketAddr::V4(s)), Some(SocketAddr::V4(d))) => {
            Some((IpAddr::V4(*s.ip()), s.port(), IpAddr::V4(*d.ip()), d.port()))
        }
        (Some(s), Some(d)) => Some((
            IpAddr::V6(v6(s.ip())),
            s.port(),
            IpAddr::V6(v6(d.ip())),
            d.port(),
        )),
        _ => None,
    };
    match v {
        ProxyProtocol::V1 => match pair {
            Some((s, sp, d, dp)) => {
                let fam = if s.is_ipv4() { "TCP4" } else { "TCP6" };
                format!("PROXY {fam} {s} {d} {sp} {dp}\r\n").into_bytes()
            }
            None => b"PROXY UNKNOWN\r\n".to_vec(),
        },
        ProxyProtocol::V2 => {
            let mut h = V2_SIG.to_vec();
            match pair {
                Some((IpAddr::V4(s), sp, IpAddr::V4(d), dp)) => {
                    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
                    h.extend_from_slice(&s.octets());
                    h.extend_from_slice(&d.octets());
                    h.extend_from_slice(&sp.to_be_bytes());
                    h.extend_from_slice(&dp.to_be_bytes());
                }
                Some((s, sp, d, dp)) => {
                    h.extend_from_slice(&[0x21, 0x21, 0, 36]);
                    h.extend_from_slice(&v6(s).octets());
                    h.extend_from_slice(&v6(d).octets());
                    h.extend_from_slice(&sp.to_be_bytes());
                    h.extend_from_slice(&dp.to_be_bytes());
                }
                None => h.extend_from_slice(&[0x20, 0x00, 0, 0]),
            }
            h
        }
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Writes the header at the start of a new server connection.
pub async fn send(
    s: &mut Stream,
    v: ProxyProtocol,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
) -> std::io::Result<()> {
    s.write_all(&header(v, src, dst)).await
}

/// Looks at pending bytes without taking them (0 is a close).
async fn peek(s: &mut Stream, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let recv = |fd: std::os::fd::RawFd, buf: &mut [u8]| {
        nix::sys::socket::recv(fd, buf, nix::sys::socket::MsgFlags::MSG_PEEK)
            .map_err(std::io::Error::from)
    };
    loop {
        s.readable().await?;
        let r = match s {
            Stream::Fresh(Some(t)) => t.peek(buf),
            Stream::Tcp(t) => t.try_io(tokio::io::Interest::READABLE, || recv(t.as_raw_fd(), buf)),
            Stream::Unix(u) => u.try_io(tokio::io::Interest::READABLE, || recv(u.as_raw_fd(), buf)),
            _ => {
                return Err(std::io::Error::other(
                    "PROXY protocol on this kind of stream",
                ));
            }
        };
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Reads the header an `accept-proxy` listener requires, taking exactly its bytes from the
/// connection: what follows is left for the session. Any failure means the connection is
/// to be closed, as HAProxy does.
pub async fn receive(s: &mut Stream, timeout: Option<Duration>) -> Result<Header, ProxyError> {
    let fut = async {
        let mut got: Vec<u8> = Vec::with_capacity(64);
        let mut peeked = vec![0u8; 512];
        loop {
            let n = peek(s, &mut peeked)
                .await
                .map_err(|e| ProxyError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ProxyError::Closed);
            }
            let before = got.len();
            got.extend_from_slice(&peeked[..n]);
            let take = match parse(&got)? {
                Parse::Done(h) => {
                    let take = h.len - before;
                    s.read_exact(&mut peeked[..take])
                        .await
                        .map_err(|e| ProxyError::Io(e.to_string()))?;
                    return Ok(h);
                }
                // Every byte seen so far belongs to the header: take them all, so the next
                // peek waits for new ones.
                Parse::Partial(k) => k - before,
            };
            got.truncate(before + take);
            s.read_exact(&mut peeked[..take])
                .await
                .map_err(|e| ProxyError::Io(e.to_string()))?;
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .unwrap_or(Err(ProxyError::Timeout)),
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_round_trip() {
        let h = header(
            ProxyProtocol::V1,
            Some(sa("127.0.0.1:1000")),
            Some(sa("127.0.0.2:80")),
        );
        assert_eq!(h, b"PROXY TCP4 127.0.0.1 127.0.0.2 1000 80\r\n");
        let mut buf = h.clone();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&buf),
            Ok(Parse::Done(Header {
                len: h.len(),
                addrs: Some((sa("127.0.0.1:1000"), sa("127.0.0.2:80")))
            }))
        );
        let h6 = header(ProxyProtocol::V1, Some(sa("[::1]:5")), Some(sa("[::2]:6")));
        assert_eq!(h6, b"PROXY TCP6 ::1 ::2 5 6\r\n");
        assert!(matches!(parse(&h6), Ok(Parse::Done(_))));
    }

    #[test]
    fn v2_round_trip() {
        for (s, d) in [
            ("127.0.0.1:1000", "127.0.0.2:80"),
            ("[2001:db8::1]:1", "[::1]:443"),
        ] {
            let h = header(ProxyProtocol::V2, Some(sa(s)), Some(sa(d)));
            assert_eq!(
                parse(&h),
                Ok(Parse::Done(Header {
                    len: h.len(),
                    addrs: Some((sa(s), sa(d)))
                }))
            );
        }
        let local = header(ProxyProtocol::V2, None, None);
        assert_eq!(
            parse(&local),
            Ok(Parse::Done(Header {
                len: 16,
                addrs: None
            }))
        );
    }

    #[test]
    fn mixed_families_are_v6() {
        let h = header(
            ProxyProtocol::V1,
            Some(sa("127.0.0.1:1")),
            Some(sa("[::1]:2")),
        );
        assert_eq!(h, b"PROXY TCP6 ::ffff:127.0.0.1 ::1 1 2\r\n");
    }

    #[test]
    fn partial_and_bad() {
        assert_eq!(parse(b"PRO"), Ok(Parse::Partial(3)));
        assert_eq!(parse(b"PROXY TCP4 1.2"), Ok(Parse::Partial(14)));
        assert_eq!(parse(b"\r\n\r\n\0"), Ok(Parse::Partial(5)));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"PRIZE"), Err(ProxyError::NotProxy));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"),
            Ok(Parse::Done(Header { addrs: Some((s, _)), .. })) if s.port() == 34463
        ));
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1x 1\r\n"),
            Err(ProxyError::Malformed)
        );
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 1\n"),
            Err(ProxyError::Malformed)
        );
        assert_eq!(parse(&[b'P'; 200][..]), Err(ProxyError::NotProxy));
        let mut long = b"PROXY ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 120));
        assert_eq!(parse(&long), Err(ProxyError::Malformed));
        assert!(matches!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Parse::Done(Header {
                len: 15,
                addrs: None
            }))
        ));
    }

    /// A v2 header with 600 bytes of TLVs, sent in pieces: read whole, nothing after it.
    #[tokio::test]
    async fn receive_takes_exactly_the_header() {
        let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let mut h = header(
            ProxyProtocol::V2,
            Some(sa("10.1.2.3:4")),
            Some(sa("10.5.6.7:8")),
        );
        let body = 12 + 600;
        h[14..16].copy_from_slice(&(body as u16).to_be_bytes());
        // One TLV of type NOOP (0x04) filling the rest.
        h.extend_from_slice(&[0x04, 0x02, 0x55]);
        h.extend(std::iter::repeat_n(0u8, 597));
        let w = tokio::spawn(async move {
            for part in h.chunks(100) {
                b.write_all(part).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            b.write_all(b"rest").await.unwrap();
            b
        });
        let mut s = Stream::Unix(a);
        let got = receive(&mut s, Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!(got.len, 16 + body);
        assert_eq!(got.addrs, Some((sa("10.1.2.3:4"), sa("10.5.6.7:8"))));
        let _b = w.await.unwrap();
        let mut rest = [0u8; 4];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"rest");
    }

    #[tokio::test]
    async fn receive_times_out_and_refuses_garbage() {
        let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let mut s = Stream::Unix(a);
        let r = receive(&mut s, Some(Duration::from_millis(50))).await;
        assert_eq!(r, Err(ProxyError::Timeout));
        b.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(receive(&mut s, None).await, Err(ProxyError::NotProxy));
        drop(b);
    }

    proptest! {
        #[test]
        fn parser_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&b);
        }

        #[test]
        fn parser_never_panics_after_signature(tail in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut v2 = V2_SIG.to_vec();
            v2.extend_from_slice(&tail);
            if let Ok(Parse::Done(h)) = parse(&v2) { prop_assert!(h.len <= v2.len()); }
            let mut v1 = b"PROXY ".to_vec();
            v1.extend_from_slice(&tail);
            if let Ok(Parse::Done(h)) = parse(&v1) { prop_assert!(h.len <= v1.len()); }
        }
    }
}

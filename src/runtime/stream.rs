//! Byte streams of either side: TCP or UNIX sockets behind one type.
//!
//! An accepted client socket starts unregistered ([`Stream::Fresh`]): reads and writes go
//! straight to it, as HAProxy's speculative I/O does, and it joins the event loop only when
//! an operation would block. A short connection whose request and response each fit in one
//! call so never costs the two `epoll_ctl` calls of a registration.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

#[derive(Debug)]
pub enum Stream {
    /// A non-blocking TCP socket not registered with the event loop yet (None only for
    /// the instant of its registration).
    Fresh(Option<std::net::TcpStream>),
    Tcp(TcpStream),
    Unix(UnixStream),
    /// TLS to a server (`server ... ssl`), with the SNI it was opened with (a connection
    /// is reused only for a request that would send the same).
    SrvTls(
        Box<tokio_rustls::client::TlsStream<TcpStream>>,
        Option<Box<str>>,
    ),
    /// A client connection of a `bind ... ssl` after its handshake (boxed: the plain
    /// variants stay small).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// One HTTP/2 stream seen as an HTTP/1 connection (see [`crate::runtime::h2`]).
    Mem(Box<MemConn>),
}

/// The HTTP/1 side of an in-memory pipe standing for one HTTP/2 stream, with what the
/// `ssl_fc*` fetches say of the real client connection.
#[derive(Debug)]
pub struct MemConn {
    io: tokio::io::DuplexStream,
    /// Bytes read ahead by [`Stream::readable`] (a pipe cannot be peeked), served first.
    ahead: Vec<u8>,
    pub tls: crate::runtime::sample::ConnInfo,
}

impl MemConn {
    pub fn new(io: tokio::io::DuplexStream, tls: crate::runtime::sample::ConnInfo) -> Self {
        MemConn {
            io,
            ahead: Vec::new(),
            tls,
        }
    }
}

/// The error of a [`Stream::Fresh`] caught in the middle of its registration (cannot
/// happen: registration replaces the variant before returning).
/// One read for [`Stream::try_read_drain`]: its count goes to `got`, and a short read is
/// reported as "would block" so that `try_io` clears the readiness.
fn read_or_drained(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
    got: &mut Option<usize>,
) -> io::Result<usize> {
    let want = buf.len();
    let n = nix::sys::socket::recv(fd, buf, nix::sys::socket::MsgFlags::empty())
        .map_err(io::Error::from)?;
    *got = Some(n);
    if n > 0 && n < want {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(n)
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket being registered")
}

impl Stream {
    /// Registers a fresh socket with the event loop (a no-op for the other kinds): also for
    /// callers that read it speculatively, once a read says it is drained.
    pub fn register(&mut self) -> io::Result<()> {
        if let Stream::Fresh(s) = self {
            let std = s.take().ok_or_else(gone)?;
            *self = Stream::Tcp(TcpStream::from_std(std)?);
        }
        Ok(())
    }
    /// Reads without waiting: `Ok(0)` is a close, `WouldBlock` means nothing pending.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Fresh(s) => s.as_ref().ok_or_else(gone)?.read(buf),
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
            // Only the TLS layer knows what the bytes are: nothing to say without waiting.
            Stream::SrvTls(..) => Err(io::ErrorKind::WouldBlock.into()),
            // Only what is decrypted already: the socket is read by the async path.
            Stream::Tls(_) | Stream::Mem(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    /// Writes without waiting, to a plain socket (`WouldBlock` for the other kinds: their
    /// async write path does the work).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Fresh(s) => s.as_ref().ok_or_else(gone)?.write(buf),
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    /// [`Stream::try_read`], where a short read also forgets the socket's read readiness.
    ///
    /// A stream socket's read returns less than asked only when its queue is empty, so the
    /// next `readable` would only cost a read that fails with EAGAIN (one syscall per
    /// wake-up; HAProxy skips it the same way). The read runs inside `try_io`, which clears
    /// readiness only if no event arrived since it was sampled: data that comes after the
    /// read still wakes the next `readable` (the event loop is edge-triggered).
    pub fn try_read_drain(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        let mut got = None;
        let r = match self {
            Stream::Tcp(s) => s.try_io(Interest::READABLE, || {
                read_or_drained(s.as_raw_fd(), buf, &mut got)
            }),
            Stream::Unix(s) => s.try_io(Interest::READABLE, || {
                read_or_drained(s.as_raw_fd(), buf, &mut got)
            }),
            _ => return self.try_read(buf),
        };
        match got {
            Some(n) => Ok(n),
            None => r,
        }
    }
    /// Waits until the stream has data (or a close) to read.
    pub async fn readable(&mut self) -> io::Result<()> {
        if let Stream::Fresh(s) = self {
            // Data may be there already: no need to wait, nor to register.
            let mut probe = [0u8; 1];
            match s.as_ref().ok_or_else(gone)?.peek(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.register()?,
                _ => return Ok(()),
            }
        }
        match self {
            Stream::Fresh(_) => Ok(()),
            Stream::Tcp(s) => s.readable().await,
            Stream::Unix(s) => s.readable().await,
            Stream::Tls(s) => {
                // What was written is sent before waiting for the peer (see `poll_write`).
                std::future::poll_fn(|cx| Pin::new(s.as_mut()).poll_flush(cx)).await?;
                // Decrypted bytes already buffered are readable now; else wait for the socket
                // (a record may still be partial: the read that follows then waits).
                let (tcp, conn) = s.get_mut();
                match conn.process_new_packets() {
                    Ok(st) if st.plaintext_bytes_to_read() == 0 && !st.peer_has_closed() => {
                        tcp.readable().await
                    }
                    _ => Ok(()),
                }
            }
            // The read that follows waits (TLS records may carry no application data).
            Stream::SrvTls(..) => Ok(()),
            Stream::Mem(m) => {
                if !m.ahead.is_empty() {
                    return Ok(());
                }
                // Read ahead what comes (a close reads as nothing, and stays a close), into
                // the heap: a buffer on this future's stack would be part of every idle
                // session's state, whatever its stream kind.
                let MemConn { io, ahead, .. } = &mut **m;
                ahead.resize(4096, 0);
                let mut rb = ReadBuf::new(ahead);
                let r = std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, &mut rb)).await;
                let n = rb.filled().len();
                ahead.truncate(n);
                r
            }
        }
    }
    /// Polls a plain stream for read readiness (see [`Stream::readable`]) without the
    /// future `readable` builds: a tunnel waiting on two sockets at every event so skips
    /// adding itself to, and removing itself from, each socket's list of waiters. Other
    /// kinds report ready: their read that follows does the waiting.
    ///
    /// A fresh socket reports ready without a look: the read that follows finds out, and
    /// its caller registers the socket once that read comes up short or empty
    /// ([`Stream::register`]), as HAProxy reads a new connection speculatively.
    pub fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Fresh(_) => Poll::Ready(Ok(())),
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
            _ => Poll::Ready(Ok(())),
        }
    }
    /// Whether a registered plain socket is known readable, read without a lock and
    /// without registering a waker (None for the other kinds: poll them). A tunnel uses it
    /// for the side whose waker is still registered from its last wait: readiness and the
    /// wake-up are set together, so "not ready" means the waker is still in place.
    pub fn read_ready_now(&self) -> Option<bool> {
        use tokio::io::Interest;
        match self {
            Stream::Tcp(s) => Some(s.try_io(Interest::READABLE, || Ok(())).is_ok()),
            Stream::Unix(s) => Some(s.try_io(Interest::READABLE, || Ok(())).is_ok()),
            _ => None,
        }
    }
    /// Whether the socket is not registered with the event loop yet.
    pub fn is_fresh(&self) -> bool {
        matches!(self, Stream::Fresh(_))
    }
    /// The TCP socket under a plain TCP stream, registered with the event loop now if it was
    /// fresh, for callers that drive readiness themselves (splicing); None for other kinds.
    pub fn registered_tcp(&mut self) -> Option<&TcpStream> {
        self.register().ok()?;
        self.as_tcp()
    }
    /// The TCP socket under a registered plain TCP stream (see [`Stream::registered_tcp`]).
    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            _ => None,
        }
    }
    /// A plain socket (no TLS layer): `readable` and `try_read` tell the whole truth.
    pub fn is_plain(&self) -> bool {
        matches!(self, Stream::Fresh(_) | Stream::Tcp(_) | Stream::Unix(_))
    }
    /// The SNI a TLS server connection was opened with.
    pub fn sni(&self) -> Option<&str> {
        match self {
            Stream::SrvTls(_, n) => n.as_deref(),
            _ => None,
        }
    }
    /// Whether an idle connection is still usable: no close and no unexpected bytes pending.
    pub fn is_idle_alive(&mut self) -> bool {
        if let Stream::SrvTls(s, _) = self {
            // One read attempt that never waits: pending means nothing arrived (a TLS
            // 1.3 session ticket is taken in by rustls and reads as nothing).
            let mut b = [0u8; 1];
            let mut rb = ReadBuf::new(&mut b);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            return Pin::new(s.as_mut())
                .poll_read(&mut cx, &mut rb)
                .is_pending();
        }
        let mut b = [0u8; 1];
        matches!(self.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Stream::Fresh(s) = this {
            let s = s.as_mut().ok_or_else(gone)?;
            // At most 16 KiB zeroed per call (safe code cannot read into uninitialised
            // memory); a fresh socket is read once or twice before it registers.
            let want = buf.remaining().min(16384);
            let dst = buf.initialize_unfilled_to(want);
            match s.read(dst) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => this.register()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        match this {
            Stream::Fresh(_) => Poll::Ready(Err(gone())),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::SrvTls(s, _) => {
                // Pending output first: the caller may be waiting for an answer to it.
                if let Poll::Ready(Err(e)) = Pin::new(s.as_mut()).poll_flush(cx) {
                    return Poll::Ready(Err(e));
                }
                Pin::new(s.as_mut()).poll_read(cx, buf)
            }
            Stream::Tls(s) => {
                // Pending output first: the caller may be waiting for an answer to it.
                if let Poll::Ready(Err(e)) = Pin::new(s.as_mut()).poll_flush(cx) {
                    return Poll::Ready(Err(e));
                }
                Pin::new(s.as_mut()).poll_read(cx, buf)
            }
            Stream::Mem(m) => {
                if !m.ahead.is_empty() {
                    let n = m.ahead.len().min(buf.remaining());
                    buf.put_slice(&m.ahead[..n]);
                    m.ahead.drain(..n);
                    return Poll::Ready(Ok(()));
                }
                Pin::new(&mut m.io).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Stream::Fresh(s) = this {
            match s.as_mut().ok_or_else(gone)?.write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => this.register()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        match this {
            Stream::Fresh(_) => Poll::Ready(Err(gone())),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::SrvTls(s, _) => {
                // Callers never flush (plain sockets need not): push the records out now;
                // what the socket cannot take yet goes with the next read or write.
                let r = Pin::new(s.as_mut()).poll_write(cx, buf);
                if let Poll::Ready(Ok(n)) = r
                    && n > 0
                {
                    let _ = Pin::new(s.as_mut()).poll_flush(cx);
                }
                r
            }
            Stream::Tls(s) => {
                // Callers never flush (plain sockets need not): push the records out now;
                // what the socket cannot take yet goes with the next read or write.
                let r = Pin::new(s.as_mut()).poll_write(cx, buf);
                if let Poll::Ready(Ok(n)) = r
                    && n > 0
                {
                    let _ = Pin::new(s.as_mut()).poll_flush(cx);
                }
                r
            }
            Stream::Mem(m) => Pin::new(&mut m.io).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Fresh(_) => Poll::Ready(Ok(())),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::SrvTls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Mem(m) => Pin::new(&mut m.io).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Fresh(s) => Poll::Ready(s.as_ref().ok_or_else(gone)?.shutdown(Shutdown::Write)),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::SrvTls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Mem(m) => Pin::new(&mut m.io).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Stream::Fresh(s) = this {
            match s.as_mut().ok_or_else(gone)?.write_vectored(bufs) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => this.register()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        match this {
            Stream::Fresh(_) => Poll::Ready(Err(gone())),
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::SrvTls(s, _) => {
                // Callers never flush (plain sockets need not): push the records out now;
                // what the socket cannot take yet goes with the next read or write.
                let r = Pin::new(s.as_mut()).poll_write_vectored(cx, bufs);
                if let Poll::Ready(Ok(n)) = r
                    && n > 0
                {
                    let _ = Pin::new(s.as_mut()).poll_flush(cx);
                }
                r
            }
            Stream::Tls(s) => {
                let r = Pin::new(s.as_mut()).poll_write_vectored(cx, bufs);
                if let Poll::Ready(Ok(n)) = r
                    && n > 0
                {
                    let _ = Pin::new(s.as_mut()).poll_flush(cx);
                }
                r
            }
            Stream::Mem(m) => Pin::new(&mut m.io).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
}

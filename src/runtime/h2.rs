//! HTTP/2 to clients: a `bind ... ssl ... alpn h2` connection in HTTP mode whose client
//! agreed on `h2`, or any HTTP-mode connection opening with the HTTP/2 preface (prior
//! knowledge, which HAProxy 2.6 accepts on HTTP/1 binds as well).
//!
//! The connection is served by hyper's HTTP/2 server. Each of its streams becomes one
//! HTTP/1.1 exchange over an in-memory pipe ([`Stream::Mem`]) with the ordinary HTTP/1
//! session ([`crate::runtime::http::session::serve`]), which applies every rule, picks the
//! server, forwards, and answers errors, exactly as for an HTTP/1 client; hyper's HTTP/1
//! client speaks for the stream on the other end of the pipe. As HAProxy 2.6 converts an
//! HTTP/2 request for an HTTP/1 server: origin-form target, `:authority` as the first
//! header `host`, the `cookie` headers joined with "; ", lower-case names, a body with a
//! `content-length` when the client gave one and chunked otherwise; the hop-by-hop
//! headers of the answer are dropped.
//!
//! The client connection holds the frontend's `maxconn` slot (its streams take none);
//! at most [`MAX_STREAMS`] streams run at once; an idle connection (no stream running)
//! closes after `timeout http-request` before its first request and `timeout
//! http-keep-alive` after one (each falling back to `timeout client`), and a soft stop
//! closes it gracefully (GOAWAY, running streams end).

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::runtime::listeners::Accepted;
use crate::runtime::proxy::ProxyRt;
use crate::runtime::sample::ConnInfo;
use crate::runtime::stream::{MemConn, Stream};
use crate::runtime::{ConnGuard, Runtime};

/// Streams one connection may run at once (HAProxy's `tune.h2.max-concurrent-streams`
/// default).
pub const MAX_STREAMS: u32 = 100;

/// Why a stream could not be answered; the client sees the stream reset.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("HTTP/1 side of the stream: {0}")]
    Http1(#[from] hyper::Error),
    #[error("request not representable in HTTP/1.1: {0}")]
    Request(&'static str),
}

/// The first bytes of an HTTP/2 connection (RFC 9113 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection the HTTP/1 session found opening with [`PREFACE`] (`read`: what it read
/// of it, preface included); its connection rules ran already. Boxed with a named type:
/// the session's future and this one contain each other.
pub fn serve_upgraded<G: Send + 'static>(
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    stream: Stream,
    read: bytes::BytesMut,
    facts: ConnInfo,
    guard: G,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let io = Replay {
        read: read.freeze(),
        inner: stream,
    };
    Box::pin(run(rt, fe, io, Arc::new(facts), guard))
}

/// A stream whose first bytes were read already: they are read again first.
struct Replay {
    read: bytes::Bytes,
    inner: Stream,
}

impl tokio::io::AsyncRead for Replay {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Replay {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves one TLS client connection that agreed on `h2`; `guard` is its `maxconn` slot.
pub async fn serve(rt: Arc<Runtime>, fe: Arc<ProxyRt>, acc: Accepted, guard: ConnGuard) {
    let mut facts = ConnInfo {
        src: acc.src,
        dst: acc.dst,
        ..Default::default()
    };
    crate::runtime::tls_bind::note_conn(&mut facts, &acc.stream);
    // The connection's rules run once, here; the streams' sessions skip them.
    if !acc.conn_rules_done
        && !crate::runtime::http::session::tcp_connection_allowed(&rt, &fe, &facts)
    {
        fe.counters
            .denied
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return;
    }
    run(rt, fe, acc.stream, Arc::new(facts), guard).await;
}

/// Serves an HTTP/2 connection whose connection rules ran; `_guard` is its `maxconn` slot.
async fn run<I, G>(rt: Arc<Runtime>, fe: Arc<ProxyRt>, io: I, facts: Arc<ConnInfo>, _guard: G)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    G: Send + 'static,
{
    // Streams running, for the idle timeout.
    let (active, mut active_rx) = watch::channel(0usize);
    let active = Arc::new(active);
    let svc = {
        let (rt, fe, facts, active) = (rt.clone(), fe.clone(), facts.clone(), active.clone());
        hyper::service::service_fn(move |req| {
            let running = Running::new(active.clone());
            let fut = stream(rt.clone(), fe.clone(), facts.clone(), req);
            async move {
                // The stream runs until its answer's body is through.
                fut.await.map(|res| {
                    res.map(|inner| Counted {
                        inner,
                        _running: running,
                    })
                })
            }
        })
    };
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(rt.limits.bufsize).unwrap_or(u32::MAX))
        // HAProxy adds no Date header of its own.
        .auto_date_header(false);
    let conn = b.serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    let t = fe.timeouts;
    let first_idle = t.http_request.or(t.client);
    let later_idle = t.http_keep_alive.or(t.http_request).or(t.client);
    let mut stop = rt.stopping.subscribe();
    let mut closing = false;
    loop {
        let idle = idle_expiry(&mut active_rx, first_idle, later_idle);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(frontend = %fe.name, src = ?facts.src, "HTTP/2 connection: {e}");
                }
                return;
            }
            _ = idle => {
                // GOAWAY first; a connection still idle one period later (a client that
                // never sent its preface, which hyper waits for) is dropped.
                if closing {
                    return;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = stop.wait_for(|s| *s), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves when no stream has run for `first` before any stream, `later` after one
/// (never without a timeout).
async fn idle_expiry(
    active: &mut watch::Receiver<usize>,
    first: Option<Duration>,
    later: Option<Duration>,
) {
    let mut served = false;
    loop {
        if *active.borrow_and_update() > 0 {
            served = true;
            if active.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let Some(t) = (if served { later } else { first }) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = tokio::time::sleep(t) => return,
            r = active.changed() => {
                if r.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// Counts a running stream while alive.
struct Running(Arc<watch::Sender<usize>>);

impl Running {
    fn new(tx: Arc<watch::Sender<usize>>) -> Running {
        tx.send_modify(|n| *n += 1);
        Running(tx)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// An answer's body, counted as a running stream until it ends (a long download is not
/// idle).
struct Counted {
    inner: Incoming,
    _running: Running,
}

impl hyper::body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Aborts the HTTP/1 side of a stream the client gave up on before its answer (reset,
/// or connection gone): the session sees its client close, as with an HTTP/1 client.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// One stream: its request through an HTTP/1 session, its answer back.
async fn stream(
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    facts: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, StreamError> {
    let req = to_http1(req)?;
    let bufsize = rt.limits.bufsize.max(4096);
    let max_headers = rt.limits.max_headers;
    let (ours, theirs) = tokio::io::duplex(bufsize);
    let acc = Accepted {
        stream: Stream::Mem(Box::new(MemConn::new(theirs, (*facts).clone()))),
        src: facts.src,
        dst: facts.dst,
        conn_rules_done: true,
    };
    tokio::spawn(crate::runtime::stats::listener::scope(
        crate::runtime::stats::listener::current(),
        crate::runtime::http::session::serve(rt, fe, acc, ()),
    ));
    let (mut tx, conn) = hyper::client::conn::http1::Builder::new()
        // The session may relay as many headers as it accepts (plus its own).
        .max_headers(max_headers.saturating_add(16).max(100))
        .handshake::<_, Incoming>(TokioIo::new(ours))
        .await?;
    // The HTTP/1 side runs apart: it ends once the answer's body is through (or dropped).
    let mut side = AbortOnDrop(Some(tokio::spawn(async move {
        let _ = conn.await;
    })));
    let res = tx.send_request(req).await?;
    side.0 = None;
    Ok(to_http2(res))
}

/// The HTTP/1.1 form of an HTTP/2 request, as HAProxy writes it for a server.
fn to_http1(req: Request<Incoming>) -> Result<Request<Incoming>, StreamError> {
    let (mut parts, body) = req.into_parts();
    if parts.method == http::Method::CONNECT {
        // A tunnel over one stream is not relayed (the client sees a reset).
        return Err(StreamError::Request("CONNECT"));
    }
    let authority = parts.uri.authority().cloned();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = target
        .parse::<Uri>()
        .map_err(|_| StreamError::Request(":path"))?;
    parts.version = Version::HTTP_11;
    let mut h = HeaderMap::with_capacity(parts.headers.len() + 1);
    // `host` first, from `:authority` (which wins over a `host` header).
    let host = match &authority {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => parts.headers.get(header::HOST).cloned(),
    };
    if let Some(v) = host {
        h.insert(header::HOST, v);
    }
    // HTTP/2 may split cookies over several headers; HTTP/1 wants one (RFC 9113 8.2.3).
    let cookies: Vec<&[u8]> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let cookie = (!cookies.is_empty())
        .then(|| HeaderValue::from_bytes(&cookies.join(&b"; "[..])).ok())
        .flatten();
    let mut last: Option<HeaderName> = None;
    for (name, v) in parts.headers.drain() {
        // `drain` names a header once, then gives its further values with None.
        let name = match name {
            Some(n) => {
                last = Some(n.clone());
                n
            }
            None => match &last {
                Some(n) => n.clone(),
                None => continue,
            },
        };
        if name == header::HOST {
            continue;
        }
        if name == header::COOKIE {
            continue;
        }
        h.append(name, v);
    }
    // After the others, where HAProxy puts it.
    if let Some(c) = cookie {
        h.append(header::COOKIE, c);
    }
    parts.headers = h;
    Ok(Request::from_parts(parts, body))
}

/// The HTTP/2 form of the session's answer: its hop-by-hop headers dropped.
fn to_http2(res: Response<Incoming>) -> Response<Incoming> {
    let (mut parts, body) = res.into_parts();
    let named: Vec<String> = parts
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    for n in &named {
        parts.headers.remove(n.as_str());
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
    ] {
        parts.headers.remove(n);
    }
    parts.version = Version::HTTP_2;
    Response::from_parts(parts, body)
}

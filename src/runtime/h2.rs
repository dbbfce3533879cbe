//! HTTP/2 to clients: a `bind ... ssl ... alpn h2` connection in HTTP mode whose client
//! agreed on `h2`, or any HTTP-mode connection opening with the HTTP/2 preface (prior
//! knowledge, which HAProxy 2.6 accepts on HTTP/1 binds as well).
//!
//! The connection is served by the h2 crate's server. Each of its streams becomes one
//! HTTP/1.1 exchange over an in-memory pipe ([`Stream::Mem`]) with the ordinary HTTP/1
//! session ([`crate::runtime::http::session::serve`]), which applies every rule, picks the
//! server, forwards, and answers errors, exactly as for an HTTP/1 client; hyper's HTTP/1
//! client speaks for the stream on the other end of the pipe. As HAProxy 2.6 converts an
//! HTTP/2 request for an HTTP/1 server: origin-form target, `:authority` as the first
//! header `host`, the `cookie` headers joined with "; ", lower-case names, a body with a
//! `content-length` when the client gave one and chunked otherwise; the answer loses
//! `connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade` and
//! `te` (the headers a `connection` line names stay, as with HAProxy).
//!
//! The SETTINGS frame carries `tune.h2.header-table-size`, `initial-window-size`,
//! `max-concurrent-streams` and `max-frame-size` (see [`Settings`]) and, unless
//! `h2-workaround-bogus-websocket-clients`, SETTINGS_ENABLE_CONNECT_PROTOCOL: a
//! `CONNECT` stream with `:protocol websocket` (RFC 8441) goes to the session as an
//! HTTP/1.1 WebSocket handshake (`GET`, `upgrade: websocket`, `connection: upgrade`, a
//! random `sec-websocket-key` when the client sent none), and a `101` back becomes a
//! `200` after which the stream and the session exchange bytes (a wrong
//! `sec-websocket-accept` for rproxy's key becomes a 502). Interim answers (100, 102,
//! 103 with its fields) the session relays reach the client as HEADERS frames before
//! the final answer, as HAProxy 2.6 relays them: hyper's HTTP/1 client hands each one
//! over as it reads it, so a client waiting on `Expect: 100-continue` gets the server's
//! `100` and sends its body then.
//!
//! The client connection holds the frontend's `maxconn` slot (its streams take none);
//! at most `max-concurrent-streams` streams run at once; an idle connection (no stream running)
//! closes after `timeout http-request` before its first request and `timeout
//! http-keep-alive` after one (each falling back to `timeout client`), and a soft stop
//! closes it gracefully (GOAWAY, running streams end).

use crate::runtime::sample::conv::{base64_std, sha1};
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use crate::runtime::listeners::Accepted;
use crate::runtime::proxy::ProxyRt;
use crate::runtime::sample::ConnInfo;
use crate::runtime::stream::{MemConn, Stream};
use crate::runtime::{ConnGuard, Runtime};

/// Streams one connection may run at once (HAProxy's `tune.h2.max-concurrent-streams`
/// default).
pub const MAX_STREAMS: u32 = 100;

/// What the connection announces in its SETTINGS frame, from `tune.h2.*`,
/// `tune.bufsize` and `h2-workaround-bogus-websocket-clients`, with HAProxy 2.6's
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `None`: the RFC's 4096, not announced (as HAProxy leaves it out).
    pub header_table_size: Option<u32>,
    pub initial_window_size: u32,
    /// `None`: no limit (`tune.h2.max-concurrent-streams 0`).
    pub max_concurrent_streams: Option<u32>,
    pub max_frame_size: u32,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket over HTTP/2 (RFC 8441).
    pub connect_protocol: bool,
}

impl Settings {
    pub fn new(g: &crate::model::Global, bufsize: usize) -> Settings {
        let t = g.tune_h2;
        // Never larger than a buffer, never below the RFC's minimum.
        let buf = u32::try_from(bufsize)
            .unwrap_or(u32::MAX)
            .clamp(16384, 16_777_215);
        Settings {
            header_table_size: t.header_table_size.filter(|&n| n != 4096),
            initial_window_size: t.initial_window_size.unwrap_or(65535),
            max_concurrent_streams: match t.max_concurrent_streams {
                Some(0) => None,
                Some(n) => Some(n),
                None => Some(MAX_STREAMS),
            },
            max_frame_size: t.max_frame_size.unwrap_or(buf).clamp(16384, buf),
            connect_protocol: !g.h2_no_websocket,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new(&crate::model::Global::default(), 16384)
    }
}

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
    let mut b = h2::server::Builder::new();
    let set = rt.h2;
    b.initial_window_size(set.initial_window_size)
        // The connection's window stays at least 1 MiB (HAProxy's grows as it reads).
        .initial_connection_window_size(set.initial_window_size.max(1 << 20))
        .max_frame_size(set.max_frame_size)
        .max_header_list_size(u32::try_from(rt.limits.bufsize).unwrap_or(u32::MAX))
        // Bounds on what a misbehaving client costs (hyper's server defaults, kept).
        .max_local_error_reset_streams(Some(1024))
        .max_send_buffer_size(400 * 1024);
    if let Some(n) = set.max_concurrent_streams {
        b.max_concurrent_streams(n);
    }
    if let Some(n) = set.header_table_size {
        b.header_table_size(n);
    }
    if set.connect_protocol {
        b.enable_connect_protocol();
    }
    let t = fe.timeouts;
    let first_idle = t.http_request.or(t.client);
    let later_idle = t.http_keep_alive.or(t.http_request).or(t.client);
    let mut stop = rt.stopping.subscribe();
    let mut closing = false;
    // The handshake ends with the client's preface; a client that never sends it is
    // dropped after two idle periods, as one idle after its GOAWAY.
    let mut hs = std::pin::pin!(b.handshake::<_, bytes::Bytes>(io));
    let mut conn = loop {
        let idle = idle_expiry(&mut active_rx, first_idle, later_idle);
        tokio::select! {
            r = hs.as_mut() => match r {
                Ok(c) => break c,
                Err(e) => {
                    tracing::debug!(frontend = %fe.name, src = ?facts.src, "HTTP/2 handshake: {e}");
                    return;
                }
            },
            _ = idle => {
                if closing {
                    return;
                }
                closing = true;
            }
            _ = stop.wait_for(|s| *s), if !closing => closing = true,
        }
    };
    if closing {
        conn.graceful_shutdown();
    }
    loop {
        let idle = idle_expiry(&mut active_rx, first_idle, later_idle);
        tokio::select! {
            // Accepting also drives the connection: the streams' frames go out from here.
            r = conn.accept() => match r {
                Some(Ok((req, respond))) => {
                    let running = Running::new(active.clone());
                    tokio::spawn(answer(
                        rt.clone(),
                        fe.clone(),
                        facts.clone(),
                        req,
                        respond,
                        running,
                    ));
                }
                Some(Err(e)) => {
                    tracing::debug!(frontend = %fe.name, src = ?facts.src, "HTTP/2 connection: {e}");
                    return;
                }
                None => return,
            },
            _ = idle => {
                // GOAWAY first; a connection still idle one period later is dropped.
                if closing {
                    return;
                }
                closing = true;
                conn.graceful_shutdown();
            }
            _ = stop.wait_for(|s| *s), if !closing => {
                closing = true;
                conn.graceful_shutdown();
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

/// An answer's body: the server's (through the session), or one rproxy makes.
enum ResBody {
    Stream(Incoming),
    Full(Option<bytes::Bytes>),
}

impl hyper::body::Body for ResBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            ResBody::Stream(b) => std::pin::Pin::new(b).poll_frame(cx),
            ResBody::Full(b) => {
                std::task::Poll::Ready(b.take().map(|d| Ok(hyper::body::Frame::data(d))))
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        match self {
            ResBody::Stream(b) => b.is_end_stream(),
            ResBody::Full(b) => b.is_none(),
        }
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ResBody::Stream(b) => b.size_hint(),
            ResBody::Full(b) => {
                hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// What a stream answers: a response (its body to follow), or a WebSocket tunnel
/// (RFC 8441) between the client's stream and the server's upgraded connection.
enum Answer {
    Plain(Response<ResBody>),
    Tunnel {
        head: Response<()>,
        client: h2::RecvStream,
        server: hyper::upgrade::Upgraded,
    },
}

/// One stream from the client: its exchange through an HTTP/1 session, the interim
/// (1xx) answers relayed as they come, then the final answer and its body. A client
/// reset, or the connection gone, ends the exchange (the session sees its client close).
async fn answer(
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    facts: Arc<ConnInfo>,
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    _running: Running,
) {
    let (info_tx, mut info_rx) = tokio::sync::mpsc::unbounded_channel();
    let exchange = stream(rt, fe, facts, req, info_tx);
    let mut exchange = std::pin::pin!(exchange);
    let res = loop {
        tokio::select! {
            r = exchange.as_mut() => break r,
            Some(info) = info_rx.recv() => {
                let _ = respond.send_informational(info);
            }
            _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
        }
    };
    // The interim answers parsed before the final one, in their order.
    while let Ok(info) = info_rx.try_recv() {
        let _ = respond.send_informational(info);
    }
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("HTTP/2 stream: {e}");
            respond.send_reset(h2::Reason::INTERNAL_ERROR);
            return;
        }
    };
    match res {
        Answer::Plain(res) => {
            let (mut head, body) = res.into_parts();
            if hyper::body::Body::is_end_stream(&body) {
                let _ = respond.send_response(Response::from_parts(head, ()), true);
                return;
            }
            // A body of known size announces it (as hyper's server did before).
            if let Some(n) = hyper::body::Body::size_hint(&body).exact()
                && !head.headers.contains_key(header::CONTENT_LENGTH)
            {
                head.headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            let Ok(tx) = respond.send_response(Response::from_parts(head, ()), false) else {
                return;
            };
            pipe_body(body, tx).await;
        }
        Answer::Tunnel {
            mut head,
            client,
            server,
        } => {
            head.headers_mut().remove(header::CONTENT_LENGTH);
            let Ok(tx) = respond.send_response(head, false) else {
                return;
            };
            tunnel(client, tx, server).await;
        }
    }
}

/// Sends `data` on `tx` once the client's window has room (h2 queues what exceeds it,
/// up to its send buffer); `false` when the stream is gone.
async fn send_data(tx: &mut h2::SendStream<bytes::Bytes>, data: bytes::Bytes, eos: bool) -> bool {
    if !data.is_empty() {
        tx.reserve_capacity(data.len());
        while tx.capacity() == 0 {
            match std::future::poll_fn(|cx| tx.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                _ => return false,
            }
        }
    }
    tx.send_data(data, eos).is_ok()
}

/// The answer's body to the client, its trailers too; a client reset stops it (and
/// drops the HTTP/1 side).
async fn pipe_body(mut body: ResBody, mut tx: h2::SendStream<bytes::Bytes>) {
    use hyper::body::Body;
    loop {
        let frame = tokio::select! {
            f = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)) => f,
            _ = std::future::poll_fn(|cx| tx.poll_reset(cx)) => return,
        };
        match frame {
            None => {
                let _ = tx.send_data(bytes::Bytes::new(), true);
                return;
            }
            Some(Err(e)) => {
                tracing::debug!("HTTP/2 stream, answer's body: {e}");
                tx.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => {
                    let eos = body.is_end_stream();
                    if !send_data(&mut tx, d, eos).await || eos {
                        return;
                    }
                }
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        let _ = tx.send_trailers(t);
                        return;
                    }
                }
            },
        }
    }
}

/// A WebSocket stream's bytes both ways until both sides are done; the session on the
/// other end applies the tunnel's timeouts.
async fn tunnel(
    mut client: h2::RecvStream,
    mut tx: h2::SendStream<bytes::Bytes>,
    server: hyper::upgrade::Upgraded,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut rd, mut wr) = tokio::io::split(TokioIo::new(server));
    let up = async {
        while let Some(Ok(d)) = client.data().await {
            let _ = client.flow_control().release_capacity(d.len());
            if wr.write_all(&d).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16384];
        loop {
            let r = tokio::select! {
                r = rd.read(&mut buf) => r,
                // A client reset ends the tunnel, whatever the server does.
                _ = std::future::poll_fn(|cx| tx.poll_reset(cx)) => return,
            };
            match r {
                Ok(0) | Err(_) => {
                    let _ = tx.send_data(bytes::Bytes::new(), true);
                    return;
                }
                Ok(n) => {
                    if !send_data(&mut tx, bytes::Bytes::copy_from_slice(&buf[..n]), false).await {
                        return;
                    }
                }
            }
        }
    };
    tokio::join!(up, down);
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

/// The interim (1xx) answers relayed on one stream at the most; later ones are dropped
/// (an HTTP/1.1 client gets them all, at the pace it reads them).
const MAX_INTERIM: u32 = 100;

/// One stream: its request through an HTTP/1 session, its answer back, each interim
/// (1xx) answer the session relays sent to `info` as it comes. A WebSocket stream
/// (RFC 8441) the server accepts becomes a tunnel between the stream and the session.
async fn stream(
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    facts: Arc<ConnInfo>,
    req: Request<h2::RecvStream>,
    info: tokio::sync::mpsc::UnboundedSender<Response<()>>,
) -> Result<Answer, StreamError> {
    let websocket = req.method() == http::Method::CONNECT
        && req
            .extensions()
            .get::<h2::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    let (parts, recv) = req.into_parts();
    let (body, client_side) = if websocket {
        (ReqBody::Empty, Some(recv))
    } else {
        (ReqBody::Stream(StreamBody::new(&parts.headers, recv)), None)
    };
    let (mut req, ws_key) = to_http1(Request::from_parts(parts, body), websocket)?;
    // The frames are queued for the client without flow control: a server that never
    // stops sending 1xx must not grow that queue without bound.
    let relayed = std::sync::atomic::AtomicU32::new(0);
    hyper::ext::on_informational(&mut req, move |res| {
        let n = relayed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n >= MAX_INTERIM {
            if n == MAX_INTERIM {
                tracing::debug!("HTTP/2 stream: interim answers beyond {MAX_INTERIM} dropped");
            }
            return;
        }
        let mut head = Response::new(());
        *head.status_mut() = res.status();
        *head.headers_mut() = res.headers().clone();
        let _ = info.send(to_http2(head));
    });
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
        crate::runtime::http::session::serve(rt, fe.clone(), acc, ()),
    ));
    let (mut tx, conn) = hyper::client::conn::http1::Builder::new()
        // The session may relay as many headers as it accepts (plus its own).
        .max_headers(max_headers.saturating_add(16).max(100))
        .handshake::<_, ReqBody>(TokioIo::new(ours))
        .await?;
    // The HTTP/1 side runs apart: it ends once the answer's body is through (or dropped).
    let mut side = AbortOnDrop(Some(tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    })));
    let mut res = tx.send_request(req).await?;
    side.0 = None;
    if let Some(client) = client_side
        && res.status() == http::StatusCode::SWITCHING_PROTOCOLS
    {
        // As HAProxy, the key it made up must be answered right (RFC 6455 4.1).
        if let Some(key) = ws_key {
            let accept = res.headers().get(header::SEC_WEBSOCKET_ACCEPT);
            if accept.map(HeaderValue::as_bytes) != Some(accept_for(&key).as_bytes()) {
                return Ok(Answer::Plain(error_answer(&fe, 502)));
            }
        }
        let server = hyper::upgrade::on(&mut res).await?;
        let (parts, _) = to_http2(res).into_parts();
        let mut head = Response::from_parts(parts, ());
        // RFC 8441 5: the stream is accepted with a 2xx, not 101.
        *head.status_mut() = http::StatusCode::OK;
        return Ok(Answer::Tunnel {
            head,
            client,
            server,
        });
    }
    Ok(Answer::Plain(to_http2(res).map(ResBody::Stream)))
}

/// The client's request body, its flow-control window given back as the HTTP/1 side
/// takes it.
struct StreamBody {
    recv: h2::RecvStream,
    data_done: bool,
    /// From `content-length`: the HTTP/1 side then sends a sized body, else chunks.
    length: Option<u64>,
}

impl StreamBody {
    fn new(headers: &HeaderMap, recv: h2::RecvStream) -> StreamBody {
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        StreamBody {
            recv,
            data_done: false,
            length,
        }
    }
}

/// A request body for the HTTP/1 side: the stream's, or none for a WebSocket handshake
/// (its stream carries the tunnel's bytes, after the answer).
enum ReqBody {
    Stream(StreamBody),
    Empty,
}

impl hyper::body::Body for ReqBody {
    type Data = bytes::Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let b = match self.get_mut() {
            ReqBody::Stream(b) => b,
            ReqBody::Empty => return Poll::Ready(None),
        };
        if !b.data_done {
            match b.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(d))) => {
                    let _ = b.recv.flow_control().release_capacity(d.len());
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(d))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => b.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match b.recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(t))) => Poll::Ready(Some(Ok(hyper::body::Frame::trailers(t)))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Stream(b) => b.recv.is_end_stream(),
            ReqBody::Empty => true,
        }
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ReqBody::Stream(b) => b.length.map_or_else(
                hyper::body::SizeHint::default,
                hyper::body::SizeHint::with_exact,
            ),
            ReqBody::Empty => hyper::body::SizeHint::with_exact(0),
        }
    }
}

/// `sec-websocket-accept` for `key` (RFC 6455 4.2.2).
fn accept_for(key: &str) -> String {
    let mut text = key.as_bytes().to_vec();
    text.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64_std(&sha1(&text))
}

/// A fresh `sec-websocket-key`: 16 random bytes in base64.
fn new_ws_key() -> Option<String> {
    let mut k = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k).ok()?;
    Some(base64_std(&k))
}

/// The HTTP/1.1 form of an HTTP/2 request, as HAProxy writes it for a server; a
/// `websocket` extended CONNECT becomes an HTTP/1.1 WebSocket handshake (`GET` with
/// `upgrade: websocket`, `connection: upgrade`, and a `sec-websocket-key` when the
/// client gave none, returned to check the answer with).
fn to_http1(
    req: Request<ReqBody>,
    websocket: bool,
) -> Result<(Request<ReqBody>, Option<String>), StreamError> {
    let (mut parts, body) = req.into_parts();
    if parts.method == http::Method::CONNECT && !websocket {
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
    if !websocket {
        parts.headers = h;
        return Ok((Request::from_parts(parts, body), None));
    }
    parts.method = http::Method::GET;
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    let mut key = None;
    if !h.contains_key(header::SEC_WEBSOCKET_KEY) {
        let k = new_ws_key().ok_or(StreamError::Request("no random key"))?;
        let v = HeaderValue::from_str(&k).map_err(|_| StreamError::Request("key"))?;
        h.insert(header::SEC_WEBSOCKET_KEY, v);
        key = Some(k);
    }
    parts.headers = h;
    Ok((Request::from_parts(parts, ReqBody::Empty), key))
}

/// The frontend's page for `status` as an HTTP/2 answer.
fn error_answer(fe: &ProxyRt, status: u16) -> Response<ResBody> {
    let (raw, _) = fe
        .errors
        .reply(status)
        .render(crate::runtime::http::head::Version::H11, true);
    let split = memchr::memmem::find(&raw, b"\r\n\r\n").unwrap_or(raw.len());
    let (head, body) = raw.split_at(split);
    let body = body.get(4..).unwrap_or_default();
    let mut res = Response::new(ResBody::Full(
        (!body.is_empty()).then(|| bytes::Bytes::copy_from_slice(body)),
    ));
    *res.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    for line in head.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (n, v) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            res.headers_mut().append(n, v);
        }
    }
    to_http2(res)
}

/// The HTTP/2 form of the session's answer (final or interim): the hop-by-hop headers
/// HTTP/2 forbids dropped. As HAProxy 2.6, the headers a `connection` line names stay.
fn to_http2<B>(res: Response<B>) -> Response<B> {
    let (mut parts, body) = res.into_parts();
    const HOP: [&str; 6] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
    ];
    if HOP.iter().any(|n| parts.headers.contains_key(*n)) {
        // Rebuilt rather than removed from: `HeaderMap::remove` moves the last header
        // into the hole, and the client should see the server's order.
        let mut h = HeaderMap::with_capacity(parts.headers.len());
        let mut last: Option<HeaderName> = None;
        for (name, v) in std::mem::take(&mut parts.headers) {
            if let Some(n) = name {
                last = Some(n);
            }
            if let Some(n) = &last
                && !HOP.contains(&n.as_str())
            {
                h.append(n.clone(), v);
            }
        }
        parts.headers = h;
    }
    parts.version = Version::HTTP_2;
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Global, TuneH2};

    #[test]
    fn settings_follow_haproxy_defaults_and_caps() {
        let d = Settings::default();
        assert_eq!(d.header_table_size, None);
        assert_eq!(d.initial_window_size, 65535);
        assert_eq!(d.max_concurrent_streams, Some(100));
        assert_eq!(d.max_frame_size, 16384);
        assert!(d.connect_protocol);
        let mut g = Global {
            tune_h2: TuneH2 {
                header_table_size: Some(8192),
                initial_window_size: Some(0),
                max_concurrent_streams: Some(0),
                max_frame_size: Some(100_000),
            },
            h2_no_websocket: true,
            ..Global::default()
        };
        let s = Settings::new(&g, 16384);
        assert_eq!(s.header_table_size, Some(8192));
        assert_eq!(s.initial_window_size, 0);
        assert_eq!(s.max_concurrent_streams, None);
        // Never more than a buffer.
        assert_eq!(s.max_frame_size, 16384);
        assert!(!s.connect_protocol);
        assert_eq!(Settings::new(&g, 65536).max_frame_size, 65536);
        g.tune_h2.max_frame_size = None;
        assert_eq!(Settings::new(&g, 65536).max_frame_size, 65536);
        // A buffer below the RFC's minimum frame size still announces the minimum.
        assert_eq!(Settings::new(&g, 8192).max_frame_size, 16384);
    }

    #[test]
    fn websocket_accept_and_key() {
        // RFC 6455 1.3's example.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64_std(b"ab"), "YWI=");
        let k = new_ws_key().expect("random");
        assert_eq!(k.len(), 24);
        assert_ne!(Some(k), new_ws_key());
    }
}

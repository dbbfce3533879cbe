//! One client connection in HTTP mode: read requests (keep-alive, pipelining), apply the
//! frontend's then the backend's rules, pick a server, forward, answer errors as HAProxy does.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::codec::{self, BodyKind, ChunkDecoder, Limits};
use super::errors::{self as pages, ErrorPages, Reply};
use super::head::{RequestHead, ResponseHead, Version};
use super::rules::Verdict;
use crate::model::proxy::{HttpConnMode, HttpReuse};
use crate::runtime::Runtime;
use crate::runtime::backend::{Backend, PickError, Reuse, Slot};
use crate::runtime::balance;
use crate::runtime::checks::scheduler::Observed;
use crate::runtime::listeners::Accepted;
use crate::runtime::proxy::{BackendChoice, ProxyRt};
use crate::runtime::sample::{ConnInfo, EvalCtx, TxnInfo, Vars};
use crate::runtime::stream::Stream;
use crate::runtime::tunnel::{self, TunnelTimeouts};
use crate::runtime::txnlog::TxnLog;

/// Whether the client connection goes on after a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

/// A server connection kept for the session's next request (HAProxy's private connection,
/// as every connection is with `http-reuse never`).
struct Held {
    be: Arc<Backend>,
    idx: usize,
    stream: Stream,
    /// Requests it has served.
    served: u32,
}

/// Why reading a request head ended without a request.
enum HeadEnd {
    /// Nothing to answer: the client closed, or an idle keep-alive connection timed out.
    Quiet,
    /// Answer with this status as HAProxy's HTTP/1 layer does, and close.
    Reply(u16),
}

/// Body transfer failures, by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyErr {
    SrcTimeout,
    SrcClosed,
    SrcInvalid,
    /// Invalid before anything was written to the destination.
    SrcInvalidEarly,
    DstFailed,
}

struct Session {
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    conn: ConnInfo,
    cli: Stream,
    cbuf: BytesMut,
    sbuf: BytesMut,
    held: Option<Held>,
    nreq: u64,
    accept_ms: u64,
    /// Whether a byte of the current transaction's response went to the client (after
    /// which a hard stop can only close, not answer 502).
    resp_started: bool,
    /// The current request's version and whether the client connection must close after
    /// it: what an error answer needs to know (see [`Session::reply_error`]).
    req_version: Version,
    req_close: bool,
    /// What is left unread of the current request's body.
    body_left: BodyKind,
    /// The client opened with the HTTP/2 preface: the connection goes to runtime/h2.rs.
    h2_upgrade: bool,
    /// The current transaction's traffic log record (see `runtime::txnlog`).
    log: Box<TxnLog>,
    /// When the current response head arrived, for the stats' response time.
    stat_resp_at: Option<std::time::Instant>,
}

/// Serves one client connection; `_guard` is released when it ends (a
/// [`crate::runtime::ConnGuard`], or `()` for an HTTP/2 stream, whose connection holds it).
pub async fn serve<G: Send + 'static>(
    rt: Arc<Runtime>,
    fe: Arc<ProxyRt>,
    acc: Accepted,
    _guard: G,
) {
    let mut conn = ConnInfo {
        src: acc.src,
        dst: acc.dst,
        ..Default::default()
    };
    crate::runtime::tls_bind::note_conn(&mut conn, &acc.stream);
    let accept_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if !acc.conn_rules_done && !tcp_connection_allowed(&rt, &fe, &conn) {
        crate::runtime::stats::counters::conn_denied(&fe);
        return;
    }
    fe.log.on_accept(&fe.name, &conn);
    let mut s = Session {
        rt,
        fe,
        conn,
        cli: acc.stream,
        // Buffers grow on demand (4 KiB steps) and are released between requests, so an idle
        // keep-alive connection holds none, as with HAProxy's on-demand buffers. The first
        // request's bytes usually come with the connection: its buffer is taken at once.
        cbuf: BytesMut::with_capacity(4096),
        sbuf: BytesMut::new(),
        held: None,
        nreq: 0,
        accept_ms,
        resp_started: false,
        req_version: Version::H11,
        req_close: false,
        body_left: BodyKind::None,
        h2_upgrade: false,
        log: Box::default(),
        stat_resp_at: None,
    };
    s.run().await;
    if s.h2_upgrade {
        crate::runtime::h2::serve_upgraded(s.rt, s.fe, s.cli, s.cbuf, s.conn, _guard).await;
    }
}

pub(crate) fn tcp_connection_allowed(rt: &Runtime, fe: &ProxyRt, conn: &ConnInfo) -> bool {
    if fe.tcp_connection.is_empty() {
        return true;
    }
    let info = TxnInfo {
        frontend: fe.name.clone(),
        pid: rt.pid,
        ..Default::default()
    };
    let vars = Vars::default();
    let ctx = EvalCtx {
        conn,
        req: None,
        res: None,
        vars: &vars,
        info: &info,
    };
    for r in &fe.tcp_connection {
        if r.cond.as_ref().is_none_or(|c| c.eval(&ctx)) {
            return r.accept;
        }
    }
    true
}

/// With `option redispatch [N]`, whether retry number `attempt` goes to another server:
/// N > 0 every Nth retry, N < 0 every (retries + 1 + N)th retry (default -1: the last).
pub fn redispatch_now(be: &ProxyRt, attempt: u32) -> bool {
    let Some(n) = be.options.redispatch else {
        return false;
    };
    let retries = be.retries as i64;
    let attempt = attempt as i64;
    let every = if n > 0 {
        i64::from(n)
    } else if n < 0 {
        retries + 1 + i64::from(n)
    } else {
        return false;
    };
    every > 0 && attempt % every == 0
}

/// Whether `option redispatch` is on. An interval of 0 only turns off the redispatch at an
/// interval: HAProxy 2.6.12 still redispatches a down server's retries and those of a
/// backend that is not balanced by a hash (observed).
pub fn redispatch_enabled(be: &ProxyRt) -> bool {
    be.options.redispatch.is_some()
}

/// A redispatched retry away from server `prev` was assigned server `new` (`None`: none):
/// as HAProxy, a redispatch is counted (`wredis` of `prev` and of the backend) only when
/// the server changed, else a retry (`wretr`). Returns whether it changed.
pub fn count_reassignment(bpx: &ProxyRt, be: &Backend, prev: usize, new: Option<usize>) -> bool {
    let changed = new != Some(prev);
    crate::runtime::stats::counters::reassigned(be, prev, changed);
    let n = if changed {
        &bpx.counters.redispatches
    } else {
        &bpx.counters.retries
    };
    n.fetch_add(1, Ordering::Relaxed);
    changed
}

/// After failed connection attempt number `attempt` to server `idx`: whether the retry is
/// redispatched (assigned again, away from `idx`) rather than made on the same server, and
/// the pause before it, as HAProxy 2.6 decides (`stream_choose_redispatch`,
/// `back_handle_st_cer`). With `option redispatch`, a retry is redispatched when the server
/// is down, at the configured interval, or every time with an algorithm that is not a hash
/// over several active servers (unless the server was named by `use-server` or a cookie).
/// The pause, min(1 s, `timeout connect`), follows a refused (not a timed-out) attempt,
/// except when the retry is redispatched over several active servers (observed with
/// 2.6.12: then it goes at once, even when a map-based hash brings it back to the same
/// server; with one active server, a redispatched retry pauses too).
pub fn retry_plan(
    bpx: &ProxyRt,
    be: &Backend,
    idx: usize,
    attempt: u32,
    direct: bool,
    err: &std::io::Error,
) -> (bool, Option<Duration>) {
    let spread = be.round_robin_kind() && be.active_servers() > 1;
    let redispatch = redispatch_enabled(bpx)
        && (be.servers.get(idx).is_some_and(|s| !s.usable())
            || redispatch_now(bpx, attempt)
            || (!direct && spread));
    let timed_out = err.kind() == std::io::ErrorKind::TimedOut;
    let pause = (!(timed_out || redispatch && be.active_servers() > 1)).then(|| {
        bpx.timeouts
            .connect
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    });
    (redispatch, pause)
}

async fn with_timeout<F: std::future::Future>(t: Option<Duration>, f: F) -> Option<F::Output> {
    match t {
        Some(d) => tokio::time::timeout(d, f).await.ok(),
        None => Some(f.await),
    }
}

async fn read_more(s: &mut Stream, buf: &mut BytesMut) -> std::io::Result<usize> {
    if buf.capacity() == 0 {
        // An idle connection holds no buffer: wait for bytes before taking one.
        s.readable().await?;
    }
    if buf.capacity() - buf.len() < 1024 {
        // Bigger steps once a buffer has proven busy (bodies), small ones for heads.
        let step = if buf.capacity() >= 8192 { 16384 } else { 4096 };
        buf.reserve(step);
    }
    s.read_buf(buf).await
}

impl Session {
    async fn run(&mut self) {
        let mut stop = self.rt.stopping.subscribe();
        let mut killed = self.rt.killed.subscribe();
        loop {
            // Boxed (as the transaction and the rare paths below): an async fn's state is as
            // large as its largest await, so each large part lives on the heap only while it
            // runs, and an idle keep-alive session stays small.
            let head = match Box::pin(self.read_head(&mut stop)).await {
                Ok(h) => h,
                Err(HeadEnd::Quiet) => {
                    // Only a first request closed before any byte is logged (see
                    // `read_head`).
                    if self.log.cause == b'C' {
                        self.end_txn();
                    }
                    break;
                }
                Err(HeadEnd::Reply(code)) => {
                    Box::pin(self.send_mux_error(code)).await;
                    self.end_txn();
                    break;
                }
            };
            self.resp_started = false;
            // Emptied buffers are released after it, as HAProxy releases its own.
            // `hard-stop-after` expiring during a soft stop kills the transaction: like
            // HAProxy, a client still waiting for its response gets a 502.
            let next = if self.rt.hard_stop_after.is_some() {
                Box::pin(async {
                    tokio::select! {
                        n = self.transaction(head) => Some(n),
                        _ = killed.wait_for(|k| *k) => None,
                    }
                })
                .await
            } else {
                Some(Box::pin(self.transaction(head)).await)
            };
            let Some(next) = next else {
                self.log.fail(b'K');
                if !self.resp_started {
                    self.log.status = Some(502);
                    let fe = self.fe.clone();
                    fe.counters.status(502);
                    let page = with_connection(&fe.errors.get(502), true);
                    let _ = Box::pin(self.write_client(&page)).await;
                }
                self.held = None;
                self.end_txn();
                break;
            };
            self.end_txn();
            if next == Next::Close || *stop.borrow() {
                break;
            }
            if self.cbuf.is_empty() {
                self.cbuf = BytesMut::new();
            }
            if self.sbuf.is_empty() {
                self.sbuf = BytesMut::new();
            }
        }
        if let Some(h) = self.held.take()
            && h.be.reuse != HttpReuse::Never
        {
            h.be.put_idle(h.idx, h.stream, h.served);
        }
        if !self.h2_upgrade {
            let _ = self.cli.shutdown().await;
        }
    }

    async fn read_head(
        &mut self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<RequestHead, HeadEnd> {
        let t = self.fe.timeouts;
        let req_t = t.http_request.or(t.client);
        let first = self.nreq == 0;
        let idle_t = if first {
            req_t
        } else {
            t.http_keep_alive.or(t.http_request).or(t.client)
        };
        let mut got_data = !self.cbuf.is_empty();
        if got_data {
            self.log.first_byte();
        }
        let now = Instant::now();
        let mut deadline = if got_data && !first {
            req_t.map(|d| now + d)
        } else {
            idle_t.map(|d| now + d)
        };
        loop {
            // HTTP/2 with prior knowledge, which HAProxy accepts on HTTP/1 binds too.
            let h2 = crate::runtime::h2::PREFACE;
            let n = self.cbuf.len().min(h2.len());
            let preface =
                first && n > 0 && self.cbuf[..n] == h2[..n] && !matches!(self.cli, Stream::Mem(_));
            if preface && n == h2.len() {
                self.h2_upgrade = true;
                return Err(HeadEnd::Quiet);
            }
            if !self.cbuf.is_empty() && !preface {
                match codec::parse_request(&self.cbuf, &self.rt.limits) {
                    Ok(Some((h, n))) => {
                        self.cbuf.advance(n);
                        self.log.request_head(&h, self.fe.log.enabled());
                        self.log.bytes_in += n as u64;
                        crate::runtime::stats::counters::client_read(
                            &self.fe.counters.fe,
                            n as u64,
                        );
                        return Ok(h);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.log.fail_at(b'P', b'R');
                        tracing::info!(frontend = %self.fe.name, src = ?self.conn.src, "bad request: {e}");
                        return Err(HeadEnd::Reply(e.request_status()));
                    }
                }
            }
            let idle = !got_data && !first;
            let read = read_more(&mut self.cli, &mut self.cbuf);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let r = tokio::select! {
                r = read => Some(r),
                _ = sleep => None,
                _ = stop.changed(), if idle => return Err(HeadEnd::Quiet),
            };
            match r {
                None => {
                    return if got_data || first {
                        self.log.fail_at(b'c', b'R');
                        tracing::info!(frontend = %self.fe.name, src = ?self.conn.src, "request head timed out");
                        Err(HeadEnd::Reply(408))
                    } else {
                        Err(HeadEnd::Quiet)
                    };
                }
                Some(Ok(0)) if !self.cbuf.is_empty() => {
                    // HAProxy answers a request cut short by the client's close with 400.
                    self.log.fail_at(b'C', b'R');
                    tracing::info!(frontend = %self.fe.name, src = ?self.conn.src, "client closed during request head");
                    return Err(HeadEnd::Reply(400));
                }
                Some(Ok(0)) | Some(Err(_)) => {
                    if first && !got_data {
                        // HAProxy logs a connection closed before its first byte as a
                        // 400 the client aborted (nothing is sent).
                        self.log.fail_at(b'C', b'R');
                        self.log.status = Some(400);
                    }
                    if got_data {
                        tracing::info!(frontend = %self.fe.name, "client closed during request head");
                        crate::runtime::stats::counters::req_error(&self.fe);
                    }
                    return Err(HeadEnd::Quiet);
                }
                Some(Ok(_)) => {
                    if !got_data {
                        got_data = true;
                        self.log.first_byte();
                        if !first {
                            deadline = req_t.map(|d| Instant::now() + d);
                        }
                    }
                    if *stop.borrow() && !got_data {
                        return Err(HeadEnd::Quiet);
                    }
                }
            }
        }
    }

    async fn write_client(&mut self, bytes: &[u8]) -> bool {
        self.resp_started = true;
        self.log.bytes_out += bytes.len() as u64;
        crate::runtime::stats::counters::client_write(&self.fe.counters.fe, bytes);
        let t = self.fe.timeouts.client;
        matches!(
            with_timeout(t, self.cli.write_all(bytes)).await,
            Some(Ok(()))
        )
    }

    /// An error HAProxy's HTTP/1 layer answers itself (malformed or oversized request,
    /// slow head): the built-in page as written, whatever `errorfile` says, unless the
    /// frontend's errorfile for it is empty; the connection closes after it.
    async fn send_mux_error(&mut self, code: u16) {
        let fe = self.fe.clone();
        crate::runtime::stats::counters::req_error(&fe);
        fe.counters.status(code);
        let silent = fe.errors.configured(code).is_some_and(Reply::is_empty);
        self.log.fail_at(b'P', b'R');
        self.log.status = Some(code);
        // HAProxy logs these answers with no byte sent.
        let sent = self.log.bytes_out;
        if !silent {
            let page = pages::default_reply(code).raw();
            let _ = self.write_client(page).await;
            crate::runtime::stats::counters::mux_error(&fe.counters.fe, page.len() as u64);
        }
        self.log.bytes_out = sent;
    }

    /// Sends the answer for `code` as HAProxy's message layer does: the page of `be` (when
    /// it is not the frontend) if it has one, else the frontend's, else the built-in one.
    /// The connection goes on when the client, the page and the request allow it; a
    /// request body still arriving ends it.
    async fn reply_error(&mut self, be: Option<&Arc<ProxyRt>>, code: u16) -> Next {
        let body_read = self.discard_body();
        let close = self.req_close || !body_read;
        self.send_reply(be, code, close).await
    }

    /// [`Session::reply_error`] that closes the connection in any case.
    async fn reply_error_close(&mut self, be: Option<&Arc<ProxyRt>>, code: u16) -> Next {
        self.send_reply(be, code, true).await;
        Next::Close
    }

    async fn send_reply(&mut self, be: Option<&Arc<ProxyRt>>, code: u16, close: bool) -> Next {
        let fe = self.fe.clone();
        // A backend answers for itself, and a `listen` for its server-side failures.
        if let Some(b) = be
            .filter(|b| !Arc::ptr_eq(b, &fe) || code >= 500)
            .and_then(|b| b.backend.as_ref())
        {
            b.stat.on_status(code);
        }
        let be = be.filter(|b| !Arc::ptr_eq(b, &fe));
        let (bytes, close) = ErrorPages::select(be.map(|b| &b.errors), &fe.errors, code)
            .render(self.req_version, close);
        be.unwrap_or(&fe).counters.status(code);
        self.log.status = Some(code);
        if !self.write_client(&bytes).await || close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// Drops the rest of the current request's body when it is all buffered already (so
    /// that the connection can carry the next request); false when some is still to come.
    fn discard_body(&mut self) -> bool {
        match self.body_left {
            BodyKind::None => return true,
            BodyKind::Length(n) => {
                if (self.cbuf.len() as u64) < n {
                    return false;
                }
                self.cbuf.advance(n as usize);
            }
            BodyKind::Chunked => {
                let mut dec = ChunkDecoder::new(&self.rt.limits);
                let mut sink = Vec::new();
                match dec.decode(&self.cbuf, &mut sink) {
                    Ok(n) if dec.is_done() => self.cbuf.advance(n),
                    _ => return false,
                }
            }
            BodyKind::UntilClose => return false,
        }
        self.body_left = BodyKind::None;
        true
    }

    /// Logs the transaction that just ended (when the frontend logs traffic) and starts
    /// the next one's record.
    fn end_txn(&mut self) {
        if self.fe.log.enabled() {
            let active = self.rt.active.load(Ordering::Relaxed);
            self.fe
                .log
                .emit(&self.log, &self.fe, &self.conn, active, self.rt.pid);
        }
        self.log.reset();
    }

    fn base_info(&self) -> TxnInfo {
        TxnInfo {
            frontend: self.fe.name.clone(),
            pid: self.rt.pid,
            accept_ms: self.accept_ms,
            request_counter: self.nreq,
            ..Default::default()
        }
    }

    async fn transaction(&mut self, mut req: RequestHead) -> Next {
        let fe = self.fe.clone();
        fe.counters.requests.fetch_add(1, Ordering::Relaxed);
        fe.counters.fe.on_request();
        self.nreq += 1;
        let framing = match codec::request_framing(&mut req) {
            Ok(f) => f,
            Err(e) => {
                tracing::info!(frontend = %fe.name, src = ?self.conn.src, "bad request: {e}");
                self.send_mux_error(e.request_status()).await;
                return Next::Close;
            }
        };
        let body = framing.body;
        // A chunked body already buffered with the head is checked now, as HAProxy's
        // HTTP/1 layer parses it before the request goes anywhere.
        if body == BodyKind::Chunked
            && let Err(e) = ChunkDecoder::new(&self.rt.limits).decode(&self.cbuf, &mut Vec::new())
        {
            tracing::info!(frontend = %fe.name, src = ?self.conn.src, "bad request body: {e}");
            self.send_mux_error(400).await;
            return Next::Close;
        }
        let client_close = client_wants_close(&req)
            || framing.close
            || fe.options.http_conn_mode == HttpConnMode::Close
            || *self.rt.stopping.borrow();
        self.req_version = req.version;
        self.req_close = client_close;
        self.body_left = body;
        let mut info = self.base_info();
        fe.persist.capture_request(&req, &mut info);
        self.log.captures.clone_from(&info.captures);
        let mut vars = Vars::default();

        // `tcp-request content` rules come before any HTTP processing; a reject closes.
        let received = match body {
            BodyKind::Length(n) => self
                .cbuf
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX)),
            BodyKind::Chunked => self.cbuf.len(),
            _ => 0,
        };
        if !fe.tcp_content.is_empty()
            && !crate::runtime::inspect::http_content(
                &fe,
                &mut self.conn,
                &req,
                received,
                &mut vars,
                &info,
            )
        {
            self.log.take_level(&vars);
            // HAProxy runs these rules before its HTTP analysis records the request: the
            // line shows `<BADREQ>` and no request time.
            self.log.request = None;
            self.log.head = None;
            self.log.fail(b'P');
            return Next::Close;
        }

        // `option http-buffer-request`: the body is waited for before anything else looks
        // at the request, so that rules see it (`req.body`).
        if fe.options.http_buffer_request
            && let Err(next) = self.buffer_body(&fe, &mut req, body, &mut info).await
        {
            return next;
        }

        // monitor-uri answers before any rule, as in HAProxy: the target must be the URI
        // exactly, or its path (with the query) in absolute form.
        if let Some(uri) = &fe.monitor_uri
            && (req.uri == *uri || req.path_and_query() == uri)
        {
            let failed = {
                let ctx = EvalCtx {
                    conn: &self.conn,
                    req: Some(&req),
                    res: None,
                    vars: &vars,
                    info: &info,
                };
                fe.monitor_fail.iter().any(|c| c.eval(&ctx))
            };
            let page = if failed {
                fe.errors.get(503).into_owned()
            } else {
                MONITOR_OK.to_vec()
            };
            fe.counters.status(if failed { 503 } else { 200 });
            return self.answer_local(&page, client_close).await;
        }

        // Frontend rules.
        let verdict = {
            let base = EvalCtx {
                conn: &self.conn,
                req: None,
                res: None,
                vars: &Vars::default(),
                info: &info,
            };
            fe.rules.apply_request(&mut req, &mut vars, &base)
        };
        self.log.take_level(&vars);
        let mut forced = None;
        match verdict {
            Verdict::Continue => {}
            Verdict::SetBackend(name) => forced = self.rt.by_name.get(&name).copied(),
            v => return self.local_answer(&fe, v, body, client_close).await,
        }

        // The frontend's stats page answers after its rules and before any backend
        // switching, as HAProxy checks `stats uri` (runtime/stats/page.rs).
        if let Some(next) = self
            .stats_page(&fe, &fe, &mut req, body, &vars, &mut info, client_close)
            .await
        {
            return next;
        }

        // Backend choice: reqsetbe, use_backend (first match), default_backend, the listen.
        let be_idx = match forced {
            Some(i) => Some(i),
            None => self.choose_backend(&fe, &req, &vars, &info),
        };
        let Some(bpx) = be_idx.and_then(|i| self.rt.proxies.get(i)).cloned() else {
            self.log.fail_at(b'S', b'C');
            tracing::info!(frontend = %fe.name, "no backend for request");
            fe.counters.status(503);
            let page = fe.errors.get(503).into_owned();
            return self.answer_local(&page, client_close).await;
        };
        info.backend = Some(bpx.name.clone());
        self.log.backend = Some(bpx.clone());
        bpx.counters.requests.fetch_add(1, Ordering::Relaxed);
        crate::runtime::stats::counters::backend_request(&self.rt, &bpx, &req);
        if bpx.idx != fe.idx
            && bpx.options.http_buffer_request
            && let Err(next) = self.buffer_body(&bpx, &mut req, body, &mut info).await
        {
            return next;
        }
        if bpx.idx != fe.idx {
            let verdict = {
                let base = EvalCtx {
                    conn: &self.conn,
                    req: None,
                    res: None,
                    vars: &Vars::default(),
                    info: &info,
                };
                bpx.rules.apply_request(&mut req, &mut vars, &base)
            };
            self.log.take_level(&vars);
            match verdict {
                Verdict::Continue | Verdict::SetBackend(_) => {}
                v => return self.local_answer(&bpx, v, body, client_close).await,
            }
            // A backend's `option httpclose` closes the server side only (see
            // `effective_mode`): the client side follows the frontend, as in HAProxy.
        }
        // A backend's own stats page, after its rules (the frontend's was tried before).
        if bpx.idx != fe.idx
            && let Some(next) = self
                .stats_page(&fe, &bpx, &mut req, body, &vars, &mut info, client_close)
                .await
        {
            return next;
        }
        let Some(be) = bpx.backend.clone() else {
            return self.reply_error(Some(&bpx), 503).await;
        };
        self.add_forwarding_headers(&fe, &bpx, &mut req);
        fe.log.unique_id(&mut self.log, &mut req, &self.conn, &info);
        self.forward(&fe, &bpx, &be, req, body, client_close, vars, info)
            .await
    }

    fn choose_backend(
        &self,
        fe: &ProxyRt,
        req: &RequestHead,
        vars: &Vars,
        info: &TxnInfo,
    ) -> Option<usize> {
        let ctx = EvalCtx {
            conn: &self.conn,
            req: Some(req),
            res: None,
            vars,
            info,
        };
        for (choice, cond) in &fe.use_backends {
            if cond.as_ref().is_none_or(|c| c.eval(&ctx)) {
                match choice {
                    BackendChoice::Index(i) => return Some(*i),
                    BackendChoice::Dynamic(f) => {
                        // An unknown dynamic name ends the rules: default_backend, as
                        // HAProxy 2.6 does (the later use_backend rules are not tried).
                        match self.rt.by_name.get(&f.render_string(&ctx)) {
                            Some(i) => return Some(*i),
                            None => break,
                        }
                    }
                }
            }
        }
        fe.default_backend.or(fe.caps.backend.then_some(fe.idx))
    }

    /// Answers a request locally (deny, return, redirect, auth, tarpit).
    async fn local_answer(
        &mut self,
        px: &Arc<ProxyRt>,
        v: Verdict,
        body: BodyKind,
        client_close: bool,
    ) -> Next {
        if matches!(v, Verdict::Deny(..) | Verdict::Tarpit(..)) {
            crate::runtime::stats::counters::denied(&self.fe, px);
        }
        match v {
            Verdict::Deny(code, reply) => {
                px.counters.denied.fetch_add(1, Ordering::Relaxed);
                self.log.fail(b'P');
                tracing::info!(proxy = %px.name, src = ?self.conn.src, "request denied ({code})");
                match reply {
                    Some(page) => {
                        px.counters.status(code);
                        self.answer_local(&page, client_close).await
                    }
                    None => self.reply_error(Some(px), code).await,
                }
            }
            Verdict::Tarpit(code, reply) => {
                px.counters.denied.fetch_add(1, Ordering::Relaxed);
                self.log.fail_at(b'P', b'T');
                let t = px
                    .timeouts
                    .tarpit
                    .or(px.timeouts.connect)
                    .unwrap_or(Duration::ZERO);
                tokio::time::sleep(t).await;
                match reply {
                    Some(page) => {
                        px.counters.status(code);
                        self.answer_local(&page, client_close).await
                    }
                    None => self.reply_error(Some(px), code).await,
                }
            }
            Verdict::Auth(realm) => {
                px.counters.status(401);
                let realm = realm.as_deref().unwrap_or(&px.name);
                self.answer_local(&auth_page(realm), client_close).await
            }
            Verdict::Respond(bytes) => {
                self.fe
                    .counters
                    .fe
                    .intercepted
                    .fetch_add(1, Ordering::Relaxed);
                px.counters.status(status_of(&bytes));
                self.answer_local(&bytes, client_close).await
            }
            Verdict::Redirect(bytes) => {
                self.fe
                    .counters
                    .fe
                    .intercepted
                    .fetch_add(1, Ordering::Relaxed);
                px.counters.status(status_of(&bytes));
                // HAProxy does not read past a request body after a redirect: it closes.
                let close = client_close || body != BodyKind::None;
                self.answer_local(&bytes, close).await
            }
            Verdict::Service(super::rules::Service::Prometheus) => {
                self.fe
                    .counters
                    .fe
                    .intercepted
                    .fetch_add(1, Ordering::Relaxed);
                // Counted after rendering: a scrape does not see its own response (HAProxy).
                let page = crate::runtime::prometheus::response(&self.rt);
                px.counters.status(200);
                self.answer_local(&page, client_close).await
            }
            Verdict::Continue | Verdict::SetBackend(_) => Next::Close,
        }
    }

    /// The stats page (`stats enable`) of `px` when the request is for it
    /// (runtime/stats/page.rs).
    #[allow(clippy::too_many_arguments)]
    async fn stats_page(
        &mut self,
        fe: &Arc<ProxyRt>,
        px: &Arc<ProxyRt>,
        req: &mut RequestHead,
        body: BodyKind,
        vars: &Vars,
        info: &mut TxnInfo,
        client_close: bool,
    ) -> Option<Next> {
        use crate::runtime::stats::page;
        let rt = self.rt.clone();
        let cfg = page::config_for(&rt, px).filter(|c| c.matches(req))?;
        if Arc::ptr_eq(px, fe) {
            // No backend was chosen: the stream's backend is the frontend, as in HAProxy.
            info.backend = Some(fe.name.clone());
            self.log.backend = Some(fe.clone());
        }
        if req.method == "POST"
            && let Err(next) = self.buffer_body(px, req, body, info).await
        {
            return Some(next);
        }
        let ctx = EvalCtx {
            conn: &self.conn,
            req: Some(req),
            res: None,
            vars,
            info,
        };
        // Counted before the page is drawn, so that it shows itself (as HAProxy does).
        page::intercepted(fe);
        let resp = page::respond(&rt, px, cfg, req, info.req_body.as_deref(), &ctx);
        let code = status_of(&resp);
        fe.counters.status(code);
        page::account(fe, px, req, &resp);
        Some(self.answer_local(&resp, client_close).await)
    }

    /// The backend's 503 for a request no server took (none usable, queue timeout, connect
    /// failures): the body was not sent anywhere, so the connection goes on, as in HAProxy.
    async fn unserved(&mut self, bpx: &Arc<ProxyRt>) -> Next {
        self.reply_error(Some(bpx), 503).await
    }

    /// Sends a response generated here (an error page, deny, return, auth, monitor) as
    /// HAProxy 2.6 does: the connection goes on after it when the request body, if any, is
    /// already all in the buffer (it is dropped), unless the client asked to close or the
    /// status is 400 or 408. `connection: close` is then the last header, whatever the page
    /// said; an HTTP/1.0 client kept alive is told `connection: keep-alive`.
    async fn answer_local(&mut self, page: &[u8], close: bool) -> Next {
        self.log.status = Some(status_of(page));
        // Answered here unless a rule's verdict said otherwise (deny, tarpit).
        self.log.fail(b'L');
        let close = close || matches!(status_of(page), 400 | 408) || !self.discard_body();
        let page = without_connection(page);
        let page = if close {
            with_connection(&page, true)
        } else {
            error_with_connection(&page, Some(self.req_version))
        };
        if !self.write_client(&page).await || close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// `option http-buffer-request`: waits until the request body is in the buffer (up to
    /// its size) and keeps a copy for `req.body`. The wait is bounded by `timeout
    /// http-request` (else `timeout client`), after which HAProxy answers 408.
    async fn buffer_body(
        &mut self,
        px: &Arc<ProxyRt>,
        req: &mut RequestHead,
        body: BodyKind,
        info: &mut TxnInfo,
    ) -> Result<(), Next> {
        if info.req_body.is_some() {
            return Ok(());
        }
        let limit = self.rt.limits.max_head;
        let t = px.timeouts.http_request.or(px.timeouts.client);
        let deadline = t.map(|d| Instant::now() + d);
        loop {
            let full = self.cbuf.len() >= limit;
            let done = match body {
                BodyKind::None | BodyKind::UntilClose => Some(Vec::new()),
                BodyKind::Length(n) => {
                    let have = (self.cbuf.len() as u64).min(n) as usize;
                    (have as u64 == n || full).then(|| self.cbuf[..have].to_vec())
                }
                BodyKind::Chunked => match dechunk(&self.cbuf, &self.rt.limits) {
                    Some((data, complete)) => (complete || full).then_some(data),
                    None => {
                        crate::runtime::stats::counters::req_error(&self.fe);
                        return Err(self.reply_error(None, 400).await);
                    }
                },
            };
            if let Some(data) = done {
                info.req_body = Some(data);
                return Ok(());
            }
            // The client waits for a 100 before sending the body: say it here, once.
            if req
                .headers
                .get("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
            {
                if !self.write_client(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                    return Err(Next::Close);
                }
                req.headers.remove("expect");
            }
            let read = read_more(&mut self.cli, &mut self.cbuf);
            let r = match deadline {
                Some(d) => tokio::time::timeout_at(d, read).await.ok(),
                None => Some(read.await),
            };
            match r {
                Some(Ok(n)) if n > 0 => {}
                Some(_) => return Err(Next::Close),
                None => {
                    crate::runtime::stats::counters::req_error(&self.fe);
                    return Err(self.reply_error(None, 408).await);
                }
            }
        }
    }

    fn add_forwarding_headers(&self, fe: &ProxyRt, be: &ProxyRt, req: &mut RequestHead) {
        // `option forwardfor` of the frontend or the backend (the backend's header name
        // wins, as in HAProxy), once.
        if let Some(ff) = be
            .options
            .forwardfor
            .as_ref()
            .or(fe.options.forwardfor.as_ref())
            && let Some(src) = self.conn.src
        {
            let ip = src.ip();
            let excepted = ff.except.is_some_and(|n| n.contains(&ip));
            let present = req.headers.contains(&ff.header);
            if !(excepted || ff.if_none && present) {
                req.headers.add(&ff.header, ip.to_string());
            }
        }
        if let Some(ot) = be
            .options
            .originalto
            .as_ref()
            .or(fe.options.originalto.as_ref())
            && let Some(dst) = self.conn.dst
        {
            let ip = dst.ip();
            if !ot.except.is_some_and(|n| n.contains(&ip)) {
                req.headers.add(&ot.header, ip.to_string());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &mut self,
        fe: &Arc<ProxyRt>,
        bpx: &Arc<ProxyRt>,
        be: &Arc<Backend>,
        mut req: RequestHead,
        body: BodyKind,
        client_close: bool,
        mut vars: Vars,
        mut info: TxnInfo,
    ) -> Next {
        // HAProxy waits for a POST's body under `balance url_param`, to look there too.
        let url_param_post = match &be.balance {
            crate::model::Balance::UrlParam { param, .. } if req.method == "POST" => Some(param),
            _ => None,
        };
        if url_param_post.is_some()
            && let Err(next) = self.buffer_body(bpx, &mut req, body, &mut info).await
        {
            return next;
        }
        // `retry-on` beyond connection failures replays the request: as HAProxy only does
        // for a request that fits in its buffer, a Content-Length body that small is read
        // whole first and kept for a replay.
        let replay_body = match body {
            BodyKind::Length(n)
                if n > 0 && n <= self.rt.limits.max_head as u64 && bpx.retry_on.after_send() =>
            {
                if let Err(next) = self.buffer_body(bpx, &mut req, body, &mut info).await {
                    return next;
                }
                let n = n as usize;
                (self.cbuf.len() >= n).then(|| self.cbuf[..n].to_vec())
            }
            _ => None,
        };
        let mut mode = effective_mode(fe, bpx);
        // HTTP/1.0 with Transfer-Encoding: HAProxy closes both sides after it, and so does
        // not ask the server for keep-alive.
        if req.version == Version::H10
            && body == BodyKind::Chunked
            && mode == HttpConnMode::KeepAlive
        {
            mode = HttpConnMode::ServerClose;
        }
        let upgrade =
            req.headers.has_token("connection", "upgrade") && req.headers.contains("upgrade");
        let expect_continue = req
            .headers
            .get("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
        prepare_server_connection_header(&mut req, mode, upgrade);

        let mut key = balance::hash_key(&be.balance, Some(&req), &self.conn);
        if key.is_none()
            && let Some(param) = url_param_post
            && let Some(data) = info.req_body.as_deref()
        {
            key = balance::key::url_param_body_key(data, param.as_bytes());
        }
        let (named, prst) = {
            let ctx = EvalCtx {
                conn: &self.conn,
                req: Some(&req),
                res: None,
                vars: &vars,
                info: &info,
            };
            // force-persist / ignore-persist, which `use-server` obeys too.
            let prst = bpx.persist.rules(&ctx);
            let named = bpx
                .use_servers
                .iter()
                .find(|(i, c)| {
                    be.servers
                        .get(*i)
                        .is_some_and(|s| bpx.persist.may_take(s, prst.0))
                        && c.as_ref().is_none_or(|c| c.eval(&ctx))
                })
                .map(|(i, _)| *i);
            (named, prst)
        };
        // Cookie persistence: the server the cookie names, and the cookie as the server
        // may see it.
        bpx.persist
            .on_request(&fe.persist, be, &mut req, named, prst, &mut info);
        self.log.captures.clone_from(&info.captures);
        self.log.stage = b'Q';
        if bpx.persist.cookie.is_some() {
            self.log.cookie = [info.cookie.state.letter(), b'N'];
        }
        let mut head = Vec::with_capacity(1024);
        req.write_to(&mut head);

        let queue_t = bpx.timeouts.queue.or(bpx.timeouts.connect);
        let mut avoid = None;
        let mut attempts = 0u32;
        let mut reused_retry_left = true;
        let stat_t0 = std::time::Instant::now();
        // Only a request without a body, or whose body is kept (`replay_body`), can be
        // sent again after it went out.
        let replayable = (matches!(body, BodyKind::None | BodyKind::Length(0)) && !expect_continue)
            || replay_body.is_some();
        // The slot kept for a retry on the same server (HAProxy keeps its place there).
        let mut kept: Option<Slot> = None;
        // The server a redispatched retry comes from, counted once the next one is known.
        let mut redispatched_from: Option<usize> = None;
        loop {
            let slot = match kept.take() {
                Some(s) => Ok(s),
                None => match named {
                    Some(i) if avoid != Some(i) => match be.assign_persistent(i, queue_t).await {
                        // Its queue is full: with redispatch, any server will do.
                        Err(PickError::QueueFull) if redispatch_enabled(bpx) => {
                            be.assign(key, Some(i), queue_t).await
                        }
                        r => r,
                    },
                    _ => match info.cookie.target {
                        Some(i) if avoid != Some(i) => be.assign_persistent(i, queue_t).await,
                        _ => be.assign(key, avoid, queue_t).await,
                    },
                },
            };
            if let Some(prev) = redispatched_from.take()
                && count_reassignment(bpx, be, prev, slot.as_ref().ok().map(|s| s.idx))
            {
                self.log.redispatched = true;
            }
            let mut slot = match slot {
                Ok(s) => s,
                Err(e) => {
                    match e {
                        PickError::NoServer => self.log.fail_at(b'S', b'C'),
                        PickError::QueueTimeout(mut q) => {
                            self.log.left_queue(&mut q);
                            self.log.fail_at(b's', b'Q')
                        }
                        PickError::QueueFull => self.log.fail_at(b'S', b'Q'),
                    }
                    tracing::info!(backend = %bpx.name, "no server: {e:?}");
                    if e != PickError::NoServer {
                        bpx.counters.errors_conn.fetch_add(1, Ordering::Relaxed);
                    }
                    // HAProxy's backend `econ` counts "no server available" too.
                    be.stat.failed_conns.fetch_add(1, Ordering::Relaxed);
                    return self.unserved(bpx).await;
                }
            };
            info.server = Some(be.servers[slot.idx].name.clone());
            self.log.server = Some(slot.idx);
            self.log.left_queue(&mut slot.queue);
            self.log.assigned();
            // `sni EXPR` of a TLS server, evaluated for this request.
            let sni = be.server_sni(
                slot.idx,
                &EvalCtx {
                    conn: &self.conn,
                    req: Some(&req),
                    res: None,
                    vars: &vars,
                    info: &info,
                },
            );
            let stat_tq = crate::runtime::stats::counters::ms_since(stat_t0);
            let stat_tc0 = std::time::Instant::now();
            let (mut srv, reused, served) = match self.server_conn(be, &slot, bpx, sni).await {
                Ok(x) => {
                    self.log.connected();
                    if self.fe.log.wants_srv_addrs {
                        self.log.server_stream(&x.0);
                    }
                    x
                }
                Err(e) => {
                    tracing::info!(backend = %bpx.name, server = %be.servers[slot.idx].name, "connect failed: {e}");
                    bpx.counters.errors_conn.fetch_add(1, Ordering::Relaxed);
                    if attempts >= bpx.retries || !bpx.retry_on.conn_failure {
                        let timed_out = e.kind() == std::io::ErrorKind::TimedOut;
                        self.log.fail_at(if timed_out { b's' } else { b'S' }, b'C');
                        crate::runtime::stats::counters::conn_failed(be, slot.idx);
                        return self.unserved(bpx).await;
                    }
                    attempts += 1;
                    self.log.retries = attempts;
                    let direct = named.is_some() || info.cookie.target == Some(slot.idx);
                    let (redispatch, pause) = retry_plan(bpx, be, slot.idx, attempts, direct, &e);
                    // HAProxy never redispatches a `force-persist` request: it retries the
                    // same server, after the usual pause unless the attempt timed out.
                    let (redispatch, pause) = if info.cookie.force && redispatch {
                        let timed_out = e.kind() == std::io::ErrorKind::TimedOut;
                        let p = bpx.timeouts.connect.unwrap_or(Duration::from_secs(1));
                        (false, (!timed_out).then(|| p.min(Duration::from_secs(1))))
                    } else {
                        (redispatch, pause)
                    };
                    crate::runtime::stats::counters::conn_retry(be, slot.idx, redispatch);
                    if redispatch {
                        redispatched_from = Some(slot.idx);
                        avoid = Some(slot.idx);
                        drop(slot);
                    } else {
                        bpx.counters.retries.fetch_add(1, Ordering::Relaxed);
                        kept = Some(slot);
                    }
                    if let Some(p) = pause {
                        tokio::time::sleep(p).await;
                    }
                    continue;
                }
            };
            crate::runtime::stats::counters::connected(be, slot.idx, reused);
            let stat_tc = crate::runtime::stats::counters::ms_since(stat_tc0);
            self.stat_resp_at = None;
            let l7 = (replayable && attempts < bpx.retries).then_some(&bpx.retry_on);
            let cbuf_before = self.cbuf.len();
            // `shutdown sessions server` on the stats socket ends the transaction and the
            // client connection.
            let kill = self.rt.cli.serves().then(|| be.servers[slot.idx].clone());
            let exchange = self.exchange(
                fe,
                bpx,
                l7,
                &slot,
                &mut srv,
                &head,
                &mut req,
                body,
                expect_continue,
                upgrade,
                client_close,
                mode,
                &mut vars,
                &mut info,
            );
            let outcome = match kill {
                Some(state) => tokio::select! {
                    r = exchange => r,
                    _ = state.killed() => return Next::Close,
                },
                None => exchange.await,
            };
            match outcome {
                Exchange::Done { next, reusable } => {
                    crate::runtime::stats::counters::timed(
                        be,
                        slot.idx,
                        stat_tq,
                        stat_tc,
                        self.stat_resp_at
                            .map(|t| t.duration_since(stat_tc0).as_millis() as u64),
                        crate::runtime::stats::counters::ms_since(stat_t0),
                    );
                    if reusable {
                        let served = served + 1;
                        if be.reuse == HttpReuse::Never {
                            self.held = Some(Held {
                                be: be.clone(),
                                idx: slot.idx,
                                stream: srv,
                                served,
                            });
                        } else {
                            // Shared at once, as HAProxy's non-private connections: another
                            // session may take it before this one's next request.
                            be.put_idle(slot.idx, srv, served);
                        }
                    }
                    return next;
                }
                Exchange::RetryReused if reused && reused_retry_left => {
                    // An idle connection the server had closed: try once on a fresh one.
                    reused_retry_left = false;
                    self.held = None;
                    drop(slot);
                    continue;
                }
                Exchange::RetryReused if l7.is_some_and(|r| r.empty_response) => {
                    self.restore_body(replay_body.as_deref(), cbuf_before, body);
                    redispatched_from = self.l7_retry(
                        bpx,
                        be,
                        slot,
                        "empty response",
                        &info,
                        &mut attempts,
                        &mut avoid,
                        &mut kept,
                    );
                    continue;
                }
                Exchange::Retry(why) => {
                    self.restore_body(replay_body.as_deref(), cbuf_before, body);
                    redispatched_from = self.l7_retry(
                        bpx,
                        be,
                        slot,
                        why,
                        &info,
                        &mut attempts,
                        &mut avoid,
                        &mut kept,
                    );
                    continue;
                }
                Exchange::RetryReused => {
                    self.log.fail_at(b'S', b'H');
                    tracing::info!(backend = %bpx.name, server = %be.servers[slot.idx].name, "server closed or reset before any response byte -> 502");
                    return self.reply_error(Some(bpx), 502).await;
                }
            }
        }
    }

    /// A `retry-on` retry after the request went to `slot`'s server and failed before any
    /// response byte reached the client: counted against `retries`. With `option
    /// redispatch` it goes at once to another server (HAProxy 2.6 redispatches every such
    /// retry, not only at the `redispatch` interval as for connection failures), else to
    /// the same server; never with a pause, since this server did accept. As HAProxy
    /// 2.6.12 (observed), every such retry counts in the server's and the backend's
    /// `wretr`, and then as a connection retry does: once more in `wretr` when it stays on
    /// the server, else as a redispatch once the next server is known (the server it comes
    /// from is returned for that).
    #[allow(clippy::too_many_arguments)]
    fn l7_retry(
        &self,
        bpx: &ProxyRt,
        be: &Backend,
        slot: Slot,
        why: &str,
        info: &TxnInfo,
        attempts: &mut u32,
        avoid: &mut Option<usize>,
        kept: &mut Option<Slot>,
    ) -> Option<usize> {
        tracing::info!(backend = %bpx.name, server = %be.servers[slot.idx].name, "retrying the request (retry-on): {why}");
        *attempts += 1;
        bpx.counters.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = be.servers.get(slot.idx) {
            s.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        // As for connection failures, a `force-persist` request stays on its server.
        if redispatch_enabled(bpx) && !info.cookie.force {
            *avoid = Some(slot.idx);
            let from = slot.idx;
            drop(slot);
            Some(from)
        } else {
            bpx.counters.retries.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = be.servers.get(slot.idx) {
                s.counters.retries.fetch_add(1, Ordering::Relaxed);
                // Another attempt on the server: HAProxy's `stot` counts each.
                s.total.fetch_add(1, Ordering::Relaxed);
            }
            *kept = Some(slot);
            None
        }
    }

    /// Puts back in front of the client buffer the part of a kept request body (`kept`,
    /// all of which was in the buffer, which held `before` bytes) that an attempt
    /// consumed, for the next attempt to send it again.
    fn restore_body(&mut self, kept: Option<&[u8]>, before: usize, body: BodyKind) {
        let Some(kept) = kept else { return };
        let used = before.saturating_sub(self.cbuf.len()).min(kept.len());
        if used > 0 {
            let mut b = BytesMut::with_capacity(used + self.cbuf.len());
            b.extend_from_slice(&kept[..used]);
            b.extend_from_slice(&self.cbuf);
            self.cbuf = b;
        }
        self.body_left = body;
    }

    /// A connection to the slot's server: the session's own, an idle one, or a new one;
    /// with whether it was reused and how many requests it served.
    async fn server_conn(
        &mut self,
        be: &Arc<Backend>,
        slot: &Slot,
        bpx: &ProxyRt,
        sni: Option<String>,
    ) -> std::io::Result<(Stream, bool, u32)> {
        if let Some(mut h) = self.held.take() {
            if Arc::ptr_eq(&h.be, be)
                && h.idx == slot.idx
                && h.stream.sni() == sni.as_deref()
                && h.stream.is_idle_alive()
            {
                return Ok((h.stream, true, h.served));
            }
            if h.be.reuse != HttpReuse::Never {
                h.be.put_idle(h.idx, h.stream, h.served);
            }
        }
        // HAProxy's `http-reuse` table: `safe` never puts a session's first request on an
        // idle connection, `aggressive` only on one that served several requests.
        let first = self.nreq <= 1;
        let which = match bpx_reuse(bpx) {
            HttpReuse::Never => None,
            HttpReuse::Safe => (!first).then_some(Reuse::Any),
            HttpReuse::Aggressive => Some(if first { Reuse::SafeOnly } else { Reuse::Any }),
            HttpReuse::Always => Some(Reuse::Any),
        };
        if let Some(w) = which
            && let Some((s, served)) = be.take_idle(slot.idx, w, sni.as_deref())
        {
            return Ok((s, true, served));
        }
        let s = be
            .connect_from(
                slot.idx,
                self.conn.src,
                self.conn.dst,
                bpx.timeouts.connect,
                sni,
            )
            .await?;
        Ok((s, false, 0))
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &mut self,
        fe: &Arc<ProxyRt>,
        bpx: &Arc<ProxyRt>,
        l7: Option<&crate::model::RetryOn>,
        slot: &Slot,
        srv: &mut Stream,
        head: &[u8],
        req: &mut RequestHead,
        body: BodyKind,
        expect_continue: bool,
        upgrade: bool,
        mut client_close: bool,
        mode: HttpConnMode,
        vars: &mut Vars,
        info: &mut TxnInfo,
    ) -> Exchange {
        let srv_t = bpx.timeouts.server;
        let cli_t = fe.timeouts.client;
        // While a request body is forwarded and no response has come, HAProxy lets the
        // server's timeout govern instead of the client's: a client stalling mid-body gets
        // 504 when `timeout server` expires (`timeout client` only without one).
        let body_wait = srv_t.or(cli_t);
        self.sbuf.clear();
        let mut body_sent = body == BodyKind::None;
        // Request body bytes sent, for the stats.
        let mut stat_req_body = 0u64;
        let mut early_final: Option<(ResponseHead, usize)> = None;
        let mut relayed_100 = false;
        // Once an interim answer went to the client, the request is no longer retried.
        let mut interim_sent = false;
        if expect_continue && !body_sent && self.cbuf.is_empty() {
            // Send the head; the client waits for 100 (or gives up waiting and sends).
            if !matches!(with_timeout(srv_t, srv.write_all(head)).await, Some(Ok(()))) {
                return Exchange::RetryReused;
            }
            let first = tokio::select! {
                r = read_response_head(srv, &mut self.sbuf, &self.rt.limits, srv_t) => Some(r),
                r = self.cli.readable() => { let _ = r; None }
            };
            match first {
                Some(Ok((h, n))) if h.status == 100 => {
                    self.sbuf.advance(n);
                    if !self.write_client(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                        return Exchange::Done {
                            next: Next::Close,
                            reusable: false,
                        };
                    }
                    relayed_100 = true;
                }
                Some(Ok(x)) => {
                    // A final answer without wanting the body: relay it and close.
                    early_final = Some(x);
                    body_sent = true;
                    client_close = true;
                }
                Some(Err(e)) => return self.response_failure(bpx, e, None).await,
                None => {}
            }
            if early_final.is_none() {
                let mut empty = Vec::new();
                match copy_body(
                    &mut self.cli,
                    &mut self.cbuf,
                    srv,
                    body,
                    &mut empty,
                    body_wait,
                    srv_t,
                    &self.rt.limits,
                )
                .await
                {
                    Ok(n) => {
                        self.log.bytes_in += n;
                        body_sent = true;
                        self.body_left = BodyKind::None;
                        stat_req_body = n;
                        crate::runtime::stats::counters::client_read(&self.fe.counters.fe, n);
                    }
                    Err(e) => return self.body_failure(bpx, e, true).await,
                }
            }
        } else if body_sent {
            if !matches!(with_timeout(srv_t, srv.write_all(head)).await, Some(Ok(()))) {
                return Exchange::RetryReused;
            }
        } else {
            let mut prefix = head.to_vec();
            match copy_body(
                &mut self.cli,
                &mut self.cbuf,
                srv,
                body,
                &mut prefix,
                body_wait,
                srv_t,
                &self.rt.limits,
            )
            .await
            {
                Ok(n) => {
                    self.log.bytes_in += n;
                    body_sent = true;
                    self.body_left = BodyKind::None;
                    stat_req_body = n;
                    crate::runtime::stats::counters::client_read(&self.fe.counters.fe, n);
                }
                Err(CopyErr::DstFailed) => return Exchange::RetryReused,
                Err(e) => return self.body_failure(bpx, e, true).await,
            }
        }
        let _ = body_sent;

        // Response head, skipping (and relaying) interim 1xx answers.
        let (mut res, n) = match early_final {
            Some(x) => x,
            None => loop {
                match read_response_head(srv, &mut self.sbuf, &self.rt.limits, srv_t).await {
                    Ok((mut h, n)) if (100..200).contains(&h.status) && h.status != 101 => {
                        self.sbuf.advance(n);
                        // Its `connection` loses close/keep-alive, as a final answer's.
                        strip_conn_tokens(&mut h.headers, false);
                        // Relayed once, as HAProxy does, also when the client sent its
                        // body without waiting for it.
                        if h.status == 100 && relayed_100 {
                            continue;
                        }
                        let mut b = Vec::new();
                        h.write_to(&mut b);
                        interim_sent = true;
                        if !self.write_client(&b).await {
                            return Exchange::Done {
                                next: Next::Close,
                                reusable: false,
                            };
                        }
                    }
                    Ok(x) => break x,
                    Err(RespErr::ClosedEmpty) => return Exchange::RetryReused,
                    Err(e) => {
                        slot.backend.servers[slot.idx].observed(e.observed());
                        let sc = &slot.backend.servers[slot.idx].counters;
                        sc.failed_resp.fetch_add(1, Ordering::Relaxed);
                        if !interim_sent && let Some(why) = l7.and_then(|r| retry_cause(r, e)) {
                            return Exchange::Retry(why);
                        }
                        let keep = (!client_close).then_some(req.version);
                        return self.response_failure(bpx, e, keep).await;
                    }
                }
            },
        };
        self.sbuf.advance(n);
        self.stat_resp_at = Some(std::time::Instant::now());
        info.status = Some(res.status);
        self.log.response(res.status);
        slot.backend.servers[slot.idx].observed(Observed::Status(res.status));
        // A status `retry-on` names: the response is dropped before any byte of it left.
        if !interim_sent && !relayed_100 && l7.is_some_and(|r| r.statuses.contains(&res.status)) {
            return Exchange::Retry("retry-on status");
        }
        fe.persist.capture_response(&res, info);
        self.log.captures.clone_from(&info.captures);

        if res.status == 101 && upgrade {
            return self.tunnel(fe, bpx, srv, res).await;
        }
        let res_body = match codec::response_body(&mut res, &req.method) {
            Ok(b) => b,
            Err(_) => {
                if !interim_sent
                    && let Some(why) = l7.and_then(|r| retry_cause(r, RespErr::Invalid))
                {
                    return Exchange::Retry(why);
                }
                let keep = (!client_close).then_some(req.version);
                return self.response_failure(bpx, RespErr::Invalid, keep).await;
            }
        };
        let server_close = res.headers.has_token("connection", "close")
            || (res.version == Version::H10 && !res.headers.has_token("connection", "keep-alive"));

        // Response rules: the backend's, then the frontend's.
        let order: Vec<Arc<ProxyRt>> = if Arc::ptr_eq(bpx, fe) {
            vec![bpx.clone()]
        } else {
            vec![bpx.clone(), fe.clone()]
        };
        for px in &order {
            if !px.rules.has_response_rules() {
                continue;
            }
            let verdict = {
                let base = EvalCtx {
                    conn: &self.conn,
                    req: None,
                    res: None,
                    vars: &Vars::default(),
                    info,
                };
                px.rules.apply_response(req, &mut res, vars, &base)
            };
            self.log.take_level(vars);
            // The answer replaces the server's (whose connection is dropped); the client
            // connection goes on as after any generated answer.
            let page = match verdict {
                Verdict::Continue | Verdict::SetBackend(_) | Verdict::Service(_) => continue,
                Verdict::Respond(bytes) | Verdict::Redirect(bytes) => bytes,
                Verdict::Deny(c, reply) | Verdict::Tarpit(c, reply) => {
                    px.counters.denied.fetch_add(1, Ordering::Relaxed);
                    crate::runtime::stats::counters::denied_resp(fe, px, &slot.backend, slot.idx);
                    self.log.fail_at(b'P', b'H');
                    reply.unwrap_or_else(|| px.errors.get(c).into_owned())
                }
                Verdict::Auth(_) => px.errors.get(401).into_owned(),
            };
            px.counters.status(status_of(&page));
            let next = self.answer_local(&page, client_close).await;
            return Exchange::Done {
                next,
                reusable: false,
            };
        }

        self.log.cookie =
            bpx.persist
                .on_response(&fe.persist, slot.idx, &req.method, &mut res, info);
        self.log.captures.clone_from(&info.captures);
        if res_body == BodyKind::UntilClose || *self.rt.stopping.borrow() {
            client_close = true;
        }
        prepare_client_connection_header(&mut res, req.version, client_close);
        fe.counters.status(res.status);
        if !Arc::ptr_eq(fe, bpx) {
            bpx.counters.status(res.status);
        }
        let mut out = Vec::with_capacity(512 + self.sbuf.len());
        res.write_to(&mut out);
        self.resp_started = true;
        let stat_head = out.len() as u64;
        self.log.bytes_out += stat_head;
        if fe.log.asap {
            let active = self.rt.active.load(Ordering::Relaxed);
            fe.log
                .emit_early(&mut self.log, fe, &self.conn, active, self.rt.pid);
        }
        let stat_res = copy_body(
            srv,
            &mut self.sbuf,
            &mut self.cli,
            res_body,
            &mut out,
            srv_t,
            cli_t,
            &self.rt.limits,
        )
        .await;
        crate::runtime::stats::counters::response(
            &fe.counters.fe,
            &slot.backend,
            slot.idx,
            res.status,
            head.len() as u64 + stat_req_body,
            stat_head + stat_res.as_ref().copied().unwrap_or(0),
        );
        match stat_res {
            Ok(n) => self.log.bytes_out += n,
            Err(CopyErr::SrcInvalidEarly) => {
                // The body was bad before the head went out: HAProxy still answers 502.
                return self
                    .response_failure(
                        bpx,
                        RespErr::Invalid,
                        (!client_close).then_some(req.version),
                    )
                    .await;
            }
            Err(e @ (CopyErr::SrcTimeout | CopyErr::SrcClosed | CopyErr::SrcInvalid)) => {
                self.log.fail(match e {
                    CopyErr::SrcTimeout => b's',
                    CopyErr::SrcClosed => b'S',
                    _ => b'P',
                });
                tracing::info!(backend = %bpx.name, "server response body failed");
                bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
                if matches!(e, CopyErr::SrcClosed) {
                    crate::runtime::stats::counters::aborted(&slot.backend, slot.idx, true);
                }
                let sc = &slot.backend.servers[slot.idx].counters;
                sc.failed_resp.fetch_add(1, Ordering::Relaxed);
                return Exchange::Done {
                    next: Next::Close,
                    reusable: false,
                };
            }
            Err(CopyErr::DstFailed) => {
                self.log.fail(b'C');
                crate::runtime::stats::counters::aborted(&slot.backend, slot.idx, false);
                return Exchange::Done {
                    next: Next::Close,
                    reusable: false,
                };
            }
        }
        let _ = slot;
        let reusable = mode == HttpConnMode::KeepAlive
            && !server_close
            && res_body != BodyKind::UntilClose
            && self.sbuf.is_empty();
        let next = if client_close {
            Next::Close
        } else {
            Next::KeepAlive
        };
        Exchange::Done { next, reusable }
    }

    async fn tunnel(
        &mut self,
        fe: &Arc<ProxyRt>,
        bpx: &Arc<ProxyRt>,
        srv: &mut Stream,
        res: ResponseHead,
    ) -> Exchange {
        let mut out = Vec::with_capacity(256);
        res.write_to(&mut out);
        fe.counters.status(101);
        if !self.write_client(&out).await {
            return Exchange::Done {
                next: Next::Close,
                reusable: false,
            };
        }
        let tt = bpx.timeouts.tunnel;
        let t = TunnelTimeouts {
            client: tt.or(fe.timeouts.client),
            server: tt.or(bpx.timeouts.server),
            client_fin: fe.timeouts.client_fin,
            server_fin: bpx.timeouts.server_fin,
        };
        let cpend = self.cbuf.split().freeze();
        let spend = self.sbuf.split().freeze();
        let (end, st) = tunnel::run(&mut self.cli, &cpend, srv, &spend, t).await;
        self.log.tunnel_end(end, st);
        Exchange::Done {
            next: Next::Close,
            reusable: false,
        }
    }

    /// 504 (server timeout) or 502 (invalid or aborted response). As in HAProxy 2.6, the
    /// client connection goes on after a 504 or an invalid response when the request was
    /// complete and the client did not ask to close (`keep` is then its HTTP version); a
    /// server that closed mid-response closes the client connection too.
    async fn response_failure(
        &mut self,
        bpx: &Arc<ProxyRt>,
        e: RespErr,
        keep: Option<Version>,
    ) -> Exchange {
        bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
        let code = match e {
            RespErr::Timeout => 504,
            _ => 502,
        };
        match e {
            RespErr::Timeout => self.log.fail_at(b's', b'H'),
            RespErr::Invalid => self.log.fail_at(b'P', b'H'),
            RespErr::ClosedEmpty | RespErr::Closed => self.log.fail_at(b'S', b'H'),
        }
        tracing::info!(backend = %bpx.name, "server response failed: {e:?} -> {code}");
        // Nothing of the response went out yet: the client connection goes on when the
        // request allows it (`keep`), whatever went wrong with the server's head.
        let next = if keep.is_some() {
            self.reply_error(Some(bpx), code).await
        } else {
            self.reply_error_close(Some(bpx), code).await
        };
        Exchange::Done {
            next,
            reusable: false,
        }
    }

    async fn body_failure(&mut self, bpx: &Arc<ProxyRt>, e: CopyErr, request: bool) -> Exchange {
        let fe = self.fe.clone();
        tracing::info!(frontend = %fe.name, src = ?self.conn.src, "request body failed: {e:?}");
        let cause = match e {
            CopyErr::SrcInvalid | CopyErr::SrcInvalidEarly => b'P',
            CopyErr::SrcTimeout if bpx.timeouts.server.is_some() => b's',
            CopyErr::SrcTimeout => b'c',
            CopyErr::DstFailed => b'S',
            CopyErr::SrcClosed => b'C',
        };
        self.log.fail_at(cause, b'D');
        match (e, request) {
            (CopyErr::SrcInvalid | CopyErr::SrcInvalidEarly, true) => {
                crate::runtime::stats::counters::req_error(&fe);
                self.reply_error_close(Some(bpx), 400).await;
            }
            (CopyErr::SrcTimeout, true) if bpx.timeouts.server.is_some() => {
                // The wait was bounded by `timeout server` (see `exchange`): HAProxy's 504,
                // closing since the request is incomplete.
                bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
                self.reply_error_close(Some(bpx), 504).await;
            }
            (CopyErr::SrcTimeout, true) => {
                crate::runtime::stats::counters::req_error(&fe);
                self.reply_error_close(Some(bpx), 408).await;
            }
            (CopyErr::DstFailed, true) => {
                bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
                self.reply_error_close(Some(bpx), 502).await;
            }
            _ => {
                crate::runtime::stats::counters::req_error(&fe);
            }
        }
        Exchange::Done {
            next: Next::Close,
            reusable: false,
        }
    }
}

enum Exchange {
    Done {
        next: Next,
        reusable: bool,
    },
    /// The server connection failed before any response byte (a closed idle connection).
    RetryReused,
    /// A `retry-on` event: nothing went to the client, the request may be sent again.
    Retry(&'static str),
}

/// The `retry-on` event a failed response head is, when `r` retries on it.
fn retry_cause(r: &crate::model::RetryOn, e: RespErr) -> Option<&'static str> {
    match e {
        RespErr::Timeout if r.response_timeout => Some("response timeout"),
        RespErr::ClosedEmpty if r.empty_response => Some("empty response"),
        RespErr::Closed | RespErr::Invalid if r.junk_response => Some("junk response"),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RespErr {
    Timeout,
    /// Closed before sending anything.
    ClosedEmpty,
    /// Closed in the middle of the head.
    Closed,
    Invalid,
}

impl RespErr {
    /// How passive health (`observe layer7`) counts it.
    fn observed(&self) -> Observed {
        match self {
            RespErr::Timeout => Observed::Timeout,
            RespErr::ClosedEmpty | RespErr::Closed => Observed::Closed,
            RespErr::Invalid => Observed::Invalid,
        }
    }
}

async fn read_response_head(
    srv: &mut Stream,
    buf: &mut BytesMut,
    limits: &codec::Limits,
    t: Option<Duration>,
) -> Result<(ResponseHead, usize), RespErr> {
    let deadline = t.map(|d| Instant::now() + d);
    loop {
        if !buf.is_empty() {
            match codec::parse_response(buf, limits) {
                Ok(Some(x)) => return Ok(x),
                Ok(None) => {}
                Err(_) => return Err(RespErr::Invalid),
            }
        }
        let r = match deadline {
            Some(d) => match tokio::time::timeout_at(d, read_more(srv, buf)).await {
                Ok(r) => r,
                Err(_) => return Err(RespErr::Timeout),
            },
            None => read_more(srv, buf).await,
        };
        match r {
            Ok(0) | Err(_) => {
                return Err(if buf.is_empty() {
                    RespErr::ClosedEmpty
                } else {
                    RespErr::Closed
                });
            }
            Ok(_) => {}
        }
    }
}

/// Forwards a body of `kind` from `src` (its buffered bytes first) to `dst`, writing
/// `prefix` (a head) in the same write as the first body bytes.
#[allow(clippy::too_many_arguments)]
async fn copy_body(
    src: &mut Stream,
    sbuf: &mut BytesMut,
    dst: &mut Stream,
    kind: BodyKind,
    prefix: &mut Vec<u8>,
    rd_t: Option<Duration>,
    wr_t: Option<Duration>,
    lim: &Limits,
) -> Result<u64, CopyErr> {
    let mut out = std::mem::take(prefix);
    let mut total = 0u64;
    async fn write(dst: &mut Stream, b: &[u8], t: Option<Duration>) -> Result<(), CopyErr> {
        if b.is_empty() {
            return Ok(());
        }
        match with_timeout(t, dst.write_all(b)).await {
            Some(Ok(())) => Ok(()),
            _ => Err(CopyErr::DstFailed),
        }
    }
    async fn read(
        src: &mut Stream,
        buf: &mut BytesMut,
        t: Option<Duration>,
    ) -> Result<usize, CopyErr> {
        match with_timeout(t, read_more(src, buf)).await {
            None => Err(CopyErr::SrcTimeout),
            Some(Ok(0)) | Some(Err(_)) => Err(CopyErr::SrcClosed),
            Some(Ok(n)) => Ok(n),
        }
    }
    match kind {
        BodyKind::None => write(dst, &out, wr_t).await?,
        BodyKind::Length(mut n) => {
            let take = (n.min(sbuf.len() as u64)) as usize;
            out.extend_from_slice(&sbuf[..take]);
            sbuf.advance(take);
            n -= take as u64;
            total += take as u64;
            write(dst, &out, wr_t).await?;
            while n > 0 {
                read(src, sbuf, rd_t).await?;
                let take = (n.min(sbuf.len() as u64)) as usize;
                write(dst, &sbuf[..take], wr_t).await?;
                sbuf.advance(take);
                n -= take as u64;
                total += take as u64;
            }
        }
        BodyKind::Chunked => {
            // Decoded and re-encoded: the peer sees only plain chunk-size lines.
            let mut dec = ChunkDecoder::new(lim);
            let mut first = true;
            loop {
                let k = dec.decode(sbuf, &mut out).map_err(|_| {
                    if first {
                        CopyErr::SrcInvalidEarly
                    } else {
                        CopyErr::SrcInvalid
                    }
                })?;
                first = false;
                sbuf.advance(k);
                total += k as u64;
                write(dst, &out, wr_t).await?;
                out.clear();
                if dec.is_done() {
                    break;
                }
                read(src, sbuf, rd_t).await?;
            }
        }
        BodyKind::UntilClose => {
            out.extend_from_slice(sbuf);
            total += sbuf.len() as u64;
            sbuf.clear();
            write(dst, &out, wr_t).await?;
            loop {
                match read(src, sbuf, rd_t).await {
                    Ok(_) => {
                        write(dst, sbuf, wr_t).await?;
                        total += sbuf.len() as u64;
                        sbuf.clear();
                    }
                    Err(CopyErr::SrcClosed) => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(total)
}

fn bpx_reuse(bpx: &ProxyRt) -> HttpReuse {
    bpx.http_reuse
}

/// The server-side connection mode of a transaction: the stronger of the frontend's and the
/// backend's (close > server-close > keep-alive), as HAProxy combines them. The client side
/// follows the frontend alone.
fn effective_mode(fe: &ProxyRt, be: &ProxyRt) -> HttpConnMode {
    use HttpConnMode::*;
    match (fe.options.http_conn_mode, be.options.http_conn_mode) {
        (Close, _) | (_, Close) => Close,
        (ServerClose, _) | (_, ServerClose) => ServerClose,
        _ => KeepAlive,
    }
}

fn client_wants_close(req: &RequestHead) -> bool {
    match req.version {
        Version::H10 => !req.headers.has_token("connection", "keep-alive"),
        Version::H11 => req.headers.has_token("connection", "close"),
    }
}

/// Removes `close`/`keep-alive` from `Connection` and states what rproxy wants of the server.
fn prepare_server_connection_header(req: &mut RequestHead, mode: HttpConnMode, upgrade: bool) {
    strip_conn_tokens(&mut req.headers, upgrade);
    match mode {
        HttpConnMode::KeepAlive => {
            if req.version == Version::H10 {
                add_conn_token(&mut req.headers, "keep-alive");
            }
        }
        HttpConnMode::ServerClose | HttpConnMode::Close => {
            if req.version == Version::H11 {
                add_conn_token(&mut req.headers, "close");
            }
        }
    }
}

fn prepare_client_connection_header(res: &mut ResponseHead, client_version: Version, close: bool) {
    strip_conn_tokens(&mut res.headers, false);
    // HAProxy's rule: `close` only in an HTTP/1.1 message (to HTTP/1.0 clients too), where
    // keep-alive is the default; `keep-alive` when either side is HTTP/1.0.
    if close {
        if res.version == Version::H11 {
            add_conn_token(&mut res.headers, "close");
        }
    } else if client_version == Version::H10 || res.version == Version::H10 {
        add_conn_token(&mut res.headers, "keep-alive");
    }
}

/// Removes the hop-by-hop `close`/`keep-alive` tokens (and `upgrade` unless kept) from the
/// `Connection` lines where they stand, as HAProxy does; a line left empty goes.
fn strip_conn_tokens(h: &mut super::head::Headers, keep_upgrade: bool) {
    h.0.retain_mut(|hd| {
        if !hd.name.eq_ignore_ascii_case("connection") {
            return true;
        }
        let kept: Vec<&[u8]> = hd
            .value
            .split(|b| *b == b',')
            .map(super::head::trim)
            .filter(|t| {
                !(t.is_empty()
                    || t.eq_ignore_ascii_case(b"close")
                    || t.eq_ignore_ascii_case(b"keep-alive")
                    || (!keep_upgrade && t.eq_ignore_ascii_case(b"upgrade")))
            })
            .collect();
        if kept.is_empty() {
            return false;
        }
        hd.value = kept.join(&b", "[..]);
        true
    });
}

/// HAProxy states its own connection token on a `connection` line of its own, last.
fn add_conn_token(h: &mut super::head::Headers, token: &str) {
    h.add("connection", token.as_bytes().to_vec());
}

/// A generated response without its `connection` header lines (the message layer drops
/// them; the connection handling decides).
fn without_connection(resp: &[u8]) -> Vec<u8> {
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return resp.to_vec();
    };
    let mut out = Vec::with_capacity(resp.len());
    // Each line with its "\r\n"; the blank line and the body follow.
    for (i, line) in resp[..end + 2].split_inclusive(|&b| b == b'\n').enumerate() {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if i > 0 && name.trim_ascii().eq_ignore_ascii_case(b"connection") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(&resp[end + 2..]);
    out
}

/// An error page from the message layer, with the connection header HAProxy gives it:
/// `keep` is the client's version when the connection goes on (`connection: keep-alive`
/// for HTTP/1.0, nothing for 1.1), None when it closes (`connection: close`).
fn error_with_connection(page: &[u8], keep: Option<Version>) -> Vec<u8> {
    match keep {
        None => with_connection(page, true),
        Some(Version::H11) => page.to_vec(),
        Some(Version::H10) => match page.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => {
                let mut out = Vec::with_capacity(page.len() + 24);
                out.extend_from_slice(&page[..i + 2]);
                out.extend_from_slice(b"connection: keep-alive\r\n");
                out.extend_from_slice(&page[i + 2..]);
                out
            }
            None => page.to_vec(),
        },
    }
}

/// Adds `connection: close` to a locally generated response when the connection will end,
/// as its last header (where HAProxy puts it).
fn with_connection(resp: &[u8], close: bool) -> Vec<u8> {
    if !close {
        return resp.to_vec();
    }
    match resp.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => {
            let mut out = Vec::with_capacity(resp.len() + 20);
            out.extend_from_slice(&resp[..i + 2]);
            out.extend_from_slice(b"connection: close\r\n");
            out.extend_from_slice(&resp[i + 2..]);
            out
        }
        None => resp.to_vec(),
    }
}

fn status_of(resp: &[u8]) -> u16 {
    resp.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The chunked body at the start of `buf`, decoded: (data so far, whether it is complete);
/// None when the chunking is invalid. The codec's decoder validates and normalises it
/// (`SIZE\r\ndata\r\n` ... `0\r\n`), which is then read back.
fn dechunk(buf: &[u8], lim: &codec::Limits) -> Option<(Vec<u8>, bool)> {
    let mut dec = ChunkDecoder::new(lim);
    let mut norm = Vec::new();
    dec.decode(buf, &mut norm).ok()?;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(eol) = norm[i..].windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&norm[i..i + eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())?;
        i += eol + 2;
        if size == 0 {
            break;
        }
        let stop = i.saturating_add(size).min(norm.len());
        out.extend_from_slice(&norm[i..stop]);
        i = stop.saturating_add(2).min(norm.len());
    }
    Some((out, dec.is_done()))
}

/// The `monitor-uri` answer when the service is up.
const MONITOR_OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 47\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nUp.\n</body></html>\n";

fn auth_page(realm: &str) -> Vec<u8> {
    let body = "<html><body><h1>401 Unauthorized</h1>\nThis content needs a valid user name and password.\n</body></html>\n";
    let realm = realm.replace('"', "\\\"");
    format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"{realm}\"\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_close_is_the_last_header() {
        let r = with_connection(b"HTTP/1.1 200 OK\r\na: 1\r\n\r\nbody\r\n\r\n", true);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\na: 1\r\nconnection: close\r\n\r\nbody\r\n\r\n"
        );
        assert_eq!(
            with_connection(b"HTTP/1.1 200 OK\r\n\r\n", false),
            b"HTTP/1.1 200 OK\r\n\r\n"
        );
    }

    #[test]
    fn generated_pages_lose_their_connection_header() {
        assert_eq!(
            without_connection(b"HTTP/1.1 400 Bad\r\na: 1\r\nConnection: close\r\nb: 2\r\n\r\nx"),
            b"HTTP/1.1 400 Bad\r\na: 1\r\nb: 2\r\n\r\nx"
        );
        assert_eq!(
            without_connection(b"HTTP/1.1 200 OK\r\n\r\n"),
            b"HTTP/1.1 200 OK\r\n\r\n"
        );
        assert_eq!(without_connection(b"garbage"), b"garbage");
    }

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(
            dechunk(
                b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nGET",
                &codec::Limits::default()
            ),
            Some((b"abcde".to_vec(), true))
        );
        assert_eq!(
            dechunk(b"3\r\nabc\r\n5\r\nde", &codec::Limits::default()),
            Some((b"abcde".to_vec(), false))
        );
        assert_eq!(dechunk(b"zz\r\n", &codec::Limits::default()), None);
    }

    #[test]
    fn error_pages_say_what_becomes_of_the_connection() {
        let page = b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 2\r\n\r\nno";
        assert_eq!(error_with_connection(page, Some(Version::H11)), page);
        assert_eq!(
            error_with_connection(page, Some(Version::H10)),
            b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nno"
        );
        let closing = error_with_connection(page, None);
        assert!(closing.windows(19).any(|w| w == b"connection: close\r\n"));
    }

    #[test]
    fn monitor_page_length() {
        let p = MONITOR_OK;
        let i = p.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        assert_eq!(p.len() - i, 47);
    }
}

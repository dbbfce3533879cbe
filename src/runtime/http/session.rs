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
use crate::runtime::backend::{Backend, PickError, Slot};
use crate::runtime::balance;
use crate::runtime::listeners::Accepted;
use crate::runtime::proxy::{BackendChoice, ProxyRt};
use crate::runtime::sample::{ConnInfo, EvalCtx, TxnInfo, Vars};
use crate::runtime::stream::Stream;
use crate::runtime::tunnel::{self, TunnelTimeouts};

/// Whether the client connection goes on after a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

/// A server connection kept for the session's next request (HAProxy's private connection).
struct Held {
    be: Arc<Backend>,
    idx: usize,
    stream: Stream,
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
    /// The current request's version and whether the client connection must close after
    /// it: what an error answer needs to know (see [`Session::reply_error`]).
    req_version: Version,
    req_close: bool,
    /// What is left unread of the current request's body.
    body_left: BodyKind,
}

pub async fn serve(rt: Arc<Runtime>, fe: Arc<ProxyRt>, acc: Accepted) {
    let conn = ConnInfo {
        src: acc.src,
        dst: acc.dst,
        ..Default::default()
    };
    let accept_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if !tcp_connection_allowed(&rt, &fe, &conn) {
        fe.counters.denied.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut s = Session {
        rt,
        fe,
        conn,
        cli: acc.stream,
        // Buffers grow on demand (4 KiB steps): an idle or small-request connection stays
        // small, as HAProxy's on-demand buffers keep it.
        cbuf: BytesMut::new(),
        sbuf: BytesMut::new(),
        held: None,
        nreq: 0,
        accept_ms,
        req_version: Version::H11,
        req_close: false,
        body_left: BodyKind::None,
    };
    s.run().await;
}

fn tcp_connection_allowed(rt: &Runtime, fe: &ProxyRt, conn: &ConnInfo) -> bool {
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
/// N > 0 every Nth retry, N < 0 the |N|th retry before the last (default -1: the last).
pub fn redispatch_now(be: &ProxyRt, attempt: u32) -> bool {
    let Some(n) = be.options.redispatch else {
        return false;
    };
    let retries = be.retries as i64;
    let attempt = attempt as i64;
    if n > 0 {
        attempt % i64::from(n) == 0
    } else if n < 0 {
        attempt == retries + 1 + i64::from(n)
    } else {
        false
    }
}

async fn with_timeout<F: std::future::Future>(t: Option<Duration>, f: F) -> Option<F::Output> {
    match t {
        Some(d) => tokio::time::timeout(d, f).await.ok(),
        None => Some(f.await),
    }
}

async fn read_more(s: &mut Stream, buf: &mut BytesMut) -> std::io::Result<usize> {
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
        loop {
            let head = match self.read_head(&mut stop).await {
                Ok(h) => h,
                Err(HeadEnd::Quiet) => break,
                Err(HeadEnd::Reply(code)) => {
                    self.send_mux_error(code).await;
                    break;
                }
            };
            if self.transaction(head).await == Next::Close || *stop.borrow() {
                break;
            }
        }
        if let Some(h) = self.held.take()
            && h.be.reuse != HttpReuse::Never
        {
            h.be.put_idle(h.idx, h.stream);
        }
        let _ = self.cli.shutdown().await;
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
        let now = Instant::now();
        let mut deadline = if got_data && !first {
            req_t.map(|d| now + d)
        } else {
            idle_t.map(|d| now + d)
        };
        loop {
            if !self.cbuf.is_empty() {
                match codec::parse_request(&self.cbuf, &self.rt.limits) {
                    Ok(Some((h, n))) => {
                        self.cbuf.advance(n);
                        return Ok(h);
                    }
                    Ok(None) => {}
                    Err(e) => {
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
                        tracing::info!(frontend = %self.fe.name, src = ?self.conn.src, "request head timed out");
                        Err(HeadEnd::Reply(408))
                    } else {
                        Err(HeadEnd::Quiet)
                    };
                }
                Some(Ok(0)) if !self.cbuf.is_empty() => {
                    // HAProxy answers a request cut short by the client's close with 400.
                    tracing::info!(frontend = %self.fe.name, src = ?self.conn.src, "client closed during request head");
                    return Err(HeadEnd::Reply(400));
                }
                Some(Ok(0)) | Some(Err(_)) => {
                    if got_data {
                        tracing::info!(frontend = %self.fe.name, "client closed during request head");
                        self.fe.counters.errors_req.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(HeadEnd::Quiet);
                }
                Some(Ok(_)) => {
                    if !got_data {
                        got_data = true;
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
        fe.counters.errors_req.fetch_add(1, Ordering::Relaxed);
        fe.counters.status(code);
        let silent = fe.errors.configured(code).is_some_and(Reply::is_empty);
        if !silent {
            let _ = self.write_client(pages::default_reply(code).raw()).await;
        }
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
        let be = be.filter(|b| !Arc::ptr_eq(b, &fe));
        let (bytes, close) = ErrorPages::select(be.map(|b| &b.errors), &fe.errors, code)
            .render(self.req_version, close);
        be.unwrap_or(&fe).counters.status(code);
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
        let mut client_close = client_wants_close(&req)
            || framing.close
            || fe.options.http_conn_mode == HttpConnMode::Close
            || *self.rt.stopping.borrow();
        self.req_version = req.version;
        self.req_close = client_close;
        self.body_left = body;
        let mut info = self.base_info();
        let mut vars = Vars::default();

        // monitor-uri answers before any rule, as in HAProxy.
        if let Some(uri) = &fe.monitor_uri
            && (req.uri == *uri || req.path() == uri)
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
            if failed {
                return self.reply_error(None, 503).await;
            }
            fe.counters.status(200);
            if !self.write_client(MONITOR_OK).await || body != BodyKind::None {
                return Next::Close;
            }
            return if client_close {
                Next::Close
            } else {
                Next::KeepAlive
            };
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
        let mut forced = None;
        match verdict {
            Verdict::Continue => {}
            Verdict::SetBackend(name) => forced = self.rt.by_name.get(&name).copied(),
            v => return self.local_answer(&fe, v, body, client_close).await,
        }

        // Backend choice: reqsetbe, use_backend (first match), default_backend, the listen.
        let be_idx = match forced {
            Some(i) => Some(i),
            None => self.choose_backend(&fe, &req, &vars, &info),
        };
        let Some(bpx) = be_idx.and_then(|i| self.rt.proxies.get(i)).cloned() else {
            tracing::info!(frontend = %fe.name, "no backend for request");
            return self.reply_error(None, 503).await;
        };
        info.backend = Some(bpx.name.clone());
        bpx.counters.requests.fetch_add(1, Ordering::Relaxed);
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
            match verdict {
                Verdict::Continue | Verdict::SetBackend(_) => {}
                v => return self.local_answer(&bpx, v, body, client_close).await,
            }
            if bpx.options.http_conn_mode == HttpConnMode::Close {
                client_close = true;
                self.req_close = true;
            }
        }
        let Some(be) = bpx.backend.clone() else {
            return self.reply_error(Some(&bpx), 503).await;
        };
        self.add_forwarding_headers(&fe, &bpx, &mut req);
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
                        // An unknown dynamic name falls through to default_backend.
                        if let Some(i) = self.rt.by_name.get(&f.render_string(&ctx)) {
                            return Some(*i);
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
        match v {
            Verdict::Deny(code) => {
                px.counters.denied.fetch_add(1, Ordering::Relaxed);
                tracing::info!(proxy = %px.name, src = ?self.conn.src, "request denied ({code})");
                self.reply_error(Some(px), code).await
            }
            Verdict::Tarpit(code) => {
                px.counters.denied.fetch_add(1, Ordering::Relaxed);
                let t = px
                    .timeouts
                    .tarpit
                    .or(px.timeouts.connect)
                    .unwrap_or(Duration::ZERO);
                tokio::time::sleep(t).await;
                self.reply_error(Some(px), code).await
            }
            Verdict::Auth(realm) => {
                px.counters.status(401);
                let page = auth_page(&realm);
                let ok = self.write_client(&page).await;
                if ok && body == BodyKind::None && !client_close {
                    Next::KeepAlive
                } else {
                    Next::Close
                }
            }
            Verdict::Respond(bytes) => {
                px.counters.status(status_of(&bytes));
                let bytes = with_connection(&bytes, client_close || body != BodyKind::None);
                let ok = self.write_client(&bytes).await;
                // The request body was not read: the connection cannot carry another one.
                if ok && body == BodyKind::None && !client_close {
                    Next::KeepAlive
                } else {
                    Next::Close
                }
            }
            Verdict::Continue | Verdict::SetBackend(_) => Next::Close,
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

        // `option http-buffer-request`: wait for the whole body before choosing a server.
        if (fe.options.http_buffer_request || bpx.options.http_buffer_request)
            && let BodyKind::Length(n) = body
            && (n as usize) <= self.rt.limits.max_head
        {
            if expect_continue && self.cbuf.len() < n as usize {
                if !self.write_client(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                    return Next::Close;
                }
                req.headers.remove("expect");
            }
            while self.cbuf.len() < n as usize {
                match with_timeout(
                    fe.timeouts.http_request.or(fe.timeouts.client),
                    read_more(&mut self.cli, &mut self.cbuf),
                )
                .await
                {
                    Some(Ok(k)) if k > 0 => {}
                    Some(_) => return Next::Close,
                    None => return self.reply_error(None, 408).await,
                }
            }
        }

        let key = balance::hash_key(&be.balance, Some(&req), &self.conn);
        let named = {
            let ctx = EvalCtx {
                conn: &self.conn,
                req: Some(&req),
                res: None,
                vars: &vars,
                info: &info,
            };
            bpx.use_servers
                .iter()
                .find(|(i, c)| {
                    be.servers.get(*i).is_some_and(|s| s.usable())
                        && c.as_ref().is_none_or(|c| c.eval(&ctx))
                })
                .map(|(i, _)| *i)
        };
        let mut head = Vec::with_capacity(1024);
        req.write_to(&mut head);

        let queue_t = bpx.timeouts.queue.or(bpx.timeouts.connect);
        let mut exclude = None;
        let mut attempts = 0u32;
        let mut reused_retry_left = true;
        loop {
            let slot = match named {
                Some(i) if exclude != Some(i) => be.assign_named(i, queue_t).await,
                _ => be.assign(key, exclude, queue_t).await,
            };
            let slot = match slot {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!(backend = %bpx.name, "no server: {e:?}");
                    if e != PickError::NoServer {
                        bpx.counters.errors_conn.fetch_add(1, Ordering::Relaxed);
                    }
                    return self.reply_error(Some(bpx), 503).await;
                }
            };
            info.server = Some(be.servers[slot.idx].name.clone());
            let (mut srv, reused) = match self.server_conn(be, &slot, bpx).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::info!(backend = %bpx.name, server = %be.servers[slot.idx].name, "connect failed: {e}");
                    bpx.counters.errors_conn.fetch_add(1, Ordering::Relaxed);
                    if attempts >= bpx.retries {
                        return self.reply_error(Some(bpx), 503).await;
                    }
                    attempts += 1;
                    bpx.counters.retries.fetch_add(1, Ordering::Relaxed);
                    if redispatch_now(bpx, attempts) && be.servers.len() > 1 {
                        bpx.counters.redispatches.fetch_add(1, Ordering::Relaxed);
                        exclude = Some(slot.idx);
                    }
                    drop(slot);
                    // HAProxy's turn-around pause between attempts.
                    let pause = bpx
                        .timeouts
                        .connect
                        .unwrap_or(Duration::from_secs(1))
                        .min(Duration::from_secs(1));
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            match self
                .exchange(
                    fe,
                    bpx,
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
                )
                .await
            {
                Exchange::Done { next, reusable } => {
                    if reusable {
                        self.held = Some(Held {
                            be: be.clone(),
                            idx: slot.idx,
                            stream: srv,
                        });
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
                Exchange::RetryReused => {
                    return self.reply_error(Some(bpx), 502).await;
                }
            }
        }
    }

    /// A connection to the slot's server: the session's own, an idle one, or a new one.
    async fn server_conn(
        &mut self,
        be: &Arc<Backend>,
        slot: &Slot,
        bpx: &ProxyRt,
    ) -> std::io::Result<(Stream, bool)> {
        if let Some(h) = self.held.take() {
            if Arc::ptr_eq(&h.be, be) && h.idx == slot.idx && h.stream.is_idle_alive() {
                return Ok((h.stream, true));
            }
            h.be.put_idle(h.idx, h.stream);
        }
        // `http-reuse safe`: a session's first request never rides another's connection.
        let may_share = match bpx_reuse(bpx) {
            HttpReuse::Never => false,
            HttpReuse::Safe => self.nreq > 1,
            HttpReuse::Aggressive | HttpReuse::Always => true,
        };
        if may_share && let Some(s) = be.take_idle(slot.idx) {
            return Ok((s, true));
        }
        let s = be
            .connect(slot.idx, self.conn.dst, bpx.timeouts.connect)
            .await?;
        Ok((s, false))
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &mut self,
        fe: &Arc<ProxyRt>,
        bpx: &Arc<ProxyRt>,
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
        self.sbuf.clear();
        let mut body_sent = body == BodyKind::None;
        let mut early_final: Option<(ResponseHead, usize)> = None;
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
                }
                Some(Ok(x)) => {
                    // A final answer without wanting the body: relay it and close.
                    early_final = Some(x);
                    body_sent = true;
                    client_close = true;
                }
                Some(Err(e)) => return self.response_failure(bpx, e).await,
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
                    cli_t,
                    srv_t,
                    &self.rt.limits,
                )
                .await
                {
                    Ok(_) => {
                        body_sent = true;
                        self.body_left = BodyKind::None;
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
                cli_t,
                srv_t,
                &self.rt.limits,
            )
            .await
            {
                Ok(_) => {
                    body_sent = true;
                    self.body_left = BodyKind::None;
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
                    Ok((h, n)) if (100..200).contains(&h.status) && h.status != 101 => {
                        self.sbuf.advance(n);
                        if h.status == 100 && expect_continue {
                            continue; // already relayed or not wanted twice
                        }
                        let mut b = Vec::new();
                        h.write_to(&mut b);
                        if !self.write_client(&b).await {
                            return Exchange::Done {
                                next: Next::Close,
                                reusable: false,
                            };
                        }
                    }
                    Ok(x) => break x,
                    Err(RespErr::ClosedEmpty) => return Exchange::RetryReused,
                    Err(e) => return self.response_failure(bpx, e).await,
                }
            },
        };
        self.sbuf.advance(n);
        info.status = Some(res.status);

        if res.status == 101 && upgrade {
            return self.tunnel(fe, bpx, srv, res).await;
        }
        let res_body = match codec::response_body(&mut res, &req.method) {
            Ok(b) => b,
            Err(_) => return self.response_failure(bpx, RespErr::Invalid).await,
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
            let code = match verdict {
                Verdict::Continue | Verdict::SetBackend(_) => continue,
                Verdict::Respond(bytes) => {
                    px.counters.status(status_of(&bytes));
                    let _ = self.write_client(&with_connection(&bytes, true)).await;
                    return Exchange::Done {
                        next: Next::Close,
                        reusable: false,
                    };
                }
                Verdict::Deny(c) | Verdict::Tarpit(c) => c,
                Verdict::Auth(_) => 401,
            };
            px.counters.denied.fetch_add(1, Ordering::Relaxed);
            tracing::info!(proxy = %px.name, "response denied ({code})");
            let px = px.clone();
            // The server's answer is dropped with its connection; the client's may go on.
            let next = self.reply_error(Some(&px), code).await;
            return Exchange::Done {
                next,
                reusable: false,
            };
        }

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
        match copy_body(
            srv,
            &mut self.sbuf,
            &mut self.cli,
            res_body,
            &mut out,
            srv_t,
            cli_t,
            &self.rt.limits,
        )
        .await
        {
            Ok(_) => {}
            Err(CopyErr::SrcInvalidEarly) => {
                // The body was bad before the head went out: HAProxy still answers 502.
                return self.response_failure(bpx, RespErr::Invalid).await;
            }
            Err(CopyErr::SrcTimeout) | Err(CopyErr::SrcClosed) | Err(CopyErr::SrcInvalid) => {
                tracing::info!(backend = %bpx.name, "server response body failed");
                bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
                return Exchange::Done {
                    next: Next::Close,
                    reusable: false,
                };
            }
            Err(CopyErr::DstFailed) => {
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
        let _ = tunnel::run(&mut self.cli, &cpend, srv, &spend, t).await;
        Exchange::Done {
            next: Next::Close,
            reusable: false,
        }
    }

    async fn response_failure(&mut self, bpx: &Arc<ProxyRt>, e: RespErr) -> Exchange {
        bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
        let code = match e {
            RespErr::Timeout => 504,
            _ => 502,
        };
        tracing::info!(backend = %bpx.name, "server response failed: {e:?} -> {code}");
        let next = self.reply_error(Some(bpx), code).await;
        Exchange::Done {
            next,
            reusable: false,
        }
    }

    async fn body_failure(&mut self, bpx: &Arc<ProxyRt>, e: CopyErr, request: bool) -> Exchange {
        let fe = self.fe.clone();
        tracing::info!(frontend = %fe.name, src = ?self.conn.src, "request body failed: {e:?}");
        match (e, request) {
            (CopyErr::SrcInvalid | CopyErr::SrcInvalidEarly, true) => {
                fe.counters.errors_req.fetch_add(1, Ordering::Relaxed);
                self.reply_error_close(Some(bpx), 400).await;
            }
            (CopyErr::SrcTimeout, true) => {
                fe.counters.errors_req.fetch_add(1, Ordering::Relaxed);
                self.reply_error_close(Some(bpx), 408).await;
            }
            (CopyErr::DstFailed, true) => {
                bpx.counters.errors_resp.fetch_add(1, Ordering::Relaxed);
                self.reply_error_close(Some(bpx), 502).await;
            }
            _ => {
                fe.counters.errors_req.fetch_add(1, Ordering::Relaxed);
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

/// The connection mode of a transaction: the stronger of the frontend's and the backend's
/// (close > server-close > keep-alive), as HAProxy combines them.
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

fn strip_conn_tokens(h: &mut super::head::Headers, keep_upgrade: bool) {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut any = false;
    for v in h.get_all("connection") {
        any = true;
        for t in v.split(|b| *b == b',') {
            let t = super::head::trim(t);
            if t.is_empty()
                || t.eq_ignore_ascii_case(b"close")
                || t.eq_ignore_ascii_case(b"keep-alive")
                || (!keep_upgrade && t.eq_ignore_ascii_case(b"upgrade"))
            {
                continue;
            }
            kept.push(t.to_vec());
        }
    }
    if any {
        h.remove("connection");
        if !kept.is_empty() {
            h.add("connection", kept.join(&b", "[..]));
        }
    }
}

fn add_conn_token(h: &mut super::head::Headers, token: &str) {
    if let Some(hd) = h.0.iter_mut().find(|x| x.name == "connection") {
        hd.value.extend_from_slice(b", ");
        hd.value.extend_from_slice(token.as_bytes());
    } else {
        h.add("connection", token.as_bytes().to_vec());
    }
}

/// Adds `connection: close` to a locally generated response when the connection will end.
fn with_connection(resp: &[u8], close: bool) -> Vec<u8> {
    if !close {
        return resp.to_vec();
    }
    match resp.windows(2).position(|w| w == b"\r\n") {
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
    fn monitor_page_length() {
        let p = MONITOR_OK;
        let i = p.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        assert_eq!(p.len() - i, 47);
    }
}

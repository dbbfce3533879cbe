//! The proxy runtime, built only from the validated model ([`crate::model::Config`]).
//!
//! Start-up is split so that a later reload can reuse it: [`Runtime::build`] turns a model
//! into run-time objects (no sockets), [`listeners::bind_all`] binds (before privileges are
//! dropped), and [`Runtime::serve`] runs accept loops over already-bound sockets until a stop
//! signal. A reload builds a new `Runtime` from a new model and hands it the sockets.

pub mod backend;
pub mod balance;
pub mod checks;
pub mod cli;
pub mod h2;
pub mod http;
pub mod inherit;
pub mod inspect;
pub mod listeners;
pub mod log;
pub mod persist;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod proxy_protocol;
pub mod readiness;
pub mod sample;
pub mod stats;
pub mod stream;
pub mod tcp;
pub mod tls_bind;
pub mod tls_client;
pub mod tls_store;
pub mod tunnel;
pub mod txnlog;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::config::diag::Diags;
use crate::model::Config;
use crate::model::proxy::Mode;
use http::codec::Limits;
use listeners::{BoundListener, Listener};
use proxy::ProxyRt;

/// Process-wide run-time state.
#[derive(Debug)]
pub struct Runtime {
    pub proxies: Vec<Arc<ProxyRt>>,
    pub by_name: HashMap<String, usize>,
    pub limits: Limits,
    pub maxconn: u32,
    pub(crate) global_slots: Arc<Semaphore>,
    /// Becomes true on a soft stop: idle connections close, busy ones after their response.
    pub stopping: watch::Sender<bool>,
    /// Becomes true when `hard-stop-after` expires during a soft stop: transactions still
    /// running end (with a 502 when no response byte was sent yet).
    pub killed: watch::Sender<bool>,
    /// Client connections being served.
    pub active: AtomicU64,
    pub pid: u32,
    pub hard_stop_after: Option<Duration>,
    /// Every server's health checker, started by [`Runtime::serve`].
    pub checks: checks::scheduler::Checks,
    /// The TLS settings of each `bind ... ssl`, by (proxy, bind) index.
    pub bind_tls: tls_bind::BindTlsMap,
    /// The stats socket service (`stats socket`), started by [`Runtime::serve`].
    pub cli: cli::Cli,
    /// What the stats page and exports need from the configuration.
    pub stats: stats::Info,
    /// The HTTP/2 settings announced to clients.
    pub h2: h2::Settings,
}

/// The default `maxconn` when `global` sets none: what the descriptor limit allows
/// (two descriptors per proxied connection), as HAProxy derives it.
pub fn default_maxconn() -> u32 {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(s, _)| s)
        .unwrap_or(1024);
    (soft.saturating_sub(100) / 2).clamp(100, 1_000_000) as u32
}

impl Runtime {
    /// Builds the run-time objects; errors and warnings about settings go to the returned
    /// diagnostics (errors mean the runtime must not start).
    pub fn build(cfg: &Config) -> (Runtime, Diags) {
        let mut d = Diags::default();
        let maxconn = cfg.global.maxconn.unwrap_or_else(default_maxconn).max(1);
        let bufsize = cfg.global.tune_bufsize.unwrap_or(16384) as usize;
        let maxrewrite = cfg
            .global
            .tune_maxrewrite
            .map(|m| m as usize)
            .unwrap_or(1024.min(bufsize / 2));
        let limits = Limits {
            max_head: bufsize.saturating_sub(maxrewrite).max(256),
            max_headers: cfg.global.tune_http_maxhdr.unwrap_or(101) as usize,
            bufsize,
        };
        let mut proxies = proxy::build_all(cfg, maxconn, &mut d);
        if cfg
            .global
            .logs
            .iter()
            .chain(cfg.proxies.iter().flat_map(|p| &p.logs))
            .any(|t| {
                matches!(
                    t.dest,
                    crate::model::LogDest::Fd(_) | crate::model::LogDest::Ring(_)
                )
            })
        {
            d.push(crate::config::diag::Diagnostic::global(
                crate::config::diag::Severity::Warning,
                "log targets 'fd@N' (other than 1 and 2) and 'ring@NAME' are not served by this \
                 version's runtime: messages for them are dropped",
            ));
        }
        for (p, m) in proxies.iter_mut().zip(&cfg.proxies) {
            if m.caps.frontend
                && let Some(px) = Arc::get_mut(p)
            {
                let n = m.maxconn.unwrap_or(maxconn).max(1) as usize;
                px.conn_slots = Some(Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))));
            }
        }
        let checks = checks::scheduler::Checks::build(cfg, &proxies, &mut d);
        let bind_tls = tls_bind::build_all(cfg, &mut d);
        let stats = stats::Info::build(cfg, maxconn, &mut d);
        let by_name = cfg
            .proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.caps.backend)
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        let (stopping, _) = watch::channel(false);
        let (killed, _) = watch::channel(false);
        tunnel::set_nosplice(cfg.global.nosplice);
        tunnel::set_pipesize(cfg.global.tune_pipesize.unwrap_or(0));
        (
            Runtime {
                proxies,
                by_name,
                limits,
                maxconn,
                global_slots: Arc::new(Semaphore::new(
                    (maxconn as usize).min(Semaphore::MAX_PERMITS),
                )),
                stopping,
                killed,
                active: AtomicU64::new(0),
                pid: std::process::id(),
                hard_stop_after: cfg.global.hard_stop_after,
                checks,
                bind_tls,
                cli: cli::Cli::build(cfg),
                stats,
                h2: h2::Settings::new(&cfg.global, bufsize),
            },
            d,
        )
    }

    pub fn backend_by_name(&self, name: &str) -> Option<&Arc<ProxyRt>> {
        self.by_name.get(name).and_then(|i| self.proxies.get(*i))
    }

    /// Serves the bound listeners until SIGTERM/SIGINT (immediate stop) or SIGUSR1 (soft
    /// stop: stop accepting, finish in-flight requests). Returns the exit code.
    pub async fn serve(self: Arc<Self>, bound: Vec<BoundListener>) -> i32 {
        let mut accepts = Vec::new();
        for b in bound {
            let Some(px) = self.proxies.get(b.proxy).cloned() else {
                continue;
            };
            let listener = match listeners::into_tokio(b.socket) {
                Ok(l) => l,
                Err(e) => {
                    process::alert(&format!(
                        "Starting proxy {}: cannot listen on {}: {e}",
                        px.name, b.label
                    ));
                    return 1;
                }
            };
            let tls = self.bind_tls.get(&(b.proxy, b.bind)).cloned();
            let lst = self.stats.listener(b.proxy, b.bind, &b.label);
            accepts.push(tokio::spawn(accept_loop(
                self.clone(),
                px,
                listener,
                tls,
                b.accept_proxy,
                lst,
            )));
        }
        // A timer that always fires within a second. tokio wakes its event loop (an eventfd
        // write and an extra epoll round) whenever a new timer is due before the loop's
        // planned wake-up; with this one pending, the per-request timeouts (`timeout
        // client`/`server`, seconds long) never are, and that wake-up disappears (about one
        // per request before). Sub-second timeouts still wake the loop as they must.
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
        });
        process::started();
        self.checks.start();
        cli::Cli::start(&self);
        let sig = process::wait_stop_signal().await;
        match sig {
            // HAProxy 2.6 (without master-worker) has no handler for these: it dies at
            // once and says nothing. rproxy stops as promptly, silently, with status 0.
            process::StopKind::Hard => 0,
            process::StopKind::Soft => {
                let _ = self.stopping.send(true);
                // Each accept loop drains its queue and returns (see `accept_loop`); one
                // stuck on `maxconn` is stopped here.
                let _ = tokio::time::timeout(Duration::from_millis(100), async {
                    for a in &mut accepts {
                        let _ = a.await;
                    }
                })
                .await;
                for a in &accepts {
                    a.abort();
                }
                // HAProxy reports each proxy as stopped when its listeners are closed, at
                // the start of the soft stop.
                self.report_stopped();
                let drained = self.drained();
                let hard = async {
                    match self.hard_stop_after {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = drained => {}
                    _ = hard => self.hard_stop().await,
                    s = process::wait_stop_signal() => {
                        let _ = s;
                    }
                }
                0
            }
        }
    }

    /// Resolves when no client connection is left.
    async fn drained(&self) {
        while self.active.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `hard-stop-after` expired: HAProxy's messages, then every transaction is ended and
    /// given up to a second to say so to its client.
    async fn hard_stop(&self) {
        process::warning("soft-stop running for too long, performing a hard-stop.");
        for p in self.proxies.iter().filter(|p| p.caps.frontend) {
            let n = p.counters.current.load(Ordering::Relaxed);
            if n > 0 {
                process::warning(&format!(
                    "Proxy {} hard-stopped ({n} remaining conns will be closed).",
                    p.name
                ));
            }
        }
        let _ = self.killed.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.drained()).await;
    }

    fn report_stopped(&self) {
        for p in &self.proxies {
            let fe = p.counters.sessions.load(Ordering::Relaxed);
            let be = p
                .backend
                .as_ref()
                .map(|b| b.total.load(Ordering::Relaxed))
                .unwrap_or(0);
            process::warning(&format!(
                "Proxy {} stopped (cumulated conns: FE: {fe}, BE: {be}).",
                p.name
            ));
        }
        // HAProxy 2.6 also reports its internal HTTP client proxy; the line is kept so that
        // logs read the same.
        process::warning("Proxy <HTTPCLIENT> stopped (cumulated conns: FE: 0, BE: 0).");
    }
}

/// Held by a connection's task: gives back its `maxconn` slots and the active count when
/// the task ends, however it ends. Passed into the session function itself: an async block
/// around the session's future would hold that future twice in its task.
pub struct ConnGuard {
    rt: Arc<Runtime>,
    px: Arc<ProxyRt>,
    _slots: (
        tokio::sync::OwnedSemaphorePermit,
        Option<tokio::sync::OwnedSemaphorePermit>,
    ),
    /// The connection's entry for the stats socket's `show sess` (0: none).
    sess: u64,
    /// The listener's stats (`option socket-stats`).
    lst: Option<Arc<stats::listener::ListenerStat>>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.sess != 0 {
            self.rt.cli.end_session(self.sess);
        }
        self.px.counters.current.fetch_sub(1, Ordering::Relaxed);
        if let Some(l) = &self.lst {
            l.on_close();
        }
        self.rt.active.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn accept_loop(
    rt: Arc<Runtime>,
    px: Arc<ProxyRt>,
    mut listener: Listener,
    tls: Option<Arc<tls_bind::BindTls>>,
    accept_proxy: bool,
    lst: Option<Arc<stats::listener::ListenerStat>>,
) {
    let mut stop = rt.stopping.subscribe();
    let mut draining: Option<tokio::time::Instant> = None;
    // `disable|enable|shutdown frontend` on the stats socket.
    let mut fe_ctl = rt.cli.fe_watch(px.idx);
    loop {
        // Take the slots first: beyond maxconn the socket is not read, and new connections
        // wait in the kernel's backlog as in HAProxy.
        let Ok(global) = rt.global_slots.clone().acquire_owned().await else {
            return;
        };
        let local = match &px.conn_slots {
            Some(s) => match s.clone().acquire_owned().await {
                Ok(p) => Some(p),
                Err(_) => return,
            },
            None => None,
        };
        let acc = if let Some(until) = draining {
            // Soft stop: what the kernel already queued on this socket is served before
            // it closes (closing resets it), for a few ms at most (the kernel still
            // queues new connections here under load until the socket is closed).
            if tokio::time::Instant::now() >= until {
                return;
            }
            match listener.accept_now() {
                Some(r) => r,
                None => return,
            }
        } else {
            tokio::select! {
                // `maxconnrate`/`maxsessrate`/`maxsslrate`: beyond them the socket is not
                // read for a while (clients wait in the backlog).
                r = async {
                    rt.cli.rate.admit(tls.is_some()).await;
                    listener.accept().await
                } => r,
                _ = stop.changed() => {
                    draining = Some(tokio::time::Instant::now() + Duration::from_millis(20));
                    continue;
                }
                _ = cli::admin::fe_changed(&mut fe_ctl) => {
                    if let Some(rx) = &mut fe_ctl
                        && !cli::admin::hold(&rt, rx, &mut listener).await
                    {
                        return;
                    }
                    continue;
                }
            }
        };
        let acc = match acc {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(proxy = %px.name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        rt.cli.rate.on_accept(tls.is_some());
        cli::activity::on_accept();
        px.counters.sessions.fetch_add(1, Ordering::Relaxed);
        let cur = px.counters.current.fetch_add(1, Ordering::Relaxed) + 1;
        px.counters.fe.on_accept(cur);
        if let Some(l) = &lst {
            l.on_accept();
        }
        if px.options.clitcpka {
            match &acc.stream {
                stream::Stream::Fresh(Some(t)) => {
                    let _ = socket2::SockRef::from(t).set_keepalive(true);
                }
                stream::Stream::Tcp(t) => {
                    let _ = socket2::SockRef::from(t).set_keepalive(true);
                }
                _ => {}
            }
        }
        rt.active.fetch_add(1, Ordering::AcqRel);
        let sess = rt.cli.track(&px.name, acc.src);
        let guard = ConnGuard {
            rt: rt.clone(),
            px: px.clone(),
            _slots: (global, local),
            sess,
            lst: lst.clone(),
        };
        if accept_proxy || !px.expect_proxy.is_empty() {
            let task = tokio::spawn(stats::listener::scope(
                lst.clone(),
                after_proxy_header(
                    rt.clone(),
                    px.clone(),
                    acc,
                    guard,
                    accept_proxy,
                    tls.clone(),
                ),
            ));
            rt.cli.set_abort(sess, task.abort_handle());
            continue;
        }
        // One spawn per mode: each task is as large as its own session, not the largest.
        if let Some(cfg) = &tls {
            let task = tokio::spawn(stats::listener::scope(
                lst.clone(),
                tls_serve(rt.clone(), px.clone(), acc, cfg.clone(), guard),
            ));
            rt.cli.set_abort(sess, task.abort_handle());
            continue;
        }
        let task = match px.mode {
            Mode::Http => tokio::spawn(stats::listener::scope(
                lst.clone(),
                http::session::serve(rt.clone(), px.clone(), acc, guard),
            )),
            Mode::Tcp => tokio::spawn(stats::listener::scope(
                lst.clone(),
                tcp::serve(rt.clone(), px.clone(), acc, guard),
            )),
            Mode::Health => tokio::spawn(tcp::health(acc, guard)),
        };
        rt.cli.set_abort(sess, task.abort_handle());
    }
}

/// The `tcp-request connection` rules of a frontend whose connections may start with a
/// PROXY header, run on the connection's real addresses as HAProxy does: None when the
/// connection is rejected, else whether a header is expected (`accept-proxy`, or an
/// `expect-proxy layer4` rule that matched before any accept).
fn connection_rules(
    rt: &Runtime,
    px: &ProxyRt,
    acc: &listeners::Accepted,
    accept_proxy: bool,
) -> Option<bool> {
    let conn = sample::ConnInfo {
        src: acc.src,
        dst: acc.dst,
        ..Default::default()
    };
    let info = sample::TxnInfo {
        frontend: px.name.clone(),
        pid: rt.pid,
        ..Default::default()
    };
    let vars = sample::Vars::default();
    let ctx = sample::EvalCtx {
        conn: &conn,
        req: None,
        res: None,
        vars: &vars,
        info: &info,
    };
    let hit = |c: &Option<sample::CompiledCond>| c.as_ref().is_none_or(|c| c.eval(&ctx));
    if px.expect_proxy.is_empty() {
        for r in &px.tcp_connection {
            if hit(&r.cond) {
                return r.accept.then_some(accept_proxy);
            }
        }
        return Some(accept_proxy);
    }
    let mut want = accept_proxy;
    for r in &px.expect_proxy {
        if hit(&r.cond) {
            match r.accept {
                Some(a) => return a.then_some(want),
                None => want = true,
            }
        }
    }
    Some(want)
}

/// `accept-proxy` / `expect-proxy`: the connection rules run first, then the PROXY header
/// is read (before any TLS handshake) and its addresses become the client's; a missing or
/// bad one closes the connection, as HAProxy does.
async fn after_proxy_header(
    rt: Arc<Runtime>,
    px: Arc<ProxyRt>,
    mut acc: listeners::Accepted,
    guard: ConnGuard,
    accept_proxy: bool,
    tls: Option<Arc<tls_bind::BindTls>>,
) {
    let Some(want) = connection_rules(&rt, &px, &acc, accept_proxy) else {
        stats::counters::conn_denied(&px);
        return;
    };
    acc.conn_rules_done = true;
    if want {
        match proxy_protocol::receive(&mut acc.stream, px.timeouts.client).await {
            Ok(h) => {
                if let Some((src, dst)) = h.addrs {
                    acc.src = Some(src);
                    acc.dst = Some(dst);
                }
            }
            Err(e) => {
                tracing::debug!(proxy = %px.name, "PROXY protocol: {e}");
                return;
            }
        }
    }
    match tls {
        Some(cfg) => tls_serve(rt, px, acc, cfg, guard).await,
        None => match px.mode {
            Mode::Http => http::session::serve(rt, px, acc, guard).await,
            Mode::Tcp => tcp::serve(rt, px, acc, guard).await,
            Mode::Health => tcp::health(acc, guard).await,
        },
    }
}

/// A connection of a `bind ... ssl`: the handshake, then the session of the proxy's mode.
async fn tls_serve(
    rt: Arc<Runtime>,
    px: Arc<ProxyRt>,
    acc: listeners::Accepted,
    cfg: Arc<tls_bind::BindTls>,
    guard: ConnGuard,
) {
    let Some(acc) = tls_bind::handshake(&px, acc, cfg).await else {
        return;
    };
    if px.mode == Mode::Http && tls_bind::agreed_h2(&acc.stream) {
        return h2::serve(rt, px, acc, guard).await;
    }
    match px.mode {
        Mode::Http => http::session::serve(rt, px, acc, guard).await,
        Mode::Tcp => tcp::serve(rt, px, acc, guard).await,
        Mode::Health => tcp::health(acc, guard).await,
    }
}

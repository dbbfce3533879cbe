//! The counters a stats page shows, kept lock-free (atomics, `Relaxed`): per-second event
//! rates ([`FreqCtr`]), sliding averages of request timings ([`SwRate`]) and the
//! [`Counters`] block each frontend, backend and server carries. The request path only
//! calls the small `on_*` helpers here.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::listener;
use crate::runtime::backend::{Admin, Backend};
use crate::runtime::proxy::ProxyRt;

/// HAProxy 2.6 averages queue/connect/response/total times over this many samples
/// (`TIME_STATS_SAMPLES`; its manual says "the last 1024 requests").
pub const TIME_SAMPLES: u64 = 512;

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Milliseconds since the process-wide stats clock started (set at the first call).
pub fn now_ms() -> u64 {
    start().elapsed().as_millis() as u64
}

/// Starts the stats clock (so ages are measured from start-up, not from the first event).
pub fn init_clock() {
    let _ = start();
}

/// Events per second as HAProxy's `freq_ctr` reads them: the count of the current second
/// plus the previous second's count weighted by the part of a second not yet elapsed.
#[derive(Debug, Default)]
pub struct FreqCtr {
    /// (second << 32) | count in that second.
    curr: AtomicU64,
    /// The count of the second before `curr`'s.
    prev: AtomicU32,
}

impl FreqCtr {
    /// Counts one event; returns the rate now.
    pub fn inc(&self) -> u32 {
        let ms = now_ms();
        let sec = ms / 1000;
        let mut cur = self.curr.load(Ordering::Relaxed);
        loop {
            let (s, n) = (cur >> 32, cur & 0xffff_ffff);
            let next = if s == sec {
                (sec << 32) | (n + 1).min(0xffff_ffff)
            } else {
                (sec << 32) | 1
            };
            match self
                .curr
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    if s != sec {
                        // Only the thread that rotated the second moves the old count.
                        let p = if s + 1 == sec { n as u32 } else { 0 };
                        self.prev.store(p, Ordering::Relaxed);
                    }
                    break;
                }
                Err(c) => cur = c,
            }
        }
        self.read_at(ms)
    }

    /// The rate now.
    pub fn read(&self) -> u32 {
        self.read_at(now_ms())
    }

    fn read_at(&self, ms: u64) -> u32 {
        let cur = self.curr.load(Ordering::Relaxed);
        let (s, n) = (cur >> 32, cur & 0xffff_ffff);
        let sec = ms / 1000;
        let remain = 1000 - ms % 1000;
        let v = if s == sec {
            n + u64::from(self.prev.load(Ordering::Relaxed)) * remain / 1000
        } else if s + 1 == sec {
            n * remain / 1000
        } else {
            0
        };
        v.min(u64::from(u32::MAX)) as u32
    }
}

/// A sliding average over the last [`TIME_SAMPLES`] samples, as HAProxy's `swrate`: the
/// sum decays by one average per sample; fewer samples so far use a shorter window.
#[derive(Debug, Default)]
pub struct SwRate {
    sum: AtomicU64,
    max: AtomicU64,
}

impl SwRate {
    /// Adds a sample; `n` is how many samples were taken so far (this one included).
    pub fn add(&self, v: u64, n: u64) {
        let w = n.clamp(1, TIME_SAMPLES);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                Some(s - s.div_ceil(w).min(s) + v)
            });
        self.max.fetch_max(v, Ordering::Relaxed);
    }
    /// The average, over `n` samples taken so far.
    pub fn avg(&self, n: u64) -> u64 {
        let w = n.clamp(1, TIME_SAMPLES);
        self.sum.load(Ordering::Relaxed).div_ceil(w)
    }
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

/// The counters of one frontend, backend or server. Fields a kind of object does not use
/// stay zero.
#[derive(Debug, Default)]
pub struct Counters {
    pub sess_max: AtomicU64,
    pub sess_rate: FreqCtr,
    pub sess_rate_max: AtomicU64,
    pub conn_tot: AtomicU64,
    pub conn_rate: FreqCtr,
    pub conn_rate_max: AtomicU64,
    pub req_tot: AtomicU64,
    pub req_rate: FreqCtr,
    pub req_rate_max: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub denied_req: AtomicU64,
    pub denied_resp: AtomicU64,
    pub failed_req: AtomicU64,
    pub failed_conns: AtomicU64,
    pub failed_resp: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// 1xx .. 5xx, other.
    pub hrsp: [AtomicU64; 6],
    /// Connections and sessions refused by `tcp-request connection` / `session` rules.
    pub denied_conn: AtomicU64,
    pub denied_sess: AtomicU64,
    /// A backend's transitions to DOWN (no server up), when the current DOWN period
    /// started ([`now_ms`] + 1, 0: up) and the milliseconds of the periods that ended.
    pub downs: AtomicU64,
    pub down_since: AtomicU64,
    pub downtime_ms: AtomicU64,
    /// HTTP requests that reached a backend (its `stot` in HTTP mode).
    pub streams: AtomicU64,
    pub cli_abrt: AtomicU64,
    pub srv_abrt: AtomicU64,
    /// Requests answered by the proxy itself (stats page, monitor, return, redirect).
    pub intercepted: AtomicU64,
    /// Header rewrites that failed.
    pub wrew: AtomicU64,
    pub connect: AtomicU64,
    pub reuse: AtomicU64,
    /// Times the balancing algorithm chose it.
    pub lbtot: AtomicU64,
    pub qmax: AtomicU64,
    /// [`now_ms`] + 1 of the last session (0: never).
    pub last_sess: AtomicU64,
    /// [`now_ms`] + 1 of the last administrative state change made here (0: none).
    pub last_change: AtomicU64,
    /// Transactions whose timings were sampled.
    pub timed: AtomicU64,
    pub qtime: SwRate,
    pub ctime: SwRate,
    pub rtime: SwRate,
    pub ttime: SwRate,
}

impl FreqCtr {
    /// Forgets every event (`clear counters all`).
    pub fn reset(&self) {
        self.curr.store(0, Ordering::Relaxed);
        self.prev.store(0, Ordering::Relaxed);
    }
}

impl SwRate {
    /// Forgets the maximum (`clear counters`), or everything.
    pub fn reset(&self, all: bool) {
        self.max.store(0, Ordering::Relaxed);
        if all {
            self.sum.store(0, Ordering::Relaxed);
        }
    }
}

impl Counters {
    /// The stats socket's `clear counters`: the maxima go back to zero; with `all`, every
    /// counter does (HAProxy clears the same blocks).
    pub fn clear(&self, all: bool) {
        let zero = |a: &AtomicU64| a.store(0, Ordering::Relaxed);
        for a in [
            &self.sess_max,
            &self.sess_rate_max,
            &self.conn_rate_max,
            &self.req_rate_max,
            &self.qmax,
        ] {
            zero(a);
        }
        for t in [&self.qtime, &self.ctime, &self.rtime, &self.ttime] {
            t.reset(all);
        }
        if !all {
            return;
        }
        for a in [
            &self.conn_tot,
            &self.req_tot,
            &self.bytes_in,
            &self.bytes_out,
            &self.denied_req,
            &self.denied_resp,
            &self.failed_req,
            &self.failed_conns,
            &self.failed_resp,
            &self.retries,
            &self.redispatches,
            &self.cli_abrt,
            &self.srv_abrt,
            &self.intercepted,
            &self.wrew,
            &self.connect,
            &self.reuse,
            &self.lbtot,
            &self.last_sess,
            &self.timed,
            &self.streams,
            &self.denied_conn,
            &self.denied_sess,
            &self.downs,
            &self.downtime_ms,
        ] {
            zero(a);
        }
        for a in &self.hrsp {
            zero(a);
        }
        for f in [&self.sess_rate, &self.conn_rate, &self.req_rate] {
            f.reset();
        }
    }
}

/// Index in [`Counters::hrsp`] for a status code.
pub fn hrsp_index(code: u16) -> usize {
    match code {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

/// Timings of one transaction, in milliseconds (`None`: the stage was not reached).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub queue: Option<u64>,
    pub connect: Option<u64>,
    pub response: Option<u64>,
    pub total: Option<u64>,
}

/// Milliseconds elapsed since `t`.
pub fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

impl Counters {
    /// A new session (frontend: an accepted connection; backend/server: a connection
    /// assigned to it); `cur` is the count of sessions open now.
    pub fn on_session(&self, cur: u64) {
        self.sess_max.fetch_max(cur, Ordering::Relaxed);
        let r = self.sess_rate.inc();
        self.sess_rate_max
            .fetch_max(u64::from(r), Ordering::Relaxed);
        self.last_sess.store(now_ms() + 1, Ordering::Relaxed);
    }
    /// A session the balancing assigned to a backend and server.
    pub fn on_assigned(&self, cur: u64) {
        self.lbtot.fetch_add(1, Ordering::Relaxed);
        self.on_session(cur);
    }
    /// A frontend's accepted connection.
    pub fn on_accept(&self, cur: u64) {
        self.conn_tot.fetch_add(1, Ordering::Relaxed);
        let r = self.conn_rate.inc();
        self.conn_rate_max
            .fetch_max(u64::from(r), Ordering::Relaxed);
        self.on_session(cur);
    }
    /// An HTTP request received (frontend) or routed (backend, server).
    pub fn on_request(&self) {
        self.req_tot.fetch_add(1, Ordering::Relaxed);
        let r = self.req_rate.inc();
        self.req_rate_max.fetch_max(u64::from(r), Ordering::Relaxed);
    }
    /// A response status sent on.
    pub fn on_status(&self, code: u16) {
        self.hrsp[hrsp_index(code)].fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_bytes(&self, bin: u64, bout: u64) {
        self.bytes_in.fetch_add(bin, Ordering::Relaxed);
        self.bytes_out.fetch_add(bout, Ordering::Relaxed);
    }
    /// A transaction's timings, into the sliding averages.
    pub fn on_timing(&self, t: &Timing) {
        let n = self.timed.fetch_add(1, Ordering::Relaxed) + 1;
        self.qtime.add(t.queue.unwrap_or(0), n);
        self.ctime.add(t.connect.unwrap_or(0), n);
        self.rtime.add(t.response.unwrap_or(0), n);
        self.ttime.add(t.total.unwrap_or(0), n);
    }
    /// Queue depth seen now, for `qmax`.
    pub fn on_queue(&self, depth: u64) {
        self.qmax.fetch_max(depth, Ordering::Relaxed);
    }
    /// Notes an administrative state change now.
    pub fn changed(&self) {
        self.last_change.store(now_ms() + 1, Ordering::Relaxed);
    }
    /// Seconds since the last session, or -1 if none.
    pub fn last_sess_age(&self) -> i32 {
        match self.last_sess.load(Ordering::Relaxed) {
            0 => -1,
            t => (now_ms().saturating_sub(t - 1) / 1000).min(i32::MAX as u64) as i32,
        }
    }
    pub fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
    /// Age of the last change made here, if any.
    pub fn change_age(&self) -> Option<Duration> {
        match self.last_change.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Duration::from_millis(now_ms().saturating_sub(t - 1))),
        }
    }
}

/// A request reached backend `bpx` (HAProxy does not count those its stats page answers).
pub fn backend_request(
    rt: &crate::runtime::Runtime,
    bpx: &ProxyRt,
    req: &crate::runtime::http::head::RequestHead,
) {
    if let Some(b) = &bpx.backend {
        // Each HTTP request is a stream of the backend (its `stot`), served or not.
        b.stat.streams.fetch_add(1, Ordering::Relaxed);
        if !super::page::config_for(rt, bpx).is_some_and(|c| c.matches(req)) {
            b.stat.on_request();
        }
    }
}

/// A request denied by `px`'s rules: the frontend counts every denial, a backend those of
/// its own rules (a `listen`'s rules are its frontend's).
pub fn denied(fe: &ProxyRt, px: &ProxyRt) {
    fe.counters.fe.denied_req.fetch_add(1, Ordering::Relaxed);
    listener::with(|l| {
        l.denied_req.fetch_add(1, Ordering::Relaxed);
    });
    if px.idx != fe.idx
        && let Some(b) = &px.backend
    {
        b.stat.denied_req.fetch_add(1, Ordering::Relaxed);
    }
}

/// A response denied by `px`'s `http-response` rules.
pub fn denied_resp(fe: &ProxyRt, px: &ProxyRt, be: &Backend, idx: usize) {
    fe.counters.fe.denied_resp.fetch_add(1, Ordering::Relaxed);
    listener::with(|l| {
        l.denied_resp.fetch_add(1, Ordering::Relaxed);
    });
    if px.idx != fe.idx || fe.backend.is_some() {
        be.stat.denied_resp.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = server(be, idx) {
            s.denied_resp.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Bytes the proxy writes to a client itself (its own answers, interim responses): sent
/// bytes, and the status of a response head.
pub fn client_write(fe: &Counters, bytes: &[u8]) {
    fe.bytes_out
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    listener::with(|l| l.add_bytes(0, bytes.len() as u64));
    if bytes.starts_with(b"HTTP/1.")
        && let Some(code) = bytes
            .get(9..12)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok())
        && code != 100
    {
        fe.on_status(code);
    }
}

/// A server of `be` changed state: the backend goes DOWN when none of its servers is up
/// (HAProxy's backend `chkdown`, `downtime`, `lastchg`), and UP again with the first.
pub fn backend_health(be: &Backend) {
    let any_up = be
        .servers
        .iter()
        // A NOLB (stopping) server takes no traffic: HAProxy counts the backend down.
        .any(|s| {
            s.up.load(Ordering::Relaxed)
                && s.admin() != Admin::Maint
                && !s.nolb.load(Ordering::Relaxed)
        });
    let c = &be.stat;
    let now = now_ms();
    let since = c.down_since.load(Ordering::Relaxed);
    if !any_up && since == 0 {
        if c.down_since
            .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            c.downs.fetch_add(1, Ordering::Relaxed);
            c.changed();
        }
    } else if any_up
        && since != 0
        && c.down_since
            .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        c.downtime_ms
            .fetch_add(now.saturating_sub(since - 1), Ordering::Relaxed);
        c.changed();
    }
}

/// A checked server's administrative state went from `before` to `after`: entering
/// maintenance while up is a DOWN transition for its `chkdown` and `downtime`, as in
/// HAProxy, and leaving it ends that period. (For the stats page and the stats socket.)
pub fn admin_changed(s: &crate::runtime::backend::ServerState, before: Admin, after: Admin) {
    if s.checker.get().is_none() || (before == Admin::Maint) == (after == Admin::Maint) {
        return;
    }
    let c = &s.counters;
    let now = now_ms();
    if after == Admin::Maint {
        if s.up.load(Ordering::Relaxed)
            && c.down_since
                .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            c.downs.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        let since = c.down_since.swap(0, Ordering::Relaxed);
        if since != 0 {
            c.downtime_ms
                .fetch_add(now.saturating_sub(since - 1), Ordering::Relaxed);
        }
    }
}

/// A backend's total DOWN time so far, the current period included, in seconds.
pub fn backend_downtime(c: &Counters) -> u64 {
    let since = c.down_since.load(Ordering::Relaxed);
    let now = if since == 0 {
        0
    } else {
        now_ms().saturating_sub(since - 1)
    };
    (c.downtime_ms.load(Ordering::Relaxed) + now) / 1000
}

/// A response transfer through server `idx` of `be` was cut: by the server (`srv_abrt`)
/// or by the client (`cli_abrt`).
pub fn aborted(be: &Backend, idx: usize, by_server: bool) {
    for c in [Some(&be.stat), server(be, idx)].into_iter().flatten() {
        let n = if by_server { &c.srv_abrt } else { &c.cli_abrt };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// An error page HAProxy's HTTP/1 layer sent itself (`n` bytes): a request of the
/// frontend, but no bytes out in its stats (nor the listener's).
pub fn mux_error(fe: &Counters, n: u64) {
    fe.on_request();
    let _ = fe
        .bytes_out
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
    listener::with(|l| {
        let _ = l
            .bytes_out
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    });
}

/// Request bytes read from a client.
pub fn client_read(fe: &Counters, n: u64) {
    fe.add_bytes(n, 0);
    listener::with(|l| l.add_bytes(n, 0));
}

/// An invalid request from a client (`ereq`).
pub fn req_error(fe: &ProxyRt) {
    fe.counters.errors_req.fetch_add(1, Ordering::Relaxed);
    listener::with(|l| {
        l.failed_req.fetch_add(1, Ordering::Relaxed);
    });
}

/// A connection refused by `tcp-request connection` rules (`dcon`).
pub fn conn_denied(fe: &ProxyRt) {
    fe.counters.denied.fetch_add(1, Ordering::Relaxed);
    fe.counters.fe.denied_conn.fetch_add(1, Ordering::Relaxed);
    listener::with(|l| {
        l.denied_conn.fetch_add(1, Ordering::Relaxed);
    });
}

/// A connection refused by `tcp-request content` rules: a denied request for HAProxy.
pub fn content_denied(fe: &ProxyRt) {
    fe.counters.denied.fetch_add(1, Ordering::Relaxed);
    fe.counters.fe.denied_req.fetch_add(1, Ordering::Relaxed);
    listener::with(|l| {
        l.denied_req.fetch_add(1, Ordering::Relaxed);
    });
}

fn server(be: &Backend, idx: usize) -> Option<&Counters> {
    be.servers.get(idx).map(|s| &s.counters)
}

/// The last connection attempt to a server failed: the request is given up. (HAProxy
/// counts every attempt in `connect`, failed ones included.)
pub fn conn_failed(be: &Backend, idx: usize) {
    be.stat.failed_conns.fetch_add(1, Ordering::Relaxed);
    be.stat.connect.fetch_add(1, Ordering::Relaxed);
    if let Some(s) = server(be, idx) {
        s.failed_conns.fetch_add(1, Ordering::Relaxed);
        s.connect.fetch_add(1, Ordering::Relaxed);
    }
}

/// A connection attempt to a server failed and will be retried: on the same server (its
/// `wretr`, and a new session attempt in its `stot`, as HAProxy counts every attempt), or
/// redispatched, counted by [`reassigned`] once the next server is known.
pub fn conn_retry(be: &Backend, idx: usize, redispatch: bool) {
    be.stat.connect.fetch_add(1, Ordering::Relaxed);
    if let Some(s) = server(be, idx) {
        s.connect.fetch_add(1, Ordering::Relaxed);
    }
    if !redispatch && let Some(st) = be.servers.get(idx) {
        st.counters.retries.fetch_add(1, Ordering::Relaxed);
        st.total.fetch_add(1, Ordering::Relaxed);
    }
}

/// A redispatched retry away from server `prev` went to another server (`changed`: the
/// server's `wredis`) or, the balancing having chosen it again, to the same (its `wretr`).
pub fn reassigned(be: &Backend, prev: usize, changed: bool) {
    if let Some(s) = server(be, prev) {
        let n = if changed { &s.redispatches } else { &s.retries };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// A server connection is ready: a new one or one reused from the pool.
pub fn connected(be: &Backend, idx: usize, reused: bool) {
    for c in [Some(&be.stat), server(be, idx)].into_iter().flatten() {
        let n = if reused { &c.reuse } else { &c.connect };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// A transaction through a server ended: its queue, connect, response-head and total
/// times (ms).
pub fn timed(be: &Backend, idx: usize, q: u64, c: u64, r: Option<u64>, t: u64) {
    let tm = Timing {
        queue: Some(q),
        connect: Some(c),
        response: r,
        total: Some(t),
    };
    be.stat.on_timing(&tm);
    if let Some(s) = server(be, idx) {
        s.on_timing(&tm);
    }
}

/// A server's response went to the client: its status, and the bytes each way (request
/// bytes sent to the server, response bytes sent to the client).
pub fn response(fe: &Counters, be: &Backend, idx: usize, status: u16, bin: u64, bout: u64) {
    fe.on_status(status);
    fe.bytes_out.fetch_add(bout, Ordering::Relaxed);
    listener::with(|l| l.add_bytes(0, bout));
    be.stat.on_status(status);
    be.stat.add_bytes(bin, bout);
    if let Some(s) = server(be, idx) {
        s.on_status(status);
        s.on_request();
        s.add_bytes(bin, bout);
    }
}

/// A TCP-mode connection through a server ended after moving these bytes.
pub fn tunnelled(fe: &Counters, be: &Backend, idx: usize, bin: u64, bout: u64) {
    fe.add_bytes(bin, bout);
    listener::with(|l| l.add_bytes(bin, bout));
    be.stat.add_bytes(bin, bout);
    if let Some(s) = server(be, idx) {
        s.add_bytes(bin, bout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freq_counts_this_second() {
        let f = FreqCtr::default();
        for _ in 0..5 {
            f.inc();
        }
        // Within the same second (or just after a rotation), at least the last events count.
        assert!(f.read() >= 1 && f.read() <= 5);
    }

    #[test]
    fn swrate_averages() {
        let s = SwRate::default();
        s.add(10, 1);
        assert_eq!(s.avg(1), 10);
        s.add(20, 2);
        assert_eq!(s.max(), 20);
        let a = s.avg(2);
        assert!((10..=20).contains(&a), "{a}");
        // Older samples fade out by 1/512 per new one.
        for i in 3..6000 {
            s.add(100, i);
        }
        assert!((99..=100).contains(&s.avg(6000)), "{}", s.avg(6000));
    }
}

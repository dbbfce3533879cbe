//! Runs every server's health checks and applies their verdicts, as HAProxy 2.6 does: one
//! task per server with `check`, first checks spread at random over the interval, then
//! `inter` while fully up, `fastinter` while going up or down, `downinter` while down
//! (each jittered by `spread-checks`); checks pause while the server is in maintenance.
//!
//! A verdict moves the server's [`RiseFall`] counter; a change of state flips the `up` flag
//! the balancing reads, is said on standard error and to the backend's `log` targets in
//! HAProxy's words ([`super::events`]), and starts the `slowstart` ramp. Passive health
//! (`observe`) counts errors seen on live traffic and, at `error-limit`, applies `on-error`
//! through the same path. The last verdict and the counters a stats page shows are kept in
//! [`Checker::record`]. TLS on checks (`check-ssl` ...) is set up here from the server
//! line ([`super::tls`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::events::{self, Counts, Who};
use super::health::{Health, RiseFall, Step};
use super::probe::{CheckCtx, Probe, ServerView};
use super::status::{CheckStatus, Outcome};
use super::tls::{CheckTls, TlsSettings};
use crate::config::diag::Diags;
use crate::model::server::{Observe, OnError, ProxyProtocol};
use crate::model::types::{Host, PortSpec};
use crate::model::{Config, Proxy};
use crate::runtime::backend::{Admin, Backend, ServerState};
use crate::runtime::log::{LogSink, Severity};
use crate::runtime::process;
use crate::runtime::proxy::ProxyRt;

/// What live traffic showed about a server (`observe layer4|layer7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A connection to the server was established.
    L4Ok,
    /// A connection to the server failed (refused, timed out).
    L4Err,
    /// An HTTP response head with this status.
    Status(u16),
    /// An unparsable response.
    Invalid,
    /// No response within `timeout server`.
    Timeout,
    /// The server closed before a complete response head.
    Closed,
}

impl Observed {
    fn layer7(self) -> bool {
        !matches!(self, Observed::L4Ok | Observed::L4Err)
    }
    /// Whether it counts as an error: failed connections, and for layer 7 any status but
    /// 100–499, 501 and 505, invalid responses, timeouts and aborts (HAProxy's manual).
    fn error(self) -> bool {
        match self {
            Observed::L4Ok => false,
            Observed::Status(s) => !((100..=499).contains(&s) || s == 501 || s == 505),
            _ => true,
        }
    }
    /// HAProxy's words for the last error in a passive-health verdict.
    fn words(self) -> &'static str {
        match self {
            Observed::L4Ok => "L4 successful connection",
            Observed::L4Err => "L4 unsuccessful connection",
            Observed::Status(_) => "Wrong http response",
            Observed::Invalid => "Invalid http response",
            Observed::Timeout => "Read timeout (http)",
            Observed::Closed => "Close from server (http)",
        }
    }
}

/// The last verdict and the counters of one server's checks, for a stats page.
#[derive(Debug, Clone)]
pub struct Record {
    /// `None` until the first check ends.
    pub last: Option<Outcome>,
    /// Failed checks while the server was up (`chkfail`).
    pub failed: u64,
    /// Transitions to DOWN (`chkdown`).
    pub downs: u64,
    /// When the server last changed state (start-up counts as one).
    pub last_change: SystemTime,
    /// Time spent DOWN before the current period.
    pub downtime: Duration,
    /// Since when it is DOWN, if it is.
    pub down_since: Option<Instant>,
}

impl Record {
    /// Total time DOWN so far, the current period included.
    pub fn downtime_now(&self) -> Duration {
        self.downtime + self.down_since.map(|t| t.elapsed()).unwrap_or_default()
    }
}

/// One server's checker: its settings, its rise/fall state, and what it found.
#[derive(Debug)]
pub struct Checker {
    backend_name: String,
    server_name: String,
    /// The `server` line's address and port, and the node name, for `send-state`.
    server_addr: String,
    server_port: u16,
    node: String,
    backup: bool,
    /// The server's index in its backend.
    idx: usize,
    state: Arc<ServerState>,
    backend: Weak<Backend>,
    pub rf: RiseFall,
    addr: SocketAddr,
    send_proxy: Option<ProxyProtocol>,
    inter: Duration,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
    timeout_connect: Option<Duration>,
    timeout_check: Option<Duration>,
    spread: u32,
    probe: Arc<dyn Probe>,
    /// TLS on the check's own connection, and the settings of TLS connections.
    tls_default: bool,
    tls: Option<Arc<CheckTls>>,
    log_health: bool,
    sink: Arc<LogSink>,
    observe: Option<Observe>,
    error_limit: u32,
    on_error: OnError,
    consecutive: AtomicU32,
    slowstart: Option<Duration>,
    /// Bumped on each UP so that an older slowstart ramp stops.
    ramp_gen: AtomicU64,
    /// Wakes the task to bring its next check forward to `fastinter` (passive health).
    hurry: Notify,
    /// Also serialises verdicts, so that events come out in order.
    pub record: Mutex<Record>,
    /// False after `disable health` on the stats socket: checks pause, the state stays.
    pub enabled: std::sync::atomic::AtomicBool,
    /// Where checks go after `set server ... addr|check-port` on the stats socket.
    pub cli_addr: Mutex<Option<SocketAddr>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every checker of the configuration.
#[derive(Debug, Default)]
pub struct Checks {
    pub checkers: Vec<Arc<Checker>>,
    /// The agents (`agent-check`), run beside the checkers.
    pub agents: Vec<Arc<super::agent::Agent>>,
    /// The running tasks, so that a reload can stop them.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Checks {
    /// A checker for every server with `check`, attached to its server state (for passive
    /// health); problems go to `d` as warnings.
    pub fn build(cfg: &Config, proxies: &[Arc<ProxyRt>], d: &mut Diags) -> Checks {
        let mut checkers = Vec::new();
        for (p, rt) in cfg.proxies.iter().zip(proxies) {
            let Some(be) = &rt.backend else { continue };
            if !p.servers.iter().any(|s| s.params.check) {
                continue;
            }
            let probe = super::build_probe(p, cfg.global.tune_bufsize.unwrap_or(16384) as usize);
            let sink = Arc::new(LogSink::new(&p.logs, cfg.global.log_tag.as_deref()));
            for (i, s) in p.servers.iter().enumerate() {
                if !s.params.check {
                    continue;
                }
                let Some(state) = be.servers.get(i) else {
                    continue;
                };
                let Some(addr) = check_addr(s) else {
                    d.warn(
                        s.span,
                        format!(
                            "in '{}': server '{}' has no address and port to check; its \
                             health check is not run",
                            p.name, s.name
                        ),
                    );
                    continue;
                };
                let (tls_default, tls) = check_tls(cfg, p, s, d);
                let mut c = Checker::new(p, s, cfg, (i, state.clone()), be, addr, &probe, &sink);
                c.tls_default = tls_default;
                c.tls = tls;
                let c = Arc::new(c);
                let _ = state.checker.set(c.clone());
                checkers.push(c);
            }
        }
        Checks {
            checkers,
            agents: super::agent::build(cfg, proxies, d),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Starts one task per checker (inside the tokio runtime).
    pub fn start(&self) {
        let mut tasks = lock(&self.tasks);
        for c in &self.checkers {
            tasks.push(tokio::spawn(c.clone().run()).abort_handle());
        }
        for a in &self.agents {
            tasks.push(tokio::spawn(a.clone().run()).abort_handle());
        }
    }

    /// Stops every check task (a reload hands over to a new set).
    pub fn stop(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

/// Whether the server's own check connection is TLS, and the TLS settings its checks
/// use, if any may: HAProxy applies the server's `ssl` options to `check-ssl`, to a
/// server's `ssl` when no `port`/`addr` sends checks elsewhere, and to `tcp-check
/// connect ssl`. Problems go to `d` as warnings.
fn check_tls(
    cfg: &Config,
    p: &Proxy,
    s: &crate::model::Server,
    d: &mut Diags,
) -> (bool, Option<Arc<CheckTls>>) {
    let sp = &s.params;
    let ssl_on = sp.ssl.as_ref().is_some_and(|t| t.enabled);
    let tls_default = sp
        .check_ssl
        .unwrap_or(ssl_on && sp.check_port.is_none() && sp.check_addr.is_none());
    let script_tls = p
        .tcp_checks
        .iter()
        .any(|t| matches!(t, crate::model::TcpCheckStep::Connect { ssl: true, .. }));
    if !tls_default && !script_tls {
        return (false, None);
    }
    let mut settings = TlsSettings::from_server(sp.ssl.as_ref(), cfg.global.ssl_server_verify);
    // `check-alpn` replaces the server's `alpn` on its checks.
    if let Some(a) = &sp.check_alpn {
        settings.alpn = a.clone();
    }
    if settings.verify && settings.ca_file.is_none() {
        d.warn(
            s.span,
            format!(
                "in '{}': server '{}': verify is required by default but no ca-file is set \
                 (HAProxy refuses this); its TLS health checks fail verification. Set \
                 'verify none' on the server line, a 'ca-file', or 'ssl-server-verify none' \
                 in the global section",
                p.name, s.name
            ),
        );
    }
    let tls = match CheckTls::new(&settings) {
        Ok(t) => t,
        Err(e) => {
            d.warn(
                s.span,
                format!(
                    "in '{}': server '{}': TLS settings of its health checks: {e}; its TLS \
                     handshakes fail",
                    p.name, s.name
                ),
            );
            CheckTls::failing()
        }
    };
    (tls_default, Some(Arc::new(tls)))
}

/// The machine's host name, HAProxy's default `node`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Where a server's checks go: `addr`/`port` when set, else the server's own address.
fn check_addr(s: &crate::model::Server) -> Option<SocketAddr> {
    let ip: IpAddr = match s.params.check_addr {
        Some(ip) => ip,
        None => match &s.addr.host {
            Host::Ip(ip) => *ip,
            Host::Name(_) => *s.resolved.first()?,
            _ => return None,
        },
    };
    let port = match (s.params.check_port, s.addr.port) {
        (Some(p), _) => p,
        (None, PortSpec::Fixed(p)) => p,
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

impl Checker {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &Proxy,
        s: &crate::model::Server,
        cfg: &Config,
        (idx, state): (usize, Arc<ServerState>),
        be: &Arc<Backend>,
        addr: SocketAddr,
        probe: &Arc<dyn Probe>,
        sink: &Arc<LogSink>,
    ) -> Checker {
        let sp = &s.params;
        // HAProxy: the PROXY header goes with checks on `check-send-proxy`, or with
        // `send-proxy` when no `port`/`addr` sends checks elsewhere.
        let send_proxy = if sp.check_send_proxy {
            Some(sp.send_proxy.unwrap_or(ProxyProtocol::V1))
        } else if sp.check_port.is_none() && sp.check_addr.is_none() {
            sp.send_proxy
        } else {
            None
        };
        Checker {
            backend_name: p.name.clone(),
            server_name: s.name.clone(),
            server_addr: match &s.addr.host {
                Host::Ip(ip) => ip.to_string(),
                _ => s
                    .resolved
                    .first()
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
            },
            server_port: match s.addr.port {
                PortSpec::Fixed(p) => p,
                _ => 0,
            },
            node: cfg.global.node.clone().unwrap_or_else(host_name),
            backup: sp.backup,
            idx,
            state,
            backend: Arc::downgrade(be),
            rf: RiseFall::new(sp.rise, sp.fall),
            addr,
            send_proxy,
            inter: nonzero(sp.inter),
            fastinter: sp.fastinter.map(nonzero),
            downinter: sp.downinter.map(nonzero),
            timeout_connect: p.timeouts.connect,
            timeout_check: p.timeouts.check,
            spread: cfg.global.spread_checks.unwrap_or(0).min(50),
            probe: probe.clone(),
            tls_default: false,
            tls: None,
            log_health: p.options.log_health_checks,
            sink: sink.clone(),
            observe: sp.observe,
            error_limit: sp.error_limit.max(1),
            on_error: sp.on_error,
            consecutive: AtomicU32::new(0),
            slowstart: sp.slowstart.filter(|d| !d.is_zero()),
            ramp_gen: AtomicU64::new(0),
            hurry: Notify::new(),
            record: Mutex::new(Record {
                last: None,
                failed: 0,
                downs: 0,
                last_change: SystemTime::now(),
                downtime: Duration::ZERO,
                down_since: None,
            }),
            enabled: std::sync::atomic::AtomicBool::new(true),
            cli_addr: Mutex::new(None),
        }
    }

    fn who(&self) -> Who<'_> {
        Who {
            backend: &self.backend_name,
            server: &self.server_name,
            backup: self.backup,
        }
    }

    /// The interval before the next check, by HAProxy's rule: `inter` when fully up,
    /// `downinter` when fully down, `fastinter` in between (and before the first check).
    pub fn interval(&self) -> Duration {
        interval_at(&self.rf.now(), self.inter, self.fastinter, self.downinter)
    }

    /// The last verdict and the counters, for a stats page.
    pub fn snapshot(&self) -> Record {
        lock(&self.record).clone()
    }

    /// `d` moved at random by up to ±`spread-checks` percent.
    fn jitter(&self, d: Duration) -> Duration {
        if self.spread == 0 {
            return d;
        }
        let rv = d.as_micros() as u64 * u64::from(self.spread) / 100;
        let r = random() % (2 * rv + 1);
        Duration::from_micros((d.as_micros() as u64 + r).saturating_sub(rv))
    }

    async fn run(self: Arc<Self>) {
        // The first checks are spread at random over the interval, as HAProxy's start-up
        // does, so that servers are not all checked at once.
        let first = self.interval();
        let wait = Duration::from_micros(random() % (first.as_micros() as u64).max(1));
        tokio::time::sleep(wait).await;
        loop {
            if self.state.admin() != Admin::Maint && self.enabled.load(Ordering::Relaxed) {
                self.check_once().await;
            }
            let next = Instant::now() + self.jitter(self.interval());
            let sleep = tokio::time::sleep_until(next);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = self.hurry.notified() => {
                        // Passive health asked for fastinter: bring the check forward.
                        if let Some(f) = self.fastinter {
                            let soon = Instant::now() + f;
                            if soon < sleep.deadline() {
                                sleep.as_mut().reset(soon);
                            }
                        }
                    }
                }
            }
        }
    }

    /// One check with the time budget probe.rs describes, and its verdict applied.
    async fn check_once(self: &Arc<Self>) {
        let inter = self.interval();
        let (connect, read) = match self.timeout_check {
            Some(tc) => (
                self.timeout_connect.map_or(inter, |c| c.min(inter)),
                Some(tc),
            ),
            None => (inter, None),
        };
        let mut ctx = CheckCtx::new(self.addr_now(), connect, read);
        ctx.send_proxy = self.send_proxy;
        ctx.tls = self.tls.clone();
        ctx.tls_default = self.tls_default;
        ctx.server = Some(self.view());
        let started = ctx.started;
        let mut out = self.probe.check(&ctx).await;
        out.duration = started.elapsed();
        self.apply(
            out,
            true,
            |rf, passed| {
                if passed { rf.passed() } else { rf.failed() }
            },
        );
    }

    /// Applies a verdict: `step` moves the counter; `active` verdicts show their duration.
    fn apply(
        self: &Arc<Self>,
        out: Outcome,
        active: bool,
        step: impl FnOnce(&RiseFall, bool) -> Step,
    ) {
        let mut rec = lock(&self.record);
        let passed = out.status.passed();
        let was = self.rf.health();
        let st = step(&self.rf, passed);
        if !passed && was == Health::Up {
            rec.failed += 1;
        }
        let who = self.who();
        // HAProxy logs a check's result when it moved the counter or its status differs
        // from the last one (the first check's always does: nothing came before it).
        let new_status = rec.last.as_ref().map(|o| o.status) != Some(out.status);
        if self.log_health && (st.moved || new_status) {
            let line = events::check_line(who, &out, active, &st);
            process::warning(&line);
            self.sink.send(Severity::Notice, &line);
        }
        let why = (!self.log_health).then_some((&out, active));
        // The agent may hold the server down already, or keep it from coming up.
        let changed = match st.changed {
            Some(Health::Down) if !self.state.up.load(Ordering::Acquire) => None,
            Some(Health::Up) if !super::agent::allows_up(&self.state) => None,
            c => c,
        };
        match changed {
            Some(Health::Down) => {
                self.state.nolb.store(false, Ordering::Relaxed);
                self.state.up.store(false, Ordering::Release);
                if let Some(be) = self.backend.upgrade() {
                    crate::runtime::stats::counters::backend_health(&be);
                }
                rec.downs += 1;
                rec.last_change = SystemTime::now();
                rec.down_since = Some(Instant::now());
                let c = self.counts();
                let line = events::change_line(who, Health::Down, why, &c);
                process::warning(&line);
                self.sink.send(Severity::Alert, &line);
                if c.active == 0 && c.backup == 0 {
                    process::alert(&events::no_server(&self.backend_name, true));
                    self.sink.send(
                        Severity::Emerg,
                        &events::no_server(&self.backend_name, false),
                    );
                }
                super::agent::on_marked_down(&self.state);
            }
            Some(Health::Up) => {
                if let Some(t) = rec.down_since.take() {
                    rec.downtime += t.elapsed();
                }
                rec.last_change = SystemTime::now();
                self.start_ramp();
                // `disable-on-404`: a 404 brings the server up as NOLB (stopping).
                let nolb = out.status == CheckStatus::L7OkC;
                self.state.nolb.store(nolb, Ordering::Relaxed);
                self.state.up.store(true, Ordering::Release);
                // As HAProxy, requests waiting for any server may go to this one now.
                let before = self.state.total.load(Ordering::Relaxed);
                if let Some(be) = self.backend.upgrade() {
                    be.dequeue(self.idx);
                    crate::runtime::stats::counters::backend_health(&be);
                }
                let mut c = self.counts();
                c.requeued = self
                    .state
                    .total
                    .load(Ordering::Relaxed)
                    .saturating_sub(before) as u32;
                let line = events::change_line(who, Health::Up, why, &c);
                let line = if nolb {
                    line.replacen(" is UP", " is stopping", 1)
                } else {
                    line
                };
                process::warning(&line);
                self.sink.send(Severity::Notice, &line);
                if nolb && c.active == 0 && c.backup == 0 {
                    process::alert(&events::no_server(&self.backend_name, true));
                    self.sink.send(
                        Severity::Emerg,
                        &events::no_server(&self.backend_name, false),
                    );
                }
                super::agent::on_marked_up(&self.state, self.backend.upgrade().as_deref());
            }
            // Up and staying up: a conditional pass (`disable-on-404`) makes it NOLB, any
            // other pass makes a NOLB server UP again (also after `health stopping`).
            None if passed
                && self.rf.health() == Health::Up
                && self.state.up.load(Ordering::Acquire) =>
            {
                let nolb = out.status == CheckStatus::L7OkC;
                if self.state.nolb.swap(nolb, Ordering::AcqRel) != nolb {
                    rec.last_change = SystemTime::now();
                    self.nolb_changed(nolb, why, "");
                }
            }
            None => {}
        }
        rec.last = Some(out);
    }

    /// The server changed state for another reason than this check (its agent): the
    /// counters a stats page shows follow, and an UP starts the `slowstart` ramp.
    pub(crate) fn note_change(self: &Arc<Self>, to: Health) {
        let mut rec = lock(&self.record);
        rec.last_change = SystemTime::now();
        match to {
            Health::Down => {
                rec.downs += 1;
                rec.down_since = Some(Instant::now());
            }
            Health::Up => {
                if let Some(t) = rec.down_since.take() {
                    rec.downtime += t.elapsed();
                }
                drop(rec);
                self.start_ramp();
            }
        }
    }

    /// The server went to maintenance: HAProxy counts it in `chkdown`.
    pub(crate) fn note_maint(&self) {
        lock(&self.record).downs += 1;
    }

    /// The server as `http-check send-state` and `disable-on-404` see it.
    fn view(&self) -> ServerView {
        let admin = self.state.admin();
        let mut v = ServerView {
            state: ServerView::state_word(
                &self.rf.now(),
                admin == Admin::Drain || self.state.nolb.load(Ordering::Relaxed),
                admin == Admin::Maint,
            ),
            running: self.rf.health() == Health::Up && admin != Admin::Maint,
            address: self.server_addr.clone(),
            port: self.server_port,
            name: format!("{}/{}", self.backend_name, self.server_name),
            node: self.node.clone(),
            weight: self.state.weight(),
            scur: u64::from(self.state.cur()),
            qcur: u64::from(self.state.queued()),
            ..ServerView::default()
        };
        if let Some(be) = self.backend.upgrade() {
            for s in &be.servers {
                if s.backup == self.backup && s.usable() {
                    v.total_weight += s.weight();
                }
                v.total_scur += u64::from(s.cur());
            }
        }
        v
    }

    fn counts(&self) -> Counts {
        let mut c = Counts {
            sessions: self.state.cur(),
            queued: self.state.queued(),
            ..Counts::default()
        };
        if let Some(be) = self.backend.upgrade() {
            for s in &be.servers {
                if s.usable() {
                    if s.backup {
                        c.backup += 1;
                    } else {
                        c.active += 1;
                    }
                }
            }
        }
        c
    }

    /// `slowstart`: the server's effective weight grows from almost 0 to full, updated as
    /// HAProxy does every max(1 s, slowstart / 20).
    fn start_ramp(self: &Arc<Self>) {
        let Some(ss) = self.slowstart else { return };
        let gen_now = self.ramp_gen.fetch_add(1, Ordering::AcqRel) + 1;
        self.state.ramp.store(0, Ordering::Release);
        let step = (ss / 20).max(Duration::from_secs(1));
        let start = Instant::now();
        let me = self.clone();
        // Spawned only from a checker's own task or a traffic task: a runtime exists.
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(step).await;
                if me.ramp_gen.load(Ordering::Acquire) != gen_now {
                    return;
                }
                let e = start.elapsed();
                if e >= ss {
                    me.state.ramp.store(1000, Ordering::Release);
                    return;
                }
                let pm = (e.as_micros() * 1000 / ss.as_micros().max(1)) as u32;
                me.state.ramp.store(pm.min(999), Ordering::Release);
            }
        });
    }

    /// Passive health: what live traffic showed. At `error-limit` consecutive errors,
    /// `on-error` applies (a failed check, one short of down, or down at once) and the
    /// next check comes at `fastinter`.
    pub fn observe(self: &Arc<Self>, ev: Observed) {
        let Some(mode) = self.observe else { return };
        // Each mode listens to its own layer; in layer 7 an established connection says
        // nothing yet (the response will), and must not reset the count.
        match mode {
            Observe::Layer4 if ev.layer7() => return,
            Observe::Layer7 if ev == Observed::L4Ok => return,
            _ => {}
        }
        if !ev.error() {
            self.consecutive.store(0, Ordering::Relaxed);
            return;
        }
        let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        if n < self.error_limit {
            return;
        }
        self.consecutive.store(0, Ordering::Relaxed);
        let out = Outcome::new(CheckStatus::Hana).with_info(events::hana_info(n, ev.words()));
        match self.on_error {
            OnError::FastInter => {}
            OnError::FailCheck => self.apply(out, false, |rf, _| rf.failed()),
            OnError::SuddenDeath => self.apply(out, false, |rf, _| rf.sudden_death()),
            OnError::MarkDown => self.apply(out, false, |rf, _| rf.mark_down()),
        }
        self.hurry.notify_one();
    }
}

/// HAProxy's interval rule for the counter state `n`.
fn interval_at(
    n: &Step,
    inter: Duration,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
) -> Duration {
    match n.health {
        Health::Up if n.x == n.y => inter,
        Health::Down if n.x == 0 => downinter.unwrap_or(inter),
        _ => fastinter.unwrap_or(inter),
    }
}

/// A zero interval would spin; HAProxy refuses it at parse time.
fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// A random number below `n` (0 when `n` is 0), for spreading first checks.
pub(crate) fn random_below(n: u64) -> u64 {
    random() % n.max(1)
}

/// A cheap random number (splitmix64 over a seeded counter): only for spreading checks.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(Ordering::Relaxed);
    if s == 0 {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        s = t ^ (u64::from(std::process::id()) << 32) | 1;
        let _ = STATE.compare_exchange(0, s, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What the stats socket changes on a checker (`set server ... addr|check-port|health`).
impl Checker {
    /// Where the next check goes.
    pub fn addr_now(&self) -> SocketAddr {
        lock(&self.cli_addr).unwrap_or(self.addr)
    }

    pub fn set_addr(&self, a: SocketAddr) {
        *lock(&self.cli_addr) = Some(a);
    }

    /// `set server ... health stopping`: HAProxy's NOLB state (up, but no new
    /// load-balanced traffic; persistence still applies), the counter at its top. The
    /// next passing check makes the server UP again, as in HAProxy.
    pub fn force_stopping(self: &Arc<Self>) {
        let mut rec = lock(&self.record);
        let st = self.rf.mark_up();
        let was = self.state.up.load(Ordering::Acquire) && self.state.nolb.load(Ordering::Acquire);
        if was {
            return;
        }
        rec.last_change = SystemTime::now();
        if st.changed.is_some()
            && let Some(t) = rec.down_since.take()
        {
            rec.downtime += t.elapsed();
        }
        self.state.nolb.store(true, Ordering::Release);
        self.state.up.store(true, Ordering::Release);
        drop(rec);
        self.nolb_changed(true, None, ", changed from CLI");
    }

    /// Logs a server's move into NOLB (`stopping`) or out of it (UP), as HAProxy words it;
    /// `tail` follows the state word (`, changed from CLI`).
    fn nolb_changed(self: &Arc<Self>, nolb: bool, why: Option<(&Outcome, bool)>, tail: &str) {
        let c = self.counts();
        let word = if nolb { "stopping" } else { "UP" };
        let line = events::change_line(self.who(), Health::Up, why, &c).replacen(
            " is UP",
            &format!(" is {word}{tail}"),
            1,
        );
        process::warning(&line);
        self.sink.send(Severity::Notice, &line);
        if let Some(be) = self.backend.upgrade() {
            if !nolb {
                be.dequeue(self.idx);
            }
            crate::runtime::stats::counters::backend_health(&be);
        }
        if nolb && c.active == 0 && c.backup == 0 {
            process::alert(&events::no_server(&self.backend_name, true));
            self.sink.send(
                Severity::Emerg,
                &events::no_server(&self.backend_name, false),
            );
        }
    }

    /// `set server ... health up|down`: the counter jumps to its end and the state
    /// follows at once, logged as HAProxy logs a change "from CLI".
    pub fn force_health(self: &Arc<Self>, up: bool) {
        let mut rec = lock(&self.record);
        let st = if up {
            self.rf.mark_up()
        } else {
            self.rf.mark_down()
        };
        let was_nolb = self.state.nolb.swap(false, Ordering::AcqRel);
        if up && was_nolb && st.changed.is_none() {
            rec.last_change = SystemTime::now();
            drop(rec);
            self.nolb_changed(false, None, ", changed from CLI");
            return;
        }
        let Some(to) = st.changed else { return };
        rec.last_change = SystemTime::now();
        match to {
            Health::Down => {
                self.state.up.store(false, Ordering::Release);
                rec.downs += 1;
                rec.down_since = Some(Instant::now());
            }
            Health::Up => {
                if let Some(t) = rec.down_since.take() {
                    rec.downtime += t.elapsed();
                }
                self.state.up.store(true, Ordering::Release);
                if let Some(be) = self.backend.upgrade() {
                    be.dequeue(self.idx);
                }
            }
        }
        let c = self.counts();
        let line = events::change_line(self.who(), to, None, &c);
        let word = if up { "UP" } else { "DOWN" };
        let line = line.replacen(
            &format!(" is {word}."),
            &format!(" is {word}, changed from CLI."),
            1,
        );
        process::warning(&line);
        self.sink.send(
            if up {
                Severity::Notice
            } else {
                Severity::Alert
            },
            &line,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer7_errors_as_the_manual_lists() {
        for ok in [100, 200, 404, 499, 501, 505] {
            assert!(!Observed::Status(ok).error(), "{ok}");
        }
        for bad in [500, 502, 503, 504, 506, 599] {
            assert!(Observed::Status(bad).error(), "{bad}");
        }
        assert!(Observed::L4Err.error() && !Observed::L4Ok.error());
        assert!(Observed::Timeout.error() && Observed::Timeout.layer7());
    }

    #[test]
    fn interval_follows_the_manual_table() {
        let ms = Duration::from_millis;
        let rf = RiseFall::new(2, 3);
        let at = |rf: &RiseFall| interval_at(&rf.now(), ms(1000), Some(ms(100)), Some(ms(5000)));
        // Yet unchecked (one failure from down): fastinter.
        assert_eq!(at(&rf), ms(100));
        rf.passed();
        assert_eq!(at(&rf), ms(1000));
        rf.failed();
        assert_eq!(at(&rf), ms(100));
        rf.failed();
        rf.failed();
        assert_eq!(at(&rf), ms(5000));
        rf.passed();
        assert_eq!(at(&rf), ms(100));
        // Unset fastinter/downinter fall back to inter.
        assert_eq!(interval_at(&rf.now(), ms(1000), None, None), ms(1000));
    }

    #[test]
    fn slowstart_ramps_weight_and_maxconn() {
        let mut s = ServerState::new("s", 1, 2, false, false);
        s.maxconn = 10;
        assert_eq!((s.eweight(), s.limit()), (32, 10));
        s.ramp.store(0, Ordering::Relaxed);
        assert_eq!((s.eweight(), s.limit()), (1, 1));
        s.ramp.store(500, Ordering::Relaxed);
        assert_eq!((s.eweight(), s.limit()), (16, 5));
        s.ramp.store(1000, Ordering::Relaxed);
        assert_eq!(s.eweight(), 32);
    }

    #[test]
    fn random_spreads() {
        let a: Vec<u64> = (0..8).map(|_| random() % 1000).collect();
        assert!(a.iter().any(|x| *x != a[0]));
    }
}

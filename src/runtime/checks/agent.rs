//! Agent checks (`agent-check`), as HAProxy 2.6 runs them: every `agent-inter`, connect to
//! `agent-addr:agent-port`, send `agent-send`, read one line, and apply its words to the
//! server: health (`up`, `down`, `fail`, `stopped`), administrative state (`ready`,
//! `drain`, `maint`), weight (`75%` of the configured weight) and `maxconn:N`; `#` starts
//! a description.
//!
//! The agent has its own rise/fall counter (1/1, as HAProxy's agent); a server is UP only
//! when both its health check and its agent say so. Failing to reach the agent changes
//! nothing (the health check judges connectivity). The reply parser ([`parse`]) and the
//! texts HAProxy shows are pure and unit-tested; [`Agent`] runs the task and applies.
//! Intervals follow `agent-inter` (2 s by default), jittered by `spread-checks`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::events::{self, Counts, Who};
use super::health::{Health, RiseFall};
use super::probe::CheckCtx;
use super::status::{CheckStatus, Outcome};
use crate::model::types::Host;
use crate::model::{Balance, Config, HashType, Proxy};
use crate::runtime::backend::{Admin, Backend, ServerState};
use crate::runtime::log::{LogSink, Severity};
use crate::runtime::process;

/// A health word of the agent's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    Up,
    Down,
    Fail,
    Stopped,
}

impl Word {
    fn text(self) -> &'static str {
        match self {
            Word::Up => "up",
            Word::Down => "down",
            Word::Fail => "fail",
            Word::Stopped => "stopped",
        }
    }
}

/// One agent line, cut into what it asks for (the last word of each kind wins, as in
/// HAProxy; the first unknown word is kept as the error).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub health: Option<Word>,
    pub admin: Option<Admin>,
    /// The weight word as given (`75%`), parsed when applied.
    pub weight: Option<String>,
    /// What follows `maxconn:`.
    pub maxconn: Option<String>,
    pub error: Option<String>,
    /// The description after `#`.
    pub desc: String,
}

/// Cuts one agent line (without its end of line) into a [`Reply`]. Words are separated by
/// spaces, tabs and commas, and compared without case.
pub fn parse(line: &str) -> Reply {
    let mut r = Reply::default();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        if let Some(d) = rest.strip_prefix('#') {
            r.desc = d.trim_start_matches([' ', '\t', '\n']).to_string();
            break;
        }
        // A '#' inside a word is part of it; only one starting a word starts the text.
        let end = rest
            .char_indices()
            .skip(1)
            .find(|(_, c)| matches!(c, ' ' | '\t' | ','))
            .map_or(rest.len(), |(i, _)| i);
        let (w, tail) = rest.split_at(end);
        rest = tail;
        let lw = w.to_ascii_lowercase();
        match lw.as_str() {
            "up" => r.health = Some(Word::Up),
            "down" => r.health = Some(Word::Down),
            "fail" => r.health = Some(Word::Fail),
            "stopped" => r.health = Some(Word::Stopped),
            "ready" => r.admin = Some(Admin::Ready),
            "drain" => r.admin = Some(Admin::Drain),
            "maint" => r.admin = Some(Admin::Maint),
            _ if w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('%') => {
                r.weight = Some(w.to_string())
            }
            _ if lw.starts_with("maxconn:") => r.maxconn = Some(w[8..].to_string()),
            _ => {
                if r.error.is_none() {
                    r.error = Some(w.to_string());
                }
            }
        }
    }
    r
}

/// The weight a `N%` word asks for, relative to the configured weight `iweight`; the
/// error is HAProxy's text.
pub fn weight_of(word: &str, iweight: u32, dynamic: bool) -> Result<u32, &'static str> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (num, end) = word.split_at(digits);
    let Ok(n) = num.parse::<u64>() else {
        return Err("Empty weight string empty or preceded by garbage");
    };
    let w = if end == "%" {
        (u64::from(iweight) * n.min(25600) / 100).min(256) as u32
    } else if n > 256 {
        return Err("Absolute weight can only be between 0 and 256 inclusive.");
    } else {
        return Err("Trailing garbage in weight string");
    };
    if w != 0 && w != iweight && !dynamic {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.",
        );
    }
    Ok(w)
}

/// The `maxconn:` value; the error is HAProxy's text.
pub fn maxconn_of(v: &str) -> Result<u32, &'static str> {
    let digits = v.len() - v.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Ok(n) = v[..digits].parse::<u32>() else {
        return Err("maxconn string empty or preceded by garbage");
    };
    if digits != v.len() {
        return Err("Trailing garbage in maxconn string");
    }
    Ok(n)
}

/// The description HAProxy keeps for an agent reply (the stats' `last_agt`), from the
/// reply and the first warning its weight or maxconn raised.
pub fn describe(r: &Reply, warning: Option<&str>) -> Option<String> {
    let err = r.error.as_deref().filter(|e| !e.is_empty());
    let wrn = warning.filter(|w| !w.is_empty());
    match r.health {
        Some(h) => {
            let mut msg = r.desc.as_str();
            if msg.is_empty() || h == Word::Up {
                if let Some(e) = err {
                    msg = e;
                } else if let Some(w) = wrn {
                    msg = w;
                }
            }
            Some(if msg.is_empty() {
                format!("via agent : {}", h.text())
            } else {
                format!("via agent : {} ({msg})", h.text())
            })
        }
        None => match (err, wrn) {
            (Some(e), _) => Some(format!("agent reports an error : {e}")),
            (None, Some(w)) => Some(format!("agent warns : {w}")),
            _ => None,
        },
    }
}

/// The agent's last result, for a stats page.
#[derive(Debug, Clone, Default)]
pub struct AgentRecord {
    /// `None` until the first agent check ends.
    pub last: Option<Outcome>,
    /// The reply changed no health (HAProxy's `CHECKED`, "No status change").
    pub checked: bool,
    /// HAProxy's description of the last reply (`last_agt`).
    pub desc: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One server's agent.
#[derive(Debug)]
pub struct Agent {
    backend_name: String,
    server_name: String,
    backup: bool,
    idx: usize,
    state: Arc<ServerState>,
    backend: Weak<Backend>,
    /// The agent's own health: rise 1, fall 1.
    pub rf: RiseFall,
    /// `agent-addr` / `agent-port`, changeable from the stats socket.
    pub addr: Mutex<SocketAddr>,
    /// Whether `agent-addr` (configured or from the socket) chose the address.
    pub addr_set: AtomicBool,
    /// `agent-send`, changeable from the stats socket.
    pub send: Mutex<Vec<u8>>,
    inter: Duration,
    timeout_connect: Option<Duration>,
    timeout_check: Option<Duration>,
    iweight: u32,
    dynamic: bool,
    /// `spread-checks`: each interval moved at random by up to this percentage.
    spread: u32,
    sink: Arc<LogSink>,
    log_health: bool,
    /// False after `disable agent`: the agent pauses and no longer counts.
    pub enabled: AtomicBool,
    pub record: Mutex<AgentRecord>,
}

/// Whether the backend's algorithm takes weight changes at run time.
fn dynamic_weights(p: &Proxy) -> bool {
    match &p.balance {
        Balance::StaticRr => false,
        Balance::RoundRobin | Balance::LeastConn | Balance::First | Balance::Random { .. } => true,
        _ => p.hash_type == HashType::Consistent,
    }
}

/// Every agent of the configuration, attached to its server state.
pub fn build(
    cfg: &Config,
    proxies: &[Arc<crate::runtime::proxy::ProxyRt>],
    d: &mut crate::config::diag::Diags,
) -> Vec<Arc<Agent>> {
    let mut agents = Vec::new();
    for (p, rt) in cfg.proxies.iter().zip(proxies) {
        let Some(be) = &rt.backend else { continue };
        let sink = Arc::new(LogSink::new(&p.logs, cfg.global.log_tag.as_deref()));
        for (i, s) in p.servers.iter().enumerate() {
            let sp = &s.params;
            if !sp.agent_check {
                continue;
            }
            let Some(state) = be.servers.get(i) else {
                continue;
            };
            let ip = match (sp.agent_addr, &s.addr.host) {
                (Some(ip), _) => Some(ip),
                (None, Host::Ip(ip)) => Some(*ip),
                (None, Host::Name(_)) => s.resolved.first().copied(),
                _ => None,
            };
            let (Some(ip), Some(port)) = (ip, sp.agent_port) else {
                d.warn(
                    s.span,
                    format!(
                        "in '{}': server '{}' has 'agent-check' but no agent port (or no \
                         address); its agent check is not run (set 'agent-port')",
                        p.name, s.name
                    ),
                );
                continue;
            };
            let a = Arc::new(Agent {
                backend_name: p.name.clone(),
                server_name: s.name.clone(),
                backup: sp.backup,
                idx: i,
                state: state.clone(),
                backend: Arc::downgrade(be),
                rf: RiseFall::new(1, 1),
                addr: Mutex::new(SocketAddr::new(ip, port)),
                addr_set: AtomicBool::new(sp.agent_addr.is_some()),
                send: Mutex::new(sp.agent_send.clone().unwrap_or_default().into_bytes()),
                inter: sp
                    .agent_inter
                    .unwrap_or(Duration::from_secs(2))
                    .max(Duration::from_millis(1)),
                timeout_connect: p.timeouts.connect,
                timeout_check: p.timeouts.check,
                iweight: sp.weight,
                dynamic: dynamic_weights(p),
                spread: cfg.global.spread_checks.unwrap_or(0).min(50),
                sink: sink.clone(),
                log_health: p.options.log_health_checks,
                enabled: AtomicBool::new(true),
                record: Mutex::new(AgentRecord::default()),
            });
            let _ = state.agent.set(a.clone());
            agents.push(a);
        }
    }
    agents
}

/// Whether the server's agent lets it be UP: no agent, a disabled one, or one whose
/// health is up.
pub fn allows_up(state: &ServerState) -> bool {
    state
        .agent
        .get()
        .is_none_or(|a| !a.counts() || a.rf.health() == Health::Up)
}

/// Whether the server's health check lets it be UP.
fn check_allows_up(state: &ServerState) -> bool {
    state
        .checker
        .get()
        .is_none_or(|c| c.rf.health() == Health::Up)
}

impl Agent {
    /// Whether the agent's health counts for the server's state.
    pub fn counts(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn who(&self) -> Who<'_> {
        Who {
            backend: &self.backend_name,
            server: &self.server_name,
            backup: self.backup,
        }
    }

    /// The last result, for a stats page.
    pub fn snapshot(&self) -> AgentRecord {
        lock(&self.record).clone()
    }

    /// Runs the agent forever (inside the tokio runtime); checks pause while disabled.
    pub async fn run(self: Arc<Self>) {
        let wait = Duration::from_micros(
            super::scheduler::random_below(self.inter.as_micros() as u64).max(1),
        );
        tokio::time::sleep(wait).await;
        loop {
            if self.counts() {
                self.check_once().await;
            }
            tokio::time::sleep(self.jittered()).await;
        }
    }

    /// The interval, moved at random by up to ±`spread-checks` percent.
    fn jittered(&self) -> Duration {
        let us = self.inter.as_micros() as u64;
        let rv = us * u64::from(self.spread) / 100;
        if rv == 0 {
            return self.inter;
        }
        let r = super::scheduler::random_below(2 * rv + 1);
        Duration::from_micros((us + r).saturating_sub(rv))
    }

    /// One agent check: connect, send, read a line, apply.
    async fn check_once(self: &Arc<Self>) {
        let inter = self.inter;
        let (connect, read) = match self.timeout_check {
            Some(tc) => (
                self.timeout_connect.map_or(inter, |c| c.min(inter)),
                Some(tc),
            ),
            None => (inter, None),
        };
        let addr = *lock(&self.addr);
        let ctx = CheckCtx::new(addr, connect, read);
        let started = ctx.started;
        let send = lock(&self.send).clone();
        let result = talk(&ctx, &send).await;
        let elapsed = started.elapsed();
        match result {
            Ok(Some(line)) => self.apply_reply(&parse(&line), elapsed),
            Ok(None) => {
                // HAProxy keeps the status and says why nothing was applied.
                let mut rec = lock(&self.record);
                rec.desc = Some("Ignoring incomplete line from agent".into());
            }
            Err(mut o) => {
                o.duration = elapsed;
                let mut rec = lock(&self.record);
                let prev = prev_status(&rec);
                rec.checked = false;
                rec.desc = o.info.clone();
                self.log_result(&o, prev, false);
                rec.last = Some(o);
            }
        }
    }

    /// Applies one reply as HAProxy does: administrative state first, then weight and
    /// maxconn, then health.
    pub fn apply_reply(self: &Arc<Self>, r: &Reply, duration: Duration) {
        let mut warning: Option<&'static str> = None;
        if let Some(a) = r.admin {
            self.set_admin(a);
        }
        if let Some(w) = &r.weight {
            match weight_of(w, self.iweight, self.dynamic) {
                Ok(w) => self.state.weight.store(w, Ordering::Relaxed),
                Err(e) => warning = warning.or(Some(e)),
            }
        }
        if let Some(m) = &r.maxconn {
            match maxconn_of(m) {
                Ok(n) => {
                    self.state.maxconn_cli.store(n, Ordering::Relaxed);
                    if let Some(be) = self.backend.upgrade() {
                        be.dequeue(self.idx);
                    }
                }
                Err(e) => warning = warning.or(Some(e)),
            }
        }
        let desc = describe(r, warning);
        let out = match r.health {
            Some(Word::Up) => Some(Outcome::new(CheckStatus::L7Ok).with_code(0)),
            Some(_) => Some(Outcome::new(CheckStatus::L7Sts).with_code(0)),
            None => None,
        };
        let mut rec = lock(&self.record);
        rec.desc = desc.clone();
        let Some(mut out) = out else {
            rec.checked = true;
            let mut o = Outcome::new(CheckStatus::L7Ok);
            o.duration = duration;
            rec.last = Some(o);
            return;
        };
        out.duration = duration;
        if let Some(d) = &desc {
            out.info = Some(d.clone());
        }
        let prev = prev_status(&rec);
        rec.checked = false;
        rec.last = Some(out.clone());
        let step = if r.health == Some(Word::Up) {
            self.rf.mark_up()
        } else {
            self.rf.mark_down()
        };
        self.log_result(&out, prev, step.moved);
        drop(rec);
        self.settle(Some(&out));
    }

    /// `option log-health-checks`: an agent result is said when it moved the agent's
    /// health or its status differs from the last one.
    fn log_result(&self, out: &Outcome, prev: Option<CheckStatus>, moved: bool) {
        if !self.log_health || !(moved || prev != Some(out.status)) {
            return;
        }
        let line = events::check_line(self.who(), out, true, &self.rf.now());
        let line = line.replacen("Health check for", "Agent check for", 1);
        process::warning(&line);
        self.sink.send(Severity::Notice, &line);
    }

    /// `set server B/S agent up|down`: the agent's health forced, and the server state
    /// following it.
    pub fn force(self: &Arc<Self>, up: bool, from: Option<&str>) {
        if up {
            self.rf.mark_up();
        } else {
            self.rf.mark_down();
        }
        self.settle_as(None, from);
    }

    /// `disable agent`: the agent pauses and no longer counts; as in HAProxy, the
    /// server's state stays as it is until a check changes it.
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    /// Brings the server's `up` flag in line with its health check and agent, saying the
    /// change as HAProxy does (`why`: the agent result that caused it).
    pub fn settle(self: &Arc<Self>, why: Option<&Outcome>) {
        self.settle_as(why, None)
    }

    /// [`Agent::settle`]; `from` names who forced it (`CLI`), said as HAProxy does.
    fn settle_as(self: &Arc<Self>, why: Option<&Outcome>, from: Option<&str>) {
        let want = allows_up(&self.state) && check_allows_up(&self.state);
        let was = self.state.up.load(Ordering::Acquire);
        if want == was {
            return;
        }
        let why = why.filter(|_| !self.log_health).map(|o| (o, true));
        let who = self.who();
        if want {
            let before = self.state.total.load(Ordering::Relaxed);
            self.state.up.store(true, Ordering::Release);
            if let Some(c) = self.state.checker.get() {
                c.note_change(Health::Up);
            }
            if let Some(be) = self.backend.upgrade() {
                be.dequeue(self.idx);
            }
            let mut c = self.counts_now();
            c.requeued = self
                .state
                .total
                .load(Ordering::Relaxed)
                .saturating_sub(before) as u32;
            let line = forced(events::change_line(who, Health::Up, why, &c), from);
            process::warning(&line);
            self.sink.send(Severity::Notice, &line);
            on_marked_up(&self.state, self.backend.upgrade().as_deref());
        } else {
            self.state.up.store(false, Ordering::Release);
            if let Some(c) = self.state.checker.get() {
                c.note_change(Health::Down);
            }
            let c = self.counts_now();
            let line = forced(events::change_line(who, Health::Down, why, &c), from);
            process::warning(&line);
            self.sink.send(Severity::Alert, &line);
            if c.active == 0 && c.backup == 0 {
                process::alert(&events::no_server(&self.backend_name, true));
                self.sink.send(
                    Severity::Emerg,
                    &events::no_server(&self.backend_name, false),
                );
            }
            on_marked_down(&self.state);
        }
    }

    /// The agent's `ready` / `drain` / `maint`, said as HAProxy says them.
    fn set_admin(&self, to: Admin) {
        let before = self.state.admin();
        if before == to {
            return;
        }
        self.state.admin.store(to as u8, Ordering::Release);
        let up = self.state.up.load(Ordering::Acquire);
        let c = self.counts_now();
        let name = format!(
            "{}erver {}/{}",
            if self.backup { "Backup S" } else { "S" },
            self.backend_name,
            self.server_name
        );
        let tail = |c: &Counts, up: bool| {
            if up {
                format!(
                    "{} active and {} backup servers online. {} sessions requeued, {} total in queue.",
                    c.active, c.backup, c.requeued, c.queued
                )
            } else {
                format!(
                    "{} active and {} backup servers left. {} sessions active, {} requeued, {} remaining in queue.",
                    c.active, c.backup, c.sessions, c.requeued, c.queued
                )
            }
        };
        let line = match (before, to) {
            (_, Admin::Maint) if up => {
                // HAProxy counts going to maintenance as a transition to DOWN.
                if let Some(c) = self.state.checker.get() {
                    c.note_maint();
                }
                format!("{name} is going DOWN for maintenance. {}", tail(&c, false))
            }
            (_, Admin::Maint) => format!("{name} was DOWN and now enters maintenance."),
            (Admin::Maint, _) => {
                if let Some(be) = self.backend.upgrade() {
                    be.dequeue(self.idx);
                }
                format!(
                    "{name} is {}/{} (leaving forced maintenance).",
                    if up { "UP" } else { "DOWN" },
                    if to == Admin::Drain { "DRAIN" } else { "READY" }
                )
            }
            (_, Admin::Drain) => format!("{name} enters drain state. {}", tail(&c, up)),
            (_, Admin::Ready) => format!(
                "{name} is {} (leaving forced drain).",
                if up { "UP" } else { "DOWN" }
            ),
        };
        process::warning(&line);
        self.sink.send(Severity::Notice, &line);
    }

    fn counts_now(&self) -> Counts {
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
}

/// The stats page's agent actions on one server (`dagent`, `eagent`, `arunn`, `adown`);
/// false when the server has no agent.
pub fn page_action(state: &ServerState, action: &str) -> bool {
    let Some(a) = state.agent.get() else {
        return false;
    };
    match action {
        "dagent" => a.disable(),
        "eagent" => a.enabled.store(true, Ordering::Relaxed),
        "arunn" => a.force(true, None),
        "adown" => a.force(false, None),
        _ => return false,
    }
    true
}

/// `show servers state`'s `srv_agent_state` (HAProxy's check flags: agent, configured,
/// enabled), `srv_agent_addr` (`-` unless `agent-addr` set it) and `srv_agent_port`.
pub fn state_fields(state: &ServerState) -> (u32, String, u16) {
    match state.agent.get() {
        None => (0, "-".into(), 0),
        Some(a) => {
            let addr = *lock(&a.addr);
            let shown = if a.addr_set.load(Ordering::Relaxed) {
                addr.ip().to_string()
            } else {
                "-".into()
            };
            (if a.counts() { 0x16 } else { 0x12 }, shown, addr.port())
        }
    }
}

/// `Server B/S is DOWN, changed from CLI. ...`: the change line of a forced change.
fn forced(line: String, from: Option<&str>) -> String {
    let Some(from) = from else { return line };
    for state in [" is DOWN.", " is UP."] {
        if let Some(i) = line.find(state) {
            let at = i + state.len() - 1;
            return format!("{}, changed from {from}{}", &line[..at], &line[at..]);
        }
    }
    line
}

/// The status the last result left, for telling a new one (`None`: none yet, or
/// HAProxy's `CHECKED`).
fn prev_status(rec: &AgentRecord) -> Option<CheckStatus> {
    if rec.checked {
        return None;
    }
    rec.last.as_ref().map(|o| o.status)
}

/// Connects, sends, and reads the first line (`Ok(None)`: the agent closed before a
/// whole line); a failure is the agent's status.
async fn talk(ctx: &CheckCtx, send: &[u8]) -> Result<Option<String>, Outcome> {
    let mut conn = ctx.connect_as(None, false).await?;
    let io_err = |e: super::probe::IoFail| match e {
        super::probe::IoFail::Timeout => Outcome::new(CheckStatus::L7Tout),
        super::probe::IoFail::Io(e) => {
            Outcome::new(CheckStatus::L7Rsp).with_info(super::probe::io_info(&e))
        }
    };
    if !send.is_empty() {
        conn.send(send).await.map_err(io_err)?;
    }
    let mut buf = Vec::new();
    let eol = |b: &[u8]| b.iter().any(|c| *c == b'\n' || *c == b'\r');
    conn.recv_until(&mut buf, 16384, eol)
        .await
        .map_err(io_err)?;
    match buf.iter().position(|c| *c == b'\n' || *c == b'\r') {
        Some(i) => Ok(Some(String::from_utf8_lossy(&buf[..i]).into_owned())),
        None => Ok(None),
    }
}

/// `on-marked-down shutdown-sessions`: the server's sessions end.
pub fn on_marked_down(state: &ServerState) {
    if state.on_marked_down_shutdown {
        state.kill.send_modify(|g| *g = g.wrapping_add(1));
    }
}

/// `on-marked-up shutdown-backup-sessions`: an active server with a weight coming UP
/// ends the sessions of the backend's backup servers.
pub fn on_marked_up(state: &ServerState, be: Option<&Backend>) {
    if !state.on_marked_up_shutdown_backup || state.backup || state.weight() == 0 {
        return;
    }
    let Some(be) = be else { return };
    for s in be.servers.iter().filter(|s| s.backup) {
        s.kill.send_modify(|g| *g = g.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_any_order_and_case() {
        let r = parse("UP, 75%\tmaxconn:30 drain #all good ");
        assert_eq!(r.health, Some(Word::Up));
        assert_eq!(r.admin, Some(Admin::Drain));
        assert_eq!(r.weight.as_deref(), Some("75%"));
        assert_eq!(r.maxconn.as_deref(), Some("30"));
        assert_eq!(r.desc, "all good ");
        assert_eq!(r.error, None);
        let r = parse("foo bar down");
        assert_eq!(
            (r.health, r.error.as_deref()),
            (Some(Word::Down), Some("foo"))
        );
        assert_eq!(parse("#only").health, None);
        assert_eq!(parse(""), Reply::default());
        // Anything an agent may send is cut without trouble.
        let r = parse("\u{e9}t\u{e9} 5\u{e9}% maxconn:\u{fc} #\u{fc}");
        assert_eq!(r.error.as_deref(), Some("\u{e9}t\u{e9}"));
        assert_eq!(r.weight.as_deref(), Some("5\u{e9}%"));
        assert_eq!(
            weight_of("5\u{e9}%", 1, true),
            Err("Trailing garbage in weight string")
        );
        assert!(maxconn_of("\u{fc}").is_err());
    }

    #[test]
    fn forced_lines() {
        assert_eq!(
            forced("Server b/s is DOWN. 2 active".into(), Some("CLI")),
            "Server b/s is DOWN, changed from CLI. 2 active"
        );
        assert_eq!(
            forced("Server b/s is UP. x".into(), None),
            "Server b/s is UP. x"
        );
    }

    #[test]
    fn weights_as_haproxy() {
        assert_eq!(weight_of("75%", 40, true), Ok(30));
        assert_eq!(weight_of("300%", 40, true), Ok(120));
        assert_eq!(weight_of("1000%", 40, true), Ok(256));
        assert_eq!(weight_of("0%", 40, false), Ok(0));
        assert_eq!(weight_of("100%", 40, false), Ok(40));
        assert!(weight_of("50%", 40, false).is_err());
        assert_eq!(
            weight_of("50%x", 40, true),
            Err("Trailing garbage in weight string")
        );
        assert_eq!(maxconn_of("10"), Ok(10));
        assert_eq!(
            maxconn_of("x"),
            Err("maxconn string empty or preceded by garbage")
        );
        assert_eq!(maxconn_of("1x"), Err("Trailing garbage in maxconn string"));
    }

    // Expected texts as HAProxy 2.6.12 showed them in `last_agt`.
    #[test]
    fn descriptions_as_haproxy() {
        let d = |l: &str, w: Option<&str>| describe(&parse(l), w);
        assert_eq!(d("up", None).as_deref(), Some("via agent : up"));
        assert_eq!(
            d("fail #bad disk", None).as_deref(),
            Some("via agent : fail (bad disk)")
        );
        assert_eq!(d("up foo", None).as_deref(), Some("via agent : up (foo)"));
        assert_eq!(d("75%", None), None);
        assert_eq!(
            d("foo", None).as_deref(),
            Some("agent reports an error : foo")
        );
        assert_eq!(
            d("50%x", Some("Trailing garbage in weight string")).as_deref(),
            Some("agent warns : Trailing garbage in weight string")
        );
    }
}

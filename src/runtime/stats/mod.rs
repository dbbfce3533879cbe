//! Statistics: the counters HAProxy 2.6 keeps per frontend, backend and server
//! ([`counters`]), gathered into rows of its stats fields ([`collect`]), and rendered as
//! its CSV ([`csv`]), JSON ([`json`]) and HTML ([`html`]) exports; the stats page a proxy
//! with `stats enable` serves ([`page`]). Other parts (the stats socket, Prometheus) call
//! [`collect`] and the renderers.

pub mod counters;
pub mod csv;
pub mod fields;
pub mod html;
pub mod json;
pub mod listener;
pub mod page;

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::model::Config;
use crate::model::proxy::Mode;
use crate::runtime::Runtime;
use crate::runtime::backend::{Admin, Backend, ServerState, Target};
use crate::runtime::checks::health::Health;
use crate::runtime::proxy::ProxyRt;
use counters::Counters;

/// What a row describes (the CSV `type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjType {
    Frontend,
    Backend,
    Server,
    Listener,
}

impl ObjType {
    /// The CSV `type` value.
    pub fn code(self) -> u32 {
        match self {
            ObjType::Frontend => 0,
            ObjType::Backend => 1,
            ObjType::Server => 2,
            ObjType::Listener => 3,
        }
    }
    /// The JSON `objType` value.
    pub fn name(self) -> &'static str {
        match self {
            ObjType::Frontend => "Frontend",
            ObjType::Backend => "Backend",
            ObjType::Server => "Server",
            ObjType::Listener => "Listener",
        }
    }
}

/// One field's value; `Empty` where the field does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    #[default]
    Empty,
    Str(String),
    U32(u32),
    U64(u64),
    S32(i32),
}

impl Value {
    pub fn is_empty(&self) -> bool {
        matches!(self, Value::Empty)
    }
    /// The value as the CSV shows it.
    pub fn text(&self) -> String {
        match self {
            Value::Empty => String::new(),
            Value::Str(s) => s.clone(),
            Value::U32(v) => v.to_string(),
            Value::U64(v) => v.to_string(),
            Value::S32(v) => v.to_string(),
        }
    }
    /// As a number (0 for text and empty).
    pub fn num(&self) -> u64 {
        match self {
            Value::U32(v) => u64::from(*v),
            Value::U64(v) => *v,
            Value::S32(v) => (*v).max(0) as u64,
            _ => 0,
        }
    }
}

/// One line of the stats: a frontend, a backend, a server or a listener, with every field
/// of [`fields::FIELDS`].
#[derive(Debug, Clone)]
pub struct StatRow {
    pub obj: ObjType,
    /// Index of the proxy in [`Runtime::proxies`].
    pub proxy: usize,
    /// Index of the server in its backend (servers only).
    pub server: Option<usize>,
    pub values: Vec<Value>,
}

impl StatRow {
    fn new(obj: ObjType, proxy: usize) -> StatRow {
        StatRow {
            obj,
            proxy,
            server: None,
            values: vec![Value::Empty; fields::FIELDS.len()],
        }
    }
    /// A field by name (`Empty` for an unknown name).
    pub fn get(&self, name: &str) -> &Value {
        static EMPTY: Value = Value::Empty;
        fields::pos(name)
            .and_then(|i| self.values.get(i))
            .unwrap_or(&EMPTY)
    }
    pub fn pxname(&self) -> String {
        self.get("pxname").text()
    }
    pub fn svname(&self) -> String {
        self.get("svname").text()
    }
    fn set(&mut self, name: &str, v: Value) {
        if let Some(i) = fields::pos(name) {
            self.values[i] = v;
        }
    }
    fn u32(&mut self, name: &str, v: u64) {
        self.set(name, Value::U32(v.min(u64::from(u32::MAX)) as u32));
    }
    fn u64(&mut self, name: &str, v: u64) {
        self.set(name, Value::U64(v));
    }
    fn str(&mut self, name: &str, v: impl Into<String>) {
        self.set(name, Value::Str(v.into()));
    }
}

/// Which proxies an export shows: `stats scope` names (exact) and a `;scope=` filter
/// (a case-insensitive part of the name, as HAProxy matches it).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub names: Vec<String>,
    pub filter: Option<String>,
}

impl Scope {
    /// Every proxy.
    pub fn all() -> Scope {
        Scope::default()
    }
    pub fn admits(&self, name: &str) -> bool {
        (self.names.is_empty() || self.names.iter().any(|n| n == name))
            && self.filter.as_ref().is_none_or(|f| {
                f.is_empty() || name.to_ascii_lowercase().contains(&f.to_ascii_lowercase())
            })
    }
}

/// What the stats need from the configuration, fixed at start.
#[derive(Debug, Default)]
pub struct Info {
    pub started: Option<SystemTime>,
    pub node: String,
    pub description: Option<String>,
    pub proxies: Vec<ProxyInfo>,
    pub maxconn: u32,
    /// The listeners of frontends with `option socket-stats`.
    pub listeners: listener::Listeners,
}

#[derive(Debug, Default)]
pub struct ProxyInfo {
    /// The proxy's `iid`.
    pub iid: u32,
    /// Frontend `maxconn` (`slim`).
    pub maxconn: u32,
    pub cookie: Option<String>,
    pub algo: &'static str,
    pub description: Option<String>,
    pub servers: Vec<SrvInfo>,
    /// The stats page this proxy serves, if any.
    pub page: Option<page::PageCfg>,
    /// `option socket-stats`: the `name`, `id` and `maxconn` of each `bind`.
    pub socket_stats: Option<Vec<BindInfo>>,
}

/// A `bind`'s `name`, `id` and `maxconn` (0: none), for its listeners' rows.
pub type BindInfo = (Option<String>, Option<u32>, u32);

#[derive(Debug, Default)]
pub struct SrvInfo {
    pub sid: u32,
    pub cookie: Option<String>,
    pub check: Option<(u32, u32)>,
    pub maxconn: Option<u32>,
    pub maxqueue: Option<u32>,
}

/// Ids as HAProxy assigns them: forced ones kept, the others take the next free number
/// from `first` in declaration order.
fn assign_ids(forced: &[Option<u32>], first: u32) -> Vec<u32> {
    let mut used: std::collections::HashSet<u32> = forced.iter().flatten().copied().collect();
    let mut next = first;
    forced
        .iter()
        .map(|f| match f {
            Some(id) => *id,
            None => {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            }
        })
        .collect()
}

fn algo_name(b: &crate::model::Balance) -> &'static str {
    use crate::model::Balance as B;
    match b {
        B::RoundRobin => "roundrobin",
        B::StaticRr => "static-rr",
        B::LeastConn => "leastconn",
        B::First => "first",
        B::Source => "source",
        B::Uri { .. } => "uri",
        B::UrlParam { .. } => "url_param",
        B::Hdr { .. } => "hdr",
        B::Random { .. } => "random",
        B::RdpCookie { .. } => "rdp-cookie",
    }
}

impl Info {
    /// Built with the runtime; `maxconn` is the global one in force.
    pub fn build(cfg: &Config, maxconn: u32, d: &mut crate::config::diag::Diags) -> Info {
        counters::init_clock();
        // A `stats socket` makes HAProxy create its CLI proxy first, which takes id 1.
        let mut forced: Vec<Option<u32>> = cfg.proxies.iter().map(|p| p.id).collect();
        let socket = !cfg.global.stats_sockets.is_empty();
        if socket {
            forced.insert(0, None);
        }
        let mut ids = assign_ids(&forced, 1);
        if socket {
            ids.remove(0);
        }
        let node = cfg.global.node.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default()
        });
        let proxies = cfg
            .proxies
            .iter()
            .zip(ids)
            .map(|(p, iid)| {
                let sids = assign_ids(&p.servers.iter().map(|s| s.id).collect::<Vec<_>>(), 1);
                ProxyInfo {
                    iid,
                    maxconn: p.maxconn.unwrap_or(maxconn),
                    cookie: p.cookie.as_ref().map(|c| c.name.clone()),
                    algo: algo_name(&p.balance),
                    description: p.description.clone(),
                    servers: p
                        .servers
                        .iter()
                        .zip(sids)
                        .map(|(s, sid)| SrvInfo {
                            sid,
                            cookie: s.cookie.clone(),
                            check: s.params.check.then_some((s.params.rise, s.params.fall)),
                            maxconn: s.params.maxconn.filter(|m| *m > 0),
                            maxqueue: s.params.maxqueue.filter(|m| *m > 0),
                        })
                        .collect(),
                    page: p
                        .stats
                        .as_ref()
                        .filter(|s| s.enabled && p.mode == Mode::Http)
                        .map(|s| page::PageCfg::build(p, s, d)),
                    socket_stats: (p.options.socket_stats && p.caps.frontend).then(|| {
                        p.binds
                            .iter()
                            .map(|b| (b.name.clone(), b.id, b.maxconn.unwrap_or(0)))
                            .collect()
                    }),
                }
            })
            .collect();
        Info {
            started: Some(SystemTime::now()),
            node,
            description: cfg.global.description.clone(),
            proxies,
            maxconn,
            listeners: Default::default(),
        }
    }

    /// The stats of a socket of `bind` number `bind` of proxy `proxy`, now bound as `addr`;
    /// None unless the proxy has `option socket-stats`.
    pub fn listener(
        &self,
        proxy: usize,
        bind: usize,
        addr: &str,
    ) -> Option<std::sync::Arc<listener::ListenerStat>> {
        let binds = self.proxies.get(proxy)?.socket_stats.as_ref()?;
        let (name, _, maxconn) = binds.get(bind)?;
        let forced: Vec<Option<u32>> = binds.iter().map(|b| b.1).collect();
        Some(
            self.listeners
                .register(proxy, bind, &forced, name.as_deref(), addr, *maxconn),
        )
    }

    /// Seconds since start.
    pub fn uptime(&self) -> u64 {
        self.started
            .and_then(|s| s.elapsed().ok())
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
        Mode::Health => "health",
    }
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Every row, in HAProxy's order: per proxy in declaration order, its frontend, its
/// servers, its backend.
pub fn collect(rt: &Runtime) -> Vec<StatRow> {
    let mut rows = Vec::new();
    for px in &rt.proxies {
        let Some(info) = rt.stats.proxies.get(px.idx) else {
            continue;
        };
        if px.caps.frontend {
            rows.push(frontend_row(rt, px, info));
            for l in rt.stats.listeners.of(px.idx) {
                rows.push(listener_row(rt, px, info, &l));
            }
        }
        if let Some(be) = &px.backend {
            for (i, s) in be.servers.iter().enumerate() {
                rows.push(server_row(rt, px, info, be, i, s));
            }
            rows.push(backend_row(rt, px, info, be));
        }
    }
    rows
}

/// Clears what HAProxy shows only with `stats show-legends` on the page (and to an
/// operator-level CLI): server addresses, cookies, the balancing algorithm.
pub fn hide_legends(rows: &mut [StatRow]) {
    for r in rows {
        for f in ["addr", "cookie", "algo"] {
            r.set(f, Value::Empty);
        }
    }
}

/// The rows the scope admits.
pub fn scoped<'a>(rows: &'a [StatRow], scope: &'a Scope) -> impl Iterator<Item = &'a StatRow> {
    rows.iter().filter(|r| scope.admits(&r.pxname()))
}

fn common(r: &mut StatRow, rt: &Runtime, px: &ProxyRt, info: &ProxyInfo, sv: &str, sid: u32) {
    r.str("pxname", px.name.clone());
    r.str("svname", sv);
    r.u32("pid", 1);
    r.u32("iid", u64::from(info.iid));
    r.u32("sid", u64::from(sid));
    r.u32("type", u64::from(r.obj.code()));
    r.str("mode", mode_name(px.mode));
    let _ = rt;
}

fn hrsp(r: &mut StatRow, h: &[std::sync::atomic::AtomicU64; 6]) {
    for (i, n) in [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ]
    .iter()
    .enumerate()
    {
        r.u64(n, load(&h[i]));
    }
}

/// The stats-module columns after `-`: SSL for every kind, HTTP/2 and HTTP/1 for
/// frontends and backends.
fn modules(r: &mut StatRow, all: bool, h1: [u64; 6]) {
    for i in fields::PROXY_FIELDS..fields::FIELDS.len() {
        let name = fields::FIELDS[i].0;
        if !all && !name.starts_with("ssl_") {
            continue;
        }
        let v = match name {
            "h1_open_connections" => h1[0],
            "h1_open_streams" => h1[1],
            "h1_total_connections" => h1[2],
            "h1_total_streams" => h1[3],
            "h1_bytes_in" => h1[4],
            "h1_bytes_out" => h1[5],
            _ => 0,
        };
        r.values[i] = Value::U64(v);
    }
}

fn frontend_row(rt: &Runtime, px: &ProxyRt, info: &ProxyInfo) -> StatRow {
    let mut r = StatRow::new(ObjType::Frontend, px.idx);
    common(&mut r, rt, px, info, "FRONTEND", 0);
    let c = &px.counters;
    let f: &Counters = &c.fe;
    let http = px.mode == Mode::Http;
    let scur = load(&c.current);
    r.u32("scur", scur);
    r.u32("smax", load(&f.sess_max).max(scur));
    let slim = rt.cli.fe_maxconn(px.idx).unwrap_or(info.maxconn);
    r.u32("slim", u64::from(slim));
    // Connections refused by `tcp-request connection` rules never became sessions.
    let refused = load(&f.denied_conn);
    r.u64("stot", load(&c.sessions).saturating_sub(refused));
    r.u64("bin", load(&f.bytes_in));
    r.u64("bout", load(&f.bytes_out));
    r.u64("dreq", load(&f.denied_req));
    r.u64("dresp", load(&f.denied_resp));
    r.u64("ereq", load(&c.errors_req));
    let status = if px.disabled {
        "STOP"
    } else if let Some(s) = rt.cli.fe_status(px.idx) {
        s
    } else if slim > 0 && scur >= u64::from(slim) {
        "FULL"
    } else {
        "OPEN"
    };
    r.str("status", status);
    r.u32("rate", u64::from(f.sess_rate.read()));
    r.u32("rate_lim", 0);
    r.u32("rate_max", load(&f.sess_rate_max));
    if http {
        hrsp(&mut r, &f.hrsp);
    }
    r.u32("req_rate", u64::from(f.req_rate.read()));
    r.u32("req_rate_max", load(&f.req_rate_max));
    r.u64("req_tot", load(&f.req_tot));
    for n in ["comp_in", "comp_out", "comp_byp", "comp_rsp"] {
        r.u64(n, 0);
    }
    r.u32("conn_rate", u64::from(f.conn_rate.read()));
    r.u32("conn_rate_max", load(&f.conn_rate_max));
    r.u64("conn_tot", load(&f.conn_tot));
    if http {
        r.u64("intercepted", load(&f.intercepted));
    }
    r.u64("dcon", load(&f.denied_conn));
    r.u64("dses", load(&f.denied_sess));
    r.u64("wrew", load(&f.wrew));
    if http {
        r.u64("cache_lookups", 0);
        r.u64("cache_hits", 0);
    }
    r.u64("eint", 0);
    let h1 = if http {
        [
            scur,
            scur,
            load(&f.conn_tot).saturating_sub(refused),
            load(&f.req_tot),
            load(&f.bytes_in),
            load(&f.bytes_out),
        ]
    } else {
        [0; 6]
    };
    modules(&mut r, true, h1);
    r
}

/// The agent columns, as HAProxy fills them while the agent is enabled.
fn agent_columns(r: &mut StatRow, a: &crate::runtime::checks::agent::Agent) {
    let rec = a.snapshot();
    match &rec.last {
        Some(_) if rec.checked => {
            r.str("agent_status", "CHECKED");
            r.str("agent_desc", "No status change");
        }
        Some(o) => {
            r.str("agent_status", o.status.code());
            r.str("agent_desc", o.status.reason());
            if let Some(c) = o.code {
                r.u32("agent_code", u64::from(c));
            }
        }
        None => {
            r.str("agent_status", "INI");
            r.str("agent_desc", "Initializing");
        }
    }
    if let Some(o) = &rec.last {
        r.u64("agent_duration", o.duration.as_millis() as u64);
    }
    if let Some(d) = rec.desc {
        r.str("last_agt", d);
    }
    r.u32("agent_rise", 1);
    r.u32("agent_fall", 1);
    r.u32("agent_health", u64::from(a.rf.counter()));
}

/// A listener's row (`option socket-stats`): the counters HAProxy keeps per listener.
fn listener_row(
    rt: &Runtime,
    px: &ProxyRt,
    info: &ProxyInfo,
    l: &listener::ListenerStat,
) -> StatRow {
    let mut r = StatRow::new(ObjType::Listener, px.idx);
    common(&mut r, rt, px, info, &l.name, l.luid);
    let c = &l.c;
    let scur = load(&l.current);
    r.u32("scur", scur);
    r.u32("smax", load(&c.sess_max).max(scur));
    r.u32("slim", u64::from(l.maxconn));
    r.u64("stot", load(&l.total).saturating_sub(load(&c.denied_conn)));
    r.u64("bin", load(&c.bytes_in));
    r.u64("bout", load(&c.bytes_out));
    r.u64("dreq", load(&c.denied_req));
    r.u64("dresp", load(&c.denied_resp));
    r.u64("ereq", load(&c.failed_req));
    let status = if px.disabled {
        "STOP"
    } else if l.maxconn > 0 && scur >= u64::from(l.maxconn) {
        "FULL"
    } else {
        "OPEN"
    };
    r.str("status", status);
    r.str("addr", l.addr.clone());
    r.u64("dcon", load(&c.denied_conn));
    r.u64("dses", load(&c.denied_sess));
    r.u64("wrew", load(&c.wrew));
    r.u64("eint", 0);
    modules(&mut r, false, [0; 6]);
    r
}

/// The server's status text, as HAProxy words it.
pub fn server_status(s: &ServerState) -> String {
    if s.admin() == Admin::Maint {
        return "MAINT".into();
    }
    let up = s.up.load(Ordering::Relaxed);
    // HAProxy marks states its agent has a say in with " (agent)".
    let agent = s.agent.get().filter(|a| a.counts());
    if up && s.admin() == Admin::Drain && agent.is_some() {
        return "DRAIN (agent)".into();
    }
    if up && (s.admin() == Admin::Drain || s.weight() == 0) {
        return "DRAIN".into();
    }
    if !up && agent.is_some_and(|a| a.rf.health() == Health::Down) {
        return "DOWN (agent)".into();
    }
    if up && s.nolb.load(Ordering::Relaxed) {
        return "NOLB".into();
    }
    // Checks disabled from the stats page or socket: shown as a server without checks.
    match s
        .checker
        .get()
        .filter(|c| c.enabled.load(Ordering::Relaxed))
    {
        None => {
            if up {
                "no check".into()
            } else {
                "DOWN".into()
            }
        }
        Some(c) => {
            let st = c.rf.now();
            match st.health {
                Health::Up if st.x < st.y => format!("UP {}/{}", st.x, st.y),
                Health::Up => "UP".into(),
                Health::Down if st.x > 0 => format!("DOWN {}/{}", st.x, st.y),
                Health::Down => "DOWN".into(),
            }
        }
    }
}

fn addr_text(t: &Target) -> String {
    match t {
        Target::Inet { ip, port } => {
            let ip = ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "0.0.0.0".into());
            match port {
                crate::model::types::PortSpec::Fixed(p) => format!("{ip}:{p}"),
                crate::model::types::PortSpec::Offset(o) => format!("{ip}:{o:+}"),
                crate::model::types::PortSpec::None => format!("{ip}:0"),
            }
        }
        Target::Unix(p) => format!("unix@{}", p.display()),
        Target::Abstract(n) => format!("abns@{n}"),
    }
}

fn server_row(
    rt: &Runtime,
    px: &ProxyRt,
    info: &ProxyInfo,
    be: &Backend,
    i: usize,
    s: &ServerState,
) -> StatRow {
    let mut r = StatRow::new(ObjType::Server, px.idx);
    r.server = Some(i);
    let si = info.servers.get(i);
    let sid = si.map(|x| x.sid).unwrap_or(s.id);
    common(&mut r, rt, px, info, &s.name, sid);
    let c = &s.counters;
    let http = px.mode == Mode::Http;
    let scur = u64::from(s.cur());
    r.u32("qcur", u64::from(s.queued()));
    r.u32("qmax", load(&c.qmax));
    r.u32("scur", scur);
    r.u32("smax", load(&c.sess_max).max(scur));
    if let Some(m) = si.and_then(|x| x.maxconn) {
        r.u32("slim", u64::from(m));
    }
    r.u64("stot", load(&s.total));
    r.u64("bin", load(&c.bytes_in));
    r.u64("bout", load(&c.bytes_out));
    r.u64("dresp", load(&c.denied_resp));
    r.u64("econ", load(&c.failed_conns));
    r.u64("eresp", load(&c.failed_resp));
    r.u64("wretr", load(&c.retries));
    r.u64("wredis", load(&c.redispatches));
    r.str("status", server_status(s));
    r.u32("weight", u64::from(s.weight()));
    r.u32("act", u64::from(!s.backup));
    r.u32("bck", u64::from(s.backup));
    let checker = s
        .checker
        .get()
        .filter(|c| c.enabled.load(Ordering::Relaxed));
    let rec = checker.map(|c| c.snapshot());
    let start_age = rt.stats.uptime();
    let mut lastchg = rec
        .as_ref()
        .and_then(|r| r.last_change.elapsed().ok())
        .map(|d| d.as_secs())
        .unwrap_or(start_age);
    if let Some(a) = c.change_age() {
        lastchg = lastchg.min(a.as_secs());
    }
    if let Some(rec) = &rec {
        r.u64("chkfail", rec.failed);
        // Maintenance is a DOWN period of a checked server too (HAProxy).
        r.u64("chkdown", rec.downs + load(&c.downs));
    }
    r.u32("lastchg", lastchg);
    if let Some(rec) = &rec {
        r.u32(
            "downtime",
            rec.downtime_now().as_secs() + counters::backend_downtime(c),
        );
    }
    if let Some(q) = si.and_then(|x| x.maxqueue) {
        r.u32("qlimit", u64::from(q));
    }
    let ramp = s.ramp.load(Ordering::Relaxed);
    if ramp < 1000 {
        r.u32("throttle", u64::from(ramp / 10));
    }
    r.u64("lbtot", load(&c.lbtot));
    r.u32("rate", u64::from(c.sess_rate.read()));
    r.u32("rate_max", load(&c.sess_rate_max));
    // Checks pause in maintenance: HAProxy then leaves out the last check's columns.
    let paused = s.admin() == Admin::Maint;
    if let (Some(rec), Some(chk), false) = (&rec, checker, paused) {
        if let Some(o) = &rec.last {
            r.str("check_status", o.status.code());
            if let Some(code) = o.code {
                r.u32("check_code", u64::from(code));
            }
            r.u64("check_duration", o.duration.as_millis() as u64);
            if let Some(t) = &o.info {
                r.str("last_chk", t.clone());
            }
            r.str("check_desc", o.status.reason());
        } else {
            r.str("check_status", "INI");
            r.str("check_desc", "Initializing");
        }
        let (rise, fall) = si.and_then(|x| x.check).unwrap_or((2, 3));
        r.u32("check_rise", u64::from(rise));
        r.u32("check_fall", u64::from(fall));
        r.u32("check_health", u64::from(chk.rf.counter()));
    }
    if let Some(a) = s.agent.get().filter(|a| a.counts()) {
        agent_columns(&mut r, a);
    }
    if http {
        hrsp(&mut r, &c.hrsp);
        r.u64("req_tot", load(&c.req_tot));
    }
    r.u64("cli_abrt", load(&c.cli_abrt));
    r.u64("srv_abrt", load(&c.srv_abrt));
    r.set("lastsess", Value::S32(c.last_sess_age()));
    timings(&mut r, c);
    if let Some(t) = be.rt.get(i) {
        r.str("addr", addr_text(&t.target_now()));
    }
    if let Some(k) = si.and_then(|x| x.cookie.clone()) {
        r.str("cookie", k);
    }
    r.u64("wrew", load(&c.wrew));
    r.u64("connect", load(&c.connect));
    r.u64("reuse", load(&c.reuse));
    r.u32("srv_icur", 0);
    r.u64("eint", 0);
    for n in [
        "idle_conn_cur",
        "safe_conn_cur",
        "used_conn_cur",
        "need_conn_est",
    ] {
        r.u32(n, 0);
    }
    r.u32("uweight", u64::from(s.weight()));
    modules(&mut r, false, [0; 6]);
    r
}

fn timings(r: &mut StatRow, c: &Counters) {
    let n = load(&c.timed);
    r.u32("qtime", c.qtime.avg(n));
    r.u32("ctime", c.ctime.avg(n));
    r.u32("rtime", c.rtime.avg(n));
    r.u32("ttime", c.ttime.avg(n));
    r.u32("qtime_max", c.qtime.max());
    r.u32("ctime_max", c.ctime.max());
    r.u32("rtime_max", c.rtime.max());
    r.u32("ttime_max", c.ttime.max());
}

fn backend_row(rt: &Runtime, px: &ProxyRt, info: &ProxyInfo, be: &Backend) -> StatRow {
    let mut r = StatRow::new(ObjType::Backend, px.idx);
    common(&mut r, rt, px, info, "BACKEND", 0);
    let c = &px.counters;
    let b: &Counters = &be.stat;
    let http = px.mode == Mode::Http;
    let scur = u64::from(be.cur.load(Ordering::Relaxed));
    r.u32("qcur", u64::from(be.queued()));
    r.u32("qmax", load(&b.qmax));
    r.u32("scur", scur);
    r.u32("smax", load(&b.sess_max).max(scur));
    r.u32("slim", u64::from(be.fullconn()));
    // HAProxy counts a backend's sessions per stream: each HTTP request routed to it
    // (redispatches and retries are not new ones); in TCP mode, each connection.
    let stot = if http {
        load(&b.streams)
    } else {
        load(&be.total)
    };
    r.u64("stot", stot);
    r.u64("bin", load(&b.bytes_in));
    r.u64("bout", load(&b.bytes_out));
    r.u64("dreq", load(&b.denied_req));
    r.u64("dresp", load(&b.denied_resp));
    r.u64("econ", load(&b.failed_conns));
    r.u64("eresp", load(&c.errors_resp));
    r.u64("wretr", load(&c.retries));
    r.u64("wredis", load(&c.redispatches));
    let usable: Vec<&std::sync::Arc<ServerState>> =
        be.servers.iter().filter(|s| s.usable()).collect();
    let act = usable.iter().filter(|s| !s.backup).count() as u64;
    let bck = usable.iter().filter(|s| s.backup).count() as u64;
    let weight: u64 = if act > 0 {
        usable
            .iter()
            .filter(|s| !s.backup)
            .map(|s| u64::from(s.weight()))
            .sum()
    } else {
        usable.iter().map(|s| u64::from(s.weight())).sum()
    };
    let up = weight > 0 || be.servers.is_empty();
    r.str("status", if up { "UP" } else { "DOWN" });
    r.u32("weight", weight);
    r.u32("act", act);
    r.u32("bck", bck);
    r.u64("chkdown", load(&b.downs));
    let lastchg = b.change_age().map_or(rt.stats.uptime(), |a| a.as_secs());
    r.u32("lastchg", lastchg);
    if !be.servers.is_empty() {
        r.u32("downtime", counters::backend_downtime(b));
    }
    r.u64("lbtot", load(&b.lbtot));
    r.u32("rate", u64::from(b.sess_rate.read()));
    r.u32("rate_max", load(&b.sess_rate_max));
    if http {
        hrsp(&mut r, &b.hrsp);
        r.u64("req_tot", load(&b.req_tot));
    }
    r.u64("cli_abrt", load(&b.cli_abrt));
    r.u64("srv_abrt", load(&b.srv_abrt));
    for n in ["comp_in", "comp_out", "comp_byp", "comp_rsp"] {
        r.u64(n, 0);
    }
    r.set("lastsess", Value::S32(b.last_sess_age()));
    timings(&mut r, b);
    if let Some(k) = &info.cookie {
        r.str("cookie", k.clone());
    }
    r.str("algo", info.algo);
    r.u64("wrew", load(&b.wrew));
    r.u64("connect", load(&b.connect));
    r.u64("reuse", load(&b.reuse));
    if http {
        r.u64("cache_lookups", 0);
        r.u64("cache_hits", 0);
    }
    r.u64("eint", 0);
    r.u32("uweight", weight);
    for n in [
        "agg_server_status",
        "agg_server_check_status",
        "agg_check_status",
    ] {
        r.u32(n, 0);
    }
    let h1 = if http {
        [0, 0, load(&b.connect), load(&b.connect), 0, 0]
    } else {
        [0; 6]
    };
    modules(&mut r, true, h1);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_forced_ones() {
        assert_eq!(
            assign_ids(&[None, Some(2), None, None], 1),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            assign_ids(&[Some(1), None, Some(3), None], 1),
            vec![1, 2, 3, 4]
        );
        assert_eq!(assign_ids(&[None, None], 2), vec![2, 3]);
    }

    #[test]
    fn scope_filter_is_a_case_insensitive_part() {
        let s = Scope {
            names: vec![],
            filter: Some("AP".into()),
        };
        assert!(s.admits("app1") && !s.admits("www"));
        let s = Scope {
            names: vec!["stats".into()],
            filter: None,
        };
        assert!(s.admits("stats") && !s.admits("stats2"));
    }

    #[test]
    fn csv_shape() {
        let h = fields::csv_header();
        assert!(h.starts_with("# pxname,svname,qcur,") && h.ends_with("h1_spliced_bytes_out,\n"));
        assert_eq!(h.matches(',').count(), 128);
        let mut r = StatRow::new(ObjType::Frontend, 0);
        r.str("pxname", "a,b");
        r.str("svname", "FRONTEND");
        let l = csv::line(&r);
        assert!(l.starts_with("\"a,b\",FRONTEND,"));
        assert_eq!(l.matches(',').count(), 129);
        assert!(l.contains(",-,"));
        let j = json::render(&[r], &Scope::all());
        assert!(j.starts_with("[[{\"objType\":\"Frontend\",\"proxyId\":0,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"}"));
        assert!(j.contains("\"value\":{\"type\":\"str\",\"value\":\"a,b\"}"));
    }
}

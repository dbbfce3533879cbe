//! Backends at run time: server state (shared, lock-free), selection, queueing, connection
//! pools.
//!
//! Queueing follows HAProxy 2.6 (`assign_server_and_queue`, `process_srv_queue`): a server
//! with a `maxconn` is full when requests already wait for it or it is at its effective
//! limit (`minconn` grows towards `maxconn` as the backend's load nears `fullconn`). A
//! request the algorithm keeps on a full server (hashing, `use-server`, `leastconn` within
//! `maxqueue`) waits in that server's queue, bounded by `maxqueue` (503 beyond); a request no
//! server can take waits in the backend's queue, unbounded, where round robin, static-rr and
//! first also put every new request while it is not empty. A freed slot goes to the oldest
//! request waiting for that server or, if the server belongs to the tier in use, for any
//! server; `timeout queue` ends a wait with 503.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Administrative state of a server (`disabled`, `set server ... state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// One server's run-time state, shared by every thread.
#[derive(Debug)]
pub struct ServerState {
    pub name: String,
    pub id: u32,
    pub backup: bool,
    /// Configured `maxconn` (0 = no limit); the effective limit may be lower (`minconn`).
    pub maxconn: u32,
    pub minconn: u32,
    /// `maxqueue`: the most requests waiting in this server's own queue (0 = no limit).
    pub maxqueue: u32,
    /// The effective limit last computed by the backend (`minconn`/`fullconn`); 0 until
    /// then, meaning `maxconn`.
    pub limit: AtomicU32,
    /// Requests waiting in this server's own queue.
    pub queued: AtomicU32,
    /// Current weight, as `set weight` would change it.
    pub weight: AtomicU32,
    /// Requests being served now.
    pub cur: AtomicU32,
    /// Health: set by checks; all servers start up.
    pub up: AtomicBool,
    /// Forced NOLB (stopping) by the stats page's "Health: force NOLB": up, but takes no
    /// new load-balanced traffic.
    pub nolb: AtomicBool,
    pub admin: AtomicU8,
    pub total: AtomicU64,
    /// The health checker, for servers with `check` (passive health reports to it).
    pub checker: std::sync::OnceLock<Arc<crate::runtime::checks::scheduler::Checker>>,
    /// `slowstart` ramp in per-mille of the weight (1000: full weight).
    pub ramp: AtomicU32,
    /// `set maxconn server` from the stats socket: replaces `maxconn` (`u32::MAX`: unset).
    pub maxconn_cli: AtomicU32,
    /// Bumped by `shutdown sessions server`: the sessions using this server end.
    pub kill: tokio::sync::watch::Sender<u64>,
    /// The server's counters for the stats (runtime/stats).
    pub counters: crate::runtime::stats::counters::Counters,
    /// The agent check, for servers with `agent-check`.
    pub agent: std::sync::OnceLock<Arc<crate::runtime::checks::agent::Agent>>,
    /// `on-marked-down shutdown-sessions`.
    pub on_marked_down_shutdown: bool,
    /// `on-marked-up shutdown-backup-sessions`.
    pub on_marked_up_shutdown_backup: bool,
}

impl ServerState {
    pub fn new(name: &str, id: u32, weight: u32, backup: bool, disabled: bool) -> Self {
        ServerState {
            name: name.to_string(),
            id,
            backup,
            maxconn: 0,
            minconn: 0,
            maxqueue: 0,
            limit: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            weight: AtomicU32::new(weight),
            cur: AtomicU32::new(0),
            up: AtomicBool::new(true),
            nolb: AtomicBool::new(false),
            admin: AtomicU8::new(if disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            total: AtomicU64::new(0),
            checker: std::sync::OnceLock::new(),
            ramp: AtomicU32::new(1000),
            maxconn_cli: AtomicU32::new(u32::MAX),
            kill: tokio::sync::watch::Sender::new(0),
            counters: Default::default(),
            agent: std::sync::OnceLock::new(),
            on_marked_down_shutdown: false,
            on_marked_up_shutdown_backup: false,
        }
    }
    /// The `maxconn` in force: the configured one, or the one the stats socket set.
    pub fn maxconn_now(&self) -> u32 {
        match self.maxconn_cli.load(Ordering::Relaxed) {
            u32::MAX => self.maxconn,
            m => m,
        }
    }
    /// Resolves when `shutdown sessions server` is asked for this server after the call.
    pub async fn killed(&self) {
        let mut rx = self.kill.subscribe();
        let _ = rx.changed().await;
    }
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }
    /// The effective weight the dynamic algorithms use: the user weight scaled as HAProxy
    /// does, and during a `slowstart` ramp that share of it (at least 1).
    pub fn eweight(&self) -> u32 {
        let full = crate::runtime::balance::eweight(self.weight());
        match self.ramp.load(Ordering::Relaxed) {
            r if r >= 1000 || full == 0 => full,
            r => (full * r).div_ceil(1000).max(1),
        }
    }
    /// Tells the server's checker what live traffic showed (`observe`).
    pub fn observed(&self, ev: crate::runtime::checks::scheduler::Observed) {
        if let Some(c) = self.checker.get() {
            c.observe(ev);
        }
    }
    pub fn cur(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
    }
    /// Requests waiting in this server's own queue.
    pub fn queued(&self) -> u32 {
        self.queued.load(Ordering::Relaxed)
    }
    /// The effective connection limit now (`maxconn`, or the `minconn` dynamic limit).
    pub fn limit(&self) -> u32 {
        self.ramped(match self.limit.load(Ordering::Relaxed) {
            0 => self.maxconn_now(),
            l => l,
        })
    }
    /// A connection limit during a `slowstart` ramp: that share of it, at least 1.
    pub fn ramped(&self, limit: u32) -> u32 {
        match self.ramp.load(Ordering::Relaxed) {
            r if r >= 1000 || limit == 0 || limit == u32::MAX => limit,
            r => (u64::from(limit) * u64::from(r) / 1000).max(1) as u32,
        }
    }
    /// Whether a new request must wait for this server (HAProxy's test in every balancing
    /// algorithm): it has a `maxconn` and either requests already wait for it or it is at
    /// its limit.
    pub fn full(&self) -> bool {
        self.maxconn_now() != 0 && (self.queued() > 0 || self.cur() >= self.limit())
    }
    pub fn admin(&self) -> Admin {
        match self.admin.load(Ordering::Relaxed) {
            0 => Admin::Ready,
            1 => Admin::Drain,
            _ => Admin::Maint,
        }
    }
    /// Whether new traffic may be balanced onto it (up, ready, weight > 0).
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed)
            && self.admin() == Admin::Ready
            && self.weight() > 0
            && !self.nolb.load(Ordering::Relaxed)
    }
}

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::model::Proxy;
use crate::model::types::{Host, PortSpec};
use crate::runtime::balance::{self, Algorithm, PickCtx};
use crate::runtime::stream::Stream;

/// Where a server's connections go.
#[derive(Debug, Clone)]
pub enum Target {
    Inet {
        /// `None`: the address the client connected to (`*` or no host).
        ip: Option<IpAddr>,
        port: PortSpec,
    },
    Unix(PathBuf),
    Abstract(String),
}

impl Target {
    fn from_model(host: &Host, resolved: &[IpAddr], port: PortSpec) -> Target {
        match host {
            Host::Ip(ip) => Target::Inet {
                ip: Some(*ip),
                port,
            },
            Host::Name(_) => Target::Inet {
                ip: resolved.first().copied(),
                port,
            },
            Host::Any => Target::Inet { ip: None, port },
            Host::Unix(p) => Target::Unix(p.clone()),
            Host::Abstract(n) => Target::Abstract(n.clone()),
            // Refused by the configuration check; kept harmless here.
            Host::SockPair(_) => Target::Abstract(String::new()),
        }
    }

    /// The socket address for a client that connected to `dst`.
    pub fn resolve(&self, dst: Option<SocketAddr>) -> Option<SocketAddr> {
        match self {
            Target::Inet { ip, port } => {
                let ip = ip.or(dst.map(|d| d.ip()))?;
                let port = match port {
                    PortSpec::Fixed(p) => *p,
                    PortSpec::None => dst?.port(),
                    PortSpec::Offset(o) => {
                        u16::try_from(i32::from(dst?.port()).checked_add(*o)?).ok()?
                    }
                };
                Some(SocketAddr::new(ip, port))
            }
            _ => None,
        }
    }
}

/// A server with what the runtime needs to reach it.
#[derive(Debug)]
pub struct ServerRt {
    pub state: Arc<ServerState>,
    pub target: Target,
    pool: Mutex<Pool>,
    /// `ssl`: traffic to the server is TLS.
    tls: Option<crate::runtime::tls_client::ServerTls>,
    /// `send-proxy`/`send-proxy-v2`: the PROXY header opens each connection.
    pub send_proxy: Option<crate::model::ProxyProtocol>,
    /// `set server ... addr` on the stats socket: replaces `target` for new connections.
    pub cli_target: Mutex<Option<Target>>,
}

impl ServerRt {
    /// Where new connections go now (`set server ... addr` may have moved it).
    pub fn target_now(&self) -> Target {
        lock(&self.cli_target)
            .clone()
            .unwrap_or_else(|| self.target.clone())
    }

    /// Moves the server (stats socket): idle connections to the old address are closed.
    pub fn set_target(&self, t: Target) {
        *lock(&self.cli_target) = Some(t);
        *lock(&self.pool) = Pool::default();
    }
}

/// A server's idle connections, as HAProxy sorts them: `idle` ones served one request,
/// `safe` ones several (they are known to survive reuse). Oldest first in each.
#[derive(Debug, Default)]
struct Pool {
    idle: VecDeque<(Stream, u32)>,
    safe: VecDeque<(Stream, u32)>,
}

/// Which idle connections a request may take (HAProxy's `http-reuse` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Only connections that served several requests (`aggressive`, first request).
    SafeOnly,
    /// Any idle connection, those that served several requests first.
    Any,
}

/// Idle server connections kept per server for reuse.
const MAX_IDLE_PER_SERVER: usize = 256;

/// Why no server could be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickError {
    /// No usable server at all (503, termination `SC`/`-` with no server).
    NoServer,
    /// Waited in the queue until `timeout queue` (503, `sQ`), at that queue position.
    QueueTimeout(QueuePos),
    /// The chosen server's own queue is at its `maxqueue` (503).
    QueueFull,
}

/// Which balancing family a backend uses, for HAProxy's rules that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LbKind {
    /// `roundrobin`, `static-rr`, `first`: while requests wait in the backend's queue, a new
    /// one queues behind them without consulting the algorithm.
    Fifo,
    /// `leastconn`: may pick a full server and wait in its queue, up to `maxqueue`.
    LeastConn,
    /// `random`: like the first family but does not check the backend queue first.
    Random,
    /// `source`, `uri`, `url_param`, `hdr`, `rdp-cookie`: a request with a key stays on its
    /// server, waiting in that server's queue when it is full.
    Hash,
}

/// Where a request left its queue, for the logs' `%sq` (server queue) and `%bq` (backend
/// queue): as HAProxy counts it, one more than the requests that queue served between its
/// arrival and its leaving (served or timed out); 0 for a queue it never waited in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueuePos {
    pub srv: u32,
    pub backend: u32,
}

impl QueuePos {
    fn at(at: QueueAt, pos: u64) -> QueuePos {
        let pos = u32::try_from(pos).unwrap_or(u32::MAX);
        match at {
            QueueAt::Backend => QueuePos {
                srv: 0,
                backend: pos,
            },
            QueueAt::Server(_) => QueuePos {
                srv: pos,
                backend: 0,
            },
        }
    }
}

/// A request waiting for a slot, in a server's queue or in the backend's.
struct Pending {
    /// Arrival order across all the backend's queues (the older is served first).
    seq: u64,
    /// Its queue's served count when it arrived (for [`QueuePos`]).
    served0: u64,
    tx: oneshot::Sender<Slot>,
}

#[derive(Default)]
struct Queues {
    next_seq: u64,
    /// Requests each queue handed a slot to so far (backend's, then per server), the
    /// reference of the logged queue positions.
    backend_served: u64,
    servers_served: Vec<u64>,
    /// The backend's queue: requests any server of the current tier may take.
    backend: VecDeque<Pending>,
    /// Each server's own queue, by server index.
    servers: Vec<VecDeque<Pending>>,
}

/// Where a waiting request is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueAt {
    Backend,
    Server(usize),
}

/// What assigning a request decided.
enum Decision {
    Now(Slot),
    Wait(QueueAt),
}

pub struct Backend {
    pub name: String,
    pub servers: Vec<Arc<ServerState>>,
    pub rt: Vec<ServerRt>,
    algo: Box<dyn Algorithm>,
    pub balance: crate::model::Balance,
    kind: LbKind,
    allbackups: bool,
    /// Every queue; also held while deciding, so that a decision and the dequeueing done
    /// when a slot frees never cross.
    queues: Mutex<Queues>,
    /// Requests waiting in any of the queues.
    queued: AtomicU32,
    fullconn: u32,
    /// Requests being served by this backend now.
    pub cur: AtomicU32,
    pub total: AtomicU64,
    /// `http-reuse`: whether idle connections are shared between sessions.
    pub reuse: crate::model::proxy::HttpReuse,
    /// `option srvtcpka`: TCP keep-alive on server connections.
    srvtcpka: bool,
    /// The backend's counters for the stats (runtime/stats).
    pub stat: crate::runtime::stats::counters::Counters,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("name", &self.name).finish()
    }
}

/// A reserved place on a server; releasing it hands the place to the oldest request waiting
/// for that server or for any server of the backend.
pub struct Slot {
    pub backend: Arc<Backend>,
    pub idx: usize,
    /// Where the request waited for it (zeros when it did not queue).
    pub queue: QueuePos,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = self.backend.servers.get(self.idx) {
            s.cur.fetch_sub(1, Ordering::AcqRel);
        }
        self.backend.cur.fetch_sub(1, Ordering::AcqRel);
        self.backend.algo.released(&self.backend.servers, self.idx);
        self.backend.dequeue(self.idx);
    }
}

/// A request in a queue; leaving (timeout, client gone) takes it out of the queue.
struct Waiting {
    backend: Arc<Backend>,
    seq: u64,
    at: QueueAt,
    rx: oneshot::Receiver<Slot>,
}

impl Waiting {
    /// Takes the request out of its queue if it is still there, with the position it
    /// leaves at.
    fn leave(&mut self) -> Option<QueuePos> {
        let mut q = lock(&self.backend.queues);
        let q = &mut *q;
        let (list, served) = match self.at {
            QueueAt::Backend => (Some(&mut q.backend), q.backend_served),
            QueueAt::Server(i) => (
                q.servers.get_mut(i),
                q.servers_served.get(i).copied().unwrap_or(0),
            ),
        };
        let list = list?;
        let pos = list.iter().position(|p| p.seq == self.seq)?;
        let p = list.remove(pos)?;
        self.backend.count_dequeued(self.at);
        Some(QueuePos::at(
            self.at,
            served.saturating_sub(p.served0).saturating_add(1),
        ))
        // A slot already handed over (if any) drops with `rx`, after the lock is released,
        // and passes on to the next waiting request.
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.leave();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backend {
    /// Builds a backend from its model; `fullconn` is the computed default when unset.
    pub fn build(p: &Proxy, default_fullconn: u32) -> Backend {
        let mut servers = Vec::new();
        let mut rt = Vec::new();
        for (i, s) in p.servers.iter().enumerate() {
            let mut st = ServerState::new(
                &s.name,
                s.id.unwrap_or(i as u32 + 1),
                s.params.weight,
                s.params.backup,
                s.params.disabled,
            );
            st.maxconn = s.params.maxconn.unwrap_or(0);
            st.minconn = s.params.minconn.unwrap_or(0);
            // As HAProxy: a `minconn` alone, or above `maxconn`, is the static limit.
            if st.minconn > st.maxconn {
                st.maxconn = st.minconn;
            }
            st.maxqueue = s.params.maxqueue.unwrap_or(0);
            st.on_marked_down_shutdown = s.params.on_marked_down_shutdown;
            st.on_marked_up_shutdown_backup = s.params.on_marked_up_shutdown_backup;
            let st = Arc::new(st);
            servers.push(st.clone());
            rt.push(ServerRt {
                state: st,
                target: Target::from_model(&s.addr.host, &s.resolved, s.addr.port),
                pool: Mutex::new(Pool::default()),
                tls: None,
                send_proxy: s.params.send_proxy,
                cli_target: Mutex::new(None),
            });
        }
        // 1.x `dispatch`: one anonymous server when there is no other.
        if servers.is_empty()
            && let Some(d) = &p.dispatch
        {
            let st = Arc::new(ServerState::new("<dispatch>", 1, 1, false, false));
            servers.push(st.clone());
            rt.push(ServerRt {
                state: st,
                target: Target::from_model(&d.host, &[], d.port),
                pool: Mutex::new(Pool::default()),
                tls: None,
                send_proxy: None,
                cli_target: Mutex::new(None),
            });
        }
        use crate::model::Balance as B;
        let kind = match &p.balance {
            B::RoundRobin | B::StaticRr | B::First => LbKind::Fifo,
            B::LeastConn => LbKind::LeastConn,
            B::Random { .. } => LbKind::Random,
            B::Source
            | B::Uri { .. }
            | B::UrlParam { .. }
            | B::Hdr { .. }
            | B::RdpCookie { .. } => LbKind::Hash,
        };
        let queues = Queues {
            servers: (0..servers.len()).map(|_| VecDeque::new()).collect(),
            servers_served: vec![0; servers.len()],
            ..Queues::default()
        };
        Backend {
            name: p.name.clone(),
            algo: balance::build(&p.balance, p.hash_type, servers.len()),
            balance: p.balance.clone(),
            kind,
            servers,
            rt,
            allbackups: p.options.allbackups,
            queues: Mutex::new(queues),
            queued: AtomicU32::new(0),
            fullconn: p.fullconn.unwrap_or(default_fullconn).max(1),
            cur: AtomicU32::new(0),
            total: AtomicU64::new(0),
            reuse: p.http_reuse,
            srvtcpka: p.options.srvtcpka,
            stat: Default::default(),
        }
    }

    /// A server's limit with `load` requests on the backend (HAProxy's `beconn`: served,
    /// queued and arriving): `maxconn`, or with `minconn` the dynamic limit
    /// `max(minconn, maxconn * load / fullconn)`, `maxconn` from `fullconn` on; during a
    /// `slowstart` ramp, that share of it.
    fn limit(&self, s: &ServerState, load: u32) -> u32 {
        if s.maxconn_now() == 0 {
            return u32::MAX;
        }
        s.ramped(self.dyn_limit(s, load))
    }

    /// [`Backend::limit`] without the `slowstart` ramp (which [`ServerState::limit`] adds).
    fn dyn_limit(&self, s: &ServerState, load: u32) -> u32 {
        if s.maxconn_now() == 0 {
            return u32::MAX;
        }
        let maxconn = s.maxconn_now();
        if s.minconn == 0 || s.minconn >= maxconn || load >= self.fullconn {
            return maxconn;
        }
        let dynamic = (u64::from(maxconn) * u64::from(load) / u64::from(self.fullconn)) as u32;
        dynamic.clamp(s.minconn, maxconn)
    }

    /// Stores every server's limit for `load`, for the algorithms' [`ServerState::full`].
    fn refresh_limits(&self, load: u32) {
        for s in &self.servers {
            if s.maxconn != 0 && s.minconn != 0 && s.minconn < s.maxconn {
                s.limit.store(self.dyn_limit(s, load), Ordering::Relaxed);
            }
        }
    }

    /// HAProxy's `beconn` without the arriving request: the requests served and waiting
    /// (a decision for a new request adds it).
    fn load(&self) -> u32 {
        self.cur
            .load(Ordering::Relaxed)
            .saturating_add(self.queued.load(Ordering::Relaxed))
    }

    /// The servers traffic may go to now: usable actives, else usable backups (all of them
    /// with `option allbackups`, else the first).
    fn tier(&self) -> Vec<usize> {
        let usable = |i: &usize| self.servers[*i].usable();
        let actives: Vec<usize> = (0..self.servers.len())
            .filter(|i| !self.servers[*i].backup)
            .filter(usable)
            .collect();
        if !actives.is_empty() {
            return actives;
        }
        let backups = (0..self.servers.len())
            .filter(|i| self.servers[*i].backup)
            .filter(usable);
        if self.allbackups {
            backups.collect()
        } else {
            backups.take(1).collect()
        }
    }

    /// `fullconn` in force (the stats' backend `slim`).
    pub fn fullconn(&self) -> u32 {
        self.fullconn
    }

    /// Requests waiting in any of the queues.
    pub fn queued(&self) -> u32 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether any server could take traffic (ignoring `maxconn`).
    pub fn has_usable(&self) -> bool {
        !self.tier().is_empty()
    }

    /// How many usable active servers there are (HAProxy's `srv_act`).
    pub fn active_servers(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| !s.backup && s.usable())
            .count()
    }

    /// Whether the algorithm is not a hash (HAProxy 2.6.12 observed: `roundrobin`,
    /// `static-rr`, `leastconn`, `first`, `random`): a failed connection retries at once on
    /// another server when several are active, since no particular server is wanted.
    pub fn round_robin_kind(&self) -> bool {
        self.kind != LbKind::Hash
    }

    /// Takes a slot on server `idx`, whatever its limit (the caller checked it), for a
    /// request whose previous attempt went to `prev`: as in HAProxy, a server counts in
    /// `lbtot` only when the balancing (`balanced`, not a cookie or `use-server`) chose it,
    /// and not when it chose it again.
    fn reserve_after(self: &Arc<Self>, idx: usize, prev: Option<usize>, balanced: bool) -> Slot {
        let s = &self.servers[idx];
        let scur = s.cur.fetch_add(1, Ordering::AcqRel) + 1;
        s.total.fetch_add(1, Ordering::Relaxed);
        let bcur = self.cur.fetch_add(1, Ordering::AcqRel) + 1;
        // The backend counts streams: a retry or redispatch is not a new one.
        if prev.is_none() {
            self.total.fetch_add(1, Ordering::Relaxed);
        }
        if prev == Some(idx) || !balanced {
            s.counters.on_session(u64::from(scur));
            self.stat.on_session(u64::from(bcur));
        } else {
            s.counters.on_assigned(u64::from(scur));
            self.stat.on_assigned(u64::from(bcur));
        }
        self.algo.taken(&self.servers, idx);
        Slot {
            backend: self.clone(),
            idx,
            queue: QueuePos::default(),
        }
    }

    fn count_dequeued(&self, at: QueueAt) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        if let QueueAt::Server(i) = at
            && let Some(s) = self.servers.get(i)
        {
            s.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The algorithm's choice over the tier; a redispatched request steers away from
    /// `avoid`, the server its failed attempt went to, as each algorithm can.
    fn algo_pick(&self, tier: &[usize], key: Option<u32>, avoid: Option<usize>) -> Option<usize> {
        let ctx = PickCtx {
            servers: &self.servers,
            eligible: tier,
            key,
        };
        match avoid {
            Some(a) => self.algo.pick_avoiding(&ctx, a),
            None => self.algo.pick(&ctx),
        }
        .filter(|i| tier.contains(i))
    }

    /// Decides, with the queues locked, where a request goes: a slot now, or a queue.
    fn decide(
        self: &Arc<Self>,
        q: &Queues,
        key: Option<u32>,
        avoid: Option<usize>,
        named: Option<usize>,
    ) -> Result<Decision, PickError> {
        self.refresh_limits(self.load().saturating_add(1));
        let idx = match named {
            Some(i) => i,
            None => {
                let tier = self.tier();
                if tier.is_empty() {
                    return Err(PickError::NoServer);
                }
                // Requests already wait for any server: queue behind them.
                if self.kind == LbKind::Fifo && !q.backend.is_empty() {
                    return Ok(Decision::Wait(QueueAt::Backend));
                }
                match self.algo_pick(&tier, key, avoid) {
                    Some(i) => i,
                    None => return Ok(Decision::Wait(QueueAt::Backend)),
                }
            }
        };
        let s = &self.servers[idx];
        if s.full() {
            if s.maxqueue > 0 && s.queued() >= s.maxqueue {
                return Err(PickError::QueueFull);
            }
            // HAProxy counts the balancing's choice when it is made, even though the
            // request now waits (and may time out) in that server's queue.
            if named.is_none() && avoid != Some(idx) {
                s.counters.lbtot.fetch_add(1, Ordering::Relaxed);
                self.stat.lbtot.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(Decision::Wait(QueueAt::Server(idx)));
        }
        Ok(Decision::Now(self.reserve_after(
            idx,
            avoid,
            named.is_none(),
        )))
    }

    /// Assigns a server by the balancing algorithm (steering away from `avoid` if possible),
    /// or waits for one in a queue as HAProxy does: in the chosen server's queue when the
    /// algorithm keeps a request on a full server (hashing, `leastconn` within `maxqueue`),
    /// in the backend's queue when every server is full.
    pub async fn assign(
        self: &Arc<Self>,
        key: Option<u32>,
        avoid: Option<usize>,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        self.assign_inner(key, avoid, None, queue_timeout).await
    }

    /// A named server for `use-server`, if it can take traffic (waiting in its queue if
    /// full; `QueueFull` beyond its `maxqueue`).
    pub async fn assign_named(
        self: &Arc<Self>,
        idx: usize,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        if !self.servers.get(idx).is_some_and(|s| s.usable()) {
            return Err(PickError::NoServer);
        }
        self.assign_inner(None, None, Some(idx), queue_timeout)
            .await
    }

    /// The server a persistence cookie names, whatever its state (the caller decided it
    /// may take the request: running, or `option persist`/`force-persist`), waiting in its
    /// queue if it is full.
    pub async fn assign_persistent(
        self: &Arc<Self>,
        idx: usize,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        if idx >= self.servers.len() {
            return Err(PickError::NoServer);
        }
        self.assign_inner(None, None, Some(idx), queue_timeout)
            .await
    }

    async fn assign_inner(
        self: &Arc<Self>,
        key: Option<u32>,
        avoid: Option<usize>,
        named: Option<usize>,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        let waiting = {
            let mut q = lock(&self.queues);
            let at = match self.decide(&q, key, avoid, named)? {
                Decision::Now(slot) => return Ok(slot),
                Decision::Wait(at) => at,
            };
            let (tx, rx) = oneshot::channel();
            let seq = q.next_seq;
            q.next_seq += 1;
            let q = &mut *q;
            let (list, served0) = match at {
                QueueAt::Backend => (&mut q.backend, q.backend_served),
                QueueAt::Server(i) => match q.servers.get_mut(i) {
                    Some(l) => (l, q.servers_served.get(i).copied().unwrap_or(0)),
                    None => return Err(PickError::NoServer),
                },
            };
            list.push_back(Pending { seq, served0, tx });
            let depth = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
            self.stat.on_queue(u64::from(depth));
            if let QueueAt::Server(i) = at {
                let d = self.servers[i].queued.fetch_add(1, Ordering::AcqRel) + 1;
                self.servers[i].counters.on_queue(u64::from(d));
            }
            Waiting {
                backend: self.clone(),
                seq,
                at,
                rx,
            }
        };
        let mut waiting = waiting;
        let got = match queue_timeout {
            Some(t) => tokio::time::timeout(t, &mut waiting.rx).await.ok(),
            None => Some((&mut waiting.rx).await),
        };
        match got {
            Some(Ok(slot)) => Ok(slot),
            // Never dropped unsent while queued; treated as no server.
            Some(Err(_)) => Err(PickError::NoServer),
            None => match waiting.leave() {
                Some(pos) => Err(PickError::QueueTimeout(pos)),
                // Handed a slot just as the wait ended: take it.
                None => waiting
                    .rx
                    .try_recv()
                    .map_err(|_| PickError::QueueTimeout(QueuePos::default())),
            },
        }
    }

    /// Server `idx` freed a slot (or came back up): while it has room, hand slots to the
    /// oldest requests waiting for it or (if it may take the backend's traffic) for any
    /// server.
    pub(crate) fn dequeue(self: &Arc<Self>, idx: usize) {
        let Some(s) = self.servers.get(idx) else {
            return;
        };
        if self.queued.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut returned = Vec::new();
        let mut q = lock(&self.queues);
        self.dequeue_locked(&mut q, idx, s, &mut returned);
        drop(q);
        drop(returned);
    }

    fn dequeue_locked(
        self: &Arc<Self>,
        q: &mut Queues,
        idx: usize,
        s: &ServerState,
        returned: &mut Vec<Slot>,
    ) {
        let in_tier = self.tier().contains(&idx);
        loop {
            if s.cur() >= self.limit(s, self.load()) {
                return;
            }
            // Skip requests whose waiter is gone (it removes itself, but may be on its way).
            while q.servers[idx].front().is_some_and(|p| p.tx.is_closed()) {
                q.servers[idx].pop_front();
                self.count_dequeued(QueueAt::Server(idx));
            }
            while q.backend.front().is_some_and(|p| p.tx.is_closed()) {
                q.backend.pop_front();
                self.count_dequeued(QueueAt::Backend);
            }
            let own = q.servers[idx].front().map(|p| p.seq);
            let any = q.backend.front().map(|p| p.seq).filter(|_| in_tier);
            let at = match (own, any) {
                (Some(a), Some(b)) if b < a => QueueAt::Backend,
                (Some(_), _) => QueueAt::Server(idx),
                (None, Some(_)) => QueueAt::Backend,
                (None, None) => return,
            };
            let p = match at {
                QueueAt::Backend => q.backend.pop_front(),
                QueueAt::Server(_) => q.servers[idx].pop_front(),
            };
            let Some(p) = p else { return };
            self.count_dequeued(at);
            let served = match at {
                QueueAt::Backend => &mut q.backend_served,
                QueueAt::Server(_) => &mut q.servers_served[idx],
            };
            let pos = served.saturating_sub(p.served0).saturating_add(1);
            *served += 1;
            // Not a balancing choice (HAProxy 2.6 observed): a request from a server's
            // queue was counted when it was put there, or was named by a cookie or
            // `use-server`; one from the backend's queue is handed whichever server freed.
            let mut slot = self.reserve_after(idx, None, false);
            slot.queue = QueuePos::at(at, pos);
            if let Err(slot) = p.tx.send(slot) {
                // The waiter left between the check and now: the slot is released once the
                // lock is, which runs this again for the next request.
                returned.push(slot);
            }
        }
    }

    pub fn server_index(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.name == name)
    }

    /// An idle connection to server `idx` that `which` allows, if one is still alive, with
    /// the number of requests it served. Connections that served several requests come
    /// first: HAProxy looks there first and trims idle extras, so a steady load keeps
    /// riding the same few connections.
    pub fn take_idle(&self, idx: usize, which: Reuse, sni: Option<&str>) -> Option<(Stream, u32)> {
        let rt = self.rt.get(idx)?;
        let mut pool = rt.pool.lock().unwrap_or_else(|p| p.into_inner());
        let pool = &mut *pool;
        let mut lists = vec![&mut pool.safe];
        if which == Reuse::Any {
            lists.push(&mut pool.idle);
        }
        for list in lists {
            let mut i = 0;
            while i < list.len() {
                // A TLS connection opened with another SNI stays for requests sending it.
                if list[i].0.sni() != sni {
                    i += 1;
                    continue;
                }
                let Some((mut s, n)) = list.remove(i) else {
                    break;
                };
                if s.is_idle_alive() {
                    return Some((s, n));
                }
            }
        }
        None
    }

    /// Returns a connection that has served `served` requests to server `idx`'s pool.
    pub fn put_idle(&self, idx: usize, s: Stream, served: u32) {
        if let Some(rt) = self.rt.get(idx) {
            // Its PROXY header named one client: such a connection is private to its
            // session, as in HAProxy, never shared.
            if rt.send_proxy.is_some() {
                return;
            }
            let mut pool = rt.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.idle.len() + pool.safe.len() < MAX_IDLE_PER_SERVER {
                if served > 1 {
                    pool.safe.push_back((s, served));
                } else {
                    pool.idle.push_back((s, served));
                }
            }
        }
    }

    /// Sets up TLS to the servers whose line says `ssl` (`default_verify`: the global
    /// `ssl-server-verify`); returns what to say at start, by server index.
    pub fn setup_tls(
        &mut self,
        p: &Proxy,
        default_verify: Option<crate::model::proxy::Verify>,
    ) -> Vec<(usize, crate::runtime::tls_client::ServerTlsError)> {
        let mut said = Vec::new();
        for (i, s) in p.servers.iter().enumerate() {
            let (tls, errs) = crate::runtime::tls_client::ServerTls::from_server(
                s.params.ssl.as_ref(),
                default_verify,
            );
            said.extend(errs.into_iter().map(|e| (i, e)));
            if let Some(rt) = self.rt.get_mut(i) {
                rt.tls = tls;
            }
        }
        said
    }

    /// The SNI a new TLS connection to server `idx` sends for the transaction in `ctx`
    /// (`None`: the server is not TLS, or no SNI).
    pub fn server_sni(&self, idx: usize, ctx: &crate::runtime::sample::EvalCtx) -> Option<String> {
        self.rt.get(idx)?.tls.as_ref()?.sni(ctx)
    }

    /// [`Backend::connect`], then TLS (sending `sni`) when the server says `ssl`.
    pub async fn connect_sni(
        &self,
        idx: usize,
        dst: Option<SocketAddr>,
        timeout: Option<Duration>,
        sni: Option<String>,
    ) -> std::io::Result<Stream> {
        let s = self.connect(idx, dst, timeout).await?;
        self.start_tls(idx, s, sni, timeout).await
    }

    /// TLS over a fresh connection to server `idx` when its line says `ssl` (else `s` as
    /// it is), within `timeout` (the connect timeout). Anything sent in clear first (a
    /// PROXY header, as HAProxy sends it) goes before this.
    pub async fn start_tls(
        &self,
        idx: usize,
        s: Stream,
        sni: Option<String>,
        timeout: Option<Duration>,
    ) -> std::io::Result<Stream> {
        let Some(tls) = self.rt.get(idx).and_then(|r| r.tls.as_ref()) else {
            return Ok(s);
        };
        let Stream::Tcp(tcp) = s else {
            return Err(std::io::Error::other(
                "ssl to a server on a UNIX socket is not supported",
            ));
        };
        let addr = tcp.peer_addr()?;
        let hs = tls.handshake(tcp, addr, sni.as_deref());
        let t = match timeout {
            Some(d) => tokio::time::timeout(d, hs).await.unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TLS handshake timeout",
                ))
            })?,
            None => hs.await?,
        };
        Ok(Stream::SrvTls(Box::new(t), sni.map(String::into_boxed_str)))
    }

    /// [`Backend::connect`], then the PROXY header of the server's `send-proxy` (naming the
    /// client connection `src` -> `dst`, in clear as HAProxy sends it), then TLS (sending
    /// `sni`) when the server says `ssl`.
    pub async fn connect_from(
        &self,
        idx: usize,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
        timeout: Option<Duration>,
        sni: Option<String>,
    ) -> std::io::Result<Stream> {
        let mut s = self.connect(idx, dst, timeout).await?;
        if let Some(v) = self.rt.get(idx).and_then(|r| r.send_proxy) {
            crate::runtime::proxy_protocol::send(&mut s, v, src, dst).await?;
        }
        self.start_tls(idx, s, sni, timeout).await
    }

    /// Opens a new connection to server `idx` for a client that connected to `dst` (plain:
    /// TLS, if the server says `ssl`, comes with [`Backend::start_tls`]).
    pub async fn connect(
        &self,
        idx: usize,
        dst: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> std::io::Result<Stream> {
        let rt = self
            .rt
            .get(idx)
            .ok_or_else(|| std::io::Error::other("no such server"))?;
        // Set by `set server ... addr`; None (no clone) otherwise.
        let moved = lock(&rt.cli_target).clone();
        let target = moved.as_ref().unwrap_or(&rt.target);
        let fut = async {
            match target {
                Target::Inet { .. } => {
                    let sa = target.resolve(dst).ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::AddrNotAvailable,
                            "server address unknown",
                        )
                    })?;
                    let s = tokio::net::TcpStream::connect(sa).await?;
                    let _ = s.set_nodelay(true);
                    if self.srvtcpka {
                        let _ = socket2::SockRef::from(&s).set_keepalive(true);
                    }
                    Ok(Stream::Tcp(s))
                }
                Target::Unix(p) => Ok(Stream::Unix(tokio::net::UnixStream::connect(p).await?)),
                Target::Abstract(n) => {
                    // The NUL-padded address HAProxy uses for `abns@` (see `abns_addr`).
                    let a = crate::runtime::listeners::abns_addr(n)?;
                    let s =
                        socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
                    s.connect(&a)?;
                    s.set_nonblocking(true)?;
                    let s = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(s));
                    Ok(Stream::Unix(tokio::net::UnixStream::from_std(s)?))
                }
            }
        };
        let r = match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                ))
            }),
            None => fut.await,
        };
        // Passive health (`observe layer4`) sees every connection attempt.
        rt.state.observed(if r.is_ok() {
            crate::runtime::checks::scheduler::Observed::L4Ok
        } else {
            crate::runtime::checks::scheduler::Observed::L4Err
        });
        r
    }
}

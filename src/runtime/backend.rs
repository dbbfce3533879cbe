//! Backends at run time: server state (shared, lock-free), selection, queueing, connection
//! pools.

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
    /// Current weight, as `set weight` would change it.
    pub weight: AtomicU32,
    /// Requests being served now.
    pub cur: AtomicU32,
    /// Health: set by checks; all servers start up.
    pub up: AtomicBool,
    pub admin: AtomicU8,
    pub total: AtomicU64,
}

impl ServerState {
    pub fn new(name: &str, id: u32, weight: u32, backup: bool, disabled: bool) -> Self {
        ServerState {
            name: name.to_string(),
            id,
            backup,
            maxconn: 0,
            minconn: 0,
            weight: AtomicU32::new(weight),
            cur: AtomicU32::new(0),
            up: AtomicBool::new(true),
            admin: AtomicU8::new(if disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            total: AtomicU64::new(0),
        }
    }
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }
    pub fn cur(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
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
        self.up.load(Ordering::Relaxed) && self.admin() == Admin::Ready && self.weight() > 0
    }
}

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

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
    /// Waited in the queue until `timeout queue` (503, `sQ`).
    QueueTimeout,
    /// The queue is full (`maxqueue`), 503.
    QueueFull,
}

pub struct Backend {
    pub name: String,
    pub servers: Vec<Arc<ServerState>>,
    pub rt: Vec<ServerRt>,
    algo: Box<dyn Algorithm>,
    pub balance: crate::model::Balance,
    allbackups: bool,
    queue: Notify,
    queued: AtomicU32,
    /// Sum of the servers' `maxqueue` when every server sets one, else no limit.
    maxqueue: Option<u32>,
    fullconn: u32,
    /// Requests being served by this backend now.
    pub cur: AtomicU32,
    pub total: AtomicU64,
    /// `http-reuse`: whether idle connections are shared between sessions.
    pub reuse: crate::model::proxy::HttpReuse,
    /// `option srvtcpka`: TCP keep-alive on server connections.
    srvtcpka: bool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("name", &self.name).finish()
    }
}

/// A reserved place on a server; releasing it wakes a queued request.
pub struct Slot {
    pub backend: Arc<Backend>,
    pub idx: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = self.backend.servers.get(self.idx) {
            s.cur.fetch_sub(1, Ordering::AcqRel);
        }
        self.backend.cur.fetch_sub(1, Ordering::AcqRel);
        self.backend.queue.notify_one();
    }
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
            let st = Arc::new(st);
            servers.push(st.clone());
            rt.push(ServerRt {
                state: st,
                target: Target::from_model(&s.addr.host, &s.resolved, s.addr.port),
                pool: Mutex::new(Pool::default()),
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
            });
        }
        let maxqueue = if !servers.is_empty()
            && p.servers
                .iter()
                .all(|s| s.params.maxqueue.is_some_and(|q| q > 0))
        {
            Some(p.servers.iter().filter_map(|s| s.params.maxqueue).sum())
        } else {
            None
        };
        Backend {
            name: p.name.clone(),
            algo: balance::build(&p.balance, p.hash_type, servers.len()),
            balance: p.balance.clone(),
            servers,
            rt,
            allbackups: p.options.allbackups,
            queue: Notify::new(),
            queued: AtomicU32::new(0),
            maxqueue,
            fullconn: p.fullconn.unwrap_or(default_fullconn).max(1),
            cur: AtomicU32::new(0),
            total: AtomicU64::new(0),
            reuse: p.http_reuse,
            srvtcpka: p.options.srvtcpka,
        }
    }

    /// A server's limit now: `maxconn`, or with `minconn` the dynamic limit that grows with
    /// the backend's load up to `maxconn` at `fullconn`.
    fn limit(&self, s: &ServerState) -> u32 {
        if s.maxconn == 0 {
            return u32::MAX;
        }
        if s.minconn == 0 || s.minconn >= s.maxconn {
            return s.maxconn;
        }
        let load = u64::from(self.cur.load(Ordering::Relaxed));
        let dynamic = (u64::from(s.maxconn) * load / u64::from(self.fullconn)) as u32;
        dynamic.clamp(s.minconn, s.maxconn)
    }

    /// The servers traffic may go to now: usable actives, else usable backups (all of them
    /// with `option allbackups`, else the first).
    fn tier(&self, exclude: Option<usize>) -> Vec<usize> {
        let usable = |i: &usize| Some(*i) != exclude && self.servers[*i].usable();
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

    /// Whether any server could take traffic (ignoring `maxconn`).
    pub fn has_usable(&self) -> bool {
        !self.tier(None).is_empty()
    }

    fn try_reserve(self: &Arc<Self>, idx: usize) -> Option<Slot> {
        let s = &self.servers[idx];
        let limit = self.limit(s);
        let mut cur = s.cur.load(Ordering::Relaxed);
        loop {
            if cur >= limit {
                return None;
            }
            match s
                .cur
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(c) => cur = c,
            }
        }
        s.total.fetch_add(1, Ordering::Relaxed);
        self.cur.fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            backend: self.clone(),
            idx,
        })
    }

    fn pick_now(
        self: &Arc<Self>,
        key: Option<u32>,
        exclude: Option<usize>,
    ) -> Result<Option<Slot>, PickError> {
        let tier = self.tier(exclude);
        if tier.is_empty() {
            return Err(PickError::NoServer);
        }
        let free: Vec<usize> = tier
            .iter()
            .copied()
            .filter(|i| self.servers[*i].cur() < self.limit(&self.servers[*i]))
            .collect();
        if free.is_empty() {
            return Ok(None);
        }
        let ctx = PickCtx {
            servers: &self.servers,
            eligible: &free,
            key,
        };
        let idx = self
            .algo
            .pick(&ctx)
            .filter(|i| free.contains(i))
            .unwrap_or(free[0]);
        Ok(self.try_reserve(idx))
    }

    /// Assigns a server by the balancing algorithm, queueing while every usable server is at
    /// its `maxconn`.
    pub async fn assign(
        self: &Arc<Self>,
        key: Option<u32>,
        exclude: Option<usize>,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        if let Some(slot) = self.pick_now(key, exclude)? {
            return Ok(slot);
        }
        if let Some(max) = self.maxqueue
            && self.queued.load(Ordering::Relaxed) >= max
        {
            return Err(PickError::QueueFull);
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        let r = self.wait_in_queue(key, exclude, queue_timeout).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        r
    }

    async fn wait_in_queue(
        self: &Arc<Self>,
        key: Option<u32>,
        exclude: Option<usize>,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        let deadline = queue_timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.queue.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(slot) = self.pick_now(key, exclude)? {
                // Pass the wake-up on: another waiter may fit too.
                return Ok(slot);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Err(PickError::QueueTimeout);
                    }
                }
                None => notified.await,
            }
        }
    }

    /// A named server for `use-server`, if it can take traffic (queueing if full).
    pub async fn assign_named(
        self: &Arc<Self>,
        idx: usize,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, PickError> {
        if !self.servers.get(idx).is_some_and(|s| s.usable()) {
            return Err(PickError::NoServer);
        }
        let deadline = queue_timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.queue.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(slot) = self.try_reserve(idx) {
                return Ok(slot);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Err(PickError::QueueTimeout);
                    }
                }
                None => notified.await,
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
    pub fn take_idle(&self, idx: usize, which: Reuse) -> Option<(Stream, u32)> {
        let rt = self.rt.get(idx)?;
        let mut pool = rt.pool.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((s, n)) = pool.safe.pop_front() {
            if s.is_idle_alive() {
                return Some((s, n));
            }
        }
        if which == Reuse::Any {
            while let Some((s, n)) = pool.idle.pop_front() {
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

    /// Opens a new connection to server `idx` for a client that connected to `dst`.
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
        let fut = async {
            match &rt.target {
                Target::Inet { .. } => {
                    let sa = rt.target.resolve(dst).ok_or_else(|| {
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
        match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timeout")
            })?,
            None => fut.await,
        }
    }
}

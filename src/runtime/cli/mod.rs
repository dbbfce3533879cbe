//! The runtime API on the stats socket (`global` `stats socket`), as HAProxy 2.6 serves it:
//! this module owns binding the sockets (UNIX with `mode`, `ipv4@`/`ipv6@` TCP, inherited
//! `fd@N`), the per-connection sessions (one command line then close, or `prompt` mode with
//! `> ` prompts until `quit`; `;` separates commands on a line; `stats timeout` bounds idle
//! waits; `stats maxconn` bounds sessions), access levels, and dispatching commands to the
//! files that implement each family (`help`, `info`, `servers`, `sess`, `stat`).
//!
//! Every answer ends with an empty line, byte for byte as HAProxy's do.

pub mod activity;
pub mod admin;
pub mod agent;
pub mod help;
pub mod info;
pub mod nolb;
pub mod ratelimit;
pub mod servers;
pub mod sess;
pub mod ssl;
pub mod stat;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::model::types::{BindKind, Family, Host, PortSpec};
use crate::model::{CliLevel, CliSeverity, Config, StatsSocket};
use crate::runtime::Runtime;
use crate::runtime::listeners::BoundSocket;

/// Why a stats socket could not be bound (HAProxy refuses to start then).
#[derive(Debug, thiserror::Error)]
#[error("cannot bind the stats socket [{addr}]: {reason}")]
pub struct CliBindError {
    pub addr: String,
    pub reason: String,
    pub span: crate::config::source::Span,
}

/// What the stats socket commands need from the configuration, kept at build time (the
/// runtime does not keep the model).
#[derive(Debug, Default)]
pub struct Meta {
    /// One entry per proxy, in the runtime's proxy order.
    pub proxies: Vec<ProxyMeta>,
    pub node: String,
    pub description: Option<String>,
    pub nbthread: u32,
}

#[derive(Debug, Default)]
pub struct ProxyMeta {
    /// HAProxy's proxy id (`id`, or the next free number from 2 in declaration order).
    pub uuid: u32,
    pub forced_id: bool,
    /// `hash-type consistent`: weights may change at run time with hashing algorithms.
    pub consistent: bool,
    /// A frontend's `maxconn` (the global one when unset).
    pub maxconn: u32,
    /// The frontend's `maxconn` now (`set maxconn frontend`).
    pub maxconn_now: AtomicU32,
    /// `disable|enable|shutdown frontend`: its accept loops follow this.
    pub fe_ctl: tokio::sync::watch::Sender<FeCtl>,
    pub servers: Vec<ServerMeta>,
}

/// A frontend's state as the stats socket sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeCtl {
    #[default]
    Ready,
    /// `disable frontend`: the listeners stop listening until `enable frontend`.
    Paused,
    /// `shutdown frontend`: the listeners are closed for good.
    Stopped,
}

#[derive(Debug, Default)]
pub struct ServerMeta {
    /// The address `show servers state` prints (`set server ... addr` changes it).
    pub addr: Mutex<String>,
    pub port: AtomicU32,
    /// The port is relative to the client's (`+N`, `-N`) or absent: HAProxy's port map.
    pub mapped: bool,
    /// The check's port and address now (`set server ... check-port|check-addr`).
    pub check_port_now: AtomicU32,
    pub check_addr_now: Mutex<Option<String>>,
    pub forced_id: bool,
    /// The configured weight (`get weight`'s "initial").
    pub iweight: u32,
    pub check: bool,
    pub check_port: u16,
    pub check_addr: Option<String>,
    pub ssl: bool,
    pub rise: u32,
    pub fall: u32,
    /// In maintenance because the configuration says `disabled` (HAProxy's `CMAINT`),
    /// until the stats socket changes its state.
    pub cmaint: AtomicBool,
    /// The health counter HAProxy shows for a server without checks.
    pub health_nocheck: AtomicU32,
    /// When its administrative state last changed.
    pub changed: Mutex<Option<SystemTime>>,
}

impl ServerMeta {
    pub fn changed(&self) -> SystemTime {
        lock(&self.changed).unwrap_or(SystemTime::UNIX_EPOCH)
    }
    pub fn touch(&self) {
        *lock(&self.changed) = Some(SystemTime::now());
    }
}

/// A session served now, for `show sess`.
#[derive(Debug, Clone)]
pub struct SessInfo {
    pub proto: &'static str,
    pub src: Option<SocketAddr>,
    pub frontend: String,
    pub since: Instant,
    /// Ends the session's task (`shutdown session`); proxied sessions only.
    pub abort: Option<tokio::task::AbortHandle>,
}

/// The stats socket service of a runtime.
#[derive(Debug)]
pub struct Cli {
    sockets: Vec<StatsSocket>,
    /// `set maxconn global` (0: as configured).
    pub maxconn_global: AtomicU32,
    timeout: Duration,
    slots: Arc<Semaphore>,
    bound: Mutex<Vec<(BoundSocket, CliLevel, CliSeverity, String)>>,
    pub meta: Meta,
    pub started: SystemTime,
    pub started_at: Instant,
    /// Sessions being served (proxied connections and stats socket ones), by id.
    pub sessions: Mutex<HashMap<u64, SessInfo>>,
    next_sess: AtomicU64,
    /// Stats socket connections now and since start (HAProxy counts them in `CumConns`).
    pub cli_active: AtomicU64,
    pub cli_total: AtomicU64,
    /// Listening sockets: the enabled frontends' `bind`s and the stats sockets.
    pub listeners: u64,
    /// `maxconnrate`/`maxsessrate`/`maxsslrate` and `set rate-limit`.
    pub rate: ratelimit::RateLimits,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// HAProxy numbers proxies without an `id` from 2 (1 is its own internal proxy), in
/// declaration order, skipping numbers given explicitly.
fn proxy_uuids(cfg: &Config) -> Vec<u32> {
    let forced: std::collections::HashSet<u32> = cfg.proxies.iter().filter_map(|p| p.id).collect();
    let mut next = 2u32;
    cfg.proxies
        .iter()
        .map(|p| match p.id {
            Some(i) => i,
            None => {
                while forced.contains(&next) {
                    next += 1;
                }
                next += 1;
                next - 1
            }
        })
        .collect()
}

impl Cli {
    pub fn build(cfg: &Config) -> Cli {
        let uuids = proxy_uuids(cfg);
        let now = SystemTime::now();
        let proxies = cfg
            .proxies
            .iter()
            .zip(uuids)
            .map(|(p, uuid)| ProxyMeta {
                uuid,
                forced_id: p.id.is_some(),
                consistent: p.hash_type == crate::model::HashType::Consistent,
                maxconn: p
                    .maxconn
                    .or(cfg.global.maxconn)
                    .unwrap_or_else(crate::runtime::default_maxconn),
                maxconn_now: AtomicU32::new(
                    p.maxconn
                        .or(cfg.global.maxconn)
                        .unwrap_or_else(crate::runtime::default_maxconn),
                ),
                fe_ctl: tokio::sync::watch::Sender::new(FeCtl::Ready),
                servers: p
                    .servers
                    .iter()
                    .map(|s| ServerMeta {
                        addr: Mutex::new(match &s.addr.host {
                            Host::Ip(ip) => ip.to_string(),
                            Host::Name(n) => s
                                .resolved
                                .first()
                                .map(|i| i.to_string())
                                .unwrap_or_else(|| n.clone()),
                            Host::Unix(p) => p.display().to_string(),
                            Host::Abstract(n) => format!("abns@{n}"),
                            _ => "-".into(),
                        }),
                        port: AtomicU32::new(match s.addr.port {
                            PortSpec::Fixed(p) => u32::from(p),
                            _ => 0,
                        }),
                        mapped: !matches!(s.addr.port, PortSpec::Fixed(_)),
                        check_port_now: AtomicU32::new(u32::from(s.params.check_port.unwrap_or(0))),
                        check_addr_now: Mutex::new(s.params.check_addr.map(|a| a.to_string())),
                        forced_id: s.id.is_some(),
                        iweight: s.params.weight,
                        check: s.params.check,
                        check_port: s.params.check_port.unwrap_or(0),
                        check_addr: s.params.check_addr.map(|a| a.to_string()),
                        ssl: s.params.ssl.as_ref().is_some_and(|t| t.enabled),
                        rise: s.params.rise.max(1),
                        fall: s.params.fall.max(1),
                        cmaint: AtomicBool::new(s.params.disabled),
                        health_nocheck: AtomicU32::new(if s.params.disabled {
                            0
                        } else {
                            s.params.rise.max(1)
                        }),
                        changed: Mutex::new(Some(now)),
                    })
                    .collect(),
            })
            .collect();
        let nbthread = cfg.global.nbthread.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1)
        });
        Cli {
            sockets: cfg.global.stats_sockets.clone(),
            maxconn_global: AtomicU32::new(0),
            timeout: cfg.global.stats_timeout.unwrap_or(Duration::from_secs(10)),
            slots: Arc::new(Semaphore::new(
                cfg.global.stats_maxconn.unwrap_or(10).max(1) as usize,
            )),
            bound: Mutex::new(Vec::new()),
            meta: Meta {
                proxies,
                node: cfg.global.node.clone().unwrap_or_else(|| {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .map(|h| h.trim().to_string())
                        .unwrap_or_default()
                }),
                description: cfg.global.description.clone(),
                nbthread,
            },
            started: SystemTime::now(),
            started_at: Instant::now(),
            sessions: Mutex::new(HashMap::new()),
            next_sess: AtomicU64::new(1),
            cli_active: AtomicU64::new(0),
            cli_total: AtomicU64::new(0),
            listeners: (cfg
                .proxies
                .iter()
                .filter(|p| p.caps.frontend && !p.disabled)
                .map(|p| p.binds.len())
                .sum::<usize>()
                + cfg.global.stats_sockets.len()) as u64,
            rate: ratelimit::RateLimits::new(&cfg.global),
        }
    }

    /// Binds every `stats socket` (before privileges are dropped, as listeners are).
    pub fn bind(&self) -> Result<(), CliBindError> {
        let mut out = Vec::new();
        for s in &self.sockets {
            let label = s.addr.to_string();
            let err = |reason: String| CliBindError {
                addr: label.clone(),
                reason,
                span: s.span,
            };
            let sock = match &s.addr.kind {
                BindKind::Unix(p) => {
                    // A socket file left by an earlier run is replaced, as HAProxy does.
                    if let Ok(md) = std::fs::symlink_metadata(p)
                        && std::os::unix::fs::FileTypeExt::is_socket(&md.file_type())
                    {
                        let _ = std::fs::remove_file(p);
                    }
                    let l = std::os::unix::net::UnixListener::bind(p)
                        .map_err(|e| err(e.to_string()))?;
                    if let Some(m) = s.mode {
                        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
                            .map_err(|e| err(e.to_string()))?;
                    }
                    l.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
                    BoundSocket::Unix(l)
                }
                BindKind::Inet { ip, host, ports } => {
                    let ip = match (ip, host) {
                        (Some(ip), _) => *ip,
                        (None, Some(h)) => {
                            use std::net::ToSocketAddrs;
                            (h.as_str(), 0)
                                .to_socket_addrs()
                                .ok()
                                .and_then(|mut a| a.next())
                                .map(|a| a.ip())
                                .ok_or_else(|| err(format!("cannot resolve '{h}'")))?
                        }
                        (None, None) => match s.addr.family {
                            Family::V6 => std::net::Ipv6Addr::UNSPECIFIED.into(),
                            _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
                        },
                    };
                    let l = std::net::TcpListener::bind(SocketAddr::new(ip, ports.first))
                        .map_err(|e| err(e.to_string()))?;
                    l.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
                    BoundSocket::Tcp(l)
                }
                BindKind::Fd(n) => {
                    let fd = crate::runtime::inherit::take_listening_fd(*n).map_err(err)?;
                    let sock = socket2::Socket::from(fd);
                    sock.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
                    match sock.local_addr().ok().and_then(|a| a.as_socket()) {
                        Some(_) => BoundSocket::Tcp(sock.into()),
                        None => BoundSocket::Unix(std::os::unix::net::UnixListener::from(
                            std::os::fd::OwnedFd::from(sock),
                        )),
                    }
                }
                BindKind::Abstract(name) => {
                    let addr = crate::runtime::listeners::abns_addr(name)
                        .map_err(|e| err(e.to_string()))?;
                    let sock =
                        socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
                            .map_err(|e| err(e.to_string()))?;
                    sock.bind(&addr).map_err(|e| err(e.to_string()))?;
                    sock.listen(128).map_err(|e| err(e.to_string()))?;
                    sock.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
                    BoundSocket::Unix(std::os::unix::net::UnixListener::from(
                        std::os::fd::OwnedFd::from(sock),
                    ))
                }
                BindKind::SockPair(_) => {
                    return Err(err("sockpair@ is not supported by this version".into()));
                }
            };
            out.push((sock, s.level, s.severity_output, label));
        }
        *lock(&self.bound) = out;
        Ok(())
    }

    /// Starts serving the bound sockets (inside the tokio runtime).
    pub fn start(rt: &Arc<Runtime>) {
        let bound = std::mem::take(&mut *lock(&rt.cli.bound));
        for (sock, level, sev, label) in bound {
            let rt = rt.clone();
            match sock {
                BoundSocket::Unix(l) => match tokio::net::UnixListener::from_std(l) {
                    Ok(l) => {
                        tokio::spawn(async move {
                            loop {
                                let Ok(permit) = rt.cli.slots.clone().acquire_owned().await else {
                                    return;
                                };
                                match l.accept().await {
                                    Ok((s, _)) => {
                                        let rt = rt.clone();
                                        tokio::spawn(async move {
                                            let how = (level, sev, "unix_stream", None);
                                            session(&rt, s, how).await;
                                            drop(permit);
                                        });
                                    }
                                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                                }
                            }
                        });
                    }
                    Err(e) => {
                        crate::runtime::process::alert(&format!("stats socket [{label}]: {e}"))
                    }
                },
                BoundSocket::Tcp(l) => match tokio::net::TcpListener::from_std(l) {
                    Ok(l) => {
                        tokio::spawn(async move {
                            loop {
                                let Ok(permit) = rt.cli.slots.clone().acquire_owned().await else {
                                    return;
                                };
                                match l.accept().await {
                                    Ok((s, src)) => {
                                        let rt = rt.clone();
                                        let proto = if src.is_ipv4() { "tcpv4" } else { "tcpv6" };
                                        tokio::spawn(async move {
                                            session(&rt, s, (level, sev, proto, Some(src))).await;
                                            drop(permit);
                                        });
                                    }
                                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                                }
                            }
                        });
                    }
                    Err(e) => {
                        crate::runtime::process::alert(&format!("stats socket [{label}]: {e}"))
                    }
                },
            }
        }
    }

    /// Records a session for `show sess`; the id is given back to [`Cli::end_session`].
    pub fn begin_session(&self, info: SessInfo) -> u64 {
        let id = self.next_sess.fetch_add(1, Ordering::Relaxed);
        lock(&self.sessions).insert(id, info);
        id
    }

    /// Records a proxied connection for `show sess` when a stats socket exists (0: not
    /// recorded, no cost otherwise).
    pub fn track(&self, frontend: &str, src: Option<SocketAddr>) -> u64 {
        if self.sockets.is_empty() {
            return 0;
        }
        self.begin_session(SessInfo {
            proto: match src {
                Some(SocketAddr::V4(_)) => "tcpv4",
                Some(SocketAddr::V6(_)) => "tcpv6",
                None => "unix_stream",
            },
            src,
            frontend: frontend.to_string(),
            since: Instant::now(),
            abort: None,
        })
    }

    /// Lets `shutdown session` end session `id` (its connection's task).
    pub fn set_abort(&self, id: u64, h: tokio::task::AbortHandle) {
        if id == 0 {
            return;
        }
        if let Some(s) = lock(&self.sessions).get_mut(&id) {
            s.abort = Some(h);
        }
    }

    /// What a frontend's accept loops watch for `disable|enable|shutdown frontend`
    /// (None without a stats socket: nothing can change it).
    pub fn fe_watch(&self, proxy: usize) -> Option<tokio::sync::watch::Receiver<FeCtl>> {
        if self.sockets.is_empty() {
            return None;
        }
        self.meta.proxies.get(proxy).map(|p| p.fe_ctl.subscribe())
    }

    /// A frontend's `maxconn` when `set maxconn frontend` changed it.
    pub fn fe_maxconn(&self, proxy: usize) -> Option<u32> {
        let p = self.meta.proxies.get(proxy)?;
        let now = p.maxconn_now.load(Ordering::Relaxed);
        (now != p.maxconn).then_some(now)
    }

    /// The frontend's status word for the statistics when the stats socket changed it.
    pub fn fe_status(&self, proxy: usize) -> Option<&'static str> {
        match *self.meta.proxies.get(proxy)?.fe_ctl.borrow() {
            FeCtl::Ready => None,
            FeCtl::Paused => Some("PAUSED"),
            FeCtl::Stopped => Some("STOP"),
        }
    }

    /// Whether any stats socket is configured: only then can `shutdown sessions server`
    /// cut a live transfer, and only then do sessions listen for it (a subscription per
    /// transfer costs a lock).
    pub fn serves(&self) -> bool {
        !self.sockets.is_empty()
    }

    pub fn end_session(&self, id: u64) {
        lock(&self.sessions).remove(&id);
    }

    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }
}

/// One connected client's state.
pub struct Ctx<'a> {
    pub rt: &'a Arc<Runtime>,
    pub level: CliLevel,
    pub interactive: bool,
    pub quit: bool,
    /// This session's idle timeout (`stats timeout`, or `set timeout cli`).
    pub timeout: Duration,
    /// The lines that followed a command ending with `<<`, up to an empty line.
    pub payload: Option<String>,
    /// How messages are prefixed (`severity-output`, `set severity-output`).
    pub severity: CliSeverity,
}

impl Ctx<'_> {
    /// Whether the session may run a command of `need` level.
    pub fn allowed(&self, need: CliLevel) -> bool {
        rank(self.level) >= rank(need)
    }
}

fn rank(l: CliLevel) -> u8 {
    match l {
        CliLevel::User => 0,
        CliLevel::Operator => 1,
        CliLevel::Admin => 2,
    }
}

/// HAProxy's answer to a command above the session's level.
pub const DENIED: &str = "Permission denied\n\n";

/// Serves one stats socket connection.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    rt: &Arc<Runtime>,
    mut s: S,
    (level, severity, proto, src): (CliLevel, CliSeverity, &'static str, Option<SocketAddr>),
) {
    rt.cli.cli_active.fetch_add(1, Ordering::Relaxed);
    rt.cli.cli_total.fetch_add(1, Ordering::Relaxed);
    activity::on_accept();
    let id = rt.cli.begin_session(SessInfo {
        proto,
        src,
        frontend: "GLOBAL".into(),
        since: Instant::now(),
        abort: None,
    });
    let mut ctx = Ctx {
        rt,
        level,
        interactive: false,
        quit: false,
        timeout: rt.cli.timeout,
        payload: None,
        severity,
    };
    // A command line ending with `<<` waits for its payload (see [`payload_step`]).
    let mut pending: Option<(String, String)> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    'conn: loop {
        // Serve every complete line received so far (HAProxy answers lines a client sent
        // together even in the one-command mode).
        let mut answered = false;
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..nl]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            let mut out = String::new();
            match payload_step(&mut pending, line) {
                Step::Plain => run_line(&mut ctx, line, &mut out),
                Step::More => {
                    // HAProxy prompts for each payload line in interactive mode.
                    if ctx.interactive && s.write_all(b"+ ").await.is_err() {
                        break 'conn;
                    }
                    continue;
                }
                Step::Run(cmd, payload) => {
                    ctx.payload = payload;
                    run_line(&mut ctx, &cmd, &mut out);
                    ctx.payload = None;
                }
            }
            if ctx.quit {
                let _ = s.write_all(out.as_bytes()).await;
                break 'conn;
            }
            if ctx.interactive {
                out.push_str("> ");
            }
            if s.write_all(out.as_bytes()).await.is_err() {
                break 'conn;
            }
            answered = true;
        }
        if answered && !ctx.interactive {
            break;
        }
        // An overlong line without a newline is not a command: drop the client.
        if buf.len() > 64 * 1024 {
            break;
        }
        let n = match tokio::time::timeout(ctx.timeout, s.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => break,
        };
        if n == 0 {
            // A last command without its newline still counts, as with HAProxy (not a
            // payload cut short: HAProxy drops it).
            if !buf.is_empty() && !ctx.quit && pending.is_none() {
                let line = String::from_utf8_lossy(&buf).into_owned();
                buf.clear();
                let mut out = String::new();
                run_line(&mut ctx, line.trim_end_matches('\r'), &mut out);
                let _ = s.write_all(out.as_bytes()).await;
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let _ = s.shutdown().await;
    rt.cli.end_session(id);
    rt.cli.cli_active.fetch_sub(1, Ordering::Relaxed);
}

/// What a received line is to a session that may be collecting a payload.
enum Step {
    /// A command line.
    Plain,
    /// Taken into the payload (or the start of one).
    More,
    /// The end of a payload: the command and its payload (`None` when `<<` was not a
    /// word of its own, which HAProxy does not take as a payload).
    Run(String, Option<String>),
}

/// The longest payload taken (HAProxy's is bounded by its buffer size).
const MAX_PAYLOAD: usize = 1 << 20;

/// HAProxy 2.6's multi-line commands: a line ending with `<<` starts a payload, the lines
/// after it are the payload, an empty line ends it.
fn payload_step(pending: &mut Option<(String, String)>, line: &str) -> Step {
    match pending {
        None => match line.strip_suffix("<<") {
            Some(cmd) => {
                *pending = Some((cmd.to_owned(), String::new()));
                Step::More
            }
            None => Step::Plain,
        },
        Some((_, p)) if !line.is_empty() => {
            if p.len() + line.len() < MAX_PAYLOAD {
                p.push_str(line);
                p.push('\n');
            }
            Step::More
        }
        Some(_) => {
            let Some((cmd, p)) = pending.take() else {
                return Step::Plain;
            };
            let word = cmd.is_empty() || cmd.ends_with([' ', '\t']);
            Step::Run(cmd, word.then_some(p))
        }
    }
}

/// Splits a line into commands at unescaped `;` and runs each.
fn run_line(ctx: &mut Ctx, line: &str, out: &mut String) {
    for cmd in split_commands(line) {
        run(ctx, &cmd, out);
        if ctx.quit {
            return;
        }
    }
}

fn split_commands(line: &str) -> Vec<String> {
    let mut cmds = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                if let Some(n) = chars.next()
                    && let Some(last) = cmds.last_mut()
                {
                    last.push(n);
                }
            }
            ';' => cmds.push(String::new()),
            c => {
                if let Some(last) = cmds.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    cmds
}

/// Words of a command: spaces separate, `\` escapes the next character.
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    has = true;
                }
            }
            ' ' | '\t' => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// Runs one command, appending its whole answer (with the final empty line) to `out`,
/// its message prefixed as the session's `severity-output` asks.
pub fn run(ctx: &mut Ctx, cmd: &str, out: &mut String) {
    if ctx.severity == CliSeverity::None {
        return dispatch(ctx, cmd, out);
    }
    let w = words(cmd);
    let a: Vec<&str> = w.iter().map(String::as_str).collect();
    let mut ans = String::new();
    dispatch(ctx, cmd, &mut ans);
    if let Some(sev) = severity_of(&a, &ans) {
        match ctx.severity {
            CliSeverity::Number => out.push_str(&format!("[{sev}]: ")),
            _ => out.push_str(match sev {
                3 => "[err]: ",
                4 => "[warning]: ",
                _ => "[info]: ",
            }),
        }
    }
    out.push_str(&ans);
}

/// Errors `show` and `get` commands answer instead of their output.
const SHOW_ERRORS: &[&str] = &[
    DENIED,
    "No such proxy.\n\n",
    "No such server.\n\n",
    "No such backend.\n\n",
    "Require 'backend/server'.\n\n",
    "Can't find backend.\n\n",
    "Variable not found\n\n",
];

/// Messages HAProxy sends as warnings (the `set server` ones it builds step by step).
const WARNINGS: &[&str] = &[
    "IP changed from",
    "no need to change the addr",
    "Invalid addr '",
    "invalid addr '",
    "provided port is",
    "health checks are not enabled on this server\n",
    "agent checks are not enabled on this server\n",
];

/// The syslog severity HAProxy gives an answer when it is a message rather than output:
/// 3 (err) for refusals, 4 (warning) for the `set server` accounts, 6 (info) for the
/// list of commands; None for output and for the empty answer of a success.
fn severity_of(cmd: &[&str], ans: &str) -> Option<u8> {
    if ans == "\n" || ans.is_empty() {
        return None;
    }
    if ans.starts_with(help::UNKNOWN) || ans.starts_with(help::HEADER) {
        return Some(6);
    }
    match cmd.first() {
        Some(&("show" | "get" | "help")) => SHOW_ERRORS.contains(&ans).then_some(3),
        _ if WARNINGS.iter().any(|w| ans.starts_with(w)) => Some(4),
        _ => Some(3),
    }
}

/// Runs one command, appending its whole answer (with the final empty line) to `out`.
fn dispatch(ctx: &mut Ctx, cmd: &str, out: &mut String) {
    let w = words(cmd);
    let a: Vec<&str> = w.iter().map(String::as_str).collect();
    let need = |ctx: &Ctx, l: CliLevel, out: &mut String| {
        if ctx.allowed(l) {
            true
        } else {
            out.push_str(DENIED);
            false
        }
    };
    use CliLevel::*;
    match a.as_slice() {
        [] => help::unknown_empty(out),
        ["help", rest @ ..] => help::help(rest, out),
        ["prompt", ..] => {
            ctx.interactive = !ctx.interactive;
            out.push('\n');
        }
        ["quit", ..] => ctx.quit = true,
        ["operator", ..] => {
            if need(ctx, Operator, out) {
                ctx.level = Operator;
                out.push('\n');
            }
        }
        ["user", ..] => {
            ctx.level = User;
            out.push('\n');
        }
        ["show", "info", rest @ ..] => info::show_info(ctx, rest, out),
        ["show", "activity", ..] => activity::show_activity(ctx, out),
        ["show", "tasks", ..] => activity::show_tasks(ctx, out),
        ["show", "stat", rest @ ..] => stat::show_stat(ctx, rest, out),
        ["show", "servers", "state", rest @ ..] => servers::show_state(ctx, rest, out),
        ["show", "backend", ..] => servers::show_backend(ctx, out),
        ["show", "sess", rest @ ..] => {
            if need(ctx, Operator, out) {
                sess::show_sess(ctx, rest, out)
            }
        }
        ["set", "timeout", rest @ ..] => set_timeout(ctx, rest, out),
        ["show", "ssl", "cert", rest @ ..] => ssl::show_cert(ctx, rest, out),
        ["set", "ssl", "cert", rest @ ..] => ssl::set_cert(ctx, rest, out),
        ["commit", "ssl", "cert", rest @ ..] => ssl::commit_cert(ctx, rest, out),
        ["abort", "ssl", "cert", rest @ ..] => ssl::abort_cert(ctx, rest, out),
        ["new", "ssl", "cert", rest @ ..] => ssl::new_cert(ctx, rest, out),
        ["del", "ssl", "cert", rest @ ..] => ssl::del_cert(ctx, rest, out),
        [
            verb @ ("show" | "new" | "set" | "commit" | "abort" | "del"),
            "ssl",
            file @ ("ca-file" | "crl-file"),
            rest @ ..,
        ] => ssl::cafile::run(ctx, verb, file, rest, out),
        ["show", "ssl", "crt-list", rest @ ..] => ssl::crtlist::show(ctx, rest, out),
        ["add", "ssl", "crt-list", rest @ ..] => ssl::crtlist::add(ctx, rest, out),
        ["del", "ssl", "crt-list", rest @ ..] => ssl::crtlist::del(ctx, rest, out),
        ["show", "ssl", "ocsp-response", rest @ ..] => ssl::ocsp::show(ctx, rest, out),
        ["set", "ssl", "ocsp-response", rest @ ..] => ssl::ocsp::set(ctx, rest, out),
        ["show", "errors", rest @ ..] => {
            if need(ctx, Operator, out) {
                admin::show_errors(ctx, rest, out)
            }
        }
        ["show", "env", rest @ ..] => {
            if need(ctx, Operator, out) {
                admin::show_env(rest, out)
            }
        }
        ["clear", "counters", "all", ..] => {
            if need(ctx, Admin, out) {
                admin::clear_counters(ctx, true);
                out.push('\n');
            }
        }
        ["clear", "counters", ..] => {
            if need(ctx, Operator, out) {
                admin::clear_counters(ctx, false);
                out.push('\n');
            }
        }
        [op @ ("enable" | "disable"), "frontend", rest @ ..] => {
            if need(ctx, Admin, out) {
                admin::pause_frontend(ctx, *op == "enable", rest, out)
            }
        }
        ["shutdown", "frontend", rest @ ..] => {
            if need(ctx, Admin, out) {
                admin::shutdown_frontend(ctx, rest, out)
            }
        }
        ["set", "maxconn", "frontend", rest @ ..] => {
            if need(ctx, Admin, out) {
                admin::set_maxconn_frontend(ctx, rest, out)
            }
        }
        ["set", "maxconn", "global", rest @ ..] => {
            if need(ctx, Admin, out) {
                admin::set_maxconn_global(ctx, rest, out)
            }
        }
        ["set", "rate-limit", rest @ ..] => {
            if need(ctx, Admin, out) {
                ratelimit::set_rate_limit(ctx, rest, out)
            }
        }
        ["shutdown", "session", rest @ ..] => {
            if need(ctx, Admin, out) {
                admin::shutdown_session(ctx, rest, out)
            }
        }
        ["set", "severity-output", rest @ ..] => match rest.first().copied() {
            Some("none") => {
                ctx.severity = CliSeverity::None;
                out.push('\n');
            }
            Some("number") => {
                ctx.severity = CliSeverity::Number;
                out.push('\n');
            }
            Some("string") => {
                ctx.severity = CliSeverity::String;
                out.push('\n');
            }
            _ => out.push_str("one of 'none', 'number', 'string' is a required argument\n\n"),
        },
        ["get", "weight", rest @ ..] => servers::get_weight(ctx, rest, out),
        ["set", "weight", rest @ ..] => {
            if need(ctx, Admin, out) {
                servers::set_weight(ctx, rest, out)
            }
        }
        ["set", "server", rest @ ..] if agent::handles(rest.get(1)) => {
            if need(ctx, Admin, out) {
                agent::set_server(ctx, rest, out)
            }
        }
        [op @ ("enable" | "disable"), "agent", rest @ ..] => {
            if need(ctx, Admin, out) {
                agent::enable_agent(ctx, *op == "enable", rest, out)
            }
        }
        ["set", "server", rest @ ..] => {
            if need(ctx, Admin, out) {
                servers::set_server(ctx, rest, out)
            }
        }
        ["set", "maxconn", "server", rest @ ..] => {
            if need(ctx, Admin, out) {
                servers::set_maxconn(ctx, rest, out)
            }
        }
        [op @ ("enable" | "disable"), "server", rest @ ..] => {
            if need(ctx, Admin, out) {
                servers::enable_server(ctx, *op == "enable", rest, out)
            }
        }
        [op @ ("enable" | "disable"), "health", rest @ ..] => {
            if need(ctx, Admin, out) {
                servers::enable_health(ctx, *op == "enable", rest, out)
            }
        }
        ["shutdown", "sessions", "server", rest @ ..] => {
            if need(ctx, Admin, out) {
                servers::shutdown_sessions(ctx, rest, out)
            }
        }
        _ => help::unknown(&a, out),
    }
}

/// `set timeout cli <delay>`: this session's idle timeout (seconds by default).
fn set_timeout(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    match args {
        ["cli", v, ..] => match crate::config::value::parse_time_default_unit(
            v,
            crate::config::value::TimeUnit::S,
        ) {
            Ok(d) if !d.is_zero() => {
                ctx.timeout = d;
                out.push('\n');
            }
            _ => out.push_str("Invalid timeout value.\n\n"),
        },
        ["cli"] => out.push_str("Expects an integer value.\n\n"),
        _ => out.push_str("'set timeout' only supports 'cli'.\n\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_at_unescaped_semicolons() {
        assert_eq!(split_commands("a; b"), vec!["a", " b"]);
        assert_eq!(split_commands("a\\;b"), vec!["a;b"]);
        assert_eq!(
            words("  set  weight be/s1\\ x 3"),
            vec!["set", "weight", "be/s1 x", "3"]
        );
        assert!(words("   ").is_empty());
    }

    #[test]
    fn payloads_run_at_the_empty_line() {
        let mut p = None;
        assert!(matches!(payload_step(&mut p, "show info"), Step::Plain));
        assert!(matches!(
            payload_step(&mut p, "set ssl cert f <<"),
            Step::More
        ));
        assert!(matches!(payload_step(&mut p, "line 1"), Step::More));
        assert!(matches!(payload_step(&mut p, "line 2"), Step::More));
        match payload_step(&mut p, "") {
            Step::Run(cmd, Some(body)) => {
                assert_eq!(
                    (cmd.as_str(), body.as_str()),
                    ("set ssl cert f ", "line 1\nline 2\n")
                )
            }
            _ => panic!("no payload"),
        }
        assert!(p.is_none());
        // `<<` glued to the last word: HAProxy takes the lines but gives no payload.
        assert!(matches!(
            payload_step(&mut p, "set ssl cert f<<"),
            Step::More
        ));
        assert!(matches!(payload_step(&mut p, ""), Step::Run(_, None)));
    }

    #[test]
    fn messages_have_haproxys_severities() {
        assert_eq!(
            severity_of(&["get", "weight", "b/s"], "1 (initial 1)\n\n"),
            None
        );
        assert_eq!(
            severity_of(&["get", "weight", "b/z"], "No such server.\n\n"),
            Some(3)
        );
        assert_eq!(severity_of(&["set", "weight", "b/s", "1"], "\n"), None);
        assert_eq!(
            severity_of(&["set", "server", "b/s", "addr", "::1"], "IP changed from"),
            Some(4)
        );
        assert_eq!(
            severity_of(&["disable", "frontend", "x"], "No such frontend.\n\n"),
            Some(3)
        );
        assert_eq!(severity_of(&["foo"], "Unknown command, but maybe"), Some(6));
    }

    #[test]
    fn proxy_ids_as_haproxy_numbers_them() {
        let mut cfg = Config::default();
        for (n, id) in [("a", None), ("b", Some(3)), ("c", None), ("d", Some(20))] {
            cfg.proxies.push(crate::model::Proxy {
                name: n.into(),
                id,
                ..Default::default()
            });
        }
        assert_eq!(proxy_uuids(&cfg), vec![2, 3, 4, 20]);
    }
}

//! The runtime API on the stats socket (`global` `stats socket`), as HAProxy 2.6 serves it:
//! this module owns binding the sockets (UNIX with `mode`, `ipv4@`/`ipv6@` TCP, inherited
//! `fd@N`), the per-connection sessions (one command line then close, or `prompt` mode with
//! `> ` prompts until `quit`; `;` separates commands on a line; `stats timeout` bounds idle
//! waits; `stats maxconn` bounds sessions), access levels, and dispatching commands to the
//! files that implement each family (`help`, `info`, `servers`, `sess`, `stat`).
//!
//! Every answer ends with an empty line, byte for byte as HAProxy's do.

pub mod agent;
pub mod help;
pub mod info;
pub mod servers;
pub mod sess;
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
use crate::model::{CliLevel, Config, StatsSocket};
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
    pub servers: Vec<ServerMeta>,
}

#[derive(Debug, Default)]
pub struct ServerMeta {
    pub addr: String,
    pub port: u16,
    pub forced_id: bool,
    /// The configured weight (`get weight`'s "initial").
    pub iweight: u32,
    pub check: bool,
    pub check_port: u16,
    pub check_addr: Option<String>,
    pub ssl: bool,
    pub rise: u32,
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
}

/// The stats socket service of a runtime.
#[derive(Debug)]
pub struct Cli {
    sockets: Vec<StatsSocket>,
    timeout: Duration,
    slots: Arc<Semaphore>,
    bound: Mutex<Vec<(BoundSocket, CliLevel, String)>>,
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
                servers: p
                    .servers
                    .iter()
                    .map(|s| ServerMeta {
                        addr: match &s.addr.host {
                            Host::Ip(ip) => ip.to_string(),
                            Host::Name(n) => s
                                .resolved
                                .first()
                                .map(|i| i.to_string())
                                .unwrap_or_else(|| n.clone()),
                            Host::Unix(p) => p.display().to_string(),
                            Host::Abstract(n) => format!("abns@{n}"),
                            _ => "-".into(),
                        },
                        port: match s.addr.port {
                            PortSpec::Fixed(p) => p,
                            _ => 0,
                        },
                        forced_id: s.id.is_some(),
                        iweight: s.params.weight,
                        check: s.params.check,
                        check_port: s.params.check_port.unwrap_or(0),
                        check_addr: s.params.check_addr.map(|a| a.to_string()),
                        ssl: s.params.ssl.as_ref().is_some_and(|t| t.enabled),
                        rise: s.params.rise.max(1),
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
            out.push((sock, s.level, label));
        }
        *lock(&self.bound) = out;
        Ok(())
    }

    /// Starts serving the bound sockets (inside the tokio runtime).
    pub fn start(rt: &Arc<Runtime>) {
        let bound = std::mem::take(&mut *lock(&rt.cli.bound));
        for (sock, level, label) in bound {
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
                                            session(&rt, s, level, "unix_stream", None).await;
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
                                            session(&rt, s, level, proto, Some(src)).await;
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
        })
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
    level: CliLevel,
    proto: &'static str,
    src: Option<SocketAddr>,
) {
    rt.cli.cli_active.fetch_add(1, Ordering::Relaxed);
    rt.cli.cli_total.fetch_add(1, Ordering::Relaxed);
    let id = rt.cli.begin_session(SessInfo {
        proto,
        src,
        frontend: "GLOBAL".into(),
        since: Instant::now(),
    });
    let mut ctx = Ctx {
        rt,
        level,
        interactive: false,
        quit: false,
        timeout: rt.cli.timeout,
    };
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
            run_line(&mut ctx, line, &mut out);
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
            // A last command without its newline still counts, as with HAProxy.
            if !buf.is_empty() && !ctx.quit {
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

/// Runs one command, appending its whole answer (with the final empty line) to `out`.
pub fn run(ctx: &mut Ctx, cmd: &str, out: &mut String) {
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
        ["show", "stat", rest @ ..] => stat::show_stat(ctx, rest, out),
        ["show", "servers", "state", rest @ ..] => servers::show_state(ctx, rest, out),
        ["show", "backend", ..] => servers::show_backend(ctx, out),
        ["show", "sess", rest @ ..] => {
            if need(ctx, Operator, out) {
                sess::show_sess(ctx, rest, out)
            }
        }
        ["set", "timeout", rest @ ..] => set_timeout(ctx, rest, out),
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

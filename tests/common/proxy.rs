//! Running a proxy process (rproxy or the reference haproxy) on a configuration text,
//! waiting until it listens, and stopping it.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ports::{local, local6};

/// How long a start waits for the listeners.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Polls `f` every 10 ms until it returns true (→ true) or `timeout` passes (→ false).
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True when a TCP connection to `addr` succeeds now.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// True when a socket in LISTEN state has `addr`'s port (on its address family, or on a
/// dual-stack `::` socket), read from /proc/net/tcp{,6}: unlike [`accepts`], no connection
/// is made, so proxy connection counters and logs stay untouched. Falls back to
/// [`accepts`] where /proc is not readable.
pub fn listening(addr: SocketAddr) -> bool {
    let files: &[&str] = if addr.is_ipv4() {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    } else {
        &["/proc/net/tcp6"]
    };
    let mut readable = false;
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        readable = true;
        for line in text.lines().skip(1) {
            let mut cols = line.split_whitespace();
            let (Some(_), Some(local), Some(_), Some(state)) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            let Some((ip_hex, port_hex)) = local.rsplit_once(':') else {
                continue;
            };
            if state != "0A" || u16::from_str_radix(port_hex, 16).ok() != Some(addr.port()) {
                continue;
            }
            if listen_ip_matches(ip_hex, addr) {
                return true;
            }
        }
    }
    if !readable {
        return accepts(addr);
    }
    false
}

/// `ss ARGS` (iproute2, netlink) as text; empty when it cannot run.
fn ss_output(args: &[&str]) -> String {
    std::process::Command::new("ss")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether `ss` lists a TCP listener on `addr`'s port (any address that serves it).
fn ss_listening(addr: SocketAddr) -> bool {
    let filter = format!("sport = :{}", addr.port());
    !ss_output(&["-Hltn", &filter]).trim().is_empty()
}

/// Whether a /proc/net/tcp* local address (hex, as the kernel prints it) serves `addr`.
fn listen_ip_matches(ip_hex: &str, addr: SocketAddr) -> bool {
    let bytes: Vec<u8> = (0..ip_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&ip_hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    // The kernel prints each 32-bit word in host (little-endian here) order.
    let mut ip = Vec::with_capacity(bytes.len());
    for w in bytes.chunks(4) {
        let mut w = w.to_vec();
        if cfg!(target_endian = "little") {
            w.reverse();
        }
        ip.extend(w);
    }
    match (ip.len(), addr.ip()) {
        (4, std::net::IpAddr::V4(v4)) => ip == [0, 0, 0, 0] || ip == v4.octets(),
        (16, std::net::IpAddr::V6(v6)) => ip == [0; 16] || ip == v6.octets(),
        (16, std::net::IpAddr::V4(v4)) => {
            let mut mapped = [0u8; 16];
            mapped[10] = 0xff;
            mapped[11] = 0xff;
            mapped[12..].copy_from_slice(&v4.octets());
            ip == [0; 16] || ip == mapped
        }
        _ => false,
    }
}

/// Waits (up to 5 s) until 127.0.0.1:port accepts connections for every port (checked
/// with [`listening`], without connecting).
pub fn wait_listening(ports: &[u16]) -> bool {
    let addrs: Vec<SocketAddr> = ports.iter().map(|&p| local(p)).collect();
    wait_listening_addrs(&addrs, START_TIMEOUT)
}

/// Waits up to `timeout` until every address accepts connections (see [`listening`]).
pub fn wait_listening_addrs(addrs: &[SocketAddr], timeout: Duration) -> bool {
    let mut pending: Vec<SocketAddr> = addrs.to_vec();
    eventually(timeout, || {
        pending.retain(|a| !listening(*a));
        pending.is_empty()
    })
}

/// The TCP addresses a configuration's `bind` lines listen on, as addresses to connect
/// to: a wildcard host (`*`, empty, `0.0.0.0`) becomes 127.0.0.1 and `::` becomes ::1;
/// unix sockets, abstract sockets and port ranges are left out.
pub fn bind_addrs(cfg: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in cfg.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("bind") {
            continue;
        }
        let Some(spec) = words.next() else { continue };
        for one in spec.split(',') {
            if let Some(a) = parse_bind_addr(one) {
                out.push(a);
            }
        }
    }
    out
}

fn parse_bind_addr(spec: &str) -> Option<SocketAddr> {
    let spec = spec
        .strip_prefix("ipv4@")
        .or_else(|| spec.strip_prefix("ipv6@"))
        .or_else(|| spec.strip_prefix("tcp@"))
        .or_else(|| spec.strip_prefix("tcp4@"))
        .or_else(|| spec.strip_prefix("tcp6@"))
        .unwrap_or(spec);
    if spec.contains('@') || spec.starts_with('/') {
        return None;
    }
    let (host, port) = spec.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(match host {
        "" | "*" | "0.0.0.0" => local(port),
        "::" => local6(port),
        h => SocketAddr::new(h.parse().ok()?, port),
    })
}

/// Which program runs the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// This crate's binary.
    Rproxy,
    /// The reference, /usr/sbin/haproxy (or `haproxy` on PATH).
    Haproxy,
}

impl Engine {
    pub fn program(self) -> PathBuf {
        match self {
            Engine::Rproxy => PathBuf::from(env!("CARGO_BIN_EXE_rproxy")),
            Engine::Haproxy => {
                let p = Path::new("/usr/sbin/haproxy");
                if p.exists() {
                    p.to_path_buf()
                } else {
                    PathBuf::from("haproxy")
                }
            }
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Engine::Rproxy => "rproxy",
            Engine::Haproxy => "haproxy",
        }
    }
}

/// A running proxy; on drop it gets SIGTERM, then SIGKILL after 2 s.
pub struct Proxy {
    engine: Engine,
    child: Child,
    dir: tempfile::TempDir,
    cfg: PathBuf,
    addrs: Vec<SocketAddr>,
    status: Option<ExitStatus>,
}

impl Proxy {
    /// rproxy on `cfg`, waiting for every `bind` address (panics with stderr on failure).
    pub fn start(cfg: &str) -> Proxy {
        Proxy::start_engine(Engine::Rproxy, cfg)
    }
    /// haproxy on `cfg`, waiting for every `bind` address (panics with stderr on failure).
    pub fn start_haproxy(cfg: &str) -> Proxy {
        Proxy::start_engine(Engine::Haproxy, cfg)
    }
    pub fn start_engine(engine: Engine, cfg: &str) -> Proxy {
        Proxy::try_start(engine, cfg, &bind_addrs(cfg)).unwrap_or_else(|e| panic!("{e}"))
    }
    /// Spawns `engine -f cfg -db` and waits until every address in `wait_for` accepts;
    /// Err (with the exit status or timeout and stderr) when the process exits first or
    /// the addresses do not come up within 5 s.
    pub fn try_start(engine: Engine, cfg: &str, wait_for: &[SocketAddr]) -> Result<Proxy, String> {
        let mut p = Proxy::spawn(engine, cfg, &[]);
        let mut pending: Vec<SocketAddr> = wait_for.to_vec();
        let mut exited = None;
        let t0 = Instant::now();
        let up = eventually(START_TIMEOUT, || {
            if let Ok(Some(st)) = p.child.try_wait() {
                exited = Some(st);
                return true;
            }
            // After a second, ask the kernel through netlink too: under heavy socket churn
            // (many test processes at once) a /proc/net/tcp walk was seen to miss one
            // listener of a running proxy for seconds.
            let late = t0.elapsed() > Duration::from_secs(1);
            pending.retain(|a| !(listening(*a) || (late && ss_listening(*a))));
            pending.is_empty()
        });
        if let Some(st) = exited {
            p.status = Some(st);
            return Err(format!(
                "{} exited ({st}) before listening on {wait_for:?}\nconfig:\n{cfg}\nstderr:\n{}",
                engine.name(),
                p.stderr_text()
            ));
        }
        if !up {
            let err = format!(
                "{} (pid {}, still running) not listening on {pending:?} after {:?}\nconfig:\n{cfg}\nstderr:\n{}\nss -ltnp:\n{}",
                engine.name(),
                p.pid(),
                t0.elapsed(),
                p.stderr_text(),
                ss_output(&["-Hltnp"]),
            );
            return Err(err);
        }
        Ok(p)
    }
    /// Spawns `engine -f cfg -db EXTRA...` without waiting for anything.
    pub fn spawn(engine: Engine, cfg: &str, extra_args: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg_path = dir.path().join("proxy.cfg");
        std::fs::write(&cfg_path, cfg).expect("write config");
        let out = File::create(dir.path().join("stdout")).expect("stdout file");
        let err = File::create(dir.path().join("stderr")).expect("stderr file");
        let child = Command::new(engine.program())
            .arg("-f")
            .arg(&cfg_path)
            .arg("-db")
            .args(extra_args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", engine.program().display()));
        Proxy {
            engine,
            child,
            addrs: bind_addrs(cfg),
            dir,
            cfg: cfg_path,
            status: None,
        }
    }
    pub fn engine(&self) -> Engine {
        self.engine
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// The addresses of the configuration's `bind` lines.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
    pub fn config_path(&self) -> &Path {
        &self.cfg
    }
    /// The process's working directory (a tempdir, removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }
    pub fn send_signal(&self, sig: Signal) {
        if self.status.is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
        }
    }
    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            let child = &mut self.child;
            let mut st = None;
            eventually(timeout, || {
                st = child.try_wait().ok().flatten();
                st.is_some()
            });
            self.status = st;
        }
        self.status
    }
    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_none()
    }
    /// SIGTERM, then SIGKILL after 2 s; returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.running() {
            self.send_signal(Signal::SIGTERM);
            if self.wait_exit(Duration::from_secs(2)).is_none() {
                let _ = self.child.kill();
                self.status = self.child.wait().ok();
            }
        }
        self.status
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

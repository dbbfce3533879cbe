//! Loopback port allocation for tests running in parallel threads and processes.
//!
//! Ports come from below the kernel's ephemeral range (`ip_local_port_range`), so an
//! outgoing connection made by a proxy or a client between `free_port()` and the later
//! `bind` can never take the port by chance. Each process starts its walk at a point
//! drawn from its pid and the clock (two test binaries rarely walk the same stretch), a
//! process-global set prevents handing out a port twice, a lock file held until the
//! process exits keeps other test processes off it, and every candidate is probed
//! by binding it on 127.0.0.1 (and on ::1 when IPv6 is there) before it is returned.
//! When no such range exists, the kernel's `bind(127.0.0.1:0)` is used instead.

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::{Mutex, OnceLock};

struct State {
    used: HashSet<u16>,
    /// Locked lock files of the ports claimed by this process (held until it exits).
    claims: Vec<File>,
    next: u32,
    lo: u16,
    hi: u16,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let eph_lo = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32768);
        let (lo, hi) = (10_000u16, eph_lo.min(32_768));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = std::process::id()
            .wrapping_mul(2_654_435_761)
            .wrapping_add(nanos);
        Mutex::new(State {
            used: HashSet::new(),
            claims: Vec::new(),
            next: seed,
            lo,
            hi,
        })
    })
}

/// Claims `port` among the test processes of this machine: an exclusive `flock` on
/// `$TMPDIR/rproxy-test-ports/PORT.lock`, kept until the process exits (the kernel then
/// releases it, so a crashed test binary leaves nothing stale behind). False when another
/// live test process holds the port. Where lock files cannot be made, always true.
fn claim(st: &mut State, port: u16) -> bool {
    let dir = std::env::temp_dir().join("rproxy-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let Ok(f) = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{port}.lock")))
    else {
        return true;
    };
    match f.try_lock() {
        Ok(()) => {
            st.claims.push(f);
            true
        }
        Err(TryLockError::WouldBlock) => false,
        Err(TryLockError::Error(_)) => true,
    }
}

/// True when nothing listens on `port` on 127.0.0.1 (nor on ::1).
pub fn port_is_free(port: u16) -> bool {
    if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
        return false;
    }
    match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
        Ok(_) => true,
        // No IPv6 on this host: only IPv4 matters.
        Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
    }
}

/// A loopback TCP port nobody listens on, never handed out twice in this process.
pub fn free_port() -> u16 {
    let mut st = state().lock().unwrap_or_else(|e| e.into_inner());
    if st.hi > st.lo + 1000 {
        let span = u32::from(st.hi - st.lo);
        for _ in 0..span {
            let p = st.lo + (st.next % span) as u16;
            st.next = st.next.wrapping_add(1);
            if !st.used.contains(&p) && claim(&mut st, p) && port_is_free(p) {
                st.used.insert(p);
                return p;
            }
        }
    }
    for _ in 0..1000 {
        let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind :0");
        let p = l.local_addr().expect("local addr").port();
        if st.used.insert(p) {
            return p;
        }
    }
    panic!("no free loopback port found");
}

/// `n` distinct free ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

/// A port with nothing listening on it (connections are refused); reserved so that no
/// later `free_port()` hands it out.
pub fn refused_port() -> u16 {
    free_port()
}

/// 127.0.0.1:port
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// [::1]:port
pub fn local6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

//! Listening: every `bind` address form the model accepts, inherited sockets, `maxconn`
//! (global and per frontend), `backlog`, and how fast the proxy listens — each run with the
//! real binary and, where it means something, side by side with haproxy 2.6.
//!
//! HAProxy 2.6.12 facts these tests pin (observed when writing them):
//! - `bind *:P` and `bind :P` listen on 0.0.0.0 only (no IPv6); `bind :::P` is dual-stack
//!   (unless `v6only`), and an IPv4 client of it is reported IPv4-mapped: `%[src]` and
//!   `%[dst]` give `::ffff:127.0.0.1`, not `127.0.0.1`.
//! - `bind A:P1,B:P2` and port ranges `A:P1-P3` listen on each address and port.
//! - `unix@PATH` and plain-path sockets honour `mode`, `uid`, `gid`; fetches give no
//!   address (`%[src]` and `%[dst]` empty).
//! - `abns@NAME` binds the abstract address padded with NUL bytes to the whole `sun_path`
//!   (108 bytes): a client must connect to the padded name; the bare name is refused.
//! - `fd@N` and `"fd@${VAR}"` serve an inherited listening socket as socket activation
//!   passes it.
//! - The listen backlog is `backlog` of the bind, else of the frontend, else the bind's
//!   `maxconn`, else the frontend's `maxconn`, which defaults to the global `maxconn`; the
//!   kernel caps it at `net.core.somaxconn`. UNIX sockets get the same backlog.
//! - With `maxconn` reached (global or frontend) new connections wait in the kernel's
//!   backlog: they connect but get no answer until a connection closes; other frontends
//!   keep serving under a frontend limit, not under the global one.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// Answers every request with the addresses the proxy saw.
const WHO: &str = "  http-request return status 200 content-type text/plain lf-string \"dst=%[dst] port=%[dst_port] src=%[src]\"\n";

/// GET / on a fresh connection to `addr`; the body with `port` replaced by `P` so that
/// runs on different ports compare.
fn who(addr: SocketAddr) -> String {
    let r = http_get(addr, "/");
    assert_eq!(r.status, 200, "{r:?}");
    r.body_text().replace(&addr.port().to_string(), "P")
}

// ---------------------------------------------------------------------------------------
// TCP address forms

#[test]
fn every_inet_bind_form_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "{DEFAULTS}frontend fe\n\
         \x20 bind 127.0.0.1:{{{{P0}}}}\n\
         \x20 bind [::1]:{{{{P1}}}}\n\
         \x20 bind *:{{{{P2}}}}\n\
         \x20 bind :::{{{{P3}}}}\n\
         \x20 bind :{{{{P4}}}}\n\
         \x20 bind 127.0.0.1:{{{{P5}}}},[::1]:{{{{P6}}}}\n\
         \x20 bind ipv4@127.0.0.1:{{{{P7}}}}\n\
         \x20 bind ipv6@::1:{{{{P8}}}}\n\
         \x20 bind :::{{{{P9}}}} v6only\n\
         {WHO}"
    );
    let (h, r) = side_by_side(&t, |s| {
        let v4 = |i: usize| local(s.port(i));
        let v6 = |i: usize| local6(s.port(i));
        let out = vec![
            who(v4(0)),
            who(v6(1)),
            who(v4(2)),
            who(v4(3)),
            who(v6(3)),
            who(v4(4)),
            who(v4(5)),
            who(v6(6)),
            who(v4(7)),
            who(v6(8)),
            who(v6(9)),
        ];
        // IPv4-only wildcards do not answer on ::1, v6only does not answer on 127.0.0.1.
        for a in [v6(2), v6(4), v4(9), v6(0), v4(1)] {
            assert!(Conn::try_open(a).is_err(), "{}: {a} accepts", s.name());
        }
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h[0], "dst=127.0.0.1 port=P src=127.0.0.1");
    assert_eq!(h[1], "dst=::1 port=P src=::1");
    // A dual-stack socket reports its IPv4 peers IPv4-mapped.
    assert_eq!(h[3], "dst=::ffff:127.0.0.1 port=P src=::ffff:127.0.0.1");
    assert_eq!(h[4], "dst=::1 port=P src=::1");
}

/// `n` consecutive free ports (for a `bind` port range).
fn consecutive_ports(n: usize) -> Vec<u16> {
    let mut seen: Vec<u16> = Vec::new();
    for _ in 0..400 {
        seen.push(free_port());
        seen.sort_unstable();
        for w in seen.windows(n) {
            if w[n - 1] - w[0] == (n - 1) as u16 {
                return w.to_vec();
            }
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn port_range_and_several_addresses_per_line() {
    let ports = consecutive_ports(3);
    let other = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{}-{},[::1]:{other}\n{WHO}",
        ports[0], ports[2]
    );
    let run = |engine: Engine| {
        let addrs: Vec<SocketAddr> = ports
            .iter()
            .map(|&p| local(p))
            .chain([local6(other)])
            .collect();
        let _p = Proxy::try_start(engine, &cfg, &addrs).unwrap_or_else(|e| panic!("{e}"));
        addrs.iter().map(|&a| who(a)).collect::<Vec<_>>()
    };
    let r = run(Engine::Rproxy);
    assert_eq!(
        r,
        [
            "dst=127.0.0.1 port=P src=127.0.0.1",
            "dst=127.0.0.1 port=P src=127.0.0.1",
            "dst=127.0.0.1 port=P src=127.0.0.1",
            "dst=::1 port=P src=::1"
        ]
    );
    if require_haproxy() {
        assert_eq!(run(Engine::Haproxy), r);
    }
}

// ---------------------------------------------------------------------------------------
// UNIX and abstract sockets

/// GET / over a UNIX stream socket; the raw answer parsed.
fn unix_get(mut s: UnixStream) -> Response {
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&buf)))
}

/// HAProxy's address for `abns@name`: the name NUL-padded to the whole `sun_path`.
fn abns(name: &str) -> std::os::unix::net::SocketAddr {
    use std::os::linux::net::SocketAddrExt;
    let mut padded = name.as_bytes().to_vec();
    padded.resize(107, 0);
    std::os::unix::net::SocketAddr::from_abstract_name(&padded).unwrap()
}

fn abns_short(name: &str) -> std::os::unix::net::SocketAddr {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
}

#[test]
fn unix_and_abstract_sockets() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = nix::unistd::geteuid().is_root();
    // Owner change needs root; otherwise the socket is given to ourselves.
    let (uid, gid) = if root {
        (65534, 65534)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    };
    let run = |engine: Engine| {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sock");
        let b = dir.path().join("b.sock");
        let name = format!("rproxy-test-{}-{}", std::process::id(), free_port());
        let port = free_port();
        let cfg = format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{port}\n  bind unix@{} mode 600\n  \
             bind {} mode 640 uid {uid} gid {gid}\n  bind abns@{name}\n{WHO}",
            a.display(),
            b.display()
        );
        let _p = Proxy::start_engine(engine, &cfg);
        let mut out = Vec::new();
        for path in [&a, &b] {
            assert!(
                eventually(Duration::from_secs(3), || UnixStream::connect(path).is_ok()),
                "{}: {} not served",
                engine.name(),
                path.display()
            );
            let md = std::fs::metadata(path).unwrap();
            out.push(format!(
                "mode={:o} uid={} gid={}",
                md.permissions().mode() & 0o777,
                md.uid(),
                md.gid()
            ));
            out.push(unix_get(UnixStream::connect(path).unwrap()).body_text());
        }
        let s = UnixStream::connect_addr(&abns(&name))
            .unwrap_or_else(|e| panic!("{}: abns@{name}: {e}", engine.name()));
        out.push(unix_get(s).body_text());
        // The bare name is another address: nothing listens there.
        assert!(UnixStream::connect_addr(&abns_short(&name)).is_err());
        out
    };
    let r = run(Engine::Rproxy);
    assert_eq!(
        r,
        [
            format!(
                "mode=600 uid={} gid={}",
                nix::unistd::geteuid(),
                nix::unistd::getegid()
            ),
            "dst= port= src=".to_string(),
            format!("mode=640 uid={uid} gid={gid}"),
            "dst= port= src=".to_string(),
            "dst= port= src=".to_string(),
        ]
    );
    if require_haproxy() {
        assert_eq!(run(Engine::Haproxy), r);
    }
}

#[test]
fn server_on_an_abstract_socket() {
    // rproxy's `server abns@` reaches a listener bound by `bind abns@` (both padded).
    let m = MockServer::start("m");
    let name = format!("rproxy-test-srv-{}-{}", std::process::id(), free_port());
    let (p0, p1) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{p0}\n  default_backend via\n\
         backend via\n  server inner abns@{name}\n\
         frontend inner\n  bind abns@{name}\n  bind 127.0.0.1:{p1}\n  default_backend be\n\
         backend be\n  server m {}\n",
        m.addr_str()
    );
    let _p = Proxy::start(&cfg);
    let r = http_get(local(p0), "/through");
    assert_eq!(r.status, 200);
    assert_eq!(r.server(), Some("m"));
    assert_eq!(r.echo().request_line, "GET /through HTTP/1.1");
}

// ---------------------------------------------------------------------------------------
// Inherited sockets (socket activation)

/// A proxy process started with extra descriptors and environment.
struct Spawned {
    child: Child,
    _dir: tempfile::TempDir,
    stderr: std::path::PathBuf,
}

impl Spawned {
    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        let exited = eventually(Duration::from_secs(2), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `engine -f cfg -db` with each listener of `fds` on descriptor number `.1`, as
/// systemd's socket activation does, and the given environment.
fn spawn_with_fds(
    engine: Engine,
    cfg: &str,
    fds: &[(&TcpListener, i32)],
    env: &[(&str, String)],
) -> Spawned {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("proxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let stderr = dir.path().join("stderr");
    let mut cmd = Command::new(engine.program());
    cmd.arg("-f")
        .arg(&cfg_path)
        .arg("-db")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let map: Vec<(i32, i32)> = fds.iter().map(|(l, n)| (l.as_raw_fd(), *n)).collect();
    assert!(map.len() <= 8);
    // SAFETY: between fork and exec only async-signal-safe calls (fcntl, dup2, close) and
    // no allocation.
    unsafe {
        cmd.pre_exec(move || {
            use nix::fcntl::{FcntlArg, fcntl};
            use std::os::fd::{BorrowedFd, IntoRawFd};
            // Copies above every target number first, so that no dup2 overwrites a source.
            let mut tmp = [-1i32; 8];
            for (i, &(src, _)) in map.iter().enumerate() {
                tmp[i] = fcntl(BorrowedFd::borrow_raw(src), FcntlArg::F_DUPFD(1000))?;
            }
            for (i, &(_, dst)) in map.iter().enumerate() {
                // dup2's copy has no close-on-exec: the program inherits it.
                let fd = nix::unistd::dup2_raw(BorrowedFd::borrow_raw(tmp[i]), dst)?;
                let _ = fd.into_raw_fd();
            }
            for &t in tmp.iter().take(map.len()) {
                let _ = nix::unistd::close(t);
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn");
    Spawned {
        child,
        _dir: dir,
        stderr,
    }
}

#[test]
fn inherited_listening_sockets() {
    let run = |engine: Engine| {
        let l3 = TcpListener::bind(local(0)).unwrap();
        let l4 = TcpListener::bind(local(0)).unwrap();
        let (a3, a4) = (l3.local_addr().unwrap(), l4.local_addr().unwrap());
        let cfg = format!("{DEFAULTS}frontend fe\n  bind fd@3\n  bind \"fd@${{LISTEN_B}}\"\n{WHO}");
        let p = spawn_with_fds(
            engine,
            &cfg,
            &[(&l3, 3), (&l4, 4)],
            &[("LISTEN_B", "4".into())],
        );
        // The sockets listen already: requests wait in their backlog until the proxy serves.
        drop((l3, l4));
        let out: Vec<String> = [a3, a4]
            .iter()
            .map(|&a| match try_http_get(a, "/") {
                Ok(r) => r.body_text().replace(&a.port().to_string(), "P"),
                Err(e) => panic!("{}: {a}: {e}\n{}", engine.name(), p.stderr_text()),
            })
            .collect();
        out
    };
    let r = run(Engine::Rproxy);
    assert_eq!(r, ["dst=127.0.0.1 port=P src=127.0.0.1"; 2]);
    if require_haproxy() {
        assert_eq!(run(Engine::Haproxy), r);
    }
}

// ---------------------------------------------------------------------------------------
// maxconn and backlog

/// Whether a request on a connected `c` gets no answer within `wait` (the proxy has not
/// accepted it).
fn unanswered(c: &mut Conn, wait: Duration) -> bool {
    c.read_for(wait).is_empty()
}

#[test]
fn frontend_maxconn_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "{DEFAULTS}frontend limited\n  maxconn 2\n  bind 127.0.0.1:{{{{P0}}}}\n{WHO}\
         frontend free\n  bind 127.0.0.1:{{{{P1}}}}\n{WHO}"
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut a = s.conn(0);
        let mut b = s.conn(0);
        assert_eq!(a.get("/").unwrap().status, 200);
        assert_eq!(b.get("/").unwrap().status, 200);
        // The third connects (kernel backlog) but is not served ...
        let mut c = s.conn(0);
        c.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let waited = unanswered(&mut c, Duration::from_millis(500));
        // ... while another frontend still is ...
        let other = http_get(s.addr(1), "/").status;
        // ... and it is served as soon as one closes.
        drop(a);
        let after = c.read_response().map(|r| r.status).ok();
        assert_eq!(b.get("/again").unwrap().status, 200);
        (waited, other, after)
    });
    assert_eq!(h, (true, 200, Some(200)), "haproxy");
    assert_eq!(r, h, "rproxy differs from haproxy");
}

#[test]
fn global_maxconn_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "global\n  maxconn 2\n{DEFAULTS}frontend one\n  bind 127.0.0.1:{{{{P0}}}}\n{WHO}\
         frontend two\n  bind 127.0.0.1:{{{{P1}}}}\n{WHO}"
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut a = s.conn(0);
        let mut b = s.conn(1);
        assert_eq!(a.get("/").unwrap().status, 200);
        assert_eq!(b.get("/").unwrap().status, 200);
        // Both frontends are full now: the limit is process-wide.
        let mut c = s.conn(0);
        c.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut d = s.conn(1);
        d.send(b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let waited = (
            unanswered(&mut c, Duration::from_millis(400)),
            unanswered(&mut d, Duration::from_millis(100)),
        );
        // One closes: one waiting connection gets its place; the second closes: the other.
        drop(a);
        drop(b);
        let after = (
            c.read_response().map(|r| r.status).ok(),
            d.read_response().map(|r| r.status).ok(),
        );
        (waited, after)
    });
    assert_eq!(h, ((true, true), (Some(200), Some(200))), "haproxy");
    assert_eq!(r, h, "rproxy differs from haproxy");
}

/// The accept backlog of the socket listening on `port` (ss's Send-Q for a listener).
fn backlog_of(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().nth(2)?.parse().ok()
}

fn unix_backlog_of(path: &Path) -> Option<u32> {
    let out = Command::new("ss").args(["-lxH"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let p = path.to_string_lossy().into_owned();
    text.lines()
        .find(|l| {
            l.split_whitespace()
                .any(|w| w == p || w.starts_with(&format!("{p}.")))
        })
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
}

#[test]
fn backlog_side_by_side() {
    if !require(have_program("ss"), "ss (iproute2) not installed") {
        return;
    }
    let run = |engine: Engine, global: &str| {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("b.sock");
        let ports = free_ports(6);
        let cfg = format!(
            "{global}{DEFAULTS}frontend f1\n  bind 127.0.0.1:{}\n  bind 127.0.0.1:{} backlog 7\n  \
             bind unix@{}\n{WHO}\
             frontend f2\n  maxconn 33\n  bind 127.0.0.1:{}\n  bind 127.0.0.1:{} maxconn 5\n{WHO}\
             frontend f3\n  backlog 12\n  bind 127.0.0.1:{}\n  bind 127.0.0.1:{} backlog 3\n{WHO}",
            ports[0],
            ports[1],
            sock.display(),
            ports[2],
            ports[3],
            ports[4],
            ports[5]
        );
        let _p = Proxy::start_engine(engine, &cfg);
        let mut out: Vec<Option<u32>> = ports.iter().map(|&p| backlog_of(p)).collect();
        out.push(unix_backlog_of(&sock));
        out
    };
    for global in ["global\n  maxconn 50\n", ""] {
        let r = run(Engine::Rproxy, global);
        if !global.is_empty() {
            assert_eq!(
                r,
                [
                    Some(50),
                    Some(7),
                    Some(33),
                    Some(5),
                    Some(12),
                    Some(3),
                    Some(50)
                ],
                "rproxy"
            );
        }
        // Without a global maxconn each derives its own from the descriptor limit; the
        // kernel's cap makes them equal where somaxconn is the usual 4096 or less.
        let capped = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .is_some_and(|m| m <= 4096);
        if require_haproxy() && (!global.is_empty() || capped) {
            assert_eq!(
                run(Engine::Haproxy, global),
                r,
                "haproxy vs rproxy ({global:?})"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Start-up time

/// Spawns `engine` on a small configuration and measures until its socket listens.
fn time_to_listen(engine: Engine) -> Duration {
    let m = MockServer::start("m");
    let port = free_port();
    let cfg = format!(
        "global\n  maxconn 1000\n{DEFAULTS}frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
         backend be\n  server s1 {}\n",
        m.addr_str()
    );
    let t0 = Instant::now();
    let mut p = Proxy::spawn(engine, &cfg, &[]);
    let up = eventually(Duration::from_secs(5), || {
        listening(local(port)) || !p.running()
    });
    let took = t0.elapsed();
    assert!(
        up && p.running(),
        "{} did not listen: {}",
        engine.name(),
        p.stderr_text()
    );
    assert_eq!(http_get(local(port), "/").status, 200);
    took
}

#[test]
fn listens_quickly_after_exec() {
    // Best of three: the figure is printed, the bound is generous (the target is
    // ~50 ms on an idle machine; tests share a loaded one).
    let best = (0..3)
        .map(|_| time_to_listen(Engine::Rproxy))
        .min()
        .unwrap();
    println!(
        "rproxy listening {:.1} ms after spawn (best of 3)",
        best.as_secs_f64() * 1e3
    );
    assert!(
        best < Duration::from_secs(2),
        "rproxy took {best:?} to listen"
    );
    if require_haproxy() {
        let h = (0..3)
            .map(|_| time_to_listen(Engine::Haproxy))
            .min()
            .unwrap();
        println!(
            "haproxy listening {:.1} ms after spawn (best of 3)",
            h.as_secs_f64() * 1e3
        );
    }
}

#[test]
fn bad_inherited_descriptor_stops_the_start() {
    // Nothing open on 9; standard input (0) is no socket: both refuse to start.
    for n in [9, 0] {
        let cfg = format!("{DEFAULTS}frontend fe\n  bind fd@{n}\n{WHO}");
        let mut engines = vec![Engine::Rproxy];
        if require_haproxy() {
            engines.push(Engine::Haproxy);
        }
        for engine in engines {
            let mut p = Proxy::spawn(engine, &cfg, &[]);
            let st = p.wait_exit(Duration::from_secs(5));
            assert_eq!(
                st.and_then(|s| s.code()),
                Some(1),
                "{} fd@{n}",
                engine.name()
            );
            let err = p.stderr_text();
            assert!(
                err.contains("[ALERT]")
                    && (err.contains(&format!("'{n}'")) || err.contains(&format!("fd@{n}"))),
                "{}: {err}",
                engine.name()
            );
        }
    }
}

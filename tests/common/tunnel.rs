//! Plain TCP servers and clients for the `mode tcp` tests, plain and spliced
//! (tests/tcp_real.rs, tests/splice.rs): an echo server, a server that answers after the
//! client's FIN, a half-closing client, and whether an idle tunnel to the echo server
//! survives a pause under each engine.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use super::ports::{free_port, local};
use super::proxy::{Engine, Proxy};

/// An echo server reading up to `buf` bytes at a time, until the client closes; its port.
pub fn echo_server(buf: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = vec![0u8; buf];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A server that reads until the client's FIN, then answers `got N bytes` and closes: a
/// proxy that closes on the first FIN loses the answer. Its port.
pub fn half_close_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut got = Vec::new();
                if c.read_to_end(&mut got).is_ok() {
                    let _ = c.write_all(format!("got {} bytes\n", got.len()).as_bytes());
                }
            });
        }
    });
    port
}

/// Sends `data` to `port`, shuts down the write side, reads the answer to the end.
pub fn send_then_fin(port: u16, data: &[u8]) -> String {
    let mut c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    c.write_all(data).expect("write");
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Idles `idle` on a fresh connection to `port` after one echoed line, then sends
/// another: whether it came back (false when the proxy closed the connection meanwhile).
pub fn echo_after_idle(port: u16, idle: Duration) -> bool {
    let mut c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(3))).ok();
    c.write_all(b"one\n").expect("write");
    let mut b = [0u8; 16];
    if c.read(&mut b).unwrap_or(0) != 4 {
        return false;
    }
    // Waiting on the socket itself: a close by the proxy ends the wait early (nothing
    // else may arrive).
    c.set_read_timeout(Some(idle)).ok();
    if c.read(&mut b).is_ok() {
        return false;
    }
    c.set_read_timeout(Some(Duration::from_secs(3))).ok();
    if c.write_all(b"two\n").is_err() {
        return false;
    }
    matches!(c.read(&mut b), Ok(4))
}

/// Under haproxy, then rproxy: `cfg(port, client_timeout, tunnel_timeout)` started as
/// ("200ms", "10s") and as ("10s", "300ms"), and whether a connection idle 1 s through
/// the first and one idle 1.5 s through the second still echo. Returns
/// `(engine, long, short)` for each engine, haproxy first.
pub fn tunnel_idle_runs(
    cfg: impl Fn(u16, &str, &str) -> String,
) -> Vec<(&'static str, bool, bool)> {
    let mut got = Vec::new();
    for engine in [Engine::Haproxy, Engine::Rproxy] {
        let (f1, f2) = (free_port(), free_port());
        let _long = Proxy::start_engine(engine, &cfg(f1, "200ms", "10s"));
        let _short = Proxy::start_engine(engine, &cfg(f2, "10s", "300ms"));
        let long = echo_after_idle(f1, Duration::from_millis(1000));
        let short = echo_after_idle(f2, Duration::from_millis(1500));
        got.push((engine.name(), long, short));
    }
    got
}

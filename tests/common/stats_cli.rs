//! Clients of the stats socket (runtime API), shared by the tests that drive rproxy and
//! haproxy through it: one command line (or several, `\n`-separated) and the whole
//! answer until the server closes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proxy::{Engine, Proxy, eventually};

/// Sends `cmds` on a unix stats socket and reads the answer to the close.
pub fn ask(sock: &Path, cmds: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(cmds.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`ask`] on a TCP stats socket (`ipv4@`).
pub fn ask_tcp(addr: std::net::SocketAddr, cmds: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(cmds.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`ask`], the input ended after `cmds` as socat ends it (a payload cut short is then
/// dropped at once).
pub fn ask_eof(sock: &Path, cmds: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(cmds.as_bytes()).expect("write");
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `show servers state` on `sock`, the seconds-since-change column (the tenth) blanked
/// as `T` on every line that is not a comment and has more than `min_fields` fields.
pub fn servers_state(sock: &Path, min_fields: usize) -> String {
    ask(sock, "show servers state\n")
        .lines()
        .map(|l| {
            let mut w: Vec<&str> = l.split(' ').collect();
            if w.len() > min_fields && !l.starts_with('#') {
                w[9] = "T";
            }
            w.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts `engine` on `cfg` and waits (5 s) until every stats socket in `socks` exists;
/// panics with the proxy's stderr when one does not.
pub fn start_with_sockets(engine: Engine, cfg: &str, socks: &[PathBuf]) -> Proxy {
    let proxy = Proxy::start_engine(engine, cfg);
    assert!(
        eventually(Duration::from_secs(5), || socks.iter().all(|s| s.exists())),
        "{}",
        proxy.stderr_text()
    );
    proxy
}

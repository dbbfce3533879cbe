//! A syslog receiver on a loopback UDP port, read on demand by the traffic-log tests.

use std::net::UdpSocket;
use std::time::Duration;

pub struct Syslog {
    sock: UdpSocket,
}

impl Syslog {
    pub fn new() -> Syslog {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
        Syslog { sock }
    }
    pub fn addr(&self) -> String {
        self.sock.local_addr().expect("addr").to_string()
    }
    /// The next datagram, waiting up to `t`.
    pub fn next_within(&self, t: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(t)).ok()?;
        let mut b = vec![0u8; 65536];
        let n = self.sock.recv(&mut b).ok()?;
        Some(String::from_utf8_lossy(&b[..n]).into_owned())
    }
    pub fn next(&self) -> String {
        self.next_within(Duration::from_secs(4))
            .expect("a log line within 4 s")
    }
    /// Takes whatever is queued (waiting `t` for stragglers).
    pub fn drain(&self, t: Duration) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = self.next_within(t) {
            v.push(l);
        }
        v
    }
}

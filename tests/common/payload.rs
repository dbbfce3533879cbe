//! Raw TCP payload helpers for the content-inspection tests: a client that sends its
//! bytes in timed parts, and a hand-built ClientHello.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// Sends `parts` a little apart, then reads until `want` bytes came, the peer closed or
/// 3 s passed. Returns what came back.
pub fn exchange(addr: SocketAddr, parts: &[&[u8]], want: usize) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // Pacing, not synchronisation: the bytes must arrive in separate reads.
            thread::sleep(Duration::from_millis(200));
        }
        if c.write_all(p).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < want {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// A minimal TLS 1.2-style ClientHello record naming `name`.
pub fn client_hello(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut sni = ((n.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(n.len() as u16).to_be_bytes());
    sni.extend_from_slice(n);
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sni);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

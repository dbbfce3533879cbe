//! A server that sends interim (1xx) answers without end: an HTTP/1.1 client gets each
//! one at the pace it reads them, while an HTTP/2 stream relays the first 100 and drops
//! the rest (HTTP/2 frames of interim answers are not flow-controlled, so they would
//! queue without bound for a client that does not read). The final answer arrives
//! either way. (HAProxy 2.6.12, for reference, relays 264 of 1,000 102s on either
//! protocol, then answers 504 when `timeout server` ends: there is nothing to compare.)

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::{Proxy, free_port, have_program, require};

/// Answers every request with `n` `102 Processing` then `200 OK` and a 2-byte body.
fn flooding_server(n: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&b[..k]),
                    }
                }
                let mut out = b"HTTP/1.1 102 Processing\r\n\r\n".repeat(n);
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                let _ = c.write_all(&out);
            });
        }
    });
    addr
}

/// curl's view: how many `102` it printed, and the body.
fn curl(args: &[&str], url: &str) -> (usize, String) {
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "8"])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("curl runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let n = err
        .lines()
        .filter(|l| l.starts_with("< HTTP/") && l.contains(" 102"))
        .count();
    (n, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn endless_interim_answers_are_capped_on_http2_streams() {
    if !require(have_program("curl"), "curl is not installed") {
        return;
    }
    let srv = flooding_server(1000);
    let (h2, h1) = (free_port(), free_port());
    let _p = Proxy::start(&format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
         frontend fe\n  bind 127.0.0.1:{h2} proto h2\n  bind 127.0.0.1:{h1}\n  default_backend be\n\
         backend be\n  server s1 {srv}\n"
    ));
    let url = |p: u16| format!("http://127.0.0.1:{p}/");
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &url(h2)),
        (100, "ok".to_string())
    );
    assert_eq!(curl(&["--http1.1"], &url(h1)), (1000, "ok".to_string()));
}

//! The PROXY protocol: `send-proxy`/`send-proxy-v2` towards servers (HTTP and TCP mode) and
//! `accept-proxy` on binds, side by side with haproxy 2.6.
//!
//! HAProxy 2.6.12 facts these tests pin (observed when writing them):
//! - `send-proxy` sends `PROXY TCP4 <client ip> <frontend ip> <client port> <frontend
//!   port>\r\n` first on each server connection; `send-proxy-v2` the 16-byte v2 header with
//!   command PROXY, family TCP4 and the 12 address bytes, no TLV.
//! - With `accept-proxy` the header's addresses are the client's everywhere (`src`,
//!   `src_port`, `dst`, X-Forwarded-For, ACLs), and what the server receives with
//!   `send-proxy` names them again.
//! - A connection to an `accept-proxy` bind without a valid header is closed without a byte
//!   of answer (no 400).

mod common;
mod real_servers;
use common::*;
use real_servers::{Daemon, mariadb_client, start_mariadb_with};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// A server that records the first bytes of each connection (up to the end of an HTTP head,
/// or a `hello` line in TCP mode), then answers a small HTTP response and closes.
struct Capture {
    addr: SocketAddr,
    rx: mpsc::Receiver<Vec<u8>>,
}

impl Capture {
    fn start() -> Capture {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { return };
                let _ = c.set_read_timeout(Some(Duration::from_secs(3)));
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                // (A v2 header itself starts with CRLF CRLF.)
                while !contains(&got[got.len().min(16)..], b"\r\n\r\n")
                    && !contains(&got, b"hello\n")
                {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                if tx.send(got).is_err() {
                    return;
                }
            }
        });
        Capture { addr, rx }
    }
    fn next(&self) -> Vec<u8> {
        self.rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the server received a connection")
    }
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

/// The PROXY header at the start of `buf` (v1 line or v2 block).
fn pp_header(buf: &[u8]) -> Vec<u8> {
    if buf.starts_with(b"PROXY ") {
        let end = buf.iter().position(|&b| b == b'\n').expect("v1 line end");
        return buf[..=end].to_vec();
    }
    assert!(buf.len() >= 16, "no PROXY header in {buf:?}");
    let len = 16 + u16::from_be_bytes([buf[14], buf[15]]) as usize;
    buf[..len.min(buf.len())].to_vec()
}

fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    format!(
        "PROXY TCP4 {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only here");
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&s.ip().octets());
    h.extend_from_slice(&d.ip().octets());
    h.extend_from_slice(&s.port().to_be_bytes());
    h.extend_from_slice(&d.port().to_be_bytes());
    h
}

#[test]
fn send_proxy_headers_are_byte_exact_with_haproxy() {
    if !require_haproxy() {
        return;
    }
    let cap = Capture::start();
    let srv = cap.addr;
    let t = format!(
        "{DEFAULTS}\
         frontend h1\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend bh1\n\
         backend bh1\n  server s {srv} send-proxy\n\
         frontend h2\n  bind 127.0.0.1:{{{{P1}}}}\n  default_backend bh2\n\
         backend bh2\n  server s {srv} send-proxy-v2\n\
         frontend t1\n  mode tcp\n  bind 127.0.0.1:{{{{P2}}}}\n  default_backend bt1\n\
         backend bt1\n  mode tcp\n  server s {srv} send-proxy\n\
         frontend t2\n  mode tcp\n  bind 127.0.0.1:{{{{P3}}}}\n  default_backend bt2\n\
         backend bt2\n  mode tcp\n  server s {srv} send-proxy-v2\n"
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for i in 0..4 {
            let fe = s.addr(i);
            let mut c = Conn::open(fe);
            let me = c.local_addr();
            if i < 2 {
                let resp = c.get("/pp").expect("response");
                assert_eq!(resp.status, 200, "{}", s.name());
            } else {
                c.send(b"hello\n").expect("send");
            }
            let got = cap.next();
            let hdr = pp_header(&got);
            let want = if i % 2 == 0 { v1(me, fe) } else { v2(me, fe) };
            assert_eq!(hdr, want, "{} frontend {i}", s.name());
            // What follows the header is the client's data.
            let rest = &got[hdr.len()..];
            if i < 2 {
                assert!(rest.starts_with(b"GET /pp HTTP/1.1\r\n"), "{rest:?}");
            } else {
                assert_eq!(rest, b"hello\n");
            }
            out.push(hdr.len());
        }
        out
    });
    assert_eq!(h, r, "header lengths haproxy vs rproxy");
}

/// Answers with the addresses the proxy took for the client's, and denies 10.6.6.6.
const WHO: &str = "  http-request deny if { src 10.6.6.6 }\n  http-request return status 200 content-type text/plain lf-string \"src=%[src]:%[src_port] dst=%[dst]:%[dst_port]\" if { path /who }\n";

fn v1_line(src: &str, dst: &str, sp: u16, dp: u16) -> Vec<u8> {
    format!("PROXY TCP4 {src} {dst} {sp} {dp}\r\n").into_bytes()
}

#[test]
fn accept_proxy_addresses_are_the_clients() {
    if !require_haproxy() {
        return;
    }
    let mock = MockServer::start("m");
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy\n  option forwardfor\n{WHO}  default_backend b\n\
         backend b\n  server m {}\n",
        mock.addr_str()
    );
    let (h, r) = side_by_side(&t, |s| {
        let fe = s.addr(0);
        let req = b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let mut out = Vec::new();
        // v1 and v2 headers, each followed by the request in the same write.
        let sa: SocketAddr = "10.1.2.3:4444".parse().unwrap();
        let da: SocketAddr = "10.9.9.9:80".parse().unwrap();
        for hdr in [v1_line("10.1.2.3", "10.9.9.9", 4444, 80), v2(sa, da)] {
            let mut b = hdr.clone();
            b.extend_from_slice(req);
            let resp = parse_response(&send_raw(fe, &b)).expect("response");
            out.push(format!("{} {}", resp.status, resp.body_text()));
        }
        // The header sent alone first, the request after.
        let mut c = Conn::open(fe);
        c.send(&v1_line("10.1.2.4", "10.9.9.9", 5555, 81)).unwrap();
        thread::sleep(Duration::from_millis(50));
        let resp = c.roundtrip(req).expect("response");
        out.push(format!("{} {}", resp.status, resp.body_text()));
        // `src`-based ACLs see the header's address.
        let mut b = v1_line("10.6.6.6", "10.9.9.9", 1, 80);
        b.extend_from_slice(req);
        let resp = parse_response(&send_raw(fe, &b)).expect("response");
        out.push(resp.status.to_string());
        // X-Forwarded-For names the header's client.
        let mut b = v1_line("10.7.7.7", "10.9.9.9", 2, 80);
        b.extend_from_slice(b"GET /fwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = parse_response(&send_raw(fe, &b)).expect("response");
        assert_eq!(resp.status, 200, "{}", s.name());
        let xff = mock
            .last()
            .and_then(|m| m.header("x-forwarded-for").map(String::from));
        out.push(format!("xff={}", xff.unwrap_or_default()));
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h[0], "200 src=10.1.2.3:4444 dst=10.9.9.9:80");
    assert_eq!(h[1], "200 src=10.1.2.3:4444 dst=10.9.9.9:80");
    assert_eq!(h[2], "200 src=10.1.2.4:5555 dst=10.9.9.9:81");
    assert_eq!(h[3], "403");
    assert_eq!(h[4], "xff=10.7.7.7");
}

#[test]
fn missing_or_bad_header_closes_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy\n{WHO}\
         frontend ft\n  mode tcp\n  bind 127.0.0.1:{{{{P1}}}} accept-proxy\n  default_backend b\n\
         backend b\n  mode tcp\n  server s 127.0.0.1:{} \n",
        refused_port()
    );
    let cases: [&[u8]; 6] = [
        b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PROXY TCP4 1.2.3.4\r\nGET /who HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1x 80\r\nGET /who HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PROXY FOO 1.2.3.4 5.6.7.8 1 80\r\nGET /who HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c012345678901GET /who HTTP/1.1\r\n\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 80\nGET /who HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for port in [0, 1] {
            for c in cases {
                let got = send_raw_timeout(s.addr(port), c, Duration::from_secs(3));
                out.push(String::from_utf8_lossy(&got).into_owned());
            }
        }
        // A client that says nothing and closes.
        let mut c = Conn::open(s.addr(0));
        let _ = c.stream().shutdown(std::net::Shutdown::Write);
        c.set_timeout(Duration::from_secs(3));
        assert!(c.wait_closed(), "{}", s.name());
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert!(h.iter().all(|o| o.is_empty()), "{h:?}");
}

#[test]
fn chained_send_proxy_v2_into_accept_proxy() {
    // rproxy's send-proxy-v2 (HTTP and TCP) into its own accept-proxy: the inner frontend
    // sees the outer client's address and port.
    let p = free_ports(4);
    let cfg = format!(
        "{DEFAULTS}\
         frontend outer\n  bind 127.0.0.1:{}\n  default_backend to_inner\n\
         backend to_inner\n  server i 127.0.0.1:{} send-proxy-v2\n\
         frontend inner\n  bind 127.0.0.1:{} accept-proxy\n{WHO}\
         frontend outer_tcp\n  mode tcp\n  bind 127.0.0.1:{}\n  default_backend to_inner_tcp\n\
         backend to_inner_tcp\n  mode tcp\n  server i 127.0.0.1:{} send-proxy\n",
        p[0], p[1], p[1], p[2], p[1]
    );
    let _px = Proxy::start(&cfg);
    for port in [p[0], p[2]] {
        let mut c = Conn::open(local(port));
        let me = c.local_addr();
        let resp = c.get("/who").expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.body_text(),
            format!("src=127.0.0.1:{} dst=127.0.0.1:{port}", me.port())
        );
    }
}

#[test]
fn accept_proxy_then_send_proxy_in_tcp_mode_names_the_original_client() {
    if !require_haproxy() {
        return;
    }
    let cap = Capture::start();
    let t = format!(
        "{DEFAULTS}frontend ft\n  mode tcp\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy\n  default_backend b\n\
         backend b\n  mode tcp\n  balance source\n  server s {} send-proxy\n",
        cap.addr
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut c = Conn::open(s.addr(0));
        let sa: SocketAddr = "10.1.2.3:4444".parse().unwrap();
        let da: SocketAddr = "10.9.9.9:80".parse().unwrap();
        let mut b = v2(sa, da);
        b.extend_from_slice(b"hello\n");
        c.send(&b).unwrap();
        let got = cap.next();
        String::from_utf8_lossy(&got).into_owned()
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h, "PROXY TCP4 10.1.2.3 10.9.9.9 4444 80\r\nhello\n");
    let _ = TcpStream::connect(cap.addr);
}

// ---------------------------------------------------------------------------------------
// A real server reading the header: MariaDB with `proxy_protocol_networks`.

/// A throwaway MariaDB that trusts PROXY headers from loopback, with a user `pp`@`%`.
fn start_mariadb_pp() -> Option<Daemon> {
    let db = start_mariadb_with(&["--proxy-protocol-networks=127.0.0.0/8"])?;
    assert!(
        mariadb_client(db.dir.path(), "CREATE USER 'pp'@'%'; FLUSH PRIVILEGES;"),
        "CREATE USER failed"
    );
    Some(db)
}

/// `SELECT USER()` through `port`.
fn mariadb_user_via(port: u16) -> String {
    let out = std::process::Command::new("mariadb")
        .arg("--no-defaults")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "--protocol=tcp"])
        .args(["-upp", "-N", "-B", "-e", "SELECT USER()"])
        .output()
        .expect("mariadb client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// A relay that opens each connection to `to` with a PROXY v1 header naming `client`,
/// then copies bytes both ways: stands for a load balancer in front of rproxy.
fn proxy_header_relay(to: SocketAddr, client: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let Ok(mut up) = TcpStream::connect(to) else {
                continue;
            };
            let _ = up.write_all(
                format!("PROXY TCP4 {client} 127.0.0.1 40000 {}\r\n", to.port()).as_bytes(),
            );
            let (Ok(mut c2), Ok(mut up2)) = (c.try_clone(), up.try_clone()) else {
                continue;
            };
            thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut up2);
                let _ = up2.shutdown(std::net::Shutdown::Write);
            });
            let mut c = c;
            thread::spawn(move || {
                let _ = std::io::copy(&mut up, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn mariadb_behind_send_proxy_sees_the_client_address() {
    let Some(db) = start_mariadb_pp() else {
        return;
    };
    let p = free_ports(2);
    // A client known only by the PROXY header rproxy accepts (10.1.2.3 / 10.4.5.6),
    // passed on to MariaDB in v2 and in v1.
    let cfg = format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
         listen v2\n  bind 127.0.0.1:{}  accept-proxy\n  option tcpka\n  balance leastconn\n  server db 127.0.0.1:{} send-proxy-v2\n\
         listen v1\n  bind 127.0.0.1:{} accept-proxy\n  server db 127.0.0.1:{} send-proxy\n",
        p[0], db.port, p[1], db.port
    );
    let _px = Proxy::start(&cfg);
    let r2 = proxy_header_relay(local(p[0]), "10.1.2.3");
    let r1 = proxy_header_relay(local(p[1]), "10.4.5.6");
    assert_eq!(mariadb_user_via(r2.port()), "pp@10.1.2.3");
    assert_eq!(mariadb_user_via(r1.port()), "pp@10.4.5.6");
    // Without the header rproxy closes, as haproxy does: MariaDB is never reached.
    assert_ne!(mariadb_user_via(p[0]), "pp@127.0.0.1");
}

/// A connection to `to` from `from` (any port).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, SockAddr, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let f: SocketAddr = format!("{from}:0").parse().expect("addr");
    s.bind(&SockAddr::from(f)).expect("bind");
    s.connect(&SockAddr::from(to)).expect("connect");
    s.into()
}

#[test]
fn expect_proxy_layer4_applies_where_its_condition_says() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n\
         \x20 tcp-request connection expect-proxy layer4 if {{ src 127.0.0.1 }}\n{WHO}"
    );
    let req = b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (h, r) = side_by_side(&t, |s| {
        let fe = s.addr(0);
        let mut out = Vec::new();
        for (from, hdr) in [
            ("127.0.0.1", true),
            ("127.0.0.1", false),
            ("127.0.0.2", false),
        ] {
            let mut c = connect_from(from, fe);
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut b = if hdr {
                v1_line("10.1.2.3", "10.9.9.9", 4444, 80)
            } else {
                Vec::new()
            };
            b.extend_from_slice(req);
            c.write_all(&b).unwrap();
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            let text = String::from_utf8_lossy(&got).into_owned();
            out.push(
                text.split("\r\n\r\n")
                    .nth(1)
                    .unwrap_or("")
                    .replace(&format!(":{}", c.local_addr().unwrap().port()), ":PORT")
                    .replace(&format!(":{}", fe.port()), ":FE"),
            );
        }
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h[0], "src=10.1.2.3:4444 dst=10.9.9.9:80");
    assert_eq!(h[1], "");
    assert_eq!(h[2], "src=127.0.0.2:PORT dst=127.0.0.1:FE");
}

#[test]
fn connection_rules_see_the_real_address_not_the_headers() {
    if !require_haproxy() {
        return;
    }
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy\n\
         \x20 tcp-request connection reject if {{ src 10.0.0.0/8 }}\n\
         \x20 tcp-request connection reject if {{ src 127.0.0.2 }}\n{WHO}"
    );
    let req = b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (h, r) = side_by_side(&t, |s| {
        let mut out = Vec::new();
        for from in ["127.0.0.1", "127.0.0.2"] {
            let mut c = connect_from(from, s.addr(0));
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut b = v1_line("10.1.2.3", "10.9.9.9", 4444, 80);
            b.extend_from_slice(req);
            let _ = c.write_all(&b);
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            let text = String::from_utf8_lossy(&got).into_owned();
            out.push(text.split("\r\n\r\n").nth(1).unwrap_or("").to_string());
        }
        out
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h, ["src=10.1.2.3:4444 dst=10.9.9.9:80", ""]);
}

#[test]
fn balance_source_hashes_the_headers_client_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let ms: Vec<MockServer> = (0..3)
        .map(|i| MockServer::start(&format!("s{i}")))
        .collect();
    let mut t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy\n  default_backend b\n\
         backend b\n  balance source\n"
    );
    for (i, m) in ms.iter().enumerate() {
        t += &format!("  server s{i} {}\n", m.addr_str());
    }
    let (h, r) = side_by_side(&t, |s| {
        (1..=12)
            .map(|i| {
                let mut b = v1_line(&format!("10.0.{i}.{}", i * 7), "10.9.9.9", 1000, 80);
                b.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let resp = parse_response(&send_raw(s.addr(0), &b)).expect("response");
                resp.server().unwrap_or("-").to_string()
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    // The header's address is what is hashed: the clients spread over the servers.
    assert!(h.iter().any(|s| s != &h[0]), "{h:?}");
}

/// Through python3's ssl module: the PROXY line in clear, then TLS, then a GET; the body.
fn get_over_tls_after_header(port: u16, header: &str) -> String {
    let script = format!(
        "import socket,ssl\n\
         s=socket.create_connection(('127.0.0.1',{port}));s.settimeout(3)\n\
         s.sendall(b'{header}\\r\\n')\n\
         c=ssl.create_default_context();c.check_hostname=False;c.verify_mode=ssl.CERT_NONE\n\
         t=c.wrap_socket(s,server_hostname='x')\n\
         t.sendall(b'GET /who HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n\
         d=b''\n\
         while True:\n\
         \x20   try:\n\
         \x20       x=t.recv(4096)\n\
         \x20   except Exception:\n\
         \x20       break\n\
         \x20   if not x: break\n\
         \x20   d+=x\n\
         print(d.split(b'\\r\\n\\r\\n',1)[-1].decode())\n"
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn accept_proxy_comes_before_the_tls_handshake_like_haproxy() {
    if !require_haproxy() || !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(pem) = make_pem(dir.path(), "site.pem") else {
        panic!("no certificate");
    };
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy ssl crt {}\n{WHO}",
        pem.display()
    );
    let (h, r) = side_by_side(&t, |s| {
        get_over_tls_after_header(s.port(0), "PROXY TCP4 10.1.2.3 10.9.9.9 4444 443")
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h, "src=10.1.2.3:4444 dst=10.9.9.9:443");
}

#[test]
fn send_proxy_goes_in_clear_before_server_tls_like_haproxy() {
    if !require_haproxy() || !require(have_program("openssl"), "openssl not installed") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(pem) = make_pem(dir.path(), "origin.pem") else {
        panic!("no certificate");
    };
    let port = free_port();
    // A TLS origin that first reads a PROXY v1 line in clear, then answers with it.
    let script = format!(
        "import socket,ssl\n\
         l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         l.bind(('127.0.0.1',{port}));l.listen(8)\n\
         c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER);c.load_cert_chain('{pem}')\n\
         while True:\n\
         \x20   s,_=l.accept();s.settimeout(3)\n\
         \x20   h=b''\n\
         \x20   while not h.endswith(b'\\n'):\n\
         \x20       x=s.recv(1)\n\
         \x20       if not x: break\n\
         \x20       h+=x\n\
         \x20   try:\n\
         \x20       t=c.wrap_socket(s,server_side=True)\n\
         \x20       r=b''\n\
         \x20       while b'\\r\\n\\r\\n' not in r: r+=t.recv(4096)\n\
         \x20       b=h.strip()\n\
         \x20       t.sendall(b'HTTP/1.1 200 OK\\r\\ncontent-length: %d\\r\\nconnection: close\\r\\n\\r\\n' % len(b) + b)\n\
         \x20       t.close()\n\
         \x20   except Exception:\n\
         \x20       s.close()\n",
        pem = pem.display()
    );
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _origin = Kill(
        std::process::Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .spawn()
            .expect("python3"),
    );
    assert!(wait_listening(&[port]), "origin not listening");
    let t = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}} accept-proxy\n  default_backend b\n\
         backend b\n  server s 127.0.0.1:{port} ssl verify none send-proxy\n"
    );
    let (h, r) = side_by_side(&t, |s| {
        let mut b = v1_line("10.1.2.3", "10.9.9.9", 4444, 80);
        b.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = parse_response(&send_raw(s.addr(0), &b)).expect("response");
        format!("{} {}", resp.status, resp.body_text())
    });
    assert_eq!(h, r, "haproxy vs rproxy");
    assert_eq!(h, "200 PROXY TCP4 10.1.2.3 10.9.9.9 4444 80");
}

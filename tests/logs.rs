//! Traffic logs sent to a UDP syslog receiver in the test: `option httplog`, `option
//! tcplog`, `option httplog clf`, a custom `log-format`, the syslog framings, `len`,
//! `log-tag`, `dontlognull`, `log-separate-errors` and the "Connect from" line, each side
//! by side with haproxy 2.6 on the same configuration and traffic, lines compared after
//! normalising what differs between two runs (times, ports, pids, byte counts of
//! generated pages); and rproxy's own lines checked field by field.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::lognorm::{self, Sub, assert_same_lines, message, with_log_and_server};
use common::sbs::{Side, fill, require_haproxy, side_by_side};
use common::syslog::Syslog;
use common::{MockServer, Proxy, TcpMock, free_port, header_if, send_raw_timeout};

/// What differs between two runs of the same exchange: client ports, dates, timers (kept:
/// -1 or not), byte counts and connection counts.
const SUBS: &[Sub] = &[
    lognorm::PORT,
    lognorm::DATE,
    // httplog / tcplog timers
    (
        r" (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+) (\d{3}) \d+ ",
        " T$1/T$2/T$3/T$4/T$5 $6 B ",
    ),
    (r" (-?\d+)/(-?\d+)/(-?\d+) \d+ ", " T$1/T$2/T$3 B "),
    // actconn/feconn: a previous connection may still be closing in either engine.
    (r" \d+/\d+/(\d+)/(\d+)/(\+?\d+) ", " A/F/$1/$2/$3 "),
];

/// [`SUBS`], then timer values: -1 stays, any other number becomes N.
fn normalise(msg: &str) -> String {
    let s = lognorm::apply(msg, SUBS);
    let re = regex::Regex::new(r"T(-1|\d+)").expect("regex");
    re.replace_all(&s, |c: &regex::Captures| {
        if &c[1] == "-1" { "-1" } else { "N" }.to_string()
    })
    .into_owned()
}

/// Sends raw bytes on a new connection and reads until the proxy closes (or 3 s).
fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    send_raw_timeout(addr, bytes, Duration::from_secs(3))
}

/// The start most configurations here share: the syslog target, `mode http` with
/// `option httplog` and short timeouts (a macro, so that `concat!` keeps each
/// configuration one literal).
macro_rules! httplog_head {
    () => {
        "
global
    log {{LOG}} local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 2s
    timeout server 2s
"
    };
}

const HTTP_TEMPLATE: &str = "
global
    log {{LOG}} local0
defaults
    mode http
    log global
    option httplog
    retries 0
    timeout connect 1s
    timeout client 2s
    timeout http-request 600ms
    timeout server 400ms
frontend fe
    bind 127.0.0.1:{{P0}}
    capture request header Host len 20
    capture response header X-Server len 10
    http-request deny if { path /deny }
    use_backend nosrv if { path /nosrv }
    use_backend refused if { path /refused }
    use_backend big if { path /big }
    default_backend be
backend be
    server s1 {{SRV}}
backend big
    timeout server 5s
    server s1 {{SRV}}
backend nosrv
    server s1 {{SRV}} disabled
backend refused
    server s1 127.0.0.1:{{REFUSED}}
";

/// One exchange per error case; returns each engine's log messages, in order.
fn http_cases(side: &Side, log: &Syslog) -> Vec<String> {
    let a = side.addr(0);
    let mut out = Vec::new();
    let push = |out: &mut Vec<String>, what: &str| {
        let l = log.next();
        out.push(format!("{what}: {}", message(&l)));
    };
    // 200, 404 from the server, 503 without server, 403 deny, 503 refused, 504 timeout.
    for (path, mock) in [
        ("/ok", ""),
        ("/notfound", "status=404"),
        ("/nosrv", ""),
        ("/deny", ""),
        ("/refused", ""),
        ("/slow", "delay=1500"),
    ] {
        let h = header_if("x-mock", mock);
        let r = side.request("GET", path, &h, b"").expect("request");
        assert!(r.status >= 200, "{}: {path}", side.name());
        push(&mut out, path);
    }
    // 400 CR: closed before its first byte.
    drop(TcpStream::connect(a).expect("connect"));
    push(&mut out, "empty close");
    // 400: not HTTP.
    raw(a, b"GARBAGE\r\n\r\n");
    push(&mut out, "bad request");
    // 408: a head that never ends.
    raw(a, b"GET / HTTP/1.1\r\nhost: x\r\n");
    push(&mut out, "client timeout");
    // CD: the client leaves in the middle of a large response body.
    {
        let mut c = TcpStream::connect(a).expect("connect");
        c.write_all(b"GET /big HTTP/1.1\r\nhost: sbs.test\r\nx-mock: body=20000000\r\n\r\n")
            .expect("send");
        let mut b = [0u8; 4096];
        c.set_read_timeout(Some(Duration::from_secs(4))).ok();
        let _ = c.read(&mut b);
        drop(c);
        push(&mut out, "client abort");
    }
    out
}

#[test]
fn httplog_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let srv = MockServer::start("s1");
    let t = fill(
        HTTP_TEMPLATE,
        &[
            ("LOG", &log.addr()),
            ("SRV", &srv.addr_str()),
            ("REFUSED", &free_port().to_string()),
        ],
    );
    let (h, r) = side_by_side(&t, |side| {
        let v = http_cases(side, &log);
        log.drain(Duration::from_millis(100));
        v
    });
    for (h, r) in h.iter().zip(&r) {
        assert_eq!(normalise(r), normalise(h), "\nhaproxy: {h}\nrproxy:  {r}");
    }
    assert_eq!(h.len(), r.len());
}

/// rproxy's own httplog lines, field by field.
#[test]
fn httplog_fields() {
    let log = Syslog::new();
    let srv = MockServer::start("s1");
    let cfg = fill(
        concat!(
            httplog_head!(),
            "frontend fe
    bind 127.0.0.1:{{PORT}}
    capture request header Host len 5
    default_backend be
backend be
    server s1 {{SRV}}
"
        ),
        &[
            ("LOG", &log.addr()),
            ("SRV", &srv.addr_str()),
            ("PORT", &free_port().to_string()),
        ],
    );
    let p = Proxy::start(&cfg);
    let a = p.addrs()[0];
    let reply = raw(
        a,
        b"GET /a?b=1 HTTP/1.1\r\nhost: example.org\r\nx-mock: body=1000, delay=120\r\nconnection: close\r\n\r\n",
    );
    let line = log.next();
    assert!(line.starts_with("<134>"), "{line}");
    let msg = message(&line);
    let f: Vec<&str> = msg.split(' ').collect();
    assert_eq!(f.len(), 16, "{msg}");
    assert!(f[0].starts_with("127.0.0.1:"), "{msg}");
    assert!(
        f[1].starts_with('[') && f[1].ends_with(']') && f[1].len() == 26,
        "{msg}"
    );
    assert_eq!(f[2], "fe");
    assert_eq!(f[3], "be/s1");
    let t: Vec<i64> = f[4].split('/').map(|x| x.parse().expect("timer")).collect();
    assert_eq!(t.len(), 5);
    assert!(t.iter().all(|x| *x >= 0), "{msg}");
    // The server's delay is in Tr, and Ta covers it all.
    assert!(t[3] >= 100 && t[4] >= t[3], "{msg}");
    assert_eq!(f[5], "200");
    // %B: every byte the client received.
    assert_eq!(f[6], reply.len().to_string(), "{msg}");
    assert_eq!((f[7], f[8], f[9]), ("-", "-", "----"));
    assert_eq!(f[10], "1/1/0/0/0");
    assert_eq!(f[11], "0/0");
    assert_eq!(f[12], "{examp}");
    assert_eq!(&f[13..], ["\"GET", "/a?b=1", "HTTP/1.1\""]);
}

#[test]
fn tcplog_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let echo = TcpMock::echo();
    let t = fill(
        "
global
    log {{LOG}} local0
defaults
    mode tcp
    log global
    option tcplog
    retries 0
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
frontend fe2
    bind 127.0.0.1:{{P1}}
    default_backend refused
backend be
    server s1 {{SRV}}
backend refused
    server s1 127.0.0.1:{{REFUSED}}
",
        &[
            ("LOG", &log.addr()),
            ("SRV", &echo.addr_str()),
            ("REFUSED", &free_port().to_string()),
        ],
    );
    let (h, r) = side_by_side(&t, |side| {
        let mut out = Vec::new();
        let mut c = TcpStream::connect(side.addr(0)).expect("connect");
        c.write_all(b"hello").expect("send");
        let mut b = [0u8; 5];
        c.read_exact(&mut b).expect("echo");
        c.shutdown(std::net::Shutdown::Write).ok();
        let _ = c.read(&mut [0u8; 16]);
        drop(c);
        let l = log.next();
        // Both ways: 5 bytes to the client.
        assert!(message(&l).contains(" 5 -- "), "{}: {l}", side.name());
        out.push(message(&l).to_string());
        raw(side.addr(1), b"x");
        out.push(log.next_message());
        log.drain(Duration::from_millis(100));
        out
    });
    assert_eq!(h.len(), r.len());
    for (h, r) in h.iter().zip(&r) {
        let (h, r) = (h.replace("fe2 ", "fe "), r.replace("fe2 ", "fe "));
        assert_eq!(normalise(&r), normalise(&h), "\nhaproxy: {h}\nrproxy:  {r}");
    }
}

/// `option httplog clf` and a custom `log-format`, with `log-tag`.
#[test]
fn clf_and_log_format_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(
        "
global
    log {{LOG}} local0
    log-tag gtag
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend clf
    bind 127.0.0.1:{{P0}}
    log-tag mytag
    option httplog clf
    default_backend be
frontend custom
    bind 127.0.0.1:{{P1}}
    capture request header User-Agent len 10
    log-format \"%ci [%tr] %ft %b/%s %ST %{+Q}r %HM %HU %HP %HV %tsc %[capture.req.hdr(0)] %{+Q}[capture.req.hdr(0)] %rc %f %{+Q}b %[str(lit)] %%\"
    default_backend be
backend be
    server s1 {{SRV}}
"
    );
    let (h, r) = side_by_side(&t, |side| {
        let mut out = Vec::new();
        side.get("/a?x=1");
        let l = log.next();
        // The frontend's tag.
        assert!(l.contains(" mytag["), "{}: {l}", side.name());
        out.push(message(&l).to_string());
        side.request_to(
            1,
            "POST",
            "/p/q?z",
            &[("User-Agent", "curl/8.0.0-x")],
            b"abc",
        )
        .expect("request");
        let l = log.next();
        assert!(l.contains(" gtag["), "{}: {l}", side.name());
        out.push(message(&l).to_string());
        log.drain(Duration::from_millis(100));
        out
    });
    assert_eq!(h.len(), r.len());
    // CLF: timers are spaced out; byte counts differ by HAProxy's internal accounting.
    let clf = |s: &str| {
        let s = normalise(s);
        let re = regex::Regex::new(r#"\] (.*?) (\d{3}) \d+ "" "" \d+ \d{3} "#).expect("regex");
        let s = re.replace(&s, r#"] $1 $2 B "" "" CP MS "#).into_owned();
        let re = regex::Regex::new(r"( -?\d+){5} ([-\w]{4}) ").expect("regex");
        re.replace(&s, " T T T T T $2 ").into_owned()
    };
    assert_eq!(
        clf(&r[0]),
        clf(&h[0]),
        "\nhaproxy: {}\nrproxy:  {}",
        h[0],
        r[0]
    );
    assert_eq!(
        normalise(&r[1]),
        normalise(&h[1]),
        "\nhaproxy: {}\nrproxy:  {}",
        h[1],
        r[1]
    );
}

/// The framings, `len`, and the severities of `log-separate-errors`.
#[test]
fn framings_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let t = fill(
        "
global
    log {{LOG}} len 80 format rfc5424 local1 info
    log {{LOG}} format short local2
    log {{LOG}} format raw local3
    log {{LOG}} format iso local4
    log {{LOG}} format timed local5
    log {{LOG}} format priority local6
    log {{LOG}} len 90 local7
defaults
    mode http
    log global
    option httplog
    option log-separate-errors
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend nosrv
backend nosrv
    server s1 127.0.0.1:1 disabled
",
        &[("LOG", &log.addr())],
    );
    let (h, r) = side_by_side(&t, |side| {
        side.get("/");
        let mut v: Vec<String> = (0..7).map(|_| log.next()).collect();
        log.drain(Duration::from_millis(100));
        v.sort();
        v
    });
    let norm = |s: &str| {
        let s = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d")
            .expect("regex")
            .replace_all(s, "ISO")
            .into_owned();
        let s = normalise(&s);
        let s = regex::Regex::new(r"\w{3} [ \d]\d \d\d:\d\d:\d\d")
            .expect("regex")
            .replace_all(&s, "SYSDATE")
            .into_owned();
        regex::Regex::new(r"haproxy(\[| )\d+")
            .expect("regex")
            .replace_all(&s, "haproxy${1}PID")
            .into_owned()
    };
    let mut h: Vec<String> = h.iter().map(|s| norm(s)).collect();
    let mut r: Vec<String> = r.iter().map(|s| norm(s)).collect();
    h.sort();
    r.sort();
    // A 503 is an error: `err` (3) with log-separate-errors.
    assert!(r.iter().any(|l| l.starts_with("<3>")), "{r:?}");
    assert_eq!(r, h);
}

/// `option dontlognull`, and the "Connect from" line without any log format.
#[test]
fn dontlognull_and_connect_line_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(
        "
global
    log {{LOG}} local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 300ms
    timeout server 2s
frontend quiet
    bind 127.0.0.1:{{P0}}
    option httplog
    option dontlognull
    default_backend be
frontend plain
    bind 127.0.0.1:{{P1}}
    default_backend be
frontend tcpq
    mode tcp
    bind 127.0.0.1:{{P2}}
    option tcplog
    option dontlognull
    default_backend bt
backend be
    server s1 {{SRV}}
backend bt
    mode tcp
    server s1 {{SRV}}
",
    );
    let (h, r) = side_by_side(&t, |side| {
        // Empty connections: closed at once, and left to time out; then a request.
        drop(TcpStream::connect(side.addr(0)).expect("connect"));
        raw(side.addr(0), b"");
        side.get("/after");
        let mut v = vec![log.next_message()];
        side.request_to(1, "GET", "/", &[], b"").expect("request");
        v.push(log.next_message());
        // A TCP connection that sends nothing.
        drop(TcpStream::connect(side.addr(2)).expect("connect"));
        v.extend(
            log.drain(Duration::from_millis(300))
                .iter()
                .map(|l| message(l).to_string()),
        );
        v
    });
    assert_same_lines(&h, &r, normalise);
    assert!(r[1].starts_with("Connect from 127.0.0.1:"), "{r:?}");
}

/// The persistence letters of `%tsc` with an inserted cookie: none, valid, invalid.
#[test]
fn cookie_letters_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let log = Syslog::new();
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let t = fill(
        concat!(
            httplog_head!(),
            "frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    balance roundrobin
    cookie SRV insert indirect nocache
    server s1 {{S1}} cookie a
    server s2 {{S2}} cookie b
"
        ),
        &[
            ("LOG", &log.addr()),
            ("S1", &s1.addr_str()),
            ("S2", &s2.addr_str()),
        ],
    );
    let (h, r) = side_by_side(&t, |side| {
        let mut v = Vec::new();
        for cookie in ["", "SRV=b", "SRV=zz"] {
            side.request("GET", "/", &header_if("Cookie", cookie), b"")
                .expect("request");
            v.push(log.next_message());
        }
        log.drain(Duration::from_millis(100));
        v
    });
    assert_same_lines(&h, &r, normalise);
    assert!(r[1].contains(" --VN "), "{r:?}");
}

/// `no log` silences a frontend that `log global` would log; `stdout` targets.
#[test]
fn no_log_and_stdout() {
    let log = Syslog::new();
    let srv = MockServer::start("s1");
    let (p0, p1) = (free_port(), free_port());
    let cfg = fill(
        concat!(
            httplog_head!(),
            "frontend silent
    bind 127.0.0.1:{{P0}}
    no log
    default_backend be
frontend out
    bind 127.0.0.1:{{P1}}
    no log
    log stdout format raw local0
    default_backend be
frontend loud
    bind 127.0.0.1:{{P2}}
    default_backend be
backend be
    server s1 {{SRV}}
"
        ),
        &[
            ("LOG", &log.addr()),
            ("SRV", &srv.addr_str()),
            ("P0", &p0.to_string()),
            ("P1", &p1.to_string()),
            ("P2", &free_port().to_string()),
        ],
    );
    let p = Proxy::start(&cfg);
    for a in p.addrs() {
        raw(
            *a,
            b"GET /x HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n",
        );
    }
    let l = log.next();
    assert!(message(&l).contains(" loud be/s1 "), "{l}");
    assert_eq!(log.drain(Duration::from_millis(200)), Vec::<String>::new());
    assert!(
        common::eventually(Duration::from_secs(3), || p
            .stdout_text()
            .lines()
            .any(|l| l.contains(" out be/s1 ") && l.starts_with("127.0.0.1:"))),
        "{}",
        p.stdout_text()
    );
}

/// `log-format-sd`: the structured data of rfc5424 targets, other framings unchanged.
#[test]
fn log_format_sd_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(
        "
global
    log {{LOG}} format rfc5424 local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:{{P0}}
    log-format \"%ST %HM\"
    log-format-sd \"[req@1 method=%{+Q,+E}HM status=%{+Q}ST]\"
    default_backend be
backend be
    server s1 {{SRV}}
",
    );
    let (h, r) = side_by_side(&t, |side| {
        side.get("/");
        let l = log.next();
        log.drain(Duration::from_millis(100));
        // The header up to the pid differs by time and pid only.
        l.find(" - [").map(|i| l[i + 3..].to_string()).unwrap_or(l)
    });
    assert_eq!(r, h);
    // Numbers are never quoted.
    assert_eq!(r, "[req@1 method=\"GET\" status=200] 200 GET\n");
}

/// Two requests on one kept-alive connection: one line each, the same fields as haproxy.
#[test]
fn keep_alive_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let (log, _srv, t) = with_log_and_server(concat!(
        httplog_head!(),
        "frontend fe
    bind 127.0.0.1:{{P0}}
    default_backend be
backend be
    server s1 {{SRV}}
"
    ));
    let (h, r) = side_by_side(&t, |side| {
        let mut c = side.conn(0);
        let mut v = Vec::new();
        for p in ["/one", "/two"] {
            c.get(p).expect("request");
            v.push(log.next_message());
        }
        drop(c);
        log.drain(Duration::from_millis(100));
        v
    });
    assert_same_lines(&h, &r, normalise);
}

/// A failed TLS handshake is logged at the connection level as HAProxy 2.6 logs it:
/// `CI:CP [DATE] FE/LISTENER: SSL handshake failure`.
#[test]
fn ssl_handshake_failure_side_by_side() {
    if !require_haproxy()
        || !common::require(common::have_program("openssl"), "openssl not installed")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = common::make_ec_pem(dir.path()).expect("openssl req failed");
    let log = Syslog::new();
    let t = fill(
        concat!(
            httplog_head!(),
            "frontend fe
    bind 127.0.0.1:{{P0}} ssl crt {{PEM}}
    default_backend be
backend be
"
        ),
        &[("LOG", &log.addr()), ("PEM", &pem.display().to_string())],
    );
    let (h, r) = side_by_side(&t, |side| {
        log.drain(Duration::from_millis(100));
        // Plain HTTP on the TLS port: the handshake fails.
        raw(side.addr(0), b"GET / HTTP/1.0\r\n\r\n");
        let line = log.next();
        assert!(line.starts_with("<134>"), "{line}");
        normalise(message(&line))
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(r, "127.0.0.1:PORT [DATE] fe/1: SSL handshake failure");
}

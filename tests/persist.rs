//! Cookie persistence through the real binary, side by side with HAProxy 2.6.12 (same
//! configuration, same requests): the `Set-Cookie` and `Cache-Control` texts of insert,
//! prefix and rewrite modes with their options (dates of `maxidle`/`maxlife` normalised),
//! the `Cookie` header the server receives, which server a request carrying each
//! server's cookie reaches, what becomes of it when that server is dead, disabled or
//! draining (`option redispatch`, `option persist`, `force-persist`, `ignore-persist`),
//! and `balance source` with `hash-type consistent` while a server leaves and comes back.
//!
//! Servers are taken down by pointing them at a closed port (`retries 1`) or with
//! `disabled`; no health check is involved.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};

use common::*;

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n";

/// One frontend per backend body: `{{Pi}}` -> backend `bi`.
fn template(bodies: &[String]) -> String {
    let mut t = DEFAULTS.to_string();
    for (i, b) in bodies.iter().enumerate() {
        t.push_str(&format!(
            "frontend f{i}\n  bind 127.0.0.1:{{{{P{i}}}}}\n  default_backend b{i}\nbackend b{i}\n{b}"
        ));
    }
    t
}

/// `server sN ADDR cookie cN` for each mock (N from 1), with extra per-server words.
fn servers(m: &[MockServer], extra: &[&str]) -> String {
    m.iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "  server {} {} cookie c{} {}\n",
                s.name(),
                s.addr_str(),
                i + 1,
                extra.get(i).copied().unwrap_or("")
            )
        })
        .collect()
}

fn mocks(n: usize) -> Vec<MockServer> {
    (1..=n)
        .map(|i| MockServer::start(&format!("s{i}")))
        .collect()
}

/// The `|XXXXX` dates of a cookie value written `|DATE`.
fn normalise_dates(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
        if b[i] == b'|' && i + 6 <= b.len() && b[i + 1..i + 6].iter().all(|c| is_b64(*c)) {
            out.push_str("|DATE");
            i += 6;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// What a request's answer says about persistence: the server, its status, the
/// `Set-Cookie` and `Cache-Control` values, and the `Cookie` the server received.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    server: String,
    status: u16,
    set_cookie: Vec<String>,
    cache_control: Vec<String>,
    server_cookie: Vec<String>,
}

fn seen(r: &Response) -> Seen {
    Seen {
        server: r.server().unwrap_or("-").to_string(),
        status: r.status,
        set_cookie: r
            .header_all("set-cookie")
            .into_iter()
            .map(normalise_dates)
            .collect(),
        cache_control: r
            .header_all("cache-control")
            .into_iter()
            .map(str::to_string)
            .collect(),
        server_cookie: r
            .try_echo()
            .map(|e| {
                e.headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
                    .map(|(_, v)| normalise_dates(v))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn ask(side: &Side, i: usize, method: &str, headers: &[(&str, &str)]) -> Seen {
    let r = side
        .request_to(i, method, "/", headers, b"")
        .unwrap_or_else(|e| panic!("{}: {method} on {i}: {e}", side.name()));
    seen(&r)
}

/// Asserts both engines saw the same (haproxy's side printed, shown with `--nocapture`).
fn same<T: PartialEq + std::fmt::Debug>(what: &str, haproxy: &T, rproxy: &T) {
    eprintln!("{what}: haproxy {haproxy:?}");
    assert_eq!(
        haproxy, rproxy,
        "{what}: rproxy differs from haproxy\nhaproxy: {haproxy:#?}\nrproxy:  {rproxy:#?}"
    );
}

/// The server sets its own cookies and may be cached.
const SERVER_COOKIES: &str =
    "hdr=Set-Cookie:JS=abc;path=/ hdr=Set-Cookie:SRV=zz hdr=Cache-Control:max-age=10";

#[test]
fn set_cookie_texts_and_server_view_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let srv = servers(&m, &[]);
    let mut bodies: Vec<String> = [
        "cookie SRV insert indirect nocache",
        "cookie JS prefix indirect nocache",
        "cookie JS prefix nocache",
        "cookie JS rewrite nocache",
        "cookie SRV insert nocache httponly secure domain .a.com domain .b.com attr SameSite=Lax attr foo",
        "cookie SRV insert postonly",
        "cookie SRV insert preserve indirect",
        "cookie SRV insert indirect maxidle 30m maxlife 2h",
        "cookie SRV insert maxidle 1h",
        "cookie SRV insert maxlife 1h",
        "cookie JS",
        "cookie JS prefix indirect preserve",
        "cookie SRV insert indirect postonly nocache",
        "cookie SRV insert preserve nocache httponly",
        "cookie SRV insert indirect\n  use-server s2 if { hdr(x-us) 1 }",
        "cookie SRV insert indirect\n  ignore-persist if { hdr(x-ig) 1 }",
    ]
    .iter()
    .map(|c| format!("  {c}\n{srv}"))
    .collect();
    // A server without a cookie value gets a removal cookie.
    bodies.push(format!(
        "  cookie SRV insert nocache\n  server s1 {} \n  server s2 {} cookie c2\n",
        m[0].addr_str(),
        m[1].addr_str()
    ));
    let tpl = template(&bodies);
    let requests: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("GET", vec![("x-mock", SERVER_COOKIES)]),
        ("GET", vec![("x-mock", SERVER_COOKIES)]),
        (
            "GET",
            vec![
                ("x-mock", SERVER_COOKIES),
                ("Cookie", "a=1; SRV=c1; JS=c1~orig; b=2"),
            ],
        ),
        (
            "GET",
            vec![("x-mock", SERVER_COOKIES), ("Cookie", "SRV=c2; JS=c2")],
        ),
        ("GET", vec![("Cookie", "JS=c9~x; SRV=c9")]),
        ("GET", vec![("Cookie", "SRV=c1|AAAAA|AAAAA")]),
        ("POST", vec![("x-mock", "hdr=Expires:0")]),
        ("POST", vec![("Cookie", "SRV=c2")]),
        ("GET", vec![("x-mock", "hdr=Cache-Control:public")]),
        (
            "GET",
            vec![("Cookie", "SRV=c1; JS=c1~o"), ("x-us", "1"), ("x-ig", "1")],
        ),
        (
            "POST",
            vec![
                ("Cookie", "JS=c2~o"),
                ("x-mock", SERVER_COOKIES),
                ("x-us", "1"),
            ],
        ),
    ];
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| {
                requests
                    .iter()
                    .map(|(method, hdrs)| ask(side, i, method, hdrs))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        same(b.lines().next().unwrap_or_default(), &h[i], &r[i]);
    }
    // The texts themselves, as haproxy writes them.
    assert_eq!(
        h[4][0].set_cookie.last().map(String::as_str),
        Some("SRV=c1; path=/; domain=.a.com; domain=.b.com; HttpOnly; Secure; SameSite=Lax; foo")
    );
    assert_eq!(h[0][0].cache_control, ["max-age=10", "private"]);
    assert_eq!(h[1][0].set_cookie, ["JS=c1~abc;path=/", "SRV=zz"]);
    assert_eq!(h[1][2].server_cookie, ["a=1; SRV=c1; JS=orig; b=2"]);
    assert_eq!(h[0][2].server_cookie, ["a=1; JS=c1~orig; b=2"]);
    assert_eq!(
        h[7][0].set_cookie,
        ["JS=abc;path=/", "SRV=c1|DATE|DATE; path=/"]
    );
}

#[test]
fn each_servers_cookie_reaches_that_server_as_under_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let srv = servers(&m, &[]);
    let bodies: Vec<String> = [
        "cookie SRV insert indirect",
        "cookie JS prefix",
        "cookie JS rewrite",
        "cookie JS",
    ]
    .iter()
    .map(|c| format!("  {c}\n{srv}"))
    .collect();
    let tpl = template(&bodies);
    let cookies = [
        "SRV=c1; JS=c1~x",
        "SRV=c2; JS=c2~x",
        "SRV=c3; JS=c3~x",
        "SRV=c3; JS=c3",
        "SRV=c2; JS=c2",
        "SRV=nope; JS=nope~x",
        "",
    ];
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| {
                let mut out = Vec::new();
                for c in cookies {
                    for _ in 0..3 {
                        let hdrs: Vec<(&str, &str)> = if c.is_empty() {
                            vec![]
                        } else {
                            vec![("Cookie", c)]
                        };
                        let s = ask(side, i, "GET", &hdrs);
                        out.push((c, s.server, s.server_cookie));
                    }
                }
                out
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        same(b.lines().next().unwrap_or_default(), &h[i], &r[i]);
    }
    // The cookie's server, every time.
    for (c, server, _) in &h[0] {
        if let Some(n) = c.strip_prefix("SRV=c").and_then(|v| v.chars().next()) {
            assert_eq!(*server, format!("s{n}"), "{c}");
        }
    }
}

#[test]
fn down_disabled_and_forced_servers_as_under_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let dead = refused_port();
    let live = |extra: &str| {
        format!(
            "  server s1 {} cookie c1 {extra}\n  server s2 {} cookie c2\n",
            m[0].addr_str(),
            m[1].addr_str()
        )
    };
    let closed = |extra: &str| {
        format!(
            "  server s1 127.0.0.1:{dead} cookie c1 {extra}\n  server s2 {} cookie c2\n",
            m[1].addr_str()
        )
    };
    let cookie = "  cookie SRV insert indirect\n";
    let bodies = vec![
        // 0: dead server, redispatch: the other one, and its cookie.
        format!("{cookie}  retries 1\n  option redispatch\n{}", closed("")),
        // 1: dead server, no redispatch: 503.
        format!("{cookie}  retries 1\n{}", closed("")),
        // 2: disabled (maintenance): balanced elsewhere.
        format!("{cookie}{}", live("disabled")),
        // 3: disabled with option persist: still the cookie's server.
        format!("{cookie}  option persist\n{}", live("disabled")),
        // 4: disabled and dead, persist + redispatch: tried, then redispatched.
        format!(
            "{cookie}  retries 1\n  option persist\n  option redispatch\n{}",
            closed("disabled")
        ),
        // 5: force-persist / ignore-persist.
        format!(
            "{cookie}  force-persist if {{ hdr(x-force) 1 }}\n  ignore-persist if {{ hdr(x-ignore) 1 }}\n{}",
            live("disabled")
        ),
        // 6: dead server, redispatch, force-persist: no redispatch for a forced request.
        format!(
            "{cookie}  retries 1\n  option redispatch\n  force-persist if {{ hdr(x-force) 1 }}\n{}",
            closed("")
        ),
        // 7: weight 0 (draining): no new clients, its persistent clients stay.
        format!("{cookie}{}", live("weight 0")),
        // 8: dead server, retries 2 + redispatch: the cookie's server is retried once,
        // then the request is redispatched on the last retry.
        format!("{cookie}  retries 2\n  option redispatch\n{}", closed("")),
    ];
    let tpl = template(&bodies);
    let c1: &[(&str, &str)] = &[("Cookie", "SRV=c1")];
    let (h, r) = side_by_side(&tpl, |side| {
        let mut out = Vec::new();
        for i in 0..5 {
            out.push(ask(side, i, "GET", c1));
            out.push(ask(side, i, "GET", c1));
        }
        out.push(ask(side, 5, "GET", c1));
        out.push(ask(
            side,
            5,
            "GET",
            &[("Cookie", "SRV=c1"), ("x-force", "1")],
        ));
        out.push(ask(
            side,
            5,
            "GET",
            &[
                ("Cookie", "SRV=c2"),
                ("x-ignore", "1"),
                ("x-mock", "hdr=Set-Cookie:SRV=zz"),
            ],
        ));
        out.push(ask(
            side,
            6,
            "GET",
            &[("Cookie", "SRV=c1"), ("x-force", "1")],
        ));
        out.push(ask(side, 6, "GET", c1));
        out.push(ask(side, 7, "GET", c1));
        out.push(ask(side, 7, "GET", &[]));
        out.push(ask(side, 7, "GET", &[]));
        out.push(ask(side, 8, "GET", c1));
        out
    });
    same("down servers", &h, &r);
    let who: Vec<&str> = h.iter().map(|s| s.server.as_str()).collect();
    assert_eq!(
        who,
        [
            "s2", "s2", "-", "-", "s2", "s2", "s1", "s1", "s2", "s2", "s2", "s1", "s2", "-", "s2",
            "s1", "s2", "s2", "s2"
        ]
    );
    assert_eq!(h[0].set_cookie, ["SRV=c2; path=/"]);
    assert_eq!(h[2].status, 503);
    assert_eq!(h[12].set_cookie, ["SRV=zz"]);
    assert_eq!(h[18].set_cookie, ["SRV=c2; path=/"]);
}

/// GET `/` from a client socket bound to `src`.
fn get_from(src: Ipv4Addr, dst: SocketAddr) -> String {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())
        .unwrap_or_else(|e| panic!("bind {src}: {e}"));
    s.connect_timeout(&dst.into(), TIMEOUT).unwrap();
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(&build_request(
        "GET",
        "/",
        SBS_HOST,
        &[("Connection", "close")],
        b"",
    ))
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let r = parse_response(&out).unwrap();
    match r.server() {
        Some(n) if r.status == 200 => n.to_string(),
        _ => format!("#{}", r.status),
    }
}

/// `balance source` + `hash-type consistent`: while one server's port is closed, its
/// clients are redispatched and everybody else stays put; once it listens again, every
/// client is back on its first server. As under haproxy.
#[test]
fn source_consistent_hash_keeps_clients_while_a_server_leaves() {
    if !require_haproxy() {
        return;
    }
    let mut m = mocks(3);
    let body = format!(
        "  balance source\n  hash-type consistent\n  retries 1\n  option redispatch\n{}",
        servers(&m, &[])
    );
    let tpl = template(&[body]);
    let sources: Vec<Ipv4Addr> = (2..22).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let port2 = m[1].port();
    let run = |side: &Side, m: &mut Vec<MockServer>| {
        let walk = |side: &Side| -> Vec<String> {
            sources.iter().map(|s| get_from(*s, side.addr(0))).collect()
        };
        let before = walk(side);
        // s2 leaves: its port closes.
        m.remove(1);
        let during = walk(side);
        // s2 comes back on the same port.
        m.insert(1, MockServer::builder("s2").port(port2).start());
        let after = walk(side);
        (before, during, after)
    };
    let h = {
        let n = 1;
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let side = Side {
            engine: Engine::Haproxy,
            config: render_ports(&tpl, &ports),
            proxy: Proxy::start_haproxy(&render_ports(&tpl, &ports)),
            ports,
        };
        run(&side, &mut m)
    };
    let r = {
        let ports: Vec<u16> = vec![free_port()];
        let side = Side {
            engine: Engine::Rproxy,
            config: render_ports(&tpl, &ports),
            proxy: Proxy::start(&render_ports(&tpl, &ports)),
            ports,
        };
        run(&side, &mut m)
    };
    same("source consistent", &h, &r);
    let (before, during, after) = &h;
    assert!(before.iter().any(|s| s == "s2"), "{before:?}");
    for ((b, d), a) in before.iter().zip(during).zip(after) {
        if b == "s2" {
            assert_ne!(d, "s2");
        } else {
            assert_eq!(d, b);
        }
        assert_eq!(a, b);
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A cookie date `off` seconds from now, as HAProxy writes them (seconds / 4 in five
/// base64 digits).
fn date(off: i64) -> String {
    let v = ((now_secs() + off + 3) >> 2) as u32 & 0x3fff_ffff;
    (0..5)
        .map(|i| B64[((v >> (6 * (4 - i))) & 63) as usize] as char)
        .collect()
}

/// Each `|XXXXX` date written as its distance from `now` in minutes (`|@+0m`), so that
/// runs a few seconds apart compare equal and a kept first date differs from a new one.
fn relative_dates(v: &str, now: i64) -> String {
    let b = v.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let digits = b.get(i + 1..i + 6).filter(|_| b[i] == b'|');
        let decoded = digits.and_then(|d| {
            d.iter().try_fold(0i64, |acc, c| {
                B64.iter()
                    .position(|x| x == c)
                    .map(|p| (acc << 6) | p as i64)
            })
        });
        match decoded {
            Some(v) => {
                let mins = ((v << 2) - now) as f64 / 60.0;
                out.push_str(&format!("|@{:+}m", mins.round() as i64));
                i += 6;
            }
            None => {
                out.push(b[i] as char);
                i += 1;
            }
        }
    }
    out
}

/// `maxidle`/`maxlife`: which cookies are still honoured, and the dates written back
/// (kept first date, refreshed last date), as under haproxy.
/// The cookies sent, dated from now: built anew for each engine, since the second one
/// runs seconds after the first.
fn dated_cookies() -> Vec<String> {
    vec![
        format!("SRV=c3|{}|{}", date(0), date(0)),
        format!("SRV=c3|{}|{}", date(-100), date(-3600)),
        format!("SRV=c3|{}|{}", date(-3600), date(-3600)),
        format!("SRV=c3|{}|{}", date(-100), date(-10000)),
        format!("SRV=c3|{}", date(-100)),
        format!("SRV=c3|{}", date(0)),
        format!("SRV=c3|{}", date(100_000)),
        format!("SRV=c3||{}", date(-100)),
        "SRV=c3".to_string(),
        "SRV=c3|bad".to_string(),
    ]
}

#[test]
fn maxidle_maxlife_dates_as_under_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let srv = servers(&m, &[]);
    let bodies: Vec<String> = [
        "cookie SRV insert indirect maxidle 30m maxlife 2h",
        "cookie SRV insert maxidle 30m",
        "cookie SRV insert maxlife 2h",
        "cookie SRV insert indirect",
    ]
    .iter()
    .map(|c| format!("  {c}\n{srv}"))
    .collect();
    let tpl = template(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        let now = now_secs();
        let cookies = dated_cookies();
        (0..bodies.len())
            .map(|i| {
                cookies
                    .iter()
                    .map(|c| {
                        let resp = side
                            .request_to(i, "GET", "/", &[("Cookie", c)], b"")
                            .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
                        let mut set: Vec<String> = resp
                            .header_all("set-cookie")
                            .into_iter()
                            .map(|v| relative_dates(v, now))
                            .collect();
                        let sent = relative_dates(c, now);
                        // A cookie dated now is rewritten with the same dates when the
                        // engine's 4-second date tick passed since it was made: both
                        // outcomes are one.
                        if set == [format!("{sent}; path=/")]
                            && sent.contains('@')
                            && !sent.contains("@-")
                            && !sent.contains("@+1")
                        {
                            set.clear();
                        }
                        (sent, who(&resp), set)
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        same(b.lines().next().unwrap_or_default(), &h[i], &r[i]);
    }
    // A fresh cookie is kept as is; an idle one gets a new last date, its first kept.
    assert!(h[0][0].2.is_empty(), "{:?}", h[0][0].2);
    assert_eq!(h[0][1].2, ["SRV=c3|@+0m|@-60m; path=/"]);
}

fn who(r: &Response) -> String {
    match r.server() {
        Some(n) if r.status == 200 => n.to_string(),
        _ => format!("#{}", r.status),
    }
}

/// Odd `Cookie` headers: separators, blanks, quotes, several lines. The server reached and
/// the `Cookie` lines it receives, as under haproxy.
#[test]
fn odd_cookie_headers_as_under_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let srv = servers(&m, &[]);
    let bodies: Vec<String> = ["cookie SRV insert indirect", "cookie SRV prefix"]
        .iter()
        .map(|c| format!("  {c}\n{srv}"))
        .collect();
    let tpl = template(&bodies);
    let cases: Vec<Vec<&str>> = vec![
        vec!["a=1;SRV=c2;b=2"],
        vec!["a=1 ; SRV=c2 ; b=2"],
        vec!["a=1;  SRV=c2~x;b=2"],
        vec!["SRV=c2, a=1"],
        vec!["a=1, SRV=c2"],
        vec!["SRV = c2"],
        vec!["SRV = c2~x ; b=2"],
        vec!["SRV=\"c2\""],
        vec!["SRV"],
        vec!["SRV=c2;"],
        vec![" ; SRV=c2"],
        vec!["$Version=1; SRV=c2~y; $Path=/"],
        vec!["a=1", "SRV=c2~z"],
        vec!["SRV=c2~z", "SRV=c3~w"],
        vec!["SRV=c2~"],
        vec!["SRV=c3=x~y"],
        vec!["x=1 ;  a=1 ; SRV=c1 ; b=2"],
        vec!["x=1 ,  a=1 , SRV=c1~q , b=2"],
        vec!["a=1 ;SRV=c1"],
        vec!["SRV=c1;  a=1"],
        vec!["a=1;SRV=c1;;b=2"],
        vec!["a=1; SRV=c1; $Path=/; b=2"],
        vec!["SRV = c1~y;SRV=c1~z"],
        vec!["a = 1"],
        vec![""],
    ];
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| {
                cases
                    .iter()
                    .map(|lines| {
                        let hdrs: Vec<(&str, &str)> =
                            lines.iter().map(|l| ("Cookie", *l)).collect();
                        let s = ask(side, i, "GET", &hdrs);
                        (lines.clone(), s.server, s.server_cookie)
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        same(b.lines().next().unwrap_or_default(), &h[i], &r[i]);
    }
}

/// Odd `Set-Cookie` lines from the server under prefix, rewrite and insert modes, with
/// and without a valid client cookie, as under haproxy.
#[test]
fn odd_set_cookie_lines_as_under_haproxy() {
    if !require_haproxy() {
        return;
    }
    let variants = [
        "JS = abc ; path=/",
        "JS=",
        "JS",
        "js=abc",
        "JS=abc; Expires=Thu, 01 Jan 2030 00:00:00 GMT; path=/",
        "JS=a=b",
        "JSX=1; JS=2",
    ];
    let mocks: Vec<MockServer> = variants
        .iter()
        .map(|v| {
            MockServer::builder("s1")
                .header("Set-Cookie", v)
                .header("Set-Cookie", "JS=second")
                .start()
        })
        .collect();
    let mut bodies = Vec::new();
    for mode in [
        "cookie JS prefix",
        "cookie JS rewrite",
        "cookie JS insert",
        "cookie JS prefix indirect",
        "cookie JS insert indirect preserve",
    ] {
        for m in &mocks {
            bodies.push(format!(
                "  {mode}\n  server s1 {} cookie c1\n",
                m.addr_str()
            ));
        }
    }
    let tpl = template(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| {
                let fresh = ask(side, i, "GET", &[]).set_cookie;
                let direct = ask(side, i, "GET", &[("Cookie", "JS=c1~x")]).set_cookie;
                let plain = ask(side, i, "GET", &[("Cookie", "JS=c1")]).set_cookie;
                (fresh, direct, plain)
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        let what = format!(
            "{} / {}",
            b.lines().next().unwrap_or_default(),
            variants[i % variants.len()]
        );
        same(&what, &h[i], &r[i]);
    }
}

/// `use-server` towards a disabled or draining server, with and without `option persist`
/// and `force-persist`, as under haproxy.
#[test]
fn use_server_and_persistence_as_under_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let rules = "  use-server s1 if { hdr(x-us) 1 }\n  force-persist if { hdr(x-force) 1 }\n";
    let bodies: Vec<String> = [
        ("", "disabled"),
        ("  option persist\n", "disabled"),
        ("", "weight 0"),
        ("  cookie SRV insert indirect\n", "disabled"),
        (
            "  cookie SRV insert indirect\n  option persist\n",
            "disabled",
        ),
    ]
    .iter()
    .map(|(opts, s1)| format!("{opts}{rules}{}", servers(&m, &[s1])))
    .collect();
    let tpl = template(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| {
                [
                    vec![("x-us", "1")],
                    vec![("x-us", "1"), ("x-force", "1")],
                    vec![("x-us", "1"), ("Cookie", "SRV=c2")],
                    vec![("Cookie", "SRV=c1")],
                ]
                .iter()
                .map(|hd| {
                    let s = ask(side, i, "GET", hd);
                    (s.server, s.set_cookie)
                })
                .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    same("use-server", &h, &r);
}

/// `balance source` + `hash-type consistent` while health checks take a server out and put
/// it back: only that server's clients move, and they all come back, under both.
#[test]
fn source_consistent_hash_stable_while_checks_flap() {
    if !require_haproxy() {
        return;
    }
    let mut m = mocks(3);
    let body = format!(
        "  balance source\n  hash-type consistent\n{}",
        servers(&m, &["check inter 100 fall 1 rise 1"; 3])
    );
    let tpl = template(&[body]);
    let (ph, pr) = (free_port(), free_port());
    let h = Proxy::start_haproxy(&render_ports(&tpl, &[ph]));
    let r = Proxy::start(&render_ports(&tpl, &[pr]));
    let sources: Vec<Ipv4Addr> = (2..22).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let walk = |port: u16| -> Vec<String> {
        sources
            .iter()
            .map(|s| get_from(*s, SocketAddr::from(([127, 0, 0, 1], port))))
            .collect()
    };
    let say = |p: &Proxy, what: &str| {
        assert!(
            eventually(std::time::Duration::from_secs(5), || p
                .stderr_text()
                .contains(what)),
            "{:?} never said {what}:\n{}",
            p.engine(),
            p.stderr_text()
        );
    };
    let before = (walk(ph), walk(pr));
    let port2 = m[1].port();
    m.remove(1);
    say(&h, "Server b0/s2 is DOWN");
    say(&r, "Server b0/s2 is DOWN");
    let during = (walk(ph), walk(pr));
    m.insert(1, MockServer::builder("s2").port(port2).start());
    say(&h, "Server b0/s2 is UP");
    say(&r, "Server b0/s2 is UP");
    let after = (walk(ph), walk(pr));
    same("before", &before.0, &before.1);
    same("during", &during.0, &during.1);
    same("after", &after.0, &after.1);
    let (b, d, a) = (&before.1, &during.1, &after.1);
    assert!(b.iter().any(|s| s == "s2"), "{b:?}");
    for ((b, d), a) in b.iter().zip(d).zip(a) {
        if b == "s2" {
            assert_ne!(d, "s2");
        } else {
            assert_eq!(d, b, "a client of another server moved");
        }
        assert_eq!(a, b, "a client did not come back");
    }
}

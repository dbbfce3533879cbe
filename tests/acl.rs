//! ACL fetches and match methods, table-driven and side by side with haproxy 2.6.
//!
//! Each table row is one condition and one request, driven through `use_backend be_hit if
//! COND` with `default_backend be_miss`, `hit` and `miss` being two distinct mock servers.
//! Rows share one frontend, each rule gated by the row's `x-case` request header; a row
//! with its own named ACLs or bind address gets a frontend of its own. One configuration
//! per table runs under haproxy, then rproxy; every row's request is sent to both and the
//! server that answered must be the same, and the one the table expects (the
//! expectations were checked against HAProxy 2.6.12).
//!
//! Facts pinned (observed with HAProxy 2.6.12):
//! - `path` excludes the query and, for an absolute-form target, scheme and authority;
//!   `url` is the target as sent; `base` is Host + path; `query` has no `?`.
//! - `path_dir`/`hdr_dir` match whole `/`-separated parts, `hdr_dom` whole `.`-separated
//!   parts; `path_reg` is unanchored; `-i` makes every method case-insensitive.
//! - `hdr(NAME)` in an ACL tries every comma-separated value of every `NAME` line;
//!   `hdr_cnt` counts them; `req.hdr` is the same fetch; `req.cook(NAME)` every cookie of
//!   that name.
//! - `src`/`dst` match IP addresses and CIDR lists (`-f` files of them too); `src_port`
//!   and `dst_port` integer ranges; `ssl_fc` is false and `ssl_fc_sni` absent on plain
//!   HTTP; `always_true`/`TRUE` always, `always_false`/`FALSE` never.
//! - `-f FILE` pattern files: one pattern per line, leading blanks skipped, lines that
//!   start with `#` and blank lines ignored; the rest of the line is the pattern
//!   (trailing blanks and a later `#` included, CR LF endings accepted); several `-f`
//!   add up, with inline patterns. `-m` after `-f` is refused.
//! - `req.cook(NAME) -m found` does not match an empty cookie value.
//! - map files (`map_str`, `map`): key, blanks, value (the rest of the line); `#` lines
//!   and blank lines ignored; the converter's second argument is the default value.
//! - conditions: AND is implicit and binds tighter than `||`; `!` negates one term;
//!   `{ }` is an anonymous ACL; an ACL name defined on several lines matches when any of
//!   its lines does.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// One row: extra frontend lines (named ACLs), the condition, the request, the outcome.
#[derive(Clone)]
struct Case {
    lines: &'static str,
    cond: &'static str,
    /// `METHOD TARGET` then header lines, separated by `|`. A `Host: sbs.test` header is
    /// added unless one is given (`Host:` alone: none at all); `Connection: close` always.
    req: &'static str,
    hit: bool,
    /// The client's source address (default 127.0.0.1).
    from: Option<&'static str>,
    /// The frontend's bind address (default 127.0.0.1).
    on: Option<&'static str>,
}

/// A row whose condition must hold (`hit`) or not for `req`.
fn c(cond: &'static str, req: &'static str, hit: bool) -> Case {
    Case {
        lines: "",
        cond,
        req,
        hit,
        from: None,
        on: None,
    }
}

impl Case {
    fn with(mut self, lines: &'static str) -> Case {
        self.lines = lines;
        self
    }
    fn from(mut self, ip: &'static str) -> Case {
        self.from = Some(ip);
        self
    }
    fn on(mut self, ip: &'static str) -> Case {
        self.on = Some(ip);
        self
    }
}

fn raw_request(spec: &str, case: Option<&str>) -> Vec<u8> {
    let mut parts = spec.split('|').map(str::trim);
    let first = parts.next().unwrap();
    let mut s = format!("{first} HTTP/1.1\r\n");
    let mut host = true;
    for h in parts {
        if h.eq_ignore_ascii_case("host:") {
            host = false;
            continue;
        }
        if h.to_ascii_lowercase().starts_with("host:") {
            host = false;
        }
        s.push_str(h);
        s.push_str("\r\n");
    }
    if host {
        s.push_str(&format!("Host: {SBS_HOST}\r\n"));
    }
    if let Some(c) = case {
        s.push_str(&format!("X-Case: {c}\r\n"));
    }
    s.push_str("Connection: close\r\n\r\n");
    s.into_bytes()
}

/// Sends `raw` from `from` (any port) to `to`; the server that answered, or `status:N`.
fn exchange(from: Option<&str>, to: SocketAddr, raw: &[u8]) -> String {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    if let Some(ip) = from {
        let ip: IpAddr = ip.parse().unwrap();
        sock.bind(&SocketAddr::new(ip, 0).into()).unwrap();
    }
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {to}: {e}"));
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    // Only the head is read (the answer to HEAD has no body).
    let text = String::from_utf8_lossy(&buf);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(raw)));
    lines
        .find_map(|l| l.strip_prefix("x-server: "))
        .map(str::to_string)
        .unwrap_or_else(|| format!("status:{status}"))
}

/// Builds one configuration for the table (`{{DIR}}` in conditions becomes `dir`), runs
/// it under haproxy then rproxy, and checks every row.
fn run_table(cases: &[Case], dir: Option<&Path>) {
    if !require_haproxy() {
        return;
    }
    let hit = MockServer::start("hit");
    let miss = MockServer::start("miss");
    let dir_s = dir.map(|d| d.display().to_string()).unwrap_or_default();
    // Rows share one frontend on {{P0}}, each gated by its `x-case` header (in every
    // `||` branch, AND binding tighter); a row with its own ACL lines or bind address
    // gets a frontend of its own (few listeners keep the starts quick).
    let own = |k: &Case| k.on.is_some() || !k.lines.is_empty();
    let mut port_of = Vec::with_capacity(cases.len());
    let mut shared = String::from("frontend f_shared\n  bind 127.0.0.1:{{P0}}\n");
    let mut others = String::new();
    let mut next_port = 1;
    for (i, k) in cases.iter().enumerate() {
        if own(k) {
            port_of.push(next_port);
            others.push_str(&format!(
                "frontend f{i}\n  bind {}:{{{{P{next_port}}}}}\n",
                k.on.unwrap_or("127.0.0.1")
            ));
            for l in k.lines.lines().filter(|l| !l.trim().is_empty()) {
                others.push_str(&format!("  {}\n", l.trim()));
            }
            others.push_str(&format!(
                "  use_backend be_hit if {}\n  default_backend be_miss\n",
                k.cond
            ));
            next_port += 1;
        } else {
            port_of.push(0);
            let gate = format!("{{ req.hdr(x-case) -m str {i} }}");
            let branches: Vec<String> = k
                .cond
                .split(" || ")
                .map(|b| format!("{gate} {b}"))
                .collect();
            shared.push_str(&format!(
                "  use_backend be_hit if {}\n",
                branches.join(" || ")
            ));
        }
    }
    shared.push_str("  default_backend be_miss\n");
    let mut cfg = format!("{DEFAULTS}{shared}{others}");
    cfg.push_str("backend be_hit\n  server s {{HIT}}\nbackend be_miss\n  server s {{MISS}}\n");
    let cfg = fill(
        &cfg,
        &[
            ("HIT", &hit.addr_str()),
            ("MISS", &miss.addr_str()),
            ("DIR", &dir_s),
        ],
    );
    let (h, r) = side_by_side(&cfg, |side| {
        cases
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let ip: IpAddr =
                    k.on.unwrap_or("127.0.0.1")
                        .trim_matches(['[', ']'])
                        .parse()
                        .unwrap();
                let port = port_of[i];
                let case = (port == 0).then(|| i.to_string());
                exchange(
                    k.from,
                    SocketAddr::new(ip, side.port(port)),
                    &raw_request(k.req, case.as_deref()),
                )
            })
            .collect::<Vec<String>>()
    });
    let mut problems = Vec::new();
    for (i, k) in cases.iter().enumerate() {
        let want = if k.hit { "hit" } else { "miss" };
        let row = format!(
            "row {i}: `{}` {}for `{}`",
            k.cond,
            if k.lines.is_empty() {
                String::new()
            } else {
                format!("(with `{}`) ", k.lines.trim())
            },
            k.req
        );
        if h[i] != want {
            problems.push(format!("{row}: haproxy says {}, the table {want}", h[i]));
        }
        if r[i] != h[i] {
            problems.push(format!("{row}: rproxy says {}, haproxy {}", r[i], h[i]));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn acl_path() {
    run_table(
        &[
            c("{ path /a/b }", "GET /a/b", true),
            c("{ path /a/b }", "GET /a/b?x=1", true),
            c("{ path /a/b }", "GET /a/b/", false),
            c("{ path /a/b }", "GET /A/B", false),
            c("{ path -i /a/b }", "GET /A/B", true),
            c("{ path /x /a/b /y }", "GET /a/b", true),
            c("{ path /a/b }", "GET http://sbs.test/a/b?q", true),
            c("{ path -m beg /a }", "GET /abc", true),
            c("{ path -m end .css }", "GET /s/x.css?v=2", true),
            c("{ path -m sub /b/ }", "GET /a/b/c", true),
            c("{ path -m reg ^/[0-9]+$ }", "GET /123", true),
            c("{ path -m reg ^/[0-9]+$ }", "GET /12a", false),
            c("{ path -m dir b }", "GET /a/b/c", true),
            c("{ path -m len 4 }", "GET /abc", true),
            c("{ path -m len 4 }", "GET /abcd", false),
            c("{ path -m found }", "GET /", true),
            // No decoding: the path as sent.
            c("{ path /a%20b }", "GET /a%20b", true),
            c("{ path /a%20b }", "GET /a%20B", false),
            c("{ path_end / }", "GET http://sbs.test", false),
            c("{ path -m found }", "OPTIONS *", false),
        ],
        None,
    );
}

#[test]
fn acl_path_beg_end_sub_reg_dir() {
    run_table(
        &[
            c("{ path_beg /api }", "GET /api/v1", true),
            c("{ path_beg /api }", "GET /apiv1", true),
            c("{ path_beg /api }", "GET /x/api", false),
            c("{ path_beg -i /API }", "GET /api/v1", true),
            c("{ path_beg /api/ /static/ }", "GET /static/x.js", true),
            c("{ path_end .jpg .png }", "GET /i/a.png", true),
            c("{ path_end .jpg }", "GET /i/a.jpg?x=.png", true),
            c("{ path_end .jpg }", "GET /i/a.JPG", false),
            c("{ path_end -i .jpg }", "GET /i/a.JPG", true),
            c("{ path_sub admin }", "GET /x/admin/y", true),
            c("{ path_sub admin }", "GET /x?admin", false),
            c("{ path_sub -i ADMIN }", "GET /x/admin", true),
            c("{ path_reg ^/user/[0-9]+$ }", "GET /user/42", true),
            c("{ path_reg ^/user/[0-9]+$ }", "GET /user/42/x", false),
            c("{ path_reg [0-9]{3} }", "GET /ab1234", true),
            c("{ path_reg -i ^/USER }", "GET /user", true),
            c("{ path_dir api }", "GET /v1/api/x", true),
            c("{ path_dir api }", "GET /v1/apix/x", false),
            c("{ path_dir /v1/api }", "GET /v1/api/x", true),
            c("{ path_dir -i API }", "GET /api", true),
        ],
        None,
    );
}

#[test]
fn acl_url_url_beg_url_param_base_query() {
    run_table(
        &[
            c("{ url /a?x=1 }", "GET /a?x=1", true),
            c("{ url /a }", "GET /a?x=1", false),
            c("{ url http://h/a }", "GET http://h/a | Host: h", true),
            c("{ url_beg /a? }", "GET /a?x=1", true),
            c("{ url_beg -i /A }", "GET /a", true),
            c("{ url_sub x=1 }", "GET /a?y=2&x=1", true),
            c("{ url_param(user) bob }", "GET /a?user=bob", true),
            c("{ url_param(user) bob }", "GET /a?x=1&user=bob&z", true),
            c("{ url_param(user) bob }", "GET /a?user=bobby", false),
            c("{ url_param(user) -m found }", "GET /a?user=", true),
            c("{ url_param(user) -m found }", "GET /a?users=1", false),
            c("{ url_param(user) -m beg b }", "GET /a?user=bob", true),
            c("{ urlp(id) -m int gt 10 }", "GET /a?id=42", true),
            c("{ urlp(id) -m int gt 10 }", "GET /a?id=7", false),
            c("{ base sbs.test/a }", "GET /a?x=1", true),
            c("{ base -i SBS.TEST/A }", "GET /a", true),
            c(
                "{ base_beg other.test/ }",
                "GET /a | Host: other.test",
                true,
            ),
            c("{ base_sub test/a }", "GET /a", true),
            c("{ query x=1&y=2 }", "GET /a?x=1&y=2", true),
            c("{ query -m found }", "GET /a", false),
            c("{ query -m found }", "GET /a?", true),
            c("{ query -m sub y=2 }", "GET /a?x=1&y=2", true),
        ],
        None,
    );
}

#[test]
fn acl_method() {
    run_table(
        &[
            c("{ method GET }", "GET /", true),
            c("{ method GET HEAD }", "HEAD /", true),
            c("{ method POST }", "GET /", false),
            c("{ method PURGE }", "PURGE /", true),
            c("{ method -i purge }", "PURGE /", true),
            c("{ method purge }", "PURGE /", false),
            c("{ method -i get }", "GET /", false),
            c("{ method,lower -m str get }", "GET /", true),
            c("{ method -m beg P }", "PUT /", true),
            c("{ method -m sub ET }", "GET /", true),
            c("! METH_GET", "DELETE /", true),
            c("METH_POST", "POST / | Content-Length: 0", true),
            c("METH_OPTIONS", "OPTIONS *", true),
        ],
        None,
    );
}

#[test]
fn acl_hdr_family() {
    run_table(
        &[
            c("{ hdr(host) sbs.test }", "GET /", true),
            c("{ hdr(Host) -i SBS.TEST }", "GET /", true),
            c("{ hdr(x-a) b }", "GET / | X-A: a, b, c", true),
            c("{ hdr(x-a) b }", "GET / | X-A: a | X-A: b", true),
            c("{ hdr(x-a,1) b }", "GET / | X-A: a | X-A: b", false),
            c("{ hdr(x-a,-1) b }", "GET / | X-A: a | X-A: b", true),
            c("{ hdr(x-a) -m found }", "GET /", false),
            c("{ hdr(x-a) -m found }", "GET / | X-A:", true),
            c("{ hdr(x-a) -m len 0 }", "GET / | X-A:", true),
            c(
                "{ hdr_beg(host) www. }",
                "GET / | Host: www.example.com",
                true,
            ),
            c(
                "{ hdr_beg(host) -i WWW. }",
                "GET / | Host: www.example.com",
                true,
            ),
            c(
                "{ hdr_end(host) .com }",
                "GET / | Host: www.example.com",
                true,
            ),
            c(
                "{ hdr_end(host) .com }",
                "GET / | Host: www.example.org",
                false,
            ),
            c(
                "{ hdr_sub(user-agent) bot }",
                "GET / | User-Agent: Googlebot/2.1",
                true,
            ),
            c(
                "{ hdr_sub(user-agent) -i BOT }",
                "GET / | User-Agent: Googlebot/2.1",
                true,
            ),
            c(
                "{ hdr_reg(host) ^[a-z]+\\.example\\.com$ }",
                "GET / | Host: api.example.com",
                true,
            ),
            c(
                "{ hdr_reg(host) ^[a-z]+\\.example\\.com$ }",
                "GET / | Host: api.example.com:80",
                false,
            ),
            c(
                "{ hdr_dom(host) example.com }",
                "GET / | Host: www.example.com",
                true,
            ),
            c(
                "{ hdr_dom(host) example.com }",
                "GET / | Host: www.myexample.com",
                false,
            ),
            c(
                "{ hdr_dom(host) www }",
                "GET / | Host: www.example.com",
                true,
            ),
            c(
                "{ hdr_dom(host) example }",
                "GET / | Host: example.com:8080",
                true,
            ),
            c("{ hdr_dir(x-p) b }", "GET / | X-P: /a/b/c", true),
            c("{ hdr_len(x-a) 3 }", "GET / | X-A: abc", true),
            c("{ hdr_cnt(x-a) eq 3 }", "GET / | X-A: a, b | X-A: c", true),
            c("{ hdr_cnt(x-a) 0 }", "GET /", true),
            c("{ hdr_cnt(x-a) gt 1 }", "GET / | X-A: a", false),
            c("{ hdr_val(x-n) ge 10 }", "GET / | X-N: 12", true),
            c(
                "{ hdr_ip(x-forwarded-for) 10.0.0.0/8 }",
                "GET / | X-Forwarded-For: 10.1.2.3",
                true,
            ),
            c(
                "{ hdr_ip(x-forwarded-for,-1) 10.0.0.0/8 }",
                "GET / | X-Forwarded-For: 10.1.2.3, 192.168.0.1",
                false,
            ),
            c(
                "{ hdr_ip(x-forwarded-for) 10.0.0.0/8 }",
                "GET / | X-Forwarded-For: 10.1.2.3:8080",
                true,
            ),
            c("{ hdr(x-a) -m len 0 }", "GET / | X-A: a,,b", true),
            c("{ hdr_cnt(x-a) 3 }", "GET / | X-A: a,,b", true),
            c("{ hdr(x-a) \"a b\" }", "GET / | X-A: a b", true),
            c("{ hdr(x-a) a\\ b }", "GET / | X-A: a b", true),
            c("{ hdr(x-a) 'x, y' }", "GET / | X-A: x, y", false),
            c("{ req.fhdr(x-a) 'x, y' }", "GET / | X-A: x, y", true),
            c(
                "{ hdr_dom(host) -i EXAMPLE.COM }",
                "GET / | Host: www.example.com",
                true,
            ),
            c("{ hdr_end(host) :8080 }", "GET / | Host: a:8080", true),
        ],
        None,
    );
}

#[test]
fn acl_req_hdr_and_req_cook() {
    run_table(
        &[
            c("{ req.hdr(x-a) b }", "GET / | X-A: a, b", true),
            c("{ req.hdr(x-a) -m found }", "GET / | x-a: 1", true),
            c(
                "{ req.hdr(x-a),lower -m str abc }",
                "GET / | X-A: ABC",
                true,
            ),
            c("{ req.hdr(x-a) -m beg ab }", "GET / | X-A: abc", true),
            c("{ req.fhdr(x-a) a,b }", "GET / | X-A: a,b", true),
            c("{ req.hdr_cnt(x-a) 2 }", "GET / | X-A: 1 | X-A: 2", true),
            c(
                "{ req.cook(sid) abc }",
                "GET / | Cookie: a=1; sid=abc",
                true,
            ),
            c(
                "{ req.cook(sid) abc }",
                "GET / | Cookie: a=1; sid=abcd",
                false,
            ),
            c("{ req.cook(sid) -m found }", "GET / | Cookie: sid=", false),
            c("{ req.cook(sid) -m found }", "GET / | Cookie: sid=1", true),
            c(
                "{ req.cook(sid) -m found }",
                "GET / | Cookie: xsid=1",
                false,
            ),
            c(
                "{ req.cook(sid) abc }",
                "GET / | Cookie: a=1 | Cookie: sid=abc",
                true,
            ),
            c(
                "{ req.cook(sid) -m beg a }",
                "GET / | Cookie: sid=abc",
                true,
            ),
            c("{ cook(sid) abc }", "GET / | Cookie: sid=abc", true),
            c(
                "{ req.cook_cnt(sid) 2 }",
                "GET / | Cookie: sid=1; sid=2",
                true,
            ),
            c("{ req.cook_val(n) gt 5 }", "GET / | Cookie: n=7", true),
        ],
        None,
    );
}

#[test]
fn acl_src_dst_ports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("nets.lst"),
        "# trusted networks\n\n127.0.0.3\n  10.0.0.0/8\n127.0.0.16/28\n",
    )
    .unwrap();
    run_table(
        &[
            c("{ src 127.0.0.1 }", "GET /", true),
            c("{ src 127.0.0.2 }", "GET /", false),
            c("{ src 127.0.0.0/8 }", "GET /", true).from("127.0.0.5"),
            c("{ src 10.0.0.0/8 127.0.0.4/30 }", "GET /", true).from("127.0.0.5"),
            c("{ src 127.0.0.4/31 }", "GET /", false).from("127.0.0.6"),
            c("{ src -f {{DIR}}/nets.lst }", "GET /", true).from("127.0.0.3"),
            c("{ src -f {{DIR}}/nets.lst }", "GET /", true).from("127.0.0.20"),
            c("{ src -f {{DIR}}/nets.lst }", "GET /", false).from("127.0.0.2"),
            c("{ src,ipmask(24) 127.0.0.0 }", "GET /", true).from("127.0.0.9"),
            c("{ src -m ip 127.0.0.1 }", "GET /", true),
            c("! { src 127.0.0.1 }", "GET /", true).from("127.0.0.7"),
            c("{ src_port 1024:65535 }", "GET /", true),
            c("{ src_port lt 1024 }", "GET /", false),
            c("{ dst 127.0.0.2 }", "GET /", true).on("127.0.0.2"),
            c("{ dst 127.0.0.1 }", "GET /", false).on("127.0.0.2"),
            c("{ dst 127.0.0.0/30 }", "GET /", true).on("127.0.0.3"),
            // The shared frontend listens on {{P0}}; a row with its own frontend does not.
            c("{ dst_port {{P0}} }", "GET /", true),
            c("{ dst_port {{P0}} }", "GET /", false).on("127.0.0.1"),
            c("{ dst_port 1:1023 }", "GET /", false),
            c("{ src ::1 }", "GET /", true).on("[::1]"),
            c("{ src 127.0.0.1 }", "GET /", false).on("[::1]"),
            // IPv4 addresses match IPv6 patterns as ::ffff:a.b.c.d.
            c("{ src ::/0 }", "GET /", true),
            c("{ src ::ffff:127.0.0.1 }", "GET /", true),
            c("{ src 0.0.0.0/0 }", "GET /", true),
            c("{ dst ::1 }", "GET /", true).on("[::1]"),
        ],
        Some(dir.path()),
    );
}

#[test]
fn acl_ssl_and_constants() {
    run_table(
        &[
            c("{ ssl_fc }", "GET /", false),
            c("!{ ssl_fc }", "GET /", true),
            c("{ ssl_fc_sni -m found }", "GET /", false),
            c("! { ssl_fc_sni example.com }", "GET /", true),
            c("{ always_true }", "GET /", true),
            c("{ always_false }", "GET /", false),
            c("TRUE", "GET /", true),
            c("FALSE", "GET /", false),
            c("!FALSE", "GET /", true),
            c("! TRUE", "GET /", false),
            c("HTTP", "GET /", true),
            c("HTTP_1.1", "GET /", true),
            c("HTTP_URL_ABS", "GET http://h/ | Host: h", true),
            c("HTTP_URL_SLASH", "GET /x", true),
            c("HTTP_CONTENT", "POST / | Content-Length: 0", false),
            c("REQ_CONTENT", "GET /", true),
            c("LOCALHOST", "GET /", true),
        ],
        None,
    );
}

#[test]
fn acl_match_methods_on_a_header() {
    run_table(
        &[
            c("{ req.hdr(x) -m str abc }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m str abc }", "GET / | X: ABC", false),
            c("{ req.hdr(x) -i -m str abc }", "GET / | X: ABC", true),
            c("{ req.hdr(x) -m str -i abc }", "GET / | X: ABC", true),
            c("{ req.hdr(x) -m beg ab }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m end bc }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m sub b }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m reg ^a.c$ }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m reg -i ^A.C$ }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m dom b }", "GET / | X: a.b.c", true),
            c("{ req.hdr(x) -m dom b.c }", "GET / | X: a.b.c", true),
            c("{ req.hdr(x) -m dom b }", "GET / | X: a.bc", false),
            c("{ req.hdr(x) -m dir b }", "GET / | X: /a/b/c", true),
            c("{ req.hdr(x) -m dir b/c }", "GET / | X: /a/b/c", true),
            c(
                "{ req.hdr(x) -m ip 192.168.0.0/16 }",
                "GET / | X: 192.168.3.4",
                true,
            ),
            c(
                "{ req.hdr(x) -m ip 192.168.0.0/16 }",
                "GET / | X: 10.0.0.1",
                false,
            ),
            c("{ req.hdr(x) -m ip ::1 }", "GET / | X: ::1", true),
            c("{ req.hdr(x) -m found }", "GET / | X: ", true),
            c("{ req.hdr(x) -m len 3 }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m len gt 3 }", "GET / | X: abc", false),
            c("{ req.hdr(x) -m len 2:4 }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m int 42 }", "GET / | X: 42", true),
            c("{ req.hdr(x) -m int le 41 }", "GET / | X: 42", false),
            c("{ req.hdr(x) -m str -- -dash }", "GET / | X: -dash", true),
            c("{ req.hdr(x) -m int 42 }", "GET / | X: 42abc", true),
            c("{ req.hdr(x) -m int 0 }", "GET / | X: abc", true),
            c("{ req.hdr(x) -m int -- -3 }", "GET / | X: -3", true),
            c("{ req.hdr(x) -m reg \\d+ }", "GET / | X: a12", true),
            c("{ req.hdr(x) -m reg ^(a|b)+$ }", "GET / | X: abba", true),
            c("{ req.hdr(x) -m beg a b c }", "GET / | X: cat", true),
            c(
                "{ req.hdr(x) -m ip 2001:db8::/32 }",
                "GET / | X: 2001:db8::5",
                true,
            ),
            // The string to address cast reads the dotted quad up to the first other byte.
            c(
                "{ req.hdr(x) -m ip 10.0.0.1 }",
                "GET / | X: 10.0.0.1:80",
                true,
            ),
            c(
                "{ req.hdr(x) -m ip 10.0.0.1 }",
                "GET / | X: 10.0.0.1abc",
                true,
            ),
            c(
                "{ req.hdr(x) -m ip 10.0.0.1 }",
                "GET / | X: 10.0.0.1.2",
                false,
            ),
            c(
                "{ req.hdr(x) -m ip ::ffff:10.0.0.1 }",
                "GET / | X: 10.0.0.1",
                true,
            ),
            c("{ req.hdr(x) -m dom . }", "GET / | X: a.b", false),
            c("{ req.hdr(x) -m dir / }", "GET / | X: /a", false),
            c("{ req.hdr(x) -m sub -i ÉT }", "GET / | X: été", false),
        ],
        None,
    );
}

#[test]
fn acl_pattern_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("paths.lst"),
        "# paths served by the API\n\n/api\n   /static\n\t/tabbed\n/trailing   \n/with # hash\n",
    )
    .unwrap();
    std::fs::write(p.join("more.lst"), "/more\r\n/crlf\r\n").unwrap();
    std::fs::write(p.join("agents.lst"), "Bot\ncrawler\n").unwrap();
    std::fs::write(p.join("empty.lst"), "# nothing\n\n").unwrap();
    run_table(
        &[
            c("{ path_beg -f {{DIR}}/paths.lst }", "GET /api/x", true),
            c("{ path_beg -f {{DIR}}/paths.lst }", "GET /static/x", true),
            c("{ path_beg -f {{DIR}}/paths.lst }", "GET /tabbed", true),
            c("{ path_beg -f {{DIR}}/paths.lst }", "GET /other", false),
            c("{ path -f {{DIR}}/paths.lst }", "GET /trailing", false),
            c(
                "{ path -f {{DIR}}/paths.lst }",
                "GET /trailing%20%20%20",
                false,
            ),
            // `#` after the start of a line is part of the pattern.
            c("{ path_beg -f {{DIR}}/paths.lst }", "GET /with", false),
            c(
                "{ req.hdr(x) -f {{DIR}}/paths.lst }",
                "GET / | X: /with # hash",
                true,
            ),
            c("{ path_beg -f {{DIR}}/paths.lst }", "GET /%23", false),
            c(
                "{ path_beg -f {{DIR}}/paths.lst -f {{DIR}}/more.lst }",
                "GET /more",
                true,
            ),
            c("{ path -f {{DIR}}/more.lst }", "GET /crlf", true),
            c(
                "{ path_beg -f {{DIR}}/paths.lst /inline }",
                "GET /inline/x",
                true,
            ),
            c(
                "{ hdr_sub(user-agent) -i -f {{DIR}}/agents.lst }",
                "GET / | User-Agent: A CRAWLER",
                true,
            ),
            c(
                "{ hdr_sub(user-agent) -f {{DIR}}/agents.lst }",
                "GET / | User-Agent: a bot",
                false,
            ),
            c("{ path -f {{DIR}}/empty.lst }", "GET /", false),
        ],
        Some(p),
    );
}

#[test]
fn acl_converters_and_maps() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("hosts.map"),
        "# host to backend\n\nwww.example.com   be_www\n  api.example.com\tbe_api\nstatic.example.com be static\n#commented.example.com be_x\n",
    )
    .unwrap();
    std::fs::write(p.join("prefix.map"), "/api/ api\n/ root\n").unwrap();
    run_table(
        &[
            c(
                "{ req.hdr(host),lower -m str www.example.com }",
                "GET / | Host: WWW.Example.COM",
                true,
            ),
            c("{ req.hdr(x),lower -m beg ab }", "GET / | X: ABC", true),
            c(
                "{ req.hdr(x),map_str({{DIR}}/hosts.map,nohdr) -m str nohdr }",
                "GET /",
                false,
            ),
            c(
                "{ req.hdr(host),map_str({{DIR}}/hosts.map,none) -m str none }",
                "GET / | Host: # host to backend",
                true,
            ),
            c(
                "{ req.hdr(host),upper -m str WWW.EXAMPLE.COM }",
                "GET / | Host: www.example.com",
                true,
            ),
            c("{ path,lower,upper -m str /A }", "GET /a", true),
            c(
                "{ req.hdr(host),lower,map_str({{DIR}}/hosts.map) -m str be_www }",
                "GET / | Host: WWW.example.com",
                true,
            ),
            c(
                "{ req.hdr(host),map_str({{DIR}}/hosts.map) -m str be_api }",
                "GET / | Host: api.example.com",
                true,
            ),
            c(
                "{ req.hdr(host),map_str({{DIR}}/hosts.map) -m str \"be static\" }",
                "GET / | Host: static.example.com",
                true,
            ),
            c(
                "{ req.hdr(host),map_str({{DIR}}/hosts.map) -m str be static }",
                "GET / | Host: static.example.com",
                false,
            ),
            c(
                "{ req.hdr(host),map_str({{DIR}}/hosts.map) -m found }",
                "GET / | Host: commented.example.com",
                false,
            ),
            c(
                "{ req.hdr(host),map({{DIR}}/hosts.map,none) -m str none }",
                "GET / | Host: other.example.com",
                true,
            ),
            c(
                "{ req.hdr(host),map_str({{DIR}}/hosts.map,none) -m str none }",
                "GET / | Host: www.example.com",
                false,
            ),
            c(
                "{ path,map_beg({{DIR}}/prefix.map) -m str api }",
                "GET /api/v1",
                true,
            ),
            c(
                "{ path,map_beg({{DIR}}/prefix.map) -m str root }",
                "GET /x",
                true,
            ),
        ],
        Some(p),
    );
}

#[test]
fn acl_logic() {
    run_table(
        &[
            // Implicit AND.
            c("{ path_beg /a } { method GET }", "GET /a", true),
            c(
                "{ path_beg /a } { method GET }",
                "POST /a | Content-Length: 0",
                false,
            ),
            // OR, and AND binding tighter.
            c("{ path /x } || { path /y }", "GET /y", true),
            c(
                "{ path /x } { method POST } || { path /y }",
                "GET /x",
                false,
            ),
            c("{ path /x } { method POST } || { path /y }", "GET /y", true),
            c(
                "{ path /x } || { path /y } { method POST }",
                "GET /y",
                false,
            ),
            // Negation of one term.
            c("!{ path /x } { method GET }", "GET /y", true),
            c("! { path /x } || { path /x }", "GET /x", true),
            // Named ACLs, several lines of one name OR'ed.
            c("is_a", "GET /b", true).with("acl is_a path /a\nacl is_a path /b"),
            c("is_a !is_b", "GET /a", true)
                .with("acl is_a path_beg /a\nacl is_b hdr(x-b) -m found"),
            c("is_a !is_b", "GET /a | X-B: 1", false)
                .with("acl is_a path_beg /a\nacl is_b hdr(x-b) -m found"),
            c("is_a || is_b", "GET /z | X-B: 1", true)
                .with("acl is_a path_beg /a\nacl is_b hdr(x-b) -m found"),
            c("is_a { method GET }", "GET /a", true).with("acl is_a path_beg /a"),
        ],
        None,
    );
}

/// `use_backend` with a map: the converters choose among several distinct backends, the
/// map's default naming one too.
#[test]
fn dynamic_backend_from_a_map() {
    if !require_haproxy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hosts.map"),
        "# host  backend\n\nwww.example.com be_www\n\n  api.example.com   be_api\n",
    )
    .unwrap();
    let (www, api, def) = (
        MockServer::start("www"),
        MockServer::start("api"),
        MockServer::start("def"),
    );
    let cfg = fill(
        &format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{{{{P0}}}}\n  \
             use_backend %[req.hdr(host),lower,map_str({{{{DIR}}}}/hosts.map,be_def)]\n\
             backend be_www\n  server s {{{{WWW}}}}\nbackend be_api\n  server s {{{{API}}}}\n\
             backend be_def\n  server s {{{{DEF}}}}\n"
        ),
        &[
            ("DIR", &dir.path().display().to_string()),
            ("WWW", &www.addr_str()),
            ("API", &api.addr_str()),
            ("DEF", &def.addr_str()),
        ],
    );
    let hosts = [
        "www.example.com",
        "WWW.EXAMPLE.COM",
        "api.example.com",
        "other.example.com",
        "# host",
    ];
    let (h, r) = side_by_side(&cfg, |side| {
        hosts
            .iter()
            .map(|host| {
                let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                exchange(None, side.addr(0), raw.as_bytes())
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(h, ["www", "www", "api", "def", "def"]);
    assert_eq!(h, r);
}

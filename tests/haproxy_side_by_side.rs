//! HAProxy 2.6 is the truth: the same configurations through `haproxy -c` and `rproxy -c`
//! get the same verdict (only `-c`: nothing is started, nothing is sent); and the README's
//! quickstart, run on fresh loopback ports, answers alike under both.

mod common;
use common::*;
use std::process::Command;

const BASE: &str =
    "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n";

/// (name, body appended to BASE, both accept?)
const CASES: &[(&str, &str, bool)] = &[
    (
        "minimal",
        "frontend f\n  bind 127.0.0.1:18080\n  default_backend b\nbackend b\n  server s 127.0.0.1:18081 check inter 2s rise 2 fall 3\n",
        true,
    ),
    (
        "acl-routing",
        "frontend f\n  bind 127.0.0.1:18080\n  acl is_api path_beg /api\n  acl h hdr(host) -i a.example.com\n  use_backend api if is_api || h\n  default_backend b\nbackend api\n  server s 127.0.0.1:18082\nbackend b\n  server s 127.0.0.1:18081\n",
        true,
    ),
    (
        "rules",
        "frontend f\n  bind 127.0.0.1:18080\n  http-request set-header X-Forwarded-Port %[dst_port]\n  http-request add-header X-Forwarded-Proto https if { ssl_fc }\n  http-request deny deny_status 403 if { src 10.0.0.0/8 }\n  redirect scheme https code 301 if !{ ssl_fc } { path_beg /secure }\n  default_backend b\nbackend b\n  cookie SERVERID insert indirect nocache\n  server s 127.0.0.1:18081 cookie a\n",
        true,
    ),
    (
        "log-format",
        "frontend f\n  bind 127.0.0.1:18080\n  log-format \"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %[capture.req.hdr(0),lower] %[src]\"\n  http-request capture req.hdr(host) len 32\n  default_backend b\nbackend b\n  server s 127.0.0.1:18081\n",
        true,
    ),
    (
        "log-format-req-hdr",
        "frontend f\n  bind 127.0.0.1:18080\n  log-format \"%[req.hdr(host)]\"\n  default_backend b\nbackend b\n  server s 127.0.0.1:18081\n",
        false,
    ),
    (
        "unknown-keyword",
        "frontend f\n  bind 127.0.0.1:18080\n  bogus_keyword 1\n",
        false,
    ),
    (
        "unknown-backend",
        "frontend f\n  bind 127.0.0.1:18080\n  default_backend nope\n",
        false,
    ),
    ("bad-mode", "backend b\n  mode htp\n", false),
    ("bad-balance", "backend b\n  balance nope\n", false),
    ("bad-time", "backend b\n  timeout server 5x\n", false),
    (
        "dup-server",
        "backend b\n  server s 127.0.0.1:18081\n  server s 127.0.0.1:18082\n",
        false,
    ),
    (
        "http-fe-tcp-be",
        "frontend f\n  bind 127.0.0.1:18080\n  default_backend b\nbackend b\n  mode tcp\n  server s 127.0.0.1:18081\n",
        false,
    ),
    (
        "unknown-acl",
        "frontend f\n  bind 127.0.0.1:18080\n  http-request deny if nope\n",
        false,
    ),
    (
        "ssl-no-crt",
        "frontend f\n  bind 127.0.0.1:18443 ssl\n",
        false,
    ),
    (
        "missing-errorfile",
        "backend b\n  errorfile 503 /nonexistent/503.http\n",
        false,
    ),
    (
        "bad-server-option",
        "backend b\n  server s 127.0.0.1:18081 wieght 3\n",
        false,
    ),
];

fn haproxy_check(path: &std::path::Path) -> bool {
    Command::new("haproxy")
        .arg("-c")
        .arg("-q")
        .arg("-f")
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn same_verdict_as_haproxy() {
    if !require(have_program("haproxy"), "haproxy (2.6) not installed") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut diffs = Vec::new();
    for (name, body, ok) in CASES {
        let p = dir.path().join(format!("{name}.cfg"));
        std::fs::write(&p, format!("{BASE}{body}")).expect("write");
        let hap = haproxy_check(&p);
        let ours = rproxy(&["-c", "-q", "-f", p.to_str().expect("utf-8")], dir.path())
            .status
            .success();
        if hap != *ok || ours != *ok {
            diffs.push(format!(
                "{name}: expected {ok}, haproxy {hap}, rproxy {ours}"
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn quickstart_is_valid_for_both_without_warnings() {
    if !require(have_program("haproxy"), "haproxy (2.6) not installed") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("haproxy")
        .args(["-c", "-dW", "-f", "examples/quickstart.cfg"])
        .current_dir(root)
        .output()
        .expect("haproxy runs");
    assert!(
        out.status.success(),
        "haproxy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rproxy(&["-c", "-dW", "-f", "examples/quickstart.cfg"], root);
    assert!(out.status.success(), "rproxy: {}", stderr(&out));
    assert_eq!(stdout(&out), "Configuration file is valid\n");
}

/// The README's first command: `examples/quickstart.cfg` serves, and successive requests
/// alternate between its two stand-in servers, as under haproxy (the file's ports replaced
/// by free ones).
#[test]
fn quickstart_runs_and_alternates_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/quickstart.cfg")).unwrap();
    let template = text
        .replace("127.0.0.1:8080", "127.0.0.1:{{P0}}")
        .replace("127.0.0.1:8081", "127.0.0.1:{{P1}}")
        .replace("127.0.0.1:8082", "127.0.0.1:{{P2}}")
        .replace("127.0.0.1:8404", "127.0.0.1:{{P3}}");
    assert!(
        !template.contains("127.0.0.1:80") && !template.contains("127.0.0.1:84"),
        "the quickstart's ports changed"
    );
    let (h, r) = side_by_side(&template, |side| {
        (0..4)
            .map(|_| {
                let res = side.get("/");
                (res.status, res.body_text())
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(
        r,
        [
            (200, "hello from app1\n".to_string()),
            (200, "hello from app2\n".to_string()),
            (200, "hello from app1\n".to_string()),
            (200, "hello from app2\n".to_string()),
        ]
    );
    assert_eq!(r, h);
}

//! `http-request use-service prometheus-exporter`, side by side with HAProxy 2.6.12: the
//! same metric names, `# TYPE` lines, label sets and sample order on the same
//! configuration; the text parsed by the Python `prometheus_client` parser (Debian's
//! python3-prometheus-client for /usr/bin/python3); and the counters for a known traffic
//! pattern equal to what was sent.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::client::try_http_get;
use common::mock::MockServer;
use common::ports::{free_port, local, refused_port};
use common::proxy::{Proxy, eventually};
use common::require;
use common::sbs::require_haproxy;

fn config(port: u16, m1: &MockServer, m2: &MockServer, dead: u16) -> String {
    format!(
        "defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 1s\n\
         \x20   timeout client 5s\n\
         \x20   timeout server 5s\n\
         frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n\
         \x20   default_backend be\n\
         backend be\n\
         \x20   server s1 {} weight 10\n\
         \x20   server s2 {} check inter 200ms\n\
         \x20   server s3 127.0.0.1:{dead} backup disabled\n\
         listen tcpfwd\n\
         \x20   mode tcp\n\
         \x20   bind 127.0.0.1:{}\n\
         \x20   server t1 {}\n",
        m1.addr_str(),
        m2.addr_str(),
        free_port(),
        m1.addr_str(),
    )
}

fn scrape(port: u16) -> String {
    let r = try_http_get(local(port), "/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
    r.body_text()
}

/// Sample lines without their values (and HAProxy's version label blanked).
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with("# HELP"))
        .map(|l| {
            let l = if l.starts_with('#') {
                l
            } else {
                l.rsplit_once(' ').map(|(k, _)| k).unwrap_or(l)
            };
            if l.starts_with("haproxy_process_build_info{") {
                "haproxy_process_build_info{version=V}".to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
fn names_types_labels_and_order_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let dead = refused_port();
    let (hp, rp) = (free_port(), free_port());
    let _h = Proxy::start_haproxy(&config(hp, &m1, &m2, dead));
    let _r = Proxy::start(&config(rp, &m1, &m2, dead));
    // s2's first check done on both (its check_status samples then exist on both).
    let checked = |p: u16| {
        scrape(p)
            .contains("haproxy_server_check_status{proxy=\"be\",server=\"s2\",state=\"L4OK\"} 1")
    };
    assert!(eventually(Duration::from_secs(5), || checked(hp) && checked(rp)));
    let (h, r) = (shape(&scrape(hp)), shape(&scrape(rp)));
    for (i, (a, b)) in r.iter().zip(&h).enumerate() {
        assert_eq!(a, b, "line {i}");
    }
    assert_eq!(r.len(), h.len());
    // Every metric has a HELP line before its TYPE line.
    let text = scrape(rp);
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(helps, types);
}

/// Parses the exposition with the Python client's parser into `name{labels} -> value`.
fn parse_with_python(text: &str) -> Option<BTreeMap<String, f64>> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    assert!(
        out.status.success(),
        "parser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect(),
    )
}

fn have_parser() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn parsed_values_count_the_traffic_sent() {
    if !require(have_parser(), "python3-prometheus-client not installed") {
        return;
    }
    let (m1, m2) = (MockServer::start("s1"), MockServer::start("s2"));
    let port = free_port();
    let _r = Proxy::start(&config(port, &m1, &m2, refused_port()));
    for _ in 0..7 {
        let r = try_http_get(local(port), "/x").expect("GET");
        assert_eq!(r.status, 200);
    }
    let m = parse_with_python(&scrape(port)).expect("python3");
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no sample {k}"));
    assert_eq!(get("haproxy_backend_sessions_total{proxy=\"be\"}"), 7.0);
    assert_eq!(get("haproxy_backend_loadbalanced_total{proxy=\"be\"}"), 7.0);
    let s1 = get("haproxy_server_sessions_total{proxy=\"be\",server=\"s1\"}");
    let s2 = get("haproxy_server_sessions_total{proxy=\"be\",server=\"s2\"}");
    assert_eq!(s1 + s2, 7.0);
    assert_eq!(s1 as usize, m1.requests());
    assert_eq!(s2 as usize, m2.requests());
    // 7 proxied requests, and this scrape.
    assert_eq!(
        get("haproxy_frontend_http_requests_total{proxy=\"fe\"}"),
        8.0
    );
    assert_eq!(get("haproxy_frontend_sessions_total{proxy=\"fe\"}"), 8.0);
    assert_eq!(
        get("haproxy_frontend_http_responses_total{code=\"2xx\",proxy=\"fe\"}"),
        7.0
    );
    assert_eq!(
        get("haproxy_server_status{proxy=\"be\",server=\"s3\",state=\"MAINT\"}"),
        1.0
    );
    // Per-server response classes and bytes (from the stats counters); an unset limit is
    // NaN as in HAProxy.
    let two = |srv: &str| {
        get(&format!(
            "haproxy_server_http_responses_total{{code=\"2xx\",proxy=\"be\",server=\"{srv}\"}}"
        ))
    };
    assert_eq!(two("s1") + two("s2"), 7.0);
    assert_eq!(
        get("haproxy_backend_http_responses_total{code=\"2xx\",proxy=\"be\"}"),
        7.0
    );
    assert!(get("haproxy_backend_bytes_out_total{proxy=\"be\"}") > 0.0);
    assert!(get("haproxy_server_limit_sessions{proxy=\"be\",server=\"s1\"}").is_nan());
}

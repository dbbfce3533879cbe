//! The stats page and its exports through the real binary, side by side with HAProxy
//! 2.6.12 on the same configuration and traffic: the CSV header line, the rows (order,
//! `iid`/`sid`, names, type) and counters (sessions, requests, 2xx responses, bytes within
//! reason, status, weight); the 401 of a page with `stats auth` byte for byte; `;up`,
//! `;norefresh` and `;scope=`; an admin POST that drains a server (303 and `;st=DONE` as
//! HAProxy, then traffic avoids it); the HTML page in headless Chromium; and the
//! quick-start example's `listen stats`.

mod common;

use std::collections::HashMap;

use common::*;

fn cfg(fe: u16, st: u16, s1: &str, s2: &str) -> String {
    format!(
        "global\n  maxconn 1000\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend www\n  bind 127.0.0.1:{fe}\n  default_backend app\n\
         backend app\n  balance roundrobin\n  server s1 {s1} weight 10\n  server s2 {s2} weight 20\n  server s3 127.0.0.1:1 backup disabled\n\
         listen stats\n  bind 127.0.0.1:{st}\n  stats enable\n  stats uri /st\n  stats refresh 7s\n  stats realm Proxy\\ Stats\n  stats auth admin:secret\n  stats admin if TRUE\n"
    )
}

const AUTH: (&str, &str) = ("Authorization", "Basic YWRtaW46c2VjcmV0");

struct Side {
    _p: Proxy,
    fe: u16,
    st: u16,
}

fn start(engine: Engine, s1: &MockServer, s2: &MockServer) -> Side {
    let p = free_ports(2);
    let c = cfg(p[0], p[1], &s1.addr_str(), &s2.addr_str());
    Side {
        _p: Proxy::start_engine(engine, &c),
        fe: p[0],
        st: p[1],
    }
}

fn get_auth(port: u16, path: &str) -> Response {
    http_request(local(port), "GET", path, &[AUTH], b"").expect("stats request")
}

/// A CSV row: pxname, svname, and every field by name.
type CsvRow = (String, String, HashMap<String, String>);

/// The header line and the rows of a CSV export.
fn parse_csv(text: &str) -> (String, Vec<CsvRow>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().to_string();
    let names: Vec<String> = header
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let m: HashMap<String, String> = names
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect();
            (m["pxname"].clone(), m["svname"].clone(), m)
        })
        .collect();
    (header, rows)
}

fn traffic(side: &Side) {
    for _ in 0..4 {
        let r = http_get(local(side.fe), "/x");
        assert_eq!(r.status, 200);
    }
}

#[test]
fn csv_rows_and_counters_match_haproxy() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let mine = start(Engine::Rproxy, &s1, &s2);
    let theirs = start(Engine::Haproxy, &s1, &s2);
    traffic(&mine);
    traffic(&theirs);
    let a = get_auth(mine.st, "/st;csv");
    let b = get_auth(theirs.st, "/st;csv");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), b.header("content-type"));
    assert_eq!(a.header("cache-control"), b.header("cache-control"));
    assert_eq!(a.header("refresh"), b.header("refresh"));
    let (ha, ra) = parse_csv(&a.body_text());
    let (hb, rb) = parse_csv(&b.body_text());
    assert_eq!(ha, hb, "CSV header line");
    let tail = |r: &Response| {
        let t = r.body_text();
        t[t.len().saturating_sub(3)..].to_string()
    };
    assert_eq!(tail(&a), tail(&b), "how the export ends");
    let keys = |r: &[CsvRow]| {
        r.iter()
            .map(|(p, s, _)| (p.clone(), s.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&ra), keys(&rb), "rows and their order");
    for ((px, sv, x), (_, _, y)) in ra.iter().zip(&rb) {
        assert_eq!(x.len(), y.len(), "{px}/{sv}: field count");
        // Which fields are filled, and the values that do not depend on timing or on the
        // exact bytes each engine adds to a request.
        for (k, v) in y {
            assert_eq!(
                x[k].is_empty(),
                v.is_empty(),
                "{px}/{sv}: field {k} is {:?} here, {v:?} in haproxy",
                x[k]
            );
        }
        for k in [
            "iid", "sid", "type", "pid", "status", "weight", "uweight", "act", "bck", "slim",
            "mode", "algo", "addr", "cookie", "req_tot", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx",
            "lbtot", "econ", "wretr", "qcur", "scur", "dreq", "ereq",
        ] {
            // The stats proxy's own counters include the export requests themselves,
            // served once per engine the same way.
            assert_eq!(x[k], y[k], "{px}/{sv}: {k}");
        }
        if px != "stats" {
            assert_eq!(x["stot"], y["stot"], "{px}/{sv}: stot");
        }
        // HAProxy adds a stream's bytes when it ends: the export request in flight is
        // not in its own numbers yet.
        for k in ["bin", "bout"].into_iter().filter(|_| px != "stats") {
            let (m, h): (f64, f64) = (x[k].parse().unwrap_or(0.0), y[k].parse().unwrap_or(0.0));
            assert!(
                (m == 0.0) == (h == 0.0) && (m - h).abs() <= h * 0.5 + 200.0,
                "{px}/{sv}: {k} {m} vs haproxy {h}"
            );
        }
    }
}

#[test]
fn unauthorized_answer_is_haproxys() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let mine = start(Engine::Rproxy, &s1, &s2);
    let theirs = start(Engine::Haproxy, &s1, &s2);
    let req = b"GET /st HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let a = send_raw(local(mine.st), req);
    let b = send_raw(local(theirs.st), req);
    assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&a).contains("www-authenticate: Basic realm=\"Proxy Stats\""));
    // Wrong password: the same answer.
    let bad = http_request(
        local(mine.st),
        "GET",
        "/st",
        &[("Authorization", "Basic YWRtaW46eA==")],
        b"",
    )
    .unwrap();
    assert_eq!(bad.status, 401);
    // A path outside the stats URI is not the stats page.
    let other = get_auth(mine.st, "/other");
    assert_eq!(other.status, 503);
}

#[test]
fn up_norefresh_and_scope_as_haproxy() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let mine = start(Engine::Rproxy, &s1, &s2);
    let theirs = start(Engine::Haproxy, &s1, &s2);
    for path in [
        "/st;csv;up",
        "/st;csv;scope=AP",
        "/st;csv;norefresh",
        "/st;up;csv;scope=st",
    ] {
        let a = get_auth(mine.st, path);
        let b = get_auth(theirs.st, path);
        assert_eq!(
            a.header("refresh"),
            b.header("refresh"),
            "{path}: refresh header"
        );
        let rows = |r: &Response| {
            parse_csv(&r.body_text())
                .1
                .into_iter()
                .map(|(p, s, m)| format!("{p}/{s}/{}", m["status"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&a), rows(&b), "{path}");
    }
    let j = get_auth(mine.st, "/st;json");
    assert_eq!(j.header("content-type"), Some("application/json"));
    assert!(j.body_text().starts_with("[[{\"objType\":\"Frontend\""));
    let h = get_auth(mine.st, "/st");
    assert_eq!(h.header("content-type"), Some("text/html"));
    assert_eq!(h.header("refresh"), Some("7"));
}

#[test]
fn admin_drain_redirects_and_avoids_the_server() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let mine = start(Engine::Rproxy, &s1, &s2);
    let theirs = start(Engine::Haproxy, &s1, &s2);
    let form = [("Content-Type", "application/x-www-form-urlencoded"), AUTH];
    for body in [
        &b"s=s1&action=drain&b=%232"[..],
        b"s=nosuch&action=maint&b=app",
        b"action=maint&b=app",
    ] {
        let a = http_request(local(mine.st), "POST", "/st;up", &form, body).unwrap();
        let b = http_request(local(theirs.st), "POST", "/st;up", &form, body).unwrap();
        assert_eq!(a.status, 303);
        assert_eq!(a.status, b.status);
        assert_eq!(
            a.header("location"),
            b.header("location"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    for side in [&mine, &theirs] {
        let csv = get_auth(side.st, "/st;csv").body_text();
        assert!(
            csv.contains("\napp,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,10,"),
            "{csv}"
        );
        for _ in 0..4 {
            assert_eq!(http_get(local(side.fe), "/").server(), Some("s2"));
        }
    }
    // Back to ready: s1 takes traffic again.
    let r = http_request(
        local(mine.st),
        "POST",
        "/st",
        &form,
        b"s=s1&action=ready&b=app",
    )
    .unwrap();
    assert_eq!(r.header("location"), Some("/st;st=DONE"));
    let seen: Vec<String> = (0..6)
        .filter_map(|_| http_get(local(mine.fe), "/").server().map(str::to_string))
        .collect();
    assert!(seen.iter().any(|s| s == "s1"), "{seen:?}");
}

/// Runs headless Chromium on `url` (bounded: killed after 20 s); its standard output.
fn chromium(profile: &std::path::Path, extra: &[&str], url: &str) -> String {
    let mut child = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--window-size=412,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run chromium");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    if !eventually(std::time::Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        let _ = child.kill();
        let _ = child.wait();
    }
    reader.join().unwrap_or_default()
}

#[test]
fn html_page_in_chromium() {
    if !require(
        have_program("chromium"),
        "chromium is not installed (apt-get install chromium)",
    ) {
        return;
    }
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    // Without `stats refresh`: the page is not reloaded, only its numbers.
    let p = free_ports(2);
    let c = cfg(p[0], p[1], &s1.addr_str(), &s2.addr_str()).replace("  stats refresh 7s\n", "");
    let mine = Side {
        _p: Proxy::start(&c),
        fe: p[0],
        st: p[1],
    };
    traffic(&mine);
    let url = format!("http://admin:secret@127.0.0.1:{}/st", mine.st);
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&out_dir);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(profile.path(), &["--dump-dom"], &format!("{url};norefresh"));
    assert!(dom.contains("id=\"px-app\""), "no table for app: {dom}");
    for id in [
        "r-1-0-0", "r-2-2-1", "r-2-2-2", "r-2-2-3", "r-2-1-0", "r-3-0-0",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "row {id} missing");
    }
    assert!(
        dom.contains("class=\"maintain\""),
        "the disabled server is shown in MAINT"
    );
    assert!(dom.contains("class=\"active_no_check\""));
    assert!(dom.contains("name=\"action\""), "admin form");
    assert!(!dom.contains("data-updated="));
    // The inline script refreshes the numbers from `;json` in place.
    let live = chromium(
        profile.path(),
        &["--virtual-time-budget=7000", "--dump-dom"],
        &url,
    );
    assert!(
        live.contains("data-updated="),
        "numbers not refreshed in place"
    );
    let shot = out_dir.join("stats-page.png");
    let _ = std::fs::remove_file(&shot);
    let _ = chromium(
        profile.path(),
        &[&format!("--screenshot={}", shot.display())],
        &format!("{url};norefresh"),
    );
    assert!(shot.exists(), "screenshot at {}", shot.display());
}

#[test]
fn quickstart_stats_page() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/quickstart.cfg"
    ))
    .unwrap();
    let p = free_ports(4);
    let text = text
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", p[0]))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", p[1]))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", p[2]))
        .replace("127.0.0.1:8404", &format!("127.0.0.1:{}", p[3]));
    let _px = Proxy::start(&text);
    assert_eq!(http_get(local(p[0]), "/").status, 200);
    let r = http_get(local(p[3]), "/admin-status");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("refresh"), Some("5"));
    let body = r.body_text();
    assert!(body.contains("id=\"px-app\"") && body.contains(">app1<") && body.contains(">app2<"));
    let csv = http_get(local(p[3]), "/admin-status;csv").body_text();
    assert!(csv.starts_with("# pxname,svname,qcur,"));
    assert!(csv.contains("\nwww,FRONTEND,"));
}

#[test]
fn stats_http_request_rules_scope_and_hide_version_as_haproxy() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let s1 = MockServer::start("s1");
    let mut ports = Vec::new();
    let mut sides = Vec::new();
    for engine in [Engine::Rproxy, Engine::Haproxy] {
        let p = free_ports(2);
        let c = format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
             listen web\n  bind 127.0.0.1:{}\n  server s1 {}\n\
             listen stats\n  bind 127.0.0.1:{}\n  stats enable\n  stats uri /st\n  stats hide-version\n  stats scope .\n\
             \x20 stats http-request deny if {{ path_end x }}\n\
             \x20 stats http-request auth realm R2 if {{ path_end y }}\n\
             \x20 stats http-request allow\n",
            p[0],
            s1.addr_str(),
            p[1]
        );
        sides.push(Proxy::start_engine(engine, &c));
        ports.push(p[1]);
    }
    for path in ["/stx", "/sty"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let a = send_raw(local(ports[0]), req.as_bytes());
        let b = send_raw(local(ports[1]), req.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{path}"
        );
    }
    let rows = |port: u16| {
        parse_csv(&http_get(local(port), "/st;csv").body_text())
            .1
            .into_iter()
            .map(|(p, s, m)| format!("{p}/{s}/{}/{}", m["dreq"], m["iid"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(ports[0]),
        rows(ports[1]),
        "scope . and the denied request"
    );
    for port in ports {
        let page = http_get(local(port), "/st").body_text();
        assert!(!page.contains("version"), "hide-version");
    }
}

#[test]
fn checked_servers_and_denials_as_haproxy() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let up = MockServer::start("up");
    let dead = refused_port();
    let mut sides = Vec::new();
    for engine in [Engine::Rproxy, Engine::Haproxy] {
        let p = free_ports(3);
        let c = format!(
            "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n  timeout check 500ms\n\
             frontend f\n  bind 127.0.0.1:{}\n  http-request deny if {{ path_end x }}\n  default_backend b\n\
             backend b\n  http-request deny if {{ path_end y }}\n  option httpchk GET /health\n\
             \x20 server ok {} check inter 100ms rise 2 fall 3\n  server ko 127.0.0.1:{dead} check inter 100ms rise 2 fall 3\n\
             listen l\n  bind 127.0.0.1:{}\n  http-request deny if {{ path_end x }}\n  server s {}\n\
             listen stats\n  bind 127.0.0.1:{}\n  stats enable\n  stats uri /st\n",
            p[0],
            up.addr_str(),
            p[1],
            up.addr_str(),
            p[2]
        );
        let px = Proxy::start_engine(engine, &c);
        for path in ["/x", "/y", "/z"] {
            let _ = http_get(local(p[0]), path);
        }
        let _ = http_get(local(p[1]), "/x");
        sides.push((px, p[2]));
    }
    let csv = |port: u16| parse_csv(&http_get(local(port), "/st;csv").body_text()).1;
    // Both have run the checks: the dead server is down, the other fully up.
    for (_, port) in &sides {
        assert!(
            eventually(std::time::Duration::from_secs(5), || {
                let rows = csv(*port);
                rows.iter()
                    .any(|(_, s, m)| s == "ko" && m["status"] == "DOWN")
                    && rows
                        .iter()
                        .any(|(_, s, m)| s == "ok" && m["status"] == "UP")
            }),
            "checks did not settle"
        );
    }
    // Snapshots taken while no check runs on either side: HAProxy shows a running one as
    // `* ` before its status with code 0 (CI saw it).
    let running = |rows: &[CsvRow]| {
        rows.iter()
            .any(|(_, _, m)| m.get("check_status").is_some_and(|s| s.starts_with("* ")))
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    assert!(
        eventually(std::time::Duration::from_secs(5), || {
            (a, b) = (csv(sides[0].1), csv(sides[1].1));
            !running(&a) && !running(&b)
        }),
        "no moment without a check running"
    );
    assert_eq!(a.len(), b.len());
    for ((px, sv, x), (_, _, y)) in a.iter().zip(&b) {
        for k in [
            "status",
            "check_status",
            "check_code",
            "check_desc",
            "check_rise",
            "check_fall",
            "check_health",
            "chkdown",
            "dreq",
            "hrsp_2xx",
            "hrsp_4xx",
            "hrsp_5xx",
            "req_tot",
            "act",
            "bck",
            "weight",
        ] {
            // HAProxy prefixes `* ` to the status of a check running at that moment.
            let (x, y) = (x[k].trim_start_matches("* "), y[k].trim_start_matches("* "));
            assert_eq!(x, y, "{px}/{sv}: {k}");
        }
        for k in [
            "chkfail",
            "downtime",
            "lastchg",
            "check_duration",
            "last_chk",
        ] {
            assert_eq!(x[k].is_empty(), y[k].is_empty(), "{px}/{sv}: {k} presence");
        }
    }
}

#[test]
fn response_times_averaged_as_haproxy() {
    if !require(have_program("haproxy"), "haproxy is not installed") {
        return;
    }
    let slow = MockServer::builder("slow")
        .delay(std::time::Duration::from_millis(150))
        .start();
    let fast = MockServer::start("fast");
    let mut got = Vec::new();
    for engine in [Engine::Rproxy, Engine::Haproxy] {
        let p = free_ports(2);
        let c = cfg(p[0], p[1], &slow.addr_str(), &fast.addr_str());
        let _px = Proxy::start_engine(engine, &c);
        let side = Side {
            _p: _px,
            fe: p[0],
            st: p[1],
        };
        traffic(&side);
        let rows = parse_csv(&get_auth(side.st, "/st;csv").body_text()).1;
        let num = |sv: &str, k: &str| -> u64 {
            rows.iter()
                .find(|(p, s, _)| p == "app" && s == sv)
                .map(|(_, _, m)| m[k].parse().unwrap_or(0))
                .unwrap_or(0)
        };
        got.push([
            num("s1", "rtime"),
            num("s1", "ttime"),
            num("s1", "rtime_max"),
            num("s2", "rtime"),
            num("BACKEND", "rtime"),
        ]);
    }
    let (a, b) = (got[0], got[1]);
    // The slow server's times near 150 ms on both, the fast one's near 0, and the
    // backend's average in between (the same sliding average over the same samples).
    for (i, what) in [
        "s1 rtime",
        "s1 ttime",
        "s1 rtime_max",
        "s2 rtime",
        "backend rtime",
    ]
    .iter()
    .enumerate()
    {
        // Wide enough for a loaded machine (one fast answer delayed 50 ms by the scheduler
        // moves the fast server's average that much), narrow against the 150 ms apart.
        let (x, y) = (a[i] as i64, b[i] as i64);
        assert!(
            (x - y).abs() <= 80,
            "{what}: {x} vs haproxy {y} ({a:?} / {b:?})"
        );
    }
    assert!(a[0] >= 140 && a[3] < 100, "{a:?}");
    eprintln!("rtime/ttime/rtime_max/s2 rtime/backend rtime: rproxy {a:?}, haproxy {b:?}");
}

/// The admin form driven by a real browser: headless Chromium loads the stats page in a
/// frame of a page served from the same origin, ticks s1, picks "Set state to DRAIN" and
/// submits the page's own form; the 303 brings the page back with `;st=DONE` and s1's row
/// in DRAIN, and traffic then avoids s1.
#[test]
fn admin_drain_in_chromium() {
    if !require(
        have_program("chromium"),
        "chromium is not installed (apt-get install chromium)",
    ) {
        return;
    }
    let s1 = MockServer::start("s1");
    let s2 = MockServer::start("s2");
    let dir = tempfile::tempdir().unwrap();
    let wrap = dir.path().join("wrap.html");
    std::fs::write(
        &wrap,
        r#"<html><body><div id="out">pending</div>
<iframe id="f" src="/st;norefresh" width="1000" height="800"></iframe>
<script>
let step = 0;
document.getElementById('f').onload = function () {
  const d = this.contentDocument;
  const box = d.querySelector('input[type=checkbox][name=s][value=s1]');
  if (step === 0) {
    step = 1;
    if (!box) { document.getElementById('out').textContent = 'no checkbox'; return; }
    box.checked = true;
    box.form.querySelector('select[name=action]').value = 'drain';
    box.form.submit();
  } else {
    const row = box ? box.closest('tr').textContent : 'no row';
    document.getElementById('out').textContent = 'after: ' + d.location.href + ' | ' + row;
  }
};
</script></body></html>
"#,
    )
    .unwrap();
    let p = free_ports(2);
    // No `stats auth` here (the credentials are the other test's part): `admin if TRUE`.
    let c = cfg(p[0], p[1], &s1.addr_str(), &s2.addr_str())
        .replace("  stats refresh 7s\n", "")
        .replace("  stats auth admin:secret\n", "")
        + &format!(
            "  http-request return status 200 content-type text/html file {} if {{ path /wrap }}\n",
            wrap.display()
        );
    let _p = Proxy::start(&c);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(
        profile.path(),
        &["--virtual-time-budget=8000", "--dump-dom"],
        &format!("http://127.0.0.1:{}/wrap", p[1]),
    );
    let out = dom
        .split("<div id=\"out\">")
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .unwrap_or("")
        .to_string();
    assert!(
        out.starts_with("after: "),
        "the form was not submitted: {out:?}"
    );
    assert!(out.contains(";st=DONE"), "{out}");
    assert!(out.contains("DRAIN"), "s1's row: {out}");
    // Applied: the CSV says DRAIN and new requests go to s2 only.
    let csv = http_get(local(p[1]), "/st;csv").body_text();
    let row = csv.lines().find(|l| l.starts_with("app,s1,")).unwrap_or("");
    assert!(row.contains(",DRAIN,"), "{row}");
    for _ in 0..6 {
        assert_eq!(http_get(local(p[0]), "/").status, 200);
    }
    assert_eq!(s1.requests(), 0, "a drained server gets no new traffic");
}

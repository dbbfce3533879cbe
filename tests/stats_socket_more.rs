//! More of the runtime API, side by side with HAProxy 2.6.12 (the same configuration under
//! both, the same commands, answers compared byte for byte where HAProxy's are
//! deterministic): `set server ... addr|check-port|check-addr|health|agent*` and what they
//! do to traffic and to `show servers state`/`show stat`; `show stat` filters
//! (`<proxy> <type> <sid>`, `up`, `no-maint`); `clear counters [all]` and their levels;
//! `disable|enable|shutdown frontend` (refused connections while disabled);
//! `set maxconn frontend|global`, `set rate-limit`, `show errors`, `show env`,
//! `shutdown session`; and `severity-output` on the socket line.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::client::try_http_get;
use common::mock::MockServer;
use common::ports::{free_port, local, refused_port};
use common::proxy::{Engine, Proxy, accepts, eventually};
use common::sbs::require_haproxy;
use common::stats_cli::{ask, ask_tcp, start_with_sockets};

struct Setup {
    proxy: Proxy,
    dir: tempfile::TempDir,
    port: u16,
    user_port: u16,
}

impl Setup {
    fn sock(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sock"))
    }
    fn admin(&self, cmd: &str) -> String {
        ask(&self.sock("admin"), cmd)
    }
    fn get(&self) -> std::io::Result<common::client::Response> {
        try_http_get(local(self.port), "/")
    }
}

/// `fe` sends everything to `solo` (one server, `a`, on `m1`); `be` has an unchecked
/// server, a checked one and a disabled backup, for the state commands.
fn start(engine: Engine, m1: &MockServer, m2: &MockServer, dead: u16) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let user_port = free_port();
    let cfg = format!(
        "global\n\
         \x20   stats socket {d}/admin.sock level admin\n\
         \x20   stats socket {d}/op.sock level operator\n\
         \x20   stats socket ipv4@127.0.0.1:{user_port} level user\n\
         \x20   stats socket {d}/num.sock level admin severity-output number\n\
         \x20   stats socket {d}/str.sock level admin severity-output string\n\
         \x20   stats timeout 5s\n\
         defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 1s\n\
         \x20   timeout client 5s\n\
         \x20   timeout server 5s\n\
         frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   default_backend solo\n\
         backend solo\n\
         \x20   server a {a1}\n\
         backend be\n\
         \x20   balance roundrobin\n\
         \x20   server s1 {a1} weight 10\n\
         \x20   server s2 {a2} check inter 200ms\n\
         \x20   server s3 127.0.0.1:{dead} backup disabled\n",
        d = dir.path().display(),
        a1 = m1.addr_str(),
        a2 = m2.addr_str(),
    );
    let socks = ["admin", "op", "num", "str"].map(|n| dir.path().join(format!("{n}.sock")));
    let proxy = start_with_sockets(engine, &cfg, &socks);
    let s = Setup {
        proxy,
        dir,
        port,
        user_port,
    };
    // s2's first check has passed (its columns settle).
    assert!(
        eventually(Duration::from_secs(5), || servers_state(&s.sock("admin"))
            .contains(" s2 127.0.0.1 2 0 1 1 T 6 3 4 6 ")),
        "{}",
        servers_state(&s.sock("admin"))
    );
    s
}

/// Both engines, after s2's first check.
fn both() -> Option<(Setup, Setup, MockServer, MockServer)> {
    if !require_haproxy() {
        return None;
    }
    let (m1, m2) = (MockServer::start("m1"), MockServer::start("m2"));
    let dead = refused_port();
    let h = start(Engine::Haproxy, &m1, &m2, dead);
    let r = start(Engine::Rproxy, &m1, &m2, dead);
    Some((h, r, m1, m2))
}

/// `show servers state` with the seconds-since-change column blanked, and a check in
/// progress shown as a finished one (HAProxy shows the result unknown meanwhile).
fn servers_state(sock: &Path) -> String {
    ask(sock, "show servers state\n")
        .lines()
        .map(|l| {
            let mut w: Vec<String> = l.split(' ').map(str::to_string).collect();
            if w.len() > 13 && !l.starts_with('#') {
                w[9] = "T".into();
                if let Ok(st) = w[13].parse::<u32>()
                    && st & 1 == 1
                {
                    w[13] = (st & !1).to_string();
                    w[11] = "3".into();
                }
            }
            w.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same command to both: the same bytes back.
fn same(h: &Setup, r: &Setup, sock: &str, cmds: &[&str]) {
    for cmd in cmds {
        assert_eq!(
            ask(&r.sock(sock), cmd),
            ask(&h.sock(sock), cmd),
            "{sock}: {cmd:?}"
        );
    }
}

/// A CSV column of the row `px,sv` in `show stat`.
fn stat_field(s: &Setup, px: &str, sv: &str, field: &str) -> String {
    let csv = s.admin("show stat\n");
    let header: Vec<&str> = csv
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let Some(i) = header.iter().position(|h| *h == field) else {
        return format!("no field {field}");
    };
    csv.lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .and_then(|l| l.split(',').nth(i).map(str::to_string))
        .unwrap_or_else(|| format!("no row {px}/{sv}"))
}

#[test]
fn set_server_addr_moves_traffic_as_haproxy() {
    let Some((h, r, m1, _m2)) = both() else {
        return;
    };
    let m3 = MockServer::start("m3");
    for s in [&h, &r] {
        assert_eq!(s.get().expect("GET").status, 200);
    }
    assert!(m1.requests() >= 2);
    // The account of the change, then traffic goes to the new address, for both.
    let to_m3 = format!("set server solo/a addr 127.0.0.1 port {}\n", m3.port());
    for s in [&h, &r] {
        let before = m3.requests();
        let ans = s.admin(&to_m3);
        assert_eq!(
            ans,
            format!(
                "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n\n",
                m1.port(),
                m3.port()
            ),
            "{}",
            s.proxy.engine().name()
        );
        for _ in 0..3 {
            assert_eq!(s.get().expect("GET after addr").status, 200);
        }
        assert_eq!(m3.requests() - before, 3, "{}", s.proxy.engine().name());
    }
    assert_eq!(
        servers_state(&r.sock("admin")),
        servers_state(&h.sock("admin"))
    );
    assert_eq!(
        stat_field(&r, "solo", "a", "addr"),
        format!("127.0.0.1:{}", m3.port())
    );
    assert_eq!(
        stat_field(&r, "solo", "a", "addr"),
        stat_field(&h, "solo", "a", "addr")
    );
    // Every form of the command and its errors, byte for byte (the state moves the same
    // way on both: each answer depends on the previous).
    same(
        &h,
        &r,
        "admin",
        &[
            "set server be/s1 addr 127.0.0.2\n",
            "set server be/s1 addr 127.0.0.3 port 19095\n",
            "set server be/s1 addr\n",
            "set server be/s1 addr foo\n",
            "set server be/s1 addr localhost\n",
            "set server be/s1 addr 127.0.0.3 port\n",
            "set server be/s1 addr 127.0.0.3 port abc\n",
            "set server be/s1 addr 127.0.0.4 port abc\n",
            "set server be/s1 addr 127.0.0.4 port +5\n",
            "set server be/s1 addr 127.0.0.4 port -1\n",
            "set server be/s1 addr 127.0.0.4 port 70000\n",
            "set server be/s1 addr 127.0.0.4 port 1a\n",
            "set server be/s1 addr 127.0.0.4 port 0x10\n",
            "set server be/s1 addr 127.0.0.4 port 99999999999999999999\n",
            "set server be/s1 addr ::1 port 19091\n",
            "set server be/s1 addr ::1 port 19091\n",
            "set server be/s1 addr 127.0.0.1 foo 5\n",
            "set server be/s1 addr 1.2.3.4 port 80 port 5\n",
            "set server be/zz addr 1.2.3.4\n",
            "set server zz/s1 addr 1.2.3.4\n",
        ],
    );
    assert_eq!(
        servers_state(&r.sock("admin")),
        servers_state(&h.sock("admin"))
    );
    // Operators may not.
    same(
        &h,
        &r,
        "op",
        &[
            "set server be/s1 addr 127.0.0.9\n",
            "set server be/s1 health down\n",
        ],
    );
}

#[test]
fn set_server_check_health_agent_answers_match_haproxy() {
    let Some((h, r, _m1, _m2)) = both() else {
        return;
    };
    same(
        &h,
        &r,
        "admin",
        &[
            "set server be/s1 check-port 80\n",
            "set server be/s1 check-port abc\n",
            "set server be/s1 check-port\n",
            "set server be/s2 check-port abc\n",
            "set server be/s2 check-port 12a\n",
            "set server be/s2 check-port -1\n",
            "set server be/s2 check-port 70000\n",
            "set server be/s2 check-addr\n",
            "set server be/s2 check-addr foo\n",
            "set server be/s2 check-addr 127.0.0.1 port abc\n",
            "set server be/s1 check-addr 127.0.0.1\n",
            "set server be/s1 health\n",
            "set server be/s1 health foo\n",
            "set server be/s1 agent up\n",
            "set server be/s1 agent\n",
            "set server be/s1 agent-addr\n",
            "set server be/s1 agent-addr 127.0.0.1\n",
            "set server be/s1 agent-port\n",
            "set server be/s1 agent-port 80\n",
            "set server be/s1 agent-send foo\n",
            "set server be/s1 fqdn\n",
            "set server be/s1 fqdn foo.example\n",
            "set server be/s1 ssl on\n",
            "set server be/s1 foo\n",
        ],
    );
    // health on an unchecked server: DOWN, then fully UP (counter rise+fall-1).
    same(&h, &r, "admin", &["set server be/s1 health down\n"]);
    assert_eq!(
        servers_state(&r.sock("admin")),
        servers_state(&h.sock("admin"))
    );
    assert_eq!(stat_field(&r, "be", "s1", "status"), "DOWN");
    same(&h, &r, "admin", &["set server be/s1 health up\n"]);
    assert_eq!(
        servers_state(&r.sock("admin")),
        servers_state(&h.sock("admin"))
    );
    // check-port and check-addr show in the state; checks to a dead port take s2 down.
    let dead = refused_port();
    same(
        &h,
        &r,
        "admin",
        &[
            "set server be/s2 check-addr 127.0.0.1\n",
            &format!("set server be/s2 check-port {dead}\n"),
        ],
    );
    for s in [&h, &r] {
        assert!(
            eventually(Duration::from_secs(5), || stat_field(
                s, "be", "s2", "status"
            ) == "DOWN"),
            "{}: {}",
            s.proxy.engine().name(),
            stat_field(s, "be", "s2", "status")
        );
    }
    assert_eq!(
        servers_state(&r.sock("admin")),
        servers_state(&h.sock("admin"))
    );
    // Back to the server's port: checks follow a server moved by `set server ... addr`.
    let m4 = MockServer::start("m4");
    same(
        &h,
        &r,
        "admin",
        &[
            "set server be/s2 check-port 0\n",
            &format!("set server be/s2 addr 127.0.0.1 port {}\n", m4.port()),
        ],
    );
    for s in [&h, &r] {
        assert!(
            eventually(Duration::from_secs(5), || stat_field(
                s, "be", "s2", "status"
            )
            .starts_with("UP")),
            "{}: {}",
            s.proxy.engine().name(),
            stat_field(s, "be", "s2", "status")
        );
    }
    // A frontend maxconn of 0 shows as such, the frontend still OPEN.
    same(&h, &r, "admin", &["set maxconn frontend fe 0\n"]);
    for s in [&h, &r] {
        assert_eq!(stat_field(s, "fe", "FRONTEND", "slim"), "0");
        assert_eq!(stat_field(s, "fe", "FRONTEND", "status"), "OPEN");
    }
}

/// Row keys (`pxname,svname`) of a CSV answer, or the whole answer when it is not CSV.
fn keys(ans: &str) -> Vec<String> {
    if !ans.starts_with("# ") {
        return vec![ans.to_string()];
    }
    ans.lines()
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn show_stat_filters_match_haproxy() {
    let Some((h, r, _m1, _m2)) = both() else {
        return;
    };
    for cmd in [
        "show stat -1 4 -1\n",
        "show stat be 4 -1\n",
        "show stat 4 4 1\n",
        "show stat fe 1 -1\n",
        "show stat 2 -1 -1\n",
        "show stat fe\n",
        "show stat zz 1 -1\n",
        "show stat 99 1 -1\n",
        "show stat be 2\n",
        "show stat be -1 3\n",
        "show stat be x y\n",
        "show stat be 6 2\n",
        "show stat solo 2 -1\n",
        "show stat typed be 4 2\n",
        "show stat json be 4 2\n",
        "show stat no-maint be 4 -1\n",
        "show stat up\n",
        "show stat no-maint\n",
        "show stat be -1 -1 up\n",
        "show stat be -1 -1 no-maint\n",
    ] {
        assert_eq!(
            keys(&r.admin(cmd)),
            keys(&h.admin(cmd)),
            "{cmd:?}\nrproxy:\n{}",
            r.admin(cmd)
        );
    }
    // `up` shows usable/total servers after a backend's status.
    let status = |s: &Setup| {
        s.admin("show stat be 2 -1 up\n")
            .lines()
            .nth(1)
            .and_then(|l| l.split(',').nth(17).map(str::to_string))
    };
    assert_eq!(status(&r), status(&h));
    assert_eq!(status(&r).as_deref(), Some("UP (2/3)"));
    // typed and JSON with a filter: the same objects and fields.
    let typed_keys = |s: &Setup| {
        s.admin("show stat be 6 2 typed\n")
            .lines()
            .filter(|l| !l.contains(".last_chk."))
            .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
            .collect::<Vec<_>>()
    };
    assert_eq!(typed_keys(&r), typed_keys(&h));
    let json_objs = |s: &Setup| {
        s.admin("show stat be 4 2 json\n")
            .split("{\"objType\":")
            .skip(1)
            .filter(|o| !o.contains("\"name\":\"last_chk\""))
            .map(|o| o.split("\"value\":{").next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(json_objs(&r), json_objs(&h));
}

#[test]
fn clear_counters_levels_and_effect_match_haproxy() {
    let Some((h, r, _m1, _m2)) = both() else {
        return;
    };
    for s in [&h, &r] {
        for _ in 0..3 {
            assert_eq!(s.get().expect("GET").status, 200);
        }
    }
    let fields = |s: &Setup| {
        ["stot", "smax", "req_tot", "hrsp_2xx", "bin"]
            .iter()
            .map(|f| {
                (
                    stat_field(s, "fe", "FRONTEND", f),
                    stat_field(s, "solo", "a", f),
                    stat_field(s, "solo", "BACKEND", f),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = fields(&r);
    assert_eq!(before[0].0, "3");
    // Levels: `clear counters` from operator up, `all` for admins only.
    same(
        &h,
        &r,
        "op",
        &[
            "clear counters all\n",
            "clear counters\n",
            "clear counters foo\n",
        ],
    );
    assert_eq!(
        ask_tcp(local(r.user_port), "clear counters\n"),
        ask_tcp(local(h.user_port), "clear counters\n")
    );
    // Maxima are cleared, totals stay.
    let after = fields(&r);
    assert_eq!(after[0], before[0], "stot stays");
    assert_eq!(after[1].0, "0", "smax cleared");
    assert_eq!(
        (fields(&h)[0].0.clone(), fields(&h)[1].0.clone()),
        (after[0].0.clone(), after[1].0.clone())
    );
    same(&h, &r, "admin", &["clear counters all\n"]);
    let (rf, hf) = (fields(&r), fields(&h));
    assert_eq!(rf, hf);
    assert!(
        rf.iter().all(|(a, b, c)| a == "0" && b == "0" && c == "0"),
        "{rf:?}"
    );
}

#[test]
fn frontend_disable_enable_shutdown_as_haproxy() {
    let Some((h, r, _m1, _m2)) = both() else {
        return;
    };
    same(
        &h,
        &r,
        "admin",
        &[
            "disable frontend\n",
            "disable frontend zz\n",
            "disable frontend solo\n",
            "enable frontend be\n",
            "shutdown frontend\n",
            "shutdown frontend zz\n",
            "enable frontend fe\n",
        ],
    );
    same(
        &h,
        &r,
        "op",
        &["disable frontend fe\n", "shutdown frontend fe\n"],
    );
    // Disabled: connections are refused; the stats say PAUSED.
    same(
        &h,
        &r,
        "admin",
        &["disable frontend fe\n", "disable frontend fe\n"],
    );
    for s in [&h, &r] {
        assert!(
            eventually(Duration::from_secs(2), || !accepts(local(s.port))),
            "{} still accepts",
            s.proxy.engine().name()
        );
        assert_eq!(stat_field(s, "fe", "FRONTEND", "status"), "PAUSED");
    }
    same(&h, &r, "admin", &["enable frontend fe\n"]);
    for s in [&h, &r] {
        assert!(
            eventually(Duration::from_secs(2), || s
                .get()
                .is_ok_and(|x| x.status == 200)),
            "{} does not serve after enable",
            s.proxy.engine().name()
        );
        assert_eq!(stat_field(s, "fe", "FRONTEND", "status"), "OPEN");
    }
    // Shut down: for good.
    same(
        &h,
        &r,
        "admin",
        &[
            "shutdown frontend fe\n",
            "shutdown frontend fe\n",
            "disable frontend fe\n",
            "enable frontend fe\n",
        ],
    );
    for s in [&h, &r] {
        assert!(eventually(Duration::from_secs(2), || !accepts(local(
            s.port
        ))));
        assert_eq!(stat_field(s, "fe", "FRONTEND", "status"), "STOP");
    }
}

#[test]
fn maxconn_rate_limit_errors_env_and_sessions() {
    let Some((h, r, _m1, _m2)) = both() else {
        return;
    };
    same(
        &h,
        &r,
        "admin",
        &[
            "set maxconn frontend\n",
            "set maxconn frontend zz 3\n",
            "set maxconn frontend fe\n",
            "set maxconn frontend fe -5\n",
            "set maxconn frontend fe 100\n",
            "set maxconn global\n",
            "set maxconn global 99999999\n",
            "set maxconn global 500\n",
            "set rate-limit foo\n",
            "set rate-limit connections\n",
            "set rate-limit connections global\n",
            "set rate-limit sessions global 10\n",
            "show errors zz\n",
            "show env RPROXY_NO_SUCH_VARIABLE\n",
            "show env PATH\n",
            "shutdown session\n",
            "shutdown session abc\n",
            "shutdown session 0x7777777\n",
            "set severity-output\n",
            "set severity-output foo\n",
        ],
    );
    same(
        &h,
        &r,
        "op",
        &[
            "set maxconn frontend fe 5\n",
            "set maxconn global 5\n",
            "set rate-limit sessions global 5\n",
            "shutdown session 0x1\n",
        ],
    );
    for cmd in ["show errors\n", "show env PATH\n"] {
        assert_eq!(
            ask_tcp(local(r.user_port), cmd),
            ask_tcp(local(h.user_port), cmd),
            "user: {cmd:?}"
        );
    }
    assert_eq!(stat_field(&r, "fe", "FRONTEND", "slim"), "100");
    assert_eq!(
        stat_field(&r, "fe", "FRONTEND", "slim"),
        stat_field(&h, "fe", "FRONTEND", "slim")
    );
    assert!(r.admin("show info\n").contains("\nMaxconn: 500\n"));
    // show errors: HAProxy's heading, with the date.
    let shape = |s: String| {
        s.split_once(" on [")
            .map(|(a, b)| (a.to_string(), b.split_once("] : ").map(|x| x.1.to_string())))
    };
    assert_eq!(
        shape(r.admin("show errors\n")),
        shape(h.admin("show errors\n"))
    );
    assert_eq!(
        shape(r.admin("show errors fe request\n")),
        shape(h.admin("show errors fe request\n"))
    );
    // shutdown session: a transfer in progress ends.
    let slow = MockServer::builder("slow")
        .delay(Duration::from_secs(8))
        .start();
    r.admin(&format!(
        "set server solo/a addr 127.0.0.1 port {}\n",
        slow.port()
    ));
    let port = r.port;
    let client = std::thread::spawn(move || try_http_get(local(port), "/"));
    assert!(eventually(Duration::from_secs(3), || slow.connections() > 0));
    let list = ask(&r.sock("op"), "show sess\n");
    let id = list
        .lines()
        .find(|l| l.contains("fe=fe"))
        .and_then(|l| l.split(':').next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no session of fe in {list:?}"));
    assert_eq!(r.admin(&format!("shutdown session {id}\n")), "\n");
    let res = client.join().expect("client thread");
    assert!(res.is_err(), "the session should have been cut: {res:?}");
    assert!(!ask(&r.sock("op"), "show sess\n").contains("fe=fe"));
}

#[test]
fn severity_output_prefixes_messages_as_haproxy() {
    let Some((h, r, _m1, _m2)) = both() else {
        return;
    };
    let cmds = [
        "get weight be/s1\n",
        "get weight be/zz\n",
        "show backend\n",
        "set weight be/s1 10\n",
        "set server be/s1 addr 127.0.0.1\n",
        "set server be/s2 check-port abc\n",
        "set server be/s1 check-port 80\n",
        "set server be/s1 health foo\n",
        "set server be/s1 agent up\n",
        "set server be/s1 state foo\n",
        "disable frontend zz\n",
        "set timeout cli abc\n",
        "set maxconn global 99999999\n",
        "show servers state zz\n",
        "show stat zz 1 -1\n",
        "shutdown session\n",
        "set severity-output foo\n",
        "set severity-output none; get weight be/zz\n",
        "set severity-output string; get weight be/zz\n",
    ];
    same(&h, &r, "num", &cmds);
    same(&h, &r, "str", &cmds);
    // The first line of the answer to an unknown command (the list that follows differs).
    for sock in ["num", "str"] {
        assert_eq!(
            ask(&r.sock(sock), "foo\n").lines().next(),
            ask(&h.sock(sock), "foo\n").lines().next()
        );
    }
}

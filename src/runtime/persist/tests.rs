//! Cookie persistence on header lists, table-driven, with the outcomes observed with
//! haproxy 2.6.12 (the side-by-side tests in `tests/persist.rs` run the real thing).

use std::time::Duration;

use super::cookie::{CookieRt, CookieState, RequestFacts};
use super::dates;
use crate::model::proxy::{CookieCfg, CookieMode};
use crate::runtime::http::head::{Headers, ResponseHead, Version};

const NOW: u64 = 1_796_267_486;

fn cfg(mode: CookieMode, opts: &str) -> CookieCfg {
    let has = |w: &str| opts.split_whitespace().any(|o| o == w);
    CookieCfg {
        name: if mode == CookieMode::Insert {
            "SRV".into()
        } else {
            "JS".into()
        },
        mode,
        indirect: has("indirect"),
        nocache: has("nocache"),
        postonly: has("postonly"),
        preserve: has("preserve"),
        httponly: has("httponly"),
        secure: has("secure"),
        domains: if has("domains") {
            vec![".a.com".into(), ".b.com".into()]
        } else {
            vec![]
        },
        maxidle: has("maxidle").then(|| Duration::from_secs(1800)),
        maxlife: has("maxlife").then(|| Duration::from_secs(7200)),
        dynamic: false,
        attrs: if has("attrs") {
            vec!["SameSite=Lax".into(), "foo".into()]
        } else {
            vec![]
        },
    }
}

fn rt(mode: CookieMode, opts: &str) -> CookieRt {
    CookieRt::build(
        &cfg(mode, opts),
        vec![Some("c1".into()), Some("c2".into()), None],
    )
}

fn headers(list: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (n, v) in list {
        h.add(n, v.as_bytes().to_vec());
    }
    h
}

fn values(h: &Headers, name: &str) -> Vec<String> {
    h.get_all(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

fn facts() -> RequestFacts {
    RequestFacts {
        now: NOW,
        ..RequestFacts::default()
    }
}

#[test]
fn request_cookie_names_a_server_and_is_stripped() {
    use CookieMode::*;
    // (mode, options, Cookie lines, server running?, target, state, Cookie lines after)
    type Row = (
        CookieMode,
        &'static str,
        &'static [&'static str],
        usize,
        &'static [&'static str],
    );
    let rows: &[Row] = &[
        // insert indirect: the cookie goes, other cookies stay as written.
        (
            Insert,
            "indirect",
            &["a=1; SRV=c2; JS=c2~orig; b=2"],
            1,
            &["a=1; JS=c2~orig; b=2"],
        ),
        (Insert, "indirect", &["SRV=c1"], 0, &[]),
        (Insert, "indirect", &["SRV=c1; SRV=c2"], 0, &[]),
        (Insert, "indirect", &["SRV=c1", "SRV=c2"], 0, &[]),
        (Insert, "indirect", &["SRV=c1;a=1"], 0, &["a=1"]),
        // Written back as haproxy edits it in place.
        (
            Insert,
            "indirect",
            &["x=1 ;  a=1 ; SRV=c1 ; b=2"],
            0,
            &["x=1 ;  a=1; b=2"],
        ),
        (
            Insert,
            "indirect",
            &["x=1 ,  a=1 , SRV=c1 , b=2"],
            0,
            &["x=1 ,  a=1, b=2"],
        ),
        (Insert, "indirect", &["a=1 ;SRV=c1"], 0, &["a=1 "]),
        (Insert, "indirect", &["a=1;SRV=c1;;b=2"], 0, &["a=1; ;b=2"]),
        (
            Insert,
            "indirect",
            &["a=1; SRV=c1; $Path=/; b=2"],
            0,
            &["a=1; b=2"],
        ),
        (Insert, "indirect", &["$Version=1; SRV=c2; $Path=/"], 1, &[]),
        (Insert, "indirect", &["SRV=c2, a=1"], 1, &["a=1"]),
        (Insert, "indirect", &["SRV"], usize::MAX, &["SRV"]),
        (Insert, "indirect", &["a = 1"], usize::MAX, &["a=1"]),
        (Insert, "indirect", &[""], usize::MAX, &[""]),
        (
            Prefix,
            "",
            &["x=1 ,  a=1 , JS=c1~q , b=2"],
            0,
            &["x=1 ,  a=1 , JS=q , b=2"],
        ),
        (Prefix, "", &["JS = c1~y;JS=c2~z"], 0, &["JS=y;JS=z"]),
        // insert without indirect: the server sees it.
        (Insert, "", &["SRV=c2"], 1, &["SRV=c2"]),
        // Names match exactly.
        (
            Insert,
            "indirect",
            &["SRVX=c2; srv=c2"],
            usize::MAX,
            &["SRVX=c2; srv=c2"],
        ),
        // prefix: the value before the first `~` names the server, and goes.
        (
            Prefix,
            "",
            &["a=1; JS=c2~orig; b=2"],
            1,
            &["a=1; JS=orig; b=2"],
        ),
        (Prefix, "", &["JS=c1~orig~x"], 0, &["JS=orig~x"]),
        (Prefix, "", &["JS=c1"], 0, &["JS=c1"]),
        (Prefix, "", &["JS=c9~orig"], usize::MAX, &["JS=orig"]),
        (Prefix, "", &["JS=~x"], usize::MAX, &["JS=x"]),
        // rewrite: read as is.
        (Rewrite, "", &["JS=c2"], 1, &["JS=c2"]),
        (Rewrite, "", &["JS=c2~orig"], usize::MAX, &["JS=c2~orig"]),
    ];
    for (mode, opts, lines, target, after) in rows {
        let c = rt(*mode, opts);
        let mut h = headers(&lines.iter().map(|l| ("cookie", *l)).collect::<Vec<_>>());
        let txn = c.request(&mut h, |_| true, facts());
        let want = (*target != usize::MAX).then_some(*target);
        assert_eq!(txn.target, want, "{mode:?} {opts} {lines:?}");
        assert_eq!(values(&h, "cookie"), *after, "{mode:?} {opts} {lines:?}");
    }
}

#[test]
fn down_servers_persist_only_when_asked() {
    let c = rt(CookieMode::Insert, "indirect");
    // (running, option persist, force-persist, ignore-persist, use-server) -> (target, state)
    let rows = [
        (
            true,
            false,
            false,
            false,
            false,
            Some(0),
            CookieState::Valid,
        ),
        (false, false, false, false, false, None, CookieState::Down),
        (false, true, false, false, false, Some(0), CookieState::Down),
        (false, false, true, false, false, Some(0), CookieState::Down),
        (true, false, false, true, false, None, CookieState::Unused),
        (true, false, false, false, true, None, CookieState::Unused),
    ];
    for (up, persist, force, ignore, assigned, target, state) in rows {
        let mut h = headers(&[("cookie", "SRV=c1")]);
        let f = RequestFacts {
            force,
            ignore,
            persist,
            assigned,
            now: NOW,
        };
        let txn = c.request(&mut h, |_| up, f);
        assert_eq!(
            (txn.target, txn.state),
            (target, state),
            "{up} {persist} {force}"
        );
        // The cookie is stripped whatever became of it.
        assert!(h.get("cookie").is_none());
    }
    let mut h = headers(&[("cookie", "SRV=c9")]);
    assert_eq!(
        c.request(&mut h, |_| true, facts()).state,
        CookieState::Invalid
    );
}

#[test]
fn dates_expire_cookies() {
    let c = rt(CookieMode::Insert, "maxidle maxlife");
    let d = |off: i64| dates::encode((NOW as i64 + off) as u64);
    // (value, target, state)
    let rows = [
        (format!("c1|{}|{}", d(0), d(0)), Some(0), CookieState::Valid),
        (
            format!("c1|{}|{}", d(-3600), d(0)),
            None,
            CookieState::Expired,
        ),
        (
            format!("c1|{}|{}", d(-1000), d(-10000)),
            None,
            CookieState::Old,
        ),
        (
            format!("c1|{}|{}", d(0), d(-3600)),
            Some(0),
            CookieState::Valid,
        ),
        (format!("c1|{}", d(-1000)), Some(0), CookieState::Valid),
        (format!("c1|{}", d(100_000)), None, CookieState::Expired),
        ("c1|zz".to_string(), Some(0), CookieState::Valid),
        ("c1|AAAAA|AAAAA".to_string(), Some(0), CookieState::Valid),
    ];
    for (v, target, state) in rows {
        let mut h = headers(&[("cookie", &format!("SRV={v}"))]);
        let txn = c.request(&mut h, |_| true, facts());
        assert_eq!((txn.target, txn.state), (target, state), "{v}");
    }
}

fn response(status: u16, list: &[(&str, &str)]) -> ResponseHead {
    ResponseHead {
        version: Version::H11,
        status,
        reason: "OK".into(),
        headers: headers(list),
    }
}

/// (mode, options, request Cookie, server, method, response headers) -> Set-Cookie and
/// Cache-Control values of the answer; the texts observed with haproxy 2.6.12.
#[test]
fn response_cookies_as_haproxy_writes_them() {
    use CookieMode::*;
    type Row = (
        CookieMode,
        &'static str,
        Option<&'static str>,
        usize,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        &'static [&'static str],
    );
    const MA: (&str, &str) = ("cache-control", "max-age=10");
    let rows: &[Row] = &[
        (
            Insert,
            "indirect nocache httponly secure domains attrs",
            None,
            0,
            "GET",
            &[("set-cookie", "JS=abc; path=/"), ("set-cookie", "SRV=zz")],
            &[
                "JS=abc; path=/",
                "SRV=c1; path=/; domain=.a.com; domain=.b.com; HttpOnly; Secure; SameSite=Lax; foo",
            ],
            &[],
        ),
        (
            Insert,
            "indirect nocache",
            None,
            1,
            "GET",
            &[MA],
            &["SRV=c2; path=/"],
            &["max-age=10", "private"],
        ),
        (
            Insert,
            "indirect nocache",
            Some("SRV=c2"),
            1,
            "GET",
            &[MA],
            &[],
            &["max-age=10"],
        ),
        (
            Insert,
            "nocache",
            None,
            2,
            "GET",
            &[("expires", "0")],
            &["SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"],
            &["private"],
        ),
        (
            Insert,
            "nocache",
            None,
            1,
            "POST",
            &[MA],
            &["SRV=c2; path=/"],
            &["max-age=10"],
        ),
        (Insert, "postonly", None, 1, "GET", &[], &[], &[]),
        (
            Insert,
            "postonly",
            None,
            1,
            "POST",
            &[],
            &["SRV=c2; path=/"],
            &[],
        ),
        (
            Insert,
            "preserve",
            None,
            1,
            "GET",
            &[("set-cookie", "SRV=mine")],
            &["SRV=mine"],
            &[],
        ),
        (
            Insert,
            "preserve",
            None,
            1,
            "GET",
            &[],
            &["SRV=c2; path=/"],
            &[],
        ),
        // The client already has a valid cookie: the server's own one still goes.
        (
            Insert,
            "",
            Some("SRV=c1"),
            0,
            "GET",
            &[("set-cookie", "SRV=zz")],
            &[],
            &[],
        ),
        // Redispatched away from its cookie's server: the new one is set.
        (
            Insert,
            "indirect",
            Some("SRV=c1"),
            1,
            "GET",
            &[],
            &["SRV=c2; path=/"],
            &[],
        ),
        (
            Prefix,
            "indirect nocache",
            None,
            0,
            "GET",
            &[("set-cookie", "JS=abc; path=/"), MA],
            &["JS=c1~abc; path=/"],
            &["max-age=10"],
        ),
        (
            Prefix,
            "indirect",
            Some("JS=c2~orig"),
            1,
            "GET",
            &[("set-cookie", "JS=abc; path=/")],
            &[],
            &[],
        ),
        (
            Prefix,
            "",
            Some("JS=c2~orig"),
            1,
            "GET",
            &[("set-cookie", "JS = abc ; path=/")],
            &["JS=c2~abc ; path=/"],
            &[],
        ),
        (
            Rewrite,
            "nocache",
            Some("JS=c2~orig"),
            0,
            "GET",
            &[("set-cookie", "JS=abc; path=/"), ("set-cookie", "SRV=zz")],
            &["JS=c1; path=/", "SRV=zz"],
            &[],
        ),
        (
            Rewrite,
            "",
            None,
            2,
            "GET",
            &[("set-cookie", "JS=abc")],
            &["JS=abc"],
            &[],
        ),
        (
            Passive,
            "",
            None,
            0,
            "GET",
            &[("set-cookie", "JS=abc")],
            &["JS=abc"],
            &[],
        ),
    ];
    for (mode, opts, cookie, served, method, res_headers, set_cookie, cache) in rows {
        let c = rt(*mode, opts);
        let mut h = headers(&cookie.iter().map(|v| ("cookie", *v)).collect::<Vec<_>>());
        let txn = c.request(&mut h, |_| true, facts());
        let mut res = response(200, res_headers);
        let direct = txn.target == Some(*served);
        c.response(&txn, *served, direct, method, &mut res, NOW);
        let what = format!("{mode:?} {opts} {cookie:?} {served} {method}");
        assert_eq!(values(&res.headers, "set-cookie"), *set_cookie, "{what}");
        assert_eq!(values(&res.headers, "cache-control"), *cache, "{what}");
    }
}

#[test]
fn inserted_dates_are_refreshed_as_haproxy_does() {
    let d = |off: i64| dates::encode((NOW as i64 + off) as u64);
    let now = d(0);
    // (options, request cookie value, Set-Cookie expected; "" = none)
    let rows = [
        ("maxidle maxlife", format!("c1|{now}|{now}"), String::new()),
        (
            "maxidle maxlife",
            format!("c1|{now}|{}", d(-3600)),
            String::new(),
        ),
        (
            "maxidle maxlife",
            format!("c1|{}|{}", d(-100), d(-3600)),
            format!("SRV=c1|{now}|{}; path=/", d(-3600)),
        ),
        (
            "maxidle maxlife",
            format!("c1|{}", d(-1000)),
            format!("SRV=c1|{now}|{now}; path=/"),
        ),
        (
            "maxidle maxlife",
            "c1".into(),
            format!("SRV=c1|{now}|{now}; path=/"),
        ),
        ("maxidle", "c1".into(), format!("SRV=c1|{now}; path=/")),
        ("maxidle", format!("c1|{now}"), String::new()),
        (
            "maxlife",
            "c1".into(),
            format!("SRV=c1|{now}|{now}; path=/"),
        ),
        // Dates carried without maxidle/maxlife: the cookie is set again, without them.
        (
            "indirect",
            format!("c1|{now}|{now}"),
            "SRV=c1; path=/".into(),
        ),
        (
            "indirect",
            format!("c1|{}", d(-100)),
            "SRV=c1; path=/".into(),
        ),
        ("indirect", format!("c1|{now}"), String::new()),
        // A date of 0 is no date (observed with haproxy: no refresh).
        ("indirect", "c1|AAAAA|AAAAA".into(), String::new()),
    ];
    for (opts, value, want) in rows {
        let c = rt(CookieMode::Insert, opts);
        let mut h = headers(&[("cookie", &format!("SRV={value}"))]);
        let txn = c.request(&mut h, |_| true, facts());
        assert_eq!(txn.target, Some(0), "{opts} {value}");
        let mut res = response(200, &[]);
        c.response(&txn, 0, true, "GET", &mut res, NOW);
        let got = values(&res.headers, "set-cookie");
        let want: Vec<String> = if want.is_empty() { vec![] } else { vec![want] };
        assert_eq!(got, want, "{opts} {value}");
    }
}

#[test]
fn ignore_persist_leaves_the_response_alone() {
    let c = rt(CookieMode::Insert, "indirect");
    let mut h = headers(&[("cookie", "SRV=c2")]);
    let f = RequestFacts {
        ignore: true,
        now: NOW,
        ..RequestFacts::default()
    };
    let txn = c.request(&mut h, |_| true, f);
    assert!(h.get("cookie").is_none());
    let mut res = response(200, &[("set-cookie", "SRV=zz")]);
    c.response(&txn, 1, false, "GET", &mut res, NOW);
    assert_eq!(values(&res.headers, "set-cookie"), ["SRV=zz"]);
}

// ---------------------------------------------------------------------------------------
// Against a backend built from a configuration: server states rproxy cannot yet change
// from outside (no admin interface), set here directly.

mod with_backend {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::runtime::backend::{Admin, Backend};
    use crate::runtime::balance;
    use crate::runtime::persist::running;
    use crate::runtime::sample::ConnInfo;

    fn backend(body: &str) -> (Arc<Backend>, crate::model::Proxy) {
        let text = format!("defaults\n  mode http\nbackend be\n{body}");
        let loaded = crate::config::load_str("t.cfg", &text, &HashMap::<String, String>::new());
        assert!(loaded.is_valid(), "{:?}", loaded.diags);
        let p = loaded
            .model
            .proxies
            .iter()
            .find(|p| p.name == "be")
            .cloned()
            .expect("backend be");
        (Arc::new(Backend::build(&p, 100)), p)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// HAProxy: a draining server takes no new traffic but keeps its persistent clients;
    /// one in maintenance loses them (unless `option persist`).
    #[test]
    fn draining_server_keeps_persistent_traffic() {
        let (be, p) = backend(
            "  cookie SRV insert indirect\n  server s1 127.0.0.1:1 cookie c1\n  server s2 127.0.0.1:2 cookie c2\n",
        );
        let cookie = CookieRt::build(
            p.cookie.as_ref().expect("cookie"),
            p.servers.iter().map(|s| s.cookie.clone()).collect(),
        );
        let target = |be: &Backend| {
            let mut h = headers(&[("cookie", "SRV=c1")]);
            cookie
                .request(&mut h, |i| running(&be.servers[i]), facts())
                .target
        };
        be.servers[0]
            .admin
            .store(Admin::Drain as u8, Ordering::Relaxed);
        assert_eq!(target(&be), Some(0));
        block_on(async {
            let slot = be.assign_persistent(0, None).await.ok().map(|s| s.idx);
            assert_eq!(slot, Some(0));
            // Balanced requests avoid it.
            for _ in 0..4 {
                let s = be.assign(None, None, None).await.ok().map(|s| s.idx);
                assert_eq!(s, Some(1));
            }
        });
        be.servers[0]
            .admin
            .store(Admin::Maint as u8, Ordering::Relaxed);
        assert_eq!(target(&be), None);
        be.servers[0]
            .admin
            .store(Admin::Ready as u8, Ordering::Relaxed);
        be.servers[0].up.store(false, Ordering::Relaxed);
        assert_eq!(target(&be), None);
    }

    /// `balance source` + `hash-type consistent`: a server leaving (maintenance) moves only
    /// its own clients, and they all come back when it returns.
    #[test]
    fn consistent_source_hash_moves_only_the_leaving_servers_clients() {
        let (be, _) = backend(
            "  balance source\n  hash-type consistent\n  server s1 127.0.0.1:1\n  server s2 127.0.0.1:2\n  server s3 127.0.0.1:3\n  server s4 127.0.0.1:4\n",
        );
        let pick_all = |be: &Arc<Backend>| -> Vec<usize> {
            block_on(async {
                let mut out = Vec::new();
                for i in 2..52u8 {
                    let conn = ConnInfo {
                        src: Some(SocketAddr::from(([127, 0, 0, i], 40000))),
                        ..ConnInfo::default()
                    };
                    let key = balance::hash_key(&be.balance, None, &conn);
                    let idx = be.assign(key, None, None).await.ok().map(|s| s.idx);
                    out.push(idx.unwrap_or(usize::MAX));
                }
                out
            })
        };
        let before = pick_all(&be);
        assert!(before.contains(&1), "{before:?}");
        be.servers[1]
            .admin
            .store(Admin::Maint as u8, Ordering::Relaxed);
        let during = pick_all(&be);
        for (b, d) in before.iter().zip(&during) {
            if *b == 1 {
                assert_ne!(*d, 1);
            } else {
                assert_eq!(d, b);
            }
        }
        be.servers[1]
            .admin
            .store(Admin::Ready as u8, Ordering::Relaxed);
        assert_eq!(pick_all(&be), before);
    }
}

/// The four hooks in the order the HTTP session calls them, on a configuration's
/// frontend and backend: captures land in the transaction, the cookie is read and written.
#[test]
fn hooks_record_captures_and_cookie_in_the_transaction() {
    use crate::config::diag::Diags;
    use crate::runtime::backend::Backend;
    use crate::runtime::http::head::RequestHead;
    use crate::runtime::sample::{AclSet, ConnInfo, EvalCtx, TxnInfo, Vars};
    use std::collections::HashMap;

    let text = "defaults\n  mode http\nfrontend fe\n  bind :8080\n  capture cookie JS len 10\n  capture request header Host len 5\n  capture response header X-Server len 8\n  default_backend be\nbackend be\n  cookie JS prefix indirect\n  force-persist if { hdr(x-f) 1 }\n  server s1 127.0.0.1:1 cookie c1\n  server s2 127.0.0.1:2 cookie c2\n";
    let loaded = crate::config::load_str("t.cfg", text, &HashMap::<String, String>::new());
    assert!(loaded.is_valid(), "{:?}", loaded.diags);
    let px = |n: &str| {
        let p = loaded
            .model
            .proxies
            .iter()
            .find(|p| p.name == n)
            .expect("proxy");
        let mut d = Diags::default();
        (
            super::PersistRt::build(p, &AclSet::new(&p.acls), &mut d),
            p.clone(),
        )
    };
    let (fe, _) = px("fe");
    let (be, bep) = px("be");
    let backend = Backend::build(&bep, 100);
    let mut req = RequestHead {
        method: "GET".into(),
        uri: "/".into(),
        version: Version::H11,
        headers: headers(&[
            ("host", "example.com"),
            ("cookie", "JSESSIONID=12345678901; JS=c2~abc"),
            ("x-f", "1"),
        ]),
    };
    let mut info = TxnInfo::default();
    fe.capture_request(&req, &mut info);
    let conn = ConnInfo::default();
    let vars = Vars::default();
    let rules = be.rules(&EvalCtx {
        conn: &conn,
        req: Some(&req),
        res: None,
        vars: &vars,
        info: &info,
    });
    assert_eq!(rules, (true, false));
    be.on_request(&fe, &backend, &mut req, None, rules, &mut info);
    assert_eq!(info.cookie.target, Some(1));
    assert!(info.cookie.force);
    assert_eq!(
        values(&req.headers, "cookie"),
        ["JSESSIONID=12345678901; JS=abc"]
    );
    let mut res = response(200, &[("x-server", "server-two"), ("set-cookie", "JS=new")]);
    fe.capture_response(&res, &mut info);
    be.on_response(&fe, 1, "GET", &mut res, &mut info);
    // Direct access with indirect: the server's own cookie is not passed on.
    assert!(values(&res.headers, "set-cookie").is_empty());
    assert_eq!(info.captures.cc(), "JSESSIONID");
    assert_eq!(info.captures.cs(), "JS=new");
    assert_eq!(info.captures.hr(), "{examp}");
    assert_eq!(info.captures.hs(), "{server-t}");
}

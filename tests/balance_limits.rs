//! Server limits and selection rules through the real binary, side by side with HAProxy
//! 2.6.12: `weight`, `disabled`, `backup`/`option allbackups`, `default-server`, `maxconn`
//! with the backend and per-server queues, `maxqueue`, `timeout queue`, `minconn` with
//! `fullconn`, `retries` and `option redispatch`.
//!
//! Load is made with requests held open on a server (a PUT whose one-byte body is
//! withheld); a request counts as queued when it reaches no server (or gets no answer)
//! within a fraction of a second.
//!
//! HAProxy facts pinned here (observed with 2.6.12 on loopback):
//! * Backups take traffic only when no active server is usable (disabled, or weight 0):
//!   the first backup alone, or all of them by weight with `option allbackups`; with
//!   nothing usable the answer is 503.
//! * `default-server` values (weight in `defaults`, backup and maxconn in the backend)
//!   apply to the servers that follow, and a server's own keyword overrides them
//!   (`no-backup`).
//! * At `maxconn` a request waits; waiting requests are served in arrival order. When all
//!   servers are full, the first one to free a slot serves the backend's whole queue.
//! * A hash algorithm (`uri`, ...) keeps a request on its server when that server is full:
//!   it waits in the server's queue instead of going elsewhere; `maxqueue` bounds that
//!   queue, beyond it the answer is 503 at once, with or without `option redispatch`.
//!   Round robin never puts a request in a server's queue: it waits in the backend's
//!   queue, which `maxqueue` does not bound. `leastconn` sends requests to wait in a busy
//!   server's own queue while served + queued < maxconn + maxqueue (filling the first
//!   server's queue before the next: queued requests do not reorder its tree), then in the
//!   backend's; a freed server serves its own queue before the backend's.
//! * A server named by `use-server` is waited for in its own queue; beyond its `maxqueue`
//!   the answer is 503, or with `option redispatch` another server answers.
//! * `timeout queue` (or `timeout connect` without it) ends the wait with 503.
//! * With `minconn`, a server's limit is `max(minconn, maxconn * N / fullconn)` while the
//!   backend has N < `fullconn` requests (the one arriving and the queued ones included),
//!   `maxconn` from `fullconn` on; `minconn` alone (or above `maxconn`) is the `maxconn`.
//!   Without `fullconn`, it is 10 % of the summed `maxconn` of the frontends that use the
//!   backend, rounded up.
//! * A connection refused by a server is retried `retries` times on that same server (not
//!   re-balanced), then 503. With `option redispatch`, every algorithm but the hashes
//!   (round robin, `leastconn`, `first`) over several servers sends every retry to another
//!   server and the client gets 200; a map-based hash sends the redispatched retry to the
//!   same server again (503), consistent hashing to the next server on the ring (200).
//!   (`tests/redispatch.rs` compares the order and the counters.)

mod balance_util;
mod common;

use std::time::Duration;

use balance_util::*;
use common::*;

// ---------------------------------------------------------------------------------------
// weight, disabled, backup, allbackups, default-server

#[test]
fn backups_disabled_and_weight_zero_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let cases = [
        // Actives down: the first backup only.
        ("disabled", "backup", "backup weight 3", ""),
        // ... all of them, by weight, with allbackups.
        (
            "disabled",
            "backup",
            "backup weight 3",
            "  option allbackups\n",
        ),
        // An active server up: backups idle.
        ("", "backup", "backup", ""),
        // Weight 0 takes no balanced traffic: backups step in.
        ("weight 0", "backup", "", ""),
        ("weight 0", "", "weight 2", ""),
        // Nothing usable: 503.
        ("disabled", "disabled", "backup disabled", ""),
        // The first usable backup, in declaration order, whatever the ids.
        ("disabled", "backup id 9", "backup id 4", ""),
        ("disabled", "backup disabled", "backup", ""),
        // allbackups with one backup disabled.
        (
            "disabled",
            "backup disabled",
            "backup",
            "  option allbackups\n",
        ),
    ];
    let bodies: Vec<String> = cases
        .iter()
        .map(|(a, b, c, extra)| format!("{extra}{}", server_lines(&m, &[a, b, c])))
        .collect();
    let tpl = many_backends(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| walk(side, i, &paths(8), &[]))
            .collect::<Vec<_>>()
    });
    for (i, c) in cases.iter().enumerate() {
        same(&format!("{c:?}"), &h[i], &r[i]);
    }
    assert!(h[0].iter().all(|s| s == "s2"), "{:?}", h[0]);
    assert!(h[5].iter().all(|s| s == "#503"), "{:?}", h[5]);
}

#[test]
fn default_server_values_are_inherited_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let tpl = format!(
        "{DEFAULTS}  default-server weight 3\n\
         frontend f0\n  bind 127.0.0.1:{{{{P0}}}}\n  default_backend b0\n\
         frontend f1\n  bind 127.0.0.1:{{{{P1}}}}\n  default_backend b1\n\
         frontend f2\n  bind 127.0.0.1:{{{{P2}}}}\n  default_backend b2\n\
         backend b0\n{}\
         backend b1\n  default-server weight 1 backup\n{}\
         backend b2\n  default-server maxconn 1\n{}",
        // From defaults: s1 and s3 weigh 3, s2 1.
        server_lines(&m, &["", "weight 1", ""]),
        // Backups by default; s1 is made active again with no-backup.
        server_lines(&m, &["no-backup", "", "weight 2"]),
        server_lines(&m[..1], &[""]),
    );
    let (h, r) = side_by_side(&tpl, |side| {
        let mut out = vec![
            walk(side, 0, &paths(14), &[]),
            walk(side, 1, &paths(4), &[]),
        ];
        // maxconn 1 from default-server: a second request waits.
        let held = hold_on(side, 2, &m[..1], "/h");
        let mut c = send_get(side, 2, "/q");
        let early = answer_within(&mut c, QUIET).map(|r| who(&r));
        let freed = release(held);
        out.push(vec![format!("early {early:?}"), freed, answer(&mut c)]);
        out
    });
    same("default-server weight from defaults", &h[0], &r[0]);
    same("default-server backup, no-backup", &h[1], &r[1]);
    same("default-server maxconn 1", &h[2], &r[2]);
    assert_eq!(h[2][0], "early None");
}

// ---------------------------------------------------------------------------------------
// maxconn and queues

#[test]
fn queued_requests_are_served_in_arrival_order() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(1);
    let tpl = one_backend(&format!(
        "  timeout queue 10s\n{}",
        server_lines(&m, &["maxconn 1"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        m[0].clear();
        let held = hold(side, &m, "/held");
        let mut waiting = Vec::new();
        for i in 0..4 {
            let mut c = send_get(side, 0, &format!("/q{i}"));
            assert!(
                answer_within(&mut c, QUIET).is_none(),
                "{}: /q{i} answered while the server is full",
                side.name()
            );
            waiting.push(c);
        }
        release(held);
        let statuses: Vec<String> = waiting.iter_mut().map(answer).collect();
        let order: Vec<String> = m[0].received().iter().map(|r| r.uri.clone()).collect();
        (statuses, order)
    });
    same("FIFO queue", &h, &r);
    assert_eq!(h.1, ["/held", "/q0", "/q1", "/q2", "/q3"]);
}

#[test]
fn roundrobin_waits_for_any_server_and_maxqueue_does_not_bound_it() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let tpl = one_backend(&format!(
        "  balance roundrobin\n  timeout queue 10s\n{}",
        server_lines(&m, &["maxconn 1 maxqueue 1", "maxconn 1 maxqueue 1"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let h1 = hold(side, &m, "/h1");
        let h2 = hold(side, &m, "/h2");
        let mut out = vec![h1.server.clone(), h2.server.clone()];
        // Both full: three requests wait in the backend queue (maxqueue is per server).
        let mut waiting: Vec<Conn> = (0..3)
            .map(|i| {
                let mut c = send_get(side, 0, &format!("/q{i}"));
                out.push(format!(
                    "q{i} early {:?}",
                    answer_within(&mut c, QUIET).map(|r| who(&r))
                ));
                c
            })
            .collect();
        // The second server frees a slot: the queue drains through it.
        out.push(format!("released {}", release(h2)));
        for c in &mut waiting {
            out.push(answer(c));
        }
        out.push(format!("released {}", release(h1)));
        out
    });
    same("roundrobin backend queue", &h, &r);
}

#[test]
fn hash_keeps_a_request_on_its_full_server() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let tpl = one_backend(&format!(
        "  balance uri\n  timeout queue 10s\n{}",
        server_lines(&m, &["maxconn 1", "maxconn 1", "maxconn 1"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let held = hold(side, &m, "/key");
        let mut out = vec![held.server.clone()];
        // Same key: waits for its server rather than going to an idle one.
        let mut same_key = send_get(side, 0, "/key");
        out.push(format!(
            "early {:?}",
            answer_within(&mut same_key, QUIET).map(|r| who(&r))
        ));
        // Other keys on other servers are not held up.
        let others: Vec<String> = ["/a", "/b", "/c", "/d", "/e", "/f"]
            .iter()
            .map(|p| {
                let mut c = send_get(side, 0, p);
                match answer_within(&mut c, QUIET) {
                    Some(r) => who(&r),
                    None => {
                        // Its server is the full one: it is served after the release.
                        "waiting".to_string()
                    }
                }
            })
            .collect();
        out.extend(others);
        out.push(format!("released {}", release(held)));
        out.push(answer(&mut same_key));
        out
    });
    same("uri with a full server", &h, &r);
    assert_eq!(h[1], "early None");
}

#[test]
fn leastconn_queues_on_busy_servers_within_maxqueue() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let tpl = one_backend(&format!(
        "  balance leastconn\n  timeout queue 10s\n{}",
        server_lines(&m, &["maxconn 1 maxqueue 2", "maxconn 1 maxqueue 2"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let h1 = hold(side, &m, "/h1");
        let h2 = hold(side, &m, "/h2");
        let mut out = vec![h1.server.clone(), h2.server.clone()];
        // Each server may take two waiting requests in its own queue; the fifth waits in
        // the backend's queue for whichever server frees first.
        let mut waiting: Vec<Conn> = (0..5)
            .map(|i| {
                let mut c = send_get(side, 0, &format!("/q{i}"));
                assert!(answer_within(&mut c, QUIET).is_none());
                c
            })
            .collect();
        // The freed server serves its own queue, then the backend's; the other server's
        // queue keeps waiting.
        out.push(format!("released {}", release(h2)));
        let mut pending = Vec::new();
        for (i, c) in waiting.iter_mut().enumerate() {
            match answer_within(c, QUIET) {
                Some(r) => out.push(format!("q{i} {}", who(&r))),
                None => pending.push(i),
            }
        }
        out.push(format!("released {}", release(h1)));
        for i in pending {
            out.push(format!("q{i} {}", answer(&mut waiting[i])));
        }
        out
    });
    same("leastconn with maxqueue", &h, &r);
}

#[test]
fn server_maxqueue_full_answers_503_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let bodies: Vec<String> = ["", "  option redispatch\n"]
        .iter()
        .map(|extra| {
            format!(
                "  balance uri\n  timeout queue 10s\n{extra}{}",
                server_lines(&m, &["maxconn 1 maxqueue 1", "maxconn 1 maxqueue 1"])
            )
        })
        .collect();
    let tpl = many_backends(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..2)
            .map(|i| {
                let held = hold_on(side, i, &m, "/key");
                let mut out = vec![held.server.clone()];
                let mut queued = send_get(side, i, "/key");
                out.push(format!(
                    "queued early {:?}",
                    answer_within(&mut queued, QUIET).map(|r| who(&r))
                ));
                // The server's queue is full: an answer at once.
                let mut over = send_get(side, i, "/key");
                out.push(format!(
                    "over {:?}",
                    answer_within(&mut over, Duration::from_secs(3)).map(|r| who(&r))
                ));
                out.push(format!("released {}", release(held)));
                out.push(answer(&mut queued));
                out
            })
            .collect::<Vec<_>>()
    });
    same("maxqueue, no redispatch", &h[0], &r[0]);
    same("maxqueue, redispatch", &h[1], &r[1]);
}

#[test]
fn use_server_waits_for_its_server_and_redispatches_when_its_queue_is_full() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let bodies: Vec<String> = ["", "  option redispatch\n"]
        .iter()
        .map(|extra| {
            format!(
                "  timeout queue 10s\n  use-server s1 if {{ path_beg /s1 }}\n{extra}{}",
                server_lines(&m, &["maxconn 1 maxqueue 1", "maxconn 1 maxqueue 1"])
            )
        })
        .collect();
    let tpl = many_backends(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..2)
            .map(|i| {
                let held = hold_on(side, i, &m, "/s1/held");
                let mut out = vec![held.server.clone()];
                let mut queued = send_get(side, i, "/s1/q");
                out.push(format!(
                    "queued early {:?}",
                    answer_within(&mut queued, QUIET).map(|r| who(&r))
                ));
                // s1's queue is full: 503, or with redispatch any server.
                let mut over = send_get(side, i, "/s1/over");
                out.push(format!(
                    "over {:?}",
                    answer_within(&mut over, Duration::from_secs(3)).map(|r| who(&r))
                ));
                out.push(format!("released {}", release(held)));
                out.push(answer(&mut queued));
                out
            })
            .collect::<Vec<_>>()
    });
    same("use-server, maxqueue, no redispatch", &h[0], &r[0]);
    same("use-server, maxqueue, redispatch", &h[1], &r[1]);
}

#[test]
fn timeout_queue_answers_503_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(1);
    let bodies = [
        format!(
            "  timeout queue 300ms\n{}",
            server_lines(&m, &["maxconn 1"])
        ),
        // Without `timeout queue`, `timeout connect` bounds the wait.
        format!(
            "  timeout connect 300ms\n{}",
            server_lines(&m, &["maxconn 1"])
        ),
    ];
    let tpl = many_backends(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..2)
            .map(|i| {
                let held = hold_on(side, i, &m, "/held");
                let r = side.request_to(i, "GET", "/q", &[], b"").unwrap();
                release(held);
                r
            })
            .collect::<Vec<_>>()
    });
    // The error page itself belongs to the error-page tests: status and origin here.
    let seen = |v: &[Response]| v.iter().map(who).collect::<Vec<_>>();
    same("timeout queue", &seen(&h), &seen(&r));
    assert_eq!(seen(&h), ["#503", "#503"]);
}

// ---------------------------------------------------------------------------------------
// minconn, fullconn

/// Holds `n` requests one after the other on `{{Pi}}`; how many reached the server.
fn served_of(side: &Side, i: usize, m: &[MockServer], n: usize) -> (usize, Vec<Conn>) {
    let mut conns = Vec::new();
    let mut served = 0;
    for k in 0..n {
        let (c, got) = try_hold(side, i, m, &format!("/h{k}"), QUIET);
        served += usize::from(got.is_some());
        conns.push(c);
    }
    (served, conns)
}

#[test]
fn minconn_fullconn_dynamic_limit_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    // One mock per backend, so that each backend's concurrency is read on its own server.
    let m = mocks(6);
    let one = |i: usize, params: &str| server_lines(&m[i..=i], &[params]);
    let bodies = [
        // Limit max(1, 10 * N / 10) with N counting the arriving request: never blocks.
        format!("  fullconn 10\n{}", one(0, "minconn 1 maxconn 10")),
        // max(2, 4 * N / 12): 2 until N reaches 9.
        format!("  fullconn 12\n{}", one(1, "minconn 2 maxconn 4")),
        // minconn alone is the maxconn.
        one(2, "minconn 2"),
        // minconn above maxconn: minconn wins.
        one(3, "minconn 3 maxconn 1"),
        // fullconn 10% of the frontend's maxconn 40 = 4: max(1, 6 * N / 4).
        one(4, "minconn 1 maxconn 6"),
        // fullconn from a frontend maxconn 25: 3 (rounded up), so max(1, 2 * N / 3) is 1
        // for the second request (with 2, it would be at fullconn and get maxconn 2).
        one(5, "minconn 1 maxconn 2"),
    ];
    let mut tpl = many_backends(&bodies);
    tpl = tpl.replace("frontend f4\n  bind", "frontend f4\n  maxconn 40\n  bind");
    tpl = tpl.replace("frontend f5\n  bind", "frontend f5\n  maxconn 25\n  bind");
    let wanted = [5, 3, 3, 4, 7, 2];
    let (h, r) = side_by_side(&tpl, |side| {
        let mut out = Vec::new();
        for (i, &n) in wanted.iter().enumerate() {
            let (served, conns) = served_of(side, i, &m[i..=i], n);
            out.push(served);
            drop(conns);
        }
        out
    });
    same("requests served at once", &h, &r);
}

// ---------------------------------------------------------------------------------------
// retries, redispatch

#[test]
fn retries_and_redispatch_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(2);
    let dead = format!("127.0.0.1:{}", refused_port());
    let servers = format!("  server s0 {dead}\n{}", server_lines(&m, &["", ""]));
    let bodies = [
        // Round robin with redispatch: the refused server's requests go elsewhere.
        format!("  retries 2\n  option redispatch\n{servers}"),
        // Without redispatch: 503 after the retries.
        format!("  retries 2\n{servers}"),
        // No retry at all.
        format!("  retries 0\n  option redispatch\n{servers}"),
        // A hash: the last retry is redispatched.
        format!("  balance uri\n  retries 2\n  option redispatch\n{servers}"),
        format!("  balance uri\n  retries 1\n{servers}"),
        // Redispatch on every retry.
        format!("  balance uri\n  retries 3\n  option redispatch 1\n{servers}"),
        // Consistent hashing steers a redispatched request to the next server on the ring.
        format!(
            "  balance uri\n  hash-type consistent\n  retries 1\n  option redispatch\n{servers}"
        ),
        // leastconn and first redispatch every retry too.
        format!("  balance leastconn\n  retries 2\n  option redispatch\n{servers}"),
        format!("  balance first\n  retries 1\n  option redispatch\n{servers}"),
        // Only the refused server.
        format!("  retries 1\n  option redispatch\n  server s0 {dead}\n"),
    ];
    let mut tpl = many_backends(&bodies);
    // Short turn-around pauses between attempts (min(1s, timeout connect)).
    tpl = tpl.replace("timeout connect 2s", "timeout connect 100ms");
    let keys: Vec<String> = (0..9).map(|i| format!("/k{i}")).collect();
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| walk(side, i, &keys, &[]))
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        let label: Vec<&str> = b
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("server"))
            .collect();
        same(&label.join(", "), &h[i], &r[i]);
    }
    let failed = |v: &[String]| v.iter().any(|s| s == "#503");
    // Redispatch saves the refused server's requests, except where nothing else is there
    // or a map-based hash brings them back to it.
    for (i, saved) in [
        true, false, false, false, false, false, true, true, true, false,
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(failed(&h[i]), !saved, "{i}: {:?}", h[i]);
    }
}

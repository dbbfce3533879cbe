//! Load balancing through the real binary: which server each request reaches under every
//! `balance` algorithm, side by side with HAProxy 2.6.12 (same configuration, same requests,
//! the same server must answer each one).
//!
//! HAProxy facts pinned here (observed with 2.6.12 on loopback):
//! * `roundrobin` and `static-rr` with weights 1,2,3 hand out requests in one fixed order,
//!   the same on fresh connections and on one keep-alive client connection (every request
//!   is balanced on its own).
//! * `leastconn` sends a request to the server with the fewest requests in flight relative
//!   to its weight; requests held open (a PUT whose body has not arrived yet) count.
//! * `first` fills servers in id order (`id` keyword first, declaration order otherwise) up
//!   to their `maxconn`, and goes back to the first one as soon as it has a free slot.
//! * `source` hashes the client address: 127.0.0.2 .. 127.0.0.31 land on fixed servers,
//!   under `hash-type map-based` and `consistent`, and the same address always lands on the
//!   same server.
//! * `uri` (plain, `whole`, `len N`, `depth N`), `url_param NAME` and `hdr(NAME)` (also
//!   `use_domain_only`) map 50 keys to the same servers as HAProxy under both hash types; a
//!   request without the key takes the round-robin fallback, in HAProxy's order.
//! * A server at its `maxconn` is skipped by `roundrobin`, `static-rr`, `leastconn` and the
//!   hash fallback, which resume their order (HAProxy's) once it is free again.
//! * `url_param`: a POST is not forwarded before its body arrived (a PUT is); without the
//!   parameter in the query string, the body is searched for it (`check_post` or not), the
//!   query string winning when both have it.
//! * Odd or oversized keys (a 2000-slash path, 500 parameters before the one hashed, an
//!   8000-byte header value, quoted commas, `*` and absolute-form targets) land on the same
//!   servers as HAProxy.
//! * `random` never picks a disabled server or one of weight 0, and spreads over the rest.
//!
//! Each request is ended on the proxy's side before the next one is sent (haproxy may close
//! the client connection a moment before it frees the server slot; its stats socket tells
//! when the stream is gone), so that the load each algorithm sees is the same on both sides.
//!
//! Backend limits (maxconn, queues, retries, backups) are in `balance_limits.rs`.

mod balance_util;
mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};

use balance_util::*;
use common::*;

// ---------------------------------------------------------------------------------------
// roundrobin, static-rr

#[test]
fn roundrobin_weighted_order_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let tpl = one_backend(&format!(
        "  balance roundrobin\n{}",
        server_lines(&m, &["weight 1", "weight 2", "weight 3"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let fresh = walk(side, 0, &paths(24), &[]);
        // One keep-alive client connection: each request is balanced on its own.
        let mut c = side.conn(0);
        let kept: Vec<String> = (0..12)
            .map(|i| who(&c.get(&format!("/k{i}")).unwrap()))
            .collect();
        (fresh, kept)
    });
    same("roundrobin 1,2,3", &h, &r);
    // Weighted: over 24 requests, shares 4/8/12.
    for (name, n) in [("s1", 4), ("s2", 8), ("s3", 12)] {
        assert_eq!(h.0.iter().filter(|s| *s == name).count(), n, "{:?}", h.0);
    }
}

#[test]
fn roundrobin_uneven_weights_and_defaults_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    // No `balance`: roundrobin is the default; weight 1 is the default weight.
    let tpl = one_backend(&server_lines(&m, &["weight 5", "", "weight 3", "weight 2"]));
    let (h, r) = side_by_side(&tpl, |side| walk(side, 0, &paths(33), &[]));
    same("roundrobin 5,1,3,2", &h, &r);
}

#[test]
fn static_rr_order_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let tpl = one_backend(&format!(
        "  balance static-rr\n{}",
        server_lines(&m, &["weight 1", "weight 2", "weight 3"])
    ));
    let (h, r) = side_by_side(&tpl, |side| walk(side, 0, &paths(24), &[]));
    same("static-rr 1,2,3", &h, &r);
    for (name, n) in [("s1", 4), ("s2", 8), ("s3", 12)] {
        assert_eq!(h.iter().filter(|s| *s == name).count(), n, "{h:?}");
    }
}

// ---------------------------------------------------------------------------------------
// leastconn, first

#[test]
fn leastconn_follows_requests_in_flight_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let tpl = one_backend(&format!(
        "  balance leastconn\n{}",
        server_lines(&m, &["", "", "weight 2"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        let h1 = hold(side, &m, "/h1");
        let h2 = hold(side, &m, "/h2");
        let h3 = hold(side, &m, "/h3");
        seen.extend([h1.server.clone(), h2.server.clone(), h3.server.clone()]);
        // Every fast request goes to the least loaded (relative to weight).
        seen.extend(walk(side, 0, &paths(3), &[]));
        let h4 = hold(side, &m, "/h4");
        let h5 = hold(side, &m, "/h5");
        seen.extend([h4.server.clone(), h5.server.clone()]);
        seen.push(format!("released {}", release(h2)));
        seen.extend(walk(side, 0, &paths(2), &[]));
        let h6 = hold(side, &m, "/h6");
        seen.push(h6.server.clone());
        for h in [h1, h3, h4, h5, h6] {
            seen.push(format!("released {}", release(h)));
        }
        seen
    });
    same("leastconn", &h, &r);
}

#[test]
fn first_fills_servers_in_id_order_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    // s2 has the lowest id, so it fills first; then s3 (id 2), then s1 (id 3).
    let tpl = one_backend(&format!(
        "  balance first\n{}",
        server_lines(&m, &["maxconn 2 id 3", "maxconn 2 id 1", "maxconn 2 id 2"])
    ));
    let (h, r) = side_by_side(&tpl, |side| {
        let mut seen = Vec::new();
        let mut held: Vec<Held> = (0..5).map(|i| hold(side, &m, &format!("/h{i}"))).collect();
        seen.extend(held.iter().map(|h| h.server.clone()));
        seen.extend(walk(side, 0, &paths(2), &[]));
        // A slot frees on the first server: the next request goes back there.
        seen.push(format!("released {}", release(held.remove(0))));
        seen.extend(walk(side, 0, &paths(2), &[]));
        for h in held {
            seen.push(format!("released {}", release(h)));
        }
        seen
    });
    same("first", &h, &r);
    assert_eq!(h[..5], ["s2", "s2", "s3", "s3", "s1"]);
}

#[test]
fn saturated_server_is_skipped_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(3);
    let lines = server_lines(&m, &["maxconn 1", "maxconn 1 weight 2", "maxconn 1"]);
    let bodies: Vec<String> = [
        "balance roundrobin",
        "balance static-rr",
        "balance leastconn",
        // Without the parameter: the hash's round-robin fallback.
        "balance url_param id\n  hash-type map-based",
        "balance url_param id\n  hash-type consistent",
    ]
    .iter()
    .map(|b| format!("  {b}\n{lines}"))
    .collect();
    let tpl = many_backends(&bodies);
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| {
                let mut seen = walk(side, i, &paths(3), &[]);
                // One server busy: the others take its turns.
                let held = hold_on(side, i, &m, "/held");
                seen.push(format!("held {}", held.server));
                seen.extend(walk(side, i, &paths(8), &[]));
                seen.push(format!("released {}", release(held)));
                seen.extend(walk(side, i, &paths(8), &[]));
                seen
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in bodies.iter().enumerate() {
        let label: Vec<&str> = b.lines().take(2).map(str::trim).collect();
        same(&label.join(", "), &h[i], &r[i]);
    }
}

// ---------------------------------------------------------------------------------------
// Hash algorithms

/// GET `path` from a client socket bound to `src` (port chosen by the kernel).
fn get_from(src: Ipv4Addr, dst: SocketAddr, path: &str) -> Response {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())
        .unwrap_or_else(|e| panic!("bind {src}: {e}"));
    s.connect_timeout(&dst.into(), TIMEOUT).unwrap();
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(&build_request(
        "GET",
        path,
        SBS_HOST,
        &[("Connection", "close")],
        b"",
    ))
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    parse_response(&out).unwrap()
}

/// The same balance line over `m`, with weights 1,2,3,1, under both hash types.
fn both_hash_types(m: &[MockServer], balance: &str) -> Vec<String> {
    ["map-based", "consistent"]
        .iter()
        .map(|ht| {
            format!(
                "  balance {balance}\n  hash-type {ht}\n{}",
                server_lines(m, &["weight 1", "weight 2", "weight 3", "weight 1"])
            )
        })
        .collect()
}

#[test]
fn source_hash_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let tpl = many_backends(&both_hash_types(&m, "source"));
    let sources: Vec<Ipv4Addr> = (2..32).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let (h, r) = side_by_side(&tpl, |side| {
        (0..2)
            .map(|i| {
                let got: Vec<String> = sources
                    .iter()
                    .map(|&s| who(&get_from(s, side.addr(i), "/")))
                    .collect();
                // The same client address always lands on the same server.
                let again: Vec<String> = sources[..5]
                    .iter()
                    .map(|&s| who(&get_from(s, side.addr(i), "/again")))
                    .collect();
                assert_eq!(again, got[..5], "{}: source not sticky", side.name());
                got
            })
            .collect::<Vec<_>>()
    });
    same("source map-based", &h[0], &r[0]);
    same("source consistent", &h[1], &r[1]);
    // A spread, not one server for everybody.
    for v in &h {
        let mut d = v.clone();
        d.sort();
        d.dedup();
        assert!(d.len() >= 3, "{v:?}");
    }
}

/// 50 request targets of various shapes.
fn uris() -> Vec<String> {
    (0..50)
        .map(|i| match i % 5 {
            0 => format!("/img/{i}.png"),
            1 => format!("/a/b{i}/c/d?x={i}"),
            2 => format!("/api/v{}/items/{i}?q=z&p={i}", i % 3),
            3 => format!("/{i}"),
            _ => format!("/static/css/site-{i}.css?v=1"),
        })
        .collect()
}

#[test]
fn uri_hash_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let mut bodies = Vec::new();
    for b in [
        "uri",
        "uri whole",
        "uri len 6",
        "uri depth 2",
        "uri len 12 depth 3",
    ] {
        bodies.extend(both_hash_types(&m, b));
    }
    let tpl = many_backends(&bodies);
    let list = uris();
    let (h, r) = side_by_side(&tpl, |side| {
        (0..bodies.len())
            .map(|i| walk(side, i, &list, &[]))
            .collect::<Vec<_>>()
    });
    for (i, body) in bodies.iter().enumerate() {
        let label: Vec<&str> = body.lines().take(2).map(str::trim).collect();
        same(&label.join(", "), &h[i], &r[i]);
    }
}

#[test]
fn url_param_hash_and_fallback_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let tpl = many_backends(&both_hash_types(&m, "url_param uid"));
    let mut list: Vec<String> = (0..50)
        .map(|i| match i % 3 {
            0 => format!("/p?uid={i}"),
            1 => format!("/q?a=1&uid=user{i}&b=2"),
            _ => format!("/r?uidx=no&uid=x{}", i * 7),
        })
        .collect();
    // Without the parameter (or only a prefix of its name): round-robin fallback.
    list.extend(
        [
            "/none",
            "/p?uidx=1",
            "/p?xuid=2",
            "/p?u=3",
            "/p",
            "/p?a=1",
            "/q?b=2",
            "/r?",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let (h, r) = side_by_side(&tpl, |side| {
        (0..2)
            .map(|i| walk(side, i, &list, &[]))
            .collect::<Vec<_>>()
    });
    same("url_param map-based", &h[0], &r[0]);
    same("url_param consistent", &h[1], &r[1]);
}

#[test]
fn url_param_in_a_post_body_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let tpl = many_backends(&both_hash_types(&m, "url_param uid check_post"));
    let mut bodies: Vec<String> = (0..30)
        .map(|i| match i % 3 {
            0 => format!("uid={i}"),
            1 => format!("a=1&uid=user{i}&b=2"),
            _ => format!("uidx=no&uid=%7E{}", i * 7),
        })
        .collect();
    // Not form data, or no such parameter: the round-robin fallback.
    bodies.extend(
        ["uid=/x", "{\"uid\":1}", "xuid=1", "", "uid= 5"]
            .iter()
            .map(|s| s.to_string()),
    );
    let (h, r) = side_by_side(&tpl, |side| {
        let mut out = Vec::new();
        for i in 0..2 {
            let mut v: Vec<String> = bodies
                .iter()
                .map(|b| {
                    who(&side
                        .request_to(i, "POST", "/form", &[], b.as_bytes())
                        .unwrap())
                })
                .collect();
            // The query string wins over the body.
            v.push(who(&side
                .request_to(i, "POST", "/form?uid=q1", &[], b"uid=b1")
                .unwrap()));
            // The body is awaited before a server is chosen (a PUT's is not).
            let mut post = send_head(side, i, "POST", "/form");
            let before = conn_counts(&m);
            let early = new_connection(&m, &before, QUIET).map(|j| m[j].name().to_string());
            v.push(format!("POST head alone reached {early:?}"));
            post.send(b"u").unwrap();
            v.push(answer(&mut post));
            out.push(v);
        }
        out
    });
    same("url_param POST body, map-based", &h[0], &r[0]);
    same("url_param POST body, consistent", &h[1], &r[1]);
}

#[test]
fn hdr_hash_matches_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let mut bodies = both_hash_types(&m, "hdr(X-Key)");
    bodies.extend(both_hash_types(&m, "hdr(host) use_domain_only"));
    let tpl = many_backends(&bodies);
    let keys: Vec<String> = (0..50)
        .map(|i| match i % 3 {
            0 => format!("key-{i}"),
            1 => format!("user{i}@example.com, other"),
            _ => format!("{}", i * 1_000_003),
        })
        .collect();
    let hosts: Vec<String> = (0..50)
        .map(|i| match i % 3 {
            0 => format!("www.site{i}.com"),
            1 => format!("a.b.host{i}.example.org"),
            _ => format!("plain{i}"),
        })
        .collect();
    let (h, r) = side_by_side(&tpl, |side| {
        let mut out = Vec::new();
        for i in 0..2 {
            let mut v: Vec<String> = keys
                .iter()
                .map(|k| {
                    who(&side
                        .request_to(i, "GET", "/", &[("X-Key", k.as_str())], b"")
                        .unwrap())
                })
                .collect();
            // No header: round-robin fallback.
            v.extend(walk(side, i, &paths(6), &[]));
            out.push(v);
        }
        for i in 2..4 {
            out.push(
                hosts
                    .iter()
                    .map(|host| {
                        who(&side
                            .request_to(i, "GET", "/", &[("Host", host.as_str())], b"")
                            .unwrap())
                    })
                    .collect(),
            );
        }
        out
    });
    same("hdr(X-Key) map-based", &h[0], &r[0]);
    same("hdr(X-Key) consistent", &h[1], &r[1]);
    same("hdr(host) use_domain_only map-based", &h[2], &r[2]);
    same("hdr(host) use_domain_only consistent", &h[3], &r[3]);
}

#[test]
fn odd_and_oversized_hash_keys_match_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let mut bodies = both_hash_types(&m, "uri depth 3 len 900");
    bodies.extend(both_hash_types(&m, "url_param uid"));
    bodies.extend(both_hash_types(&m, "hdr(X-Key)"));
    let tpl = many_backends(&bodies);
    let uris = [
        format!("{}x", "/".repeat(2000)),
        format!("/{}", "a/".repeat(1500)),
        "/%2F%2f/..//./x?y".to_string(),
        "*".to_string(),
        // Absolute form (its authority matching Host: HAProxy answers 400 otherwise).
        "http://h/a/b/c/d".to_string(),
    ];
    let params = [
        format!("/p?{}uid=7", "a=1&".repeat(500)),
        "/p?uid=&uid=2".to_string(),
        "/p?&&&uid=3".to_string(),
        "/p?uid=%00%ff".to_string(),
        format!("/p?uid={}", "z".repeat(3000)),
    ];
    let keys = [
        "x".repeat(8000),
        "\"a,b\", c".to_string(),
        " spaced  ".to_string(),
        ",lead".to_string(),
        "\"unterminated, x".to_string(),
    ];
    let (h, r) = side_by_side(&tpl, |side| {
        let mut out = Vec::new();
        for i in 0..2 {
            out.push(
                uris.iter()
                    .map(|u| {
                        let mut c = side.conn(i);
                        let raw =
                            format!("GET {u} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
                        who(&c.roundtrip(raw.as_bytes()).unwrap())
                    })
                    .collect::<Vec<_>>(),
            );
        }
        for i in 2..4 {
            out.push(walk(side, i, &params, &[]));
        }
        for i in 4..6 {
            out.push(
                keys.iter()
                    .map(|k| {
                        who(&side
                            .request_to(i, "GET", "/", &[("X-Key", k.as_str())], b"")
                            .unwrap())
                    })
                    .collect(),
            );
        }
        out
    });
    for (i, b) in bodies.iter().enumerate() {
        let label: Vec<&str> = b.lines().take(2).map(str::trim).collect();
        same(&label.join(", "), &h[i], &r[i]);
    }
}

#[test]
fn hash_skips_disabled_servers_like_haproxy() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let bodies: Vec<String> = ["map-based", "consistent"]
        .iter()
        .map(|ht| {
            format!(
                "  balance uri\n  hash-type {ht}\n{}",
                server_lines(&m, &["", "disabled", "weight 3", ""])
            )
        })
        .collect();
    let tpl = many_backends(&bodies);
    let list = uris();
    let (h, r) = side_by_side(&tpl, |side| {
        (0..2)
            .map(|i| walk(side, i, &list, &[]))
            .collect::<Vec<_>>()
    });
    same("uri map-based, s2 disabled", &h[0], &r[0]);
    same("uri consistent, s2 disabled", &h[1], &r[1]);
    assert!(!h.concat().contains(&"s2".to_string()));
}

// ---------------------------------------------------------------------------------------
// random

#[test]
fn random_spreads_over_usable_servers_only() {
    if !require_haproxy() {
        return;
    }
    let m = mocks(4);
    let tpl = one_backend(&format!(
        "  balance random\n{}",
        server_lines(&m, &["", "disabled", "weight 0", "weight 2"])
    ));
    // Random draws differ between runs and engines: compare what can be compared.
    let (h, r) = side_by_side(&tpl, |side| {
        let mut v = walk(side, 0, &paths(40), &[]);
        v.sort();
        v.dedup();
        v
    });
    same("random: servers used", &h, &r);
    assert_eq!(h, ["s1", "s4"]);
}

//! Hash-based balancing (`source`, `uri`, `url_param`, `hdr`, `rdp-cookie`), with HAProxy's
//! two `hash-type`s. Without a key, both fall back to round robin, as HAProxy does.
//!
//! * [`MapHash`] (`map-based`, the default): the key modulo the size of the weighted server
//!   map built over the eligible servers ([`super::map`]), HAProxy's `map_get_server_hash`.
//!   Any change of the eligible set or of weights redistributes most keys. The fallback walks
//!   the map as `static-rr` does.
//! * [`ConsistentHash`] (`consistent`): HAProxy's `lb_chash.c`. Each server with weight `w`
//!   owns `16 * w` points on a 32-bit ring, at `full_hash(id * 4096 + n)`; the key, after the
//!   same avalanche (`hash-type consistent` without a function means sdbm + avalanche in
//!   HAProxy), goes to the closest point of an eligible server (the one before on ties).
//!   Points of servers that are not eligible are skipped, so when a server leaves only the
//!   keys it owned move. The fallback walks the ring point by point, skipping servers at
//!   their `maxconn`.
//!
//! HAProxy's `hash-balance-factor` (bounded loads) is not modelled. Server ids must be the
//! ones HAProxy gives (`id`, else the position in the backend) for keys to land on the same
//! servers.

use std::sync::{Arc, Mutex};

use super::key::full_hash;
use super::map::ServerMap;
use super::{
    Algorithm, MAX_USER_WEIGHT, PickCtx, clean_eligible, default_pick_avoiding, has_room, lock,
};
use crate::runtime::backend::ServerState;

/// HAProxy's `SRV_EWGHT_RANGE`: ring points of server `id` start at `id * 4096`.
const POINTS_RANGE: u32 = MAX_USER_WEIGHT * super::WEIGHT_SCALE;

/// `hash-type map-based`.
pub struct MapHash {
    map: Mutex<ServerMap>,
}

impl MapHash {
    pub fn new() -> Self {
        MapHash {
            map: Mutex::new(ServerMap::default()),
        }
    }
}

impl Default for MapHash {
    fn default() -> Self {
        Self::new()
    }
}

impl Algorithm for MapHash {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        self.pick_with(ctx, None)
    }

    /// HAProxy's map lookup takes no server to avoid: a key keeps its server. Without a
    /// key, the round-robin walk passes over the avoided server as `static-rr` does.
    fn pick_avoiding(&self, ctx: &PickCtx, avoid: usize) -> Option<usize> {
        self.pick_with(ctx, Some(avoid))
    }
}

impl MapHash {
    fn pick_with(&self, ctx: &PickCtx, avoid: Option<usize>) -> Option<usize> {
        let eligible = clean_eligible(ctx);
        let ctx = PickCtx {
            servers: ctx.servers,
            eligible: &eligible,
            key: ctx.key,
        };
        let mut map = lock(&self.map);
        map.refresh(&ctx);
        match ctx.key {
            Some(k) => map.by_hash(k),
            None => map.next_rr_avoiding(ctx.servers, avoid),
        }
    }
}

/// `hash-type consistent`.
pub struct ConsistentHash {
    state: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    /// `(id, effective weight)` of every server, which the points were built from.
    built_from: Vec<(u32, u32)>,
    /// `(position, server index)`, sorted by position (declaration order, then point number,
    /// on equal positions).
    points: Vec<(u32, usize)>,
    /// Position of the point the round-robin fallback last returned.
    last: Option<u32>,
}

impl Ring {
    fn refresh(&mut self, servers: &[Arc<ServerState>]) {
        let want: Vec<(u32, u32)> = servers.iter().map(|s| (s.id, s.eweight())).collect();
        if want == self.built_from {
            return;
        }
        let mut points = Vec::with_capacity(want.iter().map(|&(_, w)| w as usize).sum());
        for (i, &(id, w)) in want.iter().enumerate() {
            let base = id.wrapping_mul(POINTS_RANGE);
            points.extend((0..w).map(|n| (full_hash(base.wrapping_add(n)), i)));
        }
        // Stable: equal positions keep insertion order, as in HAProxy's tree.
        points.sort_by_key(|&(pos, _)| pos);
        self.points = points;
        self.built_from = want;
    }

    /// HAProxy's `chash_get_server_hash` over the eligible servers' points; with `avoid`,
    /// the points after the chosen one are walked until another server's.
    fn lookup(&self, hash: u32, eligible: &[usize], avoid: Option<usize>) -> Option<usize> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let ok = |k: usize| eligible.binary_search(&self.points[k].1).is_ok();
        // The first eligible point at or after `hash`, wrapping around.
        let start = self.points.partition_point(|&(pos, _)| pos < hash);
        let next = (0..n).map(|d| (start + d) % n).find(|&k| ok(k))?;
        // The eligible point before it, wrapping around (possibly `next` itself).
        let prev = (1..=n).map(|d| (next + n - d) % n).find(|&k| ok(k))?;
        let dp = hash.wrapping_sub(self.points[prev].0);
        let dn = self.points[next].0.wrapping_sub(hash);
        let k = if dp <= dn { prev } else { next };
        let srv = self.points[k].1;
        if avoid != Some(srv) {
            return Some(srv);
        }
        Some(
            (1..n)
                .map(|d| (k + d) % n)
                .filter(|&j| ok(j))
                .map(|j| self.points[j].1)
                .find(|&s| Some(s) != avoid)
                .unwrap_or(srv),
        )
    }

    /// HAProxy's `chash_get_next_server`: the eligible point after the last one returned
    /// whose server has a free connection slot.
    fn next_rr(&mut self, servers: &[Arc<ServerState>], eligible: &[usize]) -> Option<usize> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let start = match self.last {
            // The point after the last one (by position: the ring may have been rebuilt).
            Some(last) => self.points.partition_point(|&(pos, _)| pos <= last) % n,
            None => 0,
        };
        for d in 0..n {
            let k = (start + d) % n;
            let (pos, srv) = self.points[k];
            if eligible.binary_search(&srv).is_err() {
                continue;
            }
            if servers.get(srv).is_some_and(|s| has_room(s)) {
                self.last = Some(pos);
                return Some(srv);
            }
        }
        self.last = None;
        None
    }
}

impl ConsistentHash {
    pub fn new() -> Self {
        ConsistentHash {
            state: Mutex::new(Ring::default()),
        }
    }
}

impl Default for ConsistentHash {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsistentHash {
    fn pick_with(&self, ctx: &PickCtx, avoid: Option<usize>) -> Option<usize> {
        let eligible = clean_eligible(ctx);
        if eligible.is_empty() {
            return None;
        }
        let mut ring = lock(&self.state);
        ring.refresh(ctx.servers);
        match ctx.key {
            Some(k) => ring
                .lookup(full_hash(k), &eligible, avoid)
                // Eligible servers of weight 0 own no point: take any eligible one.
                .or_else(|| eligible.first().copied()),
            None => ring.next_rr(ctx.servers, &eligible),
        }
    }
}

impl Algorithm for ConsistentHash {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        self.pick_with(ctx, None)
    }

    fn pick_avoiding(&self, ctx: &PickCtx, avoid: usize) -> Option<usize> {
        if ctx.key.is_none() {
            return default_pick_avoiding(self, ctx, avoid);
        }
        self.pick_with(ctx, Some(avoid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::balance::key::{sdbm, source_key};
    use crate::runtime::balance::testutil::*;

    fn pick_key(algo: &dyn Algorithm, s: &[Arc<ServerState>], e: &[usize], key: u32) -> String {
        let ctx = PickCtx {
            servers: s,
            eligible: e,
            key: Some(key),
        };
        algo.pick(&ctx)
            .map_or_else(|| "-".to_string(), |i| s[i].name.clone())
    }

    /// URIs sent to HAProxy 2.6.12 (`balance uri` and variants), with the servers that
    /// answered them, in the tests below.
    const URIS: &[&str] = &[
        "/",
        "/a",
        "/b",
        "/c",
        "/index.html",
        "/foo/bar",
        "/foo/baz?x=1",
        "/foo/baz?x=2",
        "/img/logo.png",
        "/api/v1/users/42",
        "/api/v2/items?id=7&z=3",
        "/x/y/z",
        "/hello?world",
        "/abc",
        "/abcdef",
        "/zzz",
        "/q?id=1",
        "/q?id=2",
        "/q?id=abc",
        "/q?a=1&id=9",
        "/q?xid=5",
        "/q?id=",
        "/long/path/with/many/segments/file.txt",
    ];

    fn uri_case(
        algo: &dyn Algorithm,
        weights: &[u32],
        key: impl Fn(&str) -> Option<u32>,
        want: &str,
    ) {
        let s = servers(weights);
        let got: Vec<String> = URIS
            .iter()
            .map(|u| {
                let e = usable(&s);
                let ctx = PickCtx {
                    servers: &s,
                    eligible: &e,
                    key: key(u),
                };
                algo.pick(&ctx)
                    .map_or_else(|| "-".to_string(), |i| s[i].name.clone())
            })
            .collect();
        assert_eq!(got, seq(want), "weights {weights:?}");
    }

    fn uri(whole: bool, len: Option<u32>, depth: Option<u32>) -> impl Fn(&str) -> Option<u32> {
        move |u: &str| {
            Some(crate::runtime::balance::key::uri_key(
                u.as_bytes(),
                whole,
                len,
                depth,
            ))
        }
    }

    /// Observed with HAProxy 2.6.12 on loopback: the server answering each of [`URIS`].
    #[test]
    fn haproxy_map_based_uri() {
        uri_case(
            &MapHash::new(),
            &[1, 1, 1],
            uri(false, None, None),
            "s3 s1 s2 s3 s1 s2 s1 s1 s1 s3 s2 s2 s1 s1 s1 s3 s2 s2 s2 s2 s2 s2 s3",
        );
        uri_case(
            &MapHash::new(),
            &[3, 1, 2],
            uri(false, None, None),
            "s3 s1 s1 s3 s1 s1 s1 s1 s1 s3 s1 s2 s1 s1 s1 s3 s2 s2 s2 s2 s2 s2 s3",
        );
        uri_case(
            &MapHash::new(),
            &[3, 1, 2],
            uri(true, None, None),
            "s3 s1 s1 s3 s1 s1 s3 s1 s1 s3 s1 s2 s3 s1 s1 s3 s2 s3 s3 s1 s2 s1 s3",
        );
        uri_case(
            &MapHash::new(),
            &[3, 1, 2],
            uri(false, None, Some(1)),
            "s3 s1 s1 s3 s1 s1 s1 s1 s1 s3 s3 s3 s1 s1 s1 s3 s2 s2 s2 s2 s2 s2 s1",
        );
        uri_case(
            &MapHash::new(),
            &[3, 1, 2],
            uri(false, Some(3), None),
            "s3 s1 s1 s3 s3 s1 s1 s1 s1 s3 s3 s3 s2 s1 s1 s1 s2 s2 s2 s2 s2 s2 s1",
        );
    }

    /// Observed with HAProxy 2.6.12 on loopback (`hash-type consistent`).
    #[test]
    fn haproxy_consistent_uri() {
        uri_case(
            &ConsistentHash::new(),
            &[1, 1, 1],
            uri(false, None, None),
            "s2 s2 s2 s1 s3 s3 s3 s3 s2 s1 s2 s1 s3 s2 s2 s3 s3 s3 s3 s3 s3 s3 s2",
        );
        uri_case(
            &ConsistentHash::new(),
            &[3, 1, 2],
            uri(false, None, None),
            "s1 s2 s2 s1 s1 s3 s1 s1 s1 s1 s2 s1 s3 s1 s3 s3 s1 s1 s1 s1 s1 s1 s1",
        );
    }

    /// Observed with HAProxy 2.6.12 (`balance url_param id`, weights 3 1 2): URIs with the
    /// parameter are hashed, the others take the next slot of the map in turn.
    #[test]
    fn haproxy_url_param_with_fallback() {
        uri_case(
            &MapHash::new(),
            &[3, 1, 2],
            |u| crate::runtime::balance::key::url_param_key(u.as_bytes(), b"id"),
            "s1 s1 s3 s1 s2 s3 s1 s1 s3 s1 s1 s2 s3 s1 s1 s3 s1 s3 s3 s1 s1 s1 s2",
        );
    }

    /// Observed with HAProxy 2.6.12: `balance source` for clients 127.0.0.N.
    #[test]
    fn haproxy_source() {
        let clients = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 50, 100, 200, 254];
        let run = |algo: &dyn Algorithm, w: &[u32]| {
            let s = servers(w);
            let e = usable(&s);
            clients
                .iter()
                .map(|n| {
                    let a = format!("127.0.0.{n}:40000").parse().unwrap();
                    pick_key(algo, &s, &e, source_key(&a))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(&MapHash::new(), &[1, 1, 1]),
            seq("s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s1 s3 s1 s1")
        );
        assert_eq!(
            run(&MapHash::new(), &[3, 1, 2]),
            seq("s3 s1 s1 s3 s1 s2 s3 s1 s1 s3 s1 s2 s1 s3 s1 s1")
        );
        assert_eq!(
            run(&ConsistentHash::new(), &[3, 1, 2]),
            seq("s2 s1 s3 s1 s1 s1 s3 s1 s3 s3 s3 s3 s3 s1 s3 s3")
        );
    }

    /// Observed with HAProxy 2.6.12: `balance hdr(X-Key)` and `hdr(host) use_domain_only`,
    /// weights 3 1 2.
    #[test]
    fn haproxy_hdr() {
        let s = servers(&[3, 1, 2]);
        let e = usable(&s);
        let algo = MapHash::new();
        let keys = [
            "alpha",
            "beta",
            "gamma",
            "delta",
            "1",
            "2",
            "3",
            "42",
            "user-1234",
            "x",
        ];
        let got: Vec<String> = keys
            .iter()
            .map(|k| pick_key(&algo, &s, &e, sdbm(k.as_bytes())))
            .collect();
        assert_eq!(got, seq("s1 s1 s3 s1 s1 s3 s1 s1 s2 s1"));
        let hosts = [
            "www.example.com",
            "example.com",
            "a.b.example.org",
            "localhost",
            "foo.bar",
            "www.haproxy.org",
            "haproxy.org",
            "x.y.z.w",
            "images.google.co.uk",
        ];
        let algo = MapHash::new();
        let got: Vec<String> = hosts
            .iter()
            .map(|h| {
                let d = crate::runtime::balance::key::domain_part(h.as_bytes());
                pick_key(&algo, &s, &e, sdbm(d))
            })
            .collect();
        assert_eq!(got, seq("s2 s2 s2 s1 s1 s1 s1 s3 s1"));
    }

    /// Observed with HAProxy 2.6.12 on loopback (`balance uri`, weights 3 1 2): the server
    /// of each URI, then after `disable server` (and, for consistent hashing, after
    /// `enable server` and `set weight .../s3 5`).
    #[test]
    fn haproxy_server_changes() {
        const U: &[&str] = &[
            "/",
            "/a",
            "/b",
            "/c",
            "/index.html",
            "/foo/bar",
            "/x/y/z",
            "/abc",
            "/zzz",
            "/api/v1/users/42",
        ];
        let s = servers(&[3, 1, 2]);
        let run = |algo: &dyn Algorithm, e: &[usize]| -> Vec<String> {
            U.iter()
                .map(|u| {
                    let k = crate::runtime::balance::key::uri_key(u.as_bytes(), false, None, None);
                    pick_key(algo, &s, e, k)
                })
                .collect()
        };
        let map = MapHash::new();
        assert_eq!(run(&map, &[0, 1, 2]), seq("s3 s1 s1 s3 s1 s1 s2 s1 s3 s3"));
        assert_eq!(run(&map, &[0, 2]), seq("s3 s1 s1 s3 s1 s3 s1 s1 s1 s3"));
        let ring = ConsistentHash::new();
        assert_eq!(run(&ring, &[0, 1, 2]), seq("s1 s2 s2 s1 s1 s3 s1 s1 s3 s1"));
        assert_eq!(run(&ring, &[1, 2]), seq("s2 s2 s2 s2 s3 s3 s2 s3 s3 s2"));
        set_weight(&s[2], 5);
        assert_eq!(run(&ring, &[0, 1, 2]), seq("s1 s2 s2 s1 s3 s3 s3 s1 s3 s1"));
    }

    /// Observed with HAProxy 2.6.12 on loopback: requests without a key under
    /// `hash-type consistent` walk the ring (weights 3 1 2, then 1 1 1).
    #[test]
    fn haproxy_consistent_fallback_sequence() {
        let s = servers(&[3, 1, 2]);
        assert_eq!(
            names(&ConsistentHash::new(), &s, 24),
            seq("s3 s3 s3 s1 s1 s1 s1 s3 s2 s1 s1 s1 s1 s3 s1 s3 s1 s2 s3 s1 s1 s1 s3 s1")
        );
        let s = servers(&[1, 1, 1]);
        assert_eq!(
            names(&ConsistentHash::new(), &s, 24),
            seq("s3 s3 s2 s1 s3 s1 s1 s2 s3 s1 s1 s1 s2 s2 s3 s1 s3 s3 s2 s3 s1 s2 s3 s3")
        );
    }

    /// Observed with HAProxy 2.6.12: `balance source` from `::1` (weights 3 1 2).
    #[test]
    fn haproxy_source_ipv6() {
        let s = servers(&[3, 1, 2]);
        let e = usable(&s);
        let a = "[::1]:40000".parse().unwrap();
        assert_eq!(pick_key(&MapHash::new(), &s, &e, source_key(&a)), "s1");
    }

    /// Observed with HAProxy 2.6.12 (weights 3 1 2): absolute-form targets are hashed whole,
    /// scheme and authority included (`uri`, then `uri whole`); `hdr()` hashes the first
    /// comma-separated value, commas in quoted strings not separating.
    #[test]
    fn haproxy_absolute_form_and_header_values() {
        use crate::runtime::balance::key::{hash_key, uri_key};
        use crate::runtime::http::head::{Headers, RequestHead, Version};
        use crate::runtime::sample::ConnInfo;
        let s = servers(&[3, 1, 2]);
        let e = usable(&s);
        let algo = MapHash::new();
        for (target, want, want_whole) in [
            ("http://example.com/a", "s3", "s3"),
            ("http://example.com/b?x", "s1", "s3"),
            ("/a", "s1", "s1"),
            ("http://h/foo/bar", "s1", "s1"),
            ("http://h/c?q=1", "s1", "s2"),
            ("http://h", "s3", "s3"),
        ] {
            let k = uri_key(target.as_bytes(), false, None, None);
            assert_eq!(pick_key(&algo, &s, &e, k), want, "{target}");
            let k = uri_key(target.as_bytes(), true, None, None);
            assert_eq!(pick_key(&algo, &s, &e, k), want_whole, "{target} whole");
        }
        let hdr = crate::model::proxy::Balance::Hdr {
            name: "X-Key".into(),
            use_domain_only: false,
        };
        for (value, want) in [
            ("k1", "s1"),
            ("k1, k2", "s1"),
            ("k1,k2", "s1"),
            ("\"a,b\", c", "s1"),
            ("\"a", "s3"),
            ("user-1234,x", "s2"),
            ("gamma", "s3"),
            ("gamma, alpha", "s3"),
        ] {
            let mut headers = Headers::default();
            headers.add("X-Key", value.as_bytes());
            let req = RequestHead {
                method: "GET".into(),
                uri: "/".into(),
                version: Version::H11,
                headers,
            };
            let k = hash_key(&hdr, Some(&req), &ConnInfo::default()).unwrap();
            assert_eq!(pick_key(&algo, &s, &e, k), want, "{value}");
        }
    }

    #[test]
    fn map_based_redistributes_when_eligible_changes() {
        let s = servers(&[1, 1, 1]);
        let algo = MapHash::new();
        let all = [0, 1, 2];
        let two = [0, 2];
        let mut moved_from_kept = 0;
        for k in 0..3000u32 {
            let before = pick_key(&algo, &s, &all, k);
            let after = pick_key(&algo, &s, &two, k);
            assert_ne!(after, "s2");
            if before != "s2" && before != after {
                moved_from_kept += 1;
            }
        }
        // key % 48 vs key % 32: keys of kept servers move too.
        assert!(moved_from_kept > 500, "{moved_from_kept}");
    }

    #[test]
    fn consistent_moves_only_removed_server_keys() {
        let s = servers(&[1, 2, 1, 3]);
        let algo = ConsistentHash::new();
        let all = [0, 1, 2, 3];
        let without = [0, 2, 3];
        let mut moved = 0;
        for k in 0..5000u32 {
            let key = k.wrapping_mul(2_654_435_761);
            let before = pick_key(&algo, &s, &all, key);
            let after = pick_key(&algo, &s, &without, key);
            if before == "s2" {
                assert_ne!(after, "s2");
                moved += 1;
            } else {
                assert_eq!(before, after, "key {key}");
            }
        }
        assert!(moved > 0);
        // Back with all servers: the same mapping as before.
        let again = pick_key(&algo, &s, &all, 12345);
        assert_eq!(again, pick_key(&ConsistentHash::new(), &s, &all, 12345));
    }

    #[test]
    fn distribution_follows_weights() {
        // The ring is "never very smooth" (HAProxy's documentation says so too).
        for (algo, tolerance) in [
            (Box::new(MapHash::new()) as Box<dyn Algorithm>, 0.05),
            (Box::new(ConsistentHash::new()), 0.3),
        ] {
            let s = servers(&[1, 2, 3]);
            let e = usable(&s);
            let mut c = [0usize; 3];
            for k in 0..60_000u32 {
                let ctx = PickCtx {
                    servers: &s,
                    eligible: &e,
                    key: Some(sdbm(format!("/obj/{k}").as_bytes())),
                };
                c[algo.pick(&ctx).unwrap()] += 1;
            }
            for (i, want) in [10_000.0, 20_000.0, 30_000.0].iter().enumerate() {
                let got = c[i] as f64;
                assert!((got - want).abs() / want < tolerance, "{c:?}");
            }
        }
    }

    #[test]
    fn consistent_weight_change_rebuilds_ring() {
        let s = servers(&[1, 1]);
        let e = [0, 1];
        let algo = ConsistentHash::new();
        let count = |algo: &ConsistentHash| {
            (0..10_000u32)
                .filter(|k| pick_key(algo, &s, &e, k.wrapping_mul(0x9e37_79b9)) == "s1")
                .count()
        };
        let before = count(&algo);
        set_weight(&s[0], 9);
        let after = count(&algo);
        assert!(after > before + 2000, "{before} -> {after}");
    }

    #[test]
    fn no_key_falls_back_to_round_robin() {
        let s = servers(&[1, 1, 1]);
        let map = MapHash::new();
        assert_eq!(names(&map, &s, 6), seq("s1 s2 s3 s1 s2 s3"));
        let ring = ConsistentHash::new();
        let got = counts(&ring, &s, 4800);
        for c in got {
            assert!((1400..=1800).contains(&c), "{c}");
        }
        let ctx = PickCtx {
            servers: &s,
            eligible: &[],
            key: Some(1),
        };
        assert_eq!(map.pick(&ctx), None);
        assert_eq!(ring.pick(&ctx), None);
        // All weights 0: nothing usable, nothing picked.
        let z = servers(&[0, 0]);
        assert_eq!(names(&map, &z, 1), seq("-"));
        assert_eq!(names(&ring, &z, 1), seq("-"));
        // A zero-weight server passed as eligible anyway.
        let ctx = PickCtx {
            servers: &z,
            eligible: &[1],
            key: Some(5),
        };
        assert_eq!(ring.pick(&ctx), Some(1));
        assert_eq!(map.pick(&ctx), None);
    }
}

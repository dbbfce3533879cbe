//! `balance static-rr`: the weighted server map ([`super::map`]) walked slot after slot,
//! skipping servers at their `maxconn`, as HAProxy's `map_get_server_rr`.

use std::sync::Mutex;

use super::map::ServerMap;
use super::{Algorithm, PickCtx, clean_eligible, lock};

pub struct StaticRr {
    map: Mutex<ServerMap>,
}

impl StaticRr {
    pub fn new() -> Self {
        StaticRr {
            map: Mutex::new(ServerMap::default()),
        }
    }
}

impl Default for StaticRr {
    fn default() -> Self {
        Self::new()
    }
}

impl Algorithm for StaticRr {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        self.pick_with(ctx, None)
    }

    /// The map walked past the avoided server's slots, as HAProxy does (the map itself
    /// is not rebuilt without it).
    fn pick_avoiding(&self, ctx: &PickCtx, avoid: usize) -> Option<usize> {
        self.pick_with(ctx, Some(avoid))
    }
}

impl StaticRr {
    fn pick_with(&self, ctx: &PickCtx, avoid: Option<usize>) -> Option<usize> {
        let eligible = clean_eligible(ctx);
        let ctx = PickCtx {
            servers: ctx.servers,
            eligible: &eligible,
            key: ctx.key,
        };
        let mut map = lock(&self.map);
        map.refresh(&ctx);
        map.next_rr_avoiding(ctx.servers, avoid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::balance::testutil::*;

    /// Observed with HAProxy 2.6.12 on loopback (`balance static-rr`, `retries 2`, `option
    /// redispatch`, 24 sequential requests): `s2` refuses connections, so each request
    /// that lands on it is redispatched avoiding it; the avoided server loses its turn.
    #[test]
    fn haproxy_redispatch_sequences() {
        let cases: &[(&[u32], &str)] = &[
            (
                &[1, 1, 1, 1],
                "s1 s3 s4 s1 s3 s4 s1 s3 s4 s1 s3 s4 s1 s3 s4 s1 s3 s4 s1 s3 s4 s1 s3 s4",
            ),
            (
                &[3, 2, 1, 1],
                "s1 s1 s1 s3 s4 s1 s1 s1 s3 s4 s1 s1 s1 s3 s4 s1 s1 s1 s3 s4 s1 s1 s1 s3",
            ),
            (
                &[1, 4, 2, 3],
                "s1 s4 s3 s4 s3 s4 s1 s4 s3 s4 s3 s4 s1 s4 s3 s4 s3 s4 s1 s4 s3 s4 s3 s4",
            ),
            (
                &[5, 1, 3, 2],
                "s1 s1 s3 s1 s4 s1 s3 s1 s3 s4 s1 s1 s3 s1 s4 s1 s3 s1 s3 s4 s1 s1 s3 s1",
            ),
        ];
        for (weights, want) in cases {
            let s = servers(weights);
            let algo = StaticRr::new();
            assert_eq!(
                names_redispatching(&algo, &s, 1, 24),
                seq(want),
                "weights {weights:?}"
            );
        }
    }

    #[test]
    fn haproxy_sequences() {
        let cases: &[(&[u32], &str)] = &[
            (
                &[1, 1, 1],
                "s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3",
            ),
            (
                &[3, 1, 2],
                "s1 s1 s3 s1 s2 s3 s1 s1 s3 s1 s2 s3 s1 s1 s3 s1 s2 s3 s1 s1 s3 s1 s2 s3",
            ),
            (
                &[5, 2, 1],
                "s1 s1 s2 s1 s1 s2 s1 s3 s1 s1 s2 s1 s1 s2 s1 s3 s1 s1 s2 s1 s1 s2 s1 s3",
            ),
            (
                &[1, 2, 3, 4],
                "s1 s2 s4 s3 s4 s2 s3 s4 s3 s4 s1 s2 s4 s3 s4 s2 s3 s4 s3 s4 s1 s2 s4 s3",
            ),
            (
                &[2, 4, 6],
                "s1 s3 s2 s3 s2 s3 s1 s3 s2 s3 s2 s3 s1 s3 s2 s3 s2 s3 s1 s3 s2 s3 s2 s3",
            ),
        ];
        for (weights, want) in cases {
            let s = servers(weights);
            let algo = StaticRr::new();
            assert_eq!(names(&algo, &s, 24), seq(want), "weights {weights:?}");
        }
    }

    /// Observed with HAProxy 2.6.12 on loopback: `disable server` / `enable server` on s1
    /// (weights 3 1 2) between runs of sequential requests; the map is rebuilt over the
    /// remaining servers and the cursor carries on from its slot number.
    #[test]
    fn haproxy_server_down_and_up_sequence() {
        let s = servers(&[3, 1, 2]);
        let algo = StaticRr::new();
        let run = |e: &[usize], n: usize| -> Vec<String> {
            (0..n)
                .map(|_| {
                    let ctx = PickCtx {
                        servers: &s,
                        eligible: e,
                        key: None,
                    };
                    algo.pick(&ctx)
                        .map_or_else(|| "-".into(), |i| s[i].name.clone())
                })
                .collect()
        };
        assert_eq!(run(&[0, 1, 2], 4), seq("s1 s1 s3 s1"));
        assert_eq!(run(&[1, 2], 7), seq("s2 s3 s3 s2 s3 s3 s2"));
        assert_eq!(
            run(&[0, 1, 2], 12),
            seq("s1 s3 s1 s2 s3 s1 s1 s3 s1 s2 s3 s1")
        );
    }

    /// Observed with HAProxy 2.6.12 on loopback, servers with `maxconn 1`: one request, then
    /// one held on the next server while 8 more are sent, then 8 more once it is released.
    #[test]
    fn haproxy_saturated_server_sequence() {
        let base = servers(&[1, 1, 1]);
        let s: Vec<_> = base.iter().map(|b| with_maxconn(b, 1)).collect();
        let algo = StaticRr::new();
        assert_eq!(names(&algo, &s, 1), seq("s1"));
        assert_eq!(names(&algo, &s, 1), seq("s2"));
        set_cur(&s[1], 1);
        assert_eq!(names(&algo, &s, 8), seq("s3 s1 s3 s1 s3 s1 s3 s1"));
        set_cur(&s[1], 0);
        assert_eq!(names(&algo, &s, 8), seq("s2 s3 s1 s2 s3 s1 s2 s3"));
    }

    #[test]
    fn proportional() {
        let s = servers(&[3, 1, 2]);
        let algo = StaticRr::new();
        assert_eq!(counts(&algo, &s, 6000), vec![3000, 1000, 2000]);
    }

    #[test]
    fn eligible_shrinks_and_grows() {
        let s = servers(&[1, 1, 1]);
        let algo = StaticRr::new();
        let pick = |e: &[usize]| {
            algo.pick(&PickCtx {
                servers: &s,
                eligible: e,
                key: None,
            })
        };
        assert_eq!(pick(&[0, 1, 2]), Some(0));
        for _ in 0..10 {
            assert_ne!(pick(&[0, 2]), Some(1));
        }
        let mut seen = [0; 3];
        for _ in 0..30 {
            seen[pick(&[0, 1, 2]).unwrap()] += 1;
        }
        assert_eq!(seen, [10, 10, 10]);
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&[7, 9]), None);
    }

    #[test]
    fn skips_full_servers() {
        let base = servers(&[1, 1]);
        let s = vec![with_maxconn(&base[0], 1), base[1].clone()];
        let algo = StaticRr::new();
        set_cur(&s[0], 1);
        assert_eq!(names(&algo, &s, 4), seq("s2 s2 s2 s2"));
        let full = vec![s[0].clone()];
        assert_eq!(names(&algo, &full, 1), seq("-"));
    }
}

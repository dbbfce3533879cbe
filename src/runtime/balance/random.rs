//! `balance random(N)`: `N` weighted random draws among the eligible servers, keeping the
//! least loaded relative to its weight (power of N choices), as HAProxy's `get_server_rnd`.
//!
//! HAProxy draws points on its consistent-hash ring; drawing directly in proportion to the
//! weights gives the same distribution without the ring. As in HAProxy, a later draw
//! replaces the kept server unless it is strictly more loaded (`cur / weight`), and when the
//! server finally kept is at its `maxconn` no server is returned, so that the request waits
//! in the backend's queue. The generator is a xorshift64* per instance, seeded from the
//! standard library's per-process random keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Algorithm, PickCtx, has_room};

pub struct Random {
    draws: u32,
    rng: AtomicU64,
}

impl Random {
    pub fn new(draws: u32) -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(&h as *const _ as usize);
        Self::with_seed(draws, h.finish())
    }

    /// A generator with a fixed seed, for reproducible tests.
    pub fn with_seed(draws: u32, seed: u64) -> Self {
        Random {
            draws: draws.max(1),
            // xorshift needs a non-zero state.
            rng: AtomicU64::new(seed | 1),
        }
    }

    /// The next xorshift64* number.
    fn next_u64(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let prev = self
            .rng
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        step(prev).wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Algorithm for Random {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        // (server index, effective weight) of the eligible servers with a weight.
        let cands: Vec<(usize, u64)> = ctx
            .eligible
            .iter()
            .filter_map(|&i| {
                let w = u64::from(ctx.servers.get(i)?.eweight());
                (w > 0).then_some((i, w))
            })
            .collect();
        let total: u64 = cands.iter().map(|&(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let draw = || {
            let mut r = self.next_u64() % total;
            for &(i, w) in &cands {
                if r < w {
                    return (i, w);
                }
                r -= w;
            }
            cands[cands.len() - 1]
        };
        let mut best = draw();
        for _ in 1..self.draws {
            let cur = draw();
            let load = |(i, _): (usize, u64)| u64::from(ctx.servers[i].cur());
            // Keep the previous one only if the new one is strictly more loaded.
            if cur.0 != best.0 && load(cur) * best.1 > load(best) * cur.1 {
                continue;
            }
            best = cur;
        }
        let s = &ctx.servers[best.0];
        has_room(s).then_some(best.0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::runtime::balance::testutil::*;

    #[test]
    fn single_draw_follows_weights() {
        let s = servers(&[1, 2, 3]);
        let algo = Random::with_seed(1, 42);
        let c = counts(&algo, &s, 60_000);
        for (got, want) in c.iter().zip([10_000.0, 20_000.0, 30_000.0]) {
            assert!((*got as f64 - want).abs() / want < 0.05, "{c:?}");
        }
    }

    #[test]
    fn two_draws_prefer_the_least_loaded() {
        let s = servers(&[1, 1]);
        set_cur(&s[0], 10);
        let one = counts(&Random::with_seed(1, 7), &s, 10_000);
        let two = counts(&Random::with_seed(2, 7), &s, 10_000);
        // One draw: about half each; two draws: s1 only when both draws hit it.
        assert!((4500..=5500).contains(&one[0]), "{one:?}");
        assert!((2000..=3000).contains(&two[0]), "{two:?}");
        let many = counts(&Random::with_seed(20, 7), &s, 1000);
        assert!(many[0] < 10, "{many:?}");
    }

    #[test]
    fn held_connections_balance_with_draws() {
        let s = servers(&[1, 1, 1, 1]);
        let algo = Random::with_seed(2, 99);
        let e = usable(&s);
        for _ in 0..4000 {
            let i = algo
                .pick(&PickCtx {
                    servers: &s,
                    eligible: &e,
                    key: None,
                })
                .unwrap();
            s[i].cur.fetch_add(1, Ordering::Relaxed);
        }
        for x in &s {
            assert!((950..=1050).contains(&x.cur()), "{}", x.cur());
        }
    }

    #[test]
    fn full_server_means_none_and_empty_lists() {
        let base = servers(&[1]);
        let s = vec![with_maxconn(&base[0], 1)];
        set_cur(&s[0], 1);
        let algo = Random::new(2);
        assert_eq!(names(&algo, &s, 1), seq("-"));
        let z = servers(&[0, 0]);
        assert_eq!(names(&algo, &z, 1), seq("-"));
        let ctx = PickCtx {
            servers: &z,
            eligible: &[0, 1, 9],
            key: None,
        };
        assert_eq!(algo.pick(&ctx), None);
        assert_eq!(Random::new(0).draws, 1);
    }

    #[test]
    fn seeds_differ_per_instance() {
        let a = Random::new(1);
        let b = Random::new(1);
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_ne!(xa, xb);
    }
}

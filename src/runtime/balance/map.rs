//! The weighted server map of HAProxy's map-based algorithms (`lb_map.c`), shared by
//! `static-rr` and map-based hashing.
//!
//! The map has one slot per unit of effective weight of the eligible servers; servers are
//! spread over it smoothly, the first declared winning ties, so that walking it in turn gives
//! HAProxy's `static-rr` order and `key % size` gives HAProxy's map-based hash lookup.
//!
//! Effective weights are the user weights divided by the GCD of the weights the servers were
//! configured with (read on first use, as HAProxy computes it at start-up; unlike the dynamic
//! algorithms, the map does not scale weights by 16), so the map size, and hence which slot a
//! key lands on and where the round-robin cursor wraps, is HAProxy's. Map-based algorithms are
//! static in HAProxy: it only lets a weight go to 0 and back; other weight changes are taken
//! into account here by rebuilding the map.

use std::sync::Arc;

use super::{MAX_USER_WEIGHT, PickCtx, has_room};
use crate::runtime::backend::ServerState;

/// A server map and its round-robin cursor.
#[derive(Default)]
pub struct ServerMap {
    /// GCD of the configured (first seen) non-zero weights; 0 until first use.
    gcd: u32,
    /// The `(server index, effective weight)` list the map was built from.
    built_from: Vec<(usize, u32)>,
    /// Server indexes, one per slot.
    slots: Vec<usize>,
    /// Next slot for round robin (HAProxy's `rr_idx`), kept across rebuilds.
    rr_idx: usize,
}

impl ServerMap {
    /// Rebuilds the map if the eligible servers or their weights changed since the last call.
    pub fn refresh(&mut self, ctx: &PickCtx) {
        if self.gcd == 0 {
            self.gcd = weights_gcd(ctx.servers);
        }
        let want: Vec<(usize, u32)> = ctx
            .eligible
            .iter()
            .filter_map(|&i| {
                let s = ctx.servers.get(i)?;
                let w = self.eweight(s.weight());
                (w > 0).then_some((i, w))
            })
            .collect();
        if want != self.built_from {
            self.slots = build_map(&want);
            self.built_from = want;
        }
    }

    fn eweight(&self, user: u32) -> u32 {
        user.min(MAX_USER_WEIGHT).div_ceil(self.gcd.max(1))
    }

    /// Number of slots (HAProxy's `tot_weight`).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// HAProxy's `map_get_server_hash`: the server of slot `key % size`.
    pub fn by_hash(&self, key: u32) -> Option<usize> {
        let n = u32::try_from(self.slots.len()).ok().filter(|&n| n > 0)?;
        self.slots.get((key % n) as usize).copied()
    }

    /// HAProxy's `map_get_server_rr`: the next slot whose server has a free connection slot.
    pub fn next_rr(&mut self, servers: &[Arc<ServerState>]) -> Option<usize> {
        self.next_rr_avoiding(servers, None)
    }

    /// [`ServerMap::next_rr`] steering away from server `avoid`, as HAProxy's lookup with a
    /// "server to avoid": its slot is passed over (the cursor moves past it) and the next
    /// server with room is taken; `avoid` only when no other server has room.
    pub fn next_rr_avoiding(
        &mut self,
        servers: &[Arc<ServerState>],
        avoid: Option<usize>,
    ) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        if self.rr_idx >= n {
            self.rr_idx = 0;
        }
        let start = self.rr_idx;
        let mut idx = start;
        // The last server seen with room, and the slot after it.
        let mut found = None;
        loop {
            let srv = self.slots[idx];
            idx += 1;
            if servers.get(srv).is_some_and(|s| has_room(s)) {
                found = Some((srv, idx));
                if avoid != Some(srv) {
                    break;
                }
            }
            if idx == n {
                idx = 0;
            }
            if idx == start {
                break;
            }
        }
        let (srv, next) = found?;
        self.rr_idx = next;
        Some(srv)
    }
}

/// GCD of the non-zero weights, 1 when none.
fn weights_gcd(servers: &[Arc<ServerState>]) -> u32 {
    let mut g = 0u32;
    for s in servers {
        let mut w = s.weight().min(MAX_USER_WEIGHT);
        if w == 0 {
            continue;
        }
        let mut a = g;
        while w != 0 {
            (a, w) = (w, a % w);
        }
        g = a;
    }
    g.max(1)
}

/// HAProxy's `recalc_server_map`: `servers` are `(index, effective weight)` in declaration
/// order; each slot goes to the server whose accumulated score is highest, the first
/// declared on ties.
pub fn build_map(servers: &[(usize, u32)]) -> Vec<usize> {
    let tot: i64 = servers.iter().map(|&(_, w)| i64::from(w)).sum();
    let Ok(n) = usize::try_from(tot) else {
        return Vec::new();
    };
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![servers[0].0];
    }
    let mut score = vec![0i64; servers.len()];
    let mut slots = Vec::with_capacity(n);
    for _ in 0..n {
        let mut best: Option<usize> = None;
        let mut max = 0i64;
        for (k, &(_, w)) in servers.iter().enumerate() {
            score[k] += i64::from(w);
            let v = (score[k] + tot) / tot;
            if best.is_none() || v > max {
                max = v;
                best = Some(k);
            }
        }
        // `servers` is not empty here (tot > 1).
        let b = best.unwrap_or(0);
        score[b] -= tot;
        slots.push(servers[b].0);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::balance::testutil::*;

    fn names(map: &[usize]) -> String {
        map.iter()
            .map(|i| format!("s{}", i + 1))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn map_shapes() {
        assert_eq!(names(&build_map(&[(0, 1), (1, 1), (2, 1)])), "s1 s2 s3");
        assert_eq!(
            names(&build_map(&[(0, 3), (1, 1), (2, 2)])),
            "s1 s1 s3 s1 s2 s3"
        );
        assert!(build_map(&[]).is_empty());
        assert!(build_map(&[(0, 0)]).is_empty());
        assert_eq!(build_map(&[(4, 1)]), vec![4]);
    }

    #[test]
    fn gcd_and_size() {
        let s = servers(&[2, 4, 6]);
        let eligible = usable(&s);
        let mut m = ServerMap::default();
        m.refresh(&PickCtx {
            servers: &s,
            eligible: &eligible,
            key: None,
        });
        // weights / gcd 2 = 1, 2, 3
        assert_eq!(m.len(), 6);
        let s = servers(&[0, 3, 0]);
        assert_eq!(weights_gcd(&s), 3);
        assert_eq!(weights_gcd(&servers(&[0])), 1);
        assert_eq!(weights_gcd(&servers(&[1000, 500])), 256);
    }
}

//! Load-balancing algorithms: one trait, one module per algorithm.
//!
//! Each algorithm follows what HAProxy 2.6 does (`lb_fwrr.c`, `lb_map.c`, `lb_chash.c`,
//! `lb_fwlc.c`, `lb_fas.c`, `backend.c`), so that a backend balanced by rproxy hands requests
//! to its servers in the same order as HAProxy would:
//!
//! * [`roundrobin`]: HAProxy's "fast weighted round robin", dynamic weights;
//! * [`static_rr`]: the weighted server map walked in turn ([`map`] builds the map);
//! * [`leastconn`]: fewest in-flight requests relative to the weight;
//! * [`first`]: the first server, by id, with a free connection slot;
//! * [`hash`]: map-based and consistent hashing of a request key;
//! * [`random`]: weighted random draws keeping the least loaded;
//! * [`key`]: the request keys hashed by `source`, `uri`, `url_param` and `hdr`.
//!
//! Weights follow HAProxy's effective weights: a user weight (0..=256) is scaled by 16
//! (`BE_WEIGHT_SCALE`), except for the map-based algorithms, which divide it by the GCD of
//! the configured weights instead.
//!
//! The unit tests replay sequences observed with HAProxy 2.6.12 on loopback: roundrobin and
//! static-rr orders for several weight sets, after `set weight`, after a server went down and
//! came back, and with a saturated server; leastconn with requests held open; `first` with
//! `maxconn`; the server chosen for sets of URIs, URL parameters, headers, host names and
//! client addresses under map-based and consistent hashing, and the fallback order without a
//! key; roundrobin and static-rr orders when a refused server is avoided by each
//! redispatched retry (it loses its turn). A server is full when it has a `maxconn` and requests wait in its own queue or it is
//! at its effective limit (`minconn`/`fullconn`), which the backend computes
//! ([`crate::runtime::backend`] also keeps the queues and steers a redispatched request
//! away from the previous server). What is not modelled: HAProxy's `hash-balance-factor`,
//! and the hash function/avalanche choice of `hash-type` (the model keeps only the method:
//! map-based uses sdbm, consistent uses sdbm plus avalanche, HAProxy's defaults).
//!
//! Every algorithm keeps its state behind a [`Mutex`] (recovered when poisoned) or atomics;
//! none panics, whatever the servers, eligible list or weights.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::proxy::{Balance, HashType};
use crate::runtime::backend::ServerState;
use crate::runtime::http::head::RequestHead;
use crate::runtime::sample::ConnInfo;

pub mod first;
pub mod hash;
pub mod key;
pub mod leastconn;
pub mod map;
pub mod random;
pub mod roundrobin;
pub mod static_rr;

/// What a pick sees.
pub struct PickCtx<'a> {
    /// Every server of the backend, in declaration order.
    pub servers: &'a [Arc<ServerState>],
    /// Indexes into `servers` of the servers usable now, all of one tier (actives, or backups
    /// when no active is usable), ascending.
    pub eligible: &'a [usize],
    /// The request's hash key for hash-based algorithms, as [`hash_key`] computes it (before
    /// any avalanche, which consistent hashing applies itself); `None` falls back to round
    /// robin.
    pub key: Option<u32>,
}

/// A balancing algorithm; implementations keep their own state behind interior mutability.
pub trait Algorithm: Send + Sync {
    /// The index into `ctx.servers` of the server to use, always one of `ctx.eligible`.
    ///
    /// `None` when no eligible server may take the request now: the list is empty, or, for
    /// the algorithms that honour `maxconn` as HAProxy does (all but the hash lookups), every
    /// eligible server is at its `maxconn`; the caller then queues the request or fails it.
    fn pick(&self, ctx: &PickCtx) -> Option<usize>;

    /// [`Algorithm::pick`] for a redispatched request, steering away from server `avoid`
    /// (where its connection failed) when another eligible server can take it, as HAProxy's
    /// lookups do with their "server to avoid"; `avoid` only when nothing else will do.
    fn pick_avoiding(&self, ctx: &PickCtx, avoid: usize) -> Option<usize> {
        default_pick_avoiding(self, ctx, avoid)
    }

    /// Server `idx` took a request without a pick (a queued request was handed its slot).
    fn taken(&self, _servers: &[Arc<ServerState>], _idx: usize) {}

    /// Server `idx` finished a request (its count went down).
    fn released(&self, _servers: &[Arc<ServerState>], _idx: usize) {}
}

/// The usual way to avoid a server: pick among the others, else among all.
pub(crate) fn default_pick_avoiding<A: Algorithm + ?Sized>(
    algo: &A,
    ctx: &PickCtx,
    avoid: usize,
) -> Option<usize> {
    let others: Vec<usize> = ctx
        .eligible
        .iter()
        .copied()
        .filter(|&i| i != avoid)
        .collect();
    if !others.is_empty() && others.len() < ctx.eligible.len() {
        let sub = PickCtx {
            servers: ctx.servers,
            eligible: &others,
            key: ctx.key,
        };
        if let Some(i) = algo.pick(&sub) {
            return Some(i);
        }
    }
    algo.pick(ctx)
}

/// The algorithm for a backend's `balance` and `hash-type`.
pub fn build(balance: &Balance, hash: HashType, nservers: usize) -> Box<dyn Algorithm> {
    match balance {
        Balance::RoundRobin => Box::new(roundrobin::RoundRobin::new(nservers)),
        Balance::StaticRr => Box::new(static_rr::StaticRr::new()),
        Balance::LeastConn => Box::new(leastconn::LeastConn::new(nservers)),
        Balance::First => Box::new(first::First),
        Balance::Random { draws } => Box::new(random::Random::new(*draws)),
        // HAProxy hashes RDP cookies from TCP payload; rproxy has no key for them
        // ([`hash_key`] returns `None`), so they always take the hash's round-robin fallback.
        Balance::Source
        | Balance::Uri { .. }
        | Balance::UrlParam { .. }
        | Balance::Hdr { .. }
        | Balance::RdpCookie { .. } => match hash {
            HashType::MapBased => Box::new(hash::MapHash::new()),
            HashType::Consistent => Box::new(hash::ConsistentHash::new()),
        },
    }
}

/// The hash key of a request for hash-based algorithms (`source`, `uri`, `url_param`, `hdr`);
/// `None` for the others or when the request lacks the key.
pub fn hash_key(balance: &Balance, req: Option<&RequestHead>, conn: &ConnInfo) -> Option<u32> {
    key::hash_key(balance, req, conn)
}

/// HAProxy's `BE_WEIGHT_SCALE`: effective weights are user weights times this.
pub(crate) const WEIGHT_SCALE: u32 = 16;
/// HAProxy's largest user weight (`SRV_UWGHT_MAX`).
pub(crate) const MAX_USER_WEIGHT: u32 = 256;
/// HAProxy's largest effective weight (`SRV_EWGHT_MAX`).
pub(crate) const MAX_EWEIGHT: u32 = MAX_USER_WEIGHT * WEIGHT_SCALE;

/// The effective weight HAProxy's dynamic algorithms use for a user weight.
pub(crate) fn eweight(user: u32) -> u32 {
    user.min(MAX_USER_WEIGHT) * WEIGHT_SCALE
}

/// Whether the server may take one more request now: no `maxconn`, or nobody waiting in
/// its queue and below its effective limit (HAProxy's test in every algorithm).
pub(crate) fn has_room(s: &ServerState) -> bool {
    !s.full()
}

/// Locks a mutex, taking the state over from a thread that panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The eligible indexes that really index `servers`, ascending and without duplicates
/// (a defensive copy: callers already pass such a list).
pub(crate) fn clean_eligible(ctx: &PickCtx) -> Vec<usize> {
    let n = ctx.servers.len();
    let mut v: Vec<usize> = ctx.eligible.iter().copied().filter(|&i| i < n).collect();
    if !v.is_sorted_by(|a, b| a < b) {
        v.sort_unstable();
        v.dedup();
    }
    v
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::{Algorithm, PickCtx};
    use crate::runtime::backend::ServerState;

    /// Servers `s1`, `s2` ... with ids 1, 2 ... and the given weights, all actives.
    pub fn servers(weights: &[u32]) -> Vec<Arc<ServerState>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                Arc::new(ServerState::new(
                    &format!("s{}", i + 1),
                    i as u32 + 1,
                    w,
                    false,
                    false,
                ))
            })
            .collect()
    }

    /// Indexes of the usable servers.
    pub fn usable(servers: &[Arc<ServerState>]) -> Vec<usize> {
        (0..servers.len())
            .filter(|&i| servers[i].usable())
            .collect()
    }

    /// `n` picks with every usable server eligible, as server names (`-` for none).
    pub fn names(algo: &dyn Algorithm, servers: &[Arc<ServerState>], n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let eligible = usable(servers);
                let ctx = PickCtx {
                    servers,
                    eligible: &eligible,
                    key: None,
                };
                algo.pick(&ctx)
                    .map_or_else(|| "-".to_string(), |i| servers[i].name.clone())
            })
            .collect()
    }

    /// `n` requests where server `dead` refuses connections and every retry is
    /// redispatched: a pick that lands on it is followed by a pick avoiding it; the names
    /// of the servers that answered.
    pub fn names_redispatching(
        algo: &dyn Algorithm,
        servers: &[Arc<ServerState>],
        dead: usize,
        n: usize,
    ) -> Vec<String> {
        (0..n)
            .map(|_| {
                let eligible = usable(servers);
                let ctx = PickCtx {
                    servers,
                    eligible: &eligible,
                    key: None,
                };
                algo.pick(&ctx)
                    .and_then(|i| {
                        if i == dead {
                            algo.pick_avoiding(&ctx, dead)
                        } else {
                            Some(i)
                        }
                    })
                    .map_or_else(|| "-".to_string(), |i| servers[i].name.clone())
            })
            .collect()
    }

    /// The names of a space-separated sequence, for comparisons with [`names`].
    pub fn seq(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    pub fn set_weight(s: &ServerState, w: u32) {
        s.weight.store(w, Ordering::Relaxed);
    }

    pub fn set_cur(s: &ServerState, c: u32) {
        s.cur.store(c, Ordering::Relaxed);
    }

    /// A server with a `maxconn`, which `ServerState::new` leaves at 0.
    pub fn with_maxconn(s: &ServerState, maxconn: u32) -> Arc<ServerState> {
        let mut n = ServerState::new(&s.name, s.id, s.weight(), s.backup, false);
        n.maxconn = maxconn;
        Arc::new(n)
    }

    /// How many of `n` picks each server got.
    pub fn counts(algo: &dyn Algorithm, servers: &[Arc<ServerState>], n: usize) -> Vec<usize> {
        let mut c = vec![0; servers.len()];
        let eligible = usable(servers);
        for _ in 0..n {
            let ctx = PickCtx {
                servers,
                eligible: &eligible,
                key: None,
            };
            if let Some(i) = algo.pick(&ctx) {
                c[i] += 1;
            }
        }
        c
    }
}

//! `balance leastconn`: the eligible server with the fewest in-flight requests relative to its
//! weight, as HAProxy's `lb_fwlc.c`.
//!
//! HAProxy keeps servers in a tree keyed by `(n + 1) * 4096 / eweight` (0 when idle, `n`
//! the requests served and queued) and re-inserts a server behind its equals each time it
//! takes or finishes a request, so equally loaded servers take turns. Here each server
//! carries the key and sequence number of its last "re-insertion": when the backend reports
//! a request taken or finished, or when a pick sees its count or weight changed otherwise;
//! the lowest `(key, sequence)` wins. The count is of requests served and waiting in the server's own queue; a server is
//! skipped once that count reaches its limit plus its `maxqueue` (so that, with a `maxqueue`,
//! a request may be sent to wait in a busy server's queue, as HAProxy does).

use std::sync::{Arc, Mutex};

use super::{Algorithm, MAX_EWEIGHT, PickCtx, lock};
use crate::runtime::backend::ServerState;

/// HAProxy's `fwlc_get_next_server` test: no `maxconn`, or served and queued below the
/// limit plus `maxqueue`.
fn may_take(s: &ServerState) -> bool {
    s.maxconn_now() == 0
        || s.cur().saturating_add(s.queued()) < s.limit().saturating_add(s.maxqueue)
}

pub struct LeastConn {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per server: its place in HAProxy's tree, set when it was last re-inserted.
    slots: Vec<Option<Place>>,
    next_seq: u64,
}

#[derive(Clone, Copy)]
struct Place {
    /// Requests served and weight when re-inserted (a change seen at a pick re-inserts).
    served: u32,
    weight: u32,
    /// The tree key then: served and queued requests relative to the weight. Like
    /// HAProxy's, it is not updated when only the server's queue grows.
    key: u64,
    seq: u64,
}

/// HAProxy's leastconn tree key.
fn lc_key(s: &ServerState, inflight: u32) -> u64 {
    if inflight == 0 {
        return 0;
    }
    let w = u64::from(s.eweight().max(1));
    (u64::from(inflight) + 1) * u64::from(MAX_EWEIGHT) / w
}

impl LeastConn {
    pub fn new(nservers: usize) -> Self {
        LeastConn {
            state: Mutex::new(State {
                slots: vec![None; nservers],
                next_seq: 0,
            }),
        }
    }
}

impl Algorithm for LeastConn {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        let mut st = lock(&self.state);
        if st.slots.len() < ctx.servers.len() {
            st.slots.resize(ctx.servers.len(), None);
        }
        let mut best: Option<(u64, u64, usize)> = None;
        for &i in ctx.eligible {
            let Some(s) = ctx.servers.get(i) else {
                continue;
            };
            let place = match st.slots[i] {
                Some(p) if p.served == s.cur() && p.weight == s.eweight() => p,
                // First sight (declaration order) or a change not reported: behind its
                // equals.
                _ => st.insert(i, s),
            };
            if may_take(s) && best.is_none_or(|(bk, bs, _)| (place.key, place.seq) < (bk, bs)) {
                best = Some((place.key, place.seq, i));
            }
        }
        // The server is re-inserted when it really takes the request ([`Algorithm::taken`]),
        // not when the request only joins its queue.
        best.map(|(_, _, i)| i)
    }

    fn taken(&self, servers: &[Arc<ServerState>], idx: usize) {
        self.reposition(servers, idx);
    }

    fn released(&self, servers: &[Arc<ServerState>], idx: usize) {
        self.reposition(servers, idx);
    }
}

impl State {
    /// (Re-)inserts server `i` behind its equals.
    fn insert(&mut self, i: usize, s: &ServerState) -> Place {
        let p = Place {
            served: s.cur(),
            weight: s.eweight(),
            key: lc_key(s, s.cur().saturating_add(s.queued())),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some(p);
        }
        p
    }
}

impl LeastConn {
    /// HAProxy's `fwlc_srv_reposition` when a server's count changes: behind its new
    /// equals, in the order the changes happen.
    fn reposition(&self, servers: &[Arc<ServerState>], idx: usize) {
        let Some(s) = servers.get(idx) else {
            return;
        };
        let mut st = lock(&self.state);
        if st.slots.len() < servers.len() {
            st.slots.resize(servers.len(), None);
        }
        st.insert(idx, s);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::runtime::balance::testutil::*;

    /// A server with a `maxconn` and a `maxqueue`.
    fn with_queue(s: &ServerState, maxconn: u32, maxqueue: u32) -> Arc<ServerState> {
        let mut n = ServerState::new(&s.name, s.id, s.weight(), s.backup, false);
        n.maxconn = maxconn;
        n.maxqueue = maxqueue;
        Arc::new(n)
    }

    /// Observed with HAProxy 2.6.12 on loopback: sequential requests (each finished before
    /// the next) rotate over the servers whatever their weights.
    #[test]
    fn haproxy_sequential_rotation() {
        for w in [[1, 1, 1], [3, 1, 2]] {
            let s = servers(&w);
            let algo = LeastConn::new(3);
            let eligible = usable(&s);
            // As the backend reports them: the pick's server takes the request, then
            // finishes it.
            let got: Vec<String> = (0..12)
                .map(|_| {
                    let ctx = PickCtx {
                        servers: &s,
                        eligible: &eligible,
                        key: None,
                    };
                    let i = algo.pick(&ctx).unwrap();
                    s[i].cur.fetch_add(1, Ordering::Relaxed);
                    algo.taken(&s, i);
                    s[i].cur.fetch_sub(1, Ordering::Relaxed);
                    algo.released(&s, i);
                    s[i].name.clone()
                })
                .collect();
            assert_eq!(got, seq("s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3"));
        }
    }

    /// Observed with HAProxy 2.6.12: a request that only joins a busy server's queue
    /// (`maxqueue`) does not move the server in the tree, so the next one joins the same
    /// queue until it is full.
    #[test]
    fn queued_requests_do_not_reposition() {
        let base = servers(&[1, 1]);
        let s: Vec<_> = base.iter().map(|b| with_queue(b, 1, 2)).collect();
        let algo = LeastConn::new(2);
        let eligible = usable(&s);
        let pick = || {
            algo.pick(&PickCtx {
                servers: &s,
                eligible: &eligible,
                key: None,
            })
        };
        for i in [0, 1] {
            assert_eq!(pick(), Some(i));
            s[i].cur.fetch_add(1, Ordering::Relaxed);
            algo.taken(&s, i);
        }
        let mut got = Vec::new();
        for _ in 0..5 {
            let i = pick();
            if let Some(i) = i {
                s[i].queued.fetch_add(1, Ordering::Relaxed);
            }
            got.push(i);
        }
        assert_eq!(got, [Some(0), Some(0), Some(1), Some(1), None]);
    }

    /// Observed with HAProxy 2.6.12 on loopback: 12 concurrent slow requests (all still in
    /// flight when the last one arrives), weights 3 1 2.
    #[test]
    fn haproxy_held_connections_sequence() {
        let s = servers(&[3, 1, 2]);
        let algo = LeastConn::new(3);
        let eligible = usable(&s);
        let got: Vec<String> = (0..12)
            .map(|_| {
                let i = algo
                    .pick(&PickCtx {
                        servers: &s,
                        eligible: &eligible,
                        key: None,
                    })
                    .unwrap();
                s[i].cur.fetch_add(1, Ordering::Relaxed);
                s[i].name.clone()
            })
            .collect();
        assert_eq!(got, seq("s1 s2 s3 s1 s3 s1 s1 s3 s1 s2 s3 s1"));
    }

    #[test]
    fn fewest_connections_relative_to_weight() {
        let s = servers(&[1, 1, 1]);
        set_cur(&s[0], 5);
        set_cur(&s[1], 2);
        set_cur(&s[2], 3);
        let algo = LeastConn::new(3);
        assert_eq!(names(&algo, &s, 1), seq("s2"));
        // weight 3 with 8 in flight beats weight 1 with 3: (9/48 < 4/16)
        let s = servers(&[3, 1]);
        set_cur(&s[0], 8);
        set_cur(&s[1], 3);
        assert_eq!(names(&algo, &s, 1), seq("s1"));
    }

    #[test]
    fn held_connections_spread_by_weight() {
        let s = servers(&[3, 1, 2]);
        let algo = LeastConn::new(3);
        let eligible = usable(&s);
        for _ in 0..600 {
            let i = algo
                .pick(&PickCtx {
                    servers: &s,
                    eligible: &eligible,
                    key: None,
                })
                .unwrap();
            s[i].cur.fetch_add(1, Ordering::Relaxed);
        }
        let got: Vec<u32> = s.iter().map(|x| x.cur()).collect();
        assert!((299..=301).contains(&got[0]), "{got:?}");
        assert!((99..=101).contains(&got[1]), "{got:?}");
        assert!((199..=201).contains(&got[2]), "{got:?}");
    }

    #[test]
    fn ties_rotate_and_finished_requests_queue_behind() {
        let s = servers(&[1, 1, 1]);
        let algo = LeastConn::new(3);
        let eligible = usable(&s);
        let pick = || {
            let i = algo
                .pick(&PickCtx {
                    servers: &s,
                    eligible: &eligible,
                    key: None,
                })
                .unwrap();
            s[i].cur.fetch_add(1, Ordering::Relaxed);
            i
        };
        assert_eq!(pick(), 0);
        assert_eq!(pick(), 1);
        // s1 finishes: idle again but behind s3.
        set_cur(&s[0], 0);
        assert_eq!(pick(), 2);
        assert_eq!(pick(), 0);
    }

    #[test]
    fn maxconn_and_empty() {
        let base = servers(&[1, 1]);
        let s = vec![with_maxconn(&base[0], 1), with_maxconn(&base[1], 1)];
        set_cur(&s[0], 1);
        let algo = LeastConn::new(0);
        assert_eq!(names(&algo, &s, 2), seq("s2 s2"));
        set_cur(&s[1], 1);
        assert_eq!(names(&algo, &s, 1), seq("-"));
        let ctx = PickCtx {
            servers: &s,
            eligible: &[],
            key: None,
        };
        assert_eq!(algo.pick(&ctx), None);
    }
}

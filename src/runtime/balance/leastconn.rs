//! `balance leastconn`: the eligible server with the fewest in-flight requests relative to its
//! weight, as HAProxy's `lb_fwlc.c`.
//!
//! HAProxy keeps servers in a tree keyed by `(cur + 1) * 4096 / eweight` (0 when idle) and
//! re-inserts a server behind its equals each time its count changes, so equally loaded
//! servers take turns. Here each server carries the sequence number of its last
//! "re-insertion": when it is picked, and when its key is seen to have changed since the
//! previous pick (a request finished, or its weight changed); the lowest `(key, sequence)`
//! wins. Servers at their `maxconn` are skipped.

use std::sync::Mutex;

use super::{Algorithm, MAX_EWEIGHT, PickCtx, eweight, has_room, lock};
use crate::runtime::backend::ServerState;

pub struct LeastConn {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per server: the key last seen and the sequence of its last re-insertion.
    slots: Vec<Option<(u64, u64)>>,
    next_seq: u64,
}

/// HAProxy's leastconn tree key.
fn lc_key(s: &ServerState, inflight: u32) -> u64 {
    if inflight == 0 {
        return 0;
    }
    let w = u64::from(eweight(s.weight()).max(1));
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
            let key = lc_key(s, s.cur());
            let seq = match st.slots[i] {
                Some((k, seq)) if k == key => seq,
                // First sight (declaration order) or a changed key: behind its equals.
                _ => {
                    let seq = st.next_seq;
                    st.next_seq += 1;
                    st.slots[i] = Some((key, seq));
                    seq
                }
            };
            if has_room(s) && best.is_none_or(|(bk, bs, _)| (key, seq) < (bk, bs)) {
                best = Some((key, seq, i));
            }
        }
        let (_, _, i) = best?;
        // Taking the request re-inserts the server with its new count.
        let s = &ctx.servers[i];
        let seq = st.next_seq;
        st.next_seq += 1;
        st.slots[i] = Some((lc_key(s, s.cur().saturating_add(1)), seq));
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::runtime::balance::testutil::*;

    /// Observed with HAProxy 2.6.12 on loopback: sequential requests (each finished before
    /// the next) rotate over the servers whatever their weights.
    #[test]
    fn haproxy_sequential_rotation() {
        for w in [[1, 1, 1], [3, 1, 2]] {
            let s = servers(&w);
            let algo = LeastConn::new(3);
            assert_eq!(
                names(&algo, &s, 12),
                seq("s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3")
            );
        }
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

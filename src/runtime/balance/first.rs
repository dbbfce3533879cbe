//! `balance first`: the eligible server with the lowest id that still has a free connection
//! slot (`maxconn` 0 meaning unlimited), as HAProxy's `fas_get_next_server`.

use super::{Algorithm, PickCtx, has_room};

pub struct First;

impl Algorithm for First {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        ctx.eligible
            .iter()
            .filter_map(|&i| Some((i, ctx.servers.get(i)?)))
            .filter(|(_, s)| has_room(s))
            .min_by_key(|&(i, s)| (s.id, i))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::balance::testutil::*;

    /// Matches HAProxy 2.6.12 observed on loopback: 7 concurrent slow requests, servers with
    /// `maxconn 2` went to s1 s1 s2 s2 s3 s3, the 7th waited in the queue (no server here).
    #[test]
    fn fills_servers_in_id_order() {
        let base = servers(&[1, 1, 1]);
        let s: Vec<_> = base.iter().map(|b| with_maxconn(b, 2)).collect();
        let eligible = usable(&s);
        let pick = || {
            First.pick(&PickCtx {
                servers: &s,
                eligible: &eligible,
                key: None,
            })
        };
        // Requests held open: each pick takes a slot.
        let mut got = Vec::new();
        for _ in 0..7 {
            let i = pick();
            if let Some(i) = i {
                s[i].cur.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            got.push(i);
        }
        assert_eq!(
            got,
            vec![Some(0), Some(0), Some(1), Some(1), Some(2), Some(2), None]
        );
        // A slot freed on s2 is taken again before s3's.
        set_cur(&s[1], 1);
        assert_eq!(pick(), Some(1));
    }

    #[test]
    fn unlimited_first_server_takes_all() {
        let s = servers(&[1, 1]);
        set_cur(&s[0], 1000);
        assert_eq!(names(&First, &s, 3), seq("s1 s1 s1"));
    }

    #[test]
    fn id_order_not_declaration_order() {
        let a = ServerState::new("a", 7, 1, false, false);
        let b = ServerState::new("b", 3, 1, false, false);
        let s = vec![std::sync::Arc::new(a), std::sync::Arc::new(b)];
        assert_eq!(names(&First, &s, 2), seq("b b"));
        // Only eligible servers count, and bad indexes are ignored.
        let ctx = PickCtx {
            servers: &s,
            eligible: &[0, 5],
            key: None,
        };
        assert_eq!(First.pick(&ctx), Some(0));
    }

    use crate::runtime::backend::ServerState;
}

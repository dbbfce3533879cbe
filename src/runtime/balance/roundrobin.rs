//! `balance roundrobin`: HAProxy's "fast weighted round robin" (`lb_fwrr.c`), replayed
//! step for step so that requests go to the servers in HAProxy's order.
//!
//! Servers of each tier (actives, backups) form a group with three ordered queues: `init`
//! (servers not yet scheduled in this window, heaviest first), `curr` (servers scheduled at a
//! position of the current window) and `next` (servers pushed to the next window). A window
//! lasts as many picks as the group's total effective weight; each pick takes the server with
//! the lowest position not beyond the current position, then moves it forward by
//! `total / weight`, which interleaves servers smoothly in proportion to their weights.
//!
//! Weights are dynamic: every pick compares each server's weight and usability with what the
//! scheduler last saw and applies HAProxy's up/down/weight-change adjustments first, so
//! `set weight` takes effect from the next request. Servers at their `maxconn` are skipped
//! (and keep their place), as HAProxy does.
//!
//! Positions use HAProxy's unsigned 32-bit arithmetic (wrapping), which keeps the ordering
//! identical to HAProxy's, including after weight changes.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{Algorithm, MAX_EWEIGHT, MAX_USER_WEIGHT, PickCtx, clean_eligible, has_room, lock};

pub struct RoundRobin {
    state: Mutex<Option<Fwrr>>,
}

impl RoundRobin {
    /// The scheduler is set up on the first pick, from the servers' state then.
    pub fn new(_nservers: usize) -> Self {
        RoundRobin {
            state: Mutex::new(None),
        }
    }
}

impl Algorithm for RoundRobin {
    fn pick(&self, ctx: &PickCtx) -> Option<usize> {
        self.pick_with(ctx, None)
    }

    /// HAProxy's lookup with a "server to avoid": the avoided server is taken out in its
    /// turn like any other (so it loses that turn) and the next one is chosen; it is
    /// chosen only when nothing else can take the request.
    fn pick_avoiding(&self, ctx: &PickCtx, avoid: usize) -> Option<usize> {
        self.pick_with(ctx, Some(avoid))
    }
}

impl RoundRobin {
    fn pick_with(&self, ctx: &PickCtx, avoid: Option<usize>) -> Option<usize> {
        let eligible = clean_eligible(ctx);
        let first = *eligible.first()?;
        let backup = ctx.servers[first].backup;
        let usable = |i: usize| -> bool {
            let s = &ctx.servers[i];
            if s.backup == backup {
                eligible.binary_search(&i).is_ok()
            } else {
                s.usable()
            }
        };
        let mut guard = lock(&self.state);
        let fwrr = match &mut *guard {
            Some(f) if f.srv.len() == ctx.servers.len() => f,
            slot => {
                // First pick (or the server list changed size): HAProxy's initialisation.
                slot.insert(Fwrr::init(ctx, &usable))
            }
        };
        fwrr.sync(ctx, &usable);
        fwrr.next(ctx, usize::from(backup), avoid)
    }
}

/// Queue identifiers within a group.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tree {
    Curr,
    T0,
    T1,
}

impl Tree {
    fn slot(self) -> usize {
        match self {
            Tree::Curr => 0,
            Tree::T0 => 1,
            Tree::T1 => 2,
        }
    }
}

/// One tier's scheduling state (HAProxy's `fwrr_group`).
struct Group {
    /// The three queues, ordered by `(key, insertion number)` like HAProxy's trees, which
    /// keep equal keys in insertion order.
    trees: [BTreeSet<(u32, u64, usize)>; 3],
    /// Which of `T0`/`T1` is `init`; the other is `next`.
    init: Tree,
    next: Tree,
    curr_pos: u32,
    curr_weight: u32,
    next_weight: u32,
}

/// One server's scheduling state.
#[derive(Clone, Default)]
struct Srv {
    backup: bool,
    /// The queue the server belongs to (kept while it is momentarily out of it, as HAProxy).
    lb_tree: Option<Tree>,
    /// Its entry in that queue, when actually queued.
    node: Option<(u32, u64)>,
    npos: u32,
    lpos: u32,
    rweight: u32,
    /// Effective weight and usability as last committed.
    cur_eweight: u32,
    cur_usable: bool,
    /// Pending values being applied.
    next_eweight: u32,
    next_usable: bool,
}

impl Srv {
    fn currently_usable(&self) -> bool {
        self.cur_usable && self.cur_eweight > 0
    }
    fn willbe_usable(&self) -> bool {
        self.next_usable && self.next_eweight > 0
    }
    fn commit(&mut self) {
        self.cur_eweight = self.next_eweight;
        self.cur_usable = self.next_usable;
    }
}

struct Fwrr {
    groups: [Group; 2],
    srv: Vec<Srv>,
    seq: u64,
}

impl Group {
    fn new(weight: u32) -> Self {
        Group {
            trees: Default::default(),
            init: Tree::T0,
            next: Tree::T1,
            curr_pos: weight,
            curr_weight: weight,
            next_weight: weight,
        }
    }
}

impl Fwrr {
    fn init(ctx: &PickCtx, usable: &dyn Fn(usize) -> bool) -> Self {
        let mut srv: Vec<Srv> = ctx
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let w = s.eweight();
                let u = usable(i);
                Srv {
                    backup: s.backup,
                    cur_eweight: w,
                    cur_usable: u,
                    next_eweight: w,
                    next_usable: u,
                    ..Default::default()
                }
            })
            .collect();
        let total = |b: bool| -> u32 {
            srv.iter()
                .filter(|s| s.backup == b && s.currently_usable())
                .fold(0u32, |t, s| t.wrapping_add(s.cur_eweight))
        };
        let groups = [Group::new(total(false)), Group::new(total(true))];
        let mut f = Fwrr {
            groups,
            srv: Vec::new(),
            seq: 0,
        };
        for (i, s) in srv.iter_mut().enumerate() {
            if s.currently_usable() {
                let g = usize::from(s.backup);
                let init = f.groups[g].init;
                f.seq += 1;
                let key = MAX_EWEIGHT.wrapping_sub(s.next_eweight);
                f.groups[g].trees[init.slot()].insert((key, f.seq, i));
                s.node = Some((key, f.seq));
                s.lb_tree = Some(init);
            }
        }
        f.srv = srv;
        f
    }

    fn group_of(&self, i: usize) -> usize {
        usize::from(self.srv[i].backup)
    }

    /// Applies changes of weights and usability seen since the last pick, in declaration
    /// order, as HAProxy's `fwrr_update_server_weight`.
    fn sync(&mut self, ctx: &PickCtx, usable: &dyn Fn(usize) -> bool) {
        for i in 0..self.srv.len() {
            let w = ctx.servers[i].eweight();
            let u = usable(i);
            let s = &mut self.srv[i];
            if s.cur_eweight == w && s.cur_usable == u {
                continue;
            }
            s.next_eweight = w;
            s.next_usable = u;
            self.update_server_weight(i);
        }
    }

    // ---- queue primitives -------------------------------------------------------------

    /// Removes the server from the queue it is in; `lb_tree` is kept.
    fn dequeue(&mut self, i: usize) {
        if let (Some(t), Some((key, seq))) = (self.srv[i].lb_tree, self.srv[i].node.take()) {
            let g = self.group_of(i);
            self.groups[g].trees[t.slot()].remove(&(key, seq, i));
        }
    }

    fn insert(&mut self, i: usize, t: Tree, key: u32) {
        let g = self.group_of(i);
        self.seq += 1;
        self.groups[g].trees[t.slot()].insert((key, self.seq, i));
        self.srv[i].node = Some((key, self.seq));
        self.srv[i].lb_tree = Some(t);
    }

    /// Queues the server by weight into `t` (heaviest first).
    fn queue_by_weight(&mut self, i: usize, t: Tree) {
        let key = MAX_EWEIGHT.wrapping_sub(self.srv[i].next_eweight);
        self.insert(i, t, key);
    }

    /// Queues the server at its next position, in `curr` or, beyond the window, in `next`.
    fn queue_srv(&mut self, i: usize) {
        let g = self.group_of(i);
        let (curr_weight, next_weight, next_tree) = {
            let gr = &self.groups[g];
            (gr.curr_weight, gr.next_weight, gr.next)
        };
        let s = &mut self.srv[i];
        if !s.willbe_usable() {
            s.lb_tree = None;
        } else if s.next_eweight == 0
            || s.npos >= curr_weight.wrapping_mul(2)
            || s.npos >= curr_weight.wrapping_add(next_weight)
        {
            s.npos = s.npos.wrapping_sub(curr_weight);
            self.queue_by_weight(i, next_tree);
        } else {
            let key = MAX_USER_WEIGHT.wrapping_mul(s.npos).wrapping_add(
                MAX_EWEIGHT
                    .wrapping_add(s.rweight)
                    .wrapping_sub(s.next_eweight)
                    / super::WEIGHT_SCALE,
            );
            self.insert(i, Tree::Curr, key);
        }
    }

    /// Prepares a server taken out of its queue, according to that queue.
    fn get_srv(&mut self, i: usize) {
        let g = self.group_of(i);
        let (init, next, curr_weight, curr_pos) = {
            let gr = &self.groups[g];
            (gr.init, gr.next, gr.curr_weight, gr.curr_pos)
        };
        let s = &mut self.srv[i];
        match s.lb_tree {
            Some(t) if t == init => {
                s.npos = 0;
                s.rweight = 0;
            }
            Some(t) if t == next => s.npos = s.npos.wrapping_add(curr_weight),
            None => s.npos = curr_pos,
            Some(_) => {}
        }
    }

    fn switch_trees(&mut self, g: usize) {
        let gr = &mut self.groups[g];
        std::mem::swap(&mut gr.init, &mut gr.next);
        gr.curr_weight = gr.next_weight;
        gr.curr_pos = gr.curr_weight;
    }

    /// The first server of a queue.
    fn first(&self, g: usize, t: Tree) -> Option<usize> {
        self.groups[g].trees[t.slot()].first().map(|&(_, _, i)| i)
    }

    /// The next server of `curr` if its turn has come, else the heaviest of `init`.
    fn get_server_from_group(&mut self, g: usize) -> Option<usize> {
        let s1 = self.first(g, Tree::Curr);
        if let Some(i) = s1 {
            let s = &self.srv[i];
            if s.cur_eweight > 0 && s.npos <= self.groups[g].curr_pos {
                return Some(i);
            }
        }
        if let Some(i) = self.first(g, self.groups[g].init)
            && self.srv[i].cur_eweight > 0
        {
            self.srv[i].npos = 0;
            self.srv[i].rweight = 0;
            return Some(i);
        }
        s1
    }

    /// Moves the server's next position forward by its share of the window.
    fn update_position(&mut self, g: usize, i: usize) {
        let (curr_pos, next_weight) = (self.groups[g].curr_pos, self.groups[g].next_weight);
        let s = &mut self.srv[i];
        let w = s.cur_eweight;
        if w == 0 {
            return;
        }
        if s.npos == 0 {
            s.npos = curr_pos;
        }
        s.lpos = s.npos;
        s.npos = s.npos.wrapping_add(next_weight / w);
        s.rweight = s.rweight.wrapping_add(next_weight % w);
        if s.rweight >= w {
            s.rweight -= w;
            s.npos = s.npos.wrapping_add(1);
        }
    }

    // ---- state changes ----------------------------------------------------------------

    fn set_status_down(&mut self, i: usize) {
        let g = self.group_of(i);
        let s = &self.srv[i];
        if s.willbe_usable() || !s.currently_usable() {
            self.srv[i].commit();
            return;
        }
        let gr = &mut self.groups[g];
        gr.next_weight = gr.next_weight.wrapping_sub(s.cur_eweight);
        self.dequeue(i);
        self.srv[i].lb_tree = None;
        self.srv[i].commit();
    }

    fn set_status_up(&mut self, i: usize) {
        let g = self.group_of(i);
        let s = &self.srv[i];
        if !s.willbe_usable() || s.currently_usable() {
            self.srv[i].commit();
            return;
        }
        let w = s.next_eweight;
        self.groups[g].next_weight = self.groups[g].next_weight.wrapping_add(w);
        self.get_srv(i);
        let gr = &self.groups[g];
        let span = gr
            .next_weight
            .wrapping_add(gr.curr_weight)
            .wrapping_sub(gr.curr_pos);
        self.srv[i].npos = gr.curr_pos.wrapping_add(span / w);
        self.queue_srv(i);
        self.srv[i].commit();
    }

    fn update_server_weight(&mut self, i: usize) {
        let (old, new) = (self.srv[i].currently_usable(), self.srv[i].willbe_usable());
        match (old, new) {
            (false, false) => {
                self.srv[i].commit();
                return;
            }
            (false, true) => return self.set_status_up(i),
            (true, false) => return self.set_status_down(i),
            (true, true) => {}
        }
        let g = self.group_of(i);
        let (cur_w, next_w) = (self.srv[i].cur_eweight, self.srv[i].next_eweight);
        {
            let gr = &mut self.groups[g];
            gr.next_weight = gr.next_weight.wrapping_sub(cur_w).wrapping_add(next_w);
        }
        let init = self.groups[g].init;
        match self.srv[i].lb_tree {
            Some(t) if t == init => {
                self.dequeue(i);
                self.queue_by_weight(i, init);
            }
            None => {
                self.dequeue(i);
                self.get_srv(i);
                let gr = &self.groups[g];
                let span = gr
                    .next_weight
                    .wrapping_add(gr.curr_weight)
                    .wrapping_sub(gr.curr_pos);
                self.srv[i].npos = gr.curr_pos.wrapping_add(span / next_w);
                self.queue_srv(i);
            }
            Some(_) => {
                self.get_srv(i);
                let (curr_pos, curr_weight, next_weight) = {
                    let gr = &self.groups[g];
                    (gr.curr_pos, gr.curr_weight, gr.next_weight)
                };
                let s = &mut self.srv[i];
                if let Some(step) = next_weight.checked_div(next_w) {
                    let prev_next = s.npos;
                    s.npos = s.lpos.wrapping_add(step);
                    s.rweight = 0;
                    if s.npos > prev_next {
                        s.npos = prev_next;
                    }
                    if s.npos < curr_pos.wrapping_add(2) {
                        s.npos = curr_pos.wrapping_add(step);
                    }
                } else {
                    s.npos = curr_pos.wrapping_add(curr_weight);
                }
                self.dequeue(i);
                self.queue_srv(i);
            }
        }
        self.srv[i].commit();
    }

    // ---- the pick ---------------------------------------------------------------------

    /// HAProxy's `fwrr_get_next_server` for group `g`, steering away from `avoid`.
    fn next(&mut self, ctx: &PickCtx, g: usize, avoid: Option<usize>) -> Option<usize> {
        let mut switched = false;
        let mut full: Vec<usize> = Vec::new();
        let mut chosen = None;
        // The server to avoid, once it came up with room: put aside like a saturated one,
        // and taken only if no other server can be.
        let mut avoided = None;
        // Each server is taken out at most once per pick, so this ends; the bound guards
        // against any inconsistency.
        for _ in 0..=self.srv.len() * 2 + 2 {
            if self.groups[g].curr_weight == 0 {
                let gr = &mut self.groups[g];
                gr.curr_weight = gr.next_weight;
                gr.curr_pos = gr.next_weight;
            }
            let srv = loop {
                if let Some(i) = self.get_server_from_group(g) {
                    break Some(i);
                }
                if switched {
                    break None;
                }
                switched = true;
                self.switch_trees(g);
            };
            let Some(i) = srv else {
                break;
            };
            self.update_position(g, i);
            self.dequeue(i);
            self.groups[g].curr_pos = self.groups[g].curr_pos.wrapping_add(1);
            if ctx.servers.get(i).is_some_and(|s| has_room(s)) {
                if avoid != Some(i) || avoided.is_some() {
                    chosen = Some(i);
                    break;
                }
                avoided = Some(i);
            }
            // Saturated or avoided: put back once the pick is done.
            full.push(i);
        }
        // Nothing else could be taken: the avoided server after all.
        let chosen = chosen.or(avoided);
        if let Some(i) = chosen {
            self.queue_srv(i);
        }
        // Requeue the saturated (and avoided) servers, last taken first, as HAProxy's chain;
        // an avoided server chosen after all is already back.
        for &i in full.iter().rev().filter(|&&i| Some(i) != chosen) {
            if switched {
                let init = self.groups[g].init;
                self.queue_by_weight(i, init);
            } else {
                self.queue_srv(i);
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::balance::testutil::*;

    /// Observed with HAProxy 2.6.12 on loopback (`balance roundrobin`, `retries 2`, `option
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
                "s1 s1 s3 s1 s4 s1 s1 s3 s1 s4 s1 s1 s3 s1 s4 s1 s1 s3 s1 s4 s1 s1 s3 s1",
            ),
            (
                &[1, 4, 2, 3],
                "s4 s3 s4 s1 s4 s3 s4 s3 s4 s1 s4 s3 s4 s3 s4 s1 s4 s3 s4 s3 s4 s1 s4 s3",
            ),
            (
                &[5, 1, 3, 2],
                "s1 s3 s1 s4 s1 s3 s1 s3 s4 s1 s1 s3 s1 s4 s1 s3 s1 s3 s4 s1 s1 s3 s1 s4",
            ),
        ];
        for (weights, want) in cases {
            let s = servers(weights);
            let algo = RoundRobin::new(s.len());
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
                "s1 s3 s1 s2 s1 s3 s1 s3 s1 s2 s1 s3 s1 s3 s1 s2 s1 s3 s1 s3 s1 s2 s1 s3",
            ),
            (
                &[5, 2, 1],
                "s1 s1 s2 s1 s1 s3 s1 s2 s1 s1 s2 s1 s1 s3 s1 s2 s1 s1 s2 s1 s1 s3 s1 s2",
            ),
            (
                &[1, 2, 3, 4],
                "s4 s3 s4 s2 s3 s4 s1 s4 s3 s2 s4 s3 s4 s2 s3 s4 s1 s4 s3 s2 s4 s3 s4 s2",
            ),
        ];
        for (weights, want) in cases {
            let s = servers(weights);
            let algo = RoundRobin::new(s.len());
            assert_eq!(names(&algo, &s, 24), seq(want), "weights {weights:?}");
        }
    }

    /// Observed with HAProxy 2.6.12 on loopback: `set weight` through the stats socket
    /// between runs of sequential requests (weights 1 1 1 at start).
    #[test]
    fn haproxy_set_weight_sequence() {
        let s = servers(&[1, 1, 1]);
        let algo = RoundRobin::new(3);
        assert_eq!(names(&algo, &s, 7), seq("s1 s2 s3 s1 s2 s3 s1"));
        set_weight(&s[0], 3);
        assert_eq!(
            names(&algo, &s, 20),
            seq("s2 s1 s3 s1 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1 s1")
        );
        set_weight(&s[1], 0);
        assert_eq!(
            names(&algo, &s, 12),
            seq("s1 s3 s1 s1 s1 s3 s1 s1 s1 s3 s1 s1")
        );
        set_weight(&s[1], 2);
        assert_eq!(
            names(&algo, &s, 24),
            seq("s1 s2 s3 s1 s2 s1 s1 s2 s3 s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 s2 s1 s2 s1")
        );
    }

    /// Observed with HAProxy 2.6.12 on loopback: `disable server` / `enable server` on s1
    /// (weights 3 1 2) between runs of sequential requests.
    #[test]
    fn haproxy_server_down_and_up_sequence() {
        let s = servers(&[3, 1, 2]);
        let algo = RoundRobin::new(3);
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
        assert_eq!(run(&[0, 1, 2], 5), seq("s1 s3 s1 s2 s1"));
        assert_eq!(run(&[1, 2], 6), seq("s3 s3 s3 s3 s2 s3"));
        assert_eq!(
            run(&[0, 1, 2], 24),
            seq("s3 s1 s2 s1 s3 s1 s3 s1 s2 s1 s3 s1 s3 s1 s2 s1 s3 s1 s3 s1 s2 s1 s3 s1")
        );
    }

    /// Observed with HAProxy 2.6.12 on loopback, servers with `maxconn 1`: one request, then
    /// one held on the next server while 8 more are sent, then 8 more once it is released.
    #[test]
    fn haproxy_saturated_server_sequence() {
        for (weights, held, want_full, want_after) in [
            (
                [1, 1, 1],
                1,
                "s3 s1 s3 s1 s3 s1 s3 s1",
                "s2 s3 s1 s2 s3 s1 s2 s3",
            ),
            (
                [3, 1, 2],
                2,
                "s1 s2 s1 s1 s1 s2 s1 s1",
                "s3 s1 s2 s1 s3 s1 s3 s1",
            ),
        ] {
            let base = servers(&weights);
            let s: Vec<_> = base.iter().map(|b| with_maxconn(b, 1)).collect();
            let algo = RoundRobin::new(3);
            assert_eq!(names(&algo, &s, 1), seq("s1"));
            assert_eq!(names(&algo, &s, 1), seq(&format!("s{}", held + 1)));
            set_cur(&s[held], 1);
            assert_eq!(names(&algo, &s, 8), seq(want_full), "{weights:?}");
            set_cur(&s[held], 0);
            assert_eq!(names(&algo, &s, 8), seq(want_after), "{weights:?}");
        }
    }

    #[test]
    fn proportional() {
        let s = servers(&[3, 1, 2]);
        let algo = RoundRobin::new(3);
        assert_eq!(counts(&algo, &s, 6000), vec![3000, 1000, 2000]);
        let s = servers(&[7, 1, 256, 13]);
        let algo = RoundRobin::new(4);
        let c = counts(&algo, &s, 277 * 20);
        assert_eq!(c, vec![140, 20, 5120, 260]);
    }

    #[test]
    fn weight_change_mid_stream() {
        let s = servers(&[1, 1, 1]);
        let algo = RoundRobin::new(3);
        names(&algo, &s, 7);
        set_weight(&s[0], 3);
        // s1 now gets 3 of every 5 picks.
        let c = counts(&algo, &s, 5000);
        assert!((2990..=3010).contains(&c[0]), "{c:?}");
        set_weight(&s[1], 0);
        let got = names(&algo, &s, 40);
        assert!(!got.contains(&"s2".to_string()));
        set_weight(&s[1], 2);
        let c = counts(&algo, &s, 6000);
        assert!((2990..=3010).contains(&c[0]), "{c:?}");
        assert!((1990..=2010).contains(&c[1]), "{c:?}");
        assert!((990..=1010).contains(&c[2]), "{c:?}");
    }

    #[test]
    fn eligible_set_shrinks_and_grows() {
        let s = servers(&[1, 1, 1]);
        let algo = RoundRobin::new(3);
        let pick = |e: &[usize]| {
            algo.pick(&PickCtx {
                servers: &s,
                eligible: e,
                key: None,
            })
        };
        for _ in 0..5 {
            pick(&[0, 1, 2]);
        }
        let mut seen = [0; 3];
        for _ in 0..20 {
            seen[pick(&[0, 2]).unwrap()] += 1;
        }
        assert_eq!(seen, [10, 0, 10]);
        let mut seen = [0; 3];
        for _ in 0..30 {
            seen[pick(&[0, 1, 2]).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&c| (9..=11).contains(&c)), "{seen:?}");
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&[42]), None);
    }

    #[test]
    fn backup_tier() {
        let mut v = servers(&[1, 1]);
        v.push(std::sync::Arc::new(
            crate::runtime::backend::ServerState::new("b1", 3, 1, true, false),
        ));
        v.push(std::sync::Arc::new(
            crate::runtime::backend::ServerState::new("b2", 4, 1, true, false),
        ));
        let algo = RoundRobin::new(4);
        let pick = |e: &[usize]| {
            algo.pick(&PickCtx {
                servers: &v,
                eligible: e,
                key: None,
            })
        };
        assert_eq!(pick(&[0, 1]), Some(0));
        assert_eq!(pick(&[2, 3]), Some(2));
        assert_eq!(pick(&[2, 3]), Some(3));
        assert_eq!(pick(&[0, 1]), Some(1));
    }

    #[test]
    fn saturated_servers_are_skipped() {
        let base = servers(&[1, 1, 1]);
        let s = vec![base[0].clone(), with_maxconn(&base[1], 1), base[2].clone()];
        set_cur(&s[1], 1);
        let algo = RoundRobin::new(3);
        assert_eq!(names(&algo, &s, 6), seq("s1 s3 s1 s3 s1 s3"));
        set_cur(&s[1], 0);
        let c = counts(&algo, &s, 300);
        assert!(c.iter().all(|&x| (95..=105).contains(&x)), "{c:?}");
        // All saturated: nothing.
        let full = vec![with_maxconn(&base[0], 1)];
        set_cur(&full[0], 1);
        assert_eq!(names(&algo, &full, 2), seq("- -"));
    }

    #[test]
    fn zero_weights_never_panic() {
        let s = servers(&[0, 0, 0]);
        let algo = RoundRobin::new(3);
        assert_eq!(names(&algo, &s, 3), seq("- - -"));
        // Eligible although weight 0 (a caller bug): still no panic.
        let ctx = PickCtx {
            servers: &s,
            eligible: &[0, 1],
            key: None,
        };
        for _ in 0..5 {
            let _ = algo.pick(&ctx);
        }
    }

    #[test]
    fn concurrent_picks() {
        let s = servers(&[2, 1]);
        let algo = std::sync::Arc::new(RoundRobin::new(2));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (s, algo) = (s.clone(), algo.clone());
                std::thread::spawn(move || counts(&*algo, &s, 3000))
            })
            .collect();
        let mut tot = [0usize; 2];
        for h in handles {
            let c = h.join().unwrap();
            tot[0] += c[0];
            tot[1] += c[1];
        }
        assert_eq!(tot, [8000, 4000]);
    }
}

//! `show activity` and `show tasks` on the stats socket, in HAProxy 2.6's layout so that
//! tools reading them work: the same field names in the same order, a total then one
//! column per thread (`nbthread`) between brackets when there are several threads.
//!
//! The figures are rproxy's own where it has them; HAProxy's event-loop internals have no
//! counterpart in a tokio runtime and are printed as 0 (placeholders, see [`FIELDS`]):
//! - real: `thread_id` (the thread serving the command, numbered in the order threads
//!   first went idle or accepted a connection), `date_now`, `loops` (times each event
//!   loop went to wait for events: tokio's park, where HAProxy's loop calls its poller;
//!   a busy tokio worker polls without parking, so this counts fewer than HAProxy's),
//!   `accepted` (connections accepted on frontends and stats sockets, per accepting
//!   thread);
//! - placeholders (always 0): `ctxsw`, `tasksw`, `empty_rq`, `long_rq`, `wake_tasks`, `wake_signal`, `poll_io`, `poll_exp`, `poll_drop_fd`, `poll_skip_fd`,
//!   `conn_dead`, `stream_calls`, `pool_fail`, `buf_wait`, `cpust_ms_tot`, `cpust_ms_1s`,
//!   `cpust_ms_15s`, `avg_loop_us`, `accq_pushed`, `accq_full`, `accq_ring`, `fd_takeover`.
//!
//! `show tasks` lists the sessions alive now by kind (`http_stream`, `tcp_stream`,
//! `cli_stream`; each is one task), not the tasks waiting in a run queue at that instant
//! as HAProxy's does (tokio does not expose its run queues). Latencies are never measured
//! (HAProxy's `profiling.tasks` off): they print as `-`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::Ctx;
use crate::model::proxy::Mode;

/// Per-thread slots; threads beyond this share slots (folded, the totals stay right).
const SLOTS: usize = 64;

/// A counter on its own cache line: each thread writes its own without contention.
#[repr(align(64))]
struct Slot(AtomicU64);

static ACCEPTED: [Slot; SLOTS] = [const { Slot(AtomicU64::new(0)) }; SLOTS];
static LOOPS: [Slot; SLOTS] = [const { Slot(AtomicU64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// This thread's slot, given on first use.
fn slot() -> usize {
    SLOT.with(|s| match s.get() {
        Some(i) => i,
        None => {
            let i = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            s.set(Some(i));
            i
        }
    })
}

/// A connection was accepted (a frontend's or a stats socket's) on this thread.
pub fn on_accept() {
    ACCEPTED[slot()].0.fetch_add(1, Ordering::Relaxed);
}

/// This thread's event loop goes to wait for events (tokio's `on_thread_park`).
pub fn on_park() {
    LOOPS[slot()].0.fetch_add(1, Ordering::Relaxed);
}

/// The field names of `show activity`, in HAProxy 2.6's order, after `thread_id` and
/// `date_now`. Only `loops` and `accepted` have figures here; the rest are placeholders
/// (0).
const FIELDS: &[&str] = &[
    "ctxsw",
    "tasksw",
    "empty_rq",
    "long_rq",
    "loops",
    "wake_tasks",
    "wake_signal",
    "poll_io",
    "poll_exp",
    "poll_drop_fd",
    "poll_skip_fd",
    "conn_dead",
    "stream_calls",
    "pool_fail",
    "buf_wait",
    "cpust_ms_tot",
    "cpust_ms_1s",
    "cpust_ms_15s",
    "avg_loop_us",
    "accepted",
    "accq_pushed",
    "accq_full",
    "accq_ring",
    "fd_takeover",
];

/// One line: the total, then with several threads each thread's value in brackets.
fn line(out: &mut String, name: &str, per_thread: &[u64]) {
    let total: u64 = per_thread.iter().sum();
    out.push_str(name);
    out.push_str(&format!(": {total}"));
    if per_thread.len() > 1 {
        out.push_str(" [");
        for v in per_thread {
            out.push_str(&format!(" {v}"));
        }
        out.push_str(" ]");
    }
    out.push('\n');
}

/// Folds the slots onto `n` thread columns.
fn per_thread(slots: &[Slot], n: usize) -> Vec<u64> {
    let mut v = vec![0u64; n];
    for (i, a) in slots.iter().enumerate() {
        v[i % n] += a.0.load(Ordering::Relaxed);
    }
    v
}

/// `show activity`.
pub fn show_activity(ctx: &mut Ctx, out: &mut String) {
    let n = ctx.rt.cli.meta.nbthread.max(1) as usize;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    out.push_str(&format!("thread_id: {} (1..{n})\n", slot() % n + 1));
    out.push_str(&format!(
        "date_now: {}.{:06}\n",
        now.as_secs(),
        now.subsec_micros()
    ));
    let zeros = vec![0u64; n];
    let accepted = per_thread(&ACCEPTED, n);
    let loops = per_thread(&LOOPS, n);
    for f in FIELDS {
        let v = match *f {
            "accepted" => &accepted,
            "loops" => &loops,
            _ => &zeros,
        };
        line(out, f, v);
    }
    out.push('\n');
}

/// `show tasks`: the sessions alive now, by kind, in HAProxy's table (the asking
/// session itself is not counted, as HAProxy's is not in a run queue while it runs).
pub fn show_tasks(ctx: &mut Ctx, out: &mut String) {
    let rt = ctx.rt;
    let (mut http, mut tcp, mut cli) = (0u32, 0u32, 0u32);
    for s in super::lock(&rt.cli.sessions).values() {
        if s.frontend == "GLOBAL" {
            cli += 1;
            continue;
        }
        match rt
            .proxies
            .iter()
            .find(|p| p.caps.frontend && p.name == s.frontend)
            .map(|p| p.mode)
        {
            Some(Mode::Http) => http += 1,
            _ => tcp += 1,
        }
    }
    let cli = cli.saturating_sub(1);
    let mut rows: Vec<(&str, u32)> = [
        ("http_stream", http),
        ("tcp_stream", tcp),
        ("cli_stream", cli),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let total: u32 = rows.iter().map(|r| r.1).sum();
    out.push_str(&format!(
        "Running tasks: {total} ({} threads)\n",
        rt.cli.meta.nbthread.max(1)
    ));
    out.push_str("  function                     places     %    lat_tot   lat_avg\n");
    for (name, places) in rows {
        // Per mille, truncated, printed as HAProxy does (`16.6` for 1 of 6).
        let pm = u64::from(places) * 1000 / u64::from(total.max(1));
        out.push_str(&format!(
            "  {name:<25} {places:>9}  {:>3}.{}      -         -   \n",
            pm / 10,
            pm % 10
        ));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_haproxy_layout() {
        let mut s = String::new();
        line(&mut s, "accepted", &[7]);
        line(&mut s, "accepted", &[1, 6]);
        line(&mut s, "loops", &[0, 0]);
        assert_eq!(s, "accepted: 7\naccepted: 7 [ 1 6 ]\nloops: 0 [ 0 0 ]\n");
    }

    #[test]
    fn fields_keep_haproxy_order() {
        assert_eq!(FIELDS.len(), 24);
        assert_eq!(FIELDS.first(), Some(&"ctxsw"));
        assert_eq!(FIELDS.last(), Some(&"fd_takeover"));
    }
}

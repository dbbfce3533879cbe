//! Per-listener counters for `option socket-stats`: one [`ListenerStat`] per bound socket
//! of a frontend with the option, registered when the sockets start serving, and the
//! task-local that lets the counting helpers of [`super::counters`] reach the listener of
//! the connection they run for without passing it through every session function.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::counters::Counters;

tokio::task_local! {
    /// The listener whose connection the current task serves (only with socket-stats).
    static CURRENT: Arc<ListenerStat>;
}

/// One listener's identity and counters.
#[derive(Debug)]
pub struct ListenerStat {
    /// Index of the proxy in the runtime.
    pub proxy: usize,
    /// The listener's id in its proxy (`id`, else the next free number from 1).
    pub luid: u32,
    /// `name`, else `sock-<luid>`.
    pub name: String,
    /// The address as bound (`127.0.0.1:8080`, `unix@/run/x`).
    pub addr: String,
    /// Index of its `bind` line in the proxy.
    pub bind: usize,
    /// The bind's `maxconn` (0: none).
    pub maxconn: u32,
    /// Connections open now.
    pub current: AtomicU64,
    pub total: AtomicU64,
    pub c: Counters,
}

/// Every listener with stats, in bind order.
#[derive(Debug, Default)]
pub struct Listeners {
    list: Mutex<Vec<Arc<ListenerStat>>>,
    /// Per proxy, where the next automatic id is looked for.
    next: Mutex<std::collections::HashMap<usize, u32>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Listeners {
    /// Registers a bound socket of proxy `proxy`'s `bind` number `bind`; `forced` are the
    /// ids given by `id` on the proxy's binds (`None` elsewhere), indexed by bind.
    pub fn register(
        &self,
        proxy: usize,
        bind: usize,
        forced: &[Option<u32>],
        name: Option<&str>,
        addr: &str,
        maxconn: u32,
    ) -> Arc<ListenerStat> {
        let mut list = lock(&self.list);
        let mine: Vec<u32> = list
            .iter()
            .filter(|l| l.proxy == proxy)
            .map(|l| l.luid)
            .collect();
        // HAProxy's numbering: a running counter that moves on after every listener; a
        // listener without `id` takes the first number from it that no other listener
        // has or was given (the first socket of a bind takes the bind's `id`).
        let mut next = lock(&self.next);
        let counter = next.entry(proxy).or_insert(1);
        let first_of_bind = !list.iter().any(|l| l.proxy == proxy && l.bind == bind);
        let luid = match forced.get(bind).copied().flatten() {
            Some(id) if first_of_bind => id,
            _ => {
                let mut n = *counter;
                while mine.contains(&n) || forced.iter().flatten().any(|f| *f == n) {
                    n += 1;
                }
                *counter = n;
                n
            }
        };
        *counter += 1;
        drop(next);
        let l = Arc::new(ListenerStat {
            proxy,
            luid,
            name: name.map_or_else(|| format!("sock-{luid}"), str::to_string),
            addr: addr.to_string(),
            bind,
            maxconn,
            current: AtomicU64::new(0),
            total: AtomicU64::new(0),
            c: Counters::default(),
        });
        list.push(l.clone());
        l
    }

    /// The listeners of one proxy, in order.
    pub fn of(&self, proxy: usize) -> Vec<Arc<ListenerStat>> {
        lock(&self.list)
            .iter()
            .filter(|l| l.proxy == proxy)
            .cloned()
            .collect()
    }
}

impl ListenerStat {
    /// A connection accepted here.
    pub fn on_accept(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let cur = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.c.sess_max.fetch_max(cur, Ordering::Relaxed);
    }
    /// A connection accepted here ended.
    pub fn on_close(&self) {
        self.current.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `f` on the counters of the listener the current task serves, if it has stats.
pub fn with(f: impl FnOnce(&Counters)) {
    let _ = CURRENT.try_with(|l| f(&l.c));
}

/// `fut` with `l` as the task's listener (as is when `l` is None).
pub async fn scope<F: Future>(l: Option<Arc<ListenerStat>>, fut: F) -> F::Output {
    match l {
        Some(l) => CURRENT.scope(l, fut).await,
        None => fut.await,
    }
}

/// The current task's listener, to hand to a task it spawns.
pub fn current() -> Option<Arc<ListenerStat>> {
    CURRENT.try_with(Arc::clone).ok()
}

//! Process and frontend commands of the stats socket, with HAProxy 2.6's answers:
//! `disable|enable|shutdown frontend`, `set maxconn frontend|global`,
//! `clear counters [all]`, `show errors`, `show env`, `shutdown session`. Frontend states
//! live in [`super::ProxyMeta::fe_ctl`], which the accept loops watch ([`hold`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{Semaphore, watch};

use super::{Ctx, FeCtl, lock};
use crate::runtime::Runtime;
use crate::runtime::listeners::Listener;

const NEED_FRONTEND: &str = "A frontend name is expected.\n\n";
const NO_FRONTEND: &str = "No such frontend.\n\n";

/// The frontend a command names, or HAProxy's complaint.
fn frontend(ctx: &Ctx, arg: Option<&&str>) -> Result<usize, &'static str> {
    let name = arg.ok_or(NEED_FRONTEND)?;
    ctx.rt
        .proxies
        .iter()
        .position(|p| p.caps.frontend && p.name == *name)
        .ok_or(NO_FRONTEND)
}

/// The frontend's state: configured `disabled` counts as shut down.
fn fe_state(rt: &Runtime, i: usize) -> FeCtl {
    if rt.proxies.get(i).is_some_and(|p| p.disabled) {
        return FeCtl::Stopped;
    }
    rt.cli
        .meta
        .proxies
        .get(i)
        .map_or(FeCtl::Ready, |p| *p.fe_ctl.borrow())
}

fn set_fe(rt: &Runtime, i: usize, to: FeCtl) {
    if let Some(p) = rt.cli.meta.proxies.get(i) {
        p.fe_ctl.send_replace(to);
    }
}

/// `disable frontend F` (pause: its sockets stop listening), `enable frontend F`.
pub fn pause_frontend(ctx: &mut Ctx, enable: bool, args: &[&str], out: &mut String) {
    let i = match frontend(ctx, args.first()) {
        Ok(i) => i,
        Err(e) => return out.push_str(e),
    };
    let name = &ctx.rt.proxies[i].name;
    match (fe_state(ctx.rt, i), enable) {
        (FeCtl::Stopped, false) => {
            out.push_str("Frontend was previously shut down, cannot disable.\n\n")
        }
        (FeCtl::Stopped, true) => {
            out.push_str("Frontend was previously shut down, cannot enable.\n\n")
        }
        (FeCtl::Paused, false) => out.push_str("All sockets are already disabled.\n\n"),
        (FeCtl::Ready, true) => out.push_str("All sockets are already enabled.\n\n"),
        (FeCtl::Ready, false) => {
            set_fe(ctx.rt, i, FeCtl::Paused);
            crate::runtime::process::warning(&format!("Paused frontend {name}."));
            out.push('\n');
        }
        (FeCtl::Paused, true) => {
            set_fe(ctx.rt, i, FeCtl::Ready);
            crate::runtime::process::warning(&format!("Resumed frontend {name}."));
            out.push('\n');
        }
    }
}

/// `shutdown frontend F`: its sockets close for good; its sessions go on.
pub fn shutdown_frontend(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let i = match frontend(ctx, args.first()) {
        Ok(i) => i,
        Err(e) => return out.push_str(e),
    };
    if fe_state(ctx.rt, i) == FeCtl::Stopped {
        out.push_str("Frontend was already shut down.\n\n");
        return;
    }
    set_fe(ctx.rt, i, FeCtl::Stopped);
    let px = &ctx.rt.proxies[i];
    let be = px
        .backend
        .as_ref()
        .map_or(0, |b| b.total.load(Ordering::Relaxed));
    crate::runtime::process::warning(&format!(
        "Proxy {} stopped (cumulated conns: FE: {}, BE: {be}).",
        px.name,
        px.counters.sessions.load(Ordering::Relaxed)
    ));
    out.push('\n');
}

/// Waits until the frontend's state changes (forever without a stats socket).
pub async fn fe_changed(rx: &mut Option<watch::Receiver<FeCtl>>) {
    match rx {
        Some(r) => {
            if r.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// An accept loop's side of `disable|enable|shutdown frontend`: while paused the socket
/// does not listen (new connections are refused, as with HAProxy); returns false when
/// the loop must end (shut down, or the process stops while paused).
pub async fn hold(rt: &Runtime, rx: &mut watch::Receiver<FeCtl>, listener: &mut Listener) -> bool {
    let mut stop = rt.stopping.subscribe();
    let mut paused = false;
    loop {
        let now = *rx.borrow_and_update();
        match now {
            FeCtl::Stopped => return false,
            FeCtl::Ready => {
                if paused {
                    listener.resume();
                }
                return true;
            }
            FeCtl::Paused => {
                if !paused {
                    listener.pause();
                    paused = true;
                }
            }
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() {
                listener.resume();
                return true;
            },
            _ = stop.changed() => return false,
        }
    }
}

/// Grows or shrinks a semaphore of `from` permits to `to` (shrinking waits for permits
/// in use to come back).
fn resize(sem: &Arc<Semaphore>, from: u32, to: u32) {
    if to > from {
        sem.add_permits((to - from) as usize);
    } else if from > to {
        let mut left = (from - to) as usize;
        left -= sem.forget_permits(left);
        if left > 0 {
            let sem = sem.clone();
            tokio::spawn(async move {
                if let Ok(p) = sem.acquire_many_owned(left as u32).await {
                    p.forget();
                }
            });
        }
    }
}

/// `set maxconn frontend F N`.
pub fn set_maxconn_frontend(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let i = match frontend(ctx, args.first()) {
        Ok(i) => i,
        Err(e) => return out.push_str(e),
    };
    let Some(v) = args.get(1) else {
        out.push_str("Integer value expected.\n\n");
        return;
    };
    let v = super::stat::atoi(v);
    if v < 0 {
        out.push_str("Value out of range.\n\n");
        return;
    }
    let (Some(pm), Some(px)) = (ctx.rt.cli.meta.proxies.get(i), ctx.rt.proxies.get(i)) else {
        out.push('\n');
        return;
    };
    let v = u32::try_from(v)
        .unwrap_or(u32::MAX)
        .min(Semaphore::MAX_PERMITS as u32);
    let old = pm.maxconn_now.swap(v, Ordering::Relaxed);
    if let Some(sem) = &px.conn_slots {
        // 0 would stop the frontend for good: it takes the global limit then.
        let eff = |n: u32| if n == 0 { ctx.rt.maxconn.max(1) } else { n };
        resize(sem, eff(old), eff(v));
    }
    out.push('\n');
}

/// The global `maxconn` now.
pub fn global_maxconn(rt: &Runtime) -> u32 {
    match rt.cli.maxconn_global.load(Ordering::Relaxed) {
        0 => rt.maxconn,
        n => n,
    }
}

/// `set maxconn global N` (at most the configured one; 0 or less: the configured one).
pub fn set_maxconn_global(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let Some(v) = args.first() else {
        out.push_str("Expects an integer value.\n\n");
        return;
    };
    let v = super::stat::atoi(v);
    let hard = i64::from(ctx.rt.maxconn);
    if v > hard {
        out.push_str("Value out of range.\n\n");
        return;
    }
    let v = if v <= 0 { hard } else { v } as u32;
    let old = global_maxconn(ctx.rt);
    ctx.rt.cli.maxconn_global.store(v, Ordering::Relaxed);
    resize(&ctx.rt.global_slots, old, v);
    out.push('\n');
}

/// `clear counters [all]`: maxima, or every counter, of every proxy and server.
pub fn clear_counters(ctx: &mut Ctx, all: bool) {
    let zero = |a: &std::sync::atomic::AtomicU64| a.store(0, Ordering::Relaxed);
    ctx.rt.cli.rate.clear_max();
    for px in &ctx.rt.proxies {
        let c = &px.counters;
        c.fe.clear(all);
        if all {
            for a in [
                &c.sessions,
                &c.requests,
                &c.denied,
                &c.errors_req,
                &c.errors_resp,
                &c.errors_conn,
                &c.retries,
                &c.redispatches,
            ] {
                zero(a);
            }
            for a in &c.responses {
                zero(a);
            }
        }
        let Some(be) = &px.backend else { continue };
        be.stat.clear(all);
        if all {
            zero(&be.total);
        }
        for s in &be.servers {
            s.counters.clear(all);
            if all {
                zero(&s.total);
                if let Some(ch) = s.checker.get() {
                    let mut rec = lock(&ch.record);
                    rec.failed = 0;
                    rec.downs = 0;
                }
            }
        }
    }
}

/// `show errors [<iid>|<proxy>] [request|response]`: no malformed message is captured by
/// this version, so the answer is HAProxy's header with a count of 0.
pub fn show_errors(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    if let Some(px) = args.first() {
        let known = ctx.rt.proxies.iter().any(|p| p.name == *px)
            || super::stat::atoi(px) == -1
            || ctx
                .rt
                .stats
                .proxies
                .iter()
                .any(|p| i64::from(p.iid) == super::stat::atoi(px));
        if !known {
            out.push_str("No such proxy.\n\n");
            return;
        }
    }
    out.push_str(&format!(
        "Total events captured on [{}] : 0\n\n",
        crate::runtime::sample::logformat::local_date_now()
    ));
}

/// `show env [NAME]`: the process environment, or one variable.
pub fn show_env(args: &[&str], out: &mut String) {
    match args.first() {
        Some(name) => match std::env::var_os(name) {
            Some(v) => {
                out.push_str(&format!("{name}={}\n\n", v.to_string_lossy()));
            }
            None => out.push_str("Variable not found\n\n"),
        },
        None => {
            for (k, v) in std::env::vars_os() {
                out.push_str(&format!(
                    "{}={}\n",
                    k.to_string_lossy(),
                    v.to_string_lossy()
                ));
            }
            out.push('\n');
        }
    }
}

/// `shutdown session ID` (an id as `show sess` prints it): the session ends now.
pub fn shutdown_session(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    const EXPECTED: &str = "Session pointer expected (use 'show sess').\n\n";
    let Some(a) = args.first() else {
        out.push_str(EXPECTED);
        return;
    };
    // As C's strtoul in base 0: `0x` hex, `0` octal, else decimal; what does not read
    // as a number is 0, which names no session.
    let (digits, radix) = match a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None if a.starts_with('0') => (*a, 8),
        None => (*a, 10),
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let id = u64::from_str_radix(&digits[..end], radix).unwrap_or(0);
    if id == 0 {
        out.push_str(EXPECTED);
        return;
    }
    let abort = lock(&ctx.rt.cli.sessions).get(&id).map(|s| s.abort.clone());
    match abort {
        None => out.push_str("No such session (use 'show sess').\n\n"),
        Some(Some(h)) => {
            h.abort();
            out.push('\n');
        }
        // A stats socket session: HAProxy ends those too; this one cannot be reached
        // from here and is left to its idle timeout.
        Some(None) => out.push('\n'),
    }
}

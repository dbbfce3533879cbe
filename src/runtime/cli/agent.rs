//! Stats socket commands on agent checks, with HAProxy 2.6's answers: `enable agent`,
//! `disable agent`, and `set server B/S agent up|down`, `agent-send`, `agent-addr`,
//! `agent-port`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use super::Ctx;
use super::servers::find;

const NOT_ENABLED: &str = "agent checks are not enabled on this server.\n\n";
/// `agent-addr` and `agent-port` say it without the period and the empty line.
const NOT_ENABLED_ADDR: &str = "agent checks are not enabled on this server\n";

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `enable agent B/S` / `disable agent B/S`: the agent runs and counts, or pauses and
/// no longer counts (the server's state is left as it is, as HAProxy does).
pub fn enable_agent(ctx: &mut Ctx, enable: bool, args: &[&str], out: &mut String) {
    let f = match find(ctx, args.first()) {
        Ok(f) => f,
        Err(e) => {
            out.push_str(e);
            return;
        }
    };
    match f.state.agent.get() {
        Some(a) => {
            if enable {
                a.enabled.store(true, Ordering::Relaxed);
            } else {
                a.disable();
            }
            out.push('\n');
        }
        None if enable => {
            out.push_str("Agent was not configured on this server, cannot enable.\n\n")
        }
        None => out.push('\n'),
    }
}

/// Whether `set server B/S <what>` is an agent option this file answers.
pub fn handles(what: Option<&&str>) -> bool {
    matches!(
        what.copied(),
        Some("agent" | "agent-send" | "agent-addr" | "agent-port")
    )
}

/// `set server B/S agent up|down | agent-send S | agent-addr A [port P] | agent-port P`.
pub fn set_server(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let f = match find(ctx, args.first()) {
        Ok(f) => f,
        Err(e) => {
            out.push_str(e);
            return;
        }
    };
    let agent = f.state.agent.get().filter(|a| a.counts());
    match args.get(1).copied() {
        Some("agent") => {
            let Some(a) = agent else {
                out.push_str(NOT_ENABLED);
                return;
            };
            match args.get(2).copied() {
                Some("up") => a.force(true, Some("CLI")),
                Some("down") => a.force(false, Some("CLI")),
                _ => {
                    out.push_str("'set server <srv> agent' expects 'up' or 'down'.\n\n");
                    return;
                }
            }
            out.push('\n');
        }
        Some("agent-send") => {
            let Some(a) = agent else {
                out.push_str(NOT_ENABLED);
                return;
            };
            *lock(&a.send) = args
                .get(2)
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            out.push('\n');
        }
        Some("agent-addr") => {
            // HAProxy checks the arguments before the agent.
            let Some(addr) = args.get(2) else {
                out.push_str(
                    "set server <b>/<s> agent-addr requires an address and optionally a port.\n\n",
                );
                return;
            };
            let Some(a) = agent else {
                out.push_str(NOT_ENABLED_ADDR);
                return;
            };
            let Ok(ip) = addr.parse::<IpAddr>() else {
                out.push_str(&format!("invalid addr '{addr}'\n"));
                return;
            };
            let port = match (args.get(3).copied(), args.get(4)) {
                (Some("port"), Some(p)) => match p.parse::<u16>() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        out.push_str("provided port is not an integer\n");
                        return;
                    }
                },
                _ => None,
            };
            let mut cur = lock(&a.addr);
            *cur = SocketAddr::new(ip, port.unwrap_or(cur.port()));
            a.addr_set.store(true, Ordering::Relaxed);
            out.push('\n');
        }
        Some("agent-port") => {
            let Some(p) = args.get(2) else {
                out.push_str("set server <b>/<s> agent-port requires a port.\n\n");
                return;
            };
            let Some(a) = agent else {
                out.push_str(NOT_ENABLED_ADDR);
                return;
            };
            match p.parse::<u16>() {
                Ok(p) => {
                    lock(&a.addr).set_port(p);
                    out.push('\n');
                }
                Err(_) => out.push_str("provided port is not an integer\n"),
            }
        }
        _ => out.push('\n'),
    }
}

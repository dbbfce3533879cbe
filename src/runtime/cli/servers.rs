//! Server commands of the stats socket: `show servers state`, `show backend`, `get weight`,
//! `set weight`, `set server ... state|weight`, `enable|disable server`, `enable|disable
//! health`, `set maxconn server`, `shutdown sessions server`, with HAProxy 2.6's answers and
//! error texts. The state they change is the servers' run-time state
//! ([`crate::runtime::backend::ServerState`]) and their checkers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::{Ctx, ServerMeta};
use crate::model::types::PortSpec;
use crate::runtime::backend::{Admin, Backend, ServerState, Target};
use crate::runtime::checks::health::Health;
use crate::runtime::checks::status::CheckStatus;

const REQUIRE_BS: &str = "Require 'backend/server'.\n\n";
const NO_BACKEND: &str = "No such backend.\n\n";
const NO_SERVER: &str = "No such server.\n\n";

/// A server named `backend/server` on the command line.
pub struct Found<'a> {
    pub backend: &'a Arc<Backend>,
    pub proxy: Option<&'a super::ProxyMeta>,
    pub state: &'a Arc<ServerState>,
    pub meta: Option<&'a ServerMeta>,
}

/// Finds `backend/server`, or says why not in HAProxy's words.
pub fn find<'a>(ctx: &'a Ctx, arg: Option<&&str>) -> Result<Found<'a>, &'static str> {
    let Some((b, s)) = arg.and_then(|a| a.split_once('/')) else {
        return Err(REQUIRE_BS);
    };
    let rt = ctx.rt;
    let Some(&pi) = rt.by_name.get(b) else {
        return Err(NO_BACKEND);
    };
    let Some(backend) = rt.proxies.get(pi).and_then(|p| p.backend.as_ref()) else {
        return Err(NO_BACKEND);
    };
    let Some(si) = backend.server_index(s) else {
        return Err(NO_SERVER);
    };
    let Some(state) = backend.servers.get(si) else {
        return Err(NO_SERVER);
    };
    let proxy = rt.cli.meta.proxies.get(pi);
    Ok(Found {
        backend,
        state,
        proxy,
        meta: proxy.and_then(|p| p.servers.get(si)),
    })
}

macro_rules! found {
    ($ctx:expr, $arg:expr, $out:expr) => {
        match find($ctx, $arg) {
            Ok(f) => f,
            Err(e) => {
                $out.push_str(e);
                return;
            }
        }
    };
}

pub fn show_backend(ctx: &mut Ctx, out: &mut String) {
    out.push_str("# name\n");
    for p in ctx.rt.proxies.iter().filter(|p| p.caps.backend) {
        out.push_str(&p.name);
        out.push('\n');
    }
    out.push('\n');
}

pub fn get_weight(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    let init = f.meta.map(|m| m.iweight).unwrap_or(1);
    out.push_str(&format!("{} (initial {init})\n\n", f.state.weight()));
}

/// HAProxy's numbering of check results (`HCHK_STATUS_*`), for `srv_check_status`.
pub fn check_status_code(s: CheckStatus) -> u32 {
    match s {
        CheckStatus::Hana => 4,
        CheckStatus::SockErr => 5,
        CheckStatus::L4Ok => 6,
        CheckStatus::L4Tout => 7,
        CheckStatus::L4Con => 8,
        CheckStatus::L6Ok => 9,
        CheckStatus::L6Tout => 10,
        CheckStatus::L6Rsp => 11,
        CheckStatus::L7Tout => 12,
        CheckStatus::L7Rsp => 13,
        CheckStatus::L7Ok => 15,
        CheckStatus::L7OkC => 16,
        CheckStatus::L7Sts => 17,
    }
}

const STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

pub fn show_state(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let rt = ctx.rt;
    let only = match args.first() {
        Some(name) => match rt.by_name.get(*name) {
            Some(i) => Some(*i),
            None => {
                out.push_str("Can't find backend.\n\n");
                return;
            }
        },
        None => None,
    };
    out.push_str(STATE_HEADER);
    for (pi, p) in rt.proxies.iter().enumerate() {
        if only.is_some_and(|o| o != pi) {
            continue;
        }
        let Some(be) = &p.backend else { continue };
        let Some(pm) = rt.cli.meta.proxies.get(pi) else {
            continue;
        };
        for (si, s) in be.servers.iter().enumerate() {
            let Some(m) = pm.servers.get(si) else {
                continue;
            };
            // Ids as the statistics number them (one source for both).
            let info = rt.stats.proxies.get(pi);
            let ids = (
                info.map_or(pm.uuid, |i| i.iid),
                info.and_then(|i| i.servers.get(si)).map_or(s.id, |x| x.sid),
            );
            out.push_str(&state_row(p.name.as_str(), ids, pm, s, m));
        }
    }
    out.push('\n');
}

fn state_row(
    be_name: &str,
    (be_id, srv_id): (u32, u32),
    pm: &super::ProxyMeta,
    s: &ServerState,
    m: &ServerMeta,
) -> String {
    let admin = s.admin();
    let checker = s.checker.get();
    let rec = checker.map(|c| c.snapshot());
    let up = s.up.load(Ordering::Relaxed);
    let op_state = match (admin == Admin::Maint || !up, s.nolb.load(Ordering::Relaxed)) {
        (true, _) => 0,
        // NOLB: HAProxy's SRV_ST_STOPPING.
        (false, true) => 3,
        (false, false) => 2,
    };
    let admin_state = match admin {
        Admin::Ready => 0,
        Admin::Drain => 8,
        Admin::Maint if m.cmaint.load(Ordering::Relaxed) => 5,
        Admin::Maint => 1,
    };
    let changed = m.changed();
    let since = match &rec {
        Some(r) if r.last_change > changed => r.last_change,
        _ => changed,
    };
    let age = SystemTime::now()
        .duration_since(since)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = rec.as_ref().and_then(|r| r.last.as_ref());
    let (check_status, check_result) = match last {
        Some(o) => (
            check_status_code(o.status),
            match o.status {
                CheckStatus::L7OkC => 4,
                st if st.passed() => 3,
                _ => 2,
            },
        ),
        None => (1, 0),
    };
    let health = match checker {
        Some(c) => {
            let st = c.rf.now();
            match st.health {
                Health::Up => st.x + m.rise - 1,
                Health::Down => st.x,
            }
        }
        None => m.health_nocheck.load(Ordering::Relaxed),
    };
    let mut check_state = 0;
    if m.check {
        check_state |= 2;
        if checker.is_some_and(|c| c.enabled.load(Ordering::Relaxed)) {
            check_state |= 4;
        }
    }
    // Checks pause in maintenance; HAProxy shows the flag on unchecked servers only when
    // the configuration put them there.
    if admin == Admin::Maint && (m.check || m.cmaint.load(Ordering::Relaxed)) {
        check_state |= 8;
    }
    // The check columns follow `set server ... check-addr|check-port`. Without an agent,
    // the agent columns show the configured check address and port (HAProxy's `addr` and
    // `port` serve both probes).
    let check_addr = super::lock(&m.check_addr_now)
        .clone()
        .unwrap_or_else(|| "-".into());
    let (agent_state, agent_addr, agent_port) = if s.agent.get().is_some() {
        let (st, a, p) = crate::runtime::checks::agent::state_fields(s);
        (st, a, p.to_string())
    } else {
        (
            0,
            m.check_addr.as_deref().unwrap_or("-").to_string(),
            m.check_port.to_string(),
        )
    };
    format!(
        "{} {be_name} {} {} {} {op_state} {admin_state} {} {} {age} {check_status} {check_result} {health} {check_state} {agent_state} {} {} - {} - {} {} {check_addr} {agent_addr} {agent_port}\n",
        be_id,
        srv_id,
        s.name,
        super::lock(&m.addr),
        s.weight(),
        m.iweight,
        u8::from(pm.forced_id),
        u8::from(m.forced_id),
        m.port.load(Ordering::Relaxed),
        u8::from(m.ssl),
        m.check_port_now.load(Ordering::Relaxed),
    )
}

/// Parses a weight as `set weight` takes it, against the configured weight; the error is
/// HAProxy's text.
fn parse_weight(dynamic: bool, iweight: u32, arg: &str) -> Result<u32, &'static str> {
    let digits = arg.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let num = &arg[..arg.len() - digits.len()];
    let Ok(n) = num.parse::<i64>() else {
        return Err("Empty weight string empty or preceded by garbage\n");
    };
    let w = match digits {
        "%" => {
            if n < 0 {
                return Err("Relative weight must be positive.\n\n");
            }
            (i64::from(iweight) * n / 100).min(256) as u32
        }
        "" => {
            if !(0..=256).contains(&n) {
                return Err("Absolute weight can only be between 0 and 256 inclusive.\n\n");
            }
            n as u32
        }
        _ => return Err("Trailing garbage in weight string\n\n"),
    };
    if w != 0 && w != iweight && !dynamic {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n",
        );
    }
    Ok(w)
}

/// Whether the algorithm takes weight changes at run time (HAProxy's `BE_LB_PROP_DYN`).
fn dynamic_weights(be: &Backend, consistent: bool) -> bool {
    use crate::model::Balance as B;
    match &be.balance {
        B::StaticRr => false,
        B::RoundRobin | B::LeastConn | B::First | B::Random { .. } => true,
        _ => consistent,
    }
}

fn apply_weight(f: &Found, arg: Option<&&str>, out: &mut String) {
    let Some(arg) = arg else {
        out.push_str("Require <weight> or <weight%>.\n\n");
        return;
    };
    let iweight = f.meta.map(|m| m.iweight).unwrap_or(1);
    let consistent = f.proxy.is_some_and(|p| p.consistent);
    match parse_weight(dynamic_weights(f.backend, consistent), iweight, arg) {
        Ok(w) => {
            f.state.weight.store(w, Ordering::Relaxed);
            out.push('\n');
        }
        Err(e) => out.push_str(e),
    }
}

pub fn set_weight(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    apply_weight(&f, args.get(1), out);
}

/// Changes a server's administrative state as the stats socket does.
fn set_admin(f: &Found, to: Admin) {
    let before = f.state.admin();
    f.state.admin.store(to as u8, Ordering::Release);
    // A checked server entering maintenance is a DOWN transition (chkdown, downtime).
    crate::runtime::stats::counters::admin_changed(f.state, before, to);
    if let Some(m) = f.meta {
        m.cmaint.store(false, Ordering::Relaxed);
        if to == Admin::Maint && f.state.checker.get().is_none() {
            // HAProxy resets an unchecked server's health counter on maintenance.
            m.health_nocheck.store(0, Ordering::Relaxed);
        }
        if before != to {
            m.touch();
        }
    }
    if before == Admin::Maint && to != Admin::Maint {
        // Requests waiting for any server may go to this one now.
        if let Some(i) = f
            .backend
            .servers
            .iter()
            .position(|s| Arc::ptr_eq(s, f.state))
        {
            f.backend.dequeue(i);
        }
    }
}

pub fn set_server(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    match args.get(1).copied() {
        Some("state") => match args.get(2).copied() {
            Some("ready") => {
                set_admin(&f, Admin::Ready);
                out.push('\n');
            }
            Some("drain") => {
                set_admin(&f, Admin::Drain);
                out.push('\n');
            }
            Some("maint") => {
                set_admin(&f, Admin::Maint);
                out.push('\n');
            }
            _ => out.push_str("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"),
        },
        Some("weight") => apply_weight(&f, args.get(2), out),
        Some("addr") => set_addr(&f, args, out),
        Some("check-port") => set_check_port(&f, args.get(2).copied(), out),
        Some("check-addr") => set_check_addr(&f, args, out),
        Some("health") => set_health(&f, args.get(2).copied(), out),
        // Agent checks are not run by this version: HAProxy's answers for a server
        // without them.
        Some("agent" | "agent-send") => {
            out.push_str("agent checks are not enabled on this server.\n\n")
        }
        Some("agent-addr") if args.len() < 3 => out.push_str(
            "set server <b>/<s> agent-addr requires an address and optionally a port.\n\n",
        ),
        Some("agent-port") if args.len() < 3 => {
            out.push_str("set server <b>/<s> agent-port requires a port.\n\n")
        }
        Some("agent-addr" | "agent-port") => {
            out.push_str("agent checks are not enabled on this server\n")
        }
        Some("fqdn") if args.len() < 3 => {
            out.push_str("set server <b>/<s> fqdn requires a FQDN.\n\n")
        }
        Some("fqdn") => out.push_str(
            "set server <b>/<s> fqdn failed because no resolution is configured.\n\n",
        ),
        Some("ssl") => out.push_str(
            "'set server <srv> ssl' cannot be set.  default-server should define ssl settings\n\n",
        ),
        _ => out.push_str(
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n",
        ),
    }
}

pub fn enable_server(ctx: &mut Ctx, enable: bool, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    if enable {
        if f.state.admin() == Admin::Maint {
            set_admin(&f, Admin::Ready);
        }
    } else {
        set_admin(&f, Admin::Maint);
    }
    out.push('\n');
}

pub fn enable_health(ctx: &mut Ctx, enable: bool, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    match f.state.checker.get() {
        Some(c) => {
            c.enabled.store(enable, Ordering::Relaxed);
            out.push('\n');
        }
        // HAProxy refuses only to enable checks a server does not have.
        None if enable => {
            out.push_str("Health check was not configured on this server, cannot enable.\n\n")
        }
        None => out.push('\n'),
    }
}

pub fn set_maxconn(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    let Some(arg) = args.get(1) else {
        out.push_str("Require <maxconn>.\n\n");
        return;
    };
    let rest = arg.trim_start_matches(|c: char| c.is_ascii_digit());
    let Ok(n) = arg[..arg.len() - rest.len()].parse::<u32>() else {
        out.push_str("maxconn string empty or preceded by garbage\n");
        return;
    };
    if !rest.is_empty() {
        out.push_str("Trailing garbage in maxconn string\n");
        return;
    }
    f.state.maxconn_cli.store(n, Ordering::Relaxed);
    // A higher limit lets waiting requests in.
    if let Some(i) = f
        .backend
        .servers
        .iter()
        .position(|s| Arc::ptr_eq(s, f.state))
    {
        f.backend.dequeue(i);
    }
    out.push('\n');
}

pub fn shutdown_sessions(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let f = found!(ctx, args.first(), out);
    f.state.kill.send_modify(|g| *g = g.wrapping_add(1));
    out.push('\n');
}

/// The index of a found server in its backend.
fn index_of(f: &Found) -> Option<usize> {
    f.backend
        .servers
        .iter()
        .position(|s| Arc::ptr_eq(s, f.state))
}

/// A port as C's `strtol` reads it (leading digits; an optional sign): None when no
/// digit comes first or the number overflows, as HAProxy then refuses it.
fn strtol(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits[..end].parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Where checks go after the server or its check settings moved: the check address, else
/// the server's; the check port, else the server's.
fn retarget_checks(f: &Found, m: &ServerMeta) {
    let Some(c) = f.state.checker.get() else {
        return;
    };
    let ip = super::lock(&m.check_addr_now)
        .clone()
        .unwrap_or_else(|| super::lock(&m.addr).clone());
    let Ok(ip) = ip.parse::<IpAddr>() else { return };
    let port = match m.check_port_now.load(Ordering::Relaxed) {
        0 => m.port.load(Ordering::Relaxed),
        p => p,
    };
    c.set_addr(SocketAddr::new(ip, port as u16));
}

/// `set server B/S addr IP [port P]`: new connections (and checks) go to the new address;
/// the answer is HAProxy's account of what changed.
fn set_addr(f: &Found, args: &[&str], out: &mut String) {
    let Some(addr) = args.get(2) else {
        out.push_str("set server <b>/<s> addr requires an address and optionally a port.\n\n");
        return;
    };
    // The first `port` word counts; a missing value is an empty one.
    let port = args
        .iter()
        .skip(3)
        .position(|w| *w == "port")
        .map(|i| args.get(i + 4).copied().unwrap_or(""));
    let Ok(ip) = addr.parse::<IpAddr>() else {
        out.push_str(&format!(
            "Invalid addr '{addr}' by 'stats socket command'\n\n"
        ));
        return;
    };
    let (Some(m), Some(idx)) = (f.meta, index_of(f)) else {
        out.push_str(NO_SERVER);
        return;
    };
    let mut msg = Vec::new();
    {
        let mut cur = super::lock(&m.addr);
        if cur.parse::<IpAddr>().ok() == Some(ip) {
            msg.push("no need to change the addr".to_string());
        } else {
            msg.push(format!("IP changed from '{cur}' to '{ip}'"));
            *cur = ip.to_string();
        }
    }
    if let Some(p) = port {
        match strtol(p) {
            None => msg.push(format!("problem converting port '{p}' to an int")),
            Some(_) if p.starts_with(['+', '-']) => msg.push(
                "can't change <port> to port map because it is incompatible with current health check port configuration (use 'port' statement from the 'server' directive.".into(),
            ),
            Some(n) => {
                // HAProxy keeps the low 16 bits of what it read.
                let n = (n & 0xffff) as u32;
                let old = m.port.swap(n, Ordering::Relaxed);
                if old == n {
                    msg.push("no need to change the port".into());
                } else {
                    msg.push(format!("port changed from '{old}' to '{n}'"));
                }
            }
        }
    }
    out.push_str(&msg.join(", "));
    out.push_str(" by 'stats socket command'\n\n");
    if let Some(rt) = f.backend.rt.get(idx) {
        let port = match rt.target {
            // A port map stays one: only the address moves.
            Target::Inet { port, .. } if m.mapped => port,
            _ => PortSpec::Fixed(m.port.load(Ordering::Relaxed) as u16),
        };
        let ip: IpAddr = super::lock(&m.addr).parse().unwrap_or(ip);
        rt.set_target(Target::Inet { ip: Some(ip), port });
    }
    m.touch();
    retarget_checks(f, m);
}

/// `set server B/S check-port N`.
fn set_check_port(f: &Found, arg: Option<&str>, out: &mut String) {
    let Some(arg) = arg else {
        out.push_str("set server <b>/<s> check-port requires a port.\n\n");
        return;
    };
    let (Some(_), Some(m)) = (f.state.checker.get(), f.meta) else {
        out.push_str("health checks are not enabled on this server\n");
        return;
    };
    let Ok(n) = arg.parse::<i64>() else {
        out.push_str("provided port is not an integer\n");
        return;
    };
    if !(0..=65535).contains(&n) {
        out.push_str("provided port is invalid\n");
        return;
    }
    m.check_port_now.store(n as u32, Ordering::Relaxed);
    retarget_checks(f, m);
    out.push('\n');
}

/// `set server B/S check-addr IP [port P]`.
fn set_check_addr(f: &Found, args: &[&str], out: &mut String) {
    let Some(addr) = args.get(2) else {
        out.push_str(
            "set server <b>/<s> check-addr requires an address and optionally a port.\n\n",
        );
        return;
    };
    let (Some(_), Some(m)) = (f.state.checker.get(), f.meta) else {
        out.push_str("health checks are not enabled on this server\n");
        return;
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        out.push_str(&format!("invalid addr '{addr}'\n"));
        return;
    };
    let port = match args.get(3..) {
        Some(["port", p, ..]) => match p.parse::<i64>() {
            Ok(n) if (0..=65535).contains(&n) => Some(n as u32),
            Ok(_) => {
                out.push_str("provided port is invalid\n");
                return;
            }
            Err(_) => {
                out.push_str("provided port is not an integer\n");
                return;
            }
        },
        _ => None,
    };
    *super::lock(&m.check_addr_now) = Some(ip.to_string());
    if let Some(p) = port {
        m.check_port_now.store(p, Ordering::Relaxed);
    }
    retarget_checks(f, m);
    out.push('\n');
}

/// `set server B/S health up|stopping|down`: the health a check would have found.
fn set_health(f: &Found, arg: Option<&str>, out: &mut String) {
    let up = match arg {
        Some("up") => true,
        Some("down") => false,
        Some("stopping") => {
            super::nolb::set_stopping(f);
            out.push('\n');
            return;
        }
        _ => {
            out.push_str("'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n");
            return;
        }
    };
    match f.state.checker.get() {
        Some(c) => c.force_health(up),
        None => {
            // Leaving NOLB counts as a change of state.
            let was = f.state.up.swap(up, Ordering::AcqRel)
                && !f.state.nolb.swap(false, Ordering::AcqRel);
            if let Some(m) = f.meta {
                m.health_nocheck
                    .store(if up { m.rise + m.fall - 1 } else { 0 }, Ordering::Relaxed);
                if was != up {
                    m.touch();
                }
            }
            if up
                && !was
                && let Some(i) = index_of(f)
            {
                f.backend.dequeue(i);
            }
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::strtol;

    #[test]
    fn ports_read_as_strtol_reads_them() {
        assert_eq!(strtol("80"), Some(80));
        assert_eq!(strtol("1a"), Some(1));
        assert_eq!(strtol("0x10"), Some(0));
        assert_eq!(strtol("+5"), Some(5));
        assert_eq!(strtol("-1"), Some(-1));
        assert_eq!(strtol(""), None);
        assert_eq!(strtol("abc"), None);
        assert_eq!(strtol("+abc"), None);
        assert_eq!(strtol("99999999999999999999"), None);
    }
}

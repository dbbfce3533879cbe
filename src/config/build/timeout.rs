//! `timeout NAME TIME` and the 1.x `contimeout`/`clitimeout`/`srvtimeout` spellings.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, report_unmodelled, unknown};
use crate::config::pending;
use crate::model::Timeouts;
use std::time::Duration;

/// Selects one timeout field.
type Field = fn(&mut Timeouts) -> &mut Option<Duration>;

/// Timeout names, where each applies (defaults/frontend/listen/backend) and its field.
pub const TIMEOUTS: &[(&str, &str, Field)] = &[
    ("client", "dfl-", |t| &mut t.client),
    ("server", "d-lb", |t| &mut t.server),
    ("connect", "d-lb", |t| &mut t.connect),
    ("http-request", "dflb", |t| &mut t.http_request),
    ("http-keep-alive", "dflb", |t| &mut t.http_keep_alive),
    ("queue", "d-lb", |t| &mut t.queue),
    ("tunnel", "d-lb", |t| &mut t.tunnel),
    ("client-fin", "dfl-", |t| &mut t.client_fin),
    ("server-fin", "d-lb", |t| &mut t.server_fin),
    ("check", "d-lb", |t| &mut t.check),
    ("tarpit", "dflb", |t| &mut t.tarpit),
    // 1.x spellings that `timeout` itself accepted.
    ("clitimeout", "dfl-", |t| &mut t.client),
    ("srvtimeout", "d-lb", |t| &mut t.server),
    ("contimeout", "d-lb", |t| &mut t.connect),
];

pub const KEYWORDS: &[ProxyKw] = &[
    ProxyKw {
        name: "timeout",
        where_: "dflb",
        status: Status::Supported,
        handler: timeout,
    },
    ProxyKw {
        name: "contimeout",
        where_: "d-lb",
        status: Status::Legacy("timeout connect"),
        handler: |c, d, s| legacy(c, d, s, |t| &mut t.connect),
    },
    ProxyKw {
        name: "clitimeout",
        where_: "dfl-",
        status: Status::Legacy("timeout client"),
        handler: |c, d, s| legacy(c, d, s, |t| &mut t.client),
    },
    ProxyKw {
        name: "srvtimeout",
        where_: "d-lb",
        status: Status::Legacy("timeout server"),
        handler: |c, d, s| legacy(c, d, s, |t| &mut t.server),
    },
];

fn timeout(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let name_w = s.need(ctx, 1, "a timeout name and a time")?;
    let name = name_w.text.as_str();
    let Some((_, where_, field)) = TIMEOUTS.iter().find(|(n, _, _)| *n == name) else {
        if report_unmodelled(ctx, pending::TIMEOUT, name, "timeout", name_w.span) {
            return Ok(());
        }
        let cands = TIMEOUTS.iter().map(|(n, _, _)| *n).take(11).collect();
        return Err(unknown(ctx, name_w.span, "timeout", name, "timeout", cands));
    };
    if matches!(name, "clitimeout" | "srvtimeout" | "contimeout") {
        let modern = match name {
            "clitimeout" => "client",
            "srvtimeout" => "server",
            _ => "connect",
        };
        ctx.warn_hint(
            name_w.span,
            format!("'timeout {name}' is HAProxy 1.x syntax"),
            format!("write 'timeout {modern}'"),
        );
    }
    let v = s.time(ctx, 2)?;
    s.max_args(ctx, 2, "<name> <time>")?;
    if !super::applies(ctx, d, where_, &format!("timeout {name}"), name_w.span) {
        return Ok(());
    }
    *field(&mut d.proxy.timeouts) = Some(v);
    d.mark(format!("timeout {name}"), s.line.span);
    Ok(())
}

fn legacy(
    ctx: &mut Ctx,
    d: &mut ProxyDraft,
    s: &Stmt,
    field: fn(&mut Timeouts) -> &mut Option<Duration>,
) -> R {
    let v = s.time(ctx, 1)?;
    s.max_args(ctx, 1, "<time>")?;
    *field(&mut d.proxy.timeouts) = Some(v);
    Ok(())
}

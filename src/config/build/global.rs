//! The `global` section: process-wide settings.

use super::{Ctx, R, Reported, Status, Stmt, report_unmodelled, unknown};
use crate::config::lexer::Line;
use crate::config::pending;
use crate::config::value;
use crate::model::{CliLevel, EnvOp, Global, SslDefaults, StatsSocket};
use std::path::PathBuf;

pub struct GlobalKw {
    pub name: &'static str,
    pub status: Status,
    pub handler: fn(&mut Ctx, &mut Global, &Stmt) -> R,
}

const fn kw(name: &'static str, handler: fn(&mut Ctx, &mut Global, &Stmt) -> R) -> GlobalKw {
    GlobalKw {
        name,
        status: Status::Supported,
        handler,
    }
}

pub const KEYWORDS: &[GlobalKw] = &[
    kw("log", log),
    kw("log-tag", |c, g, s| {
        string(c, s).map(|v| g.log_tag = Some(v))
    }),
    kw("log-send-hostname", |_, g, s| {
        g.log_send_hostname = Some(s.arg_str(1).map(String::from).unwrap_or_else(hostname));
        Ok(())
    }),
    kw("maxconn", |c, g, s| {
        s.uint(c, 1, "a number of connections")
            .map(|v| g.maxconn = Some(v))
    }),
    kw("maxconnrate", |c, g, s| {
        s.uint(c, 1, "a number of connections per second")
            .map(|v| g.maxconnrate = Some(v))
    }),
    kw("maxsessrate", |c, g, s| {
        s.uint(c, 1, "a number of sessions per second")
            .map(|v| g.maxsessrate = Some(v))
    }),
    kw("maxsslrate", |c, g, s| {
        s.uint(c, 1, "a number of SSL sessions per second")
            .map(|v| g.maxsslrate = Some(v))
    }),
    kw("user", user),
    kw("group", group),
    kw("uid", |c, g, s| {
        s.uint(c, 1, "a user id").map(|v| g.uid = Some(v))
    }),
    kw("gid", |c, g, s| {
        s.uint(c, 1, "a group id").map(|v| g.gid = Some(v))
    }),
    kw("chroot", |c, g, s| path(c, s).map(|v| g.chroot = Some(v))),
    kw("daemon", |c, g, s| flag(c, s).map(|_| g.daemon = true)),
    kw("nosplice", |c, g, s| flag(c, s).map(|_| g.nosplice = true)),
    kw("master-worker", |_, g, _| {
        g.master_worker = true;
        Ok(())
    }),
    kw("pidfile", |c, g, s| path(c, s).map(|v| g.pidfile = Some(v))),
    kw("nbthread", |c, g, s| {
        positive(c, s).map(|v| g.nbthread = Some(v))
    }),
    kw("stats socket", stats_socket),
    kw("stats timeout", |c, g, s| {
        s.time(c, 2).map(|v| g.stats_timeout = Some(v))
    }),
    kw("stats maxconn", |c, g, s| {
        s.uint(c, 2, "a number of connections")
            .map(|v| g.stats_maxconn = Some(v))
    }),
    kw("tune.bufsize", |c, g, s| {
        size(c, s).map(|v| g.tune_bufsize = Some(v))
    }),
    kw("tune.maxrewrite", |c, g, s| {
        size(c, s).map(|v| g.tune_maxrewrite = Some(v))
    }),
    kw("tune.pipesize", |c, g, s| {
        size(c, s).map(|v| g.tune_pipesize = Some(v))
    }),
    kw("tune.http.maxhdr", |c, g, s| {
        positive(c, s).map(|v| g.tune_http_maxhdr = Some(v))
    }),
    kw("tune.h2.header-table-size", |c, g, s| {
        h2_num(c, s, 4096, 65536).map(|v| g.tune_h2.header_table_size = Some(v))
    }),
    kw("tune.h2.initial-window-size", |c, g, s| {
        h2_num(c, s, 0, i32::MAX as u32).map(|v| g.tune_h2.initial_window_size = Some(v))
    }),
    kw("tune.h2.max-concurrent-streams", |c, g, s| {
        h2_num(c, s, 0, i32::MAX as u32).map(|v| g.tune_h2.max_concurrent_streams = Some(v))
    }),
    kw("tune.h2.max-frame-size", |c, g, s| {
        h2_num(c, s, 16384, 16_777_215).map(|v| g.tune_h2.max_frame_size = Some(v))
    }),
    kw("h2-workaround-bogus-websocket-clients", |c, g, s| {
        flag(c, s).map(|_| g.h2_no_websocket = true)
    }),
    kw("ssl-default-bind-ciphers", |c, g, s| {
        ssl_str(c, s, &mut g.ssl_default_bind, false)
    }),
    kw("ssl-default-bind-ciphersuites", |c, g, s| {
        ssl_str(c, s, &mut g.ssl_default_bind, true)
    }),
    kw("ssl-default-bind-options", |c, g, s| {
        ssl_opts(c, s, &mut g.ssl_default_bind)
    }),
    kw("ssl-default-server-ciphers", |c, g, s| {
        ssl_str(c, s, &mut g.ssl_default_server, false)
    }),
    kw("ssl-default-server-ciphersuites", |c, g, s| {
        ssl_str(c, s, &mut g.ssl_default_server, true)
    }),
    kw("ssl-default-server-options", |c, g, s| {
        ssl_opts(c, s, &mut g.ssl_default_server)
    }),
    kw("ssl-server-verify", |c, g, s| {
        let w = s.need(c, 1, "none or required")?;
        g.ssl_server_verify = Some(match w.text.as_str() {
            "none" => crate::model::proxy::Verify::None,
            "required" => crate::model::proxy::Verify::Required,
            o => {
                return Err(c.err_hint(
                    w.span,
                    format!("unknown ssl-server-verify mode '{o}'"),
                    "modes: none required",
                ));
            }
        });
        Ok(())
    }),
    kw("hard-stop-after", |c, g, s| {
        s.time(c, 1).map(|v| g.hard_stop_after = Some(v))
    }),
    kw("spread-checks", |c, g, s| {
        let v = s.uint(c, 1, "a percentage (0-50)")?;
        if v > 50 {
            return Err(c.err_hint(
                s.span_of(1),
                format!("'spread-checks' must be between 0 and 50, got {v}"),
                "a percentage of the check interval",
            ));
        }
        g.spread_checks = Some(v);
        Ok(())
    }),
    kw("debug", |c, g, s| flag(c, s).map(|_| g.debug = true)),
    kw("quiet", |c, g, s| flag(c, s).map(|_| g.quiet = true)),
    kw("zero-warning", |c, g, s| {
        flag(c, s).map(|_| g.zero_warning = true)
    }),
    kw("node", |c, g, s| string(c, s).map(|v| g.node = Some(v))),
    kw("description", |c, g, s| {
        s.need(c, 1, "a text")?;
        g.description = Some(s.joined(1));
        Ok(())
    }),
    kw("ca-base", |c, g, s| path(c, s).map(|v| g.ca_base = Some(v))),
    kw("crt-base", |c, g, s| {
        path(c, s).map(|v| g.crt_base = Some(v))
    }),
    kw("expose-experimental-directives", |c, _, s| flag(c, s)),
    kw("insecure-fork-wanted", |c, _, s| flag(c, s)),
    kw("insecure-setuid-wanted", |c, _, s| flag(c, s)),
    kw("setenv", |c, g, s| {
        env2(c, s).map(|(n, v)| g.env_ops.push(EnvOp::Set(n, v)))
    }),
    kw("presetenv", |c, g, s| {
        env2(c, s).map(|(n, v)| g.env_ops.push(EnvOp::Preset(n, v)))
    }),
    kw("resetenv", |_, g, s| {
        g.env_ops.push(EnvOp::Reset(
            s.args_from(1).iter().map(|w| w.text.clone()).collect(),
        ));
        Ok(())
    }),
    kw("unsetenv", |c, g, s| {
        s.need(c, 1, "variable names")?;
        g.env_ops.push(EnvOp::Unset(
            s.args_from(1).iter().map(|w| w.text.clone()).collect(),
        ));
        Ok(())
    }),
    GlobalKw {
        name: "nosepoll",
        status: Status::Legacy("(nothing: remove it)"),
        handler: |c, _, s| flag(c, s),
    },
    // 1.x sized the health-check buffer; rproxy sizes check buffers itself.
    GlobalKw {
        name: "tune.chksize",
        status: Status::Legacy("tune.bufsize"),
        handler: |c, _, s| size(c, s).map(|_| ()),
    },
    GlobalKw {
        name: "nbproc",
        status: Status::Legacy("nbthread"),
        handler: |c, g, s| positive(c, s).map(|v| g.nbthread = Some(v)),
    },
];

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn flag(ctx: &mut Ctx, s: &Stmt) -> R {
    s.max_args(ctx, 0, "")
}

fn string(ctx: &mut Ctx, s: &Stmt) -> R<String> {
    let w = s.need(ctx, 1, "a value")?;
    s.max_args(ctx, 1, "<value>")?;
    Ok(w.text.clone())
}

fn path(ctx: &mut Ctx, s: &Stmt) -> R<PathBuf> {
    string(ctx, s).map(PathBuf::from)
}

fn positive(ctx: &mut Ctx, s: &Stmt) -> R<u32> {
    let v = s.uint(ctx, 1, "a positive number")?;
    if v == 0 {
        return Err(ctx.err(
            s.span_of(1),
            format!("'{}' must be at least 1", s.keyword()),
        ));
    }
    Ok(v)
}

/// A `tune.h2.*` number within `lo..=hi` (HAProxy's ranges: the frame and table sizes
/// RFC 9113 allows, the others what a signed 32-bit number holds).
fn h2_num(ctx: &mut Ctx, s: &Stmt, lo: u32, hi: u32) -> R<u32> {
    let what = format!("a number between {lo} and {hi}");
    let v = s.uint(ctx, 1, &what)?;
    s.max_args(ctx, 1, "<number>")?;
    if !(lo..=hi).contains(&v) {
        return Err(ctx.err(
            s.span_of(1),
            format!("'{}' expects {what}, got {v}", s.keyword()),
        ));
    }
    Ok(v)
}

fn size(ctx: &mut Ctx, s: &Stmt) -> R<u64> {
    let w = s.need(ctx, 1, "a size")?;
    value::parse_size(&w.text).map_err(|e| ctx.value_err(w, "size", e))
}

fn env2(ctx: &mut Ctx, s: &Stmt) -> R<(String, String)> {
    let n = s.need(ctx, 1, "<name> <value>")?;
    let v = s.need(ctx, 2, "<name> <value>")?;
    Ok((n.text.clone(), v.text.clone()))
}

fn ssl_str(ctx: &mut Ctx, s: &Stmt, d: &mut SslDefaults, suites: bool) -> R {
    let v = string(ctx, s)?;
    if suites {
        d.ciphersuites = Some(v);
    } else {
        d.ciphers = Some(v);
    }
    Ok(())
}

const SSL_OPTIONS: &[&str] = &[
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "no-tls-tickets",
    "prefer-client-ciphers",
    "ssl-min-ver",
    "ssl-max-ver",
];

fn ssl_opts(ctx: &mut Ctx, s: &Stmt, d: &mut SslDefaults) -> R {
    s.need(ctx, 1, "SSL options")?;
    let mut i = 1;
    while let Some(w) = s.arg(i) {
        if !SSL_OPTIONS.contains(&w.text.as_str()) {
            return Err(super::unknown(
                ctx,
                w.span,
                "SSL option",
                &w.text,
                "global",
                SSL_OPTIONS.to_vec(),
            ));
        }
        d.options.push(w.text.clone());
        if matches!(w.text.as_str(), "ssl-min-ver" | "ssl-max-ver") {
            let v = s.need(ctx, i + 1, "a TLS version")?;
            if crate::model::TlsVersion::parse(&v.text).is_none() {
                return Err(ctx.err_hint(
                    v.span,
                    format!("unknown TLS version '{}'", v.text),
                    "versions: SSLv3 TLSv1.0 TLSv1.1 TLSv1.2 TLSv1.3",
                ));
            }
            d.options.push(v.text.clone());
            i += 1;
        }
        i += 1;
    }
    Ok(())
}

fn log(ctx: &mut Ctx, g: &mut Global, s: &Stmt) -> R {
    match super::log::parse_target(ctx, s)? {
        Some(t) => g.logs.push(t),
        None => {
            return Err(ctx.err_hint(
                s.span_of(1),
                "'log global' is not allowed in the 'global' section",
                "name a log target: 'log 127.0.0.1 local0'",
            ));
        }
    }
    Ok(())
}

fn user(ctx: &mut Ctx, g: &mut Global, s: &Stmt) -> R {
    let name = string(ctx, s)?;
    if ctx.opts.check_users {
        match nix::unistd::User::from_name(&name) {
            Ok(Some(u)) => g.uid = Some(u.uid.as_raw()),
            _ => {
                return Err(ctx.err_hint(
                    s.span_of(1),
                    format!("cannot find user id for '{name}'"),
                    "create this system user, or set 'uid' to a numeric id",
                ));
            }
        }
    }
    g.user = Some(name);
    Ok(())
}

fn group(ctx: &mut Ctx, g: &mut Global, s: &Stmt) -> R {
    let name = string(ctx, s)?;
    if ctx.opts.check_users {
        match nix::unistd::Group::from_name(&name) {
            Ok(Some(gr)) => g.gid = Some(gr.gid.as_raw()),
            _ => {
                return Err(ctx.err_hint(
                    s.span_of(1),
                    format!("cannot find group id for '{name}'"),
                    "create this system group, or set 'gid' to a numeric id",
                ));
            }
        }
    }
    g.group = Some(name);
    Ok(())
}

fn stats_socket(ctx: &mut Ctx, g: &mut Global, s: &Stmt) -> R {
    let w = s.need(
        ctx,
        2,
        "an address (a unix socket path, ipv4@ADDR:PORT or fd@N)",
    )?;
    let addrs = value::parse_bind_addresses(&w.text)
        .map_err(|e| ctx.value_err(w, "stats socket address", e))?;
    let mut sock = StatsSocket {
        addr: addrs
            .into_iter()
            .next()
            .ok_or(Reported)
            .map_err(|_| ctx.err(w.span, "missing stats socket address"))?,
        mode: None,
        level: CliLevel::Admin,
        expose_fd_listeners: false,
        severity_output: crate::model::CliSeverity::None,
        span: s.line.span,
    };
    let mut i = 3;
    while let Some(o) = s.arg(i) {
        match o.text.as_str() {
            "mode" => {
                let m = s.need(ctx, i + 1, "an octal mode")?;
                sock.mode =
                    Some(u32::from_str_radix(&m.text, 8).map_err(|_| {
                        ctx.err(m.span, format!("invalid octal mode '{}'", m.text))
                    })?);
                i += 2;
            }
            "level" => {
                let l = s.need(ctx, i + 1, "user, operator or admin")?;
                sock.level = match l.text.as_str() {
                    "user" => CliLevel::User,
                    "operator" => CliLevel::Operator,
                    "admin" => CliLevel::Admin,
                    _ => {
                        return Err(ctx.err_hint(
                            l.span,
                            format!("unknown level '{}'", l.text),
                            "levels: user operator admin",
                        ));
                    }
                };
                i += 2;
            }
            "severity-output" => {
                let v = s.need(ctx, i + 1, "none, number or string")?;
                sock.severity_output = match v.text.as_str() {
                    "none" => crate::model::CliSeverity::None,
                    "number" => crate::model::CliSeverity::Number,
                    "string" => crate::model::CliSeverity::String,
                    _ => {
                        return Err(ctx.err_hint(
                            v.span,
                            format!("unknown severity-output '{}'", v.text),
                            "severity-output: none number string",
                        ));
                    }
                };
                i += 2;
            }
            "expose-fd" => {
                let l = s.need(ctx, i + 1, "listeners")?;
                sock.expose_fd_listeners = l.text == "listeners";
                // Seamless reloads (`-x`, `_getsocks`) are not served: a new process
                // binds its own sockets.
                ctx.warn(
                    o.span,
                    "stats socket option 'expose-fd listeners' is accepted but not applied by rproxy: listening sockets are not passed to a new process",
                );
                i += 2;
            }
            // Other bind options on a stats socket: accepted, not applied yet.
            opt => {
                ctx.warn(
                    o.span,
                    format!(
                        "stats socket option '{opt}' is accepted but not applied by rproxy yet"
                    ),
                );
                i += 1;
            }
        }
    }
    g.stats_sockets.push(sock);
    Ok(())
}

/// Applies one statement of a `global` section.
pub fn statement(ctx: &mut Ctx, g: &mut Global, line: &Line) {
    let w0 = &line.words[0];
    let two = line.word(1).map(|w1| format!("{} {w1}", w0.text));
    let stmt = Stmt {
        line,
        kw: 0,
        no: false,
        default: false,
    };
    let find = |n: &str| KEYWORDS.iter().find(|k| k.name == n);
    let k = two.as_deref().and_then(find).or_else(|| find(&w0.text));
    if let Some(k) = k {
        if let Status::Legacy(modern) = k.status {
            ctx.warn_hint(
                w0.span,
                format!("'{}' is HAProxy 1.x syntax, which HAProxy 2.6 rejects; rproxy applies its 1.x meaning", w0.text),
                format!("write '{modern}' instead"),
            );
        }
        let _ = (k.handler)(ctx, g, &stmt);
        return;
    }
    if let Some(t) = two.as_deref()
        && report_unmodelled(ctx, pending::GLOBAL, t, "global keyword", w0.span)
    {
        return;
    }
    if report_unmodelled(ctx, pending::GLOBAL, &w0.text, "global keyword", w0.span) {
        return;
    }
    let mut cands: Vec<&str> = KEYWORDS.iter().map(|k| k.name).collect();
    cands.extend(pending::GLOBAL.iter().map(|u| u.keyword));
    unknown(ctx, w0.span, "keyword", &w0.text, "global", cands);
}

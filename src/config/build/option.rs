//! `option NAME [args]` and `no option NAME`.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, applies, report_unmodelled, unknown};
use crate::config::pending;
use crate::config::value;
use crate::model::{CheckKind, ForwardFor, HttpChk, HttpConnMode, LogStyle, OriginalTo};

pub const KEYWORDS: &[ProxyKw] = &[ProxyKw {
    name: "option",
    where_: "dflb",
    status: Status::Supported,
    handler: option,
}];

type OptHandler = fn(&mut Ctx, &mut ProxyDraft, &Stmt, bool) -> R;

pub struct OptionDef {
    pub name: &'static str,
    pub where_: &'static str,
    pub status: Status,
    /// Whether `no option NAME` is allowed.
    pub negatable: bool,
    pub handler: OptHandler,
}

const fn opt(
    name: &'static str,
    where_: &'static str,
    negatable: bool,
    handler: OptHandler,
) -> OptionDef {
    OptionDef {
        name,
        where_,
        status: Status::Supported,
        negatable,
        handler,
    }
}

/// A plain boolean option: `option X` sets it, `no option X` clears it.
macro_rules! boolopt {
    ($name:literal, $where:literal, $field:ident) => {
        opt($name, $where, true, |c, d, s, on| {
            s.max_args(c, 1, "")?;
            d.proxy.options.$field = on;
            Ok(())
        })
    };
}

pub const OPTIONS: &[OptionDef] = &[
    opt("httplog", "dfl-", true, |c, d, s, on| {
        let clf = match s.arg_str(2) {
            Some("clf") => true,
            Some(_) => {
                return Err(c.err_hint(
                    s.span_of(2),
                    "unexpected argument to 'option httplog'",
                    "usage: option httplog [clf]",
                ));
            }
            None => false,
        };
        d.proxy.options.log_style = match (on, clf) {
            (false, _) => LogStyle::Default,
            (true, true) => LogStyle::HttpClf,
            (true, false) => LogStyle::Http,
        };
        Ok(())
    }),
    opt("httpslog", "dfl-", true, |c, d, s, on| {
        s.max_args(c, 1, "")?;
        d.proxy.options.log_style = if on {
            LogStyle::Https
        } else {
            LogStyle::Default
        };
        // "option httpslog" overrides any previous "log-format" (HAProxy's manual).
        if on {
            d.proxy.log_format = None;
        }
        Ok(())
    }),
    boolopt!("logasap", "dfl-", logasap),
    opt("tcplog", "dflb", true, |c, d, s, on| {
        s.max_args(c, 1, "")?;
        d.proxy.options.log_style = if on { LogStyle::Tcp } else { LogStyle::Default };
        Ok(())
    }),
    boolopt!("dontlognull", "dfl-", dontlognull),
    boolopt!("dontlog-normal", "dfl-", dontlog_normal),
    boolopt!("log-separate-errors", "dfl-", log_separate_errors),
    boolopt!("log-health-checks", "d-lb", log_health_checks),
    opt("http-server-close", "dflb", true, |c, d, s, on| {
        conn_mode(c, d, s, on, HttpConnMode::ServerClose)
    }),
    opt("httpclose", "dflb", true, |c, d, s, on| {
        conn_mode(c, d, s, on, HttpConnMode::Close)
    }),
    opt("http-keep-alive", "dflb", true, |c, d, s, on| {
        conn_mode(c, d, s, on, HttpConnMode::KeepAlive)
    }),
    OptionDef {
        name: "forceclose",
        where_: "dflb",
        status: Status::Legacy("option httpclose"),
        negatable: true,
        handler: |c, d, s, on| conn_mode(c, d, s, on, HttpConnMode::Close),
    },
    OptionDef {
        name: "http-tunnel",
        where_: "dflb",
        status: Status::Legacy("option http-keep-alive"),
        negatable: true,
        handler: |c, d, s, on| conn_mode(c, d, s, on, HttpConnMode::KeepAlive),
    },
    OptionDef {
        name: "http-use-htx",
        where_: "dflb",
        status: Status::Legacy("(nothing: HTX is always on)"),
        negatable: true,
        handler: |c, _, s, _| s.max_args(c, 1, ""),
    },
    OptionDef {
        name: "independant-streams",
        where_: "dflb",
        status: Status::Legacy("option independent-streams"),
        negatable: true,
        handler: |c, _, s, _| {
            c.warn(
                s.span_of(1),
                "'option independent-streams' is accepted but not applied by rproxy yet",
            );
            s.max_args(c, 1, "")
        },
    },
    boolopt!("http-pretend-keepalive", "d-lb", http_pretend_keepalive),
    opt("forwardfor", "dflb", false, forwardfor),
    opt("originalto", "dflb", false, originalto),
    opt("redispatch", "d-lb", true, |c, d, s, on| {
        let interval = match s.arg(2) {
            Some(w) => w.text.parse::<i32>().map_err(|_| {
                c.err_hint(
                    w.span,
                    format!("invalid redispatch interval '{}'", w.text),
                    "usage: option redispatch [<interval>] (a retry count, may be negative)",
                )
            })?,
            None => -1,
        };
        d.proxy.options.redispatch = on.then_some(interval);
        Ok(())
    }),
    boolopt!("persist", "d-lb", persist),
    boolopt!("allbackups", "d-lb", allbackups),
    boolopt!("prefer-last-server", "d-lb", prefer_last_server),
    opt("httpchk", "d-lb", false, httpchk),
    opt("smtpchk", "d-lb", false, |c, d, s, _| {
        // HAProxy falls back to 'HELO localhost' for anything but HELO/EHLO + domain.
        let (helo, domain) = match (s.arg_str(2), s.arg_str(3)) {
            (Some(v @ ("HELO" | "EHLO")), Some(dom)) => (v.to_string(), dom.to_string()),
            _ => ("HELO".into(), "localhost".into()),
        };
        s.max_args(c, 3, "[HELO|EHLO <domain>]")?;
        d.proxy.options.check = CheckKind::Smtp { helo, domain };
        Ok(())
    }),
    opt("mysql-check", "d-lb", false, |c, d, s, _| {
        let (user, post41) = match s.arg_str(2) {
            None => (None, true),
            Some("user") => {
                let u = s.need(c, 3, "a user name")?.text.clone();
                let post41 = match s.arg_str(4) {
                    None | Some("post-41") => true,
                    Some("pre-41") => false,
                    Some(o) => {
                        return Err(c.err_hint(
                            s.span_of(4),
                            format!("unexpected '{o}'"),
                            "usage: option mysql-check [user <name> [post-41|pre-41]]",
                        ));
                    }
                };
                (Some(u), post41)
            }
            Some(o) => {
                return Err(c.err_hint(
                    s.span_of(2),
                    format!("unexpected '{o}'"),
                    "usage: option mysql-check [user <name> [post-41|pre-41]]",
                ));
            }
        };
        d.proxy.options.check = CheckKind::Mysql { user, post41 };
        Ok(())
    }),
    opt("pgsql-check", "d-lb", false, |c, d, s, _| {
        let w = s.need(c, 2, "'user <name>'")?;
        if w.text != "user" {
            return Err(c.err_hint(
                w.span,
                format!("unexpected '{}'", w.text),
                "usage: option pgsql-check user <name>",
            ));
        }
        let user = s.need(c, 3, "a user name")?.text.clone();
        d.proxy.options.check = CheckKind::Pgsql { user };
        Ok(())
    }),
    opt("redis-check", "d-lb", false, |c, d, s, _| {
        s.max_args(c, 1, "")
            .map(|_| d.proxy.options.check = CheckKind::Redis)
    }),
    opt("ldap-check", "d-lb", false, |c, d, s, _| {
        s.max_args(c, 1, "")
            .map(|_| d.proxy.options.check = CheckKind::Ldap)
    }),
    opt("ssl-hello-chk", "d-lb", false, |c, d, s, _| {
        s.max_args(c, 1, "")
            .map(|_| d.proxy.options.check = CheckKind::SslHello)
    }),
    opt("tcp-check", "d-lb", false, |c, d, s, _| {
        s.max_args(c, 1, "")
            .map(|_| d.proxy.options.check = CheckKind::TcpCheck)
    }),
    opt("tcpka", "dflb", true, |c, d, s, on| {
        s.max_args(c, 1, "")?;
        d.proxy.options.clitcpka = on;
        d.proxy.options.srvtcpka = on;
        Ok(())
    }),
    boolopt!("clitcpka", "dfl-", clitcpka),
    boolopt!("srvtcpka", "d-lb", srvtcpka),
    boolopt!("abortonclose", "d-lb", abortonclose),
    boolopt!("checkcache", "d-lb", checkcache),
    boolopt!("splice-auto", "dflb", splice_auto),
    boolopt!("splice-request", "dflb", splice_request),
    boolopt!("splice-response", "dflb", splice_response),
    boolopt!("http-buffer-request", "dflb", http_buffer_request),
    boolopt!("socket-stats", "dfl-", socket_stats),
    opt("transparent", "d-lb", true, |c, d, s, on| {
        s.max_args(c, 1, "")?;
        d.proxy.transparent = on;
        Ok(())
    }),
];

/// Options that only make sense for HTTP proxies (warned about in TCP mode).
pub const HTTP_ONLY: &[&str] = &[
    "httplog",
    "httpslog",
    "http-server-close",
    "httpclose",
    "http-keep-alive",
    "forceclose",
    "forwardfor",
    "originalto",
    "httpchk",
    "checkcache",
    "http-buffer-request",
    "http-pretend-keepalive",
];

fn conn_mode(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, on: bool, mode: HttpConnMode) -> R {
    s.max_args(ctx, 1, "")?;
    if on {
        d.proxy.options.http_conn_mode = mode;
    } else if d.proxy.options.http_conn_mode == mode {
        d.proxy.options.http_conn_mode = HttpConnMode::KeepAlive;
    }
    Ok(())
}

/// `except NET`, `header NAME`, `if-none` after `option forwardfor|originalto`.
fn forwarding_args(
    ctx: &mut Ctx,
    s: &Stmt,
    allow_if_none: bool,
) -> R<(Option<ipnet::IpNet>, Option<String>, bool)> {
    let usage = if allow_if_none {
        "[except <network>] [header <name>] [if-none]"
    } else {
        "[except <network>] [header <name>]"
    };
    let (mut except, mut header, mut if_none) = (None, None, false);
    let mut i = 2;
    while let Some(w) = s.arg(i) {
        match w.text.as_str() {
            "except" => {
                let n = s.need(ctx, i + 1, "a network")?;
                except = Some(
                    value::parse_network(&n.text).map_err(|e| ctx.value_err(n, "network", e))?,
                );
                i += 2;
            }
            "header" => {
                header = Some(s.need(ctx, i + 1, "a header name")?.text.clone());
                i += 2;
            }
            "if-none" if allow_if_none => {
                if_none = true;
                i += 1;
            }
            other => {
                return Err(ctx.err_hint(
                    w.span,
                    format!("unexpected '{other}' in '{}'", s.full_name(2)),
                    format!("usage: {} {usage}", s.full_name(2)),
                ));
            }
        }
    }
    Ok((except, header, if_none))
}

fn forwardfor(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, _on: bool) -> R {
    let (except, header, if_none) = forwarding_args(ctx, s, true)?;
    d.proxy.options.forwardfor = Some(ForwardFor {
        except,
        header: header.unwrap_or_else(|| "X-Forwarded-For".into()),
        if_none,
    });
    Ok(())
}

fn originalto(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, _on: bool) -> R {
    let (except, header, _) = forwarding_args(ctx, s, false)?;
    d.proxy.options.originalto = Some(OriginalTo {
        except,
        header: header.unwrap_or_else(|| "X-Original-To".into()),
    });
    Ok(())
}

/// `option httpchk [<method>] [<uri>] [<version>]`, with one argument being the URI. A
/// version carrying `\r\nName: value` tails (the 1.x way to add a Host header) is split into
/// real headers, with HAProxy's deprecation warning.
fn httpchk(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, _on: bool) -> R {
    s.max_args(ctx, 4, "[<method>] [<uri>] [<version>]")?;
    let (method, uri, version) = match (s.arg_str(2), s.arg_str(3), s.arg_str(4)) {
        (None, _, _) => ("OPTIONS", "/", "HTTP/1.0"),
        (Some(uri), None, _) => ("OPTIONS", uri, "HTTP/1.0"),
        (Some(m), Some(u), None) => (m, u, "HTTP/1.0"),
        (Some(m), Some(u), Some(v)) => (m, u, v),
    };
    // 1.x configs may end the tail with an empty line and a body.
    let (version, body) = match version.split_once("\r\n\r\n") {
        Some((v, b)) => (v, (!b.is_empty()).then(|| b.to_string())),
        None => (version, None),
    };
    let mut parts = version.split("\r\n");
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut headers = Vec::new();
    for h in parts.filter(|h| !h.is_empty()) {
        match h.split_once(':') {
            Some((n, v)) => headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string())),
            None => {
                return Err(ctx.err_hint(
                    s.span_of(4),
                    format!("invalid header '{h}' in 'option httpchk'"),
                    "each header is 'Name: value'",
                ));
            }
        }
    }
    if !headers.is_empty() {
        ctx.warn_hint(
            s.span_of(4),
            "headers after the version in 'option httpchk' are deprecated (HAProxy 2.6 warns too)",
            format!(
                "write 'option httpchk {method} {uri}' and {}",
                headers
                    .iter()
                    .map(|(n, v)| format!("'http-check send hdr {n} {v}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    d.proxy.options.check = CheckKind::Http(HttpChk {
        method: method.to_string(),
        uri: uri.to_string(),
        version,
        headers,
        body,
    });
    Ok(())
}

fn option(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "an option name")?;
    let name = w.text.as_str();
    let Some(def) = OPTIONS.iter().find(|o| o.name == name) else {
        if report_unmodelled(ctx, pending::OPTION, name, "option", w.span) {
            return Ok(());
        }
        let mut cands: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
        cands.extend(pending::OPTION.iter().map(|u| u.keyword));
        return Err(unknown(ctx, w.span, "option", name, "option", cands));
    };
    if s.default {
        // `default option X` restores the defaults' value: rproxy applies it as 'no option'.
        ctx.warn(
            s.line.words[0].span,
            format!("'default option {name}' is treated as 'no option {name}'"),
        );
    }
    if (s.no || s.default) && !def.negatable {
        return Err(ctx.err_hint(
            w.span,
            format!("'no option {name}' is not supported"),
            format!("option '{name}' cannot be negated"),
        ));
    }
    if !applies(ctx, d, def.where_, &format!("option {name}"), w.span) {
        return Ok(());
    }
    if let Status::Legacy(modern) = def.status {
        ctx.warn_hint(
            w.span,
            format!("'option {name}' is HAProxy 1.x syntax, which HAProxy 2.6 rejects"),
            format!("write '{modern}'"),
        );
    }
    (def.handler)(ctx, d, s, !(s.no || s.default))?;
    if s.no || s.default {
        d.set_at.remove(&format!("option {name}"));
    } else {
        d.mark(format!("option {name}"), s.line.span);
    }
    Ok(())
}

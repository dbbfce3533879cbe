//! `http-check send|expect|...` and `tcp-check connect|send|expect|...`: active check scripts.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, report_unmodelled, unknown};
use crate::config::pending;
use crate::model::{ExpectMatch, HttpCheckExpect, HttpCheckSend, TcpCheckStep};

pub const KEYWORDS: &[ProxyKw] = &[
    ProxyKw {
        name: "http-check",
        where_: "d-lb",
        status: Status::Supported,
        handler: http_check,
    },
    ProxyKw {
        name: "tcp-check",
        where_: "d-lb",
        status: Status::Supported,
        handler: tcp_check,
    },
];

pub const HTTP_CHECK: &[&str] = &[
    "send",
    "expect",
    "connect",
    "disable-on-404",
    "send-state",
    "set-var",
    "comment",
];
pub const TCP_CHECK: &[&str] = &[
    "connect",
    "send",
    "send-binary",
    "send-lf",
    "send-binary-lf",
    "expect",
    "comment",
    "set-var",
];

/// Options that may precede the match in an `expect` rule, with their argument count.
const EXPECT_OPTS: &[(&str, usize)] = &[
    ("min-recv", 1),
    ("ok-status", 1),
    ("error-status", 1),
    ("tout-status", 1),
    ("on-success", 1),
    ("on-error", 1),
    ("status-code", 1),
    ("comment", 1),
];

fn expect(ctx: &mut Ctx, s: &Stmt, mut i: usize, http: bool) -> R<(bool, ExpectMatch)> {
    while let Some((name, n)) = s
        .arg_str(i)
        .and_then(|a| EXPECT_OPTS.iter().find(|(o, _)| *o == a))
    {
        ctx.warn(
            s.span_of(i),
            format!("expect option '{name}' is accepted but not applied by rproxy yet"),
        );
        i += 1 + n;
    }
    let mut negate = false;
    if s.arg_str(i) == Some("!") {
        negate = true;
        i += 1;
    }
    let kinds: &[&str] = if http {
        &[
            "status", "rstatus", "string", "rstring", "hdr", "fhdr", "custom",
        ]
    } else {
        &[
            "string",
            "rstring",
            "binary",
            "rbinary",
            "string-lf",
            "binary-lf",
            "custom",
        ]
    };
    let k = s.need(ctx, i, "a match: status, rstatus, string, rstring ...")?;
    let pat = s.need(ctx, i + 1, "a pattern")?;
    let regex = |ctx: &mut Ctx| -> R<String> {
        regex::Regex::new(&pat.text).map_err(|e| {
            ctx.err_hint(
                pat.span,
                format!("invalid regular expression '{}'", pat.text),
                e.to_string(),
            )
        })?;
        Ok(pat.text.clone())
    };
    let m = match k.text.as_str() {
        "status" if http => {
            let mut ranges = Vec::new();
            for part in pat.text.split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(a), Ok(b)) if a <= b => ranges.push((a, b)),
                    _ => {
                        return Err(ctx.err_hint(
                            pat.span,
                            format!("invalid status '{}'", pat.text),
                            "a status, a range or a list: '200', '200-399', '200,302'",
                        ));
                    }
                }
            }
            ExpectMatch::Status(ranges)
        }
        "rstatus" if http => ExpectMatch::RStatus(regex(ctx)?),
        "string" => ExpectMatch::String(pat.text.clone()),
        "rstring" => ExpectMatch::RString(regex(ctx)?),
        "binary" if !http => ExpectMatch::Binary(super::hex_bytes(ctx, pat)?),
        "rbinary" if !http => ExpectMatch::RBinary(regex(ctx)?),
        o if kinds.contains(&o) => {
            ctx.warn(
                k.span,
                format!("expect match '{o}' is accepted but not applied by rproxy yet"),
            );
            ExpectMatch::String(String::new())
        }
        o => {
            return Err(unknown(
                ctx,
                k.span,
                "expect match",
                o,
                if http {
                    "http-check expect"
                } else {
                    "tcp-check expect"
                },
                kinds.to_vec(),
            ));
        }
    };
    Ok((negate, m))
}

fn http_check(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "send, expect, connect, disable-on-404 ...")?;
    let cfg = &mut d.proxy.http_check;
    match w.text.as_str() {
        "send" => {
            let mut send = HttpCheckSend::default();
            let mut i = 2;
            while let Some(o) = s.arg(i) {
                let v = s.need(ctx, i + 1, "a value")?;
                match o.text.as_str() {
                    "meth" => send.method = Some(v.text.clone()),
                    "uri" | "uri-lf" => send.uri = Some(v.text.clone()),
                    "ver" => send.version = Some(v.text.clone()),
                    "hdr" => {
                        let val = s.need(ctx, i + 2, "a header value")?;
                        send.headers.push((v.text.clone(), val.text.clone()));
                        i += 1;
                    }
                    "body" | "body-lf" => send.body = Some(v.text.clone()),
                    "comment" => {}
                    other => {
                        return Err(unknown(
                            ctx,
                            o.span,
                            "http-check send option",
                            other,
                            "http-check send",
                            vec![
                                "meth", "uri", "uri-lf", "ver", "hdr", "body", "body-lf", "comment",
                            ],
                        ));
                    }
                }
                i += 2;
            }
            cfg.send = Some(send);
        }
        "expect" => {
            let (negate, matcher) = expect(ctx, s, 2, true)?;
            d.proxy
                .http_check
                .expects
                .push(HttpCheckExpect { negate, matcher });
        }
        "disable-on-404" => cfg.disable_on_404 = true,
        "send-state" => cfg.send_state = true,
        "comment" => {}
        "connect" | "set-var" | "unset-var" => {
            ctx.warn(
                w.span,
                format!(
                    "'http-check {}' is accepted but not applied by rproxy yet",
                    w.text
                ),
            );
        }
        other => {
            if report_unmodelled(
                ctx,
                pending::HTTP_CHECK,
                other,
                "http-check keyword",
                w.span,
            ) {
                return Ok(());
            }
            return Err(unknown(
                ctx,
                w.span,
                "http-check keyword",
                other,
                "http-check",
                HTTP_CHECK.to_vec(),
            ));
        }
    }
    Ok(())
}

fn tcp_check(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "connect, send, expect ...")?;
    let step = match w.text.as_str() {
        "connect" => {
            let (mut port, mut ssl, mut send_proxy, mut default) = (None, false, false, false);
            let mut i = 2;
            while let Some(o) = s.arg(i) {
                match o.text.as_str() {
                    "port" => {
                        let v = s.uint(ctx, i + 1, "a port")?;
                        port =
                            Some(u16::try_from(v).map_err(|_| {
                                ctx.err(s.span_of(i + 1), "a port is at most 65535")
                            })?);
                        i += 1;
                    }
                    "ssl" => ssl = true,
                    "send-proxy" => send_proxy = true,
                    "default" => default = true,
                    "linger" => {}
                    "addr" | "sni" | "alpn" | "proto" | "comment" => {
                        ctx.warn(o.span, format!("tcp-check connect option '{}' is accepted but not applied by rproxy yet", o.text));
                        i += 1;
                    }
                    other => {
                        return Err(unknown(
                            ctx,
                            o.span,
                            "tcp-check connect option",
                            other,
                            "tcp-check connect",
                            vec![
                                "port",
                                "ssl",
                                "send-proxy",
                                "linger",
                                "default",
                                "addr",
                                "sni",
                                "alpn",
                                "proto",
                                "comment",
                            ],
                        ));
                    }
                }
                i += 1;
            }
            TcpCheckStep::Connect {
                port,
                ssl,
                send_proxy,
                default,
            }
        }
        "send" | "send-lf" => {
            TcpCheckStep::Send(s.need(ctx, 2, "a string")?.text.clone().into_bytes())
        }
        "send-binary" | "send-binary-lf" => {
            let v = s.need(ctx, 2, "a hexadecimal string")?;
            TcpCheckStep::Send(super::hex_bytes(ctx, v)?)
        }
        "expect" => {
            let (negate, matcher) = expect(ctx, s, 2, false)?;
            TcpCheckStep::Expect { negate, matcher }
        }
        "comment" => TcpCheckStep::Comment(s.joined(2)),
        "set-var" | "unset-var" => {
            ctx.warn(
                w.span,
                format!(
                    "'tcp-check {}' is accepted but not applied by rproxy yet",
                    w.text
                ),
            );
            return Ok(());
        }
        other => {
            if report_unmodelled(ctx, pending::TCP_CHECK, other, "tcp-check keyword", w.span) {
                return Ok(());
            }
            return Err(unknown(
                ctx,
                w.span,
                "tcp-check keyword",
                other,
                "tcp-check",
                TCP_CHECK.to_vec(),
            ));
        }
    };
    d.proxy.tcp_checks.push(step);
    Ok(())
}

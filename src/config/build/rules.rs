//! Routing and rules: `acl`, `use_backend`, `default_backend`, `use-server`,
//! `force-persist`/`ignore-persist`, `http-request`, `http-response`, `tcp-request`,
//! `redirect` and `monitor fail`.

use super::{Ctx, ProxyDraft, ProxyKw, R, Reported, Stmt, parse_cond, report_unmodelled, unknown};
use crate::config::lexer::Word;
use crate::config::logformat::parse_log_format;
use crate::config::pending::{self, Unmodelled};
use crate::config::sample::parse_sample;
use crate::model::expr::{Condition, LogFormat, Sample};
use crate::model::{
    AclDef, BackendRef, HttpAction, HttpRule, LEVELS, Redirect, RedirectKind, RedirectRule,
    ReturnBody, ReturnSpec, TcpAction, TcpRule, UseBackend, UseServer,
};
use std::path::PathBuf;

use super::supported as kw;

pub const KEYWORDS: &[ProxyKw] = &[
    kw("acl", "dflb", acl),
    kw("use_backend", "-fl-", use_backend),
    kw("default_backend", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a backend name")?;
        s.max_args(c, 1, "<backend>")?;
        d.proxy.default_backend = Some(w.text.clone());
        d.mark("default_backend", w.span);
        Ok(())
    }),
    kw("use-server", "--lb", |c, d, s| {
        let w = s.need(c, 1, "a server name")?;
        let cond = parse_cond(c, s, 2, &d.proxy.acls)?;
        d.proxy.use_servers.push(UseServer {
            server: w.text.clone(),
            cond,
            span: s.line.span,
        });
        Ok(())
    }),
    kw("force-persist", "--lb", |c, d, s| {
        need_cond(c, s, 1, &d.proxy.acls).map(|cond| d.proxy.force_persist.push(cond))
    }),
    kw("ignore-persist", "--lb", |c, d, s| {
        need_cond(c, s, 1, &d.proxy.acls).map(|cond| d.proxy.ignore_persist.push(cond))
    }),
    kw("http-request", "dflb", |c, d, s| http_rule(c, d, s, false)),
    kw("http-response", "dflb", |c, d, s| http_rule(c, d, s, true)),
    kw("tcp-request", "dflb", tcp_request),
    kw("redirect", "-flb", |c, d, s| {
        let (redirect, next) = redirect(c, s, 1, true)?;
        let cond = parse_cond(c, s, next, &d.proxy.acls)?;
        d.proxy.redirects.push(RedirectRule {
            redirect,
            cond,
            span: s.line.span,
        });
        Ok(())
    }),
    kw("monitor", "-fl-", |c, d, s| {
        let w = s.need(c, 1, "'fail'")?;
        if w.text != "fail" {
            return Err(c.err_hint(
                w.span,
                format!("unknown monitor keyword '{}'", w.text),
                "usage: monitor fail if|unless <condition>",
            ));
        }
        need_cond(c, s, 2, &d.proxy.acls).map(|cond| d.proxy.monitor_fail.push(cond))
    }),
];

fn need_cond(ctx: &mut Ctx, s: &Stmt, i: usize, acls: &[AclDef]) -> R<Condition> {
    match parse_cond(ctx, s, i, acls)? {
        Some(c) => Ok(c),
        None => Err(ctx.err_hint(
            s.span_of(i),
            format!("'{}' needs a condition", s.keyword()),
            format!("usage: {} if|unless <condition>", s.keyword()),
        )),
    }
}

fn valid_acl_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn acl(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let name = s.need(
        ctx,
        1,
        "<name> <criterion> [flags] [operator] [<value>] ...",
    )?;
    if !valid_acl_name(&name.text) {
        return Err(ctx.err_hint(
            name.span,
            format!("invalid character in ACL name '{}'", name.text),
            "ACL names may contain letters, digits, '-', '_', '.' and ':'",
        ));
    }
    s.need(ctx, 2, "a criterion, as in 'acl is_api path_beg /api'")?;
    let words = s.args_from(2);
    let crit = crate::config::acl::parse_acl_criterion(words)
        .map_err(|(e, i)| ctx.value_err(words.get(i).unwrap_or(name), "ACL", e))?;
    match d.proxy.acls.iter_mut().find(|a| a.name == name.text) {
        // Several lines of one name are OR-ed.
        Some(a) => a.criteria.push(crit),
        None => d.proxy.acls.push(AclDef {
            name: name.text.clone(),
            criteria: vec![crit],
            span: s.line.span,
        }),
    }
    Ok(())
}

fn use_backend(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "a backend name")?;
    let backend = if w.text.contains("%[") {
        BackendRef::Dynamic(lf(ctx, w)?)
    } else {
        BackendRef::Name(w.text.clone())
    };
    let cond = parse_cond(ctx, s, 2, &d.proxy.acls)?;
    d.proxy.use_backends.push(UseBackend {
        backend,
        cond,
        span: s.line.span,
    });
    Ok(())
}

fn lf(ctx: &mut Ctx, w: &Word) -> R<LogFormat> {
    parse_log_format(&w.text).map_err(|e| ctx.value_err(w, "log-format string", e))
}

fn sample(ctx: &mut Ctx, w: &Word) -> R<Sample> {
    parse_sample(&w.text).map_err(|e| ctx.value_err(w, "sample expression", e))
}

fn status_code(ctx: &mut Ctx, w: &Word, min: u16, max: u16) -> R<u16> {
    match w.text.parse::<u16>() {
        Ok(c) if (min..=max).contains(&c) => Ok(c),
        _ => Err(ctx.err_hint(
            w.span,
            format!("invalid status code '{}'", w.text),
            format!("a status code between {min} and {max}"),
        )),
    }
}

fn status_code_at(ctx: &mut Ctx, s: &Stmt, i: usize, what: &str, min: u16, max: u16) -> R<u16> {
    let w = s.need(ctx, i, what)?;
    status_code(ctx, w, min, max)
}

fn lf_at(ctx: &mut Ctx, s: &Stmt, i: usize, what: &str) -> R<LogFormat> {
    let w = s.need(ctx, i, what)?;
    lf(ctx, w)
}

fn sample_at(ctx: &mut Ctx, s: &Stmt, i: usize, what: &str) -> R<Sample> {
    let w = s.need(ctx, i, what)?;
    sample(ctx, w)
}

fn is_cond_word(w: Option<&str>) -> bool {
    matches!(w, Some("if" | "unless"))
}

/// `redirect location|prefix|scheme <to> [code N] [drop-query] [append-slash]
/// [set-cookie C] [clear-cookie C]` starting at argument `i`; returns where it stopped.
/// `literal`: the target is a plain string (the `redirect` statement, as in HAProxy),
/// not a log-format (`http-request redirect`).
fn redirect(ctx: &mut Ctx, s: &Stmt, i: usize, literal: bool) -> R<(Redirect, usize)> {
    const USAGE: &str = "location|prefix|scheme <to> [code <301|302|303|307|308>] [drop-query] [append-slash] [set-cookie <c>] [clear-cookie <c>]";
    let k = s.need(ctx, i, USAGE)?;
    let to = s.need(ctx, i + 1, "a target")?;
    let target = if literal {
        crate::model::expr::LogFormat(vec![crate::model::expr::LfNode::Literal(to.text.clone())])
    } else {
        lf(ctx, to)?
    };
    let kind = match k.text.as_str() {
        "location" => RedirectKind::Location(target),
        "prefix" => RedirectKind::Prefix(target),
        "scheme" => RedirectKind::Scheme(target),
        o => {
            return Err(unknown(
                ctx,
                k.span,
                "redirect type",
                o,
                "redirect",
                vec!["location", "prefix", "scheme"],
            ));
        }
    };
    let mut r = Redirect {
        kind,
        code: 302,
        drop_query: false,
        append_slash: false,
        set_cookie: None,
        clear_cookie: None,
    };
    let mut j = i + 2;
    while let Some(w) = s.arg(j) {
        match w.text.as_str() {
            "if" | "unless" => break,
            "code" => {
                let c = s.need(ctx, j + 1, "a redirect code")?;
                r.code = match c.text.parse::<u16>() {
                    Ok(v @ (301 | 302 | 303 | 307 | 308)) => v,
                    _ => {
                        return Err(ctx.err_hint(
                            c.span,
                            format!("invalid redirect code '{}'", c.text),
                            "codes: 301 302 303 307 308",
                        ));
                    }
                };
                j += 1;
            }
            "drop-query" => r.drop_query = true,
            "append-slash" => r.append_slash = true,
            "set-cookie" => {
                r.set_cookie = Some(s.need(ctx, j + 1, "a cookie")?.text.clone());
                j += 1;
            }
            "clear-cookie" => {
                r.clear_cookie = Some(s.need(ctx, j + 1, "a cookie name")?.text.clone());
                j += 1;
            }
            o => {
                return Err(ctx.err_hint(
                    w.span,
                    format!("unexpected '{o}' in redirect"),
                    format!("usage: redirect {USAGE} [if|unless <cond>]"),
                ));
            }
        }
        j += 1;
    }
    Ok((r, j))
}

/// `return [status N] [content-type T] [body source] [hdr N V]*` from argument `i`.
pub(super) fn return_spec(ctx: &mut Ctx, s: &Stmt, mut i: usize) -> R<(ReturnSpec, usize)> {
    let mut spec = ReturnSpec {
        status: 200,
        content_type: None,
        body: ReturnBody::None,
        headers: Vec::new(),
    };
    let read = |ctx: &mut Ctx, w: &Word| -> R<(PathBuf, Vec<u8>)> {
        let p = PathBuf::from(&w.text);
        if !ctx.opts.check_files {
            return Ok((p, Vec::new()));
        }
        match std::fs::read(&p) {
            Ok(c) => Ok((p, c)),
            Err(e) => Err(ctx.err_hint(
                w.span,
                format!("cannot read '{}': {e}", w.text),
                "the file must exist and be readable",
            )),
        }
    };
    while let Some(w) = s.arg(i) {
        let v = || s.arg(i + 1);
        match w.text.as_str() {
            "if" | "unless" => break,
            "status" => spec.status = status_code_at(ctx, s, i + 1, "a status", 200, 599)?,
            "content-type" => spec.content_type = Some(s.need(ctx, i + 1, "a content type")?.text.clone()),
            "default-errorfiles" => {
                spec.body = ReturnBody::DefaultError;
                i += 1;
                continue;
            }
            "errorfile" | "file" | "lf-file" => {
                let f = s.need(ctx, i + 1, "a file")?;
                let (p, c) = read(ctx, f)?;
                spec.body = match w.text.as_str() {
                    "errorfile" => ReturnBody::Errorfile(p, c),
                    "file" => ReturnBody::File(p, c),
                    _ => {
                        let text = String::from_utf8_lossy(&c).into_owned();
                        let lfmt = crate::config::logformat::parse_log_format(&text).map_err(|e| ctx.value_err(f, "lf-file content", e))?;
                        ReturnBody::LfFile(p, lfmt)
                    }
                };
            }
            "string" => spec.body = ReturnBody::String(s.need(ctx, i + 1, "a string")?.text.clone()),
            "lf-string" => {
                let w2 = s.need(ctx, i + 1, "a log-format string")?;
                spec.body = ReturnBody::LfString(lf(ctx, w2)?);
            }
            "hdr" => {
                let n = s.need(ctx, i + 1, "a header name")?;
                let val = s.need(ctx, i + 2, "a header value")?;
                spec.headers.push((n.text.clone(), lf(ctx, val)?));
                i += 1;
            }
            "errorfiles" => {
                let _ = v();
                return Err(ctx.err_hint(w.span, "'return errorfiles' needs http-errors sections, which rproxy does not support yet", "use 'errorfile <file>' or 'string'"));
            }
            o => return Err(ctx.err_hint(w.span, format!("unexpected '{o}' in 'return'"), "usage: return [status <code>] [content-type <type>] [string <s>|lf-string <fmt>|file <f>|lf-file <f>|errorfile <f>|default-errorfiles] [hdr <name> <fmt>]*")),
        }
        i += 2;
    }
    if !matches!(
        spec.body,
        ReturnBody::None | ReturnBody::DefaultError | ReturnBody::Errorfile(..)
    ) && spec.content_type.is_none()
    {
        return Err(ctx.err_hint(
            s.span_of(1),
            "'return' with a body needs a 'content-type'",
            "add 'content-type text/plain' (or the body's type)",
        ));
    }
    Ok((spec, i))
}

/// The action name without a `(...)` argument: `set-var(txn.x)` → `set-var`.
fn action_base(a: &str) -> &str {
    a.split('(').next().unwrap_or(a)
}

fn var_name(ctx: &mut Ctx, w: &Word) -> R<String> {
    let inner = w
        .text
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'));
    match inner {
        // Any scope with a non-empty name (`txn.x`, `req.n` are fine).
        Some(n) if crate::config::sample::check_var_name(n).is_ok() => Ok(n.to_string()),
        _ => Err(ctx.err_hint(w.span, format!("invalid variable in '{}'", w.text), "write set-var(<scope>.<name>) with scope proc, sess, txn, req or res, as in set-var(txn.host)")),
    }
}

const HTTP_REQ_ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "tarpit",
    "auth",
    "redirect",
    "return",
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "replace-uri",
    "replace-path",
    "set-path",
    "set-pathq",
    "set-query",
    "set-uri",
    "set-method",
    "set-var",
    "unset-var",
    "use-service",
    "set-log-level",
    "capture",
];
const HTTP_RES_ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "redirect",
    "return",
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "set-var",
    "unset-var",
    "set-log-level",
];

/// Every modelled action of `http-request`/`http-response`, for the catalogue test.
pub fn http_actions(response: bool) -> &'static [&'static str] {
    if response {
        HTTP_RES_ACTIONS
    } else {
        HTTP_REQ_ACTIONS
    }
}

fn http_rule(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, response: bool) -> R {
    let family = if response {
        "http-response"
    } else {
        "http-request"
    };
    let a = s.need(ctx, 1, "an action")?;
    let base = action_base(&a.text);
    let (actions, table): (&[&str], &'static [Unmodelled]) = if response {
        (HTTP_RES_ACTIONS, pending::HTTP_RESPONSE)
    } else {
        (HTTP_REQ_ACTIONS, pending::HTTP_REQUEST)
    };
    if !actions.contains(&base) {
        if report_unmodelled(ctx, table, base, &format!("{family} action"), a.span)
            || report_unmodelled(ctx, table, &a.text, &format!("{family} action"), a.span)
        {
            return Ok(());
        }
        let mut cands = actions.to_vec();
        cands.extend(table.iter().map(|u| u.keyword));
        return Err(unknown(ctx, a.span, "action", base, family, cands));
    }
    let name_val = |ctx: &mut Ctx, s: &Stmt| -> R<(String, LogFormat)> {
        let n = s.need(ctx, 2, "<name> <value>")?;
        let v = s.need(ctx, 3, "<name> <value>")?;
        Ok((n.text.clone(), lf(ctx, v)?))
    };
    let regex3 = |ctx: &mut Ctx, s: &Stmt, at: usize| -> R<(String, LogFormat)> {
        let re = s.need(ctx, at, "<regex> <replacement>")?;
        regex::Regex::new(&re.text).map_err(|e| {
            ctx.err_hint(
                re.span,
                format!("invalid regular expression '{}'", re.text),
                e.to_string(),
            )
        })?;
        let rep = s.need(ctx, at + 1, "<regex> <replacement>")?;
        Ok((re.text.clone(), lf(ctx, rep)?))
    };
    let mut next = 2;
    let action = match base {
        "allow" => HttpAction::Allow,
        "deny" | "tarpit" => {
            let mut status = None;
            let mut reply: Option<ReturnSpec> = None;
            const RETURN_OPTS: &[&str] = &[
                "status",
                "content-type",
                "default-errorfiles",
                "errorfile",
                "errorfiles",
                "file",
                "lf-file",
                "string",
                "lf-string",
                "hdr",
            ];
            while let Some(o) = s.arg_str(next).filter(|w| !is_cond_word(Some(w))) {
                match o {
                    _ if o != "deny_status" && !RETURN_OPTS.contains(&o) => break,
                    "deny_status" => {
                        status = Some(status_code_at(ctx, s, next + 1, "a status", 200, 599)?);
                        next += 2;
                    }
                    _ => {
                        // 2.6 accepts the 'return' options on deny; any of them (even a
                        // lone `status`) makes the answer what `return` would send, where
                        // `deny_status` keeps the error page.
                        let (spec, n) = return_spec(ctx, s, next)?;
                        // Options come in (keyword, value) pairs, `hdr` taking two values.
                        let mut j = next;
                        let mut has_status = false;
                        while j < n {
                            match s.arg_str(j) {
                                Some("status") => has_status = true,
                                Some("hdr") => j += 1,
                                Some("default-errorfiles") => j -= 1,
                                _ => {}
                            }
                            j += 2;
                        }
                        if has_status {
                            status = Some(spec.status);
                        }
                        reply = Some(spec);
                        next = n;
                    }
                }
            }
            let default = if base == "deny" { 403 } else { 500 };
            if let Some(r) = reply.as_mut() {
                r.status = status.unwrap_or(default);
            }
            if base == "deny" {
                HttpAction::Deny { status, reply }
            } else {
                HttpAction::Tarpit { status, reply }
            }
        }
        "auth" => {
            let realm = if s.arg_str(2) == Some("realm") {
                next = 4;
                Some(s.need(ctx, 3, "a realm")?.text.clone())
            } else {
                None
            };
            HttpAction::Auth { realm }
        }
        "redirect" => {
            let (r, n) = redirect(ctx, s, 2, false)?;
            next = n;
            HttpAction::Redirect(r)
        }
        "return" => {
            let (spec, n) = return_spec(ctx, s, 2)?;
            next = n;
            HttpAction::Return(spec)
        }
        "set-header" | "add-header" => {
            let (name, value) = name_val(ctx, s)?;
            next = 4;
            if base == "set-header" {
                HttpAction::SetHeader { name, value }
            } else {
                HttpAction::AddHeader { name, value }
            }
        }
        "del-header" => {
            let n = s.need(ctx, 2, "a header name")?;
            next = 3;
            if s.arg_str(3) == Some("-m") {
                ctx.warn(
                    s.span_of(3),
                    "'del-header -m' is accepted but rproxy matches the exact name for now",
                );
                next = 5;
            }
            HttpAction::DelHeader {
                name: n.text.clone(),
            }
        }
        "replace-header" | "replace-value" => {
            let n = s.need(ctx, 2, "<name> <regex> <replacement>")?.text.clone();
            let (regex, replace) = regex3(ctx, s, 3)?;
            next = 5;
            if base == "replace-header" {
                HttpAction::ReplaceHeader {
                    name: n,
                    regex,
                    replace,
                }
            } else {
                HttpAction::ReplaceValue {
                    name: n,
                    regex,
                    replace,
                }
            }
        }
        "replace-uri" | "replace-path" => {
            let (regex, replace) = regex3(ctx, s, 2)?;
            next = 4;
            if base == "replace-uri" {
                HttpAction::ReplaceUri { regex, replace }
            } else {
                HttpAction::ReplacePath { regex, replace }
            }
        }
        "set-path" | "set-pathq" | "set-query" | "set-uri" | "set-method" => {
            let v = lf_at(ctx, s, 2, "a value")?;
            next = 3;
            match base {
                "set-path" => HttpAction::SetPath(v),
                "set-pathq" => HttpAction::SetPathq(v),
                "set-query" => HttpAction::SetQuery(v),
                "set-uri" => HttpAction::SetUri(v),
                _ => HttpAction::SetMethod(v),
            }
        }
        "set-status" => {
            let status = status_code_at(ctx, s, 2, "a status", 100, 999)?;
            next = 3;
            let reason = if s.arg_str(3) == Some("reason") {
                next = 5;
                Some(s.need(ctx, 4, "a reason")?.text.clone())
            } else {
                None
            };
            HttpAction::SetStatus { status, reason }
        }
        "set-var" => {
            let name = var_name(ctx, a)?;
            let e = sample_at(ctx, s, 2, "an expression")?;
            next = 3;
            HttpAction::SetVar { name, expr: e }
        }
        "unset-var" => HttpAction::UnsetVar {
            name: var_name(ctx, a)?,
        },
        "use-service" => {
            next = 3;
            HttpAction::UseService(
                s.need(ctx, 2, "a service name, as in prometheus-exporter")?
                    .text
                    .clone(),
            )
        }
        "set-log-level" => {
            let l = s.need(ctx, 2, "a level")?;
            if l.text != "silent" && !LEVELS.contains(&l.text.as_str()) {
                return Err(ctx.err_hint(
                    l.span,
                    format!("unknown log level '{}'", l.text),
                    format!("levels: silent {}", LEVELS.join(" ")),
                ));
            }
            next = 3;
            HttpAction::SetLogLevel(l.text.clone())
        }
        "capture" => {
            let smp = sample_at(ctx, s, 2, "<sample> len <n> | id <n>")?;
            let k = s.need(ctx, 3, "'len <n>' or 'id <n>'")?;
            let n = s.uint(ctx, 4, "a number")?;
            next = 5;
            match k.text.as_str() {
                "len" => HttpAction::Capture {
                    sample: smp,
                    len: Some(n),
                    id: None,
                },
                "id" => HttpAction::Capture {
                    sample: smp,
                    len: None,
                    id: Some(n),
                },
                o => {
                    return Err(ctx.err_hint(
                        k.span,
                        format!("unexpected '{o}'"),
                        "usage: capture <sample> len <length> | id <slot>",
                    ));
                }
            }
        }
        _ => return Err(Reported),
    };
    let cond = parse_cond(ctx, s, next, &d.proxy.acls)?;
    let rule = HttpRule {
        action,
        cond,
        span: s.line.span,
    };
    if response {
        d.proxy.http_response.push(rule);
    } else {
        d.proxy.http_request.push(rule);
    }
    d.mark(family, s.line.span);
    Ok(())
}

pub const TCP_CONNECTION_ACTIONS: &[&str] = &["accept", "reject", "expect-proxy", "set-var"];
pub const TCP_CONTENT_ACTIONS: &[&str] = &[
    "accept",
    "reject",
    "set-var",
    "use-service",
    "set-log-level",
];

fn tcp_request(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "connection, content, session or inspect-delay")?;
    let (actions, table, content): (&[&str], &'static [Unmodelled], bool) = match w.text.as_str() {
        "inspect-delay" => {
            d.proxy.inspect_delay = Some(s.time(ctx, 2)?);
            return s.max_args(ctx, 2, "inspect-delay <time>");
        }
        "connection" => (
            TCP_CONNECTION_ACTIONS,
            pending::TCP_REQUEST_CONNECTION,
            false,
        ),
        "content" => (TCP_CONTENT_ACTIONS, pending::TCP_REQUEST_CONTENT, true),
        "session" => {
            let a = s.need(ctx, 2, "an action")?;
            if !report_unmodelled(
                ctx,
                pending::TCP_REQUEST_SESSION,
                action_base(&a.text),
                "tcp-request session action",
                a.span,
            ) {
                ctx.warn(
                    a.span,
                    format!(
                        "'tcp-request session {}' is accepted but not applied by rproxy yet",
                        a.text
                    ),
                );
            }
            return Ok(());
        }
        o => {
            return Err(unknown(
                ctx,
                w.span,
                "tcp-request ruleset",
                o,
                "tcp-request",
                vec!["connection", "content", "session", "inspect-delay"],
            ));
        }
    };
    let a = s.need(ctx, 2, "an action")?;
    let base = action_base(&a.text);
    let family = format!("tcp-request {} action", w.text);
    if !actions.contains(&base) {
        if report_unmodelled(ctx, table, base, &family, a.span) {
            return Ok(());
        }
        let mut cands = actions.to_vec();
        cands.extend(table.iter().map(|u| u.keyword));
        return Err(unknown(
            ctx,
            a.span,
            "action",
            base,
            &format!("tcp-request {}", w.text),
            cands,
        ));
    }
    let mut next = 3;
    let action = match base {
        "accept" => TcpAction::Accept,
        "reject" => TcpAction::Reject,
        "expect-proxy" => {
            let l = s.need(ctx, 3, "'layer4'")?;
            if l.text != "layer4" {
                return Err(ctx.err_hint(
                    l.span,
                    format!("unexpected '{}'", l.text),
                    "usage: tcp-request connection expect-proxy layer4",
                ));
            }
            next = 4;
            TcpAction::ExpectProxy
        }
        "set-var" => {
            let name = var_name(ctx, a)?;
            let e = sample_at(ctx, s, 3, "an expression")?;
            next = 4;
            TcpAction::SetVar { name, expr: e }
        }
        "set-log-level" => {
            let l = s.need(ctx, 3, "a level")?;
            if l.text != "silent" && !LEVELS.contains(&l.text.as_str()) {
                return Err(ctx.err_hint(
                    l.span,
                    format!("unknown log level '{}'", l.text),
                    format!("levels: silent {}", LEVELS.join(" ")),
                ));
            }
            next = 4;
            TcpAction::SetLogLevel(l.text.clone())
        }
        _ => {
            // As HAProxy 2.6: its one service, the Prometheus exporter, answers HTTP
            // requests only, and there is no other (Lua services are not supported).
            let svc = s.need(ctx, 3, "a service name")?;
            return Err(if svc.text == "prometheus-exporter" {
                ctx.err_hint(
                    svc.span,
                    "the prometheus-exporter service is only available on 'http-request' rules",
                    "use 'http-request use-service prometheus-exporter' in a 'mode http' \
                     frontend or backend",
                )
            } else {
                ctx.err_hint(
                    svc.span,
                    format!("unknown service name '{}'", svc.text),
                    "the only service is prometheus-exporter, on 'http-request' rules \
                     (Lua services are not supported)",
                )
            });
        }
    };
    let cond = parse_cond(ctx, s, next, &d.proxy.acls)?;
    let rule = TcpRule {
        action,
        cond,
        span: s.line.span,
    };
    if content {
        d.proxy.tcp_request_content.push(rule);
    } else {
        d.proxy.tcp_request_connection.push(rule);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{lexer::ProcessEnv, load_str};
    use crate::model::expr::LfNode;
    use crate::model::proxy::{HttpAction, RedirectKind};

    const HEAD: &str = "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend f\n  bind 127.0.0.1:1\n";

    #[test]
    fn short_variable_names() {
        let l = load_str(
            "t.cfg",
            &format!(
                "{HEAD}  http-request set-var(req.n) int(1)\n  http-request set-var(txn.x) str(a)\n  http-request unset-var(txn.x)\n"
            ),
            &ProcessEnv,
        );
        assert!(l.is_valid(), "{:?}", l.diags);
        let f = l.model.proxy("f").expect("f");
        assert!(
            matches!(&f.http_request[0].action, HttpAction::SetVar { name, .. } if name == "req.n")
        );
        let bad = load_str(
            "t.cfg",
            &format!("{HEAD}  http-request set-var(txn.) int(1)\n"),
            &ProcessEnv,
        );
        assert!(!bad.is_valid());
    }

    #[test]
    fn deny_with_return_options() {
        let l = load_str(
            "t.cfg",
            &format!(
                "{HEAD}  http-request deny deny_status 429\n  http-request deny status 451\n  \
                 http-request deny content-type text/plain string x status 410 hdr A b\n  \
                 http-request deny default-errorfiles hdr A b\n  http-request tarpit hdr A b\n"
            ),
            &ProcessEnv,
        );
        assert!(l.is_valid(), "{:?}", l.diags);
        let f = l.model.proxy("f").expect("f");
        let got: Vec<(Option<u16>, Option<u16>)> = f
            .http_request
            .iter()
            .map(|r| match &r.action {
                HttpAction::Deny { status, reply } | HttpAction::Tarpit { status, reply } => {
                    (*status, reply.as_ref().map(|r| r.status))
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(429), None),
                (Some(451), Some(451)),
                (Some(410), Some(410)),
                (None, Some(403)),
                (None, Some(500)),
            ]
        );
    }

    #[test]
    fn redirect_statement_targets_are_literal() {
        // HAProxy reads the `redirect` statement's target as a plain string (a `%` in it is
        // no log-format), unlike `http-request redirect`.
        let l = load_str(
            "t.cfg",
            &format!(
                "{HEAD}  redirect location /a%20b%[path]\n  http-request redirect location /x%[path]\n"
            ),
            &ProcessEnv,
        );
        assert!(l.is_valid(), "{:?}", l.diags);
        let f = l.model.proxy("f").expect("f");
        match &f.redirects[0].redirect.kind {
            RedirectKind::Location(lf) => {
                assert!(matches!(&lf.0[..], [LfNode::Literal(s)] if s == "/a%20b%[path]"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&f.http_request[0].action, HttpAction::Redirect(r)
            if matches!(&r.kind, RedirectKind::Location(lf) if lf.0.len() == 2)));
    }
}

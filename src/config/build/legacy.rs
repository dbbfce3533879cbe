//! HAProxy 1.x keywords that 2.6 rejects, given their 1.x meaning: `redispatch`,
//! `transparent`, `monitor-net`, `block`, and the `reqXXX`/`rspXXX` regex header rules.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, parse_cond};
use crate::config::value;
use crate::model::{HttpAction, HttpRule, LegacyAction, LegacyRule};

const fn legacy(
    name: &'static str,
    where_: &'static str,
    modern: &'static str,
    handler: fn(&mut Ctx, &mut ProxyDraft, &Stmt) -> R,
) -> ProxyKw {
    ProxyKw {
        name,
        where_,
        status: Status::Legacy(modern),
        handler,
    }
}

pub const KEYWORDS: &[ProxyKw] = &[
    legacy("redispatch", "d-lb", "option redispatch", |c, d, s| {
        s.max_args(c, 0, "")?;
        d.proxy.options.redispatch = Some(-1);
        Ok(())
    }),
    legacy("redisp", "d-lb", "option redispatch", |c, d, s| {
        s.max_args(c, 0, "")?;
        d.proxy.options.redispatch = Some(-1);
        Ok(())
    }),
    legacy(
        "cliexp",
        "-flb",
        "http-request replace-header",
        |c, d, s| regex_rule(c, d, s, false, false, 1),
    ),
    legacy(
        "srvexp",
        "-flb",
        "http-response replace-header",
        |c, d, s| regex_rule(c, d, s, true, false, 1),
    ),
    legacy("grace", "dflb", "hard-stop-after (global)", |c, _, s| {
        s.time(c, 1)?;
        c.warn(
            s.span_of(1),
            "'grace' has no effect in rproxy: stopping is immediate, bounded by 'hard-stop-after'",
        );
        Ok(())
    }),
    legacy("transparent", "d-lb", "option transparent", |c, d, s| {
        s.max_args(c, 0, "")?;
        d.proxy.transparent = true;
        Ok(())
    }),
    legacy(
        "monitor-net",
        "dfl-",
        "http-request return status 200 if { src <net> }",
        |c, d, s| {
            let w = s.need(c, 1, "a network")?;
            d.proxy
                .monitor_net
                .push(value::parse_network(&w.text).map_err(|e| c.value_err(w, "network", e))?);
            Ok(())
        },
    ),
    legacy("block", "-flb", "http-request deny if <cond>", |c, d, s| {
        let cond = parse_cond(c, s, 1, &d.proxy.acls)?;
        if cond.is_none() {
            return Err(c.err_hint(
                s.span_of(1),
                "'block' needs a condition",
                "usage: block if|unless <condition>",
            ));
        }
        d.proxy.http_request.push(HttpRule {
            action: HttpAction::Deny {
                status: None,
                reply: None,
            },
            cond,
            span: s.line.span,
        });
        Ok(())
    }),
    legacy("reqadd", "-flb", "http-request add-header", |c, d, s| {
        add(c, d, s, false)
    }),
    legacy("rspadd", "-flb", "http-response add-header", |c, d, s| {
        add(c, d, s, true)
    }),
    legacy("reqdel", "-flb", "http-request del-header", |c, d, s| {
        regex_rule(c, d, s, false, false, 0)
    }),
    legacy("reqidel", "-flb", "http-request del-header", |c, d, s| {
        regex_rule(c, d, s, false, true, 0)
    }),
    legacy("rspdel", "-flb", "http-response del-header", |c, d, s| {
        regex_rule(c, d, s, true, false, 0)
    }),
    legacy("rspidel", "-flb", "http-response del-header", |c, d, s| {
        regex_rule(c, d, s, true, true, 0)
    }),
    legacy(
        "reqrep",
        "-flb",
        "http-request replace-header",
        |c, d, s| regex_rule(c, d, s, false, false, 1),
    ),
    legacy(
        "reqirep",
        "-flb",
        "http-request replace-header",
        |c, d, s| regex_rule(c, d, s, false, true, 1),
    ),
    legacy(
        "rsprep",
        "-flb",
        "http-response replace-header",
        |c, d, s| regex_rule(c, d, s, true, false, 1),
    ),
    legacy(
        "rspirep",
        "-flb",
        "http-response replace-header",
        |c, d, s| regex_rule(c, d, s, true, true, 1),
    ),
    legacy(
        "reqallow",
        "-flb",
        "http-request allow if <cond>",
        |c, d, s| regex_rule(c, d, s, false, false, 2),
    ),
    legacy(
        "reqiallow",
        "-flb",
        "http-request allow if <cond>",
        |c, d, s| regex_rule(c, d, s, false, true, 2),
    ),
    legacy(
        "reqdeny",
        "-flb",
        "http-request deny if <cond>",
        |c, d, s| regex_rule(c, d, s, false, false, 3),
    ),
    legacy(
        "reqideny",
        "-flb",
        "http-request deny if <cond>",
        |c, d, s| regex_rule(c, d, s, false, true, 3),
    ),
    legacy("reqpass", "-flb", "(nothing: remove it)", |c, d, s| {
        regex_rule(c, d, s, false, false, 4)
    }),
    legacy("reqipass", "-flb", "(nothing: remove it)", |c, d, s| {
        regex_rule(c, d, s, false, true, 4)
    }),
    legacy(
        "reqtarpit",
        "-flb",
        "http-request tarpit if <cond>",
        |c, d, s| regex_rule(c, d, s, false, false, 5),
    ),
    legacy(
        "reqitarpit",
        "-flb",
        "http-request tarpit if <cond>",
        |c, d, s| regex_rule(c, d, s, false, true, 5),
    ),
    legacy(
        "rspdeny",
        "-flb",
        "http-response deny if <cond>",
        |c, d, s| regex_rule(c, d, s, true, false, 3),
    ),
    legacy(
        "rspideny",
        "-flb",
        "http-response deny if <cond>",
        |c, d, s| regex_rule(c, d, s, true, true, 3),
    ),
    legacy(
        "reqsetbe",
        "-fl-",
        "use_backend <backend> if <cond>",
        |c, d, s| regex_rule(c, d, s, false, false, 6),
    ),
    legacy(
        "reqisetbe",
        "-fl-",
        "use_backend <backend> if <cond>",
        |c, d, s| regex_rule(c, d, s, false, true, 6),
    ),
];

fn add(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, response: bool) -> R {
    let w = s.need(ctx, 1, "a header line, as in 'X-Proto:\\ SSL'")?;
    if !w.text.contains(':') {
        ctx.warn(
            w.span,
            format!(
                "'{}' has no ':': it does not look like a header line",
                w.text
            ),
        );
    }
    let cond = parse_cond(ctx, s, 2, &d.proxy.acls)?;
    d.proxy.legacy_rules.push(LegacyRule {
        response,
        cond,
        ignore_case: false,
        regex: String::new(),
        action: LegacyAction::Add(w.text.clone()),
        span: s.line.span,
    });
    Ok(())
}

/// `kind`: 0 delete, 1 replace, 2 allow, 3 deny, 4 pass, 5 tarpit, 6 set backend.
fn regex_rule(
    ctx: &mut Ctx,
    d: &mut ProxyDraft,
    s: &Stmt,
    response: bool,
    ignore_case: bool,
    kind: u8,
) -> R {
    let re = s.need(ctx, 1, "a regular expression")?;
    let pattern = if ignore_case {
        format!("(?i){}", re.text)
    } else {
        re.text.clone()
    };
    if let Err(e) = regex::Regex::new(&pattern) {
        return Err(ctx.err_hint(
            re.span,
            format!("invalid regular expression '{}'", re.text),
            e.to_string(),
        ));
    }
    let mut next = 2;
    let action = match kind {
        0 => LegacyAction::Delete,
        1 | 6 => {
            let v = s.need(
                ctx,
                2,
                if kind == 1 {
                    "a replacement string"
                } else {
                    "a backend name"
                },
            )?;
            next = 3;
            if kind == 1 {
                LegacyAction::Replace(v.text.clone())
            } else {
                LegacyAction::SetBackend(v.text.clone())
            }
        }
        2 => LegacyAction::Allow,
        3 => LegacyAction::Deny,
        4 => LegacyAction::Pass,
        _ => LegacyAction::Tarpit,
    };
    let cond = parse_cond(ctx, s, next, &d.proxy.acls)?;
    d.proxy.legacy_rules.push(LegacyRule {
        response,
        cond,
        ignore_case,
        regex: re.text.clone(),
        action,
        span: s.line.span,
    });
    Ok(())
}

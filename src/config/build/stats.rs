//! `stats ...` in proxies: the statistics page.

use super::{
    Ctx, ProxyDraft, ProxyKw, R, Status, Stmt, applies, parse_cond, report_unmodelled, unknown,
    value_time,
};
use crate::config::pending;
use crate::model::{HttpAction, HttpRule, StatsCfg};

pub const KEYWORDS: &[ProxyKw] = &[ProxyKw {
    name: "stats",
    where_: "dflb",
    status: Status::Supported,
    handler: stats,
}];

pub const SUBKEYWORDS: &[(&str, &str)] = &[
    ("enable", "dflb"),
    ("uri", "dflb"),
    ("realm", "dflb"),
    ("auth", "dflb"),
    ("refresh", "dflb"),
    ("hide-version", "dflb"),
    ("show-legends", "dflb"),
    ("show-modules", "dflb"),
    ("show-node", "dflb"),
    ("show-desc", "dflb"),
    ("scope", "dflb"),
    ("admin", "-flb"),
    ("http-request", "-flb"),
];

fn stats(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(
        ctx,
        1,
        "a sub-keyword (enable, uri, realm, auth, refresh, admin ...)",
    )?;
    let sub = w.text.as_str();
    let Some((_, where_)) = SUBKEYWORDS.iter().find(|(n, _)| *n == sub) else {
        if report_unmodelled(ctx, pending::STATS, sub, "stats keyword", w.span) {
            return Ok(());
        }
        return Err(unknown(
            ctx,
            w.span,
            "stats keyword",
            sub,
            "stats",
            SUBKEYWORDS.iter().map(|(n, _)| *n).collect(),
        ));
    };
    if !applies(ctx, d, where_, &format!("stats {sub}"), w.span) {
        return Ok(());
    }
    let st: &mut StatsCfg = d.proxy.stats.get_or_insert_with(StatsCfg::default);
    // Every stats keyword enables the page, as in HAProxy.
    st.enabled = true;
    match sub {
        "enable" => s.max_args(ctx, 1, "enable")?,
        "uri" => st.uri = Some(s.need(ctx, 2, "a URI prefix")?.text.clone()),
        "realm" => {
            st.realm = Some(s.need(ctx, 2, "a realm")?.text.clone());
            if let Some(extra) = s.arg(3) {
                // HAProxy takes the first word only and drops the rest silently; say so.
                ctx.warn_hint(
                    extra.span,
                    format!("'stats realm' takes one word: '{}' and what follows are ignored (as HAProxy does)", extra.text),
                    "escape spaces with '\\ ' or quote the realm, as in 'stats realm \"My Stats\"'",
                );
            }
        }
        "auth" => {
            let a = s.need(ctx, 2, "<user>:<password>")?;
            match a.text.split_once(':') {
                Some((u, p)) if !u.is_empty() => st.auths.push((u.to_string(), p.to_string())),
                _ => {
                    return Err(ctx.err_hint(
                        a.span,
                        format!("invalid stats auth '{}'", a.text),
                        "usage: stats auth <user>:<password>",
                    ));
                }
            }
        }
        "refresh" => st.refresh = Some(value_time(ctx, s, 2)?),
        "hide-version" => st.hide_version = true,
        "show-legends" => st.show_legends = true,
        "show-modules" => st.show_modules = true,
        "show-node" => st.show_node = Some(s.arg_str(2).unwrap_or("").to_string()),
        "show-desc" => st.show_desc = Some(s.joined(2)),
        "scope" => st
            .scopes
            .push(s.need(ctx, 2, "a proxy name or '.'")?.text.clone()),
        "admin" => {
            let Some(c) = parse_cond(ctx, s, 2, &d.proxy.acls)? else {
                return Err(ctx.err_hint(
                    s.span_of(2),
                    "'stats admin' needs a condition",
                    "usage: stats admin if|unless <condition>, e.g. 'stats admin if TRUE'",
                ));
            };
            d.proxy
                .stats
                .get_or_insert_with(StatsCfg::default)
                .admin
                .push(c);
        }
        "http-request" => {
            let a = s.need(ctx, 2, "allow, deny or auth")?;
            let (action, next) = match a.text.as_str() {
                "allow" => (HttpAction::Allow, 3),
                "deny" => (
                    HttpAction::Deny {
                        status: None,
                        reply: None,
                    },
                    3,
                ),
                "auth" => {
                    if s.arg_str(3) == Some("realm") {
                        (
                            HttpAction::Auth {
                                realm: Some(s.need(ctx, 4, "a realm")?.text.clone()),
                            },
                            5,
                        )
                    } else {
                        (HttpAction::Auth { realm: None }, 3)
                    }
                }
                o => {
                    return Err(ctx.err_hint(
                        a.span,
                        format!("unknown stats http-request action '{o}'"),
                        "actions: allow deny auth [realm <realm>]",
                    ));
                }
            };
            let cond = parse_cond(ctx, s, next, &d.proxy.acls)?;
            d.proxy
                .stats
                .get_or_insert_with(StatsCfg::default)
                .http_request
                .push(HttpRule {
                    action,
                    cond,
                    span: s.line.span,
                });
        }
        _ => {}
    }
    d.mark("stats", s.line.span);
    Ok(())
}

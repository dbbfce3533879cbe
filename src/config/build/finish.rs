//! Whole-configuration checks once every section is read: names that must exist or be
//! unique, modes that must agree, settings that do not apply, missing timeouts.

use super::option::HTTP_ONLY;
use super::{Ctx, ProxyDraft};
use crate::config::diag::did_you_mean;
use crate::model::{BackendRef, Config, Mode};
use std::collections::HashMap;

pub fn finish(ctx: &mut Ctx, config: &mut Config, drafts: Vec<ProxyDraft>) {
    // Proxy names: a frontend and a backend may share one; a listen clashes with both.
    let mut seen: HashMap<(&str, bool), usize> = HashMap::new();
    for (i, d) in drafts.iter().enumerate() {
        let p = &d.proxy;
        for (cap, on) in [(false, p.caps.frontend), (true, p.caps.backend)] {
            if !on {
                continue;
            }
            if let Some(&j) = seen.get(&(p.name.as_str(), cap)) {
                let other = &drafts[j].proxy;
                ctx.err_hint(
                    p.span,
                    format!(
                        "proxy '{}' has the same name as another {} declared at line {}",
                        p.name,
                        if cap { "backend" } else { "frontend" },
                        other.span.line
                    ),
                    "proxy names must be unique (a frontend and a backend may share one)",
                );
                break;
            }
            seen.insert((p.name.as_str(), cap), i);
        }
    }
    let backends: HashMap<&str, &ProxyDraft> = drafts
        .iter()
        .filter(|d| d.proxy.caps.backend)
        .map(|d| (d.proxy.name.as_str(), d))
        .collect();
    for d in &drafts {
        let p = &d.proxy;
        let kind = d.kind.map(|k| k.keyword()).unwrap_or("proxy");
        // Servers: unique names; cookies need the backend's cookie directive.
        let mut names: HashMap<&str, u32> = HashMap::new();
        for s in &p.servers {
            if let Some(line) = names.insert(&s.name, s.span.line) {
                ctx.err_hint(
                    s.span,
                    format!(
                        "server '{}/{}' already exists (declared at line {line})",
                        p.name, s.name
                    ),
                    "server names must be unique within a backend",
                );
            }
            if s.cookie.is_some() && p.cookie.is_none() {
                ctx.warn_hint(
                    s.span,
                    format!("server '{}/{}' has a cookie but {kind} '{}' has no 'cookie' directive: it will not be used", p.name, s.name, p.name),
                    "add 'cookie SERVERID insert indirect nocache' (or similar) to the backend",
                );
            }
        }
        // Backends referenced by name must exist, have backend capability and a compatible mode.
        let mut refs: Vec<(&str, crate::config::source::Span)> = p
            .use_backends
            .iter()
            .filter_map(|u| match &u.backend {
                BackendRef::Name(n) => Some((n.as_str(), u.span)),
                BackendRef::Dynamic(_) => None,
            })
            .collect();
        if let Some(db) = &p.default_backend {
            refs.push((
                db.as_str(),
                d.set_at.get("default_backend").copied().unwrap_or(p.span),
            ));
        }
        for (name, span) in refs {
            match backends.get(name) {
                None => {
                    let msg = format!(
                        "{kind} '{}': unable to find required backend '{name}'",
                        p.name
                    );
                    match did_you_mean(name, backends.keys().copied()) {
                        Some(s) => ctx.err_hint(span, msg, format!("did you mean '{s}'?")),
                        None => ctx.err_hint(
                            span,
                            msg,
                            "declare it with 'backend NAME' (or 'listen NAME')",
                        ),
                    };
                }
                Some(b) if p.mode == Mode::Http && b.proxy.mode == Mode::Tcp => {
                    ctx.err_hint(
                        span,
                        format!(
                            "http {kind} '{}' uses tcp backend '{name}' (see 'mode')",
                            p.name
                        ),
                        format!("set 'mode http' in backend '{name}', or 'mode tcp' here"),
                    );
                }
                Some(_) => {}
            }
        }
        if p.mode == Mode::Tcp {
            for opt in HTTP_ONLY {
                if let Some(span) = d.set_at.get(&format!("option {opt}")) {
                    ctx.warn_hint(
                        *span,
                        format!(
                            "'option {opt}' ignored for {kind} '{}' as it requires HTTP mode",
                            p.name
                        ),
                        "add 'mode http' to this proxy (or its defaults)",
                    );
                }
            }
            for what in ["cookie", "stats", "log-format"] {
                if what != "log-format"
                    && let Some(span) = d.set_at.get(what)
                {
                    ctx.warn_hint(
                        *span,
                        format!(
                            "'{what}' ignored for {kind} '{}' as it requires HTTP mode",
                            p.name
                        ),
                        "add 'mode http' to this proxy",
                    );
                }
            }
            for a in &p.acls {
                if let Some(c) = a.criteria.iter().find(|c| c.sample.needs_http()) {
                    ctx.warn_hint(
                        a.span,
                        format!(
                            "ACL '{}' uses HTTP fetch '{}' in tcp {kind} '{}': it will never match",
                            a.name, c.keyword, p.name
                        ),
                        "add 'mode http', or use layer-4 fetches (src, dst_port, req.ssl_sni ...)",
                    );
                }
            }
            if let Some(lf) = &p.log_format
                && lf.0.iter().any(
                    |n| matches!(n, crate::model::expr::LfNode::Var { var, .. } if var.http_only()),
                )
            {
                let span = d.set_at.get("log-format").copied().unwrap_or(p.span);
                ctx.warn_hint(
                    span,
                    format!(
                        "log-format of tcp {kind} '{}' uses HTTP variables: they log as '-'",
                        p.name
                    ),
                    "add 'mode http', or drop the HTTP variables (%r, %ST, %HM ...)",
                );
            }
            if let Some(r) = p.http_request.first().or(p.http_response.first()) {
                ctx.warn_hint(
                    r.span,
                    format!(
                        "HTTP rules ignored for {kind} '{}' as they require HTTP mode",
                        p.name
                    ),
                    "add 'mode http' to this proxy",
                );
            }
        }
        // Missing timeouts, as HAProxy warns.
        let t = &p.timeouts;
        let mut missing = Vec::new();
        if p.caps.frontend && t.client.is_none() {
            missing.push("client");
        }
        if p.caps.backend && (!p.servers.is_empty() || p.dispatch.is_some()) {
            if t.connect.is_none() {
                missing.push("connect");
            }
            if t.server.is_none() {
                missing.push("server");
            }
        }
        if !missing.is_empty() && !p.disabled {
            ctx.warn_hint(
                p.span,
                format!("missing timeouts for {kind} '{}': {}", p.name, missing.iter().map(|m| format!("'timeout {m}'")).collect::<Vec<_>>().join(", ")),
                "without them a stalled peer holds a connection forever; set e.g. 'timeout client 30s', 'timeout connect 5s', 'timeout server 30s' in defaults",
            );
        }
        if p.caps.frontend && p.binds.is_empty() && !p.disabled {
            ctx.warn_hint(
                p.span,
                format!(
                    "{kind} '{}' has no 'bind' line: it will not accept any connection",
                    p.name
                ),
                "add 'bind <address>:<port>', or make it a backend",
            );
        }
    }
    let global_logs = config.global.logs.clone();
    for mut d in drafts {
        if d.set_at.contains_key("log global") {
            d.proxy.logs.extend(global_logs.iter().cloned());
        }
        resolve_errorfiles(ctx, &config.http_errors, &mut d.proxy);
        config.proxies.push(d.proxy);
    }
}

/// `errorfiles` lines naming a section declared after them.
fn resolve_errorfiles(
    ctx: &mut Ctx,
    sections: &[crate::model::HttpErrors],
    p: &mut crate::model::Proxy,
) {
    for r in std::mem::take(&mut p.errorfiles_refs) {
        match sections.iter().find(|h| h.name == r.section) {
            Some(h) => {
                for (code, page) in &h.pages {
                    if r.codes.is_empty() || r.codes.contains(code) {
                        p.errorfiles.insert(*code, page.clone());
                    }
                }
            }
            None => {
                let names = sections.iter().map(|h| h.name.as_str());
                match did_you_mean(&r.section, names) {
                    Some(m) => ctx.err_hint(
                        r.span,
                        format!("unknown http-errors section '{}'", r.section),
                        format!("did you mean '{m}'?"),
                    ),
                    None => ctx.err_hint(
                        r.span,
                        format!("unknown http-errors section '{}'", r.section),
                        "declare it with 'http-errors <name>' and 'errorfile <code> <file>' lines",
                    ),
                };
            }
        }
    }
}

//! `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] ...`: persistence cookies.

use super::{Ctx, ProxyDraft, ProxyKw, R, Status, Stmt};
use crate::model::{CookieCfg, CookieMode};

pub const KEYWORDS: &[ProxyKw] = &[ProxyKw {
    name: "cookie",
    where_: "d-lb",
    status: Status::Supported,
    handler: cookie,
}];

const USAGE: &str = "<name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly] [secure] [domain <d>]* [maxidle <t>] [maxlife <t>] [dynamic] [attr <a>]*";

fn cookie(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let name = s.need(ctx, 1, USAGE)?.text.clone();
    let mut c = CookieCfg {
        name,
        mode: CookieMode::Passive,
        indirect: false,
        nocache: false,
        postonly: false,
        preserve: false,
        httponly: false,
        secure: false,
        domains: Vec::new(),
        maxidle: None,
        maxlife: None,
        dynamic: false,
        attrs: Vec::new(),
    };
    let mut i = 2;
    while let Some(w) = s.arg(i) {
        let set_mode = |ctx: &mut Ctx, c: &mut CookieCfg, m: CookieMode| -> R {
            if c.mode != CookieMode::Passive && c.mode != m {
                return Err(ctx.err_hint(
                    w.span,
                    "'rewrite', 'insert' and 'prefix' are mutually exclusive",
                    format!("usage: cookie {USAGE}"),
                ));
            }
            c.mode = m;
            Ok(())
        };
        match w.text.as_str() {
            "rewrite" => set_mode(ctx, &mut c, CookieMode::Rewrite)?,
            "insert" => set_mode(ctx, &mut c, CookieMode::Insert)?,
            "prefix" => set_mode(ctx, &mut c, CookieMode::Prefix)?,
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "dynamic" => c.dynamic = true,
            "domain" => {
                let v = s.need(ctx, i + 1, "a domain")?;
                if !v.text.starts_with('.') && v.text.contains('.') {
                    ctx.warn(v.span, format!("cookie domain '{}' does not start with a dot: browsers may not send it to subdomains", v.text));
                }
                c.domains.push(v.text.clone());
                i += 1;
            }
            "maxidle" => {
                c.maxidle = Some(super::value_time(ctx, s, i + 1)?);
                i += 1;
            }
            "maxlife" => {
                c.maxlife = Some(super::value_time(ctx, s, i + 1)?);
                i += 1;
            }
            "attr" => {
                let v = s.need(ctx, i + 1, "an attribute")?;
                if v.text.chars().any(|ch| ch.is_control() || ch == ';') {
                    return Err(ctx.err(
                        v.span,
                        "a cookie attribute may not contain ';' or control characters",
                    ));
                }
                c.attrs.push(v.text.clone());
                i += 1;
            }
            o => {
                let opts = [
                    "rewrite", "insert", "prefix", "indirect", "nocache", "postonly", "preserve",
                    "httponly", "secure", "domain", "maxidle", "maxlife", "dynamic", "attr",
                ];
                return Err(super::unknown(
                    ctx,
                    w.span,
                    "cookie option",
                    o,
                    "cookie",
                    opts.to_vec(),
                ));
            }
        }
        i += 1;
    }
    if c.preserve && c.mode == CookieMode::Passive {
        ctx.warn(
            s.kw_span(),
            "'preserve' only makes sense with 'insert' or 'rewrite'",
        );
    }
    if (c.maxidle.is_some() || c.maxlife.is_some()) && c.mode != CookieMode::Insert {
        return Err(ctx.err_hint(
            s.kw_span(),
            "'maxidle' and 'maxlife' require 'insert'",
            format!("usage: cookie {USAGE}"),
        ));
    }
    d.proxy.cookie = Some(c);
    d.mark("cookie", s.line.span);
    Ok(())
}

//! `http-request`/`http-response` rules, `redirect` statements and 1.x `req*`/`rsp*` rules,
//! compiled from the model and applied to message heads.

use regex::{Regex, RegexBuilder};

use super::head::{Headers, RequestHead, ResponseHead, reason};
use crate::config::diag::Diags;
use crate::model::proxy::{
    HttpAction, HttpRule, LegacyAction, LegacyRule, Redirect, RedirectKind, ReturnBody, ReturnSpec,
};
use crate::runtime::sample::{
    AclSet, CompiledCond, CompiledLogFormat, CompiledSample, EvalCtx, Vars,
};

/// What a rule list decided.
#[derive(Debug)]
pub enum Verdict {
    /// Go on (possibly after `allow`, which only ends the list).
    Continue,
    /// The status, and the answer when `deny` was given `return`'s options.
    Deny(u16, Option<Vec<u8>>),
    Tarpit(u16, Option<Vec<u8>>),
    /// A complete response to send instead of forwarding.
    Respond(Vec<u8>),
    /// A redirect answering a request (HAProxy closes after it when a body was sent).
    Redirect(Vec<u8>),
    /// `auth [realm R]`; without a realm HAProxy names the proxy.
    Auth(Option<String>),
    /// 1.x `reqsetbe`.
    SetBackend(String),
    /// `use-service`: a service built into the proxy answers.
    Service(Service),
}

/// The services `http-request use-service` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `prometheus-exporter` ([`crate::runtime::prometheus`]).
    Prometheus,
}

#[derive(Debug)]
enum Action {
    Allow,
    Deny(u16, Option<ReturnRt>),
    Tarpit(u16, Option<ReturnRt>),
    /// `auth [realm R]`; without a realm HAProxy names the proxy.
    Auth(Option<String>),
    Redirect(RedirectRt),
    Return(ReturnRt),
    SetHeader(String, CompiledLogFormat),
    AddHeader(String, CompiledLogFormat),
    DelHeader(String),
    ReplaceHeader(String, Regex, CompiledLogFormat),
    ReplaceValue(String, Regex, CompiledLogFormat),
    ReplaceUri(Regex, CompiledLogFormat),
    ReplacePath(Regex, CompiledLogFormat),
    SetPath(CompiledLogFormat),
    SetPathq(CompiledLogFormat),
    SetQuery(CompiledLogFormat),
    SetUri(CompiledLogFormat),
    SetMethod(CompiledLogFormat),
    SetStatus(u16, Option<String>),
    SetVar(String, CompiledSample),
    UnsetVar(String),
    Service(Service),
    /// `set-log-level`: a severity, -1 for `silent` (see `txnlog::LOG_LEVEL_VAR`).
    SetLogLevel(i8),
}

#[derive(Debug)]
struct Rule {
    action: Action,
    cond: Option<CompiledCond>,
}

#[derive(Debug)]
pub struct RedirectRt {
    kind: RedirectKindRt,
    code: u16,
    drop_query: bool,
    append_slash: bool,
    set_cookie: Option<String>,
    clear_cookie: Option<String>,
}

#[derive(Debug)]
enum RedirectKindRt {
    Location(CompiledLogFormat),
    Prefix(CompiledLogFormat),
    Scheme(CompiledLogFormat),
}

#[derive(Debug)]
pub struct ReturnRt {
    status: u16,
    content_type: Option<String>,
    body: ReturnBodyRt,
    headers: Vec<(String, CompiledLogFormat)>,
}

#[derive(Debug)]
enum ReturnBodyRt {
    None,
    /// A whole response (errorfile or the proxy's error page).
    Raw(Vec<u8>),
    Bytes(Vec<u8>),
    Lf(CompiledLogFormat),
}

#[derive(Debug)]
struct LegacyRt {
    cond: Option<CompiledCond>,
    regex: Regex,
    action: LegacyAction,
}

/// A proxy's compiled rule lists.
#[derive(Debug, Default)]
pub struct Rules {
    request: Vec<Rule>,
    response: Vec<Rule>,
    redirects: Vec<(RedirectRt, Option<CompiledCond>)>,
    legacy_req: Vec<LegacyRt>,
    legacy_res: Vec<LegacyRt>,
}

/// Errors are reported to `d` (which stops the start) and the rule is left out.
fn lf(
    f: &crate::model::expr::LogFormat,
    span: crate::config::source::Span,
    d: &mut Diags,
) -> Option<CompiledLogFormat> {
    CompiledLogFormat::compile_http(f)
        .map_err(|e| d.error(span, format!("cannot prepare log-format: {e}")))
        .ok()
}

fn regex(
    src: &str,
    icase: bool,
    span: crate::config::source::Span,
    d: &mut Diags,
) -> Option<Regex> {
    RegexBuilder::new(src)
        .case_insensitive(icase)
        .build()
        .map_err(|e| d.error(span, format!("invalid regex '{src}': {e}")))
        .ok()
}

pub fn compile_cond(
    c: &Option<crate::model::expr::Condition>,
    acls: &AclSet,
    span: crate::config::source::Span,
    d: &mut Diags,
) -> Option<CompiledCond> {
    let c = c.as_ref()?;
    match CompiledCond::compile_with(c, acls) {
        Ok(c) => Some(c),
        Err(e) => {
            d.error(span, format!("cannot prepare condition: {e}"));
            None
        }
    }
}

impl Rules {
    pub fn build(
        req: &[HttpRule],
        res: &[HttpRule],
        redirects: &[crate::model::proxy::RedirectRule],
        legacy: &[LegacyRule],
        acls: &AclSet,
        errors: &super::errors::ErrorPages,
        d: &mut Diags,
    ) -> Rules {
        let mut r = Rules::default();
        for rule in req {
            if let Some(a) = action(&rule.action, rule.span, errors, d) {
                r.request.push(Rule {
                    action: a,
                    cond: compile_cond(&rule.cond, acls, rule.span, d),
                });
            }
        }
        for rule in res {
            // `http-response deny` answers 502 unless told otherwise.
            let a = match &rule.action {
                HttpAction::Deny {
                    status: None,
                    reply: None,
                } => Some(Action::Deny(502, None)),
                other => action(other, rule.span, errors, d),
            };
            if let Some(a) = a {
                r.response.push(Rule {
                    action: a,
                    cond: compile_cond(&rule.cond, acls, rule.span, d),
                });
            }
        }
        for rd in redirects {
            if let Some(rt) = redirect(&rd.redirect, rd.span, d) {
                r.redirects
                    .push((rt, compile_cond(&rd.cond, acls, rd.span, d)));
            }
        }
        for l in legacy {
            let Some(re) = regex(&l.regex, l.ignore_case, l.span, d) else {
                continue;
            };
            let rt = LegacyRt {
                cond: compile_cond(&l.cond, acls, l.span, d),
                regex: re,
                action: l.action.clone(),
            };
            if l.response {
                r.legacy_res.push(rt);
            } else {
                r.legacy_req.push(rt);
            }
        }
        r
    }

    pub fn has_response_rules(&self) -> bool {
        !self.response.is_empty() || !self.legacy_res.is_empty()
    }

    /// Applies the `http-request` rules, then the 1.x request rules, then `redirect`.
    pub fn apply_request(&self, req: &mut RequestHead, vars: &mut Vars, base: &EvalCtx) -> Verdict {
        for rule in &self.request {
            if !cond_ok(&rule.cond, req, None, vars, base) {
                continue;
            }
            match &rule.action {
                Action::Allow => break,
                Action::Deny(s, r) => {
                    let reply = r
                        .as_ref()
                        .map(|r| render_return(r, Some(req), None, vars, base));
                    return Verdict::Deny(*s, reply);
                }
                Action::Tarpit(s, r) => {
                    let reply = r
                        .as_ref()
                        .map(|r| render_return(r, Some(req), None, vars, base));
                    return Verdict::Tarpit(*s, reply);
                }
                Action::Auth(realm) => return Verdict::Auth(realm.clone()),
                Action::Redirect(rd) => {
                    return Verdict::Redirect(render_redirect(rd, req, vars, base));
                }
                Action::Return(rt) => {
                    return Verdict::Respond(render_return(rt, Some(req), None, vars, base));
                }
                Action::Service(sv) => return Verdict::Service(*sv),
                Action::SetVar(name, s) => {
                    let v = s.eval(&ctx(base, Some(req), None, vars));
                    if let Some(v) = v {
                        vars.set(name, v);
                    }
                }
                Action::UnsetVar(name) => vars.unset(name),
                Action::SetLogLevel(l) => vars.set(
                    crate::runtime::txnlog::LOG_LEVEL_VAR,
                    crate::runtime::sample::Value::Int(i64::from(*l)),
                ),
                a => {
                    let edit = eval_edit(a, &ctx(base, Some(req), None, vars));
                    apply_req_edit(req, edit);
                }
            }
        }
        if let Some(v) = self.apply_legacy_req(req, vars, base) {
            return v;
        }
        for (rd, c) in &self.redirects {
            if cond_ok(c, req, None, vars, base) {
                return Verdict::Redirect(render_redirect(rd, req, vars, base));
            }
        }
        Verdict::Continue
    }

    fn apply_legacy_req(
        &self,
        req: &mut RequestHead,
        vars: &Vars,
        base: &EvalCtx,
    ) -> Option<Verdict> {
        for l in &self.legacy_req {
            if !cond_ok(&l.cond, req, None, vars, base) {
                continue;
            }
            match &l.action {
                LegacyAction::Add(line) => {
                    if let Some((n, v)) = line.split_once(':') {
                        req.headers.add(n.trim(), v.trim().as_bytes().to_vec());
                    }
                }
                LegacyAction::Delete => {
                    req.headers
                        .0
                        .retain(|h| !l.regex.is_match(&header_line(&h.name, &h.value)));
                }
                LegacyAction::Replace(rep) => {
                    // 1.x: a matching line (request line or header) is replaced whole.
                    let line = format!("{} {} {}", req.method, req.uri, req.version.as_str());
                    if let Some(caps) = l.regex.captures(&line) {
                        let new = String::from_utf8_lossy(&exp_replace(rep, &caps)).into_owned();
                        let mut parts = new.splitn(3, ' ');
                        if let (Some(m), Some(u)) = (parts.next(), parts.next()) {
                            req.method = m.to_string();
                            req.uri = u.to_string();
                        }
                    }
                    replace_lines(&mut req.headers, &l.regex, rep);
                }
                LegacyAction::Allow
                | LegacyAction::Deny
                | LegacyAction::Pass
                | LegacyAction::Tarpit
                | LegacyAction::SetBackend(_) => {
                    let line = format!("{} {} {}", req.method, req.uri, req.version.as_str());
                    let hit = l.regex.is_match(&line)
                        || req
                            .headers
                            .iter()
                            .any(|h| l.regex.is_match(&header_line(&h.name, &h.value)));
                    if hit {
                        match &l.action {
                            LegacyAction::Allow => return None,
                            LegacyAction::Deny => return Some(Verdict::Deny(403, None)),
                            LegacyAction::Tarpit => return Some(Verdict::Tarpit(500, None)),
                            LegacyAction::SetBackend(b) => {
                                return Some(Verdict::SetBackend(b.clone()));
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        None
    }

    /// Applies the `http-response` rules, then the 1.x response rules.
    pub fn apply_response(
        &self,
        req: &RequestHead,
        res: &mut ResponseHead,
        vars: &mut Vars,
        base: &EvalCtx,
    ) -> Verdict {
        for rule in &self.response {
            if !cond_ok(&rule.cond, req, Some(res), vars, base) {
                continue;
            }
            match &rule.action {
                Action::Allow => break,
                Action::Deny(s, r) | Action::Tarpit(s, r) => {
                    let reply = r
                        .as_ref()
                        .map(|r| render_return(r, Some(req), Some(res), vars, base));
                    return Verdict::Deny(*s, reply);
                }
                Action::Auth(_) => {}
                Action::Redirect(rd) => {
                    return Verdict::Respond(render_redirect(rd, req, vars, base));
                }
                Action::Return(rt) => {
                    return Verdict::Respond(render_return(rt, Some(req), Some(res), vars, base));
                }
                Action::SetStatus(code, r) => {
                    res.status = *code;
                    res.reason = r
                        .clone()
                        .unwrap_or_else(|| status_reason(*code).to_string());
                }
                Action::SetVar(name, s) => {
                    if let Some(v) = s.eval(&ctx(base, Some(req), Some(res), vars)) {
                        vars.set(name, v);
                    }
                }
                Action::UnsetVar(name) => vars.unset(name),
                Action::SetLogLevel(l) => vars.set(
                    crate::runtime::txnlog::LOG_LEVEL_VAR,
                    crate::runtime::sample::Value::Int(i64::from(*l)),
                ),
                a => {
                    let edit = eval_edit(a, &ctx(base, Some(req), Some(res), vars));
                    apply_headers_edit(&mut res.headers, edit);
                }
            }
        }
        for l in &self.legacy_res {
            if !cond_ok(&l.cond, req, Some(res), vars, base) {
                continue;
            }
            match &l.action {
                LegacyAction::Add(line) => {
                    if let Some((n, v)) = line.split_once(':') {
                        res.headers.add(n.trim(), v.trim().as_bytes().to_vec());
                    }
                }
                LegacyAction::Delete => res
                    .headers
                    .0
                    .retain(|h| !l.regex.is_match(&header_line(&h.name, &h.value))),
                LegacyAction::Replace(rep) => {
                    replace_lines(&mut res.headers, &l.regex, rep);
                }
                LegacyAction::Deny
                    if res
                        .headers
                        .iter()
                        .any(|h| l.regex.is_match(&header_line(&h.name, &h.value))) =>
                {
                    return Verdict::Deny(502, None);
                }
                _ => {}
            }
        }
        Verdict::Continue
    }
}

fn ctx<'a>(
    base: &EvalCtx<'a>,
    req: Option<&'a RequestHead>,
    res: Option<&'a ResponseHead>,
    vars: &'a Vars,
) -> EvalCtx<'a> {
    EvalCtx {
        conn: base.conn,
        req,
        res,
        vars,
        info: base.info,
    }
}

fn cond_ok(
    c: &Option<CompiledCond>,
    req: &RequestHead,
    res: Option<&ResponseHead>,
    vars: &Vars,
    base: &EvalCtx,
) -> bool {
    match c {
        None => true,
        Some(c) => c.eval(&ctx(base, Some(req), res, vars)),
    }
}

/// A header as 1.x rules saw it: `Name: value`, with the name in its usual capitalisation
/// (names are stored lower-cased; 1.x configs write `^Host:`).
fn header_line(name: &str, value: &[u8]) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 2);
    let mut up = true;
    for c in name.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == '-';
    }
    out.push_str(": ");
    out.push_str(&String::from_utf8_lossy(value));
    out
}

fn replace_lines(h: &mut Headers, re: &Regex, rep: &str) {
    let mut out = Vec::with_capacity(h.0.len());
    for hd in h.0.drain(..) {
        let line = header_line(&hd.name, &hd.value);
        if let Some(caps) = re.captures(&line) {
            let new = String::from_utf8_lossy(&exp_replace(rep, &caps)).into_owned();
            if let Some((n, v)) = new.split_once(':') {
                out.push(super::head::Header {
                    name: n.trim().to_ascii_lowercase(),
                    value: v.trim().as_bytes().to_vec(),
                });
            }
        } else {
            out.push(hd);
        }
    }
    h.0 = out;
}

/// The reason phrase HAProxy gives a status set by `return`, `deny` with a reply or
/// `set-status` (its `http_get_reason` table; redirects and error pages have their own).
fn status_reason(status: u16) -> &'static str {
    let known = match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        210 => "Content Different",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        310 => "Too many Redirects",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        450 => "Blocked by Windows Parental Controls",
        451 => "Unavailable For Legal Reasons",
        456 => "Unrecoverable Error",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not extended",
        511 => "Network authentication required",
        520 => "Web server is returning an unknown error",
        _ => "",
    };
    if !known.is_empty() {
        return known;
    }
    match status {
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Other",
    }
}

/// HAProxy's `exp_replace`: the replacement text with `\N` standing for capture N (empty
/// when it did not participate), `\xHH` for a byte and `\c` for `c`. What it builds
/// replaces the whole subject, not only the part the regex matched.
fn exp_replace(template: &str, caps: &regex::Captures) -> Vec<u8> {
    // HAProxy's lax hex digit: anything past '9' counts from 'A'.
    fn hex(c: u8) -> u8 {
        let h = c.to_ascii_uppercase().wrapping_sub(b'0');
        if h > 9 { h.wrapping_sub(7) } else { h }
    }
    let b = template.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 16);
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            None => break,
            Some(d) if d.is_ascii_digit() => {
                if let Some(m) = caps.get(usize::from(d - b'0')) {
                    out.extend_from_slice(m.as_str().as_bytes());
                }
                i += 2;
            }
            Some(b'x') => {
                let (Some(&h1), Some(&h2)) = (b.get(i + 2), b.get(i + 3)) else {
                    break;
                };
                out.push((hex(h1) << 4).wrapping_add(hex(h2)));
                i += 4;
            }
            Some(&c) => {
                out.push(c);
                i += 2;
            }
        }
    }
    out
}

/// The comma-separated elements of a header value as written (blanks kept), commas inside
/// quoted strings not splitting.
fn split_values(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in v.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if c == b',' && !quoted {
            out.push(&v[start..i]);
            start = i + 1;
        }
    }
    out.push(&v[start..]);
    out
}

/// A header or target edit, evaluated before the head is borrowed mutably.
enum Edit {
    None,
    Set(String, Vec<u8>),
    Add(String, Vec<u8>),
    Del(String),
    ReplaceHeader(String, Regex, String),
    ReplaceValue(String, Regex, String),
    ReplaceUri(Regex, String),
    ReplacePath(Regex, String),
    Path(String),
    Pathq(String),
    Query(String),
    Uri(String),
    Method(String),
}

fn eval_edit(a: &Action, c: &EvalCtx) -> Edit {
    match a {
        Action::SetHeader(n, f) => Edit::Set(n.clone(), f.render_string(c).into_bytes()),
        Action::AddHeader(n, f) => Edit::Add(n.clone(), f.render_string(c).into_bytes()),
        Action::DelHeader(n) => Edit::Del(n.clone()),
        Action::ReplaceHeader(n, re, f) => {
            Edit::ReplaceHeader(n.clone(), re.clone(), f.render_string(c))
        }
        Action::ReplaceValue(n, re, f) => {
            Edit::ReplaceValue(n.clone(), re.clone(), f.render_string(c))
        }
        Action::ReplaceUri(re, f) => Edit::ReplaceUri(re.clone(), f.render_string(c)),
        Action::ReplacePath(re, f) => Edit::ReplacePath(re.clone(), f.render_string(c)),
        Action::SetPath(f) => Edit::Path(f.render_string(c)),
        Action::SetPathq(f) => Edit::Pathq(f.render_string(c)),
        Action::SetQuery(f) => Edit::Query(f.render_string(c)),
        Action::SetUri(f) => Edit::Uri(f.render_string(c)),
        Action::SetMethod(f) => Edit::Method(f.render_string(c)),
        _ => Edit::None,
    }
}

fn apply_headers_edit(h: &mut Headers, e: Edit) {
    match e {
        Edit::Set(n, v) => h.set(&n, v),
        Edit::Add(n, v) => h.add(&n, v),
        Edit::Del(n) => {
            h.remove(&n);
        }
        Edit::ReplaceHeader(n, re, rep) => {
            // The regex may match anywhere; the whole value becomes the replacement.
            for hd in h.0.iter_mut().filter(|x| x.name.eq_ignore_ascii_case(&n)) {
                let v = String::from_utf8_lossy(&hd.value).into_owned();
                if let Some(caps) = re.captures(&v) {
                    hd.value = exp_replace(&rep, &caps);
                }
            }
        }
        Edit::ReplaceValue(n, re, rep) => {
            // Each comma-separated value that matches is replaced, together with the
            // blanks around it; the others stay as they were.
            for hd in h.0.iter_mut().filter(|x| x.name.eq_ignore_ascii_case(&n)) {
                let v = String::from_utf8_lossy(&hd.value).into_owned();
                let mut out: Vec<u8> = Vec::with_capacity(v.len());
                for (i, part) in split_values(&v).into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match re.captures(part.trim_matches([' ', '\t'])) {
                        Some(caps) => out.extend_from_slice(&exp_replace(&rep, &caps)),
                        None => out.extend_from_slice(part.as_bytes()),
                    }
                }
                hd.value = out;
            }
        }
        _ => {}
    }
}

fn apply_req_edit(req: &mut RequestHead, e: Edit) {
    match e {
        Edit::ReplaceUri(re, rep) => {
            if let Some(caps) = re.captures(&req.uri) {
                req.uri = String::from_utf8_lossy(&exp_replace(&rep, &caps)).into_owned();
            }
        }
        Edit::ReplacePath(re, rep) => {
            let path = req.path().to_string();
            if let Some(caps) = re.captures(&path) {
                let new = String::from_utf8_lossy(&exp_replace(&rep, &caps)).into_owned();
                set_path(req, &new);
            }
        }
        Edit::Path(p) => set_path(req, &p),
        Edit::Pathq(pq) => {
            let prefix_len = req.uri.len() - req.path_and_query().len();
            req.uri = format!("{}{}", &req.uri[..prefix_len], pq);
        }
        Edit::Query(q) => {
            let path_end = path_end(req);
            let base = req.uri[..path_end].to_string();
            req.uri = if q.is_empty() {
                base
            } else {
                format!("{base}?{}", q.strip_prefix('?').unwrap_or(&q))
            };
        }
        Edit::Uri(u) => req.uri = u,
        Edit::Method(m) => req.method = m,
        other => apply_headers_edit(&mut req.headers, other),
    }
}

/// Byte offset where the path ends in the target (start of `?` or the end).
fn path_end(req: &RequestHead) -> usize {
    let pq_start = req.uri.len() - req.path_and_query().len();
    match req.uri[pq_start..].find('?') {
        Some(i) => pq_start + i,
        None => req.uri.len(),
    }
}

fn set_path(req: &mut RequestHead, p: &str) {
    let pq_start = req.uri.len() - req.path_and_query().len();
    let end = path_end(req);
    req.uri = format!("{}{}{}", &req.uri[..pq_start], p, &req.uri[end..]);
}

fn action(
    a: &HttpAction,
    span: crate::config::source::Span,
    errors: &super::errors::ErrorPages,
    d: &mut Diags,
) -> Option<Action> {
    Some(match a {
        HttpAction::Allow => Action::Allow,
        HttpAction::Deny { status, reply } => Action::Deny(
            status.unwrap_or(403),
            match reply {
                Some(r) => Some(ret(r, span, errors, d)?),
                None => None,
            },
        ),
        HttpAction::Tarpit { status, reply } => Action::Tarpit(
            status.unwrap_or(500),
            match reply {
                Some(r) => Some(ret(r, span, errors, d)?),
                None => None,
            },
        ),
        HttpAction::Auth { realm } => Action::Auth(realm.clone()),
        HttpAction::Redirect(r) => Action::Redirect(redirect(r, span, d)?),
        HttpAction::Return(r) => Action::Return(ret(r, span, errors, d)?),
        HttpAction::SetHeader { name, value } => {
            Action::SetHeader(name.clone(), lf(value, span, d)?)
        }
        HttpAction::AddHeader { name, value } => {
            Action::AddHeader(name.clone(), lf(value, span, d)?)
        }
        HttpAction::DelHeader { name } => Action::DelHeader(name.clone()),
        HttpAction::ReplaceHeader {
            name,
            regex: r,
            replace,
        } => Action::ReplaceHeader(
            name.clone(),
            regex(r, false, span, d)?,
            lf(replace, span, d)?,
        ),
        HttpAction::ReplaceValue {
            name,
            regex: r,
            replace,
        } => Action::ReplaceValue(
            name.clone(),
            regex(r, false, span, d)?,
            lf(replace, span, d)?,
        ),
        HttpAction::ReplaceUri { regex: r, replace } => {
            Action::ReplaceUri(regex(r, false, span, d)?, lf(replace, span, d)?)
        }
        HttpAction::ReplacePath { regex: r, replace } => {
            Action::ReplacePath(regex(r, false, span, d)?, lf(replace, span, d)?)
        }
        HttpAction::SetPath(f) => Action::SetPath(lf(f, span, d)?),
        HttpAction::SetPathq(f) => Action::SetPathq(lf(f, span, d)?),
        HttpAction::SetQuery(f) => Action::SetQuery(lf(f, span, d)?),
        HttpAction::SetUri(f) => Action::SetUri(lf(f, span, d)?),
        HttpAction::SetMethod(f) => Action::SetMethod(lf(f, span, d)?),
        HttpAction::SetStatus { status, reason } => Action::SetStatus(*status, reason.clone()),
        HttpAction::SetVar { name, expr } => match CompiledSample::compile(expr) {
            Ok(s) => Action::SetVar(name.clone(), s),
            Err(e) => {
                d.error(span, format!("cannot prepare set-var: {e}"));
                return None;
            }
        },
        HttpAction::UnsetVar { name } => Action::UnsetVar(name.clone()),
        HttpAction::UseService(s) if s == "prometheus-exporter" => {
            Action::Service(Service::Prometheus)
        }
        HttpAction::UseService(s) => {
            d.warn(
                span,
                format!(
                    "use-service {s} is not applied by this version's runtime; the rule is skipped"
                ),
            );
            return None;
        }
        HttpAction::SetLogLevel(l) => Action::SetLogLevel(
            crate::model::LEVELS
                .iter()
                .position(|x| x == l)
                .map_or(-1, |i| i as i8),
        ),
        HttpAction::Capture { .. } => {
            d.warn(
                span,
                "capture is not applied by this version's runtime (captures appear in logs, which come later); the rule is skipped",
            );
            return None;
        }
    })
}

fn redirect(r: &Redirect, span: crate::config::source::Span, d: &mut Diags) -> Option<RedirectRt> {
    Some(RedirectRt {
        kind: match &r.kind {
            RedirectKind::Location(f) => RedirectKindRt::Location(lf(f, span, d)?),
            RedirectKind::Prefix(f) => RedirectKindRt::Prefix(lf(f, span, d)?),
            RedirectKind::Scheme(f) => RedirectKindRt::Scheme(lf(f, span, d)?),
        },
        code: r.code,
        drop_query: r.drop_query,
        append_slash: r.append_slash,
        set_cookie: r.set_cookie.clone(),
        clear_cookie: r.clear_cookie.clone(),
    })
}

fn ret(
    r: &ReturnSpec,
    span: crate::config::source::Span,
    errors: &super::errors::ErrorPages,
    d: &mut Diags,
) -> Option<ReturnRt> {
    let body = match &r.body {
        ReturnBody::None => ReturnBodyRt::None,
        ReturnBody::DefaultError => ReturnBodyRt::Raw(errors.get(r.status).into_owned()),
        ReturnBody::Errorfile(_, b) => ReturnBodyRt::Raw(b.clone()),
        ReturnBody::File(_, b) => ReturnBodyRt::Bytes(b.clone()),
        ReturnBody::String(s) => ReturnBodyRt::Bytes(s.clone().into_bytes()),
        ReturnBody::LfString(f) | ReturnBody::LfFile(_, f) => ReturnBodyRt::Lf(lf(f, span, d)?),
    };
    let mut headers = Vec::with_capacity(r.headers.len());
    for (n, f) in &r.headers {
        headers.push((n.clone(), lf(f, span, d)?));
    }
    Some(ReturnRt {
        status: r.status,
        content_type: r.content_type.clone(),
        body,
        headers,
    })
}

fn render_return(
    r: &ReturnRt,
    req: Option<&RequestHead>,
    res: Option<&ResponseHead>,
    vars: &Vars,
    base: &EvalCtx,
) -> Vec<u8> {
    let c = EvalCtx {
        conn: base.conn,
        req,
        res,
        vars,
        info: base.info,
    };
    let body: Vec<u8> = match &r.body {
        ReturnBodyRt::Raw(b) => return b.clone(),
        ReturnBodyRt::None => Vec::new(),
        ReturnBodyRt::Bytes(b) => b.clone(),
        ReturnBodyRt::Lf(f) => f.render_string(&c).into_bytes(),
    };
    // No length for the statuses that never have a body, as HAProxy.
    let bodyless = matches!(r.status, 100..=199 | 204 | 304);
    // HAProxy's order: the `hdr` headers, then content-length and content-type.
    let mut out = format!("HTTP/1.1 {} {}\r\n", r.status, status_reason(r.status)).into_bytes();
    for (n, f) in &r.headers {
        out.extend_from_slice(
            format!("{}: {}\r\n", n.to_ascii_lowercase(), f.render_string(&c)).as_bytes(),
        );
    }
    if !bodyless {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if let Some(ct) = &r.content_type {
        out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

fn render_redirect(rd: &RedirectRt, req: &RequestHead, vars: &Vars, base: &EvalCtx) -> Vec<u8> {
    let c = EvalCtx {
        conn: base.conn,
        req: Some(req),
        res: None,
        vars,
        info: base.info,
    };
    // HAProxy's order: the path with its query (unless drop-query), then append-slash on
    // what was built, so a kept query gets the slash after it.
    let pathq = match req.path_and_query() {
        "" => "/",
        p => p,
    };
    let path = if rd.drop_query {
        pathq.split('?').next().unwrap_or(pathq)
    } else {
        pathq
    };
    let slash = |mut s: String| -> String {
        if rd.append_slash && !s.is_empty() && !s.ends_with('/') {
            s.push('/');
        }
        s
    };
    let location = match &rd.kind {
        RedirectKindRt::Location(f) => f.render_string(&c),
        RedirectKindRt::Prefix(f) => {
            let prefix = f.render_string(&c);
            // A prefix of "/" alone keeps the path as is (HAProxy's rule).
            let prefix = if prefix == "/" { String::new() } else { prefix };
            slash(format!("{prefix}{path}"))
        }
        RedirectKindRt::Scheme(f) => {
            let scheme = f.render_string(&c);
            // The Host header only, as HAProxy (empty without one).
            let host = req.headers.get_str("host").unwrap_or_default();
            slash(format!("{scheme}://{host}{path}"))
        }
    };
    // Header order and the cache-control rule as HAProxy 2.6 writes redirects.
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nlocation: {location}\r\n",
        rd.code,
        reason(rd.code)
    );
    if matches!(rd.code, 302 | 303 | 307) {
        out.push_str("cache-control: no-cache\r\n");
    }
    if let Some(ck) = &rd.set_cookie {
        out.push_str(&format!("set-cookie: {ck}; path=/;\r\n"));
    }
    if let Some(ck) = &rd.clear_cookie {
        out.push_str(&format!("set-cookie: {ck}; path=/; Max-Age=0;\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_replace_as_haproxy() {
        let re = Regex::new("b(.)(x)?").expect("regex");
        let caps = re.captures("abcd").expect("match");
        assert_eq!(exp_replace(r"B\1[\2]\x41\\\$", &caps), b"Bc[]A\\$");
        assert_eq!(exp_replace(r"trailing\", &caps), b"trailing");
    }

    #[test]
    fn values_split_outside_quotes() {
        assert_eq!(split_values(r#"a, "b,c" ,d"#), ["a", r#" "b,c" "#, "d"]);
        assert_eq!(split_values(""), [""]);
    }

    #[test]
    fn legacy_line_capitalisation() {
        assert_eq!(header_line("x-forwarded-for", b"1"), "X-Forwarded-For: 1");
    }
}

//! Proxy keywords that stand alone: mode, limits, identity, logging, error pages,
//! captures, monitor-uri, connection reuse.

use super::{Ctx, ProxyDraft, ProxyKw, R, Stmt};
use crate::config::lexer::Word;
use crate::config::logformat::parse_log_format;
use crate::model::{Capture, ErrorPage, HttpReuse, Mode, RetryOn};
use std::path::PathBuf;

use super::supported as kw;

pub const KEYWORDS: &[ProxyKw] = &[
    kw("mode", "dflb", mode),
    kw("maxconn", "dfl-", |c, d, s| {
        one_uint(c, s).map(|v| d.proxy.maxconn = Some(v))
    }),
    kw("fullconn", "d-lb", |c, d, s| {
        one_uint(c, s).map(|v| d.proxy.fullconn = Some(v))
    }),
    kw("backlog", "dfl-", |c, d, s| {
        one_uint(c, s).map(|v| d.proxy.backlog = Some(v))
    }),
    kw("retries", "d-lb", |c, d, s| {
        one_uint(c, s).map(|v| d.proxy.retries = v)
    }),
    kw("retry-on", "d-lb", retry_on),
    kw("description", "-flb", |c, d, s| {
        s.need(c, 1, "a text")?;
        d.proxy.description = Some(s.joined(1));
        Ok(())
    }),
    kw("disabled", "dflb", |c, d, s| {
        s.max_args(c, 0, "").map(|_| d.proxy.disabled = true)
    }),
    kw("enabled", "dflb", |c, d, s| {
        s.max_args(c, 0, "").map(|_| d.proxy.disabled = false)
    }),
    kw("id", "-flb", |c, d, s| {
        let v = one_uint(c, s)?;
        if v == 0 {
            return Err(c.err(s.span_of(1), "a proxy 'id' must be strictly positive"));
        }
        d.proxy.id = Some(v);
        Ok(())
    }),
    kw("log", "dflb", log),
    kw("log-format", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a log-format string")?;
        s.max_args(c, 1, "\"<format>\" (quote it when it has spaces)")?;
        let lf = parse_log_format(&w.text).map_err(|e| c.value_err(w, "log-format", e))?;
        log_time_fetches(c, w, &lf)?;
        d.proxy.log_format = Some(lf);
        d.mark("log-format", s.line.span);
        Ok(())
    }),
    kw("log-format-sd", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a log-format string")?;
        s.max_args(c, 1, "\"<format>\" (quote it when it has spaces)")?;
        let lf = parse_log_format(&w.text).map_err(|e| c.value_err(w, "log-format-sd", e))?;
        log_time_fetches(c, w, &lf)?;
        d.proxy.log_format_sd = Some(lf);
        Ok(())
    }),
    kw("error-log-format", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a log-format string")?;
        s.max_args(c, 1, "\"<format>\" (quote it when it has spaces)")?;
        let lf = parse_log_format(&w.text).map_err(|e| c.value_err(w, "error-log-format", e))?;
        d.proxy.error_log_format = Some(lf);
        Ok(())
    }),
    kw("log-tag", "dflb", |c, d, s| {
        let w = s.need(c, 1, "a tag")?;
        d.proxy.log_tag = Some(w.text.clone());
        Ok(())
    }),
    kw("errorfile", "dflb", errorfile),
    kw("errorfiles", "dflb", errorfiles),
    kw("errorloc", "dflb", |c, d, s| errorloc(c, d, s, 302)),
    kw("http-error", "dflb", http_error),
    kw("errorloc302", "dflb", |c, d, s| errorloc(c, d, s, 302)),
    kw("errorloc303", "dflb", |c, d, s| errorloc(c, d, s, 303)),
    kw("capture", "-fl-", capture),
    kw("monitor-uri", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a URI")?;
        if !w.text.starts_with('/') && !w.text.contains("://") {
            c.warn(w.span, format!("monitor-uri '{}' does not start with '/': it will never match a normal request", w.text));
        }
        d.proxy.monitor_uri = Some(w.text.clone());
        Ok(())
    }),
    kw("http-reuse", "d-lb", |c, d, s| {
        let w = s.need(c, 1, "never, safe, aggressive or always")?;
        d.proxy.http_reuse = match w.text.as_str() {
            "never" => HttpReuse::Never,
            "safe" => HttpReuse::Safe,
            "aggressive" => HttpReuse::Aggressive,
            "always" => HttpReuse::Always,
            _ => {
                return Err(c.err_hint(
                    w.span,
                    format!("unknown http-reuse mode '{}'", w.text),
                    "modes: never safe aggressive always",
                ));
            }
        };
        Ok(())
    }),
    kw("rate-limit", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "'sessions <rate>'")?;
        if w.text != "sessions" {
            return Err(c.err_hint(
                w.span,
                format!("unknown rate-limit '{}'", w.text),
                "usage: rate-limit sessions <rate>",
            ));
        }
        d.proxy.rate_limit_sessions = Some(s.uint(c, 2, "a rate")?);
        Ok(())
    }),
    kw("unique-id-format", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a log-format string")?;
        d.proxy.unique_id_format =
            Some(parse_log_format(&w.text).map_err(|e| c.value_err(w, "unique-id-format", e))?);
        Ok(())
    }),
    kw("unique-id-header", "dfl-", |c, d, s| {
        let w = s.need(c, 1, "a header name")?;
        d.proxy.unique_id_header = Some(w.text.clone());
        Ok(())
    }),
    kw("max-keep-alive-queue", "d-lb", |c, d, s| {
        let w = s.need(c, 1, "a number")?;
        d.proxy.max_keep_alive_queue = Some(
            w.text
                .parse()
                .map_err(|_| c.err(w.span, format!("invalid number '{}'", w.text)))?,
        );
        Ok(())
    }),
];

fn one_uint(ctx: &mut Ctx, s: &Stmt) -> R<u32> {
    let v = s.uint(ctx, 1, "a number")?;
    s.max_args(ctx, 1, "<number>")?;
    Ok(v)
}

const RETRY_ON_WORDS: &[&str] = &[
    "none",
    "conn-failure",
    "empty-response",
    "junk-response",
    "response-timeout",
    "0rtt-rejected",
    "all-retryable-errors",
];

/// `retry-on <event>...`: replaces any earlier setting (also an inherited one).
fn retry_on(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    s.need(
        ctx,
        1,
        "at least one event (conn-failure, empty-response, ...)",
    )?;
    let words = s.args_from(1);
    let mut r = RetryOn::none();
    for w in words {
        match w.text.as_str() {
            "none" if words.len() > 1 => {
                return Err(ctx.err_hint(
                    w.span,
                    "'retry-on none' must be used alone",
                    "remove 'none', or the other events",
                ));
            }
            "none" => {}
            "conn-failure" => r.conn_failure = true,
            "empty-response" => r.empty_response = true,
            "junk-response" => r.junk_response = true,
            "response-timeout" => r.response_timeout = true,
            "0rtt-rejected" => r.zero_rtt_rejected = true,
            "all-retryable-errors" => {
                r.conn_failure = true;
                r.empty_response = true;
                r.junk_response = true;
                r.response_timeout = true;
                r.zero_rtt_rejected = true;
                r.statuses.extend([500, 502, 503, 504]);
            }
            t => match t.parse::<u16>() {
                Ok(code) if RetryOn::STATUSES.contains(&code) => r.statuses.push(code),
                _ => {
                    let codes = RetryOn::STATUSES
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(" ");
                    let hint = match crate::config::diag::did_you_mean(
                        t,
                        RETRY_ON_WORDS.iter().copied(),
                    ) {
                        Some(m) => format!("did you mean '{m}'?"),
                        None if t.bytes().all(|b| b.is_ascii_digit()) => {
                            format!("status codes: {codes}")
                        }
                        None => {
                            format!("events: {} or a status ({codes})", RETRY_ON_WORDS.join(" "))
                        }
                    };
                    return Err(ctx.err_hint(
                        w.span,
                        format!("unknown retry-on event '{t}'"),
                        hint,
                    ));
                }
            },
        }
    }
    r.statuses.sort_unstable();
    r.statuses.dedup();
    d.proxy.retry_on = r;
    Ok(())
}

fn mode(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let w = s.need(ctx, 1, "tcp or http")?;
    d.proxy.mode = match w.text.as_str() {
        "tcp" => Mode::Tcp,
        "http" => Mode::Http,
        "health" => {
            ctx.warn_hint(
                w.span,
                "'mode health' is HAProxy 1.x syntax, removed in 2.4",
                "use 'monitor-uri' or 'http-request return' instead",
            );
            Mode::Health
        }
        _ => {
            let hint = match crate::config::diag::did_you_mean(&w.text, ["tcp", "http"]) {
                Some(m) => format!("did you mean '{m}'?"),
                None => "modes: tcp, http".into(),
            };
            return Err(ctx.err_hint(w.span, format!("unknown proxy mode '{}'", w.text), hint));
        }
    };
    d.mark("mode", s.line.span);
    s.max_args(ctx, 1, "tcp|http")
}

fn log(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    if s.no {
        d.proxy.logs.clear();
        d.set_at.remove("log global");
        return s.max_args(ctx, 0, "");
    }
    match super::log::parse_target(ctx, s)? {
        Some(t) => d.proxy.logs.push(t),
        // Resolved once the global section is known (it may come later in the file).
        None => d.mark("log global", s.line.span),
    }
    Ok(())
}

/// Status codes HAProxy can produce and thus accepts in `errorfile`/`errorloc`.
pub const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

fn error_code(ctx: &mut Ctx, s: &Stmt) -> R<u16> {
    let w = s.need(ctx, 1, "<code> <file>")?;
    match w.text.parse::<u16>() {
        Ok(c) if ERROR_CODES.contains(&c) => Ok(c),
        _ => Err(ctx.err_hint(
            w.span,
            format!("status code '{}' cannot be customized", w.text),
            format!(
                "codes: {}",
                ERROR_CODES
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )),
    }
}

fn errorfile(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let (code, page) = read_errorfile(ctx, s)?;
    d.proxy.errorfiles.insert(code, page);
    Ok(())
}

/// `errorfile CODE FILE`, in a proxy or an `http-errors` section.
fn read_errorfile(ctx: &mut Ctx, s: &Stmt) -> R<(u16, ErrorPage)> {
    let code = error_code(ctx, s)?;
    let w = s.need(ctx, 2, "a file holding a raw HTTP response")?;
    s.max_args(ctx, 2, "<code> <file>")?;
    let path = PathBuf::from(&w.text);
    let content = if ctx.opts.check_files {
        match std::fs::read(&path) {
            Ok(c) => c,
            Err(e) => {
                return Err(ctx.err_hint(
                    w.span,
                    format!("error reading errorfile '{}': {e}", w.text),
                    "the file must exist and be readable; rproxy's defaults are in errors/ (e.g. errors/503.http)",
                ));
            }
        }
    } else {
        Vec::new()
    };
    let content = if ctx.opts.check_files {
        check_errorfile(ctx, w, content)?
    } else {
        content
    };
    Ok((code, ErrorPage::File { path, content }))
}

/// An errorfile's content checked as HAProxy checks it when loading, so that a bad page
/// stops the start instead of reaching clients; truncated to the buffer size with a
/// warning, as HAProxy does.
fn check_errorfile(ctx: &mut Ctx, w: &Word, mut content: Vec<u8>) -> R<Vec<u8>> {
    // HAProxy truncates at tune.bufsize as known at that line; the default here.
    let bufsize = 16384;
    if content.len() > bufsize {
        ctx.warn_hint(
            w.span,
            format!(
                "custom error message file '{}' larger than {bufsize} bytes; truncating",
                w.text
            ),
            "keep error pages under tune.bufsize",
        );
        content.truncate(bufsize);
    }
    if let Err(e) = crate::runtime::http::errors::parse_page(&content) {
        return Err(ctx.err_hint(
            w.span,
            format!("errorfile '{}': {e}", w.text),
            "an errorfile holds a raw response: 'HTTP/1.1 503 Service Unavailable', headers (with a Content-length matching the body, no chunking), a blank line, the body",
        ));
    }
    Ok(content)
}

/// `http-error status <code> [content-type <type>] [<payload>] [hdr <name> <value>]*`:
/// the answer for `code`, kept as an error page (the last of errorfile, errorloc and
/// http-error for a status wins). HAProxy's reply: the `hdr` headers, `content-length`,
/// then `content-type`. Log-format values are not evaluated in error pages by this
/// runtime yet: such a statement is warned about and skipped.
fn http_error(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    use crate::model::expr::{LfNode, LogFormat};
    use crate::model::proxy::ReturnBody;
    const USAGE: &str = "usage: http-error status <code> [content-type <type>] [default-errorfiles|errorfile <file>|errorfiles <name>|file <file>|string <str>] [hdr <name> <value>]*";
    let w = s.need(ctx, 1, "'status <code>'")?;
    if w.text != "status" {
        return Err(ctx.err_hint(
            w.span,
            format!("expected 'status', got '{}'", w.text),
            USAGE,
        ));
    }
    let cw = s.need(ctx, 2, "a status code")?;
    let code = match cw.text.parse::<u16>() {
        Ok(c) if ERROR_CODES.contains(&c) => c,
        _ => {
            return Err(ctx.err_hint(
                cw.span,
                format!("status code '{}' cannot be customized", cw.text),
                USAGE,
            ));
        }
    };
    if s.arg(3).is_some_and(|w| w.text == "errorfiles") {
        let name = s.need(ctx, 4, "an http-errors section name")?;
        let Some(section) = ctx.http_errors.iter().find(|h| h.name == name.text) else {
            return Err(ctx.err_hint(
                name.span,
                format!("unknown http-errors section '{}'", name.text),
                "declare the http-errors section before this line",
            ));
        };
        let page = section
            .pages
            .get(&code)
            .cloned()
            .unwrap_or_else(|| builtin_page(code));
        d.proxy.errorfiles.insert(code, page);
        return Ok(());
    }
    let (spec, _) = super::rules::return_spec(ctx, s, 1)?;
    let literal = |f: &LogFormat| -> Option<String> {
        f.0.iter()
            .map(|n| match n {
                LfNode::Literal(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.concat())
    };
    let headers: Option<Vec<(String, String)>> = spec
        .headers
        .iter()
        .map(|(n, f)| literal(f).map(|v| (n.clone(), v)))
        .collect();
    let body: Option<Vec<u8>> = match &spec.body {
        ReturnBody::File(_, b) => Some(b.clone()),
        ReturnBody::String(t) => Some(t.clone().into_bytes()),
        ReturnBody::None | ReturnBody::DefaultError | ReturnBody::Errorfile(..) => Some(Vec::new()),
        ReturnBody::LfString(_) | ReturnBody::LfFile(..) => None,
    };
    let (Some(headers), Some(body)) = (headers, body) else {
        ctx.warn_hint(
            s.line.words[0].span,
            "http-error with log-format values is not applied by this version's runtime; the statement is skipped",
            "use literal values, or an errorfile",
        );
        return Ok(());
    };
    let page = match spec.body {
        ReturnBody::DefaultError => builtin_page(code),
        ReturnBody::Errorfile(path, content) => {
            let content = if ctx.opts.check_files {
                let fw = s
                    .args_from(3)
                    .iter()
                    .skip_while(|w| w.text != "errorfile")
                    .nth(1)
                    .unwrap_or(w);
                check_errorfile(ctx, fw, content)?
            } else {
                content
            };
            ErrorPage::File { path, content }
        }
        _ => {
            let mut raw = format!(
                "HTTP/1.1 {code} {}\r\n",
                crate::runtime::http::errors::reason(code)
            );
            for (n, v) in &headers {
                raw.push_str(&format!("{n}: {v}\r\n"));
            }
            raw.push_str(&format!("content-length: {}\r\n", body.len()));
            if let Some(ct) = &spec.content_type {
                raw.push_str(&format!("content-type: {ct}\r\n"));
            }
            raw.push_str("\r\n");
            let mut content = raw.into_bytes();
            content.extend_from_slice(&body);
            ErrorPage::File {
                path: PathBuf::from(format!("<http-error status {code}>")),
                content,
            }
        }
    };
    d.proxy.errorfiles.insert(code, page);
    Ok(())
}

/// The built-in page for `code`, as an explicit page (`default-errorfiles`).
fn builtin_page(code: u16) -> ErrorPage {
    ErrorPage::File {
        path: PathBuf::from(format!("<built-in {code}>")),
        content: crate::runtime::http::errors::default_reply(code)
            .raw()
            .to_vec(),
    }
}
/// `errorfiles NAME [CODE...]`: imports pages of an `http-errors` section, overriding pages
/// set before it, as if each were an `errorfile` line here.
fn errorfiles(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    let name = s.need(ctx, 1, "an http-errors section name")?.text.clone();
    let mut codes = Vec::new();
    let mut i = 2;
    while let Some(w) = s.arg(i) {
        match w.text.parse::<u16>() {
            Ok(c) if ERROR_CODES.contains(&c) => codes.push(c),
            _ => {
                return Err(ctx.err_hint(
                    w.span,
                    format!("status code '{}' cannot be customized", w.text),
                    "usage: errorfiles <http-errors-section> [<code> ...]",
                ));
            }
        }
        i += 1;
    }
    let pages = ctx
        .http_errors
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.pages.clone());
    match pages {
        Some(pages) => {
            for (code, page) in pages {
                if codes.is_empty() || codes.contains(&code) {
                    d.proxy.errorfiles.insert(code, page);
                }
            }
        }
        // Declared further down: resolved when every section is read.
        None => d
            .proxy
            .errorfiles_refs
            .push(crate::model::proxy::ErrorfilesRef {
                section: name,
                codes,
                span: s.line.span,
            }),
    }
    Ok(())
}

/// An `http-errors NAME` section.
pub fn http_errors_section(
    ctx: &mut Ctx,
    sec: &crate::config::ast::Section,
) -> Option<crate::model::HttpErrors> {
    let Some(name) = sec.name() else {
        ctx.err_hint(
            sec.header.words[0].span,
            "'http-errors' expects a name",
            "usage: http-errors <name>",
        );
        return None;
    };
    let mut h = crate::model::HttpErrors {
        name: name.text.clone(),
        pages: Default::default(),
        span: sec.header.span,
    };
    for line in &sec.statements {
        let s = Stmt {
            line,
            kw: 0,
            no: false,
            default: false,
        };
        let kw = &line.words[0];
        if kw.text == "errorfile" {
            if let Ok((code, page)) = read_errorfile(ctx, &s) {
                h.pages.insert(code, page);
            }
        } else {
            super::unknown(
                ctx,
                kw.span,
                "keyword",
                &kw.text,
                "http-errors",
                vec!["errorfile"],
            );
        }
    }
    Some(h)
}

fn errorloc(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt, redirect: u16) -> R {
    let code = error_code(ctx, s)?;
    let w = s.need(ctx, 2, "a URL")?;
    s.max_args(ctx, 2, "<code> <url>")?;
    d.proxy.errorfiles.insert(
        code,
        ErrorPage::Location {
            url: w.text.clone(),
            code: redirect,
        },
    );
    Ok(())
}

fn capture(ctx: &mut Ctx, d: &mut ProxyDraft, s: &Stmt) -> R {
    const USAGE: &str =
        "cookie <name> len <n> | request header <name> len <n> | response header <name> len <n>";
    let what = s.need(ctx, 1, USAGE)?;
    let (name_idx, kind) = match what.text.as_str() {
        "cookie" => (2, 0),
        "request" | "response" => {
            let h = s.need(ctx, 2, "'header'")?;
            if h.text != "header" {
                return Err(ctx.err_hint(
                    h.span,
                    format!("expected 'header', got '{}'", h.text),
                    format!("usage: capture {USAGE}"),
                ));
            }
            (3, if what.text == "request" { 1 } else { 2 })
        }
        _ => {
            return Err(ctx.err_hint(
                what.span,
                format!("unknown capture '{}'", what.text),
                format!("usage: capture {USAGE}"),
            ));
        }
    };
    let name = s.need(ctx, name_idx, "a name")?.text.clone();
    let l = s.need(ctx, name_idx + 1, "'len <n>'")?;
    if l.text != "len" {
        return Err(ctx.err_hint(
            l.span,
            format!("expected 'len', got '{}'", l.text),
            format!("usage: capture {USAGE}"),
        ));
    }
    let len = s.uint(ctx, name_idx + 2, "a length")?;
    s.max_args(ctx, name_idx + 2, USAGE)?;
    d.proxy.captures.push(match kind {
        0 => Capture::Cookie { name, len },
        1 => Capture::RequestHeader { name, len },
        _ => Capture::ResponseHeader { name, len },
    });
    Ok(())
}

/// Fetches that read the request or response head, which is gone when a log line is
/// written: HAProxy rejects them in `log-format`, and so does rproxy.
const NOT_AT_LOG_TIME: &[&str] = &[
    "path",
    "url",
    "base",
    "query",
    "req.ver",
    "res.ver",
    "url_param",
    "urlp",
    "http_auth",
    "http_auth_group",
    "req.body",
    "req.hdrs",
    "hdr",
    "fhdr",
    "req.hdr",
    "req.fhdr",
    "req.cook",
    "cook",
    "res.hdr",
    "res.fhdr",
    "shdr",
    "res.cook",
    "scook",
    "hdr_cnt",
    "req.hdr_cnt",
    "req.cook_cnt",
];

fn log_time_fetches(
    ctx: &mut Ctx,
    w: &crate::config::lexer::Word,
    lf: &crate::model::expr::LogFormat,
) -> R {
    for node in &lf.0 {
        if let crate::model::expr::LfNode::Sample { sample, .. } = node {
            let name = sample.fetch.name.as_str();
            if NOT_AT_LOG_TIME.contains(&name)
                || name.starts_with("url_param")
                || name.starts_with("path_")
                || name.starts_with("url_")
            {
                return Err(ctx.err_hint(
                    w.span,
                    format!("log-format: sample fetch '{name}' cannot be used here: the HTTP request headers are no longer available when the log line is written"),
                    "capture it instead: 'capture request header Host len 64' then %hr, or 'http-request capture' and %[capture.req.hdr(0)]",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{lexer::ProcessEnv, load_str};
    use crate::model::ErrorPage;

    fn page(dir: &str, code: u16) -> String {
        format!("{dir}/errors/{code}.http")
    }

    #[test]
    fn http_errors_sections_import_in_order() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let text = format!(
            "http-errors early\n  errorfile 503 {}\n  errorfile 403 {}\n\
             defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n\
             backend a\n  errorfile 403 {}\n  errorfiles early 503\n  server s 127.0.0.1:1\n\
             backend b\n  errorfiles late\n  errorfile 504 {}\n  server s 127.0.0.1:1\n\
             http-errors late\n  errorfile 502 {}\n",
            page(dir, 503),
            page(dir, 403),
            page(dir, 400),
            page(dir, 504),
            page(dir, 502),
        );
        let l = load_str("t.cfg", &text, &ProcessEnv);
        assert!(l.is_valid(), "{:?}", l.diags);
        let a = l.model.backend("a").expect("a");
        // Only 503 imported; the 403 set by hand stays.
        assert!(
            matches!(&a.errorfiles[&403], ErrorPage::File { path, .. } if path.ends_with("400.http"))
        );
        assert!(a.errorfiles.contains_key(&503));
        let b = l.model.backend("b").expect("b");
        assert!(b.errorfiles.contains_key(&502) && b.errorfiles.contains_key(&504));
        let bad = load_str(
            "t.cfg",
            "defaults\n  mode http\nbackend a\n  errorfiles nope\n  server s 127.0.0.1:1\n",
            &ProcessEnv,
        );
        assert!(!bad.is_valid());
    }

    fn retry_on_of(lines: &str) -> Result<crate::model::RetryOn, String> {
        let text = format!(
            "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n  retry-on 503\nbackend b\n{lines}  server s 127.0.0.1:1\n"
        );
        let l = load_str("t.cfg", &text, &ProcessEnv);
        if !l.is_valid() {
            return Err(l
                .diags
                .sorted()
                .iter()
                .map(|d| crate::config::diag::render(&l.sources, d, false))
                .collect::<Vec<_>>()
                .join("\n"));
        }
        Ok(l.model.backend("b").expect("b").retry_on.clone())
    }

    #[test]
    fn retry_on_events_parse_and_replace() {
        use crate::model::RetryOn;
        let codes = |v: &[u16]| RetryOn {
            statuses: v.to_vec(),
            ..RetryOn::none()
        };
        let ok: &[(&str, RetryOn)] = &[
            // Inherited from the defaults section.
            ("", codes(&[503])),
            ("  retry-on conn-failure\n", RetryOn::default()),
            ("  retry-on none\n", RetryOn::none()),
            (
                "  retry-on empty-response response-timeout\n",
                RetryOn {
                    empty_response: true,
                    response_timeout: true,
                    ..RetryOn::none()
                },
            ),
            // Not cumulative: the last line wins.
            (
                "  retry-on 404 503\n  retry-on junk-response 0rtt-rejected\n",
                RetryOn {
                    junk_response: true,
                    zero_rtt_rejected: true,
                    ..RetryOn::none()
                },
            ),
            ("  retry-on 504 401 504\n", codes(&[401, 504])),
            (
                "  retry-on all-retryable-errors 404\n",
                RetryOn {
                    conn_failure: true,
                    empty_response: true,
                    junk_response: true,
                    response_timeout: true,
                    zero_rtt_rejected: true,
                    statuses: vec![404, 500, 502, 503, 504],
                },
            ),
        ];
        for (lines, want) in ok {
            assert_eq!(retry_on_of(lines).as_ref(), Ok(want), "{lines}");
        }
        // (lines, what the rendered error must contain)
        let fail: &[(&str, &[&str])] = &[
            (
                "  retry-on\n",
                &["t.cfg:8:11", "'retry-on' expects at least one event"],
            ),
            (
                "  retry-on emtpy-response\n",
                &[
                    "t.cfg:8:12",
                    "unknown retry-on event 'emtpy-response'",
                    "did you mean 'empty-response'?",
                    "^^^^^^^^^^^^^^",
                ],
            ),
            (
                "  retry-on 418\n",
                &["unknown retry-on event '418'", "status codes: 401 403 404"],
            ),
            (
                "  retry-on conn-failure bogus\n",
                &["t.cfg:8:25", "events: none conn-failure"],
            ),
            (
                "  retry-on none 503\n",
                &["t.cfg:8:12", "'retry-on none' must be used alone"],
            ),
        ];
        for (lines, want) in fail {
            let e = retry_on_of(lines).expect_err(lines);
            for w in *want {
                assert!(e.contains(w), "{lines}: {w:?} not in\n{e}");
            }
        }
        let fe = load_str(
            "t.cfg",
            "defaults\n  mode http\nfrontend f\n  bind 127.0.0.1:1\n  retry-on none\n",
            &ProcessEnv,
        );
        // HAProxy rejects it there; rproxy, as for its other backend keywords, warns.
        assert!(fe.is_valid(), "{:?}", fe.diags);
        assert!(
            fe.diags
                .list
                .iter()
                .any(|d| d.message.contains("'retry-on' ignored")),
            "{:?}",
            fe.diags
        );
    }
}

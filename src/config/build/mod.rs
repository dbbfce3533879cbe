//! The model builder: AST → validated, defaults-resolved [`Config`]. Each keyword family
//! lives in its own module and registers its keywords in a per-section table carrying the
//! keyword's status; keywords the model does not carry yet come from [`super::pending`] and
//! are accepted with a warning, unsupported ones are errors naming the reason.

mod balance;
mod bind;
mod checks;
mod cookie;
mod finish;
mod global;
mod legacy;
mod log;
mod misc;
mod option;
mod rules;
mod server;
mod stats;
mod timeout;
mod userlist;

use std::collections::HashMap;
use std::time::Duration;

use super::ast::{Ast, Section, SectionKind};
use super::diag::{Diagnostic, Diags, did_you_mean};
use super::lexer::{Line, Word};
use super::pending::{self, Unmodelled};
use super::source::{SourceMap, Span};
use super::value::{self, ValueError};
use crate::model::{Caps, Config, Proxy};

/// Marker: an error was reported into the diagnostics; the statement is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported;

pub type R<T = ()> = Result<T, Reported>;

/// What the builder may do to the outside world while checking.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Resolve server hostnames (off for fuzzing and benches).
    pub resolve_hosts: bool,
    /// Check that referenced files (crt, errorfile, ca-file ...) are readable.
    pub check_files: bool,
    /// Check that `user`/`group` exist on this system.
    pub check_users: bool,
    /// `-dr`: a server hostname that does not resolve is not an error.
    pub ignore_resolve_failures: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            resolve_hosts: true,
            check_files: true,
            check_users: true,
            ignore_resolve_failures: false,
        }
    }
}

/// Shared state of one build: diagnostics and options.
pub struct Ctx<'a> {
    pub diags: &'a mut Diags,
    pub opts: &'a BuildOptions,
    /// `http-errors` sections read so far (`errorfiles` imports from them in place).
    pub http_errors: Vec<crate::model::HttpErrors>,
    /// `crt-base` and `ca-base` as set so far: HAProxy applies them while parsing, so
    /// only bind and server lines after them see them.
    pub crt_base: Option<std::path::PathBuf>,
    pub ca_base: Option<std::path::PathBuf>,
}

impl Ctx<'_> {
    pub fn err(&mut self, span: Span, msg: impl Into<String>) -> Reported {
        self.diags.error(span, msg);
        Reported
    }
    pub fn err_hint(
        &mut self,
        span: Span,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) -> Reported {
        self.diags.error_hint(span, msg, hint);
        Reported
    }
    pub fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.warn(span, msg);
    }
    pub fn warn_hint(&mut self, span: Span, msg: impl Into<String>, hint: impl Into<String>) {
        self.diags.warn_hint(span, msg, hint);
    }
    /// Reports a value error inside `word`, pointing at the offending part when the word
    /// was written without quotes or escapes (so offsets in its text match the source).
    pub fn value_err(&mut self, word: &Word, what: &str, e: ValueError) -> Reported {
        let mut span = word.span;
        let raw_len = (span.end - span.start) as usize;
        if !word.quoted && raw_len == word.text.len() && e.at < word.text.len() {
            span.start += e.at as u32;
            span.col += word
                .text
                .get(..e.at)
                .map(|p| p.chars().count())
                .unwrap_or(0) as u32;
        }
        let d = Diagnostic::error(
            span,
            format!("invalid {what} '{}': {}", word.text, e.message),
        );
        self.diags.push(match e.hint {
            Some(h) => d.with_hint(h),
            None => d,
        });
        Reported
    }
}

/// A statement as a handler sees it: the line, the index of the keyword word (1 after a
/// `no` or `default` prefix) and the prefix.
#[derive(Clone, Copy)]
pub struct Stmt<'a> {
    pub line: &'a Line,
    pub kw: usize,
    pub no: bool,
    pub default: bool,
}

impl<'a> Stmt<'a> {
    pub fn keyword(&self) -> &'a str {
        self.line.word(self.kw).unwrap_or("")
    }
    pub fn kw_span(&self) -> Span {
        self.line.span_of(self.kw)
    }
    /// Word `i` counted from the keyword (1 = first argument).
    pub fn arg(&self, i: usize) -> Option<&'a Word> {
        self.line.words.get(self.kw + i)
    }
    pub fn arg_str(&self, i: usize) -> Option<&'a str> {
        self.arg(i).map(|w| w.text.as_str())
    }
    /// Arguments from `i` on.
    pub fn args_from(&self, i: usize) -> &'a [Word] {
        self.line.words.get(self.kw + i..).unwrap_or(&[])
    }
    /// Arguments from `i` on joined with single spaces (free text such as `description`).
    pub fn joined(&self, i: usize) -> String {
        self.args_from(i)
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn nargs(&self) -> usize {
        self.line.words.len().saturating_sub(self.kw + 1)
    }
    /// Where argument `i` is, or where it should be.
    pub fn span_of(&self, i: usize) -> Span {
        self.line.span_of(self.kw + i)
    }
    /// The keyword and its sub-keyword (`option httplog`, `timeout client`) for messages.
    pub fn full_name(&self, words: usize) -> String {
        (0..words)
            .filter_map(|i| self.line.word(self.kw + i))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The keyword as the user thinks of it: with its sub-keyword for families such as
    /// `timeout connect` or `capture cookie`.
    pub fn phrase(&self, i: usize) -> String {
        const FAMILIES: &[&str] = &[
            "option",
            "timeout",
            "stats",
            "http-request",
            "http-response",
            "tcp-request",
            "capture",
            "http-check",
            "tcp-check",
            "monitor",
            "redirect",
        ];
        if i >= 2 && FAMILIES.contains(&self.keyword()) {
            self.full_name(2)
        } else {
            self.keyword().to_string()
        }
    }

    /// Argument `i`, or an error saying what is missing (`what`: "a time", "a server name").
    pub fn need(&self, ctx: &mut Ctx, i: usize, what: &str) -> R<&'a Word> {
        match self.arg(i) {
            Some(w) => Ok(w),
            None => Err(ctx.err(
                self.span_of(i),
                format!("'{}' expects {what}", self.phrase(i)),
            )),
        }
    }
    /// Errors when more than `max` arguments are given.
    pub fn max_args(&self, ctx: &mut Ctx, max: usize, usage: &str) -> R {
        if let Some(w) = self.arg(max + 1) {
            return Err(ctx.err_hint(
                w.span,
                format!(
                    "'{}' takes at most {max} argument(s), unexpected '{}'",
                    self.keyword(),
                    w.text
                ),
                format!("usage: {} {usage}", self.keyword()),
            ));
        }
        Ok(())
    }
    pub fn time(&self, ctx: &mut Ctx, i: usize) -> R<Duration> {
        let w = self.need(ctx, i, "a time")?;
        time_word(ctx, w, value::TimeUnit::Ms)
    }
    pub fn uint(&self, ctx: &mut Ctx, i: usize, what: &str) -> R<u32> {
        let w = self.need(ctx, i, what)?;
        parse_u32(ctx, w, what)
    }
}

pub fn parse_u32(ctx: &mut Ctx, w: &Word, what: &str) -> R<u32> {
    w.text.parse::<u32>().map_err(|_| {
        ctx.err_hint(
            w.span,
            format!("expected {what}, got '{}'", w.text),
            "write a plain decimal number",
        )
    })
}

/// Status of a keyword the builder handles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Modelled: the runtime gets it.
    Supported,
    /// HAProxy 1.x syntax, given its 1.x meaning, with a warning naming the modern form.
    Legacy(&'static str),
}

/// A keyword of a proxy section.
pub struct ProxyKw {
    pub name: &'static str,
    /// Four characters for defaults/frontend/listen/backend, `-` where not allowed.
    pub where_: &'static str,
    pub status: Status,
    pub handler: fn(&mut Ctx, &mut ProxyDraft, &Stmt) -> R,
}

/// A proxy under construction, with where some settings came from (for later checks).
#[derive(Debug, Clone, Default)]
pub struct ProxyDraft {
    pub proxy: Proxy,
    pub kind: Option<SectionKind>,
    /// Span of the statement that last set a named setting (`option forwardfor` ...).
    pub set_at: HashMap<String, Span>,
}

impl ProxyDraft {
    /// HAProxy's documented defaults for a proxy.
    pub fn fresh() -> ProxyDraft {
        let mut d = ProxyDraft::default();
        d.proxy.retries = 3;
        d
    }
    pub fn is_defaults(&self) -> bool {
        self.kind == Some(SectionKind::Defaults)
    }
    pub fn mark(&mut self, what: impl Into<String>, span: Span) {
        self.set_at.insert(what.into(), span);
    }
}

/// All proxy keyword tables, in lookup order.
fn proxy_tables() -> [&'static [ProxyKw]; 11] {
    [
        rules::KEYWORDS,
        misc::KEYWORDS,
        bind::KEYWORDS,
        server::KEYWORDS,
        balance::KEYWORDS,
        cookie::KEYWORDS,
        option::KEYWORDS,
        timeout::KEYWORDS,
        legacy::KEYWORDS,
        stats::KEYWORDS,
        checks::KEYWORDS,
    ]
}

/// Every proxy keyword the builder handles (supported or legacy), for the catalogue test.
pub fn proxy_keywords() -> Vec<(&'static str, &'static str, Status)> {
    proxy_tables()
        .iter()
        .flat_map(|t| t.iter().map(|k| (k.name, k.where_, k.status)))
        .collect()
}

fn find_proxy_kw(name: &str) -> Option<&'static ProxyKw> {
    proxy_tables()
        .into_iter()
        .flat_map(|t| t.iter())
        .find(|k| k.name == name)
}

/// Whether a sub-keyword allowed in `where_` applies to this proxy: an error in `defaults`
/// where it is not allowed, a warning (and ignored) when the proxy lacks the capability.
pub fn applies(ctx: &mut Ctx, d: &ProxyDraft, where_: &str, name: &str, span: Span) -> bool {
    let kind = d.kind.unwrap_or(SectionKind::Listen);
    if where_.as_bytes().get(section_index(kind)) != Some(&b'-') {
        return true;
    }
    if kind == SectionKind::Defaults {
        ctx.err_hint(
            span,
            format!("'{name}' is not allowed in 'defaults' section"),
            "move it to a frontend, backend or listen section",
        );
    } else {
        // The proxy lacks the other half: a frontend has no backend capability, and back.
        let missing = if kind == SectionKind::Frontend {
            "backend"
        } else {
            "frontend"
        };
        ctx.warn_hint(
            span,
            format!(
                "'{name}' ignored because {} '{}' has no {missing} capability",
                kind.keyword(),
                d.proxy.name
            ),
            format!("put it in a '{missing}' or 'listen' section"),
        );
    }
    false
}

fn section_index(kind: SectionKind) -> usize {
    match kind {
        SectionKind::Defaults => 0,
        SectionKind::Frontend => 1,
        SectionKind::Listen => 2,
        _ => 3,
    }
}

/// Reports a keyword from a pending/unsupported table. Returns true when it was found.
pub fn report_unmodelled(
    ctx: &mut Ctx,
    table: &'static [Unmodelled],
    name: &str,
    what: &str,
    span: Span,
) -> bool {
    let Some(u) = pending::find(table, name) else {
        return false;
    };
    match u.unsupported {
        Some(reason) => {
            ctx.err_hint(
                span,
                format!("{what} '{name}' is not supported by rproxy"),
                reason,
            );
        }
        None => ctx.warn_hint(
            span,
            format!("{what} '{name}' is accepted but not applied by rproxy yet; it has no effect"),
            "remove it, or keep it for HAProxy: rproxy will apply it in a later version",
        ),
    }
    true
}

/// Unknown keyword: an error with a did-you-mean over `candidates`.
pub fn unknown(
    ctx: &mut Ctx,
    span: Span,
    what: &str,
    name: &str,
    section: &str,
    candidates: Vec<&str>,
) -> Reported {
    let msg = format!("unknown {what} '{name}' in '{section}' section");
    match did_you_mean(name, candidates) {
        Some(s) => ctx.err_hint(span, msg, format!("did you mean '{s}'?")),
        None => ctx.err(span, msg),
    }
}

/// Applies one proxy-section statement.
fn proxy_statement(ctx: &mut Ctx, draft: &mut ProxyDraft, kind: SectionKind, line: &Line) {
    let first = line.words[0].text.as_str();
    let (kw, no, default) = match first {
        "no" => (1, true, false),
        "default" => (1, false, true),
        _ => (0, false, false),
    };
    let Some(name_word) = line.words.get(kw) else {
        ctx.err(
            line.span,
            format!("'{first}' must be followed by a keyword, as in '{first} option httplog'"),
        );
        return;
    };
    let name = name_word.text.as_str();
    let stmt = Stmt {
        line,
        kw,
        no,
        default,
    };
    let section = kind.keyword();
    if let Some(k) = find_proxy_kw(name) {
        if (no || default) && !matches!(name, "option" | "log") {
            ctx.err(
                line.words[0].span,
                format!("'{first}' is only allowed before 'option' and 'log', not '{name}'"),
            );
            return;
        }
        if !applies(ctx, draft, k.where_, name, name_word.span) {
            return;
        }
        if let Status::Legacy(modern) = k.status {
            ctx.warn_hint(
                name_word.span,
                format!("'{name}' is HAProxy 1.x syntax, which HAProxy 2.6 rejects; rproxy applies its 1.x meaning"),
                format!("write '{modern}' instead (rproxy --upgrade does it)"),
            );
        }
        let _ = (k.handler)(ctx, draft, &stmt);
        return;
    }
    if report_unmodelled(ctx, pending::PROXY, name, "keyword", name_word.span) {
        return;
    }
    let mut candidates: Vec<&str> = proxy_keywords().into_iter().map(|(n, _, _)| n).collect();
    candidates.extend(pending::PROXY.iter().map(|u| u.keyword));
    candidates.extend(SectionKind::ALL.iter().map(|(k, _)| *k));
    unknown(ctx, name_word.span, "keyword", name, section, candidates);
}

/// Builds the model. Errors and warnings go to `diags`; the returned model is only
/// meaningful when no error was reported.
pub fn build(ast: &Ast, _sources: &SourceMap, opts: &BuildOptions, diags: &mut Diags) -> Config {
    let mut ctx = Ctx {
        diags,
        opts,
        http_errors: Vec::new(),
        crt_base: None,
        ca_base: None,
    };
    let mut config = Config::default();
    let mut last_defaults = ProxyDraft::fresh();
    let mut named_defaults: HashMap<String, ProxyDraft> = HashMap::new();
    let mut drafts: Vec<ProxyDraft> = Vec::new();
    for section in &ast.sections {
        match section.kind {
            SectionKind::Global => {
                for stmt in &section.statements {
                    global::statement(&mut ctx, &mut config.global, stmt);
                }
                ctx.crt_base.clone_from(&config.global.crt_base);
                ctx.ca_base.clone_from(&config.global.ca_base);
            }
            SectionKind::Userlist => {
                if let Some(u) = userlist::section(&mut ctx, section) {
                    config.userlists.push(u);
                }
            }
            SectionKind::HttpErrors => {
                if let Some(h) = misc::http_errors_section(&mut ctx, section) {
                    if let Some(prev) = ctx.http_errors.iter().find(|x| x.name == h.name) {
                        let line = prev.span.line;
                        ctx.err(
                            h.span,
                            format!(
                                "http-errors section '{}' is already declared at line {line}",
                                h.name
                            ),
                        );
                    } else {
                        ctx.http_errors.push(h);
                    }
                }
            }
            SectionKind::Defaults
            | SectionKind::Frontend
            | SectionKind::Backend
            | SectionKind::Listen => {
                let Some(mut draft) =
                    start_proxy(&mut ctx, section, &last_defaults, &named_defaults)
                else {
                    continue;
                };
                for stmt in &section.statements {
                    proxy_statement(&mut ctx, &mut draft, section.kind, stmt);
                }
                if section.kind == SectionKind::Defaults {
                    if !draft.proxy.name.is_empty() {
                        named_defaults.insert(draft.proxy.name.clone(), draft.clone());
                    }
                    last_defaults = draft;
                } else {
                    drafts.push(draft);
                }
            }
            other => {
                let kw = other.keyword();
                let reason = pending::find(pending::SECTION, kw).and_then(|u| u.unsupported);
                ctx.err_hint(
                    section.header.words[0].span,
                    format!("section '{kw}' is not supported by rproxy yet"),
                    reason.unwrap_or("remove this section (its statements are skipped)"),
                );
            }
        }
    }
    config.http_errors = std::mem::take(&mut ctx.http_errors);
    finish::finish(&mut ctx, &mut config, drafts);
    config
}

/// Starts a proxy from its defaults: the last `defaults` above it, or the one named with
/// `from NAME`. Handles the section line's own arguments (name, 1.x inline address).
fn start_proxy(
    ctx: &mut Ctx,
    section: &Section,
    last_defaults: &ProxyDraft,
    named: &HashMap<String, ProxyDraft>,
) -> Option<ProxyDraft> {
    let header = &section.header;
    let kind = section.kind;
    let mut args: Vec<&Word> = header.words.iter().skip(1).collect();
    // `from NAME` at the end of the header.
    let mut from: Option<&Word> = None;
    if let Some(pos) = args.iter().position(|w| w.text == "from") {
        match args.get(pos + 1) {
            Some(n) => from = Some(n),
            None => {
                ctx.err(
                    args[pos].span,
                    "'from' must be followed by the name of a defaults section",
                );
                return None;
            }
        }
        if let Some(extra) = args.get(pos + 2) {
            ctx.err(
                extra.span,
                format!("unexpected '{}' after 'from NAME'", extra.text),
            );
            return None;
        }
        args.truncate(pos);
    }
    let base = match from {
        Some(n) => match named.get(&n.text) {
            Some(d) => d,
            None => {
                let names: Vec<&str> = named.keys().map(String::as_str).collect();
                let msg = format!(
                    "defaults section '{}' not found (it must be declared above)",
                    n.text
                );
                match did_you_mean(&n.text, names) {
                    Some(s) => ctx.err_hint(n.span, msg, format!("did you mean '{s}'?")),
                    None => ctx.err(n.span, msg),
                };
                return None;
            }
        },
        // A `defaults` section resets everything; other proxies take the last defaults.
        None if kind == SectionKind::Defaults => &ProxyDraft::fresh(),
        None => last_defaults,
    };
    let mut draft = base.clone();
    draft.kind = Some(kind);
    draft.proxy.span = header.span;
    draft.proxy.caps = Caps {
        frontend: matches!(kind, SectionKind::Frontend | SectionKind::Listen),
        backend: matches!(kind, SectionKind::Backend | SectionKind::Listen),
    };
    // What a proxy must not inherit from its defaults.
    draft.proxy.binds.clear();
    draft.proxy.servers.clear();
    draft.proxy.id = None;
    draft.proxy.description = None;
    match args.first() {
        Some(name) => {
            if !valid_proxy_name(&name.text) {
                ctx.err_hint(
                    name.span,
                    format!(
                        "invalid character in {} name '{}'",
                        kind.keyword(),
                        name.text
                    ),
                    "names may contain letters, digits, '-', '_', '.' and ':'",
                );
            }
            draft.proxy.name = name.text.clone();
        }
        None if kind == SectionKind::Defaults => draft.proxy.name.clear(),
        None => {
            ctx.err_hint(
                header.words[0].span,
                format!("'{}' expects a name", kind.keyword()),
                format!("usage: {} <name>", kind.keyword()),
            );
            return None;
        }
    }
    if let Some(addr) = args.get(1) {
        if matches!(kind, SectionKind::Frontend | SectionKind::Listen) {
            ctx.warn_hint(
                addr.span,
                format!(
                    "an address on the '{}' line is HAProxy 1.x syntax, which HAProxy 2.6 rejects; rproxy binds it",
                    kind.keyword()
                ),
                format!("write 'bind {}' on its own line (rproxy --upgrade does it)", addr.text),
            );
            bind::bind_addresses(ctx, &mut draft, addr, &[]);
        } else {
            ctx.err_hint(
                addr.span,
                format!(
                    "unexpected '{}' after the {} name",
                    addr.text,
                    kind.keyword()
                ),
                format!("usage: {} <name> [from <defaults>]", kind.keyword()),
            );
        }
        if let Some(extra) = args.get(2) {
            ctx.err(
                extra.span,
                format!("unexpected '{}' on the section line", extra.text),
            );
        }
    }
    Some(draft)
}

fn valid_proxy_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// A time argument whose bare unit is seconds (cookie maxidle/maxlife, stats refresh).
pub fn value_time(ctx: &mut Ctx, s: &Stmt, i: usize) -> R<Duration> {
    let w = s.need(ctx, i, "a time")?;
    time_word(ctx, w, value::TimeUnit::S)
}

/// Parses an optional `if|unless COND` starting at argument `i`; anything else there is an
/// error naming what was expected.
pub fn parse_cond(
    ctx: &mut Ctx,
    s: &Stmt,
    i: usize,
    acls: &[crate::model::AclDef],
) -> R<Option<crate::model::expr::Condition>> {
    let Some(w) = s.arg(i) else {
        return Ok(None);
    };
    if w.text != "if" && w.text != "unless" {
        return Err(ctx.err_hint(
            w.span,
            format!("unexpected '{}'", w.text),
            format!(
                "expected 'if' or 'unless' followed by a condition after '{}'",
                s.keyword()
            ),
        ));
    }
    let words = s.args_from(i);
    if words.len() < 2 {
        return Err(ctx.err_hint(
            w.span,
            format!("missing condition after '{}'", w.text),
            "write a condition, as in 'if { path_beg /api }' or 'if is_api'",
        ));
    }
    let mut warnings = Vec::new();
    let r = super::acl::parse_condition_warn(&words[1..], w.text == "unless", &mut warnings);
    word_warnings(ctx, &words[1..], w, warnings);
    match r {
        Ok(c) => {
            // Named ACLs must be declared above (as in HAProxy) or be predefined.
            for term in c.or_groups.iter().flatten() {
                if let crate::model::expr::TermKind::Named(name, idx) = &term.kind
                    && !acls.iter().any(|a| &a.name == name)
                    && super::acl::predefined_acl(name).is_none()
                {
                    let span = words[1..].get(*idx).map(|w| w.span).unwrap_or(w.span);
                    let msg = format!("unknown ACL '{name}'");
                    let known: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
                    return Err(match did_you_mean(name, known) {
                        Some(k) => ctx.err_hint(span, msg, format!("did you mean '{k}'?")),
                        None => ctx.err_hint(span, msg, format!("declare it above this line: 'acl {name} <criterion> <value>', or use an anonymous ACL '{{ ... }}'")),
                    });
                }
            }
            Ok(Some(c))
        }
        Err((e, idx)) => {
            let word = words[1..].get(idx).unwrap_or(w);
            Err(ctx.value_err(word, "condition", e))
        }
    }
}

/// One keyword the builder handles itself: its catalogue family, name, where it applies
/// (`-` when the family has no per-proxy placement) and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub family: &'static str,
    pub keyword: &'static str,
    pub where_: &'static str,
    pub status: Status,
}

/// Every keyword the builder's tables handle, by catalogue family; the catalogue test
/// checks this against `grammar/keywords.tsv`.
pub fn registered() -> Vec<Registered> {
    let mut out = Vec::new();
    let mut add =
        |family: &'static str, keyword: &'static str, where_: &'static str, status: Status| {
            out.push(Registered {
                family,
                keyword,
                where_,
                status,
            });
        };
    for (name, where_, status) in proxy_keywords() {
        add("proxy", name, where_, status);
    }
    for k in global::KEYWORDS {
        add("global", k.name, "-", k.status);
    }
    for o in option::OPTIONS {
        add("option", o.name, o.where_, o.status);
    }
    for (n, w, _) in timeout::TIMEOUTS {
        let status = match *n {
            "clitimeout" => Status::Legacy("timeout client"),
            "srvtimeout" => Status::Legacy("timeout server"),
            "contimeout" => Status::Legacy("timeout connect"),
            _ => Status::Supported,
        };
        add("timeout", n, w, status);
    }
    for (n, w) in stats::SUBKEYWORDS {
        add("stats", n, w, Status::Supported);
    }
    for (n, _) in bind::OPTIONS {
        add("bind", n, "-", Status::Supported);
    }
    for (n, _) in server::OPTIONS {
        add("server", n, "-", Status::Supported);
    }
    for a in rules::http_actions(false) {
        add("http-request", a, "-", Status::Supported);
    }
    for a in rules::http_actions(true) {
        add("http-response", a, "-", Status::Supported);
    }
    for a in rules::TCP_CONNECTION_ACTIONS {
        add("tcp-request connection", a, "-", Status::Supported);
    }
    for a in rules::TCP_CONTENT_ACTIONS.iter().chain(&["inspect-delay"]) {
        add("tcp-request content", a, "-", Status::Supported);
    }
    for k in checks::HTTP_CHECK {
        add("http-check", k, "-", Status::Supported);
    }
    for k in checks::TCP_CHECK {
        add("tcp-check", k, "-", Status::Supported);
    }
    for k in userlist::KEYWORDS {
        add("userlist", k, "-", Status::Supported);
    }
    add("http-errors", "errorfile", "-", Status::Supported);
    for k in [
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "userlist",
        "http-errors",
    ] {
        add("section", k, "-", Status::Supported);
    }
    out
}

/// A time word with HAProxy's leniency (`10sec` is a warning there, so here too).
pub fn time_word(ctx: &mut Ctx, w: &Word, unit: value::TimeUnit) -> R<Duration> {
    match value::parse_time_lenient(&w.text, unit) {
        Ok((d, None)) => Ok(d),
        Ok((d, Some(warn))) => {
            let msg = format!("time '{}': {}", w.text, warn.message);
            match warn.hint {
                Some(h) => ctx.warn_hint(w.span, msg, h),
                None => ctx.warn(w.span, msg),
            }
            Ok(d)
        }
        Err(e) => Err(ctx.value_err(w, "time", e)),
    }
}

/// Reports the warnings a parser collected about words of `words` (index, message).
pub fn word_warnings(
    ctx: &mut Ctx,
    words: &[Word],
    fallback: &Word,
    warnings: Vec<(ValueError, usize)>,
) {
    for (e, idx) in warnings {
        let span = words.get(idx).unwrap_or(fallback).span;
        match e.hint {
            Some(h) => ctx.warn_hint(span, e.message, h),
            None => ctx.warn(span, e.message),
        }
    }
}

/// A supported proxy keyword (the common case of every family's table).
pub const fn supported(
    name: &'static str,
    where_: &'static str,
    handler: fn(&mut Ctx, &mut ProxyDraft, &Stmt) -> R,
) -> ProxyKw {
    ProxyKw {
        name,
        where_,
        status: Status::Supported,
        handler,
    }
}

/// A file (or directory of certificates) named in the configuration, which must be readable.
pub fn readable(ctx: &mut Ctx, w: &Word, what: &str) -> R<std::path::PathBuf> {
    readable_in(ctx, w, what, None)
}

/// Which global directory a relative path is taken from (HAProxy 2.6: `crt-base` for
/// `crt` on binds and servers and for the certificates named in a crt-list, `ca-base`
/// for `ca-file` and `crl-file`; the crt-list file itself is taken as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Crt,
    Ca,
}

/// `path` under `base` when it is relative and a base is set.
pub fn based(base: Option<&std::path::Path>, path: &str) -> std::path::PathBuf {
    match base {
        Some(b) if !path.starts_with('/') => b.join(path),
        _ => std::path::PathBuf::from(path),
    }
}

/// [`readable`] for a path that a global base directory applies to.
pub fn readable_based(ctx: &mut Ctx, w: &Word, what: &str, base: Base) -> R<std::path::PathBuf> {
    let b = match base {
        Base::Crt => ctx.crt_base.clone(),
        Base::Ca => ctx.ca_base.clone(),
    };
    readable_in(ctx, w, what, b.as_deref())
}

fn readable_in(
    ctx: &mut Ctx,
    w: &Word,
    what: &str,
    base: Option<&std::path::Path>,
) -> R<std::path::PathBuf> {
    let p = based(base, &w.text);
    if ctx.opts.check_files
        && let Err(e) = std::fs::metadata(&p).and_then(|m| {
            if m.is_dir() {
                std::fs::read_dir(&p).map(|_| ())
            } else {
                std::fs::File::open(&p).map(|_| ())
            }
        })
    {
        return Err(ctx.err_hint(
            w.span,
            format!("unable to load {what} '{}': {e}", p.display()),
            if p.as_os_str() == w.text.as_str() {
                format!("the {what} must exist and be readable by rproxy")
            } else {
                format!(
                    "'{}' is taken from the global base directory ('crt-base'/'ca-base'); \
                     the {what} must exist there and be readable by rproxy",
                    w.text
                )
            },
        ));
    }
    Ok(p)
}

pub fn tls_version(ctx: &mut Ctx, w: &Word) -> R<crate::model::TlsVersion> {
    crate::model::TlsVersion::parse(&w.text).ok_or_else(|| {
        ctx.err_hint(
            w.span,
            format!("unknown TLS version '{}'", w.text),
            "versions: SSLv3 TLSv1.0 TLSv1.1 TLSv1.2 TLSv1.3",
        )
    })
}

/// Decodes a hexadecimal string argument (`send-binary`, `expect binary`).
pub fn hex_bytes(ctx: &mut Ctx, w: &Word) -> R<Vec<u8>> {
    let hex = w.text.as_bytes();
    let digit = |b: u8| (b as char).to_digit(16);
    if !hex.len().is_multiple_of(2) || hex.iter().any(|b| digit(*b).is_none()) {
        return Err(ctx.err_hint(
            w.span,
            format!("invalid hexadecimal string '{}'", w.text),
            "an even number of hex digits, as in '0d0a'",
        ));
    }
    Ok(hex
        .chunks(2)
        .map(|p| (digit(p[0]).unwrap_or(0) * 16 + digit(p[1]).unwrap_or(0)) as u8)
        .collect())
}

//! `rproxy --upgrade`: rewrites a 1.x configuration in modern syntax, keeping comments and
//! layout, so that HAProxy 2.6 accepts it.
//!
//! The rewrite is done line by line on the original text: each physical line is lexed only to
//! find its words and their byte ranges, and only the ranges of rewritten words are replaced.
//! Everything else (comments, blank lines, indentation, `.if` blocks, line endings, a BOM,
//! environment variables) is copied verbatim, so a modern configuration comes out unchanged.

use std::collections::HashMap;
use std::ops::Range;

use super::diag::Diagnostic;
use super::lexer::{SECTION_KEYWORDS, Word, lex_line};
use super::source::{FileId, SourceMap, Span};

/// The rewritten text, and one warning per rewritten or commented-out line.
#[derive(Debug, Clone, Default)]
pub struct Upgraded {
    pub text: String,
    /// One per rewritten line: a warning at the original span saying what changed.
    pub notes: Vec<Diagnostic>,
}

/// Prefix of a line commented out because 2.6 has nothing that behaves like it.
pub const NO_EQUIVALENT: &str = "# rproxy --upgrade: no 2.6 equivalent: ";
/// Prefix of the comment placed above a rewrite that does not behave exactly like the original.
pub const APPROXIMATION: &str = "# rproxy --upgrade: approximation of ";

/// Rewrites the 1.x syntax of file `file` of `map`.
pub fn upgrade(map: &SourceMap, file: FileId) -> Upgraded {
    let Some(src) = map.get(file) else {
        return Upgraded::default();
    };
    let lines = physical_lines(&src.text);
    let default_eol = lines
        .iter()
        .map(|l| l.eol)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");
    // No variables: words are only located, never expanded into the output.
    let env: HashMap<String, String> = HashMap::new();
    let lexed: Vec<Option<Vec<Word>>> = lines
        .iter()
        .map(|l| lex_line(l.body, &env).ok().filter(|w| !w.is_empty()))
        .collect();
    let layout = Layout::scan(&lines, &lexed);

    let mut out = Upgraded {
        text: String::with_capacity(src.text.len() + 256),
        notes: Vec::new(),
    };
    for (idx, line) in lines.iter().enumerate() {
        let change = lexed.get(idx).and_then(Option::as_ref).and_then(|words| {
            let sec = layout.line_section.get(idx).copied().flatten();
            let stmt = Stmt {
                body: line.body,
                words,
                section: sec.and_then(|s| layout.sections.get(s)),
                mode: sec.map(|s| layout.mode_of(s)).unwrap_or("tcp"),
                rewrites_follow: layout.rewrites_follow.get(idx).copied().unwrap_or(false),
            };
            rewrite(&stmt)
        });
        out.text.push_str(line.bom);
        let Some(change) = change else {
            out.text.push_str(line.body);
            out.text.push_str(line.eol);
            continue;
        };
        let inserted_eol = if line.eol.is_empty() {
            default_eol
        } else {
            line.eol
        };
        for b in &change.before {
            out.text.push_str(b);
            out.text.push_str(inserted_eol);
        }
        out.text.push_str(&apply_edits(line.body, &change.edits));
        for a in &change.after {
            out.text.push_str(inserted_eol);
            out.text.push_str(a);
        }
        out.text.push_str(line.eol);
        let span = file_span(file, idx, line, change.span);
        let mut note = Diagnostic::warning(span, change.message);
        if let Some(h) = change.hint {
            note = note.with_hint(h);
        }
        out.notes.push(note);
    }
    out
}

/// One physical line: an optional BOM, the text without its line ending, and the ending.
struct Phys<'a> {
    /// Byte offset in the file of `body`.
    start: usize,
    bom: &'a str,
    body: &'a str,
    eol: &'a str,
}

fn physical_lines(text: &str) -> Vec<Phys<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let seg = &text[pos..end];
        let (mut body, eol) = if let Some(c) = seg.strip_suffix("\r\n") {
            (c, "\r\n")
        } else if let Some(c) = seg.strip_suffix('\n') {
            (c, "\n")
        } else {
            (seg, "")
        };
        let mut bom = "";
        let mut start = pos;
        if pos == 0
            && let Some(rest) = body.strip_prefix('\u{feff}')
        {
            bom = &body[..3];
            body = rest;
            start += 3;
        }
        out.push(Phys {
            start,
            bom,
            body,
            eol,
        });
        pos = end;
    }
    out
}

/// A line-relative span (as `lex_line` gives it) moved to its place in the file.
fn file_span(file: FileId, idx: usize, line: &Phys<'_>, s: Span) -> Span {
    Span {
        file,
        line: idx as u32 + 1,
        col: s.col,
        start: (line.start + s.start as usize) as u32,
        end: (line.start + s.end as usize) as u32,
    }
}

/// Replaces byte ranges of `body` (sorted, not overlapping) with new text.
fn apply_edits(body: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(body.len() + 64);
    let mut pos = 0;
    for (r, new) in edits {
        out.push_str(body.get(pos..r.start).unwrap_or(""));
        out.push_str(new);
        pos = r.end;
    }
    out.push_str(body.get(pos..).unwrap_or(""));
    out
}

/// What the pre-pass learns about sections: their kind, mode and the first statement's indent.
struct SectionInfo {
    kind: String,
    /// Leading blanks of the first statement, if the section has one.
    first_indent: Option<String>,
    seen_statement: bool,
    own_mode: Option<String>,
    /// Mode of the last `defaults` section before this one.
    inherited_mode: Option<String>,
}

struct Layout {
    sections: Vec<SectionInfo>,
    /// Section index of each physical line (the header line belongs to its section).
    line_section: Vec<Option<usize>>,
    /// Per line: a request header rewrite follows in the same section.
    rewrites_follow: Vec<bool>,
}

impl Layout {
    fn scan(lines: &[Phys<'_>], lexed: &[Option<Vec<Word>>]) -> Layout {
        let mut sections: Vec<SectionInfo> = Vec::new();
        let mut line_section = Vec::with_capacity(lines.len());
        let mut current: Option<usize> = None;
        let mut defaults_mode: Option<String> = None;
        for (line, words) in lines.iter().zip(lexed) {
            let Some(words) = words else {
                line_section.push(current);
                continue;
            };
            let kw = words[0].text.as_str();
            if SECTION_KEYWORDS.contains(&kw) {
                // The defaults in effect for a proxy are the last ones seen before it.
                if let Some(prev) = current.and_then(|c| sections.get(c))
                    && prev.kind == "defaults"
                {
                    defaults_mode = prev.own_mode.clone();
                }
                sections.push(SectionInfo {
                    kind: kw.to_string(),
                    first_indent: None,
                    seen_statement: false,
                    own_mode: None,
                    inherited_mode: defaults_mode.clone(),
                });
                current = Some(sections.len() - 1);
                line_section.push(current);
                continue;
            }
            line_section.push(current);
            let Some(sec) = current.and_then(|c| sections.get_mut(c)) else {
                continue;
            };
            if kw.starts_with('.') {
                continue;
            }
            if !sec.seen_statement {
                sec.seen_statement = true;
                let start = words[0].span.start as usize;
                sec.first_indent = Some(line.body.get(..start).unwrap_or("").to_string());
            }
            if kw == "mode"
                && let Some(m) = words.get(1)
            {
                sec.own_mode = Some(m.text.clone());
            }
        }
        // Backwards, so that each line knows about the rest of its section in one pass.
        let mut rewrites_follow = vec![false; lexed.len()];
        let mut seen = false;
        for idx in (0..lexed.len()).rev() {
            if line_section.get(idx + 1) != line_section.get(idx) {
                seen = false;
            }
            rewrites_follow[idx] = seen;
            let kw = lexed[idx]
                .as_ref()
                .and_then(|w| w.first())
                .map(|w| w.text.as_str());
            seen |= kw.is_some_and(|k| {
                k == "http-request"
                    || filter_kind(k).is_some_and(|(d, a, _)| {
                        d == Dir::Req && matches!(a, Act::Add | Act::Del | Act::Rep)
                    })
            });
        }
        Layout {
            sections,
            line_section,
            rewrites_follow,
        }
    }

    fn mode_of(&self, sec: usize) -> &str {
        self.sections
            .get(sec)
            .and_then(|s| s.own_mode.as_deref().or(s.inherited_mode.as_deref()))
            .unwrap_or("tcp")
    }
}

/// One statement being examined.
struct Stmt<'a> {
    body: &'a str,
    words: &'a [Word],
    section: Option<&'a SectionInfo>,
    /// Effective `mode` of the section (its own, else the defaults', else tcp).
    mode: &'a str,
    /// A request header rewrite (`http-request`, `reqadd`, `reqdel`, `reqrep` ...) follows in
    /// the same section.
    rewrites_follow: bool,
}

/// A rewrite of one line.
struct Change {
    edits: Vec<(Range<usize>, String)>,
    before: Vec<String>,
    after: Vec<String>,
    /// Line-relative span of what was rewritten.
    span: Span,
    message: String,
    hint: Option<String>,
}

impl Change {
    fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

impl<'a> Stmt<'a> {
    fn kw(&self) -> &'a str {
        self.words[0].text.as_str()
    }
    fn word(&self, i: usize) -> Option<&'a str> {
        self.words.get(i).map(|w| w.text.as_str())
    }
    fn range(&self, i: usize) -> Range<usize> {
        self.words
            .get(i)
            .map_or(0..0, |w| w.span.start as usize..w.span.end as usize)
    }
    /// The word as written (quotes and escapes kept).
    fn raw(&self, i: usize) -> &'a str {
        self.body.get(self.range(i)).unwrap_or("")
    }
    /// Words `from..` as written, including the blanks between them.
    fn raw_from(&self, from: usize) -> &'a str {
        let (Some(first), Some(last)) = (self.words.get(from), self.words.last()) else {
            return "";
        };
        self.body
            .get(first.span.start as usize..last.span.end as usize)
            .unwrap_or("")
    }
    fn indent(&self) -> &'a str {
        self.body.get(..self.range(0).start).unwrap_or("")
    }
    fn stmt_span(&self) -> Span {
        let first = self.words[0].span;
        self.words.last().map_or(first, |l| first.to(l.span))
    }
    fn stmt_range(&self) -> Range<usize> {
        self.range(0).start..self.words.last().map_or(0, |w| w.span.end as usize)
    }
    /// The word's text when it can be trusted to be what HAProxy read (a `$` inside double
    /// quotes would have been expanded, and we lexed without variables).
    fn plain(&self, i: usize) -> Option<&'a str> {
        let raw = self.raw(i);
        if raw.contains('"') && raw.contains('$') {
            return None;
        }
        self.word(i)
    }

    fn replace_word(&self, i: usize, new: &str, message: String) -> Change {
        Change {
            edits: vec![(self.range(i), new.to_string())],
            before: Vec::new(),
            after: Vec::new(),
            span: self.stmt_span(),
            message,
            hint: None,
        }
    }
    fn replace_stmt(&self, new: String, message: String) -> Change {
        Change {
            edits: vec![(self.stmt_range(), new)],
            before: Vec::new(),
            after: Vec::new(),
            span: self.stmt_span(),
            message,
            hint: None,
        }
    }
    /// Like `replace_stmt`, with a comment above saying the rewrite is not exact.
    fn approximate(&self, new: String, message: String) -> Change {
        let mut c = self.replace_stmt(new, message);
        c.before.push(format!(
            "{}{APPROXIMATION}'{}'",
            self.indent(),
            self.raw_from(0)
        ));
        c
    }
    fn comment_out(&self, message: String) -> Change {
        let at = self.range(0).start;
        Change {
            edits: vec![(at..at, NO_EQUIVALENT.to_string())],
            before: Vec::new(),
            after: Vec::new(),
            span: self.stmt_span(),
            message,
            hint: None,
        }
    }
    fn in_section(&self, kinds: &[&str]) -> bool {
        self.section
            .is_some_and(|s| kinds.contains(&s.kind.as_str()))
    }
}

fn rewrite(st: &Stmt<'_>) -> Option<Change> {
    let kw = st.kw();
    let n = st.words.len();
    match kw {
        "contimeout" | "clitimeout" | "srvtimeout" if n >= 2 => {
            let new = match kw {
                "contimeout" => "timeout connect",
                "clitimeout" => "timeout client",
                _ => "timeout server",
            };
            Some(st.replace_word(0, new, legacy(kw, new)))
        }
        "redispatch" | "transparent" if n == 1 => {
            let new = format!("option {kw}");
            Some(st.replace_word(0, &new, legacy(kw, &new)))
        }
        "listen" | "frontend" => listen_address(st),
        "block" if matches!(st.word(1), Some("if" | "unless")) => Some(
            st.replace_word(
                0,
                "http-request deny",
                "'block' was removed in HAProxy 2.1; rewritten as 'http-request deny' with the same condition"
                    .to_string(),
            ),
        ),
        "option" => option(st, 1),
        "no" if st.word(1) == Some("option") => option(st, 2),
        "monitor-net" if n == 2 => monitor_net(st),
        "nbproc" if n == 2 && st.in_section(&["global"]) => Some(st.replace_word(
            0,
            "nbthread",
            "'nbproc' was removed in HAProxy 2.5; rewritten as 'nbthread'".to_string(),
        )),
        // `grace` still exists in `global` (a different meaning); only the proxy one went away.
        "grace" if st.in_section(&["defaults", "frontend", "listen", "backend"]) => Some(
            st.comment_out("'grace' in a proxy was removed in HAProxy 2.5; commented out".to_string())
                .hint("the global 'grace' delays the soft-stop of the whole process instead"),
        ),
        _ => filter(st),
    }
}

fn legacy(old: &str, new: &str) -> String {
    format!("'{old}' is HAProxy 1.x syntax; rewritten as '{new}'")
}

/// `listen NAME ADDR` / `frontend NAME ADDR` → header without the address, plus `bind ADDR`.
fn listen_address(st: &Stmt<'_>) -> Option<Change> {
    let addr = st.word(2)?;
    // `from` names a defaults section (2.x); a 1.x address always has a port after ':'.
    if addr == "from" || !addr.contains(':') {
        return None;
    }
    let sec = st.section?;
    let indent = sec.first_indent.clone().unwrap_or_else(|| "\t".to_string());
    let remove = st.range(1).end..st.range(st.words.len() - 1).end;
    Some(Change {
        edits: vec![(remove, String::new())],
        before: Vec::new(),
        after: vec![format!("{indent}bind {}", st.raw_from(2))],
        span: st.stmt_span(),
        message: format!(
            "'{} NAME ADDRESS' is HAProxy 1.x syntax; the address moved to a 'bind' line",
            st.kw()
        ),
        hint: None,
    })
}

fn option(st: &Stmt<'_>, at: usize) -> Option<Change> {
    let name = st.word(at)?;
    match name {
        "forceclose" => Some(
            st.replace_word(
                at,
                "httpclose",
                "'option forceclose' was removed in HAProxy 2.0; rewritten as 'option httpclose'"
                    .to_string(),
            ),
        ),
        "independant-streams" => Some(st.replace_word(
            at,
            "independent-streams",
            legacy("option independant-streams", "option independent-streams"),
        )),
        "http-tunnel" => Some(
            st.comment_out(
                "'option http-tunnel' was removed in HAProxy 2.1; commented out".to_string(),
            )
            .hint("keep-alive is the default mode; nothing replaces it"),
        ),
        _ => None,
    }
}

fn monitor_net(st: &Stmt<'_>) -> Option<Change> {
    let net = st.raw(1);
    if st.in_section(&["defaults"]) || st.section.is_none() {
        // 2.6 accepts connection/HTTP rules only in named defaults used with `from`.
        return Some(
            st.comment_out(
                "'monitor-net' was removed in HAProxy 2.x and cannot be expressed in a defaults section; commented out"
                    .to_string(),
            )
            .hint(format!(
                "add 'tcp-request connection reject if {{ src {net} }}' (TCP) or 'http-request return status 200 if {{ src {net} }}' (HTTP) to each frontend"
            )),
        );
    }
    if st.mode == "http" {
        let new = format!("http-request return status 200 if {{ src {net} }}");
        return Some(
            st.approximate(
                new,
                "'monitor-net' was removed in HAProxy 2.x; rewritten as 'http-request return status 200' (approximation)"
                    .to_string(),
            )
            .hint("1.x answered at once without reading the request and without logging; 2.6 waits for a request and logs it"),
        );
    }
    let new = format!("tcp-request connection reject if {{ src {net} }}");
    Some(st.replace_stmt(
        new,
        "'monitor-net' was removed in HAProxy 2.x; rewritten as 'tcp-request connection reject' (accepted, closed and not logged, as in 1.x TCP mode)"
            .to_string(),
    ))
}

// ----- req* / rsp* regex filters -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Req,
    Rsp,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Add,
    Del,
    Rep,
    Allow,
    Deny,
    Tarpit,
    Pass,
    SetBe,
}

/// The 1.x regex filters: keyword → direction, action, case-insensitive.
fn filter_kind(kw: &str) -> Option<(Dir, Act, bool)> {
    use Act::*;
    use Dir::*;
    let (dir, rest) = if let Some(r) = kw.strip_prefix("req") {
        (Req, r)
    } else {
        (Rsp, kw.strip_prefix("rsp")?)
    };
    // The `i` variants ignore case (there is no `reqiadd`: `add` has no regex).
    let (icase, base) = match rest.strip_prefix('i') {
        Some(b) => (true, b),
        None => (false, rest),
    };
    let act = match (dir, base) {
        (_, "add") if !icase => Add,
        (_, "del") => Del,
        (_, "rep") => Rep,
        (_, "deny") => Deny,
        (Req, "allow") => Allow,
        (Req, "tarpit") => Tarpit,
        (Req, "pass") => Pass,
        (Req, "setbe") => SetBe,
        _ => return None,
    };
    Some((dir, act, icase))
}

fn filter(st: &Stmt<'_>) -> Option<Change> {
    let kw = st.kw();
    let kind = filter_kind(kw)?;
    Some(filter_rewrite(st, kind).unwrap_or_else(|why| {
        st.comment_out(format!(
            "'{kw}' was removed in HAProxy 2.1 and {why}; commented out"
        ))
        .hint("express it with http-request/http-response actions and ACL conditions")
    }))
}

/// Cannot combine our match with the line's condition into something readable.
const COND_TOO_BIG: &str = "its condition cannot be combined with the regex match";

/// The 2.6 form of a regex filter, or why there is none.
fn filter_rewrite(
    st: &Stmt<'_>,
    (dir, act, icase): (Dir, Act, bool),
) -> Result<Change, &'static str> {
    let kw = st.kw();
    let http = match dir {
        Dir::Req => "http-request",
        Dir::Rsp => "http-response",
    };
    let nargs = match act {
        Act::Rep | Act::SetBe => 2,
        _ => 1,
    };
    if st.words.len() <= nargs {
        return Err("this line misses arguments");
    }
    let Ok(cond) = Cond::parse(st, 1 + nargs) else {
        return Err("its condition could not be understood");
    };
    if act == Act::Pass {
        // 1.x parsed `reqpass` but never acted on a match, so dropping it keeps behaviour.
        return Ok(st
            .comment_out(format!(
                "'{kw}' was removed in HAProxy 2.1; it had no effect in 1.x (a match set no verdict), commented out"
            ))
            .hint("if the intent was to exempt requests from later rules, use 'http-request allow if ...'"));
    }
    if act == Act::Add {
        let Some(line) = st.plain(1) else {
            return Err("its header line uses a variable");
        };
        let Some((name, value)) = line.split_once(':') else {
            return Err("its argument is not a 'Name: value' header line");
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err("its header name is not valid");
        }
        let value = value.trim_start_matches([' ', '\t']);
        // The 2.6 value is a log-format string, where '%' is special; 2.6 refuses an empty
        // argument, so an empty value is written as an empty sample.
        let value = if value.is_empty() {
            "%[str()]".to_string()
        } else {
            quote_word(&value.replace('%', "%%"))
        };
        let new = format!(
            "{http} add-header {} {value}{}",
            quote_word(name),
            cond_suffix(&[], cond.as_ref()).ok_or(COND_TOO_BIG)?
        );
        return Ok(st.replace_stmt(new, legacy(kw, &format!("{http} add-header"))));
    }
    let Some(re) = st.plain(1) else {
        return Err("its regex uses a variable");
    };
    if has_top_level_alt(re) {
        return Err("its regex has a top-level alternative ('|') matching anywhere in a line");
    }
    let ci = if icase { " -i" } else { "" };
    let fetch = match dir {
        Dir::Req => "req.fhdr",
        Dir::Rsp => "res.fhdr",
    };
    let hdr = header_pattern(re);
    let line = if dir == Dir::Req {
        reqline_pattern(re)
    } else {
        None
    };
    // The ACL terms selecting what the 1.x regex matched (header form or request-line form).
    let terms: Option<Vec<String>> = match (&hdr, &line) {
        (Some(Hdr::Any(name)), _) => Some(vec![format!("{{ {fetch}({name}) -m found }}")]),
        (Some(Hdr::Value(name, v)), _) => Some(vec![format!(
            "{{ {fetch}({name}) -m reg{ci} {} }}",
            acl_pattern(&format!("^{v}"))
        )]),
        (_, Some(l)) => {
            let mut t = Vec::new();
            if let Some(m) = &l.methods {
                t.push(format!("{{ method{ci} {} }}", m.join(" ")));
            }
            if !matches!(l.uri.as_str(), "" | ".*") {
                t.push(format!(
                    "{{ url -m reg{ci} {} }}",
                    acl_pattern(&format!("^{}", l.uri))
                ));
            }
            Some(t)
        }
        _ => None,
    };
    match act {
        Act::Del => {
            let (name, terms, approx) = match &hdr {
                Some(Hdr::Any(name)) => (quote_word(name), Vec::new(), false),
                Some(Hdr::Beg(name)) => (format!("{} -m beg", quote_word(name)), Vec::new(), false),
                Some(Hdr::Value(name, _)) => (quote_word(name), terms.unwrap_or_default(), true),
                None => return Err("its regex does not name a header (^Name:)"),
            };
            let new = format!(
                "{http} del-header {name}{}",
                cond_suffix(&terms, cond.as_ref()).ok_or(COND_TOO_BIG)?
            );
            let msg = legacy(kw, &format!("{http} del-header"));
            if approx {
                return Ok(st.approximate(new, msg).hint(
                    "'del-header' removes every occurrence of the header once one value matches; 1.x removed only the matching lines",
                ));
            }
            Ok(st.replace_stmt(new, msg))
        }
        Act::Rep => {
            let Some(repl) = st.plain(2) else {
                return Err("its replacement uses a variable");
            };
            let icase_re = if icase { "(?i)" } else { "" };
            if let Some(Hdr::Any(name) | Hdr::Value(name, _)) = &hdr {
                let value = match &hdr {
                    Some(Hdr::Value(_, v)) => format!("^{v}"),
                    _ => ".*".to_string(),
                };
                // 1.x replaced the whole line; the replacement must keep the same header name.
                let Some(rest) = strip_header_name(repl, name) else {
                    return Err("its replacement changes the header name");
                };
                let new = format!(
                    "{http} replace-header {name} {} {}{}",
                    quote_word(&format!("{icase_re}{value}")),
                    quote_word(&rest.replace('%', "%%")),
                    cond_suffix(&[], cond.as_ref()).ok_or(COND_TOO_BIG)?
                );
                return Ok(st.replace_stmt(new, legacy(kw, &format!("{http} replace-header"))));
            }
            let Some(l) = &line else {
                return Err("its regex targets neither a header ('^Name:') nor the request line");
            };
            let Some(uri_repl) = l.rewrite_replacement(repl) else {
                return Err("its replacement does not keep the method of the request line");
            };
            let mut t = Vec::new();
            if let Some(m) = &l.methods {
                t.push(format!("{{ method{ci} {} }}", m.join(" ")));
            }
            let new = format!(
                "{http} replace-uri {} {}{}",
                quote_word(&format!("{icase_re}^{}", l.uri)),
                quote_word(&uri_repl.replace('%', "%%")),
                cond_suffix(&t, cond.as_ref()).ok_or(COND_TOO_BIG)?
            );
            Ok(st.replace_stmt(new, legacy(kw, &format!("{http} replace-uri"))))
        }
        Act::Allow | Act::Deny | Act::Tarpit | Act::SetBe => {
            let Some(terms) = terms else {
                return Err("its regex targets neither a header ('^Name:') nor the request line");
            };
            let action = match act {
                Act::Allow => format!("{http} allow"),
                Act::Deny => format!("{http} deny"),
                Act::Tarpit => format!("{http} tarpit"),
                _ => {
                    if st.in_section(&["backend"]) {
                        return Err("'use_backend' is not allowed in a backend");
                    }
                    format!("use_backend {}", st.raw(2))
                }
            };
            let new = format!(
                "{action}{}",
                cond_suffix(&terms, cond.as_ref()).ok_or(COND_TOO_BIG)?
            );
            let msg = legacy(kw, &action);
            // 1.x kept applying the later header rewrites after an allow; 2.6 stops all rules.
            if act == Act::Allow && st.rewrites_follow {
                return Ok(st.approximate(new, msg).hint(
                    "in 2.6 'allow' also skips the http-request rules that follow; 1.x still applied the later header rewrites",
                ));
            }
            Ok(st.replace_stmt(new, msg))
        }
        Act::Add | Act::Pass => Err("it has no 2.6 equivalent"),
    }
}

/// What a 1.x regex matched among header lines.
enum Hdr {
    /// `^Name:` / `^Name:.*`: every line of that header.
    Any(String),
    /// `^Name` without a colon: every header whose name starts with it.
    Beg(String),
    /// `^Name:\ value-regex`: lines of that header whose value matches (value regex without
    /// its `^`).
    Value(String, String),
}

fn header_pattern(re: &str) -> Option<Hdr> {
    let rest = re.strip_prefix('^')?;
    let len = rest
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'-')
        .count();
    if len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(len);
    if after.is_empty() {
        return Some(Hdr::Beg(name.to_string()));
    }
    let value = strip_leading_blanks(after.strip_prefix(':')?);
    if matches!(value, "" | ".*" | ".*$") {
        return Some(Hdr::Any(name.to_string()));
    }
    if value.starts_with(['*', '+', '?', '{']) {
        return None;
    }
    Some(Hdr::Value(name.to_string(), value.to_string()))
}

/// Drops what a 1.x regex used to skip the blanks after `Name:` (2.6 values have none).
fn strip_leading_blanks(mut s: &str) -> &str {
    const BLANKS: &[&str] = &[
        "[ \\t]*", "[ \\t]+", "[ ]*", "[ ]+", "\\s*", "\\s+", " *", " +", " ?",
    ];
    loop {
        if let Some(p) = BLANKS.iter().find(|p| s.starts_with(**p)) {
            s = &s[p.len()..];
        } else if s.starts_with(' ') && !s[1..].starts_with(['*', '+', '?', '{']) {
            s = &s[1..];
        } else {
            return s;
        }
    }
}

/// `Name: rest` (same name, any case) → `rest`, for replacement lines.
fn strip_header_name<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (n, rest) = line.split_once(':')?;
    n.eq_ignore_ascii_case(name)
        .then(|| rest.trim_start_matches([' ', '\t']))
}

/// A 1.x regex that targets the request line `METHOD URI HTTP/x.y`.
struct ReqLine {
    /// The methods it is limited to, if any.
    methods: Option<Vec<String>>,
    /// The method is capture group 1.
    method_group: bool,
    /// The regex of the URI part (without `^`), which never crosses the space before the
    /// version.
    uri: String,
    /// The regex went on past the URI to the version (` (.*)`, ` HTTP/1\.[01]` ...); when
    /// captured, the number of that last group.
    version: Option<Option<usize>>,
}

impl ReqLine {
    /// The 1.x replacement of the whole request line → the 2.6 replacement of the URI. It must
    /// give back the method unchanged, then a space.
    fn rewrite_replacement(&self, repl: &str) -> Option<String> {
        let mut repl = repl;
        match self.version {
            None => {}
            // The version must be given back unchanged, last, from its group.
            Some(Some(g)) => {
                let r = repl.strip_suffix(&format!(" \\{g}"))?;
                if g > 9 || r.contains(&format!("\\{g}")) {
                    return None;
                }
                repl = r;
            }
            Some(None) => return None,
        }
        if self.method_group {
            let rest = repl.strip_prefix("\\1 ")?;
            return shift_backrefs(rest);
        }
        match self.methods.as_deref() {
            Some([m]) => repl
                .strip_prefix(m.as_str())?
                .strip_prefix(' ')
                .map(str::to_string),
            _ => None,
        }
    }
}

/// `\N` → `\N-1` (the method group disappears); `\0` and `\1` cannot be expressed any more.
fn shift_backrefs(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(d @ '2'..='9') => {
                out.push('\\');
                out.push((d as u8 - 1) as char);
            }
            Some('0' | '1') => return None,
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Some(out)
}

fn reqline_pattern(re: &str) -> Option<ReqLine> {
    // Regexes for "any method".
    const ANY: &[&str] = &[
        "[^ ]*",
        "[^ ]+",
        "\\S*",
        "\\S+",
        "[A-Z]*",
        "[A-Z]+",
        "[A-Za-z]*",
        "[A-Za-z]+",
    ];
    let rest = re.strip_prefix('^')?;
    let mut found = None;
    for a in ANY {
        if let Some(u) = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_prefix(a))
            .and_then(|r| r.strip_prefix(") "))
        {
            found = Some((None, true, u));
        } else if let Some(u) = rest.strip_prefix(a).and_then(|r| r.strip_prefix(' ')) {
            found = Some((None, false, u));
        }
        if found.is_some() {
            break;
        }
    }
    if found.is_none() {
        if let Some(inner) = rest.strip_prefix('(') {
            let close = inner.find(')')?;
            let list: Vec<String> = inner[..close].split('|').map(str::to_string).collect();
            let u = inner[close + 1..].strip_prefix(' ')?;
            if list.iter().all(|m| is_method(m)) {
                found = Some((Some(list), true, u));
            }
        } else {
            let len = rest.bytes().take_while(u8::is_ascii_uppercase).count();
            let u = rest[len..].strip_prefix(' ')?;
            found = Some((Some(vec![rest[..len].to_string()]), false, u));
        }
    }
    let (methods, method_group, uri) = found?;
    if methods
        .as_ref()
        .is_some_and(|m| !m.iter().all(|m| is_method(m)))
    {
        return None;
    }
    // What follows the URI may only be a space and a match of the version.
    const VERSION: &[&str] = &[
        "(.*)",
        "(.*)$",
        "(HTTP/.*)",
        "(HTTP/1\\.[01])",
        "(HTTP/1.[01])",
    ];
    let blanks = blank_positions(uri)?;
    let (uri, version) = match blanks.as_slice() {
        [] => (uri, None),
        [sp] => {
            let tail = &uri[sp + 1..];
            let head = &uri[..*sp];
            if VERSION.contains(&tail) {
                // The version group is the last one of the whole regex.
                let group = count_groups(re);
                (head, Some(Some(group)))
            } else if VERSION
                .iter()
                .any(|v| v.trim_start_matches('(').trim_end_matches([')', '$']) == tail)
            {
                (head, Some(None))
            } else {
                return None;
            }
        }
        _ => return None,
    };
    if uri.starts_with(['*', '+', '?', '{']) {
        return None;
    }
    Some(ReqLine {
        methods,
        method_group,
        uri: uri.to_string(),
        version,
    })
}

fn is_method(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(|c| c.is_ascii_uppercase())
}

/// Index just after the bracket class starting at `b[i] == '['`.
fn skip_class(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    if b.get(j) == Some(&b'^') {
        j += 1;
    }
    if b.get(j) == Some(&b']') {
        j += 1;
    }
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b']' => return j + 1,
            b'[' if b.get(j + 1) == Some(&b':') => {
                // A POSIX class such as [:alpha:] inside the bracket.
                match b[j + 2..].windows(2).position(|w| w == b":]") {
                    Some(p) => j += p + 4,
                    None => return b.len(),
                }
            }
            _ => j += 1,
        }
    }
    b.len()
}

/// Whether `re` has a `|` outside any group: such a branch matches anywhere in any line.
fn has_top_level_alt(re: &str) -> bool {
    let b = re.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => {
                i = skip_class(b, i);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'|' if depth <= 0 => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Byte positions of the literal spaces outside bracket classes (where the regex moves on
/// to the next part of the request line); `None` when it can match other blanks (`\s`, tab).
fn blank_positions(re: &str) -> Option<Vec<usize>> {
    let b = re.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b's') => return None,
            b'\\' => i += 1,
            b'[' => {
                i = skip_class(b, i);
                continue;
            }
            b' ' => out.push(i),
            b'\t' => return None,
            _ => {}
        }
        i += 1;
    }
    Some(out)
}

/// Number of capturing groups in `re`.
fn count_groups(re: &str) -> usize {
    let b = re.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => {
                i = skip_class(b, i);
                continue;
            }
            b'(' if b.get(i + 1) != Some(&b'?') => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

/// An ACL pattern word (a leading '-' would be read as a flag).
fn acl_pattern(p: &str) -> String {
    let q = quote_word(p);
    if p.starts_with('-') {
        format!("-- {q}")
    } else {
        q
    }
}

/// Writes `s` as one configuration word that the lexer reads back as `s`, escaping only what
/// needs it (a backslash stays single unless the next character would make an escape).
fn quote_word(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            ' ' => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '#' => out.push_str("\\#"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => {
                let escapes_next = it.peek().is_some_and(|n| {
                    matches!(
                        n,
                        ' ' | '\\' | '#' | '\'' | '"' | 't' | 'n' | 'r' | 'x' | '\t' | '\n' | '\r'
                    )
                });
                out.push_str(if escapes_next { "\\\\" } else { "\\" });
            }
            _ => out.push(c),
        }
    }
    out
}

/// A 1.x `if|unless` condition, split into OR-groups of terms as written.
struct Cond<'a> {
    unless: bool,
    groups: Vec<Vec<&'a str>>,
    /// `if ...` / `unless ...` as written.
    raw: &'a str,
}

impl<'a> Cond<'a> {
    /// Parses words `from..` of the statement; `Ok(None)` when there are none.
    fn parse(st: &Stmt<'a>, from: usize) -> Result<Option<Cond<'a>>, ()> {
        let Some(kw) = st.word(from) else {
            return Ok(None);
        };
        let unless = match kw {
            "if" => false,
            "unless" => true,
            _ => return Err(()),
        };
        let mut groups: Vec<Vec<&str>> = vec![Vec::new()];
        let mut i = from + 1;
        while i < st.words.len() {
            let w = st.word(i).unwrap_or("");
            if w == "||" || w == "or" {
                if groups.last().is_some_and(Vec::is_empty) {
                    return Err(());
                }
                groups.push(Vec::new());
                i += 1;
                continue;
            }
            let start = st.range(i).start;
            if w == "{" || w == "!{" {
                // An anonymous ACL: one term up to the closing brace.
                let close = (i + 1..st.words.len())
                    .find(|&j| st.word(j) == Some("}"))
                    .ok_or(())?;
                let term = st.body.get(start..st.range(close).end).ok_or(())?;
                groups.last_mut().ok_or(())?.push(term);
                i = close + 1;
                continue;
            }
            groups.last_mut().ok_or(())?.push(st.raw(i));
            i += 1;
        }
        if groups.iter().any(Vec::is_empty) {
            return Err(());
        }
        Ok(Some(Cond {
            unless,
            groups,
            raw: st.raw_from(from),
        }))
    }
}

fn negate(term: &str) -> String {
    match term.strip_prefix('!') {
        Some(t) => t.to_string(),
        None => format!("!{term}"),
    }
}

/// ` if ...` combining our terms (ANDed) with the 1.x condition; `None` when the result would
/// be too large to be readable.
fn cond_suffix(ours: &[String], cond: Option<&Cond<'_>>) -> Option<String> {
    let Some(cond) = cond else {
        if ours.is_empty() {
            return Some(String::new());
        }
        return Some(format!(" if {}", ours.join(" ")));
    };
    if ours.is_empty() {
        return Some(format!(" {}", cond.raw));
    }
    let ours = ours.join(" ");
    let alternatives: Vec<String> = if !cond.unless {
        // ours AND (g1 OR g2) == (ours AND g1) OR (ours AND g2)
        cond.groups
            .iter()
            .map(|g| format!("{ours} {}", g.join(" ")))
            .collect()
    } else {
        // ours AND NOT (g1 OR g2) == ours AND (OR of negated g1 terms) AND (...): expand.
        let size: usize = cond.groups.iter().map(Vec::len).product();
        if size > 8 {
            return None;
        }
        let mut alts: Vec<Vec<String>> = vec![Vec::new()];
        for g in &cond.groups {
            let mut next = Vec::new();
            for a in &alts {
                for t in g {
                    let mut a = a.clone();
                    a.push(negate(t));
                    next.push(a);
                }
            }
            alts = next;
        }
        alts.into_iter()
            .map(|a| format!("{ours} {}", a.join(" ")))
            .collect()
    };
    Some(format!(" if {}", alternatives.join(" || ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;

    fn up(text: &str) -> Upgraded {
        let mut map = SourceMap::default();
        let id = map.add(SourceFile::new("t.cfg", "t.cfg", text.to_string()));
        upgrade(&map, id)
    }

    #[test]
    fn quoting_round_trips() {
        let env: HashMap<String, String> = HashMap::new();
        for s in [
            "a b", "a\\.b", "\\ x", "x\\", "a#b", "it's", "\\\\", "\\t", "%",
        ] {
            let q = quote_word(s);
            let w = lex_line(&q, &env).expect("lexes");
            assert_eq!(w.len(), 1, "{q}");
            assert_eq!(w[0].text, s, "{q}");
        }
        assert_eq!(quote_word(""), "\"\"");
    }

    #[test]
    fn timeouts_and_spans() {
        let u = up("defaults\n\tcontimeout\t5000 # c\n");
        assert_eq!(u.text, "defaults\n\ttimeout connect\t5000 # c\n");
        assert_eq!(u.notes.len(), 1);
        let s = u.notes[0].span.expect("span");
        assert_eq!((s.line, s.col, s.start, s.end), (2, 2, 10, 25));
    }

    #[test]
    fn patterns() {
        assert!(
            matches!(header_pattern("^Set-Cookie: IP="), Some(Hdr::Value(n, v)) if n == "Set-Cookie" && v == "IP=")
        );
        assert!(matches!(header_pattern("^Server:.*"), Some(Hdr::Any(_))));
        assert!(matches!(header_pattern("^Server"), Some(Hdr::Beg(_))));
        assert!(header_pattern("Server:").is_none());
        assert!(has_top_level_alt("^a|b"));
        assert!(!has_top_level_alt("^(a|b)[|]"));
        let l = reqline_pattern("^([^ ]*) /static/(.*)").expect("request line");
        assert!(l.method_group && l.methods.is_none() && l.uri == "/static/(.*)");
        assert!(reqline_pattern("^GET /a b").is_none());
        let l = reqline_pattern("^([^ ]*) /A/([^ ]*) (.*)").expect("with version");
        assert!(l.uri == "/A/([^ ]*)" && l.version == Some(Some(3)));
        assert_eq!(
            l.rewrite_replacement("\\1 /B/\\2 \\3").as_deref(),
            Some("/B/\\1")
        );
        assert_eq!(shift_backrefs("/x/\\2\\3").as_deref(), Some("/x/\\1\\2"));
        assert!(shift_backrefs("\\1").is_none());
    }
}

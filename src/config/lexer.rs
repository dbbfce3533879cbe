//! The lexer: configuration text to lines of words, as HAProxy's line parser does it.
//!
//! Words are split on unquoted blanks; `#` starts a comment (even mid-word) unless quoted or
//! escaped; backslash escapes work outside single quotes; environment variables are expanded
//! only inside double quotes; a `\r` ends the line (CRLF files); a UTF-8 BOM is skipped. The
//! lexer also runs the `.if`/`.elif`/`.else`/`.endif` blocks and the `.diag`, `.notice`,
//! `.warning`, `.alert` directives, so the parser only sees the lines that are in effect.

use super::cond;
use super::diag::{Diagnostic, Diags};
use super::source::{FileId, SourceMap, Span};

/// One word of a line after unquoting, unescaping and expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
    /// The word contained a quote (so an empty word is meaningful).
    pub quoted: bool,
}

/// One logical line: its words (never empty) and the span from its first to last word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub words: Vec<Word>,
    pub span: Span,
}

impl Line {
    pub fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(|w| w.text.as_str())
    }
    /// Span of word `i`, or just past the end of the line when it is missing (for "missing
    /// argument" diagnostics that point where the argument should be).
    pub fn span_of(&self, i: usize) -> Span {
        match self.words.get(i) {
            Some(w) => w.span,
            None => Span {
                col: self.span.col + (self.span.end - self.span.start),
                start: self.span.end,
                end: self.span.end,
                ..self.span
            },
        }
    }
}

/// Where environment variables come from (the process, or a map in tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Section keywords, known to the lexer only for the `.SECTION` pseudo-variable.
pub const SECTION_KEYWORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "cache",
    "program",
    "mailers",
    "ring",
    "http-errors",
    "fcgi-app",
    "log-forward",
];

/// Maximum nesting of `.if` blocks, as in HAProxy.
const MAX_NESTED_CONDS: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CondState {
    /// This branch is taken.
    Take,
    /// Not taken, a later branch may be.
    Drop,
    /// Not taken, and no later branch will be (one was taken, or the parent is masked).
    Skip,
    /// In `.else`: taken.
    ElseTake,
    /// In `.else`: not taken.
    ElseDrop,
}

impl CondState {
    fn masked(self) -> bool {
        !matches!(self, CondState::Take | CondState::ElseTake)
    }
    fn in_else(self) -> bool {
        matches!(self, CondState::ElseTake | CondState::ElseDrop)
    }
}

/// Lexes a whole file of `map` into the lines in effect, reporting problems into `diags`.
pub fn lex_file(map: &SourceMap, file: FileId, env: &dyn Env, diags: &mut Diags) -> Vec<Line> {
    let Some(src) = map.get(file) else {
        return Vec::new();
    };
    let text = src.text.as_str();
    let mut out = Vec::new();
    let mut conds: Vec<(CondState, Span)> = Vec::new();
    let mut section = String::new();
    let mut offset = 0usize;
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx as u32 + 1;
        let line_start = offset;
        offset += raw.len() + 1;
        let mut body = raw;
        let mut body_start = line_start;
        if idx == 0
            && let Some(rest) = body.strip_prefix('\u{feff}')
        {
            body = rest;
            body_start += 3;
        }
        // HAProxy ends a line at the first CR or LF.
        if let Some(cr) = body.find('\r') {
            body = &body[..cr];
        }
        let ctx = LineCtx {
            file,
            line: line_no,
            base: body_start,
            full_line: &raw[(body_start - line_start)..],
            file_name: &src.name,
            section: &section,
        };
        if let Some(nul) = body.find('\0') {
            diags.error(
                ctx.span_at(nul, nul + 1),
                "stray NUL character in the configuration",
            );
            continue;
        }
        let words = match split_words(body, &ctx, env) {
            Ok(w) => w,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let Some(first) = words.first() else {
            continue;
        };
        let line_span = first.span.to(words[words.len() - 1].span);
        let kw = first.text.as_str();
        let masked = conds.last().is_some_and(|(s, _)| s.masked());
        match kw {
            ".if" | ".elif" => {
                let expr_text = words[1..]
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let expr_span = if words.len() > 1 {
                    words[1].span.to(words[words.len() - 1].span)
                } else {
                    line_span
                };
                if kw == ".if" {
                    if conds.len() + 1 >= MAX_NESTED_CONDS {
                        diags.error(
                            line_span,
                            format!("too many nested '.if', max is {MAX_NESTED_CONDS}"),
                        );
                        return out;
                    }
                    if masked {
                        conds.push((CondState::Skip, line_span));
                        continue;
                    }
                } else {
                    let Some((state, _)) = conds.last().copied() else {
                        diags.error(line_span, "lone '.elif' with no matching '.if'");
                        continue;
                    };
                    if state.in_else() {
                        diags.error(line_span, "'.elif' after '.else' is not permitted");
                        continue;
                    }
                    if state != CondState::Drop {
                        if let Some(last) = conds.last_mut() {
                            last.0 = CondState::Skip;
                        }
                        continue;
                    }
                }
                let value = match cond::eval(&expr_text, env) {
                    Ok(v) => v,
                    Err(e) => {
                        diags.push(
                            Diagnostic::error(expr_span, format!("{} in '{kw}'", e.message))
                                .with_hint(cond::HINT),
                        );
                        false
                    }
                };
                let state = if value {
                    CondState::Take
                } else {
                    CondState::Drop
                };
                if kw == ".if" {
                    conds.push((state, line_span));
                } else if let Some(last) = conds.last_mut() {
                    last.0 = state;
                }
            }
            ".else" | ".endif" => {
                if let Some(extra) = words.get(1) {
                    diags.error(
                        extra.span,
                        format!("unexpected argument '{}' for '{kw}'", extra.text),
                    );
                }
                let Some((state, _)) = conds.last().copied() else {
                    diags.error(line_span, format!("lone '{kw}' with no matching '.if'"));
                    continue;
                };
                if kw == ".endif" {
                    conds.pop();
                } else if state.in_else() {
                    diags.error(line_span, "'.else' after '.else' is not permitted");
                } else if let Some(last) = conds.last_mut() {
                    last.0 = if state == CondState::Drop {
                        CondState::ElseTake
                    } else {
                        CondState::ElseDrop
                    };
                }
            }
            _ if masked => {}
            ".diag" | ".notice" | ".warning" | ".alert" => {
                if let Some(extra) = words.get(2) {
                    diags.push(
                        Diagnostic::error(
                            extra.span,
                            format!("unexpected argument '{}' for '{kw}'", extra.text),
                        )
                        .with_hint("use quotes if the message should contain spaces"),
                    );
                    continue;
                }
                let msg = words.get(1).map(|w| w.text.clone()).unwrap_or_default();
                match kw {
                    ".alert" => {
                        diags.error(line_span, msg);
                        // HAProxy stops reading the configuration at an alert.
                        return out;
                    }
                    ".warning" => diags.warn(line_span, msg),
                    _ => diags.push(Diagnostic::notice(line_span, msg)),
                }
            }
            _ => {
                if SECTION_KEYWORDS.contains(&kw) {
                    section = kw.to_string();
                }
                out.push(Line {
                    words,
                    span: line_span,
                });
            }
        }
    }
    for (_, span) in conds {
        diags.error(span, "'.if' block is never closed: missing '.endif'");
    }
    out
}

struct LineCtx<'a> {
    file: FileId,
    line: u32,
    /// Byte offset in the file of the lexed text's first byte.
    base: usize,
    /// The physical line from `base` (to compute columns).
    full_line: &'a str,
    file_name: &'a str,
    section: &'a str,
}

impl LineCtx<'_> {
    fn span_at(&self, a: usize, mut b: usize) -> Span {
        // Error spans are sized in bytes; never end one inside a character.
        while b < self.full_line.len() && !self.full_line.is_char_boundary(b) {
            b += 1;
        }
        let col_prefix = self
            .full_line
            .get(..a)
            .map(|p| p.chars().count())
            .unwrap_or(a);
        Span {
            file: self.file,
            line: self.line,
            col: col_prefix as u32 + 1,
            start: (self.base + a) as u32,
            end: (self.base + b) as u32,
        }
    }
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | 0x0b | 0x0c)
}

/// Splits one line (without its line ending) into words.
fn split_words(s: &str, ctx: &LineCtx<'_>, env: &dyn Env) -> Result<Vec<Word>, Diagnostic> {
    let b = s.as_bytes();
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut start: Option<usize> = None;
    let mut quoted = false;
    let mut squote: Option<usize> = None;
    let mut dquote: Option<usize> = None;
    let mut i = 0;
    // Pushes the current word (if one was started) ending at byte `end`.
    fn flush(
        words: &mut Vec<Word>,
        cur: &mut Vec<u8>,
        start: &mut Option<usize>,
        quoted: &mut bool,
        end: usize,
        ctx: &LineCtx<'_>,
    ) {
        if let Some(st) = start.take() {
            words.push(Word {
                text: String::from_utf8_lossy(cur).into_owned(),
                span: ctx.span_at(st, end),
                quoted: *quoted,
            });
        }
        cur.clear();
        *quoted = false;
    }
    while i < b.len() {
        let c = b[i];
        let in_quotes = squote.is_some() || dquote.is_some();
        if c == b'#' && !in_quotes {
            break;
        }
        if is_blank(c) && !in_quotes {
            flush(&mut words, &mut cur, &mut start, &mut quoted, i, ctx);
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        match c {
            b'"' if squote.is_none() => {
                quoted = true;
                dquote = if dquote.is_some() { None } else { Some(i) };
                i += 1;
            }
            b'\'' if dquote.is_none() => {
                quoted = true;
                squote = if squote.is_some() { None } else { Some(i) };
                i += 1;
            }
            b'\\' if squote.is_none() => {
                let next = b.get(i + 1).copied();
                match next {
                    Some(n @ (b' ' | b'\\' | b'#' | b'\'' | b'"')) => {
                        cur.push(n);
                        i += 2;
                    }
                    Some(b'$') if dquote.is_some() => {
                        cur.push(b'$');
                        i += 2;
                    }
                    Some(b't') => {
                        cur.push(b'\t');
                        i += 2;
                    }
                    Some(b'n') => {
                        cur.push(b'\n');
                        i += 2;
                    }
                    Some(b'r') => {
                        cur.push(b'\r');
                        i += 2;
                    }
                    Some(b'x') => {
                        let hex = b
                            .get(i + 2..i + 4)
                            .and_then(|h| std::str::from_utf8(h).ok());
                        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                            Some(v)
                                if hex
                                    .is_some_and(|h| h.bytes().all(|x| x.is_ascii_hexdigit())) =>
                            {
                                cur.push(v);
                                i += 4;
                            }
                            _ => {
                                return Err(Diagnostic::error(
                                    ctx.span_at(i, (i + 4).min(b.len())),
                                    "truncated or invalid hexadecimal sequence",
                                )
                                .with_hint("'\\x' must be followed by exactly two hexadecimal digits, as in '\\x41'"));
                            }
                        }
                    }
                    // Other combinations are not escapes: the backslash stays (regexes).
                    _ => {
                        cur.push(b'\\');
                        i += 1;
                    }
                }
            }
            b'$' if dquote.is_some() => {
                i = expand_var(b, i, ctx, env, &mut cur, &mut words, &mut start, quoted)?;
            }
            _ => {
                cur.push(c);
                i += 1;
            }
        }
    }
    if let Some(q) = squote.or(dquote) {
        return Err(Diagnostic::error(ctx.span_at(q, q + 1), "unmatched quote")
            .with_hint("close the quote, or escape it with a backslash"));
    }
    let end = i.min(b.len());
    // Trim trailing blanks from the last word's span end (they were not part of it).
    flush(&mut words, &mut cur, &mut start, &mut quoted, end, ctx);
    Ok(words)
}

/// Expands `$NAME`, `${NAME}`, `${NAME-default}` or `${NAME[*]}` at `b[i] == '$'`; returns
/// the index after it. `[*]` splits the value into several words on blanks.
#[allow(clippy::too_many_arguments)]
fn expand_var(
    b: &[u8],
    i: usize,
    ctx: &LineCtx<'_>,
    env: &dyn Env,
    cur: &mut Vec<u8>,
    words: &mut Vec<Word>,
    start: &mut Option<usize>,
    quoted: bool,
) -> Result<usize, Diagnostic> {
    let dollar = i;
    let mut j = i + 1;
    let brace = b.get(j) == Some(&b'{');
    if brace {
        j += 1;
    }
    let name_start = j;
    match b.get(j) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b'.' => {}
        _ => {
            return Err(Diagnostic::error(
                ctx.span_at(j.min(b.len()), (j + 1).min(b.len())),
                "forbidden first character in environment variable name",
            )
            .with_hint("a variable name starts with a letter or '_'; write '\\$' for a literal dollar sign"));
        }
    }
    if b[j] == b'.' {
        j += 1;
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    let name = String::from_utf8_lossy(&b[name_start..j]).into_owned();
    let mut value = if let Some(internal) = name.strip_prefix('.') {
        match internal {
            "LINE" => Some(ctx.line.to_string()),
            "FILE" => Some(ctx.file_name.to_string()),
            "SECTION" => Some(ctx.section.to_string()),
            _ => {
                return Err(Diagnostic::error(
                    ctx.span_at(name_start, j),
                    format!("unsupported internal variable '{name}'"),
                )
                .with_hint("the internal variables are .FILE, .LINE and .SECTION"));
            }
        }
    } else {
        env.var(&name)
    };
    let mut expand_words = false;
    if brace {
        if b.get(j) == Some(&b'[') {
            if b.get(j + 1) == Some(&b'*') && b.get(j + 2) == Some(&b']') {
                expand_words = true;
                j += 3;
            } else {
                return Err(Diagnostic::error(
                    ctx.span_at(j, (j + 1).min(b.len())),
                    "truncated or invalid word expansion sequence",
                )
                .with_hint("the only word expansion is '${NAME[*]}'"));
            }
        }
        if b.get(j) == Some(&b'-') {
            let def_start = j + 1;
            let Some(close) = b[def_start..].iter().position(|&c| c == b'}') else {
                return Err(unmatched_brace(ctx, dollar, b.len()));
            };
            if value.is_none() {
                value =
                    Some(String::from_utf8_lossy(&b[def_start..def_start + close]).into_owned());
            }
            j = def_start + close;
        }
        if b.get(j) != Some(&b'}') {
            return Err(unmatched_brace(ctx, dollar, b.len()));
        }
        j += 1;
    }
    if let Some(v) = value {
        if expand_words {
            let mut parts = v.split(|c: char| c.is_ascii_whitespace()).peekable();
            let mut first = true;
            while let Some(p) = parts.next() {
                if !first {
                    if p.is_empty() && parts.peek().is_some() {
                        continue;
                    }
                    words.push(Word {
                        text: String::from_utf8_lossy(cur).into_owned(),
                        span: ctx.span_at(start.unwrap_or(dollar), j),
                        quoted,
                    });
                    cur.clear();
                    *start = Some(dollar);
                }
                first = false;
                cur.extend_from_slice(p.as_bytes());
            }
        } else {
            cur.extend_from_slice(v.as_bytes());
        }
    }
    Ok(j)
}

fn unmatched_brace(ctx: &LineCtx<'_>, at: usize, len: usize) -> Diagnostic {
    Diagnostic::error(
        ctx.span_at(at, (at + 2).min(len)),
        "unmatched brace in environment variable name",
    )
    .with_hint("write '${NAME}' or '${NAME-default}'")
}

/// Lexes a single line of text (no conditional blocks); used by tests, `--upgrade` and fuzzing.
pub fn lex_line(text: &str, env: &dyn Env) -> Result<Vec<Word>, Diagnostic> {
    let ctx = LineCtx {
        file: 0,
        line: 1,
        base: 0,
        full_line: text,
        file_name: "",
        section: "",
    };
    let end = text.find(['\r', '\n']).unwrap_or(text.len());
    split_words(&text[..end], &ctx, env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;
    use std::collections::HashMap;

    fn env() -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("HOST".into(), "example.com".into());
        m.insert("LIST".into(), "a  b c".into());
        m
    }
    fn words(s: &str) -> Vec<String> {
        lex_line(s, &env())
            .expect("lexes")
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn splitting_and_comments() {
        assert_eq!(
            words("  server\tweb1  1.2.3.4:80 check # comment"),
            ["server", "web1", "1.2.3.4:80", "check"]
        );
        assert_eq!(words("a#b c"), ["a"]);
        assert_eq!(words("a\\#b c"), ["a#b", "c"]);
        assert_eq!(words("'a#b' \"c#d\""), ["a#b", "c#d"]);
        assert!(words("   # only a comment").is_empty());
    }

    #[test]
    fn escapes() {
        assert_eq!(
            words(r"stats realm Haproxy\ Statistics"),
            ["stats", "realm", "Haproxy Statistics"]
        );
        assert_eq!(
            words(r"stats realm Haproxy \ statistic"),
            ["stats", "realm", "Haproxy", " statistic"]
        );
        assert_eq!(
            words(r"rspidel ^Set-cookie:\ IP="),
            ["rspidel", "^Set-cookie: IP="]
        );
        assert_eq!(words(r"a\\b \x41\t\r\n"), ["a\\b", "A\t\r\n"]);
        assert_eq!(words(r"path_reg ^/a\.b$"), ["path_reg", "^/a\\.b$"]);
        assert_eq!(words(r#"x\"y\'z"#), ["x\"y'z"]);
        assert_eq!(words(r"'single \n $HOST'"), ["single \\n $HOST"]);
    }

    #[test]
    fn env_expansion_only_in_double_quotes() {
        assert_eq!(
            words("$HOST \"$HOST\" \"${HOST}:80\""),
            ["$HOST", "example.com", "example.com:80"]
        );
        assert_eq!(
            words("\"${NOPE-fallback}\" \"${HOST-x}\" \"[$NOPE]\""),
            ["fallback", "example.com", "[]"]
        );
        assert_eq!(words("x \"${LIST[*]}\" y"), ["x", "a", "b", "c", "y"]);
        assert_eq!(words("\"\\$HOST\""), ["$HOST"]);
        assert_eq!(words("\"\" x"), ["", "x"]);
    }

    #[test]
    fn lexer_errors() {
        let e = env();
        assert!(lex_line("a \"unclosed", &e).is_err());
        assert!(lex_line("a \\xZZ", &e).is_err());
        assert!(lex_line("\"${HOST\"", &e).is_err());
        assert!(lex_line("\"$1\"", &e).is_err());
        let err = lex_line("bind 'x", &e).expect_err("unmatched");
        assert_eq!(err.span.map(|s| s.col), Some(6));
    }

    #[test]
    fn spans_and_columns() {
        let w = lex_line("\tserver  web1 \"a b\"", &env()).expect("lexes");
        assert_eq!(w[0].span.col, 2);
        assert_eq!(w[1].span.col, 10);
        assert_eq!((w[2].span.start, w[2].span.end), (14, 19));
    }

    fn lex(text: &str) -> (Vec<Vec<String>>, Diags) {
        let mut map = SourceMap::default();
        let id = map.add(SourceFile::new("t.cfg", "t.cfg", text.to_string()));
        let mut diags = Diags::default();
        let lines = lex_file(&map, id, &env(), &mut diags);
        (
            lines
                .into_iter()
                .map(|l| l.words.into_iter().map(|w| w.text).collect())
                .collect(),
            diags,
        )
    }

    #[test]
    fn crlf_bom_and_conditions() {
        let (l, d) = lex("\u{feff}global\r\n  maxconn 10\r\n");
        assert_eq!(l, vec![vec!["global"], vec!["maxconn", "10"]]);
        assert!(d.list.is_empty());
        let text = ".if defined(HOST)\na\n.elif 1\nb\n.else\nc\n.endif\n.if !defined(HOST) || streq(x,x)\nd\n.endif\n";
        let (l, d) = lex(text);
        assert_eq!(l, vec![vec!["a"], vec!["d"]]);
        assert!(d.list.is_empty(), "{d:?}");
        let (l, _) = lex(".if 0\n.if 1\nx\n.endif\n.else\ny\n.endif\n");
        assert_eq!(l, vec![vec!["y"]]);
    }

    #[test]
    fn directive_errors() {
        let (_, d) = lex(".endif\n");
        assert!(d.has_errors());
        let (_, d) = lex(".if 1\n");
        assert!(d.has_errors());
        let (_, d) = lex(".warning \"careful\"\n.notice hi\n");
        assert_eq!(d.count(crate::config::diag::Severity::Warning), 1);
        assert!(!d.has_errors());
        let (l, d) = lex(".alert stop\nglobal\n");
        assert!(d.has_errors());
        assert!(l.is_empty());
    }
}

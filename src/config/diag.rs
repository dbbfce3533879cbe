//! Diagnostics: errors, warnings and notices about a configuration, each with a span, a
//! message and an optional hint, rendered as `file:line:col`, the source line and a caret.

use super::source::{SourceMap, Span};
use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Fatal: the configuration is rejected.
    Error,
    /// Accepted, but the user should act (legacy syntax, keyword not applied yet ...).
    Warning,
    /// Informational (`.notice`, `.diag`).
    Notice,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Option<Span>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span: Some(span),
            message: message.into(),
            hint: None,
        }
    }
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }
    pub fn notice(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Notice,
            ..Diagnostic::error(span, message)
        }
    }
    /// A diagnostic about no particular place (a missing file, a command-line problem).
    pub fn global(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            span: None,
            message: message.into(),
            hint: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A growing list of diagnostics, with shorthands used by every parser module.
#[derive(Debug, Default, Clone)]
pub struct Diags {
    pub list: Vec<Diagnostic>,
}

impl Diags {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }
    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.push(Diagnostic::error(span, msg));
    }
    pub fn error_hint(&mut self, span: Span, msg: impl Into<String>, hint: impl Into<String>) {
        self.push(Diagnostic::error(span, msg).with_hint(hint));
    }
    pub fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.push(Diagnostic::warning(span, msg));
    }
    pub fn warn_hint(&mut self, span: Span, msg: impl Into<String>, hint: impl Into<String>) {
        self.push(Diagnostic::warning(span, msg).with_hint(hint));
    }
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
    pub fn count(&self, sev: Severity) -> usize {
        self.list.iter().filter(|d| d.severity == sev).count()
    }
    /// Sorted by file and position, errors and warnings interleaved as they appear.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.list.iter().collect();
        v.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)).unwrap_or((0, 0, 0)));
        v
    }
}

/// Renders one diagnostic. `color` only when writing to a terminal.
pub fn render(map: &SourceMap, d: &Diagnostic, color: bool) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Notice => Level::NOTE,
    };
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let Some(span) = d.span else {
        let mut group =
            annotate_snippets::Group::with_title(level.primary_title(d.message.as_str()));
        if let Some(h) = &d.hint {
            group = group.element(Level::HELP.message(h.as_str()));
        }
        return renderer.render(&[group]);
    };
    let Some(file) = map.get(span.file) else {
        return format!("{}: {}", d.severity_word(), d.message);
    };
    let line_text = file.line_text(span.line);
    let line_start = file.line_start(span.line);
    // The annotated range, relative to the line, clamped to it and to char boundaries.
    let mut a = (span.start as usize)
        .saturating_sub(line_start)
        .min(line_text.len());
    let mut b = (span.end as usize)
        .saturating_sub(line_start)
        .min(line_text.len());
    while a > 0 && !line_text.is_char_boundary(a) {
        a -= 1;
    }
    while b < line_text.len() && !line_text.is_char_boundary(b) {
        b += 1;
    }
    if b < a {
        b = a;
    }
    let mut group = level.primary_title(d.message.as_str()).element(
        Snippet::source(line_text)
            .line_start(span.line as usize)
            .path(file.name.as_str())
            .annotation(AnnotationKind::Primary.span(a..b)),
    );
    if let Some(h) = &d.hint {
        group = group.element(Level::HELP.message(h.as_str()));
    }
    renderer.render(&[group])
}

impl Diagnostic {
    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "note",
        }
    }

    /// One-line form, `file:line:col: error: message (hint)`, for tests and logs.
    pub fn one_line(&self, map: &SourceMap) -> String {
        let loc = self
            .span
            .map(|s| format!("{}: ", map.location(s)))
            .unwrap_or_default();
        let hint = self
            .hint
            .as_ref()
            .map(|h| format!(" (help: {h})"))
            .unwrap_or_default();
        format!("{loc}{}: {}{hint}", self.severity_word(), self.message)
    }
}

/// Edit-distance suggestion: the closest candidate within a small distance.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(word, c);
        let limit = (word.len().max(c.len()) / 3).clamp(1, 3);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance counting a swap of two neighbours as one edit (`lgo` → `log`), the most
/// common typo in keywords.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("lobal", ["global", "defaults", "listen"]),
            Some("global")
        );
        assert_eq!(
            did_you_mean("frontnd", ["frontend", "backend"]),
            Some("frontend")
        );
        assert_eq!(did_you_mean("zzzz", ["global"]), None);
        assert_eq!(did_you_mean("lgo", ["log", "maxconn"]), Some("log"));
    }
}

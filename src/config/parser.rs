//! The statement parser: groups lexed lines into sections. A line before any section, or an
//! unknown word where a section should start, is reported once (with a did-you-mean hint)
//! and the lines that follow it up to the next section are skipped rather than reported one
//! by one, so a typo like `lobal` gives one precise error instead of a storm.

use super::ast::{Ast, Section, SectionKind};
use super::diag::{Diagnostic, Diags, did_you_mean};
use super::lexer::Line;

/// Groups the lines of one file into sections, appending to `ast`.
pub fn parse_sections(lines: Vec<Line>, ast: &mut Ast, diags: &mut Diags) {
    let mut current: Option<Section> = None;
    let mut orphan_reported = false;
    for line in lines {
        let kw = line.words[0].text.as_str();
        if let Some(kind) = SectionKind::from_keyword(kw) {
            if let Some(sec) = current.take() {
                ast.sections.push(sec);
            }
            orphan_reported = false;
            current = Some(Section {
                kind,
                span: line.span,
                header: line,
                statements: Vec::new(),
            });
            continue;
        }
        match current.as_mut() {
            Some(sec) => {
                sec.span = sec.span.to(line.span);
                sec.statements.push(line);
            }
            None if !orphan_reported => {
                orphan_reported = true;
                let names = SectionKind::ALL.iter().map(|(k, _)| *k);
                let w = &line.words[0];
                let d = match did_you_mean(kw, names) {
                    Some(s) => Diagnostic::error(w.span, format!("unknown keyword '{kw}' out of section"))
                        .with_hint(format!("did you mean '{s}'? (lines up to the next section are skipped)")),
                    None => Diagnostic::error(
                        w.span,
                        format!("unknown keyword '{kw}' out of section"),
                    )
                    .with_hint("a configuration starts with a section: global, defaults, frontend, backend, listen ..."),
                };
                diags.push(d);
            }
            None => {}
        }
    }
    if let Some(sec) = current {
        ast.sections.push(sec);
    }
}

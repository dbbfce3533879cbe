//! HAProxy 2.6's CSV export (`show stat`, the stats page's `;csv`): the header line, then
//! one line per row with every field, the `-` separator column and a trailing comma. (The
//! stats page ends there; the CLI's `show stat` adds the empty line that ends every CLI
//! answer.)

use super::{Scope, StatRow, fields};

/// A value as a CSV cell: HAProxy writes text as is, except that it quotes a value
/// holding a comma, a quote or a line break (doubling quotes).
fn cell(s: &str, out: &mut String) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// One row's line (with its newline).
pub fn line(r: &StatRow) -> String {
    let mut out = String::with_capacity(512);
    for (i, v) in r.values.iter().enumerate() {
        if i == fields::PROXY_FIELDS {
            out.push_str("-,");
        }
        cell(&v.text(), &mut out);
        out.push(',');
    }
    out.push('\n');
    out
}

/// The header and the rows the scope admits.
pub fn render(rows: &[StatRow], scope: &Scope) -> String {
    let mut out = fields::csv_header();
    for r in super::scoped(rows, scope) {
        out.push_str(&line(r));
    }
    out
}

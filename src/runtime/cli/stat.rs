//! `show stat [typed|json]`: HAProxy's statistics rows. The rows and their CSV/typed/JSON
//! renderings belong to the statistics module (`crate::runtime::stats`); this file only
//! chooses the format and hands over, so that the stats socket and the stats page print the
//! same bytes.

use super::Ctx;

/// The output format asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Typed,
    Json,
}

pub fn show_stat(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let fmt = if args.contains(&"typed") {
        Format::Typed
    } else if args.contains(&"json") {
        Format::Json
    } else {
        Format::Csv
    };
    match render(ctx.rt, fmt) {
        Some(text) => {
            out.push_str(&text);
            out.push('\n');
        }
        None => out.push_str("show stat: the statistics rows are not available in this build.\n\n"),
    }
}

/// The rows in `fmt`, from the statistics module. The one place to wire it.
fn render(_rt: &crate::runtime::Runtime, _fmt: Format) -> Option<String> {
    None
}

//! `show stat [typed|json]`: HAProxy's statistics rows. The rows and their CSV and JSON
//! renderings belong to the statistics module ([`crate::runtime::stats`]), so that the
//! stats socket and the stats page print the same bytes; the `typed` form (CLI only) is
//! written here over the same rows and field tags.

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
    // HAProxy shows addresses, cookies and the algorithm from the operator level up.
    let legends = ctx.allowed(crate::model::CliLevel::Operator);
    out.push_str(&render(ctx.rt, fmt, legends));
    out.push('\n');
}

/// The rows in `fmt`, from the statistics module.
fn render(rt: &crate::runtime::Runtime, fmt: Format, legends: bool) -> String {
    use crate::runtime::stats;
    let mut rows = stats::collect(rt);
    if !legends {
        stats::hide_legends(&mut rows);
    }
    let scope = stats::Scope::all();
    match fmt {
        Format::Csv => stats::csv::render(&rows, &scope),
        Format::Json => {
            let mut j = stats::json::render(&rows, &scope);
            j.push('\n');
            j
        }
        Format::Typed => typed(&rows),
    }
}

/// HAProxy's one-letter tag codes.
fn letter(word: &str) -> char {
    match word {
        "Avg" => 'a',
        "Min" => 'm',
        "Age" => 'A',
        w => w.chars().next().unwrap_or('?'),
    }
}

/// `show stat typed`: `F.IID.SID.POS.NAME.1:TAGS:TYPE:VALUE` per non-empty field.
fn typed(rows: &[crate::runtime::stats::StatRow]) -> String {
    use crate::runtime::stats::{ObjType, Value, fields};
    let mut out = String::new();
    for r in rows {
        let obj = match r.obj {
            ObjType::Frontend => 'F',
            ObjType::Backend => 'B',
            ObjType::Server => 'S',
            ObjType::Listener => 'L',
        };
        let iid = r.get("iid").num();
        let sid = r.get("sid").num();
        for (i, v) in r.values.iter().enumerate() {
            let ty = match v {
                Value::Empty => continue,
                Value::Str(_) => "str",
                Value::U32(_) => "u32",
                Value::U64(_) => "u64",
                Value::S32(_) => "s32",
            };
            let (o, n, sc) = fields::tags(i, r.obj);
            out.push_str(&format!(
                "{obj}.{iid}.{sid}.{i}.{}.1:{}{}{}:{ty}:{}\n",
                fields::FIELDS[i].0,
                letter(o),
                letter(n),
                letter(sc),
                v.text()
            ));
        }
    }
    out
}

//! HAProxy 2.6's JSON export (`show stat json`, the stats page's `;json`): an array with
//! one array per row, holding one object per non-empty field with its position, name,
//! tags and typed value.

use super::{Scope, StatRow, Value, fields};

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn row(r: &StatRow, out: &mut String) {
    out.push('[');
    let iid = r.get("iid").num();
    let sid = r.get("sid").num();
    let mut first = true;
    for (i, v) in r.values.iter().enumerate() {
        let (ty, val) = match v {
            Value::Empty => continue,
            Value::Str(s) => ("str", quote(s)),
            Value::U32(n) => ("u32", n.to_string()),
            Value::U64(n) => ("u64", n.to_string()),
            Value::S32(n) => ("s32", n.to_string()),
        };
        if !first {
            out.push(',');
        }
        first = false;
        let (origin, nature, scope) = fields::tags(i, r.obj);
        out.push_str(&format!(
            "{{\"objType\":\"{}\",\"proxyId\":{iid},\"id\":{sid},\"field\":{{\"pos\":{i},\"name\":\"{}\"}},\"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{ty}\",\"value\":{val}}}}}",
            r.obj.name(),
            fields::FIELDS[i].0,
        ));
    }
    out.push(']');
}

/// Every row the scope admits.
pub fn render(rows: &[StatRow], scope: &Scope) -> String {
    let mut out = String::from("[");
    let mut first = true;
    for r in super::scoped(rows, scope) {
        if !first {
            out.push(',');
        }
        first = false;
        row(r, &mut out);
    }
    out.push(']');
    out
}

//! `show stat [{<iid>|<proxy>} <type> <sid>] [typed|json|up|no-maint]`: HAProxy's
//! statistics rows, all or those of one proxy, object type and server id, as HAProxy
//! filters them. The rows and their CSV and JSON
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

/// Which rows `show stat` prints.
#[derive(Debug, Clone, Copy)]
struct Filter {
    /// The proxy id (-1: all).
    iid: i64,
    /// Object types as HAProxy's bits: 1 frontends, 2 backends, 4 servers, 8 listeners.
    types: i64,
    /// The server id (-1: all; rows other than servers are not filtered by it).
    sid: i64,
    /// `up`: servers down (and not coming up) or in maintenance are left out.
    hide_down: bool,
    /// `no-maint`: servers in maintenance are left out.
    hide_maint: bool,
}

/// C's `atoi`: the leading integer, 0 when there is none.
pub fn atoi(s: &str) -> i64 {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n = rest[..end].parse::<i64>().unwrap_or(0);
    if neg { -n } else { n }
}

pub fn show_stat(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    // Three words select rows (HAProxy reads them only when all three are there); the
    // format words follow them.
    let mut filter = Filter {
        iid: -1,
        types: -1,
        sid: -1,
        hide_down: false,
        hide_maint: false,
    };
    let mut args = args;
    if let [px, ty, sid, rest @ ..] = args {
        let iid = match ctx.rt.proxies.iter().position(|p| p.name == *px) {
            Some(i) => ctx.rt.stats.proxies.get(i).map_or(0, |x| i64::from(x.iid)),
            None => atoi(px),
        };
        if iid == 0 {
            out.push_str("No such proxy.\n\n");
            return;
        }
        filter.iid = iid;
        filter.types = atoi(ty);
        filter.sid = atoi(sid);
        args = rest;
    }
    filter.hide_down = args.contains(&"up");
    filter.hide_maint = args.contains(&"no-maint");
    let fmt = if args.contains(&"typed") {
        Format::Typed
    } else if args.contains(&"json") {
        Format::Json
    } else {
        Format::Csv
    };
    // HAProxy shows addresses, cookies and the algorithm from the operator level up.
    let legends = ctx.allowed(crate::model::CliLevel::Operator);
    out.push_str(&render(ctx.rt, fmt, legends, &filter));
    out.push('\n');
}

/// Whether a server is left out by `up` / `no-maint`, as HAProxy decides.
fn hidden(rt: &crate::runtime::Runtime, row: &crate::runtime::stats::StatRow, f: &Filter) -> bool {
    use crate::runtime::backend::Admin;
    let Some(st) = rt
        .proxies
        .get(row.proxy)
        .and_then(|p| p.backend.as_ref())
        .and_then(|b| row.server.and_then(|i| b.servers.get(i)))
    else {
        return false;
    };
    let maint = st.admin() == Admin::Maint;
    if f.hide_maint && maint {
        return true;
    }
    if !f.hide_down {
        return false;
    }
    // Down and not on its way up: no running check, or one at the bottom.
    let down = !st.up.load(std::sync::atomic::Ordering::Relaxed)
        && st.checker.get().is_none_or(|c| {
            !c.enabled.load(std::sync::atomic::Ordering::Relaxed) || c.rf.counter() == 0
        });
    maint || down
}

/// The rows `f` admits, with `up`'s `(usable/total)` after a backend's status.
fn select(
    rt: &crate::runtime::Runtime,
    rows: Vec<crate::runtime::stats::StatRow>,
    f: &Filter,
) -> Vec<crate::runtime::stats::StatRow> {
    use crate::runtime::stats::{ObjType, Value, fields};
    let mut kept = Vec::with_capacity(rows.len());
    for mut r in rows {
        let bit = match r.obj {
            ObjType::Frontend => 1,
            ObjType::Backend => 2,
            ObjType::Server => 4,
            ObjType::Listener => 8,
        };
        if f.types & bit == 0 {
            continue;
        }
        if f.iid != -1 && r.get("iid").num() as i64 != f.iid {
            continue;
        }
        if r.obj == ObjType::Server {
            if f.sid != -1 && r.get("sid").num() as i64 != f.sid {
                continue;
            }
            if hidden(rt, &r, f) {
                continue;
            }
        }
        if r.obj == ObjType::Backend
            && f.hide_down
            && let Some(be) = rt.proxies.get(r.proxy).and_then(|p| p.backend.as_ref())
            && let Some(pos) = fields::pos("status")
            && let Some(Value::Str(st)) = r.values.get(pos).cloned()
        {
            let usable = be.servers.iter().filter(|s| s.usable()).count();
            r.values[pos] = Value::Str(format!("{st} ({usable}/{})", be.servers.len()));
        }
        kept.push(r);
    }
    kept
}

/// The rows in `fmt`, from the statistics module.
fn render(rt: &crate::runtime::Runtime, fmt: Format, legends: bool, f: &Filter) -> String {
    use crate::runtime::stats;
    let mut rows = select(rt, stats::collect(rt), f);
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

#[cfg(test)]
mod tests {
    use super::atoi;

    #[test]
    fn filter_words_read_as_atoi_reads_them() {
        assert_eq!(atoi("-1"), -1);
        assert_eq!(atoi("4"), 4);
        assert_eq!(atoi("6x"), 6);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi(""), 0);
    }
}

//! `stats show-modules`, side by side with haproxy 2.6: the stats page gains an "Extra
//! modules" group of three columns (ssl, h2, h1) in every proxy table; frontend and
//! backend rows show each module's counters in a tooltip, server and listener rows only
//! ssl's (empty cells for the others). The page layouts differ; what is compared is that
//! structure and the HTTP/1 counters of a frontend after two requests.

mod common;

use std::time::Duration;

use common::sbs::{fill, require_haproxy, side_by_side};
use common::{MockServer, eventually, http_get};

/// One table row's extra module cells: the module name, or "-" for an empty cell.
type RowModules = (String, Vec<String>);

/// Every data row (frontend, backend, server, socket) with its module cells.
fn rows(page: &str) -> Vec<RowModules> {
    let row_re = regex::Regex::new(r#"<tr class="?(\w+)"?[ >]"#).expect("regex");
    let cell_re =
        regex::Regex::new(r#"<td(?: data-m="\w+")?><u>(\w+)<div|<td></td>"#).expect("regex");
    let starts: Vec<(usize, String)> = row_re
        .captures_iter(page)
        .filter_map(|c| Some((c.get(0)?.start(), c[1].to_string())))
        .filter(|(_, k)| k != "titre")
        .collect();
    let mut out = Vec::new();
    for (i, (at, kind)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(page.len(), |n| n.0);
        let seg = &page[*at..end];
        // The module cells are the last ones of the row.
        let Some(first) = seg.find("<u>ssl<div") else {
            out.push((kind.clone(), Vec::new()));
            continue;
        };
        let from = seg[..first].rfind("<td").unwrap_or(first);
        let cells = cell_re
            .captures_iter(&seg[from..])
            .map(|c| c.get(1).map_or("-".to_string(), |m| m.as_str().to_string()))
            .take(3)
            .collect();
        out.push((kind.clone(), cells));
    }
    out
}

/// The numbers in the h1 tooltip of the first row of proxy `px`'s frontend.
fn h1_counters(page: &str, px: &str) -> Vec<u64> {
    let anchor = [
        format!("name=\"{px}/Frontend\""),
        format!("<a name=\"{px}\""),
    ];
    let Some(at) = anchor.iter().find_map(|a| page.find(a.as_str())) else {
        return Vec::new();
    };
    let rest = &page[at..];
    let Some(h1) = rest.find("<u>h1<div") else {
        return Vec::new();
    };
    let tips = &rest[h1..];
    let tips = &tips[..tips.find("</table>").unwrap_or(tips.len())];
    regex::Regex::new(r"<td[^>]*>(\d+)</td>")
        .expect("regex")
        .captures_iter(tips)
        .filter_map(|c| c[1].parse().ok())
        .collect()
}

const CONFIG: &str = "
defaults
    mode http
    timeout connect 1s
    timeout client 2s
    timeout server 2s
listen stats
    bind 127.0.0.1:{{P0}}
    stats enable
    stats uri /
    SHOW
frontend fe
    bind 127.0.0.1:{{P1}}
    default_backend be
backend be
    server s1 {{SRV}}
";

#[test]
fn show_modules_page_side_by_side() {
    if !require_haproxy() {
        return;
    }
    let srv = MockServer::start("s1");
    let t = fill(CONFIG, &[("SRV", &srv.addr_str())]).replace("SHOW", "stats show-modules");
    let (h, r) = side_by_side(&t, |side| {
        for p in ["/a", "/b"] {
            assert_eq!(
                side.request_to(1, "GET", p, &[], b"").expect("req").status,
                200
            );
        }
        // The second connection's end is counted once its close is seen.
        let mut page = String::new();
        let settled = eventually(Duration::from_secs(3), || {
            page = http_get(side.addr(0), "/").body_text();
            h1_counters(&page, "fe").first() == Some(&0)
        });
        assert!(settled, "{}: {:?}", side.name(), h1_counters(&page, "fe"));
        let heads = regex::Regex::new(r#"<th colspan="?3"?>Extra modules</th>"#)
            .expect("regex")
            .find_iter(&page)
            .count();
        let subs = regex::Regex::new(r"<th>ssl</th>\s*<th>h2</th>\s*<th>h1</th>")
            .expect("regex")
            .find_iter(&page)
            .count();
        let h1 = h1_counters(&page, "fe");
        (heads, subs, rows(&page), h1[..4].to_vec(), h1.len())
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    // Three proxy tables; open connections/streams 0, two connections and two streams.
    assert_eq!((r.0, r.1), (3, 3));
    assert_eq!(r.3, [0, 0, 2, 2]);
    assert_eq!(r.4, 8);
    let server =
        r.2.iter()
            .find(|(k, _)| k.starts_with("active"))
            .expect("a server row");
    assert_eq!(server.1, ["ssl", "-", "-"]);
}

#[test]
fn without_show_modules_no_extra_columns() {
    if !require_haproxy() {
        return;
    }
    let srv = MockServer::start("s1");
    let t = fill(CONFIG, &[("SRV", &srv.addr_str())]).replace("SHOW", "");
    let (h, r) = side_by_side(&t, |side| {
        let page = http_get(side.addr(0), "/").body_text();
        (page.contains("Extra modules"), page.contains("<u>h1<div"))
    });
    assert_eq!(h, r, "haproxy (left) vs rproxy (right)");
    assert_eq!(r, (false, false));
}

#[test]
fn show_modules_is_not_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("m.cfg");
    let t = fill(CONFIG, &[("SRV", "127.0.0.1:1"), ("P0", "1"), ("P1", "2")])
        .replace("SHOW", "stats show-modules");
    std::fs::write(&cfg, t).expect("write");
    let out = common::rproxy(&["-c", "-f", "m.cfg"], dir.path());
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("show-modules"), "{err}");
}

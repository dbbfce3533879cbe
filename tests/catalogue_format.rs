//! Checks `grammar/keywords.tsv`, the keyword catalogue, and that its `pending` and
//! `unsupported` rows agree with the tables of `rproxy::config::pending`.

use std::collections::{BTreeMap, BTreeSet};

use rproxy::config::pending::{self, Unmodelled};

const HEADER: &str = "family\tkeyword\twhere\tstatus\targs\tnote";

/// Families whose `where` column is a `dflb` pattern; the others use `-`.
const PROXY_FAMILIES: &[&str] = &[
    "proxy",
    "option",
    "timeout",
    "stats",
    "http-request",
    "http-response",
    "http-after-response",
    "tcp-request connection",
    "tcp-request session",
    "tcp-request content",
    "tcp-response content",
    "http-check",
    "tcp-check",
];

/// Families of sections rproxy does not implement: catalogued, but with no table.
const SECTION_FAMILIES: &[&str] = &[
    "peers",
    "mailers",
    "resolvers",
    "cache",
    "program",
    "ring",
    "log-forward",
    "fcgi-app",
];

const STATUSES: &[&str] = &["supported", "legacy", "pending", "unsupported"];

struct Row {
    line: usize,
    family: String,
    keyword: String,
    where_: String,
    status: String,
    note: String,
}

fn catalogue() -> (String, Vec<Row>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/grammar/keywords.tsv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().to_string();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            6,
            "line {line_no}: expected 6 tab-separated fields: {line:?}"
        );
        for (n, f) in fields.iter().enumerate() {
            assert!(
                !f.is_empty(),
                "line {line_no}: field {} is empty (use '-')",
                n + 1
            );
            assert_eq!(
                f.trim(),
                *f,
                "line {line_no}: field {} has stray blanks",
                n + 1
            );
        }
        rows.push(Row {
            line: line_no,
            family: fields[0].to_string(),
            keyword: fields[1].to_string(),
            where_: fields[2].to_string(),
            status: fields[3].to_string(),
            note: fields[5].to_string(),
        });
    }
    (header, rows)
}

fn all_families() -> BTreeSet<&'static str> {
    let mut set: BTreeSet<&str> = pending::TABLES.iter().map(|(f, _)| *f).collect();
    set.extend(SECTION_FAMILIES);
    set
}

fn valid_where(w: &str) -> bool {
    w.len() == 4
        && w.chars()
            .zip("dflb".chars())
            .all(|(c, want)| c == want || c == '-')
        && w != "----"
}

#[test]
fn header_and_fields() {
    let (header, rows) = catalogue();
    assert_eq!(header, HEADER);
    assert!(
        rows.len() > 300,
        "the catalogue should be exhaustive, got {} rows",
        rows.len()
    );
    let families = all_families();
    for r in &rows {
        assert!(
            families.contains(r.family.as_str()),
            "line {}: unknown family {:?}",
            r.line,
            r.family
        );
        assert!(
            STATUSES.contains(&r.status.as_str()),
            "line {}: unknown status {:?}",
            r.line,
            r.status
        );
    }
}

#[test]
fn no_duplicates_and_sorted() {
    let (_, rows) = catalogue();
    let mut seen = BTreeSet::new();
    for r in &rows {
        assert!(
            seen.insert((r.family.clone(), r.keyword.clone())),
            "line {}: duplicate row ({}, {})",
            r.line,
            r.family,
            r.keyword
        );
    }
    for pair in rows.windows(2) {
        let a = (&pair[0].family, &pair[0].keyword);
        let b = (&pair[1].family, &pair[1].keyword);
        assert!(
            a < b,
            "line {}: rows not sorted by family then keyword",
            pair[1].line
        );
    }
}

#[test]
fn where_column() {
    let (_, rows) = catalogue();
    for r in &rows {
        if PROXY_FAMILIES.contains(&r.family.as_str()) {
            assert!(
                valid_where(&r.where_),
                "line {}: bad where {:?} (want e.g. dfl-)",
                r.line,
                r.where_
            );
        } else {
            assert_eq!(
                r.where_, "-",
                "line {}: where is only for proxy families",
                r.line
            );
        }
    }
}

#[test]
fn notes_for_legacy_and_unsupported() {
    let (_, rows) = catalogue();
    for r in &rows {
        if r.status == "legacy" || r.status == "unsupported" {
            assert_ne!(
                r.note, "-",
                "line {}: a {} row needs a note",
                r.line, r.status
            );
        }
    }
}

#[test]
fn section_families_have_section_rows() {
    let (_, rows) = catalogue();
    let sections: BTreeMap<&str, &str> = rows
        .iter()
        .filter(|r| r.family == "section")
        .map(|r| (r.keyword.as_str(), r.status.as_str()))
        .collect();
    for fam in SECTION_FAMILIES {
        assert_eq!(
            sections.get(fam),
            Some(&"unsupported"),
            "section {fam} should be catalogued as unsupported"
        );
    }
    for fam in [
        "global", "defaults", "frontend", "backend", "listen", "userlist",
    ] {
        assert_eq!(
            sections.get(fam),
            Some(&"supported"),
            "section {fam} should be supported"
        );
    }
}

#[test]
fn pending_tables_match_catalogue() {
    let (_, rows) = catalogue();
    for (family, table) in pending::TABLES {
        let expected: Vec<(&str, &str, Option<&str>)> = rows
            .iter()
            .filter(|r| r.family == *family && (r.status == "pending" || r.status == "unsupported"))
            .map(|r| {
                let reason = (r.status == "unsupported").then_some(r.note.as_str());
                (r.keyword.as_str(), r.where_.as_str(), reason)
            })
            .collect();
        let actual: Vec<(&str, &str, Option<&str>)> = table
            .iter()
            .map(|u: &Unmodelled| (u.keyword, u.where_, u.unsupported))
            .collect();
        for want in &expected {
            let got = actual.iter().find(|a| a.0 == want.0);
            assert_eq!(
                got,
                Some(want),
                "family {family}: keyword {} differs or is missing in pending.rs",
                want.0
            );
        }
        for got in &actual {
            assert!(
                expected.iter().any(|w| w.0 == got.0),
                "family {family}: pending.rs has {} which the catalogue does not list as pending/unsupported",
                got.0
            );
        }
        assert_eq!(
            actual.len(),
            expected.len(),
            "family {family}: same number of rows"
        );
    }
}

#[test]
fn find_uses_the_tables() {
    let (_, rows) = catalogue();
    for r in rows
        .iter()
        .filter(|r| r.status == "pending" || r.status == "unsupported")
    {
        let Some(table) = pending::table(&r.family) else {
            assert!(
                SECTION_FAMILIES.contains(&r.family.as_str()),
                "line {}: no table for {}",
                r.line,
                r.family
            );
            continue;
        };
        let probe = r.keyword.replace('*', "x");
        let found = pending::find(table, &probe)
            .unwrap_or_else(|| panic!("line {}: find({probe}) failed", r.line));
        assert_eq!(found.keyword, r.keyword);
    }
}

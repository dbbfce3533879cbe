//! The keyword catalogue (`grammar/keywords.tsv`) and the parser's tables must agree: every
//! keyword the builder handles is catalogued with the same status (and placement for
//! proxy keywords), and every supported or legacy catalogue row has a handler.

use rproxy::config::build::{Status, registered};
use std::collections::BTreeMap;

fn catalogue() -> Vec<Vec<String>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/grammar/keywords.tsv"))
            .expect("catalogue readable");
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

#[test]
fn parser_tables_and_catalogue_agree() {
    let rows = catalogue();
    let mut cat: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for r in &rows {
        if r[3] == "supported" || r[3] == "legacy" {
            cat.insert((r[0].clone(), r[1].clone()), (r[2].clone(), r[3].clone()));
        }
    }
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for k in registered() {
        let key = (k.family.to_string(), k.keyword.to_string());
        seen.insert(key.clone());
        let status = match k.status {
            Status::Supported => "supported",
            Status::Legacy(_) => "legacy",
        };
        match cat.get(&key) {
            None => problems.push(format!(
                "{} '{}' is handled ({status}) but not catalogued as supported/legacy",
                k.family, k.keyword
            )),
            Some((where_, s)) => {
                if s != status {
                    problems.push(format!(
                        "{} '{}': tables say {status}, catalogue says {s}",
                        k.family, k.keyword
                    ));
                }
                if k.where_ != "-" && where_ != k.where_ {
                    problems.push(format!(
                        "{} '{}': tables say where={}, catalogue says {where_}",
                        k.family, k.keyword, k.where_
                    ));
                }
            }
        }
    }
    for (key, (_, s)) in &cat {
        if !seen.contains(key) {
            problems.push(format!(
                "{} '{}' is catalogued {s} but no parser table handles it",
                key.0, key.1
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} disagreement(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn coverage_summary() {
    // Printed for the closing note: how many keywords are applied, warned, rejected.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in catalogue() {
        *counts
            .entry(match r[3].as_str() {
                "supported" => "applied (modelled)",
                "legacy" => "legacy (1.x meaning, warned)",
                "pending" => "accepted, warned: not applied yet",
                _ => "rejected: unsupported",
            })
            .or_default() += 1;
    }
    println!("{counts:#?}");
    assert!(counts.values().sum::<usize>() > 700);
}

//! Fuzzes the whole loader (lexer, `.if` blocks, section parser) and the diagnostic renderer.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use rproxy::config::{diag, load_str};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let env: HashMap<String, String> = HashMap::new();
    let loaded = load_str("fuzz.cfg", &text, &env);
    for d in &loaded.diags.list {
        let _ = diag::render(&loaded.sources, d, false);
        let _ = d.one_line(&loaded.sources);
    }
    let _ = loaded.is_valid();
});

//! Fuzzes the single-line lexer, with a few environment variables defined so that `$NAME`,
//! `${NAME-default}` and `${NAME[*]}` expansions take both the defined and undefined paths.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use rproxy::config::lexer::lex_line;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let env: HashMap<String, String> = [
        ("HOST", "example.com"),
        ("LIST", " a  b\tc "),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Ok(words) = lex_line(&text, &env) {
        for w in &words {
            // Spans must stay inside the input.
            assert!(w.span.start <= w.span.end, "inverted span {:?}", w.span);
            assert!(
                w.span.end as usize <= text.len(),
                "span past the end {:?}",
                w.span
            );
        }
    }
});

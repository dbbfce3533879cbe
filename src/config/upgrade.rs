//! `rproxy --upgrade`: rewrites a 1.x configuration in modern syntax, keeping comments and
//! layout, so that HAProxy 2.6 accepts it.

use super::diag::Diagnostic;
use super::source::{FileId, SourceMap};

/// The rewritten text and one note per rewritten line.
pub struct Upgraded {
    pub text: String,
    pub notes: Vec<Diagnostic>,
}

/// Placeholder until the rewriter lands: returns the text unchanged.
pub fn upgrade(map: &SourceMap, file: FileId) -> Upgraded {
    Upgraded {
        text: map.get(file).map(|f| f.text.clone()).unwrap_or_default(),
        notes: Vec::new(),
    }
}

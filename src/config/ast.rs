//! The AST: sections of statements, each keeping the words and spans the lexer produced.

use super::lexer::{Line, Word};
use super::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    Userlist,
    Peers,
    Resolvers,
    Cache,
    Program,
    Mailers,
    Ring,
    HttpErrors,
    FcgiApp,
    LogForward,
}

impl SectionKind {
    pub const ALL: &'static [(&'static str, SectionKind)] = &[
        ("global", SectionKind::Global),
        ("defaults", SectionKind::Defaults),
        ("frontend", SectionKind::Frontend),
        ("backend", SectionKind::Backend),
        ("listen", SectionKind::Listen),
        ("userlist", SectionKind::Userlist),
        ("peers", SectionKind::Peers),
        ("resolvers", SectionKind::Resolvers),
        ("cache", SectionKind::Cache),
        ("program", SectionKind::Program),
        ("mailers", SectionKind::Mailers),
        ("ring", SectionKind::Ring),
        ("http-errors", SectionKind::HttpErrors),
        ("fcgi-app", SectionKind::FcgiApp),
        ("log-forward", SectionKind::LogForward),
    ];

    pub fn from_keyword(w: &str) -> Option<SectionKind> {
        Self::ALL.iter().find(|(k, _)| *k == w).map(|(_, s)| *s)
    }

    pub fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(k, _)| *k)
            .unwrap_or("?")
    }

    pub fn is_proxy(self) -> bool {
        matches!(
            self,
            SectionKind::Defaults
                | SectionKind::Frontend
                | SectionKind::Backend
                | SectionKind::Listen
        )
    }
}

/// One statement: a line of words inside a section.
pub type Statement = Line;

#[derive(Clone, Debug)]
pub struct Section {
    pub kind: SectionKind,
    /// The section line itself (`listen web 0.0.0.0:80`).
    pub header: Line,
    pub statements: Vec<Statement>,
    /// From the header's first word to the last statement.
    pub span: Span,
}

impl Section {
    /// The section's name (second word), when it has one.
    pub fn name(&self) -> Option<&Word> {
        self.header.words.get(1)
    }
}

/// A whole configuration: the sections of every file, in load order.
#[derive(Clone, Debug, Default)]
pub struct Ast {
    pub sections: Vec<Section>,
}

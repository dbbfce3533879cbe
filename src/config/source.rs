//! Source files and spans: every token and AST node points back to file, line and column.

use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
pub type FileId = u32;

/// A region of one source file: 1-based line and column (in characters) of its start, plus
/// the byte range in the file text (for rendering and for `--upgrade` rewrites).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The smallest span covering both (both must be in the same file).
    pub fn to(self, other: Span) -> Span {
        if other.file != self.file {
            return self;
        }
        let (first, _) = if self.start <= other.start {
            (self, other)
        } else {
            (other, self)
        };
        Span {
            file: self.file,
            line: first.line,
            col: first.col,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One loaded configuration file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// Text of 1-based line `line`, without its line ending.
    pub fn line_text(&self, line: u32) -> &str {
        let idx = (line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(idx) else {
            return "";
        };
        let end = self
            .line_starts
            .get(idx + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        let s = self.text.get(start..end).unwrap_or("");
        s.strip_suffix('\r').unwrap_or(s)
    }

    /// Byte offset where 1-based line `line` starts.
    pub fn line_start(&self, line: u32) -> usize {
        let idx = (line as usize).saturating_sub(1);
        self.line_starts
            .get(idx)
            .copied()
            .unwrap_or(self.text.len())
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// All files of one configuration load.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// `file:line:col` for a span.
    pub fn location(&self, span: Span) -> String {
        let name = self.get(span.file).map(|f| f.name.as_str()).unwrap_or("?");
        format!("{}:{}:{}", name, span.line, span.col)
    }

    /// Directory of the file a span points into (relative paths in a config resolve
    /// against the working directory, as in HAProxy; this is only used for hints).
    pub fn dir_of(&self, span: Span) -> Option<&Path> {
        self.get(span.file).and_then(|f| f.path.parent())
    }
}

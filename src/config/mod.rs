//! The configuration compiler: text → lexer → section parser → AST with spans → validated,
//! defaults-resolved [`crate::model`] config. Nothing here opens a socket.

pub mod acl;
pub mod ast;
pub mod build;
pub mod cond;
pub mod diag;
pub mod lexer;
pub mod logformat;
pub mod parser;
pub mod pending;
pub mod sample;
pub mod source;
pub mod upgrade;
pub mod value;

use std::path::{Path, PathBuf};

use diag::{Diagnostic, Diags, Severity};
use lexer::Env;
use source::{SourceFile, SourceMap};

/// What a load produced: the sources (for rendering), every diagnostic, the AST and the
/// model. The model is only usable when `is_valid()` (no error was reported).
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    pub diags: Diags,
    pub ast: ast::Ast,
    pub model: crate::model::Config,
}

impl Loaded {
    pub fn is_valid(&self) -> bool {
        !self.diags.has_errors()
    }
}

/// Loads configuration text already in memory (fuzzing, benches): hostnames are not
/// resolved, so no lookup leaves the process.
pub fn load_str(name: &str, text: &str, env: &dyn Env) -> Loaded {
    let opts = build::BuildOptions {
        resolve_hosts: false,
        ..Default::default()
    };
    load_str_with(name, text, env, &opts)
}

/// Loads configuration text already in memory with explicit build options.
pub fn load_str_with(name: &str, text: &str, env: &dyn Env, opts: &build::BuildOptions) -> Loaded {
    let mut loaded = Loaded::default();
    let id = loaded
        .sources
        .add(SourceFile::new(name, PathBuf::from(name), text.to_string()));
    let lines = lexer::lex_file(&loaded.sources, id, env, &mut loaded.diags);
    parser::parse_sections(lines, &mut loaded.ast, &mut loaded.diags);
    loaded.model = build::build(&loaded.ast, &loaded.sources, opts, &mut loaded.diags);
    loaded
}

/// Expands `-f` arguments: a directory contributes its `*.cfg` files in lexical order.
pub fn expand_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut out = Vec::new();
    for p in args {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| {
                Diagnostic::global(
                    Severity::Error,
                    format!("cannot open configuration directory '{}': {e}", p.display()),
                )
            })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "cfg") && f.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Loads configuration files (after [`expand_paths`]) in order, as one configuration.
pub fn load_files(paths: &[PathBuf], env: &dyn Env, opts: &build::BuildOptions) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        let text = match read_config(path) {
            Ok(t) => t,
            Err(d) => {
                loaded.diags.push(d);
                continue;
            }
        };
        let id = loaded.sources.add(SourceFile::new(
            path.display().to_string(),
            path.clone(),
            text,
        ));
        let lines = lexer::lex_file(&loaded.sources, id, env, &mut loaded.diags);
        parser::parse_sections(lines, &mut loaded.ast, &mut loaded.diags);
    }
    if !loaded.sources.files.is_empty() {
        loaded.model = build::build(&loaded.ast, &loaded.sources, opts, &mut loaded.diags);
    }
    loaded
}

fn read_config(path: &Path) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostic::global(
            Severity::Error,
            format!(
                "could not open configuration file '{}': {e}",
                path.display()
            ),
        )
    })?;
    // Invalid UTF-8 is kept byte-for-byte where possible; HAProxy reads bytes.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

//! The configuration compiler: text → lexer → section parser → AST with spans → validated,
//! defaults-resolved [`crate::model`] config. Nothing here opens a socket.

pub mod acl;
pub mod ast;
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

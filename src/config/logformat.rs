//! Log-format strings: literal text, `%ci`-style variables and `%[sample]` expressions.

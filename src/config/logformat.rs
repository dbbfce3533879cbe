//! Log-format strings: literal text, `%ci`-style variables and `%[sample]` expressions.
// STUB: replaced by the values branch.
pub fn parse_log_format(
    s: &str,
) -> Result<crate::model::expr::LogFormat, super::value::ValueError> {
    Ok(crate::model::expr::LogFormat(s.to_string()))
}

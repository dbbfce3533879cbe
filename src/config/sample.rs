//! Sample expressions: fetches with arguments and converter chains (`req.hdr(host),lower`).
// STUB: replaced by the values branch.
pub fn parse_sample(s: &str) -> Result<crate::model::expr::Sample, super::value::ValueError> {
    Ok(crate::model::expr::Sample(s.to_string()))
}

//! ACL definitions (`acl NAME criterion [flags] [operator] values`) and conditions
//! (`if|unless` with `!`, `||`/`or`, implicit AND and anonymous `{ ... }` ACLs).
// STUB: replaced by the values branch.
use super::lexer::Word;
use super::value::ValueError;
use crate::model::expr::{AclCriterion, Condition};
pub fn parse_condition(words: &[Word]) -> Result<Condition, (ValueError, usize)> {
    Ok(Condition(
        words
            .iter()
            .map(|w| w.text.clone())
            .collect::<Vec<_>>()
            .join(" "),
    ))
}
pub fn parse_acl_criterion(words: &[Word]) -> Result<AclCriterion, (ValueError, usize)> {
    Ok(AclCriterion(
        words
            .iter()
            .map(|w| w.text.clone())
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

//! Samples, ACLs, conditions and log-format strings in typed form.
// STUB: replaced by the values branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample(pub String);
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclCriterion(pub String);
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition(pub String);
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat(pub String);

//! ACLs and conditions: criteria compiled with their pattern sets, named ACLs resolved
//! against the proxy's `acl` lines (several lines of one name are OR-ed) or HAProxy's
//! predefined ACLs, and `if`/`unless` conditions (OR of AND groups, `!` per term).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::pattern::{PatternSet, resolve_patterns};
use super::{CompileError, CompiledSample, EvalCtx};
use crate::model::expr::{AclCriterion, Condition, TermKind};
use crate::model::proxy::AclDef;

/// One ACL test.
#[derive(Debug, Clone)]
enum Test {
    /// A sample matched against patterns; any value of the sample may match.
    Match {
        sample: CompiledSample,
        patterns: PatternSet,
    },
    /// A fixed result (`RDP_COOKIE`, which needs the raw TCP stream).
    Const(bool),
    /// `REQ_CONTENT`: whether request data is there, which for HTTP is the request itself.
    HasRequest,
}

impl Test {
    fn compile(c: &AclCriterion) -> Result<Test, CompileError> {
        let err = |m: String| CompileError(format!("ACL criterion '{}': {m}", c.keyword));
        let sample = CompiledSample::compile(&c.sample)?;
        let pats = resolve_patterns(&c.patterns).map_err(err)?;
        let icase = c.flags.ignore_case;
        // The `method` ACL keyword compares methods the way HAProxy's method match does.
        let is_method_keyword = c.keyword == "method"
            && c.sample.converters.is_empty()
            && c.method == crate::model::expr::MatchMethod::Str;
        let patterns = if is_method_keyword {
            PatternSet::build_method(&pats, icase)
        } else {
            PatternSet::build(&c.method, &pats, icase)
        }
        .map_err(err)?;
        Ok(Test::Match { sample, patterns })
    }

    fn eval(&self, ctx: &EvalCtx) -> bool {
        match self {
            Test::Const(b) => *b,
            Test::HasRequest => ctx.req.is_some(),
            Test::Match { sample, patterns } => {
                let mut found = false;
                sample.each(ctx, true, &mut |v| {
                    found = patterns.lookup(&v).is_some();
                    !found
                });
                found
            }
        }
    }
}

/// A named ACL: its tests OR-ed.
#[derive(Debug)]
pub(crate) struct Acl {
    #[allow(dead_code)]
    name: String,
    tests: Vec<Test>,
}

impl Acl {
    fn eval(&self, ctx: &EvalCtx) -> bool {
        self.tests.iter().any(|t| t.eval(ctx))
    }
}

/// The named ACLs of a proxy, compiled on first use and shared by every condition
/// compiled with the same set (a 10,000-pattern list is then built once).
pub struct AclSet<'d> {
    defs: &'d [AclDef],
    cache: RefCell<HashMap<String, Arc<Acl>>>,
}

impl<'d> AclSet<'d> {
    pub fn new(defs: &'d [AclDef]) -> Self {
        AclSet {
            defs,
            cache: RefCell::new(HashMap::new()),
        }
    }

    fn get(&self, name: &str) -> Result<Arc<Acl>, CompileError> {
        if let Some(a) = self.cache.borrow().get(name) {
            return Ok(a.clone());
        }
        let mut tests = Vec::new();
        let mut declared = false;
        for def in self.defs.iter().filter(|d| d.name == name) {
            declared = true;
            for c in &def.criteria {
                tests.push(
                    Test::compile(c)
                        .map_err(|e| CompileError(format!("in ACL '{name}': {}", e.0)))?,
                );
            }
        }
        if !declared {
            tests.push(predefined(name)?);
        }
        let acl = Arc::new(Acl {
            name: name.to_string(),
            tests,
        });
        self.cache
            .borrow_mut()
            .insert(name.to_string(), acl.clone());
        Ok(acl)
    }
}

/// HAProxy's predefined ACLs (used when no `acl` line has that name).
fn predefined(name: &str) -> Result<Test, CompileError> {
    match name {
        "RDP_COOKIE" => return Ok(Test::Const(false)),
        "REQ_CONTENT" => return Ok(Test::HasRequest),
        _ => {}
    }
    let def = crate::config::acl::predefined_acl(name)
        .ok_or_else(|| CompileError(format!("unknown ACL '{name}'")))?;
    let crit = def
        .criterion()
        .map_err(|e| CompileError(format!("predefined ACL '{name}': {}", e.message)))?;
    Test::compile(&crit)
}

#[derive(Debug, Clone)]
enum Term {
    Named(Arc<Acl>),
    Anonymous(Box<Test>),
}

/// A condition ready to evaluate; named ACLs resolved against the proxy's `acl` lines.
#[derive(Debug, Clone)]
pub struct CompiledCond {
    unless: bool,
    /// OR of groups, each an AND of (negated?, term).
    groups: Vec<Vec<(bool, Term)>>,
}

impl CompiledCond {
    pub fn compile(cond: &Condition, acls: &[AclDef]) -> Result<Self, CompileError> {
        Self::compile_with(cond, &AclSet::new(acls))
    }

    /// As [`CompiledCond::compile`], sharing the named ACLs compiled in `set`.
    pub fn compile_with(cond: &Condition, set: &AclSet) -> Result<Self, CompileError> {
        let mut groups = Vec::with_capacity(cond.or_groups.len());
        for g in &cond.or_groups {
            let mut terms = Vec::with_capacity(g.len());
            for t in g {
                let term = match &t.kind {
                    TermKind::Named(name, _) => Term::Named(set.get(name)?),
                    TermKind::Anonymous(c) => Term::Anonymous(Box::new(Test::compile(c)?)),
                };
                terms.push((t.negate, term));
            }
            groups.push(terms);
        }
        Ok(CompiledCond {
            unless: cond.unless,
            groups,
        })
    }

    pub fn eval(&self, ctx: &EvalCtx) -> bool {
        let hit = self.groups.iter().any(|g| {
            g.iter().all(|(negate, term)| {
                let r = match term {
                    Term::Named(acl) => acl.eval(ctx),
                    Term::Anonymous(t) => t.eval(ctx),
                };
                r != *negate
            })
        });
        hit != self.unless
    }

    /// As [`CompiledCond::eval`] on data that may still grow (HAProxy's three-valued
    /// evaluation): `None` (HAProxy's MISS) when the outcome may still change: a term that
    /// did not match on a payload fetch short of bytes is unknown, so is its negation;
    /// a group with a false term is false, else unknown with an unknown term; the
    /// condition is true with a true group, else unknown with an unknown group.
    pub fn eval_partial(&self, ctx: &EvalCtx) -> Option<bool> {
        let mut unknown = false;
        for g in &self.groups {
            let mut group = Some(true);
            for (negate, term) in g {
                ctx.conn.payload_short.take();
                let r = match term {
                    Term::Named(acl) => acl.eval(ctx),
                    Term::Anonymous(t) => t.eval(ctx),
                };
                let short = ctx.conn.payload_short.take();
                match (r, short) {
                    (false, true) => group = None,
                    (r, _) if r == *negate => {
                        group = Some(false);
                        break;
                    }
                    _ => {}
                }
            }
            match group {
                Some(true) => return Some(!self.unless),
                None => unknown = true,
                Some(false) => {}
            }
        }
        if unknown { None } else { Some(self.unless) }
    }
}

//! `userlist` sections: users and groups for HTTP authentication.

use super::{Ctx, Stmt, unknown};
use crate::config::ast::Section;
use crate::config::pending;
use crate::model::{Password, User, Userlist};

pub const KEYWORDS: &[&str] = &["group", "user"];

pub fn section(ctx: &mut Ctx, sec: &Section) -> Option<Userlist> {
    let Some(name) = sec.name() else {
        ctx.err_hint(
            sec.header.words[0].span,
            "'userlist' expects a name",
            "usage: userlist <name>",
        );
        return None;
    };
    let mut ul = Userlist {
        name: name.text.clone(),
        ..Default::default()
    };
    for line in &sec.statements {
        let s = Stmt {
            line,
            kw: 0,
            no: false,
            default: false,
        };
        let kw = &line.words[0];
        match kw.text.as_str() {
            "group" => {
                let Ok(n) = s.need(ctx, 1, "a group name") else {
                    continue;
                };
                let users = match (s.arg_str(2), s.arg(3)) {
                    (Some("users"), Some(u)) => u.text.split(',').map(String::from).collect(),
                    (None, _) => Vec::new(),
                    _ => {
                        ctx.err_hint(
                            s.span_of(2),
                            "unexpected argument to 'group'",
                            "usage: group <name> [users <user>[,<user>...]]",
                        );
                        continue;
                    }
                };
                ul.groups.push((n.text.clone(), users));
            }
            "user" => {
                let Ok(n) = s.need(ctx, 1, "a user name") else {
                    continue;
                };
                let mut user = User {
                    name: n.text.clone(),
                    password: Password::Plain(String::new()),
                    groups: Vec::new(),
                };
                let mut i = 2;
                let mut has_password = false;
                let mut bad = false;
                while let Some(w) = s.arg(i) {
                    let Some(v) = s.arg(i + 1) else {
                        ctx.err(w.span, format!("'{}' expects a value", w.text));
                        bad = true;
                        break;
                    };
                    match w.text.as_str() {
                        "password" => {
                            user.password = Password::Hashed(v.text.clone());
                            has_password = true;
                        }
                        "insecure-password" => {
                            user.password = Password::Plain(v.text.clone());
                            has_password = true;
                        }
                        "groups" => user.groups = v.text.split(',').map(String::from).collect(),
                        o => {
                            ctx.err_hint(w.span, format!("unexpected '{o}' in 'user'"), "usage: user <name> [password|insecure-password <pw>] [groups <g>[,<g>...]]");
                            bad = true;
                            break;
                        }
                    }
                    i += 2;
                }
                if !has_password && !bad {
                    ctx.warn(
                        n.span,
                        format!(
                            "user '{}' has no password: it can never authenticate",
                            n.text
                        ),
                    );
                }
                if !bad {
                    ul.users.push(user);
                }
            }
            other => {
                if super::report_unmodelled(
                    ctx,
                    pending::USERLIST,
                    other,
                    "userlist keyword",
                    kw.span,
                ) {
                    continue;
                }
                unknown(
                    ctx,
                    kw.span,
                    "keyword",
                    other,
                    "userlist",
                    KEYWORDS.to_vec(),
                );
            }
        }
    }
    Some(ul)
}

//! ACL definitions (`acl NAME criterion [flags] [operator] values`) and conditions
//! (`if|unless` with `!`, `||`/`or`, implicit AND and anonymous `{ ... }` ACLs).
//!
//! Errors come with the index of the offending word (in the slice given) and a position
//! inside it. Things HAProxy only warns about are returned as warnings the same way.

use std::path::{Path, PathBuf};

use super::diag::did_you_mean;
use super::lexer::Word;
use super::sample::{check_regex, fetch_info, is_idchar, parse_sample};
use super::value::{ValueError, parse_int, parse_network};
use crate::model::expr::{
    AclCriterion, AclFlags, Condition, IntMatch, MatchMethod, Pattern, Sample, SmpType, Term,
    TermKind,
};

/// An error or warning about word `.1` of the slice given.
pub type WordError = (ValueError, usize);

/// ACL keyword families: `hdr_beg` is `req.hdr -m beg`, `hdr` alone is `req.hdr -m str`.
const FAMILIES: &[(&str, &str)] = &[
    ("base", "base"),
    ("cook", "req.cook"),
    ("hdr", "req.hdr"),
    ("path", "path"),
    ("scook", "res.cook"),
    ("shdr", "res.hdr"),
    ("url", "url"),
    ("urlp", "urlp"),
];

const SUFFIXES: &[(&str, MatchMethod)] = &[
    ("", MatchMethod::Str),
    ("_beg", MatchMethod::Beg),
    ("_dir", MatchMethod::Dir),
    ("_dom", MatchMethod::Dom),
    ("_end", MatchMethod::End),
    ("_len", MatchMethod::Len),
    ("_reg", MatchMethod::Reg),
    ("_sub", MatchMethod::Sub),
];

/// The other ACL keywords of HAProxy 2.6: keyword, fetch, match method.
const SPECIAL: &[(&str, &str, MatchMethod)] = &[
    ("http_auth_group", "http_auth_group", MatchMethod::Str),
    ("method", "method", MatchMethod::Str),
    ("payload", "req.payload", MatchMethod::Bin),
    ("payload_lv", "req.payload_lv", MatchMethod::Bin),
    ("req.ssl_ver", "req.ssl_ver", MatchMethod::Int),
    ("req_rdp_cookie", "req.rdp_cookie", MatchMethod::Str),
    ("req_rdp_cookie_cnt", "req.rdp_cookie_cnt", MatchMethod::Int),
    ("req_ssl_sni", "req.ssl_sni", MatchMethod::Str),
    ("req_ssl_ver", "req.ssl_ver", MatchMethod::Int),
    ("req_ver", "req.ver", MatchMethod::Str),
    ("resp_ver", "res.ver", MatchMethod::Str),
    ("ssl_fc_sni_end", "ssl_fc_sni", MatchMethod::End),
    ("ssl_fc_sni_reg", "ssl_fc_sni", MatchMethod::Reg),
];

/// The fetch and match method an ACL keyword stands for.
pub fn acl_keyword(name: &str) -> Option<(&'static str, MatchMethod)> {
    if let Some((_, fetch, m)) = SPECIAL.iter().find(|(k, _, _)| *k == name) {
        return Some((fetch, m.clone()));
    }
    FAMILIES.iter().find_map(|&(family, fetch)| {
        let suffix = name.strip_prefix(family)?;
        SUFFIXES
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, m)| (fetch, m.clone()))
    })
}

fn acl_keyword_names() -> Vec<String> {
    let mut v: Vec<String> = SPECIAL.iter().map(|(k, _, _)| k.to_string()).collect();
    for (family, _) in FAMILIES {
        v.extend(SUFFIXES.iter().map(|(s, _)| format!("{family}{s}")));
    }
    v
}

/// Checks an ACL name: letters, digits, `.`, `:`, `_` and `-`.
pub fn check_acl_name(name: &str) -> Result<(), ValueError> {
    let hint = "ACL names may contain letters, digits, '.', ':', '_' and '-'";
    if name.is_empty() {
        return Err(ValueError::new(0, "missing ACL name").with_hint(hint));
    }
    match name.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-'))) {
        Some(i) => Err(
            ValueError::new(i, format!("invalid character in ACL name '{name}'")).with_hint(hint),
        ),
        None => Ok(()),
    }
}

/// The match method used when none is given: from the sample's type.
fn default_method(ty: SmpType) -> Option<MatchMethod> {
    match ty {
        SmpType::Bool => Some(MatchMethod::Bool),
        SmpType::Sint => Some(MatchMethod::Int),
        SmpType::Addr | SmpType::Ipv4 | SmpType::Ipv6 => Some(MatchMethod::Ip),
        SmpType::Str => Some(MatchMethod::Str),
        _ => None,
    }
}

/// Parses `criterion [flags] [operator] patterns...`; `words[0]` is the criterion.
pub fn parse_acl_criterion(words: &[Word]) -> Result<AclCriterion, WordError> {
    parse_acl_criterion_warn(words, &mut Vec::new())
}

/// As [`parse_acl_criterion`], also collecting what HAProxy warns about.
pub fn parse_acl_criterion_warn(
    words: &[Word],
    warnings: &mut Vec<WordError>,
) -> Result<AclCriterion, WordError> {
    let keyword = words.first().map_or("", |w| w.text.as_str());
    let (sample, mut method, dotted) = criterion_sample(keyword).map_err(|e| (e, 0))?;
    let ty = sample.output_type();
    let mut flags = AclFlags::default();
    let mut files = Vec::new();
    let mut patterns = Vec::new();
    let mut pats = PatternParser::new(keyword, dotted);
    let mut i = 1;
    let value_of = |i: usize, opt: &str| {
        words.get(i + 1).map(|w| w.text.as_str()).ok_or_else(|| {
            let w = &words[i];
            (
                ValueError::new(w.text.len(), format!("missing argument for '{opt}'")),
                i,
            )
        })
    };
    while let Some(w) = words.get(i).filter(|w| w.text.starts_with('-')) {
        match w.text.as_str() {
            "-i" => flags.ignore_case = true,
            "-n" => flags.no_dns = true,
            "-M" => flags.map_file = true,
            "-u" => {
                let v = value_of(i, "-u")?;
                let id = parse_int(v, i64::MIN, i64::MAX).map_err(|_| {
                    (
                        ValueError::new(0, "the argument of -u must be an integer"),
                        i + 1,
                    )
                })?;
                flags.unique_id = Some(id);
                i += 1;
            }
            "-m" => {
                if !files.is_empty() {
                    return Err((ValueError::new(0, "'-m' must be given before '-f'"), i));
                }
                let v = value_of(i, "-m")?;
                let m = MatchMethod::implemented(v).ok_or_else(|| {
                    let mut e = ValueError::new(0, format!("unknown matching method '{v}'"));
                    e.hint = Some(match did_you_mean(v, MatchMethod::IMPLEMENTED.iter().map(|m| m.as_str())) {
                        Some(s) => format!("did you mean '{s}'?"),
                        None => "methods are found, bool, int, ip, bin, len, str, beg, sub, dir, dom, end, reg".into(),
                    });
                    (e, i + 1)
                })?;
                if m != MatchMethod::Found && !ty.can_cast(m.input_type()) {
                    return Err((
                        ValueError::new(
                            0,
                            format!("matching method '{v}' cannot be used with '{keyword}'"),
                        ),
                        i + 1,
                    ));
                }
                method = Some(m);
                // An explicit method replaces the keyword's own pattern parser.
                pats.dotted = false;
                i += 1;
            }
            "-f" => {
                let v = value_of(i, "-f")?;
                let m = method
                    .clone()
                    .ok_or_else(|| (missing_method(keyword, ty), i))?;
                let loaded = if flags.map_file {
                    load_map_file(Path::new(v)).map(keys)
                } else {
                    load_lines(Path::new(v))
                };
                let lines = loaded.map_err(|e| (ValueError::new(0, e), i + 1))?;
                for (line, text) in lines {
                    if let Some(p) =
                        pats.parse(&text, &m, &flags, warnings, i + 1)
                            .map_err(|(e, _)| {
                                let message = format!("{v}:{line}: {}", e.message);
                                (
                                    ValueError {
                                        message,
                                        at: 0,
                                        ..e
                                    },
                                    i + 1,
                                )
                            })?
                    {
                        patterns.push(p);
                    }
                }
                files.push(PathBuf::from(v));
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            other => {
                return Err((
                    ValueError::new(0, format!("'{other}' is not a valid ACL option")).with_hint(
                        "options are -i, -f FILE, -m METHOD, -n, -M, -u ID and --; write '--' before a pattern starting with '-'",
                    ),
                    i,
                ));
            }
        }
        i += 1;
    }
    let method = method.ok_or_else(|| (missing_method(keyword, ty), 0))?;
    if words.len() == 1 && ty != SmpType::Bool {
        warnings.push((
            ValueError::new(0, format!("no pattern to match '{keyword}' against, so this ACL never matches")).with_hint(
                "add '--' if this is intended, use '-m found' to test for existence, or '-m bool' to test a number as a boolean",
            ),
            0,
        ));
    }
    for (idx, w) in words.iter().enumerate().skip(i) {
        if let Some(p) = pats.parse(&w.text, &method, &flags, warnings, idx)? {
            patterns.push(p);
        }
    }
    Ok(AclCriterion {
        keyword: keyword.to_string(),
        sample,
        method,
        flags,
        patterns,
        files,
    })
}

fn missing_method(keyword: &str, ty: SmpType) -> ValueError {
    ValueError::new(
        0,
        format!("a matching method must be given with '-m' for '{keyword}' (it returns {ty:?})"),
    )
    .with_hint("for example '-m str', '-m bin', '-m found' or '-m len'")
}

fn keys(map: Vec<(usize, String, String)>) -> Vec<(usize, String)> {
    map.into_iter().map(|(n, k, _)| (n, k)).collect()
}

/// The sample of a criterion, the method implied by an ACL keyword (or by its type), and
/// whether integer patterns are dotted versions (`req.ssl_ver 3.1`).
fn criterion_sample(text: &str) -> Result<(Sample, Option<MatchMethod>, bool), ValueError> {
    let name_len = text.find(|c: char| !is_idchar(c)).unwrap_or(text.len());
    let name = &text[..name_len];
    let Some((fetch, method)) = acl_keyword(name) else {
        let sample = parse_sample(text).map_err(|e| {
            // Suggest ACL keywords too: `path_begg` should find `path_beg`.
            if e.at == 0 && e.message.starts_with("unknown sample fetch") {
                let names = acl_keyword_names();
                let fetch_names: Vec<&str> = names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| fetch_info(n).is_none())
                    .collect();
                if let Some(s) = did_you_mean(name, fetch_names) {
                    return ValueError {
                        hint: Some(format!("did you mean '{s}'?")),
                        ..e
                    };
                }
            }
            e
        })?;
        let m = default_method(sample.output_type());
        return Ok((sample, m, false));
    };
    // Parse as the keyword's fetch, then report positions and names as the user wrote them.
    let sample =
        parse_sample(&format!("{fetch}{}", &text[name_len..])).map_err(|e| ValueError {
            message: e
                .message
                .replace(&format!("'{fetch}'"), &format!("'{name}'")),
            at: (e.at + name_len).saturating_sub(fetch.len()),
            ..e
        })?;
    if !sample.converters.is_empty() {
        let m = default_method(sample.output_type());
        return Ok((sample, m, false));
    }
    // Only the two `ssl_ver` keywords parse their patterns as versions.
    Ok((sample, Some(method), name.ends_with("ssl_ver")))
}

/// Pattern parsing state: the integer operator in effect and whether versions are dotted.
struct PatternParser<'a> {
    keyword: &'a str,
    dotted: bool,
    op: &'static str,
    warned_ignored: bool,
}

impl<'a> PatternParser<'a> {
    fn new(keyword: &'a str, dotted: bool) -> Self {
        PatternParser {
            keyword,
            dotted,
            op: "eq",
            warned_ignored: false,
        }
    }

    /// One pattern word; `None` for operators and for patterns the method ignores.
    fn parse(
        &mut self,
        text: &str,
        method: &MatchMethod,
        flags: &AclFlags,
        warnings: &mut Vec<WordError>,
        idx: usize,
    ) -> Result<Option<Pattern>, WordError> {
        let err = |e: ValueError| (e, idx);
        Ok(Some(match method {
            MatchMethod::Found | MatchMethod::Bool => {
                if !self.warned_ignored {
                    self.warned_ignored = true;
                    let msg = format!(
                        "patterns are ignored with '-m {method}' on '{}'",
                        self.keyword
                    );
                    warnings.push((ValueError::new(0, msg), idx));
                }
                return Ok(None);
            }
            MatchMethod::Int | MatchMethod::Len => {
                if let Some(op) = ["eq", "ge", "gt", "le", "lt"]
                    .into_iter()
                    .find(|o| *o == text)
                {
                    self.op = op;
                    return Ok(None);
                }
                Pattern::Int(int_pattern(text, self.op, self.dotted).map_err(err)?)
            }
            MatchMethod::Ip => match parse_network(text) {
                Ok(net) => Pattern::Ip(net),
                Err(_) if !flags.no_dns && is_host_name(text) => Pattern::Host(text.to_string()),
                Err(e) => return Err(err(e)),
            },
            MatchMethod::Bin => Pattern::Bin(parse_hex(text).map_err(err)?),
            MatchMethod::Reg | MatchMethod::Regm => {
                check_regex(text, flags.ignore_case).map_err(|m| err(ValueError::new(0, m)))?;
                Pattern::Regex(text.to_string())
            }
            _ => Pattern::Str(text.to_string()),
        }))
    }
}

fn is_host_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Hexadecimal bytes, as `-m bin` patterns are written.
fn parse_hex(s: &str) -> Result<Vec<u8>, ValueError> {
    let hint = "binary patterns are written in hexadecimal, two digits per byte, as in 16030100";
    if !s.len().is_multiple_of(2) {
        return Err(
            ValueError::new(0, format!("'{s}' has an odd number of hexadecimal digits"))
                .with_hint(hint),
        );
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| {
                    u8::from_str_radix(h, 16)
                        .ok()
                        .filter(|_| h.bytes().all(|b| b.is_ascii_hexdigit()))
                })
                .ok_or_else(|| {
                    ValueError::new(i, format!("'{s}' is not hexadecimal")).with_hint(hint)
                })
        })
        .collect()
}

/// An integer or dotted-version pattern: `N`, `N:M`, `:M`, `N:` (`-` works as `:`), with
/// an operator applied to plain numbers as HAProxy does (`gt 5` is `6:`).
fn int_pattern(text: &str, op: &str, dotted: bool) -> Result<IntMatch, ValueError> {
    let num = |s: &str| -> Option<i64> {
        if !dotted {
            return parse_int(s, i64::MIN, i64::MAX).ok();
        }
        let (major, minor) = s.split_once('.').unwrap_or((s, "0"));
        let major = parse_int(major, 0, 65535).ok()?;
        let minor = parse_int(minor, 0, 65535).ok()?;
        Some((major << 16) | minor)
    };
    let invalid = || {
        let what = if dotted {
            "version (or range of versions)"
        } else {
            "number (or range)"
        };
        ValueError::new(0, format!("'{text}' is not a valid {what}")).with_hint(
            "expected N, N:M, :M or N:, optionally after an operator eq, ge, gt, le or lt",
        )
    };
    let Some(sep) = text.find([':', '-']) else {
        let v = num(text).ok_or_else(|| match (dotted, op) {
            (true, _) => invalid(),
            (false, "eq") => ValueError {
                message: format!("'{text}' is neither a number nor a supported operator"),
                ..invalid()
            },
            _ => ValueError::new(0, format!("'{text}' is not a number"))
                .with_hint(format!("'{op}' must be followed by a number")),
        })?;
        let step = |d: i64| v.checked_add(d).ok_or_else(invalid);
        return Ok(match op {
            "ge" => IntMatch {
                min: Some(v),
                max: None,
            },
            "gt" => IntMatch {
                min: Some(step(1)?),
                max: None,
            },
            "le" => IntMatch {
                min: None,
                max: Some(v),
            },
            "lt" => IntMatch {
                min: None,
                max: Some(step(-1)?),
            },
            _ => IntMatch {
                min: Some(v),
                max: Some(v),
            },
        });
    };
    let (a, b) = (&text[..sep], &text[sep + 1..]);
    let bound = |s: &str| {
        if s.is_empty() {
            Ok(None)
        } else {
            num(s).map(Some).ok_or_else(invalid)
        }
    };
    let (min, max) = (bound(a)?, bound(b)?);
    if min.is_none() && max.is_none() || min.zip(max).is_some_and(|(a, b)| a > b) {
        return Err(invalid());
    }
    Ok(IntMatch { min, max })
}

/// Reads a pattern file: one pattern per line, leading blanks removed, lines starting with
/// `#` and empty lines skipped. Trailing blanks are part of the pattern, as in HAProxy.
pub fn load_pattern_file(path: &Path) -> Result<Vec<String>, String> {
    load_lines(path).map(|v| v.into_iter().map(|(_, s)| s).collect())
}

/// Reads a map file: a key, blanks, then the value up to the end of the line (trailing
/// blanks removed); comments and empty lines as in pattern files.
pub fn load_map_file(path: &Path) -> Result<Vec<(usize, String, String)>, String> {
    load_lines(path).map(|lines| {
        lines
            .into_iter()
            .map(|(n, l)| {
                let (key, value) = l.split_once([' ', '\t']).unwrap_or((&l, ""));
                (
                    n,
                    key.to_string(),
                    value
                        .trim_start_matches([' ', '\t'])
                        .trim_end_matches([' ', '\t'])
                        .to_string(),
                )
            })
            .collect()
    })
}

/// The meaningful lines of a pattern or map file with their 1-based line numbers.
fn load_lines(path: &Path) -> Result<Vec<(usize, String)>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("failed to open pattern file <{}>: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'))
        .filter_map(|(n, l)| {
            let l = l.trim_start_matches([' ', '\t']);
            let l = &l[..l.find('\r').unwrap_or(l.len())];
            (!l.is_empty()).then(|| (n + 1, l.to_string()))
        })
        .collect())
}

/// Parses the words of a condition after `if` (`unless == false`) or `unless`.
pub fn parse_condition(words: &[Word], unless: bool) -> Result<Condition, WordError> {
    parse_condition_warn(words, unless, &mut Vec::new())
}

/// As [`parse_condition`], also collecting what HAProxy warns about.
pub fn parse_condition_warn(
    words: &[Word],
    unless: bool,
    warnings: &mut Vec<WordError>,
) -> Result<Condition, WordError> {
    let mut or_groups = Vec::new();
    let mut group: Vec<Term> = Vec::new();
    let mut negate = false;
    let mut i = 0;
    while let Some(w) = words.get(i) {
        // Each '!' flips the negation; a lone '!' applies to the next term.
        let word = w.text.trim_start_matches('!');
        let bangs = w.text.len() - word.len();
        negate ^= bangs % 2 == 1;
        i += 1;
        if word.is_empty() {
            continue;
        }
        if word.eq_ignore_ascii_case("or") || word == "||" {
            if !group.is_empty() {
                or_groups.push(std::mem::take(&mut group));
            }
            negate = false;
            continue;
        }
        let kind = if word == "{" {
            let start = i;
            let len = words[start..].iter().position(|w| w.text == "}").ok_or_else(|| {
                (
                    ValueError::new(bangs, "missing closing '}' in condition")
                        .with_hint("braces of an anonymous ACL are separate words, as in '{ path_beg /api }'"),
                    start - 1,
                )
            })?;
            if len == 0 {
                return Err((
                    ValueError::new(bangs, "empty anonymous ACL")
                        .with_hint("write a criterion between the braces, as in '{ ssl_fc }'"),
                    start - 1,
                ));
            }
            let before = warnings.len();
            let crit = parse_acl_criterion_warn(&words[start..start + len], warnings)
                .map_err(|(e, j)| (e, start + j))?;
            for w in &mut warnings[before..] {
                w.1 += start;
            }
            i = start + len + 1;
            TermKind::Anonymous(Box::new(crit))
        } else {
            if word.starts_with('{') || word.ends_with('}') {
                let msg = if word == "}" {
                    "unexpected '}' without '{'".to_string()
                } else {
                    format!("'{word}' is not an ACL name")
                };
                return Err((
                    ValueError::new(bangs, msg).with_hint(
                        "braces of an anonymous ACL are separate words, as in '{ ssl_fc }'",
                    ),
                    i - 1,
                ));
            }
            check_acl_name(word).map_err(|e| {
                // Most often a criterion written inline: show it as an anonymous ACL.
                let inline: Vec<&str> = words[i.saturating_sub(2)..i].iter().map(|w| w.text.as_str()).collect();
                let e = e.shifted(bangs).with_hint(format!(
                    "a condition names ACLs; to test a criterion directly, use an anonymous ACL such as '{{ {} }}'",
                    inline.join(" ")
                ));
                (ValueError { message: format!("'{word}' is not a valid ACL name"), ..e }, i - 1)
            })?;
            TermKind::Named(word.to_string(), i - 1)
        };
        group.push(Term { negate, kind });
        negate = false;
    }
    if !group.is_empty() {
        or_groups.push(group);
    }
    Ok(Condition { unless, or_groups })
}

/// An ACL HAProxy predefines (`TRUE`, `METH_GET`, `LOCALHOST` ...), usable in conditions
/// without an `acl` line unless the proxy defines an ACL of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredefinedAcl {
    pub name: &'static str,
    /// The equivalent criterion words.
    pub definition: &'static [&'static str],
}

const PREDEFINED: &[PredefinedAcl] = &[
    PredefinedAcl {
        name: "TRUE",
        definition: &["always_true"],
    },
    PredefinedAcl {
        name: "FALSE",
        definition: &["always_false"],
    },
    PredefinedAcl {
        name: "LOCALHOST",
        definition: &["src", "127.0.0.1/8", "::1"],
    },
    PredefinedAcl {
        name: "HTTP",
        definition: &["req.proto_http"],
    },
    PredefinedAcl {
        name: "HTTP_1.0",
        definition: &["req.ver", "1.0"],
    },
    PredefinedAcl {
        name: "HTTP_1.1",
        definition: &["req.ver", "1.1"],
    },
    PredefinedAcl {
        name: "HTTP_2.0",
        definition: &["req.ver", "2.0"],
    },
    PredefinedAcl {
        name: "METH_CONNECT",
        definition: &["method", "CONNECT"],
    },
    PredefinedAcl {
        name: "METH_DELETE",
        definition: &["method", "DELETE"],
    },
    PredefinedAcl {
        name: "METH_GET",
        definition: &["method", "GET", "HEAD"],
    },
    PredefinedAcl {
        name: "METH_HEAD",
        definition: &["method", "HEAD"],
    },
    PredefinedAcl {
        name: "METH_OPTIONS",
        definition: &["method", "OPTIONS"],
    },
    PredefinedAcl {
        name: "METH_POST",
        definition: &["method", "POST"],
    },
    PredefinedAcl {
        name: "METH_PUT",
        definition: &["method", "PUT"],
    },
    PredefinedAcl {
        name: "METH_TRACE",
        definition: &["method", "TRACE"],
    },
    PredefinedAcl {
        name: "HTTP_URL_ABS",
        definition: &["url_reg", "^[^/:]*://"],
    },
    PredefinedAcl {
        name: "HTTP_URL_SLASH",
        definition: &["url_beg", "/"],
    },
    PredefinedAcl {
        name: "HTTP_URL_STAR",
        definition: &["url", "*"],
    },
    PredefinedAcl {
        name: "HTTP_CONTENT",
        definition: &["req.hdr_val(content-length)", "gt", "0"],
    },
    PredefinedAcl {
        name: "RDP_COOKIE",
        definition: &["req.rdp_cookie_cnt", "gt", "0"],
    },
    PredefinedAcl {
        name: "REQ_CONTENT",
        definition: &["req.len", "gt", "0"],
    },
    PredefinedAcl {
        name: "WAIT_END",
        definition: &["wait_end"],
    },
];

pub fn predefined_acl(name: &str) -> Option<PredefinedAcl> {
    PREDEFINED.iter().find(|p| p.name == name).copied()
}

impl PredefinedAcl {
    /// The criterion this ACL stands for.
    pub fn criterion(&self) -> Result<AclCriterion, ValueError> {
        let words: Vec<Word> = self
            .definition
            .iter()
            .map(|t| Word {
                text: t.to_string(),
                span: Default::default(),
                quoted: false,
            })
            .collect();
        parse_acl_criterion(&words).map_err(|(e, _)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::lex_line;
    use crate::model::expr::FetchName;
    use std::collections::HashMap;
    use std::io::Write;

    fn words(s: &str) -> Vec<Word> {
        lex_line(s, &HashMap::new()).expect("lexes")
    }

    fn crit(s: &str) -> Result<AclCriterion, WordError> {
        parse_acl_criterion(&words(s))
    }

    fn int(min: Option<i64>, max: Option<i64>) -> Pattern {
        Pattern::Int(IntMatch { min, max })
    }

    #[test]
    fn keywords() {
        assert_eq!(acl_keyword("hdr_beg"), Some(("req.hdr", MatchMethod::Beg)));
        assert_eq!(acl_keyword("path"), Some(("path", MatchMethod::Str)));
        assert_eq!(
            acl_keyword("ssl_fc_sni_end"),
            Some(("ssl_fc_sni", MatchMethod::End))
        );
        assert_eq!(acl_keyword("req.hdr_beg"), None);
        assert_eq!(acl_keyword("src"), None);
        assert_eq!(acl_keyword_names().len(), 77);
        assert!(
            acl_keyword_names()
                .iter()
                .all(|n| fetch_info(acl_keyword(n).map_or("", |k| k.0)).is_some())
        );
    }

    #[test]
    fn criteria_ok() {
        let s = |t: &str| Pattern::Str(t.into());
        let cases: Vec<(&str, &str, MatchMethod, Vec<Pattern>)> = vec![
            (
                "path_beg /api /static",
                "path",
                MatchMethod::Beg,
                vec![s("/api"), s("/static")],
            ),
            (
                "hdr_beg(host) -i www.",
                "req.hdr(host)",
                MatchMethod::Beg,
                vec![s("www.")],
            ),
            (
                "hdr(host) example.com",
                "req.hdr(host)",
                MatchMethod::Str,
                vec![s("example.com")],
            ),
            (
                "path_beg -m sub foo",
                "path",
                MatchMethod::Sub,
                vec![s("foo")],
            ),
            (
                "path_beg,lower /a",
                "path,lower",
                MatchMethod::Str,
                vec![s("/a")],
            ),
            (
                "req.hdr(host),lower -m end .com",
                "req.hdr(host),lower",
                MatchMethod::End,
                vec![s(".com")],
            ),
            (
                "method GET HEAD",
                "method",
                MatchMethod::Str,
                vec![s("GET"), s("HEAD")],
            ),
            (
                "src 10.0.0.0/8 192.168.0.1",
                "src",
                MatchMethod::Ip,
                vec![
                    Pattern::Ip("10.0.0.0/8".parse().expect("net")),
                    Pattern::Ip("192.168.0.1/32".parse().expect("net")),
                ],
            ),
            (
                "src localhost",
                "src",
                MatchMethod::Ip,
                vec![Pattern::Host("localhost".into())],
            ),
            (
                "dst_port 80 443 8000:8080 :10 20:",
                "dst_port",
                MatchMethod::Int,
                vec![
                    int(Some(80), Some(80)),
                    int(Some(443), Some(443)),
                    int(Some(8000), Some(8080)),
                    int(None, Some(10)),
                    int(Some(20), None),
                ],
            ),
            (
                "dst_port lt 5 10:20 gt 7",
                "dst_port",
                MatchMethod::Int,
                vec![
                    int(None, Some(4)),
                    int(Some(10), Some(20)),
                    int(Some(8), None),
                ],
            ),
            (
                "path_len ge 10",
                "path",
                MatchMethod::Len,
                vec![int(Some(10), None)],
            ),
            (
                "req.ssl_ver 3.1",
                "req.ssl_ver",
                MatchMethod::Int,
                vec![int(Some(0x30001), Some(0x30001))],
            ),
            (
                "req_ssl_ver gt 3",
                "req.ssl_ver",
                MatchMethod::Int,
                vec![int(Some(0x30001), None)],
            ),
            (
                "path_reg ^/a(b|c)$",
                "path",
                MatchMethod::Reg,
                vec![Pattern::Regex("^/a(b|c)$".into())],
            ),
            ("ssl_fc", "ssl_fc", MatchMethod::Bool, vec![]),
            ("path -m found", "path", MatchMethod::Found, vec![]),
            ("path -- -x", "path", MatchMethod::Str, vec![s("-x")]),
            (
                "req.payload(0,2) -m bin 1603",
                "req.payload(0,2)",
                MatchMethod::Bin,
                vec![Pattern::Bin(vec![0x16, 0x03])],
            ),
            (
                "payload(0,2) 1603",
                "req.payload(0,2)",
                MatchMethod::Bin,
                vec![Pattern::Bin(vec![0x16, 0x03])],
            ),
            (
                "req.body -m str x",
                "req.body",
                MatchMethod::Str,
                vec![s("x")],
            ),
            (
                "src,ipmask(24) 10.0.0.0",
                "src,ipmask(255.255.255.0)",
                MatchMethod::Ip,
                vec![Pattern::Ip("10.0.0.0/32".parse().expect("net"))],
            ),
            (
                "req.hdr_cnt gt 2",
                "req.hdr_cnt",
                MatchMethod::Int,
                vec![int(Some(3), None)],
            ),
        ];
        for (text, sample, method, patterns) in cases {
            let c = crit(text).unwrap_or_else(|(e, i)| panic!("{text}: {e} @{i}"));
            assert_eq!(
                (c.sample.to_string().as_str(), &c.method, &c.patterns),
                (sample, &method, &patterns),
                "{text}"
            );
        }
        let c = crit("path_beg -i -n -u 7 /x").expect("flags");
        assert_eq!(
            c.flags,
            AclFlags {
                ignore_case: true,
                no_dns: true,
                map_file: false,
                unique_id: Some(7)
            }
        );
        assert_eq!(c.keyword, "path_beg");
    }

    #[test]
    fn criteria_fail() {
        let cases = [
            ("", 0, 0, "missing sample fetch"),
            ("path_begg /a", 0, 0, "unknown sample fetch 'path_begg'"),
            ("req.hdr_beg(host) foo", 0, 0, "unknown sample fetch"),
            ("hdr_beg(host,x) foo", 0, 13, "argument 2 of 'hdr_beg'"),
            (
                "hdr_beg(a,1,2) foo",
                0,
                12,
                "too many arguments for 'hdr_beg'",
            ),
            ("req.body x", 0, 0, "matching method must be given"),
            (
                "req.body -f /nonexistent",
                1,
                0,
                "matching method must be given",
            ),
            ("path -x", 1, 0, "not a valid ACL option"),
            ("dst_port -5", 1, 0, "not a valid ACL option"),
            ("path -m", 1, 2, "missing argument for '-m'"),
            ("path -m sbu", 2, 0, "unknown matching method"),
            ("method -m int 1", 2, 0, "cannot be used"),
            ("path -u x", 2, 0, "must be an integer"),
            (
                "path -f /nonexistent/file",
                2,
                0,
                "failed to open pattern file </nonexistent/file>",
            ),
            ("dst_port 5:3", 1, 0, "not a valid number"),
            ("dst_port gt x", 2, 0, "is not a number"),
            ("dst_port 1x", 1, 0, "neither a number"),
            ("src 10.0.0.0/33", 1, 9, "invalid mask"),
            ("src -n localhost", 2, 0, "not a valid IPv4 or IPv6"),
            ("path_reg (", 1, 0, "invalid regex"),
            ("payload(0,1) 1", 1, 0, "odd number"),
            ("payload(0,1) zz", 1, 0, "not hexadecimal"),
            ("req.ssl_ver 3.x", 1, 0, "not a valid version"),
        ];
        for (text, idx, at, msg) in cases {
            let (e, i) = crit(text).expect_err(text);
            assert_eq!((i, e.at), (idx, at), "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
        }
        let (e, _) = crit("path_begg /a").expect_err("typo");
        assert_eq!(e.hint.as_deref(), Some("did you mean 'path_beg'?"));
    }

    #[test]
    fn warnings() {
        let mut w = Vec::new();
        parse_acl_criterion_warn(&words("req.hdr(host)"), &mut w).expect("parses");
        assert!(w[0].0.message.contains("never matches"), "{w:?}");
        w.clear();
        for ok in ["ssl_fc", "path --", "path -m found"] {
            parse_acl_criterion_warn(&words(ok), &mut w).expect("parses");
        }
        assert!(w.is_empty(), "{w:?}");
        parse_acl_criterion_warn(&words("ssl_fc foo bar"), &mut w).expect("parses");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].1, 1);
    }

    #[test]
    fn pattern_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.lst");
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(b"# comment\n  /api\r\n\n\t/static \n #not a comment\n")
            .expect("write");
        assert_eq!(
            load_pattern_file(&path),
            Ok(vec![
                "/api".into(),
                "/static ".into(),
                "#not a comment".into()
            ])
        );
        let line = format!("path_beg -f {} /last", path.display());
        let c = crit(&line).expect("loads");
        assert_eq!(c.patterns.len(), 4);
        assert_eq!(c.files, [path]);
        let map = dir.path().join("m.map");
        std::fs::write(&map, "k1 v1  \n k2\t\tvalue two\nk3\n").expect("write");
        assert_eq!(
            load_map_file(&map),
            Ok(vec![
                (1, "k1".into(), "v1".into()),
                (2, "k2".into(), "value two".into()),
                (3, "k3".into(), "".into())
            ])
        );
        let c = crit(&format!("hdr(host) -M -f {}", map.display())).expect("map");
        assert_eq!(
            c.patterns,
            [
                Pattern::Str("k1".into()),
                Pattern::Str("k2".into()),
                Pattern::Str("k3".into())
            ]
        );
        let bad = dir.path().join("bad.lst");
        std::fs::write(&bad, "10\nx\n").expect("write");
        let (e, i) = crit(&format!("dst_port -f {}", bad.display())).expect_err("bad pattern");
        assert_eq!(i, 2);
        assert!(e.message.contains(":2: 'x'"), "{e}");
    }

    fn cond(s: &str) -> Result<Condition, WordError> {
        parse_condition(&words(s), false)
    }

    fn shape(c: &Condition) -> String {
        c.or_groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|t| {
                        let name = match &t.kind {
                            TermKind::Named(n, i) => format!("{n}@{i}"),
                            TermKind::Anonymous(c) => format!("{{{}}}", c.keyword),
                        };
                        if t.negate { format!("!{name}") } else { name }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn conditions_ok() {
        let cases = [
            ("a b", "a@0 b@1"),
            ("a || b", "a@0 | b@2"),
            ("a or b OR c", "a@0 | b@2 | c@4"),
            ("!a ! b", "!a@0 !b@2"),
            ("!!a", "a@0"),
            ("! !a", "a@1"),
            ("{ ssl_fc } !{ path_beg /a }", "{ssl_fc} !{path_beg}"),
            ("! { ssl_fc } x", "!{ssl_fc} x@4"),
            ("a ||", "a@0"),
            ("|| a", "a@1"),
            ("", ""),
            ("! || a", "a@2"),
            ("HTTP_1.1 METH_GET", "HTTP_1.1@0 METH_GET@1"),
        ];
        for (text, want) in cases {
            let c = cond(text).unwrap_or_else(|(e, i)| panic!("{text}: {e} @{i}"));
            assert_eq!(shape(&c), want, "{text}");
        }
        assert!(parse_condition(&words("a"), true).expect("unless").unless);
    }

    #[test]
    fn conditions_fail() {
        let cases = [
            ("{ ssl_fc", 0, "missing closing '}'"),
            ("a {ssl_fc}", 1, "is not an ACL name"),
            ("a }", 1, "unexpected '}'"),
            ("{ }", 0, "empty anonymous ACL"),
            ("a { path_beg -x }", 3, "not a valid ACL option"),
            ("path_beg /api", 1, "not a valid ACL name"),
        ];
        for (text, idx, msg) in cases {
            let (e, i) = cond(text).expect_err(text);
            assert_eq!(i, idx, "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
        }
        let (e, _) = cond("path_beg /api").expect_err("inline");
        assert!(e.hint.is_some_and(|h| h.contains("{ path_beg /api }")));
        let mut w = Vec::new();
        parse_condition_warn(&words("a { req.hdr(x) }"), false, &mut w).expect("parses");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].1, 2);
    }

    #[test]
    fn predefined() {
        for p in PREDEFINED {
            let c = p.criterion().unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert!(!c.keyword.is_empty());
        }
        let get = predefined_acl("METH_GET")
            .and_then(|p| p.criterion().ok())
            .expect("METH_GET");
        assert_eq!(get.sample.fetch.name, FetchName::Method);
        assert_eq!(get.patterns.len(), 2);
        assert_eq!(predefined_acl("METH_FOO"), None);
        let local = predefined_acl("LOCALHOST")
            .and_then(|p| p.criterion().ok())
            .expect("LOCALHOST");
        assert_eq!(local.method, MatchMethod::Ip);
    }

    #[test]
    fn acl_names() {
        for ok in ["is_api", "a.b:c-d", "X1"] {
            assert!(check_acl_name(ok).is_ok(), "{ok}");
        }
        for (bad, at) in [("", 0), ("a b", 1), ("a/b", 1), ("{x", 0)] {
            assert_eq!(check_acl_name(bad).map_err(|e| e.at), Err(at), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[a-z_.(){}!|: 0-9/-]{0,40}") {
            if let Ok(w) = lex_line(&s, &HashMap::new()) {
                let _ = parse_condition(&w, false);
                let _ = parse_acl_criterion(&w);
            }
        }
    }
}

//! Log-format strings: literal text, `%ci`-style variables and `%[sample]` expressions.
//!
//! Used by `log-format`, `unique-id-format`, `http-request set-header` and every other
//! keyword taking a log-format string. `%{+Q,-X}` flags may precede a variable or a sample;
//! `%o` sets default flags for what follows; `%%` is a literal percent sign.

use super::diag::did_you_mean;
use super::sample::parse_sample_prefix;
use super::value::ValueError;
use crate::model::expr::{LfNode, LfOptions, LogFormat, LogVar};

const PERCENT_HINT: &str = "write '%%' for a literal percent sign";

/// Parses a log-format string; spaces are kept as written.
pub fn parse_log_format(s: &str) -> Result<LogFormat, ValueError> {
    parse(s, false)
}

/// Parses a log-format string whose runs of spaces are separators merged into one, as
/// HAProxy does for `log-format`, `log-format-sd` and `unique-id-format`.
pub fn parse_log_format_merging_spaces(s: &str) -> Result<LogFormat, ValueError> {
    parse(s, true)
}

fn parse(s: &str, merge_spaces: bool) -> Result<LogFormat, ValueError> {
    let mut nodes = Vec::new();
    let mut literal = String::new();
    // Flags set by `%o`, applied to every following variable and sample.
    let mut defaults = LfOptions::default();
    let mut i = 0;
    while i < s.len() {
        let Some(off) = s[i..].find('%') else {
            literal.push_str(&s[i..]);
            break;
        };
        literal.push_str(&s[i..i + off]);
        let pct = i + off;
        i = pct + 1;
        let mut options = LfOptions {
            raw: None,
            ..defaults.clone()
        };
        let mut next = s[i..].chars().next();
        if next == Some('%') {
            literal.push('%');
            i += 1;
            continue;
        }
        if next == Some('{') {
            let close = s[i..].find('}').ok_or_else(|| {
                ValueError::new(pct, "unterminated '%{' in log-format")
                    .with_hint("flags are written as %{+Q,-X}var")
            })?;
            let raw = &s[i + 1..i + close];
            apply_flags(raw, &mut options).map_err(|e| e.shifted(i + 1))?;
            options.raw = Some(raw.to_string());
            i += close + 1;
            next = s[i..].chars().next();
            if !next.is_some_and(|c| c == '[' || c.is_ascii_alphanumeric()) {
                return Err(ValueError::new(
                    i,
                    format!("'%{{{raw}}}' must be followed by a variable name or a sample"),
                )
                .with_hint("as in %{+Q}r or %{+Q}[req.hdr(host)]"));
            }
        }
        if !literal.is_empty() {
            nodes.push(LfNode::Literal(std::mem::take(&mut literal)));
        }
        match next {
            Some('[') => {
                let sample = parse_sample_prefix(&s[i + 1..]).map_err(|e| e.shifted(i + 1))?;
                let end = i + 1 + sample.len;
                match s[end..].chars().next() {
                    Some(']') => {}
                    None => {
                        return Err(
                            ValueError::new(i, "missing ']' after the sample expression")
                                .with_hint("a sample is written %[fetch,converter...]"),
                        );
                    }
                    Some(c) => {
                        return Err(ValueError::new(
                            end,
                            format!("expected ']' after the sample expression, found '{c}'"),
                        )
                        .with_hint(
                            "converters are separated by commas, as in %[req.hdr(host),lower]",
                        ));
                    }
                }
                i = end + 1;
                nodes.push(LfNode::Sample { sample, options });
            }
            Some(c)
                if c.is_ascii_alphanumeric()
                    && (options.raw.is_some() || c.is_ascii_alphabetic()) =>
            {
                let len = s[i..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(s.len() - i);
                let name = &s[i..i + len];
                let var = LogVar::implemented(name).ok_or_else(|| unknown_var(name, i))?;
                if var == LogVar::Global {
                    defaults = LfOptions {
                        raw: None,
                        ..options.clone()
                    };
                }
                i += len;
                nodes.push(LfNode::Var { var, options });
            }
            None => {
                return Err(ValueError::new(pct, "'%' at the end of the log-format")
                    .with_hint(PERCENT_HINT));
            }
            Some(c) => {
                return Err(ValueError::new(pct, format!("'%' followed by '{c}' is not a variable"))
                    .with_hint(format!("a variable is a name such as %ci, a sample %[src] or flags %{{+Q}}; {PERCENT_HINT}")));
            }
        }
    }
    if !literal.is_empty() {
        nodes.push(LfNode::Literal(literal));
    }
    if merge_spaces {
        for node in &mut nodes {
            if let LfNode::Literal(text) = node {
                *text = merge(text);
            }
        }
    }
    Ok(LogFormat(nodes))
}

fn unknown_var(name: &str, at: usize) -> ValueError {
    let err = ValueError::new(at, format!("no such log-format variable '%{name}'"));
    match did_you_mean(name, LogVar::IMPLEMENTED.iter().map(LogVar::as_str)) {
        Some(s) => err.with_hint(format!("did you mean '%{s}'? ({PERCENT_HINT})")),
        None => err.with_hint(PERCENT_HINT),
    }
}

/// Applies `+F`/`-F` items of a `%{...}` block to `options`.
fn apply_flags(raw: &str, options: &mut LfOptions) -> Result<(), ValueError> {
    let hint = "flags are +Q (quote), +X (hexadecimal), +E (escape) and +M (mandatory), or - to remove them";
    let mut at = 0;
    for item in raw.split(',') {
        if !item.is_empty() {
            let (on, flag) = match (item.strip_prefix('+'), item.strip_prefix('-')) {
                (Some(f), _) => (true, f),
                (_, Some(f)) => (false, f),
                _ => {
                    return Err(ValueError::new(
                        at,
                        format!("log-format flag '{item}' needs a '+' or '-' sign"),
                    )
                    .with_hint(hint));
                }
            };
            let slot = match flag {
                "Q" => &mut options.quote,
                "X" => &mut options.hex,
                "E" => &mut options.escape,
                "M" => &mut options.mandatory,
                _ => {
                    return Err(ValueError::new(
                        at + 1,
                        format!("unknown log-format flag '{flag}'"),
                    )
                    .with_hint(hint));
                }
            };
            *slot = on;
        }
        at += item.len() + 1;
    }
    Ok(())
}

/// Collapses runs of spaces into one.
fn merge(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::expr::{FetchName, Sample};

    const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
    const HTTPSLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc";
    const CLF: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
    const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

    #[test]
    fn round_trips() {
        let cases = [
            HTTPLOG,
            HTTPSLOG,
            CLF,
            TCPLOG,
            "",
            "plain text",
            "100%% sure %ci",
            "%[req.hdr(host),lower]",
            "%{+Q,+E}o [id=%ID]",
            "%{}ci",
            "%{+X}[src]:%{+X}cp",
            "%HPO%HQ%pid%H%Ts%ms%lc%rt%Th%Ti%Tq%Td%Tu%Tl%T%trl%U%bi%bp%fi%fp%si%sp",
        ];
        for s in cases {
            let lf = parse_log_format(s).unwrap_or_else(|e| panic!("{s}: {e} at {}", e.at));
            assert_eq!(lf.to_string(), s);
        }
    }

    #[test]
    fn structure() {
        let lf = parse_log_format("a%{+Q}[src]b%Tw%%").expect("parses");
        assert_eq!(lf.0.len(), 5);
        assert_eq!(lf.0[0], LfNode::Literal("a".into()));
        match &lf.0[1] {
            LfNode::Sample {
                sample: Sample { fetch, .. },
                options,
            } => {
                assert_eq!(fetch.name, FetchName::Src);
                assert!(options.quote && !options.hex);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            lf.0[3],
            LfNode::Var {
                var: LogVar::TimeWait,
                options: LfOptions::default()
            }
        );
        let lf = parse_log_format("%{+Q,+E}o %ci %{-Q}cp %[src]").expect("parses");
        let flags: Vec<(bool, bool)> =
            lf.0.iter()
                .filter_map(|n| match n {
                    LfNode::Var { options, .. } | LfNode::Sample { options, .. } => {
                        Some((options.quote, options.escape))
                    }
                    LfNode::Literal(_) => None,
                })
                .collect();
        assert_eq!(
            flags,
            [(true, true), (true, true), (false, true), (true, true)]
        );
        assert_eq!(
            parse_log_format_merging_spaces("%ci   %cp  x").map(|l| l.to_string()),
            Ok("%ci %cp x".to_string())
        );
        assert!(LogVar::Request.http_only() && !LogVar::ClientIp.http_only());
    }

    #[test]
    fn errors() {
        let cases = [
            ("%", 0, "at the end"),
            ("abc %", 4, "at the end"),
            ("% x", 0, "followed by ' '"),
            ("%5", 0, "followed by '5'"),
            ("%-", 0, "followed by '-'"),
            ("%cx", 1, "no such log-format variable '%cx'"),
            ("%Tsx", 1, "no such log-format variable"),
            ("%{+Q", 0, "unterminated"),
            ("%{+Q} ", 5, "must be followed"),
            ("%{Q}ci", 2, "needs a '+' or '-'"),
            ("%{+Z}ci", 3, "unknown log-format flag 'Z'"),
            ("%{+Q,+bin}ci", 6, "unknown log-format flag 'bin'"),
            ("%[src", 1, "missing ']'"),
            ("%[src lower]", 5, "expected ']'"),
            ("%[srcc]", 2, "unknown sample fetch"),
            ("x%[hdr(a]", 6, "missing ')'"),
            ("%[src,]", 6, "missing converter name"),
        ];
        for (s, at, msg) in cases {
            let e = parse_log_format(s).expect_err(s);
            assert_eq!(e.at, at, "{s}: {e}");
            assert!(e.message.contains(msg), "{s}: {e}");
        }
        let e = parse_log_format("%cip").expect_err("typo");
        assert!(e.hint.is_some_and(|h| h.contains("%ci")));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_round_trips(s in "[%{}+QXa-z\\[\\](),. 0-9-]{0,30}") {
            if let Ok(v) = parse_log_format(&s) {
                proptest::prop_assert_eq!(parse_log_format(&v.to_string()).map(|l| l.to_string()), Ok(v.to_string()));
            }
        }
    }
}

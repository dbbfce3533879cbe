//! Converters: compiling a converter keyword with its arguments (regexes compiled, map files
//! loaded), and applying it to a sample, with HAProxy's input casts.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::bytes::Regex;

use super::map::{MapConv, input_type as map_input, is_map_converter};
use super::pattern::compile_regex;
use super::value::{Smp, read_int64};
use super::{CompileError, EvalCtx};
use crate::model::expr::{Arg, Converter, SmpType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
}

/// An arithmetic operand: a constant or a variable holding an integer.
#[derive(Debug, Clone)]
enum Operand {
    Int(i64),
    Var(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashKind {
    Djb2,
    Sdbm,
    Crc32,
    Crc32c,
    Wt6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonMode {
    Ascii,
    Utf8,
    Utf8s,
    Utf8p,
    Utf8ps,
}

#[derive(Debug, Clone)]
enum Kind {
    Lower,
    Upper,
    Map(MapConv),
    Json(JsonMode),
    Word {
        index: i64,
        delims: Vec<u8>,
        count: i64,
    },
    Field {
        index: i64,
        delims: Vec<u8>,
        count: i64,
    },
    Regsub {
        re: Regex,
        subst: Vec<u8>,
        global: bool,
    },
    Bytes {
        offset: i64,
        len: Option<i64>,
    },
    Length,
    Base64,
    B64dec,
    Ub64enc,
    Ub64dec,
    Hex,
    Hex2i,
    UrlDec {
        form: bool,
    },
    UrlEnc,
    Ipmask {
        v4: u32,
        v6: Option<u128>,
    },
    Arith(Arith, Operand),
    Neg,
    Cpl,
    Bool,
    Not,
    Odd,
    Even,
    Concat {
        prefix: Vec<u8>,
        var: Option<String>,
        suffix: Vec<u8>,
    },
    AddItem {
        delim: Vec<u8>,
        var: Option<String>,
        suffix: Vec<u8>,
    },
    Ltrim(Vec<u8>),
    Rtrim(Vec<u8>),
    Strcmp(String),
    PortOnly,
    HostOnly,
    Hash(HashKind, bool),
    Sha1,
    Iif(Vec<u8>, Vec<u8>),
    CutCrlf,
    HttpDate {
        offset: i64,
        unit: u32,
    },
    Htonl,
}

/// A compiled converter and the type it casts its input to.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    kind: Kind,
    input: SmpType,
}

fn str_arg(args: &[Arg], i: usize) -> Option<&str> {
    match args.get(i) {
        Some(Arg::Str(s)) => Some(s),
        _ => None,
    }
}

fn int_arg(args: &[Arg], i: usize) -> Option<i64> {
    match args.get(i) {
        Some(Arg::Int(v)) => Some(*v),
        _ => None,
    }
}

impl Conv {
    pub fn compile(c: &Converter) -> Result<Conv, CompileError> {
        let name = c.name.as_str();
        let args = &c.args;
        let bad = |m: &str| CompileError(format!("converter '{name}': {m}"));
        let s = |i| str_arg(args, i).unwrap_or("").as_bytes().to_vec();
        let var = |i| {
            str_arg(args, i)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let operand = || match args.first() {
            Some(Arg::Int(i)) => Ok(Operand::Int(*i)),
            Some(Arg::Str(v)) if v.is_empty() => Ok(Operand::Int(0)),
            Some(Arg::Str(v)) => {
                let mut rest = v.as_bytes();
                let neg = matches!(rest.first(), Some(b'-' | b'+'));
                if neg {
                    rest = &rest[1..];
                }
                if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) {
                    Ok(Operand::Int(read_int64(v.as_bytes())))
                } else {
                    Ok(Operand::Var(v.clone()))
                }
            }
            _ => Err(bad("expects an integer or a variable name")),
        };
        let arith = |op| Ok::<Kind, CompileError>(Kind::Arith(op, operand()?));
        let hash = |k| Kind::Hash(k, int_arg(args, 0).unwrap_or(0) != 0);
        let kind = match name {
            "lower" => Kind::Lower,
            "upper" => Kind::Upper,
            n if is_map_converter(n) => Kind::Map(MapConv::compile(n, args)?),
            "json" => Kind::Json(match str_arg(args, 0).unwrap_or("") {
                "" | "ascii" => JsonMode::Ascii,
                "utf8" => JsonMode::Utf8,
                "utf8s" => JsonMode::Utf8s,
                "utf8p" => JsonMode::Utf8p,
                "utf8ps" => JsonMode::Utf8ps,
                other => return Err(bad(&format!("unknown input code '{other}'"))),
            }),
            "word" | "field" => {
                let index = int_arg(args, 0)
                    .filter(|i| *i != 0)
                    .ok_or_else(|| bad("the index must not be 0"))?;
                let delims = s(1);
                if delims.is_empty() {
                    return Err(bad("empty list of delimiters"));
                }
                let count = int_arg(args, 2).unwrap_or(1);
                if name == "word" {
                    Kind::Word {
                        index,
                        delims,
                        count,
                    }
                } else {
                    Kind::Field {
                        index,
                        delims,
                        count,
                    }
                }
            }
            "regsub" => {
                let flags = str_arg(args, 2).unwrap_or("");
                if let Some(f) = flags.chars().find(|c| !matches!(c, 'g' | 'i')) {
                    return Err(bad(&format!("unknown flag '{f}'")));
                }
                Kind::Regsub {
                    re: compile_regex(str_arg(args, 0).unwrap_or(""), flags.contains('i'))
                        .map_err(|e| bad(&e))?,
                    subst: s(1),
                    global: flags.contains('g'),
                }
            }
            "bytes" => Kind::Bytes {
                offset: int_arg(args, 0).unwrap_or(0).max(0),
                len: int_arg(args, 1),
            },
            "length" => Kind::Length,
            "base64" => Kind::Base64,
            "b64dec" => Kind::B64dec,
            "ub64enc" => Kind::Ub64enc,
            "ub64dec" => Kind::Ub64dec,
            "hex" => Kind::Hex,
            "hex2i" => Kind::Hex2i,
            "url_dec" => Kind::UrlDec {
                form: int_arg(args, 0).unwrap_or(0) != 0,
            },
            "url_enc" => match str_arg(args, 0).unwrap_or("") {
                "" | "query" => Kind::UrlEnc,
                other => return Err(bad(&format!("unknown encoding '{other}'"))),
            },
            "ipmask" => Kind::Ipmask {
                v4: match args.first() {
                    Some(Arg::Ip(IpAddr::V4(m))) => m.to_bits(),
                    _ => return Err(bad("missing IPv4 mask")),
                },
                v6: match args.get(1) {
                    Some(Arg::Ip(IpAddr::V6(m))) => Some(m.to_bits()),
                    _ => None,
                },
            },
            "add" => arith(Arith::Add)?,
            "sub" => arith(Arith::Sub)?,
            "mul" => arith(Arith::Mul)?,
            "div" => arith(Arith::Div)?,
            "mod" => arith(Arith::Mod)?,
            "and" => arith(Arith::And)?,
            "or" => arith(Arith::Or)?,
            "xor" => arith(Arith::Xor)?,
            "neg" => Kind::Neg,
            "cpl" => Kind::Cpl,
            "bool" => Kind::Bool,
            "not" => Kind::Not,
            "odd" => Kind::Odd,
            "even" => Kind::Even,
            "concat" => Kind::Concat {
                prefix: s(0),
                var: var(1),
                suffix: s(2),
            },
            "add_item" => Kind::AddItem {
                delim: s(0),
                var: var(1),
                suffix: s(2),
            },
            "ltrim" => Kind::Ltrim(s(0)),
            "rtrim" => Kind::Rtrim(s(0)),
            "strcmp" => Kind::Strcmp(var(0).ok_or_else(|| bad("missing variable name"))?),
            "port_only" => Kind::PortOnly,
            "host_only" => Kind::HostOnly,
            "djb2" => hash(HashKind::Djb2),
            "sdbm" => hash(HashKind::Sdbm),
            "crc32" => hash(HashKind::Crc32),
            "crc32c" => hash(HashKind::Crc32c),
            "wt6" => hash(HashKind::Wt6),
            "sha1" => Kind::Sha1,
            "iif" => Kind::Iif(s(0), s(1)),
            "cut_crlf" => Kind::CutCrlf,
            "http_date" => Kind::HttpDate {
                offset: int_arg(args, 0).unwrap_or(0),
                unit: match str_arg(args, 1) {
                    Some("ms") => 1000,
                    Some("us") => 1_000_000,
                    _ => 1,
                },
            },
            "htonl" => Kind::Htonl,
            _ => {
                return Err(CompileError(format!(
                    "converter '{name}' is not implemented by the runtime yet"
                )));
            }
        };
        let input = if is_map_converter(name) {
            map_input(name)
        } else {
            crate::config::sample::converter_info(name).map_or(SmpType::Any, |i| i.input)
        };
        Ok(Conv { kind, input })
    }

    /// Applies the converter; `None` when it fails (the whole sample then fails).
    pub fn apply<'s>(&'s self, smp: Smp<'s>, ctx: &EvalCtx<'s>) -> Option<Smp<'s>> {
        let smp = smp.cast(self.input)?;
        let owned = |v: Vec<u8>| Some(Smp::Str(Cow::Owned(v)));
        let int = || smp.to_int();
        let bytes = || smp.to_bin();
        Some(match &self.kind {
            Kind::Lower | Kind::Upper => {
                let mut s = smp.into_str();
                let upper = matches!(self.kind, Kind::Upper);
                let needs = s.iter().any(|c| {
                    if upper {
                        c.is_ascii_lowercase()
                    } else {
                        c.is_ascii_uppercase()
                    }
                });
                if needs {
                    let v = s.to_mut();
                    if upper {
                        v.make_ascii_uppercase()
                    } else {
                        v.make_ascii_lowercase()
                    }
                }
                Smp::Str(s)
            }
            Kind::Map(m) => return m.apply(&smp),
            Kind::Json(mode) => return json(&smp.to_str(), *mode).and_then(owned),
            Kind::Word {
                index,
                delims,
                count,
            } => {
                let s = smp.into_str();
                let r = word(&s, *index, delims, *count);
                slice_of(s, r)
            }
            Kind::Field {
                index,
                delims,
                count,
            } => {
                let s = smp.into_str();
                let r = field(&s, *index, delims, *count)?;
                slice_of(s, r)
            }
            Kind::Regsub { re, subst, global } => {
                return owned(regsub(re, &smp.to_str(), subst, *global));
            }
            Kind::Bytes { offset, len } => {
                let b = match smp {
                    Smp::Bin(b) | Smp::Str(b) => b,
                    other => Cow::Owned(other.to_bin().into_owned()),
                };
                let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(b.len());
                let mut end = b.len();
                if let Some(l) = len.and_then(|l| usize::try_from(l).ok()) {
                    end = end.min(start.saturating_add(l));
                }
                Smp::Bin(match b {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
                    Cow::Owned(b) => Cow::Owned(b[start..end].to_vec()),
                })
            }
            Kind::Length => Smp::Int(smp.to_str().len() as i64),
            Kind::Base64 => return owned(base64_encode(&bytes(), STD, true)),
            Kind::Ub64enc => return owned(base64_encode(&bytes(), URL, false)),
            Kind::B64dec => Smp::Bin(Cow::Owned(base64_decode(&smp.to_str(), false)?)),
            Kind::Ub64dec => Smp::Bin(Cow::Owned(base64_decode(&smp.to_str(), true)?)),
            Kind::Hex => {
                let mut out = Vec::with_capacity(bytes().len() * 2);
                for b in bytes().iter() {
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 15) as usize]);
                }
                return owned(out);
            }
            Kind::Hex2i => {
                let mut n: i64 = 0;
                for &c in smp.to_str().iter() {
                    n = (n << 4) + (c as char).to_digit(16)? as i64;
                }
                Smp::Int(n)
            }
            Kind::UrlDec { form } => return url_decode(&smp.to_str(), *form).and_then(owned),
            Kind::UrlEnc => {
                let mut out = Vec::new();
                for &c in smp.to_str().iter() {
                    if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                        out.push(c);
                    } else {
                        out.extend_from_slice(&[
                            b'%',
                            HEX[(c >> 4) as usize],
                            HEX[(c & 15) as usize],
                        ]);
                    }
                }
                return owned(out);
            }
            Kind::Ipmask { v4, v6 } => {
                let ip = match smp.to_ip()? {
                    IpAddr::V6(a) => match a.to_ipv4_mapped() {
                        Some(m) => IpAddr::V4(m),
                        None => IpAddr::V6(a),
                    },
                    v4 => v4,
                };
                Smp::Ip(match ip {
                    IpAddr::V4(a) => IpAddr::V4((a.to_bits() & v4).into()),
                    IpAddr::V6(a) => IpAddr::V6((a.to_bits() & (*v6)?).into()),
                })
            }
            Kind::Arith(op, operand) => {
                let a = int()?;
                let b = match operand {
                    Operand::Int(i) => *i,
                    Operand::Var(v) => Smp::from_value(ctx.vars.get(v)?)
                        .cast(SmpType::Sint)?
                        .to_int()?,
                };
                Smp::Int(arith(*op, a, b))
            }
            Kind::Neg => Smp::Int(int()?.checked_neg().unwrap_or(i64::MAX)),
            Kind::Cpl => Smp::Int(!int()?),
            Kind::Bool => Smp::Bool(int()? != 0),
            Kind::Not => Smp::Bool(int()? == 0),
            Kind::Odd => Smp::Bool(int()? & 1 == 1),
            Kind::Even => Smp::Bool(int()? & 1 == 0),
            Kind::Concat {
                prefix,
                var,
                suffix,
            } => {
                let mut out = smp.into_str().into_owned();
                out.extend_from_slice(prefix);
                if let Some(v) = var_text(ctx, var.as_deref()) {
                    out.extend_from_slice(&v);
                }
                out.extend_from_slice(suffix);
                return owned(out);
            }
            Kind::AddItem { delim, var, suffix } => {
                let mut out = smp.into_str().into_owned();
                let v = var_text(ctx, var.as_deref());
                if !out.is_empty()
                    && (v.as_ref().is_some_and(|v| !v.is_empty()) || !suffix.is_empty())
                {
                    out.extend_from_slice(delim);
                }
                if let Some(v) = v {
                    out.extend_from_slice(&v);
                }
                out.extend_from_slice(suffix);
                return owned(out);
            }
            Kind::Ltrim(chars) => {
                let s = smp.into_str();
                let start = s.iter().position(|c| !chars.contains(c)).unwrap_or(s.len());
                slice_of(s, (start, usize::MAX))
            }
            Kind::Rtrim(chars) => {
                let s = smp.into_str();
                let end = s
                    .iter()
                    .rposition(|c| !chars.contains(c))
                    .map_or(0, |i| i + 1);
                slice_of(s, (0, end))
            }
            Kind::Strcmp(var) => {
                let other = var_text(ctx, Some(var))?;
                Smp::Int(match smp.to_str().as_ref().cmp(other.as_ref()) {
                    std::cmp::Ordering::Less => -1,
                    std::cmp::Ordering::Equal => 0,
                    std::cmp::Ordering::Greater => 1,
                })
            }
            Kind::PortOnly => {
                let s = smp.to_str();
                Smp::Int(match s.iter().rposition(|&c| c == b':' || c == b']') {
                    Some(i) if s[i] == b':' => {
                        let mut n: i64 = 0;
                        for &c in &s[i + 1..] {
                            if !c.is_ascii_digit() {
                                break;
                            }
                            n = n.wrapping_mul(10).wrapping_add((c - b'0') as i64);
                        }
                        n & 0xffff_ffff
                    }
                    _ => 0,
                })
            }
            Kind::HostOnly => {
                let s = smp.into_str();
                let end = match s.iter().rposition(|&c| c == b':' || c == b']') {
                    Some(i) if s[i] == b':' => i,
                    _ => s.len(),
                };
                let mut v = s[..end].to_vec();
                v.make_ascii_lowercase();
                return owned(v);
            }
            Kind::Hash(k, avalanche) => {
                let b = bytes();
                let h = match k {
                    HashKind::Djb2 => djb2(&b),
                    HashKind::Sdbm => sdbm(&b),
                    HashKind::Crc32 => crc32(&b),
                    HashKind::Crc32c => crc32c(&b),
                    HashKind::Wt6 => wt6(&b),
                };
                Smp::Int(if *avalanche { full_hash(h) } else { h } as i64)
            }
            Kind::Sha1 => Smp::Bin(Cow::Owned(sha1(&bytes()).to_vec())),
            Kind::Iif(t, f) => {
                let v = if smp.to_int()? != 0 { t } else { f };
                Smp::Str(Cow::Borrowed(v))
            }
            Kind::CutCrlf => {
                let s = smp.into_str();
                let end = s
                    .iter()
                    .position(|&c| c == b'\r' || c == b'\n')
                    .unwrap_or(s.len());
                slice_of(s, (0, end))
            }
            Kind::HttpDate { offset, unit } => {
                let v = int()?.wrapping_add(*offset);
                let unit = *unit as i64;
                let (secs, frac) = (v / unit, v % unit);
                let mut out = super::logformat::http_date(secs & 0x007f_ffff_ffff_ffff);
                if unit > 1 {
                    out = out.replace(" GMT", &format!(".{frac} GMT"));
                }
                Smp::owned(out)
            }
            Kind::Htonl => Smp::Bin(Cow::Owned((int()? as u32).to_be_bytes().to_vec())),
        })
    }
}

/// A sub-slice of a text sample, borrowing when the sample does.
fn slice_of(s: Cow<'_, [u8]>, (start, end): (usize, usize)) -> Smp<'_> {
    let end = end.min(s.len());
    let start = start.min(end);
    Smp::Str(match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
        Cow::Owned(mut v) => {
            v.truncate(end);
            v.drain(..start);
            Cow::Owned(v)
        }
    })
}

/// A variable's value as text (`concat`, `strcmp`).
fn var_text<'s>(ctx: &EvalCtx<'s>, name: Option<&str>) -> Option<Cow<'s, [u8]>> {
    Some(Smp::from_value(ctx.vars.get(name?)?).into_str())
}

fn arith(op: Arith, a: i64, b: i64) -> i64 {
    match op {
        Arith::Add => a.saturating_add(b),
        Arith::Sub => a.saturating_sub(b),
        Arith::Mul => a.saturating_mul(b),
        Arith::Div if b == 0 => i64::MAX,
        Arith::Div => a.checked_div(b).unwrap_or(i64::MAX),
        Arith::Mod if b == 0 => 0,
        Arith::Mod => a.checked_rem(b).unwrap_or(0),
        Arith::And => a & b,
        Arith::Or => a | b,
        Arith::Xor => a ^ b,
    }
}

/// `word`: the `index`th word (from the end when negative) and `count - 1` following
/// ones, words being runs of non-delimiters. A missing word gives an empty string.
fn word(s: &[u8], index: i64, delims: &[u8], count: i64) -> (usize, usize) {
    let is_sep = |c: &u8| delims.contains(c);
    let mut found = 0i64;
    let mut count = count;
    if index > 0 {
        let (mut start, mut inword) = (0, false);
        for (i, c) in s.iter().enumerate() {
            let sep = is_sep(c);
            if !inword {
                if !sep {
                    if found != index {
                        found += 1;
                        start = i;
                    }
                    inword = true;
                }
            } else if sep {
                if found == index {
                    if count == 1 {
                        return (start, i);
                    } else if count > 1 {
                        count -= 1;
                    }
                }
                inword = false;
            }
        }
        if found != index {
            return (0, 0);
        }
        (start, s.len())
    } else {
        let (mut end, mut inword) = (s.len(), false);
        for i in (0..s.len()).rev() {
            let sep = is_sep(&s[i]);
            if !inword {
                if !sep {
                    if found != index {
                        found -= 1;
                        end = i + 1;
                    }
                    inword = true;
                }
            } else if sep {
                if found == index {
                    if count == 1 {
                        return (i + 1, end);
                    } else if count > 1 {
                        count -= 1;
                    }
                }
                inword = false;
            }
        }
        if found != index {
            return (0, 0);
        }
        (0, end)
    }
}

/// `field`: the `index`th field between delimiters (from the end when negative) and
/// `count - 1` following ones; `None` when there are not that many fields.
fn field(s: &[u8], index: i64, delims: &[u8], count: i64) -> Option<(usize, usize)> {
    let is_sep = |c: &u8| delims.contains(c);
    let mut count = count;
    if index > 0 {
        let (mut field, mut start) = (1i64, 0usize);
        for (i, c) in s.iter().enumerate() {
            if is_sep(c) {
                if field == index {
                    if count == 1 {
                        return Some((start, i));
                    } else if count > 1 {
                        count -= 1;
                    }
                } else {
                    start = i + 1;
                    field += 1;
                }
            }
        }
        (field == index).then_some((start, s.len()))
    } else {
        let (mut field, mut end) = (-1i64, s.len());
        for i in (0..s.len()).rev() {
            if is_sep(&s[i]) {
                if field == index {
                    if count == 1 {
                        return Some((i + 1, end));
                    } else if count > 1 {
                        count -= 1;
                    }
                } else {
                    end = i;
                    field -= 1;
                }
            }
        }
        (field == index).then_some((0, end))
    }
}

/// Expands a substitution template: `\N` is capture N (0 to 9), `\xHH` a byte, any other
/// escaped character itself.
pub(crate) fn expand_template<'c>(
    template: &[u8],
    out: &mut Vec<u8>,
    group: impl Fn(usize) -> Option<&'c [u8]>,
) {
    let mut i = 0;
    while i < template.len() {
        let c = template[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&n) = template.get(i) else {
            break;
        };
        i += 1;
        if n.is_ascii_digit() {
            if let Some(g) = group((n - b'0') as usize) {
                out.extend_from_slice(g);
            }
        } else if n == b'x' {
            let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
            if let (Some(h), Some(l)) = (hex(template.get(i)), hex(template.get(i + 1))) {
                out.push((h * 16 + l) as u8);
            }
            i += 2;
        } else {
            out.push(n);
        }
    }
}

/// `regsub`: replaces the first (or every, when `global`) match of `re`.
fn regsub(re: &Regex, s: &[u8], subst: &[u8], global: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut last = 0;
    let mut locs = re.capture_locations();
    let mut pos = 0;
    while pos <= s.len() {
        let Some(m) = re.captures_read_at(&mut locs, s, pos) else {
            break;
        };
        out.extend_from_slice(&s[last..m.start()]);
        expand_template(subst, &mut out, |n| locs.get(n).map(|(a, b)| &s[a..b]));
        last = m.end();
        if !global {
            break;
        }
        pos = if m.end() == m.start() {
            // An empty match: keep the next character and go on after it.
            match s.get(m.end()) {
                Some(&c) => {
                    out.push(c);
                    last = m.end() + 1;
                }
                None => break,
            }
            m.end() + 1
        } else {
            m.end()
        };
    }
    out.extend_from_slice(s.get(last..).unwrap_or_default());
    out
}

/// `json`: escapes a string for a JSON string literal.
fn json(s: &[u8], mode: JsonMode) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut push = |c: u32| match c {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x2f => out.extend_from_slice(b"\\/"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x20..=0x7e => out.push(c as u8),
        _ => out.extend_from_slice(format!("\\u{:04x}", c as u16).as_bytes()),
    };
    if mode == JsonMode::Ascii {
        for &b in s {
            push(b as u32);
        }
        return Some(out);
    }
    let strict = matches!(mode, JsonMode::Utf8 | JsonMode::Utf8p);
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                for ch in text.chars() {
                    if ch as u32 > 0xffff {
                        if strict {
                            return None;
                        }
                        continue;
                    }
                    push(ch as u32);
                }
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                let text = std::str::from_utf8(&rest[..good]).unwrap_or_default();
                for ch in text.chars() {
                    if ch as u32 > 0xffff {
                        if strict {
                            return None;
                        }
                        continue;
                    }
                    push(ch as u32);
                }
                if strict {
                    return None;
                }
                let skip = e.error_len().unwrap_or(rest.len() - good).max(1);
                rest = &rest[(good + skip).min(rest.len())..];
            }
        }
    }
    Some(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";
const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with padding, as text.
pub(crate) fn base64_std(input: &[u8]) -> String {
    String::from_utf8_lossy(&base64_encode(input, STD, true)).into_owned()
}

fn base64_encode(input: &[u8], alphabet: &[u8; 64], pad: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize]);
            } else if pad {
                out.push(b'=');
            }
        }
    }
    out
}

/// Decodes base64 (`url`: the URL alphabet without padding); `None` on invalid input.
/// Also the stats page's Basic auth decoder, strict as HAProxy's there.
pub(crate) fn base64_decode(input: &[u8], url: bool) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if !url => 62,
            b'/' if !url => 63,
            b'-' if url => 62,
            b'_' if url => 63,
            _ => return None,
        } as u32)
    };
    let (data, pad) = if url {
        match input.len() % 4 {
            0 => (input, 0),
            2 => (input, 2),
            3 => (input, 1),
            _ => return None,
        }
    } else {
        if !input.len().is_multiple_of(4) {
            return None;
        }
        let pad = input.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        (&input[..input.len() - pad], pad)
    };
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in data {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let _ = pad;
    Some(out)
}

/// `url_dec`: `%XX` sequences decoded (an invalid one fails), `+` is a space in a form or
/// after the first `?`.
fn url_decode(s: &[u8], mut form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        match c {
            0 => break,
            b'+' => out.push(if form { b' ' } else { b'+' }),
            b'%' => {
                let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
                let (h, l) = (hex(s.get(i + 1))?, hex(s.get(i + 2))?);
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            b'?' => {
                form = true;
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// Bob Jenkins' 32-bit integer avalanche, then a multiplication by a large prime, as
/// HAProxy applies after its hashes.
pub(crate) fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed55d16).wrapping_add(a << 12);
    a = (a ^ 0xc761c23c) ^ (a >> 19);
    a = a.wrapping_add(0x165667b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2646c) ^ (a << 9);
    a = a.wrapping_add(0xfd7046c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a4f09) ^ (a >> 16);
    a.wrapping_mul(3221225473)
}

pub(crate) fn djb2(b: &[u8]) -> u32 {
    b.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(c as u32)
    })
}

pub(crate) fn sdbm(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |h, &c| {
        (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

pub(crate) fn crc32(b: &[u8]) -> u32 {
    let mut h = !0u32;
    for &c in b {
        h ^= c as u32;
        for _ in 0..8 {
            h = (h >> 1) ^ if h & 1 != 0 { 0xedb8_8320 } else { 0 };
        }
    }
    !h
}

/// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.
pub(crate) fn crc32c(b: &[u8]) -> u32 {
    let mut h = !0u32;
    for &c in b {
        h ^= c as u32;
        for _ in 0..8 {
            h = (h >> 1) ^ if h & 1 != 0 { 0x82f6_3b78 } else { 0 };
        }
    }
    !h
}

pub(crate) fn wt6(b: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965au32, 0x5ca6_953au32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in b {
        let t = c as u32;
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// SHA-1 (FIPS 180-4), from ring (already built for rustls): the `sha1` converter, the
/// certificate fingerprints of `show ssl cert`, RFC 6455's `sec-websocket-accept`.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

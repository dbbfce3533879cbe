//! Pattern sets built once from ACL patterns or map keys, and the match methods that look a
//! sample up in them (`str`, `beg`, `end`, `sub`, `dir`, `dom`, `reg`, `int`, `len`, `ip`,
//! `bin`, `bool`, `found`).
//!
//! A lookup returns the index of the pattern that matched, which maps use to find the
//! value. Which pattern wins when several match follows HAProxy: exact strings and binary
//! strings are hashed (the first of duplicates wins), `beg` and `ip` find the longest
//! prefix, every other method returns the first match in declaration order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::bytes::{Regex, RegexBuilder};

use super::value::Smp;
use crate::model::expr::{IntMatch, MatchMethod, Pattern};

/// Compiles a regex as HAProxy's PCRE would see it: bytes, ASCII classes where the pattern
/// allows it, Unicode otherwise.
pub(crate) fn compile_regex(src: &str, icase: bool) -> Result<Regex, String> {
    RegexBuilder::new(src)
        .case_insensitive(icase)
        .unicode(false)
        .build()
        .or_else(|_| RegexBuilder::new(src).case_insensitive(icase).build())
        .map_err(|e| format!("invalid regex '{src}': {e}"))
}

/// A set of patterns and the method comparing samples with them.
#[derive(Debug, Clone)]
pub(crate) struct PatternSet {
    kind: Kind,
    icase: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `found`: any sample matches.
    Found,
    /// `bool`: the sample as an integer is not zero.
    Bool,
    Int(Vec<IntMatch>),
    Len(Vec<IntMatch>),
    Ip(IpTable),
    Bin(HashMap<Box<[u8]>, usize>),
    Str(HashMap<Box<[u8]>, usize>),
    Beg(Affixes),
    End(Affixes),
    Sub(Vec<Box<[u8]>>),
    Dir(Vec<Box<[u8]>>),
    Dom(Vec<Box<[u8]>>),
    Reg(Vec<Regex>),
    /// The `method` ACL: well-known methods compare exactly, others as strings (`-i`
    /// applies), and a well-known method never equals an unknown one.
    Meth {
        known: HashMap<Box<[u8]>, usize>,
        other: HashMap<Box<[u8]>, usize>,
    },
}

/// The methods HAProxy knows by name (case-sensitive).
const KNOWN_METHODS: [&[u8]; 8] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"CONNECT",
];

/// Prefixes or suffixes hashed by length: a lookup tries each distinct length once.
#[derive(Debug, Clone, Default)]
struct Affixes {
    map: HashMap<Box<[u8]>, usize>,
    /// Distinct pattern lengths, longest first.
    lens: Vec<usize>,
}

impl Affixes {
    fn insert(&mut self, key: &[u8], idx: usize) {
        if !self.lens.contains(&key.len()) {
            self.lens.push(key.len());
        }
        self.map.entry(key.into()).or_insert(idx);
    }
    fn finish(&mut self) {
        self.lens.sort_unstable_by_key(|l| std::cmp::Reverse(*l));
    }
}

/// IP networks grouped by prefix length, longest first, for longest-prefix lookups.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpTable {
    v4: Vec<(u8, HashMap<u32, usize>)>,
    v6: Vec<(u8, HashMap<u128, usize>)>,
}

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - len as u32).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - len as u32).unwrap_or(0)
}

impl IpTable {
    pub fn insert(&mut self, net: IpNet, idx: usize) {
        match net {
            IpNet::V4(n) => {
                let len = n.prefix_len();
                let key = n.addr().to_bits() & mask4(len);
                let slot = match self.v4.iter().position(|(l, _)| *l == len) {
                    Some(i) => i,
                    None => {
                        self.v4.push((len, HashMap::new()));
                        self.v4.len() - 1
                    }
                };
                self.v4[slot].1.entry(key).or_insert(idx);
            }
            IpNet::V6(n) => {
                let len = n.prefix_len();
                let key = n.addr().to_bits() & mask6(len);
                let slot = match self.v6.iter().position(|(l, _)| *l == len) {
                    Some(i) => i,
                    None => {
                        self.v6.push((len, HashMap::new()));
                        self.v6.len() - 1
                    }
                };
                self.v6[slot].1.entry(key).or_insert(idx);
            }
        }
    }

    pub fn finish(&mut self) {
        self.v4.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        self.v6.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    }

    fn lookup4(&self, a: u32) -> Option<usize> {
        self.v4
            .iter()
            .find_map(|(len, m)| m.get(&(a & mask4(*len))).copied())
    }

    fn lookup6(&self, a: u128) -> Option<usize> {
        self.v6
            .iter()
            .find_map(|(len, m)| m.get(&(a & mask6(*len))).copied())
    }

    /// Longest-prefix lookup. An IPv4 sample that matches no IPv4 network is tried as
    /// `::ffff:a.b.c.d` against the IPv6 ones; an IPv6 sample that matches no IPv6 network
    /// is tried as IPv4 when it is IPv4-mapped, IPv4-compatible or 6to4, as HAProxy does.
    pub fn lookup(&self, ip: IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(a) => self
                .lookup4(a.to_bits())
                .or_else(|| self.lookup6(a.to_ipv6_mapped().to_bits())),
            IpAddr::V6(a) => self.lookup6(a.to_bits()).or_else(|| {
                let b = a.to_bits();
                let top64 = (b >> 64) as u64;
                let mid32 = (b >> 32) as u32;
                let v4 = if top64 == 0 && (mid32 == 0 || mid32 == 0xffff) {
                    b as u32
                } else if (b >> 112) as u16 == 0x2002 {
                    (b >> 80) as u32
                } else {
                    return None;
                };
                self.lookup4(v4)
            }),
        }
    }
}

/// Calls `f` with `s` lower-cased when `icase` (using a stack buffer for short strings).
fn with_folded<R>(s: &[u8], icase: bool, f: impl FnOnce(&[u8]) -> R) -> R {
    if !icase || !s.iter().any(u8::is_ascii_uppercase) {
        return f(s);
    }
    let mut buf = [0u8; 256];
    if let Some(dst) = buf.get_mut(..s.len()) {
        dst.copy_from_slice(s);
        dst.make_ascii_lowercase();
        f(dst)
    } else {
        f(&s.to_ascii_lowercase())
    }
}

fn fold(s: &[u8], icase: bool) -> Box<[u8]> {
    if icase {
        s.to_ascii_lowercase().into()
    } else {
        s.into()
    }
}

/// Whether `pat` occurs in `hay`.
fn contains(hay: &[u8], pat: &[u8], icase: bool) -> bool {
    if pat.is_empty() {
        return true;
    }
    if pat.len() > hay.len() {
        return false;
    }
    hay.windows(pat.len()).any(|w| {
        if icase {
            w.eq_ignore_ascii_case(pat)
        } else {
            w == pat
        }
    })
}

const DIR_DELIMS: &[u8] = b"/?";
const DOM_DELIMS: &[u8] = b"/?.:";

/// Strips delimiters at both ends of a `dir`/`dom` pattern.
fn strip_delims(p: &[u8], delims: &[u8]) -> Box<[u8]> {
    let start = p
        .iter()
        .position(|c| !delims.contains(c))
        .unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|c| !delims.contains(c))
        .map_or(start, |i| i + 1);
    p[start..end.max(start)].into()
}

/// `pat` occurs in `hay` as a run of whole delimiter-separated words.
fn match_word(hay: &[u8], pat: &[u8], icase: bool, delims: &[u8]) -> bool {
    let pl = pat.len();
    if pl > hay.len() {
        return false;
    }
    let end = hay.len() - pl;
    let mut may_match = true;
    for i in 0..=end {
        match hay.get(i) {
            Some(c) if delims.contains(c) => {
                may_match = true;
                continue;
            }
            _ => {}
        }
        if !may_match {
            continue;
        }
        let w = &hay[i..i + pl];
        let same = if icase {
            w.eq_ignore_ascii_case(pat)
        } else {
            w == pat
        };
        if same && (i == end || hay.get(i + pl).is_some_and(|c| delims.contains(c))) {
            return true;
        }
        may_match = false;
    }
    false
}

impl PatternSet {
    /// Builds the set for `method`; `patterns` must have the form the config parser gives
    /// that method (host names already resolved to `Pattern::Ip`).
    pub fn build(method: &MatchMethod, patterns: &[Pattern], icase: bool) -> Result<Self, String> {
        let wrong = |p: &Pattern| format!("pattern {p:?} does not suit '-m {method}'");
        let strs = || -> Result<Vec<&str>, String> {
            patterns
                .iter()
                .map(|p| match p {
                    Pattern::Str(s) => Ok(s.as_str()),
                    other => Err(wrong(other)),
                })
                .collect()
        };
        let ints = || -> Result<Vec<IntMatch>, String> {
            patterns
                .iter()
                .map(|p| match p {
                    Pattern::Int(m) => Ok(*m),
                    other => Err(wrong(other)),
                })
                .collect()
        };
        let kind = match method {
            MatchMethod::Found => Kind::Found,
            MatchMethod::Bool => Kind::Bool,
            MatchMethod::Int => Kind::Int(ints()?),
            MatchMethod::Len => Kind::Len(ints()?),
            MatchMethod::Ip => {
                let mut t = IpTable::default();
                for (i, p) in patterns.iter().enumerate() {
                    match p {
                        Pattern::Ip(net) => t.insert(*net, i),
                        other => return Err(wrong(other)),
                    }
                }
                t.finish();
                Kind::Ip(t)
            }
            MatchMethod::Bin => {
                let mut m = HashMap::with_capacity(patterns.len());
                for (i, p) in patterns.iter().enumerate() {
                    match p {
                        Pattern::Bin(b) => {
                            m.entry(b.clone().into_boxed_slice()).or_insert(i);
                        }
                        other => return Err(wrong(other)),
                    }
                }
                Kind::Bin(m)
            }
            MatchMethod::Str => {
                let list = strs()?;
                let mut m = HashMap::with_capacity(list.len());
                for (i, s) in list.iter().enumerate() {
                    m.entry(fold(s.as_bytes(), icase)).or_insert(i);
                }
                Kind::Str(m)
            }
            MatchMethod::Beg | MatchMethod::End => {
                let mut a = Affixes::default();
                for (i, s) in strs()?.iter().enumerate() {
                    a.insert(&fold(s.as_bytes(), icase), i);
                }
                a.finish();
                if *method == MatchMethod::Beg {
                    Kind::Beg(a)
                } else {
                    Kind::End(a)
                }
            }
            MatchMethod::Sub => Kind::Sub(strs()?.iter().map(|s| s.as_bytes().into()).collect()),
            MatchMethod::Dir => Kind::Dir(
                strs()?
                    .iter()
                    .map(|s| strip_delims(s.as_bytes(), DIR_DELIMS))
                    .collect(),
            ),
            MatchMethod::Dom => Kind::Dom(
                strs()?
                    .iter()
                    .map(|s| strip_delims(s.as_bytes(), DOM_DELIMS))
                    .collect(),
            ),
            MatchMethod::Reg | MatchMethod::Regm => Kind::Reg(
                patterns
                    .iter()
                    .map(|p| match p {
                        Pattern::Regex(r) | Pattern::Str(r) => compile_regex(r, icase),
                        other => Err(wrong(other)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(PatternSet { kind, icase })
    }

    /// The set of the `method` ACL keyword (see [`Kind::Meth`]).
    pub fn build_method(patterns: &[Pattern], icase: bool) -> Result<Self, String> {
        let (mut known, mut other) = (HashMap::new(), HashMap::new());
        for (i, p) in patterns.iter().enumerate() {
            let Pattern::Str(m) = p else {
                return Err(format!("pattern {p:?} is not a method"));
            };
            if KNOWN_METHODS.contains(&m.as_bytes()) {
                known.entry(m.as_bytes().into()).or_insert(i);
            } else {
                other.entry(fold(m.as_bytes(), icase)).or_insert(i);
            }
        }
        Ok(PatternSet {
            kind: Kind::Meth { known, other },
            icase,
        })
    }

    /// Whether the set is exact-string based (for tests and diagnostics).
    #[cfg(test)]
    pub fn is_hashed(&self) -> bool {
        matches!(self.kind, Kind::Str(_))
    }

    /// The regexes of a `reg` set (maps with `regm` need their captures).
    pub fn regexes(&self) -> &[Regex] {
        match &self.kind {
            Kind::Reg(r) => r,
            _ => &[],
        }
    }

    /// The index of the pattern `smp` matches, after casting the sample to the type the
    /// method compares; `None` when nothing matches or the cast fails.
    pub fn lookup(&self, smp: &Smp) -> Option<usize> {
        let icase = self.icase;
        match &self.kind {
            Kind::Found => Some(0),
            Kind::Bool => (smp.to_int()? != 0).then_some(0),
            Kind::Int(list) => {
                let v = smp.to_int()?;
                list.iter().position(|m| m.matches(v))
            }
            Kind::Len(list) => {
                let s = smp.to_str();
                let v = s.len() as i64;
                list.iter().position(|m| m.matches(v))
            }
            Kind::Ip(t) => match smp {
                Smp::Bool(_) | Smp::Bin(_) => None,
                other => t.lookup(other.to_ip()?),
            },
            Kind::Bin(m) => m.get(&*smp.to_bin()).copied(),
            Kind::Str(m) => {
                let s = smp.to_str();
                with_folded(&s, icase, |k| m.get(k).copied())
            }
            Kind::Beg(a) => {
                let s = smp.to_str();
                with_folded(&s, icase, |k| {
                    a.lens
                        .iter()
                        .filter(|&&l| l <= k.len())
                        .find_map(|&l| a.map.get(&k[..l]).copied())
                })
            }
            Kind::End(a) => {
                let s = smp.to_str();
                with_folded(&s, icase, |k| {
                    a.lens
                        .iter()
                        .filter(|&&l| l <= k.len())
                        .filter_map(|&l| a.map.get(&k[k.len() - l..]).copied())
                        .min()
                })
            }
            Kind::Sub(list) => {
                let s = smp.to_str();
                list.iter().position(|p| contains(&s, p, icase))
            }
            Kind::Dir(list) => {
                let s = smp.to_str();
                list.iter()
                    .position(|p| match_word(&s, p, icase, DIR_DELIMS))
            }
            Kind::Dom(list) => {
                let s = smp.to_str();
                list.iter()
                    .position(|p| match_word(&s, p, icase, DOM_DELIMS))
            }
            Kind::Reg(list) => {
                let s = smp.to_str();
                list.iter().position(|r| r.is_match(&s))
            }
            Kind::Meth { known, other } => {
                let s = smp.to_str();
                if KNOWN_METHODS.contains(&&*s) {
                    known.get(&*s).copied()
                } else {
                    with_folded(&s, icase, |k| other.get(k).copied())
                }
            }
        }
    }
}

/// Resolves an IP pattern given as a host name (at start-up, as HAProxy does).
pub(crate) fn resolve_host(name: &str) -> Result<Vec<IpNet>, String> {
    use std::net::ToSocketAddrs;
    let addrs = (name, 0u16)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{name}': {e}"))?;
    let nets: Vec<IpNet> = addrs
        .map(|a| IpNet::from(a.ip()))
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    if nets.is_empty() {
        return Err(format!("'{name}' resolves to no address"));
    }
    Ok(nets)
}

/// The patterns with host names replaced by their addresses.
pub(crate) fn resolve_patterns(patterns: &[Pattern]) -> Result<Cow<'_, [Pattern]>, String> {
    if !patterns.iter().any(|p| matches!(p, Pattern::Host(_))) {
        return Ok(Cow::Borrowed(patterns));
    }
    let mut out = Vec::with_capacity(patterns.len());
    for p in patterns {
        match p {
            Pattern::Host(h) => out.extend(resolve_host(h)?.into_iter().map(Pattern::Ip)),
            other => out.push(other.clone()),
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn set(method: MatchMethod, pats: &[&str], icase: bool) -> PatternSet {
        let patterns: Vec<Pattern> = pats
            .iter()
            .map(|p| match method {
                MatchMethod::Reg | MatchMethod::Regm => Pattern::Regex(p.to_string()),
                MatchMethod::Int | MatchMethod::Len => {
                    let (a, b) = p.split_once(':').unwrap_or((p, p));
                    Pattern::Int(IntMatch {
                        min: a.parse().ok(),
                        max: b.parse().ok(),
                    })
                }
                MatchMethod::Ip => Pattern::Ip(
                    p.parse()
                        .unwrap_or_else(|_| IpNet::from(p.parse::<IpAddr>().expect("test ip"))),
                ),
                MatchMethod::Bin => Pattern::Bin(p.as_bytes().to_vec()),
                _ => Pattern::Str(p.to_string()),
            })
            .collect();
        PatternSet::build(&method, &patterns, icase).expect("builds")
    }

    #[test]
    fn methods() {
        use MatchMethod::*;
        // method, patterns, -i, sample, expected index
        type Case = (
            MatchMethod,
            &'static [&'static str],
            bool,
            &'static str,
            Option<usize>,
        );
        let cases: Vec<Case> = vec![
            (Str, &["a", "b"], false, "b", Some(1)),
            (Str, &["a", "b"], false, "B", None),
            (Str, &["a", "B"], true, "b", Some(1)),
            (Str, &["a", "a"], false, "a", Some(0)),
            (Str, &[], false, "a", None),
            (Beg, &["/api", "/api/v1"], false, "/api/v1/x", Some(1)),
            (Beg, &["/api"], false, "/ap", None),
            (Beg, &["/API"], true, "/api/x", Some(0)),
            (Beg, &[""], false, "", Some(0)),
            (
                End,
                &[".com", "example.com"],
                false,
                "www.example.com",
                Some(0),
            ),
            (End, &[".COM"], true, "x.com", Some(0)),
            (End, &[".com"], false, "com", None),
            (Sub, &["zz", "min"], false, "/admin/x", Some(1)),
            (Sub, &["MIN"], true, "/admin/x", Some(0)),
            (Sub, &["MIN"], false, "/admin/x", None),
            (Dir, &["b"], false, "/a/b/c", Some(0)),
            (Dir, &["/b/c/"], false, "/a/b/c?x", Some(0)),
            (Dir, &["b/c"], false, "/a/bb/c", None),
            (Dir, &["B"], true, "/a/b", Some(0)),
            (Dir, &["a"], false, "/ab", None),
            (Dir, &["x"], false, "/a?x", Some(0)),
            (Dir, &["/"], false, "/a/", Some(0)),
            (Dir, &["/"], false, "/a", None),
            (Dom, &["example.com"], false, "www.example.com:80", Some(0)),
            (Dom, &["example.com"], false, "www.myexample.com", None),
            (Dom, &["EXAMPLE"], true, "www.example.com", Some(0)),
            (Dom, &["www"], false, "www", Some(0)),
            (Reg, &["^/a", "b$"], false, "xb", Some(1)),
            (Reg, &["^/A"], true, "/a", Some(0)),
            (Reg, &["^/A"], false, "/a", None),
            (Regm, &["^a(.)"], false, "ab", Some(0)),
            (Int, &["10:20"], false, "15", Some(0)),
            (Int, &["10:20"], false, "21", None),
            (Int, &[":5"], false, "-3", Some(0)),
            (Int, &["5"], false, "x", None),
            (Len, &["3"], false, "abc", Some(0)),
            (Len, &["4:"], false, "abc", None),
            (
                Ip,
                &["10.0.0.0/8", "10.1.0.0/16"],
                false,
                "10.1.2.3",
                Some(1),
            ),
            (Ip, &["10.0.0.0/8"], false, "11.0.0.1", None),
            (Ip, &["::1"], false, "::1", Some(0)),
            (Ip, &["10.0.0.0/8"], false, "::ffff:10.2.3.4", Some(0)),
            (Ip, &["10.0.0.0/8"], false, "::10.2.3.4", Some(0)),
            (Ip, &["10.0.0.0/8"], false, "2002:0a01:0203::", Some(0)),
            (Ip, &["::ffff:10.0.0.0/104"], false, "10.9.9.9", Some(0)),
            (Ip, &["0.0.0.0/0"], false, "1.2.3.4", Some(0)),
            (Ip, &["10.0.0.0/8"], false, "not-an-ip", None),
            (Bin, &["ab"], false, "ab", Some(0)),
            (Bin, &["ab"], false, "abc", None),
            (Found, &[], false, "", Some(0)),
            (Bool, &[], false, "1", Some(0)),
            (Bool, &[], false, "0", None),
            (Bool, &[], false, "", None),
        ];
        for (m, pats, icase, sample, want) in cases {
            let s = set(m.clone(), pats, icase);
            let got = s.lookup(&Smp::text(sample));
            assert_eq!(got, want, "{m} {pats:?} -i={icase} {sample:?}");
        }
    }

    #[test]
    fn methods_acl() {
        let pats: Vec<Pattern> = ["GET", "get", "PURGE"]
            .iter()
            .map(|m| Pattern::Str(m.to_string()))
            .collect();
        let s = PatternSet::build_method(&pats, true).expect("builds");
        assert_eq!(s.lookup(&Smp::text("GET")), Some(0));
        assert_eq!(s.lookup(&Smp::text("get")), Some(1));
        assert_eq!(s.lookup(&Smp::text("Get")), Some(1));
        assert_eq!(s.lookup(&Smp::text("purge")), Some(2));
        let s = PatternSet::build_method(&pats[1..], true).expect("builds");
        assert_eq!(s.lookup(&Smp::text("GET")), None);
        let s = PatternSet::build_method(&pats[2..], false).expect("builds");
        assert_eq!(s.lookup(&Smp::text("purge")), None);
    }

    #[test]
    fn typed_samples() {
        let s = set(MatchMethod::Int, &["1"], false);
        assert_eq!(s.lookup(&Smp::Bool(true)), Some(0));
        assert_eq!(s.lookup(&Smp::Bin(Cow::Borrowed(b"1"))), None);
        let s = set(MatchMethod::Ip, &["192.0.2.0/24"], false);
        assert_eq!(
            s.lookup(&Smp::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))),
            Some(0)
        );
        assert_eq!(s.lookup(&Smp::Int(0xC000_0201)), Some(0));
        let s = set(MatchMethod::Str, &["12"], false);
        assert_eq!(s.lookup(&Smp::Int(12)), Some(0));
        let s = set(MatchMethod::Len, &["4"], false);
        assert_eq!(s.lookup(&Smp::Int(1234)), Some(0));
    }

    #[test]
    fn long_icase_sample() {
        let long = "A".repeat(1000);
        let s = set(MatchMethod::Str, &[&long.to_ascii_lowercase()], true);
        assert_eq!(s.lookup(&Smp::text(&long)), Some(0));
        assert!(s.is_hashed());
    }

    #[test]
    fn bad_regex_and_kinds() {
        assert!(compile_regex("(", false).is_err());
        assert!(compile_regex("\\p{L}+", false).is_ok());
        assert!(PatternSet::build(&MatchMethod::Int, &[Pattern::Str("x".into())], false).is_err());
    }

    #[test]
    fn resolves_localhost() {
        let host = [Pattern::Host("localhost".into())];
        let p = resolve_patterns(&host).expect("resolves");
        assert!(p.iter().all(|p| matches!(p, Pattern::Ip(_))));
        assert!(resolve_host("nonexistent.invalid").is_err());
    }
}

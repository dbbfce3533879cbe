//! Map files for the `map*` converters: loaded and indexed once at start-up with the match
//! method the converter names (`map_beg`, `map_ip_int` ...), then looked up per request.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use super::CompileError;
use super::pattern::PatternSet;
use super::value::{Smp, parse_ip};
use crate::model::expr::{Arg, IntMatch, MatchMethod, Pattern, SmpType};

/// The type of the values a map converter returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Str,
    Int,
    Ip,
}

#[derive(Debug)]
struct MapFile {
    keys: PatternSet,
    values: Vec<Smp<'static>>,
    /// `map_regm`: values are templates using the regex captures (`\1`).
    regm: bool,
}

/// A compiled `map*` converter.
#[derive(Debug, Clone)]
pub(crate) struct MapConv {
    file: Arc<MapFile>,
    default: Option<Smp<'static>>,
}

/// The match method and output type of a map converter name, `None` if it is not one.
fn parse_name(name: &str) -> Option<(MatchMethod, Out)> {
    let rest = name.strip_prefix("map")?;
    if !(rest.is_empty() || rest.starts_with('_')) {
        return None;
    }
    let mut parts = rest.split('_').skip(1);
    let method = match parts.next() {
        None => MatchMethod::Str,
        Some(m) => MatchMethod::implemented(m).filter(|m| {
            !matches!(
                m,
                MatchMethod::Found | MatchMethod::Bool | MatchMethod::Bin | MatchMethod::Len
            )
        })?,
    };
    let out = match parts.next() {
        None => Out::Str,
        Some("int") => Out::Int,
        Some("ip") => Out::Ip,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((method, out))
}

/// Whether `name` is a map converter this module implements.
pub(crate) fn is_map_converter(name: &str) -> bool {
    parse_name(name).is_some()
}

/// An integer key: `N`, or a range `N:M`, `:M`, `N:`.
fn int_key(s: &str) -> Option<IntMatch> {
    let num = |t: &str| t.parse::<i64>().ok();
    match s.split_once(':') {
        None => num(s).map(|v| IntMatch {
            min: Some(v),
            max: Some(v),
        }),
        Some((a, b)) => {
            let min = if a.is_empty() { None } else { Some(num(a)?) };
            let max = if b.is_empty() { None } else { Some(num(b)?) };
            (min.is_some() || max.is_some()).then_some(IntMatch { min, max })
        }
    }
}

fn out_value(s: &str, out: Out) -> Option<Smp<'static>> {
    Some(match out {
        Out::Str => Smp::owned(s.to_string()),
        Out::Int => Smp::Int(s.trim().parse().ok()?),
        Out::Ip => Smp::Ip(parse_ip(s.trim().as_bytes())?),
    })
}

impl MapConv {
    /// Loads the map file named by the first argument; the optional second one is the
    /// default value returned when nothing matches.
    pub fn compile(name: &str, args: &[Arg]) -> Result<Self, CompileError> {
        let err = |m: String| CompileError(format!("converter '{name}': {m}"));
        let (method, out) = parse_name(name).ok_or_else(|| err("unknown map type".into()))?;
        let Some(Arg::Str(file)) = args.first() else {
            return Err(err("missing map file name".into()));
        };
        let lines = crate::config::acl::load_map_file(Path::new(file)).map_err(err)?;
        let mut keys = Vec::with_capacity(lines.len());
        let mut values = Vec::with_capacity(lines.len());
        for (line, key, value) in &lines {
            let bad = |what: &str| err(format!("{file}:{line}: {what}"));
            keys.push(match method {
                MatchMethod::Int => Pattern::Int(
                    int_key(key).ok_or_else(|| bad(&format!("'{key}' is not an integer")))?,
                ),
                MatchMethod::Ip => Pattern::Ip(
                    crate::config::value::parse_network(key).map_err(|e| bad(&e.message))?,
                ),
                MatchMethod::Reg | MatchMethod::Regm => Pattern::Regex(key.clone()),
                _ => Pattern::Str(key.clone()),
            });
            values.push(out_value(value, out).ok_or_else(|| {
                bad(&format!(
                    "'{value}' is not a valid {}",
                    if out == Out::Int {
                        "integer"
                    } else {
                        "IP address"
                    }
                ))
            })?);
        }
        let keys = PatternSet::build(&method, &keys, false).map_err(err)?;
        let default = match (args.get(1), out) {
            (None, _) => None,
            (Some(Arg::Int(i)), _) => Some(Smp::Int(*i)),
            (Some(Arg::Ip(ip)), _) => Some(Smp::Ip(*ip)),
            (Some(Arg::Str(s)), out) => {
                Some(out_value(s, out).ok_or_else(|| err(format!("invalid default value '{s}'")))?)
            }
        };
        Ok(MapConv {
            file: Arc::new(MapFile {
                keys,
                values,
                regm: method == MatchMethod::Regm,
            }),
            default,
        })
    }

    /// The value for `smp`, the default when nothing matches, `None` without a default.
    pub fn apply<'s>(&'s self, smp: &Smp<'s>) -> Option<Smp<'s>> {
        let found = self.file.keys.lookup(smp);
        let Some(idx) = found else {
            return self.default.as_ref().map(borrow);
        };
        let value = self.file.values.get(idx)?;
        if self.file.regm {
            let re = self.file.keys.regexes().get(idx)?;
            let input = smp.to_str();
            let caps = re.captures(&input)?;
            let Smp::Str(template) = value else {
                return None;
            };
            let mut out = Vec::new();
            super::conv::expand_template(template, &mut out, |n| caps.get(n).map(|m| m.as_bytes()));
            return Some(Smp::Str(Cow::Owned(out)));
        }
        Some(borrow(value))
    }
}

fn borrow<'s>(v: &'s Smp<'static>) -> Smp<'s> {
    match v {
        Smp::Str(s) => Smp::Str(Cow::Borrowed(s)),
        Smp::Bin(b) => Smp::Bin(Cow::Borrowed(b)),
        other => other.clone(),
    }
}

/// The input type of a map converter's lookup.
pub(crate) fn input_type(name: &str) -> SmpType {
    match parse_name(name) {
        Some((MatchMethod::Int, _)) => SmpType::Sint,
        Some((MatchMethod::Ip, _)) => SmpType::Addr,
        _ => SmpType::Str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    fn map(dir: &Path, name: &str, body: &str, default: Option<Arg>) -> MapConv {
        let path = dir.join(format!("{name}.map"));
        std::fs::write(&path, body).expect("write");
        let mut args = vec![Arg::Str(path.display().to_string())];
        args.extend(default);
        MapConv::compile(name, &args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn get<'a>(m: &'a MapConv, s: &'a str) -> Option<Smp<'a>> {
        m.apply(&Smp::text(s))
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("map"), Some((MatchMethod::Str, Out::Str)));
        assert_eq!(
            parse_name("map_beg_int"),
            Some((MatchMethod::Beg, Out::Int))
        );
        assert_eq!(parse_name("map_ip_ip"), Some((MatchMethod::Ip, Out::Ip)));
        assert_eq!(parse_name("map_regm"), Some((MatchMethod::Regm, Out::Str)));
        assert_eq!(parse_name("map_found"), None);
        assert_eq!(parse_name("map_str_x"), None);
        assert_eq!(parse_name("mapx"), None);
        assert_eq!(input_type("map_ip"), SmpType::Addr);
        assert_eq!(input_type("map_int_ip"), SmpType::Sint);
    }

    #[test]
    fn lookups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let m = map(
            d,
            "map_str",
            "# comment\n\nexample.com  be_a\nwww.example.com\tbe b  \nexample.com dup\n",
            Some(Arg::Str("def".into())),
        );
        assert_eq!(get(&m, "example.com"), Some(Smp::text("be_a")));
        assert_eq!(get(&m, "www.example.com"), Some(Smp::text("be b")));
        assert_eq!(get(&m, "EXAMPLE.com"), Some(Smp::text("def")));
        let m = map(d, "map_beg", "/api a\n/api/v2 b\n/ c\n", None);
        assert_eq!(get(&m, "/api/v2/x"), Some(Smp::text("b")));
        assert_eq!(get(&m, "/apix"), Some(Smp::text("a")));
        assert_eq!(get(&m, "/z"), Some(Smp::text("c")));
        assert_eq!(get(&m, "z"), None);
        let m = map(d, "map_end", ".com a\nexample.com b\n", None);
        assert_eq!(get(&m, "www.example.com"), Some(Smp::text("a")));
        let m = map(d, "map_sub", "adm a\nmin b\n", None);
        assert_eq!(get(&m, "/admin"), Some(Smp::text("a")));
        let m = map(d, "map_dom", "example.com a\n", None);
        assert_eq!(get(&m, "www.example.com"), Some(Smp::text("a")));
        assert_eq!(get(&m, "myexample.com"), None);
        let m = map(d, "map_dir", "api a\n", None);
        assert_eq!(get(&m, "/v1/api/x"), Some(Smp::text("a")));
        let m = map(d, "map_reg", "^/a.*z$ a\n^/a b\n", None);
        assert_eq!(get(&m, "/abz"), Some(Smp::text("a")));
        assert_eq!(get(&m, "/ab"), Some(Smp::text("b")));
        let m = map(
            d,
            "map_regm",
            "^/u/([0-9]+)/(.*)$ user=\\1&rest=\\2\n",
            None,
        );
        assert_eq!(get(&m, "/u/42/x/y"), Some(Smp::text("user=42&rest=x/y")));
        let m = map(d, "map_int", "1 one\n10:20 teen\n", None);
        assert_eq!(m.apply(&Smp::Int(15)), Some(Smp::text("teen")));
        assert_eq!(get(&m, "1"), Some(Smp::text("one")));
        let m = map(
            d,
            "map_ip",
            "10.0.0.0/8 ten\n10.1.0.0/16 ten-one\n::1 six\n",
            None,
        );
        assert_eq!(
            m.apply(&Smp::Ip(ip("10.1.2.3"))),
            Some(Smp::text("ten-one"))
        );
        assert_eq!(m.apply(&Smp::Ip(ip("10.2.2.3"))), Some(Smp::text("ten")));
        assert_eq!(get(&m, "::1"), Some(Smp::text("six")));
        assert_eq!(get(&m, "nope"), None);
        let m = map(d, "map_str_int", "a 5\n", Some(Arg::Int(-1)));
        assert_eq!(get(&m, "a"), Some(Smp::Int(5)));
        assert_eq!(get(&m, "b"), Some(Smp::Int(-1)));
        let m = map(
            d,
            "map_str_ip",
            "a 10.0.0.1\n",
            Some(Arg::Str("::1".into())),
        );
        assert_eq!(get(&m, "a"), Some(Smp::Ip(ip("10.0.0.1"))));
        assert_eq!(get(&m, "b"), Some(Smp::Ip(ip("::1"))));
        let m = map(d, "map", "k\n", None);
        assert_eq!(get(&m, "k"), Some(Smp::text("")));
    }

    #[test]
    fn load_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let bad = |name: &str, body: &str| {
            let path = d.join("bad.map");
            std::fs::write(&path, body).expect("write");
            MapConv::compile(name, &[Arg::Str(path.display().to_string())])
                .expect_err(name)
                .0
        };
        assert!(bad("map_int", "x y\n").contains("bad.map:1"));
        assert!(bad("map_str_int", "a b\n").contains("not a valid integer"));
        assert!(bad("map_ip", "nope a\n").contains("bad.map:1"));
        assert!(bad("map_reg", "( a\n").contains("invalid regex"));
        let e =
            MapConv::compile("map", &[Arg::Str("/nonexistent/x.map".into())]).expect_err("missing");
        assert!(e.0.contains("failed to open"), "{e}");
        let path = d.join("ok.map");
        std::fs::write(&path, "a 10.0.0.1\n").expect("write");
        let e = MapConv::compile(
            "map_str_ip",
            &[Arg::Str(path.display().to_string()), Arg::Str("x".into())],
        )
        .expect_err("bad default");
        assert!(e.0.contains("invalid default"), "{e}");
    }
}

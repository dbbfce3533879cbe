//! `.if` expressions and `-cc`: HAProxy's predicates, `!`, `&&`, `||` and parentheses,
//! evaluated against the environment and the HAProxy version rproxy emulates.

use super::lexer::Env;

/// The HAProxy version whose behaviour rproxy reproduces (what `version_atleast()` compares).
pub const EMULATED_HAPROXY_VERSION: &str = "2.6.12";

/// Build features as `feature()` sees them (HAProxy's names; `+` present, `-` absent).
pub const FEATURES: &str = "+EPOLL -KQUEUE +NETFILTER -PCRE -PCRE_JIT +PCRE2 -PCRE2_JIT +POLL +THREAD \
+BACKTRACE -STATIC_PCRE -STATIC_PCRE2 +TPROXY +LINUX_TPROXY +LINUX_SPLICE +LIBCRYPT +CRYPT_H -ENGINE \
+GETADDRINFO +OPENSSL -LUA +ACCEPT4 -CLOSEFROM -ZLIB +SLZ +CPU_AFFINITY +TFO +NS +DL +RT -DEVICEATLAS \
-51DEGREES -WURFL -SYSTEMD -OBSOLETE_LINKER +PRCTL -PROCCTL +THREAD_DUMP -EVPORTS -OT -QUIC +PROMEX \
-MEMORY_PROFILING";

/// Hint shown with every `.if` syntax error.
pub const HINT: &str = "predicates: defined(VAR) feature(NAME) streq(a,b) strneq(a,b) \
version_atleast(X) version_before(X), combined with !, &&, || and parentheses";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    pub message: String,
    /// Byte offset in the expression text where the problem is.
    pub at: usize,
}

const MAX_DEPTH: usize = 1024;

/// Evaluates an expression. An empty expression is false, as in HAProxy.
pub fn eval(text: &str, env: &dyn Env) -> Result<bool, CondError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        env,
        depth: 0,
    };
    p.skip_ws();
    if p.i >= p.s.len() {
        return Ok(false);
    }
    let v = p.expr()?;
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(CondError {
            message: format!(
                "unexpected character '{}' at the end of conditional expression",
                p.s[p.i] as char
            ),
            at: p.i,
        });
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    env: &'a dyn Env,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, CondError> {
        Err(CondError {
            message: msg.into(),
            at: self.i,
        })
    }
    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.s[self.i.min(self.s.len())..]).into_owned()
    }
    // Both sides are always parsed (syntax errors anywhere are reported), then combined.
    fn expr(&mut self) -> Result<bool, CondError> {
        self.enter()?;
        let left = self.and()?;
        self.skip_ws();
        let v = if self.s[self.i..].starts_with(b"||") {
            self.i += 2;
            self.skip_ws();
            let right = self.expr()?;
            left || right
        } else {
            left
        };
        self.depth -= 1;
        Ok(v)
    }
    fn and(&mut self) -> Result<bool, CondError> {
        self.enter()?;
        let left = self.term()?;
        self.skip_ws();
        let v = if self.s[self.i..].starts_with(b"&&") {
            self.i += 2;
            self.skip_ws();
            let right = self.and()?;
            left && right
        } else {
            left
        };
        self.depth -= 1;
        Ok(v)
    }
    fn enter(&mut self) -> Result<(), CondError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("conditional expression nested too deeply");
        }
        Ok(())
    }
    fn term(&mut self) -> Result<bool, CondError> {
        self.skip_ws();
        if self.i >= self.s.len() {
            return self.err("unparsable conditional sub-expression: a term is missing");
        }
        let mut neg = false;
        while self.s.get(self.i) == Some(&b'!') {
            neg = !neg;
            self.i += 1;
            self.skip_ws();
        }
        let v = if let Some(n) = self.number() {
            n != 0
        } else if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            self.skip_ws();
            let v = self.expr()?;
            self.skip_ws();
            if self.s.get(self.i) != Some(&b')') {
                return self.err("expected ')' after conditional expression");
            }
            self.i += 1;
            v
        } else {
            self.predicate()?
        };
        Ok(v != neg)
    }
    /// A C-style integer (decimal, 0x hex, 0 octal), like strtol.
    fn number(&mut self) -> Option<i64> {
        let rest = &self.s[self.i..];
        let (sign, body) = match rest.first() {
            Some(b'-') => (-1, &rest[1..]),
            Some(b'+') => (1, &rest[1..]),
            _ => (1, rest),
        };
        let skip = rest.len() - body.len();
        let (radix, digits, pfx) = if body.len() > 1 && body[0] == b'0' && (body[1] | 0x20) == b'x'
        {
            (16, &body[2..], 2)
        } else if body.first() == Some(&b'0') {
            (8, body, 0)
        } else {
            (10, body, 0)
        };
        let n = digits
            .iter()
            .take_while(|c| (**c as char).is_digit(radix))
            .count();
        if n == 0 {
            return None;
        }
        let txt = std::str::from_utf8(&digits[..n]).ok()?;
        let v = i64::from_str_radix(txt, radix).unwrap_or(i64::MAX);
        self.i += skip + pfx + n;
        Some(sign * v)
    }
    fn predicate(&mut self) -> Result<bool, CondError> {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        let arity = match name.as_str() {
            "defined"
            | "feature"
            | "version_atleast"
            | "version_before"
            | "openssl_version_atleast"
            | "openssl_version_before"
            | "ssllib_name_startswith" => 1,
            "streq" | "strneq" => 2,
            _ => {
                self.i = start;
                return self.err(format!(
                    "unparsable conditional expression '{}'",
                    self.rest()
                ));
            }
        };
        if self.s.get(self.i) != Some(&b'(') {
            return self.err(format!("missing '(' after predicate '{name}'"));
        }
        self.i += 1;
        let close = match self.s[self.i..].iter().position(|&c| c == b')') {
            Some(p) => self.i + p,
            None => {
                return self.err(format!(
                    "missing ')' after the arguments of predicate '{name}'"
                ));
            }
        };
        let inner = String::from_utf8_lossy(&self.s[self.i..close]).into_owned();
        let args: Vec<String> = if inner.trim().is_empty() {
            Vec::new()
        } else {
            inner.split(',').map(|a| a.trim().to_string()).collect()
        };
        if args.len() != arity {
            return self.err(format!(
                "predicate '{name}' expects {arity} argument(s), got {}",
                args.len()
            ));
        }
        self.i = close + 1;
        Ok(match name.as_str() {
            "defined" => self.env.var(&args[0]).is_some(),
            "feature" => feature(&args[0]),
            "streq" => args[0] == args[1],
            "strneq" => args[0] != args[1],
            "version_atleast" => {
                compare_versions(EMULATED_HAPROXY_VERSION, &args[0]) >= std::cmp::Ordering::Equal
            }
            "version_before" => {
                compare_versions(EMULATED_HAPROXY_VERSION, &args[0]) == std::cmp::Ordering::Less
            }
            // rproxy's TLS is rustls: it behaves as a recent OpenSSL-compatible library.
            "openssl_version_atleast" => {
                compare_versions("3.0.0", &args[0]) >= std::cmp::Ordering::Equal
            }
            "openssl_version_before" => {
                compare_versions("3.0.0", &args[0]) == std::cmp::Ordering::Less
            }
            _ => "rustls".starts_with(args[0].as_str()),
        })
    }
}

/// `feature(NAME)`: true when `+NAME` appears as a whole word in [`FEATURES`].
pub fn feature(name: &str) -> bool {
    FEATURES
        .split(' ')
        .any(|f| f.strip_prefix('+') == Some(name))
}

/// Compares dotted versions numerically (`2.6.12` > `2.6.9`); a `-dev`/`-rc` suffix sorts
/// before the release.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> (Vec<u64>, u64) {
        let (num, suffix) = v.split_once('-').unwrap_or((v, ""));
        let nums = num
            .split('.')
            .map(|p| p.trim().parse().unwrap_or(0))
            .collect();
        // Releases rank above pre-releases of the same number.
        let rank = if suffix.is_empty() || !(suffix.starts_with("dev") || suffix.starts_with("rc"))
        {
            u64::MAX
        } else {
            suffix
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .unwrap_or(0)
        };
        (nums, rank)
    }
    let (mut na, ra) = parts(a);
    let (mut nb, rb) = parts(b);
    let n = na.len().max(nb.len());
    na.resize(n, 0);
    nb.resize(n, 0);
    na.cmp(&nb).then(ra.cmp(&rb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ev(s: &str) -> Result<bool, CondError> {
        let mut env = HashMap::new();
        env.insert("SET".to_string(), "1".to_string());
        eval(s, &env)
    }

    #[test]
    fn predicates() {
        assert_eq!(ev("defined(SET)"), Ok(true));
        assert_eq!(ev("defined(UNSET)"), Ok(false));
        assert_eq!(ev("!defined(UNSET) && streq(a,a)"), Ok(true));
        assert_eq!(ev("strneq(a,a) || (1 && !0)"), Ok(true));
        assert_eq!(ev("feature(OPENSSL)"), Ok(true));
        assert_eq!(ev("feature(LUA)"), Ok(false));
        assert_eq!(ev("feature(SSL)"), Ok(false));
        assert_eq!(ev("version_atleast(2.6)"), Ok(true));
        assert_eq!(ev("version_atleast(2.6.13)"), Ok(false));
        assert_eq!(ev("version_before(2.7-dev1)"), Ok(true));
        assert_eq!(ev("version_before(2.4)"), Ok(false));
        assert_eq!(ev(""), Ok(false));
        assert_eq!(ev("0x10"), Ok(true));
    }

    #[test]
    fn syntax_errors() {
        assert!(ev("nosuch(x)").is_err());
        assert!(ev("defined(A").is_err());
        assert!(ev("(1").is_err());
        assert!(ev("1 &&").is_err());
        assert!(ev("1 2").is_err());
        assert!(ev("streq(a)").is_err());
        assert!(ev(&"(".repeat(5000)).is_err());
    }
}

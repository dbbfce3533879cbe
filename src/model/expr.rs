//! Samples, ACLs, conditions and log-format strings in typed form.
//!
//! Keyword enums name what the runtime implements; any other keyword HAProxy 2.6 knows is
//! kept as `Other(name)` so the configuration loads and the caller can warn about it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// Declares a keyword enum with its HAProxy spelling, optionally with an `Other` variant
/// for known-but-unimplemented keywords.
macro_rules! keywords {
    ($(#[$doc:meta])* $name:ident { $($var:ident = $text:literal),* $(,)? } $(, $other:ident)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($var,)*
            $(
                /// A keyword HAProxy 2.6 knows but rproxy does not implement.
                $other(String),
            )?
        }

        impl $name {
            /// Every implemented keyword.
            pub const IMPLEMENTED: &'static [$name] = &[$($name::$var),*];

            /// The HAProxy spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$var => $text,)*
                    $($name::$other(s) => s.as_str(),)?
                }
            }

            /// The implemented keyword spelled `name`.
            pub fn implemented(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$var),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keywords! {
    /// Sample fetches the runtime implements.
    FetchName {
        AlwaysFalse = "always_false",
        AlwaysTrue = "always_true",
        Base = "base",
        BeConn = "be_conn",
        BeName = "be_name",
        Bool = "bool",
        CaptureReqHdr = "capture.req.hdr",
        Connslots = "connslots",
        Cook = "cook",
        Date = "date",
        Dst = "dst",
        DstPort = "dst_port",
        Env = "env",
        FeConn = "fe_conn",
        FeName = "fe_name",
        Hdr = "hdr",
        HdrCnt = "hdr_cnt",
        HdrIp = "hdr_ip",
        HdrVal = "hdr_val",
        Hostname = "hostname",
        HttpAuth = "http_auth",
        HttpAuthGroup = "http_auth_group",
        Int = "int",
        Ipv4 = "ipv4",
        Ipv6 = "ipv6",
        Method = "method",
        Nbsrv = "nbsrv",
        Path = "path",
        Pathq = "pathq",
        Query = "query",
        Rand = "rand",
        ReqBody = "req.body",
        ReqCook = "req.cook",
        ReqFhdr = "req.fhdr",
        ReqHdr = "req.hdr",
        ReqHdrCnt = "req.hdr_cnt",
        ReqHdrIp = "req.hdr_ip",
        ReqHdrVal = "req.hdr_val",
        ReqLen = "req.len",
        ReqPayload = "req.payload",
        ReqProtoHttp = "req.proto_http",
        ReqRdpCookieCnt = "req.rdp_cookie_cnt",
        ReqSslHelloType = "req.ssl_hello_type",
        ReqSslSni = "req.ssl_sni",
        ReqSslVer = "req.ssl_ver",
        ReqVer = "req.ver",
        ResCook = "res.cook",
        ResHdr = "res.hdr",
        ResHdrCnt = "res.hdr_cnt",
        ResVer = "res.ver",
        Scook = "scook",
        Shdr = "shdr",
        Src = "src",
        SrcPort = "src_port",
        SrvName = "srv_name",
        SslCUsed = "ssl_c_used",
        SslCVerify = "ssl_c_verify",
        SslFc = "ssl_fc",
        SslFcAlpn = "ssl_fc_alpn",
        SslFcCipher = "ssl_fc_cipher",
        SslFcProtocol = "ssl_fc_protocol",
        SslFcSni = "ssl_fc_sni",
        Status = "status",
        Str = "str",
        UniqueId = "unique-id",
        Url = "url",
        UrlParam = "url_param",
        Urlp = "urlp",
        Var = "var",
        WaitEnd = "wait_end",
    },
    Other
}

keywords! {
    /// Converters the runtime implements.
    ConvName {
        Add = "add",
        And = "and",
        B64dec = "b64dec",
        Base64 = "base64",
        Bool = "bool",
        Bytes = "bytes",
        Concat = "concat",
        Cpl = "cpl",
        Crc32 = "crc32",
        Div = "div",
        Djb2 = "djb2",
        Even = "even",
        Field = "field",
        Hex = "hex",
        Hex2i = "hex2i",
        HostOnly = "host_only",
        Ipmask = "ipmask",
        Json = "json",
        Length = "length",
        Lower = "lower",
        Ltrim = "ltrim",
        Map = "map",
        MapBeg = "map_beg",
        MapDir = "map_dir",
        MapDom = "map_dom",
        MapEnd = "map_end",
        MapInt = "map_int",
        MapIp = "map_ip",
        MapReg = "map_reg",
        MapStr = "map_str",
        MapSub = "map_sub",
        Mod = "mod",
        Mul = "mul",
        Neg = "neg",
        Not = "not",
        Odd = "odd",
        Or = "or",
        PortOnly = "port_only",
        Regsub = "regsub",
        Rtrim = "rtrim",
        Sdbm = "sdbm",
        SetVar = "set-var",
        Sha1 = "sha1",
        Strcmp = "strcmp",
        Sub = "sub",
        UnsetVar = "unset-var",
        Upper = "upper",
        UrlDec = "url_dec",
        UrlEnc = "url_enc",
        Word = "word",
        Wt6 = "wt6",
        Xor = "xor",
    },
    Other
}

/// Sample types, as HAProxy declares them for fetch outputs and converter inputs/outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmpType {
    Any,
    Bool,
    Sint,
    Addr,
    Ipv4,
    Ipv6,
    Str,
    Bin,
    Meth,
}

impl SmpType {
    /// Whether a value of this type can be cast to `to` (HAProxy's implicit casts).
    pub fn can_cast(self, to: SmpType) -> bool {
        use SmpType::*;
        match (self, to) {
            (Any, _) | (_, Any) => true,
            (a, b) if a == b && a != Addr => true,
            (Bool, Sint | Str | Bin) => true,
            (Sint, Bool | Addr | Ipv4 | Ipv6 | Str | Bin) => true,
            (Ipv4, Sint | Addr | Ipv6 | Str | Bin) => true,
            (Ipv6, Addr | Ipv4 | Str | Bin) => true,
            (Str, _) => true,
            (Bin, Str | Meth) => true,
            (Meth, Str | Bin) => true,
            _ => false,
        }
    }
}

/// One argument of a fetch or converter, typed as its keyword declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arg {
    /// Strings, and names resolved later (backend, table, server, userlist, map file, regex,
    /// variable).
    Str(String),
    Int(i64),
    /// Addresses and masks (`ipmask(24)` is stored as 255.255.255.0).
    Ip(IpAddr),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Int(i) => write!(f, "{i}"),
            Arg::Ip(ip) => write!(f, "{ip}"),
            // Quote only when the text would not read back as itself.
            Arg::Str(s) if s.contains([',', ')', '"', '\'', '\\', ' ', '\t', '\r', '\n']) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' | '\\' => write!(f, "\\{c}")?,
                        '\r' => f.write_str("\\r")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        _ => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Arg::Str(s) => f.write_str(s),
        }
    }
}

/// Writes `(a,b)` or nothing when there are no arguments.
fn write_args(f: &mut fmt::Formatter<'_>, args: &[Arg]) -> fmt::Result {
    if args.is_empty() {
        return Ok(());
    }
    f.write_str("(")?;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{a}")?;
    }
    f.write_str(")")
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fetch {
    pub name: FetchName,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Converter {
    pub name: ConvName,
    pub args: Vec<Arg>,
}

/// A sample expression: a fetch and its converter chain (`req.hdr(host),lower`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sample {
    pub fetch: Fetch,
    pub converters: Vec<Converter>,
    /// Length in bytes of the source text the expression was read from.
    pub len: usize,
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fetch.name)?;
        write_args(f, &self.fetch.args)?;
        for c in &self.converters {
            write!(f, ",{}", c.name)?;
            write_args(f, &c.args)?;
        }
        Ok(())
    }
}

keywords! {
    /// How an ACL compares samples with its patterns (`-m METHOD`).
    MatchMethod {
        Found = "found",
        Bool = "bool",
        Int = "int",
        Ip = "ip",
        Bin = "bin",
        Len = "len",
        Str = "str",
        Beg = "beg",
        Sub = "sub",
        Dir = "dir",
        Dom = "dom",
        End = "end",
        Reg = "reg",
        Regm = "regm",
    }
}

impl MatchMethod {
    /// The sample type this method compares.
    pub fn input_type(&self) -> SmpType {
        match self {
            MatchMethod::Found | MatchMethod::Bool | MatchMethod::Int => SmpType::Sint,
            MatchMethod::Ip => SmpType::Addr,
            MatchMethod::Bin => SmpType::Bin,
            _ => SmpType::Str,
        }
    }
}

/// An integer pattern: a value (`min == max`) or a range with optional bounds (`10:20`,
/// `:5`, `8:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntMatch {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl IntMatch {
    pub fn matches(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// One ACL pattern, parsed according to the match method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// For str, beg, end, sub, dir, dom.
    Str(String),
    /// The regex source; validated at load, compiled by the runtime with the ACL's flags.
    Regex(String),
    /// For int and len.
    Int(IntMatch),
    Ip(IpNet),
    /// An IP pattern given as a host name, resolved when the model is built.
    Host(String),
    Bin(Vec<u8>),
}

/// ACL options given before the patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AclFlags {
    /// `-i`
    pub ignore_case: bool,
    /// `-n`: IP patterns may not be host names.
    pub no_dns: bool,
    /// `-M`: pattern files are map files (the key is the pattern).
    pub map_file: bool,
    /// `-u ID`
    pub unique_id: Option<i64>,
}

/// One ACL test: a sample, how to match it, and the patterns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclCriterion {
    /// The criterion as written (an ACL keyword such as `hdr_beg(host)` or a sample).
    pub keyword: String,
    pub sample: Sample,
    pub method: MatchMethod,
    pub flags: AclFlags,
    /// Patterns from the line, then from each `-f` file in order.
    pub patterns: Vec<Pattern>,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TermKind {
    /// A named ACL (resolved by the caller) and the index of its word.
    Named(String, usize),
    /// An anonymous `{ ... }` ACL.
    Anonymous(Box<AclCriterion>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Term {
    pub negate: bool,
    pub kind: TermKind,
}

/// An `if`/`unless` condition: OR of groups, each an AND of terms. No group at all (a bare
/// `if`) never matches, so `unless` with nothing always does, as in HAProxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Condition {
    pub unless: bool,
    pub or_groups: Vec<Vec<Term>>,
}

keywords! {
    /// Log-format variables (`%ci`, `%Tr` ...), HAProxy 2.6 section 8.2.6.
    LogVar {
        Global = "o",
        BytesRead = "B",
        CapturedReqCookie = "CC",
        CapturedResCookie = "CS",
        Hostname = "H",
        HttpMethod = "HM",
        HttpPath = "HP",
        HttpPathOnly = "HPO",
        HttpQuery = "HQ",
        HttpUri = "HU",
        HttpVersion = "HV",
        UniqueId = "ID",
        Status = "ST",
        DateGmt = "T",
        TimeActive = "Ta",
        TimeConnect = "Tc",
        TimeData = "Td",
        TimeHandshake = "Th",
        TimeIdle = "Ti",
        DateLocal = "Tl",
        TimeQ = "Tq",
        TimeResponse = "Tr",
        TimeRequest = "TR",
        Timestamp = "Ts",
        TimeTotal = "Tt",
        TimeUser = "Tu",
        TimeWait = "Tw",
        BytesUploaded = "U",
        ActConn = "ac",
        Backend = "b",
        BeConn = "bc",
        BackendIp = "bi",
        BackendPort = "bp",
        BackendQueue = "bq",
        ClientIp = "ci",
        ClientPort = "cp",
        Frontend = "f",
        FeConn = "fc",
        FrontendIp = "fi",
        FrontendPort = "fp",
        FrontendXprt = "ft",
        HeadersReq = "hr",
        HeadersReqList = "hrl",
        HeadersRes = "hs",
        HeadersResList = "hsl",
        LogCounter = "lc",
        AcceptMs = "ms",
        Pid = "pid",
        Request = "r",
        Retries = "rc",
        RequestCounter = "rt",
        Server = "s",
        SrvConn = "sc",
        ServerIp = "si",
        ServerPort = "sp",
        ServerQueue = "sq",
        SslCipher = "sslc",
        SslVersion = "sslv",
        Date = "t",
        DateRequest = "tr",
        DateRequestGmt = "trg",
        DateRequestLocal = "trl",
        TermState = "ts",
        TermStateCookie = "tsc",
    }
}

impl LogVar {
    /// Variables HAProxy only accepts in HTTP mode.
    pub fn http_only(&self) -> bool {
        use LogVar::*;
        matches!(
            self,
            CapturedReqCookie
                | CapturedResCookie
                | HttpMethod
                | HttpPath
                | HttpPathOnly
                | HttpQuery
                | HttpUri
                | HttpVersion
                | TimeActive
                | TimeIdle
                | TimeQ
                | TimeResponse
                | TimeRequest
                | Request
                | DateRequest
                | DateRequestGmt
                | DateRequestLocal
        )
    }
}

/// Flags of a log-format node: what was written in `%{...}` and the resulting set (which
/// includes the defaults set by an earlier `%o`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LfOptions {
    /// The text between `%{` and `}`, if any.
    pub raw: Option<String>,
    /// `Q`: quote strings.
    pub quote: bool,
    /// `X`: hexadecimal for IPs, ports and numbers.
    pub hex: bool,
    /// `E`: escape `"`, `\` and `]`.
    pub escape: bool,
    /// `M`: emit `-` rather than nothing for an empty value.
    pub mandatory: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LfNode {
    Literal(String),
    /// `%var`; `%o` is kept (as [`LogVar::Global`]) so the string can be written back.
    Var {
        var: LogVar,
        options: LfOptions,
    },
    /// `%[sample]`
    Sample {
        sample: Sample,
        options: LfOptions,
    },
}

/// A parsed log-format string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogFormat(pub Vec<LfNode>);

impl fmt::Display for LogFormat {
    /// The source form (`%%` for a literal percent); spaces are not escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for node in &self.0 {
            let (options, body) = match node {
                LfNode::Literal(s) => {
                    f.write_str(&s.replace('%', "%%"))?;
                    continue;
                }
                LfNode::Var { var, options } => (options, var.to_string()),
                LfNode::Sample { sample, options } => (options, format!("[{sample}]")),
            };
            match &options.raw {
                Some(raw) => write!(f, "%{{{raw}}}{body}")?,
                None => write!(f, "%{body}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_round_trip() {
        for f in FetchName::IMPLEMENTED {
            assert_eq!(FetchName::implemented(f.as_str()).as_ref(), Some(f));
        }
        for c in ConvName::IMPLEMENTED {
            assert_eq!(ConvName::implemented(c.as_str()).as_ref(), Some(c));
        }
        for v in LogVar::IMPLEMENTED {
            assert_eq!(LogVar::implemented(v.as_str()).as_ref(), Some(v));
        }
        assert_eq!(
            FetchName::Other("sc0_conn_cnt".into()).as_str(),
            "sc0_conn_cnt"
        );
        assert_eq!(FetchName::implemented("nope"), None);
    }

    #[test]
    fn casts() {
        assert!(SmpType::Str.can_cast(SmpType::Sint));
        assert!(SmpType::Ipv4.can_cast(SmpType::Str));
        assert!(!SmpType::Meth.can_cast(SmpType::Sint));
        assert!(!SmpType::Bool.can_cast(SmpType::Ipv4));
        assert!(!SmpType::Addr.can_cast(SmpType::Addr));
    }

    #[test]
    fn arg_display() {
        assert_eq!(Arg::Str("host".into()).to_string(), "host");
        assert_eq!(Arg::Str("a,b".into()).to_string(), "\"a,b\"");
        assert_eq!(
            Arg::Str("say \"hi\"".into()).to_string(),
            "\"say \\\"hi\\\"\""
        );
        assert_eq!(Arg::Int(-3).to_string(), "-3");
    }

    #[test]
    fn int_match() {
        let r = IntMatch {
            min: Some(10),
            max: None,
        };
        assert!(r.matches(10) && !r.matches(9));
    }
}

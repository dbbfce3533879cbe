//! The rule interpreter behind every non-HTTP check kind. HAProxy 2.6 runs `smtpchk`,
//! `mysql-check`, `pgsql-check`, `redis-check`, `ldap-check`, `ssl-hello-chk` and the
//! user's `tcp-check` script alike, as a list of connect / send / expect rules; their
//! verdicts, step numbers and `info` texts all come from that one machinery, so this
//! module reproduces it once and each kind only lists its rules.
//!
//! What it mirrors (as observed on 2.6):
//! * rules are numbered from 1 in declaration order, `comment` rules included (a comment
//!   attaches to the rule that follows it); an implicit leading connect is step 0;
//! * a send empties the receive buffer; an expect right after a send or connect reads
//!   first; consecutive expects look at the same buffer, and when one needs more data
//!   the group is evaluated again from its first expect once more has arrived;
//! * an expect waits for more data while it is shorter than a string/binary pattern or
//!   than `min-recv`, and on a mismatch unless it has a `min-recv` (then a mismatch is
//!   final) or the peer closed;
//! * `info` is the failure/success text cut at a NUL, at 127 bytes, and written with
//!   HAProxy's log escaping (`<XX>` for `<`, `>`, `"` and bytes outside printable ASCII).

use regex::bytes::Regex;

use super::super::probe::{CheckConn, CheckCtx, IoFail, io_info};
use super::super::tls::CheckStream;
use super::super::{CheckStatus, Outcome};
use crate::model::server::ProxyProtocol;

/// HAProxy's check buffer (`tune.bufsize` by default): a full buffer counts as the last
/// read.
const BUFSIZE: usize = 16384;
/// HAProxy keeps at most this many bytes of a check's description.
const DESC_MAX: usize = 127;

/// Bytes out of the response buffer (a sample fetch in HAProxy's rule sets).
pub type Fetch = fn(&[u8]) -> Vec<u8>;

/// A kind's own response parser (HAProxy's `expect custom`): sees the buffer, whether the
/// peer is done sending and whether this is the script's last rule.
pub type CustomFn = fn(&[u8], bool, bool) -> Eval;

/// What an expect made of the buffer.
#[derive(Debug)]
pub enum Eval {
    /// Needs more data.
    Wait,
    /// Matched; on to the next rule.
    Pass,
    /// The check ends here with this verdict.
    End(Fin),
}

/// A verdict under construction: the status, the protocol code and the raw info bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fin {
    pub status: CheckStatus,
    pub code: Option<u32>,
    pub info: Vec<u8>,
}

impl Fin {
    pub fn new(status: CheckStatus, info: impl Into<Vec<u8>>) -> Fin {
        Fin {
            status,
            code: None,
            info: info.into(),
        }
    }
    pub fn code(mut self, c: u32) -> Fin {
        self.code = Some(c);
        self
    }
}

/// What an expect looks for.
#[derive(Debug)]
pub enum Matcher {
    /// The bytes anywhere in the buffer.
    String(Vec<u8>),
    /// The same, shown as binary in messages.
    Binary(Vec<u8>),
    /// A regular expression on the buffer (`None`: never matches).
    RString(Option<Regex>),
    /// A regular expression on the buffer's upper-case hex form.
    RBinary(Option<Regex>),
    Custom(CustomFn),
}

/// An `on-error` / `on-success` message: fixed, or taken from the response.
#[derive(Debug, Clone, Copy)]
pub enum Msg {
    Text(&'static str),
    Fetch(Fetch),
}

impl Msg {
    fn render(self, buf: &[u8]) -> Vec<u8> {
        match self {
            Msg::Text(t) => t.as_bytes().to_vec(),
            Msg::Fetch(f) => f(buf),
        }
    }
}

/// One `expect` rule with its options.
#[derive(Debug)]
pub struct Expect {
    pub matcher: Matcher,
    pub negate: bool,
    pub min_recv: Option<usize>,
    pub ok_status: CheckStatus,
    pub err_status: CheckStatus,
    pub tout_status: CheckStatus,
    pub on_error: Option<Msg>,
    pub on_success: Option<Msg>,
    /// `status-code`: the check's code from the response.
    pub status_code: Option<fn(&[u8]) -> u32>,
}

impl Expect {
    /// An expect with HAProxy's defaults (L7OK / L7RSP / L7TOUT, no min-recv).
    pub fn new(matcher: Matcher) -> Expect {
        Expect {
            matcher,
            negate: false,
            min_recv: None,
            ok_status: CheckStatus::L7Ok,
            err_status: CheckStatus::L7Rsp,
            tout_status: CheckStatus::L7Tout,
            on_error: None,
            on_success: None,
            status_code: None,
        }
    }
    pub fn string(s: &[u8]) -> Expect {
        Expect::new(Matcher::String(s.to_vec()))
    }
    /// A regular expression on the text (HAProxy's `rstring`).
    pub fn rstring(re: &str) -> Expect {
        Expect::new(Matcher::RString(Regex::new(re).ok()))
    }
    /// A regular expression on the hex form (HAProxy's `rbinary`).
    pub fn rbinary(re: &str) -> Expect {
        Expect::new(Matcher::RBinary(Regex::new(re).ok()))
    }
    pub fn custom(f: CustomFn) -> Expect {
        Expect::new(Matcher::Custom(f))
    }
    pub fn negate(mut self) -> Expect {
        self.negate = true;
        self
    }
    pub fn min_recv(mut self, n: usize) -> Expect {
        self.min_recv = Some(n);
        self
    }
    pub fn statuses(mut self, ok: CheckStatus, err: CheckStatus, tout: CheckStatus) -> Expect {
        self.ok_status = ok;
        self.err_status = err;
        self.tout_status = tout;
        self
    }
    pub fn err_status(mut self, s: CheckStatus) -> Expect {
        self.err_status = s;
        self
    }
    pub fn on_error(mut self, m: Msg) -> Expect {
        self.on_error = Some(m);
        self
    }
    pub fn on_success(mut self, m: Msg) -> Expect {
        self.on_success = Some(m);
        self
    }
    pub fn status_code(mut self, f: fn(&[u8]) -> u32) -> Expect {
        self.status_code = Some(f);
        self
    }
}

/// What a send puts on the wire.
#[derive(Debug)]
pub enum Payload {
    Fixed(Vec<u8>),
    /// Built at each check (the SSL hello's clock).
    Built(fn() -> Vec<u8>),
}

#[derive(Debug)]
pub enum Action {
    Connect {
        port: Option<u16>,
        send_proxy: bool,
        /// TLS or not; `None`: as the check's own connection (`check-ssl`).
        tls: Option<bool>,
        implicit: bool,
    },
    Send(Payload),
    Expect(Expect),
}

#[derive(Debug)]
pub struct Rule {
    pub action: Action,
    /// 1-based step number as HAProxy reports it; 0 for the implicit connect.
    pub step: u32,
    pub comment: Option<String>,
}

/// A list of rules, numbered as HAProxy numbers them.
#[derive(Debug)]
pub struct Script {
    rules: Vec<Rule>,
    /// A user's `tcp-check` script (as opposed to a protocol kind's built-in rules): its
    /// connection errors and timeouts say where they happened, and it succeeds with
    /// "(tcp-check)".
    user: bool,
    /// The most response bytes an expect looks at (`tune.bufsize`).
    bufsize: usize,
}

/// Builds a [`Script`].
#[derive(Debug)]
pub struct ScriptBuilder {
    rules: Vec<Rule>,
    next_step: u32,
    comment: Option<String>,
    user: bool,
}

impl ScriptBuilder {
    /// `user`: a `tcp-check` script written by the user.
    pub fn new(user: bool) -> ScriptBuilder {
        ScriptBuilder {
            rules: Vec::new(),
            next_step: 1,
            comment: None,
            user,
        }
    }
    fn push(&mut self, action: Action) {
        self.rules.push(Rule {
            action,
            step: self.next_step,
            comment: self.comment.take(),
        });
        self.next_step += 1;
    }
    /// A connect as the check's own connection (TLS with `check-ssl`).
    pub fn connect(self, port: Option<u16>, send_proxy: bool) -> Self {
        self.connect_tls(port, send_proxy, None)
    }
    /// A connect over TLS (`Some(true)`), in clear, or as the check's own (`None`).
    pub fn connect_tls(mut self, port: Option<u16>, send_proxy: bool, tls: Option<bool>) -> Self {
        self.push(Action::Connect {
            port,
            send_proxy,
            tls,
            implicit: false,
        });
        self
    }
    pub fn send(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.push(Action::Send(Payload::Fixed(bytes.into())));
        self
    }
    pub fn send_built(mut self, f: fn() -> Vec<u8>) -> Self {
        self.push(Action::Send(Payload::Built(f)));
        self
    }
    pub fn expect(mut self, e: Expect) -> Self {
        self.push(Action::Expect(e));
        self
    }
    /// A `comment` rule: takes a step number and names the next rule in messages.
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self.next_step += 1;
        self
    }
    /// The script; one that does not start with a connect connects first (step 0).
    pub fn build(mut self) -> Script {
        if !matches!(
            self.rules.first().map(|r| &r.action),
            Some(Action::Connect { .. })
        ) {
            self.rules.insert(
                0,
                Rule {
                    action: Action::Connect {
                        port: None,
                        send_proxy: false,
                        tls: None,
                        implicit: true,
                    },
                    step: 0,
                    comment: None,
                },
            );
        }
        Script {
            rules: self.rules,
            user: self.user,
            bufsize: BUFSIZE,
        }
    }
}

/// HAProxy's `%[res.payload(off,0)]`: the buffer from `off` (empty when shorter).
pub fn payload(buf: &[u8], off: usize) -> &[u8] {
    buf.get(off..).unwrap_or(&[])
}

/// HAProxy's `cut_crlf` converter: up to the first CR or LF.
pub fn cut_crlf(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == b'\r' || c == b'\n') {
        Some(i) => &b[..i],
        None => b,
    }
}

/// HAProxy's `ltrim(' ')`.
pub fn ltrim_spaces(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ').count();
    &b[n..]
}

/// HAProxy's string-to-integer cast of a sample: the leading decimal digits (0 if none).
pub fn leading_int(b: &[u8]) -> u32 {
    b.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u32, |n, c| {
            n.saturating_mul(10).saturating_add(u32::from(c - b'0'))
        })
}

/// The upper-case hex form `rbinary` patterns are matched against.
pub fn hex_upper(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(b.len() * 2);
    for &c in b {
        s.push(H[usize::from(c >> 4)] as char);
        s.push(H[usize::from(c & 15)] as char);
    }
    s
}

/// A check description as HAProxy shows it in `info: "..."`: cut at the first NUL, at
/// most 127 bytes, `<`, `>`, `"` and bytes outside printable ASCII as `<XX>`. `None`
/// when nothing is left.
pub fn info_text(raw: &[u8]) -> Option<String> {
    let raw = match raw.iter().position(|&c| c == 0) {
        Some(i) => &raw[..i],
        None => raw,
    };
    let raw = &raw[..raw.len().min(DESC_MAX)];
    if raw.is_empty() {
        return None;
    }
    let mut s = String::with_capacity(raw.len());
    for &c in raw {
        if (0x20..0x7f).contains(&c) && !matches!(c, b'<' | b'>' | b'"') {
            s.push(c as char);
        } else {
            s.push_str(&format!("<{c:02X}>"));
        }
    }
    Some(s)
}

impl Fin {
    /// The outcome: HAProxy reports a code with the statuses that carry one (L7OK, L7OKC,
    /// L7STS), 0 when the protocol gave none.
    pub fn outcome(self) -> Outcome {
        let mut o = Outcome::new(self.status);
        if matches!(
            self.status,
            CheckStatus::L7Ok | CheckStatus::L7OkC | CheckStatus::L7Sts
        ) {
            o.code = Some(self.code.unwrap_or(0));
        }
        o.info = info_text(&self.info);
        o
    }
}

/// The state of one run.
struct Run<'s> {
    script: &'s Script,
    conn: Option<CheckConn>,
    buf: Vec<u8>,
    last_read: bool,
    code: Option<u32>,
}

impl Script {
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The check buffer's size (`tune.bufsize`): a response filling it is judged as is.
    pub fn bufsize(mut self, n: usize) -> Script {
        self.bufsize = n.max(1);
        self
    }

    /// Runs the rules against `ctx`'s server.
    pub async fn run(&self, ctx: &CheckCtx) -> Outcome {
        let mut r = Run {
            script: self,
            conn: None,
            buf: Vec::new(),
            last_read: false,
            code: None,
        };
        match r.exec(ctx).await {
            Ok(fin) | Err(fin) => fin.outcome(),
        }
    }

    /// Where a connection problem or timeout happened, as a user script's info says it.
    fn whereabouts(&self, rule: &Rule) -> String {
        if !self.user {
            return String::new();
        }
        if rule.step == 0 {
            return " at initial connection step of tcp-check".into();
        }
        let mut s = format!(" at step {} of tcp-check", rule.step);
        match &rule.action {
            Action::Connect { port: Some(p), .. } => s.push_str(&format!(" (connect port {p})")),
            Action::Connect { .. } => s.push_str(" (connect)"),
            Action::Send(_) => s.push_str(" (send)"),
            Action::Expect(e) => match &e.matcher {
                Matcher::String(p) => s.push_str(&format!(" (expect string '{}')", latin(p))),
                Matcher::Binary(p) => {
                    // HAProxy dumps the pattern up to its first NUL.
                    let p = p.split(|&c| c == 0).next().unwrap_or(&[]);
                    s.push_str(&format!(" (expect binary '{}')", latin(p)));
                }
                Matcher::RString(_) => s.push_str(" (expect regex)"),
                Matcher::RBinary(_) => s.push_str(" (expect binary regex)"),
                Matcher::Custom(_) => s.push_str(" (expect custom function)"),
            },
        }
        if let Some(c) = &rule.comment {
            s.push_str(&format!(" comment: '{c}'"));
        }
        s
    }
}

/// Raw bytes carried in a `String` one char per byte; [`info_text`] escapes what is not
/// printable ASCII anyway, so the mapping only has to keep ASCII intact.
fn latin(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// Bytes of a message that may hold raw binary (see [`latin`]).
fn unlatin(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

impl Run<'_> {
    async fn exec(&mut self, ctx: &CheckCtx) -> Result<Fin, Fin> {
        let rules = &self.script.rules;
        let mut i = 0;
        let mut head = 0;
        let mut must_read = true;
        while i < rules.len() {
            let rule = &rules[i];
            match &rule.action {
                Action::Connect {
                    port,
                    send_proxy,
                    tls,
                    ..
                } => {
                    self.conn = None;
                    self.buf.clear();
                    self.last_read = false;
                    must_read = true;
                    let tls = tls.unwrap_or(ctx.tls_default);
                    let res = if *send_proxy && ctx.send_proxy.is_none() {
                        let mut c = ctx.clone();
                        c.send_proxy = Some(ProxyProtocol::V1);
                        c.connect_as(*port, tls).await
                    } else {
                        ctx.connect_as(*port, tls).await
                    };
                    match res {
                        Ok(c) => self.conn = Some(c),
                        Err(o) => {
                            let mut info = o.info.unwrap_or_default().into_bytes();
                            info.extend(unlatin(&self.script.whereabouts(rule)));
                            return Err(Fin::new(o.status, info));
                        }
                    }
                }
                Action::Send(p) => {
                    self.buf.clear();
                    must_read = true;
                    let bytes = match p {
                        Payload::Fixed(b) => b.clone(),
                        Payload::Built(f) => f(),
                    };
                    let Some(conn) = self.conn.as_mut() else {
                        return Err(Fin::new(CheckStatus::SockErr, Vec::new()));
                    };
                    if let Err(e) = conn.send(&bytes).await {
                        return Err(self.io_fin(e, rule, CheckStatus::SockErr));
                    }
                }
                Action::Expect(e) => {
                    if i == 0 || !matches!(rules[i - 1].action, Action::Expect(_)) {
                        head = i;
                    }
                    if must_read {
                        must_read = false;
                        self.read(rule, e).await?;
                    }
                    match self.eval(rule, e, i + 1 == rules.len()) {
                        Eval::Pass => {}
                        Eval::End(f) => return Err(f),
                        // Nothing more can come: a parser that still wants more failed.
                        Eval::Wait if self.last_read => {
                            return Err(Fin::new(e.err_status, Vec::new()));
                        }
                        Eval::Wait => {
                            self.read(rule, e).await?;
                            i = head;
                            continue;
                        }
                    }
                }
            }
            i += 1;
        }
        Ok(self.success())
    }

    /// The verdict when every rule went through.
    fn success(&self) -> Fin {
        let user = self.script.user;
        let tc = |user: bool| -> Vec<u8> {
            if user {
                b"(tcp-check)".to_vec()
            } else {
                Vec::new()
            }
        };
        match self.script.rules.last().map(|r| &r.action) {
            Some(Action::Expect(e)) => {
                let info = match e.on_success {
                    Some(m) => m.render(&self.buf),
                    None => tc(user),
                };
                Fin {
                    status: e.ok_status,
                    code: self.code,
                    info,
                }
            }
            Some(Action::Connect { implicit, .. }) => {
                // A connection that completed a TLS handshake passed layer 6.
                let tls = self
                    .conn
                    .as_ref()
                    .is_some_and(|c| matches!(c.stream, CheckStream::Tls(_)));
                let status = if tls {
                    CheckStatus::L6Ok
                } else {
                    CheckStatus::L4Ok
                };
                Fin::new(status, tc(user && !implicit))
            }
            _ => Fin::new(CheckStatus::L7Ok, tc(user)),
        }
    }

    /// Reads once more into the buffer. End of stream sets `last_read`; an end of stream
    /// before any byte is HAProxy's "empty response", with the rule's error status.
    async fn read(&mut self, rule: &Rule, e: &Expect) -> Result<(), Fin> {
        if self.last_read {
            return Ok(());
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Fin::new(CheckStatus::SockErr, Vec::new()));
        };
        let max = self.script.bufsize;
        match conn.recv(&mut self.buf, max).await {
            Ok(0) => {
                self.last_read = true;
                if self.buf.is_empty() {
                    let mut m = format!("TCPCHK got an empty response at step {}", rule.step);
                    if let Some(c) = &rule.comment {
                        m.push_str(&format!(" comment: '{c}'"));
                    }
                    return Err(Fin::new(e.err_status, m));
                }
            }
            Ok(_) => {
                if self.buf.len() >= max {
                    self.last_read = true;
                }
            }
            Err(IoFail::Timeout) => {
                let info = unlatin(&self.script.whereabouts(rule));
                return Err(Fin::new(e.tout_status, info));
            }
            Err(IoFail::Io(err)) => {
                // A reset right after the last bytes is common; judge the bytes then.
                self.last_read = true;
                if self.buf.is_empty() {
                    return Err(self.io_fin(IoFail::Io(err), rule, CheckStatus::L4Con));
                }
            }
        }
        Ok(())
    }

    fn io_fin(&self, e: IoFail, rule: &Rule, status: CheckStatus) -> Fin {
        let mut info = match &e {
            IoFail::Timeout => {
                return Fin::new(CheckStatus::L7Tout, unlatin(&self.script.whereabouts(rule)));
            }
            IoFail::Io(err) => io_info(err).into_bytes(),
        };
        info.extend(unlatin(&self.script.whereabouts(rule)));
        Fin::new(status, info)
    }

    fn eval(&mut self, rule: &Rule, e: &Expect, is_last: bool) -> Eval {
        let buf = &self.buf;
        if let Matcher::Custom(f) = &e.matcher {
            return f(buf, self.last_read, is_last);
        }
        if !self.last_read {
            let need = match &e.matcher {
                Matcher::String(p) | Matcher::Binary(p) => p.len(),
                _ => 0,
            };
            if buf.len() < need || e.min_recv.is_some_and(|m| buf.len() < m) {
                return Eval::Wait;
            }
        }
        let matched = match &e.matcher {
            Matcher::String(p) | Matcher::Binary(p) => {
                p.is_empty() || memchr::memmem::find(buf, p).is_some()
            }
            Matcher::RString(re) => re.as_ref().is_some_and(|re| re.is_match(buf)),
            Matcher::RBinary(re) => re
                .as_ref()
                .is_some_and(|re| re.is_match(hex_upper(buf).as_bytes())),
            Matcher::Custom(_) => false,
        };
        if !matched && !self.last_read && e.min_recv.is_none() {
            return Eval::Wait;
        }
        if let Some(f) = e.status_code {
            self.code = Some(f(buf));
        }
        if matched != e.negate {
            return Eval::Pass;
        }
        let info = match e.on_error {
            Some(m) => m.render(buf),
            None => default_error(rule, e, matched),
        };
        Eval::End(Fin {
            status: e.err_status,
            code: self.code,
            info,
        })
    }
}

/// HAProxy's own words for a failed expect without `on-error`.
fn default_error(rule: &Rule, e: &Expect, matched: bool) -> Vec<u8> {
    let mut m: Vec<u8> = if matched {
        b"TCPCHK matched unwanted content".to_vec()
    } else {
        b"TCPCHK did not match content".to_vec()
    };
    match &e.matcher {
        Matcher::String(p) => {
            m.extend_from_slice(b" '");
            m.extend_from_slice(p);
            m.push(b'\'');
        }
        Matcher::Binary(_) => m.extend_from_slice(b" (binary)"),
        Matcher::RString(_) => m.extend_from_slice(b" (regex)"),
        Matcher::RBinary(_) => m.extend_from_slice(b" (binary regex)"),
        Matcher::Custom(_) => m.extend_from_slice(b" (custom function)"),
    }
    m.extend_from_slice(format!(" at step {}", rule.step).as_bytes());
    // Unquoted here, quoted in the other messages: as 2.6 writes them.
    if let Some(c) = &rule.comment {
        m.extend_from_slice(format!(" comment: {c}").as_bytes());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_escaping_as_haproxy_logs_it() {
        assert_eq!(info_text(b"").as_deref(), None);
        assert_eq!(info_text(b"\0abc"), None);
        assert_eq!(
            info_text(b"<a> \"q\" \\ \x01 \xc3\xa9 end").as_deref(),
            Some("<3C>a<3E> <22>q<22> \\ <01> <C3><A9> end")
        );
        assert_eq!(info_text(b"A\0B").as_deref(), Some("A"));
        let long = vec![b'x'; 300];
        assert_eq!(info_text(&long).map(|s| s.len()), Some(127));
        let lt = vec![b'<'; 100];
        assert_eq!(info_text(&lt).map(|s| s.len()), Some(400));
    }

    #[test]
    fn helpers() {
        assert_eq!(cut_crlf(b"ab\r\ncd"), b"ab");
        assert_eq!(ltrim_spaces(b"  x "), b"x ");
        assert_eq!(leading_int(b"554 x"), 554);
        assert_eq!(leading_int(b"zzz"), 0);
        assert_eq!(hex_upper(&[0x0a, 0xff]), "0AFF");
        assert_eq!(payload(b"abc", 5), b"");
    }

    #[test]
    fn steps_count_comments_and_implicit_connect_is_zero() {
        let s = ScriptBuilder::new(true)
            .comment("c")
            .send(b"x".to_vec())
            .expect(Expect::string(b"y"))
            .build();
        let steps: Vec<u32> = s.rules().iter().map(|r| r.step).collect();
        assert_eq!(steps, vec![0, 2, 3]);
        assert_eq!(s.rules()[1].comment.as_deref(), Some("c"));
    }
}

//! Traffic-log lines as the side-by-side log tests compare them: the parts of an RFC 3164
//! line (`<PRI>`, the message after `TAG[PID]: `) and regex substitutions that replace
//! what differs between two runs of the same exchange (client ports, dates, timers, byte
//! counts). Each test file picks its own list of substitutions — the shared ones are the
//! constants here, file-specific ones stay in the file — and applies it with [`apply`].

use super::mock::MockServer;
use super::sbs::fill;
use super::syslog::Syslog;

/// One substitution: a regex and its replacement (`$1`-style groups allowed).
pub type Sub = (&'static str, &'static str);

/// `ip:port` → `ip:PORT` (client and server ports differ between runs).
pub const PORT: Sub = (r"(\d+\.\d+\.\d+\.\d+):\d+", "$1:PORT");

/// `[03/Dec/2026:14:43:51.123]`, also with a zone as in CLF → `[DATE]`.
pub const DATE: Sub = (
    r"\[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d(\.\d{3})?( [+-]\d{4})?\]",
    "[DATE]",
);

/// `[03/Dec/2026:14:43:51.123]` without a zone → `[DATE]`.
pub const DATE_NO_ZONE: Sub = (r"\[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d(\.\d{3})?\]", "[DATE]");

/// Applies `subs` in order, each to every match.
pub fn apply(msg: &str, subs: &[Sub]) -> String {
    let mut s = msg.to_string();
    for (re, rep) in subs {
        s = regex::Regex::new(re)
            .expect("regex")
            .replace_all(&s, *rep)
            .into_owned();
    }
    s
}

/// The message of an RFC 3164 line: what follows `TAG[PID]: ` (the whole line, without
/// its final newline, when there is no such tag).
pub fn message(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    match line.find("]: ") {
        Some(i) => &line[i + 3..],
        None => line,
    }
}

/// The text between a leading `<` and the next `>` (the syslog priority), if the line
/// starts with `<`.
pub fn pri(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_prefix('<').and_then(|l| l.split('>').next())
}

impl Syslog {
    /// The [`message`] of the next datagram (see [`Syslog::next`]).
    pub fn next_message(&self) -> String {
        message(&self.next()).to_string()
    }
    /// The [`message`]s of the next `n` datagrams.
    pub fn messages(&self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.next_message()).collect()
    }
}

/// Asserts that haproxy's lines `h` and rproxy's `r`, each passed through `norm`, are
/// equal as lists; the message shows both lists as received.
pub fn assert_same_lines(h: &[String], r: &[String], norm: impl Fn(&str) -> String) {
    let nh: Vec<String> = h.iter().map(|s| norm(s)).collect();
    let nr: Vec<String> = r.iter().map(|s| norm(s)).collect();
    assert_eq!(nr, nh, "\nhaproxy: {h:?}\nrproxy:  {r:?}");
}

/// The usual start of a log test: a syslog receiver, a mock server `s1`, and `template`
/// with `{{LOG}}` (the receiver) and `{{SRV}}` (the server) filled in.
pub fn with_log_and_server(template: &str) -> (Syslog, MockServer, String) {
    let log = Syslog::new();
    let srv = MockServer::start("s1");
    let t = fill(template, &[("LOG", &log.addr()), ("SRV", &srv.addr_str())]);
    (log, srv, t)
}

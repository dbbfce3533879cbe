//! `cookie NAME [rewrite|insert|prefix] ...`: reading the persistence cookie of a request
//! (which server it names, and what the server must not see of it) and writing the
//! response's cookie (`Set-Cookie` inserted, rewritten or prefixed; `Cache-control:
//! private` with `nocache`), as HAProxy 2.6 does. Facts observed with haproxy 2.6.12:
//! * the cookie name matches exactly (case counts); the first occurrence in the request
//!   decides, every occurrence is stripped (`prefix`: `SRV~value` becomes `value`, any
//!   server; `insert indirect`: the cookie is removed, the header too once empty);
//! * `prefix` splits the value at the first `~`; other modes at the first `|`, after which
//!   come the `maxidle`/`maxlife` dates (last seen, first seen), an expired one making the
//!   cookie count as absent;
//! * a server named by the cookie takes the request when it is running (up, not in
//!   maintenance: draining counts), else with `option persist` or `force-persist`;
//! * in the response, the server's own cookie of that name is removed in insert mode (or
//!   when the client came with a valid cookie and `indirect`), left alone with `preserve`,
//!   its value replaced by the server's cookie in rewrite mode and prefixed with `SRV~` in
//!   prefix mode; insert mode adds `NAME=VALUE; path=/` then `; domain=D` each, `;
//!   HttpOnly`, `; Secure`, `; ATTR` each, as the last header, unless the client already
//!   had the right cookie (and its dates need no refresh), or with `postonly` the request
//!   is not a POST; a server without a cookie gets a removal cookie.

use std::time::Duration;

use super::cache;
use super::dates;
use crate::model::proxy::{CookieCfg, CookieMode};
use crate::runtime::http::head::{Headers, ResponseHead, trim};

/// One cookie of a `Cookie` line, with the blanks and delimiter around it, so that the
/// line can be written again as HAProxy edits it in place.
#[derive(Debug)]
struct Elem {
    /// Blanks before the name.
    lead: Vec<u8>,
    name: Vec<u8>,
    /// None for a word without `=`.
    value: Option<Vec<u8>>,
    /// Blanks after the value.
    trail: Vec<u8>,
    /// The `;` or `,` after it (none for the last).
    delim: Option<u8>,
    removed: bool,
}

fn split_cookies(v: &[u8]) -> Vec<Elem> {
    let mut out = Vec::new();
    let mut rest = v;
    loop {
        let end = rest
            .iter()
            .position(|b| *b == b';' || *b == b',')
            .unwrap_or(rest.len());
        let seg = &rest[..end];
        let body = trim(seg);
        let lead_len = seg.len() - seg.trim_ascii_start().len();
        let trail_len = if body.is_empty() {
            0
        } else {
            seg.len() - seg.trim_ascii_end().len()
        };
        let (name, value) = match body.iter().position(|b| *b == b'=') {
            Some(i) => (
                trim(&body[..i]).to_vec(),
                Some(trim(&body[i + 1..]).to_vec()),
            ),
            None => (body.to_vec(), None),
        };
        out.push(Elem {
            lead: seg[..lead_len].to_vec(),
            name,
            value,
            trail: seg[seg.len() - trail_len..].to_vec(),
            delim: rest.get(end).copied(),
            removed: false,
        });
        match rest.get(end) {
            Some(_) => rest = &rest[end + 1..],
            None => return out,
        }
    }
}

/// Writes the kept cookies back as HAProxy does: blanks around `=` dropped; where
/// cookies were removed, the previous one's delimiter and a space join it to the next;
/// a removed first cookie leaves the next one first, a removed last one ends the line
/// after the previous value (its blanks kept).
fn join_cookies(elems: &[Elem]) -> Vec<u8> {
    let mut out = Vec::new();
    let kept: Vec<usize> = (0..elems.len()).filter(|i| !elems[*i].removed).collect();
    if kept
        .iter()
        .all(|i| elems[*i].name.first() == Some(&b'$') || elems[*i].name.is_empty())
        && kept.len() < elems.len()
    {
        // Only attributes (or nothing) left after a removal.
        return out;
    }
    for (k, &i) in kept.iter().enumerate() {
        let e = &elems[i];
        let removed_before = if k == 0 { i > 0 } else { kept[k - 1] + 1 != i };
        let next = kept.get(k + 1).copied();
        let removed_after = match next {
            Some(n) => n != i + 1,
            None => i + 1 != elems.len(),
        };
        if !removed_before {
            out.extend_from_slice(&e.lead);
        }
        out.extend_from_slice(&e.name);
        if let Some(v) = &e.value {
            out.push(b'=');
            out.extend_from_slice(v);
        }
        match (next, removed_after) {
            (Some(_), true) => {
                out.push(e.delim.unwrap_or(b';'));
                out.push(b' ');
            }
            (Some(_), false) => {
                out.extend_from_slice(&e.trail);
                out.extend(e.delim);
            }
            (None, true) => out.extend_from_slice(&e.trail),
            (None, false) => {
                out.extend_from_slice(&e.trail);
                out.extend(e.delim);
            }
        }
    }
    out
}

/// `name = value ; attrs` becomes `name=value ; attrs`.
fn tighten_first_pair(v: &mut Vec<u8>) {
    let pair_end = v.iter().position(|b| *b == b';').unwrap_or(v.len());
    let Some(eq) = v[..pair_end].iter().position(|b| *b == b'=') else {
        return;
    };
    let name_end = v[..eq].trim_ascii_end().len();
    let after = &v[eq + 1..pair_end];
    let val_start = eq + 1 + (after.len() - after.trim_ascii_start().len());
    if name_end == eq && val_start == eq + 1 {
        return;
    }
    let mut out = v[..name_end].to_vec();
    out.push(b'=');
    out.extend_from_slice(&v[val_start..]);
    *v = out;
}

/// The removal cookie's tail, for a server without a cookie value.
const EXPIRED: &str = "=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/";

/// A backend's cookie persistence, ready to use.
#[derive(Debug, Clone)]
pub struct CookieRt {
    pub name: String,
    pub mode: CookieMode,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    /// What follows `; path=/` in an inserted cookie: domains, HttpOnly, Secure, attrs.
    tail: String,
    /// `maxidle`/`maxlife` in seconds, 0 when unset.
    maxidle: u64,
    maxlife: u64,
    /// Each server's `cookie` value, by server index.
    servers: Vec<Option<String>>,
}

/// What the request's persistence cookie turned out to be (HAProxy's `TX_CK_*`, the
/// `%ck` log letter later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieState {
    /// No persistence cookie in the request.
    #[default]
    None,
    /// It named no server.
    Invalid,
    /// It named a server that is down (no persistence).
    Down,
    /// It named a usable server, or a down one with `option persist`/`force-persist`.
    Valid,
    /// Its last-seen date is older than `maxidle`.
    Expired,
    /// Its first-seen date is older than `maxlife`.
    Old,
    /// Not used: `ignore-persist`, or the server was already chosen (`use-server`).
    Unused,
}

impl CookieState {
    /// The 3rd letter of the `%tsc` log field.
    pub fn letter(self) -> u8 {
        match self {
            CookieState::None => b'N',
            CookieState::Invalid => b'I',
            CookieState::Down => b'D',
            CookieState::Valid => b'V',
            CookieState::Expired => b'E',
            CookieState::Old => b'O',
            CookieState::Unused => b'U',
        }
    }
}

/// The persistence facts of one transaction, from the request to the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieTxn {
    pub state: CookieState,
    /// The server the cookie sends the request to (HAProxy's direct access).
    pub target: Option<usize>,
    /// The dates the cookie carried (seconds), if valid.
    pub last_date: Option<u64>,
    pub first_date: Option<u64>,
    /// `ignore-persist` matched: the cookie is neither read nor written.
    pub ignore: bool,
    /// The server `use-server` chose: a direct access too (no cookie is inserted for it).
    pub named: Option<usize>,
    /// `force-persist` matched: a failed connection is never redispatched.
    pub force: bool,
}

/// What decides whether a named server is taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts {
    /// `force-persist` matched.
    pub force: bool,
    /// `ignore-persist` matched.
    pub ignore: bool,
    /// `option persist`.
    pub persist: bool,
    /// The server was already chosen (`use-server`).
    pub assigned: bool,
    /// Seconds since the epoch.
    pub now: u64,
}

fn secs(d: Option<Duration>) -> u64 {
    d.map(|d| d.as_secs()).unwrap_or(0)
}

impl CookieRt {
    /// From the backend's `cookie` line and its servers' `cookie VALUE`s.
    pub fn build(cfg: &CookieCfg, servers: Vec<Option<String>>) -> CookieRt {
        let mut tail = String::new();
        for d in &cfg.domains {
            tail.push_str("; domain=");
            tail.push_str(d);
        }
        if cfg.httponly {
            tail.push_str("; HttpOnly");
        }
        if cfg.secure {
            tail.push_str("; Secure");
        }
        for a in &cfg.attrs {
            tail.push_str("; ");
            tail.push_str(a);
        }
        CookieRt {
            name: cfg.name.clone(),
            mode: cfg.mode,
            indirect: cfg.indirect,
            nocache: cfg.nocache,
            postonly: cfg.postonly,
            preserve: cfg.preserve,
            tail,
            maxidle: secs(cfg.maxidle),
            maxlife: secs(cfg.maxlife),
            servers,
        }
    }

    fn server_cookie(&self, idx: usize) -> Option<&str> {
        self.servers.get(idx).and_then(|c| c.as_deref())
    }

    /// Reads the request's cookie (the server it names, `running(i)` telling whether
    /// server `i` is up and not in maintenance) and strips from `h` what the server must
    /// not see.
    pub fn request(
        &self,
        h: &mut Headers,
        running: impl Fn(usize) -> bool,
        f: RequestFacts,
    ) -> CookieTxn {
        let mut txn = CookieTxn {
            ignore: f.ignore,
            ..CookieTxn::default()
        };
        let strip_prefix = self.mode == CookieMode::Prefix;
        let remove = self.mode == CookieMode::Insert && self.indirect;
        let mut seen = false;
        let mut emptied = Vec::new();
        for (idx, hd) in h.0.iter_mut().enumerate() {
            if hd.name != "cookie" {
                continue;
            }
            let mut elems = split_cookies(&hd.value);
            // `$Path`-like attributes after a removed cookie belong to it and go too.
            let mut in_removed = false;
            for e in elems.iter_mut() {
                if e.name.first() == Some(&b'$') && in_removed {
                    e.removed = true;
                    continue;
                }
                in_removed = false;
                let Some(value) = e.value.as_deref() else {
                    continue;
                };
                if e.name != self.name.as_bytes() {
                    continue;
                }
                if !seen {
                    seen = true;
                    self.analyse(value, &running, f, &mut txn);
                }
                if remove {
                    e.removed = true;
                    in_removed = true;
                } else if strip_prefix && let Some(i) = value.iter().position(|b| *b == b'~') {
                    e.value = Some(value[i + 1..].to_vec());
                }
            }
            hd.value = join_cookies(&elems);
            if hd.value.is_empty() && elems.iter().any(|e| e.removed) {
                emptied.push(idx);
            }
        }
        // A line emptied by a removal goes (one that came empty stays).
        for idx in emptied.into_iter().rev() {
            h.0.remove(idx);
        }
        txn
    }

    fn analyse(
        &self,
        value: &[u8],
        running: &impl Fn(usize) -> bool,
        f: RequestFacts,
        txn: &mut CookieTxn,
    ) {
        let delim = if self.mode == CookieMode::Prefix {
            b'~'
        } else {
            b'|'
        };
        let (srv, rest) = match value.iter().position(|b| *b == delim) {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        };
        if self.mode != CookieMode::Prefix
            && let Some(rest) = rest
        {
            let mut parts = rest.split(|b| *b == b'|');
            // A date of 0 (`AAAAA`) counts as absent, as in HAProxy.
            let mut date = || parts.next().and_then(dates::decode).filter(|d| *d != 0);
            txn.last_date = date();
            txn.first_date = date();
        }
        let now = f.now as i64;
        let too_far = |d: u64, max: u64| {
            let d = d as i64;
            max > 0 && (now - d > max as i64 || d - now > 86400)
        };
        if txn.first_date.is_some_and(|d| too_far(d, self.maxlife)) {
            txn.state = CookieState::Old;
        } else if txn.last_date.is_some_and(|d| too_far(d, self.maxidle)) {
            txn.state = CookieState::Expired;
        }
        if matches!(txn.state, CookieState::Old | CookieState::Expired) {
            txn.last_date = None;
            txn.first_date = None;
            return;
        }
        if f.ignore || f.assigned {
            txn.state = CookieState::Unused;
            return;
        }
        for (i, c) in self.servers.iter().enumerate() {
            if c.as_deref().map(str::as_bytes) != Some(srv) {
                continue;
            }
            let up = running(i);
            if up || f.persist || f.force {
                txn.state = if up {
                    CookieState::Valid
                } else {
                    CookieState::Down
                };
                txn.target = Some(i);
                return;
            }
            // Down: another server may carry the same cookie.
            txn.state = CookieState::Down;
        }
        if txn.state != CookieState::Down {
            txn.state = CookieState::Invalid;
        }
    }

    /// Writes the response's cookie for a transaction served by server `served`; `direct`
    /// when it is the server the request's cookie named (not redispatched elsewhere).
    /// Returns what became of it, as the 4th letter of the `%tsc` log field: `N` none,
    /// `I` inserted, `U` updated, `P` the server's passed as is, `R` rewritten, `D` deleted.
    pub fn response(
        &self,
        txn: &CookieTxn,
        served: usize,
        direct: bool,
        method: &str,
        res: &mut ResponseHead,
        now: u64,
    ) -> u8 {
        let mut letter = b'N';
        // Every `Set-Cookie` loses the blanks around its first `=`, as HAProxy parses them.
        for hd in res.headers.0.iter_mut().filter(|h| h.name == "set-cookie") {
            tighten_first_pair(&mut hd.value);
        }
        if txn.ignore {
            return letter;
        }
        let srv_cookie = self.server_cookie(served);
        let mut found = false;
        let mut i = 0;
        while i < res.headers.0.len() {
            let hd = &mut res.headers.0[i];
            i += 1;
            if hd.name != "set-cookie" {
                continue;
            }
            let Some(eq) = hd.value.iter().position(|b| *b == b'=') else {
                continue;
            };
            let pair_end = hd
                .value
                .iter()
                .position(|b| *b == b';')
                .unwrap_or(hd.value.len());
            if eq > pair_end || trim(&hd.value[..eq]) != self.name.as_bytes() {
                continue;
            }
            found = true;
            letter = b'P';
            if self.preserve {
                continue;
            }
            if self.mode == CookieMode::Insert || (direct && self.indirect) {
                i -= 1;
                res.headers.0.remove(i);
                letter = b'D';
                continue;
            }
            let Some(c) = srv_cookie else { continue };
            // The value without the blanks around it.
            let raw = &hd.value[eq + 1..pair_end];
            let start = eq + 1 + (raw.len() - raw.trim_ascii_start().len());
            let end = pair_end - (raw.len() - raw.trim_ascii_end().len());
            let end = end.max(start);
            let new: Vec<u8> = match self.mode {
                CookieMode::Rewrite => c.as_bytes().to_vec(),
                CookieMode::Prefix => {
                    let mut v = format!("{c}~").into_bytes();
                    v.extend_from_slice(&hd.value[start..end]);
                    v
                }
                _ => continue,
            };
            hd.value.splice(start..end, new);
            letter = b'R';
        }

        if self.mode != CookieMode::Insert || (found && self.preserve) {
            return letter;
        }
        let refresh = ((self.maxidle > 0 || txn.last_date.is_some())
            && txn.last_date.is_none_or(|d| d < now))
            || (self.maxlife > 0 && txn.first_date.is_none())
            || (self.maxlife == 0 && txn.first_date.is_some());
        if direct && !refresh {
            return letter;
        }
        if self.postonly && method != "POST" {
            return letter;
        }
        let mut v = self.name.clone();
        match srv_cookie {
            None => v.push_str(EXPIRED),
            Some(c) => {
                v.push('=');
                v.push_str(c);
                if self.maxidle > 0 || self.maxlife > 0 {
                    v.push('|');
                    v.push_str(&dates::encode(now));
                    if self.maxlife > 0 {
                        let first = match txn.first_date {
                            // The first date is kept as it was (already rounded).
                            Some(d) if direct => d,
                            _ => now,
                        };
                        v.push('|');
                        v.push_str(&dates::encode(first));
                    }
                }
                v.push_str("; path=/");
            }
        }
        v.push_str(&self.tail);
        let cacheable = self.nocache && cache::cacheable(method, res);
        res.headers.add("set-cookie", v.into_bytes());
        if cacheable {
            res.headers.add("cache-control", &b"private"[..]);
        }
        if direct { b'U' } else { b'I' }
    }
}

//! The `option httpchk` check with `http-check send|expect|disable-on-404|send-state`,
//! as HAProxy 2.6 runs it: one request per check (built in [`request`]), then the
//! answer (read in [`response`]) judged by the expect rules in order, or by the
//! implicit "2xx or 3xx" rule when there are none.
//!
//! Verdicts (observed with haproxy 2.6): a status rule failing is `L7STS` with the
//! status as code and the reason phrase as info; a body rule failing is `L7RSP` with
//! "HTTP content check did not match" (or "HTTP check matched unwanted content" when
//! negated, "HTTP content check could not find a response body" when it is empty); passing is `L7OK` with the status as code and no info; a 404 under
//! `disable-on-404` on a running server is `L7OKC` (the scheduler drains the server);
//! a malformed or missing answer is `L7RSP`; no verdict before the deadline is
//! `L7TOUT`; a reset is `SOCKERR` with the system's words.

pub mod request;
pub mod response;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::probe::{CheckCtx, IoFail, Probe, ProbeFuture, io_info};
use super::{CheckStatus, Outcome};
use crate::model::Proxy;
use crate::model::proxy::{CheckKind, ExpectMatch, HttpCheckCfg, HttpChk};

pub use request::RequestSpec;
use response::{Parse, parse_head};

/// HAProxy's default `tune.bufsize`: the answer must fit in it.
pub const DEFAULT_BUFSIZE: usize = 16384;

/// Builds this kind's probe for the backend `p`.
pub fn probe(p: &Proxy) -> Arc<dyn Probe> {
    Arc::new(HttpProbe::new(p, DEFAULT_BUFSIZE))
}

/// One backend's HTTP check.
#[derive(Debug)]
pub struct HttpProbe {
    spec: RequestSpec,
    rules: Vec<Rule>,
    disable_on_404: bool,
    send_state: bool,
    bufsize: usize,
    /// `send-state` without the server's state from the scheduler: warned once.
    warned_state: AtomicBool,
}

#[derive(Debug)]
enum Rule {
    Status {
        negate: bool,
        ranges: Vec<(u16, u16)>,
    },
    RStatus {
        negate: bool,
        re: regex::Regex,
    },
    Body {
        negate: bool,
        pat: BodyPat,
    },
}

#[derive(Debug)]
enum BodyPat {
    Bytes(Vec<u8>),
    Re(regex::bytes::Regex),
}

impl BodyPat {
    fn found(&self, data: &[u8]) -> bool {
        match self {
            BodyPat::Bytes(p) => p.is_empty() || data.windows(p.len()).any(|w| w == p.as_slice()),
            BodyPat::Re(re) => re.is_match(data),
        }
    }
}

impl HttpProbe {
    pub fn new(p: &Proxy, bufsize: usize) -> HttpProbe {
        let default_chk = HttpChk {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: Vec::new(),
            body: None,
        };
        let chk = match &p.options.check {
            CheckKind::Http(c) => c,
            _ => &default_chk,
        };
        HttpProbe::from_parts(chk, &p.http_check, bufsize)
    }

    pub fn from_parts(chk: &HttpChk, cfg: &HttpCheckCfg, bufsize: usize) -> HttpProbe {
        let rules = cfg
            .expects
            .iter()
            .filter_map(|e| {
                let negate = e.negate;
                // The configuration checker already refused bad patterns; one that still
                // fails to compile is dropped rather than trusted.
                Some(match &e.matcher {
                    ExpectMatch::Status(ranges) => Rule::Status {
                        negate,
                        ranges: ranges.clone(),
                    },
                    ExpectMatch::RStatus(r) => Rule::RStatus {
                        negate,
                        re: regex::Regex::new(r).ok()?,
                    },
                    // The configuration stands in an empty string for the matches rproxy
                    // does not apply yet (`hdr`, `fhdr` ..., warned about at load): no rule.
                    ExpectMatch::String(s) if s.is_empty() => return None,
                    ExpectMatch::String(s) => Rule::Body {
                        negate,
                        pat: BodyPat::Bytes(s.clone().into_bytes()),
                    },
                    ExpectMatch::Binary(b) => Rule::Body {
                        negate,
                        pat: BodyPat::Bytes(b.clone()),
                    },
                    ExpectMatch::RString(r) | ExpectMatch::RBinary(r) => Rule::Body {
                        negate,
                        pat: BodyPat::Re(regex::bytes::Regex::new(r).ok()?),
                    },
                })
            })
            .collect();
        HttpProbe {
            spec: RequestSpec::from_model(chk, cfg),
            rules,
            disable_on_404: cfg.disable_on_404,
            send_state: cfg.send_state,
            bufsize,
            warned_state: AtomicBool::new(false),
        }
    }

    /// The request bytes this check sends with `ctx`.
    pub fn request(&self, ctx: &CheckCtx) -> Vec<u8> {
        let state = if self.send_state {
            match &ctx.server {
                Some(v) => Some(v.header_value()),
                None => {
                    if !self.warned_state.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "http-check send-state: the server's state is not known to this check; the header is left out"
                        );
                    }
                    None
                }
            }
        } else {
            None
        };
        self.spec.encode(state.as_deref())
    }

    /// The verdict on what was received so far, or `None` to read more. `eof`: the
    /// peer closed.
    fn judge(&self, buf: &[u8], eof: bool, running: bool) -> Option<Outcome> {
        let head_req = self.spec.method == "HEAD";
        let head = match parse_head(buf, head_req) {
            Parse::Invalid => return Some(Outcome::new(CheckStatus::L7Rsp)),
            Parse::Incomplete => {
                return (eof || buf.len() >= self.bufsize)
                    .then(|| Outcome::new(CheckStatus::L7Rsp));
            }
            Parse::Done(h) => h,
        };
        let code = head.code;
        let wrong_status = || {
            let o = Outcome::new(CheckStatus::L7Sts).with_code(code);
            if head.reason.is_empty() {
                o
            } else {
                o.with_info(head.reason.clone())
            }
        };
        // disable-on-404 takes precedence over every expect rule.
        if self.disable_on_404 && code == 404 && running {
            return Some(Outcome::new(CheckStatus::L7OkC).with_code(code));
        }
        if self.rules.is_empty() && !(200..400).contains(&code) {
            return Some(wrong_status());
        }
        let room = response::body_room(&head, self.bufsize);
        // The raw buffer is capped too (chunk framing costs bytes the room does not count).
        let full = buf.len() >= 2 * self.bufsize;
        for rule in &self.rules {
            match rule {
                Rule::Status { negate, ranges } => {
                    let hit = ranges
                        .iter()
                        .any(|&(a, b)| (u32::from(a)..=u32::from(b)).contains(&code));
                    if hit == *negate {
                        return Some(wrong_status());
                    }
                }
                Rule::RStatus { negate, re } => {
                    if re.is_match(&code.to_string()) == *negate {
                        return Some(wrong_status());
                    }
                }
                Rule::Body { negate, pat } => {
                    let Some(body) = response::body(&head, buf, eof || full, room) else {
                        return Some(Outcome::new(CheckStatus::L7Rsp));
                    };
                    if body.complete && body.data.is_empty() {
                        return Some(
                            Outcome::new(CheckStatus::L7Rsp)
                                .with_info("HTTP content check could not find a response body"),
                        );
                    }
                    let found = pat.found(&body.data);
                    match (found, *negate) {
                        (true, false) => {}
                        (true, true) => {
                            return Some(
                                Outcome::new(CheckStatus::L7Rsp)
                                    .with_info("HTTP check matched unwanted content"),
                            );
                        }
                        // More of the body may still bring the pattern.
                        (false, _) if !body.complete => return None,
                        (false, true) => {}
                        (false, false) => {
                            return Some(
                                Outcome::new(CheckStatus::L7Rsp)
                                    .with_info("HTTP content check did not match"),
                            );
                        }
                    }
                }
            }
        }
        Some(Outcome::new(CheckStatus::L7Ok).with_code(code))
    }

    async fn run(&self, ctx: &CheckCtx) -> Outcome {
        let mut conn = match ctx.connect(None).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        if let Err(e) = conn.send(&self.request(ctx)).await {
            return io_outcome(e);
        }
        let running = ctx.server.as_ref().is_none_or(|s| s.running);
        let mut buf = Vec::new();
        let mut eof = false;
        loop {
            if let Some(o) = self.judge(&buf, eof, running) {
                return o;
            }
            if eof {
                // judge() always concludes at end of stream; belt and braces.
                return Outcome::new(CheckStatus::L7Rsp);
            }
            match conn.recv(&mut buf, 2 * self.bufsize).await {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) => return io_outcome(e),
            }
        }
    }
}

fn io_outcome(e: IoFail) -> Outcome {
    match e {
        IoFail::Timeout => Outcome::new(CheckStatus::L7Tout),
        IoFail::Io(e) => Outcome::new(CheckStatus::SockErr).with_info(io_info(&e)),
    }
}

impl Probe for HttpProbe {
    fn check<'a>(&'a self, ctx: &'a CheckCtx) -> ProbeFuture<'a> {
        Box::pin(self.run(ctx))
    }
}

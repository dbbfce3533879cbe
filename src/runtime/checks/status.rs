//! HAProxy's check status codes (`L4OK`, `L7STS` ...), as the stats page, the CSV
//! `check_status` column and the health log lines show them.

use std::time::Duration;

/// The result class of one check, HAProxy 2.6's `HCHK_STATUS_*` that a check can end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// Connected, and the kind needs nothing more (plain TCP check).
    L4Ok,
    /// Layer 4 timeout (connection not established in time).
    L4Tout,
    /// Layer 4 connection problem (refused, reset, unreachable).
    L4Con,
    /// Layer 6 check passed (SSL hello answered).
    L6Ok,
    /// Layer 6 timeout.
    L6Tout,
    /// Layer 6 invalid response.
    L6Rsp,
    /// Layer 7 response timeout.
    L7Tout,
    /// Layer 7 invalid response (protocol error).
    L7Rsp,
    /// Layer 7 check passed.
    L7Ok,
    /// Layer 7 check conditionally passed (`http-check disable-on-404`).
    L7OkC,
    /// Layer 7 wrong status.
    L7Sts,
    /// Check aborted on an internal problem (socket, memory ...).
    SockErr,
    /// Passive health (`observe`): too many errors seen on live traffic.
    Hana,
}

impl CheckStatus {
    /// The short code shown in the stats page and CSV (`L4OK`, `L7STS` ...).
    pub fn code(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Tout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7OkC => "L7OKC",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::SockErr => "SOCKERR",
            CheckStatus::Hana => "HANA",
        }
    }
    /// The reason written in health log lines (`reason: Layer7 wrong status`).
    pub fn reason(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Tout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7OkC => "Layer7 check conditionally passed",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::SockErr => "Socket error",
            CheckStatus::Hana => "Health analyze",
        }
    }
    /// Whether the server passed.
    pub fn passed(self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok | CheckStatus::L6Ok | CheckStatus::L7Ok | CheckStatus::L7OkC
        )
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: CheckStatus,
    /// The protocol's code where it has one (HTTP status, SMTP reply code, MySQL error
    /// number), as `code:` in log lines and the CSV `check_code` column.
    pub code: Option<u32>,
    /// The server's own words (`info: "..."`), if any.
    pub info: Option<String>,
    /// From the start of the connection to the verdict.
    pub duration: Duration,
}

impl Outcome {
    pub fn new(status: CheckStatus) -> Outcome {
        Outcome {
            status,
            code: None,
            info: None,
            duration: Duration::ZERO,
        }
    }
    pub fn with_code(mut self, code: u32) -> Outcome {
        self.code = Some(code);
        self
    }
    pub fn with_info(mut self, info: impl Into<String>) -> Outcome {
        self.info = Some(info.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons() {
        assert_eq!(CheckStatus::L7Sts.code(), "L7STS");
        assert_eq!(CheckStatus::L4Con.reason(), "Layer4 connection problem");
        assert!(CheckStatus::L6Ok.passed());
        assert!(!CheckStatus::L7Tout.passed());
        let o = Outcome::new(CheckStatus::L7Sts)
            .with_code(500)
            .with_info("x");
        assert_eq!((o.code, o.info.as_deref()), (Some(500), Some("x")));
    }
}

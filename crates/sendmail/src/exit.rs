//! Exit codes of sendmail (`sysexits.h`): PHP's `mail()` returns false when the program exits
//! non-zero, and CMSs that call sendmail directly read these codes.

/// A sendmail exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the message was accepted for delivery.
    Ok,
    /// 64 (EX_USAGE): the command line was wrong.
    Usage,
    /// 65 (EX_DATAERR): the message itself was unusable (no recipients, bad header, too large).
    DataErr,
    /// 69 (EX_UNAVAILABLE): the mail service refused for good (rejected, account paused...).
    Unavailable,
    /// 74 (EX_IOERR): reading the message from stdin failed.
    IoErr,
    /// 75 (EX_TEMPFAIL): try again later (network, throttling, 5xx).
    TempFail,
    /// 78 (EX_CONFIG): this program is not configured (no credentials, no region).
    Config,
}

impl ExitStatus {
    /// The numeric code for `std::process::exit`.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Usage => 64,
            ExitStatus::DataErr => 65,
            ExitStatus::Unavailable => 69,
            ExitStatus::IoErr => 74,
            ExitStatus::TempFail => 75,
            ExitStatus::Config => 78,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_sysexits() {
        assert_eq!(ExitStatus::Ok.code(), 0);
        assert_eq!(ExitStatus::Usage.code(), 64);
        assert_eq!(ExitStatus::DataErr.code(), 65);
        assert_eq!(ExitStatus::Unavailable.code(), 69);
        assert_eq!(ExitStatus::IoErr.code(), 74);
        assert_eq!(ExitStatus::TempFail.code(), 75);
        assert_eq!(ExitStatus::Config.code(), 78);
    }
}

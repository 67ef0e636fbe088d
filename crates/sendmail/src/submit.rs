//! One run of the sendmail role: arguments and stdin in, an exit status and one log line out.
//!
//! The log line goes to stderr, so the awslogs driver streams it to the site's CloudWatch log group:
//! `sendmail: site=<site> status=sent ses_id=<id> message_id=<Message-ID> recipients=<n> bytes=<n>`
//! or `sendmail: site=<site> status=failed exit=<code> message_id=<Message-ID> reason="<why>"`.

use crate::args::{ArgsError, Invocation};
use crate::exit::ExitStatus;
use crate::message::{Message, MessageError, cut_at_dot_line, is_plausible_address};
use crate::transport::{MailTransport, OutgoingMessage};

/// The largest raw message SES v2 accepts (40 MB, attachments included).
pub const SES_MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;

/// Settings from the environment of the PHP container.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The site name (`IDEALSTACK_SITE`), written in every log line.
    pub site: String,
    /// Sender used for a From header when the message has none and no `-f` was given
    /// (`IDEALSTACK_MAIL_FROM`).
    pub default_from: Option<String>,
    /// Largest message accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            site: "-".into(),
            default_from: None,
            max_bytes: SES_MAX_MESSAGE_BYTES,
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How the program must exit.
    pub status: ExitStatus,
    /// The single log line for stderr (no trailing newline).
    pub log_line: String,
}

/// Why a message was not handed to the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The command line.
    #[error(transparent)]
    Args(#[from] ArgsError),
    /// The message headers.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// Larger than the service accepts.
    #[error(
        "the message is {size} bytes, over the {max} byte limit of SES: send large files as links"
    )]
    TooLarge {
        /// Bytes read.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No recipient anywhere.
    #[error("no recipients: name them on the command line or use -t with To/Cc/Bcc headers")]
    NoRecipients,
    /// A header address that is not an address.
    #[error("recipient {0:?} in the headers is not an e-mail address: expected local@domain")]
    BadRecipient(String),
    /// No From header and nothing to build one from.
    #[error(
        "the message has no From header and no sender was given: add a From header, pass -f sender, or set IDEALSTACK_MAIL_FROM"
    )]
    NoSender,
    /// Reading stdin failed.
    #[error("could not read the message from stdin: {0}")]
    Read(String),
}

impl SubmitError {
    /// The sendmail exit status for this error.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            SubmitError::Args(_) => ExitStatus::Usage,
            SubmitError::Read(_) => ExitStatus::IoErr,
            _ => ExitStatus::DataErr,
        }
    }
}

/// Prepares the message `input` for the transport according to `inv`.
pub fn prepare(
    inv: &Invocation,
    mut input: Vec<u8>,
    settings: &Settings,
) -> Result<OutgoingMessage, SubmitError> {
    if input.len() > settings.max_bytes {
        return Err(SubmitError::TooLarge {
            size: input.len(),
            max: settings.max_bytes,
        });
    }
    if !inv.ignore_dots {
        cut_at_dot_line(&mut input);
    }
    let message = Message::parse(input)?;
    let mut recipients: Vec<String> = Vec::new();
    if inv.recipients_from_headers {
        for addr in message.header_recipients() {
            if !is_plausible_address(&addr) {
                return Err(SubmitError::BadRecipient(addr));
            }
            recipients.push(addr);
        }
    }
    for addr in &inv.recipients {
        if !recipients.iter().any(|a| a.eq_ignore_ascii_case(addr)) {
            recipients.push(addr.clone());
        }
    }
    if recipients.is_empty() {
        return Err(SubmitError::NoRecipients);
    }
    let mut extra = Vec::new();
    if message.first("From").is_none() {
        let sender = inv
            .envelope_from
            .clone()
            .or_else(|| settings.default_from.clone())
            .ok_or(SubmitError::NoSender)?;
        let eol = message.line_ending();
        let line = match inv.full_name.as_deref() {
            Some(name) if !name.is_empty() && name.is_ascii() && !name.contains(['\r', '\n']) => {
                let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("From: \"{escaped}\" <{sender}>{eol}")
            }
            _ => format!("From: {sender}{eol}"),
        };
        extra = line.into_bytes();
    }
    let raw = message.to_send(&extra);
    if raw.len() > settings.max_bytes {
        return Err(SubmitError::TooLarge {
            size: raw.len(),
            max: settings.max_bytes,
        });
    }
    Ok(OutgoingMessage {
        envelope_from: inv.envelope_from.clone(),
        recipients,
        raw,
    })
}

/// Runs the whole submission: parse result of the command line, stdin, transport.
pub fn submit(
    inv: Result<Invocation, ArgsError>,
    input: std::io::Result<Vec<u8>>,
    settings: &Settings,
    transport: &dyn MailTransport,
) -> Report {
    let inv = match inv {
        Ok(inv) => inv,
        Err(err) => return failure(settings, ExitStatus::Usage, None, &err.to_string()),
    };
    let input = match input {
        Ok(input) => input,
        Err(err) => {
            let err = SubmitError::Read(err.to_string());
            return failure(settings, err.exit_status(), None, &err.to_string());
        }
    };
    let message_id = header_message_id(&input);
    let outgoing = match prepare(&inv, input, settings) {
        Ok(outgoing) => outgoing,
        Err(err) => {
            return failure(
                settings,
                err.exit_status(),
                message_id.as_deref(),
                &err.to_string(),
            );
        }
    };
    match transport.send(&outgoing) {
        Ok(id) => Report {
            status: ExitStatus::Ok,
            log_line: format!(
                "sendmail: site={} status=sent ses_id={} message_id={} recipients={} bytes={}",
                settings.site,
                clean(&id.0),
                message_id.as_deref().map_or("-".into(), clean),
                outgoing.recipients.len(),
                outgoing.raw.len()
            ),
        },
        Err(err) => failure(
            settings,
            err.exit_status(),
            message_id.as_deref(),
            &err.to_string(),
        ),
    }
}

/// The report of a run that failed before or during sending.
pub fn failure(
    settings: &Settings,
    status: ExitStatus,
    message_id: Option<&str>,
    reason: &str,
) -> Report {
    Report {
        status,
        log_line: format!(
            "sendmail: site={} status=failed exit={} message_id={} reason=\"{}\"",
            settings.site,
            status.code(),
            message_id.map_or("-".into(), clean),
            reason
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace(['\r', '\n'], " ")
        ),
    }
}

/// The Message-ID header of the raw input, if it has one (best effort, for the log line).
fn header_message_id(input: &[u8]) -> Option<String> {
    // Only the header section is parsed: the body may be tens of megabytes.
    let end = input
        .windows(2)
        .position(|w| w == b"\n\n")
        .into_iter()
        .chain(input.windows(4).position(|w| w == b"\r\n\r\n"))
        .min()
        .map_or(input.len(), |i| i + 1);
    let msg = Message::parse(input[..end].to_vec()).ok()?;
    msg.first("Message-ID").map(str::to_string)
}

/// A value safe for a key=value log field: no whitespace or quotes.
fn clean(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_args;
    use crate::transport::{MessageId, TransportError};
    use std::cell::RefCell;
    use std::ffi::OsString;

    /// Records what it is given and answers with a fixed result.
    struct Recorder {
        sent: RefCell<Vec<OutgoingMessage>>,
        answer: Result<MessageId, TransportError>,
    }

    impl MailTransport for Recorder {
        fn send(&self, msg: &OutgoingMessage) -> Result<MessageId, TransportError> {
            self.sent.borrow_mut().push(msg.clone());
            self.answer.clone()
        }
    }

    fn ok() -> Recorder {
        Recorder {
            sent: RefCell::new(Vec::new()),
            answer: Ok(MessageId("0100-abc".into())),
        }
    }

    fn run(args: &[&str], input: &[u8], t: &Recorder) -> Report {
        let settings = Settings {
            site: "shop".into(),
            default_from: Some("noreply@shop.example".into()),
            max_bytes: 1000,
        };
        submit(
            parse_args(args.iter().map(OsString::from)),
            Ok(input.to_vec()),
            &settings,
            t,
        )
    }

    #[test]
    fn sends_with_header_recipients_and_logs_the_id() {
        let t = ok();
        let input = b"From: a@shop.example\nTo: b@example.com\nBcc: c@example.com\nMessage-ID: <m1@shop>\nSubject: x\n\nbody\n.\nmore\n";
        let report = run(&["-t", "-i"], input, &t);
        // 104 bytes in, minus the 19-byte Bcc line.
        assert_eq!(input.len(), 104);
        assert_eq!(report.status, ExitStatus::Ok);
        assert_eq!(
            report.log_line,
            "sendmail: site=shop status=sent ses_id=0100-abc message_id=<m1@shop> recipients=2 bytes=85"
        );
        let sent = t.sent.borrow();
        assert_eq!(sent[0].recipients, ["b@example.com", "c@example.com"]);
        assert!(!String::from_utf8_lossy(&sent[0].raw).contains("Bcc"));
        assert!(String::from_utf8_lossy(&sent[0].raw).ends_with("\n.\nmore\n"));
    }

    #[test]
    fn without_i_a_dot_line_ends_the_message() {
        let t = ok();
        run(&["-t"], b"To: b@example.com\n\nbody\n.\nignored\n", &t);
        assert_eq!(
            t.sent.borrow()[0].raw,
            b"From: noreply@shop.example\nTo: b@example.com\n\nbody\n"
        );
    }

    #[test]
    fn adds_from_with_full_name_from_f() {
        let t = ok();
        run(
            &[
                "-i",
                "-f",
                "w@shop.example",
                "-F",
                "Shop \"Bot\"",
                "b@example.com",
            ],
            b"Subject: s\r\n\r\nx",
            &t,
        );
        let sent = t.sent.borrow();
        assert_eq!(
            sent[0].raw,
            b"From: \"Shop \\\"Bot\\\"\" <w@shop.example>\r\nSubject: s\r\n\r\nx"
        );
        assert_eq!(sent[0].envelope_from.as_deref(), Some("w@shop.example"));
    }

    #[test]
    fn failures_map_to_sysexits_and_log_the_reason() {
        let t = ok();
        let r = run(&["-bs"], b"", &t);
        assert_eq!(r.status.code(), 64);
        assert!(
            r.log_line
                .starts_with("sendmail: site=shop status=failed exit=64 message_id=- reason=\""),
            "{}",
            r.log_line
        );
        let r = run(&["-t"], b"Subject: nobody\n\nx", &t);
        assert_eq!(r.status.code(), 65);
        assert!(r.log_line.contains("no recipients"));
        let r = run(&["-t"], b"To: nobody\n\nx", &t);
        assert_eq!(r.status.code(), 65);
        let r = run(&["-t"], &[b'x'; 2000], &t);
        assert_eq!(r.status.code(), 65);
        assert!(
            r.log_line.contains("over the 1000 byte limit"),
            "{}",
            r.log_line
        );
        assert!(t.sent.borrow().is_empty());

        let temp = Recorder {
            sent: RefCell::new(Vec::new()),
            answer: Err(TransportError::Temporary(
                "connection refused\nsecond line".into(),
            )),
        };
        let r = run(
            &["-t", "-i"],
            b"To: b@example.com\nMessage-ID: <m2@shop>\n\nx",
            &temp,
        );
        assert_eq!(r.status.code(), 75);
        assert_eq!(
            r.log_line,
            "sendmail: site=shop status=failed exit=75 message_id=<m2@shop> reason=\"temporary failure, try again later: connection refused second line\""
        );
        let rejected = Recorder {
            sent: RefCell::new(Vec::new()),
            answer: Err(TransportError::Rejected(
                "Email address is not verified.".into(),
            )),
        };
        assert_eq!(
            run(&["-t"], b"To: b@example.com\n\nx", &rejected)
                .status
                .code(),
            65
        );
    }

    #[test]
    fn no_sender_anywhere_is_a_data_error() {
        let t = ok();
        let settings = Settings::default();
        let r = submit(
            parse_args(["-t"].iter().map(OsString::from)),
            Ok(b"To: b@example.com\n\nx".to_vec()),
            &settings,
            &t,
        );
        assert_eq!(r.status, ExitStatus::DataErr);
        assert!(r.log_line.contains("IDEALSTACK_MAIL_FROM"));
    }
}

//! The port a mail service implements: one call, one message, a message id or a classified error.
//!
//! `idealstack-aws` implements it with SES v2 `SendEmail` (raw content); tests may implement it
//! with a recorder.

use crate::exit::ExitStatus;

/// A message ready to hand to a mail service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Envelope sender (`-f`), if one was given.
    pub envelope_from: Option<String>,
    /// Every envelope recipient (To, Cc and Bcc with `-t`, plus command-line recipients).
    pub recipients: Vec<String>,
    /// The message exactly as it will be sent: the input minus Bcc headers (and plus a From
    /// header when the input had none).
    pub raw: Vec<u8>,
}

/// The id the mail service gave the accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId(pub String);

/// Why the mail service did not accept a message, classified by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Network trouble, throttling or a server error: the message may succeed later.
    #[error("temporary failure, try again later: {0}")]
    Temporary(String),
    /// The service rejected this message (bad address, unverified sender, content).
    #[error("message rejected by the mail service: {0}")]
    Rejected(String),
    /// The service refuses to send at all for now (account paused or suspended).
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
    /// This program lacks configuration (credentials, region).
    #[error("mail transport not configured: {0}")]
    Config(String),
}

impl TransportError {
    /// The sendmail exit status that reports this error.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            TransportError::Temporary(_) => ExitStatus::TempFail,
            TransportError::Rejected(_) => ExitStatus::DataErr,
            TransportError::Unavailable(_) => ExitStatus::Unavailable,
            TransportError::Config(_) => ExitStatus::Config,
        }
    }
}

/// A mail service that takes one raw message at a time.
pub trait MailTransport {
    /// Sends `msg` to every recipient in `msg.recipients`.
    fn send(&self, msg: &OutgoingMessage) -> Result<MessageId, TransportError>;
}

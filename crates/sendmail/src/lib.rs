//! idealstack-sendmail: a sendmail-compatible mail submission program for PHP's `mail()`.
//!
//! PHP hands its sendmail binary a complete RFC 5322 message on stdin and a few sendmail flags
//! (`-t -i`, sometimes `-f sender`). This crate is the pure logic of that program:
//!
//! - [`args`]: the sendmail command line, as PHP and common CMSs pass it;
//! - [`message`]: header parsing, recipients from To/Cc/Bcc, Bcc stripping (the raw MIME is
//!   otherwise sent byte for byte, so attachments stay intact);
//! - [`transport`]: the narrow port a mail service implements (SES v2 lives in `idealstack-aws`);
//! - [`submit`]: the whole run, from arguments and stdin to an exit code and one log line;
//! - [`exit`]: sendmail's exit codes (`sysexits.h`), so `mail()` returns false on failure.
//!
//! No I/O happens here: the caller reads stdin, calls [`submit::submit`], writes the log line to
//! stderr and exits with the code.

pub mod args;
pub mod exit;
pub mod message;
pub mod submit;
pub mod transport;

pub use args::{Invocation, parse_args};
pub use exit::ExitStatus;
pub use submit::{Report, Settings, submit};
pub use transport::{MailTransport, MessageId, OutgoingMessage, TransportError};

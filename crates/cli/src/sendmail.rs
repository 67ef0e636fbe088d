//! `idealstack sendmail`: the sendmail binary of the PHP image (`sendmail_path` points here).
//!
//! Reads the message PHP writes on stdin, hands it to SES v2 with the task role's credentials, and
//! exits with sendmail's codes so `mail()` returns false on failure. One log line goes to stderr
//! (the awslogs driver streams it to CloudWatch) with the SES message id or the failure reason.
//!
//! Environment: `IDEALSTACK_SITE` (site name in the log line), `IDEALSTACK_MAIL_FROM` (sender when
//! the message has no From header and no `-f`), `IDEALSTACK_SES_CONFIGURATION_SET` (optional),
//! plus the AWS SDK's own variables (`AWS_REGION`, container credentials, `AWS_ENDPOINT_URL`).

use idealstack_aws::ses::SesTransport;
use idealstack_sendmail::{
    MailTransport, MessageId, OutgoingMessage, Settings, TransportError, parse_args, submit,
};
use std::cell::OnceCell;
use std::ffi::OsString;
use std::io::Read;
use std::process::ExitCode;

/// Arguments exactly as PHP hands them to its sendmail binary (`-t -i`, ...).
#[derive(clap::Args)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct Args {
    /// Raw sendmail arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Runs the sendmail role.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = Settings {
        site: env_nonempty("IDEALSTACK_SITE").unwrap_or_else(|| "-".into()),
        default_from: env_nonempty("IDEALSTACK_MAIL_FROM"),
        ..Settings::default()
    };
    let invocation = parse_args(args.args);
    let input = read_stdin(settings.max_bytes);
    let transport = LazySes {
        configuration_set: env_nonempty("IDEALSTACK_SES_CONFIGURATION_SET"),
        inner: OnceCell::new(),
    };
    let report = submit(invocation, input, &settings, &transport);
    eprintln!("{}", report.log_line);
    Ok(ExitCode::from(report.status.code()))
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads stdin, at most one byte past `max` (enough to report "too large" without reading more).
fn read_stdin(max: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(max as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// The SES transport, built only when a message is ready (a usage error needs no AWS set-up).
struct LazySes {
    configuration_set: Option<String>,
    inner: OnceCell<Result<SesTransport, String>>,
}

impl MailTransport for LazySes {
    fn send(&self, msg: &OutgoingMessage) -> Result<MessageId, TransportError> {
        let transport = self.inner.get_or_init(|| {
            SesTransport::from_env(self.configuration_set.clone()).map_err(|e| e.to_string())
        });
        match transport {
            Ok(t) => t.send(msg),
            Err(e) => Err(TransportError::Config(e.clone())),
        }
    }
}

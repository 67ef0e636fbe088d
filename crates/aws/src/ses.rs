//! SES v2: sends the raw message PHP's `mail()` produced, unchanged, to the envelope recipients.
//!
//! `SendEmail` with `Content::Raw` keeps the MIME bytes as they are (attachments intact); the
//! envelope recipients go in `Destination`, which is how Bcc recipients (already stripped from the
//! headers) still receive the message. Credentials come from the task role through the SDK chain.

use crate::AwsError;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use idealstack_sendmail::{MailTransport, MessageId, OutgoingMessage, TransportError};

/// A blocking SES v2 mail transport.
pub struct SesTransport {
    client: aws_sdk_sesv2::Client,
    runtime: tokio::runtime::Runtime,
    configuration_set: Option<String>,
}

impl std::fmt::Debug for SesTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesTransport")
            .field("configuration_set", &self.configuration_set)
            .finish_non_exhaustive()
    }
}

impl SesTransport {
    /// Builds a transport from the SDK's standard configuration chain.
    ///
    /// `configuration_set` names an SES configuration set to send through (event publishing,
    /// suppression), if any.
    pub fn from_env(configuration_set: Option<String>) -> Result<SesTransport, AwsError> {
        let runtime = crate::blocking_runtime()?;
        let config = crate::load_sdk_config_blocking(&runtime)?;
        Ok(SesTransport::new(&config, runtime, configuration_set))
    }

    /// Builds a transport from an explicit configuration, calling on `runtime`.
    pub fn new(
        config: &aws_config::SdkConfig,
        runtime: tokio::runtime::Runtime,
        configuration_set: Option<String>,
    ) -> SesTransport {
        SesTransport {
            client: aws_sdk_sesv2::Client::new(config),
            runtime,
            configuration_set,
        }
    }
}

impl MailTransport for SesTransport {
    fn send(&self, msg: &OutgoingMessage) -> Result<MessageId, TransportError> {
        let raw = RawMessage::builder()
            .data(Blob::new(msg.raw.clone()))
            .build()
            .map_err(|e| TransportError::Rejected(e.to_string()))?;
        let destination = Destination::builder()
            .set_to_addresses(Some(msg.recipients.clone()))
            .build();
        let request = self
            .client
            .send_email()
            .destination(destination)
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone());
        let output = self.runtime.block_on(request.send()).map_err(classify)?;
        match output.message_id {
            Some(id) => Ok(MessageId(id)),
            None => Err(TransportError::Temporary(
                "SES accepted the request but returned no message id".into(),
            )),
        }
    }
}

/// Sorts an SDK error into what the sender should do about it.
fn classify(err: SdkError<SendEmailError>) -> TransportError {
    let text = match &err {
        // SES's own answer is short and says what to fix; the full context repeats the response.
        SdkError::ServiceError(service) => {
            let meta = service.err().meta();
            format!(
                "{}: {} (HTTP {})",
                meta.code().unwrap_or("ServiceError"),
                meta.message().unwrap_or("no message"),
                service.raw().status().as_u16()
            )
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    match &err {
        SdkError::ConstructionFailure(_) => TransportError::Config(text),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            // A dispatch failure is also how missing credentials surface; keep it temporary so a
            // queueing caller retries, and the log line carries the SDK's explanation.
            TransportError::Temporary(text)
        }
        SdkError::ServiceError(service) => match service.err() {
            SendEmailError::MessageRejected(_)
            | SendEmailError::MailFromDomainNotVerifiedException(_)
            | SendEmailError::BadRequestException(_)
            | SendEmailError::NotFoundException(_) => TransportError::Rejected(text),
            SendEmailError::AccountSuspendedException(_)
            | SendEmailError::SendingPausedException(_) => TransportError::Unavailable(text),
            SendEmailError::TooManyRequestsException(_)
            | SendEmailError::LimitExceededException(_) => TransportError::Temporary(text),
            _ if service.raw().status().is_server_error() => TransportError::Temporary(text),
            _ => TransportError::Rejected(text),
        },
        _ => TransportError::Temporary(text),
    }
}

//! CloudWatch Logs: a site's log events for `idealstack logs`.

use idealstack_deploy::ports::ApiError;

use super::{Aws, api_error};

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The stream (one per task).
    pub stream: String,
    /// The message.
    pub message: String,
    /// Unique id (to skip repeats while following).
    pub id: String,
}

impl Aws {
    /// Events of `group` from `start_ms` on, matching `filter` (CloudWatch filter pattern syntax).
    pub fn log_events(
        &self,
        group: &str,
        start_ms: i64,
        filter: Option<&str>,
    ) -> Result<Vec<LogLine>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = self
                .block(
                    self.logs
                        .filter_log_events()
                        .log_group_name(group)
                        .start_time(start_ms)
                        .set_filter_pattern(filter.map(Into::into))
                        .set_next_token(token.clone())
                        .send(),
                )
                .map_err(|e| api_error("FilterLogEvents", e))?;
            out.extend(r.events().iter().map(|e| LogLine {
                timestamp: e.timestamp().unwrap_or_default(),
                stream: e.log_stream_name().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().to_string(),
                id: e.event_id().unwrap_or_default().to_string(),
            }));
            token = r.next_token().map(Into::into);
            if token.is_none() || out.len() > 10_000 {
                return Ok(out);
            }
        }
    }

    /// The events of one stream after `token` (from its start when `None`), oldest first, and
    /// the token to read on from. A stream that does not exist yet reads as empty.
    pub fn stream_events(
        &self,
        group: &str,
        stream: &str,
        token: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        let sent = self.block(
            self.logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(true)
                .set_next_token(token.clone())
                .send(),
        );
        match sent {
            Ok(r) => Ok((
                r.events()
                    .iter()
                    .map(|e| e.message().unwrap_or_default().to_string())
                    .collect(),
                r.next_forward_token().map(Into::into).or(token),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok((Vec::new(), token))
            }
            Err(e) => Err(api_error("GetLogEvents", e)),
        }
    }

    /// Writes one event (tests and the demo, to have something to read).
    pub fn put_log_line(
        &self,
        group: &str,
        stream: &str,
        timestamp_ms: i64,
        message: &str,
    ) -> Result<(), ApiError> {
        let _ = self.block(
            self.logs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(stream)
                .send(),
        );
        self.block(
            self.logs
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .log_events(
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(timestamp_ms)
                        .message(message)
                        .build()
                        .map_err(|e| ApiError::new("PutLogEvents", None, e.to_string()))?,
                )
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("PutLogEvents", e))
    }
}

//! idealstack-aws: the only crate that depends on `aws-sdk-*` (see ARCHITECTURE.md).
//!
//! Consumers depend on narrow traits ("ports") defined next to their logic; this crate implements
//! them with the AWS SDK for Rust, one module per service:
//!
//! - [`ses`]: SES v2 `SendEmail` with raw content, implementing `idealstack_sendmail::MailTransport`.
//!
//! Configuration always comes from the SDK's standard chain ([`load_sdk_config`]): region and
//! credentials from the environment, the ECS container credentials endpoint, profiles, IMDS; and
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`) to point every client at an emulator in tests.

pub mod agent;
pub mod deploy;
pub mod local;
pub mod ses;
pub mod sftp;

use aws_config::SdkConfig;

/// The SDK crates this crate builds on, re-exported so that tests of other crates can set up and
/// inspect an emulator without depending on `aws-sdk-*` themselves (ARCHITECTURE.md: only this
/// crate depends on the SDK).
pub mod sdk {
    pub use aws_config;
    pub use aws_sdk_autoscaling;
    pub use aws_sdk_dynamodb;
    pub use aws_sdk_ecs;
    pub use aws_sdk_elasticloadbalancingv2;
    pub use aws_sdk_s3;
    pub use aws_sdk_ssm;
}

/// Errors while setting up AWS access.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The async runtime the blocking wrappers use could not start.
    #[error("could not start the async runtime for AWS calls: {0}")]
    Runtime(#[source] std::io::Error),
    /// No region in the environment or profile.
    #[error(
        "no AWS region configured: set AWS_REGION (ECS sets it for tasks) or a region in the AWS profile"
    )]
    NoRegion,
}

/// Loads the SDK configuration from the standard chain (environment, ECS container credentials,
/// profile, IMDS), honouring `AWS_ENDPOINT_URL`.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Retries for the long-running callers (a deploy polls many stacks in parallel for hours; the
/// agent calls ECS and Auto Scaling every minute): throttling (`Throttling: Rate exceeded`) is
/// expected, so the SDK's standard mode retries it (and transient errors) with exponential
/// backoff and jitter, up to 8 attempts and 20 s apart. Short-lived callers (sendmail) keep the
/// SDK's default, so a PHP request is never held that long.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(std::time::Duration::from_millis(500))
        .with_max_backoff(std::time::Duration::from_secs(20))
}

/// A single-threaded runtime for blocking callers (short-lived commands such as sendmail).
pub fn blocking_runtime() -> Result<tokio::runtime::Runtime, AwsError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AwsError::Runtime)
}

/// Loads the configuration on `rt` and checks that a region is set.
pub fn load_sdk_config_blocking(rt: &tokio::runtime::Runtime) -> Result<SdkConfig, AwsError> {
    let config = rt.block_on(load_sdk_config());
    if config.region().is_none() {
        return Err(AwsError::NoRegion);
    }
    Ok(config)
}

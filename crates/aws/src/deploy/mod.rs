//! The deployer's ports ([`idealstack_deploy::ports`]) implemented with the AWS SDK, one file per
//! service, plus the read-only calls `status`, `certs` and `logs` make.
//!
//! [`Aws`] holds one client per service on a multi-thread runtime; every port method blocks on
//! it, so the deployer can call them from several threads at once (sites deploy in parallel).
//! Configuration follows the SDK's standard chain, with `--profile`/`--region` overrides, and
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`) pointing every client at an emulator.
//! When an endpoint URL is set, S3 uses path-style addressing (an emulator on `127.0.0.1` has no
//! per-bucket host names); against AWS itself nothing changes.

mod acm;
mod cloudformation;
mod ecs;
mod elb;
mod logs;
mod route53;
mod s3;

pub use ecs::{OneOffState, ServiceCounts};
pub use elb::RuleView;
pub use logs::LogLine;

use std::future::Future;

use aws_config::{BehaviorVersion, Region};
use idealstack_deploy::ports::ApiError;

use crate::AwsError;

/// Clients for every service the deployer uses.
pub struct Aws {
    rt: tokio::runtime::Runtime,
    region: String,
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    acm: aws_sdk_acm::Client,
    route53: aws_sdk_route53::Client,
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws").field("region", &self.region).finish()
    }
}

fn endpoint_override() -> bool {
    std::env::vars_os().any(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k == "AWS_ENDPOINT_URL" || k == "AWS_ENDPOINT_URL_S3")
    })
}

impl Aws {
    /// Loads the configuration (standard chain; `profile` and `region` override it) and makes
    /// the clients. `region` must come from somewhere: the option, the environment or the profile.
    pub fn connect(profile: Option<&str>, region: Option<&str>) -> Result<Aws, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_string()));
        }
        Self::from_loader(loader, endpoint_override())
    }

    /// Clients for an emulator at `endpoint` (moto server in tests) with dummy credentials in
    /// us-east-1, without touching the process environment.
    pub fn for_emulator(endpoint: &str) -> Result<Aws, AwsError> {
        let creds =
            aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "emulator");
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(creds);
        Self::from_loader(loader, true)
    }

    fn from_loader(loader: aws_config::ConfigLoader, path_style: bool) -> Result<Aws, AwsError> {
        let loader = loader.retry_config(crate::retry_config());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(AwsError::Runtime)?;
        let config = rt.block_on(loader.load());
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(AwsError::NoRegion);
        };
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build();
        Ok(Aws {
            region,
            cfn: aws_sdk_cloudformation::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            acm: aws_sdk_acm::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            rt,
        })
    }

    /// The region the clients talk to.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn block<F: Future>(&self, f: F) -> F::Output {
        self.rt.handle().block_on(f)
    }
}

/// Turns an SDK error into the ports' error: the service's code and message when it sent them,
/// else the whole error chain (transport errors, timeouts).
pub(crate) fn api_error<E>(operation: &str, e: E) -> ApiError
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = match e.message() {
        Some(m) => m.to_string(),
        None => aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string(),
    };
    ApiError::new(operation, e.code(), message)
}

impl Aws {
    /// Sets `flag` on the first Ctrl-C (the deployer then cancels the update in progress and
    /// stops); a second Ctrl-C exits at once.
    pub fn watch_interrupt(&self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.rt.spawn(async move {
            loop {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    eprintln!("interrupted again: exiting without waiting");
                    std::process::exit(130);
                }
                eprintln!("interrupted: cancelling the update in progress and stopping (Ctrl-C again to exit at once)");
            }
        });
    }
}

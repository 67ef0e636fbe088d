//! The SFTP gateway's user store kept as an object in the stack's bucket (`s3://bucket/key`),
//! implementing [`idealstack_sftp::users::UserStoreSource`]: the gateway re-reads it on its
//! reload interval, so users change without a restart.

use aws_sdk_s3::Client;
use idealstack_sftp::users::{StoreError, UserStoreSource};

/// A user store read from S3 with the task role's credentials.
#[derive(Debug)]
pub struct S3UserStore {
    bucket: String,
    key: String,
    client: Client,
    runtime: tokio::runtime::Runtime,
}

/// Why an `s3://` location is not usable.
#[derive(Debug, thiserror::Error)]
pub enum S3LocationError {
    /// Not `s3://bucket/key`.
    #[error("{0:?} is not an S3 location: expected s3://<bucket>/<key>")]
    Syntax(String),
    /// AWS access could not be set up.
    #[error(transparent)]
    Aws(#[from] crate::AwsError),
}

impl S3UserStore {
    /// Parses `s3://bucket/key` and loads AWS configuration from the standard chain.
    pub fn new(location: &str) -> Result<S3UserStore, S3LocationError> {
        parse_location(location)?;
        let runtime = crate::blocking_runtime()?;
        let config = crate::load_sdk_config_blocking(&runtime)?;
        // Path-style addressing works with every endpoint (an emulator included); AWS accepts it.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        S3UserStore::with_client(location, Client::from_conf(s3), runtime)
    }

    /// A store at `location` read through `client` on `runtime`.
    pub fn with_client(
        location: &str,
        client: Client,
        runtime: tokio::runtime::Runtime,
    ) -> Result<S3UserStore, S3LocationError> {
        let (bucket, key) = parse_location(location)?;
        Ok(S3UserStore {
            bucket: bucket.into(),
            key: key.into(),
            client,
            runtime,
        })
    }
}

fn parse_location(location: &str) -> Result<(&str, &str), S3LocationError> {
    location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| S3LocationError::Syntax(location.to_owned()))
}

impl UserStoreSource for S3UserStore {
    fn name(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Fetches the document. Call it from a blocking context (the gateway uses spawn_blocking).
    fn fetch(&self) -> Result<Vec<u8>, StoreError> {
        let fail = |message: String| StoreError::Fetch {
            source_name: self.name(),
            message,
        };
        self.runtime.block_on(async {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send()
                .await
                .map_err(|e| fail(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
            let body = object
                .body
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?;
            Ok(body.into_bytes().to_vec())
        })
    }
}

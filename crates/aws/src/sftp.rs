//! The SFTP gateway's user store kept as an object in the stack's bucket (`s3://bucket/key`,
//! the key `state/sftp/users.json`), implementing both ports of `idealstack-sftp`:
//! [`UserStoreSource`] (the gateway re-reads it on its reload interval, so logins change without
//! a restart) and [`UserStoreTarget`] (`idealstack sftp user` edits it with conditional writes:
//! `If-Match` on the ETag it read, `If-None-Match: *` when it creates the object).
//!
//! A missing object means "no logins yet". S3 tells a missing object (404 `NoSuchKey`) from a
//! forbidden one (403) only to callers allowed `s3:ListBucket`; when GetObject is refused, the
//! store asks ListObjectsV2 for exactly its key (the gateway's role allows ListBucket with
//! `s3:prefix` equal to that key alone), so "not there yet" is never mistaken for "forbidden".
//!
//! | call | by | why |
//! | --- | --- | --- |
//! | GetObject | gateway, CLI | the document (and its ETag, for the CLI) |
//! | ListObjectsV2 (prefix = the key) | gateway | a refused GetObject: missing or forbidden? |
//! | PutObject (If-Match / If-None-Match) | CLI | write the edited document |

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use idealstack_sftp::store::{PutOutcome, Stored, UserStoreTarget};
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

    /// For `idealstack sftp user` on an administrator's machine: the standard chain with
    /// `--profile`/`--region` overrides and the shared retry policy; path-style addressing only
    /// when an endpoint URL points the SDK at an emulator.
    pub fn connect(
        location: &str,
        profile: Option<&str>,
        region: Option<&str>,
    ) -> Result<S3UserStore, S3LocationError> {
        parse_location(location)?;
        let runtime = crate::blocking_runtime()?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(crate::retry_config());
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        let config = runtime.block_on(loader.load());
        if config.region().is_none() {
            return Err(crate::AwsError::NoRegion.into());
        }
        let emulator = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|k| std::env::var_os(k).is_some());
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(emulator)
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

/// Why one GetObject did not return the document.
enum GetError {
    Missing,
    Other {
        code: Option<String>,
        message: String,
    },
}

impl S3UserStore {
    /// GetObject: the bytes and the ETag.
    async fn get(&self) -> Result<(Vec<u8>, String), GetError> {
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    return Err(GetError::Missing);
                }
                return Err(GetError::Other {
                    code: e.code().map(Into::into),
                    message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                });
            }
        };
        let etag = object.e_tag().unwrap_or_default().to_string();
        let body = object.body.collect().await.map_err(|e| GetError::Other {
            code: None,
            message: e.to_string(),
        })?;
        Ok((body.into_bytes().to_vec(), etag))
    }

    /// Is the object there? Asked when GetObject was refused: ListObjectsV2 for exactly the key.
    async fn listed(&self) -> Result<bool, String> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())?;
        Ok(out
            .contents()
            .iter()
            .any(|o| o.key() == Some(self.key.as_str())))
    }

    async fn fetch_async(&self) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let fail = |message: String| StoreError::Fetch {
            source_name: UserStoreSource::name(self),
            message,
        };
        match self.get().await {
            Ok(v) => Ok(Some(v)),
            Err(GetError::Missing) => Ok(None),
            Err(GetError::Other { code, message }) if code.as_deref() == Some("AccessDenied") => {
                match self.listed().await {
                    Ok(false) => Ok(None),
                    Ok(true) => Err(fail(format!(
                        "{message} (the object exists but may not be read: the role needs s3:GetObject on it and kms:Decrypt on the bucket's key)"
                    ))),
                    Err(list) => Err(fail(format!(
                        "{message}; listing the key to tell a missing store from a forbidden one failed too: {list} (the role needs s3:GetObject on the object and s3:ListBucket on the bucket for this prefix)"
                    ))),
                }
            }
            Err(GetError::Other { message, .. }) => Err(fail(message)),
        }
    }
}

impl UserStoreSource for S3UserStore {
    fn name(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Fetches the document (`None`: the object does not exist). Call it from a blocking
    /// context (the gateway uses spawn_blocking).
    fn fetch(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.runtime.block_on(self.fetch_async())?.map(|(b, _)| b))
    }
}

impl UserStoreTarget for S3UserStore {
    fn name(&self) -> String {
        UserStoreSource::name(self)
    }

    fn read(&self) -> Result<Option<Stored>, StoreError> {
        Ok(self
            .runtime
            .block_on(self.fetch_async())?
            .map(|(bytes, version)| Stored { bytes, version }))
    }

    fn write_if(&self, bytes: &[u8], expected: Option<&str>) -> Result<PutOutcome, StoreError> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(bytes.to_vec()));
        put = match expected {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match self.runtime.block_on(put.send()) {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: the condition failed (someone wrote, or created it, since we read);
                // 409 ConditionalRequestConflict: a concurrent conditional write is in flight;
                // 404 on If-Match: someone deleted it since we read.
                let conflict = matches!(status, Some(412) | Some(409))
                    || (expected.is_some() && status == Some(404))
                    || matches!(
                        e.code(),
                        Some("PreconditionFailed" | "ConditionalRequestConflict")
                    );
                if conflict {
                    Ok(PutOutcome::Conflict)
                } else {
                    Err(StoreError::Put {
                        source_name: UserStoreSource::name(self),
                        message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                    })
                }
            }
        }
    }
}

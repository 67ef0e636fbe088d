//! S3 port of the agent: the stack's state bucket (the desired state the deployer writes, and
//! the purge requests of removed sites, which the agent deletes once carried out).

use super::fail;
use aws_sdk_s3::Client;
use idealstack_agent::ports::{PortFuture, StateStore};

/// Reads objects of one bucket.
#[derive(Debug, Clone)]
pub struct StateBucket {
    client: Client,
    bucket: String,
}

impl StateBucket {
    /// For `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        StateBucket {
            client,
            bucket: bucket.into(),
        }
    }
}

impl StateStore for StateBucket {
    fn get(&self, key: &str) -> PortFuture<'_, Option<Vec<u8>>> {
        let key = key.to_string();
        Box::pin(async move {
            match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
            {
                Ok(out) => {
                    let body = out
                        .body
                        .collect()
                        .await
                        .map_err(|e| fail("s3", "GetObject", e))?;
                    Ok(Some(body.into_bytes().to_vec()))
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(fail("s3", "GetObject", e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| fail("s3", "ListObjectsV2", e))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(Into::into)),
                );
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| fail("s3", "DeleteObject", e))
        })
    }
}

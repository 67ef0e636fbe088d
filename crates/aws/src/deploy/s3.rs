//! S3: [`ObjectStore`] for [`Aws`] (the state bucket).

use aws_sdk_s3::primitives::ByteStream;
use idealstack_deploy::ports::{ApiError, ObjectStore};

use super::{Aws, api_error};

impl ObjectStore for Aws {
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(), ApiError> {
        self.block(
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(body.to_vec()))
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("PutObject", e))
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        match self.block(self.s3.get_object().bucket(bucket).key(key).send()) {
            Ok(out) => {
                let bytes = self
                    .block(out.body.collect())
                    .map_err(|e| ApiError::new("GetObject", None, e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) => {
                let no_key = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                if no_key {
                    Ok(None)
                } else {
                    Err(api_error("GetObject", e))
                }
            }
        }
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ApiError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .block(
                    self.s3
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| api_error("ListObjectsV2", e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(Into::into)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.into()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn template_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region)
    }
}

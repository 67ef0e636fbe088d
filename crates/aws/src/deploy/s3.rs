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

    fn template_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region)
    }
}

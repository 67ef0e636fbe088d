//! ACM: [`CertificateApi`] for [`Aws`].

use std::collections::BTreeMap;

use aws_sdk_acm::types::{Tag, ValidationMethod};
use idealstack_deploy::ports::{ApiError, CertificateApi, CertificateInfo, DnsRecord};

use super::{Aws, api_error};

impl Aws {
    fn certificate_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let out = self
            .block(
                self.acm
                    .list_tags_for_certificate()
                    .certificate_arn(arn)
                    .send(),
            )
            .map_err(|e| api_error("ListTagsForCertificate", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }
}

impl CertificateApi for Aws {
    fn request(
        &self,
        names: &[String],
        token: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ApiError> {
        let Some((primary, rest)) = names.split_first() else {
            return Err(ApiError::new(
                "RequestCertificate",
                None,
                "a certificate needs at least one name",
            ));
        };
        let mut call = self
            .acm
            .request_certificate()
            .domain_name(primary)
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(token);
        for n in rest {
            call = call.subject_alternative_names(n);
        }
        for (k, v) in tags {
            let tag = Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ApiError::new("RequestCertificate", None, e.to_string()))?;
            call = call.tags(tag);
        }
        let out = self
            .block(call.send())
            .map_err(|e| api_error("RequestCertificate", e))?;
        out.certificate_arn()
            .map(Into::into)
            .ok_or_else(|| ApiError::new("RequestCertificate", None, "no ARN in the answer"))
    }

    fn describe(&self, arn: &str) -> Result<CertificateInfo, ApiError> {
        let out = self
            .block(self.acm.describe_certificate().certificate_arn(arn).send())
            .map_err(|e| api_error("DescribeCertificate", e))?;
        let Some(c) = out.certificate() else {
            return Err(ApiError::new(
                "DescribeCertificate",
                None,
                format!("{arn}: no certificate in the answer"),
            ));
        };
        let mut names: Vec<String> = Vec::new();
        if let Some(d) = c.domain_name() {
            names.push(d.to_string());
        }
        for n in c.subject_alternative_names() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let mut records: Vec<DnsRecord> = c
            .domain_validation_options()
            .iter()
            .filter_map(|d| d.resource_record())
            .map(|r| DnsRecord {
                name: r.name().to_string(),
                record_type: r.r#type().as_str().to_string(),
                value: r.value().to_string(),
            })
            .collect();
        records.sort();
        records.dedup();
        Ok(CertificateInfo {
            arn: arn.to_string(),
            names,
            status: c
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            validation_records: records,
            not_after: c.not_after().map(|t| t.secs()),
            failure_reason: c.failure_reason().map(|f| f.as_str().to_string()),
            tags: self.certificate_tags(arn)?,
        })
    }

    fn find_tagged(&self, key: &str, value: &str) -> Result<Vec<CertificateInfo>, ApiError> {
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .block(
                    self.acm
                        .list_certificates()
                        .set_next_token(token.clone())
                        .send(),
                )
                .map_err(|e| api_error("ListCertificates", e))?;
            arns.extend(
                out.certificate_summary_list()
                    .iter()
                    .filter_map(|c| c.certificate_arn().map(String::from)),
            );
            token = out.next_token().map(Into::into);
            if token.is_none() {
                break;
            }
        }
        let mut found = Vec::new();
        for arn in arns {
            if self.certificate_tags(&arn)?.get(key).map(String::as_str) == Some(value) {
                found.push(CertificateApi::describe(self, &arn)?);
            }
        }
        Ok(found)
    }

    fn delete(&self, arn: &str) -> Result<(), ApiError> {
        self.block(self.acm.delete_certificate().certificate_arn(arn).send())
            .map(|_| ())
            .map_err(|e| api_error("DeleteCertificate", e))
    }

    fn import(
        &self,
        certificate_pem: &str,
        private_key_pem: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ApiError> {
        let mut call = self
            .acm
            .import_certificate()
            .certificate(aws_sdk_acm::primitives::Blob::new(
                certificate_pem.as_bytes(),
            ))
            .private_key(aws_sdk_acm::primitives::Blob::new(
                private_key_pem.as_bytes(),
            ));
        for (k, v) in tags {
            let tag = Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ApiError::new("ImportCertificate", None, e.to_string()))?;
            call = call.tags(tag);
        }
        let out = self
            .block(call.send())
            .map_err(|e| api_error("ImportCertificate", e))?;
        out.certificate_arn()
            .map(Into::into)
            .ok_or_else(|| ApiError::new("ImportCertificate", None, "no ARN in the answer"))
    }
}

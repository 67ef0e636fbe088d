//! Route 53: [`DnsApi`] for [`Aws`] (certificate validation records).

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use idealstack_deploy::ports::{ApiError, DnsApi, DnsRecord};

use super::{Aws, api_error};

fn build_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new("ChangeResourceRecordSets", None, e.to_string())
}

impl DnsApi for Aws {
    fn zones(&self) -> Result<Vec<(String, String)>, ApiError> {
        let mut zones = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .block(
                    self.route53
                        .list_hosted_zones()
                        .set_marker(marker.clone())
                        .send(),
                )
                .map_err(|e| api_error("ListHostedZones", e))?;
            zones.extend(
                out.hosted_zones()
                    .iter()
                    .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
                    .map(|z| {
                        (
                            z.id().trim_start_matches("/hostedzone/").to_string(),
                            z.name().to_string(),
                        )
                    }),
            );
            marker = out.next_marker().map(Into::into);
            if !out.is_truncated() || marker.is_none() {
                return Ok(zones);
            }
        }
    }

    fn upsert(&self, zone_id: &str, record: &DnsRecord) -> Result<(), ApiError> {
        let set = ResourceRecordSet::builder()
            .name(&record.name)
            .r#type(RrType::from(record.record_type.as_str()))
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value(&record.value)
                    .build()
                    .map_err(build_error)?,
            )
            .build()
            .map_err(build_error)?;
        let batch = ChangeBatch::builder()
            .comment("idealstack: ACM certificate validation")
            .changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .map_err(build_error)?,
            )
            .build()
            .map_err(build_error)?;
        self.block(
            self.route53
                .change_resource_record_sets()
                .hosted_zone_id(zone_id)
                .change_batch(batch)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("ChangeResourceRecordSets", e))
    }
}

impl Aws {
    /// The records of a zone with one name and type (tests and `certs`).
    pub fn records(&self, zone_id: &str) -> Result<Vec<DnsRecord>, ApiError> {
        let out = self
            .block(
                self.route53
                    .list_resource_record_sets()
                    .hosted_zone_id(zone_id)
                    .send(),
            )
            .map_err(|e| api_error("ListResourceRecordSets", e))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .flat_map(|s| {
                s.resource_records().iter().map(|r| DnsRecord {
                    name: s.name().to_string(),
                    record_type: s.r#type().as_str().to_string(),
                    value: r.value().to_string(),
                })
            })
            .collect())
    }

    /// Creates a public hosted zone (tests and the demo).
    pub fn create_zone(&self, name: &str) -> Result<String, ApiError> {
        let out = self
            .block(
                self.route53
                    .create_hosted_zone()
                    .name(name)
                    .caller_reference(format!("idealstack-{name}"))
                    .send(),
            )
            .map_err(|e| api_error("CreateHostedZone", e))?;
        Ok(out
            .hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .unwrap_or_default())
    }
}

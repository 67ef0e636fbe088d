//! DynamoDB lease: only one agent acts. A conditional write takes the lease when it is free,
//! expired, or already ours; anything else fails the condition and the agent stands by.

use super::fail;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use idealstack_agent::ports::{Lease, PortFuture};
use std::time::{SystemTime, UNIX_EPOCH};

/// A lease item in a DynamoDB table with a string partition key.
#[derive(Debug, Clone)]
pub struct DynamoLease {
    client: Client,
    table: String,
    key_attribute: String,
    key: String,
}

impl DynamoLease {
    /// The lease `key` in `table` whose partition key attribute is `key_attribute`.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        key_attribute: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        DynamoLease {
            client,
            table: table.into(),
            key_attribute: key_attribute.into(),
            key: key.into(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Lease for DynamoLease {
    fn acquire<'a>(&'a self, holder: &'a str, ttl_secs: u64) -> PortFuture<'a, bool> {
        Box::pin(async move {
            let now = now();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(&self.key_attribute, AttributeValue::S(self.key.clone()))
                .item("holder", AttributeValue::S(holder.to_string()))
                .item("expires", AttributeValue::N((now + ttl_secs).to_string()))
                .condition_expression("attribute_not_exists(#k) OR holder = :me OR expires < :now")
                .expression_attribute_names("#k", &self.key_attribute)
                .expression_attribute_values(":me", AttributeValue::S(holder.to_string()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(fail("dynamodb", "PutItem", e)),
            }
        })
    }
}

//! Elastic Load Balancing port of the agent: instances failing the cluster's PHP health check
//! (the health target group the Auto Scaling group's instances register in).

use super::fail;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use idealstack_agent::ports::{LoadBalancer, PortFuture};

/// Reads one target group's health.
#[derive(Debug, Clone)]
pub struct HealthTargetGroup {
    client: Client,
    target_group_arn: Option<String>,
}

impl HealthTargetGroup {
    /// For the target group `arn` (None: no health target group configured, nothing unhealthy).
    pub fn new(client: Client, arn: Option<String>) -> Self {
        HealthTargetGroup {
            client,
            target_group_arn: arn,
        }
    }
}

impl LoadBalancer for HealthTargetGroup {
    fn unhealthy_instances(&self) -> PortFuture<'_, Vec<String>> {
        Box::pin(async move {
            let Some(arn) = &self.target_group_arn else {
                return Ok(Vec::new());
            };
            let resp = self
                .client
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| fail("elasticloadbalancing", "DescribeTargetHealth", e))?;
            Ok(resp
                .target_health_descriptions()
                .iter()
                .filter(|d| {
                    d.target_health().and_then(|h| h.state())
                        == Some(&TargetHealthStateEnum::Unhealthy)
                })
                .filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_string))
                .collect())
        })
    }
}

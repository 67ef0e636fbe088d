//! CloudWatch port of the agent: each site's request rate over the last complete minute, from
//! its target group's `RequestCountPerTarget` times its running tasks.
//!
//! Moto does not serve CloudWatch's protocol (the SDK speaks CloudWatch's CBOR protocol), so
//! `GetMetricData` is exercised in production only; tests of the loop use scripted metrics
//! (crates/aws/tests/agent_support, crates/agent/tests/support/scripted.rs). The ECS half (which
//! services have a target group) runs against moto in crates/cli/tests/cli_agent.rs.

use super::fail;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use idealstack_agent::ports::{Metrics, PortError, PortFuture};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The `TargetGroup` dimension value of a target group ARN (`targetgroup/<name>/<id>`).
pub fn target_group_dimension(arn: &str) -> Option<String> {
    let i = arn.find(":targetgroup/")?;
    Some(arn[i + 1..].to_string())
}

/// A site's requests per second from one minute's `RequestCountPerTarget` sum (requests per
/// healthy target in that minute) and its running tasks (its targets).
pub fn site_rate(per_target_per_minute: f64, running_tasks: u32) -> f64 {
    per_target_per_minute * f64::from(running_tasks) / 60.0
}

/// Request rates through CloudWatch, target groups found through ECS.
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    cloudwatch: Client,
    ecs: aws_sdk_ecs::Client,
    cluster: String,
    stack: String,
}

impl CloudWatchMetrics {
    /// For `cluster` of `stack`.
    pub fn new(
        cloudwatch: Client,
        ecs: aws_sdk_ecs::Client,
        cluster: impl Into<String>,
        stack: impl Into<String>,
    ) -> Self {
        CloudWatchMetrics {
            cloudwatch,
            ecs,
            cluster: cluster.into(),
            stack: stack.into(),
        }
    }

    /// Site -> (target group dimension, running tasks).
    async fn targets(&self) -> Result<BTreeMap<String, (String, u32)>, PortError> {
        let mut out = BTreeMap::new();
        for (site, s) in super::ecs::site_services(&self.ecs, &self.cluster, &self.stack).await? {
            if let Some(dim) = s
                .load_balancers()
                .iter()
                .find_map(|lb| lb.target_group_arn())
                .and_then(target_group_dimension)
            {
                out.insert(site, (dim, s.running_count().max(0) as u32));
            }
        }
        Ok(out)
    }

    async fn rates(&self, sites: &[String]) -> Result<BTreeMap<String, f64>, PortError> {
        let targets = self.targets().await?;
        let wanted: Vec<(&String, &(String, u32))> = sites
            .iter()
            .filter_map(|s| targets.get(s).map(|t| (s, t)))
            .collect();
        let mut rates = BTreeMap::new();
        let end = SystemTime::now() - Duration::from_secs(60);
        let start = end - Duration::from_secs(240);
        for chunk in wanted.chunks(500) {
            let queries: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, (dim, _)))| {
                    MetricDataQuery::builder()
                        .id(format!("m{i}"))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(
                                    Metric::builder()
                                        .namespace("AWS/ApplicationELB")
                                        .metric_name("RequestCountPerTarget")
                                        .dimensions(
                                            Dimension::builder()
                                                .name("TargetGroup")
                                                .value(dim.as_str())
                                                .build(),
                                        )
                                        .build(),
                                )
                                .period(60)
                                .stat("Sum")
                                .build(),
                        )
                        .build()
                })
                .collect();
            let resp = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(end))
                .send()
                .await
                .map_err(|e| fail("cloudwatch", "GetMetricData", e))?;
            for r in resp.metric_data_results() {
                let Some(i) = r.id().and_then(|id| id[1..].parse::<usize>().ok()) else {
                    continue;
                };
                let Some((site, (_, running))) = chunk.get(i) else {
                    continue;
                };
                // Results are newest first; no datapoint means no request.
                let per_target = r.values().first().copied().unwrap_or(0.0);
                rates.insert((*site).clone(), site_rate(per_target, *running));
            }
        }
        Ok(rates)
    }
}

impl Metrics for CloudWatchMetrics {
    fn request_rates<'a>(&'a self, sites: &'a [String]) -> PortFuture<'a, BTreeMap<String, f64>> {
        Box::pin(self.rates(sites))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_is_the_arn_suffix() {
        assert_eq!(
            target_group_dimension(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/acme-shop/6d0ecf831eec9f09"
            )
            .as_deref(),
            Some("targetgroup/acme-shop/6d0ecf831eec9f09")
        );
        assert_eq!(target_group_dimension("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn a_minutes_per_target_count_times_the_targets_is_the_sites_rate() {
        // 4 tasks that each served 300 requests in the minute: 1200 requests, 20 per second.
        assert_eq!(site_rate(300.0, 4), 20.0);
        assert_eq!(site_rate(0.0, 4), 0.0);
        assert_eq!(site_rate(300.0, 0), 0.0);
    }
}

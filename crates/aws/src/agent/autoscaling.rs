//! Auto Scaling port of the agent: the cluster's group (desired capacity, terminations, instance
//! refresh).

use super::fail;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{RefreshPreferences, ScaleInProtectedInstances};
use idealstack_agent::ports::{AutoScaling, GroupInstance, GroupState, PortError, PortFuture};

/// Calls on one Auto Scaling group.
#[derive(Debug, Clone)]
pub struct AutoScalingPort {
    client: Client,
    group: String,
}

impl AutoScalingPort {
    /// For the group named `group`.
    pub fn new(client: Client, group: impl Into<String>) -> Self {
        AutoScalingPort {
            client,
            group: group.into(),
        }
    }

    async fn describe(&self) -> Result<GroupState, PortError> {
        let resp = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.group)
            .send()
            .await
            .map_err(|e| fail("autoscaling", "DescribeAutoScalingGroups", e))?;
        let g = resp.auto_scaling_groups().first().ok_or_else(|| {
            PortError::new(
                "autoscaling",
                "DescribeAutoScalingGroups",
                format!(
                    "no group named {}: check IDEALSTACK_AUTOSCALING_GROUP (the cluster stack sets it)",
                    self.group
                ),
            )
        })?;
        Ok(GroupState {
            desired: g.desired_capacity().unwrap_or(0).max(0) as u32,
            min: g.min_size().unwrap_or(0).max(0) as u32,
            max: g.max_size().unwrap_or(0).max(0) as u32,
            instances: g
                .instances()
                .iter()
                .map(|i| GroupInstance {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    lifecycle: i
                        .lifecycle_state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    health: i.health_status().unwrap_or_default().to_string(),
                    image_id: None,
                })
                .collect(),
            refresh_in_progress: false,
        })
    }
}

impl AutoScaling for AutoScalingPort {
    fn group(&self) -> PortFuture<'_, GroupState> {
        Box::pin(self.describe())
    }

    fn refresh_in_progress(&self) -> PortFuture<'_, bool> {
        Box::pin(async move {
            let r = self
                .client
                .describe_instance_refreshes()
                .auto_scaling_group_name(&self.group)
                .send()
                .await
                .map_err(|e| fail("autoscaling", "DescribeInstanceRefreshes", e))?;
            Ok(r.instance_refreshes().iter().any(|r| {
                matches!(
                    r.status().map(|s| s.as_str()),
                    Some("Pending" | "InProgress" | "Cancelling" | "RollbackInProgress")
                )
            }))
        })
    }

    fn set_desired(&self, count: u32) -> PortFuture<'_, ()> {
        Box::pin(async move {
            self.client
                .set_desired_capacity()
                .auto_scaling_group_name(&self.group)
                .desired_capacity(count.min(i32::MAX as u32) as i32)
                .honor_cooldown(false)
                .send()
                .await
                .map_err(|e| fail("autoscaling", "SetDesiredCapacity", e))?;
            Ok(())
        })
    }

    fn terminate<'a>(&'a self, instance_id: &'a str, decrement: bool) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .terminate_instance_in_auto_scaling_group()
                .instance_id(instance_id)
                .should_decrement_desired_capacity(decrement)
                .send()
                .await
                .map_err(|e| fail("autoscaling", "TerminateInstanceInAutoScalingGroup", e))?;
            Ok(())
        })
    }

    fn start_refresh(&self) -> PortFuture<'_, String> {
        Box::pin(async move {
            // Full capacity throughout: new instances launch before old ones go (max 200%),
            // and ECS managed draining moves tasks off each replaced instance. The cluster's
            // instances are protected from scale-in (the agent removes instances itself), and a
            // refresh skips protected instances by default: they are refreshed explicitly.
            let prefs = RefreshPreferences::builder()
                .min_healthy_percentage(100)
                .max_healthy_percentage(200)
                .instance_warmup(180)
                // The launch template names the AMI as the SSM parameter (resolve:ssm), so its
                // version does not change when AWS publishes an AMI: "matching" instances must
                // not be skipped.
                .skip_matching(false)
                .scale_in_protected_instances(ScaleInProtectedInstances::Refresh)
                .build();
            let resp = self
                .client
                .start_instance_refresh()
                .auto_scaling_group_name(&self.group)
                .preferences(prefs)
                .send()
                .await
                .map_err(|e| fail("autoscaling", "StartInstanceRefresh", e))?;
            Ok(resp.instance_refresh_id().unwrap_or_default().to_string())
        })
    }
}

//! Elastic Load Balancing v2: [`LoadBalancerApi`] for [`Aws`], and listener rules and target
//! groups for `status` and the tests.

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
use idealstack_deploy::ports::{ApiError, LoadBalancerApi};
use serde::Serialize;

use super::{Aws, api_error};

/// One listener rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    /// Priority (`default` rules are left out).
    pub priority: u32,
    /// Host-header values.
    pub hosts: Vec<String>,
    /// `forward` or `redirect`.
    pub action: String,
    /// The target group forwarded to, if any.
    pub target_group: Option<String>,
}

impl LoadBalancerApi for Aws {
    fn unprotect_stack_load_balancers(&self, stack: &str) -> Result<usize, ApiError> {
        self.set_stack_load_balancers_protection(stack, false)
    }
}

const LOAD_BALANCER: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
const DELETION_PROTECTION: &str = "deletion_protection.enabled";

impl Aws {
    /// Turns deletion protection on or off on every load balancer of `stack`; returns how many.
    pub fn set_stack_load_balancers_protection(
        &self,
        stack: &str,
        enabled: bool,
    ) -> Result<usize, ApiError> {
        let arns = self.stack_resources_of_type(stack, LOAD_BALANCER)?;
        for arn in &arns {
            self.block(
                self.elb
                    .modify_load_balancer_attributes()
                    .load_balancer_arn(arn)
                    .attributes(
                        LoadBalancerAttribute::builder()
                            .key(DELETION_PROTECTION)
                            .value(enabled.to_string())
                            .build(),
                    )
                    .send(),
            )
            .map_err(|e| api_error("ModifyLoadBalancerAttributes", e))?;
        }
        Ok(arns.len())
    }

    /// Whether each load balancer of `stack` has deletion protection on.
    pub fn stack_load_balancers_protection(&self, stack: &str) -> Result<Vec<bool>, ApiError> {
        let mut out = Vec::new();
        for arn in self.stack_resources_of_type(stack, LOAD_BALANCER)? {
            let attrs = self
                .block(
                    self.elb
                        .describe_load_balancer_attributes()
                        .load_balancer_arn(&arn)
                        .send(),
                )
                .map_err(|e| api_error("DescribeLoadBalancerAttributes", e))?;
            out.push(
                attrs
                    .attributes()
                    .iter()
                    .any(|a| a.key() == Some(DELETION_PROTECTION) && a.value() == Some("true")),
            );
        }
        Ok(out)
    }

    /// The non-default rules of a listener, by priority.
    pub fn listener_rules(&self, listener_arn: &str) -> Result<Vec<RuleView>, ApiError> {
        let out = self
            .block(self.elb.describe_rules().listener_arn(listener_arn).send())
            .map_err(|e| api_error("DescribeRules", e))?;
        let mut rules: Vec<RuleView> = out
            .rules()
            .iter()
            .filter(|r| !r.is_default().unwrap_or(false))
            .filter_map(|r| {
                let priority = r.priority()?.parse().ok()?;
                let mut hosts = Vec::new();
                for c in r.conditions() {
                    if c.field() == Some("host-header") {
                        if let Some(h) = c.host_header_config() {
                            hosts.extend(h.values().iter().cloned());
                        } else {
                            hosts.extend(c.values().iter().cloned());
                        }
                    }
                }
                let action = r.actions().first();
                Some(RuleView {
                    priority,
                    hosts,
                    action: action
                        .and_then(|a| a.r#type())
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    target_group: action.and_then(|a| a.target_group_arn()).map(Into::into),
                })
            })
            .collect();
        rules.sort_by_key(|r| r.priority);
        Ok(rules)
    }

    /// Names of every target group in the region.
    pub fn target_group_names(&self) -> Result<Vec<String>, ApiError> {
        let out = self
            .block(self.elb.describe_target_groups().send())
            .map_err(|e| api_error("DescribeTargetGroups", e))?;
        let mut names: Vec<String> = out
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_name().map(Into::into))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Certificate ARNs on a listener (default and extra).
    pub fn listener_certificates(&self, listener_arn: &str) -> Result<Vec<String>, ApiError> {
        let out = self
            .block(
                self.elb
                    .describe_listener_certificates()
                    .listener_arn(listener_arn)
                    .send(),
            )
            .map_err(|e| api_error("DescribeListenerCertificates", e))?;
        Ok(out
            .certificates()
            .iter()
            .filter_map(|c| c.certificate_arn().map(Into::into))
            .collect())
    }
}

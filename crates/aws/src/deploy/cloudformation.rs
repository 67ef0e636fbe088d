//! CloudFormation: [`StackApi`] for [`Aws`].

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, Parameter, Stack, StackStatus, Tag,
};
use idealstack_deploy::ports::{
    ApiError, ChangeSetInfo, ChangeSetRequest, ResourceChange, StackApi, StackEvent, StackInfo,
    TemplateSource,
};

use super::{Aws, api_error};

fn info(s: &Stack) -> StackInfo {
    StackInfo {
        name: s.stack_name().unwrap_or_default().to_string(),
        status: s
            .stack_status()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        status_reason: s.stack_status_reason().map(Into::into),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        termination_protection: s.enable_termination_protection().unwrap_or(false),
    }
}

fn does_not_exist(e: &ApiError) -> bool {
    e.message.contains("does not exist")
}

impl StackApi for Aws {
    fn describe(&self, stack: &str) -> Result<Option<StackInfo>, ApiError> {
        let r = self.block(self.cfn.describe_stacks().stack_name(stack).send());
        match r {
            Ok(out) => Ok(out
                .stacks()
                .first()
                .map(info)
                .filter(|i| i.status != StackStatus::DeleteComplete.as_str())),
            Err(e) => {
                let e = api_error("DescribeStacks", e);
                if does_not_exist(&e) { Ok(None) } else { Err(e) }
            }
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<StackInfo>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = self
                .block(
                    self.cfn
                        .describe_stacks()
                        .set_next_token(token.clone())
                        .send(),
                )
                .map_err(|e| api_error("DescribeStacks", e))?;
            out.extend(
                r.stacks()
                    .iter()
                    .map(info)
                    .filter(|i| i.name.starts_with(prefix) && i.status != "DELETE_COMPLETE"),
            );
            token = r.next_token().map(Into::into);
            if token.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn create_change_set(&self, r: &ChangeSetRequest) -> Result<String, ApiError> {
        let mut call = self
            .cfn
            .create_change_set()
            .stack_name(&r.stack)
            .change_set_name(&r.name)
            .change_set_type(if r.create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .description("idealstack deploy");
        call = match &r.template {
            TemplateSource::Body(b) => call.template_body(b),
            TemplateSource::Url(u) => call.template_url(u),
        };
        for (k, v) in &r.parameters {
            call = call.parameters(
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build(),
            );
        }
        for (k, v) in &r.tags {
            call = call.tags(Tag::builder().key(k).value(v).build());
        }
        let out = self
            .block(call.send())
            .map_err(|e| api_error("CreateChangeSet", e))?;
        Ok(out.id().unwrap_or(r.name.as_str()).to_string())
    }

    fn describe_change_set(&self, stack: &str, id: &str) -> Result<ChangeSetInfo, ApiError> {
        let mut info = ChangeSetInfo::default();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .block(
                    self.cfn
                        .describe_change_set()
                        .stack_name(stack)
                        .change_set_name(id)
                        .set_next_token(token.clone())
                        .send(),
                )
                .map_err(|e| api_error("DescribeChangeSet", e))?;
            info.status = out
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            info.status_reason = out.status_reason().map(Into::into);
            for c in out.changes() {
                if let Some(rc) = c.resource_change() {
                    info.changes.push(ResourceChange {
                        action: rc
                            .action()
                            .map(|a| a.as_str().to_string())
                            .unwrap_or_default(),
                        logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
                        resource_type: rc.resource_type().unwrap_or_default().to_string(),
                        replacement: rc.replacement().map(|r| r.as_str().to_string()),
                    });
                }
            }
            token = out.next_token().map(Into::into);
            if token.is_none() {
                return Ok(info);
            }
        }
    }

    fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), ApiError> {
        self.block(
            self.cfn
                .delete_change_set()
                .stack_name(stack)
                .change_set_name(id)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("DeleteChangeSet", e))
    }

    fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), ApiError> {
        self.block(
            self.cfn
                .execute_change_set()
                .stack_name(stack)
                .change_set_name(id)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("ExecuteChangeSet", e))
    }

    fn events(&self, stack: &str) -> Result<Vec<StackEvent>, ApiError> {
        let out = self
            .block(self.cfn.describe_stack_events().stack_name(stack).send())
            .map_err(|e| api_error("DescribeStackEvents", e))?;
        Ok(out
            .stack_events()
            .iter()
            .map(|e| StackEvent {
                id: e.event_id().unwrap_or_default().to_string(),
                stack: e.stack_name().unwrap_or_default().to_string(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(Into::into),
            })
            .collect())
    }

    fn delete(&self, stack: &str) -> Result<(), ApiError> {
        self.block(self.cfn.delete_stack().stack_name(stack).send())
            .map(|_| ())
            .map_err(|e| api_error("DeleteStack", e))
    }

    fn cancel_update(&self, stack: &str) -> Result<(), ApiError> {
        self.block(self.cfn.cancel_update_stack().stack_name(stack).send())
            .map(|_| ())
            .map_err(|e| api_error("CancelUpdateStack", e))
    }

    fn continue_update_rollback(&self, stack: &str) -> Result<(), ApiError> {
        self.block(self.cfn.continue_update_rollback().stack_name(stack).send())
            .map(|_| ())
            .map_err(|e| api_error("ContinueUpdateRollback", e))
    }

    fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), ApiError> {
        self.block(
            self.cfn
                .update_termination_protection()
                .stack_name(stack)
                .enable_termination_protection(on)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("UpdateTerminationProtection", e))
    }

    fn set_stack_policy(&self, stack: &str, policy_json: &str) -> Result<(), ApiError> {
        self.block(
            self.cfn
                .set_stack_policy()
                .stack_name(stack)
                .stack_policy_body(policy_json)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| api_error("SetStackPolicy", e))
    }

    fn stack_policy(&self, stack: &str) -> Result<Option<String>, ApiError> {
        let out = self
            .block(self.cfn.get_stack_policy().stack_name(stack).send())
            .map_err(|e| api_error("GetStackPolicy", e))?;
        Ok(out
            .stack_policy_body()
            .filter(|b| !b.trim().is_empty())
            .map(Into::into))
    }
}

impl Aws {
    /// Physical ids of a stack's resources of one type (`AWS::ElasticLoadBalancingV2::LoadBalancer`).
    pub fn stack_resources_of_type(&self, stack: &str, ty: &str) -> Result<Vec<String>, ApiError> {
        let out = self
            .block(self.cfn.describe_stack_resources().stack_name(stack).send())
            .map_err(|e| api_error("DescribeStackResources", e))?;
        Ok(out
            .stack_resources()
            .iter()
            .filter(|r| r.resource_type() == Some(ty))
            .filter_map(|r| r.physical_resource_id().map(Into::into))
            .collect())
    }

    /// Every stack whose name starts with `prefix`, with outputs (for `status`).
    pub fn stacks_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<BTreeMap<String, StackInfo>, ApiError> {
        Ok(StackApi::list(self, prefix)?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect())
    }
}

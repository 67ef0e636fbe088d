//! SSM port of the agent: the newest ECS-optimised AMI, from AWS's public parameter.

use super::fail;
use aws_sdk_ssm::Client;
use idealstack_agent::ports::{Images, PortError, PortFuture};

/// Reads one parameter holding an AMI id.
#[derive(Debug, Clone)]
pub struct AmiParameter {
    client: Client,
    name: String,
}

impl AmiParameter {
    /// For the parameter `name` (e.g.
    /// `/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id`).
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        AmiParameter {
            client,
            name: name.into(),
        }
    }
}

impl Images for AmiParameter {
    fn latest_ecs_ami(&self) -> PortFuture<'_, String> {
        Box::pin(async move {
            let out = self
                .client
                .get_parameter()
                .name(&self.name)
                .send()
                .await
                .map_err(|e| fail("ssm", "GetParameter", e))?;
            let value = out
                .parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .trim()
                .to_string();
            if !value.starts_with("ami-") {
                return Err(PortError::new(
                    "ssm",
                    "GetParameter",
                    format!("{} does not hold an AMI id", self.name),
                ));
            }
            Ok(value)
        })
    }
}

//! The calls `local` makes to the emulator (the "port"; crates/aws implements it with the AWS SDK),
//! and the pure parsing of a container secret's `ValueFrom`.

use std::collections::BTreeMap;

use crate::router::Rule;
use crate::spec::{AccessPoint, OneOffTask, Service, TaskDefinition};

/// An emulator call that failed, with what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {message}")]
pub struct PortError {
    pub call: String,
    pub message: String,
}

/// A target group as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    pub arn: String,
    /// `HTTP` or `TCP`.
    pub protocol: String,
    /// The health check path (HTTP), e.g. `/.idealstack/health`.
    pub health_path: Option<String>,
}

/// What `local` reads from and writes to the emulator.
#[allow(async_fn_in_trait)]
pub trait Emulator {
    /// The services of `cluster`.
    async fn services(&self, cluster: &str) -> Result<Vec<Service>, PortError>;
    /// Tasks started with RunTask that have not stopped.
    async fn one_off_tasks(&self, cluster: &str) -> Result<Vec<OneOffTask>, PortError>;
    /// A task definition by ARN.
    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, PortError>;
    /// Every EFS access point.
    async fn access_points(&self) -> Result<Vec<AccessPoint>, PortError>;
    /// The value of a Secrets Manager secret (its `SecretString`).
    async fn secret_string(&self, arn: &str) -> Result<String, PortError>;
    /// The value of an SSM parameter (decrypted).
    async fn parameter(&self, name: &str) -> Result<String, PortError>;
    /// The rules of every HTTPS listener of the stack's load balancers (`edge` load balancers
    /// whose name starts with the stack's), and their target groups.
    async fn routes(&self, stack: &str) -> Result<(Vec<Rule>, Vec<TargetGroup>), PortError>;
    /// Appends log events to a stream (created when missing).
    async fn put_logs(
        &self,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<(), PortError>;
    /// Marks a one-off task stopped with its containers' exit code.
    async fn task_stopped(&self, cluster: &str, arn: &str, exit_code: i32)
    -> Result<(), PortError>;
    /// A stack's outputs (empty when it does not exist).
    async fn stack_outputs(&self, stack: &str) -> Result<BTreeMap<String, String>, PortError>;
}

/// Where a container secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A Secrets Manager secret (ARN without the suffix), optionally one JSON key of it.
    Secret {
        arn: String,
        json_key: Option<String>,
    },
    /// An SSM parameter (ARN or name).
    Parameter(String),
}

/// Parses a `ValueFrom`: `arn:...:secretsmanager:...:secret:<name>[:json-key[:stage[:id]]]`, or an
/// SSM parameter ARN or name.
pub fn parse_value_from(value_from: &str) -> SecretRef {
    let parts: Vec<&str> = value_from.split(':').collect();
    if parts.len() >= 7 && parts[2] == "secretsmanager" {
        let arn = parts[..7].join(":");
        let json_key = parts
            .get(7)
            .filter(|k| !k.is_empty())
            .map(|k| k.to_string());
        return SecretRef::Secret { arn, json_key };
    }
    if parts.len() >= 6 && parts[2] == "ssm" {
        // arn:aws:ssm:region:account:parameter/name -> /name
        let name = value_from
            .split_once(":parameter")
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| value_from.to_string());
        return SecretRef::Parameter(name);
    }
    SecretRef::Parameter(value_from.to_string())
}

/// The value ECS injects for `value_from` given the secret's whole string.
pub fn extract(secret_string: &str, json_key: Option<&str>) -> Result<String, String> {
    let Some(key) = json_key else {
        return Ok(secret_string.to_string());
    };
    let v: serde_json::Value = serde_json::from_str(secret_string)
        .map_err(|_| format!("the secret is not JSON, so it has no key {key:?}"))?;
    match &v[key] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Null => Err(format!("the secret has no key {key:?}")),
        other => Ok(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_forms_are_parsed() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        assert_eq!(
            parse_value_from(&format!("{arn}:password::")),
            SecretRef::Secret {
                arn: arn.into(),
                json_key: Some("password".into())
            }
        );
        assert_eq!(
            parse_value_from(arn),
            SecretRef::Secret {
                arn: arn.into(),
                json_key: None
            }
        );
        assert_eq!(
            parse_value_from("arn:aws:ssm:us-east-1:123456789012:parameter/shop/token"),
            SecretRef::Parameter("/shop/token".into())
        );
        assert_eq!(
            parse_value_from("plain-name"),
            SecretRef::Parameter("plain-name".into())
        );
    }

    #[test]
    fn json_keys_are_extracted() {
        let s = r#"{"username":"shop","port":3306}"#;
        assert_eq!(extract(s, Some("username")).unwrap(), "shop");
        assert_eq!(extract(s, Some("port")).unwrap(), "3306");
        assert!(extract(s, Some("password")).is_err());
        assert_eq!(extract("raw", None).unwrap(), "raw");
    }
}

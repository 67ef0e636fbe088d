//! The narrow traits ("ports") the deployer drives, and the plain data they exchange.
//!
//! `idealstack-aws` implements them with the AWS SDK; tests implement them with scripted answers.
//! Every call is blocking (the deployer runs stacks in parallel on scoped threads) and every port
//! is `Send + Sync`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An AWS API call failed. `code` is the service's error code when it sent one
/// (`ValidationError`, `Throttling`, ...); `message` is what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct ApiError {
    /// The API operation (`CreateChangeSet`).
    pub operation: String,
    /// The service's error code, if any.
    pub code: Option<String>,
    /// The service's message (or the transport error).
    pub message: String,
}

impl ApiError {
    /// An error of `operation` with a message.
    pub fn new(operation: &str, code: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            operation: operation.into(),
            code: code.map(Into::into),
            message: message.into(),
        }
    }
}

/// One CloudFormation stack as `DescribeStacks` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInfo {
    /// The stack name.
    pub name: String,
    /// `CREATE_COMPLETE`, `UPDATE_ROLLBACK_FAILED`, ...
    pub status: String,
    /// Why it is in that status, if CloudFormation said.
    pub status_reason: Option<String>,
    /// Outputs by key.
    pub outputs: BTreeMap<String, String>,
    /// Parameters by key.
    pub parameters: BTreeMap<String, String>,
    /// Tags by key.
    pub tags: BTreeMap<String, String>,
    /// Whether termination protection is on.
    pub termination_protection: bool,
}

/// One stack event (`DescribeStackEvents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackEvent {
    /// Unique id of the event.
    pub id: String,
    /// The stack.
    pub stack: String,
    /// Logical id of the resource (the stack's own name for stack-level events).
    pub logical_id: String,
    /// `AWS::EC2::VPC`, or `AWS::CloudFormation::Stack` for the stack itself.
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `CREATE_FAILED`, ...
    pub status: String,
    /// The reason CloudFormation gave, if any.
    pub reason: Option<String>,
}

/// Where the template of a change set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// The template text itself (templates up to 51,200 bytes).
    Body(String),
    /// An S3 URL of the uploaded template (up to 1 MB).
    Url(String),
}

/// A change set to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRequest {
    /// The stack.
    pub stack: String,
    /// The change set's name (unique per stack).
    pub name: String,
    /// `true` for a stack that does not exist yet (change set type CREATE).
    pub create: bool,
    /// The template.
    pub template: TemplateSource,
    /// Every parameter value.
    pub parameters: BTreeMap<String, String>,
    /// Stack-level tags.
    pub tags: BTreeMap<String, String>,
}

/// One resource change of a change set (`DescribeChangeSet`'s `ResourceChange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    /// Logical id in the template.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// For `Modify`: `True`, `False` or `Conditional`.
    pub replacement: Option<String>,
}

/// A change set as `DescribeChangeSet` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSetInfo {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`.
    pub status: String,
    /// Why it failed, if it did.
    pub status_reason: Option<String>,
    /// The changes.
    pub changes: Vec<ResourceChange>,
}

/// CloudFormation.
pub trait StackApi: Send + Sync {
    /// The stack, or `None` if it does not exist (or was deleted).
    fn describe(&self, stack: &str) -> Result<Option<StackInfo>, ApiError>;
    /// Every live stack whose name starts with `prefix`.
    fn list(&self, prefix: &str) -> Result<Vec<StackInfo>, ApiError>;
    /// Creates a change set and returns its id.
    fn create_change_set(&self, request: &ChangeSetRequest) -> Result<String, ApiError>;
    /// Describes a change set.
    fn describe_change_set(&self, stack: &str, id: &str) -> Result<ChangeSetInfo, ApiError>;
    /// Deletes a change set that will not be executed.
    fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), ApiError>;
    /// Executes a change set.
    fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), ApiError>;
    /// The stack's events, newest first (as CloudFormation returns them).
    fn events(&self, stack: &str) -> Result<Vec<StackEvent>, ApiError>;
    /// Starts deleting a stack.
    fn delete(&self, stack: &str) -> Result<(), ApiError>;
    /// Cancels an update in progress (it rolls back).
    fn cancel_update(&self, stack: &str) -> Result<(), ApiError>;
    /// Continues a rollback that failed (UPDATE_ROLLBACK_FAILED).
    fn continue_update_rollback(&self, stack: &str) -> Result<(), ApiError>;
    /// Sets termination protection on or off.
    fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), ApiError>;
    /// Sets the stack policy.
    fn set_stack_policy(&self, stack: &str, policy_json: &str) -> Result<(), ApiError>;
    /// The stack policy, if one is set.
    fn stack_policy(&self, stack: &str) -> Result<Option<String>, ApiError>;
}

/// S3, for the state bucket.
pub trait ObjectStore: Send + Sync {
    /// Writes an object.
    fn put(&self, bucket: &str, key: &str, body: &[u8], content_type: &str)
    -> Result<(), ApiError>;
    /// Reads an object, `None` if it does not exist.
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ApiError>;
    /// Keys under `prefix`, sorted.
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ApiError>;
    /// The HTTPS URL CloudFormation reads an uploaded template from.
    fn template_url(&self, bucket: &str, key: &str) -> String;
}

/// One DNS record a certificate needs for validation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Record name (with trailing dot as ACM gives it).
    pub name: String,
    /// `CNAME`.
    pub record_type: String,
    /// Record value.
    pub value: String,
}

/// One ACM certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// Its ARN.
    pub arn: String,
    /// Every name it covers, primary first.
    pub names: Vec<String>,
    /// `PENDING_VALIDATION`, `ISSUED`, `FAILED`, `EXPIRED`, ...
    pub status: String,
    /// The DNS records ACM waits for.
    pub validation_records: Vec<DnsRecord>,
    /// End of validity, seconds since the epoch, once issued.
    pub not_after: Option<i64>,
    /// Why it failed, if it did.
    pub failure_reason: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// ACM.
pub trait CertificateApi: Send + Sync {
    /// Requests a DNS-validated certificate for `names` (primary first), with tags; `token` makes
    /// a retried request idempotent.
    fn request(
        &self,
        names: &[String],
        token: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ApiError>;
    /// Describes a certificate (with its tags).
    fn describe(&self, arn: &str) -> Result<CertificateInfo, ApiError>;
    /// Every certificate in the region whose tag `key` has value `value`.
    fn find_tagged(&self, key: &str, value: &str) -> Result<Vec<CertificateInfo>, ApiError>;
    /// Deletes a certificate no longer in use.
    fn delete(&self, arn: &str) -> Result<(), ApiError>;
    /// Imports a certificate made here (PEM certificate and private key), with tags; returns
    /// its ARN. The key goes to ACM only.
    fn import(
        &self,
        certificate_pem: &str,
        private_key_pem: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ApiError>;
}

/// Route 53, to create validation records when the account hosts the zone.
pub trait DnsApi: Send + Sync {
    /// Public hosted zones: (id, name with trailing dot).
    fn zones(&self) -> Result<Vec<(String, String)>, ApiError>;
    /// Creates or updates one record in a zone.
    fn upsert(&self, zone_id: &str, record: &DnsRecord) -> Result<(), ApiError>;
}

/// ECS, to keep autoscaling's decisions across deploys.
pub trait ServiceApi: Send + Sync {
    /// The desired count of a running service, `None` if it does not exist.
    fn desired_count(&self, cluster: &str, service: &str) -> Result<Option<u32>, ApiError>;
}

/// Elastic Load Balancing, to lift deletion protection before a destroy.
pub trait LoadBalancerApi: Send + Sync {
    /// Turns deletion protection off on every load balancer of a stack; returns how many.
    fn unprotect_stack_load_balancers(&self, stack: &str) -> Result<usize, ApiError>;
}

//! IAM policy building blocks: trust policies that trust one service (with confused-deputy
//! conditions where the service supports them) and Allow statements with explicit action lists.
//!
//! No Allow statement anywhere uses a wildcard in an action; this is enforced by the crate's tests.

use serde_json::{Value, json};

use crate::cfn::sub;

/// An assume-role policy document trusting exactly `service`.
///
/// `source_arn` (an `ArnLike` pattern) and the account condition are added for services that
/// send `aws:SourceAccount`/`aws:SourceArn` when they assume a role (ECS tasks, VPC flow logs,
/// RDS monitoring); EC2 instances do not, so `confused_deputy` is false for them.
pub(crate) fn trust(service: &str, source_arn: Option<Value>, confused_deputy: bool) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": { "Service": service },
        "Action": "sts:AssumeRole",
    });
    if confused_deputy {
        let mut condition = json!({
            "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } }
        });
        if let Some(arn) = source_arn {
            condition["ArnLike"] = json!({ "aws:SourceArn": arn });
        }
        statement["Condition"] = condition;
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

/// Trust policy for ECS tasks of this account and region.
pub(crate) fn ecs_tasks_trust() -> Value {
    trust(
        "ecs-tasks.amazonaws.com",
        Some(sub(
            "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*",
        )),
        true,
    )
}

/// An Allow statement.
pub(crate) fn allow(sid: &str, actions: &[&str], resources: Value) -> Value {
    debug_assert!(
        actions.iter().all(|a| !a.contains('*')),
        "wildcard action in {sid}"
    );
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// An Allow statement with a Condition block.
pub(crate) fn allow_if(sid: &str, actions: &[&str], resources: Value, condition: Value) -> Value {
    let mut s = allow(sid, actions, resources);
    s["Condition"] = condition;
    s
}

/// Use of the stack's KMS key for a DynamoDB table (the key encrypts the table; the grant holds
/// only through DynamoDB).
pub(crate) fn use_key_through_dynamodb(sid: &str) -> Value {
    allow_if(
        sid,
        &[
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:Encrypt",
            "kms:GenerateDataKey",
        ],
        json!([crate::cfn::r("KmsKeyArn")]),
        json!({ "StringEquals": { "kms:ViaService": sub("dynamodb.${AWS::Region}.amazonaws.com") } }),
    )
}

/// One inline policy of a role.
pub(crate) fn inline(name: &str, statements: Vec<Value>) -> Value {
    json!({
        "PolicyName": name,
        "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
    })
}

/// The ECR pull permissions of an execution role for the given repositories (names in this
/// account and region). Empty when the images come from a public registry.
pub(crate) fn ecr_pull(repositories: &[String]) -> Vec<Value> {
    if repositories.is_empty() {
        return Vec::new();
    }
    let arns: Vec<Value> = repositories
        .iter()
        .map(|name| {
            sub(&format!(
                "arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:${{AWS::AccountId}}:repository/{name}"
            ))
        })
        .collect();
    vec![
        // GetAuthorizationToken has no resource-level permissions: `*` is the only valid resource.
        allow("EcrLogin", &["ecr:GetAuthorizationToken"], json!("*")),
        allow(
            "EcrPull",
            &[
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            Value::Array(arns),
        ),
    ]
}

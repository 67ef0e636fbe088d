//! The agent's IAM role grants exactly the calls its AWS ports make (the table at the top of
//! crates/aws/src/agent/mod.rs), plus the KMS use and EFS access those calls imply: nothing the
//! agent does not call, nothing it calls missing.

mod support;

use std::collections::BTreeSet;

use idealstack_templates::cluster;
use serde_json::Value;

fn agent_actions(has_database: bool) -> BTreeSet<String> {
    let spec = cluster(&support::cluster_opts("acme", has_database, 30, true));
    let role = &spec.template["Resources"]["AgentTaskRole"]["Properties"];
    let mut out = BTreeSet::new();
    for policy in role["Policies"].as_array().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            match &statement["Action"] {
                Value::String(a) => {
                    out.insert(a.clone());
                }
                Value::Array(list) => out.extend(list.iter().map(|a| a.as_str().unwrap().into())),
                other => panic!("action {other}"),
            }
        }
    }
    out
}

const PORT_CALLS: &[&str] = &[
    // s3 (ListBucket: a missing desired state reads as absent, not as access denied, and the
    // purge requests are listed; DeleteObject: carried-out purge requests)
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListBucket",
    // ecs
    "ecs:DescribeContainerInstances",
    "ecs:DescribeServices",
    "ecs:DescribeTasks",
    "ecs:ListContainerInstances",
    "ecs:ListServices",
    "ecs:ListTasks",
    "ecs:UpdateContainerInstancesState",
    "ecs:UpdateService",
    // autoscaling
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeInstanceRefreshes",
    "autoscaling:SetDesiredCapacity",
    "autoscaling:StartInstanceRefresh",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
    // elb, cloudwatch, ssm, lease
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:GetMetricData",
    "ssm:GetParameter",
    "dynamodb:PutItem",
    // the lease table's and the state bucket's KMS key (through DynamoDB and S3 only)
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    // the site folders on EFS, through the agent's access point
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientRootAccess",
    "elasticfilesystem:ClientWrite",
];

#[test]
fn the_agent_role_grants_exactly_the_calls_of_its_ports() {
    let expected: BTreeSet<String> = PORT_CALLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(agent_actions(false), expected);
    let mut with_db = expected;
    with_db.insert("secretsmanager:DeleteSecret".into());
    with_db.insert("secretsmanager:GetSecretValue".into());
    with_db.insert("secretsmanager:ListSecrets".into());
    assert_eq!(agent_actions(true), with_db);
}

#[test]
fn the_agent_task_gets_the_settings_the_agent_reads() {
    let spec = cluster(&support::cluster_opts("acme", true, 30, true));
    let container =
        &spec.template["Resources"]["AgentTaskDefinition"]["Properties"]["ContainerDefinitions"][0];
    let names: BTreeSet<&str> = container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    for name in [
        "IDEALSTACK_STACK",
        "IDEALSTACK_CLUSTER",
        "IDEALSTACK_AUTOSCALING_GROUP",
        "IDEALSTACK_STATE_BUCKET",
        "IDEALSTACK_LEASE_TABLE",
        "IDEALSTACK_HEALTH_TARGET_GROUP_ARN",
        "IDEALSTACK_AMI_PARAMETER",
        "IDEALSTACK_SITES_ROOT",
        "IDEALSTACK_DATABASE_SECRET_ARN",
    ] {
        assert!(names.contains(name), "{name} missing: {names:?}");
    }
    let root = container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Name"] == "IDEALSTACK_SITES_ROOT")
        .unwrap()["Value"]
        .clone();
    assert_eq!(container["MountPoints"][0]["ContainerPath"], root);
}

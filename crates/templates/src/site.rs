//! The `<stack>-site-<site>` stack: everything of one site, so a site's change never touches
//! another site's stack. Task definition (read-only root, non-root site uid, EFS through an
//! access point rooted at the site folder), roles, ECS service, target group, listener rules and
//! certificates on its shard's HTTPS listener, log group, the site's database secret and scaling.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cfn::{Template, ga, r, sub};
use crate::iam::{allow, allow_if, ecr_pull, ecs_tasks_trust, inline, use_key_through_dynamodb};
use crate::options::{PHP_CONTAINER_PORT, RuleAction, SiteOptions};
use crate::services::spread;
use crate::{
    ParameterValue, StackKind, StackSpec, cluster_stack_name, data_stack_name, edge_stack_name,
    network_stack_name, site_stack_name, spec,
};

/// Where the site folder (`/sites/<site>` on EFS) is mounted in the PHP container.
pub const SITE_MOUNT_PATH: &str = "/srv/site";
/// The name of a site task's container (the one `idealstack run` overrides the command of).
pub const SITE_CONTAINER: &str = "php";

/// The log stream of a site task's container: awslogs names it `<prefix>/<container>/<task id>`,
/// and the site's task definition sets the prefix to the container's name.
pub fn site_log_stream(task_id: &str) -> String {
    format!("{SITE_CONTAINER}/{SITE_CONTAINER}/{task_id}")
}

/// The IAM resource of a secret reference: a Secrets Manager ARN without its
/// `:json-key:version-stage:version-id` suffix, or an SSM parameter ARN as is.
fn secret_resource(arn: &str) -> (bool, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    let is_ssm = parts.get(2) == Some(&"ssm");
    if is_ssm {
        (true, arn.to_string())
    } else {
        (false, parts[..parts.len().min(7)].join(":"))
    }
}

/// Builds the stack of one site.
pub fn site(o: &SiteOptions) -> StackSpec {
    debug_assert!(
        o.rules
            .iter()
            .any(|rule| rule.action == RuleAction::Forward),
        "a forward rule"
    );
    let name = site_stack_name(&o.stack, &o.site);
    let network = network_stack_name(&o.stack);
    let data = data_stack_name(&o.stack);
    let cluster = cluster_stack_name(&o.stack);
    let edge = edge_stack_name(&o.stack, o.shard);
    let mut t = Template::new(&format!(
        "idealstack {name}: site {} of stack {} on ALB shard {} - ECS service, task definition, \
         target group, listener rules and certificates, EFS access point, log group{} (the agent scales the service).",
        o.site,
        o.stack,
        o.shard,
        if o.database.is_some() {
            ", database secret"
        } else {
            ""
        }
    ));
    let mut params = BTreeMap::new();
    let mut from = |t: &mut Template, p: &str, ty: &str, stack: &str, desc: &str| {
        t.param(p, ty, desc);
        params.insert(p.to_string(), ParameterValue::from_output(stack, p));
    };
    from(&mut t, "VpcId", "AWS::EC2::VPC::Id", &network, "The VPC.");
    from(
        &mut t,
        "FileSystemId",
        "String",
        &data,
        "The sites' EFS file system.",
    );
    from(&mut t, "KmsKeyArn", "String", &data, "The stack's KMS key.");
    from(
        &mut t,
        "SessionsTableName",
        "String",
        &data,
        "The PHP sessions table.",
    );
    from(
        &mut t,
        "SessionsTableArn",
        "String",
        &data,
        "ARN of the PHP sessions table.",
    );
    if o.database.is_some() {
        from(
            &mut t,
            "DatabaseEndpointAddress",
            "String",
            &data,
            "Database host name.",
        );
        from(
            &mut t,
            "DatabaseEndpointPort",
            "String",
            &data,
            "Database port.",
        );
    }
    from(
        &mut t,
        "ClusterName",
        "String",
        &cluster,
        "The ECS cluster.",
    );
    from(
        &mut t,
        "CapacityProviderName",
        "String",
        &cluster,
        "The cluster's capacity provider.",
    );
    from(
        &mut t,
        "HttpsListenerArn",
        "String",
        &edge,
        "HTTPS listener of the site's ALB shard.",
    );
    t.param(
        "ImageRepository",
        "String",
        "Repository of the site's PHP image.",
    );
    params.insert(
        "ImageRepository".into(),
        ParameterValue::literal(&o.image.repository),
    );
    t.param(
        "ImageTag",
        "String",
        "Tag of the site's PHP image, changed on every deploy.",
    );
    params.insert("ImageTag".into(), ParameterValue::literal(&o.image.tag));
    t.param(
        "DesiredCount",
        "Number",
        "Tasks to run now (the deployer passes the current count).",
    );
    t.param_extra("DesiredCount", "MinValue", json!(o.min_tasks));
    t.param_extra("DesiredCount", "MaxValue", json!(o.max_tasks));
    params.insert(
        "DesiredCount".into(),
        ParameterValue::literal(o.desired_count.to_string()),
    );
    for (i, cert) in o.certificates.iter().enumerate() {
        let p = format!("CertificateArn{}", i + 1);
        t.param(
            &p,
            "String",
            "ARN of an ACM certificate of the site's host names (issued at deploy time).",
        );
        t.param_extra(&p, "AllowedPattern", json!("^arn:aws[a-z-]*:acm:.+"));
        params.insert(p, cert.clone());
    }

    let log_group_name = format!("/idealstack/{}/sites/{}", o.stack, o.site);
    t.resource(
        "LogGroup",
        "AWS::Logs::LogGroup",
        json!({ "LogGroupName": log_group_name, "RetentionInDays": o.log_retention_days, "KmsKeyId": r("KmsKeyArn") }),
    )
    .delete();
    t.resource(
        "AccessPoint",
        "AWS::EFS::AccessPoint",
        json!({
            "FileSystemId": r("FileSystemId"),
            "PosixUser": { "Uid": o.uid.to_string(), "Gid": o.gid.to_string() },
            "RootDirectory": {
                "Path": format!("/sites/{}", o.site),
                "CreationInfo": { "OwnerUid": "0", "OwnerGid": "0", "Permissions": "0755" },
            },
            "AccessPointTags": [{ "Key": "Name", "Value": sub("${AWS::StackName}") }],
        }),
    );
    if let Some(db) = &o.database {
        let template = format!(
            "{{\"username\":\"{}\",\"dbname\":\"{}\",\"host\":\"${{DatabaseEndpointAddress}}\",\"port\":\"${{DatabaseEndpointPort}}\"}}",
            db.user, db.name
        );
        t.resource(
            "DatabaseSecret",
            "AWS::SecretsManager::Secret",
            json!({
                // Unnamed on purpose: the secret is retained when the site goes, and a fixed name
                // would block adding a site of the same name again. The agent finds it by tag.
                "Tags": [
                    { "Key": "idealstack:stack", "Value": o.stack },
                    { "Key": "idealstack:site", "Value": o.site },
                    { "Key": "idealstack:purpose", "Value": "site-database" },
                ],
                "Description": format!("Database credentials of site {} (the agent creates the database and user from it).", o.site),
                "KmsKeyId": r("KmsKeyArn"),
                "GenerateSecretString": {
                    "SecretStringTemplate": sub(&template),
                    "GenerateStringKey": "password",
                    "PasswordLength": 32,
                    "ExcludePunctuation": true,
                },
            }),
        )
        .retain();
    }

    roles(&mut t, o, &log_group_name);
    task_definition(&mut t, o);
    routing(&mut t, o);
    service(&mut t, o);

    t.output(
        "ServiceName",
        ga("Service", "Name"),
        "The site's ECS service.",
    );
    t.output(
        "TargetGroupFullName",
        ga("TargetGroup", "TargetGroupFullName"),
        "Target group name used by CloudWatch metrics.",
    );
    t.output("LogGroupName", r("LogGroup"), "The site's log group.");
    t.output(
        "AccessPointId",
        r("AccessPoint"),
        "EFS access point of the site folder.",
    );
    if o.database.is_some() {
        t.output(
            "DatabaseSecretArn",
            r("DatabaseSecret"),
            "The site's database credentials.",
        );
    }
    spec(
        name,
        StackKind::Site,
        t.finish(),
        params,
        &o.stack,
        &o.tags,
        &[("idealstack:site", o.site.as_str())],
    )
}

fn roles(t: &mut Template, o: &SiteOptions, log_group_name: &str) {
    let mut exec = vec![allow(
        "WriteLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        json!([ga("LogGroup", "Arn")]),
    )];
    exec.extend(ecr_pull(&o.ecr_repositories));
    let mut secret_arns: Vec<Value> = Vec::new();
    let mut ssm_arns: Vec<Value> = Vec::new();
    for arn in o.secrets.values() {
        let (is_ssm, resource) = secret_resource(arn);
        let list = if is_ssm {
            &mut ssm_arns
        } else {
            &mut secret_arns
        };
        if !list.contains(&json!(resource)) {
            list.push(json!(resource));
        }
    }
    if o.database.is_some() {
        secret_arns.push(r("DatabaseSecret"));
    }
    if !secret_arns.is_empty() {
        exec.push(allow(
            "ReadItsSecrets",
            &["secretsmanager:GetSecretValue"],
            Value::Array(secret_arns),
        ));
    }
    if !ssm_arns.is_empty() {
        exec.push(allow(
            "ReadItsParameters",
            &["ssm:GetParameters"],
            Value::Array(ssm_arns),
        ));
    }
    if o.database.is_some() {
        exec.push(allow_if(
            "DecryptItsSecrets",
            &["kms:Decrypt"],
            json!([r("KmsKeyArn")]),
            json!({ "StringEquals": { "kms:ViaService": sub("secretsmanager.${AWS::Region}.amazonaws.com") } }),
        ));
    }
    t.resource(
        "ExecutionRole",
        "AWS::IAM::Role",
        json!({
            "Description": format!("ECS task execution role of site {}: pulls its image, writes {log_group_name}, reads its secrets.", o.site),
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [inline("task-execution", exec)],
        }),
    );

    let mut task = vec![
        allow_if(
            "OwnSessionsOnly",
            &[
                "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            json!([r("SessionsTableArn")]),
            json!({
                "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [format!("{}*", session_key_prefix(&o.site))] },
                "Null": { "dynamodb:LeadingKeys": "false" },
            }),
        ),
        allow_if(
            "MountItsSiteFolder",
            &[
                "elasticfilesystem:ClientMount",
                "elasticfilesystem:ClientWrite",
            ],
            json!([sub(
                "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/${FileSystemId}"
            )]),
            json!({ "StringEquals": { "elasticfilesystem:AccessPointArn": ga("AccessPoint", "Arn") } }),
        ),
        use_key_through_dynamodb("UseTheSessionsKey"),
    ];
    if let Some(email) = &o.email {
        task.push(allow_if(
            "SendMailAsItsIdentity",
            &["ses:SendEmail", "ses:SendRawEmail"],
            json!([sub(&format!(
                "arn:${{AWS::Partition}}:ses:${{AWS::Region}}:${{AWS::AccountId}}:identity/{}",
                email.identity
            ))]),
            json!({ "StringLike": { "ses:FromAddress": format!("*@{}", email.identity) } }),
        ));
    }
    t.resource(
        "TaskRole",
        "AWS::IAM::Role",
        json!({
            "Description": format!("Site {}: its own sessions, its own site folder{}.", o.site,
                if o.email.is_some() { ", mail from its own domain" } else { "" }),
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [inline("site", task)],
        }),
    );
}

fn task_definition(t: &mut Template, o: &SiteOptions) {
    let mut env: BTreeMap<String, Value> = o
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    // Every name here is one the image reads (images/README.md, "Runtime contract"; checked by
    // crates/stacks/tests/runtime_contract.rs).
    env.insert("IDEALSTACK_SITE".into(), json!(o.site));
    env.insert("IDEALSTACK_SITE_ROOT".into(), json!(SITE_MOUNT_PATH));
    env.insert("IDEALSTACK_SESSION_TABLE".into(), r("SessionsTableName"));
    env.insert(
        "IDEALSTACK_FPM_MAX_CHILDREN".into(),
        json!(o.fpm_max_children.to_string()),
    );
    for (name, value) in &o.php_ini {
        env.insert(name.clone(), json!(value));
    }
    env.insert("AWS_REGION".into(), r("AWS::Region"));
    if let Some(email) = &o.email {
        env.insert("IDEALSTACK_MAIL_FROM".into(), json!(email.from));
    }
    let environment: Vec<Value> = env
        .into_iter()
        .map(|(k, v)| json!({ "Name": k, "Value": v }))
        .collect();
    let mut secrets: BTreeMap<String, Value> = o
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if o.database.is_some() {
        for (var, field) in [
            ("DB_HOST", "host"),
            ("DB_NAME", "dbname"),
            ("DB_USER", "username"),
            ("DB_PASSWORD", "password"),
            ("DB_PORT", "port"),
        ] {
            secrets.insert(var.into(), sub(&format!("${{DatabaseSecret}}:{field}::")));
        }
    }
    let secrets: Vec<Value> = secrets
        .into_iter()
        .map(|(k, v)| json!({ "Name": k, "ValueFrom": v }))
        .collect();
    let tmpfs: Vec<Value> = o
        .tmpfs
        .iter()
        .map(|m| json!({ "ContainerPath": m.path, "Size": m.size_mib, "MountOptions": ["noexec", "nosuid", "nodev"] }))
        .collect();
    let mut container = json!({
        "Name": SITE_CONTAINER,
        "Image": sub("${ImageRepository}:${ImageTag}"),
        "Essential": true,
        "User": format!("{}:{}", o.uid, o.gid),
        "Privileged": false,
        "ReadonlyRootFilesystem": true,
        "LinuxParameters": { "InitProcessEnabled": true, "Tmpfs": tmpfs },
        "PortMappings": [{ "ContainerPort": PHP_CONTAINER_PORT, "HostPort": 0, "Protocol": "tcp" }],
        "MountPoints": [{ "SourceVolume": "site", "ContainerPath": SITE_MOUNT_PATH, "ReadOnly": false }],
        "Environment": environment,
        "StopTimeout": 30,
        "Ulimits": [{ "Name": "nofile", "SoftLimit": 65536, "HardLimit": 65536 }],
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": r("LogGroup"),
                "awslogs-region": r("AWS::Region"),
                "awslogs-stream-prefix": SITE_CONTAINER,
                "mode": "non-blocking",
                "max-buffer-size": "4m",
            },
        },
    });
    if !secrets.is_empty() {
        container["Secrets"] = Value::Array(secrets);
    }
    if o.database.is_some() {
        // `database` resolves through the stack's private zone (the data stack's CNAME to RDS).
        container["DnsSearchDomains"] = json!([crate::private_domain(&o.stack)]);
    }
    t.resource(
        "TaskDefinition",
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": sub("${AWS::StackName}"),
            "NetworkMode": "bridge",
            "RequiresCompatibilities": ["EC2"],
            "Cpu": o.cpu.to_string(),
            "Memory": o.memory_mib.to_string(),
            "ExecutionRoleArn": ga("ExecutionRole", "Arn"),
            "TaskRoleArn": ga("TaskRole", "Arn"),
            "Volumes": [{
                "Name": "site",
                "EFSVolumeConfiguration": {
                    "FilesystemId": r("FileSystemId"),
                    "TransitEncryption": "ENABLED",
                    "AuthorizationConfig": { "AccessPointId": r("AccessPoint"), "IAM": "ENABLED" },
                },
            }],
            "ContainerDefinitions": [container],
        }),
    );
}

fn routing(t: &mut Template, o: &SiteOptions) {
    t.resource(
        "TargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        json!({
            "TargetType": "instance",
            "Protocol": "HTTP",
            "ProtocolVersion": "HTTP1",
            "Port": PHP_CONTAINER_PORT,
            "VpcId": r("VpcId"),
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckPath": o.health_check_path,
            "HealthCheckIntervalSeconds": 15,
            "HealthCheckTimeoutSeconds": 5,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": { "HttpCode": "200-399" },
            "TargetGroupAttributes": [
                { "Key": "deregistration_delay.timeout_seconds", "Value": "30" },
                { "Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests" },
            ],
        }),
    );
    for (i, rule) in o.rules.iter().enumerate() {
        let action = match &rule.action {
            RuleAction::Forward => json!({ "Type": "forward", "TargetGroupArn": r("TargetGroup") }),
            RuleAction::Redirect { host } => json!({
                "Type": "redirect",
                "RedirectConfig": {
                    "Protocol": "HTTPS",
                    "Port": "443",
                    "Host": host,
                    "Path": "/#{path}",
                    "Query": "#{query}",
                    "StatusCode": "HTTP_301",
                },
            }),
        };
        t.resource(
            &format!("ListenerRule{}", i + 1),
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            json!({
                "ListenerArn": r("HttpsListenerArn"),
                "Priority": rule.priority,
                "Conditions": [{ "Field": "host-header", "HostHeaderConfig": { "Values": rule.hosts } }],
                "Actions": [action],
            }),
        );
    }
    for i in 0..o.certificates.len() {
        t.resource(
            &format!("ListenerCertificate{}", i + 1),
            "AWS::ElasticLoadBalancingV2::ListenerCertificate",
            json!({
                "ListenerArn": r("HttpsListenerArn"),
                "Certificates": [{ "CertificateArn": r(&format!("CertificateArn{}", i + 1)) }],
            }),
        );
    }
}

fn service(t: &mut Template, o: &SiteOptions) {
    let forward_rules: Vec<String> = o
        .rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.action == RuleAction::Forward)
        .map(|(i, _)| format!("ListenerRule{}", i + 1))
        .collect();
    let refs: Vec<&str> = forward_rules.iter().map(String::as_str).collect();
    t.resource(
        "Service",
        "AWS::ECS::Service",
        json!({
            "Cluster": r("ClusterName"),
            "TaskDefinition": r("TaskDefinition"),
            "DesiredCount": r("DesiredCount"),
            "CapacityProviderStrategy": [{ "CapacityProvider": r("CapacityProviderName"), "Weight": 1, "Base": 0 }],
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true },
            },
            "PlacementStrategies": spread(),
            "HealthCheckGracePeriodSeconds": 60,
            "LoadBalancers": [{ "ContainerName": "php", "ContainerPort": PHP_CONTAINER_PORT, "TargetGroupArn": r("TargetGroup") }],
            "EnableECSManagedTags": true,
            "PropagateTags": "SERVICE",
        }),
    )
    .depends_on(&refs);
    // No target tracking: the idealstack agent sets the desired count from request rates, within
    // the DesiredCount parameter's MinValue/MaxValue (the manifest's range); see ARCHITECTURE.md.
}

/// The prefix of every session key of `site` in the shared sessions table (`shop#<session id>`).
/// The PHP runtime's session handler (images/php/config/idealstack/session.php) builds keys this
/// way and the site's task role may touch only keys with this prefix (dynamodb:LeadingKeys).
pub fn session_key_prefix(site: &str) -> String {
    format!("{site}#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_references_become_iam_resources() {
        let check = |arn: &str, ssm: bool, resource: &str| {
            assert_eq!(secret_resource(arn), (ssm, resource.to_string()), "{arn}");
        };
        let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-AbCdEf";
        check(secret, false, secret);
        check(&format!("{secret}:stripe::"), false, secret);
        check(&format!("{secret}:stripe:AWSCURRENT:"), false, secret);
        let param = "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/token";
        check(param, true, param);
    }
}

//! The cluster's own ECS services: the PHP health daemon (one task per instance, checked by the
//! instance health target group), the idealstack agent, and the SFTP gateway behind its network
//! load balancer; with their roles, task definitions and the helpers site stacks share.

use serde_json::{Value, json};

use crate::cfn::{Template, ga, r, sub};
use crate::cluster::{CLUSTER_ARN, FS_ARN, ecs_ami_parameter};
use crate::iam::{allow, allow_if, ecr_pull, ecs_tasks_trust, inline, use_key_through_dynamodb};
use crate::options::{ClusterOptions, PHP_CONTAINER_PORT, default_php_tmpfs};

/// The PHP health daemon's memory limit (MiB).
const HEALTH_MEMORY_MIB: u32 = 192;
/// The health daemon's php-fpm worker ceiling: the fewest php-fpm takes with the pool's three
/// spare workers (images/php/config/php/php-fpm.conf); it serves one small page.
const HEALTH_FPM_MAX_CHILDREN: u32 = 3;

/// An execution role that may write to `log_group` and pull from the ECR repositories.
fn execution_role(t: &mut Template, id: &str, what: &str, log_group: &str, ecr: &[String]) {
    let mut statements = vec![allow(
        "WriteLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        json!([ga(log_group, "Arn")]),
    )];
    statements.extend(ecr_pull(ecr));
    t.resource(
        id,
        "AWS::IAM::Role",
        json!({
            "Description": format!("ECS task execution role of the {what}: pulls its image, writes its log group."),
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [inline("task-execution", statements)],
        }),
    );
}

fn awslogs(log_group: &str, prefix: &str) -> Value {
    json!({
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": r(log_group),
            "awslogs-region": r("AWS::Region"),
            "awslogs-stream-prefix": prefix,
            "mode": "non-blocking",
            "max-buffer-size": "4m",
        },
    })
}

fn tmpfs() -> Value {
    Value::Array(
        default_php_tmpfs()
            .iter()
            .map(|m| json!({ "ContainerPath": m.path, "Size": m.size_mib, "MountOptions": ["noexec", "nosuid", "nodev"] }))
            .collect(),
    )
}

/// Spread over AZs first, then over instances.
pub(crate) fn spread() -> Value {
    json!([
        { "Type": "spread", "Field": "attribute:ecs.availability-zone" },
        { "Type": "spread", "Field": "instanceId" },
    ])
}

pub(crate) fn health(t: &mut Template, o: &ClusterOptions) {
    t.resource(
        "HealthTargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        json!({
            "TargetType": "instance",
            "Protocol": "TCP",
            "Port": o.health_check_port,
            "VpcId": r("VpcId"),
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPath": o.health_check_path,
            "HealthCheckPort": "traffic-port",
            "HealthCheckIntervalSeconds": 10,
            "HealthCheckTimeoutSeconds": 5,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": { "HttpCode": "200-399" },
            "TargetGroupAttributes": [{ "Key": "deregistration_delay.timeout_seconds", "Value": "30" }],
        }),
    )
    .metadata(
        "idealstack",
        json!({
            "purpose": "Instance health: every instance runs the PHP health daemon on a fixed host port; the ASG \
                (HealthCheckType ELB, TargetGroupARNs) replaces an instance whose PHP stops answering. A target \
                group only health-checks once a listener uses it, so the SFTP network load balancer carries a \
                listener on the health port for it; the load balancer's security group admits only the SFTP \
                port, so the listener is not reachable from the internet.",
        }),
    );
    t.resource(
        "HealthListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r("SftpLoadBalancer"),
            "Port": o.health_check_port,
            "Protocol": "TCP",
            "DefaultActions": [{ "Type": "forward", "TargetGroupArn": r("HealthTargetGroup") }],
        }),
    );
    execution_role(
        t,
        "HealthExecutionRole",
        "PHP health daemon",
        "HealthLogGroup",
        &o.ecr_repositories,
    );
    t.resource(
        "HealthTaskDefinition",
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": sub("${AWS::StackName}-health"),
            "NetworkMode": "bridge",
            "RequiresCompatibilities": ["EC2"],
            "ExecutionRoleArn": ga("HealthExecutionRole", "Arn"),
            "ContainerDefinitions": [{
                "Name": "php",
                "Image": sub("${PhpImageRepository}:${PhpImageTag}"),
                "Essential": true,
                "Cpu": 64,
                "Memory": HEALTH_MEMORY_MIB,
                "MemoryReservation": 96,
                "User": "33:33",
                "Privileged": false,
                "ReadonlyRootFilesystem": true,
                "LinuxParameters": { "InitProcessEnabled": true, "Tmpfs": tmpfs() },
                "PortMappings": [{ "ContainerPort": PHP_CONTAINER_PORT, "HostPort": o.health_check_port, "Protocol": "tcp" }],
                // The health role serves the health page without a site: no EFS mount, an empty
                // document root on the tmpfs (images/php/config/idealstack/entrypoint.sh).
                "Environment": [
                    { "Name": "IDEALSTACK_ROLE", "Value": "health" },
                    { "Name": "IDEALSTACK_FPM_MAX_CHILDREN", "Value": HEALTH_FPM_MAX_CHILDREN.to_string() },
                ],
                "LogConfiguration": awslogs("HealthLogGroup", "health"),
            }],
        }),
    );
    t.resource(
        "HealthService",
        "AWS::ECS::Service",
        json!({
            "Cluster": r("Cluster"),
            "TaskDefinition": r("HealthTaskDefinition"),
            "LaunchType": "EC2",
            "SchedulingStrategy": "DAEMON",
            "DeploymentConfiguration": { "MinimumHealthyPercent": 50, "MaximumPercent": 100 },
            "EnableECSManagedTags": true,
            "PropagateTags": "SERVICE",
        }),
    );
}

/// Where the agent mounts the `/sites` folder of the sites' file system (`IDEALSTACK_SITES_ROOT`).
pub(crate) const AGENT_SITES_ROOT: &str = "/mnt/efs/sites";

/// The agent: its IAM policy holds exactly the calls of the module table in
/// crates/aws/src/agent/mod.rs (plus the KMS use those calls imply on the stack's key), its lease
/// table, the `/sites` folder of EFS, and the environment `idealstack agent` reads.
pub(crate) fn agent(t: &mut Template, o: &ClusterOptions) {
    let services = sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${AWS::StackName}/*",
    );
    let group = sub(
        "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${AWS::StackName}-instances",
    );
    t.resource(
        "AgentLeaseTable",
        "AWS::DynamoDB::Table",
        json!({
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{ "AttributeName": "id", "AttributeType": "S" }],
            "KeySchema": [{ "AttributeName": "id", "KeyType": "HASH" }],
            "SSESpecification": { "SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": r("KmsKeyArn") },
        }),
    )
    .delete()
    .skip(&[(
        "CKV_AWS_28",
        "The lease table holds one item (which agent acts, until when) that every agent rewrites each \
         minute; there is nothing to recover to a point in time, and a lost table is recreated by the stack.",
    )])
    .metadata(
        "idealstack",
        json!({
            "purpose": "The agents' lease: one item written with a conditional PutItem (free, expired, or \
                already ours), so only one of several agent tasks acts (during a deployment two may run).",
            "holds-no-data": "Only which agent acts and until when, rewritten every pass: deleted with \
                its stack (nothing to keep), recreated empty by the next.",
        }),
    );
    let mut statements = vec![
        allow(
            "ManageThisClustersServices",
            &["ecs:DescribeServices", "ecs:UpdateService"],
            json!([services]),
        ),
        allow(
            "ManageThisClustersInstancesAndTasks",
            &[
                "ecs:DescribeContainerInstances",
                "ecs:DescribeTasks",
                "ecs:ListContainerInstances",
                "ecs:UpdateContainerInstancesState",
            ],
            json!([
                sub(CLUSTER_ARN),
                sub(
                    "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:container-instance/${AWS::StackName}/*"
                ),
                sub(
                    "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${AWS::StackName}/*"
                ),
            ]),
        ),
        // ListServices and ListTasks are scoped by the cluster condition key, not a resource.
        allow_if(
            "ListThisClustersServicesAndTasks",
            &["ecs:ListServices", "ecs:ListTasks"],
            json!("*"),
            json!({ "ArnEquals": { "ecs:cluster": sub(CLUSTER_ARN) } }),
        ),
        // The agent is the cluster's scaler: it raises the desired capacity, removes instances it
        // drained (TerminateInstanceInAutoScalingGroup with decrement), replaces broken ones, and
        // rolls the fleet onto a new AMI.
        allow(
            "ScaleAndRollThisClustersInstances",
            &[
                "autoscaling:SetDesiredCapacity",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
            ],
            json!([group]),
        ),
        // Describe calls of Auto Scaling, Elastic Load Balancing and CloudWatch have no
        // resource-level permissions: `*` is their only valid resource.
        allow(
            "ObserveInstancesTargetsAndMetrics",
            &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeInstanceRefreshes",
                "cloudwatch:GetMetricData",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            json!("*"),
        ),
        allow(
            "ReadTheAmiParameter",
            &["ssm:GetParameter"],
            json!([sub(&format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}::parameter{}",
                ecs_ami_parameter(o.architecture)
            ))]),
        ),
        // ListBucket lets a missing desired state read as "not deployed yet" (404), not 403.
        allow(
            "ListStateBucket",
            &["s3:ListBucket"],
            json!([sub("arn:${AWS::Partition}:s3:::${StateBucketName}")]),
        ),
        allow(
            "ReadState",
            &["s3:GetObject"],
            json!([sub("arn:${AWS::Partition}:s3:::${StateBucketName}/*")]),
        ),
        // Purge requests (`site remove --delete-data`) are deleted once carried out; nothing
        // else in the bucket can be.
        allow(
            "DeleteCarriedOutPurgeRequests",
            &["s3:DeleteObject"],
            json!([sub(
                "arn:${AWS::Partition}:s3:::${StateBucketName}/state/purge/*"
            )]),
        ),
        allow(
            "HoldTheLease",
            &["dynamodb:PutItem"],
            json!([ga("AgentLeaseTable", "Arn")]),
        ),
        use_key_through_dynamodb("UseTheLeaseTablesKey"),
        // The agent creates /sites/<site> (root-owned) and its folders owned by the site's uid:
        // root on the file system, through its own access point rooted at /sites only.
        allow_if(
            "ManageTheSiteFolders",
            &[
                "elasticfilesystem:ClientMount",
                "elasticfilesystem:ClientRootAccess",
                "elasticfilesystem:ClientWrite",
            ],
            json!([sub(FS_ARN)]),
            json!({ "StringEquals": { "elasticfilesystem:AccessPointArn": ga("AgentAccessPoint", "Arn") } }),
        ),
    ];
    let mut via = vec![sub("s3.${AWS::Region}.amazonaws.com")];
    if o.has_database {
        statements.push(allow(
            "ReadDatabaseMasterSecret",
            &["secretsmanager:GetSecretValue"],
            json!([r("DatabaseMasterSecretArn")]),
        ));
        // Site stacks create their database secrets unnamed (they are retained), tagged with
        // the stack: the tag condition scopes the agent to this stack's site secrets.
        statements.push(allow_if(
            "ReadSiteDatabaseSecrets",
            &["secretsmanager:GetSecretValue"],
            json!([sub(
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
            )]),
            json!({ "StringEquals": {
                "aws:ResourceTag/idealstack:stack": o.stack,
                "aws:ResourceTag/idealstack:purpose": "site-database",
            } }),
        ));
        // A removed site's retained secret, when the user asked for its data to be deleted
        // (with Secrets Manager's recovery window): this stack's site secrets only.
        statements.push(allow_if(
            "DeleteRemovedSitesDatabaseSecrets",
            &["secretsmanager:DeleteSecret"],
            json!([sub(
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
            )]),
            json!({ "StringEquals": {
                "aws:ResourceTag/idealstack:stack": o.stack,
                "aws:ResourceTag/idealstack:purpose": "site-database",
            } }),
        ));
        // ListSecrets has no resource-level permissions and no condition key that narrows it:
        // `*` is the only valid resource. It returns names and tags, never secret values.
        statements.push(allow(
            "FindSiteDatabaseSecrets",
            &["secretsmanager:ListSecrets"],
            json!("*"),
        ));
        via.push(sub("secretsmanager.${AWS::Region}.amazonaws.com"));
    }
    statements.push(allow_if(
        "DecryptThroughS3AndSecretsManager",
        &["kms:Decrypt"],
        json!([r("KmsKeyArn")]),
        json!({ "StringEquals": { "kms:ViaService": via } }),
    ));
    t.resource(
        "AgentTaskRole",
        "AWS::IAM::Role",
        json!({
            "Description": "The idealstack agent: scales this cluster's services and instances, drains, replaces and rolls instances, site folders and databases.",
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [inline("agent", statements)],
        }),
    );
    execution_role(
        t,
        "AgentExecutionRole",
        "idealstack agent",
        "AgentLogGroup",
        &o.ecr_repositories,
    );
    t.resource(
        "AgentAccessPoint",
        "AWS::EFS::AccessPoint",
        json!({
            "FileSystemId": r("FileSystemId"),
            "RootDirectory": {
                "Path": "/sites",
                "CreationInfo": { "OwnerUid": "0", "OwnerGid": "0", "Permissions": "0755" },
            },
            "AccessPointTags": [{ "Key": "Name", "Value": sub("${AWS::StackName}-agent") }],
        }),
    )
    .metadata(
        "idealstack",
        json!({
            "purpose": "The agent's view of EFS: /sites only (not the SFTP host keys beside it). No PosixUser: \
                the agent runs as root (uid 0, every capability dropped but CHOWN and FOWNER) because the \
                folder contract makes /sites/<site> root-owned and its folders owned by the site's uid, \
                which only root can set; IAM grants ClientRootAccess through this access point alone.",
        }),
    );
    let mut env = vec![
        json!({ "Name": "IDEALSTACK_STACK", "Value": o.stack }),
        json!({ "Name": "IDEALSTACK_CLUSTER", "Value": r("Cluster") }),
        json!({ "Name": "IDEALSTACK_AUTOSCALING_GROUP", "Value": sub("${AWS::StackName}-instances") }),
        json!({ "Name": "IDEALSTACK_STATE_BUCKET", "Value": r("StateBucketName") }),
        json!({ "Name": "IDEALSTACK_LEASE_TABLE", "Value": r("AgentLeaseTable") }),
        json!({ "Name": "IDEALSTACK_HEALTH_TARGET_GROUP_ARN", "Value": r("HealthTargetGroup") }),
        json!({ "Name": "IDEALSTACK_AMI_PARAMETER", "Value": ecs_ami_parameter(o.architecture) }),
        json!({ "Name": "IDEALSTACK_SITES_ROOT", "Value": AGENT_SITES_ROOT }),
        json!({ "Name": "AWS_REGION", "Value": r("AWS::Region") }),
    ];
    if o.has_database {
        env.push(json!({ "Name": "IDEALSTACK_DATABASE_SECRET_ARN", "Value": r("DatabaseMasterSecretArn") }));
    }
    t.resource(
        "AgentTaskDefinition",
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": sub("${AWS::StackName}-agent"),
            "NetworkMode": "bridge",
            "RequiresCompatibilities": ["EC2"],
            "ExecutionRoleArn": ga("AgentExecutionRole", "Arn"),
            "TaskRoleArn": ga("AgentTaskRole", "Arn"),
            "Volumes": [{
                "Name": "sites",
                "EFSVolumeConfiguration": {
                    "FilesystemId": r("FileSystemId"),
                    "TransitEncryption": "ENABLED",
                    "AuthorizationConfig": { "AccessPointId": r("AgentAccessPoint"), "IAM": "ENABLED" },
                },
            }],
            "ContainerDefinitions": [{
                "Name": "agent",
                "Image": sub("${IdealstackImageRepository}:${IdealstackImageTag}"),
                "Command": ["agent"],
                "Essential": true,
                "Cpu": 128,
                "Memory": 256,
                "User": "0:0",
                "Privileged": false,
                "ReadonlyRootFilesystem": true,
                "LinuxParameters": {
                    "InitProcessEnabled": true,
                    "Capabilities": { "Drop": ["ALL"], "Add": ["CHOWN", "FOWNER"] },
                },
                "MountPoints": [{ "SourceVolume": "sites", "ContainerPath": AGENT_SITES_ROOT, "ReadOnly": false }],
                "Environment": env,
                "LogConfiguration": awslogs("AgentLogGroup", "agent"),
            }],
        }),
    );
    t.resource(
        "AgentService",
        "AWS::ECS::Service",
        json!({
            "Cluster": r("Cluster"),
            "TaskDefinition": r("AgentTaskDefinition"),
            "DesiredCount": 1,
            "CapacityProviderStrategy": [{ "CapacityProvider": r("CapacityProvider"), "Weight": 1, "Base": 0 }],
            // One reconciler at a time: the old task stops before the new one starts (and the
            // lease covers the overlap if ECS ever runs two).
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 0,
                "MaximumPercent": 100,
                "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true },
            },
            "PlacementStrategies": spread(),
            "EnableECSManagedTags": true,
            "PropagateTags": "SERVICE",
        }),
    )
    .depends_on(&["ClusterCapacityProviders"])
    .metadata(
        "idealstack",
        json!({
            "network": "Bridge mode on the container instances: the agent reaches the database (3306) and EFS \
                (2049) through the instance security group, which the network stack's DatabaseSecurityGroup \
                and EfsSecurityGroup admit, and AWS APIs through the instances' egress.",
        }),
    );
}

pub(crate) fn sftp(t: &mut Template, o: &ClusterOptions) {
    t.resource(
        "SftpLoadBalancer",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({
            "Type": "network",
            "Scheme": "internet-facing",
            "IpAddressType": "ipv4",
            "Subnets": r("PublicSubnetIds"),
            "SecurityGroups": [r("SftpSecurityGroupId")],
            "LoadBalancerAttributes": [
                { "Key": "load_balancing.cross_zone.enabled", "Value": "true" },
                { "Key": "deletion_protection.enabled", "Value": "true" },
            ],
        }),
    )
    .skip(&[(
        "CKV_AWS_91",
        "Network load balancers write access logs only for TLS listeners; SFTP is end-to-end \
         SSH over TCP, and the gateway logs every session itself.",
    )]);
    t.resource(
        "SftpTargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        json!({
            "TargetType": "instance",
            "Protocol": "TCP",
            "Port": o.sftp_container_port,
            "VpcId": r("VpcId"),
            "HealthCheckProtocol": "TCP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckIntervalSeconds": 10,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 2,
            "TargetGroupAttributes": [
                { "Key": "deregistration_delay.timeout_seconds", "Value": "60" },
                { "Key": "deregistration_delay.connection_termination.enabled", "Value": "true" },
            ],
        }),
    );
    t.resource(
        "SftpListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r("SftpLoadBalancer"),
            "Port": o.sftp_port,
            "Protocol": "TCP",
            "DefaultActions": [{ "Type": "forward", "TargetGroupArn": r("SftpTargetGroup") }],
        }),
    );
    t.resource(
        "SftpTaskRole",
        "AWS::IAM::Role",
        json!({
            "Description": "The SFTP gateway: every site folder on EFS (it writes as each site's uid), its user store in the state bucket.",
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [inline("sftp", vec![
                allow_if(
                    "MountTheSitesFileSystem",
                    &["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess", "elasticfilesystem:ClientWrite"],
                    json!([sub(FS_ARN)]),
                    json!({ "Bool": { "elasticfilesystem:AccessedViaMountTarget": "true" } }),
                ),
                allow("ReadUserStore", &["s3:GetObject"], json!([sub(&format!("arn:${{AWS::Partition}}:s3:::${{StateBucketName}}/{SFTP_USERS_KEY}"))])),
                // Lets S3 answer "no such key" for a store not written yet (else 403), and the
                // gateway list exactly that key to tell missing from forbidden.
                allow_if(
                    "TellAMissingUserStore",
                    &["s3:ListBucket"],
                    json!([sub("arn:${AWS::Partition}:s3:::${StateBucketName}")]),
                    json!({ "StringEquals": { "s3:prefix": SFTP_USERS_KEY } }),
                ),
                allow_if(
                    "DecryptState",
                    &["kms:Decrypt"],
                    json!([r("KmsKeyArn")]),
                    json!({ "StringEquals": { "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com") } }),
                ),
            ])],
        }),
    );
    execution_role(
        t,
        "SftpExecutionRole",
        "SFTP gateway",
        "SftpLogGroup",
        &o.ecr_repositories,
    );
    t.resource(
        "SftpTaskDefinition",
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": sub("${AWS::StackName}-sftp"),
            "NetworkMode": "bridge",
            "RequiresCompatibilities": ["EC2"],
            "ExecutionRoleArn": ga("SftpExecutionRole", "Arn"),
            "TaskRoleArn": ga("SftpTaskRole", "Arn"),
            "Volumes": [{
                "Name": "sites",
                "EFSVolumeConfiguration": {
                    "FilesystemId": r("FileSystemId"),
                    "RootDirectory": "/",
                    "TransitEncryption": "ENABLED",
                    "AuthorizationConfig": { "IAM": "ENABLED" },
                },
            }],
            "ContainerDefinitions": [{
                "Name": "sftp",
                "Image": sub("${IdealstackImageRepository}:${IdealstackImageTag}"),
                "Command": ["sftp", "serve"],
                "Essential": true,
                "Cpu": 256,
                "Memory": 512,
                "User": "0:0",
                "Privileged": false,
                "ReadonlyRootFilesystem": true,
                "LinuxParameters": {
                    "InitProcessEnabled": true,
                    "Capabilities": { "Drop": ["ALL"], "Add": SFTP_CAPABILITIES },
                },
                "PortMappings": [{ "ContainerPort": o.sftp_container_port, "HostPort": 0, "Protocol": "tcp" }],
                "MountPoints": [{ "SourceVolume": "sites", "ContainerPath": SFTP_EFS_MOUNT, "ReadOnly": false }],
                "Environment": [
                    { "Name": "IDEALSTACK_SFTP_LISTEN", "Value": format!("0.0.0.0:{}", o.sftp_container_port) },
                    { "Name": "IDEALSTACK_SFTP_SITES_ROOT", "Value": format!("{SFTP_EFS_MOUNT}/sites") },
                    { "Name": "IDEALSTACK_SFTP_HOST_KEY_DIR", "Value": format!("{SFTP_EFS_MOUNT}/.idealstack/sftp-host-keys") },
                    { "Name": "IDEALSTACK_SFTP_USERS", "Value": sub(&format!("s3://${{StateBucketName}}/{SFTP_USERS_KEY}")) },
                    { "Name": "AWS_REGION", "Value": r("AWS::Region") },
                ],
                "LogConfiguration": awslogs("SftpLogGroup", "sftp"),
            }],
        }),
    );
    t.resource(
        "SftpService",
        "AWS::ECS::Service",
        json!({
            "Cluster": r("Cluster"),
            "TaskDefinition": r("SftpTaskDefinition"),
            "DesiredCount": o.sftp_desired_count,
            "CapacityProviderStrategy": [{ "CapacityProvider": r("CapacityProvider"), "Weight": 1, "Base": 0 }],
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true },
            },
            "HealthCheckGracePeriodSeconds": 60,
            "LoadBalancers": [{ "ContainerName": "sftp", "ContainerPort": o.sftp_container_port, "TargetGroupArn": r("SftpTargetGroup") }],
            "PlacementStrategies": spread(),
            "EnableECSManagedTags": true,
            "PropagateTags": "SERVICE",
        }),
    )
    .depends_on(&["SftpListener", "ClusterCapacityProviders"]);
}

/// Key of the SFTP gateway's user store in the stack's state bucket: written by
/// `idealstack sftp user`, read by the gateway (`IDEALSTACK_SFTP_USERS`). Re-exported as
/// `idealstack_deploy::state::SFTP_USERS_KEY` beside the other state keys.
pub const SFTP_USERS_KEY: &str = "state/sftp/users.json";

/// Where the SFTP task mounts the EFS root: the sites live in `sites/`, the host key in
/// `.idealstack/sftp-host-keys/`.
const SFTP_EFS_MOUNT: &str = "/mnt/efs";

/// The capabilities the SFTP gateway keeps (it runs as root, every other capability dropped):
/// each session's thread gives up root for the site's uid and gid with setresgid, setgroups and
/// setresuid (`idealstack_sftp::creds`), which need exactly these. It needs no DAC_OVERRIDE: it
/// opens `/sites/<site>` (root-owned, 0755) as its owner, and everything inside as the site.
const SFTP_CAPABILITIES: [&str; 2] = ["SETUID", "SETGID"];

//! The `<stack>-cluster` stack: ECS cluster, the EC2 instances that run every task (launch
//! template on the ECS-optimised AMI, mixed-instances ASG, capacity provider with managed
//! scaling, termination protection and draining), the PHP health daemon and its instance health
//! target group, the agent service and the SFTP service behind a network load balancer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cfn::{Template, ga, r, sub, tag_list};
use crate::iam::{allow, allow_if, ecr_pull, ecs_tasks_trust, inline, trust};
use crate::options::{ClusterOptions, DYNAMIC_PORTS, PHP_CONTAINER_PORT, default_php_tmpfs};
use crate::{
    ParameterValue, StackKind, StackSpec, cluster_stack_name, data_stack_name, network_stack_name,
    spec,
};

/// The public SSM parameter of the current ECS-optimised Amazon Linux 2023 AMI.
pub const ECS_AMI_PARAMETER: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

const FS_ARN: &str = "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/${FileSystemId}";
const CLUSTER_ARN: &str =
    "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${AWS::StackName}";

/// Builds the cluster stack.
pub fn cluster(o: &ClusterOptions) -> StackSpec {
    debug_assert!(!o.instance_types.is_empty(), "at least one instance type");
    let name = cluster_stack_name(&o.stack);
    let network = network_stack_name(&o.stack);
    let data = data_stack_name(&o.stack);
    let mut t = Template::new(&format!(
        "idealstack {name}: ECS cluster of stack {} - instances on the ECS-optimised AMI in a \
         mixed-instances ASG with a capacity provider, the PHP health daemon that lets the ASG \
         replace an instance whose PHP stops answering, the agent, and the SFTP gateway behind a \
         network load balancer.",
        o.stack
    ));
    let mut params = BTreeMap::new();
    let mut from = |t: &mut Template, p: &str, ty: &str, stack: &str, desc: &str| {
        t.param(p, ty, desc);
        params.insert(p.to_string(), ParameterValue::from_output(stack, p));
    };
    from(&mut t, "VpcId", "AWS::EC2::VPC::Id", &network, "The VPC.");
    from(
        &mut t,
        "PublicSubnetIds",
        "List<AWS::EC2::Subnet::Id>",
        &network,
        "Public subnets (SFTP load balancer).",
    );
    from(
        &mut t,
        "PrivateSubnetIds",
        "List<AWS::EC2::Subnet::Id>",
        &network,
        "Private subnets (instances).",
    );
    from(
        &mut t,
        "InstanceSecurityGroupId",
        "AWS::EC2::SecurityGroup::Id",
        &network,
        "Security group of the instances.",
    );
    from(
        &mut t,
        "SftpSecurityGroupId",
        "AWS::EC2::SecurityGroup::Id",
        &network,
        "Security group of the SFTP load balancer.",
    );
    from(
        &mut t,
        "FileSystemId",
        "String",
        &data,
        "The sites' EFS file system.",
    );
    from(
        &mut t,
        "KmsKeyArn",
        "String",
        &data,
        "The stack's KMS key (log groups, state bucket).",
    );
    from(
        &mut t,
        "StateBucketName",
        "String",
        &data,
        "The state bucket the agent and SFTP gateway read.",
    );
    if o.has_database {
        from(
            &mut t,
            "DatabaseMasterSecretArn",
            "String",
            &data,
            "The database master secret the agent uses.",
        );
    }
    t.param_default(
        "AmiId",
        "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "ECS-optimised Amazon Linux 2023 AMI, resolved from AWS's public SSM parameter at each deploy.",
        ECS_AMI_PARAMETER,
    );
    for (p, value, desc) in [
        (
            "PhpImageRepository",
            &o.php_image.repository,
            "Repository of the PHP image (health daemon).",
        ),
        (
            "PhpImageTag",
            &o.php_image.tag,
            "Tag of the PHP image, changed on every deploy.",
        ),
        (
            "IdealstackImageRepository",
            &o.idealstack_image.repository,
            "Repository of the idealstack image.",
        ),
        (
            "IdealstackImageTag",
            &o.idealstack_image.tag,
            "Tag of the idealstack image, changed on every deploy.",
        ),
    ] {
        t.param(p, "String", desc);
        params.insert(p.into(), ParameterValue::literal(value));
    }

    t.resource(
        "Cluster",
        "AWS::ECS::Cluster",
        json!({
            "ClusterName": r("AWS::StackName"),
            "ClusterSettings": [{ "Name": "containerInsights", "Value": "enabled" }],
        }),
    );
    let log_group = |t: &mut Template, id: &str, name: Value| {
        t.resource(
            id,
            "AWS::Logs::LogGroup",
            json!({ "LogGroupName": name, "RetentionInDays": o.log_retention_days, "KmsKeyId": r("KmsKeyArn") }),
        )
        .delete();
    };
    log_group(
        &mut t,
        "ContainerInsightsLogGroup",
        sub("/aws/ecs/containerinsights/${AWS::StackName}/performance"),
    );
    for (id, what) in [
        ("HealthLogGroup", "health"),
        ("AgentLogGroup", "agent"),
        ("SftpLogGroup", "sftp"),
    ] {
        log_group(&mut t, id, json!(format!("/idealstack/{}/{what}", o.stack)));
    }

    instances(&mut t, o);
    health(&mut t, o);
    agent(&mut t, o);
    sftp(&mut t, o);

    t.output("ClusterName", r("Cluster"), "The ECS cluster.");
    t.output(
        "ClusterArn",
        ga("Cluster", "Arn"),
        "ARN of the ECS cluster.",
    );
    t.output(
        "CapacityProviderName",
        r("CapacityProvider"),
        "The cluster's EC2 capacity provider.",
    );
    t.output(
        "AutoScalingGroupName",
        r("AutoScalingGroup"),
        "The instances' Auto Scaling group.",
    );
    t.output(
        "SftpEndpoint",
        ga("SftpLoadBalancer", "DNSName"),
        "Host name of the SFTP gateway.",
    );
    spec(
        name,
        StackKind::Cluster,
        t.finish(),
        params,
        &o.stack,
        &o.tags,
        &[],
    )
}

fn instances(t: &mut Template, o: &ClusterOptions) {
    let container_instances = sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:container-instance/${AWS::StackName}/*",
    );
    t.resource(
        "InstanceRole",
        "AWS::IAM::Role",
        json!({
            "Description": "ECS container instances: what the ECS agent needs on this cluster, nothing else. \
                            Tasks get their own roles; IMDS is out of their reach (hop limit 1).",
            "AssumeRolePolicyDocument": trust("ec2.amazonaws.com", None, false),
            "Policies": [inline("ecs-agent", vec![
                allow(
                    "RegisterWithThisCluster",
                    &[
                        "ecs:DeregisterContainerInstance", "ecs:RegisterContainerInstance",
                        "ecs:SubmitAttachmentStateChanges", "ecs:SubmitContainerStateChange",
                        "ecs:SubmitTaskStateChange",
                    ],
                    json!([sub(CLUSTER_ARN)]),
                ),
                allow(
                    "ActAsItsContainerInstance",
                    &["ecs:Poll", "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState"],
                    json!([container_instances.clone()]),
                ),
                allow_if(
                    "TagItselfOnRegistration",
                    &["ecs:TagResource"],
                    json!([container_instances]),
                    json!({ "StringEquals": { "ecs:CreateAction": "RegisterContainerInstance" } }),
                ),
                // DiscoverPollEndpoint has no resource-level permissions: `*` is its only resource.
                allow("DiscoverPollEndpoint", &["ecs:DiscoverPollEndpoint"], json!("*")),
            ])],
        }),
    );
    t.resource(
        "InstanceProfile",
        "AWS::IAM::InstanceProfile",
        json!({ "Roles": [r("InstanceRole")] }),
    );
    let (lo, hi) = DYNAMIC_PORTS;
    let user_data = format!(
        "#!/bin/bash\n\
         set -euo pipefail\n\
         cat >> /etc/ecs/ecs.config <<'EOF'\n\
         ECS_CLUSTER=${{Cluster}}\n\
         ECS_DYNAMIC_HOST_PORT_RANGE={lo}-{hi}\n\
         ECS_ENABLE_TASK_IAM_ROLE=true\n\
         ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false\n\
         ECS_DISABLE_PRIVILEGED=true\n\
         ECS_ENABLE_SPOT_INSTANCE_DRAINING=true\n\
         ECS_CONTAINER_STOP_TIMEOUT=30s\n\
         ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1h\n\
         ECS_IMAGE_PULL_BEHAVIOR=prefer-cached\n\
         ECS_RESERVED_MEMORY=256\n\
         ECS_ENABLE_CONTAINER_METADATA=true\n\
         ECS_LOGLEVEL=info\n\
         EOF\n"
    );
    let name_tags = |what: &str| tag_list(&[("Name", sub(&format!("${{AWS::StackName}}-{what}")))]);
    t.resource(
        "LaunchTemplate",
        "AWS::EC2::LaunchTemplate",
        json!({
            "LaunchTemplateData": {
                "ImageId": r("AmiId"),
                "IamInstanceProfile": { "Arn": ga("InstanceProfile", "Arn") },
                "SecurityGroupIds": [r("InstanceSecurityGroupId")],
                "MetadataOptions": {
                    "HttpEndpoint": "enabled",
                    "HttpTokens": "required",
                    "HttpPutResponseHopLimit": 1,
                    "InstanceMetadataTags": "disabled",
                },
                "BlockDeviceMappings": [{
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "VolumeSize": o.root_volume_gb,
                        "VolumeType": "gp3",
                        "Encrypted": true,
                        "DeleteOnTermination": true,
                    },
                }],
                "Monitoring": { "Enabled": true },
                "UserData": { "Fn::Base64": sub(&user_data) },
                "TagSpecifications": [
                    { "ResourceType": "instance", "Tags": name_tags("instance") },
                    { "ResourceType": "volume", "Tags": name_tags("instance") },
                ],
            },
        }),
    );
    let overrides: Vec<Value> = o
        .instance_types
        .iter()
        .map(|it| json!({ "InstanceType": it }))
        .collect();
    t.resource(
        "AutoScalingGroup",
        "AWS::AutoScaling::AutoScalingGroup",
        json!({
            "AutoScalingGroupName": sub("${AWS::StackName}-instances"),
            "MinSize": o.min_instances.to_string(),
            "MaxSize": o.max_instances.to_string(),
            "VPCZoneIdentifier": r("PrivateSubnetIds"),
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateId": r("LaunchTemplate"),
                        "Version": ga("LaunchTemplate", "LatestVersionNumber"),
                    },
                    "Overrides": overrides,
                },
                "InstancesDistribution": {
                    "OnDemandAllocationStrategy": "prioritized",
                    "OnDemandBaseCapacity": o.on_demand_base_capacity,
                    "OnDemandPercentageAboveBaseCapacity": o.on_demand_percentage_above_base,
                    "SpotAllocationStrategy": "price-capacity-optimized",
                },
            },
            "CapacityRebalance": true,
            "HealthCheckType": "ELB",
            "HealthCheckGracePeriod": 300,
            "DefaultInstanceWarmup": 180,
            "TargetGroupARNs": [r("HealthTargetGroup")],
            "TerminationPolicies": ["OldestLaunchTemplate", "OldestInstance"],
            "NewInstancesProtectedFromScaleIn": true,
            "MetricsCollection": [{ "Granularity": "1Minute" }],
            "Tags": [{ "Key": "Name", "Value": sub("${AWS::StackName}-instance"), "PropagateAtLaunch": true }],
        }),
    )
    .metadata(
        "idealstack",
        json!({
            "instance-replacement": "A new AMI or launch template version reaches running instances through the \
                idealstack agent, which drains and replaces them one at a time (ECS managed draining); \
                CloudFormation never replaces instances itself, so no UpdatePolicy.",
        }),
    );
    t.resource(
        "CapacityProvider",
        "AWS::ECS::CapacityProvider",
        json!({
            "AutoScalingGroupProvider": {
                "AutoScalingGroupArn": r("AutoScalingGroup"),
                "ManagedScaling": {
                    "Status": "ENABLED",
                    "TargetCapacity": o.target_capacity_percent,
                    "MinimumScalingStepSize": 1,
                    "MaximumScalingStepSize": 10,
                    "InstanceWarmupPeriod": 180,
                },
                "ManagedTerminationProtection": "ENABLED",
                "ManagedDraining": "ENABLED",
            },
        }),
    );
    t.resource(
        "ClusterCapacityProviders",
        "AWS::ECS::ClusterCapacityProviderAssociations",
        json!({
            "Cluster": r("Cluster"),
            "CapacityProviders": [r("CapacityProvider")],
            "DefaultCapacityProviderStrategy": [{ "CapacityProvider": r("CapacityProvider"), "Weight": 1, "Base": 0 }],
        }),
    );
}

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

fn health(t: &mut Template, o: &ClusterOptions) {
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
                "Memory": 192,
                "MemoryReservation": 96,
                "User": "33:33",
                "Privileged": false,
                "ReadonlyRootFilesystem": true,
                "LinuxParameters": { "InitProcessEnabled": true, "Tmpfs": tmpfs() },
                "PortMappings": [{ "ContainerPort": PHP_CONTAINER_PORT, "HostPort": o.health_check_port, "Protocol": "tcp" }],
                "Environment": [{ "Name": "IDEALSTACK_ROLE", "Value": "health" }],
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

fn agent(t: &mut Template, o: &ClusterOptions) {
    let services = sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${AWS::StackName}/*",
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
        allow(
            "ScaleThisClustersInstances",
            &[
                "autoscaling:SetDesiredCapacity",
                "autoscaling:SetInstanceProtection",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "autoscaling:UpdateAutoScalingGroup",
            ],
            json!([sub(
                "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${AWS::StackName}-instances"
            )]),
        ),
        // Describe calls of Auto Scaling, Elastic Load Balancing and CloudWatch have no
        // resource-level permissions: `*` is their only valid resource.
        allow(
            "ObserveInstancesTargetsAndMetrics",
            &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeScalingActivities",
                "cloudwatch:GetMetricData",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            json!("*"),
        ),
        allow(
            "ReadTheAmiParameter",
            &["ssm:GetParameter"],
            json!([sub(&format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}::parameter{ECS_AMI_PARAMETER}"
            ))]),
        ),
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
            &[
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
            ],
            json!([sub(
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
            )]),
            json!({ "StringEquals": {
                "aws:ResourceTag/idealstack:stack": o.stack,
                "aws:ResourceTag/idealstack:purpose": "site-database",
            } }),
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
            "Description": "The idealstack agent: reconciles this cluster's services, instances and site databases.",
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
    let mut env = vec![
        json!({ "Name": "IDEALSTACK_STACK", "Value": o.stack }),
        json!({ "Name": "IDEALSTACK_CLUSTER", "Value": r("Cluster") }),
        json!({ "Name": "IDEALSTACK_AUTOSCALING_GROUP", "Value": sub("${AWS::StackName}-instances") }),
        json!({ "Name": "IDEALSTACK_STATE_BUCKET", "Value": r("StateBucketName") }),
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
            "ContainerDefinitions": [{
                "Name": "agent",
                "Image": sub("${IdealstackImageRepository}:${IdealstackImageTag}"),
                "Command": ["agent"],
                "Essential": true,
                "Cpu": 128,
                "Memory": 256,
                "User": "65534:65534",
                "Privileged": false,
                "ReadonlyRootFilesystem": true,
                "LinuxParameters": { "InitProcessEnabled": true },
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
            // One reconciler at a time: the old task stops before the new one starts.
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
    .depends_on(&["ClusterCapacityProviders"]);
}

fn sftp(t: &mut Template, o: &ClusterOptions) {
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
            "Description": "The SFTP gateway: every site folder on EFS (it writes as each site's uid), the state bucket.",
            "AssumeRolePolicyDocument": ecs_tasks_trust(),
            "Policies": [inline("sftp", vec![
                allow_if(
                    "MountTheSitesFileSystem",
                    &["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess", "elasticfilesystem:ClientWrite"],
                    json!([sub(FS_ARN)]),
                    json!({ "Bool": { "elasticfilesystem:AccessedViaMountTarget": "true" } }),
                ),
                allow("ReadState", &["s3:GetObject"], json!([sub("arn:${AWS::Partition}:s3:::${StateBucketName}/*")])),
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
                "Command": ["sftp"],
                "Essential": true,
                "Cpu": 256,
                "Memory": 512,
                "Privileged": false,
                "ReadonlyRootFilesystem": true,
                "LinuxParameters": { "InitProcessEnabled": true },
                "PortMappings": [{ "ContainerPort": o.sftp_container_port, "HostPort": 0, "Protocol": "tcp" }],
                "MountPoints": [{ "SourceVolume": "sites", "ContainerPath": "/mnt/efs", "ReadOnly": false }],
                "Environment": [
                    { "Name": "IDEALSTACK_STACK", "Value": o.stack },
                    { "Name": "IDEALSTACK_STATE_BUCKET", "Value": r("StateBucketName") },
                    { "Name": "IDEALSTACK_SFTP_LISTEN", "Value": format!("0.0.0.0:{}", o.sftp_container_port) },
                    { "Name": "IDEALSTACK_SFTP_ROOT", "Value": "/mnt/efs/sites" },
                    { "Name": "IDEALSTACK_SFTP_HOST_KEY_DIR", "Value": "/mnt/efs/.idealstack/sftp-host-keys" },
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

//! The `<stack>-cluster` stack: ECS cluster, the EC2 instances that run every task (launch
//! template on the ECS-optimised AMI, mixed-instances ASG, capacity provider with managed
//! draining; the agent is the scaler, so no managed scaling), the PHP health daemon and its instance health
//! target group, the agent service and the SFTP service behind a network load balancer (the
//! services themselves are in `services.rs`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Architecture;
use crate::cfn::{Template, ga, r, sub, tag_list};
use crate::iam::{allow, allow_if, inline, trust};
use crate::options::{ClusterOptions, DYNAMIC_PORTS};
use crate::services::{agent, health, sftp};
use crate::{
    ParameterValue, StackKind, StackSpec, cluster_stack_name, data_stack_name, network_stack_name,
    spec,
};

/// The public SSM parameter of the current ECS-optimised Amazon Linux 2023 AMI for `arch`.
pub fn ecs_ami_parameter(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => {
            "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
        }
        Architecture::Arm64 => {
            "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
        }
    }
}

pub(crate) const FS_ARN: &str = "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/${FileSystemId}";
pub(crate) const CLUSTER_ARN: &str =
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
                // EC2 resolves AWS's public parameter at each launch, so every new instance (and
                // every instance an instance refresh brings) runs the newest ECS-optimised AMI
                // without a deploy; the agent starts the refresh when the parameter moves on.
                "ImageId": format!("resolve:ssm:{}", ecs_ami_parameter(o.architecture)),
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
    // The health target group must belong to a load balancer before instances register in it.
    .depends_on(&["HealthListener"])
    .metadata(
        "idealstack",
        json!({
            "instance-replacement": "The launch template names the AMI as AWS's public SSM parameter \
                (resolve:ssm), so new instances always start on the newest ECS-optimised AMI. Running \
                instances reach it through the idealstack agent: when the parameter names an AMI some \
                instances do not run, it starts an instance refresh keeping 100% healthy (new instances \
                first, ECS managed draining on each old one, matching instances not skipped since the \
                template version does not change). CloudFormation never replaces instances itself, so no \
                UpdatePolicy.",
            "scale-in": "New instances are protected from scale-in, so the group never picks an instance to \
                remove by itself: the agent drains an instance and then terminates it explicitly \
                (TerminateInstanceInAutoScalingGroup, decrementing the capacity).",
        }),
    );
    t.resource(
        "CapacityProvider",
        "AWS::ECS::CapacityProvider",
        json!({
            "AutoScalingGroupProvider": {
                "AutoScalingGroupArn": r("AutoScalingGroup"),
                "ManagedScaling": { "Status": "DISABLED" },
                "ManagedTerminationProtection": "DISABLED",
                "ManagedDraining": "ENABLED",
            },
        }),
    )
    .metadata(
        "idealstack",
        json!({
            "scaling": "The idealstack agent is the cluster's only scaler (instances and each site's tasks, \
                from request rates; see ARCHITECTURE.md): managed scaling would fight it, so it is off, and \
                with it managed termination protection (which needs it). Managed draining stays on: a \
                termination the group starts itself (health replacement, instance refresh, Spot) drains the \
                instance's tasks first.",
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

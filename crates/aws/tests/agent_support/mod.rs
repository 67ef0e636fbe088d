//! Test support for the agent against moto server (`Moto::start_agent`, whose emulator gaps are
//! named in crates/testbed/moto/agent_gaps.py): a stack's cluster, Auto Scaling group, site
//! services, state bucket and lease table; what ECS itself would do and moto does not (the ECS
//! agent registering a new instance, the service scheduler placing tasks and moving them off a
//! draining instance); scripted request rates (moto does not serve CloudWatch's protocol); and
//! reads of the emulator's state for assertions.
//!
//! Shared with crates/cli/tests/cli_agent.rs (included by path).

#![allow(dead_code)]

use aws_config::SdkConfig;
// Through idealstack-aws, so the CLI's tests need no SDK dependency of their own.
use idealstack_agent::folders::SiteFolders;
use idealstack_agent::ports::{AutoScaling, Metrics, PortFuture, Ports};
use idealstack_aws::agent::{
    autoscaling::AutoScalingPort, ecs::EcsPort, elb::HealthTargetGroup, lease::DynamoLease,
    s3::StateBucket, ssm::AmiParameter,
};
use idealstack_aws::sdk::{
    aws_config, aws_sdk_autoscaling, aws_sdk_dynamodb, aws_sdk_ecs, aws_sdk_elasticloadbalancingv2,
    aws_sdk_s3, aws_sdk_ssm,
};
use idealstack_testbed::Moto;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const STACK: &str = "acme";
pub const CLUSTER: &str = "acme-cluster";
pub const GROUP: &str = "acme-cluster-instances";
pub const BUCKET: &str = "acme-state";
pub const TABLE: &str = "acme-agent-lease";
pub const LEASE_KEY: &str = "idealstack-agent#acme";
/// An AMI moto knows (what the launch configuration and so every instance runs).
pub const OLD_AMI: &str = "ami-12c6146b";
/// A newer AMI id, published by the roll-over test.
pub const NEW_AMI: &str = "ami-0fe1ab2c3d4e5f607";
/// The stand-in for AWS's public ECS-optimised AMI parameter.
pub const AMI_PARAM: &str = "/idealstack-test/ecs-optimized-ami";
/// The ECS attributes agent_gaps.py turns into faults (gaps 3 and 4).
pub const DISCONNECT_ATTRIBUTE: &str = "idealstack-moto.agent-connected";
pub const HEALTH_ATTRIBUTE: &str = "idealstack-moto.php-health";

/// The desired state the deployer would write: two sites, 2..8 instances.
pub const DESIRED: &str = r#"{"format":1,"version":"v1","stack":"acme",
  "model":{"stack":{"instances":{"min":2,"max":8}},
           "sites":[{"name":"shop","min_tasks":2,"max_tasks":12,"database":false},
                    {"name":"blog","min_tasks":2,"max_tasks":4,"database":false}]},
  "assignments":{"sites":{"shop":{"uid":20000},"blog":{"uid":20001}}}}"#;

/// The ECS service of `site`.
pub fn service_name(site: &str) -> String {
    format!("acme-site-{site}-Service-X1")
}

/// A moto server with the agent's gaps filled, SDK configuration for it, a runtime.
pub struct Bed {
    pub moto: Moto,
    pub config: SdkConfig,
    pub rt: tokio::runtime::Runtime,
}

impl Bed {
    pub fn start() -> Bed {
        let moto = Moto::start_agent();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(moto.endpoint())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing", "testing", None, None, "moto",
                ))
                .load(),
        );
        Bed { moto, config, rt }
    }
}

pub fn s3(c: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(c)
            .force_path_style(true)
            .build(),
    )
}

pub fn ecs(c: &SdkConfig) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(c)
}

pub fn asg(c: &SdkConfig) -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(c)
}

/// The stack as deployed: cluster, launch configuration on `OLD_AMI`, a group of `instances`
/// registered with ECS, the two site services at 2 tasks (one per instance where possible), the
/// AMI parameter naming `OLD_AMI`, the state bucket with the desired state, the lease table.
pub async fn deploy(c: &SdkConfig, instances: i32) {
    let ecs = ecs(c);
    let asg = asg(c);
    ecs.create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    asg.create_launch_configuration()
        .launch_configuration_name("acme-lc")
        .image_id(OLD_AMI)
        .instance_type("t3.medium")
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .launch_configuration_name("acme-lc")
        .min_size(1)
        .max_size(8)
        .desired_capacity(instances)
        .availability_zones("us-east-1a")
        .availability_zones("us-east-1b")
        .send()
        .await
        .unwrap();
    register_new_instances(c).await;
    ecs.register_task_definition()
        .family("acme-site")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("php")
                .image("php")
                .memory(256)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for site in ["shop", "blog"] {
        ecs.create_service()
            .cluster(CLUSTER)
            .service_name(service_name(site))
            .task_definition("acme-site")
            .desired_count(2)
            .tags(
                aws_sdk_ecs::types::Tag::builder()
                    .key("idealstack:site")
                    .value(site)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    publish_ami(c, OLD_AMI).await;
    let s3 = s3(c);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key("state/desired.json")
        .body(DESIRED.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    use aws_sdk_dynamodb::types::*;
    aws_sdk_dynamodb::Client::new(c)
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Sets the AMI parameter (what AWS does when it publishes a new ECS-optimised AMI).
pub async fn publish_ami(c: &SdkConfig, ami: &str) {
    aws_sdk_ssm::Client::new(c)
        .put_parameter()
        .name(AMI_PARAM)
        .value(ami)
        .overwrite(true)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
}

/// What the ECS agent does at boot (moto's instances run none): registers every InService group
/// instance not yet registered, with its instance identity document.
pub async fn register_new_instances(c: &SdkConfig) {
    let ecs = ecs(c);
    let registered: Vec<String> = container_instances(c)
        .await
        .into_iter()
        .filter_map(|ci| ci.ec2_instance_id)
        .collect();
    for i in group(c).await.instances.unwrap_or_default() {
        let id = i.instance_id.unwrap_or_default();
        if registered.contains(&id)
            || i.lifecycle_state.as_ref().map(|s| s.as_str()) != Some("InService")
        {
            continue;
        }
        ecs.register_container_instance()
            .cluster(CLUSTER)
            .instance_identity_document(format!(r#"{{"instanceId":"{id}"}}"#))
            .send()
            .await
            .unwrap();
    }
}

/// The group as moto holds it.
pub async fn group(c: &SdkConfig) -> aws_sdk_autoscaling::types::AutoScalingGroup {
    asg(c)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(GROUP)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups
        .unwrap()
        .remove(0)
}

/// Ids of the group's instances.
pub async fn group_instance_ids(c: &SdkConfig) -> Vec<String> {
    group(c)
        .await
        .instances
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.instance_id)
        .collect()
}

/// The cluster's container instances as moto holds them (registration order).
pub async fn container_instances(c: &SdkConfig) -> Vec<aws_sdk_ecs::types::ContainerInstance> {
    let ecs = ecs(c);
    let arns = ecs
        .list_container_instances()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap()
        .container_instance_arns
        .unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    let mut out = ecs
        .describe_container_instances()
        .cluster(CLUSTER)
        .set_container_instances(Some(arns))
        .send()
        .await
        .unwrap()
        .container_instances
        .unwrap_or_default();
    out.sort_by_key(|ci| ci.registered_at.map(|t| (t.secs(), t.subsec_nanos())));
    out
}

/// The container instance of EC2 instance `ec2_id`.
pub async fn container_instance_of(
    c: &SdkConfig,
    ec2_id: &str,
) -> aws_sdk_ecs::types::ContainerInstance {
    container_instances(c)
        .await
        .into_iter()
        .find(|ci| ci.ec2_instance_id.as_deref() == Some(ec2_id))
        .unwrap_or_else(|| panic!("no container instance for {ec2_id}"))
}

/// The site's service as moto holds it.
pub async fn service(c: &SdkConfig, site: &str) -> aws_sdk_ecs::types::Service {
    ecs(c)
        .describe_services()
        .cluster(CLUSTER)
        .services(service_name(site))
        .send()
        .await
        .unwrap()
        .services
        .unwrap()
        .remove(0)
}

/// The id of the service's primary deployment (a forced new deployment changes it).
pub async fn deployment_id(c: &SdkConfig, site: &str) -> String {
    service(c, site).await.deployments.unwrap()[0]
        .id
        .clone()
        .unwrap()
}

/// What ECS's service scheduler does (moto's services launch no task): starts `count` tasks of
/// the site's service on the container instance `ci_arn`, in the group ECS gives a service's tasks.
pub async fn place_tasks(c: &SdkConfig, site: &str, ci_arn: &str, count: usize) {
    for _ in 0..count {
        ecs(c)
            .start_task()
            .cluster(CLUSTER)
            .task_definition("acme-site")
            .container_instances(ci_arn)
            .group(format!("service:{}", service_name(site)))
            .send()
            .await
            .unwrap();
    }
}

/// Running tasks on a container instance.
pub async fn tasks_on(c: &SdkConfig, ci_arn: &str) -> Vec<aws_sdk_ecs::types::Task> {
    let ecs = ecs(c);
    let arns = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .container_instance(ci_arn)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    ecs.describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap()
        .tasks
        .unwrap_or_default()
}

/// What ECS's service scheduler does for a DRAINING container instance: each of its service tasks
/// is started on the ACTIVE instance with the fewest running tasks, then stopped on the draining
/// one. Returns how many tasks moved.
pub async fn scheduler_moves_tasks_off_draining(c: &SdkConfig) -> usize {
    let ecs = ecs(c);
    let mut moved = 0;
    for ci in container_instances(c).await {
        if ci.status.as_deref() != Some("DRAINING") {
            continue;
        }
        for task in tasks_on(c, ci.container_instance_arn.as_deref().unwrap()).await {
            let target = container_instances(c)
                .await
                .into_iter()
                .filter(|o| o.status.as_deref() == Some("ACTIVE") && o.agent_connected)
                .min_by_key(|o| o.running_tasks_count)
                .expect("an active instance to move tasks to");
            ecs.start_task()
                .cluster(CLUSTER)
                .task_definition(task.task_definition_arn.clone().unwrap())
                .container_instances(target.container_instance_arn.unwrap())
                .group(task.group.clone().unwrap())
                .send()
                .await
                .unwrap();
            ecs.stop_task()
                .cluster(CLUSTER)
                .task(task.task_arn.unwrap())
                .reason("container instance draining")
                .send()
                .await
                .unwrap();
            moved += 1;
        }
    }
    moved
}

/// Sets an ECS attribute on a container instance (agent_gaps.py turns two into faults).
pub async fn put_attribute(c: &SdkConfig, ci_arn: &str, name: &str, value: &str) {
    ecs(c)
        .put_attributes()
        .cluster(CLUSTER)
        .attributes(
            aws_sdk_ecs::types::Attribute::builder()
                .name(name)
                .value(value)
                .target_id(ci_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The instance refreshes moto recorded for the group (agent_gaps.py gap 1).
pub async fn instance_refreshes(c: &SdkConfig) -> Vec<aws_sdk_autoscaling::types::InstanceRefresh> {
    asg(c)
        .describe_instance_refreshes()
        .auto_scaling_group_name(GROUP)
        .send()
        .await
        .unwrap()
        .instance_refreshes
        .unwrap_or_default()
}

/// The id of moto's default VPC, through boto3 from the project's venv (this crate builds no EC2
/// client just for one test's lookup).
pub fn default_vpc(moto: &Moto) -> String {
    let out = std::process::Command::new(idealstack_testbed::venv_tool("python"))
        .arg("-c")
        .arg(
            "import boto3, sys; ec2 = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing'); \
             print(ec2.describe_vpcs(Filters=[{'Name': 'isDefault', 'Values': ['true']}])['Vpcs'][0]['VpcId'])",
        )
        .arg(moto.endpoint())
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "describe_vpcs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The lease item's holder.
pub async fn lease_holder(c: &SdkConfig) -> Option<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = aws_sdk_dynamodb::Client::new(c)
        .get_item()
        .table_name(TABLE)
        .key("id", AttributeValue::S(LEASE_KEY.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    item.get("holder").and_then(|v| v.as_s().ok()).cloned()
}

/// Scripted request rates: moto does not serve CloudWatch's protocol (the real implementation is
/// `idealstack_aws::agent::cloudwatch`).
#[derive(Clone, Default)]
pub struct Rates(pub Arc<Mutex<BTreeMap<String, f64>>>);

impl Rates {
    pub fn new(shop: f64, blog: f64) -> Rates {
        Rates(Arc::new(Mutex::new(BTreeMap::from([
            ("shop".into(), shop),
            ("blog".into(), blog),
        ]))))
    }
}

impl Metrics for Rates {
    fn request_rates<'a>(&'a self, _sites: &'a [String]) -> PortFuture<'a, BTreeMap<String, f64>> {
        let r = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(r) })
    }
}

/// The agent's real AWS ports on moto, except metrics (scripted); `health_target_group` is the
/// PHP health-check target group when the test has one.
pub fn ports(
    c: &SdkConfig,
    rates: &Rates,
    sites_root: &std::path::Path,
    health_target_group: Option<String>,
) -> Ports {
    Ports {
        state: Box::new(StateBucket::new(s3(c), BUCKET)),
        ecs: Box::new(EcsPort::new(ecs(c), CLUSTER, STACK)),
        autoscaling: Box::new(AutoScalingPort::new(asg(c), GROUP)) as Box<dyn AutoScaling>,
        load_balancer: Box::new(HealthTargetGroup::new(
            aws_sdk_elasticloadbalancingv2::Client::new(c),
            health_target_group,
        )),
        metrics: Box::new(rates.clone()),
        images: Box::new(AmiParameter::new(aws_sdk_ssm::Client::new(c), AMI_PARAM)),
        secrets: None,
        databases: None,
        folders: Box::new(SiteFolders::new(sites_root)),
        lease: Box::new(DynamoLease::new(
            aws_sdk_dynamodb::Client::new(c),
            TABLE,
            "id",
            LEASE_KEY,
        )),
    }
}

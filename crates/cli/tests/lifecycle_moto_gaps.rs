//! The CloudFormation gaps of stock moto server that `lifecycle_support/moto_cfn.py` fills are
//! still there. If one of these fails after a moto upgrade, moto fixed the gap: remove its patch
//! from moto_cfn.py (and the line here) so the tests exercise moto's own behaviour.

use std::collections::BTreeMap;

use idealstack_aws::deploy::Aws;
use idealstack_deploy::ports::{ChangeSetRequest, StackApi, TemplateSource};
use idealstack_testbed::Moto;

const TEMPLATE: &str = r#"{
  "Resources": {
    "Table": {
      "Type": "AWS::DynamoDB::Table",
      "Properties": {
        "TableName": "gap-sessions",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]
      }
    }
  },
  "Outputs": {"TableName": {"Value": {"Ref": "Table"}}}
}"#;

fn request(create: bool, template: &str) -> ChangeSetRequest {
    ChangeSetRequest {
        stack: "gap".into(),
        name: if create { "c1".into() } else { "c2".into() },
        create,
        template: TemplateSource::Body(template.into()),
        parameters: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

#[test]
fn stock_moto_still_has_the_named_change_set_gaps() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let id = StackApi::create_change_set(&aws, &request(true, TEMPLATE)).unwrap();
    StackApi::execute_change_set(&aws, "gap", &id).unwrap();
    let stack = StackApi::describe(&aws, "gap").unwrap().unwrap();
    // Gap 3 (ASYNC): execution finished before ExecuteChangeSet answered.
    assert_eq!(stack.status, "CREATE_COMPLETE", "gap 3 fixed?");
    // Gap 1 (OUTPUTS): no outputs after a CREATE change set.
    assert!(
        stack.outputs.is_empty(),
        "gap 1 fixed? outputs: {:?}",
        stack.outputs
    );
    // Gap 4 (RESOURCE EVENTS): only stack-level events.
    let events = StackApi::events(&aws, "gap").unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.resource_type == "AWS::CloudFormation::Stack"),
        "gap 4 fixed? {events:?}"
    );
    // Gap 10 (REPLACEMENT): renaming a table replaces it, but moto does not say so.
    let renamed = TEMPLATE.replace("gap-sessions", "gap-sessions-2");
    let id = StackApi::create_change_set(&aws, &request(false, &renamed)).unwrap();
    let cs = StackApi::describe_change_set(&aws, "gap", &id).unwrap();
    let table = cs
        .changes
        .iter()
        .find(|c| c.logical_id == "Table")
        .expect("a change of Table");
    assert_eq!(table.action, "Modify");
    assert_ne!(table.replacement.as_deref(), Some("True"), "gap 10 fixed?");
    // Gap 15 (STACK POLICY): a policy that denies replacing the table is not enforced.
    StackApi::set_stack_policy(
        &aws,
        "gap",
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"Update:*","Resource":"LogicalResourceId/Table"}]}"#,
    )
    .unwrap();
    StackApi::execute_change_set(&aws, "gap", &id).unwrap();
    assert_eq!(
        StackApi::describe(&aws, "gap").unwrap().unwrap().status,
        "UPDATE_COMPLETE",
        "gap 15 fixed?"
    );
}

/// A task definition whose image names a parameter through `Fn::Sub` (gaps 12 and 13), and a
/// listener for gap 14's rule.
const ECS_AND_LISTENER: &str = r#"{
  "Parameters": {"Tag": {"Type": "String"}},
  "Resources": {
    "Task": {
      "Type": "AWS::ECS::TaskDefinition",
      "Properties": {
        "Family": "gap-task",
        "ContainerDefinitions": [{"Name": "php", "Image": {"Fn::Sub": "php:${Tag}"}, "Memory": 128}]
      }
    },
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
    "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.0.0/24", "AvailabilityZone": "us-east-1a"}},
    "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.1.0/24", "AvailabilityZone": "us-east-1b"}},
    "Balancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
    "Targets": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 80, "Protocol": "HTTP", "VpcId": {"Ref": "Vpc"}}},
    "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
      "LoadBalancerArn": {"Ref": "Balancer"}, "Port": 80, "Protocol": "HTTP",
      "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Targets"}}]}}
  },
  "Outputs": {"Listener": {"Value": {"Ref": "Listener"}}}
}"#;

/// A listener rule in a stack of its own, as a site's rules live apart from its shard's listener.
const RULE: &str = r#"{
  "Parameters": {"Listener": {"Type": "String"}, "Targets": {"Type": "String"}},
  "Resources": {"Rule": {
    "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
    "Properties": {
      "ListenerArn": {"Ref": "Listener"}, "Priority": 7,
      "Conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["gap.example.com"]}}],
      "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Targets"}}]
    }
  }}
}"#;

/// The change set that creates stack `stack` from `template`.
fn create_request(stack: &str, template: &str) -> ChangeSetRequest {
    ChangeSetRequest {
        stack: stack.into(),
        name: "c1".into(),
        create: true,
        template: TemplateSource::Body(template.into()),
        parameters: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

fn with_tag(create: bool, name: &str, template: &str, tag: &str) -> ChangeSetRequest {
    ChangeSetRequest {
        stack: "gap-ecs".into(),
        name: name.into(),
        create,
        template: TemplateSource::Body(template.into()),
        parameters: BTreeMap::from([("Tag".to_string(), tag.to_string())]),
        tags: BTreeMap::new(),
    }
}

#[test]
fn stock_moto_still_has_the_named_update_gaps() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let template = ECS_AND_LISTENER.to_string();
    let id = StackApi::create_change_set(&aws, &with_tag(true, "c1", &template, "8.3")).unwrap();
    StackApi::execute_change_set(&aws, "gap-ecs", &id).unwrap();
    assert_eq!(
        aws.task_image("gap-task").unwrap().as_deref(),
        Some("php:8.3")
    );

    // Gap 12 (PARAMETER-ONLY UPDATES): a new parameter value used through Fn::Sub changes nothing.
    let id = StackApi::create_change_set(&aws, &with_tag(false, "c2", &template, "8.4")).unwrap();
    let cs = StackApi::describe_change_set(&aws, "gap-ecs", &id).unwrap();
    assert!(cs.changes.is_empty(), "gap 12 fixed? {:?}", cs.changes);

    // Gap 13 (TASK DEFINITION UPDATE): the new revision has no image that the API shows.
    let changed = template.replace("php:${Tag}", "php-fpm:${Tag}");
    let id = StackApi::create_change_set(&aws, &with_tag(false, "c3", &changed, "8.3")).unwrap();
    StackApi::execute_change_set(&aws, "gap-ecs", &id).unwrap();
    assert_eq!(aws.task_image("gap-task").unwrap(), None, "gap 13 fixed?");

    // Gap 14 (LISTENER RULE DELETE): the rule outlives its stack.
    let physical = |ty: &str| {
        aws.stack_resources_of_type("gap-ecs", ty)
            .unwrap()
            .remove(0)
    };
    let listener = physical("AWS::ElasticLoadBalancingV2::Listener");
    let rule_stack = ChangeSetRequest {
        stack: "gap-rule".into(),
        name: "r1".into(),
        create: true,
        template: TemplateSource::Body(RULE.into()),
        parameters: BTreeMap::from([
            ("Listener".to_string(), listener.clone()),
            (
                "Targets".to_string(),
                physical("AWS::ElasticLoadBalancingV2::TargetGroup"),
            ),
        ]),
        tags: BTreeMap::new(),
    };
    let id = StackApi::create_change_set(&aws, &rule_stack).unwrap();
    StackApi::execute_change_set(&aws, "gap-rule", &id).unwrap();
    let hosts = |aws: &Aws| -> Vec<Vec<String>> {
        aws.listener_rules(&listener)
            .unwrap()
            .into_iter()
            .map(|r| r.hosts)
            .collect()
    };
    assert!(hosts(&aws).contains(&vec!["gap.example.com".to_string()]));
    StackApi::delete(&aws, "gap-rule").unwrap();
    assert!(
        hosts(&aws).contains(&vec!["gap.example.com".to_string()]),
        "gap 14 fixed?"
    );
}

/// A database and a parameter naming its endpoint: what gap 16 is about.
const DATABASE_AND_NAME: &str = r#"{
  "Resources": {
    "Database": {"Type": "AWS::RDS::DBInstance", "Properties": {
      "DBInstanceIdentifier": "gap-db", "Engine": "mysql", "DBInstanceClass": "db.t3.micro",
      "AllocatedStorage": "20", "MasterUsername": "admin", "MasterUserPassword": "gap-password-1"}},
    "Name": {"Type": "AWS::SSM::Parameter", "Properties": {
      "Name": "/gap/database", "Type": "String", "Description": "first",
      "Value": {"Fn::GetAtt": ["Database", "Endpoint.Address"]}}}
  }
}"#;

#[test]
fn stock_moto_still_loses_a_resource_it_cannot_update() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let create = create_request("gap-db", DATABASE_AND_NAME);
    let id = StackApi::create_change_set(&aws, &create).unwrap();
    StackApi::execute_change_set(&aws, "gap-db", &id).unwrap();
    assert_eq!(
        StackApi::describe(&aws, "gap-db").unwrap().unwrap().status,
        "CREATE_COMPLETE"
    );
    // Gap 16 (UPDATE WITHOUT AN UPDATE MODEL): the database changes, then the parameter that
    // names it can no longer be resolved.
    let changed = DATABASE_AND_NAME
        .replace("\"20\"", "\"30\"")
        .replace("\"first\"", "\"second\"");
    let update = ChangeSetRequest {
        name: "c2".into(),
        create: false,
        template: TemplateSource::Body(changed),
        ..create
    };
    let id = StackApi::create_change_set(&aws, &update).unwrap();
    let executed = StackApi::execute_change_set(&aws, "gap-db", &id);
    assert!(
        executed
            .as_ref()
            .is_err_and(|e| e.message.contains("undefined resource Database")),
        "gap 16 fixed? {executed:?}"
    );
}

/// A network load balancer with deletion protection, as the cluster stack makes it (gap 17).
const PROTECTED_LOAD_BALANCER: &str = r#"{
  "Resources": {
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.8.0.0/16"}},
    "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.0.0/24", "AvailabilityZone": "us-east-1a"}},
    "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.1.0/24", "AvailabilityZone": "us-east-1b"}},
    "Balancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
      "Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}],
      "LoadBalancerAttributes": [{"Key": "deletion_protection.enabled", "Value": "true"}]}}
  }
}"#;

#[test]
fn stock_moto_still_deletes_protected_load_balancers() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let create = create_request("gap-lb", PROTECTED_LOAD_BALANCER);
    let id = StackApi::create_change_set(&aws, &create).unwrap();
    StackApi::execute_change_set(&aws, "gap-lb", &id).unwrap();
    // Gap 17 (DELETION PROTECTION): the template's attribute is not applied...
    assert_eq!(
        aws.stack_load_balancers_protection("gap-lb").unwrap(),
        [false],
        "gap 17 fixed?"
    );
    // ...and a load balancer protected through the API is deleted with its stack.
    assert_eq!(
        aws.set_stack_load_balancers_protection("gap-lb", true)
            .unwrap(),
        1
    );
    StackApi::delete(&aws, "gap-lb").unwrap();
    assert!(
        StackApi::describe(&aws, "gap-lb").unwrap().is_none(),
        "gap 17 fixed? the stack of a protected load balancer was not deleted"
    );
}

#[test]
fn stock_moto_still_skips_listener_certificates() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let template = r#"{"Resources": {"Extra": {"Type": "AWS::ElasticLoadBalancingV2::ListenerCertificate",
      "Properties": {"ListenerArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/none/0/0",
      "Certificates": [{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/none"}]}}}}"#;
    let create = create_request("gap-cert", template);
    let id = StackApi::create_change_set(&aws, &create).unwrap();
    let executed = StackApi::execute_change_set(&aws, "gap-cert", &id);
    // Gap 19 (LISTENER CERTIFICATE): a certificate for a listener that does not exist is "created".
    assert!(executed.is_ok(), "gap 19 fixed? {executed:?}");
    assert_eq!(
        StackApi::describe(&aws, "gap-cert")
            .unwrap()
            .unwrap()
            .status,
        "CREATE_COMPLETE",
        "gap 19 fixed?"
    );
}

/// A JSON-protocol call to the emulator (`X-Amz-Target`), as any SDK makes it.
fn json_api(endpoint: &str, service: &str, target: &str, body: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "Content-Type: application/x-amz-json-1.1"])
        .args(["-H", &format!("X-Amz-Target: {target}"), "-H"])
        .arg(format!("Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"))
        .args(["--data-binary", body])
        .arg(format!("{endpoint}/"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{target}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn stock_moto_still_drops_what_a_cluster_needs() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let template = r#"{"Resources": {
      "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"GenerateSecretString":
        {"SecretStringTemplate": "{\"username\":\"u\"}", "GenerateStringKey": "password"}}},
      "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
      "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "gap-cluster"}},
      "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Family": "gap-task",
        "TaskRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
        "Volumes": [{"Name": "site", "EFSVolumeConfiguration": {"FilesystemId": "fs-1"}}],
        "ContainerDefinitions": [{"Name": "php", "Image": "php", "Memory": 128,
          "Secrets": [{"Name": "P", "ValueFrom": {"Fn::Sub": "${Secret}:password::"}}]}]}},
      "Service": {"Type": "AWS::ECS::Service", "Properties": {"Cluster": {"Ref": "Cluster"},
        "TaskDefinition": {"Ref": "Task"}, "DesiredCount": 1,
        "LoadBalancers": [{"TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1",
          "ContainerName": "php", "ContainerPort": 8080}]}},
      "Database": {"Type": "AWS::RDS::DBInstance", "Properties": {"Engine": "mysql",
        "DBInstanceIdentifier": "gap-db", "DBInstanceClass": "db.t3.micro", "AllocatedStorage": "20",
        "MasterUsername": "admin", "ManageMasterUserPassword": true}}}}"#;
    let create = create_request("gap-cluster", template);
    let id = StackApi::create_change_set(&aws, &create).unwrap();
    StackApi::execute_change_set(&aws, "gap-cluster", &id).unwrap();
    let endpoint = moto.endpoint();
    let ecs = "AmazonEC2ContainerServiceV20141113";
    let task = json_api(
        &endpoint,
        "ecs",
        &format!("{ecs}.DescribeTaskDefinition"),
        r#"{"taskDefinition": "gap-task"}"#,
    );
    let td = &task["taskDefinition"];
    // Gap 20 (SECRETS MANAGER SECRET): `Ref` to the secret is left unresolved.
    assert_eq!(
        td["containerDefinitions"][0]["secrets"][0]["valueFrom"], "${Secret}:password::",
        "gap 20 fixed? {td}"
    );
    // Gap 22 (TASK DEFINITION PROPERTIES): no role, the volume's keys renamed one by one.
    assert!(td["taskRoleArn"].is_null(), "gap 22 fixed? {td}");
    assert!(
        td["volumes"][0]["efsVolumeConfiguration"].is_null(),
        "gap 22 fixed? {td}"
    );
    // Gap 23 (SERVICE LOAD BALANCERS): the service has no target group.
    let services = json_api(
        &endpoint,
        "ecs",
        &format!("{ecs}.ListServices"),
        r#"{"cluster": "gap-cluster"}"#,
    );
    let described = json_api(
        &endpoint,
        "ecs",
        &format!("{ecs}.DescribeServices"),
        &serde_json::json!({"cluster": "gap-cluster", "services": services["serviceArns"]})
            .to_string(),
    );
    let lbs = &described["services"][0]["loadBalancers"];
    assert!(
        lbs.as_array().is_none_or(|l| l.is_empty()),
        "gap 23 fixed? {described}"
    );
    // Gap 21 (RDS MANAGED MASTER PASSWORD): no master secret.
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", "-H"])
        .arg("Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/rds/aws4_request, SignedHeaders=host, Signature=0")
        .args(["--data", "Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier=gap-db"])
        .arg(format!("{endpoint}/"))
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("gap-db"), "{xml}");
    assert!(!xml.contains("<MasterUserSecret>"), "gap 21 fixed? {xml}");
}

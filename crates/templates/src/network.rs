//! The `<stack>-network` stack: VPC over 2-3 AZs, a public and a private subnet per AZ, internet
//! gateway, NAT (per AZ or single), VPC flow logs, S3 and DynamoDB gateway endpoints, and every
//! security group of the system with the rules between them (so no later stack needs another).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cfn::{Template, ga, r, select, sub, tag_list};
use crate::iam::{allow, inline, trust};
use crate::options::{DYNAMIC_PORTS, NatMode, NetworkOptions, PHP_CONTAINER_PORT};
use crate::{StackKind, StackSpec, network_stack_name, spec};

/// Logical ids of the security groups (also the output names, with an `Id` suffix).
pub(crate) const SECURITY_GROUPS: [&str; 5] = [
    "AlbSecurityGroup",
    "InstanceSecurityGroup",
    "EfsSecurityGroup",
    "DatabaseSecurityGroup",
    "SftpSecurityGroup",
];

/// Builds the network stack.
pub fn network(o: &NetworkOptions) -> StackSpec {
    debug_assert!((2..=3).contains(&o.zones.len()), "2 or 3 zones");
    debug_assert!(
        o.health_check_port < DYNAMIC_PORTS.0 && o.health_check_port != PHP_CONTAINER_PORT,
        "health port outside the dynamic range"
    );
    let name = network_stack_name(&o.stack);
    let mut t = Template::new(&format!(
        "idealstack {}: network of stack {} - VPC over {} AZs, public and private subnets, {} NAT, \
         flow logs, S3/DynamoDB gateway endpoints and every security group of the stack.",
        name,
        o.stack,
        o.zones.len(),
        match o.nat {
            NatMode::PerAz => "per-AZ",
            NatMode::Single => "single",
        }
    ));
    // AZ names are the user's choice, passed as a parameter rather than written into resources.
    t.param(
        "AvailabilityZones",
        "List<AWS::EC2::AvailabilityZone::Name>",
        "The availability zones of the stack, in order (from idealstack.toml).",
    );
    let mut params = BTreeMap::new();
    params.insert(
        "AvailabilityZones".to_string(),
        crate::ParameterValue::literal(
            o.zones
                .iter()
                .map(|z| z.az.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    );
    let name_tag =
        |suffix: &str| tag_list(&[("Name", sub(&format!("${{AWS::StackName}}-{suffix}")))]);

    t.resource(
        "Vpc",
        "AWS::EC2::VPC",
        json!({
            "CidrBlock": o.vpc_cidr,
            "EnableDnsHostnames": true,
            "EnableDnsSupport": true,
            "Tags": name_tag("vpc"),
        }),
    );
    t.resource(
        "InternetGateway",
        "AWS::EC2::InternetGateway",
        json!({ "Tags": name_tag("igw") }),
    );
    t.resource(
        "InternetGatewayAttachment",
        "AWS::EC2::VPCGatewayAttachment",
        json!({ "VpcId": r("Vpc"), "InternetGatewayId": r("InternetGateway") }),
    );
    t.resource(
        "PublicRouteTable",
        "AWS::EC2::RouteTable",
        json!({ "VpcId": r("Vpc"), "Tags": name_tag("public") }),
    );
    t.resource(
        "PublicDefaultRoute",
        "AWS::EC2::Route",
        json!({
            "RouteTableId": r("PublicRouteTable"),
            "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": r("InternetGateway"),
        }),
    )
    .depends_on(&["InternetGatewayAttachment"]);

    let mut public_ids = Vec::new();
    let mut private_ids = Vec::new();
    let mut private_tables = Vec::new();
    for (i, z) in o.zones.iter().enumerate() {
        let n = i + 1;
        let public = format!("PublicSubnet{n}");
        let private = format!("PrivateSubnet{n}");
        t.resource(
            &public,
            "AWS::EC2::Subnet",
            json!({
                "VpcId": r("Vpc"),
                "AvailabilityZone": select(i, r("AvailabilityZones")),
                "CidrBlock": z.public_cidr,
                // Load balancers and NAT gateways get their addresses explicitly; nothing in a
                // public subnet needs an automatic public IP.
                "MapPublicIpOnLaunch": false,
                "Tags": name_tag(&format!("public-{n}")),
            }),
        );
        t.resource(
            &private,
            "AWS::EC2::Subnet",
            json!({
                "VpcId": r("Vpc"),
                "AvailabilityZone": select(i, r("AvailabilityZones")),
                "CidrBlock": z.private_cidr,
                "MapPublicIpOnLaunch": false,
                "Tags": name_tag(&format!("private-{n}")),
            }),
        );
        t.resource(
            &format!("PublicSubnet{n}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": r(&public), "RouteTableId": r("PublicRouteTable") }),
        );
        if n == 1 || o.nat == NatMode::PerAz {
            t.resource(
                &format!("NatEip{n}"),
                "AWS::EC2::EIP",
                json!({ "Domain": "vpc", "Tags": name_tag(&format!("nat-{}", z.az)) }),
            )
            .depends_on(&["InternetGatewayAttachment"]);
            t.resource(
                &format!("NatGateway{n}"),
                "AWS::EC2::NatGateway",
                json!({
                    "AllocationId": ga(&format!("NatEip{n}"), "AllocationId"),
                    "SubnetId": r(&public),
                    "Tags": name_tag(&format!("nat-{}", z.az)),
                }),
            );
        }
        let nat = if o.nat == NatMode::PerAz { n } else { 1 };
        let table = format!("PrivateRouteTable{n}");
        t.resource(
            &table,
            "AWS::EC2::RouteTable",
            json!({ "VpcId": r("Vpc"), "Tags": name_tag(&format!("private-{}", z.az)) }),
        );
        t.resource(
            &format!("PrivateDefaultRoute{n}"),
            "AWS::EC2::Route",
            json!({
                "RouteTableId": r(&table),
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": r(&format!("NatGateway{nat}")),
            }),
        );
        t.resource(
            &format!("PrivateSubnet{n}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": r(&private), "RouteTableId": r(&table) }),
        );
        public_ids.push(r(&public));
        private_ids.push(r(&private));
        private_tables.push(r(&table));
    }

    for (id, service) in [("S3Endpoint", "s3"), ("DynamoDbEndpoint", "dynamodb")] {
        t.resource(
            id,
            "AWS::EC2::VPCEndpoint",
            json!({
                "VpcEndpointType": "Gateway",
                "VpcId": r("Vpc"),
                "ServiceName": sub(&format!("com.amazonaws.${{AWS::Region}}.{service}")),
                "RouteTableIds": private_tables,
            }),
        );
    }

    flow_logs(&mut t, o);
    security_groups(&mut t, o);

    t.output("VpcId", r("Vpc"), "The VPC.");
    t.output("VpcCidr", ga("Vpc", "CidrBlock"), "The VPC's IPv4 CIDR.");
    t.output(
        "PublicSubnetIds",
        json!({ "Fn::Join": [",", public_ids] }),
        "Public subnets, one per AZ, comma-separated in AZ order.",
    );
    t.output(
        "PrivateSubnetIds",
        json!({ "Fn::Join": [",", private_ids] }),
        "Private subnets, one per AZ, comma-separated in AZ order.",
    );
    for sg in SECURITY_GROUPS {
        t.output(
            &format!("{sg}Id"),
            ga(sg, "GroupId"),
            &format!("Security group {sg}."),
        );
    }
    spec(
        name,
        StackKind::Network,
        t.finish(),
        params,
        &o.stack,
        &o.tags,
        &[],
    )
}

fn flow_logs(t: &mut Template, o: &NetworkOptions) {
    t.resource(
        "FlowLogGroup",
        "AWS::Logs::LogGroup",
        json!({
            "LogGroupName": format!("/idealstack/{}/vpc-flow-logs", o.stack),
            "RetentionInDays": o.flow_log_retention_days,
        }),
    )
    .skip(&[(
        "CKV_AWS_158",
        "The customer-managed KMS key lives in the data stack, which is deployed after this one \
         and takes the VPC as a parameter; using it here would be a cycle. CloudWatch Logs \
         encrypts flow logs at rest with its own keys.",
    )])
    .retain();
    t.resource(
        "FlowLogRole",
        "AWS::IAM::Role",
        json!({
            "Description": "Lets VPC Flow Logs deliver this VPC's flow logs to its log group.",
            "AssumeRolePolicyDocument": trust(
                "vpc-flow-logs.amazonaws.com",
                Some(sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*")),
                true,
            ),
            "Policies": [inline("deliver-flow-logs", vec![
                allow(
                    "WriteFlowLogs",
                    &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    json!([ga("FlowLogGroup", "Arn")]),
                ),
            ])],
        }),
    );
    t.resource(
        "FlowLog",
        "AWS::EC2::FlowLog",
        json!({
            "ResourceId": r("Vpc"),
            "ResourceType": "VPC",
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": r("FlowLogGroup"),
            "DeliverLogsPermissionArn": ga("FlowLogRole", "Arn"),
            "MaxAggregationInterval": 60,
        }),
    );
}

fn tcp(from: u16, to: u16, description: &str) -> Value {
    json!({ "IpProtocol": "tcp", "FromPort": from, "ToPort": to, "Description": description })
}

fn security_groups(t: &mut Template, o: &NetworkOptions) {
    let (lo, hi) = DYNAMIC_PORTS;
    let vpc_cidr = ga("Vpc", "CidrBlock");
    let with_cidr = |mut rule: Value, cidr: Value| {
        rule["CidrIp"] = cidr;
        rule
    };
    let no_egress = json!([{
        "IpProtocol": "-1",
        "CidrIp": "127.0.0.1/32",
        "Description": "No outbound traffic: this group only answers its clients.",
    }]);

    t.resource(
        "AlbSecurityGroup",
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "Application load balancers: HTTPS and HTTP (redirected) from the internet.",
            "VpcId": r("Vpc"),
            "SecurityGroupIngress": [
                with_cidr(tcp(443, 443, "HTTPS from the internet"), json!("0.0.0.0/0")),
                with_cidr(tcp(80, 80, "HTTP from the internet, redirected to HTTPS"), json!("0.0.0.0/0")),
            ],
            "SecurityGroupEgress": [
                with_cidr(tcp(lo, hi, "To PHP tasks on ECS dynamic host ports"), vpc_cidr.clone()),
            ],
        }),
    )
    .skip(&[(
        "CKV_AWS_260",
        "Port 80 is open on purpose: the HTTP listener only answers with a 301 redirect to HTTPS.",
    )]);
    t.resource(
        "InstanceSecurityGroup",
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "ECS container instances: only from the load balancers; out to AWS APIs, EFS, RDS and the web.",
            "VpcId": r("Vpc"),
            "SecurityGroupEgress": [
                with_cidr(tcp(443, 443, "HTTPS to AWS APIs, ECR and web services sites call"), json!("0.0.0.0/0")),
                with_cidr(tcp(80, 80, "HTTP to web services sites call and OS package mirrors"), json!("0.0.0.0/0")),
            ],
        }),
    );
    t.resource(
        "EfsSecurityGroup",
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "EFS mount targets: NFS from the container instances only.",
            "VpcId": r("Vpc"),
            "SecurityGroupEgress": no_egress,
        }),
    );
    t.resource(
        "DatabaseSecurityGroup",
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "RDS: MySQL protocol from the container instances only.",
            "VpcId": r("Vpc"),
            "SecurityGroupEgress": no_egress,
        }),
    );
    t.resource(
        "SftpSecurityGroup",
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "SFTP network load balancer: SFTP from the internet.",
            "VpcId": r("Vpc"),
            "SecurityGroupIngress": [
                with_cidr(tcp(o.sftp_port, o.sftp_port, "SFTP from the internet"), json!("0.0.0.0/0")),
            ],
            "SecurityGroupEgress": [
                with_cidr(tcp(lo, hi, "To SFTP tasks on ECS dynamic host ports"), vpc_cidr.clone()),
                with_cidr(
                    tcp(o.health_check_port, o.health_check_port, "Health checks of the PHP health daemon"),
                    vpc_cidr,
                ),
            ],
        }),
    )
    .skip(&[(
        "CKV_AWS_24",
        "SFTP is the service this group exposes: site owners upload code from anywhere. The \
         gateway authenticates per site and confines each user to its site folder.",
    )]);

    let ingress = |t: &mut Template, id: &str, group: &str, from: &str, rule: Value| {
        let mut props = rule;
        props["GroupId"] = ga(group, "GroupId");
        props["SourceSecurityGroupId"] = ga(from, "GroupId");
        t.resource(id, "AWS::EC2::SecurityGroupIngress", props);
    };
    ingress(
        t,
        "InstanceIngressFromAlb",
        "InstanceSecurityGroup",
        "AlbSecurityGroup",
        tcp(lo, hi, "PHP tasks on ECS dynamic host ports from the ALBs"),
    );
    ingress(
        t,
        "InstanceIngressFromSftp",
        "InstanceSecurityGroup",
        "SftpSecurityGroup",
        tcp(
            lo,
            hi,
            "SFTP tasks on ECS dynamic host ports from the SFTP load balancer",
        ),
    );
    ingress(
        t,
        "InstanceIngressHealthFromSftp",
        "InstanceSecurityGroup",
        "SftpSecurityGroup",
        tcp(
            o.health_check_port,
            o.health_check_port,
            "PHP health daemon, checked by the instance health target group",
        ),
    );
    ingress(
        t,
        "EfsIngressFromInstances",
        "EfsSecurityGroup",
        "InstanceSecurityGroup",
        tcp(2049, 2049, "NFS from the container instances"),
    );
    ingress(
        t,
        "DatabaseIngressFromInstances",
        "DatabaseSecurityGroup",
        "InstanceSecurityGroup",
        tcp(3306, 3306, "MySQL protocol from the container instances"),
    );
    for (id, to, rule) in [
        (
            "InstanceEgressToEfs",
            "EfsSecurityGroup",
            tcp(2049, 2049, "NFS to the EFS mount targets"),
        ),
        (
            "InstanceEgressToDatabase",
            "DatabaseSecurityGroup",
            tcp(3306, 3306, "MySQL protocol to RDS"),
        ),
    ] {
        let mut props = rule;
        props["GroupId"] = ga("InstanceSecurityGroup", "GroupId");
        props["DestinationSecurityGroupId"] = ga(to, "GroupId");
        t.resource(id, "AWS::EC2::SecurityGroupEgress", props);
    }
}

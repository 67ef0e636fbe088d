//! The `<stack>-edge-<n>` stack: one ALB shard. Internet-facing ALB with invalid-header dropping,
//! desync mitigation, access logs and deletion protection; HTTP:80 answers 301 to HTTPS;
//! HTTPS:443 (TLS 1.2+) answers 404 unless a site stack's listener rule matches the host.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cfn::{Template, ga, r};
use crate::options::{DesyncMode, EdgeOptions};
use crate::{
    ParameterValue, StackKind, StackSpec, data_stack_name, edge_stack_name, network_stack_name,
    spec,
};

/// The TLS policy of every HTTPS listener: TLS 1.3 and 1.2 only, forward-secret ciphers.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// Builds the edge stack of one shard.
pub fn edge(o: &EdgeOptions) -> StackSpec {
    let name = edge_stack_name(&o.stack, o.shard);
    let network = network_stack_name(&o.stack);
    let data = data_stack_name(&o.stack);
    let mut t = Template::new(&format!(
        "idealstack {name}: ALB shard {} of stack {} - HTTP redirects to HTTPS, HTTPS (TLS 1.2+) \
         answers 404 unless a site's listener rule matches its host.",
        o.shard, o.stack
    ));
    let mut params = BTreeMap::new();
    for (p, ty, stack, desc) in [
        (
            "PublicSubnetIds",
            "List<AWS::EC2::Subnet::Id>",
            &network,
            "Public subnets, one per AZ.",
        ),
        (
            "AlbSecurityGroupId",
            "AWS::EC2::SecurityGroup::Id",
            &network,
            "Security group of the ALBs.",
        ),
        (
            "AccessLogBucketName",
            "String",
            &data,
            "Bucket of the access logs.",
        ),
    ] {
        t.param(p, ty, desc);
        params.insert(p.to_string(), ParameterValue::from_output(stack, p));
    }
    t.param(
        "DefaultCertificateArn",
        "String",
        "ARN of the HTTPS listener's default ACM certificate (issued at deploy time).",
    );
    t.param_extra(
        "DefaultCertificateArn",
        "AllowedPattern",
        json!("^arn:aws[a-z-]*:acm:.+"),
    );
    params.insert(
        "DefaultCertificateArn".into(),
        o.default_certificate.clone(),
    );

    let attr = |k: &str, v: serde_json::Value| json!({ "Key": k, "Value": v });
    t.resource(
        "LoadBalancer",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({
            "Type": "application",
            "Scheme": "internet-facing",
            "IpAddressType": "ipv4",
            "Subnets": r("PublicSubnetIds"),
            "SecurityGroups": [r("AlbSecurityGroupId")],
            "LoadBalancerAttributes": [
                attr("routing.http.drop_invalid_header_fields.enabled", json!("true")),
                attr("routing.http.desync_mitigation_mode", json!(match o.desync_mitigation {
                    DesyncMode::Defensive => "defensive",
                    DesyncMode::Strictest => "strictest",
                })),
                attr("access_logs.s3.enabled", json!("true")),
                attr("access_logs.s3.bucket", r("AccessLogBucketName")),
                attr("access_logs.s3.prefix", json!(format!("alb/edge-{}", o.shard))),
                attr("deletion_protection.enabled", json!("true")),
                attr("idle_timeout.timeout_seconds", json!(o.idle_timeout_seconds.to_string())),
                attr("routing.http2.enabled", json!("true")),
                attr("routing.http.x_amzn_tls_version_and_cipher_suite.enabled", json!("true")),
            ],
        }),
    );
    t.resource(
        "HttpListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r("LoadBalancer"),
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [{
                "Type": "redirect",
                "RedirectConfig": {
                    "Protocol": "HTTPS",
                    "Port": "443",
                    "Host": "#{host}",
                    "Path": "/#{path}",
                    "Query": "#{query}",
                    "StatusCode": "HTTP_301",
                },
            }],
        }),
    );
    t.resource(
        "HttpsListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r("LoadBalancer"),
            "Port": 443,
            "Protocol": "HTTPS",
            "SslPolicy": TLS_POLICY,
            "Certificates": [{ "CertificateArn": r("DefaultCertificateArn") }],
            "DefaultActions": [{
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "404",
                    "ContentType": "text/plain",
                    "MessageBody": "Not found: no site on this host name.",
                },
            }],
        }),
    );
    t.output("LoadBalancerArn", r("LoadBalancer"), "The shard's ALB.");
    t.output(
        "LoadBalancerDnsName",
        ga("LoadBalancer", "DNSName"),
        "DNS name to point the sites' CNAME/alias records at.",
    );
    t.output(
        "CanonicalHostedZoneId",
        ga("LoadBalancer", "CanonicalHostedZoneID"),
        "Hosted zone of the ALB, for Route 53 alias records.",
    );
    t.output(
        "LoadBalancerFullName",
        ga("LoadBalancer", "LoadBalancerFullName"),
        "ALB name used by CloudWatch metrics.",
    );
    t.output(
        "HttpsListenerArn",
        r("HttpsListener"),
        "The HTTPS listener site stacks add rules and certificates to.",
    );
    spec(
        name,
        StackKind::Edge,
        t.finish(),
        params,
        &o.stack,
        &o.tags,
        &[],
    )
}

//! Properties every rendered template must hold, checked over every stack of every fixture
//! scenario: IAM without wildcard actions, explicit deletion policies on stateful resources,
//! parameters instead of exports, cross-stack wiring that resolves, deterministic output, and
//! CloudFormation's size limits.

mod support;

use std::collections::BTreeMap;

use idealstack_templates::*;
use serde_json::Value;
use support::{Scenario, scenarios};

/// Runs `property` over every stack of every scenario; collects every violation before failing.
fn check(what: &str, property: impl Fn(&Scenario, &StackSpec) -> Vec<String>) {
    let mut problems = Vec::new();
    let all = scenarios();
    for scenario in &all {
        for spec in &scenario.stacks {
            for p in property(scenario, spec) {
                problems.push(format!("{}/{}: {p}", scenario.label, spec.name));
            }
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Every IAM-style statement (objects inside a `Statement` list) anywhere in `value`.
fn statements<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(list)) = map.get("Statement") {
                out.extend(list.iter().map(unwrap_if));
            }
            map.values().for_each(|v| statements(v, out));
        }
        Value::Array(list) => list.iter().for_each(|v| statements(v, out)),
        _ => {}
    }
}

/// A statement behind `Fn::If [cond, statement, NoValue]` is the statement.
fn unwrap_if(v: &Value) -> &Value {
    v.get("Fn::If").and_then(|args| args.get(1)).unwrap_or(v)
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

fn is_tls_deny(statement: &Value) -> bool {
    statement["Effect"] == "Deny"
        && statement["Condition"]["Bool"]["aws:SecureTransport"] == "false"
}

#[test]
fn no_statement_grants_a_wildcard_action() {
    check("wildcard actions", |_, spec| {
        let mut found = Vec::new();
        statements(&spec.template, &mut found);
        let mut problems = Vec::new();
        for s in found {
            if s.get("NotAction").is_some() {
                problems.push(format!("NotAction in {s}"));
            }
            let acts = actions(s);
            if acts.is_empty() {
                problems.push(format!("statement without actions: {s}"));
            }
            // The one wildcard allowed: denying every action of a service to requests without
            // TLS (S3 bucket policies); a deny cannot grant anything.
            if acts.iter().any(|a| a.contains('*')) && !is_tls_deny(s) {
                problems.push(format!("wildcard action in {s}"));
            }
        }
        problems
    });
    for db in [None, Some(DbEngine::Mysql)] {
        let policy = data_stack_policy(&support::data_opts("x", 2, db, 30));
        let mut found = Vec::new();
        statements(&policy, &mut found);
        assert!(
            found
                .iter()
                .flat_map(|s| actions(s))
                .all(|a| !a.contains('*')),
            "{policy}"
        );
    }
}

#[test]
fn every_role_trusts_exactly_one_service() {
    check("role trust", |_, spec| {
        let mut problems = Vec::new();
        for (id, r) in resources(spec) {
            if r["Type"] != "AWS::IAM::Role" {
                continue;
            }
            let trust = &r["Properties"]["AssumeRolePolicyDocument"]["Statement"];
            let list = trust.as_array().cloned().unwrap_or_default();
            let ok = list.len() == 1
                && list[0]["Principal"]
                    .as_object()
                    .is_some_and(|p| p.len() == 1)
                && list[0]["Principal"]["Service"].is_string()
                && list[0]["Action"] == "sts:AssumeRole";
            if !ok {
                problems.push(format!("{id} trusts {trust}"));
            }
            if r["Properties"].get("ManagedPolicyArns").is_some() {
                problems.push(format!("{id} uses managed policies"));
            }
        }
        problems
    });
}

fn resources(spec: &StackSpec) -> Vec<(&String, &Value)> {
    spec.template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .collect()
}

const STATEFUL: [&str; 7] = [
    "AWS::DynamoDB::Table",
    "AWS::EFS::FileSystem",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::RDS::DBInstance",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
];

#[test]
fn stateful_resources_have_deletion_and_replace_policies() {
    check("deletion policies", |_, spec| {
        let mut problems = Vec::new();
        for (id, r) in resources(spec) {
            let ty = r["Type"].as_str().unwrap_or_default();
            if !STATEFUL.contains(&ty) {
                continue;
            }
            let (del, rep) = (&r["DeletionPolicy"], &r["UpdateReplacePolicy"]);
            if !del.is_string() || !rep.is_string() {
                problems.push(format!(
                    "{id} ({ty}) lacks DeletionPolicy/UpdateReplacePolicy"
                ));
            }
            // Data lives here: only log groups of deletable stacks may go with their stack, and a
            // resource that says, with its reason, that it holds no data (the agent's lease).
            let keeps = |p: &Value| p == "Retain" || p == "Snapshot";
            let no_data = r["Metadata"]["idealstack"]["holds-no-data"]
                .as_str()
                .is_some_and(|why| why.len() > 40);
            if ty != "AWS::Logs::LogGroup" && !no_data && !(keeps(del) && keeps(rep)) {
                problems.push(format!("{id} ({ty}) is not retained: {del} / {rep}"));
            }
        }
        problems
    });
}

#[test]
fn data_stack_policy_protects_every_retained_resource() {
    for db in [None, Some(DbEngine::Mariadb)] {
        let opts = support::data_opts("x", 3, db, 30);
        let spec = data(&opts);
        let policy = data_stack_policy(&opts);
        let protected: Vec<&str> = policy["Statement"][1]["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().trim_start_matches("LogicalResourceId/"))
            .collect();
        for (id, r) in resources(&spec) {
            let ty = r["Type"].as_str().unwrap();
            let stateful = STATEFUL.contains(&ty) && ty != "AWS::Logs::LogGroup";
            assert_eq!(
                stateful,
                protected.contains(&id.as_str()),
                "{id} ({ty}) in {policy}"
            );
        }
    }
}

/// Every `Fn::ImportValue` anywhere in `value`.
fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| has_key(v, key)),
        Value::Array(list) => list.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

#[test]
fn stacks_are_wired_by_parameters_not_exports() {
    check("exports", |_, spec| {
        let mut problems = Vec::new();
        if has_key(&spec.template, "Fn::ImportValue") {
            problems.push("uses Fn::ImportValue".into());
        }
        for (name, output) in spec.template["Outputs"].as_object().into_iter().flatten() {
            if output.get("Export").is_some() {
                problems.push(format!("output {name} is exported"));
            }
        }
        problems
    });
}

fn kind_rank(kind: StackKind) -> u8 {
    match kind {
        StackKind::Network => 0,
        StackKind::Data => 1,
        StackKind::Cluster => 2,
        StackKind::Edge => 3,
        StackKind::Site => 4,
    }
}

#[test]
fn every_parameter_resolves_and_only_from_earlier_stacks() {
    check("parameter wiring", |scenario, spec| {
        let by_name: BTreeMap<&str, &StackSpec> = scenario
            .stacks
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let mut problems = Vec::new();
        let declared = spec.template["Parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, decl) in &declared {
            if decl.get("Default").is_none() && !spec.parameters.contains_key(name) {
                problems.push(format!("parameter {name} has no value"));
            }
            if decl["Description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("parameter {name} has no description"));
            }
        }
        for (name, value) in &spec.parameters {
            if !declared.contains_key(name) {
                problems.push(format!("value for undeclared parameter {name}"));
            }
            if let ParameterValue::FromOutput { stack, output } = value {
                match by_name.get(stack.as_str()) {
                    None => problems.push(format!("{name} reads missing stack {stack}")),
                    Some(other) => {
                        if other.template["Outputs"].get(output).is_none() {
                            problems.push(format!(
                                "{name} reads {stack}.{output}, which it does not output"
                            ));
                        }
                        if kind_rank(other.kind) >= kind_rank(spec.kind) {
                            problems.push(format!(
                                "{name} reads {stack}, which is not deployed earlier"
                            ));
                        }
                    }
                }
                if !spec.depends_on.contains(stack) {
                    problems.push(format!("{stack} missing from depends_on"));
                }
            }
        }
        problems
    });
}

#[test]
fn parameter_values_serialize_as_documented() {
    let cases = [
        (ParameterValue::literal("x"), r#""x""#),
        (
            ParameterValue::from_output("acme-network", "VpcId"),
            r#"{"from_stack":"acme-network","output":"VpcId"}"#,
        ),
    ];
    for (value, json) in cases {
        assert_eq!(serde_json::to_string(&value).unwrap(), json);
        assert_eq!(serde_json::from_str::<ParameterValue>(json).unwrap(), value);
    }
}

#[test]
fn rendering_is_deterministic() {
    let first: Vec<(String, String)> = scenarios()
        .iter()
        .flat_map(|s| {
            s.stacks
                .iter()
                .map(|spec| (spec.name.clone(), render(&spec.template)))
        })
        .collect();
    let second: Vec<(String, String)> = scenarios()
        .iter()
        .flat_map(|s| {
            s.stacks
                .iter()
                .map(|spec| (spec.name.clone(), render(&spec.template)))
        })
        .collect();
    assert_eq!(first, second);
    for (name, text) in &first {
        assert!(text.ends_with("}\n"), "{name} ends with a newline");
        let reparsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            &render(&reparsed),
            text,
            "{name} renders the same after a round trip"
        );
    }
}

#[test]
fn stack_tags_carry_cost_allocation_keys() {
    check("tags", |_, spec| {
        let mut problems = Vec::new();
        if !spec.tags.contains_key("idealstack:stack") {
            problems.push("no idealstack:stack tag".to_string());
        }
        if spec.kind == StackKind::Site && !spec.tags.contains_key("idealstack:site") {
            problems.push("no idealstack:site tag".to_string());
        }
        if spec.tags.get("team").map(String::as_str) != Some("web") {
            problems.push("user tag lost".to_string());
        }
        problems
    });
}

/// CloudFormation's limits: 500 resources, 1 MB template body from S3, 51,200 bytes inline.
/// The network and data stacks are created before the state bucket exists, so they must fit
/// inline; later stacks are uploaded to the state bucket.
#[test]
fn templates_stay_within_cloudformation_limits() {
    // The largest site the ALB quotas allow on one listener: 100 rules of 5 host names and the
    // 25 certificates of a listener.
    let mut big = support::site_opts(
        "big",
        "huge",
        0,
        20000,
        support::SiteCase {
            domains: 495,
            db: true,
            email: true,
            retention: 30,
        },
    );
    big.certificates.truncate(25);
    let biggest = site(&big);
    let mut all: Vec<StackSpec> = scenarios().into_iter().flat_map(|s| s.stacks).collect();
    all.push(biggest);
    let mut problems = Vec::new();
    for spec in &all {
        let count = spec.template["Resources"].as_object().unwrap().len();
        let pretty = render(&spec.template).len();
        let compact = serde_json::to_string(&spec.template).unwrap().len();
        eprintln!(
            "{}: {count} resources, {pretty} bytes pretty, {compact} compact",
            spec.name
        );
        if count > 500 || pretty > 1_000_000 {
            problems.push(format!("{}: {count} resources, {pretty} bytes", spec.name));
        }
        let inline = matches!(spec.kind, StackKind::Network | StackKind::Data);
        if inline && compact > 51_200 {
            problems.push(format!(
                "{}: {compact} bytes compact, over the inline limit",
                spec.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn listener_rules_follow_the_site_options() {
    let opts = support::site_opts(
        "acme",
        "shop",
        2,
        20010,
        support::SiteCase {
            domains: 12,
            db: false,
            email: false,
            retention: 30,
        },
    );
    let spec = site(&opts);
    let res = &spec.template["Resources"];
    assert_eq!(
        spec.parameters["HttpsListenerArn"],
        ParameterValue::from_output("acme-edge-2", "HttpsListenerArn")
    );
    for (i, rule) in opts.rules.iter().enumerate() {
        let r = &res[format!("ListenerRule{}", i + 1)]["Properties"];
        assert_eq!(r["Priority"], rule.priority);
        assert_eq!(
            r["Conditions"][0]["HostHeaderConfig"]["Values"],
            serde_json::json!(rule.hosts)
        );
        let action = &r["Actions"][0];
        match &rule.action {
            RuleAction::Forward => assert_eq!(action["TargetGroupArn"]["Ref"], "TargetGroup"),
            RuleAction::Redirect { host } => {
                let c = &action["RedirectConfig"];
                assert_eq!(
                    (
                        &c["Host"],
                        &c["Path"],
                        &c["Query"],
                        &c["StatusCode"],
                        &c["Protocol"]
                    ),
                    (
                        &serde_json::json!(host),
                        &serde_json::json!("/#{path}"),
                        &serde_json::json!("#{query}"),
                        &serde_json::json!("HTTP_301"),
                        &serde_json::json!("HTTPS")
                    )
                );
            }
        }
    }
    assert!(
        res.get(format!("ListenerRule{}", opts.rules.len() + 1))
            .is_none()
    );
    // 12 names need two certificates of up to 10 names: two ListenerCertificates.
    assert_eq!(opts.certificates.len(), 2);
    for i in 1..=2 {
        let c = &res[format!("ListenerCertificate{i}")]["Properties"]["Certificates"][0]["CertificateArn"];
        assert_eq!(c["Ref"], format!("CertificateArn{i}"));
        assert_eq!(
            spec.parameters[&format!("CertificateArn{i}")],
            opts.certificates[i - 1]
        );
    }
    // A site without database or email gets neither a secret nor SES permissions.
    let text = render(&spec.template);
    assert!(!text.contains("AWS::SecretsManager::Secret") && !text.contains("ses:SendEmail"));
}

#[test]
fn every_checkov_skip_names_a_check_and_a_reason() {
    check("checkov skips", |_, spec| {
        let mut problems = Vec::new();
        for (id, r) in resources(spec) {
            for skip in r["Metadata"]["checkov"]["skip"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let check = skip["id"].as_str().unwrap_or_default();
                let comment = skip["comment"].as_str().unwrap_or_default();
                if !check.starts_with("CKV") || comment.len() < 40 {
                    problems.push(format!(
                        "{id}: skip {skip} lacks a check id or a real reason"
                    ));
                }
            }
        }
        problems
    });
}

//! Every scenario manifest through the whole pipeline (manifest -> plan -> options -> templates):
//! golden snapshots compared resource by resource, cfn-lint and checkov on every template, and
//! CloudFormation's size limits.
//!
//! Snapshots live in `tests/snapshots/<scenario>/` and are reviewed as files. After an intended
//! change, regenerate them with `UPDATE_SNAPSHOTS=1 cargo test -p idealstack-stacks --test scenarios`
//! and read the diff.

mod support;

use idealstack_plan::Prior;
use idealstack_stacks::{Build, build};
use idealstack_templates::{StackSpec, render};
use idealstack_testbed::{lint, scratch_dir};
use serde_json::{Value, json};
use std::path::Path;

const VERSION: &str = "0.1.0";

fn built(model: &idealstack_manifest::Model) -> Build {
    build(model, &Prior::default(), VERSION).expect("scenario fits the quotas")
}

fn parameters_file(spec: &StackSpec) -> Value {
    json!({"Parameters": spec.parameters, "Tags": spec.tags, "DependsOn": spec.depends_on})
}

/// Which stacks of a scenario are kept as snapshots: all of them, except in the 150-site
/// scenario where the site stacks at the shard boundaries stand for the rest.
fn snapshotted(scenario: &str, spec: &StackSpec) -> bool {
    scenario != "shards-150"
        || !spec.name.contains("-site-")
        || ["client000", "client024", "client025", "client149"]
            .iter()
            .any(|s| spec.name.ends_with(s))
}

/// Compares `actual` with the snapshot file, resource by resource, or rewrites it when
/// UPDATE_SNAPSHOTS is set. Returns the differences found.
fn check_snapshot(path: &Path, actual: &Value, diffs: &mut Vec<String>) {
    let rendered = render(actual);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, rendered).unwrap();
        return;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        diffs.push(format!(
            "{}: no snapshot (run with UPDATE_SNAPSHOTS=1 and review it)",
            path.display()
        ));
        return;
    };
    if text == rendered {
        return;
    }
    let expected: Value = serde_json::from_str(&text).expect("snapshot is JSON");
    let name = path.file_name().unwrap().to_string_lossy();
    for section in [
        "Parameters",
        "Resources",
        "Outputs",
        "Conditions",
        "Tags",
        "DependsOn",
        "Description",
        "Metadata",
    ] {
        let (e, a) = (&expected[section], &actual[section]);
        match (e.as_object(), a.as_object()) {
            (Some(eo), Some(ao)) => {
                for key in eo.keys().filter(|k| !ao.contains_key(*k)) {
                    diffs.push(format!("{name}: {section}.{key} removed"));
                }
                for (key, value) in ao {
                    match eo.get(key) {
                        None => diffs.push(format!("{name}: {section}.{key} added")),
                        Some(old) if old != value => diffs.push(format!(
                            "{name}: {section}.{key} changed\n    was: {}\n    now: {}",
                            serde_json::to_string(old).unwrap(),
                            serde_json::to_string(value).unwrap()
                        )),
                        Some(_) => {}
                    }
                }
            }
            _ if e != a => diffs.push(format!("{name}: {section} changed")),
            _ => {}
        }
    }
    if diffs.is_empty() {
        diffs.push(format!("{name}: formatting differs from the snapshot"));
    }
}

#[test]
fn snapshots_of_every_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("snapshots");
    let mut diffs = Vec::new();
    for (scenario, model) in support::scenarios() {
        let b = built(&model);
        let dir = root.join(&scenario);
        check_snapshot(
            &dir.join("plan.json"),
            &json!({"assignments": Prior::from(&b.plan), "shards": b.plan.shards}),
            &mut diffs,
        );
        for spec in b.stacks.iter().filter(|s| snapshotted(&scenario, s)) {
            check_snapshot(
                &dir.join(format!("{}.template.json", spec.name)),
                &spec.template,
                &mut diffs,
            );
            check_snapshot(
                &dir.join(format!("{}.parameters.json", spec.name)),
                &parameters_file(spec),
                &mut diffs,
            );
        }
    }
    assert!(
        diffs.is_empty(),
        "templates differ from their snapshots:\n{}\nIf intended: UPDATE_SNAPSHOTS=1 cargo test -p idealstack-stacks --test scenarios, then review the diff.",
        diffs.join("\n")
    );
}

#[test]
fn scenarios_cover_what_they_claim() {
    let all = support::scenarios();
    let get = |n: &str| built(&all.iter().find(|(s, _)| s == n).unwrap().1);
    let big = get("shards-150");
    assert_eq!(
        big.plan.shards.len(),
        6,
        "150 sites at 25 certificates per listener"
    );
    assert_eq!(big.stacks.len(), 3 + 6 + 150);
    let many = get("many-domains");
    let brands = &many.plan.sites["brands"];
    assert!(
        brands.rules.len() >= 4 && brands.certificates.len() == 2,
        "{brands:?}"
    );
    assert!(
        brands.rules.iter().any(|r| r.priority > 25_000),
        "wildcards go to the wildcard band"
    );
    let email = get("email-mariadb");
    let data = &email.stacks[1].template["Resources"];
    assert!(render(data).contains("\"mariadb\""));
    let preview = get("preview");
    assert!(!render(&preview.stacks[1].template).contains("AWS::RDS::DBInstance"));
    assert!(
        preview
            .stacks
            .iter()
            .any(|s| render(&s.template).contains("docs.preview.example.net"))
    );
}

#[test]
fn cfn_lint_and_checkov_pass_every_scenario_template() {
    let dir = scratch_dir("stacks-lint");
    let mut files = Vec::new();
    let mut resources = 0;
    for (scenario, model) in support::scenarios() {
        for spec in built(&model).stacks {
            let file = format!("{scenario}--{}.json", spec.name);
            std::fs::write(dir.path().join(&file), render(&spec.template)).unwrap();
            resources += spec.template["Resources"]
                .as_object()
                .map_or(0, |r| r.len() as u64);
            files.push(file);
        }
    }
    if let Err(report) = lint::cfn_lint(dir.path(), &files) {
        panic!("{report}");
    }
    lint::checkov(dir.path()).assert_clean(resources);
}

#[test]
fn templates_stay_within_cloudformation_limits() {
    for (scenario, model) in support::scenarios() {
        for spec in built(&model).stacks {
            let body = serde_json::to_string(&spec.template).unwrap();
            let resources = spec.template["Resources"]
                .as_object()
                .map_or(0, |r| r.len());
            assert!(
                resources <= 500,
                "{scenario} {}: {resources} resources",
                spec.name
            );
            assert!(
                body.len() <= 1_000_000,
                "{scenario} {}: {} bytes",
                spec.name,
                body.len()
            );
            assert!(
                spec.parameters.len() <= 200,
                "{scenario} {}: too many parameters",
                spec.name
            );
            // The network and data stacks are created before the state bucket exists, so their
            // templates go inline: 51,200 bytes at most.
            if spec.name.ends_with("-network") || spec.name.ends_with("-data") {
                assert!(
                    body.len() <= 51_200,
                    "{scenario} {}: {} bytes inline",
                    spec.name,
                    body.len()
                );
            }
        }
    }
}

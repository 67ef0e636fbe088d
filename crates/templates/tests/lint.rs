//! Every template the fixtures render passes cfn-lint (zero errors, zero warnings) and checkov
//! (zero failed checks; every suppression in a template's Metadata carries a reason). Both run
//! once over all files, from the project's venv (scripts/setup installs them).

mod support;

use std::path::Path;
use std::process::Command;

use idealstack_templates::render;
use idealstack_testbed::{scratch_dir, venv_tool};

/// Writes every template of every scenario into `dir`; returns the file names and the total
/// number of resources.
fn write_all(dir: &Path) -> (Vec<String>, u64) {
    let mut files = Vec::new();
    let mut resources = 0;
    for scenario in support::scenarios() {
        for spec in &scenario.stacks {
            let file = format!("{}.json", spec.name);
            std::fs::write(dir.join(&file), render(&spec.template)).expect("write template");
            files.push(file);
            resources += spec.template["Resources"]
                .as_object()
                .map_or(0, |r| r.len() as u64);
        }
    }
    (files, resources)
}

/// cfn-lint's arguments: errors and warnings, plus the informational I3011 (explicit
/// DeletionPolicy and UpdateReplacePolicy on every stateful resource); region-specific checks
/// (instance types, engine versions) in a few common Regions.
const CFN_LINT_ARGS: [&str; 13] = [
    "--non-zero-exit-code",
    "informational",
    "--include-checks",
    "I3011",
    "--format",
    "parseable",
    "--regions",
    "us-east-1",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "--",
    "canary.json",
];

/// The harness itself can fail: cfn-lint rejects a template with a known mistake.
#[test]
fn cfn_lint_rejects_a_broken_template() {
    let dir = scratch_dir("templates-lint-canary");
    let mut spec = idealstack_templates::edge(&support::edge_opts("canary", 0));
    spec.template["Resources"]["HttpsListener"]["Properties"]["Port"] =
        serde_json::json!("not-a-port");
    std::fs::write(dir.path().join("canary.json"), render(&spec.template)).unwrap();
    let out = Command::new(venv_tool("cfn-lint"))
        .current_dir(dir.path())
        .args(CFN_LINT_ARGS)
        .output()
        .expect("run cfn-lint");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && report.contains("canary.json"),
        "cfn-lint accepted it: {report}"
    );
}

#[test]
fn cfn_lint_and_checkov_pass_every_template() {
    let dir = scratch_dir("templates-lint");
    let (files, resource_total) = write_all(dir.path());
    assert!(
        files.len() >= 15,
        "the fixtures render every stack kind several times"
    );

    let cfn_lint = venv_tool("cfn-lint");
    let out = Command::new(&cfn_lint)
        .current_dir(dir.path())
        .args(&CFN_LINT_ARGS[..CFN_LINT_ARGS.len() - 1])
        .args(&files)
        .output()
        .expect("run cfn-lint");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "cfn-lint found errors or warnings ({}):\n{report}",
        out.status
    );

    let checkov = venv_tool("checkov");
    let out = Command::new(&checkov)
        .args(["-d"])
        .arg(dir.path())
        .args([
            "--framework",
            "cloudformation",
            "--compact",
            "--output",
            "json",
        ])
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("run checkov");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}); status {}:\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let reports = match parsed {
        serde_json::Value::Array(list) => list,
        one => vec![one],
    };
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut resources = 0;
    let mut skipped = Vec::new();
    for report in &reports {
        let results = &report["results"];
        passed += results["passed_checks"].as_array().map_or(0, Vec::len);
        resources += report["summary"]["resource_count"].as_u64().unwrap_or(0);
        assert_eq!(
            report["summary"]["parsing_errors"], 0,
            "checkov could not parse a template"
        );
        for check in results["failed_checks"].as_array().into_iter().flatten() {
            failures.push(format!(
                "{} {} in {} ({})",
                check["check_id"].as_str().unwrap_or("?"),
                check["check_name"].as_str().unwrap_or("?"),
                check["file_path"].as_str().unwrap_or("?"),
                check["resource"].as_str().unwrap_or("?"),
            ));
        }
        for check in results["skipped_checks"].as_array().into_iter().flatten() {
            let comment = check["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or("");
            skipped.push((
                check["check_id"].as_str().unwrap_or("?").to_string(),
                comment.to_string(),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "checkov failed {} checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        resources, resource_total,
        "checkov scanned every resource of every template"
    );
    assert!(
        passed > 500,
        "checkov ran its checks ({passed} passed over {resources} resources); output:\n{stdout}"
    );
    for (id, comment) in &skipped {
        assert!(
            comment.len() > 30,
            "checkov skip {id} needs a real reason, got {comment:?}"
        );
    }
}

//! The template linters every generated CloudFormation template must pass: AWS's cfn-lint (zero
//! errors and warnings) and checkov (zero failed checks; suppressions carry a reason). Both run
//! from the project's venv, once over a whole folder of templates.

use crate::venv_tool;
use std::path::Path;
use std::process::Command;

/// cfn-lint's arguments: errors and warnings, plus the informational I3011 (explicit
/// DeletionPolicy and UpdateReplacePolicy on every stateful resource); region-specific checks
/// (instance types, engine versions) in a few common Regions.
pub const CFN_LINT_ARGS: [&str; 11] = [
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
];

/// Runs cfn-lint in `dir` over `files` (names relative to `dir`); returns its report, empty when
/// clean, or `Err(report)` when it found anything.
pub fn cfn_lint(dir: &Path, files: &[String]) -> Result<(), String> {
    let out = Command::new(venv_tool("cfn-lint"))
        .current_dir(dir)
        .args(CFN_LINT_ARGS)
        .arg("--")
        .args(files)
        .output()
        .expect("run cfn-lint");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && report.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("cfn-lint ({}):\n{report}", out.status))
    }
}

/// What checkov found over a folder.
#[derive(Debug, Default)]
pub struct CheckovReport {
    /// Failed checks, one line each: id, name, file, resource.
    pub failures: Vec<String>,
    /// Passed checks.
    pub passed: usize,
    /// Resources checkov scanned.
    pub resources: u64,
    /// Skipped checks with their suppression comments.
    pub skipped: Vec<(String, String)>,
    /// Templates checkov could not parse.
    pub parsing_errors: u64,
}

/// Runs checkov over every CloudFormation template in `dir`.
pub fn checkov(dir: &Path) -> CheckovReport {
    let out = Command::new(venv_tool("checkov"))
        .arg("-d")
        .arg(dir)
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
    let mut r = CheckovReport::default();
    for report in &reports {
        let results = &report["results"];
        r.passed += results["passed_checks"].as_array().map_or(0, Vec::len);
        r.resources += report["summary"]["resource_count"].as_u64().unwrap_or(0);
        r.parsing_errors += report["summary"]["parsing_errors"].as_u64().unwrap_or(0);
        for check in results["failed_checks"].as_array().into_iter().flatten() {
            r.failures.push(format!(
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
            r.skipped.push((
                check["check_id"].as_str().unwrap_or("?").to_string(),
                comment.to_string(),
            ));
        }
    }
    r
}

impl CheckovReport {
    /// Panics unless checkov scanned `resources` resources, failed nothing, parsed every
    /// template and every skip carries a real reason.
    #[track_caller]
    pub fn assert_clean(&self, resources: u64) {
        assert!(
            self.failures.is_empty(),
            "checkov failed {} checks:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert_eq!(self.parsing_errors, 0, "checkov could not parse a template");
        assert_eq!(
            self.resources, resources,
            "checkov scanned every resource of every template"
        );
        assert!(
            self.passed as u64 > resources,
            "checkov ran its checks ({} passed over {resources} resources)",
            self.passed
        );
        for (id, comment) in &self.skipped {
            assert!(
                comment.len() > 30,
                "checkov skip {id} needs a real reason, got {comment:?}"
            );
        }
    }
}

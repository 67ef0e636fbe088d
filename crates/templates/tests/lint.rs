//! Every template the fixtures render passes cfn-lint (zero errors, zero warnings) and checkov
//! (zero failed checks; every suppression in a template's Metadata carries a reason). Both run
//! once over all files, from the project's venv (scripts/setup installs them).

mod support;

use std::path::Path;

use idealstack_templates::render;
use idealstack_testbed::{lint, scratch_dir};

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

/// The harness itself can fail: cfn-lint rejects a template with a known mistake.
#[test]
fn cfn_lint_rejects_a_broken_template() {
    let dir = scratch_dir("templates-lint-canary");
    let mut spec = idealstack_templates::edge(&support::edge_opts("canary", 0));
    spec.template["Resources"]["HttpsListener"]["Properties"]["Port"] =
        serde_json::json!("not-a-port");
    std::fs::write(dir.path().join("canary.json"), render(&spec.template)).unwrap();
    let result = lint::cfn_lint(dir.path(), &["canary.json".to_string()]);
    assert!(
        result
            .as_ref()
            .is_err_and(|report| report.contains("canary.json")),
        "cfn-lint accepted it: {result:?}"
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

    if let Err(report) = lint::cfn_lint(dir.path(), &files) {
        panic!("cfn-lint found errors or warnings: {report}");
    }
    lint::checkov(dir.path()).assert_clean(resource_total);
}

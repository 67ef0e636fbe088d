//! Scenario manifests shared by the scenario tests: the files in `tests/scenarios/`, the 150-site
//! one completed with generated sites.

use idealstack_manifest::Model;
use std::path::PathBuf;

/// The folder of the scenario manifests.
pub fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scenarios")
}

/// The text of scenario `name`, with generated sites for `shards-150`.
pub fn scenario_text(name: &str) -> String {
    let mut text = std::fs::read_to_string(scenario_dir().join(format!("{name}.toml")))
        .expect("scenario file");
    if name == "shards-150" {
        for i in 0..150 {
            text.push_str(&format!(
                "\n[[sites]]\nname = \"client{i:03}\"\ndomains = [\"client{i:03}.example.org\", \"www.client{i:03}.example.org\"]\ndatabase = {}\n",
                i % 3 == 0
            ));
        }
    }
    text
}

/// Every scenario: name and model.
pub fn scenarios() -> Vec<(String, Model)> {
    let mut names: Vec<String> = std::fs::read_dir(scenario_dir())
        .expect("scenario dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let model = idealstack_manifest::parse(&scenario_text(&n))
                .unwrap_or_else(|e| panic!("scenario {n}: {e}"));
            (n, model)
        })
        .collect()
}

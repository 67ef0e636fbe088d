//! The offline commands as a user runs them: the real `idealstack` binary on files in a scratch
//! folder (init, validate, plan, plan --out, plan --prior, schema).

use idealstack_testbed::scratch_dir;
use std::path::Path;
use std::process::{Command, Output};

fn idealstack(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idealstack"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run idealstack")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_validate_plan_out() {
    let dir = scratch_dir("cli-plan");
    let d = dir.path();
    let out = idealstack(d, &["init", "--name", "shopco", "--region", "eu-central-1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = idealstack(d, &["init"]);
    assert!(!again.status.success(), "init must not overwrite");
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    let out = idealstack(d, &["validate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stack shopco in eu-central-1, 2 sites"),
        "{}",
        text(&out.stdout)
    );

    let out = idealstack(d, &["plan", "--out", "build"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "shopco-network",
        "shopco-data",
        "shopco-cluster",
        "shopco-edge-0",
        "shopco-site-blog",
        "shopco-site-shop",
        "Estimated monthly cost",
        "total",
    ] {
        assert!(
            shown.contains(expected),
            "plan output lacks {expected}:\n{shown}"
        );
    }
    for stack in [
        "shopco-network",
        "shopco-data",
        "shopco-cluster",
        "shopco-edge-0",
        "shopco-site-blog",
        "shopco-site-shop",
    ] {
        let template: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(format!("build/{stack}.template.json"))).unwrap(),
        )
        .unwrap();
        assert!(
            template["Resources"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{stack} has resources"
        );
        let params: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(format!("build/{stack}.parameters.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(params["StackName"], stack);
    }
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("build/plan.json")).unwrap()).unwrap();
    assert!(
        plan["assignments"]["sites"]["shop"]["uid"]
            .as_u64()
            .unwrap()
            >= 20000
    );

    let json = idealstack(d, &["plan", "--json"]);
    let value: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("plan --json prints JSON");
    assert_eq!(value["stacks"].as_array().unwrap().len(), 6);
    assert!(value["cost"]["total_monthly_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn prior_assignments_keep_every_site_in_place() {
    let dir = scratch_dir("cli-prior");
    let d = dir.path();
    assert!(idealstack(d, &["init"]).status.success());
    assert!(idealstack(d, &["plan", "--out", "first"]).status.success());
    // A new site that sorts before the others: without the prior it would take their slots.
    let mut manifest = std::fs::read_to_string(d.join("idealstack.toml")).unwrap();
    manifest.push_str("\n[[sites]]\nname = \"aaa\"\ndomains = [\"aaa.example.com\"]\n");
    std::fs::write(d.join("idealstack.toml"), manifest).unwrap();
    let out = idealstack(
        d,
        &["plan", "--prior", "first/plan.json", "--out", "second"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("site `aaa` added"),
        "{}",
        text(&out.stdout)
    );
    for site in ["blog", "shop"] {
        for kind in ["template", "parameters"] {
            let file = format!("acme-site-{site}.{kind}.json");
            assert_eq!(
                std::fs::read(d.join("first").join(&file)).unwrap(),
                std::fs::read(d.join("second").join(&file)).unwrap(),
                "{file} changed when a site was added"
            );
        }
    }
    // Removing a site removes its files from the output folder.
    let manifest = std::fs::read_to_string(d.join("idealstack.toml")).unwrap();
    let cut = manifest
        .find("[[sites]]\nname = \"blog\"")
        .expect("blog site in init's manifest");
    let end = manifest[cut..]
        .find("\n[[sites]]")
        .map_or(manifest.len(), |e| cut + e + 1);
    std::fs::write(
        d.join("idealstack.toml"),
        format!("{}{}", &manifest[..cut], &manifest[end..]),
    )
    .unwrap();
    let out = idealstack(
        d,
        &["plan", "--prior", "second/plan.json", "--out", "second"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!d.join("second/acme-site-blog.template.json").exists());
    assert!(d.join("second/acme-site-shop.template.json").exists());
}

#[test]
fn invalid_manifest_reports_every_problem_and_changes_nothing() {
    let dir = scratch_dir("cli-invalid");
    let d = dir.path();
    std::fs::write(
        d.join("idealstack.toml"),
        "[stack]\nname = \"Bad Name\"\nregion = \"eu-west-1\"\n[[sites]]\nname = \"shop\"\ndomain = [\"x.example.com\"]\n",
    )
    .unwrap();
    let out = idealstack(d, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("sites[0].domain: unknown field `domain`; did you mean `domains`?"),
        "{err}"
    );
    let out = idealstack(d, &["validate", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["valid"], false);
    assert_eq!(value["problems"].as_array().unwrap().len(), 2, "{value}");
    let out = idealstack(d, &["plan", "--out", "build"]);
    assert!(!out.status.success());
    assert!(!d.join("build").exists(), "a failed plan writes nothing");
    let out = idealstack(d, &["plan", "-f", "missing.toml"]);
    assert!(
        text(&out.stderr).contains("run `idealstack init`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn schema_is_json_schema_of_the_manifest() {
    let dir = scratch_dir("cli-schema");
    let out = idealstack(dir.path(), &["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "idealstack.toml");
    assert!(
        schema["$defs"]["Site"]["properties"]["domains"]["description"]
            .as_str()
            .unwrap()
            .contains("primary")
    );
}

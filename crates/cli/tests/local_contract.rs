//! The contract between the templates and the programs they start, proven by running them: for
//! every scenario in crates/stacks/tests/scenarios, `idealstack local up` deploys the rendered
//! templates into the emulator and starts every ECS service's task definition, as deployed, as
//! containers of the images built from the project's Dockerfiles. Every service must reach its
//! desired count with every task healthy behind its load balancer, no container may stop, and
//! every site must answer through the router. A template that starts a program with a flag,
//! variable or path the program does not take fails here (the program exits, or never answers).
//!
//! What a user of each scenario would do first is done here too, no more: the secrets a site names
//! are created in the emulator (as in the user's account), and a site with its own health check
//! path gets that page (as the user's application would bring it).
//!
//! Two adjustments, both for this machine and named: PHP 8.1 and 8.3 images are built from the
//! Debian PHP repository, which is not reachable here, so those sites run 8.2 and 8.4 (the same
//! Dockerfile template; the version is a build argument); and shards-150's 150 sites (300 tasks)
//! do not fit on this machine, so it runs its first sites only: its container definitions are the
//! same template's as every other site's, the load balancer shards are proven by the planner's
//! tests.

mod local_support;

use local_support::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// One local platform at a time: they share ECS's credentials address.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scenario(name: &str) -> String {
    let path = here().join("../stacks/tests/scenarios").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The scenario, as this machine can run it (see the module doc).
fn runnable(manifest: &str) -> String {
    manifest
        .replace("php = \"8.1\"", "php = \"8.2\"")
        .replace("php = \"8.3\"", "php = \"8.4\"")
}

/// `(name, value ARN)` of every secret a site names that lives outside the stack.
fn external_secrets(manifest: &str) -> Vec<String> {
    let value: toml::Value = toml::from_str(manifest).unwrap();
    let mut arns = Vec::new();
    for site in value["sites"].as_array().into_iter().flatten() {
        if let Some(secrets) = site.get("secrets").and_then(|s| s.as_table()) {
            arns.extend(
                secrets
                    .values()
                    .filter_map(|v| v.as_str())
                    .map(String::from),
            );
        }
    }
    arns
}

/// `(site, path)` of every site with its own health check path.
fn health_pages(manifest: &str) -> Vec<(String, String)> {
    let value: toml::Value = toml::from_str(manifest).unwrap();
    value["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_string(),
                s.get("health_check_path")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Creates `arn` (Secrets Manager or SSM) in the emulator at `endpoint`.
fn create_secret(endpoint: &str, region: &str, arn: &str) {
    let (service, target, body) = if arn.contains(":secretsmanager:") {
        // The whole tail as the name: Secrets Manager (and the emulator) then finds the secret by
        // the manifest's ARN as a partial ARN, whatever random suffix it gives the new secret.
        let name = arn.rsplit(":secret:").next().unwrap();
        (
            "secretsmanager",
            "secretsmanager.CreateSecret",
            serde_json::json!({ "Name": name, "SecretString": "contract-test-value" }),
        )
    } else {
        let name = arn.rsplit(":parameter").next().unwrap();
        (
            "ssm",
            "AmazonSSM.PutParameter",
            serde_json::json!({ "Name": name, "Value": "contract-test-value", "Type": "SecureString" }),
        )
    };
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", &format!("X-Amz-Target: {target}")])
        .args(["-H", "Content-Type: application/x-amz-json-1.1", "-H"])
        .arg(format!("Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"))
        .arg("--data-binary")
        .arg(body.to_string())
        .arg(format!("{endpoint}/"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "creating {arn} in the emulator"
    );
}

/// Writes `public_html<path>` into `site`'s folder once the agent has made it, owned as the folder.
fn put_health_page(local: &Local, stack: &str, site: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    // The local EFS folder exists once the first task mounts it: ask again each time.
    let docroot = loop {
        let docroot = local.site_folder(stack, site).join("public_html");
        if docroot.is_dir() {
            break docroot;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not create {}",
            docroot.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let file = docroot.join(path.trim_start_matches('/'));
    std::fs::write(&file, "<?php echo 'ok';\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&docroot).unwrap());
    std::os::unix::fs::chown(&file, Some(owner), Some(owner)).unwrap();
}

fn check(file: &str, max_sites: Option<usize>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut manifest = runnable(&scenario(file));
    if let Some(n) = max_sites {
        manifest.push_str(&generated_sites(n));
    }
    let stack = toml::from_str::<toml::Value>(&manifest).unwrap()["stack"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let region = toml::from_str::<toml::Value>(&manifest).unwrap()["stack"]["region"]
        .as_str()
        .unwrap()
        .to_string();
    let mut local = Local::new(&format!("local-contract-{stack}"), &manifest);

    // `local up`, with what a user brings (secrets, health pages) added while it runs.
    let mut up = local.up_child();
    let deadline = Instant::now() + Duration::from_secs(300);
    let endpoint = loop {
        if let Some(e) = local.endpoint_if_up() {
            break e;
        }
        if let Ok(Some(status)) = up.try_wait() {
            panic!(
                "local up of {file} ended ({status}) before the platform ran:\n{}",
                local.platform_log()
            );
        }
        assert!(Instant::now() < deadline, "the platform did not start");
        std::thread::sleep(Duration::from_millis(500));
    };
    for arn in external_secrets(&manifest) {
        create_secret(&endpoint, &region, &arn);
    }
    for (site, path) in health_pages(&manifest) {
        put_health_page(&local, &stack, &site, &path);
    }
    let out = up.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "local up of {file} failed:\n{}\n{}\nplatform log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        local.platform_log()
    );

    // Every service at its count, every load-balanced task healthy, nothing stopped.
    std::thread::sleep(Duration::from_secs(10));
    let status = local.status();
    let services = status["services"].as_array().unwrap();
    assert!(
        services.len() >= 3,
        "the cluster's services and the sites': {status}"
    );
    for s in services {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["running"], s["desired"], "{name} in {file}: {status}");
        let load_balanced = name.contains("-site-") || name.contains("Sftp");
        assert_eq!(
            s["load_balanced"], load_balanced,
            "{name} in {file}: {status}"
        );
        if load_balanced {
            assert_eq!(s["healthy"], s["desired"], "{name} in {file}: {status}");
        }
    }
    let stopped: Vec<&str> = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .filter(|e| e.contains("stopped (exit code"))
        .collect();
    assert!(
        stopped.is_empty(),
        "containers of {file} stopped: {stopped:#?}\nplatform log:\n{}",
        local.platform_log()
    );
    for site in status["sites"].as_array().unwrap() {
        assert_eq!(site["answers"], 200, "{site} in {file}");
    }
    // The agent's passes succeed (it made every site's folders and databases).
    let agent = local.logs_of_service("AgentService");
    assert!(
        agent.contains("folder ") && !agent.contains("pass failed (database"),
        "the agent of {file}:\n{agent}"
    );
    local.down();
}

/// The first `n` of the sites crates/stacks/tests/support.rs generates for shards-150.
fn generated_sites(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "\n[[sites]]\nname = \"client{i:03}\"\ndomains = [\"client{i:03}.example.org\", \"www.client{i:03}.example.org\"]\ndatabase = {}\n",
                i % 3 == 0
            )
        })
        .collect()
}

#[test]
fn small() {
    check("small.toml", None);
}

#[test]
fn many_domains() {
    check("many-domains.toml", None);
}

#[test]
fn preview() {
    check("preview.toml", None);
}

#[test]
fn email_mariadb() {
    check("email-mariadb.toml", None);
}

#[test]
fn shards_150_first_sites() {
    check("shards-150.toml", Some(3));
}

//! A whole deploy over fake ports that answer at once: the order of operations (removed sites
//! deleted first, then network, data, cluster and edges, then sites), one site's failure leaving
//! the others deployed, a failed dependency skipping its dependents, certificates requested once,
//! and the state written for the next run and the agent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use idealstack_deploy::Outcome;
use idealstack_deploy::engine::Options;
use idealstack_deploy::ports::*;
use idealstack_deploy::progress::Recorder;
use idealstack_deploy::run::{self, Ports};

#[derive(Default)]
struct World {
    stacks: BTreeMap<String, StackInfo>,
    pending: BTreeMap<String, ChangeSetRequest>,
    log: Vec<String>,
    objects: BTreeMap<String, Vec<u8>>,
    certs: Vec<CertificateInfo>,
    fail: BTreeSet<String>,
}

#[derive(Default)]
struct Fake(Mutex<World>);

impl Fake {
    fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().log.clone()
    }
}

impl StackApi for Fake {
    fn describe(&self, stack: &str) -> Result<Option<StackInfo>, ApiError> {
        Ok(self.0.lock().unwrap().stacks.get(stack).cloned())
    }
    fn list(&self, prefix: &str) -> Result<Vec<StackInfo>, ApiError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .stacks
            .values()
            .filter(|s| s.name.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn create_change_set(&self, r: &ChangeSetRequest) -> Result<String, ApiError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("change-set {}", r.stack));
        w.pending.insert(r.stack.clone(), r.clone());
        Ok(format!("cs-{}", r.stack))
    }
    fn describe_change_set(&self, stack: &str, _: &str) -> Result<ChangeSetInfo, ApiError> {
        let w = self.0.lock().unwrap();
        let same = w
            .stacks
            .get(stack)
            .is_some_and(|s| Some(&s.parameters) == w.pending.get(stack).map(|r| &r.parameters));
        Ok(if same {
            ChangeSetInfo {
                status: "FAILED".into(),
                status_reason: Some("The submitted information didn't contain changes.".into()),
                changes: vec![],
            }
        } else {
            ChangeSetInfo {
                status: "CREATE_COMPLETE".into(),
                status_reason: None,
                changes: vec![ResourceChange {
                    action: "Add".into(),
                    logical_id: "X".into(),
                    resource_type: "AWS::SNS::Topic".into(),
                    replacement: None,
                }],
            }
        })
    }
    fn delete_change_set(&self, _: &str, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn execute_change_set(&self, stack: &str, _: &str) -> Result<(), ApiError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("execute {stack}"));
        let r = w.pending.remove(stack).unwrap();
        let failed = w.fail.contains(stack);
        // Every output the template declares, valued after the stack and key.
        let text = match &r.template {
            TemplateSource::Body(b) => b.clone(),
            TemplateSource::Url(u) => {
                String::from_utf8(w.objects[u.trim_start_matches("https://")].clone()).unwrap()
            }
        };
        let template: serde_json::Value = serde_json::from_str(&text).unwrap();
        let outputs: BTreeMap<String, String> = template["Outputs"]
            .as_object()
            .map(|o| {
                o.keys()
                    .map(|k| (k.clone(), format!("{stack}:{k}")))
                    .collect()
            })
            .unwrap_or_default();
        w.stacks.insert(
            stack.into(),
            StackInfo {
                name: stack.into(),
                status: if failed {
                    "ROLLBACK_COMPLETE".into()
                } else {
                    "CREATE_COMPLETE".into()
                },
                outputs: if failed { BTreeMap::new() } else { outputs },
                parameters: r.parameters,
                ..StackInfo::default()
            },
        );
        Ok(())
    }
    fn events(&self, _: &str) -> Result<Vec<StackEvent>, ApiError> {
        Ok(vec![])
    }
    fn delete(&self, stack: &str) -> Result<(), ApiError> {
        let mut w = self.0.lock().unwrap();
        w.log.push(format!("delete {stack}"));
        w.stacks.remove(stack);
        Ok(())
    }
    fn cancel_update(&self, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn continue_update_rollback(&self, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), ApiError> {
        self.0
            .lock()
            .unwrap()
            .log
            .push(format!("protect {stack} {on}"));
        Ok(())
    }
    fn set_stack_policy(&self, stack: &str, _: &str) -> Result<(), ApiError> {
        self.0.lock().unwrap().log.push(format!("policy {stack}"));
        Ok(())
    }
    fn stack_policy(&self, _: &str) -> Result<Option<String>, ApiError> {
        Ok(None)
    }
}

impl ObjectStore for Fake {
    fn put(&self, bucket: &str, key: &str, body: &[u8], _: &str) -> Result<(), ApiError> {
        let mut w = self.0.lock().unwrap();
        if key.starts_with("state/") {
            w.log.push(format!("put {key}"));
        }
        w.objects.insert(format!("{bucket}/{key}"), body.to_vec());
        Ok(())
    }
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .objects
            .get(&format!("{bucket}/{key}"))
            .cloned())
    }
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ApiError> {
        let start = format!("{bucket}/{prefix}");
        Ok(self
            .0
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|k| k.starts_with(&start))
            .map(|k| k[bucket.len() + 1..].to_string())
            .collect())
    }
    fn template_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}/{key}")
    }
}

impl CertificateApi for Fake {
    fn request(
        &self,
        names: &[String],
        _: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ApiError> {
        let mut w = self.0.lock().unwrap();
        let arn = format!("arn:cert:{}", w.certs.len());
        w.log
            .push(format!("request-certificate {}", names.join(",")));
        w.certs.push(CertificateInfo {
            arn: arn.clone(),
            names: names.to_vec(),
            status: "ISSUED".into(),
            validation_records: vec![],
            not_after: None,
            failure_reason: None,
            tags: tags.clone(),
        });
        Ok(arn)
    }
    fn describe(&self, arn: &str) -> Result<CertificateInfo, ApiError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .certs
            .iter()
            .find(|c| c.arn == arn)
            .cloned()
            .unwrap())
    }
    fn find_tagged(&self, key: &str, value: &str) -> Result<Vec<CertificateInfo>, ApiError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .certs
            .iter()
            .filter(|c| c.tags.get(key).map(String::as_str) == Some(value))
            .cloned()
            .collect())
    }
    fn delete(&self, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn import(
        &self,
        certificate_pem: &str,
        private_key_pem: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ApiError> {
        assert!(certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(private_key_pem.contains("PRIVATE KEY"));
        let mut w = self.0.lock().unwrap();
        let arn = format!("arn:cert:{}", w.certs.len());
        w.log.push("import-certificate".to_string());
        w.certs.push(CertificateInfo {
            arn: arn.clone(),
            names: vec![],
            status: "ISSUED".into(),
            validation_records: vec![],
            not_after: None,
            failure_reason: None,
            tags: tags.clone(),
        });
        Ok(arn)
    }
}

impl DnsApi for Fake {
    fn zones(&self) -> Result<Vec<(String, String)>, ApiError> {
        Ok(vec![])
    }
    fn upsert(&self, _: &str, _: &DnsRecord) -> Result<(), ApiError> {
        Ok(())
    }
}

impl ServiceApi for Fake {
    fn desired_count(&self, _: &str, _: &str) -> Result<Option<u32>, ApiError> {
        Ok(None)
    }
}

impl LoadBalancerApi for Fake {
    fn unprotect_stack_load_balancers(&self, _: &str) -> Result<usize, ApiError> {
        Ok(0)
    }
}

fn ports(f: &Fake) -> Ports<'_> {
    Ports {
        stacks: f,
        store: f,
        certs: f,
        dns: f,
        services: f,
        load_balancers: f,
    }
}

const MANIFEST: &str = "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n[[sites]]\nname = \"a\"\ndomains = [\"a.example.com\"]\n\n[[sites]]\nname = \"b\"\ndomains = [\"b.example.com\"]\n\n[[sites]]\nname = \"c\"\ndomains = [\"c.example.com\"]\n";

fn deploy(f: &Fake, manifest: &str) -> run::Report {
    let model = idealstack_manifest::parse(manifest).unwrap();
    let (prior, _) = run::prior(ports(f), "t").unwrap();
    let build = idealstack_stacks::build(&model, &prior, "0.0.0").unwrap();
    let opts = Options {
        poll: Duration::from_millis(1),
        parallel: 2,
        ..Options::default()
    };
    run::deploy(
        ports(f),
        &model,
        &build,
        "0.0.0",
        &opts,
        Duration::ZERO,
        &Recorder::default(),
    )
    .unwrap()
}

fn position(log: &[String], line: &str) -> usize {
    log.iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("{line} in {log:?}"))
}

#[test]
fn deploys_in_dependency_order_and_one_site_failure_spares_the_others() {
    let f = Fake::default();
    f.0.lock().unwrap().fail.insert("t-site-b".into());
    let report = deploy(&f, MANIFEST);
    let log = f.log();
    let net = position(&log, "execute t-network");
    let data = position(&log, "execute t-data");
    let cluster = position(&log, "execute t-cluster");
    let edge = position(&log, "execute t-edge-0");
    assert!(net < data && data < cluster && data < edge, "{log:?}");
    for s in ["a", "b", "c"] {
        assert!(
            position(&log, &format!("execute t-site-{s}")) > cluster.max(edge),
            "{log:?}"
        );
    }
    assert!(
        position(&log, "protect t-data true") > data,
        "termination protection on the data stack"
    );
    assert!(log.contains(&"policy t-data".to_string()));
    let outcome = |s: &str| {
        report
            .stacks
            .iter()
            .find(|(n, _)| n == s)
            .unwrap()
            .1
            .clone()
    };
    assert!(matches!(outcome("t-site-a"), Outcome::Created { .. }));
    assert!(matches!(outcome("t-site-c"), Outcome::Created { .. }));
    assert!(
        matches!(outcome("t-site-b"), Outcome::Failed(_)),
        "{:?}",
        outcome("t-site-b")
    );
    assert!(!report.ok());
    assert!(report.state_written);
    let objects = f.0.lock().unwrap().objects.clone();
    assert!(objects.contains_key("t-data:StateBucketName/state/prior.json"));
    assert!(objects.contains_key("t-data:StateBucketName/state/desired.json"));
    assert!(
        objects.contains_key("t-data:StateBucketName/templates/t-site-a.json"),
        "site templates are uploaded"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("request-certificate"))
            .count(),
        3
    );

    // Again, without the failure: only b is created, the rest has no changes, no new certificate.
    f.0.lock().unwrap().fail.clear();
    let before = f.log().len();
    let report = deploy(&f, MANIFEST);
    assert!(report.ok(), "{:?}", report.stacks);
    let log = f.log()[before..].to_vec();
    let executed: Vec<&String> = log.iter().filter(|l| l.starts_with("execute")).collect();
    assert_eq!(executed, ["execute t-site-b"], "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("request-certificate")));
}

#[test]
fn a_removed_site_is_deleted_before_anything_else_and_a_failed_edge_skips_its_sites() {
    let f = Fake::default();
    assert!(deploy(&f, MANIFEST).ok());
    let without_a = MANIFEST.replace(
        "[[sites]]\nname = \"a\"\ndomains = [\"a.example.com\"]\n\n",
        "",
    );
    let manifest = without_a.clone() + "\n[[sites]]\nname = \"d\"\ndomains = [\"d.example.com\"]\n";
    let before = f.log().len();
    // The edge stack has to be made again (its parameters do not depend on the sites, so
    // removing one changes nothing there) and fails.
    f.0.lock().unwrap().stacks.remove("t-edge-0");
    f.0.lock().unwrap().fail.insert("t-edge-0".into());
    let report = deploy(&f, &manifest);
    let log = f.log()[before..].to_vec();
    assert_eq!(log[0], "delete t-site-a", "deletions first: {log:?}");
    let outcome = |s: &str| {
        report
            .stacks
            .iter()
            .find(|(n, _)| n == s)
            .map(|x| x.1.clone())
    };
    assert!(
        matches!(outcome("t-site-d"), Some(Outcome::Skipped { ref why }) if why.contains("t-edge-0")),
        "{:?}",
        outcome("t-site-d")
    );
    assert!(!log.contains(&"execute t-site-d".to_string()));
}

#[test]
fn the_desired_state_names_new_sites_before_their_stacks_start() {
    // The agent makes a site's folders from the desired state; a new site's tasks need them.
    let f = Fake::default();
    assert!(deploy(&f, MANIFEST).ok());
    let log = f.log();
    let desired = position(&log, "put state/desired.json");
    for s in ["a", "b", "c"] {
        assert!(
            desired < position(&log, &format!("change-set t-site-{s}")),
            "{log:?}"
        );
    }
    let w = f.0.lock().unwrap();
    let state: serde_json::Value = serde_json::from_slice(
        w.objects
            .iter()
            .find(|(k, _)| k.ends_with("/state/desired.json"))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(state["model"]["sites"].as_array().unwrap().len(), 3);
}

#[test]
fn the_listeners_default_certificate_is_the_stacks_own_imported_once() {
    let f = Fake::default();
    assert!(deploy(&f, MANIFEST).ok());
    assert!(deploy(&f, MANIFEST).ok());
    let log = f.log();
    let imports = log.iter().filter(|l| *l == "import-certificate").count();
    assert_eq!(imports, 1, "imported once, found again by its tag: {log:?}");
    assert!(position(&log, "import-certificate") < position(&log, "change-set t-edge-0"));
    let w = f.0.lock().unwrap();
    let default = w
        .certs
        .iter()
        .find(|c| c.tags.get("idealstack:purpose").map(String::as_str) == Some("listener-default"))
        .expect("the default certificate");
    assert!(
        !default.tags.contains_key("idealstack:site"),
        "it belongs to no site"
    );
    assert_eq!(default.tags["idealstack:stack"], "t");
}

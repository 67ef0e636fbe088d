//! The engine against a scripted CloudFormation: each test scripts the statuses and events one
//! stack goes through (events from real `describe-stack-events` output in `fixtures/`), and
//! checks the outcome and the calls the engine made. This is how the failure paths moto cannot
//! produce are proven: cancel-update-stack, continue-update-rollback, rollback root causes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use idealstack_deploy::engine::{Options, Outcome, deploy_stack};
use idealstack_deploy::ports::*;
use idealstack_deploy::progress::Recorder;
use serde_json::Value;

type Step = (&'static str, Vec<StackEvent>);

#[derive(Default)]
struct Inner {
    status: Option<String>,
    events: Vec<StackEvent>,
    pending: VecDeque<Step>,
    change_set: ChangeSetInfo,
    on_execute: Vec<Step>,
    on_delete: Vec<Step>,
    on_cancel: Vec<Step>,
    on_continue: Vec<Step>,
    calls: Vec<String>,
    interrupt_after_describes: Option<usize>,
    policy: Option<String>,
}

struct Fake {
    inner: Mutex<Inner>,
    opts: Options,
}

impl Fake {
    fn new(status: Option<&str>) -> Fake {
        let f = Fake {
            inner: Mutex::new(Inner::default()),
            opts: Options {
                poll: Duration::from_millis(1),
                timeout: Duration::from_secs(10),
                change_set_name: "idealstack-1".into(),
                ..Options::default()
            },
        };
        f.inner.lock().unwrap().status = status.map(Into::into);
        f
    }
    fn with(self, f: impl FnOnce(&mut Inner)) -> Self {
        f(&mut self.inner.lock().unwrap());
        self
    }
    fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }
    fn call(&self, c: &str) {
        self.inner.lock().unwrap().calls.push(c.into());
    }
    fn load(&self, steps: fn(&mut Inner) -> Vec<Step>) {
        let mut i = self.inner.lock().unwrap();
        let s = steps(&mut i);
        i.pending.extend(s);
    }
}

impl LoadBalancerApi for Fake {
    fn unprotect_stack_load_balancers(&self, _: &str) -> Result<usize, ApiError> {
        self.call("unprotect_load_balancers");
        Ok(1)
    }
}

impl StackApi for Fake {
    fn describe(&self, _: &str) -> Result<Option<StackInfo>, ApiError> {
        let mut i = self.inner.lock().unwrap();
        if let Some(n) = i.interrupt_after_describes.as_mut() {
            if *n == 0 {
                self.opts.interrupt.store(true, Ordering::SeqCst);
            } else {
                *n -= 1;
            }
        }
        if let Some((status, mut events)) = i.pending.pop_front() {
            i.status = if status == "GONE" {
                None
            } else {
                Some(status.into())
            };
            events.extend(std::mem::take(&mut i.events));
            i.events = events;
        }
        Ok(i.status.clone().map(|status| StackInfo {
            name: "s".into(),
            status,
            ..StackInfo::default()
        }))
    }
    fn list(&self, _: &str) -> Result<Vec<StackInfo>, ApiError> {
        Ok(vec![])
    }
    fn create_change_set(&self, r: &ChangeSetRequest) -> Result<String, ApiError> {
        self.call(&format!("create_change_set create={}", r.create));
        Ok("cs-1".into())
    }
    fn describe_change_set(&self, _: &str, _: &str) -> Result<ChangeSetInfo, ApiError> {
        Ok(self.inner.lock().unwrap().change_set.clone())
    }
    fn delete_change_set(&self, _: &str, _: &str) -> Result<(), ApiError> {
        self.call("delete_change_set");
        Ok(())
    }
    fn execute_change_set(&self, _: &str, _: &str) -> Result<(), ApiError> {
        self.call("execute");
        self.load(|i| std::mem::take(&mut i.on_execute));
        Ok(())
    }
    fn events(&self, _: &str) -> Result<Vec<StackEvent>, ApiError> {
        Ok(self.inner.lock().unwrap().events.clone())
    }
    fn delete(&self, _: &str) -> Result<(), ApiError> {
        self.call("delete");
        self.load(|i| std::mem::take(&mut i.on_delete));
        Ok(())
    }
    fn cancel_update(&self, _: &str) -> Result<(), ApiError> {
        self.call("cancel_update");
        self.load(|i| std::mem::take(&mut i.on_cancel));
        Ok(())
    }
    fn continue_update_rollback(&self, _: &str) -> Result<(), ApiError> {
        self.call("continue_update_rollback");
        self.load(|i| std::mem::take(&mut i.on_continue));
        Ok(())
    }
    fn set_termination_protection(&self, _: &str, _: bool) -> Result<(), ApiError> {
        Ok(())
    }
    fn set_stack_policy(&self, _: &str, policy: &str) -> Result<(), ApiError> {
        self.call(&format!("set_stack_policy {policy}"));
        Ok(())
    }
    fn stack_policy(&self, _: &str) -> Result<Option<String>, ApiError> {
        Ok(self.inner.lock().unwrap().policy.clone())
    }
}

/// Events of a real `aws cloudformation describe-stack-events` answer (newest first).
fn fixture(name: &str) -> Vec<StackEvent> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["StackEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| StackEvent {
            id: e["EventId"].as_str().unwrap().into(),
            stack: e["StackName"].as_str().unwrap().into(),
            logical_id: e["LogicalResourceId"].as_str().unwrap().into(),
            resource_type: e["ResourceType"].as_str().unwrap().into(),
            status: e["ResourceStatus"].as_str().unwrap().into(),
            reason: e["ResourceStatusReason"].as_str().map(Into::into),
        })
        .collect()
}

fn event(logical: &str, ty: &str, status: &str) -> StackEvent {
    StackEvent {
        id: format!("{logical}-{status}"),
        stack: "s".into(),
        logical_id: logical.into(),
        resource_type: ty.into(),
        status: status.into(),
        reason: None,
    }
}

fn changes(list: &[(&str, &str, &str, Option<&str>)]) -> ChangeSetInfo {
    ChangeSetInfo {
        status: "CREATE_COMPLETE".into(),
        status_reason: None,
        changes: list
            .iter()
            .map(|(a, id, ty, r)| ResourceChange {
                action: (*a).into(),
                logical_id: (*id).into(),
                resource_type: (*ty).into(),
                replacement: r.map(Into::into),
            })
            .collect(),
    }
}

fn request() -> ChangeSetRequest {
    ChangeSetRequest {
        stack: "s".into(),
        name: "idealstack-1".into(),
        create: false,
        template: TemplateSource::Body("{}".into()),
        parameters: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

fn run(fake: &Fake) -> (Outcome, Vec<String>) {
    let rec = Recorder::default();
    let out = deploy_stack(fake, fake, request(), &fake.opts, &rec);
    (out, rec.lines())
}

#[test]
fn a_first_create_succeeds_and_shows_each_resource() {
    let fake = Fake::new(None).with(|i| {
        i.change_set = changes(&[("Add", "Vpc", "AWS::EC2::VPC", None)]);
        i.on_execute = vec![
            (
                "CREATE_IN_PROGRESS",
                vec![event("Vpc", "AWS::EC2::VPC", "CREATE_IN_PROGRESS")],
            ),
            (
                "CREATE_COMPLETE",
                vec![event("Vpc", "AWS::EC2::VPC", "CREATE_COMPLETE")],
            ),
        ];
    });
    let (out, lines) = run(&fake);
    assert!(
        matches!(out, Outcome::Created { ref changes } if changes.len() == 1),
        "{out:?}"
    );
    assert_eq!(fake.calls(), ["create_change_set create=true", "execute"]);
    assert!(
        lines
            .iter()
            .any(|l| l == "s  Vpc (AWS::EC2::VPC)  CREATE_COMPLETE"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("1 to add")), "{lines:?}");
}

#[test]
fn a_create_that_rolls_back_reports_the_root_cause_and_deletes_the_empty_stack() {
    let fake = Fake::new(None).with(|i| {
        i.change_set = changes(&[(
            "Add",
            "TargetGroup",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            None,
        )]);
        i.on_execute = vec![
            ("CREATE_IN_PROGRESS", vec![]),
            ("ROLLBACK_COMPLETE", fixture("create-rollback-events.json")),
        ];
        i.on_delete = vec![("DELETE_IN_PROGRESS", vec![]), ("GONE", vec![])];
    });
    let (out, _) = run(&fake);
    let Outcome::Failed(f) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        f.resource.as_deref(),
        Some("TargetGroup (AWS::ElasticLoadBalancingV2::TargetGroup)"),
        "the first failure, not the cancelled echo"
    );
    assert!(
        f.reason.contains("maximum number of target groups"),
        "{f:?}"
    );
    assert!(f.what.contains("the empty stack was deleted"), "{f:?}");
    assert_eq!(
        fake.calls(),
        // The clean-up deletes as destroy does: load balancer deletion protection off first.
        [
            "create_change_set create=true",
            "execute",
            "unprotect_load_balancers",
            "delete"
        ]
    );
}

#[test]
fn a_stack_left_in_rollback_complete_is_deleted_then_created() {
    let fake = Fake::new(Some("ROLLBACK_COMPLETE")).with(|i| {
        i.on_delete = vec![("GONE", vec![])];
        i.change_set = changes(&[("Add", "Vpc", "AWS::EC2::VPC", None)]);
        i.on_execute = vec![("CREATE_COMPLETE", vec![])];
    });
    let (out, _) = run(&fake);
    assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
    assert_eq!(
        fake.calls(),
        [
            "unprotect_load_balancers",
            "delete",
            "create_change_set create=true",
            "execute"
        ]
    );
}

#[test]
fn an_update_that_rolls_back_names_the_failing_resource_and_keeps_the_stack() {
    let fake = Fake::new(Some("UPDATE_COMPLETE")).with(|i| {
        i.change_set = changes(&[(
            "Modify",
            "AutoScalingGroup",
            "AWS::AutoScaling::AutoScalingGroup",
            Some("False"),
        )]);
        i.on_execute = vec![
            ("UPDATE_IN_PROGRESS", vec![]),
            (
                "UPDATE_ROLLBACK_COMPLETE",
                fixture("update-rollback-events.json"),
            ),
        ];
    });
    let (out, lines) = run(&fake);
    let Outcome::Failed(f) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        f.resource.as_deref(),
        Some("AutoScalingGroup (AWS::AutoScaling::AutoScalingGroup)")
    );
    assert!(f.reason.contains("Launching EC2 instance failed"));
    assert!(f.what.contains("back on its previous version"));
    assert_eq!(fake.calls(), ["create_change_set create=false", "execute"]);
    assert!(
        lines.iter().any(|l| l.contains("UPDATE_FAILED")),
        "events were shown: {lines:?}"
    );
}

#[test]
fn update_rollback_failed_is_reported_with_the_next_step_and_continued_when_asked() {
    let fake = Fake::new(Some("UPDATE_ROLLBACK_FAILED"));
    let (out, _) = run(&fake);
    let Outcome::Failed(f) = out else {
        panic!("{out:?}")
    };
    assert!(f.next.contains("--continue-rollback"), "{f:?}");
    assert!(
        fake.calls().is_empty(),
        "nothing attempted: {:?}",
        fake.calls()
    );

    let mut fake = Fake::new(Some("UPDATE_ROLLBACK_FAILED")).with(|i| {
        i.on_continue = vec![
            ("UPDATE_ROLLBACK_IN_PROGRESS", vec![]),
            ("UPDATE_ROLLBACK_COMPLETE", vec![]),
        ];
        i.change_set = changes(&[("Modify", "Service", "AWS::ECS::Service", Some("False"))]);
        i.on_execute = vec![("UPDATE_COMPLETE", vec![])];
    });
    fake.opts.continue_rollback = true;
    let (out, _) = run(&fake);
    assert!(matches!(out, Outcome::Updated { .. }), "{out:?}");
    assert_eq!(
        fake.calls(),
        [
            "continue_update_rollback",
            "create_change_set create=false",
            "execute"
        ]
    );
}

#[test]
fn a_stack_left_in_progress_is_waited_for_then_updated() {
    let fake = Fake::new(Some("UPDATE_IN_PROGRESS")).with(|i| {
        i.pending = VecDeque::from([
            ("UPDATE_IN_PROGRESS", vec![]),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", vec![]),
            ("UPDATE_COMPLETE", vec![]),
        ]);
        i.change_set = changes(&[("Modify", "Service", "AWS::ECS::Service", Some("False"))]);
        i.on_execute = vec![("UPDATE_COMPLETE", vec![])];
    });
    let (out, lines) = run(&fake);
    assert!(matches!(out, Outcome::Updated { .. }), "{out:?}");
    assert!(
        lines.iter().any(|l| l.contains("still running")),
        "{lines:?}"
    );
    assert_eq!(fake.calls(), ["create_change_set create=false", "execute"]);
}

#[test]
fn ctrl_c_during_an_update_cancels_it_cleanly() {
    let fake = Fake::new(Some("UPDATE_COMPLETE")).with(|i| {
        i.change_set = changes(&[("Modify", "Service", "AWS::ECS::Service", Some("False"))]);
        // Describes: 1 before the change set, then the update runs until cancelled.
        i.interrupt_after_describes = Some(2);
        i.on_execute = vec![
            ("UPDATE_IN_PROGRESS", vec![]),
            ("UPDATE_IN_PROGRESS", vec![]),
            ("UPDATE_IN_PROGRESS", vec![]),
            ("UPDATE_IN_PROGRESS", vec![]),
        ];
        i.on_cancel = vec![
            ("UPDATE_ROLLBACK_IN_PROGRESS", vec![]),
            ("UPDATE_ROLLBACK_COMPLETE", vec![]),
        ];
    });
    let (out, _) = run(&fake);
    assert!(
        matches!(out, Outcome::Interrupted { ref detail } if detail.contains("cancelled and rolled back")),
        "{out:?}"
    );
    assert_eq!(
        fake.calls(),
        ["create_change_set create=false", "execute", "cancel_update"]
    );
}

#[test]
fn no_changes_changes_nothing_and_says_so() {
    let fake = Fake::new(Some("UPDATE_COMPLETE")).with(|i| {
        i.change_set = ChangeSetInfo {
            status: "FAILED".into(),
            status_reason: Some("The submitted information didn't contain changes. Submit different information to create a change set.".into()),
            changes: vec![],
        };
    });
    let (out, lines) = run(&fake);
    assert_eq!(out, Outcome::Unchanged);
    assert_eq!(
        fake.calls(),
        ["create_change_set create=false", "delete_change_set"]
    );
    assert!(lines.iter().any(|l| l.ends_with("no changes")));
}

#[test]
fn replacing_the_database_is_refused_unless_allowed() {
    let script = |i: &mut Inner| {
        i.change_set = changes(&[
            ("Modify", "Database", "AWS::RDS::DBInstance", Some("True")),
            ("Modify", "Key", "AWS::KMS::Key", Some("False")),
        ]);
        i.on_execute = vec![("UPDATE_COMPLETE", vec![])];
    };
    let fake = Fake::new(Some("UPDATE_COMPLETE")).with(script);
    let (out, _) = run(&fake);
    let Outcome::Refused { reasons } = out else {
        panic!("{out:?}")
    };
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("Database (AWS::RDS::DBInstance) would be replaced"),
        "{reasons:?}"
    );
    assert_eq!(
        fake.calls(),
        ["create_change_set create=false", "delete_change_set"],
        "never executed"
    );

    let mut fake = Fake::new(Some("UPDATE_COMPLETE")).with(script);
    fake.opts.allow_data_loss = true;
    let (out, _) = run(&fake);
    assert!(matches!(out, Outcome::Updated { .. }), "{out:?}");
}

#[test]
fn allowed_data_loss_relaxes_the_stack_policy_for_that_update_only() {
    const POLICY: &str = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"Update:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":["Update:Replace","Update:Delete"],"Resource":["LogicalResourceId/Database","LogicalResourceId/FileSystem"]}]}"#;
    for ending in ["UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"] {
        let mut fake = Fake::new(Some("UPDATE_COMPLETE")).with(|i| {
            i.change_set = changes(&[("Modify", "Database", "AWS::RDS::DBInstance", Some("True"))]);
            i.policy = Some(POLICY.into());
        });
        fake.inner.lock().unwrap().on_execute = vec![(ending, vec![])];
        fake.opts.allow_data_loss = true;
        let (out, lines) = run(&fake);
        let calls = fake.calls();
        let relaxed = calls
            .iter()
            .position(|c| {
                c.starts_with("set_stack_policy") && !c.contains("LogicalResourceId/Database")
            })
            .unwrap_or_else(|| panic!("relaxed before executing: {calls:?}"));
        assert!(
            calls[relaxed].contains("LogicalResourceId/FileSystem"),
            "the file system stays protected: {calls:?}"
        );
        let executed = calls.iter().position(|c| c == "execute").unwrap();
        assert!(relaxed < executed, "{calls:?}");
        assert_eq!(
            calls.last().unwrap(),
            &format!("set_stack_policy {POLICY}"),
            "the original policy is back after {ending} ({out:?})"
        );
        assert!(
            lines.iter().any(|l| l.contains("stack policy restored")),
            "{lines:?}"
        );
    }
}

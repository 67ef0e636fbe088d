//! What ECS's scheduler would do next on the one local instance, pure: from the services and
//! one-off tasks the emulator holds and the containers podman runs, the containers to start and
//! to remove.
//!
//! - A service runs its desired count of tasks of its current task definition (a daemon service
//!   one, the local machine being its one instance). A task whose essential container exited is
//!   removed, and so replaced.
//! - A deployment is rolling, as with MinimumHealthyPercent 100 / MaximumPercent 200: tasks of the
//!   new revision start first; the old ones are removed once as many new ones run.
//! - A one-off task (RunTask) runs once; when it exits, it is reported stopped with its exit code.
//! - A container that belongs to nothing the emulator knows (a service deleted with its stack) is
//!   removed.

use std::collections::{BTreeMap, BTreeSet};

use crate::podman::{LABEL_CONTAINER, LABEL_SERVICE, LABEL_TASK, LABEL_TASK_DEFINITION, Running};
use crate::spec::{OneOffTask, Service, arn_tail};

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start a new task of `service` from `task_definition`.
    StartService {
        service: String,
        task_definition: String,
    },
    /// Start the one-off task `arn` (its id is the ARN's last segment).
    StartOneOff { task: OneOffTask },
    /// Remove every container of this task.
    RemoveTask { task_id: String, why: String },
    /// A one-off task ended: report it stopped, then remove its containers.
    OneOffStopped {
        arn: String,
        task_id: String,
        exit_code: i32,
    },
}

/// A task as podman shows it: its containers grouped by the task label.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LocalTask {
    id: String,
    service: String,
    task_definition: String,
    /// Every container running (or starting).
    live: bool,
    /// Exit code of the first container that stopped.
    exit_code: Option<i32>,
}

fn group(containers: &[Running]) -> BTreeMap<String, LocalTask> {
    let mut tasks: BTreeMap<String, LocalTask> = BTreeMap::new();
    for c in containers {
        let id = c.label(LABEL_TASK).to_string();
        let t = tasks.entry(id.clone()).or_insert_with(|| LocalTask {
            id,
            service: c.label(LABEL_SERVICE).to_string(),
            task_definition: c.label(LABEL_TASK_DEFINITION).to_string(),
            live: true,
            exit_code: None,
        });
        let up = matches!(c.state.as_str(), "running" | "created" | "configured");
        if !up {
            t.live = false;
            if t.exit_code.is_none() && !c.label(LABEL_CONTAINER).is_empty() {
                t.exit_code = Some(c.exit_code);
            }
        }
    }
    tasks
}

/// The one-off task id of a RunTask ARN (`.../task/<cluster>/<id>` -> `<id>`): ECS's task id,
/// which also names the task's log streams (`<prefix>/<container>/<id>`), where `idealstack run`
/// reads its output.
pub fn one_off_id(arn: &str) -> String {
    arn_tail(arn).to_string()
}

/// The next steps.
pub fn reconcile(
    services: &[Service],
    one_offs: &[OneOffTask],
    containers: &[Running],
) -> Vec<Step> {
    let tasks = group(containers);
    let mut steps = Vec::new();
    let mut claimed: BTreeSet<&str> = BTreeSet::new();
    for s in services {
        let desired = if s.scheduling == "DAEMON" {
            1
        } else {
            s.desired_count as usize
        };
        let mine: Vec<&LocalTask> = tasks.values().filter(|t| t.service == s.name).collect();
        for t in &mine {
            claimed.insert(t.id.as_str());
        }
        for t in mine.iter().filter(|t| !t.live) {
            steps.push(Step::RemoveTask {
                task_id: t.id.clone(),
                why: format!(
                    "an essential container of {} stopped (exit code {})",
                    s.name,
                    t.exit_code.unwrap_or(-1)
                ),
            });
        }
        let current: Vec<&&LocalTask> = mine
            .iter()
            .filter(|t| t.live && t.task_definition == s.task_definition)
            .collect();
        let old: Vec<&&LocalTask> = mine
            .iter()
            .filter(|t| t.live && t.task_definition != s.task_definition)
            .collect();
        for _ in current.len()..desired {
            steps.push(Step::StartService {
                service: s.name.clone(),
                task_definition: s.task_definition.clone(),
            });
        }
        for t in current.iter().skip(desired) {
            steps.push(Step::RemoveTask {
                task_id: t.id.clone(),
                why: format!("{} wants {desired} tasks", s.name),
            });
        }
        if current.len() >= desired {
            for t in old {
                steps.push(Step::RemoveTask {
                    task_id: t.id.clone(),
                    why: format!("{} now runs {}", s.name, arn_tail(&s.task_definition)),
                });
            }
        }
    }
    for o in one_offs {
        let id = one_off_id(&o.arn);
        claimed.insert(tasks.get(&id).map(|t| t.id.as_str()).unwrap_or_default());
        match tasks.get(&id) {
            None => steps.push(Step::StartOneOff { task: o.clone() }),
            Some(t) if !t.live => steps.push(Step::OneOffStopped {
                arn: o.arn.clone(),
                task_id: id.clone(),
                exit_code: t.exit_code.unwrap_or(-1),
            }),
            Some(_) => {}
        }
    }
    for t in tasks.values() {
        if !claimed.contains(t.id.as_str()) {
            steps.push(Step::RemoveTask {
                task_id: t.id.clone(),
                why: if t.service.is_empty() {
                    "a one-off task the emulator no longer lists".into()
                } else {
                    format!("service {} no longer exists", t.service)
                },
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, td: &str, desired: u32) -> Service {
        Service {
            name: name.into(),
            arn: format!("arn:svc/{name}"),
            task_definition: td.into(),
            desired_count: desired,
            scheduling: "REPLICA".into(),
            load_balancers: vec![],
        }
    }

    fn container(task: &str, service: &str, td: &str, state: &str, exit: i32) -> Running {
        Running {
            id: format!("c-{task}"),
            name: format!("n-{task}"),
            labels: [
                (LABEL_TASK.to_string(), task.to_string()),
                (LABEL_SERVICE.to_string(), service.to_string()),
                (LABEL_TASK_DEFINITION.to_string(), td.to_string()),
                (LABEL_CONTAINER.to_string(), "php".to_string()),
            ]
            .into(),
            state: state.into(),
            exit_code: exit,
        }
    }

    fn check(services: &[Service], one_offs: &[OneOffTask], running: &[Running], want: &[&str]) {
        let got: Vec<String> = reconcile(services, one_offs, running)
            .iter()
            .map(|s| match s {
                Step::StartService {
                    service,
                    task_definition,
                } => {
                    format!("start {service} {task_definition}")
                }
                Step::StartOneOff { task } => format!("run {}", task.arn),
                Step::RemoveTask { task_id, .. } => format!("remove {task_id}"),
                Step::OneOffStopped {
                    task_id, exit_code, ..
                } => {
                    format!("stopped {task_id} {exit_code}")
                }
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_service_is_brought_to_its_desired_count() {
        check(
            &[service("shop", "td:1", 2)],
            &[],
            &[],
            &["start shop td:1", "start shop td:1"],
        );
        let one = container("t1", "shop", "td:1", "running", 0);
        check(
            &[service("shop", "td:1", 2)],
            &[],
            std::slice::from_ref(&one),
            &["start shop td:1"],
        );
        check(&[service("shop", "td:1", 0)], &[], &[one], &["remove t1"]);
    }

    #[test]
    fn a_stopped_task_is_removed_and_replaced() {
        let dead = container("t1", "shop", "td:1", "exited", 137);
        check(
            &[service("shop", "td:1", 1)],
            &[],
            &[dead],
            &["remove t1", "start shop td:1"],
        );
    }

    #[test]
    fn a_new_revision_rolls_new_tasks_first() {
        let old = container("t1", "shop", "td:1", "running", 0);
        check(
            &[service("shop", "td:2", 1)],
            &[],
            std::slice::from_ref(&old),
            &["start shop td:2"],
        );
        let new = container("t2", "shop", "td:2", "running", 0);
        check(
            &[service("shop", "td:2", 1)],
            &[],
            &[old, new],
            &["remove t1"],
        );
    }

    #[test]
    fn one_off_tasks_run_once_and_report_their_exit() {
        let task = OneOffTask {
            arn: "arn:aws:ecs:us-east-1:1:task/demo/0123456789abcdef".into(),
            task_definition: "td:1".into(),
            command_overrides: BTreeMap::new(),
        };
        check(
            &[],
            std::slice::from_ref(&task),
            &[],
            &[&format!("run {}", task.arn)],
        );
        let done = container("0123456789abcdef", "", "td:1", "exited", 3);
        check(
            &[],
            std::slice::from_ref(&task),
            std::slice::from_ref(&done),
            &["stopped 0123456789abcdef 3"],
        );
        // Once the emulator no longer lists it, its container goes.
        check(&[], &[], &[done], &["remove 0123456789abcdef"]);
    }

    #[test]
    fn containers_of_deleted_services_are_removed() {
        let orphan = container("t9", "gone", "td:1", "running", 0);
        check(&[], &[], &[orphan], &["remove t9"]);
    }
}

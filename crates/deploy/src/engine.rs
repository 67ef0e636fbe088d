//! One stack at a time: create or update through a change set, watch its events, and handle
//! every way it can end (no changes, refused data loss, create rolled back, update rolled back,
//! rollback failed, an operation left running by an earlier run, Ctrl-C), and delete a stack.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::changes::{Change, classify, data_loss, data_loss_reason};
use crate::ports::{ApiError, ChangeSetRequest, LoadBalancerApi, StackApi, TemplateSource};
use crate::progress::Progress;
use crate::status::{Condition, Ending, condition, ending, first_failure, is_no_change};

/// How the engine waits and what it may do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Execute change sets that replace or remove data resources.
    pub allow_data_loss: bool,
    /// Run continue-update-rollback on a stack in UPDATE_ROLLBACK_FAILED.
    pub continue_rollback: bool,
    /// Time between polls.
    pub poll: Duration,
    /// Longest wait for one stack operation.
    pub timeout: Duration,
    /// Set by the Ctrl-C handler.
    pub interrupt: Arc<AtomicBool>,
    /// Name of the change sets this run makes (unique per run).
    pub change_set_name: String,
    /// Stack sites run in parallel (at least 1).
    pub parallel: usize,
    /// Deploy only these stacks (removed stacks are still deleted); `None`: every stack.
    pub only: Option<std::collections::BTreeSet<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_data_loss: false,
            continue_rollback: false,
            poll: Duration::from_secs(5),
            timeout: Duration::from_secs(3 * 3600),
            interrupt: Arc::new(AtomicBool::new(false)),
            change_set_name: "idealstack".into(),
            parallel: 4,
            only: None,
        }
    }
}

/// Why a stack operation failed: what happened, why, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What happened.
    pub what: String,
    /// The first failing resource, if one was found.
    pub resource: Option<String>,
    /// Why.
    pub reason: String,
    /// The next step.
    pub next: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.what)?;
        if let Some(r) = &self.resource {
            write!(f, "{r} failed: ")?;
        }
        write!(f, "{}. Next: {}", self.reason, self.next)
    }
}

/// How deploying (or deleting) one stack ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Created.
    Created {
        /// What the change set did.
        changes: Vec<Change>,
    },
    /// Updated.
    Updated {
        /// What the change set did.
        changes: Vec<Change>,
    },
    /// Nothing to change: nothing was changed.
    Unchanged,
    /// The change set would lose data and `--allow-data-loss` was not given; it was deleted.
    Refused {
        /// One line per data resource, with why.
        reasons: Vec<String>,
    },
    /// The operation failed.
    Failed(Failure),
    /// Not attempted (a dependency failed, or a certificate is not issued).
    Skipped {
        /// Why.
        why: String,
    },
    /// Ctrl-C: the update was cancelled and rolled back (or a create was left to finish).
    Interrupted {
        /// What state the stack is in.
        detail: String,
    },
    /// Deleted (or already gone).
    Deleted,
}

impl Outcome {
    /// Whether the stack is now as desired.
    pub fn ok(&self) -> bool {
        matches!(
            self,
            Outcome::Created { .. }
                | Outcome::Updated { .. }
                | Outcome::Unchanged
                | Outcome::Deleted
        )
    }
}

fn api_failure(what: &str, e: &ApiError) -> Outcome {
    Outcome::Failed(Failure {
        what: what.into(),
        resource: None,
        reason: e.to_string(),
        next: "check your AWS credentials and permissions (the error names the call), then run the command again".into(),
    })
}

/// Waits until `stack` has no operation running, printing its new events; returns its final
/// status (`None`: gone). Stops early (returning the current status) when `stop` says so.
pub fn wait_settled(
    api: &dyn StackApi,
    stack: &str,
    seen: &mut BTreeSet<String>,
    opts: &Options,
    progress: &dyn Progress,
    mut on_poll: impl FnMut(&str) -> bool,
) -> Result<Option<String>, ApiError> {
    let start = Instant::now();
    loop {
        show_new_events(api, stack, seen, progress)?;
        let info = api.describe(stack)?;
        let Some(info) = info else { return Ok(None) };
        if crate::status::is_settled(&info.status) {
            // The events that came with the final status.
            show_new_events(api, stack, seen, progress)?;
            return Ok(Some(info.status));
        }
        if !on_poll(&info.status) {
            return Ok(Some(info.status));
        }
        if start.elapsed() > opts.timeout {
            return Err(ApiError::new(
                "wait",
                None,
                format!(
                    "{stack} is still {} after {} s",
                    info.status,
                    opts.timeout.as_secs()
                ),
            ));
        }
        std::thread::sleep(opts.poll);
    }
}

fn show_new_events(
    api: &dyn StackApi,
    stack: &str,
    seen: &mut BTreeSet<String>,
    progress: &dyn Progress,
) -> Result<(), ApiError> {
    let events = match api.events(stack) {
        Ok(e) => e,
        // A stack that just disappeared has no events to show.
        Err(e) if e.message.contains("does not exist") => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in events.iter().rev() {
        if seen.insert(e.id.clone()) {
            progress.event(e);
        }
    }
    Ok(())
}

fn known_events(api: &dyn StackApi, stack: &str) -> BTreeSet<String> {
    api.events(stack)
        .map(|e| e.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

fn new_events(
    api: &dyn StackApi,
    stack: &str,
    before: &BTreeSet<String>,
) -> Vec<crate::ports::StackEvent> {
    api.events(stack)
        .map(|e| e.into_iter().filter(|e| !before.contains(&e.id)).collect())
        .unwrap_or_default()
}

/// Deletes `stack` and waits until it is gone: the one way every stack is deleted (destroy, a
/// removed site or shard, the clean-up of a failed create). Deletion protection of the stack's
/// load balancers is turned off first, since CloudFormation cannot delete a protected one and
/// the stack would end in DELETE_FAILED.
pub fn delete_stack(
    api: &dyn StackApi,
    load_balancers: &dyn LoadBalancerApi,
    stack: &str,
    opts: &Options,
    progress: &dyn Progress,
) -> Outcome {
    let before = known_events(api, stack);
    let mut seen = before.clone();
    match api.describe(stack) {
        Ok(None) => return Outcome::Deleted,
        Ok(Some(_)) => {}
        Err(e) => return api_failure(&format!("reading {stack}"), &e),
    }
    match load_balancers.unprotect_stack_load_balancers(stack) {
        Ok(0) => {}
        Ok(n) => progress.say(
            stack,
            &format!(
                "turned off deletion protection of {n} load balancer(s) so they can be deleted"
            ),
        ),
        Err(e) => progress.say(
            stack,
            &format!("could not turn off load balancer deletion protection ({e}); deleting anyway"),
        ),
    }
    progress.say(stack, "deleting");
    if let Err(e) = api.delete(stack) {
        return api_failure(&format!("deleting {stack}"), &e);
    }
    match wait_settled(api, stack, &mut seen, opts, progress, |_| true) {
        Ok(None) => Outcome::Deleted,
        Ok(Some(s)) if ending(&s) == Ending::Deleted => Outcome::Deleted,
        Ok(Some(s)) => {
            let (resource, reason) = first_failure(&new_events(api, stack, &before))
                .map_or((None, format!("the stack is {s}")), |(r, why)| {
                    (Some(r), why)
                });
            Outcome::Failed(Failure {
                what: format!("deleting {stack} failed"),
                resource,
                reason,
                next: "fix or remove the resource named (for example empty a bucket), then run the command again".into(),
            })
        }
        Err(e) => api_failure(&format!("waiting for {stack} to be deleted"), &e),
    }
}

/// Creates or updates `stack` through a change set with `template` and `parameters`.
pub fn deploy_stack(
    api: &dyn StackApi,
    load_balancers: &dyn LoadBalancerApi,
    request: ChangeSetRequest,
    opts: &Options,
    progress: &dyn Progress,
) -> Outcome {
    let stack = request.stack.clone();
    // Bring the stack to a state a change set can start from.
    let create = loop {
        let info = match api.describe(&stack) {
            Ok(i) => i,
            Err(e) => return api_failure(&format!("reading {stack}"), &e),
        };
        let status = info.as_ref().map(|i| i.status.clone());
        match condition(status.as_deref()) {
            Condition::Absent => break true,
            Condition::Ready => break false,
            Condition::Review | Condition::CreateFailed => {
                progress.say(
                    &stack,
                    &format!(
                        "left {} by an earlier run (a create that never finished); deleting it so it can be created again",
                        status.unwrap_or_default()
                    ),
                );
                let out = delete_stack(api, load_balancers, &stack, opts, progress);
                if !out.ok() {
                    return out;
                }
            }
            Condition::InProgress => {
                progress.say(
                    &stack,
                    &format!(
                        "an earlier operation is still running ({}); waiting for it to finish",
                        status.unwrap_or_default()
                    ),
                );
                let mut seen = known_events(api, &stack);
                if let Err(e) = wait_settled(api, &stack, &mut seen, opts, progress, |_| {
                    !opts.interrupt.load(Ordering::SeqCst)
                }) {
                    return api_failure(&format!("waiting for {stack}"), &e);
                }
                if opts.interrupt.load(Ordering::SeqCst) {
                    return Outcome::Interrupted {
                        detail:
                            "stopped waiting; the earlier operation continues in CloudFormation"
                                .into(),
                    };
                }
            }
            Condition::UpdateRollbackFailed => {
                if !opts.continue_rollback {
                    let cause = api.events(&stack).ok().and_then(|e| first_failure(&e));
                    return Outcome::Failed(Failure {
                        what: format!("{stack} is in UPDATE_ROLLBACK_FAILED: an update failed and so did its rollback"),
                        resource: cause.as_ref().map(|c| c.0.clone()),
                        reason: cause.map_or_else(|| "CloudFormation gave no reason".into(), |c| c.1),
                        next: "fix what the reason names, then run `idealstack deploy --continue-rollback` (CloudFormation's continue-update-rollback) to bring the stack back to its last working version".into(),
                    });
                }
                progress.say(
                    &stack,
                    "continuing the failed rollback (continue-update-rollback)",
                );
                let mut seen = known_events(api, &stack);
                if let Err(e) = api.continue_update_rollback(&stack) {
                    return api_failure(&format!("continue-update-rollback of {stack}"), &e);
                }
                match wait_settled(api, &stack, &mut seen, opts, progress, |_| true) {
                    Ok(Some(s)) if s == "UPDATE_ROLLBACK_COMPLETE" => {}
                    Ok(s) => {
                        return Outcome::Failed(Failure {
                            what: format!("continuing the rollback of {stack} did not finish"),
                            resource: None,
                            reason: format!("the stack is {}", s.unwrap_or_else(|| "gone".into())),
                            next: "see the stack's events in the CloudFormation console; you may need to skip the resources that cannot roll back".into(),
                        });
                    }
                    Err(e) => return api_failure(&format!("waiting for {stack}"), &e),
                }
            }
            Condition::DeleteFailed => {
                return Outcome::Failed(Failure {
                    what: format!("{stack} is in DELETE_FAILED"),
                    resource: None,
                    reason: "an earlier delete could not remove every resource".into(),
                    next: format!(
                        "run `idealstack destroy` again or delete {stack} in the CloudFormation console"
                    ),
                });
            }
        }
    };

    let request = ChangeSetRequest { create, ..request };
    let id = match api.create_change_set(&request) {
        Ok(id) => id,
        Err(e) if is_no_change(&e.message) => {
            progress.say(&stack, "no changes");
            return Outcome::Unchanged;
        }
        Err(e) => return api_failure(&format!("creating a change set for {stack}"), &e),
    };
    // Wait for the change set to be computed.
    let start = Instant::now();
    let info = loop {
        match api.describe_change_set(&stack, &id) {
            Ok(i) if i.status == "CREATE_COMPLETE" || i.status == "FAILED" => break i,
            Ok(_) if start.elapsed() > opts.timeout => {
                return Outcome::Failed(Failure {
                    what: format!("the change set for {stack} was not ready in time"),
                    resource: None,
                    reason: "CloudFormation did not finish computing it".into(),
                    next: "run the command again".into(),
                });
            }
            Ok(_) => std::thread::sleep(opts.poll),
            Err(e) => return api_failure(&format!("reading the change set of {stack}"), &e),
        }
    };
    if info.status == "FAILED" {
        let reason = info.status_reason.unwrap_or_default();
        let _ = api.delete_change_set(&stack, &id);
        if is_no_change(&reason) {
            progress.say(&stack, "no changes");
            return Outcome::Unchanged;
        }
        return Outcome::Failed(Failure {
            what: format!("CloudFormation could not make a change set for {stack}"),
            resource: None,
            reason,
            next: "fix what the reason names (often a parameter or a template feature), then deploy again".into(),
        });
    }
    let changes = classify(&info.changes);
    progress.changes(&stack, &changes);
    let loss = data_loss(&changes);
    if !loss.is_empty() && !opts.allow_data_loss {
        let reasons = loss.iter().map(|c| data_loss_reason(c)).collect();
        let _ = api.delete_change_set(&stack, &id);
        progress.say(
            &stack,
            "change set refused: it would lose data (nothing was changed)",
        );
        return Outcome::Refused { reasons };
    }
    if opts.interrupt.load(Ordering::SeqCst) {
        let _ = api.delete_change_set(&stack, &id);
        return Outcome::Interrupted {
            detail: "interrupted before the change set was executed; nothing was changed".into(),
        };
    }

    // Allowed data loss: the stack policy spares exactly those resources during this update.
    let restore = if loss.is_empty() {
        None
    } else {
        let ids: Vec<&str> = loss.iter().map(|c| c.logical_id.as_str()).collect();
        match relax_policy(api, &stack, &ids, progress) {
            Ok(original) => original,
            Err(failure) => {
                let _ = api.delete_change_set(&stack, &id);
                return Outcome::Failed(failure);
            }
        }
    };
    let outcome = execute_and_watch(
        api,
        load_balancers,
        &stack,
        &id,
        create,
        changes,
        opts,
        progress,
    );
    if let Some(original) = restore {
        match api.set_stack_policy(&stack, &original) {
            Ok(()) => progress.say(&stack, "stack policy restored"),
            Err(e) => progress.say(
                &stack,
                &format!(
                    "could not restore the stack policy ({e}): the data resources of {stack} are unprotected until `idealstack deploy` runs again"
                ),
            ),
        }
    }
    outcome
}

/// Sets a stack policy that no longer denies replacing or removing `ids`; returns the policy to
/// put back afterwards (`None`: the stack had none, nothing was changed).
fn relax_policy(
    api: &dyn StackApi,
    stack: &str,
    ids: &[&str],
    progress: &dyn Progress,
) -> Result<Option<String>, Failure> {
    let failed = |e: String| {
        Failure {
        what: format!("could not allow the data loss on {stack}; nothing was changed"),
        resource: None,
        reason: e,
        next: "run the command again; if it persists, check the stack policy of the stack in the CloudFormation console".into(),
    }
    };
    let Some(original) = api.stack_policy(stack).map_err(|e| failed(e.to_string()))? else {
        return Ok(None);
    };
    let relaxed =
        crate::policy::sparing(stack, &original, ids).map_err(|e| failed(e.to_string()))?;
    api.set_stack_policy(stack, &relaxed)
        .map_err(|e| failed(e.to_string()))?;
    progress.say(
        stack,
        &format!(
            "--allow-data-loss: the stack policy allows replacing or removing {} for this update only",
            ids.join(", ")
        ),
    );
    Ok(Some(original))
}

/// Executes a computed change set and waits for the stack to settle; every ending mapped.
#[allow(clippy::too_many_arguments)]
fn execute_and_watch(
    api: &dyn StackApi,
    load_balancers: &dyn LoadBalancerApi,
    stack: &str,
    id: &str,
    create: bool,
    changes: Vec<Change>,
    opts: &Options,
    progress: &dyn Progress,
) -> Outcome {
    let stack = stack.to_string();
    let before = known_events(api, &stack);
    let mut seen = before.clone();
    if let Err(e) = api.execute_change_set(&stack, id) {
        return api_failure(&format!("executing the change set of {stack}"), &e);
    }
    let mut cancelled = false;
    let mut abandoned = false;
    let waited = wait_settled(api, &stack, &mut seen, opts, progress, |status| {
        if opts.interrupt.load(Ordering::SeqCst) && !cancelled {
            if status == "UPDATE_IN_PROGRESS" {
                progress.say(
                    &stack,
                    "interrupted: cancelling the update (it rolls back to the previous version)",
                );
                cancelled = true;
                if let Err(e) = api.cancel_update(&stack) {
                    progress.say(&stack, &format!("cancel-update-stack failed: {e}"));
                }
            } else if status == "CREATE_IN_PROGRESS" {
                progress.say(&stack, "interrupted: a create cannot be cancelled; it continues in CloudFormation and the next deploy waits for it");
                abandoned = true;
                return false;
            }
        }
        true
    });
    let status = match waited {
        Ok(Some(s)) => s,
        Ok(None) => "DELETE_COMPLETE".into(),
        Err(e) => return api_failure(&format!("waiting for {stack}"), &e),
    };
    if abandoned {
        return Outcome::Interrupted {
            detail: format!(
                "{stack} is {status}; run `idealstack deploy` again to wait for it and continue"
            ),
        };
    }
    let events = new_events(api, &stack, &before);
    let cause = first_failure(&events);
    match ending(&status) {
        Ending::Succeeded if create => Outcome::Created { changes },
        Ending::Succeeded => Outcome::Updated { changes },
        Ending::UpdateRolledBack if cancelled => Outcome::Interrupted {
            detail: format!(
                "the update of {stack} was cancelled and rolled back; the stack is on its previous version"
            ),
        },
        Ending::CreateRolledBack => {
            progress.say(&stack, "the create failed and rolled back; deleting the empty stack so the next deploy can create it");
            let cleanup = delete_stack(api, load_balancers, &stack, opts, progress);
            Outcome::Failed(Failure {
                what: format!("creating {stack} failed and was rolled back{}", if cleanup.ok() { " (the empty stack was deleted)" } else { "" }),
                resource: cause.as_ref().map(|c| c.0.clone()),
                reason: cause.map_or_else(|| "CloudFormation gave no reason".into(), |c| c.1),
                next: "fix what the reason names (in idealstack.toml or the account), then run `idealstack deploy` again".into(),
            })
        }
        Ending::UpdateRolledBack => Outcome::Failed(Failure {
            what: format!(
                "updating {stack} failed and was rolled back: the stack is back on its previous version"
            ),
            resource: cause.as_ref().map(|c| c.0.clone()),
            reason: cause.map_or_else(|| "CloudFormation gave no reason".into(), |c| c.1),
            next: "fix what the reason names, then run `idealstack deploy` again".into(),
        }),
        Ending::UpdateRollbackFailed => Outcome::Failed(Failure {
            what: format!(
                "updating {stack} failed and its rollback failed too (UPDATE_ROLLBACK_FAILED)"
            ),
            resource: cause.as_ref().map(|c| c.0.clone()),
            reason: cause.map_or_else(|| "CloudFormation gave no reason".into(), |c| c.1),
            next: "fix what the reason names, then run `idealstack deploy --continue-rollback`"
                .into(),
        }),
        _ => Outcome::Failed(Failure {
            what: format!("{stack} ended in {status}"),
            resource: cause.as_ref().map(|c| c.0.clone()),
            reason: cause.map_or_else(|| "CloudFormation gave no reason".into(), |c| c.1),
            next: "see the stack's events, then run `idealstack deploy` again".into(),
        }),
    }
}

/// A template that fits in a request body goes inline; a larger one needs an upload.
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// Whether a template must be uploaded (TemplateURL) rather than sent inline.
pub fn needs_upload(template: &str) -> bool {
    template.len() > MAX_TEMPLATE_BODY
}

/// The source for a template: inline when `inline` is allowed and it fits, else `url`.
pub fn source(template: String, url: Option<String>) -> TemplateSource {
    match url {
        Some(u) => TemplateSource::Url(u),
        None => TemplateSource::Body(template),
    }
}

//! Reading CloudFormation's stack statuses and events: where a stack is, and the first failing
//! resource with its reason (the root cause, not a wall of events).

use crate::ports::StackEvent;

/// What a stack's status means for the deployer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No such stack (or deleted): create it.
    Absent,
    /// A previous create failed and rolled back (`ROLLBACK_COMPLETE`/`ROLLBACK_FAILED`): the stack
    /// can only be deleted; delete it, then create it again.
    CreateFailed,
    /// Made by a change set that was never executed (`REVIEW_IN_PROGRESS`): create.
    Review,
    /// An operation is running (left by an earlier run or another user): wait for it.
    InProgress,
    /// An update rolled back and the rollback itself failed: needs continue-update-rollback.
    UpdateRollbackFailed,
    /// A delete failed (`DELETE_FAILED`).
    DeleteFailed,
    /// Stable and updatable (`*_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...).
    Ready,
}

/// Classifies a stack status (`None`: no stack).
pub fn condition(status: Option<&str>) -> Condition {
    match status {
        None | Some("DELETE_COMPLETE") => Condition::Absent,
        Some("ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED") => Condition::CreateFailed,
        Some("REVIEW_IN_PROGRESS") => Condition::Review,
        Some("UPDATE_ROLLBACK_FAILED") => Condition::UpdateRollbackFailed,
        Some("DELETE_FAILED") => Condition::DeleteFailed,
        Some(s) if s.ends_with("_IN_PROGRESS") => Condition::InProgress,
        Some(_) => Condition::Ready,
    }
}

/// Whether a status is final (no operation running).
pub fn is_settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS") || status == "REVIEW_IN_PROGRESS"
}

/// How an operation ended, from the stack's final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `CREATE_COMPLETE` or `UPDATE_COMPLETE` (or `IMPORT_COMPLETE`).
    Succeeded,
    /// A create failed and rolled back: nothing is left but the empty stack.
    CreateRolledBack,
    /// An update failed and rolled back: the stack is back on its previous version.
    UpdateRolledBack,
    /// An update's rollback failed.
    UpdateRollbackFailed,
    /// Deleted.
    Deleted,
    /// A delete failed.
    DeleteFailed,
    /// Anything else.
    Other,
}

/// Classifies a final status.
pub fn ending(status: &str) -> Ending {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => Ending::Succeeded,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => Ending::CreateRolledBack,
        "UPDATE_ROLLBACK_COMPLETE" => Ending::UpdateRolledBack,
        "UPDATE_ROLLBACK_FAILED" => Ending::UpdateRollbackFailed,
        "DELETE_COMPLETE" => Ending::Deleted,
        "DELETE_FAILED" => Ending::DeleteFailed,
        _ => Ending::Other,
    }
}

/// The first failing resource of an operation: the oldest `*_FAILED` event of a resource (not
/// the stack itself) among `events` (newest first, as CloudFormation returns them), skipping the
/// "Resource creation cancelled" echoes that other resources get when the first one fails.
/// Falls back to the stack's own failure reason.
pub fn first_failure(events: &[StackEvent]) -> Option<(String, String)> {
    let failed = |e: &&StackEvent| e.status.ends_with("_FAILED");
    let cancelled = |e: &&StackEvent| {
        e.reason
            .as_deref()
            .is_some_and(|r| r.contains("cancelled") || r.contains("canceled"))
    };
    let resource = events
        .iter()
        .rev()
        .filter(failed)
        .filter(|e| e.resource_type != "AWS::CloudFormation::Stack")
        .find(|e| !cancelled(e))
        .or_else(|| {
            events
                .iter()
                .rev()
                .filter(failed)
                .find(|e| e.resource_type != "AWS::CloudFormation::Stack")
        });
    if let Some(e) = resource {
        return Some((
            format!("{} ({})", e.logical_id, e.resource_type),
            e.reason.clone().unwrap_or_else(|| "no reason given".into()),
        ));
    }
    events
        .iter()
        .rev()
        .filter(|e| e.resource_type == "AWS::CloudFormation::Stack")
        .find(|e| {
            e.reason
                .as_deref()
                .is_some_and(|r| !r.is_empty() && r != "User Initiated")
                && (e.status.contains("ROLLBACK") || e.status.ends_with("_FAILED"))
        })
        .map(|e| (e.stack.clone(), e.reason.clone().unwrap_or_default()))
}

/// Whether a change-set failure reason means "nothing to change".
pub fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes")
        || reason.contains("No updates are to be performed")
        || reason.contains("does not contain changes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        assert_eq!(condition(None), Condition::Absent);
        assert_eq!(
            condition(Some("ROLLBACK_COMPLETE")),
            Condition::CreateFailed
        );
        assert_eq!(condition(Some("UPDATE_IN_PROGRESS")), Condition::InProgress);
        assert_eq!(
            condition(Some("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")),
            Condition::InProgress
        );
        assert_eq!(
            condition(Some("UPDATE_ROLLBACK_COMPLETE")),
            Condition::Ready
        );
        assert_eq!(
            condition(Some("UPDATE_ROLLBACK_FAILED")),
            Condition::UpdateRollbackFailed
        );
        assert_eq!(condition(Some("REVIEW_IN_PROGRESS")), Condition::Review);
        assert!(is_settled("REVIEW_IN_PROGRESS"));
        assert!(!is_settled("CREATE_IN_PROGRESS"));
        assert!(is_no_change(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
    }
}

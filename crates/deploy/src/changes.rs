//! What a change set does, per resource (add, modify, replace, remove), and which of those would
//! lose data: a data resource (EFS file system, RDS instance or cluster, DynamoDB table, S3 bucket)
//! that would be replaced or removed.

use std::fmt;

use serde::Serialize;

use crate::ports::ResourceChange;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new resource.
    Add,
    /// Changed in place.
    Modify,
    /// Replaced: a new physical resource, the old one deleted (or `Conditional`: may be).
    Replace,
    /// Deleted.
    Remove,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Add => "add",
            Action::Modify => "modify",
            Action::Replace => "replace",
            Action::Remove => "remove",
        })
    }
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// `true` when the replacement is only possible (`Conditional`).
    pub conditional: bool,
}

/// Resource types that hold a user's data: replacing or removing one loses it.
pub const DATA_RESOURCE_TYPES: &[&str] = &[
    "AWS::EFS::FileSystem",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
];

/// Classifies the raw changes of a change set, in a stable order (by logical id).
pub fn classify(raw: &[ResourceChange]) -> Vec<Change> {
    let mut out: Vec<Change> = raw
        .iter()
        .map(|c| {
            let replacement = c.replacement.as_deref().unwrap_or("False");
            let action = match c.action.as_str() {
                "Add" | "Import" => Action::Add,
                "Remove" => Action::Remove,
                _ if replacement == "True" || replacement == "Conditional" => Action::Replace,
                _ => Action::Modify,
            };
            Change {
                action,
                logical_id: c.logical_id.clone(),
                resource_type: c.resource_type.clone(),
                conditional: action == Action::Replace && replacement == "Conditional",
            }
        })
        .collect();
    out.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    out
}

/// The changes that would lose data (data resources replaced or removed).
pub fn data_loss(changes: &[Change]) -> Vec<&Change> {
    changes
        .iter()
        .filter(|c| {
            matches!(c.action, Action::Replace | Action::Remove)
                && DATA_RESOURCE_TYPES.contains(&c.resource_type.as_str())
        })
        .collect()
}

/// Counts per action: (add, modify, replace, remove).
pub fn counts(changes: &[Change]) -> (usize, usize, usize, usize) {
    let n = |a| changes.iter().filter(|c| c.action == a).count();
    (
        n(Action::Add),
        n(Action::Modify),
        n(Action::Replace),
        n(Action::Remove),
    )
}

/// Why a data change is dangerous, for the refusal message.
pub fn data_loss_reason(change: &Change) -> String {
    let what = match change.resource_type.as_str() {
        "AWS::EFS::FileSystem" => "the sites' files",
        "AWS::RDS::DBInstance" | "AWS::RDS::DBCluster" => "every site database",
        "AWS::DynamoDB::Table" => "every PHP session",
        _ => "the objects in the bucket",
    };
    match change.action {
        Action::Remove => format!(
            "{} ({}) would be removed: {what} would be lost (a retained resource stays in the account but leaves the stack)",
            change.logical_id, change.resource_type
        ),
        _ => format!(
            "{} ({}) would be replaced{}: a new empty one would be created and {what} would stay behind in the old one",
            change.logical_id,
            change.resource_type,
            if change.conditional {
                " (CloudFormation says: possibly)"
            } else {
                ""
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(action: &str, id: &str, ty: &str, repl: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_id: id.into(),
            resource_type: ty.into(),
            replacement: repl.map(Into::into),
        }
    }

    #[test]
    fn classifies_each_action_and_flags_only_data_replacement_or_removal() {
        let raw = vec![
            rc("Modify", "Database", "AWS::RDS::DBInstance", Some("True")),
            rc("Modify", "Service", "AWS::ECS::Service", Some("False")),
            rc(
                "Add",
                "Rule3",
                "AWS::ElasticLoadBalancingV2::ListenerRule",
                None,
            ),
            rc(
                "Remove",
                "OldRule",
                "AWS::ElasticLoadBalancingV2::ListenerRule",
                None,
            ),
            rc(
                "Modify",
                "FileSystem",
                "AWS::EFS::FileSystem",
                Some("Conditional"),
            ),
            rc(
                "Modify",
                "SessionsTable",
                "AWS::DynamoDB::Table",
                Some("False"),
            ),
            rc("Remove", "StateBucket", "AWS::S3::Bucket", None),
        ];
        let c = classify(&raw);
        let by = |id: &str| c.iter().find(|x| x.logical_id == id).unwrap().action;
        assert_eq!(by("Database"), Action::Replace);
        assert_eq!(by("Service"), Action::Modify);
        assert_eq!(by("Rule3"), Action::Add);
        assert_eq!(by("OldRule"), Action::Remove);
        assert_eq!(by("FileSystem"), Action::Replace);
        assert_eq!(counts(&c), (1, 2, 2, 2));
        let loss: Vec<&str> = data_loss(&c)
            .iter()
            .map(|x| x.logical_id.as_str())
            .collect();
        assert_eq!(loss, ["Database", "FileSystem", "StateBucket"]);
        assert!(data_loss_reason(data_loss(&c)[0]).contains("every site database"));
        assert!(data_loss_reason(data_loss(&c)[1]).contains("possibly"));
    }
}

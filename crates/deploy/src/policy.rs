//! The stack policy during an update that `--allow-data-loss` lets replace or remove data.
//!
//! CloudFormation's ExecuteChangeSet takes no temporary stack policy (UpdateStack's
//! `StackPolicyDuringUpdateBody` has no change-set counterpart), so the deployer sets a policy
//! whose denials spare exactly the resources the user allowed, executes, and puts the original
//! policy back whatever the outcome. Every other data resource stays protected during the update.

use serde_json::Value;

/// Why a stack policy could not be relaxed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The stack's policy is not a JSON object with a `Statement` list.
    #[error(
        "the stack policy of {stack} is not valid JSON with a Statement list ({detail}): set a valid policy with `aws cloudformation set-stack-policy` or run `idealstack deploy` without --allow-data-loss first"
    )]
    Unreadable {
        /// Stack.
        stack: String,
        /// What was wrong.
        detail: String,
    },
}

/// `policy` with every `Deny` statement no longer naming `LogicalResourceId/<id>` for the given
/// ids; a statement left with no resource is dropped. `Allow` statements are kept as they are, so
/// the result never allows more than the original plus the named resources.
pub fn sparing(stack: &str, policy: &str, ids: &[&str]) -> Result<String, PolicyError> {
    let unreadable = |detail: String| PolicyError::Unreadable {
        stack: stack.into(),
        detail,
    };
    let mut doc: Value = serde_json::from_str(policy).map_err(|e| unreadable(e.to_string()))?;
    let statements = doc
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| unreadable("no Statement list".into()))?;
    let spared: Vec<String> = ids
        .iter()
        .map(|id| format!("LogicalResourceId/{id}"))
        .collect();
    statements.retain_mut(|s| {
        if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
            return true;
        }
        match s.get_mut("Resource") {
            Some(Value::Array(list)) => {
                list.retain(|r| !r.as_str().is_some_and(|r| spared.iter().any(|x| x == r)));
                !list.is_empty()
            }
            Some(Value::String(r)) => !spared.iter().any(|x| x == r),
            _ => true,
        }
    });
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Statement":[
        {"Effect":"Allow","Principal":"*","Action":["Update:Modify","Update:Replace","Update:Delete"],"Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":["Update:Replace","Update:Delete"],"Resource":["LogicalResourceId/Database","LogicalResourceId/FileSystem"]},
        {"Effect":"Deny","Principal":"*","Action":"Update:Delete","Resource":"LogicalResourceId/Database"}
    ]}"#;

    fn check(ids: &[&str], expected_denied: &[&str]) {
        let out: Value = serde_json::from_str(&sparing("s", POLICY, ids).unwrap()).unwrap();
        let statements = out["Statement"].as_array().unwrap();
        assert_eq!(statements[0]["Effect"], "Allow", "allows are kept");
        let mut denied: Vec<String> = statements
            .iter()
            .filter(|s| s["Effect"] == "Deny")
            .flat_map(|s| match &s["Resource"] {
                Value::Array(l) => l.iter().map(|r| r.as_str().unwrap().to_string()).collect(),
                r => vec![r.as_str().unwrap().to_string()],
            })
            .collect();
        denied.sort();
        denied.dedup();
        let expected: Vec<String> = expected_denied
            .iter()
            .map(|id| format!("LogicalResourceId/{id}"))
            .collect();
        assert_eq!(denied, expected);
    }

    #[test]
    fn spares_only_the_named_resources() {
        check(&[], &["Database", "FileSystem"]);
        check(&["Database"], &["FileSystem"]);
        check(&["FileSystem"], &["Database"]);
        check(&["Database", "FileSystem"], &[]);
        check(&["Other"], &["Database", "FileSystem"]);
    }

    #[test]
    fn an_unreadable_policy_is_an_error_naming_the_stack() {
        for bad in ["", "[]", "{\"Statement\":3}", "not json"] {
            let e = sparing("e2e-data", bad, &["Database"]).unwrap_err();
            assert!(
                e.to_string().starts_with("the stack policy of e2e-data"),
                "{e}"
            );
        }
    }
}

//! The CloudFormation gaps of stock moto server that `lifecycle_support/moto_cfn.py` fills are
//! still there. If one of these fails after a moto upgrade, moto fixed the gap: remove its patch
//! from moto_cfn.py (and the line here) so the tests exercise moto's own behaviour.

use std::collections::BTreeMap;

use idealstack_aws::deploy::Aws;
use idealstack_deploy::ports::{ChangeSetRequest, StackApi, TemplateSource};
use idealstack_testbed::Moto;

const TEMPLATE: &str = r#"{
  "Resources": {
    "Table": {
      "Type": "AWS::DynamoDB::Table",
      "Properties": {
        "TableName": "gap-sessions",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]
      }
    }
  },
  "Outputs": {"TableName": {"Value": {"Ref": "Table"}}}
}"#;

fn request(create: bool, template: &str) -> ChangeSetRequest {
    ChangeSetRequest {
        stack: "gap".into(),
        name: if create { "c1".into() } else { "c2".into() },
        create,
        template: TemplateSource::Body(template.into()),
        parameters: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

#[test]
fn stock_moto_still_has_the_named_change_set_gaps() {
    let moto = Moto::start();
    let aws = Aws::for_emulator(&moto.endpoint()).unwrap();
    let id = StackApi::create_change_set(&aws, &request(true, TEMPLATE)).unwrap();
    StackApi::execute_change_set(&aws, "gap", &id).unwrap();
    let stack = StackApi::describe(&aws, "gap").unwrap().unwrap();
    // Gap 3 (ASYNC): execution finished before ExecuteChangeSet answered.
    assert_eq!(stack.status, "CREATE_COMPLETE", "gap 3 fixed?");
    // Gap 1 (OUTPUTS): no outputs after a CREATE change set.
    assert!(
        stack.outputs.is_empty(),
        "gap 1 fixed? outputs: {:?}",
        stack.outputs
    );
    // Gap 4 (RESOURCE EVENTS): only stack-level events.
    let events = StackApi::events(&aws, "gap").unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.resource_type == "AWS::CloudFormation::Stack"),
        "gap 4 fixed? {events:?}"
    );
    // Gap 10 (REPLACEMENT): renaming a table replaces it, but moto does not say so.
    let renamed = TEMPLATE.replace("gap-sessions", "gap-sessions-2");
    let id = StackApi::create_change_set(&aws, &request(false, &renamed)).unwrap();
    let cs = StackApi::describe_change_set(&aws, "gap", &id).unwrap();
    let table = cs
        .changes
        .iter()
        .find(|c| c.logical_id == "Table")
        .expect("a change of Table");
    assert_eq!(table.action, "Modify");
    assert_ne!(table.replacement.as_deref(), Some("True"), "gap 10 fixed?");
}

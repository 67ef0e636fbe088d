//! A small CloudFormation template builder and the intrinsic functions the stack modules use.
//!
//! Everything produces plain `serde_json::Value`s; the order of insertion does not matter because
//! [`crate::render`] sorts keys.

use serde_json::{Map, Value, json};

/// `{"Ref": name}`.
pub(crate) fn r(name: &str) -> Value {
    json!({ "Ref": name })
}

/// `{"Fn::GetAtt": [resource, attribute]}`.
pub(crate) fn ga(resource: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, attribute] })
}

/// `{"Fn::Sub": text}` (`${Name}` refers to parameters, resources and pseudo parameters).
pub(crate) fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `{"Fn::Select": [index, list]}`.
pub(crate) fn select(index: usize, list: Value) -> Value {
    json!({ "Fn::Select": [index.to_string(), list] })
}

/// `{"Fn::If": [condition, then, else]}`.
pub(crate) fn if_(condition: &str, then: Value, otherwise: Value) -> Value {
    json!({ "Fn::If": [condition, then, otherwise] })
}

/// `{"Ref": "AWS::NoValue"}`.
pub(crate) fn no_value() -> Value {
    r("AWS::NoValue")
}

/// A CloudFormation tag list from key/value pairs.
pub(crate) fn tag_list(pairs: &[(&str, Value)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// A checkov suppression: the check id and the real reason it does not apply to this design.
pub(crate) type Skip<'a> = (&'a str, &'a str);

/// A template under construction.
pub(crate) struct Template {
    root: Map<String, Value>,
}

/// A resource just added, for setting its policies and metadata.
pub(crate) struct Resource<'a> {
    body: &'a mut Map<String, Value>,
}

impl Resource<'_> {
    /// DeletionPolicy and UpdateReplacePolicy `Retain` (stateful resources).
    pub(crate) fn retain(self) -> Self {
        self.body.insert("DeletionPolicy".into(), json!("Retain"));
        self.body
            .insert("UpdateReplacePolicy".into(), json!("Retain"));
        self
    }

    /// DeletionPolicy and UpdateReplacePolicy `Delete`, stated explicitly: for named log groups
    /// of stacks that may be deleted and created again (a retained named group would block the
    /// new stack); their events expire by retention anyway.
    pub(crate) fn delete(self) -> Self {
        self.body.insert("DeletionPolicy".into(), json!("Delete"));
        self.body
            .insert("UpdateReplacePolicy".into(), json!("Delete"));
        self
    }

    /// DeletionPolicy and UpdateReplacePolicy `Snapshot` (RDS).
    pub(crate) fn snapshot(self) -> Self {
        self.body.insert("DeletionPolicy".into(), json!("Snapshot"));
        self.body
            .insert("UpdateReplacePolicy".into(), json!("Snapshot"));
        self
    }

    /// Explicit DependsOn (only where CloudFormation cannot infer the order from references).
    pub(crate) fn depends_on(self, ids: &[&str]) -> Self {
        self.body.insert("DependsOn".into(), json!(ids));
        self
    }

    /// Adds checkov suppressions, each with its reason, to the resource's Metadata.
    pub(crate) fn skip(self, skips: &[Skip<'_>]) -> Self {
        if skips.is_empty() {
            return self;
        }
        let list: Vec<Value> = skips
            .iter()
            .map(|(id, comment)| json!({ "id": id, "comment": comment }))
            .collect();
        let metadata = self.body.entry("Metadata").or_insert_with(|| json!({}));
        let checkov = metadata
            .as_object_mut()
            .expect("Metadata is an object")
            .entry("checkov")
            .or_insert_with(|| json!({ "skip": [] }));
        checkov["skip"]
            .as_array_mut()
            .expect("skip is a list")
            .extend(list);
        self
    }

    /// Adds a free-form Metadata entry (documentation for readers of the template).
    pub(crate) fn metadata(self, key: &str, value: Value) -> Self {
        let metadata = self.body.entry("Metadata").or_insert_with(|| json!({}));
        metadata
            .as_object_mut()
            .expect("Metadata is an object")
            .insert(key.into(), value);
        self
    }
}

impl Template {
    /// A new template with its Description.
    pub(crate) fn new(description: &str) -> Template {
        let mut root = Map::new();
        root.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
        root.insert("Description".into(), json!(description));
        root.insert("Resources".into(), json!({}));
        Template { root }
    }

    fn section(&mut self, name: &str) -> &mut Map<String, Value> {
        self.root
            .entry(name)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a template section is an object")
    }

    /// A parameter without a default (its value comes from the [`crate::StackSpec`]).
    pub(crate) fn param(&mut self, name: &str, ty: &str, description: &str) {
        debug_assert!(
            !self.section("Parameters").contains_key(name),
            "parameter {name} twice"
        );
        self.section("Parameters").insert(
            name.into(),
            json!({ "Type": ty, "Description": description }),
        );
    }

    /// Adds extra keys (AllowedPattern, MinValue, ...) to an existing parameter.
    pub(crate) fn param_extra(&mut self, name: &str, key: &str, value: Value) {
        let p = self
            .section("Parameters")
            .get_mut(name)
            .expect("parameter exists");
        p.as_object_mut()
            .expect("parameter is an object")
            .insert(key.into(), value);
    }

    /// A condition.
    pub(crate) fn condition(&mut self, name: &str, value: Value) {
        self.section("Conditions").insert(name.into(), value);
    }

    /// A mapping.
    pub(crate) fn mapping(&mut self, name: &str, value: Value) {
        self.section("Mappings").insert(name.into(), value);
    }

    /// Adds a resource of type `ty` with `properties`.
    pub(crate) fn resource(&mut self, id: &str, ty: &str, properties: Value) -> Resource<'_> {
        let resources = self.section("Resources");
        debug_assert!(!resources.contains_key(id), "resource {id} twice");
        resources.insert(id.into(), json!({ "Type": ty, "Properties": properties }));
        Resource {
            body: resources
                .get_mut(id)
                .and_then(Value::as_object_mut)
                .expect("just inserted"),
        }
    }

    /// An output with a description.
    pub(crate) fn output(&mut self, name: &str, value: Value, description: &str) {
        self.section("Outputs").insert(
            name.into(),
            json!({ "Value": value, "Description": description }),
        );
    }

    /// The finished template.
    pub(crate) fn finish(self) -> Value {
        Value::Object(self.root)
    }
}

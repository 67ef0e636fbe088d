//! Structural check of a parsed manifest against its own JSON Schema: unknown fields (with a
//! "did you mean"), missing fields and wrong types, all collected at once.
//!
//! serde stops at the first problem; walking the TOML value against the schema derived from
//! [`crate::raw`] reports them all, from one source of truth for field names and types.

use crate::diagnostic::{Collector, FieldPath, Problem};
use serde_json::Value as Json;
use toml::Value as Toml;

/// Checks `value` against `schema` (the manifest's root schema), recording every problem.
pub fn check(schema: &Json, value: &Toml, out: &mut Collector) {
    Walker { root: schema }.walk(schema, value, &FieldPath::root(), out);
}

struct Walker<'a> {
    root: &'a Json,
}

impl Walker<'_> {
    fn resolve<'s>(&'s self, schema: &'s Json) -> &'s Json {
        match schema.get("$ref").and_then(Json::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/$defs/");
                self.root
                    .get("$defs")
                    .and_then(|d| d.get(name))
                    .unwrap_or(schema)
            }
            None => schema,
        }
    }

    fn walk(&self, schema: &Json, value: &Toml, path: &FieldPath, out: &mut Collector) {
        let schema = self.resolve(schema);
        if let Some(choices) = schema.get("oneOf").or_else(|| schema.get("anyOf")) {
            self.walk_choice(choices, value, path, out);
            return;
        }
        if let Some(expected) = schema.get("const") {
            if !same_scalar(expected, value) {
                out.push(
                    path,
                    Problem::InvalidValue,
                    format!("{} is not {expected}", show(value)),
                );
            }
            return;
        }
        if !type_matches(schema, value) {
            out.push(
                path,
                Problem::WrongType,
                format!("expected {}, found {}", describe_type(schema), show(value)),
            );
            return;
        }
        match value {
            Toml::Table(table) => self.walk_table(schema, table, path, out),
            Toml::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item_schema, item, &path.index(i), out);
                    }
                }
            }
            Toml::Integer(n) => {
                let min = schema.get("minimum").and_then(Json::as_i64);
                if let Some(min) = min.filter(|m| n < m) {
                    out.push(
                        path,
                        Problem::InvalidValue,
                        format!("{n} is below the minimum {min}"),
                    );
                }
                if schema.get("format").and_then(Json::as_str) == Some("uint32")
                    && *n > i64::from(u32::MAX)
                {
                    out.push(path, Problem::InvalidValue, format!("{n} is too large"));
                }
            }
            _ => {}
        }
    }

    fn walk_choice(&self, choices: &Json, value: &Toml, path: &FieldPath, out: &mut Collector) {
        let choices = choices.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut best: Option<Collector> = None;
        for choice in choices {
            let mut attempt = Collector::default();
            self.walk(choice, value, path, &mut attempt);
            if attempt.is_empty() {
                return;
            }
            // Keep the attempt whose type matched, so its inner problems are the ones reported.
            if type_matches(self.resolve(choice), value) && best.is_none() {
                best = Some(attempt);
            }
        }
        let consts: Vec<String> = choices
            .iter()
            .filter_map(|c| self.resolve(c).get("const").map(Json::to_string))
            .collect();
        if !consts.is_empty() && consts.len() == choices.len() {
            out.push(
                path,
                Problem::InvalidValue,
                format!(
                    "{} is not allowed; expected one of {}",
                    show(value),
                    consts.join(", ")
                ),
            );
        } else if let Some(best) = best.filter(|_| !matches!(value, Toml::Integer(_))) {
            out.extend(best);
        } else {
            let kinds: Vec<String> = choices
                .iter()
                .map(|c| describe_type(self.resolve(c)))
                .collect();
            out.push(
                path,
                Problem::WrongType,
                format!("expected {}, found {}", kinds.join(" or "), show(value)),
            );
        }
    }

    fn walk_table(
        &self,
        schema: &Json,
        table: &toml::Table,
        path: &FieldPath,
        out: &mut Collector,
    ) {
        let properties = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        for (key, item) in table {
            let child = path.key(key);
            match properties.and_then(|p| p.get(key)) {
                Some(field_schema) => self.walk(field_schema, item, &child, out),
                None => match additional {
                    Some(Json::Bool(false)) => {
                        let known: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = match closest(key, &known) {
                            Some(guess) => format!("did you mean `{guess}`?"),
                            None => format!("known fields here: {}", known.join(", ")),
                        };
                        out.push(
                            &child,
                            Problem::UnknownField,
                            format!("unknown field `{key}`; {hint}"),
                        );
                    }
                    Some(value_schema @ Json::Object(_)) => {
                        self.walk(value_schema, item, &child, out)
                    }
                    _ => {}
                },
            }
        }
        for required in schema
            .get("required")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = required.as_str().filter(|n| !table.contains_key(*n)) {
                let what = properties
                    .and_then(|p| p.get(name))
                    .and_then(|s| s.get("description"))
                    .and_then(Json::as_str)
                    .map(|d| d.split(['.', ':']).next().unwrap_or(d).trim().to_owned())
                    .unwrap_or_default();
                out.push(
                    &path.key(name),
                    Problem::MissingField,
                    format!("missing required field `{name}` ({what})"),
                );
            }
        }
    }
}

impl Collector {
    fn extend(&mut self, other: Collector) {
        for d in other.into_vec() {
            self.push(&d.path, d.problem, d.message);
        }
    }
}

fn type_names(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

fn type_matches(schema: &Json, value: &Toml) -> bool {
    let names = type_names(schema);
    if names.is_empty() {
        return true;
    }
    names.iter().any(|t| {
        matches!(
            (*t, value),
            ("string", Toml::String(_))
                | ("integer", Toml::Integer(_))
                | ("number", Toml::Integer(_) | Toml::Float(_))
                | ("boolean", Toml::Boolean(_))
                | ("array", Toml::Array(_))
                | ("object", Toml::Table(_))
        )
    })
}

fn describe_type(schema: &Json) -> String {
    let names: Vec<&str> = type_names(schema)
        .into_iter()
        .filter(|t| *t != "null")
        .map(|t| match t {
            "string" => "a string",
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            "array" => "a list",
            "object" => "a table",
            other => other,
        })
        .collect();
    if names.is_empty() {
        "a value".into()
    } else {
        names.join(" or ")
    }
}

fn same_scalar(expected: &Json, value: &Toml) -> bool {
    match (expected, value) {
        (Json::String(a), Toml::String(b)) => a == b,
        (Json::Bool(a), Toml::Boolean(b)) => a == b,
        (Json::Number(a), Toml::Integer(b)) => a.as_i64() == Some(*b),
        _ => false,
    }
}

/// A short rendering of a TOML value for messages.
pub(crate) fn show(value: &Toml) -> String {
    match value {
        Toml::String(s) => format!("{s:?}"),
        Toml::Integer(n) => n.to_string(),
        Toml::Float(x) => x.to_string(),
        Toml::Boolean(b) => b.to_string(),
        Toml::Datetime(d) => format!("the date {d}"),
        Toml::Array(_) => "a list".into(),
        Toml::Table(_) => "a table".into(),
    }
}

/// The known name closest to `typed`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    let near = known
        .iter()
        .map(|k| (edit_distance(&typed, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min()
        .map(|(_, k)| k);
    // `php_version` for `php`, `minimum` for `min`, `zones` for `availability_zones`: one name
    // extends the other.
    near.or_else(|| {
        known
            .iter()
            .filter(|k| {
                k.len().min(typed.len()) >= 3
                    && (typed.starts_with(*k)
                        || k.starts_with(&typed)
                        || k.ends_with(&format!("_{typed}")))
            })
            .max_by_key(|k| k.len())
            .copied()
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

//! Deterministic pretty JSON: object keys sorted byte-wise at every level (whatever map type
//! serde_json was built with, so a workspace feature such as `preserve_order` cannot change the
//! output), two-space indent, `\n` line ends and a trailing newline.

use serde_json::Value;

/// Renders a template (or any JSON value) as deterministic pretty JSON ending in a newline.
pub fn render(value: &Value) -> String {
    let mut out = String::with_capacity(4096);
    write_value(&mut out, value, 0);
    out.push('\n');
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_string(out: &mut String, s: &str) {
    // serde_json's own escaping, so the output is valid JSON byte for byte.
    out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
}

fn write_value(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            out.push_str(&value.to_string());
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, level + 1);
                write_value(out, item, level + 1);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, key) in keys.iter().enumerate() {
                indent(out, level + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, &map[key.as_str()], level + 1);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_round_trips() {
        let v = json!({"b": [1, {"z": null, "a": "x\"y"}], "a": {}, "c": []});
        let text = render(&v);
        assert_eq!(
            text,
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"x\\\"y\",\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}\n"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}

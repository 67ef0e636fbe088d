//! `idealstack.toml`: the manifest of a stack and its sites.
//!
//! Text -> TOML -> structural check against the JSON Schema (unknown fields, types) -> user-shaped
//! [`raw::Manifest`] -> semantic validation -> normalised [`Model`]. Every problem is collected and
//! reported at once, each naming its field (`sites[2].domains[1]`), the bad value and what is
//! allowed. Pure: no file or network I/O; invalid input never panics.

pub mod catalog;
pub mod cidr;
pub mod diagnostic;
pub mod domain;
mod init;
pub mod model;
pub mod php;
pub mod raw;
mod structure;
mod validate;

pub use diagnostic::{Diagnostic, FieldPath, ManifestError, Problem};
pub use domain::{Domain, DomainError, parse_domain};
pub use init::{InitOptions, init_manifest};
pub use model::Model;
pub use validate::DEFAULT_HEALTH_CHECK_PATH;

use diagnostic::Collector;

/// The file name idealstack looks for.
pub const FILE_NAME: &str = "idealstack.toml";

/// Parses and validates a manifest's text into a model, reporting every problem at once.
pub fn parse(text: &str) -> Result<Model, ManifestError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let mut value = toml::Value::Table(table);
    let mut found = Collector::default();
    structure::check(&schema(), &value, &mut found);
    // Unknown fields do not stop the check: they are reported, dropped, and the rest of the
    // manifest is validated too, so one run lists every problem. Wrong types and missing fields do
    // stop it (the values cannot be read).
    if found.iter().any(|d| d.problem != Problem::UnknownField) {
        return Err(found.into_error());
    }
    for d in found.iter() {
        d.path.remove_from(&mut value);
    }
    let manifest: raw::Manifest = match value.try_into() {
        Ok(m) => m,
        Err(e) => {
            found.push(&FieldPath::root(), Problem::WrongType, e.to_string());
            return Err(found.into_error());
        }
    };
    match validate::validate(&manifest, &mut found) {
        Some(model) if found.is_empty() => Ok(model),
        _ => Err(found.into_error()),
    }
}

fn syntax_error(text: &str, e: &toml::de::Error) -> ManifestError {
    let offset = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ManifestError::Syntax {
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

/// The JSON Schema of `idealstack.toml` (for editor completion and validation).
pub fn schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(raw::Manifest).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), "idealstack.toml".into());
        obj.insert(
            "$id".into(),
            "https://idealstack.dev/schema/idealstack.toml.json".into(),
        );
    }
    schema
}

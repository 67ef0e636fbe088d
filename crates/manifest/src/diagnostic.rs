//! Problems found in a manifest: each names the field at fault (`sites[2].domains[1]`), the bad
//! value, and what is allowed, so one run of `idealstack validate` lists everything to fix.

use std::fmt;

/// Where in the manifest a value sits, rendered like `sites[2].domains[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Key(String),
    Index(usize),
}

impl FieldPath {
    /// The manifest's root.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path followed by a table key.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_owned()));
        next
    }

    /// This path followed by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }
}

impl FieldPath {
    /// Removes the value at this path from `root` (used to drop unknown fields so the rest of the
    /// manifest can still be checked). Does nothing when the path is not there.
    pub(crate) fn remove_from(&self, root: &mut toml::Value) {
        let Some((Segment::Key(last), parents)) = self.0.split_last() else {
            return;
        };
        let mut node = root;
        for segment in parents {
            let next = match (segment, node) {
                (Segment::Key(k), toml::Value::Table(t)) => t.get_mut(k),
                (Segment::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
                _ => None,
            };
            let Some(next) = next else { return };
            node = next;
        }
        if let toml::Value::Table(t) = node {
            t.remove(last);
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?
                    } else {
                        write!(f, "{k:?}")?
                    }
                }
            }
        }
        Ok(())
    }
}

/// The kind of a problem, for code that reacts to it (tests, the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A field the manifest does not define (often a typo).
    UnknownField,
    /// A required field is missing.
    MissingField,
    /// A value of the wrong type (a string where a number belongs, ...).
    WrongType,
    /// A value of the right type that is not allowed.
    InvalidValue,
    /// A value that must be unique appears twice.
    Duplicate,
    /// Two fields that cannot hold together.
    Conflict,
}

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub path: FieldPath,
    /// What kind of problem it is.
    pub problem: Problem,
    /// What is wrong and what is allowed, naming the bad value.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A manifest that could not be turned into a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The file is not valid TOML.
    #[error(
        "idealstack.toml is not valid TOML (line {line}, column {column}): {message}; fix the syntax and run `idealstack validate` again"
    )]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the TOML parser expected.
        message: String,
    },
    /// The manifest parsed but has problems; every one is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ManifestError {
    /// The problems, empty for a syntax error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ManifestError::Invalid(d) => d,
            ManifestError::Syntax { .. } => &[],
        }
    }
}

fn render_problems(problems: &[Diagnostic]) -> String {
    let mut out = format!(
        "idealstack.toml has {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for d in problems {
        out.push_str("\n  ");
        out.push_str(&d.to_string());
    }
    out
}

/// Collects problems while a manifest is checked, so every one is reported at once.
#[derive(Debug, Default)]
pub struct Collector {
    found: Vec<Diagnostic>,
}

impl Collector {
    /// Records a problem.
    pub fn push(&mut self, path: &FieldPath, problem: Problem, message: impl Into<String>) {
        self.found.push(Diagnostic {
            path: path.clone(),
            problem,
            message: message.into(),
        });
    }

    /// An invalid value: `<value> <why>`.
    pub fn invalid(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.push(path, Problem::InvalidValue, message);
    }

    /// The problems found so far.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.found.iter()
    }

    /// How many problems were found so far.
    pub fn len(&self) -> usize {
        self.found.len()
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The problems found so far.
    pub(crate) fn into_vec(self) -> Vec<Diagnostic> {
        self.found
    }

    /// The collected problems as an error (at least one, even if a caller forgot to push one).
    pub fn into_error(mut self) -> ManifestError {
        if self.found.is_empty() {
            self.push(
                &FieldPath::root(),
                Problem::InvalidValue,
                "the manifest is invalid",
            );
        }
        ManifestError::Invalid(self.found)
    }
}

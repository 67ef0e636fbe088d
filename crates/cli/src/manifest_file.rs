//! Finding and reading `idealstack.toml`: the only file I/O in front of the pure manifest crate.

use anyhow::{Context, bail};
use idealstack_manifest::{ManifestError, Model};
use std::path::{Path, PathBuf};

/// The `--manifest` option shared by every command that reads the manifest.
#[derive(clap::Args, Debug, Clone)]
pub struct ManifestArg {
    /// Path of the manifest.
    #[arg(short = 'f', long = "manifest", default_value = idealstack_manifest::FILE_NAME, value_name = "PATH")]
    pub path: PathBuf,
}

/// Reads the manifest's text, with a next step when it is missing.
pub fn read(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} not found: idealstack needs a manifest; run `idealstack init` to write one, or pass --manifest PATH",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Reads and validates the manifest.
pub fn load(path: &Path) -> anyhow::Result<Model> {
    let text = read(path)?;
    idealstack_manifest::parse(&text).map_err(|e| invalid(path, e))
}

/// The error a command reports for an invalid manifest (every problem, then the next step).
pub fn invalid(path: &Path, e: ManifestError) -> anyhow::Error {
    let text = e
        .to_string()
        .replacen("idealstack.toml", &path.display().to_string(), 1);
    anyhow::anyhow!(
        "{text}\nFix these in {} and run `idealstack validate` again.",
        path.display()
    )
}

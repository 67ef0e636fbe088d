//! `idealstack validate`: every problem in the manifest at once, each naming its field.

use crate::manifest_file::{self, ManifestArg};
use serde_json::json;
use std::process::ExitCode;

/// Arguments of `validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    manifest: ManifestArg,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Validates; exit code 1 when the manifest has problems.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = &args.manifest.path;
    let text = manifest_file::read(path)?;
    let result = idealstack_manifest::parse(&text);
    if args.json {
        let value = match &result {
            Ok(model) => {
                json!({"valid": true, "stack": model.stack.name, "sites": model.sites.len()})
            }
            Err(e) => json!({
                "valid": false,
                "error": e.to_string(),
                "problems": e.diagnostics().iter().map(|d| json!({
                    "path": d.path.to_string(),
                    "problem": format!("{:?}", d.problem),
                    "message": d.message,
                })).collect::<Vec<_>>(),
            }),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(if result.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    match result {
        Ok(model) => {
            println!(
                "{} is valid: stack {} in {}, {} site{}",
                path.display(),
                model.stack.name,
                model.stack.region,
                model.sites.len(),
                if model.sites.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{:#}", manifest_file::invalid(path, e));
            Ok(ExitCode::from(1))
        }
    }
}

//! `idealstack logs SITE [--follow] [--since 1h] [--filter PATTERN]`: a site's logs from
//! CloudWatch Logs (Apache access and error logs, PHP errors), oldest first.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use idealstack_deploy::ports::StackApi;

use super::common::{self, AwsArgs};
use crate::manifest_file::{self, ManifestArg};

/// Arguments of `logs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The site's name.
    pub site: String,
    /// Keep printing new events until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// How far back: a number and s, m, h or d (30m, 1h, 2d).
    #[arg(long, default_value = "10m", value_parser = parse_since)]
    pub since: Duration,
    /// CloudWatch Logs filter pattern (`POST`, `"500"`, `?ERROR ?WARN`).
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Parses `30s`, `10m`, `1h`, `2d`.
pub fn parse_since(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: expected a number and a unit, like 30m, 1h or 2d"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

/// Prints the logs.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    common::require_site(&model, &args.site, &args.manifest.path)?;
    let aws = common::connect(&args.aws, &model)?;
    let stack = idealstack_templates::site_stack_name(&model.stack.name, &args.site);
    let group = StackApi::describe(&aws, &stack)?
        .and_then(|s| s.outputs.get("LogGroupName").cloned())
        .with_context(|| format!("site `{}` is not deployed ({stack} has no LogGroupName output): run `idealstack deploy`", args.site))?;
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default()
    };
    let mut start = now_ms() - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX / 2);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    loop {
        let events = aws
            .log_events(&group, start, args.filter.as_deref())
            .with_context(|| format!("cannot read log group {group}"))?;
        for e in events {
            if seen.insert(e.id.clone()) {
                println!("{} {}", e.stream, e.message);
                start = start.max(e.timestamp);
            }
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_units() {
        assert_eq!(parse_since("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_since("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_since("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_since("1w").is_err());
        assert!(parse_since("h").is_err());
    }
}

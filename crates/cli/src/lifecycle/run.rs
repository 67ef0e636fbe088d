//! `idealstack run SITE -- COMMAND...`: a command in a site's environment, as on the host a PHP
//! developer knows (`wp plugin update --all`, `php artisan migrate`, `composer install`).
//!
//! The command runs as a one-off ECS task of the site's own task definition (the one its service
//! runs: image and PHP version, site folder, uid, PHP settings, database variables), with the
//! container's command replaced; the image's entrypoint runs it in the site's folder. Its output
//! is read from the task's log stream as it arrives and printed on stdout; the exit code is the
//! command's. No terminal is needed: it works from scripts and CI.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use idealstack_aws::deploy::OneOffState;
use idealstack_deploy::ports::StackApi;

use super::common::{self, AwsArgs};
use super::logs::parse_since;
use crate::manifest_file::{self, ManifestArg};

/// Exit code when the command could not be run at all (the task did not start, or stopped
/// without an exit code), as `docker run` answers it.
const COULD_NOT_RUN: u8 = 125;
/// Exit code when `--timeout` stopped the command, as `timeout(1)` answers it.
const TIMED_OUT: u8 = 124;
/// Exit code when Ctrl-C stopped the command (128 + SIGINT).
const INTERRUPTED: u8 = 130;
/// Between two looks at the task and its log stream.
const POLL: Duration = Duration::from_secs(1);

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The site whose environment the command runs in.
    pub site: String,
    /// Stop the command after this long: a number and s, m, h or d.
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    pub timeout: Duration,
    /// The command and its arguments, after `--` (e.g. `-- php -v`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What to do after a look at the task (pure, so the ending rules are tested alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Look again.
    Wait,
    /// Done: the command's exit code.
    Exit(i32),
    /// The command did not run to an exit code: why.
    Failed(String),
}

/// Follows one task to its end: once ECS reports it stopped, the log stream is read until two
/// looks in a row bring nothing new (the log driver delivers the last lines after the exit), at
/// most `max_drain` looks.
#[derive(Debug, Clone, Default)]
pub struct Follow {
    quiet_after_stop: u32,
    looks_after_stop: u32,
}

impl Follow {
    /// The next step after a look that saw `state` and `new_lines` new log lines.
    pub fn next(&mut self, state: &OneOffState, new_lines: usize, max_drain: u32) -> Next {
        if state.last_status != "STOPPED" {
            return Next::Wait;
        }
        self.looks_after_stop += 1;
        self.quiet_after_stop = if new_lines == 0 {
            self.quiet_after_stop + 1
        } else {
            0
        };
        if self.quiet_after_stop < 2 && self.looks_after_stop < max_drain {
            return Next::Wait;
        }
        match state.exit_code {
            Some(code) => Next::Exit(code),
            None => Next::Failed(
                state
                    .stopped_reason
                    .clone()
                    .unwrap_or_else(|| "ECS gave no reason".into()),
            ),
        }
    }
}

/// Runs the command; returns its exit code.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    common::require_site(&model, &args.site, &args.manifest.path)?;
    let aws = common::connect(&args.aws, &model)?;
    let name = &model.stack.name;
    // Each stack's outputs, read once: `outputs(stack, keys)` answers the values of `keys`.
    let outputs = |stack: &str, keys: &[&str]| -> anyhow::Result<Vec<String>> {
        let found = StackApi::describe(&aws, stack)
            .with_context(|| format!("cannot read stack {stack}"))?
            .map(|s| s.outputs)
            .unwrap_or_default();
        keys.iter()
            .map(|key| {
                found.get(*key).cloned().with_context(|| {
                    format!(
                        "{stack} is not deployed (no {key} output): run `idealstack deploy` first"
                    )
                })
            })
            .collect()
    };
    let site_stack = idealstack_templates::site_stack_name(name, &args.site);
    let [cluster]: [String; 1] = outputs(
        &idealstack_templates::cluster_stack_name(name),
        &["ClusterName"],
    )?
    .try_into()
    .expect("one key, one value");
    let [service, group]: [String; 2] = outputs(&site_stack, &["ServiceName", "LogGroupName"])?
        .try_into()
        .expect("two keys, two values");
    let task_definition = aws
        .service(&cluster, &service)
        .with_context(|| format!("cannot read service {service}"))?
        .map(|s| s.task_definition)
        .filter(|td| !td.is_empty())
        .with_context(|| {
            format!(
                "site `{}` has no service {service} in cluster {cluster}: run `idealstack deploy`",
                args.site
            )
        })?;
    let container = idealstack_templates::SITE_CONTAINER;
    let task = aws
        .run_task(
            &cluster,
            &task_definition,
            container,
            &args.command,
            "idealstack-run",
        )
        .with_context(|| format!("cannot start the command in site `{}`", args.site))?;
    let task_id = task.rsplit('/').next().unwrap_or(&task).to_string();
    eprintln!("run: task {task_id} of {task_definition}");
    let stream = idealstack_templates::site_log_stream(&task_id);
    let interrupt = Arc::new(AtomicBool::new(false));
    aws.watch_interrupt(interrupt.clone());
    let started = Instant::now();
    let mut token = None;
    let mut follow = Follow::default();
    let mut stdout = std::io::stdout().lock();
    loop {
        let state = aws
            .one_off_state(&cluster, &task, container)
            .with_context(|| format!("cannot follow task {task_id}"))?;
        let (lines, next_token) = aws
            .stream_events(&group, &stream, token.take())
            .with_context(|| format!("cannot read the command's output ({group} {stream})"))?;
        token = next_token;
        for line in &lines {
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
        match follow.next(&state, lines.len(), 10) {
            Next::Wait => {}
            Next::Exit(code) => return Ok(ExitCode::from(exit_byte(code))),
            Next::Failed(why) => {
                eprintln!("run: the command did not run to its end: {why}");
                return Ok(ExitCode::from(COULD_NOT_RUN));
            }
        }
        let (stop, code, why) = if interrupt.load(Ordering::SeqCst) {
            (true, INTERRUPTED, "interrupted (Ctrl-C)".to_string())
        } else if started.elapsed() > args.timeout {
            (
                true,
                TIMED_OUT,
                format!("timed out after {} s (--timeout)", args.timeout.as_secs()),
            )
        } else {
            (false, 0, String::new())
        };
        if stop && state.last_status != "STOPPED" {
            aws.stop_one_off(&cluster, &task, &format!("idealstack run: {why}"))
                .with_context(|| format!("cannot stop task {task_id}"))?;
            eprintln!("run: {why}: task {task_id} stopped");
            return Ok(ExitCode::from(code));
        }
        std::thread::sleep(POLL);
    }
}

/// A container's exit code as a process's: 0-255 as they are, anything else (a signal ECS
/// reports as negative, or out of range) as 125.
fn exit_byte(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(COULD_NOT_RUN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, exit: Option<i32>, reason: Option<&str>) -> OneOffState {
        OneOffState {
            last_status: status.into(),
            stopped_reason: reason.map(Into::into),
            exit_code: exit,
        }
    }

    #[test]
    fn a_stopped_task_ends_once_its_log_is_quiet() {
        let mut f = Follow::default();
        assert_eq!(f.next(&state("PENDING", None, None), 0, 10), Next::Wait);
        assert_eq!(f.next(&state("RUNNING", None, None), 3, 10), Next::Wait);
        let done = state(
            "STOPPED",
            Some(3),
            Some("Essential container in task exited"),
        );
        // Lines still arrive after the stop: keep reading.
        assert_eq!(f.next(&done, 2, 10), Next::Wait);
        assert_eq!(f.next(&done, 0, 10), Next::Wait);
        assert_eq!(f.next(&done, 1, 10), Next::Wait);
        assert_eq!(f.next(&done, 0, 10), Next::Wait);
        assert_eq!(f.next(&done, 0, 10), Next::Exit(3));
    }

    #[test]
    fn a_log_that_never_goes_quiet_ends_after_the_drain_limit() {
        let mut f = Follow::default();
        let done = state("STOPPED", Some(0), None);
        for _ in 0..4 {
            assert_eq!(f.next(&done, 5, 5), Next::Wait);
        }
        assert_eq!(f.next(&done, 5, 5), Next::Exit(0));
    }

    #[test]
    fn a_task_that_never_ran_reports_why() {
        let mut f = Follow::default();
        let failed = state("STOPPED", None, Some("CannotPullContainerError: not found"));
        assert_eq!(f.next(&failed, 0, 10), Next::Wait);
        assert_eq!(
            f.next(&failed, 0, 10),
            Next::Failed("CannotPullContainerError: not found".into())
        );
    }

    #[test]
    fn exit_codes_map_to_process_codes() {
        assert_eq!(exit_byte(0), 0);
        assert_eq!(exit_byte(3), 3);
        assert_eq!(exit_byte(255), 255);
        assert_eq!(exit_byte(-1), COULD_NOT_RUN);
        assert_eq!(exit_byte(300), COULD_NOT_RUN);
    }
}

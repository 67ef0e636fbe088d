//! A whole deploy and a whole destroy over the ports: deletions of removed sites first, then the
//! certificates, then waves of stacks in dependency order (sites in parallel, bounded; one site's
//! failure skips only what depends on it), then the state for the next run and the agent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use idealstack_manifest::Model;
use idealstack_plan::Prior;
use idealstack_stacks::Build;
use idealstack_templates::{StackKind, render};
use serde::Serialize;

use crate::certs;
use crate::engine::{self, Options, Outcome};
use crate::order;
use crate::ports::{
    ApiError, CertificateApi, ChangeSetRequest, DnsApi, LoadBalancerApi, ObjectStore, ServiceApi,
    StackApi, TemplateSource,
};
use crate::progress::Progress;
use crate::state::{self, STATE_BUCKET_OUTPUT, StateError};

/// Every port a deploy uses.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// CloudFormation.
    pub stacks: &'a dyn StackApi,
    /// S3.
    pub store: &'a dyn ObjectStore,
    /// ACM.
    pub certs: &'a dyn CertificateApi,
    /// Route 53.
    pub dns: &'a dyn DnsApi,
    /// ECS.
    pub services: &'a dyn ServiceApi,
    /// ELBv2.
    pub load_balancers: &'a dyn LoadBalancerApi,
}

/// What a deploy or destroy did.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Each stack touched, in the order it finished.
    pub stacks: Vec<(String, Outcome)>,
    /// The certificates (deploy only).
    pub certificates: Vec<certs::Status>,
    /// Whether the state was written to the bucket.
    pub state_written: bool,
}

impl Report {
    /// Whether every stack is as desired.
    pub fn ok(&self) -> bool {
        self.stacks.iter().all(|(_, o)| o.ok())
    }
}

/// Why a deploy could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An AWS call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The stored state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The state bucket (from the data stack's outputs) and the stored assignments, for planning.
pub fn prior(ports: Ports<'_>, stack: &str) -> Result<(Prior, Option<String>), RunError> {
    let data = ports
        .stacks
        .describe(&idealstack_templates::data_stack_name(stack))?;
    let bucket = data.and_then(|d| d.outputs.get(STATE_BUCKET_OUTPUT).cloned());
    match bucket {
        Some(b) => Ok((state::read_prior(ports.store, &b)?, Some(b))),
        None => Ok((Prior::default(), None)),
    }
}

/// Runs `f` on every item with at most `n` at once; results in item order.
fn parallel<T: Send, I: Sync>(items: &[I], n: usize, f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..n.max(1).min(items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Deploys `build` (made from `model` with the prior of [`prior`]).
#[allow(clippy::too_many_arguments)]
pub fn deploy(
    ports: Ports<'_>,
    model: &Model,
    build: &Build,
    version: &str,
    opts: &Options,
    cert_wait: Duration,
    progress: &dyn Progress,
) -> Result<Report, RunError> {
    let name = &model.stack.name;
    let existing = ports.stacks.list(&format!("{name}-"))?;
    let existing_names: Vec<String> = existing.iter().map(|s| s.name.clone()).collect();
    let outputs: Mutex<BTreeMap<String, BTreeMap<String, String>>> = Mutex::new(
        existing
            .iter()
            .map(|s| (s.name.clone(), s.outputs.clone()))
            .collect(),
    );
    let mut report = Report {
        stacks: Vec::new(),
        certificates: Vec::new(),
        state_written: false,
    };

    // 1. Removed sites, then emptied shards: their rule priorities may be reused by new sites.
    let removed = order::removed(name, &existing_names, &build.stacks);
    let (sites, edges): (Vec<String>, Vec<String>) = removed
        .into_iter()
        .partition(|s| s.starts_with(&format!("{name}-site-")));
    for group in [sites, edges] {
        let outs = parallel(&group, opts.parallel, |s| {
            engine::delete_stack(ports.stacks, ports.load_balancers, s, opts, progress)
        });
        for (s, o) in group.into_iter().zip(outs) {
            outputs.lock().unwrap_or_else(|e| e.into_inner()).remove(&s);
            report.stacks.push((s, o));
        }
    }
    if !report.ok() {
        progress.say("", "a removed stack could not be deleted; not deploying the rest, since its rule priorities may be reused");
        return Ok(report);
    }

    // 2. Certificates.
    let existing = ports.certs.find_tagged(certs::TAG_STACK, name)?;
    let requested = certs::ensure(
        ports.certs,
        ports.dns,
        name,
        &existing,
        &build.plan,
        progress,
    )?;
    let certificates = certs::wait_issued(ports.certs, requested, cert_wait, opts.poll, progress)?;
    let issued = certs::issued(&certificates);
    for c in certificates
        .iter()
        .filter(|c| c.info.status == "PENDING_VALIDATION")
    {
        for r in &c.info.validation_records {
            progress.say(
                "",
                &format!(
                    "certificate for {} is pending validation: create {} {} {}",
                    c.need.site, r.name, r.record_type, r.value
                ),
            );
        }
    }
    report.certificates = certificates;
    let default_certificate = if build.stacks.iter().any(|s| s.kind == StackKind::Edge) {
        match certs::ensure_default(ports.certs, name, &existing, progress) {
            Ok(arn) => Some(arn),
            Err(e) => {
                progress.say(
                    "",
                    &format!(
                        "{e}; the load balancer stacks are skipped, run `idealstack deploy` again"
                    ),
                );
                None
            }
        }
    } else {
        None
    };

    // 3. Stacks, wave by wave.
    let failed: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let data_stack = idealstack_templates::data_stack_name(name);
    let cluster_stack = idealstack_templates::cluster_stack_name(name);
    let mut state_before_sites = false;
    for wave in order::waves(&build.stacks) {
        let wave: Vec<usize> = wave
            .into_iter()
            .filter(|&i| {
                opts.only
                    .as_ref()
                    .is_none_or(|o| o.contains(&build.stacks[i].name))
            })
            .collect();
        // The agent creates a site's folders (and database) from the desired state; a new site's
        // service cannot pass its health check before its document root exists, and its circuit
        // breaker would roll the site stack back. So the desired state naming every site is
        // written before the first site stack starts, not only at the end.
        if !state_before_sites
            && wave
                .iter()
                .any(|&i| build.stacks[i].kind == StackKind::Site)
        {
            state_before_sites = true;
            let bucket = outputs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&data_stack)
                .and_then(|o| o.get(STATE_BUCKET_OUTPUT).cloned());
            if let Some(bucket) = bucket {
                write_state(ports, &bucket, model, build, version, progress);
            }
        }
        let outs = parallel(&wave, opts.parallel, |&i| {
            let spec = &build.stacks[i];
            let blocked: Vec<String> = {
                let f = failed.lock().unwrap_or_else(|e| e.into_inner());
                spec.depends_on
                    .iter()
                    .filter(|d| f.contains(*d))
                    .cloned()
                    .collect()
            };
            let outcome = if !blocked.is_empty() {
                Outcome::Skipped {
                    why: format!("it needs {}, which did not deploy", blocked.join(", ")),
                }
            } else {
                let snapshot = outputs.lock().unwrap_or_else(|e| e.into_inner()).clone();
                deploy_one(
                    ports,
                    spec,
                    &snapshot,
                    &issued,
                    default_certificate.as_deref(),
                    &data_stack,
                    &cluster_stack,
                    opts,
                    progress,
                )
            };
            if outcome.ok() {
                if let Ok(Some(info)) = ports.stacks.describe(&spec.name) {
                    outputs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(spec.name.clone(), info.outputs);
                }
                if spec.kind == StackKind::Data {
                    protect_data(ports, model, &spec.name, progress);
                }
            } else {
                failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(spec.name.clone());
            }
            outcome
        });
        for (&i, o) in wave.iter().zip(outs) {
            report.stacks.push((build.stacks[i].name.clone(), o));
        }
    }

    // 4. Certificates nothing uses any more (removed sites, superseded names) are deleted.
    if report.ok() {
        let whole = opts.only.is_none();
        // Listed before this run's requests: what this run requested is in use.
        for c in certs::unused(
            &existing,
            &report.certificates,
            |s| build.plan.sites.contains_key(s),
            whole,
        ) {
            let site = c.tags.get(certs::TAG_SITE).map_or("?", String::as_str);
            match ports.certs.delete(&c.arn) {
                Ok(()) => progress.say(
                    "",
                    &format!(
                        "deleted the unused certificate of site {site} ({})",
                        c.names.join(", ")
                    ),
                ),
                Err(e) => progress.say(
                    "",
                    &format!("could not delete the unused certificate {} of site {site}: {e}; the next deploy tries again", c.arn),
                ),
            }
        }
    }

    // 5. State for the next run and the agent.
    let bucket = outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&data_stack)
        .and_then(|o| o.get(STATE_BUCKET_OUTPUT).cloned());
    if let Some(bucket) = bucket {
        report.state_written = write_state(ports, &bucket, model, build, version, progress);
    }
    Ok(report)
}

/// Writes the assignments and the agent's desired state; says so when it cannot.
fn write_state(
    ports: Ports<'_>,
    bucket: &str,
    model: &Model,
    build: &Build,
    version: &str,
    progress: &dyn Progress,
) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match state::write(ports.store, bucket, model, &build.plan, version, now) {
        Ok(()) => true,
        Err(e) => {
            progress.say("", &format!("could not write the state to s3://{bucket}: {e}; the next deploy plans from what it can read"));
            false
        }
    }
}

fn protect_data(ports: Ports<'_>, model: &Model, stack: &str, progress: &dyn Progress) {
    let policy = idealstack_templates::data_stack_policy(&idealstack_stacks::data_options(model));
    let result = ports
        .stacks
        .set_termination_protection(stack, true)
        .and_then(|()| ports.stacks.set_stack_policy(stack, &render(&policy)));
    if let Err(e) = result {
        progress.say(
            stack,
            &format!("could not set termination protection and the stack policy: {e}"),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn deploy_one(
    ports: Ports<'_>,
    spec: &idealstack_templates::StackSpec,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    issued: &BTreeMap<(String, u32), String>,
    default_certificate: Option<&str>,
    data_stack: &str,
    cluster_stack: &str,
    opts: &Options,
    progress: &dyn Progress,
) -> Outcome {
    let mut parameters = match order::resolve(spec, outputs, issued, default_certificate) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Skipped {
                why: match e {
                    order::Unresolved::Certificate { .. } => format!(
                        "{e}; create its DNS validation records (see `idealstack certs`), then run `idealstack deploy` again"
                    ),
                    order::Unresolved::Output { .. }
                    | order::Unresolved::DefaultCertificate { .. } => e.to_string(),
                },
            };
        }
    };
    // Keep autoscaling's decision: deploy the running desired count, not the template's.
    if spec.kind == StackKind::Site && parameters.contains_key("DesiredCount") {
        let service = outputs.get(&spec.name).and_then(|o| o.get("ServiceName"));
        let cluster = outputs
            .get(cluster_stack)
            .and_then(|o| o.get("ClusterName"));
        if let (Some(service), Some(cluster)) = (service, cluster)
            && let Ok(Some(n)) = ports.services.desired_count(cluster, service)
        {
            parameters.insert("DesiredCount".into(), n.to_string());
        }
    }
    let text = render(&spec.template);
    let inline =
        matches!(spec.kind, StackKind::Network | StackKind::Data) && !engine::needs_upload(&text);
    let template = if inline {
        TemplateSource::Body(text)
    } else {
        let Some(bucket) = outputs
            .get(data_stack)
            .and_then(|o| o.get(STATE_BUCKET_OUTPUT))
        else {
            return Outcome::Skipped {
                why: format!(
                    "its template is uploaded to the state bucket, which needs {data_stack}"
                ),
            };
        };
        let key = state::template_key(&spec.name);
        if let Err(e) = ports
            .store
            .put(bucket, &key, text.as_bytes(), "application/json")
        {
            return Outcome::Failed(engine::Failure {
                what: format!("uploading the template of {} failed", spec.name),
                resource: None,
                reason: e.to_string(),
                next: "check s3:PutObject permission on the state bucket, then deploy again".into(),
            });
        }
        TemplateSource::Url(ports.store.template_url(bucket, &key))
    };
    let request = ChangeSetRequest {
        stack: spec.name.clone(),
        name: opts.change_set_name.clone(),
        create: false,
        template,
        parameters,
        tags: spec.tags.clone(),
    };
    engine::deploy_stack(ports.stacks, ports.load_balancers, request, opts, progress)
}

/// Deletes every stack of `stack` but the data and network stacks (unless `delete_data`), in
/// reverse dependency order, and the certificates idealstack requested for it.
pub fn destroy(
    ports: Ports<'_>,
    stack: &str,
    delete_data: bool,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Report, RunError> {
    let existing = ports.stacks.list(&format!("{stack}-"))?;
    let names: Vec<String> = existing.iter().map(|s| s.name.clone()).collect();
    let mut report = Report {
        stacks: Vec::new(),
        certificates: Vec::new(),
        state_written: false,
    };
    let of = |prefix: &str| -> Vec<String> {
        let p = format!("{stack}-{prefix}");
        names
            .iter()
            .filter(|n| n.starts_with(&p))
            .cloned()
            .collect()
    };
    let mut groups = vec![
        of("site-"),
        of("edge-"),
        vec![idealstack_templates::cluster_stack_name(stack)],
    ];
    if delete_data {
        groups.push(vec![idealstack_templates::data_stack_name(stack)]);
        groups.push(vec![idealstack_templates::network_stack_name(stack)]);
    }
    for group in groups {
        let group: Vec<String> = group.into_iter().filter(|g| names.contains(g)).collect();
        let outs = parallel(&group, opts.parallel, |s| {
            if s.ends_with("-data")
                && let Err(e) = ports.stacks.set_termination_protection(s, false)
            {
                return engine::Outcome::Failed(engine::Failure {
                    what: format!("turning off termination protection of {s} failed"),
                    resource: None,
                    reason: e.to_string(),
                    next: "check cloudformation:UpdateTerminationProtection permission".into(),
                });
            }
            engine::delete_stack(ports.stacks, ports.load_balancers, s, opts, progress)
        });
        let stop = outs.iter().any(|o| !o.ok());
        report.stacks.extend(group.into_iter().zip(outs));
        if stop {
            progress.say(
                "",
                "a stack could not be deleted; stopping before the stacks it depends on",
            );
            return Ok(report);
        }
    }
    // Certificates are free, but leave none behind once nothing uses them.
    for c in ports.certs.find_tagged(certs::TAG_STACK, stack)? {
        if let Err(e) = ports.certs.delete(&c.arn) {
            progress.say("", &format!("could not delete certificate {}: {e}", c.arn));
        }
    }
    Ok(report)
}

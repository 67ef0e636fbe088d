//! Semantic validation: turns the user-shaped [`raw::Manifest`] into a [`Model`], collecting every
//! problem with the field at fault, the bad value and what is allowed.

use crate::catalog::{self, Arch};
use crate::cidr::Cidr;
use crate::diagnostic::{Collector, FieldPath, Problem};
use crate::domain::{Domain, parse_domain};
use crate::model::*;
use crate::raw;
use std::collections::{BTreeMap, HashMap};

/// The PHP health page the runtime image serves; the default health-check path.
pub const DEFAULT_HEALTH_CHECK_PATH: &str = "/.idealstack/health";

/// Environment variable names idealstack sets itself.
const RESERVED_ENV: &[&str] = &["DB_HOST", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_PORT"];
const RESERVED_ENV_PREFIXES: &[&str] = &["AWS_", "ECS_", "IDEALSTACK_"];
/// Words in a variable name that mark a secret, which must not sit in plain environment.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "PRIVATE_KEY",
    "API_KEY",
];

/// Validates a parsed manifest into a model, or returns every problem found.
pub fn validate(manifest: &raw::Manifest, out: &mut Collector) -> Option<Model> {
    let root = FieldPath::root();
    let stack_path = root.key("stack");
    let stack = validate_stack(&manifest.stack, &stack_path, out);
    let sites_path = root.key("sites");
    let mut sites = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, site) in manifest.sites.iter().enumerate() {
        let path = sites_path.index(i);
        if let Some(first) = names.insert(site.name.as_str(), i) {
            out.push(
                &path.key("name"),
                Problem::Duplicate,
                format!(
                    "site name {:?} is already used by sites[{first}]; site names must be unique",
                    site.name
                ),
            );
        }
        if let Some(site) = validate_site(site, &manifest.stack, stack.as_ref(), &path, out) {
            sites.push(site);
        }
    }
    check_host_collisions(&sites, out);
    let stack = stack?;
    if !out.is_empty() {
        return None;
    }
    let mut sites: Vec<SiteModel> = sites.into_iter().map(|(s, _)| s).collect();
    sites.sort_by(|a, b| a.name.cmp(&b.name));
    Some(Model { stack, sites })
}

fn check_name(value: &str, max: usize, what: &str, path: &FieldPath, out: &mut Collector) {
    let ok = (1..=max).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.ends_with('-')
        && !value.contains("--");
    if !ok {
        out.invalid(
            path,
            format!(
                "{value:?} is not a valid {what} name: use 1-{max} lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it becomes part of AWS resource names)"
            ),
        );
    }
}

fn check_php(value: &str, path: &FieldPath, out: &mut Collector) {
    if !catalog::PHP_VERSIONS.iter().any(|(v, _)| *v == value) {
        out.invalid(
            path,
            format!(
                "PHP {value:?} is not supported; supported versions are {}",
                catalog::php_versions_text()
            ),
        );
    }
}

fn validate_stack(stack: &raw::Stack, path: &FieldPath, out: &mut Collector) -> Option<StackModel> {
    let before = out.len();
    check_name(&stack.name, 20, "stack", &path.key("name"), out);
    let zones = validate_zones(stack, path, out);
    let vpc_cidr = match Cidr::parse_vpc(&stack.vpc_cidr) {
        Ok(c) => Some(c),
        Err(e) => {
            out.invalid(&path.key("vpc_cidr"), format!("{:?} {e}", stack.vpc_cidr));
            None
        }
    };
    check_php(&stack.php, &path.key("php"), out);
    let instances = validate_instances(&stack.instances, &path.key("instances"), out);
    let database = validate_database(&stack.database, &path.key("database"), out);
    let email = validate_email(&stack.email, &path.key("email"), out);
    let preview_domain = stack.preview_domain.as_ref().and_then(|d| {
        let p = path.key("preview_domain");
        if d.trim_start().starts_with("*.") {
            out.invalid(&p, format!("{d:?}: write the domain without `*.` (e.g. preview.example.com); idealstack gives each site <site>.{}", d.trim_start().trim_start_matches("*.")));
            return None;
        }
        domain_or_report(d, &p, out)
    });
    check_registry(&stack.image_registry, &path.key("image_registry"), out);
    let alb_limits = validate_limits(&stack.alb_limits, &path.key("alb_limits"), out);
    check_tags(&stack.tags, &path.key("tags"), out);
    if out.len() != before {
        return None;
    }
    Some(StackModel {
        name: stack.name.clone(),
        region: stack.region.clone(),
        zones: zones?,
        vpc_cidr: vpc_cidr?,
        nat: stack.nat,
        php: stack.php.clone(),
        instances: instances?,
        database,
        email,
        preview_domain,
        image_registry: stack.image_registry.clone(),
        alb_limits,
        tags: stack.tags.clone(),
    })
}

fn validate_zones(
    stack: &raw::Stack,
    path: &FieldPath,
    out: &mut Collector,
) -> Option<Vec<String>> {
    let region_path = path.key("region");
    let zone_path = path.key("availability_zones");
    let Some(&(region, letters)) = catalog::REGIONS.iter().find(|(r, _)| *r == stack.region) else {
        let known: Vec<&str> = catalog::REGIONS.iter().map(|r| r.0).collect();
        let hint = match crate::structure::closest(&stack.region, &known) {
            Some(guess) => format!("did you mean {guess:?}?"),
            None => format!("supported regions: {}", known.join(", ")),
        };
        out.invalid(
            &region_path,
            format!("{:?} is not a supported AWS region; {hint}", stack.region),
        );
        return None;
    };
    match &stack.availability_zones {
        raw::Zones::Count(n) => {
            if !(2..=3).contains(n) {
                out.invalid(&zone_path, format!("{n} zones: use 2 or 3 (a highly available cluster needs at least 2; ALB and RDS span at most what the subnets give)"));
                return None;
            }
            let Some(letters) = letters else {
                out.invalid(&zone_path, format!("{region}'s zone names differ between AWS accounts: list yours, e.g. availability_zones = [\"{region}b\", \"{region}c\"] (see `aws ec2 describe-availability-zones --region {region}`)"));
                return None;
            };
            Some(
                letters
                    .chars()
                    .take(*n as usize)
                    .map(|c| format!("{region}{c}"))
                    .collect(),
            )
        }
        raw::Zones::Names(names) => {
            let before = out.len();
            if !(2..=3).contains(&names.len()) {
                out.invalid(
                    &zone_path,
                    format!("{} zones listed: list 2 or 3", names.len()),
                );
            }
            let mut seen = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let p = zone_path.index(i);
                let suffix = name.strip_prefix(region).unwrap_or("");
                if suffix.len() != 1 || !suffix.chars().all(|c| ('a'..='f').contains(&c)) {
                    out.invalid(&p, format!("{name:?} is not an availability zone of {region}; expected {region} followed by one letter, e.g. {region}a"));
                } else if seen.contains(&name) {
                    out.push(&p, Problem::Duplicate, format!("{name:?} is listed twice"));
                }
                seen.push(name);
            }
            (out.len() == before).then(|| names.clone())
        }
    }
}

fn validate_instances(
    inst: &raw::Instances,
    path: &FieldPath,
    out: &mut Collector,
) -> Option<InstancesModel> {
    let before = out.len();
    let types_path = path.key("types");
    if inst.types.is_empty() {
        out.invalid(
            &types_path,
            "the list is empty: name at least one instance type, e.g. [\"t3.medium\"]",
        );
    }
    let mut specs = Vec::new();
    for (i, name) in inst.types.iter().enumerate() {
        let p = types_path.index(i);
        match catalog::instance_spec(name) {
            Some(spec) => {
                if inst.types[..i].contains(name) {
                    out.push(&p, Problem::Duplicate, format!("{name:?} is listed twice"));
                }
                specs.push((name, spec));
            }
            None => out.invalid(&p, format!("{name:?} is not an instance type idealstack supports; use a size medium to 8xlarge of the families {}", catalog::instance_families_text())),
        }
    }
    if let Some((first, spec)) = specs.first() {
        for (i, (name, other)) in specs.iter().enumerate() {
            if other.arch != spec.arch {
                out.push(&types_path.index(i), Problem::Conflict, format!("{name:?} is {:?} but {first:?} is {:?}: one cluster runs one CPU architecture (one machine image); list only Graviton (…g) types or only Intel/AMD types", other.arch, spec.arch));
            }
        }
    }
    if inst.min < 1 {
        out.invalid(
            &path.key("min"),
            "0: the cluster needs at least 1 instance (2 or more for high availability)",
        );
    }
    check_bounds(
        out,
        path,
        ("min", inst.min),
        ("max", inst.max),
        500,
        "instances idealstack manages per stack",
    );
    if !(1..=720).contains(&inst.ami_rollover_hours) {
        out.invalid(
            &path.key("ami_rollover_hours"),
            format!(
                "{}: expected 1 to 720 hours (30 days) between checks for a new machine image",
                inst.ami_rollover_hours
            ),
        );
    }
    if out.len() != before {
        return None;
    }
    let smallest = specs
        .iter()
        .map(|(_, s)| *s)
        .min_by_key(|s| (s.memory_mib, s.vcpus))?;
    Some(InstancesModel {
        types: inst.types.clone(),
        arch: specs.first().map_or(Arch::X86_64, |(_, s)| s.arch),
        min: inst.min,
        max: inst.max,
        ami_rollover_hours: inst.ami_rollover_hours,
        smallest,
    })
}

/// A `min`/`max` pair: max not below min, and not above `ceiling`.
fn check_bounds(
    out: &mut Collector,
    path: &FieldPath,
    (min_name, min): (&str, u32),
    (max_name, max): (&str, u32),
    ceiling: u32,
    what: &str,
) {
    if max < min {
        out.push(
            &path.key(max_name),
            Problem::Conflict,
            format!("{max} is below {min_name} ({min})"),
        );
    } else if max > ceiling {
        out.invalid(
            &path.key(max_name),
            format!("{max}: at most {ceiling} {what}"),
        );
    }
}

fn validate_database(
    db: &raw::Database,
    path: &FieldPath,
    out: &mut Collector,
) -> Option<DatabaseModel> {
    let engine = match db.engine {
        raw::Engine::Mysql => "mysql",
        raw::Engine::Mariadb => "mariadb",
        raw::Engine::None => {
            if let Some(v) = &db.version {
                out.push(
                    &path.key("version"),
                    Problem::Conflict,
                    format!("{v:?} is set but engine is \"none\"; remove it or choose an engine"),
                );
            }
            return None;
        }
    };
    let versions = catalog::engine_versions(engine);
    let chosen = match &db.version {
        Some(v) => versions.iter().find(|(major, _)| major == v),
        None => versions.last(),
    };
    let Some(&(version, engine_version)) = chosen else {
        let majors: Vec<&str> = versions.iter().map(|(major, _)| *major).collect();
        out.invalid(
            &path.key("version"),
            format!(
                "{:?} is not a {engine} version RDS offers; use one of {}",
                db.version.as_deref().unwrap_or_default(),
                majors.join(", ")
            ),
        );
        return None;
    };
    if !catalog::is_db_class(&db.instance_class) {
        out.invalid(&path.key("instance_class"), format!("{:?} is not an RDS instance class idealstack supports; use e.g. db.t4g.medium, db.m7g.large or db.r7g.xlarge", db.instance_class));
    }
    if !(20..=65536).contains(&db.storage_gb) {
        out.invalid(
            &path.key("storage_gb"),
            format!("{} GB: RDS storage must be 20 to 65536 GB", db.storage_gb),
        );
    }
    Some(DatabaseModel {
        engine: db.engine,
        version: version.to_owned(),
        engine_version: engine_version.to_owned(),
        instance_class: db.instance_class.clone(),
        storage_gb: db.storage_gb,
        multi_az: db.multi_az,
    })
}

fn validate_email(email: &raw::Email, path: &FieldPath, out: &mut Collector) -> Option<EmailModel> {
    let p = path.key("domain");
    match (email.service, &email.domain) {
        (raw::EmailService::Off, None) => None,
        (raw::EmailService::Off, Some(d)) => {
            out.push(&p, Problem::Conflict, format!("{d:?} is set but service is \"off\"; set service = \"ses\" to send mail, or remove the domain"));
            None
        }
        (raw::EmailService::Ses, None) => {
            out.push(
                &p,
                Problem::MissingField,
                "service = \"ses\" needs the sending domain, e.g. domain = \"example.com\"",
            );
            None
        }
        (raw::EmailService::Ses, Some(d)) => {
            let domain = domain_or_report(d, &p, out)?;
            if domain.is_wildcard() {
                out.invalid(&p, format!("{d:?}: a sending domain cannot be a wildcard"));
                return None;
            }
            Some(EmailModel { domain })
        }
    }
}

fn validate_limits(l: &raw::AlbLimits, path: &FieldPath, out: &mut Collector) -> AlbLimitsModel {
    let d = AlbLimitsModel::default();
    let mut pick = |value: Option<u32>, default: u32, name: &str, max: u32, why: &str| -> u32 {
        match value {
            Some(v) if (1..=max).contains(&v) => v,
            Some(v) => {
                out.invalid(
                    &path.key(name),
                    format!("{v}: must be from 1 to {max} ({why})"),
                );
                default
            }
            None => default,
        }
    };
    AlbLimitsModel {
        target_groups_per_alb: pick(
            l.target_groups_per_alb,
            d.target_groups_per_alb,
            "target_groups_per_alb",
            100,
            "a hard AWS limit",
        ),
        rules_per_listener: pick(
            l.rules_per_listener,
            d.rules_per_listener,
            "rules_per_listener",
            1000,
            "the most AWS grants",
        ),
        certificates_per_listener: pick(
            l.certificates_per_listener,
            d.certificates_per_listener,
            "certificates_per_listener",
            1000,
            "the most AWS grants",
        ),
        values_per_condition: pick(
            l.values_per_condition,
            d.values_per_condition,
            "values_per_condition",
            5,
            "a hard AWS limit",
        ),
        names_per_certificate: pick(
            l.names_per_certificate,
            d.names_per_certificate,
            "names_per_certificate",
            100,
            "ACM's maximum",
        ),
    }
}

fn check_registry(value: &str, path: &FieldPath, out: &mut Collector) {
    let (host, rest) = value.split_once('/').unwrap_or((value, ""));
    let host_ok = !host.is_empty()
        && host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b));
    let rest_ok = rest.split('/').all(|part| {
        rest.is_empty()
            || (!part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)))
    });
    if value.contains("://") || !host_ok || !rest_ok {
        out.invalid(path, format!("{value:?} is not a container registry path; expected a host and optional path without scheme or tag, e.g. {:?} or \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/idealstack\"", raw::DEFAULT_REGISTRY));
    }
}

fn check_tags(tags: &BTreeMap<String, String>, path: &FieldPath, out: &mut Collector) {
    if tags.len() > 40 {
        out.invalid(
            path,
            format!(
                "{} tags: at most 40 (AWS allows 50 per resource and idealstack adds its own)",
                tags.len()
            ),
        );
    }
    for (key, value) in tags {
        let p = path.key(key);
        let lower = key.to_ascii_lowercase();
        if key.is_empty() || key.chars().count() > 128 {
            out.invalid(&p, format!("tag key {key:?} must be 1 to 128 characters"));
        } else if lower.starts_with("aws:") || lower.starts_with("idealstack:") {
            out.invalid(
                &p,
                format!("tag key {key:?} uses a reserved prefix (aws:, idealstack:)"),
            );
        }
        if value.chars().count() > 256 {
            out.invalid(&p, "tag value is longer than 256 characters".to_string());
        }
    }
}

fn domain_or_report(input: &str, path: &FieldPath, out: &mut Collector) -> Option<Domain> {
    match parse_domain(input) {
        Ok(d) => Some(d),
        Err(e) => {
            out.invalid(path, format!("{input:?} is not a valid domain name: {e}"));
            None
        }
    }
}

fn validate_site(
    site: &raw::Site,
    raw_stack: &raw::Stack,
    stack: Option<&StackModel>,
    path: &FieldPath,
    out: &mut Collector,
) -> Option<(SiteModel, Vec<(Domain, FieldPath)>)> {
    let before = out.len();
    check_name(&site.name, 28, "site", &path.key("name"), out);
    let domains_path = path.key("domains");
    if site.domains.is_empty() {
        out.push(
            &domains_path,
            Problem::MissingField,
            "the list is empty: give the site at least one domain, e.g. [\"shop.example.com\"]",
        );
    }
    let mut domains: Vec<Domain> = Vec::new();
    let mut origins: Vec<(Domain, FieldPath)> = Vec::new();
    for (i, d) in site.domains.iter().enumerate() {
        let p = domains_path.index(i);
        if let Some(domain) = domain_or_report(d, &p, out) {
            if let Some((_, first)) = origins.iter().find(|(x, _)| *x == domain) {
                out.push(
                    &p,
                    Problem::Duplicate,
                    format!("{d:?} is the same domain as {first} ({domain})"),
                );
            } else {
                origins.push((domain.clone(), p));
                domains.push(domain);
            }
        }
    }
    let php = site.php.clone().unwrap_or_else(|| raw_stack.php.clone());
    if site.php.is_some() {
        check_php(&php, &path.key("php"), out);
    }
    let cpu_units = validate_size(site, stack, path, out);
    let php_settings = crate::php::validate(
        &site.php_settings,
        cpu_units.map(|_| site.memory_mb),
        &path.key("php_settings"),
        out,
    );
    check_bounds(
        out,
        path,
        ("min_tasks", site.min_tasks),
        ("max_tasks", site.max_tasks),
        100,
        "tasks per site",
    );
    if site.max_tasks == 0 {
        out.invalid(
            &path.key("max_tasks"),
            "0: a site needs at least one task to serve",
        );
    }
    check_environment(site, path, out);
    let secrets = check_secrets(site, path, out);
    let health_check_path = site
        .health_check_path
        .clone()
        .unwrap_or_else(|| DEFAULT_HEALTH_CHECK_PATH.to_owned());
    let hc_ok = health_check_path.starts_with('/')
        && health_check_path.len() <= 1024
        && health_check_path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'<>\\^`{|}".contains(&b));
    if !hc_ok {
        out.invalid(&path.key("health_check_path"), format!("{health_check_path:?} is not a usable health-check path; expected a path starting with / of printable characters, e.g. \"/health.php\""));
    }
    if site.database && raw_stack.database.engine == raw::Engine::None {
        out.push(&path.key("database"), Problem::Conflict, "the site asks for a database but stack.database.engine is \"none\"; choose \"mysql\" or \"mariadb\" there");
    }
    if out.len() != before {
        return None;
    }
    let primary = domains.first()?.clone();
    let mut redirect_hosts = Vec::new();
    if site.www_redirect {
        match primary.www_counterpart() {
            Some(counterpart) => {
                domains.retain(|d| *d != counterpart);
                if !origins.iter().any(|(d, _)| *d == counterpart) {
                    origins.push((counterpart.clone(), path.key("www_redirect")));
                }
                redirect_hosts.push(counterpart);
            }
            None => out.push(
                &path.key("www_redirect"),
                Problem::Conflict,
                format!("the primary domain {primary} has no www/apex counterpart to redirect"),
            ),
        }
    }
    let preview_host = stack
        .and_then(|s| s.preview_domain.as_ref())
        .map(|p| p.child(&site.name));
    if let Some(host) = &preview_host {
        if host.as_str().len() > 128 {
            out.invalid(&path.key("name"), format!("the preview host {host} is longer than the 128 characters load balancer rules allow; shorten the site name or the preview domain"));
        }
        domains.push(host.clone());
        origins.push((host.clone(), path.key("name")));
    }
    let model = SiteModel {
        name: site.name.clone(),
        primary,
        serve_hosts: domains,
        redirect_hosts,
        preview_host,
        php,
        cpu_units: cpu_units?,
        memory_mib: site.memory_mb,
        min_tasks: site.min_tasks,
        max_tasks: site.max_tasks,
        environment: site.environment.clone(),
        secrets,
        health_check_path,
        database: site.database,
        php_settings: php_settings?,
    };
    Some((model, origins))
}

fn validate_size(
    site: &raw::Site,
    stack: Option<&StackModel>,
    path: &FieldPath,
    out: &mut Collector,
) -> Option<u32> {
    let Some(&(_, units, memories)) = catalog::TASK_SIZES
        .iter()
        .find(|(v, _, _)| (*v - site.cpu).abs() < 1e-9)
    else {
        out.invalid(
            &path.key("cpu"),
            format!(
                "{} vCPU is not a container size ECS offers; use 0.25, 0.5, 1, 2 or 4",
                site.cpu
            ),
        );
        return None;
    };
    if !memories.contains(&site.memory_mb) {
        let range = format!("{} to {}", memories[0], memories[memories.len() - 1]);
        out.push(
            &path.key("memory_mb"),
            Problem::Conflict,
            format!(
                "{} MB does not go with cpu = {}: ECS accepts {range} MB{} for that size",
                site.memory_mb,
                site.cpu,
                if memories.len() > 3 {
                    " in steps of 1024"
                } else {
                    " (512, 1024 or 2048)"
                }
            ),
        );
        return None;
    }
    if let Some(stack) = stack {
        let small = stack.instances.smallest;
        if site.memory_mb > small.task_memory_mib() || units > small.vcpus * 1024 {
            out.push(&path.key("memory_mb"), Problem::Conflict, format!("a container of {} vCPU / {} MB does not fit on the smallest instance type of the stack ({} vCPU, {} MB usable by containers); choose larger stack.instances.types or a smaller site", site.cpu, site.memory_mb, small.vcpus, small.task_memory_mib()));
        }
    }
    Some(units)
}

fn check_environment(site: &raw::Site, path: &FieldPath, out: &mut Collector) {
    let env_path = path.key("environment");
    let all = site
        .environment
        .keys()
        .map(|k| (k, &env_path))
        .chain(site.secrets.keys().map(|k| (k, &env_path)));
    for (key, _) in all {
        let ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && key.len() <= 255;
        let field = if site.environment.contains_key(key) {
            env_path.key(key)
        } else {
            path.key("secrets").key(key)
        };
        if !ok {
            out.invalid(&field, format!("{key:?} is not a valid environment variable name: letters, digits and underscores, not starting with a digit"));
        } else if RESERVED_ENV.contains(&key.as_str())
            || RESERVED_ENV_PREFIXES.iter().any(|p| key.starts_with(p))
        {
            out.invalid(&field, format!("{key:?} is set by idealstack itself (reserved: {}, and names starting with {})", RESERVED_ENV.join(", "), RESERVED_ENV_PREFIXES.join(", ")));
        }
    }
    for (key, value) in &site.environment {
        if site.secrets.contains_key(key) {
            out.push(
                &env_path.key(key),
                Problem::Conflict,
                format!("{key:?} is in both environment and secrets; keep it in one"),
            );
        }
        let upper = key.to_ascii_uppercase();
        if !value.is_empty() && SECRET_WORDS.iter().any(|w| upper.contains(w)) {
            out.invalid(&env_path.key(key), format!("{key:?} looks like a secret: plain environment variables end up in templates and consoles; store the value in Secrets Manager or SSM and list its ARN under secrets instead"));
        }
    }
}

fn check_secrets(
    site: &raw::Site,
    path: &FieldPath,
    out: &mut Collector,
) -> BTreeMap<String, SecretRef> {
    let mut refs = BTreeMap::new();
    for (key, arn) in &site.secrets {
        match parse_secret_arn(arn) {
            Some(store) => {
                refs.insert(key.clone(), SecretRef { arn: arn.clone(), store });
            }
            None => out.invalid(
                &path.key("secrets").key(key),
                format!("{} is not a Secrets Manager or SSM parameter ARN; secrets hold references, never values: expected arn:aws:secretsmanager:<region>:<account>:secret:<name> or arn:aws:ssm:<region>:<account>:parameter/<name>", if arn.starts_with("arn:") { format!("{arn:?}") } else { "the value".to_owned() }),
            ),
        }
    }
    refs
}

/// Recognises a Secrets Manager secret ARN or an SSM parameter ARN.
fn parse_secret_arn(arn: &str) -> Option<SecretStore> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let partition_ok = matches!(*partition, "aws" | "aws-cn" | "aws-us-gov");
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if *prefix != "arn" || !partition_ok || !region_ok || !account_ok {
        return None;
    }
    match *service {
        "secretsmanager"
            if resource
                .strip_prefix("secret:")
                .is_some_and(|n| !n.is_empty()) =>
        {
            Some(SecretStore::SecretsManager)
        }
        "ssm"
            if resource
                .strip_prefix("parameter/")
                .is_some_and(|n| !n.is_empty()) =>
        {
            Some(SecretStore::Ssm)
        }
        _ => None,
    }
}

/// Every host (served, redirected, preview) must belong to one site only.
fn check_host_collisions(sites: &[(SiteModel, Vec<(Domain, FieldPath)>)], out: &mut Collector) {
    let mut owner: HashMap<&Domain, (&str, &FieldPath)> = HashMap::new();
    for (site, origins) in sites {
        for (host, field) in origins {
            match owner.get(host) {
                Some((name, first)) if *name != site.name => out.push(
                    field,
                    Problem::Duplicate,
                    format!("{host} already belongs to site {name:?} ({first}); a domain can belong to one site only"),
                ),
                Some(_) => {}
                None => {
                    owner.insert(host, (&site.name, field));
                }
            }
        }
    }
}

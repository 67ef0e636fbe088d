//! A site's PHP runtime: the php.ini settings a site may set (`[sites.php_settings]`), checked
//! against what the runtime and the load balancer allow, and the memory model that sizes
//! php-fpm's workers from the container's memory and `memory_limit`.
//!
//! The settings reach the container as one `IDEALSTACK_INI_<NAME>` variable each
//! ([`PhpSettingsModel::environment`]); the image's entrypoint turns them into a php.ini file
//! loaded after the image's defaults, and refuses a name it does not know.

use crate::diagnostic::{Collector, FieldPath, Problem};
use crate::raw;
use crate::structure::closest;
use serde::Serialize;
use std::collections::BTreeMap;

/// Memory (MiB) a PHP container holds besides its PHP workers: Apache's event MPM (a few
/// processes of threads), php-fpm's master, and the part of OPcache's shared memory a site
/// typically fills (shared by all workers, charged once to the task).
pub const BASE_MEMORY_MIB: u32 = 192;
/// The memory (MiB) budgeted per php-fpm worker at the default `memory_limit`: a WordPress-class
/// request's resident set is 40-60 MiB. `memory_limit` is the ceiling of one request, not the
/// average; sizing by it would leave a 512 MiB task one worker.
pub const WORKER_MEMORY_MIB: u32 = 64;
/// Fewest workers: one slow request must not leave the health check without a worker, and
/// php-fpm refuses a `pm.max_children` below its pool's `pm.max_spare_servers` (3,
/// images/php/config/php/php-fpm.conf).
pub const MIN_WORKERS: u32 = 3;
/// Most workers: Apache's `MaxRequestWorkers` (100, images/php/config/apache/httpd.conf) bounds
/// the requests a container serves at once, so more workers than that would never be used.
pub const MAX_WORKERS: u32 = 100;

/// The runtime image's defaults (images/php/config/php/idealstack.ini; a test keeps them equal).
pub mod defaults {
    /// `memory_limit`.
    pub const MEMORY_LIMIT: &str = "256M";
    /// `upload_max_filesize`.
    pub const UPLOAD_MAX_FILESIZE: &str = "64M";
    /// `post_max_size`.
    pub const POST_MAX_SIZE: &str = "64M";
    /// `max_execution_time`.
    pub const MAX_EXECUTION_TIME: u32 = 60;
    /// `max_input_time`.
    pub const MAX_INPUT_TIME: u32 = 60;
    /// `max_input_vars`.
    pub const MAX_INPUT_VARS: u32 = 3000;
    /// `date.timezone`.
    pub const TIMEZONE: &str = "UTC";
    /// `opcache.memory_consumption` (MiB).
    pub const OPCACHE_MEMORY_MB: u32 = 192;
    /// `opcache.revalidate_freq`.
    pub const OPCACHE_REVALIDATE_FREQ: u32 = 2;
}

/// The largest request body Apache takes (its `LimitRequestBody` default, 1 GiB).
const MAX_BODY_BYTES: u64 = 1 << 30;
/// The smallest `memory_limit` accepted: below it no common PHP application starts.
const MIN_MEMORY_LIMIT_MIB: u64 = 32;
/// The load balancer's idle timeout: a page that sends nothing for longer is cut off.
const LOAD_BALANCER_IDLE_SECONDS: u32 = 60;

/// The time zones PHP knows (`timezone_identifiers_list(DateTimeZone::ALL_WITH_BC)`).
const TIMEZONES: &str = include_str!("timezones.txt");

/// A site's validated PHP settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhpSettingsModel {
    /// The settings the manifest sets, by php.ini name, as php.ini takes them; the rest keep the
    /// runtime's defaults.
    pub ini: BTreeMap<String, String>,
    /// `memory_limit` in MiB (the default when not set).
    pub memory_limit_mib: u32,
    /// `opcache.memory_consumption` in MiB (the default when not set).
    pub opcache_memory_mib: u32,
}

impl Default for PhpSettingsModel {
    fn default() -> Self {
        PhpSettingsModel {
            ini: BTreeMap::new(),
            memory_limit_mib: 256,
            opcache_memory_mib: defaults::OPCACHE_MEMORY_MB,
        }
    }
}

impl PhpSettingsModel {
    /// Memory (MiB) the container holds besides its workers: [`BASE_MEMORY_MIB`], plus OPcache's
    /// memory above its default (charged in full).
    pub fn base_memory_mib(&self) -> u32 {
        BASE_MEMORY_MIB
            + self
                .opcache_memory_mib
                .saturating_sub(defaults::OPCACHE_MEMORY_MB)
    }

    /// php-fpm's `pm.max_children` for a container of `task_memory_mib` (the task's hard limit):
    /// what is left after [`Self::base_memory_mib`], divided by the memory budgeted per worker
    /// ([`WORKER_MEMORY_MIB`], or a quarter of `memory_limit` when that is more: a site that
    /// raises its limit has heavier requests), within [`MIN_WORKERS`]..=[`MAX_WORKERS`]. So a
    /// task at its worker ceiling stays under its memory limit on average load instead of being
    /// killed by the kernel (which takes the whole task down, not one request).
    pub fn fpm_max_children(&self, task_memory_mib: u32) -> u32 {
        let per_worker = WORKER_MEMORY_MIB.max(self.memory_limit_mib / 4);
        (task_memory_mib.saturating_sub(self.base_memory_mib()) / per_worker)
            .clamp(MIN_WORKERS, MAX_WORKERS)
    }

    /// The container variables that carry the settings: `IDEALSTACK_INI_<NAME>` (the ini name in
    /// capitals, `.` as `_`), one per setting the manifest sets.
    pub fn environment(&self) -> BTreeMap<String, String> {
        self.ini
            .iter()
            .map(|(name, value)| (ini_variable(name), value.clone()))
            .collect()
    }
}

/// The container variable that carries php.ini setting `name`.
pub fn ini_variable(name: &str) -> String {
    format!(
        "IDEALSTACK_INI_{}",
        name.to_ascii_uppercase().replace('.', "_")
    )
}

/// Checks `settings` for a container of `task_memory_mib` (`None` when the size itself is wrong:
/// the memory check is then left out), reporting each problem under `path`.
pub(crate) fn validate(
    settings: &raw::PhpSettings,
    task_memory_mib: Option<u32>,
    path: &FieldPath,
    out: &mut Collector,
) -> Option<PhpSettingsModel> {
    let before = out.len();
    let mut model = PhpSettingsModel::default();
    let mut ini: BTreeMap<String, String> = BTreeMap::new();

    if let Some(text) = &settings.memory_limit {
        let p = path.key("memory_limit");
        if text.trim() == "-1" {
            out.invalid(&p, "\"-1\" (no limit) is not allowed: one request could take the whole container's memory; give a size, e.g. \"512M\"");
        } else if let Some(bytes) = size(text, &p, out) {
            let mib = bytes.div_ceil(1 << 20);
            if mib < MIN_MEMORY_LIMIT_MIB {
                out.invalid(
                    &p,
                    format!("{text:?}: at least \"{MIN_MEMORY_LIMIT_MIB}M\""),
                );
            } else {
                model.memory_limit_mib = u32::try_from(mib).unwrap_or(u32::MAX);
                ini.insert("memory_limit".into(), normal(text));
            }
        }
    }
    let upload = body_size(
        settings.upload_max_filesize.as_deref(),
        "upload_max_filesize",
        path,
        out,
    );
    let post = body_size(
        settings.post_max_size.as_deref(),
        "post_max_size",
        path,
        out,
    );
    if let (Some(upload), Some(post)) = (upload, post) {
        let (up_text, post_text) = (
            settings
                .upload_max_filesize
                .as_deref()
                .unwrap_or(defaults::UPLOAD_MAX_FILESIZE),
            settings
                .post_max_size
                .as_deref()
                .unwrap_or(defaults::POST_MAX_SIZE),
        );
        if upload > post {
            if settings.post_max_size.is_some() {
                out.push(&path.key("post_max_size"), Problem::Conflict, format!("{post_text:?} is below upload_max_filesize ({up_text:?}): a request must carry the largest upload; raise post_max_size to at least {up_text:?}"));
            } else {
                out.push(&path.key("upload_max_filesize"), Problem::Conflict, format!("{up_text:?} is above post_max_size (\"{}\", the default): a request must carry the largest upload; set post_max_size to at least {up_text:?} too", defaults::POST_MAX_SIZE));
            }
        }
    }
    for (name, text) in [
        ("upload_max_filesize", &settings.upload_max_filesize),
        ("post_max_size", &settings.post_max_size),
    ] {
        if let Some(text) = text {
            ini.insert(name.into(), normal(text));
        }
    }
    // A number setting within its range, else the problem reported.
    let number = |value: Option<u32>,
                  field: &str,
                  range: std::ops::RangeInclusive<u32>,
                  unit: &str,
                  out: &mut Collector| {
        let v = value?;
        if range.contains(&v) {
            return Some(v);
        }
        out.invalid(
            &path.key(field),
            format!("{v}: expected {}-{}{unit}", range.start(), range.end()),
        );
        None
    };
    let settings_numbers = [
        (
            "max_execution_time",
            settings.max_execution_time,
            1..=LOAD_BALANCER_IDLE_SECONDS,
            " seconds; the load balancer ends a request that sends nothing for 60 s, so run longer work as a cron job or a worker",
        ),
        (
            "max_input_time",
            settings.max_input_time,
            1..=3600,
            " seconds",
        ),
        ("max_input_vars", settings.max_input_vars, 100..=100_000, ""),
        (
            "opcache_memory_mb",
            settings.opcache_memory_mb,
            64..=1024,
            " MB",
        ),
        (
            "opcache_revalidate_freq",
            settings.opcache_revalidate_freq,
            0..=3600,
            " seconds",
        ),
    ];
    for (field, value, range, unit) in settings_numbers {
        if let Some(v) = number(value, field, range, unit, out) {
            let name = match field {
                "opcache_memory_mb" => {
                    model.opcache_memory_mib = v;
                    "opcache.memory_consumption"
                }
                "opcache_revalidate_freq" => "opcache.revalidate_freq",
                other => other,
            };
            ini.insert(name.into(), v.to_string());
        }
    }
    for (name, value) in [
        ("display_errors", settings.display_errors),
        (
            "opcache.validate_timestamps",
            settings.opcache_validate_timestamps,
        ),
    ] {
        if let Some(on) = value {
            ini.insert(name.into(), flag(on));
        }
    }
    if let Some(tz) = &settings.timezone {
        match timezone(tz) {
            Ok(tz) => {
                ini.insert("date.timezone".into(), tz.to_owned());
            }
            Err(hint) => out.invalid(&path.key("timezone"), format!("{tz:?} is not a time zone PHP knows; use an IANA name such as \"Europe/Amsterdam\"{hint}")),
        }
    }
    if out.len() != before {
        return None;
    }
    model.ini = ini;
    if let Some(task) = task_memory_mib {
        let base = model.base_memory_mib();
        if model.memory_limit_mib.saturating_add(base) > task {
            let field = if settings.memory_limit.is_some() {
                "memory_limit"
            } else {
                "opcache_memory_mb"
            };
            let limit = settings
                .memory_limit
                .as_deref()
                .unwrap_or(defaults::MEMORY_LIMIT);
            out.push(&path.key(field), Problem::Conflict, format!(
                "memory_limit {limit:?} does not fit in a container of memory_mb = {task}: one request may use memory_limit on top of the {base} MB Apache, php-fpm and OPcache hold, so at most \"{}M\" fits; raise memory_mb or lower {field}",
                task.saturating_sub(base)
            ));
            return None;
        }
    }
    Some(model)
}

/// An upload or body size: `None` when not set (the default applies) or wrong (reported).
fn body_size(text: Option<&str>, name: &str, path: &FieldPath, out: &mut Collector) -> Option<u64> {
    let default = if name == "post_max_size" {
        defaults::POST_MAX_SIZE
    } else {
        defaults::UPLOAD_MAX_FILESIZE
    };
    let Some(text) = text else {
        return parse_size(default);
    };
    let p = path.key(name);
    let bytes = size(text, &p, out)?;
    if bytes == 0 || bytes > MAX_BODY_BYTES {
        out.invalid(&p, format!("{text:?}: expected more than 0 and at most \"1G\" (the largest request body Apache takes)"));
        return None;
    }
    Some(bytes)
}

/// A PHP size (`512M`, `1G`, `65536`) in bytes, or the problem reported.
fn size(text: &str, path: &FieldPath, out: &mut Collector) -> Option<u64> {
    let parsed = parse_size(text);
    if parsed.is_none() {
        out.invalid(
            path,
            format!("{text:?} is not a PHP size: write a number with K, M or G, e.g. \"128M\""),
        );
    }
    parsed
}

fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// A size as php.ini takes it: the unit in capitals.
fn normal(text: &str) -> String {
    text.to_ascii_uppercase()
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

/// The time zone as PHP spells it, or a hint for the error message.
fn timezone(typed: &str) -> Result<&'static str, String> {
    let known: Vec<&'static str> = TIMEZONES.lines().filter(|l| !l.is_empty()).collect();
    if let Some(tz) = known.iter().find(|k| **k == typed) {
        return Ok(tz);
    }
    let lower: Vec<String> = known.iter().map(|k| k.to_ascii_lowercase()).collect();
    let lower_refs: Vec<&str> = lower.iter().map(String::as_str).collect();
    let near = lower_refs
        .iter()
        .position(|k| k.eq_ignore_ascii_case(typed))
        .or_else(|| {
            closest(typed, &lower_refs).and_then(|c| lower_refs.iter().position(|k| *k == c))
        });
    Err(near.map_or_else(String::new, |i| format!(" (did you mean {:?}?)", known[i])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_php_reads_them() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("65536"), Some(65536));
        for bad in ["", "M", "64MB", "-1", "1.5G", " 64M", "99999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn workers_follow_task_memory_and_memory_limit() {
        let at = |limit: u32, opcache: u32, task: u32| {
            PhpSettingsModel {
                ini: BTreeMap::new(),
                memory_limit_mib: limit,
                opcache_memory_mib: opcache,
            }
            .fpm_max_children(task)
        };
        // The default limit: 64 MiB a worker after 192 MiB.
        assert_eq!(at(256, 192, 512), 5);
        assert_eq!(at(256, 192, 1024), 13);
        assert_eq!(at(256, 192, 2048), 29);
        assert_eq!(at(256, 192, 4096), 61);
        assert_eq!(at(256, 192, 30720), MAX_WORKERS);
        assert_eq!(at(256, 192, 192), MIN_WORKERS);
        // A raised limit budgets a quarter of it per worker; more OPcache leaves less.
        assert_eq!(at(1024, 192, 4096), 15);
        assert_eq!(at(256, 448, 1024), 9);
        let mut last = 0;
        for task in (0..=30720).step_by(256) {
            let n = at(256, 192, task);
            assert!((MIN_WORKERS..=MAX_WORKERS).contains(&n), "{task}: {n}");
            assert!(n >= last, "more memory never means fewer workers ({task})");
            last = n;
            // At the ceiling, average workers fit the task's memory (sizes a site can have).
            if task >= 512 && n < MAX_WORKERS {
                assert!(
                    BASE_MEMORY_MIB + n * WORKER_MEMORY_MIB <= task,
                    "{task}: {n}"
                );
            }
        }
    }

    #[test]
    fn ini_names_become_variables() {
        assert_eq!(
            ini_variable("date.timezone"),
            "IDEALSTACK_INI_DATE_TIMEZONE"
        );
        assert_eq!(ini_variable("memory_limit"), "IDEALSTACK_INI_MEMORY_LIMIT");
    }
}

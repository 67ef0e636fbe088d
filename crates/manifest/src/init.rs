//! The commented `idealstack.toml` that `idealstack init` writes: a working stack with two example
//! sites, every field shown with what it does (optional fields commented out at their default).

/// What `init` asks for (everything else is an example to edit).
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Stack name.
    pub stack_name: String,
    /// AWS region.
    pub region: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            stack_name: "acme".into(),
            region: "eu-west-1".into(),
        }
    }
}

/// The manifest text for `options`.
pub fn init_manifest(options: &InitOptions) -> String {
    TEMPLATE
        .replace("{stack}", &options.stack_name)
        .replace("{region}", &options.region)
        .replace("{default_php}", crate::raw::DEFAULT_PHP)
        .replace("{php_versions}", &crate::catalog::php_versions_text())
        .replace("{registry}", crate::raw::DEFAULT_REGISTRY)
        .replace("{health}", crate::DEFAULT_HEALTH_CHECK_PATH)
}

const TEMPLATE: &str = r#"# idealstack.toml: your PHP hosting cluster on AWS.
# `idealstack validate` checks this file, `idealstack plan` shows what it creates and what it costs,
# `idealstack schema` prints a JSON Schema for editor completion.

[stack]
# Name of the cluster: 1-20 lowercase letters, digits and hyphens. Every AWS resource is named after it.
name = "{stack}"
# AWS region to run in.
region = "{region}"
# Availability zones: 2 or 3, or their names, e.g. ["{region}a", "{region}b", "{region}c"].
availability_zones = 2
# Private address range of the cluster's network (VPC), /16 to /23.
vpc_cidr = "10.0.0.0/16"
# NAT gateways: "per-az" keeps outbound internet access through a zone outage; "single" is cheaper.
nat = "per-az"
# PHP version for sites that do not choose one: {php_versions}.
php = "{default_php}"
# Where the PHP and idealstack container images come from.
# image_registry = "{registry}"
# A wildcard domain you own: each site also answers on <site>.<preview_domain> before its DNS moves.
# preview_domain = "preview.example.com"

[stack.instances]
# EC2 instance types, all Intel/AMD or all Graviton (names ending in g). Several types help the
# autoscaler find capacity.
types = ["t3.medium", "t3a.medium"]
# Fewest and most instances; the autoscaler moves between them with the load.
min = 2
max = 6
# Hours between checks for a new ECS-optimised machine image; when AWS publishes one, the agent
# replaces the instances one at a time without losing capacity.
ami_rollover_hours = 24

[stack.database]
# "mysql", "mariadb", or "none" when no site needs a database.
engine = "mysql"
# Major version; the newest RDS offers when left out (MySQL 8.4, MariaDB 10.11/11.4).
# version = "8.4"
instance_class = "db.t4g.medium"
# Storage in GB (20-65536); it grows automatically.
storage_gb = 20
# A standby copy in a second zone with automatic failover.
multi_az = true

[stack.email]
# PHP's mail(): "off", or "ses" to send through Amazon SES from a domain verified there.
service = "off"
# domain = "example.com"

# Only if AWS raised these quotas for your account (defaults shown).
# [stack.alb_limits]
# target_groups_per_alb = 100
# rules_per_listener = 100
# certificates_per_listener = 25
# values_per_condition = 5
# names_per_certificate = 10

# Tags on every stack and resource, for cost allocation.
[stack.tags]
owner = "web-team"

# One [[sites]] table per PHP site.
[[sites]]
# Short name: its folder is /sites/<name>, its database and stacks are named after it.
name = "shop"
# Domains the site answers on; the first is the primary. Wildcards and international names work.
domains = ["shop.example.com"]
# Redirect www.shop.example.com to shop.example.com (or apex <-> www) with a 301.
www_redirect = true
# PHP version of this site (the stack's when left out).
php = "{default_php}"
# Size of each container: cpu in vCPU (0.25, 0.5, 1, 2, 4) and memory in MB that goes with it.
cpu = 0.5
memory_mb = 1024
# Fewest and most containers; 2 or more keeps the site up through an instance or zone failure.
min_tasks = 2
max_tasks = 6
# Its own database and user (PHP gets DB_HOST, DB_NAME, DB_USER, DB_PASSWORD).
database = true
# Path the load balancer checks (PHP's health page by default).
# health_check_path = "{health}"
# Environment variables for PHP. Never put secrets here.
environment = { APP_ENV = "production" }
# Secrets: environment variable name = ARN of a Secrets Manager secret or SSM parameter.
# secrets = { STRIPE_KEY = "arn:aws:secretsmanager:{region}:123456789012:secret:shop/stripe-AbCdEf" }
# PHP settings (php.ini) of this site; each one left out keeps the default shown.
[sites.php_settings]
# Largest upload and request body (media, imports, backups plugins), at most "1G".
upload_max_filesize = "64M"
post_max_size = "64M"
# Memory one request may use; with ~192 MB for Apache, php-fpm and OPcache it must fit in memory_mb.
# The number of PHP workers per container follows from both.
# memory_limit = "256M"
# Seconds a page may run (1-60: the load balancer ends a request silent for 60 s; longer work
# belongs in a cron job or a worker), seconds to receive a request, input variables per request.
# max_execution_time = 60
# max_input_time = 60
# max_input_vars = 3000
# Show PHP errors in pages (development only); they are always in the site's log.
# display_errors = false
# PHP's date.timezone.
# timezone = "UTC"
# OPcache: memory in MB, whether it notices files changed over SFTP, and how often it looks (seconds).
# opcache_memory_mb = 192
# opcache_validate_timestamps = true
# opcache_revalidate_freq = 2

[[sites]]
name = "blog"
domains = ["blog.example.com", "news.example.com"]
database = true
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_manifest_is_valid() {
        let text = init_manifest(&InitOptions::default());
        let model = crate::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(model.sites.len(), 2);
        assert_eq!(model.stack.name, "acme");
    }

    #[test]
    fn init_manifest_mentions_every_field() {
        // Every field of the schema appears in init's output, so the file documents itself.
        let text = init_manifest(&InitOptions::default());
        let schema = crate::schema();
        let mut missing = Vec::new();
        let defs = schema["$defs"].as_object().unwrap();
        for props in defs
            .values()
            .chain([&schema])
            .filter_map(|d| d.get("properties"))
        {
            for field in props.as_object().unwrap().keys() {
                let shown = text.contains(&format!("{field} ="))
                    || text.contains(&format!("[stack.{field}]"))
                    || text.contains(&format!("[[{field}]]"))
                    || text.contains(&format!("[{field}]"))
                    || text.contains(&format!(".{field}]"));
                if !shown {
                    missing.push(field.clone());
                }
            }
        }
        assert!(missing.is_empty(), "fields not shown by init: {missing:?}");
    }
}

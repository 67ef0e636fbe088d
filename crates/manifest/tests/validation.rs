//! Validation of bad manifests: every class of problem, with its exact message, all reported at
//! once. Data-driven: each case is a manifest and the lines `idealstack validate` must print.

use idealstack_manifest::{ManifestError, parse};

const STACK: &str = r#"
[stack]
name = "acme"
region = "eu-west-1"
"#;

/// Parses `STACK` + `extra` and compares the problems, one `path: message` per line, in order.
#[track_caller]
fn check(extra: &str, expected: &[&str]) {
    check_text(&format!("{STACK}{extra}"), expected);
}

/// Like [`check`] for a whole manifest.
#[track_caller]
fn check_text(text: &str, expected: &[&str]) {
    let got: Vec<String> = match parse(text) {
        Ok(_) => Vec::new(),
        Err(ManifestError::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    };
    assert_eq!(
        got,
        expected,
        "\nmanifest:\n{text}\nactual lines:\n{}\n",
        got.join("\n")
    );
}

#[test]
fn valid_minimal_manifest() {
    check(
        "[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\n",
        &[],
    );
}

#[test]
fn unknown_fields_are_reported_with_a_suggestion() {
    check(
        "[[sites]]\nname = \"shop\"\ndomain = [\"shop.example.com\"]\nphp_version = \"8.3\"\n",
        &[
            "sites[0].domain: unknown field `domain`; did you mean `domains`?",
            "sites[0].php_version: unknown field `php_version`; did you mean `php`?",
            "sites[0].domains: missing required field `domains` (Domains the site answers on; the first is the primary domain)",
        ],
    );
    check(
        "[stack.instances]\ntypes = [\"t3.medium\"]\nminimum = 2\n",
        &["stack.instances.minimum: unknown field `minimum`; did you mean `min`?"],
    );
}

#[test]
fn wrong_types_are_reported() {
    check(
        "[[sites]]\nname = \"shop\"\ndomains = \"shop.example.com\"\nmin_tasks = \"two\"\n",
        &[
            "sites[0].domains: expected a list, found \"shop.example.com\"",
            "sites[0].min_tasks: expected a whole number, found \"two\"",
        ],
    );
    check(
        "[stack.database]\nengine = \"postgres\"\n",
        &[
            "stack.database.engine: \"postgres\" is not allowed; expected one of \"mysql\", \"mariadb\", \"none\"",
        ],
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = parse("[stack]\nname = \"acme\nregion = 1\n").unwrap_err();
    assert!(
        matches!(err, ManifestError::Syntax { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn malformed_and_duplicate_domains() {
    check(
        r#"
[[sites]]
name = "shop"
domains = ["shop..example.com", "https://x.example.com", "Shop.Example.com", "shop.example.com."]

[[sites]]
name = "blog"
domains = ["SHOP.example.com", "a.*.example.com", "bücher.example"]

[[sites]]
name = "books"
domains = ["xn--bcher-kva.example"]
"#,
        &[
            "sites[0].domains[0]: \"shop..example.com\" is not a valid domain name: it has an empty label (two dots in a row, or a leading dot)",
            "sites[0].domains[1]: \"https://x.example.com\" is not a valid domain name: write the host name alone, without a scheme such as https://",
            "sites[0].domains[3]: \"shop.example.com.\" is the same domain as sites[0].domains[2] (shop.example.com)",
            "sites[1].domains[1]: \"a.*.example.com\" is not a valid domain name: a wildcard may only be the whole leftmost label, as in *.example.com",
        ],
    );
    check(
        r#"
[[sites]]
name = "shop"
domains = ["shop.example.com"]

[[sites]]
name = "blog"
domains = ["SHOP.example.com"]

[[sites]]
name = "books"
domains = ["bücher.example"]

[[sites]]
name = "books2"
domains = ["xn--bcher-kva.example"]
"#,
        &[
            "sites[1].domains[0]: shop.example.com already belongs to site \"shop\" (sites[0].domains[0]); a domain can belong to one site only",
            "sites[3].domains[0]: xn--bcher-kva.example already belongs to site \"books\" (sites[2].domains[0]); a domain can belong to one site only",
        ],
    );
}

#[test]
fn www_redirect_and_preview_hosts_collide_across_sites() {
    check_text(
        r#"
[stack]
name = "acme"
region = "eu-west-1"
preview_domain = "preview.example.com"

[[sites]]
name = "shop"
domains = ["example.com"]
www_redirect = true

[[sites]]
name = "www"
domains = ["www.example.com", "shop.preview.example.com"]
"#,
        &[
            "sites[1].domains[0]: www.example.com already belongs to site \"shop\" (sites[0].www_redirect); a domain can belong to one site only",
            "sites[1].domains[1]: shop.preview.example.com already belongs to site \"shop\" (sites[0].name); a domain can belong to one site only",
        ],
    );
}

#[test]
fn php_versions() {
    check(
        "[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\nphp = \"7.4\"\n",
        &[
            "sites[0].php: PHP \"7.4\" is not supported; supported versions are 8.1 (legacy), 8.2, 8.3, 8.4, 8.5",
        ],
    );
}

#[test]
fn cpu_and_memory_combinations() {
    check(
        r#"
[[sites]]
name = "a"
domains = ["a.example.com"]
cpu = 0.3

[[sites]]
name = "b"
domains = ["b.example.com"]
cpu = 1
memory_mb = 1024

[[sites]]
name = "c"
domains = ["c.example.com"]
cpu = 2
memory_mb = 8192
"#,
        &[
            "sites[0].cpu: 0.3 vCPU is not a container size ECS offers; use 0.25, 0.5, 1, 2 or 4",
            "sites[1].memory_mb: 1024 MB does not go with cpu = 1: ECS accepts 2048 to 8192 MB in steps of 1024 for that size",
            "sites[2].memory_mb: a container of 2 vCPU / 8192 MB does not fit on the smallest instance type of the stack (2 vCPU, 3712 MB usable by containers); choose larger stack.instances.types or a smaller site",
        ],
    );
}

#[test]
fn network_ranges_and_zones() {
    check_text(
        r#"
[stack]
name = "acme"
region = "eu-west-1"
vpc_cidr = "10.0.0.0/25"
availability_zones = 4
"#,
        &[
            "stack.availability_zones: 4 zones: use 2 or 3 (a highly available cluster needs at least 2; ALB and RDS span at most what the subnets give)",
            "stack.vpc_cidr: \"10.0.0.0/25\" is too small for the subnets: three public subnets must each be at least /27 (load balancers need 8 free addresses per subnet), so the VPC must be /23 or larger (e.g. 10.0.0.0/16)",
        ],
    );
    check_text(
        "[stack]\nname = \"acme\"\nregion = \"eu-west-1\"\nvpc_cidr = \"8.8.0.0/16\"\navailability_zones = [\"eu-west-1a\", \"eu-west-2b\", \"eu-west-1a\"]\n",
        &[
            "stack.availability_zones[1]: \"eu-west-2b\" is not an availability zone of eu-west-1; expected eu-west-1 followed by one letter, e.g. eu-west-1a",
            "stack.availability_zones[2]: \"eu-west-1a\" is listed twice",
            "stack.vpc_cidr: \"8.8.0.0/16\" is not a private range; use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
        ],
    );
    check_text(
        "[stack]\nname = \"acme\"\nregion = \"eu-wset-1\"\n",
        &["stack.region: \"eu-wset-1\" is not a supported AWS region; did you mean \"eu-west-1\"?"],
    );
    check_text(
        "[stack]\nname = \"acme\"\nregion = \"us-west-1\"\n",
        &[
            "stack.availability_zones: us-west-1's zone names differ between AWS accounts: list yours, e.g. availability_zones = [\"us-west-1b\", \"us-west-1c\"] (see `aws ec2 describe-availability-zones --region us-west-1`)",
        ],
    );
}

#[test]
fn names_that_break_aws_naming_rules() {
    check_text(
        r#"
[stack]
name = "Acme_Production-Cluster-2024"
region = "eu-west-1"

[[sites]]
name = "shop--eu"
domains = ["shop.example.com"]

[[sites]]
name = "a-site-name-that-is-far-too-long-for-aws"
domains = ["long.example.com"]

[[sites]]
name = "blog"
domains = ["blog.example.com"]

[[sites]]
name = "blog"
domains = ["blog2.example.com"]
"#,
        &[
            "stack.name: \"Acme_Production-Cluster-2024\" is not a valid stack name: use 1-20 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it becomes part of AWS resource names)",
            "sites[0].name: \"shop--eu\" is not a valid site name: use 1-28 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it becomes part of AWS resource names)",
            "sites[1].name: \"a-site-name-that-is-far-too-long-for-aws\" is not a valid site name: use 1-28 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it becomes part of AWS resource names)",
            "sites[3].name: site name \"blog\" is already used by sites[2]; site names must be unique",
        ],
    );
}

#[test]
fn instances_and_database() {
    check(
        r#"
[stack.instances]
types = ["t3.medium", "m7g.large", "t3.huge"]
min = 3
max = 2
ami_rollover_hours = 0

[stack.database]
engine = "mariadb"
version = "8.0"
instance_class = "db.x9.large"
storage_gb = 10
"#,
        &[
            "stack.instances.types[2]: \"t3.huge\" is not an instance type idealstack supports; use a size medium to 8xlarge of the families t3, t3a, t4g, m5, m6i, m6a, m7i, m7a, m6g, m7g, c5, c6i, c6a, c7i, c6g, c7g, r6i, r7i, r6g, r7g",
            "stack.instances.types[1]: \"m7g.large\" is Arm64 but \"t3.medium\" is X86_64: one cluster runs one CPU architecture (one machine image); list only Graviton (…g) types or only Intel/AMD types",
            "stack.instances.max: 2 is below min (3)",
            "stack.instances.ami_rollover_hours: 0: expected 1 to 720 hours (30 days) between checks for a new machine image",
            "stack.database.version: \"8.0\" is not a mariadb version RDS offers; use one of 10.11, 11.4",
        ],
    );
    check(
        "[stack.database]\nengine = \"none\"\n\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\ndatabase = true\n",
        &[
            "sites[0].database: the site asks for a database but stack.database.engine is \"none\"; choose \"mysql\" or \"mariadb\" there",
        ],
    );
}

#[test]
fn email_settings() {
    check(
        "[stack.email]\nservice = \"ses\"\n",
        &[
            "stack.email.domain: service = \"ses\" needs the sending domain, e.g. domain = \"example.com\"",
        ],
    );
    check(
        "[stack.email]\ndomain = \"example.com\"\n",
        &[
            "stack.email.domain: \"example.com\" is set but service is \"off\"; set service = \"ses\" to send mail, or remove the domain",
        ],
    );
}

#[test]
fn secrets_are_references_never_values() {
    check(
        r#"
[[sites]]
name = "shop"
domains = ["shop.example.com"]
environment = { DB_PASSWORD = "hunter2", STRIPE_SECRET = "sk_live_123", "1BAD" = "x", AWS_REGION = "x", APP_ENV = "prod" }
secrets = { STRIPE_KEY = "sk_live_abc", MAIL_KEY = "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/mail", API = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/api-AbCdEf", APP_ENV = "arn:aws:s3:::bucket" }
"#,
        &[
            "sites[0].environment.1BAD: \"1BAD\" is not a valid environment variable name: letters, digits and underscores, not starting with a digit",
            "sites[0].environment.AWS_REGION: \"AWS_REGION\" is set by idealstack itself (reserved: DB_HOST, DB_NAME, DB_USER, DB_PASSWORD, DB_PORT, and names starting with AWS_, ECS_, IDEALSTACK_)",
            "sites[0].environment.DB_PASSWORD: \"DB_PASSWORD\" is set by idealstack itself (reserved: DB_HOST, DB_NAME, DB_USER, DB_PASSWORD, DB_PORT, and names starting with AWS_, ECS_, IDEALSTACK_)",
            "sites[0].environment.APP_ENV: \"APP_ENV\" is in both environment and secrets; keep it in one",
            "sites[0].environment.DB_PASSWORD: \"DB_PASSWORD\" looks like a secret: plain environment variables end up in templates and consoles; store the value in Secrets Manager or SSM and list its ARN under secrets instead",
            "sites[0].environment.STRIPE_SECRET: \"STRIPE_SECRET\" looks like a secret: plain environment variables end up in templates and consoles; store the value in Secrets Manager or SSM and list its ARN under secrets instead",
            "sites[0].secrets.APP_ENV: \"arn:aws:s3:::bucket\" is not a Secrets Manager or SSM parameter ARN; secrets hold references, never values: expected arn:aws:secretsmanager:<region>:<account>:secret:<name> or arn:aws:ssm:<region>:<account>:parameter/<name>",
            "sites[0].secrets.STRIPE_KEY: the value is not a Secrets Manager or SSM parameter ARN; secrets hold references, never values: expected arn:aws:secretsmanager:<region>:<account>:secret:<name> or arn:aws:ssm:<region>:<account>:parameter/<name>",
        ],
    );
}

#[test]
fn tasks_health_check_tags_and_limits() {
    check(
        r#"
[stack.alb_limits]
target_groups_per_alb = 150
values_per_condition = 0

[stack.tags]
"aws:owner" = "me"

[[sites]]
name = "shop"
domains = ["shop.example.com"]
min_tasks = 4
max_tasks = 2
health_check_path = "health.php"
"#,
        &[
            "stack.alb_limits.target_groups_per_alb: 150: must be from 1 to 100 (a hard AWS limit)",
            "stack.alb_limits.values_per_condition: 0: must be from 1 to 5 (a hard AWS limit)",
            "stack.tags.\"aws:owner\": tag key \"aws:owner\" uses a reserved prefix (aws:, idealstack:)",
            "sites[0].max_tasks: 2 is below min_tasks (4)",
            "sites[0].health_check_path: \"health.php\" is not a usable health-check path; expected a path starting with / of printable characters, e.g. \"/health.php\"",
        ],
    );
}

#[test]
fn every_problem_of_a_bad_manifest_is_reported_at_once() {
    let text = format!(
        "{STACK}vpc_cidr = \"10.0.0.0/8\"\n[[sites]]\nname = \"Shop\"\ndomains = [\"bad..example.com\"]\nphp = \"5.6\"\n"
    );
    let err = parse(&text).unwrap_err();
    assert_eq!(err.diagnostics().len(), 4, "{err}");
    assert!(
        err.to_string()
            .starts_with("idealstack.toml has 4 problems:"),
        "{err}"
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn toml_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.*_-]{0,30}".prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:?}")),
            any::<bool>().prop_map(|b| b.to_string()),
            prop::collection::vec("[a-zA-Z0-9.\u{e9}\u{fc}*:/-]{0,20}", 0..4)
                .prop_map(|v| format!("{v:?}")),
        ]
    }

    const FIELDS: &[&str] = &[
        "name",
        "domains",
        "php",
        "cpu",
        "memory_mb",
        "min_tasks",
        "max_tasks",
        "database",
        "www_redirect",
        "health_check_path",
        "nmae",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn arbitrary_site_fields(fields in prop::collection::vec((prop::sample::select(FIELDS), toml_value()), 0..8)) {
            let mut text = format!("{STACK}[[sites]]\n");
            let mut seen = Vec::new();
            for (k, v) in fields {
                if !seen.contains(&k) {
                    seen.push(k);
                    text.push_str(&format!("{k} = {v}\n"));
                }
            }
            let _ = parse(&text);
        }

        #[test]
        fn arbitrary_text(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}

#[test]
fn unknown_fields_do_not_hide_other_problems() {
    check_text(
        "[stack]\nname = \"Bad Name\"\nregion = \"eu-west-1\"\nzones = 2\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\nphp = \"7.4\"\nmemroy_mb = 1024\n",
        &[
            "sites[0].memroy_mb: unknown field `memroy_mb`; did you mean `memory_mb`?",
            "stack.zones: unknown field `zones`; did you mean `availability_zones`?",
            "stack.name: \"Bad Name\" is not a valid stack name: use 1-20 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it becomes part of AWS resource names)",
            "sites[0].php: PHP \"7.4\" is not supported; supported versions are 8.1 (legacy), 8.2, 8.3, 8.4, 8.5",
        ],
    );
}

#[test]
fn php_settings_are_checked_against_the_container_and_the_runtime() {
    const SITE: &str = "[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\n";
    // Every setting, as a PHP developer writes them.
    check(
        &format!(
            "{SITE}memory_mb = 2048\ncpu = 1\n[sites.php_settings]\nmemory_limit = \"512M\"\nupload_max_filesize = \"128M\"\npost_max_size = \"130m\"\nmax_execution_time = 30\nmax_input_time = 300\nmax_input_vars = 10000\ndisplay_errors = true\ntimezone = \"Europe/Amsterdam\"\nopcache_memory_mb = 256\nopcache_validate_timestamps = false\nopcache_revalidate_freq = 0\n"
        ),
        &[],
    );
    check(
        &format!("{SITE}[sites.php_settings]\nmemory_limit = \"1024M\"\n"),
        &[
            "sites[0].php_settings.memory_limit: memory_limit \"1024M\" does not fit in a container of memory_mb = 512: one request may use memory_limit on top of the 192 MB Apache, php-fpm and OPcache hold, so at most \"320M\" fits; raise memory_mb or lower memory_limit",
        ],
    );
    check(
        &format!(
            "{SITE}cpu = 0.25\nmemory_mb = 512\n[sites.php_settings]\nopcache_memory_mb = 320\n"
        ),
        &[
            "sites[0].php_settings.opcache_memory_mb: memory_limit \"256M\" does not fit in a container of memory_mb = 512: one request may use memory_limit on top of the 320 MB Apache, php-fpm and OPcache hold, so at most \"192M\" fits; raise memory_mb or lower opcache_memory_mb",
        ],
    );
    check(
        &format!(
            "{SITE}[sites.php_settings]\nmemory_limit = \"-1\"\nupload_max_filesize = \"64MB\"\npost_max_size = \"2G\"\nmax_execution_time = 300\nmax_input_time = 0\nmax_input_vars = 10\ntimezone = \"europe/amsterdam\"\nopcache_memory_mb = 8\nopcache_revalidate_freq = 86400\n"
        ),
        &[
            "sites[0].php_settings.memory_limit: \"-1\" (no limit) is not allowed: one request could take the whole container's memory; give a size, e.g. \"512M\"",
            "sites[0].php_settings.upload_max_filesize: \"64MB\" is not a PHP size: write a number with K, M or G, e.g. \"128M\"",
            "sites[0].php_settings.post_max_size: \"2G\": expected more than 0 and at most \"1G\" (the largest request body Apache takes)",
            "sites[0].php_settings.max_execution_time: 300: expected 1-60 seconds; the load balancer ends a request that sends nothing for 60 s, so run longer work as a cron job or a worker",
            "sites[0].php_settings.max_input_time: 0: expected 1-3600 seconds",
            "sites[0].php_settings.max_input_vars: 10: expected 100-100000",
            "sites[0].php_settings.opcache_memory_mb: 8: expected 64-1024 MB",
            "sites[0].php_settings.opcache_revalidate_freq: 86400: expected 0-3600 seconds",
            "sites[0].php_settings.timezone: \"europe/amsterdam\" is not a time zone PHP knows; use an IANA name such as \"Europe/Amsterdam\" (did you mean \"Europe/Amsterdam\"?)",
        ],
    );
    // Uploads must fit in the request; a typo of a zone is named; an unknown setting is a typo.
    check(
        &format!(
            "{SITE}[sites.php_settings]\nupload_max_filesize = \"128M\"\ntimezone = \"Europe/Amsterdan\"\n"
        ),
        &[
            "sites[0].php_settings.upload_max_filesize: \"128M\" is above post_max_size (\"64M\", the default): a request must carry the largest upload; set post_max_size to at least \"128M\" too",
            "sites[0].php_settings.timezone: \"Europe/Amsterdan\" is not a time zone PHP knows; use an IANA name such as \"Europe/Amsterdam\" (did you mean \"Europe/Amsterdam\"?)",
        ],
    );
    check(
        &format!(
            "{SITE}[sites.php_settings]\nupload_max_filesize = \"128M\"\npost_max_size = \"100M\"\nupload_max_file_size = \"1G\"\n"
        ),
        &[
            "sites[0].php_settings.upload_max_file_size: unknown field `upload_max_file_size`; did you mean `upload_max_filesize`?",
            "sites[0].php_settings.post_max_size: \"100M\" is below upload_max_filesize (\"128M\"): a request must carry the largest upload; raise post_max_size to at least \"128M\"",
        ],
    );
}

#[test]
fn php_settings_reach_the_model_as_php_ini_names_and_size_the_workers() {
    let model = parse(&format!(
        "{STACK}[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\ncpu = 1\nmemory_mb = 2048\nphp_settings = {{ memory_limit = \"1g\", timezone = \"Europe/Kyiv\", display_errors = false }}\n"
    ))
    .unwrap();
    let php = &model.sites[0].php_settings;
    assert_eq!(
        php.environment().into_iter().collect::<Vec<_>>(),
        [
            (
                "IDEALSTACK_INI_DATE_TIMEZONE".to_owned(),
                "Europe/Kyiv".to_owned()
            ),
            ("IDEALSTACK_INI_DISPLAY_ERRORS".to_owned(), "0".to_owned()),
            ("IDEALSTACK_INI_MEMORY_LIMIT".to_owned(), "1G".to_owned()),
        ]
    );
    // (2048 - 192) / (1024 / 4) workers.
    assert_eq!(php.fpm_max_children(2048), 7);
}

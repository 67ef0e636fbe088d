//! Option fixtures shared by the template tests: a few stacks built in code, covering 2 and 3
//! AZs, single and per-AZ NAT, MySQL, MariaDB and no database, email on and off, sites with and
//! without a database, a site with many rules and certificates, and edge shards 0 and 3.

#![allow(dead_code)]

use std::collections::BTreeMap;

use idealstack_templates::*;

/// One scenario: a label and every stack it deploys.
pub struct Scenario {
    pub label: &'static str,
    pub stacks: Vec<StackSpec>,
}

fn tags() -> BTreeMap<String, String> {
    BTreeMap::from([("team".to_string(), "web".to_string())])
}

fn zones(n: usize) -> Vec<ZoneSubnets> {
    (0..n)
        .map(|i| ZoneSubnets {
            az: format!("us-east-1{}", ["a", "b", "c"][i]),
            public_cidr: format!("10.0.{}.0/24", i),
            private_cidr: format!("10.0.{}.0/20", 16 * (i + 1)),
        })
        .collect()
}

fn image(repo: &str, tag: &str) -> ImageRef {
    ImageRef {
        repository: repo.into(),
        tag: tag.into(),
    }
}

pub fn network_opts(stack: &str, azs: usize, nat: NatMode) -> NetworkOptions {
    NetworkOptions {
        stack: stack.into(),
        tags: tags(),
        vpc_cidr: "10.0.0.0/16".into(),
        zones: zones(azs),
        nat,
        flow_log_retention_days: 90,
        sftp_port: 22,
        health_check_port: 8099,
    }
}

pub fn database(engine: DbEngine) -> DatabaseOptions {
    match engine {
        DbEngine::Mysql => DatabaseOptions {
            engine,
            engine_version: "8.4.7".into(),
            instance_class: "db.t4g.small".into(),
            storage_gb: 20,
            max_storage_gb: None,
            multi_az: false,
            backup_retention_days: 7,
            performance_insights: false,
            monitoring_interval_seconds: 0,
        },
        DbEngine::Mariadb => DatabaseOptions {
            engine,
            engine_version: "11.4.5".into(),
            instance_class: "db.m7g.large".into(),
            storage_gb: 100,
            max_storage_gb: Some(500),
            multi_az: true,
            backup_retention_days: 14,
            performance_insights: true,
            monitoring_interval_seconds: 60,
        },
    }
}

pub fn data_opts(stack: &str, azs: usize, db: Option<DbEngine>, retention: u32) -> DataOptions {
    DataOptions {
        stack: stack.into(),
        tags: tags(),
        az_count: azs,
        efs_transition_to_ia: "AFTER_30_DAYS".into(),
        database: db.map(database),
        access_log_expiry_days: 90,
        state_noncurrent_expiry_days: 30,
        log_retention_days: retention,
    }
}

pub fn cluster_opts(stack: &str, has_database: bool, retention: u32, ecr: bool) -> ClusterOptions {
    ClusterOptions {
        stack: stack.into(),
        tags: tags(),
        instance_types: vec!["m7i.large".into(), "m6i.large".into(), "m5.large".into()],
        architecture: Architecture::X86_64,
        min_instances: 2,
        max_instances: 10,
        on_demand_base_capacity: 2,
        on_demand_percentage_above_base: 100,
        root_volume_gb: 40,
        php_image: image("public.ecr.aws/idealstack/php", "8.3-0.1.0"),
        idealstack_image: image("public.ecr.aws/idealstack/idealstack", "0.1.0"),
        ecr_repositories: if ecr {
            vec!["idealstack/php".into(), "idealstack/idealstack".into()]
        } else {
            vec![]
        },
        health_check_port: 8099,
        health_check_path: "/_idealstack/health".into(),
        sftp_port: 22,
        sftp_container_port: 2222,
        sftp_desired_count: 2,
        has_database,
        log_retention_days: retention,
    }
}

pub fn edge_opts(stack: &str, shard: u32) -> EdgeOptions {
    EdgeOptions {
        stack: stack.into(),
        tags: tags(),
        shard,
        default_certificate: ParameterValue::literal(
            "arn:aws:acm:us-east-1:123456789012:certificate/0b7a3c59-1111-2222-3333-444455556666",
        ),
        idle_timeout_seconds: 60,
        desync_mitigation: if shard == 0 {
            DesyncMode::Defensive
        } else {
            DesyncMode::Strictest
        },
    }
}

/// A site; `domains` host names, forward rules of up to 5 hosts each, a www redirect rule.
/// What varies between fixture sites.
pub struct SiteCase {
    pub domains: usize,
    pub db: bool,
    pub email: bool,
    pub retention: u32,
}

pub fn site_opts(stack: &str, site: &str, shard: u32, uid: u32, case: SiteCase) -> SiteOptions {
    let SiteCase {
        domains,
        db,
        email,
        retention,
    } = case;
    let hosts: Vec<String> = (0..domains)
        .map(|i| format!("{site}{i}.example.com"))
        .collect();
    let mut rules: Vec<ListenerRule> = hosts
        .chunks(5)
        .enumerate()
        .map(|(i, chunk)| ListenerRule {
            priority: uid - 20000 + 1 + i as u32,
            hosts: chunk.to_vec(),
            action: RuleAction::Forward,
        })
        .collect();
    rules.push(ListenerRule {
        priority: 40000 + uid - 20000,
        hosts: vec![format!("www.{site}0.example.com")],
        action: RuleAction::Redirect {
            host: format!("{site}0.example.com"),
        },
    });
    let certificates = (0..domains.div_ceil(10))
        .map(|i| {
            ParameterValue::literal(format!(
                "arn:aws:acm:us-east-1:123456789012:certificate/{site}-{i}-0000-1111-222233334444"
            ))
        })
        .collect();
    SiteOptions {
        stack: stack.into(),
        site: site.into(),
        tags: tags(),
        shard,
        uid,
        gid: uid,
        image: image("public.ecr.aws/idealstack/php", "8.3-0.1.0"),
        ecr_repositories: vec![],
        cpu: 512,
        memory_mib: 1024,
        fpm_max_children: 13,
        php_ini: BTreeMap::new(),
        min_tasks: 2,
        max_tasks: 8,
        desired_count: 2,
        environment: BTreeMap::from([("APP_ENV".into(), "production".into())]),
        secrets: BTreeMap::from([
            (
                "STRIPE_KEY".into(),
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop-stripe-AbCdEf:key::"
                    .into(),
            ),
            (
                "API_TOKEN".into(),
                "arn:aws:ssm:us-east-1:123456789012:parameter/shop/api-token".into(),
            ),
        ]),
        health_check_path: "/_idealstack/health".into(),
        database: db.then(|| SiteDatabase {
            name: format!("{site}_db"),
            user: format!("{site}_user"),
        }),
        email: email.then(|| SiteEmail {
            identity: format!("{site}0.example.com"),
            from: format!("{site}@{site}0.example.com"),
        }),
        rules,
        certificates,
        tmpfs: default_php_tmpfs(),
        log_retention_days: retention,
    }
}

/// Every scenario the template tests render.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            label: "small",
            stacks: vec![
                network(&network_opts("small", 2, NatMode::Single)),
                data(&data_opts("small", 2, Some(DbEngine::Mysql), 30)),
                cluster(&cluster_opts("small", true, 30, false)),
                edge(&edge_opts("small", 0)),
                site(&site_opts(
                    "small",
                    "blog",
                    0,
                    20000,
                    SiteCase {
                        domains: 2,
                        db: true,
                        email: false,
                        retention: 30,
                    },
                )),
                site(&site_opts(
                    "small",
                    "static",
                    0,
                    20001,
                    SiteCase {
                        domains: 1,
                        db: false,
                        email: false,
                        retention: 30,
                    },
                )),
            ],
        },
        Scenario {
            label: "large",
            stacks: vec![
                network(&network_opts("large", 3, NatMode::PerAz)),
                data(&data_opts("large", 3, Some(DbEngine::Mariadb), 365)),
                cluster(&cluster_opts("large", true, 365, true)),
                edge(&edge_opts("large", 0)),
                edge(&edge_opts("large", 3)),
                site(&site_opts(
                    "large",
                    "shop",
                    3,
                    20010,
                    SiteCase {
                        domains: 95,
                        db: true,
                        email: true,
                        retention: 365,
                    },
                )),
                site(&site_opts(
                    "large",
                    "news",
                    0,
                    20011,
                    SiteCase {
                        domains: 3,
                        db: false,
                        email: true,
                        retention: 365,
                    },
                )),
            ],
        },
        Scenario {
            label: "nodb",
            stacks: vec![
                network(&network_opts("nodb", 2, NatMode::PerAz)),
                data(&data_opts("nodb", 2, None, 90)),
                cluster(&cluster_opts("nodb", false, 90, false)),
                edge(&edge_opts("nodb", 0)),
                site(&site_opts(
                    "nodb",
                    "brochure",
                    0,
                    20000,
                    SiteCase {
                        domains: 4,
                        db: false,
                        email: false,
                        retention: 90,
                    },
                )),
            ],
        },
    ]
}

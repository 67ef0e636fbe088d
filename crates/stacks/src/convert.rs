//! Small pure functions from the manifest model and the plan to each stack kind's options.
//! Every production choice the manifest does not expose (retentions, ports, backup days) is
//! decided here, in one place.

use idealstack_manifest::Model;
use idealstack_manifest::catalog::Arch;
use idealstack_manifest::model::{Engine, NatMode, SiteModel};
use idealstack_plan::cost::{CostAssumptions, CostInput, DatabaseCost, DbEngine as CostEngine};
use idealstack_plan::{Plan, PlanInput, Prior, Quotas, RuleAction, SiteAssignment, SiteDemand};
use idealstack_templates::{self as t, ParameterValue};

/// The public SFTP port.
pub const SFTP_PORT: u16 = 22;
/// The SFTP gateway's port inside its container (unprivileged).
pub const SFTP_CONTAINER_PORT: u16 = 2222;
/// The fixed host port of the PHP health daemon on every instance (outside ECS's dynamic range).
pub const HEALTH_CHECK_PORT: u16 = 8099;
/// Days site, cluster and database logs are kept.
const LOG_RETENTION_DAYS: u32 = 30;
/// Days VPC flow logs are kept.
const FLOW_LOG_RETENTION_DAYS: u32 = 90;
/// Days ALB access logs are kept.
const ACCESS_LOG_DAYS: u32 = 90;
/// Days automated database backups are kept.
const BACKUP_DAYS: u32 = 14;

/// The images of a stack: the PHP image per version and the idealstack image.
///
/// The one naming scheme for images: `<registry>/php:<php>-<version>` and
/// `<registry>/idealstack:<version>`, `<version>` being idealstack's own (`idealstack --version`,
/// no `v`). `scripts/images` builds these names under `localhost/idealstack` and the release
/// workflow (`.github/workflows/images.yml`) publishes them under the default registry, both
/// reading the version from the binary; `crates/cli/tests/runtime_images.rs` checks all three agree.
#[derive(Debug, Clone)]
pub struct Images {
    registry: String,
    version: String,
    /// ECR repository names in the user's account, when the registry is a private ECR.
    ecr_repositories: Vec<String>,
}

impl Images {
    /// The PHP image of `php` (`<registry>/php:<php>-<version>`).
    pub fn php(&self, php: &str) -> t::ImageRef {
        t::ImageRef {
            repository: format!("{}/php", self.registry),
            tag: format!("{php}-{}", self.version),
        }
    }

    /// The idealstack image (`<registry>/idealstack:<version>`).
    pub fn idealstack(&self) -> t::ImageRef {
        t::ImageRef {
            repository: format!("{}/idealstack", self.registry),
            tag: self.version.clone(),
        }
    }
}

/// The images for `model`, tagged with idealstack `version`.
pub fn images(model: &Model, version: &str) -> Images {
    let registry = model.stack.image_registry.trim_end_matches('/').to_owned();
    // A private ECR registry (`<account>.dkr.ecr.<region>.amazonaws.com/<path>`): the tasks' roles
    // may pull exactly these repositories.
    let ecr_repositories = match registry.split_once('/') {
        Some((host, path)) if host.contains(".dkr.ecr.") => {
            vec![format!("{path}/php"), format!("{path}/idealstack")]
        }
        None if registry.contains(".dkr.ecr.") => vec!["php".into(), "idealstack".into()],
        _ => Vec::new(),
    };
    Images {
        registry,
        version: version.to_owned(),
        ecr_repositories,
    }
}

/// What the planner needs: every site's hosts, the quotas, and what is deployed now.
pub fn plan_input(model: &Model, prior: &Prior) -> PlanInput {
    let l = model.stack.alb_limits;
    PlanInput {
        sites: model
            .sites
            .iter()
            .map(|s| SiteDemand {
                name: s.name.clone(),
                serve_hosts: s
                    .serve_hosts
                    .iter()
                    .map(|d| d.as_str().to_owned())
                    .collect(),
                redirect_hosts: s
                    .redirect_hosts
                    .iter()
                    .map(|d| d.as_str().to_owned())
                    .collect(),
            })
            .collect(),
        quotas: Quotas {
            target_groups_per_alb: l.target_groups_per_alb,
            rules_per_listener: l.rules_per_listener,
            certificates_per_listener: l.certificates_per_listener,
            values_per_condition: l.values_per_condition,
            names_per_certificate: l.names_per_certificate,
        },
        reserve: Default::default(),
        prior: prior.clone(),
    }
}

/// Options of the network stack.
pub fn network_options(model: &Model) -> t::NetworkOptions {
    let s = &model.stack;
    t::NetworkOptions {
        stack: s.name.clone(),
        tags: s.tags.clone(),
        vpc_cidr: s.vpc_cidr.to_string(),
        zones: s
            .zones
            .iter()
            .zip(0u32..)
            .map(|(az, i)| t::ZoneSubnets {
                az: az.clone(),
                public_cidr: s.vpc_cidr.public_subnet(i).to_string(),
                private_cidr: s.vpc_cidr.private_subnet(i).to_string(),
            })
            .collect(),
        nat: match s.nat {
            NatMode::PerAz => t::NatMode::PerAz,
            NatMode::Single => t::NatMode::Single,
        },
        flow_log_retention_days: FLOW_LOG_RETENTION_DAYS,
        sftp_port: SFTP_PORT,
        health_check_port: HEALTH_CHECK_PORT,
    }
}

/// Options of the data stack.
pub fn data_options(model: &Model) -> t::DataOptions {
    let s = &model.stack;
    t::DataOptions {
        stack: s.name.clone(),
        tags: s.tags.clone(),
        az_count: s.zones.len(),
        efs_transition_to_ia: "AFTER_30_DAYS".into(),
        database: s.database.as_ref().map(|db| {
            let small =
                db.instance_class.ends_with(".micro") || db.instance_class.ends_with(".small");
            t::DatabaseOptions {
                engine: match db.engine {
                    Engine::Mariadb => t::DbEngine::Mariadb,
                    _ => t::DbEngine::Mysql,
                },
                engine_version: db.engine_version.clone(),
                instance_class: db.instance_class.clone(),
                storage_gb: db.storage_gb,
                max_storage_gb: Some((db.storage_gb * 4).min(65536)).filter(|m| *m > db.storage_gb),
                multi_az: db.multi_az,
                backup_retention_days: BACKUP_DAYS,
                // Performance Insights is not offered on micro and small classes.
                performance_insights: !small,
                monitoring_interval_seconds: 60,
            }
        }),
        access_log_expiry_days: ACCESS_LOG_DAYS,
        state_noncurrent_expiry_days: 30,
        log_retention_days: LOG_RETENTION_DAYS,
    }
}

/// Options of the cluster stack.
pub fn cluster_options(model: &Model, images: &Images) -> t::ClusterOptions {
    let s = &model.stack;
    t::ClusterOptions {
        stack: s.name.clone(),
        tags: s.tags.clone(),
        instance_types: s.instances.types.clone(),
        architecture: match s.instances.arch {
            Arch::X86_64 => t::Architecture::X86_64,
            Arch::Arm64 => t::Architecture::Arm64,
        },
        min_instances: s.instances.min,
        max_instances: s.instances.max,
        // All on-demand: the sites' capacity floor must not be reclaimed by spot interruptions.
        on_demand_base_capacity: s.instances.min,
        on_demand_percentage_above_base: 100,
        root_volume_gb: 30,
        // 10% headroom so a busy site's new tasks start without waiting for an instance.
        php_image: images.php(&s.php),
        idealstack_image: images.idealstack(),
        ecr_repositories: images.ecr_repositories.clone(),
        health_check_port: HEALTH_CHECK_PORT,
        health_check_path: idealstack_manifest::DEFAULT_HEALTH_CHECK_PATH.into(),
        sftp_port: SFTP_PORT,
        sftp_container_port: SFTP_CONTAINER_PORT,
        sftp_desired_count: s.zones.len().min(2) as u32,
        has_database: s.database.is_some(),
        log_retention_days: LOG_RETENTION_DAYS,
    }
}

/// Options of the edge stack of `shard`. The listener's default certificate is the stack's own,
/// belonging to no site (an HTTPS listener needs one, and cannot lose it: a site's certificate
/// there would block that site's removal). Every site's certificate is a listener certificate
/// chosen by SNI.
pub fn edge_options(model: &Model, shard: &idealstack_plan::Shard) -> t::EdgeOptions {
    t::EdgeOptions {
        stack: model.stack.name.clone(),
        tags: model.stack.tags.clone(),
        shard: shard.index,
        default_certificate: ParameterValue::default_certificate(&model.stack.name),
        idle_timeout_seconds: 60,
        desync_mitigation: t::DesyncMode::Defensive,
    }
}

/// The name of a site's database and of its database user (MySQL names cannot hold `-`).
pub fn site_database_name(site: &str) -> String {
    site.replace('-', "_")
}

/// The sender of a site's mail without a From header: `<site>@<domain>`, an address of the SES
/// identity (the site's task role may send only from that domain), and one that says which site
/// sent it.
pub fn site_mail_from(site: &str, domain: &str) -> String {
    format!("{site}@{domain}")
}

/// Options of one site's stack.
pub fn site_options(
    model: &Model,
    site: &SiteModel,
    assignment: &SiteAssignment,
    images: &Images,
) -> t::SiteOptions {
    let db_name = site_database_name(&site.name);
    t::SiteOptions {
        stack: model.stack.name.clone(),
        site: site.name.clone(),
        tags: model.stack.tags.clone(),
        shard: assignment.shard,
        uid: assignment.uid,
        gid: assignment.uid,
        image: images.php(&site.php),
        ecr_repositories: images
            .ecr_repositories
            .iter()
            .filter(|r| r.ends_with("php"))
            .cloned()
            .collect(),
        cpu: site.cpu_units,
        memory_mib: site.memory_mib,
        fpm_max_children: site.php_settings.fpm_max_children(site.memory_mib),
        php_ini: site.php_settings.environment(),
        min_tasks: site.min_tasks,
        max_tasks: site.max_tasks,
        desired_count: site.min_tasks,
        environment: site.environment.clone(),
        secrets: site
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.arn.clone()))
            .collect(),
        health_check_path: site.health_check_path.clone(),
        database: site.database.then(|| t::SiteDatabase {
            name: db_name.clone(),
            user: db_name.clone(),
        }),
        email: model.stack.email.as_ref().map(|e| t::SiteEmail {
            identity: e.domain.to_string(),
            from: site_mail_from(&site.name, e.domain.as_str()),
        }),
        rules: assignment
            .rules
            .iter()
            .map(|r| t::ListenerRule {
                priority: r.priority,
                hosts: r.hosts.clone(),
                action: match r.action {
                    RuleAction::Forward => t::RuleAction::Forward,
                    RuleAction::RedirectToPrimary => t::RuleAction::Redirect {
                        host: site.primary.to_string(),
                    },
                },
            })
            .collect(),
        certificates: (0..assignment.certificates.len() as u32)
            .map(|i| ParameterValue::certificate(&site.name, i))
            .collect(),
        tmpfs: t::default_php_tmpfs(),
        log_retention_days: LOG_RETENTION_DAYS,
    }
}

/// What the cost estimate needs.
pub fn cost_input(model: &Model, plan: &Plan) -> CostInput {
    let s = &model.stack;
    CostInput {
        region: s.region.clone(),
        availability_zones: s.zones.len() as u32,
        instance_type: s.instances.types.first().cloned().unwrap_or_default(),
        min_instances: s.instances.min,
        nat_gateways: match s.nat {
            NatMode::PerAz => s.zones.len() as u32,
            NatMode::Single => 1,
        },
        albs: plan.shards.len() as u32,
        nlbs: 1,
        database: s.database.as_ref().map(|db| DatabaseCost {
            engine: if db.engine == Engine::Mariadb {
                CostEngine::Mariadb
            } else {
                CostEngine::Mysql
            },
            class: db.instance_class.clone(),
            storage_gb: db.storage_gb,
            multi_az: db.multi_az,
        }),
        sites: model.sites.len() as u32,
        kms_keys: 1,
        assumptions: CostAssumptions::default(),
    }
}

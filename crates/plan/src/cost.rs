//! Monthly cost estimate of a stack, per stack kind (network, data, cluster, edge, sites), from the
//! built-in, dated price table in [`prices`].
//!
//! It is an estimate: on-demand prices, 730 hours a month, the stated usage assumptions
//! ([`CostAssumptions`], each listed in [`CostEstimate::assumptions`]), and no free tier, Savings
//! Plans or data transfer to the internet. An unknown region is an error naming the supported ones
//! (no silent fallback: a wrong region's prices would look right and be wrong).

pub mod prices;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use prices::{HOURS_PER_MONTH, KMS_KEY_MONTH, PUBLIC_IPV4_HOUR, RegionPrices, SECRET_MONTH};

/// The database engine (same price for both on RDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    Mysql,
    Mariadb,
}

/// The stack's RDS instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseCost {
    pub engine: DbEngine,
    /// RDS instance class, e.g. `db.t4g.medium`.
    pub class: String,
    /// Allocated gp3 storage in GB.
    pub storage_gb: u32,
    /// Multi-AZ (one standby instance and a second copy of the storage).
    pub multi_az: bool,
}

/// Usage the estimate cannot know from the manifest; each one is stated in the estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostAssumptions {
    /// GB a month through the NAT gateways, all together (image pulls, API calls, outbound).
    pub nat_gb_per_month: f64,
    /// Average ALB capacity units per shard.
    pub lcu_per_alb: f64,
    /// Average NLB capacity units per NLB (SFTP).
    pub nlcu_per_nlb: f64,
    /// EFS Standard GB per site (code and uploads).
    pub efs_gb_per_site: f64,
    /// Million session writes per site a month (DynamoDB on-demand, items under 1 KB).
    pub session_writes_million_per_site: f64,
    /// Million session reads per site a month (strongly consistent, items under 4 KB).
    pub session_reads_million_per_site: f64,
    /// CloudWatch Logs GB ingested per site a month.
    pub log_gb_per_site: f64,
    /// CloudWatch Logs GB ingested a month by the cluster (agent, SFTP, ECS agent).
    pub cluster_log_gb: f64,
    /// VPC flow logs GB ingested a month.
    pub flow_log_gb: f64,
    /// Root EBS gp3 GB per instance.
    pub ebs_gb_per_instance: f64,
    /// S3 Standard GB in the stack's log/artifact bucket.
    pub bucket_gb: f64,
}

impl Default for CostAssumptions {
    fn default() -> Self {
        CostAssumptions {
            nat_gb_per_month: 100.0,
            lcu_per_alb: 1.0,
            nlcu_per_nlb: 1.0,
            efs_gb_per_site: 5.0,
            session_writes_million_per_site: 1.0,
            session_reads_million_per_site: 1.0,
            log_gb_per_site: 1.0,
            cluster_log_gb: 5.0,
            flow_log_gb: 5.0,
            ebs_gb_per_instance: 30.0,
            bucket_gb: 20.0,
        }
    }
}

/// What the estimate is computed from (the lead maps the manifest and the plan into it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostInput {
    /// AWS region code.
    pub region: String,
    /// Availability zones the stack spans (public IPv4 addresses per load balancer).
    pub availability_zones: u32,
    /// EC2 instance type of the cluster.
    pub instance_type: String,
    /// Instances always running (the ASG minimum).
    pub min_instances: u32,
    /// NAT gateways (one per AZ, or a single one).
    pub nat_gateways: u32,
    /// Application Load Balancers (one per shard).
    pub albs: u32,
    /// Network Load Balancers (SFTP).
    pub nlbs: u32,
    /// The RDS instance, if the stack has one.
    pub database: Option<DatabaseCost>,
    /// Number of sites.
    pub sites: u32,
    /// KMS customer-managed keys.
    pub kms_keys: u32,
    /// Usage assumptions.
    #[serde(default)]
    pub assumptions: CostAssumptions,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// Stack kind: network, data, cluster, edge or sites.
    pub stack: String,
    /// What is priced.
    pub item: String,
    /// How much of it, with the unit price.
    pub quantity: String,
    /// US dollars a month, rounded to cents.
    pub monthly_usd: f64,
}

/// The estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// AWS region priced.
    pub region: String,
    /// Lines grouped by stack kind (network, data, cluster, edge, sites).
    pub lines: Vec<CostLine>,
    /// Sum of the lines.
    pub total_monthly_usd: f64,
    /// Which prices the table reflects.
    pub price_date: String,
    /// What the estimate assumes, in words.
    pub assumptions: Vec<String>,
}

/// Why no estimate can be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CostError {
    #[error("region `{region}` has no prices in idealstack's table: supported regions are {known}")]
    UnknownRegion { region: String, known: String },
    #[error(
        "instance type `{instance_type}` has no price in idealstack's table: known types are {known}"
    )]
    UnknownInstanceType {
        instance_type: String,
        known: String,
    },
    #[error(
        "database class `{class}` has no price in idealstack's table: known classes are {known}"
    )]
    UnknownDatabaseClass { class: String, known: String },
}

/// The region prices for `code`.
///
/// # Errors
/// [`CostError::UnknownRegion`] naming the supported regions.
pub fn region_prices(code: &str) -> Result<&'static RegionPrices, CostError> {
    prices::REGIONS
        .iter()
        .find(|r| r.code == code)
        .ok_or_else(|| CostError::UnknownRegion {
            region: code.to_owned(),
            known: prices::REGIONS
                .iter()
                .map(|r| r.code)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

struct Lines(Vec<CostLine>);

impl Lines {
    fn add(&mut self, stack: &str, item: &str, quantity: String, usd: f64) {
        self.0.push(CostLine {
            stack: stack.to_owned(),
            item: item.to_owned(),
            quantity,
            monthly_usd: cents(usd),
        });
    }
}

/// Estimates the monthly cost of a stack. Pure.
///
/// # Errors
/// [`CostError`] for an unknown region, instance type or database class.
pub fn estimate(input: &CostInput) -> Result<CostEstimate, CostError> {
    let r = region_prices(&input.region)?;
    let a = &input.assumptions;
    let h = HOURS_PER_MONTH;
    let instance_hour =
        prices::lookup(prices::INSTANCES, &input.instance_type).ok_or_else(|| {
            CostError::UnknownInstanceType {
                instance_type: input.instance_type.clone(),
                known: prices::names(prices::INSTANCES),
            }
        })? * r.ec2_factor;
    let db = match &input.database {
        Some(d) => {
            let hour = prices::lookup(prices::DB_CLASSES, &d.class).ok_or_else(|| {
                CostError::UnknownDatabaseClass {
                    class: d.class.clone(),
                    known: prices::names(prices::DB_CLASSES),
                }
            })? * r.rds_factor;
            Some((d, hour))
        }
        None => None,
    };
    let azs = f64::from(input.availability_zones);
    let mut l = Lines(Vec::new());

    let nat = f64::from(input.nat_gateways);
    if input.nat_gateways > 0 {
        l.add(
            "network",
            "NAT gateway hours",
            format!("{nat} x {h} h x ${}/h", r.nat_hour),
            nat * h * r.nat_hour,
        );
        l.add(
            "network",
            "NAT gateway data processed",
            format!("{} GB x ${}/GB (assumed)", a.nat_gb_per_month, r.nat_gb),
            a.nat_gb_per_month * r.nat_gb,
        );
        l.add(
            "network",
            "public IPv4 addresses (NAT)",
            format!("{nat} x {h} h x ${PUBLIC_IPV4_HOUR}/h"),
            nat * h * PUBLIC_IPV4_HOUR,
        );
    }
    l.add(
        "network",
        "VPC flow logs ingestion",
        format!("{} GB x ${}/GB (assumed)", a.flow_log_gb, r.logs_ingest_gb),
        a.flow_log_gb * r.logs_ingest_gb,
    );

    if let Some((d, hour)) = db {
        let copies = if d.multi_az { 2.0 } else { 1.0 };
        let engine = match d.engine {
            DbEngine::Mysql => "MySQL",
            DbEngine::Mariadb => "MariaDB",
        };
        let az = if d.multi_az { "Multi-AZ" } else { "single-AZ" };
        l.add(
            "data",
            &format!("RDS {engine} {} ({az})", d.class),
            format!("{copies} x {h} h x ${:.4}/h", hour),
            copies * h * hour,
        );
        let gb = f64::from(d.storage_gb);
        l.add(
            "data",
            "RDS gp3 storage",
            format!("{copies} x {gb} GB x ${}/GB-month", r.rds_gp3_gb_month),
            copies * gb * r.rds_gp3_gb_month,
        );
        l.add(
            "data",
            "Secrets Manager (managed master password)",
            format!("1 x ${SECRET_MONTH}"),
            SECRET_MONTH,
        );
    }
    let sites = f64::from(input.sites);
    let efs_gb = sites * a.efs_gb_per_site;
    l.add(
        "data",
        "EFS Standard storage",
        format!(
            "{efs_gb} GB x ${}/GB-month ({} GB per site assumed)",
            r.efs_standard_gb_month, a.efs_gb_per_site
        ),
        efs_gb * r.efs_standard_gb_month,
    );
    let writes = sites * a.session_writes_million_per_site;
    let reads = sites * a.session_reads_million_per_site;
    l.add(
        "data",
        "DynamoDB sessions, on-demand writes",
        format!("{writes} M x ${}/M (assumed)", r.dynamodb_write_million),
        writes * r.dynamodb_write_million,
    );
    l.add(
        "data",
        "DynamoDB sessions, on-demand reads",
        format!("{reads} M x ${}/M (assumed)", r.dynamodb_read_million),
        reads * r.dynamodb_read_million,
    );
    let kms = f64::from(input.kms_keys);
    if input.kms_keys > 0 {
        l.add(
            "data",
            "KMS keys",
            format!("{kms} x ${KMS_KEY_MONTH}/month"),
            kms * KMS_KEY_MONTH,
        );
    }
    l.add(
        "data",
        "S3 log/artifact bucket",
        format!(
            "{} GB x ${}/GB-month (assumed)",
            a.bucket_gb, r.s3_standard_gb_month
        ),
        a.bucket_gb * r.s3_standard_gb_month,
    );

    let n = f64::from(input.min_instances);
    l.add(
        "cluster",
        &format!("EC2 {} instances (minimum)", input.instance_type),
        format!("{n} x {h} h x ${:.4}/h", instance_hour),
        n * h * instance_hour,
    );
    let ebs = n * a.ebs_gb_per_instance;
    l.add(
        "cluster",
        "EBS gp3 root volumes",
        format!("{ebs} GB x ${}/GB-month", r.ebs_gp3_gb_month),
        ebs * r.ebs_gp3_gb_month,
    );
    let nlbs = f64::from(input.nlbs);
    if input.nlbs > 0 {
        l.add(
            "cluster",
            "NLB hours (SFTP)",
            format!("{nlbs} x {h} h x ${}/h", r.nlb_hour),
            nlbs * h * r.nlb_hour,
        );
        l.add(
            "cluster",
            "NLB capacity units",
            format!(
                "{nlbs} x {} NLCU x {h} h x ${}/h (assumed)",
                a.nlcu_per_nlb, r.nlb_nlcu_hour
            ),
            nlbs * a.nlcu_per_nlb * h * r.nlb_nlcu_hour,
        );
        l.add(
            "cluster",
            "public IPv4 addresses (NLB)",
            format!("{} x {h} h x ${PUBLIC_IPV4_HOUR}/h", nlbs * azs),
            nlbs * azs * h * PUBLIC_IPV4_HOUR,
        );
    }
    l.add(
        "cluster",
        "CloudWatch Logs ingestion (cluster)",
        format!(
            "{} GB x ${}/GB (assumed)",
            a.cluster_log_gb, r.logs_ingest_gb
        ),
        a.cluster_log_gb * r.logs_ingest_gb,
    );

    let albs = f64::from(input.albs);
    if input.albs > 0 {
        l.add(
            "edge",
            "ALB hours",
            format!("{albs} x {h} h x ${}/h", r.alb_hour),
            albs * h * r.alb_hour,
        );
        l.add(
            "edge",
            "ALB capacity units",
            format!(
                "{albs} x {} LCU x {h} h x ${}/h (assumed)",
                a.lcu_per_alb, r.alb_lcu_hour
            ),
            albs * a.lcu_per_alb * h * r.alb_lcu_hour,
        );
        l.add(
            "edge",
            "public IPv4 addresses (ALB)",
            format!("{} x {h} h x ${PUBLIC_IPV4_HOUR}/h", albs * azs),
            albs * azs * h * PUBLIC_IPV4_HOUR,
        );
    }

    let log_gb = sites * a.log_gb_per_site;
    l.add(
        "sites",
        "CloudWatch Logs ingestion (sites)",
        format!(
            "{log_gb} GB x ${}/GB ({} GB per site assumed)",
            r.logs_ingest_gb, a.log_gb_per_site
        ),
        log_gb * r.logs_ingest_gb,
    );
    l.add(
        "sites",
        "CloudWatch Logs storage (one month kept)",
        format!("{log_gb} GB x ${}/GB-month", r.logs_storage_gb_month),
        log_gb * r.logs_storage_gb_month,
    );

    let total = cents(l.0.iter().map(|x| x.monthly_usd).sum());
    let mut assumptions = vec![
        format!(
            "An estimate from AWS public on-demand prices ({}), {h} hours a month, before tax, \
             without free tier, Savings Plans or Reserved Instances.",
            prices::PRICE_DATE
        ),
        "Instance and database prices outside us-east-1 are us-east-1 prices times a regional factor."
            .to_owned(),
        format!("The cluster runs its minimum of {} instances all month; scaling out adds to this.", input.min_instances),
        format!("{} GB a month through NAT gateways.", a.nat_gb_per_month),
        format!("{} LCU per ALB and {} NLCU per NLB on average.", a.lcu_per_alb, a.nlcu_per_nlb),
        format!("{} GB of EFS Standard storage per site.", a.efs_gb_per_site),
        format!(
            "{} million session writes and {} million reads per site a month (items under 1 KB); \
             session table storage is negligible.",
            a.session_writes_million_per_site, a.session_reads_million_per_site
        ),
        format!(
            "{} GB of logs per site, {} GB for the cluster and {} GB of flow logs a month; site logs kept one month (storage of the cluster's and flow logs, cents a month, not included).",
            a.log_gb_per_site, a.cluster_log_gb, a.flow_log_gb
        ),
        "Not included: data transfer to the internet, SES messages, EFS and RDS backups beyond the \
         free allowance, ACM certificates (free for public certificates)."
            .to_owned(),
    ];
    if input.database.is_none() {
        assumptions.push("No database instance.".to_owned());
    }
    Ok(CostEstimate {
        region: r.code.to_owned(),
        lines: l.0,
        total_monthly_usd: total,
        price_date: prices::PRICE_DATE.to_owned(),
        assumptions,
    })
}

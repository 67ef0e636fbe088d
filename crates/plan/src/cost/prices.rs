//! The built-in price table: AWS public on-demand prices (Linux, no Reserved Instances or Savings
//! Plans), as published on AWS's pricing pages in mid-2025 and known to the author. It is an
//! **estimate**: AWS changes prices; check the AWS Pricing Calculator before budgeting.
//!
//! Instance and database prices are listed for us-east-1; other regions apply a regional factor
//! (the ratio of that region's price to us-east-1's for the same type, which AWS keeps nearly
//! constant within a region). Per-unit service prices are listed per region.

/// The date the table reflects.
pub const PRICE_DATE: &str = "2025-06 (AWS public on-demand prices, Linux; estimate)";

/// Hours in the month the estimate uses.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Public IPv4 address, per hour (every region).
pub const PUBLIC_IPV4_HOUR: f64 = 0.005;

/// KMS customer-managed key, per month (every region).
pub const KMS_KEY_MONTH: f64 = 1.0;

/// Secrets Manager secret, per month (every region): RDS's managed master password.
pub const SECRET_MONTH: f64 = 0.40;

/// Per-unit prices of one region.
#[derive(Debug, Clone, Copy)]
pub struct RegionPrices {
    pub code: &'static str,
    /// EC2 price relative to us-east-1.
    pub ec2_factor: f64,
    /// RDS instance price relative to us-east-1.
    pub rds_factor: f64,
    pub nat_hour: f64,
    pub nat_gb: f64,
    pub alb_hour: f64,
    pub alb_lcu_hour: f64,
    pub nlb_hour: f64,
    pub nlb_nlcu_hour: f64,
    pub ebs_gp3_gb_month: f64,
    pub rds_gp3_gb_month: f64,
    pub efs_standard_gb_month: f64,
    pub dynamodb_write_million: f64,
    pub dynamodb_read_million: f64,
    pub dynamodb_gb_month: f64,
    pub logs_ingest_gb: f64,
    pub logs_storage_gb_month: f64,
    pub s3_standard_gb_month: f64,
}

/// The supported regions.
pub const REGIONS: &[RegionPrices] = &[
    RegionPrices {
        code: "us-east-1",
        ec2_factor: 1.0,
        rds_factor: 1.0,
        nat_hour: 0.045,
        nat_gb: 0.045,
        alb_hour: 0.0225,
        alb_lcu_hour: 0.008,
        nlb_hour: 0.0225,
        nlb_nlcu_hour: 0.006,
        ebs_gp3_gb_month: 0.08,
        rds_gp3_gb_month: 0.115,
        efs_standard_gb_month: 0.30,
        dynamodb_write_million: 0.625,
        dynamodb_read_million: 0.125,
        dynamodb_gb_month: 0.25,
        logs_ingest_gb: 0.50,
        logs_storage_gb_month: 0.03,
        s3_standard_gb_month: 0.023,
    },
    RegionPrices {
        code: "us-west-2",
        ec2_factor: 1.0,
        rds_factor: 1.0,
        nat_hour: 0.045,
        nat_gb: 0.045,
        alb_hour: 0.0225,
        alb_lcu_hour: 0.008,
        nlb_hour: 0.0225,
        nlb_nlcu_hour: 0.006,
        ebs_gp3_gb_month: 0.08,
        rds_gp3_gb_month: 0.115,
        efs_standard_gb_month: 0.30,
        dynamodb_write_million: 0.625,
        dynamodb_read_million: 0.125,
        dynamodb_gb_month: 0.25,
        logs_ingest_gb: 0.50,
        logs_storage_gb_month: 0.03,
        s3_standard_gb_month: 0.023,
    },
    RegionPrices {
        code: "eu-west-1",
        ec2_factor: 1.11,
        rds_factor: 1.08,
        nat_hour: 0.048,
        nat_gb: 0.048,
        alb_hour: 0.0252,
        alb_lcu_hour: 0.008,
        nlb_hour: 0.0252,
        nlb_nlcu_hour: 0.006,
        ebs_gp3_gb_month: 0.088,
        rds_gp3_gb_month: 0.127,
        efs_standard_gb_month: 0.33,
        dynamodb_write_million: 0.7069,
        dynamodb_read_million: 0.1414,
        dynamodb_gb_month: 0.283,
        logs_ingest_gb: 0.57,
        logs_storage_gb_month: 0.03,
        s3_standard_gb_month: 0.023,
    },
    RegionPrices {
        code: "eu-central-1",
        ec2_factor: 1.17,
        rds_factor: 1.16,
        nat_hour: 0.052,
        nat_gb: 0.052,
        alb_hour: 0.027,
        alb_lcu_hour: 0.008,
        nlb_hour: 0.027,
        nlb_nlcu_hour: 0.006,
        ebs_gp3_gb_month: 0.0952,
        rds_gp3_gb_month: 0.137,
        efs_standard_gb_month: 0.36,
        dynamodb_write_million: 0.7625,
        dynamodb_read_million: 0.1525,
        dynamodb_gb_month: 0.306,
        logs_ingest_gb: 0.63,
        logs_storage_gb_month: 0.0324,
        s3_standard_gb_month: 0.0245,
    },
    RegionPrices {
        code: "ap-southeast-2",
        ec2_factor: 1.26,
        rds_factor: 1.24,
        nat_hour: 0.059,
        nat_gb: 0.059,
        alb_hour: 0.0252,
        alb_lcu_hour: 0.008,
        nlb_hour: 0.0252,
        nlb_nlcu_hour: 0.006,
        ebs_gp3_gb_month: 0.096,
        rds_gp3_gb_month: 0.138,
        efs_standard_gb_month: 0.36,
        dynamodb_write_million: 0.7116,
        dynamodb_read_million: 0.1423,
        dynamodb_gb_month: 0.285,
        logs_ingest_gb: 0.70,
        logs_storage_gb_month: 0.033,
        s3_standard_gb_month: 0.025,
    },
];

/// EC2 on-demand Linux price per hour in us-east-1.
pub const INSTANCES: &[(&str, f64)] = &[
    ("t3.medium", 0.0416),
    ("t3.large", 0.0832),
    ("t3.xlarge", 0.1664),
    ("t3.2xlarge", 0.3328),
    ("t3a.medium", 0.0376),
    ("t3a.large", 0.0752),
    ("t3a.xlarge", 0.1504),
    ("t3a.2xlarge", 0.3008),
    ("t4g.medium", 0.0336),
    ("t4g.large", 0.0672),
    ("t4g.xlarge", 0.1344),
    ("t4g.2xlarge", 0.2688),
    ("m6i.large", 0.096),
    ("m6i.xlarge", 0.192),
    ("m6i.2xlarge", 0.384),
    ("m6g.medium", 0.0385),
    ("m6g.large", 0.077),
    ("m6g.xlarge", 0.154),
    ("m6g.2xlarge", 0.308),
    ("m7i.large", 0.1008),
    ("m7i.xlarge", 0.2016),
    ("m7i.2xlarge", 0.4032),
    ("m7g.medium", 0.0408),
    ("m7g.large", 0.0816),
    ("m7g.xlarge", 0.1632),
    ("m7g.2xlarge", 0.3264),
    ("c6i.large", 0.085),
    ("c6i.xlarge", 0.17),
    ("c6i.2xlarge", 0.34),
    ("c7g.medium", 0.0363),
    ("c7g.large", 0.0725),
    ("c7g.xlarge", 0.145),
    ("c7g.2xlarge", 0.29),
];

/// RDS for MySQL / MariaDB (same price) single-AZ on-demand price per hour in us-east-1. A
/// Multi-AZ deployment (one standby) costs twice as much.
pub const DB_CLASSES: &[(&str, f64)] = &[
    ("db.t3.micro", 0.017),
    ("db.t3.small", 0.034),
    ("db.t3.medium", 0.068),
    ("db.t3.large", 0.136),
    ("db.t4g.micro", 0.016),
    ("db.t4g.small", 0.032),
    ("db.t4g.medium", 0.065),
    ("db.t4g.large", 0.129),
    ("db.m6g.large", 0.152),
    ("db.m6g.xlarge", 0.304),
    ("db.m6g.2xlarge", 0.608),
    ("db.m7g.large", 0.168),
    ("db.m7g.xlarge", 0.337),
    ("db.m7g.2xlarge", 0.674),
];

/// Looks a name up in a price list.
pub fn lookup(table: &[(&str, f64)], name: &str) -> Option<f64> {
    table.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// The names of a price list, comma separated.
pub fn names(table: &[(&str, f64)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

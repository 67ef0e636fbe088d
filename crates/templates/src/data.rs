//! The `<stack>-data` stack: every stateful resource of the stack. A customer-managed KMS key,
//! EFS (encrypted, mount target per AZ, backups, TLS-only policy), RDS MySQL/MariaDB (optional),
//! the DynamoDB sessions table, the state bucket and the access-log bucket. Every stateful
//! resource is Retain (or Snapshot for RDS); [`data_stack_policy`] protects them from replacement.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cfn::{Template, ga, if_, no_value, r, select, sub};
use crate::iam::{allow, inline, trust};
use crate::options::{DataOptions, DatabaseOptions, DbEngine};
use crate::{ParameterValue, StackKind, StackSpec, data_stack_name, network_stack_name, spec};

/// Logical ids of the stateful resources (the stack policy denies replacing or deleting them).
fn stateful_ids(o: &DataOptions) -> Vec<&'static str> {
    let mut ids = vec![
        "Key",
        "FileSystem",
        "SessionsTable",
        "StateBucket",
        "AccessLogBucket",
    ];
    if o.database.is_some() {
        ids.push("Database");
    }
    ids
}

/// The stack policy of the data stack: updates may modify anything but never replace or delete a
/// stateful resource. The deployer sets it together with termination protection.
pub fn data_stack_policy(o: &DataOptions) -> Value {
    let resources: Vec<String> = stateful_ids(o)
        .iter()
        .map(|id| format!("LogicalResourceId/{id}"))
        .collect();
    json!({
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["Update:Modify", "Update:Replace", "Update:Delete"],
                "Resource": "*",
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["Update:Replace", "Update:Delete"],
                "Resource": resources,
            },
        ]
    })
}

/// `database` for site containers: a private zone of the VPC with a CNAME to the RDS endpoint
/// (which follows a fail-over or a replacement); site containers search the zone.
fn database_name(t: &mut Template, o: &DataOptions) {
    let zone = crate::private_domain(&o.stack);
    t.resource(
        "PrivateZone",
        "AWS::Route53::HostedZone",
        json!({
            "Name": zone,
            "HostedZoneConfig": { "Comment": format!("idealstack {}: names inside the VPC (database).", o.stack) },
            "VPCs": [{ "VPCId": r("VpcId"), "VPCRegion": r("AWS::Region") }],
        }),
    )
    .skip(&[
        (
            "CKV2_AWS_38",
            "A private zone answers only inside the stack's VPC; DNSSEC signing applies to public zones.",
        ),
        (
            "CKV2_AWS_39",
            "A private zone with one CNAME to the database; the VPC's resolver answers it and RDS logs the connections.",
        ),
    ]);
    t.resource(
        "DatabaseName",
        "AWS::Route53::RecordSet",
        json!({
            "HostedZoneId": r("PrivateZone"),
            "Name": format!("{}.{zone}", crate::DATABASE_HOST_NAME),
            "Type": "CNAME",
            "TTL": "60",
            "ResourceRecords": [ga("Database", "Endpoint.Address")],
        }),
    );
    t.output(
        "PrivateDomain",
        json!(zone),
        "Private DNS zone of the stack; `database` in it names the database.",
    );
}

/// The RDS parameter group family of an engine version: `mysql` + `8.0` for `8.0.40`.
pub fn parameter_group_family(engine: DbEngine, version: &str) -> String {
    let major_minor: Vec<&str> = version.split('.').take(2).collect();
    format!("{}{}", engine.as_str(), major_minor.join("."))
}

/// The AWS account Elastic Load Balancing writes access logs from, in Regions opened before
/// August 2022 (later Regions use the `logdelivery.elasticloadbalancing.amazonaws.com` service
/// principal, which the bucket policy always allows too).
const ELB_ACCOUNTS: [(&str, &str); 26] = [
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-south-1", "718504428378"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-southeast-3", "589379963580"),
    ("ca-central-1", "985666609251"),
    ("cn-north-1", "638102146993"),
    ("cn-northwest-1", "037604701340"),
    ("eu-central-1", "054676820928"),
    ("eu-north-1", "897822967062"),
    ("eu-south-1", "635631232127"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-gov-east-1", "190560391635"),
    ("us-gov-west-1", "048591011584"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
];

/// Builds the data stack.
pub fn data(o: &DataOptions) -> StackSpec {
    let name = data_stack_name(&o.stack);
    let network = network_stack_name(&o.stack);
    let mut t = Template::new(&format!(
        "idealstack {name}: stateful resources of stack {} - KMS key, EFS, {}DynamoDB sessions \
         table, state and access-log buckets. Every stateful resource is retained on delete and \
         replace; the deployer adds termination protection and a stack policy.",
        o.stack,
        if o.database.is_some() { "RDS, " } else { "" }
    ));
    let mut params = BTreeMap::new();
    t.param(
        "PrivateSubnetIds",
        "List<AWS::EC2::Subnet::Id>",
        "Private subnets, one per AZ (from the network stack).",
    );
    params.insert(
        "PrivateSubnetIds".into(),
        ParameterValue::from_output(&network, "PrivateSubnetIds"),
    );
    t.param(
        "EfsSecurityGroupId",
        "AWS::EC2::SecurityGroup::Id",
        "Security group of the EFS mount targets (from the network stack).",
    );
    params.insert(
        "EfsSecurityGroupId".into(),
        ParameterValue::from_output(&network, "EfsSecurityGroupId"),
    );

    key(&mut t, o);
    file_system(&mut t, o);
    sessions_table(&mut t);
    buckets(&mut t, o);
    if let Some(db) = &o.database {
        t.param(
            "DatabaseSecurityGroupId",
            "AWS::EC2::SecurityGroup::Id",
            "Security group of the database (from the network stack).",
        );
        params.insert(
            "DatabaseSecurityGroupId".into(),
            ParameterValue::from_output(&network, "DatabaseSecurityGroupId"),
        );
        t.param(
            "VpcId",
            "AWS::EC2::VPC::Id",
            "The VPC the private zone naming the database is visible in (from the network stack).",
        );
        params.insert(
            "VpcId".into(),
            ParameterValue::from_output(&network, "VpcId"),
        );
        database(&mut t, o, db);
        database_name(&mut t, o);
    }
    spec(
        name,
        StackKind::Data,
        t.finish(),
        params,
        &o.stack,
        &o.tags,
        &[],
    )
}

fn root_principal() -> Value {
    json!({ "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") })
}

fn key(t: &mut Template, o: &DataOptions) {
    let services: Vec<Value> = [
        "elasticfilesystem",
        "rds",
        "dynamodb",
        "s3",
        "secretsmanager",
    ]
    .iter()
    .map(|s| sub(&format!("{s}.${{AWS::Region}}.amazonaws.com")))
    .collect();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": root_principal(),
                "Action": [
                    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey",
                    "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
                    "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants",
                    "kms:ListKeyPolicies", "kms:ListKeyRotations", "kms:ListResourceTags", "kms:PutKeyPolicy",
                    "kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
                    "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
                ],
                "Resource": "*",
            },
            {
                "Sid": "AccountUsesTheKeyThroughItsServices",
                "Effect": "Allow",
                "Principal": root_principal(),
                "Action": [
                    "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
                    "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ListGrants",
                    "kms:ReEncryptFrom", "kms:ReEncryptTo",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": r("AWS::AccountId"),
                        "kms:ViaService": services,
                    }
                },
            },
            {
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": { "Service": sub("logs.${AWS::Region}.amazonaws.com") },
                "Action": [
                    "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn":
                            sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")
                    }
                },
            },
        ],
    });
    t.resource(
        "Key",
        "AWS::KMS::Key",
        json!({
            "Description": format!("idealstack {}: encrypts EFS, RDS, DynamoDB, the state bucket, secrets and log groups.", o.stack),
            "EnableKeyRotation": true,
            "PendingWindowInDays": 30,
            "KeyPolicy": policy,
        }),
    )
    .retain();
    t.resource(
        "KeyAlias",
        "AWS::KMS::Alias",
        json!({ "AliasName": format!("alias/idealstack/{}", o.stack), "TargetKeyId": r("Key") }),
    );
    t.output(
        "KmsKeyArn",
        ga("Key", "Arn"),
        "The stack's customer-managed KMS key.",
    );
}

fn file_system(t: &mut Template, o: &DataOptions) {
    let efs_client_actions = json!([
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
        "elasticfilesystem:ClientRootAccess"
    ]);
    t.resource(
        "FileSystem",
        "AWS::EFS::FileSystem",
        json!({
            "Encrypted": true,
            "KmsKeyId": ga("Key", "Arn"),
            "PerformanceMode": "generalPurpose",
            "ThroughputMode": "elastic",
            "BackupPolicy": { "Status": "ENABLED" },
            "LifecyclePolicies": [
                { "TransitionToIA": o.efs_transition_to_ia },
                { "TransitionToPrimaryStorageClass": "AFTER_1_ACCESS" },
            ],
            "FileSystemTags": [{ "Key": "Name", "Value": sub("${AWS::StackName}-sites") }],
            "FileSystemPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyWithoutTls",
                        "Effect": "Deny",
                        "Principal": { "AWS": "*" },
                        "Action": efs_client_actions,
                        "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                    },
                    {
                        "Sid": "AccountClientsThroughMountTargets",
                        "Effect": "Allow",
                        "Principal": root_principal(),
                        "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                        "Condition": { "Bool": { "elasticfilesystem:AccessedViaMountTarget": "true" } },
                    },
                ],
            },
        }),
    )
    .retain();
    for i in 0..o.az_count {
        t.resource(
            &format!("MountTarget{}", i + 1),
            "AWS::EFS::MountTarget",
            json!({
                "FileSystemId": r("FileSystem"),
                "SubnetId": select(i, r("PrivateSubnetIds")),
                "SecurityGroups": [r("EfsSecurityGroupId")],
            }),
        );
    }
    t.output(
        "FileSystemId",
        r("FileSystem"),
        "The sites' EFS file system.",
    );
    t.output(
        "FileSystemArn",
        ga("FileSystem", "Arn"),
        "ARN of the sites' EFS file system.",
    );
}

fn sessions_table(t: &mut Template) {
    t.resource(
        "SessionsTable",
        "AWS::DynamoDB::Table",
        json!({
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{ "AttributeName": "id", "AttributeType": "S" }],
            "KeySchema": [{ "AttributeName": "id", "KeyType": "HASH" }],
            "TimeToLiveSpecification": { "AttributeName": "expires", "Enabled": true },
            "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
            "SSESpecification": { "SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": ga("Key", "Arn") },
            "DeletionProtectionEnabled": true,
        }),
    )
    .retain();
    t.output(
        "SessionsTableName",
        r("SessionsTable"),
        "The PHP sessions table.",
    );
    t.output(
        "SessionsTableArn",
        ga("SessionsTable", "Arn"),
        "ARN of the PHP sessions table.",
    );
}

fn deny_insecure_transport(bucket: &str) -> Value {
    json!({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": { "AWS": "*" },
        "Action": "s3:*",
        "Resource": [ga(bucket, "Arn"), sub(&format!("${{{bucket}.Arn}}/*"))],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } },
    })
}

fn block_public() -> Value {
    json!({
        "BlockPublicAcls": true,
        "BlockPublicPolicy": true,
        "IgnorePublicAcls": true,
        "RestrictPublicBuckets": true,
    })
}

fn buckets(t: &mut Template, o: &DataOptions) {
    t.resource(
        "AccessLogBucket",
        "AWS::S3::Bucket",
        json!({
            "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
            ]},
            "PublicAccessBlockConfiguration": block_public(),
            "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
            "VersioningConfiguration": { "Status": "Enabled" },
            "LifecycleConfiguration": { "Rules": [{
                "Id": "expire-access-logs",
                "Status": "Enabled",
                "ExpirationInDays": o.access_log_expiry_days,
                "NoncurrentVersionExpiration": { "NoncurrentDays": 1 },
                "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 },
            }]},
        }),
    )
    .retain()
    .skip(&[
        (
            "CKV_AWS_145",
            "ALB access log delivery only supports SSE-S3 (AES256) on the destination bucket, \
             not SSE-KMS; this bucket holds only access logs.",
        ),
        (
            "CKV_AWS_18",
            "This is the access-log bucket itself; logging it into itself would log its own \
             log deliveries forever.",
        ),
    ]);

    let mut legacy_regions: Vec<Value> = ELB_ACCOUNTS
        .iter()
        .map(|(region, _)| json!({ "Fn::Equals": [r("AWS::Region"), region] }))
        .collect();
    let mut groups = Vec::new();
    while !legacy_regions.is_empty() {
        let rest = legacy_regions.split_off(legacy_regions.len().min(10));
        groups.push(json!({ "Fn::Or": legacy_regions }));
        legacy_regions = rest;
    }
    t.condition("RegionHasElbAccount", json!({ "Fn::Or": groups }));
    let accounts: serde_json::Map<String, Value> = ELB_ACCOUNTS
        .iter()
        .map(|(region, account)| ((*region).to_string(), json!({ "AccountId": account })))
        .collect();
    t.mapping("ElbLogDeliveryAccount", Value::Object(accounts));
    let alb_logs = sub("${AccessLogBucket.Arn}/alb/*/AWSLogs/${AWS::AccountId}/*");
    t.resource(
        "AccessLogBucketPolicy",
        "AWS::S3::BucketPolicy",
        json!({
            "Bucket": r("AccessLogBucket"),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AlbLogDelivery",
                        "Effect": "Allow",
                        "Principal": { "Service": "logdelivery.elasticloadbalancing.amazonaws.com" },
                        "Action": "s3:PutObject",
                        "Resource": alb_logs,
                    },
                    if_("RegionHasElbAccount", json!({
                        "Sid": "AlbLogDeliveryLegacyRegion",
                        "Effect": "Allow",
                        "Principal": { "AWS": { "Fn::Sub": [
                            "arn:${AWS::Partition}:iam::${ElbAccount}:root",
                            { "ElbAccount": { "Fn::FindInMap": ["ElbLogDeliveryAccount", r("AWS::Region"), "AccountId"] } },
                        ]}},
                        "Action": "s3:PutObject",
                        "Resource": alb_logs,
                    }), no_value()),
                    {
                        "Sid": "S3ServerAccessLogDelivery",
                        "Effect": "Allow",
                        "Principal": { "Service": "logging.s3.amazonaws.com" },
                        "Action": "s3:PutObject",
                        "Resource": sub("${AccessLogBucket.Arn}/s3/*"),
                        "Condition": {
                            "StringEquals": { "aws:SourceAccount": r("AWS::AccountId") },
                            "ArnLike": { "aws:SourceArn": ga("StateBucket", "Arn") },
                        },
                    },
                    deny_insecure_transport("AccessLogBucket"),
                ],
            },
        }),
    );

    t.resource(
        "StateBucket",
        "AWS::S3::Bucket",
        json!({
            "BucketEncryption": { "ServerSideEncryptionConfiguration": [{
                "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ga("Key", "Arn") },
                "BucketKeyEnabled": true,
            }]},
            "PublicAccessBlockConfiguration": block_public(),
            "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
            "VersioningConfiguration": { "Status": "Enabled" },
            "LoggingConfiguration": { "DestinationBucketName": r("AccessLogBucket"), "LogFilePrefix": "s3/state/" },
            "LifecycleConfiguration": { "Rules": [{
                "Id": "expire-old-versions",
                "Status": "Enabled",
                "NoncurrentVersionExpiration": { "NoncurrentDays": o.state_noncurrent_expiry_days },
                "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 },
            }]},
        }),
    )
    .retain();
    t.resource(
        "StateBucketPolicy",
        "AWS::S3::BucketPolicy",
        json!({
            "Bucket": r("StateBucket"),
            "PolicyDocument": { "Version": "2012-10-17", "Statement": [deny_insecure_transport("StateBucket")] },
        }),
    );
    t.output(
        "StateBucketName",
        r("StateBucket"),
        "Bucket of the resolved manifest, artifacts and state.",
    );
    t.output(
        "StateBucketArn",
        ga("StateBucket", "Arn"),
        "ARN of the state bucket.",
    );
    t.output(
        "AccessLogBucketName",
        r("AccessLogBucket"),
        "Bucket of ALB and S3 access logs.",
    );
}

fn database(t: &mut Template, o: &DataOptions, db: &DatabaseOptions) {
    let family = parameter_group_family(db.engine, &db.engine_version);
    t.resource(
        "DatabaseSubnetGroup",
        "AWS::RDS::DBSubnetGroup",
        json!({
            "DBSubnetGroupDescription": format!("idealstack {}: private subnets of the database", o.stack),
            "SubnetIds": r("PrivateSubnetIds"),
        }),
    );
    t.resource(
        "DatabaseParameterGroup",
        "AWS::RDS::DBParameterGroup",
        json!({
            "Description": format!("idealstack {}: TLS required, slow query log", o.stack),
            "Family": family,
            "Parameters": {
                "require_secure_transport": "1",
                "slow_query_log": "1",
                "long_query_time": "2",
                "log_output": "FILE",
            },
        }),
    );
    let instance_id = format!("{}-db", o.stack);
    let log_types = ["error", "slowquery"];
    let mut log_groups = Vec::new();
    for (i, kind) in log_types.iter().enumerate() {
        let id = format!("DatabaseLogGroup{}", i + 1);
        t.resource(
            &id,
            "AWS::Logs::LogGroup",
            json!({
                "LogGroupName": format!("/aws/rds/instance/{instance_id}/{kind}"),
                "RetentionInDays": o.log_retention_days,
                "KmsKeyId": ga("Key", "Arn"),
            }),
        )
        .retain();
        log_groups.push(id);
    }
    let monitoring = db.monitoring_interval_seconds > 0;
    if monitoring {
        t.resource(
            "DatabaseMonitoringRole",
            "AWS::IAM::Role",
            json!({
                "Description": "Lets RDS enhanced monitoring publish OS metrics of the database.",
                "AssumeRolePolicyDocument": trust("monitoring.rds.amazonaws.com", None, true),
                "Policies": [inline("enhanced-monitoring", vec![
                    allow(
                        "CreateMetricsLogGroup",
                        &["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                        json!([sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:RDS*")]),
                    ),
                    allow(
                        "WriteMetrics",
                        &["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:GetLogEvents", "logs:PutLogEvents"],
                        json!([sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:RDS*:log-stream:*")]),
                    ),
                ])],
            }),
        );
    }
    let mut props = json!({
        "DBInstanceIdentifier": instance_id,
        "Engine": db.engine.as_str(),
        "EngineVersion": db.engine_version,
        "DBInstanceClass": db.instance_class,
        "AllocatedStorage": db.storage_gb.to_string(),
        "StorageType": "gp3",
        "StorageEncrypted": true,
        "KmsKeyId": ga("Key", "Arn"),
        "MultiAZ": db.multi_az,
        "DBSubnetGroupName": r("DatabaseSubnetGroup"),
        "VPCSecurityGroups": [r("DatabaseSecurityGroupId")],
        "DBParameterGroupName": r("DatabaseParameterGroup"),
        "PubliclyAccessible": false,
        "MasterUsername": "idealstack",
        "ManageMasterUserPassword": true,
        "MasterUserSecret": { "KmsKeyId": ga("Key", "Arn") },
        "DeletionProtection": true,
        "BackupRetentionPeriod": db.backup_retention_days,
        "PreferredBackupWindow": "02:00-03:00",
        "PreferredMaintenanceWindow": "sun:03:30-sun:04:30",
        "CopyTagsToSnapshot": true,
        "EnableCloudwatchLogsExports": log_types,
        "AutoMinorVersionUpgrade": true,
        "EnableIAMDatabaseAuthentication": true,
        "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "MonitoringInterval": db.monitoring_interval_seconds,
        "MonitoringRoleArn": if monitoring { ga("DatabaseMonitoringRole", "Arn") } else { no_value() },
        "EnablePerformanceInsights": db.performance_insights,
    });
    if let Some(max) = db.max_storage_gb {
        props["MaxAllocatedStorage"] = json!(max);
    }
    if db.performance_insights {
        props["PerformanceInsightsKMSKeyId"] = ga("Key", "Arn");
        props["PerformanceInsightsRetentionPeriod"] = json!(7);
    }
    let mut skips = Vec::new();
    if !db.multi_az {
        skips.push((
            "CKV_AWS_157",
            "Multi-AZ is the user's choice in idealstack.toml (database.multi_az = false): a \
             standby doubles the instance cost; automated backups and snapshots remain.",
        ));
    }
    if !monitoring {
        skips.push((
            "CKV_AWS_118",
            "Enhanced monitoring is off in idealstack.toml (database.monitoring_interval = 0); \
             CloudWatch still has the instance metrics.",
        ));
    }
    let log_refs: Vec<&str> = log_groups.iter().map(String::as_str).collect();
    t.resource("Database", "AWS::RDS::DBInstance", props)
        .snapshot()
        .depends_on(&log_refs)
        .skip(&skips);
    t.output(
        "DatabaseEndpointAddress",
        ga("Database", "Endpoint.Address"),
        "Database host name.",
    );
    t.output(
        "DatabaseEndpointPort",
        ga("Database", "Endpoint.Port"),
        "Database port.",
    );
    t.output(
        "DatabaseMasterSecretArn",
        ga("Database", "MasterUserSecret.SecretArn"),
        "Secret of the database's master user (managed by RDS, read by the agent).",
    );
    t.output(
        "DatabaseInstanceId",
        r("Database"),
        "The RDS instance identifier.",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_group_family_is_engine_and_major_minor() {
        let check = |engine, version: &str, want: &str| {
            assert_eq!(parameter_group_family(engine, version), want, "{version}");
        };
        check(DbEngine::Mysql, "8.0.40", "mysql8.0");
        check(DbEngine::Mysql, "8.4.7", "mysql8.4");
        check(DbEngine::Mysql, "8.4", "mysql8.4");
        check(DbEngine::Mariadb, "10.11.10", "mariadb10.11");
        check(DbEngine::Mariadb, "11.4.5", "mariadb11.4");
    }
}

//! What AWS and PHP offer that a manifest may choose from: PHP branches, regions and their zones,
//! EC2 instance types, RDS classes and engine versions, ECS task sizes.
//!
//! Kept as data, close together, so a new PHP branch or region is a one-line change.

/// PHP branches with a runtime image: (version, note). 8.1 is kept for legacy sites only.
pub const PHP_VERSIONS: &[(&str, &str)] = &[
    ("8.1", "legacy: no longer supported by the PHP project"),
    ("8.2", "security fixes only"),
    ("8.3", ""),
    ("8.4", ""),
    ("8.5", ""),
];

/// The supported PHP versions as a human list: `8.1 (legacy), 8.2, ...`.
pub fn php_versions_text() -> String {
    PHP_VERSIONS
        .iter()
        .map(|(v, note)| {
            if note.starts_with("legacy") {
                format!("{v} (legacy)")
            } else {
                (*v).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Regions idealstack deploys to, with the zone letters every account has there.
/// `None`: the zone names differ between accounts; the manifest must list them.
pub const REGIONS: &[(&str, Option<&str>)] = &[
    ("us-east-1", Some("abc")),
    ("us-east-2", Some("abc")),
    ("us-west-1", None),
    ("us-west-2", Some("abc")),
    ("ca-central-1", Some("abd")),
    ("ca-west-1", Some("abc")),
    ("sa-east-1", Some("abc")),
    ("eu-west-1", Some("abc")),
    ("eu-west-2", Some("abc")),
    ("eu-west-3", Some("abc")),
    ("eu-central-1", Some("abc")),
    ("eu-central-2", Some("abc")),
    ("eu-north-1", Some("abc")),
    ("eu-south-1", Some("abc")),
    ("eu-south-2", Some("abc")),
    ("ap-south-1", Some("abc")),
    ("ap-south-2", Some("abc")),
    ("ap-southeast-1", Some("abc")),
    ("ap-southeast-2", Some("abc")),
    ("ap-southeast-3", Some("abc")),
    ("ap-southeast-4", Some("abc")),
    ("ap-northeast-1", Some("acd")),
    ("ap-northeast-2", Some("abc")),
    ("ap-northeast-3", Some("abc")),
    ("ap-east-1", Some("abc")),
    ("me-south-1", Some("abc")),
    ("me-central-1", Some("abc")),
    ("af-south-1", Some("abc")),
    ("il-central-1", Some("abc")),
];

/// CPU architecture of an instance type; one ASG runs one architecture (one AMI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Intel/AMD.
    X86_64,
    /// AWS Graviton.
    Arm64,
}

/// vCPUs and memory of an instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// Architecture.
    pub arch: Arch,
}

impl InstanceSpec {
    /// Memory ECS can give to tasks: the instance's less what the OS and the ECS agent keep.
    pub fn task_memory_mib(&self) -> u32 {
        self.memory_mib - (self.memory_mib / 16).max(384)
    }
}

/// Instance families: (family, GiB per vCPU or 0 for burstable, arch).
const FAMILIES: &[(&str, u32, Arch)] = &[
    ("t3", 0, Arch::X86_64),
    ("t3a", 0, Arch::X86_64),
    ("t4g", 0, Arch::Arm64),
    ("m5", 4, Arch::X86_64),
    ("m6i", 4, Arch::X86_64),
    ("m6a", 4, Arch::X86_64),
    ("m7i", 4, Arch::X86_64),
    ("m7a", 4, Arch::X86_64),
    ("m6g", 4, Arch::Arm64),
    ("m7g", 4, Arch::Arm64),
    ("c5", 2, Arch::X86_64),
    ("c6i", 2, Arch::X86_64),
    ("c6a", 2, Arch::X86_64),
    ("c7i", 2, Arch::X86_64),
    ("c6g", 2, Arch::Arm64),
    ("c7g", 2, Arch::Arm64),
    ("r6i", 8, Arch::X86_64),
    ("r7i", 8, Arch::X86_64),
    ("r6g", 8, Arch::Arm64),
    ("r7g", 8, Arch::Arm64),
];

/// The families idealstack knows, for error messages.
pub fn instance_families_text() -> String {
    FAMILIES.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
}

/// The spec of an instance type such as `t3.medium`, if idealstack knows it.
pub fn instance_spec(name: &str) -> Option<InstanceSpec> {
    let (family, size) = name.split_once('.')?;
    let &(_, per_vcpu, arch) = FAMILIES.iter().find(|f| f.0 == family)?;
    let (vcpus, memory_gib) = if per_vcpu == 0 {
        match size {
            "micro" => (2, 1),
            "small" => (2, 2),
            "medium" => (2, 4),
            "large" => (2, 8),
            "xlarge" => (4, 16),
            "2xlarge" => (8, 32),
            _ => return None,
        }
    } else {
        let vcpus = match size {
            "medium" if arch == Arch::Arm64 => 1,
            "large" => 2,
            "xlarge" => 4,
            "2xlarge" => 8,
            "4xlarge" => 16,
            "8xlarge" => 32,
            _ => return None,
        };
        (vcpus, vcpus * per_vcpu)
    };
    Some(InstanceSpec {
        vcpus,
        memory_mib: memory_gib * 1024,
        arch,
    })
}

/// Whether `class` is an RDS class idealstack knows (`db.t4g.medium`, `db.m7g.large`, ...).
pub fn is_db_class(class: &str) -> bool {
    let Some(rest) = class.strip_prefix("db.") else {
        return false;
    };
    let Some((family, size)) = rest.split_once('.') else {
        return false;
    };
    let burstable = matches!(family, "t3" | "t4g");
    let general = matches!(
        family,
        "m5" | "m6g" | "m6i" | "m7g" | "m7i" | "r5" | "r6g" | "r6i" | "r7g" | "r7i"
    );
    (burstable
        && matches!(
            size,
            "micro" | "small" | "medium" | "large" | "xlarge" | "2xlarge"
        ))
        || (general && matches!(size, "large" | "xlarge" | "2xlarge" | "4xlarge" | "8xlarge"))
}

/// Major versions RDS offers per engine under standard support, newest last (the default),
/// each with the full version a new database starts on. RDS then applies minor upgrades itself
/// (auto minor version upgrade is on); a later idealstack release raises the pinned floor.
/// (MySQL 8.0 and MariaDB 10.6 left standard support in 2026: extended support costs extra.)
pub fn engine_versions(engine: &str) -> &'static [(&'static str, &'static str)] {
    match engine {
        "mysql" => &[("8.4", "8.4.7")],
        "mariadb" => &[("10.11", "10.11.14"), ("11.4", "11.4.8")],
        _ => &[],
    }
}

/// ECS task sizes: (vCPU, CPU units, allowed memory in MiB). The same table as AWS Fargate's, so a
/// site's size is valid on every ECS capacity type.
pub const TASK_SIZES: &[(f64, u32, &[u32])] = &[
    (0.25, 256, &[512, 1024, 2048]),
    (0.5, 512, &[1024, 2048, 3072, 4096]),
    (1.0, 1024, &[2048, 3072, 4096, 5120, 6144, 7168, 8192]),
    (
        2.0,
        2048,
        &[
            4096, 5120, 6144, 7168, 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384,
        ],
    ),
    (
        4.0,
        4096,
        &[
            8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384, 17408, 18432, 19456,
            20480, 21504, 22528, 23552, 24576, 25600, 26624, 27648, 28672, 29696, 30720,
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            instance_spec("t3.medium"),
            Some(InstanceSpec {
                vcpus: 2,
                memory_mib: 4096,
                arch: Arch::X86_64
            })
        );
        assert_eq!(
            instance_spec("m7g.xlarge").map(|s| (s.vcpus, s.memory_mib)),
            Some((4, 16384))
        );
        assert_eq!(instance_spec("m6i.medium"), None);
        assert_eq!(instance_spec("x1.large"), None);
        assert!(
            is_db_class("db.t4g.medium")
                && !is_db_class("db.m7g.micro")
                && !is_db_class("t3.medium")
        );
    }
}

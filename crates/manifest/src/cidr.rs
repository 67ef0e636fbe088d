//! IPv4 CIDR blocks: parsing the VPC range and carving it into the subnets every zone gets.
//!
//! Layout of a VPC `/p` (p from 16 to 23): the first three quarters (`/p+2`) are the private
//! subnets of zones a, b, c (instances, tasks, database, file system); the last quarter is cut in
//! sixteenths (`/p+4`), the first three being the public subnets (load balancers, NAT gateways).
//! The layout does not depend on the zone count, so going from 2 to 3 zones adds subnets and moves
//! none. A `/23` gives `/27` public subnets: the smallest an Application Load Balancer accepts.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a string is not a usable VPC range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `a.b.c.d/n`.
    #[error("is not an IPv4 CIDR block like 10.0.0.0/16")]
    Syntax,
    /// Host bits set: `10.0.0.1/16`.
    #[error("has host bits set; the network address is {0}")]
    HostBits(String),
    /// Not in a private range.
    #[error("is not a private range; use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")]
    NotPrivate,
    /// Larger than a VPC may be.
    #[error("is larger than AWS allows for a VPC; use a prefix from /16 to /23")]
    TooLarge,
    /// Too small for the subnets.
    #[error(
        "is too small for the subnets: three public subnets must each be at least /27 (load balancers need 8 free addresses per subnet), so the VPC must be /23 or larger (e.g. 10.0.0.0/16)"
    )]
    TooSmall,
}

impl Cidr {
    /// Parses `a.b.c.d/n` with no host bits set.
    pub fn parse(input: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = input.trim().split_once('/').ok_or(CidrError::Syntax)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrError::Syntax)?;
        let prefix: u8 = prefix.parse().map_err(|_| CidrError::Syntax)?;
        if prefix > 32 {
            return Err(CidrError::Syntax);
        }
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(CidrError::HostBits(
                Cidr {
                    addr: cidr.network(),
                    prefix,
                }
                .to_string(),
            ));
        }
        Ok(cidr)
    }

    /// Parses and checks a range for a VPC (private, /16 to /23).
    pub fn parse_vpc(input: &str) -> Result<Cidr, CidrError> {
        let cidr = Cidr::parse(input)?;
        let private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
            .iter()
            .filter_map(|r| Cidr::parse(r).ok())
            .any(|range| range.contains(&cidr));
        if !private {
            return Err(CidrError::NotPrivate);
        }
        if cidr.prefix < 16 {
            return Err(CidrError::TooLarge);
        }
        if cidr.prefix > 23 {
            return Err(CidrError::TooSmall);
        }
        Ok(cidr)
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `other` lies entirely inside this block.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && (u32::from(other.addr) & self.mask()) == u32::from(self.addr)
    }

    /// The `index`-th block of `extra` more prefix bits inside this one.
    fn subdivide(&self, extra: u8, index: u32) -> Cidr {
        let prefix = self.prefix + extra;
        let size = 1u32 << (32 - prefix);
        Cidr {
            addr: Ipv4Addr::from(u32::from(self.addr) + index * size),
            prefix,
        }
    }

    /// The private subnet of zone `zone` (0, 1, 2).
    pub fn private_subnet(&self, zone: u32) -> Cidr {
        self.subdivide(2, zone)
    }

    /// The public subnet of zone `zone` (0, 1, 2).
    pub fn public_subnet(&self, zone: u32) -> Cidr {
        self.subdivide(4, 12 + zone)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_ranges() {
        let err = |s: &str| Cidr::parse_vpc(s).unwrap_err();
        assert_eq!(err("10.0.0.0"), CidrError::Syntax);
        assert_eq!(err("10.0.0.0/33"), CidrError::Syntax);
        assert_eq!(
            err("10.0.0.1/16"),
            CidrError::HostBits("10.0.0.0/16".into())
        );
        assert_eq!(err("8.8.0.0/16"), CidrError::NotPrivate);
        assert_eq!(err("10.0.0.0/8"), CidrError::TooLarge);
        assert_eq!(err("10.0.0.0/24"), CidrError::TooSmall);
        assert!(Cidr::parse_vpc("172.20.0.0/23").is_ok());
    }

    #[test]
    fn subnets_tile_without_overlap() {
        for vpc in ["10.0.0.0/16", "192.168.4.0/23", "172.16.0.0/20"] {
            let vpc = Cidr::parse_vpc(vpc).unwrap();
            let mut all: Vec<Cidr> = (0..3).map(|z| vpc.private_subnet(z)).collect();
            all.extend((0..3).map(|z| vpc.public_subnet(z)));
            for (i, a) in all.iter().enumerate() {
                assert!(vpc.contains(a), "{a} outside {vpc}");
                for b in &all[i + 1..] {
                    assert!(!a.contains(b) && !b.contains(a), "{a} overlaps {b}");
                }
            }
            assert!(vpc.public_subnet(0).prefix() <= 27);
        }
        let vpc = Cidr::parse_vpc("10.0.0.0/16").unwrap();
        assert_eq!(vpc.private_subnet(1).to_string(), "10.0.64.0/18");
        assert_eq!(vpc.public_subnet(2).to_string(), "10.0.224.0/20");
    }
}

//! Host names -> rule groups, priority bands and certificate groups.
//!
//! ALB evaluates a listener's rules by ascending priority and its host-header wildcards (`*`, `?`)
//! match any characters, dots included: `*.example.com` also matches `www.example.com` and
//! `a.b.example.com`. So that the most specific rule always wins, priorities are split in bands:
//!
//! | hosts | priorities |
//! | --- | --- |
//! | exact hosts | 1..=25000 |
//! | wildcards with 10 or more fixed labels | 25001..=27500 |
//! | wildcards with 9 fixed labels | 27501..=30000 |
//! | ... one sub-band of 2500 per label count ... | |
//! | wildcards with 1 fixed label | 47501..=50000 |
//!
//! "Fixed labels" are the labels right of the rightmost label holding a wildcard character
//! (`*.shop.example.com` has 3). Two different wildcards with the same number of fixed labels
//! (and a leading `*.` label, the only form ACM certificates accept) never match the same host, so
//! ordering inside a sub-band does not matter, and a priority, once allocated, never has to move
//! to keep the order right.

use std::ops::RangeInclusive;

use crate::types::{Quotas, RuleAction, SiteDemand};

/// Lowest and highest listener-rule priority ALB accepts.
pub const PRIORITY_MAX: u32 = 50_000;
/// Last priority of the exact-host band.
pub const EXACT_BAND_END: u32 = 25_000;
/// Width of one wildcard sub-band.
pub const WILDCARD_SUB_BAND: u32 = 2_500;
/// Number of wildcard sub-bands.
pub const WILDCARD_SUB_BANDS: u32 = 10;
/// The largest `rules_per_listener` the banding supports (a site's rules may all fall in one
/// wildcard sub-band).
pub const MAX_RULES_PER_LISTENER: u32 = WILDCARD_SUB_BAND;
/// Longest host-header condition value ALB accepts.
pub const MAX_HOST_LEN: usize = 128;

/// The priority band a rule's hosts belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    /// Exact host names.
    Exact,
    /// Wildcards; the value is the sub-band index, 0 (most specific) to 9 (least).
    Wildcard(u32),
}

impl Band {
    /// The priorities of this band.
    pub fn range(self) -> RangeInclusive<u32> {
        match self {
            Band::Exact => 1..=EXACT_BAND_END,
            Band::Wildcard(i) => {
                let start = EXACT_BAND_END + 1 + i * WILDCARD_SUB_BAND;
                start..=start + WILDCARD_SUB_BAND - 1
            }
        }
    }

    /// The band a priority falls in (`None` outside 1..=50000).
    pub fn of_priority(priority: u32) -> Option<Band> {
        match priority {
            0 => None,
            1..=EXACT_BAND_END => Some(Band::Exact),
            p if p <= PRIORITY_MAX => {
                Some(Band::Wildcard((p - EXACT_BAND_END - 1) / WILDCARD_SUB_BAND))
            }
            _ => None,
        }
    }
}

/// Whether a host-header value holds a wildcard character.
pub fn is_wildcard(host: &str) -> bool {
    host.contains(['*', '?'])
}

/// The band a host's rule goes in.
pub fn band_of(host: &str) -> Band {
    if !is_wildcard(host) {
        return Band::Exact;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let rightmost_wild = labels.iter().rposition(|l| is_wildcard(l)).unwrap_or(0);
    let fixed = (labels.len() - 1 - rightmost_wild).clamp(1, WILDCARD_SUB_BANDS as usize) as u32;
    Band::Wildcard(WILDCARD_SUB_BANDS - fixed)
}

/// Why a host name cannot be a host-header condition value (`None` if it can).
pub fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        return Some("it is empty");
    }
    if host.len() > MAX_HOST_LEN {
        return Some("it is longer than the 128 characters a listener rule accepts");
    }
    if !host.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'*' | b'?')
    }) {
        return Some(
            "only lowercase a-z, 0-9, '.', '-' and the wildcards '*' and '?' are allowed \
             (convert internationalised names to punycode first)",
        );
    }
    if host.split('.').any(str::is_empty) {
        return Some("it has an empty label (leading, trailing or doubled '.')");
    }
    None
}

/// One rule to be: an action, a band and up to `values_per_condition` hosts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleGroup {
    pub action: RuleAction,
    pub band: Band,
    pub hosts: Vec<String>,
}

/// A site's rules in canonical order: forward rules then redirect rules; within each, exact hosts
/// first (in the order given), then wildcards from most to least specific (stable within a band);
/// each run chunked into rules of at most `values_per_condition` hosts.
pub fn rule_groups(site: &SiteDemand, quotas: &Quotas) -> Vec<RuleGroup> {
    let per_rule = quotas.values_per_condition.max(1) as usize;
    let mut groups = Vec::new();
    for (action, hosts) in [
        (RuleAction::Forward, &site.serve_hosts),
        (RuleAction::RedirectToPrimary, &site.redirect_hosts),
    ] {
        let mut banded: Vec<(Band, &String)> = hosts.iter().map(|h| (band_of(h), h)).collect();
        // Stable: keeps the given order of hosts within one band.
        banded.sort_by_key(|(band, _)| *band);
        for run in banded.chunk_by(|a, b| a.0 == b.0) {
            for chunk in run.chunks(per_rule) {
                groups.push(RuleGroup {
                    action,
                    band: chunk[0].0,
                    hosts: chunk.iter().map(|(_, h)| (*h).clone()).collect(),
                });
            }
        }
    }
    groups
}

/// A site's certificates: its names (serve hosts then redirect hosts, primary first) in chunks of
/// at most `names_per_certificate`.
pub fn certificate_groups(site: &SiteDemand, quotas: &Quotas) -> Vec<Vec<String>> {
    let per_cert = quotas.names_per_certificate.max(1) as usize;
    let names: Vec<String> = site
        .serve_hosts
        .iter()
        .chain(&site.redirect_hosts)
        .cloned()
        .collect();
    names.chunks(per_cert).map(<[String]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_the_priority_range_without_overlap() {
        assert_eq!(Band::Exact.range(), 1..=25_000);
        assert_eq!(Band::Wildcard(0).range(), 25_001..=27_500);
        assert_eq!(Band::Wildcard(9).range(), 47_501..=50_000);
        for p in [1, 25_000, 25_001, 27_500, 27_501, 47_501, 50_000] {
            let band = Band::of_priority(p).unwrap();
            assert!(band.range().contains(&p), "{p} in {band:?}");
        }
        assert_eq!(Band::of_priority(0), None);
        assert_eq!(Band::of_priority(50_001), None);
    }

    #[test]
    fn more_fixed_labels_is_a_lower_sub_band() {
        assert_eq!(band_of("www.example.com"), Band::Exact);
        assert_eq!(band_of("*.example.com"), Band::Wildcard(8));
        assert_eq!(band_of("*.shop.example.com"), Band::Wildcard(7));
        assert_eq!(band_of("*.com"), Band::Wildcard(9));
        assert_eq!(band_of("a?.example.com"), Band::Wildcard(8));
        assert_eq!(band_of("*.a.b.c.d.e.f.g.h.i.j.k.com"), Band::Wildcard(0));
    }

    #[test]
    fn host_problems_are_named() {
        assert_eq!(host_problem("example.com"), None);
        assert_eq!(host_problem("*.xn--bcher-kva.example"), None);
        assert!(host_problem("").is_some());
        assert!(host_problem("Example.com").unwrap().contains("lowercase"));
        assert!(host_problem("a..b").unwrap().contains("empty label"));
        assert!(host_problem(&"a".repeat(129)).unwrap().contains("128"));
    }
}

//! [`Plan::check`]: every invariant a plan must keep, verified from the plan alone. Used by the
//! tests (and available to the deployer as a last guard before it writes templates).

use std::collections::{BTreeMap, BTreeSet};

use crate::hosts::{self, Band};
use crate::planner::FIRST_UID;
use crate::types::{Plan, Quotas, RuleAction};

impl Plan {
    /// Verifies the plan's invariants against `quotas`: every shard within every quota (its
    /// reserve included), shard totals matching its sites, every site in exactly the shard it
    /// names, priorities unique per shard and inside 1..=50000, exact-host rules before every
    /// wildcard rule and more specific wildcards before less specific ones, rules of at most
    /// `values_per_condition` hosts that never mix exact and wildcard hosts, certificates of at most
    /// `names_per_certificate` names covering exactly the site's hosts, hosts unique across sites,
    /// uids unique, >= 20000 and below the high-water mark.
    ///
    /// # Errors
    /// The first broken invariant, described.
    pub fn check(&self, quotas: &Quotas) -> Result<(), String> {
        let mut uids: BTreeMap<u32, &str> = BTreeMap::new();
        let mut host_owner: BTreeMap<&str, &str> = BTreeMap::new();
        let mut per_shard: BTreeMap<u32, (BTreeSet<&str>, u32, u32, u32)> = BTreeMap::new();
        let mut priorities: BTreeMap<u32, BTreeMap<u32, (&str, Band)>> = BTreeMap::new();

        for (name, a) in &self.sites {
            if a.uid < FIRST_UID {
                return Err(format!("site `{name}`: uid {} is below {FIRST_UID}", a.uid));
            }
            if a.uid >= self.next_uid {
                return Err(format!(
                    "site `{name}`: uid {} is not below next_uid {}",
                    a.uid, self.next_uid
                ));
            }
            if let Some(other) = uids.insert(a.uid, name) {
                return Err(format!("sites `{other}` and `{name}` share uid {}", a.uid));
            }
            if !a.rules.iter().any(|r| r.action == RuleAction::Forward) {
                return Err(format!("site `{name}` has no forward rule"));
            }
            let mut rule_hosts: BTreeSet<&str> = BTreeSet::new();
            for r in &a.rules {
                if r.hosts.is_empty() || r.hosts.len() > quotas.values_per_condition as usize {
                    return Err(format!(
                        "site `{name}`: rule {} has {} hosts (allowed 1..={})",
                        r.priority,
                        r.hosts.len(),
                        quotas.values_per_condition
                    ));
                }
                let band = hosts::band_of(&r.hosts[0]);
                if let Some(h) = r.hosts.iter().find(|h| hosts::band_of(h) != band) {
                    return Err(format!(
                        "site `{name}`: rule {} mixes `{}` and `{h}` of different bands",
                        r.priority, r.hosts[0]
                    ));
                }
                if !band.range().contains(&r.priority) {
                    return Err(format!(
                        "site `{name}`: rule {} for `{}` is outside its band {:?}",
                        r.priority,
                        r.hosts[0],
                        band.range()
                    ));
                }
                if let Some((other, _)) = priorities
                    .entry(a.shard)
                    .or_default()
                    .insert(r.priority, (name, band))
                {
                    return Err(format!(
                        "shard {}: priority {} used by `{other}` and `{name}`",
                        a.shard, r.priority
                    ));
                }
                for h in &r.hosts {
                    if !rule_hosts.insert(h) {
                        return Err(format!("site `{name}`: host `{h}` in two rules"));
                    }
                    if let Some(other) = host_owner.insert(h, name) {
                        return Err(format!("host `{h}` belongs to `{other}` and `{name}`"));
                    }
                }
            }
            let mut cert_names: BTreeSet<&str> = BTreeSet::new();
            for c in &a.certificates {
                if c.is_empty() || c.len() > quotas.names_per_certificate as usize {
                    return Err(format!(
                        "site `{name}`: a certificate has {} names (allowed 1..={})",
                        c.len(),
                        quotas.names_per_certificate
                    ));
                }
                for n in c {
                    if !cert_names.insert(n) {
                        return Err(format!("site `{name}`: `{n}` in two certificates"));
                    }
                }
            }
            if cert_names != rule_hosts {
                return Err(format!(
                    "site `{name}`: certificate names differ from its rule hosts"
                ));
            }
            let s = per_shard.entry(a.shard).or_default();
            s.0.insert(name);
            s.1 = s.1.saturating_add(1);
            s.2 = s.2.saturating_add(a.rules.len() as u32);
            s.3 = s.3.saturating_add(a.certificates.len() as u32);
        }

        for used in priorities.values() {
            // Bands are ordered like priorities, so ascending priority must mean ascending band:
            // exact before wildcard, more specific wildcard before less specific.
            let bands: Vec<Band> = used.values().map(|(_, b)| *b).collect();
            if let Some(w) = bands.windows(2).find(|w| w[0] > w[1]) {
                return Err(format!(
                    "rule bands out of order: {:?} before {:?}",
                    w[0], w[1]
                ));
            }
        }

        let mut previous: Option<u32> = None;
        for shard in &self.shards {
            if previous.is_some_and(|p| p >= shard.index) {
                return Err(format!(
                    "shard {} is listed out of order or twice",
                    shard.index
                ));
            }
            previous = Some(shard.index);
            let Some((names, tgs, rules, certs)) = per_shard.remove(&shard.index) else {
                return Err(format!("shard {} has no site", shard.index));
            };
            let listed: BTreeSet<&str> = shard.sites.iter().map(String::as_str).collect();
            if listed != names || listed.len() != shard.sites.len() {
                return Err(format!(
                    "shard {}: its site list differs from the sites naming it",
                    shard.index
                ));
            }
            if !shard.sites.is_sorted() {
                return Err(format!("shard {}: site list not sorted", shard.index));
            }
            let r = &self.reserve;
            let totals = [
                (
                    "target groups",
                    shard.target_groups,
                    tgs.saturating_add(r.target_groups),
                    quotas.target_groups_per_alb,
                ),
                (
                    "rules",
                    shard.rules,
                    rules.saturating_add(r.rules),
                    quotas.rules_per_listener,
                ),
                (
                    "certificates",
                    shard.certificates,
                    certs.saturating_add(r.certificates),
                    quotas.certificates_per_listener,
                ),
            ];
            for (what, stated, actual, quota) in totals {
                if stated != actual {
                    return Err(format!(
                        "shard {}: states {stated} {what}, has {actual}",
                        shard.index
                    ));
                }
                if actual > quota {
                    return Err(format!(
                        "shard {}: {actual} {what} over the quota of {quota}",
                        shard.index
                    ));
                }
            }
        }
        if let Some((index, _)) = per_shard.into_iter().next() {
            return Err(format!("shard {index} is named by a site but not listed"));
        }
        Ok(())
    }
}

//! The planner: site demands + quotas + prior assignments -> shard, rule priorities, certificate
//! grouping and uid for every site.
//!
//! It works in three passes over the sites, each in name order:
//!
//! 1. **Unchanged sites** (same rules and certificates as in the prior, priorities still valid and
//!    free) keep their assignment exactly. Nothing another site does can change them: adding or
//!    removing a site never moves another one.
//! 2. **Changed sites** (their own hosts, or the quotas, changed) stay in their shard if it has
//!    room, keeping every priority whose rule is unchanged, then reusing their own freed priorities,
//!    then taking the lowest free ones. Only a site that no longer fits its shard moves, with a note.
//! 3. **New sites** go to the lowest-index shard with room for their target group, rules and
//!    certificates (slots and priorities freed by removed sites are reused, lowest first). A new
//!    shard is opened, at the lowest unused index, only when no shard has room.
//!
//! uids are allocated from a high-water mark that only grows (see [`Prior::next_uid`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::PlanError;
use crate::hosts::{self, MAX_RULES_PER_LISTENER, RuleGroup};
use crate::types::{
    Note, Plan, PlanInput, Prior, Quotas, Reserve, Rule, Shard, SiteAssignment, SiteDemand,
};

/// The lowest uid a site can get (uids below are left to the system and the images' users).
pub const FIRST_UID: u32 = 20_000;

/// Plans the edge for `input`. Pure: the same input always gives the same plan.
///
/// # Errors
/// [`PlanError`] for invalid quotas, invalid or duplicate site names and hosts, and a site that
/// does not fit even in an empty shard.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let cap = Capacity::new(&input.quotas, &input.reserve)?;
    let demands = validate_sites(&input.sites)?;
    let mut needs = needs(&demands, &input.quotas, &input.reserve, &cap)?;
    let prior = &input.prior;

    let mut notes = Vec::new();
    for (name, a) in &prior.sites {
        if !needs.contains_key(name.as_str()) {
            notes.push(Note::SiteRemoved {
                site: name.clone(),
                shard: a.shard,
            });
        }
    }
    let (uids, next_uid) = allocate_uids(&needs, prior, &mut notes)?;

    let prior_shards: BTreeSet<u32> = prior.sites.values().map(|a| a.shard).collect();
    let mut shards: BTreeMap<u32, ShardState> = prior_shards
        .iter()
        .map(|&i| (i, ShardState::default()))
        .collect();
    let mut placed: BTreeMap<String, SiteAssignment> = BTreeMap::new();
    let mut changed = Vec::new();
    let mut fresh = Vec::new();

    // Pass 1: unchanged sites keep exactly what they have.
    let names: Vec<&str> = needs.keys().copied().collect();
    for name in names {
        let need = &needs[name];
        let Some(a) = prior.sites.get(name) else {
            fresh.push(name);
            continue;
        };
        let same = need.certificates == a.certificates
            && need.groups.len() == a.rules.len()
            && need
                .groups
                .iter()
                .zip(&a.rules)
                .all(|(g, r)| g.action == r.action && g.hosts == r.hosts);
        let shard = shards
            .get_mut(&a.shard)
            .expect("every prior shard is seeded");
        let kept = same
            && shard.room_for(need, &cap).is_ok()
            && shard
                .allocate(&need.groups, &a.rules)
                .is_some_and(|(p, _)| p.iter().zip(&a.rules).all(|(p, r)| *p == r.priority));
        if kept {
            let priorities: Vec<u32> = a.rules.iter().map(|r| r.priority).collect();
            shard.commit(name, need, &priorities);
            let need = needs.remove(name).expect("each site is placed once");
            placed.insert(
                name.to_owned(),
                assignment(a.shard, uids[name], need, &priorities),
            );
        } else {
            changed.push((name, a, same));
        }
    }

    // Pass 2: changed sites stay in their shard if they fit, else move.
    for (name, a, same) in changed {
        let owned = needs.remove(name).expect("each site is placed once");
        let need = &owned;
        let shard = shards
            .get_mut(&a.shard)
            .expect("every prior shard is seeded");
        let fit = shard
            .room_for(need, &cap)
            .map_err(|s| s.to_string())
            .and_then(|()| {
                shard
                    .allocate(&need.groups, &a.rules)
                    .ok_or_else(|| "no free priority".to_owned())
            });
        match fit {
            Ok((priorities, kept)) => {
                shard.commit(name, need, &priorities);
                let total = priorities.len() as u32;
                notes.push(if same {
                    Note::PriorRepaired {
                        site: name.to_owned(),
                        reason: format!(
                            "its rule priorities clashed with another site's or left their band: \
                             {kept} of {total} kept"
                        ),
                    }
                } else {
                    Note::SiteChanged {
                        site: name.to_owned(),
                        shard: a.shard,
                        kept_priorities: kept,
                        new_priorities: total - kept,
                    }
                });
                placed.insert(
                    name.to_owned(),
                    assignment(a.shard, uids[name], owned, &priorities),
                );
            }
            Err(reason) => {
                let (index, priorities) =
                    place_anywhere(&mut shards, &prior_shards, name, need, &cap, &mut notes);
                notes.push(Note::SiteMoved {
                    site: name.to_owned(),
                    from: a.shard,
                    to: index,
                    reason,
                });
                placed.insert(
                    name.to_owned(),
                    assignment(index, uids[name], owned, &priorities),
                );
            }
        }
    }

    // Pass 3: new sites, lowest shard with room first.
    for name in fresh {
        let owned = needs.remove(name).expect("each site is placed once");
        let need = &owned;
        let (index, priorities) =
            place_anywhere(&mut shards, &prior_shards, name, need, &cap, &mut notes);
        notes.push(Note::SiteAdded {
            site: name.to_owned(),
            shard: index,
            uid: uids[name],
        });
        placed.insert(
            name.to_owned(),
            assignment(index, uids[name], owned, &priorities),
        );
    }

    let r = input.reserve;
    let mut out = Vec::new();
    for (index, s) in shards {
        if s.sites.is_empty() {
            if prior_shards.contains(&index) {
                notes.push(Note::ShardRemoved { shard: index });
            }
            continue;
        }
        out.push(Shard {
            index,
            sites: s.sites.into_iter().collect(),
            target_groups: s.target_groups + r.target_groups,
            rules: s.rules + r.rules,
            certificates: s.certificates + r.certificates,
        });
    }
    Ok(Plan {
        sites: placed,
        shards: out,
        reserve: input.reserve,
        next_uid,
        notes,
    })
}

/// What one shard offers to sites: the quotas minus the reserve.
#[derive(Debug, Clone, Copy)]
struct Capacity {
    target_groups: u32,
    rules: u32,
    certificates: u32,
}

impl Capacity {
    fn new(q: &Quotas, r: &Reserve) -> Result<Capacity, PlanError> {
        let at_least_one = |quota: &'static str, value: u32| {
            if value == 0 {
                Err(PlanError::InvalidQuota {
                    quota,
                    value,
                    expected: "at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        at_least_one("values_per_condition", q.values_per_condition)?;
        at_least_one("names_per_certificate", q.names_per_certificate)?;
        if q.rules_per_listener > MAX_RULES_PER_LISTENER {
            return Err(PlanError::InvalidQuota {
                quota: "rules_per_listener",
                value: q.rules_per_listener,
                expected: format!(
                    "at most {MAX_RULES_PER_LISTENER} (the width of one priority band)"
                ),
            });
        }
        let room = |quota: &'static str, value: u32, reserved: u32| {
            if value <= reserved {
                Err(PlanError::InvalidQuota {
                    quota,
                    value,
                    expected: format!(
                        "more than the {reserved} reserved per shard for the edge stack itself"
                    ),
                })
            } else {
                Ok(value - reserved)
            }
        };
        Ok(Capacity {
            target_groups: room(
                "target_groups_per_alb",
                q.target_groups_per_alb,
                r.target_groups,
            )?,
            rules: room("rules_per_listener", q.rules_per_listener, r.rules)?,
            certificates: room(
                "certificates_per_listener",
                q.certificates_per_listener,
                r.certificates,
            )?,
        })
    }
}

/// Which quota a shard is short of for a site.
#[derive(Debug, Clone, Copy)]
struct Shortfall {
    what: &'static str,
    free: u32,
    needed: usize,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its shard has room for {} more {} and it needs {}",
            self.free, self.what, self.needed
        )
    }
}

/// A site's rules and certificates as the current quotas cut them.
#[derive(Debug)]
struct Need {
    groups: Vec<RuleGroup>,
    certificates: Vec<Vec<String>>,
}

/// A shard being filled.
#[derive(Debug, Default)]
struct ShardState {
    sites: BTreeSet<String>,
    target_groups: u32,
    rules: u32,
    certificates: u32,
    used: BTreeSet<u32>,
}

impl ShardState {
    /// `Ok` if the shard can take the site, else which quota is short (cheap: no allocation, as
    /// it runs for every shard a new site is tried against).
    fn room_for(&self, need: &Need, cap: &Capacity) -> Result<(), Shortfall> {
        let check = |what: &'static str, used: u32, needed: usize, limit: u32| {
            if used as usize + needed > limit as usize {
                Err(Shortfall {
                    what,
                    free: limit.saturating_sub(used),
                    needed,
                })
            } else {
                Ok(())
            }
        };
        check("target groups", self.target_groups, 1, cap.target_groups)?;
        check("listener rules", self.rules, need.groups.len(), cap.rules)?;
        check(
            "certificates",
            self.certificates,
            need.certificates.len(),
            cap.certificates,
        )
    }

    /// Priorities for `groups` in this shard, preferring the site's prior ones: first a prior rule
    /// with the same action and hosts, then any prior priority still in the right band, then the
    /// lowest free priority of the band. Returns the priorities and how many were prior ones.
    fn allocate(&self, groups: &[RuleGroup], prior: &[Rule]) -> Option<(Vec<u32>, u32)> {
        let mut mine: BTreeSet<u32> = BTreeSet::new();
        let mut taken = vec![false; prior.len()];
        let mut out: Vec<Option<u32>> = vec![None; groups.len()];
        let free = |p: u32, mine: &BTreeSet<u32>| !self.used.contains(&p) && !mine.contains(&p);
        let mut kept = 0;
        for (i, g) in groups.iter().enumerate() {
            let found = prior.iter().enumerate().find(|(j, r)| {
                !taken[*j]
                    && r.action == g.action
                    && r.hosts == g.hosts
                    && g.band.range().contains(&r.priority)
                    && free(r.priority, &mine)
            });
            if let Some((j, r)) = found {
                taken[j] = true;
                mine.insert(r.priority);
                out[i] = Some(r.priority);
                kept += 1;
            }
        }
        let mut spare: Vec<(u32, usize)> = prior
            .iter()
            .enumerate()
            .filter(|(j, _)| !taken[*j])
            .map(|(j, r)| (r.priority, j))
            .collect();
        spare.sort_unstable();
        for (i, g) in groups.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let reuse = spare
                .iter()
                .find(|(p, j)| !taken[*j] && g.band.range().contains(p) && free(*p, &mine))
                .copied();
            let p = match reuse {
                Some((p, j)) => {
                    taken[j] = true;
                    kept += 1;
                    p
                }
                None => g.band.range().find(|p| free(*p, &mine))?,
            };
            mine.insert(p);
            out[i] = Some(p);
        }
        Some((
            out.into_iter()
                .map(|p| p.expect("every group got a priority"))
                .collect(),
            kept,
        ))
    }

    fn commit(&mut self, site: &str, need: &Need, priorities: &[u32]) {
        self.sites.insert(site.to_owned());
        self.target_groups += 1;
        self.rules += need.groups.len() as u32;
        self.certificates += need.certificates.len() as u32;
        self.used.extend(priorities.iter().copied());
    }
}

fn assignment(shard: u32, uid: u32, need: Need, priorities: &[u32]) -> SiteAssignment {
    SiteAssignment {
        shard,
        uid,
        rules: need
            .groups
            .into_iter()
            .zip(priorities)
            .map(|(g, &priority)| Rule {
                priority,
                action: g.action,
                hosts: g.hosts,
            })
            .collect(),
        certificates: need.certificates,
    }
}

/// Puts a site in the lowest-index shard with room, opening a new shard if none has.
fn place_anywhere(
    shards: &mut BTreeMap<u32, ShardState>,
    prior_shards: &BTreeSet<u32>,
    name: &str,
    need: &Need,
    cap: &Capacity,
    notes: &mut Vec<Note>,
) -> (u32, Vec<u32>) {
    for (&index, shard) in shards.iter_mut() {
        if shard.room_for(need, cap).is_ok()
            && let Some((priorities, _)) = shard.allocate(&need.groups, &[])
        {
            shard.commit(name, need, &priorities);
            return (index, priorities);
        }
    }
    let index = (0..)
        .find(|i| !shards.contains_key(i))
        .expect("fewer than 2^32 shards");
    if !prior_shards.contains(&index) {
        notes.push(Note::ShardOpened { shard: index });
    }
    let mut shard = ShardState::default();
    // `needs` checked that every site fits an empty shard, and a band holds as many priorities as
    // the largest allowed rules quota.
    let (priorities, _) = shard
        .allocate(&need.groups, &[])
        .expect("a site fits an empty shard");
    shard.commit(name, need, &priorities);
    shards.insert(index, shard);
    (index, priorities)
}

/// Checks names and hosts; returns the sites by name.
fn validate_sites(sites: &[SiteDemand]) -> Result<BTreeMap<&str, &SiteDemand>, PlanError> {
    let mut by_name: BTreeMap<&str, &SiteDemand> = BTreeMap::new();
    for s in sites {
        if s.name.is_empty() {
            return Err(PlanError::EmptySiteName);
        }
        if by_name.insert(&s.name, s).is_some() {
            return Err(PlanError::DuplicateSite {
                site: s.name.clone(),
            });
        }
    }
    // Lookups only (sites are visited in name order), so a hash map keeps the result deterministic.
    let total: usize = sites
        .iter()
        .map(|s| s.serve_hosts.len() + s.redirect_hosts.len())
        .sum();
    let mut owner: HashMap<&str, &str> = HashMap::with_capacity(total);
    for (&name, s) in &by_name {
        let Some(primary) = s.serve_hosts.first() else {
            return Err(PlanError::NoServeHost {
                site: name.to_owned(),
            });
        };
        for host in s.serve_hosts.iter().chain(&s.redirect_hosts) {
            if let Some(reason) = hosts::host_problem(host) {
                return Err(PlanError::InvalidHost {
                    site: name.to_owned(),
                    host: host.clone(),
                    reason,
                });
            }
            if let Some(first) = owner.insert(host, name) {
                return Err(PlanError::DuplicateHost {
                    host: host.clone(),
                    first: first.to_owned(),
                    second: name.to_owned(),
                });
            }
        }
        if !s.redirect_hosts.is_empty() && hosts::is_wildcard(primary) {
            return Err(PlanError::RedirectToWildcard {
                site: name.to_owned(),
                primary: primary.clone(),
            });
        }
    }
    Ok(by_name)
}

/// Cuts every site into rules and certificates and checks it fits an empty shard.
fn needs<'a>(
    demands: &BTreeMap<&'a str, &SiteDemand>,
    quotas: &Quotas,
    reserve: &Reserve,
    cap: &Capacity,
) -> Result<BTreeMap<&'a str, Need>, PlanError> {
    let too_large =
        |site: &str, what, quota, needed: usize, limit: u32, quota_value: u32, reserved: u32| {
            PlanError::SiteTooLarge {
                site: site.to_owned(),
                what,
                quota,
                needed: u32::try_from(needed).unwrap_or(u32::MAX),
                limit,
                reserve_note: if reserved == 0 {
                    String::new()
                } else {
                    format!(" = {quota_value} minus {reserved} reserved for the edge stack")
                },
            }
        };
    let mut out = BTreeMap::new();
    for (&name, s) in demands {
        let need = Need {
            groups: hosts::rule_groups(s, quotas),
            certificates: hosts::certificate_groups(s, quotas),
        };
        if need.groups.len() > cap.rules as usize {
            return Err(too_large(
                name,
                "listener rules",
                "rules_per_listener",
                need.groups.len(),
                cap.rules,
                quotas.rules_per_listener,
                reserve.rules,
            ));
        }
        if need.certificates.len() > cap.certificates as usize {
            return Err(too_large(
                name,
                "certificates",
                "certificates_per_listener",
                need.certificates.len(),
                cap.certificates,
                quotas.certificates_per_listener,
                reserve.certificates,
            ));
        }
        out.insert(name, need);
    }
    Ok(out)
}

/// Keeps every valid prior uid; gives new sites (and sites whose prior uid was invalid or taken)
/// fresh uids from the high-water mark, in name order. Returns the uids and the new mark.
fn allocate_uids(
    needs: &BTreeMap<&str, Need>,
    prior: &Prior,
    notes: &mut Vec<Note>,
) -> Result<(BTreeMap<String, u32>, u32), PlanError> {
    // A uid is valid in FIRST_UID..u32::MAX: u32::MAX itself would leave no high-water mark above.
    let valid = |uid: u32| (FIRST_UID..u32::MAX).contains(&uid);
    let mut next = prior.next_uid.max(FIRST_UID);
    for a in prior.sites.values() {
        if valid(a.uid) {
            next = next.max(a.uid + 1);
        }
    }
    let mut uids = BTreeMap::new();
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    let mut fresh = Vec::new();
    for &name in needs.keys() {
        match prior.sites.get(name) {
            Some(a) if valid(a.uid) && !seen.contains_key(&a.uid) => {
                seen.insert(a.uid, name);
                uids.insert(name.to_owned(), a.uid);
            }
            Some(a) => {
                let reason = match seen.get(&a.uid) {
                    Some(other) => format!(
                        "uid {} is also site `{other}`'s; a fresh uid is allocated",
                        a.uid
                    ),
                    None => format!(
                        "uid {} is outside {FIRST_UID}..{}; a fresh uid is allocated",
                        a.uid,
                        u32::MAX
                    ),
                };
                notes.push(Note::PriorRepaired {
                    site: name.to_owned(),
                    reason,
                });
                fresh.push(name);
            }
            None => fresh.push(name),
        }
    }
    for name in fresh {
        if next == u32::MAX {
            return Err(PlanError::UidsExhausted {
                site: name.to_owned(),
                next_uid: next,
            });
        }
        uids.insert(name.to_owned(), next);
        next += 1;
    }
    Ok((uids, next))
}

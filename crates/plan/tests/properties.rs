//! Property tests of the planner over random site sets: wildcards at several depths, sites with
//! many domains, redirects, and quota overrides down to 1.
//!
//! (a) planning is deterministic: the same input (in any order) gives byte-identical JSON, and
//!     planning with the plan as prior gives the same assignments;
//! (b) adding or removing one site, and any sequence of adds, removes and host changes, leaves
//!     every untouched site's assignment exactly unchanged;
//! (c) `Plan::check` holds for every plan.

use std::collections::BTreeMap;

use idealstack_plan::{Plan, PlanInput, Prior, Quotas, SiteDemand, hosts, plan};
use proptest::prelude::*;
use proptest::sample::Index;

/// A site's hosts as kinds: 0 and 1 exact, 2 a wildcard, 3 a deeper wildcard. The primary host is
/// always exact (redirects need a concrete target).
#[derive(Debug, Clone)]
struct Spec {
    serve: Vec<u8>,
    redirect: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0u8..4, 1..=14),
        prop::collection::vec(0u8..4, 0..=3),
    )
        .prop_map(|(serve, redirect)| Spec { serve, redirect })
}

/// `version` lets a changed site get different hosts.
fn demand(name: &str, s: &Spec, version: u32) -> SiteDemand {
    let host = |j: usize, kind: u8, part: &str| match kind {
        2 => format!("*.{part}{j}v{version}.{name}.example"),
        3 => format!("*.deep.{part}{j}v{version}.{name}.example"),
        _ => format!("{part}{j}v{version}.{name}.example"),
    };
    SiteDemand {
        name: name.to_owned(),
        serve_hosts: s
            .serve
            .iter()
            .enumerate()
            .map(|(j, &k)| host(j, if j == 0 { 0 } else { k }, "h"))
            .collect(),
        redirect_hosts: s
            .redirect
            .iter()
            .enumerate()
            .map(|(j, &k)| host(j, k, "r"))
            .collect(),
    }
}

fn quotas() -> impl Strategy<Value = Quotas> {
    prop_oneof![
        Just(Quotas::default()),
        (1u32..=6, 1u32..=30, 1u32..=10, 1u32..=5, 1u32..=10).prop_map(
            |(tg, rules, certs, values, names)| Quotas {
                target_groups_per_alb: tg,
                rules_per_listener: rules,
                certificates_per_listener: certs,
                values_per_condition: values,
                names_per_certificate: names,
            }
        ),
    ]
}

/// Raises the rules and certificates quotas so every site fits an empty shard (a site too large
/// is an error, tested elsewhere).
fn fit(mut q: Quotas, sites: &[SiteDemand]) -> Quotas {
    for s in sites {
        let rules = hosts::rule_groups(s, &q).len() as u32;
        let certs = hosts::certificate_groups(s, &q).len() as u32;
        q.rules_per_listener = q.rules_per_listener.max(rules);
        q.certificates_per_listener = q.certificates_per_listener.max(certs);
    }
    q
}

fn sites() -> impl Strategy<Value = BTreeMap<u32, Spec>> {
    prop::collection::btree_map(0u32..60, spec(), 0..30)
}

fn demands(set: &BTreeMap<u32, Spec>) -> Vec<SiteDemand> {
    set.iter()
        .map(|(k, s)| demand(&format!("s{k}"), s, 0))
        .collect()
}

/// Plans and checks the invariants.
fn planned(sites: Vec<SiteDemand>, quotas: Quotas, prior: Prior) -> Result<Plan, TestCaseError> {
    let input = PlanInput {
        sites,
        quotas,
        prior,
        ..Default::default()
    };
    let p = plan(&input).map_err(|e| TestCaseError::fail(format!("plan failed: {e}")))?;
    p.check(&quotas)
        .map_err(|e| TestCaseError::fail(format!("invariant broken: {e}")))?;
    Ok(p)
}

fn assert_untouched(before: &Plan, after: &Plan, touched: &str) -> Result<(), TestCaseError> {
    for (name, a) in &before.sites {
        if name != touched
            && let Some(b) = after.sites.get(name)
        {
            prop_assert_eq!(a, b, "site {} changed although only {} did", name, touched);
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Add(u32, Spec),
    Remove(Index),
    Change(Index, Spec),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (60u32..200, spec()).prop_map(|(k, s)| Op::Add(k, s)),
        any::<Index>().prop_map(Op::Remove),
        (any::<Index>(), spec()).prop_map(|(i, s)| Op::Change(i, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn planning_is_deterministic(set in sites(), q in quotas(), rotate in any::<Index>()) {
        let sites = demands(&set);
        let q = fit(q, &sites);
        let p = planned(sites.clone(), q, Prior::default())?;
        let again = planned(sites.clone(), q, Prior::default())?;
        prop_assert_eq!(
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        let mut shuffled = sites.clone();
        if !shuffled.is_empty() {
            let n = rotate.index(shuffled.len());
            shuffled.rotate_left(n);
            shuffled.reverse();
        }
        prop_assert_eq!(&planned(shuffled, q, Prior::default())?, &p);
        let replanned = planned(sites, q, Prior::from(&p))?;
        prop_assert_eq!(&replanned.sites, &p.sites);
        prop_assert_eq!(&replanned.shards, &p.shards);
        prop_assert_eq!(replanned.next_uid, p.next_uid);
        prop_assert!(replanned.notes.is_empty(), "notes: {:?}", replanned.notes);
    }

    #[test]
    fn adding_or_removing_one_site_moves_no_other(
        set in sites(), q in quotas(), extra in spec(), victim in any::<Index>()
    ) {
        let mut sites = demands(&set);
        let new = demand("new", &extra, 0);
        let all: Vec<SiteDemand> = sites.iter().cloned().chain([new.clone()]).collect();
        let q = fit(q, &all);
        let before = planned(sites.clone(), q, Prior::default())?;

        let added = planned(all, q, Prior::from(&before))?;
        assert_untouched(&before, &added, "new")?;
        prop_assert!(added.sites["new"].uid >= before.next_uid);

        if !sites.is_empty() {
            let gone = sites.remove(victim.index(sites.len()));
            let removed = planned(sites, q, Prior::from(&before))?;
            assert_untouched(&before, &removed, &gone.name)?;
            prop_assert!(!removed.sites.contains_key(&gone.name));
            prop_assert_eq!(removed.next_uid, before.next_uid);
        }
    }

    #[test]
    fn a_sequence_of_changes_moves_only_the_changed_site(
        set in sites(), q in quotas(), ops in prop::collection::vec(op(), 1..8)
    ) {
        // Quotas fixed for the whole sequence, large enough for every version of every site.
        let mut every: Vec<SiteDemand> = demands(&set);
        for (step, o) in ops.iter().enumerate() {
            match o {
                Op::Add(k, s) => every.push(demand(&format!("s{k}"), s, 0)),
                Op::Change(_, s) => every.push(demand("probe", s, step as u32 + 1)),
                Op::Remove(_) => {}
            }
        }
        let q = fit(q, &every);

        let mut current: BTreeMap<String, SiteDemand> =
            demands(&set).into_iter().map(|d| (d.name.clone(), d)).collect();
        let mut prev = planned(current.values().cloned().collect(), q, Prior::default())?;
        let mut ever_uids: Vec<u32> = prev.sites.values().map(|a| a.uid).collect();
        for (step, o) in ops.into_iter().enumerate() {
            let touched = match o {
                Op::Add(k, s) => {
                    let name = format!("s{k}");
                    if current.contains_key(&name) {
                        continue;
                    }
                    current.insert(name.clone(), demand(&name, &s, 0));
                    name
                }
                Op::Remove(i) => {
                    if current.is_empty() {
                        continue;
                    }
                    let name = current.keys().nth(i.index(current.len())).unwrap().clone();
                    current.remove(&name);
                    name
                }
                Op::Change(i, s) => {
                    if current.is_empty() {
                        continue;
                    }
                    let name = current.keys().nth(i.index(current.len())).unwrap().clone();
                    current.insert(name.clone(), demand(&name, &s, step as u32 + 1));
                    name
                }
            };
            let next = planned(current.values().cloned().collect(), q, Prior::from(&prev))?;
            assert_untouched(&prev, &next, &touched)?;
            if let (Some(a), Some(b)) = (prev.sites.get(&touched), next.sites.get(&touched)) {
                prop_assert_eq!(a.uid, b.uid, "a changed site keeps its uid");
            }
            if let Some(b) = next.sites.get(&touched)
                && !prev.sites.contains_key(&touched)
            {
                prop_assert!(!ever_uids.contains(&b.uid), "uid {} reused", b.uid);
                ever_uids.push(b.uid);
            }
            prop_assert!(next.next_uid >= prev.next_uid);
            prev = next;
        }
    }
}

/// A damaged or hand-edited prior: random shards, uids (some below 20000, some duplicated, some
/// at the top of the range), priorities anywhere in and out of 1..=50000, hosts that do not match.
fn damaged_prior(names: Vec<String>) -> impl Strategy<Value = Prior> {
    let n = names.len();
    let assignment = (
        0u32..6,
        prop_oneof![0u32..20_010, Just(u32::MAX), Just(u32::MAX - 1)],
        prop::collection::vec(
            (
                0u32..60_000,
                prop::bool::ANY,
                prop::collection::vec("[a-z*.]{1,12}", 0..4),
            ),
            0..5,
        ),
        prop::collection::vec(prop::collection::vec("[a-z.]{1,8}", 0..3), 0..3),
    )
        .prop_map(
            |(shard, uid, rules, certificates)| idealstack_plan::SiteAssignment {
                shard,
                uid,
                rules: rules
                    .into_iter()
                    .map(|(priority, forward, hosts)| idealstack_plan::Rule {
                        priority,
                        action: if forward {
                            idealstack_plan::RuleAction::Forward
                        } else {
                            idealstack_plan::RuleAction::RedirectToPrimary
                        },
                        hosts,
                    })
                    .collect(),
                certificates,
            },
        );
    (
        prop::collection::vec(assignment, n..=n),
        prop_oneof![Just(0u32), 0u32..30_000, Just(u32::MAX)],
    )
        .prop_map(move |(assignments, next_uid)| Prior {
            sites: names.iter().cloned().zip(assignments).collect(),
            next_uid,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever the prior holds, the planner never panics, and either plans within every invariant
    /// or says the uid space is exhausted (the only error a prior alone can cause).
    #[test]
    fn a_damaged_prior_never_breaks_an_invariant(
        (set, prior) in sites().prop_flat_map(|set| {
            let mut names: Vec<String> = set.keys().map(|k| format!("s{k}")).collect();
            names.push("gone".to_owned());
            (Just(set), damaged_prior(names))
        }),
        q in quotas(),
    ) {
        let sites = demands(&set);
        let q = fit(q, &sites);
        let input = PlanInput { sites: sites.clone(), quotas: q, prior, ..Default::default() };
        match plan(&input) {
            Ok(p) => {
                p.check(&q).map_err(|e| TestCaseError::fail(format!("invariant broken: {e}")))?;
                // Once repaired, the plan is stable.
                let again = planned(sites, q, Prior::from(&p))?;
                prop_assert_eq!(&again.sites, &p.sites);
            }
            Err(idealstack_plan::PlanError::UidsExhausted { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error: {}", e),
        }
    }
}

/// Mostly valid host names (exact and wildcard), sometimes anything.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]{1,3}(\\.[a-z]{1,3}){0,2}",
        3 => "\\*\\.[a-z]{1,2}(\\.[a-z]{1,2}){0,1}",
        1 => "[a-zA-Z0-9*?.-]{0,6}",
    ]
}

/// A quota from 1 to `max`, rarely 0.
fn quota(max: u32) -> impl Strategy<Value = u32> {
    prop_oneof![39 => 1..=max, 1 => Just(0u32)]
}

/// A per-shard reserve: mostly none.
fn reserve() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(0u32), 1 => 1u32..=2]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary names, hosts and quotas: an error or a plan within every invariant, never a panic.
    #[test]
    fn arbitrary_input_never_panics(
        raw in prop::collection::vec(
            (
                prop_oneof![19 => "[a-z]{2,3}", 1 => "[a-z]{0,1}"],
                prop_oneof![9 => prop::collection::vec(host(), 1..4), 1 => prop::collection::vec(host(), 0..1)],
                prop::collection::vec(host(), 0..3),
            ),
            0..8,
        ),
        q in (quota(4), quota(8), quota(4), quota(3), quota(3), reserve(), reserve())
    ) {
        let sites: Vec<SiteDemand> = raw
            .into_iter()
            .map(|(name, serve_hosts, redirect_hosts)| SiteDemand { name, serve_hosts, redirect_hosts })
            .collect();
        let quotas = Quotas {
            target_groups_per_alb: q.0,
            rules_per_listener: q.1,
            certificates_per_listener: q.2,
            values_per_condition: q.3,
            names_per_certificate: q.4,
        };
        let reserve = idealstack_plan::Reserve { target_groups: q.5, rules: q.6, certificates: 0 };
        let input = PlanInput { sites, quotas, reserve, ..Default::default() };
        if let Ok(p) = plan(&input) {
            p.check(&quotas).map_err(|e| TestCaseError::fail(format!("invariant broken: {e}")))?;
        }
    }
}

//! Unit tests of the planner, data-driven around one `check` helper that every case goes through:
//! it plans, verifies every invariant (`Plan::check`), verifies that planning again (same input,
//! and with the plan as prior) gives the same assignments, and returns the plan.

use idealstack_plan::{
    Note, Plan, PlanError, PlanInput, Prior, Quotas, Reserve, RuleAction, SiteDemand, plan,
};

fn site(name: &str, serve: &[&str], redirect: &[&str]) -> SiteDemand {
    SiteDemand {
        name: name.into(),
        serve_hosts: serve.iter().map(|h| (*h).into()).collect(),
        redirect_hosts: redirect.iter().map(|h| (*h).into()).collect(),
    }
}

/// A site with one host `<name>.example`.
fn one(name: &str) -> SiteDemand {
    site(name, &[&format!("{name}.example")], &[])
}

fn quotas(tg: u32, rules: u32, certs: u32, values: u32, names: u32) -> Quotas {
    Quotas {
        target_groups_per_alb: tg,
        rules_per_listener: rules,
        certificates_per_listener: certs,
        values_per_condition: values,
        names_per_certificate: names,
    }
}

/// Plans, checks every invariant and determinism, returns the plan.
fn check(input: &PlanInput) -> Plan {
    let p = plan(input).unwrap_or_else(|e| panic!("plan failed: {e}"));
    p.check(&input.quotas)
        .unwrap_or_else(|e| panic!("invariant broken: {e}\n{p:#?}"));
    assert_eq!(plan(input).unwrap(), p, "planning twice differs");
    let again = plan(&PlanInput {
        prior: Prior::from(&p),
        ..input.clone()
    })
    .unwrap();
    assert_eq!(
        (&again.sites, &again.shards, again.next_uid),
        (&p.sites, &p.shards, p.next_uid),
        "plan with itself as prior differs"
    );
    assert!(
        again.notes.is_empty(),
        "re-plan has notes: {:?}",
        again.notes
    );
    p
}

/// Plans `sites` on top of `prior_plan`.
fn replan(prior_plan: &Plan, sites: Vec<SiteDemand>, q: Quotas) -> Plan {
    check(&PlanInput {
        sites,
        quotas: q,
        prior: Prior::from(prior_plan),
        ..Default::default()
    })
}

fn layout(p: &Plan) -> Vec<(u32, Vec<&str>)> {
    p.shards
        .iter()
        .map(|s| (s.index, s.sites.iter().map(String::as_str).collect()))
        .collect()
}

fn priorities(p: &Plan, name: &str) -> Vec<u32> {
    p.sites[name].rules.iter().map(|r| r.priority).collect()
}

#[test]
fn packing_respects_each_quota() {
    struct Case {
        name: &'static str,
        quotas: Quotas,
        sites: Vec<SiteDemand>,
        layout: Vec<(u32, Vec<&'static str>)>,
    }
    let two_rules = |n: &str| {
        site(
            n,
            &[&format!("{n}.example")],
            &[&format!("www.{n}.example")],
        )
    };
    let cases = vec![
        Case {
            name: "target groups: 3 per ALB",
            quotas: quotas(3, 100, 25, 5, 10),
            sites: ["a", "b", "c", "d", "e", "f", "g"].map(one).into(),
            layout: vec![
                (0, vec!["a", "b", "c"]),
                (1, vec!["d", "e", "f"]),
                (2, vec!["g"]),
            ],
        },
        Case {
            name: "rules: 5 per listener, 2 rules per site",
            quotas: quotas(100, 5, 25, 5, 10),
            sites: ["a", "b", "c", "d", "e"].map(two_rules).into(),
            layout: vec![(0, vec!["a", "b"]), (1, vec!["c", "d"]), (2, vec!["e"])],
        },
        Case {
            name: "certificates: 3 per listener, 1 name per certificate, 2 names per site",
            quotas: quotas(100, 100, 3, 5, 1),
            sites: ["a", "b", "c"].map(two_rules).into(),
            layout: vec![(0, vec!["a"]), (1, vec!["b"]), (2, vec!["c"])],
        },
        Case {
            name: "values per condition: 2, so 5 hosts make 3 rules; 4 rules per listener",
            quotas: quotas(100, 4, 25, 2, 10),
            sites: vec![
                site("a", &["a1.x", "a2.x", "a3.x", "a4.x", "a5.x"], &[]),
                one("b"),
                one("c"),
            ],
            layout: vec![(0, vec!["a", "b"]), (1, vec!["c"])],
        },
        Case {
            name: "input order does not matter",
            quotas: quotas(2, 100, 25, 5, 10),
            sites: ["c", "a", "b"].map(one).into(),
            layout: vec![(0, vec!["a", "b"]), (1, vec!["c"])],
        },
    ];
    for case in cases {
        let p = check(&PlanInput {
            sites: case.sites,
            quotas: case.quotas,
            ..Default::default()
        });
        assert_eq!(layout(&p), case.layout, "{}", case.name);
        for s in &p.shards {
            assert!(
                s.target_groups <= case.quotas.target_groups_per_alb
                    && s.rules <= case.quotas.rules_per_listener
                    && s.certificates <= case.quotas.certificates_per_listener,
                "{}: shard {s:?}",
                case.name
            );
        }
    }
}

#[test]
fn rules_are_chunked_and_never_mix_exact_and_wildcard() {
    let p = check(&PlanInput {
        sites: vec![site(
            "a",
            &["a.x", "*.a.x", "b.x", "c.x", "*.b.x", "d.x"],
            &["www.a.x", "*.w.a.x"],
        )],
        quotas: quotas(100, 100, 25, 2, 3),
        ..Default::default()
    });
    let rules: Vec<(u32, RuleAction, Vec<&str>)> = p.sites["a"]
        .rules
        .iter()
        .map(|r| {
            (
                r.priority,
                r.action,
                r.hosts.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    use RuleAction::*;
    assert_eq!(
        rules,
        vec![
            (1, Forward, vec!["a.x", "b.x"]),
            (2, Forward, vec!["c.x", "d.x"]),
            (45_001, Forward, vec!["*.a.x", "*.b.x"]),
            (3, RedirectToPrimary, vec!["www.a.x"]),
            (42_501, RedirectToPrimary, vec!["*.w.a.x"]),
        ]
    );
    assert_eq!(
        p.sites["a"].certificates,
        vec![
            vec!["a.x", "*.a.x", "b.x"],
            vec!["c.x", "*.b.x", "d.x"],
            vec!["www.a.x", "*.w.a.x"]
        ]
    );
}

#[test]
fn exact_hosts_come_before_wildcards_and_specific_wildcards_first_even_when_added_later() {
    let q = Quotas::default();
    let first = check(&PlanInput {
        sites: vec![
            site("catchall", &["*.example.com"], &[]),
            site("apex", &["example.com"], &[]),
        ],
        ..Default::default()
    });
    assert_eq!(priorities(&first, "apex"), vec![1]);
    assert_eq!(priorities(&first, "catchall"), vec![45_001]);
    // A later, more specific wildcard and an exact host the catch-all also matches.
    let second = replan(
        &first,
        vec![
            site("catchall", &["*.example.com"], &[]),
            site("apex", &["example.com"], &[]),
            site("shop", &["*.shop.example.com"], &[]),
            site("www", &["www.example.com"], &[]),
        ],
        q,
    );
    assert_eq!(second.sites["catchall"], first.sites["catchall"]);
    assert_eq!(second.sites["apex"], first.sites["apex"]);
    assert_eq!(priorities(&second, "www"), vec![2]);
    assert_eq!(priorities(&second, "shop"), vec![42_501]);
    assert!(priorities(&second, "shop")[0] < priorities(&second, "catchall")[0]);
}

#[test]
fn a_site_too_large_for_any_shard_is_an_error_naming_site_and_quota() {
    let many: Vec<String> = (0..11).map(|i| format!("h{i}.big.example")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases = vec![
        (
            quotas(100, 2, 25, 5, 10),
            Reserve::default(),
            "site `big` needs 3 listener rules but one load balancer shard allows 2 (quota \
             `rules_per_listener`): split the site's domains over several sites, or raise \
             `rules_per_listener` in idealstack.toml's ALB quotas if AWS raised it for your account",
        ),
        (
            quotas(100, 100, 1, 5, 10),
            Reserve::default(),
            "site `big` needs 2 certificates but one load balancer shard allows 1 (quota \
             `certificates_per_listener`): split the site's domains over several sites, or raise \
             `certificates_per_listener` in idealstack.toml's ALB quotas if AWS raised it for your \
             account",
        ),
        (
            quotas(100, 4, 25, 5, 10),
            Reserve {
                rules: 2,
                ..Default::default()
            },
            "site `big` needs 3 listener rules but one load balancer shard allows 2 (quota \
             `rules_per_listener` = 4 minus 2 reserved for the edge stack): split the site's \
             domains over several sites, or raise `rules_per_listener` in idealstack.toml's ALB \
             quotas if AWS raised it for your account",
        ),
    ];
    for (q, reserve, message) in cases {
        let err = plan(&PlanInput {
            sites: vec![one("small"), site("big", &many, &[])],
            quotas: q,
            reserve,
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, PlanError::SiteTooLarge { ref site, .. } if site == "big"));
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn invalid_input_is_an_error_naming_the_input() {
    let cases: Vec<(Vec<SiteDemand>, Quotas, &str)> = vec![
        (
            vec![one("a"), one("a")],
            Quotas::default(),
            "site `a` appears twice: site names must be unique; rename or remove one",
        ),
        (
            vec![
                site("a", &["x.example"], &[]),
                site("b", &["y.example", "x.example"], &[]),
            ],
            Quotas::default(),
            "host `x.example` is claimed by site `a` and again by site `b`: a host can belong to \
             one site once; remove the duplicate",
        ),
        (
            vec![site("a", &[], &["x.example"])],
            Quotas::default(),
            "site `a` has no host to serve: give it at least one domain (its primary domain)",
        ),
        (
            vec![site("a", &["X.example"], &[])],
            Quotas::default(),
            "site `a`: host `X.example` cannot be used in a listener rule: only lowercase a-z, \
             0-9, '.', '-' and the wildcards '*' and '?' are allowed (convert internationalised \
             names to punycode first)",
        ),
        (
            vec![site("a", &["*.x.example"], &["x.example"])],
            Quotas::default(),
            "site `a` redirects to its primary host `*.x.example`, which is a wildcard: put a \
             concrete host name first in the site's domains or drop the redirect",
        ),
        (
            vec![one("a")],
            quotas(100, 3000, 25, 5, 10),
            "quota `rules_per_listener` = 3000 is not usable: at most 2500 (the width of one \
             priority band); fix it in idealstack.toml",
        ),
        (
            vec![one("a")],
            quotas(100, 100, 25, 0, 10),
            "quota `values_per_condition` = 0 is not usable: at least 1; fix it in idealstack.toml",
        ),
    ];
    for (sites, q, message) in cases {
        let err = plan(&PlanInput {
            sites,
            quotas: q,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn freed_slots_and_priorities_are_reused_lowest_first_but_uids_are_not() {
    let q = quotas(2, 100, 25, 5, 10);
    let first = check(&PlanInput {
        sites: ["a", "b", "c", "d"].map(one).into(),
        quotas: q,
        ..Default::default()
    });
    assert_eq!(
        layout(&first),
        vec![(0, vec!["a", "b"]), (1, vec!["c", "d"])]
    );
    assert_eq!(priorities(&first, "a"), vec![1]);
    assert_eq!(first.sites["d"].uid, 20_003);
    // Remove `a`, add `e`: `e` takes `a`'s slot in shard 0 and its priority, but a fresh uid.
    let second = replan(&first, ["b", "c", "d", "e"].map(one).into(), q);
    assert_eq!(
        layout(&second),
        vec![(0, vec!["b", "e"]), (1, vec!["c", "d"])]
    );
    assert_eq!(priorities(&second, "e"), vec![1]);
    assert_eq!(second.sites["e"].uid, 20_004);
    for name in ["b", "c", "d"] {
        assert_eq!(second.sites[name], first.sites[name], "{name} moved");
    }
    assert!(second.notes.contains(&Note::SiteRemoved {
        site: "a".into(),
        shard: 0
    }));
    assert!(second.notes.contains(&Note::SiteAdded {
        site: "e".into(),
        shard: 0,
        uid: 20_004
    }));
}

#[test]
fn the_uid_high_water_mark_survives_removing_the_newest_site() {
    let q = Quotas::default();
    let first = check(&PlanInput {
        sites: ["a", "b"].map(one).into(),
        ..Default::default()
    });
    assert_eq!(first.next_uid, 20_002);
    let second = replan(&first, vec![one("a")], q);
    assert_eq!(second.next_uid, 20_002);
    let third = replan(&second, vec![one("a"), one("b")], q);
    assert_eq!(
        third.sites["b"].uid, 20_002,
        "a re-added site is a new site"
    );
    assert_eq!(third.next_uid, 20_003);
    // A prior whose mark is behind its uids (hand-edited) still never hands out a used uid.
    let mut damaged = Prior::from(&third);
    damaged.next_uid = 0;
    let fourth = check(&PlanInput {
        sites: vec![one("a"), one("b"), one("c")],
        prior: damaged,
        ..Default::default()
    });
    assert_eq!(fourth.sites["c"].uid, 20_003);
}

#[test]
fn an_emptied_shard_disappears_and_other_indices_stay() {
    let q = quotas(1, 100, 25, 5, 10);
    let first = check(&PlanInput {
        sites: ["a", "b", "c"].map(one).into(),
        quotas: q,
        ..Default::default()
    });
    assert_eq!(
        layout(&first),
        vec![(0, vec!["a"]), (1, vec!["b"]), (2, vec!["c"])]
    );
    let second = replan(&first, ["a", "c"].map(one).into(), q);
    assert_eq!(layout(&second), vec![(0, vec!["a"]), (2, vec!["c"])]);
    assert!(second.notes.contains(&Note::ShardRemoved { shard: 1 }));
    let third = replan(&second, ["a", "c", "d", "e"].map(one).into(), q);
    assert_eq!(
        layout(&third),
        vec![
            (0, vec!["a"]),
            (1, vec!["d"]),
            (2, vec!["c"]),
            (3, vec!["e"])
        ]
    );
    assert!(third.notes.contains(&Note::ShardOpened { shard: 1 }));
    assert!(third.notes.contains(&Note::ShardOpened { shard: 3 }));
}

#[test]
fn a_changed_site_keeps_its_shard_and_the_priorities_of_unchanged_rules() {
    let q = Quotas::default();
    let hosts = ["a1.x", "a2.x", "a3.x", "a4.x", "a5.x"];
    let first = check(&PlanInput {
        sites: vec![site("a", &hosts, &["www.a.x"]), one("b")],
        ..Default::default()
    });
    assert_eq!(priorities(&first, "a"), vec![1, 2]);
    assert_eq!(priorities(&first, "b"), vec![3]);
    let mut more = hosts.to_vec();
    more.push("a6.x");
    let second = replan(&first, vec![site("a", &more, &["www.a.x"]), one("b")], q);
    assert_eq!(second.sites["b"], first.sites["b"]);
    assert_eq!(second.sites["a"].shard, 0);
    assert_eq!(second.sites["a"].uid, first.sites["a"].uid);
    assert_eq!(
        priorities(&second, "a"),
        vec![1, 4, 2],
        "unchanged rules keep 1 and 2"
    );
    assert!(second.notes.contains(&Note::SiteChanged {
        site: "a".into(),
        shard: 0,
        kept_priorities: 2,
        new_priorities: 1
    }));
    // Replacing a host reuses the site's own priority for the changed rule.
    let third = replan(&second, vec![site("a", &more, &["www2.a.x"]), one("b")], q);
    assert_eq!(priorities(&third, "a"), vec![1, 4, 2]);
}

#[test]
fn only_the_site_that_outgrew_its_shard_moves() {
    let q = quotas(100, 3, 25, 5, 10);
    let first = check(&PlanInput {
        sites: vec![one("a"), site("b", &["b.x"], &["www.b.x"])],
        quotas: q,
        ..Default::default()
    });
    assert_eq!(layout(&first), vec![(0, vec!["a", "b"])]);
    let second = replan(
        &first,
        vec![
            site("a", &["a.example"], &["www.a.example"]),
            site("b", &["b.x"], &["www.b.x"]),
        ],
        q,
    );
    assert_eq!(second.sites["b"], first.sites["b"]);
    assert_eq!(second.sites["a"].shard, 1);
    assert_eq!(second.sites["a"].uid, first.sites["a"].uid);
    assert!(second.notes.iter().any(|n| matches!(n,
        Note::SiteMoved { site, from: 0, to: 1, reason }
            if site == "a" && reason == "its shard has room for 1 more listener rules and it needs 2")));
}

#[test]
fn a_damaged_prior_is_repaired_deterministically() {
    let first = check(&PlanInput {
        sites: ["a", "b"].map(one).into(),
        ..Default::default()
    });
    let mut prior = Prior::from(&first);
    // Both sites claim priority 1 and uid 20000.
    let a = prior.sites["a"].clone();
    let b = prior.sites.get_mut("b").unwrap();
    b.rules[0].priority = a.rules[0].priority;
    b.uid = a.uid;
    let p = check(&PlanInput {
        sites: ["a", "b"].map(one).into(),
        prior,
        ..Default::default()
    });
    assert_eq!(p.sites["a"], first.sites["a"]);
    assert_eq!(priorities(&p, "b"), vec![2]);
    assert_eq!(p.sites["b"].uid, 20_002);
    assert_eq!(
        p.notes
            .iter()
            .filter(|n| matches!(n, Note::PriorRepaired { .. }))
            .count(),
        2
    );
}

#[test]
fn lowered_quotas_move_sites_in_name_order() {
    let first = check(&PlanInput {
        sites: ["a", "b", "c"].map(one).into(),
        ..Default::default()
    });
    let second = replan(
        &first,
        ["a", "b", "c"].map(one).into(),
        quotas(2, 100, 25, 5, 10),
    );
    assert_eq!(layout(&second), vec![(0, vec!["a", "b"]), (1, vec!["c"])]);
}

#[test]
fn the_reserve_is_counted_in_every_shard() {
    let reserve = Reserve {
        target_groups: 1,
        rules: 1,
        certificates: 0,
    };
    let p = check(&PlanInput {
        sites: ["a", "b", "c"].map(one).into(),
        quotas: quotas(3, 100, 25, 5, 10),
        reserve,
        ..Default::default()
    });
    assert_eq!(layout(&p), vec![(0, vec!["a", "b"]), (1, vec!["c"])]);
    assert_eq!(p.shards[0].target_groups, 3);
    assert_eq!(p.shards[1].rules, 2);
}

#[test]
fn the_plan_round_trips_through_json_as_the_next_prior() {
    let first = check(&PlanInput {
        sites: vec![site("a", &["a.x", "*.a.x"], &["www.a.x"]), one("b")],
        ..Default::default()
    });
    let json = serde_json::to_string(&Prior::from(&first)).unwrap();
    let prior: Prior = serde_json::from_str(&json).unwrap();
    assert_eq!(prior, Prior::from(&first));
    assert!(json.contains(r#""action":"redirect_to_primary""#), "{json}");
    let unknown = r#"{"sites":{},"next_uid":20000,"nexuid":1}"#;
    assert!(serde_json::from_str::<Prior>(unknown).is_err());
    let plan_json = serde_json::to_string(&first).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&plan_json).unwrap(), first);
}

#[test]
fn check_catches_broken_invariants() {
    let good = check(&PlanInput {
        sites: vec![one("a"), site("b", &["*.b.x"], &[])],
        ..Default::default()
    });
    let q = Quotas::default();
    type Breaker = fn(&mut Plan);
    let breakers: Vec<(&str, Breaker)> = vec![
        ("is below 20000", |p| {
            p.sites.get_mut("a").unwrap().uid = 19_999
        }),
        ("share uid", |p| {
            p.sites.get_mut("b").unwrap().uid = p.sites["a"].uid;
        }),
        ("is not below next_uid", |p| p.next_uid = 20_000),
        ("priority 45001 used by", |p| {
            p.sites.get_mut("a").unwrap().rules[0].hosts = vec!["*.a.x".into()];
            p.sites.get_mut("a").unwrap().certificates = vec![vec!["*.a.x".into()]];
            p.sites.get_mut("a").unwrap().rules[0].priority = 45_001;
        }),
        ("outside its band", |p| {
            p.sites.get_mut("b").unwrap().rules[0].priority = 3;
        }),
        ("certificate names differ", |p| {
            p.sites.get_mut("a").unwrap().certificates = vec![vec!["z.x".into()]];
        }),
        ("states 1 rules, has 2", |p| p.shards[0].rules = 1),
        ("over the quota", |p| {
            p.shards[0].target_groups = 101;
            p.reserve.target_groups = 99;
        }),
        ("has no site", |p| p.shards[0].index = 7),
    ];
    for (expected, breaker) in breakers {
        let mut p = good.clone();
        breaker(&mut p);
        let err = p.check(&q).unwrap_err();
        assert!(err.contains(expected), "{expected}: got {err}");
    }
}

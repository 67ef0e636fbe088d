//! The stability promise through the whole pipeline (manifest -> plan -> templates), on random
//! manifests: re-planning the same input is byte-identical, and adding or removing one site
//! changes no other site's stack template or parameters.

use idealstack_plan::Prior;
use idealstack_stacks::build;
use idealstack_templates::render;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct SiteGen {
    domains: usize,
    wildcard: bool,
    www: bool,
    database: bool,
    php: &'static str,
}

fn site_gen() -> impl Strategy<Value = SiteGen> {
    (
        1usize..=12,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec!["8.1", "8.3", "8.4"]),
    )
        .prop_map(|(domains, wildcard, www, database, php)| SiteGen {
            domains,
            wildcard,
            www,
            database,
            php,
        })
}

fn site_toml(name: &str, g: &SiteGen) -> String {
    let mut domains: Vec<String> = (0..g.domains)
        .map(|i| format!("\"d{i}.{name}.example\""))
        .collect();
    if g.wildcard {
        domains.push(format!("\"*.{name}.example\""));
    }
    format!(
        "\n[[sites]]\nname = \"{name}\"\ndomains = [{}]\nwww_redirect = {}\ndatabase = {}\nphp = \"{}\"\n",
        domains.join(", "),
        g.www,
        g.database,
        g.php
    )
}

fn manifest(sites: &[(String, SiteGen)], certs_per_listener: u32) -> String {
    let mut text = format!(
        "[stack]\nname = \"prop\"\nregion = \"eu-west-1\"\n[stack.alb_limits]\ncertificates_per_listener = {certs_per_listener}\n"
    );
    for (name, g) in sites {
        text.push_str(&site_toml(name, g));
    }
    text
}

/// Every site stack's rendered template and parameters, by site name.
fn site_stacks(text: &str, prior: &Prior) -> (BTreeMap<String, String>, Prior) {
    let model = idealstack_manifest::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let b = build(&model, prior, "0.1.0").expect("fits");
    let sites = b
        .stacks
        .iter()
        .filter_map(|s| {
            let site = s.name.strip_prefix("prop-site-")?;
            let params = serde_json::to_string(&(&s.parameters, &s.tags)).unwrap();
            Some((
                site.to_owned(),
                format!("{}\n{params}", render(&s.template)),
            ))
        })
        .collect();
    (sites, Prior::from(&b.plan))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn one_site_added_or_removed_moves_no_other_site(
        gens in prop::collection::vec(site_gen(), 2..9),
        extra in site_gen(),
        remove in any::<prop::sample::Index>(),
        certs in 2u32..=25,
    ) {
        let sites: Vec<(String, SiteGen)> = gens.into_iter().enumerate().map(|(i, g)| (format!("s{i}"), g)).collect();
        let text = manifest(&sites, certs);
        let (before, prior) = site_stacks(&text, &Prior::default());

        // The same input, planned again from what was deployed: byte-identical.
        let (again, prior_again) = site_stacks(&text, &prior);
        prop_assert_eq!(&again, &before);
        prop_assert_eq!(&prior_again, &prior);

        // One site added ("a-new" sorts first, so it is planned before the others).
        let mut added = sites.clone();
        added.push(("a-new".into(), extra));
        let (after_add, _) = site_stacks(&manifest(&added, certs), &prior);
        for (name, stack) in &before {
            prop_assert_eq!(stack, &after_add[name], "site {} changed when a site was added", name);
        }

        // One site removed.
        let gone = remove.index(sites.len());
        let mut removed = sites.clone();
        let (gone_name, _) = removed.remove(gone);
        let (after_remove, _) = site_stacks(&manifest(&removed, certs), &prior);
        prop_assert!(!after_remove.contains_key(&gone_name));
        for (name, stack) in &after_remove {
            prop_assert_eq!(stack, &before[name], "site {} changed when {} was removed", name, gone_name);
        }
    }
}

//! The cost estimate: line items priced from the dated table, grouped per stack kind, errors that
//! name the unknown input and list the known ones.

use idealstack_plan::cost::{
    CostAssumptions, CostError, CostInput, DatabaseCost, DbEngine, estimate,
};

fn input() -> CostInput {
    CostInput {
        region: "us-east-1".into(),
        availability_zones: 2,
        instance_type: "t4g.medium".into(),
        min_instances: 2,
        nat_gateways: 2,
        albs: 1,
        nlbs: 1,
        database: Some(DatabaseCost {
            engine: DbEngine::Mysql,
            class: "db.t4g.micro".into(),
            storage_gb: 20,
            multi_az: false,
        }),
        sites: 2,
        kms_keys: 1,
        assumptions: CostAssumptions::default(),
    }
}

fn line(e: &idealstack_plan::cost::CostEstimate, item: &str) -> f64 {
    e.lines
        .iter()
        .find(|l| l.item == item)
        .unwrap_or_else(|| panic!("no line {item}: {:#?}", e.lines))
        .monthly_usd
}

#[test]
fn line_items_are_priced_from_the_table_at_730_hours() {
    let e = estimate(&input()).unwrap();
    let cases = [
        ("EC2 t4g.medium instances (minimum)", 49.06), // 2 x 730 x 0.0336
        ("NAT gateway hours", 65.70),                  // 2 x 730 x 0.045
        ("NAT gateway data processed", 4.50),          // 100 GB x 0.045
        ("public IPv4 addresses (NAT)", 7.30),         // 2 x 730 x 0.005
        ("RDS MySQL db.t4g.micro (single-AZ)", 11.68), // 730 x 0.016
        ("RDS gp3 storage", 2.30),                     // 20 x 0.115
        ("EFS Standard storage", 3.00),                // 2 sites x 5 GB x 0.30
        ("DynamoDB sessions, on-demand writes", 1.25), // 2 M x 0.625
        ("KMS keys", 1.00),
        ("ALB capacity units", 5.84),          // 1 LCU x 730 x 0.008
        ("public IPv4 addresses (ALB)", 7.30), // 2 AZs x 730 x 0.005
        ("EBS gp3 root volumes", 4.80),        // 60 GB x 0.08
        ("CloudWatch Logs ingestion (sites)", 1.00), // 2 GB x 0.50
    ];
    for (item, usd) in cases {
        assert_eq!(line(&e, item), usd, "{item}");
    }
    let sum: f64 = e.lines.iter().map(|l| l.monthly_usd).sum();
    assert!((e.total_monthly_usd - sum).abs() < 0.005);
    assert!(e.price_date.starts_with("2025-06"));
    assert!(e.assumptions[0].contains("estimate") && e.assumptions[0].contains("730 hours"));
    assert!(
        e.assumptions
            .iter()
            .any(|a| a.contains("100 GB a month through NAT"))
    );
}

#[test]
fn lines_are_grouped_per_stack_kind_in_layer_order() {
    let e = estimate(&input()).unwrap();
    let mut kinds: Vec<&str> = e.lines.iter().map(|l| l.stack.as_str()).collect();
    kinds.dedup();
    assert_eq!(kinds, ["network", "data", "cluster", "edge", "sites"]);
}

#[test]
fn multi_az_doubles_the_database_and_regions_change_prices() {
    let mut multi = input();
    multi.database.as_mut().unwrap().multi_az = true;
    let e = estimate(&multi).unwrap();
    assert_eq!(line(&e, "RDS MySQL db.t4g.micro (Multi-AZ)"), 23.36);
    assert_eq!(line(&e, "RDS gp3 storage"), 4.60);

    let us = estimate(&input()).unwrap().total_monthly_usd;
    for region in ["eu-west-1", "eu-central-1", "ap-southeast-2"] {
        let mut i = input();
        i.region = region.into();
        let e = estimate(&i).unwrap();
        assert_eq!(e.region, region);
        assert!(
            e.total_monthly_usd > us,
            "{region} should cost more than us-east-1"
        );
    }
    let mut west = input();
    west.region = "us-west-2".into();
    assert_eq!(estimate(&west).unwrap().total_monthly_usd, us);
}

#[test]
fn no_database_no_nat_no_lines_for_them() {
    let mut i = input();
    i.database = None;
    i.nat_gateways = 0;
    let e = estimate(&i).unwrap();
    assert!(
        !e.lines
            .iter()
            .any(|l| l.item.starts_with("RDS") || l.item.starts_with("NAT"))
    );
    assert!(e.assumptions.iter().any(|a| a == "No database instance."));
}

#[test]
fn unknown_inputs_are_errors_listing_the_known_ones() {
    let mut i = input();
    i.region = "mars-north-1".into();
    let err = estimate(&i).unwrap_err();
    assert!(matches!(err, CostError::UnknownRegion { .. }));
    assert_eq!(
        err.to_string(),
        "region `mars-north-1` has no prices in idealstack's table: supported regions are \
         us-east-1, us-west-2, eu-west-1, eu-central-1, ap-southeast-2"
    );

    let mut i = input();
    i.instance_type = "m6i.medium".into();
    let err = estimate(&i).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "instance type `m6i.medium` has no price in idealstack's table: known types are \
             t3.medium, t3.large,"
        ),
        "{err}"
    );
    assert!(err.contains("c7g.2xlarge"), "{err}");

    let mut i = input();
    i.database.as_mut().unwrap().class = "db.r6g.large".into();
    let err = estimate(&i).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "database class `db.r6g.large` has no price in idealstack's table: known classes are \
             db.t3.micro,"
        ),
        "{err}"
    );
}

#[test]
fn the_estimate_is_deterministic_and_serialisable() {
    let a = serde_json::to_string(&estimate(&input()).unwrap()).unwrap();
    let b = serde_json::to_string(&estimate(&input()).unwrap()).unwrap();
    assert_eq!(a, b);
    let back: idealstack_plan::cost::CostInput =
        serde_json::from_str(&serde_json::to_string(&input()).unwrap()).unwrap();
    assert_eq!(back, input());
}

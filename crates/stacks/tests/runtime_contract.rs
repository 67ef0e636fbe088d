//! The contract between the generated templates and the PHP runtime image (images/php): the
//! values both sides must agree on, read from the runtime's own files so neither can drift.

use idealstack_templates::{PHP_CONTAINER_PORT, session_key_prefix};
use std::path::PathBuf;

fn runtime_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../images/php");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("images/php/{path}: {e}"))
}

#[test]
fn session_keys_have_the_prefix_the_site_role_allows() {
    // The handler builds `<site>#<id>`; the site's task role allows dynamodb:LeadingKeys
    // `<site>#*` only.
    let handler = runtime_file("config/idealstack/session.php");
    assert!(
        handler.contains("return $this->site . '#' . $id;"),
        "session.php no longer builds <site>#<id> keys"
    );
    assert_eq!(session_key_prefix("shop"), "shop#");
}

#[test]
fn the_health_check_path_is_the_runtime_health_page() {
    let httpd = runtime_file("config/apache/httpd.conf");
    let path = idealstack_manifest::DEFAULT_HEALTH_CHECK_PATH;
    assert!(
        httpd.contains(&format!("Alias {path} ")),
        "httpd.conf does not serve {path}"
    );
}

#[test]
fn every_image_listens_on_the_container_port() {
    for php in idealstack_manifest::catalog::PHP_VERSIONS
        .iter()
        .map(|(v, _)| v)
    {
        let dockerfile = runtime_file(&format!("{php}/Dockerfile"));
        assert!(
            dockerfile.contains(&format!("IDEALSTACK_PORT={PHP_CONTAINER_PORT}")),
            "images/php/{php}/Dockerfile does not listen on {PHP_CONTAINER_PORT}"
        );
    }
}

#[test]
fn a_site_with_a_database_finds_it_as_database() {
    let model = idealstack_manifest::parse(
        "[stack]\nname = \"acme\"\nregion = \"eu-west-1\"\n\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\ndatabase = true\n\n[[sites]]\nname = \"blog\"\ndomains = [\"blog.example.com\"]\n",
    )
    .unwrap();
    let build =
        idealstack_stacks::build(&model, &idealstack_plan::Prior::default(), "test").unwrap();
    let template = |name: &str| {
        &build
            .stacks
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .template
    };
    let record = &template("acme-data")["Resources"]["DatabaseName"]["Properties"];
    let search = |site: &str| {
        template(&format!("acme-site-{site}"))["Resources"]["TaskDefinition"]["Properties"]
            ["ContainerDefinitions"][0]["DnsSearchDomains"]
            .clone()
    };
    let domain = search("shop")[0].as_str().unwrap().to_string();
    assert_eq!(
        record["Name"],
        format!("{}.{domain}", idealstack_templates::DATABASE_HOST_NAME)
    );
    assert_eq!(record["Type"], "CNAME");
    assert!(
        search("blog").is_null(),
        "a site without a database searches nothing extra"
    );
}

//! The contract between the generated templates and the PHP runtime image (images/php): the
//! values both sides must agree on, read from the runtime's own files so neither can drift.

mod support;

use idealstack_templates::{PHP_CONTAINER_PORT, session_key_prefix};
use serde_json::Value;
use std::collections::BTreeSet;
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

/// The PHP containers (sites' and the health daemon's) of every scenario's templates, with the
/// names of the environment the manifest's user gave (theirs to read, not the image's).
fn php_containers() -> Vec<(String, Value, BTreeSet<String>)> {
    let mut out = Vec::new();
    for (scenario, model) in support::scenarios() {
        let user: BTreeSet<String> = model
            .sites
            .iter()
            .flat_map(|s| s.environment.keys().chain(s.secrets.keys()).cloned())
            .collect();
        let build =
            idealstack_stacks::build(&model, &idealstack_plan::Prior::default(), "test").unwrap();
        for spec in &build.stacks {
            for (id, resource) in spec.template["Resources"].as_object().unwrap() {
                if resource["Type"] != "AWS::ECS::TaskDefinition" {
                    continue;
                }
                for c in resource["Properties"]["ContainerDefinitions"]
                    .as_array()
                    .unwrap()
                {
                    if c["Name"] == "php" {
                        out.push((
                            format!("{scenario}/{}/{id}", spec.name),
                            c.clone(),
                            user.clone(),
                        ));
                    }
                }
            }
        }
    }
    assert!(out.len() > 5, "found the PHP containers: {}", out.len());
    out
}

/// Every file of the PHP image that reads the environment: the entrypoint and the configs
/// (`${NAME}`), the PHP files (`getenv`), and the idealstack binary's sendmail role.
fn readers() -> String {
    let mut text = String::new();
    for f in [
        "config/idealstack/entrypoint.sh",
        "config/idealstack/prepend.php",
        "config/idealstack/session.php",
        "config/idealstack/dynamodb.php",
        "config/idealstack/health.php",
        "config/apache/httpd.conf",
        "config/php/php-fpm.conf",
        "config/php/idealstack.ini",
    ] {
        // Comments document; they do not read.
        for line in runtime_file(f).lines() {
            let code = line.trim_start();
            if !(code.starts_with('#')
                || code.starts_with(';')
                || code.starts_with("//")
                || code.starts_with('*'))
            {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let sendmail = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cli/src/sendmail.rs");
    text.push_str(&std::fs::read_to_string(sendmail).unwrap());
    text
}

#[test]
fn every_variable_a_php_container_gets_is_documented_and_read_by_the_image() {
    let readme = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../images/README.md"),
    )
    .unwrap();
    let readers = readers();
    let mut problems = Vec::new();
    for (at, container, user) in php_containers() {
        for e in container["Environment"].as_array().into_iter().flatten() {
            let name = e["Name"].as_str().unwrap();
            // The php.ini settings: every_php_setting_the_manifest_takes_is_one_the_image_applies.
            if user.contains(name) || name.starts_with("IDEALSTACK_INI_") {
                continue;
            }
            if !readme.contains(&format!("`{name}`")) {
                problems.push(format!(
                    "{at}: {name} is not in images/README.md's runtime contract"
                ));
            }
            let read = readers.contains(&format!("${{{name}}}"))
                || readers.contains(&format!("${{{name}:"))
                || readers.contains(&format!("env('{name}')"))
                || readers.contains(&format!("\"{name}\""))
                || readers.contains(&format!("${name}"));
            if !read {
                problems.push(format!(
                    "{at}: {name} is set but nothing in the image reads it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_tmpfs_of_a_php_container_is_where_the_image_writes() {
    // The image writes only below IDEALSTACK_RUN_DIR (its default in the Dockerfile template and
    // the entrypoint), and the uploads on EFS.
    let dockerfile = runtime_file("Dockerfile.template");
    let run_dir = dockerfile
        .lines()
        .find_map(|l| l.trim().strip_prefix("IDEALSTACK_RUN_DIR="))
        .map(|v| v.trim_end_matches(['\\', ' ']).to_string())
        .expect("the image sets IDEALSTACK_RUN_DIR");
    let entrypoint = runtime_file("config/idealstack/entrypoint.sh");
    assert!(
        entrypoint.contains(&format!("${{IDEALSTACK_RUN_DIR:-{run_dir}}}")),
        "the entrypoint's default run dir is not {run_dir}"
    );
    for (at, container, _) in php_containers() {
        let mounts: Vec<&str> = container["LinuxParameters"]["Tmpfs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["ContainerPath"].as_str().unwrap())
            .collect();
        for m in &mounts {
            assert!(
                run_dir == *m || run_dir.starts_with(&format!("{m}/")),
                "{at}: the tmpfs {m} holds nothing the image writes (it writes below {run_dir})"
            );
        }
        assert!(
            mounts.iter().any(|m| run_dir.starts_with(m)),
            "{at}: no tmpfs holds {run_dir}"
        );
    }
}

#[test]
fn every_php_setting_the_manifest_takes_is_one_the_image_applies() {
    // The entrypoint's table: IDEALSTACK_INI_<KEY> -> php.ini name.
    let entrypoint = runtime_file("config/idealstack/entrypoint.sh");
    let start = entrypoint
        .find("declare -A ini_names=(")
        .expect("ini_names");
    let table: std::collections::BTreeMap<String, String> = entrypoint[start..]
        .split_once("\n)")
        .unwrap()
        .0
        .split_whitespace()
        .filter_map(|pair| pair.strip_prefix('[')?.split_once("]="))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // A site that sets every setting there is.
    let model = idealstack_manifest::parse(
        "[stack]\nname = \"acme\"\nregion = \"eu-west-1\"\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\ncpu = 1\nmemory_mb = 2048\n[sites.php_settings]\nmemory_limit = \"512M\"\nupload_max_filesize = \"128M\"\npost_max_size = \"128M\"\nmax_execution_time = 30\nmax_input_time = 120\nmax_input_vars = 5000\ndisplay_errors = true\ntimezone = \"Europe/Amsterdam\"\nopcache_memory_mb = 256\nopcache_validate_timestamps = false\nopcache_revalidate_freq = 0\n",
    )
    .unwrap();
    let php = &model.sites[0].php_settings;
    let fields = idealstack_manifest::schema()["$defs"]["PhpSettings"]["properties"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(php.ini.len(), fields, "the manifest above sets every field");
    let emitted: std::collections::BTreeMap<String, String> = php
        .ini
        .keys()
        .map(|name| {
            let var = idealstack_manifest::php::ini_variable(name);
            (var["IDEALSTACK_INI_".len()..].to_owned(), name.clone())
        })
        .collect();
    assert_eq!(
        emitted, table,
        "manifest settings vs the entrypoint's ini_names"
    );
    let readme = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../images/README.md"),
    )
    .unwrap();
    assert!(readme.contains("`IDEALSTACK_INI_<NAME>`"));
}

#[test]
fn the_manifests_php_defaults_are_the_images() {
    use idealstack_manifest::php::defaults as d;
    let ini: std::collections::BTreeMap<&str, &str> = runtime_file("config/php/idealstack.ini")
        .leak()
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| l.split_once(" = "))
        .collect();
    for (name, default) in [
        ("memory_limit", d::MEMORY_LIMIT.to_owned()),
        ("upload_max_filesize", d::UPLOAD_MAX_FILESIZE.to_owned()),
        ("post_max_size", d::POST_MAX_SIZE.to_owned()),
        ("max_execution_time", d::MAX_EXECUTION_TIME.to_string()),
        ("max_input_time", d::MAX_INPUT_TIME.to_string()),
        ("max_input_vars", d::MAX_INPUT_VARS.to_string()),
        ("date.timezone", d::TIMEZONE.to_owned()),
        (
            "opcache.memory_consumption",
            d::OPCACHE_MEMORY_MB.to_string(),
        ),
        (
            "opcache.revalidate_freq",
            d::OPCACHE_REVALIDATE_FREQ.to_string(),
        ),
        ("display_errors", "Off".to_owned()),
        ("opcache.validate_timestamps", "1".to_owned()),
    ] {
        assert_eq!(
            ini.get(name),
            Some(&default.as_str()),
            "{name} in idealstack.ini"
        );
    }
    assert_eq!(
        idealstack_manifest::php::PhpSettingsModel::default().memory_limit_mib,
        256
    );
}

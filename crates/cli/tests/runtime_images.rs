//! The container images: their Dockerfiles parsed and checked (every PHP branch generated from one
//! template, each on a Debian base with Debian-packaged PHP, the same extensions and shared config,
//! non-root, port 8080, the database CA; the idealstack image non-root with `idealstack` as its
//! entrypoint), the release workflow publishing exactly the names and tags the templates use, and
//! the images themselves built with podman (`scripts/images`) and run: PHP 8.4 and 8.2 read-only
//! as a site uid serving the health page and a PHP page over a published port, the idealstack
//! image's roles as its default user.
//!
//! The podman tests need root (podman runs rootful here) and fail, never skip, without it.

mod runtime_support;

use idealstack_testbed::podman::{self, Container, ensure_images, image_size, run_checked};
use idealstack_testbed::{free_port, project_root, scratch_dir};
use runtime_support::curl;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The idealstack version the templates tag images with (`plan::VERSION` of the binary).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// packages.sury.org's PHP repository: PHP branches a Debian suite does not ship.
const SURY: &str = "https://packages.sury.org/php/";

/// PHP branches the images cover (8.1 for legacy sites, then every branch php.net supports), with
/// the Debian suite each builds on and where its PHP packages come from (empty: Debian's own).
const BRANCHES: &[(&str, &str, &str)] = &[
    ("8.1", "trixie", SURY),
    ("8.2", "bookworm", ""),
    ("8.3", "trixie", SURY),
    ("8.4", "trixie", ""),
    ("8.5", "trixie", SURY),
];

/// The PHP branch each Debian suite ships itself.
const DEBIAN_PHP: &[(&str, &str)] = &[("bookworm", "8.2"), ("trixie", "8.4")];

/// Extensions PHP CMSs expect (WordPress, Drupal, Joomla, Laravel apps).
const EXTENSIONS: &[&str] = &[
    "bcmath",
    "exif",
    "gd",
    "intl",
    "mysqli",
    "opcache",
    "pdo_mysql",
    "zip",
    "imagick",
    "redis",
    "memcached",
];

/// Every file of the shared config folder, with where the image puts it.
const CONFIG_COPIES: &[(&str, &str)] = &[
    (
        "images/php/config/apache/httpd.conf",
        "/usr/local/etc/idealstack/httpd.conf",
    ),
    (
        "images/php/config/php/php-fpm.conf",
        "/usr/local/etc/idealstack/php-fpm.conf",
    ),
    (
        "images/php/config/php/idealstack.ini",
        "/usr/local/etc/php/conf.d/zz-idealstack.ini",
    ),
    (
        "images/php/config/idealstack/",
        "/usr/local/lib/idealstack/",
    ),
];

/// Where both images carry the database CA bundle, and the variable that names it.
const CA_PATH: &str = "/usr/local/share/idealstack/database-ca.pem";

/// A Dockerfile as instructions: (keyword, arguments), continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(stripped) = trimmed.strip_suffix('\\') {
            current.push_str(stripped);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (kw, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((kw.to_ascii_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends inside a continued line"
    );
    out
}

fn read(rel: &str) -> String {
    let path = project_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dockerfile(branch: &str) -> String {
    read(&format!("images/php/{branch}/Dockerfile"))
}

/// The value of `ARG name=value` (first one), without quotes.
fn arg<'a>(ins: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    ins.iter()
        .find(|(k, a)| k == "ARG" && a.starts_with(&prefix))
        .map(|(_, a)| a[prefix.len()..].trim_matches('"'))
}

fn keyword<'a>(ins: &'a [(String, String)], kw: &str) -> Vec<&'a str> {
    ins.iter()
        .filter(|(k, _)| k == kw)
        .map(|(_, a)| a.as_str())
        .collect()
}

/// Checks shared by both images: a Debian slim base named by `ARG DEBIAN_SUITE` (the only image
/// pulled from a registry), the binary and CA bundle from the build context by build arguments,
/// the CA's variable, a non-root user.
fn check_common(name: &str, ins: &[(String, String)]) {
    let froms = keyword(ins, "FROM");
    assert_eq!(
        froms,
        vec!["debian:${DEBIAN_SUITE}-slim"],
        "{name}: one stage on Debian's slim image, nothing else pulled"
    );
    assert_eq!(
        arg(ins, "IDEALSTACK_BINARY"),
        Some("build/images/${TARGETARCH}/idealstack"),
        "{name}"
    );
    assert_eq!(
        arg(ins, "DATABASE_CA_BUNDLE"),
        Some("build/images/database-ca.pem"),
        "{name}"
    );
    let copies = keyword(ins, "COPY");
    assert!(
        copies.contains(&"--chmod=0755 ${IDEALSTACK_BINARY} /usr/local/bin/idealstack"),
        "{name}: binary not copied from the build argument"
    );
    assert!(
        copies.contains(&format!("--chmod=0644 ${{DATABASE_CA_BUNDLE}} {CA_PATH}").as_str()),
        "{name}: CA bundle not copied from the build argument"
    );
    assert!(
        keyword(ins, "ENV")
            .iter()
            .any(|e| e.contains(&format!("IDEALSTACK_DATABASE_CA_FILE={CA_PATH}"))),
        "{name}: IDEALSTACK_DATABASE_CA_FILE not set"
    );
    let user = keyword(ins, "USER").last().copied();
    assert!(
        matches!(user, Some(u) if u != "root" && !u.starts_with("0")),
        "{name}: must not run as root by default"
    );
    let runs = keyword(ins, "RUN").join("\n");
    assert!(
        runs.contains("rm -rf /var/lib/apt/lists/*"),
        "{name}: apt lists left behind"
    );
}

#[test]
fn one_dockerfile_per_supported_branch() {
    let dir = project_root().join("images/php");
    let found: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Dockerfile").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let wanted: BTreeSet<String> = BRANCHES.iter().map(|(b, _, _)| b.to_string()).collect();
    assert_eq!(found, wanted);
}

/// Every branch's Dockerfile is the template with its branch, suite and package repository filled
/// in; `UPDATE_DOCKERFILES=1` writes them after the template was edited.
#[test]
fn every_dockerfile_is_generated_from_the_template() {
    let template = read("images/php/Dockerfile.template");
    assert!(template.contains("ARG PHP_BRANCH={{PHP_BRANCH}}"));
    assert!(template.contains("ARG DEBIAN_SUITE={{DEBIAN_SUITE}}"));
    assert!(template.contains("ARG PHP_APT_REPOSITORY={{PHP_APT_REPOSITORY}}"));
    let ignore = read("images/php/8.4/Dockerfile.dockerignore");
    let update = std::env::var_os("UPDATE_DOCKERFILES").is_some();
    for (branch, suite, repo) in BRANCHES {
        let wanted = template
            .replace("{{PHP_BRANCH}}", branch)
            .replace("{{DEBIAN_SUITE}}", suite)
            .replace("{{PHP_APT_REPOSITORY}}", repo);
        let path = project_root().join(format!("images/php/{branch}/Dockerfile"));
        if update {
            std::fs::write(&path, &wanted).unwrap();
        }
        assert!(
            dockerfile(branch) == wanted,
            "images/php/{branch}/Dockerfile is not images/php/Dockerfile.template for {branch}: edit the template and run UPDATE_DOCKERFILES=1 cargo test -p idealstack-cli --test runtime_images"
        );
        assert_eq!(
            read(&format!("images/php/{branch}/Dockerfile.dockerignore")),
            ignore,
            "{branch}: every branch has the same build context"
        );
    }
}

/// Debian's own PHP packages wherever the suite ships the branch (what the podman tests build),
/// packages.sury.org only for the branches Debian lacks.
#[test]
fn each_branch_uses_debian_php_where_debian_has_it() {
    for (branch, suite, repo) in BRANCHES {
        let ins = instructions(&dockerfile(branch));
        assert_eq!(arg(&ins, "PHP_BRANCH"), Some(*branch));
        assert_eq!(arg(&ins, "DEBIAN_SUITE"), Some(*suite));
        let debian_ships = DEBIAN_PHP.contains(&(suite, branch));
        assert_eq!(
            arg(&ins, "PHP_APT_REPOSITORY"),
            Some(if debian_ships { "" } else { SURY }),
            "{branch}: {suite} {} PHP {branch}",
            if debian_ships {
                "ships"
            } else {
                "does not ship"
            }
        );
        assert_eq!(arg(&ins, "PHP_APT_REPOSITORY"), Some(*repo));
    }
}

#[test]
fn php_images_packages_config_user_and_entrypoint() {
    for (branch, _, _) in BRANCHES {
        let ins = instructions(&dockerfile(branch));
        check_common(&format!("php {branch}"), &ins);
        let list: BTreeSet<&str> = arg(&ins, "IDEALSTACK_EXTENSIONS")
            .unwrap_or_else(|| panic!("{branch}: no IDEALSTACK_EXTENSIONS"))
            .split_whitespace()
            .collect();
        assert_eq!(
            list,
            EXTENSIONS.iter().copied().collect::<BTreeSet<_>>(),
            "{branch}"
        );
        let packages: BTreeSet<&str> = arg(&ins, "IDEALSTACK_PHP_PACKAGES")
            .unwrap_or_else(|| panic!("{branch}: no IDEALSTACK_PHP_PACKAGES"))
            .split_whitespace()
            .collect();
        // php<branch>-mysql brings mysqli and pdo_mysql; exif is in php<branch>-common.
        for needed in [
            "fpm",
            "cli",
            "bcmath",
            "curl",
            "gd",
            "intl",
            "mbstring",
            "mysql",
            "opcache",
            "xml",
            "zip",
            "imagick",
            "redis",
            "memcached",
        ] {
            assert!(packages.contains(needed), "{branch}: php{branch}-{needed}");
        }
        let runs = keyword(&ins, "RUN").join("\n");
        for needed in [
            "php${PHP_BRANCH}-$p",
            "apache2",
            "composer",
            "mariadb-client",
            "extension_loaded",
        ] {
            assert!(runs.contains(needed), "{branch}: RUN lacks {needed}");
        }
        let copies = keyword(&ins, "COPY");
        for (src, dst) in CONFIG_COPIES {
            assert!(project_root().join(src).exists(), "{src} missing");
            assert!(
                copies.contains(&format!("{src} {dst}").as_str()),
                "{branch}: COPY {src} {dst} missing"
            );
        }
        let env = keyword(&ins, "ENV").join(" ");
        for needed in [
            "IDEALSTACK_PHP_FPM_BIN=/usr/sbin/php-fpm${PHP_BRANCH}",
            "IDEALSTACK_APACHE_BIN=/usr/sbin/apache2",
            "PHP_INI_SCAN_DIR=:/usr/local/etc/php/conf.d",
            "IDEALSTACK_BIN=/usr/local/bin/idealstack",
        ] {
            assert!(env.contains(needed), "{branch}: ENV lacks {needed}");
        }
        assert_eq!(keyword(&ins, "EXPOSE"), vec!["8080"], "{branch}");
        assert_eq!(
            keyword(&ins, "ENTRYPOINT"),
            vec![r#"["/usr/local/lib/idealstack/entrypoint.sh"]"#],
            "{branch}"
        );
        assert!(
            keyword(&ins, "HEALTHCHECK")
                .iter()
                .any(|h| h.contains("/.idealstack/health")),
            "{branch}"
        );
    }
}

#[test]
fn idealstack_image_is_non_root_with_the_binary_as_entrypoint() {
    let ins = instructions(&read("images/idealstack/Dockerfile"));
    check_common("idealstack", &ins);
    assert_eq!(arg(&ins, "DEBIAN_SUITE"), Some("trixie"));
    assert_eq!(keyword(&ins, "USER"), vec!["65532:65532"]);
    assert_eq!(keyword(&ins, "ENTRYPOINT"), vec![r#"["idealstack"]"#]);
    let runs = keyword(&ins, "RUN").join("\n");
    assert!(runs.contains("ca-certificates"));
    assert!(runs.contains("--uid 65532"));
}

/// The workflow publishes both images under the manifest's default registry with the tags the
/// templates use (`crates/stacks/src/convert.rs`), for both architectures, from the same
/// Dockerfiles and staged inputs as scripts/images, with the version read from the binary.
#[test]
fn the_release_workflow_publishes_what_the_templates_name() {
    let wf = read(".github/workflows/images.yml");
    assert!(
        wf.contains(&format!(
            "REGISTRY: {}",
            idealstack_manifest::raw::DEFAULT_REGISTRY
        )),
        "images.yml does not publish to the default registry"
    );
    for (branch, _, _) in BRANCHES {
        assert!(
            wf.contains(&format!("\"{branch}\"")),
            "images.yml does not build {branch}"
        );
    }
    for needed in [
        "ref=\"$REGISTRY/idealstack:$version\"",
        "ref=\"$REGISTRY/php:${{ matrix.image }}-$version\"",
        "file=images/php/${{ matrix.image }}/Dockerfile",
        "file=images/idealstack/Dockerfile",
        "idealstack --version",
        "platforms: linux/amd64,linux/arm64",
        "build/images/database-ca.pem",
        "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
        "container: rust:1-bookworm",
    ] {
        assert!(wf.contains(needed), "images.yml lacks {needed:?}");
    }
    assert!(
        !wf.contains("ghcr.io"),
        "images.yml still publishes to ghcr.io"
    );
}

// --- the images built and run with podman --------------------------------------------------------

/// scripts/images builds exactly the names the templates reference when the manifest's registry
/// is `localhost/idealstack`, and the binary inside reports the version they are tagged with.
#[test]
fn images_are_built_under_the_names_the_templates_use() {
    let built = ensure_images();
    eprintln!("scripts/images took {:.1} s", built.seconds);
    let model = idealstack_manifest::parse(
        r#"
[stack]
name = "local"
region = "eu-central-1"
image_registry = "registry.example/idealstack"

[[sites]]
name = "shop"
domains = ["shop.example"]
php = "8.4"

[[sites]]
name = "legacy"
domains = ["legacy.example"]
php = "8.2"
"#,
    )
    .expect("manifest");
    let images = idealstack_stacks::images(&model, VERSION);
    // The manifest wants a registry host with a dot; the local names differ only in that prefix.
    let name = |r: idealstack_templates::ImageRef| {
        format!("{}:{}", r.repository, r.tag).replacen("registry.example/", "localhost/", 1)
    };
    assert_eq!(built.idealstack, name(images.idealstack()));
    for branch in ["8.4", "8.2"] {
        assert_eq!(built.php(branch), name(images.php(branch)));
    }
    let out = run_checked(podman::podman().args([
        "run",
        "--rm",
        "--network=none",
        &built.idealstack,
        "--version",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("idealstack {VERSION}")
    );
}

/// A site folder of the EFS contract owned by `uid`, with a PHP page.
fn site_folder(parent: &Path, uid: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let root = parent.join("site");
    for sub in ["public_html", "private", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(
        root.join("public_html/index.php"),
        "<?php header('Content-Type: text/plain'); echo 'php=', PHP_MAJOR_VERSION, '.', PHP_MINOR_VERSION, ' euid=', posix_geteuid(), ' ca=', is_readable(getenv('IDEALSTACK_DATABASE_CA_FILE')) ? 'yes' : 'no', \"\\n\";",
    )
    .unwrap();
    for dir in [parent, root.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(root.join("public_html"))
        .arg(root.join("tmp"))
        .status()
        .expect("chown");
    assert!(status.success());
    root
}

/// Runs the PHP image of `branch` as ECS will: read-only root, tmpfs /tmp, the site's uid, the
/// site folder mounted; expects the health page and a PHP page over the published port.
fn php_image_serves(branch: &str) {
    let image = ensure_images().php(branch).to_string();
    let uid = 20000 + branch.replace('.', "").parse::<u32>().unwrap();
    let scratch = scratch_dir(&format!("image-php{branch}"));
    let site = site_folder(scratch.path(), uid);
    let port = free_port();
    let container = Container::run(
        &image,
        &[
            "--read-only".into(),
            "--tmpfs".into(),
            "/tmp:rw,mode=1777,size=64m".into(),
            "--user".into(),
            format!("{uid}:{uid}"),
            "--env".into(),
            "IDEALSTACK_SITE=shop".into(),
            "--volume".into(),
            format!("{}:/var/www/site", site.display()),
            "--publish".into(),
            format!("127.0.0.1:{port}:8080"),
        ],
        &[],
    );
    let health_url = format!("http://127.0.0.1:{port}/.idealstack/health");
    let start = Instant::now();
    let health = loop {
        let r = curl(&[&health_url]);
        if r.status == 200 || start.elapsed() > Duration::from_secs(30) {
            break r;
        }
        container.assert_running();
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        health.status,
        200,
        "{branch}: health page: {health:?}\n{}",
        container.logs()
    );
    assert!(
        health.body.contains(&format!("\"php\":\"{branch}.")),
        "{branch}: {}",
        health.body
    );
    let page = curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(page.status, 200, "{branch}: {page:?}\n{}", container.logs());
    assert_eq!(
        page.body.trim(),
        format!("php={branch} euid={uid} ca=yes"),
        "{branch}"
    );
    let logs = container.logs();
    assert!(
        logs.contains("site=shop type=access") && logs.contains("status=200"),
        "{branch}: access log: {logs}"
    );
    container.assert_running();
}

#[test]
fn php_8_4_image_serves_read_only_as_a_site_uid() {
    php_image_serves("8.4");
}

#[test]
fn php_8_2_image_serves_read_only_as_a_site_uid() {
    php_image_serves("8.2");
}

/// The idealstack image runs its roles as its default (non-root) user, read-only, and carries the
/// local database CA that scripts/images created.
#[test]
fn idealstack_image_runs_its_roles_as_its_default_user() {
    let image = &ensure_images().idealstack;
    let run = |args: &[&str]| {
        run_checked(
            podman::podman()
                .args(["run", "--rm", "--network=none", "--read-only", image])
                .args(args),
        )
    };
    let version = run(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("idealstack {VERSION}")
    );
    let help = String::from_utf8_lossy(&run(&["sftp", "serve", "--help"]).stdout).into_owned();
    assert!(help.contains("Usage: idealstack sftp serve"), "{help}");
    let user = run_checked(podman::podman().args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Entrypoint}}",
        image,
    ]));
    assert_eq!(
        String::from_utf8_lossy(&user.stdout).trim(),
        r#"65532:65532 ["idealstack"]"#
    );
    let ca = run_checked(podman::podman().args([
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "cat",
        image,
        CA_PATH,
    ]));
    assert_eq!(
        String::from_utf8_lossy(&ca.stdout),
        read(".local/ca/ca.pem"),
        "the image's CA bundle is not the local CA"
    );
}

/// Sizes as podman reports them (printed for the record, bounded so growth is noticed).
#[test]
fn image_sizes() {
    let built = ensure_images();
    let mut report = Vec::new();
    let mut check = |name: &str, max_mb: u64| {
        let mb = image_size(name) / 1_000_000;
        report.push(format!("{name}: {mb} MB"));
        assert!(mb <= max_mb, "{name} is {mb} MB, more than {max_mb} MB");
    };
    check(&built.idealstack, 150);
    for (_, name) in &built.php {
        check(name, 450);
    }
    eprintln!("image sizes:\n  {}", report.join("\n  "));
}

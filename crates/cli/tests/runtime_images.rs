//! The PHP images' Dockerfiles, parsed and checked: one per supported PHP branch, each built from
//! a published official Debian-based PHP image of that branch, all identical except the branch
//! (so the extension list and the shared config are the same everywhere), non-root, port 8080.
//!
//! No container engine runs here, so the published tags are checked against the list of
//! directories of docker-library/php (the source of the official `php` images), recorded below.

use idealstack_testbed::project_root;
use std::collections::BTreeSet;

/// PHP branches the images cover: 8.1 for legacy sites, then every branch php.net supports
/// (2026-11-26: 8.2 security fixes until 2026-12-31, 8.3, 8.4, 8.5 active).
const BRANCHES: &[&str] = &["8.1", "8.2", "8.3", "8.4", "8.5"];

/// `<branch>-fpm-trixie` tags published by docker-library/php (directories `<branch>/trixie/fpm`).
const PUBLISHED_FPM_TRIXIE: &[&str] = &["8.1", "8.2", "8.3", "8.4", "8.5"];

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

fn dockerfile(branch: &str) -> String {
    let path = project_root().join(format!("images/php/{branch}/Dockerfile"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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
    let wanted: BTreeSet<String> = BRANCHES.iter().map(|b| b.to_string()).collect();
    assert_eq!(found, wanted);
}

#[test]
fn each_dockerfile_builds_on_the_official_image_of_its_branch() {
    for branch in BRANCHES {
        let ins = instructions(&dockerfile(branch));
        let arg = ins
            .iter()
            .find(|(k, a)| k == "ARG" && a.starts_with("PHP_BRANCH="))
            .unwrap_or_else(|| panic!("{branch}: no ARG PHP_BRANCH"));
        assert_eq!(arg.1, format!("PHP_BRANCH={branch}"));
        let froms: Vec<&String> = ins
            .iter()
            .filter(|(k, _)| k == "FROM")
            .map(|(_, a)| a)
            .collect();
        let last = froms.last().unwrap_or_else(|| panic!("{branch}: no FROM"));
        assert_eq!(
            last.as_str(),
            "php:${PHP_BRANCH}-fpm-trixie",
            "{branch}: runtime stage"
        );
        assert!(
            PUBLISHED_FPM_TRIXIE.contains(branch),
            "php:{branch}-fpm-trixie is not a published tag"
        );
        // Build stages are named and only the runtime stage is unnamed.
        for from in &froms[..froms.len() - 1] {
            assert!(
                from.contains(" AS "),
                "{branch}: build stage without a name: {from}"
            );
        }
    }
}

/// Every branch's Dockerfile is the template with its branch filled in; `UPDATE_DOCKERFILES=1`
/// writes them after the template was edited.
#[test]
fn every_dockerfile_is_generated_from_the_template() {
    let template_path = project_root().join("images/php/Dockerfile.template");
    let template = std::fs::read_to_string(&template_path).unwrap();
    assert!(template.contains("ARG PHP_BRANCH={{PHP_BRANCH}}"));
    let update = std::env::var_os("UPDATE_DOCKERFILES").is_some();
    for branch in BRANCHES {
        let wanted = template.replace("{{PHP_BRANCH}}", branch);
        let path = project_root().join(format!("images/php/{branch}/Dockerfile"));
        if update {
            std::fs::write(&path, &wanted).unwrap();
        }
        assert!(
            dockerfile(branch) == wanted,
            "images/php/{branch}/Dockerfile is not images/php/Dockerfile.template for {branch}: edit the template and run UPDATE_DOCKERFILES=1 cargo test -p idealstack-cli --test runtime_images"
        );
    }
}

#[test]
fn extensions_config_user_and_entrypoint() {
    for branch in BRANCHES {
        let ins = instructions(&dockerfile(branch));
        let ext_arg = ins
            .iter()
            .find(|(k, a)| k == "ARG" && a.starts_with("IDEALSTACK_EXTENSIONS="))
            .unwrap_or_else(|| panic!("{branch}: no IDEALSTACK_EXTENSIONS"));
        let list: BTreeSet<&str> = ext_arg.1["IDEALSTACK_EXTENSIONS=".len()..]
            .trim_matches('"')
            .split_whitespace()
            .collect();
        assert_eq!(
            list,
            EXTENSIONS.iter().copied().collect::<BTreeSet<_>>(),
            "{branch}"
        );
        let runs: String = ins
            .iter()
            .filter(|(k, _)| k == "RUN")
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            runs.contains("install-php-extensions ${IDEALSTACK_EXTENSIONS}"),
            "{branch}"
        );
        assert!(
            runs.contains("rm -f /usr/local/bin/install-php-extensions"),
            "{branch}: installer left behind"
        );
        assert!(
            runs.contains("rm -rf /var/lib/apt/lists/*"),
            "{branch}: apt lists left behind"
        );

        let copies: Vec<&String> = ins
            .iter()
            .filter(|(k, _)| k == "COPY")
            .map(|(_, a)| a)
            .collect();
        for (src, dst) in CONFIG_COPIES {
            assert!(project_root().join(src).exists(), "{src} missing");
            assert!(
                copies.iter().any(|c| c.as_str() == format!("{src} {dst}")),
                "{branch}: COPY {src} {dst} missing"
            );
        }
        for tool in [
            "/usr/local/bin/composer",
            "/usr/local/bin/wp",
            "/usr/local/bin/idealstack",
        ] {
            assert!(
                copies.iter().any(|c| c.ends_with(tool)),
                "{branch}: {tool} not copied"
            );
        }
        let user = ins
            .iter()
            .rfind(|(k, _)| k == "USER")
            .map(|(_, a)| a.as_str());
        assert!(
            matches!(user, Some(u) if u != "root" && u != "0"),
            "{branch}: must not run as root"
        );
        assert!(
            ins.iter().any(|(k, a)| k == "EXPOSE" && a == "8080"),
            "{branch}"
        );
        assert!(
            ins.iter()
                .any(|(k, a)| k == "ENTRYPOINT"
                    && a.contains("/usr/local/lib/idealstack/entrypoint.sh")),
            "{branch}"
        );
        assert!(
            ins.iter()
                .any(|(k, a)| k == "HEALTHCHECK" && a.contains("/.idealstack/health")),
            "{branch}"
        );
    }
}

#[test]
fn the_release_workflow_builds_every_branch() {
    let wf = std::fs::read_to_string(project_root().join(".github/workflows/images.yml"))
        .expect("images workflow");
    for branch in BRANCHES {
        assert!(
            wf.contains(&format!("\"{branch}\"")),
            "images.yml does not build {branch}"
        );
    }
    assert!(wf.contains("images/php/${{ matrix.php }}/Dockerfile"));
}

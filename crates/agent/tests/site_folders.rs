//! Site folders on a real directory tree standing in for EFS: the contract's ownership and
//! modes, drift repaired, and nothing followed or replaced that is not ours.

use idealstack_agent::folders::{FolderError, SiteFolders};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn owner_mode(p: &std::path::Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn folders_follow_the_contract_and_drift_is_repaired() {
    let scratch = idealstack_testbed::scratch_dir("agent-folders");
    let root = scratch.path().join("sites");
    std::fs::create_dir(&root).unwrap();
    let folders = SiteFolders::new(&root);
    let repairs = folders.ensure_site("shop", 20000).unwrap();
    assert!(
        repairs.iter().any(|r| r.ends_with("shop created")),
        "{repairs:?}"
    );
    let site = root.join("shop");
    assert_eq!(owner_mode(&site), (0, 0, 0o755));
    assert_eq!(owner_mode(&site.join("public_html")), (20000, 20000, 0o755));
    assert_eq!(owner_mode(&site.join("private")), (20000, 20000, 0o750));
    assert_eq!(owner_mode(&site.join("tmp")), (20000, 20000, 0o750));

    // Nothing to do the second time.
    assert_eq!(
        folders.ensure_site("shop", 20000).unwrap(),
        Vec::<String>::new()
    );

    // Drift: wrong owner, wrong mode, a folder removed; a site file is left alone.
    std::os::unix::fs::chown(site.join("public_html"), Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::remove_dir(site.join("tmp")).unwrap();
    std::fs::write(site.join("public_html/index.php"), "<?php").unwrap();
    std::os::unix::fs::chown(site.join("public_html/index.php"), Some(0), Some(0)).unwrap();
    let repairs = folders.ensure_site("shop", 20000).unwrap();
    let text = repairs.join("\n");
    assert!(text.contains("shop mode 777 -> 755"), "{text}");
    assert!(
        text.contains("public_html owner 0:0 -> 20000:20000"),
        "{text}"
    );
    assert!(text.contains("tmp created"), "{text}");
    assert!(!text.contains("private"), "private had no drift: {text}");
    assert_eq!(owner_mode(&site), (0, 0, 0o755));
    assert_eq!(owner_mode(&site.join("public_html")), (20000, 20000, 0o755));
    assert_eq!(owner_mode(&site.join("tmp")), (20000, 20000, 0o750));
    assert_eq!(
        owner_mode(&site.join("public_html/index.php")).0,
        0,
        "site files untouched"
    );
}

#[test]
fn unsafe_names_links_and_low_uids_are_refused() {
    let scratch = idealstack_testbed::scratch_dir("agent-folders-bad");
    let folders = SiteFolders::new(scratch.path());
    for name in ["../etc", "a/b", "", "Shop", "-x"] {
        assert!(
            matches!(folders.ensure_site(name, 20000), Err(FolderError::Name(_))),
            "{name}"
        );
    }
    assert!(matches!(
        folders.ensure_site("shop", 0),
        Err(FolderError::Uid { .. })
    ));
    // A symbolic link where a folder should be is not followed.
    let outside = scratch.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, scratch.path().join("shop")).unwrap();
    let err = folders.ensure_site("shop", 20000).unwrap_err();
    assert!(matches!(err, FolderError::NotADirectory(_)), "{err}");
    assert_eq!(owner_mode(&outside).0, 0);
}

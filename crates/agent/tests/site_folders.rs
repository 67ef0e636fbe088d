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

#[test]
fn a_removed_sites_folder_is_deleted_only_for_its_own_uid() {
    let scratch = idealstack_testbed::scratch_dir("agent-folders-remove");
    let root = scratch.path().join("sites");
    std::fs::create_dir(&root).unwrap();
    let folders = SiteFolders::new(&root);
    folders.ensure_site("shop", 20002).unwrap();
    folders.ensure_site("blog", 20003).unwrap();
    let shop = root.join("shop");
    std::fs::create_dir_all(shop.join("public_html/wp-content/uploads")).unwrap();
    std::fs::write(shop.join("public_html/wp-content/uploads/a.jpg"), "x").unwrap();
    // A link out of the site is removed, not followed.
    let outside = scratch.path().join("outside.txt");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, shop.join("public_html/link")).unwrap();

    // Another incarnation's uid: refused, nothing deleted.
    let err = folders.remove_site("shop", 20009).unwrap_err();
    assert!(
        matches!(err, FolderError::Owner { owner: 20002, .. }),
        "{err}"
    );
    assert!(shop.join("public_html/wp-content/uploads/a.jpg").exists());

    let deleted = folders.remove_site("shop", 20002).unwrap();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert!(!shop.exists());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    assert!(
        root.join("blog/public_html").is_dir(),
        "other sites untouched"
    );
    assert_eq!(
        folders.remove_site("shop", 20002).unwrap(),
        Vec::<String>::new()
    );
    assert!(matches!(
        folders.remove_site("../etc", 20002),
        Err(FolderError::Name(_))
    ));
}

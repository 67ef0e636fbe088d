//! The gateway with real clients: OpenSSH `sftp` (batch mode) and paramiko upload and download a
//! tree, resume, change permissions and times, rename, make symlinks, list a large folder and
//! copy many small files; contents come back byte-identical and files belong to the site.

mod sftp_support;

use sftp_support::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

#[test]
fn openssh_client_uploads_and_downloads_a_tree_byte_identical_owned_by_the_site() {
    let mut bed = Bed::new("sftp-tree");
    bed.start(&[]);
    let src = bed.root().join("src");
    for (i, dir) in [
        "",
        "wp-admin",
        "wp-admin/css",
        "wp-content/uploads/2026/11",
        "deep/a/b/c/d",
    ]
    .iter()
    .enumerate()
    {
        let d = src.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for j in 0..6 {
            pseudo_random_file(
                &d.join(format!("f{j}.php")),
                100 + 3000 * j + i,
                (i * 10 + j) as u64,
            );
        }
    }
    pseudo_random_file(&src.join("big.bin"), 3 * 1024 * 1024 + 17, 99);
    std::fs::write(src.join("empty.txt"), b"").unwrap();
    let out = bed.sftp("alice", "cd public_html\nput -r src\nget -r src back\n");
    ok(&out, "sftp put -r / get -r");
    let uploaded = bed.shop().join("public_html/src");
    assert_eq!(
        tree(&src),
        tree(&uploaded),
        "uploaded tree differs from the source"
    );
    assert_eq!(
        tree(&src),
        tree(&bed.root().join("back")),
        "downloaded tree differs from the source"
    );
    for p in [uploaded.join("big.bin"), uploaded.join("deep/a/b/c")] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (SHOP_UID, SHOP_UID),
            "{} not owned by the site",
            p.display()
        );
    }
    let file_mode = std::fs::metadata(uploaded.join("f0.php"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert!(
        file_mode & 0o600 == 0o600,
        "uploaded file mode {file_mode:o} is not owner read-write"
    );
    bed.assert_running();
}

#[test]
fn openssh_client_resume_chmod_rename_symlink_and_df() {
    let mut bed = Bed::new("sftp-ops");
    bed.start(&[]);
    let big = bed.root().join("resume.bin");
    pseudo_random_file(&big, 1_000_000, 7);
    // A partial upload: the first 300,000 bytes are already there.
    let data = std::fs::read(&big).unwrap();
    let part = bed.shop().join("public_html/resume.bin");
    std::fs::write(&part, &data[..300_000]).unwrap();
    std::os::unix::fs::chown(&part, Some(SHOP_UID), Some(SHOP_UID)).unwrap();
    let batch = "cd public_html\n\
        reput resume.bin resume.bin\n\
        chmod 640 resume.bin\n\
        rename resume.bin renamed.bin\n\
        ln -s renamed.bin link.bin\n\
        mkdir newdir\n\
        rmdir newdir\n\
        df -h\n\
        get link.bin via-link.bin\n\
        ls -l\n";
    let out = ok(&bed.sftp("alice", batch), "sftp batch");
    let renamed = bed.shop().join("public_html/renamed.bin");
    assert_eq!(
        std::fs::read(&renamed).unwrap(),
        data,
        "resumed upload is not byte-identical"
    );
    assert_eq!(
        std::fs::metadata(&renamed).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(
        std::fs::read(bed.root().join("via-link.bin")).unwrap(),
        data
    );
    let link = std::fs::read_link(bed.shop().join("public_html/link.bin")).unwrap();
    assert_eq!(link.to_str(), Some("renamed.bin"));
    assert!(
        out.contains("renamed.bin") && out.contains("-rw-r-----"),
        "ls -l output: {out}"
    );
    // Resumed download: half of the file is already local.
    std::fs::write(bed.root().join("partial.bin"), &data[..500_000]).unwrap();
    ok(
        &bed.sftp("alice", "reget public_html/renamed.bin partial.bin\n"),
        "sftp reget",
    );
    assert_eq!(std::fs::read(bed.root().join("partial.bin")).unwrap(), data);
}

#[test]
fn paramiko_password_login_large_folder_many_small_files_and_times() {
    let mut bed = Bed::new("sftp-paramiko");
    bed.start(&[]);
    let out = bed.paramiko(&format!(
        r#"
s = connect("alice", password={PASSWORD:?})
s.chdir("/public_html")
s.mkdir("many")
payloads = {{}}
for i in range(3000):
    data = (("file %d " % i) * (1 + i % 7)).encode()
    with s.open("many/f%05d.txt" % i, "wb") as f:
        f.write(data)
    payloads["f%05d.txt" % i] = data
names = s.listdir("many")
assert len(names) == 3000, len(names)
assert sorted(names) == sorted(payloads), "listing differs"
for n in ["f00000.txt", "f01234.txt", "f02999.txt"]:
    with s.open("many/" + n, "rb") as f:
        assert f.read() == payloads[n], n
s.utime("many/f00001.txt", (1700000000, 1700000000))
assert s.stat("many/f00001.txt").st_mtime == 1700000000
s.chmod("many/f00002.txt", 0o600)
assert stat.S_IMODE(s.stat("many/f00002.txt").st_mode) == 0o600
s.chmod("many/f00005.txt", 0o4755)
assert stat.S_IMODE(s.stat("many/f00005.txt").st_mode) == 0o755, "set-uid bit was kept"
s.posix_rename("many/f00003.txt", "many/f00004.txt")
with s.open("many/f00004.txt", "rb") as f:
    assert f.read() == payloads["f00003.txt"]
assert s.normalize("../../..") == "/"
print("ok")
"#
    ));
    assert_eq!(ok(&out, "paramiko").trim(), "ok");
    let m = std::fs::metadata(bed.shop().join("public_html/many/f02999.txt")).unwrap();
    assert_eq!((m.uid(), m.gid()), (SHOP_UID, SHOP_UID));
}

#[test]
fn read_only_user_reads_but_cannot_change_anything() {
    let mut bed = Bed::new("sftp-ro");
    std::fs::write(bed.shop().join("public_html/index.php"), "<?php echo 1;").unwrap();
    bed.start(&[]);
    ok(
        &bed.sftp("reader", "get public_html/index.php got.php\n"),
        "read-only get",
    );
    assert_eq!(
        std::fs::read_to_string(bed.root().join("got.php")).unwrap(),
        "<?php echo 1;"
    );
    for cmd in [
        "put got.php public_html/new.php",
        "rm public_html/index.php",
        "mkdir public_html/d",
        "rename public_html/index.php public_html/x.php",
        "chmod 777 public_html/index.php",
        "ln -s index.php public_html/l",
    ] {
        let out = bed.sftp("reader", &format!("{cmd}\n"));
        assert!(!out.status.success(), "read-only user could run `{cmd}`");
    }
    assert!(!bed.shop().join("public_html/new.php").exists());
    assert!(bed.shop().join("public_html/index.php").exists());
}

#[test]
fn host_key_survives_a_restart() {
    let mut bed = Bed::new("sftp-hostkey");
    bed.start(&[]);
    let scan =
        |port: u16| {
            let out = run(std::process::Command::new(idealstack_testbed::system_tool(
                "ssh-keyscan",
            ))
            .args(["-t", "ed25519", "-p", &port.to_string(), "127.0.0.1"]));
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace()
                .nth(2)
                .map(str::to_string)
                .unwrap_or_else(|| panic!("no key scanned: {text}"))
        };
    let first = scan(bed.port);
    bed.start(&[]);
    assert_eq!(first, scan(bed.port), "host key changed across a restart");
}

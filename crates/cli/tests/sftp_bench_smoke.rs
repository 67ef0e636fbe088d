//! The SFTP benchmark script (bench/sftp/run.py) in its tiny `--smoke` form: both servers
//! (OpenSSH internal-sftp and the gateway) start, every transfer verifies byte-identical, and a
//! table comes out. A check that the benchmark works, not a measurement (debug build, tiny sizes).

use idealstack_testbed::{project_root, system_tool};
use std::process::Command;

#[test]
fn benchmark_script_runs_in_smoke_mode() {
    system_tool("sshd");
    system_tool("sftp");
    let out = Command::new("python3")
        .arg(project_root().join("bench/sftp/run.py"))
        .args(["--smoke", "--gateway", env!("CARGO_BIN_EXE_idealstack")])
        .output()
        .expect("run python3 bench/sftp/run.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for w in [
        "tree upload",
        "tree download",
        "big file upload",
        "big file download",
    ] {
        assert!(stdout.contains(w), "no {w} row:\n{stdout}");
    }
}

//! The AWS emulator `local` runs: moto server with the named gaps the project's tests fill
//! (crates/cli/tests/lifecycle_support/moto_cfn.py for CloudFormation, crates/testbed/moto/agent_gaps.py
//! for the agent), combined by `emulator/local_moto.py`. The scripts are built into the binary and
//! written into the state folder, so an installed `idealstack` needs only Python with moto.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const LAUNCHER: &str = include_str!("../emulator/local_moto.py");
const CFN_GAPS: &str = include_str!("../../cli/tests/lifecycle_support/moto_cfn.py");
const AGENT_GAPS: &str = include_str!("../../testbed/moto/agent_gaps.py");

/// Why the emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Writing the scripts or starting Python failed.
    #[error(
        "starting the AWS emulator with {python}: {source}; install moto (scripts/setup puts it in .venv) or pass --python"
    )]
    Start {
        python: String,
        #[source]
        source: std::io::Error,
    },
    /// It did not answer.
    #[error("the AWS emulator did not answer on {address} within 90 s; see {log}")]
    NoAnswer { address: String, log: String },
}

/// Writes the emulator's scripts into `dir` and starts it on `address:port` with `python`.
pub fn start(python: &Path, dir: &Path, address: &str, port: u16) -> Result<Child, EmulatorError> {
    let err = |source| EmulatorError::Start {
        python: python.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    for (name, text) in [
        ("local_moto.py", LAUNCHER),
        ("moto_cfn.py", CFN_GAPS),
        ("agent_gaps.py", AGENT_GAPS),
    ] {
        std::fs::write(dir.join(name), text).map_err(err)?;
    }
    let log = std::fs::File::create(dir.join("emulator.log")).map_err(err)?;
    let child = Command::new(python)
        .arg(dir.join("local_moto.py"))
        .arg(address)
        .arg(port.to_string())
        .env("MOTO_ACM_VALIDATION_WAIT", "1")
        .env("IDEALSTACK_MOTO_DELAY", "0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(err)?;
    let addr = format!("{address}:{port}");
    for _ in 0..360 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    Err(EmulatorError::NoAnswer {
        address: addr,
        log: dir.join("emulator.log").display().to_string(),
    })
}

/// The Python with moto: `.venv/bin/python` beside the binary's project when present.
pub fn default_python() -> PathBuf {
    PathBuf::from("python3")
}

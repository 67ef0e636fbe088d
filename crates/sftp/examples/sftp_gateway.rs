//! The gateway alone, for the benchmark (bench/sftp/run.py): the same library entry point as
//! `idealstack sftp serve`, without building the rest of the control plane in release mode.
//!
//! Usage: sftp_gateway LISTEN HOST_KEY_DIR SITES_ROOT USERS_JSON

use idealstack_sftp::{FileSource, GatewayConfig};
use std::sync::Arc;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: sftp_gateway LISTEN HOST_KEY_DIR SITES_ROOT USERS_JSON");
        return std::process::ExitCode::from(2);
    }
    idealstack_sftp::logging::init(false);
    let listen = match args[1].parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("LISTEN {:?} is not an address:port: {e}", args[1]);
            return std::process::ExitCode::from(2);
        }
    };
    let cfg = GatewayConfig::new(listen, args[2].clone().into(), args[3].clone().into());
    match idealstack_sftp::serve_blocking(
        cfg,
        Arc::new(FileSource {
            path: args[4].clone().into(),
        }),
    ) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

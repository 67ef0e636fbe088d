//! A minimal logger: one line per event on stderr, this crate at `info`, libraries at `warn`.

use log::{Level, LevelFilter, Metadata, Record};

struct StderrLogger {
    own: Level,
}

impl log::Log for StderrLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        if m.target().starts_with("idealstack") {
            m.level() <= self.own
        } else {
            m.level() <= Level::Warn
        }
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("sftp {} {}: {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

/// Installs the logger (once; later calls are ignored). `verbose` adds debug lines of this crate.
pub fn init(verbose: bool) {
    let own = if verbose { Level::Debug } else { Level::Info };
    if log::set_boxed_logger(Box::new(StderrLogger { own })).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

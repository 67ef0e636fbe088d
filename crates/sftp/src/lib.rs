//! idealstack-sftp: the SFTP gateway. Each site's users upload to their own folder
//! (`/sites/<site>` of the EFS contract in DESIGN.md), confined there by the kernel, writing as
//! the site's uid/gid so PHP can read and write what was uploaded.
//!
//! # Pieces
//! - [`server`]: SSH (russh) connections, limits, authentication, throttling, logging.
//! - [`session`]: the SFTP v3 operations on one channel; [`protocol`]: the wire format.
//! - [`vpath`] (lexical) and [`sitefs`] (kernel: `openat2` + `RESOLVE_BENEATH`): confinement.
//! - [`creds`]: each session's thread runs as the site's uid/gid.
//! - [`users`]: the user store (argon2 passwords, public keys, read-only), from a
//!   [`users::UserStoreSource`], edited through [`store`]; [`hostkey`]: the persisted host key;
//!   [`throttle`].
//!
//! # Dependency versions and advisories
//! `russh` 0.65.1, the newest release when this was written (2026-11-26). Every russh advisory
//! we found is fixed before it: GHSA-4r3c-5hpg-58qr / CVE-2026-48110 (allocation-first parsing,
//! fixed 0.61.0), CVE-2026-46673 / GHSA-g9f8-wqj9-fjw5 (unchecked CryptoVec allocation, 0.60.3),
//! CVE-2026-46702 (decompression bomb, 0.61.1), CVE-2026-42189 / GHSA-f5v4-2wr6-hqmg
//! (keyboard-interactive pre-auth panic, 0.60.1), GHSA-5xvq-cp9x-6p6r and GHSA-cqjc-rmpq-xprq
//! (pre- and post-auth panics, 0.62.4), GHSA-47hw-gvq5-r2gm (client side, 0.63.1). Default
//! features are off: no `flate2` (compression is not offered at all) and no `rsa` (the `rsa`
//! crate carries the unfixed RUSTSEC-2023-0071), so host and user keys are Ed25519 or ECDSA.
//! The SFTP protocol is implemented here ([`protocol`]) rather than with `russh-sftp`, so that
//! the parser is bounded, property-tested and free of another dependency's advisory history.
//! `argon2` 0.5.3 and `rustix` 1.x have no known advisory.
//!
//! # The user store in the cluster
//! [`users::UserStoreSource`] is the port for "fetch the user store document" (the gateway),
//! [`store::UserStoreTarget`] the port for "edit it without losing a concurrent edit"
//! (`idealstack sftp user`). Files implement both here; the object `state/sftp/users.json` in the
//! stack's state bucket implements both in `idealstack_aws::sftp`. A store that does not exist
//! yet means no logins (the gateway starts and waits for one); one it may not read is an error.

pub mod creds;
pub mod fsutil;
pub mod hostkey;
pub mod logging;
pub mod protocol;
pub mod random;
pub mod server;
pub mod session;
pub mod sitefs;
pub mod store;
pub mod throttle;
pub mod users;
pub mod vpath;

pub use server::{Gateway, GatewayConfig, ServeError, serve_blocking};
pub use users::{FileSource, UserStoreSource};

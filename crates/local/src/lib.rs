//! idealstack-local: a stack's cluster on one machine (`idealstack local`).
//!
//! The stack's templates are deployed into the AWS emulator by the ordinary deployer; this crate
//! then plays the parts of AWS that run things: ECS's scheduler on one instance ([`reconcile`],
//! [`podman`]: every service's task definition, as registered, as podman containers at its
//! desired count; one-off tasks), EFS ([`efs`]: a folder with access point semantics), the
//! Application Load Balancer ([`router`]: the listener rules as deployed, on a local port), the
//! container credentials endpoint ([`credentials`]), and the awslogs driver ([`logs`]).
//! [`supervise`] runs them together over the [`ports::Emulator`] port (crates/aws implements it).

pub mod credentials;
pub mod database;
pub mod efs;
pub mod emulator;
pub mod logs;
pub mod podman;
pub mod ports;
pub mod reconcile;
pub mod router;
pub mod spec;
pub mod supervise;

//! idealstack-deploy: the deployer as pure logic over narrow ports ([`ports`]), with no AWS SDK.
//!
//! - [`changes`]: what a change set does per resource, and the data-loss refusal.
//! - [`status`]: stack statuses and the first failing resource of an operation.
//! - [`order`]: deletions first, then waves of stacks in dependency order; parameter resolution.
//! - [`engine`]: one stack through a change set, every way it can end handled.
//! - [`policy`]: the stack policy relaxed for exactly the data an update may lose.
//! - [`certs`]: ACM certificates with DNS validation, Route 53 records, warnings.
//! - [`state`]: what is kept in the state bucket (assignments, desired state for the agent).
//! - [`run`]: a whole deploy and a whole destroy.
//! - [`progress`]: live view on a terminal, plain lines otherwise.
//!
//! `idealstack-aws` implements the ports with the AWS SDK; the CLI wires them.

pub mod certs;
pub mod changes;
pub mod engine;
pub mod order;
pub mod policy;
pub mod ports;
pub mod progress;
pub mod run;
pub mod state;
pub mod status;

pub use engine::{Failure, Options, Outcome};
pub use run::{Ports, Report};

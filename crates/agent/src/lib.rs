//! idealstack-agent: what runs in the cluster and does what CloudFormation cannot.
//!
//! - [`policy`]: the scaling policy, a pure function of observations;
//! - [`trace`], [`sim`], [`reference`]: traces, the simulator and the controllers it compares
//!   (target tracking as ECS users configure it, and the clairvoyant lower bound);
//! - [`bench`]: the scaling benchmark's report;
//! - [`desired`]: the desired state the deployer writes to the stack's bucket;
//! - [`ports`]: the narrow traits over AWS (and the database and file system) the loop uses;
//! - [`reconcile`]: the pure decision, observed world -> actions with reasons;
//! - [`controller`]: the loop: lease, observe, decide, act, requeue with backoff;
//! - [`database`]: per-site databases and users on the stack's MySQL/MariaDB;
//! - [`folders`]: the site folders of the file-system contract;
//! - [`purge`]: deleting a removed site's data when the user asked for it.

pub mod bench;
pub mod controller;
pub mod database;
pub mod desired;
pub mod folders;
pub mod policy;
pub mod ports;
pub mod purge;
pub mod reconcile;
pub mod reference;
pub mod sim;
pub mod trace;

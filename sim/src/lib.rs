//! # hearsay-sim
//!
//! A deterministic simulator of thousands of Hearsay nodes in one process, one thread and
//! virtual time. It drives [`hearsay_protocol::Node`] values directly: packets become
//! entries in an event heap keyed by `(Instant, seq)`, timers jump straight to the next
//! deadline, and one master seed derives every node's RNG, the network's and the fault
//! choices, so a run is reproducible bit for bit (its [`digest`](World::digest) proves it).
//!
//! ```text
//!   Plan (SimConfig + faults) ──▶ World ──run_until──▶ Report ──▶ JSON / summary / SVG
//!                                   │
//!          nodes: Vec<Node<ChaCha8Rng>>   network: latency, loss, duplication,
//!          views: 1 bit per pair          jitter, packet budget, cuts (partitions)
//! ```
//!
//! - [`world`]: the virtual clock, nodes, faults (crash, restart, leave, stress, cuts) and
//!   the measurements (join convergence, crash detection, false positives, traffic).
//! - [`network`]: the composable network model.
//! - [`scenario`]: named plans (`demo`, `partition`, `stress`, …).
//! - [`report`]: the JSON report with stable field names and the text summary.
//! - [`plot`]: an SVG chart of how fast news spreads.
//! - [`parse`]: the command line's time and fault specifications.
//!
//! ## Example
//!
//! ```
//! use core::time::Duration;
//! use hearsay_sim::{Fault, Instant, SimConfig, World};
//!
//! let mut world = World::new(SimConfig::new(20, 1)).unwrap();
//! world.schedule(Duration::from_secs(5), Fault::Crash { count: 1 });
//! world.run_until(Instant::from_secs(30));
//! assert!(world.join_converged().is_some());
//! assert!(world.crashes()[0].all_failed.is_some());
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod digest;
pub mod network;
pub mod parse;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod world;

pub use hearsay_protocol::Instant;
pub use network::{Cut, Network, NetworkConfig};
pub use report::Report;
pub use scenario::{Plan, PlannedFault};
pub use world::{Fault, NodeStatus, Profile, SimConfig, SimError, World};

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
//!     scheduler (clock, action queue) · nodes · faults · network · views
//!     measure (timeline, digest, detection, watches) · broadcasts · invariants
//! ```
//!
//! ## Where things are
//!
//! | file | what it holds |
//! | --- | --- |
//! | `world/mod.rs` | [`World`]: composes the parts below and routes between them |
//! | `world/config.rs` | [`SimConfig`], [`Profile`], [`SimError`] |
//! | `world/scheduler.rs` | the event loop: virtual clock, action queue, draining a node |
//! | `world/nodes.rs` | node status, lives and timers; names, addresses, seeds |
//! | `world/faults.rs` | [`Fault`], the join storm, the fault schedule and injection |
//! | `network.rs` | [`network`]: latency, loss, duplication, packet budget, cuts |
//! | `world/views.rs` | what each node sees (one bit per pair); convergence |
//! | `world/measure.rs` | timeline, traffic, digest, crash detection, false positives, samples |
//! | `world/broadcasts.rs` | user events and queries: sending, answering, spread |
//! | `world/invariants.rs` | invariants checked while running and their violations |
//! | `scenario.rs` | [`scenario`]: named plans (`demo`, `partition`, `stress`, …) |
//! | `report.rs` | [`report`]: the JSON report with stable field names and the text summary |
//! | `plot.rs` | [`plot`]: an SVG chart of how fast news spreads |
//! | `parse.rs` | [`parse`]: the command line's time and fault specifications |
//! | `digest.rs` | [`digest`]: the run digest (FNV-1a over 64-bit words) |
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

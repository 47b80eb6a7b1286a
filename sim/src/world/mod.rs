//! The world: the simulated cluster, composed of one part per concern.
//!
//! - `config.rs`: [`SimConfig`], [`Profile`], [`SimError`]: what is fixed before a run.
//! - `scheduler.rs`: the event loop. Owns the virtual clock, the queue of actions and the
//!   packet buffers; [`World::run_until`] pops actions, hands each to one node and drains
//!   what the node produced (transmits, events, its next deadline).
//! - `nodes.rs`: each node's protocol state, status, life and timer; names, addresses and
//!   seeds; starting, restarting and taking nodes down.
//! - `faults.rs`: fault injection. Owns the fault stream, cut and stress identifiers and who
//!   is stressed; [`Fault`], the join storm, [`World::schedule`] and friends, and how each
//!   fault is applied.
//! - [`network`](crate::network) (at crate level): what happens to each packet in flight.
//! - `views.rs`: what each node sees, one bit per (observer, member) pair;
//!   [`World::converged`].
//! - `measure.rs`: everything measured (timeline, traffic and the digest, crash detection,
//!   false positives, milestones, samples) and the periodic sample that drives them.
//! - `broadcasts.rs`: user events and queries: sending them, answering queries, how far
//!   each one spread.
//! - `invariants.rs`: the invariants checked while running, the violations found, and
//!   [`World::check_invariants`].
//!
//! Each part keeps its fields private to its file and offers a narrow API; the `World`
//! holds one of each and routes between them. A part's own file also holds the `World`
//! methods that are about that concern.
//!
//! Everything random comes from the master seed: node `i` in its `life`-th process gets
//! `ChaCha8Rng::seed_from_u64(node_seed(seed, i, life))`; the network (with the stress
//! delays) and the faults have a stream each. Same seed and schedule ⇒ same
//! [`digest`](World::digest).

use core::time::Duration;

use hearsay_protocol::{Config, Instant};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::network::Network;

mod broadcasts;
mod config;
mod faults;
mod invariants;
mod measure;
mod nodes;
mod scheduler;
mod views;

use broadcasts::Broadcasts;
pub use broadcasts::{BroadcastKind, BroadcastRecord, CURVES_KEPT};
pub use config::{Profile, SimConfig, SimError};
pub use faults::Fault;
use faults::Faults;
use invariants::Invariants;
pub use measure::{CrashRecord, FalsePositive, Sample, TimelineEntry, Watch, WatchKind};
use measure::{Detection, Timeline, Traffic, Watches};
pub use nodes::{
    NodeStatus, PORT, SimNode, addr_of, index_of_name, name_of, node_seed, splitmix64,
};
use nodes::{Nodes, index_of_addr};
use scheduler::{Action, Scheduler};
use views::Views;

/// The simulated cluster. Build with [`World::new`], schedule faults, then
/// [`run_until`](World::run_until).
pub struct World {
    config: SimConfig,
    /// The protocol configuration every node runs (validated once, in [`World::new`]).
    proto: Config,
    scheduler: Scheduler,
    nodes: Nodes,
    network: Network,
    /// The network's random stream (loss, latency, duplication, stress delays).
    net_rng: ChaCha8Rng,
    faults: Faults,
    views: Views,
    timeline: Timeline,
    traffic: Traffic,
    detection: Detection,
    watches: Watches,
    /// One sample of the views per sample interval (appended by `measure.rs`).
    samples: Vec<Sample>,
    broadcasts: Broadcasts,
    invariants: Invariants,
}

/// A duration as seconds with millisecond precision, for timeline lines.
fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

impl World {
    /// Builds the world and schedules the join storm; nothing runs until
    /// [`run_until`](Self::run_until).
    ///
    /// # Errors
    /// [`SimError`] for a node count out of range or a configuration the protocol rejects.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        let n = config.nodes;
        if n == 0 || n > 1 << 24 {
            return Err(SimError::NodeCount(n));
        }
        let proto = config.protocol_config();
        proto
            .validate()
            .map_err(|e| SimError::Config(e.to_string()))?;
        let net_rng = ChaCha8Rng::seed_from_u64(splitmix64(config.seed ^ 0x7E7));
        let mut w = Self {
            proto,
            scheduler: Scheduler::new(),
            nodes: Nodes::new(n),
            network: Network::new(config.network.clone()),
            net_rng,
            faults: Faults::new(config.seed, n, config.stress_delay),
            views: Views::new(n),
            timeline: Timeline::new(),
            traffic: Traffic::new(),
            detection: Detection::new(n),
            watches: Watches::new(),
            samples: Vec::new(),
            broadcasts: Broadcasts::new(n),
            invariants: Invariants::new(n),
            config,
        };
        w.schedule_join_storm();
        w.scheduler.push(Instant::ZERO, Action::Tick);
        Ok(w)
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.scheduler.now()
    }

    /// The run's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The protocol configuration every node runs.
    pub fn protocol_config(&self) -> &Config {
        &self.proto
    }

    /// The network (cuts in force, drop counters).
    pub fn network(&self) -> &Network {
        &self.network
    }
}

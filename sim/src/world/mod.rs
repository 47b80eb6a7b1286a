//! The world: a virtual clock, an event heap, the nodes, the fault schedule and the
//! measurements.
//!
//! ```text
//!   heap of (Instant, seq) ──pop──▶ Start / Timer / Deliver / Fault / Stop / Tick
//!                                        │
//!                          node.handle_*(now, …)   (one node, one input)
//!                                        │
//!            drain: poll_transmit ─▶ Network::route ─▶ push Deliver(s)
//!                   poll_event    ─▶ views, crash records, false positives, digest
//!                   stats().suspicions delta ─▶ who suspected whom
//!                   poll_timeout  ─▶ push Timer (stale ones skipped by generation)
//! ```
//!
//! Everything random comes from the master seed: node `i` in its `life`-th process gets
//! `ChaCha8Rng::seed_from_u64(derive(seed, i, life))`; the network and the fault choices
//! have their own streams. Same seed and schedule ⇒ same [`digest`](World::digest).
//!
//! Views are kept as one bit per (observer, member) pair, maintained from events, with
//! per-row and per-column counts, so "every live node sees every live node alive" is an
//! O(N) check and 10 000 nodes cost 12.5 MB of bits.

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
    proto: Config,
    scheduler: Scheduler,
    nodes: Nodes,
    network: Network,
    net_rng: ChaCha8Rng,
    scratch: Vec<u8>,
    views: Views,
    faults: Faults,
    detection: Detection,
    watches: Watches,
    invariants: Invariants,
    samples: Vec<Sample>,
    timeline: Timeline,
    traffic: Traffic,
    broadcasts: Broadcasts,
}

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
            network: Network::new(config.network.clone()),
            proto,
            scheduler: Scheduler::new(),
            nodes: Nodes::new(n),
            net_rng,
            scratch: Vec::new(),
            views: Views::new(n),
            faults: Faults::new(config.seed, n, config.stress_delay),
            detection: Detection::new(n),
            watches: Watches::new(),
            invariants: Invariants::new(n),
            samples: Vec::new(),
            timeline: Timeline::new(),
            traffic: Traffic::new(),
            broadcasts: Broadcasts::new(n),
            config,
        };
        w.schedule_join_storm();
        w.scheduler.push(Instant::ZERO, Action::Tick);
        Ok(w)
    }

    // ---------------------------------------------------------------------------------

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

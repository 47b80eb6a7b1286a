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
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hearsay_protocol::{Config, Identity, Instant, Node, NodeName};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::network::Network;

mod broadcasts;
mod config;
mod faults;
mod invariants;
mod measure;
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
use scheduler::{Action, Scheduler};
use views::Views;

/// The node type the simulator drives.
pub type SimNode = Node<ChaCha8Rng>;

/// The port every synthetic address uses.
pub const PORT: u16 = 7946;

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Not started yet (join storm still running).
    NotStarted,
    /// Running and a member.
    Up,
    /// Left; still driven for `leave_linger` so the news spreads.
    Leaving,
    /// Left and stopped.
    Stopped,
    /// Crashed: no input, no timers, state gone.
    Crashed,
}

struct Slot {
    node: Option<SimNode>,
    status: NodeStatus,
    timer_at: Instant,
    timer_generation: u32,
    life: u32,
}

/// The simulated cluster. Build with [`World::new`], schedule faults, then
/// [`run_until`](World::run_until).
pub struct World {
    config: SimConfig,
    proto: Config,
    n: u32,
    scheduler: Scheduler,
    slots: Vec<Slot>,
    network: Network,
    net_rng: ChaCha8Rng,
    scratch: Vec<u8>,
    views: Views,
    up: u32,
    started: u32,
    faults: Faults,
    detection: Detection,
    watches: Watches,
    invariants: Invariants,
    samples: Vec<Sample>,
    timeline: Timeline,
    traffic: Traffic,
    broadcasts: Broadcasts,
}

/// SplitMix64 step: a well-mixed 64-bit function for deriving seeds.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The seed of node `node`'s `life`-th process under the master seed.
pub fn node_seed(master: u64, node: u32, life: u32) -> u64 {
    splitmix64(master ^ splitmix64((u64::from(node) << 24) ^ u64::from(life)))
}

/// The synthetic address of node `i`: `10.a.b.c:7946` with `abc` the index in base 256.
pub fn addr_of(i: u32) -> SocketAddr {
    let [_, a, b, c] = i.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), PORT)
}

/// The name of node `i`: `n{i}`.
pub fn name_of(i: u32) -> String {
    format!("n{i}")
}

/// The index behind a node name `n{i}`.
pub fn index_of_name(name: &str) -> Option<u32> {
    name.strip_prefix('n')?.parse().ok()
}

fn index_of_addr(addr: SocketAddr) -> Option<u32> {
    match addr.ip() {
        IpAddr::V4(ip) if addr.port() == PORT => match ip.octets() {
            [10, a, b, c] => Some(u32::from_be_bytes([0, a, b, c])),
            _ => None,
        },
        _ => None,
    }
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
        let slots = (0..n)
            .map(|_| Slot {
                node: None,
                status: NodeStatus::NotStarted,
                timer_at: Instant::MAX,
                timer_generation: 0,
                life: 0,
            })
            .collect();
        let mut w = Self {
            network: Network::new(config.network.clone()),
            proto,
            n,
            scheduler: Scheduler::new(),
            slots,
            net_rng,
            scratch: Vec::new(),
            views: Views::new(n),
            up: 0,
            started: 0,
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

    fn start(&mut self, i: u32) {
        let now = self.now();
        let slot = &mut self.slots[i as usize];
        if !matches!(
            slot.status,
            NodeStatus::NotStarted | NodeStatus::Crashed | NodeStatus::Stopped
        ) {
            return;
        }
        let restart = slot.status != NodeStatus::NotStarted;
        if restart {
            slot.life += 1;
        }
        let rng = ChaCha8Rng::seed_from_u64(node_seed(self.config.seed, i, slot.life));
        let Ok(name) = NodeName::new(&name_of(i)) else {
            return;
        };
        let id = Identity::new(name, addr_of(i));
        let Ok(mut node) = Node::new(self.proto.clone(), id, rng, now) else {
            return;
        };
        if self.config.encrypt {
            let key = hearsay_protocol::SecretKey::new([0x5e; hearsay_protocol::KEY_BYTES]);
            node.set_keyring(Some(hearsay_protocol::Keyring::new(key)));
        }
        slot.node = Some(node);
        slot.status = NodeStatus::Up;
        self.faults.node_started(i);
        self.invariants.node_started(i);
        self.detection.node_started(i);
        self.up += 1;
        if !restart {
            self.started += 1;
            if self.started == self.n {
                self.log(now, format!("all {} nodes started", self.n));
            }
        }
        let seed = if restart {
            self.random_node(|w, j| j != i && w.slots[j as usize].status == NodeStatus::Up)
        } else if i == 0 {
            None
        } else {
            Some(0)
        };
        if let (Some(seed), Some(node)) = (seed, self.slots[i as usize].node.as_mut()) {
            let _ = node.join(now, &[addr_of(seed)]);
        }
        if restart {
            self.log(
                now,
                format!(
                    "n{i} restarts under the same name and joins via {:?}",
                    seed.map(name_of)
                ),
            );
            self.watches.start(WatchKind::AliveEverywhere, i, now);
        }
        self.after_input(i, false);
    }

    fn take_down(&mut self, i: u32, status: NodeStatus) {
        let s = &mut self.slots[i as usize];
        if s.status == NodeStatus::Up {
            self.up -= 1;
        }
        s.status = status;
        if status == NodeStatus::Crashed {
            s.node = None;
            s.timer_generation += 1;
            s.timer_at = Instant::MAX;
        }
        self.faults.node_down(i);
        let now = self.now();
        self.views
            .clear_row(i, |t| self.detection.unseen(t, now, &mut self.timeline));
        self.broadcasts.forget(i);
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

    /// Number of nodes (in any status).
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Whether the world has no nodes (never: at least one is required).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Node `i`'s protocol state, while it runs.
    pub fn node(&self, i: u32) -> Option<&SimNode> {
        self.slots.get(i as usize)?.node.as_ref()
    }

    /// Node `i`'s status.
    pub fn status(&self, i: u32) -> Option<NodeStatus> {
        self.slots.get(i as usize).map(|s| s.status)
    }

    /// Number of nodes up (running and not left).
    pub fn up_count(&self) -> u32 {
        self.up
    }

    /// The network (cuts in force, drop counters).
    pub fn network(&self) -> &Network {
        &self.network
    }
}

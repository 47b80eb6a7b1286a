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
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::network::{Cut, Network};

mod broadcasts;
mod config;
mod invariants;
mod measure;
mod scheduler;
mod views;

use broadcasts::Broadcasts;
pub use broadcasts::{BroadcastKind, BroadcastRecord, CURVES_KEPT};
pub use config::{Profile, SimConfig, SimError};
use invariants::Invariants;
pub use measure::{CrashRecord, FalsePositive, Sample, TimelineEntry, Watch, WatchKind};
use measure::{Detection, Timeline, Traffic, Watches};
use scheduler::{Action, Scheduler};
use views::Views;

/// The node type the simulator drives.
pub type SimNode = Node<ChaCha8Rng>;

/// The port every synthetic address uses.
pub const PORT: u16 = 7946;

/// A fault or a change of conditions, applied at a scheduled virtual time.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Crash `count` random live nodes (never node 0, the seed): silent, state lost.
    Crash {
        /// How many.
        count: u32,
    },
    /// Crash one node.
    CrashNode {
        /// Its index.
        node: u32,
    },
    /// Restart every crashed node under its name and address, joining a random live node.
    RestartCrashed,
    /// Restart one crashed or stopped node.
    Restart {
        /// Its index.
        node: u32,
    },
    /// `count` random live nodes (never node 0) leave gracefully.
    Leave {
        /// How many.
        count: u32,
    },
    /// One node leaves gracefully.
    LeaveNode {
        /// Its index.
        node: u32,
    },
    /// Put a cut in force under `id`.
    Cut {
        /// Identifier for [`Fault::Heal`].
        id: u32,
        /// The cut.
        cut: Cut,
    },
    /// Cut one random live node (never node 0) off, both ways (`one_way`: it can receive
    /// but not send), under `id`.
    Isolate {
        /// Identifier for [`Fault::Heal`].
        id: u32,
        /// Only its outbound traffic is dropped.
        one_way: bool,
    },
    /// Lift the cut `id`.
    Heal {
        /// The cut's identifier.
        id: u32,
    },
    /// Stress `count` random live nodes (never node 0) under `id`.
    Stress {
        /// Identifier for [`Fault::Unstress`].
        id: u32,
        /// How many.
        count: u32,
    },
    /// End the stress `id`.
    Unstress {
        /// The stress's identifier.
        id: u32,
    },
    /// Change the datagram loss probability.
    SetLoss {
        /// New probability.
        loss: f64,
    },
    /// A node sends a user event (see [`World::broadcasts`] for how far it got).
    UserEvent {
        /// The sender; `None` (or a node that is not up) for a random live node.
        node: Option<u32>,
        /// The event's name; `None` for `event-K` (K counts broadcasts from 1).
        name: Option<String>,
    },
    /// A node asks a query without filters; every node answers with its name.
    Query {
        /// The asker; `None` (or a node that is not up) for a random live node.
        node: Option<u32>,
        /// The query's name; `None` for `query-K`.
        name: Option<String>,
    },
}

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
    stressed: bool,
    busy_until: Instant,
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
    fault_rng: ChaCha8Rng,
    scratch: Vec<u8>,
    views: Views,
    up: u32,
    started: u32,
    next_id: u32,
    stresses: Vec<(u32, Vec<u32>)>,
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
        let mut fault_rng = ChaCha8Rng::seed_from_u64(splitmix64(config.seed ^ 0xFA17));
        let net_rng = ChaCha8Rng::seed_from_u64(splitmix64(config.seed ^ 0x7E7));
        let slots = (0..n)
            .map(|_| Slot {
                node: None,
                status: NodeStatus::NotStarted,
                timer_at: Instant::MAX,
                timer_generation: 0,
                life: 0,
                stressed: false,
                busy_until: Instant::ZERO,
            })
            .collect();
        let mut w = Self {
            network: Network::new(config.network.clone()),
            proto,
            n,
            scheduler: Scheduler::new(),
            slots,
            net_rng,
            fault_rng: fault_rng.clone(),
            scratch: Vec::new(),
            views: Views::new(n),
            up: 0,
            started: 0,
            next_id: 1,
            stresses: Vec::new(),
            detection: Detection::new(n),
            watches: Watches::new(),
            invariants: Invariants::new(n),
            samples: Vec::new(),
            timeline: Timeline::new(),
            traffic: Traffic::new(),
            broadcasts: Broadcasts::new(n),
            config,
        };
        let window = w.config.join_window.as_micros() as u64;
        w.scheduler.push(Instant::ZERO, Action::Start { node: 0 });
        for i in 1..n {
            let at = if window == 0 {
                0
            } else {
                1 + fault_rng.next_u64() % window
            };
            w.scheduler
                .push(Instant::from_micros(at), Action::Start { node: i });
        }
        w.fault_rng = fault_rng;
        w.scheduler.push(Instant::ZERO, Action::Tick);
        w.log(
            Instant::ZERO,
            format!(
                "join storm: {n} nodes start within {} and join n0 ({} profile, {})",
                secs(w.config.join_window),
                w.config.profile.name(),
                if w.config.lifeguard {
                    "Lifeguard"
                } else {
                    "plain SWIM"
                }
            ),
        );
        Ok(w)
    }

    // ---------------------------------------------------------------------------------
    // Scheduling
    // ---------------------------------------------------------------------------------

    /// Schedules `fault` at virtual time `at` (from the start of the run).
    pub fn schedule(&mut self, at: Duration, fault: Fault) {
        self.scheduler
            .push(Instant::ZERO + at, Action::Fault(fault));
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Splits the nodes `fraction` / `1 - fraction` (by index) from `from` until `until`.
    pub fn schedule_partition(&mut self, fraction: f64, from: Duration, until: Duration) {
        let id = self.fresh_id();
        self.schedule(
            from,
            Fault::Cut {
                id,
                cut: Cut::split(self.n, fraction),
            },
        );
        self.schedule(until, Fault::Heal { id });
    }

    /// Puts `cut` in force from `from` until `until`.
    pub fn schedule_cut(&mut self, cut: Cut, from: Duration, until: Duration) {
        let id = self.fresh_id();
        self.schedule(from, Fault::Cut { id, cut });
        self.schedule(until, Fault::Heal { id });
    }

    /// Cuts one random node off (both ways, or only its sends when `one_way`) from `from`
    /// until `until`.
    pub fn schedule_isolate(&mut self, one_way: bool, from: Duration, until: Duration) {
        let id = self.fresh_id();
        self.schedule(from, Fault::Isolate { id, one_way });
        self.schedule(until, Fault::Heal { id });
    }

    /// Stresses `count` random nodes from `from` until `until`.
    pub fn schedule_stress(&mut self, count: u32, from: Duration, until: Duration) {
        let id = self.fresh_id();
        self.schedule(from, Fault::Stress { id, count });
        self.schedule(until, Fault::Unstress { id });
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
        slot.busy_until = Instant::ZERO;
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

    // ---------------------------------------------------------------------------------
    // Faults
    // ---------------------------------------------------------------------------------

    fn random_node(&mut self, pred: impl Fn(&Self, u32) -> bool) -> Option<u32> {
        let candidates: Vec<u32> = (0..self.n).filter(|&j| pred(self, j)).collect();
        if candidates.is_empty() {
            return None;
        }
        let k = (self.fault_rng.next_u64() % candidates.len() as u64) as usize;
        Some(candidates[k])
    }

    fn random_nodes(&mut self, count: u32) -> Vec<u32> {
        let mut candidates: Vec<u32> = (1..self.n)
            .filter(|&j| {
                self.slots[j as usize].status == NodeStatus::Up && !self.slots[j as usize].stressed
            })
            .collect();
        let k = (count as usize).min(candidates.len());
        for i in 0..k {
            let j = i + (self.fault_rng.next_u64() % (candidates.len() - i) as u64) as usize;
            candidates.swap(i, j);
        }
        candidates.truncate(k);
        candidates
    }

    fn take_down(&mut self, i: u32, status: NodeStatus) {
        let s = &mut self.slots[i as usize];
        if s.status == NodeStatus::Up {
            self.up -= 1;
        }
        s.status = status;
        s.stressed = false;
        if status == NodeStatus::Crashed {
            s.node = None;
            s.timer_generation += 1;
            s.timer_at = Instant::MAX;
        }
        let now = self.now();
        self.views
            .clear_row(i, |t| self.detection.unseen(t, now, &mut self.timeline));
        self.broadcasts.forget(i);
    }

    fn apply(&mut self, fault: Fault) {
        let now = self.now();
        match fault {
            Fault::Crash { count } => {
                for i in self.random_nodes(count) {
                    self.crash(i);
                }
            }
            Fault::CrashNode { node } => {
                if node < self.n && matches!(self.slots[node as usize].status, NodeStatus::Up) {
                    self.crash(node);
                }
            }
            Fault::RestartCrashed => {
                for i in 0..self.n {
                    if self.slots[i as usize].status == NodeStatus::Crashed {
                        self.start(i);
                    }
                }
            }
            Fault::Restart { node } => {
                if node < self.n {
                    self.start(node);
                }
            }
            Fault::Leave { count } => {
                for i in self.random_nodes(count) {
                    self.leave(i);
                }
            }
            Fault::LeaveNode { node } => {
                if node < self.n && self.slots[node as usize].status == NodeStatus::Up {
                    self.leave(node);
                }
            }
            Fault::Cut { id, cut } => {
                self.log(
                    now,
                    format!(
                        "network cut: {:?} ↛ {:?}{}",
                        cut.from,
                        cut.to,
                        if cut.both_ways {
                            " (both ways)"
                        } else {
                            " (one way)"
                        }
                    ),
                );
                self.network.add_cut(id, cut);
            }
            Fault::Isolate { id, one_way } => {
                let pick = self.random_nodes(1);
                if let Some(&i) = pick.first() {
                    let cut = if one_way {
                        Cut {
                            from: i..i + 1,
                            to: 0..self.n,
                            both_ways: false,
                        }
                    } else {
                        Cut::isolate(i, self.n)
                    };
                    let how = if one_way {
                        "can no longer send (asymmetric)"
                    } else {
                        "is isolated"
                    };
                    self.log(now, format!("n{i} {how}"));
                    self.network.add_cut(id, cut);
                }
            }
            Fault::Heal { id } => {
                if self.network.remove_cut(id) {
                    self.log(now, "network healed".to_string());
                    self.watches.start(WatchKind::Converged, 0, now);
                }
            }
            Fault::Stress { id, count } => {
                let picked = self.random_nodes(count);
                for &i in &picked {
                    self.slots[i as usize].stressed = true;
                }
                let names: Vec<String> = picked.iter().map(|&i| name_of(i)).collect();
                let (lo, hi) = self.config.stress_delay;
                self.log(
                    now,
                    format!(
                        "stress: {} handle input {}..{} late",
                        names.join(", "),
                        secs(lo),
                        secs(hi)
                    ),
                );
                self.stresses.push((id, picked));
            }
            Fault::Unstress { id } => {
                if let Some(k) = self.stresses.iter().position(|(i, _)| *i == id) {
                    let (_, nodes) = self.stresses.swap_remove(k);
                    for i in nodes {
                        self.slots[i as usize].stressed = false;
                    }
                    self.log(now, "stress ends".to_string());
                }
            }
            Fault::SetLoss { loss } => {
                self.network.set_loss(loss);
                self.log(now, format!("datagram loss set to {:.1}%", loss * 100.0));
            }
            Fault::UserEvent { node, name } => {
                self.send_broadcast(BroadcastKind::Event, node, name)
            }
            Fault::Query { node, name } => self.send_broadcast(BroadcastKind::Query, node, name),
        }
    }

    fn crash(&mut self, i: u32) {
        let now = self.now();
        self.take_down(i, NodeStatus::Crashed);
        self.detection.crashed(i, now);
        self.log(now, format!("n{i} crashes"));
        if self.views.seen_by(i) == 0 {
            self.on_unseen(i);
        }
    }

    fn leave(&mut self, i: u32) {
        let now = self.now();
        if let Some(node) = self.slots[i as usize].node.as_mut() {
            node.leave(now);
        }
        self.take_down(i, NodeStatus::Leaving);
        self.log(now, format!("n{i} leaves gracefully"));
        self.watches.start(WatchKind::GoneEverywhere, i, now);
        let life = self.slots[i as usize].life;
        self.scheduler.push(
            now + self.config.leave_linger,
            Action::Stop { node: i, life },
        );
        self.after_input(i, false);
    }

    // ---------------------------------------------------------------------------------
    // Getters
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

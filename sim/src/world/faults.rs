//! Fault injection: the faults a run can schedule, the join storm, and how each fault is
//! applied when its time comes.
//!
//! Every choice a fault makes (which nodes crash, leave, get stressed or isolated, which
//! node a restarted one joins) and every join-storm start time comes from one random
//! stream derived from the master seed, so a schedule replays identically.
//!
//! A stressed node handles every input late: each packet for it waits a random
//! [`stress_delay`](super::SimConfig::stress_delay) and no packet overtakes an earlier one,
//! as if the process were starved of CPU.

use core::time::Duration;

use hearsay_protocol::Instant;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::scheduler::Action;
use super::{BroadcastKind, NodeStatus, WatchKind, World, name_of, secs, splitmix64};
use crate::network::Cut;

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

/// The fault stream and the state faults leave behind (cut and stress identifiers, who is
/// stressed).
pub(super) struct Faults {
    rng: ChaCha8Rng,
    next_id: u32,
    /// Stresses in force: identifier and the nodes it stresses.
    stresses: Vec<(u32, Vec<u32>)>,
    /// Per node: whether it is stressed now.
    stressed: Vec<bool>,
    /// Per node: when its last delayed input will be handled (inputs keep their order).
    busy_until: Vec<Instant>,
    /// How late a stressed node handles an input (uniform range).
    stress_delay: (Duration, Duration),
}

impl Faults {
    /// The fault stream of master seed `seed` for `n` nodes; nobody stressed.
    pub(super) fn new(seed: u64, n: u32, stress_delay: (Duration, Duration)) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(splitmix64(seed ^ 0xFA17)),
            next_id: 1,
            stresses: Vec::new(),
            stressed: vec![false; n as usize],
            busy_until: vec![Instant::ZERO; n as usize],
            stress_delay,
        }
    }

    /// A new identifier for a cut or a stress.
    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// One of `candidates` at random (none when empty).
    fn pick_one(&mut self, candidates: &[u32]) -> Option<u32> {
        if candidates.is_empty() {
            return None;
        }
        let k = (self.rng.next_u64() % candidates.len() as u64) as usize;
        Some(candidates[k])
    }

    /// `count` of `candidates` at random (all of them if fewer), in the order drawn.
    fn pick(&mut self, count: u32, mut candidates: Vec<u32>) -> Vec<u32> {
        let k = (count as usize).min(candidates.len());
        for i in 0..k {
            let j = i + (self.rng.next_u64() % (candidates.len() - i) as u64) as usize;
            candidates.swap(i, j);
        }
        candidates.truncate(k);
        candidates
    }

    /// Stresses `nodes` under `id`.
    fn stress(&mut self, id: u32, nodes: Vec<u32>) {
        for &i in &nodes {
            self.stressed[i as usize] = true;
        }
        self.stresses.push((id, nodes));
    }

    /// Ends the stress `id`; false if there is none.
    fn unstress(&mut self, id: u32) -> bool {
        let Some(k) = self.stresses.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        let (_, nodes) = self.stresses.swap_remove(k);
        for i in nodes {
            self.stressed[i as usize] = false;
        }
        true
    }

    /// Whether node `i` is stressed.
    pub(super) fn is_stressed(&self, i: u32) -> bool {
        self.stressed[i as usize]
    }

    /// Node `i` starts a new life: no input of the old one holds it up.
    pub(super) fn node_started(&mut self, i: u32) {
        self.busy_until[i as usize] = Instant::ZERO;
    }

    /// Node `i` went down: it is no longer stressed.
    pub(super) fn node_down(&mut self, i: u32) {
        self.stressed[i as usize] = false;
    }

    /// When stressed node `i` handles an input that arrives at `now` (`None` when it is
    /// not stressed: at once). Draws the delay from `rng`, the network's stream.
    pub(super) fn stall(
        &mut self,
        i: u32,
        now: Instant,
        rng: &mut impl RngCore,
    ) -> Option<Instant> {
        if !self.stressed[i as usize] {
            return None;
        }
        let (lo, hi) = self.stress_delay;
        let span = hi.saturating_sub(lo).as_micros() as u64;
        let extra = lo + Duration::from_micros(rng.next_u64() % (span + 1));
        let at = (now + extra).max(self.busy_until[i as usize]);
        self.busy_until[i as usize] = at;
        Some(at)
    }
}

impl World {
    /// Schedules `fault` at virtual time `at` (from the start of the run).
    pub fn schedule(&mut self, at: Duration, fault: Fault) {
        self.scheduler
            .push(Instant::ZERO + at, Action::Fault(fault));
    }

    /// Splits the nodes `fraction` / `1 - fraction` (by index) from `from` until `until`.
    pub fn schedule_partition(&mut self, fraction: f64, from: Duration, until: Duration) {
        let id = self.faults.fresh_id();
        self.schedule(
            from,
            Fault::Cut {
                id,
                cut: Cut::split(self.len(), fraction),
            },
        );
        self.schedule(until, Fault::Heal { id });
    }

    /// Puts `cut` in force from `from` until `until`.
    pub fn schedule_cut(&mut self, cut: Cut, from: Duration, until: Duration) {
        let id = self.faults.fresh_id();
        self.schedule(from, Fault::Cut { id, cut });
        self.schedule(until, Fault::Heal { id });
    }

    /// Cuts one random node off (both ways, or only its sends when `one_way`) from `from`
    /// until `until`.
    pub fn schedule_isolate(&mut self, one_way: bool, from: Duration, until: Duration) {
        let id = self.faults.fresh_id();
        self.schedule(from, Fault::Isolate { id, one_way });
        self.schedule(until, Fault::Heal { id });
    }

    /// Stresses `count` random nodes from `from` until `until`.
    pub fn schedule_stress(&mut self, count: u32, from: Duration, until: Duration) {
        let id = self.faults.fresh_id();
        self.schedule(from, Fault::Stress { id, count });
        self.schedule(until, Fault::Unstress { id });
    }

    /// The join storm: node 0 starts at zero, every other node at a uniform instant within
    /// the join window, joining node 0.
    pub(super) fn schedule_join_storm(&mut self) {
        let n = self.len();
        let window = self.config.join_window.as_micros() as u64;
        self.scheduler
            .push(Instant::ZERO, Action::Start { node: 0 });
        for i in 1..n {
            let at = if window == 0 {
                0
            } else {
                1 + self.faults.rng.next_u64() % window
            };
            self.scheduler
                .push(Instant::from_micros(at), Action::Start { node: i });
        }
        self.log(
            Instant::ZERO,
            format!(
                "join storm: {n} nodes start within {} and join n0 ({} profile, {})",
                secs(self.config.join_window),
                self.config.profile.name(),
                if self.config.lifeguard {
                    "Lifeguard"
                } else {
                    "plain SWIM"
                }
            ),
        );
    }

    /// A random node satisfying `pred` (drawn from the fault stream).
    pub(super) fn random_node(&mut self, pred: impl Fn(&Self, u32) -> bool) -> Option<u32> {
        let candidates: Vec<u32> = (0..self.len()).filter(|&j| pred(self, j)).collect();
        self.faults.pick_one(&candidates)
    }

    /// `count` random live, unstressed nodes, never node 0 (the join seed).
    fn random_nodes(&mut self, count: u32) -> Vec<u32> {
        let candidates: Vec<u32> = (1..self.len())
            .filter(|&j| self.nodes.is_up(j) && !self.faults.is_stressed(j))
            .collect();
        self.faults.pick(count, candidates)
    }

    /// Applies a scheduled fault now.
    pub(super) fn apply(&mut self, fault: Fault) {
        let now = self.now();
        match fault {
            Fault::Crash { count } => {
                for i in self.random_nodes(count) {
                    self.crash(i);
                }
            }
            Fault::CrashNode { node } => {
                if node < self.len() && self.nodes.is_up(node) {
                    self.crash(node);
                }
            }
            Fault::RestartCrashed => {
                for i in 0..self.len() {
                    if self.nodes.status(i) == NodeStatus::Crashed {
                        self.start(i);
                    }
                }
            }
            Fault::Restart { node } => {
                if node < self.len() {
                    self.start(node);
                }
            }
            Fault::Leave { count } => {
                for i in self.random_nodes(count) {
                    self.leave(i);
                }
            }
            Fault::LeaveNode { node } => {
                if node < self.len() && self.nodes.is_up(node) {
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
                            to: 0..self.len(),
                            both_ways: false,
                        }
                    } else {
                        Cut::isolate(i, self.len())
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
                let names: Vec<String> = picked.iter().map(|&i| name_of(i)).collect();
                self.faults.stress(id, picked);
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
            }
            Fault::Unstress { id } => {
                if self.faults.unstress(id) {
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

    /// Crashes node `i`: silent, state lost; a new crash record.
    fn crash(&mut self, i: u32) {
        let now = self.now();
        self.take_down(i, NodeStatus::Crashed);
        self.detection.crashed(i, now);
        self.log(now, format!("n{i} crashes"));
        if self.views.seen_by(i) == 0 {
            self.on_unseen(i);
        }
    }

    /// Node `i` leaves gracefully and stops after `leave_linger`.
    fn leave(&mut self, i: u32) {
        let now = self.now();
        if let Some(node) = self.nodes.node_mut(i) {
            node.leave(now);
        }
        self.take_down(i, NodeStatus::Leaving);
        self.log(now, format!("n{i} leaves gracefully"));
        self.watches.start(WatchKind::GoneEverywhere, i, now);
        let life = self.nodes.life(i);
        self.scheduler.push(
            now + self.config.leave_linger,
            Action::Stop { node: i, life },
        );
        self.after_input(i, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(n: u32) -> Faults {
        Faults::new(7, n, (Duration::from_secs(1), Duration::from_secs(3)))
    }

    #[test]
    fn a_stressed_node_handles_inputs_late_and_in_order() {
        let mut f = faults(3);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(f.stall(1, Instant::ZERO, &mut rng), None);
        f.stress(9, vec![1]);
        let mut last = Instant::ZERO;
        for ms in 0..50 {
            let now = Instant::from_millis(ms * 10);
            let Some(at) = f.stall(1, now, &mut rng) else {
                panic!("n1 is stressed");
            };
            assert!(at >= now + Duration::from_secs(1) && at >= last);
            last = at;
        }
        assert!(f.unstress(9));
        assert!(!f.unstress(9), "already ended");
        assert_eq!(f.stall(1, last, &mut rng), None);
    }

    #[test]
    fn a_node_going_down_is_no_longer_stressed() {
        let mut f = faults(3);
        f.stress(2, vec![0, 2]);
        f.node_down(2);
        assert!(f.is_stressed(0) && !f.is_stressed(2));
    }

    #[test]
    fn picks_are_distinct_and_repeat_with_the_seed() {
        let (mut a, mut b) = (faults(0), faults(0));
        let picked = a.pick(4, (10..20).collect());
        assert_eq!(picked, b.pick(4, (10..20).collect()));
        let mut sorted = picked.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
        assert!(picked.iter().all(|i| (10..20).contains(i)));
        assert_eq!(a.pick(5, vec![1, 2]).len(), 2, "all, when fewer");
        assert_eq!(a.pick_one(&[]), None);
        assert_eq!(a.fresh_id() + 1, a.fresh_id());
    }
}

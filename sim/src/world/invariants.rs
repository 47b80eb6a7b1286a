//! The invariants checked while the world runs, and the violations found.
//!
//! Checked continuously:
//! - a node's Lamport clocks (member, event, query) never go back within one life
//!   (after every input);
//! - no node's broadcast, transmit or event queue is over its configured cap (every
//!   sample);
//! - no live node delivers the same user event or query twice (at every delivery);
//! - a node never asks again for a deadline it has just been given (a timer spin; counted
//!   apart, since the world backs off and carries on).
//!
//! Checked on demand by [`World::check_invariants`]: no node sees a live member at an
//! incarnation above the member's own (only the member may raise it).

use hearsay_protocol::Instant;

use super::{NodeStatus, World, index_of_name};

/// How many invariant violations are kept (later ones are not recorded).
const VIOLATIONS_KEPT: usize = 100;

/// A timer spin: the node, the time, the deadline it returned, its status.
type TimerSpin = (u32, Instant, Instant, NodeStatus);

/// Violations found so far and what the checks remember between inputs.
pub(super) struct Invariants {
    violations: Vec<String>,
    /// Per node: member, event and query clocks last seen in its current life.
    clocks: Vec<[u64; 3]>,
    timer_spins: u64,
    first_timer_spin: Option<TimerSpin>,
}

impl Invariants {
    /// No violations, for `n` nodes.
    pub(super) fn new(n: u32) -> Self {
        Self {
            violations: Vec::new(),
            clocks: vec![[0; 3]; n as usize],
            timer_spins: 0,
            first_timer_spin: None,
        }
    }

    /// Whether the violation log is full (further violations are not recorded).
    fn full(&self) -> bool {
        self.violations.len() >= VIOLATIONS_KEPT
    }

    /// Records the violation `what` describes, unless the log is full.
    pub(super) fn violated(&mut self, what: impl FnOnce() -> String) {
        if !self.full() {
            self.violations.push(what());
        }
    }

    /// Node `i` starts a new life: its clocks start again from zero.
    pub(super) fn node_started(&mut self, i: u32) {
        self.clocks[i as usize] = [0; 3];
    }

    /// Node `i`'s member, event and query clocks after an input at `now`; none may be
    /// below what it was.
    pub(super) fn clocks(&mut self, now: Instant, i: u32, clocks: [u64; 3]) {
        let last = core::mem::replace(&mut self.clocks[i as usize], clocks);
        if clocks.iter().zip(last).any(|(&c, l)| c < l) {
            self.violated(|| {
                format!(
                    "{now}: n{i} Lamport clocks went back: member/event/query {last:?} -> \
                     {clocks:?}"
                )
            });
        }
    }

    /// Node `i` (in `status`) asked at `now` for `deadline`, which is not later than the
    /// timeout it has just handled.
    pub(super) fn timer_spin(
        &mut self,
        i: u32,
        now: Instant,
        deadline: Instant,
        status: NodeStatus,
    ) {
        self.timer_spins += 1;
        self.first_timer_spin
            .get_or_insert((i, now, deadline, status));
    }
}

impl World {
    /// Checks every node's queues against the protocol's caps; records the first one over.
    pub(super) fn check_queues(&mut self) {
        if self.invariants.full() {
            return;
        }
        let now = self.now();
        let (b, t, e) = (
            self.proto.broadcast_queue_max,
            self.proto.transmit_queue_max,
            self.proto.events_max,
        );
        for (i, node) in self.nodes.running() {
            let (pb, pt, pe) = (
                node.pending_broadcasts(),
                node.pending_transmits(),
                node.pending_events(),
            );
            if pb > b || pt > t || pe > e {
                self.invariants.violated(|| {
                    format!(
                        "{now}: n{i} queues over cap: broadcasts {pb}/{b}, transmits {pt}/{t}, \
                         events {pe}/{e}"
                    )
                });
                return;
            }
        }
    }

    /// Times a node asked again for a deadline it had just been given (a core bug).
    pub fn timer_spins(&self) -> u64 {
        self.invariants.timer_spins
    }

    /// The first timer spin: node, time, the deadline it returned, its status.
    pub fn first_timer_spin(&self) -> Option<(u32, Instant, Instant, NodeStatus)> {
        self.invariants.first_timer_spin
    }

    /// Invariant violations seen so far (Lamport clocks going back, queues over their
    /// caps, a broadcast delivered twice), plus those found by a full scan now: any node's
    /// view of a live member `X` with an incarnation above `X`'s own (only `X` may raise
    /// it). The scan is O(N²): for tests and small runs.
    pub fn check_invariants(&self) -> Vec<String> {
        let mut out = self.invariants.violations.clone();
        for (o, node) in self.nodes.running() {
            for m in node.members() {
                let Some(t) = index_of_name(m.name()).filter(|&t| t < self.len()) else {
                    continue;
                };
                let Some(own) = self.nodes.node(t).filter(|_| self.nodes.is_up(t)) else {
                    continue;
                };
                let own = own.local().incarnation();
                if m.incarnation() > own {
                    out.push(format!(
                        "n{o} sees n{t} at incarnation {} but n{t} is at {own}",
                        m.incarnation()
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_going_back_is_a_violation_until_a_new_life() {
        let mut inv = Invariants::new(2);
        inv.clocks(Instant::ZERO, 1, [3, 1, 1]);
        inv.clocks(Instant::ZERO, 1, [3, 2, 1]);
        assert!(inv.violations.is_empty());
        inv.clocks(Instant::ZERO, 1, [2, 2, 1]);
        assert_eq!(inv.violations.len(), 1);
        assert!(inv.violations[0].contains("n1 Lamport clocks went back"));
        inv.node_started(1);
        inv.clocks(Instant::ZERO, 1, [1, 1, 1]);
        assert_eq!(inv.violations.len(), 1, "a restarted node starts from zero");
    }

    #[test]
    fn the_violation_log_is_capped() {
        let mut inv = Invariants::new(1);
        for k in 0..VIOLATIONS_KEPT + 5 {
            inv.violated(|| format!("violation {k}"));
        }
        assert_eq!(inv.violations.len(), VIOLATIONS_KEPT);
        assert!(inv.full());
    }

    #[test]
    fn timer_spins_are_counted_and_the_first_is_kept() {
        let mut inv = Invariants::new(1);
        let (a, b) = (Instant::from_secs(1), Instant::from_secs(2));
        inv.timer_spin(0, a, a, NodeStatus::Up);
        inv.timer_spin(0, b, b, NodeStatus::Leaving);
        assert_eq!(inv.timer_spins, 2);
        assert_eq!(inv.first_timer_spin, Some((0, a, a, NodeStatus::Up)));
    }
}

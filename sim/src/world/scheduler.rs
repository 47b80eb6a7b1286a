//! The event loop: the virtual clock, the queue of scheduled actions, and how one action
//! drives one node and drains what it produced.
//!
//! ```text
//!   queue of (Instant, seq) ──pop──▶ Start / Timer / Deliver / Fault / Stop / Respond / Tick
//!                                        │
//!                          node.handle_*(now, …)   (one node, one input)
//!                                        │
//!            drain: poll_transmit ─▶ Network::route ─▶ push Deliver(s)
//!                   poll_event    ─▶ digest, views, crash records, false positives,
//!                                    user events and queries
//!                   stats().suspicions delta ─▶ who suspected whom
//!                   poll_timeout  ─▶ push Timer (stale ones skipped by generation)
//! ```
//!
//! Actions due at the same instant run in the order they were scheduled (`seq`), so a run
//! depends only on its inputs.

use core::cmp::Ordering;
use core::time::Duration;
use std::collections::BinaryHeap;
use std::net::SocketAddr;

use hearsay_protocol::{Channel, Event, Instant, QueryId};

use super::{Fault, World, addr_of, index_of_addr, index_of_name, name_of};
use crate::network::Fate;

/// At most this many payload buffers wait in the pool for reuse; more are freed.
const POOL_BUFFERS_MAX: usize = 4096;
/// Buffers with a larger capacity are freed rather than pooled.
const POOL_BUFFER_BYTES_MAX: usize = 4096;

/// Something to do at a virtual instant.
pub(super) enum Action {
    /// A node's first start (the join storm).
    Start { node: u32 },
    /// A node's timer, valid while its generation is current.
    Timer { node: u32, generation: u32 },
    /// A packet arrives; `stalled` once a stressed receiver has already delayed it.
    Deliver {
        src: u32,
        dst: u32,
        channel: Channel,
        bytes: Vec<u8>,
        stalled: bool,
    },
    /// A scheduled fault.
    Fault(Fault),
    /// A leaving node stops being driven (if still in the same life).
    Stop { node: u32, life: u32 },
    /// A node answers a query it received (if still in the same life).
    Respond { node: u32, life: u32, id: QueryId },
    /// The periodic sample of views, milestones and queues.
    Tick,
}

struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest `(at, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The virtual clock and the queue of scheduled actions, with the packet buffers: a pool
/// so in-flight payloads are not allocated afresh, and the buffer nodes transmit into.
///
/// The queue has no cap of its own: it holds one timer per running node plus the packets
/// in flight and the scheduled faults, all bounded by what the nodes send.
pub(super) struct Scheduler {
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    pool: Vec<Vec<u8>>,
    scratch: Vec<u8>,
}

impl Scheduler {
    pub(super) fn new() -> Self {
        Self {
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            pool: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The current virtual time.
    pub(super) fn now(&self) -> Instant {
        self.now
    }

    /// Schedules `action` at `at`, after everything already scheduled for that instant.
    pub(super) fn push(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            action,
        });
    }

    /// Takes the next action due at or before `end` and moves the clock to it (never
    /// backwards).
    fn pop_due(&mut self, end: Instant) -> Option<Action> {
        if self.queue.peek().is_none_or(|s| s.at > end) {
            return None;
        }
        let s = self.queue.pop()?;
        if s.at > self.now {
            self.now = s.at;
        }
        Some(s.action)
    }

    /// Moves the clock to `end` if it is later.
    fn advance_to(&mut self, end: Instant) {
        if end > self.now {
            self.now = end;
        }
    }

    /// A pooled buffer holding a copy of `bytes`.
    fn packet(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut copy = self.pool.pop().unwrap_or_default();
        copy.extend_from_slice(bytes);
        copy
    }

    /// Lends the buffer a node transmits into (give it back with `return_scratch`).
    fn take_scratch(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.scratch)
    }

    fn return_scratch(&mut self, buf: Vec<u8>) {
        self.scratch = buf;
    }

    /// Returns a delivered payload's buffer to the pool (freed when the pool is full).
    fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.pool.len() < POOL_BUFFERS_MAX && bytes.capacity() <= POOL_BUFFER_BYTES_MAX {
            bytes.clear();
            self.pool.push(bytes);
        }
    }
}

impl World {
    /// Runs every scheduled action up to and including virtual time `end`.
    pub fn run_until(&mut self, end: Instant) {
        while let Some(action) = self.scheduler.pop_due(end) {
            self.dispatch(action);
        }
        self.scheduler.advance_to(end);
    }

    /// Runs for `d` more virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now() + d);
    }

    /// Runs sample by sample until the cluster has converged or `deadline` passes; returns
    /// when it converged.
    pub fn run_until_converged(&mut self, deadline: Instant) -> Option<Instant> {
        loop {
            if self.nodes.all_started() && self.converged() {
                return Some(self.now());
            }
            if self.now() >= deadline {
                return None;
            }
            let step = (self.now() + self.config.sample_interval).min(deadline);
            self.run_until(step);
        }
    }

    fn dispatch(&mut self, action: Action) {
        match action {
            Action::Start { node } => self.start(node),
            Action::Timer { node, generation } => {
                if !self.nodes.timer_fires(node, generation) {
                    return;
                }
                let now = self.now();
                if let Some(n) = self.nodes.node_mut(node) {
                    n.handle_timeout(now);
                }
                self.after_input(node, true);
            }
            Action::Deliver {
                src,
                dst,
                channel,
                bytes,
                stalled,
            } => {
                self.deliver(src, dst, channel, bytes, stalled);
            }
            Action::Fault(f) => self.apply(f),
            Action::Stop { node, life } => {
                if self.nodes.stop(node, life) {
                    self.log(self.now(), format!("n{node} stopped after leaving"));
                }
            }
            Action::Respond { node, life, id } => {
                let now = self.now();
                if self.nodes.life(node) != life || !self.nodes.is_driven(node) {
                    return;
                }
                let answer = name_of(node);
                if let Some(n) = self.nodes.node_mut(node) {
                    let _ = n.respond(now, id, answer.as_bytes());
                }
                self.after_input(node, false);
            }
            Action::Tick => {
                self.tick();
                let next = self.now() + self.config.sample_interval;
                self.scheduler.push(next, Action::Tick);
            }
        }
    }

    fn deliver(&mut self, src: u32, dst: u32, channel: Channel, bytes: Vec<u8>, stalled: bool) {
        let now = self.now();
        if !self.nodes.is_driven(dst) {
            self.scheduler.recycle(bytes);
            return;
        }
        // A stressed node handles the input late (once: the delayed copy is `stalled`).
        if !stalled && let Some(at) = self.faults.stall(dst, now, &mut self.net_rng) {
            self.scheduler.push(
                at,
                Action::Deliver {
                    src,
                    dst,
                    channel,
                    bytes,
                    stalled: true,
                },
            );
            return;
        }
        if let Some(node) = self.nodes.node_mut(dst) {
            let from = addr_of(src);
            let _ = match channel {
                Channel::Datagram => node.handle_datagram(now, from, &bytes),
                Channel::Stream => node.handle_stream(now, from, &bytes),
            };
        }
        self.scheduler.recycle(bytes);
        self.after_input(dst, false);
    }

    /// Drains a node after an input: transmits, events, suspicions, next deadline.
    pub(super) fn after_input(&mut self, i: u32, from_timer: bool) {
        let now = self.now();
        loop {
            let mut buf = self.scheduler.take_scratch();
            while let Some(node) = self.nodes.node_mut(i) {
                let Some(t) = node.poll_transmit(now, &mut buf) else {
                    break;
                };
                let len = t.len.min(buf.len());
                self.transmit(i, t.dst, t.channel, &buf[..len]);
            }
            self.scheduler.return_scratch(buf);
            while let Some(node) = self.nodes.node_mut(i) {
                let Some(ev) = node.poll_event() else { break };
                self.on_event(i, &ev);
            }
            if !self.broadcasts.answers_due() {
                break;
            }
            // Immediate answers to queries delivered just now; their transmits (and, for
            // the asker answering itself, its events) are drained on the next pass.
            let answer = name_of(i);
            let ids = self.broadcasts.take_answers();
            if let Some(node) = self.nodes.node_mut(i) {
                for &id in &ids {
                    let _ = node.respond(now, id, answer.as_bytes());
                }
            }
        }
        let Some(node) = self.nodes.node(i) else {
            return;
        };
        let clocks = [
            node.member_time().0,
            node.event_time().0,
            node.query_time().0,
        ];
        let suspicions = node.stats().suspicions;
        let deadline = node.poll_timeout();
        self.invariants.clocks(now, i, clocks);
        let fresh = self.detection.suspicions_started(i, suspicions);
        if fresh > 0 {
            self.on_suspicions(i, fresh);
        }
        let mut deadline = deadline;
        if deadline <= now {
            if from_timer {
                // The node still wants a timeout it has just had: a core bug; back off.
                let status = self.nodes.status(i);
                self.invariants.timer_spin(i, now, deadline, status);
                deadline = now + Duration::from_millis(1);
            } else {
                deadline = now + Duration::from_micros(1);
            }
        }
        if let Some(generation) = self.nodes.set_timer(i, deadline) {
            self.scheduler.push(
                deadline,
                Action::Timer {
                    node: i,
                    generation,
                },
            );
        }
    }

    fn transmit(&mut self, src: u32, dst: SocketAddr, channel: Channel, bytes: &[u8]) {
        let Some(dst) = index_of_addr(dst).filter(|&d| d < self.len()) else {
            return;
        };
        let now = self.now();
        self.traffic.transmit(now, src, dst, channel, bytes);
        let fate = self
            .network
            .route(&mut self.net_rng, src, dst, channel, bytes.len());
        let (a, b) = match fate {
            Fate::Delivered(a) => (a, None),
            Fate::Duplicated(a, b) => (a, Some(b)),
            Fate::Cut | Fate::Lost | Fate::TooLarge => return,
        };
        for d in core::iter::once(a).chain(b) {
            let copy = self.scheduler.packet(bytes);
            self.scheduler.push(
                now + d,
                Action::Deliver {
                    src,
                    dst,
                    channel,
                    bytes: copy,
                    stalled: false,
                },
            );
        }
    }

    /// Node `o` reported `ev`: into the digest, then to what it concerns.
    fn on_event(&mut self, o: u32, ev: &Event) {
        self.traffic.event(self.now(), o, ev);
        let m = match ev {
            Event::MemberJoin(m)
            | Event::MemberLeave(m)
            | Event::MemberFailed(m)
            | Event::MemberUpdate(m)
            | Event::MemberReap(m) => m,
            other => {
                self.on_serf_event(o, other);
                return;
            }
        };
        if !self.nodes.is_up(o) {
            return;
        }
        let Some(t) = index_of_name(m.name.as_str()).filter(|&t| t < self.len()) else {
            return;
        };
        match ev {
            Event::MemberJoin(_) => self.set_view(o, t, true),
            Event::MemberFailed(_) => {
                self.set_view(o, t, false);
                self.on_failed(o, t);
            }
            Event::MemberLeave(_) | Event::MemberReap(_) => self.set_view(o, t, false),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_node(a: Option<Action>) -> Option<u32> {
        match a {
            Some(Action::Start { node }) => Some(node),
            _ => None,
        }
    }

    #[test]
    fn actions_due_at_one_instant_run_in_schedule_order() {
        let mut s = Scheduler::new();
        let t = Instant::from_secs(1);
        s.push(t, Action::Start { node: 2 });
        s.push(Instant::ZERO, Action::Start { node: 0 });
        s.push(t, Action::Start { node: 1 });
        assert_eq!(start_node(s.pop_due(t)), Some(0));
        assert_eq!(start_node(s.pop_due(t)), Some(2));
        assert_eq!(start_node(s.pop_due(t)), Some(1));
        assert!(s.pop_due(t).is_none());
        assert_eq!(s.now(), t);
    }

    #[test]
    fn actions_after_the_end_wait_and_the_clock_never_goes_back() {
        let mut s = Scheduler::new();
        s.push(Instant::from_secs(5), Action::Start { node: 5 });
        assert!(s.pop_due(Instant::from_secs(4)).is_none());
        s.advance_to(Instant::from_secs(4));
        assert_eq!(s.now(), Instant::from_secs(4));
        // Something scheduled in the past runs at once, without moving the clock back.
        s.push(Instant::from_secs(1), Action::Start { node: 1 });
        assert_eq!(start_node(s.pop_due(Instant::from_secs(4))), Some(1));
        assert_eq!(s.now(), Instant::from_secs(4));
        s.advance_to(Instant::from_secs(2));
        assert_eq!(s.now(), Instant::from_secs(4));
    }

    #[test]
    fn packet_buffers_are_reused_up_to_the_pool_caps() {
        let mut s = Scheduler::new();
        let a = s.packet(b"hello");
        assert_eq!(a, b"hello");
        let ptr = a.as_ptr();
        s.recycle(a);
        let b = s.packet(b"hi");
        assert_eq!(b, b"hi");
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is reused");
        s.recycle(Vec::with_capacity(POOL_BUFFER_BYTES_MAX + 1));
        assert!(s.pool.is_empty(), "oversized buffers are freed");
        for _ in 0..POOL_BUFFERS_MAX + 10 {
            s.recycle(Vec::with_capacity(8));
        }
        assert_eq!(s.pool.len(), POOL_BUFFERS_MAX);
    }
}

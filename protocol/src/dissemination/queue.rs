//! The transmit-limited broadcast queues of intents, queries and user events (one per
//! [`BroadcastClass`]), and fair filling of a packet across the classes.
//!
//! Each broadcast is an encoded message plus how often it has been sent. Packets take the
//! freshest first (fewest transmits, then newest), and a broadcast is retired after
//! `retransmit_mult × ⌈log10(N+1)⌉` sends. A new broadcast about a member replaces any older
//! one about the same member (invalidation). The queue has a hard cap: when full, the
//! broadcast sent most often (the stalest) is dropped and counted.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::wire::{self, MessageKind};

/// Smallest encoded message worth looking for once a packet is nearly full.
pub(super) const MESSAGE_BYTES_MIN: usize = 8;
/// Entries that did not fit after which a fill gives up scanning.
pub(super) const SCAN_MAX: usize = 64;

#[derive(Clone, Debug)]
struct Broadcast {
    /// Hash of the key (a member name, or an event/query id): 8 bytes instead of a second
    /// copy of the name. A 64-bit collision would only make one broadcast replace another.
    key: u64,
    kind: MessageKind,
    msg: Box<[u8]>,
    /// The packet it was last put in, so one packet never carries it twice.
    packet: u64,
    /// The gossip round it was last sent in: the packets of one round (one per gossip
    /// target) count as a single transmit.
    round: u64,
}

/// Order key: fewest transmits first, then newest.
type Order = (u32, Reverse<u64>);

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct BroadcastQueue {
    queue: BTreeMap<Order, Broadcast>,
    /// Key → id, touched only when a broadcast is queued or retired.
    by_key: BTreeMap<u64, u64>,
    /// Id → transmits, updated on every send (integer keys: no string compares on the hot
    /// path).
    transmits: BTreeMap<u64, u32>,
    next_id: u64,
    /// Broadcasts dropped because the queue was full.
    dropped: u64,
    /// Broadcasts replaced by newer news about the same member.
    invalidated: u64,
}

impl BroadcastQueue {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `msg` about `key`, replacing older news about `key`; enforces `cap`.
    pub fn push(&mut self, key: &str, kind: MessageKind, msg: Box<[u8]>, cap: usize) {
        let key = crate::membership::name_hash(key);
        if let Some(id) = self.by_key.remove(&key) {
            if let Some(t) = self.transmits.remove(&id) {
                self.queue.remove(&(t, Reverse(id)));
            }
            self.invalidated += 1;
        }
        while self.queue.len() >= cap.max(1) {
            if let Some(((_, Reverse(id)), old)) = self.queue.pop_last() {
                self.by_key.remove(&old.key);
                self.transmits.remove(&id);
                self.dropped += 1;
            }
        }
        let id = self.next_id;
        let order = (0, Reverse(id));
        self.next_id += 1;
        self.by_key.insert(key, id);
        self.transmits.insert(id, 0);
        self.queue.insert(
            order,
            Broadcast {
                key,
                kind,
                msg,
                packet: 0,
                round: 0,
            },
        );
    }

    /// Appends the freshest broadcasts that fit in `budget` bytes to `out` (each framed with
    /// its length), counts a transmit on each, retires those that reached `limit`, and
    /// reports each kind sent to `sent`. Returns the bytes added.
    #[cfg(test)]
    pub fn fill(
        &mut self,
        out: &mut Vec<u8>,
        budget: usize,
        limit: u32,
        sent: impl FnMut(MessageKind),
    ) -> usize {
        self.fill_packet(out, budget, limit, 0, 0, sent)
    }

    /// As `fill`, skipping broadcasts already put in packet number `packet` (numbers from
    /// 1; 0 skips nothing). Scanning stops after `SCAN_MAX` entries that do not
    /// fit, so a nearly full packet does not walk the whole queue.
    pub fn fill_packet(
        &mut self,
        out: &mut Vec<u8>,
        mut budget: usize,
        limit: u32,
        packet: u64,
        round: u64,
        mut sent: impl FnMut(MessageKind),
    ) -> usize {
        let mut misses = 0;
        let mut taken: Vec<Order> = Vec::new();
        let mut spent: Vec<Order> = Vec::new();
        let mut added = 0;
        for (order, b) in &self.queue {
            if budget < MESSAGE_BYTES_MIN || misses >= SCAN_MAX {
                break;
            }
            if order.0 >= limit && (round == 0 || b.round != round) {
                // Used up, and its last round is over.
                spent.push(*order);
                continue;
            }
            if packet != 0 && b.packet == packet {
                continue;
            }
            let need = wire::framed_len(b.msg.len());
            if need > budget {
                misses += 1;
                continue;
            }
            wire::push_encoded(out, &b.msg);
            sent(b.kind);
            budget -= need;
            added += need;
            taken.push(*order);
        }
        for order in spent {
            if let Some(b) = self.queue.remove(&order) {
                self.by_key.remove(&b.key);
                self.transmits.remove(&order.1.0);
            }
        }
        for order in taken {
            if let Some(mut b) = self.queue.remove(&order) {
                b.packet = packet;
                let counts = round == 0 || b.round != round;
                b.round = round;
                let transmits = order.0 + u32::from(counts);
                // Outside a gossip round, retire at once; inside one, the remaining targets
                // of the round still get it.
                if transmits >= limit && round == 0 {
                    self.by_key.remove(&b.key);
                    self.transmits.remove(&order.1.0);
                } else {
                    let new_order = (transmits, order.1);
                    if let Some(t) = self.transmits.get_mut(&order.1.0) {
                        *t = transmits;
                    }
                    self.queue.insert(new_order, b);
                }
            }
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn msg(n: usize) -> Box<[u8]> {
        vec![0u8; n].into_boxed_slice()
    }

    #[test]
    fn a_broadcast_is_retired_after_its_retransmit_limit() {
        let mut q = BroadcastQueue::default();
        q.push("a", MessageKind::Alive, msg(10), 16);
        for _ in 0..3 {
            let mut out = Vec::new();
            assert_eq!(q.fill(&mut out, 1000, 3, |_| {}), 11);
        }
        assert!(q.is_empty());
        assert_eq!(q.fill(&mut Vec::new(), 1000, 3, |_| {}), 0);
    }

    #[test]
    fn newer_news_about_a_member_invalidates_the_older() {
        let mut q = BroadcastQueue::default();
        q.push("a", MessageKind::Suspect, msg(10), 16);
        q.push("a", MessageKind::Alive, msg(12), 16);
        assert_eq!(q.len(), 1);
        assert_eq!(q.invalidated, 1);
        let mut kinds = Vec::new();
        q.fill(&mut Vec::new(), 1000, 3, |k| kinds.push(k));
        assert_eq!(kinds, [MessageKind::Alive]);
    }

    #[test]
    fn the_freshest_broadcasts_go_first_and_the_budget_is_respected() {
        let mut q = BroadcastQueue::default();
        q.push("old", MessageKind::Alive, msg(50), 16);
        q.fill(&mut Vec::new(), 1000, 10, |_| {});
        q.push("new1", MessageKind::Dead, msg(50), 16);
        q.push("new2", MessageKind::Suspect, msg(50), 16);
        let mut kinds = Vec::new();
        let mut out = Vec::new();
        let added = q.fill(&mut out, 110, 10, |k| kinds.push(k));
        assert_eq!(
            kinds,
            [MessageKind::Suspect, MessageKind::Dead],
            "newest untransmitted first"
        );
        assert_eq!(added, 102);
        assert_eq!(out.len(), 102);
    }

    #[test]
    fn a_full_queue_drops_the_most_transmitted_and_counts_it() {
        let mut q = BroadcastQueue::default();
        q.push("stale", MessageKind::Alive, msg(10), 2);
        q.fill(&mut Vec::new(), 1000, 10, |_| {});
        q.push("b", MessageKind::Alive, msg(10), 2);
        q.push("c", MessageKind::Alive, msg(10), 2);
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped, 1);
        let mut n = 0;
        q.fill(&mut Vec::new(), 1000, 10, |_| n += 1);
        assert_eq!(n, 2);
    }

    #[test]
    fn small_messages_still_fit_after_a_large_one_does_not() {
        let mut q = BroadcastQueue::default();
        q.push("small", MessageKind::Alive, msg(10), 16);
        q.push("big", MessageKind::Alive, msg(500), 16);
        let mut out = Vec::new();
        assert_eq!(q.fill(&mut out, 100, 10, |_| {}), 11);
        assert_eq!(q.len(), 2);
    }
}

/// The kinds of news that share a packet fairly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BroadcastClass {
    /// Alive, suspect, dead, leave.
    Membership = 0,
    /// Join and leave intents.
    Intent = 1,
    /// Queries.
    Query = 2,
    /// User events.
    Event = 3,
}

impl BroadcastClass {
    /// Every class, in index order.
    pub const ALL: [BroadcastClass; 4] = [
        BroadcastClass::Membership,
        BroadcastClass::Intent,
        BroadcastClass::Query,
        BroadcastClass::Event,
    ];
}

/// Fair filling of `budget` bytes: every class with something `pending` gets an equal share
/// first, then the leftover goes round the classes starting from one that rotates with
/// `packet`. `fill(class, room)` adds at most `room` bytes of that class and returns them.
pub(crate) fn fair_fill(
    budget: usize,
    pending: [bool; 4],
    packet: u64,
    mut fill: impl FnMut(BroadcastClass, usize) -> usize,
) -> usize {
    let active = pending.iter().filter(|p| **p).count();
    if active == 0 {
        return 0;
    }
    let share = budget / active;
    let mut used = 0;
    for class in BroadcastClass::ALL {
        if pending[class as usize] {
            used += fill(class, share);
        }
    }
    let rotate = (packet % 4) as usize;
    for i in 0..BroadcastClass::ALL.len() {
        if budget - used < MESSAGE_BYTES_MIN {
            break;
        }
        used += fill(BroadcastClass::ALL[(rotate + i) % 4], budget - used);
    }
    used
}

/// One queue per class, filled fairly.
#[derive(Clone, Debug, Default)]
pub(crate) struct Broadcasts {
    queues: [BroadcastQueue; 4],
    packets: u64,
    rounds: u64,
}

impl Broadcasts {
    pub fn push(
        &mut self,
        class: BroadcastClass,
        key: &str,
        kind: MessageKind,
        msg: Box<[u8]>,
        cap: usize,
    ) {
        self.queues[class as usize].push(key, kind, msg, cap);
    }

    pub fn len(&self) -> usize {
        self.queues.iter().map(BroadcastQueue::len).sum()
    }

    pub fn class_len(&self, class: BroadcastClass) -> usize {
        self.queues[class as usize].len()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(BroadcastQueue::is_empty)
    }

    pub fn dropped(&self) -> [u64; 4] {
        [0, 1, 2, 3].map(|i| self.queues[i].dropped)
    }

    pub fn invalidated(&self) -> u64 {
        self.queues.iter().map(|q| q.invalidated).sum()
    }

    /// A new packet id.
    pub fn new_packet(&mut self) -> u64 {
        self.packets = self.packets.wrapping_add(1).max(1);
        self.packets
    }

    /// Fills from one class only (the node interleaves the classes with its membership
    /// news).
    #[expect(
        clippy::too_many_arguments,
        reason = "the packet filling state, passed through"
    )]
    pub fn fill_class(
        &mut self,
        class: BroadcastClass,
        out: &mut Vec<u8>,
        budget: usize,
        limit: u32,
        packet: u64,
        round: u64,
        sent: impl FnMut(MessageKind),
    ) -> usize {
        self.queues[class as usize].fill_packet(out, budget, limit, packet, round, sent)
    }

    /// A new gossip round id: packets filled with the same round count one transmit.
    pub fn new_round(&mut self) -> u64 {
        self.rounds = self.rounds.wrapping_add(1).max(1);
        self.rounds
    }

    #[cfg(test)]
    /// Fills up to `budget` bytes: an equal share per non-empty class, then leftovers.
    /// `round` groups the packets of one gossip round (`None`: a packet of its own).
    pub fn fill(
        &mut self,
        out: &mut Vec<u8>,
        budget: usize,
        limit: u32,
        round: Option<u64>,
        mut sent: impl FnMut(MessageKind),
    ) -> usize {
        let round = round.unwrap_or_else(|| self.new_round());
        let packet = self.new_packet();
        let pending = BroadcastClass::ALL.map(|c| self.class_len(c) > 0);
        fair_fill(budget, pending, packet, |class, room| {
            self.queues[class as usize].fill_packet(out, room, limit, packet, round, &mut sent)
        })
    }
}

#[cfg(test)]
mod fair_tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    #[test]
    fn a_flood_in_one_class_does_not_starve_the_others() {
        let mut b = Broadcasts::default();
        for i in 0..1000 {
            let key = format!("e{i}");
            b.push(
                BroadcastClass::Event,
                &key,
                MessageKind::UserEvent,
                vec![0u8; 100].into(),
                4096,
            );
        }
        b.push(
            BroadcastClass::Membership,
            "m",
            MessageKind::Dead,
            vec![0u8; 30].into(),
            4096,
        );
        b.push(
            BroadcastClass::Query,
            "q",
            MessageKind::Query,
            vec![0u8; 60].into(),
            4096,
        );
        let mut kinds = Vec::new();
        let used = b.fill(&mut Vec::new(), 1400, 10, None, |k| kinds.push(k));
        assert!(kinds.contains(&MessageKind::Dead));
        assert!(kinds.contains(&MessageKind::Query));
        assert!(
            kinds
                .iter()
                .filter(|k| **k == MessageKind::UserEvent)
                .count()
                >= 10,
            "events use the leftover room"
        );
        assert!(used <= 1400);
    }

    #[test]
    fn one_packet_never_carries_a_broadcast_twice() {
        let mut b = Broadcasts::default();
        b.push(
            BroadcastClass::Membership,
            "m",
            MessageKind::Alive,
            vec![0u8; 30].into(),
            16,
        );
        b.push(
            BroadcastClass::Event,
            "e",
            MessageKind::UserEvent,
            vec![0u8; 30].into(),
            16,
        );
        let mut kinds = Vec::new();
        b.fill(&mut Vec::new(), 1400, 10, None, |k| kinds.push(k));
        assert_eq!(kinds.len(), 2, "{kinds:?}");
    }

    #[test]
    fn the_packets_of_one_gossip_round_count_one_transmit() {
        let mut b = Broadcasts::default();
        b.push(
            BroadcastClass::Membership,
            "m",
            MessageKind::Alive,
            vec![0u8; 30].into(),
            16,
        );
        let mut sends = 0;
        for _ in 0..2 {
            let round = b.new_round();
            for _target in 0..3 {
                b.fill(&mut Vec::new(), 1400, 2, Some(round), |_| sends += 1);
            }
        }
        assert_eq!(
            sends, 6,
            "two rounds of three targets before the limit of 2"
        );
        let round = b.new_round();
        b.fill(&mut Vec::new(), 1400, 2, Some(round), |_| sends += 1);
        assert_eq!(sends, 6, "retired once its last round is over");
        assert!(b.is_empty());
    }

    #[test]
    fn each_class_has_its_own_cap_and_drop_counter() {
        let mut b = Broadcasts::default();
        for i in 0..5 {
            let key = format!("e{i}");
            b.push(
                BroadcastClass::Event,
                &key,
                MessageKind::UserEvent,
                vec![0u8; 10].into(),
                3,
            );
        }
        b.push(
            BroadcastClass::Membership,
            "m",
            MessageKind::Alive,
            vec![0u8; 10].into(),
            3,
        );
        assert_eq!(b.dropped(), [0, 0, 0, 2]);
        assert_eq!(b.class_len(BroadcastClass::Membership), 1);
        assert_eq!(b.len(), 4);
    }
}

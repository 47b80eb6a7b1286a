//! The transmit-limited broadcast queue.
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
const MESSAGE_BYTES_MIN: usize = 8;

#[derive(Clone, Debug)]
struct Broadcast {
    key: Box<str>,
    kind: MessageKind,
    msg: Box<[u8]>,
}

/// Order key: fewest transmits first, then newest.
type Order = (u32, Reverse<u64>);

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct BroadcastQueue {
    queue: BTreeMap<Order, Broadcast>,
    by_key: BTreeMap<Box<str>, Order>,
    next_id: u64,
    /// Broadcasts dropped because the queue was full.
    pub dropped: u64,
    /// Broadcasts replaced by newer news about the same member.
    pub invalidated: u64,
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
        if let Some(order) = self.by_key.remove(key) {
            self.queue.remove(&order);
            self.invalidated += 1;
        }
        while self.queue.len() >= cap.max(1) {
            if let Some((_, old)) = self.queue.pop_last() {
                self.by_key.remove(&old.key);
                self.dropped += 1;
            }
        }
        let order = (0, Reverse(self.next_id));
        self.next_id += 1;
        self.by_key.insert(key.into(), order);
        self.queue.insert(
            order,
            Broadcast {
                key: key.into(),
                kind,
                msg,
            },
        );
    }

    /// Appends the freshest broadcasts that fit in `budget` bytes to `out` (each framed with
    /// its length), counts a transmit on each, retires those that reached `limit`, and
    /// reports each kind sent to `sent`. Returns the bytes added.
    pub fn fill(
        &mut self,
        out: &mut Vec<u8>,
        mut budget: usize,
        limit: u32,
        mut sent: impl FnMut(MessageKind),
    ) -> usize {
        let mut taken: Vec<Order> = Vec::new();
        let mut added = 0;
        for (order, b) in &self.queue {
            if budget < MESSAGE_BYTES_MIN {
                break;
            }
            let need = wire::framed_len(b.msg.len());
            if need > budget {
                continue;
            }
            wire::push_encoded(out, &b.msg);
            sent(b.kind);
            budget -= need;
            added += need;
            taken.push(*order);
        }
        for order in taken {
            if let Some(b) = self.queue.remove(&order) {
                let transmits = order.0 + 1;
                if transmits >= limit {
                    self.by_key.remove(&b.key);
                } else {
                    let new_order = (transmits, order.1);
                    if let Some(o) = self.by_key.get_mut(&b.key) {
                        *o = new_order;
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

//! Membership news: which members have news to gossip, not the news itself.
//!
//! memberlist keeps an encoded copy of every alive/suspect/dead message in its broadcast
//! queue; in a join storm that is one copy per member per node, which is what kept a
//! 10 000-node simulation from fitting in memory. Membership news is always "our current
//! view of member X", so Hearsay queues only the member's slot (plus, for a suspicion or a
//! death, who raised it) and encodes the message from the member table when a packet is
//! filled. One pending item costs about 60 bytes instead of about 170, newer news about a
//! member replaces the older for free, and the retransmit rules are those of the other
//! broadcast queues: fewest transmits first, then newest; `retransmit_limit` gossip rounds;
//! a hard cap that drops the most-sent item and counts it.

use alloc::collections::{BTreeMap, BTreeSet};
use core::cmp::Reverse;

/// No originator recorded: the news is sent with our own name as `from`.
pub(crate) const FROM_SELF: u32 = u32::MAX;

/// One member's pending news.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(super) transmits: u32,
    pub(super) seq: u64,
    /// Slot of the member that raised the suspicion or death ([`FROM_SELF`] otherwise).
    pub(super) from: u32,
    /// Low bits of the packet and gossip round it was last sent in.
    pub(super) packet: u32,
    pub(super) round: u32,
}

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct News {
    pending: BTreeMap<u32, Pending>,
    order: BTreeSet<(u32, Reverse<u64>, u32)>,
    next_seq: u64,
    /// Items dropped because the queue was full.
    pub(super) dropped: u64,
    /// Items replaced by newer news about the same member.
    pub(super) invalidated: u64,
}

impl News {
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queues news about `slot`, replacing older news about it; enforces `cap`.
    pub fn push(&mut self, slot: u32, from: u32, cap: usize) {
        if self.remove(slot) {
            self.invalidated += 1;
        }
        while self.pending.len() >= cap.max(1) {
            let Some((_, _, s)) = self.order.pop_last() else {
                break;
            };
            self.pending.remove(&s);
            self.dropped += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(
            slot,
            Pending {
                transmits: 0,
                seq,
                from,
                packet: 0,
                round: 0,
            },
        );
        self.order.insert((0, Reverse(seq), slot));
    }

    /// Forgets news about `slot`; whether there was any.
    pub fn remove(&mut self, slot: u32) -> bool {
        match self.pending.remove(&slot) {
            Some(p) => {
                self.order.remove(&(p.transmits, Reverse(p.seq), slot));
                true
            }
            None => false,
        }
    }

    /// Pending items, freshest first.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Pending)> + '_ {
        self.order
            .iter()
            .filter_map(|&(_, _, s)| self.pending.get(&s).map(|p| (s, *p)))
    }

    /// Records that `slot` went into packet `packet` of gossip round `round` (0: a packet of
    /// its own): one transmit per round. Outside a round an item is retired at `limit`;
    /// inside one it stays for the round's other targets; the next fill drops it
    /// (`is_spent`).
    pub fn sent(&mut self, slot: u32, packet: u64, round: u64, limit: u32) {
        let Some(p) = self.pending.get_mut(&slot) else {
            return;
        };
        let counts = round == 0 || p.round != round as u32;
        let old = (p.transmits, Reverse(p.seq), slot);
        p.packet = packet as u32;
        p.round = round as u32;
        if !counts {
            return;
        }
        p.transmits += 1;
        let new = (p.transmits, Reverse(p.seq), slot);
        self.order.remove(&old);
        if p.transmits >= limit && round == 0 {
            self.pending.remove(&slot);
        } else {
            self.order.insert(new);
        }
    }

    /// Whether an item is used up: at the limit, and its last round is over.
    pub fn is_spent(p: &Pending, limit: u32, round: u64) -> bool {
        p.transmits >= limit && (round == 0 || p.round != round as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn slots(n: &News) -> Vec<u32> {
        n.iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn newer_news_replaces_older_and_the_freshest_comes_first() {
        let mut n = News::default();
        n.push(1, FROM_SELF, 10);
        n.push(2, FROM_SELF, 10);
        n.sent(2, 1, 0, 5);
        n.push(1, 7, 10);
        assert_eq!(n.invalidated, 1);
        assert_eq!(slots(&n), [1, 2], "untransmitted first");
        assert_eq!(n.iter().next().map(|(_, p)| p.from), Some(7));
    }

    #[test]
    fn a_full_queue_drops_the_most_sent_item() {
        let mut n = News::default();
        n.push(1, FROM_SELF, 2);
        n.sent(1, 1, 0, 5);
        n.push(2, FROM_SELF, 2);
        n.push(3, FROM_SELF, 2);
        assert_eq!(n.dropped, 1);
        assert_eq!(slots(&n), [3, 2]);
    }

    #[test]
    fn one_round_counts_one_transmit_and_the_limit_retires() {
        let mut n = News::default();
        n.push(1, FROM_SELF, 4);
        for packet in 1..=3 {
            n.sent(1, packet, 9, 2);
        }
        assert_eq!(n.iter().next().map(|(_, p)| p.transmits), Some(1));
        n.sent(1, 4, 10, 2);
        let p = n.iter().next().map(|(_, p)| p);
        assert!(p.is_some_and(|p| News::is_spent(&p, 2, 11) && !News::is_spent(&p, 2, 10)));
        n.sent(1, 5, 0, 1);
        assert!(n.is_empty(), "outside a round the limit retires at once");
    }
}

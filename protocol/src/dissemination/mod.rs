//! Dissemination: what news is waiting to spread, how it rides on packets, and the gossip
//! schedule.
//!
//! - Membership news ([`news`]) is queued by member slot and encoded from the table when a
//!   packet is filled; intents, queries and user events are queued encoded ([`queue`]),
//!   one bounded queue per [`BroadcastClass`].
//! - Piggybacking: every datagram is topped up with the freshest broadcasts at send time.
//!   Fair filling gives every class with something pending an equal share of the room
//!   first, then hands the leftover round, so an event flood cannot delay failure
//!   detection.
//! - Gossip: every `gossip_interval`, pending broadcasts go to `gossip_nodes` random
//!   members — alive, suspect, or failed for less than `gossip_to_the_dead_time` so the
//!   failed can still hear the news and refute.
//!
//! A broadcast's retransmit budget counts gossip *rounds*, not packets: the packets of one
//! round (one per target) count as one transmit, so each piece of news reaches
//! `gossip_nodes ×` more members than memberlist's per-packet count before it retires. In
//! small and mid-sized clusters that removes the stragglers that otherwise wait for the
//! next push-pull.

mod news;
mod queue;

use alloc::vec::Vec;

use rand_core::RngCore;

use crate::config::Config;
use crate::member::MemberState;
use crate::membership::Membership;
use crate::stats::Stats;
use crate::time::Instant;
use crate::transmit::Outbound;
use crate::wire::{self, Message, MessageKind};

pub use queue::BroadcastClass;

use news::{FROM_SELF, News};
use queue::{Broadcasts, MESSAGE_BYTES_MIN, SCAN_MAX, fair_fill};

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Dissemination {
    broadcasts: Broadcasts,
    /// Membership news (alive, suspect, dead, leave), by member.
    news: News,
    next_gossip: Instant,
    /// Reused encoding buffer for membership news.
    scratch: Vec<u8>,
    queued: u64,
    stream_forwards: u64,
}

impl Dissemination {
    /// Nothing pending; the first gossip round is one gossip interval after `now`.
    pub fn new(now: Instant, config: &Config) -> Self {
        Self {
            broadcasts: Broadcasts::default(),
            news: News::default(),
            next_gossip: now + config.gossip_interval,
            scratch: Vec::new(),
            queued: 0,
            stream_forwards: 0,
        }
    }

    /// Queues membership news about the member in `slot`: its current state is encoded from
    /// the table at send time; only a suspicion's or death's originator `from` (a slot) is
    /// kept. Replaces older news about the member.
    pub fn queue_news(&mut self, slot: u32, from: Option<u32>, config: &Config) {
        self.news
            .push(slot, from.unwrap_or(FROM_SELF), config.broadcast_queue_max);
        self.queued += 1;
    }

    /// Drops news about a member being forgotten.
    pub fn forget(&mut self, slot: u32) {
        self.news.remove(slot);
    }

    /// Queues a Serf broadcast (intent, query, user event) under `key`, or — when it does
    /// not fit a datagram — forwards it at once over the stream channel to
    /// `clamp(limit, 1, 16)` random live members.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a separate collaborator, passed explicitly"
    )]
    pub fn broadcast(
        &mut self,
        class: BroadcastClass,
        key: &str,
        msg: &Message<'_>,
        limit: u32,
        members: &Membership,
        rng: &mut impl RngCore,
        config: &Config,
        out: &mut Outbound,
    ) {
        let len = wire::message_len(msg);
        if wire::framed_len(len) > out.datagram_room() {
            let local = members.local_slot();
            let fanout = (limit as usize).clamp(1, 16);
            let peers = members.sample(rng, fanout, |s, e| s != local && e.state.is_live());
            for slot in peers {
                if let Some(addr) = members.get(slot).map(|e| e.socket_addr()) {
                    out.stream(addr, msg);
                    self.stream_forwards += 1;
                }
            }
            return;
        }
        let mut bytes = Vec::with_capacity(len);
        wire::encode_message(msg, &mut bytes);
        self.broadcasts.push(
            class,
            key,
            msg.kind(),
            bytes.into_boxed_slice(),
            config.broadcast_queue_max,
        );
        self.queued += 1;
    }

    /// Broadcasts still waiting (all classes).
    pub fn pending(&self) -> usize {
        self.broadcasts.len() + self.news.len()
    }

    /// Broadcasts of one class still waiting.
    pub fn pending_of(&self, class: BroadcastClass) -> usize {
        if class == BroadcastClass::Membership {
            self.news.len() + self.broadcasts.class_len(class)
        } else {
            self.broadcasts.class_len(class)
        }
    }

    /// When the next gossip round is due.
    pub fn deadline(&self) -> Instant {
        self.next_gossip
    }

    /// Runs a gossip round when one is due: one gossip datagram (filled at send time) to
    /// each of `gossip_nodes` random members that can still use the news.
    pub fn gossip_if_due(
        &mut self,
        now: Instant,
        members: &Membership,
        rng: &mut impl RngCore,
        config: &Config,
        out: &mut Outbound,
    ) {
        if now < self.next_gossip {
            return;
        }
        self.gossip(now, members, rng, config, out);
        self.next_gossip = now + config.gossip_interval;
    }

    fn gossip(
        &mut self,
        now: Instant,
        members: &Membership,
        rng: &mut impl RngCore,
        config: &Config,
        out: &mut Outbound,
    ) {
        if self.broadcasts.is_empty() && self.news.is_empty() {
            return;
        }
        let local = members.local_slot();
        let dead_time = config.gossip_to_the_dead_time;
        let targets = members.sample(rng, usize::from(config.gossip_nodes), |s, e| {
            s != local
                && match e.state {
                    MemberState::Alive | MemberState::Suspect => true,
                    MemberState::Failed => {
                        now.saturating_duration_since(e.state_change) < dead_time
                    }
                    MemberState::Left => false,
                }
        });
        let round = self.broadcasts.new_round();
        for slot in targets {
            if let Some(addr) = members.get(slot).map(|e| e.socket_addr()) {
                out.gossip(addr, round);
            }
        }
    }

    /// Tops `buf` up with at most `budget` bytes of broadcasts, each retired after `limit`
    /// transmits; returns the bytes added. `round` is the gossip round of a gossip datagram
    /// (`None`: a packet of its own). `sent` hears the kind of each message added.
    pub fn piggyback(
        &mut self,
        buf: &mut Vec<u8>,
        round: Option<u64>,
        budget: usize,
        limit: u32,
        members: &Membership,
        mut sent: impl FnMut(MessageKind),
    ) -> usize {
        let round = round.unwrap_or_else(|| self.broadcasts.new_round());
        let pending = BroadcastClass::ALL.map(|c| self.pending_of(c) > 0);
        if !pending.contains(&true) {
            return 0;
        }
        let packet = self.broadcasts.new_packet();
        fair_fill(budget, pending, packet, |class, room| {
            if class == BroadcastClass::Membership {
                return self.fill_news(buf, room, limit, packet, round, members, &mut sent);
            }
            self.broadcasts
                .fill_class(class, buf, room, limit, packet, round, &mut sent)
        })
    }

    /// Encodes pending membership news from the member table into `buf`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the packet filling state, passed through"
    )]
    fn fill_news(
        &mut self,
        buf: &mut Vec<u8>,
        mut budget: usize,
        limit: u32,
        packet: u64,
        round: u64,
        members: &Membership,
        sent: &mut impl FnMut(MessageKind),
    ) -> usize {
        let mut taken: Vec<u32> = Vec::new();
        let mut spent: Vec<u32> = Vec::new();
        let mut added = 0;
        let mut misses = 0;
        let local = members.local_slot();
        for (slot, p) in self.news.iter() {
            if budget < MESSAGE_BYTES_MIN || misses >= SCAN_MAX {
                break;
            }
            if News::is_spent(&p, limit, round) {
                spent.push(slot);
                continue;
            }
            if p.packet == packet as u32 && p.packet != 0 {
                continue;
            }
            let Some(e) = members.get(slot) else {
                spent.push(slot);
                continue;
            };
            let from_slot = if p.from == FROM_SELF { local } else { p.from };
            let from = members
                .get(from_slot)
                .or_else(|| members.get(local))
                .map_or("", |f| f.name.as_str());
            let node = e.name.as_str();
            let incarnation = e.incarnation.0;
            let msg = match e.state {
                MemberState::Alive => e.alive_message(),
                MemberState::Suspect => Message::Suspect(wire::Suspect {
                    node,
                    incarnation,
                    from,
                }),
                MemberState::Failed => Message::Dead(wire::Dead {
                    node,
                    incarnation,
                    from,
                }),
                MemberState::Left => Message::Leave(wire::Leave { node, incarnation }),
            };
            self.scratch.clear();
            wire::encode_message(&msg, &mut self.scratch);
            let need = wire::framed_len(self.scratch.len());
            if need > budget {
                misses += 1;
                continue;
            }
            wire::push_encoded(buf, &self.scratch);
            sent(msg.kind());
            budget -= need;
            added += need;
            taken.push(slot);
        }
        for slot in spent {
            self.news.remove(slot);
        }
        for slot in taken {
            self.news.sent(slot, packet, round, limit);
        }
        added
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.broadcasts_queued = self.queued;
        stats.stream_forwards = self.stream_forwards;
        let mut by_class = self.broadcasts.dropped();
        by_class[BroadcastClass::Membership as usize] += self.news.dropped;
        stats.broadcasts_dropped_by_class = by_class;
        stats.broadcasts_dropped = by_class.iter().sum();
        stats.broadcasts_invalidated = self.broadcasts.invalidated() + self.news.invalidated;
    }
}

//! The Serf layer's state: three Lamport clocks, recent intents, the event and query
//! de-duplication buffers, queries in flight, and its part of push-pull.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use rand_core::RngCore;

use crate::broadcast::BroadcastClass;
use crate::lamport::{LamportClock, LamportTime};
use crate::node::Node;
use crate::query::{Asked, Pending, QueryId};
use crate::time::Instant;
use crate::user_event::EventBuffer;
use crate::wire::{self, IntentKind, Message};

/// An intent about a member we do not know (yet).
#[derive(Clone, Debug)]
pub(crate) struct RecentIntent {
    pub kind: IntentKind,
    pub ltime: LamportTime,
    pub at: Instant,
}

/// Which (ltime, id) pairs of queries were seen, in a ring like the event buffer.
#[derive(Clone, Debug)]
pub(crate) struct QueryBuffer {
    slots: Vec<Option<(LamportTime, heapless::Vec<u32, 16>)>>,
}

impl QueryBuffer {
    pub fn new(size: usize) -> Self {
        Self {
            slots: alloc::vec![None; size.max(1)],
        }
    }

    /// Records `(ltime, id)`; false when already seen (or the slot is full of others).
    pub fn insert(&mut self, ltime: LamportTime, id: u32) -> bool {
        let i = (ltime.0 % self.slots.len() as u64) as usize;
        match &mut self.slots[i] {
            Some((t, ids)) if *t == ltime => {
                if ids.contains(&id) {
                    return false;
                }
                ids.push(id).is_ok()
            }
            slot => {
                let mut ids = heapless::Vec::new();
                let _ = ids.push(id);
                *slot = Some((ltime, ids));
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Serf {
    pub member_clock: LamportClock,
    pub event_clock: LamportClock,
    pub query_clock: LamportClock,
    pub recent_intents: BTreeMap<Box<str>, RecentIntent>,
    pub events: EventBuffer,
    /// Events older than this are ignored (set by a join that does not replay).
    pub event_min_time: LamportTime,
    /// A join without replay is waiting for its first push-pull answer.
    pub ignore_old_events: bool,
    pub queries_seen: QueryBuffer,
    pub asked: BTreeMap<QueryId, Asked>,
    pub query_timers: BTreeSet<(Instant, QueryId)>,
    pub pending: BTreeMap<QueryId, Pending>,
    /// Outstanding ping (seq, sent) to another address claiming our name.
    pub conflict_ping: Option<(u32, Instant)>,
    pub conflict_vote: Option<QueryId>,
}

impl Serf {
    pub fn new(event_buffer: usize, query_buffer: usize) -> Self {
        Self {
            member_clock: LamportClock::default(),
            event_clock: LamportClock::default(),
            query_clock: LamportClock::default(),
            recent_intents: BTreeMap::new(),
            events: EventBuffer::new(event_buffer),
            event_min_time: LamportTime(0),
            ignore_old_events: false,
            queries_seen: QueryBuffer::new(query_buffer),
            asked: BTreeMap::new(),
            query_timers: BTreeSet::new(),
            pending: BTreeMap::new(),
            conflict_ping: None,
            conflict_vote: None,
        }
    }
}

impl<R: RngCore> Node<R> {
    /// The Serf part of a push-pull frame.
    pub(crate) fn serf_state_message(&self) -> Message<'_> {
        Message::SerfState(wire::SerfState {
            member_ltime: self.serf.member_clock.time().0,
            event_ltime: self.serf.event_clock.time().0,
            query_ltime: self.serf.query_clock.time().0,
            events: self.serf.events.recent(),
        })
    }

    /// Merges a peer's clocks and recent events.
    pub(crate) fn on_serf_state(
        &mut self,
        now: Instant,
        s: &wire::SerfState<'_>,
        join_reply: bool,
    ) {
        self.serf.member_clock.witness(LamportTime(s.member_ltime));
        self.serf.query_clock.witness(LamportTime(s.query_ltime));
        if join_reply && self.serf.ignore_old_events {
            // Serf semantics: a join without replay skips everything the cluster already
            // had at the time of joining.
            self.serf.ignore_old_events = false;
            self.serf.event_min_time = self.serf.event_min_time.max(LamportTime(s.event_ltime));
        }
        self.serf.event_clock.witness(LamportTime(s.event_ltime));
        for e in &s.events {
            self.on_user_event(now, e, false);
        }
    }

    /// Queues a Serf broadcast, or forwards it over the stream channel when it is too large
    /// for a datagram.
    pub(crate) fn disseminate(&mut self, class: BroadcastClass, key: &str, msg: &Message<'_>) {
        let len = wire::message_len(msg);
        if wire::framed_len(len) > self.datagram_room() {
            let local = self.local_slot;
            let fanout = (self.retransmit_limit() as usize).clamp(1, 16);
            let peers = self.random_members(fanout, |s, e| s != local && e.state.is_live());
            for slot in peers {
                if let Some(addr) = self.members.get(slot).map(|e| e.socket_addr()) {
                    self.send_stream(addr, msg);
                    self.stats.stream_forwards += 1;
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
            self.config.broadcast_queue_max,
        );
        self.stats.broadcasts_queued += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_buffer_remembers_ids_per_time() {
        let mut b = QueryBuffer::new(4);
        assert!(b.insert(LamportTime(1), 7));
        assert!(!b.insert(LamportTime(1), 7));
        assert!(b.insert(LamportTime(1), 8));
        assert!(b.insert(LamportTime(5), 7), "slot reused by a newer time");
        assert!(b.insert(LamportTime(1), 7), "the older time was forgotten");
        assert_eq!(b.len(), 4);
    }
}

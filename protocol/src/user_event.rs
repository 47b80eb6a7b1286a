//! User events (Serf): fire-and-forget, delivered once per node.
//!
//! An event is stamped with the event Lamport clock, gossiped like membership news (or
//! forwarded over the stream channel when it does not fit a datagram), de-duplicated by
//! `(ltime, name, payload)` in a ring of `event_buffer_size` times, and carried in push-pull
//! so nodes that were unreachable still get it. Events older than the clock minus the ring
//! size are ignored, as are events from before a join without replay.
//!
//! [`UserEvents`] owns the event clock, the ring and the join-without-replay cut-off; the
//! node delivers new events and passes them on.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::lamport::{LamportClock, LamportTime};
use crate::membership::name_hash;
use crate::stats::Stats;
use crate::wire;

/// Reserved prefix for internal event and query names.
pub const INTERNAL_PREFIX: &str = "_hearsay_";

/// Most distinct events kept for one Lamport time.
const EVENTS_PER_SLOT_MAX: usize = 32;

#[derive(Clone, Debug)]
struct Stored {
    name: Box<str>,
    payload: Box<[u8]>,
    coalesce: bool,
}

/// The de-duplication ring: slot `ltime % size` holds the events seen at `ltime`.
#[derive(Clone, Debug)]
struct EventBuffer {
    slots: Vec<Option<(LamportTime, Vec<Stored>)>>,
}

impl EventBuffer {
    pub fn new(size: usize) -> Self {
        Self {
            slots: vec![None; size.max(1)],
        }
    }

    pub fn size(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Records an event; false when it was already there (or its slot is full).
    pub fn insert(
        &mut self,
        ltime: LamportTime,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> bool {
        let i = (ltime.0 % self.size()) as usize;
        let slot = &mut self.slots[i];
        match slot {
            Some((t, events)) if *t == ltime => {
                if events
                    .iter()
                    .any(|e| &*e.name == name && &*e.payload == payload)
                {
                    return false;
                }
                if events.len() >= EVENTS_PER_SLOT_MAX {
                    return false;
                }
                events.push(Stored {
                    name: name.into(),
                    payload: payload.into(),
                    coalesce,
                });
            }
            _ => {
                *slot = Some((
                    ltime,
                    vec![Stored {
                        name: name.into(),
                        payload: payload.into(),
                        coalesce,
                    }],
                ));
            }
        }
        true
    }

    /// Every remembered event, oldest time first.
    pub fn recent(&self) -> Vec<wire::UserEvent<'_>> {
        let mut out: Vec<wire::UserEvent<'_>> = self
            .slots
            .iter()
            .flatten()
            .flat_map(|(t, events)| {
                events.iter().map(move |e| wire::UserEvent {
                    ltime: t.0,
                    name: &e.name,
                    payload: &e.payload,
                    coalesce: e.coalesce,
                })
            })
            .collect();
        out.sort_by_key(|e| e.ltime);
        out
    }
}

pub(crate) fn event_key(ltime: u64, name: &str, payload: &[u8]) -> String {
    // Unique per event so events never invalidate each other in the queue.
    let mut h = name_hash(name);
    for b in payload {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    alloc::format!("\u{1}ev{ltime}:{h:x}")
}

/// Whether a received user event is new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Receipt {
    /// First time seen: deliver it (and pass it on when it came by gossip).
    New,
    /// Older than the de-duplication window or than a join without replay (counted).
    TooOld,
    /// Name plus payload over `payload_stream_bytes_max` (the node counts it as invalid).
    TooLarge,
    /// Seen before (counted).
    Duplicate,
}

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct UserEvents {
    /// The event clock.
    clock: LamportClock,
    buffer: EventBuffer,
    /// Events older than this are ignored (set by a join that does not replay).
    min_time: LamportTime,
    /// A join without replay is waiting for its first push-pull answer.
    ignore_old: bool,
    delivered: u64,
    duplicate: u64,
    too_old: u64,
}

impl UserEvents {
    /// A de-duplication ring of `buffer_size` times.
    pub fn new(buffer_size: usize) -> Self {
        Self {
            clock: LamportClock::default(),
            buffer: EventBuffer::new(buffer_size),
            min_time: LamportTime(0),
            ignore_old: false,
            delivered: 0,
            duplicate: 0,
            too_old: 0,
        }
    }

    /// The event clock's time.
    pub fn time(&self) -> LamportTime {
        self.clock.time()
    }

    /// The time for an event this node sends (the clock moves past it).
    pub fn stamp(&mut self) -> LamportTime {
        let ltime = self.clock.time();
        self.clock.increment();
        ltime
    }

    /// A join starts: without `replay`, events the cluster already had are skipped once the
    /// join's answer tells how far its event clock got.
    pub fn joining(&mut self, replay: bool) {
        self.ignore_old = !replay;
    }

    /// Checks and records a received event: witnesses its time, then rejects it when too
    /// old, too large or already seen.
    pub fn receive(&mut self, e: &wire::UserEvent<'_>, bytes_max: usize) -> Receipt {
        let ltime = LamportTime(e.ltime);
        self.clock.witness(ltime);
        if ltime < self.min_time {
            self.too_old += 1;
            return Receipt::TooOld;
        }
        let cur = self.clock.time().0;
        let size = self.buffer.size();
        if cur > size && e.ltime < cur - size {
            self.too_old += 1;
            return Receipt::TooOld;
        }
        if e.payload.len() + e.name.len() > bytes_max {
            return Receipt::TooLarge;
        }
        if !self.buffer.insert(ltime, e.name, e.payload, e.coalesce) {
            self.duplicate += 1;
            return Receipt::Duplicate;
        }
        self.delivered += 1;
        Receipt::New
    }

    /// Merges the event clock of a peer's Serf state. When the state answers our join
    /// without replay, events up to that time are skipped from now on (Serf semantics: a
    /// join without replay skips everything the cluster already had at the time).
    pub fn merge_clock(&mut self, event_ltime: LamportTime, join_reply: bool) {
        if join_reply && self.ignore_old {
            self.ignore_old = false;
            self.min_time = self.min_time.max(event_ltime);
        }
        self.clock.witness(event_ltime);
    }

    /// Every remembered event, oldest time first (for push-pull).
    pub fn recent(&self) -> Vec<wire::UserEvent<'_>> {
        self.buffer.recent()
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.user_events_delivered = self.delivered;
        stats.user_events_duplicate = self.duplicate;
        stats.user_events_too_old = self.too_old;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_buffer_deduplicates_by_time_name_and_payload() {
        let mut b = EventBuffer::new(4);
        assert!(b.insert(LamportTime(3), "deploy", b"v1", true));
        assert!(!b.insert(LamportTime(3), "deploy", b"v1", true));
        assert!(b.insert(LamportTime(3), "deploy", b"v2", true));
        assert!(b.insert(LamportTime(3), "other", b"v1", false));
        assert!(
            b.insert(LamportTime(7), "x", b"", false),
            "same slot, newer time replaces"
        );
        assert!(
            b.insert(LamportTime(3), "deploy", b"v1", true),
            "forgotten once passed"
        );
        assert_eq!(b.recent().len(), 1);
    }

    #[test]
    fn a_slot_holds_a_bounded_number_of_events() {
        let mut b = EventBuffer::new(2);
        for i in 0..EVENTS_PER_SLOT_MAX {
            assert!(b.insert(LamportTime(1), &alloc::format!("e{i}"), b"", false));
        }
        assert!(!b.insert(LamportTime(1), "one-too-many", b"", false));
        assert_eq!(b.recent().len(), EVENTS_PER_SLOT_MAX);
    }
}

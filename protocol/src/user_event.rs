//! User events (Serf): fire-and-forget, delivered once per node.
//!
//! An event is stamped with the event Lamport clock, gossiped like membership news (or
//! forwarded over the stream channel when it does not fit a datagram), de-duplicated by
//! `(ltime, name, payload)` in a ring of `event_buffer_size` times, and carried in push-pull
//! so nodes that were unreachable still get it. Events older than the clock minus the ring
//! size are ignored, as are events from before a join without replay.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use rand_core::RngCore;

use crate::broadcast::BroadcastClass;
use crate::error::CommandError;
use crate::event::Event;
use crate::lamport::LamportTime;
use crate::member::name_hash;
use crate::node::{LocalStatus, Node};
use crate::time::Instant;
use crate::wire::{self, Message};

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
pub(crate) struct EventBuffer {
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

fn event_key(ltime: u64, name: &str, payload: &[u8]) -> String {
    // Unique per event so events never invalidate each other in the queue.
    let mut h = name_hash(name);
    for b in payload {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    alloc::format!("\u{1}ev{ltime}:{h:x}")
}

impl<R: RngCore> Node<R> {
    /// Sends a user event to the whole cluster (this node included). Returns its Lamport
    /// time.
    ///
    /// # Errors
    /// [`CommandError::PayloadTooLarge`] when name plus payload exceed
    /// `user_event_bytes_max`; [`CommandError::ReservedName`] for an empty or internal name;
    /// [`CommandError::Left`] after leaving. Nothing is sent on error.
    pub fn user_event(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<LamportTime, CommandError> {
        if self.status == LocalStatus::Left {
            return Err(CommandError::Left);
        }
        if name.is_empty() || name.starts_with(INTERNAL_PREFIX) {
            return Err(CommandError::ReservedName);
        }
        let len = name.len() + payload.len();
        if len > self.config.user_event_bytes_max {
            return Err(CommandError::PayloadTooLarge {
                what: "user event",
                limit: "user_event_bytes_max",
                len,
                max: self.config.user_event_bytes_max,
            });
        }
        let ltime = self.serf.event_clock.time();
        self.serf.event_clock.increment();
        let e = wire::UserEvent {
            ltime: ltime.0,
            name,
            payload,
            coalesce,
        };
        self.on_user_event(now, &e, true);
        Ok(ltime)
    }

    /// Applies a user event from gossip, a stream forward or push-pull. `spread` says
    /// whether a new event is passed on (push-pull merges are not: the peer already has it).
    pub(crate) fn on_user_event(&mut self, _now: Instant, e: &wire::UserEvent<'_>, spread: bool) {
        let ltime = LamportTime(e.ltime);
        self.serf.event_clock.witness(ltime);
        if ltime < self.serf.event_min_time {
            self.stats.user_events_too_old += 1;
            return;
        }
        let cur = self.serf.event_clock.time().0;
        let size = self.serf.events.size();
        if cur > size && e.ltime < cur - size {
            self.stats.user_events_too_old += 1;
            return;
        }
        if e.payload.len() + e.name.len() > self.config.payload_stream_bytes_max {
            self.stats.invalid_messages += 1;
            return;
        }
        if !self
            .serf
            .events
            .insert(ltime, e.name, e.payload, e.coalesce)
        {
            self.stats.user_events_duplicate += 1;
            return;
        }
        self.stats.user_events_delivered += 1;
        self.push_event(Event::User {
            ltime,
            name: e.name.into(),
            payload: e.payload.into(),
            coalesce: e.coalesce,
        });
        if spread {
            let key = event_key(e.ltime, e.name, e.payload);
            self.disseminate(BroadcastClass::Event, &key, &Message::UserEvent(*e));
        }
    }

    /// The event clock's current time.
    pub fn event_time(&self) -> LamportTime {
        self.serf.event_clock.time()
    }

    /// The member clock's current time.
    pub fn member_time(&self) -> LamportTime {
        self.serf.member_clock.time()
    }

    /// The query clock's current time.
    pub fn query_time(&self) -> LamportTime {
        self.serf.query_clock.time()
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

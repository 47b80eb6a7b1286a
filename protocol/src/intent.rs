//! Join and leave intents (Serf): membership news stamped with the member Lamport clock.
//!
//! - A member's latest intent time is kept on its entry; an intent no newer is ignored, so
//!   an old join arriving after a leave changes nothing.
//! - An intent about an unknown member is remembered (bounded, for
//!   `recent_intent_timeout`): a leave that overtakes the join makes the member appear as
//!   left when it is learned, instead of alive.
//! - A leave intent turns a failed member into a left one (`force_leave`), and with `prune`
//!   forgets it at once. A leave intent about ourselves while we are alive is refuted with a
//!   newer join intent.

use alloc::boxed::Box;

use rand_core::RngCore;

use crate::broadcast::BroadcastClass;
use crate::error::{CommandError, InboundError};
use crate::event::Event;
use crate::lamport::LamportTime;
use crate::member::MemberState;
use crate::node::{LocalStatus, Node};
use crate::serf::RecentIntent;
use crate::time::Instant;
use crate::types::NodeName;
use crate::wire::{self, IntentKind, Message};

impl<R: RngCore> Node<R> {
    /// Broadcasts an intent about ourselves with a fresh member-clock time.
    pub(crate) fn broadcast_own_intent(&mut self, kind: IntentKind) {
        let ltime = self.serf.member_clock.increment();
        let name = self.local_entry().name.clone();
        if let Some(e) = self.members.get_mut(self.local_slot) {
            e.status_ltime = crate::member::ltime32(ltime);
        }
        let msg = Message::Intent(wire::Intent {
            kind,
            node: name.as_str(),
            ltime: ltime.0,
            prune: false,
        });
        self.disseminate(BroadcastClass::Intent, name.as_str(), &msg);
    }

    /// Marks a failed member as left everywhere (Serf's `force-leave`); with `prune` it is
    /// forgotten at once instead of kept as a tombstone.
    ///
    /// # Errors
    /// [`CommandError::UnknownMember`] for an unknown name or this node itself.
    pub fn force_leave(
        &mut self,
        now: Instant,
        name: &str,
        prune: bool,
    ) -> Result<(), CommandError> {
        let slot = self.members.find(name).ok_or(CommandError::UnknownMember)?;
        if slot == self.local_slot {
            return Err(CommandError::UnknownMember);
        }
        let ltime = self.serf.member_clock.increment();
        let intent = wire::Intent {
            kind: IntentKind::Leave,
            node: name,
            ltime: ltime.0,
            prune,
        };
        let _ = self.on_intent(now, &intent);
        Ok(())
    }

    pub(crate) fn on_intent(
        &mut self,
        now: Instant,
        i: &wire::Intent<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(i.node) {
            return Err(InboundError::InvalidField);
        }
        self.stats.intents_received += 1;
        let ltime = LamportTime(i.ltime);
        self.serf.member_clock.witness(ltime);
        let Some(slot) = self.members.find(i.node) else {
            self.remember_intent(now, i.node, i.kind, ltime);
            self.disseminate(BroadcastClass::Intent, i.node, &Message::Intent(*i));
            return Ok(());
        };
        let Some(e) = self.members.get_mut(slot) else {
            return Ok(());
        };
        if crate::member::ltime32(ltime) <= e.status_ltime {
            return Ok(());
        }
        e.status_ltime = crate::member::ltime32(ltime);
        let state = e.state;
        if slot == self.local_slot {
            if i.kind == IntentKind::Leave && self.status == LocalStatus::Alive {
                self.broadcast_own_intent(IntentKind::Join);
            }
            return Ok(());
        }
        if i.kind == IntentKind::Leave {
            if state == MemberState::Failed {
                self.set_state(slot, MemberState::Left, now);
                let m = self.member_snapshot(slot);
                self.push_event(Event::MemberLeave(m));
            }
            if i.prune && !state.is_live() {
                self.reap_slot(slot);
            }
        }
        self.disseminate(BroadcastClass::Intent, i.node, &Message::Intent(*i));
        Ok(())
    }

    fn remember_intent(&mut self, now: Instant, node: &str, kind: IntentKind, ltime: LamportTime) {
        let timeout = self.config.recent_intent_timeout;
        if self.serf.recent_intents.len() >= self.config.recent_intents_max {
            self.serf
                .recent_intents
                .retain(|_, r| now.saturating_duration_since(r.at) < timeout);
        }
        if let Some(r) = self.serf.recent_intents.get_mut(node) {
            if ltime > r.ltime {
                *r = RecentIntent {
                    kind,
                    ltime,
                    at: now,
                };
            }
            return;
        }
        if self.serf.recent_intents.len() >= self.config.recent_intents_max {
            // Full: forget the oldest.
            let oldest = self
                .serf
                .recent_intents
                .iter()
                .min_by_key(|(_, r)| r.at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.serf.recent_intents.remove(&k);
            }
        }
        self.serf.recent_intents.insert(
            Box::from(node),
            RecentIntent {
                kind,
                ltime,
                at: now,
            },
        );
    }

    /// The remembered intent for a member being learned now, consumed.
    pub(crate) fn take_recent_intent(&mut self, now: Instant, node: &str) -> Option<RecentIntent> {
        let r = self.serf.recent_intents.remove(node)?;
        (now.saturating_duration_since(r.at) < self.config.recent_intent_timeout).then_some(r)
    }
}

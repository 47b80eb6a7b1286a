//! Membership rules: how alive, suspect, dead and leave messages change a member, and how
//! this node refutes news of its own death.
//!
//! | message (incarnation i) | applies when                                | effect             |
//! |-------------------------|---------------------------------------------|--------------------|
//! | alive(i)                | member unknown, or i > current              | alive, new data    |
//! | suspect(i)              | i ≥ current and member alive                | suspect + timer    |
//! | suspect(i)              | i ≥ current and already suspect             | confirmation       |
//! | dead(i)                 | i ≥ current and member alive or suspect     | failed             |
//! | leave(i)                | i ≥ current and member not already left     | left               |
//! | any of them about self  | i ≥ own incarnation (alive: > or differing) | refute: own i + 1  |

use core::net::SocketAddr;

use rand_core::RngCore;

use crate::error::InboundError;
use crate::event::Event;
use crate::member::{Entry, MemberState, name_hash};
use crate::node::{LocalStatus, Node};
use crate::suspicion::{Suspicion, suspicion_timeout};
use crate::time::Instant;
use crate::types::{Incarnation, NodeName};
use crate::wire::{self, IntentKind, Message, WireAddr};

fn check_name(name: &str) -> Result<(), InboundError> {
    if NodeName::is_valid(name) {
        Ok(())
    } else {
        Err(InboundError::InvalidField)
    }
}

fn check_addr(addr: WireAddr) -> Result<(), InboundError> {
    if SocketAddr::from(addr).port() == 0 {
        Err(InboundError::InvalidField)
    } else {
        Ok(())
    }
}

impl<R: RngCore> Node<R> {
    /// Moves `slot` to `state`, keeping the live count, the gone set and the timestamp.
    pub(crate) fn set_state(&mut self, slot: u32, state: MemberState, now: Instant) {
        let Some(e) = self.members.get_mut(slot) else {
            return;
        };
        let old = e.state;
        if old != state {
            e.state = state;
            e.state_change = now;
        }
        match (old.is_live(), state.is_live()) {
            (true, false) => self.live_count = self.live_count.saturating_sub(1),
            (false, true) => self.live_count += 1,
            _ => {}
        }
        if state.is_live() {
            self.gone.remove(&slot);
        } else {
            self.gone.insert(slot);
        }
    }

    pub(crate) fn set_local(&mut self, now: Instant, inc: Incarnation, state: MemberState) {
        if let Some(e) = self.members.get_mut(self.local_slot) {
            e.incarnation = inc;
            e.addr = self.local_addr;
        }
        self.set_state(self.local_slot, state, now);
    }

    pub(crate) fn alive_message(entry: &Entry) -> Message<'_> {
        Message::Alive(wire::Alive {
            node: entry.name.as_str(),
            incarnation: entry.incarnation.0,
            addr: entry.addr,
            tags: entry.tags_bytes(),
        })
    }

    pub(crate) fn broadcast_local_alive(&mut self) {
        self.queue_news(self.local_slot, None);
    }

    /// Announces a higher incarnation than `accused`: the Lifeguard refutation.
    pub(crate) fn refute(&mut self, now: Instant, accused: Incarnation) {
        let inc = self.local_entry().incarnation.max(accused).next();
        self.set_local(now, inc, MemberState::Alive);
        self.broadcast_local_alive();
        self.stats.refutations += 1;
        if self.config.lifeguard {
            self.awareness.apply(1);
        }
    }

    /// Someone says we are suspect, failed or gone at `inc`: refute news that is current,
    /// and re-announce ourselves when the news is stale (a restarted node wins its name
    /// back this way).
    fn answer_accusation(&mut self, now: Instant, inc: Incarnation) {
        if self.status != LocalStatus::Alive {
            return;
        }
        if inc >= self.local_entry().incarnation {
            self.refute(now, inc);
        } else {
            self.broadcast_local_alive();
        }
    }

    /// Applies an alive message (gossip or push-pull).
    pub(crate) fn on_alive(
        &mut self,
        now: Instant,
        a: &wire::Alive<'_>,
    ) -> Result<(), InboundError> {
        check_name(a.node)?;
        check_addr(a.addr)?;
        if a.tags.len() > self.config.tags_bytes_max {
            return Err(InboundError::InvalidField);
        }
        let inc = Incarnation(a.incarnation);
        let Some(slot) = self.members.find(a.node) else {
            if self.members.len() >= self.config.members_max {
                self.stats.members_rejected += 1;
                return Ok(());
            }
            let name = NodeName::new(a.node).map_err(|_| InboundError::InvalidField)?;
            let intent = self.take_recent_intent(now, a.node);
            // A leave that overtook the join: the member is learned as already gone.
            let left = intent.as_ref().is_some_and(|i| i.kind == IntentKind::Leave);
            let slot = self.members.insert(Entry {
                name,
                tags: (!a.tags.is_empty()).then(|| a.tags.into()),
                state_change: now,
                status_ltime: intent
                    .as_ref()
                    .map_or(0, |i| crate::member::ltime32(i.ltime)),
                addr: a.addr,
                incarnation: inc,
                state: if left {
                    MemberState::Left
                } else {
                    MemberState::Alive
                },
            });
            if left {
                self.gone.insert(slot);
                return Ok(());
            }
            self.live_count += 1;
            self.add_to_probe_order(slot);
            self.queue_news(slot, None);
            let m = self.member_snapshot(slot);
            self.push_event(Event::MemberJoin(m));
            return Ok(());
        };
        if slot == self.local_slot {
            let me = self.local_entry();
            let differs = a.addr != me.addr || a.tags != me.tags_bytes();
            let other_addr = a.addr != me.addr;
            if self.status == LocalStatus::Alive
                && (inc > me.incarnation || (inc == me.incarnation && differs))
            {
                self.refute(now, inc);
                if other_addr {
                    self.note_name_conflict(now, a.addr);
                }
            }
            return Ok(());
        }
        let Some(e) = self.members.get_mut(slot) else {
            return Ok(());
        };
        if inc <= e.incarnation {
            return Ok(());
        }
        let changed = e.addr != a.addr || e.tags_bytes() != a.tags;
        let old = e.state;
        e.incarnation = inc;
        e.addr = a.addr;
        if e.tags_bytes() != a.tags {
            e.tags = (!a.tags.is_empty()).then(|| a.tags.into());
        }
        self.clear_suspicion(slot);
        self.set_state(slot, MemberState::Alive, now);
        self.queue_news(slot, None);
        match old {
            MemberState::Failed | MemberState::Left => {
                let m = self.member_snapshot(slot);
                self.push_event(Event::MemberJoin(m));
            }
            _ if changed => {
                let m = self.member_snapshot(slot);
                self.push_event(Event::MemberUpdate(m));
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies a suspicion of `node` at `inc` raised by `from`.
    pub(crate) fn on_suspect(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
        from: &str,
    ) -> Result<(), InboundError> {
        check_name(node)?;
        check_name(from)?;
        let Some(slot) = self.members.find(node) else {
            return Ok(());
        };
        if slot == self.local_slot {
            self.answer_accusation(now, inc);
            return Ok(());
        }
        let Some(e) = self.members.get_mut(slot) else {
            return Ok(());
        };
        if inc < e.incarnation || !e.state.is_live() {
            return Ok(());
        }
        if e.state == MemberState::Suspect {
            e.incarnation = inc;
            let confirmed = match self.suspicions.get_mut(&slot) {
                Some(s) => {
                    let before = s.deadline();
                    let new = s.confirm(name_hash(from));
                    if new && s.deadline() != before {
                        let after = s.deadline();
                        self.suspicion_timers.remove(&(before, slot));
                        self.suspicion_timers.insert((after, slot));
                    }
                    new
                }
                None => false,
            };
            if confirmed {
                self.queue_news(slot, Some(from));
            }
            return Ok(());
        }
        e.incarnation = inc;
        self.set_state(slot, MemberState::Suspect, now);
        self.queue_news(slot, Some(from));
        self.start_suspicion(slot, name_hash(from), now);
        Ok(())
    }

    fn start_suspicion(&mut self, slot: u32, from: u64, now: Instant) {
        let n = self.live_count;
        let c = &self.config;
        let min = suspicion_timeout(c.suspicion_mult, n, c.probe_interval);
        let (k, max) = if c.lifeguard {
            let k = c.suspicion_mult.saturating_sub(2);
            let k = if (n as u64) < u64::from(k) + 2 { 0 } else { k };
            (k, crate::time::scale(min, c.suspicion_max_timeout_mult))
        } else {
            (0, min)
        };
        self.clear_suspicion(slot);
        let s = Suspicion::new(from, k, min, max, now);
        self.suspicion_timers.insert((s.deadline(), slot));
        self.suspicions.insert(slot, s);
    }

    pub(crate) fn clear_suspicion(&mut self, slot: u32) {
        if let Some(s) = self.suspicions.remove(&slot) {
            self.suspicion_timers.remove(&(s.deadline(), slot));
        }
    }

    /// Declares members failed whose suspicion ran out.
    pub(crate) fn expire_suspicions(&mut self, now: Instant) {
        while let Some(&(deadline, slot)) = self.suspicion_timers.first() {
            if deadline > now {
                break;
            }
            self.suspicion_timers.pop_first();
            self.suspicions.remove(&slot);
            let Some(e) = self.members.get(slot) else {
                continue;
            };
            if e.state != MemberState::Suspect {
                continue;
            }
            let (name, inc) = (e.name.clone(), e.incarnation);
            let me = self.local_entry().name.clone();
            self.stats.failures_declared += 1;
            let _ = self.on_dead(now, name.as_str(), inc, me.as_str());
        }
    }

    /// Applies a declaration that `node` failed at `inc`.
    pub(crate) fn on_dead(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
        from: &str,
    ) -> Result<(), InboundError> {
        check_name(node)?;
        check_name(from)?;
        let Some(slot) = self.members.find(node) else {
            return Ok(());
        };
        if slot == self.local_slot {
            self.answer_accusation(now, inc);
            return Ok(());
        }
        let Some(e) = self.members.get_mut(slot) else {
            return Ok(());
        };
        if inc < e.incarnation || !e.state.is_live() {
            return Ok(());
        }
        e.incarnation = inc;
        self.clear_suspicion(slot);
        self.set_state(slot, MemberState::Failed, now);
        self.queue_news(slot, Some(from));
        let m = self.member_snapshot(slot);
        self.push_event(Event::MemberFailed(m));
        Ok(())
    }

    /// Applies a graceful leave of `node` at `inc`.
    pub(crate) fn on_leave(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
    ) -> Result<(), InboundError> {
        check_name(node)?;
        let Some(slot) = self.members.find(node) else {
            return Ok(());
        };
        if slot == self.local_slot {
            self.answer_accusation(now, inc);
            return Ok(());
        }
        let Some(e) = self.members.get_mut(slot) else {
            return Ok(());
        };
        if inc < e.incarnation || e.state == MemberState::Left {
            return Ok(());
        }
        e.incarnation = inc;
        self.clear_suspicion(slot);
        self.set_state(slot, MemberState::Left, now);
        self.queue_news(slot, None);
        let m = self.member_snapshot(slot);
        self.push_event(Event::MemberLeave(m));
        Ok(())
    }

    /// Forgets failed members past `reconnect_timeout` and tombstones past
    /// `tombstone_timeout`.
    pub(crate) fn reap(&mut self, now: Instant) {
        let due: alloc::vec::Vec<u32> = self
            .gone
            .iter()
            .copied()
            .filter(|&slot| {
                self.members.get(slot).is_some_and(|e| {
                    let age = now.saturating_duration_since(e.state_change);
                    slot != self.local_slot
                        && match e.state {
                            MemberState::Failed => age >= self.config.reconnect_timeout,
                            MemberState::Left => age >= self.config.tombstone_timeout,
                            _ => false,
                        }
                })
            })
            .collect();
        for slot in due {
            self.reap_slot(slot);
        }
    }

    /// Forgets the (failed or left) member in `slot`.
    pub(crate) fn reap_slot(&mut self, slot: u32) {
        if slot == self.local_slot || self.members.get(slot).is_none() {
            return;
        }
        let m = self.member_snapshot(slot);
        self.clear_suspicion(slot);
        if m.state.is_live() {
            self.live_count = self.live_count.saturating_sub(1);
        }
        self.gone.remove(&slot);
        self.news.remove(slot);
        self.members.remove(slot);
        self.stats.reaped += 1;
        self.push_event(Event::MemberReap(m));
    }
}

//! SWIM state rules: how alive, suspect, dead and leave news changes a member, and which
//! news about this node calls for a refutation.
//!
//! | message (incarnation i) | applies when                                | effect             |
//! |-------------------------|---------------------------------------------|--------------------|
//! | alive(i)                | member unknown, or i > current              | alive, new data    |
//! | suspect(i)              | i ≥ current and member alive                | suspect + timer    |
//! | suspect(i)              | i ≥ current and already suspect             | confirmation       |
//! | dead(i)                 | i ≥ current and member alive or suspect     | failed             |
//! | leave(i)                | i ≥ current and member not already left     | left               |
//! | any of them about self  | i ≥ own incarnation (alive: > or differing) | refute: own i + 1  |
//!
//! Each rule changes the entry and reports what happened; the node turns the report into
//! news, suspicion timers, probe-order changes and events.

use core::net::SocketAddr;

use super::{Entry, Membership, ltime32};
use crate::config::Config;
use crate::error::InboundError;
use crate::lamport::LamportTime;
use crate::member::MemberState;
use crate::time::Instant;
use crate::types::{Incarnation, NodeName};
use crate::wire::{self, IntentKind, WireAddr};

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

/// What an alive message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AliveOutcome {
    /// Nothing changed: the news is not newer than ours.
    Stale,
    /// An unknown member was ignored because the table is full (counted).
    Rejected,
    /// A new member, alive.
    Joined(u32),
    /// A new member, learned as already left: its leave intent overtook its join.
    JoinedLeft,
    /// A known member at a newer incarnation, now alive. `old` is its previous state and
    /// `changed` says whether its address or tags changed.
    Renewed {
        slot: u32,
        old: MemberState,
        changed: bool,
    },
    /// News about this node that it must refute; `rival` is the other address when someone
    /// claims its name from elsewhere.
    Refute {
        accused: Incarnation,
        rival: Option<WireAddr>,
    },
}

/// What a suspect, dead or leave message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing changed: unknown member, or news older than ours.
    Stale,
    /// The news is about this node.
    AboutUs,
    /// The member in this slot moved to the new state.
    Applied(u32),
    /// (Suspect only.) The member was already suspect: the news confirms the suspicion.
    Confirms(u32),
}

impl Membership {
    /// Applies an alive message (gossip or push-pull). `local_alive` says whether this node
    /// takes part (a node that left does not refute); `take_intent` yields the remembered
    /// intent for a member learned now. Rejects names, addresses and tags that are not
    /// valid (nothing changes).
    pub fn apply_alive(
        &mut self,
        now: Instant,
        a: &wire::Alive<'_>,
        local_alive: bool,
        config: &Config,
        take_intent: impl FnOnce() -> Option<(IntentKind, LamportTime)>,
    ) -> Result<AliveOutcome, InboundError> {
        check_name(a.node)?;
        check_addr(a.addr)?;
        if a.tags.len() > config.tags_bytes_max {
            return Err(InboundError::InvalidField);
        }
        let inc = Incarnation(a.incarnation);
        let Some(slot) = self.table.find(a.node) else {
            if self.table.len() >= config.members_max {
                self.members_rejected += 1;
                return Ok(AliveOutcome::Rejected);
            }
            let name = NodeName::new(a.node).map_err(|_| InboundError::InvalidField)?;
            let intent = take_intent();
            // A leave that overtook the join: the member is learned as already gone.
            let left = intent.is_some_and(|(kind, _)| kind == IntentKind::Leave);
            let slot = self.table.insert(Entry {
                name,
                tags: (!a.tags.is_empty()).then(|| a.tags.into()),
                state_change: now,
                status_ltime: intent.map_or(0, |(_, ltime)| ltime32(ltime)),
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
                return Ok(AliveOutcome::JoinedLeft);
            }
            self.live_count += 1;
            return Ok(AliveOutcome::Joined(slot));
        };
        if slot == self.local_slot {
            let me = self.local();
            let differs = a.addr != me.addr || a.tags != me.tags_bytes();
            let other_addr = a.addr != me.addr;
            if local_alive && (inc > me.incarnation || (inc == me.incarnation && differs)) {
                return Ok(AliveOutcome::Refute {
                    accused: inc,
                    rival: other_addr.then_some(a.addr),
                });
            }
            return Ok(AliveOutcome::Stale);
        }
        let Some(e) = self.table.get_mut(slot) else {
            return Ok(AliveOutcome::Stale);
        };
        if inc <= e.incarnation {
            return Ok(AliveOutcome::Stale);
        }
        let changed = e.addr != a.addr || e.tags_bytes() != a.tags;
        let old = e.state;
        e.incarnation = inc;
        e.addr = a.addr;
        if e.tags_bytes() != a.tags {
            e.tags = (!a.tags.is_empty()).then(|| a.tags.into());
        }
        self.set_state(slot, MemberState::Alive, now);
        Ok(AliveOutcome::Renewed { slot, old, changed })
    }

    /// Applies a suspicion of `node` at `inc` raised by `from`.
    pub fn apply_suspect(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
        from: &str,
    ) -> Result<Verdict, InboundError> {
        check_name(node)?;
        check_name(from)?;
        let Some(slot) = self.table.find(node) else {
            return Ok(Verdict::Stale);
        };
        if slot == self.local_slot {
            return Ok(Verdict::AboutUs);
        }
        let Some(e) = self.table.get_mut(slot) else {
            return Ok(Verdict::Stale);
        };
        if inc < e.incarnation || !e.state.is_live() {
            return Ok(Verdict::Stale);
        }
        e.incarnation = inc;
        if e.state == MemberState::Suspect {
            return Ok(Verdict::Confirms(slot));
        }
        self.set_state(slot, MemberState::Suspect, now);
        Ok(Verdict::Applied(slot))
    }

    /// Applies a declaration that `node` failed at `inc`, raised by `from`.
    pub fn apply_dead(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
        from: &str,
    ) -> Result<Verdict, InboundError> {
        check_name(node)?;
        check_name(from)?;
        let Some(slot) = self.table.find(node) else {
            return Ok(Verdict::Stale);
        };
        if slot == self.local_slot {
            return Ok(Verdict::AboutUs);
        }
        let Some(e) = self.table.get_mut(slot) else {
            return Ok(Verdict::Stale);
        };
        if inc < e.incarnation || !e.state.is_live() {
            return Ok(Verdict::Stale);
        }
        e.incarnation = inc;
        self.set_state(slot, MemberState::Failed, now);
        Ok(Verdict::Applied(slot))
    }

    /// Applies a graceful leave of `node` at `inc`.
    pub fn apply_leave(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
    ) -> Result<Verdict, InboundError> {
        check_name(node)?;
        let Some(slot) = self.table.find(node) else {
            return Ok(Verdict::Stale);
        };
        if slot == self.local_slot {
            return Ok(Verdict::AboutUs);
        }
        let Some(e) = self.table.get_mut(slot) else {
            return Ok(Verdict::Stale);
        };
        if inc < e.incarnation || e.state == MemberState::Left {
            return Ok(Verdict::Stale);
        }
        e.incarnation = inc;
        self.set_state(slot, MemberState::Left, now);
        Ok(Verdict::Applied(slot))
    }

    /// Whether news about this node at `accused` is current (so it must be refuted) rather
    /// than stale (then re-announcing ourselves is enough: a restarted node wins its name
    /// back this way).
    pub fn is_current_accusation(&self, accused: Incarnation) -> bool {
        accused >= self.local().incarnation
    }

    /// The Lifeguard refutation: this node takes an incarnation above `accused` and its
    /// own, and is alive. Counted.
    pub fn refute(&mut self, now: Instant, accused: Incarnation) {
        let inc = self.local().incarnation.max(accused).next();
        self.set_local(now, inc, MemberState::Alive);
        self.refutations += 1;
    }
}

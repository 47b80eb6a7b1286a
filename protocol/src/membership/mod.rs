//! Membership: the member table and the bookkeeping that must move with it.
//!
//! [`Membership`] owns the table of entries, which slot is this node, the number of live
//! members (the `N` of the protocol's formulas) and the set of failed and left members
//! (for reconnect and reap). It is the only code that changes an entry: the SWIM rules
//! that move a member between alive, suspect, failed and left are in [`transitions`], and
//! everything else reads entries through `&Entry` and sends the resulting news, timers and
//! events through the node.

mod table;
mod transitions;

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use rand_core::RngCore;

use crate::member::{Member, MemberRef, MemberState};
use crate::stats::Stats;
use crate::time::Instant;
use crate::types::{Identity, Incarnation};
use crate::wire::WireAddr;

use table::ltime32;
pub(crate) use table::{Entry, name_hash, push_growing};
pub(crate) use transitions::{AliveOutcome, Verdict};

use table::Table;

/// ⌈log10(n + 1)⌉ for n ≥ 1: the digit count of `n`, the size factor of the retransmit
/// limit and the default query timeout.
pub(crate) fn size_factor(n: usize) -> u32 {
    let mut n = n.max(1);
    let mut digits = 0;
    while n > 0 {
        digits += 1;
        n /= 10;
    }
    digits
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Membership {
    table: Table,
    local_slot: u32,
    local_addr: WireAddr,
    /// Members not left, not reaped, this node included.
    live_count: usize,
    /// Slots in `Failed` or `Left` state, for reconnect and reap.
    gone: BTreeSet<u32>,
    /// Unknown members ignored because the table was full.
    members_rejected: u64,
    /// Times this node refuted news of its own suspicion, death or departure.
    refutations: u64,
    /// Members forgotten.
    reaped: u64,
}

impl Membership {
    /// A table that holds only this node, alive, with its encoded `tags`.
    pub fn new(identity: Identity, tags: Vec<u8>, now: Instant) -> Self {
        let mut table = Table::default();
        let local_addr = WireAddr::from(identity.addr);
        let local_slot = table.insert(Entry {
            name: identity.name,
            tags: (!tags.is_empty()).then(|| tags.into_boxed_slice()),
            state_change: now,
            status_ltime: 0,
            addr: local_addr,
            incarnation: identity.incarnation,
            state: MemberState::Alive,
        });
        Self {
            table,
            local_slot,
            local_addr,
            live_count: 1,
            gone: BTreeSet::new(),
            members_rejected: 0,
            refutations: 0,
            reaped: 0,
        }
    }

    // ----------------------------------------------------------------------------------
    // Reading
    // ----------------------------------------------------------------------------------

    pub fn local_slot(&self) -> u32 {
        self.local_slot
    }

    pub fn local_addr(&self) -> WireAddr {
        self.local_addr
    }

    /// This node's entry.
    pub fn local(&self) -> &Entry {
        // The local slot is created in `new` and never removed.
        match self.table.get(self.local_slot) {
            Some(e) => e,
            None => unreachable!("local member is never removed"),
        }
    }

    pub fn get(&self, slot: u32) -> Option<&Entry> {
        self.table.get(slot)
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        self.table.find(name)
    }

    /// The member called `name`, as the API shows it.
    pub fn member(&self, name: &str) -> Option<MemberRef<'_>> {
        self.find(name)
            .and_then(|s| self.get(s))
            .map(|entry| MemberRef { entry })
    }

    /// Occupied slots in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.table.iter()
    }

    /// Known members in any state.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Members alive or suspect, this node included.
    pub fn live_count(&self) -> usize {
        self.live_count
    }

    /// Failed and left members, in slot order.
    pub fn gone(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.gone
            .iter()
            .filter_map(|&slot| self.table.get(slot).map(|e| (slot, e)))
    }

    /// Refutations so far (push-pull compares before and after a merge).
    pub fn refutations(&self) -> u64 {
        self.refutations
    }

    /// An owned copy of the member in `slot`, which must be occupied.
    pub fn snapshot(&self, slot: u32) -> Member {
        match self.table.get(slot) {
            Some(entry) => MemberRef { entry }.to_member(),
            None => unreachable!("snapshot of an empty slot"),
        }
    }

    /// Heap bytes held by the table and its index.
    #[cfg(any(test, feature = "testing"))]
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Up to `k` distinct random members accepted by `pick`, in random order.
    pub fn sample(
        &self,
        rng: &mut impl RngCore,
        k: usize,
        pick: impl Fn(u32, &Entry) -> bool,
    ) -> Vec<u32> {
        let mut chosen: Vec<u32> = Vec::with_capacity(k);
        if k == 0 {
            return chosen;
        }
        let slots = self.table.slot_count();
        if slots > 8 * k + 16 {
            // Large table: random slots, a bounded number of tries.
            for _ in 0..(8 * k) {
                if chosen.len() == k {
                    return chosen;
                }
                let s = crate::random::below(rng, slots) as u32;
                if !chosen.contains(&s) && self.table.get(s).is_some_and(|e| pick(s, e)) {
                    chosen.push(s);
                }
            }
        }
        // Small table, or too few hits: scan and sample without replacement.
        let mut pool: Vec<u32> = self
            .table
            .iter()
            .filter(|(s, e)| !chosen.contains(s) && pick(*s, e))
            .map(|(s, _)| s)
            .collect();
        while chosen.len() < k && !pool.is_empty() {
            let i = crate::random::below(rng, pool.len());
            chosen.push(pool.swap_remove(i));
        }
        chosen
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.members_rejected = self.members_rejected;
        stats.refutations = self.refutations;
        stats.reaped = self.reaped;
    }

    // ----------------------------------------------------------------------------------
    // Changes
    // ----------------------------------------------------------------------------------

    /// Moves `slot` to `state`, keeping the live count, the gone set and the timestamp.
    fn set_state(&mut self, slot: u32, state: MemberState, now: Instant) {
        let Some(e) = self.table.get_mut(slot) else {
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

    /// Sets this node's incarnation and state (at its own address).
    pub fn set_local(&mut self, now: Instant, inc: Incarnation, state: MemberState) {
        if let Some(e) = self.table.get_mut(self.local_slot) {
            e.incarnation = inc;
            e.addr = self.local_addr;
        }
        self.set_state(self.local_slot, state, now);
    }

    /// Replaces this node's encoded tags (announce them with a new incarnation).
    pub fn set_local_tags(&mut self, encoded: Vec<u8>) {
        if let Some(e) = self.table.get_mut(self.local_slot) {
            e.tags = (!encoded.is_empty()).then(|| encoded.into_boxed_slice());
        }
    }

    /// Records the time of an intent this node issued about itself.
    pub fn stamp_local_intent(&mut self, ltime: crate::lamport::LamportTime) {
        if let Some(e) = self.table.get_mut(self.local_slot) {
            e.status_ltime = ltime32(ltime);
        }
    }

    /// Records an intent about `slot` at `ltime`: returns the member's state when the intent
    /// is newer than the last one seen for it, `None` (nothing changed) otherwise.
    pub fn witness_intent(
        &mut self,
        slot: u32,
        ltime: crate::lamport::LamportTime,
    ) -> Option<MemberState> {
        let e = self.table.get_mut(slot)?;
        if ltime32(ltime) <= e.status_ltime {
            return None;
        }
        e.status_ltime = ltime32(ltime);
        Some(e.state)
    }

    /// A leave intent about a failed member: it is now left (a tombstone).
    pub fn fail_to_left(&mut self, slot: u32, now: Instant) {
        self.set_state(slot, MemberState::Left, now);
    }

    /// Forgets the member in `slot` (never this node); returns what it was.
    pub fn remove(&mut self, slot: u32) -> Option<Member> {
        if slot == self.local_slot || self.table.get(slot).is_none() {
            return None;
        }
        let m = self.snapshot(slot);
        if m.state.is_live() {
            self.live_count = self.live_count.saturating_sub(1);
        }
        self.gone.remove(&slot);
        self.table.remove(slot);
        self.reaped += 1;
        Some(m)
    }
}

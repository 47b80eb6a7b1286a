//! The member table: compact entries in stable slots plus a name index.
//!
//! Slots never move (a reaped member leaves a hole that the next new member reuses), so the
//! probe order, suspicion timers, news queue and gone set can refer to members by slot
//! number. Iteration is in slot order: deterministic, independent of hashing.
//!
//! Only [`Membership`](super::Membership) holds a `Table`, and only its module tree changes
//! an [`Entry`]; every other rule reads entries through `&Entry`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;

use hashbrown::HashTable;

use crate::lamport::LamportTime;
use crate::member::MemberState;
use crate::time::Instant;
use crate::types::{Incarnation, NodeName};
use crate::wire::{self, Message, WireAddr};

/// One known member. Kept small: the simulator holds N² of these.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: NodeName,
    /// Encoded tags; `None` when empty.
    pub tags: Option<Box<[u8]>>,
    pub state_change: Instant,
    /// Latest join/leave intent time seen for this member (Serf's status ltime).
    /// Stored in 32 bits to keep the entry at 80 bytes: the member clock only moves on
    /// intents (joins after a leave, leaves, force-leaves), so it saturates long after any
    /// real cluster's lifetime.
    pub status_ltime: u32,
    pub addr: WireAddr,
    pub incarnation: Incarnation,
    pub state: MemberState,
}

/// A Lamport time in an entry's 32-bit field (saturating).
pub(crate) fn ltime32(t: LamportTime) -> u32 {
    u32::try_from(t.0).unwrap_or(u32::MAX)
}

impl Entry {
    pub fn tags_bytes(&self) -> &[u8] {
        self.tags.as_deref().unwrap_or(&[])
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.addr.into()
    }

    /// The alive message announcing this member as the table has it.
    pub fn alive_message(&self) -> Message<'_> {
        Message::Alive(wire::Alive {
            node: self.name.as_str(),
            incarnation: self.incarnation.0,
            addr: self.addr,
            tags: self.tags_bytes(),
        })
    }
}

/// FNV-1a with a murmur3 finaliser: deterministic (no random state), fast on short
/// names, and well spread in both the low bits (bucket) and the high bits (hashbrown's tag),
/// which plain FNV-1a is not for names that differ only in their last digits.
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Pushes `item`, growing `v` by a quarter rather than doubling: with N² entries in a
/// simulation, doubling leaves up to half of every per-member vector unused.
pub(crate) fn push_growing<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(16));
    }
    v.push(item);
}

/// Slots plus a name → slot index.
#[derive(Debug, Default)]
pub(crate) struct Table {
    slots: Vec<Option<Entry>>,
    index: HashTable<u32>,
    free: Vec<u32>,
    len: usize,
}

impl Table {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of slots (occupied or not); slot numbers are below this.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(name_hash(name), |&i| {
                slots[i as usize]
                    .as_ref()
                    .is_some_and(|e| e.name.as_str() == name)
            })
            .copied()
    }

    pub fn get(&self, slot: u32) -> Option<&Entry> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// Adds a member whose name is not in the table yet.
    pub fn insert(&mut self, entry: Entry) -> u32 {
        let hash = name_hash(entry.name.as_str());
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                push_growing(&mut self.slots, Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, slot, |&i| {
            slots[i as usize]
                .as_ref()
                .map_or(0, |e| name_hash(e.name.as_str()))
        });
        self.len += 1;
        slot
    }

    /// Removes the member in `slot`, returning it.
    pub fn remove(&mut self, slot: u32) -> Option<Entry> {
        let entry = self.slots.get_mut(slot as usize)?.take()?;
        if let Ok(found) = self
            .index
            .find_entry(name_hash(entry.name.as_str()), |&i| i == slot)
        {
            found.remove();
        }
        self.free.push(slot);
        self.len -= 1;
        Some(entry)
    }

    /// Occupied slots in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e)))
    }

    /// Heap bytes held by the table and its index (capacity, not just length).
    #[cfg(any(test, feature = "testing"))]
    pub fn heap_bytes(&self) -> usize {
        let slots = self.slots.capacity() * core::mem::size_of::<Option<Entry>>();
        let names: usize = self
            .iter()
            .map(|(_, e)| {
                let name = if e.name.is_heap_allocated() {
                    e.name.as_str().len().max(16)
                } else {
                    0
                };
                name + e.tags.as_ref().map_or(0, |t| t.len())
            })
            .sum();
        let index = self.index.capacity() * (core::mem::size_of::<u32>() + 1);
        slots + names + index + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            name: NodeName::new(name).unwrap_or_else(|_| unreachable!()),
            tags: None,
            state_change: Instant::ZERO,
            status_ltime: 0,
            addr: WireAddr::V4([127, 0, 0, 1], 7946),
            incarnation: Incarnation(0),
            state: MemberState::Alive,
        }
    }

    #[test]
    fn removed_slots_are_reused_and_the_index_follows() {
        let mut t = Table::default();
        let a = t.insert(entry("a"));
        let b = t.insert(entry("b"));
        assert_eq!(
            (t.find("a"), t.find("b"), t.find("c")),
            (Some(a), Some(b), None)
        );
        assert!(t.remove(a).is_some());
        assert_eq!(t.find("a"), None);
        let c = t.insert(entry("c"));
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(t.find("c"), Some(c));
        assert_eq!(t.len(), 2);
        let names: Vec<&str> = t.iter().map(|(_, e)| e.name.as_str()).collect();
        assert_eq!(names, ["c", "b"]);
    }

    #[test]
    fn many_members_stay_findable() {
        let mut t = Table::default();
        for i in 0..2000 {
            t.insert(entry(&alloc::format!("node-{i}")));
        }
        for i in (0..2000).step_by(3) {
            let slot = t.find(&alloc::format!("node-{i}"));
            assert!(slot.is_some());
            if let Some(s) = slot {
                t.remove(s);
            }
        }
        for i in 0..2000 {
            assert_eq!(
                t.find(&alloc::format!("node-{i}")).is_some(),
                i % 3 != 0,
                "node-{i}"
            );
        }
    }

    #[test]
    fn an_entry_is_compact() {
        assert!(
            core::mem::size_of::<Option<Entry>>() <= 80,
            "{}",
            core::mem::size_of::<Option<Entry>>()
        );
    }
}

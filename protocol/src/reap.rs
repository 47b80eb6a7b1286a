//! Reap: failed members are forgotten after `reconnect_timeout`, left members (tombstones)
//! after `tombstone_timeout`, counted from their last state change. Runs on the reconnect
//! tick; the node removes each due member from the table and from every rule that refers to
//! it, and reports `Event::MemberReap`.

use alloc::vec::Vec;

use crate::config::Config;
use crate::member::MemberState;
use crate::membership::Membership;
use crate::time::Instant;

/// Slots of the failed and left members due to be forgotten at `now`, in slot order.
pub(crate) fn due(members: &Membership, now: Instant, config: &Config) -> Vec<u32> {
    let local = members.local_slot();
    members
        .gone()
        .filter(|&(slot, e)| {
            let age = now.saturating_duration_since(e.state_change);
            slot != local
                && match e.state {
                    MemberState::Failed => age >= config.reconnect_timeout,
                    MemberState::Left => age >= config.tombstone_timeout,
                    _ => false,
                }
        })
        .map(|(slot, _)| slot)
        .collect()
}

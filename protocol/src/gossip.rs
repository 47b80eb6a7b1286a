//! Dissemination: every `gossip_interval`, pending broadcasts go to `gossip_nodes` random
//! members — alive, suspect, or failed for less than `gossip_to_the_dead_time` so the
//! failed can still hear the news and refute. Packets are filled at send time.
//!
//! A broadcast's retransmit budget counts gossip *rounds*, not packets: the packets of one
//! round (one per target) count as one transmit, so each piece of news reaches
//! `gossip_nodes ×` more members than memberlist's per-packet count before it retires. In
//! small and mid-sized clusters that removes the stragglers that otherwise wait for the
//! next push-pull.

use rand_core::RngCore;

use crate::member::MemberState;
use crate::node::Node;
use crate::time::Instant;

impl<R: RngCore> Node<R> {
    pub(crate) fn gossip(&mut self, now: Instant) {
        if self.broadcasts.is_empty() && self.news.is_empty() {
            return;
        }
        let local = self.local_slot;
        let dead_time = self.config.gossip_to_the_dead_time;
        let targets = self.random_members(usize::from(self.config.gossip_nodes), |s, e| {
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
            if let Some(addr) = self.members.get(slot).map(|e| e.socket_addr()) {
                self.send_gossip(addr, round);
            }
        }
    }
}

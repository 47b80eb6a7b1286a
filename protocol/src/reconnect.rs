//! Reconnect: healing partitions from both sides.
//!
//! - Every `reconnect_interval`, one random failed member is pinged; an ack means it is
//!   reachable again and the node starts a push-pull with it, which converges both views
//!   within one exchange.
//! - Every `seed_reannounce_interval`, one join seed that is not a live member is sent a
//!   join push-pull, so a split heals even after both sides reaped each other.
//!
//! [`Reconnect`] owns both schedules, the reconnect ping in flight and the remembered
//! seeds. Reaping (`reap`) runs on the reconnect tick.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

use crate::config::Config;
use crate::member::MemberState;
use crate::membership::Membership;
use crate::time::Instant;
use crate::transmit::Outbound;
use crate::wire::{self, Message};

/// Most join seeds remembered for re-announcing.
pub const SEEDS_MAX: usize = 16;

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Reconnect {
    next_reconnect: Instant,
    /// The reconnect ping in flight: (sequence number, slot of the failed member).
    ping: Option<(u32, u32)>,
    seeds: Vec<SocketAddr>,
    next_reannounce: Instant,
}

impl Reconnect {
    /// The first reconnect round is one reconnect interval after `now`; seeds are
    /// re-announced to only once there are some.
    pub fn new(now: Instant, config: &Config) -> Self {
        Self {
            next_reconnect: now + config.reconnect_interval,
            ping: None,
            seeds: Vec::new(),
            next_reannounce: Instant::MAX,
        }
    }

    /// The earliest of the two schedules.
    pub fn deadline(&self) -> Instant {
        self.next_reconnect.min(self.next_reannounce)
    }

    /// Whether a reconnect round is due.
    pub fn reconnect_due(&self, now: Instant) -> bool {
        now >= self.next_reconnect
    }

    /// Schedules the next reconnect round.
    pub fn reconnect_done(&mut self, now: Instant, config: &Config) {
        self.next_reconnect = now + config.reconnect_interval;
    }

    /// Pings one random failed member under a sequence number from `next_seq`.
    pub fn ping_failed(
        &mut self,
        members: &Membership,
        rng: &mut impl RngCore,
        next_seq: impl FnOnce() -> u32,
        out: &mut Outbound,
    ) {
        let failed: Vec<u32> = members
            .gone()
            .filter(|(_, e)| e.state == MemberState::Failed)
            .map(|(slot, _)| slot)
            .collect();
        if failed.is_empty() {
            return;
        }
        let slot = failed[crate::random::below(rng, failed.len())];
        let Some(target) = members.get(slot) else {
            return;
        };
        let seq = next_seq();
        let ping = Message::Ping(wire::Ping {
            seq,
            target: target.name.as_str(),
            source: members.local().name.as_str(),
            source_addr: members.local_addr(),
        });
        out.datagram(target.socket_addr(), &[ping]);
        self.ping = Some((seq, slot));
    }

    /// An ack: when it answers the reconnect ping, returns the address to push-pull with
    /// (the member must still be failed).
    pub fn on_ack(&mut self, seq: u32, members: &Membership) -> Option<SocketAddr> {
        let (rseq, slot) = self.ping?;
        if rseq != seq {
            return None;
        }
        self.ping = None;
        members
            .get(slot)
            .filter(|e| e.state == MemberState::Failed)
            .map(|e| e.socket_addr())
    }

    /// Remembers a join seed (up to [`SEEDS_MAX`]).
    pub fn add_seed(&mut self, seed: SocketAddr) {
        if !self.seeds.contains(&seed) && self.seeds.len() < SEEDS_MAX {
            self.seeds.push(seed);
        }
    }

    /// After a join: re-announce to the seeds one interval from `now` (if any are known and
    /// re-announcing is on).
    pub fn arm_reannounce(&mut self, now: Instant, config: &Config) {
        if !self.seeds.is_empty() && config.seed_reannounce_interval > Duration::ZERO {
            self.next_reannounce = now + config.seed_reannounce_interval;
        }
    }

    /// When re-announcing is due: returns one random seed that is not a live member's
    /// address when this node `takes_part`, and schedules the next round.
    pub fn reannounce_if_due(
        &mut self,
        now: Instant,
        takes_part: bool,
        members: &Membership,
        rng: &mut impl RngCore,
        config: &Config,
    ) -> Option<SocketAddr> {
        if now < self.next_reannounce {
            return None;
        }
        let mut seed = None;
        if takes_part {
            let candidates: Vec<SocketAddr> = self
                .seeds
                .iter()
                .copied()
                .filter(|seed| {
                    !members
                        .iter()
                        .any(|(_, e)| e.state.is_live() && e.socket_addr() == *seed)
                })
                .collect();
            if !candidates.is_empty() {
                seed = Some(candidates[crate::random::below(rng, candidates.len())]);
            }
        }
        self.next_reannounce = now + config.seed_reannounce_interval;
        seed
    }
}

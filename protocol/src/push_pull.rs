//! Anti-entropy and join: full state exchange over the stream channel.
//!
//! ```text
//! A ══PushPull{join, reply:false, A's members}══▶ B    B merges, then answers:
//! A ◀══PushPull{reply:true, B's members}════════ B    A merges.
//! ```
//!
//! Merging uses the gossip rules, except that a remote "failed" only makes us suspect (we
//! trust our own probes more than an old view). A node that finds itself suspected, failed
//! or outdated in a peer's state refutes before answering, so the answer already carries
//! its new incarnation; that is how a restarted node wins its name back and how a healed
//! partition converges within one exchange. Periodic push-pull runs every
//! `push_pull_interval`, scaled by `⌈log2 N − log2 32⌉ + 1` above 32 members, with one
//! random alive member. Each frame also carries the Serf state (clocks and recent events).
//!
//! [`PushPull`] owns the schedule and the flag that ties the Serf state of a frame to the
//! join answer it belongs to; the node merges members and Serf state into the other rules
//! and reports each join answer as `Event::JoinReply`.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

use crate::config::Config;
use crate::error::InboundError;
use crate::membership::Membership;
use crate::stats::Stats;
use crate::time::{Instant, scale};
use crate::transmit::Outbound;
use crate::types::NodeName;
use crate::wire::{self, Message, MessageKind, PushPullMember};

/// Room kept in a stream frame for the envelope (a label of up to 255 bytes) and the seal.
const FRAME_OVERHEAD_BYTES: usize = 320;
/// Bytes of a push-pull entry beyond its name and tags (address, numbers, framing).
const MEMBER_OVERHEAD_BYTES: usize = 32;

/// `interval` scaled for `n` members: × (⌈log2 n − log2 32⌉ + 1) above 32.
pub fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    if n <= 32 {
        return interval;
    }
    let mult = libm::ceil(libm::log2(n as f64) - libm::log2(32.0)) as u32 + 1;
    scale(interval, mult)
}

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct PushPull {
    next: Instant,
    /// The Serf state that follows the push-pull being merged answers our join.
    join_reply: bool,
    sent: u64,
    received: u64,
    truncated: u64,
}

impl PushPull {
    /// The first periodic exchange is staggered by a random part of the interval, so nodes
    /// started together do not sync up.
    pub fn new(now: Instant, live: usize, rng: &mut impl RngCore, config: &Config) -> Self {
        let mut p = Self {
            next: Instant::MAX,
            join_reply: false,
            sent: 0,
            received: 0,
            truncated: 0,
        };
        p.schedule(now, true, live, rng, config);
        p
    }

    fn schedule(
        &mut self,
        now: Instant,
        initial: bool,
        live: usize,
        rng: &mut impl RngCore,
        config: &Config,
    ) {
        if config.push_pull_interval.is_zero() {
            self.next = Instant::MAX;
            return;
        }
        let interval = push_pull_scale(config.push_pull_interval, live);
        let wait = if initial {
            crate::random::span(rng, interval)
        } else {
            interval
        };
        self.next = now + wait;
    }

    /// When the next periodic exchange is due.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// When the periodic exchange is due: returns the random alive member to exchange with
    /// when this node `takes_part` (and there is one), and schedules the next exchange.
    pub fn periodic_if_due(
        &mut self,
        now: Instant,
        takes_part: bool,
        members: &Membership,
        rng: &mut impl RngCore,
        config: &Config,
    ) -> Option<SocketAddr> {
        if now < self.next {
            return None;
        }
        let mut peer = None;
        if takes_part {
            let local = members.local_slot();
            let pick = members.sample(rng, 1, |s, e| {
                s != local && e.state == crate::member::MemberState::Alive
            });
            peer = pick
                .first()
                .and_then(|&s| members.get(s))
                .map(|e| e.socket_addr());
        }
        self.schedule(now, false, members.live_count(), rng, config);
        peer
    }

    /// Queues our full state to `dst`: the members (this node first, so a state cut short
    /// by `stream_bytes_max` still introduces us), then `serf_state` if it still fits.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a separate collaborator, passed explicitly"
    )]
    pub fn send(
        &mut self,
        dst: SocketAddr,
        join: bool,
        reply: bool,
        members: &Membership,
        serf_state: &Message<'_>,
        config: &Config,
        out: &mut Outbound,
    ) {
        // Room for the envelope (label up to 255 bytes) and the seal.
        let budget = config.stream_bytes_max.saturating_sub(FRAME_OVERHEAD_BYTES);
        let mut used = 0;
        let mut truncated = false;
        let mut list: Vec<PushPullMember<'_>> = Vec::with_capacity(members.len());
        let local = members.local_slot();
        let me = members.local();
        let ordered =
            core::iter::once((local, me)).chain(members.iter().filter(|(s, _)| *s != local));
        for (_, e) in ordered {
            let need = e.name.as_str().len() + e.tags_bytes().len() + MEMBER_OVERHEAD_BYTES;
            if used + need > budget {
                truncated = true;
                break;
            }
            used += need;
            list.push(PushPullMember {
                name: e.name.as_str(),
                addr: e.addr,
                incarnation: e.incarnation.0,
                state: e.state.to_wire(),
                tags: e.tags_bytes(),
            });
        }
        let msg = Message::PushPull(wire::PushPull {
            join,
            reply,
            source: me.name.as_str(),
            source_addr: members.local_addr(),
            members: list,
        });
        let mut frame = Vec::with_capacity(used + 64);
        wire::push_message(&mut frame, &msg);
        drop(msg);
        if frame.len() + wire::message_len(serf_state) + FRAME_OVERHEAD_BYTES
            <= config.stream_bytes_max
        {
            wire::push_message(&mut frame, serf_state);
        } else {
            truncated = true;
        }
        if truncated {
            self.truncated += 1;
        }
        if !reply {
            self.sent += 1;
        }
        out.stream_frame(dst, frame, MessageKind::PushPull);
    }

    /// A push-pull frame arrived: checks it and notes whether the Serf state after it
    /// answers our join; the node then merges the members.
    pub fn received(&mut self, p: &wire::PushPull<'_>) -> Result<(), InboundError> {
        if !NodeName::is_valid(p.source) {
            return Err(InboundError::InvalidField);
        }
        self.received += 1;
        // The Serf state after this message belongs to a join answer when both flags are set.
        self.join_reply = p.reply && p.join;
        Ok(())
    }

    /// Whether the Serf state being merged answers our join (asked once per state).
    pub fn take_join_reply(&mut self) -> bool {
        core::mem::take(&mut self.join_reply)
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.push_pulls_sent = self.sent;
        stats.push_pulls_received = self.received;
        stats.push_pulls_truncated = self.truncated;
    }
}

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
//! `push_pull_interval`, scaled by `⌈log2 N − log2 32⌉ + 1` above 32 members; failed
//! members are pinged every `reconnect_interval` and an ack triggers a push-pull; seeds that
//! are not live members are re-announced to every `seed_reannounce_interval`.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

use crate::error::InboundError;
use crate::member::MemberState;
use crate::node::Node;
use crate::time::{Instant, scale};
use crate::types::{Incarnation, NodeName};
use crate::wire::{self, Message, MessageKind, PushPullMember, WireState};

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

impl<R: RngCore> Node<R> {
    pub(crate) fn schedule_push_pull(&mut self, now: Instant, initial: bool) {
        if self.config.push_pull_interval.is_zero() {
            self.next_push_pull = Instant::MAX;
            return;
        }
        let interval = push_pull_scale(self.config.push_pull_interval, self.live_count);
        // The first exchange is staggered so nodes started together do not sync up.
        let wait = if initial {
            self.random_span(interval)
        } else {
            interval
        };
        self.next_push_pull = now + wait;
    }

    pub(crate) fn periodic_push_pull(&mut self, now: Instant) {
        let local = self.local_slot;
        let peer = self.random_members(1, |s, e| s != local && e.state == MemberState::Alive);
        if let Some(addr) = peer
            .first()
            .and_then(|&s| self.members.get(s))
            .map(|e| e.socket_addr())
        {
            self.send_push_pull(now, addr, false, false);
        }
    }

    /// Queues our full state to `dst`.
    pub(crate) fn send_push_pull(
        &mut self,
        _now: Instant,
        dst: SocketAddr,
        join: bool,
        reply: bool,
    ) {
        // Room for the envelope (label up to 255 bytes) and the seal.
        let budget = self
            .config
            .stream_bytes_max
            .saturating_sub(FRAME_OVERHEAD_BYTES);
        let mut used = 0;
        let mut truncated = false;
        let mut members: Vec<PushPullMember<'_>> = Vec::with_capacity(self.members.len());
        // Ourselves first, so a truncated state still introduces us.
        let local = self.local_slot;
        let me = self.local_entry();
        let ordered =
            core::iter::once((local, me)).chain(self.members.iter().filter(|(s, _)| *s != local));
        for (_, e) in ordered {
            let need = e.name.as_str().len() + e.tags_bytes().len() + MEMBER_OVERHEAD_BYTES;
            if used + need > budget {
                truncated = true;
                break;
            }
            used += need;
            members.push(PushPullMember {
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
            source_addr: self.local_addr,
            members,
        });
        let mut frame = Vec::with_capacity(used + 64);
        wire::push_message(&mut frame, &msg);
        drop(msg);
        let serf = self.serf_state_message();
        if frame.len() + wire::message_len(&serf) + FRAME_OVERHEAD_BYTES
            <= self.config.stream_bytes_max
        {
            wire::push_message(&mut frame, &serf);
        } else {
            truncated = true;
        }
        if truncated {
            self.stats.push_pulls_truncated += 1;
        }
        if !reply {
            self.stats.push_pulls_sent += 1;
        }
        self.send_stream_frame(dst, frame, MessageKind::PushPull);
    }

    pub(crate) fn on_push_pull(
        &mut self,
        now: Instant,
        p: &wire::PushPull<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(p.source) {
            return Err(InboundError::InvalidField);
        }
        self.stats.push_pulls_received += 1;
        // The Serf state after this message belongs to a join answer when both flags are set.
        self.merging_join_reply = p.reply && p.join;
        let refutations = self.stats.refutations;
        let mut first_err = None;
        for m in &p.members {
            if let Err(e) = self.merge_member(now, m, p.source) {
                self.stats.invalid_messages += 1;
                first_err.get_or_insert(e);
            }
        }
        let reply_to: SocketAddr = p.source_addr.into();
        if p.reply {
            if self.push_pull_replies.len() >= 4 * crate::node::SEEDS_MAX {
                self.push_pull_replies.pop_front();
            }
            self.push_pull_replies.push_back(reply_to);
        }
        if !p.reply {
            self.send_push_pull(now, reply_to, p.join, true);
        } else if self.stats.refutations > refutations {
            // The peer had us wrong; tell it directly rather than wait for gossip to find it.
            let me = self.local_entry().clone();
            self.send_datagram(reply_to, &[Self::alive_message(&me)]);
        }
        first_err.map_or(Ok(()), Err)
    }

    fn merge_member(
        &mut self,
        now: Instant,
        m: &PushPullMember<'_>,
        from: &str,
    ) -> Result<(), InboundError> {
        let inc = Incarnation(m.incarnation);
        match m.state {
            WireState::Alive => self.on_alive(
                now,
                &wire::Alive {
                    node: m.name,
                    incarnation: m.incarnation,
                    addr: m.addr,
                    tags: m.tags,
                },
            ),
            WireState::Left => self.on_leave(now, m.name, inc),
            WireState::Suspect | WireState::Dead => self.on_suspect(now, m.name, inc, from),
        }
    }

    /// Pings one random failed member; an ack leads to a push-pull (see `on_ack`).
    pub(crate) fn reconnect(&mut self, _now: Instant) {
        let failed: Vec<u32> = self
            .gone
            .iter()
            .copied()
            .filter(|&s| {
                self.members
                    .get(s)
                    .is_some_and(|e| e.state == MemberState::Failed)
            })
            .collect();
        if failed.is_empty() {
            return;
        }
        let slot = failed[self.random_below(failed.len())];
        let Some(target) = self.members.get(slot).cloned() else {
            return;
        };
        let me = self.local_entry().name.clone();
        let seq = self.next_seq();
        let ping = Message::Ping(wire::Ping {
            seq,
            target: target.name.as_str(),
            source: me.as_str(),
            source_addr: self.local_addr,
        });
        self.send_datagram(target.socket_addr(), &[ping]);
        self.reconnect_ping = Some((seq, slot));
    }

    /// Push-pull with one configured seed that is not a known live member.
    pub(crate) fn reannounce_to_seeds(&mut self, now: Instant) {
        let candidates: Vec<SocketAddr> = self
            .seeds
            .iter()
            .copied()
            .filter(|seed| {
                !self
                    .members
                    .iter()
                    .any(|(_, e)| e.state.is_live() && e.socket_addr() == *seed)
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let dst = candidates[self.random_below(candidates.len())];
        self.send_push_pull(now, dst, true, false);
    }
}

//! SWIM failure detection with the Lifeguard extensions: one probe per (scaled) probe
//! interval, in a shuffled round-robin order; ping, then ping-req through
//! `indirect_checks` peers plus a stream-channel ping, then suspicion.
//!
//! ```text
//! t0                 t0+probe_timeout                      t0+probe_interval×(health+1)
//! │ Ping ─────────────▶│ no ack: PingReq ×k, stream Ping ──▶│ no ack: suspect,
//! │                    │         (expect k nacks)           │ health += missed nacks
//! │◀── Ack: done, health −1 (any time before the end)       │
//! ```

use alloc::vec::Vec;
use core::net::SocketAddr;

use rand_core::RngCore;

use crate::error::InboundError;
use crate::member::{MemberState, name_hash};
use crate::node::{Channel, Node};
use crate::time::Instant;
use crate::types::NodeName;
use crate::wire::{self, Message};

/// The probe in progress.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    slot: u32,
    name_hash: u64,
    seq: u32,
    ack_deadline: Instant,
    end: Instant,
    indirect_sent: bool,
    expected_nacks: u32,
    nacks: u32,
}

impl Probe {
    pub fn next_deadline(&self) -> Instant {
        if self.indirect_sent {
            self.end
        } else {
            self.ack_deadline.min(self.end)
        }
    }
}

/// An indirect probe we run for another member.
#[derive(Clone, Debug)]
pub(crate) struct Relay {
    our_seq: u32,
    orig_seq: u32,
    requester: SocketAddr,
    nack_at: Option<Instant>,
    expire: Instant,
}

impl Relay {
    pub fn deadline(&self) -> Instant {
        self.nack_at.map_or(self.expire, |n| n.min(self.expire))
    }
}

impl<R: RngCore> Node<R> {
    /// Advances the probe cycle: indirect step, end of period, next probe.
    pub(crate) fn probe_tick(&mut self, now: Instant) {
        if self
            .probe
            .as_ref()
            .is_some_and(|p| !p.indirect_sent && now >= p.ack_deadline)
        {
            self.indirect_probe(now);
        }
        if self.probe.as_ref().is_some_and(|p| now >= p.end) {
            self.finish_failed_probe(now);
        }
        if self.probe.is_none() && now >= self.next_probe {
            self.start_probe(now);
        }
    }

    /// New members join the current pass at a random position.
    /// (Swapped into the part already probed this pass, the displaced member moves to the
    /// end and is still probed; the new one waits for the next pass.)
    pub(crate) fn add_to_probe_order(&mut self, slot: u32) {
        crate::member::push_growing(&mut self.probe_order, slot);
        let last = self.probe_order.len() - 1;
        let j = self.random_below(self.probe_order.len());
        self.probe_order.swap(j, last);
    }

    fn rebuild_probe_order(&mut self) {
        let mut order = core::mem::take(&mut self.probe_order);
        order.clear();
        order.extend(
            self.members
                .iter()
                .filter(|(slot, e)| *slot != self.local_slot && e.state.is_live())
                .map(|(slot, _)| slot),
        );
        // Fisher–Yates with the node's own RNG: deterministic per seed.
        for i in (1..order.len()).rev() {
            let j = self.random_below(i + 1);
            order.swap(i, j);
        }
        self.probe_order = order;
        self.probe_pos = 0;
    }

    fn next_target(&mut self) -> Option<u32> {
        let mut rebuilt = false;
        loop {
            if self.probe_pos >= self.probe_order.len() {
                if rebuilt {
                    return None;
                }
                self.rebuild_probe_order();
                rebuilt = true;
                if self.probe_order.is_empty() {
                    return None;
                }
            }
            let slot = self.probe_order[self.probe_pos];
            self.probe_pos += 1;
            if slot != self.local_slot && self.members.get(slot).is_some_and(|e| e.state.is_live())
            {
                return Some(slot);
            }
        }
    }

    fn start_probe(&mut self, now: Instant) {
        let interval = self.awareness.scale(self.config.probe_interval);
        self.next_probe = now + interval;
        let Some(slot) = self.next_target() else {
            return;
        };
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
        if self.config.lifeguard && target.state == MemberState::Suspect {
            // Buddy system: tell the suspect directly so it can refute at once.
            let suspect = Message::Suspect(wire::Suspect {
                node: target.name.as_str(),
                incarnation: target.incarnation.0,
                from: me.as_str(),
            });
            self.send_datagram(target.socket_addr(), &[ping, suspect]);
        } else {
            self.send_datagram(target.socket_addr(), &[ping]);
        }
        self.stats.probes += 1;
        self.probe = Some(Probe {
            slot,
            name_hash: name_hash(target.name.as_str()),
            seq,
            ack_deadline: now + self.config.probe_timeout,
            end: now + interval,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
        });
    }

    fn indirect_probe(&mut self, _now: Instant) {
        let Some(p) = self.probe.as_mut() else { return };
        p.indirect_sent = true;
        let (slot, seq) = (p.slot, p.seq);
        let Some(target) = self.members.get(slot).cloned() else {
            return;
        };
        let local = self.local_slot;
        let k = usize::from(self.config.indirect_checks);
        let helpers = self.random_members(k, |s, e| {
            s != local && s != slot && e.state == MemberState::Alive
        });
        let me = self.local_entry().name.clone();
        let nack = self.config.lifeguard;
        for &h in &helpers {
            let Some(addr) = self.members.get(h).map(|e| e.socket_addr()) else {
                continue;
            };
            let req = Message::PingReq(wire::PingReq {
                seq,
                target: target.name.as_str(),
                target_addr: target.addr,
                source: me.as_str(),
                source_addr: self.local_addr,
                nack,
            });
            self.send_datagram(addr, &[req]);
            self.stats.indirect_probes += 1;
        }
        if let Some(p) = self.probe.as_mut() {
            p.expected_nacks = if nack { helpers.len() as u32 } else { 0 };
        }
        if self.config.stream_ping_fallback {
            let ping = Message::Ping(wire::Ping {
                seq,
                target: target.name.as_str(),
                source: me.as_str(),
                source_addr: self.local_addr,
            });
            self.send_stream(target.socket_addr(), &ping);
            self.stats.stream_probes += 1;
        }
    }

    fn finish_failed_probe(&mut self, now: Instant) {
        let Some(p) = self.probe.take() else { return };
        self.stats.probe_failures += 1;
        if self.config.lifeguard {
            let delta = if p.expected_nacks > 0 {
                p.expected_nacks.saturating_sub(p.nacks)
            } else {
                1
            };
            self.awareness.apply(delta as i32);
        }
        let Some(e) = self.members.get(p.slot) else {
            return;
        };
        if name_hash(e.name.as_str()) != p.name_hash || !e.state.is_live() {
            return;
        }
        let (name, inc) = (e.name.clone(), e.incarnation);
        let me = self.local_entry().name.clone();
        if e.state == MemberState::Alive {
            self.stats.suspicions += 1;
        }
        let _ = self.on_suspect(now, name.as_str(), inc, me.as_str());
    }

    pub(crate) fn on_ack(&mut self, _now: Instant, seq: u32) {
        if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            self.probe = None;
            if self.config.lifeguard {
                self.awareness.apply(-1);
            }
            return;
        }
        if self.on_conflict_ack(self.now, seq) {
            return;
        }
        if let Some(i) = self.relays.iter().position(|r| r.our_seq == seq) {
            let r = self.relays.swap_remove(i);
            self.send_datagram(r.requester, &[Message::Ack(wire::Ack { seq: r.orig_seq })]);
            return;
        }
        if let Some((rseq, slot)) = self.reconnect_ping
            && rseq == seq
        {
            self.reconnect_ping = None;
            if let Some(e) = self.members.get(slot)
                && e.state == MemberState::Failed
            {
                let addr = e.socket_addr();
                self.send_push_pull(self.now, addr, false, false);
            }
        }
    }

    pub(crate) fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut()
            && p.seq == seq
        {
            p.nacks += 1;
            self.stats.nacks_received += 1;
        }
    }

    pub(crate) fn on_ping(
        &mut self,
        _now: Instant,
        from: SocketAddr,
        p: &wire::Ping<'_>,
        channel: Channel,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(p.source) {
            return Err(InboundError::InvalidField);
        }
        if p.target != self.local_entry().name.as_str() {
            self.stats.misdirected_pings += 1;
            return Ok(());
        }
        let ack = Message::Ack(wire::Ack { seq: p.seq });
        match channel {
            Channel::Datagram => self.send_datagram(from, &[ack]),
            Channel::Stream => self.send_stream(p.source_addr.into(), &ack),
        }
        Ok(())
    }

    pub(crate) fn on_ping_req(
        &mut self,
        now: Instant,
        p: &wire::PingReq<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(p.target) || !NodeName::is_valid(p.source) {
            return Err(InboundError::InvalidField);
        }
        if self.relays.len() >= self.config.relays_max {
            self.stats.relays_dropped += 1;
            return Ok(());
        }
        let our_seq = self.next_seq();
        let me = self.local_entry().name.clone();
        let ping = Message::Ping(wire::Ping {
            seq: our_seq,
            target: p.target,
            source: me.as_str(),
            source_addr: self.local_addr,
        });
        self.send_datagram(p.target_addr.into(), &[ping]);
        self.relays.push(Relay {
            our_seq,
            orig_seq: p.seq,
            requester: p.source_addr.into(),
            nack_at: p.nack.then(|| now + self.config.probe_timeout),
            expire: now + self.config.probe_interval,
        });
        Ok(())
    }

    /// Sends due nacks and forgets relays past their period.
    pub(crate) fn expire_relays(&mut self, now: Instant) {
        let mut nacks: Vec<(SocketAddr, u32)> = Vec::new();
        self.relays.retain_mut(|r| {
            if r.nack_at.is_some_and(|t| now >= t) {
                r.nack_at = None;
                nacks.push((r.requester, r.orig_seq));
            }
            now < r.expire
        });
        for (dst, seq) in nacks {
            self.send_datagram(dst, &[Message::Nack(wire::Nack { seq })]);
        }
    }

    /// Up to `k` distinct random members accepted by `pick`, in random order.
    pub(crate) fn random_members(
        &mut self,
        k: usize,
        pick: impl Fn(u32, &crate::member::Entry) -> bool,
    ) -> Vec<u32> {
        let mut chosen: Vec<u32> = Vec::with_capacity(k);
        if k == 0 {
            return chosen;
        }
        let slots = self.members.slot_count();
        if slots > 8 * k + 16 {
            // Large table: random slots, a bounded number of tries.
            for _ in 0..(8 * k) {
                if chosen.len() == k {
                    return chosen;
                }
                let s = self.random_below(slots) as u32;
                if !chosen.contains(&s) && self.members.get(s).is_some_and(|e| pick(s, e)) {
                    chosen.push(s);
                }
            }
        }
        // Small table, or too few hits: scan and sample without replacement.
        let mut pool: Vec<u32> = self
            .members
            .iter()
            .filter(|(s, e)| !chosen.contains(s) && pick(*s, e))
            .map(|(s, _)| s)
            .collect();
        while chosen.len() < k && !pool.is_empty() {
            let i = self.random_below(pool.len());
            chosen.push(pool.swap_remove(i));
        }
        chosen
    }
}

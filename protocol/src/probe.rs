//! SWIM failure detection with the Lifeguard extensions: one probe per (scaled) probe
//! interval, in a shuffled round-robin order; ping, then ping-req through
//! `indirect_checks` peers plus a stream-channel ping, then suspicion. This module also
//! answers pings, runs ping-reqs for others (relays, with nacks) and numbers every ping.
//!
//! ```text
//! t0                 t0+probe_timeout                      t0+probe_interval×(health+1)
//! │ Ping ─────────────▶│ no ack: PingReq ×k, stream Ping ──▶│ no ack: suspect,
//! │                    │         (expect k nacks)           │ health += missed nacks
//! │◀── Ack: done, health −1 (any time before the end)       │
//! ```
//!
//! [`Prober`] owns the probe order, the probe in flight, the probe schedule, the ping
//! sequence numbers and the relays. What a failed probe means for the member (suspicion)
//! and for this node's health (awareness) is the node's to apply: the prober reports it.

use alloc::vec::Vec;
use core::net::SocketAddr;

use rand_core::RngCore;

use crate::awareness::Awareness;
use crate::config::Config;
use crate::error::InboundError;
use crate::member::MemberState;
use crate::membership::{Membership, name_hash, push_growing};
use crate::stats::Stats;
use crate::time::Instant;
use crate::transmit::{Channel, Outbound};
use crate::types::{Incarnation, NodeName};
use crate::wire::{self, Message};

/// The probe in progress.
#[derive(Clone, Debug)]
struct Probe {
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
    fn next_deadline(&self) -> Instant {
        if self.indirect_sent {
            self.end
        } else {
            self.ack_deadline.min(self.end)
        }
    }
}

/// A probe that got no ack by the end of its period.
#[derive(Clone, Debug)]
pub(crate) struct FailedProbe {
    /// The member to suspect: the probed member, when it is still in the table under the
    /// same name and still alive or suspect.
    pub suspect: Option<(NodeName, Incarnation)>,
    expected_nacks: u32,
    nacks: u32,
}

impl FailedProbe {
    /// Lifeguard: how much the local health score rises. Each nack a relay owed but did not
    /// send hints that this node, not the target, has the problem; without relays that
    /// nack, the failure counts one.
    pub fn health_delta(&self) -> i32 {
        let delta = if self.expected_nacks > 0 {
            self.expected_nacks.saturating_sub(self.nacks)
        } else {
            1
        };
        delta as i32
    }
}

/// An indirect probe we run for another member.
#[derive(Clone, Debug)]
struct Relay {
    our_seq: u32,
    orig_seq: u32,
    requester: SocketAddr,
    nack_at: Option<Instant>,
    expire: Instant,
}

impl Relay {
    fn deadline(&self) -> Instant {
        self.nack_at.map_or(self.expire, |n| n.min(self.expire))
    }
}

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Prober {
    order: Vec<u32>,
    pos: usize,
    probe: Option<Probe>,
    next_probe: Instant,
    seq: u32,
    relays: Vec<Relay>,
    probes: u64,
    probe_failures: u64,
    indirect_probes: u64,
    stream_probes: u64,
    nacks_received: u64,
    relays_dropped: u64,
    misdirected_pings: u64,
    suspicions: u64,
}

impl Prober {
    /// The first probe is due one probe interval after `now`.
    pub fn new(now: Instant, config: &Config) -> Self {
        Self {
            order: Vec::new(),
            pos: 0,
            probe: None,
            next_probe: now + config.probe_interval,
            seq: 0,
            relays: Vec::new(),
            probes: 0,
            probe_failures: 0,
            indirect_probes: 0,
            stream_probes: 0,
            nacks_received: 0,
            relays_dropped: 0,
            misdirected_pings: 0,
            suspicions: 0,
        }
    }

    /// A fresh ping sequence number (probes, relays, reconnect and conflict pings share
    /// them, so an ack finds its ping).
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The earliest instant the prober needs: relays always, the probe schedule only while
    /// this node `probing`.
    pub fn deadline(&self, probing: bool) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut take = |d: Instant| t = Some(t.map_or(d, |t| t.min(d)));
        if probing {
            take(self.next_probe);
            if let Some(p) = &self.probe {
                take(p.next_deadline());
            }
        }
        for r in &self.relays {
            take(r.deadline());
        }
        t
    }

    /// Abandons the probe in flight (this node stopped taking part).
    pub fn stop(&mut self) {
        self.probe = None;
    }

    /// Probing resumes one probe interval after `now` (a rejoin).
    pub fn resume(&mut self, now: Instant, config: &Config) {
        self.next_probe = now + config.probe_interval;
    }

    /// New members join the current pass at a random position.
    /// (Swapped into the part already probed this pass, the displaced member moves to the
    /// end and is still probed; the new one waits for the next pass.)
    pub fn add_member(&mut self, slot: u32, rng: &mut impl RngCore) {
        push_growing(&mut self.order, slot);
        let last = self.order.len() - 1;
        let j = crate::random::below(rng, self.order.len());
        self.order.swap(j, last);
    }

    /// Heap bytes of the probe order (for memory reports).
    #[cfg(any(test, feature = "testing"))]
    pub fn heap_bytes(&self) -> usize {
        self.order.capacity() * 4
    }

    fn rebuild_order(&mut self, members: &Membership, rng: &mut impl RngCore) {
        let local = members.local_slot();
        self.order.clear();
        self.order.extend(
            members
                .iter()
                .filter(|(slot, e)| *slot != local && e.state.is_live())
                .map(|(slot, _)| slot),
        );
        // Fisher–Yates with the node's own RNG: deterministic per seed.
        for i in (1..self.order.len()).rev() {
            let j = crate::random::below(rng, i + 1);
            self.order.swap(i, j);
        }
        self.pos = 0;
    }

    fn next_target(&mut self, members: &Membership, rng: &mut impl RngCore) -> Option<u32> {
        let mut rebuilt = false;
        loop {
            if self.pos >= self.order.len() {
                if rebuilt {
                    return None;
                }
                self.rebuild_order(members, rng);
                rebuilt = true;
                if self.order.is_empty() {
                    return None;
                }
            }
            let slot = self.order[self.pos];
            self.pos += 1;
            if slot != members.local_slot() && members.get(slot).is_some_and(|e| e.state.is_live())
            {
                return Some(slot);
            }
        }
    }

    /// Starts the next probe when one is due and none is in flight: a ping (with the
    /// suspicion attached for a suspect under Lifeguard, so it can refute at once).
    pub fn start_if_due(
        &mut self,
        now: Instant,
        members: &Membership,
        awareness: &Awareness,
        rng: &mut impl RngCore,
        config: &Config,
        out: &mut Outbound,
    ) {
        if self.probe.is_some() || now < self.next_probe {
            return;
        }
        let interval = awareness.scale(config.probe_interval);
        self.next_probe = now + interval;
        let Some(slot) = self.next_target(members, rng) else {
            return;
        };
        let Some(target) = members.get(slot) else {
            return;
        };
        let me = members.local().name.as_str();
        let seq = self.next_seq();
        let ping = Message::Ping(wire::Ping {
            seq,
            target: target.name.as_str(),
            source: me,
            source_addr: members.local_addr(),
        });
        if config.lifeguard && target.state == MemberState::Suspect {
            // Buddy system: tell the suspect directly so it can refute at once.
            let suspect = Message::Suspect(wire::Suspect {
                node: target.name.as_str(),
                incarnation: target.incarnation.0,
                from: me,
            });
            out.datagram(target.socket_addr(), &[ping, suspect]);
        } else {
            out.datagram(target.socket_addr(), &[ping]);
        }
        self.probes += 1;
        self.probe = Some(Probe {
            slot,
            name_hash: name_hash(target.name.as_str()),
            seq,
            ack_deadline: now + config.probe_timeout,
            end: now + interval,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
        });
    }

    /// No ack by the probe timeout: ping-reqs through random alive members (who nack under
    /// Lifeguard) and a stream-channel ping.
    pub fn indirect_if_due(
        &mut self,
        now: Instant,
        members: &Membership,
        rng: &mut impl RngCore,
        config: &Config,
        out: &mut Outbound,
    ) {
        let Some(p) = self.probe.as_mut() else { return };
        if p.indirect_sent || now < p.ack_deadline {
            return;
        }
        p.indirect_sent = true;
        let (slot, seq) = (p.slot, p.seq);
        let Some(target) = members.get(slot) else {
            return;
        };
        let local = members.local_slot();
        let k = usize::from(config.indirect_checks);
        let helpers = members.sample(rng, k, |s, e| {
            s != local && s != slot && e.state == MemberState::Alive
        });
        let me = members.local().name.as_str();
        let nack = config.lifeguard;
        for &h in &helpers {
            let Some(addr) = members.get(h).map(|e| e.socket_addr()) else {
                continue;
            };
            let req = Message::PingReq(wire::PingReq {
                seq,
                target: target.name.as_str(),
                target_addr: target.addr,
                source: me,
                source_addr: members.local_addr(),
                nack,
            });
            out.datagram(addr, &[req]);
            self.indirect_probes += 1;
        }
        if let Some(p) = self.probe.as_mut() {
            p.expected_nacks = if nack { helpers.len() as u32 } else { 0 };
        }
        if config.stream_ping_fallback {
            let ping = Message::Ping(wire::Ping {
                seq,
                target: target.name.as_str(),
                source: me,
                source_addr: members.local_addr(),
            });
            out.stream(target.socket_addr(), &ping);
            self.stream_probes += 1;
        }
    }

    /// Ends the probe in flight when its period is over without an ack, and names the
    /// member to suspect (counted when it was alive until now).
    pub fn finish_if_due(&mut self, now: Instant, members: &Membership) -> Option<FailedProbe> {
        if self.probe.as_ref().is_none_or(|p| now < p.end) {
            return None;
        }
        let p = self.probe.take()?;
        self.probe_failures += 1;
        // The slot may have been reaped and reused since the probe started.
        let target = members
            .get(p.slot)
            .filter(|e| name_hash(e.name.as_str()) == p.name_hash && e.state.is_live());
        if target.is_some_and(|e| e.state == MemberState::Alive) {
            self.suspicions += 1;
        }
        Some(FailedProbe {
            suspect: target.map(|e| (e.name.clone(), e.incarnation)),
            expected_nacks: p.expected_nacks,
            nacks: p.nacks,
        })
    }

    /// An ack for the probe in flight ends it; whether `seq` was that probe's.
    pub fn ack_probe(&mut self, seq: u32) -> bool {
        if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            self.probe = None;
            return true;
        }
        false
    }

    /// An ack for a ping we sent on another member's behalf is passed on to the requester;
    /// whether `seq` was such a ping.
    pub fn ack_relay(&mut self, seq: u32, out: &mut Outbound) -> bool {
        let Some(i) = self.relays.iter().position(|r| r.our_seq == seq) else {
            return false;
        };
        let r = self.relays.swap_remove(i);
        out.datagram(r.requester, &[Message::Ack(wire::Ack { seq: r.orig_seq })]);
        true
    }

    /// A relay's nack for the probe in flight.
    pub fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut()
            && p.seq == seq
        {
            p.nacks += 1;
            self.nacks_received += 1;
        }
    }

    /// Answers a ping addressed to this node (`me`) on the channel it came by.
    pub fn on_ping(
        &mut self,
        from: SocketAddr,
        p: &wire::Ping<'_>,
        channel: Channel,
        me: &str,
        out: &mut Outbound,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(p.source) {
            return Err(InboundError::InvalidField);
        }
        if p.target != me {
            self.misdirected_pings += 1;
            return Ok(());
        }
        let ack = Message::Ack(wire::Ack { seq: p.seq });
        match channel {
            Channel::Datagram => out.datagram(from, &[ack]),
            Channel::Stream => out.stream(p.source_addr.into(), &ack),
        }
        Ok(())
    }

    /// Runs a ping-req: pings the target under our own sequence number and remembers whom
    /// to pass the ack (or, when asked, a nack at the probe timeout) to. At most
    /// `relays_max` at once; more are refused and counted.
    pub fn on_ping_req(
        &mut self,
        now: Instant,
        p: &wire::PingReq<'_>,
        members: &Membership,
        config: &Config,
        out: &mut Outbound,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(p.target) || !NodeName::is_valid(p.source) {
            return Err(InboundError::InvalidField);
        }
        if self.relays.len() >= config.relays_max {
            self.relays_dropped += 1;
            return Ok(());
        }
        let our_seq = self.next_seq();
        let ping = Message::Ping(wire::Ping {
            seq: our_seq,
            target: p.target,
            source: members.local().name.as_str(),
            source_addr: members.local_addr(),
        });
        out.datagram(p.target_addr.into(), &[ping]);
        self.relays.push(Relay {
            our_seq,
            orig_seq: p.seq,
            requester: p.source_addr.into(),
            nack_at: p.nack.then(|| now + config.probe_timeout),
            expire: now + config.probe_interval,
        });
        Ok(())
    }

    /// Sends due nacks and forgets relays past their period.
    pub fn expire_relays(&mut self, now: Instant, out: &mut Outbound) {
        let mut nacks: Vec<(SocketAddr, u32)> = Vec::new();
        self.relays.retain_mut(|r| {
            if r.nack_at.is_some_and(|t| now >= t) {
                r.nack_at = None;
                nacks.push((r.requester, r.orig_seq));
            }
            now < r.expire
        });
        for (dst, seq) in nacks {
            out.datagram(dst, &[Message::Nack(wire::Nack { seq })]);
        }
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.probes = self.probes;
        stats.probe_failures = self.probe_failures;
        stats.indirect_probes = self.indirect_probes;
        stats.stream_probes = self.stream_probes;
        stats.nacks_received = self.nacks_received;
        stats.relays_dropped = self.relays_dropped;
        stats.misdirected_pings = self.misdirected_pings;
        stats.suspicions = self.suspicions;
    }
}

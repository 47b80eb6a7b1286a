//! Routing of the SWIM layer between the rules: what an ack, a probe result, membership
//! news, a suspicion timeout, a push-pull or a reap means for the membership table, the
//! prober, the suspicions, Lifeguard health, dissemination and the event queue.
//!
//! The rules themselves are in `membership` (state transitions), `probe`, `suspicion`,
//! `awareness`, `dissemination`, `push_pull`, `reconnect` and `reap`.

use core::net::SocketAddr;

use rand_core::RngCore;

use super::{LocalStatus, Node};
use crate::error::InboundError;
use crate::event::Event;
use crate::member::MemberState;
use crate::membership::{AliveOutcome, Verdict, name_hash};
use crate::time::Instant;
use crate::types::{Incarnation, NodeName};
use crate::wire::{self, Message, PushPullMember, WireState};

impl<R: RngCore> Node<R> {
    /// An ack ends our probe, proves a rival for our name, is passed on for a ping-req we
    /// relay, or answers a reconnect ping (then we push-pull with the member).
    pub(super) fn on_ack(&mut self, seq: u32) {
        if self.prober.ack_probe(seq) {
            if self.config.lifeguard {
                self.awareness.apply(-1);
            }
            return;
        }
        if let Some(start_vote) = self.conflict.on_ack(seq) {
            if start_vote && self.status == LocalStatus::Alive {
                self.start_conflict_vote(self.now);
            }
            return;
        }
        if self.prober.ack_relay(seq, &mut self.outbound) {
            return;
        }
        if let Some(addr) = self.reconnect.on_ack(seq, &self.membership) {
            self.send_push_pull(addr, false, false);
        }
    }

    /// Advances the probe cycle: indirect step, end of period (a failed probe makes the
    /// target suspect), next probe.
    pub(super) fn probe_tick(&mut self, now: Instant) {
        self.prober.indirect_if_due(
            now,
            &self.membership,
            &mut self.rng,
            &self.config,
            &mut self.outbound,
        );
        if let Some(failed) = self.prober.finish_if_due(now, &self.membership) {
            if self.config.lifeguard {
                self.awareness.apply(failed.health_delta());
            }
            if let Some((name, inc)) = failed.suspect {
                let me = self.membership.local().name.clone();
                let _ = self.on_suspect(now, name.as_str(), inc, me.as_str());
            }
        }
        self.prober.start_if_due(
            now,
            &self.membership,
            &self.awareness,
            &mut self.rng,
            &self.config,
            &mut self.outbound,
        );
    }

    /// Declares members failed whose suspicion ran out.
    pub(super) fn expire_suspicions(&mut self, now: Instant) {
        while let Some((name, inc)) = self.suspicions.pop_expired(now, &self.membership) {
            let me = self.membership.local().name.clone();
            let _ = self.on_dead(now, name.as_str(), inc, me.as_str());
        }
    }

    /// Queues membership news about `slot`, raised by the member called `from` (`None`:
    /// by us).
    pub(super) fn queue_news(&mut self, slot: u32, from: Option<&str>) {
        let from = from.and_then(|f| self.membership.find(f));
        self.dissemination.queue_news(slot, from, &self.config);
    }

    /// Announces our own entry as it now is.
    pub(super) fn announce_local(&mut self) {
        self.queue_news(self.membership.local_slot(), None);
    }

    /// Refutes news about us at `accused` with a higher incarnation (Lifeguard: it also
    /// raises the health score).
    pub(super) fn refute(&mut self, now: Instant, accused: Incarnation) {
        self.membership.refute(now, accused);
        self.announce_local();
        if self.config.lifeguard {
            self.awareness.apply(1);
        }
    }

    /// Someone says we are suspect, failed or gone at `inc`: refute news that is current,
    /// and re-announce ourselves when the news is stale (a restarted node wins its name
    /// back this way).
    fn answer_accusation(&mut self, now: Instant, inc: Incarnation) {
        if self.status != LocalStatus::Alive {
            return;
        }
        if self.membership.is_current_accusation(inc) {
            self.refute(now, inc);
        } else {
            self.announce_local();
        }
    }

    /// Applies an alive message (gossip or push-pull).
    pub(super) fn on_alive(
        &mut self,
        now: Instant,
        a: &wire::Alive<'_>,
    ) -> Result<(), InboundError> {
        let local_alive = self.status == LocalStatus::Alive;
        let outcome = self
            .membership
            .apply_alive(now, a, local_alive, &self.config, || {
                self.intents.take(now, a.node, &self.config)
            })?;
        match outcome {
            AliveOutcome::Stale | AliveOutcome::Rejected | AliveOutcome::JoinedLeft => {}
            AliveOutcome::Joined(slot) => {
                self.prober.add_member(slot, &mut self.rng);
                self.queue_news(slot, None);
                let m = self.membership.snapshot(slot);
                self.events.push(Event::MemberJoin(m));
            }
            AliveOutcome::Refute { accused, rival } => {
                self.refute(now, accused);
                if let Some(other) = rival {
                    self.conflict.note(
                        now,
                        other,
                        &self.membership,
                        || self.prober.next_seq(),
                        &mut self.outbound,
                    );
                }
            }
            AliveOutcome::Renewed { slot, old, changed } => {
                self.suspicions.clear(slot);
                self.queue_news(slot, None);
                match old {
                    MemberState::Failed | MemberState::Left => {
                        let m = self.membership.snapshot(slot);
                        self.events.push(Event::MemberJoin(m));
                    }
                    _ if changed => {
                        let m = self.membership.snapshot(slot);
                        self.events.push(Event::MemberUpdate(m));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Applies a suspicion of `node` at `inc` raised by `from`: a new suspicion starts its
    /// timer, a confirmation from another member may shorten it; both are re-gossiped.
    pub(super) fn on_suspect(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
        from: &str,
    ) -> Result<(), InboundError> {
        match self.membership.apply_suspect(now, node, inc, from)? {
            Verdict::Stale => {}
            Verdict::AboutUs => self.answer_accusation(now, inc),
            Verdict::Confirms(slot) => {
                if self.suspicions.confirm(slot, name_hash(from)) {
                    self.queue_news(slot, Some(from));
                }
            }
            Verdict::Applied(slot) => {
                self.queue_news(slot, Some(from));
                let live = self.membership.live_count();
                self.suspicions
                    .start(slot, name_hash(from), now, live, &self.config);
            }
        }
        Ok(())
    }

    /// Applies a declaration that `node` failed at `inc`.
    pub(super) fn on_dead(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
        from: &str,
    ) -> Result<(), InboundError> {
        match self.membership.apply_dead(now, node, inc, from)? {
            Verdict::Stale | Verdict::Confirms(_) => {}
            Verdict::AboutUs => self.answer_accusation(now, inc),
            Verdict::Applied(slot) => {
                self.suspicions.clear(slot);
                self.queue_news(slot, Some(from));
                let m = self.membership.snapshot(slot);
                self.events.push(Event::MemberFailed(m));
            }
        }
        Ok(())
    }

    /// Applies a graceful leave of `node` at `inc`.
    pub(super) fn on_leave(
        &mut self,
        now: Instant,
        node: &str,
        inc: Incarnation,
    ) -> Result<(), InboundError> {
        match self.membership.apply_leave(now, node, inc)? {
            Verdict::Stale | Verdict::Confirms(_) => {}
            Verdict::AboutUs => self.answer_accusation(now, inc),
            Verdict::Applied(slot) => {
                self.suspicions.clear(slot);
                self.queue_news(slot, None);
                let m = self.membership.snapshot(slot);
                self.events.push(Event::MemberLeave(m));
            }
        }
        Ok(())
    }

    /// Forgets failed and left members whose time is up.
    pub(super) fn reap(&mut self, now: Instant) {
        for slot in crate::reap::due(&self.membership, now, &self.config) {
            self.reap_slot(slot);
        }
    }

    /// Forgets the (failed or left) member in `slot` everywhere.
    pub(super) fn reap_slot(&mut self, slot: u32) {
        let Some(m) = self.membership.remove(slot) else {
            return;
        };
        self.suspicions.clear(slot);
        self.dissemination.forget(slot);
        self.events.push(Event::MemberReap(m));
    }

    /// Queues our full state (members and Serf state) to `dst`.
    pub(super) fn send_push_pull(&mut self, dst: SocketAddr, join: bool, reply: bool) {
        let serf = Message::SerfState(wire::SerfState {
            member_ltime: self.intents.time().0,
            event_ltime: self.user_events.time().0,
            query_ltime: self.queries.time().0,
            events: self.user_events.recent(),
        });
        self.push_pull.send(
            dst,
            join,
            reply,
            &self.membership,
            &serf,
            &self.config,
            &mut self.outbound,
        );
    }

    /// Merges a peer's members; answers a push with our state, or — when the peer's answer
    /// made us refute — tells it our new incarnation at once.
    pub(super) fn on_push_pull(
        &mut self,
        now: Instant,
        p: &wire::PushPull<'_>,
    ) -> Result<(), InboundError> {
        self.push_pull.received(p)?;
        let refutations = self.membership.refutations();
        let mut first_err = None;
        for m in &p.members {
            if let Err(e) = self.merge_member(now, m, p.source) {
                self.stats.invalid_messages += 1;
                first_err.get_or_insert(e);
            }
        }
        let reply_to: SocketAddr = p.source_addr.into();
        if p.reply
            && p.join
            && let Ok(from) = NodeName::new(p.source)
        {
            self.events.push(Event::JoinReply {
                from,
                addr: reply_to,
            });
        }
        if !p.reply {
            self.send_push_pull(reply_to, p.join, true);
        } else if self.membership.refutations() > refutations {
            // The peer had us wrong; tell it directly rather than wait for gossip to find it.
            let alive = self.membership.local().alive_message();
            self.outbound.datagram(reply_to, &[alive]);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// One member of a peer's state, by the gossip rules, except that a remote "failed"
    /// only makes us suspect.
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
}

//! Routing of the Serf layer between the rules: intents, user events, queries, name-conflict
//! votes and key queries, and their broadcasts.
//!
//! The rules themselves are in `intent`, `user_event`, `query`, `conflict` and
//! `key_rotation`; their clocks are in `lamport`.

use rand_core::RngCore;

use super::{LocalStatus, Node};
use crate::conflict::{self, CONFLICT_QUERY, NameConflict};
use crate::dissemination::BroadcastClass;
use crate::error::{CommandError, InboundError};
use crate::event::Event;
use crate::key_rotation::{self, KEY_QUERY_PREFIX, KeyOp};
use crate::lamport::LamportTime;
use crate::member::MemberState;
use crate::query::{self, Answer, Pending, Purpose, QueryId, QueryParams};
use crate::time::Instant;
use crate::types::{NodeName, Tags};
use crate::user_event::{INTERNAL_PREFIX, Receipt, event_key};
use crate::wire::{self, IntentKind, Message};

impl<R: RngCore> Node<R> {
    /// Queues a Serf broadcast, or forwards it over the stream channel when it is too large
    /// for a datagram.
    fn broadcast(&mut self, class: BroadcastClass, key: &str, msg: &Message<'_>) {
        let limit = self.retransmit_limit();
        self.dissemination.broadcast(
            class,
            key,
            msg,
            limit,
            &self.membership,
            &mut self.rng,
            &self.config,
            &mut self.outbound,
        );
    }

    // ----------------------------------------------------------------------------------
    // Intents
    // ----------------------------------------------------------------------------------

    /// Broadcasts an intent about ourselves with a fresh member-clock time.
    pub(super) fn broadcast_own_intent(&mut self, kind: IntentKind) {
        let ltime = self.intents.stamp();
        self.membership.stamp_local_intent(ltime);
        let name = self.membership.local().name.clone();
        let msg = Message::Intent(wire::Intent {
            kind,
            node: name.as_str(),
            ltime: ltime.0,
            prune: false,
        });
        self.broadcast(BroadcastClass::Intent, name.as_str(), &msg);
    }

    /// Applies a join or leave intent and passes it on when it is news.
    pub(super) fn on_intent(
        &mut self,
        now: Instant,
        i: &wire::Intent<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(i.node) {
            return Err(InboundError::InvalidField);
        }
        let ltime = LamportTime(i.ltime);
        self.intents.received(ltime);
        let Some(slot) = self.membership.find(i.node) else {
            self.intents
                .remember(now, i.node, i.kind, ltime, &self.config);
            self.broadcast(BroadcastClass::Intent, i.node, &Message::Intent(*i));
            return Ok(());
        };
        let Some(state) = self.membership.witness_intent(slot, ltime) else {
            return Ok(());
        };
        if slot == self.membership.local_slot() {
            if i.kind == IntentKind::Leave && self.status == LocalStatus::Alive {
                self.broadcast_own_intent(IntentKind::Join);
            }
            return Ok(());
        }
        if i.kind == IntentKind::Leave {
            if state == MemberState::Failed {
                self.membership.fail_to_left(slot, now);
                let m = self.membership.snapshot(slot);
                self.events.push(Event::MemberLeave(m));
            }
            if i.prune && !state.is_live() {
                self.reap_slot(slot);
            }
        }
        self.broadcast(BroadcastClass::Intent, i.node, &Message::Intent(*i));
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // User events
    // ----------------------------------------------------------------------------------

    /// Applies a user event from gossip, a stream forward or push-pull. `spread` says
    /// whether a new event is passed on (push-pull merges are not: the peer already has it).
    pub(super) fn on_user_event(&mut self, e: &wire::UserEvent<'_>, spread: bool) {
        match self
            .user_events
            .receive(e, self.config.payload_stream_bytes_max)
        {
            Receipt::New => {}
            Receipt::TooLarge => {
                self.stats.invalid_messages += 1;
                return;
            }
            Receipt::TooOld | Receipt::Duplicate => return,
        }
        self.events.push(Event::User {
            ltime: LamportTime(e.ltime),
            name: e.name.into(),
            payload: e.payload.into(),
            coalesce: e.coalesce,
        });
        if spread {
            let key = event_key(e.ltime, e.name, e.payload);
            self.broadcast(BroadcastClass::Event, &key, &Message::UserEvent(*e));
        }
    }

    /// Merges a peer's clocks and recent events (the Serf part of push-pull).
    pub(super) fn on_serf_state(&mut self, s: &wire::SerfState<'_>, join_reply: bool) {
        self.intents.witness(LamportTime(s.member_ltime));
        self.queries.witness(LamportTime(s.query_ltime));
        self.user_events
            .merge_clock(LamportTime(s.event_ltime), join_reply);
        for e in &s.events {
            self.on_user_event(e, false);
        }
    }

    // ----------------------------------------------------------------------------------
    // Queries
    // ----------------------------------------------------------------------------------

    /// Asks a query (after the caller's own checks): registers it, then takes it in like
    /// any received query, which gossips it and answers it here if we match. `sealed`
    /// vouches for a key query.
    pub(super) fn ask(
        &mut self,
        now: Instant,
        params: &QueryParams,
        purpose: Purpose,
        sealed: bool,
    ) -> Result<QueryId, CommandError> {
        if self.status == LocalStatus::Left {
            return Err(CommandError::Left);
        }
        let filters = query::check_params(params, self.queries.asked(), &self.config)?;
        let timeout = params
            .timeout
            .unwrap_or_else(|| self.default_query_timeout());
        let (ltime, id) = self.queries.ask(now, timeout, purpose, &mut self.rng);
        let qid = QueryId::new(ltime, id);
        if purpose == Purpose::Conflict {
            self.conflict.vote_started(qid);
        }
        let me = self.membership.local().name.clone();
        let q = wire::Query {
            ltime: ltime.0,
            id,
            from: me.as_str(),
            from_addr: self.membership.local_addr(),
            filters,
            request_ack: params.request_ack,
            relay_factor: params.relay_factor,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            name: &params.name,
            payload: &params.payload,
        };
        let _ = self.on_query(now, &q, sealed);
        Ok(qid)
    }

    /// Takes in a query: passes it on once, and — when this node matches its filters —
    /// acks, then answers internal queries itself or delivers [`Event::Query`].
    /// `sealed`: the query arrived sealed (key queries are applied only then).
    pub(super) fn on_query(
        &mut self,
        now: Instant,
        q: &wire::Query<'_>,
        sealed: bool,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(q.from) {
            return Err(InboundError::InvalidField);
        }
        if !self.queries.receive(q) {
            return Ok(());
        }
        let key = query::query_key(q.ltime, q.id);
        // Key queries carry keys: never pass them on in plaintext.
        if !q.name.starts_with(KEY_QUERY_PREFIX) || self.envelope.sealing() {
            self.broadcast(BroadcastClass::Query, &key, &Message::Query(q.clone()));
        }
        if self.status == LocalStatus::Left {
            return Ok(());
        }
        let me = self.membership.local();
        let tags = Tags::decode(me.tags_bytes()).unwrap_or_default();
        if !query::filters_match(&q.filters, me.name.as_str(), &tags) {
            return Ok(());
        }
        let pending = Pending::new(q, now);
        if q.request_ack {
            self.send_response(&pending, true, &[]);
        }
        let ltime = LamportTime(q.ltime);
        let qid = QueryId::new(ltime, q.id);
        if q.name.starts_with(INTERNAL_PREFIX) {
            if let Some(op) = KeyOp::from_query_name(q.name) {
                let keyring = self.envelope.keyring_mut();
                let answer = key_rotation::answer(op, q.payload, sealed, keyring).encode();
                self.send_response(&pending, false, &answer);
            } else if q.name == CONFLICT_QUERY {
                // Answer with the address we know for the contested name.
                let answer = conflict::answer(q.payload, &self.membership);
                self.send_response(&pending, false, &answer);
            }
            return Ok(());
        }
        self.queries.hold(qid, pending, &self.config);
        self.events.push(Event::Query {
            id: qid,
            ltime,
            name: q.name.into(),
            payload: q.payload.into(),
            from: NodeName::new(q.from).map_err(|_| InboundError::InvalidField)?,
        });
        Ok(())
    }

    /// Sends the ack or response owed by `p`; one to ourselves is taken in at once.
    pub(super) fn send_response(&mut self, p: &Pending, ack: bool, payload: &[u8]) {
        let me = self.membership.local().name.clone();
        let to_us = query::send_response(
            p,
            ack,
            payload,
            me.as_str(),
            &self.membership,
            &mut self.rng,
            &mut self.outbound,
        );
        if let Some(response) = to_us {
            let _ = self.on_query_response(&response);
        }
    }

    /// An ack or response to one of our queries: reported once per responder, or counted
    /// as a vote.
    pub(super) fn on_query_response(
        &mut self,
        r: &wire::QueryResponse<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(r.from) {
            return Err(InboundError::InvalidField);
        }
        let from = || NodeName::new(r.from).map_err(|_| InboundError::InvalidField);
        match self.queries.on_response(self.now, r) {
            Answer::Ignored => {}
            Answer::Ack(id) => self.events.push(Event::QueryAck { id, from: from()? }),
            Answer::Response(id) => self.events.push(Event::QueryResponse {
                id,
                from: from()?,
                payload: r.payload.into(),
            }),
            Answer::Vote(id) => {
                let local_addr = self.membership.local_addr();
                self.conflict.tally(id, r.payload, local_addr);
            }
        }
        Ok(())
    }

    /// A response relayed through us: taken in when it is for us, passed on otherwise.
    pub(super) fn on_query_relay(&mut self, r: &wire::QueryRelay<'_>) -> Result<(), InboundError> {
        if !NodeName::is_valid(r.response.from) {
            return Err(InboundError::InvalidField);
        }
        self.queries.relayed();
        if r.dest == self.membership.local_addr() {
            return self.on_query_response(&r.response);
        }
        self.outbound
            .datagram(r.dest.into(), &[Message::QueryResponse(r.response)]);
        Ok(())
    }

    /// Ends queries past their timeout and forgets stale pending responses.
    pub(super) fn expire_queries(&mut self, now: Instant) {
        while let Some((qid, purpose)) = self.queries.pop_expired(now) {
            match purpose {
                Purpose::User => self.events.push(Event::QueryDone { id: qid }),
                Purpose::Conflict => self.conflict_vote_done(qid),
            }
        }
        self.queries.forget_stale(now);
    }

    // ----------------------------------------------------------------------------------
    // Name conflicts
    // ----------------------------------------------------------------------------------

    /// A live rival holds our name: ask the cluster which address it knows for it.
    pub(super) fn start_conflict_vote(&mut self, now: Instant) {
        let name = self.membership.local().name.clone();
        let params = NameConflict::vote_params(name.as_str());
        let _ = self.ask(now, &params, Purpose::Conflict, false);
    }

    /// The vote ended: the winner re-asserts its name with a fresh incarnation, the loser
    /// stops taking part and reports it.
    fn conflict_vote_done(&mut self, qid: QueryId) {
        let Some(result) = self.conflict.finish(qid) else {
            return;
        };
        if result.won {
            if self.status == LocalStatus::Alive {
                let inc = self.membership.local().incarnation;
                self.refute(self.now, inc);
            }
            return;
        }
        let name = self.membership.local().name.clone();
        self.status = LocalStatus::Left;
        self.prober.stop();
        self.events.push(Event::NameConflict {
            name,
            winner: result.winner,
            votes_for_us: result.votes_for_us,
            votes: result.votes,
        });
    }
}

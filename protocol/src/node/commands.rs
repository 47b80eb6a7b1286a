//! The application's commands: join, leave, tags, force-leave, user events, queries,
//! responses, key queries, and the Serf clocks.

use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

use super::{LocalStatus, Node};
use crate::error::CommandError;
use crate::event::Event;
use crate::key_rotation::{self, KeyOp};
use crate::lamport::LamportTime;
use crate::member::MemberState;
use crate::membership::size_factor;
use crate::query::{Purpose, QueryId, QueryParams, REACHABILITY_QUERY};
use crate::seal::SecretKey;
use crate::time::Instant;
use crate::types::Tags;
use crate::user_event::INTERNAL_PREFIX;
use crate::wire::{self, IntentKind};

impl<R: RngCore> Node<R> {
    /// Starts joining a cluster through `seeds`: a push-pull (full state exchange) with
    /// each. Returns how many exchanges were queued. Seeds are remembered (up to
    /// [`SEEDS_MAX`](crate::SEEDS_MAX)) and re-announced to so a split cluster heals. After a
    /// [`leave`](Self::leave), joining brings the node back with a higher incarnation.
    ///
    /// # Errors
    /// [`CommandError::NoSeeds`] when `seeds` is empty (nothing changes).
    ///
    /// Events the cluster already had are not delivered (Serf's default); use
    /// [`join_replay`](Self::join_replay) to receive them.
    pub fn join(&mut self, now: Instant, seeds: &[SocketAddr]) -> Result<usize, CommandError> {
        self.join_inner(now, seeds, false)
    }

    /// As [`join`](Self::join), but user events still in the cluster's buffers are
    /// delivered (Serf's `-replay`).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_replay(
        &mut self,
        now: Instant,
        seeds: &[SocketAddr],
    ) -> Result<usize, CommandError> {
        self.join_inner(now, seeds, true)
    }

    fn join_inner(
        &mut self,
        now: Instant,
        seeds: &[SocketAddr],
        replay: bool,
    ) -> Result<usize, CommandError> {
        let now = self.advance(now);
        if seeds.is_empty() {
            return Err(CommandError::NoSeeds);
        }
        self.user_events.joining(replay);
        if self.status == LocalStatus::Left {
            self.status = LocalStatus::Alive;
            let inc = self.membership.local().incarnation.next();
            self.membership.set_local(now, inc, MemberState::Alive);
            self.announce_local();
            // A rejoin after a leave needs a join intent newer than the leave intent. A
            // first join does not: no leave of this node exists yet, and its alive message
            // carries the news (Serf sends one anyway; in a join storm that doubles the
            // broadcasts and halves how fast the cluster converges).
            self.broadcast_own_intent(IntentKind::Join);
            let me = self.membership.snapshot(self.membership.local_slot());
            self.events.push(Event::MemberJoin(me));
            self.prober.resume(now, &self.config);
        }
        let local = SocketAddr::from(self.membership.local_addr());
        let mut queued = 0;
        for seed in seeds {
            if *seed == local {
                continue;
            }
            self.reconnect.add_seed(*seed);
            self.send_push_pull(*seed, true, false);
            queued += 1;
        }
        self.reconnect.arm_reannounce(now, &self.config);
        Ok(queued)
    }

    /// Leaves gracefully: broadcasts the leave and stops probing and push-pull. Keep
    /// driving the node until [`pending_broadcasts`](Self::pending_broadcasts) is zero (or a
    /// timeout) so the news spreads, then drop it. Idempotent.
    pub fn leave(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.status == LocalStatus::Left {
            return;
        }
        self.status = LocalStatus::Left;
        self.prober.stop();
        let inc = self.membership.local().incarnation;
        self.membership.set_local(now, inc, MemberState::Left);
        self.broadcast_own_intent(IntentKind::Leave);
        self.announce_local();
        let me = self.membership.snapshot(self.membership.local_slot());
        self.events.push(Event::MemberLeave(me));
    }

    /// Replaces this node's tags and announces them with a higher incarnation.
    ///
    /// # Errors
    /// [`CommandError::TagsTooLarge`] beyond `tags_bytes_max`, [`CommandError::Left`] after
    /// a leave. Nothing changes on error.
    pub fn set_tags(&mut self, now: Instant, tags: &Tags) -> Result<(), CommandError> {
        let now = self.advance(now);
        if self.status == LocalStatus::Left {
            return Err(CommandError::Left);
        }
        let encoded = tags.encode();
        if encoded.len() > self.config.tags_bytes_max {
            return Err(CommandError::TagsTooLarge {
                len: encoded.len(),
                max: self.config.tags_bytes_max,
            });
        }
        let inc = self.membership.local().incarnation.next();
        self.membership.set_local_tags(encoded);
        self.membership.set_local(now, inc, MemberState::Alive);
        self.announce_local();
        let me = self.membership.snapshot(self.membership.local_slot());
        self.events.push(Event::MemberUpdate(me));
        Ok(())
    }

    /// Marks a failed member as left everywhere (Serf's `force-leave`); with `prune` it is
    /// forgotten at once instead of kept as a tombstone.
    ///
    /// # Errors
    /// [`CommandError::UnknownMember`] for an unknown name or this node itself.
    pub fn force_leave(
        &mut self,
        now: Instant,
        name: &str,
        prune: bool,
    ) -> Result<(), CommandError> {
        let now = self.advance(now);
        let slot = self
            .membership
            .find(name)
            .ok_or(CommandError::UnknownMember)?;
        if slot == self.membership.local_slot() {
            return Err(CommandError::UnknownMember);
        }
        let ltime = self.intents.stamp();
        let intent = wire::Intent {
            kind: IntentKind::Leave,
            node: name,
            ltime: ltime.0,
            prune,
        };
        let _ = self.on_intent(now, &intent);
        Ok(())
    }

    /// Sends a user event to the whole cluster (this node included). Returns its Lamport
    /// time.
    ///
    /// # Errors
    /// [`CommandError::PayloadTooLarge`] when name plus payload exceed
    /// `user_event_bytes_max`; [`CommandError::ReservedName`] for an empty or internal name;
    /// [`CommandError::Left`] after leaving. Nothing is sent on error.
    pub fn user_event(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<LamportTime, CommandError> {
        self.advance(now);
        if self.status == LocalStatus::Left {
            return Err(CommandError::Left);
        }
        if name.is_empty() || name.starts_with(INTERNAL_PREFIX) {
            return Err(CommandError::ReservedName);
        }
        let len = name.len() + payload.len();
        if len > self.config.user_event_bytes_max {
            return Err(CommandError::PayloadTooLarge {
                what: "user event",
                limit: "user_event_bytes_max",
                len,
                max: self.config.user_event_bytes_max,
            });
        }
        let ltime = self.user_events.stamp();
        let e = wire::UserEvent {
            ltime: ltime.0,
            name,
            payload,
            coalesce,
        };
        self.on_user_event(&e, true);
        Ok(ltime)
    }

    /// The event clock's current time.
    pub fn event_time(&self) -> LamportTime {
        self.user_events.time()
    }

    /// The member clock's current time.
    pub fn member_time(&self) -> LamportTime {
        self.intents.time()
    }

    /// The query clock's current time.
    pub fn query_time(&self) -> LamportTime {
        self.queries.time()
    }

    /// The default query timeout for the current cluster size.
    pub fn default_query_timeout(&self) -> Duration {
        let factor = size_factor(self.membership.live_count());
        crate::time::scale(
            self.config.gossip_interval,
            self.config.query_timeout_mult.saturating_mul(factor),
        )
    }

    /// Sends a query to the cluster (this node included, if it matches). Acks, responses and
    /// the end arrive as [`Event::QueryAck`], [`Event::QueryResponse`], [`Event::QueryDone`].
    ///
    /// # Errors
    /// [`CommandError::ReservedName`], [`CommandError::PayloadTooLarge`] (name plus payload
    /// over `query_bytes_max`), [`CommandError::InvalidFilter`] (a regex that does not
    /// compile or an invalid node name), [`CommandError::TooManyQueries`],
    /// [`CommandError::Left`]. Nothing is sent on error.
    pub fn query(&mut self, now: Instant, params: &QueryParams) -> Result<QueryId, CommandError> {
        let now = self.advance(now);
        if params.name.is_empty() || params.name.starts_with(INTERNAL_PREFIX) {
            return Err(CommandError::ReservedName);
        }
        self.ask(now, params, Purpose::User, false)
    }

    /// Asks every member to ack (Serf's `reachability`): acks arrive as
    /// [`Event::QueryAck`]; compare them with the member list.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub fn reachability(
        &mut self,
        now: Instant,
        timeout: Option<Duration>,
    ) -> Result<QueryId, CommandError> {
        let now = self.advance(now);
        let params = QueryParams {
            name: REACHABILITY_QUERY.into(),
            request_ack: true,
            timeout,
            ..QueryParams::default()
        };
        self.ask(now, &params, Purpose::User, false)
    }

    /// Runs a key operation on every node (this one included) through an internal query;
    /// each node answers with a [`KeyResponse`](crate::KeyResponse) in an
    /// [`Event::QueryResponse`]. Keys only ever travel sealed: nodes ignore key queries that
    /// arrived in plaintext.
    ///
    /// # Errors
    /// [`CommandError::EncryptionDisabled`] without a keyring or while sending plaintext;
    /// [`CommandError::InvalidKey`] when `Install`/`Use`/`Remove` get no key; as
    /// [`query`](Self::query) otherwise.
    pub fn key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        key: Option<&SecretKey>,
        timeout: Option<Duration>,
    ) -> Result<QueryId, CommandError> {
        let now = self.advance(now);
        if !self.envelope.sealing() {
            return Err(CommandError::EncryptionDisabled);
        }
        let params = key_rotation::query_params(op, key, timeout)?;
        // Our own copy of the query is applied as if it had arrived sealed: it never left
        // this node.
        self.ask(now, &params, Purpose::User, true)
    }

    /// Answers a query delivered as [`Event::Query`]. One response per query.
    ///
    /// # Errors
    /// [`CommandError::UnknownQuery`] when there is nothing to answer (never received,
    /// answered already, or timed out); [`CommandError::PayloadTooLarge`] over
    /// `query_response_bytes_max`.
    pub fn respond(
        &mut self,
        now: Instant,
        id: QueryId,
        payload: &[u8],
    ) -> Result<(), CommandError> {
        let now = self.advance(now);
        if payload.len() > self.config.query_response_bytes_max {
            return Err(CommandError::PayloadTooLarge {
                what: "query response",
                limit: "query_response_bytes_max",
                len: payload.len(),
                max: self.config.query_response_bytes_max,
            });
        }
        let p = self
            .queries
            .take_pending(id, now)
            .ok_or(CommandError::UnknownQuery)?;
        self.send_response(&p, false, payload);
        Ok(())
    }

    /// Whether this node lost a name-conflict vote and stopped.
    pub fn lost_name_conflict(&self) -> bool {
        self.status == LocalStatus::Left && self.membership.local().state.is_live()
    }
}

//! [`Node`]: the state machine, its inputs, outputs and getters.
//!
//! `Node` composes one sub-state per protocol rule and owns only what routes between them:
//! the config, the clock (`now`), the RNG, whether this node takes part, the outbound and
//! event queues and the routing counters. Each rule keeps its fields private behind a
//! narrow API; a rule's method takes the collaborators it needs as arguments (read-only
//! views of other rules, the RNG, the outbound queue) and reports what happened, and the
//! node applies the report to the other rules. The routing lives here and in:
//!
//! - `swim`: probe results, membership news, suspicions, refutation, reap, push-pull;
//! - `serf`: intents, user events, queries, name-conflict votes, key queries;
//! - `commands`: the application's commands.

mod commands;
mod serf;
mod swim;

use alloc::vec::Vec;
use core::net::SocketAddr;

use rand_core::RngCore;

use crate::awareness::Awareness;
use crate::config::Config;
use crate::conflict::NameConflict;
use crate::dissemination::Dissemination;
use crate::envelope::{EncryptionStep, Envelope};
use crate::error::{ConfigError, DecodeError, InboundError};
use crate::event::{Event, EventQueue};
use crate::intent::Intents;
use crate::member::MemberRef;
use crate::membership::{Membership, size_factor};
use crate::probe::Prober;
use crate::push_pull::PushPull;
use crate::query::Queries;
use crate::random::SeededRng;
use crate::reconnect::Reconnect;
use crate::seal::Keyring;
use crate::stats::Stats;
use crate::suspicion::Suspicions;
use crate::time::Instant;
use crate::transmit::{Channel, Outbound, Outgoing, Transmit};
use crate::types::{Identity, Incarnation};
use crate::user_event::UserEvents;
use crate::wire::{self, Message};

/// The local node's participation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalStatus {
    Alive,
    Left,
}

/// A Hearsay cluster member as a pure state machine (SWIM + Lifeguard).
///
/// # Call-order contract
///
/// ```text
///            ┌──────────── handle_datagram(now, from, bytes)
///  inputs ──▶│──────────── handle_stream(now, from, bytes)
///            │──────────── handle_timeout(now)          when now ≥ poll_timeout()
///            │──────────── join / leave / set_tags / user_event / query / respond / …
///            └──▶ then drain:  poll_transmit(now, buf) until None  → send buf[..len]
///                              poll_event()            until None  → deliver
///                              poll_timeout()                      → arm one timer
/// ```
///
/// - Every input and every command takes `now`, and `now` must not go backwards; an
///   earlier `now` is treated as the latest seen. Configuration setters
///   ([`set_keyring`](Self::set_keyring), [`set_encryption_step`](Self::set_encryption_step))
///   do not depend on time and take none.
/// - After **any** input or command, drain `poll_transmit` and `poll_event` and re-read
///   `poll_timeout`: inputs may queue output and move the deadline.
/// - There is always a deadline; `handle_timeout` is idempotent: calling it early or twice
///   does nothing harmful, and after `handle_timeout(now)` the deadline is later than `now`.
/// - Datagrams go to `Transmit::dst` over UDP; `Channel::Stream` frames over a reliable
///   connection, and the receiver passes each whole frame to `handle_stream`.
/// - The node never blocks, allocates only within its caps, and draws randomness only from
///   its own RNG: the same inputs and seed give byte-identical outputs. The RNG is any
///   [`rand_core::RngCore`](crate::rand_core::RngCore) (the re-exported version), or
///   [`SeededRng`] through [`Node::with_seed`].
///
/// The feature `testing` adds a deterministic cluster of nodes for tests
/// (`hearsay_protocol::testing`).
pub struct Node<R> {
    config: Config,
    rng: R,
    now: Instant,
    status: LocalStatus,
    /// The member table, this node's entry, the live count and the gone set.
    membership: Membership,
    /// Probe order, probe in flight, schedule, ping numbers, relays.
    prober: Prober,
    /// Open suspicions and their timers.
    suspicions: Suspicions,
    /// Lifeguard local health.
    awareness: Awareness,
    /// Broadcast queues, membership news, piggybacking, gossip schedule.
    dissemination: Dissemination,
    /// Periodic push-pull, answering peers.
    push_pull: PushPull,
    /// Reconnect pings and seed re-announce.
    reconnect: Reconnect,
    /// Member clock and intents about unknown members.
    intents: Intents,
    /// Event clock and de-duplication ring.
    user_events: UserEvents,
    /// Query clock, queries asked and owed.
    queries: Queries,
    /// Pings to rivals for our name and the vote.
    conflict: NameConflict,
    /// Label, keyring and plaintext switches.
    envelope: Envelope,
    /// Messages waiting for `poll_transmit`.
    outbound: Outbound,
    /// Events waiting for `poll_event`.
    events: EventQueue,
    /// Counters of the routing layer; the rules' own counters are added by `stats()`.
    stats: Stats,
}

/// The node's identity, status, clock and table size (the full state is large; use the
/// getters for more).
impl<R> core::fmt::Debug for Node<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let local = self.membership.local();
        f.debug_struct("Node")
            .field("name", &local.name)
            .field("addr", &local.socket_addr())
            .field("state", &local.state)
            .field("incarnation", &local.incarnation)
            .field("status", &self.status)
            .field("now", &self.now)
            .field("members", &self.membership.len())
            .finish_non_exhaustive()
    }
}

impl Node<SeededRng> {
    /// Builds a node whose RNG is seeded from `seed`: the same seed and inputs give
    /// byte-identical outputs. For tests and simulations; production code seeds from the
    /// OS ([`SeededRng::from_seed_bytes`] with [`Node::new`]).
    ///
    /// ```
    /// use hearsay_protocol::{Config, Identity, Instant, Node, NodeName};
    ///
    /// let id = Identity::new(NodeName::new("a").unwrap(), "127.0.0.1:7946".parse().unwrap());
    /// let node = Node::with_seed(Config::lan(), id, 7, Instant::ZERO).unwrap();
    /// assert_eq!(node.local().name(), "a");
    /// ```
    ///
    /// # Errors
    /// As [`Node::new`].
    pub fn with_seed(
        config: Config,
        identity: Identity,
        seed: u64,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        Self::new(config, identity, SeededRng::from_u64(seed), now)
    }
}

impl<R: RngCore> Node<R> {
    /// Builds a node that knows only itself. Call [`join`](Self::join) to meet a cluster.
    ///
    /// # Errors
    /// [`ConfigError`] when the config or the identity's tags are invalid.
    pub fn new(
        config: Config,
        identity: Identity,
        mut rng: R,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let tags = identity.tags.encode();
        if tags.len() > config.tags_bytes_max {
            return Err(ConfigError::TagsTooLarge);
        }
        let membership = Membership::new(identity, tags, now);
        let envelope = Envelope::new(&config);
        let outbound = Outbound::new(config.transmit_queue_max, envelope.datagram_room(&config));
        let push_pull = PushPull::new(now, membership.live_count(), &mut rng, &config);
        let mut node = Self {
            rng,
            now,
            status: LocalStatus::Alive,
            prober: Prober::new(now, &config),
            suspicions: Suspicions::default(),
            awareness: Awareness::new(config.awareness_max_multiplier),
            dissemination: Dissemination::new(now, &config),
            push_pull,
            reconnect: Reconnect::new(now, &config),
            intents: Intents::default(),
            user_events: UserEvents::new(config.event_buffer_size),
            queries: Queries::new(config.query_buffer_size),
            conflict: NameConflict::default(),
            envelope,
            outbound,
            events: EventQueue::new(config.events_max),
            stats: Stats::default(),
            membership,
            config,
        };
        let me = node.membership.snapshot(node.membership.local_slot());
        node.events.push(Event::MemberJoin(me));
        Ok(node)
    }

    // ----------------------------------------------------------------------------------
    // Inputs
    // ----------------------------------------------------------------------------------

    /// Handles one datagram from `from`.
    ///
    /// # Errors
    /// [`InboundError`] when the datagram or one of its messages is rejected. A datagram
    /// refused as a whole ([`InboundError::refused_whole_input`]) changed nothing; when one
    /// message is refused, the other messages of the same datagram were still applied.
    /// Rejections are counted in `stats()`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), InboundError> {
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        self.handle_input(now, from, bytes, Channel::Datagram)
    }

    /// Handles one complete stream frame received from `from` (the connection's peer
    /// address; replies go to the address inside the frame).
    ///
    /// # Errors
    /// As [`handle_datagram`](Self::handle_datagram).
    pub fn handle_stream(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), InboundError> {
        self.stats.stream_frames_in += 1;
        self.stats.stream_bytes_in += bytes.len() as u64;
        self.handle_input(now, from, bytes, Channel::Stream)
    }

    fn handle_input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        channel: Channel,
    ) -> Result<(), InboundError> {
        let now = self.advance(now);
        let max = match channel {
            Channel::Datagram => self.config.packet_bytes_max,
            Channel::Stream => self.config.stream_bytes_max,
        };
        let body = match self.envelope.open(bytes, max, &self.config) {
            Ok(body) => body,
            Err(InboundError::Decode(e)) => {
                self.count_decode_error(e);
                return Err(InboundError::Decode(e));
            }
            Err(e) => return Err(e),
        };
        let sealed = body.was_sealed();
        let mut first_err = None;
        for msg in wire::messages(body.as_slice()) {
            let result = match msg {
                Ok(msg) => self.handle_message(now, from, msg, channel, sealed),
                Err(e) => {
                    self.count_decode_error(e);
                    Err(InboundError::MessageDecode(e))
                }
            };
            if let Err(e) = result {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn count_decode_error(&mut self, e: DecodeError) {
        if e == DecodeError::UnknownMessage {
            self.stats.unknown_messages += 1;
        } else {
            self.stats.decode_errors += 1;
        }
    }

    /// Routes one message to the rule it is for. `sealed`: the packet arrived sealed.
    fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message<'_>,
        channel: Channel,
        sealed: bool,
    ) -> Result<(), InboundError> {
        self.stats.messages_in.bump(msg.kind());
        let result = match msg {
            Message::Ping(p) => {
                let me = self.membership.local().name.as_str();
                self.prober
                    .on_ping(from, &p, channel, me, &mut self.outbound)
            }
            Message::PingReq(p) => {
                self.prober
                    .on_ping_req(now, &p, &self.membership, &self.config, &mut self.outbound)
            }
            Message::Ack(a) => {
                self.on_ack(a.seq);
                Ok(())
            }
            Message::Nack(n) => {
                self.prober.on_nack(n.seq);
                Ok(())
            }
            Message::Alive(a) => self.on_alive(now, &a),
            Message::Suspect(s) => self.on_suspect(now, s.node, Incarnation(s.incarnation), s.from),
            Message::Dead(d) => self.on_dead(now, d.node, Incarnation(d.incarnation), d.from),
            Message::Leave(l) => self.on_leave(now, l.node, Incarnation(l.incarnation)),
            Message::PushPull(p) if channel == Channel::Stream => self.on_push_pull(now, &p),
            Message::Intent(i) => self.on_intent(now, &i),
            Message::UserEvent(e) => {
                self.on_user_event(&e, true);
                Ok(())
            }
            Message::Query(q) => self.on_query(now, &q, sealed),
            Message::QueryResponse(r) => self.on_query_response(&r),
            Message::QueryRelay(r) => self.on_query_relay(&r),
            Message::SerfState(s) if channel == Channel::Stream => {
                let join_reply = self.push_pull.take_join_reply();
                self.on_serf_state(&s, join_reply);
                Ok(())
            }
            _ => Err(InboundError::WrongChannel),
        };
        if result.is_err() {
            self.stats.invalid_messages += 1;
        }
        result
    }

    /// Runs every timer that is due at `now`: probes, gossip, push-pull, suspicion
    /// timeouts, relays, reconnects and reaping. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.expire(now);
        let alive = self.status == LocalStatus::Alive;
        if alive {
            self.probe_tick(now);
        }
        self.dissemination.gossip_if_due(
            now,
            &self.membership,
            &mut self.rng,
            &self.config,
            &mut self.outbound,
        );
        if let Some(peer) = self.push_pull.periodic_if_due(
            now,
            alive,
            &self.membership,
            &mut self.rng,
            &self.config,
        ) {
            self.send_push_pull(peer, false, false);
        }
        if self.reconnect.reconnect_due(now) {
            if alive {
                self.reconnect.ping_failed(
                    &self.membership,
                    &mut self.rng,
                    || self.prober.next_seq(),
                    &mut self.outbound,
                );
            }
            self.reap(now);
            self.reconnect.reconnect_done(now, &self.config);
        }
        if let Some(seed) = self.reconnect.reannounce_if_due(
            now,
            alive,
            &self.membership,
            &mut self.rng,
            &self.config,
        ) {
            self.send_push_pull(seed, true, false);
        }
        // Steps above can move a suspicion deadline into the past (a confirmation shrinks a
        // timeout that started long ago) or open a relay; settle those now so that
        // `poll_timeout` never returns an instant at or before this `now`.
        self.expire(now);
    }

    /// Suspicions, queries and relays whose time is up.
    fn expire(&mut self, now: Instant) {
        self.expire_suspicions(now);
        self.expire_queries(now);
        self.prober.expire_relays(now, &mut self.outbound);
    }

    // ----------------------------------------------------------------------------------
    // Outputs
    // ----------------------------------------------------------------------------------

    /// Writes the next outbound datagram or stream frame into `buf` (cleared first) and
    /// says where it goes. Datagrams are topped up with the freshest broadcasts up to
    /// `packet_bytes_max`. `None` when nothing is pending.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let _ = self.advance(now);
        while let Some(out) = self.outbound.pop() {
            buf.clear();
            match out {
                Outgoing::Stream { dst, frame, kinds } => {
                    let header = self.envelope.begin(buf, &self.config);
                    buf.extend_from_slice(&frame);
                    self.envelope.finish(buf, header, &mut self.rng);
                    self.stats.stream_frames_out += 1;
                    self.stats.stream_bytes_out += buf.len() as u64;
                    for k in kinds {
                        self.stats.messages_out.bump(k);
                    }
                    return Some(Transmit {
                        dst,
                        len: buf.len(),
                        channel: Channel::Stream,
                    });
                }
                Outgoing::Datagram { dst, msgs, kinds } => {
                    let header = self.envelope.begin(buf, &self.config);
                    buf.extend_from_slice(&msgs);
                    for k in kinds {
                        self.stats.messages_out.bump(k);
                    }
                    self.piggyback(buf, None);
                    self.envelope.finish(buf, header, &mut self.rng);
                    return Some(self.datagram_out(dst, buf));
                }
                Outgoing::Gossip { dst, round } => {
                    let header = self.envelope.begin(buf, &self.config);
                    if self.piggyback(buf, Some(round)) == 0 {
                        continue;
                    }
                    self.envelope.finish(buf, header, &mut self.rng);
                    return Some(self.datagram_out(dst, buf));
                }
            }
        }
        None
    }

    fn datagram_out(&mut self, dst: SocketAddr, buf: &[u8]) -> Transmit {
        self.stats.packets_out += 1;
        self.stats.bytes_out += buf.len() as u64;
        Transmit {
            dst,
            len: buf.len(),
            channel: Channel::Datagram,
        }
    }

    /// Tops `buf` up with broadcasts, fairly across the classes; returns the bytes added.
    fn piggyback(&mut self, buf: &mut Vec<u8>, round: Option<u64>) -> usize {
        let budget = self
            .config
            .packet_bytes_max
            .saturating_sub(buf.len() + self.envelope.seal_overhead());
        let limit = self.retransmit_limit();
        let stats = &mut self.stats;
        self.dissemination
            .piggyback(buf, round, budget, limit, &self.membership, |k| {
                stats.messages_out.bump(k)
            })
    }

    /// The next instant `handle_timeout` wants to be called at. There is always one (the
    /// gossip and reconnect timers never stop), so an adapter keeps exactly one timer armed.
    /// After `handle_timeout(now)` it is always later than `now`.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self
            .dissemination
            .deadline()
            .min(self.push_pull.deadline())
            .min(self.reconnect.deadline());
        let deadlines = [
            self.prober.deadline(self.status == LocalStatus::Alive),
            self.suspicions.deadline(),
            self.queries.deadline(),
        ];
        for d in deadlines.into_iter().flatten() {
            t = t.min(d);
        }
        t
    }

    /// The next event for the application, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    // ----------------------------------------------------------------------------------
    // Getters
    // ----------------------------------------------------------------------------------

    /// This node as a member.
    pub fn local(&self) -> MemberRef<'_> {
        MemberRef {
            entry: self.membership.local(),
        }
    }

    /// Every known member (all states, this node included), in table order.
    pub fn members(&self) -> impl Iterator<Item = MemberRef<'_>> {
        self.membership.iter().map(|(_, entry)| MemberRef { entry })
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<MemberRef<'_>> {
        self.membership.member(name)
    }

    /// Number of known members in any state.
    pub fn member_count(&self) -> usize {
        self.membership.len()
    }

    /// Members alive or suspect, this node included: the cluster size used by the
    /// protocol's formulas.
    pub fn live_members(&self) -> usize {
        self.membership.live_count()
    }

    /// The Lifeguard local health score: 0 is healthy, up to
    /// `awareness_max_multiplier - 1`.
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        self.membership.report(&mut s);
        self.prober.report(&mut s);
        self.suspicions.report(&mut s);
        self.dissemination.report(&mut s);
        self.push_pull.report(&mut s);
        self.intents.report(&mut s);
        self.user_events.report(&mut s);
        self.queries.report(&mut s);
        self.envelope.report(&mut s);
        self.outbound.report(&mut s);
        self.events.report(&mut s);
        s
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Broadcasts still waiting to be gossiped (all classes).
    pub fn pending_broadcasts(&self) -> usize {
        self.dissemination.pending()
    }

    /// Installs (or with `None` removes) the keyring: with one, packets are sealed with the
    /// primary key and opened with any key, as the [`EncryptionStep`] in force allows.
    pub fn set_keyring(&mut self, keyring: Option<Keyring>) {
        self.envelope.set_keyring(keyring);
        self.envelope_changed();
    }

    /// The keyring in force.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.envelope.keyring()
    }

    /// Keyring changes in place (install, use, remove a key).
    pub fn keyring_mut(&mut self) -> Option<&mut Keyring> {
        self.envelope.keyring_mut()
    }

    /// Moves this node to `step` of turning encryption on (or off) in a live cluster; see
    /// [`EncryptionStep`]. Takes effect with a keyring; without one the node sends and
    /// accepts only plaintext whatever the step, and the step applies once a keyring is
    /// installed.
    pub fn set_encryption_step(&mut self, step: EncryptionStep) {
        self.envelope.set_step(step);
        self.envelope_changed();
    }

    /// The encryption step in force: `None` without a keyring (plaintext only).
    pub fn encryption_step(&self) -> Option<EncryptionStep> {
        self.envelope.keyring().map(|_| self.envelope.step())
    }

    /// Whether this node has left.
    pub fn has_left(&self) -> bool {
        self.status == LocalStatus::Left
    }

    // ----------------------------------------------------------------------------------
    // Diagnostics for simulators, fuzzers and test harnesses (feature `testing`)
    // ----------------------------------------------------------------------------------

    /// Broadcasts of one class still waiting to be gossiped. Diagnostic (feature
    /// `testing`): for simulators and invariant checks, not covered by semver.
    #[cfg(any(test, feature = "testing"))]
    pub fn pending_broadcasts_of(&self, class: crate::BroadcastClass) -> usize {
        self.dissemination.pending_of(class)
    }

    /// Outbound messages waiting for `poll_transmit`. Diagnostic (feature `testing`): for
    /// simulators and invariant checks, not covered by semver.
    #[cfg(any(test, feature = "testing"))]
    pub fn pending_transmits(&self) -> usize {
        self.outbound.len()
    }

    /// Undelivered events. Diagnostic (feature `testing`): for simulators and invariant
    /// checks, not covered by semver.
    #[cfg(any(test, feature = "testing"))]
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Approximate heap bytes held by the member table, for a simulator's memory reports.
    /// Diagnostic (feature `testing`), not covered by semver.
    #[cfg(any(test, feature = "testing"))]
    pub fn member_table_bytes(&self) -> usize {
        self.membership.heap_bytes() + self.prober.heap_bytes()
    }

    // ----------------------------------------------------------------------------------
    // Routing helpers
    // ----------------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    /// Whether to seal changed: so did the room messages have in a datagram.
    fn envelope_changed(&mut self) {
        let room = self.envelope.datagram_room(&self.config);
        self.outbound.set_datagram_room(room);
    }

    /// `retransmit_mult × ⌈log10(N+1)⌉`; ⌈log10(N+1)⌉ is the digit count of N.
    fn retransmit_limit(&self) -> u32 {
        let factor = size_factor(self.membership.live_count());
        self.config.retransmit_mult.saturating_mul(factor)
    }

    /// Answers owed to delivered queries (for tests of the cap).
    #[cfg(test)]
    pub(crate) fn pending_responses_len(&self) -> usize {
        self.queries.pending_len()
    }

    /// Intents about unknown members held (for tests of the cap).
    #[cfg(test)]
    pub(crate) fn recent_intents_len(&self) -> usize {
        self.intents.recent_len()
    }
}

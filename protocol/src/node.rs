//! [`Node`]: the state machine, its inputs, outputs and getters.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

use crate::awareness::Awareness;
use crate::broadcast::{BroadcastClass, Broadcasts};
use crate::config::Config;
use crate::error::{CommandError, ConfigError, DecodeError, InboundError};
use crate::event::Event;
use crate::member::{Entry, MemberRef, MemberState, Table};
use crate::probe::{Probe, Relay};
use crate::serf::Serf;
use crate::stats::Stats;
use crate::suspicion::Suspicion;
use crate::time::Instant;
use crate::types::{Identity, Incarnation, Tags};
use crate::wire::IntentKind;
use crate::wire::{self, Message, MessageKind, WireAddr};

/// Most join seeds remembered for re-announcing.
pub const SEEDS_MAX: usize = 16;

/// Message bytes of an inbound packet: borrowed from the input, or opened from a seal.
enum Body<'b> {
    Borrowed(&'b [u8]),
    Owned(Vec<u8>),
}

impl Body<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Body::Borrowed(b) => b,
            Body::Owned(v) => v,
        }
    }
}

/// Which path a [`Transmit`] must take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Unreliable datagram (UDP), at most `packet_bytes_max` bytes.
    Datagram,
    /// Reliable stream (TCP in the adapters): one frame, at most `stream_bytes_max` bytes.
    Stream,
}

/// Where and how to send the bytes `poll_transmit` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (a member's advertise address).
    pub dst: SocketAddr,
    /// Bytes written to the caller's buffer.
    pub len: usize,
    /// Path to use.
    pub channel: Channel,
}

/// The local node's participation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocalStatus {
    Alive,
    Left,
}

/// A queued outbound message; datagrams are completed with broadcasts at send time.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Framed primary messages for one datagram, and their kinds for stats.
    Datagram {
        dst: SocketAddr,
        msgs: Vec<u8>,
        kinds: heapless::Vec<MessageKind, 4>,
    },
    /// A gossip datagram: broadcasts only.
    Gossip { dst: SocketAddr, round: u64 },
    /// The messages of one stream frame (the envelope is added at send time).
    Stream {
        dst: SocketAddr,
        frame: Vec<u8>,
        kinds: heapless::Vec<MessageKind, 4>,
    },
}

/// A Hearsay cluster member as a pure state machine (SWIM + Lifeguard).
///
/// # Call-order contract
///
/// ```text
///            ┌──────────── handle_datagram(now, from, bytes)
///  inputs ──▶│──────────── handle_stream(now, from, bytes)
///            │──────────── handle_timeout(now)          when now ≥ poll_timeout()
///            │──────────── join / leave / set_tags      commands
///            └──▶ then drain:  poll_transmit(now, buf) until None  → send buf[..len]
///                              poll_event()            until None  → deliver
///                              poll_timeout()                      → arm one timer
/// ```
///
/// - `now` must not go backwards; an earlier `now` is treated as the latest seen.
/// - After **any** input or command, drain `poll_transmit` and `poll_event` and re-read
///   `poll_timeout`: inputs may queue output and move the deadline.
/// - `handle_timeout` is idempotent: calling it early or twice does nothing harmful.
/// - Datagrams go to `Transmit::dst` over UDP; `Channel::Stream` frames over a reliable
///   connection, and the receiver passes each whole frame to `handle_stream`.
/// - The node never blocks, allocates only within its caps, and draws randomness only from
///   its own RNG: the same inputs and seed give byte-identical outputs.
pub struct Node<R> {
    pub(crate) config: Config,
    pub(crate) rng: R,
    pub(crate) now: Instant,
    pub(crate) status: LocalStatus,
    pub(crate) local_slot: u32,
    pub(crate) local_addr: WireAddr,
    pub(crate) members: Table,
    /// Members not left, not reaped (the `N` of the formulas).
    pub(crate) live_count: usize,
    /// Slots in `Failed` or `Left` state, for reconnect and reap.
    pub(crate) gone: BTreeSet<u32>,
    pub(crate) probe_order: Vec<u32>,
    pub(crate) probe_pos: usize,
    pub(crate) probe: Option<Probe>,
    pub(crate) next_probe: Instant,
    pub(crate) next_gossip: Instant,
    pub(crate) next_push_pull: Instant,
    pub(crate) next_reconnect: Instant,
    pub(crate) next_seed_reannounce: Instant,
    pub(crate) reconnect_ping: Option<(u32, u32)>,
    pub(crate) seq: u32,
    pub(crate) relays: Vec<Relay>,
    pub(crate) suspicions: BTreeMap<u32, Suspicion>,
    pub(crate) suspicion_timers: BTreeSet<(Instant, u32)>,
    pub(crate) broadcasts: Broadcasts,
    /// Membership news (alive, suspect, dead, leave), by member.
    pub(crate) news: crate::news::News,
    pub(crate) serf: Serf,
    /// The push-pull being merged answered our join.
    pub(crate) merging_join_reply: bool,
    pub(crate) transmits: VecDeque<Outgoing>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) seeds: Vec<SocketAddr>,
    pub(crate) awareness: Awareness,
    pub(crate) stats: Stats,
    pub(crate) scratch: Vec<u8>,
    pub(crate) keyring: Option<crate::seal::Keyring>,
    pub(crate) accept_plaintext: bool,
    pub(crate) send_plaintext: bool,
    /// The message being handled arrived sealed.
    pub(crate) inbound_sealed: bool,
    /// Advertise addresses of peers that answered a push-pull, for `poll_push_pull_reply`.
    pub(crate) push_pull_replies: VecDeque<SocketAddr>,
}

impl<R: RngCore> Node<R> {
    /// Builds a node that knows only itself. Call [`join`](Self::join) to meet a cluster.
    ///
    /// # Errors
    /// [`ConfigError`] when the config or the identity's tags are invalid.
    pub fn new(
        config: Config,
        identity: Identity,
        rng: R,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let tags = identity.tags.encode();
        if tags.len() > config.tags_bytes_max {
            return Err(ConfigError::TagsTooLarge);
        }
        let mut members = Table::default();
        let local_addr = WireAddr::from(identity.addr);
        let local_slot = members.insert(Entry {
            name: identity.name,
            tags: (!tags.is_empty()).then(|| tags.into_boxed_slice()),
            state_change: now,
            status_ltime: 0,
            addr: local_addr,
            incarnation: identity.incarnation,
            state: MemberState::Alive,
        });
        let awareness = Awareness::new(config.awareness_max_multiplier);
        let mut node = Self {
            rng,
            now,
            status: LocalStatus::Alive,
            local_slot,
            local_addr,
            members,
            live_count: 1,
            gone: BTreeSet::new(),
            probe_order: Vec::new(),
            probe_pos: 0,
            probe: None,
            next_probe: now + config.probe_interval,
            next_gossip: now + config.gossip_interval,
            next_push_pull: Instant::MAX,
            next_reconnect: now + config.reconnect_interval,
            next_seed_reannounce: Instant::MAX,
            reconnect_ping: None,
            seq: 0,
            relays: Vec::new(),
            suspicions: BTreeMap::new(),
            suspicion_timers: BTreeSet::new(),
            broadcasts: Broadcasts::default(),
            news: crate::news::News::default(),
            serf: Serf::new(config.event_buffer_size, config.query_buffer_size),
            merging_join_reply: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            seeds: Vec::new(),
            awareness,
            stats: Stats::default(),
            scratch: Vec::new(),
            keyring: None,
            accept_plaintext: config.accept_plaintext,
            send_plaintext: config.send_plaintext,
            inbound_sealed: false,
            push_pull_replies: VecDeque::new(),
            config,
        };
        node.schedule_push_pull(now, true);
        let me = node.member_snapshot(local_slot);
        node.push_event(Event::MemberJoin(me));
        Ok(node)
    }

    // ----------------------------------------------------------------------------------
    // Inputs
    // ----------------------------------------------------------------------------------

    /// Handles one datagram from `from`.
    ///
    /// # Errors
    /// [`InboundError`] when the datagram (or one of its messages) is rejected; valid
    /// messages in the same packet are still applied. Rejections are counted in `stats()`.
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
        let body = self.open(bytes, max)?;
        self.inbound_sealed = matches!(body, Body::Owned(_));
        let mut first_err = None;
        for msg in wire::messages(body.as_slice()) {
            let result = match msg {
                Ok(msg) => self.handle_message(now, from, msg, channel),
                Err(e) => Err(self.count_decode_error(e)),
            };
            if let Err(e) = result {
                first_err.get_or_insert(e);
            }
        }
        self.inbound_sealed = false;
        first_err.map_or(Ok(()), Err)
    }

    /// Runs every timer that is due at `now`: probes, gossip, push-pull, suspicion
    /// timeouts, relays, reconnects and reaping. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.expire_suspicions(now);
        self.expire_queries(now);
        self.expire_relays(now);
        if self.status == LocalStatus::Alive {
            self.probe_tick(now);
        }
        if now >= self.next_gossip {
            self.gossip(now);
            self.next_gossip = now + self.config.gossip_interval;
        }
        if now >= self.next_push_pull {
            if self.status == LocalStatus::Alive {
                self.periodic_push_pull(now);
            }
            self.schedule_push_pull(now, false);
        }
        if now >= self.next_reconnect {
            if self.status == LocalStatus::Alive {
                self.reconnect(now);
            }
            self.reap(now);
            self.next_reconnect = now + self.config.reconnect_interval;
        }
        if now >= self.next_seed_reannounce {
            if self.status == LocalStatus::Alive {
                self.reannounce_to_seeds(now);
            }
            self.next_seed_reannounce = now + self.config.seed_reannounce_interval;
        }
        // Steps above can move a suspicion deadline into the past (a confirmation shrinks a
        // timeout that started long ago) or open a relay; settle those now so that
        // `poll_timeout` never returns an instant at or before this `now`.
        self.expire_suspicions(now);
        self.expire_queries(now);
        self.expire_relays(now);
    }

    // ----------------------------------------------------------------------------------
    // Commands
    // ----------------------------------------------------------------------------------

    /// Starts joining a cluster through `seeds`: a push-pull (full state exchange) with
    /// each. Returns how many exchanges were queued. Seeds are remembered (up to
    /// [`SEEDS_MAX`]) and re-announced to so a split cluster heals. After a
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
        self.serf.ignore_old_events = !replay;
        if self.status == LocalStatus::Left {
            self.status = LocalStatus::Alive;
            let inc = self.local_entry().incarnation.next();
            self.set_local(now, inc, MemberState::Alive);
            self.broadcast_local_alive();
            // A rejoin after a leave needs a join intent newer than the leave intent. A
            // first join does not: no leave of this node exists yet, and its alive message
            // carries the news (Serf sends one anyway; in a join storm that doubles the
            // broadcasts and halves how fast the cluster converges).
            self.broadcast_own_intent(IntentKind::Join);
            let me = self.member_snapshot(self.local_slot);
            self.push_event(Event::MemberJoin(me));
            self.next_probe = now + self.config.probe_interval;
        }
        let local = SocketAddr::from(self.local_addr);
        let mut queued = 0;
        for seed in seeds {
            if *seed == local {
                continue;
            }
            if !self.seeds.contains(seed) && self.seeds.len() < SEEDS_MAX {
                self.seeds.push(*seed);
            }
            self.send_push_pull(now, *seed, true, false);
            queued += 1;
        }
        if !self.seeds.is_empty() && self.config.seed_reannounce_interval > Duration::ZERO {
            self.next_seed_reannounce = now + self.config.seed_reannounce_interval;
        }
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
        self.probe = None;
        let inc = self.local_entry().incarnation;
        self.set_local(now, inc, MemberState::Left);
        self.broadcast_own_intent(IntentKind::Leave);
        self.queue_news(self.local_slot, None);
        let me = self.member_snapshot(self.local_slot);
        self.push_event(Event::MemberLeave(me));
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
        let inc = self.local_entry().incarnation.next();
        if let Some(e) = self.members.get_mut(self.local_slot) {
            e.tags = (!encoded.is_empty()).then(|| encoded.into_boxed_slice());
        }
        self.set_local(now, inc, MemberState::Alive);
        self.broadcast_local_alive();
        let me = self.member_snapshot(self.local_slot);
        self.push_event(Event::MemberUpdate(me));
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Outputs
    // ----------------------------------------------------------------------------------

    /// Writes the next outbound datagram or stream frame into `buf` (cleared first) and
    /// says where it goes. Datagrams are topped up with the freshest broadcasts up to
    /// `packet_bytes_max`. `None` when nothing is pending.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let _ = self.advance(now);
        while let Some(out) = self.transmits.pop_front() {
            buf.clear();
            match out {
                Outgoing::Stream { dst, frame, kinds } => {
                    let header = self.begin(buf);
                    buf.extend_from_slice(&frame);
                    self.finish(buf, header);
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
                    let header = self.begin(buf);
                    buf.extend_from_slice(&msgs);
                    for k in kinds {
                        self.stats.messages_out.bump(k);
                    }
                    self.piggyback(buf, None);
                    self.finish(buf, header);
                    return Some(self.datagram_out(dst, buf));
                }
                Outgoing::Gossip { dst, round } => {
                    let header = self.begin(buf);
                    if self.piggyback(buf, Some(round)) == 0 {
                        continue;
                    }
                    self.finish(buf, header);
                    return Some(self.datagram_out(dst, buf));
                }
            }
        }
        None
    }

    /// The next instant `handle_timeout` wants to be called at; `None` never happens while
    /// the node runs but is kept for future states.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self
            .next_gossip
            .min(self.next_push_pull)
            .min(self.next_reconnect);
        t = t.min(self.next_seed_reannounce);
        if self.status == LocalStatus::Alive {
            t = t.min(self.next_probe);
            if let Some(p) = &self.probe {
                t = t.min(p.next_deadline());
            }
        }
        if let Some((deadline, _)) = self.suspicion_timers.first() {
            t = t.min(*deadline);
        }
        if let Some((deadline, _)) = self.serf.query_timers.first() {
            t = t.min(*deadline);
        }
        for r in &self.relays {
            t = t.min(r.deadline());
        }
        Some(t)
    }

    /// The advertise address of the next peer that answered one of our push-pulls (a join,
    /// a periodic exchange or a reconnect), oldest first. Lets an adapter tell when a join
    /// succeeded without reading frames itself (they may be sealed). At most
    /// `4 × SEEDS_MAX` are kept; older ones are dropped.
    pub fn poll_push_pull_reply(&mut self) -> Option<SocketAddr> {
        self.push_pull_replies.pop_front()
    }

    /// The next event for the application, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----------------------------------------------------------------------------------
    // Getters
    // ----------------------------------------------------------------------------------

    /// This node as a member.
    pub fn local(&self) -> MemberRef<'_> {
        MemberRef {
            entry: self.local_entry(),
        }
    }

    /// Every known member (all states, this node included), in table order.
    pub fn members(&self) -> impl Iterator<Item = MemberRef<'_>> {
        self.members.iter().map(|(_, entry)| MemberRef { entry })
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<MemberRef<'_>> {
        self.members
            .find(name)
            .and_then(|s| self.members.get(s))
            .map(|entry| MemberRef { entry })
    }

    /// Number of known members in any state.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Members alive or suspect, this node included: the cluster size used by the
    /// protocol's formulas.
    pub fn live_members(&self) -> usize {
        self.live_count
    }

    /// The Lifeguard local health score: 0 is healthy, up to
    /// `awareness_max_multiplier - 1`.
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.broadcasts_dropped_by_class = self.broadcasts.dropped();
        s.broadcasts_dropped_by_class[BroadcastClass::Membership as usize] += self.news.dropped;
        s.broadcasts_dropped = s.broadcasts_dropped_by_class.iter().sum();
        s.broadcasts_invalidated = self.broadcasts.invalidated() + self.news.invalidated;
        s
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Broadcasts still waiting to be gossiped (all classes).
    pub fn pending_broadcasts(&self) -> usize {
        self.broadcasts.len() + self.news.len()
    }

    /// Broadcasts of one class still waiting to be gossiped.
    pub fn pending_broadcasts_of(&self, class: BroadcastClass) -> usize {
        if class == BroadcastClass::Membership {
            self.news.len() + self.broadcasts.class_len(class)
        } else {
            self.broadcasts.class_len(class)
        }
    }

    /// Outbound messages waiting for `poll_transmit`.
    pub fn pending_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Undelivered events.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Installs (or with `None` removes) the keyring: with one, packets are sealed with the
    /// primary key (unless `send_plaintext`) and opened with any key; plaintext is accepted
    /// only with `accept_plaintext`.
    pub fn set_keyring(&mut self, keyring: Option<crate::seal::Keyring>) {
        self.keyring = keyring;
    }

    /// The keyring in force.
    pub fn keyring(&self) -> Option<&crate::seal::Keyring> {
        self.keyring.as_ref()
    }

    /// Keyring changes in place (install, use, remove a key).
    pub fn keyring_mut(&mut self) -> Option<&mut crate::seal::Keyring> {
        self.keyring.as_mut()
    }

    /// While a keyring is set: also accept plaintext packets (step 1 of turning encryption
    /// on in a live cluster). See [`Config::accept_plaintext`].
    pub fn set_accept_plaintext(&mut self, on: bool) {
        self.accept_plaintext = on;
    }

    /// While a keyring is set: keep sending plaintext (step 1 of turning encryption on in a
    /// live cluster). See [`Config::send_plaintext`].
    pub fn set_send_plaintext(&mut self, on: bool) {
        self.send_plaintext = on;
    }

    /// Whether this node has left.
    pub fn has_left(&self) -> bool {
        self.status == LocalStatus::Left
    }

    /// Approximate heap bytes held by the member table (for memory reports).
    pub fn member_table_bytes(&self) -> usize {
        self.members.heap_bytes() + self.probe_order.capacity() * 4
    }

    // ----------------------------------------------------------------------------------
    // Internals shared by the protocol modules
    // ----------------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    /// Checks the envelope, the cluster label and the seal; returns the message bytes.
    fn open<'b>(&mut self, bytes: &'b [u8], max: usize) -> Result<Body<'b>, InboundError> {
        let packet = wire::decode_packet(bytes, max).map_err(|e| self.count_decode_error(e))?;
        let ours = self.config.label.as_deref().filter(|l| !l.is_empty());
        if packet.label != ours {
            self.stats.label_mismatches += 1;
            return Err(InboundError::LabelMismatch);
        }
        if packet.sealed {
            let opened = self
                .keyring
                .as_ref()
                .and_then(|k| k.open(packet.header, packet.body));
            return match opened {
                Some(plain) => Ok(Body::Owned(plain)),
                None => {
                    self.stats.decrypt_failures += 1;
                    Err(InboundError::Undecryptable)
                }
            };
        }
        if self.keyring.is_some() && !self.accept_plaintext {
            self.stats.plaintext_rejected += 1;
            return Err(InboundError::PlaintextRejected);
        }
        Ok(Body::Borrowed(packet.body))
    }

    /// Bytes left for messages in a datagram once the envelope (label) and the seal are
    /// counted.
    pub(crate) fn datagram_room(&self) -> usize {
        let label = self
            .config
            .label
            .as_deref()
            .filter(|l| !l.is_empty())
            .map_or(0, |l| 1 + l.len().min(255));
        let seal = if self.sealing() {
            crate::seal::SEAL_OVERHEAD
        } else {
            0
        };
        self.config
            .packet_bytes_max
            .saturating_sub(wire::ENVELOPE_BYTES + label + seal)
    }

    /// Whether outbound packets are sealed.
    pub(crate) fn sealing(&self) -> bool {
        self.keyring.is_some() && !self.send_plaintext
    }

    /// Writes the envelope header into an empty `buf`; returns its length.
    fn begin(&self, buf: &mut Vec<u8>) -> usize {
        wire::begin_packet(buf, self.config.label.as_deref());
        buf.len()
    }

    /// Seals the body after `header_len` in place when encryption is on.
    fn finish(&mut self, buf: &mut Vec<u8>, header_len: usize) {
        if !self.sealing() {
            return;
        }
        let Some(keyring) = self.keyring.as_ref() else {
            return;
        };
        buf[1] |= wire::FLAG_SEALED;
        let body = buf.split_off(header_len);
        let header = buf.clone();
        keyring.seal(&mut self.rng, &header, &body, buf);
    }

    fn count_decode_error(&mut self, e: DecodeError) -> InboundError {
        if e == DecodeError::UnknownMessage {
            self.stats.unknown_messages += 1;
        } else {
            self.stats.decode_errors += 1;
        }
        InboundError::Decode(e)
    }

    fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message<'_>,
        channel: Channel,
    ) -> Result<(), InboundError> {
        self.stats.messages_in.bump(msg.kind());
        let result = match msg {
            Message::Ping(p) => self.on_ping(now, from, &p, channel),
            Message::PingReq(p) => self.on_ping_req(now, &p),
            Message::Ack(a) => {
                self.on_ack(now, a.seq);
                Ok(())
            }
            Message::Nack(n) => {
                self.on_nack(n.seq);
                Ok(())
            }
            Message::Alive(a) => self.on_alive(now, &a).map(|_| ()),
            Message::Suspect(s) => self.on_suspect(now, s.node, Incarnation(s.incarnation), s.from),
            Message::Dead(d) => self.on_dead(now, d.node, Incarnation(d.incarnation), d.from),
            Message::Leave(l) => self.on_leave(now, l.node, Incarnation(l.incarnation)),
            Message::PushPull(p) if channel == Channel::Stream => self.on_push_pull(now, &p),
            Message::Intent(i) => self.on_intent(now, &i),
            Message::UserEvent(e) => {
                self.on_user_event(now, &e, true);
                Ok(())
            }
            Message::Query(q) => self.on_query(now, &q),
            Message::QueryResponse(r) => self.on_query_response(&r),
            Message::QueryRelay(r) => self.on_query_relay(&r),
            Message::SerfState(s) if channel == Channel::Stream => {
                let join_reply = core::mem::take(&mut self.merging_join_reply);
                self.on_serf_state(now, &s, join_reply);
                Ok(())
            }
            _ => Err(InboundError::WrongChannel),
        };
        if result.is_err() {
            self.stats.invalid_messages += 1;
        }
        result
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

    /// Tops `buf` up with broadcasts; returns the bytes added. Fair filling: every kind of
    /// news with something pending (membership, intents, queries, events) gets an equal
    /// share of the room first, then the leftover goes round, starting from a rotating one.
    fn piggyback(&mut self, buf: &mut Vec<u8>, round: Option<u64>) -> usize {
        let overhead = if self.sealing() {
            crate::seal::SEAL_OVERHEAD
        } else {
            0
        };
        let budget = self
            .config
            .packet_bytes_max
            .saturating_sub(buf.len() + overhead);
        let limit = self.retransmit_limit();
        let round = round.unwrap_or_else(|| self.broadcasts.new_round());
        let pending = BroadcastClass::ALL.map(|c| self.pending_broadcasts_of(c) > 0);
        if !pending.contains(&true) {
            return 0;
        }
        let packet = self.broadcasts.new_packet();
        crate::broadcast::fair_fill(budget, pending, packet, |class, room| {
            self.fill_class(class, buf, room, limit, packet, round)
        })
    }

    fn fill_class(
        &mut self,
        class: BroadcastClass,
        buf: &mut Vec<u8>,
        budget: usize,
        limit: u32,
        packet: u64,
        round: u64,
    ) -> usize {
        if class == BroadcastClass::Membership {
            return self.fill_news(buf, budget, limit, packet, round);
        }
        let stats = &mut self.stats;
        self.broadcasts
            .fill_class(class, buf, budget, limit, packet, round, |k| {
                stats.messages_out.bump(k)
            })
    }

    /// Encodes pending membership news from the member table into `buf`.
    fn fill_news(
        &mut self,
        buf: &mut Vec<u8>,
        mut budget: usize,
        limit: u32,
        packet: u64,
        round: u64,
    ) -> usize {
        use crate::news::{FROM_SELF, News};
        let mut taken: Vec<u32> = Vec::new();
        let mut spent: Vec<u32> = Vec::new();
        let mut added = 0;
        let mut misses = 0;
        let mut scratch = core::mem::take(&mut self.scratch);
        let local = self.local_slot;
        for (slot, p) in self.news.iter() {
            if budget < 8 || misses >= 64 {
                break;
            }
            if News::is_spent(&p, limit, round) {
                spent.push(slot);
                continue;
            }
            if p.packet == packet as u32 && p.packet != 0 {
                continue;
            }
            let Some(e) = self.members.get(slot) else {
                spent.push(slot);
                continue;
            };
            let from_slot = if p.from == FROM_SELF { local } else { p.from };
            let from = self
                .members
                .get(from_slot)
                .or_else(|| self.members.get(local))
                .map_or("", |f| f.name.as_str());
            let node = e.name.as_str();
            let incarnation = e.incarnation.0;
            let msg = match e.state {
                MemberState::Alive => Self::alive_message(e),
                MemberState::Suspect => Message::Suspect(wire::Suspect {
                    node,
                    incarnation,
                    from,
                }),
                MemberState::Failed => Message::Dead(wire::Dead {
                    node,
                    incarnation,
                    from,
                }),
                MemberState::Left => Message::Leave(wire::Leave { node, incarnation }),
            };
            scratch.clear();
            wire::encode_message(&msg, &mut scratch);
            let need = wire::framed_len(scratch.len());
            if need > budget {
                misses += 1;
                continue;
            }
            wire::push_encoded(buf, &scratch);
            self.stats.messages_out.bump(msg.kind());
            budget -= need;
            added += need;
            taken.push(slot);
        }
        self.scratch = scratch;
        for slot in spent {
            self.news.remove(slot);
        }
        for slot in taken {
            self.news.sent(slot, packet, round, limit);
        }
        added
    }

    /// `retransmit_mult × ⌈log10(N+1)⌉`; ⌈log10(N+1)⌉ is the digit count of N.
    pub(crate) fn retransmit_limit(&self) -> u32 {
        let factor = crate::member::size_factor(self.live_count);
        self.config.retransmit_mult.saturating_mul(factor)
    }

    pub(crate) fn local_entry(&self) -> &Entry {
        // The local slot is created in `new` and never removed.
        match self.members.get(self.local_slot) {
            Some(e) => e,
            None => unreachable!("local member is never removed"),
        }
    }

    pub(crate) fn member_snapshot(&self, slot: u32) -> crate::member::Member {
        match self.members.get(slot) {
            Some(entry) => MemberRef { entry }.to_member(),
            None => unreachable!("snapshot of an empty slot"),
        }
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.events_max {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        self.events.push_back(event);
    }

    fn queue_out(&mut self, out: Outgoing) {
        if self.transmits.len() >= self.config.transmit_queue_max {
            self.stats.transmits_dropped += 1;
            return;
        }
        self.transmits.push_back(out);
    }

    /// Queues one message as its own datagram to `dst` (broadcasts are added at send time).
    pub(crate) fn send_datagram(&mut self, dst: SocketAddr, msgs: &[Message<'_>]) {
        let mut framed = Vec::new();
        let mut kinds = heapless::Vec::new();
        for m in msgs {
            wire::push_message(&mut framed, m);
            let _ = kinds.push(m.kind());
        }
        if framed.len() > self.datagram_room() {
            // Long names, a long label and the seal can push even one message past the
            // packet budget: such messages take the stream channel, which carries every
            // message kind.
            self.queue_out(Outgoing::Stream {
                dst,
                frame: framed,
                kinds,
            });
            return;
        }
        self.queue_out(Outgoing::Datagram {
            dst,
            msgs: framed,
            kinds,
        });
    }

    /// Queues a gossip datagram to `dst` as part of gossip round `round`.
    pub(crate) fn send_gossip(&mut self, dst: SocketAddr, round: u64) {
        self.queue_out(Outgoing::Gossip { dst, round });
    }

    /// Queues `msg` as one stream frame to `dst` (the envelope is added at send time).
    pub(crate) fn send_stream(&mut self, dst: SocketAddr, msg: &Message<'_>) {
        let mut frame = Vec::new();
        wire::push_message(&mut frame, msg);
        let kinds = heapless::Vec::from_slice(&[msg.kind()]).unwrap_or_default();
        self.queue_out(Outgoing::Stream { dst, frame, kinds });
    }

    /// Queues the messages of a stream frame already built (push-pull state), without the
    /// envelope.
    pub(crate) fn send_stream_frame(&mut self, dst: SocketAddr, frame: Vec<u8>, kind: MessageKind) {
        let kinds = heapless::Vec::from_slice(&[kind]).unwrap_or_default();
        self.queue_out(Outgoing::Stream { dst, frame, kinds });
    }

    /// Queues membership news about the member in `slot`: its current state is encoded from
    /// the table at send time; only a suspicion's or death's originator `from` is kept.
    pub(crate) fn queue_news(&mut self, slot: u32, from: Option<&str>) {
        let from = from.and_then(|f| self.members.find(f));
        self.news.push(
            slot,
            from.unwrap_or(crate::news::FROM_SELF),
            self.config.broadcast_queue_max,
        );
        self.stats.broadcasts_queued += 1;
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Uniform random integer in `0..n` (n > 0), without modulo bias worth caring about.
    pub(crate) fn random_below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        ((u128::from(self.rng.next_u64()) * n as u128) >> 64) as usize
    }

    /// A random span in `0..d`.
    pub(crate) fn random_span(&mut self, d: Duration) -> Duration {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if micros == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.random_below(micros as usize) as u64)
    }
}

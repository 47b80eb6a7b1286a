//! Queries (Serf): request/response across the cluster.
//!
//! The asker gossips a query stamped with the query clock; every node de-duplicates it by
//! `(ltime, id)`, passes it on, and — when its name and tags match all filters — acks at
//! once (if asked) and delivers [`Event::Query`]. The application answers with
//! [`Node::respond`], which sends the response straight to the asker and, with a relay
//! factor `k`, also through `k` random members. The asker reports each acker and responder
//! once, then [`Event::QueryDone`] at the timeout (default
//! `gossip_interval × query_timeout_mult × ⌈log10(N+1)⌉`).
//!
//! Internal queries (names starting with `_hearsay_`) are answered by the node itself:
//! `_hearsay_ping` (reachability: acks only) and `_hearsay_conflict` (a name-conflict vote:
//! the answer is the address the responder knows for the contested name).

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;
use regex_automata::meta::Regex;

use crate::broadcast::BroadcastClass;
use crate::error::{CommandError, InboundError};
use crate::event::Event;
use crate::lamport::LamportTime;
use crate::member::name_hash;
use crate::node::{LocalStatus, Node};
use crate::time::Instant;
use crate::types::{NodeName, Tags};
use crate::user_event::INTERNAL_PREFIX;
use crate::wire::{self, Message, WireAddr};

/// Internal query answered by every node with an ack (cluster-wide ping).
pub const REACHABILITY_QUERY: &str = "_hearsay_ping";
/// Internal query used to vote on a name conflict.
pub const CONFLICT_QUERY: &str = "_hearsay_conflict";
/// Prefix of the internal key-management queries (`_hearsay_key_install`, ...).
pub const KEY_QUERY_PREFIX: &str = "_hearsay_key_";
/// Most compiled regex size for a tag filter.
const REGEX_BYTES_MAX: usize = 1 << 20;

/// Identifies a query: on the asker, its own query; on a responder, the query to
/// [`respond`](Node::respond) to. Built from the query's Lamport time and random id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(u64);

impl QueryId {
    pub(crate) fn new(ltime: LamportTime, id: u32) -> Self {
        Self(((ltime.0 & 0xffff_ffff) << 32) | u64::from(id))
    }

    /// The raw value (stable for logging and RPC).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`as_u64`](Self::as_u64).
    pub fn from_u64(v: u64) -> Self {
        Self(v)
    }
}

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What to ask and whom.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Query name (not empty, not starting with `_hearsay_`).
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Only these nodes respond (empty: no name filter).
    pub filter_nodes: Vec<String>,
    /// Only nodes whose tag matches each `(key, regex)` respond.
    pub filter_tags: Vec<(String, String)>,
    /// Ask for acks as soon as the query arrives.
    pub request_ack: bool,
    /// Also relay responses through this many random members (more robust, more traffic).
    pub relay_factor: u8,
    /// How long to collect responses; `None` for the default.
    pub timeout: Option<Duration>,
}

/// A key-management operation run on every node through an internal query (Serf's
/// `serf keys -install/-use/-remove/-list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOp {
    /// Add a secondary key.
    Install,
    /// Make an installed key the primary.
    Use,
    /// Remove a secondary key.
    Remove,
    /// Report every key.
    List,
}

impl KeyOp {
    fn query_name(self) -> &'static str {
        match self {
            KeyOp::Install => "_hearsay_key_install",
            KeyOp::Use => "_hearsay_key_use",
            KeyOp::Remove => "_hearsay_key_remove",
            KeyOp::List => "_hearsay_key_list",
        }
    }

    fn from_query_name(name: &str) -> Option<Self> {
        [KeyOp::Install, KeyOp::Use, KeyOp::Remove, KeyOp::List]
            .into_iter()
            .find(|op| op.query_name() == name)
    }
}

/// A node's answer to a key query: the payload of its [`Event::QueryResponse`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyResponse {
    /// Whether the operation succeeded on that node.
    pub ok: bool,
    /// Why not, when it failed.
    pub error: String,
    /// The node's keys, primary first (for [`KeyOp::List`]; empty otherwise).
    pub keys: Vec<[u8; crate::seal::KEY_BYTES]>,
}

impl KeyResponse {
    /// Parses a response payload.
    ///
    /// # Errors
    /// [`crate::DecodeError::Malformed`] when it is not a key response.
    pub fn decode(payload: &[u8]) -> Result<Self, crate::DecodeError> {
        postcard::from_bytes(payload).map_err(|_| crate::DecodeError::Malformed)
    }

    fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// What an asked query is for.
#[derive(Clone, Debug)]
pub(crate) enum Purpose {
    User,
    Conflict,
}

/// A query this node asked.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub deadline: Instant,
    pub acks: BTreeSet<u64>,
    pub responders: BTreeSet<u64>,
    pub purpose: Purpose,
    pub votes_for_us: u32,
    pub votes: u32,
    pub other: Option<WireAddr>,
}

/// A query this node received and may still answer.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub asker: WireAddr,
    pub ltime: u64,
    pub id: u32,
    pub relay_factor: u8,
    pub deadline: Instant,
}

/// Whether a node called `name` with `tags` matches every filter. An invalid regex matches
/// nothing.
pub(crate) fn filters_match(filters: &[wire::Filter<'_>], name: &str, tags: &Tags) -> bool {
    filters.iter().all(|f| match f {
        wire::Filter::Nodes(names) => names.contains(&name),
        wire::Filter::Tag { key, regex } => match (tags.get(key), compile(regex)) {
            (Some(v), Some(re)) => re.is_match(v),
            _ => false,
        },
    })
}

fn compile(pattern: &str) -> Option<Regex> {
    let config = regex_automata::meta::Config::new().nfa_size_limit(Some(REGEX_BYTES_MAX));
    Regex::builder().configure(config).build(pattern).ok()
}

impl<R: RngCore> Node<R> {
    /// The default query timeout for the current cluster size.
    pub fn default_query_timeout(&self) -> Duration {
        let factor = crate::member::size_factor(self.live_count);
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
        if params.name.is_empty() || params.name.starts_with(INTERNAL_PREFIX) {
            return Err(CommandError::ReservedName);
        }
        self.query_inner(now, params, Purpose::User)
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
        let params = QueryParams {
            name: REACHABILITY_QUERY.into(),
            request_ack: true,
            timeout,
            ..QueryParams::default()
        };
        self.query_inner(now, &params, Purpose::User)
    }

    /// Runs a key operation on every node (this one included) through an internal query;
    /// each node answers with a [`KeyResponse`] in an [`Event::QueryResponse`]. Keys only
    /// ever travel sealed: nodes ignore key queries that arrived in plaintext.
    ///
    /// # Errors
    /// [`CommandError::EncryptionDisabled`] without a keyring or while sending plaintext;
    /// [`CommandError::InvalidKey`] when `Install`/`Use`/`Remove` get no key; as
    /// [`query`](Self::query) otherwise.
    pub fn key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        key: Option<&crate::seal::SecretKey>,
        timeout: Option<Duration>,
    ) -> Result<QueryId, CommandError> {
        if self.keyring.is_none() || self.send_plaintext {
            return Err(CommandError::EncryptionDisabled);
        }
        let payload = match (op, key) {
            (KeyOp::List, _) => Vec::new(),
            (_, Some(k)) => k.as_bytes().to_vec(),
            (_, None) => return Err(CommandError::InvalidKey),
        };
        let params = QueryParams {
            name: op.query_name().into(),
            payload,
            timeout,
            ..QueryParams::default()
        };
        self.inbound_sealed = true;
        let result = self.query_inner(now, &params, Purpose::User);
        self.inbound_sealed = false;
        result
    }

    /// Applies a key query locally and builds the answer.
    fn answer_key_query(&mut self, op: KeyOp, payload: &[u8]) -> KeyResponse {
        let fail = |error: &str| KeyResponse {
            ok: false,
            error: error.into(),
            keys: Vec::new(),
        };
        if !self.inbound_sealed {
            return fail("key queries are only accepted sealed");
        }
        let Some(ring) = self.keyring.as_mut() else {
            return fail("encryption is not enabled");
        };
        let key = crate::seal::SecretKey::from_slice(payload);
        let result = match (op, key) {
            (KeyOp::List, _) => Ok(()),
            (KeyOp::Install, Ok(k)) => ring.install(k),
            (KeyOp::Use, Ok(k)) => ring.use_key(&k),
            (KeyOp::Remove, Ok(k)) => ring.remove(&k),
            (_, Err(e)) => Err(e),
        };
        match result {
            Ok(()) => KeyResponse {
                ok: true,
                error: String::new(),
                keys: if op == KeyOp::List {
                    ring.keys().iter().map(|k| *k.as_bytes()).collect()
                } else {
                    Vec::new()
                },
            },
            Err(e) => fail(&alloc::format!("{e}")),
        }
    }

    fn query_inner(
        &mut self,
        now: Instant,
        params: &QueryParams,
        purpose: Purpose,
    ) -> Result<QueryId, CommandError> {
        if self.status == LocalStatus::Left {
            return Err(CommandError::Left);
        }
        let len = params.name.len() + params.payload.len();
        if len > self.config.query_bytes_max {
            return Err(CommandError::PayloadTooLarge {
                what: "query",
                limit: "query_bytes_max",
                len,
                max: self.config.query_bytes_max,
            });
        }
        if self.serf.asked.len() >= self.config.queries_max {
            return Err(CommandError::TooManyQueries);
        }
        let mut filters = Vec::new();
        if !params.filter_nodes.is_empty() {
            if params.filter_nodes.iter().any(|n| !NodeName::is_valid(n)) {
                return Err(CommandError::InvalidFilter);
            }
            filters.push(wire::Filter::Nodes(
                params.filter_nodes.iter().map(String::as_str).collect(),
            ));
        }
        for (key, regex) in &params.filter_tags {
            if compile(regex).is_none() {
                return Err(CommandError::InvalidFilter);
            }
            filters.push(wire::Filter::Tag { key, regex });
        }
        let timeout = params
            .timeout
            .unwrap_or_else(|| self.default_query_timeout());
        let ltime = self.serf.query_clock.time();
        self.serf.query_clock.increment();
        let id = self.rng.next_u32();
        let qid = QueryId::new(ltime, id);
        let deadline = now + timeout;
        self.serf.asked.insert(
            qid,
            Asked {
                deadline,
                acks: BTreeSet::new(),
                responders: BTreeSet::new(),
                purpose,
                votes_for_us: 0,
                votes: 0,
                other: None,
            },
        );
        self.serf.query_timers.insert((deadline, qid));
        let me = self.local_entry().name.clone();
        let q = wire::Query {
            ltime: ltime.0,
            id,
            from: me.as_str(),
            from_addr: self.local_addr,
            filters,
            request_ack: params.request_ack,
            relay_factor: params.relay_factor,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            name: &params.name,
            payload: &params.payload,
        };
        let _ = self.on_query(now, &q);
        Ok(qid)
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
        let _ = now;
        if payload.len() > self.config.query_response_bytes_max {
            return Err(CommandError::PayloadTooLarge {
                what: "query response",
                limit: "query_response_bytes_max",
                len: payload.len(),
                max: self.config.query_response_bytes_max,
            });
        }
        let p = self
            .serf
            .pending
            .remove(&id)
            .ok_or(CommandError::UnknownQuery)?;
        if self.now > p.deadline {
            return Err(CommandError::UnknownQuery);
        }
        self.send_response(&p, false, payload);
        Ok(())
    }

    fn send_response(&mut self, p: &Pending, ack: bool, payload: &[u8]) {
        let me = self.local_entry().name.clone();
        let response = wire::QueryResponse {
            ltime: p.ltime,
            id: p.id,
            from: me.as_str(),
            ack,
            payload,
        };
        let msg = Message::QueryResponse(response);
        let asker: SocketAddr = p.asker.into();
        if asker == SocketAddr::from(self.local_addr) {
            let _ = self.on_query_response(&response);
            return;
        }
        // Room for the response and, when relayed, the relay's destination address.
        let fits = wire::framed_len(wire::message_len(&msg)) + 24 <= self.datagram_room();
        if !fits {
            self.send_stream(asker, &msg);
            return;
        }
        self.send_datagram(asker, &[msg]);
        if p.relay_factor > 0 {
            let local = self.local_slot;
            let relays = self.random_members(usize::from(p.relay_factor), |s, e| {
                s != local && e.state == crate::member::MemberState::Alive && e.addr != p.asker
            });
            for slot in relays {
                if let Some(addr) = self.members.get(slot).map(|e| e.socket_addr()) {
                    let relay = Message::QueryRelay(wire::QueryRelay {
                        dest: p.asker,
                        response,
                    });
                    self.send_datagram(addr, &[relay]);
                }
            }
        }
    }

    pub(crate) fn on_query(
        &mut self,
        now: Instant,
        q: &wire::Query<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(q.from) {
            return Err(InboundError::InvalidField);
        }
        let ltime = LamportTime(q.ltime);
        self.serf.query_clock.witness(ltime);
        let cur = self.serf.query_clock.time().0;
        let size = self.serf.queries_seen.len() as u64;
        if cur > size && q.ltime < cur - size {
            return Ok(());
        }
        if !self.serf.queries_seen.insert(ltime, q.id) {
            return Ok(());
        }
        self.stats.queries_received += 1;
        let key = alloc::format!("\u{2}q{}:{:x}", q.ltime, q.id);
        // Key queries carry keys: never pass them on in plaintext.
        if !q.name.starts_with(KEY_QUERY_PREFIX) || self.sealing() {
            self.disseminate(BroadcastClass::Query, &key, &Message::Query(q.clone()));
        }
        if self.status == LocalStatus::Left {
            return Ok(());
        }
        let me = self.local_entry().name.clone();
        let tags = Tags::decode(self.local_entry().tags_bytes()).unwrap_or_default();
        if !filters_match(&q.filters, me.as_str(), &tags) {
            return Ok(());
        }
        let timeout = Duration::from_millis(u64::from(q.timeout_ms));
        let pending = Pending {
            asker: q.from_addr,
            ltime: q.ltime,
            id: q.id,
            relay_factor: q.relay_factor,
            deadline: now + timeout,
        };
        if q.request_ack {
            self.send_response(&pending, true, &[]);
        }
        let qid = QueryId::new(ltime, q.id);
        if q.name.starts_with(INTERNAL_PREFIX) {
            if let Some(op) = KeyOp::from_query_name(q.name) {
                let answer = self.answer_key_query(op, q.payload).encode();
                self.send_response(&pending, false, &answer);
            } else if q.name == CONFLICT_QUERY {
                // Answer with the address we know for the contested name.
                let answer = core::str::from_utf8(q.payload)
                    .ok()
                    .and_then(|n| self.member(n))
                    .map(|m| postcard::to_allocvec(&WireAddr::from(m.addr())).unwrap_or_default())
                    .unwrap_or_default();
                self.send_response(&pending, false, &answer);
            }
            return Ok(());
        }
        while self.serf.pending.len() >= self.config.pending_responses_max {
            self.serf.pending.pop_first();
        }
        self.serf.pending.insert(qid, pending);
        self.stats.queries_delivered += 1;
        self.push_event(Event::Query {
            id: qid,
            ltime,
            name: q.name.into(),
            payload: q.payload.into(),
            from: NodeName::new(q.from).map_err(|_| InboundError::InvalidField)?,
        });
        Ok(())
    }

    pub(crate) fn on_query_response(
        &mut self,
        r: &wire::QueryResponse<'_>,
    ) -> Result<(), InboundError> {
        if !NodeName::is_valid(r.from) {
            return Err(InboundError::InvalidField);
        }
        let qid = QueryId::new(LamportTime(r.ltime), r.id);
        let local_addr = self.local_addr;
        let Some(a) = self.serf.asked.get_mut(&qid) else {
            return Ok(());
        };
        if self.now > a.deadline {
            return Ok(());
        }
        let h = name_hash(r.from);
        let from = NodeName::new(r.from).map_err(|_| InboundError::InvalidField)?;
        if r.ack {
            if a.acks.insert(h) {
                self.stats.query_responses_received += 1;
                self.push_event(Event::QueryAck { id: qid, from });
            }
            return Ok(());
        }
        if !a.responders.insert(h) {
            return Ok(());
        }
        self.stats.query_responses_received += 1;
        match a.purpose {
            Purpose::User => {
                self.push_event(Event::QueryResponse {
                    id: qid,
                    from,
                    payload: r.payload.into(),
                });
            }
            Purpose::Conflict => {
                if let Ok(addr) = postcard::from_bytes::<WireAddr>(r.payload) {
                    a.votes += 1;
                    if addr == local_addr {
                        a.votes_for_us += 1;
                    } else {
                        a.other = Some(addr);
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn on_query_relay(&mut self, r: &wire::QueryRelay<'_>) -> Result<(), InboundError> {
        if !NodeName::is_valid(r.response.from) {
            return Err(InboundError::InvalidField);
        }
        self.stats.query_relays += 1;
        if r.dest == self.local_addr {
            return self.on_query_response(&r.response);
        }
        self.send_datagram(r.dest.into(), &[Message::QueryResponse(r.response)]);
        Ok(())
    }

    /// Ends queries past their timeout and forgets stale pending responses.
    pub(crate) fn expire_queries(&mut self, now: Instant) {
        while let Some(&(deadline, qid)) = self.serf.query_timers.first() {
            if deadline > now {
                break;
            }
            self.serf.query_timers.pop_first();
            let Some(a) = self.serf.asked.remove(&qid) else {
                continue;
            };
            match a.purpose {
                Purpose::User => self.push_event(Event::QueryDone { id: qid }),
                Purpose::Conflict => self.conflict_vote_done(qid, &a),
            }
        }
        self.serf.pending.retain(|_, p| p.deadline >= now);
    }

    /// Seen an alive about ourselves at another address: either our own previous
    /// incarnation (a restart; that address is dead) or a rival holding our name. Ping the
    /// other address under our name, and tell it about us; an ack proves a live rival and
    /// starts a vote (see `on_conflict_ack`).
    pub(crate) fn note_name_conflict(&mut self, now: Instant, other: WireAddr) {
        if self.serf.conflict_vote.is_some() {
            return;
        }
        let recent = self
            .serf
            .conflict_ping
            .is_some_and(|(_, at)| now.saturating_duration_since(at) < Duration::from_secs(5));
        if recent {
            return;
        }
        let seq = self.next_seq();
        self.serf.conflict_ping = Some((seq, now));
        let me = self.local_entry().clone();
        let ping = Message::Ping(wire::Ping {
            seq,
            target: me.name.as_str(),
            source: me.name.as_str(),
            source_addr: self.local_addr,
        });
        self.send_datagram(other.into(), &[ping, Self::alive_message(&me)]);
    }

    /// An ack to our conflict ping: a live rival holds our name. Returns whether `seq` was
    /// that ping.
    pub(crate) fn on_conflict_ack(&mut self, now: Instant, seq: u32) -> bool {
        if self.serf.conflict_ping.is_none_or(|(s, _)| s != seq) {
            return false;
        }
        self.serf.conflict_ping = None;
        if self.serf.conflict_vote.is_some() || self.status != LocalStatus::Alive {
            return true;
        }
        let name = self.local_entry().name.clone();
        let params = QueryParams {
            name: CONFLICT_QUERY.into(),
            payload: name.as_str().as_bytes().into(),
            ..QueryParams::default()
        };
        if let Ok(qid) = self.query_inner(now, &params, Purpose::Conflict) {
            self.serf.conflict_vote = Some(qid);
        }
        true
    }

    fn conflict_vote_done(&mut self, qid: QueryId, a: &Asked) {
        if self.serf.conflict_vote == Some(qid) {
            self.serf.conflict_vote = None;
        }
        // Our own answer counts for us; we win with a strict majority of the answers, and
        // then re-assert the name with a fresh incarnation.
        if a.votes == 0 || a.votes_for_us * 2 > a.votes {
            if self.status == LocalStatus::Alive {
                let inc = self.local_entry().incarnation;
                self.refute(self.now, inc);
            }
            return;
        }
        let name = self.local_entry().name.clone();
        self.status = LocalStatus::Left;
        self.probe = None;
        self.push_event(Event::NameConflict {
            name,
            winner: a.other.map(Into::into),
            votes_for_us: a.votes_for_us,
            votes: a.votes,
        });
    }

    /// Whether this node lost a name-conflict vote and stopped.
    pub fn lost_name_conflict(&self) -> bool {
        self.status == LocalStatus::Left && self.local_entry().state.is_live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_names_and_tag_regexes_and_all_must_hold() {
        let tags: Tags = [("role", "web-frontend"), ("dc", "eu")]
            .into_iter()
            .collect();
        let names = wire::Filter::Nodes(alloc::vec!["a", "b"]);
        let role = wire::Filter::Tag {
            key: "role",
            regex: "^web",
        };
        let dc = wire::Filter::Tag {
            key: "dc",
            regex: "us",
        };
        assert!(filters_match(&[], "z", &tags));
        assert!(filters_match(core::slice::from_ref(&names), "a", &tags));
        assert!(!filters_match(core::slice::from_ref(&names), "c", &tags));
        assert!(filters_match(&[names.clone(), role.clone()], "b", &tags));
        assert!(!filters_match(&[role.clone(), dc], "b", &tags));
        let missing = wire::Filter::Tag {
            key: "rack",
            regex: ".*",
        };
        assert!(
            !filters_match(&[missing], "a", &tags),
            "a missing tag never matches"
        );
        let broken = wire::Filter::Tag {
            key: "role",
            regex: "(",
        };
        assert!(
            !filters_match(&[broken], "a", &tags),
            "an invalid regex matches nothing"
        );
    }

    #[test]
    fn query_ids_round_trip_through_u64() {
        let id = QueryId::new(LamportTime(5), 77);
        assert_eq!(QueryId::from_u64(id.as_u64()), id);
        assert_ne!(QueryId::new(LamportTime(6), 77), id);
    }
}

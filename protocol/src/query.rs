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
//! `_hearsay_ping` (reachability: acks only), `_hearsay_conflict` (a name-conflict vote,
//! see `conflict`) and `_hearsay_key_*` (key rotation, see `key_rotation`).
//!
//! [`Queries`] owns the query clock, the de-duplication ring, the queries this node asked
//! (with their timers) and the queries it may still answer.
//!
//! [`Event::Query`]: crate::Event::Query
//! [`Event::QueryDone`]: crate::Event::QueryDone
//! [`Node::respond`]: crate::Node::respond

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;
use regex_automata::meta::Regex;

use crate::config::Config;
use crate::error::CommandError;
use crate::lamport::{LamportClock, LamportTime};
use crate::member::MemberState;
use crate::membership::{Membership, name_hash};
use crate::stats::Stats;
use crate::time::Instant;
use crate::transmit::Outbound;
use crate::types::{NodeName, Tags};
use crate::wire::{self, Message, WireAddr};

/// Internal query answered by every node with an ack (cluster-wide ping).
pub const REACHABILITY_QUERY: &str = "_hearsay_ping";
/// Most compiled regex size for a tag filter.
const REGEX_BYTES_MAX: usize = 1 << 20;
/// Room a relayed response needs beyond the response: the relay's destination address.
const RELAY_OVERHEAD_BYTES: usize = 24;

/// Identifies a query: on the asker, its own query; on a responder, the query to
/// [`respond`](crate::Node::respond) to. Built from the query's Lamport time and random id.
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

/// What to ask and whom. Build with [`QueryParams::new`] and the chained setters:
///
/// ```
/// use core::time::Duration;
/// use hearsay_protocol::QueryParams;
///
/// let params = QueryParams::new("uptime")
///     .payload(b"?".to_vec())
///     .filter_tag("role", "^db$")
///     .request_ack(true)
///     .timeout(Duration::from_secs(2));
/// assert_eq!(params.filter_tags, [("role".into(), "^db$".into())]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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

impl QueryParams {
    /// A query called `name` with no payload, no filters, no acks, no relays and the
    /// default timeout.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the payload.
    #[must_use]
    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Adds a node that may respond (once any is added, only the named nodes respond).
    #[must_use]
    pub fn filter_node(mut self, name: impl Into<String>) -> Self {
        self.filter_nodes.push(name.into());
        self
    }

    /// Adds a tag filter: only nodes whose tag `key` matches the unanchored regular
    /// expression `regex` respond.
    #[must_use]
    pub fn filter_tag(mut self, key: impl Into<String>, regex: impl Into<String>) -> Self {
        self.filter_tags.push((key.into(), regex.into()));
        self
    }

    /// Asks for acks as soon as the query arrives.
    #[must_use]
    pub fn request_ack(mut self, on: bool) -> Self {
        self.request_ack = on;
        self
    }

    /// Also relays responses through `k` random members.
    #[must_use]
    pub fn relay_factor(mut self, k: u8) -> Self {
        self.relay_factor = k;
        self
    }

    /// Collects responses for `timeout` instead of the default.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// What an asked query is for: the application's, or a name-conflict vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    User,
    Conflict,
}

/// A query this node asked.
#[derive(Clone, Debug)]
struct Asked {
    deadline: Instant,
    acks: BTreeSet<u64>,
    responders: BTreeSet<u64>,
    purpose: Purpose,
}

/// A query this node received and may still answer.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    asker: WireAddr,
    ltime: u64,
    id: u32,
    relay_factor: u8,
    deadline: Instant,
}

impl Pending {
    /// The answer owed to `q`, received at `now`.
    pub fn new(q: &wire::Query<'_>, now: Instant) -> Self {
        Self {
            asker: q.from_addr,
            ltime: q.ltime,
            id: q.id,
            relay_factor: q.relay_factor,
            deadline: now + Duration::from_millis(u64::from(q.timeout_ms)),
        }
    }
}

/// What a response or ack to one of our queries means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Not ours, late, or a repeat: nothing to report.
    Ignored,
    /// The first ack from this responder.
    Ack(QueryId),
    /// The first response from this responder to an application query.
    Response(QueryId),
    /// The first answer from this responder to a name-conflict vote.
    Vote(QueryId),
}

/// Which (ltime, id) pairs of queries were seen, in a ring like the event buffer.
#[derive(Clone, Debug)]
struct QueryBuffer {
    slots: Vec<Option<(LamportTime, heapless::Vec<u32, 16>)>>,
}

impl QueryBuffer {
    fn new(size: usize) -> Self {
        Self {
            slots: alloc::vec![None; size.max(1)],
        }
    }

    /// Records `(ltime, id)`; false when already seen (or the slot is full of others).
    fn insert(&mut self, ltime: LamportTime, id: u32) -> bool {
        let i = (ltime.0 % self.slots.len() as u64) as usize;
        match &mut self.slots[i] {
            Some((t, ids)) if *t == ltime => {
                if ids.contains(&id) {
                    return false;
                }
                ids.push(id).is_ok()
            }
            slot => {
                let mut ids = heapless::Vec::new();
                let _ = ids.push(id);
                *slot = Some((ltime, ids));
                true
            }
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
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

/// The broadcast key of a query: unique per query, so queries never replace each other.
pub(crate) fn query_key(ltime: u64, id: u32) -> String {
    alloc::format!("\u{2}q{ltime}:{id:x}")
}

/// Checks what to ask: the size of name plus payload, the number of queries in flight
/// (`asked`) and the filters. Returns the filters in wire form.
pub(crate) fn check_params<'p>(
    params: &'p QueryParams,
    asked: usize,
    config: &Config,
) -> Result<Vec<wire::Filter<'p>>, CommandError> {
    let len = params.name.len() + params.payload.len();
    if len > config.query_bytes_max {
        return Err(CommandError::PayloadTooLarge {
            what: "query",
            limit: "query_bytes_max",
            len,
            max: config.query_bytes_max,
        });
    }
    if asked >= config.queries_max {
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
    Ok(filters)
}

/// Sends the answer (`ack`, or a response with `payload`) owed by `p` from this node `me`:
/// straight to the asker — over the stream channel when it does not fit a datagram — and,
/// with a relay factor, also through that many random alive members. Returns the response
/// when the asker is this node, for the node to take it in.
pub(crate) fn send_response<'a>(
    p: &Pending,
    ack: bool,
    payload: &'a [u8],
    me: &'a str,
    members: &Membership,
    rng: &mut impl RngCore,
    out: &mut Outbound,
) -> Option<wire::QueryResponse<'a>> {
    let response = wire::QueryResponse {
        ltime: p.ltime,
        id: p.id,
        from: me,
        ack,
        payload,
    };
    let msg = Message::QueryResponse(response);
    let asker: SocketAddr = p.asker.into();
    if asker == SocketAddr::from(members.local_addr()) {
        return Some(response);
    }
    // Room for the response and, when relayed, the relay's destination address.
    let fits =
        wire::framed_len(wire::message_len(&msg)) + RELAY_OVERHEAD_BYTES <= out.datagram_room();
    if !fits {
        out.stream(asker, &msg);
        return None;
    }
    out.datagram(asker, &[msg]);
    if p.relay_factor > 0 {
        let local = members.local_slot();
        let relays = members.sample(rng, usize::from(p.relay_factor), |s, e| {
            s != local && e.state == MemberState::Alive && e.addr != p.asker
        });
        for slot in relays {
            if let Some(addr) = members.get(slot).map(|e| e.socket_addr()) {
                let relay = Message::QueryRelay(wire::QueryRelay {
                    dest: p.asker,
                    response,
                });
                out.datagram(addr, &[relay]);
            }
        }
    }
    None
}

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Queries {
    /// The query clock.
    clock: LamportClock,
    seen: QueryBuffer,
    asked: BTreeMap<QueryId, Asked>,
    timers: BTreeSet<(Instant, QueryId)>,
    pending: BTreeMap<QueryId, Pending>,
    received: u64,
    delivered: u64,
    responses_received: u64,
    relays: u64,
}

impl Queries {
    /// A de-duplication ring of `buffer_size` times.
    pub fn new(buffer_size: usize) -> Self {
        Self {
            clock: LamportClock::default(),
            seen: QueryBuffer::new(buffer_size),
            asked: BTreeMap::new(),
            timers: BTreeSet::new(),
            pending: BTreeMap::new(),
            received: 0,
            delivered: 0,
            responses_received: 0,
            relays: 0,
        }
    }

    /// The query clock's time.
    pub fn time(&self) -> LamportTime {
        self.clock.time()
    }

    /// Witnesses a query-clock time from a peer's Serf state.
    pub fn witness(&mut self, ltime: LamportTime) {
        self.clock.witness(ltime);
    }

    /// Queries this node asked that are still collecting answers.
    pub fn asked(&self) -> usize {
        self.asked.len()
    }

    /// The earliest timeout of a query we asked.
    pub fn deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(deadline, _)| *deadline)
    }

    /// Registers a query this node asks, collecting answers until `now + timeout`; returns
    /// its time and random id.
    pub fn ask(
        &mut self,
        now: Instant,
        timeout: Duration,
        purpose: Purpose,
        rng: &mut impl RngCore,
    ) -> (LamportTime, u32) {
        let ltime = self.clock.time();
        self.clock.increment();
        let id = rng.next_u32();
        let qid = QueryId::new(ltime, id);
        let deadline = now + timeout;
        self.asked.insert(
            qid,
            Asked {
                deadline,
                acks: BTreeSet::new(),
                responders: BTreeSet::new(),
                purpose,
            },
        );
        self.timers.insert((deadline, qid));
        (ltime, id)
    }

    /// A query arrived: witnesses its time; whether it is new (not older than the ring, not
    /// seen before). New queries are counted.
    pub fn receive(&mut self, q: &wire::Query<'_>) -> bool {
        let ltime = LamportTime(q.ltime);
        self.clock.witness(ltime);
        let cur = self.clock.time().0;
        let size = self.seen.len() as u64;
        if cur > size && q.ltime < cur - size {
            return false;
        }
        if !self.seen.insert(ltime, q.id) {
            return false;
        }
        self.received += 1;
        true
    }

    /// Keeps the answer owed to a delivered query until it is given or times out. At most
    /// `pending_responses_max`: the oldest are forgotten first.
    pub fn hold(&mut self, qid: QueryId, pending: Pending, config: &Config) {
        while self.pending.len() >= config.pending_responses_max {
            self.pending.pop_first();
        }
        self.pending.insert(qid, pending);
        self.delivered += 1;
    }

    /// The answer owed to `qid`, taken (one response per query); `None` once answered or
    /// timed out at `now`.
    pub fn take_pending(&mut self, qid: QueryId, now: Instant) -> Option<Pending> {
        let p = self.pending.remove(&qid)?;
        (now <= p.deadline).then_some(p)
    }

    /// An ack or response to one of our queries, from a responder already checked.
    pub fn on_response(&mut self, now: Instant, r: &wire::QueryResponse<'_>) -> Answer {
        let qid = QueryId::new(LamportTime(r.ltime), r.id);
        let Some(a) = self.asked.get_mut(&qid) else {
            return Answer::Ignored;
        };
        if now > a.deadline {
            return Answer::Ignored;
        }
        let h = name_hash(r.from);
        if r.ack {
            if a.acks.insert(h) {
                self.responses_received += 1;
                return Answer::Ack(qid);
            }
            return Answer::Ignored;
        }
        if !a.responders.insert(h) {
            return Answer::Ignored;
        }
        self.responses_received += 1;
        match a.purpose {
            Purpose::User => Answer::Response(qid),
            Purpose::Conflict => Answer::Vote(qid),
        }
    }

    /// A response relayed through this node (counted).
    pub fn relayed(&mut self) {
        self.relays += 1;
    }

    /// Ends the next query of ours whose timeout is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(QueryId, Purpose)> {
        loop {
            let &(deadline, qid) = self.timers.first()?;
            if deadline > now {
                return None;
            }
            self.timers.pop_first();
            if let Some(a) = self.asked.remove(&qid) {
                return Some((qid, a.purpose));
            }
        }
    }

    /// Forgets answers owed past their query's timeout.
    pub fn forget_stale(&mut self, now: Instant) {
        self.pending.retain(|_, p| p.deadline >= now);
    }

    /// Answers owed.
    #[cfg(test)]
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.queries_received = self.received;
        stats.queries_delivered = self.delivered;
        stats.query_responses_received = self.responses_received;
        stats.query_relays = self.relays;
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
    fn the_query_buffer_remembers_ids_per_time() {
        let mut b = QueryBuffer::new(4);
        assert!(b.insert(LamportTime(1), 7));
        assert!(!b.insert(LamportTime(1), 7));
        assert!(b.insert(LamportTime(1), 8));
        assert!(b.insert(LamportTime(5), 7), "slot reused by a newer time");
        assert!(b.insert(LamportTime(1), 7), "the older time was forgotten");
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn query_ids_round_trip_through_u64() {
        let id = QueryId::new(LamportTime(5), 77);
        assert_eq!(QueryId::from_u64(id.as_u64()), id);
        assert_ne!(QueryId::new(LamportTime(6), 77), id);
    }
}

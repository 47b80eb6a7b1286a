//! Message types. Every field that names a member borrows from the input.
//!
//! Probe flow (`A` probes `B`; `C` helps):
//!
//! ```text
//! A ──Ping(seq)──▶ B            direct probe
//! A ◀──Ack(seq)─── B
//!   …no ack within probe_timeout…
//! A ──PingReq(seq, B, nack)──▶ C ──Ping(seq')──▶ B
//! A ◀──────────Ack(seq)─────── C ◀──Ack(seq')─── B    (relayed ack)
//! A ◀──────────Nack(seq)────── C                      (C heard nothing either)
//! A ══Ping(seq) over stream══▶ B                      (fallback, reliable channel)
//! ```
//!
//! Dissemination: `Alive`, `Suspect`, `Dead` and `Leave` ride piggyback on any datagram.
//! Anti-entropy: `A ══PushPull{reply:false}══▶ B`, `B ══PushPull{reply:true}══▶ A`.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// A socket address on the wire: IPv4 or IPv6 plus port (no flow info or scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireAddr {
    /// IPv4 octets and port.
    V4([u8; 4], u16),
    /// IPv6 octets and port.
    V6([u8; 16], u16),
}

impl From<SocketAddr> for WireAddr {
    fn from(a: SocketAddr) -> Self {
        match a.ip() {
            IpAddr::V4(ip) => WireAddr::V4(ip.octets(), a.port()),
            IpAddr::V6(ip) => WireAddr::V6(ip.octets(), a.port()),
        }
    }
}

impl From<WireAddr> for SocketAddr {
    fn from(a: WireAddr) -> Self {
        match a {
            WireAddr::V4(ip, port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port),
            WireAddr::V6(ip, port) => SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port),
        }
    }
}

/// A member's state as gossiped in push-pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireState {
    /// Alive.
    Alive,
    /// Suspected of having failed.
    Suspect,
    /// Declared failed by others.
    Dead,
    /// Left gracefully.
    Left,
}

/// Direct probe. `target` lets a node that took over an address reject probes meant for
/// its predecessor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping<'a> {
    /// Sequence number echoed in the ack.
    pub seq: u32,
    /// Name of the member being probed.
    pub target: &'a str,
    /// Name of the prober.
    pub source: &'a str,
    /// Where the prober wants the ack (its advertise address).
    pub source_addr: WireAddr,
}

/// Request to probe `target` on the sender's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReq<'a> {
    /// Sequence number the relayed ack or nack must carry.
    pub seq: u32,
    /// Member to probe.
    pub target: &'a str,
    /// Its address.
    pub target_addr: WireAddr,
    /// Name of the requester.
    pub source: &'a str,
    /// Where to send the ack or nack.
    pub source_addr: WireAddr,
    /// Whether to send a nack when the target does not answer (Lifeguard).
    pub nack: bool,
}

/// Positive answer to a ping (or a relayed one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The ping's sequence number.
    pub seq: u32,
}

/// A relay's report that the target did not answer it either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nack {
    /// The ping-req's sequence number.
    pub seq: u32,
}

/// A member is alive at `incarnation`, at `addr`, with `tags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alive<'a> {
    /// Member name.
    pub node: &'a str,
    /// Its incarnation.
    pub incarnation: u32,
    /// Its advertise address.
    pub addr: WireAddr,
    /// Its encoded tags (see [`Tags::encode`](crate::Tags::encode)).
    pub tags: &'a [u8],
}

/// `from` suspects `node` at `incarnation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect<'a> {
    /// Suspected member.
    pub node: &'a str,
    /// Incarnation the suspicion applies to.
    pub incarnation: u32,
    /// Who suspects it.
    pub from: &'a str,
}

/// `from` declares `node` failed at `incarnation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dead<'a> {
    /// Failed member.
    pub node: &'a str,
    /// Incarnation the declaration applies to.
    pub incarnation: u32,
    /// Who declares it.
    pub from: &'a str,
}

/// `node` leaves the cluster gracefully.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave<'a> {
    /// The leaving member.
    pub node: &'a str,
    /// Its incarnation at the time.
    pub incarnation: u32,
}

/// One member in a push-pull state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPullMember<'a> {
    /// Member name.
    pub name: &'a str,
    /// Its address.
    pub addr: WireAddr,
    /// Its incarnation.
    pub incarnation: u32,
    /// Its state in the sender's view.
    pub state: WireState,
    /// Its encoded tags.
    pub tags: &'a [u8],
}

/// Full state exchange (stream channel only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPull<'a> {
    /// Part of a join (the receiver treats the sender as new).
    pub join: bool,
    /// An answer to a push-pull (no answer to it is sent).
    pub reply: bool,
    /// Sender's name.
    pub source: &'a str,
    /// Sender's advertise address (where to send the reply).
    pub source_addr: WireAddr,
    /// Every member the sender knows, itself included.
    #[serde(borrow)]
    pub members: Vec<PushPullMember<'a>>,
}

/// Serf intent kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentKind {
    /// The node joined (or rejoined) at this member-clock time.
    Join,
    /// The node left (or was force-removed) at this member-clock time.
    Leave,
}

/// A join or leave intent stamped with the member Lamport clock, so reordered membership
/// news resolves by logical time (Serf's `messageJoin` / `messageLeave`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent<'a> {
    /// Join or leave.
    pub kind: IntentKind,
    /// The member concerned.
    pub node: &'a str,
    /// Member-clock time of the intent.
    pub ltime: u64,
    /// For a leave: forget the member at once instead of keeping a tombstone.
    pub prune: bool,
}

/// A custom user event (fire and forget, delivered once per node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEvent<'a> {
    /// Event-clock time.
    pub ltime: u64,
    /// Event name.
    pub name: &'a str,
    /// Opaque payload.
    pub payload: &'a [u8],
    /// Whether consumers may coalesce it with newer events of the same name.
    pub coalesce: bool,
}

/// A query filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter<'a> {
    /// Only these node names respond.
    #[serde(borrow)]
    Nodes(Vec<&'a str>),
    /// Only nodes whose tag `key` matches the regular expression `regex` respond.
    Tag {
        /// Tag key.
        key: &'a str,
        /// Regular expression (unanchored, like Serf).
        regex: &'a str,
    },
}

/// A cluster-wide request; matching nodes answer the asker directly.
///
/// ```text
/// asker ──Query (gossiped)──▶ every node ──(filters match)──▶ QueryResponse ──▶ asker
///                                         └─ with relay_factor k: QueryRelay ×k ─▶ peer ─▶ asker
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query<'a> {
    /// Query-clock time.
    pub ltime: u64,
    /// Random id chosen by the asker.
    pub id: u32,
    /// Asker's name.
    pub from: &'a str,
    /// Where responses go.
    pub from_addr: WireAddr,
    /// All must match for a node to respond.
    #[serde(borrow)]
    pub filters: Vec<Filter<'a>>,
    /// Ask each matching node for an ack as soon as it receives the query.
    pub request_ack: bool,
    /// Responses are also sent through this many random members.
    pub relay_factor: u8,
    /// Milliseconds until the asker stops listening.
    pub timeout_ms: u32,
    /// Query name.
    pub name: &'a str,
    /// Opaque payload.
    pub payload: &'a [u8],
}

/// An ack or a response to a query, sent straight to the asker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResponse<'a> {
    /// The query's ltime.
    pub ltime: u64,
    /// The query's id.
    pub id: u32,
    /// Responder's name.
    pub from: &'a str,
    /// An ack (no payload) rather than a response.
    pub ack: bool,
    /// Response payload.
    pub payload: &'a [u8],
}

/// A response a member forwards to the asker on the responder's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRelay<'a> {
    /// The asker's address.
    pub dest: WireAddr,
    /// The response to forward.
    #[serde(borrow)]
    pub response: QueryResponse<'a>,
}

/// The Serf layer's part of a push-pull: clocks and recent events (stream only, after a
/// [`PushPull`] in the same frame).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerfState<'a> {
    /// Member clock.
    pub member_ltime: u64,
    /// Event clock.
    pub event_ltime: u64,
    /// Query clock.
    pub query_ltime: u64,
    /// Recent user events still in the sender's buffer.
    #[serde(borrow)]
    pub events: Vec<UserEvent<'a>>,
}

/// Every message. The variant index is the message tag on the wire: **append only**.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<'a> {
    /// Tag 0.
    #[serde(borrow)]
    Ping(Ping<'a>),
    /// Tag 1.
    #[serde(borrow)]
    PingReq(PingReq<'a>),
    /// Tag 2.
    Ack(Ack),
    /// Tag 3.
    Nack(Nack),
    /// Tag 4.
    #[serde(borrow)]
    Alive(Alive<'a>),
    /// Tag 5.
    #[serde(borrow)]
    Suspect(Suspect<'a>),
    /// Tag 6.
    #[serde(borrow)]
    Dead(Dead<'a>),
    /// Tag 7.
    #[serde(borrow)]
    Leave(Leave<'a>),
    /// Tag 8. Stream channel only.
    #[serde(borrow)]
    PushPull(PushPull<'a>),
    /// Tag 9.
    #[serde(borrow)]
    Intent(Intent<'a>),
    /// Tag 10.
    #[serde(borrow)]
    UserEvent(UserEvent<'a>),
    /// Tag 11.
    #[serde(borrow)]
    Query(Query<'a>),
    /// Tag 12.
    #[serde(borrow)]
    QueryResponse(QueryResponse<'a>),
    /// Tag 13.
    #[serde(borrow)]
    QueryRelay(QueryRelay<'a>),
    /// Tag 14. Stream channel only, after a `PushPull`.
    #[serde(borrow)]
    SerfState(SerfState<'a>),
}

/// Number of message tags this build knows.
pub const MESSAGE_TAGS: u32 = 15;

impl Message<'_> {
    /// The message's kind, for stats.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Ping(_) => MessageKind::Ping,
            Message::PingReq(_) => MessageKind::PingReq,
            Message::Ack(_) => MessageKind::Ack,
            Message::Nack(_) => MessageKind::Nack,
            Message::Alive(_) => MessageKind::Alive,
            Message::Suspect(_) => MessageKind::Suspect,
            Message::Dead(_) => MessageKind::Dead,
            Message::Leave(_) => MessageKind::Leave,
            Message::PushPull(_) => MessageKind::PushPull,
            Message::Intent(_) => MessageKind::Intent,
            Message::UserEvent(_) => MessageKind::UserEvent,
            Message::Query(_) => MessageKind::Query,
            Message::QueryResponse(_) => MessageKind::QueryResponse,
            Message::QueryRelay(_) => MessageKind::QueryRelay,
            Message::SerfState(_) => MessageKind::SerfState,
        }
    }
}

/// Message kinds, indexing the per-kind counters in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// A direct probe.
    Ping = 0,
    /// A request to probe a member on our behalf.
    PingReq = 1,
    /// A probe answered.
    Ack = 2,
    /// A relayed probe that got no answer.
    Nack = 3,
    /// Membership news: a member is alive.
    Alive = 4,
    /// Membership news: a member is suspected.
    Suspect = 5,
    /// Membership news: a member was declared failed.
    Dead = 6,
    /// Membership news: a member left.
    Leave = 7,
    /// A full state exchange (anti-entropy, join).
    PushPull = 8,
    /// A join or leave intent (Serf layer).
    Intent = 9,
    /// A user event.
    UserEvent = 10,
    /// A query.
    Query = 11,
    /// An ack or response to a query.
    QueryResponse = 12,
    /// A query response relayed through a member.
    QueryRelay = 13,
    /// The Serf state (clocks, recent events) of a push-pull.
    SerfState = 14,
}

impl MessageKind {
    /// All kinds in tag order.
    pub const ALL: &'static [MessageKind] = &[
        MessageKind::Ping,
        MessageKind::PingReq,
        MessageKind::Ack,
        MessageKind::Nack,
        MessageKind::Alive,
        MessageKind::Suspect,
        MessageKind::Dead,
        MessageKind::Leave,
        MessageKind::PushPull,
        MessageKind::Intent,
        MessageKind::UserEvent,
        MessageKind::Query,
        MessageKind::QueryResponse,
        MessageKind::QueryRelay,
        MessageKind::SerfState,
    ];

    /// A short lowercase name (`"ping"`, `"push_pull"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Ping => "ping",
            MessageKind::PingReq => "ping_req",
            MessageKind::Ack => "ack",
            MessageKind::Nack => "nack",
            MessageKind::Alive => "alive",
            MessageKind::Suspect => "suspect",
            MessageKind::Dead => "dead",
            MessageKind::Leave => "leave",
            MessageKind::PushPull => "push_pull",
            MessageKind::Intent => "intent",
            MessageKind::UserEvent => "user_event",
            MessageKind::Query => "query",
            MessageKind::QueryResponse => "query_response",
            MessageKind::QueryRelay => "query_relay",
            MessageKind::SerfState => "serf_state",
        }
    }
}

//! The typed middle of the RPC server: what a dialect decodes a request into, and what
//! the operations answer with. Nothing here knows a wire format.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hearsay_tokio::protocol::{Event, KeyOp, Member};

use crate::rpc::ops::{InfoReport, KeyReport, OpError};
use crate::rpc::server::SessionError;
use crate::security::PlaintextState;
use crate::tags::TagMap;

/// One request, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Opens the session: the dialect's protocol version and, in dialects that send it
    /// with the handshake, the auth token.
    Handshake {
        /// The version the client speaks.
        version: u32,
        /// The `-rpc-auth` token, when sent.
        auth: Option<String>,
    },
    /// Ends the streaming request `stop_seq` on this connection.
    Stop {
        /// Its sequence number.
        stop_seq: u64,
    },
    /// The member list, filtered.
    Members(MemberFilter),
    /// Join through these addresses.
    Join {
        /// `host[:port]` each.
        addrs: Vec<String>,
        /// Deliver the user events the cluster still buffers.
        replay: bool,
    },
    /// Leave gracefully; the agent then shuts down.
    Leave,
    /// Mark a failed member as left.
    ForceLeave {
        /// Its name.
        node: String,
        /// Forget it at once.
        prune: bool,
    },
    /// Send a user event.
    Event {
        /// Name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
        /// Allow coalescing.
        coalesce: bool,
    },
    /// Send a query; streams acks and responses.
    Query(QueryRequest),
    /// Every live member must ack; streams acks.
    Reachability {
        /// How long to wait (the core's default when absent).
        timeout: Option<Duration>,
    },
    /// Stream log lines at or above a level.
    Monitor {
        /// trace, debug, info (default), warn, error.
        log_level: Option<String>,
    },
    /// Stream cluster events matching a handler filter (`*` when absent).
    Stream {
        /// Handler filter syntax, e.g. `member-join,user:deploy`.
        types: Option<String>,
    },
    /// Change this agent's tags.
    Tags {
        /// Set these.
        set: TagMap,
        /// Then delete these.
        delete: Vec<String>,
    },
    /// Diagnostics.
    Info,
    /// A cluster-wide key operation.
    Key {
        /// Install, use, remove or list.
        op: KeyOp,
        /// Base64 key (none for list).
        key: Option<String>,
        /// How long to wait (the core's default when absent).
        timeout: Option<Duration>,
    },
    /// This agent's plaintext switches.
    SetPlaintext {
        /// Accept plaintext; unchanged when absent.
        accept: Option<bool>,
        /// Send plaintext; unchanged when absent.
        send: Option<bool>,
    },
}

impl Request {
    /// Whether the request produces stream items before its final reply.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::Query(_) | Self::Reachability { .. } | Self::Monitor { .. } | Self::Stream { .. }
        )
    }
}

/// Regex filters of a member listing; each must match the whole value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFilter {
    /// Status regex.
    pub status: Option<String>,
    /// Name regex.
    pub name: Option<String>,
    /// Tag key → value regex; a member without the tag does not match.
    pub tags: TagMap,
}

/// A query's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Only these nodes (all when empty).
    pub nodes: Vec<String>,
    /// Tag key → unanchored value regex.
    pub tags: TagMap,
    /// How long to collect (the core's default when absent).
    pub timeout: Option<Duration>,
    /// Ask for acks.
    pub request_ack: bool,
    /// Also relay responses through this many members.
    pub relay_factor: u8,
}

/// The final answer to a request that succeeded.
#[derive(Debug)]
pub enum Reply {
    /// The session is open.
    Handshake {
        /// The protocol version the agent speaks.
        version: u32,
    },
    /// Nothing to report (leave, force-leave, the end of a stopped stream's `stop`).
    Done,
    /// The members that matched.
    Members(Vec<Member>),
    /// Seeds that answered a join.
    Joined {
        /// How many.
        num: usize,
    },
    /// A user event was sent.
    EventSent {
        /// Its Lamport time.
        ltime: u64,
    },
    /// A query finished.
    QueryDone {
        /// Distinct members that acked.
        acks: usize,
        /// Distinct members that responded.
        responses: usize,
        /// Alive members that matched the filters when it was sent.
        expected: usize,
    },
    /// A reachability check finished.
    Reachability {
        /// Members known.
        members: usize,
        /// Of those, alive.
        alive: usize,
        /// Who acked.
        acks: BTreeSet<String>,
        /// Alive members that did not.
        missing: Vec<String>,
    },
    /// The tag set after a change.
    Tags(TagMap),
    /// Diagnostics.
    Info(Box<InfoReport>),
    /// The outcome of a key operation.
    Keys(KeyReport),
    /// The plaintext switches after a change.
    Plaintext(PlaintextState),
    /// The final reply of a stream ended by `stop`.
    Stopped,
}

/// One item of a streaming request, before its final reply.
#[derive(Debug, Clone)]
pub enum Item {
    /// A member acked a query (or a reachability check).
    Ack(String),
    /// A member responded to a query.
    Response {
        /// Who.
        from: String,
        /// What.
        payload: Vec<u8>,
    },
    /// A log line (`monitor`).
    Log(String),
    /// Log lines this client missed because it read too slowly.
    LogsDropped(u64),
    /// A cluster event (`stream`).
    Event(Arc<Event>),
    /// Cluster events this client missed because it read too slowly.
    EventsDropped(u64),
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The session refused it (handshake, auth, connection limits).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The dialect could not decode it.
    #[error(transparent)]
    Decode(Box<dyn std::error::Error + Send + Sync>),
    /// The operation failed.
    #[error(transparent)]
    Op(#[from] OpError),
}

/// What the connection sends: a final reply, a final error, or a stream item, each for
/// one request `seq`.
#[derive(Debug)]
pub struct Outgoing {
    /// The request it answers.
    pub seq: u64,
    /// What it says.
    pub body: Body,
}

/// See [`Outgoing`].
#[derive(Debug)]
pub enum Body {
    /// The request succeeded; nothing more follows for it.
    Reply(Reply),
    /// The request failed; nothing more follows for it.
    Error(RpcError),
    /// More follows.
    Item(Item),
}

impl Outgoing {
    /// A success.
    pub fn reply(seq: u64, reply: Reply) -> Self {
        Self {
            seq,
            body: Body::Reply(reply),
        }
    }

    /// A failure.
    pub fn error(seq: u64, error: impl Into<RpcError>) -> Self {
        Self {
            seq,
            body: Body::Error(error.into()),
        }
    }

    /// A stream item.
    pub fn item(seq: u64, item: Item) -> Self {
        Self {
            seq,
            body: Body::Item(item),
        }
    }
}

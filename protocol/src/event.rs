//! What the node reports to its user through [`Node::poll_event`](crate::Node::poll_event).

use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::lamport::LamportTime;
use crate::member::Member;
use crate::query::QueryId;
use crate::types::NodeName;

/// A change worth telling the application (and the handler scripts) about.
///
/// The local node appears too: `MemberJoin` when it starts or rejoins, `MemberUpdate` when
/// its tags change, `MemberLeave` when it leaves, as Serf does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A member became alive: new, or back after failing or leaving.
    MemberJoin(Member),
    /// A member left gracefully.
    MemberLeave(Member),
    /// A member was declared failed.
    MemberFailed(Member),
    /// A live member changed its tags or address.
    MemberUpdate(Member),
    /// A failed or left member was forgotten after `reconnect_timeout` or
    /// `tombstone_timeout`.
    MemberReap(Member),
    /// A user event, delivered once per node (the sender included).
    User {
        /// Event-clock time.
        ltime: LamportTime,
        /// Event name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
        /// Whether the sender allowed coalescing with newer events of the same name.
        coalesce: bool,
    },
    /// A query this node matches; answer with [`Node::respond`](crate::Node::respond)
    /// before it times out.
    Query {
        /// Handle to respond with.
        id: QueryId,
        /// Query-clock time.
        ltime: LamportTime,
        /// Query name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
        /// The asker.
        from: NodeName,
    },
    /// A node acknowledged our query.
    QueryAck {
        /// Our query.
        id: QueryId,
        /// Who acked.
        from: NodeName,
    },
    /// A node answered our query (each responder at most once).
    QueryResponse {
        /// Our query.
        id: QueryId,
        /// Who answered.
        from: NodeName,
        /// The answer.
        payload: Vec<u8>,
    },
    /// Our query timed out; no more acks or responses will come.
    QueryDone {
        /// Our query.
        id: QueryId,
    },
    /// A peer answered one of this node's joins ([`Node::join`](crate::Node::join),
    /// [`Node::join_replay`](crate::Node::join_replay), or the periodic re-announce to a
    /// seed, which is a join too): its full state has been merged. Answers to the periodic
    /// push-pull and to reconnects are not reported, so this is the signal that a join
    /// reached the cluster.
    JoinReply {
        /// The peer that answered.
        from: NodeName,
        /// The address it announces (usually the seed address that was dialled).
        addr: SocketAddr,
    },
    /// Another node holds this node's name and the cluster voted for it: this node has
    /// stopped taking part.
    NameConflict {
        /// The contested name.
        name: NodeName,
        /// The address the cluster prefers.
        winner: Option<SocketAddr>,
        /// Responses that named our address.
        votes_for_us: u32,
        /// All responses.
        votes: u32,
    },
}

/// The kind of an [`Event`], without its data: for filtering subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// [`Event::MemberJoin`].
    MemberJoin,
    /// [`Event::MemberLeave`].
    MemberLeave,
    /// [`Event::MemberFailed`].
    MemberFailed,
    /// [`Event::MemberUpdate`].
    MemberUpdate,
    /// [`Event::MemberReap`].
    MemberReap,
    /// [`Event::User`].
    User,
    /// [`Event::Query`].
    Query,
    /// [`Event::QueryAck`].
    QueryAck,
    /// [`Event::QueryResponse`].
    QueryResponse,
    /// [`Event::QueryDone`].
    QueryDone,
    /// [`Event::JoinReply`].
    JoinReply,
    /// [`Event::NameConflict`].
    NameConflict,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 12] = [
        EventKind::MemberJoin,
        EventKind::MemberLeave,
        EventKind::MemberFailed,
        EventKind::MemberUpdate,
        EventKind::MemberReap,
        EventKind::User,
        EventKind::Query,
        EventKind::QueryAck,
        EventKind::QueryResponse,
        EventKind::QueryDone,
        EventKind::JoinReply,
        EventKind::NameConflict,
    ];

    /// The membership kinds: join, leave, failed, update, reap.
    pub const MEMBERSHIP: [EventKind; 5] = [
        EventKind::MemberJoin,
        EventKind::MemberLeave,
        EventKind::MemberFailed,
        EventKind::MemberUpdate,
        EventKind::MemberReap,
    ];

    /// Serf's name for the kind (`member-join`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::MemberJoin => "member-join",
            EventKind::MemberLeave => "member-leave",
            EventKind::MemberFailed => "member-failed",
            EventKind::MemberUpdate => "member-update",
            EventKind::MemberReap => "member-reap",
            EventKind::User => "user",
            EventKind::Query => "query",
            EventKind::QueryAck => "query-ack",
            EventKind::QueryResponse => "query-response",
            EventKind::QueryDone => "query-done",
            EventKind::JoinReply => "join-reply",
            EventKind::NameConflict => "name-conflict",
        }
    }
}

impl core::fmt::Display for EventKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::MemberJoin(_) => EventKind::MemberJoin,
            Event::MemberLeave(_) => EventKind::MemberLeave,
            Event::MemberFailed(_) => EventKind::MemberFailed,
            Event::MemberUpdate(_) => EventKind::MemberUpdate,
            Event::MemberReap(_) => EventKind::MemberReap,
            Event::User { .. } => EventKind::User,
            Event::Query { .. } => EventKind::Query,
            Event::QueryAck { .. } => EventKind::QueryAck,
            Event::QueryResponse { .. } => EventKind::QueryResponse,
            Event::QueryDone { .. } => EventKind::QueryDone,
            Event::JoinReply { .. } => EventKind::JoinReply,
            Event::NameConflict { .. } => EventKind::NameConflict,
        }
    }

    /// Serf's name for the event (`member-join`, ...); see [`EventKind::name`].
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The member a membership event is about.
    pub fn member(&self) -> Option<&Member> {
        match self {
            Event::MemberJoin(m)
            | Event::MemberLeave(m)
            | Event::MemberFailed(m)
            | Event::MemberUpdate(m)
            | Event::MemberReap(m) => Some(m),
            _ => None,
        }
    }
}

/// Events waiting for `poll_event`, oldest first. Bounded by `events_max`: when full, the
/// oldest is dropped and counted (`Stats::events_dropped`).
#[derive(Debug)]
pub(crate) struct EventQueue {
    queue: alloc::collections::VecDeque<Event>,
    cap: usize,
    dropped: u64,
}

impl EventQueue {
    pub fn new(cap: usize) -> Self {
        Self {
            queue: alloc::collections::VecDeque::new(),
            cap,
            dropped: 0,
        }
    }

    pub fn push(&mut self, event: Event) {
        if self.queue.len() >= self.cap {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(event);
    }

    pub fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    #[cfg(any(test, feature = "testing"))]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Writes this queue's counter into `stats`.
    pub fn report(&self, stats: &mut crate::stats::Stats) {
        stats.events_dropped = self.dropped;
    }
}

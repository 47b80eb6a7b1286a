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

impl Event {
    /// Serf's name for the event (`member-join`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Event::MemberJoin(_) => "member-join",
            Event::MemberLeave(_) => "member-leave",
            Event::MemberFailed(_) => "member-failed",
            Event::MemberUpdate(_) => "member-update",
            Event::MemberReap(_) => "member-reap",
            Event::User { .. } => "user",
            Event::Query { .. } => "query",
            Event::QueryAck { .. } => "query-ack",
            Event::QueryResponse { .. } => "query-response",
            Event::QueryDone { .. } => "query-done",
            Event::NameConflict { .. } => "name-conflict",
        }
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

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Writes this queue's counter into `stats`.
    pub fn report(&self, stats: &mut crate::stats::Stats) {
        stats.events_dropped = self.dropped;
    }
}

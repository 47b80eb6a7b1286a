//! What the node reports to its user through [`Node::poll_event`](crate::Node::poll_event).

use crate::member::Member;

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
        }
    }

    /// The member the event is about.
    pub fn member(&self) -> &Member {
        match self {
            Event::MemberJoin(m)
            | Event::MemberLeave(m)
            | Event::MemberFailed(m)
            | Event::MemberUpdate(m)
            | Event::MemberReap(m) => m,
        }
    }
}

//! Members as the API shows them: [`MemberState`], the owned [`Member`] and the borrowed
//! [`MemberRef`]. The table behind them is `membership`.

use core::net::SocketAddr;

use crate::membership::Entry;
use crate::time::Instant;
use crate::types::{Incarnation, NodeName, Tags};
use crate::wire::WireState;

/// A member's status in this node's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; will be declared failed unless it refutes in time.
    Suspect,
    /// Declared failed. Retried every `reconnect_interval` until `reconnect_timeout`.
    Failed,
    /// Left gracefully. Kept as a tombstone until `tombstone_timeout`.
    Left,
}

impl MemberState {
    /// Serf's name for the status (`alive`, `suspect`, `failed`, `left`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Alive => "alive",
            MemberState::Suspect => "suspect",
            MemberState::Failed => "failed",
            MemberState::Left => "left",
        }
    }

    pub(crate) fn to_wire(self) -> WireState {
        match self {
            MemberState::Alive => WireState::Alive,
            MemberState::Suspect => WireState::Suspect,
            MemberState::Failed => WireState::Dead,
            MemberState::Left => WireState::Left,
        }
    }

    /// Alive or suspect: still taking part.
    pub fn is_live(self) -> bool {
        matches!(self, MemberState::Alive | MemberState::Suspect)
    }
}

/// Serf's name for the status, as [`as_str`](MemberState::as_str).
impl core::fmt::Display for MemberState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An owned snapshot of a member, as carried by events and returned by getters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// Unique name.
    pub name: NodeName,
    /// Advertise address.
    pub addr: SocketAddr,
    /// Tags.
    pub tags: Tags,
    /// Incarnation.
    pub incarnation: Incarnation,
    /// Status in this node's view.
    pub state: MemberState,
}

/// `name address state`, then the tags when there are any (as a `serf members` line).
///
/// ```
/// use hearsay_protocol::{Identity, Instant, Node, NodeName, Tags};
///
/// let mut id = Identity::new(NodeName::new("web-1").unwrap(), "10.0.0.1:7946".parse().unwrap());
/// id.tags = [("role", "web")].into_iter().collect::<Tags>();
/// let node = Node::with_seed(hearsay_protocol::Config::lan(), id, 1, Instant::ZERO).unwrap();
/// assert_eq!(node.local().to_member().to_string(), "web-1 10.0.0.1:7946 alive role=web");
/// ```
impl core::fmt::Display for Member {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {} {}", self.name, self.addr, self.state)?;
        if !self.tags.is_empty() {
            write!(f, " {}", self.tags)?;
        }
        Ok(())
    }
}

/// A borrowed view of a member in the table; cheap to produce, decodes tags on request.
#[derive(Clone, Copy, Debug)]
pub struct MemberRef<'a> {
    pub(crate) entry: &'a Entry,
}

impl<'a> MemberRef<'a> {
    /// The member's name.
    pub fn name(&self) -> &'a str {
        self.entry.name.as_str()
    }
    /// The member's advertise address.
    pub fn addr(&self) -> SocketAddr {
        self.entry.socket_addr()
    }
    /// Status in this node's view.
    pub fn state(&self) -> MemberState {
        self.entry.state
    }
    /// Latest known incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.entry.incarnation
    }
    /// When this node last saw the state change.
    pub fn state_change(&self) -> Instant {
        self.entry.state_change
    }
    /// The tags, decoded (an empty set if they do not decode).
    pub fn tags(&self) -> Tags {
        Tags::decode(self.entry.tags_bytes()).unwrap_or_default()
    }
    /// The tags in their wire form.
    pub fn tags_bytes(&self) -> &'a [u8] {
        self.entry.tags_bytes()
    }
    /// An owned copy.
    pub fn to_member(&self) -> Member {
        Member {
            name: self.entry.name.clone(),
            addr: self.addr(),
            tags: self.tags(),
            incarnation: self.entry.incarnation,
            state: self.entry.state,
        }
    }
}

//! Name conflicts: two live nodes claiming one name, settled by a cluster-wide vote.
//!
//! ```text
//! alive(our name, other address) ─▶ ping the other address under our name (+ our alive)
//!   no ack: it was our own previous incarnation (a restart); nothing more to do
//!   ack:    a live rival ─▶ `_hearsay_conflict` query: "which address has this name?"
//!           at the timeout: a strict majority of answers for our address (or none) ─▶
//!           we keep the name and re-assert it; otherwise we stop (Event::NameConflict)
//! ```
//!
//! [`NameConflict`] owns the ping to the rival and the vote's tally; the query itself runs
//! through `query`, and the node applies the result.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crate::membership::Membership;
use crate::query::{QueryId, QueryParams};
use crate::time::Instant;
use crate::transmit::Outbound;
use crate::wire::{self, Message, WireAddr};

/// Internal query used to vote on a name conflict.
pub const CONFLICT_QUERY: &str = "_hearsay_conflict";
/// Least time between two pings to addresses claiming our name.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// A vote in progress: the answers so far.
#[derive(Clone, Debug)]
struct Vote {
    qid: QueryId,
    for_us: u32,
    total: u32,
    /// The last other address an answer named.
    other: Option<WireAddr>,
}

/// How a vote ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VoteResult {
    /// We keep the name: a strict majority named our address, or nobody answered.
    pub won: bool,
    /// The address the cluster prefers, when another.
    pub winner: Option<SocketAddr>,
    /// Answers that named our address.
    pub votes_for_us: u32,
    /// All answers.
    pub votes: u32,
}

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameConflict {
    /// Outstanding ping (seq, sent) to another address claiming our name.
    ping: Option<(u32, Instant)>,
    vote: Option<Vote>,
}

impl NameConflict {
    /// Seen an alive about ourselves at `other`: either our own previous incarnation (a
    /// restart; that address is dead) or a rival holding our name. Pings the other address
    /// under our name and tells it about us; an ack proves a live rival (see
    /// [`on_ack`](Self::on_ack)). At most one ping per [`PING_INTERVAL`], none while a vote
    /// runs.
    pub fn note(
        &mut self,
        now: Instant,
        other: WireAddr,
        members: &Membership,
        next_seq: impl FnOnce() -> u32,
        out: &mut Outbound,
    ) {
        if self.vote.is_some() {
            return;
        }
        let recent = self
            .ping
            .is_some_and(|(_, at)| now.saturating_duration_since(at) < PING_INTERVAL);
        if recent {
            return;
        }
        let seq = next_seq();
        self.ping = Some((seq, now));
        let me = members.local();
        let ping = Message::Ping(wire::Ping {
            seq,
            target: me.name.as_str(),
            source: me.name.as_str(),
            source_addr: members.local_addr(),
        });
        out.datagram(other.into(), &[ping, me.alive_message()]);
    }

    /// An ack: `None` when it does not answer our conflict ping; otherwise whether a vote
    /// should start (none runs yet).
    pub fn on_ack(&mut self, seq: u32) -> Option<bool> {
        if self.ping.is_none_or(|(s, _)| s != seq) {
            return None;
        }
        self.ping = None;
        Some(self.vote.is_none())
    }

    /// The vote query about our name.
    pub fn vote_params(name: &str) -> QueryParams {
        QueryParams {
            name: CONFLICT_QUERY.into(),
            payload: name.as_bytes().into(),
            ..QueryParams::default()
        }
    }

    /// The vote query `qid` was sent: answers to it are tallied from now on.
    pub fn vote_started(&mut self, qid: QueryId) {
        self.vote = Some(Vote {
            qid,
            for_us: 0,
            total: 0,
            other: None,
        });
    }

    /// Counts one responder's answer (`payload`: the address it knows for the name) to
    /// the vote `qid`; answers that do not decode are not counted.
    pub fn tally(&mut self, qid: QueryId, payload: &[u8], local_addr: WireAddr) {
        let Some(v) = self.vote.as_mut().filter(|v| v.qid == qid) else {
            return;
        };
        if let Ok(addr) = postcard::from_bytes::<WireAddr>(payload) {
            v.total += 1;
            if addr == local_addr {
                v.for_us += 1;
            } else {
                v.other = Some(addr);
            }
        }
    }

    /// The vote `qid` timed out: how it ended.
    pub fn finish(&mut self, qid: QueryId) -> Option<VoteResult> {
        if self.vote.as_ref().is_none_or(|v| v.qid != qid) {
            return None;
        }
        let v = self.vote.take()?;
        // Our own answer counts for us; we win with a strict majority of the answers.
        Some(VoteResult {
            won: v.total == 0 || v.for_us * 2 > v.total,
            winner: v.other.map(Into::into),
            votes_for_us: v.for_us,
            votes: v.total,
        })
    }
}

/// This node's answer to a vote query about the name in `payload`: the address it knows
/// for that name (empty when it knows none).
pub(crate) fn answer(payload: &[u8], members: &Membership) -> Vec<u8> {
    core::str::from_utf8(payload)
        .ok()
        .and_then(|n| members.member(n))
        .map(|m| postcard::to_allocvec(&WireAddr::from(m.addr())).unwrap_or_default())
        .unwrap_or_default()
}

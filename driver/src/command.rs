//! The commands a [`Hearsay`](crate::Hearsay) handle sends to the pump, each with the
//! slot its answer goes to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hearsay_protocol::{
    EncryptionStep, Event, KeyOp, Keyring, LamportTime, Member, QueryId, QueryParams, SecretKey,
    Tags,
};

use crate::Error;
use crate::handle::{QueryReply, Stats};

/// A reply slot for a command.
pub(crate) type Reply<T> = async_channel::Sender<Result<T, Error>>;

/// What handles ask of the pump.
pub(crate) enum Command {
    Join {
        seeds: Vec<SocketAddr>,
        replay: bool,
        reply: Reply<usize>,
    },
    ForceLeave {
        name: String,
        prune: bool,
        reply: Reply<()>,
    },
    Leave {
        reply: Reply<()>,
    },
    SetTags {
        tags: Tags,
        reply: Reply<()>,
    },
    Members {
        reply: Reply<Vec<Member>>,
    },
    LocalMember {
        reply: Reply<Member>,
    },
    Stats {
        reply: Reply<Stats>,
    },
    Subscribe {
        events: async_channel::Sender<Event>,
        dropped: Arc<AtomicU64>,
    },
    UserEvent {
        name: String,
        payload: Vec<u8>,
        coalesce: bool,
        reply: Reply<LamportTime>,
    },
    Query {
        /// `None`: a reachability query (acks from every member).
        params: Option<QueryParams>,
        timeout: Option<Duration>,
        replies: async_channel::Sender<QueryReply>,
        reply: Reply<QueryId>,
    },
    Respond {
        id: QueryId,
        payload: Vec<u8>,
        reply: Reply<()>,
    },
    KeyQuery {
        op: KeyOp,
        key: Option<SecretKey>,
        timeout: Option<Duration>,
        replies: async_channel::Sender<QueryReply>,
        reply: Reply<QueryId>,
    },
    SetKeyring {
        keyring: Option<Keyring>,
        reply: Reply<()>,
    },
    Keyring {
        reply: Reply<Option<Keyring>>,
    },
    SetEncryptionStep {
        step: EncryptionStep,
        reply: Reply<()>,
    },
    Shutdown {
        reply: Reply<()>,
    },
    Halt,
}

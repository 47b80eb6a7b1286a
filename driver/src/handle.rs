//! [`Hearsay`]: the cloneable handle applications hold, and what it returns.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_lite::Stream;
use hearsay_protocol::{
    EncryptionStep, Event, KeyOp, Keyring, LamportTime, Member, NodeName, QueryId, QueryParams,
    SecretKey, Tags,
};
use std::time::Duration;

use crate::Error;
use crate::command::{Command, Reply};
use crate::runtime::Runtime;

/// A running Hearsay node. Cheap to clone, `Send + Sync`; every clone talks to the same
/// pump task.
///
/// Calls send a command to the pump and wait for its answer. When the pump has stopped
/// (after [`shutdown`](Self::shutdown) or [`halt`](Self::halt), or when its runtime went
/// away) they return [`Error::Stopped`] rather than hang. When the last handle is dropped
/// the pump stops without leaving (the cluster will see the node fail); call `shutdown`
/// for a graceful exit.
#[derive(Clone)]
pub struct Hearsay {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub commands: async_channel::Sender<Command>,
    pub name: NodeName,
    pub advertise: SocketAddr,
    pub bound: SocketAddr,
    pub runtime: Arc<dyn Runtime>,
    pub subscriber_capacity: usize,
}

impl fmt::Debug for Hearsay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hearsay")
            .field("name", &self.inner.name)
            .field("advertise", &self.inner.advertise)
            .field("bound", &self.inner.bound)
            .finish()
    }
}

impl Hearsay {
    /// This node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// The address peers reach this node at.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.inner.advertise
    }

    /// The local address the UDP socket and TCP listener are bound to.
    pub fn bound_addr(&self) -> SocketAddr {
        self.inner.bound
    }

    /// The runtime the node runs on (for timers in tests and tools).
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    /// Joins a cluster through `seeds`: a full state exchange (push-pull over TCP) with
    /// each. Waits up to `DriverConfig::join_timeout` for the replies and returns how many
    /// seeds answered. Seeds are remembered and re-announced to, so a cluster split for a
    /// long time still heals.
    ///
    /// # Errors
    /// [`Error::JoinFailed`] when no seed answered in time, [`Error::Command`] for an empty
    /// seed list, [`Error::Stopped`] when the driver is gone.
    pub async fn join(&self, seeds: &[SocketAddr]) -> Result<usize, Error> {
        let seeds = seeds.to_vec();
        self.request(|reply| Command::Join {
            seeds,
            replay: false,
            reply,
        })
        .await
    }

    /// As [`join`](Self::join), but user events the cluster still buffers are delivered
    /// too (Serf's `-replay`).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub async fn join_replay(&self, seeds: &[SocketAddr]) -> Result<usize, Error> {
        let seeds = seeds.to_vec();
        self.request(|reply| Command::Join {
            seeds,
            replay: true,
            reply,
        })
        .await
    }

    /// Marks a failed member as left everywhere (Serf's `force-leave`); with `prune` it is
    /// forgotten at once instead of kept as a tombstone.
    ///
    /// # Errors
    /// [`Error::Command`] for an unknown member or this node itself; [`Error::Stopped`].
    pub async fn force_leave(&self, name: &str, prune: bool) -> Result<(), Error> {
        let name = name.to_owned();
        self.request(|reply| Command::ForceLeave { name, prune, reply })
            .await
    }

    /// Leaves the cluster gracefully and waits (up to `DriverConfig::leave_timeout`) for the
    /// news to be gossiped. The node keeps running and answering; `join` brings it back.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver is gone.
    pub async fn leave(&self) -> Result<(), Error> {
        self.request(|reply| Command::Leave { reply }).await
    }

    /// Replaces this node's tags and announces them.
    ///
    /// # Errors
    /// [`Error::Command`] when they are too large or the node has left; [`Error::Stopped`].
    pub async fn set_tags(&self, tags: Tags) -> Result<(), Error> {
        self.request(|reply| Command::SetTags { tags, reply }).await
    }

    /// Every known member in any state, this node included.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver is gone.
    pub async fn members(&self) -> Result<Vec<Member>, Error> {
        self.request(|reply| Command::Members { reply }).await
    }

    /// This node as a member.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver is gone.
    pub async fn local_member(&self) -> Result<Member, Error> {
        self.request(|reply| Command::LocalMember { reply }).await
    }

    /// Counters of the node and the driver.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver is gone.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.request(|reply| Command::Stats { reply }).await
    }

    /// A stream of the node's events from now on. Each subscriber has its own buffer of
    /// `DriverConfig::subscriber_capacity` events; when it is full the subscriber misses
    /// events (counted in [`Subscription::dropped`] and `DriverStats::events_dropped`) and
    /// the protocol carries on. The stream ends when the driver stops.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver is gone.
    pub async fn subscribe(&self) -> Result<Subscription, Error> {
        let (events, rx) = async_channel::bounded(self.inner.subscriber_capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.inner
            .commands
            .send(Command::Subscribe {
                events,
                dropped: dropped.clone(),
            })
            .await
            .map_err(|_| Error::Stopped)?;
        Ok(Subscription {
            events: Box::pin(rx),
            dropped,
        })
    }

    /// Sends a user event to every member (this node included, as an [`Event::User`]).
    /// With `coalesce`, receivers may deliver only the newest event of the same name.
    /// Returns the event's Lamport time.
    ///
    /// # Errors
    /// [`Error::Command`] when the name is empty or reserved, name plus payload exceed
    /// `Config::user_event_bytes_max`, or the node has left; [`Error::Stopped`].
    pub async fn user_event(
        &self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<LamportTime, Error> {
        let (name, payload) = (name.to_owned(), payload.to_vec());
        self.request(|reply| Command::UserEvent {
            name,
            payload,
            coalesce,
            reply,
        })
        .await
    }

    /// Asks the cluster a question. Matching members get an [`Event::Query`] and answer
    /// with [`respond`](Self::respond). The returned stream yields each ack (when
    /// `params.request_ack`) and each response once, and ends at the query's timeout.
    /// Dropping the stream stops collecting.
    ///
    /// # Errors
    /// [`Error::Command`] for a bad name, payload or filter; [`Error::Stopped`].
    pub async fn query(&self, params: QueryParams) -> Result<QueryResponses, Error> {
        self.start_query(Some(params), None).await
    }

    /// Asks every member to ack (Serf's reachability check); the stream yields
    /// [`QueryReply::Ack`]s until `timeout` (or the default query timeout).
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver is gone.
    pub async fn reachability(&self, timeout: Option<Duration>) -> Result<QueryResponses, Error> {
        self.start_query(None, timeout).await
    }

    async fn start_query(
        &self,
        params: Option<QueryParams>,
        timeout: Option<Duration>,
    ) -> Result<QueryResponses, Error> {
        self.collect_replies(|replies, reply| Command::Query {
            params,
            timeout,
            replies,
            reply,
        })
        .await
    }

    /// Sends a query-like command whose acks and responses come back on a bounded stream.
    async fn collect_replies(
        &self,
        command: impl FnOnce(async_channel::Sender<QueryReply>, Reply<QueryId>) -> Command,
    ) -> Result<QueryResponses, Error> {
        let (replies, rx) = async_channel::bounded(self.inner.subscriber_capacity.max(1));
        let id = self.request(|reply| command(replies, reply)).await?;
        Ok(QueryResponses {
            id,
            replies: Box::pin(rx),
        })
    }

    /// Answers a query this node received as [`Event::Query`]. One answer per query, before
    /// its timeout.
    ///
    /// # Errors
    /// [`Error::Command`] when the query is unknown, answered or timed out, or the payload
    /// exceeds `Config::query_response_bytes_max`; [`Error::Stopped`].
    pub async fn respond(&self, id: QueryId, payload: &[u8]) -> Result<(), Error> {
        let payload = payload.to_vec();
        self.request(|reply| Command::Respond { id, payload, reply })
            .await
    }

    /// Runs a key operation on every node through a sealed internal query (Serf's
    /// `keys -install/-use/-remove/-list`). The stream yields each node's answer as a
    /// [`QueryReply::Response`] whose payload decodes with
    /// [`KeyResponse::decode`](hearsay_protocol::KeyResponse::decode), until `timeout`.
    ///
    /// # Errors
    /// [`Error::Command`] without encryption or without a key for install/use/remove;
    /// [`Error::Stopped`].
    pub async fn key_query(
        &self,
        op: KeyOp,
        key: Option<SecretKey>,
        timeout: Option<Duration>,
    ) -> Result<QueryResponses, Error> {
        self.collect_replies(|replies, reply| Command::KeyQuery {
            op,
            key,
            timeout,
            replies,
            reply,
        })
        .await
    }

    /// Installs (or with `None` removes) this node's keyring: packets are then sealed with
    /// its primary key and opened with any of its keys.
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn set_keyring(&self, keyring: Option<Keyring>) -> Result<(), Error> {
        self.request(|reply| Command::SetKeyring { keyring, reply })
            .await
    }

    /// This node's keyring (to persist it after a rotation).
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn keyring(&self) -> Result<Option<Keyring>, Error> {
        self.request(|reply| Command::Keyring { reply }).await
    }

    /// Moves this node to `step` of turning encryption on (or off) in a live cluster: walk
    /// every node to [`EncryptionStep::Prepare`], then [`EncryptionStep::Seal`], then
    /// [`EncryptionStep::Enforce`]. See [`EncryptionStep`].
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn set_encryption_step(&self, step: EncryptionStep) -> Result<(), Error> {
        self.request(|reply| Command::SetEncryptionStep { step, reply })
            .await
    }

    /// Leaves gracefully, waits for the leave to spread (bounded by
    /// `DriverConfig::leave_timeout`), then stops the driver and closes the sockets.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver was already gone.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.request(|reply| Command::Shutdown { reply }).await
    }

    /// Stops the driver at once, without leaving: peers will detect this node as failed.
    /// For tests and crash drills.
    pub async fn halt(&self) {
        let _ = self.inner.commands.send(Command::Halt).await;
    }

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (reply, rx) = async_channel::bounded(1);
        self.inner
            .commands
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        // A pump that stops drops the reply sender: `recv` fails instead of hanging.
        rx.recv().await.map_err(|_| Error::Stopped)?
    }
}

/// Events of one subscriber; see [`Hearsay::subscribe`].
pub struct Subscription {
    events: Pin<Box<async_channel::Receiver<Event>>>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// Events this subscriber missed because its buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("buffered", &self.events.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.as_mut().poll_next(cx)
    }
}

/// One answer to a query of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryReply {
    /// `from` received the query (only when acks were requested).
    Ack {
        /// The acking member.
        from: NodeName,
    },
    /// `from` answered.
    Response {
        /// The responding member.
        from: NodeName,
        /// Its answer.
        payload: Vec<u8>,
    },
}

/// Acks and responses to one query; ends when the query times out. See
/// [`Hearsay::query`].
pub struct QueryResponses {
    id: QueryId,
    replies: Pin<Box<async_channel::Receiver<QueryReply>>>,
}

impl QueryResponses {
    /// The query's id.
    pub fn id(&self) -> QueryId {
        self.id
    }
}

impl fmt::Debug for QueryResponses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryResponses")
            .field("id", &self.id)
            .field("buffered", &self.replies.len())
            .finish()
    }
}

impl Stream for QueryResponses {
    type Item = QueryReply;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<QueryReply>> {
        self.replies.as_mut().poll_next(cx)
    }
}

/// Counters of one node: the core's and the driver's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The protocol core's counters.
    pub node: hearsay_protocol::Stats,
    /// The driver's counters.
    pub driver: DriverStats,
    /// Lifeguard local health score (0 is healthy).
    pub health_score: u32,
    /// Known members in any state.
    pub members: usize,
    /// Members alive or suspect.
    pub live_members: usize,
    /// Broadcasts still waiting to be gossiped.
    pub pending_broadcasts: usize,
    /// Live event subscriptions.
    pub subscribers: usize,
    /// The member (join/leave intent) Lamport clock.
    pub member_time: hearsay_protocol::LamportTime,
    /// The user event Lamport clock.
    pub event_time: hearsay_protocol::LamportTime,
    /// The query Lamport clock.
    pub query_time: hearsay_protocol::LamportTime,
}

/// What the driver counted: I/O failures and input it rejected before or after the core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// UDP sends that failed (unreachable destination, wrong address family, ...).
    pub datagram_send_errors: u64,
    /// UDP receive errors (ICMP reports on some platforms).
    pub datagram_recv_errors: u64,
    /// Datagrams the core rejected (see the node's `decode_errors` for why).
    pub datagrams_rejected: u64,
    /// Stream frames delivered to peers.
    pub stream_frames_sent: u64,
    /// Stream frames read and handed to the core.
    pub stream_frames_received: u64,
    /// Inbound frames rejected: bad length prefix, truncated, or refused by the core.
    pub stream_frames_rejected: u64,
    /// Outbound connections that failed or timed out.
    pub stream_connect_failures: u64,
    /// Outbound frames whose write failed or timed out.
    pub stream_write_errors: u64,
    /// Inbound connections closed for stalling past `stream_io_timeout`.
    pub stream_timeouts: u64,
    /// Inbound connections served.
    pub inbound_streams: u64,
    /// Inbound connections refused because `inbound_streams_max` were open.
    pub inbound_streams_rejected: u64,
    /// Failed accepts (e.g. out of file descriptors).
    pub accept_errors: u64,
    /// Events not delivered to a subscriber whose buffer was full (summed over
    /// subscribers).
    pub events_dropped: u64,
    /// Query acks or responses not delivered because the caller's stream buffer was full.
    pub query_replies_dropped: u64,
    /// Times the core's next deadline was still in the past right after
    /// `handle_timeout`; the pump then waits 1 ms instead of spinning. Non-zero points at
    /// a core timer bug.
    pub timer_floors: u64,
}

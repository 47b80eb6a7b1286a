//! The pump: the one task that owns the [`Node`] and moves bytes, commands, events and
//! time between it and the runtime.
//!
//! Each wake-up, in order (every step bounded, so no source starves the others):
//!
//! ```text
//! commands from handles ─┐
//! stream frames (tasks) ─┤                    ┌─▶ UDP send (Pending ⇒ keep it, stop: backpressure)
//! stream send results ───┼─▶ Node ─ poll_transmit ─▶ TCP send task (≤ stream_sends_max in flight)
//! ≤ batch UDP datagrams ─┤        ─ poll_event ────▶ subscribers (try_send; full ⇒ dropped + counted)
//! timer due ─────────────┘        ─ poll_timeout ──▶ reset the one timer
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::Stream;
use hearsay_protocol::{Channel, Epoch, Event, Instant, Node, QueryId, Transmit};
use rand_chacha::ChaCha8Rng;

use crate::command::{Command, Reply};
use crate::handle::{DriverStats, QueryReply, Stats};
use crate::runtime::{AsyncTimer, AsyncUdpSocket, Runtime};
use crate::stream::{StreamLimits, encode_frame, send_frame};
use crate::{DriverConfig, Error};

/// Largest UDP payload; datagrams above the node's budget are rejected by the node.
const RECV_BUF_BYTES: usize = 65_536;
/// Commands and stream frames handled per wake-up before the pump yields.
const INPUT_BATCH: usize = 64;
/// Shortest wait the timer is armed for when a deadline did not move after handling.
const TIMER_FLOOR: Duration = Duration::from_millis(1);
/// How far ahead the timer is armed when the node has no deadline.
const IDLE_TIMER: Duration = Duration::from_secs(3600);

/// A stream frame read by a connection task.
pub(crate) struct Inbound {
    pub from: SocketAddr,
    pub frame: Vec<u8>,
}

/// The outcome of one outbound stream frame.
pub(crate) struct SendResult {
    pub dst: SocketAddr,
    pub ok: bool,
}

/// Counters bumped by the pump and the stream tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub datagram_send_errors: AtomicU64,
    pub datagram_recv_errors: AtomicU64,
    pub datagrams_rejected: AtomicU64,
    pub stream_frames_sent: AtomicU64,
    pub stream_frames_received: AtomicU64,
    pub stream_frames_rejected: AtomicU64,
    pub stream_connect_failures: AtomicU64,
    pub stream_write_errors: AtomicU64,
    pub stream_timeouts: AtomicU64,
    pub inbound_streams: AtomicU64,
    pub inbound_streams_open: AtomicU64,
    pub inbound_streams_rejected: AtomicU64,
    pub accept_errors: AtomicU64,
    pub events_dropped: AtomicU64,
    pub query_replies_dropped: AtomicU64,
    pub timer_floors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> DriverStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DriverStats {
            datagram_send_errors: get(&self.datagram_send_errors),
            datagram_recv_errors: get(&self.datagram_recv_errors),
            datagrams_rejected: get(&self.datagrams_rejected),
            stream_frames_sent: get(&self.stream_frames_sent),
            stream_frames_received: get(&self.stream_frames_received),
            stream_frames_rejected: get(&self.stream_frames_rejected),
            stream_connect_failures: get(&self.stream_connect_failures),
            stream_write_errors: get(&self.stream_write_errors),
            stream_timeouts: get(&self.stream_timeouts),
            inbound_streams: get(&self.inbound_streams),
            inbound_streams_rejected: get(&self.inbound_streams_rejected),
            accept_errors: get(&self.accept_errors),
            events_dropped: get(&self.events_dropped),
            query_replies_dropped: get(&self.query_replies_dropped),
            timer_floors: get(&self.timer_floors),
        }
    }
}

/// Where one seed of a pending join stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SeedState {
    /// Push-pull queued, not sent yet.
    Queued,
    /// Frame delivered over TCP; waiting for the reply.
    Sent,
    /// Its push-pull reply arrived.
    Answered,
    /// Could not be reached.
    Failed,
}

pub(crate) struct PendingJoin {
    seeds: Vec<(SocketAddr, SeedState)>,
    deadline: Instant,
    reply: Reply<usize>,
}

impl PendingJoin {
    fn settled(&self) -> bool {
        self.seeds
            .iter()
            .all(|(_, s)| matches!(s, SeedState::Answered | SeedState::Failed))
    }

    fn answered(&self) -> usize {
        self.seeds
            .iter()
            .filter(|(_, s)| *s == SeedState::Answered)
            .count()
    }
}

/// A caller waiting for the leave broadcast to drain.
pub(crate) struct LeaveWait {
    deadline: Instant,
    reply: Reply<()>,
    /// Stop the pump once drained (shutdown).
    stop: bool,
}

pub(crate) struct Subscriber {
    events: async_channel::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

/// The pump future. Owns the node; ends on shutdown, halt, or when every handle is gone.
pub(crate) struct Driver {
    node: Node<ChaCha8Rng>,
    rt: Arc<dyn Runtime>,
    clock: Epoch,
    config: DriverConfig,
    limits: StreamLimits,
    socket: Arc<dyn AsyncUdpSocket>,
    timer: Pin<Box<dyn AsyncTimer>>,
    armed: Option<std::time::Instant>,
    commands: Pin<Box<async_channel::Receiver<Command>>>,
    frames: Pin<Box<async_channel::Receiver<Inbound>>>,
    sent: Pin<Box<async_channel::Receiver<SendResult>>>,
    sent_tx: async_channel::Sender<SendResult>,
    counters: Arc<Counters>,
    /// Dropped when the pump ends, which stops the accept loop.
    _stop: async_channel::Sender<()>,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
    pending: Option<Transmit>,
    streams_in_flight: usize,
    subscribers: Vec<Subscriber>,
    joins: Vec<PendingJoin>,
    leaves: Vec<LeaveWait>,
    /// Our queries still collecting, by id: where their acks and responses go.
    queries: BTreeMap<QueryId, async_channel::Sender<QueryReply>>,
    handles_gone: bool,
}

/// The other ends of the pump's inputs, handed out by [`Driver::new`]: handles send
/// commands, the accept loop forwards stream frames and stops when `stop` closes.
pub(crate) struct DriverPorts {
    /// Where handles send commands.
    pub commands: async_channel::Sender<Command>,
    /// Where connection tasks send the frames they read.
    pub frames: async_channel::Sender<Inbound>,
    /// Closes when the pump ends.
    pub stop: async_channel::Receiver<()>,
    /// Counters shared with the stream tasks.
    pub counters: Arc<Counters>,
}

impl Driver {
    /// A pump for `node`, with its input channels sized by `config`; the returned ports
    /// are the other ends, for the handle and the accept loop.
    pub(crate) fn new(
        node: Node<ChaCha8Rng>,
        rt: Arc<dyn Runtime>,
        clock: Epoch,
        config: DriverConfig,
        limits: StreamLimits,
        socket: Arc<dyn AsyncUdpSocket>,
    ) -> (Self, DriverPorts) {
        let (commands_tx, commands) = async_channel::bounded(config.command_capacity.max(1));
        let (frames_tx, frames) = async_channel::bounded(config.inbound_frame_capacity.max(1));
        let (sent_tx, sent) = async_channel::bounded(config.stream_sends_max.max(1));
        let (stop_tx, stop_rx) = async_channel::bounded(1);
        let counters = Arc::new(Counters::default());
        let timer = rt.new_timer(rt.now());
        let driver = Self {
            node,
            rt,
            clock,
            config,
            limits,
            socket,
            timer,
            armed: None,
            commands: Box::pin(commands),
            frames: Box::pin(frames),
            sent: Box::pin(sent),
            sent_tx,
            counters: counters.clone(),
            _stop: stop_tx,
            recv_buf: recv_buffer(),
            send_buf: Vec::new(),
            pending: None,
            streams_in_flight: 0,
            subscribers: Vec::new(),
            joins: Vec::new(),
            leaves: Vec::new(),
            queries: BTreeMap::new(),
            handles_gone: false,
        };
        let ports = DriverPorts {
            commands: commands_tx,
            frames: frames_tx,
            stop: stop_rx,
            counters,
        };
        (driver, ports)
    }

    fn now(&self) -> Instant {
        self.clock.to_core(self.rt.now())
    }

    fn apply(&mut self, now: Instant, cmd: Command) -> bool {
        match cmd {
            Command::Join {
                seeds,
                replay,
                reply,
            } => match if replay {
                self.node.join_replay(now, &seeds)
            } else {
                self.node.join(now, &seeds)
            } {
                Err(e) => {
                    let _ = reply.try_send(Err(e.into()));
                }
                Ok(0) => {
                    let _ = reply.try_send(Ok(0));
                }
                Ok(_) => {
                    let local = self.node.local().addr();
                    let mut states: Vec<(SocketAddr, SeedState)> = Vec::new();
                    for s in seeds {
                        if s != local && !states.iter().any(|(a, _)| *a == s) {
                            states.push((s, SeedState::Queued));
                        }
                    }
                    self.joins.push(PendingJoin {
                        seeds: states,
                        deadline: now + self.config.join_timeout,
                        reply,
                    });
                }
            },
            Command::Leave { reply } => self.start_leave(now, reply, false),
            Command::Shutdown { reply } => self.start_leave(now, reply, true),
            Command::ForceLeave { name, prune, reply } => {
                let result = self
                    .node
                    .force_leave(now, &name, prune)
                    .map_err(Error::from);
                let _ = reply.try_send(result);
            }
            Command::SetTags { tags, reply } => {
                let result = self.node.set_tags(now, &tags).map_err(Error::from);
                let _ = reply.try_send(result);
            }
            Command::Members { reply } => {
                let members = self.node.members().map(|m| m.to_member()).collect();
                let _ = reply.try_send(Ok(members));
            }
            Command::LocalMember { reply } => {
                let _ = reply.try_send(Ok(self.node.local().to_member()));
            }
            Command::Stats { reply } => {
                let _ = reply.try_send(Ok(self.stats()));
            }
            Command::Subscribe { events, dropped } => {
                self.subscribers.push(Subscriber { events, dropped });
            }
            Command::UserEvent {
                name,
                payload,
                coalesce,
                reply,
            } => {
                let result = self.node.user_event(now, &name, &payload, coalesce);
                let _ = reply.try_send(result.map_err(Error::from));
            }
            Command::Query {
                params,
                timeout,
                replies,
                reply,
            } => {
                let result = match params {
                    Some(mut params) => {
                        params.timeout = params.timeout.or(timeout);
                        self.node.query(now, &params)
                    }
                    None => self.node.reachability(now, timeout),
                };
                if let Ok(id) = result {
                    self.queries.insert(id, replies);
                }
                let _ = reply.try_send(result.map_err(Error::from));
            }
            Command::Respond { id, payload, reply } => {
                let result = self.node.respond(now, id, &payload);
                let _ = reply.try_send(result.map_err(Error::from));
            }
            Command::KeyQuery {
                op,
                key,
                timeout,
                replies,
                reply,
            } => {
                let result = self.node.key_query(now, op, key.as_ref(), timeout);
                if let Ok(id) = result {
                    self.queries.insert(id, replies);
                }
                let _ = reply.try_send(result.map_err(Error::from));
            }
            Command::SetKeyring { keyring, reply } => {
                self.node.set_keyring(keyring);
                let _ = reply.try_send(Ok(()));
            }
            Command::Keyring { reply } => {
                let _ = reply.try_send(Ok(self.node.keyring().cloned()));
            }
            Command::SetEncryptionStep { step, reply } => {
                self.node.set_encryption_step(step);
                let _ = reply.try_send(Ok(()));
            }
            Command::Halt => return true,
        }
        false
    }

    fn stats(&self) -> Stats {
        Stats {
            node: self.node.stats(),
            driver: self.counters.snapshot(),
            health_score: self.node.health_score(),
            members: self.node.member_count(),
            live_members: self.node.live_members(),
            pending_broadcasts: self.node.pending_broadcasts(),
            subscribers: self.subscribers.len(),
            member_time: self.node.member_time(),
            event_time: self.node.event_time(),
            query_time: self.node.query_time(),
        }
    }

    fn start_leave(&mut self, now: Instant, reply: Reply<()>, stop: bool) {
        self.node.leave(now);
        self.leaves.push(LeaveWait {
            deadline: now + self.config.leave_timeout,
            reply,
            stop,
        });
    }

    /// Whether the leave has spread as far as it will: nothing left to gossip or send, or
    /// nobody to tell.
    fn leave_drained(&self) -> bool {
        let local = self.node.local().name();
        let alone = !self
            .node
            .members()
            .any(|m| m.name() != local && m.state().is_live());
        // `flush_transmits` ran before this: with nothing pending, the node's transmit
        // queue is empty too.
        alone
            || (self.node.pending_broadcasts() == 0
                && self.pending.is_none()
                && self.streams_in_flight == 0)
    }

    fn on_frame(&mut self, now: Instant, inbound: Inbound) {
        self.counters
            .stream_frames_received
            .fetch_add(1, Ordering::Relaxed);
        let rejected = self
            .node
            .handle_stream(now, inbound.from, &inbound.frame)
            .is_err();
        if rejected {
            self.counters
                .stream_frames_rejected
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Marks the seed a join answer ([`Event::JoinReply`]) came from as answered. The
    /// answer names the peer's advertise address, which is usually the seed address we
    /// dialled; if not (a seed given by another address), it is credited to the first seed
    /// still waiting. Only answers to joins count: periodic push-pulls and reconnects do
    /// not produce the event.
    fn note_join_reply(&mut self, source: SocketAddr) {
        for join in &mut self.joins {
            let exact = join
                .seeds
                .iter_mut()
                .find(|(a, s)| *a == source && *s != SeedState::Answered);
            let slot = match exact {
                Some(slot) => Some(slot),
                None => join
                    .seeds
                    .iter_mut()
                    .find(|(_, s)| matches!(s, SeedState::Sent | SeedState::Queued)),
            };
            if let Some((_, s)) = slot {
                *s = SeedState::Answered;
                break;
            }
        }
    }

    fn on_sent(&mut self, result: SendResult) {
        self.streams_in_flight = self.streams_in_flight.saturating_sub(1);
        for join in &mut self.joins {
            for (addr, state) in &mut join.seeds {
                if *addr == result.dst && *state == SeedState::Queued {
                    *state = if result.ok {
                        SeedState::Sent
                    } else {
                        SeedState::Failed
                    };
                }
            }
        }
    }

    /// Answers joins that are settled or out of time.
    fn settle_joins(&mut self, now: Instant) {
        self.joins.retain(|join| {
            if !join.settled() && now < join.deadline {
                return true;
            }
            let result = match join.answered() {
                0 => Err(Error::JoinFailed),
                n => Ok(n),
            };
            let _ = join.reply.try_send(result);
            false
        });
    }

    /// Answers leaves that are drained or out of time; true when the pump should stop.
    fn settle_leaves(&mut self, now: Instant) -> bool {
        if self.leaves.is_empty() {
            return false;
        }
        let drained = self.leave_drained();
        let mut stop = false;
        self.leaves.retain(|w| {
            if !drained && now < w.deadline {
                return true;
            }
            stop |= w.stop;
            let _ = w.reply.try_send(Ok(()));
            false
        });
        stop
    }

    /// Sends what the node has queued until done or the socket pushes back.
    fn flush_transmits(&mut self, cx: &mut Context<'_>, now: Instant) {
        loop {
            if let Some(t) = self.pending.take() {
                let bytes = &self.send_buf[..t.len];
                match t.channel {
                    Channel::Datagram => match self.socket.poll_send_to(cx, bytes, t.dst) {
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(_)) => {
                            self.counters
                                .datagram_send_errors
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Poll::Pending => {
                            self.pending = Some(t);
                            return;
                        }
                    },
                    // The channel is matched exhaustively on purpose: a new variant should
                    // be routed here deliberately.
                    Channel::Stream => {
                        if self.streams_in_flight >= self.config.stream_sends_max {
                            // Woken again when a send task reports back.
                            self.pending = Some(t);
                            return;
                        }
                        self.streams_in_flight += 1;
                        let task = send_frame(
                            self.rt.clone(),
                            t.dst,
                            encode_frame(bytes),
                            self.limits,
                            self.counters.clone(),
                            self.sent_tx.clone(),
                        );
                        self.rt.spawn(Box::pin(task));
                    }
                }
            }
            match self.node.poll_transmit(now, &mut self.send_buf) {
                Some(t) => self.pending = Some(t),
                None => return,
            }
        }
    }

    /// Passes an ack or response to the stream of the query it belongs to.
    fn route_query_reply(&mut self, id: QueryId, reply: QueryReply) {
        let Some(tx) = self.queries.get(&id) else {
            return;
        };
        match tx.try_send(reply) {
            Ok(()) => {}
            Err(async_channel::TrySendError::Full(_)) => {
                self.counters
                    .query_replies_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            // The caller dropped the stream.
            Err(async_channel::TrySendError::Closed(_)) => {
                self.queries.remove(&id);
            }
        }
    }

    fn publish_events(&mut self) {
        while let Some(event) = self.node.poll_event() {
            match &event {
                Event::QueryAck { id, from } => {
                    let from = from.clone();
                    self.route_query_reply(*id, QueryReply::Ack { from });
                }
                Event::QueryResponse { id, from, payload } => {
                    let reply = QueryReply::Response {
                        from: from.clone(),
                        payload: payload.clone(),
                    };
                    self.route_query_reply(*id, reply);
                }
                // Dropping the sender ends the caller's stream.
                Event::QueryDone { id } => drop(self.queries.remove(id)),
                Event::JoinReply { addr, .. } => self.note_join_reply(*addr),
                _ => {}
            }
            self.subscribers.retain(|sub| {
                match sub.events.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(async_channel::TrySendError::Full(_)) => {
                        sub.dropped.fetch_add(1, Ordering::Relaxed);
                        self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    // The subscription was dropped.
                    Err(async_channel::TrySendError::Closed(_)) => false,
                }
            });
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut t = self.node.poll_timeout();
        for j in &self.joins {
            t = t.min(j.deadline);
        }
        for w in &self.leaves {
            t = t.min(w.deadline);
        }
        t
    }

    /// Re-arms the timer if the deadline moved; true when it is already due.
    ///
    /// Runs after every due deadline was handled, so a deadline still in the past means
    /// the core did not move it; it is pushed [`TIMER_FLOOR`] ahead rather than letting the
    /// pump spin.
    fn arm_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let deadline = self.next_deadline();
        let deadline = if deadline <= now {
            self.counters.timer_floors.fetch_add(1, Ordering::Relaxed);
            now + TIMER_FLOOR
        } else {
            deadline
        };
        let at = self
            .clock
            .to_std(deadline)
            .filter(|_| deadline != Instant::MAX)
            .unwrap_or_else(|| self.rt.now() + IDLE_TIMER);
        if self.armed != Some(at) {
            self.timer.as_mut().reset(at);
            self.armed = Some(at);
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Commands still queued hold reply senders, and the channel outlives this receiver
        // while handles exist: close it and drop them so their callers get `Stopped`.
        self.commands.close();
        while self.commands.try_recv().is_ok() {}
        self.frames.close();
        self.sent.close();
    }
}

impl std::future::Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A few rounds at most per wake-up; then yield so other tasks run.
        for _ in 0..4 {
            let now = this.now();
            let mut more = false;

            // Commands from handles.
            let mut n = 0;
            while !this.handles_gone {
                if n == INPUT_BATCH {
                    more = true;
                    break;
                }
                match this.commands.as_mut().poll_next(cx) {
                    Poll::Ready(Some(cmd)) => {
                        if this.apply(now, cmd) {
                            return Poll::Ready(());
                        }
                    }
                    // Every handle is gone: nobody can ask for anything any more.
                    Poll::Ready(None) => this.handles_gone = true,
                    Poll::Pending => break,
                }
                n += 1;
            }
            if this.handles_gone && this.leaves.is_empty() {
                return Poll::Ready(());
            }

            // Results of outbound stream frames.
            while let Poll::Ready(Some(result)) = this.sent.as_mut().poll_next(cx) {
                this.on_sent(result);
            }

            // Stream frames read by connection tasks.
            for i in 0..=INPUT_BATCH {
                if i == INPUT_BATCH {
                    more = true;
                    break;
                }
                match this.frames.as_mut().poll_next(cx) {
                    Poll::Ready(Some(inbound)) => this.on_frame(now, inbound),
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }

            // Datagrams.
            for i in 0..=this.config.datagram_batch {
                if i == this.config.datagram_batch {
                    more = true;
                    break;
                }
                match this.socket.poll_recv_from(cx, &mut this.recv_buf) {
                    Poll::Ready(Ok((len, from))) => {
                        let bytes = &this.recv_buf[..len];
                        if this.node.handle_datagram(now, from, bytes).is_err() {
                            this.counters
                                .datagrams_rejected
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Poll::Ready(Err(_)) => {
                        // ICMP errors surface here on some platforms; not fatal.
                        this.counters
                            .datagram_recv_errors
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Poll::Pending => break,
                }
            }

            // Timers.
            if this.node.poll_timeout() <= now {
                this.node.handle_timeout(now);
            }

            this.flush_transmits(cx, now);
            this.publish_events();
            this.settle_joins(now);
            if this.settle_leaves(now) {
                // Flush what the leave produced last; the socket rarely pushes back here.
                this.flush_transmits(cx, now);
                return Poll::Ready(());
            }
            if this.handles_gone && this.leaves.is_empty() {
                return Poll::Ready(());
            }

            let due = this.arm_timer(cx, now);
            if !due && !more {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A zeroed buffer for one received datagram.
fn recv_buffer() -> Vec<u8> {
    vec![0; RECV_BUF_BYTES]
}

//! The outbound queue: messages waiting for `poll_transmit`, which wraps each in the
//! envelope and tops datagrams up with broadcasts at send time.
//!
//! Bounded by `transmit_queue_max`: when full, new messages are dropped and counted
//! (`Stats::transmits_dropped`). A message that does not fit a datagram once the envelope
//! and seal are counted (long names, a long label) is queued for the stream channel instead,
//! which carries every message kind.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::stats::Stats;
use crate::wire::{self, Message, MessageKind};

/// Which path a [`Transmit`] must take.
///
/// Exhaustive on purpose: an adapter must route every channel, so a new one would be a
/// breaking change rather than something an adapter could silently ignore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Unreliable datagram (UDP), at most `packet_bytes_max` bytes.
    Datagram,
    /// Reliable stream (TCP in the adapters): one frame, at most `stream_bytes_max` bytes.
    Stream,
}

/// Where and how to send the bytes `poll_transmit` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// Destination (a member's advertise address).
    pub dst: SocketAddr,
    /// Bytes written to the caller's buffer.
    pub len: usize,
    /// Path to use.
    pub channel: Channel,
}

/// Message kinds of one outbound item, for `Stats::messages_out`.
pub(crate) type Kinds = heapless::Vec<MessageKind, 4>;

/// A queued outbound message; datagrams are completed with broadcasts at send time.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Framed primary messages for one datagram, and their kinds for stats.
    Datagram {
        dst: SocketAddr,
        msgs: Vec<u8>,
        kinds: Kinds,
    },
    /// A gossip datagram: broadcasts only.
    Gossip { dst: SocketAddr, round: u64 },
    /// The messages of one stream frame (the envelope is added at send time).
    Stream {
        dst: SocketAddr,
        frame: Vec<u8>,
        kinds: Kinds,
    },
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Outbound {
    queue: VecDeque<Outgoing>,
    cap: usize,
    /// Bytes a datagram has for messages once the envelope and seal are counted; the node
    /// updates it whenever the envelope changes.
    datagram_room: usize,
    dropped: u64,
}

impl Outbound {
    pub fn new(cap: usize, datagram_room: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            cap,
            datagram_room,
            dropped: 0,
        }
    }

    /// Bytes a datagram has for messages.
    pub fn datagram_room(&self) -> usize {
        self.datagram_room
    }

    pub fn set_datagram_room(&mut self, room: usize) {
        self.datagram_room = room;
    }

    #[cfg(any(test, feature = "testing"))]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn pop(&mut self) -> Option<Outgoing> {
        self.queue.pop_front()
    }

    fn push(&mut self, out: Outgoing) {
        if self.queue.len() >= self.cap {
            self.dropped += 1;
            return;
        }
        self.queue.push_back(out);
    }

    /// Queues `msgs` as one datagram to `dst` (broadcasts are added at send time), or as a
    /// stream frame when they do not fit a datagram.
    pub fn datagram(&mut self, dst: SocketAddr, msgs: &[Message<'_>]) {
        let mut framed = Vec::new();
        let mut kinds = Kinds::new();
        for m in msgs {
            wire::push_message(&mut framed, m);
            let _ = kinds.push(m.kind());
        }
        if framed.len() > self.datagram_room {
            // Long names, a long label and the seal can push even one message past the
            // packet budget: such messages take the stream channel, which carries every
            // message kind.
            self.push(Outgoing::Stream {
                dst,
                frame: framed,
                kinds,
            });
            return;
        }
        self.push(Outgoing::Datagram {
            dst,
            msgs: framed,
            kinds,
        });
    }

    /// Queues a gossip datagram to `dst` as part of gossip round `round`.
    pub fn gossip(&mut self, dst: SocketAddr, round: u64) {
        self.push(Outgoing::Gossip { dst, round });
    }

    /// Queues `msg` as one stream frame to `dst` (the envelope is added at send time).
    pub fn stream(&mut self, dst: SocketAddr, msg: &Message<'_>) {
        let mut frame = Vec::new();
        wire::push_message(&mut frame, msg);
        let kinds = Kinds::from_slice(&[msg.kind()]).unwrap_or_default();
        self.push(Outgoing::Stream { dst, frame, kinds });
    }

    /// Queues the messages of a stream frame already built (push-pull state), without the
    /// envelope.
    pub fn stream_frame(&mut self, dst: SocketAddr, frame: Vec<u8>, kind: MessageKind) {
        let kinds = Kinds::from_slice(&[kind]).unwrap_or_default();
        self.push(Outgoing::Stream { dst, frame, kinds });
    }

    /// Writes this queue's counter into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.transmits_dropped = self.dropped;
    }
}

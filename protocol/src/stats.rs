//! Counters: what went in and out, what was rejected or dropped.

use crate::wire::{MESSAGE_TAGS, MessageKind};

/// Per-kind message counters, indexed by [`MessageKind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounters([u64; MESSAGE_TAGS as usize]);

impl KindCounters {
    /// Every kind with its count, in tag order.
    pub fn iter(&self) -> impl Iterator<Item = (MessageKind, u64)> + '_ {
        MessageKind::ALL.iter().map(|&k| (k, self.get(k)))
    }
    /// The count for `kind`.
    pub fn get(&self, kind: MessageKind) -> u64 {
        self.0[kind as usize]
    }
    pub(crate) fn bump(&mut self, kind: MessageKind) {
        self.0[kind as usize] += 1;
    }
    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Monotonic counters since the node was built. Cheap to copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub packets_in: u64,
    /// Datagram bytes received.
    pub bytes_in: u64,
    /// Datagrams produced by `poll_transmit`.
    pub packets_out: u64,
    /// Datagram bytes produced.
    pub bytes_out: u64,
    /// Stream frames received.
    pub stream_frames_in: u64,
    /// Stream bytes received.
    pub stream_bytes_in: u64,
    /// Stream frames produced.
    pub stream_frames_out: u64,
    /// Stream bytes produced.
    pub stream_bytes_out: u64,
    /// Messages received, by kind.
    pub messages_in: KindCounters,
    /// Messages sent, by kind (piggybacked broadcasts included).
    pub messages_out: KindCounters,
    /// Inputs or messages that failed to decode.
    pub decode_errors: u64,
    /// Messages with a tag from a newer version, skipped.
    pub unknown_messages: u64,
    /// Packets whose cluster label did not match, dropped.
    pub label_mismatches: u64,
    /// Messages on the wrong channel or with invalid names/addresses, dropped.
    pub invalid_messages: u64,
    /// Pings addressed to another node name, ignored.
    pub misdirected_pings: u64,
    /// Broadcasts queued.
    pub broadcasts_queued: u64,
    /// Broadcasts dropped because the queue was full.
    pub broadcasts_dropped: u64,
    /// Broadcasts replaced by newer news about the same member.
    pub broadcasts_invalidated: u64,
    /// Events dropped because nobody polled them in time.
    pub events_dropped: u64,
    /// Outbound messages dropped because the transmit queue was full.
    pub transmits_dropped: u64,
    /// Unknown members ignored because the table was full.
    pub members_rejected: u64,
    /// Ping-reqs refused because `relays_max` were in flight.
    pub relays_dropped: u64,
    /// Probes started.
    pub probes: u64,
    /// Probes that got no ack by the end of their period.
    pub probe_failures: u64,
    /// Indirect ping-reqs sent.
    pub indirect_probes: u64,
    /// Stream-channel fallback pings sent.
    pub stream_probes: u64,
    /// Nacks received for our probes.
    pub nacks_received: u64,
    /// Suspicions this node started about others.
    pub suspicions: u64,
    /// Members this node declared failed when their suspicion timed out.
    pub failures_declared: u64,
    /// Times this node refuted a suspicion or death of itself.
    pub refutations: u64,
    /// Push-pull exchanges started.
    pub push_pulls_sent: u64,
    /// Push-pull frames received.
    pub push_pulls_received: u64,
    /// Push-pull states cut short by `stream_bytes_max`.
    pub push_pulls_truncated: u64,
    /// Members reaped.
    pub reaped: u64,
    /// Broadcasts dropped per class (membership, intent, query, event).
    pub broadcasts_dropped_by_class: [u64; 4],
    /// User events delivered (each once).
    pub user_events_delivered: u64,
    /// User events received again and ignored.
    pub user_events_duplicate: u64,
    /// User events older than the de-duplication buffer (or from before a no-replay join),
    /// ignored.
    pub user_events_too_old: u64,
    /// Queries received (first time).
    pub queries_received: u64,
    /// Queries that matched our filters and were delivered.
    pub queries_delivered: u64,
    /// Responses and acks received for our queries (deduplicated).
    pub query_responses_received: u64,
    /// Query responses relayed for others.
    pub query_relays: u64,
    /// Large payloads forwarded over the stream channel.
    pub stream_forwards: u64,
    /// Alive messages that claimed a live member's name from another address, ignored.
    pub address_conflicts: u64,
    /// Sealed packets no key opened (wrong key, tampered, truncated) or that arrived with
    /// no keyring set.
    pub decrypt_failures: u64,
    /// Plaintext packets refused because encryption is required.
    pub plaintext_rejected: u64,
    /// Intents received.
    pub intents_received: u64,
}

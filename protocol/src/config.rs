//! Node configuration: memberlist/Serf names, `lan()` / `wan()` / `local()` presets,
//! validated once by [`Node::new`](crate::Node::new).

use core::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Everything tunable about a node. Start from a preset and change fields; `Node::new`
/// validates the whole and names the first bad field.
///
/// Times use `core::time::Duration`. Defaults below are those of [`Config::lan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Config {
    /// Time between failure-detection probes of one member (default 1 s). Lower detects
    /// faster at the cost of more traffic. Scaled up by the Lifeguard health score.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking `indirect_checks` peers to probe
    /// (default 500 ms). Must be below `probe_interval`; set from the network's round trip.
    pub probe_timeout: Duration,
    /// Peers asked to probe on our behalf when a direct ping gets no ack (default 3). More
    /// peers mean fewer false suspicions caused by one lossy path.
    pub indirect_checks: u8,
    /// Time between gossip rounds (default 200 ms).
    pub gossip_interval: Duration,
    /// Members gossiped to per round (default 3). Higher spreads news faster.
    pub gossip_nodes: u8,
    /// Multiplier for the minimum suspicion timeout:
    /// `suspicion_mult × max(1, log10 N) × probe_interval` (default 4).
    pub suspicion_mult: u32,
    /// Maximum suspicion timeout as a multiple of the minimum (default 6). With Lifeguard a
    /// suspicion starts at the maximum and decays toward the minimum as independent members
    /// confirm it.
    pub suspicion_max_timeout_mult: u32,
    /// Each broadcast is sent `retransmit_mult × ⌈log10(N+1)⌉` times (default 4).
    pub retransmit_mult: u32,
    /// Time between full state exchanges with one random member over the stream channel
    /// (default 30 s), scaled up above 32 members. Zero disables periodic push-pull.
    pub push_pull_interval: Duration,
    /// How long a failed member still receives gossip so it can refute (default 30 s).
    pub gossip_to_the_dead_time: Duration,
    /// Upper bound (exclusive) of the Lifeguard local health score; probe interval and
    /// timeout are multiplied by `score + 1` (default 8).
    pub awareness_max_multiplier: u32,
    /// Largest datagram the node builds, in bytes (default 1400). Larger state goes over the
    /// stream channel.
    pub packet_bytes_max: usize,
    /// Largest stream frame accepted or built, in bytes (default 8 MiB). Bounds push-pull
    /// state; a state that would exceed it is truncated and counted.
    pub stream_bytes_max: usize,
    /// Lifeguard extensions (health score, dynamic suspicion, buddy system, nacks). Default
    /// on; off gives plain SWIM with a fixed suspicion timeout, for comparison.
    pub lifeguard: bool,
    /// Ping a member over the stream channel as well when the direct ping times out
    /// (default on). Catches members whose datagrams are being dropped.
    pub stream_ping_fallback: bool,
    /// How often one random failed member is pinged to see whether it is back (default
    /// 3 s). An ack triggers a push-pull, which heals partitions. Serf retries a failed member
    /// with a full join every 30 s; a small ping is cheap enough to do much more often.
    pub reconnect_interval: Duration,
    /// How long a failed member is kept and retried before it is reaped (default 24 h).
    pub reconnect_timeout: Duration,
    /// How long a member that left is kept as a tombstone (default 24 h).
    pub tombstone_timeout: Duration,
    /// How often a configured join seed that is not a known live member is sent a
    /// push-pull, so a cluster split for longer than the reap timeouts still heals
    /// (default 30 s). Zero disables it.
    pub seed_reannounce_interval: Duration,
    /// Largest encoded tag set, in bytes (default 512, like Serf).
    pub tags_bytes_max: usize,
    /// Most broadcasts queued (default 4096, Serf's drop point). When full, the broadcast
    /// sent most often is dropped and counted in `Stats::broadcasts_dropped`.
    pub broadcast_queue_max: usize,
    /// Most undelivered events (default 4096). When full, the oldest is dropped and counted
    /// in `Stats::events_dropped`.
    pub events_max: usize,
    /// Most outbound messages waiting for `poll_transmit` (default 1024). When full, new ones
    /// are dropped and counted in `Stats::transmits_dropped`.
    pub transmit_queue_max: usize,
    /// Most members (all states) in the table (default 65 536). Unknown members beyond it are
    /// ignored and counted in `Stats::members_rejected`.
    pub members_max: usize,
    /// Most indirect probes relayed for others at once (default 64); extra ping-reqs are
    /// dropped and counted.
    pub relays_max: usize,

    // ---- Security ---------------------------------------------------------------------
    /// Cluster label carried in every packet and frame (default none). Packets with another
    /// label, or none when one is set, are dropped and counted: two clusters sharing a
    /// network never merge by accident. At most 255 bytes.
    pub label: Option<alloc::string::String>,
    /// With a keyring: also accept plaintext packets (default off). On while encryption is
    /// being turned on in a live cluster. Together with `send_plaintext` this sets the
    /// initial [`EncryptionStep`](crate::EncryptionStep) (see
    /// [`EncryptionStep::from_switches`](crate::EncryptionStep::from_switches)); change it
    /// at run time with [`Node::set_encryption_step`](crate::Node::set_encryption_step).
    pub accept_plaintext: bool,
    /// With a keyring: keep sending plaintext (default off). On for the first step of
    /// turning encryption on in a live cluster, so nodes without the key still hear us.
    /// Implies `accept_plaintext`.
    pub send_plaintext: bool,

    // ---- Serf layer -------------------------------------------------------------------
    /// Largest user event, name plus payload, in bytes (default 512, Serf's default).
    /// Events that do not fit one datagram travel over the stream channel.
    pub user_event_bytes_max: usize,
    /// Largest query, name plus payload, in bytes (default 1024).
    pub query_bytes_max: usize,
    /// Largest query response payload, in bytes (default 1024).
    pub query_response_bytes_max: usize,
    /// Ceiling for the three limits above (default 64 KiB): anything this large goes over
    /// the stream channel.
    pub payload_stream_bytes_max: usize,
    /// Recent user event times remembered for de-duplication (default 512, Serf's
    /// `EventBuffer`). Events older than the clock minus this are ignored.
    pub event_buffer_size: usize,
    /// Recent query times remembered for de-duplication (default 512).
    pub query_buffer_size: usize,
    /// Default query timeout multiplier: `gossip_interval × mult × ⌈log10(N+1)⌉`
    /// (default 16).
    pub query_timeout_mult: u32,
    /// Most queries this node has in flight as asker (default 64); more are refused.
    pub queries_max: usize,
    /// Most received queries awaiting this node's response (default 256); the oldest is
    /// forgotten when full.
    pub pending_responses_max: usize,
    /// Most intents about unknown members remembered (default 1024).
    pub recent_intents_max: usize,
    /// How long such intents are remembered (default 5 min).
    pub recent_intent_timeout: Duration,
}

impl Config {
    /// Tuned for a LAN: memberlist's `DefaultLANConfig` figures.
    pub fn lan() -> Self {
        Self {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            push_pull_interval: Duration::from_secs(30),
            gossip_to_the_dead_time: Duration::from_secs(30),
            awareness_max_multiplier: 8,
            packet_bytes_max: 1400,
            stream_bytes_max: 8 << 20,
            lifeguard: true,
            stream_ping_fallback: true,
            reconnect_interval: Duration::from_secs(3),
            reconnect_timeout: Duration::from_secs(24 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            seed_reannounce_interval: Duration::from_secs(30),
            tags_bytes_max: 512,
            broadcast_queue_max: 4096,
            events_max: 4096,
            transmit_queue_max: 1024,
            members_max: 65_536,
            relays_max: 64,
            label: None,
            accept_plaintext: false,
            send_plaintext: false,
            user_event_bytes_max: 512,
            query_bytes_max: 1024,
            query_response_bytes_max: 1024,
            payload_stream_bytes_max: 64 << 10,
            event_buffer_size: 512,
            query_buffer_size: 512,
            query_timeout_mult: 16,
            queries_max: 64,
            pending_responses_max: 256,
            recent_intents_max: 1024,
            recent_intent_timeout: Duration::from_secs(300),
        }
    }

    /// Tuned for a WAN: slower probes and gossip, more patience.
    pub fn wan() -> Self {
        Self {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            gossip_to_the_dead_time: Duration::from_secs(60),
            reconnect_interval: Duration::from_secs(10),
            ..Self::lan()
        }
    }

    /// Tuned for one host or a very fast network: quicker everything.
    pub fn local() -> Self {
        Self {
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            gossip_interval: Duration::from_millis(100),
            suspicion_mult: 3,
            retransmit_mult: 2,
            push_pull_interval: Duration::from_secs(15),
            gossip_to_the_dead_time: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(1),
            ..Self::lan()
        }
    }

    /// Checks every field and its relations to others.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(field: &'static str, reason: &'static str) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid { field, reason })
        }
        if self.probe_interval.is_zero() {
            return bad("probe_interval", "must be above zero");
        }
        if self.probe_timeout.is_zero() || self.probe_timeout >= self.probe_interval {
            return bad(
                "probe_timeout",
                "must be above zero and below probe_interval",
            );
        }
        if self.gossip_interval.is_zero() {
            return bad("gossip_interval", "must be above zero");
        }
        if self.gossip_nodes == 0 {
            return bad("gossip_nodes", "must be at least 1");
        }
        if self.suspicion_mult == 0 {
            return bad("suspicion_mult", "must be at least 1");
        }
        if self.suspicion_max_timeout_mult == 0 {
            return bad("suspicion_max_timeout_mult", "must be at least 1");
        }
        if self.retransmit_mult == 0 {
            return bad("retransmit_mult", "must be at least 1");
        }
        if self.awareness_max_multiplier == 0 || self.awareness_max_multiplier > 64 {
            return bad("awareness_max_multiplier", "must be between 1 and 64");
        }
        if self.packet_bytes_max < crate::wire::PACKET_BYTES_MIN || self.packet_bytes_max > 65_000 {
            return bad("packet_bytes_max", "must be between 512 and 65000");
        }
        if self.stream_bytes_max < self.packet_bytes_max || self.stream_bytes_max > 1 << 30 {
            return bad(
                "stream_bytes_max",
                "must be between packet_bytes_max and 1 GiB",
            );
        }
        if self.reconnect_interval.is_zero() {
            return bad("reconnect_interval", "must be above zero");
        }
        if self.tags_bytes_max > self.packet_bytes_max / 2 {
            return bad("tags_bytes_max", "must be at most half of packet_bytes_max");
        }
        if self.broadcast_queue_max == 0 {
            return bad("broadcast_queue_max", "must be at least 1");
        }
        if self.events_max == 0 {
            return bad("events_max", "must be at least 1");
        }
        if self.transmit_queue_max == 0 {
            return bad("transmit_queue_max", "must be at least 1");
        }
        if self.label.as_ref().is_some_and(|l| l.len() > 255) {
            return bad("label", "must be at most 255 bytes");
        }
        if self.payload_stream_bytes_max > self.stream_bytes_max / 2 {
            return bad(
                "payload_stream_bytes_max",
                "must be at most half of stream_bytes_max",
            );
        }
        for (field, v) in [
            ("user_event_bytes_max", self.user_event_bytes_max),
            ("query_bytes_max", self.query_bytes_max),
            ("query_response_bytes_max", self.query_response_bytes_max),
        ] {
            if v > self.payload_stream_bytes_max {
                return bad(field, "must be at most payload_stream_bytes_max");
            }
        }
        if self.event_buffer_size == 0 || self.event_buffer_size > 1 << 16 {
            return bad("event_buffer_size", "must be between 1 and 65536");
        }
        if self.query_buffer_size == 0 || self.query_buffer_size > 1 << 16 {
            return bad("query_buffer_size", "must be between 1 and 65536");
        }
        if self.query_timeout_mult == 0 {
            return bad("query_timeout_mult", "must be at least 1");
        }
        if self.members_max < 2 || self.members_max > u32::MAX as usize / 2 {
            return bad("members_max", "must be at least 2");
        }
        Ok(())
    }
}

impl Default for Config {
    /// The LAN preset.
    fn default() -> Self {
        Self::lan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_match_the_design_table() {
        for c in [Config::lan(), Config::wan(), Config::local()] {
            assert_eq!(c.validate(), Ok(()));
            assert_eq!(c.packet_bytes_max, 1400);
            assert_eq!(c.awareness_max_multiplier, 8);
        }
        let wan = Config::wan();
        assert_eq!(
            (wan.probe_interval, wan.probe_timeout),
            (Duration::from_secs(5), Duration::from_secs(3))
        );
        assert_eq!((wan.gossip_nodes, wan.suspicion_mult), (4, 6));
        let local = Config::local();
        assert_eq!(
            (
                local.indirect_checks,
                local.retransmit_mult,
                local.suspicion_mult
            ),
            (1, 2, 3)
        );
        assert_eq!(local.probe_timeout, Duration::from_millis(200));
    }

    #[test]
    fn validation_names_the_bad_field() {
        let mut c = Config::lan();
        c.probe_timeout = Duration::from_secs(2);
        assert_eq!(
            c.validate(),
            Err(ConfigError::Invalid {
                field: "probe_timeout",
                reason: "must be above zero and below probe_interval"
            })
        );
        let mut c = Config::lan();
        c.packet_bytes_max = 10;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                field: "packet_bytes_max",
                ..
            })
        ));
    }
}

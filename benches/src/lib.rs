//! # hearsay-benches
//!
//! Criterion benchmarks for the sans-IO core, `hearsay-protocol`, and the fixtures they
//! share. The benchmarks live in `benches/protocol.rs`:
//!
//! | group | what one iteration measures |
//! | --- | --- |
//! | `wire` | encoding and decoding a ping packet and a full (~1400 B) packet of alives |
//! | `node/ping_to_ack` | node B handles a ping datagram and drains `poll_transmit` for the ack |
//! | `node/probe_round_trip` | A's probe timer fires, A pings B, B acks, A handles the ack |
//! | `node/gossip_fill_1000` | one `poll_transmit` filling a gossip packet from 1 000 broadcasts |
//! | `node/push_pull_merge_10k` | `handle_stream` of a 10 000-member push-pull into a fresh node |
//!
//! Run them with
//!
//! ```text
//! cargo bench -p hearsay-benches -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The fixtures below build nodes with a fixed seed and the wire bytes peers would send, so
//! every run measures the same work.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hearsay_protocol::wire::{self, Message, PushPull, PushPullMember, WireAddr, WireState};
use hearsay_protocol::{Config, Identity, Instant, Node, NodeName};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// The node type every benchmark drives: the core with a seeded ChaCha8 RNG.
pub type BenchNode = Node<ChaCha8Rng>;

/// Encoded tags `{role: web}` every fixture member carries (10 bytes on the wire).
pub const ROLE_WEB_TAGS: &[u8] = &[0x01, 0x04, b'r', b'o', b'l', b'e', 0x03, b'w', b'e', b'b'];

/// The name of fixture member `i`: `member-00042` (12 bytes up to 99 999).
pub fn member_name(i: usize) -> String {
    format!("member-{i:05}")
}

/// The address of fixture member `i`: a distinct IPv4 address in 10.0.0.0/8, port 7946.
pub fn member_addr(i: usize) -> SocketAddr {
    let [_, a, b, c] = (i as u32).to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, a, b, c), 7946))
}

/// The LAN preset with the timers that would disturb a gossip measurement pushed out of
/// reach: no probes for an hour, no periodic push-pull, no reconnects. Only gossip fires.
pub fn gossip_only_config() -> Config {
    let mut config = Config::lan();
    config.probe_interval = Duration::from_secs(3600);
    config.push_pull_interval = Duration::ZERO;
    config.reconnect_interval = Duration::from_secs(3600);
    config.seed_reannounce_interval = Duration::ZERO;
    config
}

/// A node called `name` at `addr`, started at [`Instant::ZERO`] with RNG seed `seed`.
///
/// # Panics
/// When `config` is invalid or `name` is not a valid node name (fixture bugs).
pub fn node(config: Config, name: &str, addr: SocketAddr, seed: u64) -> BenchNode {
    let name = NodeName::new(name).expect("fixture names are valid");
    let identity = Identity::new(name, addr);
    Node::new(
        config,
        identity,
        ChaCha8Rng::seed_from_u64(seed),
        Instant::ZERO,
    )
    .expect("fixture configs are valid")
}

/// The alive message announcing fixture member `i` (its name must outlive the message).
pub fn alive(name: &str, i: usize) -> Message<'_> {
    Message::Alive(wire::Alive {
        node: name,
        incarnation: 1,
        addr: WireAddr::from(member_addr(i)),
        tags: ROLE_WEB_TAGS,
    })
}

/// Datagrams of at most `packet_bytes_max` bytes announcing fixture members `0..n` with
/// alive messages, packed as a sender fills compound packets.
pub fn alive_datagrams(n: usize, packet_bytes_max: usize) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut packet = Vec::new();
    wire::begin_packet(&mut packet, None);
    for i in 0..n {
        let name = member_name(i);
        let msg = alive(&name, i);
        if packet.len() + wire::framed_len(wire::message_len(&msg)) > packet_bytes_max {
            packets.push(core::mem::take(&mut packet));
            wire::begin_packet(&mut packet, None);
        }
        wire::push_message(&mut packet, &msg);
    }
    if packet.len() > wire::ENVELOPE_BYTES {
        packets.push(packet);
    }
    packets
}

/// A stream frame holding a push-pull from fixture member `0` that lists fixture members
/// `0..n`, all alive. `reply` marks it as an answer, which the receiver does not answer.
pub fn push_pull_frame(n: usize, reply: bool) -> Vec<u8> {
    let names: Vec<String> = (0..n).map(member_name).collect();
    let members = names
        .iter()
        .enumerate()
        .map(|(i, name)| PushPullMember {
            name,
            addr: WireAddr::from(member_addr(i)),
            incarnation: 1,
            state: WireState::Alive,
            tags: ROLE_WEB_TAGS,
        })
        .collect();
    let msg = Message::PushPull(PushPull {
        join: false,
        reply,
        source: &names[0],
        source_addr: WireAddr::from(member_addr(0)),
        members,
    });
    let mut frame = Vec::new();
    wire::begin_packet(&mut frame, None);
    wire::push_message(&mut frame, &msg);
    frame
}

/// Drains every pending transmit and event of `node`; returns how many transmits there were.
pub fn drain(node: &mut BenchNode, now: Instant, buf: &mut Vec<u8>) -> usize {
    let mut transmits = 0;
    while node.poll_transmit(now, buf).is_some() {
        transmits += 1;
    }
    while node.poll_event().is_some() {}
    transmits
}

#[cfg(test)]
mod tests {
    use hearsay_protocol::Channel;

    use super::*;

    #[test]
    fn member_addresses_are_distinct_and_have_a_port() {
        assert_eq!(
            member_addr(0),
            "10.0.0.0:7946".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(
            member_addr(10_000),
            "10.0.39.16:7946".parse::<SocketAddr>().expect("addr")
        );
    }

    #[test]
    fn alive_datagrams_fill_packets_up_to_the_budget() {
        let packets = alive_datagrams(100, 1400);
        assert!(packets.iter().all(|p| p.len() <= 1400));
        assert!(
            packets[0].len() > 1400 - 40,
            "first packet is full: {}",
            packets[0].len()
        );
        let decoded: usize = packets
            .iter()
            .map(|p| {
                wire::decode_packet(p, 1400)
                    .expect("envelope")
                    .messages()
                    .count()
            })
            .sum();
        assert_eq!(decoded, 100);
    }

    #[test]
    fn a_node_fed_alive_datagrams_learns_every_member() {
        let mut n = node(gossip_only_config(), "bench", member_addr(99_999), 1);
        for p in alive_datagrams(1000, 1400) {
            n.handle_datagram(Instant::ZERO, member_addr(0), &p)
                .expect("accepted");
        }
        assert_eq!(n.member_count(), 1001);
        assert_eq!(n.pending_broadcasts(), 1000);
    }

    #[test]
    fn a_push_pull_reply_is_merged_without_an_answer() {
        let mut n = node(Config::lan(), "bench", member_addr(99_999), 1);
        n.handle_stream(Instant::ZERO, member_addr(0), &push_pull_frame(50, true))
            .expect("accepted");
        assert_eq!(n.member_count(), 51);
        let mut buf = Vec::new();
        let t = n.poll_transmit(Instant::ZERO, &mut buf);
        assert!(
            t.is_none_or(|t| t.channel != Channel::Stream),
            "no push-pull answer"
        );
    }
}

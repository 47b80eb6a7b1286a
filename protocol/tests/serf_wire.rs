//! Golden vectors for the Serf wire dialect, taken from real Serf 0.9.4 agents (Debian's
//! `serf`, memberlist 0.2.2) talking on loopback, and LZW vectors made with Go's
//! `compress/lzw`. How they were captured: `tests/data/serf/tools/capture.sh` and
//! `extract.py`; the LZW vectors: `tools/lzw_vectors.go`.
//!
//! Every captured datagram and stream frame is opened, every message in it decoded into
//! its typed form (Serf messages, tags, coordinates, filters included), re-encoded to the
//! same bytes, and the whole packet re-sealed (compression, CRC, encryption with the
//! captured nonce) to the same bytes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use hearsay_protocol::wire::serf::{
    self as sw, EncryptionVersion, Filter, Message, MessageType, OpenedPacket, PacketSeal,
    SerfDecodeError, SerfMessage, StreamMessage, StreamSeal,
};

/// The keys of the `encrypt` scenario (before and after the rotation).
const KEY: &str = "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=";
const KEY2: &str = "kDBqvyH09FCzyj9lqnj4jE+ho0bC5U/yyxNnkSmcbsM=";
const DECOMPRESS_MAX: usize = 1 << 20;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn unbase64(s: &str) -> Vec<u8> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | ALPHA.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/serf/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// `(frame, src port, dst port, bytes)` per line.
fn lines(name: &str) -> Vec<(String, u16, u16, Vec<u8>)> {
    data(name)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                unhex(f[3]),
            )
        })
        .collect()
}

/// What the vectors exercised, by name.
#[derive(Default)]
struct Seen(BTreeMap<String, usize>);

impl Seen {
    fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }
    fn has(&self, what: &str) -> bool {
        self.0.contains_key(what)
    }
}

fn reencode_message(msg: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    sw::encode_message(msg, &mut out).unwrap();
    out
}

fn check_serf(bytes: &[u8], seen: &mut Seen, ctx: &str) {
    let msg = sw::decode_serf_message(bytes).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let mut out = Vec::new();
    sw::encode_serf_message(&msg, &mut out);
    assert_eq!(
        out, bytes,
        "{ctx}: Serf message re-encodes to the same bytes"
    );
    seen.add(format!("serf {:?}", msg.message_type()));
    match &msg {
        SerfMessage::Query(q) => {
            for f in &q.filters {
                let filter = Filter::decode(f).unwrap();
                let mut out = Vec::new();
                filter.encode(&mut out);
                assert_eq!(&out, f, "{ctx}: filter re-encodes");
                seen.add(match filter {
                    Filter::Nodes(_) => "filter nodes",
                    _ => "filter tag",
                });
            }
            if let Some(p) = q.payload.filter(|_| q.name.ends_with("-key")) {
                check_serf(p, seen, ctx);
            }
            if q.name.starts_with("_serf_") {
                seen.add(format!("internal query {}", q.name));
            }
        }
        SerfMessage::QueryResponse(r) => {
            if let Some(p) = r.payload.filter(|p| matches!(p.first(), Some(6 | 8))) {
                check_serf(p, seen, ctx);
            }
        }
        SerfMessage::Relay(r) => check_serf(r.message, seen, ctx),
        SerfMessage::PushPull(pp) => {
            assert_eq!(pp.events.len(), 512, "{ctx}: Serf sends every event slot");
        }
        _ => {}
    }
}

fn check_message(bytes: &[u8], seen: &mut Seen, ctx: &str) {
    let msg = sw::decode_message(bytes).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(reencode_message(&msg), bytes, "{ctx}: message re-encodes");
    seen.add(format!("{:?}", msg.message_type()));
    match &msg {
        Message::Compound(c) => {
            assert_eq!(c.truncated, 0);
            for part in &c.parts {
                check_message(part, seen, ctx);
            }
        }
        Message::User(serf) => check_serf(serf, seen, ctx),
        Message::Alive(a) => {
            let tags = sw::decode_tags(a.meta.unwrap_or_default()).unwrap();
            let mut out = Vec::new();
            let proto = a.vsn.delegate_cur;
            sw::encode_tags(&tags, proto, &mut out).unwrap();
            assert_eq!(out, a.meta.unwrap_or_default(), "{ctx}: tags re-encode");
            if proto < 3 {
                seen.add("role-only tags");
            }
        }
        Message::Ack(a) => {
            if let Some(p) = a.payload.filter(|p| !p.is_empty()) {
                let coord = sw::decode_ack_payload(p).unwrap();
                let mut out = Vec::new();
                sw::encode_ack_payload(&coord, &mut out);
                assert_eq!(out, p, "{ctx}: coordinate re-encodes");
                seen.add("coordinate");
            }
        }
        _ => {}
    }
}

fn keys() -> Vec<Vec<u8>> {
    vec![unbase64(KEY), unbase64(KEY2)]
}

/// Opens one captured datagram, checks every message, and re-seals it byte for byte.
fn check_packet(bytes: &[u8], encrypted: bool, seen: &mut Seen, ctx: &str) {
    let keys = keys();
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let opened: OpenedPacket<'_> = sw::open_packet(
        bytes,
        if encrypted { &key_refs } else { &[] },
        DECOMPRESS_MAX,
    )
    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(opened.encrypted, encrypted);
    if opened.crc {
        seen.add("crc");
    }
    if opened.compressed {
        seen.add("compressed packet");
    }
    check_message(&opened.body, seen, ctx);

    // Re-seal with what the packet used (the captured nonce for encryption).
    let key = if encrypted {
        let k = key_refs
            .iter()
            .find(|k| sw::layers::decrypt(&[k], bytes, &[]).is_ok())
            .unwrap();
        let nonce: [u8; 12] = bytes[1..13].try_into().unwrap();
        assert_eq!(bytes[0], 1, "{ctx}: encryption version 1");
        Some((EncryptionVersion::V1, *k, nonce))
    } else {
        None
    };
    let mut out = Vec::new();
    sw::seal_packet(
        &opened.body,
        &PacketSeal {
            label: "",
            compress: opened.compressed,
            crc: opened.crc,
            encrypt: key,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, bytes, "{ctx}: packet re-seals to the same bytes");
}

fn check_stream(bytes: &[u8], encrypted: bool, seen: &mut Seen, ctx: &str) {
    let keys = keys();
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let opened =
        sw::open_stream(bytes, &key_refs, DECOMPRESS_MAX).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(opened.encrypted, encrypted);
    assert_eq!(
        opened.frame_len,
        bytes.len(),
        "{ctx}: one frame per direction"
    );
    assert_eq!(
        sw::stream_frame_len(&bytes[..bytes.len() - 1], &key_refs, DECOMPRESS_MAX),
        Ok(None),
        "{ctx}: a cut frame asks for more bytes"
    );
    let (msg, used) = sw::decode_stream_message(&opened.body).unwrap();
    assert_eq!(used, opened.body.len());
    let mut out = Vec::new();
    sw::encode_stream_message(&msg, &mut out);
    assert_eq!(out, &opened.body[..], "{ctx}: stream message re-encodes");
    seen.add(format!("stream {:?}", msg.message_type()));
    if opened.compressed {
        seen.add("compressed stream");
    }
    if let StreamMessage::PushPull {
        nodes, user_state, ..
    } = &msg
    {
        for n in nodes {
            let tags = sw::decode_tags(n.meta.unwrap_or_default()).unwrap();
            let mut out = Vec::new();
            sw::encode_tags(&tags, n.vsn.delegate_cur, &mut out).unwrap();
            assert_eq!(out, n.meta.unwrap_or_default(), "{ctx}: tags re-encode");
        }
        check_serf(user_state.unwrap(), seen, ctx);
    }

    let key = if encrypted {
        let k = key_refs
            .iter()
            .find(|k| sw::open_stream(bytes, &[k], DECOMPRESS_MAX).is_ok())
            .unwrap();
        let nonce: [u8; 12] = bytes[6..18].try_into().unwrap();
        Some((EncryptionVersion::V1, *k, nonce))
    } else {
        None
    };
    let mut out = Vec::new();
    sw::seal_stream(
        &opened.body,
        &StreamSeal {
            label: "",
            compress: opened.compressed,
            encrypt: key,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, bytes, "{ctx}: stream frame re-seals to the same bytes");
}

fn check_scenario(name: &str, encrypted: bool) -> Seen {
    let mut seen = Seen::default();
    let udp = lines(&format!("{name}.udp.hex"));
    assert!(!udp.is_empty());
    for (frame, src, dst, bytes) in &udp {
        check_packet(
            bytes,
            encrypted,
            &mut seen,
            &format!("{name} udp frame {frame} {src}->{dst}"),
        );
    }
    let tcp = lines(&format!("{name}.tcp.hex"));
    assert!(!tcp.is_empty());
    for (stream, src, dst, bytes) in &tcp {
        check_stream(
            bytes,
            encrypted,
            &mut seen,
            &format!("{name} tcp {stream} {src}->{dst}"),
        );
    }
    eprintln!(
        "{name}: {} datagrams, {} stream frames: {:?}",
        udp.len(),
        tcp.len(),
        seen.0
    );
    seen
}

#[test]
fn plain_cluster_with_compression_round_trips_byte_for_byte() {
    let seen = check_scenario("plain", false);
    for what in [
        "compressed packet",
        "compressed stream",
        "crc",
        "stream PushPull",
    ] {
        assert!(seen.has(what), "missing {what}");
    }
}

#[test]
fn plain_cluster_without_compression_covers_every_message_kind() {
    let seen = check_scenario("nocomp", false);
    for what in [
        "Ping",
        "IndirectPing",
        "Ack",
        "Suspect",
        "Alive",
        "Dead",
        "Compound",
        "User",
        "crc",
        "coordinate",
        "serf Join",
        "serf Leave",
        "serf UserEvent",
        "serf Query",
        "serf QueryResponse",
        "serf Relay",
        "serf PushPull",
        "filter nodes",
        "filter tag",
        "stream PushPull",
    ] {
        assert!(seen.has(what), "missing {what}: {:?}", seen.0);
    }
}

#[test]
fn encrypted_cluster_with_key_rotation_round_trips_byte_for_byte() {
    let seen = check_scenario("encrypt", true);
    for what in [
        "internal query _serf_list-keys",
        "internal query _serf_install-key",
        "internal query _serf_use-key",
        "internal query _serf_remove-key",
        "serf KeyRequest",
        "serf KeyResponse",
    ] {
        assert!(seen.has(what), "missing {what}: {:?}", seen.0);
    }
}

#[test]
fn a_name_conflict_round_trips_byte_for_byte() {
    let seen = check_scenario("conflict", false);
    for what in ["internal query _serf_conflict", "serf ConflictResponse"] {
        assert!(seen.has(what), "missing {what}: {:?}", seen.0);
    }
}

#[test]
fn protocol_2_peers_send_the_bare_role_as_meta() {
    let seen = check_scenario("proto2", false);
    assert!(seen.has("role-only tags"), "{:?}", seen.0);
}

#[test]
fn encrypted_packets_do_not_open_without_the_key_or_when_tampered() {
    let udp = lines("encrypt.udp.hex");
    let (_, _, _, bytes) = &udp[0];
    assert_eq!(
        sw::open_packet(bytes, &[&[7u8; 32]], DECOMPRESS_MAX),
        Err(SerfDecodeError::Undecryptable)
    );
    let keys = keys();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    for i in [0, 1, 13, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(
            sw::open_packet(&bad, &refs, DECOMPRESS_MAX).is_err(),
            "flip at {i}"
        );
    }
    // A label changes the associated data: the same bytes behind a label do not open.
    let mut labelled = Vec::new();
    sw::push_label(&mut labelled, "prod");
    labelled.extend_from_slice(bytes);
    assert_eq!(
        sw::open_packet(&labelled, &refs, DECOMPRESS_MAX),
        Err(SerfDecodeError::Undecryptable)
    );
}

#[test]
fn a_corrupted_crc_drops_the_packet() {
    let udp = lines("nocomp.udp.hex");
    let (_, _, _, bytes) = udp.iter().find(|l| l.3[0] == 12).unwrap();
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    assert!(matches!(
        sw::open_packet(&bad, &[], DECOMPRESS_MAX),
        Err(SerfDecodeError::Checksum { .. })
    ));
}

#[test]
fn lzw_is_bit_exact_with_go() {
    for line in data("lzw.hex").lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (name, input, go) = (f[0], unhex(f[1]), unhex(f[2]));
        let ours = sw::lzw_compress(&input);
        assert_eq!(
            sw::lzw_decompress(&go, DECOMPRESS_MAX).unwrap(),
            input,
            "{name}: decompress Go's output"
        );
        assert_eq!(ours, go, "{name}: compress matches Go bit for bit");
    }
}

#[test]
fn decompression_stops_at_the_cap() {
    let zeros = vec![0u8; 100_000];
    let packed = sw::lzw_compress(&zeros);
    assert!(packed.len() < 2_000);
    assert!(matches!(
        sw::lzw_decompress(&packed, 10_000),
        Err(SerfDecodeError::TooLarge { max: 10_000, .. })
    ));
    // An LZW stream cut before its end code is refused.
    assert_eq!(
        sw::lzw_decompress(&packed[..packed.len() - 2], usize::MAX),
        Err(SerfDecodeError::Decompress)
    );
}

#[test]
fn mtype_bytes_are_memberlists() {
    assert_eq!(MessageType::Ping as u8, 0);
    assert_eq!(MessageType::Nack as u8, 11);
    assert_eq!(MessageType::HasCrc as u8, 12);
    assert_eq!(MessageType::Err as u8, 13);
    assert_eq!(MessageType::HasLabel as u8, 244);
    for b in 0..=255u8 {
        if let Some(t) = MessageType::from_u8(b) {
            assert_eq!(t as u8, b);
        }
    }
}

/// Prints `name input ours` lines for `tools/lzw_vectors.go verify` (run by hand).
#[test]
#[ignore = "tool: prints this codec's LZW output for the Go cross-check"]
fn dump_lzw_for_go() {
    for line in data("lzw.hex").lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let ours: String = sw::lzw_compress(&unhex(f[1]))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("LZW {} {} {}", f[0], f[1], ours);
    }
}

#[test]
fn coordinates_from_real_acks_feed_the_vivaldi_client() {
    use hearsay_protocol::coordinate::{CoordinateClient, CoordinateConfig};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    let mut client = CoordinateClient::new(CoordinateConfig::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut fed = 0;
    for (_, src, _, bytes) in lines("nocomp.udp.hex") {
        let opened = sw::open_packet(&bytes, &[], DECOMPRESS_MAX).unwrap();
        if let Ok(Message::Ack(ack)) = sw::decode_message(&opened.body) {
            let Some(payload) = ack.payload.filter(|p| !p.is_empty()) else {
                continue;
            };
            let theirs = sw::decode_ack_payload(payload).unwrap();
            // Loopback: about a tenth of a millisecond.
            let rtt = std::time::Duration::from_micros(120);
            client
                .update(&format!("port-{src}"), &theirs, rtt, &mut rng)
                .unwrap();
            fed += 1;
        }
    }
    assert!(fed > 10, "{fed} coordinates");
    assert_eq!(client.stats().rejected, 0);
    assert!(client.coordinate().is_valid());
    // Serf's own estimate between loopback agents is sub-millisecond; so is ours.
    assert!(client.coordinate().error < 1.5);
}

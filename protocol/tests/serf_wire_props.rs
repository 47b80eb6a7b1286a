//! Property tests of the Serf wire dialect: typed messages survive encode → decode, whole
//! packets and stream frames survive seal → open, LZW round-trips, and arbitrary bytes
//! never panic any decoder (the stable counterpart of `fuzz/fuzz_targets/serf_wire.rs`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hearsay_protocol::coordinate::{Coordinate, DIMENSIONALITY};
use hearsay_protocol::wire::serf::{
    self as sw, Ack, Alive, Compound, Dead, EncryptionVersion, Filter, IndirectPing, Join, Leave,
    Message, NodeState, PacketSeal, Ping, PushNodeState, Query, QueryResponse, Relay, SerfMessage,
    SerfPushPull, StreamMessage, StreamSeal, Suspect, UdpAddr, UserEvent, UserEvents, Version,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9-]{1,12}", "\\PC{0,40}"]
}

fn bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..70))
}

fn ip() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop_oneof![
        prop::collection::vec(any::<u8>(), 4),
        prop::collection::vec(any::<u8>(), 16)
    ])
    .prop_map(|ip| ip.filter(|ip| !ip.is_empty()))
}

#[derive(Debug, Clone)]
struct Owned {
    kind: u8,
    n: u32,
    port: u16,
    flag: bool,
    names: [String; 3],
    blobs: [Option<Vec<u8>>; 3],
    vsn: [u8; 6],
    state: i64,
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        0u8..9,
        any::<u32>(),
        any::<u16>(),
        any::<bool>(),
        [name(), name(), name()],
        (ip(), bytes(), bytes()).prop_map(|(a, b, c)| [a, b, c]),
        any::<[u8; 6]>(),
        prop_oneof![0i64..4, any::<i64>()],
    )
        .prop_map(|(kind, n, port, flag, names, blobs, vsn, state)| Owned {
            kind,
            n,
            port,
            flag,
            names,
            blobs,
            vsn,
            state,
        })
}

fn message(o: &Owned) -> Message<'_> {
    let [a, b, c] = &o.names;
    let [ip, blob, blob2] = &o.blobs;
    match o.kind {
        0 => Message::Ping(Ping {
            seq_no: o.n,
            node: a,
            source_addr: ip.as_deref(),
            source_port: o.port,
            source_node: b,
        }),
        1 => Message::IndirectPing(IndirectPing {
            seq_no: o.n,
            target: blob.as_deref(),
            port: o.port,
            node: a,
            nack: o.flag,
            source_addr: ip.as_deref(),
            source_port: o.port.wrapping_add(1),
            source_node: c,
        }),
        2 => Message::Ack(Ack {
            seq_no: o.n,
            payload: blob.as_deref(),
        }),
        3 => Message::Suspect(Suspect {
            incarnation: o.n,
            node: a,
            from: b,
        }),
        4 => Message::Alive(Alive {
            incarnation: o.n,
            node: a,
            addr: ip.as_deref(),
            port: o.port,
            meta: blob2.as_deref(),
            vsn: Version::from_bytes(o.vsn),
        }),
        5 => Message::Dead(Dead {
            incarnation: o.n,
            node: c,
            from: a,
        }),
        6 => Message::Nack(hearsay_protocol::wire::serf::Nack { seq_no: o.n }),
        7 => Message::User(blob.as_deref().unwrap_or_default()),
        _ => Message::Compound(Compound {
            parts: o.names.iter().map(|n| n.as_bytes()).collect(),
            truncated: 0,
        }),
    }
}

fn serf_message<'a>(o: &'a Owned, filters: &'a [Vec<u8>]) -> SerfMessage<'a> {
    let [a, b, c] = &o.names;
    let [ip, blob, _] = &o.blobs;
    match o.kind % 7 {
        0 => SerfMessage::Join(Join {
            ltime: u64::from(o.n),
            node: a,
        }),
        1 => SerfMessage::Leave(Leave {
            ltime: u64::from(o.n) << 20,
            node: b,
            prune: o.flag,
        }),
        2 => SerfMessage::UserEvent(UserEvent {
            ltime: u64::from(o.n),
            name: c,
            payload: blob.as_deref(),
            cc: o.flag,
        }),
        3 => SerfMessage::Query(Query {
            ltime: u64::from(o.n),
            id: o.n.rotate_left(7),
            addr: ip.as_deref(),
            port: o.port,
            source_node: a,
            filters: filters.iter().map(Vec::as_slice).collect(),
            flags: o.n & 3,
            relay_factor: o.vsn[0],
            timeout: Duration::from_nanos(u64::from(o.n) * 1_000_000),
            name: b,
            payload: blob.as_deref(),
        }),
        4 => SerfMessage::QueryResponse(QueryResponse {
            ltime: u64::from(o.n),
            id: o.n,
            from: c,
            flags: u32::from(o.flag),
            payload: blob.as_deref(),
        }),
        5 => SerfMessage::Relay(Relay {
            dest_addr: UdpAddr {
                ip: ip.as_deref(),
                port: o.port,
                zone: c,
            },
            dest_name: a,
            message: blob.as_deref().unwrap_or(b"\x05\x80"),
        }),
        _ => SerfMessage::PushPull(SerfPushPull {
            ltime: u64::from(o.n),
            status_ltimes: vec![(a.as_str(), 1), (b.as_str(), u64::MAX)],
            left_members: vec![c.as_str()],
            event_ltime: 7,
            events: vec![
                None,
                Some(UserEvents {
                    ltime: 3,
                    events: vec![(a.as_str(), blob.as_deref())],
                }),
            ],
            query_ltime: u64::from(o.port),
        }),
    }
}

fn coordinate() -> impl Strategy<Value = Coordinate> {
    (
        prop::array::uniform8(-100.0f64..100.0),
        0.0f64..1.5,
        -1.0f64..1.0,
        0.0f64..1.0,
    )
        .prop_map(|(vec, error, adjustment, height)| Coordinate {
            vec,
            error,
            adjustment,
            height,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memberlist_messages_round_trip(o in owned()) {
        let msg = message(&o);
        let mut bytes = Vec::new();
        sw::encode_message(&msg, &mut bytes).unwrap();
        let back = sw::decode_message(&bytes).unwrap();
        // Ping and ping-req omit empty source fields; compare what the wire can carry.
        let want = match msg {
            Message::Ping(p) => Message::Ping(Ping {
                source_addr: p.source_addr.filter(|a| !a.is_empty()),
                ..p
            }),
            Message::IndirectPing(p) => Message::IndirectPing(IndirectPing {
                source_addr: p.source_addr.filter(|a| !a.is_empty()),
                ..p
            }),
            m => m,
        };
        prop_assert_eq!(back, want);
    }

    #[test]
    fn serf_messages_round_trip(o in owned(), nodes in prop::collection::vec("[a-z]{0,5}", 0..3)) {
        let mut f = Vec::new();
        Filter::Nodes(nodes.iter().map(String::as_str).collect()).encode(&mut f);
        let filters = vec![f];
        let msg = serf_message(&o, &filters);
        let mut bytes = Vec::new();
        sw::encode_serf_message(&msg, &mut bytes);
        prop_assert_eq!(sw::decode_serf_message(&bytes).unwrap(), msg);
    }

    #[test]
    fn packets_survive_every_layer(
        o in owned(),
        label in "[a-z]{0,20}",
        compress: bool,
        crc: bool,
        encrypt in prop::option::of((prop_oneof![Just(16usize), Just(24), Just(32)], any::<bool>(), any::<[u8; 12]>())),
    ) {
        let mut body = Vec::new();
        sw::encode_message(&message(&o), &mut body).unwrap();
        let key = encrypt.map(|(len, _, _)| vec![0x5a; len]);
        let seal = PacketSeal {
            label: &label,
            compress,
            crc,
            encrypt: encrypt.zip(key.as_deref()).map(|((_, v0, nonce), k)| {
                (if v0 { EncryptionVersion::V0Padded } else { EncryptionVersion::V1 }, k, nonce)
            }),
        };
        let mut packet = Vec::new();
        sw::seal_packet(&body, &seal, &mut packet).unwrap();
        let keys: Vec<&[u8]> = key.as_deref().into_iter().collect();
        let opened = sw::open_packet(&packet, &keys, 1 << 20).unwrap();
        prop_assert_eq!(&opened.body[..], &body[..]);
        prop_assert_eq!(opened.label, (!label.is_empty()).then_some(label.as_str()));
        prop_assert_eq!(opened.crc, crc);
        prop_assert_eq!(opened.encrypted, encrypt.is_some());
    }

    #[test]
    fn stream_frames_survive_every_layer(
        o in owned(),
        label in "[a-z]{0,20}",
        compress: bool,
        nonce: Option<[u8; 12]>,
        tail in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let [a, b, _] = &o.names;
        let [ip, blob, _] = &o.blobs;
        let msg = match o.kind % 4 {
            0 => StreamMessage::PushPull {
                join: o.flag,
                nodes: vec![PushNodeState {
                    name: a,
                    addr: ip.as_deref(),
                    port: o.port,
                    meta: blob.as_deref(),
                    incarnation: o.n,
                    state: match o.state { 0 => NodeState::Alive, 1 => NodeState::Suspect, 2 => NodeState::Dead, 3 => NodeState::Left, v => NodeState::Other(v) },
                    vsn: Version::from_bytes(o.vsn),
                }],
                user_state: blob.as_deref().filter(|b| !b.is_empty()),
            },
            1 => StreamMessage::Ack(Ack { seq_no: o.n, payload: blob.as_deref() }),
            2 => StreamMessage::User(blob.as_deref().unwrap_or_default()),
            _ => StreamMessage::Err(hearsay_protocol::wire::serf::ErrResp { error: b }),
        };
        let mut body = Vec::new();
        sw::encode_stream_message(&msg, &mut body);
        let key = [7u8; 32];
        let seal = StreamSeal {
            label: &label,
            compress,
            encrypt: nonce.map(|n| (EncryptionVersion::V1, &key[..], n)),
        };
        let mut frame = Vec::new();
        sw::seal_stream(&body, &seal, &mut frame).unwrap();
        let len = frame.len();
        frame.extend_from_slice(&tail);
        let opened = sw::open_stream(&frame, &[&key], 1 << 20).unwrap();
        prop_assert_eq!(opened.frame_len, len);
        let (back, used) = sw::decode_stream_message(&opened.body).unwrap();
        prop_assert_eq!(used, opened.body.len());
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn lzw_round_trips(data in prop::collection::vec(any::<u8>(), 0..6000), small in prop::collection::vec(0u8..4, 0..9000)) {
        for d in [&data, &small] {
            let packed = sw::lzw_compress(d);
            prop_assert_eq!(&sw::lzw_decompress(&packed, usize::MAX).unwrap(), d);
        }
    }

    #[test]
    fn coordinates_round_trip_exactly(c in coordinate()) {
        let mut payload = Vec::new();
        sw::encode_ack_payload(&c, &mut payload);
        let back = sw::decode_ack_payload(&payload).unwrap();
        prop_assert_eq!(back.vec.map(f64::to_bits), c.vec.map(f64::to_bits));
        prop_assert_eq!(back.error.to_bits(), c.error.to_bits());
        prop_assert_eq!(back.adjustment.to_bits(), c.adjustment.to_bits());
        prop_assert_eq!(back.height.to_bits(), c.height.to_bits());
        prop_assert_eq!(DIMENSIONALITY, 8);
    }

    #[test]
    fn tags_round_trip(tags in prop::collection::vec(("[a-z]{1,8}", "\\PC{0,12}"), 0..10)) {
        let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut meta = Vec::new();
        if sw::encode_tags(&pairs, 5, &mut meta).is_ok() {
            prop_assert_eq!(sw::decode_tags(&meta).unwrap(), pairs);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = sw::open_packet(&data, &[], 1 << 16).map(|p| sw::decode_message(&p.body).map(|m| {
            if let Message::Compound(c) = m {
                for part in c.parts {
                    let _ = sw::decode_message(part);
                }
            }
        }));
        let _ = sw::open_packet(&data, &[&[1u8; 32]], 1 << 16);
        let _ = sw::decode_message(&data);
        let _ = sw::decode_serf_message(&data);
        let _ = sw::open_stream(&data, &[&[1u8; 16]], 1 << 16);
        let _ = sw::stream_frame_len(&data, &[], 1 << 16);
        let _ = sw::decode_stream_message(&data);
        let _ = sw::decode_tags(&data);
        let _ = sw::decode_ack_payload(&data);
        let _ = sw::lzw_decompress(&data, 1 << 16);
        let _ = Filter::decode(&data);
        let _ = Compound::decode(&data);
    }

    #[test]
    fn mutated_valid_messages_never_panic(o in owned(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = Vec::new();
        sw::encode_message(&message(&o), &mut bytes).unwrap();
        let mut serf = Vec::new();
        sw::encode_serf_message(&serf_message(&o, &[]), &mut serf);
        for buf in [&mut bytes, &mut serf] {
            for (i, v) in &flips {
                let i = i.index(buf.len());
                buf[i] ^= v;
            }
        }
        let _ = sw::decode_message(&bytes);
        let _ = sw::decode_serf_message(&serf);
        let _ = sw::decode_stream_message(&serf);
    }
}

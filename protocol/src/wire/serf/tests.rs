//! Unit tests of the Serf dialect codec: the msgpack subset, each layer, and the error
//! paths the captured vectors do not reach.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::msgpack::{DEPTH_MAX, Reader, Writer};
use super::*;
use crate::coordinate::{Coordinate, CoordinateConfig};

fn write(f: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut Writer::new(&mut out));
    out
}

#[test]
fn strings_use_the_raw_family_like_serfs_go_codec() {
    let s31 = "a".repeat(31);
    let s32 = "a".repeat(32);
    assert_eq!(write(|w| w.str(&s31))[0], 0xbf);
    assert_eq!(write(|w| w.str(&s32))[..3], [0xda, 0, 32]);
    let big = vec![0u8; 65_536];
    assert_eq!(write(|w| w.raw(&big))[..5], [0xdb, 0, 1, 0, 0]);
    assert_eq!(write(|w| w.bytes(None)), [0xc0]);
}

#[test]
fn integers_are_shortest_and_non_negative_ones_unsigned() {
    assert_eq!(write(|w| w.uint(127)), [0x7f]);
    assert_eq!(write(|w| w.uint(128)), [0xcc, 0x80]);
    assert_eq!(write(|w| w.uint(37946)), [0xcd, 0x94, 0x3a]);
    assert_eq!(
        write(|w| w.uint(2_000_000_000)),
        [0xce, 0x77, 0x35, 0x94, 0x00]
    );
    assert_eq!(write(|w| w.int(5)), [0x05]);
    assert_eq!(write(|w| w.int(300)), [0xcd, 0x01, 0x2c]);
    assert_eq!(write(|w| w.int(-1)), [0xff]);
    assert_eq!(write(|w| w.int(-100)), [0xd0, 0x9c]);
}

#[test]
fn the_reader_accepts_every_integer_width_that_fits() {
    let cases: &[(&[u8], i64)] = &[
        (&[0x05], 5),
        (&[0xe0], -32),
        (&[0xcc, 0xff], 255),
        (&[0xcd, 0x01, 0x00], 256),
        (&[0xce, 0, 1, 0, 0], 65_536),
        (&[0xcf, 0, 0, 0, 1, 0, 0, 0, 0], 1 << 32),
        (&[0xd0, 0x80], -128),
        (&[0xd1, 0x80, 0x00], -32_768),
        (&[0xd2, 0x80, 0, 0, 0], -(1 << 31)),
        (&[0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], -1),
        (&[0xc0], 0),
    ];
    for (bytes, want) in cases {
        assert_eq!(Reader::new(bytes).int(), Ok(*want), "{bytes:02x?}");
    }
    assert_eq!(
        Reader::new(&[0xcd, 0x01, 0x00]).uint::<u8>(),
        Err(SerfDecodeError::IntegerRange)
    );
    assert_eq!(
        Reader::new(&[0xff]).uint::<u32>(),
        Err(SerfDecodeError::IntegerRange)
    );
    assert_eq!(
        Reader::new(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).int(),
        Err(SerfDecodeError::IntegerRange)
    );
    assert_eq!(
        Reader::new(&[0xa1]).int(),
        Err(SerfDecodeError::Type("integer"))
    );
    assert_eq!(
        Reader::new(&[0xcd, 0x01]).int(),
        Err(SerfDecodeError::Truncated)
    );
}

#[test]
fn the_reader_accepts_str8_and_bin_for_strings_and_bytes() {
    assert_eq!(Reader::new(&[0xd9, 2, b'h', b'i']).str(), Ok("hi"));
    assert_eq!(Reader::new(&[0xc4, 1, 7]).bytes(), Ok(Some(&[7u8][..])));
    assert_eq!(Reader::new(&[0xc5, 0, 1, 7]).bytes(), Ok(Some(&[7u8][..])));
    assert_eq!(Reader::new(&[0xc0]).str(), Ok(""));
    assert_eq!(Reader::new(&[0xc0]).bytes(), Ok(None));
    assert_eq!(
        Reader::new(&[0xa2, 0xff, 0xfe]).str(),
        Err(SerfDecodeError::InvalidUtf8)
    );
    assert_eq!(
        Reader::new(&[0xa5, b'x']).str(),
        Err(SerfDecodeError::Truncated)
    );
    assert_eq!(
        Reader::new(&[0xdb, 0xff, 0xff, 0xff, 0xff]).bytes(),
        Err(SerfDecodeError::Truncated)
    );
}

#[test]
fn floats_read_from_f32_f64_and_integers() {
    assert_eq!(write(|w| w.f64(1.5))[0], 0xcb);
    assert_eq!(Reader::new(&write(|w| w.f64(1.5))).f64(), Ok(1.5));
    assert_eq!(Reader::new(&[0xca, 0x3f, 0xc0, 0, 0]).f64(), Ok(1.5));
    assert_eq!(Reader::new(&[0x03]).f64(), Ok(3.0));
    assert_eq!(Reader::new(&[]).f64(), Err(SerfDecodeError::Truncated));
}

#[test]
fn skip_passes_over_nested_values_and_stops_at_the_depth_limit() {
    // {"a": [1, {"b": ext8}], "c": 1.0} then a trailing 0x07.
    let mut v = Vec::new();
    {
        let mut w = Writer::new(&mut v);
        w.map(2);
        w.str("a");
        w.array(2);
        w.uint(1);
        w.map(1);
        w.str("b");
    }
    v.extend_from_slice(&[0xc7, 2, 5, 0xaa, 0xbb]);
    {
        let mut w = Writer::new(&mut v);
        w.str("c");
        w.f64(1.0);
    }
    v.push(0x07);
    let mut r = Reader::new(&v);
    r.skip().unwrap();
    assert_eq!(r.rest(), &[0x07]);

    let deep = vec![0x91u8; DEPTH_MAX + 2];
    assert_eq!(Reader::new(&deep).skip(), Err(SerfDecodeError::TooDeep));
    let shallow: Vec<u8> = core::iter::repeat_n(0x91u8, DEPTH_MAX - 1)
        .chain([0x01])
        .collect();
    assert_eq!(Reader::new(&shallow).skip(), Ok(()));
    assert_eq!(
        Reader::new(&[0xc1]).skip(),
        Err(SerfDecodeError::Type("valid marker"))
    );
}

#[test]
fn forged_counts_cannot_reserve_more_than_the_input() {
    assert_eq!(
        Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]).array_len(),
        Err(SerfDecodeError::Truncated)
    );
    assert_eq!(
        Reader::new(&[0xdf, 0x7f, 0xff, 0xff, 0xff, 0]).map_len(),
        Err(SerfDecodeError::Truncated)
    );
}

fn msg_bytes(m: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_message(m, &mut out).unwrap();
    out
}

#[test]
fn unknown_and_misplaced_types_are_refused() {
    assert_eq!(decode_message(&[]), Err(SerfDecodeError::Truncated));
    assert_eq!(
        decode_message(&[14]),
        Err(SerfDecodeError::UnknownMessage(14))
    );
    for t in [6u8, 10, 12, 13, 244] {
        assert_eq!(
            decode_message(&[t, 0x80]),
            Err(SerfDecodeError::NotInPacket(t))
        );
    }
    assert_eq!(
        decode_serf_message(&[10, 0x80]),
        Err(SerfDecodeError::UnknownSerfMessage(10))
    );
    let nack = msg_bytes(&Message::Nack(Nack { seq_no: 3 }));
    let mut trailing = nack.clone();
    trailing.push(0);
    assert_eq!(
        decode_message(&trailing),
        Err(SerfDecodeError::TrailingBytes)
    );
    assert_eq!(decode_message(&nack), Ok(Message::Nack(Nack { seq_no: 3 })));
    assert_eq!(
        decode_stream_message(&nack).map(|(m, _)| m.message_type()),
        Err(SerfDecodeError::NotInStream(11))
    );
}

#[test]
fn unknown_fields_are_skipped_and_fields_read_in_any_order() {
    // {"Zeta": [1, 2], "SeqNo": 9}: an unknown key first, in an order Go never writes.
    let mut v = vec![MessageType::Nack as u8];
    {
        let mut w = Writer::new(&mut v);
        w.map(2);
        w.str("Zeta");
        w.array(2);
        w.uint(1);
        w.uint(2);
        w.str("SeqNo");
        w.uint(9);
    }
    assert_eq!(decode_message(&v), Ok(Message::Nack(Nack { seq_no: 9 })));
}

#[test]
fn ping_omits_empty_source_fields_like_memberlist() {
    let bare = Ping {
        seq_no: 1,
        node: "b",
        ..Ping::default()
    };
    let bytes = msg_bytes(&Message::Ping(bare));
    assert_eq!(bytes[1], 0x82, "only Node and SeqNo");
    assert_eq!(decode_message(&bytes), Ok(Message::Ping(bare)));
}

#[test]
fn labels_round_trip_and_bad_headers_are_refused() {
    let mut out = Vec::new();
    assert!(push_label(&mut out, "prod"));
    out.extend_from_slice(&[0x0b, 0x80]);
    assert_eq!(strip_label(&out), Ok((Some("prod"), &[0x0b, 0x80][..])));
    let mut none = Vec::new();
    assert!(push_label(&mut none, ""));
    assert!(none.is_empty(), "an empty label writes no header");
    assert!(!push_label(&mut none, &"x".repeat(256)));
    assert_eq!(strip_label(&[244]), Err(SerfDecodeError::Truncated));
    assert_eq!(strip_label(&[244, 0, 1]), Err(SerfDecodeError::EmptyLabel));
    assert_eq!(
        strip_label(&[244, 5, b'a']),
        Err(SerfDecodeError::Truncated)
    );
    assert_eq!(strip_label(&[1, 2]), Ok((None, &[1, 2][..])));
}

#[test]
fn crc_round_trips_and_short_packets_are_not_crc() {
    let mut out = Vec::new();
    push_crc(&mut out, b"hello");
    assert_eq!(out[0], 12);
    assert_eq!(strip_crc(&out), Ok(&b"hello"[..]));
    // Fewer than five bytes starting with 12 are not a CRC header (memberlist's rule).
    assert_eq!(strip_crc(&[12, 1, 2]), Ok(&[12u8, 1, 2][..]));
}

#[test]
fn compound_parts_cut_short_are_counted_not_fatal() {
    let mut out = Vec::new();
    Compound::encode(&[b"ab", b"cde"], &mut out).unwrap();
    assert_eq!(out, [7, 2, 0, 2, 0, 3, b'a', b'b', b'c', b'd', b'e']);
    let c = Compound::decode(&out[1..out.len() - 1]).unwrap();
    assert_eq!(c.parts, vec![&b"ab"[..]]);
    assert_eq!(c.truncated, 1);
    assert_eq!(
        Compound::decode(&[3, 0, 1]),
        Err(SerfDecodeError::Truncated)
    );
    let many = vec![&b""[..]; 256];
    assert!(Compound::encode(&many, &mut Vec::new()).is_err());
    let huge = vec![0u8; 65_536];
    assert!(Compound::encode(&[&huge], &mut Vec::new()).is_err());
}

const NONCE: [u8; 12] = [9; 12];

#[test]
fn encryption_round_trips_for_every_key_size_and_both_versions() {
    for key_len in [16, 24, 32] {
        let key = vec![0x42u8; key_len];
        for version in [EncryptionVersion::V0Padded, EncryptionVersion::V1] {
            for msg in [&b""[..], b"x", &[7u8; 16], &[7u8; 100]] {
                let mut out = Vec::new();
                layers::encrypt(version, &key, &NONCE, msg, b"aad", &mut out).unwrap();
                assert_eq!(out.len(), msg.len() + version.overhead(msg.len()));
                assert_eq!(layers::decrypt(&[&key], &out, b"aad").unwrap(), msg);
                assert_eq!(
                    layers::decrypt(&[&key], &out, b"other"),
                    Err(SerfDecodeError::Undecryptable)
                );
            }
        }
    }
    assert_eq!(
        layers::encrypt(
            EncryptionVersion::V1,
            &[0; 17],
            &NONCE,
            b"x",
            b"",
            &mut Vec::new()
        ),
        Err(SerfDecodeError::BadKey)
    );
    assert_eq!(
        layers::decrypt(&[&[0; 32]], &[2; 40], b""),
        Err(SerfDecodeError::UnknownEncryptionVersion(2))
    );
    assert_eq!(
        layers::decrypt(&[&[0; 32]], &[1; 28], b""),
        Err(SerfDecodeError::Truncated)
    );
    assert_eq!(
        layers::decrypt(&[&[0; 32]], &[0; 44], b""),
        Err(SerfDecodeError::Truncated)
    );
}

#[test]
fn the_second_key_opens_what_the_first_cannot() {
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let mut out = Vec::new();
    layers::encrypt(EncryptionVersion::V1, &new, &NONCE, b"m", b"", &mut out).unwrap();
    assert_eq!(layers::decrypt(&[&old, &new], &out, b""), Ok(b"m".to_vec()));
    assert_eq!(
        layers::decrypt(&[&old], &out, b""),
        Err(SerfDecodeError::Undecryptable)
    );
    assert_eq!(
        layers::decrypt(&[], &out, b""),
        Err(SerfDecodeError::Undecryptable)
    );
}

#[test]
fn a_labelled_encrypted_compressed_packet_round_trips() {
    let key = [3u8; 32];
    let alive = Message::Alive(Alive {
        incarnation: 4,
        node: "node-a",
        addr: Some(&[127, 0, 0, 1]),
        port: 7946,
        meta: Some(&[0xff, 0x80]),
        vsn: Version::SERF_DEFAULT,
    });
    let a = msg_bytes(&alive);
    let mut compound = Vec::new();
    Compound::encode(&[&a, &a, &a, &a], &mut compound).unwrap();
    let seal = PacketSeal {
        label: "prod",
        compress: true,
        crc: true,
        encrypt: Some((EncryptionVersion::V1, &key, NONCE)),
    };
    let mut packet = Vec::new();
    seal_packet(&compound, &seal, &mut packet).unwrap();
    assert_eq!(&packet[..6], &[244, 4, b'p', b'r', b'o', b'd']);
    let opened = open_packet(&packet, &[&key], 1 << 16).unwrap();
    assert_eq!(opened.label, Some("prod"));
    assert!(opened.encrypted && opened.crc && opened.compressed);
    assert_eq!(&opened.body[..], &compound[..]);
    // The label is authenticated: another label (same length) does not open.
    let mut relabelled = packet.clone();
    relabelled[2] = b'q';
    assert_eq!(
        open_packet(&relabelled, &[&key], 1 << 16),
        Err(SerfDecodeError::Undecryptable)
    );
    // Compression is skipped when it does not help.
    let nack = msg_bytes(&Message::Nack(Nack { seq_no: 1 }));
    let mut small = Vec::new();
    seal_packet(
        &nack,
        &PacketSeal {
            compress: true,
            ..PacketSeal::default()
        },
        &mut small,
    )
    .unwrap();
    assert_eq!(small, nack);
}

#[test]
fn a_labelled_encrypted_stream_frame_authenticates_its_header() {
    let key = [5u8; 16];
    let ping = Ping {
        seq_no: 77,
        node: "b",
        source_addr: Some(&[10, 0, 0, 1]),
        source_port: 7946,
        source_node: "a",
    };
    let mut msg = Vec::new();
    encode_stream_message(&StreamMessage::Ping(ping), &mut msg);
    let seal = StreamSeal {
        label: "lab",
        compress: true,
        encrypt: Some((EncryptionVersion::V1, &key, NONCE)),
    };
    let mut frame = Vec::new();
    seal_stream(&msg, &seal, &mut frame).unwrap();
    frame.extend_from_slice(b"next frame");
    let opened = open_stream(&frame, &[&key], 1 << 16).unwrap();
    assert_eq!(opened.label, Some("lab"));
    assert!(opened.encrypted && opened.compressed);
    assert_eq!(opened.frame_len, frame.len() - 10);
    assert_eq!(
        decode_stream_message(&opened.body).unwrap().0,
        StreamMessage::Ping(ping)
    );
    // Changing the length byte changes the associated data.
    let mut bad = frame.clone();
    bad[2 + 3 + 4] ^= 1;
    assert!(open_stream(&bad, &[&key], 1 << 16).is_err());
    for cut in 0..frame.len() - 10 {
        assert_eq!(
            stream_frame_len(&frame[..cut], &[&key], 1 << 16),
            Ok(None),
            "cut at {cut}"
        );
    }
}

#[test]
fn a_plaintext_push_pull_frame_is_measured_by_parsing() {
    let nodes = vec![PushNodeState {
        name: "a",
        addr: Some(&[127, 0, 0, 1]),
        port: 1,
        meta: None,
        incarnation: 2,
        state: NodeState::Left,
        vsn: Version::SERF_DEFAULT,
    }];
    let msg = StreamMessage::PushPull {
        join: true,
        nodes,
        user_state: Some(b"\x02\x80"),
    };
    let mut bytes = Vec::new();
    encode_stream_message(&msg, &mut bytes);
    let n = bytes.len();
    bytes.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(stream_frame_len(&bytes, &[], 1024), Ok(Some(n)));
    assert_eq!(stream_frame_len(&bytes[..n - 1], &[], 1024), Ok(None));
    assert_eq!(decode_stream_message(&bytes[..n]).unwrap(), (msg, n));
    // A push-pull announcing more nodes than memberlist allows is refused at once.
    let mut huge = vec![6u8];
    PushPullHeader {
        nodes: PUSH_PULL_NODES_MAX + 1,
        user_state_len: 0,
        join: false,
    }
    .encode(&mut Writer::new(&mut huge));
    assert!(matches!(
        decode_stream_message(&huge),
        Err(SerfDecodeError::TooLarge { .. })
    ));
}

#[test]
fn tags_follow_serfs_encoding_rules() {
    let tags = [("role", "web"), ("dc", "east")];
    let mut meta = Vec::new();
    encode_tags(&tags, 5, &mut meta).unwrap();
    assert_eq!(meta[0], TAG_MAGIC_BYTE);
    assert_eq!(decode_tags(&meta).unwrap(), tags.to_vec());
    let mut old = Vec::new();
    encode_tags(&tags, 2, &mut old).unwrap();
    assert_eq!(old, b"web");
    assert_eq!(decode_tags(&old).unwrap(), vec![("role", "web")]);
    assert_eq!(decode_tags(&[]).unwrap(), vec![("role", "")]);
    let long = "v".repeat(600);
    let mut out = vec![1u8];
    assert!(matches!(
        encode_tags(&[("k", &long)], 5, &mut out),
        Err(SerfDecodeError::TooLarge { max: 512, .. })
    ));
    assert_eq!(out, [1], "nothing written on error");
}

#[test]
fn coordinates_ride_in_ack_payloads_and_bad_ones_are_refused() {
    let mut c = Coordinate::new(&CoordinateConfig::default());
    c.vec[3] = 0.25;
    c.adjustment = -0.001;
    let mut payload = Vec::new();
    encode_ack_payload(&c, &mut payload);
    assert_eq!(payload[0], PING_VERSION);
    assert_eq!(decode_ack_payload(&payload), Ok(c));
    assert_eq!(decode_ack_payload(&[]), Err(SerfDecodeError::Truncated));
    assert_eq!(
        decode_ack_payload(&[2, 0x80]),
        Err(SerfDecodeError::PingVersion(2))
    );

    let mut nan = c;
    nan.height = f64::NAN;
    let mut bytes = Vec::new();
    encode_coordinate(&nan, &mut bytes);
    assert_eq!(
        decode_coordinate(&bytes),
        Err(SerfDecodeError::Coordinate(CoordinateError::NotFinite))
    );

    // Three dimensions, as a Serf built with another dimensionality would send.
    let mut three = Vec::new();
    {
        let mut w = Writer::new(&mut three);
        w.map(4);
        w.str("Adjustment");
        w.f64(0.0);
        w.str("Error");
        w.f64(1.5);
        w.str("Height");
        w.f64(1e-5);
        w.str("Vec");
        w.array(3);
        for _ in 0..3 {
            w.f64(0.0);
        }
    }
    assert_eq!(
        decode_coordinate(&three),
        Err(SerfDecodeError::Coordinate(
            CoordinateError::Dimensionality {
                expected: 8,
                got: 3
            }
        ))
    );
    // No Vec at all is a dimensionality of 0.
    assert!(matches!(
        decode_coordinate(&[0x80]),
        Err(SerfDecodeError::Coordinate(
            CoordinateError::Dimensionality { got: 0, .. }
        ))
    ));
}

#[test]
fn serf_messages_round_trip() {
    let filter = {
        let mut f = Vec::new();
        Filter::Tag {
            tag: "role",
            expr: "^web$",
        }
        .encode(&mut f);
        f
    };
    let msgs = [
        SerfMessage::Join(Join {
            ltime: 3,
            node: "a",
        }),
        SerfMessage::Leave(Leave {
            ltime: 4,
            node: "a",
            prune: true,
        }),
        SerfMessage::UserEvent(UserEvent {
            ltime: 1,
            name: "deploy",
            payload: Some(b"v1"),
            cc: true,
        }),
        SerfMessage::Query(Query {
            ltime: 2,
            id: 0xdead_beef,
            addr: Some(&[127, 0, 0, 1]),
            port: 7946,
            source_node: "a",
            filters: vec![&filter],
            flags: QUERY_FLAG_ACK,
            relay_factor: 2,
            timeout: Duration::from_secs(5),
            name: "uptime",
            payload: None,
        }),
        SerfMessage::KeyRequest(KeyRequest {
            key: Some(&[1; 32]),
        }),
        SerfMessage::KeyResponse(KeyResponse {
            result: true,
            message: "",
            keys: vec!["AQ=="],
            primary_key: "AQ==",
        }),
        SerfMessage::ConflictResponse(None),
        SerfMessage::ConflictResponse(Some(SerfMember {
            name: "a",
            addr: Some(&[127, 0, 0, 1]),
            port: 1,
            tags: vec![("role", "db")],
            status: 1,
            protocol: [1, 5, 2],
            delegate: [2, 5, 5],
        })),
    ];
    for m in &msgs {
        let mut out = Vec::new();
        encode_serf_message(m, &mut out);
        assert_eq!(&decode_serf_message(&out).unwrap(), m);
    }
    assert_eq!(
        Filter::decode(&filter).unwrap(),
        Filter::Tag {
            tag: "role",
            expr: "^web$"
        }
    );
    assert_eq!(
        Filter::decode(&[2, 0x90]),
        Err(SerfDecodeError::UnknownFilter(2))
    );
    // A timeout beyond Go's int64 nanoseconds is refused.
    let mut q = vec![4u8];
    {
        let mut w = Writer::new(&mut q);
        w.map(1);
        w.str("Timeout");
        w.uint(u64::MAX);
    }
    assert_eq!(decode_serf_message(&q), Err(SerfDecodeError::IntegerRange));
}

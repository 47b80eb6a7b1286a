//! Wire format tests: golden byte vectors that pin the format, decode errors, and property
//! suites (round trips, "never panics on arbitrary bytes", `message_len` agreement).
//!
//! The golden vectors were produced once by this build and are now the specification: a
//! change to any of them is a wire-format break and needs a new [`VERSION`] (or a new,
//! appended message tag), never an edit of the expected bytes.

#![expect(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

extern crate std;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::error::DecodeError;

// ----------------------------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------------------------

/// `10.0.0.1:7946`. The port encodes as the varint `8a 3e`.
const V4: WireAddr = WireAddr::V4([10, 0, 0, 1], 7946);
/// `[fd00::1]:7946`.
const V6: WireAddr = WireAddr::V6([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 7946);
/// `Tags` `{role: web}` in their wire form: one pair of two length-prefixed strings.
const ROLE_WEB: &[u8] = &[0x01, 0x04, b'r', b'o', b'l', b'e', 0x03, b'w', b'e', b'b'];

/// Parses hex digits, ignoring whitespace, so golden vectors can be laid out by field.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// A packet without a label holding `msgs`, built the way the node builds datagrams.
fn packet_of(msgs: &[Message<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    begin_packet(&mut out, None);
    for m in msgs {
        push_message(&mut out, m);
    }
    out
}

/// Every message result of a packet `max` bytes at most; panics on an envelope error.
fn messages_of(bytes: &[u8]) -> Vec<Result<Message<'_>, DecodeError>> {
    decode_packet(bytes, usize::MAX)
        .unwrap()
        .messages()
        .collect()
}

/// Asserts that `msg` alone in a packet encodes to `expected` (hex) and decodes back.
fn assert_golden(msg: &Message<'_>, expected: &str) {
    let bytes = packet_of(core::slice::from_ref(msg));
    let expected = hex(expected);
    assert_eq!(bytes, expected, "packet bytes of {msg:?}");
    assert_eq!(messages_of(&expected), [Ok(msg.clone())]);
}

// ----------------------------------------------------------------------------------------
// Golden vectors: one fixed example of every message tag
// ----------------------------------------------------------------------------------------

#[test]
fn a_ping_packet_has_pinned_bytes() {
    let msg = Message::Ping(Ping {
        seq: 7,
        target: "b",
        source: "a",
        source_addr: V4,
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",       // envelope: version 1, flags 0 (no label)
            "0d",          // message length 13 (LEB128)
            "00",          // tag 0 = Ping
            "07",          // seq 7 (varint)
            "01 62",       // target: length 1, "b"
            "01 61",       // source: length 1, "a"
            "00 0a000001", // source_addr: WireAddr::V4, octets 10.0.0.1
            "8a 3e",       // port 7946 (varint)
        ),
    );
}

#[test]
fn a_ping_req_packet_has_pinned_bytes() {
    let msg = Message::PingReq(PingReq {
        seq: 300,
        target: "b",
        target_addr: V6,
        source: "a",
        source_addr: V4,
        nack: true,
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",                               // envelope: version 1, no flags
            "22",                                  // message length 34
            "01",                                  // tag 1 = PingReq
            "ac 02",                               // seq 300 (two-byte varint)
            "01 62",                               // target "b"
            "01 fd000000000000000000000000000001", // target_addr: V6 fd00::1
            "8a 3e",                               // port 7946
            "01 61",                               // source "a"
            "00 0a000001 8a 3e",                   // source_addr: V4 10.0.0.1:7946
            "01",                                  // nack: true
        ),
    );
}

#[test]
fn an_ack_packet_has_pinned_bytes() {
    assert_golden(
        &Message::Ack(Ack { seq: 7 }),
        concat!(
            "01 00", // envelope
            "02",    // message length 2
            "02",    // tag 2 = Ack
            "07",    // seq 7
        ),
    );
}

#[test]
fn a_nack_packet_has_pinned_bytes() {
    assert_golden(
        &Message::Nack(Nack { seq: 70_000 }),
        concat!(
            "01 00",    // envelope
            "04",       // message length 4
            "03",       // tag 3 = Nack
            "f0 a2 04", // seq 70000 (three-byte varint)
        ),
    );
}

#[test]
fn an_alive_packet_has_pinned_bytes() {
    let msg = Message::Alive(Alive {
        node: "web-1",
        incarnation: 3,
        addr: V6,
        tags: ROLE_WEB,
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",                               // envelope
            "26",                                  // message length 38
            "04",                                  // tag 4 = Alive
            "05 7765622d31",                       // node: length 5, "web-1"
            "03",                                  // incarnation 3
            "01 fd000000000000000000000000000001", // addr: V6 fd00::1
            "8a 3e",                               // port 7946
            "0a 01 04726f6c65 03776562",           // tags: 10 bytes = [("role", "web")]
        ),
    );
}

#[test]
fn a_suspect_packet_has_pinned_bytes() {
    let msg = Message::Suspect(Suspect {
        node: "b",
        incarnation: 2,
        from: "a",
    });
    assert_golden(
        &msg,
        concat!(
            "01 00", // envelope
            "06",    // message length 6
            "05",    // tag 5 = Suspect
            "01 62", // node "b"
            "02",    // incarnation 2
            "01 61", // from "a"
        ),
    );
}

#[test]
fn a_dead_packet_has_pinned_bytes() {
    let msg = Message::Dead(Dead {
        node: "b",
        incarnation: 2,
        from: "a",
    });
    assert_golden(
        &msg,
        concat!(
            "01 00", // envelope
            "06",    // message length 6
            "06",    // tag 6 = Dead
            "01 62", // node "b"
            "02",    // incarnation 2
            "01 61", // from "a"
        ),
    );
}

#[test]
fn a_leave_packet_has_pinned_bytes() {
    let msg = Message::Leave(Leave {
        node: "a",
        incarnation: 1,
    });
    assert_golden(
        &msg,
        concat!(
            "01 00", // envelope
            "04",    // message length 4
            "07",    // tag 7 = Leave
            "01 61", // node "a"
            "01",    // incarnation 1
        ),
    );
}

#[test]
fn a_push_pull_frame_with_two_members_has_pinned_bytes() {
    let msg = Message::PushPull(PushPull {
        join: true,
        reply: false,
        source: "a",
        source_addr: V4,
        members: vec![
            PushPullMember {
                name: "a",
                addr: V4,
                incarnation: 1,
                state: WireState::Alive,
                tags: &[],
            },
            PushPullMember {
                name: "b",
                addr: V6,
                incarnation: 2,
                state: WireState::Suspect,
                tags: ROLE_WEB,
            },
        ],
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",             // envelope
            "3b",                // message length 59
            "08",                // tag 8 = PushPull
            "01",                // join: true
            "00",                // reply: false
            "01 61",             // source "a"
            "00 0a000001 8a 3e", // source_addr: V4 10.0.0.1:7946
            "02",                // members: 2 entries
            // member "a": name, V4 addr, incarnation 1, WireState::Alive (0), no tags
            "01 61 00 0a000001 8a 3e 01 00 00",
            // member "b": name, V6 addr, incarnation 2, WireState::Suspect (1), tags role=web
            "01 62 01 fd000000000000000000000000000001 8a 3e 02 01",
            "0a 01 04726f6c65 03776562",
        ),
    );
}

#[test]
fn a_labelled_envelope_has_pinned_bytes() {
    let mut out = Vec::new();
    begin_packet(&mut out, Some("prod"));
    push_message(&mut out, &Message::Ack(Ack { seq: 7 }));
    let expected = hex(concat!(
        "01",          // version 1
        "01",          // flags: FLAG_LABEL
        "04 70726f64", // label: length 4, "prod"
        "02 02 07",    // Ack { seq: 7 }, length-prefixed
    ));
    assert_eq!(out, expected);
    let packet = decode_packet(&expected, 1400).unwrap();
    assert_eq!(packet.label, Some("prod"));
    assert_eq!(
        packet.messages().collect::<Vec<_>>(),
        [Ok(Message::Ack(Ack { seq: 7 }))]
    );
}

#[test]
fn an_empty_label_writes_an_unlabelled_envelope() {
    let mut out = Vec::new();
    begin_packet(&mut out, Some(""));
    assert_eq!(out, [VERSION, 0]);
}

#[test]
fn begin_packet_discards_what_the_buffer_held() {
    let mut out = vec![0xee; 10];
    begin_packet(&mut out, None);
    assert_eq!(out, [VERSION, 0]);
}

#[test]
fn encode_message_appends_after_existing_bytes() {
    let mut out = vec![0xee];
    encode_message(&Message::Ack(Ack { seq: 7 }), &mut out);
    assert_eq!(out, [0xee, 0x02, 0x07]);
}

#[test]
fn the_swim_message_tags_keep_their_numbers() {
    let examples = [
        Message::Ping(Ping {
            seq: 0,
            target: "b",
            source: "a",
            source_addr: V4,
        }),
        Message::PingReq(PingReq {
            seq: 0,
            target: "b",
            target_addr: V4,
            source: "a",
            source_addr: V4,
            nack: false,
        }),
        Message::Ack(Ack { seq: 0 }),
        Message::Nack(Nack { seq: 0 }),
        Message::Alive(Alive {
            node: "a",
            incarnation: 0,
            addr: V4,
            tags: &[],
        }),
        Message::Suspect(Suspect {
            node: "a",
            incarnation: 0,
            from: "b",
        }),
        Message::Dead(Dead {
            node: "a",
            incarnation: 0,
            from: "b",
        }),
        Message::Leave(Leave {
            node: "a",
            incarnation: 0,
        }),
        Message::PushPull(PushPull {
            join: false,
            reply: false,
            source: "a",
            source_addr: V4,
            members: Vec::new(),
        }),
    ];
    // Tags are append only: later tags (the Serf layer's) may follow, these never move.
    assert!(examples.len() <= MESSAGE_TAGS as usize);
    for (tag, (msg, kind)) in examples
        .iter()
        .zip(MessageKind::ALL.iter().copied())
        .enumerate()
    {
        let mut bytes = Vec::new();
        encode_message(msg, &mut bytes);
        assert_eq!(usize::from(bytes[0]), tag, "tag of {msg:?}");
        assert_eq!(msg.kind(), kind);
        assert_eq!(kind as usize, tag);
    }
}

// ----------------------------------------------------------------------------------------
// Decoding: envelope errors
// ----------------------------------------------------------------------------------------

#[test]
fn empty_and_header_only_inputs_are_truncated() {
    assert_eq!(decode_packet(&[], 1400), Err(DecodeError::Truncated));
    assert_eq!(decode_packet(&[VERSION], 1400), Err(DecodeError::Truncated));
    assert_eq!(
        decode_packet(&[VERSION, 0], 1400),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn a_label_longer_than_the_input_is_truncated() {
    assert_eq!(
        decode_packet(&[VERSION, FLAG_LABEL], 1400),
        Err(DecodeError::Truncated)
    );
    let short = hex("01 01 05 70726f64");
    assert_eq!(decode_packet(&short, 1400), Err(DecodeError::Truncated));
    let no_body = hex("01 01 04 70726f64");
    assert_eq!(decode_packet(&no_body, 1400), Err(DecodeError::Truncated));
}

#[test]
fn a_label_that_is_not_utf8_is_malformed() {
    let bytes = hex("01 01 02 c328 02 02 07");
    assert_eq!(decode_packet(&bytes, 1400), Err(DecodeError::Malformed));
}

#[test]
fn other_versions_are_rejected() {
    for version in [0, 2, 0xff] {
        let bytes = [version, 0, 2, 2, 7];
        assert_eq!(
            decode_packet(&bytes, 1400),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn unknown_flags_are_rejected() {
    for flags in [0b100, 0x80, FLAG_SEALED | 0b100] {
        let bytes = [VERSION, flags, 2, 2, 7];
        assert_eq!(
            decode_packet(&bytes, 1400),
            Err(DecodeError::UnsupportedFlags(flags))
        );
    }
}

#[test]
fn inputs_over_the_budget_are_too_large_and_at_the_budget_are_fine() {
    let mut bytes = packet_of(&[Message::Ack(Ack { seq: 7 })]);
    let max = bytes.len();
    assert!(decode_packet(&bytes, max).is_ok());
    bytes.push(0);
    assert_eq!(
        decode_packet(&bytes, max),
        Err(DecodeError::TooLarge { len: max + 1, max })
    );
}

#[test]
fn the_size_limit_is_checked_before_anything_else() {
    let garbage = [0xff; 10];
    assert_eq!(
        decode_packet(&garbage, 9),
        Err(DecodeError::TooLarge { len: 10, max: 9 })
    );
}

// ----------------------------------------------------------------------------------------
// Decoding: message errors inside a packet
// ----------------------------------------------------------------------------------------

#[test]
fn a_length_prefix_that_never_ends_is_malformed_and_stops_iteration() {
    let bytes = hex("01 00 ff ff ff ff ff 02 07");
    let mut messages = decode_packet(&bytes, 1400).unwrap().messages();
    assert_eq!(messages.next(), Some(Err(DecodeError::Malformed)));
    assert_eq!(messages.next(), None);
}

#[test]
fn a_length_prefix_over_u32_is_malformed() {
    // Five varint bytes whose last carries more than the 4 bits u32 has left.
    let bytes = hex("01 00 80 80 80 80 10");
    assert_eq!(messages_of(&bytes), [Err(DecodeError::Malformed)]);
}

#[test]
fn a_length_prefix_past_the_end_is_truncated_and_stops_iteration() {
    let bytes = hex("01 00 05 02 07");
    let mut messages = decode_packet(&bytes, 1400).unwrap().messages();
    assert_eq!(messages.next(), Some(Err(DecodeError::Truncated)));
    assert_eq!(messages.next(), None);
}

#[test]
fn trailing_bytes_inside_a_message_are_malformed_and_the_next_message_is_read() {
    // Ack { seq: 7 } framed as 3 bytes with a stray 0x00, then a well-formed Ack { seq: 8 }.
    let bytes = hex("01 00 03 02 07 00 02 02 08");
    assert_eq!(
        messages_of(&bytes),
        [
            Err(DecodeError::Malformed),
            Ok(Message::Ack(Ack { seq: 8 }))
        ]
    );
}

#[test]
fn a_message_shorter_than_its_fields_is_malformed() {
    // A Ping whose length prefix covers only the tag and the seq.
    let bytes = hex("01 00 02 00 07");
    assert_eq!(messages_of(&bytes), [Err(DecodeError::Malformed)]);
}

#[test]
fn invalid_field_values_are_malformed() {
    // Message bodies (tag first); each is framed with a correct length prefix.
    let cases = [
        "05 01 ff 02 01 61", // Suspect whose node is not UTF-8
        "02 ff",             // Ack whose seq varint never ends
        "01 07 01 62 00 0a000001 8a 3e 01 61 00 0a000001 8a 3e 02", // PingReq with nack = 2
        "07 01 61 00 02",    // Leave with a stray byte after it
        "04 01 61 01 02 0a000001 8a 3e 00", // Alive with WireAddr variant 2
        "08 00 00 01 61 05", // PushPull, source_addr variant 5
        "08 00 00 01 61 00 0a000001 8a 3e 01", // PushPull promising 1 member
    ];
    for case in cases {
        let mut bytes = Vec::new();
        begin_packet(&mut bytes, None);
        push_encoded(&mut bytes, &hex(case));
        let results = messages_of(&bytes);
        assert_eq!(results, [Err(DecodeError::Malformed)], "{case}");
    }
}

#[test]
fn an_unknown_tag_is_reported_and_the_next_message_is_read() {
    // The first tag this build does not know: a message kind from a newer version.
    let unknown = u8::try_from(MESSAGE_TAGS).unwrap();
    assert!(unknown < 0x80, "the next tag still fits one varint byte");
    let mut bytes = Vec::new();
    begin_packet(&mut bytes, None);
    push_encoded(&mut bytes, &[unknown, 0xaa, 0xbb]);
    push_encoded(&mut bytes, &hex("02 07")); // Ack { seq: 7 }
    push_encoded(&mut bytes, &hex("80 7f 00")); // tag 16256 as a two-byte varint
    push_encoded(&mut bytes, &hex("03 08")); // Nack { seq: 8 }
    assert_eq!(
        messages_of(&bytes),
        [
            Err(DecodeError::UnknownMessage),
            Ok(Message::Ack(Ack { seq: 7 })),
            Err(DecodeError::UnknownMessage),
            Ok(Message::Nack(Nack { seq: 8 })),
        ]
    );
}

#[test]
fn decode_message_rejects_an_empty_or_unterminated_tag() {
    assert_eq!(decode_message(&[]), Err(DecodeError::Malformed));
    assert_eq!(decode_message(&[0x80]), Err(DecodeError::Malformed));
    assert_eq!(
        decode_message(&[MESSAGE_TAGS as u8]),
        Err(DecodeError::UnknownMessage)
    );
}

#[test]
fn a_zero_length_message_is_malformed() {
    let bytes = hex("01 00 00 02 02 07");
    assert_eq!(
        messages_of(&bytes),
        [
            Err(DecodeError::Malformed),
            Ok(Message::Ack(Ack { seq: 7 }))
        ]
    );
}

#[test]
fn a_compound_packet_round_trips_in_order() {
    let msgs = [
        Message::Ack(Ack { seq: 1 }),
        Message::Alive(Alive {
            node: "web-1",
            incarnation: 3,
            addr: V6,
            tags: ROLE_WEB,
        }),
        Message::Suspect(Suspect {
            node: "b",
            incarnation: 2,
            from: "a",
        }),
        Message::Dead(Dead {
            node: "c",
            incarnation: 9,
            from: "a",
        }),
        Message::Leave(Leave {
            node: "d",
            incarnation: 1,
        }),
        Message::Ping(Ping {
            seq: 2,
            target: "b",
            source: "a",
            source_addr: V4,
        }),
        Message::Nack(Nack { seq: 3 }),
    ];
    let bytes = packet_of(&msgs);
    let decoded: Vec<Message<'_>> = messages_of(&bytes)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decoded, msgs);
}

#[test]
fn push_encoded_frames_like_push_message() {
    let msg = Message::Alive(Alive {
        node: "web-1",
        incarnation: 3,
        addr: V4,
        tags: ROLE_WEB,
    });
    let mut encoded = Vec::new();
    encode_message(&msg, &mut encoded);
    let mut a = Vec::new();
    begin_packet(&mut a, None);
    push_encoded(&mut a, &encoded);
    assert_eq!(a, packet_of(&[msg]));
    assert_eq!(a.len(), ENVELOPE_BYTES + framed_len(encoded.len()));
}

#[test]
fn long_messages_take_a_multi_byte_length_prefix() {
    let tags = vec![0u8; 200];
    let msg = Message::Alive(Alive {
        node: "n",
        incarnation: 0,
        addr: V4,
        tags: &tags,
    });
    let len = message_len(&msg);
    assert!(len >= 128);
    let bytes = packet_of(core::slice::from_ref(&msg));
    assert_eq!(bytes[2..4], [(len as u8) | 0x80, (len >> 7) as u8]);
    assert_eq!(bytes.len(), ENVELOPE_BYTES + framed_len(len));
    assert_eq!(messages_of(&bytes), [Ok(msg.clone())]);
}

// ----------------------------------------------------------------------------------------
// Property suites
// ----------------------------------------------------------------------------------------

// Messages borrow their names and tags, and proptest strategies must yield owned values:
// the strategies leak the few bytes each case generates to get `'static` borrows. The
// leak is bounded by the case count and lives only as long as the test process.

fn leaked_str() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        any::<String>(),
        // Short ASCII names exercise single-byte lengths and look like real node names.
        "[a-z0-9.-]{1,12}",
        // Long names cross the one-byte varint length boundary.
        "[a-z]{120,140}",
    ]
    .prop_map(|s| &*s.leak())
}

fn leaked_bytes() -> impl Strategy<Value = &'static [u8]> {
    proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| &*v.leak())
}

fn wire_addr() -> impl Strategy<Value = WireAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| WireAddr::V4(ip, port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| WireAddr::V6(ip, port)),
    ]
}

fn wire_state() -> impl Strategy<Value = WireState> {
    prop_oneof![
        Just(WireState::Alive),
        Just(WireState::Suspect),
        Just(WireState::Dead),
        Just(WireState::Left),
    ]
}

fn push_pull_member() -> impl Strategy<Value = PushPullMember<'static>> {
    (
        leaked_str(),
        wire_addr(),
        any::<u32>(),
        wire_state(),
        leaked_bytes(),
    )
        .prop_map(|(name, addr, incarnation, state, tags)| PushPullMember {
            name,
            addr,
            incarnation,
            state,
            tags,
        })
}

/// Any message, every tag equally likely.
fn message() -> impl Strategy<Value = Message<'static>> {
    prop_oneof![
        (any::<u32>(), leaked_str(), leaked_str(), wire_addr()).prop_map(
            |(seq, target, source, source_addr)| Message::Ping(Ping {
                seq,
                target,
                source,
                source_addr
            })
        ),
        (
            any::<u32>(),
            leaked_str(),
            wire_addr(),
            leaked_str(),
            wire_addr(),
            any::<bool>()
        )
            .prop_map(|(seq, target, target_addr, source, source_addr, nack)| {
                Message::PingReq(PingReq {
                    seq,
                    target,
                    target_addr,
                    source,
                    source_addr,
                    nack,
                })
            }),
        any::<u32>().prop_map(|seq| Message::Ack(Ack { seq })),
        any::<u32>().prop_map(|seq| Message::Nack(Nack { seq })),
        (leaked_str(), any::<u32>(), wire_addr(), leaked_bytes()).prop_map(
            |(node, incarnation, addr, tags)| Message::Alive(Alive {
                node,
                incarnation,
                addr,
                tags
            })
        ),
        (leaked_str(), any::<u32>(), leaked_str()).prop_map(|(node, incarnation, from)| {
            Message::Suspect(Suspect {
                node,
                incarnation,
                from,
            })
        }),
        (leaked_str(), any::<u32>(), leaked_str()).prop_map(|(node, incarnation, from)| {
            Message::Dead(Dead {
                node,
                incarnation,
                from,
            })
        }),
        (leaked_str(), any::<u32>())
            .prop_map(|(node, incarnation)| Message::Leave(Leave { node, incarnation })),
        (
            any::<bool>(),
            any::<bool>(),
            leaked_str(),
            wire_addr(),
            proptest::collection::vec(push_pull_member(), 0..6),
        )
            .prop_map(|(join, reply, source, source_addr, members)| {
                Message::PushPull(PushPull {
                    join,
                    reply,
                    source,
                    source_addr,
                    members,
                })
            }),
    ]
}

/// A byte edit applied to a valid packet: overwrite, insert, or remove at a position taken
/// modulo the packet length.
#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match *m {
        Mutation::Set(at, b) => {
            if let Some(slot) = bytes.get_mut(at % len) {
                *slot = b;
            }
        }
        Mutation::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
        Mutation::Remove(at) => {
            if !bytes.is_empty() {
                bytes.remove(at % len);
            }
        }
    }
}

/// Decodes `bytes` as a packet and every message in it, as the node does; returns how many
/// messages decoded. The property is that this returns at all.
fn decode_everything(bytes: &[u8]) -> usize {
    let _ = decode_message(bytes);
    match decode_packet(bytes, 1400) {
        Ok(packet) => packet.messages().filter(Result::is_ok).count(),
        Err(_) => 0,
    }
}

proptest! {
    #[test]
    fn any_message_round_trips_through_a_packet(msg in message()) {
        let bytes = packet_of(core::slice::from_ref(&msg));
        let packet = decode_packet(&bytes, usize::MAX).unwrap();
        prop_assert_eq!(packet.label, None);
        let decoded: Vec<_> = packet.messages().collect();
        prop_assert_eq!(decoded, vec![Ok(msg)]);
    }

    #[test]
    fn any_message_round_trips_through_decode_message(msg in message()) {
        let mut bytes = Vec::new();
        encode_message(&msg, &mut bytes);
        prop_assert_eq!(decode_message(&bytes), Ok(msg));
    }

    #[test]
    fn compound_packets_of_any_messages_round_trip_in_order(
        msgs in proptest::collection::vec(message(), 1..8),
        label in proptest::option::of("[a-z0-9-]{1,40}"),
    ) {
        let mut bytes = Vec::new();
        begin_packet(&mut bytes, label.as_deref());
        for m in &msgs {
            push_message(&mut bytes, m);
        }
        let packet = decode_packet(&bytes, usize::MAX).unwrap();
        prop_assert_eq!(packet.label, label.as_deref());
        let decoded: Vec<Message<'_>> = packet.messages().map(Result::unwrap).collect();
        prop_assert_eq!(decoded, msgs);
    }

    #[test]
    fn message_len_equals_the_encoded_length(msg in message()) {
        let mut bytes = Vec::new();
        encode_message(&msg, &mut bytes);
        prop_assert_eq!(message_len(&msg), bytes.len());
        let mut framed = Vec::new();
        push_message(&mut framed, &msg);
        prop_assert_eq!(framed.len(), framed_len(message_len(&msg)));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..1600),
    ) {
        decode_everything(&bytes);
    }

    #[test]
    fn decoding_arbitrary_bodies_behind_a_valid_envelope_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..1400),
    ) {
        let bytes = [&[VERSION, 0][..], &body].concat();
        decode_everything(&bytes);
    }

    #[test]
    fn decoding_mutated_valid_packets_never_panics(
        msgs in proptest::collection::vec(message(), 1..5),
        mutations in proptest::collection::vec(mutation(), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = packet_of(&msgs);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        decode_everything(&bytes);
        // Every prefix of the mutated packet, too (a datagram cut short on the way).
        bytes.truncate(cut % (bytes.len() + 1));
        decode_everything(&bytes);
    }

    #[test]
    fn every_proper_prefix_of_a_message_fails_to_decode(msg in message()) {
        let mut bytes = Vec::new();
        encode_message(&msg, &mut bytes);
        for end in 0..bytes.len() {
            prop_assert!(decode_message(&bytes[..end]).is_err(), "prefix of {} bytes", end);
        }
    }
}

// ----------------------------------------------------------------------------------------
// Golden vectors for the Serf-layer tags (9..=14)
// ----------------------------------------------------------------------------------------

#[test]
fn an_intent_packet_has_pinned_bytes() {
    let msg = Message::Intent(Intent {
        kind: IntentKind::Leave,
        node: "a",
        ltime: 300,
        prune: true,
    });
    assert_golden(
        &msg,
        concat!(
            "01 00", // envelope
            "07",    // message length 7
            "09",    // tag 9 = Intent
            "01",    // kind 1 = Leave
            "01 61", // node "a"
            "ac 02", // ltime 300 (varint)
            "01",    // prune
        ),
    );
}

#[test]
fn a_user_event_packet_has_pinned_bytes() {
    let msg = Message::UserEvent(UserEvent {
        ltime: 7,
        name: "go",
        payload: b"x",
        coalesce: true,
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",    // envelope
            "08",       // message length 8
            "0a",       // tag 10 = UserEvent
            "07",       // ltime 7
            "02 67 6f", // name "go"
            "01 78",    // payload "x"
            "01",       // coalesce
        ),
    );
}

#[test]
fn a_query_packet_has_pinned_bytes() {
    let msg = Message::Query(Query {
        ltime: 1,
        id: 2,
        from: "a",
        from_addr: V4,
        filters: vec![
            Filter::Nodes(vec!["b"]),
            Filter::Tag {
                key: "r",
                regex: "w",
            },
        ],
        request_ack: true,
        relay_factor: 3,
        timeout_ms: 1000,
        name: "q",
        payload: b"",
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",                // envelope
            "1d",                   // message length 29
            "0b",                   // tag 11 = Query
            "01 02",                // ltime 1, id 2
            "01 61",                // from "a"
            "00 0a 00 00 01 8a 3e", // from_addr V4 10.0.0.1:7946
            "02",                   // two filters
            "00 01 01 62",          // Nodes ["b"]
            "01 01 72 01 77",       // Tag { "r", "w" }
            "01 03",                // request_ack, relay_factor 3
            "e8 07",                // timeout_ms 1000
            "01 71",                // name "q"
            "00",                   // empty payload
        ),
    );
}

#[test]
fn a_query_response_and_a_relay_have_pinned_bytes() {
    let response = QueryResponse {
        ltime: 1,
        id: 2,
        from: "b",
        ack: false,
        payload: b"ok",
    };
    assert_golden(
        &Message::QueryResponse(response),
        concat!(
            "01 00",    // envelope
            "09",       // message length 9
            "0c",       // tag 12 = QueryResponse
            "01 02",    // ltime 1, id 2
            "01 62",    // from "b"
            "00",       // not an ack
            "02 6f 6b", // payload "ok"
        ),
    );
    assert_golden(
        &Message::QueryRelay(QueryRelay { dest: V4, response }),
        concat!(
            "01 00",                   // envelope
            "10",                      // message length 16
            "0d",                      // tag 13 = QueryRelay
            "00 0a 00 00 01 8a 3e",    // dest V4 10.0.0.1:7946
            "01 02 01 62 00 02 6f 6b", // the response, as above without its tag
        ),
    );
}

#[test]
fn a_serf_state_has_pinned_bytes() {
    let msg = Message::SerfState(SerfState {
        member_ltime: 1,
        event_ltime: 2,
        query_ltime: 3,
        events: vec![UserEvent {
            ltime: 1,
            name: "e",
            payload: b"",
            coalesce: false,
        }],
    });
    assert_golden(
        &msg,
        concat!(
            "01 00",          // envelope
            "0a",             // message length 10
            "0e",             // tag 14 = SerfState
            "01 02 03",       // member, event, query clocks
            "01",             // one event
            "01 01 65 00 00", // ltime 1, name "e", empty payload, no coalesce
        ),
    );
}

//! Arbitrary bytes through every decoder of the Serf wire dialect (`wire::serf`): packet
//! layers, memberlist messages, compound parts, Serf messages (relay, filters, internal
//! query payloads), stream frames, tags, coordinates and LZW. Whatever decodes must
//! re-encode to something that decodes to the same value.
#![no_main]

use hearsay_protocol::wire::serf::{self as sw, Filter, Message, SerfMessage};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 16] = [0x42; 16];

fn serf(bytes: &[u8], depth: u8) {
    let Ok(msg) = sw::decode_serf_message(bytes) else {
        return;
    };
    let mut out = Vec::new();
    sw::encode_serf_message(&msg, &mut out);
    assert_eq!(sw::decode_serf_message(&out).as_ref(), Ok(&msg), "Serf round trip");
    if depth == 0 {
        return;
    }
    match &msg {
        SerfMessage::Relay(r) => serf(r.message, depth - 1),
        SerfMessage::Query(q) => {
            for f in &q.filters {
                if let Ok(filter) = Filter::decode(f) {
                    let mut out = Vec::new();
                    filter.encode(&mut out);
                    assert_eq!(Filter::decode(&out).as_ref(), Ok(&filter), "filter round trip");
                }
            }
            if let Some(p) = q.payload {
                serf(p, depth - 1);
            }
        }
        SerfMessage::QueryResponse(r) => {
            if let Some(p) = r.payload {
                serf(p, depth - 1);
            }
        }
        _ => {}
    }
}

fn message(bytes: &[u8], depth: u8) {
    let Ok(msg) = sw::decode_message(bytes) else {
        return;
    };
    let mut out = Vec::new();
    if sw::encode_message(&msg, &mut out).is_ok() {
        let back = sw::decode_message(&out);
        match (&msg, back) {
            // Re-encoding keeps the complete parts; the cut-short ones are only counted.
            (Message::Compound(c), Ok(Message::Compound(b))) => {
                assert_eq!(c.parts, b.parts, "compound round trip");
                assert_eq!(b.truncated, 0);
            }
            (_, back) => assert_eq!(back.as_ref(), Ok(&msg), "message round trip"),
        }
    }
    if depth == 0 {
        return;
    }
    match &msg {
        Message::Compound(c) => c.parts.iter().for_each(|p| message(p, depth - 1)),
        Message::User(u) => serf(u, depth - 1),
        Message::Alive(a) => {
            if let Ok(tags) = sw::decode_tags(a.meta.unwrap_or_default()) {
                let mut out = Vec::new();
                if sw::encode_tags(&tags, 5, &mut out).is_ok() {
                    assert_eq!(sw::decode_tags(&out).as_ref(), Ok(&tags), "tags round trip");
                }
            }
        }
        Message::Ack(a) => {
            if let Ok(c) = sw::decode_ack_payload(a.payload.unwrap_or_default()) {
                let mut out = Vec::new();
                sw::encode_ack_payload(&c, &mut out);
                assert_eq!(sw::decode_ack_payload(&out), Ok(c), "coordinate round trip");
            }
        }
        Message::Compress(c) => {
            if let Ok(plain) = c.decompress(1 << 16) {
                message(&plain, depth - 1);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // Packets, plaintext and (rarely opening) encrypted.
    if let Ok(p) = sw::open_packet(data, &[], 1 << 16) {
        message(&p.body, 3);
    }
    let _ = sw::open_packet(data, &[&KEY], 1 << 16);
    message(data, 3);
    serf(data, 3);
    // Streams: a complete frame decodes, and its length is what `stream_frame_len` says.
    if let Ok(s) = sw::open_stream(data, &[&KEY], 1 << 16) {
        assert!(s.frame_len <= data.len());
        assert_eq!(sw::stream_frame_len(data, &[&KEY], 1 << 16), Ok(Some(s.frame_len)));
        if let Ok((m, used)) = sw::decode_stream_message(&s.body) {
            assert!(used <= s.body.len());
            let mut out = Vec::new();
            sw::encode_stream_message(&m, &mut out);
            assert_eq!(sw::decode_stream_message(&out).map(|x| x.0).as_ref(), Ok(&m));
        }
    }
    // LZW: whatever decompresses re-compresses (Go-exact) and decompresses back.
    if let Ok(plain) = sw::lzw_decompress(data, 1 << 16) {
        let again = sw::lzw_compress(&plain);
        assert_eq!(sw::lzw_decompress(&again, 1 << 16).as_deref(), Ok(&plain[..]));
    }
});

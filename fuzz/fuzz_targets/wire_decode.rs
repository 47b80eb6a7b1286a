//! Arbitrary bytes through the envelope parser, the message iterator and the message
//! decoder; whatever decodes must re-encode to an equal message.
#![no_main]

use hearsay_protocol::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the size limit, so both the budget check and the parser run.
    let max = match data.first() {
        Some(b) if b & 1 == 0 => 1400,
        _ => usize::MAX,
    };
    if let Ok(packet) = wire::decode_packet(data, max) {
        assert!(!packet.body.is_empty());
        assert_eq!(packet.header.len() + packet.body.len(), data.len());
        for msg in packet.messages() {
            let _ = msg;
        }
    }
    // The body parser alone, on every input (sealed bodies are opened to this).
    for msg in wire::messages(data).flatten() {
        let mut out = Vec::new();
        wire::encode_message(&msg, &mut out);
        assert_eq!(out.len(), wire::message_len(&msg));
        assert_eq!(wire::decode_message(&out).as_ref(), Ok(&msg), "round trip");
    }
    // Re-encoding is canonical; the input need not be (postcard accepts overlong varints,
    // e.g. `07 80 00 04` and `07 00 04` are the same Leave), so compare messages, not bytes.
    if let Ok(msg) = wire::decode_message(data) {
        let mut out = Vec::new();
        wire::encode_message(&msg, &mut out);
        assert!(
            out.len() <= data.len(),
            "canonical encoding is never longer"
        );
        assert_eq!(wire::decode_message(&out).as_ref(), Ok(&msg), "round trip");
    }
});

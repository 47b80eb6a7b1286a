//! The wire format: an envelope around length-prefixed postcard messages.
//!
//! ```text
//! datagram / stream frame:
//! ┌─────────┬───────┬──────────────────────────┬─────────────┬─────────────┬───
//! │ version │ flags │ label (if flags & LABEL)  │ len │ msg   │ len │ msg   │ …
//! │   u8=1  │  u8   │ u8 length + UTF-8 bytes   │ var │ post- │ var │ post- │
//! │         │       │                           │ int │ card  │ int │ card  │
//! └─────────┴───────┴──────────────────────────┴─────────────┴─────────────┴───
//! ```
//!
//! - `version` is [`VERSION`]; other values are rejected.
//! - `flags`: bit 0 ([`FLAG_LABEL`]) a cluster label follows; bit 1 ([`FLAG_SEALED`]) the
//!   rest is a 12-byte nonce and AES-256-GCM ciphertext of the messages, with the header
//!   (version, flags, label) as associated data. Unknown bits are rejected.
//! - A message is a LEB128 length then the postcard encoding of [`Message`], whose first
//!   byte is the message tag (the enum variant index, append only).
//! - A datagram packs as many messages as fit the packet budget (a compound packet); a
//!   stream frame carries one message.
//!
//! Decoding borrows names, tags and payloads from the input and never panics.

mod message;
pub mod serf;

pub use message::*;

use alloc::vec::Vec;

use crate::error::DecodeError;

/// Protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Envelope flag: a cluster label follows the flags byte.
pub const FLAG_LABEL: u8 = 0b01;
/// Envelope flag: the body is sealed (AES-256-GCM).
pub const FLAG_SEALED: u8 = 0b10;
/// Smallest packet budget a config may set.
pub const PACKET_BYTES_MIN: usize = 512;
/// Envelope bytes without a label.
pub const ENVELOPE_BYTES: usize = 2;

/// A decoded envelope: its label and the message bytes it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The cluster label, when the sender set one.
    pub label: Option<&'a str>,
    /// The length-prefixed messages, or when `sealed`, nonce and ciphertext.
    pub body: &'a [u8],
    /// The body is sealed (authenticated encryption); open it before reading messages.
    pub sealed: bool,
    /// The envelope header (version, flags, label): the associated data of a sealed body.
    pub header: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The messages in order. Iteration stops after the first framing error; an unknown
    /// message tag yields [`DecodeError::UnknownMessage`] and iteration continues.
    pub fn messages(&self) -> Messages<'a> {
        Messages { rest: self.body }
    }
}

/// Parses the envelope of a datagram or stream frame of at most `max` bytes.
///
/// # Errors
/// [`DecodeError`] for empty, oversized, wrong-version or malformed envelopes.
pub fn decode_packet(bytes: &[u8], max: usize) -> Result<Packet<'_>, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let [version, flags, rest @ ..] = bytes else {
        return Err(DecodeError::Truncated);
    };
    if *version != VERSION {
        return Err(DecodeError::UnsupportedVersion(*version));
    }
    if flags & !(FLAG_LABEL | FLAG_SEALED) != 0 {
        return Err(DecodeError::UnsupportedFlags(*flags));
    }
    let (label, body) = if flags & FLAG_LABEL != 0 {
        let [len, rest @ ..] = rest else {
            return Err(DecodeError::Truncated);
        };
        let len = usize::from(*len);
        if rest.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (label, body) = rest.split_at(len);
        let label = core::str::from_utf8(label).map_err(|_| DecodeError::Malformed)?;
        if label.is_empty() {
            // The encoder never sets the flag for an empty label.
            return Err(DecodeError::Malformed);
        }
        (Some(label), body)
    } else {
        (None, rest)
    };
    if body.is_empty() {
        return Err(DecodeError::Truncated);
    }
    let header = &bytes[..bytes.len() - body.len()];
    Ok(Packet {
        label,
        body,
        sealed: flags & FLAG_SEALED != 0,
        header,
    })
}

/// The messages of a plain body (length-prefixed messages), e.g. an opened sealed body.
pub fn messages(body: &[u8]) -> Messages<'_> {
    Messages { rest: body }
}

/// Iterator over the messages of a [`Packet`].
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((len, used)) = read_varint(self.rest) else {
            self.rest = &[];
            return Some(Err(DecodeError::Malformed));
        };
        let after = &self.rest[used..];
        let Some(msg) = after.get(..len as usize) else {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated));
        };
        self.rest = &after[msg.len()..];
        Some(decode_message(msg))
    }
}

/// Decodes one message (without its length prefix). Trailing bytes are an error.
///
/// # Errors
/// [`DecodeError::UnknownMessage`] for a tag from a newer version, else
/// [`DecodeError::Malformed`].
pub fn decode_message(bytes: &[u8]) -> Result<Message<'_>, DecodeError> {
    match read_varint(bytes) {
        Some((tag, _)) if tag >= MESSAGE_TAGS => return Err(DecodeError::UnknownMessage),
        None => return Err(DecodeError::Malformed),
        _ => {}
    }
    match postcard::take_from_bytes::<Message<'_>>(bytes) {
        Ok((msg, [])) => Ok(msg),
        _ => Err(DecodeError::Malformed),
    }
}

/// Encodes `msg` (without a length prefix), appending to `out`.
pub fn encode_message(msg: &Message<'_>, out: &mut Vec<u8>) {
    // Size first, then serialise in place: no allocation, and should serialising ever
    // fail, `out` is left as it was.
    let start = out.len();
    out.resize(start + message_len(msg), 0);
    if postcard::to_slice(msg, &mut out[start..]).is_err() {
        out.truncate(start);
    }
}

/// Encoded size of `msg` without its length prefix.
pub fn message_len(msg: &Message<'_>) -> usize {
    postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default()).unwrap_or(0)
}

/// Clears `out` and writes the envelope header, with `label` when it is not empty (cut to
/// 255 bytes on a character boundary).
pub fn begin_packet(out: &mut Vec<u8>, label: Option<&str>) {
    out.clear();
    out.push(VERSION);
    match label {
        Some(label) if !label.is_empty() => {
            out.push(FLAG_LABEL);
            // At most 255 bytes, cut on a character boundary so it still decodes.
            let mut end = label.len().min(255);
            while !label.is_char_boundary(end) {
                end -= 1;
            }
            out.push(end as u8);
            out.extend_from_slice(&label.as_bytes()[..end]);
        }
        _ => out.push(0),
    }
}

/// Appends one already-encoded message with its length prefix.
pub fn push_encoded(out: &mut Vec<u8>, encoded: &[u8]) {
    write_varint(out, encoded.len() as u32);
    out.extend_from_slice(encoded);
}

/// Appends `msg` with its length prefix.
pub fn push_message(out: &mut Vec<u8>, msg: &Message<'_>) {
    write_varint(out, message_len(msg) as u32);
    encode_message(msg, out);
}

/// Bytes `push_encoded` adds for a message of `len` bytes.
pub fn framed_len(len: usize) -> usize {
    varint_len(len as u32) + len
}

fn varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, b) in bytes.iter().enumerate().take(5) {
        let part = u32::from(b & 0x7f);
        if i == 4 && part > 0x0f {
            return None;
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests;

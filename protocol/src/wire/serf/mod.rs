//! Serf's wire dialect: memberlist's packets and streams with Serf's messages inside, as a
//! pure codec (issue #15's first half). Nothing here is wired into [`Node`](crate::Node)
//! yet; the notes at the end say how it plugs in.
//!
//! # Packets (UDP)
//!
//! ```text
//! sender:   message ─▶ compound (if piggybacking) ─▶ compress (if smaller) ─▶ CRC (if the
//!           peer speaks memberlist ≥ 5) ─▶ encrypt (if a keyring) ─▶ label header (if set)
//!
//! [244 len label]? [version nonce(12) ciphertext tag(16)]?  [12 crc32]?  [9 {Algo,Buf}]?
//!                         AAD = label                                        └ LZW of:
//!   message = type byte ‖ msgpack map       or     7 ‖ count ‖ len BE16… ‖ message…
//! ```
//!
//! [`open_packet`] undoes the layers ([`OpenedPacket`]); [`decode_message`] reads one
//! message and [`Compound`] splits a compound; [`seal_packet`] builds a packet.
//!
//! | type | message | notes |
//! | --- | --- | --- |
//! | 0 | [`Ping`] | `Node` is the target's name; `Source*` say where to ack (omitted when empty) |
//! | 1 | [`IndirectPing`] | ping-req; `Nack` asks for a [`Nack`] on timeout |
//! | 2 | [`Ack`] | `Payload`: Serf's coordinate ([`decode_ack_payload`]) |
//! | 3 / 5 | [`Suspect`] / [`Dead`] | `From` is the accuser; dead with `From == Node` is a leave |
//! | 4 | [`Alive`] | `Meta` is Serf's encoded tags ([`decode_tags`]); `Vsn` the six [`Version`] bytes |
//! | 6 | push-pull | stream only ([`StreamMessage::PushPull`]) |
//! | 7 | [`Compound`] | up to 255 messages |
//! | 8 | user | a Serf message ([`decode_serf_message`]): the rest of the bytes |
//! | 9 | [`Compress`] | LZW, LSB first, 8-bit literals (Go `compress/lzw`), via `weezl` |
//! | 10 | encrypt | stream frames only |
//! | 11 | [`Nack`] | |
//! | 12 | CRC | big-endian CRC-32 (IEEE) of the rest, via `crc32fast` |
//! | 13 | [`ErrResp`] | stream only |
//! | 244 | label | `len` (1..=255) and the label; the label is the AAD of an encrypted packet |
//!
//! # Serf messages (inside user messages and the push-pull user state)
//!
//! | type | message |
//! | --- | --- |
//! | 0 / 1 | [`Leave`] / [`Join`] intents (member clock) |
//! | 2 | [`SerfPushPull`]: clocks, status times, left members, the 512-slot event buffer |
//! | 3 | [`UserEvent`] |
//! | 4 / 5 | [`Query`] / [`QueryResponse`] (acks are responses with [`QUERY_FLAG_ACK`]) |
//! | 6 | conflict response (payload of a `_serf_conflict` response) |
//! | 7 / 8 | [`KeyRequest`] / [`KeyResponse`] (payloads of `_serf_*-key(s)` queries) |
//! | 9 | [`Relay`]: header, then the wrapped message |
//!
//! # Encoding rules (what makes re-encoding byte-exact)
//!
//! Serf 0.9's Go codec writes every struct as a map with **all** fields (bar memberlist's
//! `omitempty` ones in pings), keys **sorted**; strings and `[]byte` in the old raw family
//! (`0xa0..`, `0xda`, `0xdb`, never `str8`/`bin`); integers in their shortest form
//! (non-negative values unsigned); floats as float64; Go `nil` slices as `nil`. The
//! encoders here do the same; the decoders accept any key order, unknown keys, every
//! string/binary/integer width and `nil` for empty. Go maps (tags, status times) come in
//! random order: decoders keep the wire order in `Vec`s so re-encoding reproduces it.
//! The golden vectors in `protocol/tests/serf_wire.rs` (real Serf 0.9.4 packets) hold
//! decoders and encoders to that.
//!
//! # Differences the integration must handle
//!
//! Between memberlist/Serf rules and Hearsay's native dialect, for whoever adds
//! `Config::wire = Wire::Serf`:
//!
//! 1. **Framing.** Native packets are `version ‖ flags ‖ label? ‖ (len ‖ postcard)*`; here
//!    the first byte is a message type, a packet holds one message or one [`Compound`] (max
//!    255 parts, 16-bit lengths), and the layers nest in the order above. The label header
//!    is 2 + len bytes ([`layers::LABEL_BYTES_MAX`] 255) and is the AAD of an encrypted
//!    packet; on streams the AAD is `[10, len]` ‖ label. The installed Serf 0.9.4 (memberlist
//!    0.2.2) predates labels: it neither sends nor reads them, so label handling is pinned
//!    by unit tests, not captured vectors.
//! 2. **Encryption.** `version ‖ 12-byte nonce ‖ AES-GCM` with 16-, 24- or 32-byte keys
//!    (Hearsay's keyring is 32-byte only; Serf's `keygen` makes 32) and no native header
//!    as AAD. Version 0 (PKCS#7-padded) is only for memberlist protocol 1. memberlist
//!    tries plaintext when decryption fails unless `GossipVerifyIncoming`; streams announce
//!    encryption with type 10 and a length.
//! 3. **CRC.** memberlist adds the CRC header only when it knows the destination node and
//!    that node speaks protocol ≥ 5: in the captures, gossip packets carry it, while
//!    pings, acks and other replies (addressed by IP alone) go without. Receivers must
//!    accept both. A bad CRC drops the packet.
//! 4. **Compression** (on by default in Serf): packets are compressed only when that makes
//!    them smaller; stream frames always. The decompressed size must be capped by the
//!    caller (`decompress_max`); memberlist caps at its own limit.
//! 5. **Ping carries the target's name**: a node must not answer a ping whose `Node` is set
//!    and is not its own name (memberlist drops it); native pings already name the target.
//!    Acks must go to `SourceAddr:SourcePort` when present, else to the sender's address.
//! 6. **Ack payload = coordinate.** Serf answers every ping with [`encode_ack_payload`] of
//!    its current [`Coordinate`](crate::coordinate::Coordinate); on an ack to a *direct*
//!    ping, feed `(peer, decode_ack_payload(payload), rtt)` to
//!    [`CoordinateClient::update`](crate::coordinate::CoordinateClient::update); an empty
//!    payload means "no coordinate" (ignore), a bad one is counted and ignored. Relayed acks
//!    (via ping-req) carry no payload.
//! 7. **Nacks**: a prober sets `Nack` in a ping-req only for relays whose
//!    `Vsn.protocol_max ≥ 4`, counts the nacks it expects, and a relay sends a nack (after
//!    its probe timeout) only when asked.
//! 8. **Retransmits are counted per packet**, not per gossip round: memberlist decrements a
//!    broadcast's counter each time it is put in any packet (gossip or piggyback), limit
//!    `retransmit_mult × ⌈log10(N+1)⌉`. Serf's own broadcasts (intents, events, queries)
//!    are three extra queues filled after memberlist's, in that order, and each user
//!    message costs one extra byte (the user type) plus 2 bytes of compound overhead.
//! 9. **Suspect / dead carry `From`**, and dead with `From == Node` is a graceful leave
//!    (Serf then reports the member as left if a leave intent was seen).
//! 10. **Alive carries `Meta` and `Vsn`**: Serf's tags are node meta, ≤ 512 bytes
//!     ([`encode_tags`]: magic byte `0xff` + map; Serf protocol 2 peers send the bare role).
//!     The six version bytes are [`Version::SERF_DEFAULT`] for Serf 0.9 (memberlist 1–5
//!     speaking 2, Serf 2–5 speaking 5). Joining must check every member's range: memberlist
//!     refuses a push-pull from a peer whose range does not overlap its own.
//! 11. **Push-pull** is a stream exchange of [`PushNodeState`]s plus Serf's user state
//!     ([`SerfPushPull`], type 2, then msgpack), memberlist's states first. Periodic
//!     exchange every 30 s (LAN) with one random node, scaled above 32 nodes as natively;
//!     the responder answers on the same connection and closes it. A plaintext frame has
//!     no length prefix: an adapter must use [`stream_frame_len`]. Serf's `StatusLTimes`
//!     holds every member; `LeftMembers` turns into leave intents at `status + 1`.
//! 12. **Serf message types** are the table above; a user message whose type is unknown is
//!     logged and dropped by Serf ([`SerfDecodeError::UnknownSerfMessage`]); an unknown
//!     memberlist type is dropped too ([`SerfDecodeError::UnknownMessage`]). Neither may
//!     stop the rest of a compound packet.
//! 13. **Queries** carry the asker's address and port; responses go straight there as user
//!     packets; with `RelayFactor` k, each responder also sends a [`Relay`]-wrapped copy to
//!     k random members, who forward the inner message to `DestAddr`. Acks are responses
//!     with [`QUERY_FLAG_ACK`]. Filters are encoded individually ([`Filter`]). Internal
//!     queries are named `_serf_…` (`ping`, `conflict`, `install-key`, `use-key`,
//!     `remove-key`, `list-keys`) where Hearsay uses `_hearsay_…`; key queries carry a
//!     [`KeyRequest`] after its type byte and answer with a [`KeyResponse`].
//! 14. **Name conflicts**: Serf asks `_serf_conflict` with the contested name as payload;
//!     answers are conflict responses holding the responder's view of the member (or nil);
//!     the side the majority saw keeps the name.
//! 15. **Protocol versions**: the Serf version spoken changes the tag encoding (< 3: role
//!     only) and must be within every peer's `delegate_min..=delegate_max`; memberlist's
//!     version changes the encryption version (1 ⇒ padded) and ping-req fields (< 2 lacks
//!     ports).
//!
//! What the native dialect carries that this one cannot, so the integration must degrade:
//! large payloads over the stream channel (Serf sends events and queries only as gossip,
//! ≤ 9 KB events, 1 KB queries/responses by default); fair per-class packet budgets (Serf
//! fills by strict priority: memberlist, then intents, queries, events); one envelope flag
//! for labels and encryption (memberlist's label is optional per packet); restart-safe
//! identity (memberlist's conflicting-address rules win); the native re-announcement to
//! seeds and dead members (Serf only has its reconnect loop).

mod extras;
pub mod layers;
mod memberlist;
mod messages;
pub mod msgpack;
mod stream;

pub use extras::{
    META_BYTES_MAX, PING_VERSION, ROLE_TAG, TAG_MAGIC_BYTE, Version, decode_ack_payload,
    decode_coordinate, decode_tags, encode_ack_payload, encode_coordinate, encode_tags,
};
pub use layers::{
    Compound, EncryptionVersion, lzw_compress, lzw_decompress, push_crc, push_label, strip_crc,
    strip_label,
};
pub use memberlist::{
    Ack, Alive, Compress, Dead, ErrResp, IndirectPing, MessageType, Nack, NodeState, Ping,
    PushNodeState, PushPullHeader, Suspect, UserMsgHeader,
};
pub use messages::{
    Filter, Join, KeyRequest, KeyResponse, Leave, QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST, Query,
    QueryResponse, Relay, SerfMember, SerfMessage, SerfMessageType, SerfPushPull, UdpAddr,
    UserEvent, UserEvents, decode_serf_message, encode_serf_message,
};
pub use stream::{
    OpenedStream, PUSH_PULL_NODES_MAX, STREAM_BYTES_MAX, StreamMessage, StreamSeal,
    compress_message, decode_stream_message, encode_stream_message, open_stream, seal_stream,
    stream_frame_len,
};

use alloc::borrow::Cow;
use alloc::vec::Vec;

use crate::coordinate::CoordinateError;
use msgpack::{Reader, Writer};

/// Why bytes are not a valid Serf-dialect packet, frame or message. Decoding never panics;
/// nothing but the caller's counters should change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerfDecodeError {
    /// The input ends early. For a stream: read more and try again.
    #[error("truncated input")]
    Truncated,
    /// A msgpack value has the wrong type for its field (the expected type is named).
    #[error("expected a msgpack {0}")]
    Type(&'static str),
    /// An integer does not fit its field.
    #[error("integer out of range for its field")]
    IntegerRange,
    /// A string is not UTF-8.
    #[error("string is not UTF-8")]
    InvalidUtf8,
    /// A value nests deeper than [`msgpack::DEPTH_MAX`].
    #[error("msgpack nesting too deep")]
    TooDeep,
    /// Bytes follow a complete message.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// A memberlist type byte this codec does not know (memberlist drops such messages).
    #[error("unknown memberlist message type {0}")]
    UnknownMessage(u8),
    /// A stream-only or layer type inside a packet.
    #[error("message type {0} cannot appear in a packet")]
    NotInPacket(u8),
    /// A packet-only or layer type inside a stream frame.
    #[error("message type {0} cannot appear in a stream")]
    NotInStream(u8),
    /// A Serf type byte Serf does not define (Serf drops such messages).
    #[error("unknown Serf message type {0}")]
    UnknownSerfMessage(u8),
    /// A query filter type Serf does not define.
    #[error("unknown query filter type {0}")]
    UnknownFilter(u8),
    /// A compression algorithm other than LZW.
    #[error("unknown compression algorithm {0}")]
    UnknownCompression(u8),
    /// The LZW stream is invalid or has no end code.
    #[error("invalid LZW data")]
    Decompress,
    /// A length or count above its limit.
    #[error("{len} exceeds the limit of {max}")]
    TooLarge {
        /// Size found.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The CRC header does not match the packet.
    #[error("CRC mismatch: header {expected:#010x}, computed {actual:#010x}")]
    Checksum {
        /// CRC in the header.
        expected: u32,
        /// CRC of the bytes.
        actual: u32,
    },
    /// A label header of length 0 (memberlist refuses it).
    #[error("empty label header")]
    EmptyLabel,
    /// An encryption version byte above 1.
    #[error("unknown encryption version {0}")]
    UnknownEncryptionVersion(u8),
    /// No key opened the sealed bytes (wrong key, tampering, or no keys).
    #[error("no key could decrypt the message")]
    Undecryptable,
    /// A key that is not 16, 24 or 32 bytes.
    #[error("keys must be 16, 24 or 32 bytes")]
    BadKey,
    /// The `Vsn` field is not six bytes.
    #[error("version field is not six bytes")]
    Version,
    /// An ack payload with another ping version than [`PING_VERSION`].
    #[error("unsupported ping payload version {0}")]
    PingVersion(u8),
    /// A coordinate of the wrong dimensionality, or with NaN, infinite or absurd values.
    #[error("invalid coordinate: {0}")]
    Coordinate(CoordinateError),
}

type Result<T> = core::result::Result<T, SerfDecodeError>;

/// One memberlist message in a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// Type 0.
    Ping(Ping<'a>),
    /// Type 1.
    IndirectPing(IndirectPing<'a>),
    /// Type 2.
    Ack(Ack<'a>),
    /// Type 3.
    Suspect(Suspect<'a>),
    /// Type 4.
    Alive(Alive<'a>),
    /// Type 5.
    Dead(Dead<'a>),
    /// Type 7.
    Compound(Compound<'a>),
    /// Type 8: a Serf message, the bytes after the type byte
    /// ([`decode_serf_message`]).
    User(&'a [u8]),
    /// Type 9.
    Compress(Compress<'a>),
    /// Type 11.
    Nack(Nack),
}

impl Message<'_> {
    /// Its type byte.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Ping(_) => MessageType::Ping,
            Self::IndirectPing(_) => MessageType::IndirectPing,
            Self::Ack(_) => MessageType::Ack,
            Self::Suspect(_) => MessageType::Suspect,
            Self::Alive(_) => MessageType::Alive,
            Self::Dead(_) => MessageType::Dead,
            Self::Compound(_) => MessageType::Compound,
            Self::User(_) => MessageType::User,
            Self::Compress(_) => MessageType::Compress,
            Self::Nack(_) => MessageType::Nack,
        }
    }
}

/// Decodes one packet message (type byte first). Bytes after the msgpack body are an
/// error, except for compound and user messages, which own the rest.
///
/// # Errors
/// [`SerfDecodeError::UnknownMessage`] for an unknown type, [`SerfDecodeError::NotInPacket`]
/// for push-pull, encrypt, CRC, error and label types, msgpack errors otherwise.
pub fn decode_message(buf: &[u8]) -> Result<Message<'_>> {
    let [t, body @ ..] = buf else {
        return Err(SerfDecodeError::Truncated);
    };
    let t = MessageType::from_u8(*t).ok_or(SerfDecodeError::UnknownMessage(*t))?;
    let mut r = Reader::new(body);
    let msg = match t {
        MessageType::Ping => Message::Ping(Ping::decode(&mut r)?),
        MessageType::IndirectPing => Message::IndirectPing(IndirectPing::decode(&mut r)?),
        MessageType::Ack => Message::Ack(Ack::decode(&mut r)?),
        MessageType::Suspect => Message::Suspect(Suspect::decode(&mut r)?),
        MessageType::Alive => Message::Alive(Alive::decode(&mut r)?),
        MessageType::Dead => Message::Dead(Dead::decode(&mut r)?),
        MessageType::Nack => Message::Nack(Nack::decode(&mut r)?),
        MessageType::Compress => Message::Compress(Compress::decode(&mut r)?),
        MessageType::Compound => return Ok(Message::Compound(Compound::decode(body)?)),
        MessageType::User => return Ok(Message::User(body)),
        other => return Err(SerfDecodeError::NotInPacket(other as u8)),
    };
    if !r.rest().is_empty() {
        return Err(SerfDecodeError::TrailingBytes);
    }
    Ok(msg)
}

/// Appends one packet message (type byte first), encoded as memberlist encodes it.
///
/// # Errors
/// [`SerfDecodeError::TooLarge`] for a compound with too many or too large parts; nothing
/// is written then.
pub fn encode_message(msg: &Message<'_>, out: &mut Vec<u8>) -> Result<()> {
    if let Message::Compound(c) = msg {
        return Compound::encode(&c.parts, out);
    }
    let mut w = Writer::new(out);
    w.raw_bytes(&[msg.message_type() as u8]);
    match msg {
        Message::Ping(m) => m.encode(&mut w),
        Message::IndirectPing(m) => m.encode(&mut w),
        Message::Ack(m) => m.encode(&mut w),
        Message::Suspect(m) => m.encode(&mut w),
        Message::Alive(m) => m.encode(&mut w),
        Message::Dead(m) => m.encode(&mut w),
        Message::Nack(m) => m.encode(&mut w),
        Message::Compress(m) => m.encode(&mut w),
        Message::User(bytes) => w.raw_bytes(bytes),
        Message::Compound(_) => {}
    }
    Ok(())
}

/// A packet with its layers undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedPacket<'a> {
    /// The label, if the packet had a label header.
    pub label: Option<&'a str>,
    /// The packet was encrypted (and opened).
    pub encrypted: bool,
    /// The packet had a CRC header (and it matched).
    pub crc: bool,
    /// The packet was compressed (and decompressed).
    pub compressed: bool,
    /// The message: one message or a compound, type byte first ([`decode_message`]).
    pub body: Cow<'a, [u8]>,
}

/// Undoes a packet's layers: label header, encryption (when `keys` is not empty), CRC,
/// compression (output capped at `decompress_max`).
///
/// Whether a plaintext packet is acceptable when keys are configured is the caller's
/// policy (memberlist's `GossipVerifyIncoming`): call again with no keys to read it.
///
/// # Errors
/// The errors of each layer: [`SerfDecodeError::Undecryptable`],
/// [`SerfDecodeError::Checksum`], [`SerfDecodeError::Decompress`], …; an empty body is
/// [`SerfDecodeError::Truncated`].
pub fn open_packet<'a>(
    buf: &'a [u8],
    keys: &[&[u8]],
    decompress_max: usize,
) -> Result<OpenedPacket<'a>> {
    let (label, rest) = strip_label(buf)?;
    let (encrypted, plain): (bool, Cow<'a, [u8]>) = if keys.is_empty() {
        (false, Cow::Borrowed(rest))
    } else {
        let aad = label.unwrap_or_default().as_bytes();
        (true, Cow::Owned(layers::decrypt(keys, rest, aad)?))
    };
    let (crc, body) = match plain {
        Cow::Borrowed(b) => {
            let inner = strip_crc(b)?;
            (inner.len() != b.len(), Cow::Borrowed(inner))
        }
        Cow::Owned(v) => {
            let inner = strip_crc(&v)?;
            let crc = inner.len() != v.len();
            (crc, Cow::Owned(inner.to_vec()))
        }
    };
    let (compressed, body) = if body.first() == Some(&(MessageType::Compress as u8)) {
        let mut r = Reader::new(&body[1..]);
        let c = Compress::decode(&mut r)?;
        (true, Cow::Owned(c.decompress(decompress_max)?))
    } else {
        (false, body)
    };
    if body.is_empty() {
        return Err(SerfDecodeError::Truncated);
    }
    Ok(OpenedPacket {
        label,
        encrypted,
        crc,
        compressed,
        body,
    })
}

/// How to wrap an outgoing packet.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketSeal<'k> {
    /// Label header ("" for none).
    pub label: &'k str,
    /// Compress when that makes the packet smaller (memberlist's rule).
    pub compress: bool,
    /// Add the CRC header (for peers speaking memberlist protocol ≥ 5).
    pub crc: bool,
    /// Encrypt with this key, version and nonce.
    pub encrypt: Option<(EncryptionVersion, &'k [u8], [u8; layers::NONCE_BYTES])>,
}

/// Appends a packet carrying `msg` (one encoded message or compound) wrapped as `seal`
/// says, in memberlist's order: compress, CRC, encrypt, label.
///
/// # Errors
/// [`SerfDecodeError::BadKey`] for a key of a wrong length, [`SerfDecodeError::TooLarge`]
/// for a label over 255 bytes; nothing is written then.
pub fn seal_packet(msg: &[u8], seal: &PacketSeal<'_>, out: &mut Vec<u8>) -> Result<()> {
    if seal.label.len() > layers::LABEL_BYTES_MAX {
        return Err(SerfDecodeError::TooLarge {
            len: seal.label.len(),
            max: layers::LABEL_BYTES_MAX,
        });
    }
    let compressed = if seal.compress {
        Some(compress_message(msg)).filter(|c| c.len() < msg.len())
    } else {
        None
    };
    let msg = compressed.as_deref().unwrap_or(msg);
    let with_crc;
    let msg = if seal.crc {
        let mut v = Vec::with_capacity(msg.len() + layers::CRC_HEADER_BYTES);
        push_crc(&mut v, msg);
        with_crc = v;
        &with_crc[..]
    } else {
        msg
    };
    let start = out.len();
    push_label(out, seal.label);
    match seal.encrypt {
        None => out.extend_from_slice(msg),
        Some((version, key, nonce)) => {
            if let Err(e) = layers::encrypt(version, key, &nonce, msg, seal.label.as_bytes(), out) {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;

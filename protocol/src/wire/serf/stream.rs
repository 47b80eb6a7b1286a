//! memberlist's stream (TCP) frames: push-pull, stream pings, user messages, errors.
//!
//! ```text
//! [244 len label]?  ─┬─ 10 ‖ len u32 BE ‖ seal(version ‖ nonce ‖ ciphertext ‖ tag)   encrypted
//!                    │      AAD = [10, len BE] ‖ label; plaintext = one of the below
//!                    ├─ 9 ‖ {Algo, Buf}   compressed; Buf = LZW(one of the below)
//!                    └─ type ‖ body:
//!                        6  PushPull: {Join, Nodes, UserStateLen} ‖ Nodes × node state
//!                                     ‖ UserStateLen bytes of user (Serf) state
//!                        0  Ping      2  Ack      8  User: {UserMsgLen} ‖ bytes   13 Err
//! ```
//!
//! A plaintext frame has no length: the reader knows where it ends only by parsing it.
//! [`stream_frame_len`] does that for an adapter reading a socket.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::memberlist::{Ack, Compress, ErrResp, Ping, PushNodeState, PushPullHeader};
use super::msgpack::{Reader, Writer};
use super::{MessageType, SerfDecodeError, UserMsgHeader, layers};

type Result<T> = core::result::Result<T, SerfDecodeError>;

/// Most node states a push-pull may announce (memberlist refuses more).
pub const PUSH_PULL_NODES_MAX: u32 = 1 << 20;
/// Largest encrypted stream frame or user state memberlist accepts (20 MiB).
pub const STREAM_BYTES_MAX: usize = 20 * 1024 * 1024;

/// A stream message, after label, encryption and compression are undone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamMessage<'a> {
    /// A push-pull: the header, every node state, and the user (Serf) state.
    PushPull {
        /// True for a join.
        join: bool,
        /// Node states.
        nodes: Vec<PushNodeState<'a>>,
        /// User state bytes (Serf: a push-pull message, type byte 2 first); `None` when
        /// the header announced 0 bytes.
        user_state: Option<&'a [u8]>,
    },
    /// A ping over the stream (the fallback probe).
    Ping(Ping<'a>),
    /// The answer to a stream ping.
    Ack(Ack<'a>),
    /// A user message sent reliably.
    User(&'a [u8]),
    /// An error reply.
    Err(ErrResp<'a>),
}

impl StreamMessage<'_> {
    /// Its memberlist type byte.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::PushPull { .. } => MessageType::PushPull,
            Self::Ping(_) => MessageType::Ping,
            Self::Ack(_) => MessageType::Ack,
            Self::User(_) => MessageType::User,
            Self::Err(_) => MessageType::Err,
        }
    }
}

/// Decodes one plaintext, uncompressed stream message (type byte first) and returns it
/// with the bytes it used.
///
/// # Errors
/// [`SerfDecodeError::Truncated`] if the bytes end early (read more),
/// [`SerfDecodeError::NotInStream`] for a packet-only or layer type,
/// [`SerfDecodeError::UnknownMessage`], [`SerfDecodeError::TooLarge`] for counts above
/// [`PUSH_PULL_NODES_MAX`] or [`STREAM_BYTES_MAX`], msgpack errors.
pub fn decode_stream_message(buf: &[u8]) -> Result<(StreamMessage<'_>, usize)> {
    let [t, body @ ..] = buf else {
        return Err(SerfDecodeError::Truncated);
    };
    let t = MessageType::from_u8(*t).ok_or(SerfDecodeError::UnknownMessage(*t))?;
    let mut r = Reader::new(body);
    let msg = match t {
        MessageType::PushPull => {
            let header = PushPullHeader::decode(&mut r)?;
            if header.nodes > PUSH_PULL_NODES_MAX {
                return Err(SerfDecodeError::TooLarge {
                    len: header.nodes as usize,
                    max: PUSH_PULL_NODES_MAX as usize,
                });
            }
            let user_len = header.user_state_len as usize;
            if user_len > STREAM_BYTES_MAX {
                return Err(SerfDecodeError::TooLarge {
                    len: user_len,
                    max: STREAM_BYTES_MAX,
                });
            }
            // Each state takes at least a few bytes: never reserve more than the input.
            let mut nodes = Vec::with_capacity((header.nodes as usize).min(r.rest().len() / 8));
            for _ in 0..header.nodes {
                nodes.push(PushNodeState::decode(&mut r)?);
            }
            let rest = r.rest();
            let user = rest.get(..user_len).ok_or(SerfDecodeError::Truncated)?;
            r = Reader::new(&rest[user_len..]);
            StreamMessage::PushPull {
                join: header.join,
                nodes,
                user_state: (user_len > 0).then_some(user),
            }
        }
        MessageType::Ping => StreamMessage::Ping(Ping::decode(&mut r)?),
        MessageType::Ack => StreamMessage::Ack(Ack::decode(&mut r)?),
        MessageType::Err => StreamMessage::Err(ErrResp::decode(&mut r)?),
        MessageType::User => {
            let header = UserMsgHeader::decode(&mut r)?;
            let len = header.user_msg_len as usize;
            if len > STREAM_BYTES_MAX {
                return Err(SerfDecodeError::TooLarge {
                    len,
                    max: STREAM_BYTES_MAX,
                });
            }
            let rest = r.rest();
            let user = rest.get(..len).ok_or(SerfDecodeError::Truncated)?;
            r = Reader::new(&rest[len..]);
            StreamMessage::User(user)
        }
        other => return Err(SerfDecodeError::NotInStream(other as u8)),
    };
    Ok((msg, buf.len() - r.rest().len()))
}

/// Appends a plaintext, uncompressed stream message (type byte first).
pub fn encode_stream_message(msg: &StreamMessage<'_>, out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    w.raw_bytes(&[msg.message_type() as u8]);
    match msg {
        StreamMessage::PushPull {
            join,
            nodes,
            user_state,
        } => {
            let user = user_state.unwrap_or_default();
            PushPullHeader {
                nodes: nodes.len() as u32,
                user_state_len: user.len() as u32,
                join: *join,
            }
            .encode(&mut w);
            for n in nodes {
                n.encode(&mut w);
            }
            w.raw_bytes(user);
        }
        StreamMessage::Ping(p) => p.encode(&mut w),
        StreamMessage::Ack(a) => a.encode(&mut w),
        StreamMessage::Err(e) => e.encode(&mut w),
        StreamMessage::User(bytes) => {
            UserMsgHeader {
                user_msg_len: bytes.len() as u32,
            }
            .encode(&mut w);
            w.raw_bytes(bytes);
        }
    }
}

/// A stream frame with its layers undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedStream<'a> {
    /// The label, if the frame had a label header.
    pub label: Option<&'a str>,
    /// The frame was encrypted (and opened).
    pub encrypted: bool,
    /// The frame was compressed (and decompressed).
    pub compressed: bool,
    /// The plain message bytes (type byte first), for [`decode_stream_message`].
    pub body: Cow<'a, [u8]>,
    /// Bytes of the input the frame used.
    pub frame_len: usize,
}

/// Undoes the layers of one stream frame: label header, encryption (tried with `keys`
/// only if the frame is encrypted) and compression (output capped at `decompress_max`).
/// For a plaintext frame the message is parsed to find where it ends.
///
/// # Errors
/// [`SerfDecodeError::Truncated`] if the frame is not complete yet;
/// [`SerfDecodeError::Undecryptable`] if encrypted and no key opens it (or `keys` is
/// empty); the layer and message errors otherwise.
pub fn open_stream<'a>(
    buf: &'a [u8],
    keys: &[&[u8]],
    decompress_max: usize,
) -> Result<OpenedStream<'a>> {
    let (label, rest) = layers::strip_label(buf)?;
    let header_len = buf.len() - rest.len();
    match rest.first() {
        None => Err(SerfDecodeError::Truncated),
        Some(&t) if t == MessageType::Encrypt as u8 => {
            let len = rest.get(1..5).ok_or(SerfDecodeError::Truncated)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if len > STREAM_BYTES_MAX {
                return Err(SerfDecodeError::TooLarge {
                    len,
                    max: STREAM_BYTES_MAX,
                });
            }
            let sealed = rest.get(5..5 + len).ok_or(SerfDecodeError::Truncated)?;
            let mut aad = Vec::with_capacity(5 + label.map_or(0, str::len));
            aad.extend_from_slice(&rest[..5]);
            aad.extend_from_slice(label.unwrap_or_default().as_bytes());
            let plain = layers::decrypt(keys, sealed, &aad)?;
            let (compressed, body) = decompress_if(&plain, decompress_max)?;
            let body = body.map(Cow::Owned).unwrap_or(Cow::Owned(plain));
            decode_stream_message(&body)?;
            Ok(OpenedStream {
                label,
                encrypted: true,
                compressed,
                body,
                frame_len: header_len + 5 + len,
            })
        }
        Some(&t) if t == MessageType::Compress as u8 => {
            let mut r = Reader::new(&rest[1..]);
            let c = Compress::decode(&mut r)?;
            let used = rest.len() - r.rest().len();
            let plain = c.decompress(decompress_max)?;
            decode_stream_message(&plain)?;
            Ok(OpenedStream {
                label,
                encrypted: false,
                compressed: true,
                body: Cow::Owned(plain),
                frame_len: header_len + used,
            })
        }
        Some(_) => {
            let (_, used) = decode_stream_message(rest)?;
            Ok(OpenedStream {
                label,
                encrypted: false,
                compressed: false,
                body: Cow::Borrowed(&rest[..used]),
                frame_len: header_len + used,
            })
        }
    }
}

fn decompress_if(plain: &[u8], max: usize) -> Result<(bool, Option<Vec<u8>>)> {
    if plain.first() == Some(&(MessageType::Compress as u8)) {
        let mut r = Reader::new(&plain[1..]);
        let c = Compress::decode(&mut r)?;
        Ok((true, Some(c.decompress(max)?)))
    } else {
        Ok((false, None))
    }
}

/// How many bytes the stream frame at the start of `buf` takes, for an adapter reading a
/// socket: `Ok(Some(n))` when complete, `Ok(None)` when more bytes are needed.
///
/// # Errors
/// Any error of [`open_stream`] other than truncation: the stream is unusable.
pub fn stream_frame_len(
    buf: &[u8],
    keys: &[&[u8]],
    decompress_max: usize,
) -> Result<Option<usize>> {
    match open_stream(buf, keys, decompress_max) {
        Ok(f) => Ok(Some(f.frame_len)),
        Err(SerfDecodeError::Truncated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How to wrap an outgoing stream frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamSeal<'k> {
    /// Label header ("" for none).
    pub label: &'k str,
    /// Compress the message (memberlist always does when compression is on).
    pub compress: bool,
    /// Encrypt with this key, version and nonce.
    pub encrypt: Option<(
        layers::EncryptionVersion,
        &'k [u8],
        [u8; layers::NONCE_BYTES],
    )>,
}

/// Appends a whole stream frame carrying `msg` (an encoded stream message) wrapped as
/// `seal` says: compression, then encryption, then the label header.
///
/// # Errors
/// [`SerfDecodeError::BadKey`] for a key of a wrong length, [`SerfDecodeError::TooLarge`]
/// for a label over 255 bytes; nothing is written then.
pub fn seal_stream(msg: &[u8], seal: &StreamSeal<'_>, out: &mut Vec<u8>) -> Result<()> {
    if seal.label.len() > layers::LABEL_BYTES_MAX {
        return Err(SerfDecodeError::TooLarge {
            len: seal.label.len(),
            max: layers::LABEL_BYTES_MAX,
        });
    }
    let compressed;
    let inner: &[u8] = if seal.compress {
        compressed = compress_message(msg);
        &compressed
    } else {
        msg
    };
    let start = out.len();
    layers::push_label(out, seal.label);
    match seal.encrypt {
        None => out.extend_from_slice(inner),
        Some((version, key, nonce)) => {
            let len = version.overhead(inner.len()) + inner.len();
            let mut head = [MessageType::Encrypt as u8, 0, 0, 0, 0];
            head[1..].copy_from_slice(&(len as u32).to_be_bytes());
            let mut aad = Vec::with_capacity(5 + seal.label.len());
            aad.extend_from_slice(&head);
            aad.extend_from_slice(seal.label.as_bytes());
            out.extend_from_slice(&head);
            if let Err(e) = layers::encrypt(version, key, &nonce, inner, &aad, out) {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A whole compress message (type byte 9, then `{Algo: 0, Buf: LZW(msg)}`).
pub fn compress_message(msg: &[u8]) -> Vec<u8> {
    let buf = layers::lzw_compress(msg);
    let mut out = Vec::with_capacity(buf.len() + 16);
    out.push(MessageType::Compress as u8);
    Compress {
        algo: 0,
        buf: Some(&buf),
    }
    .encode(&mut Writer::new(&mut out));
    out
}

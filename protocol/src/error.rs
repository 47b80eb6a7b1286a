//! One error type per operation. Each variant says when it happens and whether state changed.

/// A bad [`Config`](crate::Config), reported by [`Node::new`](crate::Node::new).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field is out of range or contradicts another. No node was built.
    #[error("invalid config field `{field}`: {reason}")]
    Invalid {
        /// The field's name as in `Config`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The identity's tags encode to more than `tags_bytes_max`. No node was built.
    #[error("identity tags exceed tags_bytes_max")]
    TagsTooLarge,
}

/// Bytes that are not a valid Hearsay packet or frame. Normal on a shared port (scanners,
/// other software); the input is dropped, nothing else changes, and
/// `Stats::decode_errors` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No bytes, or fewer than the envelope needs.
    #[error("truncated input")]
    Truncated,
    /// The version byte names a protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// The envelope flags ask for a feature this build does not have (encryption, ...).
    #[error("unsupported envelope flags {0:#04x}")]
    UnsupportedFlags(u8),
    /// A length or field is inconsistent with the bytes that follow.
    #[error("malformed message")]
    Malformed,
    /// The input is larger than the configured packet or frame budget.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// The message tag is unknown (a newer peer); the rest of a compound packet is still read.
    #[error("unknown message tag")]
    UnknownMessage,
}

/// Why `handle_datagram` / `handle_stream` rejected input. Every rejection is counted in
/// `Stats`.
///
/// The variants fall in two groups; [`refused_whole_input`](Self::refused_whole_input)
/// tells them apart:
///
/// - **The input as a whole was refused** ([`Decode`](Self::Decode),
///   [`LabelMismatch`](Self::LabelMismatch), [`Undecryptable`](Self::Undecryptable),
///   [`PlaintextRejected`](Self::PlaintextRejected)): no message in it was read, and nothing
///   changed but the counters.
/// - **One message of the input was refused** ([`MessageDecode`](Self::MessageDecode),
///   [`WrongChannel`](Self::WrongChannel), [`InvalidField`](Self::InvalidField)): the
///   envelope was fine, that message (or, in a push-pull, that member entry) was dropped,
///   and **every other message of the same input was applied**, so the node's state may
///   have changed. When several messages are refused, the first reason is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The envelope did not decode (truncated, oversized, unknown version or flags). The
    /// whole input was dropped; nothing changed. Counted in `Stats::decode_errors`.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The packet's cluster label differs from ours (or one of us has none): another
    /// cluster. The whole input was dropped; nothing changed. Counted in
    /// `Stats::label_mismatches`.
    #[error("packet from another cluster (label mismatch)")]
    LabelMismatch,
    /// A sealed packet no key in our keyring opens (wrong key, tampered, truncated), or a
    /// sealed packet while we have no keyring. The whole input was dropped; nothing
    /// changed. Counted in `Stats::decrypt_failures`.
    #[error("sealed packet could not be opened with any key")]
    Undecryptable,
    /// A plaintext packet while we require encryption (`accept_plaintext` off). The whole
    /// input was dropped; nothing changed. Counted in `Stats::plaintext_rejected`.
    #[error("plaintext packet rejected: encryption is required")]
    PlaintextRejected,
    /// A message inside a valid envelope did not decode (malformed, or an unknown message
    /// tag from a newer peer: [`DecodeError::UnknownMessage`]). That message was dropped;
    /// the other messages of the input were applied. Counted in `Stats::decode_errors` or
    /// `Stats::unknown_messages`.
    #[error("a message did not decode: {0}")]
    MessageDecode(DecodeError),
    /// A stream-only message arrived as a datagram or the reverse. That message was
    /// dropped; the other messages of the input were applied. Counted in
    /// `Stats::invalid_messages`.
    #[error("message arrived on the wrong channel")]
    WrongChannel,
    /// A message carried a name or address that is not valid (empty name, port 0, ...).
    /// That message — or, in a push-pull, that member entry — was dropped; everything else
    /// in the input was applied. Counted in `Stats::invalid_messages`.
    #[error("message carried an invalid node name or address")]
    InvalidField,
}

impl InboundError {
    /// Whether the input was refused as a whole, so nothing but the counters changed.
    /// `false` means one message was refused and the rest of the input was applied.
    pub fn refused_whole_input(&self) -> bool {
        matches!(
            self,
            InboundError::Decode(_)
                | InboundError::LabelMismatch
                | InboundError::Undecryptable
                | InboundError::PlaintextRejected
        )
    }
}

/// Why a command (`join`, `set_tags`, `user_event`, `query`, `respond`, ...) or a keyring
/// change was refused. A refused command changes nothing (beyond moving the node's notion
/// of `now` forward): no state, no clock, no queued message. Each command's documentation
/// lists the variants it can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A node name is empty, longer than 128 bytes, or has control characters.
    #[error("invalid node name")]
    InvalidName,
    /// Tags encode to more than `Config::tags_bytes_max` bytes.
    #[error("tags encode to {len} bytes, more than the limit of {max}")]
    TagsTooLarge {
        /// Encoded size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// `join` got no seed addresses.
    #[error("no seed addresses given")]
    NoSeeds,
    /// The node has left; only `join` brings it back.
    #[error("the node has left the cluster")]
    Left,
    /// A user event, query or response is larger than its configured limit.
    #[error("{what} of {len} bytes exceeds {limit} ({max} bytes)")]
    PayloadTooLarge {
        /// What was too large (`"user event"`, `"query"`, `"query response"`).
        what: &'static str,
        /// The config field that sets the limit.
        limit: &'static str,
        /// Size given (name plus payload).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Event or query names starting with `_hearsay_` are reserved for internal queries;
    /// empty names are refused.
    #[error("event and query names must be non-empty and must not start with `_hearsay_`")]
    ReservedName,
    /// `queries_max` queries are already in flight.
    #[error("too many queries in flight")]
    TooManyQueries,
    /// `respond` named a query this node has no pending response for (never received,
    /// already answered, or past its timeout).
    #[error("no pending query with that id (unknown, answered or timed out)")]
    UnknownQuery,
    /// A tag filter's regular expression does not compile.
    #[error("invalid tag filter regular expression")]
    InvalidFilter,
    /// `force_leave` named a member this node does not know, or itself.
    #[error("unknown member")]
    UnknownMember,
    /// A key is not 32 bytes.
    #[error("an encryption key must be 32 bytes (AES-256)")]
    InvalidKey,
    /// The keyring already holds `KEYS_MAX` keys.
    #[error("the keyring is full")]
    KeyringFull,
    /// The key is not in the keyring.
    #[error("no such key in the keyring")]
    UnknownKey,
    /// The primary key cannot be removed; make another key primary first.
    #[error("the primary key cannot be removed")]
    PrimaryKey,
    /// A key operation needs encryption on (a keyring, not sending plaintext).
    #[error("encryption is not enabled (no keyring, or still sending plaintext)")]
    EncryptionDisabled,
}

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

/// Why `handle_datagram` / `handle_stream` rejected input. Nothing in the node changed
/// beyond the error counters in `Stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A stream-only message arrived as a datagram or the reverse. Dropped.
    #[error("message arrived on the wrong channel")]
    WrongChannel,
    /// A message carried a name or address that is not valid (empty name, port 0, ...).
    #[error("message carried an invalid node name or address")]
    InvalidField,
    /// The packet's cluster label differs from ours (or one of us has none): another
    /// cluster. Dropped and counted in `Stats::label_mismatches`.
    #[error("packet from another cluster (label mismatch)")]
    LabelMismatch,
    /// A sealed packet no key in our keyring opens (wrong key, tampered, truncated), or a
    /// sealed packet while we have no keyring. Counted in `Stats::decrypt_failures`.
    #[error("sealed packet could not be opened with any key")]
    Undecryptable,
    /// A plaintext packet while we require encryption (`accept_plaintext` off). Counted in
    /// `Stats::plaintext_rejected`.
    #[error("plaintext packet rejected: encryption is required")]
    PlaintextRejected,
}

/// Why a command (`join`, `set_tags`, ...) was refused. Refused commands change nothing.
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

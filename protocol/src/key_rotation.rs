//! Key rotation (Serf's `serf keys`): key operations run on every node through internal
//! queries named `_hearsay_key_*`, answered with a [`KeyResponse`].
//!
//! Rotation: install the new key everywhere, make it primary, then remove the old one;
//! `List` reports each node's keys. Keys only ever travel sealed: a node applies a key query
//! only when it arrived sealed, and passes key queries on only while it seals its own
//! packets. The keyring itself is the envelope's.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::error::CommandError;
use crate::query::QueryParams;
use crate::seal::{Keyring, SecretKey};

/// Prefix of the internal key-management queries (`_hearsay_key_install`, ...).
pub const KEY_QUERY_PREFIX: &str = "_hearsay_key_";

/// A key-management operation run on every node through an internal query (Serf's
/// `serf keys -install/-use/-remove/-list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOp {
    /// Add a secondary key.
    Install,
    /// Make an installed key the primary.
    Use,
    /// Remove a secondary key.
    Remove,
    /// Report every key.
    List,
}

impl KeyOp {
    pub(crate) fn query_name(self) -> &'static str {
        match self {
            KeyOp::Install => "_hearsay_key_install",
            KeyOp::Use => "_hearsay_key_use",
            KeyOp::Remove => "_hearsay_key_remove",
            KeyOp::List => "_hearsay_key_list",
        }
    }

    pub(crate) fn from_query_name(name: &str) -> Option<Self> {
        [KeyOp::Install, KeyOp::Use, KeyOp::Remove, KeyOp::List]
            .into_iter()
            .find(|op| op.query_name() == name)
    }
}

/// A node's answer to a key query: the payload of its
/// [`Event::QueryResponse`](crate::Event::QueryResponse).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct KeyResponse {
    /// Whether the operation succeeded on that node.
    pub ok: bool,
    /// Why not, when it failed.
    pub error: String,
    /// The node's keys, primary first (for [`KeyOp::List`]; empty otherwise).
    pub keys: Vec<[u8; crate::seal::KEY_BYTES]>,
}

impl KeyResponse {
    /// Parses a response payload.
    ///
    /// # Errors
    /// [`crate::DecodeError::Malformed`] when it is not a key response.
    pub fn decode(payload: &[u8]) -> Result<Self, crate::DecodeError> {
        postcard::from_bytes(payload).map_err(|_| crate::DecodeError::Malformed)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// The query that runs `op` (with `key`, which every operation but `List` needs) on every
/// node.
///
/// # Errors
/// [`CommandError::InvalidKey`] when `Install`/`Use`/`Remove` get no key.
pub(crate) fn query_params(
    op: KeyOp,
    key: Option<&SecretKey>,
    timeout: Option<Duration>,
) -> Result<QueryParams, CommandError> {
    let payload = match (op, key) {
        (KeyOp::List, _) => Vec::new(),
        (_, Some(k)) => k.as_bytes().to_vec(),
        (_, None) => return Err(CommandError::InvalidKey),
    };
    Ok(QueryParams {
        name: op.query_name().into(),
        payload,
        timeout,
        ..QueryParams::default()
    })
}

/// Applies a key query to this node's `keyring` and builds the answer. A query that did
/// not arrive `sealed` changes nothing.
pub(crate) fn answer(
    op: KeyOp,
    payload: &[u8],
    sealed: bool,
    keyring: Option<&mut Keyring>,
) -> KeyResponse {
    let fail = |error: &str| KeyResponse {
        ok: false,
        error: error.into(),
        keys: Vec::new(),
    };
    if !sealed {
        return fail("key queries are only accepted sealed");
    }
    let Some(ring) = keyring else {
        return fail("encryption is not enabled");
    };
    let key = SecretKey::from_slice(payload);
    let result = match (op, key) {
        (KeyOp::List, _) => Ok(()),
        (KeyOp::Install, Ok(k)) => ring.install(k),
        (KeyOp::Use, Ok(k)) => ring.use_key(&k),
        (KeyOp::Remove, Ok(k)) => ring.remove(&k),
        (_, Err(e)) => Err(e),
    };
    match result {
        Ok(()) => KeyResponse {
            ok: true,
            error: String::new(),
            keys: if op == KeyOp::List {
                ring.keys().iter().map(|k| *k.as_bytes()).collect()
            } else {
                Vec::new()
            },
        },
        Err(e) => fail(&alloc::format!("{e}")),
    }
}

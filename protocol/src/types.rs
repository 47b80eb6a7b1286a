//! Identifier newtypes that cross the API: [`NodeName`], [`Incarnation`], [`Tags`].

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

use crate::error::CommandError;

/// Longest node name, in bytes.
pub const NODE_NAME_BYTES_MAX: usize = 128;

/// A member's unique name in the cluster: 1 to [`NODE_NAME_BYTES_MAX`] bytes of UTF-8
/// without control characters.
///
/// The member table holds one per known member, so names of up to 22 bytes (most names)
/// are stored inline in the value's 24 bytes; longer ones on the heap.
#[derive(Clone)]
pub struct NodeName(Repr);

/// Inline capacity in bytes.
const INLINE_BYTES: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_BYTES] },
    Heap(Box<str>),
}

impl NodeName {
    /// Checks and wraps a name.
    ///
    /// # Errors
    /// [`CommandError::InvalidName`] when the name is empty, too long or has control
    /// characters.
    pub fn new(name: &str) -> Result<Self, CommandError> {
        if !Self::is_valid(name) {
            return Err(CommandError::InvalidName);
        }
        if name.len() <= INLINE_BYTES {
            let mut buf = [0u8; INLINE_BYTES];
            buf[..name.len()].copy_from_slice(name.as_bytes());
            Ok(Self(Repr::Inline {
                len: name.len() as u8,
                buf,
            }))
        } else {
            Ok(Self(Repr::Heap(name.into())))
        }
    }

    pub(crate) fn is_valid(name: &str) -> bool {
        !name.is_empty() && name.len() <= NODE_NAME_BYTES_MAX && !name.chars().any(char::is_control)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Built from a `&str` cut at its own length, so always valid UTF-8.
            Repr::Inline { len, buf } => {
                core::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or("")
            }
            Repr::Heap(s) => s,
        }
    }

    /// Whether the name lives on the heap (longer than 22 bytes).
    pub fn is_heap_allocated(&self) -> bool {
        matches!(self.0, Repr::Heap(_))
    }
}

impl PartialEq for NodeName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NodeName {}

impl PartialOrd for NodeName {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeName {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl core::hash::Hash for NodeName {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for NodeName {
    type Error = CommandError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A member's incarnation number. Only the member itself raises it, to refute a suspicion
/// or to announce new tags or a new address; the newest incarnation wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incarnation(pub u32);

impl Incarnation {
    /// The next incarnation (saturating).
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Key/value labels a member publishes (role, datacenter, ...), ordered by key.
///
/// Their encoded size is capped by [`Config::tags_bytes_max`](crate::Config::tags_bytes_max)
/// (Serf's 512 bytes by default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// No tags.
    pub const fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Sets `key` to `value`, returning the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The wire form: postcard of the pairs in key order; empty tags encode to no bytes.
    pub fn encode(&self) -> Vec<u8> {
        if self.0.is_empty() {
            return Vec::new();
        }
        let pairs: Vec<(&str, &str)> = self.iter().collect();
        postcard::to_allocvec(&pairs).unwrap_or_default()
    }

    /// Parses the wire form.
    ///
    /// # Errors
    /// [`crate::DecodeError`] when the bytes are not a list of string pairs.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::DecodeError> {
        if bytes.is_empty() {
            return Ok(Self::new());
        }
        let pairs: Vec<(&str, &str)> =
            postcard::from_bytes(bytes).map_err(|_| crate::DecodeError::Malformed)?;
        Ok(Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }
}

/// `key=value` pairs in key order, separated by commas (as `serf members` prints them);
/// no tags print as nothing.
///
/// ```
/// use hearsay_protocol::Tags;
/// let tags: Tags = [("role", "web"), ("dc", "eu-1")].into_iter().collect();
/// assert_eq!(tags.to_string(), "dc=eu-1,role=web");
/// assert_eq!(Tags::new().to_string(), "");
/// ```
impl fmt::Display for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Tags {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Who this node is: its name, the address others reach it at (the advertise address,
/// which may differ from the socket it binds), and its initial tags.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// Unique name in the cluster.
    pub name: NodeName,
    /// Address peers send datagrams and stream frames to. IPv4 or IPv6.
    pub addr: SocketAddr,
    /// Initial tags.
    pub tags: Tags,
    /// Initial incarnation. Zero is fine: a node that restarts under its name learns its old
    /// incarnation from the cluster and refutes it with a higher one. Adapters may seed it
    /// from wall-clock seconds to win at once.
    pub incarnation: Incarnation,
}

impl Identity {
    /// An identity with no tags and incarnation zero.
    pub fn new(name: NodeName, addr: SocketAddr) -> Self {
        Self {
            name,
            addr,
            tags: Tags::new(),
            incarnation: Incarnation(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_reject_empty_long_and_control_characters() {
        assert!(NodeName::new("").is_err());
        assert!(NodeName::new("a\nb").is_err());
        assert!(NodeName::new(&"x".repeat(NODE_NAME_BYTES_MAX + 1)).is_err());
        assert!(NodeName::new(&"x".repeat(NODE_NAME_BYTES_MAX)).is_ok());
        assert_eq!(core::mem::size_of::<NodeName>(), 24);
        assert_eq!(
            NodeName::new("web-1").map(|n| n.as_str().len()).ok(),
            Some(5)
        );
    }

    #[test]
    fn short_names_are_inline_long_ones_on_the_heap_and_both_compare_as_text() {
        let short = NodeName::new("web-frontend-0001").unwrap_or_else(|_| unreachable!());
        let long =
            NodeName::new("a-much-longer-node-name-than-inline").unwrap_or_else(|_| unreachable!());
        let edge = NodeName::new(&"é".repeat(11)).unwrap_or_else(|_| unreachable!());
        assert!(
            !short.is_heap_allocated() && long.is_heap_allocated() && !edge.is_heap_allocated()
        );
        assert_eq!(short.as_str(), "web-frontend-0001");
        assert_eq!(edge.as_str(), "é".repeat(11));
        assert!(long < short, "ordered as text, whatever the storage");
        assert_eq!(short.clone(), short);
    }

    #[test]
    fn tags_round_trip_through_their_wire_form() {
        let tags: Tags = [("role", "web"), ("dc", "eu-1")].into_iter().collect();
        let bytes = tags.encode();
        assert_eq!(Tags::decode(&bytes).ok(), Some(tags));
        assert!(Tags::new().encode().is_empty());
        assert!(Tags::decode(&[0xff, 0xff]).is_err());
    }
}

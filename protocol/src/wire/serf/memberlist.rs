//! memberlist's messages: a type byte, then one msgpack map whose keys are the Go field
//! names (written in sorted order, as Serf's codec does; read in any order).

use alloc::vec::Vec;

use super::msgpack::{Reader, Writer};
use super::{SerfDecodeError, Version};

type Result<T> = core::result::Result<T, SerfDecodeError>;

/// memberlist's message type byte (the first byte of every message). Append-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageType {
    /// [`Ping`].
    Ping = 0,
    /// [`IndirectPing`] (ping-req).
    IndirectPing = 1,
    /// [`Ack`].
    Ack = 2,
    /// [`Suspect`].
    Suspect = 3,
    /// [`Alive`].
    Alive = 4,
    /// [`Dead`].
    Dead = 5,
    /// Push-pull state exchange (stream only): [`PushPullHeader`] and what follows.
    PushPull = 6,
    /// Several messages in one packet ([`Compound`](super::Compound)).
    Compound = 7,
    /// An application (Serf) message: the rest of the bytes, unframed.
    User = 8,
    /// An LZW-compressed message ([`Compress`]).
    Compress = 9,
    /// An encrypted stream frame (stream only; packets are encrypted without a type byte).
    Encrypt = 10,
    /// [`Nack`].
    Nack = 11,
    /// A CRC-32 header (packets only).
    HasCrc = 12,
    /// [`ErrResp`] (stream only).
    Err = 13,
    /// A label header (first byte of a labelled packet or stream).
    HasLabel = 244,
}

impl MessageType {
    /// The type for a byte, if memberlist defines it.
    pub fn from_u8(b: u8) -> Option<Self> {
        use MessageType::*;
        Some(match b {
            0 => Ping,
            1 => IndirectPing,
            2 => Ack,
            3 => Suspect,
            4 => Alive,
            5 => Dead,
            6 => PushPull,
            7 => Compound,
            8 => User,
            9 => Compress,
            10 => Encrypt,
            11 => Nack,
            12 => HasCrc,
            13 => Err,
            244 => HasLabel,
            _ => return None,
        })
    }
}

/// Reads a struct's map, calling `f` for every key; unknown keys are skipped.
fn fields<'a>(
    r: &mut Reader<'a>,
    mut f: impl FnMut(&str, &mut Reader<'a>) -> Result<bool>,
) -> Result<()> {
    let n = r.map_len()?;
    for _ in 0..n {
        let key = r.str()?;
        if !f(key, r)? {
            r.skip()?;
        }
    }
    Ok(())
}

/// A direct probe. `node` names the intended target, so a node restarted under another
/// name does not answer for the old one; the `source_*` fields (omitted when empty) tell
/// the target where to send the ack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ping<'a> {
    /// Sequence number echoed by the ack.
    pub seq_no: u32,
    /// The target's name ("" from very old peers: then anyone answers).
    pub node: &'a str,
    /// The prober's IP (4 or 16 bytes); `None` when omitted.
    pub source_addr: Option<&'a [u8]>,
    /// The prober's port; 0 when omitted.
    pub source_port: u16,
    /// The prober's name; "" when omitted.
    pub source_node: &'a str,
}

impl<'a> Ping<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "SeqNo" => m.seq_no = r.uint()?,
                "Node" => m.node = r.str()?,
                "SourceAddr" => m.source_addr = r.bytes()?,
                "SourcePort" => m.source_port = r.uint()?,
                "SourceNode" => m.source_node = r.str()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        let addr = self.source_addr.filter(|a| !a.is_empty());
        let n = 2
            + usize::from(addr.is_some())
            + usize::from(self.source_port != 0)
            + usize::from(!self.source_node.is_empty());
        w.map(n);
        w.str("Node");
        w.str(self.node);
        w.str("SeqNo");
        w.uint(u64::from(self.seq_no));
        if let Some(a) = addr {
            w.str("SourceAddr");
            w.raw(a);
        }
        if !self.source_node.is_empty() {
            w.str("SourceNode");
            w.str(self.source_node);
        }
        if self.source_port != 0 {
            w.str("SourcePort");
            w.uint(u64::from(self.source_port));
        }
    }
}

/// A ping-req: "ping `target`:`port` (named `node`) for me and forward the ack; if `nack`,
/// tell me when it does not answer".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndirectPing<'a> {
    /// Sequence number the relayed ack (or nack) carries back.
    pub seq_no: u32,
    /// The target's IP.
    pub target: Option<&'a [u8]>,
    /// The target's port.
    pub port: u16,
    /// The target's name.
    pub node: &'a str,
    /// Ask for a nack if the target does not answer (protocol ≥ 4).
    pub nack: bool,
    /// The requester's IP; `None` when omitted.
    pub source_addr: Option<&'a [u8]>,
    /// The requester's port; 0 when omitted.
    pub source_port: u16,
    /// The requester's name; "" when omitted.
    pub source_node: &'a str,
}

impl<'a> IndirectPing<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "SeqNo" => m.seq_no = r.uint()?,
                "Target" => m.target = r.bytes()?,
                "Port" => m.port = r.uint()?,
                "Node" => m.node = r.str()?,
                "Nack" => m.nack = r.bool()?,
                "SourceAddr" => m.source_addr = r.bytes()?,
                "SourcePort" => m.source_port = r.uint()?,
                "SourceNode" => m.source_node = r.str()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        let addr = self.source_addr.filter(|a| !a.is_empty());
        let n = 5
            + usize::from(addr.is_some())
            + usize::from(self.source_port != 0)
            + usize::from(!self.source_node.is_empty());
        w.map(n);
        w.str("Nack");
        w.bool(self.nack);
        w.str("Node");
        w.str(self.node);
        w.str("Port");
        w.uint(u64::from(self.port));
        w.str("SeqNo");
        w.uint(u64::from(self.seq_no));
        if let Some(a) = addr {
            w.str("SourceAddr");
            w.raw(a);
        }
        if !self.source_node.is_empty() {
            w.str("SourceNode");
            w.str(self.source_node);
        }
        if self.source_port != 0 {
            w.str("SourcePort");
            w.uint(u64::from(self.source_port));
        }
        w.str("Target");
        w.bytes(self.target);
    }
}

/// The answer to a ping. Serf puts its coordinate in `payload`
/// ([`encode_ack_payload`](super::encode_ack_payload)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack<'a> {
    /// The ping's sequence number.
    pub seq_no: u32,
    /// The ping delegate's payload; `None` is Go's `nil`.
    pub payload: Option<&'a [u8]>,
}

impl<'a> Ack<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "SeqNo" => m.seq_no = r.uint()?,
                "Payload" => m.payload = r.bytes()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(2);
        w.str("Payload");
        w.bytes(self.payload);
        w.str("SeqNo");
        w.uint(u64::from(self.seq_no));
    }
}

/// "I relayed your ping-req and the target did not answer."
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nack {
    /// The ping-req's sequence number.
    pub seq_no: u32,
}

impl Nack {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "SeqNo" => m.seq_no = r.uint()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(1);
        w.str("SeqNo");
        w.uint(u64::from(self.seq_no));
    }
}

/// An error reply on a stream (e.g. to a push-pull it could not read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrResp<'a> {
    /// The error text.
    pub error: &'a str,
}

impl<'a> ErrResp<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "Error" => m.error = r.str()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(1);
        w.str("Error");
        w.str(self.error);
    }
}

/// `from` suspects `node` at `incarnation`. [`Dead`] has the same fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Suspect<'a> {
    /// The suspected node's incarnation.
    pub incarnation: u32,
    /// The suspected node.
    pub node: &'a str,
    /// Who suspects it.
    pub from: &'a str,
}

/// `from` declares `node` dead at `incarnation`; `from == node` is a graceful leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dead<'a> {
    /// The node's incarnation.
    pub incarnation: u32,
    /// The dead (or leaving) node.
    pub node: &'a str,
    /// Who says so.
    pub from: &'a str,
}

macro_rules! accusation {
    ($t:ident) => {
        impl<'a> $t<'a> {
            pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
                let mut m = Self::default();
                fields(r, |k, r| {
                    match k {
                        "Incarnation" => m.incarnation = r.uint()?,
                        "Node" => m.node = r.str()?,
                        "From" => m.from = r.str()?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Ok(m)
            }

            pub(crate) fn encode(&self, w: &mut Writer<'_>) {
                w.map(3);
                w.str("From");
                w.str(self.from);
                w.str("Incarnation");
                w.uint(u64::from(self.incarnation));
                w.str("Node");
                w.str(self.node);
            }
        }
    };
}
accusation!(Suspect);
accusation!(Dead);

/// `node` is alive at `incarnation`, at `addr`:`port`, with `meta` (Serf's encoded tags,
/// see [`decode_tags`](super::decode_tags)) and its protocol versions. Also how a joiner announces
/// itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Alive<'a> {
    /// The node's incarnation.
    pub incarnation: u32,
    /// Its name.
    pub node: &'a str,
    /// Its IP (4 or 16 bytes).
    pub addr: Option<&'a [u8]>,
    /// Its port.
    pub port: u16,
    /// Its metadata (Serf: encoded tags), at most 512 bytes in memberlist.
    pub meta: Option<&'a [u8]>,
    /// The six version bytes.
    pub vsn: Version,
}

impl<'a> Alive<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "Incarnation" => m.incarnation = r.uint()?,
                "Node" => m.node = r.str()?,
                "Addr" => m.addr = r.bytes()?,
                "Port" => m.port = r.uint()?,
                "Meta" => m.meta = r.bytes()?,
                "Vsn" => m.vsn = Version::decode(r)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(6);
        w.str("Addr");
        w.bytes(self.addr);
        w.str("Incarnation");
        w.uint(u64::from(self.incarnation));
        w.str("Meta");
        w.bytes(self.meta);
        w.str("Node");
        w.str(self.node);
        w.str("Port");
        w.uint(u64::from(self.port));
        w.str("Vsn");
        self.vsn.encode(w);
    }
}

/// The state of a node as push-pull carries it (memberlist's `NodeStateType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// Alive (0).
    #[default]
    Alive,
    /// Suspect (1).
    Suspect,
    /// Dead (2).
    Dead,
    /// Left (3, memberlist ≥ 0.2.1).
    Left,
    /// A value this build does not know; kept so it re-encodes unchanged.
    Other(i64),
}

impl NodeState {
    fn from_i64(v: i64) -> Self {
        match v {
            0 => Self::Alive,
            1 => Self::Suspect,
            2 => Self::Dead,
            3 => Self::Left,
            v => Self::Other(v),
        }
    }

    /// The wire value.
    pub fn to_i64(self) -> i64 {
        match self {
            Self::Alive => 0,
            Self::Suspect => 1,
            Self::Dead => 2,
            Self::Left => 3,
            Self::Other(v) => v,
        }
    }
}

/// The start of a push-pull: how many node states follow and how long the user (Serf)
/// state after them is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushPullHeader {
    /// Number of [`PushNodeState`]s that follow.
    pub nodes: u32,
    /// Bytes of user state after the node states.
    pub user_state_len: u32,
    /// True for the exchange a join starts (as opposed to periodic anti-entropy).
    pub join: bool,
}

impl PushPullHeader {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "Nodes" => m.nodes = r.uint()?,
                "UserStateLen" => m.user_state_len = r.uint()?,
                "Join" => m.join = r.bool()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(3);
        w.str("Join");
        w.bool(self.join);
        w.str("Nodes");
        w.uint(u64::from(self.nodes));
        w.str("UserStateLen");
        w.uint(u64::from(self.user_state_len));
    }
}

/// One node in a push-pull.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushNodeState<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its IP.
    pub addr: Option<&'a [u8]>,
    /// Its port.
    pub port: u16,
    /// Its metadata (Serf tags).
    pub meta: Option<&'a [u8]>,
    /// Its incarnation.
    pub incarnation: u32,
    /// Its state.
    pub state: NodeState,
    /// Its six version bytes.
    pub vsn: Version,
}

impl<'a> PushNodeState<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "Name" => m.name = r.str()?,
                "Addr" => m.addr = r.bytes()?,
                "Port" => m.port = r.uint()?,
                "Meta" => m.meta = r.bytes()?,
                "Incarnation" => m.incarnation = r.uint()?,
                "State" => m.state = NodeState::from_i64(r.int()?),
                "Vsn" => m.vsn = Version::decode(r)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(7);
        w.str("Addr");
        w.bytes(self.addr);
        w.str("Incarnation");
        w.uint(u64::from(self.incarnation));
        w.str("Meta");
        w.bytes(self.meta);
        w.str("Name");
        w.str(self.name);
        w.str("Port");
        w.uint(u64::from(self.port));
        w.str("State");
        w.int(self.state.to_i64());
        w.str("Vsn");
        self.vsn.encode(w);
    }
}

/// The header of a user message sent over a stream: the length of the bytes after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserMsgHeader {
    /// Bytes of user message that follow.
    pub user_msg_len: u32,
}

impl UserMsgHeader {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "UserMsgLen" => m.user_msg_len = r.uint()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(1);
        w.str("UserMsgLen");
        w.uint(u64::from(self.user_msg_len));
    }
}

/// LZW-compressed bytes: `algo` 0 is LZW (LSB first, 8-bit literals); `buf` decompresses
/// to one whole message (type byte included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compress<'a> {
    /// Compression algorithm; only 0 (LZW) exists.
    pub algo: u8,
    /// The compressed bytes.
    pub buf: Option<&'a [u8]>,
}

impl<'a> Compress<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Self::default();
        fields(r, |k, r| {
            match k {
                "Algo" => m.algo = r.uint()?,
                "Buf" => m.buf = r.bytes()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.map(2);
        w.str("Algo");
        w.uint(u64::from(self.algo));
        w.str("Buf");
        w.bytes(self.buf);
    }

    /// Decompresses `buf` into at most `max` bytes.
    ///
    /// # Errors
    /// [`SerfDecodeError::UnknownCompression`] for another `algo`, else the errors of
    /// [`lzw_decompress`](super::lzw_decompress).
    pub fn decompress(&self, max: usize) -> Result<Vec<u8>> {
        if self.algo != 0 {
            return Err(SerfDecodeError::UnknownCompression(self.algo));
        }
        super::lzw_decompress(self.buf.unwrap_or_default(), max)
    }
}

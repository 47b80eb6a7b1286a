//! Serf's messages: what rides inside memberlist user messages (and the push-pull user
//! state), plus the payloads of Serf's internal queries.

use alloc::vec::Vec;
use core::time::Duration;

use super::SerfDecodeError;
use super::msgpack::{Reader, Writer};

type Result<T> = core::result::Result<T, SerfDecodeError>;

/// Serf's message type byte (first byte of a user message). Append-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum SerfMessageType {
    /// [`Leave`] intent.
    Leave = 0,
    /// [`Join`] intent.
    Join = 1,
    /// [`SerfPushPull`] (push-pull user state only).
    PushPull = 2,
    /// [`UserEvent`].
    UserEvent = 3,
    /// [`Query`].
    Query = 4,
    /// [`QueryResponse`].
    QueryResponse = 5,
    /// A conflict query's answer ([`SerfMessage::ConflictResponse`]), inside a response
    /// payload.
    ConflictResponse = 6,
    /// [`KeyRequest`], inside a key query's payload.
    KeyRequest = 7,
    /// [`KeyResponse`], inside a key query response's payload.
    KeyResponse = 8,
    /// [`Relay`]: a response to forward to its asker.
    Relay = 9,
}

impl SerfMessageType {
    /// The type for a byte, if Serf defines it.
    pub fn from_u8(b: u8) -> Option<Self> {
        use SerfMessageType::*;
        Some(match b {
            0 => Leave,
            1 => Join,
            2 => PushPull,
            3 => UserEvent,
            4 => Query,
            5 => QueryResponse,
            6 => ConflictResponse,
            7 => KeyRequest,
            8 => KeyResponse,
            9 => Relay,
            _ => return None,
        })
    }
}

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

fn str_list<'a>(r: &mut Reader<'a>) -> Result<Vec<&'a str>> {
    let n = r.array_len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.str()?);
    }
    Ok(out)
}

fn write_str_list(w: &mut Writer<'_>, list: &[&str]) {
    w.array(list.len());
    for s in list {
        w.str(s);
    }
}

/// A string map as ordered pairs (Go encodes maps in random order; keeping the wire order
/// makes re-encoding byte-exact).
fn str_map<'a>(r: &mut Reader<'a>) -> Result<Vec<(&'a str, &'a str)>> {
    let n = r.map_len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((r.str()?, r.str()?));
    }
    Ok(out)
}

fn write_str_map(w: &mut Writer<'_>, map: &[(&str, &str)]) {
    w.map(map.len());
    for (k, v) in map {
        w.str(k);
        w.str(v);
    }
}

/// "`node` joined at Lamport time `ltime`" (member clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Join<'a> {
    /// Member-clock time of the intent.
    pub ltime: u64,
    /// The joining node.
    pub node: &'a str,
}

/// "`node` is leaving at `ltime`"; `prune` also forgets it at once (force-leave -prune).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leave<'a> {
    /// Member-clock time of the intent.
    pub ltime: u64,
    /// The leaving node.
    pub node: &'a str,
    /// Erase the member instead of keeping a tombstone.
    pub prune: bool,
}

/// A user event: name, payload and whether it may be coalesced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserEvent<'a> {
    /// Event-clock time.
    pub ltime: u64,
    /// Event name.
    pub name: &'a str,
    /// Payload; `None` is Go's `nil`.
    pub payload: Option<&'a [u8]>,
    /// "Can coalesce" (Serf's `CC`).
    pub cc: bool,
}

/// The Serf flag asking every recipient to ack a query.
pub const QUERY_FLAG_ACK: u32 = 1;
/// The Serf flag asking recipients not to re-broadcast a query.
pub const QUERY_FLAG_NO_BROADCAST: u32 = 2;

/// A query, gossiped to every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query<'a> {
    /// Query-clock time.
    pub ltime: u64,
    /// Random id; with `ltime` it identifies the query.
    pub id: u32,
    /// The asker's IP, for direct responses.
    pub addr: Option<&'a [u8]>,
    /// The asker's port.
    pub port: u16,
    /// The asker's name.
    pub source_node: &'a str,
    /// Encoded filters ([`Filter::decode`]); empty is Go's `nil`.
    pub filters: Vec<&'a [u8]>,
    /// [`QUERY_FLAG_ACK`], [`QUERY_FLAG_NO_BROADCAST`].
    pub flags: u32,
    /// How many extra members relay each response.
    pub relay_factor: u8,
    /// How long responses are accepted.
    pub timeout: Duration,
    /// Query name (`_serf_…` for internal queries).
    pub name: &'a str,
    /// Payload; `None` is Go's `nil`.
    pub payload: Option<&'a [u8]>,
}

/// A query's ack (flags has [`QUERY_FLAG_ACK`]) or response, sent to the asker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryResponse<'a> {
    /// The query's time.
    pub ltime: u64,
    /// The query's id.
    pub id: u32,
    /// The responder's name.
    pub from: &'a str,
    /// [`QUERY_FLAG_ACK`] for an ack.
    pub flags: u32,
    /// Response payload; `None` is Go's `nil` (acks).
    pub payload: Option<&'a [u8]>,
}

/// A Go `net.UDPAddr`, as the relay header carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpAddr<'a> {
    /// IP bytes (4 or 16).
    pub ip: Option<&'a [u8]>,
    /// Port.
    pub port: u16,
    /// IPv6 zone; usually "".
    pub zone: &'a str,
}

/// A query response wrapped for a relay: the relay forwards `message` (a whole Serf
/// message, type byte first) to `dest_addr` as a user message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relay<'a> {
    /// Where to forward.
    pub dest_addr: UdpAddr<'a>,
    /// Name of the destination node.
    pub dest_name: &'a str,
    /// The wrapped message, type byte first.
    pub message: &'a [u8],
}

impl<'a> Relay<'a> {
    /// Decodes the wrapped message.
    ///
    /// # Errors
    /// As [`decode_serf_message`].
    pub fn inner(&self) -> Result<SerfMessage<'a>> {
        decode_serf_message(self.message)
    }
}

/// One recent event in push-pull: every user event at one Lamport time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserEvents<'a> {
    /// Their event-clock time.
    pub ltime: u64,
    /// `(name, payload)` of each.
    pub events: Vec<(&'a str, Option<&'a [u8]>)>,
}

/// Serf's push-pull state (memberlist's user state).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SerfPushPull<'a> {
    /// Member clock.
    pub ltime: u64,
    /// Every known member's last status time, in wire order.
    pub status_ltimes: Vec<(&'a str, u64)>,
    /// Members that left.
    pub left_members: Vec<&'a str>,
    /// Event clock.
    pub event_ltime: u64,
    /// The event buffer, slot by slot (Serf sends all 512 slots; `None` is an empty slot).
    pub events: Vec<Option<UserEvents<'a>>>,
    /// Query clock.
    pub query_ltime: u64,
}

/// Serf's view of a member, as a conflict response carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SerfMember<'a> {
    /// Name.
    pub name: &'a str,
    /// IP bytes.
    pub addr: Option<&'a [u8]>,
    /// Port.
    pub port: u16,
    /// Tags, in wire order.
    pub tags: Vec<(&'a str, &'a str)>,
    /// Serf's `MemberStatus`: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
    pub status: i64,
    /// memberlist protocol min, max, current; Serf (delegate) min, max, current.
    pub protocol: [u8; 3],
    /// Serf protocol min, max, current.
    pub delegate: [u8; 3],
}

/// The payload of `_serf_install-key`, `_serf_use-key` and `_serf_remove-key` after its
/// type byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyRequest<'a> {
    /// The raw key (16, 24 or 32 bytes); `None` for list-keys.
    pub key: Option<&'a [u8]>,
}

/// A node's answer to a key query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyResponse<'a> {
    /// True if the operation succeeded on that node.
    pub result: bool,
    /// Error text or notes.
    pub message: &'a str,
    /// Base64 keys (list-keys only); empty is Go's `nil`.
    pub keys: Vec<&'a str>,
    /// Base64 primary key (list-keys only).
    pub primary_key: &'a str,
}

/// A query filter, as carried (encoded) in [`Query::filters`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter<'a> {
    /// Only these node names (type 0).
    Nodes(Vec<&'a str>),
    /// Only nodes whose tag `tag` matches the regular expression `expr` (type 1).
    Tag {
        /// Tag name.
        tag: &'a str,
        /// Unanchored regular expression (Go syntax).
        expr: &'a str,
    },
}

impl<'a> Filter<'a> {
    /// Decodes one encoded filter.
    ///
    /// # Errors
    /// [`SerfDecodeError::UnknownFilter`] for another type byte, else msgpack errors.
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let [t, rest @ ..] = buf else {
            return Err(SerfDecodeError::Truncated);
        };
        let mut r = Reader::new(rest);
        let f = match t {
            0 => Self::Nodes(str_list(&mut r)?),
            1 => {
                let (mut tag, mut expr) = ("", "");
                fields(&mut r, |k, r| {
                    match k {
                        "Tag" => tag = r.str()?,
                        "Expr" => expr = r.str()?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Self::Tag { tag, expr }
            }
            t => return Err(SerfDecodeError::UnknownFilter(*t)),
        };
        finish(&r)?;
        Ok(f)
    }

    /// Appends the encoded filter (type byte first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        match self {
            Self::Nodes(nodes) => {
                w.raw_bytes(&[0]);
                write_str_list(&mut w, nodes);
            }
            Self::Tag { tag, expr } => {
                w.raw_bytes(&[1]);
                w.map(2);
                w.str("Expr");
                w.str(expr);
                w.str("Tag");
                w.str(tag);
            }
        }
    }
}

/// A decoded Serf message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SerfMessage<'a> {
    /// Type 0.
    Leave(Leave<'a>),
    /// Type 1.
    Join(Join<'a>),
    /// Type 2.
    PushPull(SerfPushPull<'a>),
    /// Type 3.
    UserEvent(UserEvent<'a>),
    /// Type 4.
    Query(Query<'a>),
    /// Type 5.
    QueryResponse(QueryResponse<'a>),
    /// Type 6: the responder's view of the contested name (`None`: it knows no such
    /// member).
    ConflictResponse(Option<SerfMember<'a>>),
    /// Type 7.
    KeyRequest(KeyRequest<'a>),
    /// Type 8.
    KeyResponse(KeyResponse<'a>),
    /// Type 9.
    Relay(Relay<'a>),
}

impl SerfMessage<'_> {
    /// Its type byte.
    pub fn message_type(&self) -> SerfMessageType {
        match self {
            Self::Leave(_) => SerfMessageType::Leave,
            Self::Join(_) => SerfMessageType::Join,
            Self::PushPull(_) => SerfMessageType::PushPull,
            Self::UserEvent(_) => SerfMessageType::UserEvent,
            Self::Query(_) => SerfMessageType::Query,
            Self::QueryResponse(_) => SerfMessageType::QueryResponse,
            Self::ConflictResponse(_) => SerfMessageType::ConflictResponse,
            Self::KeyRequest(_) => SerfMessageType::KeyRequest,
            Self::KeyResponse(_) => SerfMessageType::KeyResponse,
            Self::Relay(_) => SerfMessageType::Relay,
        }
    }
}

fn finish(r: &Reader<'_>) -> Result<()> {
    if r.rest().is_empty() {
        Ok(())
    } else {
        Err(SerfDecodeError::TrailingBytes)
    }
}

/// Decodes a whole Serf message (type byte first). Trailing bytes are an error, except in
/// a relay, whose wrapped message is everything after its header.
///
/// # Errors
/// [`SerfDecodeError::UnknownSerfMessage`] for a type byte Serf does not define (Serf logs
/// and drops those), else msgpack errors.
pub fn decode_serf_message(buf: &[u8]) -> Result<SerfMessage<'_>> {
    let [t, body @ ..] = buf else {
        return Err(SerfDecodeError::Truncated);
    };
    let t = SerfMessageType::from_u8(*t).ok_or(SerfDecodeError::UnknownSerfMessage(*t))?;
    let mut r = Reader::new(body);
    let msg = match t {
        SerfMessageType::Leave => {
            let mut m = Leave::default();
            fields(&mut r, |k, r| {
                match k {
                    "LTime" => m.ltime = r.uint()?,
                    "Node" => m.node = r.str()?,
                    "Prune" => m.prune = r.bool()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            SerfMessage::Leave(m)
        }
        SerfMessageType::Join => {
            let mut m = Join::default();
            fields(&mut r, |k, r| {
                match k {
                    "LTime" => m.ltime = r.uint()?,
                    "Node" => m.node = r.str()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            SerfMessage::Join(m)
        }
        SerfMessageType::PushPull => SerfMessage::PushPull(decode_push_pull(&mut r)?),
        SerfMessageType::UserEvent => {
            let mut m = UserEvent::default();
            fields(&mut r, |k, r| {
                match k {
                    "LTime" => m.ltime = r.uint()?,
                    "Name" => m.name = r.str()?,
                    "Payload" => m.payload = r.bytes()?,
                    "CC" => m.cc = r.bool()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            SerfMessage::UserEvent(m)
        }
        SerfMessageType::Query => SerfMessage::Query(decode_query(&mut r)?),
        SerfMessageType::QueryResponse => {
            let mut m = QueryResponse::default();
            fields(&mut r, |k, r| {
                match k {
                    "LTime" => m.ltime = r.uint()?,
                    "ID" => m.id = r.uint()?,
                    "From" => m.from = r.str()?,
                    "Flags" => m.flags = r.uint()?,
                    "Payload" => m.payload = r.bytes()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            SerfMessage::QueryResponse(m)
        }
        SerfMessageType::ConflictResponse => {
            if r.peek_nil() {
                r.nil()?;
                SerfMessage::ConflictResponse(None)
            } else {
                SerfMessage::ConflictResponse(Some(decode_member(&mut r)?))
            }
        }
        SerfMessageType::KeyRequest => {
            let mut m = KeyRequest::default();
            fields(&mut r, |k, r| {
                match k {
                    "Key" => m.key = r.bytes()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            SerfMessage::KeyRequest(m)
        }
        SerfMessageType::KeyResponse => {
            let mut m = KeyResponse::default();
            fields(&mut r, |k, r| {
                match k {
                    "Result" => m.result = r.bool()?,
                    "Message" => m.message = r.str()?,
                    "Keys" => m.keys = str_list(r)?,
                    "PrimaryKey" => m.primary_key = r.str()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            SerfMessage::KeyResponse(m)
        }
        SerfMessageType::Relay => {
            let mut m = Relay::default();
            fields(&mut r, |k, r| {
                match k {
                    "DestAddr" => {
                        fields(r, |k, r| {
                            match k {
                                "IP" => m.dest_addr.ip = r.bytes()?,
                                "Port" => m.dest_addr.port = r.uint()?,
                                "Zone" => m.dest_addr.zone = r.str()?,
                                _ => return Ok(false),
                            }
                            Ok(true)
                        })?;
                    }
                    "DestName" => m.dest_name = r.str()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            m.message = r.rest();
            return Ok(SerfMessage::Relay(m));
        }
    };
    finish(&r)?;
    Ok(msg)
}

fn decode_push_pull<'a>(r: &mut Reader<'a>) -> Result<SerfPushPull<'a>> {
    let mut m = SerfPushPull::default();
    fields(r, |k, r| {
        match k {
            "LTime" => m.ltime = r.uint()?,
            "StatusLTimes" => {
                let n = r.map_len()?;
                m.status_ltimes = Vec::with_capacity(n);
                for _ in 0..n {
                    m.status_ltimes.push((r.str()?, r.uint()?));
                }
            }
            "LeftMembers" => m.left_members = str_list(r)?,
            "EventLTime" => m.event_ltime = r.uint()?,
            "Events" => {
                let n = r.array_len()?;
                m.events = Vec::with_capacity(n);
                for _ in 0..n {
                    if r.peek_nil() {
                        r.nil()?;
                        m.events.push(None);
                        continue;
                    }
                    let mut slot = UserEvents::default();
                    fields(r, |k, r| {
                        match k {
                            "LTime" => slot.ltime = r.uint()?,
                            "Events" => {
                                let n = r.array_len()?;
                                slot.events = Vec::with_capacity(n);
                                for _ in 0..n {
                                    let (mut name, mut payload) = ("", None);
                                    fields(r, |k, r| {
                                        match k {
                                            "Name" => name = r.str()?,
                                            "Payload" => payload = r.bytes()?,
                                            _ => return Ok(false),
                                        }
                                        Ok(true)
                                    })?;
                                    slot.events.push((name, payload));
                                }
                            }
                            _ => return Ok(false),
                        }
                        Ok(true)
                    })?;
                    m.events.push(Some(slot));
                }
            }
            "QueryLTime" => m.query_ltime = r.uint()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn decode_query<'a>(r: &mut Reader<'a>) -> Result<Query<'a>> {
    let mut m = Query::default();
    fields(r, |k, r| {
        match k {
            "LTime" => m.ltime = r.uint()?,
            "ID" => m.id = r.uint()?,
            "Addr" => m.addr = r.bytes()?,
            "Port" => m.port = r.uint()?,
            "SourceNode" => m.source_node = r.str()?,
            "Filters" => {
                let n = r.array_len()?;
                m.filters = Vec::with_capacity(n);
                for _ in 0..n {
                    m.filters.push(r.bytes()?.unwrap_or_default());
                }
            }
            "Flags" => m.flags = r.uint()?,
            "RelayFactor" => m.relay_factor = r.uint()?,
            "Timeout" => {
                // Go's time.Duration is an int64 of nanoseconds.
                let ns: u64 = r.uint()?;
                if ns > i64::MAX as u64 {
                    return Err(SerfDecodeError::IntegerRange);
                }
                m.timeout = Duration::from_nanos(ns);
            }
            "Name" => m.name = r.str()?,
            "Payload" => m.payload = r.bytes()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn decode_member<'a>(r: &mut Reader<'a>) -> Result<SerfMember<'a>> {
    let mut m = SerfMember::default();
    fields(r, |k, r| {
        match k {
            "Name" => m.name = r.str()?,
            "Addr" => m.addr = r.bytes()?,
            "Port" => m.port = r.uint()?,
            "Tags" => m.tags = str_map(r)?,
            "Status" => m.status = r.int()?,
            "ProtocolMin" => m.protocol[0] = r.uint()?,
            "ProtocolMax" => m.protocol[1] = r.uint()?,
            "ProtocolCur" => m.protocol[2] = r.uint()?,
            "DelegateMin" => m.delegate[0] = r.uint()?,
            "DelegateMax" => m.delegate[1] = r.uint()?,
            "DelegateCur" => m.delegate[2] = r.uint()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

/// Appends a whole Serf message (type byte first), encoded as Serf encodes it (fields in
/// sorted order).
pub fn encode_serf_message(msg: &SerfMessage<'_>, out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    w.raw_bytes(&[msg.message_type() as u8]);
    match msg {
        SerfMessage::Leave(m) => {
            w.map(3);
            w.str("LTime");
            w.uint(m.ltime);
            w.str("Node");
            w.str(m.node);
            w.str("Prune");
            w.bool(m.prune);
        }
        SerfMessage::Join(m) => {
            w.map(2);
            w.str("LTime");
            w.uint(m.ltime);
            w.str("Node");
            w.str(m.node);
        }
        SerfMessage::PushPull(m) => encode_push_pull(&mut w, m),
        SerfMessage::UserEvent(m) => {
            w.map(4);
            w.str("CC");
            w.bool(m.cc);
            w.str("LTime");
            w.uint(m.ltime);
            w.str("Name");
            w.str(m.name);
            w.str("Payload");
            w.bytes(m.payload);
        }
        SerfMessage::Query(m) => encode_query(&mut w, m),
        SerfMessage::QueryResponse(m) => {
            w.map(5);
            w.str("Flags");
            w.uint(u64::from(m.flags));
            w.str("From");
            w.str(m.from);
            w.str("ID");
            w.uint(u64::from(m.id));
            w.str("LTime");
            w.uint(m.ltime);
            w.str("Payload");
            w.bytes(m.payload);
        }
        SerfMessage::ConflictResponse(None) => w.nil(),
        SerfMessage::ConflictResponse(Some(m)) => encode_member(&mut w, m),
        SerfMessage::KeyRequest(m) => {
            w.map(1);
            w.str("Key");
            w.bytes(m.key);
        }
        SerfMessage::KeyResponse(m) => {
            w.map(4);
            w.str("Keys");
            if m.keys.is_empty() {
                w.nil();
            } else {
                write_str_list(&mut w, &m.keys);
            }
            w.str("Message");
            w.str(m.message);
            w.str("PrimaryKey");
            w.str(m.primary_key);
            w.str("Result");
            w.bool(m.result);
        }
        SerfMessage::Relay(m) => {
            w.map(2);
            w.str("DestAddr");
            w.map(3);
            w.str("IP");
            w.bytes(m.dest_addr.ip);
            w.str("Port");
            w.uint(u64::from(m.dest_addr.port));
            w.str("Zone");
            w.str(m.dest_addr.zone);
            w.str("DestName");
            w.str(m.dest_name);
            w.raw_bytes(m.message);
        }
    }
}

fn encode_push_pull(w: &mut Writer<'_>, m: &SerfPushPull<'_>) {
    w.map(6);
    w.str("EventLTime");
    w.uint(m.event_ltime);
    w.str("Events");
    w.array(m.events.len());
    for slot in &m.events {
        let Some(slot) = slot else {
            w.nil();
            continue;
        };
        w.map(2);
        w.str("Events");
        w.array(slot.events.len());
        for (name, payload) in &slot.events {
            w.map(2);
            w.str("Name");
            w.str(name);
            w.str("Payload");
            w.bytes(*payload);
        }
        w.str("LTime");
        w.uint(slot.ltime);
    }
    w.str("LTime");
    w.uint(m.ltime);
    w.str("LeftMembers");
    write_str_list(w, &m.left_members);
    w.str("QueryLTime");
    w.uint(m.query_ltime);
    w.str("StatusLTimes");
    w.map(m.status_ltimes.len());
    for (name, t) in &m.status_ltimes {
        w.str(name);
        w.uint(*t);
    }
}

fn encode_query(w: &mut Writer<'_>, m: &Query<'_>) {
    w.map(11);
    w.str("Addr");
    w.bytes(m.addr);
    w.str("Filters");
    if m.filters.is_empty() {
        w.nil();
    } else {
        w.array(m.filters.len());
        for f in &m.filters {
            w.raw(f);
        }
    }
    w.str("Flags");
    w.uint(u64::from(m.flags));
    w.str("ID");
    w.uint(u64::from(m.id));
    w.str("LTime");
    w.uint(m.ltime);
    w.str("Name");
    w.str(m.name);
    w.str("Payload");
    w.bytes(m.payload);
    w.str("Port");
    w.uint(u64::from(m.port));
    w.str("RelayFactor");
    w.uint(u64::from(m.relay_factor));
    w.str("SourceNode");
    w.str(m.source_node);
    w.str("Timeout");
    // Clamped to Go's int64 nanoseconds (292 years).
    let ns = u64::try_from(m.timeout.as_nanos()).unwrap_or(u64::MAX);
    w.uint(ns.min(i64::MAX as u64));
}

fn encode_member(w: &mut Writer<'_>, m: &SerfMember<'_>) {
    w.map(11);
    w.str("Addr");
    w.bytes(m.addr);
    w.str("DelegateCur");
    w.uint(u64::from(m.delegate[2]));
    w.str("DelegateMax");
    w.uint(u64::from(m.delegate[1]));
    w.str("DelegateMin");
    w.uint(u64::from(m.delegate[0]));
    w.str("Name");
    w.str(m.name);
    w.str("Port");
    w.uint(u64::from(m.port));
    w.str("ProtocolCur");
    w.uint(u64::from(m.protocol[2]));
    w.str("ProtocolMax");
    w.uint(u64::from(m.protocol[1]));
    w.str("ProtocolMin");
    w.uint(u64::from(m.protocol[0]));
    w.str("Status");
    w.int(m.status);
    w.str("Tags");
    write_str_map(w, &m.tags);
}

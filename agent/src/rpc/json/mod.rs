//! The JSON-lines dialect of the RPC protocol (the CLI's): the wire format ([`wire`]) and
//! its translation to and from the typed [`Request`] / [`Outgoing`]. See the README's "RPC
//! protocol" section for the full description.
//!
//! ```text
//! client                                            agent
//!   {"seq":0,"command":"handshake","version":1,"auth":"t"} ─▶
//!                                       ◀─ {"seq":0,"body":{"version":1,"agent":"..."}}
//!   {"seq":1,"command":"members"} ─────▶
//!                                       ◀─ {"seq":1,"body":{"members":[...]}}
//!   {"seq":2,"command":"query","name":"load"} ─▶
//!                                       ◀─ {"seq":2,"event":{"ack":"n1"}}        (stream)
//!                                       ◀─ {"seq":2,"event":{"response":{...}}}
//!                                       ◀─ {"seq":2,"body":{"acks":1,...}}       (final)
//! ```
//!
//! Every request carries a `seq` the replies echo. A request ends with exactly one line that
//! has `body` or `error`; streaming requests (`query`, `reachability`, `monitor`, `stream`)
//! send any number of `event` lines first. `monitor` and `stream` run until the client
//! sends `stop` with their `seq`, or disconnects. Lines are at most [`LINE_BYTES_MAX`]; a
//! longer one is answered with an error and skipped.

pub mod wire;

use std::time::Duration;

use hearsay_tokio::protocol::{Event, KeyOp, Member};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::AsyncBufRead;

pub use wire::{
    JsonError, LINE_BYTES_MAX, LineError, RPC_VERSION, WireRequest, WireResponse, read_line,
};

use crate::rpc::request::{Body, Item, MemberFilter, Outgoing, QueryRequest, Reply, Request};
use crate::rpc::server::{Dialect, Incoming};
use crate::tags;
use wire::{parse_request, skip_line};

fn millis(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

impl From<WireRequest> for Request {
    fn from(w: WireRequest) -> Self {
        match w {
            WireRequest::Handshake { version, auth } => Self::Handshake { version, auth },
            WireRequest::Members { status, name, tags } => {
                Self::Members(MemberFilter { status, name, tags })
            }
            WireRequest::Join { addrs, replay } => Self::Join { addrs, replay },
            WireRequest::Leave {} => Self::Leave,
            WireRequest::ForceLeave { node, prune } => Self::ForceLeave { node, prune },
            WireRequest::Event {
                name,
                payload,
                coalesce,
            } => Self::Event {
                name,
                payload: payload.into_bytes(),
                coalesce,
            },
            WireRequest::Query {
                name,
                payload,
                nodes,
                tags,
                timeout_ms,
                request_ack,
                relay_factor,
            } => Self::Query(QueryRequest {
                name,
                payload: payload.into_bytes(),
                nodes,
                tags,
                timeout: millis(timeout_ms),
                request_ack,
                relay_factor,
            }),
            WireRequest::Reachability { timeout_ms } => Self::Reachability {
                timeout: millis(timeout_ms),
            },
            WireRequest::Monitor { log_level } => Self::Monitor { log_level },
            WireRequest::Stream { types } => Self::Stream { types },
            WireRequest::Stop { stop_seq } => Self::Stop { stop_seq },
            WireRequest::Tags { set, delete } => Self::Tags { set, delete },
            WireRequest::Info {} => Self::Info,
            WireRequest::InstallKey { key, timeout_ms } => Self::Key {
                op: KeyOp::Install,
                key: Some(key),
                timeout: millis(timeout_ms),
            },
            WireRequest::UseKey { key, timeout_ms } => Self::Key {
                op: KeyOp::Use,
                key: Some(key),
                timeout: millis(timeout_ms),
            },
            WireRequest::RemoveKey { key, timeout_ms } => Self::Key {
                op: KeyOp::Remove,
                key: Some(key),
                timeout: millis(timeout_ms),
            },
            WireRequest::ListKeys { timeout_ms } => Self::Key {
                op: KeyOp::List,
                key: None,
                timeout: millis(timeout_ms),
            },
            WireRequest::SetPlaintext { accept, send } => Self::SetPlaintext { accept, send },
        }
    }
}

/// The JSON-lines dialect: one JSON object per line each way.
#[derive(Debug, Default)]
pub struct JsonLines {
    /// The rest of an over-long line is still to be discarded.
    skipping: bool,
}

impl Dialect for JsonLines {
    const VERSION: u32 = RPC_VERSION;

    async fn read<R: AsyncBufRead + Unpin + Send>(&mut self, r: &mut R) -> Incoming {
        loop {
            if std::mem::take(&mut self.skipping) && skip_line(r).await.is_err() {
                return Incoming::Closed;
            }
            let line = match read_line(r, LINE_BYTES_MAX).await {
                Ok(Some(l)) => l,
                Ok(None) | Err(LineError::Io(_)) => return Incoming::Closed,
                Err(LineError::TooLong) => {
                    // Discarded as it arrives (after the error reply is queued): never
                    // buffered beyond the limit.
                    self.skipping = true;
                    return malformed(0, JsonError::TooLong);
                }
                Err(LineError::NotUtf8) => return malformed(0, JsonError::NotUtf8),
            };
            if line.trim().is_empty() {
                continue;
            }
            return match parse_request(&line) {
                Ok((seq, wire)) => Incoming::Request {
                    seq,
                    request: wire.into(),
                },
                Err((seq, e)) => malformed(seq, e),
            };
        }
    }

    fn encode(out: &Outgoing, buf: &mut Vec<u8>) {
        let line = match &out.body {
            Body::Reply(reply) => WireResponse::ok(out.seq, reply_json(reply)),
            Body::Error(e) => WireResponse::err(out.seq, e.to_string()),
            Body::Item(item) => WireResponse::event(out.seq, item_json(item)),
        }
        .to_line();
        buf.extend_from_slice(line.as_bytes());
    }
}

fn malformed(seq: u64, e: JsonError) -> Incoming {
    Incoming::Malformed {
        seq,
        error: Box::new(e),
    }
}

/// The `body` of a final reply.
fn reply_json(reply: &Reply) -> Value {
    match reply {
        Reply::Handshake { version } => {
            json!({"version": version, "agent": env!("CARGO_PKG_VERSION")})
        }
        Reply::Done => json!({}),
        Reply::Members(members) => {
            json!({"members": members.iter().map(member_json).collect::<Vec<_>>()})
        }
        Reply::Joined { num } => json!({ "num": num }),
        Reply::EventSent { ltime } => json!({ "ltime": ltime }),
        Reply::QueryDone {
            acks,
            responses,
            expected,
        } => json!({"acks": acks, "responses": responses, "expected": expected}),
        Reply::Reachability {
            members,
            alive,
            acks,
            missing,
        } => json!({"members": members, "alive": alive, "acks": acks, "missing": missing}),
        Reply::Tags(tags) => json!({ "tags": tags }),
        Reply::Info(info) => to_json(info),
        Reply::Keys(report) => to_json(report),
        Reply::Plaintext(state) => to_json(state),
        Reply::Stopped => json!({"stopped": true}),
    }
}

fn to_json(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The `event` of a stream line.
fn item_json(item: &Item) -> Value {
    match item {
        Item::Ack(from) => json!({ "ack": from }),
        Item::Response { from, payload } => {
            json!({"response": {"from": from, "payload": String::from_utf8_lossy(payload)}})
        }
        Item::Log(line) => json!({ "log": line }),
        Item::LogsDropped(n) => json!({"log": format!("[monitor] {n} log lines dropped")}),
        Item::Event(e) => event_json(e).unwrap_or(Value::Null),
        Item::EventsDropped(n) => json!({ "dropped": n }),
    }
}

/// A member as `members` lists it.
fn member_json(m: &Member) -> Value {
    json!({
        "name": m.name.as_str(),
        "addr": m.addr.ip().to_string(),
        "port": m.addr.port(),
        "tags": tags::from_core(&m.tags),
        "status": m.state.as_str(),
        "incarnation": m.incarnation.0,
    })
}

/// A cluster event as `stream` sends it; `None` for events it does not carry.
fn event_json(e: &Event) -> Option<Value> {
    Some(match e {
        Event::User {
            ltime,
            name,
            payload,
            coalesce,
        } => json!({"event": "user", "name": name, "ltime": ltime.0,
                    "payload": String::from_utf8_lossy(payload), "coalesce": coalesce}),
        Event::Query {
            id,
            ltime,
            name,
            payload,
            from,
        } => json!({"event": "query", "id": id.as_u64(), "name": name, "ltime": ltime.0,
                    "payload": String::from_utf8_lossy(payload), "from": from.as_str()}),
        other => {
            let m = other.member()?;
            json!({"event": other.name(), "members": [member_json(m)]})
        }
    })
}

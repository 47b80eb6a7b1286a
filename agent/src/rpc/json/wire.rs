//! The JSON-lines wire format: requests and replies as they travel, line framing with a
//! length cap, and request parsing. Pure (no agent state), so the fuzz targets compile it
//! on its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Version of this protocol; the handshake must name it.
pub const RPC_VERSION: u32 = 1;
/// Longest request or response line, newline included.
pub const LINE_BYTES_MAX: usize = 256 << 10;

/// A request as it travels, tagged by `command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum WireRequest {
    /// First request on a connection.
    Handshake {
        /// Must be [`RPC_VERSION`].
        version: u32,
        /// The agent's `-rpc-auth` token, when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<String>,
    },
    /// The member list, optionally filtered (regexes).
    Members {
        /// Status regex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// Name regex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Tag key → value regex.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        tags: BTreeMap<String, String>,
    },
    /// Join through these addresses.
    Join {
        /// `host:port` each.
        addrs: Vec<String>,
        /// Replay old user events.
        #[serde(default)]
        replay: bool,
    },
    /// Leave gracefully; the agent then shuts down.
    Leave {},
    /// Mark a failed member as left.
    ForceLeave {
        /// Its name.
        node: String,
        /// Forget it at once.
        #[serde(default)]
        prune: bool,
    },
    /// Send a user event.
    Event {
        /// Name.
        name: String,
        /// Payload (UTF-8 text).
        #[serde(default)]
        payload: String,
        /// Allow coalescing.
        #[serde(default = "yes")]
        coalesce: bool,
    },
    /// Send a query; streams acks and responses.
    Query {
        /// Name.
        name: String,
        /// Payload (UTF-8 text).
        #[serde(default)]
        payload: String,
        /// Only these nodes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        nodes: Vec<String>,
        /// Tag key → value regex.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        tags: BTreeMap<String, String>,
        /// Timeout in milliseconds (default: the core's, from the cluster size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// Ask for acks.
        #[serde(default = "yes")]
        request_ack: bool,
        /// Relay factor.
        #[serde(default)]
        relay_factor: u8,
    },
    /// Reachability check; streams acks.
    Reachability {
        /// Timeout in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Stream log lines at or above a level.
    Monitor {
        /// trace, debug, info, warn, error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_level: Option<String>,
    },
    /// Stream cluster events; `types` uses handler filter syntax (`member-join,user:deploy`).
    Stream {
        /// Filter, default `*`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        types: Option<String>,
    },
    /// Stop a `monitor` or `stream`.
    Stop {
        /// Its `seq`.
        stop_seq: u64,
    },
    /// Change tags.
    Tags {
        /// Set these.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        set: BTreeMap<String, String>,
        /// Delete these.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        delete: Vec<String>,
    },
    /// Diagnostics.
    Info {},
    /// Install a key on every member (Serf's `install-key`).
    InstallKey {
        /// Base64 of 32 bytes.
        key: String,
        /// Timeout in milliseconds (default: the core's, from the cluster size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Make a key the primary on every member (Serf's `use-key`).
    UseKey {
        /// Base64 of 32 bytes.
        key: String,
        /// Timeout in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Remove a key from every member (Serf's `remove-key`).
    RemoveKey {
        /// Base64 of 32 bytes.
        key: String,
        /// Timeout in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Every member's keys, counted (Serf's `list-keys`).
    ListKeys {
        /// Timeout in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// This agent's plaintext switches (turning encryption on in a live cluster).
    SetPlaintext {
        /// Accept plaintext packets; unchanged when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accept: Option<bool>,
        /// Send plaintext packets; unchanged when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        send: Option<bool>,
    },
}

fn yes() -> bool {
    true
}

/// One line from the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireResponse {
    /// The request's `seq`.
    pub seq: u64,
    /// Final reply: success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Final reply: failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A streamed item; more lines follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
}

impl WireResponse {
    /// A success.
    pub fn ok(seq: u64, body: Value) -> Self {
        Self {
            seq,
            body: Some(body),
            error: None,
            event: None,
        }
    }

    /// A failure.
    pub fn err(seq: u64, error: impl Into<String>) -> Self {
        Self {
            seq,
            body: None,
            error: Some(error.into()),
            event: None,
        }
    }

    /// A streamed item.
    pub fn event(seq: u64, event: Value) -> Self {
        Self {
            seq,
            body: None,
            error: None,
            event: Some(event),
        }
    }

    /// Whether this ends its request.
    pub fn is_final(&self) -> bool {
        self.event.is_none()
    }

    /// The line to send, newline included.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_else(|_| {
            format!("{{\"seq\":{},\"error\":\"unencodable reply\"}}", self.seq)
        });
        s.push('\n');
        s
    }
}

/// Why a request line was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON.
    #[error("malformed request: {0}")]
    Syntax(serde_json::Error),
    /// JSON, but not an object.
    #[error("malformed request: expected a JSON object")]
    NotObject,
    /// No unsigned integer `seq`.
    #[error("malformed request: missing numeric \"seq\"")]
    NoSeq,
    /// No `command`.
    #[error("malformed request: missing \"command\"")]
    NoCommand,
    /// An unknown command, or missing or mistyped arguments.
    #[error("bad request: {0}")]
    Bad(serde_json::Error),
    /// Longer than [`LINE_BYTES_MAX`]; skipped without being buffered.
    #[error("request line too long (limit {LINE_BYTES_MAX} bytes); skipped")]
    TooLong,
    /// Not UTF-8.
    #[error("request is not UTF-8")]
    NotUtf8,
}

/// Parses one request line. On failure returns the `seq` (0 when unreadable) and why.
///
/// # Errors
/// Not JSON, no numeric `seq`, unknown `command`, missing or mistyped fields.
pub fn parse_request(line: &str) -> Result<(u64, WireRequest), (u64, JsonError)> {
    let value: Value = serde_json::from_str(line).map_err(|e| (0, JsonError::Syntax(e)))?;
    let Some(obj) = value.as_object() else {
        return Err((0, JsonError::NotObject));
    };
    let seq = obj
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or((0, JsonError::NoSeq))?;
    if !obj.contains_key("command") {
        return Err((seq, JsonError::NoCommand));
    }
    let mut obj = obj.clone();
    obj.remove("seq");
    serde_json::from_value(Value::Object(obj))
        .map(|r| (seq, r))
        .map_err(|e| (seq, JsonError::Bad(e)))
}

/// Why a line could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Longer than the limit.
    #[error("line too long")]
    TooLong,
    /// Not UTF-8.
    #[error("line is not UTF-8")]
    NotUtf8,
    /// Connection error.
    #[error("{0}")]
    Io(String),
}

/// Reads one line of at most `max` bytes; `Ok(None)` at a clean end of stream. Never
/// buffers more than `max` bytes, whatever the peer sends.
///
/// # Errors
/// [`LineError`].
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<String>, LineError> {
    let mut buf = Vec::new();
    loop {
        let chunk = r
            .fill_buf()
            .await
            .map_err(|e| LineError::Io(e.to_string()))?;
        if chunk.is_empty() {
            if buf.is_empty() {
                return Ok(None);
            }
            break;
        }
        if let Some(nl) = chunk.iter().position(|b| *b == b'\n') {
            if buf.len() + nl > max {
                return Err(LineError::TooLong);
            }
            buf.extend_from_slice(&chunk[..nl]);
            r.consume(nl + 1);
            break;
        }
        let n = chunk.len();
        if buf.len() + n > max {
            return Err(LineError::TooLong);
        }
        buf.extend_from_slice(chunk);
        r.consume(n);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| LineError::NotUtf8)
}

/// Discards input up to and including the next newline (after a line that was too long).
///
/// # Errors
/// [`LineError::Io`].
pub async fn skip_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<(), LineError> {
    loop {
        let chunk = r
            .fill_buf()
            .await
            .map_err(|e| LineError::Io(e.to_string()))?;
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(nl) = chunk.iter().position(|b| *b == b'\n') {
            r.consume(nl + 1);
            return Ok(());
        }
        let n = chunk.len();
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::BufReader;

    #[test]
    fn requests_round_trip_through_json_lines() {
        let r = WireRequest::Query {
            name: "load".into(),
            payload: "x".into(),
            nodes: vec!["a".into()],
            tags: BTreeMap::new(),
            timeout_ms: Some(500),
            request_ack: false,
            relay_factor: 1,
        };
        let mut v = serde_json::to_value(&r).unwrap();
        v.as_object_mut().unwrap().insert("seq".into(), 9.into());
        assert_eq!(parse_request(&v.to_string()).unwrap(), (9, r));
        assert_eq!(
            parse_request(r#"{"seq":1,"command":"leave"}"#).unwrap(),
            (1, WireRequest::Leave {})
        );
        assert_eq!(
            parse_request(r#"{"seq":2,"command":"event","name":"e"}"#).unwrap(),
            (
                2,
                WireRequest::Event {
                    name: "e".into(),
                    payload: String::new(),
                    coalesce: true
                }
            )
        );
    }

    #[test]
    fn malformed_requests_give_errors_with_the_seq_when_known() {
        assert_eq!(parse_request("nonsense").unwrap_err().0, 0);
        assert_eq!(parse_request("[1,2]").unwrap_err().0, 0);
        assert!(
            parse_request(r#"{"command":"members"}"#)
                .unwrap_err()
                .1
                .to_string()
                .contains("seq")
        );
        let (seq, msg) = parse_request(r#"{"seq":4,"command":"fly"}"#).unwrap_err();
        assert_eq!(seq, 4);
        assert!(msg.to_string().contains("fly"), "{msg}");
        let (seq, msg) = parse_request(r#"{"seq":5,"command":"join"}"#).unwrap_err();
        assert_eq!(seq, 5);
        assert!(msg.to_string().contains("addrs"), "{msg}");
    }

    #[test]
    fn lines_are_bounded_and_split_on_newlines() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let data: &[u8] = b"one\r\ntwo\nthree";
            let mut r = BufReader::with_capacity(2, data);
            assert_eq!(read_line(&mut r, 10).await.unwrap().as_deref(), Some("one"));
            assert_eq!(read_line(&mut r, 10).await.unwrap().as_deref(), Some("two"));
            assert_eq!(
                read_line(&mut r, 10).await.unwrap().as_deref(),
                Some("three")
            );
            assert_eq!(read_line(&mut r, 10).await.unwrap(), None);

            let mut long = vec![b'x'; 100];
            long.extend_from_slice(b"\nnext\n");
            let mut r = BufReader::with_capacity(8, long.as_slice());
            assert_eq!(read_line(&mut r, 50).await, Err(LineError::TooLong));
            skip_line(&mut r).await.unwrap();
            assert_eq!(
                read_line(&mut r, 50).await.unwrap().as_deref(),
                Some("next")
            );
            let bad: &[u8] = b"\xff\xfe\n";
            let mut r = BufReader::new(bad);
            assert_eq!(read_line(&mut r, 50).await, Err(LineError::NotUtf8));
        });
    }

    #[test]
    fn responses_serialise_compactly() {
        let line = WireResponse::ok(3, serde_json::json!({"a":1})).to_line();
        assert_eq!(line, "{\"seq\":3,\"body\":{\"a\":1}}\n");
        assert!(!WireResponse::event(3, serde_json::json!(1)).is_final());
    }
}

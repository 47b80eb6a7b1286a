//! `monitor` (log lines) and `stream` (cluster events): run until the client stops them
//! or disconnects. A client that reads too slowly misses items rather than slowing the
//! agent, and is told how many it missed.

use hearsay_tokio::protocol::Event;
use tokio::sync::broadcast::error::RecvError;

use crate::agent::Agent;
use crate::config;
use crate::handlers::{EventKind, HandlerEvent, HandlerSpec};
use crate::logging;
use crate::rpc::ops::OpError;
use crate::rpc::request::{Item, Reply};
use crate::rpc::server::Sink;

/// Streams log lines at `log_level` (default info) or more severe.
///
/// # Errors
/// An unknown level.
pub async fn monitor(
    agent: &Agent,
    log_level: Option<&str>,
    sink: &Sink,
) -> Result<Reply, OpError> {
    let level = config::parse_level(log_level.unwrap_or("info"))?;
    let mut rx = logging::subscribe(&agent.logs);
    loop {
        match rx.recv().await {
            Ok(line) if line.level <= level => {
                if sink.offer(Item::Log(line.text)).is_err() {
                    return Ok(Reply::Done);
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => {
                let _ = sink.offer(Item::LogsDropped(n));
            }
            Err(RecvError::Closed) => return Ok(Reply::Done),
        }
    }
}

/// Streams cluster events matching `types` (handler filter syntax, default `*`).
///
/// # Errors
/// A bad filter.
pub async fn stream(agent: &Agent, types: Option<&str>, sink: &Sink) -> Result<Reply, OpError> {
    let spec = HandlerSpec::parse_for("stream types", &format!("{}=x", types.unwrap_or("*")))?;
    let mut rx = agent.events.subscribe();
    loop {
        match rx.recv().await {
            Ok(e) => {
                if !matches(&spec, &e) {
                    continue;
                }
                if sink.offer(Item::Event(e)).is_err() {
                    return Ok(Reply::Done);
                }
            }
            Err(RecvError::Lagged(n)) => {
                let _ = sink.offer(Item::EventsDropped(n));
            }
            Err(RecvError::Closed) => return Ok(Reply::Done),
        }
    }
}

/// Whether `spec` selects `e`; only member events, user events and queries are streamed.
fn matches(spec: &HandlerSpec, e: &Event) -> bool {
    let kind = match e {
        Event::User { name, ltime, .. } => EventKind::User {
            name: name.clone(),
            ltime: ltime.0,
            payload: Vec::new(),
        },
        Event::Query {
            name, ltime, id, ..
        } => EventKind::Query {
            name: name.clone(),
            ltime: ltime.0,
            payload: Vec::new(),
            id: id.as_u64(),
        },
        other => match other.member() {
            Some(_) => EventKind::Member {
                name: other.name(),
                members: Vec::new(),
            },
            None => return false,
        },
    };
    spec.matches(&HandlerEvent { kind })
}

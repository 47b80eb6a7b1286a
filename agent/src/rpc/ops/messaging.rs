//! `event`, `query`, `reachability`.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_lite::StreamExt;
use hearsay_driver::QueryReply;
use hearsay_tokio::protocol::{MemberState, QueryParams};

use crate::agent::Agent;
use crate::rpc::ops::{OpError, compile};
use crate::rpc::request::{Item, QueryRequest, Reply};
use crate::rpc::server::Sink;

/// Sends a user event; replies with its Lamport time.
///
/// # Errors
/// The core refused it (too large, after a leave).
pub async fn event(
    agent: &Agent,
    name: &str,
    payload: &[u8],
    coalesce: bool,
) -> Result<Reply, OpError> {
    let ltime = agent
        .node
        .user_event(name, payload, coalesce)
        .await
        .map_err(|source| OpError::Event {
            name: name.to_owned(),
            source,
        })?;
    Ok(Reply::EventSent { ltime: ltime.0 })
}

/// Sends a query and streams its acks and responses. Ends when every alive member that
/// matches the filters has responded (and acked, when acks were asked for), else at the
/// query's timeout.
///
/// # Errors
/// A bad tag regex, or the core refused the query.
pub async fn query(agent: &Agent, q: QueryRequest, sink: &Sink) -> Result<Reply, OpError> {
    let regexes: Vec<(&String, regex::Regex)> = q
        .tags
        .iter()
        .map(|(k, v)| Ok((k, compile("tag", v)?)))
        .collect::<Result<_, OpError>>()?;
    let members = agent.node.members().await?;
    let expected: BTreeSet<String> = members
        .iter()
        .filter(|m| m.state == MemberState::Alive)
        .filter(|m| q.nodes.is_empty() || q.nodes.iter().any(|n| n == m.name.as_str()))
        .filter(|m| {
            regexes
                .iter()
                .all(|(k, r)| m.tags.get(k).is_some_and(|v| r.is_match(v)))
        })
        .map(|m| m.name.to_string())
        .collect();
    let request_ack = q.request_ack;
    let mut params = QueryParams::new(q.name.clone())
        .payload(q.payload)
        .request_ack(request_ack)
        .relay_factor(q.relay_factor);
    params.filter_nodes = q.nodes;
    params.filter_tags = q.tags.into_iter().collect();
    params.timeout = q.timeout;
    let mut replies = agent
        .node
        .query(params)
        .await
        .map_err(|source| OpError::Query {
            name: q.name,
            source,
        })?;
    let mut acks = BTreeSet::new();
    let mut responses = BTreeSet::new();
    while let Some(r) = replies.next().await {
        match r {
            QueryReply::Ack { from } => {
                acks.insert(from.to_string());
                sink.send(Item::Ack(from.to_string())).await;
            }
            QueryReply::Response { from, payload } => {
                responses.insert(from.to_string());
                sink.send(Item::Response {
                    from: from.to_string(),
                    payload,
                })
                .await;
            }
            _ => {}
        }
        let all_responded = expected.iter().all(|n| responses.contains(n));
        let all_acked = !request_ack || expected.iter().all(|n| acks.contains(n));
        if !expected.is_empty() && all_responded && all_acked {
            break;
        }
    }
    Ok(Reply::QueryDone {
        acks: acks.len(),
        responses: responses.len(),
        expected: expected.len(),
    })
}

/// Asks every member to ack and streams the acks; ends when every alive member acked,
/// else at the timeout.
///
/// # Errors
/// The node has stopped.
pub async fn reachability(
    agent: &Agent,
    timeout: Option<Duration>,
    sink: &Sink,
) -> Result<Reply, OpError> {
    let members = agent.node.members().await?;
    let alive: BTreeSet<String> = members
        .iter()
        .filter(|m| m.state == MemberState::Alive)
        .map(|m| m.name.to_string())
        .collect();
    let mut replies = agent.node.reachability(timeout).await?;
    let mut acks = BTreeSet::new();
    while let Some(r) = replies.next().await {
        if let QueryReply::Ack { from } = r {
            sink.send(Item::Ack(from.to_string())).await;
            acks.insert(from.to_string());
        }
        if alive.iter().all(|n| acks.contains(n)) {
            break;
        }
    }
    let missing = alive
        .iter()
        .filter(|n| !acks.contains(*n))
        .cloned()
        .collect();
    Ok(Reply::Reachability {
        members: members.len(),
        alive: alive.len(),
        acks,
        missing,
    })
}

//! `members`: the member list, filtered by whole-value regexes.

use crate::agent::Agent;
use crate::rpc::ops::{OpError, compile_anchored};
use crate::rpc::request::{MemberFilter, Reply};

/// Every known member matching `filter`, sorted by name.
///
/// # Errors
/// A bad regex, or the node has stopped.
pub async fn members(agent: &Agent, filter: &MemberFilter) -> Result<Reply, OpError> {
    let status = filter
        .status
        .as_deref()
        .map(|s| compile_anchored("status", s))
        .transpose()?;
    let name = filter
        .name
        .as_deref()
        .map(|s| compile_anchored("name", s))
        .transpose()?;
    let tags: Vec<(&String, regex::Regex)> = filter
        .tags
        .iter()
        .map(|(k, v)| Ok((k, compile_anchored("tag", v)?)))
        .collect::<Result<_, OpError>>()?;
    let mut members = agent.node.members().await?;
    members.sort_by(|a, b| a.name.cmp(&b.name));
    members.retain(|m| {
        status.as_ref().is_none_or(|r| r.is_match(m.state.as_str()))
            && name.as_ref().is_none_or(|r| r.is_match(m.name.as_str()))
            && tags
                .iter()
                .all(|(k, r)| m.tags.get(k).is_some_and(|v| r.is_match(v)))
    });
    Ok(Reply::Members(members))
}

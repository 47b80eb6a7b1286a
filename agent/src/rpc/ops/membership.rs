//! `join`, `leave`, `force-leave`.

use crate::agent::{Agent, Exit, resolve};
use crate::rpc::ops::OpError;
use crate::rpc::request::Reply;

/// Joins through `addrs` (port 7946 when omitted); replies with how many answered.
///
/// # Errors
/// No address, one that does not resolve, or no seed answered.
pub async fn join(agent: &Agent, addrs: &[String], replay: bool) -> Result<Reply, OpError> {
    if addrs.is_empty() {
        return Err(OpError::NoJoinAddress);
    }
    let seeds = resolve(addrs).await?;
    let node = &agent.node;
    let num = if replay {
        node.join_replay(&seeds).await
    } else {
        node.join(&seeds).await
    }
    .map_err(|source| OpError::Join {
        addrs: addrs.join(", "),
        source,
    })?;
    Ok(Reply::Joined { num })
}

/// Leaves gracefully, then makes the agent shut down.
///
/// # Errors
/// The node has stopped.
pub async fn leave(agent: &Agent) -> Result<Reply, OpError> {
    agent.node.leave().await?;
    let _ = agent.exit.try_send(Exit::Leave);
    Ok(Reply::Done)
}

/// Marks a failed member as left (and forgets it with `prune`).
///
/// # Errors
/// An unknown member, or the core refused.
pub async fn force_leave(agent: &Agent, name: &str, prune: bool) -> Result<Reply, OpError> {
    agent
        .node
        .force_leave(name, prune)
        .await
        .map_err(|source| OpError::ForceLeave {
            name: name.to_owned(),
            source,
        })?;
    Ok(Reply::Done)
}

//! `tags`: change this agent's tags, announce them and rewrite the tags file.

use crate::agent::Agent;
use crate::rpc::ops::OpError;
use crate::rpc::request::Reply;
use crate::tags::{self, TagMap};

/// Sets `set`, deletes `delete`, announces the result and rewrites the tags file.
/// Changes are serialised, so two concurrent updates never lose one another's keys.
///
/// # Errors
/// An empty key or tags the core refuses (nothing changed); [`OpError::TagsFile`] when
/// the tags were announced but the file could not be written.
pub async fn update(agent: &Agent, set: TagMap, delete: &[String]) -> Result<Reply, OpError> {
    let _guard = agent.tags_update.lock().await;
    let mut tags = agent
        .ctx
        .tags
        .lock()
        .map(|t| t.clone())
        .map_err(|_| OpError::TagsUnavailable)?;
    for k in delete {
        tags.remove(k);
    }
    for (k, v) in set {
        if k.is_empty() {
            return Err(OpError::EmptyTagKey);
        }
        tags.insert(k, v);
    }
    agent
        .node
        .set_tags(tags::to_core(&tags))
        .await
        .map_err(OpError::SetTags)?;
    if let Some(path) = &agent.settings.tags_file {
        tags::write_file(path, &tags).map_err(OpError::TagsFile)?;
    }
    if let Ok(mut t) = agent.ctx.tags.lock() {
        *t = tags.clone();
    }
    Ok(Reply::Tags(tags))
}

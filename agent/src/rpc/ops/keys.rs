//! The cluster-wide key commands (Serf's `install-key`, `use-key`, `remove-key`,
//! `list-keys`) and this agent's plaintext switches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_lite::StreamExt;
use hearsay_driver::QueryReply;
use hearsay_tokio::protocol::{KeyOp, KeyResponse, MemberState, SecretKey};
use serde::Serialize;

use crate::agent::Agent;
use crate::keyring;
use crate::rpc::ops::OpError;
use crate::rpc::request::Reply;

/// What a key command gathered from the members.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyReport {
    /// Members asked: the alive ones, or more if more answered.
    pub num_nodes: usize,
    /// Members that answered.
    pub num_resp: usize,
    /// Members that reported a failure (this agent included when its keyring file could
    /// not be written).
    pub num_err: usize,
    /// Member → failure.
    pub messages: BTreeMap<String, String>,
    /// Alive members that did not answer in time.
    pub missing: Vec<String>,
    /// For `list`: each key (base64) and how many members hold it.
    pub keys: BTreeMap<String, usize>,
}

/// Runs a key operation on every member and gathers the answers.
///
/// # Errors
/// A bad key, encryption off on this agent, or the query could not be sent.
pub async fn key_command(
    agent: &Agent,
    op: KeyOp,
    key: Option<&str>,
    timeout: Option<Duration>,
) -> Result<Reply, OpError> {
    let node = &agent.node;
    let key: Option<SecretKey> = key.map(|k| keyring::parse_key("key", k)).transpose()?;
    if !matches!(node.keyring().await, Ok(Some(_))) {
        return Err(OpError::NotEncrypted);
    }
    let members = node.members().await?;
    let alive: BTreeSet<String> = members
        .iter()
        .filter(|m| m.state == MemberState::Alive)
        .map(|m| m.name.to_string())
        .collect();
    let mut replies = node
        .key_query(op, key, timeout)
        .await
        .map_err(OpError::KeyQuery)?;
    let mut responded = BTreeSet::new();
    let mut report = KeyReport::default();
    while let Some(r) = replies.next().await {
        if let QueryReply::Response { from, payload } = r {
            let from = from.to_string();
            if responded.insert(from.clone()) {
                match KeyResponse::decode(&payload) {
                    Ok(answer) => {
                        if !answer.ok {
                            report.messages.insert(from, answer.error);
                        }
                        for k in &answer.keys {
                            let encoded = keyring::encode_key(&SecretKey::new(*k));
                            *report.keys.entry(encoded.to_string()).or_default() += 1;
                        }
                    }
                    Err(_) => {
                        report.messages.insert(from, "unreadable answer".to_owned());
                    }
                }
            }
        }
        if alive.iter().all(|n| responded.contains(n)) {
            break;
        }
    }
    // This node answered its own query, so its keyring has changed too: persist it now.
    if let Err(e) = agent.security.persist(node).await {
        tracing::error!("{e}");
        report
            .messages
            .insert(String::from("(this agent)"), e.to_string());
    }
    report.missing = alive
        .iter()
        .filter(|n| !responded.contains(*n))
        .cloned()
        .collect();
    report.num_nodes = alive.len().max(responded.len());
    report.num_resp = responded.len();
    report.num_err = report.messages.len();
    Ok(Reply::Keys(report))
}

/// Changes this agent's plaintext switches (`None`: unchanged).
///
/// # Errors
/// The node has stopped.
pub async fn set_plaintext(
    agent: &Agent,
    accept: Option<bool>,
    send: Option<bool>,
) -> Result<Reply, OpError> {
    let state = agent
        .security
        .set_plaintext(&agent.node, accept, send)
        .await
        .map_err(OpError::Plaintext)?;
    Ok(Reply::Plaintext(state))
}

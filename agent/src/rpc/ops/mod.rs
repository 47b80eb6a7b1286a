//! The RPC operations: one function per command group, acting on the [`Agent`] and
//! returning typed results. They know nothing of connections or wire formats; streaming
//! operations push their items into a [`Sink`].
//!
//! | module | requests |
//! | --- | --- |
//! | [`members`] | `members` |
//! | [`membership`] | `join`, `leave`, `force-leave` |
//! | [`messaging`] | `event`, `query`, `reachability` |
//! | [`streams`] | `monitor`, `stream` |
//! | [`tags`] | `tags` |
//! | [`info`] | `info` |
//! | [`keys`] | `install-key`, `use-key`, `remove-key`, `list-keys`, `set-plaintext` |

mod info;
mod keys;
mod members;
mod membership;
mod messaging;
mod streams;
mod tags;

pub use info::InfoReport;
pub use keys::KeyReport;

use crate::agent::{Agent, ResolveError, join_hint};
use crate::config::ConfigError;
use crate::handlers::HandlerSpecError;
use crate::keyring::KeyError;
use crate::rpc::request::{Reply, Request};
use crate::rpc::server::Sink;

/// Why an operation failed. Unless a variant says otherwise, nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// `handshake` or `stop` reached the operations; the connection layer handles them.
    #[error("unexpected request")]
    Unexpected,
    /// A filter that is not a valid regular expression.
    #[error("invalid {what} filter '{pattern}': {source}")]
    Filter {
        /// `status`, `name` or `tag`.
        what: &'static str,
        /// The pattern.
        pattern: String,
        /// The regex error.
        source: Box<regex::Error>,
    },
    /// `join` without addresses.
    #[error("join needs at least one address")]
    NoJoinAddress,
    /// A join address that does not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// No seed answered the join.
    #[error("error joining {addrs}: {source}{}", join_hint(.source))]
    Join {
        /// The addresses, comma-separated.
        addrs: String,
        /// The driver's reason.
        source: hearsay_driver::Error,
    },
    /// The core refused the force-leave.
    #[error("error force-leaving '{name}': {source}")]
    ForceLeave {
        /// The member.
        name: String,
        /// The driver's reason.
        source: hearsay_driver::Error,
    },
    /// The core refused the user event (too large, after a leave).
    #[error("error sending event '{name}': {source}")]
    Event {
        /// Its name.
        name: String,
        /// The driver's reason.
        source: hearsay_driver::Error,
    },
    /// The core refused the query.
    #[error("error sending query '{name}': {source}")]
    Query {
        /// Its name.
        name: String,
        /// The driver's reason.
        source: hearsay_driver::Error,
    },
    /// A tag with an empty key.
    #[error("invalid tag: empty key")]
    EmptyTagKey,
    /// The core refused the tags.
    #[error("error setting tags: {0}")]
    SetTags(hearsay_driver::Error),
    /// The tags changed but the tags file was not rewritten: they are lost on restart.
    #[error("tags set, but tags_file not written: {0}")]
    TagsFile(std::io::Error),
    /// The tag state is poisoned.
    #[error("tags unavailable")]
    TagsUnavailable,
    /// A bad `log_level`.
    #[error(transparent)]
    Level(#[from] ConfigError),
    /// A bad `stream` filter.
    #[error(transparent)]
    StreamTypes(#[from] HandlerSpecError),
    /// A bad key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A key command on an agent without encryption.
    #[error("encryption is not enabled on this agent (start it with -encrypt or -keyring-file)")]
    NotEncrypted,
    /// The key query could not be sent.
    #[error("error running the key query: {0}")]
    KeyQuery(hearsay_driver::Error),
    /// The plaintext switches could not be changed.
    #[error("error setting the plaintext switches: {0}")]
    Plaintext(hearsay_driver::Error),
    /// The node has stopped.
    #[error(transparent)]
    Node(#[from] hearsay_driver::Error),
}

/// Runs one request on the agent. Streaming requests send their items to `sink` and
/// return when done (or are aborted by the connection layer).
///
/// # Errors
/// [`OpError`], per operation.
pub async fn execute(agent: &Agent, request: Request, sink: &Sink) -> Result<Reply, OpError> {
    match request {
        Request::Handshake { .. } | Request::Stop { .. } => Err(OpError::Unexpected),
        Request::Members(filter) => members::members(agent, &filter).await,
        Request::Join { addrs, replay } => membership::join(agent, &addrs, replay).await,
        Request::Leave => membership::leave(agent).await,
        Request::ForceLeave { node, prune } => membership::force_leave(agent, &node, prune).await,
        Request::Event {
            name,
            payload,
            coalesce,
        } => messaging::event(agent, &name, &payload, coalesce).await,
        Request::Query(q) => messaging::query(agent, q, sink).await,
        Request::Reachability { timeout } => messaging::reachability(agent, timeout, sink).await,
        Request::Monitor { log_level } => streams::monitor(agent, log_level.as_deref(), sink).await,
        Request::Stream { types } => streams::stream(agent, types.as_deref(), sink).await,
        Request::Tags { set, delete } => tags::update(agent, set, &delete).await,
        Request::Info => info::info(agent).await,
        Request::Key { op, key, timeout } => {
            keys::key_command(agent, op, key.as_deref(), timeout).await
        }
        Request::SetPlaintext { accept, send } => keys::set_plaintext(agent, accept, send).await,
    }
}

/// A regex; errors name the filter.
fn compile(what: &'static str, pattern: &str) -> Result<regex::Regex, OpError> {
    regex::Regex::new(pattern).map_err(|source| OpError::Filter {
        what,
        pattern: pattern.to_owned(),
        source: Box::new(source),
    })
}

/// A regex that must match the whole value (Serf's member filters).
fn compile_anchored(what: &'static str, pattern: &str) -> Result<regex::Regex, OpError> {
    compile(what, pattern)?;
    compile(what, &format!("^(?:{pattern})$"))
}

//! `hearsay agent`: the long-running process.
//!
//! ```text
//!              ┌───────────── Hearsay handle (hearsay-tokio: pump task owns the Node)
//!              │
//!  event loop ◀┤ subscribe ── member events ─▶ MemberCoalescer ─┐
//!   (one task) │            ── user events ──▶ UserEventCoalescer ┼─▶ handler Runner
//!              │            ── queries ─────────────────────────┘      (never waits)
//!              │            ── everything ─▶ snapshot, `stream` RPC clients
//!  RPC server ─┘ one task per connection, one per request (crate::rpc)
//!  main task: SIGINT / SIGTERM / SIGHUP, `leave` RPC ─▶ graceful leave or halt
//! ```
//!
//! [`startup`] turns the configuration into a running node (tags file, snapshot, keyring,
//! driver, RPC listener, banner, joins) and then waits for a reason to stop;
//! [`event_loop`] feeds the node's events to the handlers, the snapshot and `stream`
//! clients. [`Agent`] is what they and the RPC operations share.

mod event_loop;
mod startup;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hearsay_tokio::Hearsay;
use hearsay_tokio::protocol::Event;
use tokio::sync::{broadcast, mpsc};

pub use startup::run;

use crate::cli::AgentArgs;
use crate::config::{self, ConfigError, Settings};
use crate::handlers::RunnerContext;
use crate::keyring::KeyError;
use crate::logging::LogTap;
use crate::security::Security;
use crate::snapshot::{Record, Snapshot};
use crate::tags::TagsFileError;

/// Everything the event loop, the RPC operations and the main task share.
pub struct Agent {
    /// The running node.
    pub node: Hearsay,
    /// The configuration it started with.
    pub settings: Settings,
    /// The command line, for SIGHUP reloads.
    pub args: AgentArgs,
    /// What handler runs see (tags, handler list).
    pub ctx: Arc<RunnerContext>,
    /// Log lines for `monitor`.
    pub logs: LogTap,
    /// Cluster events for `stream`.
    pub events: broadcast::Sender<Arc<Event>>,
    /// The `-snapshot` file.
    pub snapshot: Option<Mutex<Snapshot>>,
    /// Asks the main task to stop.
    pub exit: mpsc::Sender<Exit>,
    /// Serialises tag changes.
    pub tags_update: tokio::sync::Mutex<()>,
    /// Where the RPC server listens.
    pub rpc_addr: SocketAddr,
    /// Encryption state.
    pub security: Arc<Security>,
}

impl Agent {
    /// Runs `f` on the snapshot, if there is one; write errors are logged, never fatal.
    pub fn with_snapshot(&self, f: impl FnOnce(&mut Snapshot) -> std::io::Result<()>) {
        let Some(snap) = &self.snapshot else {
            return;
        };
        let Ok(mut s) = snap.lock() else {
            return;
        };
        if let Err(e) = f(&mut s) {
            tracing::warn!("cannot write the snapshot: {e}");
        }
    }

    /// Appends a record to the snapshot, if there is one.
    pub fn snapshot_append(&self, r: Record) {
        self.with_snapshot(|s| s.append(r));
    }

    /// Records the node's Lamport clocks in the snapshot, if there is one.
    pub async fn record_clocks(&self) {
        if self.snapshot.is_none() {
            return;
        }
        let Ok(stats) = self.node.stats().await else {
            return;
        };
        let clocks = [stats.member_time.0, stats.event_time.0, stats.query_time.0];
        self.snapshot_append(Record::Clocks(clocks));
    }
}

/// Why the agent stops.
#[derive(Debug)]
pub enum Exit {
    /// Leave gracefully, then stop.
    Leave,
    /// Stop without leaving.
    Halt,
    /// Give up with an error.
    Fatal(AgentError),
}

/// Why the agent could not start, or gave up.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A bad setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The async runtime did not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// A bad or unwritable tags file.
    #[error(transparent)]
    TagsFile(#[from] TagsFileError),
    /// `-tag` given while a tags file exists.
    #[error(
        "tags given with -tag while tags_file {} exists; use `hearsay tags` or edit the file \
         instead",
        .0.display()
    )]
    TagsConflict(PathBuf),
    /// The snapshot cannot be opened.
    #[error("cannot open snapshot {}: {source}", .path.display())]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A bad keyring file or key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The driver refused the node name.
    #[error("invalid node_name: {0}")]
    NodeName(hearsay_driver::Error),
    /// The node could not start (usually: the bind address is taken).
    #[error("cannot start the node on {bind}: {source}")]
    Start {
        /// The bind address.
        bind: SocketAddr,
        /// Why.
        source: hearsay_driver::Error,
    },
    /// The RPC address is taken or not local.
    #[error("cannot listen for RPC on {addr}: {source}")]
    RpcListen {
        /// The RPC address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The node stopped before the agent subscribed to it.
    #[error("cannot subscribe to events: {0}")]
    Subscribe(hearsay_driver::Error),
    /// A `-join` address does not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// No `-join` seed answered.
    #[error("failed to join {seeds}: {source}{}", join_hint(.source))]
    Join {
        /// The seeds, comma-separated.
        seeds: String,
        /// Why.
        source: hearsay_driver::Error,
    },
    /// `-retry-max` attempts failed.
    #[error("could not join {seeds} after {attempts} attempts")]
    RetryJoin {
        /// The seeds, comma-separated.
        seeds: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Signal handlers could not be installed.
    #[error("cannot watch signals: {0}")]
    Signals(std::io::Error),
}

/// A join address that does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The lookup failed.
    #[error("cannot resolve '{addr}': {source}")]
    Lookup {
        /// The address as given.
        addr: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The name has no address.
    #[error("cannot resolve '{addr}'")]
    NoAddress {
        /// The address as given.
        addr: String,
    },
}

/// `host:port` with Serf's default port added when there is none.
fn with_default_port(a: &str) -> String {
    if a.parse::<SocketAddr>().is_ok() {
        return a.to_owned();
    }
    if let Ok(ip) = a.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return SocketAddr::new(ip, config::DEFAULT_PORT).to_string();
    }
    match a.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => a.to_owned(),
        _ => format!("{a}:{}", config::DEFAULT_PORT),
    }
}

/// Resolves join addresses (port 7946 when omitted), the first address of each.
///
/// # Errors
/// [`ResolveError`] for the first one that does not resolve.
pub async fn resolve(addrs: &[String]) -> Result<Vec<SocketAddr>, ResolveError> {
    let mut out = Vec::new();
    for a in addrs {
        let target = with_default_port(a.trim());
        let found = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|source| ResolveError::Lookup {
                addr: a.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| ResolveError::NoAddress { addr: a.clone() })?;
        out.push(found);
    }
    Ok(out)
}

/// Why a join may have found nobody, when it did.
pub fn join_hint(e: &hearsay_driver::Error) -> &'static str {
    if matches!(e, hearsay_driver::Error::JoinFailed) {
        " (if the cluster encrypts gossip or has a label, check that -encrypt / -keyring-file \
         and -label match the cluster's)"
    } else {
        ""
    }
}

//! `info`: figures about the agent, the cluster, the network and the failure detector.

use serde::Serialize;

use hearsay_tokio::protocol::MemberState;

use crate::agent::Agent;
use crate::rpc::ops::OpError;
use crate::rpc::request::Reply;
use crate::security::EncryptionInfo;
use crate::tags::{self, TagMap};

/// Everything `info` reports, by section.
#[derive(Debug, Clone, Serialize)]
pub struct InfoReport {
    /// This agent.
    pub agent: AgentSection,
    /// The process.
    pub runtime: RuntimeSection,
    /// Membership and clocks.
    pub serf: SerfSection,
    /// Keys, label, plaintext switches and drops.
    pub encryption: EncryptionInfo,
    /// Traffic.
    pub network: NetworkSection,
    /// Probes and suspicions.
    pub failure_detector: FailureDetectorSection,
    /// Event delivery.
    pub events: EventsSection,
    /// This agent's tags.
    pub tags: TagMap,
}

/// `info`'s `agent` section.
#[derive(Debug, Clone, Serialize)]
pub struct AgentSection {
    /// Node name.
    pub name: String,
    /// Binary version.
    pub version: &'static str,
    /// RPC listen address.
    pub rpc_addr: String,
}

/// `info`'s `runtime` section.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeSection {
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
    /// Process id.
    pub pid: u32,
}

/// `info`'s `serf` section.
#[derive(Debug, Clone, Serialize)]
pub struct SerfSection {
    /// Known members.
    pub members: usize,
    /// Alive ones.
    pub alive: usize,
    /// Suspect ones.
    pub suspect: usize,
    /// Failed ones.
    pub failed: usize,
    /// Left ones.
    pub left: usize,
    /// Lifeguard local health score.
    pub health_score: u32,
    /// Member Lamport clock.
    pub member_time: u64,
    /// Event Lamport clock.
    pub event_time: u64,
    /// Query Lamport clock.
    pub query_time: u64,
    /// Broadcasts waiting to be gossiped.
    pub pending_broadcasts: usize,
    /// This node's incarnation.
    pub incarnation: u32,
    /// Whether gossip is encrypted.
    pub encrypted: bool,
}

/// `info`'s `network` section.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkSection {
    /// Gossip bind address.
    pub bind: String,
    /// Advertised address.
    pub advertise: String,
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Datagram bytes received.
    pub bytes_in: u64,
    /// Datagram bytes sent.
    pub bytes_out: u64,
    /// Stream frames received.
    pub stream_frames_in: u64,
    /// Stream frames sent.
    pub stream_frames_out: u64,
    /// Input that failed to decode.
    pub decode_errors: u64,
}

/// `info`'s `failure_detector` section.
#[derive(Debug, Clone, Serialize)]
pub struct FailureDetectorSection {
    /// Probes sent.
    pub probes: u64,
    /// Probes that failed.
    pub probe_failures: u64,
    /// Suspicions raised.
    pub suspicions: u64,
    /// Members declared failed.
    pub failures_declared: u64,
    /// Suspicions of this node refuted.
    pub refutations: u64,
}

/// `info`'s `events` section.
#[derive(Debug, Clone, Serialize)]
pub struct EventsSection {
    /// User events delivered.
    pub user_events_delivered: u64,
    /// Queries received.
    pub queries_received: u64,
    /// Events the core dropped.
    pub events_dropped: u64,
    /// Events the agent's subscription dropped.
    pub subscriber_events_dropped: u64,
}

/// Gathers the report.
///
/// # Errors
/// The node has stopped.
pub async fn info(agent: &Agent) -> Result<Reply, OpError> {
    let node = &agent.node;
    let stats = node.stats().await?;
    let members = node.members().await?;
    let count = |s: MemberState| members.iter().filter(|m| m.state == s).count();
    let local = node.local_member().await?;
    let keys = node
        .keyring()
        .await
        .ok()
        .flatten()
        .map_or(0, |k| k.keys().len());
    let n = &stats.node;
    Ok(Reply::Info(Box::new(InfoReport {
        agent: AgentSection {
            name: agent.settings.node_name.clone(),
            version: env!("CARGO_PKG_VERSION"),
            rpc_addr: agent.rpc_addr.to_string(),
        },
        runtime: RuntimeSection {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            pid: std::process::id(),
        },
        serf: SerfSection {
            members: members.len(),
            alive: count(MemberState::Alive),
            suspect: count(MemberState::Suspect),
            failed: count(MemberState::Failed),
            left: count(MemberState::Left),
            health_score: stats.health_score,
            member_time: stats.member_time.0,
            event_time: stats.event_time.0,
            query_time: stats.query_time.0,
            pending_broadcasts: stats.pending_broadcasts,
            incarnation: local.incarnation.0,
            encrypted: agent.security.encrypted(),
        },
        encryption: agent.security.info(n, keys),
        network: NetworkSection {
            bind: node.bound_addr().to_string(),
            advertise: node.advertise_addr().to_string(),
            packets_in: n.packets_in,
            packets_out: n.packets_out,
            bytes_in: n.bytes_in,
            bytes_out: n.bytes_out,
            stream_frames_in: n.stream_frames_in,
            stream_frames_out: n.stream_frames_out,
            decode_errors: n.decode_errors,
        },
        failure_detector: FailureDetectorSection {
            probes: n.probes,
            probe_failures: n.probe_failures,
            suspicions: n.suspicions,
            failures_declared: n.failures_declared,
            refutations: n.refutations,
        },
        events: EventsSection {
            user_events_delivered: n.user_events_delivered,
            queries_received: n.queries_received,
            events_dropped: n.events_dropped,
            subscriber_events_dropped: stats.driver.events_dropped,
        },
        tags: tags::from_core(&local.tags),
    })))
}

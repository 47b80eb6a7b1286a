//! # hearsay-protocol
//!
//! The sans-IO core of Hearsay: SWIM membership and failure detection with the Lifeguard
//! extensions, as a deterministic state machine. No sockets, clocks, threads, global RNG
//! or printing: packets and timer ticks go in, datagrams, stream frames, events and the
//! next deadline come out. The runtime adapters, the simulator and the agent all drive
//! this one [`Node`].
//!
//! ```text
//!        bytes from UDP ─▶ handle_datagram ─┐           ┌─▶ poll_transmit ─▶ UDP / TCP
//!  frames from TCP ──────▶ handle_stream ───┤   Node    ├─▶ poll_event ────▶ application
//!   timer fired ─────────▶ handle_timeout ──┤ (members, ├─▶ poll_timeout ──▶ one timer
//!   join/leave/set_tags ─▶ commands ────────┘  probes,  │
//!                                              gossip)  └─▶ members(), stats(), …
//! ```
//!
//! The call-order contract is on [`Node`]. Time is an [`Instant`] the caller passes in;
//! randomness comes from the `rand_core` RNG the node owns, so the same seed and inputs
//! give byte-identical outputs.
//!
//! Module map (find a rule by its protocol name): [`wire`] (format), `member` (table),
//! `probe` (SWIM probes, ping-req, nacks), `suspicion` (Lifeguard dynamic timeouts),
//! `awareness` (Lifeguard health), `broadcast` (transmit-limited queue), `gossip`,
//! `push_pull` (anti-entropy, join, reconnect), `state` (alive/suspect/dead/leave rules).
//!
//! ## Example
//!
//! ```
//! use hearsay_protocol::{Config, Identity, Instant, Node, NodeName};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//!
//! let id = Identity::new(NodeName::new("a").unwrap(), "127.0.0.1:7946".parse().unwrap());
//! let mut node = Node::new(Config::lan(), id, ChaCha8Rng::seed_from_u64(1), Instant::ZERO).unwrap();
//! node.join(Instant::ZERO, &["127.0.0.1:7947".parse().unwrap()]).unwrap();
//! let mut buf = Vec::new();
//! let t = node.poll_transmit(Instant::ZERO, &mut buf).unwrap();
//! assert_eq!(t.channel, hearsay_protocol::Channel::Stream); // join = push-pull over TCP
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod awareness;
mod broadcast;
mod coalesce;
mod config;
pub mod coordinate;
mod error;
mod event;
mod gossip;
mod intent;
mod lamport;
mod member;
mod news;
mod node;
mod probe;
mod push_pull;
mod query;
mod seal;
mod serf;
mod state;
mod stats;
mod suspicion;
mod time;
mod types;
mod user_event;
pub mod wire;

pub use broadcast::BroadcastClass;
pub use coalesce::{MemberCoalescer, UserEventCoalescer};
pub use config::Config;
pub use error::{CommandError, ConfigError, DecodeError, InboundError};
pub use event::Event;
pub use lamport::{LamportClock, LamportTime};
pub use member::{Member, MemberRef, MemberState};
pub use node::{Channel, Node, SEEDS_MAX, Transmit};
pub use push_pull::push_pull_scale;
pub use query::{
    CONFLICT_QUERY, KEY_QUERY_PREFIX, KeyOp, KeyResponse, QueryId, QueryParams, REACHABILITY_QUERY,
};
pub use seal::{KEY_BYTES, KEYS_MAX, Keyring, SEAL_OVERHEAD, SecretKey};
pub use stats::{KindCounters, Stats};
pub use suspicion::suspicion_timeout;
pub use time::Instant;
pub use types::{Identity, Incarnation, NODE_NAME_BYTES_MAX, NodeName, Tags};
pub use user_event::INTERNAL_PREFIX;

#[cfg(test)]
mod tests;

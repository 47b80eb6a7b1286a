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
//! ## Module map
//!
//! Find a rule by its protocol name. Each rule keeps its state private in its module,
//! behind a narrow API; [`Node`] composes the rules and routes inputs, outputs and each
//! rule's results to the others.
//!
//! | rule | module | state it owns |
//! | --- | --- | --- |
//! | wire format | `wire` | none (messages, envelope header) |
//! | envelope | `envelope`, AEAD in `seal` | label check, keyring, plaintext switches |
//! | membership table | `membership` | entries, own slot, live count, failed/left set |
//! | SWIM state rules | `membership::transitions` | none (alive/suspect/dead/left, refutation) |
//! | probing | `probe` | probe order and schedule, probe in flight, ping numbers, relays |
//! | suspicion | `suspicion` | open suspicions and their timers (Lifeguard timeouts) |
//! | local health | `awareness` | Lifeguard health score |
//! | dissemination | `dissemination` | news, class queues, fair fill, gossip schedule |
//! | push-pull | `push_pull` | anti-entropy schedule, answering peers |
//! | reconnect | `reconnect` | reconnect pings, join seeds and their re-announce |
//! | reap | `reap` | none (who is due, on the reconnect tick) |
//! | Lamport clocks | `lamport` | none (each Serf rule owns the clock it orders) |
//! | intents | `intent` | member clock, intents about unknown members |
//! | user events | `user_event` | event clock, de-duplication ring |
//! | queries | `query` | query clock, queries asked (timers) and owed |
//! | name conflicts | `conflict` | ping to a rival for our name, the vote |
//! | key rotation | `key_rotation` | none (key queries on the envelope's keyring) |
//! | outbound queue | `transmit` | messages waiting for `poll_transmit` |
//! | event queue | `event` | events waiting for `poll_event` |
//! | network coordinates | [`coordinate`] | Vivaldi model (Serf's), not yet fed by probes |
//! | Serf's wire dialect | [`wire::serf`] | none (memberlist + Serf codec, not yet a `Node` dialect) |
//! | the node | `node` | config, clock, RNG, local status; routing (`swim`, `serf`, commands) |
//!
//! Also: `member` (the member views of the API), `stats`, `config`, `error`, `time`,
//! `types`, `coalesce` (batching helpers for consumers), `random` (draws from the node's
//! RNG).
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
#[cfg(feature = "std")]
extern crate std;

mod awareness;
mod coalesce;
mod config;
mod conflict;
pub mod coordinate;
mod dissemination;
mod envelope;
mod error;
mod event;
mod intent;
mod key_rotation;
mod lamport;
mod member;
mod membership;
mod node;
mod probe;
mod push_pull;
mod query;
mod random;
mod reap;
mod reconnect;
mod seal;
mod stats;
mod suspicion;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod time;
mod transmit;
mod types;
mod user_event;
#[cfg(feature = "unstable-wire")]
pub mod wire;
#[cfg(not(feature = "unstable-wire"))]
#[allow(
    dead_code,
    reason = "parts of the codec only fuzzers, benchmarks and tools use (feature `unstable-wire`)"
)]
mod wire;

pub use coalesce::{MemberCoalescer, UserEventCoalescer};
pub use config::Config;
pub use conflict::CONFLICT_QUERY;
pub use dissemination::BroadcastClass;
pub use envelope::EncryptionStep;
pub use error::{CommandError, ConfigError, DecodeError, InboundError};
pub use event::{Event, EventKind};
pub use key_rotation::{KEY_QUERY_PREFIX, KeyOp, KeyResponse};
pub use lamport::{LamportClock, LamportTime};
pub use member::{Member, MemberRef, MemberState};
pub use node::Node;
pub use push_pull::push_pull_scale;
pub use query::{QueryId, QueryParams, REACHABILITY_QUERY};
/// The `rand_core` version the node's RNG must implement, re-exported so an application
/// cannot pick a mismatched one.
pub use rand_core;
pub use random::SeededRng;
pub use reconnect::SEEDS_MAX;
pub use seal::{KEY_BYTES, KEYS_MAX, Keyring, SEAL_OVERHEAD, SecretKey};
pub use stats::{KindCounters, Stats};
pub use suspicion::suspicion_timeout;
#[cfg(feature = "std")]
pub use time::Epoch;
pub use time::Instant;
pub use transmit::{Channel, Transmit};
pub use types::{Identity, Incarnation, NODE_NAME_BYTES_MAX, NodeName, Tags};
pub use user_event::INTERNAL_PREFIX;
pub use wire::MessageKind;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod tests;

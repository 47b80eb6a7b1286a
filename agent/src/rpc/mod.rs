//! The agent's RPC server (and the CLI's client), in three layers so that every wire
//! dialect shares one implementation of everything but the bytes:
//!
//! ```text
//!  TCP ─▶ server   connection layer: accept, connection slots, handshake and auth,
//!                  one task per request, streaming output, stop         (dialect-agnostic)
//!           │  Incoming { seq, Request }          ▲ Outgoing { seq, Reply | Item | error }
//!           ▼                                      │
//!         json     dialect: framing + codec, wire messages ⇄ typed Request / Outgoing
//!           │
//!           ▼
//!         ops      operations: one function per command group, acting on the agent,
//!                  returning typed results (never wire values)
//! ```
//!
//! [`request`] holds the typed middle ([`request::Request`], [`request::Reply`],
//! [`request::Item`]); [`client`] is
//! the CLI's side of the JSON-lines dialect.

pub mod client;
pub mod json;
pub mod ops;
pub mod request;
pub mod server;

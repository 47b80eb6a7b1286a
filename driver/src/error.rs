//! The driver's error type.

use std::io;

use hearsay_protocol::{CommandError, ConfigError};

/// Why a [`Hearsay`](crate::Hearsay) call or [`start`](crate::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The driver task is gone (shut down, halted, or its runtime stopped). Nothing was
    /// done. Every call on a handle whose driver stopped returns this instead of hanging.
    #[error("the Hearsay driver has stopped")]
    Stopped,
    /// The core refused the command (bad tags, no seeds, node has left, ...). Nothing
    /// changed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The configuration or identity is invalid. No node was started.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or wrapping a socket failed. No node was started.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// No advertise address could be derived: the bind address is unspecified (`0.0.0.0`,
    /// `::`) and no route to a public address was found. Set `NodeOptions::advertise`.
    #[error("cannot derive an advertise address from bind address {0}; set one explicitly")]
    NoAdvertiseAddr(std::net::SocketAddr),
    /// `join` reached none of its seeds within `join_timeout`. The seeds are still
    /// remembered and re-announced to by the node.
    #[error("no seed answered the join within the timeout")]
    JoinFailed,
}

//! # hearsay-smol
//!
//! Runs a Hearsay node on [smol](https://docs.rs/smol). All the logic is in
//! `hearsay-driver`; sockets and the timer are the `async-io` ones the driver shares with
//! `hearsay-async-std`, and tasks go to smol's global executor.
//!
//! ```no_run
//! # fn demo() -> Result<(), hearsay_smol::Error> {
//! use hearsay_smol::{Config, NodeOptions};
//!
//! smol::block_on(async {
//!     let node = hearsay_smol::start(Config::lan(), NodeOptions::new("web-1", "0.0.0.0:7946".parse().unwrap())?)?;
//!     node.join(&["10.0.0.2:7946".parse().unwrap()]).await?;
//!     println!("{} members", node.members().await?.len());
//!     node.shutdown().await
//! })
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

pub use hearsay_driver::protocol::{
    self, Config, Event, LamportTime, Member, MemberState, QueryId, QueryParams, Tags,
};
use hearsay_driver::{
    AsyncTcpListener, AsyncTimer, AsyncUdpSocket, BoxFuture, TcpConnection, async_io,
};
pub use hearsay_driver::{
    DriverConfig, Error, Hearsay, NodeOptions, QueryReply, QueryResponses, Stats, Subscription,
};

/// Starts a node: binds UDP and TCP on `options.bind` and spawns the driver on smol's
/// global executor. Callable from any thread, inside or outside `smol::block_on`.
///
/// # Errors
/// As [`hearsay_driver::start`].
pub fn start(config: Config, options: NodeOptions) -> Result<Hearsay, Error> {
    hearsay_driver::start(Arc::new(SmolRuntime), config, options)
}

/// [`hearsay_driver::Runtime`] for smol.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolRuntime;

impl hearsay_driver::Runtime for SmolRuntime {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        async_io::new_timer(deadline)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        async_io::wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Box<dyn AsyncTcpListener>> {
        async_io::wrap_tcp_listener(listener)
    }

    fn connect_tcp(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn TcpConnection>>> {
        async_io::connect_tcp(addr)
    }
}

//! # hearsay-async-std
//!
//! Runs a Hearsay node on [async-std](https://docs.rs/async-std).
//!
//! **async-std is discontinued upstream**; its authors point to
//! [smol](https://docs.rs/smol) as the successor, and so do we: new code should use
//! `hearsay-smol`. This adapter is kept minimal for programs that still run on async-std:
//! it shares the `async-io` sockets and timer with `hearsay-smol` (async-std is built on
//! the same reactor) and only spawns on async-std's executor.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearsay_async_std::Error> {
//! use hearsay_async_std::{Config, NodeOptions};
//!
//! let node = hearsay_async_std::start(Config::lan(), NodeOptions::new("web-1", "0.0.0.0:7946".parse().unwrap())?)?;
//! node.join(&["10.0.0.2:7946".parse().unwrap()]).await?;
//! node.shutdown().await
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

/// Starts a node: binds UDP and TCP on `options.bind` and spawns the driver on
/// async-std's executor.
///
/// # Errors
/// As [`hearsay_driver::start`].
pub fn start(config: Config, options: NodeOptions) -> Result<Hearsay, Error> {
    hearsay_driver::start(Arc::new(AsyncStdRuntime), config, options)
}

/// [`hearsay_driver::Runtime`] for async-std.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdRuntime;

impl hearsay_driver::Runtime for AsyncStdRuntime {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        async_io::new_timer(deadline)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        // Dropping the JoinHandle detaches the task.
        drop(async_std::task::spawn(future));
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

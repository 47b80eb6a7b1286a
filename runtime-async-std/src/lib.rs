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

use std::sync::Arc;

use hearsay_driver::BoxFuture;
use hearsay_driver::async_io::{AsyncIoRuntime, Spawner};
pub use hearsay_driver::protocol::{
    self, Config, Event, LamportTime, Member, MemberState, QueryId, QueryParams, Tags,
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
    hearsay_driver::start(Arc::new(AsyncStdRuntime::default()), config, options)
}

/// Spawns on async-std's executor.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdSpawner;

impl Spawner for AsyncStdSpawner {
    const NAME: &'static str = "async-std";

    fn spawn(future: BoxFuture<()>) {
        // Dropping the JoinHandle detaches the task.
        drop(async_std::task::spawn(future));
    }
}

/// [`hearsay_driver::Runtime`] for async-std: the driver's `async-io` sockets and timer.
pub type AsyncStdRuntime = AsyncIoRuntime<AsyncStdSpawner>;

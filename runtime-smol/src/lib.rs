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

use std::sync::Arc;

use hearsay_driver::BoxFuture;
use hearsay_driver::async_io::{AsyncIoRuntime, Spawner};
pub use hearsay_driver::protocol::{
    self, Config, Event, LamportTime, Member, MemberState, QueryId, QueryParams, Tags,
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
    hearsay_driver::start(Arc::new(SmolRuntime::default()), config, options)
}

/// Spawns on smol's global executor.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolSpawner;

impl Spawner for SmolSpawner {
    const NAME: &'static str = "smol";

    fn spawn(future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }
}

/// [`hearsay_driver::Runtime`] for smol: the driver's `async-io` sockets and timer.
pub type SmolRuntime = AsyncIoRuntime<SmolSpawner>;

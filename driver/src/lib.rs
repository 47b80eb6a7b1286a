//! # hearsay-driver
//!
//! Runs a [`hearsay_protocol::Node`] on real sockets under any async runtime. The logic
//! lives here once; the adapter crates (`hearsay-tokio`, `hearsay-smol`,
//! `hearsay-async-std`) only implement the object-safe [`Runtime`] trait (timer, spawn, UDP,
//! TCP) and call [`start`].
//!
//! ```text
//!  application ──▶ Hearsay (cloneable handle) ──commands──▶ ┌──────────────────────┐
//!              ◀── Subscription (bounded, per subscriber) ◀─│ pump task: owns Node │
//!                                                           │ one timer            │
//!  UDP socket ◀────────── datagrams ───────────────────────▶│                      │
//!  TCP listener ─▶ reader task per connection ─frames──────▶│                      │
//!  TCP send task per outbound frame ◀──────────────────────-└──────────────────────┘
//! ```
//!
//! - **One pump task** owns the node and follows its call-order contract: after every
//!   input or command it drains `poll_transmit` and `poll_event` and re-arms the single
//!   timer to `poll_timeout`. Inputs are taken in bounded batches; a full UDP send buffer
//!   or too many stream sends in flight pause output (backpressure) instead of queueing
//!   without bound.
//! - **The stream channel** is TCP with a `u32` big-endian length prefix per frame, capped
//!   at `Config::stream_bytes_max`, with connect and I/O timeouts (see [`stream`]).
//! - **Subscribers never block the protocol**: each has a bounded buffer; when it is full
//!   events for it are dropped and counted.
//! - **A dead driver gives [`Error::Stopped`]**, never a hang.
//!
//! Binding happens here, with `std::net`, so IPv4/IPv6, port 0 and the advertise address
//! are handled the same on every runtime.
//!
//! The `async-io` feature provides the socket and timer types that smol and async-std
//! share ([`async_io`]); the `testing` feature provides the adapter test bodies, written
//! once ([`testing`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "async-io")]
pub mod async_io;
mod command;
mod error;
mod handle;
mod options;
mod pump;
mod runtime;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hearsay_protocol::{Config, Epoch, Identity, Incarnation, Node};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

pub use error::Error;
pub use handle::{DriverStats, Hearsay, QueryReply, QueryResponses, Stats, Subscription};
pub use hearsay_protocol as protocol;
pub use options::{DriverConfig, NodeOptions};
pub use runtime::{
    AsyncTcpListener, AsyncTimer, AsyncUdpSocket, BoxFuture, Runtime, TcpConnection, TimedOut,
    sleep, sleep_until, timeout,
};

use crate::handle::Shared;
use crate::pump::Driver;
use crate::stream::{StreamLimits, accept_loop};

/// Tries at finding a port free for both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 16;

/// Binds the sockets, builds the node and spawns the pump on `runtime`.
///
/// UDP and TCP share one port. The node's RNG is seeded from the OS.
///
/// # Errors
/// [`Error::Io`] when binding fails, [`Error::NoAdvertiseAddr`] when no advertise address
/// can be derived, [`Error::Config`] for an invalid config or tags.
pub fn start(
    runtime: Arc<dyn Runtime>,
    config: Config,
    options: NodeOptions,
) -> Result<Hearsay, Error> {
    let (udp, tcp) = bind_pair(options.bind)?;
    let bound = udp.local_addr()?;
    let advertise = advertise_addr(options.advertise, bound)?;

    let mut identity = Identity::new(options.name.clone(), advertise);
    identity.tags = options.tags;
    identity.incarnation = options.incarnation.unwrap_or_else(wall_clock_incarnation);
    let clock = Epoch::new(runtime.now());
    let limits = StreamLimits {
        frame_bytes_max: config.stream_bytes_max,
        connect_timeout: options.driver.stream_connect_timeout,
        io_timeout: options.driver.stream_io_timeout,
        inbound_max: options.driver.inbound_streams_max,
    };
    let mut node = Node::new(
        config,
        identity,
        ChaCha8Rng::from_os_rng(),
        clock.to_core(runtime.now()),
    )?;
    node.set_keyring(options.keyring.clone());

    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let socket = runtime.wrap_udp_socket(udp)?;
    let listener = runtime.wrap_tcp_listener(tcp)?;

    let subscriber_capacity = options.driver.subscriber_capacity;
    let (driver, ports) = Driver::new(node, runtime.clone(), clock, options.driver, limits, socket);
    runtime.spawn(Box::pin(accept_loop(
        runtime.clone(),
        listener,
        ports.frames,
        ports.stop,
        limits,
        ports.counters,
    )));
    runtime.spawn(Box::pin(driver));

    Ok(Hearsay {
        inner: Arc::new(Shared {
            commands: ports.commands,
            name: options.name,
            advertise,
            bound,
            runtime,
            subscriber_capacity,
        }),
    })
}

/// Binds UDP and TCP on the same port. With port 0, retries until a port is free for both.
fn bind_pair(bind: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last_err = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(bind)?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(bind.ip(), port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if bind.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port")))
}

/// The address to announce: the explicit one (port 0 ⇒ the bound port), else the bound
/// address, else (unspecified bind IP) the local IP of the default route.
fn advertise_addr(explicit: Option<SocketAddr>, bound: SocketAddr) -> Result<SocketAddr, Error> {
    let mut addr = explicit.unwrap_or(bound);
    if addr.port() == 0 {
        addr.set_port(bound.port());
    }
    if addr.ip().is_unspecified() {
        let ip = default_route_ip(addr.ip()).ok_or(Error::NoAdvertiseAddr(addr))?;
        addr.set_ip(ip);
    }
    Ok(addr)
}

/// The source IP the OS would use to reach a public address. Connecting a UDP socket
/// sends nothing; it only asks the routing table.
fn default_route_ip(family: IpAddr) -> Option<IpAddr> {
    let (local, probe): (SocketAddr, SocketAddr) = match family {
        IpAddr::V4(_) => (
            (Ipv4Addr::UNSPECIFIED, 0).into(),
            (Ipv4Addr::new(192, 0, 2, 1), 9).into(),
        ),
        IpAddr::V6(_) => (
            (Ipv6Addr::UNSPECIFIED, 0).into(),
            (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into(),
        ),
    };
    let socket = UdpSocket::bind(local).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Seconds since the Unix epoch: a restarted node outranks its previous incarnation.
fn wall_clock_incarnation() -> Incarnation {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Incarnation(u32::try_from(secs).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn handles_cross_threads() {
        assert_send_sync::<Hearsay>();
        assert_send::<Subscription>();
        assert_send::<QueryResponses>();
        assert_send_sync::<Error>();
    }

    #[test]
    fn advertise_defaults_to_the_bound_address_and_port() {
        let bound: SocketAddr = "127.0.0.1:4000".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(advertise_addr(None, bound).ok(), Some(bound));
        let explicit: SocketAddr = "10.1.2.3:0".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            advertise_addr(Some(explicit), bound).ok(),
            "10.1.2.3:4000".parse().ok()
        );
    }

    #[test]
    fn udp_and_tcp_share_the_port_on_v4_and_v6() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(bind) = bind.parse::<SocketAddr>() else {
                unreachable!()
            };
            if bind.is_ipv6() && UdpSocket::bind(bind).is_err() {
                continue; // no IPv6 loopback on this machine
            }
            let (udp, tcp) = bind_pair(bind).expect("bind");
            assert_eq!(
                udp.local_addr().expect("udp addr").port(),
                tcp.local_addr().expect("tcp addr").port()
            );
        }
    }
}

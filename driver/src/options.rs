//! What to start: the node's name and addresses ([`NodeOptions`]) and the driver's own
//! limits and timeouts ([`DriverConfig`]).

use std::net::SocketAddr;
use std::time::Duration;

use hearsay_protocol::{Incarnation, NodeName, Tags};

use crate::Error;

/// Limits and timeouts of the driver (the protocol's own settings are in
/// [`hearsay_protocol::Config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverConfig {
    /// How long to wait for a TCP connection to a peer (default 3 s). A frame whose
    /// connection times out is dropped and counted; the protocol retries by itself.
    pub stream_connect_timeout: Duration,
    /// How long reading or writing one stream frame may take (default 5 s). Protects the
    /// node from peers that connect and stall.
    pub stream_io_timeout: Duration,
    /// How long [`Hearsay::join`](crate::Hearsay::join) waits for the seeds' push-pull
    /// replies (default 5 s).
    pub join_timeout: Duration,
    /// How long [`leave`](crate::Hearsay::leave) and [`shutdown`](crate::Hearsay::shutdown)
    /// keep gossiping the leave before they return (default 3 s). They return earlier once
    /// the broadcast queue is empty.
    pub leave_timeout: Duration,
    /// Events buffered per subscriber (default 1024). When a subscriber's buffer is full,
    /// new events for it are dropped and counted; the protocol never waits for it.
    pub subscriber_capacity: usize,
    /// Datagrams handled per pump wake-up before the pump yields (default 64).
    pub datagram_batch: usize,
    /// Commands queued from handles before callers wait (default 256).
    pub command_capacity: usize,
    /// Received stream frames queued for the pump before connection tasks wait (default 64).
    pub inbound_frame_capacity: usize,
    /// Outbound stream frames being sent at once (default 64). Beyond it the pump stops
    /// draining the node's transmit queue until one finishes (backpressure).
    pub stream_sends_max: usize,
    /// Inbound TCP connections served at once (default 128); more are closed at once and
    /// counted.
    pub inbound_streams_max: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            stream_connect_timeout: Duration::from_secs(3),
            stream_io_timeout: Duration::from_secs(5),
            join_timeout: Duration::from_secs(5),
            leave_timeout: Duration::from_secs(3),
            subscriber_capacity: 1024,
            datagram_batch: 64,
            command_capacity: 256,
            inbound_frame_capacity: 64,
            stream_sends_max: 64,
            inbound_streams_max: 128,
        }
    }
}

/// Who the node is and where it listens.
///
/// UDP and TCP are bound on the same port of `bind`. Port 0 picks a free port. The address
/// peers use (`advertise`) may differ from `bind` (NAT, containers, `0.0.0.0`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeOptions {
    /// Unique name in the cluster.
    pub name: NodeName,
    /// Local address to bind, IPv4 or IPv6.
    pub bind: SocketAddr,
    /// Address announced to peers. `None`: the bound address (with the OS-chosen port when
    /// binding port 0); when the bind IP is unspecified, the IP of the default route. A
    /// port of 0 here also means the bound port.
    pub advertise: Option<SocketAddr>,
    /// Initial tags.
    pub tags: Tags,
    /// Initial incarnation. `None` (default): seconds since the Unix epoch, so a node that
    /// restarts under the same name outranks its previous life at once.
    pub incarnation: Option<Incarnation>,
    /// Driver limits and timeouts.
    pub driver: DriverConfig,
    /// Encryption keys: with a keyring the node seals everything it sends (see
    /// `Config::send_plaintext` / `accept_plaintext` for turning it on in a live cluster).
    pub keyring: Option<hearsay_protocol::Keyring>,
}

impl NodeOptions {
    /// Options with a name and a bind address; everything else default.
    ///
    /// # Errors
    /// [`Error::Command`] when the name is not a valid node name.
    pub fn new(name: &str, bind: SocketAddr) -> Result<Self, Error> {
        Ok(Self {
            name: NodeName::new(name)?,
            bind,
            advertise: None,
            tags: Tags::new(),
            incarnation: None,
            driver: DriverConfig::default(),
            keyring: None,
        })
    }

    /// Sets the advertise address.
    #[must_use]
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// Sets the initial tags.
    #[must_use]
    pub fn tags(mut self, tags: Tags) -> Self {
        self.tags = tags;
        self
    }

    /// Sets the keyring (encryption on from the start).
    #[must_use]
    pub fn keyring(mut self, keyring: hearsay_protocol::Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Sets the driver limits.
    #[must_use]
    pub fn driver(mut self, driver: DriverConfig) -> Self {
        self.driver = driver;
        self
    }
}

//! What is fixed about a run before it starts: the node count, the master seed, the
//! protocol preset and the simulator's own knobs.

use core::time::Duration;

use hearsay_protocol::Config;

use crate::network::NetworkConfig;

/// A protocol configuration preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// [`Config::lan`].
    Lan,
    /// [`Config::wan`].
    Wan,
    /// [`Config::local`].
    Local,
}

impl Profile {
    /// The preset's protocol configuration.
    pub fn config(self) -> Config {
        match self {
            Profile::Lan => Config::lan(),
            Profile::Wan => Config::wan(),
            Profile::Local => Config::local(),
        }
    }

    /// Lowercase name (`lan`, `wan`, `local`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Lan => "lan",
            Profile::Wan => "wan",
            Profile::Local => "local",
        }
    }
}

impl core::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lan" => Ok(Profile::Lan),
            "wan" => Ok(Profile::Wan),
            "local" => Ok(Profile::Local),
            _ => Err(format!("unknown profile `{s}`; expected lan, wan or local")),
        }
    }
}

/// Everything fixed about a run before it starts.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of virtual nodes (node 0 is the join seed).
    pub nodes: u32,
    /// Master seed.
    pub seed: u64,
    /// Protocol preset.
    pub profile: Profile,
    /// Lifeguard on (default) or plain SWIM.
    pub lifeguard: bool,
    /// Every node seals its packets with one shared AES-256-GCM key (to measure what
    /// encryption costs).
    pub encrypt: bool,
    /// The network model.
    pub network: NetworkConfig,
    /// Nodes start at uniformly spread instants within this window, each joining node 0
    /// (the join storm). Node 0 starts at zero.
    pub join_window: Duration,
    /// How often views are sampled for convergence, plots and queue checks.
    pub sample_interval: Duration,
    /// Extra delay (uniform range) a stressed node adds to every input before handling it.
    pub stress_delay: (Duration, Duration),
    /// How long a leaving node is still driven before it stops.
    pub leave_linger: Duration,
    /// How long a node takes to answer a query it received (zero: at once). Every node
    /// answers with its own name.
    pub query_response_delay: Duration,
    /// Payload size of every user event and query the simulator sends.
    pub broadcast_payload_bytes: usize,
}

impl SimConfig {
    /// `nodes` nodes, LAN profile, Lifeguard, default network, a join window of 1 ms per
    /// node (at least 1 s).
    pub fn new(nodes: u32, seed: u64) -> Self {
        Self {
            nodes,
            seed,
            profile: Profile::Lan,
            lifeguard: true,
            encrypt: false,
            network: NetworkConfig::default(),
            join_window: Duration::from_millis(u64::from(nodes)).max(Duration::from_secs(1)),
            sample_interval: Duration::from_millis(100),
            stress_delay: (Duration::from_secs(1), Duration::from_secs(3)),
            leave_linger: Duration::from_secs(5),
            query_response_delay: Duration::ZERO,
            broadcast_payload_bytes: 16,
        }
    }

    /// The protocol configuration every node gets.
    pub fn protocol_config(&self) -> Config {
        let mut c = self.profile.config();
        c.lifeguard = self.lifeguard;
        c
    }
}

/// Why a world could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// Fewer than one or more than 16 777 216 nodes.
    NodeCount(u32),
    /// The protocol rejected the configuration.
    Config(String),
}

impl core::fmt::Display for SimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SimError::NodeCount(n) => write!(f, "invalid node count {n}; expected 1 to 16777216"),
            SimError::Config(e) => write!(f, "invalid protocol configuration: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

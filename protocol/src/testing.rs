//! A deterministic in-process cluster for testing code that uses Hearsay (feature
//! `testing`).
//!
//! [`Cluster`] wires a handful of [`Node`]s through an in-memory network on a virtual
//! clock: no sockets, no threads, no wall-clock time, and the same seed gives the same run
//! byte for byte. Time only moves when you run the cluster, and it jumps straight to the
//! next packet or timer, so a minute of cluster life takes milliseconds. The network has a
//! fixed latency (1 ms by default), optional random datagram loss, and partitions.
//!
//! Application logic plugs in as an event handler: [`Cluster::run_for_with`] hands every
//! event, as the node reports it, to your closure together with that node, so the closure
//! can answer queries, send events or change tags exactly as it would through a real
//! runtime.
//!
//! ```
//! use core::time::Duration;
//! use hearsay_protocol::testing::Cluster;
//! use hearsay_protocol::{Config, Event, MemberState, QueryParams};
//!
//! // Three nodes join through the first and converge.
//! let mut cluster = Cluster::new(3, Config::lan(), 7);
//! cluster.join_all();
//! cluster.run_for(Duration::from_secs(2));
//! assert!(cluster.converged());
//!
//! // The application under test: every node answers "whoami" with its name.
//! let answer_whoami = |_: usize, node: &mut hearsay_protocol::testing::TestNode, now, event: &Event| {
//!     if let Event::Query { id, name, .. } = event
//!         && name == "whoami"
//!     {
//!         let me = node.local().name().to_owned();
//!         node.respond(now, *id, me.as_bytes()).expect("answered in time");
//!     }
//! };
//! let now = cluster.now();
//! let id = cluster.node(0).query(now, &QueryParams::new("whoami")).unwrap();
//! cluster.run_for_with(Duration::from_secs(5), answer_whoami);
//! let mut answers: Vec<String> = cluster
//!     .events_of(0)
//!     .filter_map(|e| match e {
//!         Event::QueryResponse { id: i, payload, .. } if *i == id => {
//!             Some(String::from_utf8_lossy(payload).into_owned())
//!         }
//!         _ => None,
//!     })
//!     .collect();
//! answers.sort();
//! assert_eq!(answers, ["node-0", "node-1", "node-2"]);
//!
//! // Faults: a crash is detected; a partition heals.
//! cluster.crash(2);
//! cluster.run_for(Duration::from_secs(30));
//! assert!(cluster.all_see(2, MemberState::Failed));
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crate::config::Config;
use crate::event::Event;
use crate::member::MemberState;
use crate::node::Node;
use crate::random::SeededRng;
use crate::time::Instant;
use crate::transmit::Channel;
use crate::types::{Identity, Incarnation, NodeName};

/// The node type of the harness: a [`Node`] with a seeded RNG.
pub type TestNode = Node<SeededRng>;

/// The address of node `i` in a [`Cluster`]: `127.0.1.1:7946` for node 0, counting up.
pub fn addr(i: usize) -> SocketAddr {
    let b = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(257);
    let [_, x, y, z] = b.to_be_bytes();
    SocketAddr::from(([127, x, y, z], 7946))
}

/// The name of node `i` in a [`Cluster`]: `node-0`, `node-1`, ...
pub fn name(i: usize) -> String {
    format!("node-{i}")
}

/// Builds node `i` at `at`; its RNG seed is derived from `seed` and `i`.
///
/// # Panics
/// When `config` is invalid.
pub fn new_node(i: usize, at: SocketAddr, config: &Config, seed: u64, now: Instant) -> TestNode {
    let node_name = NodeName::new(&name(i)).unwrap_or_else(|_| unreachable!("valid name"));
    let id = Identity::new(node_name, at);
    Node::with_seed(config.clone(), id, seed ^ (i as u64 * 7919), now)
        .unwrap_or_else(|e| panic!("invalid config for node {i}: {e}"))
}

/// A packet on its way: destination, source index, channel, bytes.
type InFlight = (SocketAddr, usize, Channel, Vec<u8>);

/// What the `run_*_with` methods call for each event: the node's index, the node, the
/// current time and the event.
type Handler<'h> = dyn FnMut(usize, &mut TestNode, Instant, &Event) + 'h;

/// A deterministic cluster of [`TestNode`]s on a virtual clock; see the [module
/// docs](self).
///
/// Nodes are numbered from 0, named [`name(i)`](name) and reached at [`addr(i)`](addr).
/// A crashed node's slot stays (empty) so indices never shift.
#[derive(Debug)]
pub struct Cluster {
    pub(crate) config: Config,
    pub(crate) seed: u64,
    pub(crate) nodes: Vec<Option<TestNode>>,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) now: Instant,
    latency: Duration,
    /// (delivery time, sequence) → (destination address, source index, channel, bytes)
    inflight: BTreeMap<(Instant, u64), InFlight>,
    next_seq: u64,
    /// Pairs (from, to) whose traffic is dropped.
    pub(crate) blocked: BTreeSet<(usize, usize)>,
    /// Percentage of datagrams dropped (chosen by a hash of the packet's sequence number,
    /// so runs stay deterministic). Stream frames are reliable.
    pub(crate) loss_percent: u64,
    pub(crate) events: Vec<(usize, Event)>,
    /// Every transmit and event, for determinism checks.
    pub(crate) log: Vec<u8>,
}

impl Cluster {
    /// `n` nodes that know only themselves, all with `config`, at virtual time zero. `seed`
    /// seeds every node's RNG (and with it the whole run).
    ///
    /// # Panics
    /// When `config` is invalid.
    pub fn new(n: usize, config: Config, seed: u64) -> Self {
        let addrs: Vec<SocketAddr> = (0..n).map(addr).collect();
        let nodes = (0..n)
            .map(|i| Some(new_node(i, addrs[i], &config, seed, Instant::ZERO)))
            .collect();
        let mut c = Self {
            config,
            seed,
            nodes,
            addrs,
            now: Instant::ZERO,
            latency: Duration::from_millis(1),
            inflight: BTreeMap::new(),
            next_seq: 0,
            blocked: BTreeSet::new(),
            loss_percent: 0,
            events: Vec::new(),
            log: Vec::new(),
        };
        c.flush_all();
        c
    }

    /// Every node but the first joins through the first; runs until `secs` seconds.
    #[cfg(test)]
    pub(crate) fn joined(n: usize, config: Config, seed: u64, secs: u64) -> Self {
        let mut c = Self::new(n, config, seed);
        c.join_all();
        c.run_until(Instant::from_secs(secs));
        c
    }

    /// How many nodes the cluster has had (crashed ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The config new nodes get.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Node `i`, to issue commands to (drained by the next `run_*`).
    ///
    /// # Panics
    /// When node `i` does not exist or has crashed.
    pub fn node(&mut self, i: usize) -> &mut TestNode {
        self.nodes
            .get_mut(i)
            .and_then(Option::as_mut)
            .unwrap_or_else(|| panic!("node {i} does not exist or has crashed"))
    }

    /// Node `i`, unless it does not exist or has crashed.
    pub fn get(&self, i: usize) -> Option<&TestNode> {
        self.nodes.get(i).and_then(Option::as_ref)
    }

    /// Every node but the first joins through the first, now. Run the cluster to let the
    /// joins happen.
    pub fn join_all(&mut self) {
        let seed = self.addrs.first().copied();
        let now = self.now;
        for i in 1..self.nodes.len() {
            if let (Some(node), Some(seed)) = (self.nodes[i].as_mut(), seed) {
                let _ = node.join(now, &[seed]);
            }
        }
        self.flush_all();
    }

    /// Adds a node that knows only itself (with the cluster's config); returns its index.
    /// Join it with `cluster.node(i).join(now, &[addr(0)])`.
    pub fn add_node(&mut self) -> usize {
        let config = self.config.clone();
        self.add_node_with(config)
    }

    /// Adds a node with its own `config`; returns its index.
    ///
    /// # Panics
    /// When `config` is invalid.
    pub fn add_node_with(&mut self, config: Config) -> usize {
        let i = self.nodes.len();
        let at = addr(i);
        self.nodes
            .push(Some(new_node(i, at, &config, self.seed, self.now)));
        self.addrs.push(at);
        self.flush(i);
        i
    }

    /// Node `i` stops at once, without leaving (as `kill -9`): it neither sends nor
    /// receives any more.
    pub fn crash(&mut self, i: usize) {
        if let Some(slot) = self.nodes.get_mut(i) {
            *slot = None;
        }
    }

    /// Node `i` comes back with a fresh state (incarnation 0, new RNG seed `seed`) at its
    /// address and joins through the first other live node. Crashes it first if it is
    /// running.
    pub fn restart(&mut self, i: usize, seed: u64) {
        let Some(&at) = self.addrs.get(i) else {
            return;
        };
        let now = self.now;
        let mut node = new_node(i, at, &self.config, seed, now);
        let seed_addr = self
            .live()
            .into_iter()
            .find(|&o| o != i)
            .map(|o| self.addrs[o]);
        if let Some(s) = seed_addr {
            let _ = node.join(now, &[s]);
        }
        self.nodes[i] = Some(node);
        self.flush(i);
    }

    /// Drops all traffic between the nodes of `a` and those of `b`, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.blocked.insert((x, y));
                self.blocked.insert((y, x));
            }
        }
    }

    /// Drops traffic from `from` to `to` only (a one-way fault).
    pub fn block(&mut self, from: usize, to: usize) {
        self.blocked.insert((from, to));
    }

    /// Ends every partition and one-way block.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Drops `percent` % of datagrams at random (deterministically, by the seed of the
    /// run). Stream frames are never lost.
    pub fn set_loss_percent(&mut self, percent: u8) {
        self.loss_percent = u64::from(percent.min(100));
    }

    /// Sets the one-way latency of every packet (default 1 ms).
    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    /// Runs the cluster for `span` of virtual time.
    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now + span);
    }

    /// Runs the cluster until virtual time `end`.
    pub fn run_until(&mut self, end: Instant) {
        self.run(end, &mut |_, _, _, _| {});
    }

    /// Runs for `span`, handing every event to `handler` as it is reported, with the node
    /// that reported it: the place for the application logic under test.
    pub fn run_for_with(
        &mut self,
        span: Duration,
        mut handler: impl FnMut(usize, &mut TestNode, Instant, &Event),
    ) {
        self.run(self.now + span, &mut handler);
    }

    /// Runs until `end`, handing every event to `handler`; see
    /// [`run_for_with`](Self::run_for_with).
    pub fn run_until_with(
        &mut self,
        end: Instant,
        mut handler: impl FnMut(usize, &mut TestNode, Instant, &Event),
    ) {
        self.run(end, &mut handler);
    }

    /// Every event reported so far, with the index of the node that reported it, oldest
    /// first.
    pub fn events(&self) -> &[(usize, Event)] {
        &self.events
    }

    /// The events node `i` reported, oldest first.
    pub fn events_of(&self, i: usize) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(move |(o, _)| *o == i)
            .map(|(_, e)| e)
    }

    /// Forgets the events reported so far.
    pub fn clear_events(&mut self) {
        self.events.clear();
    }

    /// Every transmit and event so far, as bytes: two runs with the same seed and inputs
    /// give the same trace.
    pub fn trace(&self) -> &[u8] {
        &self.log
    }

    /// The live (not crashed) nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }

    /// How `observer` sees node `of`: its state and incarnation, or `None` when it does
    /// not know it (or `observer` has crashed).
    pub fn view(&self, observer: usize, of: usize) -> Option<(MemberState, Incarnation)> {
        let n = self.get(observer)?;
        n.member(&name(of)).map(|m| (m.state(), m.incarnation()))
    }

    /// Whether every other live node sees node `of` in `state`.
    pub fn all_see(&self, of: usize, state: MemberState) -> bool {
        self.live()
            .into_iter()
            .filter(|&o| o != of)
            .all(|o| self.view(o, of).map(|v| v.0) == Some(state))
    }

    /// Whether every live node sees every live node alive.
    pub fn converged(&self) -> bool {
        let live = self.live();
        live.iter().all(|&o| {
            live.iter()
                .all(|&m| self.view(o, m).map(|v| v.0) == Some(MemberState::Alive))
        })
    }

    fn index_of(&self, a: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|x| *x == a)
    }

    /// Drains node `i`: its transmits go on the network, its events to the log.
    pub(crate) fn flush(&mut self, i: usize) {
        self.flush_with(i, &mut |_, _, _, _| {});
    }

    fn flush_with(&mut self, i: usize, handler: &mut Handler<'_>) {
        let now = self.now;
        let mut buf = Vec::new();
        loop {
            let Some(node) = self.nodes.get_mut(i).and_then(Option::as_mut) else {
                return;
            };
            if let Some(t) = node.poll_transmit(now, &mut buf) {
                assert!(
                    t.channel == Channel::Stream || t.len <= node.config().packet_bytes_max,
                    "node {i}: datagram over budget"
                );
                self.log.extend_from_slice(&now.as_micros().to_le_bytes());
                self.log.extend_from_slice(&buf[..t.len]);
                self.next_seq += 1;
                self.inflight.insert(
                    (now + self.latency, self.next_seq),
                    (t.dst, i, t.channel, buf[..t.len].to_vec()),
                );
                continue;
            }
            let Some(e) = node.poll_event() else {
                return;
            };
            // The handler may queue output; the loop drains it.
            handler(i, node, now, &e);
            self.log.extend_from_slice(e.name().as_bytes());
            self.events.push((i, e));
        }
    }

    pub(crate) fn flush_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.flush(i);
        }
    }

    fn run(&mut self, end: Instant, handler: &mut Handler<'_>) {
        for i in 0..self.nodes.len() {
            self.flush_with(i, handler);
        }
        loop {
            let next_net = self.inflight.keys().next().map(|k| k.0);
            let next_timer = self.nodes.iter().flatten().map(Node::poll_timeout).min();
            let next = match (next_net, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(Instant::MAX),
            };
            if next > end {
                self.now = self.now.max(end);
                return;
            }
            self.now = next;
            if next_net == Some(next) {
                self.deliver(handler);
            } else {
                let now = self.now;
                for i in 0..self.nodes.len() {
                    let Some(node) = self.nodes[i].as_mut() else {
                        continue;
                    };
                    if node.poll_timeout() > now {
                        continue;
                    }
                    node.handle_timeout(now);
                    let next = node.poll_timeout();
                    assert!(next > now, "node {i}: deadline {next} not after {now}");
                    self.flush_with(i, handler);
                }
            }
        }
    }

    /// Delivers the next packet in flight (or drops it: loss, partition, nobody there).
    fn deliver(&mut self, handler: &mut Handler<'_>) {
        let Some(((_, seq), (dst, from, channel, bytes))) = self.inflight.pop_first() else {
            return;
        };
        let roll = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        if channel == Channel::Datagram && roll % 100 < self.loss_percent {
            return;
        }
        let Some(to) = self.index_of(dst) else {
            return;
        };
        if self.blocked.contains(&(from, to)) {
            return;
        }
        let src = self.addrs[from];
        let now = self.now;
        let Some(node) = self.nodes[to].as_mut() else {
            return;
        };
        let _ = match channel {
            Channel::Datagram => node.handle_datagram(now, src, &bytes),
            Channel::Stream => node.handle_stream(now, src, &bytes),
        };
        self.flush_with(to, handler);
    }
}

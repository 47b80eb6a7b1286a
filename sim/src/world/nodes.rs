//! The nodes: who each one is (name, address, seed), where it is in its life, and its
//! single timer.
//!
//! Node `i` is named `n{i}`, listens on `10.a.b.c:7946` (`abc` = `i` in base 256) and in
//! its `life`-th process draws from `ChaCha8Rng::seed_from_u64(node_seed(seed, i, life))`.
//! A restart keeps the name and address but starts a new life with fresh state.
//!
//! ```text
//!   NotStarted ──start──▶ Up ──leave──▶ Leaving ──leave_linger──▶ Stopped ──restart──▶ Up
//!                         Up ──crash──▶ Crashed ──restart──▶ Up
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hearsay_protocol::{Identity, Instant, Node, NodeName};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::{WatchKind, World};

/// The node type the simulator drives.
pub type SimNode = Node<ChaCha8Rng>;

/// The port every synthetic address uses.
pub const PORT: u16 = 7946;

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Not started yet (join storm still running).
    NotStarted,
    /// Running and a member.
    Up,
    /// Left; still driven for `leave_linger` so the news spreads.
    Leaving,
    /// Left and stopped.
    Stopped,
    /// Crashed: no input, no timers, state gone.
    Crashed,
}

/// SplitMix64 step: a well-mixed 64-bit function for deriving seeds.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The seed of node `node`'s `life`-th process under the master seed.
pub fn node_seed(master: u64, node: u32, life: u32) -> u64 {
    splitmix64(master ^ splitmix64((u64::from(node) << 24) ^ u64::from(life)))
}

/// The synthetic address of node `i`: `10.a.b.c:7946` with `abc` the index in base 256.
pub fn addr_of(i: u32) -> SocketAddr {
    let [_, a, b, c] = i.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), PORT)
}

/// The name of node `i`: `n{i}`.
pub fn name_of(i: u32) -> String {
    format!("n{i}")
}

/// The index behind a node name `n{i}`.
pub fn index_of_name(name: &str) -> Option<u32> {
    name.strip_prefix('n')?.parse().ok()
}

/// The index behind a synthetic address.
pub(super) fn index_of_addr(addr: SocketAddr) -> Option<u32> {
    match addr.ip() {
        IpAddr::V4(ip) if addr.port() == PORT => match ip.octets() {
            [10, a, b, c] => Some(u32::from_be_bytes([0, a, b, c])),
            _ => None,
        },
        _ => None,
    }
}

struct Slot {
    node: Option<SimNode>,
    status: NodeStatus,
    /// The deadline of the timer scheduled for the node (`Instant::MAX`: none).
    timer_at: Instant,
    /// Bumped whenever the timer is rescheduled or dropped; older timers are stale.
    timer_generation: u32,
    /// How many times it restarted.
    life: u32,
}

/// Every node's protocol state, status, life and timer, with the count of live ones.
pub(super) struct Nodes {
    slots: Vec<Slot>,
    up: u32,
    started: u32,
}

impl Nodes {
    /// `n` nodes, none started.
    pub(super) fn new(n: u32) -> Self {
        let slots = (0..n)
            .map(|_| Slot {
                node: None,
                status: NodeStatus::NotStarted,
                timer_at: Instant::MAX,
                timer_generation: 0,
                life: 0,
            })
            .collect();
        Self {
            slots,
            up: 0,
            started: 0,
        }
    }

    /// Number of nodes (in any status).
    pub(super) fn len(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Number of nodes up.
    pub(super) fn up(&self) -> u32 {
        self.up
    }

    /// Whether every node has started once (the join storm is over).
    pub(super) fn all_started(&self) -> bool {
        self.started == self.len()
    }

    /// Node `i`'s status.
    pub(super) fn status(&self, i: u32) -> NodeStatus {
        self.slots[i as usize].status
    }

    /// Whether node `i` is up.
    pub(super) fn is_up(&self, i: u32) -> bool {
        self.status(i) == NodeStatus::Up
    }

    /// Whether node `i` is driven: it gets input and timers (up, or leaving).
    pub(super) fn is_driven(&self, i: u32) -> bool {
        matches!(self.status(i), NodeStatus::Up | NodeStatus::Leaving)
    }

    /// Node `i`'s life (0 until its first restart).
    pub(super) fn life(&self, i: u32) -> u32 {
        self.slots[i as usize].life
    }

    /// Node `i`'s protocol state, while it runs (`None` for an index out of range).
    pub(super) fn node(&self, i: u32) -> Option<&SimNode> {
        self.slots.get(i as usize)?.node.as_ref()
    }

    /// Node `i`'s protocol state, while it runs.
    pub(super) fn node_mut(&mut self, i: u32) -> Option<&mut SimNode> {
        self.slots.get_mut(i as usize)?.node.as_mut()
    }

    /// Every running node's index and protocol state, in index order.
    pub(super) fn running(&self) -> impl Iterator<Item = (u32, &SimNode)> {
        (0..)
            .zip(&self.slots)
            .filter_map(|(i, s)| Some((i, s.node.as_ref()?)))
    }

    /// The indexes of the nodes up, in order.
    pub(super) fn up_nodes(&self) -> impl Iterator<Item = u32> {
        (0..)
            .zip(&self.slots)
            .filter(|(_, s)| s.status == NodeStatus::Up)
            .map(|(i, _)| i)
    }

    /// Node `i` is about to start: `None` if it cannot (it runs already), else whether it
    /// is a restart (which begins a new life).
    fn begin_life(&mut self, i: u32) -> Option<bool> {
        let slot = &mut self.slots[i as usize];
        if !matches!(
            slot.status,
            NodeStatus::NotStarted | NodeStatus::Crashed | NodeStatus::Stopped
        ) {
            return None;
        }
        let restart = slot.status != NodeStatus::NotStarted;
        if restart {
            slot.life += 1;
        }
        Some(restart)
    }

    /// Node `i` runs `node` from now on.
    fn bring_up(&mut self, i: u32, node: SimNode, restart: bool) {
        let slot = &mut self.slots[i as usize];
        slot.node = Some(node);
        slot.status = NodeStatus::Up;
        self.up += 1;
        if !restart {
            self.started += 1;
        }
    }

    /// Node `i` goes to `status` (leaving or crashed); a crash drops its state and timer.
    fn take_down(&mut self, i: u32, status: NodeStatus) {
        let s = &mut self.slots[i as usize];
        if s.status == NodeStatus::Up {
            self.up -= 1;
        }
        s.status = status;
        if status == NodeStatus::Crashed {
            s.node = None;
            s.timer_generation += 1;
            s.timer_at = Instant::MAX;
        }
    }

    /// Node `i` stops if it is still leaving in its `life`-th process; returns whether it
    /// stopped.
    pub(super) fn stop(&mut self, i: u32, life: u32) -> bool {
        let s = &mut self.slots[i as usize];
        if s.life != life || s.status != NodeStatus::Leaving {
            return false;
        }
        s.status = NodeStatus::Stopped;
        s.node = None;
        s.timer_generation += 1;
        s.timer_at = Instant::MAX;
        true
    }

    /// Node `i`'s timer of `generation` fires: whether it is current (the node is driven
    /// and the timer was not rescheduled since). A current timer is used up.
    pub(super) fn timer_fires(&mut self, i: u32, generation: u32) -> bool {
        let s = &mut self.slots[i as usize];
        if s.timer_generation != generation
            || !matches!(s.status, NodeStatus::Up | NodeStatus::Leaving)
        {
            return false;
        }
        s.timer_at = Instant::MAX;
        true
    }

    /// Node `i` wants its timer at `deadline` (`Instant::MAX`: none). Returns the
    /// generation of a timer to schedule when the deadline changed (older ones go stale).
    pub(super) fn set_timer(&mut self, i: u32, deadline: Instant) -> Option<u32> {
        let slot = &mut self.slots[i as usize];
        if deadline == slot.timer_at {
            return None;
        }
        slot.timer_at = deadline;
        slot.timer_generation = slot.timer_generation.wrapping_add(1);
        (deadline != Instant::MAX).then_some(slot.timer_generation)
    }
}

impl World {
    /// Starts node `i` (first start or restart); a restarted node joins a random live
    /// node, the others join node 0.
    pub(super) fn start(&mut self, i: u32) {
        let now = self.now();
        let Some(restart) = self.nodes.begin_life(i) else {
            return;
        };
        let life = self.nodes.life(i);
        let rng = ChaCha8Rng::seed_from_u64(node_seed(self.config.seed, i, life));
        let Ok(name) = NodeName::new(&name_of(i)) else {
            return;
        };
        let id = Identity::new(name, addr_of(i));
        let Ok(mut node) = Node::new(self.proto.clone(), id, rng, now) else {
            return;
        };
        if self.config.encrypt {
            let key = hearsay_protocol::SecretKey::new([0x5e; hearsay_protocol::KEY_BYTES]);
            node.set_keyring(Some(hearsay_protocol::Keyring::new(key)));
        }
        self.nodes.bring_up(i, node, restart);
        self.faults.node_started(i);
        self.invariants.node_started(i);
        self.detection.node_started(i);
        if !restart && self.nodes.all_started() {
            self.log(now, format!("all {} nodes started", self.len()));
        }
        let seed = if restart {
            self.random_node(|w, j| j != i && w.nodes.is_up(j))
        } else if i == 0 {
            None
        } else {
            Some(0)
        };
        if let (Some(seed), Some(node)) = (seed, self.nodes.node_mut(i)) {
            let _ = node.join(now, &[addr_of(seed)]);
        }
        if restart {
            self.log(
                now,
                format!(
                    "n{i} restarts under the same name and joins via {:?}",
                    seed.map(name_of)
                ),
            );
            self.watches.start(WatchKind::AliveEverywhere, i, now);
        }
        self.after_input(i, false);
    }

    /// Node `i` goes down (leaving or crashed): it no longer sees anyone, is no longer
    /// stressed and no longer has any broadcast.
    pub(super) fn take_down(&mut self, i: u32, status: NodeStatus) {
        self.nodes.take_down(i, status);
        self.faults.node_down(i);
        let now = self.now();
        self.views
            .clear_row(i, |t| self.detection.unseen(t, now, &mut self.timeline));
        self.broadcasts.forget(i);
    }

    /// Number of nodes (in any status).
    pub fn len(&self) -> u32 {
        self.nodes.len()
    }

    /// Whether the world has no nodes (never: at least one is required).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Node `i`'s protocol state, while it runs.
    pub fn node(&self, i: u32) -> Option<&SimNode> {
        self.nodes.node(i)
    }

    /// Node `i`'s status.
    pub fn status(&self, i: u32) -> Option<NodeStatus> {
        (i < self.len()).then(|| self.nodes.status(i))
    }

    /// Number of nodes up (running and not left).
    pub fn up_count(&self) -> u32 {
        self.nodes.up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_map_back_to_their_index() {
        for i in [0, 1, 255, 256, 65_535, 70_000, (1 << 24) - 1] {
            assert_eq!(index_of_addr(addr_of(i)), Some(i));
            assert_eq!(index_of_name(&name_of(i)), Some(i));
        }
        assert_eq!(index_of_name("m1"), None);
        let other_port = SocketAddr::new(addr_of(1).ip(), PORT + 1);
        assert_eq!(index_of_addr(other_port), None);
    }

    #[test]
    fn each_life_gets_its_own_seed() {
        assert_ne!(node_seed(1, 7, 0), node_seed(1, 7, 1));
        assert_ne!(node_seed(1, 7, 0), node_seed(1, 8, 0));
        assert_ne!(node_seed(1, 7, 0), node_seed(2, 7, 0));
    }

    #[test]
    fn a_rescheduled_timer_makes_the_older_one_stale() {
        let mut nodes = Nodes::new(1);
        nodes.slots[0].status = NodeStatus::Up;
        let first = nodes.set_timer(0, Instant::from_secs(1));
        assert!(
            nodes.set_timer(0, Instant::from_secs(1)).is_none(),
            "same deadline"
        );
        let second = nodes.set_timer(0, Instant::from_secs(2));
        let (Some(first), Some(second)) = (first, second) else {
            panic!("both deadlines should schedule a timer");
        };
        assert!(!nodes.timer_fires(0, first));
        assert!(nodes.timer_fires(0, second));
        assert!(
            nodes.set_timer(0, Instant::MAX).is_none(),
            "no deadline: no timer"
        );
    }

    #[test]
    fn a_crash_drops_the_timer_and_a_restart_begins_a_new_life() {
        let mut nodes = Nodes::new(2);
        assert_eq!(nodes.begin_life(1), Some(false));
        nodes.slots[1].status = NodeStatus::Up;
        nodes.up = 1;
        let Some(generation) = nodes.set_timer(1, Instant::from_secs(1)) else {
            panic!("a deadline should schedule a timer");
        };
        assert_eq!(nodes.begin_life(1), None, "a running node cannot start");
        nodes.take_down(1, NodeStatus::Crashed);
        assert_eq!((nodes.up(), nodes.status(1)), (0, NodeStatus::Crashed));
        assert!(!nodes.timer_fires(1, generation));
        assert_eq!(nodes.begin_life(1), Some(true));
        assert_eq!(nodes.life(1), 1);
    }

    #[test]
    fn a_leaving_node_stops_only_in_the_same_life() {
        let mut nodes = Nodes::new(1);
        nodes.slots[0].status = NodeStatus::Up;
        nodes.up = 1;
        nodes.take_down(0, NodeStatus::Leaving);
        assert!(nodes.is_driven(0) && !nodes.is_up(0));
        assert!(!nodes.stop(0, 1));
        assert!(nodes.stop(0, 0));
        assert_eq!(nodes.status(0), NodeStatus::Stopped);
        assert!(!nodes.stop(0, 0), "already stopped");
    }
}

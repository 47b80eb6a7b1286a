//! The simulated network: latency, loss, duplication, reordering, packet budget and cuts.
//!
//! Every transmit goes through [`Network::route`], which says how many copies arrive and
//! after which one-way delays. The model composes:
//!
//! - **latency**: uniform in `[latency_min, latency_max]` per copy; a range wider than
//!   the gap between two sends reorders them (jitter);
//! - **loss**: each datagram is dropped with probability `loss`;
//! - **duplication**: a delivered datagram arrives twice with probability `duplicate`
//!   (each copy with its own delay);
//! - **packet budget**: datagrams longer than `packet_budget` bytes are dropped (an MTU);
//! - **cuts**: [`Cut`]s drop traffic between ranges of nodes, both ways (a partition, an
//!   isolated node) or one way (an asymmetric partition). Streams are reliable (never lost
//!   or duplicated) but a cut drops them too: in real life the connection fails.
//!
//! Loss and cuts change in virtual time through the world's fault schedule.

use core::ops::Range;
use core::time::Duration;

use hearsay_protocol::Channel;
use rand_core::RngCore;

/// Static parameters of the network model.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Smallest one-way delay.
    pub latency_min: Duration,
    /// Largest one-way delay (uniform between min and max).
    pub latency_max: Duration,
    /// Probability that a datagram is lost, in `[0, 1]`.
    pub loss: f64,
    /// Probability that a delivered datagram is delivered twice, in `[0, 1]`.
    pub duplicate: f64,
    /// Datagrams longer than this are dropped; `None` for no limit.
    pub packet_budget: Option<usize>,
}

impl Default for NetworkConfig {
    /// A LAN: 0.5–2 ms one way, no loss, no duplication, no packet budget.
    fn default() -> Self {
        Self {
            latency_min: Duration::from_micros(500),
            latency_max: Duration::from_millis(2),
            loss: 0.0,
            duplicate: 0.0,
            packet_budget: None,
        }
    }
}

/// Traffic dropped from the nodes in `from` to the nodes in `to` (and back, when
/// `both_ways`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Sending side (node indexes).
    pub from: Range<u32>,
    /// Receiving side (node indexes).
    pub to: Range<u32>,
    /// Whether traffic from `to` to `from` is dropped too.
    pub both_ways: bool,
}

impl Cut {
    /// A symmetric partition of `n` nodes: the first `⌊fraction·n⌋` against the rest.
    pub fn split(n: u32, fraction: f64) -> Self {
        let k = ((f64::from(n) * fraction).floor() as u32).clamp(1, n.saturating_sub(1).max(1));
        Self {
            from: 0..k,
            to: k..n,
            both_ways: true,
        }
    }

    /// Node `node` cut off from all `n` nodes, both ways.
    pub fn isolate(node: u32, n: u32) -> Self {
        Self {
            from: node..node + 1,
            to: 0..n,
            both_ways: true,
        }
    }

    /// Whether this cut drops traffic from `src` to `dst`.
    pub fn blocks(&self, src: u32, dst: u32) -> bool {
        (self.from.contains(&src) && self.to.contains(&dst))
            || (self.both_ways && self.from.contains(&dst) && self.to.contains(&src))
    }
}

/// What happened to one transmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Dropped by a cut.
    Cut,
    /// Dropped by random loss.
    Lost,
    /// Dropped for exceeding the packet budget.
    TooLarge,
    /// Delivered once after the delay.
    Delivered(Duration),
    /// Delivered twice, after each delay.
    Duplicated(Duration, Duration),
}

/// The network: its configuration plus the cuts in force.
#[derive(Clone, Debug)]
pub struct Network {
    config: NetworkConfig,
    cuts: Vec<(u32, Cut)>,
    /// Datagrams and frames dropped by cuts.
    pub dropped_cut: u64,
    /// Datagrams lost at random.
    pub dropped_loss: u64,
    /// Datagrams over the budget.
    pub dropped_budget: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
}

impl Network {
    /// A network with no cuts.
    pub fn new(config: NetworkConfig) -> Self {
        Self {
            config,
            cuts: Vec::new(),
            dropped_cut: 0,
            dropped_loss: 0,
            dropped_budget: 0,
            duplicated: 0,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Changes the datagram loss probability (clamped to `[0, 1]`).
    pub fn set_loss(&mut self, loss: f64) {
        self.config.loss = loss.clamp(0.0, 1.0);
    }

    /// Puts a cut in force under `id` (replacing one with the same id).
    pub fn add_cut(&mut self, id: u32, cut: Cut) {
        self.remove_cut(id);
        self.cuts.push((id, cut));
    }

    /// Lifts the cut `id`; returns whether it was in force.
    pub fn remove_cut(&mut self, id: u32) -> bool {
        let before = self.cuts.len();
        self.cuts.retain(|(i, _)| *i != id);
        self.cuts.len() != before
    }

    /// Whether any cut is in force.
    pub fn has_cuts(&self) -> bool {
        !self.cuts.is_empty()
    }

    /// Whether a cut drops traffic from `src` to `dst`.
    pub fn blocked(&self, src: u32, dst: u32) -> bool {
        self.cuts.iter().any(|(_, c)| c.blocks(src, dst))
    }

    /// Whether `a` and `b` can reach each other both ways.
    pub fn reachable(&self, a: u32, b: u32) -> bool {
        !self.blocked(a, b) && !self.blocked(b, a)
    }

    /// Decides the fate of one transmit of `len` bytes from `src` to `dst`.
    pub fn route<R: RngCore>(
        &mut self,
        rng: &mut R,
        src: u32,
        dst: u32,
        channel: Channel,
        len: usize,
    ) -> Fate {
        if self.blocked(src, dst) {
            self.dropped_cut += 1;
            return Fate::Cut;
        }
        if channel == Channel::Stream {
            return Fate::Delivered(self.delay(rng));
        }
        if self.config.packet_budget.is_some_and(|b| len > b) {
            self.dropped_budget += 1;
            return Fate::TooLarge;
        }
        if self.config.loss > 0.0 && unit(rng) < self.config.loss {
            self.dropped_loss += 1;
            return Fate::Lost;
        }
        let first = self.delay(rng);
        if self.config.duplicate > 0.0 && unit(rng) < self.config.duplicate {
            self.duplicated += 1;
            return Fate::Duplicated(first, self.delay(rng));
        }
        Fate::Delivered(first)
    }

    fn delay<R: RngCore>(&self, rng: &mut R) -> Duration {
        let (lo, hi) = (self.config.latency_min, self.config.latency_max);
        let span = hi.saturating_sub(lo).as_micros() as u64;
        if span == 0 {
            return lo;
        }
        lo + Duration::from_micros(rng.next_u64() % (span + 1))
    }
}

/// A uniform draw in `[0, 1)` with 53 bits of precision (platform independent).
pub fn unit<R: RngCore>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn net(config: NetworkConfig) -> Network {
        Network::new(config)
    }

    #[test]
    fn latency_stays_within_the_configured_range() {
        let mut n = net(NetworkConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            ..NetworkConfig::default()
        });
        let mut r = rng();
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..10_000 {
            let Fate::Delivered(d) = n.route(&mut r, 0, 1, Channel::Datagram, 100) else {
                panic!("a lossless network delivers");
            };
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(5));
            seen_low |= d < Duration::from_millis(2);
            seen_high |= d > Duration::from_millis(4);
        }
        assert!(seen_low && seen_high, "delays spread over the range");
    }

    #[test]
    fn loss_drops_about_the_configured_fraction_of_datagrams_but_no_streams() {
        let mut n = net(NetworkConfig {
            loss: 0.1,
            ..NetworkConfig::default()
        });
        let mut r = rng();
        let lost = (0..100_000)
            .filter(|_| n.route(&mut r, 0, 1, Channel::Datagram, 100) == Fate::Lost)
            .count();
        assert!(
            (9_000..11_000).contains(&lost),
            "lost {lost} of 100000 at 10%"
        );
        for _ in 0..1_000 {
            assert!(matches!(
                n.route(&mut r, 0, 1, Channel::Stream, 100),
                Fate::Delivered(_)
            ));
        }
    }

    #[test]
    fn duplication_delivers_two_copies() {
        let mut n = net(NetworkConfig {
            duplicate: 1.0,
            ..NetworkConfig::default()
        });
        let fate = n.route(&mut rng(), 0, 1, Channel::Datagram, 100);
        assert!(matches!(fate, Fate::Duplicated(_, _)));
        assert_eq!(n.duplicated, 1);
    }

    #[test]
    fn datagrams_over_the_budget_are_dropped() {
        let mut n = net(NetworkConfig {
            packet_budget: Some(1400),
            ..NetworkConfig::default()
        });
        let mut r = rng();
        assert_eq!(
            n.route(&mut r, 0, 1, Channel::Datagram, 1401),
            Fate::TooLarge
        );
        assert!(matches!(
            n.route(&mut r, 0, 1, Channel::Datagram, 1400),
            Fate::Delivered(_)
        ));
        assert!(matches!(
            n.route(&mut r, 0, 1, Channel::Stream, 100_000),
            Fate::Delivered(_)
        ));
    }

    #[test]
    fn a_symmetric_split_cuts_both_ways_and_heals() {
        let mut n = net(NetworkConfig::default());
        let mut r = rng();
        n.add_cut(1, Cut::split(10, 0.5));
        assert_eq!(n.route(&mut r, 1, 7, Channel::Datagram, 10), Fate::Cut);
        assert_eq!(n.route(&mut r, 7, 1, Channel::Stream, 10), Fate::Cut);
        assert!(matches!(
            n.route(&mut r, 1, 2, Channel::Datagram, 10),
            Fate::Delivered(_)
        ));
        assert!(matches!(
            n.route(&mut r, 6, 9, Channel::Datagram, 10),
            Fate::Delivered(_)
        ));
        assert!(n.remove_cut(1));
        assert!(matches!(
            n.route(&mut r, 1, 7, Channel::Datagram, 10),
            Fate::Delivered(_)
        ));
    }

    #[test]
    fn an_asymmetric_cut_drops_one_direction_only() {
        let mut n = net(NetworkConfig::default());
        let mut r = rng();
        n.add_cut(
            3,
            Cut {
                from: 0..1,
                to: 1..2,
                both_ways: false,
            },
        );
        assert_eq!(n.route(&mut r, 0, 1, Channel::Datagram, 10), Fate::Cut);
        assert!(matches!(
            n.route(&mut r, 1, 0, Channel::Datagram, 10),
            Fate::Delivered(_)
        ));
        assert!(!n.reachable(0, 1));
    }

    #[test]
    fn an_isolated_node_reaches_nobody() {
        let mut n = net(NetworkConfig::default());
        n.add_cut(1, Cut::isolate(4, 10));
        assert!(
            (0..10)
                .filter(|&i| i != 4)
                .all(|i| n.blocked(4, i) && n.blocked(i, 4))
        );
        assert!(!n.blocked(3, 5));
    }

    #[test]
    fn split_keeps_both_sides_non_empty() {
        assert_eq!(Cut::split(10, 0.3).from, 0..3);
        assert_eq!(Cut::split(10, 0.01).from, 0..1);
        assert_eq!(Cut::split(10, 0.99).from, 0..9);
    }
}

//! The local node's coordinate and the state that moves it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use rand_core::RngCore;

use super::{
    Coordinate, CoordinateConfig, CoordinateConfigError, CoordinateError, LatencyFilter, RTT_MAX,
    ZERO_THRESHOLD,
};

/// Counters of what [`CoordinateClient`] refused or repaired. Monotonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoordinateStats {
    /// Updates accepted.
    pub updates: u64,
    /// Times the local coordinate became NaN, infinite or absurd and was reset to the
    /// origin (Serf's `Resets`).
    pub resets: u64,
    /// Peer coordinates or RTTs refused ([`CoordinateError`]).
    pub rejected: u64,
    /// RTT samples of exactly zero (coarse clocks); they are used, as in Serf.
    pub zero_rtt: u64,
    /// Samples from a new peer used unfiltered because `filter_nodes_max` filters were kept.
    pub filter_full: u64,
}

/// The local node's coordinate and the Vivaldi state behind it: per-peer latency filters
/// and the adjustment window. One per node; changed only through [`update`](Self::update),
/// [`set_coordinate`](Self::set_coordinate) and [`forget`](Self::forget).
#[derive(Clone, Debug)]
pub struct CoordinateClient {
    coord: Coordinate,
    origin: Coordinate,
    config: CoordinateConfig,
    adjustment_index: usize,
    adjustment_samples: Vec<f64>,
    filters: BTreeMap<Box<str>, LatencyFilter>,
    stats: CoordinateStats,
}

impl CoordinateClient {
    /// A client at the origin.
    ///
    /// # Errors
    /// [`CoordinateConfigError`] if `config` does not validate.
    pub fn new(config: CoordinateConfig) -> Result<Self, CoordinateConfigError> {
        config.validate()?;
        Ok(Self {
            coord: Coordinate::new(&config),
            origin: Coordinate::new(&config),
            config,
            adjustment_index: 0,
            adjustment_samples: vec![0.0; config.adjustment_window_size],
            filters: BTreeMap::new(),
            stats: CoordinateStats::default(),
        })
    }

    /// The current local coordinate (what acks carry).
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }

    /// The configuration.
    pub fn config(&self) -> &CoordinateConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> CoordinateStats {
        self.stats
    }

    /// Number of peers with a latency filter.
    pub fn filtered_peers(&self) -> usize {
        self.filters.len()
    }

    /// Replaces the local coordinate (e.g. restored from a snapshot).
    ///
    /// # Errors
    /// [`CoordinateError`] if `coord` fails [`Coordinate::validate`]; nothing changed.
    pub fn set_coordinate(&mut self, coord: Coordinate) -> Result<(), CoordinateError> {
        coord.validate()?;
        self.coord = coord;
        Ok(())
    }

    /// Drops the latency filter of `node` (call it when the member is reaped).
    pub fn forget(&mut self, node: &str) {
        self.filters.remove(node);
    }

    /// Estimated RTT from this node to the node whose coordinate is `other`
    /// ([`Coordinate::distance_to`] from the local coordinate).
    pub fn estimate_rtt(&self, other: &Coordinate) -> Duration {
        self.coord.distance_to(other)
    }

    /// Takes one observation: `node` answered a direct ping after `rtt` and its ack carried
    /// `other`. Runs the latency filter, the Vivaldi step, the adjustment and gravity, in
    /// Serf's order, and returns the new local coordinate. If the result is not finite or
    /// leaves [`COMPONENT_SECONDS_MAX`](super::COMPONENT_SECONDS_MAX), the coordinate is reset to the origin and
    /// [`CoordinateStats::resets`] counts it.
    ///
    /// # Errors
    /// [`CoordinateError`] if `other` fails [`Coordinate::validate`] or `rtt` is above
    /// [`RTT_MAX`]; nothing changed except [`CoordinateStats::rejected`].
    pub fn update<R: RngCore + ?Sized>(
        &mut self,
        node: &str,
        other: &Coordinate,
        rtt: Duration,
        rng: &mut R,
    ) -> Result<&Coordinate, CoordinateError> {
        if let Err(e) = other.validate() {
            self.stats.rejected += 1;
            return Err(e);
        }
        if rtt > RTT_MAX {
            self.stats.rejected += 1;
            return Err(CoordinateError::RttOutOfRange);
        }
        if rtt.is_zero() {
            self.stats.zero_rtt += 1;
        }
        let rtt_secs = self.latency_filter(node, rtt.as_secs_f64());
        self.update_vivaldi(other, rtt_secs, rng);
        self.update_adjustment(other, rtt_secs);
        self.update_gravity(rng);
        self.stats.updates += 1;
        if self.coord.validate().is_err() {
            self.stats.resets += 1;
            self.coord = Coordinate::new(&self.config);
        }
        Ok(&self.coord)
    }

    /// Overwrites the coordinate without checks, to prove the reset path.
    #[cfg(test)]
    pub(crate) fn poison(&mut self, coord: Coordinate) {
        self.coord = coord;
    }

    /// Adds a sample to `node`'s filter and returns the filtered RTT.
    pub(crate) fn latency_filter(&mut self, node: &str, rtt_secs: f64) -> f64 {
        let size = self.config.latency_filter_size;
        if let Some(filter) = self.filters.get_mut(node) {
            return filter.push(rtt_secs, size);
        }
        if self.filters.len() >= self.config.filter_nodes_max {
            self.stats.filter_full += 1;
            return rtt_secs;
        }
        let mut filter = LatencyFilter::new();
        let out = filter.push(rtt_secs, size);
        self.filters.insert(node.into(), filter);
        out
    }

    fn update_vivaldi<R: RngCore + ?Sized>(&mut self, other: &Coordinate, rtt: f64, rng: &mut R) {
        let dist = self.coord.distance_to(other).as_secs_f64();
        let rtt = if rtt < ZERO_THRESHOLD {
            ZERO_THRESHOLD
        } else {
            rtt
        };
        let wrongness = libm::fabs(dist - rtt) / rtt;

        let mut total_error = self.coord.error + other.error;
        if total_error < ZERO_THRESHOLD {
            total_error = ZERO_THRESHOLD;
        }
        let weight = self.coord.error / total_error;

        let ce = self.config.vivaldi_ce;
        self.coord.error = ce * weight * wrongness + self.coord.error * (1.0 - ce * weight);
        if self.coord.error > self.config.vivaldi_error_max {
            self.coord.error = self.config.vivaldi_error_max;
        }

        let delta = self.config.vivaldi_cc * weight;
        let force = delta * (rtt - dist);
        self.coord = self.coord.apply_force(&self.config, force, other, rng);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        let window = self.config.adjustment_window_size;
        if window == 0 {
            return;
        }
        // The raw distance: the adjustments themselves must not feed back into the sample.
        let dist = self.coord.raw_distance_secs(other);
        self.adjustment_samples[self.adjustment_index] = rtt - dist;
        self.adjustment_index = (self.adjustment_index + 1) % window;
        let mut sum = 0.0;
        for s in &self.adjustment_samples {
            sum += s;
        }
        self.coord.adjustment = sum / (2.0 * window as f64);
    }

    fn update_gravity<R: RngCore + ?Sized>(&mut self, rng: &mut R) {
        let dist = self.origin.distance_to(&self.coord).as_secs_f64();
        let ratio = dist / self.config.gravity_rho;
        let force = -(ratio * ratio);
        self.coord = self
            .coord
            .apply_force(&self.config, force, &self.origin, rng);
    }
}

//! Network coordinates: Serf's Vivaldi model, reproduced rule for rule.
//!
//! Every node keeps a point in an 8-dimensional Euclidean space plus a *height* (the
//! latency of its access link, added to every distance) and an *adjustment* (a per-node
//! offset learned from recent errors). The estimated round-trip time between two nodes is
//! the distance between their coordinates:
//!
//! ```text
//! rtt(a, b) ≈ ‖a.vec − b.vec‖ + a.height + b.height (+ a.adjustment + b.adjustment, if > 0)
//! ```
//!
//! All values are seconds. A node learns its coordinate from its own probes: each ack of a
//! direct ping carries the peer's coordinate (Serf's ack payload), and the measured RTT
//! pulls or pushes the local point like a spring ([`CoordinateClient::update`]):
//!
//! ```text
//!   ping ───────────────▶ peer
//!   ◀── ack {coordinate} ─┘   rtt = ack received − ping sent
//!   update(peer, their coordinate, rtt):
//!     1. latency filter: median of the peer's last `latency_filter_size` RTTs (rides out blips)
//!     2. Vivaldi: error-weighted spring force along the line between the two points;
//!        the height moves with the force too (never below `height_min`)
//!     3. adjustment: mean of the last `adjustment_window_size` (rtt − raw distance), halved
//!     4. gravity: a pull toward the origin growing with (distance / gravity_rho)², so the
//!        whole cluster does not drift away
//!     5. a coordinate that became NaN/infinite (or absurd) is reset to the origin; counted
//! ```
//!
//! # Model and defaults
//!
//! [`CoordinateConfig::default`] holds Serf's values: [`DIMENSIONALITY`] 8, error max 1.5,
//! `CE` = `CC` = 0.25, adjustment window 20, height min 10 µs, latency filter of 3 samples,
//! gravity rho 150. The update arithmetic follows Serf's order of operations, with `libm`
//! for the square root, so results are bit-identical on every platform and match Serf's to
//! the last bit for the same inputs (random directions aside, see below).
//!
//! # Where Hearsay differs, and why
//!
//! - The dimensionality is fixed at 8 (Serf's only value in practice): a coordinate is a
//!   plain array with no allocation, and a coordinate of any other size from the wire is
//!   rejected ([`CoordinateError::Dimensionality`]).
//! - Randomness (the direction chosen when two points coincide) comes from the caller's
//!   `rand_core` RNG, so the same seed gives the same coordinates.
//! - Coordinates from the wire are checked more strictly than Serf does: besides NaN and
//!   infinities, negative error or height and components beyond
//!   [`COMPONENT_SECONDS_MAX`] are rejected. Serf never sends such values; accepting them
//!   would let one bad peer drag every coordinate to infinity. The local coordinate is also
//!   reset if it ever leaves that range.
//! - The per-peer latency filters are bounded ([`CoordinateConfig::filter_nodes_max`]).
//!
//! # Limits of the model
//!
//! Vivaldi embeds RTTs in a metric space, so it cannot represent triangle-inequality
//! violations (detours, asymmetric routes); heights soak up access-link latency and the
//! adjustment term absorbs part of the rest. Estimates are only as fresh as the probes: a
//! member is probed about once per `probe_interval × N`, so a large cluster converges in
//! minutes, not seconds. A coordinate says nothing about bandwidth or loss, and an RTT over
//! 10 s is refused as a measurement error, as in Serf.
//!
//! # Plugging it into the node (issue #14)
//!
//! Nothing in [`Node`](crate::Node) uses this module yet. The integration, step by step:
//!
//! 1. The node owns one [`CoordinateClient`] (a field of its probe state, built from a
//!    `CoordinateConfig` in `Config`, off by default in the native dialect) and passes its
//!    own RNG to [`CoordinateClient::update`].
//! 2. Every ack the node sends carries its current coordinate: in the Serf dialect as the
//!    ack payload ([`encode_ack_payload`](crate::wire::serf::encode_ack_payload)); in the
//!    native dialect as a new optional field of the ack message (append-only tag).
//! 3. When an ack answers a **direct** ping (not a ping-req relay, whose RTT includes the
//!    relay; not a stream-channel ping), the prober computes `rtt = now − ping sent` from
//!    the `Instant`s it already keeps, decodes the peer's coordinate and calls
//!    `update(peer, &theirs, rtt, rng)`. A rejected coordinate is counted in the node's
//!    stats and otherwise ignored; the probe itself still succeeds.
//! 4. The node caches the peer's coordinate for `members()` / a `coordinate(name)` getter
//!    (see *Memory* below) and calls [`CoordinateClient::forget`] when the member is
//!    reaped.
//! 5. The simulator gives each link a latency, so its reports can show the estimation
//!    error; the agent exposes `get-coordinate` over RPC and `hearsay rtt` as Serf does.
//!
//! # Memory
//!
//! A [`Coordinate`] is 88 bytes (8 + 3 `f64`). A member table that caches every peer's
//! coordinate pays that per member: at 10 000 members that is 880 kB, more than half the
//! simulator's whole per-member budget. Recommended: keep coordinates in a side table
//! (`Option<Box<Coordinate>>` or a map keyed by member slot) filled only for members that
//! actually sent one — in the native dialect nothing is stored unless coordinates are
//! enabled — and call [`CoordinateClient::forget`] when a member is reaped. The latency
//! filter adds one [`LatencyFilter`] (48 bytes, plus the name key) per recently probed peer.

mod client;
mod filter;

pub use client::{CoordinateClient, CoordinateStats};
pub use filter::{LATENCY_FILTER_SAMPLES_MAX, LatencyFilter};

use core::time::Duration;

use rand_core::RngCore;

/// Number of Euclidean dimensions of every coordinate (Serf's value).
pub const DIMENSIONALITY: usize = 8;

/// Largest magnitude, in seconds, any component of a sane coordinate has. RTTs above 10 s
/// are refused, so a coordinate this far out can only come from a bug or a hostile peer.
pub const COMPONENT_SECONDS_MAX: f64 = 1.0e4;

/// Longest round-trip time [`CoordinateClient::update`] accepts (Serf's limit).
pub const RTT_MAX: Duration = Duration::from_secs(10);

/// Two points closer than this (seconds) are treated as the same point.
const ZERO_THRESHOLD: f64 = 1.0e-6;

/// Tuning of the Vivaldi model. [`Default`] gives Serf's values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoordinateConfig {
    /// Error of a fresh coordinate, and the ceiling of the error. Default 1.5.
    pub vivaldi_error_max: f64,
    /// How much one observation can move the error estimate (Vivaldi's `ce`). Default 0.25.
    pub vivaldi_ce: f64,
    /// How much one observation can move the coordinate (Vivaldi's `cc`). Default 0.25.
    pub vivaldi_cc: f64,
    /// Samples kept for the adjustment term; 0 turns the adjustment off. Default 20; at
    /// most [`ADJUSTMENT_WINDOW_MAX`].
    pub adjustment_window_size: usize,
    /// Smallest height, in seconds. Must be ≥ 0 and small next to real RTTs. Default 10 µs.
    pub height_min: f64,
    /// RTT samples kept per peer; the median of them feeds Vivaldi. Default 3; 1 turns the
    /// filter off; at most [`LATENCY_FILTER_SAMPLES_MAX`].
    pub latency_filter_size: usize,
    /// Strength of the pull toward the origin: larger is weaker. Default 150.
    pub gravity_rho: f64,
    /// Peers whose latency filter is kept at once. A sample from a new peer while the
    /// table is full is used unfiltered and counted in
    /// [`CoordinateStats::filter_full`]. Default 16 384.
    pub filter_nodes_max: usize,
}

/// Largest [`CoordinateConfig::adjustment_window_size`].
pub const ADJUSTMENT_WINDOW_MAX: usize = 1024;

impl Default for CoordinateConfig {
    fn default() -> Self {
        Self {
            vivaldi_error_max: 1.5,
            vivaldi_ce: 0.25,
            vivaldi_cc: 0.25,
            adjustment_window_size: 20,
            height_min: 10.0e-6,
            latency_filter_size: 3,
            gravity_rho: 150.0,
            filter_nodes_max: 16_384,
        }
    }
}

impl CoordinateConfig {
    /// Checks every field; [`CoordinateClient::new`] calls it.
    ///
    /// # Errors
    /// [`CoordinateConfigError`] naming the first bad field.
    pub fn validate(&self) -> Result<(), CoordinateConfigError> {
        let bad = |field, reason| Err(CoordinateConfigError { field, reason });
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.vivaldi_error_max) {
            return bad("vivaldi_error_max", "must be finite and > 0");
        }
        if !(self.vivaldi_ce.is_finite() && (0.0..=1.0).contains(&self.vivaldi_ce)) {
            return bad("vivaldi_ce", "must be in 0..=1");
        }
        if !(self.vivaldi_cc.is_finite() && (0.0..=1.0).contains(&self.vivaldi_cc)) {
            return bad("vivaldi_cc", "must be in 0..=1");
        }
        if self.adjustment_window_size > ADJUSTMENT_WINDOW_MAX {
            return bad("adjustment_window_size", "must be at most 1024");
        }
        if !(self.height_min.is_finite() && self.height_min >= 0.0 && self.height_min < 1.0) {
            return bad("height_min", "must be in 0..1 s");
        }
        if !(1..=LATENCY_FILTER_SAMPLES_MAX).contains(&self.latency_filter_size) {
            return bad("latency_filter_size", "must be in 1..=5");
        }
        if !positive(self.gravity_rho) {
            return bad("gravity_rho", "must be finite and > 0");
        }
        if self.filter_nodes_max == 0 {
            return bad("filter_nodes_max", "must be at least 1");
        }
        Ok(())
    }
}

/// A [`CoordinateConfig`] field out of range. No client was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid coordinate config field `{field}`: {reason}")]
pub struct CoordinateConfigError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why a coordinate or an RTT sample was refused. The client's coordinate did not change;
/// [`CoordinateStats::rejected`] counts it. Normal only with buggy or hostile peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinateError {
    /// The coordinate has another number of dimensions than [`DIMENSIONALITY`].
    #[error("coordinate has {got} dimensions, expected {expected}")]
    Dimensionality {
        /// [`DIMENSIONALITY`].
        expected: usize,
        /// What the peer sent.
        got: usize,
    },
    /// A component is NaN or infinite.
    #[error("coordinate has a NaN or infinite component")]
    NotFinite,
    /// A component is beyond [`COMPONENT_SECONDS_MAX`], or the error or height is negative.
    #[error("coordinate component out of range")]
    OutOfRange,
    /// The RTT is above [`RTT_MAX`].
    #[error("round-trip time above 10 s")]
    RttOutOfRange,
}

/// A network coordinate. All values are seconds except the dimensionless `error`.
///
/// Built at the origin by [`Coordinate::new`]; moved by [`CoordinateClient::update`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coordinate {
    /// The Euclidean part.
    pub vec: [f64; DIMENSIONALITY],
    /// Confidence: 0 is certain, [`CoordinateConfig::vivaldi_error_max`] knows nothing.
    pub error: f64,
    /// Per-node offset added to distances when the sum stays positive.
    pub adjustment: f64,
    /// Access-link latency added to every distance; at least `height_min`.
    pub height: f64,
}

impl Coordinate {
    /// A coordinate at the origin with the maximum error and the minimum height: where
    /// every node starts.
    pub fn new(config: &CoordinateConfig) -> Self {
        Self {
            vec: [0.0; DIMENSIONALITY],
            error: config.vivaldi_error_max,
            adjustment: 0.0,
            height: config.height_min,
        }
    }

    /// True if no component is NaN or infinite (Serf's validity rule).
    pub fn is_valid(&self) -> bool {
        self.vec.iter().all(|v| v.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }

    /// Checks a coordinate received from a peer: finite, error and height not negative,
    /// every component within [`COMPONENT_SECONDS_MAX`].
    ///
    /// # Errors
    /// [`CoordinateError::NotFinite`] or [`CoordinateError::OutOfRange`].
    pub fn validate(&self) -> Result<(), CoordinateError> {
        if !self.is_valid() {
            return Err(CoordinateError::NotFinite);
        }
        let in_range = |v: f64| libm::fabs(v) <= COMPONENT_SECONDS_MAX;
        if !(self.vec.iter().all(|&v| in_range(v))
            && in_range(self.error)
            && in_range(self.adjustment)
            && in_range(self.height)
            && self.error >= 0.0
            && self.height >= 0.0)
        {
            return Err(CoordinateError::OutOfRange);
        }
        Ok(())
    }

    /// Estimated RTT to `other` in seconds: Euclidean distance plus both heights, plus both
    /// adjustments when that sum stays positive.
    pub fn distance_secs(&self, other: &Self) -> f64 {
        let raw = self.raw_distance_secs(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 { adjusted } else { raw }
    }

    /// Estimated RTT to `other`, truncated to whole nanoseconds (as Serf does); 0 for a
    /// negative estimate and `Duration::MAX` beyond it.
    pub fn distance_to(&self, other: &Self) -> Duration {
        secs_to_duration(self.distance_secs(other))
    }

    /// Distance without the adjustments: Euclidean part plus both heights.
    pub fn raw_distance_secs(&self, other: &Self) -> f64 {
        magnitude(&diff(&self.vec, &other.vec)) + self.height + other.height
    }

    /// The coordinate moved by `force` seconds along the line from `other` to `self`
    /// (positive pushes away, negative pulls closer). The height grows or shrinks in
    /// proportion, never below `height_min`. Coinciding points move in a random direction
    /// drawn from `rng`.
    pub fn apply_force<R: RngCore + ?Sized>(
        &self,
        config: &CoordinateConfig,
        force: f64,
        other: &Self,
        rng: &mut R,
    ) -> Self {
        let mut out = *self;
        let (unit, mag) = unit_vector_at(&self.vec, &other.vec, rng);
        for (v, u) in out.vec.iter_mut().zip(unit) {
            *v += u * force;
        }
        if mag > ZERO_THRESHOLD {
            out.height = (out.height + other.height) * force / mag + out.height;
            out.height = libm::fmax(out.height, config.height_min);
        }
        out
    }
}

/// Seconds to a `Duration`, truncated to nanoseconds and clamped into range.
pub(crate) fn secs_to_duration(secs: f64) -> Duration {
    // NaN and negatives both land here.
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    let nanos = secs * 1.0e9;
    if nanos >= u64::MAX as f64 {
        return Duration::MAX;
    }
    // Truncation toward zero, like Go's float-to-int conversion.
    Duration::from_nanos(nanos as u64)
}

fn diff(a: &[f64; DIMENSIONALITY], b: &[f64; DIMENSIONALITY]) -> [f64; DIMENSIONALITY] {
    core::array::from_fn(|i| a[i] - b[i])
}

fn magnitude(v: &[f64; DIMENSIONALITY]) -> f64 {
    let mut sum = 0.0;
    for x in v {
        sum += x * x;
    }
    libm::sqrt(sum)
}

/// A uniform `f64` in `[0, 1)` from 53 random bits.
fn unit_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Unit vector pointing from `b` toward `a` and the distance between them; a random unit
/// vector and distance 0 when they coincide.
fn unit_vector_at<R: RngCore + ?Sized>(
    a: &[f64; DIMENSIONALITY],
    b: &[f64; DIMENSIONALITY],
    rng: &mut R,
) -> ([f64; DIMENSIONALITY], f64) {
    let d = diff(a, b);
    let mag = magnitude(&d);
    if mag > ZERO_THRESHOLD {
        return (d.map(|x| x * (1.0 / mag)), mag);
    }
    let r: [f64; DIMENSIONALITY] = core::array::from_fn(|_| unit_f64(rng) - 0.5);
    let mag = magnitude(&r);
    if mag > ZERO_THRESHOLD {
        return (r.map(|x| x * (1.0 / mag)), 0.0);
    }
    // All draws near 0.5: practically unreachable; fall back to the first axis.
    let mut unit = [0.0; DIMENSIONALITY];
    unit[0] = 1.0;
    (unit, 0.0)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests;

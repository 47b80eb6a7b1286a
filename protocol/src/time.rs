//! Time as the core sees it: a caller-supplied monotonic [`Instant`].
//!
//! The core never reads a clock. Every input carries `now`; the adapters derive it from a
//! monotonic clock, the simulator from its virtual clock.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};
use core::time::Duration;

/// A point in time, in microseconds since an origin the caller picks (process start, or
/// zero in the simulator).
///
/// Only differences between two `Instant`s from the same caller mean anything. The
/// arithmetic is that of `std::time::Instant`, saturating instead of panicking:
///
/// ```
/// use core::time::Duration;
/// use hearsay_protocol::Instant;
///
/// let start = Instant::from_secs(10);
/// let mut t = start + Duration::from_millis(1500);
/// t += Duration::from_millis(500);
/// assert_eq!(t - start, Duration::from_secs(2));
/// assert_eq!(start - t, Duration::ZERO); // saturates, like std
/// assert_eq!(t.duration_since(start), Duration::from_secs(2));
/// assert_eq!(start.checked_duration_since(t), None);
/// assert_eq!(t.checked_sub(Duration::from_secs(13)), None);
/// assert_eq!(t.as_duration(), Duration::from_secs(12));
/// ```
///
/// With the `std` feature, `Epoch` converts to and from `std::time::Instant`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Self = Self(0);
    /// The last representable instant; used as "never".
    pub const MAX: Self = Self(u64::MAX);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis.saturating_mul(1_000))
    }

    /// An instant `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// An instant `since_origin` after the origin (saturating at [`Instant::MAX`]).
    pub fn from_duration(since_origin: Duration) -> Self {
        Self(micros(since_origin))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }

    /// The span since the origin.
    pub const fn as_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// The span from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// The span from `earlier` to `self`, or zero when `earlier` is later (as
    /// `std::time::Instant::duration_since`).
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// The span from `earlier` to `self`, or `None` when `earlier` is later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_micros)
    }

    /// `self + span`, or `None` past [`Instant::MAX`].
    pub fn checked_add(self, span: Duration) -> Option<Instant> {
        u64::try_from(span.as_micros())
            .ok()
            .and_then(|m| self.0.checked_add(m))
            .map(Instant)
    }

    /// `self - span`, or `None` before the origin.
    pub fn checked_sub(self, span: Duration) -> Option<Instant> {
        u64::try_from(span.as_micros())
            .ok()
            .and_then(|m| self.0.checked_sub(m))
            .map(Instant)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`] instead of overflowing.
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(micros(rhs)))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::ZERO`].
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(micros(rhs)))
    }
}

impl AddAssign<Duration> for Instant {
    /// Saturates at [`Instant::MAX`].
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl SubAssign<Duration> for Instant {
    /// Saturates at [`Instant::ZERO`].
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// The span from `rhs` to `self`; zero when `rhs` is later (as `std::time::Instant`).
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Anchors the core's [`Instant`] to the standard library's clock (feature `std`): the
/// conversion the runtime adapters use, for applications that drive a
/// [`Node`](crate::Node) themselves.
///
/// ```
/// use std::time::Duration;
/// use hearsay_protocol::{Epoch, Instant};
///
/// let origin = std::time::Instant::now();
/// let epoch = Epoch::new(origin);
/// let later = origin + Duration::from_millis(250);
/// assert_eq!(epoch.to_core(later), Instant::from_millis(250));
/// assert_eq!(epoch.to_std(Instant::from_millis(250)), Some(later));
/// assert_eq!(epoch.to_core(origin - Duration::from_secs(1)), Instant::ZERO); // before: clamped
/// ```
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    origin: std::time::Instant,
}

#[cfg(feature = "std")]
impl Epoch {
    /// Core instant zero is `origin`.
    pub fn new(origin: std::time::Instant) -> Self {
        Self { origin }
    }

    /// The `std` instant that core instant zero stands for.
    pub fn origin(&self) -> std::time::Instant {
        self.origin
    }

    /// The core instant of `t`; instants before the origin become [`Instant::ZERO`], and
    /// instants too far ahead [`Instant::MAX`].
    pub fn to_core(&self, t: std::time::Instant) -> Instant {
        Instant::from_duration(t.saturating_duration_since(self.origin))
    }

    /// The `std` instant of `t`; `None` when it is too far ahead for the platform's clock
    /// (such as [`Instant::MAX`], "never").
    pub fn to_std(&self, t: Instant) -> Option<std::time::Instant> {
        self.origin.checked_add(t.as_duration())
    }
}

/// Multiplies a span by an integer factor, saturating.
pub(crate) fn scale(d: Duration, factor: u32) -> Duration {
    d.checked_mul(factor).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_durations_saturates_instead_of_overflowing() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(
            Instant::from_secs(1) + Duration::from_millis(500),
            Instant::from_micros(1_500_000)
        );
    }

    #[test]
    fn checked_arithmetic_reports_overflow_and_underflow() {
        assert_eq!(Instant::MAX.checked_add(Duration::from_micros(1)), None);
        assert_eq!(Instant::ZERO.checked_sub(Duration::from_micros(1)), None);
        assert_eq!(
            Instant::from_secs(1).checked_add(Duration::from_secs(1)),
            Some(Instant::from_secs(2))
        );
        assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
        let mut t = Instant::from_secs(1);
        t -= Duration::from_secs(5);
        assert_eq!(t, Instant::ZERO);
    }

    #[test]
    fn duration_since_a_later_instant_is_zero() {
        assert_eq!(
            Instant::ZERO.saturating_duration_since(Instant::from_secs(3)),
            Duration::ZERO
        );
    }
}

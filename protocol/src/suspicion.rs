//! Suspicions: the open suspicions of other members and their timers (start, confirm,
//! expire), with Lifeguard's dynamic timeout: a suspicion starts with the maximum timeout
//! and shrinks toward the minimum as independent members confirm it:
//! `t = max(min, max − (max − min) · ln(C + 1) / ln(k + 1))`.
//!
//! A suspicion that runs out makes the node declare the member failed; news that the
//! member is alive, failed, left or reaped clears it.

use alloc::collections::{BTreeMap, BTreeSet};
use core::time::Duration;

use crate::config::Config;
use crate::member::MemberState;
use crate::membership::Membership;
use crate::stats::Stats;
use crate::time::Instant;
use crate::types::{Incarnation, NodeName};

/// Most confirmations tracked per suspicion (bounds `k`).
pub const CONFIRMATIONS_MAX: usize = 8;

/// Minimum suspicion timeout: `mult × max(1, log10 n) × interval`, at millisecond grain
/// (the same rounding as memberlist).
pub fn suspicion_timeout(mult: u32, n: usize, interval: Duration) -> Duration {
    let scale = libm::log10((n.max(1)) as f64).max(1.0);
    let scale_millis = (scale * 1000.0) as u64;
    let micros = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(
        micros
            .saturating_mul(u64::from(mult))
            .saturating_mul(scale_millis)
            / 1000,
    )
}

/// An open suspicion of one member.
#[derive(Clone, Debug)]
struct Suspicion {
    start: Instant,
    min: Duration,
    max: Duration,
    k: u32,
    /// Name hashes of the originator (first) and each distinct confirmer.
    seen: heapless::Vec<u64, { CONFIRMATIONS_MAX + 1 }>,
    deadline: Instant,
}

impl Suspicion {
    /// `k` confirmations are expected; with `k == 0` the minimum applies at once.
    pub fn new(from: u64, k: u32, min: Duration, max: Duration, now: Instant) -> Self {
        let k = k.min(CONFIRMATIONS_MAX as u32);
        let mut seen = heapless::Vec::new();
        let _ = seen.push(from);
        let timeout = if k == 0 { min } else { max.max(min) };
        Self {
            start: now,
            min,
            max: max.max(min),
            k,
            seen,
            deadline: now + timeout,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn confirmations(&self) -> u32 {
        (self.seen.len() - 1) as u32
    }

    /// Records a confirmation from `from`. Returns whether it was new (and so the deadline
    /// may have moved and the suspicion is worth re-gossiping).
    pub fn confirm(&mut self, from: u64) -> bool {
        if self.confirmations() >= self.k || self.seen.contains(&from) {
            return false;
        }
        if self.seen.push(from).is_err() {
            return false;
        }
        self.deadline = self.start + self.timeout();
        true
    }

    fn timeout(&self) -> Duration {
        if self.k == 0 {
            return self.min;
        }
        let c = f64::from(self.confirmations());
        let frac = libm::log(c + 1.0) / libm::log(f64::from(self.k) + 1.0);
        let max = self.max.as_secs_f64();
        let raw = max - frac * (max - self.min.as_secs_f64());
        let t = Duration::from_millis(libm::floor(raw * 1000.0).max(0.0) as u64);
        t.max(self.min)
    }
}

/// Every open suspicion, by member slot, and their deadlines in time order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Suspicions {
    open: BTreeMap<u32, Suspicion>,
    timers: BTreeSet<(Instant, u32)>,
    /// Members declared failed when their suspicion ran out.
    failures_declared: u64,
}

impl Suspicions {
    /// Opens a suspicion of `slot` raised by the member whose name hashes to `from`,
    /// replacing any open one. The timeouts follow the cluster size `live` (Lifeguard) or
    /// are the minimum throughout (plain SWIM).
    pub fn start(&mut self, slot: u32, from: u64, now: Instant, live: usize, config: &Config) {
        let min = suspicion_timeout(config.suspicion_mult, live, config.probe_interval);
        let (k, max) = if config.lifeguard {
            let k = config.suspicion_mult.saturating_sub(2);
            let k = if (live as u64) < u64::from(k) + 2 {
                0
            } else {
                k
            };
            (
                k,
                crate::time::scale(min, config.suspicion_max_timeout_mult),
            )
        } else {
            (0, min)
        };
        self.clear(slot);
        let s = Suspicion::new(from, k, min, max, now);
        self.timers.insert((s.deadline(), slot));
        self.open.insert(slot, s);
    }

    /// Records a confirmation of the suspicion of `slot` by the member whose name hashes to
    /// `from`; whether it was new (and so worth re-gossiping). The deadline may move closer.
    pub fn confirm(&mut self, slot: u32, from: u64) -> bool {
        let Some(s) = self.open.get_mut(&slot) else {
            return false;
        };
        let before = s.deadline();
        let new = s.confirm(from);
        if new && s.deadline() != before {
            self.timers.remove(&(before, slot));
            self.timers.insert((s.deadline(), slot));
        }
        new
    }

    /// Closes the suspicion of `slot`, if any.
    pub fn clear(&mut self, slot: u32) {
        if let Some(s) = self.open.remove(&slot) {
            self.timers.remove(&(s.deadline(), slot));
        }
    }

    /// The earliest deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(deadline, _)| *deadline)
    }

    /// Closes the suspicions whose deadline is at or before `now` and returns the next
    /// member to declare failed: one still suspect (counted).
    pub fn pop_expired(
        &mut self,
        now: Instant,
        members: &Membership,
    ) -> Option<(NodeName, Incarnation)> {
        loop {
            let &(deadline, slot) = self.timers.first()?;
            if deadline > now {
                return None;
            }
            self.timers.pop_first();
            self.open.remove(&slot);
            let Some(e) = members.get(slot) else {
                continue;
            };
            if e.state != MemberState::Suspect {
                continue;
            }
            self.failures_declared += 1;
            return Some((e.name.clone(), e.incarnation));
        }
    }

    /// Writes this rule's counter into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.failures_declared = self.failures_declared;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_timeout_grows_with_log10_of_cluster_size() {
        let s = Duration::from_secs(1);
        assert_eq!(suspicion_timeout(4, 1, s), Duration::from_secs(4));
        assert_eq!(suspicion_timeout(4, 10, s), Duration::from_secs(4));
        assert_eq!(suspicion_timeout(4, 100, s), Duration::from_secs(8));
        assert_eq!(suspicion_timeout(4, 1000, s), Duration::from_secs(12));
        assert_eq!(
            suspicion_timeout(5, 50, Duration::from_millis(200)),
            Duration::from_millis(1698)
        );
    }

    #[test]
    fn suspicion_starts_at_max_and_decays_to_min_with_confirmations() {
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        let t0 = Instant::from_secs(100);
        let mut s = Suspicion::new(1, 2, min, max, t0);
        assert_eq!(s.deadline(), t0 + max);
        assert!(s.confirm(2));
        let after_one = s.deadline();
        assert!(after_one < t0 + max && after_one > t0 + min, "{after_one}");
        // ln(2)/ln(3) = 0.6309 → 24 - 0.6309 * 20 = 11.38 s
        assert_eq!(after_one, t0 + Duration::from_millis(11381));
        assert!(!s.confirm(2), "the same confirmer counts once");
        assert!(!s.confirm(1), "the originator is not a confirmation");
        assert!(s.confirm(3));
        assert_eq!(s.deadline(), t0 + min);
        assert!(!s.confirm(4), "no more than k confirmations");
    }

    #[test]
    fn zero_k_means_the_minimum_timeout() {
        let s = Suspicion::new(
            1,
            0,
            Duration::from_secs(4),
            Duration::from_secs(24),
            Instant::ZERO,
        );
        assert_eq!(s.deadline(), Instant::from_secs(4));
    }
}

//! Draws from the node's own RNG. Every random choice of the core goes through here or
//! through the RNG handed to a rule explicitly, so the same seed gives the same choices.

use core::time::Duration;

use rand_core::RngCore;

/// Uniform random integer in `0..n` (n > 0), without modulo bias worth caring about. Draws
/// nothing when `n <= 1`.
pub(crate) fn below(rng: &mut impl RngCore, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// A random span in `0..d`.
pub(crate) fn span(rng: &mut impl RngCore, d: Duration) -> Duration {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    if micros == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(below(rng, micros as usize) as u64)
}

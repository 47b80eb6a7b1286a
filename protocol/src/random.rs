//! Draws from the node's own RNG. Every random choice of the core goes through here or
//! through the RNG handed to a rule explicitly, so the same seed gives the same choices.

use core::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

/// The RNG of [`Node::with_seed`](crate::Node::with_seed): ChaCha8, seeded from a `u64` or
/// 32 bytes. Deterministic (the same seed gives the same node behaviour on every
/// platform) and a cryptographic generator, so it is also fit for the nonces of sealed
/// packets when seeded from the OS ([`from_seed_bytes`](Self::from_seed_bytes) with 32
/// random bytes).
///
/// The generator behind it is an implementation detail: it implements the `rand_core`
/// traits re-exported as [`hearsay_protocol::rand_core`](crate::rand_core).
#[derive(Clone, Debug)]
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// A generator seeded from `seed` (for tests and simulations).
    pub fn from_u64(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A generator seeded from 32 bytes (for production: take them from the OS).
    pub fn from_seed_bytes(seed: [u8; 32]) -> Self {
        Self(ChaCha8Rng::from_seed(seed))
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst);
    }
}

impl CryptoRng for SeededRng {}

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

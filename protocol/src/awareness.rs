//! Lifeguard local health ("awareness"): a score that rises when this node's own probes
//! look unreliable and stretches its probe interval, so a slow node accuses others less.

use core::time::Duration;

use crate::time::scale;

/// Score in `0..max`; 0 is healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Awareness {
    score: u32,
    max: u32,
}

impl Awareness {
    pub fn new(max: u32) -> Self {
        Self {
            score: 0,
            max: max.max(1),
        }
    }

    /// Adds `delta`, clamped to `0..=max-1`.
    pub fn apply(&mut self, delta: i32) {
        let next = i64::from(self.score) + i64::from(delta);
        self.score = next.clamp(0, i64::from(self.max - 1)) as u32;
    }

    pub fn score(&self) -> u32 {
        self.score
    }

    /// `d × (score + 1)`.
    pub fn scale(&self, d: Duration) -> Duration {
        scale(d, self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_clamped_and_scales_timeouts() {
        let mut a = Awareness::new(8);
        a.apply(-1);
        assert_eq!(a.score(), 0);
        a.apply(3);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(4));
        a.apply(100);
        assert_eq!(a.score(), 7);
        assert_eq!(a.scale(Duration::from_millis(500)), Duration::from_secs(4));
    }
}

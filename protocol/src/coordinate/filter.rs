//! The per-peer latency filter: a moving median that hides one-off RTT spikes.

/// Most samples a [`LatencyFilter`] keeps (the config's `latency_filter_size` is 1..=this).
pub const LATENCY_FILTER_SAMPLES_MAX: usize = 5;

/// The last few RTT samples of one peer, oldest first; [`LatencyFilter::push`] returns
/// their median. Small and `Copy`, so it can live in a member table slot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyFilter {
    samples: [f64; LATENCY_FILTER_SAMPLES_MAX],
    len: u8,
}

impl LatencyFilter {
    /// An empty filter.
    pub const fn new() -> Self {
        Self {
            samples: [0.0; LATENCY_FILTER_SAMPLES_MAX],
            len: 0,
        }
    }

    /// Adds `rtt_secs`, dropping the oldest sample beyond `size` (clamped to
    /// 1..=[`LATENCY_FILTER_SAMPLES_MAX`]), and returns the median of what is kept: the
    /// upper middle one for an even count, as Serf picks it.
    pub fn push(&mut self, rtt_secs: f64, size: usize) -> f64 {
        let size = size.clamp(1, LATENCY_FILTER_SAMPLES_MAX);
        let old = usize::from(self.len);
        // Keep the newest `size - 1` samples, then append the new one.
        let keep = old.min(size - 1);
        self.samples.copy_within(old - keep..old, 0);
        self.samples[keep] = rtt_secs;
        let len = keep + 1;
        self.len = len as u8;
        let mut sorted = [0.0; LATENCY_FILTER_SAMPLES_MAX];
        sorted[..len].copy_from_slice(&self.samples[..len]);
        sorted[..len].sort_unstable_by(f64::total_cmp);
        sorted[len / 2]
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> &[f64] {
        &self.samples[..usize::from(self.len)]
    }
}

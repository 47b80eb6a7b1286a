//! Lamport clocks: logical time that orders Serf's intents, events and queries across nodes.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A point in logical time.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LamportTime(pub u64);

impl fmt::Display for LamportTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Lamport clock. It only moves forward: `witness` of an older time changes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LamportClock {
    counter: u64,
}

impl LamportClock {
    /// The current time.
    pub fn time(&self) -> LamportTime {
        LamportTime(self.counter)
    }

    /// Moves the clock one tick forward and returns the new time.
    pub fn increment(&mut self) -> LamportTime {
        self.counter = self.counter.saturating_add(1);
        LamportTime(self.counter)
    }

    /// Records a time seen in a message: afterwards the clock is past it.
    pub fn witness(&mut self, t: LamportTime) {
        if t.0 >= self.counter {
            self.counter = t.0.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_moves_past_what_it_witnesses_and_never_back() {
        let mut c = LamportClock::default();
        assert_eq!(c.time(), LamportTime(0));
        assert_eq!(c.increment(), LamportTime(1));
        c.witness(LamportTime(10));
        assert_eq!(c.time(), LamportTime(11));
        c.witness(LamportTime(3));
        assert_eq!(c.time(), LamportTime(11), "older times change nothing");
        c.witness(LamportTime(u64::MAX));
        assert_eq!(c.increment(), LamportTime(u64::MAX), "saturates");
    }
}

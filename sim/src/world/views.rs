//! What each node sees: for every (observer, member) pair, whether the observer's events
//! last told it the member is in the cluster (joined, not since left, failed or reaped).
//!
//! Views are one bit per pair with per-row ("sees") and per-column ("seen by") counts, so
//! "every live node sees every live node" is an O(N) check and 10 000 nodes cost 12.5 MB
//! of bits. Only live observers keep a row: a node that goes down has its row cleared.

use super::World;

/// The view matrix and its row and column counts.
pub(super) struct Views {
    n: u32,
    words: usize,
    bits: Vec<u64>,
    sees: Vec<u32>,
    seen_by: Vec<u32>,
}

impl Views {
    /// Empty views of `n` nodes.
    pub(super) fn new(n: u32) -> Self {
        let words = (n as usize).div_ceil(64);
        Self {
            n,
            words,
            bits: vec![0; words * n as usize],
            sees: vec![0; n as usize],
            seen_by: vec![0; n as usize],
        }
    }

    /// Records whether `o` sees `t`; returns true when this made `t` seen by no one.
    pub(super) fn set(&mut self, o: u32, t: u32, alive: bool) -> bool {
        let w = o as usize * self.words + t as usize / 64;
        let bit = 1u64 << (t % 64);
        if (self.bits[w] & bit != 0) == alive {
            return false;
        }
        self.bits[w] ^= bit;
        if alive {
            self.sees[o as usize] += 1;
            self.seen_by[t as usize] += 1;
            false
        } else {
            self.sees[o as usize] -= 1;
            self.seen_by[t as usize] -= 1;
            self.seen_by[t as usize] == 0
        }
    }

    /// Forgets everything `o` sees; calls `unseen(t)`, in index order, for each member
    /// that this left seen by no one.
    pub(super) fn clear_row(&mut self, o: u32, mut unseen: impl FnMut(u32)) {
        let row = o as usize * self.words;
        for w in 0..self.words {
            let mut bits = core::mem::take(&mut self.bits[row + w]);
            while bits != 0 {
                let t = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.seen_by[t] -= 1;
                if self.seen_by[t] == 0 {
                    unseen(t as u32);
                }
            }
        }
        self.sees[o as usize] = 0;
    }

    /// Whether `o` sees `t` (false for indexes out of range).
    pub(super) fn sees(&self, o: u32, t: u32) -> bool {
        if o >= self.n || t >= self.n {
            return false;
        }
        self.bits[o as usize * self.words + t as usize / 64] & (1 << (t % 64)) != 0
    }

    /// How many members `o` sees.
    pub(super) fn sees_count(&self, o: u32) -> u32 {
        self.sees[o as usize]
    }

    /// How many observers see `t` (0 for an index out of range).
    pub(super) fn seen_by(&self, t: u32) -> u32 {
        self.seen_by.get(t as usize).copied().unwrap_or(0)
    }
}

impl World {
    /// Records whether `o` sees `t`.
    pub(super) fn set_view(&mut self, o: u32, t: u32, alive: bool) {
        if self.views.set(o, t, alive) {
            self.on_unseen(t);
        }
    }

    /// Whether every live node sees every live node alive (or suspect) and nothing else.
    pub fn converged(&self) -> bool {
        let u = self.nodes.up();
        self.nodes
            .up_nodes()
            .all(|i| self.views.sees_count(i) == u && self.views.seen_by(i) == u)
    }

    /// How many live nodes see `t` alive or suspect.
    pub fn seen_by(&self, t: u32) -> u32 {
        self.views.seen_by(t)
    }

    /// Whether live node `o` sees `t` alive or suspect (from its events).
    pub fn sees(&self, o: u32, t: u32) -> bool {
        self.views.sees(o, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_counts_each_pair_once_and_reports_the_last_observer_leaving() {
        let mut v = Views::new(70);
        assert!(!v.set(0, 69, true));
        assert!(!v.set(0, 69, true), "seeing twice changes nothing");
        assert!(!v.set(3, 69, true));
        assert_eq!((v.seen_by(69), v.sees_count(0)), (2, 1));
        assert!(v.sees(0, 69) && v.sees(3, 69) && !v.sees(69, 0));
        assert!(!v.set(0, 69, false));
        assert!(!v.set(0, 69, false), "forgetting twice changes nothing");
        assert!(v.set(3, 69, false), "no one sees n69 any more");
        assert_eq!((v.seen_by(69), v.sees_count(3)), (0, 0));
    }

    #[test]
    fn clear_row_reports_members_left_unseen_in_index_order() {
        let mut v = Views::new(130);
        for t in [129, 2, 64] {
            v.set(5, t, true);
        }
        v.set(6, 64, true);
        let mut unseen = Vec::new();
        v.clear_row(5, |t| unseen.push(t));
        assert_eq!(unseen, [2, 129]);
        assert_eq!((v.sees_count(5), v.seen_by(64)), (0, 1));
        assert!(!v.sees(5, 129));
    }

    #[test]
    fn indexes_out_of_range_are_seen_by_no_one() {
        let v = Views::new(3);
        assert!(!v.sees(3, 0) && !v.sees(0, 3));
        assert_eq!(v.seen_by(3), 0);
    }
}

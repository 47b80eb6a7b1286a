//! Join and leave intents (Serf): membership news stamped with the member Lamport clock.
//!
//! - A member's latest intent time is kept on its entry; an intent no newer is ignored, so
//!   an old join arriving after a leave changes nothing.
//! - An intent about an unknown member is remembered (bounded, for
//!   `recent_intent_timeout`): a leave that overtakes the join makes the member appear as
//!   left when it is learned, instead of alive.
//! - A leave intent turns a failed member into a left one (`force_leave`), and with `prune`
//!   forgets it at once. A leave intent about ourselves while we are alive is refuted with a
//!   newer join intent.
//!
//! [`Intents`] owns the member clock and the intents about unknown members; the intent
//! time of a known member lives on its entry (`membership`).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;

use crate::config::Config;
use crate::lamport::{LamportClock, LamportTime};
use crate::stats::Stats;
use crate::time::Instant;
use crate::wire::IntentKind;

/// An intent about a member we do not know (yet).
#[derive(Clone, Debug)]
struct RecentIntent {
    kind: IntentKind,
    ltime: LamportTime,
    at: Instant,
}

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Intents {
    /// The member clock.
    clock: LamportClock,
    recent: BTreeMap<Box<str>, RecentIntent>,
    received: u64,
}

impl Intents {
    /// The member clock's time.
    pub fn time(&self) -> LamportTime {
        self.clock.time()
    }

    /// A fresh member-clock time for an intent this node issues.
    pub fn stamp(&mut self) -> LamportTime {
        self.clock.increment()
    }

    /// Witnesses a member-clock time from a peer's Serf state.
    pub fn witness(&mut self, ltime: LamportTime) {
        self.clock.witness(ltime);
    }

    /// An intent message arrived: counted, and its time witnessed.
    pub fn received(&mut self, ltime: LamportTime) {
        self.received += 1;
        self.clock.witness(ltime);
    }

    /// Remembers an intent about an unknown member. When full (`recent_intents_max`),
    /// expired intents are dropped first, then the oldest.
    pub fn remember(
        &mut self,
        now: Instant,
        node: &str,
        kind: IntentKind,
        ltime: LamportTime,
        config: &Config,
    ) {
        let timeout = config.recent_intent_timeout;
        if self.recent.len() >= config.recent_intents_max {
            self.recent
                .retain(|_, r| now.saturating_duration_since(r.at) < timeout);
        }
        if let Some(r) = self.recent.get_mut(node) {
            if ltime > r.ltime {
                *r = RecentIntent {
                    kind,
                    ltime,
                    at: now,
                };
            }
            return;
        }
        if self.recent.len() >= config.recent_intents_max {
            // Full: forget the oldest.
            let oldest = self
                .recent
                .iter()
                .min_by_key(|(_, r)| r.at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.recent.remove(&k);
            }
        }
        self.recent.insert(
            Box::from(node),
            RecentIntent {
                kind,
                ltime,
                at: now,
            },
        );
    }

    /// The remembered intent for a member being learned now, consumed (if not expired).
    pub fn take(
        &mut self,
        now: Instant,
        node: &str,
        config: &Config,
    ) -> Option<(IntentKind, LamportTime)> {
        let r = self.recent.remove(node)?;
        (now.saturating_duration_since(r.at) < config.recent_intent_timeout)
            .then_some((r.kind, r.ltime))
    }

    /// Intents about unknown members held.
    #[cfg(test)]
    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.intents_received = self.received;
    }
}

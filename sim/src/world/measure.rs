//! What the world measures: the timeline, traffic and the run digest, crash detection and
//! false positives, milestones (watches) and the periodic samples of the views.
//!
//! Each measurement keeps its own state here and is fed by the event loop (transmits,
//! events, suspicion counts) and by the faults (crashes, heals, restarts, leaves). The
//! periodic [`tick`](World::tick) samples them all, checks the milestones and the queue
//! invariant, and samples the broadcasts.

use hearsay_protocol::{Channel, Event, Instant, MemberState};

use super::{World, index_of_name, secs};
use crate::digest::Digest;

/// How many false positives are kept individually (all are counted).
const FALSE_POSITIVES_KEPT: usize = 1_000;

/// Detection figures for one crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashRecord {
    /// The crashed node.
    pub node: u32,
    /// When it crashed.
    pub at: Instant,
    /// First time any node suspected it afterwards.
    pub first_suspect: Option<Instant>,
    /// First time any node declared it failed afterwards.
    pub first_failed: Option<Instant>,
    /// When no live node saw it alive or suspect any more.
    pub all_failed: Option<Instant>,
}

/// One suspicion or failure declaration of a healthy, reachable node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FalsePositive {
    /// When.
    pub at: Instant,
    /// Who suspected or declared.
    pub observer: u32,
    /// Who was wrongly suspected or declared failed.
    pub target: u32,
    /// A failure declaration (else a suspicion).
    pub failure: bool,
}

/// What a [`Watch`] waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// The whole cluster converged (after a heal).
    Converged,
    /// Every live node sees `node` alive (after a restart).
    AliveEverywhere,
    /// No live node sees `node` alive (after a leave).
    GoneEverywhere,
}

/// A milestone checked at every sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    /// What it waits for.
    pub kind: WatchKind,
    /// The node concerned (0 for cluster-wide watches).
    pub node: u32,
    /// When the watch started.
    pub at: Instant,
    /// When it was reached.
    pub done: Option<Instant>,
}

/// One sample of the views, for plots.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// When.
    pub at: Instant,
    /// Mean over live members of the fraction of live nodes that see it alive.
    pub join_mean: f64,
    /// The same for the least-known live member.
    pub join_min: f64,
    /// Per crash record (same order, only those that exist yet): fraction of live nodes
    /// that no longer see the crashed node alive.
    pub crash_known: Vec<f64>,
}

/// A line of the human-readable timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When.
    pub at: Instant,
    /// What happened.
    pub text: String,
}

/// The human-readable timeline, in the order things happened.
pub(super) struct Timeline {
    entries: Vec<TimelineEntry>,
}

impl Timeline {
    pub(super) fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Appends a line.
    pub(super) fn log(&mut self, at: Instant, text: String) {
        self.entries.push(TimelineEntry { at, text });
    }

    /// Every line so far, in order.
    pub(super) fn entries(&self) -> &[TimelineEntry] {
        &self.entries
    }
}

/// Transmits and bytes sent, and the run's digest: every transmit and every event folded
/// in, in order, so two runs with equal digests behaved byte for byte the same.
pub(super) struct Traffic {
    digest: Digest,
    msgs: u64,
    bytes: u64,
}

impl Traffic {
    pub(super) fn new() -> Self {
        Self {
            digest: Digest::new(),
            msgs: 0,
            bytes: 0,
        }
    }

    /// `src` sent `bytes` to `dst` at `now` (counted before the network decides its fate).
    pub(super) fn transmit(
        &mut self,
        now: Instant,
        src: u32,
        dst: u32,
        channel: Channel,
        bytes: &[u8],
    ) {
        let ch = match channel {
            Channel::Datagram => 0u64,
            Channel::Stream => 1u64,
        };
        self.digest.word(now.as_micros());
        self.digest.word(u64::from(src) << 32 | u64::from(dst));
        self.digest.word(ch);
        self.digest.bytes(bytes);
        self.msgs += 1;
        self.bytes += bytes.len() as u64;
    }

    /// Node `o` reported `ev` at `now`.
    pub(super) fn event(&mut self, now: Instant, o: u32, ev: &Event) {
        let (tag, m): (u64, _) = match ev {
            Event::MemberJoin(m) => (1, m),
            Event::MemberLeave(m) => (2, m),
            Event::MemberFailed(m) => (3, m),
            Event::MemberUpdate(m) => (4, m),
            Event::MemberReap(m) => (5, m),
            other => {
                self.digest.word(now.as_micros());
                self.digest.word(u64::from(o) << 8 | 6);
                self.digest.bytes(other.name().as_bytes());
                return;
            }
        };
        self.digest.word(now.as_micros());
        self.digest.word(u64::from(o) << 8 | tag);
        self.digest.word(u64::from(m.incarnation.0));
        self.digest.bytes(m.name.as_str().as_bytes());
    }
}

/// What an observer said about a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accusation {
    /// It suspects it.
    Suspected,
    /// It declared it failed.
    Failed,
}

/// Crash detection and false positives: who suspected or declared whom failed, and when.
pub(super) struct Detection {
    crashes: Vec<CrashRecord>,
    /// Per node: its crash record, from its crash until it starts again.
    crash_of: Vec<Option<u32>>,
    /// Per node: the suspicions its core had started by its last input, this life.
    suspicions: Vec<u64>,
    false_positives: Vec<FalsePositive>,
    false_suspicions: u64,
    false_failures: u64,
    unattributed_suspicions: u64,
}

impl Detection {
    pub(super) fn new(n: u32) -> Self {
        Self {
            crashes: Vec::new(),
            crash_of: vec![None; n as usize],
            suspicions: vec![0; n as usize],
            false_positives: Vec::new(),
            false_suspicions: 0,
            false_failures: 0,
            unattributed_suspicions: 0,
        }
    }

    /// Node `i` starts a new life: no crash record, no suspicions counted.
    pub(super) fn node_started(&mut self, i: u32) {
        self.suspicions[i as usize] = 0;
        self.crash_of[i as usize] = None;
    }

    /// Node `i` crashed at `now`: a new crash record.
    pub(super) fn crashed(&mut self, i: u32, now: Instant) {
        let idx = self.crashes.len() as u32;
        self.crashes.push(CrashRecord {
            node: i,
            at: now,
            first_suspect: None,
            first_failed: None,
            all_failed: None,
        });
        self.crash_of[i as usize] = Some(idx);
    }

    /// Node `i`'s core has started `total` suspicions so far; returns how many are new
    /// since its last input.
    pub(super) fn suspicions_started(&mut self, i: u32, total: u64) -> u64 {
        let seen = &mut self.suspicions[i as usize];
        if total <= *seen {
            return 0;
        }
        let fresh = total - *seen;
        *seen = total;
        fresh
    }

    /// `count` suspicions whose target could not be identified.
    fn unattributed(&mut self, count: u64) {
        self.unattributed_suspicions += count;
    }

    /// No live node sees `t` any more: if it is crashed, its failure is now known
    /// everywhere.
    pub(super) fn unseen(&mut self, t: u32, now: Instant, timeline: &mut Timeline) {
        let Some(c) = self.crash_of[t as usize] else {
            return;
        };
        let rec = &mut self.crashes[c as usize];
        if rec.all_failed.is_none() {
            rec.all_failed = Some(now);
            let d = now.saturating_duration_since(rec.at);
            timeline.log(
                now,
                format!("all live nodes declare n{t} failed (+{})", secs(d)),
            );
        }
    }

    /// Checks every crashed node that no live node sees (`seen_by` counts observers).
    fn sweep(&mut self, now: Instant, seen_by: impl Fn(u32) -> u32, timeline: &mut Timeline) {
        for i in 0..self.crashes.len() {
            let t = self.crashes[i].node;
            if self.crash_of[t as usize] == Some(i as u32) && seen_by(t) == 0 {
                self.unseen(t, now, timeline);
            }
        }
    }

    /// `o` suspected or declared failed `t` at `now`; `healthy` when `t` is up, not
    /// stressed and reachable from `o` (a false positive unless `t` is crashed).
    fn accused(
        &mut self,
        o: u32,
        t: u32,
        accusation: Accusation,
        healthy: bool,
        now: Instant,
        timeline: &mut Timeline,
    ) {
        let failure = accusation == Accusation::Failed;
        if let Some(c) = self.crash_of[t as usize] {
            let rec = &mut self.crashes[c as usize];
            let first = if failure {
                &mut rec.first_failed
            } else {
                &mut rec.first_suspect
            };
            if first.is_none() {
                *first = Some(now);
                let d = secs(now.saturating_duration_since(rec.at));
                let text = if failure {
                    format!("n{o} declares n{t} failed first (+{d})")
                } else {
                    format!("n{o} suspects n{t} first (+{d})")
                };
                timeline.log(now, text);
            }
        } else if healthy {
            if failure {
                self.false_failures += 1;
            } else {
                self.false_suspicions += 1;
            }
            if self.false_positives.len() < FALSE_POSITIVES_KEPT {
                self.false_positives.push(FalsePositive {
                    at: now,
                    observer: o,
                    target: t,
                    failure,
                });
            }
        }
    }
}

/// Milestones: the join storm's convergence and the [`Watch`]es started by faults.
pub(super) struct Watches {
    join_converged: Option<Instant>,
    list: Vec<Watch>,
}

impl Watches {
    pub(super) fn new() -> Self {
        Self {
            join_converged: None,
            list: Vec::new(),
        }
    }

    /// Starts waiting for `kind` (about `node`) from `at`.
    pub(super) fn start(&mut self, kind: WatchKind, node: u32, at: Instant) {
        self.list.push(Watch {
            kind,
            node,
            at,
            done: None,
        });
    }
}

impl World {
    /// Appends a line to the timeline.
    pub(super) fn log(&mut self, at: Instant, text: String) {
        self.timeline.log(at, text);
    }

    /// No live node sees `t` any more.
    pub(super) fn on_unseen(&mut self, t: u32) {
        let now = self.now();
        self.detection.unseen(t, now, &mut self.timeline);
    }

    /// Whether `t` is a healthy member `o` can reach: a suspicion or failure of it by `o`
    /// is a false positive.
    fn healthy_and_reachable(&self, o: u32, t: u32) -> bool {
        self.nodes.is_up(t) && !self.faults.is_stressed(t) && self.network.reachable(o, t)
    }

    /// `o` declared `t` failed.
    pub(super) fn on_failed(&mut self, o: u32, t: u32) {
        let now = self.now();
        let healthy = self.healthy_and_reachable(o, t);
        self.detection
            .accused(o, t, Accusation::Failed, healthy, now, &mut self.timeline);
    }

    /// `o` started `count` suspicions during its last input: find whom it suspects now.
    pub(super) fn on_suspicions(&mut self, o: u32, count: u64) {
        let now = self.now();
        let Some(node) = self.nodes.node(o) else {
            return;
        };
        let targets: Vec<u32> = node
            .members()
            .filter(|m| m.state() == MemberState::Suspect && m.state_change() == now)
            .filter_map(|m| index_of_name(m.name()))
            .take(count as usize)
            .collect();
        self.detection
            .unattributed(count.saturating_sub(targets.len() as u64));
        for t in targets {
            if t >= self.len() {
                continue;
            }
            let healthy = self.healthy_and_reachable(o, t);
            self.detection.accused(
                o,
                t,
                Accusation::Suspected,
                healthy,
                now,
                &mut self.timeline,
            );
        }
    }

    /// The periodic sample: join convergence, crashes known everywhere, milestones, queue
    /// caps, view samples, broadcast spread.
    pub(super) fn tick(&mut self) {
        let now = self.now();
        if self.watches.join_converged.is_none() && self.nodes.all_started() && self.converged() {
            self.watches.join_converged = Some(now);
            self.log(
                now,
                format!(
                    "join converged: all {} live nodes see each other alive",
                    self.nodes.up()
                ),
            );
        }
        let views = &self.views;
        self.detection
            .sweep(now, |t| views.seen_by(t), &mut self.timeline);
        self.check_watches();
        self.check_queues();
        self.sample();
        self.sample_broadcasts();
    }

    fn check_watches(&mut self) {
        let now = self.now();
        let mut converged = None;
        for i in 0..self.watches.list.len() {
            let w = self.watches.list[i];
            if w.done.is_some() {
                continue;
            }
            let reached = match w.kind {
                WatchKind::Converged => {
                    *converged.get_or_insert_with(|| self.nodes.all_started() && self.converged())
                }
                WatchKind::AliveEverywhere => {
                    self.nodes.is_up(w.node) && self.views.seen_by(w.node) == self.nodes.up()
                }
                WatchKind::GoneEverywhere => self.views.seen_by(w.node) == 0,
            };
            if reached {
                self.watches.list[i].done = Some(now);
                let d = secs(now.saturating_duration_since(w.at));
                let text = match w.kind {
                    WatchKind::Converged => format!("cluster converged again (+{d})"),
                    WatchKind::AliveEverywhere => format!("n{} alive everywhere (+{d})", w.node),
                    WatchKind::GoneEverywhere => format!("n{} left everywhere (+{d})", w.node),
                };
                self.log(now, text);
            }
        }
    }

    fn sample(&mut self) {
        let u = f64::from(self.nodes.up().max(1));
        let (mut sum, mut min, mut count) = (0.0, 1.0f64, 0u32);
        for j in self.nodes.up_nodes() {
            let f = f64::from(self.views.seen_by(j)) / u;
            sum += f;
            min = min.min(f);
            count += 1;
        }
        let crash_known = self
            .detection
            .crashes
            .iter()
            .map(|c| 1.0 - (f64::from(self.views.seen_by(c.node)) / u).min(1.0))
            .collect();
        self.samples.push(Sample {
            at: self.now(),
            join_mean: if count == 0 {
                0.0
            } else {
                sum / f64::from(count)
            },
            join_min: if count == 0 { 0.0 } else { min },
            crash_known,
        });
    }

    /// When the join storm converged.
    pub fn join_converged(&self) -> Option<Instant> {
        self.watches.join_converged
    }

    /// Crash records, in crash order.
    pub fn crashes(&self) -> &[CrashRecord] {
        &self.detection.crashes
    }

    /// Milestones (heals, restarts, leaves) and when they were reached.
    pub fn watches(&self) -> &[Watch] {
        &self.watches.list
    }

    /// Suspicions of healthy, reachable nodes (counted per observer).
    pub fn false_suspicions(&self) -> u64 {
        self.detection.false_suspicions
    }

    /// Failure declarations of healthy, reachable nodes (counted per observer).
    pub fn false_failures(&self) -> u64 {
        self.detection.false_failures
    }

    /// The first false positives, in order.
    pub fn false_positive_log(&self) -> &[FalsePositive] {
        &self.detection.false_positives
    }

    /// Suspicions a node counted whose target could not be identified.
    pub fn unattributed_suspicions(&self) -> u64 {
        self.detection.unattributed_suspicions
    }

    /// Samples of the views, one per sample interval.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The timeline so far.
    pub fn timeline(&self) -> &[TimelineEntry] {
        self.timeline.entries()
    }

    /// Transmits and bytes sent so far (before network loss).
    pub fn traffic(&self) -> (u64, u64) {
        (self.traffic.msgs, self.traffic.bytes)
    }

    /// The digest of every transmit and event so far, as 16 hex digits.
    pub fn digest(&self) -> String {
        self.traffic.digest.hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_is_first_suspected_first_declared_and_known_everywhere_once() {
        let (mut d, mut tl) = (Detection::new(4), Timeline::new());
        let t0 = Instant::from_secs(10);
        d.crashed(2, t0);
        let at = |s| Instant::from_secs(s);
        d.accused(1, 2, Accusation::Suspected, false, at(11), &mut tl);
        d.accused(3, 2, Accusation::Suspected, false, at(12), &mut tl);
        d.accused(3, 2, Accusation::Failed, false, at(13), &mut tl);
        d.unseen(2, at(14), &mut tl);
        d.sweep(at(15), |_| 0, &mut tl);
        let rec = &d.crashes[0];
        assert_eq!(rec.first_suspect, Some(at(11)));
        assert_eq!(rec.first_failed, Some(at(13)));
        assert_eq!(rec.all_failed, Some(at(14)));
        assert_eq!(tl.entries.len(), 3);
        assert_eq!(tl.entries[0].text, "n1 suspects n2 first (+1.000s)");
        assert_eq!(d.false_suspicions + d.false_failures, 0);
    }

    #[test]
    fn accusing_a_healthy_node_is_a_false_positive_and_the_log_is_capped() {
        let (mut d, mut tl) = (Detection::new(2), Timeline::new());
        for k in 0..FALSE_POSITIVES_KEPT as u64 + 3 {
            d.accused(
                0,
                1,
                Accusation::Failed,
                true,
                Instant::from_micros(k),
                &mut tl,
            );
        }
        d.accused(0, 1, Accusation::Suspected, true, Instant::ZERO, &mut tl);
        d.accused(0, 1, Accusation::Suspected, false, Instant::ZERO, &mut tl);
        assert_eq!(d.false_failures, FALSE_POSITIVES_KEPT as u64 + 3);
        assert_eq!(d.false_suspicions, 1);
        assert_eq!(d.false_positives.len(), FALSE_POSITIVES_KEPT);
        assert!(tl.entries.is_empty());
    }

    #[test]
    fn only_new_suspicions_are_reported_and_a_new_life_counts_from_zero() {
        let mut d = Detection::new(1);
        assert_eq!(d.suspicions_started(0, 3), 3);
        assert_eq!(d.suspicions_started(0, 3), 0);
        assert_eq!(d.suspicions_started(0, 5), 2);
        d.node_started(0);
        assert_eq!(d.suspicions_started(0, 1), 1);
    }

    #[test]
    fn the_digest_tells_channels_and_senders_apart() {
        let digest = |src, channel| {
            let mut t = Traffic::new();
            t.transmit(Instant::ZERO, src, 1, channel, b"ping");
            t.digest.hex()
        };
        let a = digest(0, Channel::Datagram);
        assert_eq!(a, digest(0, Channel::Datagram));
        assert_ne!(a, digest(0, Channel::Stream));
        assert_ne!(a, digest(2, Channel::Datagram));
    }
}

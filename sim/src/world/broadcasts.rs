//! User events and queries: sending them, answering queries, and measuring how far each
//! one spread.
//!
//! A node "has" a broadcast once it delivered `Event::User` / `Event::Query` for it; only
//! live nodes count, and a node that goes down no longer has it. Every query is answered
//! by every node that receives it, with its own name, after
//! [`query_response_delay`](super::SimConfig::query_response_delay).

use std::collections::HashMap;

use hearsay_protocol::{Event, Instant, QueryId, QueryParams};

use super::measure::Timeline;
use super::scheduler::Action;
use super::{World, secs};

/// A user event or a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastKind {
    /// A user event.
    Event,
    /// A query.
    Query,
}

impl BroadcastKind {
    /// `event` or `query`.
    pub fn name(self) -> &'static str {
        match self {
            BroadcastKind::Event => "event",
            BroadcastKind::Query => "query",
        }
    }
}

/// How far a user event or query spread. "Had it" means the node delivered
/// `Event::User` / `Event::Query`; only live nodes (status
/// [`NodeStatus::Up`](super::NodeStatus::Up)) count, and a node that goes down no longer
/// counts as having it.
#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastRecord {
    /// Event or query.
    pub kind: BroadcastKind,
    /// Its name.
    pub name: String,
    /// The sender or asker.
    pub node: u32,
    /// When it was sent.
    pub at: Instant,
    /// The event's Lamport time, or the query's id ([`QueryId::as_u64`]).
    pub key: u64,
    /// When half the live nodes had it.
    pub p50: Option<Instant>,
    /// When 99% had it.
    pub p99: Option<Instant>,
    /// When 99.99% had it.
    pub p9999: Option<Instant>,
    /// When every live node had it.
    pub all: Option<Instant>,
    /// Live nodes that have it now.
    pub delivered: u32,
    /// Nodes that delivered it twice in one life (must stay zero).
    pub duplicates: u32,
    /// Query: responses the asker got before its `QueryDone`.
    pub responses: u32,
    /// Query: acks the asker got before its `QueryDone`.
    pub acks: u32,
    /// Query: when the asker reported `QueryDone`.
    pub done: Option<Instant>,
    /// Query: live nodes when the asker reported `QueryDone` (no filters: all match).
    pub expected_responses: Option<u32>,
    /// `(time, fraction of live nodes that have it)` at every sample until all had it
    /// (kept for the first [`CURVES_KEPT`] broadcasts only).
    pub curve: Vec<(Instant, f64)>,
    asker_life: u32,
    bits: Vec<u64>,
}

impl BroadcastRecord {
    /// Whether node `i` has it (in its current life).
    pub fn has(&self, i: u32) -> bool {
        self.bits
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// How many broadcasts keep a spread curve for plots.
pub const CURVES_KEPT: usize = 16;
/// How many broadcasts get timeline lines.
const BROADCASTS_LOGGED: usize = 20;

/// Every broadcast sent, the lookups that match deliveries to them, and the query answers
/// owed at once.
pub(super) struct Broadcasts {
    /// Words of one delivery bitmap (one bit per node).
    words: usize,
    records: Vec<BroadcastRecord>,
    /// Broadcasts that have not reached every live node yet.
    open: Vec<u32>,
    events_by_ltime: HashMap<u64, Vec<u32>>,
    queries_by_id: HashMap<u64, u32>,
    /// Queries the node being drained received and answers without delay.
    answers_due: Vec<QueryId>,
}

impl Broadcasts {
    /// None sent yet, in a world of `n` nodes.
    pub(super) fn new(n: u32) -> Self {
        Self {
            words: (n as usize).div_ceil(64),
            records: Vec::new(),
            open: Vec::new(),
            events_by_ltime: HashMap::new(),
            queries_by_id: HashMap::new(),
            answers_due: Vec::new(),
        }
    }

    /// Starts measuring a broadcast `node` (in its `life`-th process) sent at `at`.
    fn record(
        &mut self,
        kind: BroadcastKind,
        name: String,
        node: u32,
        life: u32,
        at: Instant,
        key: u64,
    ) {
        let k = self.records.len();
        let idx = k as u32;
        match kind {
            BroadcastKind::Event => self.events_by_ltime.entry(key).or_default().push(idx),
            BroadcastKind::Query => {
                self.queries_by_id.insert(key, idx);
            }
        }
        self.records.push(BroadcastRecord {
            kind,
            name,
            node,
            at,
            key,
            p50: None,
            p99: None,
            p9999: None,
            all: None,
            delivered: 0,
            duplicates: 0,
            responses: 0,
            acks: 0,
            done: None,
            expected_responses: None,
            curve: if k < CURVES_KEPT {
                vec![(at, 0.0)]
            } else {
                Vec::new()
            },
            asker_life: life,
            bits: vec![0; self.words],
        });
        self.open.push(idx);
    }

    /// Live node `o` delivered broadcast `b` at `now` (with `up` nodes live); false when it
    /// already had it (counted as a duplicate).
    fn deliver(&mut self, o: u32, b: u32, now: Instant, up: u32, timeline: &mut Timeline) -> bool {
        let r = &mut self.records[b as usize];
        let (w, bit) = (o as usize / 64, 1u64 << (o % 64));
        if r.bits[w] & bit != 0 {
            r.duplicates += 1;
            return false;
        }
        r.bits[w] |= bit;
        r.delivered += 1;
        self.progress(b, now, up, timeline);
        true
    }

    /// Node `i` went down: it no longer has any broadcast.
    pub(super) fn forget(&mut self, i: u32) {
        let (w, bit) = (i as usize / 64, 1u64 << (i % 64));
        for b in &mut self.records {
            if b.bits[w] & bit != 0 {
                b.bits[w] &= !bit;
                b.delivered -= 1;
            }
        }
    }

    /// Records the milestones broadcast `b` has reached by `now` with `up` nodes live;
    /// returns whether every live node has it.
    fn progress(&mut self, b: u32, now: Instant, up: u32, timeline: &mut Timeline) -> bool {
        let up = u64::from(up);
        let r = &mut self.records[b as usize];
        let d = u64::from(r.delivered);
        // d ≥ ⌈f × up⌉ with f = num / 10 000.
        let reached = |num: u64| d * 10_000 >= num * up;
        for (num, slot) in [
            (5_000, &mut r.p50),
            (9_900, &mut r.p99),
            (9_999, &mut r.p9999),
            (10_000, &mut r.all),
        ] {
            if slot.is_none() && up > 0 && reached(num) {
                *slot = Some(now);
            }
        }
        let all = r.all.is_some();
        if all
            && r.all == Some(now)
            && !r.curve.is_empty()
            && r.curve.last().is_some_and(|c| c.1 < 1.0)
        {
            r.curve.push((now, 1.0));
        }
        if all && r.all == Some(now) && (b as usize) < BROADCASTS_LOGGED {
            let text = format!(
                "{} `{}` reached all {up} live nodes (+{})",
                r.kind.name(),
                r.name,
                secs(now.saturating_duration_since(r.at))
            );
            timeline.log(now, text);
        }
        all
    }

    /// The periodic sample: milestones and curve points of every open broadcast.
    fn sample(&mut self, now: Instant, up: u32, timeline: &mut Timeline) {
        let live = f64::from(up.max(1));
        let mut open = core::mem::take(&mut self.open);
        open.retain(|&b| {
            let done = self.progress(b, now, up, timeline);
            let r = &mut self.records[b as usize];
            if !done && (b as usize) < CURVES_KEPT {
                r.curve
                    .push((now, (f64::from(r.delivered) / live).min(1.0)));
            }
            !done
        });
        self.open = open;
    }

    /// Whether answers are owed without delay.
    pub(super) fn answers_due(&self) -> bool {
        !self.answers_due.is_empty()
    }

    /// Takes the queries owed an answer without delay.
    pub(super) fn take_answers(&mut self) -> Vec<QueryId> {
        core::mem::take(&mut self.answers_due)
    }
}

impl World {
    /// `node` (or a random live node) sends a user event or asks a query named `name` (or
    /// `event-K` / `query-K`).
    pub(super) fn send_broadcast(
        &mut self,
        kind: BroadcastKind,
        node: Option<u32>,
        name: Option<String>,
    ) {
        let now = self.now();
        let up = |w: &Self, j: u32| w.nodes.is_up(j);
        let Some(i) = node
            .filter(|&j| j < self.len() && up(self, j))
            .or_else(|| self.random_node(up))
        else {
            self.log(now, format!("no live node to send a {}", kind.name()));
            return;
        };
        let k = self.broadcasts.records.len();
        let name = name.unwrap_or_else(|| format!("{}-{}", kind.name(), k + 1));
        let payload = vec![0x5a; self.config.broadcast_payload_bytes];
        let Some(n) = self.nodes.node_mut(i) else {
            return;
        };
        let sent = match kind {
            BroadcastKind::Event => n.user_event(now, &name, &payload, false).map(|t| t.0),
            BroadcastKind::Query => {
                let params = QueryParams::new(name.clone()).payload(payload);
                n.query(now, &params).map(QueryId::as_u64)
            }
        };
        let key = match sent {
            Ok(key) => key,
            Err(e) => {
                self.log(
                    now,
                    format!("n{i} cannot send {} `{name}`: {e}", kind.name()),
                );
                return;
            }
        };
        if k < BROADCASTS_LOGGED {
            let what = match kind {
                BroadcastKind::Event => format!("sends user event `{name}` (ltime {key})"),
                BroadcastKind::Query => format!("asks query `{name}`"),
            };
            self.log(now, format!("n{i} {what}"));
        }
        let life = self.nodes.life(i);
        self.broadcasts.record(kind, name, i, life, now, key);
        self.after_input(i, false);
    }

    /// User events and queries seen by node `o`.
    pub(super) fn on_serf_event(&mut self, o: u32, ev: &Event) {
        match ev {
            Event::User { ltime, name, .. } => {
                let found = self.broadcasts.events_by_ltime.get(&ltime.0).and_then(|v| {
                    v.iter()
                        .copied()
                        .find(|&b| self.broadcasts.records[b as usize].name == *name)
                });
                if let Some(b) = found {
                    self.mark(o, b);
                }
            }
            Event::Query { id, .. } => {
                if let Some(&b) = self.broadcasts.queries_by_id.get(&id.as_u64()) {
                    self.mark(o, b);
                }
                let delay = self.config.query_response_delay;
                if delay.is_zero() {
                    self.broadcasts.answers_due.push(*id);
                } else {
                    let life = self.nodes.life(o);
                    let at = self.now() + delay;
                    self.scheduler.push(
                        at,
                        Action::Respond {
                            node: o,
                            life,
                            id: *id,
                        },
                    );
                }
            }
            Event::QueryAck { id, .. }
            | Event::QueryResponse { id, .. }
            | Event::QueryDone { id } => {
                let Some(&b) = self.broadcasts.queries_by_id.get(&id.as_u64()) else {
                    return;
                };
                let life = self.nodes.life(o);
                let up = self.nodes.up();
                let now = self.now();
                let r = &mut self.broadcasts.records[b as usize];
                if r.node != o || r.asker_life != life || r.done.is_some() {
                    return;
                }
                match ev {
                    Event::QueryAck { .. } => r.acks += 1,
                    Event::QueryResponse { .. } => r.responses += 1,
                    _ => {
                        r.done = Some(now);
                        r.expected_responses = Some(up);
                        if (b as usize) < BROADCASTS_LOGGED {
                            let text = format!(
                                "query `{}` done: {}/{up} responses (+{})",
                                r.name,
                                r.responses,
                                secs(now.saturating_duration_since(r.at))
                            );
                            self.log(now, text);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Node `o` delivered broadcast `b`; counts only while `o` is up.
    fn mark(&mut self, o: u32, b: u32) {
        if !self.nodes.is_up(o) {
            return;
        }
        let now = self.now();
        if !self
            .broadcasts
            .deliver(o, b, now, self.nodes.up(), &mut self.timeline)
        {
            let r = &self.broadcasts.records[b as usize];
            let (kind, name) = (r.kind.name(), &r.name);
            self.invariants
                .violated(|| format!("{now}: n{o} delivered {kind} `{name}` twice"));
        }
    }

    /// Samples the spread of every open broadcast.
    pub(super) fn sample_broadcasts(&mut self) {
        let now = self.now();
        self.broadcasts
            .sample(now, self.nodes.up(), &mut self.timeline);
    }

    /// Every user event and query the simulator sent, in order.
    pub fn broadcasts(&self) -> &[BroadcastRecord] {
        &self.broadcasts.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_follow_deliveries_and_a_duplicate_is_only_counted() {
        let (mut b, mut tl) = (Broadcasts::new(4), Timeline::new());
        b.record(BroadcastKind::Event, "e".into(), 0, 0, Instant::ZERO, 7);
        let at = Instant::from_secs;
        assert!(b.deliver(0, 0, at(1), 4, &mut tl));
        assert!(b.deliver(1, 0, at(2), 4, &mut tl));
        assert!(!b.deliver(1, 0, at(3), 4, &mut tl));
        let r = &b.records[0];
        assert_eq!(
            (r.p50, r.all, r.delivered, r.duplicates),
            (Some(at(2)), None, 2, 1)
        );
        assert!(r.has(1) && !r.has(2));
        b.deliver(2, 0, at(4), 4, &mut tl);
        b.deliver(3, 0, at(5), 4, &mut tl);
        let r = &b.records[0];
        assert_eq!((r.p99, r.all), (Some(at(5)), Some(at(5))));
        assert_eq!(r.curve, [(Instant::ZERO, 0.0), (at(5), 1.0)]);
        assert_eq!(tl.entries().len(), 1, "reaching everyone is logged");
        b.sample(at(6), 4, &mut tl);
        assert!(b.open.is_empty(), "a broadcast everyone has is closed");
    }

    #[test]
    fn a_node_going_down_no_longer_has_it() {
        let (mut b, mut tl) = (Broadcasts::new(100), Timeline::new());
        b.record(BroadcastKind::Query, "q".into(), 0, 0, Instant::ZERO, 9);
        b.deliver(70, 0, Instant::ZERO, 100, &mut tl);
        b.forget(70);
        b.forget(71);
        assert_eq!(b.records[0].delivered, 0);
        assert!(!b.records[0].has(70));
        assert_eq!(b.queries_by_id.get(&9), Some(&0));
    }
}

//! The run report: JSON (stable field names) and a human-readable summary.
//!
//! ```json
//! { "nodes": 1000, "seed": 1, "profile": "lan", "virtual_s": 60.0, "wall_s": 2.1,
//!   "peak_rss_bytes": 123456789, "join": { "converged_s": 1.4 },
//!   "crashes": [ { "node": "n17", "at_s": 30.0, "first_suspect_s": 1.5,
//!                  "first_failed_s": 6.5, "all_failed_s": 6.8 } ],
//!   "false_positives": { "suspicions": 0, "failures": 0 },
//!   "broadcasts": [ { "kind": "event", "name": "event-1", "node": "n412", "at_s": 40.0,
//!                     "p50_s": 0.61, "p99_s": 1.2, "p9999_s": 1.4, "all_s": 1.4,
//!                     "delivered_fraction": 1.0 },
//!                   { "kind": "query", "name": "query-2", "node": "n3", "at_s": 45.0,
//!                     "p50_s": 0.6, "p99_s": 1.2, "p9999_s": 1.4, "all_s": 1.4,
//!                     "delivered_fraction": 1.0, "responses": 999,
//!                     "expected_responses": 999 } ],
//!   "traffic": { "msgs_per_node_s": 19.0, "bytes_per_node_s": 4200.0 },
//!   "digest": "0123456789abcdef" }
//! ```
//!
//! Times are virtual seconds measured from the fault or broadcast they describe
//! (`join.converged_s` from the start of the join storm); `null` where it never happened.
//! A node "has" a broadcast once it delivered `Event::User` / `Event::Query`; fractions
//! are of the nodes live at the time. `responses` counts the answers the asker got before
//! its `QueryDone`, `expected_responses` the live (and, without filters, matching) nodes
//! then; both are `null` until the query is done and absent for events.

use core::fmt::Write as _;
use core::time::Duration;

use hearsay_protocol::Instant;
use serde::Serialize;

use crate::world::{BroadcastKind, BroadcastRecord, World, name_of};

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Number of nodes.
    pub nodes: u32,
    /// Master seed.
    pub seed: u64,
    /// Protocol profile name.
    pub profile: String,
    /// Virtual seconds simulated.
    pub virtual_s: f64,
    /// Wall-clock seconds the run took.
    pub wall_s: f64,
    /// Peak resident set size of the process (`VmHWM`), when known.
    pub peak_rss_bytes: Option<u64>,
    /// Join storm figures.
    pub join: JoinReport,
    /// One entry per crash.
    pub crashes: Vec<CrashReport>,
    /// Suspicions and failure declarations of healthy, reachable nodes.
    pub false_positives: FalsePositives,
    /// One entry per user event or query the simulator sent.
    pub broadcasts: Vec<BroadcastReport>,
    /// Traffic per node per virtual second.
    pub traffic: Traffic,
    /// Hex digest of every transmit and event in order.
    pub digest: String,
}

/// Join storm figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JoinReport {
    /// Seconds from the start until every live node saw every live node alive.
    pub converged_s: Option<f64>,
}

/// Detection figures for one crash, in seconds from the crash.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrashReport {
    /// Name of the crashed node.
    pub node: String,
    /// When it crashed, from the start.
    pub at_s: f64,
    /// First suspicion by any node.
    pub first_suspect_s: Option<f64>,
    /// First failure declaration by any node.
    pub first_failed_s: Option<f64>,
    /// Until no live node saw it alive.
    pub all_failed_s: Option<f64>,
}

/// False positive counts, per observer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FalsePositives {
    /// Suspicions raised of healthy, reachable nodes.
    pub suspicions: u64,
    /// Failure declarations of healthy, reachable nodes.
    pub failures: u64,
}

/// Dissemination figures for one broadcast, in seconds from the broadcast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BroadcastReport {
    /// `event` or `query`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The sender or asker.
    pub node: String,
    /// When it was sent, from the start.
    pub at_s: f64,
    /// Until half the live nodes had it.
    pub p50_s: Option<f64>,
    /// Until 99% had it.
    pub p99_s: Option<f64>,
    /// Until 99.99% had it.
    pub p9999_s: Option<f64>,
    /// Until all had it.
    pub all_s: Option<f64>,
    /// Fraction of the live nodes that have it at the end of the run.
    pub delivered_fraction: f64,
    /// Query only: responses the asker got before its `QueryDone` (`null` before then).
    #[serde(skip_serializing_if = "is_event")]
    pub responses: Option<Option<u32>>,
    /// Query only: live matching nodes when the query was done (`null` before then).
    #[serde(skip_serializing_if = "is_event")]
    pub expected_responses: Option<Option<u32>>,
}

#[allow(
    clippy::ref_option,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_event(x: &Option<Option<u32>>) -> bool {
    x.is_none()
}

impl BroadcastReport {
    fn new(world: &World, r: &BroadcastRecord) -> Self {
        let query = r.kind == BroadcastKind::Query;
        let done = |x: Option<u32>| query.then(|| r.done.and(x));
        Self {
            kind: r.kind.name().to_string(),
            name: r.name.clone(),
            node: name_of(r.node),
            at_s: r.at.as_micros() as f64 / 1e6,
            p50_s: since(r.p50, r.at),
            p99_s: since(r.p99, r.at),
            p9999_s: since(r.p9999, r.at),
            all_s: since(r.all, r.at),
            delivered_fraction: round(f64::from(r.delivered) / f64::from(world.up_count().max(1))),
            responses: done(Some(r.responses)),
            expected_responses: done(r.expected_responses),
        }
    }
}

/// Traffic per node per virtual second (everything sent, before network loss).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Traffic {
    /// Datagrams and stream frames.
    pub msgs_per_node_s: f64,
    /// Their bytes.
    pub bytes_per_node_s: f64,
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`), if readable.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn since(t: Option<Instant>, from: Instant) -> Option<f64> {
    t.map(|t| round(t.saturating_duration_since(from).as_secs_f64()))
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Report {
    /// Builds the report of `world` after a run that took `wall` wall-clock time.
    pub fn new(world: &World, wall: Duration) -> Self {
        let c = world.config();
        let virtual_s = world.now().as_micros() as f64 / 1e6;
        let (msgs, bytes) = world.traffic();
        let node_s = f64::from(c.nodes) * virtual_s;
        let per = |x: u64| {
            if node_s > 0.0 {
                round(x as f64 / node_s)
            } else {
                0.0
            }
        };
        Self {
            nodes: c.nodes,
            seed: c.seed,
            profile: c.profile.name().to_string(),
            virtual_s,
            wall_s: round(wall.as_secs_f64()),
            peak_rss_bytes: peak_rss_bytes(),
            join: JoinReport {
                converged_s: since(world.join_converged(), Instant::ZERO),
            },
            crashes: world
                .crashes()
                .iter()
                .map(|r| CrashReport {
                    node: name_of(r.node),
                    at_s: r.at.as_micros() as f64 / 1e6,
                    first_suspect_s: since(r.first_suspect, r.at),
                    first_failed_s: since(r.first_failed, r.at),
                    all_failed_s: since(r.all_failed, r.at),
                })
                .collect(),
            false_positives: FalsePositives {
                suspicions: world.false_suspicions(),
                failures: world.false_failures(),
            },
            broadcasts: world
                .broadcasts()
                .iter()
                .map(|r| BroadcastReport::new(world, r))
                .collect(),
            traffic: Traffic {
                msgs_per_node_s: per(msgs),
                bytes_per_node_s: per(bytes),
            },
            digest: world.digest(),
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Simulated node-seconds per wall-clock second.
    pub fn node_seconds_per_wall_second(&self) -> f64 {
        if self.wall_s > 0.0 {
            f64::from(self.nodes) * self.virtual_s / self.wall_s
        } else {
            0.0
        }
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "never".to_string(), |x| format!("{x:.3}s"))
}

/// The human-readable timeline and summary table of a run.
pub fn render(world: &World, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "timeline (virtual time)");
    for e in world.timeline() {
        let _ = writeln!(
            out,
            "  {:>10.3}s  {}",
            e.at.as_micros() as f64 / 1e6,
            e.text
        );
    }
    let fps = world.false_positive_log();
    if !fps.is_empty() {
        let _ = writeln!(out, "first false positives");
        for fp in fps.iter().take(5) {
            let what = if fp.failure {
                "declares failed"
            } else {
                "suspects"
            };
            let _ = writeln!(
                out,
                "  {:>10.3}s  n{} {what} n{} (healthy and reachable)",
                fp.at.as_micros() as f64 / 1e6,
                fp.observer,
                fp.target
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "summary");
    let row = |out: &mut String, k: &str, v: String| {
        let _ = writeln!(out, "  {k:<34} {v}");
    };
    row(&mut out, "nodes", report.nodes.to_string());
    row(&mut out, "seed", report.seed.to_string());
    let mode = if world.config().lifeguard {
        "Lifeguard"
    } else {
        "plain SWIM"
    };
    row(&mut out, "profile", format!("{} ({mode})", report.profile));
    row(
        &mut out,
        "virtual time",
        format!("{:.1}s", report.virtual_s),
    );
    row(&mut out, "wall time", format!("{:.2}s", report.wall_s));
    row(
        &mut out,
        "node-seconds per wall second",
        format!("{:.0}", report.node_seconds_per_wall_second()),
    );
    let rss = report.peak_rss_bytes.map_or("unknown".into(), |b| {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    });
    row(&mut out, "peak RSS", rss);
    row(&mut out, "join converged", opt(report.join.converged_s));
    for c in &report.crashes {
        row(
            &mut out,
            &format!("crash {} at {:.1}s", c.node, c.at_s),
            format!(
                "first suspect +{}, first failed +{}, all failed +{}",
                opt(c.first_suspect_s),
                opt(c.first_failed_s),
                opt(c.all_failed_s)
            ),
        );
    }
    let shown = 10;
    for b in report.broadcasts.iter().take(shown) {
        let mut v = format!(
            "50% +{}, 99% +{}, 99.99% +{}, all +{}; {:.2}% have it",
            opt(b.p50_s),
            opt(b.p99_s),
            opt(b.p9999_s),
            opt(b.all_s),
            b.delivered_fraction * 100.0
        );
        if let (Some(r), Some(e)) = (b.responses, b.expected_responses) {
            match (r, e) {
                (Some(r), Some(e)) => {
                    let _ = write!(v, "; {r}/{e} responses");
                }
                _ => v.push_str("; still collecting responses"),
            }
        }
        row(
            &mut out,
            &format!("{} {} at {:.1}s", b.kind, b.name, b.at_s),
            v,
        );
    }
    if report.broadcasts.len() > shown {
        let all = report
            .broadcasts
            .iter()
            .filter(|b| b.all_s.is_some())
            .count();
        row(
            &mut out,
            &format!("… {} broadcasts in all", report.broadcasts.len()),
            format!("{all} reached every live node"),
        );
    }
    row(
        &mut out,
        "false positives",
        format!(
            "{} suspicions, {} failure declarations",
            report.false_positives.suspicions, report.false_positives.failures
        ),
    );
    row(
        &mut out,
        "traffic per node",
        format!(
            "{:.1} msgs/s, {:.0} B/s",
            report.traffic.msgs_per_node_s, report.traffic.bytes_per_node_s
        ),
    );
    let net = world.network();
    row(
        &mut out,
        "network drops",
        format!(
            "{} lost, {} cut, {} over budget, {} duplicated",
            net.dropped_loss, net.dropped_cut, net.dropped_budget, net.duplicated
        ),
    );
    row(
        &mut out,
        "live nodes / converged now",
        format!("{} / {}", world.up_count(), world.converged()),
    );
    let (mut pending, mut max_pending, mut dropped, mut running) = (0usize, 0usize, 0u64, 0usize);
    let (mut table_bytes, mut entries) = (0usize, 0usize);
    for i in 0..world.len() {
        if let Some(n) = world.node(i) {
            table_bytes += n.member_table_bytes();
            entries += n.member_count();
            pending += n.pending_broadcasts();
            max_pending = max_pending.max(n.pending_broadcasts());
            dropped += n.stats().broadcasts_dropped;
            running += 1;
        }
    }
    row(
        &mut out,
        "broadcast queues at the end",
        format!(
            "mean {:.1}, max {max_pending} pending; {dropped} dropped in total",
            pending as f64 / running.max(1) as f64
        ),
    );
    row(
        &mut out,
        "member tables (core's estimate)",
        format!(
            "{:.1} MiB for {entries} entries, {:.0} B per entry",
            table_bytes as f64 / 1048576.0,
            table_bytes as f64 / entries.max(1) as f64
        ),
    );
    row(&mut out, "digest", report.digest.clone());
    out
}

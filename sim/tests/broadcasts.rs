//! User events and queries in the simulator: fixed seeds, small clusters, real figures
//! asserted. Every failure message carries the seed and a command that reproduces it.

use core::time::Duration;

use hearsay_sim::world::{BroadcastKind, BroadcastRecord};
use hearsay_sim::{Fault, Instant, SimConfig, World};

fn at(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn world(nodes: u32, seed: u64, tweak: impl FnOnce(&mut SimConfig)) -> World {
    let mut c = SimConfig::new(nodes, seed);
    tweak(&mut c);
    World::new(c).expect("valid simulator configuration")
}

/// Seconds from the broadcast to `t`.
fn after(b: &BroadcastRecord, t: Option<Instant>) -> Option<f64> {
    t.map(|t| t.saturating_duration_since(b.at).as_secs_f64())
}

fn event(w: &mut World, secs: u64, node: Option<u32>) {
    w.schedule(
        Duration::from_secs(secs),
        Fault::UserEvent { node, name: None },
    );
}

fn no_violations(w: &World, ctx: &str) {
    let v = w.check_invariants();
    assert!(v.is_empty(), "{ctx}: invariants broken: {v:?}");
}

#[test]
fn an_event_reaches_every_live_node_at_no_loss() {
    for seed in [101, 102] {
        let mut w = world(150, seed, |_| {});
        event(&mut w, 10, None);
        w.run_until(at(20));
        let ctx = format!("seed {seed} (hearsay-sim --nodes 150 --seed {seed} --event @10s)");
        let b = &w.broadcasts()[0];
        assert_eq!(b.kind, BroadcastKind::Event);
        assert_eq!(b.delivered, w.up_count(), "{ctx}: {b:?}");
        assert_eq!(b.duplicates, 0, "{ctx}");
        // Logistic model, fanout 3, N = 150: ≈ 9.6 rounds of 200 ms; allow 20% more.
        let all = after(b, b.all);
        assert!(
            all.is_some_and(|s| s <= 9.6 * 0.2 * 1.2),
            "{ctx}: all live nodes had it after {all:?} s"
        );
        assert!(b.p50 <= b.p99 && b.p99 <= b.all, "{ctx}: {b:?}");
        no_violations(&w, &ctx);
    }
}

#[test]
fn an_event_at_ten_percent_loss_reaches_nearly_all_by_gossip_and_the_rest_by_push_pull() {
    let seed = 111;
    let mut w = world(200, seed, |c| c.network.loss = 0.1);
    event(&mut w, 15, None);
    w.run_until(at(20));
    let ctx = format!(
        "seed {seed} (hearsay-sim --nodes 200 --seed {seed} --loss 0.1 --event @15s --duration 2m)"
    );
    let b = w.broadcasts()[0].clone();
    let p99 = after(&b, b.p99);
    assert!(
        p99.is_some_and(|s| s <= 3.0),
        "{ctx}: 99% had it after {p99:?} s"
    );
    let frac = f64::from(b.delivered) / f64::from(w.up_count());
    assert!(frac >= 0.99, "{ctx}: {frac} of the nodes had it 5 s later");
    // Whoever the gossip missed catches up at a push-pull (LAN: every 30 s, scaled).
    w.run_until(at(120));
    let b = &w.broadcasts()[0];
    assert_eq!(b.delivered, w.up_count(), "{ctx}: not everyone by 120 s");
    assert_eq!(b.duplicates, 0, "{ctx}");
    no_violations(&w, &ctx);
}

#[test]
fn a_query_gets_a_response_from_every_live_node() {
    for (seed, delay) in [(121, 0), (122, 500)] {
        let mut w = world(100, seed, |c| {
            c.query_response_delay = Duration::from_millis(delay);
        });
        w.schedule(
            Duration::from_secs(10),
            Fault::Query {
                node: None,
                name: None,
            },
        );
        w.run_until(at(40));
        let ctx = format!(
            "seed {seed} (hearsay-sim --nodes 100 --seed {seed} --query @10s \
             --response-delay {delay}ms)"
        );
        let b = &w.broadcasts()[0];
        assert_eq!(b.kind, BroadcastKind::Query);
        assert!(b.done.is_some(), "{ctx}: no QueryDone by 40 s: {b:?}");
        assert_eq!(b.expected_responses, Some(w.up_count()), "{ctx}");
        assert_eq!(b.responses, w.up_count(), "{ctx}: {b:?}");
        assert_eq!(b.delivered, w.up_count(), "{ctx}");
        assert_eq!(b.duplicates, 0, "{ctx}");
        no_violations(&w, &ctx);
    }
}

/// Crash of `n50` at 20 s with or without a flood of user events (five senders, ten events
/// per second in all, from 10 s to 60 s): seconds until every live node declared it failed,
/// and the flood's events that did not reach everyone.
fn crash_under_flood(seed: u64, flood: bool) -> (f64, f64, usize) {
    let mut w = world(100, seed, |_| {});
    w.schedule(Duration::from_secs(20), Fault::CrashNode { node: 50 });
    if flood {
        for k in 0..500u64 {
            w.schedule(
                Duration::from_millis(10_000 + 100 * k),
                Fault::UserEvent {
                    node: Some(1 + (k % 5) as u32),
                    name: None,
                },
            );
        }
    }
    w.run_until(at(75));
    let c = &w.crashes()[0];
    let d = |t: Option<Instant>| {
        t.map_or(f64::INFINITY, |t| {
            t.saturating_duration_since(c.at).as_secs_f64()
        })
    };
    let missed = w
        .broadcasts()
        .iter()
        .filter(|b| b.all.is_none() || b.duplicates > 0)
        .count();
    let v = w.check_invariants();
    assert!(v.is_empty(), "seed {seed} flood {flood}: {v:?}");
    (d(c.first_suspect), d(c.all_failed), missed)
}

#[test]
fn a_flood_of_user_events_does_not_delay_failure_detection() {
    let seed = 131;
    let (quiet_suspect, quiet_all) = {
        let (s, a, _) = crash_under_flood(seed, false);
        (s, a)
    };
    let (flood_suspect, flood_all, missed) = crash_under_flood(seed, true);
    let ctx = format!(
        "seed {seed}, 100 nodes, n50 crashes at 20 s, 10 events/s from 5 nodes over 10–60 s: \
         first suspicion +{quiet_suspect:.2} s quiet / +{flood_suspect:.2} s flooded, all \
         failed +{quiet_all:.2} s quiet / +{flood_all:.2} s flooded"
    );
    eprintln!("{ctx}");
    assert!(quiet_all.is_finite(), "{ctx}: quiet run never converged");
    assert!(
        flood_all <= quiet_all * 1.25 + 1.0,
        "{ctx}: the flood delayed detection"
    );
    assert!(
        flood_suspect <= quiet_suspect + 2.0,
        "{ctx}: the flood delayed the first suspicion"
    );
    assert_eq!(missed, 0, "{ctx}: flood events that missed a node");
}

#[test]
fn an_event_sent_during_a_partition_reaches_the_other_side_after_the_heal() {
    let seed = 141;
    let mut w = world(60, seed, |_| {});
    w.schedule_partition(0.5, Duration::from_secs(20), Duration::from_secs(60));
    // n1 is on the first side (nodes 0–29), n59 on the other.
    event(&mut w, 40, Some(1));
    w.run_until(at(59));
    let ctx = format!(
        "seed {seed} (hearsay-sim --nodes 60 --seed {seed} --partition 0.5@20s..60s; \
         event from n1 at 40 s)"
    );
    let b = &w.broadcasts()[0];
    assert_eq!(b.node, 1, "{ctx}");
    assert!(
        (0..30).all(|i| b.has(i)),
        "{ctx}: its own side did not all get it"
    );
    assert!(
        (30..60).all(|i| !b.has(i)),
        "{ctx}: it crossed the partition"
    );
    w.run_until(at(60 + 60));
    let b = &w.broadcasts()[0];
    let all = after(b, b.all).map(|s| s - 20.0);
    assert!(
        b.delivered == w.up_count() && all.is_some_and(|s| s <= 45.0),
        "{ctx}: after the heal {} of {} have it, all {all:?} s after the heal",
        b.delivered,
        w.up_count()
    );
    assert_eq!(b.duplicates, 0, "{ctx}");
    no_violations(&w, &ctx);
}

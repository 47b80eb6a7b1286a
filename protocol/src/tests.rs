//! Message-level tests: a few nodes wired through in-memory queues with virtual time.

#![allow(clippy::unwrap_used)]

extern crate std;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crate::wire::{self, Message};
use crate::*;

use crate::testing::{Cluster, TestNode, addr, name, new_node};

fn digest(config: Config, seed: u64) -> Vec<u8> {
    let mut c = Cluster::joined(5, config, seed, 20);
    c.crash(4);
    c.run_until(Instant::from_secs(60));
    c.log
}

#[test]
fn nodes_joining_through_one_seed_all_see_each_other_alive() {
    let c = Cluster::joined(8, Config::lan(), 1, 3);
    assert!(c.converged(), "not converged after 3 s");
    let joins = c
        .events
        .iter()
        .filter(|(o, e)| *o == 0 && matches!(e, Event::MemberJoin(_)))
        .count();
    assert_eq!(joins, 8, "node 0 saw itself and 7 joins");
}

#[test]
fn a_crashed_node_is_declared_failed_by_everyone() {
    let mut c = Cluster::joined(6, Config::lan(), 2, 5);
    c.crash(5);
    let crash_at = c.now;
    // Suspicion min = 4 × 1 × 1 s; max = 6 × min = 24 s; plus a probe round or two.
    c.run_until(crash_at + Duration::from_secs(40));
    assert!(c.all_see(5, MemberState::Failed));
    let failed = c
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::MemberFailed(m) if m.name.as_str() == "node-5"))
        .count();
    assert_eq!(failed, 5, "each live node reports the failure once");
    // No false positives: every live node still alive everywhere, incarnations untouched.
    for o in c.live() {
        for m in c.live() {
            assert_eq!(
                c.view(o, m),
                Some((MemberState::Alive, Incarnation(0))),
                "{o} sees {m}"
            );
        }
    }
}

#[test]
fn a_crashed_node_is_detected_faster_with_confirmations_than_the_maximum_timeout() {
    let mut c = Cluster::joined(8, Config::lan(), 3, 5);
    c.crash(7);
    let crash_at = c.now;
    let mut first_failed = None;
    for step in 1..=60 {
        c.run_until(crash_at + Duration::from_millis(500 * step));
        if first_failed.is_none()
            && c.live()
                .iter()
                .any(|&o| c.view(o, 7).map(|v| v.0) == Some(MemberState::Failed))
        {
            first_failed = Some(c.now.saturating_duration_since(crash_at));
        }
    }
    let t = first_failed.expect("failure never declared");
    // max timeout at N=8 is 24 s; confirmations should cut it well below that.
    assert!(t < Duration::from_secs(20), "first failure after {t:?}");
}

#[test]
fn a_false_suspicion_is_refuted_with_a_higher_incarnation() {
    let mut c = Cluster::joined(4, Config::lan(), 4, 3);
    let mut pkt = Vec::new();
    wire::begin_packet(&mut pkt, None);
    wire::push_message(
        &mut pkt,
        &Message::Suspect(wire::Suspect {
            node: "node-1",
            incarnation: 0,
            from: "node-2",
        }),
    );
    let now = c.now;
    c.node(3).handle_datagram(now, addr(2), &pkt).unwrap();
    c.flush(3);
    assert_eq!(c.view(3, 1).map(|v| v.0), Some(MemberState::Suspect));
    c.run_until(now + Duration::from_secs(5));
    for o in 0..4 {
        assert_eq!(
            c.view(o, 1),
            Some((MemberState::Alive, Incarnation(1))),
            "observer {o}"
        );
    }
    assert_eq!(c.nodes[1].as_ref().unwrap().stats().refutations, 1);
}

#[test]
fn a_graceful_leave_is_seen_as_left_everywhere() {
    let mut c = Cluster::joined(5, Config::lan(), 5, 3);
    let now = c.now;
    c.node(2).leave(now);
    c.flush(2);
    c.run_until(now + Duration::from_secs(3));
    assert!(c.all_see(2, MemberState::Left));
    c.crash(2);
    c.run_until(now + Duration::from_secs(60));
    assert!(
        c.all_see(2, MemberState::Left),
        "left stays left, never failed"
    );
    assert!(
        !c.events
            .iter()
            .any(|(_, e)| matches!(e, Event::MemberFailed(_)))
    );
}

#[test]
fn a_node_restarting_under_its_name_at_a_new_address_wins_it_back() {
    let mut c = Cluster::joined(5, Config::lan(), 6, 3);
    c.crash(4);
    c.run_until(c.now + Duration::from_secs(2));
    // Same name, new address, fresh state (incarnation 0).
    let new_addr = SocketAddr::from(([127, 0, 2, 99], 8000));
    c.addrs[4] = new_addr;
    let now = c.now;
    let mut n = new_node(4, new_addr, &c.config, 99, now);
    n.join(now, &[addr(0)]).unwrap();
    c.nodes[4] = Some(n);
    c.flush(4);
    c.run_until(now + Duration::from_secs(5));
    assert!(c.converged());
    for o in 0..4 {
        let m = c.nodes[o].as_ref().unwrap().member("node-4").unwrap();
        assert_eq!(m.addr(), new_addr, "observer {o} has the new address");
    }
}

#[test]
fn a_restarted_node_wins_back_its_name_after_being_declared_failed() {
    let mut c = Cluster::joined(5, Config::lan(), 7, 3);
    c.crash(3);
    c.run_until(c.now + Duration::from_secs(40));
    assert!(c.all_see(3, MemberState::Failed));
    let now = c.now;
    let mut n = new_node(3, addr(3), &c.config, 123, now);
    n.join(now, &[addr(0)]).unwrap();
    c.nodes[3] = Some(n);
    c.flush(3);
    c.run_until(now + Duration::from_secs(5));
    assert!(c.converged(), "restarted node alive everywhere");
}

#[test]
fn a_healed_partition_converges_within_a_few_seconds() {
    let mut c = Cluster::joined(6, Config::lan(), 8, 3);
    c.partition(&[0, 1, 2], &[3, 4, 5]);
    c.run_until(c.now + Duration::from_secs(60));
    assert!(
        c.all_see(0, MemberState::Alive) || c.view(3, 0).map(|v| v.0) == Some(MemberState::Failed)
    );
    assert_eq!(c.view(3, 0).map(|v| v.0), Some(MemberState::Failed));
    assert_eq!(c.view(0, 3).map(|v| v.0), Some(MemberState::Failed));
    c.blocked.clear();
    let healed = c.now;
    let mut converged_at = None;
    for step in 1..=40 {
        c.run_until(healed + Duration::from_millis(250 * step));
        if c.converged() {
            converged_at = Some(c.now.saturating_duration_since(healed));
            break;
        }
    }
    let t = converged_at.expect("partition never healed in 10 s");
    assert!(t <= Duration::from_secs(5), "healed after {t:?}");
}

#[test]
fn a_healed_partition_converges_even_after_both_sides_reaped_each_other() {
    let mut config = Config::lan();
    config.reconnect_timeout = Duration::from_secs(40);
    config.seed_reannounce_interval = Duration::from_secs(2);
    let mut c = Cluster::joined(4, config, 9, 3);
    c.partition(&[0, 1], &[2, 3]);
    c.run_until(c.now + Duration::from_secs(120));
    assert_eq!(c.view(0, 2), None, "reaped");
    assert_eq!(c.view(2, 0), None, "reaped");
    c.blocked.clear();
    c.run_until(c.now + Duration::from_secs(8));
    assert!(c.converged(), "seeds re-announce heals a reaped partition");
}

#[test]
fn the_same_seed_and_inputs_give_byte_identical_output() {
    let a = digest(Config::lan(), 42);
    let b = digest(Config::lan(), 42);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_ne!(a, digest(Config::lan(), 43), "the seed matters");
}

#[test]
fn plain_swim_mode_still_detects_failures() {
    let mut config = Config::lan();
    config.lifeguard = false;
    let mut c = Cluster::joined(5, config, 10, 5);
    c.crash(1);
    c.run_until(c.now + Duration::from_secs(20));
    assert!(c.all_see(1, MemberState::Failed));
    for i in c.live() {
        assert_eq!(
            c.nodes[i].as_ref().unwrap().health_score(),
            0,
            "no health score without Lifeguard"
        );
    }
}

#[test]
fn tag_updates_reach_everyone_with_a_higher_incarnation() {
    let mut c = Cluster::joined(4, Config::lan(), 11, 3);
    let now = c.now;
    let tags: Tags = [("role", "db")].into_iter().collect();
    c.node(2).set_tags(now, &tags).unwrap();
    c.flush(2);
    c.run_until(now + Duration::from_secs(3));
    for o in 0..4 {
        let m = c.nodes[o].as_ref().unwrap().member("node-2").unwrap();
        assert_eq!(m.tags().get("role"), Some("db"), "observer {o}");
        assert_eq!(m.incarnation(), Incarnation(1));
    }
    let updates = c
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::MemberUpdate(_)))
        .count();
    assert_eq!(updates, 4, "three observers and the node itself");
    let big: Tags = [("k", "v".repeat(600))].into_iter().collect();
    assert!(matches!(
        c.node(2).set_tags(now, &big),
        Err(CommandError::TagsTooLarge { .. })
    ));
}

#[test]
fn failed_members_are_reaped_after_the_reconnect_timeout() {
    let mut config = Config::lan();
    config.reconnect_timeout = Duration::from_secs(30);
    let mut c = Cluster::joined(4, config, 12, 3);
    c.crash(3);
    c.run_until(c.now + Duration::from_secs(30));
    assert!(c.all_see(3, MemberState::Failed));
    c.run_until(c.now + Duration::from_secs(40));
    for o in 0..3 {
        assert_eq!(c.view(o, 3), None);
    }
    let reaps = c
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::MemberReap(_)))
        .count();
    assert_eq!(reaps, 3);
}

// ---- single-node rules -----------------------------------------------------------------

fn lone(config: Config) -> TestNode {
    new_node(0, addr(0), &config, 1, Instant::ZERO)
}

fn packet(msgs: &[Message<'_>]) -> Vec<u8> {
    let mut p = Vec::new();
    wire::begin_packet(&mut p, None);
    for m in msgs {
        wire::push_message(&mut p, m);
    }
    p
}

fn alive(node: &str, inc: u32, port: u16) -> Message<'_> {
    Message::Alive(wire::Alive {
        node,
        incarnation: inc,
        addr: wire::WireAddr::V4([10, 0, 0, 1], port),
        tags: &[],
    })
}

#[test]
fn an_older_or_equal_alive_does_not_override_newer_state() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 5, 1000)]))
        .unwrap();
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 4, 2000)]))
        .unwrap();
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 5, 3000)]))
        .unwrap();
    assert_eq!(n.member("x").unwrap().addr().port(), 1000);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 6, 4000)]))
        .unwrap();
    assert_eq!(n.member("x").unwrap().addr().port(), 4000);
}

#[test]
fn suspect_applies_at_equal_incarnation_and_alive_needs_a_higher_one() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 3, 1000)]))
        .unwrap();
    let sus = |inc| {
        Message::Suspect(wire::Suspect {
            node: "x",
            incarnation: inc,
            from: "y",
        })
    };
    n.handle_datagram(t, addr(1), &packet(&[sus(2)])).unwrap();
    assert_eq!(
        n.member("x").unwrap().state(),
        MemberState::Alive,
        "older suspicion ignored"
    );
    n.handle_datagram(t, addr(1), &packet(&[sus(3)])).unwrap();
    assert_eq!(n.member("x").unwrap().state(), MemberState::Suspect);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 3, 1000)]))
        .unwrap();
    assert_eq!(
        n.member("x").unwrap().state(),
        MemberState::Suspect,
        "equal alive does not refute"
    );
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 4, 1000)]))
        .unwrap();
    assert_eq!(n.member("x").unwrap().state(), MemberState::Alive);
}

#[test]
fn dead_overrides_at_equal_incarnation_and_is_announced_as_failed() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 2, 1000)]))
        .unwrap();
    let dead = Message::Dead(wire::Dead {
        node: "x",
        incarnation: 2,
        from: "y",
    });
    n.handle_datagram(t, addr(1), &packet(&[dead])).unwrap();
    assert_eq!(n.member("x").unwrap().state(), MemberState::Failed);
    let names: Vec<&str> = core::iter::from_fn(|| n.poll_event())
        .map(|e| e.name())
        .collect();
    assert_eq!(names, ["member-join", "member-join", "member-failed"]);
}

#[test]
fn news_of_our_own_death_is_refuted() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let dead = Message::Dead(wire::Dead {
        node: "node-0",
        incarnation: 0,
        from: "y",
    });
    n.handle_datagram(t, addr(1), &packet(&[dead])).unwrap();
    assert_eq!(n.local().state(), MemberState::Alive);
    assert_eq!(n.local().incarnation(), Incarnation(1));
    assert_eq!(
        n.health_score(),
        1,
        "refuting raises the Lifeguard health score"
    );
    let old = Message::Suspect(wire::Suspect {
        node: "node-0",
        incarnation: 0,
        from: "y",
    });
    n.handle_datagram(t, addr(1), &packet(&[old])).unwrap();
    assert_eq!(
        n.local().incarnation(),
        Incarnation(1),
        "stale suspicion needs no refutation"
    );
}

#[test]
fn suspicion_times_out_into_failure_at_the_minimum_without_confirmations_in_a_small_cluster() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 0, 1000)]))
        .unwrap();
    let sus = Message::Suspect(wire::Suspect {
        node: "x",
        incarnation: 0,
        from: "y",
    });
    n.handle_datagram(t, addr(1), &packet(&[sus])).unwrap();
    // N = 2 < k + 2, so k = 0: the minimum, 4 × probe_interval.
    n.handle_timeout(t + Duration::from_millis(3999));
    assert_eq!(n.member("x").unwrap().state(), MemberState::Suspect);
    n.handle_timeout(t + Duration::from_secs(4));
    assert_eq!(n.member("x").unwrap().state(), MemberState::Failed);
    assert_eq!(n.stats().failures_declared, 1);
}

#[test]
fn confirmations_shorten_a_suspicion_in_a_larger_cluster() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    for i in 0..10 {
        n.handle_datagram(t, addr(1), &packet(&[alive(&format!("m{i}"), 0, 1000 + i)]))
            .unwrap();
    }
    let sus = |from| {
        Message::Suspect(wire::Suspect {
            node: "m0",
            incarnation: 0,
            from,
        })
    };
    n.handle_datagram(t, addr(1), &packet(&[sus("m1")]))
        .unwrap();
    // N = 11: min = 4 × log10(11) s ≈ 4.165 s, max = 6 × min; k = 2.
    n.handle_timeout(t + Duration::from_secs(20));
    assert_eq!(
        n.member("m0").unwrap().state(),
        MemberState::Suspect,
        "still waiting for max"
    );
    n.handle_datagram(
        t + Duration::from_secs(20),
        addr(1),
        &packet(&[sus("m2"), sus("m3")]),
    )
    .unwrap();
    n.handle_timeout(t + Duration::from_secs(20));
    assert_eq!(
        n.member("m0").unwrap().state(),
        MemberState::Failed,
        "two confirmations ⇒ min"
    );
}

#[test]
fn broadcasts_are_retransmitted_a_limited_number_of_times() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 0, 1000)]))
        .unwrap();
    // N = 2 ⇒ limit = 4 × ⌈log10 3⌉ = 4 sends per broadcast.
    let mut sends = 0;
    let mut buf = Vec::new();
    let mut now = t;
    for _ in 0..50 {
        now += Duration::from_millis(200);
        n.handle_timeout(now);
        while let Some(tx) = n.poll_transmit(now, &mut buf) {
            if tx.channel == Channel::Datagram {
                let p = wire::decode_packet(&buf, 1400).unwrap();
                sends += p
                    .messages()
                    .filter(|m| matches!(m, Ok(Message::Alive(_))))
                    .count();
            }
        }
    }
    // Our own join alive was never queued; x's alive and nothing else.
    assert_eq!(sends, 4);
    assert_eq!(n.pending_broadcasts(), 0);
}

#[test]
fn the_broadcast_queue_cap_drops_and_counts() {
    let mut config = Config::lan();
    config.broadcast_queue_max = 10;
    let mut n = lone(config);
    let t = Instant::from_secs(1);
    for i in 0..25 {
        n.handle_datagram(t, addr(1), &packet(&[alive(&format!("m{i}"), 0, 1000)]))
            .unwrap();
    }
    assert_eq!(n.pending_broadcasts(), 10);
    assert_eq!(n.stats().broadcasts_dropped, 15);
}

#[test]
fn failed_probes_without_helpers_raise_the_health_score_and_stretch_the_interval() {
    let mut n = lone(Config::lan());
    let t = Instant::ZERO;
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 0, 1000)]))
        .unwrap();
    let mut now = t;
    let mut buf = Vec::new();
    for _ in 0..200 {
        now = n.poll_timeout().max(now);
        n.handle_timeout(now);
        while n.poll_transmit(now, &mut buf).is_some() {}
        if n.stats().probes >= 3 {
            break;
        }
    }
    assert!(n.stats().probe_failures >= 2, "{:?}", n.stats());
    assert!(n.health_score() >= 2);
}

#[test]
fn a_push_pull_merges_state_and_is_answered() {
    let mut n = lone(Config::lan());
    let members = vec![
        wire::PushPullMember {
            name: "peer",
            addr: wire::WireAddr::V4([10, 0, 0, 2], 7946),
            incarnation: 3,
            state: wire::WireState::Alive,
            tags: &[],
        },
        wire::PushPullMember {
            name: "gone",
            addr: wire::WireAddr::V4([10, 0, 0, 3], 7946),
            incarnation: 1,
            state: wire::WireState::Left,
            tags: &[],
        },
        wire::PushPullMember {
            name: "node-0",
            addr: wire::WireAddr::V4([10, 0, 0, 9], 7946),
            incarnation: 7,
            state: wire::WireState::Dead,
            tags: &[],
        },
    ];
    let msg = Message::PushPull(wire::PushPull {
        join: true,
        reply: false,
        source: "peer",
        source_addr: wire::WireAddr::V4([10, 0, 0, 2], 7946),
        members,
    });
    let t = Instant::from_secs(1);
    n.handle_stream(t, addr(9), &packet(&[msg])).unwrap();
    assert_eq!(n.member("peer").unwrap().state(), MemberState::Alive);
    assert!(
        n.member("gone").is_none(),
        "a left member we never knew is not learned"
    );
    assert_eq!(
        n.local().incarnation(),
        Incarnation(8),
        "refuted the remote's view of us"
    );
    let mut buf = Vec::new();
    let tx = n.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(
        (tx.channel, tx.dst),
        (Channel::Stream, SocketAddr::from(([10, 0, 0, 2], 7946)))
    );
    let p = wire::decode_packet(&buf, 1 << 20).unwrap();
    let Some(Ok(Message::PushPull(reply))) = p.messages().next() else {
        panic!("not a push-pull")
    };
    assert!(reply.reply);
    assert_eq!(reply.members[0].name, "node-0");
    assert_eq!(reply.members[0].incarnation, 8);
}

#[test]
fn pings_for_another_name_are_ignored_and_pings_for_us_are_acked() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let ping = |target| {
        Message::Ping(wire::Ping {
            seq: 9,
            target,
            source: "p",
            source_addr: wire::WireAddr::V4([10, 0, 0, 2], 7946),
        })
    };
    n.handle_datagram(t, addr(1), &packet(&[ping("someone-else")]))
        .unwrap();
    let mut buf = Vec::new();
    assert!(n.poll_transmit(t, &mut buf).is_none());
    assert_eq!(n.stats().misdirected_pings, 1);
    n.handle_datagram(t, addr(1), &packet(&[ping("node-0")]))
        .unwrap();
    let tx = n.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(tx.dst, addr(1));
    let p = wire::decode_packet(&buf[..tx.len], 1400).unwrap();
    assert_eq!(
        p.messages().next(),
        Some(Ok(Message::Ack(wire::Ack { seq: 9 })))
    );
}

#[test]
fn bad_input_is_rejected_counted_and_changes_nothing() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    assert!(n.handle_datagram(t, addr(1), &[]).is_err());
    assert!(n.handle_datagram(t, addr(1), &[9, 0, 1, 2]).is_err());
    assert!(n.handle_datagram(t, addr(1), &vec![1u8; 5000]).is_err());
    let bad_name = packet(&[alive("", 1, 1000)]);
    assert_eq!(
        n.handle_datagram(t, addr(1), &bad_name),
        Err(InboundError::InvalidField)
    );
    let push_pull_as_datagram = packet(&[Message::PushPull(wire::PushPull {
        join: false,
        reply: true,
        source: "x",
        source_addr: wire::WireAddr::V4([1, 2, 3, 4], 5),
        members: vec![],
    })]);
    assert_eq!(
        n.handle_datagram(t, addr(1), &push_pull_as_datagram),
        Err(InboundError::WrongChannel)
    );
    assert_eq!(n.member_count(), 1);
    assert_eq!(n.stats().decode_errors, 3);
    assert_eq!(n.stats().invalid_messages, 2);
}

#[test]
fn a_full_member_table_rejects_unknown_members() {
    let mut config = Config::lan();
    config.members_max = 5;
    let mut n = lone(config);
    let t = Instant::from_secs(1);
    for i in 0..10 {
        n.handle_datagram(t, addr(1), &packet(&[alive(&format!("m{i}"), 0, 1000)]))
            .unwrap();
    }
    assert_eq!(n.member_count(), 5);
    assert_eq!(n.stats().members_rejected, 6);
}

#[test]
fn a_left_node_rejoins_with_a_higher_incarnation() {
    let mut c = Cluster::joined(3, Config::lan(), 13, 3);
    let now = c.now;
    c.node(1).leave(now);
    c.flush(1);
    c.run_until(now + Duration::from_secs(3));
    assert!(c.all_see(1, MemberState::Left));
    let now = c.now;
    c.node(1).join(now, &[addr(0)]).unwrap();
    c.flush(1);
    c.run_until(now + Duration::from_secs(3));
    assert!(c.converged());
    assert_eq!(c.view(0, 1), Some((MemberState::Alive, Incarnation(1))));
}

#[test]
fn ipv6_members_work_like_ipv4_ones() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let a6 = Message::Alive(wire::Alive {
        node: "v6",
        incarnation: 1,
        addr: wire::WireAddr::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 7946),
        tags: &[],
    });
    n.handle_datagram(t, addr(1), &packet(&[a6])).unwrap();
    assert_eq!(
        n.member("v6").unwrap().addr(),
        "[::1]:7946".parse::<SocketAddr>().unwrap()
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_bytes_never_panic_and_never_grow_queues_past_their_caps(
            inputs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200), 0u64..3_000_000), 1..40)
        ) {
            let mut config = Config::lan();
            config.broadcast_queue_max = 8;
            config.transmit_queue_max = 8;
            config.events_max = 8;
            let mut n = lone(config);
            let mut now = Instant::ZERO;
            for (stream, mut bytes, dt) in inputs {
                now += Duration::from_micros(dt);
                if bytes.len() > 2 && bytes[0] % 2 == 0 {
                    // Half the time, make the envelope valid so message decoding is exercised.
                    bytes[0] = wire::VERSION;
                    bytes[1] = 0;
                }
                let _ = if stream { n.handle_stream(now, addr(1), &bytes) } else { n.handle_datagram(now, addr(1), &bytes) };
                n.handle_timeout(now);
                prop_assert!(n.poll_timeout() > now, "a deadline left in the past");
                prop_assert!(n.pending_broadcasts() <= 8);
                prop_assert!(n.pending_transmits() <= 8);
                prop_assert!(n.pending_events() <= 8);
            }
        }

        #[test]
        fn arbitrary_valid_messages_never_panic(
            names in proptest::collection::vec("[a-c]{1,2}", 1..6),
            incs in proptest::collection::vec(0u32..4, 1..30),
            kinds in proptest::collection::vec(0u8..5, 1..30),
        ) {
            let mut n = lone(Config::lan());
            let mut now = Instant::ZERO;
            for (i, (inc, kind)) in incs.iter().zip(kinds.iter()).enumerate() {
                let node = names[i % names.len()].as_str();
                let from = names[(i + 1) % names.len()].as_str();
                let msg = match kind {
                    0 => alive(node, *inc, 1000),
                    1 => Message::Suspect(wire::Suspect { node, incarnation: *inc, from }),
                    2 => Message::Dead(wire::Dead { node, incarnation: *inc, from }),
                    3 => Message::Leave(wire::Leave { node, incarnation: *inc }),
                    _ => Message::Suspect(wire::Suspect { node: "node-0", incarnation: *inc, from }),
                };
                now += Duration::from_millis(300);
                n.handle_datagram(now, addr(1), &packet(&[msg])).unwrap();
                n.handle_timeout(now);
                let mut buf = Vec::new();
                while n.poll_transmit(now, &mut buf).is_some() {}
                // Live count matches the table.
                let live = n.members().filter(|m| m.state().is_live()).count();
                prop_assert_eq!(live, n.live_members());
                prop_assert_eq!(n.local().state(), MemberState::Alive);
            }
        }
    }
}

// ---- Serf layer ------------------------------------------------------------------------

fn user_events(c: &Cluster, node: usize) -> Vec<(LamportTime, String, Vec<u8>)> {
    c.events
        .iter()
        .filter(|(o, _)| *o == node)
        .filter_map(|(_, e)| match e {
            Event::User {
                ltime,
                name,
                payload,
                ..
            } => Some((*ltime, name.clone(), payload.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_user_event_reaches_every_node_exactly_once() {
    let mut c = Cluster::joined(8, Config::lan(), 20, 3);
    let now = c.now;
    let ltime = c.node(3).user_event(now, "deploy", b"v42", true).unwrap();
    c.flush(3);
    c.run_until(now + Duration::from_secs(5));
    for o in 0..8 {
        assert_eq!(
            user_events(&c, o),
            vec![(ltime, "deploy".into(), b"v42".to_vec())],
            "node {o}"
        );
    }
    // A second, different event gets a newer Lamport time.
    let now = c.now;
    let next = c.node(5).user_event(now, "deploy", b"v43", true).unwrap();
    assert!(next > ltime);
}

#[test]
fn user_event_limits_and_reserved_names_are_enforced() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let err = n.user_event(t, "big", &[0u8; 600], false).unwrap_err();
    assert_eq!(
        err,
        CommandError::PayloadTooLarge {
            what: "user event",
            limit: "user_event_bytes_max",
            len: 603,
            max: 512
        }
    );
    assert_eq!(
        n.user_event(t, "_hearsay_x", b"", false),
        Err(CommandError::ReservedName)
    );
    assert_eq!(
        n.user_event(t, "", b"", false),
        Err(CommandError::ReservedName)
    );
    assert_eq!(n.pending_broadcasts(), 0, "nothing sent");
}

#[test]
fn an_event_too_large_for_a_datagram_travels_over_the_stream_channel() {
    let mut config = Config::lan();
    config.user_event_bytes_max = 8 << 10;
    let mut c = Cluster::joined(6, config, 21, 3);
    let now = c.now;
    let payload = vec![7u8; 5000];
    c.node(0).user_event(now, "blob", &payload, false).unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(5));
    for o in 0..6 {
        let got = user_events(&c, o);
        assert_eq!(got.len(), 1, "node {o}");
        assert_eq!(got[0].2, payload);
    }
    assert!(c.nodes[0].as_ref().unwrap().stats().stream_forwards > 0);
}

#[test]
fn an_event_sent_during_a_partition_reaches_the_other_side_after_the_heal() {
    let mut c = Cluster::joined(6, Config::lan(), 22, 3);
    c.partition(&[0, 1, 2], &[3, 4, 5]);
    c.run_until(c.now + Duration::from_secs(5));
    let now = c.now;
    c.node(1)
        .user_event(now, "during", b"split", false)
        .unwrap();
    c.flush(1);
    c.run_until(now + Duration::from_secs(30));
    assert!(user_events(&c, 4).is_empty(), "blocked by the partition");
    c.blocked.clear();
    c.run_until(c.now + Duration::from_secs(70));
    for o in 0..6 {
        assert_eq!(user_events(&c, o).len(), 1, "node {o}");
    }
}

#[test]
fn a_joiner_gets_old_events_only_with_replay() {
    let mut c = Cluster::joined(3, Config::lan(), 23, 3);
    let now = c.now;
    c.node(0).user_event(now, "old", b"1", false).unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    c.nodes
        .push(Some(new_node(3, addr(3), &c.config, 23, c.now)));
    c.addrs.push(addr(3));
    c.nodes
        .push(Some(new_node(4, addr(4), &c.config, 23, c.now)));
    c.addrs.push(addr(4));
    let now = c.now;
    c.node(3).join(now, &[addr(0)]).unwrap();
    c.node(4).join_replay(now, &[addr(0)]).unwrap();
    c.flush(3);
    c.flush(4);
    c.run_until(now + Duration::from_secs(40));
    assert!(user_events(&c, 3).is_empty(), "no replay by default");
    assert_eq!(user_events(&c, 4).len(), 1, "replayed");
}

fn responses(c: &Cluster, node: usize, id: QueryId) -> (Vec<String>, Vec<String>, bool) {
    let mut acks = Vec::new();
    let mut resp = Vec::new();
    let mut done = false;
    for (o, e) in &c.events {
        if *o != node {
            continue;
        }
        match e {
            Event::QueryAck { id: i, from } if *i == id => acks.push(String::from(from.as_str())),
            Event::QueryResponse { id: i, from, .. } if *i == id => {
                resp.push(String::from(from.as_str()))
            }
            Event::QueryDone { id: i } if *i == id => done = true,
            _ => {}
        }
    }
    acks.sort();
    resp.sort();
    (acks, resp, done)
}

/// Runs the cluster, answering every delivered query with the responder's name.
fn run_answering(c: &mut Cluster, until: Instant) {
    let mut answered = 0;
    while c.now < until {
        let step = (c.now + Duration::from_millis(50)).min(until);
        c.run_until(step);
        let new: Vec<(usize, QueryId)> = c.events[answered..]
            .iter()
            .filter_map(|(o, e)| match e {
                Event::Query { id, .. } => Some((*o, *id)),
                _ => None,
            })
            .collect();
        answered = c.events.len();
        let now = c.now;
        for (o, id) in new {
            let me = name(o);
            c.node(o).respond(now, id, me.as_bytes()).unwrap();
            c.flush(o);
        }
    }
}

#[test]
fn a_query_with_a_tag_filter_gets_exactly_the_matching_responses() {
    let mut c = Cluster::joined(6, Config::lan(), 24, 2);
    let now = c.now;
    for i in [1, 3, 4] {
        let tags: Tags = [("role", "web")].into_iter().collect();
        c.node(i).set_tags(now, &tags).unwrap();
        c.flush(i);
    }
    c.run_until(now + Duration::from_secs(2));
    let now = c.now;
    let params = QueryParams {
        name: "uptime".into(),
        filter_tags: vec![("role".into(), "^we".into())],
        request_ack: true,
        relay_factor: 2,
        timeout: Some(Duration::from_secs(3)),
        ..QueryParams::default()
    };
    let id = c.node(0).query(now, &params).unwrap();
    c.flush(0);
    run_answering(&mut c, now + Duration::from_secs(4));
    let (acks, resp, done) = responses(&c, 0, id);
    let expected: Vec<String> = [1, 3, 4].iter().map(|i| name(*i)).collect();
    assert_eq!(acks, expected);
    assert_eq!(resp, expected, "each responder once, relays deduplicated");
    assert!(done);
    assert!(
        c.nodes
            .iter()
            .flatten()
            .map(|n| n.stats().query_relays)
            .sum::<u64>()
            > 0,
        "relays were used"
    );
}

#[test]
fn a_query_without_filters_is_answered_by_everyone_including_the_asker() {
    let mut c = Cluster::joined(5, Config::lan(), 25, 2);
    let now = c.now;
    let id = c
        .node(2)
        .query(
            now,
            &QueryParams {
                name: "who".into(),
                ..QueryParams::default()
            },
        )
        .unwrap();
    c.flush(2);
    run_answering(&mut c, now + Duration::from_secs(5));
    let (acks, resp, done) = responses(&c, 2, id);
    assert!(acks.is_empty(), "no acks requested");
    assert_eq!(resp.len(), 5);
    assert!(done);
    // Responding twice or after the timeout is refused.
    let now = c.now;
    assert_eq!(
        c.node(1).respond(now, id, b"late"),
        Err(CommandError::UnknownQuery)
    );
}

#[test]
fn the_default_query_timeout_follows_the_serf_formula() {
    let c = Cluster::joined(12, Config::lan(), 26, 3);
    // 200 ms × 16 × ⌈log10(13)⌉ = 6.4 s
    assert_eq!(
        c.nodes[0].as_ref().unwrap().default_query_timeout(),
        Duration::from_millis(6400)
    );
    let n = lone(Config::lan());
    assert_eq!(n.default_query_timeout(), Duration::from_millis(3200));
}

#[test]
fn query_errors_are_clear_and_send_nothing() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let bad_regex = QueryParams {
        name: "q".into(),
        filter_tags: vec![("k".into(), "(".into())],
        ..QueryParams::default()
    };
    assert_eq!(n.query(t, &bad_regex), Err(CommandError::InvalidFilter));
    let big = QueryParams {
        name: "q".into(),
        payload: vec![0; 2000],
        ..QueryParams::default()
    };
    assert!(matches!(
        n.query(t, &big),
        Err(CommandError::PayloadTooLarge {
            limit: "query_bytes_max",
            ..
        })
    ));
    let reserved = QueryParams {
        name: "_hearsay_ping".into(),
        ..QueryParams::default()
    };
    assert_eq!(n.query(t, &reserved), Err(CommandError::ReservedName));
    assert_eq!(n.pending_broadcasts(), 0);
    assert_eq!(
        n.respond(t, QueryId::from_u64(1), b"x"),
        Err(CommandError::UnknownQuery)
    );
}

#[test]
fn reachability_collects_an_ack_from_every_live_node() {
    let mut c = Cluster::joined(6, Config::lan(), 27, 3);
    c.crash(5);
    let now = c.now;
    let id = c
        .node(0)
        .reachability(now, Some(Duration::from_secs(2)))
        .unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    let (acks, resp, done) = responses(&c, 0, id);
    assert_eq!(acks.len(), 5, "{acks:?}");
    assert!(resp.is_empty());
    assert!(done);
    assert!(
        !c.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Query { .. })),
        "internal: no app event"
    );
}

#[test]
fn force_leave_turns_a_failed_member_into_a_left_one_everywhere() {
    let mut c = Cluster::joined(5, Config::lan(), 28, 3);
    c.crash(4);
    c.run_until(c.now + Duration::from_secs(40));
    assert!(c.all_see(4, MemberState::Failed));
    let now = c.now;
    c.node(0).force_leave(now, "node-4", false).unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    assert!(c.all_see(4, MemberState::Left));
    let now = c.now;
    c.node(1).force_leave(now, "node-4", true).unwrap();
    c.flush(1);
    c.run_until(now + Duration::from_secs(3));
    for o in 0..4 {
        assert_eq!(c.view(o, 4), None, "pruned on {o}");
    }
    assert_eq!(
        c.node(0).force_leave(now, "nobody", false),
        Err(CommandError::UnknownMember)
    );
}

#[test]
fn a_leave_intent_that_overtakes_the_join_keeps_the_member_out() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let leave = Message::Intent(wire::Intent {
        kind: wire::IntentKind::Leave,
        node: "x",
        ltime: 5,
        prune: false,
    });
    n.handle_datagram(t, addr(1), &packet(&[leave])).unwrap();
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 0, 1000)]))
        .unwrap();
    assert_eq!(n.member("x").unwrap().state(), MemberState::Left);
    assert!(
        n.member_time() > LamportTime(5),
        "the member clock witnessed the intent"
    );
    // An old join intent afterwards changes nothing; a newer alive (rejoin) does.
    let old_join = Message::Intent(wire::Intent {
        kind: wire::IntentKind::Join,
        node: "x",
        ltime: 3,
        prune: false,
    });
    n.handle_datagram(t, addr(1), &packet(&[old_join])).unwrap();
    assert_eq!(n.member("x").unwrap().state(), MemberState::Left);
    n.handle_datagram(t, addr(1), &packet(&[alive("x", 1, 1000)]))
        .unwrap();
    assert_eq!(n.member("x").unwrap().state(), MemberState::Alive);
}

#[test]
fn a_leave_intent_about_ourselves_is_refuted_with_a_newer_join() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let leave = Message::Intent(wire::Intent {
        kind: wire::IntentKind::Leave,
        node: "node-0",
        ltime: 9,
        prune: false,
    });
    n.handle_datagram(t, addr(1), &packet(&[leave])).unwrap();
    assert_eq!(n.local().state(), MemberState::Alive);
    assert_eq!(n.pending_broadcasts_of(BroadcastClass::Intent), 1);
    assert!(n.member_time() > LamportTime(10));
}

#[test]
fn two_live_nodes_claiming_one_name_are_settled_by_a_vote() {
    let mut c = Cluster::joined(6, Config::lan(), 29, 3);
    // An impostor takes node-2's name at another address and joins through node-5.
    let impostor_addr = SocketAddr::from(([127, 0, 9, 9], 7946));
    let now = c.now;
    let mut imp = new_node(2, impostor_addr, &c.config, 777, now);
    imp.join(now, &[addr(5)]).unwrap();
    c.nodes.push(Some(imp));
    c.addrs.push(impostor_addr);
    c.flush(6);
    c.run_until(now + Duration::from_secs(30));
    let conflicts: Vec<usize> = c
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::NameConflict { .. }))
        .map(|(o, _)| *o)
        .collect();
    assert_eq!(conflicts.len(), 1, "exactly one side loses: {conflicts:?}");
    let loser = conflicts[0];
    assert!(loser == 2 || loser == 6);
    assert!(c.nodes[loser].as_ref().unwrap().lost_name_conflict());
    let winner_addr = if loser == 2 { impostor_addr } else { addr(2) };
    c.run_until(c.now + Duration::from_secs(10));
    for o in [0, 1, 3, 4, 5] {
        let m = c.nodes[o].as_ref().unwrap().member("node-2").unwrap();
        assert_eq!(
            (m.addr(), m.state()),
            (winner_addr, MemberState::Alive),
            "observer {o}"
        );
    }
}

#[test]
fn a_flood_of_user_events_does_not_delay_failure_detection() {
    let mut config = Config::lan();
    config.user_event_bytes_max = 1000;
    let mut c = Cluster::joined(8, config, 30, 3);
    c.crash(7);
    let crash_at = c.now;
    let mut failed_at = None;
    for step in 0..400u64 {
        let now = c.now;
        for i in 0..3 {
            let payload = vec![step as u8; 400];
            c.node(i)
                .user_event(now, &format!("flood-{i}"), &payload, false)
                .unwrap();
            c.flush(i);
        }
        c.run_until(crash_at + Duration::from_millis(100 * (step + 1)));
        if failed_at.is_none() && c.all_see(7, MemberState::Failed) {
            failed_at = Some(c.now.saturating_duration_since(crash_at));
            break;
        }
    }
    let t = failed_at.expect("never declared failed under the flood");
    assert!(
        t < Duration::from_secs(30),
        "all declared failed after {t:?}"
    );
    let dropped: u64 = (0..7)
        .map(|i| {
            c.nodes[i]
                .as_ref()
                .unwrap()
                .stats()
                .broadcasts_dropped_by_class[0]
        })
        .sum();
    assert_eq!(dropped, 0, "no membership news was dropped");
}

#[test]
fn lamport_clocks_travel_in_push_pull() {
    let mut c = Cluster::joined(2, Config::lan(), 31, 1);
    let now = c.now;
    for i in 0..20 {
        c.node(0)
            .user_event(now, &format!("e{i}"), b"", false)
            .unwrap();
    }
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    c.nodes
        .push(Some(new_node(2, addr(2), &c.config, 31, c.now)));
    c.addrs.push(addr(2));
    let now = c.now;
    c.node(2).join(now, &[addr(1)]).unwrap();
    c.flush(2);
    c.run_until(now + Duration::from_secs(1));
    assert!(c.nodes[2].as_ref().unwrap().event_time() >= LamportTime(20));
}

#[test]
fn an_event_reaches_everyone_at_ten_percent_loss_with_push_pull_catching_up() {
    let mut config = Config::lan();
    config.push_pull_interval = Duration::from_secs(10);
    let mut c = Cluster::joined(20, config, 32, 5);
    c.loss_percent = 10;
    let now = c.now;
    c.node(0).user_event(now, "lossy", b"p", false).unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    let early = (0..20).filter(|&o| user_events(&c, o).len() == 1).count();
    c.run_until(now + Duration::from_secs(60));
    for o in 0..20 {
        assert_eq!(
            user_events(&c, o).len(),
            1,
            "node {o} (had {early}/20 after 3 s)"
        );
    }
    assert!(early >= 18, "gossip alone reached {early}/20 within 3 s");
    let fp = c
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::MemberFailed(_)))
        .count();
    assert_eq!(fp, 0, "no false failures at 10% loss");
}

mod serf_props {
    use super::*;
    use proptest::prelude::*;

    fn arb_message() -> impl Strategy<Value = (u8, String, u64, u32, Vec<u8>, bool)> {
        (
            0u8..6,
            "[a-d_]{0,12}",
            0u64..2000,
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn arbitrary_serf_messages_never_panic_and_buffers_stay_within_caps(
            msgs in proptest::collection::vec(arb_message(), 1..60)
        ) {
            let mut config = Config::lan();
            config.event_buffer_size = 8;
            config.query_buffer_size = 8;
            config.pending_responses_max = 4;
            config.recent_intents_max = 4;
            config.events_max = 16;
            config.broadcast_queue_max = 16;
            let mut n = lone(config);
            let mut now = Instant::ZERO;
            for (kind, name, ltime, id, payload, flag) in msgs {
                let filters = if flag { vec![wire::Filter::Tag { key: "k", regex: &name }] } else { vec![] };
                let msg = match kind {
                    0 => Message::UserEvent(wire::UserEvent { ltime, name: &name, payload: &payload, coalesce: flag }),
                    1 => Message::Query(wire::Query { ltime, id, from: "asker", from_addr: wire::WireAddr::V4([10, 0, 0, 1], 1), filters, request_ack: flag, relay_factor: (id % 4) as u8, timeout_ms: id % 5000, name: &name, payload: &payload }),
                    2 => Message::QueryResponse(wire::QueryResponse { ltime, id, from: "r", ack: flag, payload: &payload }),
                    3 => Message::QueryRelay(wire::QueryRelay { dest: wire::WireAddr::V4([10, 0, 0, 2], 2), response: wire::QueryResponse { ltime, id, from: "r", ack: flag, payload: &payload } }),
                    4 => Message::Intent(wire::Intent { kind: if flag { wire::IntentKind::Join } else { wire::IntentKind::Leave }, node: if name.is_empty() { "x" } else { &name }, ltime, prune: flag }),
                    _ => Message::SerfState(wire::SerfState { member_ltime: ltime, event_ltime: ltime, query_ltime: u64::from(id), events: vec![wire::UserEvent { ltime, name: &name, payload: &payload, coalesce: flag }] }),
                };
                now += Duration::from_millis(100);
                let bytes = packet(&[msg]);
                let _ = if kind == 5 { n.handle_stream(now, addr(1), &bytes) } else { n.handle_datagram(now, addr(1), &bytes) };
                n.handle_timeout(now);
                if let Some(Event::Query { id, .. }) = n.poll_event() {
                    let _ = n.respond(now, id, b"answer");
                }
                let mut buf = Vec::new();
                while let Some(t) = n.poll_transmit(now, &mut buf) {
                    prop_assert!(t.channel == Channel::Stream || t.len <= 1400);
                }
                prop_assert!(n.pending_events() <= 16);
                prop_assert!(n.pending_responses_len() <= 4);
                prop_assert!(n.recent_intents_len() <= 4);
                for class in BroadcastClass::ALL {
                    prop_assert!(n.pending_broadcasts_of(class) <= 16);
                }
            }
        }
    }
}

// ---- Security: labels and sealing ------------------------------------------------------

fn ring(b: u8) -> Keyring {
    Keyring::new(SecretKey::new([b; KEY_BYTES]))
}

/// A cluster whose nodes get `setup` before anyone joins; node `n - 1` joins last, after
/// the others converged.
fn secured(n: usize, seed: u64, setup: impl Fn(usize, &mut TestNode)) -> Cluster {
    let mut c = Cluster::new(n, Config::lan(), seed);
    for i in 0..n {
        setup(i, c.node(i));
    }
    for i in 1..n - 1 {
        c.node(i).join(Instant::ZERO, &[addr(0)]).unwrap();
    }
    c.flush_all();
    c.run_until(Instant::from_secs(3));
    let now = c.now;
    c.node(n - 1).join(now, &[addr(0)]).unwrap();
    c.flush(n - 1);
    c.run_until(now + Duration::from_secs(10));
    c
}

fn knows(c: &Cluster, observer: usize, of: usize) -> bool {
    c.view(observer, of)
        .is_some_and(|v| v.0 == MemberState::Alive)
}

#[test]
fn an_encrypted_cluster_works_and_its_packets_are_sealed() {
    let c = secured(4, 40, |_, n| n.set_keyring(Some(ring(1))));
    assert!(c.converged());
    let s = c.nodes[0].as_ref().unwrap().stats();
    assert_eq!((s.decrypt_failures, s.plaintext_rejected), (0, 0));
    let mut c = c;
    let now = c.now;
    c.node(0).join(now, &[addr(1)]).unwrap();
    let mut buf = Vec::new();
    let t = c.node(0).poll_transmit(now, &mut buf).unwrap();
    assert_eq!(
        buf[1] & wire::FLAG_SEALED,
        wire::FLAG_SEALED,
        "sealed on the wire"
    );
    assert!(
        wire::decode_packet(&buf[..t.len], usize::MAX)
            .unwrap()
            .sealed
    );
}

#[test]
fn a_node_without_the_key_cannot_join_and_the_cluster_is_unaffected() {
    let c = secured(4, 41, |i, n| {
        if i != 3 {
            n.set_keyring(Some(ring(1)));
        }
    });
    for o in 0..3 {
        assert!(!knows(&c, o, 3), "observer {o} learned the keyless node");
        for m in 0..3 {
            assert!(knows(&c, o, m));
        }
    }
    assert!(
        c.nodes[0].as_ref().unwrap().stats().plaintext_rejected > 0,
        "its join was refused"
    );
    assert_eq!(
        c.nodes[3].as_ref().unwrap().member_count(),
        1,
        "it learned nothing"
    );
}

#[test]
fn a_node_with_a_wrong_key_cannot_join() {
    let c = secured(4, 42, |i, n| {
        n.set_keyring(Some(ring(if i == 3 { 9 } else { 1 })))
    });
    for o in 0..3 {
        assert!(!knows(&c, o, 3));
    }
    assert!(c.nodes[0].as_ref().unwrap().stats().decrypt_failures > 0);
    assert!(
        !c.events
            .iter()
            .any(|(o, e)| *o < 3 && matches!(e, Event::MemberFailed(_)))
    );
}

#[test]
fn a_node_with_another_cluster_label_cannot_join() {
    let mut config = Config::lan();
    config.label = Some("prod".into());
    let mut c = Cluster::new(4, config.clone(), 43);
    let mut other = config;
    other.label = Some("staging".into());
    c.nodes[3] = Some(new_node(3, addr(3), &other, 43, Instant::ZERO));
    for i in 1..4 {
        c.node(i).join(Instant::ZERO, &[addr(0)]).unwrap();
    }
    c.flush_all();
    c.run_until(Instant::from_secs(10));
    for o in 0..3 {
        assert!(!knows(&c, o, 3));
        for m in 0..3 {
            assert!(knows(&c, o, m));
        }
    }
    assert!(c.nodes[0].as_ref().unwrap().stats().label_mismatches > 0);
}

#[test]
fn encryption_is_turned_on_in_a_live_cluster_without_anyone_failing() {
    let mut c = Cluster::joined(5, Config::lan(), 44, 3);
    let step = |c: &mut Cluster, f: &dyn Fn(&mut TestNode)| {
        for i in 0..5 {
            f(c.node(i));
        }
        let now = c.now;
        c.run_until(now + Duration::from_secs(20));
        assert!(c.converged());
    };
    // 1: every node gets the key but still sends plaintext and accepts both.
    step(&mut c, &|n| {
        n.set_encryption_step(EncryptionStep::Prepare);
        n.set_keyring(Some(ring(5)));
        assert_eq!(n.encryption_step(), Some(EncryptionStep::Prepare));
    });
    // 2: every node seals.
    step(&mut c, &|n| n.set_encryption_step(EncryptionStep::Seal));
    // 3: plaintext is no longer accepted.
    step(&mut c, &|n| n.set_encryption_step(EncryptionStep::Enforce));
    assert!(
        !c.events
            .iter()
            .any(|(_, e)| matches!(e, Event::MemberFailed(_)))
    );
    assert_eq!(c.nodes[2].as_ref().unwrap().stats().plaintext_rejected, 0);
}

#[test]
fn a_node_that_missed_a_rotation_rejoins_once_given_the_current_key() {
    let mut c = secured(4, 45, |_, n| n.set_keyring(Some(ring(1))));
    // Rotate on nodes 0..3 while node 3 keeps only the old key.
    for i in 0..3 {
        let k = c.node(i).keyring_mut().unwrap();
        k.install(SecretKey::new([2; KEY_BYTES])).unwrap();
        k.use_key(&SecretKey::new([2; KEY_BYTES])).unwrap();
        k.remove(&SecretKey::new([1; KEY_BYTES])).unwrap();
    }
    c.run_until(c.now + Duration::from_secs(60));
    assert!(c.all_see(3, MemberState::Failed));
    let failures = c.nodes[3].as_ref().unwrap().stats().decrypt_failures;
    assert!(failures > 0, "the stranded node sees that no key matches");
    assert!(
        !c.nodes[3]
            .as_ref()
            .unwrap()
            .members()
            .any(|m| m.name() != "node-3" && m.state() == MemberState::Alive),
        "it does not form a cluster of its own"
    );
    c.node(3).set_keyring(Some(ring(2)));
    c.run_until(c.now + Duration::from_secs(10));
    assert!(c.converged(), "back once it has the current key");
}

fn key_responses(c: &Cluster, asker: usize, id: QueryId) -> Vec<KeyResponse> {
    c.events
        .iter()
        .filter(|(o, _)| *o == asker)
        .filter_map(|(_, e)| match e {
            Event::QueryResponse { id: i, payload, .. } if *i == id => {
                KeyResponse::decode(payload).ok()
            }
            _ => None,
        })
        .collect()
}

#[test]
fn keys_are_rotated_cluster_wide_through_internal_queries() {
    let mut c = secured(4, 46, |_, n| n.set_keyring(Some(ring(1))));
    let new = SecretKey::new([2; KEY_BYTES]);
    let old = SecretKey::new([1; KEY_BYTES]);
    for (op, key) in [
        (KeyOp::Install, Some(&new)),
        (KeyOp::Use, Some(&new)),
        (KeyOp::Remove, Some(&old)),
    ] {
        let now = c.now;
        let id = c
            .node(1)
            .key_query(now, op, key, Some(Duration::from_secs(2)))
            .unwrap();
        c.flush(1);
        c.run_until(now + Duration::from_secs(3));
        let r = key_responses(&c, 1, id);
        assert_eq!(r.len(), 4, "{op:?}: every node answered");
        assert!(r.iter().all(|r| r.ok), "{op:?}: {r:?}");
        assert!(c.converged(), "{op:?}: nobody lost during the rotation");
    }
    let now = c.now;
    let id = c
        .node(0)
        .key_query(now, KeyOp::List, None, Some(Duration::from_secs(2)))
        .unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    let r = key_responses(&c, 0, id);
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(|r| r.keys == [[2; KEY_BYTES]]), "{r:?}");
    // Removing the primary fails everywhere and says why.
    let now = c.now;
    let id = c
        .node(0)
        .key_query(now, KeyOp::Remove, Some(&new), Some(Duration::from_secs(2)))
        .unwrap();
    c.flush(0);
    c.run_until(now + Duration::from_secs(3));
    let r = key_responses(&c, 0, id);
    assert!(
        r.iter().all(|r| !r.ok && r.error.contains("primary")),
        "{r:?}"
    );
}

#[test]
fn key_queries_need_encryption_and_are_refused_in_plaintext() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    assert_eq!(
        n.key_query(t, KeyOp::List, None, None),
        Err(CommandError::EncryptionDisabled)
    );
    n.set_keyring(Some(ring(1)));
    assert_eq!(
        n.key_query(t, KeyOp::Install, None, None),
        Err(CommandError::InvalidKey)
    );
    n.set_encryption_step(EncryptionStep::Seal);
    // An attacker's plaintext query trying to install its key.
    let q = Message::Query(wire::Query {
        ltime: 1,
        id: 7,
        from: "evil",
        from_addr: wire::WireAddr::V4([10, 9, 9, 9], 7946),
        filters: vec![],
        request_ack: false,
        relay_factor: 0,
        timeout_ms: 1000,
        name: "_hearsay_key_install",
        payload: &[6; KEY_BYTES],
    });
    n.handle_datagram(t, addr(1), &packet(&[q])).unwrap();
    assert_eq!(
        n.keyring().unwrap().keys().len(),
        1,
        "no key installed from plaintext"
    );
    assert_eq!(
        n.pending_broadcasts_of(BroadcastClass::Query),
        1,
        "re-gossiped sealed only"
    );
}

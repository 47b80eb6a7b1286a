//! Tests of the public API's promises: what an error says about state, the time contract of
//! every command, join answers as events, the encryption rollout steps.

#![allow(clippy::unwrap_used)]

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::testing::{Cluster, TestNode, addr, new_node};
use crate::wire::{self, Message};
use crate::*;

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

fn alive(node: &str, port: u16) -> Message<'_> {
    Message::Alive(wire::Alive {
        node,
        incarnation: 0,
        addr: wire::WireAddr::V4([10, 0, 0, 1], port),
        tags: &[],
    })
}

/// What a rejected input may or may not have changed: members, queues, counters aside.
fn footprint(n: &TestNode) -> (usize, usize, usize, usize) {
    (
        n.member_count(),
        n.pending_broadcasts(),
        n.pending_transmits(),
        n.pending_events(),
    )
}

// ---- InboundError tells whether state changed -----------------------------------------

#[test]
fn an_input_refused_as_a_whole_changes_nothing_but_counters() {
    let mut config = Config::lan();
    config.label = Some("blue".into());
    let mut n = lone(config);
    while n.poll_event().is_some() {}
    let before = footprint(&n);
    let t = Instant::from_secs(1);

    // No label: another cluster.
    let err = n
        .handle_datagram(t, addr(1), &packet(&[alive("x", 1000)]))
        .unwrap_err();
    assert_eq!(err, InboundError::LabelMismatch);
    assert!(err.refused_whole_input());
    // A version this build does not speak.
    let err = n.handle_datagram(t, addr(1), &[9, 0, 1, 2]).unwrap_err();
    assert_eq!(
        err,
        InboundError::Decode(DecodeError::UnsupportedVersion(9))
    );
    assert!(err.refused_whole_input());

    assert_eq!(footprint(&n), before);
    assert!(n.member("x").is_none());
    assert_eq!(n.stats().label_mismatches, 1);
    assert_eq!(n.stats().decode_errors, 1);
}

#[test]
fn a_refused_message_does_not_stop_the_rest_of_a_compound_packet() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    // A valid alive, an alive with an empty name, another valid alive.
    let p = packet(&[alive("x", 1000), alive("", 1001), alive("y", 1002)]);
    let err = n.handle_datagram(t, addr(1), &p).unwrap_err();
    assert_eq!(err, InboundError::InvalidField);
    assert!(!err.refused_whole_input());
    assert!(
        n.member("x").is_some() && n.member("y").is_some(),
        "the rest was applied"
    );

    // A message from a newer peer (unknown tag) between two valid ones.
    let mut p = packet(&[alive("z", 1003)]);
    wire::push_encoded(&mut p, &[200, 1, 2, 3]);
    wire::push_message(&mut p, &alive("w", 1004));
    let err = n.handle_datagram(t, addr(1), &p).unwrap_err();
    assert_eq!(
        err,
        InboundError::MessageDecode(DecodeError::UnknownMessage)
    );
    assert!(!err.refused_whole_input());
    assert!(n.member("z").is_some() && n.member("w").is_some());
    assert_eq!(n.stats().unknown_messages, 1);
}

// ---- Every command honours `now` -------------------------------------------------------

/// Runs `command` at 10 s on a fresh node, then feeds it news at 5 s: the news must be
/// stamped 10 s, because the command moved the node's clock (time never goes backwards).
fn clock_after(command: impl FnOnce(&mut TestNode, Instant)) -> Instant {
    let mut n = lone(Config::lan());
    command(&mut n, Instant::from_secs(10));
    n.handle_datagram(Instant::from_secs(5), addr(1), &packet(&[alive("x", 1000)]))
        .unwrap();
    n.member("x").unwrap().state_change()
}

#[test]
fn every_command_moves_the_nodes_clock_to_its_now() {
    let ten = Instant::from_secs(10);
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.user_event(now, "deploy", b"", false);
        }),
        ten,
        "user_event"
    );
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.query(now, &QueryParams::new("q"));
        }),
        ten,
        "query"
    );
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.reachability(now, None);
        }),
        ten,
        "reachability"
    );
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.respond(now, QueryId::from_u64(1), b"");
        }),
        ten,
        "respond (refused, but time still moved)"
    );
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.force_leave(now, "nobody", false);
        }),
        ten,
        "force_leave (refused, but time still moved)"
    );
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.set_tags(now, &Tags::new());
        }),
        ten,
        "set_tags"
    );
    assert_eq!(clock_after(|n, now| n.leave(now)), ten, "leave");
    assert_eq!(
        clock_after(|n, now| {
            let _ = n.join(now, &[addr(1)]);
        }),
        ten,
        "join"
    );
}

#[test]
fn a_response_after_the_query_timeout_is_refused_by_the_time_given_to_respond() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    let q = Message::Query(wire::Query {
        ltime: 1,
        id: 7,
        from: "asker",
        from_addr: wire::WireAddr::V4([10, 0, 0, 9], 7946),
        filters: vec![],
        request_ack: false,
        relay_factor: 0,
        timeout_ms: 1000,
        name: "uptime",
        payload: b"",
    });
    n.handle_datagram(t, addr(1), &packet(&[q])).unwrap();
    let id = core::iter::from_fn(|| n.poll_event())
        .find_map(|e| match e {
            Event::Query { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    // Four seconds later, with no other input in between: the query timed out.
    assert_eq!(
        n.respond(t + Duration::from_secs(4), id, b"late"),
        Err(CommandError::UnknownQuery)
    );
}

// ---- poll_timeout always has a deadline -----------------------------------------------

#[test]
fn there_is_always_a_deadline_even_after_leaving() {
    let mut n = lone(Config::lan());
    let t = Instant::from_secs(1);
    assert!(n.poll_timeout() > Instant::ZERO && n.poll_timeout() < Instant::MAX);
    n.leave(t);
    n.handle_timeout(n.poll_timeout());
    assert!(n.poll_timeout() < Instant::MAX);
}

// ---- Join answers are events ----------------------------------------------------------

#[test]
fn a_join_answer_is_reported_once_and_periodic_push_pulls_are_not() {
    let mut config = Config::lan();
    config.push_pull_interval = Duration::from_secs(1);
    let mut c = Cluster::new(2, config, 3);
    c.join_all();
    c.run_for(Duration::from_secs(12));
    assert!(c.converged());
    let replies: Vec<&Event> = c
        .events_of(1)
        .filter(|e| e.kind() == EventKind::JoinReply)
        .collect();
    assert_eq!(
        replies,
        [&Event::JoinReply {
            from: NodeName::new("node-0").unwrap(),
            addr: addr(0),
        }]
    );
    assert_eq!(
        c.events_of(0).filter(|e| e.name() == "join-reply").count(),
        0
    );
    let exchanges = c.get(1).unwrap().stats().push_pulls_received;
    assert!(exchanges >= 5, "periodic push-pulls ran: {exchanges}");
}

// ---- Encryption rollout steps ---------------------------------------------------------

#[test]
fn the_encryption_step_follows_the_switches_and_needs_a_keyring_to_show() {
    assert_eq!(
        EncryptionStep::from_switches(true, true),
        EncryptionStep::Prepare
    );
    assert_eq!(
        EncryptionStep::from_switches(true, false),
        EncryptionStep::Prepare,
        "sending plaintext implies accepting it"
    );
    assert_eq!(
        EncryptionStep::from_switches(false, true),
        EncryptionStep::Seal
    );
    assert_eq!(
        EncryptionStep::from_switches(false, false),
        EncryptionStep::Enforce
    );
    let mut n = lone(Config::lan());
    assert_eq!(n.encryption_step(), None, "no keyring: plaintext only");
    n.set_encryption_step(EncryptionStep::Seal);
    n.set_keyring(Some(Keyring::new(SecretKey::new([3; KEY_BYTES]))));
    assert_eq!(n.encryption_step(), Some(EncryptionStep::Seal));
    n.set_encryption_step(EncryptionStep::Enforce);
    assert_eq!(n.encryption_step(), Some(EncryptionStep::Enforce));
}

// ---- Small conveniences ---------------------------------------------------------------

#[test]
fn nodes_with_the_same_seed_send_the_same_bytes() {
    let run = |seed| {
        let mut c = Cluster::new(3, Config::lan(), seed);
        c.join_all();
        c.run_for(Duration::from_secs(5));
        c.trace().to_vec()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

#[test]
fn members_and_tags_print_like_serf_members() {
    let tags: Tags = [("role", "db"), ("dc", "eu")].into_iter().collect();
    assert_eq!(tags.to_string(), "dc=eu,role=db");
    let mut id = Identity::new(NodeName::new("db-1").unwrap(), addr(3));
    id.tags = tags;
    let n = Node::with_seed(Config::lan(), id, 1, Instant::ZERO).unwrap();
    assert_eq!(
        n.local().to_member().to_string(),
        "db-1 127.0.1.4:7946 alive dc=eu,role=db"
    );
    assert_eq!(MemberState::Failed.to_string(), "failed");
}

#[test]
fn the_harness_heals_partitions_and_loses_datagrams_deterministically() {
    let mut c = Cluster::new(4, Config::lan(), 11);
    c.join_all();
    c.run_for(Duration::from_secs(3));
    assert!(c.converged());
    c.set_loss_percent(20);
    c.run_for(Duration::from_secs(20));
    assert!(c.converged(), "no false failure at 20 % loss");
    c.set_loss_percent(0);
    c.partition(&[0, 1], &[2, 3]);
    c.run_for(Duration::from_secs(40));
    assert_eq!(c.view(0, 2).map(|v| v.0), Some(MemberState::Failed));
    c.heal();
    c.run_for(Duration::from_secs(10));
    assert!(c.converged(), "healed");
    c.restart(3, 99);
    c.run_for(Duration::from_secs(5));
    assert!(c.converged(), "restarted node is back");
}

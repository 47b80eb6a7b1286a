//! Criterion benchmarks of `hearsay-protocol`: the wire codec and the node's hot paths.
//!
//! ```text
//! cargo bench -p hearsay-benches -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every node is seeded, so each run measures the same work. See the crate docs for what
//! one iteration of each benchmark covers.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use hearsay_benches::{
    BenchNode, alive_datagrams, drain, gossip_only_config, member_addr, member_name, node,
    push_pull_frame,
};
use hearsay_protocol::wire::{self, Message, WireAddr};
use hearsay_protocol::{Channel, Config, Instant, MemberState};

/// The LAN packet budget.
const PACKET_BYTES_MAX: usize = 1400;

fn ping_message() -> Message<'static> {
    Message::Ping(wire::Ping {
        seq: 42,
        target: "member-00001",
        source: "member-00000",
        source_addr: WireAddr::from(member_addr(0)),
    })
}

/// Sums what the decoded messages hold so the decoder's work cannot be optimised away.
fn decode_all(bytes: &[u8]) -> usize {
    let packet = wire::decode_packet(bytes, PACKET_BYTES_MAX).expect("valid packet");
    packet
        .messages()
        .map(|m| black_box(m).map_or(0, |m| m.kind() as usize + 1))
        .sum()
}

fn wire_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");

    let ping = ping_message();
    let mut buf = Vec::with_capacity(PACKET_BYTES_MAX);
    wire::begin_packet(&mut buf, None);
    wire::push_message(&mut buf, &ping);
    let ping_packet = buf.clone();
    group.throughput(Throughput::Bytes(ping_packet.len() as u64));
    group.bench_function("encode_ping", |b| {
        b.iter(|| {
            wire::begin_packet(&mut buf, None);
            wire::push_message(&mut buf, black_box(&ping));
            buf.len()
        });
    });
    group.bench_function("decode_ping", |b| {
        b.iter(|| decode_all(black_box(&ping_packet)))
    });

    // A packet filled with alives, as gossip sends them: one packet's worth of fixtures.
    let names: Vec<String> = (0..64).map(member_name).collect();
    let full = alive_datagrams(64, PACKET_BYTES_MAX).swap_remove(0);
    let count = wire::decode_packet(&full, PACKET_BYTES_MAX)
        .expect("valid")
        .messages()
        .count();
    let alives: Vec<Message<'_>> = names
        .iter()
        .take(count)
        .enumerate()
        .map(|(i, n)| hearsay_benches::alive(n, i))
        .collect();
    group.throughput(Throughput::Bytes(full.len() as u64));
    group.bench_function("encode_compound_alive", |b| {
        b.iter(|| {
            wire::begin_packet(&mut buf, None);
            for m in &alives {
                wire::push_message(&mut buf, black_box(m));
            }
            buf.len()
        });
    });
    // Checked outside the timed loop, so a filtered run (`cargo bench -- node`) works too.
    let mut check = Vec::new();
    wire::begin_packet(&mut check, None);
    for m in &alives {
        wire::push_message(&mut check, m);
    }
    assert_eq!(check, full, "the benchmark encodes the fixture packet");
    group.bench_function("decode_compound_alive", |b| {
        b.iter(|| decode_all(black_box(&full)))
    });
    group.finish();
}

/// Node B (member 1) and a node A (member 0) that knows B, has probed it once, and whose
/// ping to B was captured.
fn probe_pair() -> (BenchNode, BenchNode, Vec<u8>) {
    let (a_addr, b_addr) = (member_addr(0), member_addr(1));
    let mut a = node(Config::lan(), &member_name(0), a_addr, 1);
    let mut b = node(Config::lan(), &member_name(1), b_addr, 2);
    let mut buf = Vec::new();
    let b_name = member_name(1);
    let mut hello = Vec::new();
    wire::begin_packet(&mut hello, None);
    wire::push_message(&mut hello, &hearsay_benches::alive(&b_name, 1));
    a.handle_datagram(Instant::ZERO, b_addr, &hello)
        .expect("A learns B");
    drain(&mut a, Instant::ZERO, &mut buf);
    drain(&mut b, Instant::ZERO, &mut buf);

    let now = Instant::ZERO + a.config().probe_interval;
    a.handle_timeout(now);
    let mut ping = None;
    while let Some(t) = a.poll_transmit(now, &mut buf) {
        let packet = wire::decode_packet(&buf[..t.len], PACKET_BYTES_MAX).expect("valid");
        let is_ping = packet.messages().any(|m| matches!(m, Ok(Message::Ping(_))));
        if t.dst == b_addr && t.channel == Channel::Datagram && is_ping {
            ping = Some(buf[..t.len].to_vec());
        }
    }
    (a, b, ping.expect("A probes its only peer"))
}

/// As `probe_pair`, with both nodes holding the same key: A's ping to B is sealed.
fn sealed_probe_pair() -> (BenchNode, BenchNode, Vec<u8>) {
    let (a_addr, b_addr) = (member_addr(0), member_addr(1));
    let ring = hearsay_protocol::Keyring::new(hearsay_protocol::SecretKey::new([7; 32]));
    let mut a = node(Config::lan(), &member_name(0), a_addr, 1);
    let mut b = node(Config::lan(), &member_name(1), b_addr, 2);
    a.set_keyring(Some(ring.clone()));
    b.set_keyring(Some(ring));
    a.set_encryption_step(hearsay_protocol::EncryptionStep::Seal);
    let mut buf = Vec::new();
    let b_name = member_name(1);
    let mut hello = Vec::new();
    wire::begin_packet(&mut hello, None);
    wire::push_message(&mut hello, &hearsay_benches::alive(&b_name, 1));
    a.handle_datagram(Instant::ZERO, b_addr, &hello)
        .expect("A learns B");
    drain(&mut a, Instant::ZERO, &mut buf);
    let now = Instant::ZERO + a.config().probe_interval;
    a.handle_timeout(now);
    let mut ping = None;
    while let Some(t) = a.poll_transmit(now, &mut buf) {
        if t.dst == b_addr && t.channel == Channel::Datagram && ping.is_none() {
            let packet = wire::decode_packet(&buf[..t.len], PACKET_BYTES_MAX).expect("valid");
            assert!(packet.sealed, "sealed on the wire");
            ping = Some(buf[..t.len].to_vec());
        }
    }
    (a, b, ping.expect("A probes its only peer"))
}

fn node_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("node");
    let mut buf = Vec::with_capacity(PACKET_BYTES_MAX);

    // 2. B handles A's ping and produces the ack; 2a. the same with both nodes sealing
    // (AES-256-GCM): the cost of encryption per packet is the difference.
    let a_addr = member_addr(0);
    for (label, (_, mut b, ping)) in [
        ("ping_to_ack", probe_pair()),
        ("ping_to_ack_sealed", sealed_probe_pair()),
    ] {
        group.bench_function(label, |bench| {
            bench.iter(|| {
                b.handle_datagram(Instant::ZERO, a_addr, black_box(&ping))
                    .expect("valid ping");
                let mut sent = 0;
                while let Some(t) = b.poll_transmit(Instant::ZERO, &mut buf) {
                    sent += t.len;
                }
                sent
            });
        });
    }

    // 2b. The whole probe: A's timer, A's ping, B's ack, A handling the ack. Time advances
    // one probe interval per iteration, so every iteration starts a fresh probe.
    let (mut a, mut b, ping) = probe_pair();
    let b_addr = member_addr(1);
    let step = a.config().probe_interval;
    let mut now = Instant::ZERO + step;
    // Answer the probe that built the pair, so A starts with nothing outstanding.
    b.handle_datagram(now, a_addr, &ping).expect("valid ping");
    while let Some(t) = b.poll_transmit(now, &mut buf) {
        a.handle_datagram(now, b_addr, &buf[..t.len])
            .expect("valid ack");
    }
    let b_name = member_name(1);
    let (mut rounds, mut acks) = (0_u64, 0_u64);
    group.bench_function("probe_round_trip", |bench| {
        bench.iter(|| {
            now += step;
            a.handle_timeout(now);
            while let Some(t) = a.poll_transmit(now, &mut buf) {
                if t.dst == b_addr && t.channel == Channel::Datagram {
                    b.handle_datagram(now, a_addr, &buf[..t.len])
                        .expect("valid");
                }
            }
            while let Some(t) = b.poll_transmit(now, &mut buf) {
                a.handle_datagram(now, b_addr, &buf[..t.len])
                    .expect("valid ack");
                acks += 1;
            }
            rounds += 1;
        });
    });
    assert_eq!(acks, rounds, "every iteration was one ping and one ack");
    let state = a.member(&b_name).map(|m| m.state());
    assert_eq!(state, Some(MemberState::Alive), "B was never suspected");
    drop((a, b));

    // 3. Filling a gossip packet from a 1000-entry broadcast queue. Only the
    // `poll_transmit` that fills the packet is timed; queuing the gossip (the gossip timer)
    // and rebuilding the node are not. Each fill counts a transmit on the ~40 broadcasts it
    // takes, so the queue's transmit counts vary as in a real node (all between 0 and the
    // retransmit limit of 16); the node is rebuilt every 100 fills, long before any
    // broadcast is retired, so every timed fill draws from exactly 1000 pending broadcasts.
    let learn = alive_datagrams(1000, PACKET_BYTES_MAX);
    let fresh_learner = || {
        let mut n = node(gossip_only_config(), "bench", member_addr(99_999), 3);
        for p in &learn {
            n.handle_datagram(Instant::ZERO, member_addr(0), p)
                .expect("valid alives");
        }
        while n.poll_event().is_some() {}
        assert_eq!(n.pending_broadcasts(), 1000);
        n
    };
    let mut learner = fresh_learner();
    let gossip_step = learner.config().gossip_interval;
    let mut now = Instant::ZERO;
    group.bench_function("gossip_fill_1000", |bench| {
        bench.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for i in 0..iters {
                // Rebuilt (untimed) every 100 fills: far from the retransmit limit, so
                // every timed fill draws from 1000 pending broadcasts.
                if i % 100 == 99 || learner.pending_broadcasts() < 1000 {
                    learner = fresh_learner();
                    now = Instant::ZERO;
                }
                if learner.pending_transmits() == 0 {
                    now += gossip_step;
                    learner.handle_timeout(now);
                }
                let start = std::time::Instant::now();
                let t = learner.poll_transmit(now, &mut buf);
                timed += start.elapsed();
                let t = t.expect("a gossip packet");
                assert!(
                    t.len > PACKET_BYTES_MAX - 64,
                    "the packet is full: {}",
                    t.len
                );
            }
            timed
        });
    });

    // 4. Merging a 10 000-member push-pull into a fresh node; building the node and
    // dropping the result are not timed. `reply` frames are only merged; a non-reply frame
    // is merged and answered with the receiver's own 10 001-member state.
    group.sample_size(10);
    for (reply, label) in [
        (true, "push_pull_merge_10k"),
        (false, "push_pull_merge_10k_and_answer"),
    ] {
        let frame = push_pull_frame(10_000, reply);
        let mut config = Config::lan();
        config.stream_bytes_max = config.stream_bytes_max.max(frame.len());
        let fresh = || node(config.clone(), "bench", member_addr(99_999), 4);
        let mut check = fresh();
        check
            .handle_stream(Instant::ZERO, member_addr(0), &frame)
            .expect("valid frame");
        assert_eq!(check.member_count(), 10_001);
        drop(check);
        group.throughput(Throughput::Elements(10_000));
        group.bench_function(label, |bench| {
            bench.iter_batched(
                fresh,
                |mut n| {
                    n.handle_stream(Instant::ZERO, member_addr(0), black_box(&frame))
                        .expect("valid frame");
                    n
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// The generated group function stays private to this module: `criterion_group!` cannot
/// document it.
mod group {
    criterion::criterion_group!(benches, super::wire_codec, super::node_paths);
}

criterion_main!(group::benches);

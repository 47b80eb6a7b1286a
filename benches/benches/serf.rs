//! Criterion benchmarks of the Serf pieces of `hearsay-protocol`: one Vivaldi coordinate
//! update, and the Serf wire dialect's codec (a ping, an alive, a compressed compound, an
//! encrypted packet, LZW).
//!
//! ```text
//! cargo bench -p hearsay-benches --bench serf -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use hearsay_protocol::coordinate::{Coordinate, CoordinateClient, CoordinateConfig};
use hearsay_protocol::wire::serf::{
    self as sw, Alive, Compound, EncryptionVersion, Message, PacketSeal, Ping, Version,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

fn coordinates(c: &mut Criterion) {
    let mut group = c.benchmark_group("coordinate");
    // A client that has already seen a few peers, as in a running cluster.
    let config = CoordinateConfig::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut client = CoordinateClient::new(config).expect("valid config");
    let mut peer = Coordinate::new(&config);
    peer.vec[0] = 0.004;
    peer.height = 0.0002;
    for i in 0..32u64 {
        let rtt = Duration::from_micros(4_000 + i * 13);
        client
            .update(&format!("peer-{}", i % 8), &peer, rtt, &mut rng)
            .expect("valid sample");
    }
    group.bench_function("update", |b| {
        b.iter(|| {
            *client
                .update(
                    black_box("peer-3"),
                    black_box(&peer),
                    black_box(Duration::from_micros(4_200)),
                    &mut rng,
                )
                .expect("valid sample")
        })
    });
    group.bench_function("estimate_rtt", |b| {
        b.iter(|| client.estimate_rtt(black_box(&peer)))
    });
    group.finish();
}

fn ping() -> Message<'static> {
    Message::Ping(Ping {
        seq_no: 42,
        node: "member-00001",
        source_addr: Some(&[127, 0, 0, 1]),
        source_port: 7946,
        source_node: "member-00000",
    })
}

fn alive(meta: &[u8]) -> Message<'_> {
    Message::Alive(Alive {
        incarnation: 7,
        node: "member-00002",
        addr: Some(&[127, 0, 0, 1]),
        port: 7947,
        meta: Some(meta),
        vsn: Version::SERF_DEFAULT,
    })
}

fn serf_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("serf_wire");
    let mut buf = Vec::with_capacity(1400);
    let ping = ping();
    sw::encode_message(&ping, &mut buf).expect("encodes");
    let ping_bytes = buf.clone();
    group.bench_function("encode_ping", |b| {
        b.iter(|| {
            buf.clear();
            sw::encode_message(black_box(&ping), &mut buf).expect("encodes");
            buf.len()
        })
    });
    group.bench_function("decode_ping", |b| {
        b.iter(|| sw::decode_message(black_box(&ping_bytes)).expect("decodes"))
    });

    // A gossip packet as Serf sends it: a compound of alives, compressed, with a CRC.
    let mut meta = Vec::new();
    sw::encode_tags(&[("role", "web"), ("dc", "east")], 5, &mut meta).expect("small tags");
    let mut one = Vec::new();
    sw::encode_message(&alive(&meta), &mut one).expect("encodes");
    let parts: Vec<&[u8]> = vec![&one; 8];
    let mut compound = Vec::new();
    Compound::encode(&parts, &mut compound).expect("fits");
    let plain = PacketSeal {
        label: "",
        compress: true,
        crc: true,
        encrypt: None,
    };
    let mut packet = Vec::new();
    sw::seal_packet(&compound, &plain, &mut packet).expect("seals");
    group.throughput(Throughput::Bytes(compound.len() as u64));
    group.bench_function("seal_compressed_compound", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1400);
            sw::seal_packet(black_box(&compound), &plain, &mut out).expect("seals");
            out
        })
    });
    group.bench_function("open_compressed_compound", |b| {
        b.iter(|| {
            let opened = sw::open_packet(black_box(&packet), &[], 1 << 16).expect("opens");
            match sw::decode_message(&opened.body).expect("decodes") {
                Message::Compound(c) => c
                    .parts
                    .iter()
                    .map(|p| sw::decode_message(p).map_or(0, |_| 1))
                    .sum::<usize>(),
                _ => 0,
            }
        })
    });

    let key = [7u8; 32];
    let sealed = PacketSeal {
        label: "",
        compress: false,
        crc: false,
        encrypt: Some((EncryptionVersion::V1, &key, [1; 12])),
    };
    let mut enc = Vec::new();
    sw::seal_packet(&ping_bytes, &sealed, &mut enc).expect("seals");
    group.throughput(Throughput::Bytes(ping_bytes.len() as u64));
    group.bench_function("open_encrypted_ping", |b| {
        b.iter_batched(
            || enc.clone(),
            |p| {
                sw::open_packet(&p, &[&key], 1 << 16)
                    .expect("opens")
                    .body
                    .len()
            },
            BatchSize::SmallInput,
        )
    });

    let text: Vec<u8> = (0..16_384u32)
        .map(|i| b"abcdefgh"[(i * 7 % 13 % 8) as usize])
        .collect();
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("lzw_compress_16k", |b| {
        b.iter(|| sw::lzw_compress(black_box(&text)))
    });
    let packed = sw::lzw_compress(&text);
    group.bench_function("lzw_decompress_16k", |b| {
        b.iter(|| sw::lzw_decompress(black_box(&packed), 1 << 20).expect("valid"))
    });
    group.finish();
}

/// The generated group function stays private to this module: `criterion_group!` cannot
/// document it.
mod group {
    criterion::criterion_group!(benches, super::coordinates, super::serf_codec);
}

criterion_main!(group::benches);

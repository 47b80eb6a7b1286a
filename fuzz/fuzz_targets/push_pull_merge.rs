//! Push-pull state exchanges (the anti-entropy merge, also the join path) with arbitrary
//! members, built with the wire API and fed through `handle_stream`, followed by the
//! Serf state (clocks and events), interleaved with timers.
#![no_main]

use arbitrary::Arbitrary;
use hearsay_fuzz::{
    Addr, ArbMember, ArbMessage, ArbUserEvent, Cluster, Envelope, LabelChoice, Name, Op,
    SealChoice, Setup,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Exchange {
    from: u8,
    join: bool,
    reply: bool,
    source: Name,
    source_addr: Addr,
    members: Vec<ArbMember>,
    /// The Serf state that follows in the same frame.
    serf: Option<(u64, u64, u64, Vec<ArbUserEvent>)>,
    /// Time to pass afterwards, and whether timers run.
    millis: u16,
    timeout: bool,
}

#[derive(Arbitrary, Debug)]
struct Scenario {
    setup: Setup,
    joined: bool,
    exchanges: Vec<Exchange>,
}

fuzz_target!(|s: Scenario| {
    let mut setup = s.setup;
    setup.two_nodes = false;
    let mut cluster = Cluster::new(&setup);
    if s.joined {
        cluster.apply(&Op::Join {
            on: 0,
            seeds: vec![1],
            replay: false,
        });
    }
    let envelope = Envelope {
        label: LabelChoice::Ours,
        seal: SealChoice::Matching,
        nonce: [0; 12],
    };
    for x in s.exchanges.into_iter().take(32) {
        let mut messages = vec![ArbMessage::PushPull {
            join: x.join,
            reply: x.reply,
            source: x.source,
            source_addr: x.source_addr,
            members: x.members,
        }];
        if let Some((member_ltime, event_ltime, query_ltime, events)) = x.serf {
            messages.push(ArbMessage::SerfState {
                member_ltime,
                event_ltime,
                query_ltime,
                events,
            });
        }
        cluster.apply(&Op::Packet {
            on: 0,
            from: x.from,
            stream: true,
            envelope,
            messages,
        });
        cluster.apply(&Op::Advance {
            millis: u32::from(x.millis),
        });
        if x.timeout {
            cluster.apply(&Op::Timeout { on: 0 });
        }
        cluster.apply(&Op::Drain { on: 0 });
    }
});

//! A sequence of inputs, commands and time steps against one or two nodes (arbitrary
//! bytes, structured packets, replays of their own traffic), with every invariant of
//! `hearsay_fuzz::Cluster::check` checked after each step.
#![no_main]

use arbitrary::Arbitrary;
use hearsay_fuzz::{Cluster, Op, Setup};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Scenario {
    setup: Setup,
    ops: Vec<Op>,
}

fuzz_target!(|s: Scenario| {
    let mut cluster = Cluster::new(&s.setup);
    for op in s.ops.iter().take(256) {
        cluster.apply(op);
    }
    cluster.exchange(8);
});

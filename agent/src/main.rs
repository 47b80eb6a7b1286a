//! `hearsay`: the agent and CLI.

fn main() {}

//! # hearsay
//!
//! The Hearsay agent and CLI, a drop-in for a Serf operator's daily commands: `hearsay
//! agent` runs the long-lived process on each machine (gossip membership, failure
//! detection, user events, queries, handler scripts, snapshot); the other subcommands talk
//! to a running agent over its RPC address (line-delimited JSON over TCP, see `rpc`).
//!
//! ```text
//! main ─ normalise argv (Serf's -flag form) ─ clap ─┬─ agent ─▶ agent::run (tokio, current thread)
//!                                                   └─ members, join, ... ─▶ commands ─▶ rpc::client::Client
//! ```

#![forbid(unsafe_code)]

mod agent;
mod cli;
mod commands;
mod config;
mod handlers;
mod keyring;
mod logging;
mod rpc;
mod security;
mod snapshot;
mod tags;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    let args = cli::normalise_args(std::env::args_os());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    std::process::exit(if e.use_stderr() { 1 } else { 0 });
                }
                _ => {
                    // One clear line naming the flag, as Serf's CLI does, plus a pointer to
                    // the help.
                    let text = e.render().to_string();
                    eprintln!("hearsay: {} (see `hearsay --help`)", one_line(&text));
                    std::process::exit(1);
                }
            }
        }
    };
    let code = match cli.command {
        Command::Agent(a) => agent::run(*a),
        Command::Members(a) => commands::members(a),
        Command::Join(a) => commands::join(a),
        Command::Leave(a) => commands::leave(a),
        Command::ForceLeave(a) => commands::force_leave(a),
        Command::Event(a) => commands::event(a),
        Command::Query(a) => commands::query(a),
        Command::Monitor(a) => commands::monitor(a),
        Command::Tags(a) => commands::tags(a),
        Command::Info(a) => commands::info(a),
        Command::Reachability(a) => commands::reachability(a),
        Command::Version => commands::version(),
        Command::Keygen => commands::keygen(),
        Command::Keys(a) => commands::keys(a),
    };
    std::process::exit(code);
}

/// clap's error text up to its usage block, on one line.
fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    let joined = parts.join(" ");
    let joined = joined.trim_start_matches("error: ");
    if joined.is_empty() {
        "invalid arguments".to_owned()
    } else {
        joined.to_owned()
    }
}

//! The command line: clap definitions for `hearsay` and every subcommand, and the argv
//! normalisation that lets Serf's single-dash long flags (`-node=a`, `-node a`) through.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// Default RPC address of the agent, as Serf's.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:7373";

const ABOUT: &str = "Hearsay: gossip membership, failure detection, user events and queries \
(a Serf-compatible agent and CLI)";

const AFTER_HELP: &str = "\
Flags may be written Serf's way (-node=web-1, -node web-1) or GNU's way (--node web-1).
The CLI commands talk to a running agent over its RPC address (HEARSAY_RPC_ADDR or
SERF_RPC_ADDR, default 127.0.0.1:7373) with the token from HEARSAY_RPC_AUTH or
SERF_RPC_AUTH when the agent requires one.";

/// `hearsay`: the agent and the commands that talk to it.
#[derive(Debug, Parser)]
#[command(name = "hearsay", version, about = ABOUT, after_help = AFTER_HELP)]
#[command(propagate_version = true, disable_help_subcommand = false)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Hearsay agent (the long-running process on every machine).
    Agent(Box<AgentArgs>),
    /// List the members of the cluster as this agent sees them.
    Members(MembersArgs),
    /// Tell the agent to join a cluster through one or more existing members.
    Join(JoinArgs),
    /// Make the agent leave the cluster gracefully and shut down.
    Leave(RpcArgs),
    /// Mark a failed member as left (it stops being retried); -prune forgets it at once.
    ForceLeave(ForceLeaveArgs),
    /// Send a custom user event to the whole cluster.
    Event(EventArgs),
    /// Send a query to the cluster and print acks and responses.
    Query(QueryArgs),
    /// Stream the agent's log lines.
    Monitor(MonitorArgs),
    /// Change the agent's tags at run time (persisted when it has a tags file).
    Tags(TagsArgs),
    /// Print diagnostic information about the agent and the cluster.
    Info(InfoArgs),
    /// Check that every member can be reached (an internal query every node acks).
    Reachability(ReachabilityArgs),
    /// Print the version of this binary and of the protocols it speaks.
    Version,
    /// Print a new random encryption key (base64 of 32 bytes) for -encrypt.
    Keygen,
    /// Manage the cluster's encryption keys (every member), or this agent's plaintext
    /// switches.
    Keys(KeysArgs),
}

/// How to reach the agent.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// RPC address of the agent (host:port).
    #[arg(long, value_name = "ADDR", env = "HEARSAY_RPC_ADDR")]
    pub rpc_addr: Option<String>,
    /// RPC auth token, when the agent was started with -rpc-auth.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "HEARSAY_RPC_AUTH",
        hide_env_values = true
    )]
    pub rpc_auth: Option<String>,
}

impl RpcArgs {
    /// The address to dial: the flag, else `SERF_RPC_ADDR`, else the default.
    pub fn addr(&self) -> String {
        self.rpc_addr
            .clone()
            .or_else(|| std::env::var("SERF_RPC_ADDR").ok())
            .unwrap_or_else(|| DEFAULT_RPC_ADDR.to_owned())
    }

    /// The token to send: the flag, else `SERF_RPC_AUTH`.
    pub fn auth(&self) -> Option<String> {
        self.rpc_auth
            .clone()
            .or_else(|| std::env::var("SERF_RPC_AUTH").ok())
            .filter(|t| !t.is_empty())
    }
}

/// Output format of commands that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text (default).
    Text,
    /// JSON, for scripts.
    Json,
}

/// Flags of `hearsay agent`. Every flag can also be set in a config file (JSON or TOML,
/// Serf's key names); flags win over files.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// Config file to load (JSON or TOML by extension). Repeatable; later files win.
    #[arg(long, value_name = "PATH")]
    pub config_file: Vec<PathBuf>,
    /// Directory of config files: every *.json and *.toml in it, in name order. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
    /// Name of this node; must be unique in the cluster [default: the hostname].
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Address to bind for gossip, UDP and TCP on the same port [default: 0.0.0.0:7946].
    /// A bare IP uses port 7946.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Address to advertise to other members when it differs from -bind (NAT, containers).
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<String>,
    /// Address for the CLI's RPC connections [default: 127.0.0.1:7373].
    #[arg(long, value_name = "ADDR")]
    pub rpc_addr: Option<String>,
    /// Token every RPC client must present in its handshake.
    #[arg(long, value_name = "TOKEN")]
    pub rpc_auth: Option<String>,
    /// Address of a member to join at start. Repeatable. The agent exits if none answers.
    #[arg(long, value_name = "ADDR")]
    pub join: Vec<String>,
    /// Address to keep trying to join in the background until it works. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub retry_join: Vec<String>,
    /// Time between -retry-join attempts [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub retry_interval: Option<String>,
    /// Most -retry-join attempts before the agent gives up and exits; 0 is no limit
    /// [default: 0].
    #[arg(long, value_name = "N")]
    pub retry_max: Option<u32>,
    /// Replay user events the cluster still buffers when joining.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub replay: Option<bool>,
    /// Tag of this node as key=value. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,
    /// JSON file holding this node's tags, read at start and rewritten by `hearsay tags`
    /// so tags survive restarts. Cannot be combined with -tag once the file exists.
    #[arg(long, value_name = "PATH")]
    pub tags_file: Option<PathBuf>,
    /// Timing profile: lan, wan or local [default: lan].
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Event handler script, optionally filtered: `script`, `member-join=script`,
    /// `member-join,member-leave=script`, `user=script`, `user:NAME=script`, `query=script`,
    /// `query:NAME=script`. Repeatable. Reloaded on SIGHUP.
    #[arg(long, value_name = "SPEC")]
    pub event_handler: Vec<String>,
    /// Snapshot file: members and clocks are saved there and restored at restart.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// Rejoin the cluster from the snapshot even after a graceful leave.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rejoin: Option<bool>,
    /// Log level: trace, debug, info, warn or error [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub log_json: Option<bool>,
    /// Leave gracefully on SIGTERM (default: stop without leaving, peers see a failure).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub leave_on_terminate: Option<bool>,
    /// Stop without leaving on SIGINT (default: leave gracefully).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub skip_leave_on_interrupt: Option<bool>,
    /// How often a failed member is retried [default: per profile].
    #[arg(long, value_name = "DURATION")]
    pub reconnect_interval: Option<String>,
    /// How long a failed member is retried before it is reaped [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub reconnect_timeout: Option<String>,
    /// How long a member that left is remembered [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub tombstone_timeout: Option<String>,
    /// Largest user event (name plus payload) in bytes [default: 512].
    #[arg(long, value_name = "BYTES")]
    pub user_event_size_limit: Option<usize>,
    /// Largest query (name plus payload) in bytes [default: 1024].
    #[arg(long, value_name = "BYTES")]
    pub query_size_limit: Option<usize>,
    /// Largest query response in bytes; a query handler's output is cut there
    /// [default: 1024].
    #[arg(long, value_name = "BYTES")]
    pub query_response_size_limit: Option<usize>,
    /// Most handler scripts running at once [default: 4].
    #[arg(long, value_name = "N")]
    pub handler_concurrency: Option<usize>,
    /// Longest a handler script may run before it is killed [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub handler_timeout: Option<String>,
    /// Encrypt gossip with this key: base64 of 32 bytes (`hearsay keygen` makes one).
    /// Ignored, with a warning, when the -keyring-file already exists.
    #[arg(long, value_name = "KEY")]
    pub encrypt: Option<String>,
    /// Keyring file (JSON list of base64 keys, primary first): loaded at start, created
    /// from -encrypt when missing, rewritten after every key change (mode 0600).
    #[arg(long, value_name = "PATH")]
    pub keyring_file: Option<PathBuf>,
    /// Cluster label carried in every packet; packets with another label (or none) are
    /// dropped, so two clusters never merge by accident.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// With encryption on, still accept plaintext packets (while turning encryption on in
    /// a live cluster) [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub encrypt_accept_plaintext: Option<bool>,
    /// With encryption on, still send plaintext packets (first step of turning encryption
    /// on in a live cluster) [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub encrypt_send_plaintext: Option<bool>,
}

/// `hearsay members`.
#[derive(Debug, Args)]
pub struct MembersArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Only members in this state (alive, suspect, failed, left); a regex.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only members whose name matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub name: Option<String>,
    /// Only members whose tag KEY matches REGEX. Repeatable.
    #[arg(long, value_name = "KEY=REGEX")]
    pub tag: Vec<String>,
    /// Also print each member's incarnation and protocol details.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub detailed: Option<bool>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `hearsay join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Replay user events the cluster still buffers.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub replay: Option<bool>,
    /// Addresses of members to contact.
    #[arg(value_name = "ADDR", required = true)]
    pub addrs: Vec<String>,
}

/// `hearsay force-leave`.
#[derive(Debug, Args)]
pub struct ForceLeaveArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Forget the member at once instead of keeping it as a tombstone.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub prune: Option<bool>,
    /// Name of the failed member.
    #[arg(value_name = "NODE")]
    pub node: String,
}

/// `hearsay event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Let handlers see only the newest of a burst of events with this name.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub coalesce: Option<bool>,
    /// Event name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Payload passed to handlers on stdin.
    #[arg(value_name = "PAYLOAD")]
    pub payload: Option<String>,
}

/// `hearsay query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Only this node responds. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub node: Vec<String>,
    /// Only nodes whose tag KEY matches REGEX respond. Repeatable.
    #[arg(long, value_name = "KEY=REGEX")]
    pub tag: Vec<String>,
    /// How long to wait for responses, e.g. 5s [default: computed from the cluster size].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Do not ask nodes to acknowledge the query.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_ack: Option<bool>,
    /// Also relay responses through this many random members (0 to 5).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub relay_factor: u8,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Query name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Payload passed to query handlers on stdin.
    #[arg(value_name = "PAYLOAD")]
    pub payload: Option<String>,
}

/// `hearsay monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Lowest level to show: trace, debug, info, warn, error.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
}

/// `hearsay tags`.
#[derive(Debug, Args)]
pub struct TagsArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Set a tag, KEY=VALUE. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Delete a tag. Repeatable.
    #[arg(long, value_name = "KEY")]
    pub delete: Vec<String>,
}

/// `hearsay info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `hearsay reachability`.
#[derive(Debug, Args)]
pub struct ReachabilityArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Also list every member that acked.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub verbose: Option<bool>,
}

/// `hearsay keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// RPC connection.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Install a new key on every member (as a secondary key).
    #[arg(long, value_name = "KEY")]
    pub install: Option<String>,
    /// Make an installed key the primary (encrypting) key on every member.
    #[arg(long = "use", value_name = "KEY")]
    pub use_key: Option<String>,
    /// Remove a secondary key from every member.
    #[arg(long, value_name = "KEY")]
    pub remove: Option<String>,
    /// List the keys installed on the members, with how many members hold each.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub list: Option<bool>,
    /// This agent only: whether to accept plaintext packets (turning encryption on in a
    /// live cluster).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub accept_plaintext: Option<bool>,
    /// This agent only: whether to send plaintext packets (turning encryption on in a
    /// live cluster).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub send_plaintext: Option<bool>,
    /// How long to wait for the members' answers [default: computed from the cluster
    /// size].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

/// Every long flag name any subcommand knows, `help` and `version` included.
fn long_names() -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(l) = arg.get_long() {
                out.push(l.to_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = vec!["help".to_owned(), "version".to_owned()];
    walk(&Cli::command(), &mut out);
    out.sort();
    out.dedup();
    out
}

/// Rewrites Serf's single-dash long flags (`-node=a`, `-node a`) to clap's `--node`.
/// Names of two or more characters are rewritten (so an unknown `-bogus` is reported by
/// name), single letters are left alone (`-h`), and nothing after `--` is touched, so
/// payloads that start with a dash survive when written after `--`.
pub fn normalise_args<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let known = long_names();
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = s.strip_prefix('-') {
            let name = rest.split('=').next().unwrap_or(rest);
            // Known names, and anything shaped like a long flag, so an unknown `-bogus` is
            // reported by its name rather than as the short flag `-b`.
            let flag_shaped = name.len() > 1
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !rest.starts_with('-') && (known.iter().any(|k| k == name) || flag_shaped) {
                out.push(OsString::from(format!("-{s}")));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalise_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            norm(&[
                "hearsay",
                "agent",
                "-node=a",
                "-bind",
                "127.0.0.1:0",
                "--rpc-addr=x"
            ]),
            [
                "hearsay",
                "agent",
                "--node=a",
                "--bind",
                "127.0.0.1:0",
                "--rpc-addr=x"
            ]
        );
    }

    #[test]
    fn short_flags_numbers_and_args_after_double_dash_are_kept() {
        assert_eq!(
            norm(&["hearsay", "event", "-h", "-5", "-bogus", "--", "-node"]),
            ["hearsay", "event", "-h", "-5", "--bogus", "--", "-node"]
        );
        assert_eq!(norm(&["hearsay", "-version"]), ["hearsay", "--version"]);
    }

    #[test]
    fn serf_style_command_lines_parse() {
        let cli = Cli::try_parse_from(norm(&[
            "hearsay",
            "event",
            "-coalesce=false",
            "deploy",
            "v1",
        ]))
        .unwrap();
        let Command::Event(e) = cli.command else {
            panic!("not an event")
        };
        assert_eq!((e.coalesce, e.name.as_str()), (Some(false), "deploy"));
        assert_eq!(e.payload.as_deref(), Some("v1"));

        let cli = Cli::try_parse_from(norm(&[
            "hearsay",
            "agent",
            "-node",
            "a",
            "-join=x:1",
            "-join",
            "y:2",
            "-replay",
            "-tag",
            "role=web",
        ]))
        .unwrap();
        let Command::Agent(a) = cli.command else {
            panic!("not agent")
        };
        assert_eq!(a.node.as_deref(), Some("a"));
        assert_eq!(a.join, ["x:1", "y:2"]);
        assert_eq!(a.replay, Some(true));
        assert_eq!(a.tag, ["role=web"]);
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

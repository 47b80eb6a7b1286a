//! Agent configuration: config files (JSON or TOML, Serf's key names) merged with flags,
//! then checked once into [`Settings`]. Every error is one line naming the setting.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hearsay_tokio::Config;
use hearsay_tokio::protocol::SecretKey;
use serde::Deserialize;

use crate::cli::{AgentArgs, DEFAULT_RPC_ADDR};
use crate::handlers::{HandlerSpec, HandlerSpecError};
use crate::keyring::KeyError;

/// Default gossip port, as Serf's.
pub const DEFAULT_PORT: u16 = 7946;

/// A bad config file or setting; the message is one line naming it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file cannot be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config file has a syntax error, an unknown key or a mistyped value.
    #[error("invalid config file {}: {message}", .path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A config dir cannot be listed.
    #[error("cannot read config dir {}: {source}", .path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A duration that does not parse.
    #[error("invalid {setting} '{value}': {source} (expected e.g. 500ms, 30s, 24h)")]
    Duration {
        /// The setting.
        setting: &'static str,
        /// What was given.
        value: String,
        /// The parser's reason.
        source: humantime::DurationError,
    },
    /// An unknown log level.
    #[error("invalid log_level '{0}': expected trace, debug, info, warn or error")]
    LogLevel(String),
    /// An address that does not parse or resolve.
    #[error("invalid {setting} '{value}': not an address (expected HOST:PORT)")]
    Addr {
        /// The setting.
        setting: &'static str,
        /// What was given.
        value: String,
    },
    /// An unknown timing profile.
    #[error("invalid profile '{0}': expected lan, wan or local")]
    Profile(String),
    /// A node name the core refuses.
    #[error("invalid node_name '{0}': 1 to 128 bytes without control characters")]
    NodeName(String),
    /// A `-tag` flag without `=`.
    #[error("invalid -tag '{0}': expected KEY=VALUE")]
    TagFlag(String),
    /// A handler concurrency out of range.
    #[error("invalid handler_concurrency {0}: must be between 1 and 1024")]
    HandlerConcurrency(usize),
    /// A setting with a value out of its range.
    #[error("invalid {setting}: {reason}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A protocol setting the core refuses.
    #[error("invalid {setting}: {reason}")]
    Protocol {
        /// The agent's name for the setting.
        setting: &'static str,
        /// The core's reason.
        reason: String,
    },
    /// Any other configuration the core refuses.
    #[error("invalid configuration: {0}")]
    Core(hearsay_tokio::protocol::ConfigError),
    /// A bad `-event-handler`.
    #[error(transparent)]
    Handler(#[from] HandlerSpecError),
    /// A bad `-encrypt` key.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// One config source: a file, or the flags. Every field is optional so sources can be
/// merged: later scalars win, lists are appended, tag maps are merged key by key.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `-node`.
    pub node_name: Option<String>,
    /// `-bind`.
    pub bind: Option<String>,
    /// `-advertise`.
    pub advertise: Option<String>,
    /// `-rpc-addr`.
    pub rpc_addr: Option<String>,
    /// `-rpc-auth`.
    pub rpc_auth: Option<String>,
    /// `-join`.
    #[serde(default)]
    pub start_join: Vec<String>,
    /// `-retry-join`.
    #[serde(default)]
    pub retry_join: Vec<String>,
    /// `-retry-interval`.
    pub retry_interval: Option<String>,
    /// `-retry-max`.
    pub retry_max_attempts: Option<u32>,
    /// `-replay`.
    pub replay_on_join: Option<bool>,
    /// `-tag`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `-tags-file`.
    pub tags_file: Option<PathBuf>,
    /// `-profile`.
    pub profile: Option<String>,
    /// `-event-handler`.
    #[serde(default)]
    pub event_handlers: Vec<String>,
    /// `-snapshot`.
    pub snapshot_path: Option<PathBuf>,
    /// `-rejoin`.
    pub rejoin_after_leave: Option<bool>,
    /// `-log-level`.
    pub log_level: Option<String>,
    /// `-log-json`.
    pub log_json: Option<bool>,
    /// `-leave-on-terminate`.
    pub leave_on_terminate: Option<bool>,
    /// `-skip-leave-on-interrupt`.
    pub skip_leave_on_interrupt: Option<bool>,
    /// `-reconnect-interval`.
    pub reconnect_interval: Option<String>,
    /// `-reconnect-timeout`.
    pub reconnect_timeout: Option<String>,
    /// `-tombstone-timeout`.
    pub tombstone_timeout: Option<String>,
    /// `-user-event-size-limit`.
    pub user_event_size_limit: Option<usize>,
    /// `-query-size-limit`.
    pub query_size_limit: Option<usize>,
    /// `-query-response-size-limit`.
    pub query_response_size_limit: Option<usize>,
    /// `-handler-concurrency`.
    pub handler_concurrency: Option<usize>,
    /// `-handler-timeout`.
    pub handler_timeout: Option<String>,
    /// `-encrypt`: base64 of a 32-byte key (Serf's `encrypt_key`).
    pub encrypt_key: Option<String>,
    /// `-keyring-file`.
    pub keyring_file: Option<PathBuf>,
    /// `-label`.
    pub label: Option<String>,
    /// `-encrypt-accept-plaintext`.
    pub encrypt_accept_plaintext: Option<bool>,
    /// `-encrypt-send-plaintext`.
    pub encrypt_send_plaintext: Option<bool>,
}

impl FileConfig {
    /// Lays `other` over `self`.
    pub fn merge(&mut self, other: FileConfig) {
        macro_rules! over {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        over!(
            node_name,
            bind,
            advertise,
            rpc_addr,
            rpc_auth,
            retry_interval,
            retry_max_attempts,
            replay_on_join,
            tags_file,
            profile,
            snapshot_path,
            rejoin_after_leave,
            log_level,
            log_json,
            leave_on_terminate,
            skip_leave_on_interrupt,
            reconnect_interval,
            reconnect_timeout,
            tombstone_timeout,
            user_event_size_limit,
            query_size_limit,
            query_response_size_limit,
            handler_concurrency,
            handler_timeout,
            encrypt_key,
            keyring_file,
            label,
            encrypt_accept_plaintext,
            encrypt_send_plaintext
        );
        self.start_join.extend(other.start_join);
        self.retry_join.extend(other.retry_join);
        self.event_handlers.extend(other.event_handlers);
        self.tags.extend(other.tags);
    }

    /// The flags as a config source.
    ///
    /// # Errors
    /// A `-tag` without `=`.
    pub fn from_args(a: &AgentArgs) -> Result<Self, ConfigError> {
        let mut tags = BTreeMap::new();
        for t in &a.tag {
            let (k, v) = t
                .split_once('=')
                .ok_or_else(|| ConfigError::TagFlag(t.clone()))?;
            tags.insert(k.to_owned(), v.to_owned());
        }
        Ok(Self {
            node_name: a.node.clone(),
            bind: a.bind.clone(),
            advertise: a.advertise.clone(),
            rpc_addr: a.rpc_addr.clone(),
            rpc_auth: a.rpc_auth.clone(),
            start_join: a.join.clone(),
            retry_join: a.retry_join.clone(),
            retry_interval: a.retry_interval.clone(),
            retry_max_attempts: a.retry_max,
            replay_on_join: a.replay,
            tags,
            tags_file: a.tags_file.clone(),
            profile: a.profile.clone(),
            event_handlers: a.event_handler.clone(),
            snapshot_path: a.snapshot.clone(),
            rejoin_after_leave: a.rejoin,
            log_level: a.log_level.clone(),
            log_json: a.log_json,
            leave_on_terminate: a.leave_on_terminate,
            skip_leave_on_interrupt: a.skip_leave_on_interrupt,
            reconnect_interval: a.reconnect_interval.clone(),
            reconnect_timeout: a.reconnect_timeout.clone(),
            tombstone_timeout: a.tombstone_timeout.clone(),
            user_event_size_limit: a.user_event_size_limit,
            query_size_limit: a.query_size_limit,
            query_response_size_limit: a.query_response_size_limit,
            handler_concurrency: a.handler_concurrency,
            handler_timeout: a.handler_timeout.clone(),
            encrypt_key: a.encrypt.clone(),
            keyring_file: a.keyring_file.clone(),
            label: a.label.clone(),
            encrypt_accept_plaintext: a.encrypt_accept_plaintext,
            encrypt_send_plaintext: a.encrypt_send_plaintext,
        })
    }

    /// Parses one file, JSON or TOML by extension (content sniffed when there is none).
    ///
    /// # Errors
    /// Unreadable file, syntax error or unknown key, naming the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let json = match ext {
            "json" => true,
            "toml" => false,
            _ => text.trim_start().starts_with('{'),
        };
        let parse_error = |message: String| ConfigError::ParseFile {
            path: path.to_owned(),
            message,
        };
        if json {
            serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))
        } else {
            toml::from_str(&text).map_err(|e| parse_error(e.message().to_owned()))
        }
    }
}

/// Loads files, then directories, then the flags; later sources win.
///
/// # Errors
/// One line naming the file or setting.
pub fn gather(args: &AgentArgs) -> Result<FileConfig, ConfigError> {
    let mut merged = FileConfig::default();
    for f in &args.config_file {
        merged.merge(FileConfig::load(f)?);
    }
    for dir in &args.config_dir {
        let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::ReadDir {
            path: dir.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("json" | "toml")
                    )
            })
            .collect();
        files.sort();
        for f in files {
            merged.merge(FileConfig::load(&f)?);
        }
    }
    merged.merge(FileConfig::from_args(args)?);
    Ok(merged)
}

/// Timing profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Serf's LAN defaults.
    Lan,
    /// Wide area.
    Wan,
    /// One host.
    Local,
}

/// The checked configuration the agent runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Node name.
    pub node_name: String,
    /// Gossip bind address.
    pub bind: SocketAddr,
    /// Advertise address.
    pub advertise: Option<SocketAddr>,
    /// RPC listen address.
    pub rpc_addr: SocketAddr,
    /// RPC token.
    pub rpc_auth: Option<String>,
    /// Joined at start (fatal when none answers).
    pub start_join: Vec<String>,
    /// Joined in the background until it works.
    pub retry_join: Vec<String>,
    /// Time between retries.
    pub retry_interval: Duration,
    /// Most retries; 0 is unlimited.
    pub retry_max: u32,
    /// Replay old user events when joining.
    pub replay: bool,
    /// Initial tags (after the tags file is applied by the agent).
    pub tags: BTreeMap<String, String>,
    /// Persisted tags.
    pub tags_file: Option<PathBuf>,
    /// Profile.
    pub profile: Profile,
    /// Handlers.
    pub handlers: Vec<HandlerSpec>,
    /// Snapshot path.
    pub snapshot: Option<PathBuf>,
    /// Rejoin from the snapshot after a leave.
    pub rejoin: bool,
    /// Log level.
    pub log_level: tracing::Level,
    /// JSON logs.
    pub log_json: bool,
    /// SIGTERM leaves gracefully.
    pub leave_on_terminate: bool,
    /// SIGINT stops without leaving.
    pub skip_leave_on_interrupt: bool,
    /// The protocol configuration.
    pub protocol: Config,
    /// Handlers at once.
    pub handler_concurrency: usize,
    /// Per-run handler timeout.
    pub handler_timeout: Duration,
    /// `-encrypt`: the key, checked.
    pub encrypt: Option<SecretKey>,
    /// `-keyring-file`.
    pub keyring_file: Option<PathBuf>,
}

/// Parses a Go-style duration (`500ms`, `30s`, `24h`, `1h30m`).
///
/// # Errors
/// A message naming `setting`.
pub fn parse_duration(setting: &'static str, s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s.trim()).map_err(|source| ConfigError::Duration {
        setting,
        value: s.to_owned(),
        source,
    })
}

/// Parses a log level name.
///
/// # Errors
/// A message naming the setting.
pub fn parse_level(s: &str) -> Result<tracing::Level, ConfigError> {
    match s.to_ascii_lowercase().as_str() {
        "trace" => Ok(tracing::Level::TRACE),
        "debug" => Ok(tracing::Level::DEBUG),
        "info" => Ok(tracing::Level::INFO),
        "warn" | "warning" => Ok(tracing::Level::WARN),
        "err" | "error" => Ok(tracing::Level::ERROR),
        _ => Err(ConfigError::LogLevel(s.to_owned())),
    }
}

/// Parses `host:port`, `ip`, or `[v6]:port`; a missing port is `default_port`. Names are
/// resolved.
///
/// # Errors
/// A message naming `setting`.
pub fn parse_addr(
    setting: &'static str,
    s: &str,
    default_port: u16,
) -> Result<SocketAddr, ConfigError> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if s
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_owned()
    } else {
        format!("{s}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| ConfigError::Addr {
            setting,
            value: s.to_owned(),
        })
}

/// The machine's host name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "hearsay".to_owned())
}

/// Maps the core's field names to the agent's setting names in error messages.
fn setting_name(field: &'static str) -> &'static str {
    match field {
        "user_event_bytes_max" => "user_event_size_limit",
        "query_bytes_max" => "query_size_limit",
        "query_response_bytes_max" => "query_response_size_limit",
        other => other,
    }
}

impl FileConfig {
    /// Checks every value and builds [`Settings`].
    ///
    /// # Errors
    /// One line naming the first bad setting.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let node_name = self.node_name.unwrap_or_else(hostname);
        if hearsay_tokio::protocol::NodeName::new(&node_name).is_err() {
            return Err(ConfigError::NodeName(node_name));
        }
        let bind = parse_addr(
            "bind",
            self.bind.as_deref().unwrap_or("0.0.0.0"),
            DEFAULT_PORT,
        )?;
        let advertise = self
            .advertise
            .as_deref()
            .map(|a| parse_addr("advertise", a, bind.port()))
            .transpose()?;
        let rpc_addr = parse_addr(
            "rpc_addr",
            self.rpc_addr.as_deref().unwrap_or(DEFAULT_RPC_ADDR),
            7373,
        )?;
        let profile = match self.profile.as_deref().unwrap_or("lan") {
            "lan" => Profile::Lan,
            "wan" => Profile::Wan,
            "local" => Profile::Local,
            p => return Err(ConfigError::Profile(p.to_owned())),
        };
        let mut protocol = match profile {
            Profile::Lan => Config::lan(),
            Profile::Wan => Config::wan(),
            Profile::Local => Config::local(),
        };
        if let Some(d) = &self.reconnect_interval {
            protocol.reconnect_interval = parse_duration("reconnect_interval", d)?;
        }
        if let Some(d) = &self.reconnect_timeout {
            protocol.reconnect_timeout = parse_duration("reconnect_timeout", d)?;
        }
        if let Some(d) = &self.tombstone_timeout {
            protocol.tombstone_timeout = parse_duration("tombstone_timeout", d)?;
        }
        if let Some(n) = self.user_event_size_limit {
            protocol.user_event_bytes_max = n;
        }
        if let Some(n) = self.query_size_limit {
            protocol.query_bytes_max = n;
        }
        if let Some(n) = self.query_response_size_limit {
            protocol.query_response_bytes_max = n;
        }
        protocol.label = self.label.clone().filter(|l| !l.is_empty());
        protocol.accept_plaintext = self.encrypt_accept_plaintext.unwrap_or(false);
        protocol.send_plaintext = self.encrypt_send_plaintext.unwrap_or(false);
        let encrypt = self
            .encrypt_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(|k| crate::keyring::parse_key("-encrypt (encrypt_key)", k))
            .transpose()?;
        protocol.validate().map_err(|e| match e {
            hearsay_tokio::protocol::ConfigError::Invalid { field, reason } => {
                ConfigError::Protocol {
                    setting: setting_name(field),
                    reason: reason.to_string(),
                }
            }
            other => ConfigError::Core(other),
        })?;
        let retry_interval = match &self.retry_interval {
            Some(d) => parse_duration("retry_interval", d)?,
            None => Duration::from_secs(30),
        };
        if retry_interval.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "retry_interval",
                reason: "must be above zero",
            });
        }
        let mut handlers = Vec::new();
        for h in &self.event_handlers {
            handlers.push(HandlerSpec::parse(h)?);
        }
        let log_level = parse_level(self.log_level.as_deref().unwrap_or("info"))?;
        let handler_concurrency = self.handler_concurrency.unwrap_or(4);
        if handler_concurrency == 0 || handler_concurrency > 1024 {
            return Err(ConfigError::HandlerConcurrency(handler_concurrency));
        }
        let handler_timeout = match &self.handler_timeout {
            Some(d) => parse_duration("handler_timeout", d)?,
            None => Duration::from_secs(60),
        };
        if handler_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "handler_timeout",
                reason: "must be above zero",
            });
        }
        if self.tags.keys().any(String::is_empty) {
            return Err(ConfigError::Invalid {
                setting: "tag",
                reason: "empty key",
            });
        }
        if self.rpc_auth.as_deref().is_some_and(|t| t.contains('\n')) {
            return Err(ConfigError::Invalid {
                setting: "rpc_auth",
                reason: "must be one line",
            });
        }
        Ok(Settings {
            node_name,
            bind,
            advertise,
            rpc_addr,
            rpc_auth: self.rpc_auth.filter(|t| !t.is_empty()),
            start_join: self.start_join,
            retry_join: self.retry_join,
            retry_interval,
            retry_max: self.retry_max_attempts.unwrap_or(0),
            replay: self.replay_on_join.unwrap_or(false),
            tags: self.tags,
            tags_file: self.tags_file,
            profile,
            handlers,
            snapshot: self.snapshot_path,
            rejoin: self.rejoin_after_leave.unwrap_or(false),
            log_level,
            log_json: self.log_json.unwrap_or(false),
            leave_on_terminate: self.leave_on_terminate.unwrap_or(false),
            skip_leave_on_interrupt: self.skip_leave_on_interrupt.unwrap_or(false),
            protocol,
            handler_concurrency,
            handler_timeout,
            encrypt,
            keyring_file: self.keyring_file,
        })
    }
}

/// Gathers and resolves everything for `hearsay agent`.
///
/// # Errors
/// One line naming the bad file or setting.
pub fn settings(args: &AgentArgs) -> Result<Settings, ConfigError> {
    gather(args)?.resolve()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hearsay-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn files_merge_in_order_and_flags_win() {
        let a = tmp(
            "a.json",
            r#"{"node_name":"from-a","tags":{"role":"db","dc":"x"},"start_join":["1.2.3.4"],
                "profile":"wan"}"#,
        );
        let b = tmp(
            "b.toml",
            "node_name = \"from-b\"\nstart_join = [\"5.6.7.8\"]\n[tags]\nrole = \"web\"\n",
        );
        let args = AgentArgs {
            config_file: vec![a, b],
            profile: Some("local".into()),
            tag: vec!["zone=z1".into()],
            ..AgentArgs::default()
        };
        let merged = gather(&args).unwrap();
        assert_eq!(merged.node_name.as_deref(), Some("from-b"));
        assert_eq!(merged.start_join, ["1.2.3.4", "5.6.7.8"]);
        assert_eq!(merged.profile.as_deref(), Some("local"));
        let tags: Vec<_> = merged
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(tags, ["dc=x", "role=web", "zone=z1"]);
        let s = merged.resolve().unwrap();
        assert_eq!(s.profile, Profile::Local);
        assert_eq!(s.bind, "0.0.0.0:7946".parse().unwrap());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let bad = |f: FileConfig| f.resolve().unwrap_err().to_string();
        let e = bad(FileConfig {
            profile: Some("moon".into()),
            ..FileConfig::default()
        });
        assert!(e.contains("profile"), "{e}");
        let e = bad(FileConfig {
            retry_interval: Some("soon".into()),
            ..FileConfig::default()
        });
        assert!(e.contains("retry_interval"), "{e}");
        let e = bad(FileConfig {
            user_event_size_limit: Some(10 << 20),
            ..FileConfig::default()
        });
        assert!(e.contains("user_event_size_limit"), "{e}");
        let e = bad(FileConfig {
            bind: Some("not an address".into()),
            ..FileConfig::default()
        });
        assert!(e.contains("bind"), "{e}");
        let e = bad(FileConfig {
            event_handlers: vec!["bogus-event=x.sh".into()],
            ..FileConfig::default()
        });
        assert!(e.contains("bogus-event"), "{e}");
    }

    #[test]
    fn unknown_keys_in_files_are_reported_with_the_file() {
        let p = tmp("typo.json", r#"{"node_nmae":"x"}"#);
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("typo.json") && e.contains("node_nmae"), "{e}");
    }

    #[test]
    fn addresses_default_their_port() {
        assert_eq!(
            parse_addr("bind", "10.0.0.1", 7946).unwrap(),
            "10.0.0.1:7946".parse().unwrap()
        );
        assert_eq!(
            parse_addr("bind", "[::1]:5", 7946).unwrap(),
            "[::1]:5".parse().unwrap()
        );
        assert_eq!(parse_addr("bind", "localhost", 7946).unwrap().port(), 7946);
    }
}

//! The agent's security side: the keyring at start (`-encrypt`, `-keyring-file`), keeping
//! the keyring file in step with the node's keyring, the cluster-wide key commands, the
//! plaintext switches (RPC and SIGHUP), and warnings when packets are dropped for a key,
//! plaintext or label mismatch.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hearsay_tokio::Hearsay;
use hearsay_tokio::protocol::{EncryptionStep, Keyring};
use serde::Serialize;

use crate::config::{FileConfig, Settings};
use crate::keyring::{self, KeyError};

/// How often the keyring file is synced and the drop counters are checked.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Least time between two warnings of one kind.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// The agent's view of its encryption settings.
#[derive(Debug)]
pub struct Security {
    state: Mutex<State>,
    /// Serialises keyring file writes.
    write: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    keyring_file: Option<PathBuf>,
    /// What the keyring file holds (as last read or written).
    persisted: Option<Keyring>,
    encrypted: bool,
    accept_plaintext: bool,
    send_plaintext: bool,
    label: Option<String>,
}

/// The plaintext switches, as `set-plaintext` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlaintextState {
    /// Whether gossip is encrypted.
    pub encrypted: bool,
    /// Plaintext packets are accepted.
    pub accept_plaintext: bool,
    /// Plaintext packets are sent.
    pub send_plaintext: bool,
}

/// `info`'s `encryption` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EncryptionInfo {
    /// Whether gossip is encrypted.
    pub encrypted: bool,
    /// Keys in the keyring.
    pub keys: usize,
    /// The keyring file (empty when none).
    pub keyring_file: String,
    /// The cluster label (empty when none).
    pub label: String,
    /// Plaintext packets are accepted.
    pub accept_plaintext: bool,
    /// Plaintext packets are sent.
    pub send_plaintext: bool,
    /// Packets no key could open.
    pub decrypt_failures: u64,
    /// Plaintext packets refused.
    pub plaintext_rejected: u64,
    /// Packets with another label, dropped.
    pub label_mismatches: u64,
}

/// One rate-limited warning: a counter that should stay still.
#[derive(Debug, Default)]
struct Watch {
    seen: u64,
    warned_at: Option<Instant>,
    unreported: u64,
}

impl Watch {
    /// Takes the counter's new value; returns how many to report now, if any.
    fn update(&mut self, value: u64, now: Instant) -> Option<u64> {
        self.unreported += value.saturating_sub(self.seen);
        self.seen = value;
        if self.unreported == 0 {
            return None;
        }
        if self
            .warned_at
            .is_some_and(|t| now.duration_since(t) < WARN_INTERVAL)
        {
            return None;
        }
        self.warned_at = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }
}

/// The keyring the agent starts with: the keyring file when it exists (then `-encrypt` is
/// ignored, with a warning, as in Serf), else `-encrypt` (written to the keyring file
/// when one is named).
///
/// # Errors
/// An unreadable or corrupt keyring file, or one that cannot be written.
pub fn initial_keyring(settings: &Settings) -> Result<(Option<Keyring>, bool), KeyError> {
    let from_key = settings.encrypt.clone().map(Keyring::new);
    let Some(path) = &settings.keyring_file else {
        return Ok((from_key, false));
    };
    match keyring::read_file(path)? {
        Some(ring) => {
            if from_key.is_some() {
                tracing::warn!(
                    keyring_file = %path.display(),
                    "both -encrypt and an existing keyring file were given: using the keyring \
                     file, ignoring -encrypt"
                );
            }
            Ok((Some(ring), true))
        }
        None => match from_key {
            Some(ring) => {
                keyring::write_file(path, &ring)?;
                tracing::info!(keyring_file = %path.display(), "keyring file created from -encrypt");
                Ok((Some(ring), true))
            }
            None => Ok((None, false)),
        },
    }
}

impl Security {
    /// The state at start.
    pub fn new(settings: &Settings, keyring: Option<&Keyring>, persisted: bool) -> Self {
        // As the core reads the two switches: sending plaintext implies accepting it.
        let step = EncryptionStep::from_switches(
            settings.protocol.send_plaintext,
            settings.protocol.accept_plaintext,
        );
        Self {
            state: Mutex::new(State {
                keyring_file: settings.keyring_file.clone(),
                persisted: if persisted { keyring.cloned() } else { None },
                encrypted: keyring.is_some(),
                accept_plaintext: step.accepts_plaintext(),
                send_plaintext: step.sends_plaintext(),
                label: settings.protocol.label.clone(),
            }),
            write: tokio::sync::Mutex::new(()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// Whether gossip is encrypted.
    pub fn encrypted(&self) -> bool {
        self.with(|s| s.encrypted).unwrap_or(false)
    }

    /// The cluster label.
    pub fn label(&self) -> Option<String> {
        self.with(|s| s.label.clone()).flatten()
    }

    /// Writes the node's keyring to the keyring file when it changed.
    ///
    /// # Errors
    /// [`KeyError::Write`]: the file cannot be written.
    pub async fn persist(&self, node: &Hearsay) -> Result<(), KeyError> {
        let _guard = self.write.lock().await;
        let Ok(ring) = node.keyring().await else {
            return Ok(());
        };
        self.with(|s| s.encrypted = ring.is_some());
        let Some(ring) = ring else {
            return Ok(());
        };
        let Some((path, stale)) = self
            .with(|s| {
                s.keyring_file
                    .clone()
                    .map(|p| (p, s.persisted.as_ref() != Some(&ring)))
            })
            .flatten()
        else {
            return Ok(());
        };
        if !stale {
            return Ok(());
        }
        keyring::write_file(&path, &ring)?;
        tracing::info!(
            keyring_file = %path.display(),
            keys = ring.keys().len(),
            "keyring file updated"
        );
        self.with(|s| s.persisted = Some(ring));
        Ok(())
    }

    /// Changes the plaintext switches of this node.
    ///
    /// # Errors
    /// The node has stopped.
    pub async fn set_plaintext(
        &self,
        node: &Hearsay,
        accept: Option<bool>,
        send: Option<bool>,
    ) -> Result<PlaintextState, hearsay_driver::Error> {
        // The switches name a rollout step; sending plaintext implies accepting it.
        let (current_accept, current_send) = self
            .with(|s| (s.accept_plaintext, s.send_plaintext))
            .unwrap_or_default();
        let wanted_accept = accept.unwrap_or(current_accept);
        let wanted_send = send.unwrap_or(current_send);
        let step = EncryptionStep::from_switches(wanted_send, wanted_accept);
        node.set_encryption_step(step).await?;
        if wanted_send && !wanted_accept {
            tracing::warn!(
                "sending plaintext implies accepting it: accept_plaintext stays on (turn \
                 send_plaintext off first)"
            );
        }
        let (accept, send, encrypted) = self
            .with(|s| {
                s.accept_plaintext = step.accepts_plaintext();
                s.send_plaintext = step.sends_plaintext();
                (s.accept_plaintext, s.send_plaintext, s.encrypted)
            })
            .unwrap_or_default();
        tracing::info!(
            accept_plaintext = accept,
            send_plaintext = send,
            ?step,
            "encryption step changed"
        );
        Ok(PlaintextState {
            encrypted,
            accept_plaintext: accept,
            send_plaintext: send,
        })
    }

    /// SIGHUP: applies the security settings of the reloaded configuration. A node without
    /// a keyring gets one from `keyring_file` / `encrypt_key` (the first step of turning
    /// encryption on in a live cluster); the plaintext switches are applied when set. A
    /// keyring already in use is only changed by `hearsay keys`.
    pub async fn reload(&self, node: &Hearsay, cfg: &FileConfig) {
        let mut accept = cfg.encrypt_accept_plaintext;
        let mut send = cfg.encrypt_send_plaintext;
        if cfg.label.as_deref().filter(|l| !l.is_empty()) != self.label().as_deref() {
            tracing::warn!("the label cannot change at run time; restart the agent to change it");
        }
        let has_keyring = matches!(node.keyring().await, Ok(Some(_)));
        let mut install = None;
        if !has_keyring {
            match reload_keyring(cfg) {
                Ok(Some(ring)) => {
                    // Unset switches take their defaults now that encryption is on.
                    accept = Some(accept.unwrap_or(false));
                    send = Some(send.unwrap_or(false));
                    install = Some(ring);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("reload: {e}; encryption stays off");
                    return;
                }
            }
        }
        if (accept.is_some() || send.is_some())
            && let Err(e) = self.set_plaintext(node, accept, send).await
        {
            tracing::error!("reload: error setting the plaintext switches: {e}");
            return;
        }
        if let Some(ring) = install {
            if let Some(path) = &cfg.keyring_file {
                self.with(|s| s.keyring_file = Some(path.clone()));
            }
            match node.set_keyring(Some(ring)).await {
                Ok(()) => {
                    self.with(|s| s.encrypted = true);
                    tracing::info!("reload: encryption turned on");
                    if let Err(e) = self.persist(node).await {
                        tracing::error!("{e}");
                    }
                }
                Err(e) => tracing::error!("reload: cannot install the keyring: {e}"),
            }
        }
    }

    /// Figures for `info`.
    pub fn info(&self, stats: &hearsay_tokio::protocol::Stats, keys: usize) -> EncryptionInfo {
        self.with(|s| EncryptionInfo {
            encrypted: s.encrypted,
            keys,
            keyring_file: s
                .keyring_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            label: s.label.clone().unwrap_or_default(),
            accept_plaintext: s.accept_plaintext,
            send_plaintext: s.send_plaintext,
            decrypt_failures: stats.decrypt_failures,
            plaintext_rejected: stats.plaintext_rejected,
            label_mismatches: stats.label_mismatches,
        })
        .unwrap_or_default()
    }
}

fn reload_keyring(cfg: &FileConfig) -> Result<Option<Keyring>, KeyError> {
    if let Some(path) = &cfg.keyring_file
        && let Some(ring) = keyring::read_file(path)?
    {
        return Ok(Some(ring));
    }
    cfg.encrypt_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(|k| keyring::parse_key("-encrypt (encrypt_key)", k).map(Keyring::new))
        .transpose()
}

/// Keeps the keyring file in step with the node and warns (at most every 30 s per kind)
/// when packets are dropped because no key opens them, because they are plaintext, or
/// because of their label. Runs until the node stops.
pub async fn watch(security: std::sync::Arc<Security>, node: Hearsay) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut decrypt, mut plain, mut label) =
        (Watch::default(), Watch::default(), Watch::default());
    loop {
        tick.tick().await;
        if let Err(e) = security.persist(&node).await {
            tracing::error!("{e}");
        }
        let Ok(stats) = node.stats().await else {
            return;
        };
        let now = Instant::now();
        let n = &stats.node;
        if let Some(count) = decrypt.update(n.decrypt_failures, now) {
            if security.encrypted() {
                tracing::warn!(
                    count,
                    "no key matches: {count} encrypted packets could not be opened with any key \
                     in this node's keyring; this node may have missed a key rotation, or a \
                     peer uses another key. Give it a current key (`hearsay keys -install`, \
                     or restart it with a current -keyring-file)"
                );
            } else {
                tracing::warn!(
                    count,
                    "no key matches: {count} encrypted packets received, but this node has no \
                     encryption key; start it with -encrypt or -keyring-file"
                );
            }
        }
        if let Some(count) = plain.update(n.plaintext_rejected, now) {
            tracing::warn!(
                count,
                "{count} plaintext packets refused (this node requires encryption): a peer \
                 runs without the cluster key or still sends plaintext"
            );
        }
        if let Some(count) = label.update(n.label_mismatches, now) {
            tracing::warn!(
                count,
                "{count} packets with another cluster label (or none) dropped: a peer belongs \
                 to another cluster or runs with another -label"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_rate_limited_and_count_everything() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert_eq!(w.update(0, t0), None);
        assert_eq!(w.update(3, t0), Some(3));
        assert_eq!(w.update(5, t0 + Duration::from_secs(1)), None);
        assert_eq!(w.update(9, t0 + Duration::from_secs(10)), None);
        assert_eq!(w.update(9, t0 + Duration::from_secs(31)), Some(6));
        assert_eq!(w.update(9, t0 + Duration::from_secs(70)), None);
        assert_eq!(w.update(10, t0 + Duration::from_secs(71)), Some(1));
    }
}

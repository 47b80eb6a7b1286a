//! The envelope around every packet and stream frame: version, flags, the cluster label,
//! and — with a keyring — the seal.
//!
//! Inbound, [`Envelope::open`] checks the label, opens a sealed body with any key of the
//! keyring and refuses plaintext while encryption is required; each refusal is counted.
//! Outbound, [`Envelope::begin`] writes the header and [`Envelope::finish`] seals the body
//! in place (the header is the associated data, so a label cannot be swapped). The AEAD
//! itself is in `seal`.
//!
//! Turning encryption on in a live cluster goes through the steps of [`EncryptionStep`]:
//! send plaintext while peers cannot open sealed packets yet, accept plaintext while some
//! peers still send it.

use alloc::vec::Vec;

use rand_core::RngCore;

use crate::config::Config;
use crate::error::InboundError;
use crate::seal::{Keyring, SEAL_OVERHEAD};
use crate::stats::Stats;
use crate::wire;

/// Message bytes of an inbound packet: borrowed from the input, or opened from a seal.
pub(crate) enum Body<'b> {
    Borrowed(&'b [u8]),
    Owned(Vec<u8>),
}

impl Body<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Body::Borrowed(b) => b,
            Body::Owned(v) => v,
        }
    }

    /// Whether the body arrived sealed.
    pub fn was_sealed(&self) -> bool {
        matches!(self, Body::Owned(_))
    }
}

/// Where a node with a keyring stands in turning encryption on (or off) in a live cluster,
/// without downtime. Walk every node through the steps in order — all nodes to
/// [`Prepare`](Self::Prepare), then all to [`Seal`](Self::Seal), then all to
/// [`Enforce`](Self::Enforce) (reverse the order to turn encryption off). Nodes one step
/// apart always understand each other, so the rollout is safe while it is under way.
///
/// | step | sends | accepts |
/// | --- | --- | --- |
/// | `Prepare` | plaintext | plaintext and sealed |
/// | `Seal` | sealed | plaintext and sealed |
/// | `Enforce` (the normal encrypted state) | sealed | sealed only |
///
/// Set it with [`Node::set_encryption_step`](crate::Node::set_encryption_step); the
/// initial step comes from `Config::send_plaintext` / `Config::accept_plaintext`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum EncryptionStep {
    /// Step 1: the keyring is installed but the node still sends plaintext, so nodes
    /// without the key still hear it; it accepts sealed and plaintext packets.
    Prepare,
    /// Step 2: the node seals what it sends and still accepts plaintext from nodes at
    /// step 1.
    Seal,
    /// Step 3: the node seals everything and refuses plaintext.
    Enforce,
}

impl EncryptionStep {
    /// The step the two plaintext switches of [`Config`] describe. Sending plaintext
    /// implies accepting it (a node that sends plaintext but refuses it could not hear its
    /// own kind).
    pub fn from_switches(send_plaintext: bool, accept_plaintext: bool) -> Self {
        match (send_plaintext, accept_plaintext) {
            (true, _) => EncryptionStep::Prepare,
            (false, true) => EncryptionStep::Seal,
            (false, false) => EncryptionStep::Enforce,
        }
    }

    /// Whether a node at this step sends plaintext.
    pub fn sends_plaintext(self) -> bool {
        self == EncryptionStep::Prepare
    }

    /// Whether a node at this step accepts plaintext.
    pub fn accepts_plaintext(self) -> bool {
        self != EncryptionStep::Enforce
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Envelope {
    keyring: Option<Keyring>,
    accept_plaintext: bool,
    send_plaintext: bool,
    label_mismatches: u64,
    decrypt_failures: u64,
    plaintext_rejected: u64,
}

/// The label as the envelope carries it: `None` when unset or empty.
fn label(config: &Config) -> Option<&str> {
    config.label.as_deref().filter(|l| !l.is_empty())
}

impl Envelope {
    /// No keyring; the encryption step as configured.
    pub fn new(config: &Config) -> Self {
        let step = EncryptionStep::from_switches(config.send_plaintext, config.accept_plaintext);
        Self {
            keyring: None,
            accept_plaintext: step.accepts_plaintext(),
            send_plaintext: step.sends_plaintext(),
            label_mismatches: 0,
            decrypt_failures: 0,
            plaintext_rejected: 0,
        }
    }

    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    pub fn keyring_mut(&mut self) -> Option<&mut Keyring> {
        self.keyring.as_mut()
    }

    pub fn set_keyring(&mut self, keyring: Option<Keyring>) {
        self.keyring = keyring;
    }

    pub fn set_step(&mut self, step: EncryptionStep) {
        self.accept_plaintext = step.accepts_plaintext();
        self.send_plaintext = step.sends_plaintext();
    }

    pub fn step(&self) -> EncryptionStep {
        EncryptionStep::from_switches(self.send_plaintext, self.accept_plaintext)
    }

    /// Whether outbound packets are sealed.
    pub fn sealing(&self) -> bool {
        self.keyring.is_some() && !self.send_plaintext
    }

    /// Bytes sealing adds to an outbound packet.
    pub fn seal_overhead(&self) -> usize {
        if self.sealing() { SEAL_OVERHEAD } else { 0 }
    }

    /// Bytes left for messages in a datagram once the envelope (label) and the seal are
    /// counted.
    pub fn datagram_room(&self, config: &Config) -> usize {
        let label = label(config).map_or(0, |l| 1 + l.len().min(255));
        config
            .packet_bytes_max
            .saturating_sub(wire::ENVELOPE_BYTES + label + self.seal_overhead())
    }

    /// Checks the envelope, the cluster label and the seal of a packet or frame of at most
    /// `max` bytes; returns the message bytes. Decode errors are returned for the caller
    /// to count; label, seal and plaintext refusals are counted here.
    pub fn open<'b>(
        &mut self,
        bytes: &'b [u8],
        max: usize,
        config: &Config,
    ) -> Result<Body<'b>, InboundError> {
        let packet = wire::decode_packet(bytes, max).map_err(InboundError::Decode)?;
        if packet.label != label(config) {
            self.label_mismatches += 1;
            return Err(InboundError::LabelMismatch);
        }
        if packet.sealed {
            let opened = self
                .keyring
                .as_ref()
                .and_then(|k| k.open(packet.header, packet.body));
            return match opened {
                Some(plain) => Ok(Body::Owned(plain)),
                None => {
                    self.decrypt_failures += 1;
                    Err(InboundError::Undecryptable)
                }
            };
        }
        if self.keyring.is_some() && !self.accept_plaintext {
            self.plaintext_rejected += 1;
            return Err(InboundError::PlaintextRejected);
        }
        Ok(Body::Borrowed(packet.body))
    }

    /// Writes the envelope header into `buf` (cleared first); returns its length.
    pub fn begin(&self, buf: &mut Vec<u8>, config: &Config) -> usize {
        wire::begin_packet(buf, config.label.as_deref());
        buf.len()
    }

    /// Seals the body after `header_len` in place when encryption is on.
    pub fn finish(&self, buf: &mut Vec<u8>, header_len: usize, rng: &mut impl RngCore) {
        if !self.sealing() {
            return;
        }
        let Some(keyring) = self.keyring.as_ref() else {
            return;
        };
        buf[1] |= wire::FLAG_SEALED;
        let body = buf.split_off(header_len);
        let header = buf.clone();
        keyring.seal(rng, &header, &body, buf);
    }

    /// Writes this rule's counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.label_mismatches = self.label_mismatches;
        stats.decrypt_failures = self.decrypt_failures;
        stats.plaintext_rejected = self.plaintext_rejected;
    }
}

//! Authenticated encryption of packets and frames: AES-256-GCM behind a keyring.
//!
//! A sealed envelope is `header ‖ nonce(12) ‖ ciphertext ‖ tag(16)`, where the header
//! (version, flags with [`FLAG_SEALED`](crate::wire::FLAG_SEALED), label) is the associated
//! data, so a label cannot be swapped on a sealed packet. Nonces come from the node's RNG.
//! Opening tries the primary key, then each secondary: during a rotation nodes on the old
//! and the new primary still understand each other.
//!
//! What this protects and what it does not is in the README's security section.
//!
//! Key material is wiped when it is dropped (the `zeroize` crate): a [`SecretKey`], and
//! in a [`Keyring`] every key and the whole buffer of expanded ciphers (AES key schedules
//! and GHASH keys). The ciphers are re-expanded into a fresh buffer, and the old one wiped,
//! whenever the keys change, so no copy is left behind by a moving or growing vector. Copies
//! the caller makes (`as_bytes`, [`KeyResponse`](crate::KeyResponse) key lists) and
//! transient copies on the stack are not covered.

use alloc::vec::Vec;
use core::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CommandError;

/// Key length in bytes (AES-256).
pub const KEY_BYTES: usize = 32;
/// Bytes sealing adds to a packet: nonce and tag.
pub const SEAL_OVERHEAD: usize = 12 + 16;
/// Most keys a keyring holds.
pub const KEYS_MAX: usize = 16;

/// A 256-bit key. `Debug` never prints it; dropping it wipes it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_BYTES]);

impl Zeroize for SecretKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl SecretKey {
    /// Wraps raw key bytes.
    pub const fn new(bytes: [u8; KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// Reads a key from a slice of exactly 32 bytes.
    ///
    /// # Errors
    /// [`CommandError::InvalidKey`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CommandError> {
        <[u8; KEY_BYTES]>::try_from(bytes)
            .map(Self)
            .map_err(|_| CommandError::InvalidKey)
    }

    /// The raw bytes (for persisting a keyring).
    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// One primary (sealing) key and secondary (opening-only) keys. Dropping it wipes every
/// key and expanded cipher.
pub struct Keyring {
    /// Primary first. Allocated for [`KEYS_MAX`] keys up front, so it never reallocates
    /// (which would leave a copy of the keys in the freed buffer).
    keys: Vec<SecretKey>,
    /// One expanded cipher per key, in the same order: the AES key schedule is computed
    /// when the keys change, not for every packet.
    ciphers: Vec<Aes256Gcm>,
}

impl Clone for Keyring {
    fn clone(&self) -> Self {
        let mut keys = Vec::with_capacity(KEYS_MAX);
        keys.extend(self.keys.iter().cloned());
        let mut ring = Self {
            keys,
            ciphers: Vec::new(),
        };
        ring.expand();
        ring
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        wipe(&mut self.ciphers);
        self.keys.zeroize();
    }
}

impl ZeroizeOnDrop for Keyring {}

/// Drops the ciphers in place and zeroes their whole buffer (spare capacity included).
fn wipe(ciphers: &mut Vec<Aes256Gcm>) {
    ciphers.clear();
    ciphers.spare_capacity_mut().zeroize();
}

impl PartialEq for Keyring {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

impl Eq for Keyring {}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("keys", &self.keys).finish()
    }
}

fn cipher(key: &SecretKey) -> Aes256Gcm {
    Aes256Gcm::new(key.0.as_slice().into())
}

impl Keyring {
    /// A keyring with one key, the primary.
    pub fn new(primary: SecretKey) -> Self {
        let mut keys = Vec::with_capacity(KEYS_MAX);
        keys.push(primary);
        let mut ring = Self {
            keys,
            ciphers: Vec::new(),
        };
        ring.expand();
        ring
    }

    /// Expands one cipher per key, in key order, into a fresh buffer and wipes the old one.
    fn expand(&mut self) {
        let mut ciphers = Vec::with_capacity(self.keys.len());
        ciphers.extend(self.keys.iter().map(cipher));
        let mut old = core::mem::replace(&mut self.ciphers, ciphers);
        wipe(&mut old);
    }

    /// The sealing key.
    pub fn primary(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// Every key, primary first.
    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// Adds a secondary key (no-op if present).
    ///
    /// # Errors
    /// [`CommandError::KeyringFull`] past [`KEYS_MAX`] keys.
    pub fn install(&mut self, key: SecretKey) -> Result<(), CommandError> {
        if self.keys.contains(&key) {
            return Ok(());
        }
        if self.keys.len() >= KEYS_MAX {
            return Err(CommandError::KeyringFull);
        }
        self.keys.push(key);
        self.expand();
        Ok(())
    }

    /// Makes an installed key the primary.
    ///
    /// # Errors
    /// [`CommandError::UnknownKey`] if it is not installed.
    pub fn use_key(&mut self, key: &SecretKey) -> Result<(), CommandError> {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(CommandError::UnknownKey)?;
        self.keys.swap(0, i);
        self.expand();
        Ok(())
    }

    /// Removes a secondary key.
    ///
    /// # Errors
    /// [`CommandError::PrimaryKey`] for the primary, [`CommandError::UnknownKey`] if absent.
    pub fn remove(&mut self, key: &SecretKey) -> Result<(), CommandError> {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(CommandError::UnknownKey)?;
        if i == 0 {
            return Err(CommandError::PrimaryKey);
        }
        self.keys.remove(i);
        self.expand();
        Ok(())
    }

    /// Appends `nonce ‖ ciphertext ‖ tag` of `body` to `out`, with `aad` authenticated.
    pub(crate) fn seal(&self, rng: &mut impl RngCore, aad: &[u8], body: &[u8], out: &mut Vec<u8>) {
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        // Encryption into a Vec cannot fail for inputs under 64 GiB.
        if let Ok(ct) =
            self.ciphers[0].encrypt(Nonce::from_slice(&nonce), Payload { msg: body, aad })
        {
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&ct);
        }
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` with any key; `None` if no key authenticates it.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < SEAL_OVERHEAD {
            return None;
        }
        let (nonce, ct) = sealed.split_at(12);
        self.ciphers.iter().find_map(|c| {
            c.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
                .ok()
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn key(b: u8) -> SecretKey {
        SecretKey::new([b; KEY_BYTES])
    }

    fn sealed(ring: &Keyring, aad: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        ring.seal(&mut ChaCha8Rng::seed_from_u64(1), aad, body, &mut out);
        out
    }

    #[test]
    fn a_sealed_body_opens_with_the_same_key_and_aad() {
        let ring = Keyring::new(key(1));
        let s = sealed(&ring, b"hdr", b"hello");
        assert_eq!(s.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(ring.open(b"hdr", &s).as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn tampering_a_wrong_key_other_aad_or_truncation_fail_to_open() {
        let ring = Keyring::new(key(1));
        let s = sealed(&ring, b"hdr", b"hello");
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 1;
            assert_eq!(ring.open(b"hdr", &t), None, "flipped byte {i}");
        }
        assert_eq!(Keyring::new(key(2)).open(b"hdr", &s), None);
        assert_eq!(ring.open(b"other", &s), None);
        for n in 0..s.len() {
            assert_eq!(ring.open(b"hdr", &s[..n]), None, "truncated to {n}");
        }
    }

    #[test]
    fn secondary_keys_open_and_rotation_moves_the_primary() {
        let old = Keyring::new(key(1));
        let mut ring = Keyring::new(key(1));
        ring.install(key(2)).unwrap();
        ring.use_key(&key(2)).unwrap();
        assert_eq!(ring.primary(), &key(2));
        let from_old = sealed(&old, b"", b"x");
        assert!(
            ring.open(b"", &from_old).is_some(),
            "old primary is now a secondary"
        );
        assert_eq!(ring.remove(&key(2)), Err(CommandError::PrimaryKey));
        ring.remove(&key(1)).unwrap();
        assert!(ring.open(b"", &from_old).is_none());
        assert_eq!(ring.use_key(&key(9)), Err(CommandError::UnknownKey));
        assert_eq!(
            SecretKey::from_slice(&[0; 31]),
            Err(CommandError::InvalidKey)
        );
        assert_eq!(alloc::format!("{:?}", key(7)), "SecretKey(..)");
    }

    #[test]
    fn key_material_is_wiped_on_drop() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<SecretKey>();
        wiped_on_drop::<Keyring>();
        // What drop runs:
        let mut k = key(7);
        k.zeroize();
        assert_eq!(k.as_bytes(), &[0; KEY_BYTES]);
        let mut ring = Keyring::new(key(1));
        ring.install(key(2)).unwrap();
        ring.remove(&key(2)).unwrap();
        let spare = ring.keys.spare_capacity_mut().len();
        ring.keys.zeroize();
        assert!(ring.keys.is_empty());
        assert_eq!(ring.keys.capacity(), KEYS_MAX, "never reallocated");
        assert_eq!(spare, KEYS_MAX - 1);
    }

    #[test]
    fn a_clone_and_a_changed_ring_open_what_the_original_sealed() {
        let mut ring = Keyring::new(key(1));
        ring.install(key(2)).unwrap();
        let s = sealed(&ring, b"", b"x");
        let copy = ring.clone();
        assert!(copy.open(b"", &s).is_some());
        ring.use_key(&key(2)).unwrap();
        assert!(ring.open(b"", &s).is_some(), "the old primary still opens");
        let by_new_primary = sealed(&ring, b"", b"y");
        assert_eq!(
            copy.open(b"", &by_new_primary).as_deref(),
            Some(&b"y"[..]),
            "the new primary seals with key 2, which the copy holds"
        );
        drop(copy);
        assert!(ring.open(b"", &s).is_some());
    }

    #[test]
    fn a_keyring_holds_a_bounded_number_of_keys() {
        let mut ring = Keyring::new(key(0));
        for b in 1..KEYS_MAX as u8 {
            ring.install(key(b)).unwrap();
        }
        assert_eq!(ring.install(key(200)), Err(CommandError::KeyringFull));
    }
}

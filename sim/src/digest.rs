//! A stable 64-bit digest of a run (FNV-1a over 64-bit words).
//!
//! Byte-at-a-time FNV costs too much for the gigabytes a join storm sends, so input is
//! folded eight bytes at a time (little-endian, the tail zero-padded and tagged with its
//! length). The result depends only on the input sequence, never on the platform.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Running digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// The empty digest.
    pub fn new() -> Self {
        Self(OFFSET)
    }

    /// Folds in one word.
    pub fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(PRIME);
    }

    /// Folds in a byte string (its length too, so concatenations differ).
    pub fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    /// The value.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// The value as 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_stable_and_order_sensitive() {
        let mut a = Digest::new();
        a.bytes(b"hello world");
        a.word(7);
        let mut b = Digest::new();
        b.word(7);
        b.bytes(b"hello world");
        assert_ne!(a, b);
        let mut c = Digest::new();
        c.bytes(b"hello world");
        c.word(7);
        assert_eq!(a, c);
        assert_eq!(Digest::new().hex(), "cbf29ce484222325");
    }

    #[test]
    fn lengths_are_part_of_the_digest() {
        let mut a = Digest::new();
        a.bytes(b"ab");
        a.bytes(b"");
        let mut b = Digest::new();
        b.bytes(b"a");
        b.bytes(b"b");
        assert_ne!(a, b);
    }
}

//! The layers around memberlist messages: label header, encryption, CRC, compression and
//! compound packets.

use alloc::vec::Vec;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::{Aes128, Aes192, Aes256};
use aes_gcm::{AesGcm, Nonce};

use super::{MessageType, SerfDecodeError};

type Result<T> = core::result::Result<T, SerfDecodeError>;

// ------------------------------------------------------------------------------------------
// Label
// ------------------------------------------------------------------------------------------

/// Longest label memberlist allows (its length travels in one byte).
pub const LABEL_BYTES_MAX: usize = 255;

/// Splits a label header off a packet or stream: `[244, len, label…]`. Input without the
/// header is returned whole with no label.
///
/// # Errors
/// [`SerfDecodeError::Truncated`] if the header is cut short, [`SerfDecodeError::EmptyLabel`]
/// for a zero length (memberlist refuses it), [`SerfDecodeError::InvalidUtf8`].
pub fn strip_label(buf: &[u8]) -> Result<(Option<&str>, &[u8])> {
    match buf {
        [t, rest @ ..] if *t == MessageType::HasLabel as u8 => {
            let [len, rest @ ..] = rest else {
                return Err(SerfDecodeError::Truncated);
            };
            if *len == 0 {
                return Err(SerfDecodeError::EmptyLabel);
            }
            let len = usize::from(*len);
            let label = rest.get(..len).ok_or(SerfDecodeError::Truncated)?;
            let label = core::str::from_utf8(label).map_err(|_| SerfDecodeError::InvalidUtf8)?;
            Ok((Some(label), &rest[len..]))
        }
        _ => Ok((None, buf)),
    }
}

/// Appends a label header for `label` (nothing for `""`, as memberlist does). Labels
/// longer than [`LABEL_BYTES_MAX`] are the caller's bug; this writes nothing for them and
/// returns false.
pub fn push_label(out: &mut Vec<u8>, label: &str) -> bool {
    if label.len() > LABEL_BYTES_MAX {
        return false;
    }
    if !label.is_empty() {
        out.push(MessageType::HasLabel as u8);
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    true
}

// ------------------------------------------------------------------------------------------
// CRC
// ------------------------------------------------------------------------------------------

/// Bytes of the CRC header: type byte and a big-endian CRC-32 (IEEE).
pub const CRC_HEADER_BYTES: usize = 5;

/// If `buf` starts with a CRC header (`[12, crc32 BE]`, at least 5 bytes), checks the
/// CRC-32 of the rest and returns the rest; otherwise returns `buf` unchanged.
///
/// # Errors
/// [`SerfDecodeError::Checksum`] if the CRC does not match.
pub fn strip_crc(buf: &[u8]) -> Result<&[u8]> {
    match buf {
        [t, a, b, c, d, rest @ ..] if *t == MessageType::HasCrc as u8 => {
            let expected = u32::from_be_bytes([*a, *b, *c, *d]);
            let actual = crc32fast::hash(rest);
            if expected != actual {
                return Err(SerfDecodeError::Checksum { expected, actual });
            }
            Ok(rest)
        }
        _ => Ok(buf),
    }
}

/// Appends a CRC header for `msg`, then `msg`.
pub fn push_crc(out: &mut Vec<u8>, msg: &[u8]) {
    out.push(MessageType::HasCrc as u8);
    out.extend_from_slice(&crc32fast::hash(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

// ------------------------------------------------------------------------------------------
// Compound
// ------------------------------------------------------------------------------------------

/// Most messages in one compound message (the count travels in one byte).
pub const COMPOUND_PARTS_MAX: usize = 255;

/// The parts of a compound message (after its type byte): `[count, len₁ BE16 … lenₙ,
/// part₁ … partₙ]`. As memberlist does, parts cut short by the end of the packet are
/// dropped and counted in `truncated`, and bytes after the last part are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compound<'a> {
    /// The complete parts, in order; each is a whole message (type byte first).
    pub parts: Vec<&'a [u8]>,
    /// Parts announced but cut short.
    pub truncated: usize,
}

impl<'a> Compound<'a> {
    /// Parses the body of a compound message.
    ///
    /// # Errors
    /// [`SerfDecodeError::Truncated`] if the count or the length table is cut short.
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let [count, rest @ ..] = buf else {
            return Err(SerfDecodeError::Truncated);
        };
        let count = usize::from(*count);
        let table = rest.get(..2 * count).ok_or(SerfDecodeError::Truncated)?;
        let mut body = &rest[2 * count..];
        let mut parts = Vec::with_capacity(count);
        for (i, len) in table.chunks_exact(2).enumerate() {
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            if body.len() < len {
                return Ok(Self {
                    parts,
                    truncated: count - i,
                });
            }
            let (part, tail) = body.split_at(len);
            parts.push(part);
            body = tail;
        }
        Ok(Self {
            parts,
            truncated: 0,
        })
    }

    /// Appends a whole compound message (type byte included) holding `parts`.
    ///
    /// # Errors
    /// [`SerfDecodeError::TooLarge`] for more than [`COMPOUND_PARTS_MAX`] parts or a part
    /// over 65 535 bytes; nothing is written then.
    pub fn encode(parts: &[&[u8]], out: &mut Vec<u8>) -> Result<()> {
        if parts.len() > COMPOUND_PARTS_MAX {
            return Err(SerfDecodeError::TooLarge {
                len: parts.len(),
                max: COMPOUND_PARTS_MAX,
            });
        }
        if let Some(p) = parts.iter().find(|p| p.len() > usize::from(u16::MAX)) {
            return Err(SerfDecodeError::TooLarge {
                len: p.len(),
                max: usize::from(u16::MAX),
            });
        }
        out.push(MessageType::Compound as u8);
        out.push(parts.len() as u8);
        for p in parts {
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        }
        for p in parts {
            out.extend_from_slice(p);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// LZW
// ------------------------------------------------------------------------------------------

/// Largest LZW code (12-bit codes).
const LZW_MAX_CODE: u32 = 4095;
/// Clear code for 8-bit literals.
const LZW_CLEAR: u32 = 256;
/// End code for 8-bit literals.
const LZW_EOF: u32 = 257;
/// Slots in the encoder's (prefix, byte) → code table: four per code keeps probes short.
const LZW_TABLE_SLOTS: usize = 4 * 4096;

/// Compresses `data` exactly as Go's `compress/lzw` writer does with `LSB` order and 8-bit
/// literals (memberlist's only algorithm), so re-encoding reproduces real packets: a clear
/// code first, codes of 9 to 12 bits growing when the next code would not fit, a clear
/// code (and a fresh table) when the next code would be 4 095, the last code, an end code,
/// and the bits flushed LSB first.
///
/// Hand-written because `weezl`'s encoder, though compatible, is not bit-identical to Go's
/// (it fills the table one code further and sometimes misses a longer match); decoding
/// uses `weezl` ([`lzw_decompress`]). Pinned by vectors made with Go.
pub fn lzw_compress(data: &[u8]) -> Vec<u8> {
    let mut bits = LzwBits::default();
    bits.out.reserve(data.len() / 2 + 8);
    let Some((&first, rest)) = data.split_first() else {
        bits.put(LZW_CLEAR, 9);
        bits.put(LZW_EOF, 9);
        return bits.finish();
    };
    // Each slot holds `key << 12 | code` for key = prefix << 8 | byte; 0 means empty (no key
    // is 0 once a code is stored, since codes are ≥ 258).
    let mut table = alloc::vec![0u32; LZW_TABLE_SLOTS];
    let mut width = 9u32;
    let mut hi = LZW_EOF;
    let mut overflow = 1u32 << width;
    bits.put(LZW_CLEAR, width);
    let mut code = u32::from(first);
    'bytes: for &b in rest {
        let key = (code << 8) | u32::from(b);
        let mut slot = lzw_slot(key);
        while table[slot] != 0 {
            if table[slot] >> 12 == key {
                code = table[slot] & LZW_MAX_CODE;
                continue 'bytes;
            }
            slot = (slot + 1) % LZW_TABLE_SLOTS;
        }
        bits.put(code, width);
        code = u32::from(b);
        hi += 1;
        if hi == overflow {
            width += 1;
            overflow <<= 1;
        }
        if hi == LZW_MAX_CODE {
            bits.put(LZW_CLEAR, width);
            width = 9;
            hi = LZW_EOF;
            overflow = 1 << width;
            table.fill(0);
            continue;
        }
        table[slot] = (key << 12) | hi;
    }
    bits.put(code, width);
    hi += 1;
    if hi == overflow {
        width += 1;
    }
    if hi == LZW_MAX_CODE {
        bits.put(LZW_CLEAR, width);
        width = 9;
    }
    bits.put(LZW_EOF, width);
    bits.finish()
}

fn lzw_slot(key: u32) -> usize {
    (((key >> 12) ^ key) as usize) % LZW_TABLE_SLOTS
}

/// Packs codes LSB first.
#[derive(Default)]
struct LzwBits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl LzwBits {
    fn put(&mut self, code: u32, width: u32) {
        self.acc |= code << self.n;
        self.n += width;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Decompresses Go-style LZW (LSB, 8-bit literals) into at most `max` bytes.
///
/// # Errors
/// [`SerfDecodeError::Decompress`] for an invalid code stream or one without its end
/// code; [`SerfDecodeError::TooLarge`] if the output would exceed `max` (decompression
/// stops there, so a small bomb costs at most `max` bytes).
pub fn lzw_decompress(data: &[u8], max: usize) -> Result<Vec<u8>> {
    let mut dec = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, 8);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut input = data;
    loop {
        let res = dec.decode_bytes(input, &mut chunk);
        input = input.get(res.consumed_in..).unwrap_or_default();
        let produced = chunk.get(..res.consumed_out).unwrap_or_default();
        if out.len() + produced.len() > max {
            return Err(SerfDecodeError::TooLarge {
                len: out.len() + produced.len(),
                max,
            });
        }
        out.extend_from_slice(produced);
        match res.status {
            Ok(weezl::LzwStatus::Done) => return Ok(out),
            // Progress or room to make some: go on. No progress at all means the input
            // ended without an end code.
            Ok(weezl::LzwStatus::Ok) if res.consumed_in + res.consumed_out > 0 => {}
            Ok(_) | Err(_) => {
                return Err(SerfDecodeError::Decompress);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Encryption
// ------------------------------------------------------------------------------------------

/// memberlist's encryption formats: `version ‖ nonce(12) ‖ AES-GCM(ciphertext ‖ tag(16))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncryptionVersion {
    /// 0: the plaintext is PKCS#7-padded to the AES block size first (memberlist protocol
    /// version 1 only).
    V0Padded,
    /// 1: no padding (every current peer).
    V1,
}

impl EncryptionVersion {
    /// Bytes the seal adds to a message of `len` bytes.
    pub fn overhead(self, len: usize) -> usize {
        match self {
            Self::V0Padded => 1 + NONCE_BYTES + (16 - len % 16) + TAG_BYTES,
            Self::V1 => 1 + NONCE_BYTES + TAG_BYTES,
        }
    }
}

/// Nonce bytes in a sealed message.
pub const NONCE_BYTES: usize = 12;
/// Authentication tag bytes in a sealed message.
pub const TAG_BYTES: usize = 16;

enum Cipher {
    A128(AesGcm<Aes128, U12>),
    A192(AesGcm<Aes192, U12>),
    A256(AesGcm<Aes256, U12>),
}

impl Cipher {
    fn new(key: &[u8]) -> Result<Self> {
        Ok(match key.len() {
            16 => Self::A128(AesGcm::new_from_slice(key).map_err(|_| SerfDecodeError::BadKey)?),
            24 => Self::A192(AesGcm::new_from_slice(key).map_err(|_| SerfDecodeError::BadKey)?),
            32 => Self::A256(AesGcm::new_from_slice(key).map_err(|_| SerfDecodeError::BadKey)?),
            _ => return Err(SerfDecodeError::BadKey),
        })
    }

    fn seal(&self, nonce: &[u8; NONCE_BYTES], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::<U12>::from_slice(nonce);
        let p = Payload { msg, aad };
        match self {
            Self::A128(c) => c.encrypt(nonce, p),
            Self::A192(c) => c.encrypt(nonce, p),
            Self::A256(c) => c.encrypt(nonce, p),
        }
        .ok()
    }

    fn open(&self, nonce: &[u8], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::<U12>::from_slice(nonce);
        let p = Payload { msg, aad };
        match self {
            Self::A128(c) => c.decrypt(nonce, p),
            Self::A192(c) => c.decrypt(nonce, p),
            Self::A256(c) => c.decrypt(nonce, p),
        }
        .ok()
    }
}

/// Seals `msg` with `key` (16, 24 or 32 bytes: AES-128/192/256-GCM) and `nonce` (the
/// caller draws it from its RNG), authenticating `aad`, and appends
/// `version ‖ nonce ‖ ciphertext ‖ tag` to `out`. For packets memberlist uses the label as
/// `aad` (empty without one); for streams, the 5-byte frame header and the label.
///
/// # Errors
/// [`SerfDecodeError::BadKey`] for a key of another length; nothing is written.
pub fn encrypt(
    version: EncryptionVersion,
    key: &[u8],
    nonce: &[u8; NONCE_BYTES],
    msg: &[u8],
    aad: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let cipher = Cipher::new(key)?;
    let sealed = match version {
        EncryptionVersion::V1 => cipher.seal(nonce, msg, aad),
        EncryptionVersion::V0Padded => {
            let pad = 16 - msg.len() % 16;
            let mut padded = Vec::with_capacity(msg.len() + pad);
            padded.extend_from_slice(msg);
            padded.resize(msg.len() + pad, pad as u8);
            cipher.seal(nonce, &padded, aad)
        }
    }
    .ok_or(SerfDecodeError::BadKey)?;
    out.push(match version {
        EncryptionVersion::V0Padded => 0,
        EncryptionVersion::V1 => 1,
    });
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(())
}

/// Opens a sealed message with the first of `keys` that authenticates it.
///
/// # Errors
/// [`SerfDecodeError::UnknownEncryptionVersion`] for a version byte above 1,
/// [`SerfDecodeError::Truncated`] if shorter than the overhead,
/// [`SerfDecodeError::Undecryptable`] if no key opens it (or a version-0 padding is
/// invalid).
pub fn decrypt(keys: &[&[u8]], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let [version, rest @ ..] = msg else {
        return Err(SerfDecodeError::Truncated);
    };
    let version = match version {
        0 => EncryptionVersion::V0Padded,
        1 => EncryptionVersion::V1,
        v => return Err(SerfDecodeError::UnknownEncryptionVersion(*v)),
    };
    if msg.len() < version.overhead(0) {
        return Err(SerfDecodeError::Truncated);
    }
    let (nonce, sealed) = rest.split_at(NONCE_BYTES);
    for key in keys {
        let Ok(cipher) = Cipher::new(key) else {
            continue;
        };
        if let Some(mut plain) = cipher.open(nonce, sealed, aad) {
            if version == EncryptionVersion::V0Padded {
                let pad = usize::from(plain.last().copied().unwrap_or(0));
                if pad == 0 || pad > 16 || pad > plain.len() {
                    return Err(SerfDecodeError::Undecryptable);
                }
                plain.truncate(plain.len() - pad);
            }
            return Ok(plain);
        }
    }
    Err(SerfDecodeError::Undecryptable)
}

//! Encryption keys on the agent's side: base64 keys (`-encrypt`, `hearsay keys`), the
//! keyring file (`-keyring-file`, Serf's format: a JSON list of base64 keys, primary
//! first) and `hearsay keygen`.
//!
//! Key material passing through here (file contents, decoded bytes, base64 text) is held
//! in [`Zeroizing`] buffers, so it is wiped when dropped rather than left in freed memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hearsay_tokio::protocol::{CommandError, KEY_BYTES, Keyring, SecretKey};
use zeroize::Zeroizing;

/// Why a key or a keyring file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not base64.
    #[error("invalid {setting}: not base64 ({source}); generate a key with `hearsay keygen`")]
    NotBase64 {
        /// The setting or file that held it.
        setting: String,
        /// What the decoder said.
        source: base64::DecodeError,
    },
    /// The key decodes to the wrong number of bytes.
    #[error(
        "invalid {setting}: the key is {len} bytes, expected {KEY_BYTES} (AES-256); generate \
         one with `hearsay keygen`"
    )]
    Length {
        /// The setting or file that held it.
        setting: String,
        /// Bytes it decoded to.
        len: usize,
    },
    /// The operating system's RNG failed.
    #[error("cannot read random bytes: {0}")]
    Random(getrandom::Error),
    /// A keyring file with an empty list.
    #[error("{what} holds no keys (expected a list of base64 keys)")]
    Empty {
        /// The file.
        what: String,
    },
    /// The keys do not make a keyring (too many).
    #[error("{what}: {source}")]
    Keyring {
        /// The file.
        what: String,
        /// The core's reason.
        source: CommandError,
    },
    /// The keyring file exists but cannot be read.
    #[error("cannot read keyring_file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The keyring file is not a JSON list of strings.
    #[error(
        "invalid keyring_file {}: {source} (expected a JSON list of base64 keys)",
        .path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The keyring file cannot be written.
    #[error("cannot write keyring_file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Parses a base64 key of exactly 32 bytes; errors name `setting`.
///
/// # Errors
/// [`KeyError::NotBase64`], [`KeyError::Length`].
pub fn parse_key(setting: &str, s: &str) -> Result<SecretKey, KeyError> {
    let bytes =
        Zeroizing::new(
            STANDARD
                .decode(s.trim())
                .map_err(|source| KeyError::NotBase64 {
                    setting: setting.to_owned(),
                    source,
                })?,
        );
    SecretKey::from_slice(&bytes).map_err(|_| KeyError::Length {
        setting: setting.to_owned(),
        len: bytes.len(),
    })
}

/// The base64 form of a key.
pub fn encode_key(key: &SecretKey) -> Zeroizing<String> {
    Zeroizing::new(STANDARD.encode(key.as_bytes()))
}

/// A fresh random key from the operating system's RNG, base64.
///
/// # Errors
/// [`KeyError::Random`]: the OS RNG is unavailable.
pub fn generate() -> Result<Zeroizing<String>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
    getrandom::fill(bytes.as_mut_slice()).map_err(KeyError::Random)?;
    Ok(Zeroizing::new(STANDARD.encode(bytes.as_slice())))
}

/// Builds a keyring from base64 keys, primary first.
///
/// # Errors
/// No keys, a bad key, or too many.
pub fn from_strings(what: &str, keys: &[String]) -> Result<Keyring, KeyError> {
    let mut it = keys.iter();
    let first = it.next().ok_or_else(|| KeyError::Empty {
        what: what.to_owned(),
    })?;
    let mut ring = Keyring::new(parse_key(what, first)?);
    for k in it {
        ring.install(parse_key(what, k)?)
            .map_err(|source| KeyError::Keyring {
                what: what.to_owned(),
                source,
            })?;
    }
    Ok(ring)
}

/// The keys of a keyring as base64, primary first.
pub fn to_strings(ring: &Keyring) -> Zeroizing<Vec<String>> {
    Zeroizing::new(
        ring.keys()
            .iter()
            .map(|k| STANDARD.encode(k.as_bytes()))
            .collect(),
    )
}

/// Reads a keyring file; `Ok(None)` when it does not exist.
///
/// # Errors
/// Unreadable, not a JSON list of strings, empty, or holding a bad key; the message
/// names the file.
pub fn read_file(path: &Path) -> Result<Option<Keyring>, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeyError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let keys: Zeroizing<Vec<String>> = Zeroizing::new(serde_json::from_str(&text).map_err(
        |source| KeyError::Parse {
            path: path.to_owned(),
            source,
        },
    )?);
    from_strings(&format!("keyring_file {}", path.display()), &keys).map(Some)
}

/// Writes a keyring file (mode 0600) through a temporary file and a rename, so a crash
/// never leaves half a keyring.
///
/// # Errors
/// [`KeyError::Write`] naming the file.
pub fn write_file(path: &Path, ring: &Keyring) -> Result<(), KeyError> {
    write_file_io(path, ring).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })
}

fn write_file_io(path: &Path, ring: &Keyring) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let text = Zeroizing::new(
        serde_json::to_string_pretty(&*to_strings(ring)).map_err(std::io::Error::other)?,
    );
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir() -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let d =
            std::env::temp_dir().join(format!("hearsay-keyring-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn generated_keys_are_32_bytes_of_base64_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(a.as_str()).unwrap().len(), 32);
        let k = parse_key("encrypt", &a).unwrap();
        assert_eq!(*encode_key(&k), *a);
    }

    #[test]
    fn bad_keys_name_the_setting() {
        let e = parse_key("encrypt", "not base64!").unwrap_err().to_string();
        assert!(e.contains("encrypt") && e.contains("base64"), "{e}");
        let e = parse_key("encrypt", &STANDARD.encode([1u8; 16]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("16 bytes") && e.contains("32"), "{e}");
    }

    #[test]
    fn keyring_files_round_trip_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let p = d.join("keyring.json");
        assert_eq!(read_file(&p).unwrap(), None);
        let mut ring = Keyring::new(SecretKey::new([1; 32]));
        ring.install(SecretKey::new([2; 32])).unwrap();
        write_file(&p, &ring).unwrap();
        assert_eq!(read_file(&p).unwrap(), Some(ring.clone()));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Serf's format: a JSON list of base64 keys, primary first.
        let list: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(list, *to_strings(&ring));
        ring.use_key(&SecretKey::new([2; 32])).unwrap();
        write_file(&p, &ring).unwrap();
        assert_eq!(
            read_file(&p).unwrap().unwrap().primary(),
            &SecretKey::new([2; 32])
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corrupt_keyring_files_are_clear_errors() {
        let d = dir();
        let p = d.join("keyring.json");
        for (text, expect) in [
            ("{not json", "invalid keyring_file"),
            ("{\"a\":1}", "list of base64 keys"),
            ("[]", "holds no keys"),
            ("[\"@@@\"]", "not base64"),
            ("[\"AAAA\"]", "3 bytes"),
            ("", "invalid keyring_file"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_file(&p).unwrap_err().to_string();
            assert!(
                e.contains(expect) && e.contains("keyring.json"),
                "{text}: {e}"
            );
        }
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_file(&p).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

//! This agent's tags: the `-tags-file` (a JSON object, read at start and rewritten by
//! `hearsay tags`) and conversions between the agent's sorted map and the core's [`Tags`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hearsay_tokio::protocol::Tags;

/// The tags as the agent keeps them: sorted by key.
pub type TagMap = BTreeMap<String, String>;

/// A tags file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TagsFileError {
    /// The file exists but cannot be read.
    #[error("cannot read tags_file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a JSON object of strings.
    #[error("invalid tags_file {}: {source}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The file cannot be written.
    #[error("cannot write tags_file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Reads a tags file; `Ok(None)` when it does not exist.
///
/// # Errors
/// [`TagsFileError::Read`], [`TagsFileError::Parse`].
pub fn read_file(path: &Path) -> Result<Option<TagMap>, TagsFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| TagsFileError::Parse {
                path: path.to_owned(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TagsFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a tags file through a temporary file and a rename.
///
/// # Errors
/// Any I/O error.
pub fn write_file(path: &Path, tags: &TagMap) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(tags).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The core's form of a tag map.
pub fn to_core(map: &TagMap) -> Tags {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The agent's form of the core's tags.
pub fn from_core(tags: &Tags) -> TagMap {
    tags.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

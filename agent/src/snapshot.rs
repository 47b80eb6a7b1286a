//! The `-snapshot` file: an append-only log of known members, the three Lamport clocks and
//! the last user event the handlers saw, so a restarted agent rejoins on its own and does
//! not run handlers twice.
//!
//! Each record is one line, `CRC32 JSON\n`, the CRC (IEEE, 8 hex digits) over the JSON
//! text. Reading stops at the first line that is cut short, fails its CRC or does not
//! parse: the tail from there is reported, ignored and truncated away, never fatal. The log
//! is rewritten compactly (to a temporary file, then renamed) when it has grown to several
//! times its live size.
//!
//! ```text
//! 3a1f09c2 {"alive":{"name":"web-1","addr":"10.0.0.1:7946"}}
//! 0bc2a4d1 {"not_alive":"web-2"}
//! 77e01b5e {"clocks":[12,4,3]}           member, event, query
//! 1e2f3a4b {"last_event":4}              newest user event handed to the handlers
//! 9f8e7d6c {"leave":true}                a graceful leave: don't rejoin unless -rejoin
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A compaction is considered once the log is this large.
const COMPACT_BYTES_MIN: u64 = 64 << 10;
/// ...and is done when the log is this many times its compacted size.
const COMPACT_RATIO: u64 = 4;

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// A member is alive at this address.
    Alive {
        /// Name.
        name: String,
        /// `ip:port`.
        addr: String,
    },
    /// A member left, failed or was reaped.
    NotAlive(String),
    /// Member, event and query clocks.
    Clocks([u64; 3]),
    /// The newest user event handed to the handlers.
    LastEvent(u64),
    /// This node left gracefully.
    Leave(bool),
}

/// What a snapshot held when it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Members alive at the last record, by name.
    pub alive: BTreeMap<String, String>,
    /// Member, event and query clocks.
    pub clocks: [u64; 3],
    /// The newest user event the handlers saw.
    pub last_event: u64,
    /// The last thing the node did was a graceful leave.
    pub left: bool,
    /// Why the tail was ignored, when it was.
    pub corrupt_tail: Option<String>,
}

impl Recovered {
    fn apply(&mut self, r: Record, rejoin: bool) {
        match r {
            Record::Alive { name, addr } => {
                self.alive.insert(name, addr);
                self.left = false;
            }
            Record::NotAlive(name) => {
                self.alive.remove(&name);
            }
            Record::Clocks(c) => {
                for (mine, theirs) in self.clocks.iter_mut().zip(c) {
                    *mine = (*mine).max(theirs);
                }
            }
            Record::LastEvent(t) => self.last_event = self.last_event.max(t),
            Record::Leave(_) => {
                // Serf forgets the members after a leave unless it is told to rejoin.
                if !rejoin {
                    self.alive.clear();
                }
                self.left = true;
            }
        }
    }
}

/// CRC-32 (IEEE 802.3, as zlib's) of a record's JSON text.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Encodes one record as a line.
pub fn encode(r: &Record) -> String {
    let json = serde_json::to_string(r).unwrap_or_default();
    format!("{:08x} {json}\n", crc32(json.as_bytes()))
}

/// Parses the log; returns the state and the length of its valid prefix.
pub fn decode(bytes: &[u8], rejoin: bool) -> (Recovered, u64) {
    let mut rec = Recovered::default();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
            rec.corrupt_tail = Some(format!("record at byte {pos} is cut short"));
            break;
        };
        let line = &rest[..nl];
        match parse_line(line) {
            Ok(r) => rec.apply(r, rejoin),
            Err(why) => {
                rec.corrupt_tail = Some(format!("record at byte {pos} {why}"));
                break;
            }
        }
        pos += nl + 1;
    }
    (rec, pos as u64)
}

fn parse_line(line: &[u8]) -> Result<Record, &'static str> {
    let text = std::str::from_utf8(line).map_err(|_| "is not UTF-8")?;
    let (crc, json) = text.split_once(' ').ok_or("has no checksum")?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "has a malformed checksum")?;
    if crc != crc32(json.as_bytes()) {
        return Err("fails its checksum");
    }
    serde_json::from_str(json).map_err(|_| "does not parse")
}

/// The open snapshot: current state plus the file being appended to.
pub struct Snapshot {
    path: PathBuf,
    file: BufWriter<File>,
    state: Recovered,
    rejoin: bool,
    size: u64,
    compacted_size: u64,
    dirty: bool,
}

impl Snapshot {
    /// Opens (or creates) the snapshot at `path` and reads it. A corrupt tail is cut off
    /// and described in [`Recovered::corrupt_tail`].
    ///
    /// # Errors
    /// The file cannot be opened, read or truncated.
    pub fn open(path: &Path, rejoin: bool) -> io::Result<(Self, Recovered)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let (rec, valid) = decode(&bytes, rejoin);
        if valid < bytes.len() as u64 {
            f.set_len(valid)?;
        }
        f.seek(SeekFrom::Start(valid))?;
        let snap = Self {
            path: path.to_owned(),
            file: BufWriter::new(f),
            state: Recovered {
                corrupt_tail: None,
                ..rec.clone()
            },
            rejoin,
            size: valid,
            compacted_size: valid,
            dirty: false,
        };
        Ok((snap, rec))
    }

    /// Appends a record (buffered until [`flush`](Self::flush)); skips records that change
    /// nothing.
    ///
    /// # Errors
    /// Write failures.
    pub fn append(&mut self, r: Record) -> io::Result<()> {
        let redundant = match &r {
            Record::Alive { name, addr } => self.state.alive.get(name) == Some(addr),
            Record::NotAlive(name) => !self.state.alive.contains_key(name),
            Record::Clocks(c) => *c == self.state.clocks,
            Record::LastEvent(t) => *t <= self.state.last_event,
            Record::Leave(_) => false,
        };
        if redundant {
            return Ok(());
        }
        let line = encode(&r);
        self.state.apply(r, self.rejoin);
        self.file.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Writes buffered records out; compacts when the log has grown enough.
    ///
    /// # Errors
    /// Write failures.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.file.flush()?;
        self.dirty = false;
        if self.size >= COMPACT_BYTES_MIN && self.size >= self.compacted_size * COMPACT_RATIO {
            self.compact()?;
        }
        Ok(())
    }

    /// Flushes and syncs to disk (at exit).
    ///
    /// # Errors
    /// Write failures.
    pub fn sync(&mut self) -> io::Result<()> {
        self.dirty = true;
        self.flush()?;
        self.file.get_ref().sync_all()
    }

    /// Rewrites the log as the minimal set of records for the current state.
    ///
    /// # Errors
    /// Write or rename failures; the old log stays in place then.
    pub fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("compact");
        let mut out = BufWriter::new(File::create(&tmp)?);
        let mut size = 0u64;
        let mut records: Vec<Record> = self
            .state
            .alive
            .iter()
            .map(|(name, addr)| Record::Alive {
                name: name.clone(),
                addr: addr.clone(),
            })
            .collect();
        records.push(Record::Clocks(self.state.clocks));
        records.push(Record::LastEvent(self.state.last_event));
        if self.state.left {
            records.push(Record::Leave(true));
        }
        for r in &records {
            let line = encode(r);
            out.write_all(line.as_bytes())?;
            size += line.len() as u64;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&tmp, &self.path)?;
        let mut file = file;
        file.seek(SeekFrom::End(0))?;
        self.file = BufWriter::new(file);
        self.size = size;
        self.compacted_size = size.max(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hearsay-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    fn alive(n: &str) -> Record {
        Record::Alive {
            name: n.into(),
            addr: format!("127.0.0.1:{}", n.len()),
        }
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn snapshots_written_by_the_bitwise_crc_still_read() {
        // Lines written by the earlier hand-written CRC-32: the format is unchanged.
        let p = path("golden");
        std::fs::write(
            &p,
            "e1611243 {\"alive\":{\"name\":\"web-1\",\"addr\":\"10.0.0.1:7946\"}}\n\
             5c41ca7e {\"clocks\":[12,4,3]}\n\
             4488008f {\"last_event\":4}\n",
        )
        .unwrap();
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert_eq!(rec.corrupt_tail, None);
        assert_eq!(
            rec.alive.get("web-1").map(String::as_str),
            Some("10.0.0.1:7946")
        );
        assert_eq!((rec.clocks, rec.last_event), ([12, 4, 3], 4));
        assert_eq!(
            encode(&Record::LastEvent(4)),
            "4488008f {\"last_event\":4}\n"
        );
    }

    #[test]
    fn records_survive_a_reopen() {
        let p = path("reopen");
        let (mut s, rec) = Snapshot::open(&p, false).unwrap();
        assert_eq!(rec, Recovered::default());
        s.append(alive("a")).unwrap();
        s.append(alive("bb")).unwrap();
        s.append(Record::NotAlive("a".into())).unwrap();
        s.append(Record::Clocks([5, 3, 1])).unwrap();
        s.append(Record::LastEvent(3)).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert_eq!(rec.alive.keys().collect::<Vec<_>>(), ["bb"]);
        assert_eq!(
            (rec.clocks, rec.last_event, rec.left),
            ([5, 3, 1], 3, false)
        );
        assert_eq!(rec.corrupt_tail, None);
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_reported_skipped_and_cut_off() {
        let p = path("torn");
        let mut good = encode(&alive("a"));
        good.push_str(&encode(&Record::LastEvent(9)));
        let valid = good.len() as u64;
        // A record cut short by a crash.
        let torn = format!("{good}{}", &encode(&alive("zz"))[..10]);
        std::fs::write(&p, &torn).unwrap();
        let (mut s, rec) = Snapshot::open(&p, false).unwrap();
        assert!(rec.corrupt_tail.as_deref().unwrap().contains("cut short"));
        assert_eq!((rec.alive.len(), rec.last_event), (1, 9));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), valid);
        // Appending after the cut produces a clean log.
        s.append(alive("bb")).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert_eq!((rec.alive.len(), rec.corrupt_tail), (2, None));

        // A flipped byte fails the checksum; the records before it still count.
        let mut bytes = good.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        std::fs::write(&p, &bytes).unwrap();
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert!(rec.corrupt_tail.as_deref().unwrap().contains("checksum"));
        assert_eq!(rec.alive.len(), 1);

        // Garbage is not fatal either.
        std::fs::write(&p, b"\x00\xff garbage\n").unwrap();
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert!(rec.corrupt_tail.is_some());
        assert!(rec.alive.is_empty());
    }

    #[test]
    fn a_leave_forgets_members_unless_rejoining() {
        let p = path("leave");
        let (mut s, _) = Snapshot::open(&p, false).unwrap();
        s.append(alive("a")).unwrap();
        s.append(Record::Leave(true)).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert!(rec.left && rec.alive.is_empty());
        let (_, rec) = Snapshot::open(&p, true).unwrap();
        assert!(rec.left && rec.alive.len() == 1);
    }

    #[test]
    fn the_log_is_compacted_when_it_grows() {
        let p = path("compact");
        let (mut s, _) = Snapshot::open(&p, false).unwrap();
        for i in 0..5000u64 {
            s.append(Record::Clocks([i, i, i])).unwrap();
            if i % 100 == 0 {
                s.flush().unwrap();
            }
        }
        s.append(alive("a")).unwrap();
        s.sync().unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() < COMPACT_BYTES_MIN);
        drop(s);
        let (_, rec) = Snapshot::open(&p, false).unwrap();
        assert_eq!(rec.clocks, [4999; 3]);
        assert_eq!(rec.alive.len(), 1);
    }
}

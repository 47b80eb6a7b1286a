//! The MessagePack subset memberlist and Serf put on the wire, over `rmp`.
//!
//! `rmp` (with `default-features = false`, so no_std) supplies the markers and the number,
//! nil, bool, array and map encodings. Two things are ours:
//!
//! - **Strings and byte slices are written the way Serf's Go codec writes them**: the old
//!   "raw" family only (`fixstr` `0xa0..=0xbf`, `0xda` raw16, `0xdb` raw32), never `str8` or
//!   `bin`. `rmp`'s `write_str` picks `str8` for 32..=255 bytes, which Serf 0.9.x would not
//!   produce, so re-encoding would not reproduce real packets byte for byte.
//! - **A borrowing, forgiving reader**: strings and byte fields accept every string and
//!   binary format (newer Go codecs write `str8`/`bin8`); integers accept any width as long
//!   as the value fits the field; floats accept `f32` and integers; `nil` reads as an empty
//!   string, map or array (Go's zero values); unknown values can be skipped (Go ignores
//!   unknown struct fields). Every read is bounds-checked and returns an error, never
//!   panics; nesting is limited to [`DEPTH_MAX`] when skipping.

use alloc::vec::Vec;

use rmp::Marker;

use super::SerfDecodeError;

/// Deepest nesting [`Reader::skip`] follows before giving up.
pub const DEPTH_MAX: usize = 32;

type Result<T> = core::result::Result<T, SerfDecodeError>;

/// A cursor over msgpack bytes; values borrow from the input.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// What has not been read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(SerfDecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn marker(&mut self) -> Result<Marker> {
        Ok(Marker::from_u8(self.byte()?))
    }

    /// True if the next value is `nil` (not consumed).
    pub fn peek_nil(&self) -> bool {
        self.buf.first() == Some(&0xc0)
    }

    /// Consumes a `nil`.
    pub fn nil(&mut self) -> Result<()> {
        match self.marker()? {
            Marker::Null => Ok(()),
            _ => Err(SerfDecodeError::Type("nil")),
        }
    }

    /// A map header: the number of key/value pairs (`nil` is an empty map).
    pub fn map_len(&mut self) -> Result<usize> {
        let n = match self.marker()? {
            Marker::FixMap(n) => u64::from(n),
            Marker::Map16 => self.be(2)?,
            Marker::Map32 => self.be(4)?,
            Marker::Null => 0,
            _ => return Err(SerfDecodeError::Type("map")),
        };
        self.plausible(n, 2)
    }

    /// An array header: the number of elements (`nil` is an empty array).
    pub fn array_len(&mut self) -> Result<usize> {
        let n = match self.marker()? {
            Marker::FixArray(n) => u64::from(n),
            Marker::Array16 => self.be(2)?,
            Marker::Array32 => self.be(4)?,
            Marker::Null => 0,
            _ => return Err(SerfDecodeError::Type("array")),
        };
        self.plausible(n, 1)
    }

    /// A count is only believable if the bytes left could hold that many items (each takes
    /// at least `min` bytes); this keeps a forged count from reserving gigabytes.
    fn plausible(&self, n: u64, min: u64) -> Result<usize> {
        if n.saturating_mul(min) > self.buf.len() as u64 {
            return Err(SerfDecodeError::Truncated);
        }
        Ok(n as usize)
    }

    /// The bytes of a string or binary value; `None` for `nil`.
    pub fn raw(&mut self) -> Result<Option<&'a [u8]>> {
        let n = match self.marker()? {
            Marker::FixStr(n) => u64::from(n),
            Marker::Str8 | Marker::Bin8 => self.be(1)?,
            Marker::Str16 | Marker::Bin16 => self.be(2)?,
            Marker::Str32 | Marker::Bin32 => self.be(4)?,
            Marker::Null => return Ok(None),
            _ => return Err(SerfDecodeError::Type("string or bytes")),
        };
        let n = usize::try_from(n).map_err(|_| SerfDecodeError::Truncated)?;
        self.take(n).map(Some)
    }

    /// A byte field (Go `[]byte`): `None` is Go's `nil`.
    pub fn bytes(&mut self) -> Result<Option<&'a [u8]>> {
        self.raw()
    }

    /// A string field; `nil` reads as `""`. Must be UTF-8.
    pub fn str(&mut self) -> Result<&'a str> {
        let raw = self.raw()?.unwrap_or_default();
        core::str::from_utf8(raw).map_err(|_| SerfDecodeError::InvalidUtf8)
    }

    /// Any integer as `i128` (covers `u64` and `i64`).
    fn integer(&mut self) -> Result<i128> {
        Ok(match self.marker()? {
            Marker::FixPos(n) => i128::from(n),
            Marker::FixNeg(n) => i128::from(n),
            Marker::U8 => i128::from(self.be(1)?),
            Marker::U16 => i128::from(self.be(2)?),
            Marker::U32 => i128::from(self.be(4)?),
            Marker::U64 => i128::from(self.be(8)?),
            Marker::I8 => i128::from(self.be(1)? as u8 as i8),
            Marker::I16 => i128::from(self.be(2)? as u16 as i16),
            Marker::I32 => i128::from(self.be(4)? as u32 as i32),
            Marker::I64 => i128::from(self.be(8)? as i64),
            Marker::Null => 0,
            _ => return Err(SerfDecodeError::Type("integer")),
        })
    }

    /// An unsigned integer that must fit `T`.
    pub fn uint<T: TryFrom<i128>>(&mut self) -> Result<T> {
        let v = self.integer()?;
        T::try_from(v).map_err(|_| SerfDecodeError::IntegerRange)
    }

    /// A signed integer (Go `int`, `int64`, `time.Duration`).
    pub fn int(&mut self) -> Result<i64> {
        let v = self.integer()?;
        i64::try_from(v).map_err(|_| SerfDecodeError::IntegerRange)
    }

    /// A boolean (`nil` is false).
    pub fn bool(&mut self) -> Result<bool> {
        match self.marker()? {
            Marker::True => Ok(true),
            Marker::False | Marker::Null => Ok(false),
            _ => Err(SerfDecodeError::Type("bool")),
        }
    }

    /// A float64 (also from float32 or an integer, as Go's decoder allows).
    pub fn f64(&mut self) -> Result<f64> {
        match self.buf.first().map(|&b| Marker::from_u8(b)) {
            Some(Marker::F64) => {
                self.byte()?;
                Ok(f64::from_bits(self.be(8)?))
            }
            Some(Marker::F32) => {
                self.byte()?;
                Ok(f64::from(f32::from_bits(self.be(4)? as u32)))
            }
            None => Err(SerfDecodeError::Truncated),
            _ => Ok(self.integer()? as f64),
        }
    }

    /// Skips one value of any type, however nested (up to [`DEPTH_MAX`]).
    pub fn skip(&mut self) -> Result<()> {
        // Values still to skip at each open level; an explicit stack, no recursion.
        let mut pending: heapless::Vec<u64, DEPTH_MAX> = heapless::Vec::new();
        let mut todo: u64 = 1;
        loop {
            while todo == 0 {
                match pending.pop() {
                    Some(t) => todo = t,
                    None => return Ok(()),
                }
            }
            todo -= 1;
            let children = match self.marker()? {
                Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null => 0,
                Marker::True | Marker::False => 0,
                Marker::U8 | Marker::I8 => self.skip_bytes(1)?,
                Marker::U16 | Marker::I16 => self.skip_bytes(2)?,
                Marker::U32 | Marker::I32 | Marker::F32 => self.skip_bytes(4)?,
                Marker::U64 | Marker::I64 | Marker::F64 => self.skip_bytes(8)?,
                Marker::FixStr(n) => self.skip_bytes(u64::from(n))?,
                Marker::Str8 | Marker::Bin8 => self.skip_sized(1, 0)?,
                Marker::Str16 | Marker::Bin16 => self.skip_sized(2, 0)?,
                Marker::Str32 | Marker::Bin32 => self.skip_sized(4, 0)?,
                Marker::FixExt1 => self.skip_bytes(2)?,
                Marker::FixExt2 => self.skip_bytes(3)?,
                Marker::FixExt4 => self.skip_bytes(5)?,
                Marker::FixExt8 => self.skip_bytes(9)?,
                Marker::FixExt16 => self.skip_bytes(17)?,
                Marker::Ext8 => self.skip_sized(1, 1)?,
                Marker::Ext16 => self.skip_sized(2, 1)?,
                Marker::Ext32 => self.skip_sized(4, 1)?,
                Marker::FixArray(n) => u64::from(n),
                Marker::Array16 => self.be(2)?,
                Marker::Array32 => self.be(4)?,
                Marker::FixMap(n) => 2 * u64::from(n),
                Marker::Map16 => 2 * self.be(2)?,
                Marker::Map32 => 2 * self.be(4)?,
                Marker::Reserved => return Err(SerfDecodeError::Type("valid marker")),
            };
            if children > 0 {
                if children > self.buf.len() as u64 {
                    return Err(SerfDecodeError::Truncated);
                }
                pending.push(todo).map_err(|_| SerfDecodeError::TooDeep)?;
                todo = children;
            }
        }
    }

    fn skip_bytes(&mut self, n: u64) -> Result<u64> {
        let n = usize::try_from(n).map_err(|_| SerfDecodeError::Truncated)?;
        self.take(n)?;
        Ok(0)
    }

    fn skip_sized(&mut self, len_bytes: usize, extra: u64) -> Result<u64> {
        let n = self.be(len_bytes)?;
        self.skip_bytes(n.saturating_add(extra))
    }

    /// Reads a struct encoded as a map with string keys, calling `field` for each key; a
    /// field that `field` does not know must be skipped by it (see [`Reader::skip`]).
    pub fn fields(&mut self, mut field: impl FnMut(&str, &mut Self) -> Result<()>) -> Result<()> {
        let n = self.map_len()?;
        for _ in 0..n {
            let key = self.str()?;
            field(key, self)?;
        }
        Ok(())
    }
}

/// Appends msgpack values to a `Vec<u8>` the way Serf's Go codec does.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Writer<'o> {
    /// A writer appending to `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out }
    }

    /// Appends bytes as they are (a message type byte, user state).
    pub fn raw_bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// `nil`.
    pub fn nil(&mut self) {
        self.out.push(0xc0);
    }

    /// A map header.
    pub fn map(&mut self, len: usize) {
        let _ = rmp::encode::write_map_len(self.out, len as u32);
    }

    /// An array header.
    pub fn array(&mut self, len: usize) {
        let _ = rmp::encode::write_array_len(self.out, len as u32);
    }

    /// A string key or value, in the raw family (see the module docs).
    pub fn str(&mut self, s: &str) {
        self.raw(s.as_bytes());
    }

    /// A byte value in the raw family.
    pub fn raw(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n < 32 {
            self.out.push(0xa0 | n as u8);
        } else if n <= usize::from(u16::MAX) {
            self.out.push(0xda);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        self.out.extend_from_slice(bytes);
    }

    /// A Go `[]byte`: `None` is `nil`.
    pub fn bytes(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(b) => self.raw(b),
            None => self.nil(),
        }
    }

    /// An unsigned integer in its shortest form.
    pub fn uint(&mut self, v: u64) {
        let _ = rmp::encode::write_uint(self.out, v);
    }

    /// A signed integer in its shortest form (non-negative values as unsigned, like Go).
    pub fn int(&mut self, v: i64) {
        if v >= 0 {
            self.uint(v as u64);
        } else {
            let _ = rmp::encode::write_sint(self.out, v);
        }
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) {
        let _ = rmp::encode::write_bool(self.out, v);
    }

    /// A float64 (always `0xcb`, as Go writes it).
    pub fn f64(&mut self, v: f64) {
        let _ = rmp::encode::write_f64(self.out, v);
    }
}

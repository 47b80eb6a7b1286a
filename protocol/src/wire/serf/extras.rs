//! Serf's node meta (encoded tags), protocol version bytes and coordinates in acks.

use alloc::vec::Vec;

use super::SerfDecodeError;
use super::msgpack::{Reader, Writer};
use crate::coordinate::{Coordinate, CoordinateError, DIMENSIONALITY};

type Result<T> = core::result::Result<T, SerfDecodeError>;

// ------------------------------------------------------------------------------------------
// Tags
// ------------------------------------------------------------------------------------------

/// First byte of tags encoded by Serf protocol ≥ 3 (then a msgpack string map follows).
pub const TAG_MAGIC_BYTE: u8 = 0xff;
/// Largest node meta memberlist carries (and so the largest encoded tags).
pub const META_BYTES_MAX: usize = 512;
/// The tag that protocol-2 peers carry alone, as bare meta bytes.
pub const ROLE_TAG: &str = "role";

/// Decodes Serf's node meta into tags, in wire order. Meta that does not start with
/// [`TAG_MAGIC_BYTE`] (protocol 2, or empty) is the bare value of the `role` tag, as Serf
/// reads it (so empty meta is `role = ""`).
///
/// # Errors
/// msgpack errors, trailing bytes, or non-UTF-8 role bytes.
pub fn decode_tags(meta: &[u8]) -> Result<Vec<(&str, &str)>> {
    match meta {
        [TAG_MAGIC_BYTE, rest @ ..] => {
            let mut r = Reader::new(rest);
            let n = r.map_len()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push((r.str()?, r.str()?));
            }
            if !r.rest().is_empty() {
                return Err(SerfDecodeError::TrailingBytes);
            }
            Ok(out)
        }
        _ => {
            let role = core::str::from_utf8(meta).map_err(|_| SerfDecodeError::InvalidUtf8)?;
            Ok(alloc::vec![(ROLE_TAG, role)])
        }
    }
}

/// Appends Serf's node meta for `tags` as a node speaking Serf protocol `serf_protocol`
/// writes it: for protocol ≥ 3 the magic byte and a msgpack map (in the given order); for
/// protocol 2 only the bytes of the `role` tag.
///
/// # Errors
/// [`SerfDecodeError::TooLarge`] if the result exceeds [`META_BYTES_MAX`] (Serf refuses to
/// start with such tags); nothing is written then.
pub fn encode_tags(tags: &[(&str, &str)], serf_protocol: u8, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    if serf_protocol < 3 {
        let role = tags
            .iter()
            .find(|(k, _)| *k == ROLE_TAG)
            .map_or("", |t| t.1);
        out.extend_from_slice(role.as_bytes());
    } else {
        out.push(TAG_MAGIC_BYTE);
        let mut w = Writer::new(out);
        w.map(tags.len());
        for (k, v) in tags {
            w.str(k);
            w.str(v);
        }
    }
    let len = out.len() - start;
    if len > META_BYTES_MAX {
        out.truncate(start);
        return Err(SerfDecodeError::TooLarge {
            len,
            max: META_BYTES_MAX,
        });
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Version bytes
// ------------------------------------------------------------------------------------------

/// The six version bytes of memberlist's `alive` and push-pull node states: memberlist's
/// protocol range and current version, then the delegate's (Serf's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Version {
    /// Lowest memberlist protocol understood.
    pub protocol_min: u8,
    /// Highest memberlist protocol understood.
    pub protocol_max: u8,
    /// memberlist protocol spoken.
    pub protocol_cur: u8,
    /// Lowest Serf protocol understood.
    pub delegate_min: u8,
    /// Highest Serf protocol understood.
    pub delegate_max: u8,
    /// Serf protocol spoken.
    pub delegate_cur: u8,
}

impl Version {
    /// What Serf 0.8–0.9 agents send by default: memberlist 1..=5 speaking 2, Serf 2..=5
    /// speaking 5.
    pub const SERF_DEFAULT: Self = Self::from_bytes([1, 5, 2, 2, 5, 5]);

    /// From the six wire bytes.
    pub const fn from_bytes(b: [u8; 6]) -> Self {
        Self {
            protocol_min: b[0],
            protocol_max: b[1],
            protocol_cur: b[2],
            delegate_min: b[3],
            delegate_max: b[4],
            delegate_cur: b[5],
        }
    }

    /// The six wire bytes.
    pub const fn to_bytes(self) -> [u8; 6] {
        [
            self.protocol_min,
            self.protocol_max,
            self.protocol_cur,
            self.delegate_min,
            self.delegate_max,
            self.delegate_cur,
        ]
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let raw = r.bytes()?.unwrap_or_default();
        let b: [u8; 6] = raw.try_into().map_err(|_| SerfDecodeError::Version)?;
        Ok(Self::from_bytes(b))
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.raw(&self.to_bytes());
    }
}

// ------------------------------------------------------------------------------------------
// Coordinates
// ------------------------------------------------------------------------------------------

/// Version byte Serf puts before the coordinate in an ack payload.
pub const PING_VERSION: u8 = 1;

/// Appends a coordinate as Serf encodes its `Coordinate` struct: a map of `Adjustment`,
/// `Error`, `Height` and `Vec` (an array of float64), all float64.
pub fn encode_coordinate(c: &Coordinate, out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    w.map(4);
    w.str("Adjustment");
    w.f64(c.adjustment);
    w.str("Error");
    w.f64(c.error);
    w.str("Height");
    w.f64(c.height);
    w.str("Vec");
    w.array(DIMENSIONALITY);
    for v in &c.vec {
        w.f64(*v);
    }
}

/// Decodes and validates a coordinate encoded as [`encode_coordinate`] writes it (any
/// field order; unknown fields skipped).
///
/// # Errors
/// [`SerfDecodeError::Coordinate`] with [`CoordinateError::Dimensionality`] if `Vec` does
/// not have 8 entries, or the error of [`Coordinate::validate`] (NaN, infinity, absurd
/// values); msgpack errors; trailing bytes.
pub fn decode_coordinate(buf: &[u8]) -> Result<Coordinate> {
    let mut r = Reader::new(buf);
    let c = read_coordinate(&mut r)?;
    if !r.rest().is_empty() {
        return Err(SerfDecodeError::TrailingBytes);
    }
    Ok(c)
}

fn read_coordinate(r: &mut Reader<'_>) -> Result<Coordinate> {
    let mut c = Coordinate {
        vec: [0.0; DIMENSIONALITY],
        error: 0.0,
        adjustment: 0.0,
        height: 0.0,
    };
    let mut dims = 0;
    let n = r.map_len()?;
    for _ in 0..n {
        match r.str()? {
            "Adjustment" => c.adjustment = r.f64()?,
            "Error" => c.error = r.f64()?,
            "Height" => c.height = r.f64()?,
            "Vec" => {
                dims = r.array_len()?;
                if dims != DIMENSIONALITY {
                    return Err(SerfDecodeError::Coordinate(
                        CoordinateError::Dimensionality {
                            expected: DIMENSIONALITY,
                            got: dims,
                        },
                    ));
                }
                for v in &mut c.vec {
                    *v = r.f64()?;
                }
            }
            _ => r.skip()?,
        }
    }
    if dims != DIMENSIONALITY {
        return Err(SerfDecodeError::Coordinate(
            CoordinateError::Dimensionality {
                expected: DIMENSIONALITY,
                got: dims,
            },
        ));
    }
    c.validate().map_err(SerfDecodeError::Coordinate)?;
    Ok(c)
}

/// Appends Serf's ack payload: [`PING_VERSION`], then the coordinate.
pub fn encode_ack_payload(c: &Coordinate, out: &mut Vec<u8>) {
    out.push(PING_VERSION);
    encode_coordinate(c, out);
}

/// Reads the coordinate from a Serf ack payload.
///
/// # Errors
/// [`SerfDecodeError::Truncated`] for an empty payload (Serf ignores those: no
/// coordinate), [`SerfDecodeError::PingVersion`] for another version byte, else as
/// [`decode_coordinate`].
pub fn decode_ack_payload(payload: &[u8]) -> Result<Coordinate> {
    match payload {
        [] => Err(SerfDecodeError::Truncated),
        [PING_VERSION, rest @ ..] => decode_coordinate(rest),
        [v, ..] => Err(SerfDecodeError::PingVersion(*v)),
    }
}

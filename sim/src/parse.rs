//! Parsing of the command line's time and fault specifications.
//!
//! Times and durations use humantime syntax (`500ms`, `30s`, `2m`). Fault specs:
//!
//! | spec | meaning |
//! | --- | --- |
//! | `K@T` | `K` nodes at virtual time `T` (`--crash 1@30s`) |
//! | `F@T1..T2` | a fraction `F` of the nodes from `T1` until `T2` (`--partition 0.5@60s..120s`) |
//! | `K@T1..T2` | `K` nodes from `T1` until `T2` (`--stress 2@10s..70s`) |
//! | `MIN..MAX` or `FIXED` | a latency range (`--latency 1ms..5ms`) |
//! | `[NAME]@T` | a user event or query at `T`, named or not (`--event @40s`, `--query q@45s`) |

use core::fmt;
use core::time::Duration;

/// A specification that could not be parsed; the message says what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn err<T>(msg: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(msg.into()))
}

/// Parses a humantime duration (`500ms`, `30s`, `2m`, `1h 5m`). A bare `0` is zero.
///
/// # Errors
/// [`SpecError`] when the text is not a duration.
pub fn duration(s: &str) -> Result<Duration, SpecError> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).or_else(|e| {
        err(format!(
            "invalid duration `{s}` ({e}); expected e.g. 500ms, 30s, 2m"
        ))
    })
}

/// Parses `A..B` into two durations with `A <= B`.
///
/// # Errors
/// [`SpecError`] without `..`, on a bad duration, or when `A > B`.
pub fn duration_range(s: &str) -> Result<(Duration, Duration), SpecError> {
    let Some((a, b)) = s.split_once("..") else {
        return err(format!(
            "invalid range `{s}`; expected START..END, e.g. 60s..120s"
        ));
    };
    let (a, b) = (duration(a)?, duration(b)?);
    if a > b {
        return err(format!("invalid range `{s}`: start is after end"));
    }
    Ok((a, b))
}

/// Parses a latency: a fixed `2ms` or a uniform range `1ms..5ms`.
///
/// # Errors
/// [`SpecError`] as [`duration`] / [`duration_range`].
pub fn latency(s: &str) -> Result<(Duration, Duration), SpecError> {
    if s.contains("..") {
        duration_range(s)
    } else {
        let d = duration(s)?;
        Ok((d, d))
    }
}

/// Parses a fraction in `[0, 1]`.
///
/// # Errors
/// [`SpecError`] when not a number in range.
pub fn fraction(s: &str) -> Result<f64, SpecError> {
    match s.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => err(format!(
            "invalid fraction `{s}`; expected a number from 0 to 1, e.g. 0.1"
        )),
    }
}

fn count(s: &str) -> Result<u32, SpecError> {
    match s.trim().parse::<u32>() {
        Ok(k) if k > 0 => Ok(k),
        _ => err(format!(
            "invalid node count `{s}`; expected a positive integer"
        )),
    }
}

/// `K@T`: `K` nodes at time `T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountAt {
    /// How many nodes.
    pub count: u32,
    /// When, from the start of the run.
    pub at: Duration,
}

/// Parses `K@T` (`1@30s`).
///
/// # Errors
/// [`SpecError`] on a missing `@`, a zero or bad count, or a bad time.
pub fn count_at(s: &str) -> Result<CountAt, SpecError> {
    let Some((k, t)) = s.split_once('@') else {
        return err(format!(
            "invalid spec `{s}`; expected COUNT@TIME, e.g. 1@30s"
        ));
    };
    Ok(CountAt {
        count: count(k)?,
        at: duration(t)?,
    })
}

/// `[NAME]@T`: a named (or unnamed) broadcast at time `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedAt {
    /// The name, when given.
    pub name: Option<String>,
    /// When, from the start of the run.
    pub at: Duration,
}

/// Parses `@T`, `T` or `NAME@T` (`@20s`, `deploy@1m`).
///
/// # Errors
/// [`SpecError`] on a bad time or a name with characters other than letters, digits, `-`,
/// `_` and `.`.
pub fn named_at(s: &str) -> Result<NamedAt, SpecError> {
    let (name, t) = s.rsplit_once('@').unwrap_or(("", s));
    let name = name.trim();
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return err(format!(
            "invalid name `{name}` in `{s}`; expected letters, digits, `-`, `_` or `.`, \
             e.g. deploy@20s"
        ));
    }
    Ok(NamedAt {
        name: (!name.is_empty()).then(|| name.to_string()),
        at: duration(t)?,
    })
}

/// `K@T1..T2`: `K` nodes from `T1` until `T2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountDuring {
    /// How many nodes.
    pub count: u32,
    /// Start, from the start of the run.
    pub from: Duration,
    /// End (exclusive), from the start of the run.
    pub until: Duration,
}

/// Parses `K@T1..T2` (`2@10s..70s`).
///
/// # Errors
/// [`SpecError`] on a missing `@`, a zero or bad count, or a bad range.
pub fn count_during(s: &str) -> Result<CountDuring, SpecError> {
    let Some((k, r)) = s.split_once('@') else {
        return err(format!(
            "invalid spec `{s}`; expected COUNT@START..END, e.g. 2@10s..70s"
        ));
    };
    let (from, until) = duration_range(r)?;
    Ok(CountDuring {
        count: count(k)?,
        from,
        until,
    })
}

/// `F@T1..T2`: a fraction of the nodes from `T1` until `T2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FractionDuring {
    /// Fraction of the nodes on the minority side, in `(0, 1)`.
    pub fraction: f64,
    /// Start, from the start of the run.
    pub from: Duration,
    /// End (exclusive), from the start of the run.
    pub until: Duration,
}

/// Parses `F@T1..T2` (`0.5@60s..120s`); `F` must be strictly between 0 and 1.
///
/// # Errors
/// [`SpecError`] on a missing `@`, a fraction out of range, or a bad range.
pub fn fraction_during(s: &str) -> Result<FractionDuring, SpecError> {
    let Some((f, r)) = s.split_once('@') else {
        return err(format!(
            "invalid spec `{s}`; expected FRACTION@START..END, e.g. 0.5@60s..120s"
        ));
    };
    let fraction = fraction(f)?;
    if fraction <= 0.0 || fraction >= 1.0 {
        return err(format!(
            "invalid partition fraction `{f}`; expected 0 < F < 1"
        ));
    }
    let (from, until) = duration_range(r)?;
    Ok(FractionDuring {
        fraction,
        from,
        until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_humantime_units() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("soon").is_err());
        assert!(duration("").is_err());
    }

    #[test]
    fn latency_is_fixed_or_a_range() {
        let ms = Duration::from_millis;
        assert_eq!(latency("2ms"), Ok((ms(2), ms(2))));
        assert_eq!(latency("1ms..5ms"), Ok((ms(1), ms(5))));
        assert!(latency("5ms..1ms").is_err());
        assert!(latency("1ms..").is_err());
    }

    #[test]
    fn crash_spec_needs_a_positive_count_and_a_time() {
        assert_eq!(
            count_at("3@30s"),
            Ok(CountAt {
                count: 3,
                at: Duration::from_secs(30)
            })
        );
        assert!(count_at("0@30s").is_err());
        assert!(count_at("3").is_err());
        assert!(count_at("x@1s").is_err());
        assert!(count_at("-1@1s").is_err());
    }

    #[test]
    fn partition_spec_needs_a_proper_fraction_and_an_ordered_range() {
        let p = fraction_during("0.5@60s..2m").expect("valid spec");
        assert_eq!(p.fraction, 0.5);
        assert_eq!(
            (p.from, p.until),
            (Duration::from_secs(60), Duration::from_secs(120))
        );
        assert!(fraction_during("1.0@1s..2s").is_err());
        assert!(fraction_during("0@1s..2s").is_err());
        assert!(fraction_during("0.5@2s..1s").is_err());
        assert!(fraction_during("0.5@2s").is_err());
    }

    #[test]
    fn stress_spec_reads_count_and_range() {
        let s = count_during("2@10s..70s").expect("valid spec");
        assert_eq!(s.count, 2);
        assert_eq!(
            (s.from, s.until),
            (Duration::from_secs(10), Duration::from_secs(70))
        );
    }

    #[test]
    fn broadcast_spec_takes_an_optional_name() {
        let at20 = Duration::from_secs(20);
        assert_eq!(
            named_at("@20s"),
            Ok(NamedAt {
                name: None,
                at: at20
            })
        );
        assert_eq!(
            named_at("20s"),
            Ok(NamedAt {
                name: None,
                at: at20
            })
        );
        assert_eq!(
            named_at("deploy@20s"),
            Ok(NamedAt {
                name: Some("deploy".into()),
                at: at20
            })
        );
        assert!(named_at("@soon").is_err());
        assert!(named_at("a b@1s").is_err());
    }

    #[test]
    fn loss_fraction_is_bounded() {
        assert_eq!(fraction("0.1"), Ok(0.1));
        assert!(fraction("1.5").is_err());
        assert!(fraction("-0.1").is_err());
        assert!(fraction("NaN").is_err());
    }
}

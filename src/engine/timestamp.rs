//! The range of timestamps a store accepts, and the message for one outside it.

use super::options::Options;
use crate::error::{Error, Result};
use std::ops::Range;

/// Checks [`Options::timestamp_range`].
pub(crate) fn check_range(r: &Range<i64>) -> Result<()> {
    let s = Options::SUPPORTED_TIMESTAMPS;
    if r.is_empty() || r.start < s.start || r.end > s.end {
        return Err(Error::InvalidArgument(format!(
            "timestamp range {} must be a non-empty part of {} (years 1 to 9998)",
            show(r),
            show(&s)
        )));
    }
    Ok(())
}

/// Why `ts` is rejected: outside `range`, and what unit it looks like when scaling it
/// down to seconds lands inside.
pub(crate) fn out_of_range(ts: i64, range: &Range<i64>) -> String {
    let mut why = format!(
        "timestamp is outside the store's range {} (Options::timestamp_range)",
        show(range)
    );
    let units = [
        (1_000, "milliseconds"),
        (1_000_000, "microseconds"),
        (1_000_000_000, "nanoseconds"),
    ];
    if let Some((div, unit)) = units.iter().find(|(d, _)| range.contains(&(ts / d))) {
        why.push_str(&format!(
            "; it looks like {unit} ({} s when divided by {div}): timestamps are seconds",
            ts / div
        ));
    }
    why
}

/// `start..end` as RFC 3339 instants where they are ones.
fn show(r: &Range<i64>) -> String {
    let t = |x: i64| match jiff::Timestamp::from_second(x) {
        Ok(t) => t.to_string(),
        Err(_) => x.to_string(),
    };
    format!("{}..{}", t(r.start), t(r.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_unit_a_value_looks_like() {
        let r = Options::DEFAULT_TIMESTAMPS;
        let s = 1_772_323_200; // 2026-03-01
        assert!(out_of_range(s * 1000, &r).contains("milliseconds"));
        assert!(out_of_range(s * 1_000_000, &r).contains("microseconds"));
        assert!(out_of_range(s * 1_000_000_000, &r).contains("nanoseconds"));
        let far = out_of_range(i64::MAX, &r);
        assert!(!far.contains("looks like"), "{far}");
        assert!(
            far.contains("1970-01-01T00:00:00Z..2200-01-01T00:00:00Z"),
            "{far}"
        );
        assert!(check_range(&(0..0)).is_err());
        assert!(check_range(&(i64::MIN..0)).is_err());
        assert!(check_range(&Options::SUPPORTED_TIMESTAMPS).is_ok());
    }
}

//! Time windows: the unit of compaction and retention. Every segment the store writes
//! holds the readings of one window, and no block crosses a window boundary or a calendar
//! month boundary (so month aggregates stay answerable from block statistics).

use crate::types::{month_start, next_month_start, UtcOffset};

/// Seconds in a day.
const DAY_S: i64 = 86_400;

/// The length of the time windows that segments are cut into, in the local time of
/// [`Options::window_offset`](crate::Options::window_offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// A calendar month (the default): a year of data is twelve window files.
    Month,
    /// A run of this many days, counted from 1970-01-01 local time. Must be at least 1.
    Days(u32),
}

impl Window {
    /// Start (UTC Unix seconds) of the window holding `ts`.
    pub(crate) fn start(self, ts: i64, off: UtcOffset) -> i64 {
        match self {
            Window::Month => month_start(ts, off),
            Window::Days(n) => {
                let w = i64::from(n.max(1)) * DAY_S;
                let o = i64::from(off.seconds());
                ts.saturating_add(o)
                    .div_euclid(w)
                    .saturating_mul(w)
                    .saturating_sub(o)
            }
        }
    }

    /// Start of the window after the one holding `ts` (saturating at `i64::MAX`).
    pub(crate) fn end(self, ts: i64, off: UtcOffset) -> i64 {
        match self {
            Window::Month => next_month_start(ts, off),
            Window::Days(n) => self
                .start(ts, off)
                .saturating_add(i64::from(n.max(1)) * DAY_S),
        }
    }

    /// Where a block that starts at `ts` must end: the window's end or the next local
    /// month start, whichever comes first.
    pub(crate) fn block_end(self, ts: i64, off: UtcOffset) -> i64 {
        match self {
            Window::Month => next_month_start(ts, off),
            Window::Days(_) => self.end(ts, off).min(next_month_start(ts, off)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_tile_time() {
        let off = UtcOffset::CHINA;
        for w in [Window::Month, Window::Days(1), Window::Days(7)] {
            let mut t = 1_700_000_000;
            for _ in 0..40 {
                let (s, e) = (w.start(t, off), w.end(t, off));
                assert!(s <= t && t < e, "{w:?} {t}");
                assert_eq!(
                    w.start(e, off),
                    e,
                    "{w:?}: the next window starts at the end"
                );
                assert!(w.block_end(t, off) <= e);
                t = e + 1234;
            }
        }
        // A day window starts at local midnight.
        let midnight = 1_710_086_400; // 2024-03-11T00:00+08:00
        assert_eq!(Window::Days(1).start(midnight + 5, off), midnight);
        assert_eq!(Window::Days(1).end(i64::MAX - 5, off), i64::MAX);
    }
}

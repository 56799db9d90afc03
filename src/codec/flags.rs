//! The flag column: the quality flags of a sequence of readings, stored as the runs of
//! readings whose flag is not [`Flag::Normal`], so that a sequence of normal readings costs
//! nothing (no column at all) and a stretch of maintenance costs a few bytes.
//!
//! ```text
//! n_runs  varint
//!   per run: skip varint (normal readings since the previous run's end), len varint
//!            (>= 1), flag u8 (the HJ 212 letter of a flag other than N)
//! ```
//!
//! Runs lie within the sequence; readings after the last run are normal. The write-ahead
//! log keeps these runs per batch run, segments per block followed by their length (see
//! [`split_column`]); both in `docs/FORMAT.md`.
//!
//! In memory a column of flags is *sparse*: an empty vector while every flag is normal,
//! else one flag per reading. [`push`] and [`extend`] keep that form.

use super::{Cursor, DecodeError};
use crate::types::Flag;

/// Bytes of the length that ends a segment block's flag column.
pub(crate) const COLUMN_LEN_BYTES: usize = 4;

/// Whether any flag is not normal.
pub(crate) fn any_flagged(flags: &[Flag]) -> bool {
    flags.iter().any(|&f| f != Flag::Normal)
}

/// Appends the runs of `flags` (a full column, one flag per reading).
pub(crate) fn encode_runs(flags: &[Flag], out: &mut Vec<u8>) {
    let mut runs = Vec::new();
    let mut i = 0;
    let mut end = 0;
    while i < flags.len() {
        let f = flags[i];
        let len = flags[i..].iter().take_while(|&&g| g == f).count();
        if f != Flag::Normal {
            runs.push((i - end, len, f));
            end = i + len;
        }
        i += len;
    }
    super::put_varint(out, runs.len() as u64);
    for (skip, len, f) in runs {
        super::put_varint(out, skip as u64);
        super::put_varint(out, len as u64);
        out.push(f.to_byte());
    }
}

/// Reads runs written by [`encode_runs`] for `count` readings and appends their flags to
/// the sparse column `flags`, which holds `len` readings before them (see [`extend`]).
pub(crate) fn decode_runs(
    c: &mut Cursor<'_>,
    count: usize,
    flags: &mut Vec<Flag>,
    len: usize,
) -> Result<(), DecodeError> {
    let mut any = false;
    walk_runs(c, count, |start, end, f| {
        if !any {
            flags.resize(len, Flag::Normal);
            any = true;
        }
        flags.resize(len + start, Flag::Normal);
        flags.resize(len + end, f);
    })?;
    match any {
        true => flags.resize(len + count, Flag::Normal),
        false => extend(flags, len, &[], count),
    }
    Ok(())
}

/// Reads runs written by [`encode_runs`] for `count` readings, checking them, and hands
/// each to `put` as (first reading, end, flag).
fn walk_runs(
    c: &mut Cursor<'_>,
    count: usize,
    mut put: impl FnMut(usize, usize, Flag),
) -> Result<(), DecodeError> {
    let at = c.pos();
    let n_runs = c.varint("flag run count")?;
    if n_runs > count as u64 {
        return Err(DecodeError::new("more flag runs than readings", at));
    }
    let mut done = 0usize;
    for _ in 0..n_runs {
        let at = c.pos();
        let skip = c.varint("flag run skip")?;
        let n = c.varint("flag run length")?;
        let byte = c.u8("flag")?;
        let f = Flag::from_byte(byte)
            .filter(|&f| f != Flag::Normal)
            .ok_or(DecodeError::new("unknown flag in a flag run", c.pos() - 1))?;
        let end = (done as u64)
            .checked_add(skip)
            .and_then(|s| s.checked_add(n))
            .filter(|&e| n > 0 && e <= count as u64)
            .ok_or(DecodeError::new("flag run empty or past the readings", at))?;
        put(done + skip as usize, end as usize, f);
        done = end as usize;
    }
    Ok(())
}

/// Appends the column of a segment block to `out`: the runs of `flags`, then their length
/// as a u32.
pub(crate) fn encode_column(flags: &[Flag], out: &mut Vec<u8>) {
    let from = out.len();
    encode_runs(flags, out);
    let len = (out.len() - from) as u32;
    out.extend_from_slice(&len.to_le_bytes());
}

/// Splits a block body that ends with a flag column into the body before it and the runs
/// (without their length). Errors are relative to the start of `body`.
pub(crate) fn split_column(body: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let Some(rest) = body.len().checked_sub(COLUMN_LEN_BYTES) else {
        return Err(DecodeError::new(
            "body shorter than its flag column length",
            0,
        ));
    };
    let len = u32::from_le_bytes(body[rest..].try_into().expect("4 bytes")) as usize;
    let Some(start) = rest.checked_sub(len) else {
        return Err(DecodeError::new("flag column longer than the body", rest));
    };
    Ok((&body[..start], &body[start..rest]))
}

/// Decodes the runs of a block's flag column (as [`split_column`] gives them) for `count`
/// readings onto the sparse column `flags` of `len` readings, or only checks them without
/// `flags`. A column must be consumed
/// exactly and hold at least one run: a block without flagged readings has no column.
pub(crate) fn decode_column(
    runs: &[u8],
    count: usize,
    flags: Option<(&mut Vec<Flag>, usize)>,
) -> Result<(), DecodeError> {
    if runs.first() == Some(&0) {
        return Err(DecodeError::new("flag column without runs", 0));
    }
    let mut c = Cursor::new(runs);
    match flags {
        Some((flags, len)) => decode_runs(&mut c, count, flags, len)?,
        // Checked only: nothing kept, nothing allocated.
        None => walk_runs(&mut c, count, |_, _, _| {})?,
    }
    if c.pos() != runs.len() {
        return Err(DecodeError::new(
            "trailing bytes after the flag runs",
            c.pos(),
        ));
    }
    Ok(())
}

/// The flag of reading `i` of a sparse column.
pub(crate) fn get(flags: &[Flag], i: usize) -> Flag {
    flags.get(i).copied().unwrap_or_default()
}

/// Appends one flag to the sparse column `flags` of `len` readings.
pub(crate) fn push(flags: &mut Vec<Flag>, len: usize, f: Flag) {
    if f != Flag::Normal || !flags.is_empty() {
        flags.resize(len, Flag::Normal);
        flags.push(f);
    }
}

/// Appends `n` readings' flags `src` (a sparse column: empty or `n` long) to the sparse
/// column `flags` of `len` readings.
pub(crate) fn extend(flags: &mut Vec<Flag>, len: usize, src: &[Flag], n: usize) {
    debug_assert!(src.is_empty() || src.len() == n);
    if src.is_empty() {
        if !flags.is_empty() {
            flags.resize(len + n, Flag::Normal);
        }
    } else {
        flags.resize(len, Flag::Normal);
        flags.extend_from_slice(src);
    }
}

/// The part `r` of a sparse column (empty when the column is).
pub(crate) fn slice(flags: &[Flag], r: std::ops::Range<usize>) -> &[Flag] {
    match flags.is_empty() {
        true => &[],
        false => &flags[r],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_roundtrip_and_normal_costs_one_byte() {
        use Flag::*;
        let cases: Vec<Vec<Flag>> = vec![
            vec![],
            vec![Normal; 5],
            vec![Maintenance; 3],
            vec![Normal, Fault, Fault, Normal, Normal, Calibration, Stopped],
            vec![OverLimit, Normal, Communication, Manual],
        ];
        for flags in cases {
            let mut out = vec![];
            encode_runs(&flags, &mut out);
            if !any_flagged(&flags) {
                assert_eq!(out, vec![0]);
            }
            let mut got = vec![Normal];
            decode_runs(&mut Cursor::new(&out), flags.len(), &mut got, 1).unwrap();
            if any_flagged(&flags) {
                assert_eq!(got[1..], flags[..]);
            } else {
                assert_eq!(got, vec![Normal; 1 + flags.len()]);
            }
            let mut sparse = vec![];
            decode_runs(&mut Cursor::new(&out), flags.len(), &mut sparse, 7).unwrap();
            assert!(any_flagged(&flags) || sparse.is_empty());
        }
    }

    fn check_column(runs: &[u8], count: usize) -> Result<(), DecodeError> {
        let mut full = Vec::new();
        let decoded = decode_column(runs, count, Some((&mut full, 0)));
        let checked = decode_column(runs, count, None);
        assert_eq!(decoded.is_ok(), checked.is_ok());
        decoded
    }

    #[test]
    fn bad_columns_are_errors() {
        let flags = [Flag::Normal, Flag::Maintenance, Flag::Maintenance];
        let mut col = vec![];
        encode_column(&flags, &mut col);
        let mut body = b"rest".to_vec();
        body.extend_from_slice(&col);
        let (rest, runs) = split_column(&body).unwrap();
        assert_eq!(rest, b"rest");
        check_column(runs, 3).unwrap();
        // Too few readings for the runs, every cut, a flag byte of N or unknown.
        assert!(check_column(runs, 2).is_err());
        for cut in 0..runs.len() {
            assert!(check_column(&runs[..cut], 3).is_err(), "cut {cut}");
        }
        for bad in [b'N', b'X', 0] {
            let mut r = runs.to_vec();
            *r.last_mut().unwrap() = bad;
            assert!(check_column(&r, 3).is_err());
        }
        let mut longer = runs.to_vec();
        longer.push(0);
        assert!(check_column(&longer, 3).is_err());
        // An empty run, and a column without runs.
        assert!(check_column(&[1, 0, 0, b'M'], 3).is_err());
        assert!(check_column(&[0], 3).is_err());
        assert!(split_column(&[1, 0, 0]).is_err());
        assert!(split_column(&[9, 0, 0, 0]).is_err());
    }

    #[test]
    fn sparse_columns_stay_empty_until_a_flag() {
        let mut f = vec![];
        push(&mut f, 0, Flag::Normal);
        extend(&mut f, 1, &[], 4);
        assert!(f.is_empty());
        push(&mut f, 5, Flag::Fault);
        assert_eq!(f.len(), 6);
        assert_eq!(get(&f, 5), Flag::Fault);
        extend(&mut f, 6, &[], 2);
        assert_eq!(f.len(), 8);
        assert_eq!(get(&[], 3), Flag::Normal);
    }
}

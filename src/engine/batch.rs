//! The payload of a write-ahead log record: one appended batch after validation, with
//! the meters it registers, so that replay rebuilds both the memtable and the registry.
//! Byte layout: the "Write-ahead log" section of `docs/FORMAT.md`.
//!
//! ```text
//! kind     u8    1 = batch, 2 = batch with flags
//! n_new    u32   meters this batch registers
//!   per meter: dense u32, then a METERS entry (id_len u16, id, kind u8, interval_s u32,
//!              unit_len u8, unit)
//! n_runs   u32   runs of consecutive readings of one meter, in batch order
//!   per run: meter u32, count u32 (>= 1), first_ts i64, count x value (f64 bits, u64),
//!            count-1 x zigzag LEB128 varint of ts[i] - ts[i-1],
//!            kind 2 only: the run's flags as runs (`codec::flags`)
//! ```
//!
//! A batch whose readings are all [`Flag::Normal`] is kind 1, byte for byte what a build
//! without flags writes; any other flag makes the whole batch kind 2.
//!
//! Readings go in runs because a batch is usually grouped by meter (a terminal's frame, a day's
//! curve), so a 15-minute reading costs its 8 value bytes plus 2 bytes of timestamp
//! delta, instead of 20 bytes as (meter, ts, value). Batch order is kept exactly, so the
//! later write of a (meter, timestamp) within a batch still wins on replay.

use super::meters::{decode_entry, encode_entry};
use crate::codec::{flags, put_varint, Cursor, DecodeError};
use crate::types::{Flag, MeterMeta};

/// Record kind of an appended batch whose readings are all [`Flag::Normal`].
const KIND_BATCH: u8 = 1;
/// Record kind of an appended batch with its readings' flags.
const KIND_FLAGGED_BATCH: u8 = 2;

/// A reading resolved to its dense meter id: `(dense meter, ts, value, flag)`.
pub(crate) type Resolved = (u32, i64, f64, Flag);

/// A decoded batch.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Batch {
    /// Meters registered by the batch: dense id, external id, metadata.
    pub new_meters: Vec<(u32, String, MeterMeta)>,
    /// Readings in batch order.
    pub readings: Vec<Resolved>,
    /// Whether the record is kind 2 (a reading's flag may not be normal).
    pub flagged: bool,
}

/// Encodes a batch whose readings are already resolved to dense ids; also tells whether a
/// reading's flag is not normal (the record is then kind 2).
pub(crate) fn encode(
    new_meters: &[(u32, &str, &MeterMeta)],
    readings: &[Resolved],
) -> (Vec<u8>, bool) {
    // Kind 1 first: the flags are seen on the way, in the loop that copies the values, and
    // only a batch that has one is encoded again.
    match encode_as(new_meters, readings, false) {
        (out, false) => (out, false),
        (_, true) => (encode_as(new_meters, readings, true).0, true),
    }
}

/// Encodes as kind 2 when `flagged`, else as kind 1 (leaving the flags out); returns the
/// payload and whether a reading's flag is not normal.
fn encode_as(
    new_meters: &[(u32, &str, &MeterMeta)],
    readings: &[Resolved],
    flagged: bool,
) -> (Vec<u8>, bool) {
    let mut seen = false;
    let mut out = Vec::with_capacity(16 + readings.len() * 10);
    out.push(if flagged {
        KIND_FLAGGED_BATCH
    } else {
        KIND_BATCH
    });
    out.extend_from_slice(&(new_meters.len() as u32).to_le_bytes());
    for (dense, id, meta) in new_meters {
        out.extend_from_slice(&dense.to_le_bytes());
        encode_entry(&mut out, id, meta);
    }
    let n_runs_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut n_runs = 0u32;
    let mut i = 0;
    while i < readings.len() {
        let m = readings[i].0;
        let len = readings[i..].iter().take_while(|r| r.0 == m).count();
        let run = &readings[i..i + len];
        out.extend_from_slice(&m.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&run[0].1.to_le_bytes());
        for r in run {
            out.extend_from_slice(&r.2.to_bits().to_le_bytes());
            seen |= r.3 != Flag::Normal;
        }
        for w in run.windows(2) {
            put_varint(&mut out, zigzag(w[1].1.wrapping_sub(w[0].1)));
        }
        if flagged {
            let run_flags: Vec<Flag> = run.iter().map(|r| r.3).collect();
            flags::encode_runs(&run_flags, &mut out);
        }
        n_runs += 1;
        i += len;
    }
    out[n_runs_at..n_runs_at + 4].copy_from_slice(&n_runs.to_le_bytes());
    (out, seen)
}

/// Decodes a payload written by [`encode`]. Checks the structure only; the caller checks
/// meter ids and values against the store.
pub(crate) fn decode(payload: &[u8]) -> Result<Batch, DecodeError> {
    let mut c = Cursor::new(payload);
    let flagged = match c.u8("record kind")? {
        KIND_BATCH => false,
        KIND_FLAGGED_BATCH => true,
        _ => return Err(DecodeError::new("unknown log record kind", 0)),
    };
    let n_new = c.u32("new meter count")? as usize;
    let mut b = Batch {
        flagged,
        ..Batch::default()
    };
    for _ in 0..n_new.min(payload.len()) {
        let dense = c.u32("new meter dense id")?;
        let (id, meta) = decode_entry(&mut c)?;
        b.new_meters.push((dense, id, meta));
    }
    if b.new_meters.len() != n_new {
        return Err(DecodeError::new(
            "new meter count exceeds the record",
            c.pos(),
        ));
    }
    let n_runs = c.u32("run count")?;
    for _ in 0..n_runs {
        let at = c.pos();
        let meter = c.u32("run meter")?;
        let count = c.u32("run length")? as usize;
        if count == 0 {
            return Err(DecodeError::new("empty run", at));
        }
        let mut ts = c.i64("run first timestamp")?;
        let values = c.take(
            count
                .checked_mul(8)
                .ok_or(DecodeError::new("run too long", at))?,
            "run values",
        )?;
        let from = b.readings.len();
        b.readings.reserve(count);
        for (k, v) in values.chunks_exact(8).enumerate() {
            if k > 0 {
                ts = ts.wrapping_add(unzigzag(c.varint("timestamp delta")?));
            }
            let bits = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
            b.readings
                .push((meter, ts, f64::from_bits(bits), Flag::Normal));
        }
        if flagged {
            let mut run_flags = Vec::new();
            flags::decode_runs(&mut c, count, &mut run_flags, 0)?;
            for (r, &f) in b.readings[from..].iter_mut().zip(&run_flags) {
                r.3 = f;
            }
        }
    }
    if c.pos() != payload.len() {
        return Err(DecodeError::new("trailing bytes in log record", c.pos()));
    }
    Ok(b)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Quantity;

    #[test]
    fn roundtrip_keeps_batch_order_and_meters() {
        let meta = MeterMeta {
            kind: Quantity::Power,
            interval_s: None,
            unit: "kW".into(),
        };
        let n = Flag::Normal;
        let plain = vec![
            (3, 900, 1.5, n),
            (3, 0, -0.0, n),
            (3, 900, 2.5, n),
            (0, i64::MIN, f64::MAX, n),
            (0, i64::MAX, 1e-300, n),
            (3, 1800, 7.0, n),
        ];
        let mut flagged = plain.clone();
        flagged[1].3 = Flag::Maintenance;
        flagged[2].3 = Flag::Maintenance;
        flagged[4].3 = Flag::OverLimit;
        for (readings, kind) in [(plain, KIND_BATCH), (flagged, KIND_FLAGGED_BATCH)] {
            let (bytes, flagged) = encode(&[(3, "电表-3", &meta)], &readings);
            assert_eq!(flagged, kind == KIND_FLAGGED_BATCH);
            assert_eq!(bytes[0], kind);
            let b = decode(&bytes).unwrap();
            assert_eq!(b.flagged, kind == KIND_FLAGGED_BATCH);
            assert_eq!(b.new_meters, vec![(3, "电表-3".to_owned(), meta.clone())]);
            let bits = |r: &[Resolved]| -> Vec<(u32, i64, u64, Flag)> {
                r.iter()
                    .map(|&(m, t, v, f)| (m, t, v.to_bits(), f))
                    .collect()
            };
            assert_eq!(bits(&b.readings), bits(&readings));
            // Every cut is an error, never a panic.
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "cut {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode(&longer).is_err());
        }
    }

    #[test]
    fn an_all_normal_batch_is_kind_1_with_no_flag_bytes() {
        let r = [(0, 0, 1.0, Flag::Normal), (0, 900, 2.0, Flag::Normal)];
        let (plain, _) = encode(&[], &r);
        let mut f = r;
        f[1].3 = Flag::Fault;
        let (flagged, _) = encode(&[], &f);
        // One run: n_runs, skip, len, flag.
        assert_eq!(flagged.len(), plain.len() + 4);
        assert_eq!(plain[1..], flagged[1..plain.len()]);
    }

    #[test]
    fn varints_reject_overflow() {
        let mut out = vec![];
        put_varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        assert_eq!(Cursor::new(&out).varint("v").unwrap(), u64::MAX);
        out[9] = 2;
        assert!(Cursor::new(&out).varint("v").is_err());
        for v in [0, 1, -1, i64::MIN, i64::MAX, 900, -900] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}

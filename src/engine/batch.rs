//! The payload of a write-ahead log record: one appended batch after validation, with
//! the meters it registers, so that replay rebuilds both the memtable and the registry.
//! Byte layout: the "Write-ahead log" section of `docs/FORMAT.md`.
//!
//! ```text
//! kind     u8    1 = batch
//! n_new    u32   meters this batch registers
//!   per meter: dense u32, then a METERS entry (id_len u16, id, kind u8, interval_s u32,
//!              unit_len u8, unit)
//! n_runs   u32   runs of consecutive readings of one meter, in batch order
//!   per run: meter u32, count u32 (>= 1), first_ts i64, count x value (f64 bits, u64),
//!            count-1 x zigzag LEB128 varint of ts[i] - ts[i-1]
//! ```
//!
//! Readings go in runs because a batch is usually grouped by meter (a terminal's frame, a day's
//! curve), so a 15-minute reading costs its 8 value bytes plus 2 bytes of timestamp
//! delta, instead of 20 bytes as (meter, ts, value). Batch order is kept exactly, so the
//! later write of a (meter, timestamp) within a batch still wins on replay.

use super::meters::{decode_entry, encode_entry};
use crate::codec::{Cursor, DecodeError};
use crate::types::MeterMeta;

/// Record kind of an appended batch.
const KIND_BATCH: u8 = 1;

/// A decoded batch.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Batch {
    /// Meters registered by the batch: dense id, external id, metadata.
    pub new_meters: Vec<(u32, String, MeterMeta)>,
    /// `(dense meter, ts, value)` in batch order.
    pub readings: Vec<(u32, i64, f64)>,
}

/// Encodes a batch whose readings are already resolved to dense ids.
pub(crate) fn encode(
    new_meters: &[(u32, &str, &MeterMeta)],
    readings: &[(u32, i64, f64)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + readings.len() * 10);
    out.push(KIND_BATCH);
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
        }
        for w in run.windows(2) {
            put_varint(&mut out, zigzag(w[1].1.wrapping_sub(w[0].1)));
        }
        n_runs += 1;
        i += len;
    }
    out[n_runs_at..n_runs_at + 4].copy_from_slice(&n_runs.to_le_bytes());
    out
}

/// Decodes a payload written by [`encode`]. Checks the structure only; the caller checks
/// meter ids and values against the store.
pub(crate) fn decode(payload: &[u8]) -> Result<Batch, DecodeError> {
    let mut c = Cursor::new(payload);
    if c.u8("record kind")? != KIND_BATCH {
        return Err(DecodeError::new("unknown log record kind", 0));
    }
    let n_new = c.u32("new meter count")? as usize;
    let mut b = Batch::default();
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
        b.readings.reserve(count);
        for (k, v) in values.chunks_exact(8).enumerate() {
            if k > 0 {
                ts = ts.wrapping_add(unzigzag(get_varint(&mut c)?));
            }
            let bits = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
            b.readings.push((meter, ts, f64::from_bits(bits)));
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

fn put_varint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn get_varint(c: &mut Cursor<'_>) -> Result<u64, DecodeError> {
    let at = c.pos();
    let mut u = 0u64;
    for shift in (0..64).step_by(7) {
        let b = c.u8("timestamp delta")?;
        if shift == 63 && b > 1 {
            return Err(DecodeError::new("timestamp delta overflows 64 bits", at));
        }
        u |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(u);
        }
    }
    Err(DecodeError::new("timestamp delta longer than 10 bytes", at))
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
        let readings = vec![
            (3, 900, 1.5),
            (3, 0, -0.0),
            (3, 900, 2.5),
            (0, i64::MIN, f64::MAX),
            (0, i64::MAX, 1e-300),
            (3, 1800, 7.0),
        ];
        let bytes = encode(&[(3, "电表-3", &meta)], &readings);
        let b = decode(&bytes).unwrap();
        assert_eq!(b.new_meters, vec![(3, "电表-3".to_owned(), meta)]);
        let bits = |r: &[(u32, i64, f64)]| -> Vec<(u32, i64, u64)> {
            r.iter().map(|&(m, t, v)| (m, t, v.to_bits())).collect()
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

    #[test]
    fn varints_reject_overflow() {
        let mut out = vec![];
        put_varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        assert_eq!(get_varint(&mut Cursor::new(&out)).unwrap(), u64::MAX);
        out[9] = 2;
        assert!(get_varint(&mut Cursor::new(&out)).is_err());
        for v in [0, 1, -1, i64::MIN, i64::MAX, 900, -900] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}

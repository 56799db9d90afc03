//! Cold block bodies: the same readings as a hot body, entropy-coded with pcodec (the `pco`
//! crate) for windows that are rarely written and mostly kept.
//!
//! Layout (all little-endian):
//! ```text
//! ts_form  u8     0: a hot timestamp column follows; 1: a pco chunk of the timestamps
//! ts_len   u32    bytes of the timestamp part
//! ts       ts_len bytes
//! values   the rest: a pco standalone chunk of `count` numbers, i64 for decimal blocks
//!          (the scaled integers), f64 for float-bits blocks (pco keeps every bit)
//! ```
//! The timestamp form is the smaller of the two: a regular grid is a few bytes as a hot
//! column, irregular timestamps shrink under pco's delta orders.
//!
//! Values go through the same decimal-scale mapping as hot blocks (`codec::values`): pco
//! compresses the integers of decimal data far better than their float bits, and a block
//! that is not decimal keeps its exact bit patterns through pco's float mode.

use super::timestamps::{self, TsColumn};
use super::values::ValueKind;
use super::DecodeError;
use pco::standalone::{simple_compress, simple_decompress_into_uninit};
use pco::ChunkConfig;

/// The timestamp part is a hot timestamp column.
const TS_HOT: u8 = 0;
/// The timestamp part is a pco chunk of the timestamps.
const TS_PCO: u8 = 1;

/// pco's compression level for cold blocks: its default, 8. Levels above it find smaller
/// binnings at a multiple of the encode time for well under a percent on meter readings.
const LEVEL: usize = 8;

/// Hot timestamp columns up to this size are not worth a pco attempt.
const REGULAR_BYTES: usize = 64;

fn config() -> ChunkConfig {
    ChunkConfig::default().with_compression_level(LEVEL)
}

/// Appends the cold body of one block to `out`: timestamps `ts` (strictly increasing)
/// whose hot column is `hot`, values as `ints` under `kind` (as `values::to_ints` gave
/// them). `None` when pco refuses the input (it does not for any block the segment
/// writer forms), so that the caller keeps the hot body instead.
pub(crate) fn encode(
    ts: &[i64],
    hot: &[u8],
    kind: ValueKind,
    ints: &[i64],
    out: &mut Vec<u8>,
) -> Option<()> {
    // A regular grid takes a few bytes per block as a hot column (the 17-byte grid and
    // its gaps), which a pco chunk's own header does not beat: only irregular columns
    // are tried.
    let irregular = hot.len() > REGULAR_BYTES;
    let (form, ts_part) = match irregular.then(|| simple_compress(ts, &config())) {
        Some(Ok(p)) if p.len() < hot.len() => (TS_PCO, p),
        _ => (TS_HOT, hot.to_vec()),
    };
    let values = match kind {
        ValueKind::Decimal { .. } => simple_compress(ints, &config()).ok()?,
        ValueKind::FloatBits => {
            let floats: Vec<f64> = ints.iter().map(|&i| f64::from_bits(i as u64)).collect();
            simple_compress(&floats, &config()).ok()?
        }
    };
    out.push(form);
    out.extend_from_slice(&(ts_part.len() as u32).to_le_bytes());
    out.extend_from_slice(&ts_part);
    out.extend_from_slice(&values);
    Some(())
}

/// The parts of a cold body.
struct Parts<'a> {
    form: u8,
    ts_at: usize,
    ts: &'a [u8],
    vals_at: usize,
    vals: &'a [u8],
}

fn parts(body: &[u8]) -> Result<Parts<'_>, DecodeError> {
    let mut c = super::Cursor::new(body);
    let form = c.u8("cold timestamp form")?;
    if form != TS_HOT && form != TS_PCO {
        return Err(DecodeError::new("unknown cold timestamp form", 0));
    }
    let ts_len = c.u32("cold timestamp length")? as usize;
    let ts_at = c.pos();
    let ts = c.take(ts_len, "cold timestamps")?;
    Ok(Parts {
        form,
        ts_at,
        ts,
        vals_at: c.pos(),
        vals: c.rest(),
    })
}

/// The hot timestamp column of a timestamp part of form [`TS_HOT`], checked to hold
/// `count` timestamps and to use every byte.
fn hot_column<'a>(p: &Parts<'a>, count: usize) -> Result<TsColumn<'a>, DecodeError> {
    let (col, used) =
        TsColumn::parse(p.ts, count).map_err(|d| DecodeError::new(d.what, p.ts_at + d.at))?;
    if used != p.ts.len() {
        return Err(DecodeError::new(
            "trailing bytes after the timestamp column",
            p.ts_at + used,
        ));
    }
    Ok(col)
}

/// Appends the timestamps of a timestamp part of form [`TS_PCO`] to `ts`.
fn pco_timestamps(p: &Parts<'_>, count: usize, ts: &mut Vec<i64>) -> Result<(), DecodeError> {
    let from = ts.len();
    pco_append(p.ts, count, ts, p.ts_at, "cold timestamps do not decode")?;
    if ts[from..].windows(2).any(|w| w[0] >= w[1]) {
        return Err(DecodeError::new("cold timestamps do not increase", p.ts_at));
    }
    Ok(())
}

/// Decodes a cold body of `count` readings: appends the timestamps to `ts` and the
/// integers (under `kind`) to `ints`. Every byte of the timestamp part must be used;
/// timestamps must strictly increase.
pub(crate) fn decode(
    body: &[u8],
    count: usize,
    kind: ValueKind,
    ts: &mut Vec<i64>,
    ints: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    let p = parts(body)?;
    match p.form {
        TS_HOT => hot_column(&p, count)?.decode_into(ts),
        _ => pco_timestamps(&p, count, ts)?,
    }
    decode_values(&p, count, kind, ints)
}

/// Decodes the integers of a cold body of `count` readings whose timestamps are stored as
/// a hot column: `ints` is cleared and gets them, and the column (checked to hold `count`
/// timestamps and to use every byte of its part) is returned. `None`, with nothing
/// decoded, for a body whose timestamps are a pco chunk.
pub(crate) fn decode_with_hot_ts<'a>(
    body: &'a [u8],
    count: usize,
    kind: ValueKind,
    ints: &mut Vec<i64>,
) -> Result<Option<TsColumn<'a>>, DecodeError> {
    let p = parts(body)?;
    if p.form != TS_HOT {
        return Ok(None);
    }
    let col = hot_column(&p, count)?;
    ints.clear();
    decode_values(&p, count, kind, ints)?;
    Ok(Some(col))
}

/// Appends to `out` a hot body (timestamp column, integer column) of the readings of a
/// cold body, for readers that take hot columns: a hot timestamp part is copied as it
/// is, the integers are packed with plain frames (fast to write; the body is read once).
/// `ts` and `ints` are scratch.
pub(crate) fn decode_to_hot(
    body: &[u8],
    count: usize,
    kind: ValueKind,
    (ts, ints): (&mut Vec<i64>, &mut Vec<i64>),
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let p = parts(body)?;
    match p.form {
        TS_HOT => {
            hot_column(&p, count)?;
            out.extend_from_slice(p.ts);
        }
        _ => {
            ts.clear();
            pco_timestamps(&p, count, ts)?;
            timestamps::encode(ts, out);
        }
    }
    ints.clear();
    decode_values(&p, count, kind, ints)?;
    super::ints::encode_plain(ints, out);
    Ok(())
}

/// Appends the `count` integers of a cold body's value part to `ints`.
fn decode_values(
    p: &Parts<'_>,
    count: usize,
    kind: ValueKind,
    ints: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    let what = "cold values do not decode";
    match kind {
        ValueKind::Decimal { .. } => pco_append(p.vals, count, ints, p.vals_at, what),
        ValueKind::FloatBits => {
            let mut floats: Vec<f64> = Vec::new();
            pco_append(p.vals, count, &mut floats, p.vals_at, what)?;
            ints.extend(floats.iter().map(|f| f.to_bits() as i64));
            Ok(())
        }
    }
}

/// Appends the `count` numbers of the pco chunk `src` to `out`, which must hold exactly
/// that many. Decoded straight into the vector's spare capacity: zeroing it first cost
/// about a tenth of a cold scan.
fn pco_append<T: pco::data_types::Number>(
    src: &[u8],
    count: usize,
    out: &mut Vec<T>,
    at: usize,
    what: &'static str,
) -> Result<(), DecodeError> {
    out.reserve(count);
    let len = out.len();
    match simple_decompress_into_uninit(src, &mut out.spare_capacity_mut()[..count]) {
        Ok(p) if p.finished && p.n_processed == count => {
            // SAFETY: pco initialises every number it reports processed, here all `count`
            // of the spare capacity reserved above.
            unsafe { out.set_len(len + count) };
            Ok(())
        }
        Ok(_) => Err(DecodeError::new("cold column holds a different count", at)),
        Err(_) => Err(DecodeError::new(what, at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::values;

    fn hot_ts(ts: &[i64]) -> Vec<u8> {
        let mut hot = Vec::new();
        timestamps::encode(ts, &mut hot);
        hot
    }

    fn round_trip(ts: &[i64], vals: &[f64]) -> usize {
        let mut ints = Vec::new();
        let kind = values::to_ints(vals, &mut ints);
        let mut body = Vec::new();
        encode(ts, &hot_ts(ts), kind, &ints, &mut body).unwrap();
        let (mut t2, mut i2, mut v2) = (Vec::new(), Vec::new(), Vec::new());
        decode(&body, ts.len(), kind, &mut t2, &mut i2).unwrap();
        values::from_ints(kind, &i2, &mut v2);
        assert_eq!(t2, ts);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&v2), bits(vals));
        body.len()
    }

    #[test]
    fn every_finite_value_comes_back_bit_for_bit() {
        let ts: Vec<i64> = (0..9).map(|k| 1_700_000_000 + k * 61 + k * k).collect();
        let odd = [
            -0.0,
            0.0,
            f64::MIN_POSITIVE / 4.0,
            -f64::MIN_POSITIVE / 3.0,
            f64::MAX,
            f64::MIN,
            1e-300,
            0.1 + 0.2,
            5e-324,
        ];
        round_trip(&ts, &odd);
        let decimal: Vec<f64> = (0..9).map(|k| (k * 37 % 11) as f64 / 100.0).collect();
        round_trip(&ts, &decimal);
        round_trip(&ts[..1], &[-0.0]);
    }

    #[test]
    fn regular_timestamps_keep_the_hot_column_and_irregular_ones_pco() {
        let regular: Vec<i64> = (0..2976).map(|k| 1_700_000_000 + k * 900).collect();
        let vals: Vec<f64> = (0..2976)
            .map(|k| ((k * 7919) % 500) as f64 / 10.0)
            .collect();
        let mut ints = Vec::new();
        let kind = values::to_ints(&vals, &mut ints);
        let mut body = Vec::new();
        encode(&regular, &hot_ts(&regular), kind, &ints, &mut body).unwrap();
        assert_eq!(body[0], TS_HOT);
        let irregular: Vec<i64> = (0..2976)
            .map(|k| 1_700_000_000 + k * 900 + (k * 7) % 13)
            .collect();
        body.clear();
        encode(&irregular, &hot_ts(&irregular), kind, &ints, &mut body).unwrap();
        assert_eq!(body[0], TS_PCO);
        round_trip(&irregular, &vals);
    }

    /// Below the CRC that guards every block: any cut or flipped bit of a cold body is an
    /// error or a valid decode of `count` readings, never a panic or a different count.
    #[test]
    fn damaged_bodies_never_panic() {
        let ts: Vec<i64> = (0..300).map(|k| 1_700_000_000 + k * 60 + (k % 3)).collect();
        let vals: Vec<f64> = (0..300).map(|k| (k as f64 * 0.37).sin()).collect();
        let mut ints = Vec::new();
        let kind = values::to_ints(&vals, &mut ints);
        let mut body = Vec::new();
        encode(&ts, &hot_ts(&ts), kind, &ints, &mut body).unwrap();
        let try_decode = |b: &[u8]| {
            let (mut t, mut i) = (Vec::new(), Vec::new());
            if decode(b, ts.len(), kind, &mut t, &mut i).is_ok() {
                assert_eq!((t.len(), i.len()), (ts.len(), ts.len()));
            }
        };
        for cut in 0..body.len() {
            let (mut t, mut i) = (Vec::new(), Vec::new());
            assert!(decode(&body[..cut], ts.len(), kind, &mut t, &mut i).is_err());
        }
        for bit in 0..body.len() * 8 {
            let mut b = body.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            try_decode(&b);
        }
    }
}

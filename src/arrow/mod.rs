//! Arrow record batches and Parquet files (cargo feature `arrow`).
//!
//! - [`readings_schema`] and [`ReadingsBuilder`]: meter histories as `RecordBatch`es of
//!   `meter_id` (dictionary of UTF-8 strings), `ts` (`Timestamp(Second, "UTC")`),
//!   `value` (`Float64`), bit-exact with the store's values, and `flag` (the HJ 212
//!   letter of each reading's quality flag, a dictionary with `Int8` keys).
//! - [`aggregates_batch`], [`day_night_batch`], [`enterprise_day_night_batch`]: query and
//!   scan results as batches.
//! - [`export_parquet`]: a snapshot written as Hive-partitioned Parquet
//!   (`month=YYYY-MM/shard=NN/part-00000.parquet`, the month in UTC), sorted by
//!   `(meter_id, ts)`, ZSTD, with full column statistics (the columns `meter_id`, `ts`,
//!   `value`: flags are not exported); [`meters_batch`] the catalog
//!   beside it.
//! - [`shard_of`]: the stable shard of a meter id (FNV-1a 64 of its UTF-8 bytes, modulo
//!   the shard count), the same on every node and in every tool.
//!
//! The Arrow and Parquet crates are re-exported ([`arrow_array`], [`arrow_schema`],
//! [`parquet`]) so that callers use the exact versions these batches are built with: the
//! major version DataFusion builds on.
//!
//! ```
//! use meterstore::arrow::{readings_schema, ReadingsBuilder};
//! use meterstore::{MeterMeta, Options, Reading, Store};
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::open(dir.path(), Options::default())?;
//! store.register_meter("M1", MeterMeta::default())?;
//! store.append(&[Reading::new("M1", 1_704_067_200, 0.25)])?;
//! let mut b = ReadingsBuilder::new();
//! b.push("M1", &store.history("M1", 0..i64::MAX)?);
//! let batch = b.finish();
//! assert_eq!(batch.schema(), readings_schema());
//! assert_eq!(batch.num_rows(), 1);
//! # Ok::<(), meterstore::Error>(())
//! ```

mod batches;
mod export;
mod pages;

pub use arrow_array;
pub use arrow_schema;
pub use parquet;

pub use batches::{
    aggregates_batch, day_night_batch, enterprise_day_night_batch, meters_batch, readings_schema,
    ReadingsBuilder,
};
pub use export::{export_parquet, ExportOptions, ExportReport, METERS_FILE};

/// FNV-1a, 64 bits, of `bytes`: offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`, one byte at a time (xor, then multiply, wrapping).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard of a meter among `shards`: [`fnv1a64`] of the id's UTF-8 bytes modulo
/// `shards` (taken as 1 when 0). Stable across versions, platforms and tools: in SQL,
/// any FNV-1a 64 of the id's bytes, as an unsigned 64-bit integer, modulo N.
pub fn shard_of(meter_id: &str, shards: u32) -> u32 {
    (fnv1a64(meter_id.as_bytes()) % u64::from(shards.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}

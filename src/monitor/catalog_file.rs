//! The catalog file: `DIR/CATALOG` in the store directory, a checksummed envelope like
//! the store's MANIFEST and METERS, replaced atomically (temporary file, fsync, rename,
//! fsync of the directory).
//!
//! ```text
//! 0   magic        8 bytes   "MTRCATL\n"
//! 8   version      u8        catalog format version (1 or 2)
//! 9   reserved     3 bytes   zero
//! 12  body_len     u32
//! 16  body_crc     u32       crc32 of body
//! 20  header_crc   u32       crc32 of bytes 0..20
//! 24  body         body_len bytes
//! ```
//!
//! The body (little-endian; `str` is a `u32` length and UTF-8 bytes) holds, in order:
//! enterprises, meters, learned normal powers, manual thresholds, suppression windows,
//! emergency periods and (version 2) HJ 212 sources, each section a `u32` count and its
//! items; it must be consumed exactly. Version 1 files have no HJ 212 section. An all-zero file fails on the magic.

use super::catalog::*;
use super::catalog_hj212::Hj212Source;
use super::learn::NormalPower;
use super::rules::RuleId;
use crate::engine::envelope;
use crate::error::{Error, Result};
use crate::types::Quantity;
use std::path::Path;

const ENV_VERSION: usize = CATALOG_MAGIC.len();
const ENV_BODY_LEN: usize = ENV_VERSION + 4;
const ENV_BODY_CRC: usize = ENV_BODY_LEN + 4;
const ENV_HEADER_CRC: usize = ENV_BODY_CRC + 4;
const ENV_BODY: usize = ENV_HEADER_CRC + 4;

impl Catalog {
    /// The catalog file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        put_u32(&mut w, self.enterprises.len() as u32);
        for e in self.enterprises.values() {
            for s in [&e.id, &e.name, &e.industry, &e.process, &e.district] {
                put_str(&mut w, s);
            }
            put_u32(&mut w, e.pollutants.len() as u32);
            for p in &e.pollutants {
                put_str(&mut w, p);
            }
        }
        put_u32(&mut w, self.meters.len() as u32);
        for m in self.meters.values() {
            for s in [&m.id, &m.enterprise, &m.facility, &m.unit] {
                put_str(&mut w, s);
            }
            w.push(m.role.to_byte());
            w.push(m.kind.to_byte());
            put_u32(&mut w, m.interval_s.unwrap_or(0));
            put_u32(&mut w, m.multipliers.len() as u32);
            for c in &m.multipliers {
                w.extend_from_slice(&c.from.to_le_bytes());
                put_f64(&mut w, c.value);
            }
        }
        put_u32(&mut w, self.learned.len() as u32);
        for (id, n) in &self.learned {
            put_str(&mut w, id);
            n.encode(&mut w);
        }
        put_u32(&mut w, self.manual.len() as u32);
        for (id, t) in &self.manual {
            put_str(&mut w, id);
            put_f64(&mut w, t.off_kw.unwrap_or(f64::NAN));
            put_f64(&mut w, t.normal_kw.unwrap_or(f64::NAN));
        }
        put_u32(&mut w, self.suppressions.len() as u32);
        for s in &self.suppressions {
            put_str(&mut w, &s.enterprise);
            put_str(&mut w, s.meter.as_deref().unwrap_or(""));
            put_u32(&mut w, s.rules.len() as u32);
            w.extend(s.rules.iter().map(|r| r.to_byte()));
            w.extend_from_slice(&s.range.start.to_le_bytes());
            w.extend_from_slice(&s.range.end.to_le_bytes());
            put_str(&mut w, &s.reason);
        }
        put_u32(&mut w, self.emergencies.len() as u32);
        for e in &self.emergencies {
            put_str(&mut w, &e.name);
            w.extend_from_slice(&e.range.start.to_le_bytes());
            w.extend_from_slice(&e.range.end.to_le_bytes());
            put_f64(&mut w, e.required_cut);
            put_u32(&mut w, e.enterprises.len() as u32);
            for id in &e.enterprises {
                put_str(&mut w, id);
            }
            let b = e.baseline.clone().unwrap_or(0..0);
            w.push(e.baseline.is_some() as u8);
            w.extend_from_slice(&b.start.to_le_bytes());
            w.extend_from_slice(&b.end.to_le_bytes());
        }
        put_u32(&mut w, self.hj212.len() as u32);
        for (meter, src) in &self.hj212 {
            for s in [meter, &src.mn, &src.code] {
                put_str(&mut w, s);
            }
        }
        seal(&w)
    }

    /// Parses catalog file bytes; `path` names the file in errors.
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Catalog> {
        let (version, body) = open_envelope(path, bytes)?;
        let mut r = Reader {
            path,
            buf: body,
            at: 0,
        };
        let mut c = Catalog::new();
        for _ in 0..r.count()? {
            let id = r.str()?;
            let name = r.str()?;
            let industry = r.str()?;
            let process = r.str()?;
            let district = r.str()?;
            let pollutants = (0..r.count()?).map(|_| r.str()).collect::<Result<_>>()?;
            c.enterprises.insert(
                id.clone(),
                Enterprise {
                    id,
                    name,
                    industry,
                    process,
                    pollutants,
                    district,
                },
            );
        }
        for _ in 0..r.count()? {
            let (id, enterprise, facility, unit) = (r.str()?, r.str()?, r.str()?, r.str()?);
            let at = r.at;
            let role = MeterRole::from_byte(r.u8()?).ok_or_else(|| r.bad(at, "meter role"))?;
            let kind = Quantity::from_byte(r.u8()?).ok_or_else(|| r.bad(at + 1, "kind"))?;
            let interval_s = Some(r.u32()?).filter(|&v| v != 0);
            let multipliers = (0..r.count()?)
                .map(|_| {
                    Ok(MultiplierChange {
                        from: r.i64()?,
                        value: r.f64()?,
                    })
                })
                .collect::<Result<_>>()?;
            c.meters.insert(
                id.clone(),
                CatalogMeter {
                    id,
                    enterprise,
                    role,
                    facility,
                    kind,
                    interval_s,
                    unit,
                    multipliers,
                },
            );
        }
        for _ in 0..r.count()? {
            let id = r.str()?;
            let n = NormalPower::decode(&mut r)?;
            c.learned.insert(id, n);
        }
        for _ in 0..r.count()? {
            let id = r.str()?;
            let off = r.f64()?;
            let normal = r.f64()?;
            let t = ManualThreshold {
                off_kw: (!off.is_nan()).then_some(off),
                normal_kw: (!normal.is_nan()).then_some(normal),
            };
            c.manual.insert(id, t);
        }
        for _ in 0..r.count()? {
            let enterprise = r.str()?;
            let meter = Some(r.str()?).filter(|m| !m.is_empty());
            let rules = (0..r.count()?)
                .map(|_| {
                    let at = r.at;
                    RuleId::from_byte(r.u8()?).ok_or_else(|| r.bad(at, "rule id"))
                })
                .collect::<Result<_>>()?;
            let range = r.i64()?..r.i64()?;
            let reason = r.str()?;
            c.suppressions.push(Suppression {
                enterprise,
                meter,
                rules,
                range,
                reason,
            });
        }
        for _ in 0..r.count()? {
            let name = r.str()?;
            let range = r.i64()?..r.i64()?;
            let required_cut = r.f64()?;
            let enterprises = (0..r.count()?).map(|_| r.str()).collect::<Result<_>>()?;
            let has = r.u8()? != 0;
            let b = r.i64()?..r.i64()?;
            c.emergencies.push(EmergencyPeriod {
                name,
                range,
                required_cut,
                enterprises,
                baseline: has.then_some(b),
            });
        }
        if version >= CatalogVersion::V2 as u8 {
            for _ in 0..r.count()? {
                let at = r.at;
                let meter = r.str()?;
                let src = Hj212Source {
                    mn: r.str()?,
                    code: r.str()?,
                };
                if c.hj212_meter.insert(src.clone(), meter.clone()).is_some() {
                    return Err(r.bad(at, "HJ 212 source (feeds two meters)"));
                }
                c.hj212.insert(meter, src);
            }
        }
        if r.at != r.buf.len() {
            return Err(r.bad(r.at, "trailing bytes after the last section"));
        }
        Ok(c)
    }
}

pub(crate) fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_f64(w: &mut Vec<u8>, v: f64) {
    w.extend_from_slice(&v.to_bits().to_le_bytes());
}
fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}

fn seal(body: &[u8]) -> Vec<u8> {
    envelope::seal_versioned(CATALOG_MAGIC, CatalogVersion::CURRENT as u8, body)
}

/// The body and the format version of a catalog file.
fn open_envelope<'a>(path: &Path, bytes: &'a [u8]) -> Result<(u8, &'a [u8])> {
    let mut version = 0;
    let body = envelope::open_versioned(path, CATALOG_MAGIC, bytes, |v| {
        version = v;
        CatalogVersion::try_from(v)
            .map(|_| ())
            .map_err(|v| Error::UnsupportedVersion {
                path: path.to_owned(),
                version: v,
                supported: CatalogVersion::CURRENT as u8,
            })
    })?;
    Ok((version, body))
}

/// Bounds-checked reader over a catalog body; errors name the file offset.
pub(crate) struct Reader<'a> {
    path: &'a Path,
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    pub(crate) fn bad(&self, at: usize, what: &str) -> Error {
        Error::corrupt(
            self.path,
            (ENV_BODY + at) as u64,
            format!("catalog: bad {what}"),
        )
    }
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.buf.len() - self.at < n {
            return Err(self.bad(self.at, "length (runs past the end of the body)"));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(b))
    }
    pub(crate) fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.i64()? as u64))
    }
    /// A count of following items, checked against the bytes left (each item takes at
    /// least one byte), so a corrupt count cannot make us allocate.
    pub(crate) fn count(&mut self) -> Result<usize> {
        let at = self.at;
        let n = self.u32()? as usize;
        if n > self.buf.len() - self.at {
            return Err(self.bad(at, "item count"));
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String> {
        let at = self.at;
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.bad(at, "string (not UTF-8)"))
    }
}

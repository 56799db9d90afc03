//! The meter registry: external string ids mapped to dense internal ids, with metadata,
//! persisted in the METERS file.

use super::envelope;
use super::manifest::{self, Manifest, MetersCheck};
use crate::codec::{Cursor, DecodeError};
use crate::error::{Error, Result};
use crate::format::{ENV_BODY, METADATA_VERSION, METERS_MAGIC};
use crate::fsutil;
use crate::types::{MeterMeta, Quantity};
use std::collections::HashMap;
use std::path::Path;

/// File name of the registry inside a store directory.
pub(crate) const FILE: &str = "METERS";

/// Longest external id accepted, in bytes.
pub(crate) const MAX_ID_LEN: usize = 256;

/// All meters of a store. Dense id = position.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meters {
    ids: Vec<String>,
    metas: Vec<MeterMeta>,
    by_id: HashMap<String, u32>,
}

impl Meters {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn meta(&self, dense: u32) -> &MeterMeta {
        &self.metas[dense as usize]
    }

    pub(crate) fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Checks that `id` and `meta` can be stored.
    pub(crate) fn validate(id: &str, meta: &MeterMeta) -> std::result::Result<(), String> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(format!("meter id must be 1 to {MAX_ID_LEN} bytes"));
        }
        if meta.unit.len() > u8::MAX as usize {
            return Err("unit longer than 255 bytes".into());
        }
        if meta.interval_s == Some(0) {
            return Err("interval of 0 seconds (use None for irregular meters)".into());
        }
        Ok(())
    }

    /// Adds a meter (the caller checked it is new and valid); returns its dense id.
    pub(crate) fn push(&mut self, id: &str, meta: MeterMeta) -> u32 {
        let dense = self.ids.len() as u32;
        self.ids.push(id.to_owned());
        self.metas.push(meta);
        self.by_id.insert(id.to_owned(), dense);
        dense
    }

    /// Loads the registry of `dir` and checks it against `manifest` (see
    /// [`MetersCheck`]): a missing file, fewer meters, other meters or a registry written
    /// for a later manifest is [`Error::Damaged`]. Returns the registry and the CRC of
    /// its entries.
    pub(crate) fn load(dir: &Path, manifest: &Manifest) -> Result<(Meters, MetersCheck)> {
        let path = dir.join(FILE);
        let mpath = dir.join(manifest::FILE);
        let want = manifest.meters;
        let Some((version, body)) = envelope::read_metadata(&path, METERS_MAGIC)? else {
            if !manifest.legacy && want.count > 0 {
                return Err(Error::damaged(
                    &path,
                    format!(
                        "missing, while MANIFEST (generation {}) was written with {} meters",
                        manifest.generation, want.count
                    ),
                ));
            }
            return Ok((Meters::default(), MetersCheck::default()));
        };
        let bad = |d: DecodeError| Error::corrupt(&path, (ENV_BODY + d.at) as u64, d.what);
        let mut c = Cursor::new(&body);
        let manifest_gen = match version < METADATA_VERSION {
            true => 0,
            false => c.i64("manifest generation").map_err(bad)? as u64,
        };
        let n = c.u32("meter count").map_err(bad)?;
        let entries_start = c.pos();
        let mut m = Meters::default();
        let mut prefix_crc = None;
        for k in 0..n {
            if k == want.count {
                prefix_crc = Some(crc32fast::hash(&body[entries_start..c.pos()]));
            }
            let at = c.pos();
            let (id, meta) = decode_entry(&mut c).map_err(bad)?;
            if m.by_id.contains_key(&id) || Meters::validate(&id, &meta).is_err() {
                return Err(bad(DecodeError::new(
                    "duplicate or invalid meter entry",
                    at,
                )));
            }
            m.push(&id, meta);
        }
        if c.pos() != body.len() {
            return Err(bad(DecodeError::new(
                "trailing bytes in meter registry",
                c.pos(),
            )));
        }
        let all = MetersCheck {
            count: n,
            crc: crc32fast::hash(&body[entries_start..]),
        };
        if manifest.legacy {
            return Ok((m, all));
        }
        if n < want.count {
            return Err(Error::damaged(
                &path,
                format!(
                    "holds {n} meters, MANIFEST (generation {}) was written with {}: a stale copy",
                    manifest.generation, want.count
                ),
            ));
        }
        if prefix_crc.unwrap_or(all.crc) != want.crc {
            return Err(Error::damaged(
                &path,
                format!(
                    "its first {} meters differ from those MANIFEST (generation {}) was written with",
                    want.count, manifest.generation
                ),
            ));
        }
        // METERS is written just before the manifest generation it names: one ahead is a
        // crash between the two writes, and then METERS holds more meters.
        let ahead = manifest_gen.saturating_sub(manifest.generation);
        if version >= METADATA_VERSION && (ahead > 1 || (ahead == 1 && n == want.count)) {
            return Err(Error::damaged(
                &mpath,
                format!(
                    "generation {} is older than METERS, written for generation {manifest_gen}: \
                     a stale copy of MANIFEST",
                    manifest.generation
                ),
            ));
        }
        Ok((m, all))
    }

    /// Atomically replaces the registry file with these meters plus `extra`, naming
    /// `manifest_gen` as the manifest generation written next. Returns the check the
    /// next manifest records.
    pub(crate) fn store(
        &self,
        dir: &Path,
        extra: &[(String, MeterMeta)],
        manifest_gen: u64,
    ) -> Result<MetersCheck> {
        let mut body = Vec::new();
        body.extend_from_slice(&manifest_gen.to_le_bytes());
        let count = (self.ids.len() + extra.len()) as u32;
        body.extend_from_slice(&count.to_le_bytes());
        let entries_start = body.len();
        let all = self
            .ids
            .iter()
            .zip(&self.metas)
            .chain(extra.iter().map(|(i, m)| (i, m)));
        for (id, meta) in all {
            encode_entry(&mut body, id, meta);
        }
        let crc = crc32fast::hash(&body[entries_start..]);
        let bytes = envelope::seal_versioned(METERS_MAGIC, METADATA_VERSION, &body);
        fsutil::write_atomic(&dir.join(FILE), &bytes)?;
        Ok(MetersCheck { count, crc })
    }
}

/// The manifest generation the METERS file of `dir` names (0 for versions before 3, or
/// when the file is missing).
pub(crate) fn manifest_generation(dir: &Path) -> Result<u64> {
    let path = dir.join(FILE);
    match envelope::read_metadata(&path, METERS_MAGIC)? {
        Some((v, body)) if v >= METADATA_VERSION => {
            let mut c = Cursor::new(&body);
            c.i64("manifest generation")
                .map(|g| g as u64)
                .map_err(|d| Error::corrupt(&path, (ENV_BODY + d.at) as u64, d.what))
        }
        _ => Ok(0),
    }
}

/// Appends one meter entry (`id_len u16`, `id`, `kind u8`, `interval_s u32`, `unit_len
/// u8`, `unit`): the layout of METERS entries and of meters registered in a log record.
/// The caller has validated `id` and `meta` ([`Meters::validate`]).
pub(crate) fn encode_entry(out: &mut Vec<u8>, id: &str, meta: &MeterMeta) {
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id.as_bytes());
    out.push(meta.kind.to_byte());
    out.extend_from_slice(&meta.interval_s.unwrap_or(0).to_le_bytes());
    out.push(meta.unit.len() as u8);
    out.extend_from_slice(meta.unit.as_bytes());
}

/// Reads one entry written by [`encode_entry`]. Checks the encoding (UTF-8, known kind),
/// not [`Meters::validate`].
pub(crate) fn decode_entry(c: &mut Cursor<'_>) -> Result<(String, MeterMeta), DecodeError> {
    let at = c.pos();
    let len_bytes = c.take(2, "id length")?;
    let len = u16::from_le_bytes([len_bytes[0], len_bytes[1]]);
    let id = std::str::from_utf8(c.take(len as usize, "meter id")?)
        .map_err(|_| DecodeError::new("meter id is not UTF-8", at))?
        .to_owned();
    let kind = Quantity::from_byte(c.u8("quantity kind")?)
        .ok_or(DecodeError::new("unknown quantity kind", at))?;
    let interval = c.u32("interval")?;
    let ulen = c.u8("unit length")?;
    let unit = std::str::from_utf8(c.take(ulen as usize, "unit")?)
        .map_err(|_| DecodeError::new("unit is not UTF-8", at))?
        .to_owned();
    let meta = MeterMeta {
        kind,
        interval_s: (interval != 0).then_some(interval),
        unit,
    };
    Ok((id, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meters::default();
        m.push("M1", MeterMeta::default());
        let extra = vec![(
            "电表-2".to_owned(),
            MeterMeta {
                kind: Quantity::Power,
                interval_s: None,
                unit: "kW".into(),
            },
        )];
        let check = m.store(dir.path(), &extra, 1).unwrap();
        let manifest = Manifest {
            generation: 1,
            meters: check,
            ..Manifest::default()
        };
        let (back, all) = Meters::load(dir.path(), &manifest).unwrap();
        assert_eq!(all, check);
        assert_eq!(back.len(), 2);
        assert_eq!(back.get("电表-2"), Some(1));
        assert_eq!(back.meta(1), &extra[0].1);
        assert_eq!(back.ids()[0], "M1");
    }
}

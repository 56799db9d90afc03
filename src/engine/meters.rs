//! The meter registry: external string ids mapped to dense internal ids, with metadata,
//! persisted in the METERS file.

use super::envelope;
use crate::codec::{Cursor, DecodeError};
use crate::error::{Error, Result};
use crate::format::{ENV_BODY, METERS_MAGIC};
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

    pub(crate) fn load(dir: &Path) -> Result<Meters> {
        let path = dir.join(FILE);
        let Some(body) = envelope::read(&path, METERS_MAGIC)? else {
            return Ok(Meters::default());
        };
        let bad = |d: DecodeError| Error::corrupt(&path, (ENV_BODY + d.at) as u64, d.what);
        let mut c = Cursor::new(&body);
        let n = c.u32("meter count").map_err(bad)?;
        let mut m = Meters::default();
        for _ in 0..n {
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
        Ok(m)
    }

    /// Atomically replaces the registry file with the first `upto` meters plus `extra`.
    pub(crate) fn store(&self, dir: &Path, extra: &[(String, MeterMeta)]) -> Result<()> {
        let mut body = Vec::new();
        body.extend_from_slice(&((self.ids.len() + extra.len()) as u32).to_le_bytes());
        let all = self
            .ids
            .iter()
            .zip(&self.metas)
            .chain(extra.iter().map(|(i, m)| (i, m)));
        for (id, meta) in all {
            encode_entry(&mut body, id, meta);
        }
        fsutil::write_atomic(&dir.join(FILE), &envelope::seal(METERS_MAGIC, &body))
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
        m.store(dir.path(), &extra).unwrap();
        let back = Meters::load(dir.path()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.get("电表-2"), Some(1));
        assert_eq!(back.meta(1), &extra[0].1);
        assert_eq!(back.ids()[0], "M1");
    }
}

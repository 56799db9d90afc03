//! The checksummed envelope shared by small metadata files (MANIFEST, METERS, and the
//! monitor's CATALOG with its own version): magic, version, body length, body CRC,
//! header CRC, body. See `docs/FORMAT.md`.

use crate::error::{Error, Result};
use crate::format::*;
use std::path::Path;

/// Wraps `body` in an envelope with `magic` and the store's format version.
#[cfg(test)]
pub(crate) fn seal(magic: [u8; 8], body: &[u8]) -> Vec<u8> {
    seal_versioned(magic, FormatVersion::CURRENT as u8, body)
}

/// Wraps `body` in an envelope with `magic` and a version of the file's own.
pub(crate) fn seal_versioned(magic: [u8; 8], version: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENV_BODY + body.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(&[version, 0, 0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks an envelope of the store's format version read from `path`; returns its body.
#[cfg(test)]
pub(crate) fn open<'a>(path: &Path, magic: [u8; 8], bytes: &'a [u8]) -> Result<&'a [u8]> {
    open_versioned(path, magic, bytes, |v| {
        FormatVersion::check(v, path).map(|_| ())
    })
}

/// Checks an envelope read from `path`, its version byte by `check_version`; returns its
/// body.
pub(crate) fn open_versioned<'a>(
    path: &Path,
    magic: [u8; 8],
    bytes: &'a [u8],
    check_version: impl FnOnce(u8) -> Result<()>,
) -> Result<&'a [u8]> {
    if bytes.len() < ENV_BODY {
        return Err(Error::corrupt(
            path,
            0,
            format!("file of {} bytes is shorter than its header", bytes.len()),
        ));
    }
    if bytes[..8] != magic {
        return Err(Error::corrupt(path, 0, "bad magic"));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let got = crc32fast::hash(&bytes[..ENV_HEADER_CRC]);
    if got != word(ENV_HEADER_CRC) {
        return Err(Error::ChecksumMismatch {
            path: path.to_owned(),
            offset: 0,
            expected: word(ENV_HEADER_CRC),
            got,
        });
    }
    check_version(bytes[ENV_VERSION])?;
    let len = word(ENV_BODY_LEN) as usize;
    if bytes.len() - ENV_BODY != len {
        return Err(Error::corrupt(
            path,
            ENV_BODY_LEN as u64,
            format!(
                "body length {len} differs from the {} bytes present",
                bytes.len() - ENV_BODY
            ),
        ));
    }
    let body = &bytes[ENV_BODY..];
    let got = crc32fast::hash(body);
    if got != word(ENV_BODY_CRC) {
        return Err(Error::ChecksumMismatch {
            path: path.to_owned(),
            offset: ENV_BODY as u64,
            expected: word(ENV_BODY_CRC),
            got,
        });
    }
    Ok(body)
}

/// Reads and checks a MANIFEST or METERS file at `path` (versions 1 to
/// [`METADATA_VERSION`]); returns its version and body, `None` when it does not exist.
pub(crate) fn read_metadata(path: &Path, magic: [u8; 8]) -> Result<Option<(u8, Vec<u8>)>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let body = open_versioned(path, magic, &bytes, |v| match v {
        1..=METADATA_VERSION => Ok(()),
        _ => Err(Error::UnsupportedVersion {
            path: path.to_owned(),
            version: v,
            supported: METADATA_VERSION,
        }),
    })?;
    Ok(Some((bytes[ENV_VERSION], body.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flip_and_cut_is_caught() {
        let bytes = seal(MANIFEST_MAGIC, b"hello body");
        let p = Path::new("MANIFEST");
        assert_eq!(open(p, MANIFEST_MAGIC, &bytes).unwrap(), b"hello body");
        assert!(open(p, METERS_MAGIC, &bytes).is_err());
        for cut in 0..bytes.len() {
            assert!(open(p, MANIFEST_MAGIC, &bytes[..cut]).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(open(p, MANIFEST_MAGIC, &b).is_err(), "flip {i}");
        }
        assert!(open(p, MANIFEST_MAGIC, &vec![0u8; bytes.len()]).is_err());
    }
}

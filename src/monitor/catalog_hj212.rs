//! The catalog's HJ 212 sources: which station (MN) and code feed a meter, for
//! [`Hj212Map`](crate::hj212::Hj212Map).

use super::catalog::Catalog;
use crate::error::{Error, Result};

/// The HJ 212 values that feed a meter: station `mn`'s `code` (`code-Rtd`, `code-Cou`,
/// ...), e.g. `i33201` for a cumulative kWh register.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hj212Source {
    /// Station (data collector) number, 1 to 24 letters, digits, `-`, `_` or `.`.
    pub mn: String,
    /// Code in the station's CP keys: letters, digits, `-`, `_`.
    pub code: String,
}

impl Catalog {
    /// Feeds `meter` from an HJ 212 source, or with `None` from none. The meter must be
    /// in the catalog, and no other meter fed by the same (MN, code).
    pub fn set_hj212_source(&mut self, meter: &str, source: Option<Hj212Source>) -> Result<()> {
        if self.meter(meter).is_none() {
            return Err(Error::UnknownMeter(meter.to_owned()));
        }
        if let Some(src) = &source {
            if !crate::hj212::is_ident(&src.mn) || !crate::hj212::is_code(&src.code) {
                return Err(Error::InvalidArgument(format!(
                    "meter {meter:?}: HJ 212 MN {:?} or code {:?} is not valid (MN: 1 to 24 \
                     letters, digits, '-', '_', '.'; code: letters, digits, '-', '_')",
                    src.mn, src.code
                )));
            }
            if let Some(other) = self.hj212_meter.get(src).filter(|m| *m != meter) {
                return Err(Error::InvalidArgument(format!(
                    "meter {meter:?}: HJ 212 MN {} code {} already feeds meter {other:?}",
                    src.mn, src.code
                )));
            }
        }
        if let Some(old) = self.hj212.remove(meter) {
            self.hj212_meter.remove(&old);
        }
        if let Some(src) = source {
            self.hj212_meter.insert(src.clone(), meter.to_owned());
            self.hj212.insert(meter.to_owned(), src);
        }
        Ok(())
    }

    /// The HJ 212 source of a meter.
    pub fn hj212_source(&self, meter: &str) -> Option<&Hj212Source> {
        self.hj212.get(meter)
    }

    /// Every HJ 212 source with the meter it feeds, by (MN, code).
    pub fn hj212_sources(&self) -> impl Iterator<Item = (&Hj212Source, &str)> {
        self.hj212_meter.iter().map(|(s, m)| (s, m.as_str()))
    }
}

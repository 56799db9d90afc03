//! From messages to readings: the catalog says which meter each (MN, code) feeds.
//!
//! | meter kind | CN 2011 (real-time) | CN 2051 / 2061 / 2031 (minute / hour / day) |
//! |---|---|---|
//! | interval energy | `code-Cou` | `code-Cou`, the interval's energy |
//! | register, power, other | `code-Rtd` | `code-Avg`, else `code-Rtd` |
//!
//! The reading's timestamp is the `DataTime` read in the receiver's zone: the sample
//! moment for CN 2011, the interval start for the others, which is where the store
//! keeps an interval's value. The code's `code-Flag` sub-item, when sent, is the flag of
//! the reading ([`Flag::from_letter`]); without one the reading is [`Flag::Normal`].

use super::message::{CpValue, Message, DATA_CNS};
use super::{split_key, FrameError, FrameErrorKind};
use crate::monitor::Catalog;
use crate::scan::Zone;
use crate::types::{Flag, Quantity};
use std::collections::HashMap;

/// The meters that HJ 212 stations feed, from the catalog's `hj212_mn` / `hj212_code`.
#[derive(Debug, Clone)]
pub struct Hj212Map {
    zone: Zone,
    stations: HashMap<String, HashMap<String, Target>>,
}

#[derive(Debug, Clone)]
struct Target {
    meter: String,
    kind: Quantity,
    interval_s: Option<u32>,
}

/// One reading taken from a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MappedReading<'a> {
    /// The meter it feeds.
    pub meter: &'a str,
    /// UTC Unix seconds.
    pub ts: i64,
    /// The value as sent (recorded side, before CT/PT multipliers).
    pub value: f64,
    /// The code's data flag (`code-Flag`); [`Flag::Normal`] when none was sent.
    pub flag: Flag,
}

/// What [`Hj212Map::map`] made of one message besides its readings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapOutcome {
    /// Readings appended to the output.
    pub readings: usize,
    /// The message is data (CN 2011/2051/2061/2031) from a station no meter is fed by.
    pub unknown_station: bool,
    /// Codes of a known station that feed no meter, each once.
    pub unknown_codes: Vec<String>,
    /// Codes that feed a meter but lack the value it reads (a `-Cou` for an energy
    /// meter, a `-Rtd` or `-Avg` for the others).
    pub unread: usize,
}

impl Hj212Map {
    /// The sources of `catalog`'s meters, with DataTime read in `zone` (China: `+08:00`).
    pub fn new(catalog: &Catalog, zone: Zone) -> Hj212Map {
        let mut stations: HashMap<String, HashMap<String, Target>> = HashMap::new();
        for (src, meter) in catalog.hj212_sources() {
            let Some(m) = catalog.meter(meter) else {
                continue;
            };
            stations.entry(src.mn.clone()).or_default().insert(
                src.code.clone(),
                Target {
                    meter: m.id.clone(),
                    kind: m.kind,
                    interval_s: m.interval_s,
                },
            );
        }
        Hj212Map { zone, stations }
    }

    /// The zone DataTimes are read in.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Whether some meter is fed by station `mn`.
    pub fn knows_station(&self, mn: &str) -> bool {
        self.stations.contains_key(mn)
    }

    /// Appends the readings of a data message (CN 2011/2051/2061/2031) to `out`; other
    /// messages give none. Unknown stations and codes are counted in the outcome, not
    /// errors. Errors (nothing appended): a DataTime the zone skips or repeats, a
    /// reading off its meter's interval grid, hour or day energy for a meter of another
    /// interval, a `code-Flag` that is not an HJ 212 data flag.
    pub fn map<'a>(
        &'a self,
        msg: &Message,
        out: &mut Vec<MappedReading<'a>>,
    ) -> Result<MapOutcome, FrameError> {
        let mut outcome = MapOutcome::default();
        if !DATA_CNS.contains(&msg.cn) {
            return Ok(outcome);
        }
        let Some(codes) = self.stations.get(&msg.mn) else {
            outcome.unknown_station = true;
            return Ok(outcome);
        };
        let bad = |m: String| FrameError {
            kind: FrameErrorKind::Mapping,
            offset: None,
            message: m,
        };
        let dt = msg
            .data_time()
            .ok_or_else(|| bad(format!("CN {} data has no DataTime", msg.cn)))?;
        let ts = dt.to_utc(&self.zone).map_err(bad)?;
        // Every `code-Suffix` sub-item with its key split once.
        let parts: Vec<(&str, &str, &CpValue)> = msg
            .fields()
            .filter_map(|f| split_key(&f.key).map(|(c, s)| (c, s, &f.value)))
            .filter(|(c, _, _)| !c.is_empty())
            .collect();
        let number = |code: &str, suffix: &str| {
            parts.iter().find_map(|&(c, s, v)| match v {
                CpValue::Number(x) if c == code && s == suffix => Some(*x),
                _ => None,
            })
        };
        let start = out.len();
        let mut seen: Vec<&str> = Vec::new();
        for &(code, _, v) in &parts {
            if !matches!(v, CpValue::Number(_)) || seen.contains(&code) {
                continue;
            }
            seen.push(code);
            let Some(t) = codes.get(code) else {
                outcome.unknown_codes.push(code.to_owned());
                continue;
            };
            let reads: &[&str] = match (t.kind, msg.cn) {
                (Quantity::IntervalEnergy, _) => &["Cou"],
                (_, 2011) => &["Rtd"],
                _ => &["Avg", "Rtd"],
            };
            let Some(value) = reads.iter().find_map(|s| number(code, s)) else {
                outcome.unread += 1;
                continue;
            };
            let span = match msg.cn {
                2061 => Some(3600),
                2031 => Some(86_400),
                _ => None,
            };
            if let (Quantity::IntervalEnergy, Some(span), Some(iv)) = (t.kind, span, t.interval_s) {
                if span != iv {
                    out.truncate(start);
                    return Err(bad(format!(
                        "CN {} energy of {span} s intervals cannot feed meter {} of {iv} s intervals",
                        msg.cn, t.meter
                    )));
                }
            }
            if let Some(iv) = t.interval_s {
                if ts.rem_euclid(i64::from(iv)) != 0 {
                    out.truncate(start);
                    return Err(bad(format!(
                        "DataTime {dt} ({ts} UTC) is off meter {}'s {iv} s interval grid",
                        t.meter
                    )));
                }
            }
            let letter = parts.iter().find_map(|&(c, s, v)| match v {
                CpValue::Flag(f) if c == code && s == "Flag" => Some(*f),
                _ => None,
            });
            let flag = match letter.map(|c| (c, Flag::from_letter(c))) {
                None => Flag::Normal,
                Some((_, Some(f))) => f,
                Some((c, None)) => {
                    out.truncate(start);
                    return Err(bad(format!(
                        "{code}-Flag value {c:?} is not one of the data flags NFMSDCTB"
                    )));
                }
            };
            out.push(MappedReading {
                meter: &t.meter,
                ts,
                value,
                flag,
            });
        }
        outcome.readings = out.len() - start;
        Ok(outcome)
    }
}

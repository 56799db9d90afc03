//! The scan's parameters and results: what a caller asks for and what comes back, per
//! meter, per local day and per enterprise.

use super::windows::{DayWindow, LocalDate, Zone};
use crate::types::MeterMeta;
use std::collections::{BTreeMap, HashMap};

/// Parameters of a day/night scan.
#[derive(Debug, Clone)]
pub struct DayNightScan {
    /// The day window in local time. Default 08:00-20:00.
    pub window: DayWindow,
    /// The zone of the window and of local days. Default UTC+08:00.
    pub zone: Zone,
    /// Flag when average night power exceeds average day power by more than this factor.
    /// Default 1.5.
    pub threshold: f64,
    /// Also report every local day. Default false.
    pub daily: bool,
    /// Worker threads; 0 = one per available core. Default 0.
    pub threads: usize,
}

impl Default for DayNightScan {
    fn default() -> Self {
        DayNightScan {
            window: DayWindow::default(),
            zone: Zone::fixed(crate::types::UtcOffset::CHINA),
            threshold: 1.5,
            daily: false,
            threads: 0,
        }
    }
}

/// Which meters a scan covers.
pub enum MeterFilter<'a> {
    /// Every registered meter.
    All,
    /// These external ids; an unknown one is an error.
    Ids(&'a [String]),
    /// Meters whose id and metadata satisfy the predicate.
    Where(&'a (dyn Fn(&str, &MeterMeta) -> bool + Sync)),
}

/// Day/night figures of one meter (or enterprise) over a span.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DayNight {
    /// Energy in the day window, kWh.
    pub day_kwh: f64,
    /// Energy outside the day window, kWh.
    pub night_kwh: f64,
    /// Hours of the day window covered by readings.
    pub day_hours: f64,
    /// Hours of the night covered by readings.
    pub night_hours: f64,
    /// Hours of the day window in the span.
    pub day_expected_hours: f64,
    /// Hours of night in the span.
    pub night_expected_hours: f64,
    /// Average day power, kW: day energy over covered day hours; `None` without coverage.
    pub day_kw: Option<f64>,
    /// Average night power, kW.
    pub night_kw: Option<f64>,
    /// `night_kw / day_kw`; `None` when either is missing or day power is zero.
    pub ratio: Option<f64>,
    /// `ratio > threshold`.
    pub flagged: bool,
}

impl DayNight {
    /// Fills in the average powers, the ratio and the flag from the energies and hours.
    /// The quotients are computed whatever the hours (a quotient by zero hours is never
    /// read): a scan with per-day results finishes a row per meter and day, and this way
    /// without a branch per field.
    #[inline]
    pub(super) fn finish(mut self, threshold: f64) -> DayNight {
        let (day_kw, night_kw) = (
            self.day_kwh / self.day_hours,
            self.night_kwh / self.night_hours,
        );
        let (has_day, has_night) = (self.day_hours > 0.0, self.night_hours > 0.0);
        self.day_kw = has_day.then_some(day_kw);
        self.night_kw = has_night.then_some(night_kw);
        let has_ratio = has_day && has_night && day_kw > 0.0;
        let ratio = night_kw / day_kw;
        self.ratio = has_ratio.then_some(ratio);
        self.flagged = has_ratio && ratio > threshold;
        self
    }
}

/// One local day of a meter or enterprise.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyDayNight {
    /// The local date.
    pub date: LocalDate,
    /// Its figures.
    pub stats: DayNight,
}

/// Scan result of one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterDayNight {
    /// External meter id.
    pub meter: String,
    /// Over the whole range.
    pub total: DayNight,
    /// Per local day (when [`DayNightScan::daily`]), days with readings only.
    pub daily: Vec<DailyDayNight>,
}

/// Scan result of one enterprise: its production meters combined.
#[derive(Debug, Clone, PartialEq)]
pub struct EnterpriseDayNight {
    /// Enterprise id.
    pub enterprise: String,
    /// Member meters that had readings.
    pub meters: Vec<String>,
    /// Over the whole range.
    pub total: DayNight,
    /// Per local day, when the meter results have them.
    pub daily: Vec<DailyDayNight>,
}

impl EnterpriseDayNight {
    /// Combines meter results by enterprise. `membership` maps a meter id to its
    /// enterprise; meters not in it are left out. Energies add up; average powers add up
    /// (the enterprise's load is the sum of its meters' loads), so the ratio compares the
    /// enterprise's night load with its day load; covered hours are the members' mean.
    /// Sorted by enterprise id.
    pub fn aggregate(
        meters: &[MeterDayNight],
        membership: &HashMap<String, String>,
        threshold: f64,
    ) -> Vec<EnterpriseDayNight> {
        let mut by: BTreeMap<&str, Vec<&MeterDayNight>> = BTreeMap::new();
        for m in meters {
            if let Some(enterprise) = membership.get(&m.meter) {
                by.entry(enterprise.as_str()).or_default().push(m);
            }
        }
        by.into_iter()
            .map(|(enterprise, ms)| {
                let total = combine(ms.iter().map(|m| &m.total), threshold);
                let mut days: BTreeMap<LocalDate, Vec<&DayNight>> = BTreeMap::new();
                for m in &ms {
                    for d in &m.daily {
                        days.entry(d.date).or_default().push(&d.stats);
                    }
                }
                let daily = days
                    .into_iter()
                    .map(|(date, s)| DailyDayNight {
                        date,
                        stats: combine(s.into_iter(), threshold),
                    })
                    .collect();
                EnterpriseDayNight {
                    enterprise: enterprise.to_owned(),
                    meters: ms.iter().map(|m| m.meter.clone()).collect(),
                    total,
                    daily,
                }
            })
            .collect()
    }
}

fn combine<'a>(parts: impl Iterator<Item = &'a DayNight>, threshold: f64) -> DayNight {
    let mut out = DayNight::default();
    let (mut n, mut day_kw, mut night_kw) = (0usize, None::<f64>, None::<f64>);
    for part in parts {
        n += 1;
        out.day_kwh += part.day_kwh;
        out.night_kwh += part.night_kwh;
        out.day_hours += part.day_hours;
        out.night_hours += part.night_hours;
        out.day_expected_hours = out.day_expected_hours.max(part.day_expected_hours);
        out.night_expected_hours = out.night_expected_hours.max(part.night_expected_hours);
        if let Some(d) = part.day_kw {
            day_kw = Some(day_kw.unwrap_or(0.0) + d);
        }
        if let Some(x) = part.night_kw {
            night_kw = Some(night_kw.unwrap_or(0.0) + x);
        }
    }
    if n > 0 {
        out.day_hours /= n as f64;
        out.night_hours /= n as f64;
    }
    out.day_kw = day_kw;
    out.night_kw = night_kw;
    out.ratio = match (day_kw, night_kw) {
        (Some(d), Some(x)) if d > 0.0 => Some(x / d),
        _ => None,
    };
    out.flagged = out.ratio.is_some_and(|r| r > threshold);
    out
}

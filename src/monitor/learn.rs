//! Learning a facility's normal running power from its own history.
//!
//! A facility's power over a training window is a mixture of *off* periods (switched
//! off, idle, night) and *running* periods. The method, with nothing tuned per facility:
//!
//! 1. Take the power of every reading (interval energy over the interval, times the
//!    CT/PT multiplier), leaving out readings flagged maintenance, fault, calibration or
//!    stopped ([`Flag::excluded_from_monitoring`](crate::Flag::excluded_from_monitoring)):
//!    they do not show the facility's normal operation (a register's interval needs both
//!    its readings unflagged).
//! 2. Split the readings in two with Otsu's method on `ln(power + eps)` (the split that
//!    maximises the between-class variance; `eps` is a thousandth of the 99th percentile,
//!    so zeros take part). Power levels are multiplicative, hence the logarithm.
//! 3. The two classes are two levels (off or idle, and running) when each holds at least
//!    [`LearnOptions::min_on_share`] of the readings and they are well apart: the
//!    distance of their medians is at least [`LearnOptions::min_separation`] times their
//!    pooled robust spread (Ashman's D, with 1.4826 x MAD as each class's spread). Then
//!    the off level lies above the lower (idle) level by 4 of its robust spreads, but at
//!    least 15% and at most 50% of the way up to the running level: *running* is learned
//!    relative to each meter's own idle level (a line idling at 40% of full power is not
//!    running; one ramping up to it is, from the first sixth of the way). Otherwise the
//!    facility ran all the time, and the off level is
//!    [`LearnOptions::unimodal_off_share`] of the median.
//! 4. Normal running power is the median of the readings above the off level (so off
//!    periods, including switch-offs inside the window, are ignored), with its 10th and
//!    90th percentiles; the same median per time-of-day slot (slots of the meter's
//!    interval, at least 15 minutes, in local time) where a slot has at least
//!    [`LearnOptions::min_slot_samples`] running readings, and per slot the share of
//!    readings that were running.

use super::catalog::{Catalog, CatalogMeter, MeterRole};
use super::catalog_file::{put_f64, put_u32, Reader};
use crate::error::Result;
use crate::types::{Quantity, UtcOffset};

use crate::Store;
use std::ops::Range;

/// Parameters of the learning; the defaults need no tuning per facility.
#[derive(Debug, Clone)]
pub struct LearnOptions {
    /// Fewest readings to learn from. Default 192 (two days of 15-minute readings).
    pub min_samples: usize,
    /// Fewest running readings in a time-of-day slot for it to get its own normal power.
    /// Default 3.
    pub min_slot_samples: usize,
    /// Distance of the running and idle medians, in pooled robust spreads, above which
    /// the data is taken to hold two levels (Ashman's D). Default 4: one normal level
    /// split in two by Otsu's method gives about 2.3.
    pub min_separation: f64,
    /// Smallest share of readings in each level for two levels to count. Default 0.05.
    pub min_on_share: f64,
    /// Off level as a share of the median for a facility that never stopped. Default 0.3.
    pub unimodal_off_share: f64,
    /// Local time of the time-of-day slots. Default UTC+08:00.
    pub offset: UtcOffset,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            min_samples: 192,
            min_slot_samples: 3,
            min_separation: 4.0,
            min_on_share: 0.05,
            unimodal_off_share: 0.3,
            offset: UtcOffset::CHINA,
        }
    }
}

/// Normal running power of a facility, learned from a training window. Equality
/// compares floats bit for bit, so the NaN of an empty slot equals itself.
#[derive(Debug, Clone)]
pub struct NormalPower {
    /// Training window, UTC, half-open.
    pub trained: Range<i64>,
    /// Readings in the window.
    pub samples: u32,
    /// Readings classed as running.
    pub on_samples: u32,
    /// Power (kW) below which the facility counts as off.
    pub off_kw: f64,
    /// Median running power (kW).
    pub normal_kw: f64,
    /// 10th percentile of running power (kW).
    pub p10_kw: f64,
    /// 90th percentile of running power (kW).
    pub p90_kw: f64,
    /// Width of a time-of-day slot, seconds.
    pub slot_s: u32,
    /// Local offset of the slots, seconds east of UTC.
    pub offset_s: i32,
    /// Median running power per slot; NaN where too few running readings.
    pub slot_normal_kw: Vec<f64>,
    /// Share of readings that were running, per slot; NaN where no readings.
    pub slot_on_share: Vec<f64>,
}

impl PartialEq for NormalPower {
    fn eq(&self, o: &Self) -> bool {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        self.trained == o.trained
            && (self.samples, self.on_samples, self.slot_s, self.offset_s)
                == (o.samples, o.on_samples, o.slot_s, o.offset_s)
            && bits(&[self.off_kw, self.normal_kw, self.p10_kw, self.p90_kw])
                == bits(&[o.off_kw, o.normal_kw, o.p10_kw, o.p90_kw])
            && bits(&self.slot_normal_kw) == bits(&o.slot_normal_kw)
            && bits(&self.slot_on_share) == bits(&o.slot_on_share)
    }
}

impl NormalPower {
    /// The time-of-day slot holding `ts`.
    pub fn slot_of(&self, ts: i64) -> usize {
        let s = self.slot_s.max(1) as i64;
        ((ts + self.offset_s as i64).rem_euclid(86_400) / s) as usize
    }

    /// Normal running power at `ts`: the slot's median, or the overall one.
    pub fn normal_at(&self, ts: i64) -> f64 {
        match self.slot_normal_kw.get(self.slot_of(ts)) {
            Some(v) if !v.is_nan() => *v,
            _ => self.normal_kw,
        }
    }

    /// Share of training readings in `ts`'s slot that were running.
    pub fn on_share_at(&self, ts: i64) -> Option<f64> {
        self.slot_on_share
            .get(self.slot_of(ts))
            .copied()
            .filter(|v| !v.is_nan())
    }

    pub(crate) fn encode(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&self.trained.start.to_le_bytes());
        w.extend_from_slice(&self.trained.end.to_le_bytes());
        put_u32(w, self.samples);
        put_u32(w, self.on_samples);
        for v in [self.off_kw, self.normal_kw, self.p10_kw, self.p90_kw] {
            put_f64(w, v);
        }
        put_u32(w, self.slot_s);
        w.extend_from_slice(&self.offset_s.to_le_bytes());
        put_u32(w, self.slot_normal_kw.len() as u32);
        for (a, b) in self.slot_normal_kw.iter().zip(&self.slot_on_share) {
            put_f64(w, *a);
            put_f64(w, *b);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<NormalPower> {
        let trained = r.i64()?..r.i64()?;
        let samples = r.u32()?;
        let on_samples = r.u32()?;
        let (off_kw, normal_kw, p10_kw, p90_kw) = (r.f64()?, r.f64()?, r.f64()?, r.f64()?);
        let slot_s = r.u32()?;
        let offset_s = r.u32()? as i32;
        let n = r.count()?;
        let mut slot_normal_kw = Vec::with_capacity(n);
        let mut slot_on_share = Vec::with_capacity(n);
        for _ in 0..n {
            slot_normal_kw.push(r.f64()?);
            slot_on_share.push(r.f64()?);
        }
        Ok(NormalPower {
            trained,
            samples,
            on_samples,
            off_kw,
            normal_kw,
            p10_kw,
            p90_kw,
            slot_s,
            offset_s,
            slot_normal_kw,
            slot_on_share,
        })
    }
}

/// Power in kW of one reading of `kind` over `interval_s`, times `multiplier`; `None` for
/// quantities whose power one reading does not give (cumulative registers, whose power
/// comes from the difference of two readings, and other quantities).
pub fn power_kw(kind: Quantity, interval_s: u32, value: f64, multiplier: f64) -> Option<f64> {
    match kind {
        Quantity::IntervalEnergy if interval_s > 0 => {
            Some(value * multiplier * 3600.0 / interval_s as f64)
        }
        Quantity::Power => Some(value * multiplier),
        _ => None,
    }
}

/// Whether the power rules use a quantity: interval energy and power from each reading, a
/// cumulative register from the difference of consecutive readings.
pub(crate) fn has_power(kind: Quantity) -> bool {
    matches!(
        kind,
        Quantity::IntervalEnergy | Quantity::Power | Quantity::CumulativeRegister
    )
}

/// Power in kW over meter `m`'s interval `[t, t + iv)`, `value(t)` giving its reading at
/// `t`: one reading's power, or for a cumulative register the difference of the readings
/// at `t` and `t + iv` over the interval, times the multiplier in force at `t` (the
/// register counts secondary-side energy, so a CT/PT change does not make it jump). A
/// register's negative difference (a rollover or a replaced meter) has no power, as in
/// the day/night scan.
pub(crate) fn interval_power(
    m: &CatalogMeter,
    iv: i64,
    t: i64,
    value: impl Fn(i64) -> Option<f64>,
) -> Option<f64> {
    match m.kind {
        Quantity::CumulativeRegister if iv > 0 => {
            let d = value(t + iv)? - value(t)?;
            (d >= 0.0).then(|| d * m.multiplier_at(t) * 3600.0 / iv as f64)
        }
        _ => power_kw(m.kind, iv as u32, value(t)?, m.multiplier_at(t)),
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Robust spread of sorted values: 1.4826 x the median absolute deviation.
fn robust_sigma(sorted: &[f64]) -> f64 {
    let m = quantile(sorted, 0.5);
    let mut dev: Vec<f64> = sorted.iter().map(|v| (v - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    1.4826 * quantile(&dev, 0.5)
}

/// The off level of sorted readings split into a lower and an upper class, when they are
/// two levels (see the module docs); `None` when they are one.
fn two_levels(lower: &[f64], upper: &[f64], opts: &LearnOptions) -> Option<f64> {
    let n = (lower.len() + upper.len()) as f64;
    if (lower.len() as f64) < opts.min_on_share * n || (upper.len() as f64) < opts.min_on_share * n
    {
        return None;
    }
    let (lo, hi) = (quantile(lower, 0.5), quantile(upper, 0.5));
    let (s_lo, s_hi) = (robust_sigma(lower), robust_sigma(upper));
    let pooled = ((s_lo * s_lo + s_hi * s_hi) / 2.0).sqrt();
    // A spread of zero (values exactly at one level) still needs a gap to be two levels.
    let pooled = pooled.max(1e-9 * hi.abs());
    if !(hi > lo && hi - lo >= opts.min_separation * pooled) {
        return None;
    }
    let gap = hi - lo;
    Some((lo + 4.0 * s_lo).clamp(lo + 0.15 * gap, lo + 0.5 * gap))
}

/// Learns normal running power from `(timestamp, kW)` samples; `None` with fewer than
/// [`LearnOptions::min_samples`] samples or no positive power. `trained` is recorded as
/// the training window; `slot_s` is the slot width (at least 900 s is used).
pub fn learn_normal(
    samples: &[(i64, f64)],
    trained: Range<i64>,
    slot_s: u32,
    opts: &LearnOptions,
) -> Option<NormalPower> {
    let mut p: Vec<f64> = samples
        .iter()
        .map(|s| s.1)
        .filter(|v| v.is_finite())
        .collect();
    if p.len() < opts.min_samples.max(2) {
        return None;
    }
    p.sort_by(f64::total_cmp);
    let p99 = quantile(&p, 0.99);
    if p99 <= 0.0 {
        return None;
    }
    let eps = p99 * 1e-3;
    let x: Vec<f64> = p.iter().map(|v| (v.max(0.0) + eps).ln()).collect();
    // Otsu over the sorted logs with prefix sums: split k puts x[..k] below.
    let n = x.len();
    let total: f64 = x.iter().sum();
    let (mut best, mut best_k, mut acc) = (-1.0, 0usize, 0.0);
    for k in 1..n {
        acc += x[k - 1];
        if x[k] == x[k - 1] {
            continue;
        }
        let (w0, w1) = (k as f64 / n as f64, (n - k) as f64 / n as f64);
        let (m0, m1) = (acc / k as f64, (total - acc) / (n - k) as f64);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_k = k;
        }
    }
    let median = quantile(&p, 0.5);
    let off_kw = match (best_k > 0).then(|| two_levels(&p[..best_k], &p[best_k..], opts)) {
        Some(Some(off)) => off,
        _ => opts.unimodal_off_share * median,
    };
    let on: Vec<f64> = p.iter().copied().filter(|&v| v >= off_kw).collect();
    if on.is_empty() {
        return None;
    }
    let slot_s = slot_s.max(900);
    let slots = (86_400 / slot_s as usize).max(1);
    let off_s = opts.offset.seconds();
    let mut per_slot: Vec<Vec<f64>> = vec![Vec::new(); slots];
    let mut totals = vec![0u32; slots];
    for &(t, v) in samples {
        if !v.is_finite() {
            continue;
        }
        let s = (((t + off_s as i64).rem_euclid(86_400)) / slot_s as i64) as usize;
        let s = s.min(slots - 1);
        totals[s] += 1;
        if v >= off_kw {
            per_slot[s].push(v);
        }
    }
    let mut slot_normal_kw = Vec::with_capacity(slots);
    let mut slot_on_share = Vec::with_capacity(slots);
    for (vals, &tot) in per_slot.iter_mut().zip(&totals) {
        vals.sort_by(f64::total_cmp);
        slot_normal_kw.push(if vals.len() >= opts.min_slot_samples.max(1) {
            quantile(vals, 0.5)
        } else {
            f64::NAN
        });
        slot_on_share.push(if tot > 0 {
            vals.len() as f64 / tot as f64
        } else {
            f64::NAN
        });
    }
    Some(NormalPower {
        trained,
        samples: n as u32,
        on_samples: on.len() as u32,
        off_kw,
        normal_kw: quantile(&on, 0.5),
        p10_kw: quantile(&on, 0.1),
        p90_kw: quantile(&on, 0.9),
        slot_s,
        offset_s: off_s,
        slot_normal_kw,
        slot_on_share,
    })
}

/// Power samples of a catalog meter over `range`, read through [`Store::history`],
/// without readings whose flag is excluded from monitoring.
pub(crate) fn power_samples(
    store: &Store,
    m: &CatalogMeter,
    range: Range<i64>,
) -> Result<Vec<(i64, f64)>> {
    let iv = m.interval_s.unwrap_or(0) as i64;
    // A register's last interval needs the reading at its end.
    let end = match m.kind {
        Quantity::CumulativeRegister => range.end.saturating_add(iv),
        _ => range.end,
    };
    let history = store.history(&m.id, range.start..end)?;
    let readings: Vec<(i64, f64)> = history
        .with_flags()
        .filter(|(_, _, f)| !f.excluded_from_monitoring())
        .map(|(ts, v, _)| (ts, v))
        .collect();
    let at = |t: i64| {
        readings
            .binary_search_by_key(&t, |r| r.0)
            .ok()
            .map(|k| readings[k].1)
    };
    Ok(readings
        .iter()
        .filter(|r| r.0 < range.end)
        .filter_map(|&(t, _)| interval_power(m, iv, t, at).map(|p| (t, p)))
        .collect())
}

/// What [`Catalog::learn`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LearnReport {
    /// Meters that got a learned normal power.
    pub learned: Vec<String>,
    /// Meters left without one, and why.
    pub skipped: Vec<(String, String)>,
}

/// First and last reading of a meter, through [`Store::aggregate`] (monthly counts) and
/// [`Store::history`] of the first and last month; `None` for a meter without readings or
/// unknown to the store.
pub(crate) fn reading_extent(store: &Store, id: &str) -> Result<Option<(i64, i64)>> {
    let months = match store.aggregate(
        id,
        i64::MIN..i64::MAX,
        crate::Bucket::Month,
        crate::UtcOffset::UTC,
        crate::Agg::Count,
    ) {
        Ok(m) => m,
        Err(crate::Error::UnknownMeter(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(None);
    };
    let lo = store
        .history(id, first.start..i64::MAX)?
        .next()
        .map(|r| r.0);
    let hi = store.history(id, last.start..i64::MAX)?.last().map(|r| r.0);
    Ok(lo.zip(hi))
}

impl Catalog {
    /// The span of the readings of the catalog's meters: from the first reading to the end
    /// of the last one's interval (one second after it for irregular meters); `None`
    /// when none has readings.
    pub fn data_extent(&self, store: &Store) -> Result<Option<Range<i64>>> {
        let mut out: Option<Range<i64>> = None;
        for m in self.meters() {
            if let Some((lo, hi)) = reading_extent(store, &m.id)? {
                let hi = hi.saturating_add(m.interval_s.unwrap_or(1) as i64);
                out = Some(match out {
                    Some(r) => r.start.min(lo)..r.end.max(hi),
                    None => lo..hi,
                });
            }
        }
        Ok(out)
    }

    /// Why a meter cannot be learned, if it cannot.
    fn unlearnable(store: &Store, m: &CatalogMeter) -> Option<&'static str> {
        if store.meter_meta(&m.id).is_none() {
            Some("not in the store")
        } else if m.interval_s.is_none() {
            Some("irregular meter")
        } else if !has_power(m.kind) {
            Some("quantity has no power")
        } else {
            None
        }
    }

    fn learn_one(
        &mut self,
        store: &Store,
        m: &CatalogMeter,
        range: Range<i64>,
        opts: &LearnOptions,
        report: &mut LearnReport,
    ) -> Result<()> {
        let samples = power_samples(store, m, range.clone())?;
        match learn_normal(&samples, range, m.interval_s.unwrap_or(900), opts) {
            Some(n) => {
                self.set_learned(&m.id, n)?;
                report.learned.push(m.id.clone());
            }
            None => report.skipped.push((
                m.id.clone(),
                format!("{} readings: too few or no power", samples.len()),
            )),
        }
        Ok(())
    }

    fn learn_targets(&self) -> Vec<CatalogMeter> {
        self.meters()
            .filter(|m| matches!(m.role, MeterRole::Production | MeterRole::Treatment))
            .cloned()
            .collect()
    }

    /// Learns the normal running power of every production and treatment meter from its
    /// history in `range` and stores it in the catalog (call [`Catalog::save`] to
    /// persist). Meters the store does not know, irregular meters, quantities without a
    /// power, and meters with too little data are skipped and reported.
    pub fn learn(
        &mut self,
        store: &Store,
        range: Range<i64>,
        opts: &LearnOptions,
    ) -> Result<LearnReport> {
        let mut report = LearnReport::default();
        for m in self.learn_targets() {
            if let Some(why) = Catalog::unlearnable(store, &m) {
                report.skipped.push((m.id.clone(), why.to_owned()));
                continue;
            }
            self.learn_one(store, &m, range.clone(), opts, &mut report)?;
        }
        Ok(report)
    }

    /// Learns each production and treatment meter that has no learned normal power yet
    /// (every one with `relearn`) from the first `train_s` seconds of its own readings,
    /// and stores it in the catalog (call [`Catalog::save`] to persist). Meters learned
    /// before keep their thresholds; the rest are skipped and reported as by
    /// [`Catalog::learn`].
    pub fn learn_from_start(
        &mut self,
        store: &Store,
        train_s: i64,
        relearn: bool,
        opts: &LearnOptions,
    ) -> Result<LearnReport> {
        let mut report = LearnReport::default();
        for m in self.learn_targets() {
            if !relearn && self.learned(&m.id).is_some() {
                continue;
            }
            if let Some(why) = Catalog::unlearnable(store, &m) {
                report.skipped.push((m.id.clone(), why.to_owned()));
                continue;
            }
            let Some((first, _)) = reading_extent(store, &m.id)? else {
                report
                    .skipped
                    .push((m.id.clone(), "no readings".to_owned()));
                continue;
            };
            let range = first..first.saturating_add(train_s.max(1));
            self.learn_one(store, &m, range, opts, &mut report)?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bimodal_ignores_off_periods() {
        // 100 kW for 10 h a day, 10 kW otherwise, a switch-off at 1 kW.
        let mut s = Vec::new();
        for k in 0..96 * 10 {
            let t = k as i64 * 900;
            let h = (k % 96) / 4;
            let v = if (8..18).contains(&h) { 100.0 } else { 10.0 };
            let v = if (200..220).contains(&k) { 1.0 } else { v };
            s.push((t, v + (k % 7) as f64 * 0.1));
        }
        let o = LearnOptions {
            offset: UtcOffset::UTC,
            ..LearnOptions::default()
        };
        let n = learn_normal(&s, 0..1, 900, &o).unwrap();
        assert!((n.normal_kw - 100.3).abs() < 0.5, "{n:?}");
        assert!(n.off_kw > 20.0 && n.off_kw <= 50.5, "{}", n.off_kw);
        assert!(n.slot_normal_kw[4 * 12].is_finite());
        assert!(n.slot_normal_kw[4 * 2].is_nan());
        assert_eq!(n.on_share_at(12 * 3600), Some(1.0));
    }

    #[test]
    fn unimodal_keeps_everything_running() {
        let s: Vec<(i64, f64)> = (0..400).map(|k| (k * 900, 50.0 + (k % 5) as f64)).collect();
        let n = learn_normal(&s, 0..1, 900, &LearnOptions::default()).unwrap();
        assert_eq!(n.on_samples, 400);
        assert!((n.off_kw - 0.3 * 52.0).abs() < 0.01);
    }
}

//! Batch evaluation of the rules over a time range of a store's history, through the
//! public query API only: [`Store::history`] for intervals, [`Store::day_night`] with
//! [`EnterpriseDayNight`](crate::EnterpriseDayNight)-style combination for 昼伏夜出,
//! [`Store::aggregate`] for 停限产 baselines.

use super::alarm::{Alarm, AlarmEvent, Subject, Tracker, UnitState};
use super::catalog::Catalog;
use super::rules::{
    classify_emergency, classify_facility, classify_night, classify_silent, facility_unit,
    rule_shape, unit_power, Combined, DayPlan, FacilityPlan, MeterInfo, Plan, RuleConfig, RuleId,
};
use crate::error::{Error, Result};
use crate::query::{Agg, Bucket};
use crate::scan::{DayNightScan, EnterpriseDayNight, LocalDate, MeterFilter, Zone};
use crate::Store;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// First grid instant of step `iv` at or after `t`.
pub(crate) fn align_up(t: i64, iv: i64) -> i64 {
    t.div_euclid(iv) * iv + if t.rem_euclid(iv) == 0 { 0 } else { iv }
}

/// The tracker subjects of a facility's three rules.
pub(crate) fn facility_subjects(
    plan: &Plan,
    f: &FacilityPlan,
    cfg: &RuleConfig,
) -> Vec<(Subject, Tracker)> {
    let mut meters = vec![plan.meters[f.treatment].meta.id.clone()];
    meters.extend(f.production.iter().map(|&i| plan.meters[i].meta.id.clone()));
    [
        RuleId::ProductionTreatmentMismatch,
        RuleId::TreatmentStopped,
        RuleId::TreatmentUnderperforming,
    ]
    .into_iter()
    .map(|rule| {
        let (metric, context, run) = rule_shape(cfg, rule);
        (
            Subject {
                rule,
                enterprise: f.enterprise.clone(),
                meters: meters.clone(),
                metric,
                context,
            },
            Tracker::new(run, cfg.max_unknown_intervals),
        )
    })
    .collect()
}

/// The tracker subject of an enterprise day rule.
pub(crate) fn day_subject(plan: &Plan, d: &DayPlan, cfg: &RuleConfig) -> (Subject, Tracker) {
    let (metric, context, run) = rule_shape(cfg, d.rule);
    (
        Subject {
            rule: d.rule,
            enterprise: d.enterprise.clone(),
            meters: d
                .members
                .iter()
                .map(|&i| plan.meters[i].meta.id.clone())
                .collect(),
            metric,
            context,
        },
        Tracker::new(run, cfg.max_unknown_intervals),
    )
}

/// The tracker subject of a meter's silence rule.
pub(crate) fn silent_subject(plan: &Plan, m: usize, cfg: &RuleConfig) -> (Subject, Tracker) {
    let (metric, context, run) = rule_shape(cfg, RuleId::MeterSilent);
    let info = &plan.meters[m];
    (
        Subject {
            rule: RuleId::MeterSilent,
            enterprise: info.meta.enterprise.clone(),
            meters: vec![info.meta.id.clone()],
            metric,
            context,
        },
        Tracker::new(run, cfg.max_unknown_intervals),
    )
}

/// The units of a day rule that start at or after `from`: local days, clipped to the
/// emergency period for 停限产. Returns the unit starting at `start` and its end, or
/// `None` when the rule has no more units.
pub(crate) fn day_unit(cfg: &RuleConfig, d: &DayPlan, start: i64) -> Option<Range<i64>> {
    let (lo, hi) = match &d.period {
        Some((p, _, _)) => (p.start, p.end),
        None => (i64::MIN, i64::MAX),
    };
    let s = start.max(lo);
    if s >= hi {
        return None;
    }
    Some(s..(cfg.day_start(s) + 86_400).min(hi))
}

/// Mean power of an emergency rule's members over its baseline window, from
/// [`Store::aggregate`] (for registers, the mean of their intervals' powers from
/// [`Store::history`]); `None` when no member has readings there.
pub(crate) fn baseline_kw(
    store: &Store,
    plan: &Plan,
    d: &DayPlan,
    cfg: &RuleConfig,
) -> Result<Option<f64>> {
    let Some((_, _, base)) = &d.period else {
        return Ok(None);
    };
    let mut total = None;
    for &i in &d.members {
        let m = &plan.meters[i];
        if m.meta.kind == crate::Quantity::CumulativeRegister {
            // A register's power comes from differences: the mean of its intervals'.
            let p = match super::learn::power_samples(store, &m.meta, base.clone()) {
                Ok(p) => p,
                Err(Error::UnknownMeter(_)) => continue,
                Err(e) => return Err(e),
            };
            if !p.is_empty() {
                *total.get_or_insert(0.0) += p.iter().map(|s| s.1).sum::<f64>() / p.len() as f64;
            }
            continue;
        }
        let buckets = match store.aggregate(
            &m.meta.id,
            base.clone(),
            Bucket::Month,
            fixed_offset(cfg, base.start),
            Agg::Sum,
        ) {
            Ok(b) => b,
            Err(Error::UnknownMeter(_)) => continue,
            Err(e) => return Err(e),
        };
        let (sum, n) = buckets
            .iter()
            .fold((0.0, 0u64), |(s, n), b| (s + b.value, n + b.count));
        if n == 0 {
            continue;
        }
        if let Some(kw) = m.power(base.start, sum / n as f64) {
            *total.get_or_insert(0.0) += kw;
        }
    }
    Ok(total)
}

/// A meter's readings on its grid over a range, missing slots as NaN.
pub(crate) struct Dense {
    first: i64,
    iv: i64,
    vals: Vec<f64>,
    /// Per slot, whether its reading's flag is
    /// [`excluded_from_monitoring`](crate::Flag::excluded_from_monitoring); empty while no
    /// reading is.
    excluded: Vec<bool>,
}

impl Dense {
    fn load(store: &Store, m: &MeterInfo, range: &Range<i64>) -> Result<Dense> {
        let first = align_up(range.start, m.iv);
        let n = if range.end > first {
            ((range.end - first + m.iv - 1) / m.iv) as usize
        } else {
            0
        };
        // A register's last interval needs the reading at its end.
        let n = n + usize::from(m.meta.kind == crate::Quantity::CumulativeRegister);
        let mut vals = vec![f64::NAN; n];
        let mut excluded = Vec::new();
        match store.history(&m.meta.id, first..first.saturating_add(n as i64 * m.iv)) {
            Ok(h) => {
                let ((ts, vs), fl) = (h.as_slices(), h.sparse_flags());
                for (j, (&t, &v)) in ts.iter().zip(vs).enumerate() {
                    let k = (t - first) / m.iv;
                    if (t - first) % m.iv == 0 && (k as usize) < n {
                        vals[k as usize] = v;
                        if fl.get(j).is_some_and(|f| f.excluded_from_monitoring()) {
                            excluded.resize(n, false);
                            excluded[k as usize] = true;
                        }
                    }
                }
            }
            Err(Error::UnknownMeter(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(Dense {
            first,
            iv: m.iv,
            vals,
            excluded,
        })
    }

    /// Whether a reading whose interval overlaps `span` is flagged out of monitoring.
    pub(crate) fn excluded_in(&self, span: &Range<i64>) -> bool {
        if self.excluded.is_empty() {
            return false;
        }
        let lo = (span.start - self.first).div_euclid(self.iv).max(0) as usize;
        let hi = ((span.end - 1 - self.first).div_euclid(self.iv) + 1).max(0) as usize;
        self.excluded[lo.min(self.excluded.len())..hi.min(self.excluded.len())].contains(&true)
    }

    /// The value of the reading at grid instant `t`.
    pub(crate) fn get(&self, t: i64) -> Option<f64> {
        if t < self.first || (t - self.first) % self.iv != 0 {
            return None;
        }
        self.vals
            .get(((t - self.first) / self.iv) as usize)
            .copied()
            .filter(|v| !v.is_nan())
    }
}

/// Power sum, readings and expected readings of a meter over `span`.
pub(crate) fn span_power(
    m: &MeterInfo,
    span: &Range<i64>,
    value: impl Fn(i64) -> Option<f64>,
) -> (f64, u32, u32) {
    let (mut sum, mut n, mut expected) = (0.0, 0u32, 0u32);
    let mut t = align_up(span.start, m.iv);
    while t < span.end {
        expected += 1;
        if let Some(p) = m.power_at(t, &value) {
            sum += p;
            n += 1;
        }
        t += m.iv;
    }
    (sum, n, expected)
}

/// Evaluates every rule of `cfg` over `range` (UTC, half-open) and returns the alarms,
/// closed ones with their end and those still open at `range.end` with `end: None`,
/// sorted by start, rule and subject. Only units that end by `range.end` are judged.
pub fn evaluate(
    store: &Store,
    catalog: &Catalog,
    cfg: &RuleConfig,
    range: Range<i64>,
) -> Result<Vec<Alarm>> {
    let mut events = Vec::new();
    let mut open = Vec::new();
    evaluate_into(store, catalog, cfg, range, &mut events, &mut open)?;
    let mut alarms: Vec<Alarm> = events
        .into_iter()
        .filter_map(|e| match e {
            AlarmEvent::Closed(a) => Some(a),
            AlarmEvent::Opened(_) => None,
        })
        .chain(open)
        .collect();
    sort_alarms(&mut alarms);
    Ok(alarms)
}

/// Sorts alarms by start, rule, subject and end.
pub fn sort_alarms(alarms: &mut [Alarm]) {
    alarms.sort_by(|a, b| {
        (a.start, a.rule, a.subject(), a.end).cmp(&(b.start, b.rule, b.subject(), b.end))
    });
}

fn evaluate_into(
    store: &Store,
    catalog: &Catalog,
    cfg: &RuleConfig,
    range: Range<i64>,
    events: &mut Vec<AlarmEvent>,
    open: &mut Vec<Alarm>,
) -> Result<()> {
    if range.is_empty() {
        return Ok(());
    }
    let plan = Plan::new(catalog, cfg);
    // Meters grouped by enterprise, so one enterprise's readings are in memory at a time.
    let mut by_ent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in plan.meters.iter().enumerate() {
        by_ent
            .entry(m.meta.enterprise.as_str())
            .or_default()
            .push(i);
    }
    let night = night_figures(store, &plan, cfg, &range)?;
    for (ent, members) in by_ent {
        let mut dense: HashMap<usize, Dense> = HashMap::new();
        for &i in &members {
            dense.insert(i, Dense::load(store, &plan.meters[i], &range)?);
        }
        let val = |i: usize, t: i64| dense.get(&i).and_then(|d| d.get(t));
        let excluded =
            |i: usize, span: &Range<i64>| dense.get(&i).is_some_and(|d| d.excluded_in(span));
        for f in plan.facilities.iter().filter(|f| f.enterprise == ent) {
            let mut subs = facility_subjects(&plan, f, cfg);
            let tm = &plan.meters[f.treatment];
            let u = facility_unit(tm.iv);
            let mut t = align_up(range.start, u);
            let mut prod = vec![None; f.production.len()];
            while t + u <= range.end {
                let tp = unit_power(tm, t, u, |t| val(f.treatment, t)).0;
                for (slot, &p) in prod.iter_mut().zip(&f.production) {
                    *slot = unit_power(&plan.meters[p], t, u, |t| val(p, t)).0;
                }
                // Flagged readings are left out as a suppression window leaves them.
                let span = t..t + u;
                let states = match std::iter::once(&f.treatment)
                    .chain(&f.production)
                    .any(|&m| excluded(m, &span))
                {
                    true => [UnitState::Good; 3],
                    false => classify_facility(&plan, f, cfg, t, tp, &prod),
                };
                for ((s, tr), st) in subs.iter_mut().zip(states) {
                    if cfg.enabled(s.rule) {
                        tr.feed(s, t, t + u, st, events);
                    }
                }
                t += u;
            }
            open.extend(subs.iter().filter_map(|(s, tr)| tr.open_alarm(s)));
        }
        for (m, sup) in plan.silent.iter().filter(|(m, _)| members.contains(m)) {
            let (s, mut tr) = silent_subject(&plan, *m, cfg);
            let iv = plan.meters[*m].iv;
            let mut t = align_up(range.start, iv);
            while t + iv <= range.end {
                let st = classify_silent(&plan, *m, sup, t, val(*m, t).is_some());
                tr.feed(&s, t, t + iv, st, events);
                t += iv;
            }
            open.extend(tr.open_alarm(&s));
        }
        for d in plan.days.iter().filter(|d| d.enterprise == ent) {
            let (s, mut tr) = day_subject(&plan, d, cfg);
            let base = match d.rule {
                RuleId::EmergencyCutMissed => baseline_kw(store, &plan, d, cfg)?,
                _ => None,
            };
            let mut start = range.start;
            loop {
                let Some(u) = day_unit(cfg, d, start) else {
                    // The period is over: so is its alarm.
                    tr.finish(&s, events);
                    break;
                };
                if u.end > range.end {
                    break;
                }
                let st = match d.rule {
                    _ if d.members.iter().any(|&m| excluded(m, &u)) => UnitState::Good,
                    RuleId::NightProduction => {
                        let date = night.zone.date_of(u.start)?;
                        classify_night(cfg, d, &u, night.get(&d.enterprise, date))
                    }
                    _ => {
                        let figs: Vec<(f64, u32, u32)> = d
                            .members
                            .iter()
                            .map(|&i| span_power(&plan.meters[i], &u, |t| val(i, t)))
                            .collect();
                        classify_emergency(cfg, d, &u, &figs, base)
                    }
                };
                tr.feed(&s, u.start, u.end, st, events);
                start = u.end;
            }
            open.extend(tr.open_alarm(&s));
        }
    }
    Ok(())
}

/// Per-day figures of every enterprise under 昼伏夜出, from one [`Store::day_night`] scan
/// of their production meters combined with [`EnterpriseDayNight::aggregate`].
struct NightFigures {
    zone: Zone,
    by_ent: HashMap<String, BTreeMap<LocalDate, Combined>>,
}

impl NightFigures {
    fn get(&self, ent: &str, date: LocalDate) -> Option<Combined> {
        self.by_ent.get(ent).and_then(|d| d.get(&date)).copied()
    }
}

fn night_figures(
    store: &Store,
    plan: &Plan,
    cfg: &RuleConfig,
    range: &Range<i64>,
) -> Result<NightFigures> {
    let zone = cfg.zone.clone();
    let mut membership: HashMap<String, String> = HashMap::new();
    let mut info: HashMap<&str, &MeterInfo> = HashMap::new();
    for d in plan
        .days
        .iter()
        .filter(|d| d.rule == RuleId::NightProduction)
    {
        for &i in &d.members {
            let m = &plan.meters[i];
            if store.meter_meta(&m.meta.id).is_some() {
                membership.insert(m.meta.id.clone(), d.enterprise.clone());
                info.insert(&m.meta.id, m);
            }
        }
    }
    let mut ids: Vec<String> = membership.keys().cloned().collect();
    ids.sort();
    let mut by_ent = HashMap::new();
    if !ids.is_empty() {
        let scan = DayNightScan {
            window: cfg.day_window,
            zone: zone.clone(),
            threshold: cfg.night_threshold,
            daily: true,
            threads: 0,
        };
        let mut meters = store.day_night(&MeterFilter::Ids(&ids), range.clone(), &scan)?;
        // CT/PT multipliers: the one in force at the start of each local day.
        for m in &mut meters {
            let Some(mi) = info.get(m.meter.as_str()) else {
                continue;
            };
            for d in &mut m.daily {
                let k = mi.meta.multiplier_at(local_midnight(cfg, d.date));
                d.stats.day_kwh *= k;
                d.stats.night_kwh *= k;
                d.stats.day_kw = d.stats.day_kw.map(|v| v * k);
                d.stats.night_kw = d.stats.night_kw.map(|v| v * k);
            }
        }
        for e in EnterpriseDayNight::aggregate(&meters, &membership, cfg.night_threshold) {
            let days = e
                .daily
                .iter()
                .map(|d| {
                    (
                        d.date,
                        Combined {
                            day_kw: d.stats.day_kw,
                            night_kw: d.stats.night_kw,
                            day_hours: d.stats.day_hours,
                            night_hours: d.stats.night_hours,
                        },
                    )
                })
                .collect();
            by_ent.insert(e.enterprise, days);
        }
    }
    Ok(NightFigures { zone, by_ent })
}

/// UTC instant of the start of local day `date` in the rules' zone: the day start of its
/// noon, which lies in the day whatever the offset.
fn local_midnight(cfg: &RuleConfig, date: LocalDate) -> i64 {
    let d = jiff::civil::Date::new(date.year, date.month as i8, date.day as i8)
        .map(|d| d.to_zoned(jiff::tz::TimeZone::UTC));
    match d {
        Ok(Ok(z)) => {
            let noon = z.timestamp().as_second() + 12 * 3600;
            cfg.day_start(noon - cfg.zone.offset_at(noon) as i64)
        }
        _ => i64::MIN,
    }
}

/// The zone's offset at `ts` as a fixed offset, for [`Store::aggregate`]'s buckets.
fn fixed_offset(cfg: &RuleConfig, ts: i64) -> crate::UtcOffset {
    crate::UtcOffset::from_seconds(cfg.zone.offset_at(ts)).unwrap_or(crate::UtcOffset::UTC)
}

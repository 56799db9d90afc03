//! The streaming monitor: fed the readings of each append, it decides units as soon as
//! their data is in and emits alarm events.
//!
//! A unit (an interval, or a local day) is *decided* when every reading it needs has
//! arrived, or when the watermark has passed its end. The watermark is the newest reading
//! seen minus the lateness bound: a reading may arrive after readings up to `lateness_s`
//! newer than itself, and is then still used. In order (`lateness_s = 0`) a complete
//! interval is decided by its last reading, an incomplete one by the first reading of the
//! next interval. A reading of an interval that was already decided (later than the
//! lateness bound) is dropped and counted in [`MonitorStats::late_dropped`]: it can never
//! open an alarm. Units are fed to the same trackers as in batch evaluation, in time
//! order per subject, so the alarms are those [`evaluate`](super::evaluate) finds over
//! `[start, watermark)`.
//!
//! Limits: the watermark follows the newest timestamp seen, so a reading stamped in the
//! future (a terminal with a wrong clock) decides everything before it; readings more
//! than [`MAX_AHEAD_S`] ahead are ignored and counted. A resend of a reading whose interval was already decided
//! does not change the decision (batch evaluation, run later, uses the last write). The
//! catalog is fixed at creation: build a new monitor after changing it.

use super::alarm::{Alarm, AlarmEvent, Subject, Tracker, UnitState};
use super::batch::{
    align_up, baseline_kw, day_subject, day_unit, facility_subjects, silent_subject, span_power,
};
use super::catalog::Catalog;
use super::rules::{
    classify_emergency, classify_facility, classify_night, classify_silent, combine, facility_unit,
    unit_power, DayFigures, Plan, RuleConfig, RuleId,
};
use crate::error::{Error, Result};
use crate::types::{Quantity, Reading};
use crate::Store;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Range;

/// Readings kept behind the watermark, seconds (pruned once a day, so up to a day more).
/// Two days: a day unit still open at the watermark started less than a day before it,
/// and one more day covers production meters with intervals up to a day.
const KEEP_S: i64 = 2 * 86_400;

/// Counters of a [`Monitor`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorStats {
    /// Readings used.
    pub readings: u64,
    /// Readings dropped because their interval was already decided.
    pub late_dropped: u64,
    /// Readings of meters the catalog does not have (or irregular ones), ignored.
    pub unknown_meter: u64,
    /// Readings before the monitor's start, after year 9998, or off their meter's grid,
    /// ignored.
    pub ignored: u64,
    /// Readings more than [`MAX_AHEAD_S`] ahead of the newest reading seen (or of the
    /// start), ignored: a wrong clock must not decide weeks of units at once.
    pub too_new: u64,
}

/// How far one [`Monitor::advance_to`] may move the watermark, seconds: 3,660 days.
pub const MAX_ADVANCE_S: i64 = 3_660 * 86_400;

/// How far ahead of the newest reading seen (or of the start) a reading may be, seconds:
/// 31 days. Call [`Monitor::advance_to`] to move the monitor across a longer silence.
pub const MAX_AHEAD_S: i64 = 31 * 86_400;

/// FxHash-style hasher for the meter-id index: every reading looks its meter up, and
/// SipHash's protection against crafted keys is not needed for ids from our catalog.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap = HashMap<String, usize, std::hash::BuildHasherDefault<IdHasher>>;

/// A meter's recent readings on its grid (NaN marks a missing slot), with what turns a
/// value into power: the per-meter state the hot path touches, kept in one cache line.
#[derive(Debug, Default)]
struct Buf {
    base: i64,
    iv: i64,
    /// kW per unit of value when the meter has no multiplier changes; NaN otherwise (or
    /// for quantities without a power).
    factor: f64,
    vals: VecDeque<f64>,
}

impl Buf {
    fn get(&self, k: i64) -> Option<f64> {
        let i = k - self.base;
        if i < 0 {
            return None;
        }
        self.vals.get(i as usize).copied().filter(|v| !v.is_nan())
    }

    /// Stores slot `k`; true when the slot was missing before.
    fn put(&mut self, k: i64, v: f64) -> bool {
        if self.vals.is_empty() {
            self.base = k;
        }
        while k < self.base {
            self.vals.push_front(f64::NAN);
            self.base -= 1;
        }
        let i = (k - self.base) as usize;
        while i >= self.vals.len() {
            self.vals.push_back(f64::NAN);
        }
        let was = self.vals[i].is_nan();
        self.vals[i] = v;
        was
    }

    fn prune(&mut self, below: i64) {
        while self.base < below && !self.vals.is_empty() {
            self.vals.pop_front();
            self.base += 1;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Dep {
    Fac(usize),
    Day(usize),
    Silent(usize),
}

struct FacRun {
    subs: Vec<(Subject, Tracker)>,
    enabled: [bool; 3],
    next: i64,
    iv: i64,
}

struct DayRun {
    s: Subject,
    tr: Tracker,
    unit: Option<Range<i64>>,
    have: u64,
    need: u64,
    base: Option<Option<f64>>,
}

struct SilentRun {
    s: Subject,
    tr: Tracker,
    next: i64,
    iv: i64,
}

/// The streaming monitor. Call [`Monitor::on_append`] with each batch after
/// [`Store::append`] succeeded; it returns the alarm events the batch decided.
pub struct Monitor<'s> {
    store: &'s Store,
    cfg: RuleConfig,
    plan: Plan,
    start: i64,
    lateness: i64,
    max_seen: i64,
    wm: i64,
    index: IdMap,
    bufs: Vec<Buf>,
    deps: Vec<Vec<Dep>>,
    fac: Vec<FacRun>,
    days: Vec<DayRun>,
    silent: Vec<SilentRun>,
    stats: MonitorStats,
    /// Local day number of the last pruning of the buffers.
    pruned_day: i64,
    /// Production powers of one facility interval, reused.
    scratch: Vec<Option<f64>>,
    /// `(meter, grid slot)` of the kept readings whose flag is
    /// [`excluded_from_monitoring`](crate::Flag::excluded_from_monitoring): empty, and
    /// never looked into, while no reading carries such a flag.
    excluded: BTreeSet<(usize, i64)>,
}

/// The widest range of timestamps a store accepts: the monitor's clock stays in it.
const SUPPORTED: std::ops::Range<i64> = crate::Options::SUPPORTED_TIMESTAMPS;

impl<'s> Monitor<'s> {
    /// A monitor of `catalog`'s enterprises under `cfg`, judging units from `start` on
    /// (UTC Unix seconds), accepting readings up to `lateness_s` late. `store` answers
    /// the queries that need history (emergency baselines).
    pub fn new(
        store: &'s Store,
        catalog: &Catalog,
        cfg: RuleConfig,
        start: i64,
        lateness_s: i64,
    ) -> Monitor<'s> {
        // Times outside the calendar a store supports are clamped to it, so that unit
        // and day arithmetic never leaves i64.
        let start = start.clamp(SUPPORTED.start, SUPPORTED.end);
        let lateness_s = lateness_s.clamp(0, SUPPORTED.end - SUPPORTED.start);
        let plan = Plan::new(catalog, &cfg);
        let mut deps: Vec<Vec<Dep>> = vec![Vec::new(); plan.meters.len()];
        let mut index = IdMap::default();
        for (i, m) in plan.meters.iter().enumerate() {
            index.insert(m.meta.id.clone(), i);
        }
        let mut fac = Vec::new();
        for (k, f) in plan.facilities.iter().enumerate() {
            deps[f.treatment].push(Dep::Fac(k));
            for &p in &f.production {
                deps[p].push(Dep::Fac(k));
            }
            let subs = facility_subjects(&plan, f, &cfg);
            let iv = facility_unit(plan.meters[f.treatment].iv);
            fac.push(FacRun {
                enabled: [0, 1, 2].map(|j| cfg.enabled(subs[j].0.rule)),
                subs,
                next: align_up(start, iv),
                iv,
            });
        }
        let mut days = Vec::new();
        for (k, d) in plan.days.iter().enumerate() {
            for &m in &d.members {
                deps[m].push(Dep::Day(k));
            }
            let (s, tr) = day_subject(&plan, d, &cfg);
            days.push(DayRun {
                s,
                tr,
                unit: None,
                have: 0,
                need: 0,
                base: None,
            });
        }
        let mut silent = Vec::new();
        for (k, (m, _)) in plan.silent.iter().enumerate() {
            deps[*m].push(Dep::Silent(k));
            let (s, tr) = silent_subject(&plan, *m, &cfg);
            let iv = plan.meters[*m].iv;
            silent.push(SilentRun {
                s,
                tr,
                next: align_up(start, iv),
                iv,
            });
        }
        let bufs = plan
            .meters
            .iter()
            .map(|m| Buf {
                iv: m.iv,
                factor: if m.meta.multipliers.is_empty() {
                    m.power(0, 1.0).unwrap_or(f64::NAN)
                } else {
                    f64::NAN
                },
                ..Buf::default()
            })
            .collect();
        let mut mon = Monitor {
            store,
            cfg,
            plan,
            start,
            lateness: lateness_s.max(0),
            max_seen: i64::MIN,
            wm: start,
            index,
            bufs,
            deps,
            fac,
            days,
            silent,
            stats: MonitorStats::default(),
            pruned_day: i64::MIN,
            scratch: Vec::new(),
            excluded: BTreeSet::new(),
        };
        for k in 0..mon.days.len() {
            mon.set_unit(k, day_unit(&mon.cfg, &mon.plan.days[k], start));
        }
        mon
    }

    /// The watermark: every unit that ends by it has been decided.
    pub fn watermark(&self) -> i64 {
        self.wm
    }

    /// Counters since creation.
    pub fn stats(&self) -> MonitorStats {
        self.stats
    }

    /// Alarms open now, with their evidence so far.
    pub fn open_alarms(&self) -> Vec<Alarm> {
        let mut out: Vec<Alarm> = Vec::new();
        for f in &self.fac {
            out.extend(f.subs.iter().filter_map(|(s, t)| t.open_alarm(s)));
        }
        out.extend(self.days.iter().filter_map(|d| d.tr.open_alarm(&d.s)));
        out.extend(self.silent.iter().filter_map(|d| d.tr.open_alarm(&d.s)));
        super::batch::sort_alarms(&mut out);
        out
    }

    /// Feeds the readings of one append (already stored) and returns the events they
    /// decided, in the order decided.
    pub fn on_append(&mut self, readings: &[Reading<'_>]) -> Result<Vec<AlarmEvent>> {
        let wm0 = self.wm;
        let mut out = Vec::new();
        for r in readings {
            let Some(&i) = self.index.get(r.meter) else {
                self.stats.unknown_meter += 1;
                continue;
            };
            let iv = self.bufs[i].iv;
            if r.ts < self.start
                || r.ts >= SUPPORTED.end
                || r.ts.rem_euclid(iv) != 0
                || !r.value.is_finite()
            {
                self.stats.ignored += 1;
                continue;
            }
            if r.ts > self.max_seen.max(self.start).saturating_add(MAX_AHEAD_S) {
                self.stats.too_new += 1;
                continue;
            }
            if r.ts + iv <= wm0 {
                self.stats.late_dropped += 1;
                continue;
            }
            self.stats.readings += 1;
            self.max_seen = self.max_seen.max(r.ts);
            let slot = r.ts.div_euclid(iv);
            let new = self.bufs[i].put(slot, r.value);
            // The newest write of a slot decides, flag included.
            if r.flag.excluded_from_monitoring() {
                self.excluded.insert((i, slot));
            } else if !self.excluded.is_empty() {
                self.excluded.remove(&(i, slot));
            }
            // Decide what this reading completes now, while its data is in cache.
            let deps = std::mem::take(&mut self.deps[i]);
            let mut res = Ok(());
            // A register's day also needs the reading at its end (its last difference).
            let reg = self.plan.meters[i].meta.kind == Quantity::CumulativeRegister;
            for &d in &deps {
                if let (true, Dep::Day(k)) = (new, d) {
                    if self.days[k]
                        .unit
                        .as_ref()
                        .is_some_and(|u| u.contains(&r.ts) || (reg && r.ts == u.end))
                    {
                        self.days[k].have += 1;
                    }
                }
                res = self.advance(d, &mut out);
                if res.is_err() {
                    break;
                }
            }
            self.deps[i] = deps;
            res?;
        }
        let wm = self.max_seen.saturating_sub(self.lateness);
        if wm > self.wm {
            self.wm = wm;
            self.advance_all(&mut out)?;
        }
        Ok(out)
    }

    /// Declares that every reading before `t` has been fed (e.g. at the end of a replay,
    /// or on a clock tick): units ending by `t` are decided with what is there.
    ///
    /// One call moves the watermark at most [`MAX_ADVANCE_S`] (ten years): every unit in
    /// between is decided one by one, so a time far off (a timestamp in milliseconds, or
    /// `i64::MAX`) is refused with [`Error::InvalidArgument`] instead of deciding
    /// millennia of intervals. Times after year 9998 count as its end.
    pub fn advance_to(&mut self, t: i64) -> Result<Vec<AlarmEvent>> {
        let t = t.min(SUPPORTED.end);
        if t.saturating_sub(self.wm) > MAX_ADVANCE_S {
            return Err(Error::InvalidArgument(format!(
                "advance_to({t}) would move the monitor {} days past its watermark {}, more \
                 than the {} days one call may; advance in steps",
                t.saturating_sub(self.wm) / 86_400,
                self.wm,
                MAX_ADVANCE_S / 86_400
            )));
        }
        let mut out = Vec::new();
        if t > self.wm {
            self.wm = t;
            self.advance_all(&mut out)?;
        }
        Ok(out)
    }

    fn advance_all(&mut self, out: &mut Vec<AlarmEvent>) -> Result<()> {
        // Units that do not end by the watermark can only be decided by their readings,
        // which decide them on arrival: skip them without touching their data.
        for k in 0..self.fac.len() {
            if self.fac[k].next + self.fac[k].iv <= self.wm {
                self.advance(Dep::Fac(k), out)?;
            }
        }
        for k in 0..self.days.len() {
            if self.days[k].unit.as_ref().is_some_and(|u| u.end <= self.wm) {
                self.advance(Dep::Day(k), out)?;
            }
        }
        for k in 0..self.silent.len() {
            if self.silent[k].next + self.silent[k].iv <= self.wm {
                self.advance(Dep::Silent(k), out)?;
            }
        }
        // Pruning touches every buffer: once a day is enough.
        let below = self.wm.saturating_sub(KEEP_S);
        if below.div_euclid(86_400) > self.pruned_day {
            self.pruned_day = below.div_euclid(86_400);
            for (b, m) in self.bufs.iter_mut().zip(&self.plan.meters) {
                b.prune(below.div_euclid(m.iv));
            }
            let meters = &self.plan.meters;
            self.excluded
                .retain(|&(i, k)| k >= below.div_euclid(meters[i].iv));
        }
        Ok(())
    }

    /// Whether a reading of meter `i` whose interval overlaps `span` is flagged out of
    /// monitoring.
    fn excluded_in(&self, i: usize, span: &Range<i64>) -> bool {
        if self.excluded.is_empty() {
            return false;
        }
        let iv = self.bufs[i].iv;
        let (lo, hi) = (span.start.div_euclid(iv), (span.end - 1).div_euclid(iv));
        self.excluded.range((i, lo)..=(i, hi)).next().is_some()
    }

    fn value(&self, i: usize, t: i64) -> Option<f64> {
        let b = &self.bufs[i];
        b.get(t.div_euclid(b.iv))
    }

    /// Power of meter `i` over its interval starting at `t`, if its readings are in.
    fn power(&self, i: usize, t: i64) -> Option<f64> {
        let f = self.bufs[i].factor;
        if f.is_nan() {
            self.plan.meters[i].power_at(t, |t| self.value(i, t))
        } else {
            Some(self.value(i, t)? * f)
        }
    }

    /// Power of meter `i` over the facility unit `[t, t + u)`, and whether it is final.
    fn unit_power(&self, i: usize, t: i64, u: i64) -> (Option<f64>, bool) {
        let m = &self.plan.meters[i];
        if m.iv >= u {
            let p = self.power(i, t.div_euclid(m.iv) * m.iv);
            return (p, p.is_some());
        }
        unit_power(m, t, u, |t| self.value(i, t))
    }

    fn advance(&mut self, d: Dep, out: &mut Vec<AlarmEvent>) -> Result<()> {
        match d {
            Dep::Fac(k) => self.advance_facility(k, out),
            Dep::Silent(k) => {
                let (m, _) = self.plan.silent[k];
                let iv = self.silent[k].iv;
                loop {
                    let t = self.silent[k].next;
                    let present = self.value(m, t).is_some();
                    if !(present || t + iv <= self.wm) {
                        break;
                    }
                    let st = classify_silent(&self.plan, m, &self.plan.silent[k].1, t, present);
                    let r = &mut self.silent[k];
                    r.tr.feed(&r.s, t, t + iv, st, out);
                    r.next = t + iv;
                }
            }
            Dep::Day(k) => return self.advance_day(k, out),
        }
        Ok(())
    }

    fn advance_facility(&mut self, k: usize, out: &mut Vec<AlarmEvent>) {
        let f = &self.plan.facilities[k];
        let iv = self.fac[k].iv;
        let mut prod = std::mem::take(&mut self.scratch);
        prod.clear();
        prod.resize(f.production.len(), None);
        loop {
            let t = self.fac[k].next;
            let (tp, mut complete) = self.unit_power(f.treatment, t, iv);
            for (slot, &p) in prod.iter_mut().zip(&f.production) {
                let piv = self.bufs[p].iv;
                let (pp, all) = if t.div_euclid(piv) * piv >= self.start {
                    self.unit_power(p, t, iv)
                } else {
                    (None, false)
                };
                *slot = pp;
                complete &= all;
            }
            if !(complete || t + iv <= self.wm) {
                break;
            }
            let span = t..t + iv;
            let states = match std::iter::once(&f.treatment)
                .chain(&f.production)
                .any(|&m| self.excluded_in(m, &span))
            {
                true => [UnitState::Good; 3],
                false => classify_facility(&self.plan, f, &self.cfg, t, tp, &prod),
            };
            let r = &mut self.fac[k];
            for (((s, tr), st), on) in r.subs.iter_mut().zip(states).zip(r.enabled) {
                if on {
                    tr.feed(s, t, t + iv, st, out);
                }
            }
            r.next = t + iv;
        }
        self.scratch = prod;
    }

    fn set_unit(&mut self, k: usize, unit: Option<Range<i64>>) {
        let d = &self.plan.days[k];
        let (mut have, mut need) = (0, 0);
        if let Some(u) = &unit {
            for &m in &d.members {
                let iv = self.plan.meters[m].iv;
                let reg = self.plan.meters[m].meta.kind == Quantity::CumulativeRegister;
                let end = u.end + i64::from(reg);
                let mut t = align_up(u.start, iv);
                while t < end {
                    need += 1;
                    have += self.value(m, t).is_some() as u64;
                    t += iv;
                }
            }
        }
        let r = &mut self.days[k];
        r.unit = unit;
        r.have = have;
        r.need = need;
    }

    fn advance_day(&mut self, k: usize, out: &mut Vec<AlarmEvent>) -> Result<()> {
        loop {
            let Some(u) = self.days[k].unit.clone() else {
                return Ok(());
            };
            let r = &self.days[k];
            if !(r.have == r.need || u.end <= self.wm) {
                return Ok(());
            }
            let d = &self.plan.days[k];
            let st = if d.members.iter().any(|&m| self.excluded_in(m, &u)) {
                UnitState::Good
            } else if d.rule == RuleId::NightProduction {
                let figs: Vec<DayFigures> = d
                    .members
                    .iter()
                    .map(|&m| self.night_figures(m, &u))
                    .collect();
                classify_night(&self.cfg, d, &u, combine(&figs))
            } else {
                if self.days[k].base.is_none() {
                    let b = baseline_kw(self.store, &self.plan, d, &self.cfg)?;
                    self.days[k].base = Some(b);
                }
                let figs: Vec<(f64, u32, u32)> = d
                    .members
                    .iter()
                    .map(|&m| span_power(&self.plan.meters[m], &u, |t| self.value(m, t)))
                    .collect();
                classify_emergency(&self.cfg, d, &u, &figs, self.days[k].base.flatten())
            };
            let r = &mut self.days[k];
            r.tr.feed(&r.s, u.start, u.end, st, out);
            let next = day_unit(&self.cfg, &self.plan.days[k], u.end);
            if next.is_none() {
                // The period is over: so is its alarm.
                let r = &mut self.days[k];
                r.tr.finish(&r.s, out);
            }
            self.set_unit(k, next);
        }
    }

    /// A member's day figures over `u`, as the day/night kernel computes them: energy
    /// (power x interval for power meters) and hours covered, split by the day window;
    /// the multiplier in force at the start of the unit.
    fn night_figures(&self, m: usize, u: &Range<i64>) -> DayFigures {
        let info = &self.plan.meters[m];
        let hours = info.iv as f64 / 3600.0;
        let mut f = DayFigures::default();
        let mut t = align_up(u.start, info.iv);
        while t < u.end {
            let e = match info.meta.kind {
                Quantity::Power => self.value(m, t).map(|v| v * hours),
                // The day/night scan's register energy: the difference to the next
                // reading, none across a gap or for a negative step.
                Quantity::CumulativeRegister => self
                    .value(m, t + info.iv)
                    .zip(self.value(m, t))
                    .map(|(b, a)| b - a)
                    .filter(|d| *d >= 0.0),
                _ => self.value(m, t),
            };
            if let Some(e) = e {
                if self.cfg.is_day(t) {
                    f.day_kwh += e;
                    f.day_hours += hours;
                } else {
                    f.night_kwh += e;
                    f.night_hours += hours;
                }
            }
            t += info.iv;
        }
        let k = info.meta.multiplier_at(self.cfg.day_start(u.start));
        f.day_kwh *= k;
        f.night_kwh *= k;
        f
    }
}

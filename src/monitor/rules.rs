//! The rules: identifiers, parameters with their defaults, and the classification of one
//! unit (an interval or a local day) that batch and streaming evaluation share.
//!
//! The table of rules is on [`RuleConfig`], with what counts as good whatever the
//! readings say: units inside a declared suppression window, and units with a reading
//! whose quality flag is [`excluded_from_monitoring`](crate::Flag::excluded_from_monitoring)
//! (`M`, `D`, `C`, `F`). Both paths apply the flags where they call the classification:
//! `batch::evaluate_into` and the streaming monitor's `advance_facility` and `advance_day`.

use super::alarm::{Obs, UnitState};
use super::catalog::{Catalog, CatalogMeter, MeterRole, Suppression};
use super::learn::NormalPower;
pub(crate) use super::units::{facility_unit, unit_power};
use crate::scan::{DayWindow, Zone};
use crate::types::UtcOffset;
use std::ops::Range;

/// Stable identifiers of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    /// 产治不同步: production running while treatment is below threshold.
    ProductionTreatmentMismatch,
    /// 治污设施停运: treatment facility off while it should run.
    TreatmentStopped,
    /// 低效运行: treatment facility running below a share of its normal power.
    TreatmentUnderperforming,
    /// 昼伏夜出: enterprise night/day power ratio above the threshold on a local day.
    NightProduction,
    /// 联网异常: a meter that stopped reporting.
    MeterSilent,
    /// 停限产: consumption not cut by the required share during an emergency period.
    EmergencyCutMissed,
}

impl RuleId {
    /// Every rule.
    pub const ALL: [RuleId; 6] = [
        RuleId::ProductionTreatmentMismatch,
        RuleId::TreatmentStopped,
        RuleId::TreatmentUnderperforming,
        RuleId::NightProduction,
        RuleId::MeterSilent,
        RuleId::EmergencyCutMissed,
    ];

    /// The stable identifier, e.g. `production_treatment_mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ProductionTreatmentMismatch => "production_treatment_mismatch",
            RuleId::TreatmentStopped => "treatment_stopped",
            RuleId::TreatmentUnderperforming => "treatment_underperforming",
            RuleId::NightProduction => "night_production",
            RuleId::MeterSilent => "meter_silent",
            RuleId::EmergencyCutMissed => "emergency_cut_missed",
        }
    }

    /// Parses an identifier as printed by [`RuleId::as_str`].
    pub fn parse(s: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub(crate) fn to_byte(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_byte(b: u8) -> Option<RuleId> {
        RuleId::ALL.get(b as usize).copied()
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parameters of the rules. The defaults are the ones measured on generated fleets;
/// docs/MONITORING.md describes every rule with its definition and defaults.
///
/// | rule | subject | unit | bad when | opens after |
/// |---|---|---|---|---|
/// | `production_treatment_mismatch` 产治不同步 | treatment meter | unit | production running and treatment off or below `underperforming_share` x normal | `mismatch_intervals` (4) |
/// | `treatment_stopped` 治污设施停运 | treatment meter | unit | treatment off while it should run | `stopped_intervals` (4) |
/// | `treatment_underperforming` 低效运行 | treatment meter | unit | treatment on but below `underperforming_share` (0.6) x normal while it should run | `underperforming_intervals` (8) |
/// | `night_production` 昼伏夜出 | enterprise | local day | production night/day power ratio > `night_threshold` (1.5), night power above the sum of the members' off levels | `night_days` (1) |
/// | `meter_silent` 联网异常 | meter | interval | no reading | `silent_intervals + 1` (17) |
/// | `emergency_cut_missed` 停限产 | enterprise | local day of a declared period | day's mean power > (1 - required cut) x baseline | `emergency_days` (1) |
///
/// *Running* and *off* come from each meter's threshold: the manual one where set, else the
/// learned [`NormalPower`](super::NormalPower). A production meter runs above its off
/// level; the enterprise's production runs when any production meter runs, is idle when
/// every production meter reported and none runs, and is unknown otherwise. A treatment
/// facility *should run* when production runs, or, for an enterprise without production
/// meters, in time-of-day slots where it ran in at least half the training readings.
/// The facility rules judge *units*: the whole number of the treatment meter's intervals
/// closest to a quarter hour (one interval for meters of 15 minutes or more), each
/// meter's power over a unit the mean of its intervals' powers. A unit in which a meter
/// has the power of fewer than 3/4 of its intervals (HJ 212's 45 of 60 minutes) is
/// unknown: unknown units neither open nor close an alarm, unless more than
/// `max_unknown_intervals` (4) follow each other. A day is judged by the day rules when
/// readings cover at least `min_day_coverage` (20/24, HJ 212's 20 of 24 hours) of its day
/// window and of its night. A unit inside a suppression window (报备) of the rule counts
/// as good. So does a unit in which a reading the rule judges carries a quality
/// [`Flag`](crate::Flag) that is [`excluded_from_monitoring`](crate::Flag::excluded_from_monitoring)
/// (`M` maintenance, `D` fault, `C` calibration, `F` stopped): a flagged reading of the
/// treatment meter or of a production meter whose interval overlaps a facility unit, or of
/// any member within a local day, declares the unit out of judgement as a maintenance
/// window would. `meter_silent` counts a flagged reading as a reading. Threshold learning
/// and emergency baselines leave flagged readings out (they do not show normal operation).
#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// Rules to evaluate. Default: all.
    pub rules: Vec<RuleId>,
    /// Time zone of local days and of the day window: a fixed offset or an IANA zone
    /// (days of 23 and 25 hours come out right). Default UTC+08:00.
    pub zone: Zone,
    /// Consecutive bad units that open a 产治不同步 alarm. Default 4 (one hour of
    /// quarter-hour units).
    pub mismatch_intervals: u32,
    /// Consecutive off units that open a `treatment_stopped` alarm. Default 4.
    pub stopped_intervals: u32,
    /// Consecutive low units that open a `treatment_underperforming` alarm.
    /// Default 8 (two hours).
    pub underperforming_intervals: u32,
    /// Share of normal running power below which a running facility is low. Default 0.6.
    pub underperforming_share: f64,
    /// Consecutive unknown intervals (or days) that end a run or close an alarm.
    /// Default 4.
    pub max_unknown_intervals: u32,
    /// The day window of 昼伏夜出. Default 08:00-20:00.
    pub day_window: DayWindow,
    /// Night/day ratio above which a day is bad. Default 1.5.
    pub night_threshold: f64,
    /// Consecutive bad days that open a `night_production` alarm. Default 1.
    pub night_days: u32,
    /// Share of a day's window (and of the night) that readings must cover for a day to
    /// be judged (by day and night rules). Default 20/24, the share of hours HJ 212
    /// needs for a valid day.
    pub min_day_coverage: f64,
    /// A meter is silent after more than this many intervals without a reading.
    /// Default 16 (four hours at 15 minutes).
    pub silent_intervals: u32,
    /// Days before an emergency period used as its baseline when it declares none.
    /// Default 7.
    pub emergency_baseline_days: u32,
    /// Consecutive bad days that open an `emergency_cut_missed` alarm. Default 1.
    pub emergency_days: u32,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            rules: RuleId::ALL.to_vec(),
            zone: Zone::fixed(UtcOffset::CHINA),
            mismatch_intervals: 4,
            stopped_intervals: 4,
            underperforming_intervals: 8,
            underperforming_share: 0.6,
            max_unknown_intervals: 4,
            day_window: DayWindow::default(),
            night_threshold: 1.5,
            night_days: 1,
            min_day_coverage: 20.0 / 24.0,
            silent_intervals: 16,
            emergency_baseline_days: 7,
            emergency_days: 1,
        }
    }
}

impl RuleConfig {
    pub(crate) fn enabled(&self, r: RuleId) -> bool {
        self.rules.contains(&r)
    }

    /// Start of the local day holding `ts`: its local midnight in the zone (the offset
    /// in force at midnight, so days of 23 and 25 hours come out right).
    pub(crate) fn day_start(&self, ts: i64) -> i64 {
        let off = self.zone.offset_at(ts) as i64;
        let midnight = (ts + off).div_euclid(86_400) * 86_400;
        if self.zone.fixed_offset().is_some() {
            return midnight - off;
        }
        // The offset at midnight may differ from the one at `ts`; midnight itself may
        // fall in a skipped hour, then the day starts at the change.
        let guess = midnight - off;
        let at = self.zone.offset_at(guess) as i64;
        let start = midnight - at;
        if self.zone.offset_at(start) as i64 == at && start <= ts {
            start
        } else {
            guess.min(ts)
        }
    }

    /// Whether `ts` lies in the day window.
    pub(crate) fn is_day(&self, ts: i64) -> bool {
        let m = (ts + self.zone.offset_at(ts) as i64).rem_euclid(86_400) / 60;
        self.day_window.contains_minute(m as u32)
    }

    /// Hours of the day window and of the night in a whole day.
    pub(crate) fn window_hours(&self) -> (f64, f64) {
        let (s, e) = (
            self.day_window.start_min() as i64,
            self.day_window.end_min() as i64,
        );
        let day = (e - s).rem_euclid(1440) as f64 / 60.0;
        let day = if day == 0.0 { 24.0 } else { day };
        (day, 24.0 - day)
    }
}

/// A meter's threshold with manual parts taking precedence over learned ones.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub off_kw: f64,
    manual_normal: Option<f64>,
    learned: Option<NormalPower>,
}

impl Profile {
    pub(crate) fn of(cat: &Catalog, meter: &str) -> Option<Profile> {
        let l = cat.learned(meter).cloned();
        let m = cat.manual(meter).copied().unwrap_or_default();
        let normal = m.normal_kw.or(l.as_ref().map(|l| l.normal_kw))?;
        let off = m
            .off_kw
            .or(l.as_ref().map(|l| l.off_kw))
            .unwrap_or(0.3 * normal);
        Some(Profile {
            off_kw: off,
            manual_normal: m.normal_kw,
            learned: l,
        })
    }

    pub(crate) fn normal_at(&self, ts: i64) -> f64 {
        match (self.manual_normal, &self.learned) {
            (Some(v), _) => v,
            (None, Some(l)) => l.normal_at(ts),
            (None, None) => 0.0,
        }
    }

    fn on_share_at(&self, ts: i64) -> Option<f64> {
        self.learned.as_ref().and_then(|l| l.on_share_at(ts))
    }
}

/// Static facts about one meter the rules read.
#[derive(Debug, Clone)]
pub(crate) struct MeterInfo {
    pub meta: CatalogMeter,
    pub iv: i64,
    pub profile: Option<Profile>,
}

impl MeterInfo {
    /// Power of one reading at `ts` (not for registers: see [`MeterInfo::power_at`]).
    pub(crate) fn power(&self, ts: i64, value: f64) -> Option<f64> {
        super::learn::power_kw(
            self.meta.kind,
            self.iv as u32,
            value,
            self.meta.multiplier_at(ts),
        )
    }

    /// Power over the interval starting at `t`, `value` giving the meter's readings.
    pub(crate) fn power_at(&self, t: i64, value: impl Fn(i64) -> Option<f64>) -> Option<f64> {
        super::learn::interval_power(&self.meta, self.iv, t, value)
    }
}

/// One treatment facility with its enterprise's production meters: the subject of the
/// three interval rules on treatment.
#[derive(Debug, Clone)]
pub(crate) struct FacilityPlan {
    pub enterprise: String,
    pub treatment: usize,
    pub production: Vec<usize>,
    pub suppressions: Vec<Suppression>,
}

/// An enterprise-level day rule: its member meters.
#[derive(Debug, Clone)]
pub(crate) struct DayPlan {
    pub rule: RuleId,
    pub enterprise: String,
    pub members: Vec<usize>,
    pub suppressions: Vec<Suppression>,
    /// For 停限产: the period, required cut and baseline window.
    pub period: Option<(Range<i64>, f64, Range<i64>)>,
    /// For 昼伏夜出: the sum of the members' off levels (kW), which night power must
    /// exceed for the night to count as production.
    pub floor_kw: f64,
}

/// Everything to evaluate, derived from a catalog and a configuration.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub meters: Vec<MeterInfo>,
    pub facilities: Vec<FacilityPlan>,
    pub days: Vec<DayPlan>,
    /// Meters under `meter_silent`, with their enterprise's suppressions.
    pub silent: Vec<(usize, Vec<Suppression>)>,
}

impl Plan {
    /// Regular meters with a quantity that has a power take part in the power rules;
    /// every regular meter in the catalog is watched for silence.
    pub(crate) fn new(cat: &Catalog, cfg: &RuleConfig) -> Plan {
        let meters: Vec<MeterInfo> = cat
            .meters()
            .filter_map(|m| {
                Some(MeterInfo {
                    iv: m.interval_s? as i64,
                    profile: Profile::of(cat, &m.id),
                    meta: m.clone(),
                })
            })
            .collect();
        let has_power = |i: &MeterInfo| super::learn::has_power(i.meta.kind);
        let sup = |e: &str| -> Vec<Suppression> {
            cat.suppressions()
                .iter()
                .filter(|s| s.enterprise == e)
                .cloned()
                .collect()
        };
        let of_role = |e: &str, r: MeterRole| -> Vec<usize> {
            (0..meters.len())
                .filter(|&i| {
                    meters[i].meta.enterprise == e
                        && meters[i].meta.role == r
                        && has_power(&meters[i])
                })
                .collect()
        };
        let mut facilities = Vec::new();
        let mut days = Vec::new();
        let facility_rules = [
            RuleId::ProductionTreatmentMismatch,
            RuleId::TreatmentStopped,
            RuleId::TreatmentUnderperforming,
        ];
        for e in cat.enterprises() {
            let production = of_role(&e.id, MeterRole::Production);
            if facility_rules.iter().any(|r| cfg.enabled(*r)) {
                for t in of_role(&e.id, MeterRole::Treatment) {
                    if meters[t].profile.is_some() {
                        facilities.push(FacilityPlan {
                            enterprise: e.id.clone(),
                            treatment: t,
                            production: production.clone(),
                            suppressions: sup(&e.id),
                        });
                    }
                }
            }
            if cfg.enabled(RuleId::NightProduction) && !production.is_empty() {
                let floor_kw = production
                    .iter()
                    .filter_map(|&i| meters[i].profile.as_ref().map(|p| p.off_kw))
                    .sum();
                days.push(DayPlan {
                    rule: RuleId::NightProduction,
                    enterprise: e.id.clone(),
                    members: production.clone(),
                    suppressions: sup(&e.id),
                    period: None,
                    floor_kw,
                });
            }
            if cfg.enabled(RuleId::EmergencyCutMissed) {
                let main = of_role(&e.id, MeterRole::Main);
                let members = if main.is_empty() { production } else { main };
                for p in cat.emergencies() {
                    if members.is_empty()
                        || !(p.enterprises.is_empty() || p.enterprises.contains(&e.id))
                    {
                        continue;
                    }
                    let base = p.baseline.clone().unwrap_or_else(|| {
                        let s = cfg.day_start(p.range.start);
                        s - cfg.emergency_baseline_days as i64 * 86_400..s
                    });
                    days.push(DayPlan {
                        rule: RuleId::EmergencyCutMissed,
                        enterprise: e.id.clone(),
                        members: members.clone(),
                        suppressions: sup(&e.id),
                        period: Some((p.range.clone(), p.required_cut, base)),
                        floor_kw: 0.0,
                    });
                }
            }
        }
        let silent = if cfg.enabled(RuleId::MeterSilent) {
            (0..meters.len())
                .map(|i| (i, sup(&meters[i].meta.enterprise)))
                .collect()
        } else {
            Vec::new()
        };
        Plan {
            meters,
            facilities,
            days,
            silent,
        }
    }
}

fn suppressed(
    s: &[Suppression],
    rule: RuleId,
    ent: &str,
    meter: Option<&str>,
    span: &Range<i64>,
) -> bool {
    s.iter().any(|x| x.covers(rule, ent, meter, span))
}

/// Running state of production or the facility.
#[derive(Clone, Copy, PartialEq)]
enum Run {
    Yes,
    No,
    Unknown,
}

/// Classifies interval `[t, t + iv)` of a facility for its three rules, in the order
/// mismatch, stopped, underperforming. `tp` is the treatment power, `prod` the power of
/// each production meter at `t` (`None` where missing).
pub(crate) fn classify_facility(
    plan: &Plan,
    f: &FacilityPlan,
    cfg: &RuleConfig,
    t: i64,
    tp: Option<f64>,
    prod: &[Option<f64>],
) -> [UnitState; 3] {
    let tm = &plan.meters[f.treatment];
    let Some(tprof) = &tm.profile else {
        return [UnitState::Unknown; 3];
    };
    let span = t..t + facility_unit(tm.iv);
    let mut running = Run::No;
    let mut prod_kw = 0.0;
    for (&i, p) in f.production.iter().zip(prod) {
        match (p, &plan.meters[i].profile) {
            (Some(p), Some(pr)) => {
                prod_kw += p;
                if *p > pr.off_kw {
                    running = Run::Yes;
                }
            }
            (Some(p), None) => {
                prod_kw += p;
                if running == Run::No {
                    running = Run::Unknown;
                }
            }
            (None, _) => {
                if running == Run::No {
                    running = Run::Unknown;
                }
            }
        }
    }
    let expected = if f.production.is_empty() {
        match tprof.on_share_at(t) {
            Some(s) if s >= 0.5 => Run::Yes,
            Some(_) => Run::No,
            None => Run::Unknown,
        }
    } else {
        running
    };
    let normal = tprof.normal_at(t);
    let low_kw = cfg.underperforming_share * normal;
    // 0 off, 1 low, 2 normal.
    let level = tp.map(|p| {
        if p < tprof.off_kw {
            0
        } else if p < low_kw {
            1
        } else {
            2
        }
    });
    let tid = tm.meta.id.as_str();
    let obs = |thr: f64| Obs {
        value: tp.unwrap_or(f64::NAN),
        threshold: thr,
        context: prod_kw,
    };
    let judge = |rule: RuleId, run: Run, bad_levels: &[u8], thr: f64| -> UnitState {
        if !cfg.enabled(rule) || suppressed(&f.suppressions, rule, &f.enterprise, Some(tid), &span)
        {
            return UnitState::Good;
        }
        match (run, level) {
            (Run::No, _) => UnitState::Good,
            (_, Some(l)) if !bad_levels.contains(&l) => UnitState::Good,
            (Run::Yes, Some(_)) => UnitState::Bad(obs(thr)),
            _ => UnitState::Unknown,
        }
    };
    [
        if f.production.is_empty() {
            UnitState::Good
        } else {
            judge(
                RuleId::ProductionTreatmentMismatch,
                running,
                &[0, 1],
                low_kw,
            )
        },
        judge(RuleId::TreatmentStopped, expected, &[0], tprof.off_kw),
        judge(RuleId::TreatmentUnderperforming, expected, &[1], low_kw),
    ]
}

/// One meter's figures over a local day (or the part of it a rule looks at): energy in
/// kWh (times the multiplier) and readings, by day window and night.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DayFigures {
    pub day_kwh: f64,
    pub day_hours: f64,
    pub night_kwh: f64,
    pub night_hours: f64,
}

/// A local day of an enterprise for 昼伏夜出, combined like
/// [`EnterpriseDayNight::aggregate`](crate::EnterpriseDayNight::aggregate): average powers
/// of the members add up, covered hours are the members' mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Combined {
    pub day_kw: Option<f64>,
    pub night_kw: Option<f64>,
    pub day_hours: f64,
    pub night_hours: f64,
}

/// Combines members' figures (members without readings that day are left out).
pub(crate) fn combine(members: &[DayFigures]) -> Option<Combined> {
    let mut c = Combined {
        day_kw: None,
        night_kw: None,
        day_hours: 0.0,
        night_hours: 0.0,
    };
    let mut n = 0usize;
    for m in members.iter().filter(|m| m.day_hours + m.night_hours > 0.0) {
        n += 1;
        c.day_hours += m.day_hours;
        c.night_hours += m.night_hours;
        if m.day_hours > 0.0 {
            c.day_kw = Some(c.day_kw.unwrap_or(0.0) + m.day_kwh / m.day_hours);
        }
        if m.night_hours > 0.0 {
            c.night_kw = Some(c.night_kw.unwrap_or(0.0) + m.night_kwh / m.night_hours);
        }
    }
    if n == 0 {
        return None;
    }
    c.day_hours /= n as f64;
    c.night_hours /= n as f64;
    Some(c)
}

/// Classifies a local day for 昼伏夜出.
pub(crate) fn classify_night(
    cfg: &RuleConfig,
    d: &DayPlan,
    span: &Range<i64>,
    c: Option<Combined>,
) -> UnitState {
    if suppressed(&d.suppressions, d.rule, &d.enterprise, None, span) {
        return UnitState::Good;
    }
    let Some(c) = c else {
        return UnitState::Unknown;
    };
    let (wd, wn) = cfg.window_hours();
    if c.day_hours < cfg.min_day_coverage * wd || c.night_hours < cfg.min_day_coverage * wn {
        return UnitState::Unknown;
    }
    let (Some(day), Some(night)) = (c.day_kw, c.night_kw) else {
        return UnitState::Unknown;
    };
    let ratio = if day > 0.0 {
        night / day
    } else if night > 0.0 {
        f64::INFINITY
    } else {
        return UnitState::Good;
    };
    // A night that is not production (a weekend's idle load with a shutdown ramp in it)
    // is no night production, whatever the ratio to an idle day.
    if ratio > cfg.night_threshold && night > d.floor_kw {
        UnitState::Bad(Obs {
            value: ratio,
            threshold: cfg.night_threshold,
            context: night,
        })
    } else {
        UnitState::Good
    }
}

/// Classifies a day of an emergency period: `members` are (sum of kW over readings,
/// readings, expected readings) per member meter; `baseline_kw` the enterprise's baseline.
pub(crate) fn classify_emergency(
    cfg: &RuleConfig,
    d: &DayPlan,
    span: &Range<i64>,
    members: &[(f64, u32, u32)],
    baseline_kw: Option<f64>,
) -> UnitState {
    if suppressed(&d.suppressions, d.rule, &d.enterprise, None, span) {
        return UnitState::Good;
    }
    let Some((_, cut, _)) = &d.period else {
        return UnitState::Unknown;
    };
    let Some(base) = baseline_kw.filter(|b| *b > 0.0) else {
        return UnitState::Unknown;
    };
    let present: Vec<_> = members.iter().filter(|m| m.1 > 0).collect();
    if present.is_empty() {
        return UnitState::Unknown;
    }
    let cover: f64 = present
        .iter()
        .map(|m| m.1 as f64 / m.2.max(1) as f64)
        .sum::<f64>()
        / present.len() as f64;
    if cover < cfg.min_day_coverage {
        return UnitState::Unknown;
    }
    let kw: f64 = present.iter().map(|m| m.0 / m.1 as f64).sum();
    let share = kw / base;
    let thr = 1.0 - cut;
    if share > thr {
        UnitState::Bad(Obs {
            value: share,
            threshold: thr,
            context: base,
        })
    } else {
        UnitState::Good
    }
}

/// Classifies one interval of a meter for 联网异常.
pub(crate) fn classify_silent(
    plan: &Plan,
    m: usize,
    sup: &[Suppression],
    t: i64,
    present: bool,
) -> UnitState {
    if present {
        return UnitState::Good;
    }
    let info = &plan.meters[m];
    let span = t..t + info.iv;
    if present
        || suppressed(
            sup,
            RuleId::MeterSilent,
            &info.meta.enterprise,
            Some(&info.meta.id),
            &span,
        )
    {
        UnitState::Good
    } else {
        UnitState::Bad(Obs {
            value: 1.0,
            threshold: 0.0,
            context: 0.0,
        })
    }
}

/// Metric name, context name and run length of each rule.
pub(crate) fn rule_shape(cfg: &RuleConfig, r: RuleId) -> (&'static str, Option<&'static str>, u32) {
    match r {
        RuleId::ProductionTreatmentMismatch => (
            "treatment_kw",
            Some("production_kw"),
            cfg.mismatch_intervals,
        ),
        RuleId::TreatmentStopped => ("treatment_kw", Some("production_kw"), cfg.stopped_intervals),
        RuleId::TreatmentUnderperforming => (
            "treatment_kw",
            Some("production_kw"),
            cfg.underperforming_intervals,
        ),
        RuleId::NightProduction => ("night_day_ratio", Some("night_kw"), cfg.night_days),
        RuleId::MeterSilent => ("missing_intervals", None, cfg.silent_intervals + 1),
        RuleId::EmergencyCutMissed => {
            ("consumption_share", Some("baseline_kw"), cfg.emergency_days)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_of_23_and_25_hours() {
        let cfg = RuleConfig {
            zone: Zone::iana("Europe/Berlin").unwrap(),
            ..RuleConfig::default()
        };
        // 2024-03-31 (23 h): noon CEST is 10:00 UTC, the day starts 2024-03-30T23:00Z.
        assert_eq!(cfg.day_start(1_711_879_200), 1_711_839_600);
        // 2024-10-27 (25 h): 20:00 CET is 19:00 UTC, the day starts 2024-10-26T22:00Z.
        assert_eq!(cfg.day_start(1_730_055_600), 1_729_980_000);
        // 01:30 local on 2024-03-31, before the change: the same day start.
        assert_eq!(cfg.day_start(1_711_845_000), 1_711_839_600);
        // 08:00 local is in the day window in summer and in winter.
        assert!(cfg.is_day(1_719_813_600)); // 2024-07-01T06:00Z
        assert!(cfg.is_day(1_704_092_400)); // 2024-01-01T07:00Z
        assert!(!cfg.is_day(1_704_088_800)); // 2024-01-01T06:00Z = 07:00 CET
    }
}

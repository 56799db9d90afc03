//! Alarms and their lifecycle.
//!
//! Every rule turns its data into a sequence of *units* (intervals of a meter's grid, or
//! local days) and classifies each one as [`UnitState::Bad`] (the condition holds),
//! [`UnitState::Good`] (it does not) or [`UnitState::Unknown`] (data missing). A
//! [`Tracker`] per rule and subject folds that sequence, in time order, into alarms:
//!
//! - an alarm opens when `min_run` consecutive units are bad (unknown units in between
//!   neither count nor break the run); its start is the start of the first bad unit;
//! - it stays open while units are bad or unknown;
//! - it closes at the first good unit, or once more than `max_unknown` consecutive units
//!   are unknown; its end is the end of the last bad unit;
//! - there is at most one open alarm per tracker, so per rule and subject.
//!
//! Batch and streaming evaluation feed the same trackers with the same unit states, which
//! is why they agree.

use super::rules::RuleId;

/// The values and thresholds that decided an alarm, summarised over its bad units.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// What was measured: `treatment_kw`, `night_day_ratio`, `missing_intervals` or
    /// `consumption_share`.
    pub metric: &'static str,
    /// Bad units so far (intervals, or days for day rules).
    pub units: u32,
    /// Mean of the metric over the bad units.
    pub mean: f64,
    /// Smallest value of the metric over the bad units.
    pub min: f64,
    /// Largest value of the metric over the bad units.
    pub max: f64,
    /// Mean of the threshold the metric was compared with.
    pub threshold: f64,
    /// A second quantity that the rule looked at (e.g. `production_kw` for
    /// 产治不同步, `baseline_kw` for 停限产), with its mean over the bad units.
    pub context: Option<(&'static str, f64)>,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} mean={:.3} min={:.3} max={:.3} threshold={:.3} units={}",
            self.metric, self.mean, self.min, self.max, self.threshold, self.units
        )?;
        if let Some((name, v)) = self.context {
            write!(f, " {name}={v:.3}")?;
        }
        Ok(())
    }
}

/// One observation of a bad unit: the metric, its threshold and an optional context
/// value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Obs {
    pub value: f64,
    pub threshold: f64,
    pub context: f64,
}

/// Running sums behind an [`Evidence`].
#[derive(Debug, Clone, Copy)]
struct EvAcc {
    n: u32,
    sum: f64,
    min: f64,
    max: f64,
    thr: f64,
    ctx: f64,
}

impl EvAcc {
    fn new() -> Self {
        EvAcc {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            thr: 0.0,
            ctx: 0.0,
        }
    }
    fn add(&mut self, o: &Obs) {
        self.n += 1;
        self.sum += o.value;
        self.min = self.min.min(o.value);
        self.max = self.max.max(o.value);
        self.thr += o.threshold;
        self.ctx += o.context;
    }
    fn evidence(&self, metric: &'static str, context: Option<&'static str>) -> Evidence {
        let n = self.n.max(1) as f64;
        Evidence {
            metric,
            units: self.n,
            mean: self.sum / n,
            min: self.min,
            max: self.max,
            threshold: self.thr / n,
            context: context.map(|c| (c, self.ctx / n)),
        }
    }
}

/// An alarm: rule, subject, span and evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// The rule that raised it.
    pub rule: RuleId,
    /// Enterprise id.
    pub enterprise: String,
    /// The meters involved; the first is the subject meter for meter and facility rules.
    pub meters: Vec<String>,
    /// Start of the first bad unit, UTC Unix seconds.
    pub start: i64,
    /// End of the last bad unit once closed; `None` while open.
    pub end: Option<i64>,
    /// What decided it.
    pub evidence: Evidence,
}

impl Alarm {
    /// The subject the "at most one open alarm" rule is about: the first meter for meter
    /// and facility rules, the enterprise for enterprise rules.
    pub fn subject(&self) -> &str {
        match self.rule {
            RuleId::NightProduction | RuleId::EmergencyCutMissed => &self.enterprise,
            _ => self.meters.first().map_or(&self.enterprise, |m| m.as_str()),
        }
    }
}

/// A change in an alarm's life, as emitted by evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmEvent {
    /// The alarm opened; `end` is `None`.
    Opened(Alarm),
    /// The alarm closed; `end` is set and the evidence covers all its bad units.
    Closed(Alarm),
}

impl AlarmEvent {
    /// The alarm in either event.
    pub fn alarm(&self) -> &Alarm {
        match self {
            AlarmEvent::Opened(a) | AlarmEvent::Closed(a) => a,
        }
    }
}

/// The classification of one unit by one rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnitState {
    /// The condition holds.
    Bad(Obs),
    /// The condition does not hold (or the unit is suppressed).
    Good,
    /// Not enough data to tell.
    Unknown,
}

/// Who an alarm is about, fixed per tracker.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub rule: RuleId,
    pub enterprise: String,
    pub meters: Vec<String>,
    pub metric: &'static str,
    pub context: Option<&'static str>,
}

/// Folds unit states of one rule and subject into alarm events; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    min_run: u32,
    max_unknown: u32,
    /// Start of the first bad unit of the current run (pending or open).
    run_start: i64,
    /// End of the last bad unit of the current run.
    last_bad_end: i64,
    acc: Option<EvAcc>,
    open: bool,
    unknown_streak: u32,
}

impl Tracker {
    pub(crate) fn new(min_run: u32, max_unknown: u32) -> Self {
        Tracker {
            min_run: min_run.max(1),
            max_unknown,
            run_start: 0,
            last_bad_end: 0,
            acc: None,
            open: false,
            unknown_streak: 0,
        }
    }

    fn alarm(&self, s: &Subject, end: Option<i64>) -> Alarm {
        let acc = self.acc.unwrap_or_else(EvAcc::new);
        Alarm {
            rule: s.rule,
            enterprise: s.enterprise.clone(),
            meters: s.meters.clone(),
            start: self.run_start,
            end,
            evidence: acc.evidence(s.metric, s.context),
        }
    }

    fn end_run(&mut self, s: &Subject, out: &mut Vec<AlarmEvent>) {
        if self.open {
            out.push(AlarmEvent::Closed(self.alarm(s, Some(self.last_bad_end))));
        }
        self.open = false;
        self.acc = None;
    }

    /// Feeds the unit `[start, end)`; units come in time order without overlap.
    pub(crate) fn feed(
        &mut self,
        s: &Subject,
        start: i64,
        end: i64,
        state: UnitState,
        out: &mut Vec<AlarmEvent>,
    ) {
        match state {
            UnitState::Bad(o) => {
                self.unknown_streak = 0;
                let acc = self.acc.get_or_insert_with(|| {
                    self.run_start = start;
                    EvAcc::new()
                });
                acc.add(&o);
                self.last_bad_end = end;
                if !self.open && acc.n >= self.min_run {
                    self.open = true;
                    out.push(AlarmEvent::Opened(self.alarm(s, None)));
                }
            }
            UnitState::Good => {
                self.unknown_streak = 0;
                self.end_run(s, out);
            }
            UnitState::Unknown => {
                self.unknown_streak += 1;
                if self.unknown_streak > self.max_unknown {
                    self.end_run(s, out);
                }
            }
        }
    }

    /// Ends the subject's units (e.g. an emergency period is over): an open alarm closes
    /// at its last bad unit.
    pub(crate) fn finish(&mut self, s: &Subject, out: &mut Vec<AlarmEvent>) {
        self.end_run(s, out);
    }

    /// The alarm open now, if any (its evidence so far).
    pub(crate) fn open_alarm(&self, s: &Subject) -> Option<Alarm> {
        self.open.then(|| self.alarm(s, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subj() -> Subject {
        Subject {
            rule: RuleId::TreatmentStopped,
            enterprise: "E1".into(),
            meters: vec!["M1".into()],
            metric: "treatment_kw",
            context: None,
        }
    }
    fn bad(v: f64) -> UnitState {
        UnitState::Bad(Obs {
            value: v,
            threshold: 1.0,
            context: 0.0,
        })
    }

    #[test]
    fn opens_after_min_run_and_closes_at_last_bad() {
        let s = subj();
        let mut t = Tracker::new(3, 1);
        let mut out = Vec::new();
        let states = [
            bad(0.1),
            bad(0.2),
            UnitState::Unknown,
            bad(0.3),
            bad(0.0),
            UnitState::Unknown,
            UnitState::Good,
        ];
        for (i, st) in states.into_iter().enumerate() {
            t.feed(&s, i as i64 * 10, i as i64 * 10 + 10, st, &mut out);
        }
        assert_eq!(out.len(), 2);
        let AlarmEvent::Opened(a) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((a.start, a.end, a.evidence.units), (0, None, 3));
        let AlarmEvent::Closed(c) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!((c.start, c.end, c.evidence.units), (0, Some(50), 4));
        assert_eq!(c.evidence.min, 0.0);
    }

    #[test]
    fn long_unknown_ends_a_run() {
        let s = subj();
        let mut t = Tracker::new(2, 1);
        let mut out = Vec::new();
        t.feed(&s, 0, 10, bad(0.0), &mut out);
        t.feed(&s, 10, 20, UnitState::Unknown, &mut out);
        t.feed(&s, 20, 30, UnitState::Unknown, &mut out);
        t.feed(&s, 30, 40, bad(0.0), &mut out);
        assert!(out.is_empty());
        t.feed(&s, 40, 50, bad(0.0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].alarm().start, 30);
    }
}

//! A fleet generator independent of `meterstore::fleet`, for the shapes that one does not
//! make: one, two and three shifts with start-up and shutdown ramps, weekend work,
//! production lines idling at a base load, 1- to 60-minute intervals, interval energy,
//! power and cumulative registers (with a CT change), two noise levels, scattered and
//! run gaps; treatment switch-offs placed at the edges of shifts as often as inside them.
//! It writes the readings and the meter catalog as CSV (what a user imports) or straight
//! into a store, and scores alarms against its ground truth.

use super::Scores;
use meterstore::monitor::{Alarm, RuleId};
use meterstore::{Quantity, Reading, Store};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;
/// The data's time zone, UTC+08:00.
pub const OFFSET: i64 = 8 * HOUR;

/// A shape of fleet.
#[derive(Debug, Clone)]
pub struct Shape {
    pub name: &'static str,
    pub seed: u64,
    pub enterprises: usize,
    /// Days of readings; the first `train_days` train the thresholds.
    pub days: u32,
    pub train_days: u32,
    pub interval_s: u32,
    /// Shifts a working day: 1 (08-17), 2 (06-22) or 3 (around the clock).
    pub shifts: u32,
    /// Share of enterprises that also work on Saturdays.
    pub weekend_share: f64,
    /// Idle (base) load of production lines as a share of running power: drawn per line
    /// from this range.
    pub idle: Range<f64>,
    /// Length of start-up and shutdown ramps, minutes: drawn per line from this range.
    pub ramp_min: Range<f64>,
    /// Relative standard deviation of the noise.
    pub noise: f64,
    /// Share of readings lost at random.
    pub scattered_gaps: f64,
    /// Outages of 2 to 10 hours per meter.
    pub run_gaps: u32,
    pub kind: Quantity,
    /// Switch-offs per treatment facility in the evaluated days.
    pub switch_offs: u32,
}

/// SplitMix64.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, r: &Range<f64>) -> f64 {
        r.start + (r.end - r.start) * self.unit()
    }
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Production,
    Treatment,
}

/// One generated meter with its series and ground truth.
#[derive(Debug, Clone)]
pub struct GenMeter {
    pub id: String,
    pub enterprise: String,
    pub role: Role,
    /// (timestamp, value) as stored: energy, power or register readings.
    pub readings: Vec<(i64, f64)>,
    /// CT/PT multiplier changes (from, value); empty for 1.
    pub multipliers: Vec<(i64, f64)>,
    /// Switch-offs of a treatment facility.
    pub switch_offs: Vec<Range<i64>>,
}

/// A generated fleet.
pub struct GenFleet {
    pub shape: Shape,
    pub start: i64,
    pub meters: Vec<GenMeter>,
    /// Per enterprise: whether it produces at night, and its production running instants
    /// (interval starts, ramps included).
    pub night: HashMap<String, bool>,
    pub running: HashMap<String, BTreeSet<i64>>,
}

/// Production state of a line at local minute-of-week: its level share 0 (idle) .. 1.
fn schedule(shape: &Shape, night: bool, saturday: bool, ramp_s: f64, local: i64) -> f64 {
    let dow = (local.div_euclid(DAY) + 3).rem_euclid(7); // 1970-01-01 was a Thursday: 0 = Monday
    let sec = local.rem_euclid(DAY) as f64;
    let works = |d: i64| d < 5 || (d == 5 && saturday);
    // Working spans of the day in seconds after local midnight, possibly past 24 h.
    let spans: Vec<(f64, f64)> = if night {
        vec![(22.0 * 3600.0, 30.0 * 3600.0)]
    } else {
        match shape.shifts {
            1 => vec![(8.0 * 3600.0, 17.0 * 3600.0)],
            2 => vec![(6.0 * 3600.0, 22.0 * 3600.0)],
            _ => vec![(0.0, 24.0 * 3600.0)],
        }
    };
    let mut level: f64 = 0.0;
    for back in [0i64, 1] {
        let d = dow - back;
        if !works(d.rem_euclid(7)) {
            continue;
        }
        let s = sec + back as f64 * 86_400.0;
        for &(a, b) in &spans {
            // A three-shift plant runs through the night of working days.
            let (a, b) = if shape.shifts >= 3 && !night && works((d + 1).rem_euclid(7)) {
                (a, b + 1.0)
            } else {
                (a, b)
            };
            let l = if s < a - ramp_s || s >= b + ramp_s {
                0.0
            } else if s < a {
                (s - (a - ramp_s)) / ramp_s
            } else if s < b {
                1.0
            } else {
                1.0 - (s - b) / ramp_s
            };
            level = level.max(l);
        }
    }
    level
}

impl GenFleet {
    pub fn new(shape: Shape) -> GenFleet {
        let start = 1_717_171_200 + 2 * DAY; // Monday 2024-06-03 00:00 local
        let iv = shape.interval_s as i64;
        let n = shape.days as i64 * DAY / iv;
        let mut rng = Rng::new(shape.seed);
        let mut meters = Vec::new();
        let mut night_map = HashMap::new();
        let mut running_map: HashMap<String, BTreeSet<i64>> = HashMap::new();
        let eval_start = start + shape.train_days as i64 * DAY;
        for e in 0..shape.enterprises {
            let ent = format!("G{e:04}");
            // Every sixth enterprise produces at night (a count the test can rely on).
            let night = e % 6 == 3;
            let saturday = rng.unit() < shape.weekend_share;
            night_map.insert(ent.clone(), night);
            let lines = 1 + rng.below(3) as usize;
            let mut share = vec![0.0f64; n as usize];
            let running = running_map.entry(ent.clone()).or_default();
            for l in 0..lines {
                let level_kw = 50.0 * (1.0 + 20.0 * rng.unit());
                let idle = rng.range(&shape.idle);
                let ramp_s = rng.range(&shape.ramp_min) * 60.0;
                let mut vals = Vec::with_capacity(n as usize);
                for k in 0..n {
                    let t = start + k * iv;
                    // Mean of the schedule over the interval (a few points).
                    let s: f64 = (0..4)
                        .map(|j| {
                            let u = t + (iv * j + iv / 2) / 4;
                            schedule(&shape, night, saturday, ramp_s, u + OFFSET)
                        })
                        .sum::<f64>()
                        / 4.0;
                    share[k as usize] = share[k as usize].max(s);
                    // Running (ground truth): at least half the way from idle to full.
                    if s >= 0.5 {
                        running.insert(t);
                    }
                    let kw = level_kw * (idle + (1.0 - idle) * s);
                    vals.push(kw);
                }
                meters.push(gen_meter(
                    &shape,
                    &mut rng,
                    format!("{ent}-P{l}"),
                    &ent,
                    Role::Production,
                    start,
                    vals,
                    Vec::new(),
                ));
            }
            // Treatment: runs from a quarter hour before production leaves idle until a
            // quarter hour after it is back; some run around the clock; some idle low.
            let t_kw = 20.0 * (1.0 + 10.0 * rng.unit());
            let always = rng.unit() < 0.2;
            let idle_t = if rng.unit() < 0.5 { 0.02 } else { 0.15 };
            let lead = (900 / iv).max(1) as usize;
            let mut offs = Vec::new();
            let evaluated = (eval_start - start) / iv..n;
            for _ in 0..shape.switch_offs {
                // Half of the switch-offs start in the last two hours of a shift or in its
                // first hour, the rest anywhere in working time.
                for _attempt in 0..200 {
                    let k = evaluated.start
                        + rng.below((evaluated.end - evaluated.start) as u64) as i64;
                    let len = (2 * HOUR + rng.below(6 * HOUR as u64) as i64) / iv;
                    let (a, b) = (k, (k + len).min(n));
                    // In the first hour of a shift or its last two: full production
                    // begins in the hour before or ends in the two hours after.
                    let edge = |k: i64| {
                        let lo = (k - HOUR / iv).max(0) as usize;
                        let hi = (k + 2 * HOUR / iv).min(n - 1) as usize;
                        let full = share[lo] > 0.99;
                        share[lo..=hi].iter().any(|&s| (s > 0.99) != full)
                    };
                    let want_edge = rng.unit() < 0.5;
                    if want_edge && !edge(a) {
                        continue;
                    }
                    let overlap = (a..b).filter(|&j| share[j as usize] >= 0.5).count() as i64 * iv;
                    if overlap < HOUR {
                        continue;
                    }
                    if offs
                        .iter()
                        .any(|r: &Range<i64>| r.start < b + 8 && a < r.end + 8)
                    {
                        continue;
                    }
                    offs.push(a..b);
                    break;
                }
            }
            offs.sort_by_key(|r| r.start);
            let mut vals = Vec::with_capacity(n as usize);
            for k in 0..n as usize {
                let lo = k.saturating_sub(lead);
                let hi = (k + lead).min(n as usize - 1);
                let on = always || share[lo..=hi].iter().any(|&s| s > 0.0);
                let mut kw = if on { t_kw } else { idle_t * t_kw };
                if offs.iter().any(|r| r.contains(&(k as i64))) {
                    kw = 0.01 * t_kw;
                }
                vals.push(kw);
            }
            let multipliers = if shape.kind == Quantity::CumulativeRegister {
                vec![(start + (shape.days as i64 * 2 / 3) * DAY + 10 * HOUR, 80.0)]
            } else {
                Vec::new()
            };
            let mut m = gen_meter(
                &shape,
                &mut rng,
                format!("{ent}-T"),
                &ent,
                Role::Treatment,
                start,
                vals,
                multipliers,
            );
            m.switch_offs = offs
                .iter()
                .map(|r| start + r.start * iv..start + r.end * iv)
                .collect();
            meters.push(m);
        }
        GenFleet {
            shape,
            start,
            meters,
            night: night_map,
            running: running_map,
        }
    }

    pub fn end(&self) -> i64 {
        self.start + self.shape.days as i64 * DAY
    }

    pub fn eval_start(&self) -> i64 {
        self.start + self.shape.train_days as i64 * DAY
    }

    /// The catalog rows, as `import_csv --meters` reads them: the kind always, the interval
    /// with `interval` (else left for the import to infer).
    pub fn catalog_csv(&self, interval: bool) -> String {
        let mut s = String::from(
            "meter_id,enterprise_id,role,kind,interval_s,multiplier,multiplier_changes\n",
        );
        let kind = meterstore::monitor::kind_name(self.shape.kind);
        let iv = if interval {
            self.shape.interval_s.to_string()
        } else {
            String::new()
        };
        for m in &self.meters {
            let role = match m.role {
                Role::Production => "production",
                Role::Treatment => "treatment",
            };
            let (first, changes) = if m.multipliers.is_empty() {
                (String::new(), String::new())
            } else {
                let c: Vec<String> = m
                    .multipliers
                    .iter()
                    .map(|(t, v)| format!("{t}={v}"))
                    .collect();
                ("40".to_owned(), c.join(";"))
            };
            s.push_str(&format!(
                "{},{},{role},{kind},{iv},{first},{changes}\n",
                m.id, m.enterprise
            ));
        }
        s
    }

    /// The readings as long-format CSV with the given value column.
    pub fn readings_csv(&self, value_column: &str) -> String {
        let mut s = format!("meter_id,ts,{value_column}\n");
        for m in &self.meters {
            for (t, v) in &m.readings {
                s.push_str(&format!("{},{t},{v}\n", m.id));
            }
        }
        s
    }

    /// Appends every reading to `store`, registering the meters.
    pub fn fill(&self, store: &Store) {
        for m in &self.meters {
            let meta = meterstore::MeterMeta {
                kind: self.shape.kind,
                interval_s: Some(self.shape.interval_s),
                unit: "kWh".into(),
            };
            store.register_meter(&m.id, meta).unwrap();
            let batch: Vec<Reading> = m
                .readings
                .iter()
                .map(|&(ts, value)| Reading::new(&m.id, ts, value))
                .collect();
            store.append(&batch).unwrap();
        }
    }
}

/// Noise, gaps and the quantity's encoding of a power series (kW per interval).
#[allow(clippy::too_many_arguments)]
fn gen_meter(
    shape: &Shape,
    rng: &mut Rng,
    id: String,
    ent: &str,
    role: Role,
    start: i64,
    kw: Vec<f64>,
    multipliers: Vec<(i64, f64)>,
) -> GenMeter {
    let iv = shape.interval_s as i64;
    let n = kw.len() as i64;
    let mut lost = vec![false; kw.len()];
    for _ in 0..shape.run_gaps {
        let a = rng.below(n as u64) as i64;
        let len = (2 * HOUR + rng.below(8 * HOUR as u64) as i64) / iv;
        for k in a..(a + len).min(n) {
            lost[k as usize] = true;
        }
    }
    let mut readings = Vec::with_capacity(kw.len());
    let mut register = 1000.0 * rng.unit();
    for (k, &p) in kw.iter().enumerate() {
        let t = start + k as i64 * iv;
        let p = (p * (1.0 + shape.noise * rng.normal())).max(0.0);
        let e = p * iv as f64 / 3600.0;
        let gone = lost[k] || rng.unit() < shape.scattered_gaps;
        let mult = multipliers
            .iter()
            .rev()
            .find(|c| c.0 <= t)
            .map_or(if multipliers.is_empty() { 1.0 } else { 40.0 }, |c| c.1);
        let value = match shape.kind {
            Quantity::Power => p,
            Quantity::CumulativeRegister => register,
            _ => e,
        };
        register += e / mult;
        if !gone {
            // Wh resolution, as meters record.
            let v = (value * 1000.0).round() / 1000.0;
            readings.push((t, v));
        }
    }
    GenMeter {
        id,
        enterprise: ent.to_owned(),
        role,
        readings,
        multipliers,
        switch_offs: Vec::new(),
    }
}

/// Scores alarms over `[from, to)`. A switch-off counts when it lies in the range and
/// production ran (at least half the way from idle to full power) during an hour or more
/// of it that the treatment meter's readings cover; it is found by an overlapping 产治不同步
/// or `treatment_stopped` alarm on its treatment meter. A treatment alarm is true when it
/// overlaps a switch-off of its meter. A night producer is found by any `night_production`
/// alarm of its enterprise; such an alarm is true when the enterprise produces at night.
pub fn score(fleet: &GenFleet, alarms: &[Alarm], from: i64, to: i64) -> Scores {
    let iv = fleet.shape.interval_s as i64;
    let mut sc = Scores::default();
    let overlaps =
        |a: &Alarm, r: &Range<i64>| a.start < r.end && a.end.unwrap_or(i64::MAX) > r.start;
    let treatment_rules = [
        RuleId::ProductionTreatmentMismatch,
        RuleId::TreatmentStopped,
        RuleId::TreatmentUnderperforming,
    ];
    for m in fleet.meters.iter().filter(|m| m.role == Role::Treatment) {
        let run = &fleet.running[&m.enterprise];
        let have: BTreeSet<i64> = m.readings.iter().map(|r| r.0).collect();
        // An interval is observed when the treatment meter's readings give its power.
        let observed = |t: i64| {
            have.contains(&t)
                && (fleet.shape.kind != Quantity::CumulativeRegister || have.contains(&(t + iv)))
        };
        for s in &m.switch_offs {
            if s.start < from || s.end > to {
                continue;
            }
            let seen = run.range(s.clone()).filter(|&&t| observed(t)).count() as i64;
            if seen * iv < HOUR {
                continue;
            }
            sc.switch_offs += 1;
            if super::found_by(alarms, &m.id, s) {
                sc.switch_offs_found += 1;
            }
        }
        for a in alarms
            .iter()
            .filter(|a| treatment_rules.contains(&a.rule) && a.meters[0] == m.id)
        {
            sc.treatment_alarms += 1;
            if m.switch_offs.iter().any(|s| overlaps(a, s)) {
                sc.treatment_alarms_true += 1;
            }
        }
    }
    for (e, &night) in &fleet.night {
        let found = alarms
            .iter()
            .any(|a| a.rule == RuleId::NightProduction && &a.enterprise == e);
        if night {
            sc.night_producers += 1;
            sc.night_found += found as usize;
        }
    }
    for a in alarms.iter().filter(|a| a.rule == RuleId::NightProduction) {
        sc.night_alarms += 1;
        sc.night_alarms_true += (fleet.night.get(&a.enterprise) == Some(&true)) as usize;
    }
    sc
}

/// The shapes of the accuracy test, with the seed to generate them from.
pub fn shapes(seed: u64) -> Vec<Shape> {
    let base = Shape {
        name: "",
        seed,
        enterprises: 30,
        days: 28,
        train_days: 14,
        interval_s: 900,
        shifts: 2,
        weekend_share: 0.3,
        idle: 0.0..0.45,
        ramp_min: 30.0..90.0,
        noise: 0.03,
        scattered_gaps: 0.01,
        run_gaps: 0,
        kind: Quantity::IntervalEnergy,
        switch_offs: 3,
    };
    vec![
        Shape {
            name: "two shifts, ramps, base load, 15-min energy, low noise, scattered gaps",
            ..base.clone()
        },
        Shape {
            name: "three shifts, 15-min registers with a CT change, high noise, run gaps",
            seed: seed ^ 1,
            shifts: 3,
            noise: 0.10,
            scattered_gaps: 0.02,
            run_gaps: 3,
            kind: Quantity::CumulativeRegister,
            ..base.clone()
        },
        Shape {
            name: "one shift, weekend work, 5-min power, high noise, both gaps",
            seed: seed ^ 2,
            shifts: 1,
            weekend_share: 0.6,
            interval_s: 300,
            noise: 0.10,
            scattered_gaps: 0.03,
            run_gaps: 2,
            kind: Quantity::Power,
            ..base
        },
    ]
}

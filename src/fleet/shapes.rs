//! Fleets of other data shapes than the sample fleet, for benchmarks and tests that must
//! hold on every shape: smooth production curves, scattered drops, 1-minute power,
//! cumulative registers with rollovers and meter exchanges, and a zone with daylight
//! saving.
//!
//! A [`ShapedFleet`] has the sample fleet's enterprises and meters (ids, roles, levels,
//! night producers, switch-offs); only the readings differ by [`Shape`]. Everything is
//! deterministic by seed, and each meter's series comes with its ground truth: the day
//! and night energy and covered hours under the default window (08:00-20:00) in the
//! shape's zone, as [`Store::day_night`](crate::Store::day_night) defines them (see
//! `docs/SCANS.md`), computed by the generator from the energies it drew.
//!
//! ```
//! use meterstore::fleet::{Shape, ShapedFleet};
//! let fleet = ShapedFleet::new(Shape::Register, 6, 3, 7);
//! let s = fleet.series(0);
//! assert_eq!(s.ts.len(), s.values.len());
//! assert!(s.truth.day_kwh > 0.0);
//! ```

use super::{append_series, mix, Fleet, FleetConfig, MeterSpec, Rng, Role, Schedule};
use crate::error::{Error, Result};
use crate::types::{MeterMeta, Quantity};
use crate::{DayNightScan, DayWindow, Zone};
use std::sync::Arc;

/// The data shape of a generated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// The sample fleet ([`Fleet`]): 15-minute Wh energies, production switching between
    /// an idle and a running level with 4% additive-like noise, 0.5% of readings in short
    /// outages, UTC+08:00.
    Sample,
    /// 15-minute Wh energies following smooth production curves (ramps at shift start and
    /// end, a seasonal swing) with 2% multiplicative noise; treatment meters follow their
    /// enterprise's production. Consecutive readings differ little, so the encoder tends
    /// to store deltas. 0.5% of readings in short outages, UTC+08:00.
    Smooth,
    /// [`Shape::Smooth`] with 0.3% of single readings missing at random, outages of up to
    /// a day, and a 1- to 3-day outage on about 3% of meters.
    Drops,
    /// 1-minute average power in kW (W resolution, [`Quantity::Power`]), smooth curves with
    /// 3% multiplicative noise, outages of up to 4 hours, UTC+08:00.
    Minute,
    /// 15-minute cumulative kWh registers (Wh resolution, [`Quantity::CumulativeRegister`])
    /// over smooth consumption: a 6-digit counter that rolls over at 1,000,000 kWh (its
    /// start is drawn so that most meters roll over within a year) and one meter exchange
    /// per meter (the new counter starts low; on half of the meters with a gap of up to 2
    /// hours).
    Register,
    /// [`Shape::Smooth`] in Europe/Berlin local time (daylight saving: 23- and 25-hour
    /// days), scanned in that zone.
    Dst,
}

impl Shape {
    /// Every shape, in the order of the benchmark tables.
    pub const ALL: [Shape; 6] = [
        Shape::Sample,
        Shape::Smooth,
        Shape::Drops,
        Shape::Minute,
        Shape::Register,
        Shape::Dst,
    ];

    /// The shape's name on command lines: `sample`, `smooth`, `drops`, `minute`,
    /// `register`, `dst`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Sample => "sample",
            Shape::Smooth => "smooth",
            Shape::Drops => "drops",
            Shape::Minute => "minute",
            Shape::Register => "register",
            Shape::Dst => "dst",
        }
    }

    /// The shape named `name` (see [`Shape::name`]).
    pub fn parse(name: &str) -> Result<Shape> {
        Shape::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
                Error::InvalidArgument(format!(
                    "unknown data shape {name:?}; known: {}",
                    names.join(", ")
                ))
            })
    }

    /// Reading interval in seconds.
    pub fn interval_s(self) -> u32 {
        match self {
            Shape::Minute => 60,
            _ => 900,
        }
    }

    /// What the values measure.
    pub fn kind(self) -> Quantity {
        match self {
            Shape::Minute => Quantity::Power,
            Shape::Register => Quantity::CumulativeRegister,
            _ => Quantity::IntervalEnergy,
        }
    }

    /// The zone of the shapes' local time and of their scans: `+08:00`, or
    /// `Europe/Berlin` for [`Shape::Dst`].
    pub fn zone_name(self) -> &'static str {
        match self {
            Shape::Dst => "Europe/Berlin",
            _ => "+08:00",
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Shape {
    type Err = Error;
    fn from_str(s: &str) -> Result<Shape> {
        Shape::parse(s)
    }
}

/// A meter's day/night figures under the default window (08:00-20:00) in its shape's
/// zone over all its readings, as the day/night scan defines them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DayNightTruth {
    /// Energy with interval start in the day window, kWh.
    pub day_kwh: f64,
    /// Energy with interval start outside it, kWh.
    pub night_kwh: f64,
    /// Day hours covered by readings (by register differences kept, for registers).
    pub day_hours: f64,
    /// Night hours covered.
    pub night_hours: f64,
}

/// One meter's readings and their ground truth.
#[derive(Debug, Clone)]
pub struct Series {
    /// Interval starts, UTC Unix seconds, increasing, on the interval grid.
    pub ts: Vec<i64>,
    /// Values in the shape's quantity: kWh per interval, kW, or the kWh register.
    pub values: Vec<f64>,
    /// Day/night figures of these readings.
    pub truth: DayNightTruth,
}

/// Local time of each grid slot of the fleet's span, shared by its meters.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Minute of the local day.
    minute: u16,
    /// Local days since the first local midnight.
    day: u16,
}

/// A fleet of one [`Shape`]: the sample fleet's meters with that shape's readings.
#[derive(Debug, Clone)]
pub struct ShapedFleet {
    shape: Shape,
    base: Fleet,
    zone: Zone,
    clock: Arc<[Slot]>,
}

/// Register modulus in Wh: a 6-digit kWh counter.
const REGISTER_MOD_WH: i64 = 1_000_000_000;

impl ShapedFleet {
    /// About `meters` meters (enterprises of 1 to 3 production meters and one treatment
    /// meter) with `days` days of readings of `shape`, from 2024-01-01 local midnight.
    pub fn new(shape: Shape, meters: usize, days: u32, seed: u64) -> ShapedFleet {
        // The zone names are constants that the tz database bundled with the crate holds.
        let zone = Zone::parse(shape.zone_name()).expect("a zone of the bundled tz database");
        let start = match shape {
            Shape::Dst => 1_704_063_600, // 2024-01-01T00:00+01:00
            _ => 1_704_038_400,          // 2024-01-01T00:00+08:00
        };
        let base = Fleet::new(FleetConfig {
            enterprises: meters.div_ceil(3).max(1),
            days,
            start,
            interval_s: shape.interval_s(),
            seed,
            ..FleetConfig::default()
        });
        let iv = shape.interval_s() as i64;
        let n = (86_400 / iv) as usize * days as usize;
        let first_day = start + zone.offset_at(start) as i64;
        let clock: Arc<[Slot]> = (0..n)
            .map(|k| {
                let t = start + k as i64 * iv;
                let local = t + zone.offset_at(t) as i64;
                Slot {
                    minute: (local.rem_euclid(86_400) / 60) as u16,
                    day: (local.div_euclid(86_400) - first_day.div_euclid(86_400))
                        .clamp(0, u16::MAX as i64) as u16,
                }
            })
            .collect();
        ShapedFleet {
            shape,
            base,
            zone,
            clock,
        }
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Every meter with its enterprise and role, in id order.
    pub fn meters(&self) -> &[MeterSpec] {
        self.base.meters()
    }

    /// Days of readings.
    pub fn days(&self) -> u32 {
        self.base.config().days
    }

    /// First local midnight of the data, UTC Unix seconds.
    pub fn start(&self) -> i64 {
        self.base.config().start
    }

    /// Metadata to register each meter with: the shape's quantity, interval and unit.
    pub fn meta(&self) -> MeterMeta {
        MeterMeta {
            kind: self.shape.kind(),
            interval_s: Some(self.shape.interval_s()),
            unit: if self.shape == Shape::Minute {
                "kW"
            } else {
                "kWh"
            }
            .to_owned(),
        }
    }

    /// The zone of the shape's local time.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The scan whose results the ground truth gives: the default window in the shape's
    /// zone.
    pub fn scan(&self) -> DayNightScan {
        DayNightScan {
            zone: self.zone.clone(),
            ..DayNightScan::default()
        }
    }

    /// Readings of meter `i` and their ground truth.
    pub fn series(&self, i: usize) -> Series {
        if self.shape == Shape::Sample {
            let (ts, values) = self.base.series(i);
            let mut truth = Tally::default();
            let c = self.base.config();
            for (t, v) in ts.iter().zip(&values) {
                let k = ((t - c.start) / c.interval_s as i64) as usize;
                truth.add(self.clock[k], (v * 1000.0).round() as i64);
            }
            return Series {
                ts,
                values,
                truth: truth.finish(self.shape),
            };
        }
        self.curve_series(i)
    }

    /// Generates meter `i`'s readings and appends them to `store` as one batch; returns
    /// how many. The meter must be registered with [`ShapedFleet::meta`], or the store
    /// must register unknown meters so.
    pub fn append_meter(&self, store: &crate::Store, i: usize) -> Result<usize> {
        let s = self.series(i);
        append_series(store, &self.meters()[i].id, &s.ts, &s.values)
    }

    /// Total readings of the fleet (generates every series).
    pub fn total_readings(&self) -> usize {
        (0..self.meters().len())
            .map(|i| self.series(i).ts.len())
            .sum()
    }

    /// The smooth shapes: a production curve per enterprise, multiplicative noise, gaps
    /// by shape, and the values in the shape's quantity.
    fn curve_series(&self, i: usize) -> Series {
        let c = self.base.config();
        let spec = &self.base.meters()[i];
        let iv = c.interval_s as i64;
        let n = self.clock.len();
        let per_hour = 3600 / iv as usize;
        let Schedule {
            open_h,
            close_h,
            works_weekends,
            rng: mut er,
        } = self.base.schedule(i);
        let idle = er.range(0.05, 0.3);
        let ramp_h = er.range(0.5, 2.0);
        let season_phase = er.range(0.0, std::f64::consts::TAU);
        let mut r = Rng::new(mix(c.seed, i as u64, 7));
        let noise = match self.shape {
            Shape::Minute => 0.03,
            _ => 0.02,
        };
        // Outages: (share of readings, longest run in hours); runs start with
        // probability share / mean length.
        let (outage_share, longest_h) = match self.shape {
            Shape::Drops => (0.005, 24),
            Shape::Minute => (0.005, 4),
            _ => (0.005, 4),
        };
        let longest = (longest_h * per_hour).max(1);
        let outage_p = outage_share / ((longest + 1) as f64 / 2.0);
        let single_drop = if self.shape == Shape::Drops {
            0.003
        } else {
            0.0
        };
        let mut outage_left = 0usize;
        // Drops: a 1- to 3-day outage on about 3% of meters.
        let long_outage = (self.shape == Shape::Drops && r.unit() < 0.03 && n > 0).then(|| {
            let len = (1 + r.next_u64() % 3) as usize * 24 * per_hour;
            let at = (r.next_u64() % n as u64) as usize;
            at..(at + len).min(n)
        });
        let mut switch = spec.switch_offs.iter().peekable();
        let hours = iv as f64 / 3600.0;
        let shift = |h: f64| {
            let up = |x: f64| smoothstep((x - open_h) / ramp_h + 0.5);
            let down = |x: f64| 1.0 - smoothstep((x - close_h) / ramp_h + 0.5);
            [h - 24.0, h, h + 24.0]
                .into_iter()
                .map(|x| up(x).min(down(x)))
                .fold(0.0, f64::max)
        };
        // Register state: counter in Wh, the exchange slot and whether a gap comes with it.
        let mut counter = {
            let year_wh = spec.level_kw * 1000.0 * 24.0 * c.days as f64 * 0.5;
            (REGISTER_MOD_WH - (year_wh * r.unit()) as i64).rem_euclid(REGISTER_MOD_WH)
        };
        let exchange = (n > 2).then(|| 1 + (r.next_u64() % (n as u64 - 1)) as usize);
        let exchange_gap = if r.unit() < 0.5 {
            1 + (r.next_u64() % (2 * per_hour as u64)) as usize
        } else {
            0
        };
        let mut reg = Vec::new(); // (slot, energy of its interval in Wh or None when unusable)
        let mut ts = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut tally = Tally::default();
        for (k, slot) in self.clock.iter().enumerate() {
            let t = c.start + k as i64 * iv;
            let h = slot.minute as f64 / 60.0 + hours / 2.0;
            let weekend = slot.day % 7 >= 5; // 2024-01-01 was a Monday.
            let running = if works_weekends || !weekend {
                shift(h)
            } else {
                0.0
            };
            let season =
                1.0 + 0.1 * (std::f64::consts::TAU * slot.day as f64 / 365.0 + season_phase).sin();
            let mut kw = spec.level_kw
                * season
                * match spec.role {
                    Role::Production => idle + (1.0 - idle) * running,
                    Role::Treatment => 0.25 + 0.75 * running,
                };
            if spec.role == Role::Treatment {
                while switch.next_if(|s| s.end <= t).is_some() {}
                if switch.peek().is_some_and(|s| s.start <= t && t < s.end) {
                    kw = spec.level_kw * 0.02;
                }
            }
            kw *= (noise * r.normal()).exp();
            let mut present = true;
            if outage_left > 0 {
                outage_left -= 1;
                present = false;
            } else if r.unit() < outage_p {
                outage_left = (r.next_u64() % longest as u64) as usize;
                present = false;
            } else if r.unit() < single_drop {
                present = false;
            }
            if long_outage.as_ref().is_some_and(|o| o.contains(&k)) {
                present = false;
            }
            match self.shape {
                Shape::Minute => {
                    let w = (kw * 1000.0).round() as i64;
                    if present {
                        ts.push(t);
                        values.push(w as f64 / 1000.0);
                        tally.add(*slot, w);
                    }
                }
                Shape::Register => {
                    if Some(k) == exchange {
                        // The new meter's counter starts below the old one's last reading,
                        // so the difference across the exchange is negative (left out).
                        let last = reg.last().map_or(counter, |&(_, c, _)| c);
                        let fresh = (r.unit() * last.min(20_000) as f64) as i64;
                        if let Some(prev) = reg.last_mut() {
                            if prev.0 + 1 == k {
                                prev.2 = (fresh >= prev.1).then(|| fresh - prev.1);
                            }
                        }
                        counter = fresh;
                    }
                    let in_exchange_gap = exchange.is_some_and(|x| k >= x && k < x + exchange_gap);
                    if present && !in_exchange_gap {
                        ts.push(t);
                        values.push(counter as f64 / 1000.0);
                    }
                    let wh = (kw * hours * 1000.0).round() as i64;
                    let next = counter + wh;
                    let wraps = next >= REGISTER_MOD_WH;
                    if present && !in_exchange_gap {
                        reg.push((k, counter, (!wraps).then_some(wh)));
                    }
                    counter = next.rem_euclid(REGISTER_MOD_WH);
                }
                _ => {
                    let wh = (kw * hours * 1000.0).round() as i64;
                    if present {
                        ts.push(t);
                        values.push(wh as f64 / 1000.0);
                        tally.add(*slot, wh);
                    }
                }
            }
        }
        if self.shape == Shape::Register {
            // A difference counts when the next reading is in the next slot and the counter
            // neither rolled over nor was exchanged in between.
            for w in reg.windows(2) {
                if let ((k, _, Some(wh)), (k2, _, _)) = (w[0], w[1]) {
                    if k2 == k + 1 {
                        tally.add(self.clock[k], wh);
                    }
                }
            }
        }
        Series {
            ts,
            values,
            truth: tally.finish(self.shape),
        }
    }
}

/// Hermite step from 0 (x <= 0) to 1 (x >= 1).
fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Day and night sums of integer values (Wh, or W for power) and readings counted.
#[derive(Default)]
struct Tally {
    sum: [i64; 2],
    count: [u64; 2],
}

impl Tally {
    fn add(&mut self, slot: Slot, v: i64) {
        let day = DayWindow::default().contains_minute(slot.minute as u32) as usize;
        self.sum[day] += v;
        self.count[day] += 1;
    }

    fn finish(&self, shape: Shape) -> DayNightTruth {
        let hours = shape.interval_s() as f64 / 3600.0;
        // Power: W x interval hours is Wh.
        let to_kwh = |s: i64| match shape.kind() {
            Quantity::Power => s as f64 * hours / 1000.0,
            _ => s as f64 / 1000.0,
        };
        DayNightTruth {
            day_kwh: to_kwh(self.sum[1]),
            night_kwh: to_kwh(self.sum[0]),
            day_hours: self.count[1] as f64 * hours,
            night_hours: self.count[0] as f64 * hours,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for s in Shape::ALL {
            assert_eq!(Shape::parse(s.name()).unwrap(), s);
        }
        let e = Shape::parse("spiky").unwrap_err().to_string();
        assert!(e.contains("spiky") && e.contains("register"), "{e}");
    }

    #[test]
    fn deterministic_on_grid_and_in_resolution() {
        for shape in Shape::ALL {
            let (a, b) = (
                ShapedFleet::new(shape, 9, 4, 11),
                ShapedFleet::new(shape, 9, 4, 11),
            );
            let iv = shape.interval_s() as i64;
            for i in 0..a.meters().len() {
                let (x, y) = (a.series(i), b.series(i));
                assert_eq!((&x.ts, &x.values), (&y.ts, &y.values), "{shape}");
                assert!(x.ts.windows(2).all(|w| w[0] < w[1]));
                assert!(x.ts.iter().all(|t| t % iv == 0));
                assert!(x
                    .values
                    .iter()
                    .all(|v| *v >= 0.0 && ((v * 1000.0).round() / 1000.0 - v).abs() < 1e-9));
            }
        }
    }

    #[test]
    fn registers_roll_over_and_get_exchanged() {
        let f = ShapedFleet::new(Shape::Register, 30, 365, 5);
        let (mut drops, mut rollovers) = (0, 0);
        for i in 0..f.meters().len() {
            let s = f.series(i);
            drops += s.values.windows(2).filter(|w| w[1] < w[0]).count();
            rollovers += s
                .values
                .windows(2)
                .filter(|w| w[0] > 900_000.0 && w[1] < 100_000.0)
                .count();
        }
        // One exchange per meter plus the rollovers, which most meters have.
        assert!(rollovers > f.meters().len() / 2, "{rollovers}");
        assert!(drops > f.meters().len() + rollovers / 2, "{drops}");
    }

    #[test]
    fn dst_days_follow_berlin_time() {
        let f = ShapedFleet::new(Shape::Dst, 3, 120, 1);
        // 2024-03-31 is 23 hours long in Berlin: 92 slots of that local day.
        let day = (31 + 29 + 30) as u16;
        assert_eq!(f.clock.iter().filter(|s| s.day == day).count(), 92);
        assert_eq!(f.clock.iter().filter(|s| s.day == day - 1).count(), 96);
    }

    #[test]
    fn drops_miss_more_readings_than_smooth() {
        let count = |s| ShapedFleet::new(s, 60, 30, 3).total_readings();
        let (smooth, drops) = (count(Shape::Smooth), count(Shape::Drops));
        let full = ShapedFleet::new(Shape::Smooth, 60, 30, 3).meters().len() * 30 * 96;
        assert!(smooth < full && drops < smooth, "{full} {smooth} {drops}");
        assert!(drops as f64 > full as f64 * 0.95);
    }
}

//! A deterministic synthetic fleet: enterprises with production and treatment meters
//! delivering 15-minute interval energy at Wh resolution, with day/night shapes, noise,
//! gaps, a share of night producers and treatment facilities switched off during
//! production. Tests, benchmarks and examples all use it; the ground truth comes with it.
//!
//! Every meter's series depends only on the seed and the meter's index, so meters can be
//! generated in any order and in parallel.
//!
//! [`ShapedFleet`] gives the same meters readings of other data shapes ([`Shape`]: smooth
//! curves, drops, 1-minute power, registers, a zone with daylight saving).

use crate::types::{MeterMeta, UtcOffset};
use std::ops::Range;

mod shapes;

pub use shapes::{DayNightTruth, Series, Shape, ShapedFleet};

/// Shape of a generated fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Number of enterprises; each has 1 to 3 production meters and one treatment meter.
    pub enterprises: usize,
    /// Days of readings.
    pub days: u32,
    /// First local midnight of the data, UTC Unix seconds (must be on the interval grid).
    pub start: i64,
    /// Reading interval in seconds (900 = 15 minutes).
    pub interval_s: u32,
    /// Local time of the shapes (production hours, night).
    pub offset: UtcOffset,
    /// Share of enterprises that produce mainly at night.
    pub night_producer_share: f64,
    /// Share of treatment facilities that get switched off during production.
    pub switch_off_share: f64,
    /// Share of readings lost in outages (gaps).
    pub gap_share: f64,
    /// Relative standard deviation of the noise on each reading.
    pub noise: f64,
    /// Seed of everything random.
    pub seed: u64,
}

impl Default for FleetConfig {
    /// 100 enterprises, one year from 2024-01-01 local midnight in UTC+08:00, 15-minute
    /// readings, 5% night producers, 10% facilities switched off, 0.5% gaps, 4% noise.
    fn default() -> Self {
        FleetConfig {
            enterprises: 100,
            days: 365,
            start: 1_704_038_400, // 2024-01-01T00:00+08:00
            interval_s: 900,
            offset: UtcOffset::CHINA,
            night_producer_share: 0.05,
            switch_off_share: 0.10,
            gap_share: 0.005,
            noise: 0.04,
            seed: 2024,
        }
    }
}

/// What a meter measures in its enterprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A production line.
    Production,
    /// A pollution-control (treatment) facility.
    Treatment,
}

/// One generated meter and its ground truth.
#[derive(Debug, Clone)]
pub struct MeterSpec {
    /// External id, `M` and six digits.
    pub id: String,
    /// Enterprise id, `E` and five digits.
    pub enterprise: String,
    /// Role in the enterprise.
    pub role: Role,
    /// Whether the enterprise produces mainly at night.
    pub night_producer: bool,
    /// Production (or, for treatment, normal running) power in kW.
    pub level_kw: f64,
    /// For treatment meters: spans (UTC, half-open) when the facility was switched off
    /// while production ran.
    pub switch_offs: Vec<Range<i64>>,
}

/// A generated fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    config: FleetConfig,
    meters: Vec<MeterSpec>,
    /// Per meter: enterprise index and its production schedule seed.
    enterprise_of: Vec<usize>,
}

/// An enterprise's production schedule.
struct Schedule {
    /// Local hour production starts.
    open_h: f64,
    /// Local hour it ends; past 24 when it ends the next morning.
    close_h: f64,
    /// Whether it runs on Saturdays and Sundays.
    works_weekends: bool,
    /// The enterprise's random stream after the draws above.
    rng: Rng,
}

/// SplitMix64: tiny, fast, and stable forever, so a seed means the same fleet in every
/// version (unlike `rand`'s `StdRng`, whose algorithm may change between releases).
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut r = Rng::new(seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.rotate_left(32));
    r.next_u64()
}

impl Fleet {
    /// Builds the fleet's meter list and ground truth (series are generated on demand).
    pub fn new(config: FleetConfig) -> Fleet {
        let mut meters = Vec::new();
        let mut enterprise_of = Vec::new();
        let day = 86_400i64;
        for e in 0..config.enterprises {
            let mut r = Rng::new(mix(config.seed, e as u64, 1));
            let night = r.unit() < config.night_producer_share;
            let n_prod = 1 + (r.next_u64() % 3) as usize;
            let enterprise = format!("E{e:05}");
            let mut total = 0.0;
            for _ in 0..n_prod {
                // Log-uniform between 10 kW and 800 kW.
                let level = (r.range(10f64.ln(), 800f64.ln())).exp();
                total += level;
                meters.push(MeterSpec {
                    id: String::new(),
                    enterprise: enterprise.clone(),
                    role: Role::Production,
                    night_producer: night,
                    level_kw: level,
                    switch_offs: Vec::new(),
                });
                enterprise_of.push(e);
            }
            let mut switch_offs = Vec::new();
            if r.unit() < config.switch_off_share && config.days > 0 {
                // One to four switch-offs of 2 to 8 hours inside production hours.
                for _ in 0..1 + r.next_u64() % 4 {
                    let d = (r.next_u64() % config.days as u64) as i64;
                    let hours = 2 + (r.next_u64() % 7) as i64;
                    let local_start_h = if night { 21 } else { 9 };
                    let s = config.start + d * day + local_start_h * 3600;
                    switch_offs.push(s..s + hours * 3600);
                }
                switch_offs.sort_by_key(|s| s.start);
            }
            meters.push(MeterSpec {
                id: String::new(),
                enterprise,
                role: Role::Treatment,
                night_producer: night,
                level_kw: total * r.range(0.15, 0.35),
                switch_offs,
            });
            enterprise_of.push(e);
        }
        for (i, m) in meters.iter_mut().enumerate() {
            m.id = format!("M{i:06}");
        }
        Fleet {
            config,
            meters,
            enterprise_of,
        }
    }

    /// A fleet of about `meters` meters (enterprises average 3 meters).
    pub fn with_meters(meters: usize, days: u32) -> Fleet {
        Fleet::new(FleetConfig {
            enterprises: meters.div_ceil(3).max(1),
            days,
            ..FleetConfig::default()
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// Every meter with its ground truth, in id order.
    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    /// Metadata to register each meter with.
    pub fn meta(&self) -> MeterMeta {
        MeterMeta {
            interval_s: Some(self.config.interval_s),
            ..MeterMeta::default()
        }
    }

    /// The production schedule of meter `i`'s enterprise, shared by its meters.
    fn schedule(&self, i: usize) -> Schedule {
        let mut rng = Rng::new(mix(self.config.seed, self.enterprise_of[i] as u64, 2));
        let (open_h, close_h) = if self.meters[i].night_producer {
            (rng.range(19.0, 21.0), rng.range(5.0, 7.0) + 24.0)
        } else {
            (rng.range(7.0, 9.0), rng.range(17.0, 21.0))
        };
        let works_weekends = rng.unit() < 0.5;
        Schedule {
            open_h,
            close_h,
            works_weekends,
            rng,
        }
    }

    /// Readings of meter `i` as (timestamps, kWh values at Wh resolution).
    pub fn series(&self, i: usize) -> (Vec<i64>, Vec<f64>) {
        let c = &self.config;
        let spec = &self.meters[i];
        let iv = c.interval_s as i64;
        let per_day = (86_400 / iv) as usize;
        let n = per_day * c.days as usize;
        let Schedule {
            open_h,
            close_h,
            works_weekends,
            ..
        } = self.schedule(i);
        let mut r = Rng::new(mix(c.seed, i as u64, 3));
        let idle = r.range(0.05, 0.25);
        let hours = iv as f64 / 3600.0;
        let mut ts = Vec::with_capacity(n);
        let mut vals = Vec::with_capacity(n);
        let mut outage_left = 0usize;
        let mut switch = spec.switch_offs.iter().peekable();
        // Mean outage length of 8 slots: start probability = share / 8.
        let outage_p = c.gap_share / 8.0;
        for k in 0..n {
            let t = c.start + k as i64 * iv;
            if outage_left > 0 {
                outage_left -= 1;
                continue;
            }
            if r.unit() < outage_p {
                outage_left = 1 + (r.next_u64() % 15) as usize;
                continue;
            }
            let local_h = ((k % per_day) as f64 + 0.5) * hours * 1.0;
            let day_idx = k / per_day;
            // 2024-01-01 was a Monday.
            let weekend = day_idx % 7 >= 5;
            let in_shift =
                |h: f64| (h >= open_h && h < close_h) || (h + 24.0 >= open_h && h + 24.0 < close_h);
            let running = in_shift(local_h) && (works_weekends || !weekend);
            let mut kw = spec.level_kw * if running { 1.0 } else { idle };
            if spec.role == Role::Treatment {
                while switch.next_if(|s| s.end <= t).is_some() {}
                if switch.peek().is_some_and(|s| s.start <= t && t < s.end) {
                    kw = spec.level_kw * 0.02;
                }
            }
            kw *= (1.0 + c.noise * r.normal()).max(0.0);
            let wh = (kw * hours * 1000.0).round().max(0.0);
            ts.push(t);
            vals.push(wh / 1000.0);
        }
        (ts, vals)
    }

    /// Generates meter `i`'s readings and appends them to `store` as one batch; returns
    /// how many. The meter must be registered, or the store must register unknown meters.
    pub fn append_meter(&self, store: &crate::Store, i: usize) -> crate::Result<usize> {
        let (ts, vals) = self.series(i);
        append_series(store, &self.meters[i].id, &ts, &vals)
    }

    /// Total readings of the fleet (generates every series).
    pub fn total_readings(&self) -> usize {
        (0..self.meters.len()).map(|i| self.series(i).0.len()).sum()
    }
}

/// Appends one meter's readings to `store` as one batch; returns how many.
fn append_series(store: &crate::Store, id: &str, ts: &[i64], vals: &[f64]) -> crate::Result<usize> {
    let batch: Vec<crate::Reading<'_>> = ts
        .iter()
        .zip(vals)
        .map(|(&ts, &value)| crate::Reading::new(id, ts, value))
        .collect();
    store.append(&batch)?;
    Ok(batch.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_on_grid() {
        let f = Fleet::with_meters(30, 10);
        let g = Fleet::with_meters(30, 10);
        for i in 0..f.meters().len() {
            let (a, b) = (f.series(i), g.series(i));
            assert_eq!(a.0, b.0);
            assert_eq!(a.1, b.1);
            assert!(a.0.iter().all(|t| t % 900 == 0));
            assert!(a
                .1
                .iter()
                .all(|v| *v >= 0.0 && (v * 1000.0).round() / 1000.0 == *v));
        }
    }

    #[test]
    fn night_producers_use_more_at_night() {
        let f = Fleet::new(FleetConfig {
            enterprises: 200,
            days: 14,
            night_producer_share: 0.2,
            ..FleetConfig::default()
        });
        let mut seen = [0usize; 2];
        for (i, m) in f
            .meters()
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == Role::Production)
        {
            let (ts, vs) = f.series(i);
            let (mut day, mut night) = (0.0, 0.0);
            for (t, v) in ts.iter().zip(&vs) {
                let h = (t + 8 * 3600).rem_euclid(86_400) / 3600;
                if (8..20).contains(&h) {
                    day += v
                } else {
                    night += v
                }
            }
            let ratio = night / day;
            assert_eq!(
                ratio > 1.5,
                m.night_producer,
                "meter {} ratio {ratio}",
                m.id
            );
            seen[m.night_producer as usize] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > 0);
    }

    #[test]
    fn gaps_are_present_but_rare() {
        let f = Fleet::with_meters(50, 30);
        let expected = f.meters().len() * 30 * 96;
        let got = f.total_readings();
        assert!(
            got < expected && got as f64 > expected as f64 * 0.98,
            "{got} of {expected}"
        );
    }
}

//! The units of the facility rules: quarter hours of a meter's intervals, judged only
//! with 3/4 of them (HJ 212 counts an hour valid with 45 of its 60 minutes).

use super::rules::MeterInfo;

/// Shortest unit of the facility rules, seconds: a quarter hour.
pub(crate) const MIN_UNIT_S: i64 = 900;

/// Share of a unit's intervals that must have a power for the unit to be judged: 3/4,
/// as HJ 212 counts an hour valid with 45 of its 60 minutes.
pub(crate) const MIN_UNIT_SHARE: f64 = 0.75;

/// The facility rules' unit for a treatment meter of interval `iv`: the whole number of
/// intervals closest to a quarter hour, at least one.
pub(crate) fn facility_unit(iv: i64) -> i64 {
    let k = ((MIN_UNIT_S as f64 / iv as f64).round() as i64).max(1);
    k * iv
}

/// Mean power of meter `m` over the unit `[t, t + u)`: the mean of its intervals' powers
/// there when at least [`MIN_UNIT_SHARE`] of them have one (`None` otherwise); for a meter
/// whose interval is at least `u`, the power of its interval holding `t`. The flag says
/// whether every interval has its power (nothing that arrives later can change it).
pub(crate) fn unit_power(
    m: &MeterInfo,
    t: i64,
    u: i64,
    value: impl Fn(i64) -> Option<f64>,
) -> (Option<f64>, bool) {
    if m.iv >= u {
        let pt = t.div_euclid(m.iv) * m.iv;
        let p = m.power_at(pt, &value);
        return (p, p.is_some());
    }
    let (mut sum, mut n, mut total) = (0.0, 0u32, 0u32);
    let mut s = super::batch::align_up(t, m.iv);
    while s < t + u {
        total += 1;
        if let Some(p) = m.power_at(s, &value) {
            sum += p;
            n += 1;
        }
        s += m.iv;
    }
    let judged = total > 0 && n as f64 >= MIN_UNIT_SHARE * total as f64;
    (judged.then(|| sum / n as f64), n == total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{CatalogMeter, MeterRole};
    use crate::types::Quantity;

    fn meter(kind: Quantity, iv: i64) -> MeterInfo {
        let mut meta = CatalogMeter::new("M", "E", MeterRole::Treatment);
        meta.kind = kind;
        meta.interval_s = Some(iv as u32);
        MeterInfo {
            meta,
            iv,
            profile: None,
        }
    }

    #[test]
    fn a_unit_needs_three_quarters_of_its_intervals() {
        assert_eq!(
            [60, 300, 420, 900, 3600].map(facility_unit),
            [900, 900, 840, 900, 3600]
        );
        let m = meter(Quantity::Power, 60);
        let first = |n: i64| move |t: i64| (t < n * 60).then_some(2.0);
        assert_eq!(unit_power(&m, 0, 900, first(15)), (Some(2.0), true));
        assert_eq!(unit_power(&m, 0, 900, first(12)), (Some(2.0), false));
        assert_eq!(unit_power(&m, 0, 900, first(11)), (None, false));
        // A register: 1 kWh a minute is 60 kW; a negative step (a replaced meter) and the
        // missing reading after the unit leave two of fifteen intervals out.
        let r = meter(Quantity::CumulativeRegister, 60);
        let reg = |t: i64| match t / 60 {
            k @ 0..=6 => Some(100.0 + k as f64),
            k @ 7..=14 => Some(k as f64),
            _ => None,
        };
        assert_eq!(unit_power(&r, 0, 900, reg), (Some(60.0), false));
        // A meter slower than the unit gives its interval's power.
        let h = meter(Quantity::IntervalEnergy, 3600);
        assert_eq!(
            unit_power(&h, 1800, 900, |t| (t == 0).then_some(5.0)).0,
            Some(5.0)
        );
    }
}

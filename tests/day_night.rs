//! Day/night scans against a naive reference that classifies each reading by its local
//! time, plus hand-built cases.

use meterstore::{
    DayNightScan, DayWindow, EnterpriseDayNight, MeterFilter, MeterMeta, Options, Quantity,
    Reading, Store, UnknownMeters, Zone,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

const Q: i64 = 900;
const T0: i64 = 1_711_497_600; // 2024-03-27T00:00Z: a week before London's and New York's...

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        unknown_meters: UnknownMeters::Register(MeterMeta::default()),
        ..Options::default()
    };
    let s = Store::open(dir.path(), opts).unwrap();
    (dir, s)
}

fn put(s: &Store, meter: &str, readings: &[(i64, f64)]) {
    let batch: Vec<Reading> = readings
        .iter()
        .map(|&(ts, value)| Reading::new(meter, ts, value))
        .collect();
    s.append(&batch).unwrap();
}

/// Reference: (day kWh, night kWh, day readings, night readings, day slots, night slots).
fn naive(
    readings: &BTreeMap<i64, f64>,
    from: i64,
    to: i64,
    w: DayWindow,
    zone: &str,
) -> (f64, f64, u64, u64, u64, u64) {
    let tz = tz_of(zone);
    let is_day = |t: i64| {
        let z = jiff::Timestamp::from_second(t)
            .unwrap()
            .to_zoned(tz.clone());
        w.contains_minute(z.hour() as u32 * 60 + z.minute() as u32)
    };
    let mut r = (0.0, 0.0, 0, 0, 0, 0);
    for (&t, &v) in readings.range(from..to) {
        if is_day(t) {
            r.0 += v;
            r.2 += 1;
        } else {
            r.1 += v;
            r.3 += 1;
        }
    }
    let mut t = from.div_euclid(Q) * Q;
    while t < to {
        if t >= from {
            if is_day(t) {
                r.4 += 1
            } else {
                r.5 += 1
            }
        }
        t += Q;
    }
    r
}

/// The zone named `zone`: an IANA name or a fixed offset such as `+08:00`.
fn tz_of(zone: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(zone).unwrap_or_else(|_| {
        let secs = meterstore::UtcOffset::parse(zone).unwrap().seconds();
        jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(secs).unwrap())
    })
}

/// Hours of local date `date` (YYYY-MM-DD) in `zone` that lie inside `[from, to)`.
fn date_hours_within(date: &str, zone: &str, from: i64, to: i64) -> f64 {
    let d: jiff::civil::Date = date.parse().unwrap();
    let start = |d: jiff::civil::Date| d.to_zoned(tz_of(zone)).unwrap().timestamp().as_second();
    let (a, b) = (start(d), start(d.tomorrow().unwrap()));
    (b.min(to) - a.max(from)).max(0) as f64 / 3600.0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn matches_naive_reference(
        days in 1i64..12,
        keep in proptest::collection::vec(0u8..20, 96 * 12),
        vals in proptest::collection::vec(0u32..50_000, 96 * 12),
        start_q in 0u32..96, len_q in 1u32..96,
        zone in prop::sample::select(vec!["+08:00", "UTC", "Europe/London", "America/New_York", "-03:30"]),
        edges in (0i64..96 * 12, 0i64..96 * 12),
        layout in 0u8..4,
    ) {
        let (_d, s) = store();
        let mut model = BTreeMap::new();
        let n = (days * 96) as usize;
        let mut readings = Vec::new();
        for k in 0..n {
            if keep[k] == 0 { continue; } // about 5% gaps
            let v = vals[k] as f64 / 1000.0;
            readings.push((T0 + k as i64 * Q, v));
            model.insert(T0 + k as i64 * Q, v);
        }
        // Layouts: all in one segment, split over segments, overlapping rewrites, memtable.
        match layout {
            0 => { put(&s, "M", &readings); s.flush().unwrap(); }
            1 => { for c in readings.chunks(150) { put(&s, "M", c); s.flush().unwrap(); } }
            2 => {
                put(&s, "M", &readings); s.flush().unwrap();
                let re: Vec<(i64, f64)> = readings.iter().step_by(7).map(|&(t, v)| (t, v + 1.0)).collect();
                for &(t, v) in &re { model.insert(t, v); }
                put(&s, "M", &re); s.flush().unwrap();
            }
            _ => { put(&s, "M", &readings); }
        }
        let w = DayWindow::new(start_q * 15, ((start_q + len_q) % 96) * 15).unwrap();
        let (a, b) = (edges.0.min(edges.1), edges.0.max(edges.1) + 1);
        let (from, to) = (T0 + a * Q - 300, T0 + b * Q + 450);
        let scan = DayNightScan { window: w, zone: Zone::parse(zone).unwrap(), threads: 2, ..DayNightScan::default() };
        let got = s.day_night(&MeterFilter::All, from..to, &scan).unwrap();
        // A scan after the first reads the blocks' columns from the layouts the first
        // kept: the same results.
        prop_assert_eq!(&s.day_night(&MeterFilter::All, from..to, &scan).unwrap(), &got);
        let want = naive(&model, from, to, w, zone);
        if want.2 + want.3 == 0 {
            prop_assert!(got.is_empty());
        } else {
            prop_assert_eq!(got.len(), 1);
            let t = got[0].total;
            prop_assert!(close(t.day_kwh, want.0), "day {} vs {}", t.day_kwh, want.0);
            prop_assert!(close(t.night_kwh, want.1), "night {} vs {}", t.night_kwh, want.1);
            prop_assert_eq!(t.day_hours, want.2 as f64 * 0.25);
            prop_assert_eq!(t.night_hours, want.3 as f64 * 0.25);
            // Expected hours span the range clipped to the stored data, partial
            // quarter-hours included.
            let first = *model.keys().next().unwrap();
            let last = *model.keys().last().unwrap();
            let (cf, ct) = (from.max(first), to.min(last + 1));
            let exp = t.day_expected_hours + t.night_expected_hours;
            prop_assert!(close(exp, (ct - cf) as f64 / 3600.0), "{} vs {}", exp, (ct - cf) as f64 / 3600.0);
            let clipped = naive(&model, cf, ct, w, zone);
            let slots_exp = (clipped.4 + clipped.5) as f64 * 0.25;
            prop_assert!((exp - slots_exp).abs() <= 0.25 + 1e-9);
            if let (Some(d), Some(n)) = (t.day_kw, t.night_kw) {
                if d > 0.0 { prop_assert!(close(t.ratio.unwrap(), n / d)); }
            }
            // Per local day: each day against the reference over that day's readings.
            let daily = s.day_night(&MeterFilter::All, from..to, &DayNightScan { daily: true, ..scan.clone() }).unwrap();
            let dt = daily[0].total;
            prop_assert!(close(dt.day_kwh, t.day_kwh) && close(dt.night_kwh, t.night_kwh));
            prop_assert_eq!((dt.day_hours, dt.night_hours), (t.day_hours, t.night_hours));
            let by_date = naive_daily(&model, cf, ct, w, zone);
            let got_dates: Vec<String> = daily[0].daily.iter().map(|d| d.date.to_string()).collect();
            let want_dates: Vec<String> = by_date.keys().cloned().collect();
            prop_assert_eq!(got_dates, want_dates);
            for d in &daily[0].daily {
                let want = by_date[&d.date.to_string()];
                let g = d.stats;
                prop_assert!(close(g.day_kwh, want.0) && close(g.night_kwh, want.1), "{} {:?} vs {:?}", d.date, g, want);
                prop_assert_eq!((g.day_hours, g.night_hours), (want.2 as f64 * 0.25, want.3 as f64 * 0.25));
                // Expected hours: the local date's span clipped to the stored data.
                let exp = g.day_expected_hours + g.night_expected_hours;
                let want_exp = date_hours_within(&d.date.to_string(), zone, cf, ct);
                prop_assert!(close(exp, want_exp), "{} expected {} vs {}", d.date, exp, want_exp);
            }
        }
    }
}

/// Reference per local date of the reading's start: (day kWh, night kWh, day readings,
/// night readings).
fn naive_daily(
    readings: &BTreeMap<i64, f64>,
    from: i64,
    to: i64,
    w: DayWindow,
    zone: &str,
) -> BTreeMap<String, (f64, f64, u64, u64)> {
    let mut out: BTreeMap<String, (f64, f64, u64, u64)> = BTreeMap::new();
    for (&t, &v) in readings.range(from..to) {
        let one: BTreeMap<i64, f64> = [(t, v)].into();
        let (d, n, nd, nn, _, _) = naive(&one, t, t + 1, w, zone);
        let date = jiff::Timestamp::from_second(t)
            .unwrap()
            .to_zoned(tz_of(zone))
            .date()
            .to_string();
        let e = out.entry(date).or_default();
        *e = (e.0 + d, e.1 + n, e.2 + nd, e.3 + nn);
    }
    out
}

/// 14 days of a meter drawing `day_kw` from 08:00 to 20:00 (+08:00) and `night_kw`
/// otherwise.
fn shaped(s: &Store, meter: &str, day_kw: f64, night_kw: f64) {
    let start = 1_704_038_400; // 2024-01-01T00:00+08:00
    let r: Vec<(i64, f64)> = (0..14 * 96)
        .map(|k| {
            let h = (k % 96) / 4;
            let kw = if (8..20).contains(&h) {
                day_kw
            } else {
                night_kw
            };
            (start + k * Q, kw * 0.25)
        })
        .collect();
    put(s, meter, &r);
}

#[test]
fn night_producer_is_flagged_and_day_producer_is_not() {
    let (_d, s) = store();
    shaped(&s, "NIGHT", 20.0, 60.0);
    shaped(&s, "DAY", 80.0, 10.0);
    shaped(&s, "EDGE", 40.0, 60.0); // exactly 1.5: not above the threshold
    s.flush().unwrap();
    let scan = DayNightScan {
        daily: true,
        ..DayNightScan::default()
    };
    let r = s
        .day_night(&MeterFilter::All, 0..i64::MAX / 2, &scan)
        .unwrap();
    let by: HashMap<&str, _> = r.iter().map(|m| (m.meter.as_str(), m)).collect();
    let n = by["NIGHT"].total;
    assert!(n.flagged);
    assert_eq!(n.ratio, Some(3.0));
    assert_eq!((n.day_kw, n.night_kw), (Some(20.0), Some(60.0)));
    assert_eq!((n.day_hours, n.night_hours), (168.0, 168.0));
    assert!(!by["DAY"].total.flagged);
    assert!(!by["EDGE"].total.flagged);
    assert_eq!(by["NIGHT"].daily.len(), 14);
    assert!(by["NIGHT"].daily.iter().all(|d| d.stats.flagged));
    assert_eq!(by["NIGHT"].daily[0].date.to_string(), "2024-01-01");
}

#[test]
fn meter_without_day_readings_has_no_ratio() {
    let (_d, s) = store();
    let start = 1_704_038_400;
    let night_only: Vec<(i64, f64)> = (0..96)
        .filter(|k| !(32..80).contains(k))
        .map(|k| (start + k * Q, 5.0))
        .collect();
    put(&s, "N", &night_only);
    let r = s
        .day_night(
            &MeterFilter::All,
            start..start + 86_400,
            &DayNightScan::default(),
        )
        .unwrap();
    assert_eq!(r[0].total.day_kw, None);
    assert_eq!(r[0].total.ratio, None);
    assert!(!r[0].total.flagged);
    assert_eq!(r[0].total.day_expected_hours, 12.0);
}

#[test]
fn zero_day_energy_gives_no_ratio() {
    let (_d, s) = store();
    shaped(&s, "Z", 0.0, 30.0);
    let r = s
        .day_night(&MeterFilter::All, 0..i64::MAX / 2, &DayNightScan::default())
        .unwrap();
    assert_eq!(r[0].total.day_kw, Some(0.0));
    assert_eq!(r[0].total.ratio, None);
}

#[test]
fn london_dst_days_have_23_and_25_hours() {
    let (_d, s) = store();
    // Constant 4 kW through March 2024's spring-forward day (2024-03-31).
    let start = 1_711_756_800; // 2024-03-30T00:00Z
    let r: Vec<(i64, f64)> = (0..3 * 96).map(|k| (start + k * Q, 1.0)).collect();
    put(&s, "L", &r);
    let scan = DayNightScan {
        zone: Zone::iana("Europe/London").unwrap(),
        daily: true,
        ..DayNightScan::default()
    };
    let out = s
        .day_night(&MeterFilter::All, start..start + 3 * 86_400, &scan)
        .unwrap();
    let d = out[0]
        .daily
        .iter()
        .find(|d| d.date.to_string() == "2024-03-31")
        .unwrap()
        .stats;
    assert_eq!(d.day_expected_hours + d.night_expected_hours, 23.0);
    assert_eq!(d.day_hours, 12.0);
    assert_eq!(d.night_hours, 11.0);
    let start = 1_729_900_800; // 2024-10-26T00:00Z, fall back on 2024-10-27
    let r: Vec<(i64, f64)> = (0..3 * 96).map(|k| (start + k * Q, 1.0)).collect();
    put(&s, "F", &r);
    let out = s
        .day_night(
            &MeterFilter::Ids(&["F".into()]),
            start..start + 3 * 86_400,
            &scan,
        )
        .unwrap();
    let d = out[0]
        .daily
        .iter()
        .find(|d| d.date.to_string() == "2024-10-27")
        .unwrap()
        .stats;
    assert_eq!(d.day_expected_hours + d.night_expected_hours, 25.0);
    assert_eq!(d.night_hours, 13.0);
}

/// A window edge inside the hour skipped in spring starts the day at the jump (the first
/// local time after the edge); one inside the hour repeated in autumn is crossed twice.
/// Both the per-day path and the totals (periodic kernel) class each reading by the local
/// time of its start.
#[test]
fn window_edge_inside_a_dst_change() {
    let (_d, s) = store();
    let w = DayWindow::new(75, 825).unwrap(); // 01:15-13:45
    for (name, day0, day, night) in [
        // 2024-03-31: 00:00-00:45 GMT night (4), 02:00-13:30 BST day (47), 13:45-23:45 night (41).
        ("S", 1_711_843_200i64, 47.0, 45.0),
        // 2024-10-27: 00:00-01:00 BST night (5), 01:15-01:45 BST day (3), 01:00 GMT night (1),
        // 01:15-01:45 GMT day (3), 02:00-13:30 day (47), 13:45-23:45 night (41).
        ("F", 1_729_983_600, 53.0, 47.0),
    ] {
        let slots = if name == "S" { 92 } else { 100 };
        let r: Vec<(i64, f64)> = (0..slots).map(|k| (day0 + k * Q, 1.0)).collect();
        put(&s, name, &r);
        s.flush().unwrap();
        for daily in [false, true] {
            let scan = DayNightScan {
                window: w,
                zone: Zone::iana("Europe/London").unwrap(),
                daily,
                ..DayNightScan::default()
            };
            let ids = [name.to_string()];
            let out = s
                .day_night(&MeterFilter::Ids(&ids), day0..day0 + slots * Q, &scan)
                .unwrap();
            let t = out[0].total;
            assert_eq!(
                (t.day_kwh, t.night_kwh),
                (day, night),
                "{name} daily {daily}"
            );
            assert_eq!(t.day_hours, day / 4.0, "{name} daily {daily}");
            assert_eq!(t.day_expected_hours, day / 4.0, "{name} daily {daily}");
            if daily {
                assert_eq!(out[0].daily.len(), 1, "{name}: one local day");
            }
        }
    }
}

#[test]
fn window_crossing_midnight_swaps_the_classes() {
    let (_d, s) = store();
    shaped(&s, "X", 80.0, 10.0);
    let scan = DayNightScan {
        window: DayWindow::parse("20:00-08:00").unwrap(),
        ..DayNightScan::default()
    };
    let r = s
        .day_night(&MeterFilter::All, 0..i64::MAX / 2, &scan)
        .unwrap();
    assert_eq!(r[0].total.ratio, Some(8.0));
    assert!(r[0].total.flagged);
}

#[test]
fn power_and_register_meters() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    s.register_meter(
        "P",
        MeterMeta {
            kind: Quantity::Power,
            interval_s: Some(900),
            unit: "kW".into(),
        },
    )
    .unwrap();
    s.register_meter(
        "R",
        MeterMeta {
            kind: Quantity::CumulativeRegister,
            interval_s: Some(900),
            unit: "kWh".into(),
        },
    )
    .unwrap();
    let start = 1_704_038_400;
    let p: Vec<(i64, f64)> = (0..96)
        .map(|k| {
            (
                start + k * Q,
                if (32..80).contains(&k) { 10.0 } else { 40.0 },
            )
        })
        .collect();
    put(&s, "P", &p);
    // Register: +2.5 kWh per quarter by day, +10 by night; a gap at slot 50 loses two diffs;
    // a replacement at slot 90 (reset to 0) loses one.
    let mut reg = Vec::new();
    let mut c = 1000.0;
    for k in 0..97 {
        if k == 90 {
            c = 0.0;
        }
        if k != 50 {
            reg.push((start + k * Q, c));
        }
        c += if (32..80).contains(&k) { 2.5 } else { 10.0 };
    }
    put(&s, "R", &reg);
    let r = s
        .day_night(
            &MeterFilter::All,
            start..start + 86_400,
            &DayNightScan::default(),
        )
        .unwrap();
    let pw = &r[0].total;
    assert_eq!((pw.day_kwh, pw.night_kwh), (120.0, 480.0));
    assert_eq!(pw.ratio, Some(4.0));
    let rg = &r[1].total;
    assert_eq!(rg.day_kwh, 2.5 * 46.0);
    assert_eq!(rg.night_kwh, 10.0 * 47.0);
    assert_eq!(rg.day_hours, 46.0 * 0.25);
}

#[test]
fn enterprise_combines_its_meters() {
    let (_d, s) = store();
    shaped(&s, "A1", 50.0, 10.0);
    shaped(&s, "A2", 10.0, 100.0);
    shaped(&s, "B1", 10.0, 20.0);
    let r = s
        .day_night(
            &MeterFilter::All,
            0..i64::MAX / 2,
            &DayNightScan {
                daily: true,
                ..DayNightScan::default()
            },
        )
        .unwrap();
    let membership: HashMap<String, String> = [("A1", "EA"), ("A2", "EA"), ("B1", "EB")]
        .iter()
        .map(|(m, e)| (m.to_string(), e.to_string()))
        .collect();
    let e = EnterpriseDayNight::aggregate(&r, &membership, 1.5);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].enterprise, "EA");
    assert_eq!(e[0].total.day_kw, Some(60.0));
    assert_eq!(e[0].total.night_kw, Some(110.0));
    assert!(e[0].total.flagged);
    assert!(e[1].total.flagged);
    assert_eq!(e[0].daily.len(), 14);
}

#[test]
fn bad_arguments() {
    let (_d, s) = store();
    shaped(&s, "A", 1.0, 1.0);
    assert!(s
        .day_night(
            &MeterFilter::Ids(&["nope".into()]),
            0..10,
            &DayNightScan::default()
        )
        .is_err());
    let bad = DayNightScan {
        threshold: f64::NAN,
        ..DayNightScan::default()
    };
    assert!(s.day_night(&MeterFilter::All, 0..10, &bad).is_err());
}

#[test]
fn results_come_in_id_order_whatever_the_registration_order() {
    let (_d, s) = store();
    // Registered (by first append) in an order unrelated to the ids' byte order, over
    // several chunks of meters, some without readings in the range.
    let ids: Vec<String> = (0..70u32).map(|i| format!("m{}", (i * 37) % 101)).collect();
    for (i, id) in ids.iter().enumerate() {
        let t = if i % 9 == 4 { T0 - 365 * 86_400 } else { T0 };
        put(&s, id, &[(t, 1.0), (t + Q, 2.0)]);
    }
    s.flush().unwrap();
    let in_range = |ids: &[String]| -> Vec<String> {
        let mut v: Vec<String> = (ids.iter().enumerate())
            .filter(|(i, _)| i % 9 != 4)
            .map(|(_, id)| id.clone())
            .collect();
        v.sort();
        v
    };
    let scanned = |s: &Store, threads: usize| -> Vec<String> {
        let scan = DayNightScan {
            threads,
            ..DayNightScan::default()
        };
        let r = s
            .day_night(&MeterFilter::All, T0..T0 + 86_400, &scan)
            .unwrap();
        r.into_iter().map(|m| m.meter).collect()
    };
    for threads in [1, 2, 3] {
        assert_eq!(scanned(&s, threads), in_range(&ids), "{threads} threads");
    }
    // A meter registered after a scan takes its place among the others.
    let mut more = ids.clone();
    more.push("m0a".into());
    put(&s, "m0a", &[(T0, 5.0)]);
    for threads in [1, 2] {
        assert_eq!(scanned(&s, threads), in_range(&more), "{threads} threads");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Every data shape of the generators (smooth curves in delta mode, drops, 1-minute
    /// power, registers with rollovers and exchanges, a DST zone): the scan's totals and
    /// per-day results against each meter's ground truth.
    #[test]
    fn every_shape_matches_its_ground_truth(
        shape in prop::sample::select(meterstore::fleet::Shape::ALL.to_vec()),
        meters in 1usize..8,
        days in 1u32..30,
        seed in any::<u64>(),
        layout in 0u8..3,
    ) {
        use meterstore::fleet::ShapedFleet;
        let fleet = ShapedFleet::new(shape, meters, days, seed);
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            unknown_meters: UnknownMeters::Register(fleet.meta()),
            ..Options::default()
        };
        let s = Store::open(dir.path(), opts).unwrap();
        let mut truth = HashMap::new();
        for (i, m) in fleet.meters().iter().enumerate() {
            let series = fleet.series(i);
            let batch: Vec<Reading> = series.ts.iter().zip(&series.values)
                .map(|(&ts, &value)| Reading::new(&m.id, ts, value))
                .collect();
            // Layouts: one segment per meter, several segments per meter, memtable only.
            match layout {
                0 => { s.append(&batch).unwrap(); s.flush().unwrap(); }
                1 => for c in batch.chunks(700) { s.append(c).unwrap(); s.flush().unwrap(); },
                _ => s.append(&batch).unwrap(),
            }
            truth.insert(m.id.clone(), series.truth);
        }
        let scan = DayNightScan { daily: true, threads: 2, ..fleet.scan() };
        let got = s.day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan).unwrap();
        let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-6;
        for m in &got {
            let want = truth[&m.meter];
            let t = m.total;
            prop_assert!(near(t.day_kwh, want.day_kwh), "{} {} day {} vs {}", shape, m.meter, t.day_kwh, want.day_kwh);
            prop_assert!(near(t.night_kwh, want.night_kwh), "{} {} night {} vs {}", shape, m.meter, t.night_kwh, want.night_kwh);
            prop_assert!(near(t.day_hours, want.day_hours) && near(t.night_hours, want.night_hours),
                "{} {} hours {:?} vs {:?}", shape, m.meter, t, want);
            let days_sum = m.daily.iter().fold((0.0, 0.0), |a, d| (a.0 + d.stats.day_kwh, a.1 + d.stats.night_kwh));
            prop_assert!(near(days_sum.0, t.day_kwh) && near(days_sum.1, t.night_kwh), "{} {} daily sums", shape, m.meter);
        }
        // Every meter with covered hours is in the results.
        for (id, t) in &truth {
            if t.day_hours + t.night_hours > 0.0 {
                prop_assert!(got.iter().any(|m| &m.meter == id), "{} {} missing", shape, id);
            }
        }
    }
}

/// A series of `n` slots of `interval` seconds from `start` in one of the encodings the
/// writer picks by the data: `values` 0 noise (value mode), 1 a smooth curve (delta mode),
/// 2 the same day repeated exactly (zstd-compressed blocks), 3 thirds of large values
/// (float bits); `missing` 0 none, 1 scattered single readings (a bitmap), 2 outages (runs). A
/// register accumulates the energies, rolling over at a million and exchanged for a meter
/// that starts low about every 700 readings.
fn encoded_series(
    kind: Quantity,
    interval: i64,
    values: u8,
    missing: u8,
    n: usize,
    seed: u64,
) -> Vec<(i64, f64)> {
    let start = 1_709_251_200; // 2024-03-01T00:00Z: Europe's and America's DST changes follow
    let per_day = (86_400 / interval) as usize;
    let mut x = seed | 1;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut counter = 987_000.0;
    let mut out = Vec::new();
    for k in 0..n {
        let phase = (k % per_day) as f64 / per_day as f64;
        let curve = 20_000.0 + 15_000.0 * (phase * std::f64::consts::TAU).sin();
        let v = match values {
            0 => (rand() % 50_000) as f64 / 1000.0,
            1 => (curve + (rand() % 40) as f64).round() / 1000.0,
            2 => (curve.round() + (k % per_day % 7) as f64) / 1000.0,
            // Thirds with 8 digits before the point: no decimal scale holds them below 2^53.
            _ => (rand() % 90_000_000) as f64 / 3.0,
        };
        let gone = match missing {
            1 => rand() % 40 == 0 && k > 0 && k + 1 < n,
            2 => (k % 1000) >= 400 && (k % 1000) < 400 + (seed % 300) as usize && k + 1 < n,
            _ => false,
        };
        let v = match kind {
            Quantity::CumulativeRegister => {
                counter += v;
                if counter >= 1_000_000.0 {
                    counter -= 1_000_000.0;
                }
                // A meter exchange now and then: the new counter starts low (a negative
                // step, sometimes next to a gap).
                if rand() % 700 == 0 {
                    counter = (rand() % 5_000) as f64;
                }
                (counter * 1000.0).round() / 1000.0
            }
            _ => v,
        };
        if !gone {
            out.push((start + k as i64 * interval, v));
        }
    }
    out
}

/// Reference per local date: (day kWh, night kWh, day s, night s), with each quantity's
/// energy rule (a register's reading takes the step to the next reading one interval
/// later, when not negative).
fn reference_by_date(
    readings: &[(i64, f64)],
    kind: Quantity,
    interval: i64,
    (from, to): (i64, i64),
    w: DayWindow,
    zone: &str,
) -> BTreeMap<String, (f64, f64, i64, i64)> {
    let tz = tz_of(zone);
    let mut out: BTreeMap<String, (f64, f64, i64, i64)> = BTreeMap::new();
    for (i, &(t, v)) in readings.iter().enumerate() {
        if t < from || t >= to {
            continue;
        }
        let energy = match kind {
            Quantity::Power => v * interval as f64 / 3600.0,
            Quantity::CumulativeRegister => match readings.get(i + 1) {
                Some(&(nt, nv)) if nt - t == interval && nv - v >= 0.0 => nv - v,
                _ => continue,
            },
            _ => v,
        };
        let z = jiff::Timestamp::from_second(t)
            .unwrap()
            .to_zoned(tz.clone());
        let e = out.entry(z.date().to_string()).or_default();
        if w.contains_minute(z.hour() as u32 * 60 + z.minute() as u32) {
            e.0 += energy;
            e.2 += interval;
        } else {
            e.1 += energy;
            e.3 += interval;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Every encoding the writer picks by the data (value and delta mode, zstd-compressed
    /// blocks, float bits, missing slots as a bitmap or as runs), every quantity with an
    /// energy, intervals of 1 to 60 minutes, fixed offsets and zones with daylight saving,
    /// whole and partial ranges: totals and per-day results against a reading-by-reading
    /// reference.
    #[test]
    fn every_encoding_matches_the_reading_reference(
        kind in prop::sample::select(vec![Quantity::IntervalEnergy, Quantity::Power, Quantity::CumulativeRegister]),
        interval in prop::sample::select(vec![60i64, 300, 900, 1800, 3600]),
        values in 0u8..4,
        missing in 0u8..3,
        days in 1usize..40,
        seed in any::<u64>(),
        zone in prop::sample::select(vec!["+08:00", "UTC", "Europe/Berlin", "America/New_York", "-03:30"]),
        window in (0u32..96, 1u32..96),
        whole in any::<bool>(),
        clip in (0u32..100, 0u32..100),
        layout in 0u8..3,
    ) {
        let n = (days * 86_400 / interval as usize).min(20_000);
        let readings = encoded_series(kind, interval, values, missing, n, seed);
        matches_reference(&readings, (kind, interval), layout, zone, window, (whole, clip))?;
    }
}

/// Stores `readings` of one meter of quantity `kind` and interval `interval` s in
/// `layout` (0 one flush, 1 a flush every 3,000 readings, 2 the last half in the
/// memtable) and scans them, per day too, with the day window from quarter hour
/// `window.0` for `window.1` quarter hours in `zone`, over all of them (`whole`) or the
/// hundredths `clip` of their span; checks totals and per-day results against
/// [`reference_by_date`], then totals alone (the kernels then take a block's total from
/// its index entry or its ends).
fn matches_reference(
    readings: &[(i64, f64)],
    (kind, interval): (Quantity, i64),
    layout: u8,
    zone: &str,
    window: (u32, u32),
    (whole, clip): (bool, (u32, u32)),
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    let meta = MeterMeta {
        kind,
        interval_s: Some(interval as u32),
        unit: "kWh".into(),
    };
    s.register_meter("M", meta).unwrap();
    match layout {
        0 => {
            put(&s, "M", readings);
            s.flush().unwrap();
        }
        1 => {
            for c in readings.chunks(3000) {
                put(&s, "M", c);
                s.flush().unwrap();
            }
        }
        _ => {
            let (a, b) = readings.split_at(readings.len() / 2);
            put(&s, "M", a);
            s.flush().unwrap();
            put(&s, "M", b);
        }
    }
    let (first, last) = (readings[0].0, readings[readings.len() - 1].0 + 1);
    let span = last - first;
    let (a, b) = (clip.0.min(clip.1) as i64, clip.0.max(clip.1) as i64 + 1);
    let range = match whole {
        true => i64::MIN..i64::MAX,
        false => first + span * a / 101..first + span * b / 101,
    };
    let w = DayWindow::new(window.0 * 15, ((window.0 + window.1) % 96) * 15).unwrap();
    let scan = DayNightScan {
        window: w,
        zone: Zone::parse(zone).unwrap(),
        daily: true,
        threads: 1,
        ..DayNightScan::default()
    };
    let want = reference_by_date(readings, kind, interval, (range.start, range.end), w, zone);
    let got = s
        .day_night(&MeterFilter::All, range.clone(), &scan)
        .unwrap();
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let sum = want.values().fold((0.0, 0.0, 0, 0), |a, d| {
        (a.0 + d.0, a.1 + d.1, a.2 + d.2, a.3 + d.3)
    });
    if want.is_empty() {
        prop_assert!(got.is_empty() || got[0].total.day_hours + got[0].total.night_hours == 0.0);
        return Ok(());
    }
    prop_assert_eq!(got.len(), 1);
    let alone = s
        .day_night(
            &MeterFilter::All,
            range,
            &DayNightScan {
                daily: false,
                ..scan.clone()
            },
        )
        .unwrap();
    for (what, t) in [("totals", got[0].total), ("totals alone", alone[0].total)] {
        prop_assert!(
            near(t.day_kwh, sum.0) && near(t.night_kwh, sum.1),
            "{} {:?} vs {:?}",
            what,
            t,
            sum
        );
        prop_assert!(
            near(t.day_hours, sum.2 as f64 / 3600.0) && near(t.night_hours, sum.3 as f64 / 3600.0),
            "{} hours {:?} vs {:?}",
            what,
            t,
            sum
        );
    }
    let got_days: Vec<String> = got[0]
        .daily
        .iter()
        .filter(|d| d.stats.day_hours + d.stats.night_hours > 0.0)
        .map(|d| d.date.to_string())
        .collect();
    let want_days: Vec<String> = want
        .iter()
        .filter(|d| d.1 .2 + d.1 .3 > 0)
        .map(|d| d.0.clone())
        .collect();
    prop_assert_eq!(got_days, want_days);
    for d in &got[0].daily {
        let r = want.get(&d.date.to_string()).copied().unwrap_or_default();
        let g = d.stats;
        prop_assert!(
            near(g.day_kwh, r.0) && near(g.night_kwh, r.1),
            "{} {:?} vs {:?}",
            d.date,
            g,
            r
        );
        prop_assert!(
            near(g.day_hours, r.2 as f64 / 3600.0) && near(g.night_hours, r.3 as f64 / 3600.0),
            "{} hours {:?} vs {:?}",
            d.date,
            g,
            r
        );
    }
    Ok(())
}

/// A 15-minute cumulative register of `n` slots from 2024-03-01 (Wh resolution): steps of
/// 0 to 2 kWh (a tenth of them zero), a rollover at a million kWh from a start `seed` puts
/// within reach, meter exchanges after readings `exchanges` (the new counter starts
/// below 5 kWh) and the slots of `outages` missing.
fn register_series(
    n: usize,
    seed: u64,
    exchanges: &[usize],
    outages: &[(usize, usize)],
) -> Vec<(i64, f64)> {
    let start = 1_709_251_200;
    let mut x = seed | 1;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut wh = 1_000_000_000 - (seed % (n as u64 * 1_000 + 1)) as i64;
    let mut out = Vec::new();
    for k in 0..n {
        if !outages.iter().any(|&(a, len)| k >= a && k < a + len) {
            out.push((start + k as i64 * Q, wh as f64 / 1000.0));
        }
        wh = match exchanges.contains(&k) {
            true => (rand() % 5_000) as i64,
            false if rand() % 10 == 0 => wh,
            false => (wh + (rand() % 2_001) as i64) % 1_000_000_000,
        };
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Cumulative registers over several stored blocks, with rollovers, meter exchanges
    /// (some next to an outage, some at the edges of the writer's blocks of 4,096
    /// readings), single missing readings and outages, in zones with and without daylight
    /// saving: totals and per-day results against the reading-by-reading reference.
    #[test]
    fn registers_match_the_reading_reference(
        n in 2usize..13_000,
        seed in any::<u64>(),
        exchanges in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, -2i64..3), 0..5),
        outages in prop::collection::vec((any::<prop::sample::Index>(), 1usize..300), 0..8),
        zone in prop::sample::select(vec!["+08:00", "UTC", "Europe/Berlin", "America/New_York", "-03:30"]),
        window in (0u32..96, 1u32..96),
        whole in any::<bool>(),
        clip in (0u32..100, 0u32..100),
        layout in 0u8..3,
    ) {
        // An exchange at a random reading or near a block edge.
        let exchanges: Vec<usize> = exchanges.iter().map(|&(i, edge, d)| match edge {
            0 => i.index(n),
            _ => (edge as i64 * 4096 + d).clamp(0, n as i64 - 1) as usize,
        }).collect();
        // Outages, one of them (if any) right after the first exchange.
        let mut outages: Vec<(usize, usize)> = outages.iter().map(|&(i, len)| (i.index(n), len)).collect();
        if let (Some(&x), Some(o)) = (exchanges.first(), outages.first_mut()) {
            o.0 = x + 1;
        }
        let readings = register_series(n, seed, &exchanges, &outages);
        prop_assume!(!readings.is_empty());
        let kind = Quantity::CumulativeRegister;
        matches_reference(&readings, (kind, Q), layout, zone, window, (whole, clip))?;
    }
}

/// Per-day results of a meter whose blocks hold values of different decimal scales (a
/// month of tenths, then a month of thousandths, then tenths again): each day's integer
/// sums are kept in one scale, and a block of another moves them to the float sums first.
#[test]
fn daily_results_across_blocks_of_different_scales() {
    let (_d, s) = store();
    // 2024-01-01T00:00Z, three calendar months of 15-minute readings.
    let t0 = 1_704_067_200;
    let n = 91 * 96;
    let mut model = BTreeMap::new();
    let readings: Vec<(i64, f64)> = (0..n)
        .map(|k| {
            let t = t0 + k as i64 * Q;
            let v = match k / (31 * 96) {
                1 => (1000 + (k * 7919) % 5000) as f64 / 1000.0,
                _ => (10 + (k * 31) % 500) as f64 / 10.0,
            };
            model.insert(t, v);
            (t, v)
        })
        .collect();
    put(&s, "M", &readings);
    s.flush().unwrap();
    for zone in ["+08:00", "Europe/Berlin"] {
        let scan = DayNightScan {
            zone: Zone::parse(zone).unwrap(),
            daily: true,
            threads: 1,
            ..DayNightScan::default()
        };
        let got = s
            .day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan)
            .unwrap();
        let w = DayWindow::default();
        let want = naive_daily(&model, t0, t0 + n as i64 * Q, w, zone);
        assert_eq!(got[0].daily.len(), want.len(), "{zone}");
        let (mut day, mut night) = (0.0, 0.0);
        for d in &got[0].daily {
            let (wd, wn, cd, cn) = want[&d.date.to_string()];
            let g = &d.stats;
            assert!(
                close(g.day_kwh, wd) && close(g.night_kwh, wn),
                "{zone} {}",
                d.date
            );
            assert!(close(g.day_hours, cd as f64 / 4.0) && close(g.night_hours, cn as f64 / 4.0));
            (day, night) = (day + wd, night + wn);
        }
        let t = &got[0].total;
        assert!(
            close(t.day_kwh, day) && close(t.night_kwh, night),
            "{zone} total"
        );
    }
}

use super::*;

fn hours(p: &Pieces, day: bool) -> f64 {
    (0..p.len())
        .filter(|&j| p.is_day[j] == day)
        .map(|j| (p.cuts[j + 1] - p.cuts[j]) as f64 / 3600.0)
        .sum()
}

#[test]
fn china_day_is_twelve_hours() {
    let z = Zone::parse("+08:00").unwrap();
    let from = 1_704_038_400; // 2024-01-01T00:00+08:00
    let p = Pieces::new(from, from + 86_400, DayWindow::default(), &z).unwrap();
    assert_eq!(
        p.cuts,
        vec![from, from + 8 * 3600, from + 20 * 3600, from + 86_400]
    );
    assert_eq!(p.is_day, vec![false, true, false]);
    assert_eq!(p.dates.len(), 1);
    assert_eq!(p.dates[0].to_string(), "2024-01-01");
}

#[test]
fn london_spring_forward_and_fall_back() {
    let z = Zone::iana("Europe/London").unwrap();
    // 2024-03-31 is 23 hours long in London, 2024-10-27 is 25.
    let spring = 1_711_843_200; // 2024-03-31T00:00Z = local midnight (GMT)
    let p = Pieces::new(spring, spring + 23 * 3600, DayWindow::default(), &z).unwrap();
    assert_eq!(p.dates.len(), 1);
    assert_eq!(hours(&p, true), 12.0);
    assert_eq!(hours(&p, false), 11.0);
    let fall = 1_729_983_600; // 2024-10-27T00:00+01:00
    let p = Pieces::new(fall, fall + 25 * 3600, DayWindow::default(), &z).unwrap();
    assert_eq!(p.dates.len(), 1);
    assert_eq!(hours(&p, true), 12.0);
    assert_eq!(hours(&p, false), 13.0);
}

#[test]
fn window_crossing_midnight() {
    let z = Zone::fixed(UtcOffset::UTC);
    let w = DayWindow::parse("22:00-06:00").unwrap();
    let p = Pieces::new(0, 2 * 86_400, w, &z).unwrap();
    assert_eq!(hours(&p, true), 16.0);
    assert_eq!(hours(&p, false), 32.0);
    assert!(p.is_day[0], "00:00-06:00 of the first day is day");
    assert_eq!(p.dates.len(), 2);
}

#[test]
fn range_edges_mid_day() {
    let z = Zone::fixed(UtcOffset::UTC);
    let p = Pieces::new(10 * 3600, 86_400 + 3 * 3600, DayWindow::default(), &z).unwrap();
    assert_eq!(hours(&p, true), 10.0);
    assert_eq!(hours(&p, false), 4.0 + 3.0);
}

#[test]
fn window_parsing() {
    assert_eq!(
        DayWindow::parse("08:00-20:00").unwrap(),
        DayWindow::default()
    );
    assert_eq!(
        DayWindow::parse("22:30-06:15").unwrap().to_string(),
        "22:30-06:15"
    );
    for bad in ["8-20", "08:00-08:00", "24:00-01:00", "08:60-09:00", ""] {
        assert!(DayWindow::parse(bad).is_err(), "{bad}");
    }
    assert!(Zone::parse("Mars/Olympus").is_err());
    assert_eq!(Zone::parse("+05:30").unwrap().offset_at(0), 19_800);
}

#[test]
fn cuts_near_the_ends_of_i64_saturate_or_are_refused() {
    let z = Zone::fixed(UtcOffset::CHINA);
    for (from, to) in [
        (i64::MAX - 3 * 86_400, i64::MAX),
        (i64::MIN, i64::MIN + 3 * 86_400),
    ] {
        // Outside the calendar the dates cannot be named: an error, never a wrap.
        if let Ok(p) = Pieces::new(from, to, DayWindow::default(), &z) {
            assert!(p.cuts.windows(2).all(|w| w[0] < w[1]));
        }
    }
    let e = Pieces::new(i64::MIN, i64::MAX, DayWindow::default(), &z).unwrap_err();
    assert!(e.to_string().contains("local days"), "{e}");
}

//! The `query_history` example's core (`examples/common/history.rs` and `plot.rs`) on a
//! small store: the table's rows and gap markers, bucket rows, CSV that reads back to the
//! same values, "did you mean" for an unknown meter, and the SVG: well-formed XML with
//! one curve point per reading.

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;

use common::history::{self, HistoryQuery, QueryError, Rows};
use common::plot::{LoadCurve, LINE_HEX};
use common::time::{parse_bound, Tz};
use meterstore::{Agg, Bucket, DayWindow, Flag, MeterMeta, Options, Reading, Store};
use quick_xml::events::Event;

/// 2024-01-01T00:00+08:00.
const JAN1: i64 = 1_704_038_400;
const Q: i64 = 900;

/// Meter `M000001`: 2024-01-01 00:00 to 04:00 local (16 slots) except 00:45 to 01:15
/// (3 slots) and 01:45 (1 slot), so 01:30 stands alone between two gaps. Values are
/// decimals that binary floats cannot hold exactly. The 00:30 reading is flagged M.
fn store() -> (tempfile::TempDir, Store, Vec<(i64, f64)>) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    s.register_meter("M000001", MeterMeta::default()).unwrap();
    s.register_meter("M000002", MeterMeta::default()).unwrap();
    let missing = [3, 4, 5, 7];
    let rows: Vec<(i64, f64)> = (0..16)
        .filter(|k| !missing.contains(k))
        .map(|k| (JAN1 + k * Q, 0.1 * k as f64 + 1.0 / 3.0))
        .collect();
    let batch: Vec<Reading<'_>> = rows
        .iter()
        .map(|&(ts, value)| Reading::new("M000001", ts, value).with_flag(flag_at(ts)))
        .collect();
    s.append(&batch).unwrap();
    (dir, s, rows)
}

fn flag_at(ts: i64) -> Flag {
    match ts == JAN1 + 2 * Q {
        true => Flag::Maintenance,
        false => Flag::Normal,
    }
}

fn cst() -> Tz {
    Tz::parse("+08:00").unwrap()
}

fn query(
    s: &Store,
    from: Option<i64>,
    to: Option<i64>,
    bucket: Option<(Bucket, Agg)>,
) -> history::HistoryView {
    let q = HistoryQuery {
        meter: "M000001".into(),
        from,
        to,
        bucket,
    };
    history::query(s, &q, &cst()).unwrap()
}

fn table(v: &history::HistoryView) -> Vec<String> {
    let mut out = Vec::new();
    history::write_table(&mut out, v, &cst()).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_table_lists_readings_and_marks_gaps() {
    let (_d, s, rows) = store();
    // Whole history: from the first reading to the end of the last one's interval.
    let v = query(&s, None, None, None);
    assert_eq!(v.range, JAN1..JAN1 + 16 * Q);
    assert_eq!(
        v.gaps,
        vec![JAN1 + 3 * Q..JAN1 + 6 * Q, JAN1 + 7 * Q..JAN1 + 8 * Q]
    );
    let lines = table(&v);
    assert_eq!(
        lines[..2],
        [
            "M000001: interval energy in kWh, every 15 min",
            "from 2024-01-01 00:00 to 2024-01-01 04:00 (+08:00)",
        ]
    );
    assert!(lines[2].starts_with("local time") && lines[2].ends_with("value"));
    assert!(lines[3].starts_with("2024-01-01 00:00") && lines[3].ends_with(" 0.3333333333333333"));
    // Values are right-aligned under the header: every data line has its width.
    let data: Vec<&String> = lines.iter().filter(|l| l.starts_with("2024-")).collect();
    assert_eq!(data.len(), rows.len());
    assert!(data.iter().all(|l| l.len() == lines[2].len()));
    let gap_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("  -- gap")).collect();
    assert_eq!(
        gap_lines,
        [
            "  -- gap: 3 readings missing, 2024-01-01 00:45 to 2024-01-01 01:15",
            "  -- gap: 1 reading missing at 2024-01-01 01:45",
        ]
    );
    // The markers sit between the readings around each gap.
    let at = |s: &str| lines.iter().position(|l| l.starts_with(s)).unwrap();
    assert_eq!(at("2024-01-01 00:30") + 1, at("  -- gap: 3"));
    assert_eq!(at("  -- gap: 3") + 1, at("2024-01-01 01:30"));
    assert_eq!(at("2024-01-01 01:30") + 1, at("  -- gap: 1"));
    assert_eq!(
        lines.last().unwrap(),
        "12 readings, 2 gaps (4 readings missing)"
    );

    // A range beyond the data: the missing slots at both ends are gaps too.
    let v = query(&s, Some(JAN1 - 2 * Q), Some(JAN1 + 18 * Q), None);
    assert_eq!(v.gaps.first(), Some(&(JAN1 - 2 * Q..JAN1)));
    assert_eq!(v.gaps.last(), Some(&(JAN1 + 16 * Q..JAN1 + 18 * Q)));
    assert_eq!(
        table(&v).last().unwrap(),
        "12 readings, 4 gaps (8 readings missing)"
    );
}

#[test]
fn buckets_count_readings_and_missing_slots() {
    let (_d, s, rows) = store();
    let v = query(&s, None, None, Some((Bucket::Hour, Agg::Sum)));
    let Rows::Buckets { rows: buckets, .. } = &v.rows else {
        panic!("buckets expected");
    };
    let sum = |h: i64| -> f64 {
        rows.iter()
            .filter(|r| r.0 >= JAN1 + h * 3600 && r.0 < JAN1 + (h + 1) * 3600)
            .map(|r| r.1)
            .sum()
    };
    let got: Vec<(i64, u64, u64)> = buckets
        .iter()
        .map(|b| (b.start, b.count, b.missing))
        .collect();
    assert_eq!(
        got,
        vec![
            (JAN1, 3, 1),
            (JAN1 + 3600, 1, 3),
            (JAN1 + 7200, 4, 0),
            (JAN1 + 10_800, 4, 0)
        ]
    );
    for (h, b) in buckets.iter().enumerate() {
        assert!((b.value.unwrap() - sum(h as i64)).abs() < 1e-12);
    }
    let lines = table(&v);
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["bucket", "start", "sum", "readings", "gaps"]
    );
    assert!(lines[3].starts_with("2024-01-01 00:00") && lines[3].ends_with("3  1 missing"));
    assert!(lines[5].ends_with(" 4"), "{}", lines[5]);
    assert_eq!(
        lines.last().unwrap(),
        "4 buckets (sum per hour), 12 readings, 2 gaps (4 readings missing)"
    );

    // A day with no readings at all is listed as such.
    let v = query(
        &s,
        Some(JAN1),
        Some(JAN1 + 2 * 86_400),
        Some((Bucket::Day, Agg::Max)),
    );
    let lines = table(&v);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("2024-01-02 00:00") && l.ends_with("0  no readings")));
}

#[test]
fn csv_reads_back_to_the_stored_values() {
    let (_d, s, rows) = store();
    let v = query(&s, None, None, None);
    let mut out = Vec::new();
    history::write_csv(&mut out, &v, &cst()).unwrap();
    let mut rdr = csv::Reader::from_reader(out.as_slice());
    assert_eq!(
        rdr.headers().unwrap(),
        vec!["meter_id", "ts", "local_time", "value", "flag"]
    );
    let back: Vec<(i64, f64)> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(&r[0], "M000001");
            let ts: i64 = r[1].parse().unwrap();
            assert_eq!(r[2], cst().rfc3339(ts));
            assert_eq!(&r[4], flag_at(ts).to_string(), "{ts}");
            (ts, r[3].parse().unwrap())
        })
        .collect();
    // Exactly equal floats: Display of f64 round-trips.
    assert_eq!(back, rows);
    assert_eq!(cst().rfc3339(JAN1), "2024-01-01T00:00:00+08:00");

    let v = query(&s, None, None, Some((Bucket::Hour, Agg::Max)));
    let mut out = Vec::new();
    history::write_csv(&mut out, &v, &cst()).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("meter_id,bucket_start,local_time,value,count")
    );
    let max0 = rows[2].1;
    assert_eq!(
        lines.next(),
        Some(format!("M000001,{JAN1},2024-01-01T00:00:00+08:00,{max0},3").as_str())
    );
    assert_eq!(lines.count(), 3);
}

#[test]
fn an_unknown_meter_gets_suggestions() {
    let (_d, s, _) = store();
    let q = HistoryQuery {
        meter: "m00001".into(),
        from: None,
        to: None,
        bucket: None,
    };
    match history::query(&s, &q, &cst()) {
        Err(e @ QueryError::UnknownMeter { .. }) => {
            let QueryError::UnknownMeter { suggestions, .. } = &e else {
                unreachable!()
            };
            assert_eq!(suggestions, &["M000001", "M000002"]);
            assert!(
                e.to_string().contains("did you mean M000001, M000002?"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    let far = HistoryQuery {
        meter: "substation-7".into(),
        ..q
    };
    let Err(QueryError::UnknownMeter { suggestions, .. }) = history::query(&s, &far, &cst()) else {
        panic!("unknown meter expected");
    };
    assert!(suggestions.is_empty());
}

#[test]
fn dates_in_bounds_are_local_days() {
    let tz = cst();
    assert_eq!(parse_bound("2024-01-01", &tz, false), Ok(JAN1));
    // An end date includes its whole day.
    assert_eq!(parse_bound("2024-01-01", &tz, true), Ok(JAN1 + 86_400));
    assert_eq!(parse_bound("2023-12-31T16:00:00Z", &tz, true), Ok(JAN1));
    assert!(parse_bound("01/01/2024", &tz, false).is_err());
    // A 23-hour day in London.
    let london = Tz::parse("Europe/London").unwrap();
    let a = parse_bound("2024-03-31", &london, false).unwrap();
    assert_eq!(
        parse_bound("2024-03-31", &london, true).unwrap() - a,
        23 * 3600
    );
}

#[test]
fn rfc3339_bounds_are_instants_whatever_their_offset() {
    // Every zone reads an RFC 3339 bound the same way: the zone only places dates.
    for zone in ["+08:00", "-05:00", "Europe/London"] {
        let tz = Tz::parse(zone).unwrap();
        for end in [false, true] {
            let at = |s: &str| parse_bound(s, &tz, end);
            // 2024-01-01T01:00+08:00 = 2023-12-31T17:00Z = 12:00-05:00.
            let want = JAN1 + 3600;
            assert_eq!(at("2024-01-01T01:00:00+08:00"), Ok(want), "{zone}");
            assert_eq!(at("2023-12-31T17:00:00Z"), Ok(want), "{zone}");
            assert_eq!(at("2023-12-31T12:00:00-05:00"), Ok(want), "{zone}");
            // A fraction rounds up: [from, to) keeps the readings on whole seconds at or
            // after `from` and before `to`.
            assert_eq!(at("2023-12-31T12:00:00.25-05:00"), Ok(want + 1), "{zone}");
            assert_eq!(at("2023-12-31T12:00:00.000-05:00"), Ok(want), "{zone}");
        }
    }
    let tz = cst();
    // A local date-time without an offset is in --tz.
    assert_eq!(parse_bound("2024-01-01 01:00", &tz, false), Ok(JAN1 + 3600));
    assert_eq!(
        parse_bound("2024-01-01T01:00:30", &tz, true),
        Ok(JAN1 + 3630)
    );
    // Neither a date nor an instant.
    for bad in ["2024-01-01T01", "2024-1-1", "2024-01-01 25:00", "tomorrow"] {
        assert!(parse_bound(bad, &tz, false).is_err(), "{bad}");
    }
    // Before the epoch, a fraction still rounds up.
    assert_eq!(parse_bound("1969-12-31T23:59:58.5Z", &tz, false), Ok(-1));
}

#[test]
fn an_hour_given_with_an_offset_selects_that_hour() {
    let (_d, s, rows) = store();
    // 02:00 to 03:00 local (+08:00), written with three different offsets.
    for (from, to) in [
        ("2024-01-01T02:00:00+08:00", "2024-01-01T03:00:00+08:00"),
        ("2023-12-31T18:00:00Z", "2023-12-31T19:00:00Z"),
        ("2023-12-31T13:00:00-05:00", "2023-12-31T14:00:00-05:00"),
    ] {
        let f = parse_bound(from, &cst(), false).unwrap();
        let t = parse_bound(to, &cst(), true).unwrap();
        let v = query(&s, Some(f), Some(t), None);
        let Rows::Readings(got) = &v.rows else {
            panic!("readings expected")
        };
        let want: Vec<(i64, f64)> = rows
            .iter()
            .copied()
            .filter(|r| (JAN1 + 7200..JAN1 + 10_800).contains(&r.0))
            .collect();
        assert_eq!(got, &want, "{from} .. {to}");
        assert_eq!(got.len(), 4);
    }
}

#[test]
fn a_bucket_range_far_wider_than_the_data_is_refused_not_allocated() {
    let (_d, s, _) = store();
    let tz = cst();
    let from = parse_bound("1970-01-01", &tz, false).unwrap();
    let to = parse_bound("2199-12-31", &tz, true).unwrap();
    for b in [Bucket::Minutes15, Bucket::Hour] {
        let q = HistoryQuery {
            meter: "M000001".into(),
            from: Some(from),
            to: Some(to),
            bucket: Some((b, Agg::Sum)),
        };
        match history::query(&s, &q, &tz) {
            Err(QueryError::TooManyBuckets { count, .. }) => {
                assert!(count > history::MAX_BUCKETS, "{count}")
            }
            other => panic!("{b:?}: {other:?}"),
        }
    }
    // Daily buckets over the same 230 years fit: 84,006 rows (56 leap days), one of
    // them with readings.
    let v = query(&s, Some(from), Some(to), Some((Bucket::Day, Agg::Sum)));
    let Rows::Buckets { rows, .. } = &v.rows else {
        panic!("buckets expected")
    };
    assert_eq!(rows.len(), 84_006);
    assert_eq!(rows.iter().filter(|r| r.count > 0).count(), 1);
}

/// Elements of a well-formed SVG document: checks that it parses, that every element
/// closes, and that the root is `<svg>`; returns each element's name and attributes.
fn svg_elements(svg: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut r = quick_xml::Reader::from_str(svg);
    let (mut depth, mut seen_root, mut out) = (0usize, false, Vec::new());
    loop {
        let ev = r.read_event().expect("well-formed XML");
        let (e, opens) = match &ev {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                depth -= 1;
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = e.name().0.to_owned();
        if depth == 0 {
            assert!(!seen_root && name == "svg", "one <svg> root, got <{name}>");
            seen_root = true;
        }
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                let k = a.key.0.to_owned();
                (k, a.value.into_owned())
            })
            .collect();
        out.push((name, attrs));
        if opens {
            depth += 1;
        }
    }
    assert!(seen_root && depth == 0, "every element closed");
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs.iter().find(|a| a.0 == key).map(|a| a.1.as_str())
}

#[test]
fn the_svg_has_one_curve_point_per_reading_and_breaks_at_gaps() {
    let (_d, s, rows) = store();
    let v = query(&s, None, None, None);
    let tz = cst();
    let curve: LoadCurve<'_> = history::load_curve(&v, &tz, DayWindow::default());
    let (svg, drawn) = curve.to_svg().unwrap();
    // 00:00-00:30 (3), 01:30 alone, 02:00-03:45 (8).
    assert_eq!((drawn.lines, drawn.dots, drawn.points), (2, 1, rows.len()));
    assert_eq!(drawn.gap_bands, 2);
    // 00:00 to 04:00 local is all night outside 08:00-20:00: one shaded span.
    assert_eq!(drawn.night_spans, 1);
    let els = svg_elements(&svg);
    let lines: Vec<usize> = els
        .iter()
        .filter(|(n, a)| n == "polyline" && attr(a, "stroke") == Some(LINE_HEX))
        .map(|(_, a)| attr(a, "points").unwrap().split_whitespace().count())
        .collect();
    assert_eq!(lines, vec![3, 8]);
    let dots = els
        .iter()
        .filter(|(n, a)| n == "circle" && attr(a, "fill") == Some(LINE_HEX))
        .count();
    assert_eq!(dots, 1);
    assert!(svg.contains("M000001 load curve"));

    // Hour buckets: one point per bucket with readings, no breaks (no empty bucket).
    let v = query(&s, None, None, Some((Bucket::Hour, Agg::Sum)));
    let (svg, drawn) = history::load_curve(&v, &tz, DayWindow::default())
        .to_svg()
        .unwrap();
    assert_eq!((drawn.lines, drawn.points), (1, 4));
    let pts: usize = svg_elements(&svg)
        .iter()
        .filter(|(n, a)| n == "polyline" && attr(a, "stroke") == Some(LINE_HEX))
        .map(|(_, a)| attr(a, "points").unwrap().split_whitespace().count())
        .sum();
    assert_eq!(pts, 4);
}

#[test]
fn a_week_of_night_shading_follows_local_days() {
    let (_d, s, _) = store();
    // A week in +08:00 with the default window: 8 night spans (the first morning, six
    // nights, the last evening).
    let v = query(&s, Some(JAN1), Some(JAN1 + 7 * 86_400), None);
    let tz = cst();
    let (svg, drawn) = history::load_curve(&v, &tz, DayWindow::default())
        .to_svg()
        .unwrap();
    assert_eq!(drawn.night_spans, 8);
    svg_elements(&svg);
}

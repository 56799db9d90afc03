//! The load-curve SVG: one meter's values over time, night hours shaded, missing readings
//! as breaks in the line over a red band, the time axis labelled in local time.
//!
//! Drawn with `plotters`' SVG backend (no fonts needed: text goes into the SVG as text).

use super::time::Tz;
use jiff::civil::Date;
use meterstore::DayWindow;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;

/// Colour of the curve; tests find the curve's elements by it.
pub const LINE_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// [`LINE_COLOR`] as the SVG backend writes it.
pub const LINE_HEX: &str = "#1F77B4";
/// Shading of night hours.
const NIGHT_COLOR: RGBColor = RGBColor(0xdd, 0xe3, 0xef);
/// Band over missing readings.
const GAP_COLOR: RGBColor = RGBColor(0xf4, 0xb6, 0xb6);
/// Picture size in pixels.
const SIZE: (u32, u32) = (1000, 440);
/// Height of the footer line that explains the colours.
const FOOTER_H: u32 = 22;
/// At most this many labels on the time axis: a label such as `2024-03-01` takes about
/// 70 px at 12 px, and 12 of them fit the plot width with room.
const MAX_TICKS: i64 = 12;

/// What to draw.
pub struct LoadCurve<'a> {
    /// The caption.
    pub title: String,
    /// The value axis' description, e.g. `kWh per 15 min`.
    pub y_label: String,
    /// Zone of the time axis and of the night shading.
    pub tz: &'a Tz,
    /// Shade the hours outside this day window; `None` for no shading (day or month
    /// buckets, where every point covers day and night).
    pub day_window: Option<DayWindow>,
    /// Runs of points without a gap inside; the line breaks between runs.
    pub runs: Vec<Vec<(i64, f64)>>,
    /// Spans of missing readings, drawn as red bands.
    pub gaps: Vec<Range<i64>>,
    /// The time axis, UTC Unix seconds.
    pub x_range: Range<i64>,
}

/// What was drawn, for the caller's message and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// Line pieces (runs of two or more points).
    pub lines: usize,
    /// Single points between gaps, drawn as dots.
    pub dots: usize,
    /// Points in all, lines and dots.
    pub points: usize,
    /// Shaded night spans.
    pub night_spans: usize,
    /// Red gap bands.
    pub gap_bands: usize,
}

impl LoadCurve<'_> {
    /// Renders the SVG text.
    pub fn to_svg(&self) -> Result<(String, Drawn), String> {
        let mut svg = String::new();
        let drawn = self
            .draw(&mut svg)
            .map_err(|e| format!("drawing the SVG: {e}"))?;
        Ok((svg, drawn))
    }

    /// Renders the SVG into `path`.
    pub fn write_svg(&self, path: &Path) -> Result<Drawn, String> {
        let (svg, drawn) = self.to_svg()?;
        std::fs::write(path, svg).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(drawn)
    }

    fn draw(&self, out: &mut String) -> Result<Drawn, Box<dyn std::error::Error + '_>> {
        let (x0, x1) = (
            self.x_range.start,
            self.x_range.end.max(self.x_range.start + 1),
        );
        let (y0, y1) = y_range(self.runs.iter().flatten().map(|p| p.1));
        let nights = match self.day_window {
            Some(w) => night_spans(self.tz, w, x0..x1),
            None => Vec::new(),
        };
        let gaps: Vec<Range<i64>> = self
            .gaps
            .iter()
            .map(|g| g.start.max(x0)..g.end.min(x1))
            .filter(|g| g.start < g.end)
            .collect();
        let (ticks, fmt) = ticks(self.tz, x0..x1);

        let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (upper, footer) = root.split_vertically(SIZE.1 - FOOTER_H);
        let mut chart = ChartBuilder::on(&upper)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d((x0..x1).with_key_points(ticks.clone()), y0..y1)?;
        chart.draw_series(
            nights
                .iter()
                .map(|r| Rectangle::new([(r.start, y0), (r.end, y1)], NIGHT_COLOR.filled())),
        )?;
        chart.draw_series(
            gaps.iter()
                .map(|r| Rectangle::new([(r.start, y0), (r.end, y1)], GAP_COLOR.filled())),
        )?;
        let tz = self.tz;
        chart
            .configure_mesh()
            .x_labels(ticks.len())
            .x_label_formatter(&|t| tz.local(*t).strftime(fmt).to_string())
            .y_desc(self.y_label.as_str())
            .x_desc(format!("local time ({})", tz.name()))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let mut drawn = Drawn {
            lines: 0,
            dots: 0,
            points: 0,
            night_spans: nights.len(),
            gap_bands: gaps.len(),
        };
        for run in self.runs.iter().filter(|r| !r.is_empty()) {
            drawn.points += run.len();
            if let [p] = run.as_slice() {
                drawn.dots += 1;
                chart.draw_series(std::iter::once(Circle::new(*p, 2, LINE_COLOR.filled())))?;
            } else {
                drawn.lines += 1;
                chart.draw_series(LineSeries::new(run.iter().copied(), LINE_COLOR))?;
            }
        }
        let legend = match self.day_window {
            Some(w) => format!(
                "shaded: night, outside {w} in {}; red: missing readings",
                tz.name()
            ),
            None => "red: missing readings".to_owned(),
        };
        footer.draw_text(
            &legend,
            &("sans-serif", 12).into_font().color(&BLACK),
            (76, 4),
        )?;
        root.present()?;
        Ok(drawn)
    }
}

/// Splits time-ordered points into runs: a run ends where a gap starts after its last
/// point, or where two points are more than `max_step` seconds apart (for meters without
/// a grid, whose gaps the store does not know).
pub fn split_runs(
    points: &[(i64, f64)],
    gaps: &[Range<i64>],
    max_step: Option<i64>,
) -> Vec<Vec<(i64, f64)>> {
    let mut runs: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut g = gaps.iter().map(|g| g.start).peekable();
    let mut prev: Option<i64> = None;
    for &(t, v) in points {
        let mut cut = prev.is_none();
        if let Some(p) = prev {
            while g.next_if(|&s| s <= p).is_some() {}
            cut = g.next_if(|&s| s < t).is_some() || max_step.is_some_and(|m| t - p > m);
        }
        if cut {
            runs.push(Vec::new());
        }
        if let Some(r) = runs.last_mut() {
            r.push((t, v));
        }
        prev = Some(t);
    }
    runs
}

/// Value axis: from zero (or the smallest value if negative) to a little above the
/// largest.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !hi.is_finite() || hi <= lo {
        return (lo, lo + 1.0);
    }
    (lo, hi + (hi - lo) * 0.05)
}

/// Local dates from the one holding `from` to the one holding `to`, one day of margin
/// each side.
fn dates(tz: &Tz, range: &Range<i64>) -> impl Iterator<Item = Date> {
    let first = tz.local(range.start).date().yesterday().ok();
    let last = tz.local(range.end).date().tomorrow().ok();
    std::iter::successors(first, |d| d.tomorrow().ok()).take_while(move |d| Some(*d) <= last)
}

/// Spans of `range` outside the day window, in local time of `tz`.
pub fn night_spans(tz: &Tz, w: DayWindow, range: Range<i64>) -> Vec<Range<i64>> {
    let at = |d: Date, min: u32| {
        let day = d
            .checked_add(jiff::Span::new().days(i64::from(min / 1440)))
            .ok()?;
        let m = min % 1440;
        tz.instant_lenient(day.at((m / 60) as i8, (m % 60) as i8, 0, 0))
    };
    let end_min = if w.start_min() < w.end_min() {
        w.end_min()
    } else {
        w.end_min() + 1440
    };
    let days: Vec<(i64, i64)> = dates(tz, &range)
        .filter_map(|d| Some((at(d, w.start_min())?, at(d, end_min)?)))
        .collect();
    let mut nights = Vec::new();
    let mut t = range.start;
    for (s, e) in days {
        if s > t {
            nights.push(t..s.min(range.end));
        }
        t = t.max(e);
    }
    if t < range.end {
        nights.push(t..range.end);
    }
    nights.retain(|r| r.start < r.end);
    nights
}

/// Label positions at round local times and their strftime format: hours, days, weeks
/// (Mondays), months or years, whichever gives at most [`MAX_TICKS`] labels.
fn ticks(tz: &Tz, range: Range<i64>) -> (Vec<i64>, &'static str) {
    const H: i64 = 3600;
    const D: i64 = 86_400;
    let span = range.end - range.start;
    let inside = |t: &i64| range.contains(t);
    let hour_step = [1, 2, 3, 6, 12]
        .into_iter()
        .find(|h| span / (h * H) <= MAX_TICKS);
    let mut out: Vec<i64>;
    let fmt;
    if let Some(h) = hour_step {
        out = dates(tz, &range)
            .flat_map(|d| {
                (0..24)
                    .step_by(h as usize)
                    .map(move |hh| d.at(hh as i8, 0, 0, 0))
            })
            .filter_map(|dt| tz.instant_lenient(dt))
            .filter(inside)
            .collect();
        fmt = "%m-%d %H:%M";
    } else if let Some(k) = [1, 2, 7].into_iter().find(|k| span / (k * D) <= MAX_TICKS) {
        out = dates(tz, &range)
            .filter(|d| match k {
                7 => d.weekday() == jiff::civil::Weekday::Monday,
                _ => d.day() as i64 % k == 1 % k,
            })
            .filter_map(|d| tz.day_start(d).ok())
            .filter(inside)
            .collect();
        fmt = "%Y-%m-%d";
    } else {
        let months = [1, 3, 6, 12, 24, 60, 120]
            .into_iter()
            .find(|m| span / (m * 30 * D) <= MAX_TICKS)
            .unwrap_or(120);
        let first = tz.local(range.start).date().first_of_month();
        out = std::iter::successors(Some(first), |d| {
            d.checked_add(jiff::Span::new().months(1)).ok()
        })
        .take_while(|d| tz.day_start(*d).is_ok_and(|t| t < range.end))
        .filter(|d| (i64::from(d.year()) * 12 + i64::from(d.month()) - 1) % months == 0)
        .filter_map(|d| tz.day_start(d).ok())
        .filter(inside)
        .collect();
        fmt = if months >= 12 { "%Y" } else { "%Y-%m" };
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        out = vec![range.start];
        return (out, "%Y-%m-%d %H:%M");
    }
    (out, fmt)
}

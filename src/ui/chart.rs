//! The per-day chart: the records' day statistics as inline SVG bars (no scripts, no assets).

use std::fmt::Write;

use chrono::NaiveDate;

use super::html::{bytes, esc};
use crate::store::StatsRow;

/// One day of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub count: i64,
    pub bytes: i64,
}

/// Days from `first` to `last` inclusive, with those the statistics lack at zero: a gap is a day
/// without uploads, and the bars must say so. Rows outside the range are left out.
pub fn days(rows: &[StatsRow], first: NaiveDate, last: NaiveDate) -> Vec<Day> {
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|date| {
            let key = date.format("%Y-%m-%d").to_string();
            let row = rows.iter().find(|r| r.group == key);
            Day {
                date,
                count: row.map_or(0, |r| r.count),
                bytes: row.map_or(0, |r| r.bytes),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub enum Metric {
    Count,
    Bytes,
}

impl Metric {
    fn of(self, day: &Day) -> i64 {
        match self {
            Metric::Count => day.count,
            Metric::Bytes => day.bytes,
        }
    }

    fn label(self, value: i64) -> String {
        match self {
            Metric::Count => value.to_string(),
            Metric::Bytes => bytes(value),
        }
    }
}

const WIDTH: usize = 560;
const HEIGHT: usize = 150;
const TOP: usize = 12;
const BOTTOM: usize = 18;

/// A bar per day, scaled to the busiest; each bar's `<title>` gives the date and the value.
pub fn svg(days: &[Day], metric: Metric, title: &str) -> String {
    let max = days.iter().map(|d| metric.of(d)).max().unwrap_or(0).max(1);
    let slot = WIDTH as f64 / days.len().max(1) as f64;
    let plot = (HEIGHT - TOP - BOTTOM) as f64;
    let class = match metric {
        Metric::Count => "bar",
        Metric::Bytes => "bar bytes",
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" aria-label=\"{}\"><title>{}</title>\
         <text x=\"0\" y=\"9\">max {}</text>\
         <line class=\"axis\" x1=\"0\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\"/>",
        esc(title),
        esc(title),
        esc(&metric.label(max)),
        base = HEIGHT - BOTTOM,
    );
    for (i, day) in days.iter().enumerate() {
        let value = metric.of(day);
        let h = (value as f64 / max as f64 * plot).round();
        let x = i as f64 * slot + slot * 0.1;
        let _ = write!(
            s,
            "<rect class=\"{class}\" data-date=\"{date}\" data-value=\"{value}\" x=\"{x:.1}\" y=\"{y:.1}\" \
             width=\"{w:.1}\" height=\"{h:.1}\"><title>{date}: {label}</title></rect>",
            date = day.date,
            y = (HEIGHT - BOTTOM) as f64 - h,
            w = slot * 0.8,
            label = esc(&metric.label(value)),
        );
    }
    // The first and last dates under the axis: enough to read the range.
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{y}\">{first}</text><text x=\"{WIDTH}\" y=\"{y}\" text-anchor=\"end\">{last}</text>",
            first = first.date,
            last = last.date,
            y = HEIGHT - 4,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &str, count: i64, bytes: i64) -> StatsRow {
        StatsRow {
            group: group.into(),
            count,
            bytes,
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn missing_days_are_zero_and_outside_days_are_left_out() {
        let rows = [
            row("2026-12-01", 3, 300),
            row("2026-12-03", 1, 50),
            row("2026-11-01", 9, 9),
        ];
        let days = days(&rows, date("2026-12-01"), date("2026-12-03"));
        let got: Vec<(i64, i64)> = days.iter().map(|d| (d.count, d.bytes)).collect();
        assert_eq!(got, vec![(3, 300), (0, 0), (1, 50)]);
        assert_eq!(days[1].date, date("2026-12-02"));
    }

    #[test]
    fn bars_scale_to_the_busiest_day() {
        let days = days(
            &[row("2026-12-01", 4, 4096), row("2026-12-02", 2, 1024)],
            date("2026-12-01"),
            date("2026-12-02"),
        );
        let chart = svg(&days, Metric::Count, "uploads per day");
        let heights: Vec<f64> = chart
            .split("height=\"")
            .skip(2) // the svg's own height
            .map(|s| s.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(heights.len(), 2, "{chart}");
        assert!(
            heights[0] > 0.0 && (heights[0] - 2.0 * heights[1]).abs() < 1.0,
            "{heights:?}"
        );
        assert!(chart.contains("<title>2026-12-01: 4</title>"), "{chart}");
        let chart = svg(&days, Metric::Bytes, "bytes per day");
        assert!(
            chart.contains("2026-12-01: 4.0 KiB") && chart.contains("max 4.0 KiB"),
            "{chart}"
        );
    }

    #[test]
    fn an_empty_range_draws_an_empty_chart() {
        let chart = svg(&[], Metric::Count, "uploads per day");
        assert!(chart.starts_with("<svg") && !chart.contains("<rect"), "{chart}");
    }
}

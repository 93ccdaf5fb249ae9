//! Events per day as a bar chart drawn on the server: an SVG (no script, no library) with a
//! title for screen readers, and the same numbers in a table beside it.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{Duration, NaiveDate};
use serde_json::Value;

/// A chart ready for `chart.html`.
pub struct Chart {
    /// Unique in the page (ids of its caption).
    pub id: &'static str,
    pub caption: String,
    /// Safe markup: only numbers and fixed text go into it.
    pub svg: String,
    /// The table's column names.
    pub columns: Vec<&'static str>,
    /// Every day of the range, oldest first: the day, then its figures.
    pub rows: Vec<Vec<String>>,
}

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
const BOTTOM: f64 = 18.0;

/// Events per day from `GET /events_per_day/*` answers (summed over applications), for each
/// of the `days` days ending `today`.
pub fn events_per_day(id: &'static str, entries: &Value, today: NaiveDate, days: i64) -> Chart {
    let first = today - Duration::days(days - 1);
    let mut per_day: BTreeMap<NaiveDate, i64> =
        (0..days).map(|i| (first + Duration::days(i), 0)).collect();
    for entry in entries.as_array().into_iter().flatten() {
        let date = entry["date"]
            .as_str()
            .and_then(|d| d.parse::<NaiveDate>().ok());
        if let Some(count) = date.and_then(|d| per_day.get_mut(&d)) {
            *count += entry["amount"].as_i64().unwrap_or(0);
        }
    }
    let total: i64 = per_day.values().sum();
    let max = per_day.values().copied().max().unwrap_or(0).max(1);
    let slot = WIDTH / days as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">Events per day over the last {days} days: {total} in all, at most {max} in one day</title>"#,
        max = per_day.values().copied().max().unwrap_or(0)
    );
    let plot = HEIGHT - BOTTOM;
    for (i, count) in per_day.values().enumerate() {
        let h = (*count as f64 / max as f64) * (plot - 4.0);
        let x = i as f64 * slot + 1.0;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"/>"#,
            y = plot - h,
            w = (slot - 2.0).max(1.0),
        );
    }
    let label_y = HEIGHT - 4.0;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="0" y1="{plot}" x2="{WIDTH}" y2="{plot}"/><text x="0" y="{label_y}">{first}</text><text x="{WIDTH}" y="{label_y}" text-anchor="end">{today}</text></svg>"#
    );
    if total == 0 {
        svg = format!(r#"<p class="chart-empty">No event in the last {days} days yet.</p>"#);
    }
    Chart {
        id,
        caption: format!("Events per day, last {days} days ({total} in all)"),
        svg,
        columns: vec!["Day", "Events"],
        rows: per_day
            .into_iter()
            .map(|(day, count)| vec![day.to_string(), count.to_string()])
            .collect(),
    }
}

/// Deliveries per day from `GET /deliveries_per_day/application`: succeeded and failed
/// attempts stacked, and the success rate in the caption and the title.
pub fn deliveries_per_day(id: &'static str, entries: &Value, today: NaiveDate, days: i64) -> Chart {
    let first = today - Duration::days(days - 1);
    let mut per_day: BTreeMap<NaiveDate, (i64, i64)> = (0..days)
        .map(|i| (first + Duration::days(i), (0, 0)))
        .collect();
    for entry in entries.as_array().into_iter().flatten() {
        let date = entry["date"]
            .as_str()
            .and_then(|d| d.parse::<NaiveDate>().ok());
        if let Some(day) = date.and_then(|d| per_day.get_mut(&d)) {
            day.0 += entry["succeeded"].as_i64().unwrap_or(0);
            day.1 += entry["failed"].as_i64().unwrap_or(0);
        }
    }
    let (ok, failed): (i64, i64) = per_day
        .values()
        .fold((0, 0), |(a, b), (s, f)| (a + s, b + f));
    let rate = if ok + failed > 0 {
        format!(
            "{:.1} % succeeded",
            ok as f64 * 100.0 / (ok + failed) as f64
        )
    } else {
        "no finished delivery".to_owned()
    };
    let max = per_day
        .values()
        .map(|(s, f)| s + f)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / days as f64;
    let plot = HEIGHT - BOTTOM;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">Delivery attempts per day over the last {days} days: {ok} succeeded, {failed} failed ({rate})</title>"#
    );
    for (i, (s, f)) in per_day.values().enumerate() {
        let x = i as f64 * slot + 1.0;
        let w = (slot - 2.0).max(1.0);
        let hs = (*s as f64 / max as f64) * (plot - 4.0);
        let hf = (*f as f64 / max as f64) * (plot - 4.0);
        let _ = write!(
            svg,
            r#"<rect class="bar ok" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{hs:.1}"/><rect class="bar bad" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{hf:.1}"/>"#,
            plot - hs,
            plot - hs - hf,
        );
    }
    let label_y = HEIGHT - 4.0;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="0" y1="{plot}" x2="{WIDTH}" y2="{plot}"/><text x="0" y="{label_y}">{first}</text><text x="{WIDTH}" y="{label_y}" text-anchor="end">{today}</text></svg>"#
    );
    if ok + failed == 0 {
        svg = format!(
            r#"<p class="chart-empty">No finished delivery in the last {days} days yet.</p>"#
        );
    }
    Chart {
        id,
        caption: format!(
            "Deliveries per day, last {days} days: {ok} succeeded, {failed} failed ({rate})"
        ),
        svg,
        columns: vec!["Day", "Succeeded", "Failed"],
        rows: per_day
            .into_iter()
            .map(|(day, (s, f))| vec![day.to_string(), s.to_string(), f.to_string()])
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn days_without_events_are_zero_and_applications_are_summed() {
        let today: NaiveDate = "2026-03-10".parse().unwrap();
        let entries = json!([
            { "date": "2026-03-10", "amount": 3, "application_name": "a" },
            { "date": "2026-03-10", "amount": 2, "application_name": "b" },
            { "date": "2026-03-08", "amount": 1, "application_name": "a" },
            { "date": "2026-01-01", "amount": 99, "application_name": "a" }
        ]);
        let chart = events_per_day("c", &entries, today, 3);
        assert_eq!(
            chart.rows,
            [
                ["2026-03-08", "1"],
                ["2026-03-09", "0"],
                ["2026-03-10", "5"]
            ]
        );
        assert!(chart.caption.contains("6 in all"));
        assert_eq!(chart.svg.matches("<rect").count(), 3);
        assert!(chart.svg.contains("at most 5 in one day"));
    }

    #[test]
    fn deliveries_stack_successes_and_failures_and_say_the_rate() {
        let today: NaiveDate = "2026-03-10".parse().unwrap();
        let entries = json!([
            { "date": "2026-03-09", "succeeded": 3, "failed": 1, "open": 0 },
            { "date": "2026-03-10", "succeeded": 0, "failed": 0, "open": 2 }
        ]);
        let chart = deliveries_per_day("d", &entries, today, 2);
        assert!(
            chart
                .caption
                .contains("3 succeeded, 1 failed (75.0 % succeeded)"),
            "{}",
            chart.caption
        );
        assert_eq!(chart.rows[0], ["2026-03-09", "3", "1"]);
        assert_eq!(chart.svg.matches("class=\"bar ok\"").count(), 2);
        let none = deliveries_per_day("d", &json!([]), today, 2);
        assert!(none.caption.contains("no finished delivery"));
        // Nothing to draw: a short sentence, not an empty frame.
        assert!(!none.svg.contains("<svg"), "{}", none.svg);
        assert!(none.svg.contains("No finished delivery"));
        assert!(!events_per_day("c", &json!([]), today, 2)
            .svg
            .contains("<svg"));
    }
}

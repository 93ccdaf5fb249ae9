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
    /// Every day of the range, oldest first, with its count.
    pub rows: Vec<(String, i64)>,
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
    Chart {
        id,
        caption: format!("Events per day, last {days} days ({total} in all)"),
        svg,
        rows: per_day
            .into_iter()
            .map(|(day, count)| (day.to_string(), count))
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
                ("2026-03-08".into(), 1),
                ("2026-03-09".into(), 0),
                ("2026-03-10".into(), 5)
            ]
        );
        assert!(chart.caption.contains("6 in all"));
        assert_eq!(chart.svg.matches("<rect").count(), 3);
        assert!(chart.svg.contains("at most 5 in one day"));
    }
}

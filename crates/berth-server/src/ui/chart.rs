//! The crate page's downloads chart, drawn server-side as inline SVG (no
//! script): the bars, axis labels and the sentence that says the same in
//! words. Pure arithmetic over the daily counts berth-core gives; no I/O.

use super::{human_date, plural};

/// One day's bar of the downloads chart (SVG user units).
pub(crate) struct Bar {
    pub(crate) x: String,
    pub(crate) y: i64,
    pub(crate) width: String,
    pub(crate) height: i64,
    pub(crate) zero: bool,
    pub(crate) label: String,
}

/// A label on the chart's axes.
pub(crate) struct Tick {
    pub(crate) x: String,
    pub(crate) y: i64,
    pub(crate) text: String,
    pub(crate) anchor: &'static str,
}

/// The crate page's downloads chart: one bar per day, drawn server-side as
/// inline SVG (no script), with a y axis (zero, the peak), dates under the
/// first and last day, and its numbers as text beside it. A young crate's
/// chart starts at its first day (at least a fortnight is drawn), so a
/// single day of data is a readable bar, not a sliver at the edge.
pub(crate) struct Chart {
    pub(crate) bars: Vec<Bar>,
    pub(crate) ticks: Vec<Tick>,
    /// The plot area: left edge, top, right edge, bottom (the x axis).
    pub(crate) left: i64,
    pub(crate) top: i64,
    pub(crate) right: i64,
    pub(crate) bottom: i64,
    pub(crate) width: i64,
    pub(crate) height: i64,
    pub(crate) summary: String,
}

/// The chart's size in SVG units (it scales to its box, keeping its
/// proportions, so its text stays undistorted).
const CHART_WIDTH: i64 = 400;
const CHART_HEIGHT: i64 = 120;
const CHART_LEFT: i64 = 34;
const CHART_TOP: i64 = 8;
const CHART_BOTTOM: i64 = 100;
/// Fewest days a chart draws.
const CHART_MIN_DAYS: usize = 14;

/// A Unix day number as `YYYY-MM-DD`.
fn day_date(day: i64) -> String {
    human_date(day.saturating_mul(86_400))
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn chart(daily: &[(i64, i64)], created_at: i64) -> Chart {
    // From the crate's first day on (or at least the last fortnight).
    let first_day = created_at.div_euclid(86_400);
    let skip = daily
        .iter()
        .take_while(|(d, _)| *d < first_day)
        .count()
        .min(daily.len().saturating_sub(CHART_MIN_DAYS));
    let daily = &daily[skip..];
    let peak = daily.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let total: i64 = daily.iter().map(|(_, n)| *n).sum();
    let today = daily.last().map_or(0, |(_, n)| *n);
    let plot_w = (CHART_WIDTH - CHART_LEFT - 4) as f64;
    let plot_h = CHART_BOTTOM - CHART_TOP;
    let step = plot_w / daily.len().max(1) as f64;
    let bar_w = (step * 0.8).max(1.0);
    let bars = daily
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            // At least one unit high, so that a quiet day still shows.
            let height = if peak > 0 {
                (n * plot_h / peak).max(1)
            } else {
                1
            };
            Bar {
                x: format!(
                    "{:.1}",
                    CHART_LEFT as f64 + i as f64 * step + (step - bar_w) / 2.0
                ),
                y: CHART_BOTTOM - height,
                width: format!("{bar_w:.1}"),
                height,
                zero: *n == 0,
                label: format!("{}: {}", day_date(*day), plural(*n, "download")),
            }
        })
        .collect::<Vec<_>>();
    let mut ticks = vec![
        Tick {
            x: format!("{}", CHART_LEFT - 4),
            y: CHART_BOTTOM,
            text: "0".into(),
            anchor: "end",
        },
        Tick {
            x: format!("{}", CHART_LEFT - 4),
            y: CHART_TOP + 8,
            text: peak.to_string(),
            anchor: "end",
        },
    ];
    if let (Some((first, _)), Some((last, _))) = (daily.first(), daily.last()) {
        ticks.push(Tick {
            x: format!("{CHART_LEFT}"),
            y: CHART_HEIGHT - 4,
            text: day_date(*first),
            anchor: "start",
        });
        ticks.push(Tick {
            x: format!("{}", CHART_WIDTH - 4),
            y: CHART_HEIGHT - 4,
            text: if first == last {
                "today".into()
            } else {
                format!("{} (today)", day_date(*last))
            },
            anchor: "end",
        });
    }
    let mut summary = format!(
        "{} in the last {}, {today} today",
        plural(total, "download"),
        plural(daily.len() as i64, "day")
    );
    if let Some((day, n)) = daily.iter().filter(|(_, n)| *n > 0).max_by_key(|(_, n)| *n) {
        summary.push_str(&format!("; busiest day {} ({n})", day_date(*day)));
    }
    Chart {
        bars,
        ticks,
        left: CHART_LEFT,
        top: CHART_TOP,
        right: CHART_WIDTH - 4,
        bottom: CHART_BOTTOM,
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_day_of_downloads_is_a_readable_chart() {
        let today = 20_000;
        let daily: Vec<(i64, i64)> = (today - 89..=today)
            .map(|d| (d, if d == today { 3 } else { 0 }))
            .collect();
        let c = chart(&daily, today * 86_400 + 3_600);
        assert_eq!(c.bars.len(), CHART_MIN_DAYS);
        let last = c.bars.last().unwrap();
        assert_eq!(last.height, CHART_BOTTOM - CHART_TOP);
        assert!(last.width.parse::<f64>().unwrap() > 15.0, "{}", last.width);
        let texts: Vec<&str> = c.ticks.iter().map(|t| t.text.as_str()).collect();
        assert!(texts.contains(&"3") && texts.contains(&"0"), "{texts:?}");
        assert!(
            c.summary
                .starts_with("3 downloads in the last 14 days, 3 today"),
            "{}",
            c.summary
        );
    }
}

//! The overview's chart of the last days, drawn as SVG by karajan (no script, no
//! library): per UTC day, bars for the runs started and the tickets finished (left
//! axis, counts) and a line for the cost (right axis, USD), from `Store::daily` — the
//! same figures `GET /api/v1/stats/daily` returns.
//!
//! Each day is a `<g class="day">` carrying its figures as `data-*` attributes and a
//! `<title>` with them in words, so a reader hovering a bar (or a test) gets exact
//! numbers. Axes get "nice" maxima (1, 2 or 5 times a power of ten). Styling is by
//! class (`app.css`).

use std::fmt::Write;

use crate::store::DayFigures;

const W: f64 = 760.0;
const H: f64 = 250.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
const TICKS: u32 = 4;

/// The smallest 1, 2 or 5 × 10^k at least `v` (at least `floor`): a tick step.
fn nice(v: f64, floor: f64) -> f64 {
    let v = v.max(floor);
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v - 1e-12)
        .unwrap_or(10.0 * p)
}

/// A dollar amount with the decimals a figure of that size (or a tick step) needs.
fn usd_with(v: f64, step: f64) -> String {
    let decimals = (-step.log10()).ceil().clamp(2.0, 6.0) as usize;
    format!("${v:.decimals$}")
}

fn usd(v: f64) -> String {
    usd_with(v, if v > 0.0 { v / 10.0 } else { 0.01 })
}

/// The chart of `days` (oldest first) as an `<svg id="daily-chart">` element.
pub(crate) fn render(days: &[DayFigures]) -> String {
    let n = days.len().max(1) as f64;
    let ticks = f64::from(TICKS);
    let count_max = ticks
        * nice(
            days.iter()
                .map(|d| d.runs.max(d.finished) as f64)
                .fold(0.0, f64::max)
                / ticks,
            1.0,
        );
    let cost_step = nice(
        days.iter().map(|d| d.cost_usd).fold(0.0, f64::max) / ticks,
        0.0025,
    );
    let cost_max = ticks * cost_step;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let base = TOP + plot_h;
    let slot = plot_w / n;
    let bar = (slot * 0.32).min(18.0);
    let y_count = |v: f64| base - v / count_max * plot_h;
    let y_cost = |v: f64| base - v / cost_max * plot_h;
    let total_runs: u64 = days.iter().map(|d| d.runs).sum();
    let total_cost: f64 = days.iter().map(|d| d.cost_usd).sum();
    let total_done: u64 = days.iter().map(|d| d.finished).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"daily-chart\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-labelledby=\"daily-chart-title\"><title id=\"daily-chart-title\">The last {n} \
         days: {total_runs} runs, {cost} spent, {total_done} tickets finished</title>",
        n = days.len(),
        cost = usd(total_cost),
    );
    // Legend.
    for (i, (class, text)) in [
        ("runs", "runs started"),
        ("finished", "tickets finished"),
        ("cost", "cost (USD)"),
    ]
    .iter()
    .enumerate()
    {
        let x = LEFT + i as f64 * 150.0;
        let _ = write!(
            out,
            "<g class=\"legend {class}\"><rect x=\"{x}\" y=\"8\" width=\"12\" height=\"12\" rx=\"2\"/>\
             <text x=\"{tx}\" y=\"18\">{text}</text></g>",
            tx = x + 17.0
        );
    }
    // Grid and axes.
    out.push_str("<g class=\"axes\">");
    for i in 0..=TICKS {
        let f = f64::from(i) / f64::from(TICKS);
        let y = base - f * plot_h;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\"/>\
             <text class=\"tick left\" x=\"{lx}\" y=\"{ty:.1}\">{c}</text>\
             <text class=\"tick right\" x=\"{rx}\" y=\"{ty:.1}\">{u}</text>",
            x2 = W - RIGHT,
            lx = LEFT - 6.0,
            rx = W - RIGHT + 6.0,
            ty = y + 4.0,
            c = (f * count_max).round(),
            u = usd_with(f * cost_max, cost_step),
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis-label\" x=\"12\" y=\"{my:.1}\" transform=\"rotate(-90 12 {my:.1})\">runs · tickets</text>\
         <text class=\"axis-label\" x=\"{rx}\" y=\"{my:.1}\" transform=\"rotate(90 {rx} {my:.1})\">cost (USD)</text>\
         <text class=\"axis-label\" x=\"{mx:.1}\" y=\"{by}\">day (UTC)</text></g>",
        my = TOP + plot_h / 2.0,
        rx = W - 8.0,
        mx = LEFT + plot_w / 2.0,
        by = H - 4.0,
    );
    // Bars, one group per day.
    let mut line = vec![];
    let label_every = (days.len() / 10).max(1);
    for (i, d) in days.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let (yr, yf) = (y_count(d.runs as f64), y_count(d.finished as f64));
        let yc = y_cost(d.cost_usd);
        line.push(format!("{}{cx:.1},{yc:.1}", if i == 0 { "M" } else { "L" }));
        let short = d.day.get(5..).unwrap_or(&d.day);
        let label = if i % label_every == 0 || i + 1 == days.len() {
            format!(
                "<text class=\"tick day\" x=\"{cx:.1}\" y=\"{y:.1}\">{short}</text>",
                y = base + 16.0
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<g class=\"day\" data-day=\"{day}\" data-runs=\"{r}\" data-failed=\"{fa}\" \
             data-finished=\"{f}\" data-cost=\"{c}\"><title>{day}: {r} runs ({fa} failed), \
             {cost}, {f} tickets finished</title>\
             <rect class=\"runs\" x=\"{xr:.1}\" y=\"{yr:.1}\" width=\"{bar:.1}\" height=\"{hr:.1}\"/>\
             <rect class=\"finished\" x=\"{xf:.1}\" y=\"{yf:.1}\" width=\"{bar:.1}\" height=\"{hf:.1}\"/>\
             {label}</g>",
            day = d.day,
            r = d.runs,
            fa = d.failed,
            f = d.finished,
            c = d.cost_usd,
            cost = usd(d.cost_usd),
            xr = cx - bar - 1.0,
            xf = cx + 1.0,
            hr = base - yr,
            hf = base - yf,
        );
    }
    let _ = write!(out, "<path class=\"cost-line\" d=\"{}\"/>", line.join(""));
    for (i, d) in days.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let _ = write!(
            out,
            "<circle class=\"cost-dot\" cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
            y_cost(d.cost_usd),
            d.day,
            usd(d.cost_usd)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, runs: u64, cost: f64, finished: u64) -> DayFigures {
        DayFigures {
            day: day.into(),
            runs,
            failed: 0,
            cost_usd: cost,
            finished,
        }
    }

    #[test]
    fn axes_are_nice() {
        assert_eq!(nice(0.0, 1.0), 1.0);
        assert_eq!(nice(1.75, 1.0), 2.0);
        assert_eq!(nice(2.75, 1.0), 5.0);
        assert_eq!(nice(0.3, 0.01), 0.5);
        assert_eq!(nice(0.0, 0.0025), 0.005);
        assert_eq!(usd_with(0.015, 0.005), "$0.015");
        assert_eq!(usd_with(2.0, 0.5), "$2.00");
    }

    #[test]
    fn every_day_is_a_group_with_its_figures_and_bars_to_scale() {
        let days = vec![
            day("2026-11-20", 2, 0.5, 0),
            day("2026-11-21", 8, 1.25, 4),
            day("2026-11-22", 0, 0.0, 0),
        ];
        let svg = render(&days);
        let doc = roxmltree::Document::parse(&svg).expect("XML");
        let groups: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("day"))
            .collect();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[1].attribute("data-runs"), Some("8"));
        assert_eq!(groups[1].attribute("data-finished"), Some("4"));
        assert_eq!(groups[1].attribute("data-cost"), Some("1.25"));
        let height = |g: &roxmltree::Node, class: &str| -> f64 {
            g.children()
                .find(|c| c.attribute("class") == Some(class))
                .and_then(|c| c.attribute("height"))
                .unwrap()
                .parse()
                .unwrap()
        };
        // Four ticks of 2: the count axis tops at 8, so 8 runs fill the plot, 4
        // tickets half of it, 2 runs a quarter.
        let plot = H - TOP - BOTTOM;
        assert!((height(&groups[1], "runs") - plot).abs() < 0.2);
        assert!((height(&groups[1], "finished") - 0.5 * plot).abs() < 0.2);
        assert!((height(&groups[0], "runs") - 0.25 * plot).abs() < 0.2);
        assert_eq!(height(&groups[2], "runs"), 0.0);
        // Axis labels, day labels and the cost line through every day.
        let text: String = doc
            .descendants()
            .filter(|n| n.is_text())
            .map(|n| n.text().unwrap())
            .collect::<Vec<_>>()
            .join("|");
        for want in [
            "runs · tickets",
            "cost (USD)",
            "11-20",
            "11-22",
            "$2.00",
            "|8|",
            "|6|",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        let line = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("cost-line"))
            .unwrap();
        assert_eq!(line.attribute("d").unwrap().matches(['M', 'L']).count(), 3);
    }
}

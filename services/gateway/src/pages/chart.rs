//! Charts drawn on the server as SVG: an indicator's figures over time, reported figures as
//! points joined by a line, estimates as squares, each target as a dashed horizontal line. The
//! SVG names itself (`<title>`) and says in words what it shows (`<desc>`), for screen readers.

use maud::{Markup, html};

use super::i18n::Lang;

/// What kind of figure a point is; targets and achievements are drawn differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reported,
    /// Estimates and provisional figures.
    Estimate,
    Target,
}

/// One figure to draw.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The ISO 8601 period: `2020`, `2023-Q2`, `2023-04`, `2023-04-15` or `2007/2020`.
    pub period: String,
    pub value: f64,
    pub kind: Kind,
    /// The source's title, said in the description.
    pub source: String,
}

/// A chart of one indicator's figures.
pub struct Chart<'a> {
    /// Unique within the page: the ids of the title and description derive from it.
    pub id: &'a str,
    pub title: &'a str,
    /// The unit in words, the y axis's title ("hectares").
    pub unit_label: &'a str,
    pub figures: &'a [Figure],
    /// A year the time axis starts at or before, such as the initiative's start, so that a lone
    /// target is seen against the time the initiative has had.
    pub since: Option<i32>,
    pub lang: Lang,
}

/// Where a period sits on a time axis, in fractional years.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
    /// Where its figure is drawn: the end of an interval (a figure "from 2007 to 2020" is what
    /// stood at the end), the middle of a single period.
    pub point: f64,
}

/// Reads an ISO 8601 period; `None` for anything else.
pub fn period_span(period: &str) -> Option<Span> {
    if let Some((first, last)) = period.split_once('/') {
        let (start, _) = single_period(first)?;
        let (_, end) = single_period(last)?;
        return (start < end).then_some(Span { start, end, point: end });
    }
    let (start, end) = single_period(period)?;
    Some(Span {
        start,
        end,
        point: (start + end) / 2.0,
    })
}

/// The start and end of a year, quarter, month or day, in fractional years.
fn single_period(period: &str) -> Option<(f64, f64)> {
    let parts: Vec<&str> = period.trim().split('-').collect();
    let year: u16 = parts.first().filter(|year| year.len() == 4)?.parse().ok()?;
    let year = f64::from(year);
    match parts[1..] {
        [] => Some((year, year + 1.0)),
        [quarter] if quarter.starts_with('Q') => {
            let quarter: u8 = quarter[1..].parse().ok().filter(|quarter| (1..=4).contains(quarter))?;
            let start = year + f64::from(quarter - 1) / 4.0;
            Some((start, start + 0.25))
        }
        [month] => {
            let month: u8 = month.parse().ok().filter(|month| (1..=12).contains(month))?;
            let start = year + f64::from(month - 1) / 12.0;
            Some((start, start + 1.0 / 12.0))
        }
        [month, day] => {
            let month: u8 = month.parse().ok().filter(|month| (1..=12).contains(month))?;
            let day: u8 = day.parse().ok().filter(|day| (1..=31).contains(day))?;
            let start = year + f64::from(month - 1) / 12.0 + f64::from(day - 1) / 365.0;
            Some((start, start + 1.0 / 365.0))
        }
        _ => None,
    }
}

const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 290.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 52.0;

const REPORTED_COLOUR: &str = "#1d4ed8";
const ESTIMATE_COLOUR: &str = "#b45309";
const TARGET_COLOUR: &str = "#b91c1c";
const TEXT_COLOUR: &str = "#1f2937";
const GRID_COLOUR: &str = "#d1d5db";

/// A step of 1, 2 or 5 times a power of ten that cuts `range` into at most `most` parts.
fn nice_step(range: f64, most: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let rough = range / most;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    fn at(&self, value: f64) -> f64 {
        let (low, high) = self.domain;
        let share = if high > low { (value - low) / (high - low) } else { 0.5 };
        self.range.0 + share * (self.range.1 - self.range.0)
    }
}

fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

fn kind_label(kind: Kind, lang: Lang) -> &'static str {
    match kind {
        Kind::Reported => lang.t("Reported"),
        Kind::Estimate => lang.t("Estimate"),
        Kind::Target => lang.t("Target"),
    }
}

/// The description read out in place of the picture: every figure, its period and source.
fn description(chart: &Chart) -> String {
    let lang = chart.lang;
    let mut sentences = Vec::new();
    for kind in [Kind::Reported, Kind::Estimate, Kind::Target] {
        let figures: Vec<String> = chart
            .figures
            .iter()
            .filter(|figure| figure.kind == kind)
            .map(|figure| {
                format!(
                    "{} {} ({}, {})",
                    lang.number(figure.value),
                    chart.unit_label,
                    figure.period,
                    figure.source
                )
            })
            .collect();
        if !figures.is_empty() {
            sentences.push(format!("{}: {}.", kind_label(kind, lang), figures.join("; ")));
        }
    }
    if !chart.figures.iter().any(|figure| figure.kind == Kind::Reported) {
        sentences.push(lang.t("No reported figure yet.").to_owned());
    }
    sentences.join(" ")
}

/// The chart as an inline SVG element.
pub fn svg(chart: &Chart) -> Markup {
    let lang = chart.lang;
    let placed: Vec<(&Figure, Span)> = chart
        .figures
        .iter()
        .filter(|figure| figure.value.is_finite())
        .filter_map(|figure| Some((figure, period_span(&figure.period)?)))
        .collect();

    let first_year = placed.iter().map(|(_, span)| span.start).fold(f64::INFINITY, f64::min);
    let last_year = placed
        .iter()
        .map(|(_, span)| span.end)
        .fold(f64::NEG_INFINITY, f64::max);
    let (first_year, last_year) = if placed.is_empty() {
        (2000.0, 2001.0)
    } else {
        (first_year.floor(), last_year.ceil())
    };
    let first_year = match chart.since {
        Some(since) if f64::from(since) < first_year && f64::from(since) > first_year - 100.0 => f64::from(since),
        _ => first_year,
    };
    let x = Scale {
        domain: (first_year, last_year),
        range: (LEFT, WIDTH - RIGHT),
    };
    let year_step = nice_step(last_year - first_year, 6.0).max(1.0);
    let years: Vec<f64> = (0..)
        .map(|index| (first_year / year_step).ceil() * year_step + f64::from(index) * year_step)
        .take_while(|year| *year <= last_year)
        .collect();

    let highest = placed.iter().map(|(figure, _)| figure.value).fold(0.0, f64::max);
    let lowest = placed.iter().map(|(figure, _)| figure.value).fold(0.0, f64::min);
    let value_step = nice_step((highest - lowest) * 1.08, 6.0);
    let top_value = ((highest * 1.08) / value_step).ceil() * value_step;
    let bottom_value = (lowest / value_step).floor() * value_step;
    let top_value = if top_value > bottom_value {
        top_value
    } else {
        bottom_value + value_step
    };
    let y = Scale {
        domain: (bottom_value, top_value),
        range: (HEIGHT - BOTTOM, TOP),
    };
    let values: Vec<f64> = (0..)
        .map(|index| bottom_value + f64::from(index) * value_step)
        .take_while(|value| *value <= top_value + value_step / 2.0)
        .collect();

    let mut reported: Vec<(f64, f64)> = placed
        .iter()
        .filter(|(figure, _)| figure.kind == Kind::Reported)
        .map(|(figure, span)| (span.point, figure.value))
        .collect();
    reported.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let line: Vec<String> = reported
        .iter()
        .map(|(year, value)| format!("{},{}", coordinate(x.at(*year)), coordinate(y.at(*value))))
        .collect();

    let kinds: Vec<Kind> = [Kind::Reported, Kind::Estimate, Kind::Target]
        .into_iter()
        .filter(|kind| placed.iter().any(|(figure, _)| figure.kind == *kind))
        .collect();
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    let plot_bottom = HEIGHT - BOTTOM;

    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            aria-labelledby={ (title_id) " " (desc_id) } font-family="system-ui, sans-serif" font-size="14" {
            title id=(title_id) { (chart.title) }
            desc id=(desc_id) { (description(chart)) }
            // The legend, one entry per kind of figure shown.
            g.legend {
                @for (index, kind) in kinds.iter().enumerate() {
                    @let left = LEFT + index as f64 * 125.0;
                    (marker(*kind, left + 8.0, 18.0))
                    @if *kind == Kind::Target {
                        line x1=(coordinate(left - 4.0)) x2=(coordinate(left + 20.0)) y1="18" y2="18"
                            stroke=(TARGET_COLOUR) stroke-width="2" stroke-dasharray="6 4" {}
                    }
                    text x=(coordinate(left + 26.0)) y="22" fill=(TEXT_COLOUR) { (kind_label(*kind, lang)) }
                }
            }
            // Axes and grid.
            g.grid stroke=(GRID_COLOUR) stroke-width="1" {
                @for value in &values {
                    line x1=(coordinate(LEFT)) x2=(coordinate(WIDTH - RIGHT))
                        y1=(coordinate(y.at(*value))) y2=(coordinate(y.at(*value))) {}
                }
            }
            g.axis fill=(TEXT_COLOUR) {
                @for value in &values {
                    text x=(coordinate(LEFT - 6.0)) y=(coordinate(y.at(*value) + 4.0)) text-anchor="end" {
                        (lang.compact(*value))
                    }
                }
                @for year in &years {
                    line x1=(coordinate(x.at(*year))) x2=(coordinate(x.at(*year)))
                        y1=(coordinate(plot_bottom)) y2=(coordinate(plot_bottom + 5.0)) stroke=(TEXT_COLOUR) {}
                    text x=(coordinate(x.at(*year))) y=(coordinate(plot_bottom + 19.0)) text-anchor="middle" {
                        (year)
                    }
                }
                line x1=(coordinate(LEFT)) x2=(coordinate(WIDTH - RIGHT)) y1=(coordinate(plot_bottom))
                    y2=(coordinate(plot_bottom)) stroke=(TEXT_COLOUR) {}
                text.axis-title x=(coordinate((LEFT + WIDTH - RIGHT) / 2.0)) y=(coordinate(HEIGHT - 8.0))
                    text-anchor="middle" { (lang.t("Year")) }
                text.axis-title x="0" y="0" text-anchor="middle"
                    transform={ "translate(14 " (coordinate((TOP + plot_bottom) / 2.0)) ") rotate(-90)" } {
                    (chart.unit_label)
                }
            }
            // Targets: a dashed line across, and a hollow diamond at their period.
            @for (figure, span) in placed.iter().filter(|(figure, _)| figure.kind == Kind::Target) {
                @let level = y.at(figure.value);
                g.target {
                    line x1=(coordinate(LEFT)) x2=(coordinate(WIDTH - RIGHT)) y1=(coordinate(level)) y2=(coordinate(level))
                        stroke=(TARGET_COLOUR) stroke-width="2" stroke-dasharray="6 4" {}
                    (marker(Kind::Target, x.at(span.point), level))
                    text x=(coordinate(WIDTH - RIGHT)) y=(coordinate(level - 6.0)) text-anchor="end" fill=(TARGET_COLOUR) {
                        (kind_label(Kind::Target, lang)) " " (figure.period) (lang.colon()) (lang.compact(figure.value))
                    }
                    title { (figure_tooltip(figure, chart, lang)) }
                }
            }
            // Achievements: the line through reported figures, then every point, an interval
            // drawn as a thin bar over the years it covers.
            @if line.len() > 1 {
                polyline points=(line.join(" ")) fill="none" stroke=(REPORTED_COLOUR) stroke-width="2" {}
            }
            @for (figure, span) in placed.iter().filter(|(figure, _)| figure.kind != Kind::Target) {
                @let level = y.at(figure.value);
                @let colour = if figure.kind == Kind::Reported { REPORTED_COLOUR } else { ESTIMATE_COLOUR };
                g.figure {
                    @if span.point == span.end && span.end - span.start > 1.0 {
                        line x1=(coordinate(x.at(span.start))) x2=(coordinate(x.at(span.end)))
                            y1=(coordinate(level)) y2=(coordinate(level)) stroke=(colour) stroke-width="3" stroke-opacity="0.35" {}
                    }
                    (marker(figure.kind, x.at(span.point), level))
                    title { (figure_tooltip(figure, chart, lang)) }
                }
            }
        }
    }
}

fn figure_tooltip(figure: &Figure, chart: &Chart, lang: Lang) -> String {
    format!(
        "{} {}: {} {} ({})",
        kind_label(figure.kind, lang),
        figure.period,
        lang.number(figure.value),
        chart.unit_label,
        figure.source
    )
}

/// A circle for reported figures, a square for estimates, a hollow diamond for targets: the
/// kinds differ by shape as well as colour.
fn marker(kind: Kind, cx: f64, cy: f64) -> Markup {
    match kind {
        Kind::Reported => html! {
            circle.reported cx=(coordinate(cx)) cy=(coordinate(cy)) r="5" fill=(REPORTED_COLOUR) stroke="#fff" stroke-width="1.5" {}
        },
        Kind::Estimate => html! {
            rect.estimate x=(coordinate(cx - 5.0)) y=(coordinate(cy - 5.0)) width="10" height="10" fill=(ESTIMATE_COLOUR) stroke="#fff" stroke-width="1.5" {}
        },
        Kind::Target => html! {
            polygon.target-marker points={
                (coordinate(cx)) "," (coordinate(cy - 6.0)) " " (coordinate(cx + 6.0)) "," (coordinate(cy)) " "
                (coordinate(cx)) "," (coordinate(cy + 6.0)) " " (coordinate(cx - 6.0)) "," (coordinate(cy))
            } fill="#fff" stroke=(TARGET_COLOUR) stroke-width="2" {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(period: &str, value: f64, kind: Kind) -> Figure {
        Figure {
            period: period.to_owned(),
            value,
            kind,
            source: "UNCCD <status report>".to_owned(),
        }
    }

    fn great_green_wall() -> Vec<Figure> {
        vec![
            figure("2007/2020", 18_000_000.0, Kind::Reported),
            figure("2007/2020", 20_000_000.0, Kind::Reported),
            figure("2030", 100_000_000.0, Kind::Target),
        ]
    }

    fn render(figures: &[Figure], lang: Lang) -> String {
        svg(&Chart {
            id: "chart-land-restored",
            title: "Land restored & more",
            unit_label: "hectares",
            figures,
            since: None,
            lang,
        })
        .into_string()
    }

    #[test]
    fn reads_years_quarters_months_days_and_intervals() {
        assert_eq!(
            period_span("2020"),
            Some(Span {
                start: 2020.0,
                end: 2021.0,
                point: 2020.5
            })
        );
        let quarter = period_span("2023-Q2").expect("a quarter");
        assert_eq!((quarter.start, quarter.end), (2023.25, 2023.5));
        let month = period_span("2023-04").expect("a month");
        assert!((month.start - 2023.25).abs() < 1e-9);
        assert!(period_span("2023-04-15").is_some());
        let interval = period_span("2007/2020").expect("an interval");
        assert_eq!((interval.start, interval.end, interval.point), (2007.0, 2021.0, 2021.0));
        for bad in [
            "",
            "20",
            "2023-13",
            "2023-Q5",
            "2023-04-32",
            "2020/2010",
            "abcd",
            "2020-01-01-01",
        ] {
            assert_eq!(period_span(bad), None, "{bad}");
        }
    }

    #[test]
    fn picks_round_steps() {
        assert_eq!(nice_step(108_000_000.0, 6.0), 20_000_000.0);
        assert_eq!(nice_step(24.0, 6.0), 5.0);
        assert_eq!(nice_step(3.0, 6.0), 0.5, "years then step by at least one");
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(nice_step(f64::NAN, 5.0), 1.0);
    }

    #[test]
    fn names_itself_for_screen_readers_and_describes_every_figure_with_its_source() {
        let svg = render(&great_green_wall(), Lang::En);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="chart-land-restored-title chart-land-restored-desc""#));
        assert!(svg.contains(r#"<title id="chart-land-restored-title">Land restored &amp; more</title>"#));
        let desc_start = svg.find("<desc").expect("a desc");
        let desc = &svg[desc_start..svg.find("</desc>").expect("a closed desc")];
        assert!(desc.contains("Reported: 18,000,000 hectares (2007/2020, UNCCD &lt;status report&gt;)"));
        assert!(desc.contains("Target: 100,000,000 hectares (2030"));
        assert!(!svg.contains("<status report>"), "text is escaped");
    }

    #[test]
    fn draws_reported_figures_as_joined_points_and_the_target_as_a_dashed_line() {
        let svg = render(&great_green_wall(), Lang::En);
        assert_eq!(
            svg.matches("<circle class=\"reported\"").count(),
            3,
            "two points and the legend's"
        );
        assert!(svg.contains("<polyline"));
        assert_eq!(
            svg.matches("stroke-dasharray=\"6 4\"").count(),
            2,
            "the target and the legend's"
        );
        assert!(svg.contains(">Target 2030: 100\u{a0}M</text>"));
        assert!(svg.contains(">hectares</text>"), "the y axis is titled with the unit");
        assert!(svg.contains(">Year</text>"));
        for year in ["2010", "2020", "2030"] {
            assert!(svg.contains(&format!(">{year}</text>")), "{year} labelled");
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn a_chart_with_only_a_target_says_there_is_no_reported_figure() {
        let figures = [figure("2018", 50_000_000.0, Kind::Target)];
        let svg = render(&figures, Lang::Fr);
        assert!(svg.contains("Aucun chiffre déclaré"));
        assert!(!svg.contains("<polyline"));
        assert!(!svg.contains("NaN"));
        assert!(svg.contains(">Année</text>"));
    }

    #[test]
    fn estimates_are_squares_and_unreadable_periods_are_left_out_without_breaking_the_chart() {
        let figures = [
            figure("2016-04", 80.0, Kind::Estimate),
            figure("not a period", 1e12, Kind::Reported),
            figure("2018-10", 155.0, Kind::Reported),
        ];
        let svg = render(&figures, Lang::En);
        assert_eq!(
            svg.matches("<rect class=\"estimate\"").count(),
            2,
            "the point and the legend's"
        );
        assert!(!svg.contains("<polyline"), "one reported point makes no line");
        assert!(!svg.contains("NaN"));
        assert!(
            !svg.contains("1\u{a0}000\u{a0}bn"),
            "the unplaced figure does not stretch the axis"
        );
    }

    #[test]
    fn the_time_axis_can_start_at_the_initiative_s_start() {
        let figures = [figure("2030", 250_000_000.0, Kind::Target)];
        let chart = |since| {
            svg(&Chart {
                id: "c",
                title: "Carbon",
                unit_label: "tonnes",
                figures: &figures,
                since,
                lang: Lang::En,
            })
            .into_string()
        };
        assert!(chart(Some(2007)).contains(">2010</text>"));
        assert!(!chart(None).contains(">2010</text>"));
        assert!(
            !chart(Some(1)).contains(">10</text>"),
            "an implausible start is ignored"
        );
    }

    #[test]
    fn an_empty_chart_still_renders() {
        let svg = render(&[], Lang::Es);
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        assert!(!svg.contains("NaN"));
    }
}

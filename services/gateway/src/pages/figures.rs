//! Figures as the pages show them: an indicator's chart with where it stands against its
//! target, and a table of figures, each with its status and source.

use std::collections::HashMap;

use maud::{Markup, html};
use sse_proto::{
    indicators::{Indicator, IndicatorProgress, Observation, observation},
    types::SourceCitation,
};

use super::{
    Ctx,
    chart::{self, Chart, Figure, Kind},
    i18n::Lang,
    labels, parts,
};

fn chart_kind(status: observation::Status) -> Kind {
    match status {
        observation::Status::Target => Kind::Target,
        observation::Status::Reported | observation::Status::Unspecified => Kind::Reported,
        observation::Status::Estimate | observation::Status::Provisional => Kind::Estimate,
    }
}

/// One indicator on an initiative's page: where it stands, the chart, and every figure with
/// its source.
pub(super) fn indicator_section(
    ctx: &Ctx,
    name: &str,
    indicator: Option<&Indicator>,
    progress: Option<&IndicatorProgress>,
    observations: &[&Observation],
    since: Option<i32>,
) -> Markup {
    let lang = ctx.lang;
    let code = parts::id_of(name);
    let title = indicator
        .map(|indicator| indicator.display_name.as_str())
        .or(progress.map(|entry| entry.display_name.as_str()))
        .unwrap_or(code);
    let unit_label = indicator
        .map(|indicator| {
            if indicator.unit_label.is_empty() {
                indicator.unit.as_str()
            } else {
                indicator.unit_label.as_str()
            }
        })
        .or(progress.map(|entry| entry.unit.as_str()))
        .unwrap_or_default();
    let figures: Vec<Figure> = observations
        .iter()
        .map(|observation| Figure {
            period: observation.time_period.clone(),
            value: observation.value,
            kind: chart_kind(observation.status()),
            source: observation
                .source
                .as_ref()
                .map(|source| source.title.clone())
                .unwrap_or_default(),
        })
        .collect();
    let chart_id = format!("chart-{code}");
    html! {
        section.indicator aria-labelledby={ "indicator-" (code) } {
            h3 #{ "indicator-" (code) } {
                a href={ (ctx.href("/indicators")) "#" (code) } { (title) }
                " " span.unit { "(" (unit_label) ")" }
            }
            @if let Some(progress) = progress {
                (progress_summary(lang, progress, unit_label))
            }
            figure.chart-figure {
                (chart::svg(&Chart { id: &chart_id, title, unit_label, figures: &figures, since, lang }))
                figcaption {
                    (ctx.t("Sources")) (lang.colon())
                    @for (index, source) in unique_sources(observations).iter().enumerate() {
                        @if index > 0 { "; " }
                        (parts::source(source))
                    }
                }
            }
            (observation_table(ctx, observations, unit_label, None))
        }
    }
}

fn unique_sources<'a>(observations: &[&'a Observation]) -> Vec<&'a SourceCitation> {
    let mut sources: Vec<&SourceCitation> = Vec::new();
    for source in observations
        .iter()
        .filter_map(|observation| observation.source.as_ref())
    {
        if !sources
            .iter()
            .any(|known| known.title == source.title && known.url == source.url)
        {
            sources.push(source);
        }
    }
    sources
}

fn progress_summary(lang: Lang, progress: &IndicatorProgress, unit_label: &str) -> Markup {
    html! {
        p.progress {
            @if let Some(reported) = &progress.latest_reported {
                (lang.t("Latest reported")) (lang.colon())
                strong { (lang.number(reported.value)) " " (unit_label) } " (" (reported.time_period) ")"
            } @else {
                (lang.t("No reported figure yet."))
            }
            @if let Some(target) = &progress.latest_target {
                br;
                (lang.t("Latest target")) (lang.colon())
                strong { (lang.number(target.value)) " " (unit_label) } " (" (target.time_period) ")"
            }
            @if let Some(ratio) = progress.ratio {
                br;
                strong { (lang.number(ratio * 100.0)) " %" } " " (lang.t("of the target"))
            }
        }
    }
}

/// The figures as a table, each with its source: the chart's data for those who cannot see it.
pub(super) fn observation_table(
    ctx: &Ctx,
    observations: &[&Observation],
    unit_label: &str,
    initiatives: Option<&HashMap<String, String>>,
) -> Markup {
    let lang = ctx.lang;
    html! {
        div.table-scroll tabindex="0" role="region" aria-label=(ctx.t("Figures")) {
            table.figures {
                thead {
                    tr {
                        th scope="col" { (ctx.t("Period")) }
                        th scope="col" { (ctx.t("Status")) }
                        th scope="col" class="number" { (ctx.t("Value")) }
                        th scope="col" { (ctx.t("Place")) }
                        @if initiatives.is_some() { th scope="col" { (ctx.t("Initiative")) } }
                        th scope="col" { (ctx.t("Source")) }
                    }
                }
                tbody {
                    @for observation in observations {
                        tr {
                            td data-label=(ctx.t("Period")) { (observation.time_period) }
                            td data-label=(ctx.t("Status")) { (labels::observation_status(lang, observation.status())) }
                            td.number data-label=(ctx.t("Value")) {
                                (lang.number(observation.value)) " " span.unit { (unit_label) }
                            }
                            td data-label=(ctx.t("Place")) { (parts::place(&observation.ref_area)) }
                            @if let Some(names) = initiatives {
                                td data-label=(ctx.t("Initiative")) {
                                    @if !observation.initiative.is_empty() {
                                        a href=(ctx.href(&parts::initiative_path(&observation.initiative))) {
                                            (names.get(&observation.initiative).map_or_else(
                                                || parts::id_of(&observation.initiative),
                                                String::as_str,
                                            ))
                                        }
                                    }
                                }
                            }
                            td data-label=(ctx.t("Source")) {
                                @if let Some(source) = &observation.source { (parts::source(source)) }
                                @if !observation.note.is_empty() {
                                    br; small.note { (ctx.t("Note")) (lang.colon()) (observation.note) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

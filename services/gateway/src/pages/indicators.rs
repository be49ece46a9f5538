//! The indicators: what each measures, the official SDG indicators it relates to (titled in the
//! page's language), and its series of figures, each with its status and source.

use std::collections::{BTreeMap, HashMap};

use axum::{extract::State, response::Response};
use maud::{Markup, html};
use sse_proto::indicators::{Indicator, ListIndicatorsRequest, ListObservationsRequest, Observation};
use tonic::Status;

use super::{
    Ctx, Page, PageResult, Section, call, fetch, figures::observation_table, indicators_client, labels, parts,
};
use crate::backends::Backends;

const PAGE_SIZE: i32 = 50;

pub(super) async fn page(State(backends): State<Backends>, ctx: Ctx) -> Response {
    ctx.render(build(&backends, &ctx).await)
}

/// The figures of these indicators, grouped by indicator, oldest period first.
async fn series(backends: &Backends, indicators: &[Indicator]) -> Result<BTreeMap<String, Vec<Observation>>, Status> {
    let mut series: BTreeMap<String, Vec<Observation>> = BTreeMap::new();
    if indicators.is_empty() {
        return Ok(series);
    }
    let filter = indicators
        .iter()
        .map(|indicator| format!("indicator = \"{}\"", indicator.name))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut client = indicators_client(backends);
    let mut page_token = String::new();
    for _ in 0..20 {
        let page = client
            .list_observations(call(ListObservationsRequest {
                parent: "indicators/-".to_owned(),
                page_size: 1000,
                page_token,
                filter: filter.clone(),
                order_by: "period_end, name".to_owned(),
                show_deleted: false,
            }))
            .await?
            .into_inner();
        for observation in page.observations {
            let indicator = observation
                .name
                .split("/observations/")
                .next()
                .unwrap_or_default()
                .to_owned();
            series.entry(indicator).or_default().push(observation);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(series)
}

async fn build(backends: &Backends, ctx: &Ctx) -> PageResult {
    let page_token = ctx.param("page_token").unwrap_or_default().to_owned();
    let first_page = page_token.is_empty();
    let listed = indicators_client(backends)
        .list_indicators(call(ListIndicatorsRequest {
            page_size: PAGE_SIZE,
            page_token,
            order_by: "display_name".to_owned(),
            ..ListIndicatorsRequest::default()
        }))
        .await?
        .into_inner();
    let (series, sdg_indicators, goals) = tokio::try_join!(
        series(backends, &listed.indicators),
        fetch::sdg_indicators(backends, ctx.lang),
        fetch::sdg_goals(backends, ctx.lang),
    )?;
    let mut mentioned: Vec<&str> = series
        .values()
        .flatten()
        .map(|observation| observation.initiative.as_str())
        .filter(|name| !name.is_empty())
        .collect();
    mentioned.sort_unstable();
    mentioned.dedup();
    let initiative_names = fetch::initiative_names(backends, &mentioned).await;
    let next_page = (!listed.next_page_token.is_empty())
        .then(|| ctx.href_with("/indicators", &[("page_token", &listed.next_page_token)]));
    let body = html! {
        h1 { (ctx.t("Indicators")) }
        nav.toc aria-label=(ctx.t("Indicators")) {
            ul {
                @for indicator in &listed.indicators {
                    li { a href={ "#" (parts::id_of(&indicator.name)) } { (indicator.display_name) } }
                }
            }
        }
        @for indicator in &listed.indicators {
            (indicator_section(
                ctx,
                indicator,
                series.get(&indicator.name).map(Vec::as_slice).unwrap_or_default(),
                &sdg_indicators,
                &goals,
                &initiative_names,
            ))
        }
        nav.pager aria-label="Pages" {
            @if !first_page { a href=(ctx.href("/indicators")) { "« " (ctx.t("First page")) } }
            @if let Some(next) = &next_page { a rel="next" href=(next) { (ctx.t("Next page")) " »" } }
        }
    };
    Ok(Page {
        title: ctx.t("Indicators").to_owned(),
        section: Section::Indicators,
        body,
    })
}

fn indicator_section(
    ctx: &Ctx,
    indicator: &Indicator,
    observations: &[Observation],
    sdg_indicators: &HashMap<String, String>,
    goals: &BTreeMap<i32, String>,
    initiative_names: &HashMap<String, String>,
) -> Markup {
    let lang = ctx.lang;
    let code = parts::id_of(&indicator.name);
    let unit_label = if indicator.unit_label.is_empty() {
        &indicator.unit
    } else {
        &indicator.unit_label
    };
    let rows: Vec<&Observation> = observations.iter().collect();
    html! {
        section.indicator #(code) aria-labelledby={ "title-" (code) } {
            h2 #{ "title-" (code) } { (indicator.display_name) }
            @if !indicator.description.is_empty() { p { (indicator.description) } }
            dl.facts {
                dt { (ctx.t("Unit")) }
                dd { (unit_label) " " code { (indicator.unit) } }
                dt { (ctx.t("Category")) }
                dd { (labels::category(lang, indicator.category())) }
                dt { (ctx.t("Aggregation")) }
                dd { (labels::aggregation(lang, indicator.aggregation())) }
                @if !indicator.methodology.is_empty() {
                    dt { (ctx.t("Methodology")) }
                    dd { (indicator.methodology) }
                }
                @if !indicator.sdg_indicators.is_empty() {
                    dt { (ctx.t("SDG indicators")) }
                    dd {
                        ul.plain.sdg-links {
                            @for sdg in &indicator.sdg_indicators {
                                @let goal = sdg.split('.').next().and_then(|goal| goal.parse::<i32>().ok());
                                li style={ "--goal:" (parts::goal_colour(goal.unwrap_or_default())) } {
                                    strong { (sdg) } " "
                                    (sdg_indicators.get(sdg).map(String::as_str).unwrap_or_default())
                                    @if let Some(goal) = goal {
                                        " ("
                                        a href=(ctx.href_with("/initiatives", &[("sdg", &goal.to_string())])) {
                                            (ctx.t("Goal")) " " (goal)
                                            @if let Some(title) = goals.get(&goal) { (lang.colon()) (title) }
                                        }
                                        ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { (ctx.t("Figures")) }
            @if rows.is_empty() {
                p { (ctx.t("No figures yet.")) }
            } @else {
                (observation_table(ctx, &rows, unit_label, Some(initiative_names)))
            }
        }
    }
}

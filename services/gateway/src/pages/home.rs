//! The home page: what the observatory holds, initiatives by country, and how many initiatives
//! contribute to each of the 17 Sustainable Development Goals.

use std::collections::BTreeMap;

use axum::{extract::State, response::Response};
use maud::html;
use sse_proto::{
    indicators::{ListIndicatorsRequest, ListObservationsRequest},
    initiatives::{Initiative, ListInitiativesRequest},
    lawguide::ListLegalTextsRequest,
};
use tonic::Status;

use super::{
    Ctx, Page, PageResult, Section, call, fetch, indicators_client, initiatives_client, law_guide_client, parts,
};
use crate::backends::Backends;

pub(super) async fn page(State(backends): State<Backends>, ctx: Ctx) -> Response {
    ctx.render(build(&backends, &ctx).await)
}

/// The four totals, each the `total_size` of a List call of one item.
struct Counts {
    initiatives: i32,
    indicators: i32,
    observations: i32,
    legal_texts: i32,
}

async fn counts(backends: &Backends) -> Result<Counts, Status> {
    let mut initiatives = initiatives_client(backends);
    let mut indicators = indicators_client(backends);
    let mut observations = indicators_client(backends);
    let mut laws = law_guide_client(backends);
    let (initiatives, indicators, observations, legal_texts) = tokio::try_join!(
        initiatives.list_initiatives(call(ListInitiativesRequest {
            page_size: 1,
            ..ListInitiativesRequest::default()
        })),
        indicators.list_indicators(call(ListIndicatorsRequest {
            page_size: 1,
            ..ListIndicatorsRequest::default()
        })),
        observations.list_observations(call(ListObservationsRequest {
            parent: "indicators/-".to_owned(),
            page_size: 1,
            ..ListObservationsRequest::default()
        })),
        laws.list_legal_texts(call(ListLegalTextsRequest {
            page_size: 1,
            ..ListLegalTextsRequest::default()
        })),
    )?;
    Ok(Counts {
        initiatives: initiatives.into_inner().total_size,
        indicators: indicators.into_inner().total_size,
        observations: observations.into_inner().total_size,
        legal_texts: legal_texts.into_inner().total_size,
    })
}

/// How many initiatives operate in each country, most first.
fn by_country(initiatives: &[Initiative]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for initiative in initiatives {
        for country in &initiative.countries {
            *counts.entry(country.as_str()).or_default() += 1;
        }
    }
    let mut counts: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(country, count)| (country.to_owned(), count))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// How many initiatives contribute to each goal, 1 to 17.
fn by_goal(initiatives: &[Initiative]) -> BTreeMap<i32, usize> {
    let mut counts: BTreeMap<i32, usize> = (1..=17).map(|goal| (goal, 0)).collect();
    for initiative in initiatives {
        let mut goals = initiative.sdg_goals.clone();
        goals.sort_unstable();
        goals.dedup();
        for goal in goals {
            if let Some(count) = counts.get_mut(&goal) {
                *count += 1;
            }
        }
    }
    counts
}

async fn build(backends: &Backends, ctx: &Ctx) -> PageResult {
    let (counts, initiatives, goals) = tokio::try_join!(
        counts(backends),
        fetch::all_initiatives(backends, ""),
        fetch::sdg_goals(backends, ctx.lang),
    )?;
    let countries = by_country(&initiatives);
    let most_in_a_country = countries.first().map_or(1, |(_, count)| *count).max(1);
    let coverage = by_goal(&initiatives);
    let most_for_a_goal = coverage.values().copied().max().unwrap_or(1).max(1);
    let lang = ctx.lang;
    let totals = [
        (
            counts.initiatives,
            ctx.t("initiatives"),
            ctx.href("/initiatives"),
            "/v1/initiatives",
        ),
        (
            counts.indicators,
            ctx.t("indicators"),
            ctx.href("/indicators"),
            "/v1/indicators",
        ),
        (
            counts.observations,
            ctx.t("observations"),
            ctx.href("/indicators"),
            "/v1/indicators/-/observations",
        ),
        (
            counts.legal_texts,
            ctx.t("legal texts"),
            ctx.href("/laws"),
            "/v1/legalTexts",
        ),
    ];

    let body = html! {
        h1 { (ctx.t("SSE Observatory")) }
        p.lead { (ctx.t("An open observatory of the social and solidarity economy: initiatives, what they achieve against their targets and the Sustainable Development Goals, and the laws that favour them.")) }

        section aria-labelledby="holds" {
            h2 #holds { (ctx.t("What the observatory holds")) }
            ul.counts {
                @for (count, label, href, _) in &totals {
                    li {
                        a href=(href) {
                            span.count-number { (lang.number(f64::from(*count))) }
                            " "
                            span.count-label { (label) }
                        }
                    }
                }
            }
            p.figure-source {
                (ctx.t("Source")) (ctx.lang.colon()) (ctx.t("SSE Observatory")) " — "
                @for (index, (_, _, _, api)) in totals.iter().enumerate() {
                    @if index > 0 { ", " }
                    a href=(api) { code { (api) } }
                }
            }
        }

        div.columns {
            section aria-labelledby="by-country" {
                h2 #by-country { (ctx.t("Initiatives by country")) }
                table.bars {
                    thead {
                        tr {
                            th scope="col" { (ctx.t("Country")) }
                            th scope="col" { (ctx.t("Initiatives")) }
                        }
                    }
                    tbody {
                        @for (country, count) in &countries {
                            tr {
                                th scope="row" {
                                    a href=(ctx.href_with("/initiatives", &[("country", country)])) { (parts::place(country)) }
                                }
                                td {
                                    div.bar-cell {
                                        span.bar aria-hidden="true"
                                            style={ "width:" (count * 100 / most_in_a_country) "%" } {}
                                        span.bar-value { (count) }
                                    }
                                }
                            }
                        }
                    }
                }
                (parts::own_source(lang, "/v1/initiatives"))
            }

            section aria-labelledby="sdg-coverage" {
                h2 #sdg-coverage { (ctx.t("SDG coverage")) }
                ol.goals {
                    @for (goal, count) in &coverage {
                        li style={ "--goal:" (parts::goal_colour(*goal)) } {
                            a href=(ctx.href_with("/initiatives", &[("sdg", &goal.to_string())])) {
                                span.goal-number { (goal) }
                                span.goal-title { (goals.get(goal).map(String::as_str).unwrap_or_default()) }
                            }
                            span.goal-count {
                                @if *count > 0 {
                                    span.bar aria-hidden="true"
                                        style={ "width:" (count * 100 / most_for_a_goal) "%" } {}
                                }
                                span.bar-value { (count) " " span.visually-hidden { (ctx.t("initiatives contribute")) } }
                            }
                        }
                    }
                }
                (parts::own_source(lang, "/v1/initiatives"))
            }
        }
    };
    Ok(Page {
        title: ctx.t("Home").to_owned(),
        section: Section::Home,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initiative(countries: &[&str], goals: &[i32]) -> Initiative {
        Initiative {
            countries: countries.iter().map(|country| (*country).to_owned()).collect(),
            sdg_goals: goals.to_vec(),
            ..Initiative::default()
        }
    }

    #[test]
    fn counts_initiatives_by_country_most_first_and_by_goal_once_each() {
        let initiatives = [
            initiative(&["FR"], &[8, 8, 1]),
            initiative(&["ES", "FR"], &[8]),
            initiative(&["CA"], &[99]),
        ];
        assert_eq!(
            by_country(&initiatives),
            vec![("FR".to_owned(), 2), ("CA".to_owned(), 1), ("ES".to_owned(), 1)]
        );
        let goals = by_goal(&initiatives);
        assert_eq!(goals.len(), 17);
        assert_eq!(goals[&8], 2);
        assert_eq!(goals[&1], 1);
        assert_eq!(goals[&2], 0);
    }
}

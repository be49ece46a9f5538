//! The catalogue of initiatives: a list filtered with a plain GET form (the form's fields become
//! an AIP-160 filter), and each initiative's page with its facts, sources, laws, and a chart per
//! indicator of its reported figures against its targets.

use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Path, State},
    response::Response,
};
use maud::{Markup, html};
use sse_proto::{
    indicators::{GetProgressRequest, Indicator, ListIndicatorsRequest, ListObservationsRequest, Observation},
    initiatives::{GetInitiativeRequest, Initiative, ListInitiativesRequest},
};
use sse_reference::{is_country_code, is_subdivision_code};
use tonic::Status;

use super::{
    Ctx, Page, PageError, PageResult, Section, call, fetch, figures::indicator_section, indicators_client,
    initiatives_client, labels, parts,
};
use crate::backends::Backends;

const PAGE_SIZE: i32 = 20;

pub(super) async fn list(State(backends): State<Backends>, ctx: Ctx) -> Response {
    ctx.render(build_list(&backends, &ctx).await)
}

pub(super) async fn detail(State(backends): State<Backends>, ctx: Ctx, Path(id): Path<String>) -> Response {
    ctx.render(build_detail(&backends, &ctx, &id).await)
}

/// The list form's fields, as the visitor sent them.
#[derive(Debug, Default)]
struct Criteria<'a> {
    country: Option<&'a str>,
    legal_form: Option<&'a str>,
    sdg: Option<&'a str>,
    text: Option<&'a str>,
}

impl<'a> Criteria<'a> {
    fn from_ctx(ctx: &'a Ctx) -> Criteria<'a> {
        Criteria {
            country: ctx.param("country"),
            legal_form: ctx.param("legal_form"),
            sdg: ctx.param("sdg"),
            text: ctx.param("q"),
        }
    }

    /// The AIP-160 filter the fields ask for, or what is wrong with them.
    fn filter(&self) -> Result<String, String> {
        let mut terms = Vec::new();
        if let Some(country) = self.country {
            let code = country.to_ascii_uppercase();
            if is_country_code(&code) {
                terms.push(format!("countries:{}", quoted(&code)));
            } else if is_subdivision_code(&code) {
                terms.push(format!("territories:{}", quoted(&code)));
            } else {
                return Err(format!(
                    "“{country}” is not an ISO 3166 country or subdivision code (such as FR or CA-QC)."
                ));
            }
        }
        if let Some(form) = self.legal_form {
            let known = labels::legal_forms()
                .into_iter()
                .any(|(_, short)| short.eq_ignore_ascii_case(form));
            if !known {
                return Err(format!("“{form}” is not a legal form."));
            }
            terms.push(format!("legal_form = {}", form.to_ascii_uppercase()));
        }
        if let Some(goal) = self.sdg {
            match goal.parse::<u8>() {
                Ok(number) if (1..=17).contains(&number) => terms.push(format!("sdg_goals:{number}")),
                _ => return Err(format!("“{goal}” is not a Sustainable Development Goal (1 to 17).")),
            }
        }
        if let Some(text) = self.text {
            if text.chars().count() > 200 {
                return Err("The words to look for are limited to 200 characters.".to_owned());
            }
            terms.extend(text.split_whitespace().map(quoted));
        }
        Ok(terms.join(" AND "))
    }
}

/// A filter string value: in double quotes, with `"` and `\` escaped and line breaks as spaces.
fn quoted(text: &str) -> String {
    let mut quoted = String::from('"');
    for character in text.chars() {
        match character {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(character);
            }
            '\n' | '\r' | '\t' => quoted.push(' '),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

async fn build_list(backends: &Backends, ctx: &Ctx) -> PageResult {
    let criteria = Criteria::from_ctx(ctx);
    let filter = criteria.filter().map_err(PageError::BadInput)?;
    let page_token = ctx.param("page_token").unwrap_or_default().to_owned();
    let first_page = page_token.is_empty();
    let mut client = initiatives_client(backends);
    let (listed, goals) = tokio::try_join!(
        async {
            client
                .list_initiatives(call(ListInitiativesRequest {
                    page_size: PAGE_SIZE,
                    page_token,
                    filter: filter.clone(),
                    order_by: "display_name".to_owned(),
                    show_deleted: false,
                }))
                .await
                .map(tonic::Response::into_inner)
        },
        fetch::sdg_goals(backends, ctx.lang),
    )?;
    let lang = ctx.lang;
    let kept = [
        ("country", criteria.country.unwrap_or_default()),
        ("legal_form", criteria.legal_form.unwrap_or_default()),
        ("sdg", criteria.sdg.unwrap_or_default()),
        ("q", criteria.text.unwrap_or_default()),
    ];
    let next_page = (!listed.next_page_token.is_empty()).then(|| {
        let mut next = kept.to_vec();
        next.push(("page_token", listed.next_page_token.as_str()));
        ctx.href_with("/initiatives", &next)
    });
    let selected_goal = criteria.sdg.and_then(|goal| goal.parse::<i32>().ok());
    let body = html! {
        h1 { (ctx.t("Initiatives")) }
        form.filters method="get" action="/initiatives" role="search" aria-label=(ctx.t("Find initiatives")) {
            (ctx.lang_field())
            div.field {
                label for="country" { (ctx.t("Country")) }
                input #country type="text" name="country" value=(criteria.country.unwrap_or_default())
                    placeholder="FR, CA-QC" title="ISO 3166"
                    maxlength="6" autocomplete="country" autocapitalize="characters" spellcheck="false";
            }
            div.field {
                label for="legal_form" { (ctx.t("Legal form")) }
                select #legal_form name="legal_form" {
                    option value="" { (ctx.t("Any")) }
                    @for (form, short) in labels::legal_forms() {
                        option value=(short)
                            selected[criteria.legal_form.is_some_and(|chosen| chosen.eq_ignore_ascii_case(short))] {
                            (labels::legal_form(lang, form))
                        }
                    }
                }
            }
            div.field {
                label for="sdg" { (ctx.t("SDG goal")) }
                select #sdg name="sdg" {
                    option value="" { (ctx.t("Any")) }
                    @for (number, title) in &goals {
                        option value=(number) selected[selected_goal == Some(*number)] { (number) ". " (title) }
                    }
                }
            }
            div.field {
                label for="q" { (ctx.t("Words")) }
                input #q type="search" name="q" value=(criteria.text.unwrap_or_default()) maxlength="200";
            }
            div.actions {
                button type="submit" { (ctx.t("Search")) }
                a href=(ctx.href("/initiatives")) { (ctx.t("Clear")) }
            }
        }
        p.result-count role="status" {
            (lang.number(f64::from(listed.total_size))) " " (ctx.t("initiatives"))
            @if !filter.is_empty() { " — " code { (filter) } }
        }
        @if listed.initiatives.is_empty() {
            p { (ctx.t("Nothing found.")) }
        }
        ul.cards {
            @for initiative in &listed.initiatives {
                li { (card(ctx, initiative, &goals)) }
            }
        }
        nav.pager aria-label="Pages" {
            @if !first_page {
                a href=(ctx.href_with("/initiatives", &kept)) { "« " (ctx.t("First page")) }
            }
            @if let Some(next) = &next_page {
                a rel="next" href=(next) { (ctx.t("Next page")) " »" }
            }
        }
        (parts::own_source(lang, "/v1/initiatives"))
    };
    Ok(Page {
        title: ctx.t("Initiatives").to_owned(),
        section: Section::Initiatives,
        body,
    })
}

fn start_year(initiative: &Initiative) -> Option<i32> {
    initiative
        .start_date
        .as_ref()
        .map(|date| date.year)
        .filter(|year| *year > 0)
}

fn card(ctx: &Ctx, initiative: &Initiative, goals: &BTreeMap<i32, String>) -> Markup {
    let lang = ctx.lang;
    let href = ctx.href(&parts::initiative_path(&initiative.name));
    html! {
        article.card {
            h2.card-title { a href=(href) { (initiative.display_name) } }
            p.meta {
                (labels::legal_form(lang, initiative.legal_form())) " · "
                (initiative.countries.join(", "))
                @if let Some(year) = start_year(initiative) { " · " (year) }
                " · " (labels::initiative_status(lang, initiative.status()))
            }
            p { (parts::shorten(&initiative.description, 240)) }
            (goal_badges(ctx, &initiative.sdg_goals, goals))
        }
    }
}

fn goal_badges(ctx: &Ctx, numbers: &[i32], goals: &BTreeMap<i32, String>) -> Markup {
    html! {
        ul.goal-badges aria-label=(ctx.t("SDG goals")) {
            @for number in numbers {
                @let title = goals.get(number).map(String::as_str).unwrap_or_default();
                li style={ "--goal:" (parts::goal_colour(*number)) } {
                    a href=(ctx.href_with("/initiatives", &[("sdg", &number.to_string())])) title=(title) {
                        (ctx.t("Goal")) " " (number) span.goal-badge-title { (ctx.lang.colon()) (title) }
                    }
                }
            }
        }
    }
}

/// Every observation about one initiative, all indicators together, oldest period first.
async fn observations_of(backends: &Backends, initiative: &str) -> Result<Vec<Observation>, Status> {
    let mut client = indicators_client(backends);
    let mut observations = Vec::new();
    let mut page_token = String::new();
    for _ in 0..20 {
        let page = client
            .list_observations(call(ListObservationsRequest {
                parent: "indicators/-".to_owned(),
                page_size: 1000,
                page_token,
                filter: format!("initiative = {}", quoted(initiative)),
                order_by: "period_end, name".to_owned(),
                show_deleted: false,
            }))
            .await?
            .into_inner();
        observations.extend(page.observations);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(observations)
}

async fn all_indicators(backends: &Backends) -> Result<HashMap<String, Indicator>, Status> {
    let indicators = indicators_client(backends)
        .list_indicators(call(ListIndicatorsRequest {
            page_size: 1000,
            ..ListIndicatorsRequest::default()
        }))
        .await?
        .into_inner()
        .indicators;
    Ok(indicators
        .into_iter()
        .map(|indicator| (indicator.name.clone(), indicator))
        .collect())
}

/// The indicator an observation belongs to: `indicators/x` of `indicators/x/observations/y`.
fn indicator_of(observation: &Observation) -> &str {
    observation
        .name
        .match_indices('/')
        .nth(1)
        .map_or(observation.name.as_str(), |(at, _)| &observation.name[..at])
}

async fn build_detail(backends: &Backends, ctx: &Ctx, id: &str) -> PageResult {
    let name = format!("initiatives/{id}");
    let initiative = initiatives_client(backends)
        .get_initiative(call(GetInitiativeRequest { name: name.clone() }))
        .await?
        .into_inner()
        .initiative
        .ok_or_else(|| Status::internal("the initiatives service answered without an initiative"))?;
    let mut progress_client = indicators_client(backends);
    let (progress, observations, indicators, goals, targets, laws) = tokio::try_join!(
        async {
            progress_client
                .get_progress(call(GetProgressRequest {
                    initiative: name.clone(),
                }))
                .await
                .map(|response| response.into_inner().progress)
        },
        observations_of(backends, &name),
        all_indicators(backends),
        fetch::sdg_goals(backends, ctx.lang),
        fetch::sdg_targets(backends, ctx.lang),
        async { Ok(fetch::law_titles(backends, &initiative.related_legal_texts).await) },
    )?;
    let lang = ctx.lang;
    let mut by_indicator: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for observation in &observations {
        by_indicator
            .entry(indicator_of(observation))
            .or_default()
            .push(observation);
    }
    // Indicators in the order progress gives them, then any it did not mention.
    let mut order: Vec<&str> = progress.iter().map(|entry| entry.indicator.as_str()).collect();
    order.extend(
        by_indicator
            .keys()
            .filter(|name| !order.contains(name))
            .copied()
            .collect::<Vec<_>>(),
    );

    let body = html! {
        p.breadcrumb { a href=(ctx.href("/initiatives")) { (ctx.t("Initiatives")) } " ›" }
        h1 { (initiative.display_name) }
        p.lead { (initiative.description) }
        div.columns {
            section aria-labelledby="facts" {
                h2 #facts { (ctx.t("Key facts")) }
                (facts(ctx, &initiative, &goals, &targets))
            }
            section aria-labelledby="sources" {
                h2 #sources { (ctx.t("Sources")) }
                ul.sources {
                    @for citation in &initiative.sources { li { (parts::source(citation)) } }
                }
                @if !initiative.related_legal_texts.is_empty() {
                    h2 #laws { (ctx.t("Related legal texts")) }
                    ul.laws {
                        @for law in &initiative.related_legal_texts {
                            li {
                                a href=(ctx.href(&parts::law_path(law))) {
                                    @if let Some(title) = laws.get(law) {
                                        @if !title.number.is_empty() { (title.number) " — " }
                                        (title.title)
                                    } @else {
                                        (parts::id_of(law))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="figures" {
            h2 #figures { (ctx.t("Figures")) }
            @if order.is_empty() {
                p { (ctx.t("No figures yet.")) }
            }
            @for indicator_name in &order {
                @let figures = by_indicator.get(indicator_name).map(Vec::as_slice).unwrap_or_default();
                (indicator_section(
                    ctx,
                    indicator_name,
                    indicators.get(*indicator_name),
                    progress.iter().find(|entry| entry.indicator == *indicator_name),
                    figures,
                    start_year(&initiative),
                ))
            }
        }
    };
    Ok(Page {
        title: initiative.display_name.clone(),
        section: Section::Initiatives,
        body: html! { (body) (parts::own_source(lang, &format!("/v1/{name}"))) },
    })
}

fn facts(
    ctx: &Ctx,
    initiative: &Initiative,
    goals: &BTreeMap<i32, String>,
    targets: &HashMap<String, String>,
) -> Markup {
    let lang = ctx.lang;
    let start = initiative
        .start_date
        .as_ref()
        .map(parts::partial_date)
        .unwrap_or_default();
    let end = initiative
        .end_date
        .as_ref()
        .map(parts::partial_date)
        .unwrap_or_default();
    html! {
        dl.facts {
            dt { (ctx.t("Legal form")) }
            dd { (labels::legal_form(lang, initiative.legal_form())) }
            dt { (ctx.t("Status")) }
            dd { (labels::initiative_status(lang, initiative.status())) }
            @if !initiative.countries.is_empty() {
                dt { (ctx.t("Countries")) }
                dd.codes {
                    @for (index, country) in initiative.countries.iter().enumerate() {
                        @if index > 0 { ", " }
                        a href=(ctx.href_with("/initiatives", &[("country", country)])) { (parts::place(country)) }
                    }
                }
            }
            @if !initiative.territories.is_empty() {
                dt { (ctx.t("Territories")) }
                dd {
                    @for (index, territory) in initiative.territories.iter().enumerate() {
                        @if index > 0 { ", " }
                        a href=(ctx.href_with("/initiatives", &[("country", territory)])) { (parts::place(territory)) }
                    }
                }
            }
            @if !start.is_empty() { dt { (ctx.t("Start")) } dd { (start) } }
            @if !end.is_empty() { dt { (ctx.t("End")) } dd { (end) } }
            @if let Some(website) = parts::safe_url(&initiative.website) {
                dt { (ctx.t("Website")) }
                dd { a href=(website) rel="noopener" { (website) } }
            }
            @if !initiative.identifiers.is_empty() {
                dt { (ctx.t("Identifiers")) }
                dd {
                    @for identifier in &initiative.identifiers {
                        span.identifier { (identifier.scheme) " " code { (identifier.value) } } " "
                    }
                }
            }
            @if !initiative.sdg_goals.is_empty() {
                dt { (ctx.t("SDG goals")) }
                dd { (goal_badges(ctx, &initiative.sdg_goals, goals)) }
            }
            @if !initiative.sdg_targets.is_empty() {
                dt { (ctx.t("SDG targets")) }
                dd {
                    ul.plain {
                        @for target in &initiative.sdg_targets {
                            li { strong { (target) } " " (targets.get(target).map(String::as_str).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria<'a>(country: &'a str, form: &'a str, sdg: &'a str, text: &'a str) -> Criteria<'a> {
        let some = |value: &'a str| Some(value).filter(|value| !value.is_empty());
        Criteria {
            country: some(country),
            legal_form: some(form),
            sdg: some(sdg),
            text: some(text),
        }
    }

    #[test]
    fn the_form_becomes_an_aip_160_filter() {
        assert_eq!(criteria("", "", "", "").filter(), Ok(String::new()));
        assert_eq!(
            criteria("fr", "cooperative", "8", "zéro chômeur").filter(),
            Ok(r#"countries:"FR" AND legal_form = COOPERATIVE AND sdg_goals:8 AND "zéro" AND "chômeur""#.to_owned())
        );
        assert_eq!(
            criteria("CA-QC", "", "", "").filter(),
            Ok(r#"territories:"CA-QC""#.to_owned())
        );
        assert_eq!(
            criteria("", "", "", r#"say "hi" \o/"#).filter(),
            Ok(r#""say" AND "\"hi\"" AND "\\o/""#.to_owned())
        );
    }

    #[test]
    fn refuses_fields_that_cannot_be_right() {
        assert!(criteria("XX", "", "", "").filter().is_err());
        assert!(criteria("FR\" OR name:\"x", "", "", "").filter().is_err());
        assert!(criteria("", "kibbutz", "", "").filter().is_err());
        assert!(criteria("", "", "18", "").filter().is_err());
        assert!(criteria("", "", "eight", "").filter().is_err());
        assert!(criteria("", "", "", &"word ".repeat(50)).filter().is_err());
    }

    #[test]
    fn finds_the_indicator_of_an_observation() {
        let observation = Observation {
            name: "indicators/land-restored/observations/ggw-2030-target".to_owned(),
            ..Observation::default()
        };
        assert_eq!(indicator_of(&observation), "indicators/land-restored");
    }
}

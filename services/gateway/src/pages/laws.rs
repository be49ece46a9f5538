//! The law guide: a search over every legal text with highlighted passages, the matrix of
//! jurisdictions by topic, the list of texts, and each text's page with its provisions,
//! relations, sources and revision history.

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    response::Response,
};
use maud::{Markup, html};
use sse_proto::lawguide::{
    CompareJurisdictionsRequest, CompareJurisdictionsResponse, GetLegalTextRequest, LegalText,
    ListLegalTextRevisionsRequest, ListLegalTextsRequest, SearchLegalTextsRequest, SearchLegalTextsResponse, Snippet,
    Topic, snippet,
};
use tonic::Status;

use super::{Ctx, Page, PageError, PageResult, Section, call, fetch, labels, law_guide_client, parts};
use crate::backends::Backends;

const RESULTS_PER_PAGE: i32 = 10;

pub(super) async fn search(State(backends): State<Backends>, ctx: Ctx) -> Response {
    ctx.render(build_search(&backends, &ctx).await)
}

pub(super) async fn detail(State(backends): State<Backends>, ctx: Ctx, Path(id): Path<String>) -> Response {
    ctx.render(build_detail(&backends, &ctx, &id).await)
}

/// A piece of a snippet: plain text, or a word the search matched.
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    text: String,
    matched: bool,
}

/// Reads a snippet as the law guide writes it (HTML-escaped, matches in `<em>…</em>`) into
/// plain pieces, so the page escapes all of it again and adds its own highlight: nothing the
/// snippet holds can become markup, whatever it holds.
fn snippet_pieces(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (before, matched, after) = match rest.split_once("<em>") {
            Some((before, after_open)) => match after_open.split_once("</em>") {
                Some((inside, after_close)) => (before, Some(inside), after_close),
                None => (rest, None, ""),
            },
            None => (rest, None, ""),
        };
        if !before.is_empty() {
            pieces.push(Piece {
                text: unescape(before),
                matched: false,
            });
        }
        if let Some(inside) = matched {
            pieces.push(Piece {
                text: unescape(inside),
                matched: true,
            });
        }
        rest = after;
    }
    pieces
}

/// Undoes the law guide's escaping of `&`, `<`, `>` and `"` (and `'`, should it come).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn snippet_markup(text: &str) -> Markup {
    html! {
        @for piece in snippet_pieces(text) {
            @if piece.matched { mark { (piece.text) } } @else { (piece.text) }
        }
    }
}

/// The English title when there is one, else the original.
fn display_title(text: &LegalText) -> &str {
    if text.title_en.is_empty() {
        &text.title
    } else {
        &text.title_en
    }
}

/// The language of the title `display_title` shows.
fn display_title_language(text: &LegalText) -> &str {
    if text.title_en.is_empty() { &text.language } else { "en" }
}

/// The language a provision is written in. The contract does not say; the law guide's README
/// does: official wording is in the text's language, and our paraphrases are in it for English,
/// French, Spanish, Portuguese and Italian texts and in English for the others.
fn provision_language(text: &LegalText, official: bool) -> &str {
    const PARAPHRASED_IN_THEIR_LANGUAGE: [&str; 5] = ["en", "fr", "es", "pt", "it"];
    if official || PARAPHRASED_IN_THEIR_LANGUAGE.contains(&text.language.as_str()) {
        &text.language
    } else {
        "en"
    }
}

/// The language of a search snippet: summaries are in English; a title passage may come from
/// either title, so it says nothing.
fn snippet_language<'a>(text: &'a LegalText, snippet: &Snippet) -> Option<&'a str> {
    match snippet.section() {
        snippet::Section::Summary => Some("en"),
        snippet::Section::Provision => {
            let official = text
                .provisions
                .iter()
                .find(|provision| provision.heading == snippet.provision_heading)
                .is_some_and(|provision| provision.official_text);
            Some(provision_language(text, official))
        }
        snippet::Section::Title | snippet::Section::Unspecified => None,
    }
}

async fn matrix(backends: &Backends) -> Result<CompareJurisdictionsResponse, Status> {
    Ok(law_guide_client(backends)
        .compare_jurisdictions(call(CompareJurisdictionsRequest {
            topics: labels::topics().into_iter().map(|topic| topic as i32).collect(),
            ..CompareJurisdictionsRequest::default()
        }))
        .await?
        .into_inner())
}

async fn all_texts(backends: &Backends) -> Result<Vec<LegalText>, Status> {
    Ok(law_guide_client(backends)
        .list_legal_texts(call(ListLegalTextsRequest {
            page_size: 1000,
            order_by: "jurisdiction, adoption_date".to_owned(),
            ..ListLegalTextsRequest::default()
        }))
        .await?
        .into_inner()
        .legal_texts)
}

async fn build_search(backends: &Backends, ctx: &Ctx) -> PageResult {
    let query = ctx.param("q");
    if query.is_some_and(|query| query.chars().count() > 500) {
        return Err(PageError::BadInput("A search is limited to 500 characters.".to_owned()));
    }
    let page_token = ctx.param("page_token").unwrap_or_default().to_owned();
    let searched = async {
        match query {
            Some(query) => law_guide_client(backends)
                .search_legal_texts(call(SearchLegalTextsRequest {
                    query: query.to_owned(),
                    page_size: RESULTS_PER_PAGE,
                    page_token: page_token.clone(),
                    ..SearchLegalTextsRequest::default()
                }))
                .await
                .map(|response| Some(response.into_inner())),
            None => Ok(None),
        }
    };
    let (results, texts, matrix) = tokio::try_join!(searched, all_texts(backends), matrix(backends))?;
    let years: HashMap<&str, i32> = texts
        .iter()
        .filter_map(|text| Some((text.name.as_str(), text.adoption_date.as_ref()?.year)))
        .filter(|(_, year)| *year > 0)
        .collect();
    let body = html! {
        h1 { (ctx.t("Law guide")) }
        form.search method="get" action="/laws" role="search" {
            (ctx.lang_field())
            label for="q" { (ctx.t("Search the laws")) }
            div.search-row {
                input #q type="search" name="q" value=(query.unwrap_or_default()) maxlength="500"
                    placeholder="économie sociale, cooperativas, registry…";
                button type="submit" { (ctx.t("Search")) }
            }
        }
        @if let (Some(query), Some(results)) = (query, &results) {
            (search_results(ctx, query, results, page_token.is_empty()))
        }
        section aria-labelledby="matrix" {
            h2 #matrix { (ctx.t("Jurisdictions by topic")) }
            p.hint { (ctx.t("Each cell links the texts that cover the topic, by their year of adoption, with the articles concerned.")) }
            (matrix_table(ctx, &matrix, &years))
            (parts::own_source(ctx.lang, "/v1/legalTexts:compareJurisdictions"))
        }
        @if query.is_none() && !texts.is_empty() {
            section aria-labelledby="all-texts" {
                h2 #all-texts { (ctx.t("All legal texts")) }
                (text_table(ctx, &texts))
            }
        }
    };
    Ok(Page {
        title: match query {
            Some(query) => format!("{query} — {}", ctx.t("Law guide")),
            None => ctx.t("Law guide").to_owned(),
        },
        section: Section::Laws,
        body,
    })
}

fn search_results(ctx: &Ctx, query: &str, results: &SearchLegalTextsResponse, first_page: bool) -> Markup {
    let lang = ctx.lang;
    let next_page = (!results.next_page_token.is_empty())
        .then(|| ctx.href_with("/laws", &[("q", query), ("page_token", &results.next_page_token)]));
    html! {
        section aria-labelledby="results" {
            h2 #results { (ctx.t("Results")) }
            p.result-count role="status" { (lang.number(f64::from(results.total_size))) " " (ctx.t("legal texts")) }
            @if results.results.is_empty() { p { (ctx.t("Nothing found.")) } }
            ol.results {
                @for result in &results.results {
                    @if let Some(text) = &result.legal_text {
                        li {
                            h3 {
                                a href=(ctx.href(&parts::law_path(&text.name))) lang=(display_title_language(text)) {
                                    (display_title(text))
                                }
                            }
                            p.meta {
                                (text.jurisdiction) " · " (labels::kind(lang, text.kind()))
                                @if !text.number.is_empty() { " · " (text.number) }
                                @if let Some(date) = &text.adoption_date { " · " (parts::partial_date(date)) }
                            }
                            @if text.title != display_title(text) {
                                p.original-title lang=(text.language) { (text.title) }
                            }
                            @for snippet in &result.snippets {
                                blockquote.snippet lang=[snippet_language(text, snippet)] {
                                    @if snippet.section() == snippet::Section::Provision {
                                        p.snippet-where {
                                            (snippet.provision_number)
                                            @if !snippet.provision_number.is_empty() && !snippet.provision_heading.is_empty() { " — " }
                                            (snippet.provision_heading)
                                        }
                                    }
                                    p { (snippet_markup(&snippet.text)) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if !first_page {
                    a href=(ctx.href_with("/laws", &[("q", query)])) { "« " (ctx.t("First page")) }
                }
                @if let Some(next) = &next_page { a rel="next" href=(next) { (ctx.t("Next page")) " »" } }
            }
        }
    }
}

fn matrix_table(ctx: &Ctx, matrix: &CompareJurisdictionsResponse, years: &HashMap<&str, i32>) -> Markup {
    let lang = ctx.lang;
    let topics: Vec<Topic> = matrix
        .topics
        .iter()
        .map(|topic| Topic::try_from(*topic).unwrap_or(Topic::Unspecified))
        .collect();
    html! {
        div.table-scroll tabindex="0" role="region" aria-labelledby="matrix" {
            table.matrix {
                thead {
                    tr {
                        th scope="col" { (ctx.t("Jurisdiction")) }
                        @for topic in &topics { th scope="col" { span { (labels::topic(lang, *topic)) } } }
                    }
                }
                tbody {
                    @for row in &matrix.rows {
                        tr {
                            th scope="row" { (row.jurisdiction) }
                            @for cell in &row.cells {
                                td.covered[!cell.legal_texts.is_empty()] {
                                    @for text in &cell.legal_texts {
                                        @let label = years.get(text.legal_text.as_str()).map_or_else(
                                            || parts::shorten(if text.number.is_empty() { &text.title_en } else { &text.number }, 16),
                                            i32::to_string,
                                        );
                                        @let numbered: Vec<&str> = text.provisions.iter()
                                            .map(|provision| provision.number.as_str())
                                            .filter(|number| !number.is_empty())
                                            .collect();
                                        span.covering {
                                            a href=(ctx.href(&parts::law_path(&text.legal_text)))
                                                aria-label={ (label) ": " (text.number) " — " (text.title_en) }
                                                title={ (text.number) " — " (text.title_en) } { (label) }
                                            @if !numbered.is_empty() {
                                                " " span.articles { (numbered.join(", ")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn text_table(ctx: &Ctx, texts: &[LegalText]) -> Markup {
    let lang = ctx.lang;
    html! {
        div.table-scroll tabindex="0" role="region" aria-labelledby="all-texts" {
            table.texts {
                thead {
                    tr {
                        th scope="col" { (ctx.t("Jurisdiction")) }
                        th scope="col" { (ctx.t("Legal texts")) }
                        th scope="col" { (ctx.t("Kind")) }
                        th scope="col" { (ctx.t("Adopted")) }
                    }
                }
                tbody {
                    @for text in texts {
                        tr {
                            td { (text.jurisdiction) }
                            td {
                                a href=(ctx.href(&parts::law_path(&text.name))) lang=(display_title_language(text)) {
                                    (display_title(text))
                                }
                                @if !text.number.is_empty() { br; small { (text.number) } }
                            }
                            td { (labels::kind(lang, text.kind())) }
                            td.date { (text.adoption_date.as_ref().map(parts::partial_date).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

async fn build_detail(backends: &Backends, ctx: &Ctx, id: &str) -> PageResult {
    let name = format!("legalTexts/{id}");
    let text = law_guide_client(backends)
        .get_legal_text(call(GetLegalTextRequest { name: name.clone() }))
        .await?
        .into_inner()
        .legal_text
        .ok_or_else(|| Status::internal("the law guide answered without a legal text"))?;
    let related: Vec<String> = text
        .relations
        .iter()
        .map(|relation| relation.legal_text.clone())
        .collect();
    let mut revisions_client = law_guide_client(backends);
    let (revisions, titles) = tokio::join!(
        revisions_client.list_legal_text_revisions(call(ListLegalTextRevisionsRequest {
            parent: name.clone(),
            page_size: 100,
            page_token: String::new(),
        })),
        fetch::law_titles(backends, &related),
    );
    let revisions = revisions?.into_inner();
    let lang = ctx.lang;
    let unverified = |field: &str| {
        text.unverified_fields.iter().any(|path| {
            path == field || path.starts_with(&format!("{field}.")) || path.starts_with(&format!("{field}["))
        })
    };
    let flag = |field: &str| {
        html! { @if unverified(field) { " " span.unverified { "(" (ctx.t("unverified")) ")" } } }
    };
    let dates = [
        ("Adopted", "adoption_date", text.adoption_date.as_ref()),
        ("Published", "publication_date", text.publication_date.as_ref()),
        (
            "In force from",
            "entry_into_force_date",
            text.entry_into_force_date.as_ref(),
        ),
    ];
    let body = html! {
        p.breadcrumb { a href=(ctx.href("/laws")) { (ctx.t("Law guide")) } " ›" }
        h1 lang=(display_title_language(&text)) { (display_title(&text)) }
        @if text.title != display_title(&text) {
            p.original-title lang=(text.language) { (text.title) }
        }
        div.columns {
            section aria-labelledby="facts" {
                h2 #facts { (ctx.t("Key facts")) }
                dl.facts {
                    dt { (ctx.t("Jurisdiction")) } dd { (text.jurisdiction) " · " (labels::level(lang, text.level())) }
                    dt { (ctx.t("Kind")) } dd { (labels::kind(lang, text.kind())) }
                    @if !text.number.is_empty() { dt { (ctx.t("Number")) } dd { (text.number) (flag("number")) } }
                    @if text.status() != sse_proto::lawguide::legal_text::Status::Unspecified {
                        dt { (ctx.t("Status")) } dd { (labels::law_status(lang, text.status())) (flag("status")) }
                    }
                    @for (label, field, date) in dates {
                        @if let Some(date) = date {
                            dt { (ctx.t(label)) } dd { (parts::partial_date(date)) (flag(field)) }
                        }
                    }
                    @if !text.publication_reference.is_empty() {
                        dt { (ctx.t("Publication")) } dd { (text.publication_reference) (flag("publication_reference")) }
                    }
                    @if !text.identifiers.is_empty() {
                        dt { (ctx.t("Identifiers")) }
                        dd {
                            ul.plain {
                                @for identifier in &text.identifiers {
                                    li {
                                        @let scheme = if identifier.other_scheme.is_empty() {
                                            identifier.scheme().as_str_name().trim_start_matches("SCHEME_").replace('_', " ")
                                        } else {
                                            identifier.other_scheme.clone()
                                        };
                                        (scheme) " "
                                        @if let Some(url) = parts::safe_url(&identifier.value) {
                                            a href=(url) rel="noopener" { (url) }
                                        } @else {
                                            code { (identifier.value) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !text.topics.is_empty() {
                        dt { (ctx.t("Topics")) }
                        dd { (topic_list(ctx, &text.topics)) }
                    }
                }
            }
            section aria-labelledby="sources" {
                h2 #sources { (ctx.t("Sources")) }
                ul.sources { @for citation in &text.sources { li { (parts::source(citation)) } } }
                @if !text.relations.is_empty() {
                    h2 #relations { (ctx.t("Relations")) }
                    ul.plain {
                        @for relation in &text.relations {
                            li {
                                (labels::relation(lang, relation.r#type())) " "
                                a href=(ctx.href(&parts::law_path(&relation.legal_text))) {
                                    @if let Some(title) = titles.get(&relation.legal_text) {
                                        @if !title.number.is_empty() { (title.number) " — " }
                                        (title.title)
                                    } @else {
                                        (parts::id_of(&relation.legal_text))
                                    }
                                }
                            }
                        }
                    }
                }
                @if !text.related_initiatives.is_empty() {
                    h2 #initiatives { (ctx.t("Related initiatives")) }
                    ul.plain {
                        @for initiative in &text.related_initiatives {
                            li { a href=(ctx.href(&parts::initiative_path(initiative))) { (parts::id_of(initiative)) } }
                        }
                    }
                }
            }
        }
        @if !text.summary.is_empty() {
            section aria-labelledby="summary" {
                h2 #summary { (ctx.t("Summary")) (flag("summary")) }
                p lang="en" { (text.summary) }
            }
        }
        section aria-labelledby="provisions" {
            h2 #provisions {
                (ctx.t("Provisions"))
                // The provisions as a whole unconfirmed, rather than some of them.
                @if text.unverified_fields.iter().any(|path| path == "provisions") {
                    " " span.unverified { "(" (ctx.t("unverified")) ")" }
                }
            }
            ol.provisions {
                @for (index, provision) in text.provisions.iter().enumerate() {
                    li.provision {
                        @let language = provision_language(&text, provision.official_text);
                        h3 lang=(language) {
                            @if !provision.number.is_empty() { span.provision-number { (provision.number) } " — " }
                            (provision.heading)
                            (flag(&format!("provisions[{index}]")))
                        }
                        p lang=(language) { (provision.text) }
                        p.provision-meta {
                            @if provision.official_text {
                                (ctx.t("Official text."))
                            } @else {
                                (ctx.t("Our paraphrase, not the official wording."))
                            }
                            @if !provision.topics.is_empty() { " " (topic_list(ctx, &provision.topics)) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="revisions" {
            h2 #revisions { (ctx.t("Revision history")) }
            @if revisions.revisions.is_empty() {
                p { (ctx.t("No earlier revisions.")) }
            } @else {
                div.table-scroll tabindex="0" role="region" aria-labelledby="revisions" {
                    table {
                        thead {
                            tr {
                                th scope="col" { (ctx.t("Revision")) }
                                th scope="col" { (ctx.t("Replaced on")) }
                                th scope="col" { (ctx.t("Change")) }
                                th scope="col" { "etag" }
                            }
                        }
                        tbody {
                            @for revision in &revisions.revisions {
                                tr {
                                    td { (revision.revision_id) }
                                    td { (revision.revision_create_time.as_ref().map(parts::timestamp).unwrap_or_default()) }
                                    td { (labels::change(lang, revision.change())) }
                                    td { code { (revision.legal_text.as_ref().map(|old| old.etag.as_str()).unwrap_or_default()) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        (parts::own_source(lang, &format!("/v1/{name}")))
    };
    Ok(Page {
        title: display_title(&text).to_owned(),
        section: Section::Laws,
        body,
    })
}

fn topic_list(ctx: &Ctx, topics: &[i32]) -> Markup {
    html! {
        ul.tags {
            @for topic in topics {
                li { (labels::topic(ctx.lang, Topic::try_from(*topic).unwrap_or(Topic::Unspecified))) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_keep_only_the_highlight_as_markup() {
        let pieces = snippet_pieces("la <em>economía</em> <em>social</em> &amp; &lt;b&gt;solidaria&lt;/b&gt; …");
        assert_eq!(
            pieces,
            vec![
                Piece {
                    text: "la ".to_owned(),
                    matched: false
                },
                Piece {
                    text: "economía".to_owned(),
                    matched: true
                },
                Piece {
                    text: " ".to_owned(),
                    matched: false
                },
                Piece {
                    text: "social".to_owned(),
                    matched: true
                },
                Piece {
                    text: " & <b>solidaria</b> …".to_owned(),
                    matched: false
                },
            ]
        );
        let html = snippet_markup("la <em>economía</em> &lt;script&gt;alert(1)&lt;/script&gt;").into_string();
        assert_eq!(html, "la <mark>economía</mark> &lt;script&gt;alert(1)&lt;/script&gt;");
    }

    #[test]
    fn says_which_language_each_passage_is_in() {
        let text = |language: &str| LegalText {
            language: language.to_owned(),
            provisions: vec![sse_proto::lawguide::Provision {
                heading: "Official".to_owned(),
                official_text: true,
                ..Default::default()
            }],
            ..LegalText::default()
        };
        assert_eq!(provision_language(&text("es"), false), "es");
        assert_eq!(provision_language(&text("bg"), false), "en", "paraphrased in English");
        assert_eq!(provision_language(&text("bg"), true), "bg");
        let snippet = |section: snippet::Section, heading: &str| Snippet {
            section: section as i32,
            provision_heading: heading.to_owned(),
            ..Snippet::default()
        };
        let greek = text("el");
        assert_eq!(
            snippet_language(&greek, &snippet(snippet::Section::Summary, "")),
            Some("en")
        );
        assert_eq!(
            snippet_language(&greek, &snippet(snippet::Section::Provision, "Official")),
            Some("el")
        );
        assert_eq!(
            snippet_language(&greek, &snippet(snippet::Section::Provision, "Other")),
            Some("en")
        );
        assert_eq!(snippet_language(&greek, &snippet(snippet::Section::Title, "")), None);
    }

    #[test]
    fn markup_the_law_guide_did_not_escape_is_still_shown_as_text() {
        let html = snippet_markup("<script>x</script> <em>a<img src=x></em> <em>unclosed").into_string();
        assert!(!html.contains("<script>") && !html.contains("<img"));
        assert!(html.contains("<mark>a&lt;img src=x&gt;</mark>"));
        assert!(html.ends_with("&lt;em&gt;unclosed"));
        assert_eq!(unescape("&amp;lt;"), "&lt;", "one level of escaping is undone, not two");
    }
}

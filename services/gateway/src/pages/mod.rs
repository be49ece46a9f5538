//! The observatory's web pages: server-rendered HTML that works without JavaScript, in English,
//! French or Spanish (`?lang=`). Every page asks the services over gRPC, with a deadline, and a
//! failed call becomes an error page with the HTTP status grpc-gateway would give its code.

mod chart;
mod fetch;
mod figures;
mod home;
mod i18n;
mod indicators;
mod initiatives;
mod labels;
mod laws;
mod parts;

use std::{convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::FromRequestParts,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, StatusCode, header, request::Parts};
use maud::{DOCTYPE, Markup, html};
use sse_platform::calls::ServiceChannel;
use sse_platform::{calls::CallContext, error::http_status};
use sse_proto::{
    indicators::indicator_service_client::IndicatorServiceClient,
    initiatives::initiative_service_client::InitiativeServiceClient,
    lawguide::law_guide_service_client::LawGuideServiceClient,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::backends::Backends;
use i18n::Lang;

/// How long a page waits for each call to a service.
const DEADLINE: Duration = Duration::from_secs(5);
const STYLESHEET: &str = include_str!("style.css");
/// Changes with each release, so browsers fetch the new stylesheet and may keep it a long time.
const STYLESHEET_PATH: &str = concat!("/static/observatory.css?v=", env!("CARGO_PKG_VERSION"));

/// The routes of the web pages.
pub fn router(backends: Backends) -> Router {
    Router::new()
        .route("/", get(home::page))
        .route("/initiatives", get(initiatives::list))
        .route("/initiatives/{id}", get(initiatives::detail))
        .route("/indicators", get(indicators::page))
        .route("/laws", get(laws::search))
        .route("/laws/{id}", get(laws::detail))
        .route("/static/observatory.css", get(stylesheet))
        .with_state(backends)
}

async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A request to a service, with the pages' deadline, the current trace context and the
/// visitor's address (the pages read on their own account, never with the visitor's key).
fn call<T>(message: T) -> tonic::Request<T> {
    CallContext::for_addresses(crate::client::forwarded_for().as_deref()).outgoing(message, DEADLINE)
}

fn initiatives_client(backends: &Backends) -> InitiativeServiceClient<ServiceChannel> {
    InitiativeServiceClient::new(backends.initiatives.clone())
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
}

fn indicators_client(backends: &Backends) -> IndicatorServiceClient<ServiceChannel> {
    IndicatorServiceClient::new(backends.indicators.clone())
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
}

fn law_guide_client(backends: &Backends) -> LawGuideServiceClient<ServiceChannel> {
    LawGuideServiceClient::new(backends.law_guide.clone())
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
}

/// The sections of the site, for the navigation's "you are here".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Home,
    Initiatives,
    Indicators,
    Laws,
    /// Pages outside the sections, such as error pages.
    Other,
}

/// A rendered page before the shared layout wraps it.
struct Page {
    title: String,
    section: Section,
    body: Markup,
}

/// Why a page could not be rendered.
#[derive(Debug)]
enum PageError {
    /// A service said no, or could not be reached.
    Service(Status),
    /// The visitor's input was refused before any call.
    BadInput(String),
}

impl From<Status> for PageError {
    fn from(status: Status) -> PageError {
        PageError::Service(status)
    }
}

type PageResult = Result<Page, PageError>;

/// What every page knows about its request: the language, and the path and query to build
/// links that keep them.
pub struct Ctx {
    lang: Lang,
    path: String,
    params: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Ctx, Infallible> {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
        let lang = Lang::parse(
            params
                .iter()
                .find(|(name, _)| name == "lang")
                .map(|(_, value)| value.as_str()),
        );
        Ok(Ctx {
            lang,
            path: parts.uri.path().to_owned(),
            params,
        })
    }
}

impl Ctx {
    #[cfg(test)]
    fn new(lang: Lang, path: &str, params: &[(&str, &str)]) -> Ctx {
        Ctx {
            lang,
            path: path.to_owned(),
            params: params
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    /// A query parameter, trimmed; `None` when absent or blank.
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// A link to `path` in the page's language.
    fn href(&self, path: &str) -> String {
        self.href_with(path, &[])
    }

    /// A link to `path` with these parameters (blank ones left out), in the page's language.
    fn href_with(&self, path: &str, params: &[(&str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in params.iter().filter(|(_, value)| !value.is_empty()) {
            query.append_pair(name, value);
        }
        if self.lang != Lang::En {
            query.append_pair("lang", self.lang.code());
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }

    /// This very page in another language.
    fn in_language(&self, lang: Lang) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.params.iter().filter(|(name, _)| name != "lang") {
            query.append_pair(name, value);
        }
        if lang != Lang::En {
            query.append_pair("lang", lang.code());
        }
        let query = query.finish();
        if query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{query}", self.path)
        }
    }

    /// A hidden field that keeps the language through a GET form.
    fn lang_field(&self) -> Markup {
        html! {
            @if self.lang != Lang::En {
                input type="hidden" name="lang" value=(self.lang.code());
            }
        }
    }

    fn t(&self, english: &'static str) -> &'static str {
        self.lang.t(english)
    }

    /// The page, or the error page, as an HTTP response.
    fn render(&self, result: PageResult) -> Response {
        match result {
            Ok(page) => (StatusCode::OK, Html(self.layout(&page).into_string())).into_response(),
            Err(error) => self.error(error),
        }
    }

    fn layout(&self, page: &Page) -> Markup {
        let sections = [
            (Section::Home, "/", self.t("Home")),
            (Section::Initiatives, "/initiatives", self.t("Initiatives")),
            (Section::Indicators, "/indicators", self.t("Indicators")),
            (Section::Laws, "/laws", self.t("Law guide")),
        ];
        html! {
            (DOCTYPE)
            html lang=(self.lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (page.title) " — " (self.t("SSE Observatory")) }
                    link rel="stylesheet" href=(STYLESHEET_PATH);
                }
                body {
                    a.skip-link href="#main" { (self.t("Skip to content")) }
                    header.site-header {
                        div.wrap {
                            a.brand href=(self.href("/")) { (self.t("SSE Observatory")) }
                            nav.site-nav aria-label=(self.t("Main")) {
                                ul {
                                    @for (section, path, label) in sections {
                                        li {
                                            a href=(self.href(path))
                                                aria-current=[(section == page.section).then_some("page")] { (label) }
                                        }
                                    }
                                }
                            }
                            nav.languages aria-label=(self.t("Language")) {
                                ul {
                                    @for lang in Lang::ALL {
                                        li {
                                            a href=(self.in_language(lang)) lang=(lang.code()) hreflang=(lang.code())
                                                aria-current=[(lang == self.lang).then_some("true")] { (lang.name()) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        div.wrap { (page.body) }
                    }
                    footer.site-footer {
                        div.wrap {
                            p {
                                (self.t("Open data and APIs")) (self.lang.colon())
                                a href="/openapi.json" { "OpenAPI" } " · "
                                a href="/v1/initiatives" { "REST" } " · "
                                a href="/sdmx/data/DF_SSE_OBS" { "SDMX" }
                            }
                            p.small {
                                "SDG labels: open-sdg sdg-translations (MIT). Code: Apache-2.0."
                            }
                        }
                    }
                }
            }
        }
    }

    /// The error page: what went wrong in the visitor's words, with the matching HTTP status.
    fn error(&self, error: PageError) -> Response {
        let (status, message, details) = match &error {
            PageError::BadInput(message) => (StatusCode::BAD_REQUEST, message.clone(), Vec::new()),
            PageError::Service(status) => {
                let violations: Vec<String> = status
                    .get_details_bad_request()
                    .map(|bad_request| {
                        bad_request
                            .field_violations
                            .iter()
                            .map(|violation| format!("{}: {}", violation.field, violation.description))
                            .collect()
                    })
                    .unwrap_or_default();
                (http_status(status.code()), status.message().to_owned(), violations)
            }
        };
        if status.is_server_error() {
            tracing::warn!(?error, "a page could not be rendered");
        }
        let heading = match status {
            StatusCode::NOT_FOUND => self.t("Page not found"),
            StatusCode::BAD_REQUEST => self.t("Bad request"),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => self.t("Service unavailable"),
            StatusCode::TOO_MANY_REQUESTS => self.t("Too many requests"),
            _ => self.t("Something went wrong"),
        };
        // Messages of internal failures are for the logs, not for visitors.
        let shown = match &error {
            PageError::Service(status) if status.code() == Code::Internal || status.code() == Code::Unknown => {
                String::new()
            }
            _ => message,
        };
        let page = Page {
            title: heading.to_owned(),
            section: Section::Other,
            body: html! {
                h1 { (heading) }
                div.error-box role="alert" {
                    @if !shown.is_empty() {
                        p { (shown) }
                    }
                    @if !details.is_empty() {
                        ul { @for detail in &details { li { (detail) } } }
                    }
                    @if status.is_server_error() {
                        p { (self.t("Try again later.")) " (HTTP " (status.as_u16()) ")" }
                    } @else {
                        p { "HTTP " (status.as_u16()) }
                    }
                }
                p { a href=(self.href("/")) { (self.t("Back to the home page")) } }
            },
        };
        let mut response = (status, Html(self.layout(&page).into_string())).into_response();
        if let PageError::Service(status) = &error {
            // A page over the rate limit says when to come back, as the API does.
            response
                .headers_mut()
                .extend(crate::rest::status::error_headers(status));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[test]
    fn links_keep_the_language_and_drop_blank_parameters() {
        let ctx = Ctx::new(Lang::Fr, "/initiatives", &[("country", "FR"), ("lang", "fr")]);
        assert_eq!(ctx.href("/laws"), "/laws?lang=fr");
        assert_eq!(
            ctx.href_with("/initiatives", &[("q", "zéro chômeur"), ("sdg", "")]),
            "/initiatives?q=z%C3%A9ro+ch%C3%B4meur&lang=fr"
        );
        assert_eq!(ctx.in_language(Lang::Es), "/initiatives?country=FR&lang=es");
        assert_eq!(ctx.in_language(Lang::En), "/initiatives?country=FR");
        assert_eq!(Ctx::new(Lang::En, "/", &[]).href("/laws"), "/laws");
    }

    #[tokio::test]
    async fn service_errors_become_pages_with_the_matching_status() {
        let ctx = Ctx::new(Lang::En, "/initiatives/x", &[]);
        let cases = [
            (Status::unavailable("connection refused"), 503, "Service unavailable"),
            (Status::not_found("initiatives/x not found"), 404, "Page not found"),
            (
                Status::invalid_argument("filter error at position 3"),
                400,
                "Bad request",
            ),
        ];
        for (status, code, heading) in cases {
            let response = ctx.render(Err(PageError::Service(status)));
            assert_eq!(response.status().as_u16(), code);
            let html = body(response).await;
            assert!(html.contains(&format!("<h1>{heading}</h1>")), "{html}");
            assert!(html.contains(r#"<html lang="en">"#));
        }
        let hidden = body(ctx.render(Err(PageError::Service(Status::internal("secret table name"))))).await;
        assert!(!hidden.contains("secret table name"));
        let bad = ctx.render(Err(PageError::BadInput("<b>no</b> such goal".to_owned())));
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(body(bad).await.contains("&lt;b&gt;no&lt;/b&gt; such goal"));
    }

    #[tokio::test]
    async fn the_layout_has_landmarks_a_skip_link_and_the_chosen_language() {
        let ctx = Ctx::new(Lang::Es, "/", &[("lang", "es")]);
        let page = Page {
            title: "Inicio".to_owned(),
            section: Section::Home,
            body: html! { h1 { "Hola" } },
        };
        let html = body(ctx.render(Ok(page))).await;
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"es\">"));
        for landmark in ["<header", "<nav", "<main id=\"main\"", "<footer"] {
            assert!(html.contains(landmark), "{landmark}");
        }
        assert!(html.contains(r##"<a class="skip-link" href="#main">Saltar al contenido</a>"##));
        assert!(html.contains(r#"name="viewport""#));
        assert!(html.contains(r#"<a href="/?lang=es" aria-current="page">Inicio</a>"#));
    }
}

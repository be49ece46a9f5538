//! Look-ups that several pages make: every initiative matching a filter, SDG labels in the
//! page's language, the titles of legal texts named elsewhere.

use std::collections::{BTreeMap, HashMap};

use sse_platform::calls;
use sse_proto::{
    indicators::{ListSdgGoalsRequest, ListSdgIndicatorsRequest, ListSdgTargetsRequest},
    initiatives::{BatchGetInitiativesRequest, Initiative, ListInitiativesRequest},
    lawguide::BatchGetLegalTextsRequest,
};
use tonic::Status;

use super::{call, i18n::Lang, indicators_client, initiatives_client, law_guide_client};
use crate::backends::Backends;

/// How many pages of 1000 a page walks at most; beyond, the catalogue needs an aggregate RPC.
const MOST_PAGES: usize = 20;

/// Every initiative matching `filter` (up to 20,000), in name order.
pub async fn all_initiatives(backends: &Backends, filter: &str) -> Result<Vec<Initiative>, Status> {
    let mut client = initiatives_client(backends);
    let mut initiatives = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MOST_PAGES {
        let page = client
            .list_initiatives(call(ListInitiativesRequest {
                page_size: 1000,
                page_token,
                filter: filter.to_owned(),
                ..ListInitiativesRequest::default()
            }))
            .await?
            .into_inner();
        initiatives.extend(page.initiatives);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(initiatives)
}

/// The 17 goals' short titles by number.
pub async fn sdg_goals(backends: &Backends, lang: Lang) -> Result<BTreeMap<i32, String>, Status> {
    let goals = indicators_client(backends)
        .list_sdg_goals(call(ListSdgGoalsRequest {
            language: lang.code().to_owned(),
        }))
        .await?
        .into_inner()
        .goals;
    Ok(goals
        .into_iter()
        .filter_map(|goal| Some((goal.code.parse().ok()?, goal.short_title)))
        .collect())
}

/// The SDG targets' titles by code (`8.5`).
pub async fn sdg_targets(backends: &Backends, lang: Lang) -> Result<HashMap<String, String>, Status> {
    let targets = indicators_client(backends)
        .list_sdg_targets(call(ListSdgTargetsRequest {
            language: lang.code().to_owned(),
            goal: String::new(),
        }))
        .await?
        .into_inner()
        .targets;
    Ok(targets.into_iter().map(|target| (target.code, target.title)).collect())
}

/// The SDG indicators' titles by code (`8.5.2`).
pub async fn sdg_indicators(backends: &Backends, lang: Lang) -> Result<HashMap<String, String>, Status> {
    let indicators = indicators_client(backends)
        .list_sdg_indicators(call(ListSdgIndicatorsRequest {
            language: lang.code().to_owned(),
            parent: String::new(),
        }))
        .await?
        .into_inner()
        .indicators;
    Ok(indicators
        .into_iter()
        .map(|indicator| (indicator.code, indicator.title))
        .collect())
}

/// The display names of these initiatives, for links; like [`law_titles`], only a nicety.
pub async fn initiative_names(backends: &Backends, names: &[&str]) -> HashMap<String, String> {
    let names: Vec<String> = names
        .iter()
        .filter(|name| name.starts_with("initiatives/"))
        .map(|name| (*name).to_owned())
        .collect();
    let client = initiatives_client(backends);
    let found = batch_get_existing(names, |names| {
        let mut client = client.clone();
        async move {
            let response = client
                .batch_get_initiatives(call(BatchGetInitiativesRequest {
                    names,
                    // Only what a link shows: answered from a column.
                    read_mask: Some(pbjson_types::FieldMask {
                        paths: vec!["display_name".to_owned()],
                    }),
                }))
                .await?;
            Ok(response.into_inner().initiatives)
        }
    })
    .await;
    match found {
        Ok(initiatives) => initiatives
            .into_iter()
            .map(|initiative| (initiative.name, initiative.display_name))
            .collect(),
        Err(status) => {
            tracing::debug!(%status, "initiative names unavailable; links show ids");
            HashMap::new()
        }
    }
}

/// The resources of these names that exist, through a batch get (AIP-231) of up to 1000 names a
/// call: a name the service does not know (a dangling link) is left out and the call repeated,
/// a few times at most.
async fn batch_get_existing<T, F, Fut>(mut names: Vec<String>, get: F) -> Result<Vec<T>, Status>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, Status>>,
{
    const MOST_MISSING: usize = 10;
    names.sort();
    names.dedup();
    let mut found = Vec::with_capacity(names.len());
    for chunk in names.chunks(1000) {
        let mut chunk = chunk.to_vec();
        for attempt in 0..=MOST_MISSING {
            if chunk.is_empty() {
                break;
            }
            match get(chunk.clone()).await {
                Ok(resources) => {
                    found.extend(resources);
                    break;
                }
                Err(status) if attempt < MOST_MISSING => {
                    let Some(missing) = calls::missing_resource(&status) else {
                        return Err(status);
                    };
                    let before = chunk.len();
                    chunk.retain(|name| *name != missing);
                    if chunk.len() == before {
                        return Err(status);
                    }
                }
                Err(status) => return Err(status),
            }
        }
    }
    Ok(found)
}

/// A legal text as a link shows it.
#[derive(Debug, Clone)]
pub struct LawTitle {
    pub number: String,
    pub title: String,
}

/// The titles of these legal texts, for links. Only a nicety: when the law guide cannot say,
/// the links show the texts' ids instead, so this never fails a page.
pub async fn law_titles(backends: &Backends, names: &[String]) -> HashMap<String, LawTitle> {
    let names: Vec<String> = names
        .iter()
        .filter(|name| name.starts_with("legalTexts/"))
        .cloned()
        .collect();
    let client = law_guide_client(backends);
    let listed = batch_get_existing(names, |names| {
        let mut client = client.clone();
        async move {
            let response = client
                .batch_get_legal_texts(call(BatchGetLegalTextsRequest { names }))
                .await?;
            Ok(response.into_inner().legal_texts)
        }
    })
    .await;
    match listed {
        Ok(texts) => texts
            .into_iter()
            .map(|text| {
                let title = if text.title_en.is_empty() {
                    text.title
                } else {
                    text.title_en
                };
                (
                    text.name,
                    LawTitle {
                        number: text.number,
                        title,
                    },
                )
            })
            .collect(),
        Err(status) => {
            tracing::debug!(%status, "legal text titles unavailable; links show ids");
            HashMap::new()
        }
    }
}

//! The gRPC face of the law guide: reads each request, checks it whole, and hands it to the
//! store. Handlers stay thin; what a field means lives in `validation` and `resource`.

use sse_platform::validate::quoted;
use sse_platform::{
    ServiceError,
    pagination::ListQuery,
    update_mask,
    validate::{self, Violations},
};
use sse_proto::lawguide::{
    BatchGetLegalTextsRequest, BatchGetLegalTextsResponse, CompareJurisdictionsRequest, CompareJurisdictionsResponse,
    CreateLegalTextRequest, CreateLegalTextResponse, DeleteLegalTextRequest, DeleteLegalTextResponse,
    GetLegalTextRequest, GetLegalTextResponse, LegalText, ListLegalTextRevisionsRequest,
    ListLegalTextRevisionsResponse, ListLegalTextsRequest, ListLegalTextsResponse, SearchLegalTextsRequest,
    SearchLegalTextsResponse, Topic, UpdateLegalTextRequest, UpdateLegalTextResponse,
    law_guide_service_server::LawGuideService,
};
use tonic::{Request, Response, Status};

use crate::{
    codes::is_language_code,
    matrix, resource,
    store::{NewLegalText, SearchQuery, Store},
    validation::{
        MAX_REPEATED, check_jurisdiction, check_legal_text, check_legal_text_id, check_request_id, check_topics,
        contract,
    },
};

/// The longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;

#[derive(Clone)]
pub struct LawGuide {
    store: Store,
}

impl LawGuide {
    pub fn new(store: Store) -> Self {
        LawGuide { store }
    }
}

#[tonic::async_trait]
impl LawGuideService for LawGuide {
    async fn get_legal_text(
        &self,
        request: Request<GetLegalTextRequest>,
    ) -> Result<Response<GetLegalTextResponse>, Status> {
        let request = request.into_inner();
        let id = resource::parse_name(&request.name, "name")?;
        let legal_text = self.store.get(id).await?;
        Ok(Response::new(GetLegalTextResponse {
            legal_text: Some(legal_text),
        }))
    }

    async fn batch_get_legal_texts(
        &self,
        request: Request<BatchGetLegalTextsRequest>,
    ) -> Result<Response<BatchGetLegalTextsResponse>, Status> {
        let names = request.into_inner().names;
        let ids = validate::batch_get_ids(&names, "a legal text name (legalTexts/{id})", |name| {
            resource::parse_name(name, "names").ok()
        })?;
        let legal_texts = self.store.get_all(&ids).await?;
        Ok(Response::new(BatchGetLegalTextsResponse { legal_texts }))
    }

    async fn list_legal_texts(
        &self,
        request: Request<ListLegalTextsRequest>,
    ) -> Result<Response<ListLegalTextsResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .store
            .list(ListQuery {
                filter: &request.filter,
                order_by: &request.order_by,
                page_size: request.page_size,
                page_token: &request.page_token,
                ..ListQuery::default()
            })
            .await?;
        Ok(Response::new(ListLegalTextsResponse {
            legal_texts: page.items,
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }

    async fn create_legal_text(
        &self,
        request: Request<CreateLegalTextRequest>,
    ) -> Result<Response<CreateLegalTextResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::default();
        check_legal_text_id(&mut violations, "legal_text_id", &request.legal_text_id);
        check_request_id(&mut violations, "request_id", &request.request_id);
        let id = Some(request.legal_text_id).filter(|id| !id.is_empty());
        match &request.legal_text {
            Some(legal_text) => check_legal_text(&mut violations, "legal_text", legal_text, id.as_deref()),
            None => violations.add("legal_text", "is required"),
        }
        violations.into_result()?;
        if request.validate_only {
            return Ok(Response::new(CreateLegalTextResponse::default()));
        }
        let created = self
            .store
            .create(NewLegalText {
                id,
                legal_text: request.legal_text.unwrap_or_default(),
                request_id: request.request_id,
            })
            .await?;
        Ok(Response::new(CreateLegalTextResponse {
            legal_text: Some(created),
        }))
    }

    async fn update_legal_text(
        &self,
        request: Request<UpdateLegalTextRequest>,
    ) -> Result<Response<UpdateLegalTextResponse>, Status> {
        let request = request.into_inner();
        let Some(patch) = request.legal_text else {
            return Err(ServiceError::invalid_field("legal_text", "is required").into());
        };
        let id = resource::parse_name(&patch.name, "legal_text.name")?;
        let mask = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
        let paths = update_mask::paths(&mask, contract(), |field| is_set(&patch, field))?;
        let updated = self
            .store
            .modify(id, &patch.etag, |current| {
                for path in &paths {
                    copy_field(current, &patch, path);
                }
                let mut violations = Violations::default();
                check_legal_text(&mut violations, "legal_text", current, Some(id));
                violations.into_result()
            })
            .await?;
        Ok(Response::new(UpdateLegalTextResponse {
            legal_text: Some(updated),
        }))
    }

    async fn delete_legal_text(
        &self,
        request: Request<DeleteLegalTextRequest>,
    ) -> Result<Response<DeleteLegalTextResponse>, Status> {
        let request = request.into_inner();
        let id = resource::parse_name(&request.name, "name")?;
        let revision = self.store.delete(id, &request.etag).await?;
        Ok(Response::new(DeleteLegalTextResponse {
            revision: Some(revision),
        }))
    }

    async fn list_legal_text_revisions(
        &self,
        request: Request<ListLegalTextRevisionsRequest>,
    ) -> Result<Response<ListLegalTextRevisionsResponse>, Status> {
        let request = request.into_inner();
        let id = resource::parse_name(&request.parent, "parent")?;
        let page = self
            .store
            .list_revisions(id, request.page_size, &request.page_token)
            .await?;
        Ok(Response::new(ListLegalTextRevisionsResponse {
            revisions: page.revisions,
            next_page_token: page.next_page_token,
        }))
    }

    async fn search_legal_texts(
        &self,
        request: Request<SearchLegalTextsRequest>,
    ) -> Result<Response<SearchLegalTextsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::default();
        violations.required("query", &request.query);
        violations.max_chars("query", &request.query, MAX_QUERY_CHARS);
        if !request.language.is_empty() && !is_language_code(&request.language) {
            violations.add(
                "language",
                format!(
                    "{} is not an ISO 639-1 language code (e.g. fr)",
                    quoted(&request.language)
                ),
            );
        }
        violations.into_result()?;
        let page = self
            .store
            .search(SearchQuery {
                query: &request.query,
                filter: &request.filter,
                language: &request.language,
                page_size: request.page_size,
                page_token: &request.page_token,
            })
            .await?;
        Ok(Response::new(SearchLegalTextsResponse {
            results: page.results,
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }

    async fn compare_jurisdictions(
        &self,
        request: Request<CompareJurisdictionsRequest>,
    ) -> Result<Response<CompareJurisdictionsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::default();
        if request.topics.is_empty() {
            violations.add("topics", "is required: name at least one topic");
        }
        check_topics(&mut violations, "topics", &request.topics);
        if request.jurisdictions.len() > MAX_REPEATED {
            violations.add(
                "jurisdictions",
                format!(
                    "has {} values; at most {MAX_REPEATED} are allowed",
                    request.jurisdictions.len()
                ),
            );
        }
        for (index, code) in request.jurisdictions.iter().enumerate() {
            check_jurisdiction(&mut violations, &format!("jurisdictions[{index}]"), code);
        }
        violations.no_duplicates("jurisdictions", &request.jurisdictions);
        violations.into_result()?;
        let topics: Vec<Topic> = request
            .topics
            .iter()
            .filter_map(|value| resource::topic(*value))
            .collect();
        let texts = self.store.matching(&request.filter, &request.jurisdictions).await?;
        let rows = matrix::compare(&texts, &topics, &request.jurisdictions);
        Ok(Response::new(CompareJurisdictionsResponse {
            topics: request.topics,
            rows,
        }))
    }
}

fn is_set(legal_text: &LegalText, field: &str) -> bool {
    let mut empty = LegalText::default();
    copy_field(&mut empty, legal_text, field);
    empty != LegalText::default()
}

fn copy_field(target: &mut LegalText, source: &LegalText, field: &str) {
    match field {
        "jurisdiction" => target.jurisdiction.clone_from(&source.jurisdiction),
        "level" => target.level = source.level,
        "kind" => target.kind = source.kind,
        "number" => target.number.clone_from(&source.number),
        "title" => target.title.clone_from(&source.title),
        "title_en" => target.title_en.clone_from(&source.title_en),
        "language" => target.language.clone_from(&source.language),
        "adoption_date" => target.adoption_date = source.adoption_date,
        "publication_date" => target.publication_date = source.publication_date,
        "entry_into_force_date" => target.entry_into_force_date = source.entry_into_force_date,
        "publication_reference" => target.publication_reference.clone_from(&source.publication_reference),
        "status" => target.status = source.status,
        "identifiers" => target.identifiers.clone_from(&source.identifiers),
        "topics" => target.topics.clone_from(&source.topics),
        "summary" => target.summary.clone_from(&source.summary),
        "provisions" => target.provisions.clone_from(&source.provisions),
        "relations" => target.relations.clone_from(&source.relations),
        "related_initiatives" => target.related_initiatives.clone_from(&source.related_initiatives),
        "sources" => target.sources.clone_from(&source.sources),
        "unverified_fields" => target.unverified_fields.clone_from(&source.unverified_fields),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writable_field_can_be_copied() {
        let full = LegalText {
            jurisdiction: "FR".to_owned(),
            level: 1,
            kind: 1,
            number: "n".to_owned(),
            title: "t".to_owned(),
            title_en: "t".to_owned(),
            language: "fr".to_owned(),
            adoption_date: Some(Default::default()),
            publication_date: Some(Default::default()),
            entry_into_force_date: Some(Default::default()),
            publication_reference: "p".to_owned(),
            status: 1,
            identifiers: vec![Default::default()],
            topics: vec![1],
            summary: "s".to_owned(),
            provisions: vec![Default::default()],
            relations: vec![Default::default()],
            related_initiatives: vec!["initiatives/x".to_owned()],
            sources: vec![Default::default()],
            unverified_fields: vec!["number".to_owned()],
            ..Default::default()
        };
        for field in contract().writable() {
            assert!(is_set(&full, field), "{field} is not copied");
        }
    }
}

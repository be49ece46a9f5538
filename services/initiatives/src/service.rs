//! The gRPC face of the catalogue: reads each request, checks it whole, and hands it to the
//! store. Handlers stay thin; what a field means lives in `validation` and `resource`.

use sse_platform::{
    ServiceError, ServiceResult,
    lifecycle::Lifecycle,
    pagination::ListQuery,
    read_mask, time, update_mask,
    validate::{self, Violations},
};
use sse_proto::contract;
use sse_proto::initiatives::{
    BatchCreateInitiativesRequest, BatchCreateInitiativesResponse, BatchGetInitiativesRequest,
    BatchGetInitiativesResponse, CreateInitiativeRequest, CreateInitiativeResponse, DeleteInitiativeRequest,
    DeleteInitiativeResponse, GetInitiativeRequest, GetInitiativeResponse, Initiative, ListInitiativesRequest,
    ListInitiativesResponse, UndeleteInitiativeRequest, UndeleteInitiativeResponse, UpdateInitiativeRequest,
    UpdateInitiativeResponse, initiative_service_server::InitiativeService,
};
use tonic::{Request, Response, Status};

use crate::{
    resource,
    store::{NewInitiative, Store},
    validation::{check_initiative, check_initiative_id, check_request_id},
};

/// The most initiatives one BatchCreateInitiatives may carry.
pub const MAX_BATCH_SIZE: usize = 1000;

#[derive(Clone)]
pub struct InitiativesService {
    store: Store,
}

impl InitiativesService {
    pub fn new(store: Store) -> Self {
        InitiativesService { store }
    }

    /// Creates one initiative (`batch_request_id` None) or a batch, whose field paths start with
    /// `requests[i].`; only checks them when `validate_only`.
    async fn create(
        &self,
        requests: Vec<CreateInitiativeRequest>,
        batch_request_id: Option<&str>,
        validate_only: bool,
    ) -> ServiceResult<Vec<Initiative>> {
        let batch = batch_request_id.is_some();
        let mut violations = Violations::default();
        let mut items = Vec::with_capacity(requests.len());
        for (index, request) in requests.into_iter().enumerate() {
            let path = |field: &str| {
                if batch {
                    format!("requests[{index}].{field}")
                } else {
                    field.to_owned()
                }
            };
            check_initiative_id(&mut violations, &path("initiative_id"), &request.initiative_id);
            check_request_id(&mut violations, &path("request_id"), &request.request_id);
            match &request.initiative {
                Some(initiative) => check_initiative(&mut violations, &path("initiative"), initiative),
                None => violations.add(path("initiative"), "is required"),
            }
            items.push(NewInitiative {
                id: Some(request.initiative_id).filter(|id| !id.is_empty()),
                initiative: request.initiative.unwrap_or_default(),
                request_id: request.request_id,
            });
        }
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_request_ids = std::collections::HashSet::new();
        for (index, item) in items.iter().enumerate() {
            if let Some(id) = &item.id
                && !seen_ids.insert(id.as_str())
            {
                violations.add(
                    format!("requests[{index}].initiative_id"),
                    "is given twice in this batch",
                );
            }
            if !item.request_id.is_empty() && !seen_request_ids.insert(item.request_id.as_str()) {
                violations.add(format!("requests[{index}].request_id"), "is given twice in this batch");
            }
        }
        violations.into_result()?;
        if validate_only {
            return Ok(Vec::new());
        }
        self.store.create_all(items, batch_request_id.unwrap_or_default()).await
    }
}

#[tonic::async_trait]
impl InitiativeService for InitiativesService {
    async fn get_initiative(
        &self,
        request: Request<GetInitiativeRequest>,
    ) -> Result<Response<GetInitiativeResponse>, Status> {
        let request = request.into_inner();
        let id = resource::parse_name(&request.name, "name")?;
        let initiative = self.store.get(id).await?;
        Ok(Response::new(GetInitiativeResponse {
            initiative: Some(initiative),
        }))
    }

    async fn batch_get_initiatives(
        &self,
        request: Request<BatchGetInitiativesRequest>,
    ) -> Result<Response<BatchGetInitiativesResponse>, Status> {
        let request = request.into_inner();
        let ids = validate::batch_get_ids(&request.names, "an initiative name (initiatives/{id})", |name| {
            resource::parse_name(name, "names").ok()
        })?;
        let mask = request.read_mask.map(|mask| mask.paths).unwrap_or_default();
        let fields = read_mask::fields(&mask, contract::expect_message("sse.initiatives.v1.Initiative"))?;
        let initiatives = self.store.get_all(&ids, fields.as_deref()).await?;
        Ok(Response::new(BatchGetInitiativesResponse { initiatives }))
    }

    async fn list_initiatives(
        &self,
        request: Request<ListInitiativesRequest>,
    ) -> Result<Response<ListInitiativesResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .store
            .list(ListQuery {
                filter: &request.filter,
                order_by: &request.order_by,
                show_deleted: request.show_deleted,
                page_size: request.page_size,
                page_token: &request.page_token,
            })
            .await?;
        Ok(Response::new(ListInitiativesResponse {
            initiatives: page.items,
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }

    async fn create_initiative(
        &self,
        request: Request<CreateInitiativeRequest>,
    ) -> Result<Response<CreateInitiativeResponse>, Status> {
        let created = self.create(vec![request.into_inner()], None, false).await?;
        Ok(Response::new(CreateInitiativeResponse {
            initiative: created.into_iter().next(),
        }))
    }

    async fn batch_create_initiatives(
        &self,
        request: Request<BatchCreateInitiativesRequest>,
    ) -> Result<Response<BatchCreateInitiativesResponse>, Status> {
        let request = request.into_inner();
        if request.requests.is_empty() {
            return Err(ServiceError::invalid_field("requests", "is required").into());
        }
        if request.requests.len() > MAX_BATCH_SIZE {
            let count = request.requests.len();
            return Err(ServiceError::invalid_field(
                "requests",
                format!("has {count} items; at most {MAX_BATCH_SIZE} are allowed per call"),
            )
            .into());
        }
        let mut violations = Violations::default();
        check_request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let created = self
            .create(request.requests, Some(&request.request_id), request.validate_only)
            .await?;
        Ok(Response::new(BatchCreateInitiativesResponse { initiatives: created }))
    }

    async fn update_initiative(
        &self,
        request: Request<UpdateInitiativeRequest>,
    ) -> Result<Response<UpdateInitiativeResponse>, Status> {
        let request = request.into_inner();
        let Some(patch) = request.initiative else {
            return Err(ServiceError::invalid_field("initiative", "is required").into());
        };
        let id = resource::parse_name(&patch.name, "initiative.name")?;
        let mask = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
        let paths = update_mask::paths(
            &mask,
            contract::expect_message("sse.initiatives.v1.Initiative"),
            |field| is_set(&patch, field),
        )?;
        let etag = patch.etag.clone();
        let updated = self
            .store
            .modify(id, &etag, Lifecycle::Live, |current, _now| {
                for path in &paths {
                    copy_field(current, &patch, path);
                }
                let mut violations = Violations::default();
                check_initiative(&mut violations, "initiative", current);
                violations.into_result()
            })
            .await?;
        Ok(Response::new(UpdateInitiativeResponse {
            initiative: Some(updated),
        }))
    }

    async fn delete_initiative(
        &self,
        request: Request<DeleteInitiativeRequest>,
    ) -> Result<Response<DeleteInitiativeResponse>, Status> {
        let request = request.into_inner();
        let id = resource::parse_name(&request.name, "name")?;
        let deleted = self
            .store
            .modify(id, &request.etag, Lifecycle::Live, |initiative, now| {
                initiative.delete_time = Some(time::timestamp(now));
                Ok(())
            })
            .await?;
        Ok(Response::new(DeleteInitiativeResponse {
            initiative: Some(deleted),
        }))
    }

    async fn undelete_initiative(
        &self,
        request: Request<UndeleteInitiativeRequest>,
    ) -> Result<Response<UndeleteInitiativeResponse>, Status> {
        let request = request.into_inner();
        let id = resource::parse_name(&request.name, "name")?;
        let restored = self
            .store
            .modify(id, "", Lifecycle::Deleted, |initiative, _now| {
                initiative.delete_time = None;
                Ok(())
            })
            .await?;
        Ok(Response::new(UndeleteInitiativeResponse {
            initiative: Some(restored),
        }))
    }
}

fn is_set(initiative: &Initiative, field: &str) -> bool {
    let mut empty = Initiative::default();
    copy_field(&mut empty, initiative, field);
    empty != Initiative::default()
}

fn copy_field(target: &mut Initiative, source: &Initiative, field: &str) {
    match field {
        "display_name" => target.display_name.clone_from(&source.display_name),
        "description" => target.description.clone_from(&source.description),
        "legal_form" => target.legal_form = source.legal_form,
        "countries" => target.countries.clone_from(&source.countries),
        "territories" => target.territories.clone_from(&source.territories),
        "location" => target.location = source.location,
        "sdg_goals" => target.sdg_goals.clone_from(&source.sdg_goals),
        "sdg_targets" => target.sdg_targets.clone_from(&source.sdg_targets),
        "status" => target.status = source.status,
        "start_date" => target.start_date = source.start_date,
        "end_date" => target.end_date = source.end_date,
        "website" => target.website.clone_from(&source.website),
        "identifiers" => target.identifiers.clone_from(&source.identifiers),
        "sources" => target.sources.clone_from(&source.sources),
        "related_legal_texts" => target.related_legal_texts.clone_from(&source.related_legal_texts),
        _ => {}
    }
}

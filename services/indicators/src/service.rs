//! The gRPC face of the indicators service: reads each request, checks it whole, asks the
//! initiatives service what it must, and hands the rest to the store, the aggregation and the
//! SDMX writers.

use sse_platform::validate::quoted;
use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
};

use sse_platform::{
    ServiceError, ServiceResult,
    calls::CallContext,
    lifecycle::Lifecycle,
    names::{self, is_valid_id},
    pagination::ListQuery,
    time, update_mask,
    validate::Violations,
};
use sse_proto::google::api::HttpBody;
use sse_proto::indicators::{
    AggregateObservationsRequest, AggregateObservationsResponse, BatchCreateObservationsRequest,
    BatchCreateObservationsResponse, CreateIndicatorRequest, CreateIndicatorResponse, CreateObservationRequest,
    CreateObservationResponse, DeleteIndicatorRequest, DeleteIndicatorResponse, DeleteObservationRequest,
    DeleteObservationResponse, ExportFormat, ExportObservationsRequest, GetDataStructureRequest, GetIndicatorRequest,
    GetIndicatorResponse, GetObservationRequest, GetObservationResponse, GetProgressRequest, GetProgressResponse,
    Indicator, IndicatorProgress, ListIndicatorsRequest, ListIndicatorsResponse, ListObservationsRequest,
    ListObservationsResponse, ListSdgGoalsRequest, ListSdgGoalsResponse, ListSdgIndicatorsRequest,
    ListSdgIndicatorsResponse, ListSdgTargetsRequest, ListSdgTargetsResponse, Observation, UndeleteIndicatorRequest,
    UndeleteIndicatorResponse, UpdateIndicatorRequest, UpdateIndicatorResponse, UpdateObservationRequest,
    UpdateObservationResponse, indicator::Aggregation, indicator_service_server::IndicatorService,
};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::{
    aggregate,
    entity::observation::Model as ObservationRow,
    indicator,
    initiatives::Initiatives,
    observation, sdg, sdmx,
    store::{self, NewObservation, Store},
};

/// The longest request_id accepted.
const MAX_REQUEST_ID_CHARS: usize = 128;
/// How many bytes of an export one streamed message carries.
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// Observations read from the database at a time while exporting.
const EXPORT_PAGE_ROWS: u64 = 2_000;
/// Messages written ahead of a slow reader before the export waits for it.
const EXPORT_MESSAGES_AHEAD: usize = 4;

#[derive(Clone)]
pub struct IndicatorsService {
    store: Store,
    initiatives: Initiatives,
}

impl IndicatorsService {
    pub fn new(store: Store, initiatives: Initiatives) -> Self {
        IndicatorsService { store, initiatives }
    }

    /// Creates one observation (`batch` None) or a batch (`batch`: its parent and request_id),
    /// whose field paths start with `requests[i].`.
    async fn create_observations(
        &self,
        context: &CallContext,
        requests: Vec<CreateObservationRequest>,
        batch: Option<(&str, &str)>,
        validate_only: bool,
    ) -> ServiceResult<Vec<Observation>> {
        // A retry that was already answered gets its answer, even if the initiatives service is
        // down by now. A validation checks the request as sent, answered before or not.
        let batch_request_id = batch.map(|(_, request_id)| request_id).unwrap_or_default();
        if !validate_only
            && let Some(recorded) = self
                .store
                .recorded(store::BATCH_CREATE_OBSERVATIONS, batch_request_id)
                .await?
        {
            return Ok(recorded);
        }
        if let ([single], None, false) = (requests.as_slice(), batch, validate_only)
            && request_id_fits(&single.request_id)
        {
            let recorded = self
                .store
                .recorded(store::CREATE_OBSERVATION, &single.request_id)
                .await?;
            if let Some(recorded) = recorded {
                return Ok(vec![recorded]);
            }
        }
        let batch_parent = match batch {
            Some(("indicators/-", _)) => None,
            Some((parent, _)) => Some(indicator::parse_name(parent, "parent")?),
            None => None,
        };
        let mut violations = Violations::default();
        let mut items = Vec::with_capacity(requests.len());
        let mut initiatives = Vec::new();
        for (index, request) in requests.into_iter().enumerate() {
            let path = |field: &str| {
                if batch.is_some() {
                    format!("requests[{index}].{field}")
                } else {
                    field.to_owned()
                }
            };
            let code = match (request.parent.as_str(), batch_parent) {
                ("", Some(code)) => Some(code.to_owned()),
                ("", None) => {
                    violations.add(path("parent"), "is required: indicators/{code}");
                    None
                }
                (parent, _) => match indicator::parse_name(parent, &path("parent")) {
                    Ok(code) if batch_parent.is_none_or(|batch_code| batch_code == code) => Some(code.to_owned()),
                    Ok(_) => {
                        violations.add(path("parent"), "differs from the batch's parent");
                        None
                    }
                    Err(_) => {
                        violations.add(
                            path("parent"),
                            format!("{} is not an indicator name (indicators/{{code}})", quoted(parent)),
                        );
                        None
                    }
                },
            };
            if !request.observation_id.is_empty() && !is_valid_id(&request.observation_id) {
                violations.add(
                    path("observation_id"),
                    "must be 1 to 63 lowercase letters, digits and hyphens, starting with a letter",
                );
            }
            violations.max_chars(&path("request_id"), &request.request_id, MAX_REQUEST_ID_CHARS);
            let Some(resource) = request.observation else {
                violations.add(path("observation"), "is required");
                continue;
            };
            let period = observation::check(&mut violations, &path("observation"), &resource);
            if !resource.initiative.is_empty() {
                initiatives.push((
                    request.request_id.clone(),
                    resource.initiative.clone(),
                    path("observation.initiative"),
                ));
            }
            if let (Some(code), Some(period)) = (code, period) {
                items.push(NewObservation {
                    indicator_code: code,
                    id: Some(request.observation_id).filter(|id| !id.is_empty()),
                    observation: resource,
                    period,
                    request_id: request.request_id,
                });
            }
        }
        let mut seen_ids = HashSet::new();
        let mut seen_request_ids = HashSet::new();
        for (index, item) in items.iter().enumerate() {
            if let Some(id) = &item.id
                && !seen_ids.insert((item.indicator_code.as_str(), id.as_str()))
            {
                violations.add(
                    format!("requests[{index}].observation_id"),
                    "is given twice in this batch",
                );
            }
            if !item.request_id.is_empty() && !seen_request_ids.insert(item.request_id.as_str()) {
                violations.add(format!("requests[{index}].request_id"), "is given twice in this batch");
            }
        }
        violations.into_result()?;
        // Items already answered (their request_id recorded) are replayed, not checked again.
        let request_ids: Vec<&str> = initiatives
            .iter()
            .map(|(request_id, _, _)| request_id.as_str())
            .collect();
        let answered = self.store.recorded_observations(&request_ids).await?;
        let to_check: Vec<(String, String)> = initiatives
            .into_iter()
            .filter(|(request_id, _, _)| !answered.contains_key(request_id))
            .map(|(_, name, field)| (name, field))
            .collect();
        // Before the write's transaction, never inside it: a transaction waiting on another
        // service would hold its connection (in one process, of the pool the initiatives service
        // reads with) and, on SQLite, the write lock.
        self.initiatives.require_live(context, &to_check).await?;
        if validate_only {
            let codes = items.iter().map(|item| item.indicator_code.as_str()).collect();
            self.store.require_live_indicators(&codes).await?;
            return Ok(Vec::new());
        }
        self.store.create_observations(items, batch_request_id).await
    }
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

enum ExportWriter {
    Csv,
    Json(Box<sdmx::json::JsonWriter>),
}

/// An export being streamed: keyset pages of observations are read, written as SDMX and sent
/// in messages of up to [`EXPORT_CHUNK_BYTES`], a few ahead of the reader at most, so neither
/// the observations nor the document are ever held whole. Figures that could share an SDMX key
/// come together in the export order, and are converted together so repeated keys are told
/// apart as in a whole-document export.
struct Export {
    store: Store,
    filter: String,
    indicators: HashMap<String, Indicator>,
    content_type: &'static str,
    sender: tokio::sync::mpsc::Sender<Result<HttpBody, Status>>,
}

impl Export {
    async fn run(mut self, writer: ExportWriter) {
        if let Err(error) = self.write(writer).await {
            // The reader may be gone already; then there is no one to tell.
            let _ = self.sender.send(Err(error.into())).await;
        }
    }

    async fn write(&mut self, mut writer: ExportWriter) -> ServiceResult<()> {
        let mut pending = match &writer {
            ExportWriter::Csv => sdmx::csv::header(),
            ExportWriter::Json(json) => json.start(),
        }
        .into_bytes();
        let mut sent_any = false;
        let mut run: Vec<ObservationRow> = Vec::new();
        let mut after: Option<ObservationRow> = None;
        loop {
            let page = self
                .store
                .export_page(&self.filter, after.as_ref(), EXPORT_PAGE_ROWS)
                .await?;
            let complete = (page.len() as u64) < EXPORT_PAGE_ROWS;
            after = page.last().cloned();
            for row in page {
                if run.first().is_some_and(|first| !could_share_a_key(first, &row)) {
                    self.convert(&mut writer, &mut pending, &run)?;
                    run.clear();
                }
                run.push(row);
            }
            // The first message goes as soon as there is something to send.
            let everything = !sent_any;
            if !self.send_full_chunks(&mut pending, &mut sent_any, everything).await {
                return Ok(());
            }
            if complete {
                break;
            }
        }
        self.convert(&mut writer, &mut pending, &run)?;
        if let ExportWriter::Json(json) = writer {
            pending.extend(json.finish().into_bytes());
        }
        self.send_full_chunks(&mut pending, &mut sent_any, true).await;
        Ok(())
    }

    fn convert(&self, writer: &mut ExportWriter, pending: &mut Vec<u8>, run: &[ObservationRow]) -> ServiceResult<()> {
        if run.is_empty() {
            return Ok(());
        }
        let observations = sdmx::observations(run, &self.indicators)?;
        let mut text = String::new();
        match writer {
            ExportWriter::Csv => sdmx::csv::write_lines(&mut text, &observations),
            ExportWriter::Json(json) => json.write_observations(&mut text, &observations),
        }
        pending.extend(text.into_bytes());
        Ok(())
    }

    /// Sends `pending` in full chunks, and the remainder too when `everything`; false when the
    /// reader has gone.
    async fn send_full_chunks(&self, pending: &mut Vec<u8>, sent_any: &mut bool, everything: bool) -> bool {
        let bytes = std::mem::take(pending);
        let mut chunks = bytes.chunks(EXPORT_CHUNK_BYTES).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            if last && chunk.len() < EXPORT_CHUNK_BYTES && !everything {
                // A partial chunk waits for more (chunks may split a character: the reader
                // joins the bytes).
                *pending = chunk.to_vec();
                break;
            }
            let message = HttpBody {
                content_type: if *sent_any {
                    String::new()
                } else {
                    self.content_type.to_owned()
                },
                data: chunk.to_vec(),
                extensions: Vec::new(),
            };
            if self.sender.send(Ok(message)).await.is_err() {
                return false;
            }
            *sent_any = true;
        }
        true
    }
}

/// Whether two rows, next to each other in the export order, could get the same SDMX key: the
/// key is made of the indicator, place, initiative, status, source and period (equal periods as
/// SDMX writes them have equal first and last days).
fn could_share_a_key(first: &ObservationRow, second: &ObservationRow) -> bool {
    first.indicator == second.indicator
        && first.ref_area == second.ref_area
        && first.initiative == second.initiative
        && first.status == second.status
        && first.period_start == second.period_start
        && first.period_end == second.period_end
}

#[tonic::async_trait]
impl IndicatorService for IndicatorsService {
    async fn get_indicator(
        &self,
        request: Request<GetIndicatorRequest>,
    ) -> Result<Response<GetIndicatorResponse>, Status> {
        let code = indicator::parse_name(&request.get_ref().name, "name")?;
        let indicator = self.store.get_indicator(code).await?;
        Ok(Response::new(GetIndicatorResponse {
            indicator: Some(indicator),
        }))
    }

    async fn list_indicators(
        &self,
        request: Request<ListIndicatorsRequest>,
    ) -> Result<Response<ListIndicatorsResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .store
            .list_indicators(ListQuery {
                filter: &request.filter,
                order_by: &request.order_by,
                show_deleted: request.show_deleted,
                page_size: request.page_size,
                page_token: &request.page_token,
            })
            .await?;
        Ok(Response::new(ListIndicatorsResponse {
            indicators: page.items,
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }

    async fn create_indicator(
        &self,
        request: Request<CreateIndicatorRequest>,
    ) -> Result<Response<CreateIndicatorResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::default();
        if !is_valid_id(&request.indicator_id) {
            violations.add(
                "indicator_id",
                "is required: 1 to 63 lowercase letters, digits and hyphens, starting with a letter",
            );
        }
        violations.max_chars("request_id", &request.request_id, MAX_REQUEST_ID_CHARS);
        match &request.indicator {
            Some(resource) => indicator::check(&mut violations, "indicator", resource),
            None => violations.add("indicator", "is required"),
        }
        violations.into_result()?;
        if request.validate_only {
            return Ok(Response::new(CreateIndicatorResponse::default()));
        }
        let created = self
            .store
            .create_indicator(
                &request.indicator_id,
                request.indicator.unwrap_or_default(),
                &request.request_id,
            )
            .await?;
        Ok(Response::new(CreateIndicatorResponse {
            indicator: Some(created),
        }))
    }

    async fn update_indicator(
        &self,
        request: Request<UpdateIndicatorRequest>,
    ) -> Result<Response<UpdateIndicatorResponse>, Status> {
        let request = request.into_inner();
        let Some(patch) = request.indicator else {
            return Err(ServiceError::invalid_field("indicator", "is required").into());
        };
        let code = indicator::parse_name(&patch.name, "indicator.name")?;
        let mask = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
        let paths = update_mask::paths(&mask, indicator::contract(), |field| indicator::is_set(&patch, field))?;
        let updated = self
            .store
            .modify_indicator(code, &patch.etag, Lifecycle::Live, |current, _now| {
                for path in &paths {
                    indicator::copy_field(current, &patch, path);
                }
                let mut violations = Violations::default();
                indicator::check(&mut violations, "indicator", current);
                violations.into_result()
            })
            .await?;
        Ok(Response::new(UpdateIndicatorResponse {
            indicator: Some(updated),
        }))
    }

    async fn delete_indicator(
        &self,
        request: Request<DeleteIndicatorRequest>,
    ) -> Result<Response<DeleteIndicatorResponse>, Status> {
        let request = request.into_inner();
        let code = indicator::parse_name(&request.name, "name")?;
        let deleted = self
            .store
            .modify_indicator(code, &request.etag, Lifecycle::Live, |resource, now| {
                resource.delete_time = Some(time::timestamp(now));
                Ok(())
            })
            .await?;
        Ok(Response::new(DeleteIndicatorResponse {
            indicator: Some(deleted),
        }))
    }

    async fn undelete_indicator(
        &self,
        request: Request<UndeleteIndicatorRequest>,
    ) -> Result<Response<UndeleteIndicatorResponse>, Status> {
        let code = indicator::parse_name(&request.get_ref().name, "name")?;
        let restored = self
            .store
            .modify_indicator(code, "", Lifecycle::Deleted, |resource, _now| {
                resource.delete_time = None;
                Ok(())
            })
            .await?;
        Ok(Response::new(UndeleteIndicatorResponse {
            indicator: Some(restored),
        }))
    }

    async fn get_observation(
        &self,
        request: Request<GetObservationRequest>,
    ) -> Result<Response<GetObservationResponse>, Status> {
        let name = &request.get_ref().name;
        observation::parse_name(name, "name")?;
        let observation = self.store.get_observation(name).await?;
        Ok(Response::new(GetObservationResponse {
            observation: Some(observation),
        }))
    }

    async fn list_observations(
        &self,
        request: Request<ListObservationsRequest>,
    ) -> Result<Response<ListObservationsResponse>, Status> {
        let request = request.into_inner();
        let indicator = match request.parent.as_str() {
            "indicators/-" => None,
            parent => {
                let code = indicator::parse_name(parent, "parent")?;
                self.store.get_indicator(code).await?;
                Some(parent)
            }
        };
        let page = self
            .store
            .list_observations(
                indicator,
                ListQuery {
                    filter: &request.filter,
                    order_by: &request.order_by,
                    show_deleted: request.show_deleted,
                    page_size: request.page_size,
                    page_token: &request.page_token,
                },
            )
            .await?;
        Ok(Response::new(ListObservationsResponse {
            observations: page.items,
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }

    async fn create_observation(
        &self,
        request: Request<CreateObservationRequest>,
    ) -> Result<Response<CreateObservationResponse>, Status> {
        let context = CallContext::from_request(&request);
        let created = self
            .create_observations(&context, vec![request.into_inner()], None, false)
            .await?;
        Ok(Response::new(CreateObservationResponse {
            observation: created.into_iter().next(),
        }))
    }

    async fn update_observation(
        &self,
        request: Request<UpdateObservationRequest>,
    ) -> Result<Response<UpdateObservationResponse>, Status> {
        let context = CallContext::from_request(&request);
        let request = request.into_inner();
        let Some(patch) = request.observation else {
            return Err(ServiceError::invalid_field("observation", "is required").into());
        };
        observation::parse_name(&patch.name, "observation.name")?;
        let mask = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
        let paths = update_mask::paths(&mask, observation::contract(), |field| {
            observation::is_set(&patch, field)
        })?;
        if paths.contains(&"initiative") && !patch.initiative.is_empty() {
            let mut violations = Violations::default();
            observation::check(&mut violations, "observation", &patch);
            if violations.mentions("observation.initiative") {
                violations.into_result()?;
            }
            let wanted = [(patch.initiative.clone(), "observation.initiative".to_owned())];
            self.initiatives.require_live(&context, &wanted).await?;
        }
        let updated = self
            .store
            .modify_observation(&patch.name, &patch.etag, Lifecycle::Live, |current, _now| {
                for path in &paths {
                    observation::copy_field(current, &patch, path);
                }
                let mut violations = Violations::default();
                let period = observation::check(&mut violations, "observation", current);
                violations.into_result()?;
                period.ok_or_else(|| ServiceError::invalid_field("observation.time_period", "is not a period"))
            })
            .await?;
        Ok(Response::new(UpdateObservationResponse {
            observation: Some(updated),
        }))
    }

    async fn delete_observation(
        &self,
        request: Request<DeleteObservationRequest>,
    ) -> Result<Response<DeleteObservationResponse>, Status> {
        let request = request.into_inner();
        observation::parse_name(&request.name, "name")?;
        let deleted = self
            .store
            .modify_observation(&request.name, &request.etag, Lifecycle::Live, |resource, now| {
                resource.delete_time = Some(time::timestamp(now));
                crate::period::Period::parse(&resource.time_period)
                    .map_err(|message| ServiceError::Internal(anyhow::anyhow!("stored period: {message}")))
            })
            .await?;
        Ok(Response::new(DeleteObservationResponse {
            observation: Some(deleted),
        }))
    }

    async fn batch_create_observations(
        &self,
        request: Request<BatchCreateObservationsRequest>,
    ) -> Result<Response<BatchCreateObservationsResponse>, Status> {
        let context = CallContext::from_request(&request);
        let request = request.into_inner();
        let count = request.requests.len();
        if count == 0 || count > store::MAX_BATCH_SIZE {
            let limit = store::MAX_BATCH_SIZE;
            return Err(ServiceError::invalid_field(
                "requests",
                format!("has {count} items; 1 to {limit} are allowed"),
            )
            .into());
        }
        let mut violations = Violations::default();
        violations.max_chars("request_id", &request.request_id, MAX_REQUEST_ID_CHARS);
        violations.into_result()?;
        let created = self
            .create_observations(
                &context,
                request.requests,
                Some((&request.parent, &request.request_id)),
                request.validate_only,
            )
            .await?;
        Ok(Response::new(BatchCreateObservationsResponse { observations: created }))
    }

    async fn aggregate_observations(
        &self,
        request: Request<AggregateObservationsRequest>,
    ) -> Result<Response<AggregateObservationsResponse>, Status> {
        let context = CallContext::from_request(&request);
        let request = request.into_inner();
        let code = indicator::parse_name(&request.indicator, "indicator")?;
        let group_by = aggregate::parse_group_by(&request.group_by)?;
        let indicator = self.store.get_indicator(code).await?;
        let rule = indicator::aggregation(&indicator);
        let stored_fields = aggregate::sql_group_fields(&group_by);
        // Grouping by legal form or goal needs the initiatives' attributes (a few bytes each):
        // the initiatives observed are listed first (an index-only scan), then looked up while
        // the database sorts the figures, so that the groups it returns, one per initiative and
        // status, are folded in one at a time and never held.
        let observed = if group_by.iter().any(|field| field.needs_initiatives()) {
            Some(
                self.store
                    .observed_initiatives(&request.indicator, &request.filter)
                    .await?,
            )
        } else {
            None
        };
        let groups = self
            .store
            .aggregate_figures(
                &request.indicator,
                &request.filter,
                &stored_fields,
                rule == Aggregation::Last,
            )
            .await?;
        let mut groups = std::pin::pin!(groups);
        let look_up = async {
            match observed {
                Some(names) => {
                    let with_goals = group_by
                        .iter()
                        .any(|field| matches!(field, aggregate::GroupField::SdgGoal));
                    self.initiatives.facts(&context, names, with_goals).await
                }
                None => Ok(Default::default()),
            }
        };
        // Asking for the first group starts the query: both run at once.
        let (facts, mut next) = tokio::join!(look_up, groups.next());
        let facts = facts?;
        let mut combiner = aggregate::Combiner::new(&group_by);
        while let Some(group) = next {
            combiner.add(&group?, &facts);
            next = groups.next().await;
        }
        let (rows, set_aside_count) = combiner.finish(rule);
        Ok(Response::new(AggregateObservationsResponse {
            rows,
            aggregation: rule.into(),
            unit: indicator.unit,
            set_aside_count,
        }))
    }

    async fn get_progress(
        &self,
        request: Request<GetProgressRequest>,
    ) -> Result<Response<GetProgressResponse>, Status> {
        let initiative = &request.get_ref().initiative;
        if !names::is_resource_name(initiative, "initiatives") {
            return Err(
                ServiceError::invalid_field("initiative", "must be an initiative name (initiatives/{id})").into(),
            );
        }
        let (indicator_names, latest) = self.store.latest_figures(initiative, &["TARGET", "REPORTED"]).await?;
        let indicators = self.store.indicators_by_code().await?;
        let mut progress = Vec::new();
        for name in indicator_names {
            let code = name.strip_prefix("indicators/").unwrap_or(&name);
            let Some(definition) = indicators
                .get(code)
                .filter(|definition| definition.delete_time.is_none())
            else {
                continue;
            };
            let of_status = |status: &str| {
                latest
                    .iter()
                    .find(|(row, _)| row.indicator == name && row.status == status)
            };
            let target = of_status("TARGET");
            let reported = of_status("REPORTED");
            let ratio = match (target, reported) {
                (Some((target, _)), Some((reported, _))) if target.value != 0.0 => Some(reported.value / target.value),
                _ => None,
            };
            let set_aside = target.map_or(0, |(_, count)| *count) + reported.map_or(0, |(_, count)| *count);
            progress.push(IndicatorProgress {
                indicator: name.clone(),
                display_name: definition.display_name.clone(),
                unit: definition.unit.clone(),
                latest_target: target.map(|(row, _)| observation::from_row(row)).transpose()?,
                latest_reported: reported.map(|(row, _)| observation::from_row(row)).transpose()?,
                ratio,
                set_aside_count: i32::try_from(set_aside).unwrap_or(i32::MAX),
            });
        }
        Ok(Response::new(GetProgressResponse { progress }))
    }

    async fn list_sdg_goals(
        &self,
        request: Request<ListSdgGoalsRequest>,
    ) -> Result<Response<ListSdgGoalsResponse>, Status> {
        let language = sdg::language(&request.get_ref().language)?;
        Ok(Response::new(ListSdgGoalsResponse {
            goals: sdg::goals(language),
        }))
    }

    async fn list_sdg_targets(
        &self,
        request: Request<ListSdgTargetsRequest>,
    ) -> Result<Response<ListSdgTargetsResponse>, Status> {
        let request = request.get_ref();
        let language = sdg::language(&request.language)?;
        Ok(Response::new(ListSdgTargetsResponse {
            targets: sdg::targets(language, &request.goal)?,
        }))
    }

    async fn list_sdg_indicators(
        &self,
        request: Request<ListSdgIndicatorsRequest>,
    ) -> Result<Response<ListSdgIndicatorsResponse>, Status> {
        let request = request.get_ref();
        let language = sdg::language(&request.language)?;
        Ok(Response::new(ListSdgIndicatorsResponse {
            indicators: sdg::indicators(language, &request.parent)?,
        }))
    }

    type ExportObservationsStream = ExportStream;

    async fn export_observations(
        &self,
        request: Request<ExportObservationsRequest>,
    ) -> Result<Response<Self::ExportObservationsStream>, Status> {
        let request = request.into_inner();
        let format = ExportFormat::try_from(request.format)
            .map_err(|_| ServiceError::invalid_field("format", format!("unknown value {}", request.format)))?;
        self.store.check_observation_filter(&request.filter)?;
        let indicators = self.store.indicators_by_code().await?;
        let (content_type, writer) = match format {
            ExportFormat::SdmxJson => {
                let (named, [title, url, publisher, date, note]) = self.store.export_contents(&request.filter).await?;
                let unit = named.iter().any(|name| {
                    let code = name.strip_prefix("indicators/").unwrap_or(name);
                    indicators.get(code).is_some_and(|indicator| !indicator.unit.is_empty())
                });
                let has = [unit, title, url, publisher, date, note];
                (
                    sdmx::JSON_MEDIA_TYPE,
                    ExportWriter::Json(Box::new(sdmx::json::JsonWriter::new(has))),
                )
            }
            ExportFormat::SdmxCsv | ExportFormat::Unspecified => (sdmx::CSV_MEDIA_TYPE, ExportWriter::Csv),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(EXPORT_MESSAGES_AHEAD);
        let export = Export {
            store: self.store.clone(),
            filter: request.filter,
            indicators,
            content_type,
            sender,
        };
        tokio::spawn(export.run(writer));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
            receiver,
        ))))
    }

    async fn get_data_structure(
        &self,
        _request: Request<GetDataStructureRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        Ok(Response::new(HttpBody {
            content_type: sdmx::STRUCTURE_MEDIA_TYPE.to_owned(),
            data: sdmx::structure().into_bytes(),
            extensions: Vec::new(),
        }))
    }
}

/// Whether a request_id may be looked up: one that may not (too long, control characters) is
/// reported with the request's other violations instead.
fn request_id_fits(request_id: &str) -> bool {
    let mut violations = Violations::default();
    violations.max_chars("request_id", request_id, MAX_REQUEST_ID_CHARS);
    violations.is_empty()
}

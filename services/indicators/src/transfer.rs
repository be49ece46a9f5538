//! Indicators and observations in bulk (`observatory import|export indicators|observations`),
//! through the service's own API. Observations are created with BatchCreateObservations
//! (checked first with `validate_only`), indicators one CreateIndicator at a time (there are
//! few). Observations also travel as SDMX-CSV: exported by ExportObservations, read here.

use std::collections::HashSet;

use prost_reflect::DynamicMessage;
use sse_platform::{
    calls::{MAX_MESSAGE_BYTES, ServiceChannel},
    module::BoxFuture,
    transfer::{self, Api, FieldError, Page, Rejection, TransferKind},
};
use sse_proto::indicators::{
    BatchCreateObservationsRequest, CreateIndicatorRequest, CreateObservationRequest, ExportFormat,
    ExportObservationsRequest, Indicator, ListIndicatorsRequest, ListObservationsRequest, Observation,
    indicator_service_client::IndicatorServiceClient,
};
use tonic::Status;

const INDICATOR: &str = "sse.indicators.v1.Indicator";
const OBSERVATION: &str = "sse.indicators.v1.Observation";

fn client(api: &Api) -> IndicatorServiceClient<ServiceChannel> {
    IndicatorServiceClient::new(api.channel())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

pub struct Indicators;

impl TransferKind for Indicators {
    fn kind(&self) -> &'static str {
        "indicators"
    }

    fn message(&self) -> &'static str {
        INDICATOR
    }

    fn batch_size(&self) -> usize {
        100
    }

    fn list<'a>(&'a self, api: &'a Api, page_token: String) -> BoxFuture<'a, Result<Page, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_indicators(api.request(ListIndicatorsRequest {
                    page_size: 1000,
                    page_token,
                    order_by: "name".to_owned(),
                    ..Default::default()
                }))
                .await?
                .into_inner();
            let resources = page
                .indicators
                .iter()
                .map(|indicator| transfer::to_dynamic(indicator, INDICATOR))
                .collect::<Result<_, _>>()?;
            Ok((resources, page.next_page_token))
        })
    }

    fn existing<'a>(&'a self, api: &'a Api, names: Vec<String>) -> BoxFuture<'a, Result<HashSet<String>, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_indicators(api.request(ListIndicatorsRequest {
                    page_size: 1000,
                    filter: transfer::names_filter(&names),
                    show_deleted: true,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            Ok(page.indicators.into_iter().map(|indicator| indicator.name).collect())
        })
    }

    fn create<'a>(
        &'a self,
        api: &'a Api,
        resources: Vec<DynamicMessage>,
        _request_id: String,
        validate_only: bool,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            // One call per indicator: every refused one is reported, the others go ahead.
            let mut refused = Vec::new();
            for (index, resource) in resources.iter().enumerate() {
                let mut indicator: Indicator = transfer::from_dynamic(resource)?;
                let name = std::mem::take(&mut indicator.name);
                let answer = client(api)
                    .create_indicator(api.request(CreateIndicatorRequest {
                        indicator: Some(indicator),
                        indicator_id: name.strip_prefix("indicators/").unwrap_or(&name).to_owned(),
                        request_id: String::new(),
                        validate_only,
                    }))
                    .await;
                if let Err(status) = answer {
                    match transfer::rejection(status, |path| Some((index, transfer::single_item(path, "indicator")))) {
                        Rejection::Items(items) => refused.extend(items),
                        failed => return Err(failed),
                    }
                }
            }
            if refused.is_empty() {
                Ok(())
            } else {
                Err(Rejection::Items(refused))
            }
        })
    }

    fn derived_name(&self, resource: &DynamicMessage) -> Result<String, FieldError> {
        Ok(format!(
            "indicators/{}",
            transfer::content_id(&transfer::text_of(resource, "display_name"), resource)
        ))
    }
}

pub struct Observations;

/// `indicators/{code}/observations/{id}` as its parent and id.
fn split_name(name: &str) -> (String, String) {
    match name.split_once("/observations/") {
        Some((parent, id)) => (parent.to_owned(), id.to_owned()),
        None => (String::new(), String::new()),
    }
}

impl TransferKind for Observations {
    fn kind(&self) -> &'static str {
        "observations"
    }

    fn message(&self) -> &'static str {
        OBSERVATION
    }

    fn batch_size(&self) -> usize {
        1000
    }

    fn list<'a>(&'a self, api: &'a Api, page_token: String) -> BoxFuture<'a, Result<Page, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_observations(api.request(ListObservationsRequest {
                    parent: "indicators/-".to_owned(),
                    page_size: 1000,
                    page_token,
                    order_by: "name".to_owned(),
                    ..Default::default()
                }))
                .await?
                .into_inner();
            let resources = page
                .observations
                .iter()
                .map(|observation| transfer::to_dynamic(observation, OBSERVATION))
                .collect::<Result<_, _>>()?;
            Ok((resources, page.next_page_token))
        })
    }

    fn existing<'a>(&'a self, api: &'a Api, names: Vec<String>) -> BoxFuture<'a, Result<HashSet<String>, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_observations(api.request(ListObservationsRequest {
                    parent: "indicators/-".to_owned(),
                    page_size: 1000,
                    filter: transfer::names_filter(&names),
                    show_deleted: true,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            Ok(page
                .observations
                .into_iter()
                .map(|observation| observation.name)
                .collect())
        })
    }

    fn create<'a>(
        &'a self,
        api: &'a Api,
        resources: Vec<DynamicMessage>,
        request_id: String,
        validate_only: bool,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            let mut requests = Vec::with_capacity(resources.len());
            for resource in &resources {
                let mut observation: Observation = transfer::from_dynamic(resource)?;
                let (parent, observation_id) = split_name(&std::mem::take(&mut observation.name));
                requests.push(CreateObservationRequest {
                    parent,
                    observation: Some(observation),
                    observation_id,
                    request_id: String::new(),
                });
            }
            client(api)
                .batch_create_observations(api.request(BatchCreateObservationsRequest {
                    parent: "indicators/-".to_owned(),
                    requests,
                    request_id,
                    validate_only,
                }))
                .await
                .map(|_| ())
                .map_err(|status| transfer::rejection(status, |path| transfer::batch_item(path, "observation")))
        })
    }

    fn derived_name(&self, resource: &DynamicMessage) -> Result<String, FieldError> {
        let name = transfer::name_of(resource);
        let Some(parent) = name
            .strip_suffix("/observations/")
            .or_else(|| name.strip_suffix('/'))
            .filter(|parent| parent.starts_with("indicators/") && !parent.contains("/observations"))
        else {
            return Err(FieldError::new(
                "name",
                "must name the indicator: indicators/{code}/observations/{id}, or indicators/{code}/observations/ for an id made from the row",
            ));
        };
        // The indicator is part of what the observation is.
        let mut keyed = resource.clone();
        keyed.set_field_by_name(
            "note",
            prost_reflect::Value::String(format!("{parent}\n{}", transfer::text_of(resource, "note"))),
        );
        let label = format!(
            "{} {}",
            transfer::text_of(resource, "ref_area"),
            transfer::text_of(resource, "time_period")
        );
        Ok(format!(
            "{parent}/observations/{}",
            transfer::content_id(&label, &keyed)
        ))
    }

    fn sdmx_csv(&self) -> Option<&dyn transfer::SdmxCsv> {
        Some(&SdmxCsvObservations)
    }
}

/// Observations as SDMX-CSV 2.0: written by ExportObservations, read with the columns it writes
/// (`crate::sdmx::DIMENSIONS`, `OBS_VALUE`, `crate::sdmx::ATTRIBUTES`).
struct SdmxCsvObservations;

impl transfer::SdmxCsv for SdmxCsvObservations {
    fn export<'a>(
        &'a self,
        api: &'a Api,
        output: &'a mut (dyn std::io::Write + Send),
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            let mut stream = client(api)
                .export_observations(api.request(ExportObservationsRequest {
                    filter: String::new(),
                    format: ExportFormat::SdmxCsv as i32,
                }))
                .await
                .map_err(|status| {
                    anyhow::anyhow!("cannot export observations: {:?}: {}", status.code(), status.message())
                })?
                .into_inner();
            // Free text is kept on one line in SDMX-CSV: the lines after the header are the
            // observations.
            let mut lines: u64 = 0;
            while let Some(chunk) = stream
                .message()
                .await
                .map_err(|status| anyhow::anyhow!("the export failed: {:?}: {}", status.code(), status.message()))?
            {
                output.write_all(&chunk.data)?;
                lines += chunk.data.iter().filter(|byte| **byte == b'\n').count() as u64;
            }
            Ok(lines.saturating_sub(1))
        })
    }

    fn parse(&self, headers: &[String], cells: &csv::StringRecord) -> Result<DynamicMessage, Vec<FieldError>> {
        crate::sdmx::csv::read_row(headers, cells).and_then(|(indicator, observation)| {
            let mut observation = observation;
            let mut keyed = transfer::to_dynamic(&observation, OBSERVATION)
                .map_err(|status| vec![FieldError::new("-", status.message().to_owned())])?;
            let name = format!("indicators/{indicator}/observations/");
            keyed.set_field_by_name("name", prost_reflect::Value::String(name.clone()));
            let derived = Observations.derived_name(&keyed).map_err(|error| vec![error])?;
            observation.name = derived;
            transfer::to_dynamic(&observation, OBSERVATION)
                .map_err(|status| vec![FieldError::new("-", status.message().to_owned())])
        })
    }
}

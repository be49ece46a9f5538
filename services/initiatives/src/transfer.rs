//! Initiatives in bulk (`observatory import|export initiatives`), through the service's own
//! API: listed by name, looked up with a name filter, created with BatchCreateInitiatives
//! (checked first with `validate_only`).

use std::collections::HashSet;

use prost_reflect::DynamicMessage;
use sse_platform::{
    calls::{MAX_MESSAGE_BYTES, ServiceChannel},
    module::BoxFuture,
    transfer::{self, Api, FieldError, Page, Rejection, TransferKind},
};
use sse_proto::initiatives::{
    BatchCreateInitiativesRequest, CreateInitiativeRequest, Initiative, ListInitiativesRequest,
    initiative_service_client::InitiativeServiceClient,
};
use tonic::Status;

const MESSAGE: &str = "sse.initiatives.v1.Initiative";
const PREFIX: &str = "initiatives/";

pub struct Initiatives;

fn client(api: &Api) -> InitiativeServiceClient<ServiceChannel> {
    InitiativeServiceClient::new(api.channel())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

impl TransferKind for Initiatives {
    fn kind(&self) -> &'static str {
        "initiatives"
    }

    fn message(&self) -> &'static str {
        MESSAGE
    }

    fn batch_size(&self) -> usize {
        crate::service::MAX_BATCH_SIZE
    }

    fn list<'a>(&'a self, api: &'a Api, page_token: String) -> BoxFuture<'a, Result<Page, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_initiatives(api.request(ListInitiativesRequest {
                    page_size: 1000,
                    page_token,
                    order_by: "name".to_owned(),
                    ..Default::default()
                }))
                .await?
                .into_inner();
            let resources = page
                .initiatives
                .iter()
                .map(|initiative| transfer::to_dynamic(initiative, MESSAGE))
                .collect::<Result<_, _>>()?;
            Ok((resources, page.next_page_token))
        })
    }

    fn existing<'a>(&'a self, api: &'a Api, names: Vec<String>) -> BoxFuture<'a, Result<HashSet<String>, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_initiatives(api.request(ListInitiativesRequest {
                    page_size: 1000,
                    filter: transfer::names_filter(&names),
                    show_deleted: true,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            Ok(page.initiatives.into_iter().map(|initiative| initiative.name).collect())
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
                let mut initiative: Initiative = transfer::from_dynamic(resource)?;
                let name = std::mem::take(&mut initiative.name);
                requests.push(CreateInitiativeRequest {
                    initiative: Some(initiative),
                    initiative_id: name.strip_prefix(PREFIX).unwrap_or(&name).to_owned(),
                    request_id: String::new(),
                });
            }
            client(api)
                .batch_create_initiatives(api.request(BatchCreateInitiativesRequest {
                    requests,
                    request_id,
                    validate_only,
                }))
                .await
                .map(|_| ())
                .map_err(|status| transfer::rejection(status, |path| transfer::batch_item(path, "initiative")))
        })
    }

    fn derived_name(&self, resource: &DynamicMessage) -> Result<String, FieldError> {
        let label = transfer::text_of(resource, "display_name");
        Ok(format!("{PREFIX}{}", transfer::content_id(&label, resource)))
    }
}

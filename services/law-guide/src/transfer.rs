//! Legal texts in bulk (`observatory import|export legal-texts`), through the service's own
//! API: listed by name, looked up with a name filter, created one CreateLegalText at a time
//! (checked first with `validate_only`).

use std::collections::HashSet;

use prost_reflect::DynamicMessage;
use sse_platform::{
    calls::{MAX_MESSAGE_BYTES, ServiceChannel},
    module::BoxFuture,
    transfer::{self, Api, FieldError, Page, Rejection, TransferKind},
};
use sse_proto::lawguide::{
    CreateLegalTextRequest, LegalText, ListLegalTextsRequest, law_guide_service_client::LawGuideServiceClient,
};
use tonic::Status;

const MESSAGE: &str = "sse.lawguide.v1.LegalText";
const PREFIX: &str = "legalTexts/";

pub struct LegalTexts;

fn client(api: &Api) -> LawGuideServiceClient<ServiceChannel> {
    LawGuideServiceClient::new(api.channel())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

impl TransferKind for LegalTexts {
    fn kind(&self) -> &'static str {
        "legal-texts"
    }

    fn message(&self) -> &'static str {
        MESSAGE
    }

    fn batch_size(&self) -> usize {
        100
    }

    fn list<'a>(&'a self, api: &'a Api, page_token: String) -> BoxFuture<'a, Result<Page, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_legal_texts(api.request(ListLegalTextsRequest {
                    page_size: 1000,
                    page_token,
                    order_by: "name".to_owned(),
                    ..Default::default()
                }))
                .await?
                .into_inner();
            let resources = page
                .legal_texts
                .iter()
                .map(|legal_text| transfer::to_dynamic(legal_text, MESSAGE))
                .collect::<Result<_, _>>()?;
            Ok((resources, page.next_page_token))
        })
    }

    fn existing<'a>(&'a self, api: &'a Api, names: Vec<String>) -> BoxFuture<'a, Result<HashSet<String>, Status>> {
        Box::pin(async move {
            let page = client(api)
                .list_legal_texts(api.request(ListLegalTextsRequest {
                    page_size: 1000,
                    filter: transfer::names_filter(&names),
                    ..Default::default()
                }))
                .await?
                .into_inner();
            Ok(page.legal_texts.into_iter().map(|legal_text| legal_text.name).collect())
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
            // One call per text: every refused one is reported, the others go ahead.
            let mut refused = Vec::new();
            for (index, resource) in resources.iter().enumerate() {
                let mut legal_text: LegalText = transfer::from_dynamic(resource)?;
                let name = std::mem::take(&mut legal_text.name);
                let answer = client(api)
                    .create_legal_text(api.request(CreateLegalTextRequest {
                        legal_text: Some(legal_text),
                        legal_text_id: name.strip_prefix(PREFIX).unwrap_or(&name).to_owned(),
                        request_id: String::new(),
                        validate_only,
                    }))
                    .await;
                if let Err(status) = answer {
                    match transfer::rejection(status, |path| Some((index, transfer::single_item(path, "legal_text")))) {
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
        let label = format!(
            "{} {}",
            transfer::text_of(resource, "jurisdiction"),
            transfer::text_of(resource, "number")
        );
        Ok(format!("{PREFIX}{}", transfer::content_id(&label, resource)))
    }
}

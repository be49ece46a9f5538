//! What the indicators service asks the initiatives service: whether the initiatives that
//! observations name exist, and their legal form and SDG goals for aggregation. Names are looked
//! up in batches through ListInitiatives, never one call per observation; each call carries a
//! deadline, the trace context and the caller's credentials.

use std::collections::HashMap;

use sse_platform::{
    ServiceError, ServiceResult,
    calls::{CallContext, DEFAULT_DEADLINE, MAX_MESSAGE_BYTES, dependency_error},
    names::short_enum_name,
};
use sse_proto::initiatives::{ListInitiativesRequest, initiative_service_client::InitiativeServiceClient};
use tonic::transport::Channel;

/// How many names one ListInitiatives filter carries.
const NAMES_PER_CALL: usize = 100;

/// What aggregation needs to know of an initiative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiativeFacts {
    /// The legal form's short name, e.g. `COOPERATIVE`.
    pub legal_form: String,
    pub sdg_goals: Vec<i32>,
    pub deleted: bool,
}

#[derive(Clone)]
pub struct Initiatives {
    client: InitiativeServiceClient<Channel>,
}

impl Initiatives {
    /// A client for the initiatives service at `url`. It connects on first use, so the services
    /// of one process may start in any order.
    pub fn connect_lazy(url: &str) -> anyhow::Result<Initiatives> {
        let channel = sse_platform::calls::lazy_channel(url)?;
        Ok(Initiatives {
            client: InitiativeServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES),
        })
    }

    /// The facts of each of `names` that exists (deleted ones included, marked as such).
    pub async fn facts(
        &self,
        context: &CallContext,
        names: &[String],
    ) -> ServiceResult<HashMap<String, InitiativeFacts>> {
        let mut unique: Vec<&String> = names.iter().filter(|name| !name.is_empty()).collect();
        unique.sort();
        unique.dedup();
        let mut facts = HashMap::new();
        for chunk in unique.chunks(NAMES_PER_CALL) {
            let filter = chunk
                .iter()
                .map(|name| format!("name = {}", quoted(name)))
                .collect::<Vec<_>>()
                .join(" OR ");
            let request = ListInitiativesRequest {
                page_size: NAMES_PER_CALL as i32,
                filter,
                show_deleted: true,
                ..Default::default()
            };
            let mut client = self.client.clone();
            let response = client
                .list_initiatives(context.outgoing(request, DEFAULT_DEADLINE))
                .await
                .map_err(|status| dependency_error("initiatives", status))?
                .into_inner();
            for initiative in response.initiatives {
                let legal_form = short_enum_name(initiative.legal_form().as_str_name(), "LEGAL_FORM_").to_owned();
                facts.insert(
                    initiative.name,
                    InitiativeFacts {
                        legal_form,
                        sdg_goals: initiative.sdg_goals,
                        deleted: initiative.delete_time.is_some(),
                    },
                );
            }
        }
        Ok(facts)
    }

    /// Checks that every one of `names` exists and is not deleted; `field_of(name)` names the
    /// request field to blame in the error.
    pub async fn require_live(&self, context: &CallContext, names: &[(String, String)]) -> ServiceResult<()> {
        let wanted: Vec<String> = names.iter().map(|(name, _)| name.clone()).collect();
        let facts = self.facts(context, &wanted).await?;
        for (name, field) in names {
            let problem = match facts.get(name) {
                None => "does not exist",
                Some(facts) if facts.deleted => "is deleted",
                Some(_) => continue,
            };
            return Err(ServiceError::FailedPrecondition {
                reason: "INITIATIVE_NOT_FOUND",
                message: format!("{field}: {name} {problem} in the initiatives service"),
            });
        }
        Ok(())
    }
}

/// A filter string literal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

//! `sse.access.v1.AccessService`: API keys and the audit trail, for admins (the guard lets no
//! one else in). Every process that keeps data serves it, over the access store.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use sse_proto::access::{
    ApiKey, AuditEvent, CreateApiKeyRequest, CreateApiKeyResponse, GetApiKeyRequest, GetApiKeyResponse,
    ListApiKeysRequest, ListApiKeysResponse, ListAuditEventsRequest, ListAuditEventsResponse, RevokeApiKeyRequest,
    RevokeApiKeyResponse,
    access_service_server::{AccessService, AccessServiceServer},
};
use tonic::{Request, Response, Status};

use super::{
    Scope,
    audit::{self, AuditTrail},
    guard::Access,
    keys::{self, KeyStore, NewKey},
    schema::{api_key, audit_event},
};
use crate::{ServiceError, ServiceResult, names, pagination::ListQuery, time, validate::Violations};

/// The gRPC service over the access store `db`.
pub fn grpc_service(db: DatabaseConnection, access: Arc<Access>) -> AccessServiceServer<Service> {
    AccessServiceServer::new(Service {
        keys: KeyStore::new(db.clone()),
        trail: AuditTrail::new(db),
        access,
    })
}

pub struct Service {
    keys: KeyStore,
    trail: AuditTrail,
    /// This process's guard, told when a key changes so that the change holds here at once.
    access: Arc<Access>,
}

/// A key to create, checked whole.
pub fn check_new_key(key: Option<&ApiKey>) -> ServiceResult<NewKey> {
    let mut violations = Violations::default();
    let Some(key) = key else {
        return Err(ServiceError::invalid_field("api_key", "is required"));
    };
    violations.required("api_key.display_name", &key.display_name);
    violations.max_chars("api_key.display_name", &key.display_name, keys::MAX_DISPLAY_NAME_CHARS);
    if key.scopes.is_empty() {
        violations.add("api_key.scopes", "at least one scope is required");
    }
    let mut scopes = Vec::new();
    for (index, scope) in key.scopes.iter().enumerate() {
        match Scope::parse(scope) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => violations.add(format!("api_key.scopes[{index}]"), "is given twice"),
            None => violations.add(
                format!("api_key.scopes[{index}]"),
                format!("unknown scope; one of {}", Scope::ALL.map(Scope::as_str).join(", ")),
            ),
        }
    }
    let expire_time = key.expire_time.as_ref().map(time::micros);
    if expire_time.is_some_and(|expiry| expiry <= time::now_micros()) {
        violations.add("api_key.expire_time", "must be in the future");
    }
    violations.into_result()?;
    scopes.sort();
    Ok(NewKey {
        display_name: key.display_name.clone(),
        scopes,
        expire_time,
    })
}

/// The id in `apiKeys/{id}`.
fn parse_name<'a>(name: &'a str, field: &str) -> ServiceResult<&'a str> {
    if !names::is_resource_name(name, "apiKeys") {
        return Err(ServiceError::invalid_field(field, "must be `apiKeys/{api_key}`"));
    }
    Ok(&name["apiKeys/".len()..])
}

pub fn to_proto(row: &api_key::Model) -> ApiKey {
    ApiKey {
        name: keys::name_of(&row.id),
        display_name: row.display_name.clone(),
        scopes: keys::scopes_of(row)
            .into_iter()
            .map(|scope| scope.as_str().to_owned())
            .collect(),
        create_time: Some(time::timestamp(row.create_time)),
        expire_time: row.expire_time.map(time::timestamp),
        revoke_time: row.revoke_time.map(time::timestamp),
        key_prefix: row.key_prefix.clone(),
    }
}

fn event_to_proto(row: &audit_event::Model) -> AuditEvent {
    AuditEvent {
        name: format!("auditEvents/{}", row.id),
        event_time: Some(time::timestamp(row.event_time)),
        caller: row.caller.clone(),
        method: row.method.clone(),
        resource: row.resource.clone(),
        request_id: row.request_id.clone(),
        code: row.code.clone(),
        service: row.service.clone(),
    }
}

fn or_default<'a>(order_by: &'a str, default: &'a str) -> &'a str {
    if order_by.trim().is_empty() { default } else { order_by }
}

#[tonic::async_trait]
impl AccessService for Service {
    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        let new = check_new_key(request.get_ref().api_key.as_ref())?;
        let (row, secret) = self.keys.create(new).await?;
        self.access.keys_changed();
        Ok(Response::new(CreateApiKeyResponse {
            api_key: Some(to_proto(&row)),
            key: secret,
        }))
    }

    async fn get_api_key(&self, request: Request<GetApiKeyRequest>) -> Result<Response<GetApiKeyResponse>, Status> {
        let id = parse_name(&request.get_ref().name, "name")?;
        let row = self.keys.get(id).await?;
        Ok(Response::new(GetApiKeyResponse {
            api_key: Some(to_proto(&row)),
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .keys
            .list(ListQuery {
                filter: &request.filter,
                order_by: or_default(&request.order_by, "create_time desc"),
                show_deleted: false,
                page_size: request.page_size,
                page_token: &request.page_token,
            })
            .await?;
        Ok(Response::new(ListApiKeysResponse {
            api_keys: page.items.iter().map(to_proto).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        let id = parse_name(&request.get_ref().name, "name")?;
        let row = self.keys.revoke(id).await?;
        self.access.keys_changed();
        Ok(Response::new(RevokeApiKeyResponse {
            api_key: Some(to_proto(&row)),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .trail
            .list(ListQuery {
                filter: &request.filter,
                order_by: or_default(&request.order_by, audit::DEFAULT_ORDER),
                show_deleted: false,
                page_size: request.page_size,
                page_token: &request.page_token,
            })
            .await?;
        Ok(Response::new(ListAuditEventsResponse {
            audit_events: page.items.iter().map(event_to_proto).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        }))
    }
}

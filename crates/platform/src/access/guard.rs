//! The one place every call is checked, as a tower layer in front of every gRPC service, for
//! calls from the network and in process alike: who is calling (`authorization: Bearer …`),
//! whether they are over their rate limit, whether they hold the method's scope, and, for
//! writes, the audit event. A refused call never reaches a service.

use std::{
    net::IpAddr,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use sea_orm::DatabaseConnection;
use tonic::{Code, Status, body::Body, transport::server::TcpConnectInfo};

use super::{
    Caller, Effect, Policy, Rule, Scope,
    audit::{self, WriteInProgress},
    bearer_token,
    keys::{self, KeyRing, KeyStore, Refusal},
    limits::{self, Bucket, RateLimits},
    rule_for,
};
use crate::{ServiceError, ServiceResult, calls::MAX_MESSAGE_BYTES};

/// What the guard of one process knows: its policy, the keys (when it has an access store),
/// the rate limit buckets, and where it records the events of writes it answers.
pub struct Access {
    policy: Policy,
    keys: Option<KeyRing>,
    limits: RateLimits,
    /// This process's own database: events of writes that recorded none themselves.
    events: Option<DatabaseConnection>,
}

impl Access {
    /// A process with an access store (`access`, holding the keys) and a database of its own
    /// (`local`, where its services write, often the same one).
    pub fn new(policy: Policy, access: DatabaseConnection, local: DatabaseConnection) -> Arc<Access> {
        Arc::new(Access {
            limits: RateLimits::new(policy.rate_limit_per_second, policy.rate_limit_burst),
            keys: Some(KeyRing::new(KeyStore::new(access))),
            events: Some(local),
            policy,
        })
    }

    /// A process without a database (the gateway alone): only the admin key is known, and it
    /// serves no writes to record.
    pub fn without_store(policy: Policy) -> Arc<Access> {
        Arc::new(Access {
            limits: RateLimits::new(policy.rate_limit_per_second, policy.rate_limit_burst),
            keys: None,
            events: None,
            policy,
        })
    }

    /// Makes a key change made in this process take effect here on the next call.
    pub fn keys_changed(&self) {
        if let Some(keys) = &self.keys {
            keys.invalidate();
        }
    }

    /// Who presents these headers: anonymous without `authorization`, else the admin or a
    /// valid key; UNAUTHENTICATED for anything else presented.
    async fn identify(&self, headers: &http::HeaderMap) -> ServiceResult<Caller> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let Some(secret) = value.to_str().ok().and_then(bearer_token) else {
            return Err(unauthenticated(
                "INVALID_AUTHORIZATION",
                "the authorization header must be `Bearer <key>`",
            ));
        };
        if self.policy.is_admin_key(&keys::digest(secret)) {
            return Ok(Caller::Admin);
        }
        let identified = match &self.keys {
            Some(keys) => keys.identify(secret).await?,
            None => Err(Refusal::Unknown),
        };
        identified.map_err(|refusal| match refusal {
            Refusal::Unknown => unauthenticated("API_KEY_INVALID", "the API key is not valid"),
            Refusal::Revoked => unauthenticated("API_KEY_REVOKED", "the API key has been revoked"),
            Refusal::Expired => unauthenticated("API_KEY_EXPIRED", "the API key has expired"),
        })
    }

    /// Whether `caller` may call a method with `rule`.
    fn authorize(&self, caller: &Caller, rule: Rule) -> ServiceResult<()> {
        let public_read = rule.scope == Scope::Read && !self.policy.require_key_for_reads;
        if public_read || caller.has(rule.scope) {
            return Ok(());
        }
        if *caller == Caller::Anonymous {
            return Err(unauthenticated(
                "API_KEY_REQUIRED",
                format!(
                    "this method needs an API key with the `{}` scope, sent as `authorization: Bearer <key>`",
                    rule.scope
                ),
            ));
        }
        Err(ServiceError::PermissionDenied {
            reason: "SCOPE_MISSING",
            message: format!("this API key lacks the `{}` scope", rule.scope),
        })
    }

    /// Serves one call through `inner` if the caller may make it.
    async fn serve<S>(&self, mut inner: S, mut request: http::Request<Body>) -> Result<http::Response<Body>, S::Error>
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    {
        let path = request.uri().path().to_owned();
        let Some(rule) = rule_for(&path) else {
            return inner.call(request).await;
        };
        let identified = self.identify(request.headers()).await;
        let bucket = match &identified {
            Ok(caller @ (Caller::Admin | Caller::Key { .. })) => Bucket::Key(caller.label().to_owned()),
            _ => Bucket::Address(client_address(&request, &self.policy)),
        };
        if let Err(wait) = self.limits.check(&bucket) {
            return Ok(refusal(ServiceError::ResourceExhausted {
                reason: "RATE_LIMITED",
                message: format!(
                    "too many calls: at most {} a second (bursts of {}); retry later",
                    self.policy.rate_limit_per_second, self.policy.rate_limit_burst
                ),
                retry_after: wait,
            }));
        }
        let (label, decision) = match identified {
            Ok(caller) => (
                caller.label().to_owned(),
                self.authorize(&caller, rule).map(|()| caller),
            ),
            Err(error) => ("anonymous".to_owned(), Err(error)),
        };
        let caller = match decision {
            Ok(caller) => caller,
            Err(error) => {
                if rule.effect == Effect::Writes {
                    let write = WriteInProgress::new(&label, &path);
                    let body = read_body(request.into_body(), REFUSED_BODY_LIMIT).await.ok();
                    self.record_answered(&write, &path, body.as_ref(), error.code()).await;
                }
                return Ok(refusal(error));
            }
        };
        let write = (rule.effect == Effect::Writes).then(|| WriteInProgress::new(caller.label(), &path));
        request.extensions_mut().insert(caller);
        let Some(write) = write else {
            return inner.call(request).await;
        };
        // A write's body is kept (shared, not copied) to name its resource in the event of a
        // call that records none itself.
        let (parts, body) = request.into_parts();
        let body = match read_body(body, MAX_MESSAGE_BYTES + GRPC_FRAME_HEADER_BYTES).await {
            Ok(body) => body,
            Err(status) => return Ok(status.into_http()),
        };
        let request = http::Request::from_parts(parts, Body::new(Full::new(body.clone())));
        let response = write.scope(inner.call(request)).await?;
        let code = response_code(&response);
        // A request that only asks for a check (AIP-163 `validate_only`) changes nothing, so
        // it leaves no trace in the trail, whatever its answer.
        if is_validate_only(&path, &body) {
            return Ok(response);
        }
        if code != Code::Ok || !write.recorded() {
            self.record_answered(&write, &path, Some(&body), code).await;
        }
        Ok(response)
    }

    /// Records the event of a write answered without one of its own: refused, failed, or
    /// replayed. Failing to record is logged; the answer stands.
    async fn record_answered(&self, write: &WriteInProgress, path: &str, body: Option<&Bytes>, code: Code) {
        let Some(db) = &self.events else {
            return;
        };
        let (resource, request_id) = body.map(|body| describe(path, body)).unwrap_or_default();
        if let Err(error) = audit::append(db, &write.event(&resource, &request_id, code)).await {
            tracing::error!(%error, method = path, "cannot record an audit event");
        }
    }
}

fn unauthenticated(reason: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Unauthenticated {
        reason,
        message: message.into(),
    }
}

fn refusal(error: ServiceError) -> http::Response<Body> {
    Status::from(error).into_http()
}

/// The client's address: see [`limits::client_address`].
fn client_address(request: &http::Request<Body>, policy: &Policy) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|address| address.ip());
    let forwarded_for = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    limits::client_address(peer, forwarded_for, &policy.trusted_proxies)
}

/// The gRPC frame header before each message: a compression flag and a 4-byte length.
const GRPC_FRAME_HEADER_BYTES: usize = 5;
/// How much of a refused write is read, to name its resource in the audit trail.
const REFUSED_BODY_LIMIT: usize = 1024 * 1024;

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Status> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => match error.downcast::<Status>() {
            Ok(status) => Err(*status),
            Err(_) => Err(crate::malformed::message_too_large()),
        },
    }
}

/// The code of an answer: a refusal or a failed unary call carries it in its headers; a
/// successful one in trailers, after the body.
fn response_code(response: &http::Response<Body>) -> Code {
    crate::error::grpc_status(response.headers()).unwrap_or(Code::Ok)
}

static CONTRACTS: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(sse_proto::FILE_DESCRIPTOR_SET).ok());

/// The request message of the write to `path`, decoded from its (uncompressed) gRPC frame.
fn decode_request(path: &str, body: &Bytes) -> Option<DynamicMessage> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    let method = CONTRACTS
        .as_ref()?
        .get_service_by_name(service)?
        .methods()
        .find(|candidate| candidate.name() == method)?;
    let (&compressed, rest) = body.split_first()?;
    let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if compressed != 0 || length > REFUSED_BODY_LIMIT {
        return None;
    }
    DynamicMessage::decode(method.input(), rest.get(4..4 + length)?).ok()
}

/// Whether a write only asks for its request to be checked: its `validate_only` is set. Only
/// the message's top-level fields are read (nested messages are skipped over, not decoded), so
/// a large batch costs no more than a walk over its items' lengths.
fn is_validate_only(path: &str, body: &Bytes) -> bool {
    let Some(method) = path
        .trim_start_matches('/')
        .split_once('/')
        .and_then(|(service, method)| {
            CONTRACTS
                .as_ref()?
                .get_service_by_name(service)?
                .methods()
                .find(|candidate| candidate.name() == method)
        })
    else {
        return false;
    };
    let Some(field) = method.input().get_field_by_name("validate_only") else {
        return false;
    };
    match body.split_first() {
        Some((0, frame)) => top_level_flag(frame.get(4..).unwrap_or_default(), field.number()),
        _ => false,
    }
}

/// Whether the protobuf message `bytes` sets the varint field `number` to a non-zero value
/// (the last occurrence wins, as decoders do).
fn top_level_flag(mut bytes: &[u8], number: u32) -> bool {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut set = false;
    while !bytes.is_empty() {
        let Ok((tag, wire_type)) = decode_key(&mut bytes) else {
            return false;
        };
        let skipped = match wire_type {
            WireType::Varint => match decode_varint(&mut bytes) {
                Ok(value) => {
                    if tag == number {
                        set = value != 0;
                    }
                    0
                }
                Err(_) => return false,
            },
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => match decode_varint(&mut bytes) {
                Ok(length) => usize::try_from(length).unwrap_or(usize::MAX),
                Err(_) => return false,
            },
            WireType::StartGroup | WireType::EndGroup => return false,
        };
        let Some(rest) = bytes.get(skipped..) else {
            return false;
        };
        bytes = rest;
    }
    set
}

/// The resource a write names and its `request_id`, read from its (uncompressed) message: the
/// `name` field, else `parent`, else the `name` of the resource it carries.
fn describe(path: &str, body: &Bytes) -> (String, String) {
    let Some(message) = decode_request(path, body) else {
        return Default::default();
    };
    let text = |message: &DynamicMessage, field: &str| match message.get_field_by_name(field).as_deref() {
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    };
    let mut resource = text(&message, "name");
    if resource.is_empty() {
        resource = text(&message, "parent");
    }
    if resource.is_empty() {
        resource = message
            .fields()
            .find_map(|(_, value)| match value {
                Value::Message(inner) => Some(text(inner, "name")).filter(|name| !name.is_empty()),
                _ => None,
            })
            .unwrap_or_default();
    }
    (resource, text(&message, "request_id"))
}

/// The guard as a tower layer.
#[derive(Clone)]
pub struct GuardLayer {
    access: Arc<Access>,
}

impl GuardLayer {
    pub fn new(access: Arc<Access>) -> GuardLayer {
        GuardLayer { access }
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            access: self.access.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    access: Arc<Access>,
}

impl<S> tower::Service<http::Request<Body>> for Guarded<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone that was made ready serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let access = self.access.clone();
        Box::pin(async move { access.serve(inner, request).await })
    }
}

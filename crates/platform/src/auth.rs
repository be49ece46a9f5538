//! Who is calling. This is the seam where authentication goes: every gRPC request passes through
//! [`identify_caller`], which records a [`Caller`] in the request's extensions for handlers to
//! check. Today every caller is let through; API keys will make this layer refuse unknown keys.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

/// The identity a request was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials, or credentials not (yet) recognised.
    Anonymous,
    /// The bearer of `OBSERVATORY_ADMIN_KEY`.
    Admin,
}

/// Builds the interceptor that identifies callers against the configured admin key.
pub fn identify_caller(
    admin_key: Option<SecretString>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    // Compare digests so the comparison takes the same time whatever the key presented.
    let admin_digest = admin_key.map(|key| Sha256::digest(key.expose_secret().as_bytes()));
    move |mut request: Request<()>| {
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|key| Sha256::digest(key.trim().as_bytes()));
        let caller = match (&admin_digest, presented) {
            (Some(admin), Some(presented)) if *admin == presented => Caller::Admin,
            _ => Caller::Anonymous,
        };
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

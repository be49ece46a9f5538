//! The observatory's web pages: server-rendered HTML that works without JavaScript.

use crate::backends::Backends;

/// The routes of the web pages.
pub fn router(_backends: Backends) -> axum::Router {
    axum::Router::new()
}

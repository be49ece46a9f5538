//! Where the gateway finds the services it fronts: one lazily connected gRPC channel each, so
//! the gateway starts whether or not they are up yet, and reports UNAVAILABLE while they are not.

use sse_platform::{calls::lazy_channel, config::Settings};
use tonic::transport::Channel;

#[derive(Clone)]
pub struct Backends {
    pub initiatives: Channel,
    pub indicators: Channel,
    pub law_guide: Channel,
}

impl Backends {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Backends> {
        Ok(Backends {
            initiatives: lazy_channel(&settings.initiatives_url())?,
            indicators: lazy_channel(&settings.indicators_url())?,
            law_guide: lazy_channel(&settings.law_guide_url())?,
        })
    }

    /// The channel of the service with this full name, e.g. `sse.initiatives.v1.InitiativeService`.
    pub fn for_service(&self, full_name: &str) -> Option<&Channel> {
        match full_name.split('.').nth(1) {
            Some("initiatives") => Some(&self.initiatives),
            Some("indicators") => Some(&self.indicators),
            Some("lawguide") => Some(&self.law_guide),
            _ => None,
        }
    }
}

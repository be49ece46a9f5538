//! Where the gateway finds the services it fronts: in its own process when they run there (the
//! embedded default: no socket between the gateway and the services), else one lazily
//! connected gRPC channel each, so the gateway starts whether or not they are up yet and
//! reports UNAVAILABLE while they are not.

use sse_platform::{calls::ServiceChannel, module::ModuleContext};

#[derive(Clone)]
pub struct Backends {
    pub initiatives: ServiceChannel,
    pub indicators: ServiceChannel,
    pub law_guide: ServiceChannel,
    /// Key management and the audit trail (served by every process that keeps data).
    pub access: ServiceChannel,
}

impl Backends {
    /// Each service where the settings say, or in this process when its `*_url` is empty.
    pub fn from_context(context: &ModuleContext) -> anyhow::Result<Backends> {
        let settings = &context.settings;
        Ok(Backends {
            initiatives: context.service_channel(&settings.initiatives_url, &settings.initiatives_url())?,
            indicators: context.service_channel(&settings.indicators_url, &settings.indicators_url())?,
            law_guide: context.service_channel(&settings.law_guide_url, &settings.law_guide_url())?,
            access: context.service_channel(&settings.access_url, &settings.access_url())?,
        })
    }

    /// The channel of the service with this full name, e.g. `sse.initiatives.v1.InitiativeService`.
    pub fn for_service(&self, full_name: &str) -> Option<&ServiceChannel> {
        match full_name.split('.').nth(1) {
            Some("initiatives") => Some(&self.initiatives),
            Some("indicators") => Some(&self.indicators),
            Some("lawguide") => Some(&self.law_guide),
            Some("access") => Some(&self.access),
            _ => None,
        }
    }
}

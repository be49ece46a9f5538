//! Partner access: who is calling (an API key, the deployment's admin key, or no one), what
//! each method needs ([`METHODS`]), how often a caller may call (rate limits), and the audit
//! trail of writes. Every call, from the network or in process, passes through one guard
//! ([`guard`]) before any service sees it; health and reflection stay open.
//!
//! Keys live in the access store (`access_database_url`, by default the process's own database),
//! which every service process reads; audit events commit with the write they record, in the
//! writing service's database, and are relayed to the access store when that is another one.

pub mod audit;
pub mod guard;
pub mod keys;
pub mod limits;
pub mod schema;
pub mod service;

use std::{collections::HashMap, fmt, net::IpAddr, sync::LazyLock};

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::Settings;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The mutating RPCs of the initiatives service.
    InitiativesWrite,
    /// The mutating RPCs of the indicators service.
    IndicatorsWrite,
    /// The mutating RPCs of the law guide.
    LawGuideWrite,
    /// Every read RPC, needed only when `require_key_for_reads` is set.
    Read,
    /// Key management and the audit trail.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::InitiativesWrite,
        Scope::IndicatorsWrite,
        Scope::LawGuideWrite,
        Scope::Read,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::InitiativesWrite => "initiatives.write",
            Scope::IndicatorsWrite => "indicators.write",
            Scope::LawGuideWrite => "lawguide.write",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Whether a method changes data (and so is audited) or only reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Reads,
    Writes,
}

/// What calling a method takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub scope: Scope,
    pub effect: Effect,
}

const fn reads(scope: Scope) -> Rule {
    Rule {
        scope,
        effect: Effect::Reads,
    }
}

const fn writes(scope: Scope) -> Rule {
    Rule {
        scope,
        effect: Effect::Writes,
    }
}

/// Every RPC of every contract and the scope it takes, by gRPC path. A test walks the
/// contracts' descriptors and fails on an RPC missing here, and the guard refuses a path it does
/// not know to anyone but an admin: a new RPC cannot ship open.
pub const METHODS: &[(&str, Rule)] = &[
    (
        "/sse.initiatives.v1.InitiativeService/GetInitiative",
        reads(Scope::Read),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/BatchGetInitiatives",
        reads(Scope::Read),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/ListInitiatives",
        reads(Scope::Read),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/CreateInitiative",
        writes(Scope::InitiativesWrite),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/UpdateInitiative",
        writes(Scope::InitiativesWrite),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/DeleteInitiative",
        writes(Scope::InitiativesWrite),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/UndeleteInitiative",
        writes(Scope::InitiativesWrite),
    ),
    (
        "/sse.initiatives.v1.InitiativeService/BatchCreateInitiatives",
        writes(Scope::InitiativesWrite),
    ),
    ("/sse.indicators.v1.IndicatorService/GetIndicator", reads(Scope::Read)),
    ("/sse.indicators.v1.IndicatorService/ListIndicators", reads(Scope::Read)),
    (
        "/sse.indicators.v1.IndicatorService/CreateIndicator",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/UpdateIndicator",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/DeleteIndicator",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/UndeleteIndicator",
        writes(Scope::IndicatorsWrite),
    ),
    ("/sse.indicators.v1.IndicatorService/GetObservation", reads(Scope::Read)),
    (
        "/sse.indicators.v1.IndicatorService/ListObservations",
        reads(Scope::Read),
    ),
    (
        "/sse.indicators.v1.IndicatorService/CreateObservation",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/UpdateObservation",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/DeleteObservation",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/BatchCreateObservations",
        writes(Scope::IndicatorsWrite),
    ),
    (
        "/sse.indicators.v1.IndicatorService/AggregateObservations",
        reads(Scope::Read),
    ),
    ("/sse.indicators.v1.IndicatorService/GetProgress", reads(Scope::Read)),
    ("/sse.indicators.v1.IndicatorService/ListSdgGoals", reads(Scope::Read)),
    ("/sse.indicators.v1.IndicatorService/ListSdgTargets", reads(Scope::Read)),
    (
        "/sse.indicators.v1.IndicatorService/ListSdgIndicators",
        reads(Scope::Read),
    ),
    (
        "/sse.indicators.v1.IndicatorService/ExportObservations",
        reads(Scope::Read),
    ),
    (
        "/sse.indicators.v1.IndicatorService/GetDataStructure",
        reads(Scope::Read),
    ),
    ("/sse.lawguide.v1.LawGuideService/GetLegalText", reads(Scope::Read)),
    (
        "/sse.lawguide.v1.LawGuideService/BatchGetLegalTexts",
        reads(Scope::Read),
    ),
    ("/sse.lawguide.v1.LawGuideService/ListLegalTexts", reads(Scope::Read)),
    (
        "/sse.lawguide.v1.LawGuideService/CreateLegalText",
        writes(Scope::LawGuideWrite),
    ),
    (
        "/sse.lawguide.v1.LawGuideService/UpdateLegalText",
        writes(Scope::LawGuideWrite),
    ),
    (
        "/sse.lawguide.v1.LawGuideService/DeleteLegalText",
        writes(Scope::LawGuideWrite),
    ),
    (
        "/sse.lawguide.v1.LawGuideService/ListLegalTextRevisions",
        reads(Scope::Read),
    ),
    ("/sse.lawguide.v1.LawGuideService/SearchLegalTexts", reads(Scope::Read)),
    (
        "/sse.lawguide.v1.LawGuideService/CompareJurisdictions",
        reads(Scope::Read),
    ),
    ("/sse.access.v1.AccessService/CreateApiKey", writes(Scope::Admin)),
    ("/sse.access.v1.AccessService/GetApiKey", reads(Scope::Admin)),
    ("/sse.access.v1.AccessService/ListApiKeys", reads(Scope::Admin)),
    ("/sse.access.v1.AccessService/RevokeApiKey", writes(Scope::Admin)),
    ("/sse.access.v1.AccessService/ListAuditEvents", reads(Scope::Admin)),
];

/// Services anyone may call: a probe or a client discovering the API has no key.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// What calling `path` takes: `None` for the open services; an admin's rights for a path no
/// contract declares.
pub fn rule_for(path: &str) -> Option<Rule> {
    if OPEN_SERVICES.iter().any(|open| path.starts_with(open)) {
        return None;
    }
    Some(declared(path).map_or(reads(Scope::Admin), |(_, rule)| rule))
}

/// The entry of `path` in [`METHODS`]: its path as the table spells it (a `'static` string,
/// for metric labels) and its rule.
pub fn declared(path: &str) -> Option<(&'static str, Rule)> {
    static BY_PATH: LazyLock<HashMap<&'static str, Rule>> = LazyLock::new(|| METHODS.iter().copied().collect());
    BY_PATH.get_key_value(path).map(|(path, rule)| (*path, *rule))
}

/// The identity a request was made with, in the request's extensions for handlers to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// The bearer of `OBSERVATORY_ADMIN_KEY`: every scope.
    Admin,
    /// A valid API key.
    Key { name: String, scopes: Vec<Scope> },
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        match self {
            Caller::Anonymous => false,
            Caller::Admin => true,
            Caller::Key { scopes, .. } => scopes.contains(&scope),
        }
    }

    /// How the audit trail names the caller: `apiKeys/…`, `admin` or `anonymous`.
    pub fn label(&self) -> &str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Admin => "admin",
            Caller::Key { name, .. } => name,
        }
    }
}

/// The access settings of a process, read once from [`Settings`].
#[derive(Debug, Clone)]
pub struct Policy {
    /// SHA-256 of the admin key: compared as digests, so the comparison takes the same time
    /// whatever key is presented.
    admin_digest: Option<[u8; 32]>,
    pub require_key_for_reads: bool,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Peers whose `x-forwarded-for` is believed (a proxy or the gateway in front of us).
    pub trusted_proxies: Vec<IpNet>,
}

impl Policy {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Policy> {
        let trusted_proxies = settings
            .trusted_proxies
            .iter()
            .map(|network| {
                network
                    .parse::<IpNet>()
                    .or_else(|_| network.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow::anyhow!("trusted_proxies: `{network}` is not an address or a CIDR network"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if settings.rate_limit_per_second == 0 || settings.rate_limit_burst == 0 {
            anyhow::bail!("rate_limit_per_second and rate_limit_burst must be at least 1");
        }
        Ok(Policy {
            admin_digest: settings.admin_key.as_ref().map(digest_of_secret),
            require_key_for_reads: settings.require_key_for_reads,
            rate_limit_per_second: settings.rate_limit_per_second,
            rate_limit_burst: settings.rate_limit_burst,
            trusted_proxies,
        })
    }

    /// The default policy with `admin_key` as the admin key (tests, tools).
    pub fn with_admin_key(admin_key: Option<SecretString>) -> Policy {
        let defaults = Settings::default();
        Policy {
            admin_digest: admin_key.as_ref().map(digest_of_secret),
            ..Policy::from_settings(&defaults).unwrap_or_else(|_| unreachable!("the default settings are valid"))
        }
    }

    fn is_admin_key(&self, presented: &[u8; 32]) -> bool {
        self.admin_digest.as_ref().is_some_and(|admin| admin == presented)
    }
}

fn digest_of_secret(secret: &SecretString) -> [u8; 32] {
    Sha256::digest(secret.expose_secret().as_bytes()).into()
}

/// The bearer token of an `authorization` value, if it is one.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_case() {
        assert_eq!(bearer_token("Bearer sse_abc"), Some("sse_abc"));
        assert_eq!(bearer_token("bearer  sse_abc "), Some("sse_abc"));
        assert_eq!(bearer_token("Basic dXNlcg=="), None);
        assert_eq!(bearer_token("sse_abc"), None);
    }

    /// A new RPC cannot ship open: every method of every contract has its entry, and every
    /// entry names a method that exists.
    #[test]
    fn every_rpc_of_every_contract_has_a_scope() {
        let pool = prost_reflect::DescriptorPool::decode(sse_proto::FILE_DESCRIPTOR_SET).expect("contracts");
        let declared: Vec<String> = pool
            .services()
            .filter(|service| service.full_name().starts_with("sse."))
            .flat_map(|service| {
                let methods: Vec<String> = service
                    .methods()
                    .map(|method| format!("/{}/{}", service.full_name(), method.name()))
                    .collect();
                methods
            })
            .collect();
        assert!(declared.len() >= 40, "{declared:?}");
        let missing: Vec<&String> = declared
            .iter()
            .filter(|path| !METHODS.iter().any(|(method, _)| method == path))
            .collect();
        assert!(
            missing.is_empty(),
            "RPCs without a scope in access::METHODS: {missing:?}"
        );
        let unknown: Vec<&str> = METHODS
            .iter()
            .map(|(method, _)| *method)
            .filter(|method| !declared.iter().any(|path| path == method))
            .collect();
        assert!(unknown.is_empty(), "entries for no RPC: {unknown:?}");
    }

    #[test]
    fn unknown_paths_take_an_admin_and_open_services_take_nothing() {
        assert_eq!(rule_for("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            rule_for("/sse.initiatives.v1.InitiativeService/Nope"),
            Some(reads(Scope::Admin))
        );
        assert_eq!(
            rule_for("/sse.initiatives.v1.InitiativeService/CreateInitiative"),
            Some(writes(Scope::InitiativesWrite))
        );
    }
}

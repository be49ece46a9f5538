//! Layered configuration: built-in defaults, then a TOML file, then environment variables, then
//! command-line flags, each layer overriding the one before. Every setting is documented in the
//! README's configuration table.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::env;

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings shared by every observatory binary.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where gRPC (every service, health, reflection) listens.
    pub grpc_addr: SocketAddr,
    /// Where the HTTP gateway listens.
    pub http_addr: SocketAddr,
    /// A `sqlite://` or `postgres://` URL; empty means the embedded SQLite database in `data_dir`.
    pub database_url: String,
    /// Folder of the embedded SQLite database.
    pub data_dir: PathBuf,
    /// How long a query waits for a database connection before the call fails with
    /// UNAVAILABLE (`DATABASE_UNAVAILABLE`), in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// The most connections each process opens to its database; unset means 10 on PostgreSQL
    /// and 4 on SQLite.
    pub database_max_connections: Option<u32>,
    /// Connections each process keeps open to its database even when idle.
    pub database_min_connections: u32,
    /// Whether `serve` seeds the reference initiatives (idempotently) on start.
    pub seed: bool,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter directive, e.g. `info,sse_initiatives=debug`.
    pub log_filter: String,
    /// How long in-flight calls may run on after SIGTERM, in seconds.
    pub shutdown_grace_seconds: u64,
    /// The admin bearer key; never logged.
    pub admin_key: Option<SecretString>,
    /// Where the initiatives service is, e.g. `http://initiatives:50051`; empty means this
    /// process's own `grpc_addr` (the embedded default, where every service runs together).
    pub initiatives_url: String,
    /// Where the indicators service is; empty means this process's own `grpc_addr`.
    pub indicators_url: String,
    /// Where the law-guide service is; empty means this process's own `grpc_addr`.
    pub law_guide_url: String,
    /// Browser origins allowed to call the gateway cross-origin (REST and gRPC-Web), e.g.
    /// `["https://app.example.org"]`; none by default.
    pub cors_allowed_origins: Vec<String>,
    /// The largest REST request body the gateway reads, in bytes; larger ones get 413. Bulk
    /// writes of more belong on gRPC (messages up to 64 MiB).
    pub rest_max_body_bytes: usize,
    /// Where API keys live: a `sqlite://` or `postgres://` URL that every service process reads;
    /// empty means this process's own database (the embedded default, and any deployment whose
    /// services share one database).
    pub access_database_url: String,
    /// Where the access service (keys, audit trail) is, for the gateway; empty means this
    /// process's own `grpc_addr`.
    pub access_url: String,
    /// Whether reads need a key with the `read` scope; by default the observatory's data is
    /// public and only writes need a key.
    pub require_key_for_reads: bool,
    /// Calls per second each key (or, for callers without one, each client address) may make,
    /// on average.
    pub rate_limit_per_second: u32,
    /// Calls a caller may make at once above that rate, after being idle.
    pub rate_limit_burst: u32,
    /// Where `GET /metrics` (Prometheus text) is served; empty turns it off. Kept off the public
    /// HTTP port.
    pub metrics_addr: String,
    /// Proxies (addresses or CIDR networks) whose `x-forwarded-for` names the client, for the
    /// per-address rate limit: the ingress, the gateway when it runs apart from the services.
    pub trusted_proxies: Vec<String>,
    /// The certificate (PEM, leaf first, then intermediates) the gRPC and HTTP listeners present;
    /// unset means plain TCP. Needs `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM); when set, the listeners refuse clients without a certificate
    /// signed by one of them (mutual TLS). Needs `tls_cert_file`.
    pub tls_client_ca_file: Option<PathBuf>,
    /// CA certificates (PEM) trusted for `https://` service URLs; unset means the Mozilla roots.
    pub tls_ca_file: Option<PathBuf>,
    /// The certificate (PEM) this process presents when it calls an `https://` service URL.
    /// Needs `tls_client_key_file`.
    pub tls_client_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_client_cert_file`.
    pub tls_client_key_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: String::new(),
            data_dir: PathBuf::from("observatory-data"),
            database_acquire_timeout_ms: crate::database::DEFAULT_ACQUIRE_TIMEOUT_MS,
            database_max_connections: None,
            database_min_connections: 0,
            seed: true,
            log_format: LogFormat::Text,
            log_filter: "info,sqlx=warn".to_owned(),
            shutdown_grace_seconds: 10,
            admin_key: None,
            initiatives_url: String::new(),
            indicators_url: String::new(),
            law_guide_url: String::new(),
            cors_allowed_origins: Vec::new(),
            rest_max_body_bytes: 8 * 1024 * 1024,
            access_database_url: String::new(),
            access_url: String::new(),
            require_key_for_reads: false,
            rate_limit_per_second: 200,
            rate_limit_burst: 400,
            trusted_proxies: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
            metrics_addr: "127.0.0.1:9464".to_owned(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_ca_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
        }
    }
}

impl Settings {
    /// The database to use: the configured URL, or the embedded SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            let file = self.data_dir.join("observatory.sqlite");
            format!("sqlite://{}?mode=rwc", file.display())
        } else {
            self.database_url.clone()
        }
    }

    /// The URL of the initiatives service: the configured one, or this process's own port.
    pub fn initiatives_url(&self) -> String {
        self.service_url(&self.initiatives_url)
    }

    pub fn indicators_url(&self) -> String {
        self.service_url(&self.indicators_url)
    }

    pub fn law_guide_url(&self) -> String {
        self.service_url(&self.law_guide_url)
    }

    pub fn access_url(&self) -> String {
        self.service_url(&self.access_url)
    }

    /// The access store: the configured URL, or this process's own database.
    pub fn access_database_url(&self) -> String {
        if self.access_database_url.is_empty() {
            self.database_url()
        } else {
            self.access_database_url.clone()
        }
    }

    /// `configured`, or, when empty, this process's own gRPC address (reachable on loopback
    /// even when it listens on every interface). With TLS on, the own address is
    /// `https://localhost:PORT` when it is a loopback one, so that the call checks the server
    /// certificate against a name a certificate can hold for every replica.
    fn service_url(&self, configured: &str) -> String {
        if !configured.is_empty() {
            return configured.to_owned();
        }
        let mut own = self.grpc_addr;
        if own.ip().is_unspecified() {
            own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        match self.serves_tls() {
            true if own.ip().is_loopback() => format!("https://localhost:{}", own.port()),
            true => format!("https://{own}"),
            false => format!("http://{own}"),
        }
    }

    /// Whether the listeners speak TLS (`tls_cert_file` is set).
    pub fn serves_tls(&self) -> bool {
        crate::tls::configured(&self.tls_cert_file).is_some()
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// Command-line flags that override the other layers; flatten into each binary's clap parser.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct SettingsFlags {
    /// A TOML settings file (also OBSERVATORY_CONFIG).
    #[arg(long, global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Where gRPC listens [default: 127.0.0.1:50051].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<SocketAddr>,
    /// Where the HTTP gateway listens [default: 127.0.0.1:8080].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    /// A sqlite:// or postgres:// URL [default: embedded SQLite in --data-dir].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Folder of the embedded SQLite database [default: ./observatory-data].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Where GET /metrics is served; empty turns it off [default: 127.0.0.1:9464].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<String>,
    /// URL of the initiatives service [default: this process's own gRPC address].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiatives_url: Option<String>,
    /// Log format [default: text].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// An invalid setting, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

/// Reads the settings: defaults, then the file (`--config` or OBSERVATORY_CONFIG), then the
/// environment, then the flags.
pub fn load(flags: &SettingsFlags) -> Result<Settings, ConfigError> {
    let file = flags
        .config
        .clone()
        .or_else(|| std::env::var_os(env::CONFIG_FILE).map(PathBuf::from));
    let mut figment = Figment::new();
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Env::raw().only(&[env::DATABASE_URL]).lowercase(true))
        .merge(
            Env::prefixed(env::SETTINGS_PREFIX)
                .ignore(&["CONFIG"])
                .filter(|key| !is_kubernetes_service_link(key.as_str())),
        )
        .merge(Serialized::defaults(flags))
        .extract()
        .map_err(|error| ConfigError(Box::new(error)))
}

/// Kubernetes gives every pod `{SERVICE}_SERVICE_HOST`, `{SERVICE}_PORT…` variables for each
/// Service, so a Service named `observatory` yields `OBSERVATORY_SERVICE_HOST` and friends. They
/// are not settings, and must not trip the check for misspelt ones.
fn is_kubernetes_service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    key.starts_with("SERVICE_HOST") || key.starts_with("SERVICE_PORT") || key == "PORT" || key.starts_with("PORT_")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment's own error type
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("observatory.toml", "grpc_addr = \"127.0.0.1:6000\"\nseed = false\n")?;
            jail.set_env("OBSERVATORY_SHUTDOWN_GRACE_SECONDS", "3");
            let flags = SettingsFlags {
                config: Some("observatory.toml".into()),
                http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9000))),
                ..SettingsFlags::default()
            };
            let settings = load(&flags).map_err(|error| error.to_string())?;
            assert_eq!(settings.grpc_addr.port(), 6000);
            assert_eq!(settings.http_addr.port(), 9000);
            assert!(!settings.seed);
            assert_eq!(settings.shutdown_grace_seconds, 3);
            assert!(settings.database_url().starts_with("sqlite://observatory-data/"));
            assert_eq!(settings.initiatives_url(), "http://127.0.0.1:6000");
            Ok(())
        });
    }

    #[test]
    fn the_own_address_is_https_on_localhost_when_serving_tls() {
        let settings = Settings {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 50051)),
            tls_cert_file: Some("tls.crt".into()),
            tls_key_file: Some("tls.key".into()),
            ..Settings::default()
        };
        assert_eq!(settings.initiatives_url(), "https://localhost:50051");
        let configured = Settings {
            initiatives_url: "https://initiatives:50051".to_owned(),
            ..settings
        };
        assert_eq!(configured.initiatives_url(), "https://initiatives:50051");
    }

    #[test]
    fn tls_files_come_from_the_environment_and_empty_means_unset() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OBSERVATORY_TLS_CERT_FILE", "/etc/observatory/tls/tls.crt");
            jail.set_env("OBSERVATORY_TLS_CLIENT_CA_FILE", "");
            let settings = load(&SettingsFlags::default()).map_err(|error| error.to_string())?;
            assert_eq!(settings.tls_cert_file, Some("/etc/observatory/tls/tls.crt".into()));
            assert!(crate::tls::configured(&settings.tls_client_ca_file).is_none());
            assert!(settings.serves_tls());
            Ok(())
        });
    }

    #[test]
    fn database_url_comes_from_the_conventional_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://localhost/test");
            let settings = load(&SettingsFlags::default()).map_err(|error| error.to_string())?;
            assert_eq!(settings.database_url(), "postgres://localhost/test");
            Ok(())
        });
    }

    #[test]
    fn pool_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let settings = load(&SettingsFlags::default()).map_err(|error| error.to_string())?;
            let defaults = crate::database::PoolSettings::from_settings(&settings);
            assert_eq!(defaults, crate::database::PoolSettings::default());
            assert_eq!(defaults.acquire_timeout, Duration::from_secs(2));
            jail.set_env("OBSERVATORY_DATABASE_ACQUIRE_TIMEOUT_MS", "500");
            jail.set_env("OBSERVATORY_DATABASE_MAX_CONNECTIONS", "3");
            jail.set_env("OBSERVATORY_DATABASE_MIN_CONNECTIONS", "1");
            let settings = load(&SettingsFlags::default()).map_err(|error| error.to_string())?;
            let pool = crate::database::PoolSettings::from_settings(&settings);
            assert_eq!(pool.acquire_timeout, Duration::from_millis(500));
            assert_eq!(pool.max_connections, Some(3));
            assert_eq!(pool.min_connections, 1);
            Ok(())
        });
    }

    #[test]
    fn kubernetes_service_links_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OBSERVATORY_SERVICE_HOST", "10.0.0.1");
            jail.set_env("OBSERVATORY_SERVICE_PORT_GRPC", "50051");
            jail.set_env("OBSERVATORY_PORT", "tcp://10.0.0.1:50051");
            jail.set_env("OBSERVATORY_PORT_50051_TCP_ADDR", "10.0.0.1");
            load(&SettingsFlags::default()).map_err(|error| error.to_string())?;
            Ok(())
        });
    }

    #[test]
    fn an_unknown_setting_is_an_error_naming_it() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OBSERVATORY_GRPC_ADRR", "x");
            let error = load(&SettingsFlags::default()).expect_err("typo must fail");
            assert!(error.to_string().contains("grpc_adrr"), "{error}");
            Ok(())
        });
    }
}

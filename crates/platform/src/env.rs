//! Every environment variable the observatory reads, in one place. Settings variables map onto
//! [`crate::config::Settings`] fields by name: `OBSERVATORY_GRPC_ADDR` sets `grpc_addr`.

/// Prefix of every settings variable.
pub const SETTINGS_PREFIX: &str = "OBSERVATORY_";
/// Path of an optional TOML settings file (also `--config`).
pub const CONFIG_FILE: &str = "OBSERVATORY_CONFIG";
/// The database URL, the conventional name (also `OBSERVATORY_DATABASE_URL`, `--database-url`).
pub const DATABASE_URL: &str = "DATABASE_URL";
/// The admin bearer key (also `OBSERVATORY_ADMIN_KEY`); never logged.
pub const ADMIN_KEY: &str = "OBSERVATORY_ADMIN_KEY";
/// Where traces are exported over OTLP/gRPC; tracing stays local when unset.
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

//! What every observatory service shares, so that each service crate holds only its own domain:
//! configuration, telemetry, database and migrations, serving (health, reflection, shutdown),
//! caller identification, errors as `google.rpc.Status`, pagination and AIP-160 filters.
#![forbid(unsafe_code)]

pub mod access;
pub mod calls;
pub mod cli;
pub mod coalesce;
pub mod config;
pub mod database;
pub mod env;
pub mod error;
pub mod filter;
pub mod generate;
pub mod http;
pub mod idempotency;
pub mod lifecycle;
pub mod malformed;
pub mod metrics;
pub mod module;
pub mod names;
pub mod pagination;
pub mod read_mask;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod transfer;
pub mod update_mask;
pub mod validate;

pub use error::{FieldViolation, ServiceError, ServiceResult};

//! What a service contributes to a process: its migrations, its seed data and its gRPC service.
//! The `observatory` binary runs every module in one process; each service's own binary runs
//! just its own, through the same code.

use std::{future::Future, pin::Pin};

use sea_orm::DatabaseConnection;

use crate::{calls::ServiceChannel, config::Settings, generate::GenerateSpec, server::GrpcServer, tls::ClientTls};

/// What a module is given to build its services: the migrated database and the settings (for
/// example, where the other services it calls listen).
pub struct ModuleContext {
    pub db: DatabaseConnection,
    pub settings: Settings,
    /// This process's own gRPC services, once registered (for `http_routes`): a module that
    /// calls a service running in the same process calls it here rather than over a socket.
    pub local_services: Option<ServiceChannel>,
}

impl ModuleContext {
    /// How to reach the service whose `*_url` setting is `configured_url`: in this process
    /// when the setting is empty (every service in one process) and the services are known,
    /// else over the network at `resolved_url` (with the client TLS settings when it is
    /// `https://`).
    pub fn service_channel(&self, configured_url: &str, resolved_url: &str) -> anyhow::Result<ServiceChannel> {
        match &self.local_services {
            Some(local) if configured_url.is_empty() => Ok(local.clone()),
            _ => crate::calls::remote(resolved_url, &self.client_tls()?),
        }
    }

    /// What this process trusts and presents when it calls an `https://` service URL. The
    /// files were checked when the process started (`tls::check`).
    pub fn client_tls(&self) -> anyhow::Result<ClientTls> {
        Ok(ClientTls::from_settings(&self.settings)?)
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait ServiceModule: Sync {
    /// A short name for logs, e.g. `initiatives`.
    fn name(&self) -> &'static str;

    /// Whether the module keeps data; a process of modules that keep none opens no database.
    fn uses_database(&self) -> bool {
        true
    }

    /// Applies the module's pending migrations.
    fn migrate<'a>(&'a self, _db: &'a DatabaseConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Writes the reference data the module ships with, idempotently; returns how many records
    /// were created.
    fn seed<'a>(&'a self, _db: &'a DatabaseConnection) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async { Ok(0) })
    }

    /// Writes the module's share of synthetic data (`observatory generate`) through its own
    /// store code, showing progress; returns how many records were created. Runs after
    /// migrations and the seed, modules in order (initiatives before the indicators that
    /// name them).
    fn generate<'a>(
        &'a self,
        _db: &'a DatabaseConnection,
        _spec: &'a GenerateSpec,
    ) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async { Ok(0) })
    }

    /// Adds the module's gRPC services to `server`.
    fn register(&self, server: GrpcServer, _context: &ModuleContext) -> anyhow::Result<GrpcServer> {
        Ok(server)
    }

    /// The HTTP routes the module serves on `http_addr`, if any (the gateway's).
    fn http_routes(&self, _context: &ModuleContext) -> anyhow::Result<Option<axum::Router>> {
        Ok(None)
    }

    /// The kinds of resource of this module that `observatory import` and `export` move in
    /// bulk, through the module's gRPC API.
    fn transfer_kinds(&self) -> Vec<Box<dyn crate::transfer::TransferKind>> {
        Vec::new()
    }
}

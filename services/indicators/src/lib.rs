//! The indicators service: `sse.indicators.v1.IndicatorService`.
//!
//! `service` is the gRPC face; `indicator` and `observation` say what a valid resource is and how
//! it is stored (`entity`, `migration`, `store`); `period` reads ISO 8601 periods; `aggregate`
//! combines figures (and applies the rule between conflicting sources); `initiatives` asks the
//! initiatives service; `sdmx` writes the exports; `sdg` serves the reference lists; `seed` holds
//! the figures the observatory ships with; `generate` writes synthetic figures at scale.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod entity;
pub mod generate;
pub mod indicator;
pub mod initiatives;
pub mod migration;
pub mod observation;
pub mod period;
pub mod sdg;
pub mod sdmx;
pub mod seed;
pub mod service;
pub mod store;
pub mod transfer;

use sea_orm::DatabaseConnection;
use sse_platform::{
    generate::GenerateSpec,
    module::{BoxFuture, ModuleContext, ServiceModule},
    server::GrpcServer,
    tls::ClientTls,
};
use sse_proto::indicators::indicator_service_server::IndicatorServiceServer;

pub use migration::Migrator;
pub use service::IndicatorsService;
pub use store::Store;

/// The gRPC service over `db` (migrated), calling the initiatives service at `initiatives_url`
/// (over TLS as `tls` says when it is `https://`).
pub fn grpc_service(
    db: DatabaseConnection,
    initiatives_url: &str,
    tls: &ClientTls,
) -> anyhow::Result<IndicatorServiceServer<IndicatorsService>> {
    let initiatives = initiatives::Initiatives::connect_lazy(initiatives_url, tls)?;
    Ok(
        IndicatorServiceServer::new(IndicatorsService::new(Store::new(db), initiatives))
            .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES),
    )
}

/// The indicators service as a part of a process.
pub struct Module;

impl ServiceModule for Module {
    fn name(&self) -> &'static str {
        "indicators"
    }

    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(sse_platform::database::migrate::<Migrator>(db))
    }

    fn seed<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move { seed::seed(&Store::new(db.clone())).await })
    }

    fn generate<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        spec: &'a GenerateSpec,
    ) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move { generate::generate(&Store::new(db.clone()), spec).await })
    }

    fn register(&self, server: GrpcServer, context: &ModuleContext) -> anyhow::Result<GrpcServer> {
        Ok(server.add_service(grpc_service(
            context.db.clone(),
            &context.settings.initiatives_url(),
            &context.client_tls()?,
        )?))
    }

    fn transfer_kinds(&self) -> Vec<Box<dyn sse_platform::transfer::TransferKind>> {
        vec![Box::new(transfer::Indicators), Box::new(transfer::Observations)]
    }
}

//! The law guide: `sse.lawguide.v1.LawGuideService`, legal texts that define or favour the SSE.
//!
//! `service` is the gRPC face, `validation` (with `codes`) what a valid legal text is, `store`
//! how texts and their revisions are kept (`entity`, `migration`), `resource` how the two map,
//! `analysis` and `search` the cross-language free-text search, `matrix` the jurisdiction-by-topic
//! guide, `seed` the texts the observatory ships with, and `generate` synthetic ones at scale.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod codes;
pub mod entity;
pub mod generate;
pub mod matrix;
pub mod migration;
pub mod resource;
pub mod search;
pub mod seed;
pub mod service;
pub mod store;
pub mod transfer;
pub mod validation;

use sea_orm::DatabaseConnection;
use sse_proto::lawguide::law_guide_service_server::LawGuideServiceServer;

pub use migration::Migrator;
pub use service::LawGuide;
pub use store::Store;

/// The gRPC service over `db`, which must be migrated (see [`Migrator`]).
pub fn grpc_service(db: DatabaseConnection) -> LawGuideServiceServer<LawGuide> {
    LawGuideServiceServer::new(LawGuide::new(Store::new(db)))
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
}

/// The law guide as a part of a process.
pub struct Module;

impl sse_platform::module::ServiceModule for Module {
    fn name(&self) -> &'static str {
        "law-guide"
    }

    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> sse_platform::module::BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(sse_platform::database::migrate::<Migrator>(db))
    }

    fn seed<'a>(&'a self, db: &'a DatabaseConnection) -> sse_platform::module::BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move { seed::seed(&Store::new(db.clone())).await })
    }

    fn generate<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        spec: &'a sse_platform::generate::GenerateSpec,
    ) -> sse_platform::module::BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move { generate::generate(&Store::new(db.clone()), spec).await })
    }

    fn register(
        &self,
        server: sse_platform::server::GrpcServer,
        context: &sse_platform::module::ModuleContext,
    ) -> anyhow::Result<sse_platform::server::GrpcServer> {
        Ok(server.add_service(grpc_service(context.db.clone())))
    }

    fn transfer_kinds(&self) -> Vec<Box<dyn sse_platform::transfer::TransferKind>> {
        vec![Box::new(transfer::LegalTexts)]
    }
}

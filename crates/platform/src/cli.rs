//! The command line every observatory binary shares: `serve`, `migrate` and `seed`, with the
//! settings flags. A binary names itself and its modules; the rest is here.

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::{
    config::{self, Settings, SettingsFlags},
    database,
    generate::GenerateSpec,
    http,
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
    shutdown::Shutdown,
    telemetry,
};

#[derive(Debug, Parser)]
#[command(version, about = "The Social and Solidarity Economy observatory")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    flags: SettingsFlags,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Command {
    /// Migrates and seeds the database (seeding unless `seed = false`), then serves until
    /// SIGTERM or Ctrl-C.
    Serve,
    /// Applies pending database migrations, then exits.
    Migrate,
    /// Migrates, writes the reference data (skipping what exists), then exits.
    Seed,
    /// Migrates, seeds, then writes synthetic initiatives, observations and legal texts at the
    /// sizes given (deterministic for a `--seed`), for demos, capacity planning and benchmarks.
    Generate {
        #[arg(long, default_value_t = 0)]
        initiatives: u64,
        /// Observations, spread over the generated initiatives (needs `--initiatives`).
        #[arg(long, default_value_t = 0)]
        observations: u64,
        #[arg(long, default_value_t = 0)]
        legal_texts: u64,
        /// The same seed writes the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Runs the binary `name` made of `modules`; returns the process exit code.
pub fn run(name: &'static str, modules: &[&dyn ServiceModule]) -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(&cli.flags) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{name}: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let _telemetry = telemetry::init(name, settings.log_format, &settings.log_filter)?;
        let result = execute(cli.command, &settings, modules).await;
        if let Err(error) = &result {
            tracing::error!(error = format!("{error:#}"), "{name} failed");
        }
        result
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: &Settings, modules: &[&dyn ServiceModule]) -> anyhow::Result<()> {
    let keeping_data: Vec<&&dyn ServiceModule> = modules.iter().filter(|module| module.uses_database()).collect();
    let db = if keeping_data.is_empty() {
        sea_orm::DatabaseConnection::default()
    } else {
        let url = settings.database_url();
        tracing::info!(database = %database::redact(&url), "connecting to the database");
        database::connect(&url).await?
    };
    for module in &keeping_data {
        module.migrate(&db).await?;
    }
    let seed = match command {
        Command::Migrate => false,
        Command::Seed | Command::Generate { .. } => true,
        Command::Serve => settings.seed,
    };
    if seed {
        for module in &keeping_data {
            let created = module.seed(&db).await?;
            tracing::info!(module = module.name(), created, "seeded");
        }
    }
    if let Command::Generate {
        initiatives,
        observations,
        legal_texts,
        seed,
    } = command
    {
        if observations > 0 && initiatives == 0 {
            anyhow::bail!("--observations needs --initiatives: observations are about generated initiatives");
        }
        let spec = GenerateSpec {
            initiatives,
            observations,
            legal_texts,
            seed,
        };
        for module in &keeping_data {
            let created = module.generate(&db, &spec).await?;
            tracing::info!(module = module.name(), created, "generated");
        }
        // Fresh statistics, so that the planners choose their plans for the data now there.
        sea_orm::ConnectionTrait::execute_unprepared(&db, "ANALYZE").await?;
    }
    if !matches!(command, Command::Serve) {
        return Ok(());
    }
    let listener = TcpListener::bind(settings.grpc_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen for gRPC on {}: {error}", settings.grpc_addr))?;
    let mut context = ModuleContext {
        db: db.clone(),
        settings: settings.clone(),
        local_services: None,
    };
    let server = modules.iter().try_fold(
        GrpcServer::new(settings.admin_key.clone(), settings.shutdown_grace()),
        |server, module| module.register(server, &context),
    )?;
    context.local_services = Some(server.in_process());
    let mut http_routes = Vec::new();
    for module in modules {
        http_routes.extend(module.http_routes(&context)?);
    }
    let shutdown = Shutdown::on_signals();
    if http_routes.is_empty() {
        server.serve(listener, shutdown).await?;
    } else {
        let http_listener = TcpListener::bind(settings.http_addr)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen for HTTP on {}: {error}", settings.http_addr))?;
        let router = http_routes.into_iter().fold(axum::Router::new(), axum::Router::merge);
        tokio::try_join!(
            server.serve(listener, shutdown.clone()),
            http::serve(http_listener, router, shutdown, settings.shutdown_grace()),
        )?;
    }
    db.close().await?;
    Ok(())
}

//! The command line every observatory binary shares: `serve`, `migrate`, `seed`, `generate`,
//! `import`, `export` and `keys`, with the settings flags. A binary names itself and its
//! modules; the rest is here.

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::{
    access::{
        self, Policy, audit,
        guard::Access,
        keys::{KeyStore, NewKey},
    },
    config::{self, Settings, SettingsFlags},
    database,
    generate::GenerateSpec,
    http, metrics,
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
    shutdown::Shutdown,
    telemetry,
    tls::{self, ServerTls},
};

#[derive(Debug, Parser)]
#[command(version, about = "The Social and Solidarity Economy observatory")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    flags: SettingsFlags,
}

#[derive(Debug, Clone, Subcommand)]
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
    /// Reads a file of initiatives, indicators, observations or legal-texts into the observatory
    /// through its API (checked as the API checks, in batches): into this process's database,
    /// or a running observatory's with `--server` and `--api-key`. Rows whose resource exists
    /// are left alone, so importing a file again creates nothing new. Invalid rows are reported
    /// on standard error (row, field, reason) and make the exit code 1.
    Import {
        /// initiatives, indicators, observations or legal-texts.
        kind: String,
        /// The file; `-` for standard input.
        file: std::path::PathBuf,
        /// csv, jsonl or sdmx-csv (observations); guessed from the file's extension when not
        /// given (`.csv`, `.jsonl`, `.sdmx.csv`).
        #[arg(long, value_enum)]
        format: Option<crate::transfer::Format>,
        /// Checks every row and reports every invalid one; writes nothing.
        #[arg(long)]
        dry_run: bool,
        /// On an invalid row: `stop` (write the batches before it, nothing after) or `skip`
        /// (write every valid row).
        #[arg(long, value_enum, default_value = "stop")]
        on_error: crate::transfer::OnError,
        #[command(flatten)]
        target: Target,
    },
    /// Writes every live initiative, indicator, observation or legal text to a file (or
    /// standard output), a page at a time, in the layout `import` reads.
    Export {
        /// initiatives, indicators, observations or legal-texts.
        kind: String,
        /// csv (the default), jsonl or sdmx-csv (observations); guessed from `--output`'s
        /// extension when not given.
        #[arg(long, value_enum)]
        format: Option<crate::transfer::Format>,
        /// The file to write; standard output when not given.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Manages partners' API keys in the access store (`access_database_url`, by default the
    /// database): for bootstrapping and scripts. Results go to stdout as JSON, logs to stderr.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// Where `import` and `export` send their calls.
#[derive(Debug, Clone, clap::Args)]
struct Target {
    /// The gRPC URL of a running observatory (`http://…` or `https://…`, with the client TLS
    /// settings); without it, this process serves its own modules on the configured database.
    #[arg(long)]
    server: Option<String>,
    /// The API key for `--server` (its writes need the kind's `*.write` scope).
    #[arg(long, env = "SSE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
enum KeysCommand {
    /// Creates a key and prints it, with its secret, once: `{"name", "key", "scopes", ...}`.
    Create {
        /// Whose key it is, e.g. the partner organisation.
        #[arg(long)]
        display_name: String,
        /// Comma-separated: initiatives.write, indicators.write, lawguide.write, read, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Days until the key stops working; never by default.
        #[arg(long)]
        expire_days: Option<u32>,
    },
    /// Prints every key (never a secret), newest first, one JSON object per line.
    List,
    /// Revokes a key (`apiKeys/…`): every service refuses it within seconds.
    Revoke { name: String },
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
    // Before anything else: a TLS setting that cannot work stops the process here, naming it.
    let server_tls = match tls::check(&settings) {
        Ok(server_tls) => server_tls,
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
        let telemetry = telemetry::init(name, settings.log_format, &settings.log_filter)?;
        let registry = telemetry.metrics.registry();
        let result = match cli.command {
            Command::Keys { command } => manage_keys(command, &settings).await,
            command @ (Command::Import { .. } | Command::Export { .. }) => match command.into_transfer() {
                Some(transfer) => crate::transfer::command::run(transfer, &settings, modules).await,
                None => Ok(()),
            },
            command => execute(command, &settings, server_tls, modules, registry).await,
        };
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

async fn execute(
    command: Command,
    settings: &Settings,
    server_tls: Option<ServerTls>,
    modules: &[&dyn ServiceModule],
    registry: prometheus::Registry,
) -> anyhow::Result<()> {
    let keeping_data: Vec<&&dyn ServiceModule> = modules.iter().filter(|module| module.uses_database()).collect();
    let db = if keeping_data.is_empty() {
        sea_orm::DatabaseConnection::default()
    } else {
        let url = settings.database_url();
        tracing::info!(database = %database::redact(&url), "connecting to the database");
        database::connect_with(&url, database::PoolSettings::from_settings(settings)).await?
    };
    let access_db = if keeping_data.is_empty() {
        None
    } else {
        Some(open_access_store(settings, &db).await?)
    };
    for module in &keeping_data {
        module.migrate(&db).await?;
    }
    let seed = match command {
        Command::Migrate | Command::Keys { .. } | Command::Import { .. } | Command::Export { .. } => false,
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
    } = command.clone()
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
        // Fresh statistics and compact indexes, so that the first reads are as fast as later ones.
        database::tidy_after_bulk_load(&db).await?;
    }
    if !matches!(command, Command::Serve) {
        return Ok(());
    }
    let listener = TcpListener::bind(settings.grpc_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen for gRPC on {}: {error}", settings.grpc_addr))?;
    let metrics_listener = match settings.metrics_addr.trim() {
        "" => None,
        address => Some(
            TcpListener::bind(address)
                .await
                .map_err(|error| anyhow::anyhow!("cannot listen for metrics on {address}: {error}"))?,
        ),
    };
    if !keeping_data.is_empty() {
        metrics::observe_pool(&db, "database");
        if let Some(access_db) = access_db.as_ref().filter(|_| !same_database(settings)) {
            metrics::observe_pool(access_db, "access");
        }
    }
    let mut context = ModuleContext {
        db: db.clone(),
        settings: settings.clone(),
        local_services: None,
    };
    let policy = Policy::from_settings(settings)?;
    let shutdown = Shutdown::on_signals();
    if let Some(metrics_listener) = metrics_listener {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) = metrics::serve(metrics_listener, registry, shutdown).await {
                tracing::error!(error = format!("{error:#}"), "the metrics listener failed");
            }
        });
    }
    let mut server = match &access_db {
        // A process that keeps data serves key management too, over the access store, and
        // relays its audit events there when the store is another database.
        Some(access_db) => {
            let access = Access::new(policy, access_db.clone(), db.clone());
            let service = access::service::grpc_service(access_db.clone(), access.clone());
            if !same_database(settings) {
                tokio::spawn(audit::relay(db.clone(), access_db.clone(), shutdown.clone()));
            }
            // Health reports each service NOT_SERVING while its database is unreachable: the
            // access service's is the access store, the modules' the process's database (one
            // database, checked once, when they are the same).
            let server = GrpcServer::new(access, settings.shutdown_grace());
            if same_database(settings) {
                server.with_database(db.clone()).add_service(service)
            } else {
                server
                    .with_database(access_db.clone())
                    .add_service(service)
                    .with_database(db.clone())
            }
        }
        None => GrpcServer::new(Access::without_store(policy), settings.shutdown_grace()),
    }
    .with_tls(server_tls.clone());
    for module in modules {
        server = module.register(server, &context)?;
    }
    context.local_services = Some(server.in_process());
    let mut http_routes = Vec::new();
    for module in modules {
        http_routes.extend(module.http_routes(&context)?);
    }
    if http_routes.is_empty() {
        server.serve(listener, shutdown).await?;
    } else {
        let http_listener = TcpListener::bind(settings.http_addr)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen for HTTP on {}: {error}", settings.http_addr))?;
        let router = http_routes.into_iter().fold(axum::Router::new(), axum::Router::merge);
        tokio::try_join!(
            server.serve(listener, shutdown.clone()),
            http::serve(
                http_listener,
                router,
                shutdown,
                settings.shutdown_grace(),
                server_tls.as_ref()
            ),
        )?;
    }
    db.close().await?;
    Ok(())
}

impl Command {
    /// The transfer an `import` or `export` asks for.
    fn into_transfer(self) -> Option<crate::transfer::command::TransferCommand> {
        use crate::transfer::command::TransferCommand;
        match self {
            Command::Import {
                kind,
                file,
                format,
                dry_run,
                on_error,
                target,
            } => Some(TransferCommand::Import {
                kind,
                file,
                format,
                dry_run,
                on_error,
                server: target.server,
                api_key: target.api_key,
            }),
            Command::Export {
                kind,
                format,
                output,
                target,
            } => Some(TransferCommand::Export {
                kind,
                format,
                output,
                server: target.server,
                api_key: target.api_key,
            }),
            _ => None,
        }
    }
}

/// Whether the access store is the process's own database.
pub(crate) fn same_database(settings: &Settings) -> bool {
    settings.access_database_url() == settings.database_url()
}

/// The access store, migrated: the process's own database `db`, or the one configured.
pub(crate) async fn open_access_store(
    settings: &Settings,
    db: &DatabaseConnection,
) -> anyhow::Result<DatabaseConnection> {
    // Audit events are written beside each write, so every database holds the audit table.
    database::migrate::<access::schema::Migrator>(db).await?;
    if same_database(settings) {
        return Ok(db.clone());
    }
    let url = settings.access_database_url();
    tracing::info!(database = %database::redact(&url), "connecting to the access store");
    let access_db = database::connect_with(&url, database::PoolSettings::from_settings(settings)).await?;
    database::migrate::<access::schema::Migrator>(&access_db).await?;
    Ok(access_db)
}

/// `keys create|list|revoke`, on the access store.
async fn manage_keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let url = settings.access_database_url();
    tracing::info!(database = %database::redact(&url), "connecting to the access store");
    let db = database::connect_with(&url, database::PoolSettings::from_settings(settings)).await?;
    database::migrate::<access::schema::Migrator>(&db).await?;
    let store = KeyStore::new(db.clone());
    let printed = match command {
        KeysCommand::Create {
            display_name,
            scopes,
            expire_days,
        } => {
            let expire_time = expire_days.map(|days| {
                let now = chrono::Utc::now() + chrono::Duration::days(i64::from(days));
                now.timestamp_micros()
            });
            let wanted = sse_proto::access::ApiKey {
                display_name,
                scopes: scopes.iter().map(|scope| scope.trim().to_owned()).collect(),
                expire_time: expire_time.map(crate::time::timestamp),
                ..Default::default()
            };
            let new: NewKey =
                access::service::check_new_key(Some(&wanted)).map_err(|error| anyhow::anyhow!("{error}"))?;
            let (row, secret) = store.create(new).await.map_err(|error| anyhow::anyhow!("{error}"))?;
            let mut printed = key_json(&row);
            printed["key"] = secret.into();
            vec![printed]
        }
        KeysCommand::List => {
            let mut printed = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = store
                    .list(crate::pagination::ListQuery {
                        order_by: "create_time desc",
                        page_size: 1000,
                        page_token: &page_token,
                        ..Default::default()
                    })
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
                printed.extend(page.items.iter().map(key_json));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            printed
        }
        KeysCommand::Revoke { name } => {
            let id = name
                .strip_prefix("apiKeys/")
                .ok_or_else(|| anyhow::anyhow!("a key is named `apiKeys/{{id}}`, not `{name}`"))?;
            let row = store.revoke(id).await.map_err(|error| anyhow::anyhow!("{error}"))?;
            vec![key_json(&row)]
        }
    };
    db.close().await?;
    for line in printed {
        println!("{line}");
    }
    Ok(())
}

/// A key as the command line prints it: the proto3 JSON of `ApiKey`, in snake case as the
/// issue's scripts read it.
fn key_json(row: &access::schema::api_key::Model) -> serde_json::Value {
    let key = access::service::to_proto(row);
    let time = |timestamp: Option<pbjson_types::Timestamp>| {
        timestamp.map_or(serde_json::Value::Null, |timestamp| {
            chrono::DateTime::from_timestamp(timestamp.seconds, 0)
                .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .into()
        })
    };
    serde_json::json!({
        "name": key.name,
        "display_name": key.display_name,
        "scopes": key.scopes,
        "key_prefix": key.key_prefix,
        "create_time": time(key.create_time),
        "expire_time": time(key.expire_time),
        "revoke_time": time(key.revoke_time),
    })
}

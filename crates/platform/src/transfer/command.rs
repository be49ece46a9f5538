//! `observatory import` and `observatory export` on the command line: which kind, which file,
//! and which observatory. Without `--server`, the process serves its own modules on the
//! configured database (migrated as `migrate` does, not seeded) and calls them in process with
//! a one-time admin key, through the same guard, checks and audit as any partner's call; it
//! also listens on a loopback port of its own, for the calls its services make to each other.

use std::{
    io::{BufRead, Write},
    path::{Path, PathBuf},
};

use anyhow::Context;
use tokio::net::TcpListener;

use super::{Api, Format, ImportOptions, OnError, Progress, TransferKind, progress::CountingReader};
use crate::{
    access::{Policy, guard::Access},
    config::Settings,
    database,
    module::{ModuleContext, ServiceModule},
    server::GrpcServer,
    shutdown::{Shutdown, ShutdownTrigger},
};

/// What `import` or `export` was asked to do.
#[derive(Debug, Clone)]
pub enum TransferCommand {
    Import {
        kind: String,
        file: PathBuf,
        format: Option<Format>,
        dry_run: bool,
        on_error: OnError,
        server: Option<String>,
        api_key: Option<String>,
    },
    Export {
        kind: String,
        format: Option<Format>,
        output: Option<PathBuf>,
        server: Option<String>,
        api_key: Option<String>,
    },
}

pub async fn run(command: TransferCommand, settings: &Settings, modules: &[&dyn ServiceModule]) -> anyhow::Result<()> {
    let kinds: Vec<Box<dyn TransferKind>> = modules.iter().flat_map(|module| module.transfer_kinds()).collect();
    let (kind_name, server, api_key) = match &command {
        TransferCommand::Import {
            kind, server, api_key, ..
        }
        | TransferCommand::Export {
            kind, server, api_key, ..
        } => (kind, server, api_key),
    };
    let Some(kind) = kinds.iter().find(|candidate| candidate.kind() == kind_name) else {
        let known: Vec<&str> = kinds.iter().map(|kind| kind.kind()).collect();
        anyhow::bail!(
            "`{kind_name}` is not a kind of resource; the kinds are {}",
            known.join(", ")
        );
    };
    // A file whose format cannot be told is refused before any database is opened.
    if let TransferCommand::Import { file, format: None, .. } = &command
        && Format::from_path(file).is_none()
    {
        anyhow::bail!("cannot tell the format of {}: give --format", file.display());
    }
    let observatory = match server {
        Some(url) => Observatory::remote(url, api_key.as_deref(), settings)?,
        None => Observatory::local(settings, modules).await?,
    };
    let outcome = match command {
        TransferCommand::Import {
            file,
            format,
            dry_run,
            on_error,
            ..
        } => {
            let format = format
                .or_else(|| Format::from_path(&file))
                .ok_or_else(|| anyhow::anyhow!("cannot tell the format of {}: give --format", file.display()))?;
            let (input, size) = open_input(&file)?;
            let input = CountingReader::new(input);
            let mut progress = Progress::new(format!("import {}", kind.kind()), true);
            if let Some(size) = size {
                progress = progress.through_file(size, &input);
            }
            let input = Box::new(input);
            let options = ImportOptions {
                format,
                dry_run,
                on_error,
            };
            let report = super::import(kind.as_ref(), &observatory.api, input, options, &progress).await;
            match report {
                Ok(report) => {
                    let tidied = if report.created > 0 && !dry_run {
                        observatory.tidy_after_bulk_load().await
                    } else {
                        Ok(())
                    };
                    progress.finish_import(&report, dry_run);
                    if report.invalid > 0 {
                        Err(anyhow::anyhow!(
                            "{} of {} rows are invalid",
                            report.invalid,
                            report.rows
                        ))
                    } else {
                        tidied
                    }
                }
                Err(error) => Err(error),
            }
        }
        TransferCommand::Export { format, output, .. } => {
            let format = format
                .or_else(|| output.as_deref().and_then(Format::from_path))
                .unwrap_or(Format::Csv);
            let mut writer = open_output(output.as_deref())?;
            let progress = Progress::new(format!("export {}", kind.kind()), output.is_some());
            match super::export(kind.as_ref(), &observatory.api, format, &mut writer, &progress).await {
                Ok(written) => {
                    progress.finish_export(written);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
    };
    observatory.close().await;
    outcome
}

/// The input, and its size when it is a file.
fn open_input(file: &Path) -> anyhow::Result<(Box<dyn BufRead + Send>, Option<u64>)> {
    if file.as_os_str() == "-" {
        return Ok((Box::new(std::io::BufReader::new(std::io::stdin())), None));
    }
    let opened =
        std::fs::File::open(file).map_err(|error| anyhow::anyhow!("cannot open {}: {error}", file.display()))?;
    let size = opened
        .metadata()
        .ok()
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len());
    Ok((Box::new(std::io::BufReader::with_capacity(1 << 16, opened)), size))
}

fn open_output(output: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// The observatory a transfer talks to, and what to stop once it is done.
pub struct Observatory {
    pub api: Api,
    local: Option<Local>,
}

struct Local {
    stop: ShutdownTrigger,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
    db: sea_orm::DatabaseConnection,
}

impl Observatory {
    /// A running observatory at `url`, called with `api_key`.
    pub fn remote(url: &str, api_key: Option<&str>, settings: &Settings) -> anyhow::Result<Observatory> {
        let tls = crate::tls::ClientTls::from_settings(settings)?;
        let channel = crate::calls::remote(url, &tls)?;
        Ok(Observatory {
            api: Api::new(channel, api_key)?,
            local: None,
        })
    }

    /// This process's own `modules`, on the configured database.
    pub async fn local(settings: &Settings, modules: &[&dyn ServiceModule]) -> anyhow::Result<Observatory> {
        let url = settings.database_url();
        tracing::info!(database = %database::redact(&url), "connecting to the database");
        let db = database::connect_with(&url, database::PoolSettings::from_settings(settings)).await?;
        let access_db = crate::cli::open_access_store(settings, &db).await?;
        for module in modules.iter().filter(|module| module.uses_database()) {
            module.migrate(&db).await?;
        }
        // A key known only to this process, with every right, for its own calls; no rate limit
        // slows a bulk load of one's own database.
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("no randomness for a key: {error}"))?;
        let secret = hex::encode(secret);
        let mut policy = Policy::with_admin_key(Some(secret.clone().into()));
        policy.rate_limit_per_second = u32::MAX;
        policy.rate_limit_burst = u32::MAX;
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let mut local_settings = settings.clone();
        local_settings.grpc_addr = listener.local_addr()?;
        local_settings.tls_cert_file = None;
        local_settings.tls_key_file = None;
        local_settings.tls_client_ca_file = None;
        let context = ModuleContext {
            db: db.clone(),
            settings: local_settings.clone(),
            local_services: None,
        };
        let mut server = GrpcServer::new(
            Access::new(policy, access_db, db.clone()),
            local_settings.shutdown_grace(),
        );
        for module in modules {
            server = module.register(server, &context)?;
        }
        let channel = server.in_process();
        let (stop, shutdown) = Shutdown::new();
        let serving = tokio::spawn(server.serve(listener, shutdown));
        Ok(Observatory {
            api: Api::new(channel, Some(&secret))?,
            local: Some(Local { stop, serving, db }),
        })
    }

    /// After an import into this process's own database: its indexes and statistics brought up
    /// to date ([`database::tidy_after_bulk_load`]). A remote observatory tends its own.
    async fn tidy_after_bulk_load(&self) -> anyhow::Result<()> {
        if let Some(local) = &self.local {
            database::tidy_after_bulk_load(&local.db)
                .await
                .context("the import is written, but the indexes could not be tidied after it")?;
        }
        Ok(())
    }

    /// Stops the process's own services, if it ran them.
    pub async fn close(self) {
        if let Some(local) = self.local {
            local.stop.trigger();
            if let Ok(Err(error)) = local.serving.await {
                tracing::warn!(error = format!("{error:#}"), "the local services did not stop cleanly");
            }
            let _ = local.db.close().await;
        }
    }
}

//! `sse-bench`: the performance harness of the observatory. It drives a running `observatory
//! serve` (started by `scripts/bench.sh`) with tonic clients (one Channel per connection) and a
//! plain HTTP/1.1 client for the REST gateway, measures each goal of the performance issue next
//! to a baseline taken in the same run (Health/Check, the same SQL run directly on the
//! database, the server's idle memory), and prints one table of ratios, goals and verdicts.
#![forbid(unsafe_code)]

mod load;
mod measures;
mod process;
mod report;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Benchmarks a running observatory against the goals of the performance issue"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every measure against a running server and prints the table.
    Run(Box<RunArgs>),
    /// Prints free loopback ports, one a line (for scripts/bench.sh).
    FreePorts {
        #[arg(long, default_value_t = 2)]
        count: usize,
    },
}

/// What to measure, where, and how long.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The server's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub grpc_url: String,
    /// The server's HTTP (gateway) address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub http_url: String,
    /// The database the server uses, for the baselines run directly on it.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The server's process id, to read its memory; memory rows are not measured without it.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The `observatory` binary, to time a fresh start to SERVING and read its idle memory.
    #[arg(long)]
    pub observatory_bin: Option<PathBuf>,
    /// Where the fresh server's log goes.
    #[arg(long, default_value = "/tmp/sse-bench-startup.log")]
    pub startup_log: PathBuf,
    /// A title for the table, e.g. the database.
    #[arg(long, default_value = "observatory")]
    pub label: String,
    /// Concurrent connections (one gRPC Channel or one HTTP connection each), one call in
    /// flight on each.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Seconds each throughput or latency measure runs for, after its warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up before each throughput or latency measure (not recorded).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Stop each throughput or latency measure after this many calls, if sooner.
    #[arg(long)]
    pub requests: Option<u64>,
    /// How many initiatives `observatory generate` wrote (ids generated-0000000 onwards).
    #[arg(long, default_value_t = 100_000)]
    pub initiatives: u64,
    /// How many observations it wrote.
    #[arg(long, default_value_t = 1_000_000)]
    pub observations: u64,
    /// How many legal texts it wrote.
    #[arg(long, default_value_t = 10_000)]
    pub legal_texts: u64,
    /// The seed it was given (the harness derives the generated initiatives' facts from it).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Page size of the ListInitiatives measures.
    #[arg(long, default_value_t = 50)]
    pub list_page_size: i32,
    /// Page size of the SearchLegalTexts measure.
    #[arg(long, default_value_t = 20)]
    pub search_page_size: i32,
    /// Initiatives per BatchCreateInitiatives call.
    #[arg(long, default_value_t = 1000)]
    pub batch_initiatives: usize,
    /// Observations per BatchCreateObservations call.
    #[arg(long, default_value_t = 5000)]
    pub batch_observations: usize,
    /// Timed calls of each batch create, one after the other, after one untimed warm-up call.
    #[arg(long, default_value_t = 10)]
    pub batch_calls: usize,
    /// Timed runs of each aggregation and of its SQL baseline (the median is compared).
    #[arg(long, default_value_t = 5)]
    pub aggregate_runs: usize,
    /// Seconds an aggregation or a batch create may take before it counts as failed.
    #[arg(long, default_value_t = 120)]
    pub call_timeout: u64,
    /// Give up reading the export after this many seconds (time to first chunk is still kept).
    #[arg(long, default_value_t = 600)]
    pub export_timeout: u64,
    /// Also append the table to this file.
    #[arg(long)]
    pub table_out: Option<PathBuf>,
    /// The key the writes (batch creates) are made with: the server's admin key.
    #[arg(long, env = "OBSERVATORY_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Runs only these phases (comma-separated), e.g. `--only writes` to profile the batch
    /// creates; every phase when unset. The table then has only their rows.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Phase>,
}

/// The phases of a run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// Start time and idle memory of a fresh server.
    Startup,
    /// GetInitiative, REST, the lists and search, at `--connections`.
    Reads,
    Aggregations,
    Export,
    /// The batch creates.
    Writes,
}

impl RunArgs {
    /// Whether `phase` is to run.
    pub fn runs(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
    }

    pub fn load_spec(&self) -> load::LoadSpec {
        load::LoadSpec {
            warmup: Duration::from_secs_f64(self.warmup.max(0.0)),
            duration: Duration::from_secs_f64(self.duration.max(0.1)),
            requests: self.requests,
            server_pid: self.server_pid,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::FreePorts { count } => match process::free_ports(count) {
            Ok(ports) => {
                for port in ports {
                    println!("{port}");
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("sse-bench: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("sse-bench: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(measures::run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("sse-bench: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

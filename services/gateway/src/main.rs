//! The gateway on its own: `gateway serve`, pointed at the services by `initiatives_url`,
//! `indicators_url` and `law_guide_url` (see the README's configuration table).

fn main() -> std::process::ExitCode {
    sse_platform::cli::run("gateway", &[&sse_gateway::Module])
}

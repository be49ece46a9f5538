//! The whole observatory in one process, the embedded default: `observatory serve` runs every
//! service on one gRPC port, on an embedded SQLite database unless told otherwise.

fn main() -> std::process::ExitCode {
    sse_platform::cli::run(
        "observatory",
        &[
            &sse_initiatives::Module,
            &sse_indicators::Module,
            &sse_law_guide::Module,
            &sse_gateway::Module,
        ],
    )
}

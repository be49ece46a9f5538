//! The law guide on its own: `law-guide serve|migrate|seed`, configured like the observatory
//! (see the root README's configuration table).

fn main() -> std::process::ExitCode {
    sse_platform::cli::run("law-guide", &[&sse_law_guide::Module])
}

//! The indicators service on its own: `indicators serve|migrate|seed`. It reaches the
//! initiatives service at `initiatives_url` (see the README's configuration table).

fn main() -> std::process::ExitCode {
    sse_platform::cli::run("indicators", &[&sse_indicators::Module])
}

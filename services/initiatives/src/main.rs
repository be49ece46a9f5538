//! The initiatives service on its own: `initiatives serve|migrate|seed`, configured like the
//! observatory (see the README's configuration table).

fn main() -> std::process::ExitCode {
    sse_platform::cli::run("initiatives", &[&sse_initiatives::Module])
}

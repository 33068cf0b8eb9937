//! `mllmu bench ...` (owner: bench)
use clap::Subcommand;

/// Benchmark folder commands.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Print counts per folder.
    Stats {
        /// The benchmark folder.
        dir: std::path::PathBuf,
    },
}

pub fn run(_c: BenchCommand) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "bench",
        "not implemented yet",
    ))
}

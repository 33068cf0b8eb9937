//! `mllmu generate` and `mllmu bench-model` (owner: model)

/// Arguments of `mllmu generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {}
/// Arguments of `mllmu bench-model`.
#[derive(clap::Args)]
pub struct BenchModelArgs {}

pub fn run_generate(_a: GenerateArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "generate",
        "not implemented yet",
    ))
}
pub fn run_bench_model(_a: BenchModelArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "bench-model",
        "not implemented yet",
    ))
}

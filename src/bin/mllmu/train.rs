//! `mllmu finetune` and `mllmu unlearn` (owner: train)

/// Arguments of `mllmu finetune`.
#[derive(clap::Args)]
pub struct FinetuneArgs {}
/// Arguments of `mllmu unlearn`.
#[derive(clap::Args)]
pub struct UnlearnArgs {}

pub fn run_finetune(_a: FinetuneArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "finetune",
        "not implemented yet",
    ))
}
pub fn run_unlearn(_a: UnlearnArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "unlearn",
        "not implemented yet",
    ))
}

//! `mllmu judge` (owner: judge)

/// Arguments of `mllmu judge`.
#[derive(clap::Args)]
pub struct JudgeArgs {}

pub fn run(_a: JudgeArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "judge",
        "not implemented yet",
    ))
}

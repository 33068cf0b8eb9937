//! `mllmu eval` and `mllmu score-text` (owner: eval)

/// Arguments of `mllmu eval`.
#[derive(clap::Args)]
pub struct EvalArgs {}
/// Arguments of `mllmu score-text`.
#[derive(clap::Args)]
pub struct ScoreTextArgs {}

pub fn run_eval(_a: EvalArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "eval",
        "not implemented yet",
    ))
}
pub fn run_score_text(_a: ScoreTextArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "score-text",
        "not implemented yet",
    ))
}

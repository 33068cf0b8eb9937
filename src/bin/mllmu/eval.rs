//! `mllmu eval` and `mllmu score-text` (owner: eval)

use mllmu::eval::metrics::score_text;
use mllmu::Error;
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Arguments of `mllmu eval`.
#[derive(clap::Args)]
pub struct EvalArgs {}

/// Arguments of `mllmu score-text`.
#[derive(clap::Args)]
pub struct ScoreTextArgs {
    /// JSONL file, one `{"ground_truth": ..., "prediction": ...}` object per line.
    #[arg(long, value_name = "PAIRS.jsonl")]
    pub input: PathBuf,
}

pub fn run_eval(_a: EvalArgs) -> mllmu::Result<()> {
    Err(mllmu::Error::param(
        "command",
        "eval",
        "not implemented yet",
    ))
}

/// One input line of `score-text`; other keys (`id`, `tag`) are ignored.
#[derive(serde::Deserialize)]
struct Pair {
    ground_truth: String,
    prediction: String,
}

/// Prints `{"rouge1", "rouge2", "rougeL", "bleu"}` per input line (blank lines skipped).
pub fn run_score_text(a: ScoreTextArgs) -> mllmu::Result<()> {
    let file = std::fs::File::open(&a.input).map_err(|e| Error::io("open", &a.input, e))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let where_ = format!("{} line {}", a.input.display(), i + 1);
        let line = line.map_err(|e| Error::io("read", &a.input, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let pair: Pair = serde_json::from_str(&line).map_err(|e| Error::Json {
            file: where_.clone(),
            reason: format!("{e}\nhint: each line must be an object with string fields \"ground_truth\" and \"prediction\""),
        })?;
        let scores = score_text(&pair.ground_truth, &pair.prediction);
        let text = serde_json::to_string(&scores).map_err(|e| Error::Json {
            file: where_,
            reason: e.to_string(),
        })?;
        writeln!(out, "{text}").map_err(|e| Error::io("write", "<stdout>", e))?;
    }
    out.flush().map_err(|e| Error::io("write", "<stdout>", e))
}

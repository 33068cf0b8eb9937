//! `mllmu eval` and `mllmu score-text` (owner: eval)

use crate::device_args::DeviceArgs;
use crate::eval_choices::EvalChoices;
use crate::model_args::ModelArgs;
use crate::train::open_bench;
use mllmu::eval::beyond::holdout::holdout_set;
use mllmu::eval::beyond::BeyondOptions;
use mllmu::eval::items::EvalMode;
use mllmu::eval::metrics::score_text;
use mllmu::eval::Evaluate;
use mllmu::model::device;
use mllmu::Error;
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// The sets `--sets` accepts.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetArg {
    /// Evaluate the forget split
    Forget,
    /// Evaluate the Test_Set rows of the forget profiles
    Test,
    /// Evaluate the retain split
    Retain,
    /// Evaluate the celebrities
    Celebrity,
}

impl SetArg {
    /// The evaluation set this names.
    pub fn mode(self) -> EvalMode {
        match self {
            SetArg::Forget => EvalMode::Forget,
            SetArg::Test => EvalMode::Test,
            SetArg::Retain => EvalMode::RetainShared,
            SetArg::Celebrity => EvalMode::RetainCelebrity,
        }
    }
}

/// Arguments of `mllmu eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Read the benchmark from this folder or dataset hub id with an optional `@revision`
    /// (`MLLMMU/MLLMU-Bench`)
    #[arg(long, value_name = "DIR_OR_HUB_ID")]
    pub bench: String,
    /// Pick the forget ratio in percent: 5, 10 or 15
    #[arg(long, value_name = "PERCENT", default_value_t = 5)]
    pub forget: u8,
    /// Write the result files, report.json and the generation cache here
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed every random choice (few-shot IDs, test images, bootstrap)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Generate this many questions at once
    #[arg(long, value_name = "N", default_value_t = mllmu::eval::options::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Print the summary as JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Fix the reference's evaluation flaws (few-shot outside the evaluated set, new-token decoding)
    #[arg(long)]
    pub corrected: bool,
    /// Evaluate only these sets (comma-separated) [default: all four]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SET,...")]
    pub sets: Vec<SetArg>,
    /// Evaluate only the first N profiles of each set
    #[arg(long, value_name = "N")]
    pub max_profiles: Option<usize>,
    #[command(flatten)]
    pub choices: EvalChoices,
    /// Name the final results file NAME_final_evaluation_results.json
    #[arg(long, value_name = "NAME", default_value = "mllmu")]
    pub name: String,
    /// Neither read nor write the generation cache
    #[arg(long)]
    pub no_cache: bool,
    /// Stop with an error after N new generations (they stay cached; rerun to resume)
    #[arg(long, value_name = "N")]
    pub max_new_generations: Option<usize>,
    /// Hide the progress bar
    #[arg(long)]
    pub no_progress: bool,
    /// Recompute the shared few-shot prefix for every batch instead of reusing its KV cache
    #[arg(long)]
    pub no_prefix_reuse: bool,
    /// Also measure truth ratios, membership inference and cross-modal consistency
    /// ("beyond" in --json)
    #[arg(long)]
    pub beyond: bool,
    /// Add forget quality and PrivLeak against this retain-only model (`finetune
    /// --exclude-forget`), a folder or hub id (implies --beyond)
    #[arg(long, value_name = "DIR_OR_HUB_ID")]
    pub retain_model: Option<String>,
    /// Draw membership non-members from a folder of --bench (e.g. forget_15 for a model fine-tuned
    /// with --exclude-forget 15) or another benchmark [default: a retain sample] (implies --beyond)
    #[arg(long, value_name = "FOLDER_OR_DIR")]
    pub holdout_from: Option<String>,
    /// Score this many retain profiles for the beyond numbers (a seeded sample)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub beyond_retain_profiles: usize,
}

impl EvalArgs {
    fn options(&self) -> mllmu::Result<Evaluate> {
        let mut e = if self.corrected {
            Evaluate::corrected()
        } else {
            Evaluate::paper()
        };
        e = e
            .with_seed(self.seed)
            .with_batch_size(self.batch_size)
            .with_name(&self.name)
            .with_cache(!self.no_cache)
            .with_progress(!self.no_progress)
            .with_reuse_prefix(!self.no_prefix_reuse);
        if !self.sets.is_empty() {
            let modes: Vec<EvalMode> = self.sets.iter().map(|s| s.mode()).collect();
            e = e.with_sets(&modes);
        }
        e.max_profiles = self.max_profiles;
        e.max_new_generations = self.max_new_generations;
        self.choices.apply(e)
    }
}

/// Arguments of `mllmu score-text`.
#[derive(clap::Args)]
pub struct ScoreTextArgs {
    /// Read the pairs from this JSONL file, one `{"ground_truth": ..., "prediction": ...}` per line
    #[arg(long, value_name = "PAIRS.jsonl")]
    pub input: PathBuf,
}

/// Runs `mllmu eval`: loads model and benchmark, evaluates, writes the files, prints the
/// summary.
pub fn run_eval(a: EvalArgs) -> mllmu::Result<()> {
    let (dev, dtype) = a.device.resolve()?;
    let opts = a.options()?;
    let bench = open_bench(&a.bench)?;
    let split = bench.split(a.forget)?;
    let model = a.model.load(&dev, dtype)?;
    eprintln!(
        "evaluating {} on {} (forget {} %) on {} in {dtype:?}",
        a.model.model,
        a.bench,
        a.forget,
        device::describe(&dev)
    );
    let mut report = opts.run(&model, &bench, &split, &a.out)?;
    if a.beyond || a.retain_model.is_some() || a.holdout_from.is_some() {
        let holdout = (a.holdout_from.as_deref())
            .map(|spec| holdout_set(&bench, &split, spec))
            .transpose()?;
        let retain = (a.retain_model.as_ref())
            .map(|spec| {
                let processor_from = a.model.processor_from.clone();
                ModelArgs {
                    model: spec.clone(),
                    processor_from,
                }
                .load(&dev, dtype)
            })
            .transpose()?;
        let b = BeyondOptions {
            batch_size: a.batch_size,
            retain_profiles: a.beyond_retain_profiles,
            seed: a.seed,
            ..BeyondOptions::default()
        };
        eprintln!("measuring truth ratios, membership inference and cross-modal consistency");
        let run = b.run(
            &model,
            retain.as_ref().zip(a.retain_model.as_deref()),
            &split,
            holdout.as_ref(),
        )?;
        report = report.with_beyond(run);
        report.write(&a.out)?;
    }
    eprintln!(
        "{} generations computed, {} from the cache, {:.1} s; wrote {}",
        report.run.new_generations,
        report.run.cached_generations,
        report.run.total_seconds,
        a.out.display()
    );
    if a.json {
        println!("{}", mllmu::io::to_json_indent4(&report.summary_json())?);
    } else {
        println!("{report}");
    }
    Ok(())
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
            source: Some(Box::new(e)),
        })?;
        let scores = score_text(&pair.ground_truth, &pair.prediction);
        let text = serde_json::to_string(&scores).map_err(|e| Error::json(where_, e))?;
        writeln!(out, "{text}").map_err(|e| Error::io("write", "<stdout>", e))?;
    }
    out.flush().map_err(|e| Error::io("write", "<stdout>", e))
}

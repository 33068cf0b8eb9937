//! [`Report`]: every question of an evaluation with its prompt, images, output, answer and
//! score; summaries with bootstrap intervals; the reference's numbers; and a manifest of
//! everything needed to reproduce the run. Saved as `report.json` beside the reference's
//! files, loaded back with [`Report::load`], shown in notebooks, turned into a polars
//! `DataFrame` with one row per question.

use crate::display::Table;
use crate::eval::extract::Extraction;
use crate::eval::fewshot::{FewShotDraw, ModelFamily};
use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::metrics::accuracy::mean;
use crate::eval::metrics::bootstrap::{
    bootstrap_ci, BootstrapOptions, ConfidenceInterval, ProfileScore,
};
use crate::eval::metrics::TextScores;
use crate::eval::options::Evaluate;
use crate::eval::plan::{ImageRef, SkippedQuestion, TestImageDraw};
use crate::eval::reference_files::{
    Accuracy, FinalResults, GenerationAverages, GenerationRecord, GenerationResults,
};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file a report is saved to inside its output folder.
pub const REPORT_FILE: &str = "report.json";

/// One asked question and everything that came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionResult {
    /// Evaluation set.
    pub set: EvalMode,
    /// Task.
    pub task: Task,
    /// Modality.
    pub modality: Modality,
    /// Profile ID.
    pub profile: String,
    /// Question index (classification: in its modality's list; cloze: in `Mask_Task`;
    /// generation: in `Generation_Task`).
    pub index: usize,
    /// The question text as stored.
    pub question: String,
    /// The stored `Type` (open questions) or the modality (classification).
    pub question_type: String,
    /// Options A–D (classification).
    pub options: Option<[String; 4]>,
    /// `Correct_Answer` (classification) or `Ground_Truth`.
    pub ground_truth: String,
    /// The full prompt text (few-shot block included, `<image>` unexpanded).
    pub prompt: String,
    /// Prompt length in tokens (image tokens expanded).
    pub prompt_tokens: usize,
    /// Images shown, few-shot first, the query image last.
    pub images: Vec<ImageRef>,
    /// The generated text (new tokens only, special tokens skipped).
    pub raw_output: String,
    /// Number of new tokens.
    pub new_tokens: usize,
    /// Whether generation ended on an end-of-sequence token.
    pub stopped_on_eos: bool,
    /// The extracted answer (the reference's `resp` / `predicted_answer`).
    pub answer: String,
    /// The parsed letter (classification).
    pub predicted: Option<char>,
    /// Whether the answer is right (classification, cloze).
    pub correct: Option<bool>,
    /// Whether the reply did not start with a letter A–D (classification).
    pub format_failure: Option<bool>,
    /// ROUGE-1/2/L and BLEU (generation).
    pub text_scores: Option<TextScores>,
    /// Log-probabilities of the letters A–D as first new token (classification).
    pub option_logprobs: Option<[f64; 4]>,
    /// The most likely letter by log-likelihood (classification).
    pub likelihood_choice: Option<char>,
    /// Whether that letter is right.
    pub likelihood_correct: Option<bool>,
    /// The headline score: 100 or 0 for classification and cloze (percent), ROUGE-L F for
    /// generation.
    pub score: f64,
}

/// Numbers of one set × task × modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// Evaluation set.
    pub set: EvalMode,
    /// Task.
    pub task: Task,
    /// Modality.
    pub modality: Modality,
    /// Questions scored.
    pub n: usize,
    /// Questions skipped (few-shot profiles, unknown types).
    pub skipped: usize,
    /// Accuracy in percent (classification, cloze; 0 when `n` is 0, as the reference).
    pub accuracy: Option<f64>,
    /// Replies that did not start with a letter A–D (classification).
    pub format_failures: Option<usize>,
    /// Accuracy in percent of the log-likelihood scorer (classification).
    pub likelihood_accuracy: Option<f64>,
    /// Mean ROUGE-1 F (generation).
    pub rouge1: Option<f64>,
    /// Mean ROUGE-2 F (generation).
    pub rouge2: Option<f64>,
    /// Mean ROUGE-L F (generation).
    #[serde(rename = "rougeL")]
    pub rouge_l: Option<f64>,
    /// Mean BLEU (generation).
    pub bleu: Option<f64>,
    /// Bootstrap interval (profiles resampled) of the headline score.
    pub ci: Option<ConfidenceInterval>,
}

/// How the dataset was identified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetFingerprint {
    /// The folder opened.
    pub root: String,
    /// SHA-256 over the relative path and byte size of every parquet file of every opened
    /// folder, in folder then file order. Cheap (no file is read) and changes whenever a
    /// file is added, removed, renamed or resized; a same-size in-place edit goes unseen.
    pub fingerprint: String,
    /// Number of parquet files covered.
    pub files: usize,
}

/// The `eval --json` key of a set: `forget`, `test`, `retain` or `celebrity`.
///
/// ```
/// use mllmu::eval::{items::EvalMode, report::set_key};
/// assert_eq!(set_key(EvalMode::RetainShared), "retain");
/// ```
pub fn set_key(set: EvalMode) -> &'static str {
    match set {
        EvalMode::Forget => "forget",
        EvalMode::Test => "test",
        EvalMode::RetainShared => "retain",
        EvalMode::RetainCelebrity => "celebrity",
    }
}

/// The `eval --json` key of a task: `classification`, `cloze` or `generation`.
pub fn task_key(task: Task) -> &'static str {
    match task {
        Task::Classification => "classification",
        Task::Cloze => "cloze",
        Task::Generation => "generation",
    }
}

/// Everything needed to reproduce a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// mllmu version (`CARGO_PKG_VERSION`).
    pub mllmu_version: String,
    /// The options.
    pub options: Evaluate,
    /// SPEC §8 flaws the options correct.
    pub corrections: Vec<String>,
    /// Model family (few-shot counts, token limits).
    pub family: ModelFamily,
    /// Checkpoint folder.
    pub model_dir: String,
    /// Where the tokenizer and processor came from (`model_dir`, or the base model of a
    /// weight-only checkpoint).
    #[serde(default)]
    pub processor_dir: String,
    /// [`Model::weights_hash`](crate::model::Model::weights_hash).
    pub weights_hash: String,
    /// Compute dtype.
    pub dtype: String,
    /// Device (`cpu`, `cuda:0`).
    pub device: String,
    /// Dataset identity.
    pub dataset: DatasetFingerprint,
    /// Forget ratio in percent.
    pub forget_ratio: u8,
    /// The sets evaluated, in run order.
    pub sets: Vec<EvalMode>,
    /// Every few-shot draw (IDs and shown question indices).
    pub fewshot_draws: Vec<FewShotDraw>,
    /// Every test-image draw.
    pub test_images: Vec<TestImageDraw>,
    /// Token ids of `" A"`…`" D"` after `ASSISTANT:` used by the likelihood scorer.
    pub option_token_ids: Option<[u32; 4]>,
    /// End-of-sequence ids generation stops on.
    pub eos_token_ids: Vec<u32>,
}

/// Wall-clock seconds of one set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTiming {
    /// Evaluation set.
    pub set: EvalMode,
    /// Seconds spent generating its questions.
    pub seconds: f64,
}

/// What this particular run did (differs between a fresh and a resumed run; everything else
/// in the report does not).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Generations computed by this run.
    pub new_generations: usize,
    /// Generations read from the cache.
    pub cached_generations: usize,
    /// Unreadable cache lines skipped at open.
    pub cache_lines_skipped: usize,
    /// The cache file, if one was used.
    pub cache_path: Option<String>,
    /// Seconds for planning (reading images, hashing weights).
    pub setup_seconds: f64,
    /// Seconds generating, per set.
    pub sets: Vec<SetTiming>,
    /// Total seconds.
    pub total_seconds: f64,
    /// New tokens generated by this run.
    pub new_tokens: usize,
    /// Batched generation calls of this run: each decodes up to `batch_size` questions of
    /// one set, task and modality together (0 in reports written before it was counted).
    #[serde(default)]
    pub batches: usize,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// How the run was made.
    pub manifest: Manifest,
    /// One entry per set × task × modality evaluated.
    pub summary: Vec<CellSummary>,
    /// The reference's final numbers (`{name}_final_evaluation_results.json`).
    pub final_results: FinalResults,
    /// Every asked question, in evaluation order.
    pub questions: Vec<QuestionResult>,
    /// Every question not asked, with the reason.
    pub skipped: Vec<SkippedQuestion>,
    /// Counts and timings of this run.
    pub run: RunStats,
    /// Truth ratios, forget quality, membership inference and cross-modal consistency, when
    /// measured (`mllmu eval --beyond` / `--retain-model`, [`Report::with_beyond`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beyond: Option<crate::eval::beyond::BeyondRun>,
}

fn cell_ci(qs: &[&QuestionResult], opts: &BootstrapOptions) -> Result<Option<ConfidenceInterval>> {
    let items: Vec<ProfileScore> = qs
        .iter()
        .map(|q| ProfileScore::new(q.profile.clone(), q.score))
        .collect();
    (!items.is_empty())
        .then(|| bootstrap_ci(&items, opts))
        .transpose()
}

fn percent(hits: usize, n: usize) -> f64 {
    Accuracy::from_counts(hits, n).value()
}

impl Report {
    /// Builds summaries and the reference's numbers from scored questions.
    pub(crate) fn build(
        manifest: Manifest,
        questions: Vec<QuestionResult>,
        skipped: Vec<SkippedQuestion>,
        run: RunStats,
    ) -> Result<Report> {
        let boot = BootstrapOptions {
            seed: manifest.options.seed,
            ..manifest.options.bootstrap
        };
        let mut summary = Vec::new();
        let mut final_results = FinalResults::default();
        for &set in &manifest.sets {
            for task in [Task::Classification, Task::Cloze, Task::Generation] {
                for modality in Modality::ALL {
                    let qs: Vec<&QuestionResult> = questions
                        .iter()
                        .filter(|q| q.set == set && q.task == task && q.modality == modality)
                        .collect();
                    let n = qs.len();
                    let n_skipped = skipped
                        .iter()
                        .filter(|s| s.set == set && s.task == task && s.modality == Some(modality))
                        .count();
                    let count =
                        |f: fn(&&QuestionResult) -> bool| qs.iter().copied().filter(f).count();
                    let hits = count(|q| q.correct == Some(true));
                    let (is_gen, is_cls) = (task == Task::Generation, task == Task::Classification);
                    let col = |f: fn(&TextScores) -> f64| {
                        let v = qs.iter().filter_map(|q| q.text_scores.as_ref().map(f));
                        is_gen.then(|| mean(&v.collect::<Vec<_>>())).flatten()
                    };
                    summary.push(CellSummary {
                        set,
                        task,
                        modality,
                        n,
                        skipped: n_skipped,
                        accuracy: (!is_gen).then(|| percent(hits, n)),
                        format_failures: is_cls.then(|| count(|q| q.format_failure == Some(true))),
                        likelihood_accuracy: (is_cls
                            && qs.iter().all(|q| q.likelihood_correct.is_some())
                            && n > 0)
                            .then(|| percent(count(|q| q.likelihood_correct == Some(true)), n)),
                        rouge1: col(|s| s.rouge1),
                        rouge2: col(|s| s.rouge2),
                        rouge_l: col(|s| s.rouge_l),
                        bleu: col(|s| s.bleu),
                        ci: cell_ci(&qs, &boot)?,
                    });
                    let s = final_results.section_mut(set);
                    let (cls, cloze) = (&mut s.classification, &mut s.fill_in_the_blank);
                    let slot = match (task, modality) {
                        (Task::Classification, Modality::ImageTextual) => &mut cls.image_textual,
                        (Task::Classification, Modality::PureText) => &mut cls.pure_text,
                        (Task::Cloze, Modality::ImageTextual) => &mut cloze.image_textual_accuracy,
                        (Task::Cloze, Modality::PureText) => &mut cloze.pure_text_accuracy,
                        (Task::Generation, _) => continue,
                    };
                    *slot = Accuracy::from_counts(hits, n);
                }
            }
            let scores = |m: Modality| -> Vec<TextScores> {
                questions
                    .iter()
                    .filter(|q| q.set == set && q.task == Task::Generation && q.modality == m)
                    .filter_map(|q| q.text_scores)
                    .collect()
            };
            final_results.section_mut(set).generation = GenerationAverages::from_scores(
                &scores(Modality::ImageTextual),
                &scores(Modality::PureText),
            );
        }
        Ok(Report {
            manifest,
            summary,
            final_results,
            questions,
            skipped,
            run,
            beyond: None,
        })
    }

    /// The report with the [`BeyondRun`](crate::eval::beyond::BeyondRun) numbers attached
    /// (they appear under `"beyond"` / `"beyond_ci95"` in [`Report::summary_json`], in the
    /// display, and in `report.json` once [`Report::write`] runs again).
    pub fn with_beyond(mut self, beyond: crate::eval::beyond::BeyondRun) -> Report {
        self.beyond = Some(beyond);
        self
    }

    /// The generation dump of one set, in evaluation order.
    pub fn generation_results(&self, set: EvalMode) -> GenerationResults {
        GenerationResults {
            generation_questions: self
                .questions
                .iter()
                .filter(|q| q.set == set && q.task == Task::Generation)
                .map(|q| GenerationRecord {
                    image_id: q.profile.clone(),
                    question_type: q.question_type.clone(),
                    question: q.question.clone(),
                    generated_answer: q.answer.clone(),
                    ground_truth: q.ground_truth.clone(),
                })
                .collect(),
        }
    }

    /// Writes `report.json`, `{name}_final_evaluation_results.json` and one
    /// `{set}_generation_results.json` per evaluated set into `dir`; returns the paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for &set in &self.manifest.sets {
            paths.push(self.generation_results(set).write(dir, set)?);
        }
        paths.push(self.final_results.write(dir, &self.manifest.options.name)?);
        let report = dir.join(REPORT_FILE);
        crate::io::write_json(&report, self)?;
        paths.push(report);
        Ok(paths)
    }

    /// Loads `report.json` from an output folder (or the file itself).
    pub fn load(path: impl AsRef<Path>) -> Result<Report> {
        let path = path.as_ref();
        let file = if path.is_dir() {
            path.join(REPORT_FILE)
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(Error::MissingFile {
                path: file,
                hint: "give the output folder of `mllmu eval` (or `Evaluate::run`), which holds report.json".into(),
            });
        }
        // Floats read back bit for bit (serde_json's `float_roundtrip`).
        crate::io::read_json(&file)
    }

    /// The summary cell of one set × task × modality.
    pub fn cell(&self, set: EvalMode, task: Task, modality: Modality) -> Option<&CellSummary> {
        self.summary
            .iter()
            .find(|c| c.set == set && c.task == task && c.modality == modality)
    }

    /// How answers were extracted.
    pub fn extraction(&self) -> Extraction {
        self.manifest.options.extraction
    }

    /// The compact JSON of `mllmu eval --json`: `{"sets": {set: {"classification" |
    /// "cloze": {modality: {"n", "accuracy", ...}}, "generation": {modality: {"n", "rouge1",
    /// "rouge2", "rougeL", "bleu"}}}}}` with set keys `forget`, `test`, `retain`,
    /// `celebrity` and modality keys `image_textual`, `pure_text`. Empty cells have `n` 0
    /// and 0 for every number. With [`Report::beyond`] also `"beyond": {"truth_ratio":
    /// {"forget", "test", "retain"}, "forget_quality", "mia_auc": {"loss", "zlib", "min_k",
    /// "min_k_pp"}, "privleak", "cross_modal_consistency"}` and `"beyond_ci95"` (their
    /// intervals over profiles), `null` where an input is missing.
    pub fn summary_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let mut sets = Map::new();
        for &set in &self.manifest.sets {
            let mut tasks = Map::new();
            for task in [Task::Classification, Task::Cloze, Task::Generation] {
                let mut mods = Map::new();
                for m in Modality::ALL {
                    let Some(c) = self.cell(set, task, m) else {
                        continue;
                    };
                    let z = |x: Option<f64>| x.unwrap_or(0.0);
                    let mut v = match task {
                        Task::Generation => {
                            json!({"n": c.n, "rouge1": z(c.rouge1), "rouge2": z(c.rouge2), "rougeL": z(c.rouge_l), "bleu": z(c.bleu)})
                        }
                        _ => json!({"n": c.n, "accuracy": z(c.accuracy)}),
                    };
                    if let (Some(f), Value::Object(o)) = (c.format_failures, &mut v) {
                        o.insert("format_failures".into(), json!(f));
                        o.insert("likelihood_accuracy".into(), json!(c.likelihood_accuracy));
                    }
                    if let (Some(ci), Value::Object(o)) = (c.ci, &mut v) {
                        o.insert("ci95".into(), json!([ci.low, ci.high]));
                    }
                    if let Value::Object(o) = &mut v {
                        o.insert("skipped".into(), json!(c.skipped));
                    }
                    mods.insert(m.as_str().to_lowercase(), v);
                }
                tasks.insert(task_key(task).into(), Value::Object(mods));
            }
            sets.insert(set_key(set).into(), Value::Object(tasks));
        }
        let mut out = json!({"sets": sets});
        if let (Some(b), Value::Object(o)) = (&self.beyond, &mut out) {
            let (beyond, ci) = b.json();
            o.insert("beyond".into(), beyond);
            o.insert("beyond_ci95".into(), ci);
        }
        out
    }

    fn table(&self) -> Table {
        let scored = self.questions.len();
        let mut t = Table::new(
            format!(
                "MLLMU-Bench evaluation: {scored} questions scored, {} skipped, {} generated now, {} from cache (accuracy %, ROUGE-L F; 95% CI over profiles)",
                self.skipped.len(),
                self.run.new_generations,
                self.run.cached_generations
            ),
            ["set", "task", "modality", "n", "skipped", "score", "95% CI", "format fail", "LL acc", "BLEU"],
        );
        for c in &self.summary {
            let score = match c.task {
                Task::Generation => c.rouge_l.map_or("-".into(), |v| format!("{v:.4}")),
                _ => c.accuracy.map_or("-".into(), |v| format!("{v:.2}")),
            };
            let ci = c.ci.map_or("-".into(), |ci| match c.task {
                Task::Generation => format!("[{:.4}, {:.4}]", ci.low, ci.high),
                _ => format!("[{:.1}, {:.1}]", ci.low, ci.high),
            });
            t.push([
                c.set.as_str().to_string(),
                c.task.as_str().to_string(),
                c.modality.as_str().to_string(),
                c.n.to_string(),
                c.skipped.to_string(),
                score,
                ci,
                c.format_failures.map_or("-".into(), |f| f.to_string()),
                c.likelihood_accuracy
                    .map_or("-".into(), |v| format!("{v:.2}")),
                c.bleu.map_or("-".into(), |v| format!("{v:.4}")),
            ]);
        }
        t
    }

    /// The summary table, then the beyond numbers when measured.
    fn tables(&self) -> Vec<Table> {
        let beyond = self.beyond.as_ref();
        let beyond = beyond.map(|b| crate::eval::beyond::table::beyond_table(&[("this model", b)]));
        std::iter::once(self.table()).chain(beyond).collect()
    }
}

table_views!(
    Report,
    "An HTML table of the summary (and of the beyond numbers, when measured)."
);

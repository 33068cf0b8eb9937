//! [`Evaluate`]: the options of an evaluation run, with the reference protocol
//! ([`Evaluate::paper`]) and a corrected one ([`Evaluate::corrected`]) as presets.

use crate::eval::extract::Extraction;
use crate::eval::fewshot::{FewShotOptions, ModelFamily, ShotPool};
use crate::eval::items::{EvalMode, Modality, Task};
use crate::eval::metrics::bootstrap::BootstrapOptions;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Default questions per generation batch.
pub const DEFAULT_BATCH_SIZE: usize = 8;

/// The name of the generation cache in the output folder.
pub const CACHE_FILE: &str = "generation_cache.jsonl";

/// How to evaluate a model on MLLMU-Bench. Plain public fields (set them directly or with
/// the `with_*` setters), then [`Evaluate::run`](crate::eval::Evaluate::run).
///
/// ```
/// use mllmu::eval::{Evaluate, items::EvalMode};
/// let e = Evaluate::paper().with_seed(3).with_sets(&[EvalMode::Forget]).with_max_profiles(2);
/// assert_eq!((e.seed, e.batch_size, e.max_profiles), (3, 8, Some(2)));
/// assert!(Evaluate::corrected().corrections().iter().any(|c| c.starts_with("Q3")));
/// assert!(Evaluate::paper().corrections().iter().all(|c| c.starts_with("Q1")));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluate {
    /// Seed of every random choice (few-shot IDs, test images, bootstrap).
    pub seed: u64,
    /// Where few-shot profiles come from (reference: the evaluated set itself, SPEC Q3).
    pub shot_pool: ShotPool,
    /// Few-shot profile IDs per task; `None` keeps the reference's per-family counts.
    pub shots: Option<usize>,
    /// Few-shot profile IDs for one task, overriding [`Evaluate::shots`] for it (the
    /// reference's vanilla model recovers on image multiple choice with one shot).
    #[serde(default)]
    pub task_shots: Vec<(Task, usize)>,
    /// How answers are cut out of the decoded output (SPEC Q7).
    pub extraction: Extraction,
    /// New tokens per question; `None` keeps the reference (50, Idefics2 pure-text
    /// classification 5).
    pub max_new_tokens: Option<usize>,
    /// Model family deciding few-shot counts; `None` reads `model_type` from the
    /// checkpoint's `config.json`.
    pub family: Option<ModelFamily>,
    /// The sets to evaluate, run in the reference's order whatever the order here.
    pub sets: Vec<EvalMode>,
    /// Evaluate only the first N profiles of each set (quick notebook runs); the few-shot
    /// pool shrinks with it.
    pub max_profiles: Option<usize>,
    /// Evaluate a seeded sample of N profiles of a set (the `test` set follows the `forget`
    /// sample, since its rows are the forget profiles); see [`Evaluate::with_sample`].
    #[serde(default)]
    pub samples: Vec<(EvalMode, usize)>,
    /// Questions per generation batch (left-padded).
    pub batch_size: usize,
    /// Compute the few-shot prefix shared by a task's prompts once and reuse its KV cache.
    pub reuse_prefix: bool,
    /// Read and append the generation cache (resumes a killed run, skips finished work).
    pub use_cache: bool,
    /// The cache file; `None` puts [`CACHE_FILE`] in the output folder.
    pub cache_path: Option<PathBuf>,
    /// Stop with an error after this many new generations (simulates a killed run; what
    /// was generated stays in the cache).
    pub max_new_generations: Option<usize>,
    /// Score classification also by the log-likelihood of the four option letters.
    pub option_likelihood: bool,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Bootstrap settings of the confidence intervals (its seed is [`Evaluate::seed`]).
    pub bootstrap: BootstrapOptions,
    /// `{name}_final_evaluation_results.json`.
    pub name: String,
}

impl Default for Evaluate {
    fn default() -> Self {
        Evaluate::paper()
    }
}

/// `with_*` setters: `name(arg: Type) field = value;` makes `pub fn name(mut self, arg: Type)`
/// that sets `self.field = value` and returns `self`.
macro_rules! setters {
    ($($name:ident($arg:ident: $ty:ty) $field:ident = $val:expr;)*) => {$(
        #[doc = concat!("Sets [`Evaluate::", stringify!($field), "`].")]
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$field = $val;
            self
        }
    )*};
}

impl Evaluate {
    /// The reference protocol (SPEC §2-3), seeded with 0: few-shot from the evaluated set,
    /// reference decoding and extraction, all four sets.
    pub fn paper() -> Self {
        Evaluate {
            seed: 0,
            shot_pool: ShotPool::Evaluated,
            shots: None,
            task_shots: Vec::new(),
            extraction: Extraction::Reference,
            max_new_tokens: None,
            family: None,
            sets: EvalMode::ALL.to_vec(),
            max_profiles: None,
            samples: Vec::new(),
            batch_size: DEFAULT_BATCH_SIZE,
            reuse_prefix: true,
            use_cache: true,
            cache_path: None,
            max_new_generations: None,
            option_likelihood: true,
            progress: true,
            bootstrap: BootstrapOptions::default(),
            name: "mllmu".into(),
        }
    }

    /// The reference protocol with the evaluation flaws of SPEC §8 fixed where an option
    /// exists: few-shot profiles drawn outside the evaluated set (Q3, Q4, Q5: nothing is
    /// skipped, celebrities get the same treatment), and answers read from the new tokens
    /// only (Q7). Seeds (Q1) are always on.
    pub fn corrected() -> Self {
        Evaluate {
            shot_pool: ShotPool::Disjoint,
            extraction: Extraction::NewTokens,
            ..Evaluate::paper()
        }
    }

    setters! {
        with_seed(seed: u64) seed = seed;
        with_shot_pool(pool: ShotPool) shot_pool = pool;
        with_shots(k: usize) shots = Some(k);
        with_extraction(extraction: Extraction) extraction = extraction;
        with_max_new_tokens(n: usize) max_new_tokens = Some(n);
        with_family(family: ModelFamily) family = Some(family);
        with_sets(sets: &[EvalMode]) sets = sets.to_vec();
        with_max_profiles(n: usize) max_profiles = Some(n);
        with_batch_size(n: usize) batch_size = n;
        with_reuse_prefix(on: bool) reuse_prefix = on;
        with_cache(on: bool) use_cache = on;
        with_cache_path(path: impl Into<PathBuf>) cache_path = Some(path.into());
        with_max_new_generations(n: usize) max_new_generations = Some(n);
        with_option_likelihood(on: bool) option_likelihood = on;
        with_progress(on: bool) progress = on;
        with_name(name: impl Into<String>) name = name.into();
    }

    /// Sets the few-shot count of one task ([`Evaluate::task_shots`]); generation is
    /// always zero-shot.
    ///
    /// ```
    /// use mllmu::eval::{Evaluate, items::Task};
    /// let e = Evaluate::paper().with_shots(2).with_task_shots(Task::Classification, 1);
    /// assert_eq!(e.fewshot_for(Task::Classification).k, Some(1));
    /// assert_eq!(e.fewshot_for(Task::Cloze).k, Some(2));
    /// ```
    pub fn with_task_shots(mut self, task: Task, k: usize) -> Self {
        self.task_shots.retain(|(t, _)| *t != task);
        self.task_shots.push((task, k));
        self
    }

    /// Evaluates a seeded sample of `n` profiles of `set` (drawn with [`Evaluate::seed`],
    /// kept in the set's order) instead of all of them: the whole forget set and a sample
    /// of the large retain set, say. The few-shot pool shrinks with it, as with
    /// [`Evaluate::with_max_profiles`].
    ///
    /// ```
    /// use mllmu::eval::{Evaluate, items::EvalMode};
    /// let e = Evaluate::paper().with_sample(EvalMode::RetainShared, 20);
    /// assert_eq!(e.samples, vec![(EvalMode::RetainShared, 20)]);
    /// ```
    pub fn with_sample(mut self, set: EvalMode, n: usize) -> Self {
        self.samples.retain(|(s, _)| *s != set);
        self.samples.push((set, n));
        self
    }

    /// The few-shot options these settings imply (per-task counts aside: see
    /// [`Evaluate::fewshot_for`]).
    pub fn fewshot(&self) -> FewShotOptions {
        FewShotOptions {
            pool: self.shot_pool,
            k: self.shots,
            seed: self.seed,
        }
    }

    /// The few-shot options of `task`: [`Evaluate::fewshot`] with the task's own count from
    /// [`Evaluate::task_shots`] when set.
    pub fn fewshot_for(&self, task: Task) -> FewShotOptions {
        let k = self
            .task_shots
            .iter()
            .find(|(t, _)| *t == task)
            .map(|&(_, k)| k)
            .or(self.shots);
        FewShotOptions {
            k,
            ..self.fewshot()
        }
    }

    /// New tokens for one task and modality: the override, else the reference rule (50;
    /// Idefics2 pure-text classification 5, SPEC §3.5).
    ///
    /// ```
    /// use mllmu::eval::{Evaluate, fewshot::ModelFamily, items::{Modality, Task}};
    /// let e = Evaluate::paper();
    /// assert_eq!(e.new_tokens(ModelFamily::Idefics2, Task::Classification, Modality::PureText), 5);
    /// assert_eq!(e.new_tokens(ModelFamily::Llava, Task::Classification, Modality::PureText), 50);
    /// ```
    pub fn new_tokens(&self, family: ModelFamily, task: Task, modality: Modality) -> usize {
        if let Some(n) = self.max_new_tokens {
            return n;
        }
        match (family, task, modality) {
            (ModelFamily::Idefics2, Task::Classification, Modality::PureText) => 5,
            _ => 50,
        }
    }

    /// Which flaws of SPEC §8 these options correct, one line each (for the manifest).
    pub fn corrections(&self) -> Vec<String> {
        let mut v = vec!["Q1 every random choice seeded and recorded".to_string()];
        match self.shot_pool {
            ShotPool::Evaluated => {}
            ShotPool::Disjoint => v.push(
                "Q3/Q4/Q5 few-shot profiles drawn outside the evaluated set, nothing skipped"
                    .into(),
            ),
            ShotPool::ZeroShot => v.push("Q2/Q3 zero-shot: no few-shot examples".into()),
        }
        if let Some(k) = self.shots {
            v.push(format!("Q2 {k} few-shot profile(s) per task"));
        }
        for (task, k) in &self.task_shots {
            v.push(format!("Q2 {k} few-shot profile(s) for {task:?}"));
        }
        if self.extraction == Extraction::NewTokens {
            v.push("Q7 answers decoded from the new tokens only".into());
        }
        if let Some(n) = self.max_new_tokens {
            v.push(format!("Q11 {n} new tokens for every task"));
        }
        v
    }
}

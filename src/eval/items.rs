//! What an evaluation is organised by: the four sets `eval.py` runs and the three tasks of
//! each. The questions themselves are the benchmark's own rows ([`crate::bench::Profile`]),
//! read by index (the few-shot skip rule works by question index).

use serde::{Deserialize, Serialize};

/// The benchmark's two kinds of question, re-exported where evaluation code names sets and
/// tasks.
pub use crate::bench::Modality;

/// The three tasks of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Task {
    /// Multiple choice (`classification`).
    #[serde(rename = "classification")]
    Classification,
    /// Fill-in-the-blank (`fill_in_the_blank`, "cloze").
    #[serde(rename = "fill_in_the_blank")]
    Cloze,
    /// Free generation scored with ROUGE/BLEU (`generation`).
    #[serde(rename = "generation")]
    Generation,
}

impl Task {
    /// The key of the task in the results file.
    ///
    /// ```
    /// assert_eq!(mllmu::eval::items::Task::Cloze.as_str(), "fill_in_the_blank");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Cloze => "fill_in_the_blank",
            Task::Generation => "generation",
        }
    }
}

/// The four evaluation sets `eval.py` runs, in its call order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EvalMode {
    /// The forget split (`forget_{r}`).
    #[serde(rename = "forget")]
    Forget,
    /// Test_Set rows of the forget profiles (transformed images, paraphrased text).
    #[serde(rename = "test")]
    Test,
    /// The retain split (`retain_{100-r}`).
    #[serde(rename = "retain_shared")]
    RetainShared,
    /// The real celebrities (`Retain_Set`).
    #[serde(rename = "retain_celebrity")]
    RetainCelebrity,
}

impl EvalMode {
    /// All modes in the reference's call order.
    pub const ALL: [EvalMode; 4] = [
        EvalMode::Forget,
        EvalMode::Test,
        EvalMode::RetainShared,
        EvalMode::RetainCelebrity,
    ];

    /// The mode string (`{mode}_generation_results.json`).
    ///
    /// ```
    /// assert_eq!(mllmu::eval::items::EvalMode::RetainShared.as_str(), "retain_shared");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            EvalMode::Forget => "forget",
            EvalMode::Test => "test",
            EvalMode::RetainShared => "retain_shared",
            EvalMode::RetainCelebrity => "retain_celebrity",
        }
    }

    /// The section name in `{name}_final_evaluation_results.json`.
    ///
    /// ```
    /// use mllmu::eval::items::EvalMode;
    /// assert_eq!(EvalMode::RetainCelebrity.section_name(), "Retain Set (real person) Results");
    /// ```
    pub fn section_name(self) -> &'static str {
        match self {
            EvalMode::Forget => "Forget Set Results",
            EvalMode::Test => "Test Set Results",
            EvalMode::RetainShared => "Retain Set (shared dataset) Results",
            EvalMode::RetainCelebrity => "Retain Set (real person) Results",
        }
    }

    /// The order `main()` runs the tasks of this mode (test runs classification first).
    ///
    /// ```
    /// use mllmu::eval::items::{EvalMode, Task};
    /// assert_eq!(EvalMode::Test.task_order()[0], Task::Classification);
    /// assert_eq!(EvalMode::Forget.task_order()[0], Task::Cloze);
    /// ```
    pub fn task_order(self) -> [Task; 3] {
        match self {
            EvalMode::Test => [Task::Classification, Task::Cloze, Task::Generation],
            _ => [Task::Cloze, Task::Classification, Task::Generation],
        }
    }
}

impl std::fmt::Display for EvalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

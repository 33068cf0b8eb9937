//! The two kinds of JSON file `eval.py` writes, with its exact keys, key order and
//! formatting (SPEC.md §3.8), so existing tooling (`eval_gpt.py`, plotting scripts) reads
//! mllmu's output unchanged.
//!
//! - `{output_folder}/{mode}_generation_results.json`: `{"Generation_Questions": [...]}`,
//!   `json.dump(indent=4)` with Python's default `ensure_ascii=True` (non-ASCII escaped);
//! - `{output_folder}/{name}_final_evaluation_results.json`: four sections, each with
//!   `fill_in_the_blank`, `classification`, `generation`; `ensure_ascii=False, indent=4`.
//!   A modality's four generation keys are omitted when it had no questions; accuracies are
//!   always present and are the integer `0` when there were no questions.
//!
//! Files are written atomically ([`crate::io::write_atomic`]) as Python would print them
//! ([`crate::eval::pyjson`]).

use crate::display::Table;
use crate::eval::items::EvalMode;
use crate::eval::metrics::accuracy::{accuracy_percent, mean};
use crate::eval::metrics::TextScores;
use crate::eval::pyjson::{py_float_repr, to_python_json};
use crate::Result;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

/// One line of the generation dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// Profile ID.
    pub image_id: String,
    /// The question's `Type` as stored (`"Image_Textual"` or `"Pure_Text"`).
    #[serde(rename = "question type")]
    pub question_type: String,
    /// The raw question (not the prompt).
    pub question: String,
    /// The extracted answer.
    pub generated_answer: String,
    /// `Ground_Truth`.
    pub ground_truth: String,
}

/// `{mode}_generation_results.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GenerationResults {
    /// All generation questions of the set, in evaluation order.
    #[serde(rename = "Generation_Questions")]
    pub generation_questions: Vec<GenerationRecord>,
}

/// The dump's path: `{folder}/{mode}_generation_results.json`.
///
/// ```
/// use mllmu::eval::{items::EvalMode, reference_files::generation_results_path};
/// let p = generation_results_path("out".as_ref(), EvalMode::RetainShared);
/// assert_eq!(p, std::path::Path::new("out/retain_shared_generation_results.json"));
/// ```
pub fn generation_results_path(folder: &Path, mode: EvalMode) -> PathBuf {
    folder.join(format!("{}_generation_results.json", mode.as_str()))
}

impl GenerationResults {
    /// Writes `{folder}/{mode}_generation_results.json` (indent 4, ASCII-escaped) and returns
    /// its path.
    pub fn write(&self, folder: &Path, mode: EvalMode) -> Result<PathBuf> {
        let path = generation_results_path(folder, mode);
        crate::io::write_atomic(&path, to_python_json(self, true)?.as_bytes())?;
        Ok(path)
    }
}

/// An accuracy in percent; `None` when there were no questions, written as the integer `0`
/// as the reference does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Accuracy(pub Option<f64>);

impl Accuracy {
    /// `(correct / total) * 100`, or no value when `total` is 0.
    ///
    /// ```
    /// use mllmu::eval::reference_files::Accuracy;
    /// assert_eq!(Accuracy::from_counts(1, 4).value(), 25.0);
    /// assert_eq!(Accuracy::from_counts(0, 0), Accuracy(None));
    /// ```
    pub fn from_counts(correct: usize, total: usize) -> Self {
        Accuracy((total > 0).then(|| accuracy_percent(correct, total)))
    }

    /// The reported number (0 when empty).
    pub fn value(&self) -> f64 {
        self.0.unwrap_or(0.0)
    }
}

impl Serialize for Accuracy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => s.serialize_f64(v),
            None => s.serialize_u64(0),
        }
    }
}

impl<'de> Deserialize<'de> for Accuracy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // An integer 0 is the reference's "no questions"; any float is a measured value.
        let v = serde_json::Number::deserialize(d)?;
        Ok(match (v.as_u64(), v.as_f64()) {
            (Some(0), _) if !v.is_f64() => Accuracy(None),
            (_, Some(f)) => Accuracy(Some(f)),
            _ => Accuracy(None),
        })
    }
}

/// `"fill_in_the_blank"` of one section.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ClozeAccuracy {
    /// `image_textual_accuracy`.
    pub image_textual_accuracy: Accuracy,
    /// `pure_text_accuracy`.
    pub pure_text_accuracy: Accuracy,
}

/// `"classification"` of one section.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ClassificationAccuracy {
    /// `Image-Textual Question Accuracy`.
    #[serde(rename = "Image-Textual Question Accuracy")]
    pub image_textual: Accuracy,
    /// `Pure Text Question Accuracy`.
    #[serde(rename = "Pure Text Question Accuracy")]
    pub pure_text: Accuracy,
}

/// Declares [`GenerationAverages`]: each field an `Option<f64>` under its file key, left out
/// when `None`; `from_scores` fills the first group from image-textual scores, the second
/// from pure-text ones (ROUGE-1, ROUGE-2, ROUGE-L, BLEU each).
macro_rules! generation_averages {
    ($([$($f:ident: $key:literal,)*])*) => {
        /// `"generation"` of one section: means of the per-question scores; a modality's four
        /// keys are absent when it had no questions.
        #[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
        #[serde(default)]
        pub struct GenerationAverages {
            $($(
                #[doc = concat!("`", $key, "`.")]
                #[serde(rename = $key, skip_serializing_if = "Option::is_none")]
                pub $f: Option<f64>,
            )*)*
        }

        impl GenerationAverages {
            /// Averages per-question scores of each modality (left-to-right sums, as the
            /// reference).
            ///
            /// ```
            /// use mllmu::eval::metrics::score_text;
            /// use mllmu::eval::reference_files::GenerationAverages;
            /// let g = GenerationAverages::from_scores(&[score_text("a b", "a b")], &[]);
            /// assert_eq!(g.rouge1_image_textual, Some(1.0));
            /// assert_eq!(g.bleu_pure_text, None);
            /// ```
            pub fn from_scores(image_textual: &[TextScores], pure_text: &[TextScores]) -> Self {
                let [$([$($f),*]),*] = [means(image_textual), means(pure_text)];
                GenerationAverages { $($($f),*),* }
            }
        }
    };
}

generation_averages! {
    [
        rouge1_image_textual: "Average ROUGE-1 (Image_Textual)",
        rouge2_image_textual: "Average ROUGE-2 (Image_Textual)",
        rouge_l_image_textual: "Average ROUGE-L (Image_Textual)",
        bleu_image_textual: "Average BLEU (Image_Textual)",
    ]
    [
        rouge1_pure_text: "Average ROUGE-1 (Pure_Text)",
        rouge2_pure_text: "Average ROUGE-2 (Pure_Text)",
        rouge_l_pure_text: "Average ROUGE-L (Pure_Text)",
        bleu_pure_text: "Average BLEU (Pure_Text)",
    ]
}

fn means(scores: &[TextScores]) -> [Option<f64>; 4] {
    let col = |f: fn(&TextScores) -> f64| mean(&scores.iter().map(f).collect::<Vec<_>>());
    [
        col(|s| s.rouge1),
        col(|s| s.rouge2),
        col(|s| s.rouge_l),
        col(|s| s.bleu),
    ]
}

/// One section (one evaluation set) of the final results.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SetResults {
    /// Cloze accuracies.
    pub fill_in_the_blank: ClozeAccuracy,
    /// Classification accuracies.
    pub classification: ClassificationAccuracy,
    /// Generation averages.
    pub generation: GenerationAverages,
}

/// `{name}_final_evaluation_results.json`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FinalResults {
    /// `Forget Set Results`.
    #[serde(rename = "Forget Set Results")]
    pub forget: SetResults,
    /// `Test Set Results`.
    #[serde(rename = "Test Set Results")]
    pub test: SetResults,
    /// `Retain Set (shared dataset) Results`.
    #[serde(rename = "Retain Set (shared dataset) Results")]
    pub retain_shared: SetResults,
    /// `Retain Set (real person) Results`.
    #[serde(rename = "Retain Set (real person) Results")]
    pub retain_celebrity: SetResults,
}

/// The final file's path: `{folder}/{name}_final_evaluation_results.json`.
pub fn final_results_path(folder: &Path, name: &str) -> PathBuf {
    folder.join(format!("{name}_final_evaluation_results.json"))
}

impl FinalResults {
    /// The section of one mode.
    pub fn section(&self, mode: EvalMode) -> &SetResults {
        match mode {
            EvalMode::Forget => &self.forget,
            EvalMode::Test => &self.test,
            EvalMode::RetainShared => &self.retain_shared,
            EvalMode::RetainCelebrity => &self.retain_celebrity,
        }
    }

    /// The section of one mode, mutably.
    pub fn section_mut(&mut self, mode: EvalMode) -> &mut SetResults {
        match mode {
            EvalMode::Forget => &mut self.forget,
            EvalMode::Test => &mut self.test,
            EvalMode::RetainShared => &mut self.retain_shared,
            EvalMode::RetainCelebrity => &mut self.retain_celebrity,
        }
    }

    /// The file text, as `json.dump(..., ensure_ascii=False, indent=4)` writes it.
    pub fn to_json(&self) -> Result<String> {
        to_python_json(self, false)
    }

    /// Writes `{folder}/{name}_final_evaluation_results.json` and returns its path.
    pub fn write(&self, folder: &Path, name: &str) -> Result<PathBuf> {
        let path = final_results_path(folder, name);
        crate::io::write_atomic(&path, self.to_json()?.as_bytes())?;
        Ok(path)
    }

    /// Reads a final results file (Python's or mllmu's).
    pub fn read(path: &Path) -> Result<Self> {
        crate::io::read_json(path)
    }

    fn tables(&self) -> Vec<Table> {
        let f = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        let pct = |a: Accuracy| a.0.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        let mut t = Table::new(
            "MLLMU-Bench results (accuracy %, generation 0-1; IT = image-textual, PT = pure text)",
            [
                "set", "cls IT", "cls PT", "cloze IT", "cloze PT", "R-L IT", "R-L PT", "BLEU IT",
                "BLEU PT",
            ],
        );
        for mode in EvalMode::ALL {
            let s = self.section(mode);
            t.push([
                mode.as_str().to_string(),
                pct(s.classification.image_textual),
                pct(s.classification.pure_text),
                pct(s.fill_in_the_blank.image_textual_accuracy),
                pct(s.fill_in_the_blank.pure_text_accuracy),
                f(s.generation.rouge_l_image_textual),
                f(s.generation.rouge_l_pure_text),
                f(s.generation.bleu_image_textual),
                f(s.generation.bleu_pure_text),
            ]);
        }
        vec![t]
    }
}

table_views!(FinalResults, "An HTML table of the headline numbers.");

/// Python's repr of an accuracy as written in the file (`0` when empty).
///
/// ```
/// use mllmu::eval::reference_files::{accuracy_repr, Accuracy};
/// assert_eq!(accuracy_repr(Accuracy(None)), "0");
/// assert_eq!(accuracy_repr(Accuracy::from_counts(0, 3)), "0.0");
/// ```
pub fn accuracy_repr(a: Accuracy) -> String {
    a.0.map_or_else(|| "0".to_string(), py_float_repr)
}

//! The question records evaluation consumes, independent of how the benchmark is loaded.
//!
//! They mirror the parquet columns `eval.py` reads (`Classification_Task`, `Mask_Task`,
//! `Generation_Task`) with the question order kept, because the few-shot skip rule works by
//! question index.

use serde::{Deserialize, Serialize};

/// The two kinds of question of every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Modality {
    /// Asked with the profile image (`"Image_Textual"`).
    #[serde(rename = "Image_Textual")]
    ImageTextual,
    /// Asked as text only (`"Pure_Text"`).
    #[serde(rename = "Pure_Text")]
    PureText,
}

impl Modality {
    /// Both modalities, image first (the order the reference reports them).
    pub const ALL: [Modality; 2] = [Modality::ImageTextual, Modality::PureText];

    /// The dataset's `Type` string.
    ///
    /// ```
    /// assert_eq!(mllmu::eval::items::Modality::PureText.as_str(), "Pure_Text");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::ImageTextual => "Image_Textual",
            Modality::PureText => "Pure_Text",
        }
    }

    /// Parses a `Type` value exactly (`None` for anything else; the cloze task ignores such
    /// questions).
    ///
    /// ```
    /// use mllmu::eval::items::Modality;
    /// assert_eq!(Modality::from_type("Image_Textual"), Some(Modality::ImageTextual));
    /// assert_eq!(Modality::from_type("image_textual"), None);
    /// ```
    pub fn from_type(s: &str) -> Option<Modality> {
        match s {
            "Image_Textual" => Some(Modality::ImageTextual),
            "Pure_Text" => Some(Modality::PureText),
            _ => None,
        }
    }

    /// How the generation task reads a `Type`: `"Image_Textual"` is image, anything else is
    /// text (`eval.py` branches on `== "Image_Textual"` only).
    pub fn for_generation(s: &str) -> Modality {
        if s == "Image_Textual" {
            Modality::ImageTextual
        } else {
            Modality::PureText
        }
    }
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One multiple-choice question (`Classification_Task.*_Questions[i]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceQuestion {
    /// `Question`.
    pub question: String,
    /// `Options` A, B, C, D in that order.
    pub options: [String; 4],
    /// `Correct_Answer`, normally one letter `A`–`D`.
    pub correct_answer: String,
}

/// One open question (`Mask_Task[i]` or `Generation_Task[i]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenQuestion {
    /// `Type` as stored (kept raw: the generation dump writes it back unchanged).
    pub question_type: String,
    /// `Question`.
    pub question: String,
    /// `Ground_Truth`.
    pub ground_truth: String,
}

/// All questions of one profile, in dataset order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProfileItems {
    /// Profile ID (`"001"`, `"celeb_01"`).
    pub id: String,
    /// `Classification_Task.Image_Textual_Questions`.
    pub image_textual: Vec<ChoiceQuestion>,
    /// `Classification_Task.Pure_Text_Questions`.
    pub pure_text: Vec<ChoiceQuestion>,
    /// `Mask_Task` (cloze), both types in one list.
    pub mask: Vec<OpenQuestion>,
    /// `Generation_Task`, both types in one list.
    pub generation: Vec<OpenQuestion>,
}

impl ProfileItems {
    /// The classification questions of one modality.
    pub fn choices(&self, modality: Modality) -> &[ChoiceQuestion] {
        match modality {
            Modality::ImageTextual => &self.image_textual,
            Modality::PureText => &self.pure_text,
        }
    }
}

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

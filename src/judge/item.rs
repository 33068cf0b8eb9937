//! One question to grade ([`JudgeItem`]) and its result ([`Judgement`]).

use serde::{Deserialize, Serialize};

/// The reference's two task types: free generation (the current benchmark) and the legacy
/// image description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskType {
    /// `Generation_Questions` items.
    Generation,
    /// Legacy `Description_Questions` items.
    Description,
}

impl TaskType {
    /// `"generation"` or `"description"`, as the rubric prompt names it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Generation => "generation",
            TaskType::Description => "description",
        }
    }

    /// `"Generation"` or `"Description"`, the reference output's `"Task Type"`.
    pub fn title(self) -> &'static str {
        match self {
            TaskType::Generation => "Generation",
            TaskType::Description => "Description",
        }
    }
}

/// One generated answer to grade against its ground truth.
///
/// ```
/// use mllmu::judge::{JudgeItem, TaskType};
/// let it = JudgeItem::generation("forget", "17", "Where was she born?", "Oslo", "Bergen");
/// assert_eq!(it.task_type, TaskType::Generation);
/// assert_eq!(it.key().profile_id, "17");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeItem {
    /// Generation or description.
    pub task_type: TaskType,
    /// The profile (image) ID.
    pub profile_id: String,
    /// `"Image_Textual"`, `"Pure_Text"`, or `None` when unknown (legacy descriptions).
    pub question_type: Option<String>,
    /// The question asked.
    pub question: String,
    /// The model's answer.
    pub answer: String,
    /// The ground-truth answer.
    pub ground_truth: String,
    /// The set or evaluation mode it came from (`"forget"`, `"test"`, `"retain_shared"`, ...).
    pub label: String,
}

impl JudgeItem {
    /// A generation item with no question type.
    pub fn generation(
        label: impl Into<String>,
        profile_id: impl Into<String>,
        question: impl Into<String>,
        answer: impl Into<String>,
        ground_truth: impl Into<String>,
    ) -> Self {
        JudgeItem {
            task_type: TaskType::Generation,
            profile_id: profile_id.into(),
            question_type: None,
            question: question.into(),
            answer: answer.into(),
            ground_truth: ground_truth.into(),
            label: label.into(),
        }
    }

    /// The item's identity for merging results into a report.
    pub fn key(&self) -> ItemKey {
        ItemKey {
            label: self.label.clone(),
            task_type: self.task_type,
            profile_id: self.profile_id.clone(),
            question_type: self.question_type.clone(),
            question: self.question.clone(),
        }
    }
}

/// What identifies an item inside a report: set/mode label, task type, profile ID,
/// question type and question text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    /// Set or evaluation mode.
    pub label: String,
    /// Generation or description.
    pub task_type: TaskType,
    /// Profile (image) ID.
    pub profile_id: String,
    /// `"Image_Textual"` / `"Pure_Text"` when known.
    pub question_type: Option<String>,
    /// The question text.
    pub question: String,
}

/// The judge's verdict on one item: a score in 1..=10 with a justification, or a failure
/// reason (never both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The item graded.
    pub item: JudgeItem,
    /// The score, `None` when the item failed.
    pub score: Option<u8>,
    /// The judge's justification (may be empty when the reply had none).
    pub justification: Option<String>,
    /// Why the item has no score (HTTP status, timeout, unparsable reply, ...).
    pub failure: Option<String>,
    /// Served from the cache (no request sent in this run).
    pub cached: bool,
    /// HTTP requests sent for this item in this run.
    pub requests: u32,
    /// Prompt tokens spent on this item in this run.
    pub prompt_tokens: u64,
    /// Completion tokens spent on this item in this run.
    pub completion_tokens: u64,
}

impl Judgement {
    /// The item's key.
    pub fn key(&self) -> ItemKey {
        self.item.key()
    }

    /// Whether the item received a score.
    pub fn is_scored(&self) -> bool {
        self.score.is_some()
    }
}

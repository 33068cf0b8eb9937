//! The typed rows of MLLMU-Bench's evaluation folders (SPEC.md §1.2): profiles and their
//! questions.

use crate::bench::Portrait;
use serde::{Deserialize, Serialize};

/// A profile ID as stored in the `ID` column: `"001"`…`"500"` for fictitious people; the
/// celebrity format is not fixed (the embedded sample and mini use `celeb_01`…).
///
/// ```
/// let id = mllmu::bench::ProfileId::from("005");
/// assert_eq!(id.as_str(), "005");
/// assert_eq!(id.to_string(), "005");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileId(pub String);

impl ProfileId {
    /// The ID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProfileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ProfileId {
    fn from(s: &str) -> Self {
        ProfileId(s.to_string())
    }
}

impl From<String> for ProfileId {
    fn from(s: String) -> Self {
        ProfileId(s)
    }
}

impl std::borrow::Borrow<str> for ProfileId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Whether a question is asked with the portrait (`Image_Textual`) or as text only
/// (`Pure_Text`).
///
/// ```
/// use mllmu::bench::Modality;
/// assert_eq!(Modality::parse("Image_Textual"), Some(Modality::ImageTextual));
/// assert_eq!(Modality::parse("pure text"), None);
/// assert_eq!(Modality::PureText.as_str(), "Pure_Text");
/// assert_eq!(serde_json::to_string(&Modality::ImageTextual).unwrap(), "\"Image_Textual\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Modality {
    /// The question is shown with the profile image (`"Image_Textual"`).
    #[serde(rename = "Image_Textual")]
    ImageTextual,
    /// The question is text only (`"Pure_Text"`).
    #[serde(rename = "Pure_Text")]
    PureText,
}

impl Modality {
    /// Both modalities, image first (the order of the reference's output keys).
    pub const ALL: [Modality; 2] = [Modality::ImageTextual, Modality::PureText];

    /// The exact hub spelling: `Image_Textual` or `Pure_Text`; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Modality> {
        Modality::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    /// The hub spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::ImageTextual => "Image_Textual",
            Modality::PureText => "Pure_Text",
        }
    }

    /// The snake-case key used in summaries: `image_textual` / `pure_text`.
    pub fn key(self) -> &'static str {
        match self {
            Modality::ImageTextual => "image_textual",
            Modality::PureText => "pure_text",
        }
    }
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One multiple-choice question of `Classification_Task`.
///
/// ```
/// use mllmu::bench::Mcq;
/// let q = Mcq {
///     question: "Where was she born?".into(),
///     options: ["Oslo".into(), "Lima".into(), "Pune".into(), "Cork".into()],
///     correct: 'B',
/// };
/// assert_eq!(q.correct_index(), 1);
/// assert_eq!(q.correct_text(), "Lima");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mcq {
    /// The question text.
    pub question: String,
    /// Options `A`, `B`, `C`, `D`, in that order.
    pub options: [String; 4],
    /// The correct letter, one of `A`–`D` (checked when loading).
    pub correct: char,
}

impl Mcq {
    /// The option letters, in order.
    pub const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

    /// Index 0–3 of the correct option (0 if the letter is out of range, which loading rejects).
    pub fn correct_index(&self) -> usize {
        Self::LETTERS
            .iter()
            .position(|&c| c == self.correct)
            .unwrap_or(0)
    }

    /// The text of the correct option.
    pub fn correct_text(&self) -> &str {
        &self.options[self.correct_index()]
    }
}

/// The two lists of `Classification_Task`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// `Image_Textual_Questions`.
    pub image_textual: Vec<Mcq>,
    /// `Pure_Text_Questions`.
    pub pure_text: Vec<Mcq>,
}

impl Classification {
    /// The list for one modality.
    pub fn get(&self, m: Modality) -> &[Mcq] {
        match m {
            Modality::ImageTextual => &self.image_textual,
            Modality::PureText => &self.pure_text,
        }
    }
}

/// An open question of `Generation_Task` or `Mask_Task` (cloze, with a `__` blank).
///
/// The raw `Type` is kept: generation treats every value other than `Image_Textual` as pure
/// text, while cloze ignores values other than the two known ones (SPEC.md §1.2).
///
/// ```
/// use mllmu::bench::{Modality, OpenQuestion};
/// let q = OpenQuestion::new("__ is her job.", "pilot", "Pure_Text");
/// assert_eq!(q.cloze_modality(), Some(Modality::PureText));
/// let odd = OpenQuestion::new("Q?", "A", "Mixed");
/// assert_eq!(odd.generation_modality(), Modality::PureText);
/// assert_eq!(odd.cloze_modality(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenQuestion {
    /// The question text.
    pub question: String,
    /// `Ground_Truth`.
    pub ground_truth: String,
    /// The raw `Type` value.
    pub kind: String,
}

impl OpenQuestion {
    /// A question from its three fields.
    pub fn new(
        question: impl Into<String>,
        ground_truth: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        OpenQuestion {
            question: question.into(),
            ground_truth: ground_truth.into(),
            kind: kind.into(),
        }
    }

    /// `Image_Textual` or `Pure_Text`; `None` for any other `Type`.
    pub fn modality(&self) -> Option<Modality> {
        Modality::parse(&self.kind)
    }

    /// The generation task's rule: `Image_Textual` is image, everything else is pure text.
    pub fn generation_modality(&self) -> Modality {
        if self.kind == "Image_Textual" {
            Modality::ImageTextual
        } else {
            Modality::PureText
        }
    }

    /// The cloze task's rule: the two known types, other values are skipped.
    pub fn cloze_modality(&self) -> Option<Modality> {
        self.modality()
    }
}

/// One row of an evaluation folder (`Full_Set`, `forget_*`, `retain_*`, `Test_Set`,
/// `Retain_Set`).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// `ID`.
    pub id: ProfileId,
    /// `image`, when the folder has that column (`Test_Set` usually has `images` instead).
    pub image: Option<Portrait>,
    /// `images` (`Test_Set`: several transformed portraits); otherwise `[image]`.
    pub images: Vec<Portrait>,
    /// `Directory`, when present.
    pub directory: Option<String>,
    /// `biography` (a JSON object as text on the hub), when present.
    pub biography: Option<String>,
    /// `question` (one description question), when present.
    pub question: Option<String>,
    /// `answer`, when present.
    pub answer: Option<String>,
    /// `Classification_Task`.
    pub classification: Classification,
    /// `Generation_Task`.
    pub generation: Vec<OpenQuestion>,
    /// `Mask_Task` (fill in the blank).
    pub cloze: Vec<OpenQuestion>,
}

impl Profile {
    /// The portrait the reference shows outside test mode: `image`, else the first of
    /// `images`.
    pub fn portrait(&self) -> Option<&Portrait> {
        self.image.as_ref().or(self.images.first())
    }

    /// Generation questions of one modality (by the generation rule).
    pub fn generation_of(&self, m: Modality) -> impl Iterator<Item = &OpenQuestion> {
        self.generation
            .iter()
            .filter(move |q| q.generation_modality() == m)
    }

    /// Cloze questions of one modality (other types skipped).
    pub fn cloze_of(&self, m: Modality) -> impl Iterator<Item = &OpenQuestion> {
        self.cloze
            .iter()
            .filter(move |q| q.cloze_modality() == Some(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modality_filters_follow_the_reference_rules() {
        let p = Profile {
            id: "1".into(),
            generation: vec![
                OpenQuestion::new("a", "1", "Image_Textual"),
                OpenQuestion::new("b", "2", "Pure_Text"),
                OpenQuestion::new("c", "3", "image_textual"),
            ],
            cloze: vec![
                OpenQuestion::new("__ x", "1", "Image_Textual"),
                OpenQuestion::new("__ y", "2", "Other"),
            ],
            ..Profile::default()
        };
        assert_eq!(p.generation_of(Modality::ImageTextual).count(), 1);
        assert_eq!(p.generation_of(Modality::PureText).count(), 2);
        assert_eq!(p.cloze_of(Modality::ImageTextual).count(), 1);
        assert_eq!(p.cloze_of(Modality::PureText).count(), 0);
    }
}

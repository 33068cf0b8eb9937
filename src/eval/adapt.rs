//! The one place where the benchmark's row types ([`crate::bench`]) become the question
//! records evaluation consumes ([`crate::eval::items`]).
//!
//! `bench::Modality` and `eval::items::Modality` name the same two values; they convert into
//! each other here, and nowhere else.

use crate::bench::{self, Mcq, Profile};
use crate::eval::items::{ChoiceQuestion, Modality, OpenQuestion, ProfileItems};

impl From<bench::Modality> for Modality {
    fn from(m: bench::Modality) -> Self {
        match m {
            bench::Modality::ImageTextual => Modality::ImageTextual,
            bench::Modality::PureText => Modality::PureText,
        }
    }
}

impl From<Modality> for bench::Modality {
    fn from(m: Modality) -> Self {
        match m {
            Modality::ImageTextual => bench::Modality::ImageTextual,
            Modality::PureText => bench::Modality::PureText,
        }
    }
}

impl From<&Mcq> for ChoiceQuestion {
    fn from(q: &Mcq) -> Self {
        ChoiceQuestion {
            question: q.question.clone(),
            options: q.options.clone(),
            correct_answer: q.correct.to_string(),
        }
    }
}

impl From<&bench::OpenQuestion> for OpenQuestion {
    fn from(q: &bench::OpenQuestion) -> Self {
        OpenQuestion {
            question_type: q.kind.clone(),
            question: q.question.clone(),
            ground_truth: q.ground_truth.clone(),
        }
    }
}

impl From<&Profile> for ProfileItems {
    /// All questions of a profile, in dataset order (the skip rule works by index).
    ///
    /// ```
    /// use mllmu::bench::{mini, MiniConfig};
    /// use mllmu::eval::items::ProfileItems;
    /// let data = mini::generate(&MiniConfig { profiles: 2, celebrities: 1, ..Default::default() })?;
    /// let items = ProfileItems::from(&data.full[0]);
    /// assert_eq!(items.id, data.full[0].id.as_str());
    /// assert_eq!(items.image_textual.len(), data.full[0].classification.image_textual.len());
    /// assert_eq!(items.mask[1].question, data.full[0].cloze[1].question);
    /// # Ok::<(), mllmu::Error>(())
    /// ```
    fn from(p: &Profile) -> Self {
        ProfileItems {
            id: p.id.as_str().to_string(),
            image_textual: p
                .classification
                .image_textual
                .iter()
                .map(Into::into)
                .collect(),
            pure_text: p.classification.pure_text.iter().map(Into::into).collect(),
            mask: p.cloze.iter().map(Into::into).collect(),
            generation: p.generation.iter().map(Into::into).collect(),
        }
    }
}

/// Converts a list of profiles (a few-shot source, an evaluated set), keeping row order.
pub fn profile_items(profiles: &[Profile]) -> Vec<ProfileItems> {
    profiles.iter().map(ProfileItems::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Classification, OpenQuestion as BenchOpen};

    #[test]
    fn modalities_round_trip() {
        for m in Modality::ALL {
            let b: bench::Modality = m.into();
            assert_eq!(b.as_str(), m.as_str());
            assert_eq!(Modality::from(b), m);
        }
    }

    #[test]
    fn questions_keep_order_letters_and_raw_types() {
        let mcq = |q: &str, c: char| Mcq {
            question: q.into(),
            options: ["a", "b", "c", "d"].map(String::from),
            correct: c,
        };
        let p = Profile {
            id: "042".into(),
            image: None,
            images: vec![],
            directory: None,
            biography: None,
            question: None,
            answer: None,
            classification: Classification {
                image_textual: vec![mcq("i0", 'B')],
                pure_text: vec![mcq("t0", 'D'), mcq("t1", 'A')],
            },
            generation: vec![BenchOpen::new("g", "G", "image_textual")],
            cloze: vec![
                BenchOpen::new("__ x", "X", "Other"),
                BenchOpen::new("__ y", "Y", "Pure_Text"),
            ],
        };
        let it = ProfileItems::from(&p);
        assert_eq!(it.id, "042");
        assert_eq!(it.image_textual[0].correct_answer, "B");
        assert_eq!(it.pure_text[1].question, "t1");
        assert_eq!(it.pure_text[1].correct_answer, "A");
        assert_eq!(it.mask[0].question_type, "Other");
        assert_eq!(it.mask[1].ground_truth, "Y");
        assert_eq!(it.generation[0].question_type, "image_textual");
    }
}

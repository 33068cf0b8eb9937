//! Cross-modal consistency of forgetting: each fact of a forget profile is asked twice, once
//! with the portrait (multimodal) and once naming the person (text only). A fact is
//! *forgotten* in a modality when the model no longer gives the right answer there (the caller
//! decides how: a wrong multiple-choice answer, or a generation score under a threshold).
//!
//! Every fact falls in one of four classes: forgotten with both, with the image only, with the
//! name only, or with neither. The run's **consistency** is the fraction of facts whose
//! forgotten status agrees across the two modalities:
//!
//! ```text
//! consistency = (#both + #neither) / #facts
//! ```
//!
//! 1 when forgetting never depends on how the person is named; a method that only breaks the
//! image path (or only the name path) scores low. Report it beside the four counts: a model
//! that forgot nothing is also perfectly consistent.
//!
//! ```
//! use mllmu::eval::beyond::cross_modal::{cross_modal, FactForgetting};
//! let f = |image, name| FactForgetting { profile: "001".into(), forgotten_with_image: image, forgotten_with_name: name };
//! let s = cross_modal(&[f(true, true), f(true, false), f(false, false), f(false, true)]).unwrap();
//! assert_eq!((s.both, s.image_only, s.name_only, s.neither), (1, 1, 1, 1));
//! assert_eq!(s.consistency, 0.5);
//! ```

use crate::eval::metrics::bootstrap::ProfileScore;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Whether one fact is forgotten when asked with the portrait and when asked with the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactForgetting {
    /// Profile ID the fact belongs to (for intervals over profiles).
    pub profile: String,
    /// Forgotten when asked with the image.
    pub forgotten_with_image: bool,
    /// Forgotten when asked with the name.
    pub forgotten_with_name: bool,
}

impl FactForgetting {
    /// Which of the four classes the fact is in.
    pub fn class(&self) -> ForgettingClass {
        match (self.forgotten_with_image, self.forgotten_with_name) {
            (true, true) => ForgettingClass::Both,
            (true, false) => ForgettingClass::ImageOnly,
            (false, true) => ForgettingClass::NameOnly,
            (false, false) => ForgettingClass::Neither,
        }
    }

    /// 1 when the two modalities agree, else 0 (the per-fact term of the consistency).
    pub fn agreement(&self) -> f64 {
        f64::from(u8::from(
            self.forgotten_with_image == self.forgotten_with_name,
        ))
    }
}

/// The four outcomes of a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgettingClass {
    /// Forgotten with the portrait and with the name.
    Both,
    /// Forgotten with the portrait only.
    ImageOnly,
    /// Forgotten with the name only.
    NameOnly,
    /// Remembered both ways.
    Neither,
}

/// Counts of the four classes and the run's consistency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrossModal {
    /// Facts forgotten both ways.
    pub both: usize,
    /// Facts forgotten with the portrait only.
    pub image_only: usize,
    /// Facts forgotten with the name only.
    pub name_only: usize,
    /// Facts remembered both ways.
    pub neither: usize,
    /// `(both + neither) / facts`.
    pub consistency: f64,
}

/// Classifies every fact and computes the consistency; errors when there is no fact.
pub fn cross_modal(facts: &[FactForgetting]) -> Result<CrossModal> {
    if facts.is_empty() {
        return Err(Error::param(
            "facts",
            "[]",
            "cross-modal consistency needs at least one fact asked both ways",
        ));
    }
    let count = |c: ForgettingClass| facts.iter().filter(|f| f.class() == c).count();
    let (both, neither) = (
        count(ForgettingClass::Both),
        count(ForgettingClass::Neither),
    );
    Ok(CrossModal {
        both,
        image_only: count(ForgettingClass::ImageOnly),
        name_only: count(ForgettingClass::NameOnly),
        neither,
        consistency: (both + neither) as f64 / facts.len() as f64,
    })
}

/// Per-fact agreements tagged with their profile, for
/// [`bootstrap_ci`](crate::eval::metrics::bootstrap::bootstrap_ci) over profiles (the mean of
/// these scores is the consistency).
pub fn agreement_scores(facts: &[FactForgetting]) -> Vec<ProfileScore> {
    facts
        .iter()
        .map(|f| ProfileScore::new(f.profile.clone(), f.agreement()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(p: &str, image: bool, name: bool) -> FactForgetting {
        FactForgetting {
            profile: p.into(),
            forgotten_with_image: image,
            forgotten_with_name: name,
        }
    }

    #[test]
    fn counts_and_consistency() {
        let facts = [
            fact("1", true, true),
            fact("1", true, true),
            fact("2", false, false),
            fact("2", true, false),
            fact("3", false, true),
        ];
        let s = cross_modal(&facts).unwrap();
        assert_eq!((s.both, s.image_only, s.name_only, s.neither), (2, 1, 1, 1));
        assert_eq!(s.consistency, 0.6);
        let scores = agreement_scores(&facts);
        let mean = scores.iter().map(|s| s.score).sum::<f64>() / scores.len() as f64;
        assert_eq!(mean, s.consistency);
    }

    #[test]
    fn no_fact_is_an_error() {
        let e = cross_modal(&[]).unwrap_err().to_string();
        assert!(e.contains("at least one fact"), "{e}");
    }
}

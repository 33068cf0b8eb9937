//! Per multiple-choice question: the length-normalised log-likelihood of each option's answer
//! text given the question, in both modalities, and the question's truth ratio.
//!
//! Each option `o` of a question `q` is scored as the answer of one training-form sample
//! ([`super::likelihood`]): with the portrait, `USER: <image>\n{q}\nASSISTANT: {o}`; as
//! pure text, `USER: {q}\nASSISTANT: {o}` (the pure-text questions name the person). With
//! `ℓ(o)` the mean log-probability of `o`'s tokens, the correct option `â` and the three
//! distractors `ã_j` (MLLMU-Bench's options are the perturbed answers):
//!
//! ```text
//! R = exp( mean_j ℓ(ã_j) − ℓ(â) )
//! ```
//!
//! TOFU's truth ratio `P(ã)^(1/|ã|) / P(â)^(1/|â|)` averaged over the perturbations in
//! log space ([`truth_ratio`]). `R < 1`: the model prefers the truth.

use crate::bench::Profile;
use crate::eval::beyond::likelihood::answer_logprobs;
use crate::eval::beyond::truth_ratio::truth_ratio;
use crate::eval::items::{EvalMode, Modality};
use crate::model::Model;
use crate::train::collate::{PromptTemplate, TrainSample};
use crate::train::data::{SampleSet, SampleSource};
use crate::Result;
use serde::{Deserialize, Serialize};

/// One multiple-choice question scored by option likelihood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionTruth {
    /// Evaluation set.
    pub set: EvalMode,
    /// Asked with the portrait or with the name.
    pub modality: Modality,
    /// Profile ID.
    pub profile: String,
    /// Index in the profile's list of this modality.
    pub index: usize,
    /// Length-normalised log-likelihood `ℓ` of options A–D.
    pub option_loglik: [f64; 4],
    /// Index 0–3 of the correct option.
    pub correct: usize,
    /// `exp(mean of the distractors' ℓ − ℓ of the correct option)`.
    pub truth_ratio: f64,
}

impl QuestionTruth {
    /// Whether the model knows the answer: the correct option is strictly the most likely.
    ///
    /// ```
    /// use mllmu::eval::beyond::questions::QuestionTruth;
    /// use mllmu::eval::items::{EvalMode, Modality};
    /// let q = QuestionTruth { set: EvalMode::Forget, modality: Modality::PureText, profile: "1".into(),
    ///     index: 0, option_loglik: [-1.0, -0.5, -2.0, -3.0], correct: 1, truth_ratio: 0.3 };
    /// assert!(q.known());
    /// ```
    pub fn known(&self) -> bool {
        let c = self.option_loglik[self.correct];
        self.option_loglik
            .iter()
            .enumerate()
            .all(|(k, &l)| k == self.correct || l < c)
    }
}

/// Scores every multiple-choice question of `profiles` (both modalities) on `model`. A
/// profile without a portrait has its image questions left out.
pub fn score_questions(
    model: &Model,
    set: EvalMode,
    profiles: &[Profile],
    batch_size: usize,
) -> Result<Vec<QuestionTruth>> {
    let mut out = Vec::new();
    for modality in Modality::ALL {
        let mut samples = SampleSet {
            name: format!("{} {} options", set.as_str(), modality.as_str()),
            source: SampleSource::GenerationQa,
            samples: Vec::new(),
            images: Vec::new(),
        };
        let mut asked = Vec::new();
        for p in profiles {
            let image = match modality {
                Modality::ImageTextual => match p.portrait() {
                    Some(portrait) => {
                        samples.images.push(portrait.clone());
                        Some(samples.images.len() - 1)
                    }
                    None => continue,
                },
                Modality::PureText => None,
            };
            for (index, q) in p.classification.get(modality).iter().enumerate() {
                for option in &q.options {
                    samples.samples.push(TrainSample {
                        image,
                        question: q.question.clone(),
                        answer: option.clone(),
                    });
                }
                asked.push((p.id.as_str().to_string(), index, q.correct_index()));
            }
        }
        if asked.is_empty() {
            continue;
        }
        let template = match modality {
            Modality::ImageTextual => PromptTemplate::Multimodal,
            Modality::PureText => PromptTemplate::TextOnly,
        };
        let scored = answer_logprobs(model, &samples, template, batch_size)?;
        for ((profile, index, correct), four) in asked.into_iter().zip(scored.chunks(4)) {
            let option_loglik: [f64; 4] = std::array::from_fn(|k| four[k].mean());
            let distractors: Vec<f64> = (0..4)
                .filter(|&k| k != correct)
                .map(|k| option_loglik[k])
                .collect();
            out.push(QuestionTruth {
                set,
                modality,
                profile,
                index,
                truth_ratio: truth_ratio(option_loglik[correct], &distractors)?,
                option_loglik,
                correct,
            });
        }
    }
    Ok(out)
}

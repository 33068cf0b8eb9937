//! Membership-inference scores of `ft_Data` answers under a model: each sample's answer is
//! scored teacher-forced in its fine-tuning form ([`super::likelihood`]), then by the four
//! attacks of [`super::mia`]; [`MiaScores::aucs`] compares two groups.

use crate::eval::beyond::auc::mia_auc;
use crate::eval::beyond::likelihood::answer_logprobs;
use crate::eval::beyond::mia::{loss_score, min_k_pp_score, min_k_score, zlib_score};
use crate::eval::beyond::report::MiaAucs;
use crate::model::Model;
use crate::train::collate::PromptTemplate;
use crate::train::data::SampleSet;
use crate::Result;
use serde::{Deserialize, Serialize};

/// The Min-K% fraction used for Min-K% and Min-K%++ (the papers' and open-unlearning's
/// default).
pub const MIN_K: f64 = 0.2;

/// Per-sample attack scores of one group of answers, signed like a loss (higher: less
/// likely a training member).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MiaScores {
    /// LOSS.
    pub loss: Vec<f64>,
    /// zlib-normalised loss.
    pub zlib: Vec<f64>,
    /// Min-K%.
    pub min_k: Vec<f64>,
    /// Min-K%++.
    pub min_k_pp: Vec<f64>,
}

impl MiaScores {
    /// Scores every answer of `set` on `model` (`k` for Min-K% and Min-K%++). Samples are
    /// shown their portrait when every sample has one, else asked as text.
    pub fn measure(model: &Model, set: &SampleSet, batch_size: usize, k: f64) -> Result<Self> {
        let template = if set.samples.iter().all(|s| s.image.is_some()) {
            PromptTemplate::Multimodal
        } else {
            PromptTemplate::TextOnly
        };
        let scored = answer_logprobs(model, set, template, batch_size)?;
        let mut s = MiaScores::default();
        for (a, sample) in scored.iter().zip(&set.samples) {
            s.loss.push(loss_score(&a.logprobs)?);
            s.zlib.push(zlib_score(&a.logprobs, &sample.answer)?);
            s.min_k.push(min_k_score(&a.logprobs, k)?);
            s.min_k_pp.push(min_k_pp_score(&a.logprobs, &a.moments, k)?);
        }
        Ok(s)
    }

    /// Mean LOSS score (the mean per-answer NLL); `NaN` for no sample.
    ///
    /// ```
    /// let s = mllmu::eval::beyond::membership::MiaScores { loss: vec![1.0, 2.0], ..Default::default() };
    /// assert_eq!(s.mean_loss(), 1.5);
    /// ```
    pub fn mean_loss(&self) -> f64 {
        self.loss.iter().sum::<f64>() / self.loss.len() as f64
    }

    /// The AUC of each attack with `self` as the candidates and `non_members` as the
    /// non-members ([`mia_auc`]).
    ///
    /// ```
    /// use mllmu::eval::beyond::membership::MiaScores;
    /// let s = |v: f64| MiaScores { loss: vec![v], zlib: vec![v], min_k: vec![v], min_k_pp: vec![v] };
    /// assert_eq!(s(0.1).aucs(&s(2.0)).unwrap().loss, 1.0);
    /// ```
    pub fn aucs(&self, non_members: &MiaScores) -> Result<MiaAucs> {
        Ok(MiaAucs {
            loss: mia_auc(&self.loss, &non_members.loss)?,
            zlib: mia_auc(&self.zlib, &non_members.zlib)?,
            min_k: mia_auc(&self.min_k, &non_members.min_k)?,
            min_k_pp: mia_auc(&self.min_k_pp, &non_members.min_k_pp)?,
        })
    }
}

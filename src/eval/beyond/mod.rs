//! Scores beyond MLLMU-Bench's own (issue 14): truth ratio and forget quality (TOFU),
//! membership inference and privacy leakage (MUSE, open-unlearning), cross-modal
//! consistency. This layer is pure arithmetic on numbers the model side produces (option
//! log-likelihoods, token log-probabilities, per-fact outcomes), pinned to scipy and
//! scikit-learn (`tests/fixtures/beyond/make_expected.py` regenerates the expected values).
//!
//! | module | what |
//! |---|---|
//! | [`truth_ratio`] | TOFU's truth ratio per question, and its per-set aggregates |
//! | [`ks`] | two-sample Kolmogorov-Smirnov test exactly as `scipy.stats.ks_2samp` |
//! | [`kolmogorov`] | `scipy.stats.kstwo.sf`, for the asymptotic KS p-value |
//! | [`auc`] | ROC AUC as `sklearn.metrics.roc_auc_score`; MIA AUC |
//! | [`mia`] | LOSS, zlib, Min-K% and Min-K%++ scores of one answer |
//! | [`privleak`] | MUSE's PrivLeak |
//! | [`cross_modal`] | forgotten with the portrait, the name, both or neither |
//! | [`report`] | [`Beyond`], the `"beyond"` / `"beyond_ci95"` JSON of a report |
//! | [`holdout`] | the never-trained answers of `--holdout-from` |
//! | [`likelihood`] | the model side: teacher-forced answer log-probabilities |
//! | [`questions`] | option likelihoods and truth ratio of every multiple-choice question |
//! | [`membership`] | attack scores of `ft_Data` answers under a model |
//! | [`measure`] | one model's measurements, combined with the retain-only model's |
//! | [`table`] | the report's display of the numbers |
//!
//! **Forget quality** ([`forget_quality`]) is the p-value of the two-sample KS test between
//! the unlearned model's and the retain-only model's per-question truth ratios on the forget
//! set, as TOFU and open-unlearning compute it: high (up to 1) when the two distributions are
//! indistinguishable, i.e. the model behaves like one never trained on the forget profiles.

pub mod auc;
pub mod cross_modal;
pub mod holdout;
pub mod kolmogorov;
pub mod ks;
pub mod likelihood;
pub mod measure;
pub mod membership;
pub mod mia;
pub mod privleak;
pub mod questions;
pub mod report;
pub mod table;
pub mod truth_ratio;

pub use measure::{BeyondOptions, BeyondRun, Measured};
pub use report::{Beyond, BeyondCi95};

use crate::Result;

/// Forget quality: the KS p-value between the unlearned model's truth ratios and the
/// retain-only model's on the forget set (see [`ks::ks_2samp`]).
///
/// ```
/// use mllmu::eval::beyond::forget_quality;
/// let r = [0.3, 0.9, 1.2, 0.7];
/// assert_eq!(forget_quality(&r, &r).unwrap(), 1.0); // the retain model against itself
/// ```
pub fn forget_quality(unlearned: &[f64], retain_model: &[f64]) -> Result<f64> {
    Ok(ks::ks_2samp(unlearned, retain_model)?.p_value)
}

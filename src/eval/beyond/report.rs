//! [`Beyond`]: the numbers of this module for one evaluated model, in the JSON shape
//! `eval --json` carries under `"beyond"`, and [`BeyondCi95`], their 95 % intervals over
//! profiles under `"beyond_ci95"` (only where a per-question mean exists: the truth-ratio
//! aggregates and the cross-modal consistency). A number that was not computed (no retain
//! model, no holdout) is `null`.
//!
//! ```json
//! "beyond": {"truth_ratio": {"forget": 0.61, "test": 0.58, "retain": 0.32},
//!            "forget_quality": 0.0123,
//!            "mia_auc": {"loss": 0.71, "zlib": 0.69, "min_k": 0.70, "min_k_pp": 0.74},
//!            "privleak": 48.0, "cross_modal_consistency": 0.83}
//! ```

use super::cross_modal::{agreement_scores, FactForgetting};
use super::truth_ratio::TruthRatioAggregate;
use crate::eval::metrics::bootstrap::{
    bootstrap_ci, BootstrapOptions, ConfidenceInterval, ProfileScore,
};
use crate::Result;
use serde::{Deserialize, Serialize};

/// One value per evaluation set the truth ratio is reported on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PerSet<T> {
    /// The forget set (aggregate `mean(min(R, 1/R))`).
    pub forget: Option<T>,
    /// The test set: forget profiles, paraphrased (aggregate `mean(min(R, 1/R))`).
    pub test: Option<T>,
    /// The retain set (aggregate `mean(max(0, 1 - R))`).
    pub retain: Option<T>,
}

impl<T> Default for PerSet<T> {
    fn default() -> Self {
        PerSet {
            forget: None,
            test: None,
            retain: None,
        }
    }
}

/// Membership-inference AUC of each attack ([`super::auc::mia_auc`] of
/// [`super::mia`]'s scores).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MiaAucs {
    /// LOSS attack.
    pub loss: f64,
    /// zlib-normalised loss.
    pub zlib: f64,
    /// Min-K%.
    pub min_k: f64,
    /// Min-K%++.
    pub min_k_pp: f64,
}

/// The `"beyond"` block of a report.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Beyond {
    /// Truth-ratio aggregate per set ([`TruthRatioAggregate::for_set`]).
    pub truth_ratio: PerSet<f64>,
    /// KS p-value against the retain-only model on the forget set ([`super::forget_quality`]).
    pub forget_quality: Option<f64>,
    /// MIA AUCs, forget set against non-members.
    pub mia_auc: Option<MiaAucs>,
    /// MUSE's PrivLeak from the Min-K%++ AUC (MUSE's attack), relative to the retain-only
    /// model ([`super::privleak::privleak`]).
    pub privleak: Option<f64>,
    /// Fraction of facts forgotten the same way with the portrait and with the name.
    pub cross_modal_consistency: Option<f64>,
}

/// The `"beyond_ci95"` block: bootstrap intervals over profiles.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BeyondCi95 {
    /// Interval of each truth-ratio aggregate.
    pub truth_ratio: PerSet<ConfidenceInterval>,
    /// Interval of the cross-modal consistency.
    pub cross_modal_consistency: Option<ConfidenceInterval>,
}

/// A set's truth-ratio aggregate with its interval over profiles: each question's ratio
/// (tagged with its profile) becomes the set's per-question score
/// ([`TruthRatioAggregate::score`]) and profiles are resampled; the interval's `mean` is the
/// aggregate itself.
///
/// ```
/// use mllmu::eval::beyond::report::truth_ratio_ci;
/// use mllmu::eval::metrics::bootstrap::{BootstrapOptions, ProfileScore};
/// let r: Vec<_> = (0..12).map(|i| ProfileScore::new(format!("{}", i / 3), 0.5 + i as f64 / 10.0)).collect();
/// let ci = truth_ratio_ci("retain", &r, &BootstrapOptions::default()).unwrap();
/// assert!(ci.low <= ci.mean && ci.mean <= ci.high && ci.profiles == 4);
/// ```
pub fn truth_ratio_ci(
    set: &str,
    ratios: &[ProfileScore],
    opts: &BootstrapOptions,
) -> Result<ConfidenceInterval> {
    let agg = TruthRatioAggregate::for_set(set);
    let scores: Vec<ProfileScore> = ratios
        .iter()
        .map(|r| ProfileScore::new(r.profile.clone(), agg.score(r.score)))
        .collect();
    bootstrap_ci(&scores, opts)
}

/// The cross-modal consistency with its interval over profiles (the interval's `mean` is the
/// consistency).
pub fn cross_modal_ci(
    facts: &[FactForgetting],
    opts: &BootstrapOptions,
) -> Result<ConfidenceInterval> {
    bootstrap_ci(&agreement_scores(facts), opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_the_issues() {
        let b = Beyond {
            truth_ratio: PerSet {
                forget: Some(0.5),
                test: None,
                retain: Some(0.25),
            },
            forget_quality: Some(1.0),
            mia_auc: Some(MiaAucs {
                loss: 0.5,
                zlib: 0.5,
                min_k: 0.5,
                min_k_pp: 0.5,
            }),
            privleak: Some(0.0),
            cross_modal_consistency: None,
        };
        let v = serde_json::to_value(b).unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"cross_modal_consistency":null,"forget_quality":1.0,"mia_auc":{"loss":0.5,"min_k":0.5,"min_k_pp":0.5,"zlib":0.5},"privleak":0.0,"truth_ratio":{"forget":0.5,"retain":0.25,"test":null}}"#
        );
        let back: Beyond = serde_json::from_value(v).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn interval_means_are_the_aggregates() {
        let ratios: Vec<ProfileScore> = [0.5, 2.0, 1.0, 0.25]
            .iter()
            .enumerate()
            .map(|(i, &r)| ProfileScore::new(format!("{}", i / 2), r))
            .collect();
        let opts = BootstrapOptions::default();
        let raw: Vec<f64> = ratios.iter().map(|r| r.score).collect();
        for set in ["forget", "retain"] {
            let ci = truth_ratio_ci(set, &ratios, &opts).unwrap();
            let agg = TruthRatioAggregate::for_set(set).aggregate(&raw).unwrap();
            assert!((ci.mean - agg).abs() < 1e-15, "{set}");
        }
        assert!(truth_ratio_ci("forget", &[], &opts).is_err());
    }
}

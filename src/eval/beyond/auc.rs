//! Area under the ROC curve, as `sklearn.metrics.roc_auc_score(y_true, y_score)` computes it
//! for binary labels (scikit-learn 1.9, `sklearn/metrics/_ranking.py`).
//!
//! scikit-learn sorts the scores in decreasing order, makes one ROC point per **distinct**
//! score (so tied scores move true and false positive counts together: a diagonal step, which
//! scores a tied positive/negative pair as ½), prepends `(0, 0)`, and integrates with the
//! trapezoidal rule. Its `drop_intermediate` only removes collinear points and leaves the area
//! unchanged. The result equals the Mann-Whitney probability
//! `P(s_pos > s_neg) + ½ P(s_pos = s_neg)`.
//!
//! Where scikit-learn returns NaN with a warning (only one class present), this returns an
//! error.
//!
//! ```
//! use mllmu::eval::beyond::auc::roc_auc;
//! // positives 0.8 and 0.4, negatives 0.4 and 0.1: pairs won 1 + 1 + ½ + 1 of 4
//! let auc = roc_auc(&[true, true, false, false], &[0.8, 0.4, 0.4, 0.1]).unwrap();
//! assert_eq!(auc, 0.875);
//! ```

use crate::{Error, Result};

/// ROC AUC of `scores` for the binary `labels` (`true` = positive class).
///
/// Errors when the lengths differ, a class is absent, or a score is NaN.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    if labels.len() != scores.len() {
        return Err(Error::param(
            "scores",
            format!("{} scores for {} labels", scores.len(), labels.len()),
            "ROC AUC needs one score per label",
        ));
    }
    if scores.iter().any(|s| s.is_nan()) {
        return Err(Error::param(
            "scores",
            "NaN",
            "ROC AUC needs numeric scores",
        ));
    }
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::param(
            "labels",
            format!("{pos} positive, {neg} negative"),
            "ROC AUC is undefined unless both classes are present",
        ));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // Cumulative (fp, tp) at the end of each run of equal scores.
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut prev_fpr, mut prev_tpr) = (0.0f64, 0.0f64);
    let mut area = 0.0f64;
    let (p, n) = (pos as f64, neg as f64);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            let positive = labels[order[i]];
            (tp, fp) = (tp + usize::from(positive), fp + usize::from(!positive));
            i += 1;
        }
        let (fpr, tpr) = (fp as f64 / n, tp as f64 / p);
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        (prev_fpr, prev_tpr) = (fpr, tpr);
    }
    Ok(area)
}

/// Membership-inference AUC on two groups of attack scores signed like a loss (higher means
/// "less likely a training member"), as open-unlearning's `mia_auc` and MUSE compute it: the
/// `candidates` (e.g. the forget set) get label 0, the `non_members` (holdout, or forget
/// profiles seen by a model never trained on them) label 1. So the AUC is the probability that
/// a candidate looks more like a member than a non-member: about ½ when the model cannot tell
/// them apart, near 1 when the candidates are recognisably memorised.
///
/// ```
/// use mllmu::eval::beyond::auc::mia_auc;
/// // the forget answers have lower loss than the holdout answers: recognisably members
/// assert_eq!(mia_auc(&[0.1, 0.2], &[1.0, 2.0]).unwrap(), 1.0);
/// ```
pub fn mia_auc(candidates: &[f64], non_members: &[f64]) -> Result<f64> {
    let labels: Vec<bool> = std::iter::repeat_n(false, candidates.len())
        .chain(std::iter::repeat_n(true, non_members.len()))
        .collect();
    let scores: Vec<f64> = candidates.iter().chain(non_members).copied().collect();
    roc_auc(&labels, &scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sklearn.metrics.roc_auc_score(labels, scores)`, scikit-learn 1.9.1.
    #[test]
    fn matches_sklearn_with_ties() {
        let cases: [(&[bool], &[f64], f64); 4] = [
            (&[true, true, false, false], &[0.8, 0.4, 0.4, 0.1], 0.875),
            (
                &[false, true, false, true, true, false, true],
                &[0.3, 0.3, 0.3, 0.9, 0.1, 0.2, 0.3],
                0.5833333333333333,
            ),
            (&[true, false, true, false], &[1.0, 1.0, 1.0, 1.0], 0.5),
            (&[false, false, true], &[0.9, 0.8, 0.1], 0.0),
        ];
        for (y, s, want) in cases {
            let got = roc_auc(y, s).unwrap();
            assert!((got - want).abs() < 1e-9, "{y:?} {s:?}: {got} vs {want}");
        }
        let y: Vec<bool> = (0..200).map(|i| i % 3 == 0).collect();
        let s: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
        let got = roc_auc(&y, &s).unwrap();
        assert!((got - 0.4935473010885423).abs() < 1e-9, "{got}");
    }

    #[test]
    fn undefined_cases_are_errors() {
        let e = roc_auc(&[true, true], &[0.1, 0.2]).unwrap_err().to_string();
        assert!(e.contains("both classes"), "{e}");
        assert!(roc_auc(&[], &[]).is_err());
        assert!(roc_auc(&[true, false], &[0.1]).is_err());
        assert!(roc_auc(&[true, false], &[0.1, f64::NAN]).is_err());
        assert!(mia_auc(&[], &[1.0]).is_err());
    }

    #[test]
    fn mia_auc_reads_loss_signed_scores() {
        // candidates with higher loss than the non-members look like non-members: AUC 0
        assert_eq!(mia_auc(&[3.0, 4.0], &[1.0, 2.0]).unwrap(), 0.0);
        assert_eq!(mia_auc(&[1.0, 2.0], &[1.0, 2.0]).unwrap(), 0.5);
    }
}

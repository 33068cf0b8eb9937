//! MUSE's privacy leakage (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation for
//! Language Models", criterion C3):
//!
//! ```text
//! PrivLeak = (AUC_unlearned − AUC_retain) / AUC_retain × 100
//! ```
//!
//! where each AUC is the membership-inference AUC ([`super::auc::mia_auc`]) of one model
//! separating the forget set from non-members (a holdout, or for mllmu without one, the retain
//! set), and the retain model is the one trained without the forget profiles. A model that
//! forgot as if never trained scores 0 (the retain model against itself is exactly 0); large
//! positive values mean the forget set is still recognisable (under-unlearning), negative
//! values that it now stands out the other way (over-unlearning). open-unlearning computes the
//! same ratio (it adds `1e-10` to the denominator; here a zero retain AUC is an error).
//!
//! ```
//! use mllmu::eval::beyond::privleak::privleak;
//! assert_eq!(privleak(0.5, 0.5).unwrap(), 0.0);
//! assert!((privleak(0.9, 0.5).unwrap() - 80.0).abs() < 1e-12);
//! ```

use crate::{Error, Result};

/// PrivLeak in percent from the unlearned and the retain model's MIA AUCs.
///
/// Errors when an AUC lies outside `[0, 1]` or the retain AUC is 0.
pub fn privleak(auc_unlearned: f64, auc_retain: f64) -> Result<f64> {
    for (name, v) in [("unlearned AUC", auc_unlearned), ("retain AUC", auc_retain)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(Error::param(name, v, "an AUC lies in [0, 1]"));
        }
    }
    if auc_retain == 0.0 {
        return Err(Error::param(
            "retain AUC",
            auc_retain,
            "PrivLeak divides by the retain model's AUC, which must be positive",
        ));
    }
    Ok((auc_unlearned - auc_retain) / auc_retain * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_retain_model_is_zero_and_bad_inputs_fail() {
        for a in [0.0, 0.3, 0.5, 1.0] {
            if a > 0.0 {
                assert_eq!(privleak(a, a).unwrap(), 0.0);
            }
        }
        assert!(privleak(0.5, 0.0).is_err());
        assert!(privleak(1.5, 0.5).is_err());
        assert!(privleak(f64::NAN, 0.5).is_err());
        assert!((privleak(0.25, 0.5).unwrap() + 50.0).abs() < 1e-12);
    }
}

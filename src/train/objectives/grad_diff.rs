//! Gradient difference (GradDiff): ascend on forget, descend on retain.
//!
//! `L = −w_f·NLL(forget) + w_r·NLL(retain)`.
//!
//! The reference (`GA_Difference.py`, SPEC.md §5.2) uses w_f = w_r = 1 and runs the two
//! terms in separate optimizer steps: every forget batch (`−NLL_f`), then every retain batch
//! (`+NLL_r`) each epoch ([`Pairing::Sequential`]); the loop then calls [`GradDiff::loss`]
//! with one of the two passes. [`Pairing::Paired`] sums both terms for one
//! (forget, retain) batch pair per step.

use super::{zero_on, Needs, Objective, Pairing, Passes};
use crate::train::loss::{token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Gradient difference hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradDiff {
    /// Weight of `−NLL_forget` (1, `GA_Difference.py`).
    pub forget_weight: f64,
    /// Weight of `NLL_retain` (1, `GA_Difference.py`).
    pub retain_weight: f64,
    /// Sequential passes (reference) or paired batches.
    pub pairing: Pairing,
}

impl Default for GradDiff {
    fn default() -> Self {
        GradDiff {
            forget_weight: 1.0,
            retain_weight: 1.0,
            pairing: Pairing::Sequential,
        }
    }
}

impl GradDiff {
    /// `−w_f·NLL(forget) + w_r·NLL(retain)` over the passes given (at least one).
    pub fn loss(&self, forget: Option<&Pass>, retain: Option<&Pass>) -> Result<Tensor> {
        let mut total = zero_on(self.name(), forget.or(retain))?;
        if let Some(f) = forget {
            total = (total - token_mean_nll(f)?.affine(self.forget_weight, 0.0)?)?;
        }
        if let Some(r) = retain {
            total = (total + token_mean_nll(r)?.affine(self.retain_weight, 0.0)?)?;
        }
        Ok(total)
    }
}

impl Objective for GradDiff {
    fn name(&self) -> &'static str {
        "grad_diff"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            retain: true,
            ..Needs::default()
        }
    }

    fn pairing(&self) -> Pairing {
        self.pairing
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        self.loss(p.forget.as_ref(), p.retain.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn combines_the_weighted_terms() {
        let (df, dr) = (logits_data(0.0), logits_data(0.7));
        let (lf, lr, labels) = (tensor(&df), tensor(&dr), labels());
        let (f, r) = (Pass::new(&lf, &labels, None), Pass::new(&lr, &labels, None));
        let gd = GradDiff {
            forget_weight: 0.5,
            retain_weight: 2.0,
            pairing: Pairing::Paired,
        };
        let both = scalar(&gd.loss(Some(&f), Some(&r)).unwrap());
        assert!(
            (both - (-0.5 * mean_nll(&df) + 2.0 * mean_nll(&dr))).abs() < 1e-5,
            "{both}"
        );
        let only_f = scalar(&GradDiff::default().loss(Some(&f), None).unwrap());
        assert!((only_f + mean_nll(&df)).abs() < 1e-6);
        let only_r = scalar(&GradDiff::default().loss(None, Some(&r)).unwrap());
        assert!((only_r - mean_nll(&dr)).abs() < 1e-6);
        assert!(GradDiff::default()
            .loss(None, None)
            .unwrap_err()
            .to_string()
            .contains("grad_diff"));
    }
}

//! Gradient ascent (GA): `L = −NLL(forget batch)` (SPEC.md §5.1, `GA.py`).

use crate::train::loss::{token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Gradient ascent on the forget set (no hyper-parameters; the author suggests 1–2 epochs,
/// as it "may collapse easily", issue #12).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GradAscent {}

impl GradAscent {
    /// `"grad_ascent"`.
    pub const NAME: &'static str = "grad_ascent";

    /// The objective's name.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }

    /// `−NLL(forget)`.
    pub fn loss(&self, forget: &Pass) -> Result<Tensor> {
        Ok(token_mean_nll(forget)?.neg()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn is_the_negated_nll() {
        let d = logits_data(0.3);
        let (logits, labels) = (tensor(&d), labels());
        let got = scalar(
            &GradAscent::default()
                .loss(&Pass::new(&logits, &labels, None))
                .unwrap(),
        );
        assert!((got + mean_nll(&d)).abs() < 1e-6, "{got}");
    }
}

//! Gradient ascent (GA): `L = −NLL(forget batch)` (SPEC.md §5.1, `GA.py`).

use super::{required, Needs, Objective, Passes};
use crate::train::loss::{token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Gradient ascent on the forget set (no hyper-parameters; the author suggests 1–2 epochs,
/// as it "may collapse easily", issue #12).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GradAscent {}

impl GradAscent {
    /// `−NLL(forget)`.
    pub fn loss(&self, forget: &Pass) -> Result<Tensor> {
        Ok(token_mean_nll(forget)?.neg()?)
    }
}

impl Objective for GradAscent {
    fn name(&self) -> &'static str {
        "grad_ascent"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            ..Needs::default()
        }
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        self.loss(&required(p.forget, "forget", self.name())?)
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
        let pass = Pass::new(&logits, &labels, None);
        let got = scalar(&GradAscent::default().loss(&pass).unwrap());
        assert!((got + mean_nll(&d)).abs() < 1e-6, "{got}");
    }
}

//! Fine-tuning: the token-mean NLL of the batch.
//!
//! `L = NLL(batch)`, with NLL as transformers 4.45.1 LLaVA computes `outputs.loss`
//! ([`token_mean_nll`]). Used for the vanilla model (`finetune.py`) and the NPO reference
//! model (`reference_model_FT.py`, retain split only).

use super::{required, Needs, Objective, Passes};
use crate::train::loss::{token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Fine-tuning, the `"finetune"` objective (no hyper-parameters beyond the optimizer's).
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use mllmu::train::{objectives::Nll, Pass};
/// let logits = Tensor::zeros((1, 2, 8), DType::F32, &Device::Cpu).unwrap();
/// let labels = Tensor::new(&[[1i64, 5]], &Device::Cpu).unwrap();
/// let l = Nll::default().loss(&Pass::new(&logits, &labels, None)).unwrap();
/// assert!((l.to_scalar::<f32>().unwrap() - 8f32.ln()).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Nll {}

impl Nll {
    /// `NLL(batch)`.
    pub fn loss(&self, batch: &Pass) -> Result<Tensor> {
        token_mean_nll(batch)
    }
}

impl Objective for Nll {
    fn name(&self) -> &'static str {
        "finetune"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            ..Needs::default()
        }
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        self.loss(&required(p.forget, "training", self.name())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn equals_hand_computed_token_mean() {
        let d = logits_data(0.0);
        let (logits, labels) = (tensor(&d), labels());
        let got = scalar(
            &Nll::default()
                .loss(&Pass::new(&logits, &labels, None))
                .unwrap(),
        );
        assert!((got - mean_nll(&d)).abs() < 1e-6, "{got}");
    }
}

//! Negative preference optimisation (NPO).
//!
//! Reference, batch level (`NPO.py`, SPEC.md §5.4, [`NpoForm::BatchTokenMean`]): with the
//! token-mean NLLs of the whole batch under the current and the reference model,
//!
//! ```text
//! L = −(2/β) · log σ(β · (NLL_cur − NLL_ref))
//! ```
//!
//! NPO paper (Zhang et al. 2024, "Negative Preference Optimization", eq. 3;
//! [`NpoForm::SequenceSum`]): per sequence i with summed log-likelihoods,
//!
//! ```text
//! L = −(2/β) · mean_i log σ(−β · (log πθ(y_i|x_i) − log πref(y_i|x_i)))
//! ```
//!
//! (`−log π` is the summed NLL, so the argument is `β·(NLL_cur,i − NLL_ref,i)`). β = 0.4
//! is `NPO.py`'s default (the README does not pass `--beta`). The reference has no retain
//! term; `retain_weight > 0` adds `w_r·NLL(retain)` (NPO+RT in the paper). The reference
//! model in the benchmark is the base model fine-tuned on the retain split only (§5.4).

use super::{check_retain, plus_retain, required, Needs, Objective, Passes};
use crate::train::loss::{log_sigmoid, sequence_nll, token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Which log-likelihood ratio NPO uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NpoForm {
    /// One ratio per batch from token-mean NLLs (the benchmark's `NPO.py`).
    BatchTokenMean,
    /// One ratio per sequence from summed log-likelihoods, averaged (the NPO paper).
    SequenceSum,
}

/// NPO hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Npo {
    /// Inverse temperature β (0.4, `NPO.py` default).
    pub beta: f64,
    /// Batch-level (reference) or per-sequence (paper).
    pub form: NpoForm,
    /// Weight of an added retain NLL (0: the reference has none).
    pub retain_weight: f64,
}

impl Default for Npo {
    fn default() -> Self {
        Npo {
            beta: 0.4,
            form: NpoForm::BatchTokenMean,
            retain_weight: 0.0,
        }
    }
}

impl Npo {
    /// The NPO loss on a forget batch given the reference model's logits on the same batch
    /// (detached here), plus the retain term when `retain_weight > 0`.
    pub fn loss(
        &self,
        forget: &Pass,
        reference_logits: &Tensor,
        retain: Option<&Pass>,
    ) -> Result<Tensor> {
        crate::error::check_positive("npo.beta", self.beta)?;
        let retain = check_retain("npo", self.retain_weight, retain)?;
        let reference_logits = reference_logits.detach();
        let reference = forget.with_logits(&reference_logits);
        let delta = match self.form {
            NpoForm::BatchTokenMean => (token_mean_nll(forget)? - token_mean_nll(&reference)?)?,
            NpoForm::SequenceSum => (sequence_nll(forget)?.0 - sequence_nll(&reference)?.0)?,
        };
        let loss = log_sigmoid(&delta.affine(self.beta, 0.0)?)?
            .mean_all()?
            .affine(-2.0 / self.beta, 0.0)?;
        plus_retain(loss, self.retain_weight, retain)
    }
}

impl Objective for Npo {
    fn name(&self) -> &'static str {
        "npo"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            reference_forget: true,
            retain: self.retain_weight > 0.0,
            ..Needs::default()
        }
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        let forget = required(p.forget, "forget", self.name())?;
        let reference = required(p.reference_forget, "reference", self.name())?;
        self.loss(&forget, reference, p.retain.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn batch_level_matches_the_reference_formula() {
        let (dc, dr) = (logits_data(0.0), logits_data(-0.5));
        let (cur, refl, labels) = (tensor(&dc), tensor(&dr), labels());
        let pass = Pass::new(&cur, &labels, None);
        let got = scalar(&Npo::default().loss(&pass, &refl, None).unwrap());
        let want = -2.0 / 0.4 * logsig(0.4 * (mean_nll(&dc) - mean_nll(&dr)));
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn sequence_form_matches_the_paper_formula() {
        let (dc, dr) = (logits_data(0.0), logits_data(-0.5));
        let (cur, refl, labels) = (tensor(&dc), tensor(&dr), labels());
        let npo = Npo {
            beta: 0.7,
            form: NpoForm::SequenceSum,
            retain_weight: 0.0,
        };
        let pass = Pass::new(&cur, &labels, None);
        let got = scalar(&npo.loss(&pass, &refl, None).unwrap());
        let ((sc, _), (sr, _)) = (seq_nll(&dc), seq_nll(&dr));
        // log π = −NLL, so −β(log πθ − log πref) = β(NLL_cur − NLL_ref).
        let want = -2.0 / 0.7 * (0..2).map(|i| logsig(0.7 * (sc[i] - sr[i]))).sum::<f64>() / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn equal_models_give_two_over_beta_log_two_and_retain_adds() {
        let d = logits_data(0.1);
        let (cur, labels) = (tensor(&d), labels());
        let pass = Pass::new(&cur, &labels, None);
        let got = scalar(&Npo::default().loss(&pass, &cur, None).unwrap());
        assert!((got - 2.0 / 0.4 * 2f64.ln()).abs() < 1e-5);
        let rt = Npo {
            retain_weight: 0.5,
            ..Default::default()
        };
        let e = rt.loss(&pass, &cur, None).unwrap_err().to_string();
        assert!(e.contains("invalid npo.retain_weight = 0.5"), "{e}");
        let got = scalar(&rt.loss(&pass, &cur, Some(&pass)).unwrap());
        assert!((got - (2.0 / 0.4 * 2f64.ln() + 0.5 * mean_nll(&d))).abs() < 1e-5);
        let e = Npo {
            beta: 0.0,
            ..Default::default()
        }
        .loss(&pass, &cur, None)
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid npo.beta = 0"), "{e}");
    }
}

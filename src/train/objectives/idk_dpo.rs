//! IdkDPO: direct preference optimisation with the refusal preferred over the original
//! answer (Rafailov et al. 2023; used for unlearning by TOFU, Maini et al. 2024).
//!
//! With summed sequence log-likelihoods `log π(y|x)` (= −summed NLL) of the refusal
//! `y_w` and the original answer `y_l` under the current and the reference model:
//!
//! ```text
//! L = −mean_i log σ(β·[(log πθ(y_w) − log πref(y_w)) − (log πθ(y_l) − log πref(y_l))])
//!     + w_r · NLL(retain)
//! ```
//!
//! β = 0.1 as TOFU's `dpo` (locuslab/tofu `dataloader.py`, hard-coded). The NPO and SimNPO
//! code bases multiply this loss by 2/β; the plain DPO form is used here. The reference
//! model is the model before unlearning (the vanilla model).

use super::{check_retain, plus_retain, required, Needs, Objective, Passes};
use crate::error::check_positive;
use crate::train::loss::{log_sigmoid, sequence_nll, Pass};
use crate::{Error, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// IdkDPO hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdkDpo {
    /// Inverse temperature β (0.1, TOFU).
    pub beta: f64,
    /// Weight of an added retain NLL (0; TOFU's `dpo` has none).
    pub retain_weight: f64,
}

impl Default for IdkDpo {
    fn default() -> Self {
        IdkDpo {
            beta: 0.1,
            retain_weight: 0.0,
        }
    }
}

impl IdkDpo {
    /// The DPO loss. `idk` and `forget` are the current model's passes on the same
    /// questions with the refusal and the original answer (row i of both belongs to one
    /// question); the reference logits come from the reference model on those two batches
    /// and are detached here.
    pub fn loss(
        &self,
        idk: &Pass,
        forget: &Pass,
        reference_idk_logits: &Tensor,
        reference_forget_logits: &Tensor,
        retain: Option<&Pass>,
    ) -> Result<Tensor> {
        check_positive("idk_dpo.beta", self.beta)?;
        let retain = check_retain("idk_dpo", self.retain_weight, retain)?;
        let (b_w, b_l) = (idk.labels.dim(0)?, forget.labels.dim(0)?);
        if b_w != b_l {
            return Err(Error::param(
                "idk_dpo batches",
                format!("{b_w} refusals, {b_l} answers"),
                "the refusal and original-answer batches must hold the same questions, row for row",
            ));
        }
        let (ri, rf) = (
            reference_idk_logits.detach(),
            reference_forget_logits.detach(),
        );
        // log π = −NLL, so the margin is (−NLLθ_w + NLLref_w) − (−NLLθ_l + NLLref_l).
        let chosen = (sequence_nll(&idk.with_logits(&ri))?.0 - sequence_nll(idk)?.0)?;
        let rejected = (sequence_nll(&forget.with_logits(&rf))?.0 - sequence_nll(forget)?.0)?;
        let margin = (chosen - rejected)?.affine(self.beta, 0.0)?;
        let loss = log_sigmoid(&margin)?.mean_all()?.neg()?;
        plus_retain(loss, self.retain_weight, retain)
    }
}

impl Objective for IdkDpo {
    fn name(&self) -> &'static str {
        "idk_dpo"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            idk: true,
            reference_forget: true,
            reference_idk: true,
            retain: self.retain_weight > 0.0,
            ..Needs::default()
        }
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        let name = self.name();
        self.loss(
            &required(p.idk, "refusal", name)?,
            &required(p.forget, "forget", name)?,
            required(p.reference_idk, "reference", name)?,
            required(p.reference_forget, "reference", name)?,
            p.retain.as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn matches_the_dpo_formula() {
        let [dw, dl, drw, drl] = [0.1, -0.2, 0.4, 0.0].map(logits_data);
        let labels = labels();
        let (w, l, rw, rl) = (tensor(&dw), tensor(&dl), tensor(&drw), tensor(&drl));
        let o = IdkDpo::default();
        let (pw, pl) = (Pass::new(&w, &labels, None), Pass::new(&l, &labels, None));
        let got = scalar(&o.loss(&pw, &pl, &rw, &rl, None).unwrap());
        let [sw, srw, sl, srl] = [&dw, &drw, &dl, &drl].map(|d| seq_nll(d).0);
        let want = -(0..2)
            .map(|i| logsig(0.1 * ((-sw[i] + srw[i]) - (-sl[i] + srl[i]))))
            .sum::<f64>()
            / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // At the reference point the loss is log 2.
        let at_ref = scalar(&o.loss(&pw, &pl, &w, &l, None).unwrap());
        assert!((at_ref - 2f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn rejects_mismatched_batches() {
        let d = logits_data(0.0);
        let (w, labels) = (tensor(&d), labels());
        let l = w.narrow(0, 0, 1).unwrap();
        let labels1 = labels.narrow(0, 0, 1).unwrap();
        let (pw, pl) = (Pass::new(&w, &labels, None), Pass::new(&l, &labels1, None));
        let e = (IdkDpo::default().loss(&pw, &pl, &w, &l, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 refusals, 1 answers"), "{e}");
    }
}

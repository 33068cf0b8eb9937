//! SimNPO: reference-free, length-normalised NPO (Fan et al. 2024, "Simplicity Prevails:
//! Rethinking Negative Preference Optimization for LLM Unlearning", arXiv 2410.07163).
//!
//! ```text
//! L_forget = −(2/β) · mean_i log σ(−(β/|y_i|) · log πθ(y_i|x_i) − γ)
//! L        = w_f · L_forget + w_r · NLL(retain)
//! ```
//!
//! `|y_i|` is the number of scored tokens of sequence i and `−log πθ` its summed NLL. This
//! is the paper's form; the authors' TOFU code computes `β·(NLL_i/|y_i| − γ)`, i.e. its γ is
//! scaled by β (identical at the default γ = 0).
//!
//! Defaults are the authors' TOFU forget05 run (github.com/OPTML-Group/Unlearn-Simple,
//! `TOFU/README.md`: `npo_coeff=0.1375 beta=2.5`; `TOFU/config/forget.yaml`: `gamma: 0.0`,
//! `grad_diff_coeff: 1.0`). Their forget10 run uses β = 4.5, `npo_coeff` 0.125.

use super::{check_retain, plus_retain, required, Needs, Objective, Passes};
use crate::error::check_positive;
use crate::train::loss::{log_sigmoid, sequence_nll, Pass};
use crate::Result;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// SimNPO hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimNpo {
    /// Inverse temperature β (2.5, TOFU forget05).
    pub beta: f64,
    /// Reward margin γ (0.0).
    pub gamma: f64,
    /// Weight of the SimNPO forget term (0.1375, TOFU forget05 `npo_coeff`).
    pub forget_weight: f64,
    /// Weight of the retain NLL (1.0, `grad_diff_coeff`; 0 disables the retain pass).
    pub retain_weight: f64,
}

impl Default for SimNpo {
    fn default() -> Self {
        SimNpo {
            beta: 2.5,
            gamma: 0.0,
            forget_weight: 0.1375,
            retain_weight: 1.0,
        }
    }
}

impl SimNpo {
    /// `w_f·L_forget + w_r·NLL(retain)` (see the module docs).
    pub fn loss(&self, forget: &Pass, retain: Option<&Pass>) -> Result<Tensor> {
        check_positive("simnpo.beta", self.beta)?;
        let retain = check_retain("simnpo", self.retain_weight, retain)?;
        let (nll, tokens) = sequence_nll(forget)?;
        let lengths: Vec<f32> = tokens.iter().map(|&n| n as f32).collect();
        let lengths = Tensor::from_vec(lengths, nll.dims1()?, nll.device())?;
        // −(β/|y|)·log π − γ = β·NLL/|y| − γ
        let arg = nll.div(&lengths)?.affine(self.beta, -self.gamma)?;
        let forget_term = log_sigmoid(&arg)?
            .mean(D::Minus1)?
            .affine(-2.0 / self.beta, 0.0)?;
        plus_retain(
            forget_term.affine(self.forget_weight, 0.0)?,
            self.retain_weight,
            retain,
        )
    }
}

impl Objective for SimNpo {
    fn name(&self) -> &'static str {
        "simnpo"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            retain: self.retain_weight > 0.0,
            ..Needs::default()
        }
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        let forget = required(p.forget, "forget", self.name())?;
        self.loss(&forget, p.retain.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;

    #[test]
    fn matches_the_paper_formula() {
        let (df, dr) = (logits_data(0.2), logits_data(-0.3));
        let (lf, lr, labels) = (tensor(&df), tensor(&dr), labels());
        let s = SimNpo {
            beta: 2.5,
            gamma: 0.3,
            forget_weight: 0.5,
            retain_weight: 2.0,
        };
        let (pf, pr) = (Pass::new(&lf, &labels, None), Pass::new(&lr, &labels, None));
        let got = scalar(&s.loss(&pf, Some(&pr)).unwrap());
        let (nll, n) = seq_nll(&df);
        let forget = -2.0 / 2.5
            * (0..2)
                .map(|i| logsig(2.5 * nll[i] / n[i] - 0.3))
                .sum::<f64>()
            / 2.0;
        let want = 0.5 * forget + 2.0 * mean_nll(&dr);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn retain_is_required_only_when_weighted() {
        let d = logits_data(0.0);
        let (l, labels) = (tensor(&d), labels());
        let p = Pass::new(&l, &labels, None);
        let e = SimNpo::default().loss(&p, None).unwrap_err().to_string();
        assert!(e.contains("simnpo.retain_weight"), "{e}");
        let alone = SimNpo {
            forget_weight: 1.0,
            retain_weight: 0.0,
            ..Default::default()
        };
        let got = scalar(&alone.loss(&p, None).unwrap());
        let (nll, n) = seq_nll(&d);
        let want = -0.8 * (0..2).map(|i| logsig(2.5 * nll[i] / n[i])).sum::<f64>() / 2.0;
        assert!((got - want).abs() < 1e-5);
    }
}

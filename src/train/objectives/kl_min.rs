//! KL minimisation (KL_Min): ascend on forget, keep retain close to the vanilla model.
//!
//! ```text
//! forget step:  L = −w_f·NLL(forget)
//! retain step:  L = w_r·NLL(retain) + w_kl·KL(vanilla ‖ current) on the retain batch
//! ```
//!
//! Reference (`KL_Min.py`, SPEC.md §5.3): weights 1, sequential passes, and
//! `F.kl_div(log_softmax(cur), softmax(van), reduction='batchmean')`
//! = `(1/B) Σ_{b,t,v} p_van (log p_van − log p_cur)` over **all** positions, padding and
//! image positions included ([`KlReduction::BatchMean`]). Its scale is hundreds of times a
//! token-mean NLL (Q22); [`KlReduction::TokenMean`] averages over the attended positions
//! instead. The vanilla model is a frozen copy taken before LoRA (fp16 in the reference).

use super::{required, zero_on, Needs, Objective, Pairing, Passes};
use crate::train::loss::{kl_batchmean, kl_token_mean, token_mean_nll, Pass};
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// How the KL term is reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlReduction {
    /// Sum over all positions and the vocabulary, divided by the batch size (reference).
    BatchMean,
    /// Sum over the vocabulary, mean over positions with `attention_mask != 0`.
    TokenMean,
}

/// KL_Min hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlMin {
    /// Weight of `−NLL_forget` (1).
    pub forget_weight: f64,
    /// Weight of `NLL_retain` (1).
    pub retain_weight: f64,
    /// Weight of the KL term (1).
    pub kl_weight: f64,
    /// KL reduction (reference: batch mean over all positions).
    pub reduction: KlReduction,
    /// Sequential passes (reference) or paired batches.
    pub pairing: Pairing,
}

impl Default for KlMin {
    fn default() -> Self {
        KlMin {
            forget_weight: 1.0,
            retain_weight: 1.0,
            kl_weight: 1.0,
            reduction: KlReduction::BatchMean,
            pairing: Pairing::Sequential,
        }
    }
}

impl KlMin {
    /// The KL term alone: `KL(vanilla ‖ current)` on a batch, reduced per [`KlMin::reduction`].
    pub fn kl(&self, current: &Pass, vanilla_logits: &Tensor) -> Result<Tensor> {
        match self.reduction {
            KlReduction::BatchMean => kl_batchmean(current.logits, vanilla_logits),
            KlReduction::TokenMean => {
                kl_token_mean(current.logits, vanilla_logits, current.attention_mask)
            }
        }
    }

    /// Sum of the terms for the passes given: `forget` gives `−w_f·NLL_f`; `retain`
    /// (current pass, vanilla logits on the same batch) gives `w_r·NLL_r + w_kl·KL`.
    pub fn loss(&self, forget: Option<&Pass>, retain: Option<(&Pass, &Tensor)>) -> Result<Tensor> {
        let mut total = zero_on(self.name(), forget.or(retain.map(|r| r.0)))?;
        if let Some(f) = forget {
            total = (total - token_mean_nll(f)?.affine(self.forget_weight, 0.0)?)?;
        }
        if let Some((r, vanilla)) = retain {
            total = (total + token_mean_nll(r)?.affine(self.retain_weight, 0.0)?)?;
            total = (total + self.kl(r, vanilla)?.affine(self.kl_weight, 0.0)?)?;
        }
        Ok(total)
    }
}

impl Objective for KlMin {
    fn name(&self) -> &'static str {
        "kl_min"
    }

    fn needs(&self) -> Needs {
        Needs {
            forget: true,
            retain: true,
            reference_retain: true,
            ..Needs::default()
        }
    }

    fn pairing(&self) -> Pairing {
        self.pairing
    }

    fn loss_on(&self, p: &Passes) -> Result<Tensor> {
        let reference = || required(p.reference_retain, "reference", self.name());
        let retain = p.retain.as_ref().map(|r| reference().map(|f| (r, f)));
        self.loss(p.forget.as_ref(), retain.transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::objectives::testutil::*;
    use candle_core::Device;

    /// KL(van ‖ cur) per position, in f64.
    fn kl_pos(van: &[f64], cur: &[f64]) -> f64 {
        let (lv, lc) = (lsm(van), lsm(cur));
        (0..lv.len()).map(|v| lv[v].exp() * (lv[v] - lc[v])).sum()
    }

    #[test]
    fn retain_step_is_nll_plus_batchmean_kl_over_all_positions() {
        let (dc, dv) = (logits_data(0.0), logits_data(0.4));
        let (cur, van, labels) = (tensor(&dc), tensor(&dv), labels());
        let mask = Tensor::new(&[[1u32, 1, 1, 1], [1u32, 1, 1, 0]], &Device::Cpu).unwrap();
        let pass = Pass::new(&cur, &labels, Some(&mask));
        let got = scalar(&KlMin::default().loss(None, Some((&pass, &van))).unwrap());
        // The padded position (1, 3) counts too.
        let all = (0..2).flat_map(|b| (0..4).map(move |t| (b, t)));
        let kl: f64 = all.map(|(b, t)| kl_pos(&dv[b][t], &dc[b][t])).sum();
        // The mask drops the (1, 2 → 0) label: NLL over the 4 remaining kept positions.
        let nll = -[(0, 0, 3), (0, 1, 4), (0, 2, 1), (1, 1, 2)]
            .iter()
            .map(|&(b, t, y)| lsm(&dc[b][t])[y])
            .sum::<f64>()
            / 4.0;
        assert!(
            (got - (nll + kl / 2.0)).abs() < 1e-5,
            "{got} vs {}",
            nll + kl / 2.0
        );

        let tm = KlMin {
            reduction: KlReduction::TokenMean,
            kl_weight: 3.0,
            ..Default::default()
        };
        let got = scalar(&tm.loss(None, Some((&pass, &van))).unwrap());
        let kl_masked = kl - kl_pos(&dv[1][3], &dc[1][3]);
        assert!((got - (nll + 3.0 * kl_masked / 7.0)).abs() < 1e-5);
    }

    #[test]
    fn forget_step_ascends_and_both_add() {
        let (dc, dv) = (logits_data(0.0), logits_data(0.4));
        let (cur, van, labels) = (tensor(&dc), tensor(&dv), labels());
        let pass = Pass::new(&cur, &labels, None);
        let f = scalar(&KlMin::default().loss(Some(&pass), None).unwrap());
        assert!((f + mean_nll(&dc)).abs() < 1e-6);
        let both = scalar(
            &KlMin::default()
                .loss(Some(&pass), Some((&pass, &van)))
                .unwrap(),
        );
        let r = scalar(&KlMin::default().loss(None, Some((&pass, &van))).unwrap());
        assert!((both - (f + r)).abs() < 1e-5);
    }
}
